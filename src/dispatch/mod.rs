//! The request path: assign a node, send, fail over before the first byte, stream the answer
//! back. Holds no lock and never awaits anything but the selector's reply and the network.

mod completion;
mod frames;
mod meter;
mod relay;
mod translated;
pub mod upstream;

use std::{cell::RefCell, net::IpAddr, sync::Arc, time::Duration};

use actix_web::{
    body::SizedStream,
    http::{header, header::HeaderMap, StatusCode},
    HttpResponse,
};

pub use meter::{End, RecordSink, RequestMeter};
use relay::{Relay, RelayParts};

use crate::{
    actors::messages::NodeState,
    auth::{ClientKey, KeyRing},
    capture::Capture,
    config::{AuthMode, Config},
    error::{GatewayError, UpstreamError},
    inbound::{Framing, Inbound},
    metrics as m,
    providers::{self, Codec},
    routing::{Outcome, Router},
    translate,
    tuning::LiveTuning,
};

/// Response header naming the node that served a request (for operators and tests).
pub const NODE_HEADER: &str = "x-drover-node";
/// Response header naming the client's fields a translation dropped (`a, b.c`).
pub const DROPPED_HEADER: &str = "x-drover-dropped";
/// Response header of `count_tokens`: `exact` (the node counted) or `estimate` (Drover did).
pub const TOKEN_COUNT_HEADER: &str = "x-drover-token-count";

/// What each HTTP worker needs to serve requests.
pub struct Gateway {
    pub router: Arc<Router>,
    /// This worker's upstream client, with the connect timeout it was built with; rebuilt
    /// when an operator changes that timeout.
    client: RefCell<(Duration, awc::Client)>,
    pub config: Arc<Config>,
    /// Timeouts, failover and limits as they are now (changed at runtime).
    pub tuning: LiveTuning,
    /// Where request records go; `None` when the request log is off.
    pub records: Option<RecordSink>,
    /// The API keys clients must show in `keys` mode.
    pub keys: Arc<KeyRing>,
    /// What translation fills in where the node's API requires what the client's omits.
    translation: translate::Options,
}

impl Gateway {
    pub fn new(
        router: Arc<Router>,
        config: Arc<Config>,
        tuning: LiveTuning,
        records: Option<RecordSink>,
        keys: Arc<KeyRing>,
    ) -> Self {
        let connect = tuning.load().timeouts.connect;
        Self {
            translation: translate::Options {
                default_max_tokens: config.translation.default_max_tokens,
            },
            client: RefCell::new((connect, upstream::client(connect))),
            router,
            config,
            tuning,
            records,
            keys,
        }
    }

    /// The upstream client (a cheap handle), rebuilt first if the connect timeout changed.
    pub fn client(&self) -> awc::Client {
        let connect = self.tuning.load().timeouts.connect;
        let mut client = self.client.borrow_mut();
        if client.0 != connect {
            *client = (connect, upstream::client(connect));
        }
        client.1.clone()
    }

    /// The client's key, required in `keys` mode: `Authorization: Bearer …` (OpenAI, Ollama
    /// and the current Anthropic SDK) or `x-api-key` (Anthropic). `None` in `open` mode.
    pub fn authorize(&self, headers: &HeaderMap) -> Result<Option<Arc<ClientKey>>, GatewayError> {
        if self.config.auth.mode == AuthMode::Open {
            return Ok(None);
        }
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let secret = header("x-api-key")
            .map(str::trim)
            .or_else(|| header(header::AUTHORIZATION.as_str()).and_then(crate::auth::bearer_token));
        Ok(Some(self.keys.verify(secret)?))
    }

    /// A meter for a request of `api` about `model`.
    pub fn meter(
        &self,
        api: &'static str,
        model: Arc<str>,
        request_id: Arc<str>,
        stream: bool,
        client: Option<IpAddr>,
    ) -> RequestMeter {
        RequestMeter::new(api, model, request_id, stream, client, self.records.clone())
    }

    /// Every node's status with its in-flight count, from the selector.
    pub async fn pool(&self) -> Result<Vec<NodeState>, GatewayError> {
        self.router.pool().await
    }

