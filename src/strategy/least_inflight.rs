//! The default: the node with the fewest requests in flight, ties broken by lower latency,
//! then by rotation. Balances slow and fast answers without tuning.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{latency_key, min_from, Candidate, RequestInfo, Strategy};

#[derive(Debug, Default)]
pub struct LeastInflight {
    rotation: AtomicUsize,
}

impl Strategy for LeastInflight {
    fn name(&self) -> &'static str {
        "least_inflight"
    }

    fn select(&self, candidates: &[Candidate], _: &RequestInfo<'_>) -> Option<usize> {
        let start = self.rotation.fetch_add(1, Ordering::Relaxed);
        min_from(candidates, start, |c| (c.in_flight, latency_key(c)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::strategy::testing::{candidates, histogram};

    #[test]
    fn picks_the_least_loaded() {
        let c = candidates(&[3, 1, 2]);
        assert_eq!(histogram(&LeastInflight::default(), &c, 10), vec![0, 10, 0]);
    }

    #[test]
    fn ties_go_to_the_faster_node() {
        let mut c = candidates(&[1, 1, 1]);
        c[0].latency = Some(Duration::from_millis(30));
        c[1].latency = Some(Duration::from_millis(10));
        c[2].latency = Some(Duration::from_millis(20));
        assert_eq!(histogram(&LeastInflight::default(), &c, 10), vec![0, 10, 0]);
    }

    #[test]
    fn full_ties_rotate() {
        let c = candidates(&[0, 0, 0]);
        assert_eq!(
            histogram(&LeastInflight::default(), &c, 30),
            vec![10, 10, 10]
        );
    }
}
