//! The mock's node kinds over real sockets: what each serves, how strictly it refuses
//! (status, error shape, `rejections`), and the answers every kind derives from the same
//! rules: tool calls streamed in pieces, echoes of system prompts, images and tool results,
//! stop sequences, length limits, cached-token usage, and the failure modes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{get, get_with, post, post_with, try_request_with, Resp};
use drover_loadtest::mock::{Failure, MockConfig, MockKind, MockUpstream};
use serde_json::{json, Value};

const ANTHROPIC_HEADERS: &[(&str, &str)] = &[("anthropic-version", "2023-06-01")];

fn node(kind: MockKind, name: &str) -> MockUpstream {
    MockUpstream::start(MockConfig::of_kind(kind, name, &["m1", "m2"])).unwrap()
}

fn with_key(kind: MockKind, name: &str, key: &str) -> MockUpstream {
    let mut cfg = MockConfig::of_kind(kind, name, &["m1"]);
    cfg.api_key = Some(key.to_owned());
    MockUpstream::start(cfg).unwrap()
}

fn messages(m: &MockUpstream, body: &Value) -> Resp {
    post_with(
        m.addr(),
        "/v1/messages",
        ANTHROPIC_HEADERS,
        &body.to_string(),
    )
}

fn tools_openai(names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| json!({"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}))
        .collect()
}

fn tools_anthropic(names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| json!({"name": n, "description": "d", "input_schema": {"type": "object"}}))
        .collect()
}

/// The parsed `data:` payloads of an OpenAI stream, `[DONE]` excluded.
fn chunks(r: &Resp) -> Vec<Value> {
    let events = r.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

#[test]
fn config_of_kind() {
    let c = MockConfig::of_kind(MockKind::Anthropic, "a", &["claude"]);
    assert_eq!(c.kind, MockKind::Anthropic);
    assert_eq!(c.name, "a");
    assert_eq!(c.models, vec!["claude"]);
    assert_eq!(c.api_key, None);
    assert_eq!(MockConfig::named("n", &[]).kind, MockKind::Ollama);
    assert_eq!(MockConfig::default().kind, MockKind::Ollama);
    for k in [MockKind::Ollama, MockKind::OpenAi, MockKind::Anthropic] {
        assert_eq!(k.as_str().parse::<MockKind>(), Ok(k));
    }
    assert!("gemini".parse::<MockKind>().is_err());
}

// ---------------------------------------------------------------- OpenAI kind

#[test]
fn openai_kind_serves_only_v1_and_checks_the_key() {
    let m = with_key(MockKind::OpenAi, "o", "sk-1");
    let a = m.addr();
    assert_eq!(m.kind(), MockKind::OpenAi);

    let r = post(a, "/api/chat", r#"{"model":"m1","messages":[]}"#);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(get(a, "/").status, 404);

    let r = get(a, "/v1/models");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = get_with(a, "/v1/models", &[("authorization", "Bearer nope")]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "invalid_api_key");
    let r = get_with(a, "/v1/models", &[("authorization", "Bearer sk-1")]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"object": "list", "data": [{"id": "m1", "object": "model", "created": 0, "owned_by": "library"}]})
    );
    assert_eq!(m.rejections(), 2);
    assert_eq!(m.requests("/v1/models"), 3);
    assert_eq!(
        m.last_header("/v1/models", "Authorization").as_deref(),
        Some("Bearer sk-1")
    );

    let body = json!({"model": "m1", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let h = [("authorization", "Bearer sk-1"), ("x-trace", "t-1")];
    let r = post_with(a, "/v1/chat/completions", &h, &body);
    assert_eq!(r.status, 200);
    let headers = m.last_headers("/v1/chat/completions").unwrap();
    assert!(headers.contains(&("x-trace".to_owned(), "t-1".to_owned())));
    assert_eq!(m.last_body("/v1/chat/completions").unwrap()["model"], "m1");
    assert_eq!(post(a, "/v1/chat/completions", &body).status, 401);
    assert_eq!(m.rejections(), 3);
}

#[test]
fn openai_kind_refuses_invalid_requests() {
    let m = node(MockKind::OpenAi, "o");
    let a = m.addr();
    let bad = [
        json!({"messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "m1", "messages": []}),
        json!({"model": "m1", "messages": [{"role": "function", "content": "x"}]}),
        json!({"model": "m1", "messages": [{"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
            {"role": "tool", "tool_call_id": "c", "content": "r"}]}),
        json!({"model": "m1", "messages": [{"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "user", "content": "skipped the tool"}]}),
        json!({"model": "m1", "messages": [{"role": "tool", "tool_call_id": "c", "content": "r"}]}),
        json!({"model": "m1", "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "m1", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,!!"}}]}]}),
        json!({"model": "m1", "tools": [{"type": "function", "function": {"parameters": {}}}], "messages": [{"role": "user", "content": "x"}]}),
    ];
    for (i, body) in bad.iter().enumerate() {
        let r = post(a, "/v1/chat/completions", &body.to_string());
        assert_eq!(r.status, 400, "{body}");
        let e = r.json();
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
        assert!(!e["error"]["message"].as_str().unwrap().is_empty());
        assert_eq!(m.rejections(), i as u64 + 1);
    }
    assert_eq!(post(a, "/v1/chat/completions", "{nope").status, 400);
    assert_eq!(post(a, "/v1/completions", r#"{"model":"m1"}"#).status, 400);
    assert_eq!(post(a, "/v1/embeddings", r#"{"model":"m1"}"#).status, 400);
    let before = m.rejections();
    // An unknown model is a 404, not a refusal of the request's shape.
    let r = post(
        a,
        "/v1/chat/completions",
        r#"{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}"#,
    );
    assert_eq!(r.status, 404);
    assert_eq!(m.rejections(), before);
    assert_eq!(m.requests("/v1/chat/completions"), bad.len() as u64 + 2);
    // Completions and embeddings still answer.
    assert_eq!(
        post(a, "/v1/completions", r#"{"model":"m1","prompt":"x"}"#).status,
        200
    );
    assert_eq!(
        post(a, "/v1/embeddings", r#"{"model":"m1","input":"x"}"#).status,
        200
    );
}

#[test]
fn openai_kind_text_answers() {
    let m = node(MockKind::OpenAi, "o");
    let a = m.addr();
    let body = json!({"model": "m1", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}
        ]}
    ]});
    let v = post(a, "/v1/chat/completions", &body.to_string()).json();
    assert_eq!(
        v["choices"][0]["message"],
        json!({"role": "assistant", "content": "[system: be brief] [images: 2] [o] tok0 tok1 tok2 tok3 tok4 "})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10,
               "prompt_tokens_details": {"cached_tokens": 0}})
    );

    // Stop sequence, limit, cache key.
    let v = post(
        a,
        "/v1/chat/completions",
        &json!({"model": "m1", "stop": ["tok3"], "prompt_cache_key": "k",
                "messages": [{"role": "user", "content": "a b"}]})
        .to_string(),
    )
    .json();
    assert_eq!(v["choices"][0]["message"]["content"], "[o] tok0 tok1 tok2 ");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 2 + 7);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 7);
    assert_eq!(v["usage"]["completion_tokens"], 3);
    let v = post(
        a,
        "/v1/chat/completions",
        &json!({"model": "m1", "max_completion_tokens": 2,
                "messages": [{"role": "user", "content": "a"}]})
        .to_string(),
    )
    .json();
    assert_eq!(v["choices"][0]["message"]["content"], "[o] tok0 tok1 ");
    assert_eq!(v["choices"][0]["finish_reason"], "length");

    // Streams: usage-only chunk only on request.
    let streamed = |include: Option<bool>| {
        let mut b = json!({"model": "m1", "stream": true, "max_tokens": 3,
                           "messages": [{"role": "user", "content": "a"}]});
        if let Some(i) = include {
            b["stream_options"] = json!({"include_usage": i});
        }
        chunks(&post(a, "/v1/chat/completions", &b.to_string()))
    };
    let c = streamed(Some(true));
    assert_eq!(c.len(), 3 + 1 + 1);
    assert_eq!(
        c[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "[o] tok0 "})
    );
    assert_eq!(c[3]["choices"][0]["finish_reason"], "length");
    assert_eq!(c[4]["choices"], json!([]));
    assert_eq!(c[4]["usage"]["completion_tokens"], 3);
    assert_eq!(streamed(Some(false)).len(), 4);
    assert_eq!(streamed(None).len(), 4);
    assert_eq!(m.rejections(), 0);
}

/// Reassembles OpenAI streamed tool-call deltas by index; checks ids and names come once.
fn reassemble_openai(c: &[Value]) -> BTreeMap<u64, (String, String, String)> {
    let mut calls: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
    for chunk in c {
        let Some(tcs) = chunk["choices"][0]["delta"]["tool_calls"].as_array() else {
            continue;
        };
        for tc in tcs {
            let index = tc["index"].as_u64().unwrap();
            let args = tc["function"]["arguments"].as_str().unwrap();
            assert!(args.len() <= 5, "piece {args:?} too long");
            match calls.get_mut(&index) {
                None => {
                    assert_eq!(args, "", "the naming delta carries no arguments");
                    assert_eq!(tc["type"], "function");
                    calls.insert(
                        index,
                        (
                            tc["id"].as_str().unwrap().to_owned(),
                            tc["function"]["name"].as_str().unwrap().to_owned(),
                            String::new(),
                        ),
                    );
                }
                Some(call) => {
                    assert!(tc.get("id").is_none() && tc["function"].get("name").is_none());
                    call.2.push_str(args);
                }
            }
        }
    }
    calls
}

#[test]
fn openai_kind_tool_calls() {
    let m = node(MockKind::OpenAi, "o");
    let a = m.addr();
    let ask = |text: &str, stream: bool, choice: Option<Value>| {
        let mut b = json!({"model": "m1", "stream": stream, "tools": tools_openai(&["search", "lookup"]),
                           "messages": [{"role": "user", "content": text}]});
        if let Some(c) = choice {
            b["tool_choice"] = c;
        }
        post(a, "/v1/chat/completions", &b.to_string())
    };
    let v = ask("find cats", false, None).json();
    let msg = &v["choices"][0]["message"];
    assert_eq!(msg["content"], Value::Null);
    assert_eq!(
        msg["tool_calls"],
        json!([{"id": "call_o_0", "type": "function",
                "function": {"name": "search", "arguments": "{\"query\":\"find cats\",\"n\":2}"}}])
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let args = "{\"query\":\"find cats\",\"n\":2}";
    assert_eq!(v["usage"]["completion_tokens"], args.len().div_ceil(5));

    let c = chunks(&ask("find cats in parallel", true, None));
    assert_eq!(c[0]["choices"][0]["delta"]["role"], "assistant");
    let calls = reassemble_openai(&c);
    let want = "{\"query\":\"find cats in parallel\",\"n\":2}";
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[&0], ("call_o_0".into(), "search".into(), want.into()));
    assert_eq!(calls[&1], ("call_o_1".into(), "lookup".into(), want.into()));
    assert_eq!(
        c.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    let named = json!({"type": "function", "function": {"name": "lookup"}});
    let v = ask("parallel please", false, Some(named)).json();
    let tcs = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(tcs.len(), 1);
    assert_eq!(tcs[0]["function"]["name"], "lookup");
    let v = ask("x", false, Some(json!("none"))).json();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"].get("tool_calls").is_none());

    // The results come back: the answer says what the tool said.
    let body = json!({"model": "m1", "tools": tools_openai(&["search", "lookup"]), "messages": [
        {"role": "user", "content": "find cats in parallel"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_o_0", "type": "function", "function": {"name": "search", "arguments": want}},
            {"id": "call_o_1", "type": "function", "function": {"name": "lookup", "arguments": want}}]},
        {"role": "tool", "tool_call_id": "call_o_1", "content": "3 cats"},
        {"role": "tool", "tool_call_id": "call_o_0", "content": [{"type": "text", "text": "no cats"}]}
    ]});
    let v = post(a, "/v1/chat/completions", &body.to_string()).json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "tool said: 3 cats tool said: no cats [o] tok0 tok1 tok2 tok3 tok4 "
    );
    assert_eq!(m.rejections(), 0);
}

#[test]
fn openai_kind_failures() {
    let m = node(MockKind::OpenAi, "o");
    let a = m.addr();
    let body = json!({"model": "m1", "stream": true, "tools": tools_openai(&["f"]),
                      "messages": [{"role": "user", "content": "go"}]})
    .to_string();
    m.set_failure(Failure::Status(500));
    let r = post(a, "/v1/chat/completions", &body);
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"]["type"], "server_error");
    assert_eq!(r.json()["error"]["message"], "mock failure");
    m.set_failure(Failure::Status(429));
    assert_eq!(
        post(a, "/v1/chat/completions", &body).json()["error"]["code"],
        "rate_limit_exceeded"
    );
    m.set_failure(Failure::DieAfter(3));
    let r = post(a, "/v1/chat/completions", &body);
    assert!(!r.complete);
    assert_eq!(r.events().len(), 3);
    // All frames but the closing ones, then the drop.
    m.set_failure(Failure::DieAfter(500));
    let r = post(a, "/v1/chat/completions", &body);
    assert!(!r.complete);
    assert!(r
        .events()
        .iter()
        .all(|e| !e.contains("finish_reason\":\"tool_calls")));
    m.set_failure(Failure::None);
    assert!(post(a, "/v1/chat/completions", &body).complete);
    assert_eq!(m.in_flight(), 0);
}

// ---------------------------------------------------------------- Anthropic kind

#[test]
fn anthropic_kind_routes_headers_and_models() {
    let m = with_key(MockKind::Anthropic, "c", "ak-1");
    let a = m.addr();
    let r = get_with(a, "/v1/models", &[("x-api-key", "ak-1")]);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"type": "error", "error": {"type": "invalid_request_error",
               "message": "anthropic-version: header is required"}})
    );
    let r = get_with(a, "/v1/models", &[("anthropic-version", "2023-06-01")]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    let r = get_with(
        a,
        "/v1/models",
        &[("anthropic-version", "2023-06-01"), ("x-api-key", "ak-1")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"data": [{"type": "model", "id": "m1", "display_name": "m1",
                         "created_at": "2024-01-01T00:00:00Z"}],
               "has_more": false, "first_id": "m1", "last_id": "m1"})
    );
    assert_eq!(m.rejections(), 2);
    for path in ["/api/tags", "/v1/chat/completions"] {
        let r = get(a, path);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["error"]["type"], "not_found_error");
    }
    assert_eq!(
        m.last_header("/v1/models", "x-api-key").as_deref(),
        Some("ak-1")
    );
}

