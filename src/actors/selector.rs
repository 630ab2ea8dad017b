//! `Selector`: owns the routing table (model → nodes that serve it), each node's in-flight
//! count and the wait queue, and assigns every request a node.
//!
//! Selection, on top of any strategy:
//! 1. only nodes that serve the model, are routable (up or suspect) and were not already tried
//!    by this request;
//! 2. the best non-empty tier, in order: up before suspect, active before standby, model loaded
//!    before not (when `prefer_loaded`);
//! 3. within that tier only nodes below `max_concurrency`; if none has a free slot, the next
//!    tier that has one is used (so standby nodes take overflow only when every active node is
//!    full or unusable); if no tier has a free slot the request waits in a bounded queue.
//!
//! In-flight counts live here, not in the node actors, because assignment must see them
//! exactly: a count that trails by one message would let two requests take the last slot.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use actix::{Actor, Addr, AsyncContext, Context, Handler, MessageResult};
use tokio::sync::oneshot;

use super::{
    lease::{Lease, NodeTarget},
    messages::{Acquire, Assignment, GetPool, NodeReport, NodeState, NodeStatus, Release},
    node::NodeActor,
};
use crate::{
    config::{NodeConfig, Priority, SelectorConfig},
    error::GatewayError,
    metrics as m,
    strategy::{self, Candidate, RequestInfo, Strategy},
};

struct NodeView {
    target: Arc<NodeTarget>,
    status: Arc<NodeStatus>,
    in_flight: u32,
}

impl NodeView {
    fn has_slot(&self) -> bool {
        self.status
            .max_concurrency
            .is_none_or(|max| self.in_flight < max)
    }

    fn has_loaded(&self, model: &str) -> bool {
        self.status.loaded.iter().any(|m| &**m == model)
    }
}

struct Waiter {
    model: Arc<str>,
    exclude: Vec<usize>,
    reply: oneshot::Sender<Lease>,
}

enum Pick {
    Node(usize),
    /// Candidates exist but none has a free slot.
    Full,
}

pub struct Selector {
    config: SelectorConfig,
    nodes: Vec<NodeView>,
    /// Model name → ids of nodes that list it, rebuilt when an inventory changes.
    routes: HashMap<Arc<str>, Vec<usize>>,
    strategy: Box<dyn Strategy>,
    waiters: VecDeque<Waiter>,
    /// Reused per selection so the hot path does not allocate.
    scratch: Vec<(u8, Candidate)>,
    best_tier: Vec<Candidate>,
    me: Option<Addr<Selector>>,
}

impl Selector {
    pub fn new(config: SelectorConfig, nodes: Vec<(NodeConfig, Addr<NodeActor>)>) -> Self {
        let nodes = nodes
            .into_iter()
            .enumerate()
            .map(|(id, (config, actor))| {
                let name: Arc<str> = config.name.as_str().into();
                let url: Arc<str> = config.url.trim_end_matches('/').into();
                NodeView {
                    target: Arc::new(NodeTarget {
                        id,
                        name: name.clone(),
                        kind: config.kind,
                        base_url: url.clone(),
                        actor,
                    }),
                    status: Arc::new(NodeStatus::initial(&config)),
                    in_flight: 0,
                }
            })
            .collect();
        Self {
            strategy: strategy::build(config.strategy),
            config,
            nodes,
            routes: HashMap::new(),
            waiters: VecDeque::new(),
            scratch: Vec::new(),
            best_tier: Vec::new(),
            me: None,
        }
    }

    /// Resolves a client's model name to the name nodes list: exact first, then Ollama's
    /// implicit `:latest` tag (`llama3` means `llama3:latest`).
    fn resolve(&self, model: &str) -> Option<Arc<str>> {
        if let Some((name, _)) = self.routes.get_key_value(model) {
            return Some(name.clone());
        }
        if model.contains(':') {
            return None;
        }
        let tagged = format!("{model}:latest");
        self.routes
            .get_key_value(tagged.as_str())
            .map(|(name, _)| name.clone())
    }

    fn pick(&mut self, model: &str, exclude: &[usize]) -> Result<Pick, GatewayError> {
        let resolved = self
            .resolve(model)
            .ok_or_else(|| GatewayError::ModelNotFound(model.to_owned()))?;
        let ids = self
            .routes
            .get(&resolved)
            .map(Vec::as_slice)
            .unwrap_or_default();
        self.scratch.clear();
        for &id in ids {
            let view = &self.nodes[id];
            if !view.status.health.routable() || exclude.contains(&id) || !view.has_slot() {
                continue;
            }
            self.scratch.push((
                tier(view, &resolved, self.config.prefer_loaded),
                candidate(view),
            ));
        }
        if self.scratch.is_empty() {
            let any_routable = ids
                .iter()
                .any(|&id| self.nodes[id].status.health.routable() && !exclude.contains(&id));
            return if any_routable {
                Ok(Pick::Full)
            } else {
                Err(GatewayError::NoHealthyNode(model.to_owned()))
            };
        }
        let best = self.scratch.iter().map(|(t, _)| *t).min().unwrap_or(0);
        self.best_tier.clear();
        self.best_tier.extend(
            self.scratch
                .iter()
                .filter(|(t, _)| *t == best)
                .map(|(_, c)| *c),
        );
        let i = self
            .strategy
            .select(&self.best_tier, &RequestInfo { model: &resolved })
            .ok_or_else(|| GatewayError::Internal("strategy chose no candidate".to_owned()))?;
        Ok(Pick::Node(self.best_tier[i].id))
    }

