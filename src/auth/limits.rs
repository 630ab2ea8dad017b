//! Per-key requests-per-minute and tokens-per-minute, as a sliding window estimated from two
//! fixed one-minute windows: `previous × (share of the window still overlapping) + current`.
//! That needs two counters per limit instead of a timestamp per request, and it never lets
//! through more than the limit over any minute by more than the estimate's error (bounded by
//! the previous minute's burstiness). Windows are aligned to wall-clock minutes, so replicas
//! that later share counts agree on them.
//!
//! Tokens are known only when an answer ends, so a request is admitted while the estimate is
//! under the token limit and its tokens are added after: one request may overshoot by its
//! own size.

use std::{sync::Mutex, time::Duration};

const WINDOW_MS: i64 = 60_000;

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Requests,
    Tokens,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Requests => "requests",
            Limit::Tokens => "tokens",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub limit: Limit,
    pub per_minute: u32,
    /// How long until the estimate drops below the limit.
    pub retry_after: Duration,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    requests: f64,
    tokens: f64,
}

#[derive(Debug, Default)]
struct Windows {
    /// Start of the current window, epoch ms (a multiple of a minute).
    start_ms: i64,
    current: Counts,
    previous: Counts,
    /// What this replica admitted since it last told its peers, and in which window.
    unsent: (i64, Counts),
}

impl Windows {
    fn roll(&mut self, now_ms: i64) {
        let start = now_ms - now_ms.rem_euclid(WINDOW_MS);
        if start == self.start_ms {
            return;
        }
        self.previous = if start - self.start_ms == WINDOW_MS {
            self.current
        } else {
            Counts::default()
        };
        self.current = Counts::default();
        self.start_ms = start;
    }

    fn note_unsent(&mut self, start: i64, requests: f64, tokens: f64) {
        if self.unsent.0 != start {
            // A window passed without a send: what is left of it no longer counts anyway.
            self.unsent = (start, Counts::default());
        }
        self.unsent.1.requests += requests;
        self.unsent.1.tokens += tokens;
    }

    /// The share of the previous window that still lies within the last minute.
    fn overlap(&self, now_ms: i64) -> f64 {
        1.0 - (now_ms - self.start_ms) as f64 / WINDOW_MS as f64
    }
}

/// One key's consumption; shared by every request with the key.
#[derive(Debug, Default)]
pub struct Usage {
    windows: Mutex<Windows>,
}

impl Usage {
    /// Counts a request if both limits allow it now.
    pub fn admit(&self, now_ms: i64, rpm: Option<u32>, tpm: Option<u32>) -> Result<(), Refusal> {
        let mut w = match self.windows.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        w.roll(now_ms);
        let overlap = w.overlap(now_ms);
        let elapsed = now_ms - w.start_ms;
        let checks = [
            (
                Limit::Requests,
                rpm,
                w.previous.requests,
                w.current.requests,
            ),
            (Limit::Tokens, tpm, w.previous.tokens, w.current.tokens),
        ];
        for (which, limit, previous, current) in checks {
            let Some(limit) = limit else { continue };
            // Room for one more: the estimate must stay at or under the limit.
            let allowed = f64::from(limit) - 1.0;
            if estimate(previous, current, overlap) > allowed {
                return Err(Refusal {
                    limit: which,
                    per_minute: limit,
                    retry_after: wait(previous, current, elapsed, allowed),
                });
            }
        }
        w.current.requests += 1.0;
        let start = w.start_ms;
        w.note_unsent(start, 1.0, 0.0);
        Ok(())
    }

    /// Takes what this replica consumed since the last call, with its window's start: the
    /// cluster bridge sends it to the peers. `None` when nothing new.
    pub fn take_unsent(&self) -> Option<(i64, f64, f64)> {
        let mut w = match self.windows.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (start, counts) = std::mem::take(&mut w.unsent);
        (counts.requests > 0.0 || counts.tokens > 0.0).then_some((
            start,
            counts.requests,
            counts.tokens,
        ))
    }

    /// Adds what a peer replica consumed in the window starting at `start_ms`.
    pub fn add_remote(&self, now_ms: i64, start_ms: i64, requests: f64, tokens: f64) {
        let mut w = match self.windows.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        w.roll(now_ms);
        let counts = if start_ms == w.start_ms {
            &mut w.current
        } else if start_ms == w.start_ms - WINDOW_MS {
            &mut w.previous
        } else {
            return; // older than anything that still counts
        };
        counts.requests += requests;
        counts.tokens += tokens;
    }

