//! Power of two choices: sample two distinct candidates at random, keep the less loaded
//! (then the faster). Near least-in-flight balance without every request herding onto the
//! same "best" node when load numbers are stale, as they are across a fleet.

use super::{latency_key, Candidate, RequestInfo, Strategy};

#[derive(Debug, Default)]
pub struct PowerOfTwo;

impl Strategy for PowerOfTwo {
    fn name(&self) -> &'static str {
        "p2c"
    }

    fn select(&self, candidates: &[Candidate], _: &RequestInfo<'_>) -> Option<usize> {
        match candidates.len() {
            0 => None,
            1 => Some(0),
            n => {
                let a = fastrand::usize(..n);
                let b = (a + 1 + fastrand::usize(..n - 1)) % n;
                let key = |i: usize| (candidates[i].in_flight, latency_key(&candidates[i]));
                Some(if key(b) < key(a) { b } else { a })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{candidates, histogram};

    #[test]
    fn never_picks_the_most_loaded_of_three() {
        // The most loaded node loses every pairing it is part of.
        let c = candidates(&[0, 1, 5]);
        let counts = histogram(&PowerOfTwo, &c, 3000);
        assert_eq!(counts[2], 0);
        // Node 0 wins both pairings it appears in (2/3 of draws), node 1 wins one (1/3).
        assert!(counts[0] > 1700 && counts[1] > 800, "{counts:?}");
    }

    #[test]
    fn equal_nodes_share_evenly() {
        let counts = histogram(&PowerOfTwo, &candidates(&[0, 0, 0]), 3000);
        assert!(counts.iter().all(|&n| n > 800), "{counts:?}");
    }
}
