//! Replicas in a cluster over a real nats-server: they find each other, notice a replica that
//! leaves, and keep serving while NATS is down, reconnecting when it returns.

use std::time::Duration;

use drover::server::{spawn, RunningServer};
use drover_loadtest::mock::{MockConfig, MockUpstream};
use serde_json::Value;

use crate::{
    harness::{client, test_config},
    nats::NatsServer,
};

fn replica(nats: &NatsServer, cluster: &str, name: &str, node: &MockUpstream) -> RunningServer {
    let mut config = test_config(&[node]);
    let dir = tempfile::tempdir().unwrap().keep();
    config.database_url = format!("sqlite://{}/drover.db", dir.display());
    config.replica = name.to_owned();
    config.cluster.nats_url = nats.url();
    config.cluster.name = cluster.to_owned();
    config.cluster.heartbeat = Duration::from_millis(100);
    config.cluster.peer_timeout = Duration::from_millis(600);
    spawn(config).unwrap()
}

async fn ready(server: &RunningServer) -> Value {
    let mut res = client()
        .get(format!("{}/readyz", server.url()))
        .send()
        .await
        .unwrap();
    res.json::<Value>().await.unwrap()
}

/// Polls a replica's `/readyz` until `check` holds on its cluster details (10 s at most).
async fn wait_cluster(server: &RunningServer, what: &str, check: impl Fn(&Value) -> bool) {
    for _ in 0..200 {
        let body = ready(server).await;
        if check(&body["cluster"]) {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{what}: never happened; last {}",
        ready(server).await["cluster"]
    );
}

fn ids(cluster: &Value) -> Vec<String> {
    cluster["replicas"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[actix_rt::test]
async fn replicas_find_each_other_and_survive_nats_outages() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let a = replica(&nats, "c1", "ra", &node);
    let b = replica(&nats, "c1", "rb", &node);
    let c = replica(&nats, "c1", "rc", &node);
    // Another cluster on the same NATS is not seen.
    let other = replica(&nats, "c2", "rx", &node);
    for server in [&a, &b, &c] {
        wait_cluster(server, "three replicas", |c| {
            c["connected"] == true && ids(c) == ["ra", "rb", "rc"]
        })
        .await;
    }
    wait_cluster(&other, "alone in c2", |c| ids(c) == ["rx"]).await;

    // A replica that stops is dropped by the others within the peer timeout.
    drop(c);
    wait_cluster(&a, "rc dropped", |c| ids(c) == ["ra", "rb"]).await;

    // NATS down: replicas say so and keep serving.
    nats.stop();
    wait_cluster(&a, "disconnected", |c| c["connected"] == false).await;
    let reply = client()
        .post(format!("{}/api/chat", a.url()))
        .send_json(&serde_json::json!({"model": "m", "stream": false,
            "messages": [{"role": "user", "content": "hi"}]}))
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    // Back: they reconnect and hear each other again.
    nats.restart();
    for server in [&a, &b] {
        wait_cluster(server, "reconnected", |c| {
            c["connected"] == true && ids(c) == ["ra", "rb"]
        })
        .await;
    }
    let metrics = client()
        .get(format!("{}/metrics", a.url()))
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("drover_cluster_nats_connected 1"),
        "{metrics}"
    );
    assert!(metrics.contains("drover_cluster_messages_total{direction=\"in\"}"));
}
