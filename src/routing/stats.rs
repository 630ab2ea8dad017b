//! Per-node measurements that every request updates and strategies read, lock-free: a message
//! per request to the node actor would wake its thread tens of thousands of times a second.
//! The node actor reads them when it reports, and hears directly only of outcomes that can
//! change health (see `want_success`).

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        OnceLock,
    },
    time::{Duration, Instant},
};

/// Weight of the newest sample in the moving averages.
const ALPHA: f64 = 0.3;
/// No sample yet.
const EMPTY: u64 = u64::MAX;

/// An exponentially weighted moving average of durations (seconds as f64 bits): recent
/// samples count most, so a node that slows down is noticed within a few requests, while one
/// outlier does not swing routing.
#[derive(Debug)]
pub struct AtomicEwma(AtomicU64);

impl Default for AtomicEwma {
    fn default() -> Self {
        Self(AtomicU64::new(EMPTY))
    }
}

impl AtomicEwma {
    pub fn observe(&self, sample: Duration) {
        let s = sample.as_secs_f64();
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                let next = if bits == EMPTY {
                    s
                } else {
                    ALPHA * s + (1.0 - ALPHA) * f64::from_bits(bits)
                };
                Some(next.to_bits())
            });
    }

    pub fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            EMPTY => None,
            bits => Duration::try_from_secs_f64(f64::from_bits(bits)).ok(),
        }
    }
}

#[derive(Debug)]
pub struct NodeStats {
    /// Time to response headers.
    pub latency: AtomicEwma,
    /// Time to the first body byte.
    pub ttfb: AtomicEwma,
    /// Set by the node actor while a success would change its health (a failure streak is
    /// open, or the node is not up); the first request to succeed then reports it.
    want_success: AtomicBool,
    /// When an answer from the node last made progress (a chunk relayed), in ms since
    /// [`epoch`]; 0: never. A node whose streams progress is alive, however slowly it
    /// answers probes (a one-slot server answers them only between generations).
    last_progress: AtomicU64,
}

impl Default for NodeStats {
    fn default() -> Self {
        Self {
            latency: AtomicEwma::default(),
            ttfb: AtomicEwma::default(),
            want_success: AtomicBool::new(true),
            last_progress: AtomicU64::new(0),
        }
    }
}

/// The instant progress times count from (so they fit an atomic), set on first use.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Milliseconds from [`epoch`] to `at`, at least 1 (0 means never).
fn millis_since_epoch(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl NodeStats {
    /// Records a successful request; true when the node actor must hear of it.
    pub fn record_success(&self, latency: Duration, ttfb: Option<Duration>) -> bool {
        self.latency.observe(latency);
        if let Some(ttfb) = ttfb {
            self.ttfb.observe(ttfb);
        }
        self.want_success.load(Ordering::Relaxed) && self.want_success.swap(false, Ordering::AcqRel)
    }

    pub fn set_want_success(&self, want: bool) {
        self.want_success.store(want, Ordering::Release);
    }

    /// An answer from the node made progress at `at` (one relaxed store per chunk).
    pub fn note_progress(&self, at: Instant) {
        self.last_progress
            .store(millis_since_epoch(at), Ordering::Relaxed);
    }

    /// Whether an answer made progress within the last `window`.
    pub fn progressed_within(&self, window: Duration) -> bool {
        match self.last_progress.load(Ordering::Relaxed) {
            0 => false,
            at => {
                millis_since_epoch(Instant::now()).saturating_sub(at)
                    <= u64::try_from(window.as_millis()).unwrap_or(u64::MAX)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_is_the_value_then_it_moves_toward_new_samples() {
        let e = AtomicEwma::default();
        assert_eq!(e.get(), None);
        e.observe(Duration::from_millis(100));
        assert_eq!(e.get(), Some(Duration::from_millis(100)));
        e.observe(Duration::from_millis(200));
        let v = e.get().unwrap().as_secs_f64();
        assert!((v - 0.13).abs() < 1e-9, "{v}");
    }

    #[test]
    fn progress_is_recent_only_within_its_window() {
        let stats = NodeStats::default();
        assert!(!stats.progressed_within(Duration::from_secs(3600)));
        stats.note_progress(Instant::now());
        assert!(stats.progressed_within(Duration::from_secs(1)));
        // Progress at the epoch, noticed well after it.
        stats.note_progress(epoch());
        std::thread::sleep(Duration::from_millis(30));
        assert!(!stats.progressed_within(Duration::from_millis(5)));
    }

    #[test]
    fn only_one_success_is_reported_while_wanted() {
        let stats = NodeStats::default();
        let ms = Duration::from_millis(1);
        assert!(stats.record_success(ms, None));
        assert!(!stats.record_success(ms, Some(ms)));
        stats.set_want_success(true);
        assert!(stats.record_success(ms, None));
        assert_eq!(stats.ttfb.get(), Some(ms));
    }
}
