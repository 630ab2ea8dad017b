//! Smooth weighted round robin (as nginx does it): over any window each node gets a share
//! proportional to its `weight`, interleaved rather than in bursts.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use super::{Candidate, RequestInfo, Strategy};

#[derive(Debug, Default)]
pub struct Weighted {
    /// Running "current weight" per node id.
    current: Mutex<HashMap<usize, i64>>,
}

impl Strategy for Weighted {
    fn name(&self) -> &'static str {
        "weighted"
    }

    fn select(&self, candidates: &[Candidate], _: &RequestInfo<'_>) -> Option<usize> {
        let mut current_weights = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for (i, c) in candidates.iter().enumerate() {
            let weight = i64::from(c.weight.max(1));
            total += weight;
            let current = current_weights.entry(c.id).or_insert(0);
            *current += weight;
            if best.is_none_or(|(_, w)| *current > w) {
                best = Some((i, *current));
            }
        }
        let (i, _) = best?;
        if let Some(current) = current_weights.get_mut(&candidates[i].id) {
            *current -= total;
        }
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{candidates, histogram};

    #[test]
    fn shares_follow_weights_exactly() {
        let mut c = candidates(&[0, 0, 0]);
        c[0].weight = 5;
        c[1].weight = 1;
        c[2].weight = 2;
        assert_eq!(
            histogram(&Weighted::default(), &c, 800),
            vec![500, 100, 200]
        );
    }

    #[test]
    fn interleaves_rather_than_bursts() {
        let mut c = candidates(&[0, 0]);
        c[0].weight = 2;
        let w = Weighted::default();
        let request = RequestInfo { model: "m" };
        let picks: Vec<usize> = (0..6).map(|_| w.select(&c, &request).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 0, 0, 1, 0]);
    }
}
