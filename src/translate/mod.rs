//! Exact two-way translation between the chat APIs Drover speaks: OpenAI chat completions,
//! Anthropic Messages and Ollama chat (plus Ollama generate, and embeddings between OpenAI and
//! Ollama). Pure functions and state machines over bytes: no I/O, no actors, so every
//! direction is tested table-driven and by property tests.
//!
//! - `request`: a client's request body in one dialect becomes the upstream's body in another.
//! - `response`: a whole upstream answer becomes the client's.
//! - `stream`: an upstream stream, chunk by chunk (split anywhere), becomes the client's frames.
//! - `errors`: an upstream error body and status become the client API's error shape.
//!
//! What the target API cannot express is refused with [`TranslateError::Unsupported`] (a 400
//! naming the field), never dropped in silence.

pub mod errors;
pub mod request;
pub mod response;
pub mod stream;

/// A chat-like API, as a client speaks it or as a node serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `POST /v1/chat/completions`, whole JSON or SSE `data:` chunks ending `data: [DONE]`.
    OpenAiChat,
    /// `POST /v1/messages`, whole JSON or SSE with `event:` names, ending `message_stop`.
    AnthropicMessages,
    /// `POST /api/chat`, whole JSON or NDJSON ending with a `"done": true` line.
    OllamaChat,
    /// `POST /api/generate` (a prompt, not messages); only ever a client dialect: a node is
    /// sent chat, and its answer is turned back into generate's shape.
    OllamaGenerate,
    /// `POST /v1/responses`, whole JSON or SSE with `event:` names ending
    /// `response.completed` / `response.incomplete` / `response.failed`. Only ever a client
    /// dialect too: a node is sent chat, unless it serves the Responses API itself and gets
    /// the body untouched.
    OpenAiResponses,
}

/// An embeddings API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbedDialect {
    /// `POST /v1/embeddings`.
    OpenAi,
    /// `POST /api/embed` (`input`: string or list; answers `embeddings`).
    OllamaEmbed,
    /// `POST /api/embeddings`, Ollama's older one (`prompt`; answers one `embedding`).
    OllamaEmbeddings,
}

/// Why a body could not be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The request uses something the target API cannot express (a 400 for the client). The
    /// message names the field, e.g. `n: Anthropic answers one choice per request`.
    #[error("{0}")]
    Unsupported(String),
    /// The client's body is malformed for its own API (a 400 for the client).
    #[error("{0}")]
    Invalid(String),
    /// The node answered something that is not its API's shape (a 502 for the client).
    #[error("{0}")]
    Upstream(String),
}

/// Token counts of one answer, whatever dialect reported them. `None`: not reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, cached ones included (OpenAI `prompt_tokens`; for Anthropic,
    /// `input_tokens + cache_read_input_tokens + cache_creation_input_tokens`).
    pub input: Option<u64>,
    pub output: Option<u64>,
    /// Prompt tokens read from a cache (OpenAI `prompt_tokens_details.cached_tokens`,
    /// Anthropic `cache_read_input_tokens`).
    pub cache_read: Option<u64>,
    /// Prompt tokens written to a cache (Anthropic `cache_creation_input_tokens`).
    pub cache_write: Option<u64>,
}

/// Settings that fill what one API requires and another leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `max_tokens` sent to Anthropic when the client gave none (Anthropic requires it).
    pub default_max_tokens: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            default_max_tokens: 4096,
        }
    }
}

/// What an answer's translation needs to know about the request it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseContext {
    /// The model name reported to the client: the one sent to the node (a route's target for
    /// an alias), as a pass-through answer reports it.
    pub model: String,
    /// A unique id for the answer when the upstream's cannot be used (`chatcmpl-…`, `msg_…`).
    pub id: String,
    /// Unix seconds, for OpenAI's `created` and Ollama's `created_at`.
    pub created: u64,
    /// The OpenAI client asked for a usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// For a Responses client: what its answer repeats of the request.
    pub responses: Option<std::sync::Arc<ResponsesEcho>>,
}

/// What a Responses answer repeats of its request (OpenAI's SDKs read these fields back),
/// and which tools were `custom` ones whose calls go back as `custom_tool_call` items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponsesEcho {
    /// `instructions`, `tools`, `tool_choice`, `temperature`… with OpenAI's defaults filled.
    pub fields: EchoFields,
    pub custom_tools: Vec<String>,
}

/// The echoed request fields, each value rendered as JSON once per request: a streamed
/// answer repeats them in three events, and rendering them again each time cost more than
/// the rest of the stream. Sorted by name, the order the `response` object writes them in.
#[derive(Debug, Clone, Default)]
pub struct EchoFields(Vec<(String, Box<serde_json::value::RawValue>)>);

impl EchoFields {
    /// Renders each value; a `serde_json::Map` iterates in name order already.
    pub fn render(fields: serde_json::Map<String, serde_json::Value>) -> EchoFields {
        EchoFields(
            fields
                .into_iter()
                // A `Value` always renders; `filter_map` only keeps this free of a panic.
                .filter_map(|(name, value)| {
                    Some((name, serde_json::value::to_raw_value(&value).ok()?))
                })
                .collect(),
        )
    }

    /// Name and rendered value, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &serde_json::value::RawValue)> {
        self.0.iter().map(|(name, value)| (name.as_str(), &**value))
    }
}

/// Equal when they render the same.
impl PartialEq for EchoFields {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|(a, b)| a.0 == b.0 && a.1.get() == b.1.get())
    }
}

impl Eq for EchoFields {}
