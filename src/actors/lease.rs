//! A lease is one request's claim on one node. It is counted in flight from the moment the
//! selector grants it until it is dropped; dropping it tells the selector (slot free) and the
//! node actor (latency, passive health) without the request path ever waiting on either.

use std::{sync::Arc, time::Duration};

use actix::Addr;

use super::{
    messages::{Release, RequestOutcome},
    node::NodeActor,
    selector::Selector,
};
use crate::config::NodeKind;

/// What the request path needs to reach a node; shared, never copied per request.
#[derive(Debug)]
pub struct NodeTarget {
    pub id: usize,
    pub name: Arc<str>,
    pub kind: NodeKind,
    /// Base URL without a trailing slash.
    pub base_url: Arc<str>,
    pub actor: Addr<NodeActor>,
}

/// How the request went on this node, for its health and latency.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The node answered; `latency` is time to response headers, `ttfb` to the first body byte.
    Success {
        latency: Duration,
        ttfb: Option<Duration>,
    },
    /// The node failed (connection, timeout, 5xx, broken stream): it turns suspect at once.
    Failure { error: String },
    /// The client went away or the answer was the client's fault: says nothing about the node.
    Neutral,
}

pub struct Lease {
    target: Arc<NodeTarget>,
    selector: Addr<Selector>,
    outcome: Outcome,
}

impl Lease {
    pub(crate) fn new(target: Arc<NodeTarget>, selector: Addr<Selector>) -> Self {
        Self {
            target,
            selector,
            outcome: Outcome::Neutral,
        }
    }

    pub fn node(&self) -> &NodeTarget {
        &self.target
    }

    /// Records the outcome reported when the lease is dropped; the last call wins.
    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.selector.do_send(Release {
            node: self.target.id,
        });
        let outcome = std::mem::replace(&mut self.outcome, Outcome::Neutral);
        if outcome != Outcome::Neutral {
            self.target.actor.do_send(RequestOutcome(outcome));
        }
    }
}
