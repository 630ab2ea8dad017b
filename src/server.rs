//! Starting a replica: the pool actors, then the HTTP edge on its workers. `run` serves until
//! SIGTERM/SIGINT (then stops accepting and gives in-flight requests `shutdown_grace` to end);
//! `spawn` starts one on a background thread, for tests and embedding.

use std::{net::SocketAddr, sync::Arc, thread::JoinHandle};

use actix_web::{dev::ServerHandle, middleware::from_fn, web, App, HttpServer};
use anyhow::Context;
use serde::{de::DeserializeOwned, Serialize};

use crate::{
    actors::{self, log_writer, messages::SetDrained},
    api,
    auth::KeyRing,
    changes::Applier,
    cluster::config_sync::ConfigSync,
    config::{Config, NodeConfig, RouteConfig},
    dispatch::{Gateway, RecordSink},
    metrics,
    routing::RouteTable,
    store::{nodes::NodeRow, routes::RouteRow, Store},
};

struct Built {
    server: actix_web::dev::Server,
    addr: SocketAddr,
    log: Option<log_writer::LogHandle>,
    flush_wait: std::time::Duration,
    sync: Option<Arc<ConfigSync>>,
    router: Arc<crate::routing::Router>,
    /// What actix gives in-flight requests after a stop, as it rounds it (whole seconds).
    grace: std::time::Duration,
}

/// How long leaving the cluster may take at shutdown (each step: the slots' watch, the config
/// watch and the bridge with its flush). With NATS unreachable these wait for a reconnect that
/// may never come; past the bound, what was unsent is lost, as it would be after a crash.
const LEAVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Runs one shutdown step, for `bound` at most.
async fn bounded(
    step: &str,
    bound: std::time::Duration,
    work: impl std::future::Future<Output = ()>,
) {
    if tokio::time::timeout(bound, work).await.is_err() {
        tracing::warn!(
            step,
            ?bound,
            "shutdown step did not finish in time; going on"
        );
    }
}

impl Built {
    /// Serves until the server stops, then leaves the cluster and flushes the request log;
    /// every step is bounded, so a dead NATS or database cannot hold the process up.
    async fn serve(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(slots) = self.router.slots.get() {
            bounded("cluster slots", LEAVE_TIMEOUT, slots.shutdown()).await;
        }
        if let Some(sync) = self.sync {
            bounded("cluster config", LEAVE_TIMEOUT, sync.shutdown()).await;
        }
        if let Some(log) = self.log {
            log.close(self.flush_wait).await;
        }
        result
    }
}

