//! The load generator through a real Drover over several mock nodes: every request answered,
//! every stream whole (exact chunk counts), models routed to nodes that serve them. Checks
//! correctness only, never timing, so the benchmark tooling cannot rot unnoticed.

use std::time::Duration;

use drover_loadtest::load::{self, LoadConfig, Mode, Scenario};

use crate::harness::start;

/// Two models on three nodes: `m1` on a and c, `m2` on b and c.
const MIX: &[(&str, &[&str])] = &[
    ("a", &["m1:latest"]),
    ("b", &["m2:latest"]),
    ("c", &["m1:latest", "m2:latest"]),
];

fn config(url: String, scenario: Scenario) -> LoadConfig {
    let mut config = LoadConfig::new(vec![url]);
    config.scenario = scenario;
    config.models = vec!["m1:latest".into(), "m2:latest".into()];
    config.mode = Mode::Open {
        rate: 150.0,
        connections: 64,
    };
    config.duration = Duration::from_secs(2);
    config.threads = 1;
    config
}

#[actix_rt::test]
async fn hundreds_of_mixed_requests_through_drover_are_all_answered_whole() {
    // Round robin, so every node takes part (least_inflight may rightly serve all from c).
    let s = start(MIX, |c| {
        c.selector.strategy = drover::config::StrategyName::RoundRobin
    })
    .await;
    for n in &s.nodes {
        n.set_tokens(12);
    }
    let url = s.drover.url();
    for (scenario, chunks) in [
        (Scenario::Chat, None),
        (Scenario::ChatStream, Some(13)),
        (Scenario::OpenaiChatStream, Some(13)),
        (Scenario::Embed, None),
        // Translated onto the Ollama nodes' chat; must end with `response.completed`.
        (Scenario::ResponsesStream, None),
    ] {
        let mut config = config(url.clone(), scenario);
        config.expect_chunks = chunks;
        // The generator runs its own runtimes on its own threads.
        let report = actix_rt::task::spawn_blocking(move || load::run(&config))
            .await
            .unwrap()
            .unwrap();
        let target = &report.targets[0];
        assert!(
            target.sent >= 250,
            "{scenario:?}: only {} sent",
            target.sent
        );
        assert_eq!(
            target.ok, target.sent,
            "{scenario:?}: errors {:?}",
            target.errors
        );
        if let Some(stream) = &target.stream {
            assert_eq!(
                (stream.lost_chunks, stream.extra_chunks),
                (0, 0),
                "{scenario:?}"
            );
        }
    }
    // Mock nodes answer 404 for models they do not hold, so `ok == sent` above also proves
    // that every request of the mix reached a node serving its model. Both kinds of node
    // took part:
    assert!(
        s.node("a").total_inference_requests() > 0 && s.node("b").total_inference_requests() > 0
    );
}

#[actix_rt::test]
async fn a_few_hundred_concurrent_streams_through_drover_all_complete() {
    let s = start(MIX, |_| {}).await;
    for n in &s.nodes {
        n.set_tokens(20);
        n.set_token_delay(Duration::from_millis(20));
    }
    let mut config = config(s.drover.url(), Scenario::ChatStream);
    config.mode = Mode::Streams {
        streams: 300,
        ramp: Duration::from_millis(500),
    };
    config.expect_chunks = Some(21);
    let report = actix_rt::task::spawn_blocking(move || load::run(&config))
        .await
        .unwrap()
        .unwrap();
    let target = &report.targets[0];
    assert_eq!(
        (target.sent, target.ok),
        (300, 300),
        "errors {:?}",
        target.errors
    );
    assert!(
        target.peak_in_flight > 100,
        "streams were not concurrent: {}",
        target.peak_in_flight
    );
}
