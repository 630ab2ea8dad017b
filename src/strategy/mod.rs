//! Routing strategies: each picks one node among candidates that are healthy, have the model,
//! sit in the best available tier (up before suspect, active before standby, loaded before
//! not) and have a free slot. The `Selector` does that filtering; a strategy only chooses.

mod latency;
mod least_inflight;
mod p2c;
mod random;
mod round_robin;
mod weighted;

use std::time::Duration;

use crate::config::StrategyName;

/// What a strategy knows about one candidate node.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// The selector's id of the node (stable for the node's lifetime).
    pub id: usize,
    pub in_flight: u32,
    pub weight: u32,
    /// EWMA time to first byte, or probe latency before any request; `None` when unmeasured.
    pub latency: Option<Duration>,
}

/// What a strategy knows about the request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    pub model: &'a str,
}

/// Request handlers on every worker thread select at once, so strategies keep their state
/// in atomics or behind a short lock (never held across an await).
pub trait Strategy: Send + Sync {
    fn name(&self) -> &'static str;
    /// Index into `candidates` of the chosen node; `None` only for an empty slice.
    fn select(&self, candidates: &[Candidate], request: &RequestInfo<'_>) -> Option<usize>;
}

pub fn build(name: StrategyName) -> Box<dyn Strategy> {
    match name {
        StrategyName::LeastInflight => Box::new(least_inflight::LeastInflight::default()),
        StrategyName::RoundRobin => Box::new(round_robin::RoundRobin::default()),
        StrategyName::Latency => Box::new(latency::Latency::default()),
        StrategyName::P2c => Box::new(p2c::PowerOfTwo),
        StrategyName::Weighted => Box::new(weighted::Weighted::default()),
        StrategyName::Random => Box::new(random::Random),
    }
}

/// Unmeasured latency sorts first, so a new node gets traffic and a measurement.
fn latency_key(c: &Candidate) -> Duration {
    c.latency.unwrap_or(Duration::ZERO)
}

/// Index of the minimum by `key`, scanning from a rotating `start` so ties spread over nodes
/// instead of always landing on the first.
fn min_from<K: Ord>(
    candidates: &[Candidate],
    start: usize,
    key: impl Fn(&Candidate) -> K,
) -> Option<usize> {
    let n = candidates.len();
    (0..n)
        .map(|i| (start + i) % n)
        .min_by_key(|&i| key(&candidates[i]))
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn candidates(in_flight: &[u32]) -> Vec<Candidate> {
        in_flight
            .iter()
            .enumerate()
            .map(|(id, &in_flight)| Candidate {
                id,
                in_flight,
                weight: 1,
                latency: None,
            })
            .collect()
    }

    /// How often each candidate is chosen over `rounds` selections.
    pub fn histogram(
        strategy: &dyn Strategy,
        candidates: &[Candidate],
        rounds: usize,
    ) -> Vec<usize> {
        let mut counts = vec![0; candidates.len()];
        let request = RequestInfo { model: "m" };
        for _ in 0..rounds {
            let i = strategy.select(candidates, &request).unwrap();
            counts[i] += 1;
        }
        counts
    }
}
