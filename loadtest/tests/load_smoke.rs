//! Smoke test of the load generator against in-process mocks: every request is answered,
//! chunk counts match what the mock sent, failures land in the right error bucket, the
//! streams mode completes, and memory sampling reads a live process. Correctness only; no
//! timing is asserted.

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

#[test]
fn expected_chunk_counts() {
    let a = mock("x", 5);
    for scenario in [Scenario::ChatStream, Scenario::OpenaiChatStream] {
        // Five tokens and the closing frame; SSE's [DONE] is not a frame.
        let mut cfg = config(&[&a], scenario, 20.0, 0.25);
        cfg.expect_chunks = Some(6);
        let r = load::run(&cfg).unwrap();
        assert!(r.all_ok(), "{scenario:?}: {r:?}");
        let s = r.targets[0].stream.as_ref().unwrap();
        assert_eq!((s.lost_chunks, s.extra_chunks), (0, 0));
        assert!(s.frame_reads > 0 && s.coalesced_reads <= s.frame_reads);

        cfg.expect_chunks = Some(8);
        let r = load::run(&cfg).unwrap();
        let t = &r.targets[0];
        assert!(!r.all_ok());
        assert_eq!(t.ok, 0, "{scenario:?}");
        assert_eq!(t.errors.get("chunk count"), Some(&5), "{scenario:?}");
        let s = t.stream.as_ref().unwrap();
        assert_eq!((s.lost_chunks, s.extra_chunks), (10, 0));
        assert!(r.render().contains("lost or extra chunks"));

        cfg.expect_chunks = Some(4);
        let r = load::run(&cfg).unwrap();
        let t = &r.targets[0];
        assert_eq!(t.errors.get("chunk count"), Some(&5), "{scenario:?}");
        let s = t.stream.as_ref().unwrap();
        assert_eq!((s.lost_chunks, s.extra_chunks), (0, 10));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["expect_chunks"], 4);
        assert_eq!(json["targets"][0]["stream"]["extra_chunks"], 10);
    }
}

#[test]
fn streams_mode_completes_every_stream() {
    let a = mock("s1", 20);
    let b = mock("s2", 20);
    for m in [&a, &b] {
        m.set_token_delay(Duration::from_millis(10));
    }
    let mut cfg = config(&[&a, &b], Scenario::ChatStream, 1.0, 1.0);
    cfg.mode = Mode::Streams {
        streams: 200,
        ramp: Duration::from_millis(200),
    };
    cfg.timeout = Duration::from_secs(30);
    cfg.expect_chunks = Some(21);
    let r = load::run(&cfg).unwrap();
    assert!(r.all_ok(), "{r:?}");
    assert_eq!(r.mode, "streams");
    assert_eq!(r.streams, Some(200));
    for (t, m) in r.targets.iter().zip([&a, &b]) {
        assert_eq!((t.sent, t.ok), (200, 200));
        assert_eq!(
            m.requests("/api/chat"),
            200,
            "each target got its own streams"
        );
        assert!(t.peak_in_flight >= 1 && t.peak_in_flight <= 200);
        let s = t.stream.as_ref().unwrap();
        assert_eq!((s.chunks.min, s.chunks.max, s.chunks.count), (21, 21, 200));
        assert_eq!(s.ttft_us.count, 200);
        assert_eq!(s.gap_us.count, 200 * 20);
        assert!(t.elapsed_s > 0.0);
    }
    let text = r.render();
    assert!(text.contains("200 concurrent streams per target"), "{text}");

    // Models rotate over the streams; a model the node does not serve shows up by name.
    let mut cfg = config(&[&a], Scenario::OpenaiChatStream, 1.0, 1.0);
    cfg.models = vec!["llama3:latest".into(), "missing:1b".into()];
    cfg.mode = Mode::Streams {
        streams: 20,
        ramp: Duration::ZERO,
    };
    let r = load::run(&cfg).unwrap();
    let t = &r.targets[0];
    assert_eq!(t.ok, 10);
    assert_eq!(t.errors.get("status 404"), Some(&10));
    assert_eq!(t.errors_by_model.len(), 1, "{:?}", t.errors_by_model);
    assert_eq!(t.errors_by_model["missing:1b"]["status 404"], 10);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json["targets"][0]["errors_by_model"]["missing:1b"]["status 404"],
        10
    );
    assert!(r.render().contains("model missing:1b: status 404 x10"));
}

#[test]
fn rss_of_watched_processes() {
    let a = mock("p", 3);
    let b = mock("q", 3);
    let mut cfg = config(&[&a, &b], Scenario::Chat, 20.0, 0.3);
    // This very process (the mocks run inside it), and a pid above any pid_max.
    cfg.pids = vec![Some(std::process::id()), Some(u32::MAX)];
    let r = load::run(&cfg).unwrap();
    assert!(r.all_ok(), "a missing process is not a failed run: {r:?}");
    let me = &r.targets[0];
    assert_eq!(me.pid, Some(std::process::id()));
    for kb in [me.rss_start_kb, me.rss_peak_kb, me.rss_end_kb] {
        assert!(kb.unwrap() > 0, "{me:?}");
    }
    assert!(me.rss_peak_kb >= me.rss_start_kb);
    assert!(me.pid_note.is_none());
    let gone = &r.targets[1];
    assert_eq!(gone.rss_start_kb, None);
    assert!(gone.pid_note.as_deref().unwrap().contains("not found"));
    assert!(r.generator_rss_peak_kb.unwrap() > 0);
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["targets"][0]["rss_peak_kb"].as_u64().unwrap() > 0);
    assert!(json["targets"][1]["rss_end_kb"].is_null());
    let text = r.render();
    assert!(text.contains("memory (RSS)"), "{text}");

    // Without --pid the fields are there, empty.
    let r = load::run(&config(&[&a], Scenario::Chat, 20.0, 0.1)).unwrap();
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["targets"][0]["rss_start_kb"].is_null());
    assert!(json["targets"][0]["errors_by_model"]
        .as_object()
        .unwrap()
        .is_empty());
}
