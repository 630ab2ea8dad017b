//! Anthropic Messages request envelopes (https://docs.anthropic.com/en/api/messages): only
//! what routing needs, the model and whether the answer streams. An Anthropic body that goes
//! to an Anthropic node is Anthropic's to judge, and its error reaches the client unchanged;
//! a body that is translated is checked by the translator's parser, field by field, with
//! Anthropic's own rules (`max_tokens` required, roles). Anthropic answers whole unless
//! `stream` is true.

use serde::Deserialize;

use super::{require_model, Head};
use crate::error::GatewayError;

#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    pub model: Option<String>,
    pub stream: Option<bool>,
}

impl MessagesRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        Ok(Head {
            model: require_model(self.model)?,
            stream: self.stream.unwrap_or(false),
        })
    }
}

/// `POST /v1/messages/count_tokens`: a messages body without `max_tokens`, answered whole.
#[derive(Debug, Deserialize)]
pub struct CountTokensRequest {
    pub model: Option<String>,
}

impl CountTokensRequest {
    pub fn head(self) -> Result<Head, GatewayError> {
        Ok(Head::whole(require_model(self.model)?))
    }
}
