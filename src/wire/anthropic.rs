//! Anthropic Messages request envelope (https://docs.anthropic.com/en/api/messages): the fields
//! Anthropic itself requires are checked here, so a client gets Anthropic's 400 whichever node
//! serves it. Anthropic answers whole unless `stream` is true.

use serde::{de::IgnoredAny, Deserialize};

use super::{require_model, Head};
use crate::error::GatewayError;

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: String,
    /// A string or an array of content blocks.
    pub content: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    pub model: Option<String>,
    pub messages: Option<Vec<Message>>,
    pub max_tokens: Option<u64>,
    pub stream: Option<bool>,
}

impl MessagesRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        let model = require_model(self.model)?;
        let messages = match self.messages {
            Some(m) if !m.is_empty() => m,
            _ => {
                return Err(GatewayError::BadRequest(
                    "messages: at least one message is required".into(),
                ))
            }
        };
        match self.max_tokens {
            None => {
                return Err(GatewayError::BadRequest(
                    "max_tokens: Field required".into(),
                ))
            }
            Some(0) => {
                return Err(GatewayError::BadRequest(
                    "max_tokens: must be greater than or equal to 1".into(),
                ))
            }
            Some(_) => {}
        }
        for (i, message) in messages.iter().enumerate() {
            if message.role != "user" && message.role != "assistant" {
                return Err(GatewayError::BadRequest(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant' (a system prompt goes in the top-level `system` field)"
                )));
            }
            if message.content.is_none() {
                return Err(GatewayError::BadRequest(format!(
                    "messages.{i}.content: Field required"
                )));
            }
        }
        Ok(Head {
            model,
            stream: self.stream.unwrap_or(false),
        })
    }
}
