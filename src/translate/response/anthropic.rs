//! Anthropic Messages, whole: `content` blocks (`text`, `thinking`, `redacted_thinking`,
//! `tool_use` with an `input` object), `stop_reason`, `stop_sequence` and usage with cache
//! tokens counted apart.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{
    answer::{arguments_from_json, Answer, Block, Finish, Timings, ToolCall},
    token_counts::AnthropicCounts,
};
use crate::translate::{ResponseContext, TranslateError, Usage};

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: Option<String>,
    content: Vec<Box<RawValue>>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
    #[serde(default)]
    usage: Option<AnthropicCounts>,
}

/// A content block read in two steps: its `type`, then its fields (serde's tagged enums
/// cannot hold the raw `input` text, which must be kept byte for byte).
#[derive(Deserialize)]
struct BlockType {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct TextBlock {
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct ThinkingBlock {
    #[serde(default)]
    thinking: String,
    #[serde(default)]
    signature: Option<String>,
}

#[derive(Deserialize)]
struct RedactedBlock {
    #[serde(default)]
    data: String,
}

#[derive(Deserialize)]
pub(crate) struct ToolUseBlock {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub input: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<AnthropicCounts>,
}

pub(super) fn usage(body: &[u8]) -> Option<Usage> {
    serde_json::from_slice::<UsageOnly>(body)
        .ok()?
        .usage
        .map(|u| u.usage())
}

fn block<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, TranslateError> {
    serde_json::from_str(raw.get())
        .map_err(|e| TranslateError::Upstream(format!("Anthropic content block: {e}")))
}

/// Blocks of kinds only Anthropic's server tools produce (`server_tool_use`,
/// `web_search_tool_result`, …) are skipped: the request translation refuses server tools
/// for other clients, so they only reach an Anthropic client, which is passed through.
pub(super) fn parse(body: &[u8]) -> Result<Answer, TranslateError> {
    let message: Message = serde_json::from_slice(body)
        .map_err(|e| TranslateError::Upstream(format!("Anthropic answer: {e}")))?;
    let mut blocks = Vec::new();
    for raw in &message.content {
        let kind: BlockType = block(raw)?;
        match kind.kind.as_str() {
            "text" => blocks.push(Block::Text(block::<TextBlock>(raw)?.text)),
            "thinking" => {
                let b: ThinkingBlock = block(raw)?;
                blocks.push(Block::Thinking {
                    text: b.thinking,
                    signature: b.signature,
                });
            }
            "redacted_thinking" => {
                blocks.push(Block::RedactedThinking(block::<RedactedBlock>(raw)?.data));
            }
            "tool_use" => {
                let b: ToolUseBlock = block(raw)?;
                let arguments = match b.input {
                    Some(input) => arguments_from_json(input)?,
                    None => super::answer::arguments_from_string("")?,
                };
                blocks.push(Block::ToolCall(ToolCall {
                    id: b.id,
                    name: b.name,
                    arguments,
                }));
            }
            _ => {}
        }
    }
    Ok(Answer {
        id: message.id,
        blocks,
        finish: message.stop_reason.as_deref().map(Finish::from_anthropic),
        stop_sequence: message.stop_sequence,
        usage: message.usage.map(|u| u.usage()).unwrap_or_default(),
        timings: Timings::default(),
    })
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<BlockOut<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
    usage: AnthropicCounts,
}

/// A content block as Anthropic writes it, whole or as a stream's `content_block_start`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum BlockOut<'a> {
    Text {
        text: &'a str,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a RawValue,
    },
}

/// Thinking from a node that does not sign it gets an empty `signature` (the field is
/// required); it reads fine, but Anthropic itself would not accept it back.
pub(super) fn render(
    answer: &Answer,
    ctx: &ResponseContext,
    id: &str,
) -> Result<Vec<u8>, TranslateError> {
    let content = answer
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(text) if text.is_empty() => None,
            Block::Text(text) => Some(BlockOut::Text { text }),
            Block::Thinking { text, signature } => Some(BlockOut::Thinking {
                thinking: text,
                signature: signature.as_deref().unwrap_or(""),
            }),
            Block::RedactedThinking(data) => Some(BlockOut::RedactedThinking { data }),
            Block::ToolCall(c) => Some(BlockOut::ToolUse {
                id: &c.id,
                name: &c.name,
                input: &c.arguments,
            }),
        })
        .collect();
    let finish = answer.finish();
    let body = MessageOut {
        id,
        kind: "message",
        role: "assistant",
        model: &ctx.model,
        content,
        stop_reason: finish.anthropic(),
        stop_sequence: match finish {
            Finish::StopSequence => answer.stop_sequence.as_deref(),
            _ => None,
        },
        usage: AnthropicCounts::from_usage(&answer.usage).complete(),
    };
    serde_json::to_vec(&body).map_err(|e| TranslateError::Upstream(e.to_string()))
}
