//! Every message the pool actors exchange, in one place.

use std::{sync::Arc, time::Duration};

use actix::Message;
use serde::Serialize;
use tokio::sync::oneshot;

use super::health::Health;
use crate::{
    config::{NodeConfig, NodeKind, Priority, SelectorConfig},
    error::GatewayError,
    routing::{Lease, NodeTarget},
};

/// What a node actor knows about its node; sent to the selector whenever it changes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeStatus {
    #[schema(value_type = String)]
    pub name: Arc<str>,
    pub kind: NodeKind,
    #[schema(value_type = String)]
    pub url: Arc<str>,
    pub priority: Priority,
    pub weight: u32,
    pub max_concurrency: Option<u32>,
    pub health: Health,
    pub version: Option<String>,
    /// Whether a probe ever answered: until then `models` says nothing.
    pub inventory_known: bool,
    /// Model names the node serves (Ollama `/api/tags`).
    #[schema(value_type = Vec<String>)]
    pub models: Vec<Arc<str>>,
    /// Model names loaded in memory (Ollama `/api/ps`).
    #[schema(value_type = Vec<String>)]
    pub loaded: Vec<Arc<str>>,
    /// Raw `/api/tags` entries, kept so the merged `/api/tags` answers with the nodes' own data.
    #[serde(skip)]
    pub tag_entries: Arc<[serde_json::Value]>,
    /// Raw `/api/ps` entries, for the merged `/api/ps`.
    #[serde(skip)]
    pub ps_entries: Arc<[serde_json::Value]>,
    /// Moving average of whole-request latency, in milliseconds.
    #[serde(with = "opt_millis")]
    #[schema(value_type = Option<f64>)]
    pub latency_ewma_ms: Option<Duration>,
    /// Moving average of time to first byte, in milliseconds.
    #[serde(with = "opt_millis")]
    #[schema(value_type = Option<f64>)]
    pub ttfb_ewma_ms: Option<Duration>,
    /// The last probe's latency, in milliseconds.
    #[serde(with = "opt_millis")]
    #[schema(value_type = Option<f64>)]
    pub probe_latency_ms: Option<Duration>,
    pub last_error: Option<String>,
    /// The replica whose probes this replica takes in a cluster (rendezvous hashing picks one
    /// per node); `None` when this replica probes the node itself.
    #[schema(value_type = Option<String>)]
    pub probed_by: Option<Arc<str>>,
}

impl NodeStatus {
    /// The status of a node nobody has probed yet.
    pub fn initial(config: &NodeConfig) -> Self {
        NodeStatus {
            name: config.name.as_str().into(),
            kind: config.kind,
            url: config.url.trim_end_matches('/').into(),
            priority: config.priority,
            weight: config.weight,
            max_concurrency: config.max_concurrency,
            health: Health::Unknown,
            version: None,
            inventory_known: false,
            models: Vec::new(),
            loaded: Vec::new(),
            tag_entries: Arc::from(Vec::new()),
            ps_entries: Arc::from(Vec::new()),
            latency_ewma_ms: None,
            ttfb_ewma_ms: None,
            probe_latency_ms: None,
            last_error: None,
            probed_by: None,
        }
    }
}

mod opt_millis {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3),
            None => s.serialize_none(),
        }
    }
}

/// NodeActor → Selector: the node's current status.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NodeReport {
    pub node: usize,
    pub status: Arc<NodeStatus>,
}

/// Request path → Selector: every candidate for `model` was full; wait for a slot (or take one
/// freed meanwhile), avoiding nodes in `exclude` (those already tried by this request).
#[derive(Message)]
#[rtype(result = "Result<Assignment, GatewayError>")]
pub struct Enqueue {
    pub model: Arc<str>,
    pub exclude: Vec<usize>,
}

/// A node now, or a place in the wait queue when every candidate is at capacity.
pub enum Assignment {
    Ready(Lease),
    /// Resolves when a slot frees; the caller bounds the wait with the queue timeout.
    Queued(oneshot::Receiver<Lease>),
}

/// Lease → Selector: a slot was freed while requests wait.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SlotFreed;

/// Lease → NodeActor: a request outcome that can change the node's health. Latency goes
/// through `NodeStats` instead; successes come only while the actor wants them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RequestOutcome(pub Passive);