    /// Serves one inference request end to end.
    pub async fn forward(&self, inbound: Inbound) -> Result<HttpResponse, GatewayError> {
        let surface = inbound.operation.surface();
        let mut meter = self.meter(
            inbound.operation.path(),
            inbound.model.clone(),
            inbound.request_id.clone(),
            inbound.stream,
            inbound.client,
        );
        meter.key = inbound.key.clone();
        if let Some(max) = self.records.as_ref().and_then(|r| r.capture) {
            meter.capture = Some(Capture::new(
                inbound.operation,
                inbound.framing(),
                inbound.body.clone(),
                max,
            ));
        }
        match self.try_nodes(inbound, meter).await {
            Ok(response) => Ok(response),
            Err((error, mut meter, retries)) => {
                // A model nobody serves was named by the client: never a metric label.
                if matches!(
                    error,
                    GatewayError::ModelNotFound(_) | GatewayError::InventoryPending { .. }
                ) {
                    meter.model = "-".into();
                }
                meter.error_kind = Some(error.kind());
                if let Some(capture) = meter.capture.as_mut() {
                    let body = crate::api::error::body(surface, &error).to_string();
                    capture.refused(body.into());
                }
                let none: Arc<str> = Arc::from("-");
                meter.finish(&none, End::Status(error.status().as_u16()), None, retries);
                Err(error)
            }
        }
    }

