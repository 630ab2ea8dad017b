//! `ClusterBridge`: this replica's link to the cluster. It owns the NATS client, announces
//! the replica every `heartbeat` on `drover.<cluster>.replicas`, keeps the membership from its
//! peers' announcements, and exposes what the rest of the replica reads (`Cluster`).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use actix::{Actor, ActorFutureExt, AsyncContext, Context, StreamHandler, WrapFuture};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{
    connect::connect,
    membership::{Heartbeat, Membership},
    subject,
};
use crate::{
    actors::{
        health::Health,
        messages::{NodeEvent, PeerHealth, PeerProbe, ProbeDuty, SharedProbe},
    },
    auth::KeyRing,
    config::ClusterConfig,
    headline::{Rates, Snapshot, HEADLINE},
    metrics as m,
    routing::Router,
};

/// What the rest of the replica sees of the cluster; shared, lock held only for a few
/// operations, never across an await.
pub struct Cluster {
    pub name: String,
    pub replica: String,
    connected: Arc<AtomicBool>,
    /// How many times the client has (re)connected.
    connections: Arc<tokio::sync::watch::Sender<u64>>,
    members: Mutex<Membership>,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    /// The last config revision this replica applied (set by `ConfigSync`).
    pub applied: AtomicU64,
    pub client: async_nats::Client,
    bridge: Mutex<Option<actix::Addr<ClusterBridge>>>,
}

/// `/readyz` details and `GET /admin/api/cluster` (local view).
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub name: String,
    pub replica: String,
    pub connected: bool,
    pub replicas: Vec<Heartbeat>,
    pub messages_in: u64,
    pub messages_out: u64,
    /// The last config revision this replica applied.
    pub revision: u64,
}

impl Cluster {
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Changes on every (re)connection to NATS: after one, the server may have lost its store.
    pub fn connections(&self) -> tokio::sync::watch::Receiver<u64> {
        self.connections.subscribe()
    }

    pub fn status(&self) -> ClusterStatus {
        ClusterStatus {
            name: self.name.clone(),
            replica: self.replica.clone(),
            connected: self.connected(),
            replicas: self.members().live(),
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            revision: self.applied.load(Ordering::Relaxed),
        }
    }

    fn members(&self) -> std::sync::MutexGuard<'_, Membership> {
        match self.members.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Stops the bridge while the runtime still runs: NATS subscriptions unsubscribe on
    /// drop through the runtime, and would panic if dropped with it.
    pub async fn shutdown(&self) {
        let bridge = match self.bridge.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(bridge) = bridge {
            let _ = bridge.send(Shutdown).await;
        }
        let _ = self.client.flush().await;
    }

    pub fn sent(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::CLUSTER_MESSAGES, "direction" => "out").increment(1);
    }

    pub fn received(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::CLUSTER_MESSAGES, "direction" => "in").increment(1);
    }
}

/// Connects (in the background: NATS may be down) and starts the bridge on the current
/// arbiter. `address` is where this replica's HTTP API listens.
pub async fn start(
    config: &ClusterConfig,
    replica: String,
    address: String,
    router: Arc<Router>,
    keys: Arc<KeyRing>,
) -> anyhow::Result<Arc<Cluster>> {
    let connected = Arc::new(AtomicBool::new(false));
    metrics::gauge!(m::CLUSTER_CONNECTED).set(0.0);
    m::zero_cluster();
    let connections = Arc::new(tokio::sync::watch::channel(0).0);
    let client = connect(config, &replica, connected.clone(), connections.clone()).await?;
    let cluster = Arc::new(Cluster {
        name: config.name.clone(),
        replica,
        connected,
        connections,
        members: Mutex::new(Membership::default()),
        messages_in: AtomicU64::new(0),
        messages_out: AtomicU64::new(0),
        applied: AtomicU64::new(0),
        client,
        bridge: Mutex::new(None),
    });
    let bridge = ClusterBridge {
        cluster: cluster.clone(),
        config: config.clone(),
        router,
        keys,
        address,
        started: Instant::now(),
        last: (Instant::now(), HEADLINE.snapshot()),
        load: Rates::default(),
        health: HashMap::new(),
        reported: Vec::new(),
        peer_loads: HashMap::new(),
    }
    .start();
    if let Ok(mut slot) = cluster.bridge.lock() {
        *slot = Some(bridge);
    }
    Ok(cluster)
}

struct ClusterBridge {
    cluster: Arc<Cluster>,
    config: ClusterConfig,
    router: Arc<Router>,
    keys: Arc<KeyRing>,
    address: String,
    started: Instant,
    /// The headline numbers at the last heartbeat, and when: rates are their difference.
    last: (Instant, Snapshot),
    load: Rates,
    /// This replica's own view of each node's health, shared with the peers.
    health: HashMap<Arc<str>, Health>,
    /// The in-flight counts last reported, to report only changes between heartbeats.
    reported: Vec<(String, u32)>,
    /// Each peer's last in-flight report, and when it came.
    peer_loads: HashMap<String, (Instant, Vec<(String, u32)>)>,
}

