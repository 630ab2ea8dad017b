//! Operations endpoints, request ids and liveness answers that Ollama clients check.

use serde_json::{json, Value};

use crate::harness::{client, start};

#[actix_rt::test]
async fn root_answers_like_ollama_for_get_and_head() {
    let s = start(&[("a", &["m:latest"])], |_| {}).await;
    let mut res = client().get(s.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(&res.body().await.unwrap()[..], b"Ollama is running");
    let res = client().head(s.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[actix_rt::test]
async fn health_readiness_and_version() {
    let s = start(&[("a", &["m:latest"])], |_| {}).await;
    let res = client().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut res = client().get(s.url("/version")).send().await.unwrap();
    let version: Value = res.json().await.unwrap();
    assert_eq!(version["name"], "drover");
    let mut res = client().get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["nodes"]["a"], "up");
    s.node("a").stop();
    s.wait_health("a", "down").await;
    let res = client().get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    // Liveness does not depend on nodes.
    let res = client().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[actix_rt::test]
async fn request_ids_are_kept_or_made() {
    let s = start(&[("a", &["m:latest"])], |_| {}).await;
    let res = client()
        .post(s.url("/api/chat"))
        .insert_header(("x-request-id", "trace-123"))
        .send_json(&json!({"model": "m", "stream": false}))
        .await
        .unwrap();
    assert_eq!(res.headers().get("x-request-id").unwrap(), "trace-123");
    let res = client().get(s.url("/api/tags")).send().await.unwrap();
    let made = res
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(made.len(), 32);
    // Errors carry it too.
    let res = client().get(s.url("/nowhere")).send().await.unwrap();
    assert!(res.headers().contains_key("x-request-id"));
}

#[actix_rt::test]
async fn metrics_count_requests_by_api_model_node_and_status() {
    let s = start(&[("metrics-node", &["metric-model:latest"])], |_| {}).await;
    assert_eq!(s.chat("metric-model").await.status, 200);
    assert_eq!(s.chat("metric-ghost").await.status, 404);
    let mut res = client().get(s.url("/metrics")).send().await.unwrap();
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    let served = text.lines().find(|l| {
        l.starts_with("drover_requests_total")
            && l.contains("node=\"metrics-node\"")
            && l.contains("model=\"metric-model:latest\"")
            && l.contains("status=\"200\"")
            && l.contains("api=\"/api/chat\"")
    });
    assert!(served.is_some(), "{text}");
    assert!(text.contains("drover_request_duration_seconds_bucket"));
    assert!(text.contains("drover_node_up{node=\"metrics-node\"} 1"));
    assert!(text.contains("drover_node_in_flight{node=\"metrics-node\"} 0"));
    // An unknown model is counted without its (client-chosen) name as a label.
    assert!(!text.contains("metric-ghost"));
    assert!(text.lines().any(|l| l.starts_with("drover_requests_total")
        && l.contains("model=\"-\"")
        && l.contains("status=\"404\"")));
    // Requests refused before routing are counted too.
    let res = client()
        .post(s.url("/api/chat"))
        .send_body("{")
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let mut res = client().get(s.url("/metrics")).send().await.unwrap();
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("drover_requests_total")
            && l.contains("api=\"/api/chat\"")
            && l.contains("status=\"400\"")),
        "{text}"
    );
}
