//! Content capture: the bodies of a request and its answer, kept with its record when
//! `request_log.capture` is on. The request path only keeps references to the chunks it
//! passes on (no copies, up to a cap); everything else (reassembling streamed answers, taking
//! base64 images out into files, cutting to size) happens in the `LogWriter`, off the path.

pub mod media;
pub mod prepare;
pub mod reassemble;

use bytes::Bytes;

use crate::inbound::{Framing, Operation};

/// Raw streamed answers are several times longer than their text; this many times the body
/// cap is kept raw so the reassembled answer can still fill the cap.
const STREAM_RAW_FACTOR: usize = 8;

/// One request's bodies, as they passed.
#[derive(Debug, Clone)]
pub struct Capture {
    pub operation: Operation,
    pub framing: Framing,
    pub request: Bytes,
    pub response: Vec<Bytes>,
    /// The answer was longer than what was kept.
    pub cut: bool,
    kept: usize,
    limit: usize,
}

impl Capture {
    pub fn new(operation: Operation, framing: Framing, request: Bytes, max_bytes: usize) -> Self {
        let limit = match framing {
            Framing::Json => max_bytes,
            Framing::Ndjson | Framing::Sse | Framing::AnthropicSse | Framing::ResponsesSse => {
                max_bytes.saturating_mul(STREAM_RAW_FACTOR)
            }
        };
        Capture {
            operation,
            framing,
            request,
            response: Vec::new(),
            cut: false,
            kept: 0,
            limit,
        }
    }

    /// Keeps a reference to an answer chunk, up to the limit.
    pub fn push(&mut self, chunk: &Bytes) {
        let room = self.limit - self.kept;
        if chunk.len() <= room {
            self.kept += chunk.len();
            self.response.push(chunk.clone());
        } else {
            if room > 0 {
                self.kept += room;
                self.response.push(chunk.slice(..room));
            }
            self.cut = true;
        }
    }

    /// The answer was Drover's own error (a refused translation, no node left): its body
    /// replaces whatever was kept, as one JSON document.
    pub fn refused(&mut self, body: Bytes) {
        self.framing = Framing::Json;
        self.response.clear();
        self.kept = 0;
        self.cut = false;
        self.push(&body);
    }
}