/// How often a replica tells its peers what its clients consumed of their keys' limits: the
/// bound on how far a key can go over its limit across the fleet is what the other replicas
/// admit within one such interval.
pub const USAGE_EVERY: Duration = Duration::from_millis(100);

/// Consumption of limited keys on one replica since its last report.
#[derive(Debug, Serialize, Deserialize)]
struct UsageReport {
    replica: String,
    /// (key id, window start, requests, tokens)
    keys: Vec<(String, i64, f64, f64)>,
}

/// What a replica sees of the nodes by its own evidence (probes, failed requests), sent on
/// `drover.<cluster>.pool` at once on a change and with every heartbeat.
#[derive(Debug, Serialize, Deserialize)]
struct PoolReport {
    replica: String,
    nodes: Vec<(String, Health)>,
    /// Requests this replica runs on each node now.
    #[serde(default)]
    in_flight: Vec<(String, u32)>,
}

/// A probe result the owner of a node shares on `drover.<cluster>.probe`.
#[derive(Debug, Serialize, Deserialize)]
struct ProbeMessage {
    replica: String,
    node: String,
    probe: SharedProbe,
}

/// How often a replica looks whether its in-flight counts changed, to report them: the
/// coalescing bound on how stale a peer's counts are.
const IN_FLIGHT_EVERY: Duration = Duration::from_millis(250);

impl ClusterBridge {
    /// Sends `message` as JSON on `subject` without waiting for it, counted when sent.
    fn send<T: Serialize>(&self, ctx: &mut Context<Self>, subject: String, message: &T) {
        let Ok(body) = serde_json::to_vec(message) else {
            return;
        };
        let client = self.cluster.client.clone();
        let cluster = self.cluster.clone();
        ctx.spawn(
            async move {
                if client.publish(subject, body.into()).await.is_ok() {
                    cluster.sent();
                }
            }
            .into_actor(self),
        );
    }

