//! OpenAI `chat.completion.chunk` frames: the role on the first delta, text in `content`,
//! thinking in `reasoning_content`, a call's `id`, `type` and `name` on its first
//! `tool_calls` delta and argument pieces after, `finish_reason` on the last choice chunk,
//! then (if the client asked) a usage chunk with `choices: []`, then `data: [DONE]`.

use serde::Serialize;

use super::{sse_data, Totals};
use crate::translate::{
    response::{answer::Finish, id_for, token_counts::OpenAiCounts},
    stream::event::Event,
    Dialect, ResponseContext, TranslateError,
};

pub(crate) struct Encoder {
    from: Dialect,
    ctx: ResponseContext,
    id: Option<String>,
    /// The node's key of each call, in order: a call's place here is its OpenAI `index`.
    calls: Vec<u64>,
    finished: bool,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<Choice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<OpenAiCounts>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolDelta<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ErrorFrame<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<()>,
    code: &'a str,
}

/// `data: {"error": {...}}` and no `[DONE]`: OpenAI's clients raise it as an API error. The
/// node's error type, if any, is the `code`.
pub(super) fn error(message: &str, kind: Option<&str>, out: &mut Vec<u8>) {
    let frame = ErrorFrame {
        error: ErrorBody {
            message,
            kind: "server_error",
            param: None,
            code: kind.unwrap_or("upstream_error"),
        },
    };
    // An error frame is made of strings only: it always serializes.
    let _ = sse_data(out, &frame);
}

impl Encoder {
    pub fn new(from: Dialect, ctx: ResponseContext) -> Self {
        Encoder {
            from,
            ctx,
            id: None,
            calls: Vec::new(),
            finished: false,
        }
    }

    pub fn event(
        &mut self,
        event: Event,
        totals: &Totals,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        match event {
            Event::Start { id } => self.start(id.as_deref(), out),
            Event::Text(text) => {
                self.start(None, out)?;
                self.delta(
                    Delta {
                        content: Some(&text),
                        ..Delta::default()
                    },
                    out,
                )
            }
            Event::Thinking(text) => {
                self.start(None, out)?;
                self.delta(
                    Delta {
                        reasoning_content: Some(&text),
                        ..Delta::default()
                    },
                    out,
                )
            }
            Event::ToolStart { key, id, name } => {
                self.start(None, out)?;
                if self.calls.contains(&key) {
                    return Ok(());
                }
                self.calls.push(key);
                let index = self.calls.len() - 1;
                self.tool_delta(index, Some((&id, &name)), "", out)
            }
            Event::ToolArgs { key, piece } => {
                let index = self.calls.iter().position(|k| *k == key).ok_or_else(|| {
                    TranslateError::Upstream("tool call arguments before the call".to_owned())
                })?;
                self.tool_delta(index, None, &piece, out)
            }
            Event::Finish { reason, .. } => self.finish(reason, out),
            Event::End => {
                self.start(None, out)?;
                if !self.finished {
                    self.finish(Finish::natural(!self.calls.is_empty()), out)?;
                }
                if self.ctx.include_usage {
                    let chunk = Chunk {
                        id: self.id(),
                        object: "chat.completion.chunk",
                        created: self.ctx.created,
                        model: &self.ctx.model,
                        choices: Vec::new(),
                        usage: Some(OpenAiCounts::from_usage(&totals.usage)),
                    };
                    sse_data(out, &chunk)?;
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
                Ok(())
            }
            Event::Signature(_)
            | Event::RedactedThinking(_)
            | Event::BlockEnd
            | Event::ToolEnd { .. }
            | Event::Usage(_)
            | Event::Timings(_)
            | Event::Ping
            | Event::Error { .. } => Ok(()),
        }
    }

    fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// The first chunk: the answer's id fixed, the role sent.
    fn start(&mut self, node_id: Option<&str>, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.id.is_some() {
            return Ok(());
        }
        self.id = Some(id_for(node_id, self.from, Dialect::OpenAiChat, &self.ctx));
        self.delta(
            Delta {
                role: Some("assistant"),
                content: Some(""),
                ..Delta::default()
            },
            out,
        )
    }

    fn finish(&mut self, reason: Finish, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.finished {
            return Ok(());
        }
        self.start(None, out)?;
        self.finished = true;
        self.choice(Delta::default(), Some(reason.openai()), out)
    }

    fn tool_delta(
        &mut self,
        index: usize,
        head: Option<(&str, &str)>,
        arguments: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        let delta = Delta {
            tool_calls: Some([ToolDelta {
                index,
                id: head.map(|(id, _)| id),
                kind: head.map(|_| "function"),
                function: FunctionDelta {
                    name: head.map(|(_, name)| name),
                    arguments,
                },
            }]),
            ..Delta::default()
        };
        self.delta(delta, out)
    }

    fn delta(&self, delta: Delta<'_>, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        self.choice(delta, None, out)
    }

    fn choice(
        &self,
        delta: Delta<'_>,
        finish_reason: Option<&'static str>,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        let chunk = Chunk {
            id: self.id(),
            object: "chat.completion.chunk",
            created: self.ctx.created,
            model: &self.ctx.model,
            choices: vec![Choice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason,
            }],
            usage: None,
        };
        sse_data(out, &chunk)
    }
}
