//! Ollama nodes. Ollama serves its own API and an OpenAI-compatible one under `/v1`, so both
//! pass through unchanged; Anthropic and Responses clients are translated onto `/api/chat`
//! (Ollama's own `/v1/responses` came only in 0.13.3, and the translation serves every
//! version alike), Anthropic's `count_tokens` too.

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use serde_json::Value;

use super::{get_json, Codec, ProbeReport, Route};
use crate::{inbound::Operation, translate::Dialect};

pub(super) fn route(operation: Operation) -> Option<Route> {
    match operation {
        Operation::AnthropicMessages | Operation::OpenAiResponses => {
            Route::chat("/api/chat", Dialect::OllamaChat, operation)
        }
        // Counted by a chat that generates nothing: Ollama reports the prompt's size.
        Operation::AnthropicCountTokens => Some(Route {
            path: "/api/chat",
            codec: Codec::TokenCount {
                node: Dialect::OllamaChat,
            },
        }),
        // Ollama serves every other operation at the very path clients call.
        other => Route::pass(other.path()),
    }
}

/// `/api/version` says the server lives, `/api/tags` what it serves, `/api/ps` what is loaded.
/// The three run at once so a probe costs one round trip.
pub(super) async fn probe(
    client: &awc::Client,
    base: &str,
    headers: &[(HeaderName, HeaderValue)],
    timeout: Duration,
) -> Result<ProbeReport, String> {
    let (version, tags, ps) = futures_util::future::join3(
        get_json(client, &format!("{base}/api/version"), headers, timeout),
        get_json(client, &format!("{base}/api/tags"), headers, timeout),
        get_json(client, &format!("{base}/api/ps"), headers, timeout),
    )
    .await;
    let version = version?;
    let tag_entries = model_entries(tags?);
    // Older Ollama versions lack /api/ps; the node still serves.
    let ps_entries = ps.map(model_entries).unwrap_or_default();
    Ok(ProbeReport {
        version: version
            .get("version")
            .and_then(Value::as_str)
            .map(str::to_owned),
        models: names(&tag_entries),
        loaded: names(&ps_entries),
        tag_entries,
        ps_entries,
    })
}

fn model_entries(mut body: Value) -> Vec<Value> {
    match body.get_mut("models").map(Value::take) {
        Some(Value::Array(models)) => models,
        _ => Vec::new(),
    }
}

fn names(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| {
            e.get("name")
                .or_else(|| e.get("model"))
                .and_then(Value::as_str)
        })
        .map(str::to_owned)
        .collect()
}