    /// Feeds every message on the cluster subject `kind` to the actor, as `wrap` makes it.
    /// Subscribing only queues the request while NATS is down; the client renews it on every
    /// reconnect.
    fn follow<M: 'static>(
        &self,
        ctx: &mut Context<Self>,
        kind: &'static str,
        wrap: fn(async_nats::Message) -> M,
    ) where
        Self: StreamHandler<M>,
    {
        let client = self.cluster.client.clone();
        let subject = subject(&self.cluster.name, kind);
        ctx.wait(
            async move { client.subscribe(subject).await }
                .into_actor(self)
                .map(move |subscribed, _, ctx| match subscribed {
                    Ok(subscriber) => {
                        ctx.add_stream(subscriber.map(wrap));
                    }
                    Err(error) => tracing::error!(%error, kind, "cannot subscribe"),
                }),
        );
    }

    fn publish_usage(&self, ctx: &mut Context<Self>) {
        if !self.cluster.connected() {
            return;
        }
        let keys = self.keys.unsent();
        if keys.is_empty() {
            return;
        }
        let report = UsageReport {
            replica: self.cluster.replica.clone(),
            keys: keys
                .into_iter()
                .map(|(id, start, requests, tokens)| (id.to_string(), start, requests, tokens))
                .collect(),
        };
        self.send(ctx, subject(&self.cluster.name, "usage"), &report);
    }

    fn local_in_flight(&self) -> Vec<(String, u32)> {
        self.router
            .table()
            .nodes
            .iter()
            .map(|n| (n.status.name.to_string(), n.target.in_flight()))
            .collect()
    }

    /// Sums the peers' fresh reports into each node's `peer_in_flight`.
    fn apply_peer_loads(&mut self) {
        let now = Instant::now();
        let timeout = self.config.peer_timeout;
        self.peer_loads
            .retain(|_, (at, _)| now.duration_since(*at) < timeout);
        for node in &self.router.table().nodes {
            let name = &*node.status.name;
            let total: u32 = self
                .peer_loads
                .values()
                .flat_map(|(_, loads)| loads.iter())
                .filter(|(n, _)| n == name)
                .map(|(_, count)| *count)
                .sum();
            node.target.set_peer_in_flight(total);
        }
    }

    fn publish_pool(&mut self, ctx: &mut Context<Self>) {
        if !self.cluster.connected() {
            return;
        }
        let in_flight = self.local_in_flight();
        self.reported = in_flight.clone();
        let report = PoolReport {
            replica: self.cluster.replica.clone(),
            nodes: self
                .health
                .iter()
                .map(|(node, health)| (node.to_string(), *health))
                .collect(),
            in_flight,
        };
        self.send(ctx, subject(&self.cluster.name, "pool"), &report);
    }

    /// Tells each node actor who probes its node: the rendezvous owner among the live
    /// replicas, or this replica itself while it is cut off from its peers. Sent every beat
    /// (actors ignore a repeat), so a node added since and a replaced actor learn it too.
    fn assign_probes(&self) {
        let connected = self.cluster.connected();
        let live = self.cluster.members().live();
        let me = self.cluster.replica.as_str();
        let ids = live
            .iter()
            .map(|b| b.id.as_str())
            .filter(|id| *id != me)
            .chain([me]);
        for node in &self.router.table().nodes {
            let name = &node.status.name;
            let owner = match super::probe_owner::owner(name, ids.clone()) {
                Some(owner) if connected && owner != me => Some(Arc::from(owner)),
                _ => None,
            };
            self.router.selector().do_send(ProbeDuty {
                node: name.clone(),
                owner,
            });
        }
    }

    fn heartbeat(&self) -> Heartbeat {
        let table = self.router.table();
        Heartbeat {
            id: self.cluster.replica.clone(),
            address: self.address.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            revision: self.cluster.applied.load(Ordering::Relaxed),
            uptime_s: self.started.elapsed().as_secs(),
            in_flight: table
                .nodes
                .iter()
                .map(|n| u64::from(n.target.in_flight()))
                .sum(),
            load: self.load.clone(),
            connected: self.cluster.connected(),
        }
    }

    /// The membership gauges, as far as this replica can know: itself always (its own
    /// heartbeat's echo is lost in a partition), its peers only while connected (peers not
    /// expired yet are not heard either), and the lag behind the newest peer it hears.
    fn report_membership(&self) {
        let own = self.cluster.applied.load(Ordering::Relaxed);
        let peers: Vec<Heartbeat> = match self.cluster.connected() {
            true => self
                .cluster
                .members()
                .live()
                .into_iter()
                .filter(|b| b.id != self.cluster.replica)
                .collect(),
            false => Vec::new(),
        };
        metrics::gauge!(m::CLUSTER_REPLICAS).set((peers.len() + 1) as f64);
        let newest = peers.iter().map(|b| b.revision).max().unwrap_or(own);
        metrics::gauge!(m::CLUSTER_REVISION_LAG).set(newest.saturating_sub(own) as f64);
    }

    fn beat(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let snapshot = HEADLINE.snapshot();
        self.load =
            snapshot.rates_since(&self.last.1, now.duration_since(self.last.0).as_secs_f64());
        self.last = (now, snapshot);
        let gone = self.cluster.members().expire(now, self.config.peer_timeout);
        let live_ids: Vec<String> = self
            .cluster
            .members()
            .live()
            .into_iter()
            .map(|b| b.id)
            .collect();
        // The lowest-named live replica frees what a departed one held.
        let sweeper = live_ids.first() == Some(&self.cluster.replica);
        for id in gone {
            tracing::warn!(replica = %id, "replica went silent; dropped from the cluster");
            if let (true, Some(slots)) = (sweeper, self.router.slots.get()) {
                let slots = slots.clone();
                ctx.spawn(async move { slots.release_all_of(&id).await }.into_actor(self));
            }
        }
        self.assign_probes();
        self.report_membership();
        if !self.cluster.connected() {
            return; // the client would only queue it; peers expire us as they should
        }
        self.publish_pool(ctx);
        self.send(
            ctx,
            subject(&self.cluster.name, "replicas"),
            &self.heartbeat(),
        );
    }
}

impl Actor for ClusterBridge {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.follow(ctx, "replicas", |m| m);
        self.follow(ctx, "rpc.status", StatusRequest);
        self.follow(ctx, "pool", PeerPool);
        self.follow(ctx, "usage", PeerUsage);
        self.follow(ctx, "probe", PeerProbeMessage);
        ctx.run_interval(USAGE_EVERY, |act, ctx| act.publish_usage(ctx));
        ctx.run_interval(IN_FLIGHT_EVERY, |act, ctx| {
            if act.local_in_flight() != act.reported {
                act.publish_pool(ctx);
            }
            act.apply_peer_loads();
        });
        // Node actors report the health changes they find themselves here.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if self.router.observer.set(tx).is_ok() {
            ctx.add_stream(tokio_stream_of(rx));
        }
        let every: Duration = self.config.heartbeat;
        self.beat(ctx);
        ctx.run_interval(every, |act, ctx| act.beat(ctx));
    }
}

/// What this replica's node actors found themselves.
struct OwnEvent(NodeEvent);

fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<NodeEvent>,
) -> impl futures_util::Stream<Item = OwnEvent> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(OwnEvent)))
}

