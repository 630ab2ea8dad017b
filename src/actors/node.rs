//! `NodeActor`: one per upstream node. It probes the node on its own timer, keeps health with
//! hysteresis, EWMA latency and time to first byte, the model inventory and loaded models, and
//! the last error, and reports every meaningful change to the selector.

use std::{collections::HashMap, sync::Arc, time::Duration};

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, ResponseFuture,
    SpawnHandle, WrapFuture,
};
use actix_web::http::header::{HeaderName, HeaderValue};
use tokio::{sync::oneshot, time::Instant};

use super::{
    health::{Health, HealthTracker, Transition},
    messages::{
        ApplyProbing, NodeEvent, NodeReport, NodeStatus, Observer, Passive, PeerHealth, PeerProbe,
        ProbeDuty, ProbeNow, RequestOutcome, SharedProbe, StopNode,
    },
    selector::Selector,
};
use crate::{
    config::{HealthConfig, NodeConfig},
    error::GatewayError,
    metrics as m,
    providers::{self, ProbeReport},
    routing::{stats::AtomicEwma, NodeStats},
};

pub struct NodeActor {
    id: usize,
    config: NodeConfig,
    health_config: HealthConfig,
    connect_timeout: Duration,
    selector: Addr<Selector>,
    client: Option<awc::Client>,
    health: HealthTracker,
    /// Request latencies, written by leases on every worker thread.
    stats: Arc<NodeStats>,
    probe_latency: AtomicEwma,
    probing: bool,
    /// `ProbeNow` callers waiting for the next probe to start: one already running may have
    /// asked the node before they did, so it does not answer them.
    pending: Vec<oneshot::Sender<Arc<NodeStatus>>>,
    status: Arc<NodeStatus>,
    /// The probe timer, replaced when the interval changes.
    timer: Option<SpawnHandle>,
    /// Where this node's health changes go (the cluster bridge), and the peers that last said
    /// the node is unwell, with when.
    observer: Observer,
    peers_unwell: HashMap<Arc<str>, Instant>,
    /// The peer replica that probes this node for the fleet (`None`: this one does), and
    /// when its last result came (or when it became the owner).
    owner: Option<Arc<str>>,
    last_shared: Instant,
    /// Credentials and version headers the node's API asks for.
    headers: Arc<[(HeaderName, HeaderValue)]>,
    /// What the probe depends on, hashed: peers' results count only if theirs matches.
    fingerprint: u64,
    /// When the last probe started: probes deferred for a busy node still run this often.
    last_probe: Instant,
}

/// A stable hash of what a probe of `config` depends on (kind, URL, key, listed models,
/// probing on or off); the same on every replica and build.
fn fingerprint(config: &NodeConfig) -> u64 {
    crate::cluster::probe_owner::stable_hash(&[
        config.kind.as_str(),
        &config.url,
        config.api_key.as_deref().unwrap_or(""),
        &config.models.join("\n"),
        if config.probe { "probe" } else { "listed" },
    ])
}

/// A peer's word that a node is unwell counts this long unless repeated (peers repeat it
/// every heartbeat while it holds).
const PEER_WORD: Duration = Duration::from_secs(3);

/// Probe intervals without a result from the owner replica after which this replica probes
/// the node itself again: lost results must not leave a node unwatched.
const OWNER_SILENCE: u32 = 3;

/// The longest a busy node's probe is deferred: its model inventory still refreshes.
const PROBE_DEFER_MAX: Duration = Duration::from_secs(60);

impl NodeActor {
    pub fn new(
        id: usize,
        config: NodeConfig,
        health_config: HealthConfig,
        connect_timeout: Duration,
        selector: Addr<Selector>,
        stats: Arc<NodeStats>,
        observer: Observer,
    ) -> Self {
        let status = Arc::new(NodeStatus::initial(&config));
        Self {
            id,
            health: HealthTracker::new(health_config.down_after, health_config.up_after),
            health_config,
            connect_timeout,
            selector,
            client: None,
            stats,
            probe_latency: AtomicEwma::default(),
            probing: false,
            pending: Vec::new(),
            status,
            timer: None,
            observer,
            peers_unwell: HashMap::new(),
            owner: None,
            last_shared: Instant::now(),
            headers: providers::node_headers(&config).into(),
            fingerprint: fingerprint(&config),
            last_probe: Instant::now(),
            config,
        }
    }

