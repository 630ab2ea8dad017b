//! The node with the lowest EWMA latency; unmeasured nodes first so each gets measured.
//! Best when nodes differ in speed (GPU generations); ties rotate. One pick in
//! `EXPLORE_EVERY` goes to each candidate in turn instead: a node's average only moves when it
//! serves, so a node measured slow once (say while loading a model) would otherwise never be
//! measured again.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{latency_key, min_from, Candidate, RequestInfo, Strategy};

/// One pick in this many explores.
const EXPLORE_EVERY: usize = 20;

#[derive(Debug, Default)]
pub struct Latency {
    rotation: AtomicUsize,
}

impl Strategy for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn select(&self, candidates: &[Candidate], _: &RequestInfo<'_>) -> Option<usize> {
        let n = self.rotation.fetch_add(1, Ordering::Relaxed);
        if n % EXPLORE_EVERY == EXPLORE_EVERY - 1 && !candidates.is_empty() {
            return Some((n / EXPLORE_EVERY) % candidates.len());
        }
        min_from(candidates, n, latency_key)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::strategy::testing::{candidates, histogram};

    #[test]
    fn picks_the_fastest_and_measures_unknown_first() {
        let mut c = candidates(&[9, 0, 0]);
        c[0].latency = Some(Duration::from_millis(5));
        c[1].latency = Some(Duration::from_millis(50));
        c[2].latency = Some(Duration::from_millis(20));
        assert_eq!(histogram(&Latency::default(), &c, 19), vec![19, 0, 0]);
        c[1].latency = None;
        assert_eq!(histogram(&Latency::default(), &c, 19), vec![0, 19, 0]);
    }

    #[test]
    fn slow_nodes_are_measured_again_now_and_then() {
        let mut c = candidates(&[0, 0]);
        c[0].latency = Some(Duration::from_millis(5));
        c[1].latency = Some(Duration::from_millis(500));
        // 3 explorations in 60 picks, alternating over candidates: node 1 gets at least one.
        let counts = histogram(&Latency::default(), &c, 60);
        assert!(counts[1] >= 1 && counts[1] <= 3, "{counts:?}");
    }
}
