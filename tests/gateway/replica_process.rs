//! A cluster replica as its own process (the real binary): its `/metrics` are its own, not
//! shared with other in-process servers, and its exit on SIGTERM can be watched.

use std::{
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use drover_loadtest::mock::{MockConfig, MockUpstream};
use serde_json::json;

use crate::{
    harness::client,
    nats::NatsServer,
    process::{drover, free_port},
};

const TOKEN: &str = "process-admin-token";

/// A `drover serve` child in cluster `cluster` on `nats`, its database in `db`; killed when
/// dropped.
pub struct Replica {
    child: Child,
    pub base: String,
}

impl Replica {
    pub async fn start(nats: &NatsServer, db: &std::path::Path, node: &MockUpstream) -> Replica {
        let port = free_port();
        let child = drover()
            .env(
                "DROVER_DATABASE_URL",
                format!("sqlite://{}/drover.db", db.display()),
            )
            .env("DROVER_REPLICA", "solo")
            .env("DROVER_AUTH__ADMIN_TOKEN", TOKEN)
            .env("DROVER_CLUSTER__NATS_URL", nats.url())
            .env("DROVER_CLUSTER__NAME", "proc")
            .env("DROVER_CLUSTER__HEARTBEAT", "100ms")
            .env("DROVER_CLUSTER__PEER_TIMEOUT", "500ms")
            .env("DROVER_LIMITS__SHUTDOWN_GRACE", "2s")
            .args(["serve", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--node")
            .arg(format!("a={}", node.url()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let replica = Replica {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..400 {
            if let Ok(res) = client()
                .get(format!("{}/readyz", replica.base))
                .send()
                .await
            {
                if res.status() == 200 {
                    return replica;
                }
            }
            actix_rt::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the replica never became ready");
    }

    pub async fn metrics(&self) -> String {
        let mut res = client()
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        String::from_utf8(res.body().await.unwrap().to_vec()).unwrap()
    }

    /// The value of the series `series` (name and labels as rendered), if exported.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// Polls until `series` has a value `check` accepts (10 s at most).
    pub async fn wait_metric(&self, series: &str, check: impl Fn(f64) -> bool) {
        for _ in 0..200 {
            if self.metric(series).await.is_some_and(&check) {
                return;
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{series}: never as expected; last {:?}",
            self.metric(series).await
        );
    }

    pub async fn set_weight(&self, node: &MockUpstream, weight: u32) -> u16 {
        client()
            .put(format!("{}/admin/api/nodes/a", self.base))
            .insert_header(("authorization", format!("Bearer {TOKEN}")))
            .send_json(&json!({"url": node.url(), "weight": weight}))
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end, `bound` at most; how it ended, if it did.
    pub fn exited_within(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counters still at zero are exported (as 0), the applied revision is known right after a
/// restart, and the replica count says what a replica can know: while NATS is gone, itself.
#[actix_rt::test]
async fn metrics_are_exported_from_the_start_and_say_what_the_replica_knows() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let db = tempfile::tempdir().unwrap();
    let replica = Replica::start(&nats, db.path(), &node).await;
    let text = replica.metrics().await;
    for series in [
        "drover_request_log_dropped_total{reason=\"queue_full\"} 0",
        "drover_request_log_dropped_total{reason=\"shutdown\"} 0",
        "drover_queue_timeouts_total 0",
        "drover_queue_waits_total 0",
        "drover_cluster_apply_errors_total 0",
        "drover_stream_errors_total{node=\"a\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == series),
            "{series} missing:\n{text}"
        );
    }
    replica
        .wait_metric("drover_cluster_replicas", |n| n == 1.0)
        .await;
    // The first write waits for the replica to have joined the bucket.
    let mut status = 0;
    for _ in 0..100 {
        status = replica.set_weight(&node, 5).await;
        if status == 200 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    replica
        .wait_metric("drover_cluster_applied_revision", |r| r >= 1.0)
        .await;
    let revision = replica
        .metric("drover_cluster_applied_revision")
        .await
        .unwrap();
    drop(replica);

    // Restarted on its database: the revision it applied is exported before any change.
    let replica = Replica::start(&nats, db.path(), &node).await;
    assert_eq!(
        replica.metric("drover_cluster_applied_revision").await,
        Some(revision)
    );
    assert_eq!(
        replica.metric("drover_cluster_revision_lag").await,
        Some(0.0)
    );

    // NATS gone: the replica knows of itself only, for as long as it lasts.
    nats.stop();
    replica
        .wait_metric("drover_cluster_nats_connected", |c| c == 0.0)
        .await;
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(replica.metric("drover_cluster_replicas").await, Some(1.0));
}

/// SIGTERM with NATS unreachable still ends the process: leaving the cluster (its flush of
/// unsent messages) is bounded, not waited on until NATS returns.
#[actix_rt::test]
async fn sigterm_exits_while_nats_is_unreachable() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let db = tempfile::tempdir().unwrap();
    let mut replica = Replica::start(&nats, db.path(), &node).await;
    replica
        .wait_metric("drover_cluster_nats_connected", |c| c == 1.0)
        .await;
    nats.stop();
    replica
        .wait_metric("drover_cluster_nats_connected", |c| c == 0.0)
        .await;
    // Something for the NATS client to hold unsent: a write (refused with 503) and heartbeats.
    let _ = replica.set_weight(&node, 4).await;
    replica.sigterm();
    // Grace is 2 s; the bound is generous, the point is that it exits at all.
    let status = replica
        .exited_within(Duration::from_secs(30))
        .expect("still running 30 s after SIGTERM with NATS down");
    assert!(status.success(), "{status:?}");
}
