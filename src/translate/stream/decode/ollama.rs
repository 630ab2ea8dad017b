//! Ollama chat NDJSON: one JSON object a line, `message.content` / `message.thinking`
//! pieces, `message.tool_calls` whole in one line, and a last line with `done: true`,
//! `done_reason`, counts and durations. An `{"error": ...}` line is an in-band error.

use serde::Deserialize;

use super::{error_parts, malformed, Event};
use crate::translate::{
    response::{answer::Finish, token_counts::OllamaCounts, OllamaMessage},
    TranslateError,
};

#[derive(Default)]
pub(crate) struct Decoder {
    started: bool,
    calls: usize,
}

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    message: Option<OllamaMessage>,
    /// Generate's text (nodes are sent chat; read so generate streams decode in tests).
    #[serde(default)]
    response: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl Decoder {
    pub fn line(&mut self, line: &[u8], events: &mut Vec<Event>) -> Result<(), TranslateError> {
        if line.trim_ascii().is_empty() {
            return Ok(());
        }
        let parsed: Line = serde_json::from_slice(line).map_err(|e| malformed("Ollama", e))?;
        if let Some(error) = parsed.error {
            let (message, kind) = error_parts(&error);
            events.push(Event::Error { message, kind });
            return Ok(());
        }
        if !self.started {
            self.started = true;
            events.push(Event::Start { id: None });
        }
        let message = parsed.message.unwrap_or_default();
        for thinking in message.thinking.into_iter().chain(parsed.thinking) {
            if !thinking.is_empty() {
                events.push(Event::Thinking(thinking));
            }
        }
        for text in message.content.into_iter().chain(parsed.response) {
            if !text.is_empty() {
                events.push(Event::Text(text));
            }
        }
        for call in message.tool_calls.unwrap_or_default() {
            let call = call.into_call(self.calls)?;
            let key = self.calls as u64;
            self.calls += 1;
            events.push(Event::ToolStart {
                key,
                id: call.id,
                name: call.name,
            });
            events.push(Event::ToolArgs {
                key,
                piece: call.arguments.get().to_owned(),
            });
            events.push(Event::ToolEnd { key });
        }
        if parsed.done {
            let counts: OllamaCounts =
                serde_json::from_slice(line).map_err(|e| malformed("Ollama", e))?;
            events.push(Event::Usage(counts.usage()));
            events.push(Event::Timings(counts.timings()));
            events.push(Event::Finish {
                reason: Finish::from_ollama(parsed.done_reason.as_deref(), self.calls > 0),
                stop_sequence: None,
            });
            events.push(Event::End);
        }
        Ok(())
    }
}
