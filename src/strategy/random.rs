//! Uniformly random: stateless, no coordination, a baseline to compare the others against.

use super::{Candidate, RequestInfo, Strategy};

#[derive(Debug, Default)]
pub struct Random;

impl Strategy for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn select(&self, candidates: &[Candidate], _: &RequestInfo<'_>) -> Option<usize> {
        (!candidates.is_empty()).then(|| fastrand::usize(..candidates.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{candidates, histogram};

    #[test]
    fn spreads_over_all() {
        let counts = histogram(&Random, &candidates(&[0, 0, 0]), 3000);
        assert!(counts.iter().all(|&n| n > 800), "{counts:?}");
    }
}
