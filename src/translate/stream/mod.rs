//! Streamed answers: the node's stream (OpenAI SSE, Anthropic SSE or Ollama NDJSON), fed in
//! chunks split anywhere, becomes the client's stream frame by frame.
//!
//! The node's bytes are cut into lines ([`lines`]), each line read into neutral [`Event`]s by
//! the node dialect's decoder, and each event written as the client's frames by the client
//! dialect's encoder as soon as it can be. Only one incomplete line is ever held (at most
//! [`MAX_LINE`] bytes); frames are written whole.
//!
//! Held back, because the client's format cannot say it yet:
//! - Anthropic clients get a tool call's block when it starts and its argument pieces live,
//!   but Anthropic blocks cannot interleave: when an OpenAI node interleaves the pieces of
//!   parallel calls, later calls are buffered (at most [`MAX_HELD`] bytes) until the block
//!   before them closes, which for OpenAI is at the finish reason. Each block is then written
//!   with its pieces in order. A piece for a call whose block has closed (an OpenAI node
//!   sending arguments after text) is refused as the node's error: it cannot be placed.
//! - Ollama clients get each tool call whole, with object arguments, once complete: at the
//!   call's end for Anthropic and Ollama nodes, at the finish reason for OpenAI nodes (whose
//!   calls have no end of their own). Also bounded by [`MAX_HELD`].
//! - The client's terminal frames (Anthropic `message_delta` with its usage, OpenAI's usage
//!   chunk) wait for the node's terminal event, since usage may come just before it (an
//!   OpenAI usage-only chunk).
//!
//! Anthropic clients: `message_start` is sent at once with the input tokens known then (0
//! for OpenAI and Ollama nodes, which count at the end); the final `message_delta.usage`
//! carries the real `input_tokens` and cache counts. Anthropic's SDKs read them there:
//! `MessageDeltaUsage` has optional `input_tokens` and `cache_*_input_tokens`, and the Python
//! SDK's stream accumulator replaces the snapshot's counts with them when present.

mod decode;
mod encode;
mod event;
mod lines;

#[cfg(test)]
mod tests;

use self::{
    decode::Decoder,
    encode::{Encoder, Totals},
    event::Event,
    lines::Lines,
};
use super::{Dialect, ResponseContext, TranslateError, Usage};

/// The longest line (one SSE line or NDJSON line) a node may send.
pub const MAX_LINE: usize = 1 << 20;
/// The most tool-call argument bytes held back for a client at once (see the module doc).
pub const MAX_HELD: usize = 8 << 20;

/// Where a translated stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// More frames are to come.
    Open,
    /// The node's terminal event was seen and the client's terminal frames were written.
    Done,
    /// The client was sent an error frame (the node's in-band error, a malformed stream, or
    /// [`StreamTranslator::fail`]); it gets no clean end.
    Failed,
}

/// Translates one streamed answer from the node's dialect to the client's.
pub struct StreamTranslator {
    lines: Lines,
    decoder: Decoder,
    encoder: Encoder,
    totals: Totals,
    state: StreamState,
    events: Vec<Event>,
}

impl StreamTranslator {
    /// `from`: the node's dialect; `to`: the client's.
    pub fn new(from: Dialect, to: Dialect, ctx: ResponseContext) -> Self {
        StreamTranslator {
            lines: Lines::new(MAX_LINE),
            decoder: Decoder::new(from),
            encoder: Encoder::new(from, to, ctx),
            totals: Totals::default(),
            state: StreamState::Open,
            events: Vec::new(),
        }
    }

    /// Feeds the node's next bytes and appends the client frames they complete to `out`.
    /// Bytes after the node's terminal event are ignored. On `Err` (the node's stream is not
    /// its API's shape) `out` already ends with the client's error frame and the state is
    /// [`StreamState::Failed`]: send `out`, then end the response.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.state != StreamState::Open {
            return Ok(());
        }
        let result = self.feed(chunk, out);
        if let Err(e) = &result {
            self.fail(&e.to_string(), out);
        }
        result
    }

    /// The node's stream broke off (connection lost, idle timeout) before its terminal
    /// event: writes the client's error frame, never a clean end. Does nothing once the
    /// stream is done or failed.
    pub fn fail(&mut self, message: &str, out: &mut Vec<u8>) {
        if self.state == StreamState::Open {
            self.encoder.error(message, None, out);
            self.state = StreamState::Failed;
        }
    }

    pub fn state(&self) -> StreamState {
        self.state
    }

    /// The usage the node reported so far.
    pub fn usage(&self) -> Usage {
        self.totals.usage
    }

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let StreamTranslator {
            lines,
            decoder,
            encoder,
            totals,
            state,
            events,
        } = self;
        lines.split(chunk, |line| {
            if *state != StreamState::Open {
                return Ok(());
            }
            events.clear();
            decoder.line(line, events)?;
            for event in events.drain(..) {
                match event {
                    Event::Usage(usage) => totals.merge_usage(&usage),
                    Event::Timings(timings) => totals.timings = timings,
                    Event::Error { message, kind } => {
                        encoder.error(&message, kind.as_deref(), out);
                        *state = StreamState::Failed;
                        return Ok(());
                    }
                    Event::End => {
                        encoder.event(Event::End, totals, out)?;
                        *state = StreamState::Done;
                        return Ok(());
                    }
                    other => encoder.event(other, totals, out)?,
                }
            }
            Ok(())
        })
    }
}