    /// Adds the tokens of a finished request.
    pub fn add_tokens(&self, now_ms: i64, tokens: u64) {
        let mut w = match self.windows.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        w.roll(now_ms);
        w.current.tokens += tokens as f64;
        let start = w.start_ms;
        w.note_unsent(start, 0.0, tokens as f64);
    }
}

fn estimate(previous: f64, current: f64, overlap: f64) -> f64 {
    previous * overlap + current
}

/// Time from `elapsed` ms into the current window until the estimate is at most `allowed`.
fn wait(previous: f64, current: f64, elapsed: i64, allowed: f64) -> Duration {
    let window = WINDOW_MS as f64;
    let elapsed = elapsed as f64;
    let ms = if current <= allowed && previous > 0.0 {
        // The previous window fades out within this one.
        let overlap_needed = (allowed - current) / previous;
        (window * (1.0 - overlap_needed) - elapsed).max(0.0)
    } else {
        // Only once this window has become the previous one, fading in the next.
        let rest = window - elapsed;
        let overlap_needed = if current > 0.0 {
            (allowed.max(0.0) / current).min(1.0)
        } else {
            1.0
        };
        rest + window * (1.0 - overlap_needed)
    };
    Duration::from_millis(ms.ceil() as u64).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_consumption_counts_and_is_sent_once() {
        let (here, there) = (Usage::default(), Usage::default());
        here.admit(T0, Some(4), None).unwrap();
        here.admit(T0 + 1, Some(4), None).unwrap();
        here.add_tokens(T0 + 2, 7);
        let (start, requests, tokens) = here.take_unsent().unwrap();
        assert_eq!((start, requests, tokens), (T0, 2.0, 7.0));
        assert_eq!(here.take_unsent(), None);
        there.add_remote(T0 + 3, start, requests, tokens);
        there.admit(T0 + 4, Some(4), None).unwrap();
        there.admit(T0 + 5, Some(4), None).unwrap();
        // Two here, two there: the fifth is refused on either replica.
        assert!(there.admit(T0 + 6, Some(4), None).is_err());
        // News from a window long gone is ignored.
        there.add_remote(T0 + 7, T0 - 10 * WINDOW_MS, 100.0, 0.0);
    }

    const T0: i64 = 1_700_000_040_000; // a minute boundary

    #[test]
    fn requests_over_the_limit_are_refused_until_the_window_slides() {
        let usage = Usage::default();
        for i in 0..3 {
            assert_eq!(usage.admit(T0 + i, Some(3), None), Ok(()));
        }
        let refused = usage.admit(T0 + 10, Some(3), None).unwrap_err();
        assert_eq!(refused.limit, Limit::Requests);
        // Three in the window: the next one fits once a third of them have faded out,
        // 20 s into the next minute.
        assert_eq!(refused.retry_after, Duration::from_millis(59_990 + 20_000));
        assert!(usage.admit(T0 + 60_000 + 19_000, Some(3), None).is_err());
        assert_eq!(usage.admit(T0 + 60_000 + 20_001, Some(3), None), Ok(()));
        // Two minutes later nothing of this remains.
        for i in 0..3 {
            assert_eq!(usage.admit(T0 + 200_000 + i, Some(3), None), Ok(()));
        }
    }

    #[test]
    fn tokens_count_once_a_request_reports_them() {
        let usage = Usage::default();
        assert_eq!(usage.admit(T0, None, Some(100)), Ok(()));
        usage.add_tokens(T0 + 1, 150);
        let refused = usage.admit(T0 + 2, None, Some(100)).unwrap_err();
        assert_eq!(refused.limit, Limit::Tokens);
        assert!(refused.retry_after > Duration::from_secs(60));
        // Other keys' limits do not matter: no limit, no refusal.
        assert_eq!(usage.admit(T0 + 3, None, None), Ok(()));
    }

    #[test]
    fn the_previous_minute_fades_out() {
        let usage = Usage::default();
        for i in 0..10 {
            usage.admit(T0 + i, Some(10), None).unwrap();
        }
        // Half-way through the next minute, half of the ten still count.
        assert_eq!(usage.admit(T0 + 90_000, Some(6), None), Ok(()));
        assert!(usage.admit(T0 + 90_001, Some(6), None).is_err());
    }
}
