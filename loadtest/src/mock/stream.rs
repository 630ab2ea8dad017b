//! Streamed response bodies: a list of pre-rendered frames sent one HTTP chunk at a time,
//! with a gap between frames, an optional abrupt abort, and a completion hook.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, Stream};

use super::state::InFlight;

/// Runs once, just before the last frame goes out (a finished pull registers its model
/// then, so a client that saw `success` already finds the model in `/api/tags`).
pub(crate) type OnDone = Box<dyn FnOnce() + Send>;

pub(crate) struct Script {
    frames: std::vec::IntoIter<Bytes>,
    delay: Duration,
    /// `Some(n)`: send `n` frames, then fail the body so the server drops the connection
    /// without the chunked terminator.
    die_after: Option<usize>,
    on_done: Option<OnDone>,
    /// Keeps the request counted as in flight until the body ends or is dropped.
    guard: Option<InFlight>,
}

struct Cursor {
    script: Script,
    sent: usize,
    finished: bool,
}

impl Script {
    pub(crate) fn new(frames: Vec<Bytes>, delay: Duration) -> Script {
        Script {
            frames: frames.into_iter(),
            delay,
            die_after: None,
            on_done: None,
            guard: None,
        }
    }

    pub(crate) fn die_after(mut self, n: Option<usize>) -> Script {
        self.die_after = n;
        self
    }

    pub(crate) fn on_done(mut self, f: OnDone) -> Script {
        self.on_done = Some(f);
        self
    }

    pub(crate) fn guard(mut self, g: Option<InFlight>) -> Script {
        self.guard = g;
        self
    }

    pub(crate) fn into_stream(self) -> impl Stream<Item = Result<Bytes, io::Error>> + 'static {
        let cursor = Cursor {
            script: self,
            sent: 0,
            finished: false,
        };
        stream::unfold(cursor, |mut c| async move {
            if c.finished {
                return None;
            }
            if let Some(n) = c.script.die_after {
                if c.sent >= n {
                    // Yield once so the dispatcher flushes headers and the frames already
                    // produced; a body error discards whatever is still buffered.
                    tokio::task::yield_now().await;
                    tokio::task::yield_now().await;
                    c.finished = true;
                    c.script.guard = None;
                    return Some((Err(io::Error::other("mock: connection aborted")), c));
                }
            }
            if c.sent > 0 && !c.script.delay.is_zero() {
                tokio::time::sleep(c.script.delay).await;
            }
            match c.script.frames.next() {
                Some(frame) => {
                    c.sent += 1;
                    if c.script.frames.len() == 0 {
                        if let Some(done) = c.script.on_done.take() {
                            done();
                        }
                    }
                    Some((Ok(frame), c))
                }
                None => None,
            }
        })
    }
}
