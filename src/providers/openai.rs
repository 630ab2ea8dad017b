//! OpenAI-compatible nodes (OpenAI, vLLM, llama.cpp, LM Studio, another Drover). The base URL
//! holds `/v1`, so paths here start after it. OpenAI's own operations pass through; Ollama
//! and Anthropic clients are translated onto chat completions and embeddings. Responses
//! clients pass through to nodes that declare they serve the Responses API (many
//! OpenAI-compatible servers do not) and are translated onto chat completions otherwise.

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};

use super::{get_json, listed_ids, ProbeReport, Route};
use crate::{
    inbound::Operation,
    translate::{Dialect, EmbedDialect},
};

pub(super) fn route(operation: Operation, serves_responses: bool) -> Option<Route> {
    match operation {
        Operation::OpenAiCompletions => Route::pass("/completions"),
        Operation::OpenAiResponses if serves_responses => Route::pass("/responses"),
        Operation::OpenAiChat
        | Operation::AnthropicMessages
        | Operation::OllamaChat
        | Operation::OllamaGenerate
        | Operation::OpenAiResponses => {
            Route::chat("/chat/completions", Dialect::OpenAiChat, operation)
        }
        Operation::OpenAiEmbeddings | Operation::OllamaEmbed | Operation::OllamaEmbeddings => {
            Route::embed("/embeddings", EmbedDialect::OpenAi, operation)
        }
        // Estimated by Drover (`estimate_tokens`) before any route is asked.
        Operation::OllamaShow | Operation::AnthropicCountTokens => None,
    }
}

/// `GET /models` says the server lives and what it serves.
pub(super) async fn probe(
    client: &awc::Client,
    base: &str,
    headers: &[(HeaderName, HeaderValue)],
    timeout: Duration,
) -> Result<ProbeReport, String> {
    let body = get_json(client, &format!("{base}/models"), headers, timeout).await?;
    Ok(ProbeReport::listing(listed_ids(&body)))
}
