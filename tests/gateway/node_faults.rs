//! Nodes that are busy, refuse one request, or end oddly, as real servers (llama.cpp's,
//! llama-cpp-python) do: a busy node is not a dead one, one bad request does not take a
//! node down, the node's own status reaches the client, and an answer without its finish
//! marker is reported as cut.

use std::time::Duration;

use drover::config::{Config, NodeKind};
use drover_loadtest::mock::{Failure, MockConfig, MockKind, MockUpstream};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::harness::{client, start_over, Setup};

/// OpenAI-kind nodes (`/v1` base URLs), each serving `m`.
async fn openai_nodes(names: &[&str], tweak: impl FnOnce(&mut Config)) -> Setup {
    let mocks: Vec<MockUpstream> = names
        .iter()
        .map(|n| MockUpstream::start(MockConfig::of_kind(MockKind::OpenAi, n, &["m"])).unwrap())
        .collect();
    start_over(mocks, |config| {
        for node in &mut config.nodes {
            node.kind = NodeKind::OpenAi;
            node.url = format!("{}/v1", node.url);
        }
        tweak(config);
    })
    .await
}

fn chat(content: &str, stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": content}]})
}

/// The node's health as `/readyz` reports it.
async fn health(s: &Setup, name: &str) -> String {
    let mut res = client().get(s.url("/readyz")).send().await.unwrap();
    let body: Value = res.json().await.unwrap();
    body["nodes"][name].as_str().unwrap_or("").to_owned()
}

#[actix_rt::test]
async fn a_node_that_cuts_one_prompt_after_its_headers_stays_routable() {
    let s = openai_nodes(&["a"], |c| c.failover.attempts = 1).await;
    s.node("a").set_cut_on(Some("OVERLONG"));
    for _ in 0..4 {
        let reply = s
            .post("/v1/chat/completions", chat("OVERLONG prompt", true))
            .await;
        assert!(
            reply.status.is_server_error() || reply.text().contains("error"),
            "{reply:?}"
        );
    }
    assert_ne!(health(&s, "a").await, "down");
    let reply = s.post("/v1/chat/completions", chat("hi", false)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.node.as_deref(), Some("a"));
}

#[actix_rt::test]
async fn a_stream_ended_without_its_finish_reason_is_reported_cut() {
    let s = openai_nodes(&["a"], |_| {}).await;
    s.node("a").set_omit_finish(true);
    // An Ollama client of an OpenAI node: no `done: true`, an error line instead.
    let reply = s.post("/api/chat", chat("hi", true)).await;
    assert_eq!(reply.status, 200);
    let lines = reply.lines();
    assert!(lines.iter().all(|l| l["done"] != true), "{lines:?}");
    let last = lines.last().unwrap();
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("without a finish reason"),
        "{lines:?}"
    );
    // An Anthropic client: an error event, no `message_stop`.
    let reply = s
        .post(
            "/v1/messages",
            json!({"model": "m", "max_tokens": 50, "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let text = reply.text();
    assert!(!text.contains("message_stop"), "{text}");
    assert!(text.contains("event: error"), "{text}");
}

#[actix_rt::test]
async fn the_last_nodes_status_reaches_the_client() {
    let s = openai_nodes(&["a", "b"], |_| {}).await;
    for (status, stream) in [
        (429, false),
        (429, true),
        (503, false),
        (400, false),
        (400, true),
    ] {
        for node in ["a", "b"] {
            s.node(node).set_failure(Failure::Status(status));
        }
        let reply = s.post("/v1/chat/completions", chat("hi", stream)).await;
        assert_eq!(reply.status, status, "{}", reply.text());
        let body = reply.json();
        assert_eq!(body["error"]["message"], "mock failure", "{body}");
        if status == 429 {
            assert_eq!(reply.headers.get("retry-after").unwrap(), "7");
            assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        }
    }
    // Other clients get the node's status in their own shape.
    let reply = s
        .post(
            "/v1/messages",
            json!({"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["message"], "mock failure");
    for node in ["a", "b"] {
        s.node(node).set_failure(Failure::Status(429));
    }
    let reply = s.post("/api/chat", chat("hi", false)).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.json()["error"], "mock failure");
    // A node that is broken (a 500, a cut) is still the gateway's 502.
    for node in ["a", "b"] {
        s.node(node).set_failure(Failure::Status(500));
    }
    let reply = s.post("/v1/chat/completions", chat("hi", false)).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
}

#[actix_rt::test]
async fn a_one_slot_node_busy_with_a_long_stream_stays_up() {
    let s = openai_nodes(&["a"], |_| {}).await;
    let node = s.node("a");
    // Probes wait behind the stream, which lasts many probe intervals and timeouts.
    node.set_probe_after_streams(true);
    node.set_tokens(20);
    node.set_token_delay(Duration::from_millis(200));
    let mut res = client()
        .post(s.url("/v1/chat/completions"))
        .send_json(&chat("long", true))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut chunks = 0;
    let mut seen = Vec::new();
    while let Some(chunk) = res.next().await {
        chunk.unwrap();
        chunks += 1;
        if chunks % 3 == 0 {
            seen.push(health(&s, "a").await);
        }
        if chunks == 12 {
            // Another request meanwhile is served, not refused for want of a healthy node.
            node.set_tokens(1);
            node.set_token_delay(Duration::ZERO);
            let reply = s.post("/v1/chat/completions", chat("short", false)).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            node.set_tokens(20);
            node.set_token_delay(Duration::from_millis(200));
        }
    }
    assert!(seen.iter().all(|h| h == "up"), "{seen:?}");
}
