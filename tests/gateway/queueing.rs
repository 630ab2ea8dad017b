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

#[actix_rt::test]
async fn waiters_that_gave_up_do_not_hold_queue_places() {
    let s = start(&[("only", &["m:latest"])], |c| {
        c.nodes[0].max_concurrency = Some(1);
        c.selector.max_queue = 1;
        c.selector.queue_timeout = Duration::from_millis(400);
        // No probe reports in between: they would sweep abandoned waiters anyway.
        c.health.interval = Duration::from_secs(60);
    })
    .await;
    // Timeline (ms): 0 first takes the slot until 1000; 50 second waits, gives up at 450;
    // 800 third waits, gets the slot at 1000 (200 ms into its 400 ms wait).
    s.node("only").set_latency(Duration::from_millis(1000));
    let first = s.chat("m");
    let later = async {
        // This one waits and times out...
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        let timed_out = s.chat("m").await;
        // ...then this one must get the queue place, not a 503 for a queue full of ghosts.
        actix_rt::time::sleep(Duration::from_millis(350)).await;
        let s2 = start_waiting(&s).await;
        (timed_out, s2)
    };
    let (first, (timed_out, waited)) = futures_util::future::join(first, later).await;
    assert_eq!(first.status, 200);
    assert_eq!(timed_out.status, 503);
    assert_eq!(waited.status, 200, "{}", waited.text());
}

/// A request sent while the slot is still busy, with a queue timeout long enough to wait.
async fn start_waiting(s: &crate::harness::Setup) -> crate::harness::Reply {
    s.post(
        "/api/chat",
        serde_json::json!({"model": "m", "stream": false, "messages": []}),
    )
    .await
}