#[test]
fn anthropic_kind_refuses_invalid_requests() {
    let m = node(MockKind::Anthropic, "c");
    let ok_user = json!({"role": "user", "content": "q"});
    let bad = [
        json!({"model": "m1", "messages": [ok_user]}),
        json!({"model": "m1", "max_tokens": 5, "messages": [{"role": "system", "content": "s"}, ok_user]}),
        json!({"model": "m1", "max_tokens": 5, "messages": [ok_user, ok_user]}),
        json!({"model": "m1", "max_tokens": 5, "messages": [{"role": "assistant", "content": "a"}]}),
        json!({"model": "m1", "max_tokens": 5, "stop": ["x"], "messages": [ok_user]}),
        json!({"model": "m1", "max_tokens": 5, "temperature": 1.5, "messages": [ok_user]}),
        json!({"model": "m1", "max_tokens": 5, "messages": [ok_user,
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t9", "content": "r"}]}]}),
        json!({"model": "m1", "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "data:image/png;base64,aGk="}}]}]}),
        json!({"model": "m1", "max_tokens": 5, "tools": [{"type": "function", "function": {"name": "f"}}], "messages": [ok_user]}),
    ];
    for (i, body) in bad.iter().enumerate() {
        let r = messages(&m, body);
        assert_eq!(r.status, 400, "{body}");
        let e = r.json();
        assert_eq!(e["type"], "error", "{e}");
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
        assert!(!e["error"]["message"].as_str().unwrap().is_empty());
        assert_eq!(m.rejections(), i as u64 + 1);
    }
    let r = messages(
        &m,
        &json!({"model": "claude-9", "max_tokens": 5, "messages": [ok_user]}),
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "not_found_error");
    assert_eq!(m.rejections(), bad.len() as u64);
    assert_eq!(m.requests("/v1/messages"), bad.len() as u64 + 1);
}

#[test]
fn anthropic_kind_whole_answers() {
    let m = node(MockKind::Anthropic, "c");
    let v = messages(
        &m,
        &json!({"model": "m1", "max_tokens": 100,
                "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
                "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "look here"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGk="}}]}]}),
    )
    .json();
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "m1");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "[system: be brief] [images: 1] [c] tok0 tok1 tok2 tok3 tok4 "}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 4, "output_tokens": 5,
               "cache_creation_input_tokens": 0, "cache_read_input_tokens": 7})
    );

    let ask = |extra: Value| {
        let mut b = json!({"model": "m1", "max_tokens": 100, "messages": [{"role": "user", "content": "a"}]});
        for (k, x) in extra.as_object().unwrap() {
            b[k] = x.clone();
        }
        messages(&m, &b).json()
    };
    let v = ask(json!({"stop_sequences": ["tok2", "zz"]}));
    assert_eq!(v["content"][0]["text"], "[c] tok0 tok1 ");
    assert_eq!(v["stop_reason"], "stop_sequence");
    assert_eq!(v["stop_sequence"], "tok2");
    assert_eq!(v["usage"]["cache_read_input_tokens"], 0);
    let v = ask(json!({"max_tokens": 1}));
    assert_eq!(v["content"][0]["text"], "[c] tok0 ");
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["usage"]["output_tokens"], 1);

    let v = ask(json!({"tools": tools_anthropic(&["f", "g"]), "tool_choice": {"type": "any"}}));
    assert_eq!(
        v["content"],
        json!([{"type": "tool_use", "id": "toolu_c_0", "name": "f", "input": {"query": "a", "n": 2}}])
    );
    assert_eq!(v["stop_reason"], "tool_use");
    let v = ask(json!({"tools": tools_anthropic(&["f", "g"]), "tool_choice": {"type": "none"}}));
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(m.rejections(), 0);
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn anthropic_kind_streams_the_exact_event_sequence() {
    let m = node(MockKind::Anthropic, "c");
    m.set_tokens(3);
    let r = messages(
        &m,
        &json!({"model": "m1", "max_tokens": 100, "stream": true,
                "messages": [{"role": "user", "content": "a b"}]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert!(r.complete);
    let ev = r.named_events();
    assert_eq!(
        names(&ev),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for (name, data) in &ev {
        assert_eq!(data["type"], name.as_str());
    }
    let start = &ev[0].1["message"];
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["stop_reason"], Value::Null);
    assert_eq!(start["usage"]["input_tokens"], 2);
    assert_eq!(start["usage"]["cache_read_input_tokens"], 0);
    assert_eq!(
        ev[1].1,
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(
        ev[3].1,
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "[c] tok0 "}})
    );
    assert_eq!(
        ev[7].1,
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": 3}})
    );
    // Every event is its own HTTP chunk.
    assert_eq!(r.chunks.len(), ev.len());
}

#[test]
fn anthropic_kind_streams_tool_use_in_pieces() {
    let m = node(MockKind::Anthropic, "c");
    let body = json!({"model": "m1", "max_tokens": 100, "stream": true,
                      "tools": tools_anthropic(&["f", "g"]),
                      "messages": [{"role": "user", "content": [{"type": "text", "text": "both, in parallel"}]}]});
    let ev = messages(&m, &body).named_events();
    assert_eq!(ev[0].0, "message_start");
    assert_eq!(ev[2].0, "ping");
    let mut blocks: BTreeMap<u64, (Value, String, bool)> = BTreeMap::new();
    for (name, data) in &ev {
        match name.as_str() {
            "content_block_start" => {
                let i = data["index"].as_u64().unwrap();
                assert_eq!(data["content_block"]["input"], json!({}));
                blocks.insert(i, (data["content_block"].clone(), String::new(), false));
            }
            "content_block_delta" => {
                let i = data["index"].as_u64().unwrap();
                assert_eq!(data["delta"]["type"], "input_json_delta");
                let piece = data["delta"]["partial_json"].as_str().unwrap();
                assert!(piece.len() <= 5);
                let b = blocks.get_mut(&i).unwrap();
                assert!(!b.2, "delta after stop");
                b.1.push_str(piece);
            }
            "content_block_stop" => {
                blocks.get_mut(&data["index"].as_u64().unwrap()).unwrap().2 = true;
            }
            _ => {}
        }
    }
    assert_eq!(blocks.len(), 2);
    for (i, name) in [(0u64, "f"), (1, "g")] {
        let (start, json, stopped) = &blocks[&i];
        assert!(stopped);
        assert_eq!(start["type"], "tool_use");
        assert_eq!(start["id"], format!("toolu_c_{i}"));
        assert_eq!(start["name"], name);
        let input: Value = serde_json::from_str(json).unwrap();
        assert_eq!(input, json!({"query": "both, in parallel", "n": 2}));
    }
    let delta = &ev[ev.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");

    // Answered in the next user turn, results first: the text says what the tools said.
    let answer = json!({"model": "m1", "max_tokens": 100, "tools": tools_anthropic(&["f", "g"]),
    "messages": [
        {"role": "user", "content": "both, in parallel"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_c_0", "name": "f", "input": {"query": "x", "n": 2}},
            {"type": "tool_use", "id": "toolu_c_1", "name": "g", "input": {"query": "x", "n": 2}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_c_0", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_c_1", "is_error": true,
             "content": [{"type": "text", "text": "no data"}]},
            {"type": "text", "text": "summarise"}]}
    ]});
    let v = messages(&m, &answer).json();
    assert_eq!(
        v["content"][0]["text"],
        "tool said: sunny tool said: no data [c] tok0 tok1 tok2 tok3 tok4 "
    );
    assert_eq!(m.rejections(), 0);
}

#[test]
fn anthropic_kind_failures() {
    let m = node(MockKind::Anthropic, "c");
    let body = json!({"model": "m1", "max_tokens": 10, "stream": true,
                      "messages": [{"role": "user", "content": "x"}]});
    m.set_failure(Failure::Status(529));
    let r = messages(&m, &body);
    assert_eq!(r.status, 529);
    assert_eq!(
        r.json(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "mock failure"}})
    );
    m.set_failure(Failure::Status(429));
    assert_eq!(
        messages(&m, &body).json()["error"]["type"],
        "rate_limit_error"
    );
    m.set_failure(Failure::DieAfter(2));
    let r = messages(&m, &body);
    assert!(!r.complete);
    assert_eq!(
        names(&r.named_events()),
        ["message_start", "content_block_start"]
    );
    // Never the closing events, however many were allowed.
    m.set_failure(Failure::DieAfter(100));
    let r = messages(&m, &body);
    assert!(!r.complete);
    let ev = r.named_events();
    assert_eq!(ev.last().unwrap().0, "content_block_stop");
    let mut whole = body.clone();
    whole["stream"] = json!(false);
    let r = messages(&m, &whole);
    assert!(!r.complete && r.body.is_empty());
    m.set_failure(Failure::Hang);
    let r = try_request_with(
        m.addr(),
        "POST",
        "/v1/messages",
        ANTHROPIC_HEADERS,
        Some(&body.to_string()),
        Duration::from_millis(300),
    );
    assert!(r.is_err(), "a hanging node never answers");
    m.set_failure(Failure::None);
    assert!(messages(&m, &body).complete);
}

