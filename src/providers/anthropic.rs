//! Anthropic nodes: the Messages API at `/v1/messages`. Anthropic clients pass through; OpenAI
//! and Ollama chat clients are translated. Anthropic serves no embeddings.

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};

use super::{get_json, listed_ids, ProbeReport, Route};
use crate::{inbound::Operation, translate::Dialect};

/// The `anthropic-version` Drover speaks (the current stable one).
pub(super) const API_VERSION: &str = "2023-06-01";

pub(super) fn route(operation: Operation) -> Option<Route> {
    match operation {
        Operation::AnthropicMessages
        | Operation::OpenAiChat
        | Operation::OllamaChat
        | Operation::OllamaGenerate
        | Operation::OpenAiResponses => {
            Route::chat("/v1/messages", Dialect::AnthropicMessages, operation)
        }
        Operation::AnthropicCountTokens => Route::pass("/v1/messages/count_tokens"),
        Operation::OpenAiCompletions
        | Operation::OpenAiEmbeddings
        | Operation::OllamaEmbed
        | Operation::OllamaEmbeddings
        | Operation::OllamaShow => None,
    }
}

/// `GET /v1/models` says the API answers (and the key works) and what it serves.
pub(super) async fn probe(
    client: &awc::Client,
    base: &str,
    headers: &[(HeaderName, HeaderValue)],
    timeout: Duration,
) -> Result<ProbeReport, String> {
    // Anthropic pages its list (20 by default); one page of 1000 holds every model.
    let body = get_json(
        client,
        &format!("{base}/v1/models?limit=1000"),
        headers,
        timeout,
    )
    .await?;
    Ok(ProbeReport::listing(listed_ids(&body)))
}
