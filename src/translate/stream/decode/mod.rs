//! Node streams read line by line into [`Event`]s.

mod anthropic;
mod ollama;
mod openai;

use super::event::Event;
use crate::translate::{Dialect, TranslateError};

pub(super) enum Decoder {
    OpenAi(openai::Decoder),
    Anthropic(anthropic::Decoder),
    Ollama(ollama::Decoder),
}

impl Decoder {
    /// Nodes speak chat; a generate dialect here is read as Ollama's NDJSON too.
    pub fn new(from: Dialect) -> Self {
        match from {
            Dialect::OpenAiChat => Decoder::OpenAi(openai::Decoder::default()),
            Dialect::AnthropicMessages => Decoder::Anthropic(anthropic::Decoder::default()),
            Dialect::OllamaChat | Dialect::OllamaGenerate => {
                Decoder::Ollama(ollama::Decoder::default())
            }
            // Never a node's dialect (a Responses node is passed through untranslated); read
            // as chat SSE should it ever be asked.
            Dialect::OpenAiResponses => Decoder::OpenAi(openai::Decoder::default()),
        }
    }

    pub fn line(&mut self, line: &[u8], events: &mut Vec<Event>) -> Result<(), TranslateError> {
        match self {
            Decoder::OpenAi(d) => sse_data(line).map_or(Ok(()), |data| d.data(data, events)),
            Decoder::Anthropic(d) => sse_data(line).map_or(Ok(()), |data| d.data(data, events)),
            Decoder::Ollama(d) => d.line(line, events),
        }
    }
}

/// The payload of an SSE `data:` line. Event names, ids, comments and blank lines carry
/// nothing the JSON does not (Anthropic repeats the event name as `type`), and both APIs
/// send each event's data on one line, so every data line is handled as it completes.
fn sse_data(line: &[u8]) -> Option<&[u8]> {
    let data = line.strip_prefix(b"data:")?;
    Some(data.strip_prefix(b" ").unwrap_or(data))
}

/// The message and type of an in-band error object (`{"message", "type"}`) or string.
fn error_parts(error: &serde_json::Value) -> (String, Option<String>) {
    match error {
        serde_json::Value::String(message) => (message.clone(), None),
        serde_json::Value::Object(fields) => {
            let message = match fields.get("message") {
                Some(serde_json::Value::String(m)) => m.clone(),
                _ => error.to_string(),
            };
            let kind = fields
                .get("type")
                .or_else(|| fields.get("code"))
                .and_then(|k| k.as_str())
                .map(str::to_owned);
            (message, kind)
        }
        other => (other.to_string(), None),
    }
}

fn malformed(dialect: &str, e: serde_json::Error) -> TranslateError {
    TranslateError::Upstream(format!("{dialect} stream: {e}"))
}
