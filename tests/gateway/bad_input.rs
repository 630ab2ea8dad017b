//! Bad input gets the right status in the client API's own error shape.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::harness::{client, post_raw, read, start, Setup};

async fn setup() -> Setup {
    start(&[("a", &["m:latest"])], |c| c.limits.max_body_bytes = 1024).await
}

/// Ollama errors are `{"error": "<message>"}`.
fn ollama_error(body: &Value) -> String {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("not an Ollama error: {body}"))
        .to_owned()
}

/// OpenAI errors are `{"error": {"message", "type", "param", "code"}}`.
fn openai_error(body: &Value) -> String {
    let error = &body["error"];
    assert!(
        error["type"].is_string() && error.get("param").is_some(),
        "not an OpenAI error: {body}"
    );
    error["message"].as_str().unwrap().to_owned()
}

#[actix_rt::test]
async fn malformed_json() {
    let s = setup().await;
    let reply = post_raw(&s.url("/api/chat"), Bytes::from_static(b"{\"model\": ")).await;
    assert_eq!(reply.status, 400);
    assert!(ollama_error(&reply.json()).contains("invalid JSON"));
    let reply = post_raw(
        &s.url("/v1/chat/completions"),
        Bytes::from_static(b"not json"),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(openai_error(&reply.json()).contains("invalid JSON"));
    let reply = post_raw(&s.url("/api/generate"), Bytes::new()).await;
    assert_eq!(reply.status, 400);
    assert!(ollama_error(&reply.json()).contains("empty"));
}

#[actix_rt::test]
async fn wrong_types_name_the_field() {
    let s = setup().await;
    let reply = s
        .post(
            "/api/chat",
            json!({"model": "m", "messages": [{"role": 1}]}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(ollama_error(&reply.json()).starts_with("messages[0].role"));
    let reply = s
        .post("/v1/chat/completions", json!({"model": 7, "messages": []}))
        .await;
    assert_eq!(reply.status, 400);
    assert!(openai_error(&reply.json()).starts_with("model"));
    let reply = s
        .post("/api/generate", json!({"model": "m", "stream": "yes"}))
        .await;
    assert!(ollama_error(&reply.json()).starts_with("stream"));
    // Nothing invalid reached a node.
    assert_eq!(s.node("a").total_inference_requests(), 0);
}

#[actix_rt::test]
async fn missing_fields() {
    let s = setup().await;
    let reply = s.post("/api/chat", json!({"messages": []})).await;
    assert_eq!(
        (reply.status.as_u16(), ollama_error(&reply.json())),
        (400, "model is required".into())
    );
    let reply = s.post("/v1/chat/completions", json!({"model": "m"})).await;
    assert_eq!(reply.status, 400);
    assert!(openai_error(&reply.json()).contains("messages"));
    let reply = s.post("/api/embed", json!({"model": "m"})).await;
    assert!(ollama_error(&reply.json()).contains("input"));
    let reply = s.post("/v1/embeddings", json!({"model": "m"})).await;
    assert!(openai_error(&reply.json()).contains("input"));
}

#[actix_rt::test]
async fn unknown_model_is_404_in_each_shape() {
    let s = setup().await;
    let reply = s.chat("ghost").await;
    assert_eq!(reply.status, 404);
    assert!(ollama_error(&reply.json()).contains("\"ghost\" not found"));
    let reply = s
        .post(
            "/v1/chat/completions",
            json!({"model": "ghost", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(reply.status, 404);
    assert!(openai_error(&reply.json()).contains("ghost"));
    assert_eq!(reply.json()["error"]["code"], "model_not_found");
}

#[actix_rt::test]
async fn oversized_bodies_get_413() {
    let s = setup().await;
    let big = json!({"model": "m", "prompt": "x".repeat(2000)});
    let reply = s.post("/api/generate", big.clone()).await;
    assert_eq!(reply.status, 413);
    assert!(ollama_error(&reply.json()).contains("1024"));
    let reply = s.post("/v1/completions", big).await;
    assert_eq!(reply.status, 413);
    openai_error(&reply.json());
    // A body streamed without Content-Length is cut off at the limit too.
    let chunks = futures_util::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 512]))),
    );
    let res = client()
        .post(s.url("/api/chat"))
        .send_stream(chunks)
        .await
        .unwrap();
    assert_eq!(read(res).await.status, 413);
}

#[actix_rt::test]
async fn wrong_method_and_unknown_path() {
    let s = setup().await;
    let mut res = client().get(s.url("/api/chat")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert!(ollama_error(&res.json().await.unwrap()).contains("GET"));
    let mut res = client().delete(s.url("/v1/models")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    openai_error(&res.json().await.unwrap());
    let mut res = client().get(s.url("/api/nothing")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(ollama_error(&res.json().await.unwrap()).contains("/api/nothing"));
    let mut res = client().post(s.url("/v1/nothing")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    openai_error(&res.json().await.unwrap());
}