async fn build(mut config: Config, signals: bool) -> anyhow::Result<Built> {
    let prometheus = metrics::install();
    // Bound first, so the replica's name can carry the real port (`listen` may say port 0).
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    if config.replica.is_empty() {
        config.listen = addr;
        config.replica = config.replica_name();
    }
    let store = Store::open(&config.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&config.database_url)))?;
    config.selector = seed_and_load(&store, SELECTOR_SETTING, &config.selector).await?;
    config.health = seed_and_load(&store, HEALTH_SETTING, &config.health).await?;
    config.timeouts = seed_and_load(&store, TIMEOUTS_SETTING, &config.timeouts).await?;
    config.failover = seed_and_load(&store, FAILOVER_SETTING, &config.failover).await?;
    config.limits = seed_and_load(&store, LIMITS_SETTING, &config.limits).await?;
    let tuning = crate::tuning::live(&config);
    let config = Arc::new(config);
    let (nodes, drained) = seed_and_load_nodes(&store, &config).await?;
    let (records, log) = if config.request_log.enabled {
        let (sender, handle) = log_writer::start(store.clone(), config.request_log.clone());
        let sink = RecordSink {
            sender,
            replica: config.replica_name().into(),
            capture: config
                .request_log
                .capture
                .then_some(config.request_log.capture_max_bytes),
        };
        (Some(sink), Some(handle))
    } else {
        (None, None)
    };
    let routes = seed_and_load_routes(&store, &config).await?;
    let router = actors::start_pool(&config, &nodes);
    router.set_routes(RouteTable::new(routes));
    for name in drained {
        router.selector().do_send(SetDrained {
            name,
            drained: true,
        });
    }
    let keys = KeyRing::load(store.clone())
        .await
        .context("cannot read the API keys")?;
    keys.watch();
    let applier = Arc::new(Applier {
        store: store.clone(),
        router: router.clone(),
        keys: keys.clone(),
        tuning: tuning.clone(),
        base: config.clone(),
    });
    let (cluster, sync) = match config.cluster.enabled() {
        true => {
            let cluster = crate::cluster::bridge::start(
                &config.cluster,
                config.replica.clone(),
                addr.to_string(),
                router.clone(),
                keys.clone(),
            )
            .await
            .context("cannot start the cluster bridge")?;
            let sync = ConfigSync::start(cluster.clone(), applier.clone()).await?;
            crate::cluster::slots::Slots::start(cluster.clone(), router.clone());
            (Some(cluster), Some(sync))
        }
        false => (None, None),
    };
    let cluster = web::Data::new(cluster);
    let admin = web::Data::new(api::admin::Admin::new(applier, sync.clone(), &config));
    let shared = config.clone();
    let shutdown_router = router.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(Gateway::new(
                router.clone(),
                shared.clone(),
                tuning.clone(),
                records.clone(),
                keys.clone(),
            )))
            .app_data(web::Data::new(prometheus.clone()))
            .app_data(admin.clone())
            .app_data(cluster.clone())
            .wrap(from_fn(api::body::idle_timeout))
            .wrap(from_fn(api::request_id::middleware))
            .configure(api::routes)
    })
    // Streamed tokens are small writes: without TCP_NODELAY, Nagle's algorithm holds each one
    // until the client ACKs the previous, and delayed ACKs make that ~40 ms per stall.
    .tcp_nodelay(true)
    // Whole seconds only: round up, so a grace under a second is not zero.
    .shutdown_timeout(config.limits.shutdown_grace.as_millis().div_ceil(1000) as u64)
    .listen(listener)
    .with_context(|| format!("cannot listen on {addr}"))?;
    if config.workers > 0 {
        server = server.workers(config.workers);
    }
    if !signals {
        server = server.disable_signals();
    }
    Ok(Built {
        server: server.run(),
        addr,
        log,
        flush_wait: config.request_log.flush_timeout + std::time::Duration::from_secs(1),
        sync,
        router: shutdown_router,
        grace: std::time::Duration::from_secs(
            config.limits.shutdown_grace.as_millis().div_ceil(1000) as u64,
        ),
    })
}

/// The nodes to start with. The config file and `--node` seed an empty database; after that
/// the database is the truth (the admin API edits it), and nodes the file names that the
/// database lacks are ignored with a warning.
async fn seed_and_load_nodes(
    store: &Store,
    config: &Config,
) -> anyhow::Result<(Vec<NodeConfig>, Vec<String>)> {
    let mut rows = store.list_nodes().await?;
    if !store.ever_stored("node").await? {
        for node in &config.nodes {
            store
                .put_node(&NodeRow::from_config(node, false), "config")
                .await?;
        }
        rows = store.list_nodes().await?;
    } else {
        for node in &config.nodes {
            if !rows.iter().any(|r| r.name == node.name) {
                tracing::warn!(node = %node.name, "node from the config is not in the database, \
                    which is the truth once seeded: add it through the admin API");
            }
        }
    }
    let nodes = rows
        .iter()
        .map(NodeRow::to_config)
        .collect::<Result<Vec<_>, _>>()?;
    let drained = rows
        .iter()
        .filter(|r| r.drained)
        .map(|r| r.name.clone())
        .collect();
    Ok((nodes, drained))
}

