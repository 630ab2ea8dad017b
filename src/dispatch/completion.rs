//! Knowing whether an answer really ended. awc reports a connection that drops in the middle
//! of a chunked body exactly like a finished body (its payload stream just ends), so a dead
//! node would look like a clean, short answer. Each format has an end marker we can check
//! cheaply instead: Ollama's last line says `"done":true` (or carries an `"error"`), an OpenAI
//! stream ends with `data: [DONE]`, and a whole answer has its Content-Length.

use memchr::memmem;

use crate::inbound::Framing;

/// Bytes kept from the previous chunk, so a marker split across two chunks is still seen.
const CARRY: usize = 16;

#[derive(Debug)]
pub struct Completion {
    framing: Framing,
    expected_len: Option<u64>,
    seen_len: u64,
    saw_end: bool,
    tail: [u8; CARRY],
    tail_len: usize,
}

impl Completion {
    pub fn new(framing: Framing, expected_len: Option<u64>) -> Self {
        Self {
            framing,
            expected_len,
            seen_len: 0,
            saw_end: false,
            tail: [0; CARRY],
            tail_len: 0,
        }
    }

    pub fn observe(&mut self, chunk: &[u8]) {
        self.seen_len += chunk.len() as u64;
        let markers: &[&[u8]] = match self.framing {
            Framing::Json => return,
            Framing::Ndjson => &[b"\"done\":true", b"\"done\": true", b"{\"error\""],
            Framing::Sse => &[b"data: [DONE]", b"data:[DONE]"],
        };
        if !self.saw_end {
            self.saw_end = markers
                .iter()
                .any(|m| memmem::find(chunk, m).is_some() || self.spans_boundary(chunk, m));
        }
        let keep = chunk.len().min(CARRY);
        if keep == CARRY {
            self.tail.copy_from_slice(&chunk[chunk.len() - CARRY..]);
        } else {
            // Shift the old tail left and append the short chunk.
            let old = (self.tail_len + keep)
                .saturating_sub(CARRY)
                .min(self.tail_len);
            self.tail.copy_within(old..self.tail_len, 0);
            let start = self.tail_len - old;
            self.tail[start..start + keep].copy_from_slice(chunk);
            self.tail_len = start + keep;
            return;
        }
        self.tail_len = CARRY;
    }

    fn spans_boundary(&self, chunk: &[u8], marker: &[u8]) -> bool {
        let mut joined = [0u8; 2 * CARRY];
        let head = chunk.len().min(CARRY);
        joined[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        joined[self.tail_len..self.tail_len + head].copy_from_slice(&chunk[..head]);
        memmem::find(&joined[..self.tail_len + head], marker).is_some()
    }

    /// Whether what was seen is a whole answer.
    pub fn is_complete(&self) -> bool {
        match self.framing {
            Framing::Json => self.expected_len.is_none_or(|n| n == self.seen_len),
            Framing::Ndjson | Framing::Sse => self.saw_end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(framing: Framing, len: Option<u64>, chunks: &[&[u8]]) -> bool {
        let mut c = Completion::new(framing, len);
        for chunk in chunks {
            c.observe(chunk);
        }
        c.is_complete()
    }

    #[test]
    fn ollama_streams_end_with_done_or_error() {
        let token: &[u8] = b"{\"done\":false}\n";
        assert!(!complete(Framing::Ndjson, None, &[token, token]));
        assert!(complete(
            Framing::Ndjson,
            None,
            &[token, b"{\"model\":\"m\",\"done\":true}\n"]
        ));
        assert!(complete(
            Framing::Ndjson,
            None,
            &[b"{\"error\":\"boom\"}\n"]
        ));
        // The marker split over two chunks, even tiny ones.
        assert!(complete(
            Framing::Ndjson,
            None,
            &[token, b"{\"model\":\"m\",\"do", b"ne\":t", b"rue}\n"]
        ));
    }

    #[test]
    fn openai_streams_end_with_done_event() {
        assert!(!complete(Framing::Sse, None, &[b"data: {}\n\n"]));
        assert!(complete(
            Framing::Sse,
            None,
            &[b"data: {}\n\n", b"data: [DONE]\n\n"]
        ));
        assert!(complete(
            Framing::Sse,
            None,
            &[b"data: {}\n\ndata: [DO", b"NE]\n\n"]
        ));
    }

    #[test]
    fn whole_answers_need_their_declared_length() {
        assert!(complete(Framing::Json, Some(4), &[b"{}", b"{}"]));
        assert!(!complete(Framing::Json, Some(5), &[b"{}", b"{}"]));
        assert!(complete(Framing::Json, None, &[b"{"]));
    }
}
