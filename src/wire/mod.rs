//! Request envelopes of each client API: just enough of each body to route it and to reject
//! malformed input with a message that names the field, before any node sees it. Fields
//! Drover does not need are left to the upstream, which validates them itself.

pub mod anthropic;
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
        Operation::OpenAiResponses => {
            parse::<openai::ResponsesRequest>(body).and_then(openai::ResponsesRequest::head)
        }
        Operation::AnthropicMessages => {
            parse::<anthropic::MessagesRequest>(body).and_then(anthropic::MessagesRequest::head)
        }
        Operation::AnthropicCountTokens => parse::<anthropic::CountTokensRequest>(body)
            .and_then(anthropic::CountTokensRequest::head),
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

/// The body with its model replaced (for a routed alias): the top-level `model` field, or
/// `name` where an older Ollama request uses that. Other fields are copied as raw JSON, not
/// re-parsed into values.
pub fn replace_model(body: &[u8], model: &str) -> Result<bytes::Bytes, GatewayError> {
    use std::collections::BTreeMap;

    use serde_json::value::RawValue;

    let mut fields: BTreeMap<String, &RawValue> = serde_json::from_slice(body)
        .map_err(|e| GatewayError::BadRequest(format!("request body: {e}")))?;
    let name = serde_json::value::to_raw_value(model)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    let field = if fields.contains_key("model") || !fields.contains_key("name") {
        "model"
    } else {
        "name"
    };
    fields.insert(field.to_owned(), &name);
    serde_json::to_vec(&fields)
        .map(bytes::Bytes::from)
        .map_err(|e| GatewayError::Internal(e.to_string()))
}

#[cfg(test)]
mod replace_tests {
    use super::*;

    #[test]
    fn the_model_is_replaced_and_nothing_else_changes() {
        let body = br#"{"model":"chat","messages":[{"role":"user","content":"a \"b\""}],"options":{"x":1.50}}"#;
        let out: serde_json::Value =
            serde_json::from_slice(&replace_model(body, "big:70b").unwrap()).unwrap();
        let mut want: serde_json::Value = serde_json::from_slice(body).unwrap();
        want["model"] = "big:70b".into();
        assert_eq!(out, want);
        // Older Ollama requests name the model `name`.
        let out: serde_json::Value =
            serde_json::from_slice(&replace_model(br#"{"name":"chat"}"#, "m").unwrap()).unwrap();
        assert_eq!(out, serde_json::json!({"name": "m"}));
    }
}
