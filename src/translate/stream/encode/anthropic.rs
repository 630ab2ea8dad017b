//! Anthropic Messages events: `message_start`, then blocks opened, filled and closed in
//! order with consecutive indexes (`content_block_start` / `_delta` / `_stop`), then
//! `message_delta` with the stop reason and the final counts, then `message_stop`.
//!
//! Blocks cannot interleave. A tool call that starts while another call's block is open is
//! queued with its argument pieces until that block closes (see the parent module's doc).

use std::collections::{HashMap, VecDeque};

use serde::Serialize;
use serde_json::value::RawValue;

use super::{held_too_long, Totals};
use crate::translate::{
    response::{answer::Finish, id_for, token_counts::AnthropicCounts, AnthropicBlock},
    stream::{event::Event, MAX_HELD},
    Dialect, ResponseContext, TranslateError, Usage,
};

/// The Anthropic error types a client knows; any other node error is an `api_error`.
const ERROR_TYPES: [&str; 9] = [
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Nothing,
    Text(u64),
    Thinking(u64),
    Tool { index: u64, key: u64 },
}

enum CallState {
    /// Waiting for the open block to close, with the argument text so far.
    Queued(String),
    Live,
    Closed,
}

struct Call {
    id: String,
    name: String,
    state: CallState,
    /// The node said the call is complete (it may still be queued).
    ended: bool,
}

pub(crate) struct Encoder {
    from: Dialect,
    ctx: ResponseContext,
    started: bool,
    next_index: u64,
    open: Open,
    calls: HashMap<u64, Call>,
    queue: VecDeque<u64>,
    held: usize,
    finish: Option<(Finish, Option<String>)>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame<'a> {
    MessageStart {
        message: StartMessage<'a>,
    },
    ContentBlockStart {
        index: u64,
        content_block: AnthropicBlock<'a>,
    },
    ContentBlockDelta {
        index: u64,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: u64,
    },
    MessageDelta {
        delta: StopDelta<'a>,
        usage: AnthropicCounts,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorBody<'a>,
    },
}

impl Frame<'_> {
    fn name(&self) -> &'static str {
        match self {
            Frame::MessageStart { .. } => "message_start",
            Frame::ContentBlockStart { .. } => "content_block_start",
            Frame::ContentBlockDelta { .. } => "content_block_delta",
            Frame::ContentBlockStop { .. } => "content_block_stop",
            Frame::MessageDelta { .. } => "message_delta",
            Frame::MessageStop => "message_stop",
            Frame::Ping => "ping",
            Frame::Error { .. } => "error",
        }
    }
}

#[derive(Serialize)]
struct StartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<()>,
    stop_sequence: Option<()>,
    usage: AnthropicCounts,
}

/// A `content_block_delta`'s `delta`, tagged `text_delta`, `thinking_delta`, ….
#[derive(Serialize)]
#[serde(tag = "type")]
enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopDelta<'a> {
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