    /// Tries nodes until one answers; on failure hands the meter back with the error. A
    /// routed alias is served by its plan: the route's nodes first, then each fallback route's,
    /// each step with its own `failover.attempts`.
    async fn try_nodes(
        &self,
        inbound: Inbound,
        mut meter: RequestMeter,
    ) -> Result<HttpResponse, (GatewayError, RequestMeter, u32)> {
        let tuning = self.tuning.load_full();
        let attempts = tuning.failover.attempts;
        let client = self.client();
        let plan = self.router.plan(&inbound.model);
        let mut made: u32 = 0;
        let mut last_error: Option<UpstreamError> = None;
        let mut refusal: Option<GatewayError> = None;
        let mut unservable: Option<GatewayError> = None;
        for (index, step) in plan.iter().enumerate() {
            let last_step = index + 1 == plan.len();
            let request = match inbound.for_model(&step.model) {
                Ok(request) => request,
                Err(e) => return Err((e, meter, made.saturating_sub(1))),
            };
            // A step limited to some nodes excludes the others from the start.
            let mut exclude = match &step.nodes {
                Some(names) => self.router.outside(names),
                None => Vec::new(),
            };
            // Drover answers itself what the step's nodes' API has no call for (`ollama show`
            // on an Anthropic model): no slot is taken for it.
            let local = self
                .router
                .table()
                .only_kind(&step.model)
                .and_then(|kind| providers::local_answer(kind, &request));
            if let Some(body) = local {
                meter.finish(&Arc::from("-"), End::Status(200), None, 0);
                return Ok(local_response(&request, body, None));
            }
            // Attempts on this step; a node that cannot take the request is skipped without
            // spending one (it is excluded, so the loop ends when nodes run out).
            let mut tried = 0;
            while tried < attempts {
                let lease = match self.router.acquire(&step.model, &exclude).await {
                    Ok(lease) => lease,
                    // This step has nothing (more) to offer: the next step may.
                    Err(e) if !last_step => {
                        refusal = Some(e);
                        break;
                    }
                    // Nodes were tried and none is left: the client wants the real cause.
                    Err(GatewayError::NoHealthyNode(_))
                        if last_error.is_some() || unservable.is_some() =>
                    {
                        break
                    }
                    Err(e) => return Err((e, meter, made.saturating_sub(1))),
                };
                exclude.push(lease.node().id);
                made += 1;
                tried += 1;
                let retries = made - 1;
                // Label metrics with the name nodes list, so `llama3` and `llama3:latest` are one.
                if meter.model != *lease.model() {
                    meter.model = lease.model().clone();
                }
                meter.resolved = Some(lease.model().clone());
                let target = lease.node();
                let call = match providers::plan(
                    target.kind,
                    target.serves_responses,
                    &request,
                    &self.translation,
                ) {
                    Ok(call) => {
                        meter.dropped = call.dropped.clone();
                        call
                    }
                    Err(e) => {
                        // This node's API cannot take the request (an operation or a field
                        // its kind lacks); another node of the model may. Not an attempt.
                        made -= 1;
                        tried -= 1;
                        unservable = Some(e);
                        continue;
                    }
                };
                let node = lease.node().name.clone();
                let told = told(&call);
                if call.codec == Codec::Local {
                    meter.finish(&node, End::Status(200), None, retries);
                    let mut response =
                        local_response(&request, call.body, Some(lease.node().header.clone()));
                    tell(&mut response, &told);
                    return Ok(response);
                }
                // The client's query string goes where its body goes unchanged (Claude Code's
                // `?beta=true`); a translated body is asked for on the node's own terms.
                let url = match (&request.query, call.codec) {
                    (Some(query), Codec::PassThrough) => {
                        format!("{}{}?{query}", lease.node().base_url, call.path)
                    }
                    _ => format!("{}{}", lease.node().base_url, call.path),
                };
                let headers = upstream_headers(lease.node(), &request, call.codec);
                let answer = upstream::attempt(
                    &client,
                    &node,
                    &url,
                    &headers,
                    call.body,
                    tuning.timeouts.first_byte,
                    node_framing(call.codec, &request),
                )
                .await;
                let answer = match answer {
                    Ok(answer) if call.codec == Codec::PassThrough => Ok((answer, None)),
                    Ok(answer) => {
                        match translated::answer(
                            answer,
                            call.codec,
                            &request,
                            &node,
                            tuning.timeouts.idle,
                        )
                        .await
                        {
                            Ok((answer, t)) => Ok((answer, Some(t))),
                            Err(translated::Failed::Node(e)) => Err(e),
                            Err(translated::Failed::Answer(message)) => {
                                // The answer is at fault, not the node: the lease ends neutral.
                                drop(lease);
                                let error = GatewayError::UpstreamFailed {
                                    attempts: made,
                                    last: message,
                                };
                                return Err((error, meter, retries));
                            }
                        }
                    }
                    Err(e) => Err(e),
                };
                match answer {
                    Ok((answer, translation)) => {
                        let mut parts = RelayParts::of(
                            answer,
                            translation,
                            lease,
                            request.framing(),
                            tuning.timeouts.idle,
                            meter,
                            retries,
                        );
                        parts.shutdown = Some(self.router.shutdown.subscribe());
                        let mut response = respond(parts);
                        tell(&mut response, &told);
                        return Ok(response);
                    }
                    Err(error) => {
                        tracing::warn!(request_id = %request.request_id, node = %node, %error,
                            attempt = made, "attempt failed; trying another node");
                        metrics::counter!(m::RETRIES, "node" => node.to_string(), "reason" => error.kind())
                            .increment(1);
                        let mut lease = lease;
                        lease.set_outcome(Outcome::Failure {
                            error: error.to_string(),
                            hard: error.is_hard(),
                        });
                        drop(lease);
                        last_error = Some(error);
                    }
                }
            }
        }
        let retries = made.saturating_sub(1);
        let error = match (last_error, refusal) {
            (Some(last), _) => last.into_gateway(made),
            (None, _) if unservable.is_some() => unservable
                .unwrap_or_else(|| GatewayError::Internal("a refusal went missing".into())),
            (None, Some(refusal)) => refusal,
            (None, None) => GatewayError::NoHealthyNode(inbound.model.to_string()),
        };
        Err((error, meter, retries))
    }
}

/// What Drover tells the client about how its request was served: the fields translation
/// dropped (`x-drover-dropped`) and, for `count_tokens`, whether the count is exact.
fn told(call: &providers::UpstreamCall) -> Vec<(header::HeaderName, header::HeaderValue)> {
    let mut headers = Vec::new();
    // `Dropped` holds visible ASCII only, so the header is always made.
    if let Some(dropped) = &call.dropped {
        if let Ok(value) = header::HeaderValue::from_str(&dropped.0) {
            headers.push((header::HeaderName::from_static(DROPPED_HEADER), value));
        }
    }
    if let Some(count) = call.token_count {
        headers.push((
            header::HeaderName::from_static(TOKEN_COUNT_HEADER),
            header::HeaderValue::from_static(count.as_str()),
        ));
    }
    headers
}

