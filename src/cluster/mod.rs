//! The cluster over NATS: replicas that share a cluster name find each other by heartbeats
//! (`drover.<cluster>.replicas`) and, in later parts, share config and pool state. Without
//! `[cluster]` a replica runs standalone and none of this starts.

pub mod bridge;
pub mod config_sync;
pub mod connect;
pub mod kv_keys;
pub mod membership;
pub mod probe_owner;
pub mod publish;
pub mod slots;
pub mod wire;

pub use bridge::{Cluster, ClusterStatus};

/// The subject of one kind of cluster message.
pub fn subject(cluster: &str, kind: &str) -> String {
    format!("drover.{cluster}.{kind}")
}
