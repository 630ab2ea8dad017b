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
    /// What translation left out of the client's body, told to the client and recorded.
    pub dropped: Option<Dropped>,
    /// For `count_tokens`: whether the count is the node's or Drover's estimate.
    pub token_count: Option<TokenCount>,
}

/// The client's fields a translation dropped, as the `x-drover-dropped` header says them
/// (`field1, field2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped(pub std::sync::Arc<str>);

impl Dropped {
    /// `None` when nothing was dropped, the common case. A field name a header cannot carry
    /// (an unknown field named in UTF-8) has those characters as `?`, so the header and the
    /// record always say the same.
    pub fn of(fields: Vec<String>) -> Option<Dropped> {
        if fields.is_empty() {
            return None;
        }
        let joined = fields.join(", ");
        let said: String = joined
            .chars()
            .map(|c| {
                if c == ' ' || c.is_ascii_graphic() {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        Some(Dropped(said.into()))
    }
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
    /// An Anthropic `count_tokens` asked of a node as a chat in its dialect that generates
    /// nothing; the prompt size its answer reports is the count.
    TokenCount { node: Dialect },
}

/// How a `count_tokens` answer was come by, told in `x-drover-token-count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCount {
    /// Counted by the model's own tokenizer (an Anthropic or Ollama node).
    Exact,
    /// Estimated by Drover (see `estimate_tokens`): the node's API has no way to count.
    Estimate,
}

impl TokenCount {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenCount::Exact => "exact",
            TokenCount::Estimate => "estimate",
        }
    }
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
            dropped: None,
            token_count: None,
        });
    }
    if inbound.operation == Operation::AnthropicCountTokens && kind == NodeKind::OpenAi {
        return estimate_tokens(inbound);
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
    let (body, dropped) = match route.codec {
        Codec::PassThrough | Codec::Local => (inbound.body.clone(), Vec::new()),
        Codec::Chat { node, client } => {
            let t = translate::request::request(client, node, &inbound.body, options)
                .map_err(translated)?;
            (t.body.into(), t.dropped)
        }
        Codec::Embed { node, client } => {
            let t = translate::request::embed_request(client, node, &inbound.body)
                .map_err(translated)?;
            (t.body.into(), t.dropped)
        }
        Codec::TokenCount { node } => {
            let t = translate::request::count_tokens_request(node, &inbound.body)
                .map_err(translated)?;
            (t.body.into(), t.dropped)
        }
    };
    let token_count =
        (inbound.operation == Operation::AnthropicCountTokens).then_some(TokenCount::Exact);
    Ok(UpstreamCall {
        path: route.path,
        body,
        codec: route.codec,
        dropped: Dropped::of(dropped),
        token_count,
    })
}

/// Drover's own count for a node whose API cannot count (OpenAI-compatible servers have no
/// tokenizer endpoint in common): the request is rendered as an OpenAI chat, and its
/// `messages` and `tools` as JSON count one token per four bytes, rounded up. English
/// prose runs at about four characters a token; code and JSON run denser, so the estimate
/// errs low there.
fn estimate_tokens(inbound: &Inbound) -> Result<UpstreamCall, GatewayError> {
    let refused = |e: TranslateError| match e {
        TranslateError::Unsupported(m)
        | TranslateError::Invalid(m)
        | TranslateError::Upstream(m) => GatewayError::BadRequest(m),
    };
    let rendered = translate::request::count_tokens_request(Dialect::OpenAiChat, &inbound.body)
        .map_err(refused)?;
    let value: serde_json::Value = serde_json::from_slice(&rendered.body)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    let bytes: usize = ["messages", "tools"]
        .iter()
        .filter_map(|field| value.get(field))
        .map(|v| v.to_string().len())
        .sum();
    let body = serde_json::json!({ "input_tokens": bytes.div_ceil(4) }).to_string();
    Ok(UpstreamCall {
        path: "",
        body: body.into(),
        codec: Codec::Local,
        dropped: Dropped::of(rendered.dropped),
        token_count: Some(TokenCount::Estimate),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_fields_are_said_in_visible_ascii() {
        assert_eq!(Dropped::of(Vec::new()), None);
        let said = Dropped::of(vec!["a".into(), "b.c".into(), "zé\n".into()]).unwrap();
        assert_eq!(&*said.0, "a, b.c, z??");
        assert!(HeaderValue::from_str(&said.0).is_ok());
    }
}
