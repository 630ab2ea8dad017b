//! The neutral answer every dialect is read into and written from, so each dialect needs one
//! reader and one writer instead of one converter per pair. Streams share its vocabulary
//! (finish reasons, tool-call arguments, ids, timestamps).

use std::time::{Duration, UNIX_EPOCH};

use serde_json::value::RawValue;

use crate::translate::{TranslateError, Usage};

/// One assistant answer, whatever dialect it came in.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The node's own id for the answer (Ollama has none).
    pub id: Option<String>,
    /// Content in the order the node produced it.
    pub blocks: Vec<Block>,
    pub finish: Option<Finish>,
    /// The Anthropic stop sequence that ended the answer, when the node says which.
    pub stop_sequence: Option<String>,
    pub usage: Usage,
    pub timings: Timings,
}

/// Ollama's durations (nanoseconds), kept when the node is Ollama; other nodes have none and
/// an Ollama client is sent 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timings {
    pub total: Option<u64>,
    pub load: Option<u64>,
    pub prompt_eval: Option<u64>,
    pub eval: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) enum Block {
    Text(String),
    /// Anthropic `thinking`, Ollama `message.thinking`, OpenAI-compatible `reasoning_content`.
    /// Only Anthropic signs it.
    Thinking {
        text: String,
        signature: Option<String>,
    },
    /// Anthropic's encrypted thinking: only an Anthropic client can use it.
    RedactedThinking(String),
    ToolCall(ToolCall),
}

#[derive(Debug, Clone)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the JSON object text the node sent, kept byte for byte so that an
    /// OpenAI `arguments` string survives a trip through Anthropic's `input` object unchanged.
    pub arguments: Box<RawValue>,
}

impl Answer {
    pub fn text(&self) -> String {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// All thinking text, or `None` when the answer has no thinking block.
    pub fn thinking(&self) -> Option<String> {
        let mut found = false;
        let mut text = String::new();
        for block in &self.blocks {
            if let Block::Thinking { text: t, .. } = block {
                found = true;
                text.push_str(t);
            }
        }
        found.then_some(text)
    }

    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.blocks.iter().filter_map(|b| match b {
            Block::ToolCall(c) => Some(c),
            _ => None,
        })
    }

    pub fn has_tool_calls(&self) -> bool {
        self.tool_calls().next().is_some()
    }

    /// The finish reason to report: the node's, or the natural end when it gave none.
    pub fn finish(&self) -> Finish {
        self.finish
            .unwrap_or(Finish::natural(self.has_tool_calls()))
    }
}

/// Why the answer ended, as the three APIs can say it.
///
/// OpenAI `stop`, Anthropic `end_turn`/`stop_sequence` and Ollama `stop` are all a natural
/// end; OpenAI cannot tell a stop sequence from the end of turn, so `stop` becomes `end_turn`.
/// A refusal is OpenAI's `content_filter`. `pause_turn` (Anthropic's server tools paused a
/// long turn) has no counterpart elsewhere and becomes a natural end there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Stop,
    StopSequence,
    Length,
    ToolCalls,
    ContentFilter,
    PauseTurn,
}

impl Finish {
    /// A natural end: Ollama (and some OpenAI-compatible servers) say `stop` even when the
    /// answer calls tools, while clients loop on `tool_calls`/`tool_use`.
    pub fn natural(has_tool_calls: bool) -> Finish {
        if has_tool_calls {
            Finish::ToolCalls
        } else {
            Finish::Stop
        }
    }

    /// `stop` with tool calls in the answer is read as `tool_calls` (see [`Finish::natural`]).
    pub fn from_openai(reason: &str, has_tool_calls: bool) -> Finish {
        match reason {
            "length" => Finish::Length,
            "tool_calls" | "function_call" => Finish::ToolCalls,
            "content_filter" => Finish::ContentFilter,
            _ => Finish::natural(has_tool_calls),
        }
    }

    pub fn from_anthropic(reason: &str) -> Finish {
        match reason {
            "max_tokens" | "model_context_window_exceeded" => Finish::Length,
            "stop_sequence" => Finish::StopSequence,
            "tool_use" => Finish::ToolCalls,
            "refusal" => Finish::ContentFilter,
            "pause_turn" => Finish::PauseTurn,
            _ => Finish::Stop,
        }
    }

