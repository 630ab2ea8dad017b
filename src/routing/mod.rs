//! Choosing a node for a request without a round trip to an actor.
//!
//! The `Selector` actor is the only writer of routing state: it builds a `RoutingTable` from
//! the node actors' reports and publishes it. Request handlers on every worker thread read the
//! current table lock-free, pick a node with the strategy, and take a slot on it with a
//! compare-and-swap on the node's in-flight counter, so `max_concurrency` holds exactly. Only
//! when every candidate is full does a request message the selector, to wait in its queue.
//! A round trip through the actor mailbox costs two cross-thread wake-ups (tens of µs on a
//! VM); the table read and the CAS cost well under a microsecond. See docs/architecture.md.

mod lease;
pub mod routes;
pub mod stats;
mod table;

use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering},
    Arc,
};

use actix::Addr;
use arc_swap::ArcSwap;
use tokio::time::timeout;

pub use lease::{Lease, Outcome};
pub use routes::{RouteTable, Step};
pub use stats::NodeStats;
pub use table::{NodeEntry, NodeTarget, Pick, RoutingTable};

use crate::{
    actors::{
        messages::{Assignment, Enqueue, GetPool, NodeState},
        Selector,
    },
    error::GatewayError,
    metrics as m,
    strategy::Strategy,
};

/// Shared by the selector (writer) and every request handler (readers).
pub struct Router {
    table: ArcSwap<RoutingTable>,
    /// Model routes (aliases); swapped whole when an operator changes one.
    routes: ArcSwap<RouteTable>,
    /// Swapped whole when an operator changes the strategy; a pick holds the one it loaded.
    strategy: ArcSwap<Box<dyn Strategy>>,
    /// Requests waiting in the selector's queue. A freed slot only bothers the selector when
    /// someone waits.
    waiting: AtomicUsize,
    /// How long a request may wait for a slot, in ms; an operator may change it.
    queue_timeout_ms: AtomicU64,
    selector: Addr<Selector>,
    /// Where node actors report health changes they found themselves; set by the cluster
    /// bridge (unset standalone).
    pub observer: crate::actors::messages::Observer,
    /// Fleet-wide slots of nodes with a limit; set in a cluster.
    pub slots: std::sync::OnceLock<Arc<crate::cluster::slots::Slots>>,
    /// Set to true just before the shutdown grace runs out: every running stream then ends
    /// with an error frame rather than a bare cut (see `dispatch::relay`).
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl Router {
    pub fn new(
        strategy: Box<dyn Strategy>,
        queue_timeout: std::time::Duration,
        selector: Addr<Selector>,
    ) -> Self {
        Self {
            table: ArcSwap::from_pointee(RoutingTable::default()),
            routes: ArcSwap::from_pointee(RouteTable::default()),
            strategy: ArcSwap::from_pointee(strategy),
            waiting: AtomicUsize::new(0),
            queue_timeout_ms: AtomicU64::new(queue_timeout.as_millis() as u64),
            selector,
            observer: Default::default(),
            slots: std::sync::OnceLock::new(),
            shutdown: tokio::sync::watch::Sender::new(false),
        }
    }

    /// The selector actor, for the slow path and pool-wide views.
    pub fn selector(&self) -> &Addr<Selector> {
        &self.selector
    }

    /// Every node's status with its in-flight count, from the selector.
    pub async fn pool(&self) -> Result<Vec<NodeState>, GatewayError> {
        self.selector
            .send(GetPool)
            .await
            .map_err(|e| GatewayError::Internal(format!("selector unavailable: {e}")))
    }

    pub fn table(&self) -> Arc<RoutingTable> {
        self.table.load_full()
    }

    /// The routes' aliases, for the model lists clients read.
    pub fn aliases(&self) -> Vec<String> {
        self.routes.load().aliases()
    }

    pub fn set_routes(&self, routes: RouteTable) {
        self.routes.store(Arc::new(routes));
    }

    /// The steps to serve a requested model: its route and fallbacks, or the name itself.
    pub fn plan(&self, requested: &Arc<str>) -> Vec<Step> {
        self.routes.load().plan(requested)
    }

    /// Ids of the current nodes outside `names`, to exclude from a step limited to those.
    pub fn outside(&self, names: &[Arc<str>]) -> Vec<usize> {
        self.table
            .load()
            .nodes
            .iter()
            .filter(|n| !names.contains(&n.status.name))
            .map(|n| n.target.id)
            .collect()
    }

    pub(crate) fn set_strategy(&self, strategy: Box<dyn Strategy>) {
        self.strategy.store(Arc::new(strategy));
    }

    pub(crate) fn set_queue_timeout(&self, timeout: std::time::Duration) {
        self.queue_timeout_ms
            .store(timeout.as_millis() as u64, Ordering::Relaxed);
    }

    pub(crate) fn publish(&self, table: RoutingTable) {
        self.table.store(Arc::new(table));
    }

    /// Picks a node on the current table and takes a slot on it.
    pub(crate) fn pick(&self, model: &str, exclude: &[usize]) -> Result<Pick, GatewayError> {
        let strategy = self.strategy.load();
        self.table.load().pick(&***strategy, model, exclude)
    }

    pub(crate) fn waiting(&self) -> &AtomicUsize {
        &self.waiting
    }

    /// Gets a lease on a node for `model`, avoiding the nodes in `exclude`. When every
    /// candidate is at capacity, waits (in the selector's queue, or for a fleet-wide slot) for
    /// at most `queue_timeout`.
    pub async fn acquire(
        self: &Arc<Self>,
        model: &Arc<str>,
        exclude: &[usize],
    ) -> Result<Lease, GatewayError> {
        let Some(slots) = self.slots.get() else {
            return self.acquire_here(model, exclude).await;
        };
        let queue_timeout =
            std::time::Duration::from_millis(self.queue_timeout_ms.load(Ordering::Relaxed));
        let deadline = tokio::time::Instant::now() + queue_timeout;
        loop {
            // Registered before this pass tries any slot: a free anywhere after this point
            // wakes the wait below (`notify_waiters` reaches every `Notified` made before it).
            let freed = slots.freed.notified();
            // Nodes found full fleet-wide on this pass: skipped, so the next best node (a
            // standby, say) serves rather than the request waiting on them.
            let mut full: Vec<usize> = Vec::new();
            let mut skip: Vec<usize> = exclude.to_vec();
            loop {
                let mut lease = if full.is_empty() {
                    self.acquire_here(model, &skip).await?
                } else {
                    // Once a node was skipped, only a node free right now will do: waiting
                    // in this replica's queue for another could outlast the skipped one's free.
                    match self.pick(model, &skip) {
                        Ok(Pick::Node { target, model }) => Lease::new(target, model, self.clone()),
                        Ok(Pick::Full) | Err(GatewayError::NoHealthyNode(_)) => break,
                        Err(e) => return Err(e),
                    }
                };
                let Some(max) = lease.node().max_concurrency else {
                    return Ok(lease);
                };
                if let Some(slot) = slots.try_take(&lease.node().name, max).await {
                    lease.cluster_slot = Some(slot);
                    return Ok(lease);
                }
                full.push(lease.node().id);
                skip.push(lease.node().id);
            }
            // Nothing can serve now: wait for a free, then look again. The poll covers a free
            // whose news was lost.
            let wait = tokio::time::timeout(std::time::Duration::from_millis(100), freed);
            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                metrics::counter!(m::QUEUE_TIMEOUTS).increment(1);
                return Err(GatewayError::Busy {
                    model: model.to_string(),
                    retry_after: std::time::Duration::from_secs(1),
                });
            }
        }
    }

