//! Streams pass through chunk by chunk, and a stream that breaks says so in its own format.

use std::time::Duration;

use bytes::Bytes;
use drover_loadtest::mock::Failure;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::harness::{client, read, start};

#[actix_rt::test]
async fn the_first_chunk_arrives_while_the_upstream_is_still_sending() {
    let s = start(&[("a", &["m:latest"])], |_| {}).await;
    let node = s.node("a");
    node.set_tokens(5);
    node.set_token_delay(Duration::from_millis(200));
    let mut res = client()
        .post(s.url("/api/chat"))
        .send_json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/x-ndjson"
    );
    let first = res.next().await.unwrap().unwrap();
    let line: Value = serde_json::from_slice(first.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["done"], false);
    // The node is still generating: nothing was held back until the end.
    assert_eq!(
        node.in_flight(),
        1,
        "the upstream already finished: the stream was buffered"
    );
    let rest = read(res).await;
    let lines: Vec<Value> = std::iter::once(line).chain(rest.lines()).collect();
    assert_eq!(lines.len(), 6, "5 tokens and the final line");
    assert_eq!(lines[5]["done"], true);
}

#[actix_rt::test]
async fn openai_sse_passes_through_whole() {
    let s = start(&[("a", &["m:latest"])], |_| {}).await;
    s.node("a").set_tokens(4);
    let reply = s
        .post(
            "/v1/chat/completions",
            json!({"model": "m", "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events: Vec<&str> = reply
        .text()
        .leak()
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .collect();
    assert_eq!(events.last(), Some(&"data: [DONE]"));
    // 4 token chunks plus the finishing chunk, then [DONE].
    assert_eq!(events.len(), 6, "{events:?}");
}

#[actix_rt::test]
async fn a_stream_broken_midway_ends_with_an_ollama_error_line() {
    let s = start(&[("a", &["m:latest"])], |_| {}).await;
    s.node("a").set_failure(Failure::DieAfter(2));
    let reply = s
        .post(
            "/api/chat",
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let lines = reply.lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["done"], false);
    assert!(
        lines[2]["error"].as_str().unwrap().contains("node a"),
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| l["done"] != true),
        "a broken stream must not look finished"
    );
}

#[actix_rt::test]
async fn a_stream_broken_midway_ends_with_an_openai_error_event() {
    let s = start(&[("a", &["m:latest"])], |_| {}).await;
    s.node("a").set_failure(Failure::DieAfter(2));
    let reply = s
        .post(
            "/v1/chat/completions",
            json!({"model": "m", "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let text = reply.text();
    assert!(!text.contains("[DONE]"), "{text}");
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let event: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert!(event["error"]["message"]
        .as_str()
        .unwrap()
        .contains("node a"));
}

#[actix_rt::test]
async fn a_whole_answer_broken_midway_is_cut_not_completed() {
    let s = start(&[("a", &["m:latest"])], |c| c.failover.attempts = 1).await;
    s.node("a").set_failure(Failure::DieAfter(0));
    let reply = s.chat("m").await;
    // Nothing reached the client before the break, so it is an error, not a truncated 200.
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(reply.json()["error"].as_str().unwrap().contains("node a"));
}

#[actix_rt::test]
async fn a_stream_that_goes_silent_is_ended_by_the_idle_timeout() {
    let s = start(&[("a", &["m:latest"])], |c| {
        c.timeouts.idle = Duration::from_millis(300)
    })
    .await;
    let node = s.node("a");
    node.set_tokens(3);
    node.set_token_delay(Duration::from_secs(3));
    let res = client()
        .post(s.url("/api/generate"))
        .send_body(Bytes::from(
            json!({"model": "m", "prompt": "x"}).to_string(),
        ))
        .await
        .unwrap();
    let reply = read(res).await;
    let lines = reply.lines();
    assert!(
        lines.last().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("no data"),
        "{lines:?}"
    );
}
