//! End-to-end checks of the mock upstream over real sockets: response shapes, streaming
//! behaviour, failure modes and the stop/restart life cycle the gateway tests rely on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{get, post, refused, request, try_request};
use drover_loadtest::mock::{Failure, MockConfig, MockUpstream};
use serde_json::{json, Value};

fn mock(name: &str) -> MockUpstream {
    let mut cfg = MockConfig::named(
        name,
        &["llama3:latest", "qwen:7b", "nomic-embed-text:latest"],
    );
    cfg.loaded = vec!["llama3:latest".into()];
    MockUpstream::start(cfg).unwrap()
}

#[test]
fn config_defaults() {
    let c = MockConfig::default();
    assert_eq!(c.name, "mock");
    assert_eq!(c.models, vec!["llama3:latest"]);
    assert!(c.loaded.is_empty());
    assert_eq!(c.tokens, 5);
    assert_eq!(c.token_delay, Duration::ZERO);
    assert_eq!(c.latency, Duration::ZERO);
    assert_eq!(c.embedding_dims, 8);
    let n = MockConfig::named("n1", &["a:1", "b"]);
    assert_eq!(n.name, "n1");
    assert_eq!(n.models, vec!["a:1", "b"]);
    assert_eq!(n.tokens, 5);
}

#[test]
fn probes() {
    let m = mock("probe-node");
    let a = m.addr();
    assert_eq!(m.url(), format!("http://127.0.0.1:{}", a.port()));

    let r = get(a, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Ollama is running");
    assert_eq!(r.header("x-mock-node"), Some("probe-node"));
    let r = request(a, "HEAD", "/", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-mock-node"), Some("probe-node"));
    assert_eq!(m.requests("/"), 2);

    assert_eq!(
        get(a, "/api/version").json(),
        json!({"version": "0.5.0-mock"})
    );

    let tags = get(a, "/api/tags").json();
    let models = tags["models"].as_array().unwrap();
    assert_eq!(models.len(), 3);
    assert_eq!(models[0]["name"], "llama3:latest");
    assert_eq!(models[0]["model"], "llama3:latest");
    assert_eq!(models[0]["size"], 1000);
    assert_eq!(models[0]["modified_at"], "2024-01-01T00:00:00Z");
    assert_eq!(models[0]["digest"].as_str().unwrap().len(), 64);
    assert_eq!(models[0]["details"]["format"], "gguf");
    assert_eq!(models[0]["details"]["quantization_level"], "Q4_0");

    let ps = get(a, "/api/ps").json();
    let loaded = ps["models"].as_array().unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0]["name"], "llama3:latest");
    assert_eq!(loaded[0]["expires_at"], "2099-01-01T00:00:00Z");
    assert_eq!(loaded[0]["size_vram"], 1000);

    let v1 = get(a, "/v1/models").json();
    assert_eq!(v1["object"], "list");
    assert_eq!(
        v1["data"][1],
        json!({"id": "qwen:7b", "object": "model", "created": 0, "owned_by": "library"})
    );

    m.set_models(&["only:1"]);
    m.set_loaded(&[]);
    assert_eq!(get(a, "/api/tags").json()["models"][0]["name"], "only:1");
    assert_eq!(get(a, "/api/ps").json(), json!({"models": []}));

    let r = get(a, "/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-mock-node"), Some("probe-node"));
    assert_eq!(m.requests("/nope"), 1);
    assert_eq!(m.total_inference_requests(), 0);
}