    /// Ollama's `done_reason`: `length`, or `stop` (also `load`/`unload` for empty requests).
    pub fn from_ollama(reason: Option<&str>, has_tool_calls: bool) -> Finish {
        match reason {
            Some("length") => Finish::Length,
            _ => Finish::natural(has_tool_calls),
        }
    }

    pub fn openai(self) -> &'static str {
        match self {
            Finish::Stop | Finish::StopSequence | Finish::PauseTurn => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
            Finish::ContentFilter => "content_filter",
        }
    }

    pub fn anthropic(self) -> &'static str {
        match self {
            Finish::Stop => "end_turn",
            Finish::StopSequence => "stop_sequence",
            Finish::Length => "max_tokens",
            Finish::ToolCalls => "tool_use",
            Finish::ContentFilter => "refusal",
            Finish::PauseTurn => "pause_turn",
        }
    }

    pub fn ollama(self) -> &'static str {
        match self {
            Finish::Length => "length",
            _ => "stop",
        }
    }
}

/// Tool-call arguments from OpenAI's JSON string, as the object Anthropic and Ollama carry.
/// An empty string (some servers send it for a tool without parameters) is `{}`; anything
/// that is not a JSON object is the node's error.
pub(crate) fn arguments_from_string(text: &str) -> Result<Box<RawValue>, TranslateError> {
    let text = text.trim();
    if text.is_empty() {
        return empty_arguments();
    }
    let raw: Box<RawValue> = serde_json::from_str(text).map_err(|e| {
        TranslateError::Upstream(format!("tool call arguments are not valid JSON: {e}"))
    })?;
    require_object(raw)
}

/// Arguments a node sent as JSON (Anthropic `input`, Ollama `arguments`), or a string holding
/// JSON (what OpenAI sends, and some OpenAI-compatible servers put in Ollama's place).
pub(crate) fn arguments_from_json(raw: Box<RawValue>) -> Result<Box<RawValue>, TranslateError> {
    if raw.get().starts_with('"') {
        let text: String = serde_json::from_str(raw.get())
            .map_err(|e| TranslateError::Upstream(format!("tool call arguments: {e}")))?;
        return arguments_from_string(&text);
    }
    require_object(raw)
}

fn require_object(raw: Box<RawValue>) -> Result<Box<RawValue>, TranslateError> {
    if raw.get().starts_with('{') {
        Ok(raw)
    } else {
        Err(TranslateError::Upstream(
            "tool call arguments are not a JSON object".to_owned(),
        ))
    }
}

fn empty_arguments() -> Result<Box<RawValue>, TranslateError> {
    RawValue::from_string("{}".to_owned()).map_err(|e| TranslateError::Upstream(e.to_string()))
}

/// The id of a tool call the node gave none for (Ollama): `call_<n>`, `n` counting the
/// answer's calls from 0, so the same answer always gets the same ids.
pub(crate) fn generated_call_id(n: usize) -> String {
    format!("call_{n}")
}

/// An answer id in the client's style (`chatcmpl-…`, `msg_…`) built from the gateway's
/// unique id, whichever style that one is in.
pub(crate) fn client_id(prefix: &str, gateway_id: &str) -> String {
    if gateway_id.starts_with(prefix) {
        return gateway_id.to_owned();
    }
    let bare = ["chatcmpl-", "msg_", "resp_"]
        .iter()
        .find_map(|p| gateway_id.strip_prefix(p))
        .unwrap_or(gateway_id);
    format!("{prefix}{bare}")
}

/// Ollama's `created_at` (RFC 3339, UTC) for Unix seconds; clamped to year 9999, the
/// format's limit.
pub(crate) fn created_at(unix_seconds: u64) -> String {
    const LAST_SECOND_OF_9999: u64 = 253_402_300_799;
    let time = UNIX_EPOCH + Duration::from_secs(unix_seconds.min(LAST_SECOND_OF_9999));
    humantime::format_rfc3339_seconds(time).to_string()
}