    /// A timer tick: probe, unless a peer owns the probing of this node and its results come,
    /// or the node's answers are making progress (see `busy`).
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let owner_quiet = self.last_shared.elapsed() > self.health_config.interval * OWNER_SILENCE;
        if self.owner.is_some() && !owner_quiet {
            return;
        }
        if self.busy(self.health_config.timeout) && self.last_probe.elapsed() < PROBE_DEFER_MAX {
            // Its streams say it lives; a probe would only wait behind them (a one-slot
            // server), or cancel one (llama-cpp-python cancels on any new request).
            return;
        }
        self.probe(ctx);
    }

    /// Whether an answer from the node made progress within `window`: it is alive and
    /// working, so a probe it is slow to answer says busy, not down.
    fn busy(&self, window: Duration) -> bool {
        self.stats.progressed_within(window)
    }

    /// Starts a probe unless one is running; callers still pending when it ends get a
    /// probe of their own right after.
    fn probe(&mut self, ctx: &mut Context<Self>) {
        if self.probing {
            return;
        }
        let Some(client) = self.client.clone() else {
            // Not started yet, so nothing to report: waiting callers get an error.
            self.pending.clear();
            return;
        };
        self.probing = true;
        self.last_probe = Instant::now();
        let waiting = std::mem::take(&mut self.pending);
        let config = self.config.clone();
        let headers = self.headers.clone();
        let timeout = self.health_config.timeout;
        let started = Instant::now();
        let probe = async move {
            if !config.probe {
                // Not probed (a paid API): each tick vouches for it, so a node that failed
                // requests is tried again after `up_after` intervals.
                return Ok(providers::unprobed(&config));
            }
            providers::probe(&config, &headers, &client, timeout).await
        };
        ctx.spawn(probe.into_actor(self).map(move |result, act, ctx| {
            act.probing = false;
            let took = started.elapsed();
            if result.is_err() && act.busy(took.max(act.health_config.timeout)) {
                // Streams progressed while the probe waited: the node is busy, not down.
                // Not counted, nor shared (peers see no streams of this replica's).
                metrics::counter!(m::PROBES, "node" => act.config.name.clone(), "result" => "busy")
                    .increment(1);
                tracing::debug!(node = %act.config.name, "probe unanswered while streams progress: busy");
            } else {
                act.share(&result, took);
                act.apply_probe(result, took);
                act.refresh();
            }
            for reply in waiting {
                // The caller may have given up; nothing to do then.
                let _ = reply.send(act.status.clone());
            }
            if !act.pending.is_empty() {
                act.probe(ctx);
            }
        }));
    }

    /// Hands the result of a probe this replica owns to the cluster bridge, for the peers.
    fn share(&self, result: &Result<ProbeReport, String>, took: Duration) {
        if self.owner.is_some() {
            return;
        }
        if let Some(observer) = self.observer.get() {
            let probe = SharedProbe {
                result: result.clone(),
                took_us: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
                config: self.fingerprint,
            };
            let _ = observer.send(NodeEvent::Probed(self.status.name.clone(), probe));
        }
    }

    fn apply_probe(&mut self, result: Result<ProbeReport, String>, took: Duration) {
        let name = self.config.name.clone();
        let transition = match result {
            Ok(report) => {
                metrics::counter!(m::PROBES, "node" => name, "result" => "ok").increment(1);
                self.probe_latency.observe(took);
                let status = Arc::make_mut(&mut self.status);
                status.version = report.version;
                status.inventory_known = true;
                status.models = report
                    .models
                    .iter()
                    .map(|s| Arc::from(s.as_str()))
                    .collect();
                status.loaded = report
                    .loaded
                    .iter()
                    .map(|s| Arc::from(s.as_str()))
                    .collect();
                status.tag_entries = report.tag_entries.into();
                status.ps_entries = report.ps_entries.into();
                status.last_error = None;
                self.health.success()
            }
            Err(error) => {
                metrics::counter!(m::PROBES, "node" => name, "result" => "error").increment(1);
                tracing::debug!(node = %self.config.name, %error, "probe failed");
                Arc::make_mut(&mut self.status).last_error = Some(error);
                self.health.failure()
            }
        };
        self.note_transition(transition);
        self.report();
    }

    fn apply_outcome(&mut self, outcome: Passive) {
        let transition = match outcome {
            Passive::Success => self.health.success(),
            Passive::Failure { error, hard } => {
                Arc::make_mut(&mut self.status).last_error = Some(error);
                if hard {
                    self.health.failure()
                } else {
                    self.health.soft_failure()
                }
            }
        };
        let changed = transition.is_some();
        self.note_transition(transition);
        if changed {
            self.report();
        }
    }

    fn note_transition(&mut self, transition: Option<Transition>) {
        let Some((from, to)) = transition else {
            return;
        };
        let name = self.config.name.clone();
        tracing::info!(node = %name, from = from.as_str(), to = to.as_str(),
            error = self.status.last_error.as_deref().unwrap_or(""), "node health changed");
        metrics::counter!(m::NODE_HEALTH_TRANSITIONS, "node" => name.clone(),
            "from" => from.as_str(), "to" => to.as_str())
        .increment(1);
        metrics::gauge!(m::NODE_UP, "node" => name).set(if to.routable() { 1.0 } else { 0.0 });
        if let Some(observer) = self.observer.get() {
            let _ = observer.send(NodeEvent::Health(self.status.name.clone(), to));
        }
        Arc::make_mut(&mut self.status).health = self.effective(to);
    }

    /// The health routing uses: this replica's own, made suspect while a peer finds the node
    /// unwell and this replica has not seen worse itself.
    fn effective(&mut self, own: Health) -> Health {
        let now = Instant::now();
        self.peers_unwell
            .retain(|_, at| now.duration_since(*at) < PEER_WORD);
        if own == Health::Up && !self.peers_unwell.is_empty() {
            Health::Suspect
        } else {
            own
        }
    }

    /// Recomputes the health routing uses; reports when it changed.
    fn refresh(&mut self) {
        let health = self.effective(self.health.state());
        if health != self.status.health {
            Arc::make_mut(&mut self.status).health = health;
            self.report();
        }
    }

    fn report(&mut self) {
        // Ask leases for the next success only while it could change health.
        self.stats.set_want_success(self.health.success_matters());
        let status = Arc::make_mut(&mut self.status);
        status.latency_ewma_ms = self.stats.latency.get();
        status.ttfb_ewma_ms = self.stats.ttfb.get();
        status.probe_latency_ms = self.probe_latency.get();
        let name = self.config.name.clone();
        if let Some(l) = status.latency_ewma_ms {
            metrics::gauge!(m::NODE_LATENCY, "node" => name.clone()).set(l.as_secs_f64());
        }
        if let Some(t) = status.ttfb_ewma_ms {
            metrics::gauge!(m::NODE_TTFT, "node" => name).set(t.as_secs_f64());
        }
        self.selector.do_send(NodeReport {
            node: self.id,
            status: self.status.clone(),
        });
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // awc clients are per thread; this one lives on the actor's arbiter.
        self.client = Some(providers::probe_client(self.connect_timeout));
        metrics::gauge!(m::NODE_UP, "node" => self.config.name.clone()).set(0.0);
        m::zero_node(&self.config.name);
        self.probe(ctx);
        self.timer = Some(ctx.run_interval(self.health_config.interval, |act, ctx| act.tick(ctx)));
    }
}

