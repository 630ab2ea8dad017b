//! `Selector`: the only writer of routing state. It keeps every node's last reported status,
//! publishes a fresh `RoutingTable` to the `Router` on each change, and owns the bounded queue
//! of requests waiting for a free slot. Request handlers pick nodes on the published table
//! themselves (see `routing`); they message the selector only to wait.

use std::{collections::VecDeque, sync::atomic::Ordering, sync::Arc, time::Duration};

use actix::{Actor, AsyncContext, Context, Handler, MessageResult, ResponseFuture};
use tokio::sync::oneshot;

use super::{
    messages::{
        ApplyProbing, ApplySelectorConfig, Assignment, Enqueue, GetPool, NodeReport, NodeState,
        PeerHealth, PeerProbe, ProbeDuty, ProbeNode, ProbeNow, RemoveNode, SetDrained, SlotFreed,
        StopNode, UpsertNode,
    },
    node::NodeActor,
    NodeSpawner,
};
use crate::{
    config::SelectorConfig,
    error::GatewayError,
    metrics as m,
    routing::{Lease, NodeEntry, Pick, Router, RoutingTable},
};

struct Waiter {
    model: Arc<str>,
    exclude: Vec<usize>,
    reply: oneshot::Sender<Lease>,
}

pub struct Selector {
    config: SelectorConfig,
    nodes: Vec<NodeEntry>,
    router: Arc<Router>,
    waiters: VecDeque<Waiter>,
    spawner: NodeSpawner,
    /// Routing ids are never reused, so a lease on a removed node frees only its own slot.
    next_id: usize,
}

impl Selector {
    pub fn new(
        config: SelectorConfig,
        nodes: Vec<NodeEntry>,
        router: Arc<Router>,
        spawner: NodeSpawner,
    ) -> Self {
        let next_id = nodes.iter().map(|n| n.target.id + 1).max().unwrap_or(0);
        let selector = Self {
            config,
            nodes,
            router,
            waiters: VecDeque::new(),
            spawner,
            next_id,
        };
        selector.publish();
        selector
    }

    fn publish(&self) {
        let loaded_busy = if self.config.prefer_loaded {
            self.config.loaded_busy
        } else {
            0
        };
        self.router
            .publish(RoutingTable::new(self.nodes.clone(), loaded_busy));
    }

    fn dequeue(&mut self, i: usize) -> Option<Waiter> {
        let waiter = self.waiters.remove(i)?;
        self.router.waiting().fetch_sub(1, Ordering::SeqCst);
        Some(waiter)
    }

    /// Hands freed slots to waiting requests, oldest first; a waiter whose model has no free
    /// slot does not block waiters for other models.
    fn serve_waiters(&mut self) {
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters[i].reply.is_closed() {
                self.dequeue(i);
                continue;
            }
            let waiter = &self.waiters[i];
            match self.router.pick(&waiter.model, &waiter.exclude) {
                Ok(Pick::Node { target, model }) => {
                    let lease = Lease::new(target, model, self.router.clone());
                    if let Some(waiter) = self.dequeue(i) {
                        // A waiter that timed out meanwhile drops the lease, freeing the slot.
                        let _ = waiter.reply.send(lease);
                    }
                }
                _ => i += 1,
            }
        }
    }

    fn drop_abandoned(&mut self) {
        let before = self.waiters.len();
        self.waiters.retain(|w| !w.reply.is_closed());
        let gone = before - self.waiters.len();
        if gone > 0 {
            self.router.waiting().fetch_sub(gone, Ordering::SeqCst);
        }
    }

    fn export_in_flight(&self) {
        for node in &self.nodes {
            metrics::gauge!(m::NODE_IN_FLIGHT, "node" => node.target.name.to_string())
                .set(f64::from(node.target.in_flight()));
        }
    }
}

