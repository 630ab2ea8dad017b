//! Replicas in a cluster over a real nats-server: they find each other, notice a replica that
//! leaves, and keep serving while NATS is down, reconnecting when it returns.

use std::time::Duration;

use drover::server::{spawn, RunningServer};
use drover_loadtest::mock::{MockConfig, MockUpstream};
use serde_json::Value;

use crate::{
    harness::{client, test_config},
    nats::{NatsRelay, NatsServer},
};

fn replica(nats: &NatsServer, cluster: &str, name: &str, node: &MockUpstream) -> RunningServer {
    let dir = tempfile::tempdir().unwrap().keep();
    replica_at(&nats.url(), cluster, name, node, &dir)
}

/// A replica on NATS at `url` keeping its SQLite database in `dir` (to restart it there).
fn replica_at(
    url: &str,
    cluster: &str,
    name: &str,
    node: &MockUpstream,
    dir: &std::path::Path,
) -> RunningServer {
    let mut config = test_config(&[node]);
    config.database_url = format!("sqlite://{}/drover.db", dir.display());
    config.replica = name.to_owned();
    config.auth.admin_token = TOKEN.into();
    config.cluster.nats_url = url.to_owned();
    config.cluster.name = cluster.to_owned();
    config.cluster.heartbeat = Duration::from_millis(100);
    config.cluster.peer_timeout = Duration::from_millis(600);
    spawn(config).unwrap()
}

const TOKEN: &str = "cluster-admin-token";

/// A replica of cluster `cluster` over `nodes`, with its own SQLite database, the admin token,
/// a 200 ms heartbeat and a 2 s peer timeout, adjusted by `tweak`.
fn member(
    nats: &NatsServer,
    cluster: &str,
    name: &str,
    nodes: &[&MockUpstream],
    tweak: impl FnOnce(&mut drover::config::Config),
) -> RunningServer {
    let mut config = test_config(nodes);
    let dir = tempfile::tempdir().unwrap().keep();
    config.database_url = format!("sqlite://{}/drover.db", dir.display());
    config.replica = name.to_owned();
    config.auth.admin_token = TOKEN.into();
    config.cluster.nats_url = nats.url();
    config.cluster.name = cluster.to_owned();
    config.cluster.heartbeat = Duration::from_millis(200);
    config.cluster.peer_timeout = Duration::from_secs(2);
    tweak(&mut config);
    spawn(config).unwrap()
}

