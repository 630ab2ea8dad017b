//! Who is in the cluster: each replica heartbeats its status, and each keeps the peers it
//! heard from within `peer_timeout`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// What a replica says of itself, every heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Heartbeat {
    pub id: String,
    /// Where its HTTP API listens.
    pub address: String,
    pub version: String,
    /// The last config revision it applied.
    pub revision: u64,
    pub uptime_s: u64,
    /// Requests it is serving now.
    pub in_flight: u64,
    /// Its traffic over the last heartbeat interval.
    #[serde(default)]
    pub load: crate::headline::Rates,
    /// Connected to NATS (always true in a heartbeat; false when a status reply says so).
    #[serde(default = "yes")]
    pub connected: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default)]
pub struct Membership {
    peers: HashMap<String, (Instant, Heartbeat)>,
}

impl Membership {
    /// Notes a heartbeat; true when the peer is new.
    pub fn heard(&mut self, beat: Heartbeat, now: Instant) -> bool {
        self.peers.insert(beat.id.clone(), (now, beat)).is_none()
    }

    /// Forgets peers silent for `timeout`; returns their ids.
    pub fn expire(&mut self, now: Instant, timeout: std::time::Duration) -> Vec<String> {
        let gone: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, (at, _))| now.duration_since(*at) >= timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            self.peers.remove(id);
        }
        gone
    }

    /// The live peers (this replica included once it hears its own heartbeat), by id.
    pub fn live(&self) -> Vec<Heartbeat> {
        let mut live: Vec<Heartbeat> = self.peers.values().map(|(_, b)| b.clone()).collect();
        live.sort_by(|a, b| a.id.cmp(&b.id));
        live
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn beat(id: &str) -> Heartbeat {
        Heartbeat {
            id: id.into(),
            address: "127.0.0.1:1".into(),
            version: "0".into(),
            revision: 0,
            uptime_s: 0,
            in_flight: 0,
            load: Default::default(),
            connected: true,
        }
    }

    #[test]
    fn silent_peers_expire() {
        let mut members = Membership::default();
        let t0 = Instant::now();
        assert!(members.heard(beat("a"), t0));
        assert!(members.heard(beat("b"), t0));
        assert!(!members.heard(beat("a"), t0 + Duration::from_secs(4)));
        let gone = members.expire(t0 + Duration::from_secs(5), Duration::from_secs(5));
        assert_eq!(gone, vec!["b".to_owned()]);
        assert_eq!(members.live().len(), 1);
    }
}
