//! Anthropic Messages events: `message_start` (id, input and cache counts),
//! `content_block_start` / `_delta` / `_stop` per block index (`text_delta`,
//! `input_json_delta`, `thinking_delta`, `signature_delta`), `message_delta` (stop reason,
//! stop sequence, cumulative counts), `message_stop`, `ping` and `error`.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{error_parts, malformed, Event};
use crate::translate::{
    response::{answer::Finish, token_counts::AnthropicCounts},
    TranslateError,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    Tool,
    /// Blocks only Anthropic's server tools produce: not handed on (see `response`).
    Other,
}

#[derive(Default)]
pub(crate) struct Decoder {
    counts: AnthropicCounts,
    blocks: HashMap<u64, Kind>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct MessageStart {
    message: StartMessage,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    usage: Option<AnthropicCounts>,
}

#[derive(Deserialize)]
struct BlockStart {
    index: u64,
    content_block: StartBlock,
}

#[derive(Deserialize)]
struct StartBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct BlockDelta {
    index: u64,
    delta: Delta,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    partial_json: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
}

#[derive(Deserialize)]
struct BlockStop {
    index: u64,
}

#[derive(Deserialize)]
struct MessageDelta {
    #[serde(default)]
    delta: Option<StopDelta>,
    #[serde(default)]
    usage: Option<AnthropicCounts>,
}

#[derive(Deserialize)]
struct StopDelta {
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEvent {
    error: serde_json::Value,
}

fn read<'a, T: Deserialize<'a>>(data: &'a [u8]) -> Result<T, TranslateError> {
    serde_json::from_slice(data).map_err(|e| malformed("Anthropic", e))
}

impl Decoder {
    pub fn data(&mut self, data: &[u8], events: &mut Vec<Event>) -> Result<(), TranslateError> {
        let envelope: Envelope = read(data)?;
        match envelope.kind.as_str() {
            "message_start" => {
                let start: MessageStart = read(data)?;
                if let Some(counts) = start.message.usage {
                    self.counts.update(&counts);
                    events.push(Event::Usage(self.counts.usage()));
                }
                events.push(Event::Start {
                    id: start.message.id,
                });
            }
            "content_block_start" => self.block_start(read(data)?, events),
            "content_block_delta" => self.block_delta(read(data)?, events),
            "content_block_stop" => {
                let stop: BlockStop = read(data)?;
                match self.blocks.get(&stop.index) {
                    Some(Kind::Tool) => events.push(Event::ToolEnd { key: stop.index }),
                    Some(Kind::Text | Kind::Thinking) => events.push(Event::BlockEnd),
                    _ => {}
                }
            }
            "message_delta" => {
                let delta: MessageDelta = read(data)?;
                if let Some(counts) = delta.usage {
                    self.counts.update(&counts);
                    events.push(Event::Usage(self.counts.usage()));
                }
                if let Some(StopDelta {
                    stop_reason: Some(reason),
                    stop_sequence,
                }) = delta.delta
                {
                    events.push(Event::Finish {
                        reason: Finish::from_anthropic(&reason),
                        stop_sequence,
                    });
                }
            }
            "message_stop" => events.push(Event::End),
            "ping" => events.push(Event::Ping),
            "error" => {
                let error: ErrorEvent = read(data)?;
                let (message, kind) = error_parts(&error.error);
                events.push(Event::Error { message, kind });
            }
            _ => {}
        }
        Ok(())
    }

    fn block_start(&mut self, start: BlockStart, events: &mut Vec<Event>) {
        let block = start.content_block;
        let kind = match block.kind.as_str() {
            "text" => {
                if let Some(text) = block.text.filter(|t| !t.is_empty()) {
                    events.push(Event::Text(text));
                }
                Kind::Text
            }
            "thinking" => {
                if let Some(thinking) = block.thinking.filter(|t| !t.is_empty()) {
                    events.push(Event::Thinking(thinking));
                }
                if let Some(signature) = block.signature.filter(|s| !s.is_empty()) {
                    events.push(Event::Signature(signature));
                }
                Kind::Thinking
            }
            "redacted_thinking" => {
                events.push(Event::RedactedThinking(block.data.unwrap_or_default()));
                Kind::Other
            }
            "tool_use" => {
                events.push(Event::ToolStart {
                    key: start.index,
                    id: block.id.unwrap_or_default(),
                    name: block.name.unwrap_or_default(),
                });
                // Anthropic starts with `input: {}` and streams the arguments; a server that
                // sends them whole at the start is handed on as one piece.
                if let Some(input) = block.input.filter(|i| !is_empty_object(i.get())) {
                    events.push(Event::ToolArgs {
                        key: start.index,
                        piece: input.get().to_owned(),
                    });
                }
                Kind::Tool
            }
            _ => Kind::Other,
        };
        self.blocks.insert(start.index, kind);
    }

    fn block_delta(&mut self, delta: BlockDelta, events: &mut Vec<Event>) {
        let kind = self.blocks.get(&delta.index).copied();
        let d = delta.delta;
        let event = match (d.kind.as_str(), kind) {
            ("text_delta", Some(Kind::Text)) => d.text.map(Event::Text),
            ("thinking_delta", Some(Kind::Thinking)) => d.thinking.map(Event::Thinking),
            ("signature_delta", Some(Kind::Thinking)) => d.signature.map(Event::Signature),
            ("input_json_delta", Some(Kind::Tool)) => d.partial_json.map(|piece| Event::ToolArgs {
                key: delta.index,
                piece,
            }),
            _ => None,
        };
        match event {
            Some(Event::Text(t) | Event::Thinking(t) | Event::Signature(t)) if t.is_empty() => {}
            Some(Event::ToolArgs { piece, .. }) if piece.is_empty() => {}
            Some(event) => events.push(event),
            None => {}
        }
    }
}

fn is_empty_object(json: &str) -> bool {
    let inner = json
        .trim()
        .strip_prefix('{')
        .and_then(|j| j.strip_suffix('}'));
    inner.is_some_and(|i| i.trim().is_empty())
}
