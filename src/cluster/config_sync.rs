//! Config through the cluster's JetStream key-value bucket (`drover-<cluster>-config`).
//!
//! Admin writes on any replica go to the bucket with compare-and-set on the revision this
//! replica last applied for that entity, so a write based on a stale view gets 409 rather
//! than overwriting. Every replica (the writer too) watches the bucket and applies changes in
//! revision order through the same `Applier` a standalone replica uses, storing them in its
//! database and remembering the revision it reached there, so a replica that was away or down
//! resumes from that revision. With NATS unreachable, a replica serves on what it applied and
//! refuses admin writes with 503.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::jetstream::{
    self,
    kv::{self, Operation},
};
use futures_util::StreamExt;
use tokio::sync::{watch, Notify};

use super::{
    bridge::Cluster,
    wire::{change_of, key_of, value_of},
};
use crate::{
    changes::{Applier, Change, SECTIONS},
    metrics as m,
    store::nodes::Origin,
};

/// Revisions kept per entity, for `drover config history` and `rollback`.
const HISTORY: i64 = 64;
/// The `settings` row holding the last revision applied here.
const APPLIED_KEY: &str = "cluster.applied_revision";
/// How long an admin write waits for this replica to apply it before answering anyway.
const APPLY_WAIT: Duration = Duration::from_secs(5);

pub fn bucket_name(cluster: &str) -> String {
    format!("drover-{cluster}-config")
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the cluster's config store is unreachable (NATS is down); this replica keeps serving on what it last applied, but takes no changes until it returns")]
    Unavailable,
    #[error("{0} was changed meanwhile by another writer; read it again and retry")]
    Conflict(String),
    /// Sent, but no answer came in time: NATS may still apply it (a request already handed
    /// to the client is flushed when the connection returns), so this is not a 503.
    #[error("the change to {0} was sent to the cluster's config store but not confirmed in time (NATS unreachable); it may still take effect: read {0} again before retrying")]
    Unconfirmed(String),
    #[error("cluster config write failed: {0}")]
    Failed(String),
}

pub struct ConfigSync {
    cluster: Arc<Cluster>,
    applier: Arc<Applier>,
    bucket: Mutex<Option<kv::Store>>,
    /// The revision of each entity as this replica last applied it: the expected revision of
    /// its next write.
    revisions: Mutex<HashMap<String, u64>>,
    applied: watch::Sender<u64>,
    /// When the bucket's stream this replica follows was made, to notice one made anew.
    stream_created: Mutex<Option<i128>>,
    /// Woken when a write finds the bucket gone, to check it at once.
    recheck: Notify,
    /// The follower task, stopped at shutdown while the runtime still runs.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ConfigSync {
    /// Starts following the bucket on the current arbiter.
    pub async fn start(
        cluster: Arc<Cluster>,
        applier: Arc<Applier>,
    ) -> anyhow::Result<Arc<ConfigSync>> {
        let applied = match applier.store.get_setting(APPLIED_KEY).await? {
            Some(text) => text.parse().unwrap_or(0),
            None => 0,
        };
        cluster
            .applied
            .store(applied, std::sync::atomic::Ordering::Relaxed);
        // Known from the database at once, not only at the next change.
        metrics::gauge!(m::CLUSTER_REVISION).set(applied as f64);
        let sync = Arc::new(ConfigSync {
            cluster,
            applier,
            bucket: Mutex::new(None),
            revisions: Mutex::new(HashMap::new()),
            applied: watch::channel(applied).0,
            stream_created: Mutex::new(None),
            recheck: Notify::new(),
            task: Mutex::new(None),
        });
        let runner = sync.clone();
        let task = actix_rt::spawn(async move { runner.run().await });
        if let Ok(mut slot) = sync.task.lock() {
            *slot = Some(task);
        }
        Ok(sync)
    }