/// The routes to start with, seeded from the file like nodes.
async fn seed_and_load_routes(store: &Store, config: &Config) -> anyhow::Result<Vec<RouteConfig>> {
    let mut rows = store.list_routes().await?;
    if !store.ever_stored("route").await? {
        for route in &config.routes {
            store
                .put_route(&RouteRow::from_config(route), "config")
                .await?;
        }
        rows = store.list_routes().await?;
    } else if config
        .routes
        .iter()
        .any(|r| !rows.iter().any(|row| row.alias == r.alias))
    {
        tracing::warn!(
            "routes from the config are not all in the database, which is the truth \
            once seeded: add them through the admin API"
        );
    }
    Ok(rows
        .iter()
        .map(RouteRow::to_config)
        .collect::<Result<Vec<_>, _>>()?)
}

/// A settings section: like nodes, the file seeds an empty database, which decides after.
async fn seed_and_load<T: Serialize + DeserializeOwned>(
    store: &Store,
    key: &str,
    from_file: &T,
) -> anyhow::Result<T> {
    if let Some(stored) = store.get_setting(key).await? {
        return serde_json::from_str(&stored)
            .with_context(|| format!("the stored {key} setting is invalid"));
    }
    let value = serde_json::to_value(from_file)?;
    store.put_setting(key, &value, "config").await?;
    Ok(serde_json::from_value(value)?)
}

/// Keys of the settings sections in the `settings` table.
pub const SELECTOR_SETTING: &str = "selector";
pub const HEALTH_SETTING: &str = "health";
pub const TIMEOUTS_SETTING: &str = "timeouts";
pub const FAILOVER_SETTING: &str = "failover";
pub const LIMITS_SETTING: &str = "limits";

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Serves until a termination signal; returns once in-flight requests ended or the grace
/// period ran out.
pub fn run(config: Config) -> anyhow::Result<()> {
    raise_open_file_limit();
    actix_rt::System::new().block_on(async move {
        let nodes = config.nodes.len();
        let strategy = config.selector.strategy;
        let built = build(config, true).await?;
        actix_rt::spawn(cut_streams_before_grace_ends(
            built.router.clone(),
            built.grace,
        ));
        let addr = built.addr;
        tracing::info!(%addr, nodes, ?strategy, version = env!("CARGO_PKG_VERSION"), "drover listening");
        built.serve().await.context("server failed")?;
        tracing::info!("drover stopped");
        Ok(())
    })
}

/// Once a termination signal came, waits until shortly before the grace runs out, then tells
/// every running stream to end with an error frame in its client's format (and a record
/// saying it was cut by shutdown) rather than be cut bare when actix drops its connection.
async fn cut_streams_before_grace_ends(
    router: Arc<crate::routing::Router>,
    grace: std::time::Duration,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot watch for termination signals: streams will be cut bare at the end of the grace");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    // Time enough for the frames to go out and the connections to close inside the grace.
    let margin = (grace / 4).min(std::time::Duration::from_secs(1));
    tokio::time::sleep(grace.saturating_sub(margin)).await;
    router.shutdown.send_replace(true);
}

/// Each stream holds two sockets (client and node); the usual soft limit of 1024 open files
/// would cap a replica near 500 concurrent streams, so raise it to the hard limit.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open file limit"),
    }
}

/// A replica running on its own thread.
pub struct RunningServer {
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and waits for the server thread (in-flight requests get the grace).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Sends the stop command at once; the returned future only reports completion.
        drop(self.handle.stop(true));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts a replica on a new thread with its own actix system; returns once it listens.
pub fn spawn(config: Config) -> anyhow::Result<RunningServer> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("drover-server".into())
        .spawn(move || {
            actix_rt::System::new().block_on(async move {
                match build(config, false).await {
                    Ok(built) => {
                        let _ = tx.send(Ok((built.addr, built.server.handle())));
                        let _ = built.serve().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })
        .context("cannot start the server thread")?;
    let (addr, handle) = rx.recv().context("the server thread died")??;
    Ok(RunningServer {
        addr,
        handle,
        thread: Some(thread),
    })
}