impl StreamHandler<OwnEvent> for ClusterBridge {
    fn handle(&mut self, OwnEvent(event): OwnEvent, ctx: &mut Self::Context) {
        match event {
            NodeEvent::Health(node, health) => {
                if self.health.insert(node, health) != Some(health) {
                    self.publish_pool(ctx);
                }
            }
            NodeEvent::Probed(node, probe) => {
                if self.cluster.connected() {
                    let message = ProbeMessage {
                        replica: self.cluster.replica.clone(),
                        node: node.to_string(),
                        probe,
                    };
                    self.send(ctx, subject(&self.cluster.name, "probe"), &message);
                }
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

/// A probe result from the replica that owns a node.
struct PeerProbeMessage(async_nats::Message);

impl StreamHandler<PeerProbeMessage> for ClusterBridge {
    fn handle(&mut self, PeerProbeMessage(message): PeerProbeMessage, _: &mut Self::Context) {
        self.cluster.received();
        let Ok(shared) = serde_json::from_slice::<ProbeMessage>(&message.payload) else {
            return;
        };
        if shared.replica == self.cluster.replica {
            return;
        }
        self.router.selector().do_send(PeerProbe {
            node: shared.node.as_str().into(),
            replica: shared.replica.as_str().into(),
            probe: shared.probe,
        });
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

/// A peer's key consumption.
struct PeerUsage(async_nats::Message);

impl StreamHandler<PeerUsage> for ClusterBridge {
    fn handle(&mut self, PeerUsage(message): PeerUsage, _: &mut Self::Context) {
        self.cluster.received();
        let Ok(report) = serde_json::from_slice::<UsageReport>(&message.payload) else {
            return;
        };
        if report.replica == self.cluster.replica {
            return;
        }
        for (id, start, requests, tokens) in report.keys {
            self.keys.add_remote(&id, start, requests, tokens);
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

/// A peer's pool report.
struct PeerPool(async_nats::Message);

impl StreamHandler<PeerPool> for ClusterBridge {
    fn handle(&mut self, PeerPool(message): PeerPool, _: &mut Self::Context) {
        self.cluster.received();
        let Ok(report) = serde_json::from_slice::<PoolReport>(&message.payload) else {
            return;
        };
        if report.replica == self.cluster.replica {
            return;
        }
        self.peer_loads
            .insert(report.replica.clone(), (Instant::now(), report.in_flight));
        self.apply_peer_loads();
        let replica: Arc<str> = report.replica.as_str().into();
        for (node, health) in report.nodes {
            self.router.selector().do_send(PeerHealth {
                replica: replica.clone(),
                node: node.as_str().into(),
                health,
            });
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

/// A scatter-gather status request from a peer or `drover cluster status`.
struct StatusRequest(async_nats::Message);

impl StreamHandler<StatusRequest> for ClusterBridge {
    fn handle(&mut self, request: StatusRequest, ctx: &mut Self::Context) {
        self.cluster.received();
        let Some(reply) = request.0.reply else { return };
        self.send(ctx, reply.to_string(), &self.heartbeat());
    }

    // The heartbeat stream ends the actor when it ends; this one need not.
    fn finished(&mut self, _: &mut Self::Context) {}
}

/// Every live replica's status, gathered by one request on `drover.<cluster>.rpc.status`
/// and the replies that come within `wait`.
pub async fn gather(
    client: &async_nats::Client,
    cluster: &str,
    wait: Duration,
) -> anyhow::Result<Vec<Heartbeat>> {
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await?;
    client
        .publish_with_reply(subject(cluster, "rpc.status"), inbox, bytes::Bytes::new())
        .await?;
    client.flush().await?;
    let mut found = Vec::new();
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            message = futures_util::StreamExt::next(&mut replies) => match message {
                Some(message) => {
                    if let Ok(beat) = serde_json::from_slice::<Heartbeat>(&message.payload) {
                        found.push(beat);
                    }
                }
                None => break,
            },
            _ = &mut deadline => break,
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// Stops the bridge (at shutdown).
#[derive(actix::Message)]
#[rtype(result = "()")]
struct Shutdown;

impl actix::Handler<Shutdown> for ClusterBridge {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        actix::ActorContext::stop(ctx);
    }
}

impl StreamHandler<async_nats::Message> for ClusterBridge {
    fn handle(&mut self, message: async_nats::Message, _: &mut Self::Context) {
        self.cluster.received();
        match serde_json::from_slice::<Heartbeat>(&message.payload) {
            Ok(beat) => {
                let id = beat.id.clone();
                if self.cluster.members().heard(beat, Instant::now()) {
                    tracing::info!(replica = %id, "replica joined the cluster");
                    self.assign_probes();
                }
            }
            Err(error) => tracing::debug!(%error, "ignoring a malformed heartbeat"),
        }
    }
}
