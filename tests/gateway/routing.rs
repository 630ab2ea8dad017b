//! Requests go to nodes that have the model, spread as each strategy promises.

use std::time::Duration;

use drover::config::StrategyName;
use futures_util::future::join_all;
use serde_json::json;

use crate::harness::{served_by, start, with_strategy};

const THREE: &[(&str, &[&str])] = &[
    ("a", &["llama3:latest"]),
    ("b", &["qwen:7b"]),
    ("c", &["llama3:latest", "qwen:7b"]),
];

#[actix_rt::test]
async fn each_model_goes_only_to_nodes_that_have_it() {
    let s = start(THREE, with_strategy(StrategyName::RoundRobin)).await;
    let mut llama = Vec::new();
    let mut qwen = Vec::new();
    for _ in 0..10 {
        // The bare name means `:latest`, as in Ollama.
        llama.push(s.chat("llama3").await);
        qwen.push(s.chat("qwen:7b").await);
    }
    assert!(llama.iter().chain(&qwen).all(|r| r.status == 200));
    assert_eq!(served_by(&llama, &["a", "b", "c"]), vec![5, 0, 5]);
    assert_eq!(served_by(&qwen, &["a", "b", "c"]), vec![0, 5, 5]);
    // The answer really came from the node the header names.
    let reply = s.chat("qwen:7b").await;
    let content = reply.json()["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        content.contains(&format!("[{}]", reply.node.unwrap())),
        "{content}"
    );
    assert_eq!(
        s.node("b").requests("/api/chat") + s.node("c").requests("/api/chat"),
        16
    );
    assert_eq!(s.node("a").requests("/api/chat"), 5);
}

#[actix_rt::test]
async fn openai_requests_are_routed_by_model_too() {
    let s = start(THREE, with_strategy(StrategyName::RoundRobin)).await;
    let body = json!({"model": "qwen:7b", "messages": [{"role": "user", "content": "hi"}]});
    let mut replies = Vec::new();
    for _ in 0..4 {
        replies.push(s.post("/v1/chat/completions", body.clone()).await);
    }
    assert_eq!(served_by(&replies, &["a", "b", "c"]), vec![0, 2, 2]);
    assert_eq!(replies[0].json()["object"], "chat.completion");
    let embed = s
        .post(
            "/v1/embeddings",
            json!({"model": "llama3", "input": ["x", "y"]}),
        )
        .await;
    assert_eq!(embed.status, 200);
    assert_eq!(embed.json()["data"].as_array().unwrap().len(), 2);
    let completion = s
        .post("/v1/completions", json!({"model": "llama3", "prompt": "x"}))
        .await;
    assert_eq!(completion.json()["object"], "text_completion");
}

#[actix_rt::test]
async fn round_robin_takes_turns() {
    let s = start(
        &[
            ("a", &["m:latest"]),
            ("b", &["m:latest"]),
            ("c", &["m:latest"]),
        ],
        with_strategy(StrategyName::RoundRobin),
    )
    .await;
    let mut replies = Vec::new();
    for _ in 0..30 {
        replies.push(s.chat("m").await);
    }
    assert_eq!(served_by(&replies, &["a", "b", "c"]), vec![10, 10, 10]);
}

#[actix_rt::test]
async fn weighted_follows_weights() {
    let s = start(
        &[
            ("a", &["m:latest"]),
            ("b", &["m:latest"]),
            ("c", &["m:latest"]),
        ],
        |c| {
            c.selector.strategy = StrategyName::Weighted;
            c.nodes[0].weight = 3;
        },
    )
    .await;
    let mut replies = Vec::new();
    for _ in 0..50 {
        replies.push(s.chat("m").await);
    }
    assert_eq!(served_by(&replies, &["a", "b", "c"]), vec![30, 10, 10]);
}