/// An admin call on one replica: status and JSON body.
async fn admin(
    server: &RunningServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}/admin/api{path}", server.url());
    let req = match method {
        "GET" => client().get(url),
        "POST" => client().post(url),
        "PUT" => client().put(url),
        _ => client().delete(url),
    }
    .insert_header(("authorization", format!("Bearer {TOKEN}")));
    let mut res = match body {
        Some(body) => req.send_json(&body).await.unwrap(),
        None => req.send().await.unwrap(),
    };
    let status = res.status().as_u16();
    let body = res.body().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn revision(server: &RunningServer) -> u64 {
    ready(server).await["cluster"]["revision"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits until `server` applied `at least` revision `rev` (10 s at most).
async fn wait_revision(server: &RunningServer, rev: u64) {
    for _ in 0..2000 {
        if revision(server).await >= rev {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("revision {rev} never reached {}", server.url());
}

async fn weight_of(server: &RunningServer, node: &str) -> Option<i64> {
    let (status, body) = admin(server, "GET", &format!("/nodes/{node}"), None).await;
    (status == 200).then(|| body["weight"].as_i64()).flatten()
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

/// A change made on one replica is applied by the others; propagation is measured.
#[actix_rt::test]
async fn changes_propagate_and_stale_writes_conflict() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let servers = [
        replica(&nats, "cfg", "ra", &node),
        replica(&nats, "cfg", "rb", &node),
        replica(&nats, "cfg", "rc", &node),
    ];
    for server in &servers {
        wait_cluster(server, "connected", |c| ids(c).len() == 3).await;
    }
    // A node added on A serves requests on B and C.
    let extra = MockUpstream::start(MockConfig::named("extra", &["only-here:latest"])).unwrap();
    let (status, _) = admin(
        &servers[0],
        "POST",
        "/nodes",
        Some(serde_json::json!({"name": "extra", "url": extra.url()})),
    )
    .await;
    assert_eq!(status, 201);
    let rev = revision(&servers[0]).await;
    for server in &servers[1..] {
        wait_revision(server, rev).await;
        assert_eq!(weight_of(server, "extra").await, Some(1));
    }

    // Propagation over 100 changes, from the writer's answer to the others' application.
    let mut took = Vec::new();
    for i in 0..100 {
        let writer = &servers[i % 3];
        let body = serde_json::json!({"url": extra.url(), "weight": i + 2});
        let (status, _) = admin(writer, "PUT", "/nodes/extra", Some(body)).await;
        assert_eq!(status, 200);
        let rev = revision(writer).await;
        let started = std::time::Instant::now();
        for server in &servers {
            wait_revision(server, rev).await;
        }
        took.push(started.elapsed());
    }
    took.sort();
    println!(
        "config propagation over 100 changes, 3 replicas: p50 {:?} p99 {:?} max {:?}",
        took[49], took[98], took[99]
    );
    for server in &servers {
        assert_eq!(weight_of(server, "extra").await, Some(101));
    }

    // Two writes of one node at once, on two replicas: one wins, the other gets 409, and
    // every replica ends on the winner's value.
    let mut conflicts = 0;
    for round in 0..5 {
        let body =
            |w: usize| serde_json::json!({"url": extra.url(), "weight": 1000 + 10 * round + w});
        let (a, b) = tokio::join!(
            admin(&servers[0], "PUT", "/nodes/extra", Some(body(1))),
            admin(&servers[1], "PUT", "/nodes/extra", Some(body(2))),
        );
        let statuses = [a.0, b.0];
        assert!(statuses.contains(&200), "{statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 409),
            "{statuses:?}"
        );
        if statuses.contains(&409) {
            conflicts += 1;
            let loser = if a.0 == 409 { &a.1 } else { &b.1 };
            assert!(
                loser["error"]
                    .as_str()
                    .unwrap()
                    .contains("changed meanwhile"),
                "{loser}"
            );
        }
        let rev = std::cmp::max(revision(&servers[0]).await, revision(&servers[1]).await);
        for server in &servers {
            wait_revision(server, rev).await;
        }
        let weights: Vec<_> =
            futures_util::future::join_all(servers.iter().map(|s| weight_of(s, "extra"))).await;
        assert!(weights.iter().all(|w| *w == weights[0]), "{weights:?}");
    }
    assert!(conflicts > 0, "concurrent writes never conflicted");
}

/// NATS down: requests keep flowing, admin writes get 503; a replica cut off, and one
/// restarted, catch up on what they missed.
#[actix_rt::test]
async fn replicas_catch_up_after_outages() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let relay = NatsRelay::start(&nats);
    let dir_c = tempfile::tempdir().unwrap();
    let a = replica(&nats, "up", "ra", &node);
    let b = replica_at(
        &relay.url(),
        "up",
        "rb",
        &node,
        &tempfile::tempdir().unwrap().keep(),
    );
    let c = replica_at(&nats.url(), "up", "rc", &node, dir_c.path());
    for server in [&a, &b, &c] {
        wait_cluster(server, "connected", |c| ids(c).len() == 3).await;
    }
    let node_url = node.url();
    let set_weight = |server, w: u32| {
        let body = serde_json::json!({"url": node_url.clone(), "weight": w});
        async move { admin(server, "PUT", "/nodes/a", Some(body)).await.0 }
    };

    // B cut off: A's changes wait for it; it catches up once back.
    relay.cut();
    wait_cluster(&b, "b cut off", |c| c["connected"] == false).await;
    assert_eq!(set_weight(&a, 7).await, 200);
    assert_eq!(
        set_weight(&b, 8).await,
        503,
        "a cut-off replica takes no writes"
    );
    relay.restore();
    let rev = revision(&a).await;
    wait_revision(&b, rev).await;
    assert_eq!(weight_of(&b, "a").await, Some(7));

    // C stopped; changes meanwhile; C restarted on its database catches up.
    c.stop();
    assert_eq!(set_weight(&a, 9).await, 200);
    let rev = revision(&a).await;
    let c = replica_at(&nats.url(), "up", "rc", &node, dir_c.path());
    wait_revision(&c, rev).await;
    assert_eq!(weight_of(&c, "a").await, Some(9));

    // NATS down under load: no request fails; writes get 503 naming the cause.
    let load = async {
        let mut failed = 0;
        for _ in 0..60 {
            let reply = client()
                .post(format!("{}/api/chat", a.url()))
                .send_json(&serde_json::json!({"model": "m", "stream": false,
                    "messages": [{"role": "user", "content": "hi"}]}))
                .await;
            if !matches!(reply, Ok(ref r) if r.status() == 200) {
                failed += 1;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        failed
    };
    let outage = async {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
        nats.stop();
        wait_cluster(&a, "a disconnected", |c| c["connected"] == false).await;
        let (status, body) = admin(
            &a,
            "PUT",
            "/nodes/a",
            Some(serde_json::json!({"url": node.url(), "weight": 3})),
        )
        .await;
        (status, body)
    };
    let (failed, (status, body)) = tokio::join!(load, outage);
    assert_eq!(failed, 0);
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("NATS"), "{body}");
    nats.restart();
    wait_cluster(&a, "a back", |c| c["connected"] == true).await;
    // Back: writes work again and reach everyone.
    let mut status = 0;
    for _ in 0..50 {
        status = set_weight(&a, 11).await;
        if status == 200 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    let rev = revision(&a).await;
    for server in [&b, &c] {
        wait_revision(server, rev).await;
        assert_eq!(weight_of(server, "a").await, Some(11));
    }
}

/// NATS restarted with an empty store: the replicas rebuild the config bucket from what they
/// applied, and a change to an existing node works again on either replica and reaches the
/// other (issue 12 #3).
#[actix_rt::test]
async fn replicas_rebuild_a_config_bucket_nats_lost() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let extra = MockUpstream::start(MockConfig::named("extra", &["x:latest"])).unwrap();
    let servers = [
        replica(&nats, "lost", "ra", &node),
        replica(&nats, "lost", "rb", &node),
    ];
    for server in &servers {
        wait_cluster(server, "connected", |c| {
            ids(c).len() == 2 && c["revision"] != 0
        })
        .await;
    }
    let (status, _) = admin(
        &servers[0],
        "POST",
        "/nodes",
        Some(serde_json::json!({"name": "extra", "url": extra.url()})),
    )
    .await;
    assert_eq!(status, 201);
    wait_revision(&servers[1], revision(&servers[0]).await).await;

    nats.stop();
    nats.wipe();
    nats.restart();
    // The bucket lists every node again (polled: 10 s at most).
    let mut shown = Value::Null;
    for _ in 0..50 {
        let (ok, text) = config_cli(&nats, "lost", &["show", "--json"]).await;
        shown = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
        if ok && shown.get("node.a").is_some() && shown.get("node.extra").is_some() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        shown.get("node.a").is_some() && shown.get("node.extra").is_some(),
        "the bucket was not rebuilt: {shown}"
    );
    // A change to an existing node succeeds on either replica and reaches the other; 503
    // while a replica is still rebuilding is a refusal to retry, anything else a failure.
    for (i, writer) in servers.iter().enumerate() {
        let weight = 5 + i as i64;
        let body = serde_json::json!({"url": extra.url(), "weight": weight});
        let mut answer = (0, Value::Null);
        for _ in 0..50 {
            answer = admin(writer, "PUT", "/nodes/extra", Some(body.clone())).await;
            if answer.0 != 503 {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(answer.0, 200, "{}", answer.1);
        let other = &servers[1 - i];
        wait_revision(other, revision(writer).await).await;
        assert_eq!(weight_of(other, "extra").await, Some(weight));
    }
}

/// A write answered 503 never takes effect later (issue 12 #18). NATS frozen (SIGSTOP): a
/// write sent before the replica noticed gets 504 (sent, outcome open: it may still apply),
/// not 503. NATS killed: a write is refused at once with 503, unsent. Each time NATS returns,
/// no 503'd change appears on any replica (a later write, applied after anything the client
/// or the server's socket held, marks the end).
#[actix_rt::test]
async fn a_write_refused_with_503_never_takes_effect() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let (a, b) = (
        replica(&nats, "frz", "ra", &node),
        replica(&nats, "frz", "rb", &node),
    );
    for server in [&a, &b] {
        wait_cluster(server, "connected", |c| {
            ids(c).len() == 2 && c["revision"] != 0
        })
        .await;
    }
    let node_url = node.url();
    let put = |server, weight: u32| {
        let body = serde_json::json!({"url": node_url.clone(), "weight": weight});
        async move { admin(server, "PUT", "/nodes/a", Some(body)).await }
    };
    assert_eq!(put(&a, 2).await.0, 200);
    wait_revision(&b, revision(&a).await).await;
    let mut refused = Vec::new();
    // Adds node `name` on A once NATS is back (503 until then), and checks that no refused
    // weight of node a took effect on either replica.
    let settle = |name: &'static str, refused: Vec<u32>| {
        let (a, b, url) = (&a, &b, node.url());
        async move {
            let (mut status, mut body) = (0, Value::Null);
            for _ in 0..100 {
                let node = serde_json::json!({"name": name, "url": url});
                (status, body) = admin(a, "POST", "/nodes", Some(node)).await;
                if status != 503 {
                    break;
                }
                actix_rt::time::sleep(Duration::from_millis(200)).await;
            }
            assert_eq!(status, 201, "{body}");
            let rev = revision(a).await;
            for server in [a, b] {
                wait_revision(server, rev).await;
                let weight = weight_of(server, "a").await.unwrap();
                assert!(
                    !refused.contains(&(weight as u32)),
                    "a write answered 503 took effect: weight {weight} on {}",
                    server.url()
                );
            }
        }
    };

    nats.signal("STOP");
    let (status, body) = put(&a, 40).await;
    assert!(matches!(status, 503 | 504), "{status} {body}");
    if status == 503 {
        refused.push(40);
    } else {
        assert!(
            body["error"].as_str().unwrap().contains("may still"),
            "{body}"
        );
    }
    nats.signal("CONT");
    settle("marker1", refused.clone()).await;

    nats.stop();
    wait_cluster(&a, "a disconnected", |c| c["connected"] == false).await;
    let (status, body) = put(&a, 50).await;
    assert_eq!(status, 503, "{body}");
    refused.push(50);
    nats.restart();
    settle("marker2", refused).await;
}

/// Runs `drover config …` against the cluster's NATS (no replica involved) off the runtime.
async fn config_cli(nats: &NatsServer, cluster: &str, args: &[&str]) -> (bool, String) {
    let mut cmd = crate::process::drover();
    cmd.arg("config")
        .args(args)
        .args(["--nats-url", &nats.url(), "--cluster", cluster]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `drover config publish` after a NATS outage reaches every replica; show, history and
/// rollback work with NATS alone; a bad file is refused naming the field.
#[actix_rt::test]
async fn config_publish_history_and_rollback_need_only_nats() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let servers = [
        replica(&nats, "pub", "ra", &node),
        replica(&nats, "pub", "rb", &node),
    ];
    for server in &servers {
        wait_cluster(server, "connected", |c| {
            ids(c).len() == 2 && c["revision"] != 0
        })
        .await;
    }
    nats.stop();
    wait_cluster(&servers[0], "down", |c| c["connected"] == false).await;
    nats.restart();
    for server in &servers {
        wait_cluster(server, "back", |c| c["connected"] == true).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.toml");
    let publish = |text: String| {
        std::fs::write(&file, text).unwrap();
        file.to_str().unwrap().to_owned()
    };
    let fleet = publish(format!(
        "drained = []\n[[nodes]]\nname = \"a\"\nurl = \"{}\"\nweight = 21\n\
         [[routes]]\nalias = \"chat\"\ntarget_model = \"m\"\nnodes = [\"a\"]\n\
         [failover]\nattempts = 2\n",
        node.url()
    ));
    let (ok, text) = config_cli(&nats, "pub", &["publish", &fleet, "--dry-run"]).await;
    assert!(ok, "{text}");
    assert!(
        text.contains("~ node a") && text.contains("+ route chat"),
        "{text}"
    );
    assert_eq!(
        weight_of(&servers[0], "a").await,
        Some(1),
        "a dry run writes nothing"
    );
    let (ok, text) = config_cli(&nats, "pub", &["publish", &fleet]).await;
    assert!(ok && text.contains("published 3 change(s)"), "{text}");
    let revision: u64 = text
        .rsplit("revision ")
        .next()
        .and_then(|r| r.trim().parse().ok())
        .unwrap();
    for server in &servers {
        wait_revision(server, revision).await;
        assert_eq!(weight_of(server, "a").await, Some(21));
        let (status, route) = admin(server, "GET", "/routes/chat", None).await;
        assert_eq!((status, route["target_model"].clone()), (200, "m".into()));
        let (_, settings) = admin(server, "GET", "/settings", None).await;
        assert_eq!(settings["failover"]["attempts"], 2);
    }
    // Published again: nothing to do.
    let (ok, text) = config_cli(&nats, "pub", &["publish", &fleet]).await;
    assert!(ok && text.contains("nothing to change"), "{text}");

    let (ok, text) = config_cli(&nats, "pub", &["show", "--json"]).await;
    assert!(ok, "{text}");
    let shown: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(shown["node.a"]["value"]["weight"], 21, "{shown}");
    let (ok, text) = config_cli(&nats, "pub", &["history"]).await;
    assert!(
        ok && text.contains("route.chat") && text.contains("cli:"),
        "{text}"
    );

    // Back to before the publish: weight 1, no route.
    let (ok, text) = config_cli(&nats, "pub", &["rollback", &(revision - 3).to_string()]).await;
    assert!(ok, "{text}");
    assert!(text.contains("- route chat"), "{text}");
    let now = revision_after(&text);
    for server in &servers {
        wait_revision(server, now).await;
        assert_eq!(weight_of(server, "a").await, Some(1));
        assert_eq!(admin(server, "GET", "/routes/chat", None).await.0, 404);
    }

    // Bad files are refused before anything is written.
    for (text, field) in [
        ("[[nodes]]\nname = \"x\"\nurl = \"ftp://x\"\n", "url"),
        (
            "[[routes]]\nalias = \"r\"\ntarget_model = \"m\"\nnodes = [\"ghost\"]\n",
            "ghost",
        ),
        ("listen = \"0.0.0.0:1\"\n", "listen"),
        ("drained = [\"nobody\"]\n", "drained"),
    ] {
        let bad = publish(text.to_owned());
        let (ok, out) = config_cli(&nats, "pub", &["publish", &bad]).await;
        assert!(!ok && out.contains(field), "{text}: {out}");
    }
    let (ok, out) = config_cli(&nats, "nowhere", &["show"]).await;
    assert!(
        ok && out.contains("KEY"),
        "an empty cluster shows an empty table: {out}"
    );
}

fn revision_after(text: &str) -> u64 {
    text.rsplit("revision ")
        .next()
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or_else(|| panic!("no revision in {text}"))
}

/// `GET /admin/api/cluster` and `drover cluster status` gather every live replica's status
/// and traffic; a standalone replica says it is not in a cluster.
#[actix_rt::test]
async fn cluster_status_gathers_every_replica() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let servers = [
        replica(&nats, "st", "ra", &node),
        replica(&nats, "st", "rb", &node),
        replica(&nats, "st", "rc", &node),
    ];
    for server in &servers {
        wait_cluster(server, "connected", |c| ids(c).len() == 3).await;
    }
    // Traffic on A shows in its status within a heartbeat or two.
    let mut seen = Value::Null;
    for _ in 0..100 {
        for _ in 0..5 {
            client()
                .post(format!("{}/api/chat", servers[0].url()))
                .send_json(&serde_json::json!({"model": "m", "stream": false,
                    "messages": [{"role": "user", "content": "hi"}]}))
                .await
                .unwrap();
        }
        let (status, body) = admin(&servers[1], "GET", "/cluster", None).await;
        assert_eq!(status, 200, "{body}");
        seen = body;
        let a = seen["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "ra")
            .cloned()
            .unwrap_or_default();
        if seen["replicas"].as_array().unwrap().len() == 3 && a["load"]["rps"].as_f64() > Some(0.0)
        {
            break;
        }
    }
    let replicas = seen["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 3, "{seen}");
    assert!(
        replicas
            .iter()
            .all(|r| r["revision_lag"] == 0 && r["connected"] == true),
        "{seen}"
    );
    let a = replicas.iter().find(|r| r["id"] == "ra").unwrap();
    assert!(a["load"]["rps"].as_f64().unwrap() > 0.0, "{seen}");
    assert!(a["load"]["p99_ms"].as_f64().is_some(), "{seen}");

    let mut cmd = crate::process::drover();
    cmd.args([
        "cluster",
        "status",
        "--nats-url",
        &nats.url(),
        "--cluster",
        "st",
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("3 replica(s) in cluster st"), "{text}");
    for id in ["ra", "rb", "rc"] {
        assert!(text.lines().any(|l| l.starts_with(id)), "{text}");
    }
    let metrics = client()
        .get(format!("{}/metrics", servers[2].url()))
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&metrics).contains("drover_cluster_revision_lag"));

    // Standalone: not a cluster.
    let alone = crate::harness::start(&[("b", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into()
    })
    .await;
    let res = client()
        .get(alone.url("/admin/api/cluster"))
        .insert_header(("authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap();
    let body = crate::harness::read(res).await.json();
    assert_eq!(body["enabled"], false, "{body}");
}

/// A node that fails on one replica is avoided by the others within a second, though they
/// never saw it fail (their own probes are an hour apart).
#[actix_rt::test]
async fn a_node_failing_on_one_replica_is_avoided_by_all() {
    let nats = NatsServer::start();
    let a = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let b = MockUpstream::start(MockConfig::named("b", &["m:latest"])).unwrap();
    let start = |name: &str| {
        member(&nats, "obs", name, &[&a, &b], |c| {
            c.selector.strategy = drover::config::StrategyName::RoundRobin;
        })
    };
    let servers = [start("ra"), start("rb"), start("rc")];
    for server in &servers {
        wait_cluster(server, "connected", |c| ids(c).len() == 3).await;
        for _ in 0..200 {
            if ready(server).await["nodes_up"] == 2 {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(25)).await;
        }
    }
    // From now on, only requests tell a replica about a node (one change, for the fleet).
    let (status, body) = admin(
        &servers[0],
        "PUT",
        "/settings",
        Some(serde_json::json!({"health": {"interval": "1h"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rev = revision(&servers[0]).await;
    for server in &servers {
        wait_revision(server, rev).await;
    }
    // A probe already under way when the interval changed may still land: let it.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    a.set_failure(drover_loadtest::mock::Failure::Status(500));
    let chat = |server: &RunningServer| {
        client()
            .post(format!("{}/api/chat", server.url()))
            .send_json(&serde_json::json!({"model": "m", "stream": false,
                "messages": [{"role": "user", "content": "hi"}]}))
    };
    // Round robin on A reaches node a within two requests; it fails there (a 5xx) and the
    // request is served by b.
    for _ in 0..2 {
        assert_eq!(chat(&servers[0]).await.unwrap().status(), 200);
    }
    assert!(a.requests("/api/chat") >= 1);
    let failed_at = std::time::Instant::now();
    for server in &servers[1..] {
        let mut seen = false;
        for _ in 0..2000 {
            if ready(server).await["nodes"]["a"] == "suspect" {
                seen = true;
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(seen, "{} never avoided node a", server.url());
    }
    // Timings are reported, not asserted (loadtest/README.md holds the measurement).
    println!(
        "fleet avoided a failed node after {:?}",
        failed_at.elapsed()
    );
    // B and C send nothing to a now.
    let before = a.requests("/api/chat");
    for server in &servers[1..] {
        for _ in 0..4 {
            let res = chat(server).await.unwrap();
            assert_eq!(res.headers().get("x-drover-node").unwrap(), "b");
        }
    }
    assert_eq!(a.requests("/api/chat"), before);
}

/// A key's requests-per-minute limit holds across replicas, within the documented bound:
/// what the other replicas admit in one usage interval (100 ms) before they hear of it.
#[actix_rt::test]
async fn key_limits_hold_across_replicas() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let start = |name: &str| {
        member(&nats, "lim", name, &[&node], |c| {
            c.auth.mode = drover::config::AuthMode::Keys;
        })
    };
    let servers = [start("ra"), start("rb"), start("rc")];
    for server in &servers {
        wait_cluster(server, "connected", |c| {
            ids(c).len() == 3 && c["revision"] != 0
        })
        .await;
    }
    let limit = 30;
    let (status, made) = admin(
        &servers[0],
        "POST",
        "/keys",
        Some(serde_json::json!({"name": "shared", "rpm_limit": limit})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    let rev = revision(&servers[0]).await;
    for server in &servers {
        wait_revision(server, rev).await;
    }
    // Paced round robin: one request every 15 ms, so each replica takes one every 45 ms.
    let spacing = Duration::from_millis(15);
    let mut admitted = 0;
    let started = std::time::Instant::now();
    for i in 0..90 {
        let res = client()
            .post(format!("{}/api/chat", servers[i % 3].url()))
            .insert_header(("authorization", format!("Bearer {secret}")))
            .send_json(&serde_json::json!({"model": "m", "stream": false,
                "messages": [{"role": "user", "content": "hi"}]}))
            .await
            .unwrap();
        match res.status().as_u16() {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
        actix_rt::time::sleep(spacing).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "the test must stay in one minute window pair"
    );
    // Bound: the 2 other replicas may each admit what reaches them within one usage interval
    // plus delivery (~150 ms), 4 requests at this pace.
    let bound = 2 * 4;
    println!("key limit {limit}/min across 3 replicas: {admitted} admitted (overshoot {}, bound {bound})", admitted - limit);
    assert!(admitted >= limit, "{admitted}");
    assert!(
        admitted <= limit + bound,
        "{admitted} admitted, limit {limit} + bound {bound}"
    );
}

/// Replicas sharing one PostgreSQL: each finds the other's rows already written, and must
/// still bring every node into its running pool.
#[actix_rt::test]
async fn replicas_sharing_postgres_apply_every_node() {
    let nats = NatsServer::start();
    let db = crate::databases::TestDb::postgres().await;
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let start = |name: &str| {
        member(&nats, "pg", name, &[&node], |c| {
            c.database_url = db.url().to_owned();
        })
    };
    let first = start("ra");
    wait_cluster(&first, "connected", |c| c["revision"] != 0).await;
    let servers = [first, start("rb"), start("rc")];
    for server in &servers {
        wait_cluster(server, "connected", |c| ids(c).len() == 3).await;
    }
    let extra = MockUpstream::start(MockConfig::named("x", &["x:latest"])).unwrap();
    for i in 0..12 {
        let (status, body) = admin(
            &servers[0],
            "POST",
            "/nodes",
            Some(serde_json::json!({"name": format!("n{i}"), "url": extra.url()})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let rev = revision(&servers[0]).await;
    for server in &servers {
        wait_revision(server, rev).await;
        let (_, pool) = admin(server, "GET", "/pool", None).await;
        let names: Vec<_> = pool["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names.len(), 13, "{}: {names:?}", server.url());
    }
    for server in servers {
        server.stop();
    }
    db.drop_db().await;
}

/// With `max_concurrency = 2` on a node and 3 replicas, the fleet never runs more than 2
/// requests on it; the others wait their turn and are served.
#[actix_rt::test]
async fn max_concurrency_holds_across_replicas() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    node.set_latency(Duration::from_millis(150));
    let start = |name: &str| {
        member(&nats, "cap", name, &[&node], |c| {
            c.nodes[0].max_concurrency = Some(2);
        })
    };
    let servers = [start("ra"), start("rb"), start("rc")];
    for server in &servers {
        wait_cluster(server, "connected", |c| {
            ids(c).len() == 3 && c["revision"] != 0
        })
        .await;
    }
    // The slots bucket opens in the background once NATS answers.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let requests = (0..12).map(|i| {
        client()
            .post(format!("{}/api/chat", servers[i % 3].url()))
            .send_json(&serde_json::json!({"model": "m", "stream": false,
                "messages": [{"role": "user", "content": "hi"}]}))
    });
    let replies = futures_util::future::join_all(requests).await;
    for reply in replies {
        assert_eq!(reply.unwrap().status(), 200);
    }
    assert_eq!(
        node.max_in_flight(),
        2,
        "the fleet ran more than the node's limit at once"
    );
    assert_eq!(node.requests("/api/chat"), 12);
}

/// least_inflight balances on the fleet's counts: requests running on node a through one
/// replica steer another replica's requests to node b.
#[actix_rt::test]
async fn least_inflight_counts_the_peers_requests() {
    let nats = NatsServer::start();
    let a = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let b = MockUpstream::start(MockConfig::named("b", &["m:latest"])).unwrap();
    let start = |name: &str| {
        member(&nats, "inf", name, &[&a, &b], |c| {
            c.selector.strategy = drover::config::StrategyName::LeastInflight;
        })
    };
    let servers = [start("ra"), start("rb")];
    for server in &servers {
        wait_cluster(server, "connected", |c| ids(c).len() == 2).await;
    }
    // Two long requests on A, both on node a (b is made slow to answer only afterwards).
    a.set_latency(Duration::from_secs(3));
    b.set_failure(drover_loadtest::mock::Failure::Status(503));
    let chat = |server: &RunningServer| {
        client()
            .post(format!("{}/api/chat", server.url()))
            .timeout(Duration::from_secs(20))
            .send_json(&serde_json::json!({"model": "m", "stream": false,
                "messages": [{"role": "user", "content": "hi"}]}))
    };
    let held =
        async { futures_util::future::join_all([chat(&servers[0]), chat(&servers[0])]).await };
    let probe_b = async {
        // Wait until a holds A's two requests and B has heard (reports every 250 ms).
        for _ in 0..100 {
            if a.in_flight() == 2 {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        b.set_failure(drover_loadtest::mock::Failure::None);
        actix_rt::time::sleep(Duration::from_millis(600)).await;
        let mut served = Vec::new();
        for _ in 0..4 {
            let res = chat(&servers[1]).await.unwrap();
            served.push(
                res.headers()
                    .get("x-drover-node")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        served
    };
    let (_, served) = tokio::join!(held, probe_b);
    assert_eq!(
        served,
        ["b", "b", "b", "b"],
        "B ignored A's requests on node a"
    );
}

/// A replica starts and serves while its NATS is down, and joins when it comes up.
#[actix_rt::test]
async fn a_replica_starts_without_nats_and_joins_later() {
    let nats = NatsServer::start();
    nats.stop();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let server = member(&nats, "late", "ra", &[&node], |_| {});
    for _ in 0..200 {
        if ready(&server).await["nodes_up"] == 1 {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(25)).await;
    }
    let reply = client()
        .post(format!("{}/api/chat", server.url()))
        .send_json(&serde_json::json!({"model": "m", "stream": false,
            "messages": [{"role": "user", "content": "hi"}]}))
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(ready(&server).await["cluster"]["connected"], false);
    nats.restart();
    wait_cluster(&server, "joined", |c| {
        c["connected"] == true && c["revision"] != 0
    })
    .await;
}

/// Node `name` as replica `server` runs it (`GET /admin/api/pool`).
async fn pool_node(server: &RunningServer, name: &str) -> Value {
    let (_, body) = admin(server, "GET", "/pool", None).await;
    body["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Polls until `check` holds on every server's view of node `name` (10 s at most).
async fn wait_pool(
    servers: &[&RunningServer],
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) {
    for _ in 0..200 {
        let mut all = true;
        for server in servers {
            all &= check(&pool_node(server, name).await);
        }
        if all {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let mut views = Vec::new();
    for server in servers {
        views.push(pool_node(server, name).await);
    }
    panic!("{what}: never happened; views {views:?}");
}

/// Which replica probes node `name`, as each of `servers` (named in `names`) sees it: one
/// owner, which probes it itself (`probed_by` null), and the others naming it.
async fn probe_owner(servers: &[&RunningServer], names: &[&str], node: &str) -> Option<String> {
    let mut owners = Vec::new();
    for (server, name) in servers.iter().zip(names) {
        match pool_node(server, node).await["probed_by"].as_str() {
            Some(owner) => owners.push(owner.to_owned()),
            None => owners.push((*name).to_owned()),
        }
    }
    owners.dedup();
    (owners.len() == 1).then(|| owners.remove(0))
}

fn has_model(node: &Value, model: &str) -> bool {
    node["models"]
        .as_array()
        .is_some_and(|models| models.iter().any(|m| m == model))
}

/// Each node is probed by one replica; the others take its results (inventory included); when
/// the owner goes silent another takes over.
#[actix_rt::test]
async fn one_replica_probes_each_node_for_the_fleet() {
    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let names = ["ra", "rb", "rc"];
    let mut servers: Vec<Option<RunningServer>> = names
        .iter()
        .map(|name| {
            Some(member(&nats, "probe", name, &[&node], |c| {
                c.health.interval = Duration::from_millis(100);
            }))
        })
        .collect();
    fn live<'a>(
        servers: &'a [Option<RunningServer>],
        names: &[&'static str],
    ) -> Vec<(&'a RunningServer, &'static str)> {
        servers
            .iter()
            .zip(names)
            .filter_map(|(s, n)| s.as_ref().map(|s| (s, *n)))
            .collect()
    }
    for (server, _) in live(&servers, &names) {
        wait_cluster(server, "formed", |c| ids(c).len() == 3).await;
    }
    let mut owner = None;
    for _ in 0..100 {
        let (s, n): (Vec<_>, Vec<_>) = live(&servers, &names).into_iter().unzip();
        owner = probe_owner(&s, &n, "a").await;
        if owner.is_some() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let owner = owner.expect("the replicas never agreed on one probe owner");

    // One replica probing every 100 ms makes ~20 probes in 2 s; three would make ~60.
    let before = node.requests("/api/version");
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    let probes = node.requests("/api/version") - before;
    println!("probes of node a in 2 s by a fleet of 3 at a 100 ms interval: {probes}");
    assert!(
        probes <= 36,
        "{probes} probes in 2 s: more than one replica probes"
    );

    // A model the node gains reaches every replica through the owner's probes.
    node.set_models(&["m:latest", "fresh:latest"]);
    let (s, _): (Vec<_>, Vec<_>) = live(&servers, &names).into_iter().unzip();
    wait_pool(&s, "a", "the new model reached every replica", |n| {
        has_model(n, "fresh:latest")
    })
    .await;

    // The owner dies: another replica takes the probing over and the inventory still flows.
    let index = names.iter().position(|n| *n == owner).unwrap();
    servers[index].take().unwrap().stop();
    let mut next = None;
    for _ in 0..200 {
        let (s, n): (Vec<_>, Vec<_>) = live(&servers, &names).into_iter().unzip();
        next = probe_owner(&s, &n, "a").await.filter(|o| *o != owner);
        if next.is_some() {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(next.is_some(), "nobody took over probing from {owner}");
    node.set_models(&["m:latest", "later:latest"]);
    let (s, _): (Vec<_>, Vec<_>) = live(&servers, &names).into_iter().unzip();
    wait_pool(&s, "a", "the next model reached the survivors", |n| {
        has_model(n, "later:latest") && !has_model(n, "fresh:latest")
    })
    .await;
}

/// Standby promotion holds across the fleet: when the active node's slots are all taken on
/// other replicas, a request goes to the standby node instead of waiting for the active one.
#[actix_rt::test]
async fn a_standby_serves_when_the_active_node_is_full_fleet_wide() {
    let nats = NatsServer::start();
    let active = MockUpstream::start(MockConfig::named("active", &["m:latest"])).unwrap();
    let standby = MockUpstream::start(MockConfig::named("standby", &["m:latest"])).unwrap();
    let start = |name: &str| {
        member(&nats, "standby", name, &[&active, &standby], |c| {
            c.nodes[0].max_concurrency = Some(1);
            c.nodes[1].priority = drover::config::Priority::Standby;
            c.selector.queue_timeout = Duration::from_secs(10);
        })
    };
    let servers = [start("ra"), start("rb")];
    for server in &servers {
        wait_cluster(server, "formed", |c| {
            ids(c).len() == 2 && c["revision"] != 0
        })
        .await;
        wait_pool(&[server], "standby", "nodes up", |n| n["health"] == "up").await;
    }
    // The slots bucket opens in the background once NATS answers.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    active.set_latency(Duration::from_secs(2));
    let chat = |server: &RunningServer| {
        client()
            .post(format!("{}/api/chat", server.url()))
            .timeout(Duration::from_secs(20))
            .send_json(&serde_json::json!({"model": "m", "stream": false,
                "messages": [{"role": "user", "content": "hi"}]}))
    };
    let held = chat(&servers[0]);
    let other = async {
        for _ in 0..100 {
            if active.in_flight() == 1 {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            active.in_flight(),
            1,
            "the first request never reached the active node"
        );
        let started = std::time::Instant::now();
        let res = chat(&servers[1]).await.unwrap();
        (res, started.elapsed())
    };
    let (first, (second, took)) = tokio::join!(held, other);
    assert_eq!(
        first.unwrap().headers().get("x-drover-node").unwrap(),
        "active"
    );
    assert_eq!(second.status(), 200);
    assert_eq!(
        second.headers().get("x-drover-node").unwrap(),
        "standby",
        "rb waited for the active node instead of promoting the standby"
    );
    println!("the standby answered rb's request after {took:?}");
    assert_eq!(active.max_in_flight(), 1);
}

/// A replica killed for good (SIGKILL: no goodbye) drops out of membership, and the requests
/// it was running stop counting against the node on the survivors.
#[actix_rt::test]
async fn a_killed_replicas_in_flight_counts_expire() {
    use crate::process::{drover, free_port};

    let nats = NatsServer::start();
    let node = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let survivor = member(&nats, "kill", "survivor", &[&node], |_| {});
    let db = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = drover()
        .env(
            "DROVER_DATABASE_URL",
            format!("sqlite://{}/drover.db", db.path().display()),
        )
        .env("DROVER_CLUSTER__NATS_URL", nats.url())
        .env("DROVER_CLUSTER__NAME", "kill")
        .env("DROVER_CLUSTER__HEARTBEAT", "200ms")
        .env("DROVER_CLUSTER__PEER_TIMEOUT", "2s")
        .env("DROVER_REPLICA", "doomed")
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--node"])
        .arg(format!("a={}", node.url()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_cluster(&survivor, "the doomed replica joined", |c| {
        ids(c).contains(&"doomed".to_owned())
    })
    .await;
    node.set_latency(Duration::from_secs(60));
    let base = format!("http://127.0.0.1:{port}");
    let held: Vec<_> = (0..2)
        .map(|_| {
            client()
                .post(format!("{base}/api/chat"))
                .timeout(Duration::from_secs(90))
                .send_json(&serde_json::json!({"model": "m", "stream": false,
                    "messages": [{"role": "user", "content": "hi"}]}))
        })
        .collect();
    let running = actix_rt::spawn(futures_util::future::join_all(held));
    wait_pool(
        &[&survivor],
        "a",
        "the survivor counts the doomed replica's requests",
        |n| n["fleet_in_flight"] == 2 && n["in_flight"] == 0,
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = std::time::Instant::now();
    wait_cluster(&survivor, "the killed replica left", |c| {
        ids(c) == ["survivor"]
    })
    .await;
    wait_pool(&[&survivor], "a", "its requests stopped counting", |n| {
        n["fleet_in_flight"] == 0
    })
    .await;
    println!(
        "a killed replica's in-flight counts expired after {:?}",
        killed.elapsed()
    );
    running.abort();
    node.set_latency(Duration::ZERO);
    survivor.stop();
}
