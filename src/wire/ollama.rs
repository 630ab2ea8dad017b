//! Ollama request envelopes (https://github.com/ollama/ollama/blob/main/docs/api.md).
//! Ollama streams by default: `stream` absent means true for chat, generate and pull.

use serde::{de::IgnoredAny, Deserialize};

use super::{require, require_model, Head};
use crate::error::GatewayError;

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub images: Option<Vec<IgnoredAny>>,
}

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<Message>>,
    pub stream: Option<bool>,
}

impl ChatRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        Ok(Head {
            model: require_model(self.model)?,
            stream: self.stream.unwrap_or(true),
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct GenerateRequest {
    pub model: Option<String>,
    pub prompt: Option<String>,
    pub images: Option<Vec<String>>,
    pub stream: Option<bool>,
}

impl GenerateRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        Ok(Head {
            model: require_model(self.model)?,
            stream: self.stream.unwrap_or(true),
        })
    }
}

/// A string or a list of strings, as embedding inputs and prompts may be.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct EmbedRequest {
    pub model: Option<String>,
    pub input: Option<OneOrMany>,
}

impl EmbedRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        let model = require_model(self.model)?;
        require(self.input, "input")?;
        Ok(Head::whole(model))
    }
}

#[derive(Debug, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: Option<String>,
    pub prompt: Option<String>,
}

impl EmbeddingsRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        Ok(Head::whole(require_model(self.model)?))
    }
}

/// `/api/show`, `/api/pull`: the model may come as `model` or, from older clients, `name`.
#[derive(Debug, Deserialize)]
pub struct ModelRequest {
    pub model: Option<String>,
    pub name: Option<String>,
    pub stream: Option<bool>,
    pub insecure: Option<bool>,
}

impl ModelRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        Ok(Head {
            model: require_model(self.model.or(self.name))?,
            stream: self.stream.unwrap_or(true),
        })
    }
}

/// `/api/copy`: both names are required.
#[derive(Debug, Deserialize)]
pub struct CopyRequest {
    pub source: Option<String>,
    pub destination: Option<String>,
}

/// `/api/create`: what routing needs of it; the rest goes to the nodes as sent.
#[derive(Debug, Deserialize)]
pub struct CreateRequest {
    pub model: Option<String>,
    pub name: Option<String>,
    pub stream: Option<bool>,
    pub from: Option<String>,
    /// File name → blob digest (uploaded before with `POST /api/blobs/:digest`).
    pub files: Option<std::collections::BTreeMap<String, String>>,
    /// A Modelfile, which older clients send instead of `from`/`files`.
    pub modelfile: Option<String>,
}
