//! Ollama NDJSON lines: chat (`message.content` / `message.thinking` pieces, tool calls
//! whole with object arguments) or generate (`response` / `thinking` pieces), each
//! `"done": false`, then a last `"done": true` line with `done_reason`, counts and durations.

use serde::Serialize;

use super::{held_too_long, write_json, Totals};
use crate::translate::{
    response::{
        answer::{arguments_from_string, created_at, Finish},
        token_counts::OllamaCounts,
        OllamaCallOut, OllamaFunctionOut, OllamaMessageOut,
    },
    stream::{event::Event, MAX_HELD},
    ResponseContext, TranslateError,
};

struct Call {
    key: u64,
    id: String,
    name: String,
    arguments: String,
    sent: bool,
}

pub(crate) struct Encoder {
    model: String,
    created_at: String,
    generate: bool,
    calls: Vec<Call>,
    sent_calls: usize,
    held: usize,
    finish: Option<Finish>,
}

#[derive(Serialize)]
struct ChatLine<'a> {
    model: &'a str,
    created_at: &'a str,
    message: OllamaMessageOut<'a>,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    counts: Option<OllamaCounts>,
}

#[derive(Serialize)]
struct GenerateLine<'a> {
    model: &'a str,
    created_at: &'a str,
    response: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<&'a str>,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    counts: Option<OllamaCounts>,
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    error: &'a str,
}

/// `{"error": "..."}`, as Ollama ends a stream that failed.
pub(super) fn error(message: &str, out: &mut Vec<u8>) {
    // A string field only: it always serializes.
    if write_json(out, &ErrorLine { error: message }).is_ok() {
        out.push(b'\n');
    }
}

impl Encoder {
    pub fn new(ctx: ResponseContext, generate: bool) -> Self {
        Encoder {
            created_at: created_at(ctx.created),
            model: ctx.model,
            generate,
            calls: Vec::new(),
            sent_calls: 0,
            held: 0,
            finish: None,
        }
    }

    /// Generate has no tool calls (its requests carry no tools): calls are not written.
    pub fn event(
        &mut self,
        event: Event,
        totals: &Totals,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        match event {
            Event::Text(text) => self.piece(&text, None, out),
            Event::Thinking(thinking) => self.piece("", Some(&thinking), out),
            Event::ToolStart { key, id, name } => {
                if !self.generate && !self.calls.iter().any(|c| c.key == key) {
                    self.calls.push(Call {
                        key,
                        id,
                        name,
                        arguments: String::new(),
                        sent: false,
                    });
                }
                Ok(())
            }
            Event::ToolArgs { key, piece } => {
                let Some(call) = self.calls.iter_mut().find(|c| c.key == key) else {
                    return if self.generate {
                        Ok(())
                    } else {
                        Err(TranslateError::Upstream(
                            "tool call arguments before the call".to_owned(),
                        ))
                    };
                };
                if call.sent {
                    return Err(TranslateError::Upstream(format!(
                        "the node sent arguments for tool call {key} after it ended"
                    )));
                }
                self.held = self.held.saturating_add(piece.len());
                if self.held > MAX_HELD {
                    return Err(held_too_long());
                }
                call.arguments.push_str(&piece);
                Ok(())
            }
            Event::ToolEnd { key } => match self.calls.iter().position(|c| c.key == key) {
                Some(at) => self.send_call(at, out),
                None => Ok(()),
            },
            Event::Finish { reason, .. } => {
                self.finish = Some(reason);
                self.send_all(out)
            }
            Event::End => {
                self.send_all(out)?;
                let reason = self
                    .finish
                    .unwrap_or(Finish::natural(!self.calls.is_empty()))
                    .ollama();
                let counts = Some(OllamaCounts::from_usage(&totals.usage, &totals.timings));
                self.line("", None, Vec::new(), Some(reason), counts, out)
            }
            Event::Start { .. }
            | Event::Signature(_)
            | Event::RedactedThinking(_)
            | Event::BlockEnd
            | Event::Usage(_)
            | Event::Timings(_)
            | Event::Ping
            | Event::Error { .. } => Ok(()),
        }
    }

    fn piece(
        &mut self,
        text: &str,
        thinking: Option<&str>,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        self.line(text, thinking, Vec::new(), None, None, out)
    }

    /// OpenAI calls have no end of their own: they are complete when the answer finishes.
    fn send_all(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        for at in 0..self.calls.len() {
            self.send_call(at, out)?;
        }
        Ok(())
    }

    /// One line carrying the call, its arguments as an object.
    fn send_call(&mut self, at: usize, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let Some(call) = self.calls.get_mut(at) else {
            return Ok(());
        };
        if call.sent {
            return Ok(());
        }
        call.sent = true;
        self.held = self.held.saturating_sub(call.arguments.len());
        let arguments = arguments_from_string(&call.arguments)?;
        let index = self.sent_calls;
        self.sent_calls += 1;
        let Some(call) = self.calls.get(at) else {
            return Ok(());
        };
        let calls = vec![OllamaCallOut {
            id: &call.id,
            function: OllamaFunctionOut {
                index,
                name: &call.name,
                arguments: &arguments,
            },
        }];
        line_to(
            out,
            &self.model,
            &self.created_at,
            self.generate,
            LineParts {
                text: "",
                thinking: None,
                calls,
                done_reason: None,
                counts: None,
            },
        )
    }

    fn line(
        &self,
        text: &str,
        thinking: Option<&str>,
        calls: Vec<OllamaCallOut<'_>>,
        done_reason: Option<&'static str>,
        counts: Option<OllamaCounts>,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        line_to(
            out,
            &self.model,
            &self.created_at,
            self.generate,
            LineParts {
                text,
                thinking,
                calls,
                done_reason,
                counts,
            },
        )
    }
}

struct LineParts<'a> {
    text: &'a str,
    thinking: Option<&'a str>,
    calls: Vec<OllamaCallOut<'a>>,
    /// Set on the last line only.
    done_reason: Option<&'static str>,
    counts: Option<OllamaCounts>,
}

fn line_to(
    out: &mut Vec<u8>,
    model: &str,
    created_at: &str,
    generate: bool,
    parts: LineParts<'_>,
) -> Result<(), TranslateError> {
    let done = parts.done_reason.is_some();
    if generate {
        write_json(
            out,
            &GenerateLine {
                model,
                created_at,
                response: parts.text,
                thinking: parts.thinking,
                done,
                done_reason: parts.done_reason,
                counts: parts.counts,
            },
        )?;
    } else {
        write_json(
            out,
            &ChatLine {
                model,
                created_at,
                message: OllamaMessageOut {
                    role: "assistant",
                    content: parts.text,
                    thinking: parts.thinking,
                    tool_calls: parts.calls,
                },
                done,
                done_reason: parts.done_reason,
                counts: parts.counts,
            },
        )?;
    }
    out.push(b'\n');
    Ok(())
}