    /// `acquire` within this replica: its table, then its selector's queue.
    async fn acquire_here(
        self: &Arc<Self>,
        model: &Arc<str>,
        exclude: &[usize],
    ) -> Result<Lease, GatewayError> {
        let queue_timeout =
            std::time::Duration::from_millis(self.queue_timeout_ms.load(Ordering::Relaxed));
        if let Pick::Node { target, model } = self.pick(model, exclude)? {
            return Ok(Lease::new(target, model, self.clone()));
        }
        let assignment = self
            .selector
            .send(Enqueue {
                model: model.clone(),
                exclude: exclude.to_vec(),
            })
            .await
            .map_err(|e| GatewayError::Internal(format!("selector unavailable: {e}")))??;
        match assignment {
            Assignment::Ready(lease) => Ok(lease),
            Assignment::Queued(rx) => match timeout(queue_timeout, rx).await {
                Ok(Ok(lease)) => Ok(lease),
                Ok(Err(_)) => Err(GatewayError::Internal(
                    "selector dropped a waiting request".into(),
                )),
                Err(_) => {
                    metrics::counter!(m::QUEUE_TIMEOUTS).increment(1);
                    Err(GatewayError::Busy {
                        model: model.to_string(),
                        retry_after: std::time::Duration::from_secs(1),
                    })
                }
            },
        }
    }

    /// Called by a dropped lease after it freed its slot.
    fn slot_freed(&self) {
        // SeqCst pairs with the selector's increment-then-recheck in `Enqueue`: either it sees
        // this slot free, or this load sees its waiter.
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.selector.do_send(crate::actors::messages::SlotFreed);
        }
    }
}
