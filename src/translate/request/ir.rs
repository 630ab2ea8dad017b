//! The canonical chat request every dialect is parsed into and rendered from. It holds what
//! at least two of the APIs can say; what only one can say is refused by its parser when it
//! would change the answer, dropped and named in [`Chat::dropped`] when it is a hint, or
//! carried in [`OllamaExtras`] for the one case where source and target are the same family
//! (Ollama generate sent to an Ollama chat node).

use serde_json::{Map, Value};

/// One chat request, whatever dialect it came in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chat {
    /// The node's model name (the gateway has already put it in the body).
    pub model: String,
    /// The conversation, system messages kept where they stood: Anthropic hoists them into
    /// its top-level `system`, the others keep their position.
    pub messages: Vec<Message>,
    /// `None`: no tools field was sent (distinct from an empty list).
    pub tools: Option<Vec<Tool>>,
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)`: at most one tool call per answer.
    pub parallel_tool_calls: Option<bool>,
    pub sampling: Sampling,
    /// Resolved with the source dialect's default (Ollama streams unless told not to).
    pub stream: bool,
    pub format: Option<ResponseFormat>,
    pub reasoning: Option<Reasoning>,
    /// The end user, for abuse tracking (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
    pub ollama: OllamaExtras,
    /// Paths of the fields the client sent that were dropped because they do not change the
    /// answer and the target has no counterpart (`context_management`, `metadata.user_id`…):
    /// told to the client in `x-drover-dropped` and kept in the request record.
    pub dropped: Vec<String>,
}

/// Sampling settings; each `None` is "the node's default".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sampling {
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Option<Vec<String>>,
    pub seed: Option<i64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
}

/// What only Ollama can say, kept for an Ollama target and judged field by field otherwise.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OllamaExtras {
    pub keep_alive: Option<Value>,
    /// `options` entries that have no field in [`Sampling`] (`num_ctx`, `repeat_penalty`…).
    pub options: Map<String, Value>,
    /// Top-level fields Drover does not know.
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One turn. Tool results are user content (Anthropic's model); OpenAI and Ollama renderers
/// split them out into `role: tool` messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text(String),
    Image(Image),
    ToolUse(ToolUse),
    ToolResult(ToolResult),
    /// Reasoning from an earlier answer. Anthropic needs its signature to accept it back;
    /// Ollama takes the text; OpenAI chat has no place for it.
    Thinking {
        text: String,
        signature: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// Base64 without any `data:` prefix; `media_type` such as `image/png`.
    Base64 { media_type: String, data: String },
    /// An `http(s)` address the node fetches itself.
    Url(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    pub id: String,
    pub name: String,
    /// Always a JSON object (checked by every parser).
    pub input: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub tool_use_id: String,
    /// Known when the source says it (Ollama `tool_name`); renderers that need it look the
    /// name up from the call with the same id.
    pub name: Option<String>,
    /// Text and images only.
    pub content: Vec<Block>,
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// A JSON schema; `None` when the source sent none (a tool without parameters).
    pub parameters: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// At least one tool call (OpenAI `required`, Anthropic `any`).
    Required,
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    /// Any JSON object (OpenAI `json_object`, Ollama `format: "json"`).
    Json,
    /// JSON that follows a schema (OpenAI `json_schema`, Ollama `format: {schema}`).
    Schema {
        name: Option<String>,
        schema: Value,
        strict: Option<bool>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reasoning {
    Off,
    /// Thinking on; Anthropic also states a budget of tokens.
    On {
        budget_tokens: Option<u64>,
    },
    /// An effort level (`low`, `medium`, `high`…): OpenAI `reasoning_effort`, Ollama `think`.
    Effort(String),
}

impl Chat {
    /// The name of the tool call with this id, from the assistant turns before.
    pub fn tool_name(&self, id: &str) -> Option<&str> {
        self.messages
            .iter()
            .flat_map(|m| &m.content)
            .find_map(|b| match b {
                Block::ToolUse(call) if call.id == id => Some(call.name.as_str()),
                _ => None,
            })
    }
}
