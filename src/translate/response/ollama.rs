//! Ollama chat and generate, whole: `message` (chat) or `response` (generate), `thinking`,
//! `tool_calls` with `arguments` as an object and no id before Ollama 0.12, `done_reason`
//! and the counts and durations of the last line.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    answer::{arguments_from_json, created_at, generated_call_id, Answer, Block, Finish, ToolCall},
    token_counts::OllamaCounts,
};
use crate::translate::{ResponseContext, TranslateError, Usage};

#[derive(Deserialize, Default)]
pub(crate) struct Message {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireCall>>,
}

#[derive(Deserialize)]
pub(crate) struct WireCall {
    #[serde(default)]
    pub id: Option<String>,
    pub function: WireFunction,
}

#[derive(Deserialize)]
pub(crate) struct WireFunction {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub arguments: Option<Box<RawValue>>,
}

impl WireCall {
    /// The call with its id, or `call_<n>` when the node gave none.
    pub fn into_call(self, n: usize) -> Result<ToolCall, TranslateError> {
        let arguments = match self.function.arguments {
            Some(raw) => arguments_from_json(raw)?,
            None => super::answer::arguments_from_string("")?,
        };
        Ok(ToolCall {
            id: self
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| generated_call_id(n)),
            name: self.function.name,
            arguments,
        })
    }
}

pub(super) fn usage(body: &[u8]) -> Option<Usage> {
    serde_json::from_slice::<OllamaCounts>(body)
        .ok()
        .map(|c| c.usage())
}

pub(super) fn parse(body: &[u8]) -> Result<Answer, TranslateError> {
    // Flattened structs cannot hold raw values: read the counts and the message apart.
    let reply: ReplyHead = serde_json::from_slice(body)
        .map_err(|e| TranslateError::Upstream(format!("Ollama answer: {e}")))?;
    let counts: OllamaCounts = serde_json::from_slice(body)
        .map_err(|e| TranslateError::Upstream(format!("Ollama answer: {e}")))?;
    if reply.message.is_none() && reply.response.is_none() {
        return Err(TranslateError::Upstream(
            "Ollama answer has no message".to_owned(),
        ));
    }
    let message = reply.message.unwrap_or_default();
    let mut blocks = Vec::new();
    let thinking: String = message.thinking.into_iter().chain(reply.thinking).collect();
    if !thinking.is_empty() {
        blocks.push(Block::Thinking {
            text: thinking,
            signature: None,
        });
    }
    let text: String = message.content.into_iter().chain(reply.response).collect();
    if !text.is_empty() {
        blocks.push(Block::Text(text));
    }
    for (n, call) in message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        blocks.push(Block::ToolCall(call.into_call(n)?));
    }
    let has_tools = blocks.iter().any(|b| matches!(b, Block::ToolCall(_)));
    Ok(Answer {
        id: None,
        blocks,
        finish: Some(Finish::from_ollama(reply.done_reason.as_deref(), has_tools)),
        stop_sequence: None,
        usage: counts.usage(),
        timings: counts.timings(),
    })
}

/// The reply without its counts: a flattened struct would stop the raw arguments from
/// parsing. `response` is generate's text (nodes are always sent chat; read for tests).
#[derive(Deserialize)]
struct ReplyHead {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    response: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    done_reason: Option<String>,
}

#[derive(Serialize)]
struct ChatOut<'a> {
    model: &'a str,
    created_at: String,
    message: MessageOut<'a>,
    done: bool,
    done_reason: &'static str,
    #[serde(flatten)]
    counts: OllamaCounts,
}

#[derive(Serialize)]
pub(crate) struct MessageOut<'a> {
    pub role: &'static str,
    pub content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<CallOut<'a>>,
}

/// A tool call as Ollama writes it: `function.arguments` an object, `function.index` its
/// place in the answer, and the `id` newer Ollama versions carry (kept so an Ollama client
/// that sends the call back keeps the node's id).
#[derive(Serialize)]
pub(crate) struct CallOut<'a> {
    pub id: &'a str,
    pub function: FunctionOut<'a>,
}

#[derive(Serialize)]
pub(crate) struct FunctionOut<'a> {
    pub index: usize,
    pub name: &'a str,
    pub arguments: &'a RawValue,
}

#[derive(Serialize)]
struct GenerateOut<'a> {
    model: &'a str,
    created_at: String,
    response: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<&'a str>,
    done: bool,
    done_reason: &'static str,
    #[serde(flatten)]
    counts: OllamaCounts,
}

pub(super) fn render_chat(
    answer: &Answer,
    ctx: &ResponseContext,
) -> Result<Vec<u8>, TranslateError> {
    let text = answer.text();
    let thinking = answer.thinking();
    let body = ChatOut {
        model: &ctx.model,
        created_at: created_at(ctx.created),
        message: MessageOut {
            role: "assistant",
            content: &text,
            thinking: thinking.as_deref(),
            tool_calls: answer
                .tool_calls()
                .enumerate()
                .map(|(index, c)| CallOut {
                    id: &c.id,
                    function: FunctionOut {
                        index,
                        name: &c.name,
                        arguments: &c.arguments,
                    },
                })
                .collect(),
        },
        done: true,
        done_reason: answer.finish().ollama(),
        counts: OllamaCounts::from_usage(&answer.usage, &answer.timings),
    };
    serde_json::to_vec(&body).map_err(|e| TranslateError::Upstream(e.to_string()))
}

/// Generate has no tool calls (its requests carry no tools, so a node does not call any);
/// `context` (token ids of the conversation) is left out, no chat node has it.
pub(super) fn render_generate(
    answer: &Answer,
    ctx: &ResponseContext,
) -> Result<Vec<u8>, TranslateError> {
    let text = answer.text();
    let thinking = answer.thinking();
    let body = GenerateOut {
        model: &ctx.model,
        created_at: created_at(ctx.created),
        response: &text,
        thinking: thinking.as_deref(),
        done: true,
        done_reason: answer.finish().ollama(),
        counts: OllamaCounts::from_usage(&answer.usage, &answer.timings),
    };
    serde_json::to_vec(&body).map_err(|e| TranslateError::Upstream(e.to_string()))
}