    fn lease(&mut self, id: usize) -> Result<Lease, GatewayError> {
        let me = self
            .me
            .clone()
            .ok_or_else(|| GatewayError::Internal("selector not started".to_owned()))?;
        let view = &mut self.nodes[id];
        view.in_flight += 1;
        metrics::gauge!(m::NODE_IN_FLIGHT, "node" => view.target.name.to_string())
            .set(f64::from(view.in_flight));
        Ok(Lease::new(view.target.clone(), me))
    }

    /// Hands freed slots to waiting requests, oldest first; a waiter whose model has no free
    /// slot does not block waiters for other models.
    fn serve_waiters(&mut self) {
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters[i].reply.is_closed() {
                self.waiters.remove(i);
                continue;
            }
            let (model, exclude) = (
                self.waiters[i].model.clone(),
                self.waiters[i].exclude.clone(),
            );
            match self.pick(&model, &exclude) {
                Ok(Pick::Node(id)) => {
                    let Ok(lease) = self.lease(id) else { return };
                    if let Some(waiter) = self.waiters.remove(i) {
                        // A waiter that timed out meanwhile drops the lease, which releases it.
                        let _ = waiter.reply.send(lease);
                    }
                }
                _ => i += 1,
            }
        }
    }

    fn rebuild_routes(&mut self) {
        self.routes.clear();
        for view in &self.nodes {
            for model in &view.status.models {
                self.routes
                    .entry(model.clone())
                    .or_default()
                    .push(view.target.id);
            }
        }
    }
}

/// Lower is better: health, then priority, then whether the model is loaded.
fn tier(view: &NodeView, model: &str, prefer_loaded: bool) -> u8 {
    let suspect = u8::from(view.status.health != super::health::Health::Up);
    let standby = u8::from(view.status.priority == Priority::Standby);
    let cold = u8::from(prefer_loaded && !view.has_loaded(model));
    suspect << 2 | standby << 1 | cold
}

fn candidate(view: &NodeView) -> Candidate {
    Candidate {
        id: view.target.id,
        in_flight: view.in_flight,
        weight: view.status.weight,
        latency: view.status.ttfb_ewma_ms.or(view.status.probe_latency_ms),
    }
}

impl Actor for Selector {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.me = Some(ctx.address());
        // Every request sends here: a small mailbox (actix's default is 16) would make handlers
        // wait on each other under load. `do_send` (leases, reports) ignores the bound anyway.
        ctx.set_mailbox_capacity(1 << 16);
    }
}

impl Handler<Acquire> for Selector {
    type Result = Result<Assignment, GatewayError>;

    fn handle(&mut self, msg: Acquire, _: &mut Self::Context) -> Self::Result {
        match self.pick(&msg.model, &msg.exclude)? {
            Pick::Node(id) => self.lease(id).map(Assignment::Ready),
            Pick::Full => {
                if self.waiters.len() >= self.config.max_queue {
                    return Err(GatewayError::Busy {
                        model: msg.model.to_string(),
                        retry_after: std::time::Duration::from_secs(1),
                    });
                }
                let (reply, rx) = oneshot::channel();
                self.waiters.push_back(Waiter {
                    model: msg.model,
                    exclude: msg.exclude,
                    reply,
                });
                metrics::counter!(m::QUEUE_WAITS).increment(1);
                Ok(Assignment::Queued(rx))
            }
        }
    }
}

impl Handler<Release> for Selector {
    type Result = ();

    fn handle(&mut self, msg: Release, _: &mut Self::Context) {
        if let Some(view) = self.nodes.get_mut(msg.node) {
            view.in_flight = view.in_flight.saturating_sub(1);
            metrics::gauge!(m::NODE_IN_FLIGHT, "node" => view.target.name.to_string())
                .set(f64::from(view.in_flight));
        }
        if !self.waiters.is_empty() {
            self.serve_waiters();
        }
    }
}

impl Handler<NodeReport> for Selector {
    type Result = ();

    fn handle(&mut self, msg: NodeReport, _: &mut Self::Context) {
        let Some(view) = self.nodes.get_mut(msg.node) else {
            return;
        };
        let models_changed = view.status.models != msg.status.models;
        view.status = msg.status;
        if models_changed {
            self.rebuild_routes();
        }
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
                .map(|v| NodeState {
                    status: v.status.clone(),
                    in_flight: v.in_flight,
                    target: v.target.clone(),
                })
                .collect(),
        )
    }
}