impl Actor for Selector {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Waiting requests and node reports arrive from every worker; actix's default
        // mailbox of 16 would make senders wait on each other.
        ctx.set_mailbox_capacity(1 << 16);
        // In-flight counts change per request on the workers; exporting them on a timer keeps
        // the metrics recorder off the hot path.
        self.export_in_flight();
        ctx.run_interval(Duration::from_millis(500), |act, _| act.export_in_flight());
    }
}

impl Handler<Enqueue> for Selector {
    type Result = Result<Assignment, GatewayError>;

    fn handle(&mut self, msg: Enqueue, _: &mut Self::Context) -> Self::Result {
        // Waiters that gave up must not hold places in the bounded queue.
        self.drop_abandoned();
        // Count the waiter before looking again: a lease freed from now on sees it and wakes
        // us; one freed before is visible to this pick.
        self.router.waiting().fetch_add(1, Ordering::SeqCst);
        let pick = self.router.pick(&msg.model, &msg.exclude);
        let waiter_count = self.waiters.len();
        let give_up = |router: &Router| {
            router.waiting().fetch_sub(1, Ordering::SeqCst);
        };
        match pick {
            Ok(Pick::Node { target, model }) => {
                give_up(&self.router);
                Ok(Assignment::Ready(Lease::new(
                    target,
                    model,
                    self.router.clone(),
                )))
            }
            Ok(Pick::Full) if waiter_count < self.config.max_queue => {
                let (reply, rx) = oneshot::channel();
                self.waiters.push_back(Waiter {
                    model: msg.model,
                    exclude: msg.exclude,
                    reply,
                });
                metrics::counter!(m::QUEUE_WAITS).increment(1);
                Ok(Assignment::Queued(rx))
            }
            Ok(Pick::Full) => {
                give_up(&self.router);
                Err(GatewayError::Busy {
                    model: msg.model.to_string(),
                    retry_after: Duration::from_secs(1),
                })
            }
            Err(e) => {
                give_up(&self.router);
                Err(e)
            }
        }
    }
}

impl Handler<SlotFreed> for Selector {
    type Result = ();

    fn handle(&mut self, _: SlotFreed, _: &mut Self::Context) {
        if !self.waiters.is_empty() {
            self.serve_waiters();
        }
    }
}

impl Handler<NodeReport> for Selector {
    type Result = ();

    fn handle(&mut self, msg: NodeReport, _: &mut Self::Context) {
        let Some(node) = self.nodes.iter_mut().find(|n| n.target.id == msg.node) else {
            return;
        };
        node.status = msg.status;
        self.publish();
        if !self.waiters.is_empty() {
            self.serve_waiters();
        }
    }
}

impl Handler<GetPool> for Selector {
    type Result = MessageResult<GetPool>;

    fn handle(&mut self, _: GetPool, _: &mut Self::Context) -> Self::Result {
        MessageResult(
            self.nodes
                .iter()
                .map(|n| NodeState {
                    status: n.status.clone(),
                    in_flight: n.target.in_flight(),
                    fleet_in_flight: n.target.fleet_in_flight(),
                    drained: n.drained,
                    target: n.target.clone(),
                })
                .collect(),
        )
    }
}

impl Handler<ProbeNode> for Selector {
    type Result = ResponseFuture<Result<NodeState, GatewayError>>;

    /// Answers with the status the probe returned rather than waiting for the node's report
    /// of it (sent before the reply, so queued ahead of any later message to us): the
    /// selector goes on with other messages meanwhile.
    fn handle(&mut self, msg: ProbeNode, _: &mut Self::Context) -> Self::Result {
        let Some(node) = self.nodes.iter().find(|n| *n.target.name == *msg.0) else {
            return Box::pin(std::future::ready(Err(GatewayError::UnknownNode(msg.0))));
        };
        let target = node.target.clone();
        let drained = node.drained;
        let probe = target.actor.send(ProbeNow);
        Box::pin(async move {
            let status = probe
                .await
                .map_err(|_| GatewayError::UnknownNode(msg.0))??;
            Ok(NodeState {
                status,
                in_flight: target.in_flight(),
                fleet_in_flight: target.fleet_in_flight(),
                drained,
                target,
            })
        })
    }
}