#[derive(Debug, Clone, PartialEq)]
pub enum Passive {
    Success,
    Failure { error: String, hard: bool },
}

/// Anyone → NodeActor: probe now instead of at the next tick (after a pull, say). Replies
/// with the node's status once a probe that started after this message has ended, so the
/// answer reflects the node as it is now; fails when the node leaves the pool meanwhile.
#[derive(Message)]
#[rtype(result = "Result<Arc<NodeStatus>, GatewayError>")]
pub struct ProbeNow;

/// Admin → Selector: probe node `0` now (`ProbeNow` to its actor) and answer with its fresh
/// state.
#[derive(Message)]
#[rtype(result = "Result<NodeState, GatewayError>")]
pub struct ProbeNode(pub String);

/// Anyone → Selector: every node's status with its in-flight count.
#[derive(Message)]
#[rtype(result = "Vec<NodeState>")]
pub struct GetPool;

/// A node's live state: its status as its actor last reported it, and its load now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeState {
    #[serde(flatten)]
    pub status: Arc<NodeStatus>,
    /// Requests this replica runs on the node now.
    pub in_flight: u32,
    /// Requests the whole cluster runs on it, as this replica last heard (its own included;
    /// equal to `in_flight` without a cluster).
    pub fleet_in_flight: u32,
    pub drained: bool,
    #[serde(skip)]
    pub target: Arc<NodeTarget>,
}

/// Admin → Selector: add a node, or replace the one with the same name (its running
/// requests finish on the old actor).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpsertNode(pub NodeConfig);

/// Admin → Selector: remove a node; running requests finish.
#[derive(Message)]
#[rtype(result = "Result<(), GatewayError>")]
pub struct RemoveNode(pub String);

/// Admin → Selector: drain a node (no new requests) or put it back.
#[derive(Message)]
#[rtype(result = "Result<(), GatewayError>")]
pub struct SetDrained {
    pub name: String,
    pub drained: bool,
}

/// Selector → NodeActor: the node left the pool.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopNode;

/// Admin → Selector: new selector settings (strategy, loaded preference, queue), at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplySelectorConfig(pub SelectorConfig);

/// Admin → Selector → every NodeActor: new probing settings (health thresholds and interval,
/// probe and connect timeouts), at once; health states are kept.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct ApplyProbing {
    pub health: crate::config::HealthConfig,
    pub connect_timeout: Duration,
}

/// What node actors tell the cluster bridge, which tells the peers.
#[derive(Debug)]
pub enum NodeEvent {
    /// This replica's own view of a node's health changed (from its probes or requests,
    /// never from a peer's word).
    Health(Arc<str>, Health),
    /// This replica probed a node it owns: its peers take the result instead of probing.
    Probed(Arc<str>, SharedProbe),
}

/// Where node actors send their `NodeEvent`s; set once the cluster bridge runs.
pub type Observer =
    std::sync::Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<NodeEvent>>>;

/// One probe's result as replicas share it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SharedProbe {
    pub result: Result<crate::providers::ProbeReport, String>,
    /// How long the probe took, in microseconds.
    pub took_us: u64,
    /// Which settings of the node the probe used (`NodeActor::fingerprint`): a replica that
    /// has not yet applied a change to the node's URL, key or models probes the old node,
    /// and its results must not stand for the new one.
    #[serde(default)]
    pub config: u64,
}

/// Bridge → Selector → NodeActor: who probes node `node` now. `owner` is `None` when this
/// replica must probe it itself (it owns the node, or it is cut off from its peers).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct ProbeDuty {
    pub node: Arc<str>,
    pub owner: Option<Arc<str>>,
}

/// Bridge → Selector → NodeActor: the probe result the owner replica of `node` published.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PeerProbe {
    pub node: Arc<str>,
    pub replica: Arc<str>,
    pub probe: SharedProbe,
}

/// Bridge → Selector → NodeActor: what a peer replica sees of node `node` (by its own
/// evidence). A node a peer finds unwell is treated as suspect here too, so the fleet avoids
/// it at once rather than each replica finding out on its own.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct PeerHealth {
    pub replica: Arc<str>,
    pub node: Arc<str>,
    pub health: Health,
}