#[actix_rt::test]
async fn random_reaches_every_node() {
    let s = start(
        &[
            ("a", &["m:latest"]),
            ("b", &["m:latest"]),
            ("c", &["m:latest"]),
        ],
        with_strategy(StrategyName::Random),
    )
    .await;
    let mut replies = Vec::new();
    for _ in 0..60 {
        replies.push(s.chat("m").await);
    }
    let counts = served_by(&replies, &["a", "b", "c"]);
    assert!(counts.iter().all(|&n| n >= 5), "{counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), 60);
}

/// With slow answers in flight, least_inflight and p2c spread concurrent requests instead of
/// piling them on one node: no node ever runs more than its share plus one.
#[actix_rt::test]
async fn load_aware_strategies_spread_concurrent_requests() {
    for strategy in [StrategyName::LeastInflight, StrategyName::P2c] {
        let s = start(
            &[
                ("a", &["m:latest"]),
                ("b", &["m:latest"]),
                ("c", &["m:latest"]),
            ],
            with_strategy(strategy),
        )
        .await;
        for n in &s.nodes {
            n.set_latency(Duration::from_millis(300));
        }
        let replies = join_all((0..9).map(|_| s.chat("m"))).await;
        assert!(replies.iter().all(|r| r.status == 200));
        let max: Vec<u64> = s.nodes.iter().map(|n| n.max_in_flight()).collect();
        match strategy {
            // Each request goes to a node with the fewest in flight: 3 each when all nine
            // overlap; a loaded test machine may start some late, never piling them up.
            StrategyName::LeastInflight => assert!(
                max.iter().all(|&m| (1..=4).contains(&m)),
                "{strategy:?}: {max:?}"
            ),
            // Two random choices: never all on one node, and every node used.
            _ => assert!(
                max.iter().all(|&m| (1..=5).contains(&m)),
                "{strategy:?}: {max:?}"
            ),
        }
    }
}

#[actix_rt::test]
async fn latency_prefers_the_fast_node() {
    let s = start(
        &[("fast", &["m:latest"]), ("slow", &["m:latest"])],
        with_strategy(StrategyName::Latency),
    )
    .await;
    s.node("slow").set_latency(Duration::from_millis(40));
    let mut replies = Vec::new();
    for _ in 0..20 {
        replies.push(s.chat("m").await);
    }
    let counts = served_by(&replies, &["fast", "slow"]);
    // The slow node is measured once or twice, then avoided.
    assert!(counts[0] >= 17, "{counts:?}");
}

#[actix_rt::test]
async fn loaded_models_are_preferred() {
    let s = start(
        &[("cold", &["m:latest"]), ("warm", &["m:latest"])],
        with_strategy(StrategyName::RoundRobin),
    )
    .await;
    s.node("warm").set_loaded(&["m:latest"]);
    s.wait_for_get("/api/ps", |ps| ps["models"][0]["name"] == "m:latest")
        .await;
    let mut replies = Vec::new();
    for _ in 0..10 {
        replies.push(s.chat("m").await);
    }
    assert_eq!(served_by(&replies, &["cold", "warm"]), vec![0, 10]);
}

/// While a node has not answered its first probe, a model no other node serves may be its:
/// 503 "not known yet". Once that probe failed (the node is down from the start), the model
/// is simply not served: 404, not a 503 for as long as the node stays down.
#[actix_rt::test]
async fn a_node_that_never_answered_makes_unknown_models_503_until_it_is_found_down() {
    let live = drover_loadtest::mock::MockUpstream::start(
        drover_loadtest::mock::MockConfig::named("live", &["m:latest"]),
    )
    .unwrap();
    // Connections complete in the backlog and are never answered: the probe hangs until
    // its timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = crate::harness::test_config(&[&live]);
    config.health.timeout = Duration::from_secs(3);
    config.nodes.push(drover::config::NodeConfig {
        name: "silent".into(),
        kind: drover::config::NodeKind::Ollama,
        url: format!("http://{}", silent.local_addr().unwrap()),
        priority: drover::config::Priority::Active,
        weight: 1,
        max_concurrency: None,
        api_key: None,
        models: Vec::new(),
        probe: true,
        responses: false,
    });
    let db = tempfile::tempdir().unwrap();
    config.database_url = format!("sqlite://{}/drover.db", db.path().display());
    let drover = drover::server::spawn(config).unwrap();
    let s = crate::harness::Setup {
        nodes: vec![live],
        drover,
        _db: Some(db),
    };
    s.wait_health("live", "up").await;
    assert_eq!(s.chat("m").await.status, 200);
    let reply = s.chat("other").await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(reply.headers.contains_key("retry-after"));
    assert!(reply.json()["error"]
        .as_str()
        .unwrap()
        .contains("not known yet"));

    s.wait_health("silent", "down").await;
    let reply = s.chat("other").await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    drop(silent);
}

#[actix_rt::test]
async fn a_node_s_own_4xx_passes_through_and_leaves_it_healthy() {
    let s = start(&[("a", &["m:latest"])], |c| {
        c.health.interval = Duration::from_secs(60)
    })
    .await;
    // The node drops the model; Drover only learns at the next probe, a minute away.
    s.node("a").set_models(&[]);
    let reply = s.chat("m").await;
    assert_eq!(reply.status, 404);
    assert!(reply.json()["error"]
        .as_str()
        .unwrap()
        .contains("try pulling it first"));
    s.wait_health("a", "up").await;
}
