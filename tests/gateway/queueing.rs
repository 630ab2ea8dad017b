//! Capacity: standby nodes and max_concurrency with its bounded wait.

use std::time::Duration;

use drover::config::{Priority, StrategyName};
use futures_util::future::join_all;

use crate::harness::{served_by, start};

#[actix_rt::test]
async fn standby_serves_only_when_no_active_node_can() {
    let s = start(
        &[("active", &["m:latest"]), ("spare", &["m:latest"])],
        |c| {
            c.selector.strategy = StrategyName::RoundRobin;
            c.nodes[1].priority = Priority::Standby;
        },
    )
    .await;
    let mut replies = Vec::new();
    for _ in 0..10 {
        replies.push(s.chat("m").await);
    }
    assert_eq!(served_by(&replies, &["active", "spare"]), vec![10, 0]);
    s.node("active").stop();
    let mut replies = Vec::new();
    for _ in 0..10 {
        replies.push(s.chat("m").await);
    }
    assert!(replies.iter().all(|r| r.status == 200));
    assert_eq!(served_by(&replies, &["active", "spare"]), vec![0, 10]);
    s.node("active").restart().unwrap();
    s.wait_health("active", "up").await;
    let reply = s.chat("m").await;
    assert_eq!(reply.node.as_deref(), Some("active"));
}

#[actix_rt::test]
async fn standby_takes_overflow_when_actives_are_full() {
    let s = start(
        &[("active", &["m:latest"]), ("spare", &["m:latest"])],
        |c| {
            c.nodes[0].max_concurrency = Some(1);
            c.nodes[1].priority = Priority::Standby;
        },
    )
    .await;
    s.node("active").set_latency(Duration::from_millis(300));
    let replies = join_all((0..2).map(|_| s.chat("m"))).await;
    assert_eq!(served_by(&replies, &["active", "spare"]), vec![1, 1]);
}

#[actix_rt::test]
async fn max_concurrency_queues_and_never_exceeds() {
    let s = start(&[("only", &["m:latest"])], |c| {
        c.nodes[0].max_concurrency = Some(2);
        c.selector.queue_timeout = Duration::from_secs(10);
    })
    .await;
    s.node("only").set_latency(Duration::from_millis(150));
    let replies = join_all((0..8).map(|_| s.chat("m"))).await;
    assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    assert_eq!(s.node("only").max_in_flight(), 2);
}

#[actix_rt::test]
async fn a_full_queue_wait_times_out_with_503_and_retry_after() {
    let s = start(&[("only", &["m:latest"])], |c| {
        c.nodes[0].max_concurrency = Some(1);
        c.selector.queue_timeout = Duration::from_millis(100);
    })
    .await;
    s.node("only").set_latency(Duration::from_millis(1000));
    let replies = join_all((0..2).map(|_| s.chat("m"))).await;
    let busy: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    assert_eq!(busy.len(), 1, "{replies:?}");
    assert!(busy[0].headers.contains_key("retry-after"));
    assert!(busy[0].json()["error"]
        .as_str()
        .unwrap()
        .contains("capacity"));
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 1);
}

#[actix_rt::test]
async fn the_wait_queue_is_bounded() {
    let s = start(&[("only", &["m:latest"])], |c| {
        c.nodes[0].max_concurrency = Some(1);
        c.selector.max_queue = 1;
        c.selector.queue_timeout = Duration::from_secs(10);
    })
    .await;
    s.node("only").set_latency(Duration::from_millis(400));
    let replies = join_all((0..3).map(|_| s.chat("m"))).await;
    // One runs, one waits, the third is turned away at once.
    assert_eq!(
        replies.iter().filter(|r| r.status == 200).count(),
        2,
        "{replies:?}"
    );
    assert_eq!(replies.iter().filter(|r| r.status == 503).count(), 1);
}
