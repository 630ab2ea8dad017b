//! Cuts a byte stream split anywhere into whole lines, holding at most one incomplete line.
//! Lines end with `\n` (a `\r` before it is dropped), as SSE and NDJSON nodes send them.

use crate::translate::TranslateError;

pub(super) struct Lines {
    partial: Vec<u8>,
    max: usize,
}

impl Lines {
    pub fn new(max: usize) -> Self {
        Lines {
            partial: Vec::new(),
            max,
        }
    }

    /// Calls `line` with each line `chunk` completes, in order. A line longer than the
    /// limit is the node's error.
    pub fn split(
        &mut self,
        chunk: &[u8],
        mut line: impl FnMut(&[u8]) -> Result<(), TranslateError>,
    ) -> Result<(), TranslateError> {
        let mut rest = chunk;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let (head, tail) = rest.split_at(end);
            rest = tail.get(1..).unwrap_or_default();
            self.check(head.len())?;
            if self.partial.is_empty() {
                line(trim_cr(head))?;
            } else {
                self.partial.extend_from_slice(head);
                let whole = std::mem::take(&mut self.partial);
                line(trim_cr(&whole))?;
            }
        }
        self.check(rest.len())?;
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    fn check(&self, more: usize) -> Result<(), TranslateError> {
        if self.partial.len().saturating_add(more) > self.max {
            return Err(TranslateError::Upstream(format!(
                "the node sent a stream line longer than {} bytes",
                self.max
            )));
        }
        Ok(())
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}
