//! OpenAI chat completion chunks: `data: {...}` lines, `data: [DONE]` at the end. Tool calls
//! arrive as `tool_calls[{index, id, function: {name, arguments}}]`, id and name on a call's
//! first delta; usage comes in a last chunk with `choices: []` when asked for.

use serde::Deserialize;

use super::{error_parts, malformed, Event};
use crate::translate::{
    response::{
        answer::{generated_call_id, Finish},
        token_counts::OpenAiCounts,
    },
    TranslateError,
};

#[derive(Default)]
pub(crate) struct Decoder {
    started: bool,
    /// The `index` of each call seen, in order of appearance.
    calls: Vec<u64>,
    /// A finish reason was seen: only then is `[DONE]` a whole answer's end.
    finished: bool,
}

/// What a client is told of a stream that reached `[DONE]` without a finish reason: the
/// node stopped generating without saying why (a server cut short, a crashed slot), so the
/// answer is not known whole and must not read as a normal end.
pub(crate) const NO_FINISH: &str = "the node ended its stream without a finish reason";

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<OpenAiCounts>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: u64,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolDelta>>,
}

#[derive(Deserialize)]
struct ToolDelta {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

impl Decoder {
    /// Only the first choice is read (Drover answers one choice per request).
    pub fn data(&mut self, data: &[u8], events: &mut Vec<Event>) -> Result<(), TranslateError> {
        if data.trim_ascii() == b"[DONE]" {
            events.push(if self.finished {
                Event::End
            } else {
                Event::Error {
                    message: NO_FINISH.to_owned(),
                    kind: None,
                }
            });
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_slice(data).map_err(|e| malformed("OpenAI", e))?;
        if let Some(error) = chunk.error {
            let (message, kind) = error_parts(&error);
            events.push(Event::Error { message, kind });
            return Ok(());
        }
        if !self.started {
            self.started = true;
            events.push(Event::Start { id: chunk.id });
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let delta = choice.delta.unwrap_or_default();
            if let Some(thinking) = delta.reasoning_content.or(delta.reasoning) {
                push_text(events, Event::Thinking(thinking));
            }
            for text in delta.content.into_iter().chain(delta.refusal) {
                push_text(events, Event::Text(text));
            }
            for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                self.tool_delta(position, call, events);
            }
            if let Some(reason) = choice.finish_reason {
                self.finished = true;
                events.push(Event::Finish {
                    reason: Finish::from_openai(&reason, !self.calls.is_empty()),
                    stop_sequence: None,
                });
            }
        }
        if let Some(usage) = chunk.usage {
            events.push(Event::Usage(usage.usage()));
        }
        Ok(())
    }

    /// A call's first delta starts it (with `call_<n>` if a server sends no id); argument
    /// pieces are handed on as they are, empty ones dropped.
    fn tool_delta(&mut self, position: usize, call: ToolDelta, events: &mut Vec<Event>) {
        let key = call.index.unwrap_or(position as u64);
        let (name, arguments) = match call.function {
            Some(f) => (f.name, f.arguments),
            None => (None, None),
        };
        if !self.calls.contains(&key) {
            self.calls.push(key);
            events.push(Event::ToolStart {
                key,
                id: call
                    .id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| generated_call_id(self.calls.len() - 1)),
                name: name.unwrap_or_default(),
            });
        }
        if let Some(piece) = arguments.filter(|a| !a.is_empty()) {
            events.push(Event::ToolArgs { key, piece });
        }
    }
}

fn push_text(events: &mut Vec<Event>, event: Event) {
    match &event {
        Event::Text(t) | Event::Thinking(t) if t.is_empty() => {}
        _ => events.push(event),
    }
}
