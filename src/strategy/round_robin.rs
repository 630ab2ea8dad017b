//! Each candidate in turn, regardless of load: predictable, and fair for equal nodes.

use super::{Candidate, RequestInfo, Strategy};

#[derive(Debug, Default)]
pub struct RoundRobin {
    next: usize,
}

impl Strategy for RoundRobin {
    fn name(&self) -> &'static str {
        "round_robin"
    }

    fn select(&mut self, candidates: &[Candidate], _: &RequestInfo<'_>) -> Option<usize> {
        if candidates.is_empty() {
            return None;
        }
        let i = self.next % candidates.len();
        self.next = self.next.wrapping_add(1);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{candidates, histogram};

    #[test]
    fn each_in_turn() {
        let c = candidates(&[5, 0, 9]);
        assert_eq!(
            histogram(&mut RoundRobin::default(), &c, 30),
            vec![10, 10, 10]
        );
        assert_eq!(
            RoundRobin::default().select(&[], &RequestInfo { model: "m" }),
            None
        );
    }
}
