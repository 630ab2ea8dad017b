//! Cluster-wide `max_concurrency`: a node's slots are keys of a JetStream key-value bucket
//! (`drover-<cluster>-slots`), `node.<name>.<i>` for i below the limit. Taking a slot is
//! creating its key (which fails if another replica holds it), freeing it is deleting it, so
//! the fleet together never runs more than the limit on the node. Only nodes with a limit pay
//! for it: one JetStream round trip per try (well under a millisecond on a LAN), against
//! requests that run for seconds. A replica that dies holding slots is cleaned up by the
//! lowest-named live replica once it drops out of membership. With NATS unreachable, slots
//! fall back to each replica's own count (the fleet may then exceed the limit).

use std::sync::Arc;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;
use tokio::sync::Notify;

use super::{
    bridge::Cluster,
    kv_keys::{encode, Kind},
};

pub struct Slots {
    cluster: Arc<Cluster>,
    bucket: kv::Store,
    /// Woken whenever a slot is freed anywhere in the fleet.
    pub freed: Notify,
    /// The task following frees, stopped at shutdown while the runtime still runs.
    follower: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A slot held by this replica; freed when dropped.
pub struct SlotGuard {
    held: Option<(Arc<Slots>, String, u64)>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some((slots, key, revision)) = self.held.take() {
            // Leases drop on HTTP worker threads, each an actix runtime.
            actix_rt::spawn(async move {
                if let Err(error) = slots
                    .bucket
                    .delete_expect_revision(&key, Some(revision))
                    .await
                {
                    tracing::warn!(%error, %key, "cannot free a cluster slot; it is freed when this replica leaves");
                }
            });
        }
    }
}

fn bucket_name(cluster: &str) -> String {
    format!("drover-{cluster}-slots")
}

impl Slots {
    /// Opens the slots bucket in the background, once NATS answers (a replica must start and
    /// serve while NATS is away), and hands it to the router; until then limits hold per
    /// replica.
    pub fn start(cluster: Arc<Cluster>, router: Arc<crate::routing::Router>) {
        actix_rt::spawn(async move {
            loop {
                if cluster.connected() {
                    match Slots::open(cluster.clone()).await {
                        Ok(slots) => {
                            let _ = router.slots.set(slots);
                            return;
                        }
                        Err(error) => tracing::warn!(%error, "cannot open the slots bucket yet"),
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        });
    }

    /// Opens (or makes) the slots bucket and follows its frees.
    async fn open(cluster: Arc<Cluster>) -> anyhow::Result<Arc<Slots>> {
        let js = jetstream::new(cluster.client.clone());
        let name = bucket_name(&cluster.name);
        let bucket = match js.get_key_value(&name).await {
            Ok(bucket) => bucket,
            Err(_) => {
                let made = js
                    .create_stream(jetstream::stream::Config {
                        name: format!("KV_{name}"),
                        subjects: vec![format!("$KV.{name}.>")],
                        max_messages_per_subject: 1,
                        discard: jetstream::stream::DiscardPolicy::New,
                        allow_rollup: true,
                        deny_delete: true,
                        allow_direct: true,
                        storage: jetstream::stream::StorageType::Memory,
                        ..Default::default()
                    })
                    .await;
                if let Err(error) = made {
                    tracing::debug!(%error, "creating the slots bucket");
                }
                js.get_key_value(&name).await?
            }
        };
        let slots = Arc::new(Slots {
            cluster,
            bucket,
            freed: Notify::new(),
            follower: std::sync::Mutex::new(None),
        });
        let follower = slots.clone();
        let task = actix_rt::spawn(async move { follower.follow().await });
        if let Ok(mut slot) = slots.follower.lock() {
            *slot = Some(task);
        }
        Ok(slots)
    }

    /// Stops following frees (its NATS subscription must go while the runtime runs).
    pub async fn shutdown(&self) {
        let task = match self.follower.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    async fn follow(&self) {
        loop {
            if let Ok(mut watch) = self.bucket.watch_all().await {
                while let Some(Ok(entry)) = watch.next().await {
                    if entry.operation != kv::Operation::Put {
                        self.freed.notify_waiters();
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// Takes one of `max` slots of `node`: `Some` when taken (or when NATS is unreachable,
    /// then uncoordinated), `None` when the fleet holds them all.
    pub async fn try_take(self: &Arc<Self>, node: &str, max: u32) -> Option<SlotGuard> {
        if !self.cluster.connected() {
            return Some(SlotGuard { held: None });
        }
        let base = encode(Kind::Node, node);
        // Start at a random slot so replicas do not all race for slot 0.
        let first = fastrand::u32(..max.max(1));
        for i in 0..max {
            let key = format!("{base}.{}", (first + i) % max);
            match self
                .bucket
                .create(&key, self.cluster.replica.clone().into())
                .await
            {
                Ok(revision) => {
                    return Some(SlotGuard {
                        held: Some((self.clone(), key, revision)),
                    })
                }
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => continue,
                Err(error) => {
                    tracing::warn!(%error, "cluster slots unreachable; counting locally");
                    return Some(SlotGuard { held: None });
                }
            }
        }
        None
    }

    /// Frees the slots a replica that left still held.
    pub async fn release_all_of(&self, replica: &str) {
        let Ok(mut keys) = self.bucket.keys().await else {
            return;
        };
        while let Some(Ok(key)) = keys.next().await {
            if let Ok(Some(entry)) = self.bucket.entry(key.clone()).await {
                if entry.operation == kv::Operation::Put && entry.value == replica.as_bytes() {
                    let _ = self
                        .bucket
                        .delete_expect_revision(&key, Some(entry.revision))
                        .await;
                    tracing::info!(%key, %replica, "freed a slot of a replica that left");
                }
            }
        }
    }
}
