//! The provider seam: everything that depends on the kind of upstream node. The request path
//! asks `plan` how to send an inbound request to a node and gets back the upstream path, the
//! body and the `Codec` that turns the node's answer into the client's format; it never looks
//! at node kinds itself. Probing (health, model inventory) is per kind too.
//!
//! Same API on both sides is a byte pass-through; otherwise `translate` turns the request into
//! the node's API and its answer back into the client's.

mod anthropic;
mod local;
mod ollama;
mod openai;

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use bytes::Bytes;

use crate::{
    config::{NodeConfig, NodeKind},
    error::GatewayError,
    inbound::{Inbound, Operation},
    translate::{self, Dialect, EmbedDialect, TranslateError},
};

/// How to send one request to one node.
#[derive(Debug, Clone)]
pub struct UpstreamCall {
    /// Path appended to the node's base URL.
    pub path: &'static str,
    pub body: Bytes,
    pub codec: Codec,
}

/// How the node's answer (status, body, stream frames, errors) becomes the client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Same API on both sides: bytes go through untouched.
    PassThrough,
    /// A chat answer in the node's dialect, turned into the client's.
    Chat { node: Dialect, client: Dialect },
    /// An embeddings answer in the node's API, turned into the client's.
    Embed {
        node: EmbedDialect,
        client: EmbedDialect,
    },
    /// No node call: `body` is the whole answer (see `local`).
    Local,
}

/// How `inbound` goes to a node of `kind`.
/// Drover's own answer to `inbound` when every node of its model is of `kind` and that
/// kind's API has no such call (see `local`): no node, no slot needed.
pub fn local_answer(kind: NodeKind, inbound: &Inbound) -> Option<Bytes> {
    if kind == NodeKind::Ollama {
        return None;
    }
    local::answer(inbound.operation, &inbound.body, &inbound.model, kind)
}

/// `serves_responses`: the node (an `openai` one) declared it serves the Responses API, so a
/// Responses client's body goes to it untouched.
pub fn plan(
    kind: NodeKind,
    serves_responses: bool,
    inbound: &Inbound,
    options: &translate::Options,
) -> Result<UpstreamCall, GatewayError> {
    if let Some(body) = local_answer(kind, inbound) {
        return Ok(UpstreamCall {
            path: "",
            body,
            codec: Codec::Local,
        });
    }
    let route = match kind {
        NodeKind::Ollama => ollama::route(inbound.operation),
        NodeKind::OpenAi => openai::route(inbound.operation, serves_responses),
        NodeKind::Anthropic => anthropic::route(inbound.operation),
    }
    .ok_or_else(|| {
        GatewayError::BadRequest(format!(
            "{} is not served for model \"{}\": it is on an {} node",
            inbound.operation.path(),
            inbound.model,
            kind.as_str()
        ))
    })?;
    let translated = |e: TranslateError| match e {
        TranslateError::Upstream(m) => GatewayError::Internal(m),
        TranslateError::Unsupported(m) => GatewayError::BadRequest(format!(
            "{m} (model \"{}\" is served by an {} node)",
            inbound.model,
            kind.as_str()
        )),
        TranslateError::Invalid(m) => GatewayError::BadRequest(m),
    };
    let body = match route.codec {
        Codec::PassThrough | Codec::Local => inbound.body.clone(),
        Codec::Chat { node, client } => {
            translate::request::request(client, node, &inbound.body, options)
                .map_err(translated)?
                .body
                .into()
        }
        Codec::Embed { node, client } => {
            translate::request::embed_request(client, node, &inbound.body)
                .map_err(translated)?
                .into()
        }
    };
    Ok(UpstreamCall {
        path: route.path,
        body,
        codec: route.codec,
    })
}

/// Where an operation goes on a node of one kind, and how its answer comes back.
struct Route {
    path: &'static str,
    codec: Codec,
}

impl Route {
    fn pass(path: &'static str) -> Option<Route> {
        Some(Route {
            path,
            codec: Codec::PassThrough,
        })
    }

    fn chat(path: &'static str, node: Dialect, operation: Operation) -> Option<Route> {
        let client = chat_dialect(operation)?;
        Some(Route {
            path,
            codec: if client == node {
                Codec::PassThrough
            } else {
                Codec::Chat { node, client }
            },
        })
    }

    fn embed(path: &'static str, node: EmbedDialect, operation: Operation) -> Option<Route> {
        let client = embed_dialect(operation)?;
        Some(Route {
            path,
            codec: if client == node {
                Codec::PassThrough
            } else {
                Codec::Embed { node, client }
            },
        })
    }
}

