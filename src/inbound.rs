//! One inference request as the request path sees it: which operation of which client API,
//! the model asked for, whether the answer streams, and the body exactly as received (so a
//! same-format upstream gets it byte for byte).

use std::{borrow::Cow, net::IpAddr, sync::Arc};

use bytes::Bytes;

use crate::{auth::ClientKey, error::GatewayError, wire};

/// The client API a request arrived on; errors and stream frames are rendered in its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    Ollama,
    OpenAi,
    Anthropic,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Ollama => "ollama",
            Surface::OpenAi => "openai",
            Surface::Anthropic => "anthropic",
        }
    }
}

/// Each inference endpoint Drover routes by model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    OllamaChat,
    OllamaGenerate,
    OllamaEmbed,
    OllamaEmbeddings,
    OllamaShow,
    OpenAiChat,
    OpenAiCompletions,
    OpenAiEmbeddings,
    OpenAiResponses,
    AnthropicMessages,
    /// `POST /v1/messages/count_tokens`: the size of a messages request's prompt.
    AnthropicCountTokens,
}

impl Operation {
    pub fn surface(self) -> Surface {
        match self {
            Operation::OllamaChat
            | Operation::OllamaGenerate
            | Operation::OllamaEmbed
            | Operation::OllamaEmbeddings
            | Operation::OllamaShow => Surface::Ollama,
            Operation::OpenAiChat
            | Operation::OpenAiCompletions
            | Operation::OpenAiEmbeddings
            | Operation::OpenAiResponses => Surface::OpenAi,
            Operation::AnthropicMessages | Operation::AnthropicCountTokens => Surface::Anthropic,
        }
    }

    /// The path clients call; also the metric label `api`.
    pub fn path(self) -> &'static str {
        match self {
            Operation::OllamaChat => "/api/chat",
            Operation::OllamaGenerate => "/api/generate",
            Operation::OllamaEmbed => "/api/embed",
            Operation::OllamaEmbeddings => "/api/embeddings",
            Operation::OllamaShow => "/api/show",
            Operation::OpenAiChat => "/v1/chat/completions",
            Operation::OpenAiCompletions => "/v1/completions",
            Operation::OpenAiEmbeddings => "/v1/embeddings",
            Operation::OpenAiResponses => "/v1/responses",
            Operation::AnthropicMessages => "/v1/messages",
            Operation::AnthropicCountTokens => "/v1/messages/count_tokens",
        }
    }
}

/// How the answer is framed, which decides how a mid-stream failure is told to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON document: a failure can only cut the connection.
    Json,
    /// Ollama's newline-delimited JSON: a failure is a final `{"error": ...}` line.
    Ndjson,
    /// OpenAI's server-sent events: a failure is a `data: {"error": {...}}` event, no `[DONE]`.
    Sse,
    /// Anthropic's named server-sent events: the answer ends with `event: message_stop`; a
    /// failure is an `event: error`.
    AnthropicSse,
    /// OpenAI Responses' named server-sent events: the answer ends with
    /// `event: response.completed` (or `response.incomplete`); a failure is a
    /// `response.failed` event. No `[DONE]`.
    ResponsesSse,
}

#[derive(Debug, Clone)]
pub struct Inbound {
    pub operation: Operation,
    pub model: Arc<str>,
    pub stream: bool,
    pub body: Bytes,
    pub request_id: Arc<str>,
    /// The client's address, for the request record.
    pub client: Option<IpAddr>,
    /// The client's API key, once checked (`keys` mode).
    pub key: Option<Arc<ClientKey>>,
    /// An Anthropic client's `anthropic-beta` header: the features its body may use, passed
    /// on to Anthropic nodes with the body.
    pub anthropic_beta: Option<actix_web::http::header::HeaderValue>,
    /// The raw query string of the client's path (`beta=true`), without the `?`; appended
    /// to the node's path when the body passes through, so the node sees what was asked.
    pub query: Option<Arc<str>>,
}

impl Inbound {
    /// Validates `body` for `operation` and extracts what routing needs.
    pub fn parse(
        operation: Operation,
        body: Bytes,
        request_id: Arc<str>,
        client: Option<IpAddr>,
    ) -> Result<Self, GatewayError> {
        let head = wire::validate(operation, &body)?;
        Ok(Inbound {
            operation,
            model: head.model.into(),
            stream: head.stream,
            body,
            request_id,
            client,
            key: None,
            anthropic_beta: None,
            query: None,
        })
    }

    /// The same request asking for `model` instead (a route's target); borrowed as it is
    /// when the model is the same, the common case.
    pub fn for_model(&self, model: &Arc<str>) -> Result<Cow<'_, Inbound>, GatewayError> {
        if *model == self.model {
            return Ok(Cow::Borrowed(self));
        }
        Ok(Cow::Owned(Inbound {
            body: wire::replace_model(&self.body, model)?,
            model: model.clone(),
            ..self.clone()
        }))
    }

    pub fn framing(&self) -> Framing {
        match (self.stream, self.operation.surface()) {
            (false, _) => Framing::Json,
            (true, _) if self.operation == Operation::OpenAiResponses => Framing::ResponsesSse,
            (true, Surface::Ollama) => Framing::Ndjson,
            (true, Surface::OpenAi) => Framing::Sse,
            (true, Surface::Anthropic) => Framing::AnthropicSse,
        }
    }
}
