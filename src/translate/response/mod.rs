//! Whole answers: the node's body, in the node's dialect, becomes the client's body in the
//! client's dialect. Each dialect is read into the neutral [`answer::Answer`] and written
//! from it.
//!
//! Decisions worth knowing:
//! - Ids: the node's answer id is kept when client and node speak the same dialect;
//!   otherwise the gateway's id is put in the client's style (`chatcmpl-…`, `msg_…`). Tool
//!   call ids are always kept; Ollama calls without one get `call_<n>`.
//! - Tool arguments travel as the node's JSON text: an OpenAI `arguments` string becomes
//!   Anthropic's `input` / Ollama's `arguments` object byte for byte and back. An arguments
//!   string that is not a JSON object is the node's error ([`TranslateError::Upstream`]);
//!   an empty one (no parameters) is `{}`.
//! - Thinking: Anthropic `thinking` ↔ Ollama `message.thinking` ↔ OpenAI
//!   `reasoning_content` (the de-facto field of OpenAI-compatible reasoning servers; read
//!   also as `reasoning`). Signatures and redacted thinking only reach Anthropic clients.
//! - Finish reasons: see [`answer::Finish`]; a natural end with tool calls is reported as
//!   `tool_calls`/`tool_use` whatever the node said, since Ollama always says `stop`.
//! - Usage: see [`token_counts`] for cached tokens.

pub(crate) mod answer;
mod anthropic;
mod embed;
mod ollama;
mod openai;
pub(crate) mod responses;
pub(crate) mod token_counts;

#[cfg(test)]
mod tests;

pub use embed::embed_response;

pub(crate) use anthropic::BlockOut as AnthropicBlock;
pub(crate) use ollama::{
    CallOut as OllamaCallOut, FunctionOut as OllamaFunctionOut, Message as OllamaMessage,
    MessageOut as OllamaMessageOut,
};

use self::answer::{client_id, Answer};
use super::{Dialect, ResponseContext, TranslateError, Usage};

/// The node's whole answer (`from`: OpenAI, Anthropic or Ollama chat) as the client's
/// (`to`, generate included), with the usage the node reported.
pub fn response(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    ctx: &ResponseContext,
) -> Result<(Vec<u8>, Usage), TranslateError> {
    let answer = parse(from, body)?;
    let out = match to {
        Dialect::OpenAiChat => openai::render(&answer, ctx, &answer_id(&answer, from, to, ctx))?,
        Dialect::AnthropicMessages => {
            anthropic::render(&answer, ctx, &answer_id(&answer, from, to, ctx))?
        }
        Dialect::OllamaChat => ollama::render_chat(&answer, ctx)?,
        Dialect::OllamaGenerate => ollama::render_generate(&answer, ctx)?,
        Dialect::OpenAiResponses => responses::render(&answer, ctx)?,
    };
    Ok((out, answer.usage))
}

/// The usage of a whole answer in its own dialect, for answers passed through untranslated;
/// all `None` when the body says nothing readable.
pub fn usage(dialect: Dialect, body: &[u8]) -> Usage {
    match dialect {
        Dialect::OpenAiChat => openai::usage(body),
        Dialect::AnthropicMessages => anthropic::usage(body),
        Dialect::OllamaChat | Dialect::OllamaGenerate => ollama::usage(body),
        Dialect::OpenAiResponses => responses::parse_usage(body),
    }
    .unwrap_or_default()
}

pub(crate) fn parse(from: Dialect, body: &[u8]) -> Result<Answer, TranslateError> {
    match from {
        Dialect::OpenAiChat => openai::parse(body),
        Dialect::AnthropicMessages => anthropic::parse(body),
        Dialect::OllamaChat | Dialect::OllamaGenerate => ollama::parse(body),
        Dialect::OpenAiResponses => Err(TranslateError::Upstream(
            "a node is sent chat, so its answer is never read as Responses".to_owned(),
        )),
    }
}

/// The answer's id for an OpenAI or Anthropic client: the node's own when it speaks the
/// client's dialect, else the gateway's in the client's style.
pub(crate) fn id_for(
    node_id: Option<&str>,
    from: Dialect,
    to: Dialect,
    ctx: &ResponseContext,
) -> String {
    let prefix = match to {
        Dialect::AnthropicMessages => "msg_",
        Dialect::OpenAiResponses => "resp_",
        _ => "chatcmpl-",
    };
    match node_id {
        Some(id) if from == to && !id.is_empty() => id.to_owned(),
        _ => client_id(prefix, &ctx.id),
    }
}

fn answer_id(answer: &Answer, from: Dialect, to: Dialect, ctx: &ResponseContext) -> String {
    id_for(answer.id.as_deref(), from, to, ctx)
}
