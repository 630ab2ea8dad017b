//! A lease is one request's slot on one node, taken when the node was picked. Dropping it
//! frees the slot (waking a queued request if any) and tells the node actor how the request
//! went (latency, passive health), without the request path waiting on anyone.

use std::{sync::Arc, time::Duration};

use super::{table::NodeTarget, Router};
use crate::actors::messages::{Passive, RequestOutcome};

/// How the request went on this node, for its health and latency.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The node answered; `latency` is time to response headers, `ttfb` to the first body byte.
    Success {
        latency: Duration,
        ttfb: Option<Duration>,
    },
    /// The node failed: it turns suspect at once. `hard` failures (no connection, timeout,
    /// broken answer) also count toward `down_after`; soft ones (a 5xx, an in-band error) say
    /// the node answered, so they only steer traffic away until it succeeds again.
    Failure { error: String, hard: bool },
    /// The client went away or the answer was the client's fault: says nothing about the node.
    Neutral,
}

pub struct Lease {
    target: Arc<NodeTarget>,
    model: Arc<str>,
    router: Arc<Router>,
    outcome: Outcome,
    /// The node's fleet-wide slot, in a cluster, for a node with a limit. Declared last so
    /// it is freed after the local slot.
    pub(super) cluster_slot: Option<crate::cluster::slots::SlotGuard>,
}

impl Lease {
    /// Wraps a slot already taken on `target`.
    pub(crate) fn new(target: Arc<NodeTarget>, model: Arc<str>, router: Arc<Router>) -> Self {
        Self {
            target,
            model,
            router,
            outcome: Outcome::Neutral,
            cluster_slot: None,
        }
    }

    pub fn node(&self) -> &NodeTarget {
        &self.target
    }

    /// The model as the node lists it.
    pub fn model(&self) -> &Arc<str> {
        &self.model
    }

    /// Records the outcome reported when the lease is dropped; the last call wins.
    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.target.free_slot();
        self.router.slot_freed();
        let report = match std::mem::replace(&mut self.outcome, Outcome::Neutral) {
            Outcome::Success { latency, ttfb } => {
                let wanted = self.target.stats.record_success(latency, ttfb);
                wanted.then_some(Passive::Success)
            }
            Outcome::Failure { error, hard } => Some(Passive::Failure { error, hard }),
            Outcome::Neutral => None,
        };
        if let Some(passive) = report {
            self.target.actor.do_send(RequestOutcome(passive));
        }
    }
}