#[test]
fn ollama_chat() {
    let m = mock("n1");
    let a = m.addr();
    let body = r#"{"model":"llama3:latest","messages":[{"role":"user","content":"hi there"}],"stream":false}"#;
    let r = post(a, "/api/chat", body);
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let v = r.json();
    assert_eq!(v["model"], "llama3:latest");
    assert_eq!(v["done"], true);
    assert_eq!(v["done_reason"], "stop");
    assert_eq!(v["message"]["role"], "assistant");
    assert_eq!(v["message"]["content"], "[n1] tok0 tok1 tok2 tok3 tok4 ");
    assert_eq!(v["eval_count"], 5);
    assert_eq!(v["prompt_eval_count"], 2);
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        m.last_body("/api/chat").unwrap()["messages"][0]["content"],
        "hi there"
    );

    // Streaming is the default, as in Ollama.
    let r = post(a, "/api/chat", r#"{"model":"llama3","messages":[]}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    assert!(r.complete);
    let lines = r.lines();
    assert_eq!(lines.len(), 6);
    for (i, l) in lines[..5].iter().enumerate() {
        assert_eq!(l["done"], false);
        assert_eq!(l["model"], "llama3");
        let want = if i == 0 {
            "[n1] tok0 ".to_owned()
        } else {
            format!("tok{i} ")
        };
        assert_eq!(l["message"]["content"], want);
    }
    let last = &lines[5];
    assert_eq!(last["done"], true);
    assert_eq!(last["message"]["content"], "");
    for k in [
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
    ] {
        assert!(last[k].is_u64(), "{k} missing");
    }
    assert_eq!(last["eval_count"], 5);

    m.set_tokens(2);
    let r = post(
        a,
        "/api/chat",
        r#"{"model":"qwen:7b","messages":[],"stream":true}"#,
    );
    assert_eq!(r.lines().len(), 3);

    let r = post(a, "/api/chat", r#"{"model":"ghost:1","messages":[]}"#);
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error": "model \"ghost:1\" not found, try pulling it first"})
    );
    assert_eq!(post(a, "/api/chat", "{not json").status, 400);
    assert_eq!(post(a, "/api/chat", r#"{"messages":[]}"#).status, 400);
    assert_eq!(m.requests("/api/chat"), 6);
    assert_eq!(m.total_inference_requests(), 6);
    assert_eq!(m.in_flight(), 0);
}

#[test]
fn ollama_generate() {
    let m = mock("g");
    let a = m.addr();
    let v = post(
        a,
        "/api/generate",
        r#"{"model":"qwen:7b","prompt":"why is the sky blue","stream":false}"#,
    )
    .json();
    assert_eq!(v["response"], "[g] tok0 tok1 tok2 tok3 tok4 ");
    assert_eq!(v["done"], true);
    assert_eq!(v["prompt_eval_count"], 5);
    assert!(v.get("message").is_none());

    let r = post(a, "/api/generate", r#"{"model":"qwen:7b","prompt":"x"}"#);
    let lines = r.lines();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["response"], "[g] tok0 ");
    assert_eq!(lines[5]["done"], true);
    assert_eq!(lines[5]["done_reason"], "stop");
    assert_eq!(
        post(a, "/api/generate", r#"{"model":"nope","prompt":"x"}"#).status,
        404
    );
}

#[test]
fn ollama_embed_show_pull() {
    let m = mock("e");
    let a = m.addr();
    let v = post(
        a,
        "/api/embed",
        r#"{"model":"nomic-embed-text","input":"hello"}"#,
    )
    .json();
    assert_eq!(v["model"], "nomic-embed-text");
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 1);
    assert_eq!(v["embeddings"][0].as_array().unwrap().len(), 8);
    assert_eq!(v["prompt_eval_count"], 1);
    let v2 = post(
        a,
        "/api/embed",
        r#"{"model":"nomic-embed-text","input":["hello","world"]}"#,
    )
    .json();
    assert_eq!(v2["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(
        v2["embeddings"][0], v["embeddings"][0],
        "embeddings are deterministic"
    );

    let v = post(
        a,
        "/api/embeddings",
        r#"{"model":"nomic-embed-text","prompt":"hello"}"#,
    )
    .json();
    assert_eq!(v["embedding"], v2["embeddings"][0]);
    assert_eq!(
        post(a, "/api/embed", r#"{"model":"x","input":"a"}"#).status,
        404
    );

    let v = post(a, "/api/show", r#"{"model":"llama3:latest"}"#).json();
    assert!(v["modelfile"].as_str().unwrap().contains("llama3:latest"));
    assert_eq!(v["template"], "{{ .Prompt }}");
    assert_eq!(v["details"]["family"], "llama");
    assert_eq!(v["capabilities"], json!(["completion"]));
    assert_eq!(post(a, "/api/show", r#"{"name":"qwen:7b"}"#).status, 200);
    let r = post(a, "/api/show", r#"{"model":"ghost"}"#);
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("ghost"));

    // Streamed pull: progress frames, then the model is listed.
    let r = post(a, "/api/pull", r#"{"model":"mistral"}"#);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let lines = r.lines();
    assert_eq!(lines[0]["status"], "pulling manifest");
    let progress: Vec<&Value> = lines.iter().filter(|l| l.get("total").is_some()).collect();
    assert!(progress.len() >= 4);
    for p in &progress {
        assert!(p["digest"].as_str().unwrap().starts_with("sha256:"));
        assert!(p["status"].as_str().unwrap().starts_with("pulling "));
        assert!(p["completed"].as_u64() <= p["total"].as_u64());
    }
    assert!(progress.iter().any(|p| p["completed"] == p["total"]));
    let tail: Vec<&str> = lines[lines.len() - 3..]
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        tail,
        ["verifying sha256 digest", "writing manifest", "success"]
    );
    let tags = get(a, "/api/tags").json();
    assert!(tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "mistral:latest"));
    assert_eq!(
        post(
            a,
            "/api/chat",
            r#"{"model":"mistral","messages":[],"stream":false}"#
        )
        .status,
        200
    );

    // Non-streamed pull.
    let v = post(a, "/api/pull", r#"{"name":"phi3:mini","stream":false}"#).json();
    assert_eq!(v, json!({"status": "success"}));
    assert_eq!(
        get(a, "/v1/models").json()["data"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(m.requests("/api/pull"), 2);
    assert_eq!(m.total_inference_requests(), 5);
}

#[test]
fn openai_endpoints() {
    let m = mock("o");
    let a = m.addr();
    let body = r#"{"model":"llama3:latest","messages":[{"role":"user","content":"hello world"}]}"#;
    let r = post(a, "/v1/chat/completions", body);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].is_u64());
    assert_eq!(v["model"], "llama3:latest");
    assert_eq!(v["choices"][0]["index"], 0);
    assert_eq!(
        v["choices"][0]["message"],
        json!({"role": "assistant", "content": "[o] tok0 tok1 tok2 tok3 tok4 "})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7})
    );

    let body = r#"{"model":"llama3:latest","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#;
    let r = post(a, "/v1/chat/completions", body);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.complete);
    let events = r.events();
    assert_eq!(events.len(), 5 + 1 + 1 + 1);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..7]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "[o] tok0 "})
    );
    assert_eq!(
        chunks[1]["choices"][0]["delta"],
        json!({"content": "tok1 "})
    );
    assert_eq!(chunks[1]["choices"][0]["finish_reason"], Value::Null);
    assert_eq!(chunks[5]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[6]["choices"], json!([]));
    assert_eq!(chunks[6]["usage"]["completion_tokens"], 5);
    let ids: Vec<&Value> = chunks.iter().map(|c| &c["id"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0]));

    // Without include_usage there is no usage chunk.
    let r = post(
        a,
        "/v1/chat/completions",
        r#"{"model":"llama3:latest","messages":[],"stream":true}"#,
    );
    assert_eq!(r.events().len(), 7);

    let r = post(
        a,
        "/v1/chat/completions",
        r#"{"model":"gpt-9","messages":[]}"#,
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "model \"gpt-9\" not found", "type": "invalid_request_error", "param": null, "code": "model_not_found"}})
    );

    let v = post(
        a,
        "/v1/completions",
        r#"{"model":"qwen:7b","prompt":"once upon"}"#,
    )
    .json();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "[o] tok0 tok1 tok2 tok3 tok4 ");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    let r = post(
        a,
        "/v1/completions",
        r#"{"model":"qwen:7b","prompt":"x","stream":true}"#,
    );
    let events = r.events();
    assert_eq!(events.len(), 7);
    let first: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(first["choices"][0]["text"], "[o] tok0 ");
    assert_eq!(events[6], "[DONE]");

    let v = post(
        a,
        "/v1/embeddings",
        r#"{"model":"nomic-embed-text:latest","input":["a","b","c"]}"#,
    )
    .json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "nomic-embed-text:latest");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[2]["index"], 2);
    assert_eq!(data[2]["object"], "embedding");
    assert_eq!(data[2]["embedding"].as_array().unwrap().len(), 8);
    assert!(v["usage"]["prompt_tokens"].is_u64());
    let v = post(
        a,
        "/v1/embeddings",
        r#"{"model":"nomic-embed-text:latest","input":"a"}"#,
    )
    .json();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);

    assert_eq!(m.total_inference_requests(), 8);
    assert_eq!(m.requests("/v1/chat/completions"), 4);
    assert_eq!(m.requests("/v1/models"), 0);
}