    /// Stops following the bucket, and the bridge with it.
    pub async fn shutdown(&self) {
        let task = match self.task.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        self.cluster.shutdown().await;
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The last revision applied here.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    fn bucket(&self) -> Option<kv::Store> {
        match self.bucket.lock() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn revision_of(&self, key: &str) -> Option<u64> {
        let revisions = match self.revisions.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        revisions.get(key).copied()
    }

    fn set_revision(&self, key: &str, revision: u64) {
        let mut revisions = match self.revisions.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        revisions.insert(key.to_owned(), revision);
    }

    /// The bucket, once this replica has reached it (waiting a moment at start).
    async fn ready_bucket(&self) -> Option<kv::Store> {
        for _ in 0..40 {
            if !self.cluster.connected() {
                return None;
            }
            if let Some(bucket) = self.bucket() {
                return Some(bucket);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Writes a change to the bucket (compare-and-set), then waits until this replica has
    /// applied it, so the caller reads its own write.
    ///
    /// A 503 (`Unavailable`) means the change was never sent: the connection is looked at
    /// right before the request is handed to the client, because a request the client holds
    /// while disconnected is sent on reconnect, long after its caller gave up.
    pub async fn write(&self, change: &Change, actor: &str) -> Result<(), WriteError> {
        let Some(bucket) = self.ready_bucket().await else {
            return Err(WriteError::Unavailable);
        };
        let key = key_of(change);
        let value = value_of(change, actor, &self.cluster.replica)
            .map_err(|e| WriteError::Failed(e.to_string()))?;
        let expected = self.revision_of(&key);
        if !self.cluster.connected() {
            return Err(WriteError::Unavailable);
        }
        let conflict = || WriteError::Conflict(key.clone());
        let written = match (value, expected) {
            (Some(value), Some(revision)) => bucket
                .update(&key, value.into(), revision)
                .await
                .map(Some)
                .map_err(|e| match e.kind() {
                    kv::UpdateErrorKind::WrongLastRevision => conflict(),
                    _ => unsent_or_unconfirmed(&key, e.to_string()),
                }),
            (Some(value), None) => bucket
                .create(&key, value.into())
                .await
                .map(Some)
                .map_err(|e| match e.kind() {
                    kv::CreateErrorKind::AlreadyExists => conflict(),
                    _ => unsent_or_unconfirmed(&key, e.to_string()),
                }),
            (None, expected) => bucket
                .delete_expect_revision(&key, expected)
                .await
                .map(|()| None)
                .map_err(|e| match e.kind() {
                    kv::DeleteErrorKind::WrongLastRevision => conflict(),
                    _ => unsent_or_unconfirmed(&key, e.to_string()),
                }),
        };
        if let Err(WriteError::Unavailable) = written {
            // Perhaps the bucket is gone (the server lost its store): look at once.
            self.recheck.notify_one();
        }
        let written = written?;
        self.cluster.sent();
        // Read-your-writes: wait for the watcher to apply what was just written.
        let mut applied = self.applied.subscribe();
        let done = |sync: &ConfigSync, now: u64| match written {
            Some(revision) => now >= revision,
            None => sync.revision_of(&key) != expected,
        };
        let wait = async {
            while !done(self, *applied.borrow_and_update()) {
                if applied.changed().await.is_err() {
                    break;
                }
            }
        };
        if tokio::time::timeout(APPLY_WAIT, wait).await.is_err() {
            tracing::warn!(%key, "written to the cluster but not applied here yet");
        }
        Ok(())
    }

    /// Follows the bucket for as long as the replica runs, reconnecting after failures.
    async fn run(self: Arc<Self>) {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.follow().await {
                Ok(()) => delay = Duration::from_millis(200),
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?delay, "cluster config watch stopped");
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// Follows the bucket from the revision after the last applied one until the watch ends
    /// or the client reconnects (or a write finds the bucket gone), when the caller starts
    /// again and looks whether the server lost its store meanwhile.
    async fn follow(&self) -> anyhow::Result<()> {
        let mut connections = self.cluster.connections();
        connections.borrow_and_update();
        // No writes while the bucket is being (re)checked: they would compare against
        // revisions that may no longer exist.
        self.set_bucket(None);
        let js = jetstream::new(self.cluster.client.clone());
        let name = bucket_name(&self.cluster.name);
        let bucket = open_bucket(&js, &name).await?;
        let (created, last) = stream_identity(&js, &name).await?;
        let lost = self.stream_replaced(created) || (self.applied() > 0 && last < self.applied());
        if lost {
            self.reseed(&bucket).await?;
        } else if self.applied() == 0 {
            self.join(&bucket).await?;
        }
        self.remember_stream(created);
        // Writes wait until this replica has caught up with the bucket as it is now, so
        // they compare against current revisions.
        let (_, ready_at) = stream_identity(&js, &name).await?;
        let mut exposed = false;
        if self.applied() >= ready_at {
            self.set_bucket(Some(bucket.clone()));
            exposed = true;
        }
        let from = self.applied() + 1;
        let mut watch = bucket.watch_all_from_revision(from).await?;
        loop {
            tokio::select! {
                entry = watch.next() => {
                    let Some(entry) = entry else { break };
                    let entry = entry?;
                    self.cluster.received();
                    self.apply(&entry).await;
                    if !exposed && self.applied() >= ready_at {
                        self.set_bucket(Some(bucket.clone()));
                        exposed = true;
                    }
                }
                changed = connections.changed() => {
                    changed?;
                    tracing::info!("reconnected to NATS; checking the config bucket");
                    return Ok(());
                }
                () = self.recheck.notified() => return Ok(()),
            }
        }
        anyhow::bail!("the bucket's watch ended")
    }

    fn set_bucket(&self, bucket: Option<kv::Store>) {
        match self.bucket.lock() {
            Ok(mut b) => *b = bucket,
            Err(poisoned) => *poisoned.into_inner() = bucket,
        }
    }

    /// Whether the bucket's stream is another one than this replica followed before (made
    /// anew after the server lost its store).
    fn stream_replaced(&self, created: i128) -> bool {
        let known = match self.stream_created.lock() {
            Ok(k) => *k,
            Err(poisoned) => *poisoned.into_inner(),
        };
        known.is_some_and(|known| known != created)
    }

    fn remember_stream(&self, created: i128) {
        match self.stream_created.lock() {
            Ok(mut k) => *k = Some(created),
            Err(poisoned) => *poisoned.into_inner() = Some(created),
        }
    }

    /// What this replica holds in its database, as changes: nodes and routes, and with
    /// `everything` the settings sections and keys too.
    async fn local_state(&self, everything: bool) -> anyhow::Result<Vec<Change>> {
        let store = &self.applier.store;
        let mut local: Vec<Change> = Vec::new();
        for row in store.list_nodes().await? {
            local.push(Change::Node {
                name: row.name.clone(),
                row: Some(row),
            });
        }
        for row in store.list_routes().await? {
            local.push(Change::Route {
                alias: row.alias.clone(),
                route: Some(row.to_config()?),
            });
        }
        if everything {
            for section in SECTIONS {
                if let Some(text) = store.get_setting(section).await? {
                    local.push(Change::Setting {
                        section: section.to_owned(),
                        value: serde_json::from_str(&text)?,
                    });
                }
            }
            for row in store.list_keys().await? {
                local.push(Change::Key { row });
            }
        }
        Ok(local)
    }

    /// Writes every entity of `local` the bucket does not hold yet (create-only: another
    /// replica seeding at the same moment wins for that key, with the same fleet state).
    async fn seed(&self, bucket: &kv::Store, local: &[Change]) -> anyhow::Result<()> {
        for change in local {
            if let Some(value) = value_of(change, "seed", &self.cluster.replica)? {
                let _ = bucket.create(key_of(change), value.into()).await;
            }
        }
        tracing::info!(entities = local.len(), "seeded the cluster's config bucket");
        Ok(())
    }

    /// The server lost the bucket (restarted with an empty store) while this replica had
    /// applied revisions of it: the bucket is rebuilt from what this replica applied, and
    /// the revisions it compares against start again from the new bucket's.
    async fn reseed(&self, bucket: &kv::Store) -> anyhow::Result<()> {
        tracing::warn!(
            applied = self.applied(),
            "the cluster's config bucket was lost; rebuilding it from this replica's database"
        );
        let local = self.local_state(true).await?;
        self.seed(bucket, &local).await?;
        match self.revisions.lock() {
            Ok(mut r) => r.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
        }
        self.applied.send_replace(0);
        self.cluster
            .applied
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.applier.store.put_meta(APPLIED_KEY, "0").await?;
        Ok(())
    }

    /// A replica's first contact with the cluster: an empty bucket is seeded from this
    /// replica's database (its file seeds, or what it held standalone); otherwise the bucket
    /// is the truth, and local nodes and routes it does not hold are removed.
    async fn join(&self, bucket: &kv::Store) -> anyhow::Result<()> {
        let mut keys = bucket.keys().await?;
        let mut present = Vec::new();
        while let Some(key) = keys.next().await {
            present.push(key?);
        }
        if present.is_empty() {
            let local = self.local_state(true).await?;
            return self.seed(bucket, &local).await;
        }
        for change in self.local_state(false).await? {
            let key = key_of(&change);
            if !present.contains(&key) {
                let removal = match change {
                    Change::Node { name, .. } => Change::Node { name, row: None },
                    Change::Route { alias, .. } => Change::Route { alias, route: None },
                    other => other,
                };
                if let Err(error) = self.applier.apply(&removal, "cluster".into()).await {
                    tracing::warn!(%error, %key, "cannot drop a local entity the cluster lacks");
                }
            }
        }
        Ok(())
    }

    async fn apply(&self, entry: &kv::Entry) {
        let value = match entry.operation {
            Operation::Put => Some(&entry.value[..]),
            Operation::Delete | Operation::Purge => None,
        };
        match change_of(&entry.key, value) {
            Some((change, actor, _origin)) => {
                let actor = if actor.is_empty() { "cluster" } else { &actor };
                let origin = Origin {
                    actor,
                    revision: i64::try_from(entry.revision).ok(),
                };
                if let Err(error) = self.applier.apply(&change, origin).await {
                    // A change this replica cannot apply must not stop the ones after it.
                    metrics::counter!(m::CLUSTER_APPLY_ERRORS).increment(1);
                    tracing::error!(%error, key = %entry.key, revision = entry.revision,
                        "cannot apply a cluster config change; skipping it");
                }
            }
            None => tracing::debug!(key = %entry.key, "ignoring an unknown bucket key"),
        }
        self.set_revision(&entry.key, entry.revision);
        if let Err(error) = self
            .applier
            .store
            .put_meta(APPLIED_KEY, &entry.revision.to_string())
            .await
        {
            tracing::warn!(%error, "cannot store the applied cluster revision");
        }
        self.applied.send_replace(entry.revision);
        self.cluster
            .applied
            .store(entry.revision, std::sync::atomic::Ordering::Relaxed);
        metrics::gauge!(m::CLUSTER_REVISION).set(entry.revision as f64);
    }
}

/// When the bucket's stream was made (its identity: a stream made anew after the server
/// lost its store has another) and its last revision, read fresh from the server.
async fn stream_identity(js: &jetstream::Context, name: &str) -> anyhow::Result<(i128, u64)> {
    let mut stream = js.get_stream(format!("KV_{name}")).await?;
    let info = stream.info().await?;
    Ok((
        info.created.unix_timestamp_nanos(),
        info.state.last_sequence,
    ))
}

/// The bucket, made if missing. Made as its stream directly: `create_key_value` first reads
/// the account's JetStream info, whose shape differs in the nats-server 2.9 that Debian ships
/// (async-nats cannot parse it), while the stream API is the same. The stream is what a KV
/// bucket is: per-subject history, rollups, direct gets, no deletes of its messages.
pub async fn open_bucket(js: &jetstream::Context, name: &str) -> anyhow::Result<kv::Store> {
    if let Ok(bucket) = js.get_key_value(name).await {
        return Ok(bucket);
    }
    let made = js
        .create_stream(jetstream::stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: HISTORY,
            discard: jetstream::stream::DiscardPolicy::New,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            ..Default::default()
        })
        .await;
    if let Err(error) = made {
        // Another replica may have made it at the same moment.
        tracing::debug!(%error, "creating the config bucket");
    }
    Ok(js.get_key_value(name).await?)
}

/// A failure after the request was handed to the client. Only NATS's "no responders" (the
/// server itself answered that nothing takes the subject) proves the change was not applied,
/// so only it is a 503; a timeout leaves the outcome open.
fn unsent_or_unconfirmed(key: &str, message: String) -> WriteError {
    if message.contains("no responders") {
        WriteError::Unavailable
    } else if message.contains("timed out") {
        WriteError::Unconfirmed(key.to_owned())
    } else {
        WriteError::Failed(message)
    }
}