impl Handler<ApplyProbing> for NodeActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyProbing, ctx: &mut Self::Context) {
        self.health
            .set_thresholds(msg.health.down_after, msg.health.up_after);
        if msg.connect_timeout != self.connect_timeout {
            self.connect_timeout = msg.connect_timeout;
            self.client = Some(providers::probe_client(self.connect_timeout));
        }
        if msg.health.interval != self.health_config.interval {
            if let Some(timer) = self.timer.take() {
                ctx.cancel_future(timer);
            }
            self.timer = Some(ctx.run_interval(msg.health.interval, |act, ctx| act.tick(ctx)));
        }
        self.health_config = msg.health;
    }
}

impl Handler<RequestOutcome> for NodeActor {
    type Result = ();

    fn handle(&mut self, msg: RequestOutcome, _: &mut Self::Context) {
        self.apply_outcome(msg.0);
    }
}

impl Handler<ProbeNow> for NodeActor {
    type Result = ResponseFuture<Result<Arc<NodeStatus>, GatewayError>>;

    fn handle(&mut self, _: ProbeNow, ctx: &mut Self::Context) -> Self::Result {
        let (reply, status) = oneshot::channel();
        self.pending.push(reply);
        self.probe(ctx);
        let name = self.config.name.clone();
        // The sender goes unanswered only when the actor stops: the node left the pool.
        Box::pin(async move { status.await.map_err(|_| GatewayError::UnknownNode(name)) })
    }
}

impl Handler<PeerHealth> for NodeActor {
    type Result = ();

    fn handle(&mut self, msg: PeerHealth, _: &mut Self::Context) {
        if matches!(msg.health, Health::Suspect | Health::Down) {
            self.peers_unwell.insert(msg.replica, Instant::now());
        } else {
            self.peers_unwell.remove(&msg.replica);
        }
        self.refresh();
    }
}

impl Handler<ProbeDuty> for NodeActor {
    type Result = ();

    fn handle(&mut self, msg: ProbeDuty, ctx: &mut Self::Context) {
        if msg.owner == self.owner {
            return;
        }
        tracing::debug!(node = %self.config.name, owner = msg.owner.as_deref().unwrap_or("this replica"),
            "probe owner changed");
        let mine = msg.owner.is_none();
        self.owner = msg.owner;
        // The new owner gets a full silence allowance before this replica steps in.
        self.last_shared = Instant::now();
        Arc::make_mut(&mut self.status).probed_by = self.owner.clone();
        self.report();
        if mine {
            // Taking over from a silent owner: look now, not at the next tick.
            self.probe(ctx);
        }
    }
}

impl Handler<PeerProbe> for NodeActor {
    type Result = ();

    fn handle(&mut self, msg: PeerProbe, _: &mut Self::Context) {
        // Only the owner's word counts (during a handover another replica may still publish),
        // and only about the node as this replica has it configured.
        if self.owner.as_ref() != Some(&msg.replica) || msg.probe.config != self.fingerprint {
            return;
        }
        self.last_shared = Instant::now();
        self.apply_probe(msg.probe.result, Duration::from_micros(msg.probe.took_us));
        self.refresh();
    }
}

impl Handler<StopNode> for NodeActor {
    type Result = ();

    fn handle(&mut self, _: StopNode, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