#[test]
fn stream_chunks_are_flushed_as_they_are_produced() {
    let mut cfg = MockConfig::named("slow", &["llama3:latest"]);
    cfg.tokens = 4;
    cfg.token_delay = Duration::from_millis(150);
    let m = MockUpstream::start(cfg).unwrap();
    let r = post(
        m.addr(),
        "/api/chat",
        r#"{"model":"llama3:latest","messages":[]}"#,
    );
    assert!(r.complete);
    // One HTTP chunk per NDJSON line.
    assert_eq!(r.chunks.len(), 5);
    for (_, c) in &r.chunks {
        assert_eq!(c.iter().filter(|b| **b == b'\n').count(), 1);
    }
    // The first line was received well before the last one was produced.
    let first = r.chunks[0].0;
    let last = r.chunks[4].0;
    assert!(last.duration_since(first) >= Duration::from_millis(450));

    let r = post(
        m.addr(),
        "/v1/chat/completions",
        r#"{"model":"llama3:latest","messages":[],"stream":true}"#,
    );
    assert_eq!(r.chunks.len(), 6);
    assert!(r.chunks[5].0.duration_since(r.chunks[0].0) >= Duration::from_millis(450));
}

#[test]
fn latency_delays_inference_only() {
    let m = mock("lat");
    m.set_latency(Duration::from_millis(300));
    let t = Instant::now();
    let r = post(
        m.addr(),
        "/api/chat",
        r#"{"model":"llama3:latest","messages":[],"stream":false}"#,
    );
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    // While an inference request sits in its (long) latency, probes still answer.
    m.set_latency(Duration::from_secs(30));
    let a = m.addr();
    let slow = std::thread::spawn(move || {
        try_request(
            a,
            "POST",
            "/api/generate",
            Some(r#"{"model":"llama3:latest","prompt":"x"}"#),
            Duration::from_secs(20),
        )
    });
    wait_for(|| m.in_flight() == 1);
    assert_eq!(get(a, "/api/tags").status, 200);
    assert_eq!(get(a, "/").status, 200);
    assert_eq!(m.in_flight(), 1, "the inference request is still waiting");
    m.stop();
    assert!(slow.join().unwrap().is_err());
}

/// Polls `cond` until it holds (panics after 10 s).
fn wait_for(cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(10), "condition never met");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn failure_status_and_recovery() {
    let m = mock("f");
    let a = m.addr();
    m.set_failure(Failure::Status(503));
    assert_eq!(m.failure(), Failure::Status(503));
    for (path, body) in [
        ("/api/chat", r#"{"model":"llama3:latest","messages":[]}"#),
        ("/api/generate", r#"{"model":"llama3:latest","prompt":"x"}"#),
        ("/api/embed", r#"{"model":"llama3:latest","input":"x"}"#),
        (
            "/api/embeddings",
            r#"{"model":"llama3:latest","prompt":"x"}"#,
        ),
        ("/api/pull", r#"{"model":"llama3:latest"}"#),
        (
            "/v1/chat/completions",
            r#"{"model":"llama3:latest","messages":[]}"#,
        ),
        (
            "/v1/completions",
            r#"{"model":"llama3:latest","prompt":"x"}"#,
        ),
        ("/v1/embeddings", r#"{"model":"llama3:latest","input":"x"}"#),
    ] {
        let r = post(a, path, body);
        assert_eq!(r.status, 503, "{path}");
        assert_eq!(r.json(), json!({"error": "mock failure"}), "{path}");
        assert_eq!(r.header("x-mock-node"), Some("f"));
    }
    // Probes stay healthy.
    for p in ["/", "/api/version", "/api/tags", "/api/ps", "/v1/models"] {
        assert_eq!(get(a, p).status, 200, "{p}");
    }
    m.set_failure(Failure::None);
    assert_eq!(
        post(
            a,
            "/api/chat",
            r#"{"model":"llama3:latest","messages":[],"stream":false}"#
        )
        .status,
        200
    );
    assert_eq!(m.total_inference_requests(), 8);
}

#[test]
fn failure_die_after() {
    let m = mock("d");
    let a = m.addr();
    m.set_failure(Failure::DieAfter(2));
    let r = post(a, "/api/chat", r#"{"model":"llama3:latest","messages":[]}"#);
    assert_eq!(r.status, 200);
    assert!(!r.complete, "no terminating chunk");
    let lines = r.lines();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["done"] == false));

    let r = post(
        a,
        "/v1/chat/completions",
        r#"{"model":"llama3:latest","messages":[],"stream":true}"#,
    );
    assert!(!r.complete);
    assert_eq!(r.events().len(), 2);

    // More chunks than the answer has: all tokens, but never the final frame.
    m.set_failure(Failure::DieAfter(50));
    let r = post(
        a,
        "/api/generate",
        r#"{"model":"llama3:latest","prompt":"x"}"#,
    );
    assert!(!r.complete);
    assert_eq!(r.lines().len(), 5);
    assert!(r.lines().iter().all(|l| l["done"] == false));

    m.set_failure(Failure::DieAfter(0));
    let r = post(a, "/api/chat", r#"{"model":"llama3:latest","messages":[]}"#);
    assert_eq!(r.status, 200);
    assert!(!r.complete);
    assert!(r.body.is_empty());

    // Non-streamed answers are cut right after the headers.
    let r = post(
        a,
        "/api/chat",
        r#"{"model":"llama3:latest","messages":[],"stream":false}"#,
    );
    assert!(!r.complete);
    assert!(r.body.is_empty());

    // Pull dies mid-progress and the model is not added.
    m.set_failure(Failure::DieAfter(3));
    let r = post(a, "/api/pull", r#"{"model":"newone"}"#);
    assert!(!r.complete);
    assert_eq!(r.lines().len(), 3);
    assert!(!get(a, "/api/tags").text().contains("newone"));

    m.set_failure(Failure::None);
    assert!(post(a, "/api/chat", r#"{"model":"llama3:latest","messages":[]}"#).complete);
    assert_eq!(m.in_flight(), 0);
}

#[test]
fn failure_hang() {
    let m = mock("h");
    m.set_failure(Failure::Hang);
    let err = try_request(
        m.addr(),
        "POST",
        "/api/chat",
        Some(r#"{"model":"llama3:latest","messages":[]}"#),
        Duration::from_millis(300),
    );
    assert!(err.is_err(), "a hung node must not answer");
    assert_eq!(m.in_flight(), 1);
    assert_eq!(get(m.addr(), "/api/version").status, 200);
    // Stopping releases the hung request.
    m.stop();
    assert_eq!(m.in_flight(), 0);
}

#[test]
fn in_flight_is_tracked() {
    let m = mock("c");
    let a = m.addr();
    // Hung requests stay in flight until the node stops, whatever the machine's speed.
    m.set_failure(Failure::Hang);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                try_request(
                    a,
                    "POST",
                    "/v1/chat/completions",
                    Some(r#"{"model":"llama3:latest","messages":[]}"#),
                    Duration::from_secs(20),
                )
            })
        })
        .collect();
    wait_for(|| m.in_flight() == 4);
    assert_eq!(m.max_in_flight(), 4);
    assert_eq!(m.requests("/v1/chat/completions"), 4);
    m.stop();
    assert_eq!(m.in_flight(), 0);
    assert_eq!(m.max_in_flight(), 4);
    for t in threads {
        assert!(t.join().unwrap().is_err());
    }
}

#[test]
fn stop_and_restart_on_same_port() {
    let mut cfg = MockConfig::named("s", &["llama3:latest"]);
    cfg.tokens = 50;
    cfg.token_delay = Duration::from_millis(50);
    let m = MockUpstream::start(cfg).unwrap();
    let a = m.addr();
    assert!(m.is_running());

    // A long stream in progress is cut when the node goes down.
    let streaming = std::thread::spawn(move || {
        post(a, "/api/chat", r#"{"model":"llama3:latest","messages":[]}"#)
    });
    let t = Instant::now();
    while m.in_flight() == 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(120));
    m.stop();
    assert!(!m.is_running());
    assert!(refused(a), "stopped node must refuse connections");
    let r = streaming.join().unwrap();
    assert!(!r.complete);
    assert!(r.lines().len() < 50);
    m.stop(); // idempotent

    m.restart().unwrap();
    assert!(m.is_running());
    assert_eq!(m.addr(), a);
    m.set_tokens(1);
    let r = post(
        a,
        "/api/chat",
        r#"{"model":"llama3:latest","messages":[],"stream":false}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(m.requests("/api/chat"), 2, "counters survive a restart");

    // Restart while running works too.
    m.restart().unwrap();
    assert_eq!(get(a, "/").status, 200);
    drop(m);
    assert!(refused(a));
}

/// The gateway's tests drive the mock from inside actix runtimes: stopping and restarting
/// there must not deadlock.
#[actix_rt::test]
async fn usable_from_async_code() {
    let m = MockUpstream::start(MockConfig::default()).unwrap();
    let client = awc::Client::default();
    let mut res = client
        .post(format!("{}/api/chat", m.url()))
        .send_json(&json!({"model": "llama3:latest", "messages": [], "stream": false}))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers().get("x-mock-node").unwrap(), "mock");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["message"]["content"], "[mock] tok0 tok1 tok2 tok3 tok4 ");

    m.stop();
    assert!(client
        .get(format!("{}/api/version", m.url()))
        .send()
        .await
        .is_err());
    m.restart().unwrap();
    let res = awc::Client::default()
        .get(format!("{}/api/version", m.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
}
