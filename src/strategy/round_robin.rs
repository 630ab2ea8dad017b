//! Each candidate in turn, regardless of load: predictable, and fair for equal nodes.
//! The turn is kept per model: with one shared counter, two models requested alternately
//! would each always land on the same node.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use super::{Candidate, RequestInfo, Strategy};

#[derive(Debug, Default)]
pub struct RoundRobin {
    next: Mutex<HashMap<String, usize>>,
}

impl Strategy for RoundRobin {
    fn name(&self) -> &'static str {
        "round_robin"
    }

    fn select(&self, candidates: &[Candidate], request: &RequestInfo<'_>) -> Option<usize> {
        if candidates.is_empty() {
            return None;
        }
        let mut turns = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let next = match turns.get_mut(request.model) {
            Some(next) => next,
            None => turns.entry(request.model.to_owned()).or_default(),
        };
        let i = *next % candidates.len();
        *next = next.wrapping_add(1);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{candidates, histogram};

    #[test]
    fn turns_are_per_model() {
        let c = candidates(&[0, 0]);
        let rr = RoundRobin::default();
        let picks: Vec<usize> = ["a", "b", "a", "b"]
            .iter()
            .map(|model| rr.select(&c, &RequestInfo { model }).unwrap())
            .collect();
        assert_eq!(picks, vec![0, 0, 1, 1]);
    }

    #[test]
    fn each_in_turn() {
        let c = candidates(&[5, 0, 9]);
        assert_eq!(histogram(&RoundRobin::default(), &c, 30), vec![10, 10, 10]);
        assert_eq!(
            RoundRobin::default().select(&[], &RequestInfo { model: "m" }),
            None
        );
    }
}