fn tell(response: &mut HttpResponse, told: &[(header::HeaderName, header::HeaderValue)]) {
    for (name, value) in told {
        response.headers_mut().insert(name.clone(), value.clone());
    }
}

/// An answer Drover made itself (`providers::local`), in the client's framing.
fn local_response(
    request: &Inbound,
    body: bytes::Bytes,
    node: Option<header::HeaderValue>,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.content_type(match request.framing() {
        Framing::Ndjson => "application/x-ndjson",
        _ => "application/json",
    });
    if let Some(node) = node {
        response.insert_header((NODE_HEADER, node));
    }
    response.body(body)
}

/// The node's own headers, plus the client's `anthropic-beta` when an Anthropic body goes to
/// an Anthropic node unchanged (its beta fields need the header that enables them).
fn upstream_headers<'a>(
    node: &'a crate::routing::NodeTarget,
    request: &Inbound,
    codec: Codec,
) -> std::borrow::Cow<'a, [(header::HeaderName, header::HeaderValue)]> {
    match (&request.anthropic_beta, node.kind, codec) {
        (Some(beta), crate::config::NodeKind::Anthropic, Codec::PassThrough) => {
            let mut headers = node.headers.to_vec();
            headers.push((
                header::HeaderName::from_static("anthropic-beta"),
                beta.clone(),
            ));
            std::borrow::Cow::Owned(headers)
        }
        _ => std::borrow::Cow::Borrowed(&node.headers),
    }
}

/// How the node frames its answer to this request: the client's framing when both speak
/// the same API, else the node's own.
fn node_framing(codec: Codec, request: &Inbound) -> Framing {
    match codec {
        Codec::PassThrough | Codec::Local => request.framing(),
        Codec::Chat { .. } | Codec::Embed { .. } if !request.stream => Framing::Json,
        Codec::Chat { node, .. } => match node {
            translate::Dialect::OpenAiChat => Framing::Sse,
            translate::Dialect::AnthropicMessages => Framing::AnthropicSse,
            translate::Dialect::OllamaChat | translate::Dialect::OllamaGenerate => Framing::Ndjson,
            translate::Dialect::OpenAiResponses => Framing::ResponsesSse,
        },
        Codec::Embed { .. } | Codec::TokenCount { .. } => Framing::Json,
    }
}

/// Builds the client's response around the relay: the node's status and content type (the
/// client API's own when translated), the body streamed through. A whole-JSON answer keeps
/// its Content-Length.
fn respond(parts: RelayParts) -> HttpResponse {
    let status = StatusCode::from_u16(parts.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let whole = parts.upstream.is_none();
    let content_type = match (&parts.upstream, &parts.translator) {
        (Some(upstream), None) => upstream.headers().get(header::CONTENT_TYPE).cloned(),
        (None, _) => Some(header::HeaderValue::from_static("application/json")),
        (Some(_), Some(_)) => Some(header::HeaderValue::from_static(match parts.framing {
            Framing::Json => "application/json",
            Framing::Ndjson => "application/x-ndjson",
            Framing::Sse | Framing::AnthropicSse | Framing::ResponsesSse => "text/event-stream",
        })),
    };
    let length = parts.length;
    let framing = parts.framing;
    let node = parts.lease.node().header.clone();
    let mut builder = HttpResponse::build(status);
    if let Some(ct) = content_type {
        builder.insert_header((header::CONTENT_TYPE, ct));
    }
    builder.insert_header((NODE_HEADER, node));
    let relay = Relay::new(parts);
    match (framing, length) {
        (Framing::Json, Some(len)) => builder.body(SizedStream::new(len, relay)),
        (_, Some(len)) if whole => builder.body(SizedStream::new(len, relay)),
        _ => {
            builder.insert_header((header::CACHE_CONTROL, "no-cache"));
            builder.streaming(relay)
        }
    }
}
