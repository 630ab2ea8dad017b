//! What the target API accepts is accepted: hints are dropped and named (`x-drover-dropped`
//! and the request record), pass-through bodies are the node's to judge (with their query
//! string), Anthropic's `count_tokens` is answered on every node kind, and a refused
//! translation is recorded with the body the client got.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    harness::{client, read, Reply, Setup},
    providers::{anthropic_post, assert_no_rejections, fleet},
};

/// A body the way Claude Code sends it for a model it does not know.
fn claude_code(model: &str, stream: bool) -> Value {
    json!({
        "model": model, "max_tokens": 32000, "stream": stream,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi there", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "Reminder: be brief."},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "go on"}
        ],
        "tools": [{"name": "Bash", "description": "run a command", "eager_input_streaming": true,
                   "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}],
        "tool_choice": {"type": "none"},
        "metadata": {"user_id": "user_abc"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "thinking": {"type": "adaptive"}
    })
}

fn dropped(reply: &Reply) -> String {
    reply
        .headers
        .get("x-drover-dropped")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn anthropic_at(s: &Setup, path: &str, body: Value, beta: Option<&str>) -> Reply {
    let mut request = client()
        .post(s.url(path))
        .insert_header(("anthropic-version", "2023-06-01"));
    if let Some(beta) = beta {
        request = request.insert_header(("anthropic-beta", beta));
    }
    read(request.send_json(&body).await.unwrap()).await
}

/// The record whose captured request holds `needle`, once written.
async fn record_of(s: &Setup, needle: &str) -> Value {
    for _ in 0..100 {
        let page = crate::admin::admin(s, "GET", &format!("/logs?q={needle}"), None)
            .await
            .json();
        if let Some(found) = page["records"].as_array().and_then(|r| r.first()) {
            return found.clone();
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no record holds {needle}");
}

fn recording(config: &mut drover::config::Config) {
    config.request_log.enabled = true;
    config.request_log.flush_timeout = Duration::from_millis(50);
    config.request_log.capture = true;
}

#[actix_rt::test]
async fn claude_code_requests_reach_ollama_and_openai_nodes_and_drops_are_told() {
    let s = fleet(recording).await;
    for (model, node) in [("o", "ollama"), ("g", "openai")] {
        for stream in [false, true] {
            let reply = anthropic_post(&s, claude_code(model, stream)).await;
            assert_eq!(
                reply.status,
                200,
                "{model} stream {stream}: {}",
                reply.text()
            );
            assert_eq!(reply.node.as_deref(), Some(node));
            let told = dropped(&reply);
            for field in [
                "context_management",
                "cache_control",
                "eager_input_streaming",
            ] {
                assert!(told.contains(field), "{model}: {told}");
            }
            // Ollama has no end-user field; OpenAI's `user` takes it.
            assert_eq!(told.contains("metadata.user_id"), model == "o", "{told}");
        }
    }
    let sent = s.node("ollama").last_body("/api/chat").unwrap();
    assert_eq!(sent["think"], "high", "{sent}");
    assert_eq!(sent["messages"][2]["role"], "system", "{sent}");
    let sent = s.node("openai").last_body("/v1/chat/completions").unwrap();
    assert_eq!(sent["reasoning_effort"], "high", "{sent}");
    assert_no_rejections(&s);

    // The record says what was dropped, as the header did.
    let reply = anthropic_post(&s, {
        let mut body = claude_code("o", false);
        body["messages"][3]["content"] = json!("recordneedle");
        body
    })
    .await;
    let record = record_of(&s, "recordneedle").await;
    assert_eq!(record["dropped"], dropped(&reply), "{record}");
    // Nothing dropped: no header, a null field.
    let plain = s
        .post(
            "/v1/chat/completions",
            json!({"model": "o", "messages": [{"role": "user", "content": "plainneedle"}]}),
        )
        .await;
    assert!(plain.headers.get("x-drover-dropped").is_none());
    let record = record_of(&s, "plainneedle").await;
    assert!(record["dropped"].is_null(), "{record}");
}

/// Ollama clients are held to what Ollama itself refuses: `null` options and fields Ollama
/// ignores (`tool_choice`) are no reason to refuse, whatever node serves the model.
#[actix_rt::test]
async fn ollama_clients_are_refused_only_what_ollama_refuses() {
    let s = fleet(|_| {}).await;
    // LangChain's OllamaEmbeddings.
    let embed = s
        .post(
            "/api/embed",
            json!({"model": "g", "input": ["a"], "keep_alive": null,
                   "options": {"mirostat": null, "num_ctx": null, "temperature": null}}),
        )
        .await;
    assert_eq!(embed.status, 200, "{}", embed.text());
    assert_eq!(dropped(&embed), "");
    // ollama-ai-provider-v2.
    for model in ["g", "c"] {
        let chat = s
            .post(
                "/api/chat",
                json!({"model": model, "stream": false, "tool_choice": "auto",
                       "messages": [{"role": "user", "content": "hi"}],
                       "options": {"repeat_penalty": 1.1, "mirostat": null}}),
            )
            .await;
        assert_eq!(chat.status, 200, "{model}: {}", chat.text());
        assert_eq!(dropped(&chat), "options.repeat_penalty, tool_choice");
    }
    assert_no_rejections(&s);
}

/// Same API in and out: Drover checks the model only; the body, its query string and its
/// beta header reach the node as sent, and the node's own verdict reaches the client.
#[actix_rt::test]
async fn pass_through_is_the_nodes_to_judge() {
    let s = fleet(|_| {}).await;
    let body = json!({"model": "c", "max_tokens": 5, "brand_new": {"x": 1},
                      "messages": [{"role": "user", "content": "hi"}]});
    let reply = anthropic_at(&s, "/v1/messages?beta=true", body.clone(), Some("b-1")).await;
    let anthropic = s.node("anthropic");
    assert_eq!(
        anthropic.last_query("/v1/messages").as_deref(),
        Some("beta=true")
    );
    assert_eq!(anthropic.last_body("/v1/messages").unwrap(), body);
    assert_eq!(
        anthropic
            .last_header("/v1/messages", "anthropic-beta")
            .as_deref(),
        Some("b-1")
    );
    // The node refused the field it does not know; its answer came back unchanged.
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.text().contains("brand_new"), "{}", reply.text());
    assert!(reply.headers.get("x-drover-dropped").is_none());

    // A translated body is asked for on the node's terms: no query string.
    let translated = anthropic_at(
        &s,
        "/v1/messages?beta=true",
        json!({"model": "o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
        None,
    )
    .await;
    assert_eq!(translated.status, 200, "{}", translated.text());
    assert_eq!(s.node("ollama").last_query("/api/chat"), None);

    // Roles are the node's business on a pass-through, and an unknown model is a 404.
    let unknown = anthropic_post(
        &s,
        json!({"model": "nope", "max_tokens": 5, "messages": [
            {"role": "user", "content": "hi"}, {"role": "system", "content": "x"}]}),
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert_eq!(unknown.json()["error"]["type"], "not_found_error");
    // Translated, Anthropic's own rules still hold.
    let missing = anthropic_post(
        &s,
        json!({"model": "o", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(missing.status, 400);
    assert!(missing.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("max_tokens"));
}

#[actix_rt::test]
async fn count_tokens_is_answered_on_every_node_kind() {
    let s = fleet(|_| {}).await;
    let body = |model: &str| {
        json!({"model": model, "system": "Be brief.",
               "messages": [{"role": "user", "content": "how many tokens is this"}],
               "tools": [{"name": "Bash", "input_schema": {"type": "object"}}]})
    };
    let path = "/v1/messages/count_tokens?beta=true";
    // Anthropic: passed through, query string and beta header with it.
    let exact = anthropic_at(&s, path, body("c"), Some("token-counting-2024-11-01")).await;
    assert_eq!(exact.status, 200, "{}", exact.text());
    assert!(exact.json()["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(exact.headers.get("x-drover-token-count").unwrap(), "exact");
    let anthropic = s.node("anthropic");
    let counted = "/v1/messages/count_tokens";
    assert_eq!(anthropic.last_query(counted).as_deref(), Some("beta=true"));
    assert_eq!(
        anthropic.last_header(counted, "anthropic-beta").as_deref(),
        Some("token-counting-2024-11-01")
    );
    assert_eq!(anthropic.last_body(counted).unwrap(), body("c"));
    // Ollama: a chat that generates nothing; its prompt count is the answer.
    let ollama = anthropic_at(&s, path, body("o"), None).await;
    assert_eq!(ollama.status, 200, "{}", ollama.text());
    assert_eq!(ollama.headers.get("x-drover-token-count").unwrap(), "exact");
    let sent = s.node("ollama").last_body("/api/chat").unwrap();
    assert_eq!(sent["options"]["num_predict"], 0, "{sent}");
    assert_eq!(sent["stream"], false, "{sent}");
    let n = ollama.json()["input_tokens"].as_u64().unwrap();
    assert!(n > 0, "{}", ollama.text());
    // OpenAI-compatible: Drover's estimate, said to be one.
    let estimate = anthropic_at(&s, path, body("g"), None).await;
    assert_eq!(estimate.status, 200, "{}", estimate.text());
    assert_eq!(
        estimate.headers.get("x-drover-token-count").unwrap(),
        "estimate"
    );
    assert!(estimate.json()["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(s.node("openai").requests("/v1/chat/completions"), 0);
    // Errors in Anthropic's shape.
    let no_model = anthropic_at(&s, counted, json!({"messages": []}), None).await;
    assert_eq!(no_model.status, 400);
    assert_eq!(no_model.json()["type"], "error");
    let unknown = anthropic_at(&s, counted, body("nope"), None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["type"], "not_found_error");
    let no_messages = anthropic_at(&s, counted, json!({"model": "o"}), None).await;
    assert_eq!(no_messages.status, 400, "{}", no_messages.text());
    assert_eq!(no_messages.json()["error"]["type"], "invalid_request_error");
    assert_no_rejections(&s);
}

/// A refused translation keeps, with its record, the error body the client got.
#[actix_rt::test]
async fn a_refused_translation_is_recorded_with_its_body() {
    let s = fleet(recording).await;
    let refused = s
        .post(
            "/v1/chat/completions",
            json!({"model": "c", "n": 2, "messages": [{"role": "user", "content": "refusedneedle"}]}),
        )
        .await;
    assert_eq!(refused.status, 400);
    let record = record_of(&s, "refusedneedle").await;
    assert_eq!(record["status"], 400);
    let id = record["id"].as_str().unwrap();
    let one = crate::admin::admin(&s, "GET", &format!("/logs/{id}"), None)
        .await
        .json();
    assert_eq!(one["content"]["response"], refused.json(), "{one}");
}