fn write(out: &mut Vec<u8>, frame: &Frame<'_>) -> Result<(), TranslateError> {
    let json = serde_json::to_vec(frame).map_err(|e| TranslateError::Upstream(e.to_string()))?;
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(frame.name().as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(&json);
    out.extend_from_slice(b"\n\n");
    Ok(())
}

/// `event: error` with the node's error type when Anthropic knows it, else `api_error`.
pub(super) fn error(message: &str, kind: Option<&str>, out: &mut Vec<u8>) {
    let kind = kind
        .filter(|k| ERROR_TYPES.contains(k))
        .unwrap_or("api_error");
    let frame = Frame::Error {
        error: ErrorBody { kind, message },
    };
    // An error frame is made of strings only: it always serializes.
    let _ = write(out, &frame);
}

fn empty_input() -> Result<Box<RawValue>, TranslateError> {
    RawValue::from_string("{}".to_owned()).map_err(|e| TranslateError::Upstream(e.to_string()))
}

impl Encoder {
    pub fn new(from: Dialect, ctx: ResponseContext) -> Self {
        Encoder {
            from,
            ctx,
            started: false,
            next_index: 0,
            open: Open::Nothing,
            calls: HashMap::new(),
            queue: VecDeque::new(),
            held: 0,
            finish: None,
        }
    }

    pub fn event(
        &mut self,
        event: Event,
        totals: &Totals,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        if !matches!(event, Event::Ping) {
            let id = match &event {
                Event::Start { id } => id.as_deref(),
                _ => None,
            };
            self.start(id, &totals.usage, out)?;
        }
        match event {
            Event::Start { .. } | Event::Usage(_) | Event::Timings(_) | Event::Error { .. } => {
                Ok(())
            }
            Event::Text(text) => {
                let index = self.open_text(false, out)?;
                write(
                    out,
                    &Frame::ContentBlockDelta {
                        index,
                        delta: Delta::Text { text: &text },
                    },
                )
            }
            Event::Thinking(thinking) => {
                let index = self.open_text(true, out)?;
                write(
                    out,
                    &Frame::ContentBlockDelta {
                        index,
                        delta: Delta::Thinking {
                            thinking: &thinking,
                        },
                    },
                )
            }
            Event::Signature(signature) => match self.open {
                Open::Thinking(index) => write(
                    out,
                    &Frame::ContentBlockDelta {
                        index,
                        delta: Delta::Signature {
                            signature: &signature,
                        },
                    },
                ),
                _ => Ok(()),
            },
            Event::RedactedThinking(data) => {
                self.settle(out)?;
                let index =
                    self.open_block(AnthropicBlock::RedactedThinking { data: &data }, out)?;
                write(out, &Frame::ContentBlockStop { index })
            }
            Event::BlockEnd => match self.open {
                Open::Text(_) | Open::Thinking(_) => self.close(out),
                _ => Ok(()),
            },
            Event::ToolStart { key, id, name } => self.tool_start(key, id, name, out),
            Event::ToolArgs { key, piece } => self.tool_args(key, &piece, out),
            Event::ToolEnd { key } => {
                let Some(call) = self.calls.get_mut(&key) else {
                    return Ok(());
                };
                call.ended = true;
                if matches!(call.state, CallState::Live) {
                    self.close(out)?;
                    self.promote(out)?;
                }
                Ok(())
            }
            Event::Finish {
                reason,
                stop_sequence,
            } => {
                self.finish = Some((reason, stop_sequence));
                self.settle(out)
            }
            Event::Ping => {
                if self.started {
                    write(out, &Frame::Ping)?;
                }
                Ok(())
            }
            Event::End => self.end(&totals.usage, out),
        }
    }

    /// `message_start`, once, with the counts known now (an Anthropic node's input and
    /// cache counts; 0 from nodes that count at the end).
    fn start(
        &mut self,
        node_id: Option<&str>,
        usage: &Usage,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let id = id_for(node_id, self.from, Dialect::AnthropicMessages, &self.ctx);
        let frame = Frame::MessageStart {
            message: StartMessage {
                id: &id,
                kind: "message",
                role: "assistant",
                model: &self.ctx.model,
                content: [],
                stop_reason: None,
                stop_sequence: None,
                usage: AnthropicCounts::from_usage(usage).complete(),
            },
        };
        write(out, &frame)
    }

    fn end(&mut self, usage: &Usage, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        self.settle(out)?;
        let (reason, stop_sequence) = match self.finish.take() {
            Some(finish) => finish,
            None => (Finish::natural(!self.calls.is_empty()), None),
        };
        let mut counts = AnthropicCounts::from_usage(usage);
        counts.output_tokens.get_or_insert(0);
        let frame = Frame::MessageDelta {
            delta: StopDelta {
                stop_reason: reason.anthropic(),
                stop_sequence: match reason {
                    Finish::StopSequence => stop_sequence.as_deref(),
                    _ => None,
                },
            },
            usage: counts,
        };
        write(out, &frame)?;
        write(out, &Frame::MessageStop)
    }

    /// The open text (or thinking) block's index, opening one if another kind is open.
    fn open_text(&mut self, thinking: bool, out: &mut Vec<u8>) -> Result<u64, TranslateError> {
        match (self.open, thinking) {
            (Open::Text(index), false) | (Open::Thinking(index), true) => return Ok(index),
            _ => {}
        }
        self.settle(out)?;
        let block = if thinking {
            AnthropicBlock::Thinking {
                thinking: "",
                signature: "",
            }
        } else {
            AnthropicBlock::Text { text: "" }
        };
        let index = self.open_block(block, out)?;
        self.open = if thinking {
            Open::Thinking(index)
        } else {
            Open::Text(index)
        };
        Ok(index)
    }

    fn open_block(
        &mut self,
        block: AnthropicBlock<'_>,
        out: &mut Vec<u8>,
    ) -> Result<u64, TranslateError> {
        let index = self.next_index;
        self.next_index += 1;
        write(
            out,
            &Frame::ContentBlockStart {
                index,
                content_block: block,
            },
        )?;
        Ok(index)
    }

    fn tool_start(
        &mut self,
        key: u64,
        id: String,
        name: String,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        if self.calls.contains_key(&key) {
            return Ok(());
        }
        if matches!(self.open, Open::Tool { .. }) {
            self.calls.insert(
                key,
                Call {
                    id,
                    name,
                    state: CallState::Queued(String::new()),
                    ended: false,
                },
            );
            self.queue.push_back(key);
            return Ok(());
        }
        self.settle(out)?;
        self.calls.insert(
            key,
            Call {
                id,
                name,
                state: CallState::Queued(String::new()),
                ended: false,
            },
        );
        self.open_call(key, out)
    }

    fn tool_args(
        &mut self,
        key: u64,
        piece: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        let call = self.calls.get_mut(&key).ok_or_else(|| {
            TranslateError::Upstream("tool call arguments before the call".to_owned())
        })?;
        match &mut call.state {
            CallState::Live => match self.open {
                Open::Tool { index, .. } => write(
                    out,
                    &Frame::ContentBlockDelta {
                        index,
                        delta: Delta::InputJson {
                            partial_json: piece,
                        },
                    },
                ),
                _ => Ok(()),
            },
            CallState::Queued(held) => {
                self.held = self.held.saturating_add(piece.len());
                if self.held > MAX_HELD {
                    return Err(held_too_long());
                }
                held.push_str(piece);
                Ok(())
            }
            CallState::Closed => Err(TranslateError::Upstream(format!(
                "the node sent arguments for tool call {key} after its block was closed"
            ))),
        }
    }

    /// Opens a queued call's block with the arguments held for it.
    fn open_call(&mut self, key: u64, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let Some(call) = self.calls.get_mut(&key) else {
            return Ok(());
        };
        let held = match std::mem::replace(&mut call.state, CallState::Live) {
            CallState::Queued(held) => held,
            _ => String::new(),
        };
        self.held = self.held.saturating_sub(held.len());
        let (id, name) = (call.id.clone(), call.name.clone());
        let input = empty_input()?;
        let index = self.open_block(
            AnthropicBlock::ToolUse {
                id: &id,
                name: &name,
                input: &input,
            },
            out,
        )?;
        self.open = Open::Tool { index, key };
        if !held.is_empty() {
            write(
                out,
                &Frame::ContentBlockDelta {
                    index,
                    delta: Delta::InputJson {
                        partial_json: &held,
                    },
                },
            )?;
        }
        Ok(())
    }

    /// Closes the open block.
    fn close(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let index = match self.open {
            Open::Nothing => return Ok(()),
            Open::Text(index) | Open::Thinking(index) => index,
            Open::Tool { index, key } => {
                if let Some(call) = self.calls.get_mut(&key) {
                    call.state = CallState::Closed;
                }
                index
            }
        };
        self.open = Open::Nothing;
        write(out, &Frame::ContentBlockStop { index })
    }

    /// After a tool block closed: opens the queued calls in order, closing those the node
    /// already ended, until one stays open or none is left. A loop, not recursion: a node
    /// may queue any number of calls.
    fn promote(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        while self.open == Open::Nothing {
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            self.open_call(next, out)?;
            if self.calls.get(&next).is_some_and(|c| c.ended) {
                self.close(out)?;
            }
        }
        Ok(())
    }

    /// Closes every block, queued calls included (written whole, in order).
    fn settle(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        loop {
            self.close(out)?;
            match self.queue.pop_front() {
                Some(next) => self.open_call(next, out)?,
                None => return Ok(()),
            }
        }
    }
}
