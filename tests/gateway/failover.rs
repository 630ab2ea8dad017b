//! A dead or failing node costs the client nothing until the answer has started.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use drover::config::StrategyName;
use drover_loadtest::mock::Failure;
use futures_util::future::join_all;

use crate::harness::{start, with_strategy};

const TRIO: &[(&str, &[&str])] = &[
    ("a", &["m:latest"]),
    ("b", &["m:latest"]),
    ("c", &["m:latest"]),
];

#[actix_rt::test]
async fn a_node_killed_under_load_costs_no_client_errors() {
    let s = start(TRIO, with_strategy(StrategyName::RoundRobin)).await;
    for n in &s.nodes {
        n.set_latency(Duration::from_millis(20));
    }
    let done = Arc::new(AtomicUsize::new(0));
    let requests = (0..300).map(|i| {
        let done = done.clone();
        let s = &s;
        async move {
            // Stagger so requests are in flight on every node when one dies.
            actix_rt::time::sleep(Duration::from_millis(i * 3)).await;
            let reply = s.chat("m").await;
            done.fetch_add(1, Ordering::Relaxed);
            reply
        }
    });
    let killer = async {
        while done.load(Ordering::Relaxed) < 100 {
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        s.node("a").stop();
    };
    let (replies, ()) = futures_util::future::join(join_all(requests), killer).await;
    let failed: Vec<_> = replies.iter().filter(|r| r.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    let late_on_a = replies[200..]
        .iter()
        .filter(|r| r.node.as_deref() == Some("a"))
        .count();
    assert_eq!(late_on_a, 0);
}

#[actix_rt::test]
async fn a_5xx_is_retried_on_another_node_and_marks_the_node_suspect() {
    let s = start(&[("bad", &["m:latest"]), ("good", &["m:latest"])], |c| {
        c.selector.strategy = StrategyName::RoundRobin;
        c.health.interval = Duration::from_secs(60); // only the failed request changes health
    })
    .await;
    s.node("bad").set_failure(Failure::Status(500));
    let first = s.chat("m").await;
    assert_eq!(
        (first.status.as_u16(), first.node.as_deref()),
        (200, Some("good"))
    );
    // The failure reaches the routing table through the node actor, a moment later.
    s.wait_health("bad", "suspect").await;
    for _ in 0..5 {
        let reply = s.chat("m").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.node.as_deref(), Some("good"));
    }
    // Once suspect, the bad node is avoided: it saw one request, not three.
    assert_eq!(s.node("bad").requests("/api/chat"), 1);
}

#[actix_rt::test]
async fn when_every_attempt_fails_the_client_gets_502_naming_the_cause() {
    let s = start(TRIO, |c| c.failover.attempts = 2).await;
    for n in &s.nodes {
        n.set_failure(Failure::Status(500));
    }
    let reply = s.chat("m").await;
    assert_eq!(reply.status, 502);
    let error = reply.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("2 attempt(s)") && error.contains("500"),
        "{error}"
    );
    let tried: u64 = s.nodes.iter().map(|n| n.requests("/api/chat")).sum();
    assert_eq!(tried, 2);
    // An overloaded node's 503 is passed on with its message (see node_faults).
    for n in &s.nodes {
        n.set_failure(Failure::Status(503));
    }
    let reply = s.chat("m").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["error"], "mock failure");
}

#[actix_rt::test]
async fn a_hanging_node_times_out_and_the_request_moves_on() {
    let s = start(&[("hang", &["m:latest"]), ("ok", &["m:latest"])], |c| {
        c.selector.strategy = StrategyName::RoundRobin;
        c.timeouts.first_byte = Duration::from_millis(300);
    })
    .await;
    s.node("hang").set_failure(Failure::Hang);
    for _ in 0..3 {
        let reply = s.chat("m").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.node.as_deref(), Some("ok"));
    }
}

#[actix_rt::test]
async fn a_node_that_comes_back_is_used_again() {
    let s = start(
        &[("a", &["m:latest"]), ("b", &["m:latest"])],
        with_strategy(StrategyName::RoundRobin),
    )
    .await;
    s.node("a").stop();
    s.wait_health("a", "down").await;
    let reply = s.chat("m").await;
    assert_eq!(reply.node.as_deref(), Some("b"));
    s.node("a").restart().unwrap();
    s.wait_health("a", "up").await;
    let mut nodes = Vec::new();
    for _ in 0..4 {
        nodes.push(s.chat("m").await.node.unwrap());
    }
    assert_eq!(nodes.iter().filter(|n| *n == "a").count(), 2, "{nodes:?}");
}

#[actix_rt::test]
async fn with_every_node_down_the_answer_is_503() {
    let s = start(&[("a", &["m:latest"])], |_| {}).await;
    s.node("a").stop();
    s.wait_health("a", "down").await;
    let reply = s.chat("m").await;
    assert_eq!(reply.status, 503);
    assert!(reply.headers.contains_key("retry-after"));
    assert!(reply.json()["error"]
        .as_str()
        .unwrap()
        .contains("no healthy node"));
}

#[actix_rt::test]
async fn the_nodes_own_error_message_reaches_the_client() {
    let s = start(&[("a", &["m:latest"])], |c| c.failover.attempts = 1).await;
    s.node("a").set_failure(Failure::Status(500));
    let reply = s.chat("m").await;
    assert_eq!(reply.status, 502);
    let error = reply.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("mock failure"), "{error}");
}

/// A 5xx says the node answered: it is avoided for a while but never taken out of rotation,
/// so a burst of failing requests cannot empty the pool.
#[actix_rt::test]
async fn answered_errors_never_take_nodes_down() {
    let s = start(TRIO, |c| c.health.interval = Duration::from_secs(60)).await;
    for n in &s.nodes {
        n.set_failure(Failure::Status(500));
    }
    for _ in 0..4 {
        assert_eq!(s.chat("m").await.status, 502);
    }
    for n in &s.nodes {
        n.set_failure(Failure::None);
    }
    // No probe runs in between (60 s): the nodes are suspect, still routable, and recover
    // on their first success.
    assert_eq!(s.chat("m").await.status, 200);
    s.wait_until(|ready| {
        ready["nodes"]
            .as_object()
            .unwrap()
            .values()
            .any(|h| h == "up")
    })
    .await;
}
