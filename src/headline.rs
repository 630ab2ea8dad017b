//! A replica's headline numbers (requests, errors, tokens, latency percentiles) kept in
//! atomics, so the cluster's status can report them every second without reading the
//! Prometheus registry. One relaxed atomic add per count on the request path.

use std::sync::atomic::{AtomicU64, Ordering};

/// Latency buckets: four per doubling of microseconds, from 1 µs to ~2^32 µs (71 min).
const BUCKETS: usize = 128;

pub struct Headline {
    requests: AtomicU64,
    errors: AtomicU64,
    tokens: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

pub static HEADLINE: Headline = Headline {
    requests: AtomicU64::new(0),
    errors: AtomicU64::new(0),
    tokens: AtomicU64::new(0),
    latency: [const { AtomicU64::new(0) }; BUCKETS],
};

fn bucket(micros: u64) -> usize {
    if micros == 0 {
        return 0;
    }
    let log2 = 63 - micros.leading_zeros() as usize;
    // The two bits after the leading one say which quarter of the doubling.
    let quarter = if log2 >= 2 {
        ((micros >> (log2 - 2)) & 3) as usize
    } else {
        0
    };
    (log2 * 4 + quarter).min(BUCKETS - 1)
}

/// The lower bound of a bucket, in µs.
fn lower(bucket: usize) -> f64 {
    let log2 = bucket / 4;
    let quarter = (bucket % 4) as f64;
    (1u64 << log2) as f64 * (1.0 + quarter / 4.0)
}

impl Headline {
    pub fn record(&self, micros: u64, error: bool, tokens: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if tokens > 0 {
            self.tokens.fetch_add(tokens, Ordering::Relaxed);
        }
        self.latency[bucket(micros)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            tokens: self.tokens.load(Ordering::Relaxed),
            latency: std::array::from_fn(|i| self.latency[i].load(Ordering::Relaxed)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub requests: u64,
    pub errors: u64,
    pub tokens: u64,
    latency: [u64; BUCKETS],
}

/// What happened between two snapshots, per second.
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Rates {
    pub rps: f64,
    pub errors_per_s: f64,
    pub tokens_per_s: f64,
    /// Within a quarter of a doubling (~19 %); `None` without requests.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Snapshot {
    pub fn rates_since(&self, earlier: &Snapshot, seconds: f64) -> Rates {
        let seconds = seconds.max(1e-3);
        let counts: Vec<u64> = self
            .latency
            .iter()
            .zip(&earlier.latency)
            .map(|(now, then)| now.saturating_sub(*then))
            .collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| {
            if total == 0 {
                return None;
            }
            let rank = ((q * total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            counts.iter().enumerate().find_map(|(i, n)| {
                seen += n;
                (seen >= rank).then(|| lower(i) / 1e3)
            })
        };
        Rates {
            rps: self.requests.saturating_sub(earlier.requests) as f64 / seconds,
            errors_per_s: self.errors.saturating_sub(earlier.errors) as f64 / seconds,
            tokens_per_s: self.tokens.saturating_sub(earlier.tokens) as f64 / seconds,
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for micros in [1, 2, 3, 5, 8, 100, 999, 1_000, 25_000, 1_000_000, u64::MAX] {
            let b = bucket(micros);
            assert!(b >= last, "{micros}");
            last = b;
            if micros < 1 << 30 {
                let low = lower(b);
                assert!(
                    low <= micros as f64 && micros as f64 <= low * 1.25 + 1.0,
                    "{micros}"
                );
            }
        }
    }

    #[test]
    fn rates_come_from_the_difference() {
        let h = Headline {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            latency: [const { AtomicU64::new(0) }; BUCKETS],
        };
        h.record(5_000, false, 3);
        let before = h.snapshot();
        for i in 0..99 {
            h.record(1_000 + i, false, 1);
        }
        h.record(80_000, true, 0);
        let rates = h.snapshot().rates_since(&before, 2.0);
        assert_eq!(rates.rps, 50.0);
        assert_eq!(rates.errors_per_s, 0.5);
        assert_eq!(rates.tokens_per_s, 49.5);
        let p50 = rates.p50_ms.unwrap();
        assert!((0.8..=1.1).contains(&p50), "{p50}");
        assert!(rates.p99_ms.unwrap() <= 1.25, "{rates:?}");
    }
}