// ---------------------------------------------------------------- Ollama kind

#[test]
fn ollama_kind_tools_images_and_limits() {
    let m = node(MockKind::Ollama, "n");
    let a = m.addr();
    let tools = tools_openai(&["weather", "time"]);
    let v = post(
        a,
        "/api/chat",
        &json!({"model": "m1", "stream": false, "tools": tools,
                "messages": [{"role": "user", "content": "rain?"}]})
        .to_string(),
    )
    .json();
    assert_eq!(v["message"]["content"], "");
    assert_eq!(
        v["message"]["tool_calls"],
        json!([{"function": {"name": "weather", "arguments": {"query": "rain?", "n": 2}}}])
    );
    assert_eq!(v["done_reason"], "stop");

    // Streamed: the whole call in one chunk, then the final frame.
    let r = post(
        a,
        "/api/chat",
        &json!({"model": "m1", "tools": tools,
                "messages": [{"role": "user", "content": "parallel rain?"}]})
        .to_string(),
    );
    let lines = r.lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["done"], false);
    let calls = lines[0]["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1]["function"]["name"], "time");
    assert!(calls[0].get("id").is_none());
    assert_eq!(lines[1]["done"], true);
    assert_eq!(lines[1]["done_reason"], "stop");

    // Tool results, images (bare base64), system.
    let v = post(
        a,
        "/api/chat",
        &json!({"model": "m1", "stream": false, "tools": tools, "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "rain?", "images": ["aGk=", "aGVsbG8="]},
            {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "weather", "arguments": {"query": "rain?"}}}]},
            {"role": "tool", "content": "dry", "tool_name": "weather"}
        ]})
        .to_string(),
    )
    .json();
    assert_eq!(
        v["message"]["content"],
        "tool said: dry [system: sys] [images: 2] [n] tok0 tok1 tok2 tok3 tok4 "
    );
    assert_eq!(v["prompt_eval_count"], 3);

    // num_predict and stop.
    let v = post(
        a,
        "/api/chat",
        &json!({"model": "m1", "stream": false, "options": {"num_predict": 2},
                "messages": [{"role": "user", "content": "x"}]})
        .to_string(),
    )
    .json();
    assert_eq!(v["message"]["content"], "[n] tok0 tok1 ");
    assert_eq!(v["done_reason"], "length");
    assert_eq!(v["eval_count"], 2);
    let v = post(
        a,
        "/api/generate",
        &json!({"model": "m1", "stream": false, "prompt": "x", "options": {"stop": ["tok1"]}})
            .to_string(),
    )
    .json();
    assert_eq!(v["response"], "[n] tok0 ");
    assert_eq!(v["done_reason"], "stop");
    assert_eq!(m.rejections(), 0);

    // What real Ollama cannot decode.
    let r = post(
        a,
        "/api/chat",
        &json!({"model": "m1", "messages": [{"role": "user", "content": "x",
                "images": ["data:image/png;base64,aGk="]}]})
        .to_string(),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("images[0]"));
    let r = post(
        a,
        "/api/chat",
        &json!({"model": "m1", "messages": [{"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]})
        .to_string(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(m.rejections(), 2);
}

#[test]
fn ollama_kind_openai_layer_stays_lenient_but_shares_the_rules() {
    let m = node(MockKind::Ollama, "n");
    let a = m.addr();
    // Strict OpenAI would refuse both (empty messages; stream_options without stream).
    let r = post(
        a,
        "/v1/chat/completions",
        r#"{"model":"m1","messages":[],"stream_options":{"include_usage":true}}"#,
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(v["usage"].get("prompt_tokens_details").is_none());
    let c = chunks(&post(
        a,
        "/v1/chat/completions",
        &json!({"model": "m1", "stream": true, "tools": tools_openai(&["f"]),
                "messages": [{"role": "user", "content": "go"}]})
        .to_string(),
    ));
    let calls = reassemble_openai(&c);
    assert_eq!(calls[&0].0, "call_n_0");
    assert_eq!(calls[&0].2, "{\"query\":\"go\",\"n\":1}");
    assert_eq!(m.rejections(), 0);
}

#[test]
fn ollama_kind_api_key() {
    let m = with_key(MockKind::Ollama, "n", "k");
    let a = m.addr();
    let r = get(a, "/api/tags");
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"error": "unauthorized"}));
    assert_eq!(
        get_with(a, "/api/tags", &[("authorization", "Bearer k")]).status,
        200
    );
    let body = r#"{"model":"m1","messages":[],"stream":false}"#;
    assert_eq!(post(a, "/api/chat", body).status, 401);
    assert_eq!(
        post_with(a, "/api/chat", &[("authorization", "Bearer k")], body).status,
        200
    );
    assert_eq!(m.rejections(), 2);
    assert_eq!(m.requests("/api/chat"), 2);
}

#[test]
fn embeddings_in_base64_as_openai_sends_them() {
    for kind in [MockKind::OpenAi, MockKind::Ollama] {
        let m = node(kind, "e");
        let a = m.addr();
        let floats = post(a, "/v1/embeddings", r#"{"model":"m1","input":"x"}"#).json();
        let floats: Vec<f32> =
            serde_json::from_value(floats["data"][0]["embedding"].clone()).unwrap();
        let r = post(
            a,
            "/v1/embeddings",
            r#"{"model":"m1","input":"x","encoding_format":"base64"}"#,
        );
        assert_eq!(r.status, 200, "{kind}");
        let b64 = r.json()["data"][0]["embedding"]
            .as_str()
            .unwrap()
            .to_owned();
        // Little-endian f32s, as OpenAI encodes them.
        let want: Vec<u8> = floats.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(b64.len(), want.len().div_ceil(3) * 4, "{kind}");
        assert_eq!(decode(&b64), want, "{kind}");
    }
}

/// A test-side decoder, so the check does not trust the mock's own encoder.
fn decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|c| **c == b'=').count();
        let n = chunk
            .iter()
            .map(|c| if *c == b'=' { 0 } else { u32::from(val(*c)) })
            .fold(0u32, |acc, v| (acc << 6) | v);
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

#[test]
fn mock_log_keeps_refusals_and_last_bodies() {
    let m = node(MockKind::Anthropic, "log");
    let a = m.addr();
    let bad = json!({"model": "m1", "max_tokens": 5, "bogus": 1,
                     "messages": [{"role": "user", "content": "q"}]});
    assert_eq!(messages(&m, &bad).status, 400);
    let good =
        json!({"model": "m1", "max_tokens": 5, "messages": [{"role": "user", "content": "q"}]});
    assert_eq!(messages(&m, &good).status, 200);
    let log = get(a, "/_mock/log").json();
    assert_eq!(log["rejections"], 1);
    assert_eq!(log["refused"][0]["status"], 400);
    assert_eq!(
        log["refused"][0]["error"]["error"]["message"],
        "bogus: Extra inputs are not permitted"
    );
    assert_eq!(log["last_bodies"]["/v1/messages"], good);
    // The refusal still reached the client whole.
    assert_eq!(
        messages(&m, &bad).json()["error"]["type"],
        "invalid_request_error"
    );
}

#[test]
fn mid_conversation_system_messages_need_their_beta() {
    let m = node(MockKind::Anthropic, "beta");
    let body = json!({"model": "m1", "max_tokens": 5, "messages": [
        {"role": "user", "content": "q"},
        {"role": "system", "content": [{"type": "text", "text": "env"}]}]});
    assert_eq!(messages(&m, &body).status, 400);
    let with_beta = [
        ("anthropic-version", "2023-06-01"),
        (
            "anthropic-beta",
            "claude-code-20250219,mid-conversation-tool-changes-2026-07-01",
        ),
    ];
    let r = post_with(m.addr(), "/v1/messages", &with_beta, &body.to_string());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// A test steers the call with `use tool NAME with {…}`; the arguments fit each tool's
/// schema, on every kind, so an agent can run the call.
#[test]
fn tool_calls_follow_the_directive_and_the_schema() {
    let read = json!({"type": "object", "additionalProperties": false,
        "properties": {"file_path": {"type": "string"}, "limit": {"type": "integer", "exclusiveMinimum": 0}},
        "required": ["file_path", "limit"]});
    let text = r#"please use tool Read with {"file_path": "/tmp/notes.txt"}"#;
    let want = json!({"file_path": "/tmp/notes.txt", "limit": 2});

    let m = node(MockKind::Anthropic, "d");
    let r = messages(
        &m,
        &json!({"model": "m1", "max_tokens": 50,
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}},
                  {"name": "Read", "input_schema": read}],
        "messages": [{"role": "user", "content": text}]}),
    );
    let block = &r.json()["content"][0];
    assert_eq!(
        (block["name"].clone(), block["input"].clone()),
        (json!("Read"), want.clone())
    );

    let function = |name: &str, schema: &Value| json!({"type": "function", "function": {"name": name, "parameters": schema}});
    let tools = json!([
        function("Bash", &json!({"type": "object"})),
        function("Read", &read)
    ]);
    for kind in [MockKind::OpenAi, MockKind::Ollama] {
        let m = node(kind, "d");
        let body =
            json!({"model": "m1", "tools": tools, "messages": [{"role": "user", "content": text}]});
        let call = post(m.addr(), "/v1/chat/completions", &body.to_string()).json()["choices"][0]
            ["message"]["tool_calls"][0]
            .clone();
        assert_eq!(call["function"]["name"], "Read", "{kind}");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, want, "{kind}");
    }
    let m = node(MockKind::Ollama, "d");
    let body = json!({"model": "m1", "stream": false, "tools": tools, "messages": [{"role": "user", "content": text}]});
    let call =
        post(m.addr(), "/api/chat", &body.to_string()).json()["message"]["tool_calls"][0].clone();
    assert_eq!(
        (
            call["function"]["name"].clone(),
            call["function"]["arguments"].clone()
        ),
        (json!("Read"), want)
    );
}
