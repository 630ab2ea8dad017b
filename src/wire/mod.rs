//! Request envelopes of each client API: just enough of each body to route it and to reject
//! malformed input with a message that names the field, before any node sees it. Fields
//! Drover does not need are left to the upstream, which validates them itself.

pub mod ollama;
pub mod openai;

use serde::de::DeserializeOwned;

use crate::{error::GatewayError, inbound::Operation};

/// What routing needs from a valid body.
#[derive(Debug)]
pub struct Head {
    pub model: String,
    pub stream: bool,
}

impl Head {
    /// An operation that always answers with one JSON document.
    pub(crate) fn whole(model: String) -> Self {
        Self {
            model,
            stream: false,
        }
    }
}

pub fn validate(operation: Operation, body: &[u8]) -> Result<Head, GatewayError> {
    match operation {
        Operation::OllamaChat => {
            parse::<ollama::ChatRequest>(body).and_then(ollama::ChatRequest::head)
        }
        Operation::OllamaGenerate => {
            parse::<ollama::GenerateRequest>(body).and_then(ollama::GenerateRequest::head)
        }
        Operation::OllamaEmbed => {
            parse::<ollama::EmbedRequest>(body).and_then(ollama::EmbedRequest::head)
        }
        Operation::OllamaEmbeddings => {
            parse::<ollama::EmbeddingsRequest>(body).and_then(ollama::EmbeddingsRequest::head)
        }
        // `/api/show` answers whole; only pull streams among the model operations.
        Operation::OllamaShow => parse::<ollama::ModelRequest>(body)
            .and_then(ollama::ModelRequest::head)
            .map(|head| Head {
                stream: false,
                ..head
            }),
        Operation::OpenAiChat => {
            parse::<openai::ChatRequest>(body).and_then(openai::ChatRequest::head)
        }
        Operation::OpenAiCompletions => {
            parse::<openai::CompletionRequest>(body).and_then(openai::CompletionRequest::head)
        }
        Operation::OpenAiEmbeddings => {
            parse::<openai::EmbeddingRequest>(body).and_then(openai::EmbeddingRequest::head)
        }
    }
}

/// Parses JSON, naming the path of a wrongly typed field (`messages[1].role: invalid type…`).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, GatewayError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(GatewayError::BadRequest(
                "request body is empty; expected a JSON object".into(),
            ))
        }
        // serde would read a struct from an array of its fields; no API here accepts that.
        Some(b'{') => {}
        Some(_) => {
            return Err(GatewayError::BadRequest(
                "invalid JSON: the body must be a JSON object".into(),
            ))
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || path == "." {
            GatewayError::BadRequest(format!("invalid JSON: {inner}"))
        } else {
            GatewayError::BadRequest(format!("{path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| GatewayError::BadRequest(format!("invalid JSON: {e}")))?;
    Ok(value)
}

/// A field the API requires.
pub(crate) fn require<T>(value: Option<T>, field: &str) -> Result<T, GatewayError> {
    value.ok_or_else(|| GatewayError::BadRequest(format!("{field} is required")))
}

/// A required, non-empty model name.
pub(crate) fn require_model(model: Option<String>) -> Result<String, GatewayError> {
    match model {
        Some(m) if !m.trim().is_empty() => Ok(m),
        _ => Err(GatewayError::BadRequest("model is required".into())),
    }
}