impl Handler<UpsertNode> for Selector {
    type Result = ();

    fn handle(&mut self, msg: UpsertNode, _: &mut Self::Context) {
        let entry = self.spawner.spawn(self.next_id, &msg.0);
        self.next_id += 1;
        match self
            .nodes
            .iter_mut()
            .find(|n| *n.target.name == *msg.0.name)
        {
            Some(old) => {
                old.target.actor.do_send(StopNode);
                let drained = old.drained;
                *old = NodeEntry { drained, ..entry };
            }
            None => self.nodes.push(entry),
        }
        self.publish();
    }
}

impl Handler<RemoveNode> for Selector {
    type Result = Result<(), GatewayError>;

    fn handle(&mut self, msg: RemoveNode, _: &mut Self::Context) -> Self::Result {
        let i = self
            .nodes
            .iter()
            .position(|n| *n.target.name == *msg.0)
            .ok_or_else(|| GatewayError::UnknownNode(msg.0.clone()))?;
        let removed = self.nodes.remove(i);
        removed.target.actor.do_send(StopNode);
        self.publish();
        Ok(())
    }
}

impl Handler<SetDrained> for Selector {
    type Result = Result<(), GatewayError>;

    fn handle(&mut self, msg: SetDrained, _: &mut Self::Context) -> Self::Result {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| *n.target.name == *msg.name)
            .ok_or_else(|| GatewayError::UnknownNode(msg.name.clone()))?;
        node.drained = msg.drained;
        self.publish();
        if !msg.drained && !self.waiters.is_empty() {
            self.serve_waiters();
        }
        Ok(())
    }
}

impl Selector {
    /// Passes a message about node `name` on to its actor; a node not (or no longer) in the
    /// pool has nobody to tell.
    fn forward<M>(&self, name: &str, msg: M)
    where
        M: actix::Message<Result = ()> + Send + 'static,
        NodeActor: Handler<M>,
    {
        if let Some(node) = self.nodes.iter().find(|n| &*n.target.name == name) {
            node.target.actor.do_send(msg);
        }
    }
}

impl Handler<PeerHealth> for Selector {
    type Result = ();

    fn handle(&mut self, msg: PeerHealth, _: &mut Self::Context) {
        self.forward(&msg.node.clone(), msg);
    }
}

impl Handler<ProbeDuty> for Selector {
    type Result = ();

    fn handle(&mut self, msg: ProbeDuty, _: &mut Self::Context) {
        self.forward(&msg.node.clone(), msg);
    }
}

impl Handler<PeerProbe> for Selector {
    type Result = ();

    fn handle(&mut self, msg: PeerProbe, _: &mut Self::Context) {
        self.forward(&msg.node.clone(), msg);
    }
}

impl Handler<ApplyProbing> for Selector {
    type Result = ();

    fn handle(&mut self, msg: ApplyProbing, _: &mut Self::Context) {
        self.spawner.health = msg.health.clone();
        self.spawner.connect_timeout = msg.connect_timeout;
        for node in &self.nodes {
            node.target.actor.do_send(msg.clone());
        }
    }
}

impl Handler<ApplySelectorConfig> for Selector {
    type Result = ();

    fn handle(&mut self, msg: ApplySelectorConfig, _: &mut Self::Context) {
        if msg.0.strategy != self.config.strategy {
            self.router
                .set_strategy(crate::strategy::build(msg.0.strategy));
        }
        self.router.set_queue_timeout(msg.0.queue_timeout);
        self.config = msg.0;
        self.publish();
        if !self.waiters.is_empty() {
            self.serve_waiters();
        }
    }
}