/// The chat dialect a client speaks on `operation`, if it is a chat.
pub fn chat_dialect(operation: Operation) -> Option<Dialect> {
    match operation {
        Operation::OpenAiChat => Some(Dialect::OpenAiChat),
        Operation::AnthropicMessages => Some(Dialect::AnthropicMessages),
        Operation::OllamaChat => Some(Dialect::OllamaChat),
        Operation::OllamaGenerate => Some(Dialect::OllamaGenerate),
        Operation::OpenAiResponses => Some(Dialect::OpenAiResponses),
        _ => None,
    }
}

fn embed_dialect(operation: Operation) -> Option<EmbedDialect> {
    match operation {
        Operation::OpenAiEmbeddings => Some(EmbedDialect::OpenAi),
        Operation::OllamaEmbed => Some(EmbedDialect::OllamaEmbed),
        Operation::OllamaEmbeddings => Some(EmbedDialect::OllamaEmbeddings),
        _ => None,
    }
}

/// The headers every request to a node carries: its credentials and, for Anthropic, the API
/// version. Made once per node.
pub fn node_headers(config: &NodeConfig) -> Vec<(HeaderName, HeaderValue)> {
    let key = config
        .api_key
        .as_deref()
        .and_then(|k| HeaderValue::from_str(k).ok())
        .map(|mut value| {
            value.set_sensitive(true);
            value
        });
    match config.kind {
        NodeKind::Ollama | NodeKind::OpenAi => key
            .and_then(|key| {
                let mut bearer =
                    HeaderValue::from_str(&format!("Bearer {}", key.to_str().ok()?)).ok()?;
                bearer.set_sensitive(true);
                Some(vec![(actix_web::http::header::AUTHORIZATION, bearer)])
            })
            .unwrap_or_default(),
        NodeKind::Anthropic => {
            let mut headers = vec![(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(anthropic::API_VERSION),
            )];
            if let Some(key) = key {
                headers.push((HeaderName::from_static("x-api-key"), key));
            }
            headers
        }
    }
}

/// What a probe learned about a node.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProbeReport {
    pub version: Option<String>,
    pub models: Vec<String>,
    pub loaded: Vec<String>,
    pub tag_entries: Vec<serde_json::Value>,
    pub ps_entries: Vec<serde_json::Value>,
}

impl ProbeReport {
    /// A report listing `models` as an Ollama-style inventory, for nodes that have no
    /// `/api/tags` of their own (the merged `/api/tags` shows their models too).
    fn listing(models: Vec<String>) -> ProbeReport {
        let tag_entries = models
            .iter()
            .map(|name| {
                serde_json::json!({
                    "name": name, "model": name, "modified_at": "1970-01-01T00:00:00Z",
                    "size": 0, "digest": "", "details": {},
                })
            })
            .collect();
        ProbeReport {
            version: None,
            models,
            loaded: Vec::new(),
            tag_entries,
            ps_entries: Vec::new(),
        }
    }
}

/// The report of a node that is not probed: up, serving the models listed for it.
pub fn unprobed(config: &NodeConfig) -> ProbeReport {
    ProbeReport::listing(config.models.clone())
}

/// Probes a node's health and inventory; an error says what failed, for `last_error`. Models
/// listed by hand in the node's config replace the ones found.
pub async fn probe(
    config: &NodeConfig,
    headers: &[(HeaderName, HeaderValue)],
    client: &awc::Client,
    timeout: Duration,
) -> Result<ProbeReport, String> {
    let base = config.url.trim_end_matches('/');
    let mut report = match config.kind {
        NodeKind::Ollama => ollama::probe(client, base, headers, timeout).await?,
        NodeKind::OpenAi => openai::probe(client, base, headers, timeout).await?,
        NodeKind::Anthropic => anthropic::probe(client, base, headers, timeout).await?,
    };
    if !config.models.is_empty() {
        let listed = ProbeReport::listing(config.models.clone());
        report.models = listed.models;
        report.tag_entries = listed.tag_entries;
    }
    Ok(report)
}

/// An HTTP client for probes and other control-plane calls (not the request path's).
pub fn probe_client(connect_timeout: Duration) -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().timeout(connect_timeout))
        .disable_redirects()
        .finish()
}

/// GETs `url` with `headers` and parses its JSON body, within `timeout`.
pub(crate) async fn get_json(
    client: &awc::Client,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let mut request = client.get(url).timeout(timeout);
    for (name, value) in headers {
        request = request.insert_header((name.clone(), value.clone()));
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: status {}", response.status()));
    }
    let body = response
        .body()
        .limit(16 * 1024 * 1024)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: invalid JSON: {e}"))
}

/// The `id`s of an OpenAI- or Anthropic-style model list (`{"data": [{"id": …}]}`).
fn listed_ids(body: &serde_json::Value) -> Vec<String> {
    body.get("data")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("id").and_then(serde_json::Value::as_str))
        .map(str::to_owned)
        .collect()
}
