//! OpenAI request envelopes (https://platform.openai.com/docs/api-reference). OpenAI answers
//! whole unless `stream` is true.

use serde::{de::IgnoredAny, Deserialize};

use super::{ollama::OneOrMany, require, require_model, Head};
use crate::error::GatewayError;

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: String,
    /// A string, an array of content parts, or null (assistant turns with tool calls).
    #[serde(default)]
    pub content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<IgnoredAny>),
}

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: Option<String>,
    pub messages: Option<Vec<Message>>,
    pub stream: Option<bool>,
}

impl ChatRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        let model = require_model(self.model)?;
        match self.messages {
            Some(m) if !m.is_empty() => {}
            _ => {
                return Err(GatewayError::BadRequest(
                    "messages is required and must not be empty".into(),
                ))
            }
        }
        Ok(Head {
            model,
            stream: self.stream.unwrap_or(false),
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub model: Option<String>,
    pub prompt: Option<OneOrMany>,
    pub stream: Option<bool>,
}

impl CompletionRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        let model = require_model(self.model)?;
        require(self.prompt, "prompt")?;
        Ok(Head {
            model,
            stream: self.stream.unwrap_or(false),
        })
    }
}

/// `POST /v1/responses`. Drover keeps no responses, so what needs a stored one is refused
/// here, for every node: a node that stores them sits behind a gateway that may route the
/// next request elsewhere.
#[derive(Debug, Deserialize)]
pub struct ResponsesRequest {
    pub model: Option<String>,
    pub stream: Option<bool>,
    pub previous_response_id: Option<IgnoredAny>,
    pub conversation: Option<IgnoredAny>,
    pub background: Option<bool>,
}

impl ResponsesRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        let model = require_model(self.model)?;
        let stateless = |field: &str, what: &str| {
            GatewayError::BadRequest(format!(
                "{field}: Drover is stateless and keeps no {what}; send the whole conversation in `input`"
            ))
        };
        if self.previous_response_id.is_some() {
            return Err(stateless("previous_response_id", "responses"));
        }
        if self.conversation.is_some() {
            return Err(stateless("conversation", "conversations"));
        }
        if self.background == Some(true) {
            return Err(stateless("background", "responses to poll"));
        }
        Ok(Head {
            model,
            stream: self.stream.unwrap_or(false),
        })
    }
}

/// `input` may also be token arrays; those pass through unchecked.
#[derive(Debug, Deserialize)]
pub struct EmbeddingRequest {
    pub model: Option<String>,
    pub input: Option<IgnoredAny>,
}

impl EmbeddingRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        let model = require_model(self.model)?;
        require(self.input, "input")?;
        Ok(Head::whole(model))
    }
}

#[cfg(test)]
mod tests {
    use crate::{inbound::Operation, wire::validate};

    fn err(op: Operation, body: &str) -> String {
        validate(op, body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_field() {
        assert!(err(
            Operation::OpenAiChat,
            r#"{"model":"m","messages":[{"role":5}]}"#
        )
        .starts_with("messages[0].role"));
        assert!(err(
            Operation::OpenAiChat,
            r#"{"model":"m","messages":[],"stream":"yes"}"#
        )
        .starts_with("stream"));
        assert_eq!(
            err(Operation::OpenAiChat, r#"{"messages":[]}"#),
            "model is required"
        );
        assert!(err(Operation::OllamaChat, r#"{"model":"m""#).starts_with("invalid JSON"));
        assert!(err(Operation::OllamaChat, "").contains("empty"));
        assert!(
            err(Operation::OllamaChat, "[1]").starts_with("invalid"),
            "{}",
            err(Operation::OllamaChat, "[1]")
        );
        assert!(err(Operation::OllamaEmbed, r#"{"model":"m"}"#).contains("input"));
    }

    #[test]
    fn stream_defaults_follow_each_api() {
        let ollama = validate(Operation::OllamaChat, br#"{"model":"m"}"#).unwrap();
        assert!(ollama.stream);
        let openai = validate(
            Operation::OpenAiChat,
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert!(!openai.stream);
        let show = validate(Operation::OllamaShow, br#"{"name":"m"}"#).unwrap();
        assert_eq!(show.model, "m");
    }
}
