//! The node with the lowest EWMA latency; unmeasured nodes first so each gets measured.
//! Best when nodes differ in speed (GPU generations); ties rotate.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{latency_key, min_from, Candidate, RequestInfo, Strategy};

#[derive(Debug, Default)]
pub struct Latency {
    rotation: AtomicUsize,
}

impl Strategy for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn select(&self, candidates: &[Candidate], _: &RequestInfo<'_>) -> Option<usize> {
        let start = self.rotation.fetch_add(1, Ordering::Relaxed);
        min_from(candidates, start, latency_key)
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
        assert_eq!(histogram(&Latency::default(), &c, 10), vec![10, 0, 0]);
        c[1].latency = None;
        assert_eq!(histogram(&Latency::default(), &c, 10), vec![0, 10, 0]);
    }
}
