//! The routing table the selector publishes, and the pick that runs on it.
//!
//! Selection, on top of any strategy:
//! 1. only nodes that serve the model, are routable (up or suspect) and were not already tried
//!    by this request;
//! 2. among those with a free slot, the best tier, in order: up before suspect, active before
//!    standby, model loaded before not (when `prefer_loaded`); so standby nodes take traffic
//!    only when every active node is full or unusable;
//! 3. if no candidate has a free slot, the request waits (see `Router::acquire`).

use std::{
    cell::RefCell,
    collections::HashMap,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
};

use actix::Addr;
use actix_web::http::header::{HeaderName, HeaderValue};

use super::NodeStats;
use crate::{
    actors::{health::Health, messages::NodeStatus, node::NodeActor},
    config::{NodeConfig, NodeKind, Priority},
    error::GatewayError,
    strategy::{Candidate, RequestInfo, Strategy},
};

/// What the request path needs to reach a node; one per node for its whole life, shared.
#[derive(Debug)]
pub struct NodeTarget {
    pub id: usize,
    pub name: Arc<str>,
    pub kind: NodeKind,
    /// Base URL without a trailing slash.
    pub base_url: Arc<str>,
    pub actor: Addr<NodeActor>,
    /// The `X-Drover-Node` header value, made once.
    pub header: HeaderValue,
    pub stats: Arc<NodeStats>,
    /// The node's limit, which in a cluster holds fleet-wide (see `cluster::slots`).
    pub max_concurrency: Option<u32>,
    in_flight: AtomicU32,
    /// What the other replicas of a cluster run on the node, as they last reported it.
    peer_in_flight: AtomicU32,
    /// Headers every request to the node carries (its API key, API version).
    pub headers: Arc<[(HeaderName, HeaderValue)]>,
    /// The node (`openai`) serves the Responses API itself: Responses clients pass through.
    pub serves_responses: bool,
    /// The settings the target and its actor were made from.
    settings: Settings,
}

/// A node's settings kept for `NodeTarget::runs`; its `Debug` stays silent, since the
/// settings hold the node's key.
#[derive(PartialEq)]
struct Settings(NodeConfig);

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Settings(..)")
    }
}

impl NodeTarget {
    /// Everything is taken from `settings`, which the target keeps: whether a changed node
    /// needs a new target is then one comparison of whole settings (`runs`), so a field added
    /// to `NodeConfig` cannot be forgotten by that check.
    pub fn new(
        id: usize,
        settings: NodeConfig,
        actor: Addr<NodeActor>,
        stats: Arc<NodeStats>,
    ) -> Self {
        let name: Arc<str> = settings.name.as_str().into();
        Self {
            id,
            header: HeaderValue::from_str(&name).unwrap_or(HeaderValue::from_static("-")),
            name,
            kind: settings.kind,
            base_url: settings.url.trim_end_matches('/').into(),
            actor,
            stats,
            max_concurrency: settings.max_concurrency,
            in_flight: AtomicU32::new(0),
            peer_in_flight: AtomicU32::new(0),
            headers: crate::providers::node_headers(&settings).into(),
            serves_responses: settings.responses,
            settings: Settings(settings),
        }
    }

    /// Whether this target (and its actor) was made from exactly these settings; any
    /// difference (a rotated key, listed models, probing, the URL, a limit) needs a new one.
    pub fn runs(&self, settings: &NodeConfig) -> bool {
        self.settings.0 == *settings
    }

    /// Requests this replica runs on the node right now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Requests the whole fleet runs on the node, as far as this replica knows: its own now,
    /// its peers' as of their last report. Load-aware strategies balance on this.
    pub fn fleet_in_flight(&self) -> u32 {
        self.in_flight()
            .saturating_add(self.peer_in_flight.load(Ordering::Relaxed))
    }

    pub fn set_peer_in_flight(&self, n: u32) {
        self.peer_in_flight.store(n, Ordering::Relaxed);
    }

