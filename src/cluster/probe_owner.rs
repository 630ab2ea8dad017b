//! Who probes which node: each node is probed by one owner among the live replicas, chosen by
//! rendezvous (highest random weight) hashing. Every replica computes the same owner from the
//! same membership without asking anyone, and when a replica leaves only the nodes it owned
//! move, each to the replica that scores next highest for it.

use sha2::{Digest, Sha256};

/// The replica (of `live`) that probes `node`; `None` when `live` is empty.
pub fn owner<'a>(node: &str, live: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    live.into_iter()
        .max_by_key(|replica| (score(replica, node), *replica))
}

/// A stable pseudo-random weight of one (replica, node) pair.
fn score(replica: &str, node: &str) -> u64 {
    stable_hash(&[replica, node])
}

/// A hash of `parts` that every replica computes alike. SHA-256 rather than std's hasher:
/// replicas of different builds (a rolling upgrade) must agree on it.
pub(crate) fn stable_hash(parts: &[&str]) -> u64 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_replica_agrees_and_the_order_does_not_matter() {
        let replicas = ["ra", "rb", "rc"];
        let reversed = ["rc", "rb", "ra"];
        for node in ["a", "b", "gpu-1", "gpu-2"] {
            assert_eq!(owner(node, replicas), owner(node, reversed));
        }
        assert_eq!(owner("a", []), None);
    }

    #[test]
    fn nodes_spread_and_only_the_leavers_nodes_move() {
        let replicas = ["ra", "rb", "rc"];
        let nodes: Vec<String> = (0..300).map(|i| format!("node-{i}")).collect();
        let before: Vec<&str> = nodes.iter().map(|n| owner(n, replicas).unwrap()).collect();
        for replica in replicas {
            let share = before.iter().filter(|o| **o == replica).count();
            assert!((60..=140).contains(&share), "{replica} owns {share} of 300");
        }
        let after: Vec<&str> = nodes
            .iter()
            .map(|n| owner(n, ["ra", "rc"]).unwrap())
            .collect();
        for (was, now) in before.iter().zip(&after) {
            if *was != "rb" {
                assert_eq!(was, now, "a node moved though its owner stayed");
            }
        }
    }
}
