//! Smoke test of the load generator against in-process mocks: every request is answered,
//! chunk counts match what the mock sent, and failures land in the right error bucket.
//! Correctness only; no timing is asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use drover_loadtest::load::{self, LoadConfig, Mode, Scenario};
use drover_loadtest::mock::{Failure, MockConfig, MockUpstream};

fn mock(name: &str, tokens: usize) -> MockUpstream {
    let mut cfg = MockConfig::named(name, &["llama3:latest", "qwen:7b"]);
    cfg.tokens = tokens;
    MockUpstream::start(cfg).unwrap()
}

fn config(targets: &[&MockUpstream], scenario: Scenario, rate: f64, secs: f64) -> LoadConfig {
    let mut cfg = LoadConfig::new(targets.iter().map(|m| m.url()).collect());
    cfg.scenario = scenario;
    cfg.models = vec!["llama3:latest".into(), "qwen:7b".into()];
    cfg.mode = Mode::Open {
        rate,
        connections: 8,
    };
    cfg.duration = Duration::from_secs_f64(secs);
    cfg.threads = 2;
    cfg.timeout = Duration::from_secs(10);
    cfg
}

#[test]
fn open_loop_every_scenario_is_fully_answered() {
    let a = mock("a", 5);
    let b = mock("b", 3);
    let scenarios = [
        (Scenario::Chat, "/api/chat"),
        (Scenario::ChatStream, "/api/chat"),
        (Scenario::OpenaiChat, "/v1/chat/completions"),
        (Scenario::OpenaiChatStream, "/v1/chat/completions"),
        (Scenario::Embed, "/api/embed"),
    ];
    for (scenario, path) in scenarios {
        let before = [a.requests(path), b.requests(path)];
        let report = load::run(&config(&[&a, &b], scenario, 40.0, 0.5)).unwrap();
        assert!(report.all_ok(), "{scenario:?}: {report:?}");
        assert_eq!(report.targets.len(), 2);
        assert_eq!(report.added.len(), 1);
        for (i, (t, m)) in report.targets.iter().zip([&a, &b]).enumerate() {
            assert_eq!(t.target, m.url());
            assert_eq!(t.sent, 20, "{scenario:?}");
            assert_eq!(t.ok, 20, "{scenario:?}");
            assert!(t.errors.is_empty());
            assert_eq!(
                m.requests(path) - before[i],
                20,
                "{scenario:?}: mock saw every request"
            );
            assert_eq!(t.latency_us.count, 20);
            match &t.stream {
                Some(s) => {
                    // Every token plus the closing frame ([DONE] is not counted).
                    let tokens = if i == 0 { 5 } else { 3 };
                    assert_eq!(s.chunks.min, tokens + 1, "{scenario:?}");
                    assert_eq!(s.chunks.max, tokens + 1, "{scenario:?}");
                    assert_eq!(s.chunks.count, 20);
                    assert_eq!(s.ttft_us.count, 20);
                    assert_eq!(s.gap_us.count, 20 * tokens);
                }
                None => assert!(!scenario.is_stream()),
            }
        }
        // Models rotate per round.
        assert!(a.last_body(path).is_some());
    }
    let text = load::run(&config(&[&a], Scenario::Chat, 20.0, 0.2))
        .unwrap()
        .render();
    assert!(text.contains("p99.9"));
    assert!(text.contains(&a.url()));
}

#[test]
fn closed_loop_is_fully_answered() {
    let a = mock("c", 4);
    let mut cfg = config(&[&a], Scenario::ChatStream, 1.0, 0.3);
    cfg.mode = Mode::Closed { concurrency: 2 };
    let report = load::run(&cfg).unwrap();
    let t = &report.targets[0];
    assert!(report.all_ok(), "{report:?}");
    assert!(t.ok > 0);
    assert_eq!(t.ok, a.requests("/api/chat"));
    assert!(a.max_in_flight() <= 2);
    let s = t.stream.as_ref().unwrap();
    assert_eq!((s.chunks.min, s.chunks.max), (5, 5));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["mode"], "closed");
    assert_eq!(json["targets"][0]["ok"], t.ok);
}

#[test]
fn failures_are_classified() {
    let a = mock("f", 5);

    a.set_failure(Failure::DieAfter(2));
    let r = load::run(&config(&[&a], Scenario::ChatStream, 20.0, 0.25)).unwrap();
    assert_eq!(r.targets[0].ok, 0);
    assert_eq!(r.targets[0].errors.get("incomplete stream"), Some(&5));
    let r = load::run(&config(&[&a], Scenario::OpenaiChatStream, 20.0, 0.25)).unwrap();
    assert_eq!(r.targets[0].errors.get("incomplete stream"), Some(&5));

    a.set_failure(Failure::Status(503));
    let r = load::run(&config(&[&a], Scenario::Chat, 20.0, 0.25)).unwrap();
    assert_eq!(r.targets[0].errors.get("status 503"), Some(&5));
    assert!(!r.all_ok());

    a.set_failure(Failure::Hang);
    let mut cfg = config(&[&a], Scenario::Embed, 20.0, 0.1);
    cfg.timeout = Duration::from_millis(200);
    let r = load::run(&cfg).unwrap();
    assert_eq!(r.targets[0].errors.get("timeout"), Some(&2));

    a.set_failure(Failure::None);
    a.stop();
    let r = load::run(&config(&[&a], Scenario::Chat, 20.0, 0.25)).unwrap();
    assert_eq!(r.targets[0].errors.get("connect"), Some(&5));
}
