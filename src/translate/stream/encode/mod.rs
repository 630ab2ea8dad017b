//! [`Event`]s written as the client's stream frames.

mod anthropic;
mod ollama;
mod openai;
mod responses;

use serde::Serialize;

use super::event::Event;
use crate::translate::{
    response::answer::Timings, Dialect, ResponseContext, TranslateError, Usage,
};

/// What the node reported so far that frames at the end need.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Totals {
    pub usage: Usage,
    pub timings: Timings,
}

impl Totals {
    pub fn merge_usage(&mut self, later: &Usage) {
        let u = &mut self.usage;
        u.input = later.input.or(u.input);
        u.output = later.output.or(u.output);
        u.cache_read = later.cache_read.or(u.cache_read);
        u.cache_write = later.cache_write.or(u.cache_write);
    }
}

pub(super) enum Encoder {
    OpenAi(openai::Encoder),
    Anthropic(anthropic::Encoder),
    Ollama(ollama::Encoder),
    Responses(Box<responses::Encoder>),
}

impl Encoder {
    pub fn new(from: Dialect, to: Dialect, ctx: ResponseContext) -> Self {
        match to {
            Dialect::OpenAiChat => Encoder::OpenAi(openai::Encoder::new(from, ctx)),
            Dialect::AnthropicMessages => Encoder::Anthropic(anthropic::Encoder::new(from, ctx)),
            Dialect::OllamaChat => Encoder::Ollama(ollama::Encoder::new(ctx, false)),
            Dialect::OllamaGenerate => Encoder::Ollama(ollama::Encoder::new(ctx, true)),
            Dialect::OpenAiResponses => Encoder::Responses(Box::new(responses::Encoder::new(ctx))),
        }
    }

    pub fn event(
        &mut self,
        event: Event,
        totals: &Totals,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        match self {
            Encoder::OpenAi(e) => e.event(event, totals, out),
            Encoder::Anthropic(e) => e.event(event, totals, out),
            Encoder::Ollama(e) => e.event(event, totals, out),
            Encoder::Responses(e) => e.event(event, totals, out),
        }
    }

    /// The client's error frame; `kind` is the node's error type when it gave one.
    pub fn error(&mut self, message: &str, kind: Option<&str>, out: &mut Vec<u8>) {
        match self {
            Encoder::OpenAi(_) => openai::error(message, kind, out),
            Encoder::Anthropic(_) => anthropic::error(message, kind, out),
            Encoder::Ollama(_) => ollama::error(message, out),
            Encoder::Responses(e) => e.error(message, kind, out),
        }
    }
}

/// Appends `value` as JSON. Drover's frame types always serialize; should one ever fail,
/// nothing is written and the error says so.
fn write_json(out: &mut Vec<u8>, value: &impl Serialize) -> Result<(), TranslateError> {
    let json = serde_json::to_vec(value).map_err(|e| TranslateError::Upstream(e.to_string()))?;
    out.extend_from_slice(&json);
    Ok(())
}

/// An SSE `data:` frame.
fn sse_data(out: &mut Vec<u8>, value: &impl Serialize) -> Result<(), TranslateError> {
    let json = serde_json::to_vec(value).map_err(|e| TranslateError::Upstream(e.to_string()))?;
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&json);
    out.extend_from_slice(b"\n\n");
    Ok(())
}

fn held_too_long() -> TranslateError {
    TranslateError::Upstream(format!(
        "more than {} bytes of tool-call arguments held back for the client",
        super::MAX_HELD
    ))
}
