//! What a node's stream says, in no dialect: decoders produce these, encoders write them.

use crate::translate::{
    response::answer::{Finish, Timings},
    Usage,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Event {
    /// The answer begins (the node's first frame), with the node's answer id if it has one.
    Start {
        id: Option<String>,
    },
    Text(String),
    Thinking(String),
    /// Anthropic's signature of the open thinking block.
    Signature(String),
    RedactedThinking(String),
    /// An Anthropic text or thinking block closed (the next text starts a new block).
    BlockEnd,
    /// A tool call begins. `key` tells the node's calls apart (OpenAI `tool_calls[].index`,
    /// Anthropic block index, Ollama call count).
    ToolStart {
        key: u64,
        id: String,
        name: String,
    },
    ToolArgs {
        key: u64,
        piece: String,
    },
    /// The call's arguments are complete (Anthropic block stop, Ollama whole calls; OpenAI
    /// says it only by finishing).
    ToolEnd {
        key: u64,
    },
    /// Token counts: the fields present replace what was known.
    Usage(Usage),
    Timings(Timings),
    Finish {
        reason: Finish,
        stop_sequence: Option<String>,
    },
    Ping,
    /// The node's terminal event (`[DONE]`, `message_stop`, `done: true`).
    End,
    /// The node's in-band error; `kind` is its error type when it gives one.
    Error {
        message: String,
        kind: Option<String>,
    },
}