    /// Takes a slot unless the node is at `max`; never overshoots, whatever the concurrency.
    fn try_take_slot(&self, max: Option<u32>) -> bool {
        self.in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                max.is_none_or(|max| n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub(super) fn free_slot(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }
}

/// A node as the table knows it: who it is and its last reported status.
#[derive(Debug, Clone)]
pub struct NodeEntry {
    pub target: Arc<NodeTarget>,
    pub status: Arc<NodeStatus>,
    /// Set by an operator: takes no new requests; those running finish.
    pub drained: bool,
}

impl NodeEntry {
    fn has_slot(&self) -> bool {
        let max = self.status.max_concurrency;
        max.is_none_or(|max| self.target.in_flight() < max)
    }

    /// Lower is better: health, then priority, then whether the model is loaded. A node with
    /// the model loaded is preferred only while it runs fewer than `loaded_busy` requests, so
    /// a loaded node cannot draw all traffic while cold nodes idle (and never warm up).
    fn tier(&self, model: &str, loaded_busy: u32) -> u8 {
        let suspect = u8::from(self.status.health != Health::Up);
        let standby = u8::from(self.status.priority == Priority::Standby);
        let warm = self.target.fleet_in_flight() < loaded_busy
            && self.status.loaded.iter().any(|m| &**m == model);
        (suspect << 2) | (standby << 1) | u8::from(!warm)
    }

    fn candidate(&self) -> Candidate {
        Candidate {
            id: self.target.id,
            in_flight: self.target.fleet_in_flight(),
            weight: self.status.weight,
            latency: self
                .target
                .stats
                .ttfb
                .get()
                .or(self.status.probe_latency_ms),
        }
    }
}

/// The outcome of a pick.
pub enum Pick {
    /// A slot on this node is taken; wrap it in a lease. `model` is the name the nodes list
    /// (`llama3` resolved to `llama3:latest`).
    Node {
        target: Arc<NodeTarget>,
        model: Arc<str>,
    },
    /// Candidates exist but none has a free slot.
    Full,
}

/// An immutable view of the pool; a new one is published on every change.
#[derive(Debug, Default)]
pub struct RoutingTable {
    pub nodes: Vec<NodeEntry>,
    /// Model name → indexes into `nodes` of the nodes that list it.
    routes: HashMap<Arc<str>, Vec<usize>>,
    /// In-flight count below which a node with the model loaded is preferred (0: never).
    loaded_busy: u32,
}

/// Tries before a pick gives up on slots that other threads keep taking first.
const SLOT_RACES: usize = 4;

/// Scratch space for a pick: open candidates with their tier, then the best tier's.
type Scratch = (Vec<(u8, Candidate)>, Vec<Candidate>);

thread_local! {
    /// Reused so a pick does not allocate.
    static SCRATCH: RefCell<Scratch> = const { RefCell::new((Vec::new(), Vec::new())) };
}

impl RoutingTable {
    pub fn new(nodes: Vec<NodeEntry>, loaded_busy: u32) -> Self {
        let mut routes: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
        for (index, node) in nodes.iter().enumerate() {
            for model in &node.status.models {
                routes.entry(model.clone()).or_default().push(index);
            }
        }
        Self {
            nodes,
            routes,
            loaded_busy,
        }
    }

    /// The kind of the routable nodes that serve `model`, when they are all of one kind.
    pub fn only_kind(&self, model: &str) -> Option<NodeKind> {
        let (_, ids) = self.resolve(model)?;
        let mut kinds = ids
            .iter()
            .filter_map(|&i| self.nodes.get(i))
            .filter(|n| n.status.health.routable() && !n.drained)
            .map(|n| n.target.kind);
        let first = kinds.next()?;
        kinds.all(|k| k == first).then_some(first)
    }

    /// Resolves a client's model name to the name nodes list: exact first, then Ollama's
    /// implicit `:latest` tag (`llama3` means `llama3:latest`).
    fn resolve(&self, model: &str) -> Option<(&Arc<str>, &[usize])> {
        if let Some((name, ids)) = self.routes.get_key_value(model) {
            return Some((name, ids));
        }
        if model.contains(':') {
            return None;
        }
        let tagged = format!("{model}:latest");
        self.routes
            .get_key_value(tagged.as_str())
            .map(|(name, ids)| (name, ids.as_slice()))
    }

    pub fn pick(
        &self,
        strategy: &dyn Strategy,
        model: &str,
        exclude: &[usize],
    ) -> Result<Pick, GatewayError> {
        let Some((resolved, ids)) = self.resolve(model) else {
            // A node not probed yet may well serve the model: say "not yet". One found down
            // has had its say: waiting on it would make every unknown model a 503 for as
            // long as it stays down, where the client should learn it is not served (404).
            let pending = self
                .nodes
                .iter()
                .filter(|n| !n.status.inventory_known && n.status.health == Health::Unknown)
                .count();
            return Err(if pending > 0 {
                GatewayError::InventoryPending {
                    model: model.to_owned(),
                    pending,
                }
            } else {
                GatewayError::ModelNotFound(model.to_owned())
            });
        };
        let usable = |&&i: &&usize| {
            let node = &self.nodes[i];
            node.status.health.routable() && !node.drained && !exclude.contains(&node.target.id)
        };
        if !ids.iter().any(|i| usable(&i)) {
            return Err(GatewayError::NoHealthyNode(model.to_owned()));
        }
        SCRATCH.with_borrow_mut(|(open, best_tier)| {
            for _ in 0..SLOT_RACES {
                // One pass, one snapshot: counts read twice could change in between (other
                // threads take slots), leaving a tier with no candidate left in it.
                open.clear();
                open.extend(
                    ids.iter()
                        .filter(usable)
                        .map(|&i| &self.nodes[i])
                        .filter(|n| n.has_slot())
                        .map(|n| (n.tier(resolved, self.loaded_busy), n.candidate())),
                );
                let Some(best) = open.iter().map(|(tier, _)| *tier).min() else {
                    return Ok(Pick::Full);
                };
                best_tier.clear();
                best_tier.extend(open.iter().filter(|(t, _)| *t == best).map(|(_, c)| *c));
                let Some(chosen) = strategy
                    .select(best_tier, &RequestInfo { model: resolved })
                    .and_then(|i| best_tier.get(i))
                else {
                    return Ok(Pick::Full);
                };
                let node = self
                    .nodes
                    .iter()
                    .find(|n| n.target.id == chosen.id)
                    .ok_or_else(|| {
                        GatewayError::Internal("strategy chose an unknown node".into())
                    })?;
                if node.target.try_take_slot(node.status.max_concurrency) {
                    return Ok(Pick::Node {
                        target: node.target.clone(),
                        model: resolved.clone(),
                    });
                }
            }
            Ok(Pick::Full)
        })
    }
}

#[cfg(test)]
mod tests {
    use actix::AsyncContext;

    use super::*;
    use crate::{
        config::{NodeConfig, StrategyName},
        strategy,
    };

    fn node(
        id: usize,
        health: Health,
        priority: Priority,
        models: &[&str],
        loaded: &[&str],
    ) -> NodeEntry {
        let config = NodeConfig {
            name: format!("n{id}"),
            kind: NodeKind::Ollama,
            url: format!("http://n{id}"),
            priority,
            weight: 1,
            max_concurrency: Some(2),
            api_key: None,
            models: Vec::new(),
            probe: true,
            responses: false,
        };
        let mut status = NodeStatus::initial(&config);
        status.health = health;
        status.inventory_known = true;
        status.models = models.iter().map(|m| Arc::from(*m)).collect();
        status.loaded = loaded.iter().map(|m| Arc::from(*m)).collect();
        // An address without a running actor: picks never message it.
        let actor = actix::Context::<NodeActor>::new().address();
        NodeEntry {
            target: Arc::new(NodeTarget::new(id, config, actor, Arc::default())),
            status: Arc::new(status),
            drained: false,
        }
    }

    fn picked(table: &RoutingTable, model: &str, exclude: &[usize]) -> Option<usize> {
        let rr = strategy::build(StrategyName::RoundRobin);
        match table.pick(&*rr, model, exclude) {
            Ok(Pick::Node { target: t, .. }) => {
                t.free_slot();
                Some(t.id)
            }
            Ok(Pick::Full) => None,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn tiers_prefer_up_then_active_then_loaded() {
        let m = "m:latest";
        let table = RoutingTable::new(
            vec![
                node(0, Health::Suspect, Priority::Active, &[m], &[m]),
                node(1, Health::Up, Priority::Standby, &[m], &[m]),
                node(2, Health::Up, Priority::Active, &[m], &[]),
                node(3, Health::Up, Priority::Active, &[m], &[m]),
            ],
            4,
        );
        assert_eq!(picked(&table, m, &[]), Some(3));
        assert_eq!(picked(&table, m, &[3]), Some(2));
        assert_eq!(picked(&table, m, &[3, 2]), Some(1));
        assert_eq!(picked(&table, m, &[3, 2, 1]), Some(0));
        assert!(matches!(
            table.pick(&*strategy::build(StrategyName::Random), m, &[0, 1, 2, 3]),
            Err(GatewayError::NoHealthyNode(_))
        ));
    }

    #[test]
    fn models_resolve_with_the_implicit_latest_tag_and_unknown_ones_are_404() {
        let table = RoutingTable::new(
            vec![node(
                0,
                Health::Up,
                Priority::Active,
                &["llama3:latest", "gpt-x"],
                &[],
            )],
            4,
        );
        assert_eq!(picked(&table, "llama3", &[]), Some(0));
        assert_eq!(picked(&table, "gpt-x", &[]), Some(0));
        let rr = strategy::build(StrategyName::RoundRobin);
        assert!(matches!(
            table.pick(&*rr, "llama3:8b", &[]),
            Err(GatewayError::ModelNotFound(_))
        ));
        // Down nodes keep their inventory: the model is known, just not servable.
        let down = RoutingTable::new(
            vec![node(0, Health::Down, Priority::Active, &["m:latest"], &[])],
            4,
        );
        assert!(matches!(
            down.pick(&*rr, "m", &[]),
            Err(GatewayError::NoHealthyNode(_))
        ));
    }

    #[test]
    fn drained_nodes_take_no_new_requests() {
        let m = "m:latest";
        let mut drained = node(0, Health::Up, Priority::Active, &[m], &[]);
        drained.drained = true;
        let table = RoutingTable::new(
            vec![drained, node(1, Health::Up, Priority::Standby, &[m], &[])],
            4,
        );
        assert_eq!(picked(&table, m, &[]), Some(1));
    }

    #[test]
    fn an_unknown_model_is_pending_while_a_node_has_never_answered() {
        let mut silent = node(1, Health::Unknown, Priority::Active, &[], &[]);
        Arc::make_mut(&mut silent.status).inventory_known = false;
        let table = RoutingTable::new(
            vec![
                node(0, Health::Up, Priority::Active, &["a:latest"], &[]),
                silent,
            ],
            4,
        );
        let rr = strategy::build(StrategyName::RoundRobin);
        assert!(matches!(
            table.pick(&*rr, "b", &[]),
            Err(GatewayError::InventoryPending { pending: 1, .. })
        ));
        assert_eq!(picked(&table, "a", &[]), Some(0));
    }

    #[test]
    fn a_node_down_from_the_start_does_not_keep_an_unknown_model_pending() {
        let mut dead = node(1, Health::Down, Priority::Active, &[], &[]);
        Arc::make_mut(&mut dead.status).inventory_known = false;
        let table = RoutingTable::new(
            vec![
                node(0, Health::Up, Priority::Active, &["a:latest"], &[]),
                dead,
            ],
            4,
        );
        let rr = strategy::build(StrategyName::RoundRobin);
        assert!(matches!(
            table.pick(&*rr, "b", &[]),
            Err(GatewayError::ModelNotFound(_))
        ));
    }

    #[test]
    fn a_busy_loaded_node_stops_drawing_all_traffic() {
        let m = "m:latest";
        let table = RoutingTable::new(
            vec![
                node(0, Health::Up, Priority::Active, &[m], &[m]),
                node(1, Health::Up, Priority::Active, &[m], &[]),
            ],
            1,
        );
        let s = strategy::build(StrategyName::LeastInflight);
        let Ok(Pick::Node { target: first, .. }) = table.pick(&*s, m, &[]) else {
            panic!()
        };
        assert_eq!(first.id, 0, "the loaded node first");
        let Ok(Pick::Node { target: second, .. }) = table.pick(&*s, m, &[]) else {
            panic!()
        };
        assert_eq!(
            second.id, 1,
            "a loaded node at loaded_busy no longer outranks a cold one"
        );
    }

    #[test]
    fn slots_never_exceed_max_concurrency_under_contention() {
        let table = Arc::new(RoutingTable::new(
            vec![node(0, Health::Up, Priority::Active, &["m"], &[])],
            4,
        ));
        let taken: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let table = table.clone();
                    scope.spawn(move || {
                        let s = strategy::build(StrategyName::LeastInflight);
                        matches!(table.pick(&*s, "m", &[]), Ok(Pick::Node { .. }))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(taken.iter().filter(|t| **t).count(), 2);
        assert_eq!(table.nodes[0].target.in_flight(), 2);
        table.nodes[0].target.free_slot();
        assert!(matches!(
            table.pick(&*strategy::build(StrategyName::Random), "m", &[]),
            Ok(Pick::Node { .. })
        ));
    }
}
