//! OpenAI-compatible and Anthropic nodes behind every client surface, against mock nodes that
//! validate what they receive as strictly as the real APIs (`rejections()` counts refusals):
//! translation both ways, whole and streamed (streamed answers reassembled must equal whole
//! ones), tool calls, images, errors in the client's shape, node credentials, and a node that
//! dies mid-stream.

use std::time::Duration;

use drover::config::{Config, NodeConfig, NodeKind, Priority};
use drover_loadtest::mock::{Failure, MockConfig, MockKind, MockUpstream};
use serde_json::{json, Value};

use crate::harness::{start_over, Reply, Setup};

const OPENAI_KEY: &str = "sk-openai-node-secret-0001";
const ANTHROPIC_KEY: &str = "sk-ant-node-secret-0002";

/// Three nodes, one per kind, each serving its own model: `o` (Ollama), `g` (OpenAI), `c`
/// (Anthropic); the OpenAI and Anthropic ones ask for their keys.
pub(crate) async fn fleet(tweak: impl FnOnce(&mut Config)) -> Setup {
    let ollama = MockUpstream::start(MockConfig::named("ollama", &["o:latest"])).unwrap();
    let openai = MockUpstream::start(MockConfig {
        api_key: Some(OPENAI_KEY.into()),
        ..MockConfig::of_kind(MockKind::OpenAi, "openai", &["g"])
    })
    .unwrap();
    let anthropic = MockUpstream::start(MockConfig {
        api_key: Some(ANTHROPIC_KEY.into()),
        ..MockConfig::of_kind(MockKind::Anthropic, "anthropic", &["c"])
    })
    .unwrap();
    let (openai_url, anthropic_url) = (format!("{}/v1", openai.url()), anthropic.url());
    start_over(vec![ollama, openai, anthropic], move |config| {
        for node in &mut config.nodes {
            match node.name.as_str() {
                "openai" => {
                    node.kind = NodeKind::OpenAi;
                    node.url = openai_url.clone();
                    node.api_key = Some(OPENAI_KEY.into());
                }
                "anthropic" => {
                    node.kind = NodeKind::Anthropic;
                    node.url = anthropic_url.clone();
                    node.api_key = Some(ANTHROPIC_KEY.into());
                }
                _ => {}
            }
        }
        config.auth.admin_token = crate::admin::TOKEN.into();
        tweak(config);
    })
    .await
}

/// No mock ever had to refuse what Drover sent it.
pub(crate) fn assert_no_rejections(s: &Setup) {
    for node in &s.nodes {
        assert_eq!(
            node.rejections(),
            0,
            "node {} refused a request",
            node.name()
        );
    }
}

pub(crate) async fn anthropic_post(s: &Setup, body: Value) -> Reply {
    let res = crate::harness::client()
        .post(s.url("/v1/messages"))
        .insert_header(("anthropic-version", "2023-06-01"))
        .send_json(&body)
        .await
        .unwrap();
    crate::harness::read(res).await
}

/// The `data:` payloads of an SSE body, `[DONE]` left out.
fn sse_data(reply: &Reply) -> Vec<Value> {
    reply
        .text()
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// An answer of any client API reduced to what must agree between whole and streamed:
/// text, tool calls (id, name, arguments as JSON), and the finish reason.
#[derive(Debug, PartialEq)]
struct Gist {
    text: String,
    calls: Vec<(String, String, Value)>,
    finish: String,
}

fn openai_gist(whole: &Value) -> Gist {
    let message = &whole["choices"][0]["message"];
    Gist {
        text: message["content"].as_str().unwrap_or_default().to_owned(),
        calls: message["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_owned(),
                    c["function"]["name"].as_str().unwrap().to_owned(),
                    serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap(),
                )
            })
            .collect(),
        finish: whole["choices"][0]["finish_reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// OpenAI stream chunks put back together (tool-call arguments joined by index).
fn openai_stream_gist(reply: &Reply) -> Gist {
    assert!(
        reply.text().contains("data: [DONE]"),
        "no [DONE]: {}",
        reply.text()
    );
    let mut text = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finish = String::new();
    for chunk in sse_data(reply) {
        assert!(chunk["error"].is_null(), "error chunk: {chunk}");
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            let delta = &choice["delta"];
            text.push_str(delta["content"].as_str().unwrap_or_default());
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap() as usize;
                if calls.len() <= index {
                    calls.resize(index + 1, Default::default());
                }
                if let Some(id) = call["id"].as_str() {
                    calls[index].0 = id.to_owned();
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    calls[index].1 = name.to_owned();
                }
                calls[index]
                    .2
                    .push_str(call["function"]["arguments"].as_str().unwrap_or_default());
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                finish = reason.to_owned();
            }
        }
    }
    Gist {
        text,
        calls: calls
            .into_iter()
            .map(|(id, name, args)| (id, name, serde_json::from_str(&args).unwrap()))
            .collect(),
        finish,
    }
}

fn anthropic_gist(whole: &Value) -> Gist {
    let mut gist = Gist {
        text: String::new(),
        calls: Vec::new(),
        finish: whole["stop_reason"].as_str().unwrap_or_default().to_owned(),
    };
    for block in whole["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => gist.text.push_str(block["text"].as_str().unwrap()),
            Some("tool_use") => gist.calls.push((
                block["id"].as_str().unwrap().to_owned(),
                block["name"].as_str().unwrap().to_owned(),
                block["input"].clone(),
            )),
            _ => {}
        }
    }
    gist
}

/// Anthropic events put back together; checks the event order Anthropic's SDK relies on.
fn anthropic_stream_gist(reply: &Reply) -> Gist {
    let text = reply.text();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event:"))
        .map(str::trim)
        .collect();
    assert_eq!(events.first(), Some(&"message_start"), "{text}");
    assert_eq!(events.last(), Some(&"message_stop"), "{text}");
    let mut gist = Gist {
        text: String::new(),
        calls: Vec::new(),
        finish: String::new(),
    };
    let mut json = Vec::<String>::new();
    let mut open: Option<u64> = None;
    for event in sse_data(reply) {
        match event["type"].as_str().unwrap() {
            "content_block_start" => {
                assert_eq!(open, None, "a block started inside another: {text}");
                open = event["index"].as_u64();
                let block = &event["content_block"];
                if block["type"] == "tool_use" {
                    gist.calls.push((
                        block["id"].as_str().unwrap().to_owned(),
                        block["name"].as_str().unwrap().to_owned(),
                        Value::Null,
                    ));
                    json.push(String::new());
                }
            }
            "content_block_delta" => {
                assert_eq!(open, event["index"].as_u64(), "a delta outside its block");
                let delta = &event["delta"];
                match delta["type"].as_str().unwrap() {
                    "text_delta" => gist.text.push_str(delta["text"].as_str().unwrap()),
                    "input_json_delta" => json
                        .last_mut()
                        .unwrap()
                        .push_str(delta["partial_json"].as_str().unwrap()),
                    _ => {}
                }
            }
            "content_block_stop" => open = None,
            "message_delta" => {
                gist.finish = event["delta"]["stop_reason"].as_str().unwrap().to_owned()
            }
            "error" => panic!("error event: {event}"),
            _ => {}
        }
    }
    for (call, json) in gist.calls.iter_mut().zip(json) {
        call.2 = if json.is_empty() {
            json!({})
        } else {
            serde_json::from_str(&json).unwrap()
        };
    }
    gist
}

/// Tool calls without their ids: ids are the node's own (or made up for Ollama, which has
/// none), so a streamed and a whole answer are compared on the rest.
fn without_ids(gist: &Gist) -> Vec<(String, Value)> {
    gist.calls
        .iter()
        .map(|(_, name, args)| (name.clone(), args.clone()))
        .collect()
}

fn ollama_gist(whole: &Value) -> Gist {
    Gist {
        text: whole["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        calls: whole["message"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    String::new(),
                    c["function"]["name"].as_str().unwrap().to_owned(),
                    c["function"]["arguments"].clone(),
                )
            })
            .collect(),
        finish: whole["done_reason"].as_str().unwrap_or_default().to_owned(),
    }
}

fn ollama_stream_gist(reply: &Reply) -> Gist {
    let lines = reply.lines();
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true, "no final line: {}", reply.text());
    let mut gist = Gist {
        text: String::new(),
        calls: Vec::new(),
        finish: last["done_reason"].as_str().unwrap_or_default().to_owned(),
    };
    for line in &lines {
        assert!(line["error"].is_null(), "error line: {line}");
        let part = ollama_gist(line);
        gist.text.push_str(&part.text);
        gist.calls.extend(part.calls);
    }
    gist
}

fn weather_tools_openai() -> Value {
    json!([
        {"type": "function", "function": {"name": "weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "time", "description": "Time in a city",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}
    ])
}

fn weather_tools_anthropic() -> Value {
    json!([
        {"name": "weather", "description": "Weather in a city",
            "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}},
        {"name": "time", "description": "Time in a city",
            "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}
    ])
}

/// A 1×1 PNG.
const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// An OpenAI client reaches every node kind: text with a system prompt, images, and parallel
/// tool calls answered by tool results, whole and streamed, with equal answers both ways.
#[actix_rt::test]
async fn openai_clients_reach_every_node_kind() {
    let s = fleet(|_| {}).await;
    for model in ["o", "g", "c"] {
        let base = json!({"model": model, "max_tokens": 50, "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PIXEL}")}}
            ]}
        ]});
        let whole = s.post("/v1/chat/completions", base.clone()).await;
        assert_eq!(whole.status, 200, "{model}: {}", whole.text());
        let gist = openai_gist(&whole.json());
        assert!(
            gist.text.contains("[system: be brief]"),
            "{model}: {gist:?}"
        );
        assert!(gist.text.contains("[images: 1]"), "{model}: {gist:?}");
        assert_eq!(gist.finish, "stop");
        let usage = &whole.json()["usage"];
        assert!(
            usage["prompt_tokens"].as_u64().unwrap() > 0,
            "{model}: {usage}"
        );
        assert!(
            usage["completion_tokens"].as_u64().unwrap() > 0,
            "{model}: {usage}"
        );

        let mut streamed = base.clone();
        streamed["stream"] = json!(true);
        streamed["stream_options"] = json!({"include_usage": true});
        let stream = s.post("/v1/chat/completions", streamed).await;
        assert_eq!(stream.status, 200, "{model}: {}", stream.text());
        assert_eq!(
            openai_stream_gist(&stream),
            gist,
            "{model}: streamed differs"
        );
        let usage_chunk = sse_data(&stream)
            .into_iter()
            .find(|c| !c["usage"].is_null())
            .unwrap_or_else(|| panic!("{model}: no usage chunk"));
        assert_eq!(usage_chunk["usage"], whole.json()["usage"], "{model}");

        // Parallel tool calls, then their results.
        let ask = json!({"model": model, "tools": weather_tools_openai(), "messages": [
            {"role": "user", "content": "weather and time in Paris, in parallel"}
        ]});
        let whole = s.post("/v1/chat/completions", ask.clone()).await;
        assert_eq!(whole.status, 200, "{model}: {}", whole.text());
        let calls = openai_gist(&whole.json());
        assert_eq!(calls.finish, "tool_calls", "{model}: {calls:?}");
        assert_eq!(calls.calls.len(), 2, "{model}: {calls:?}");
        assert_eq!(calls.calls[0].1, "weather");
        assert_eq!(calls.calls[1].1, "time");
        assert_eq!(
            calls.calls[0].2["query"],
            "weather and time in Paris, in parallel"
        );
        let mut streamed = ask.clone();
        streamed["stream"] = json!(true);
        let stream = s.post("/v1/chat/completions", streamed).await;
        let stream_calls = openai_stream_gist(&stream);
        assert_eq!(
            without_ids(&stream_calls),
            without_ids(&calls),
            "{model}: streamed calls differ"
        );
        assert_eq!(stream_calls.finish, "tool_calls");

        let whole_message = whole.json()["choices"][0]["message"].clone();
        let mut follow = ask.clone();
        let messages = follow["messages"].as_array_mut().unwrap();
        messages.push(whole_message);
        for (id, name, _) in &calls.calls {
            messages.push(
                json!({"role": "tool", "tool_call_id": id, "content": format!("{name} is fine")}),
            );
        }
        let answer = s.post("/v1/chat/completions", follow).await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        let text = openai_gist(&answer.json()).text;
        assert!(
            text.contains("tool said: weather is fine") && text.contains("time is fine"),
            "{model}: {text}"
        );
    }
    assert_no_rejections(&s);
}

/// An Anthropic client reaches every node kind: system, images, tools, whole and streamed.
#[actix_rt::test]
async fn anthropic_clients_reach_every_node_kind() {
    let s = fleet(|_| {}).await;
    for model in ["o", "g", "c"] {
        let base = json!({"model": model, "max_tokens": 50, "system": "be brief", "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}
            ]}
        ]});
        let whole = anthropic_post(&s, base.clone()).await;
        assert_eq!(whole.status, 200, "{model}: {}", whole.text());
        let body = whole.json();
        assert_eq!(body["type"], "message");
        assert_eq!(body["role"], "assistant");
        let gist = anthropic_gist(&body);
        assert!(
            gist.text.contains("[system: be brief]"),
            "{model}: {gist:?}"
        );
        assert!(gist.text.contains("[images: 1]"), "{model}: {gist:?}");
        assert_eq!(gist.finish, "end_turn");
        assert!(
            body["usage"]["input_tokens"].as_u64().unwrap() > 0,
            "{model}: {body}"
        );
        assert!(
            body["usage"]["output_tokens"].as_u64().unwrap() > 0,
            "{model}: {body}"
        );
        let mut streamed = base.clone();
        streamed["stream"] = json!(true);
        let stream = anthropic_post(&s, streamed).await;
        assert_eq!(stream.status, 200, "{model}: {}", stream.text());
        assert_eq!(
            anthropic_stream_gist(&stream),
            gist,
            "{model}: streamed differs"
        );

        let ask = json!({"model": model, "max_tokens": 50, "tools": weather_tools_anthropic(),
            "messages": [{"role": "user", "content": "weather and time, in parallel"}]});
        let whole = anthropic_post(&s, ask.clone()).await;
        assert_eq!(whole.status, 200, "{model}: {}", whole.text());
        let calls = anthropic_gist(&whole.json());
        assert_eq!(calls.finish, "tool_use", "{model}: {calls:?}");
        assert_eq!(calls.calls.len(), 2, "{model}: {calls:?}");
        let mut streamed = ask.clone();
        streamed["stream"] = json!(true);
        let stream = anthropic_stream_gist(&anthropic_post(&s, streamed).await);
        assert_eq!(
            without_ids(&stream),
            without_ids(&calls),
            "{model}: streamed calls differ"
        );

        let mut follow = ask.clone();
        let messages = follow["messages"].as_array_mut().unwrap();
        messages.push(json!({"role": "assistant", "content": whole.json()["content"]}));
        let results: Vec<Value> = calls
            .calls
            .iter()
            .map(|(id, name, _)| json!({"type": "tool_result", "tool_use_id": id, "content": format!("{name} is fine")}))
            .collect();
        messages.push(json!({"role": "user", "content": results}));
        let answer = anthropic_post(&s, follow).await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        let text = anthropic_gist(&answer.json()).text;
        assert!(
            text.contains("tool said: weather is fine"),
            "{model}: {text}"
        );
    }
    assert_no_rejections(&s);
}

/// Ollama clients (chat, generate, embed) reach OpenAI and Anthropic nodes.
#[actix_rt::test]
async fn ollama_clients_reach_every_node_kind() {
    let s = fleet(|_| {}).await;
    for model in ["g", "c"] {
        let chat = json!({"model": model, "stream": false, "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "look", "images": [PIXEL]}
        ], "options": {"num_predict": 40}});
        let whole = s.post("/api/chat", chat.clone()).await;
        assert_eq!(whole.status, 200, "{model}: {}", whole.text());
        let gist = ollama_gist(&whole.json());
        assert!(
            gist.text.contains("[system: be brief]") && gist.text.contains("[images: 1]"),
            "{model}: {gist:?}"
        );
        assert_eq!(whole.json()["done"], true);
        assert!(whole.json()["eval_count"].as_u64().unwrap() > 0);
        let mut streamed = chat.clone();
        streamed["stream"] = json!(true);
        let stream = s.post("/api/chat", streamed).await;
        assert_eq!(stream.status, 200, "{model}: {}", stream.text());
        assert_eq!(
            ollama_stream_gist(&stream),
            gist,
            "{model}: streamed differs"
        );

        let generate = s
            .post(
                "/api/generate",
                json!({"model": model, "prompt": "hello", "system": "terse", "stream": false}),
            )
            .await;
        assert_eq!(generate.status, 200, "{model}: {}", generate.text());
        let response = generate.json()["response"].as_str().unwrap().to_owned();
        assert!(response.contains("[system: terse]"), "{model}: {response}");

        let tools = s
            .post(
                "/api/chat",
                json!({"model": model, "stream": false, "tools": weather_tools_openai(),
                "messages": [{"role": "user", "content": "weather?"}]}),
            )
            .await;
        assert_eq!(tools.status, 200, "{model}: {}", tools.text());
        let calls = ollama_gist(&tools.json()).calls;
        assert_eq!(calls.len(), 1, "{model}: {}", tools.text());
        assert_eq!(calls[0].1, "weather");
        assert_eq!(calls[0].2["query"], "weather?");
    }
    let embed = s
        .post("/api/embed", json!({"model": "g", "input": ["a", "b"]}))
        .await;
    assert_eq!(embed.status, 200, "{}", embed.text());
    assert_eq!(embed.json()["embeddings"].as_array().unwrap().len(), 2);
    // Anthropic serves no embeddings: a clear 400 in the client's shape.
    let refused = s
        .post("/api/embed", json!({"model": "c", "input": "a"}))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("anthropic"),
        "{}",
        refused.text()
    );
    assert_no_rejections(&s);
}

/// What the node's API cannot express is refused with a 400 naming it, in the client's shape;
/// an error the node answers comes back in the client's shape with its status.
#[actix_rt::test]
async fn untranslatable_requests_and_node_errors_speak_the_clients_api() {
    let s = fleet(|_| {}).await;
    let refused = s
        .post(
            "/v1/chat/completions",
            json!({"model": "c", "n": 2,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    let error = &refused.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    let message = error["message"].as_str().unwrap();
    assert!(message.starts_with("n: "), "{error}");
    assert!(message.contains("anthropic node"), "{error}");
    assert_eq!(s.node("anthropic").requests("/v1/messages"), 0);

    // Anthropic caps temperature at 1: its 400 reaches the OpenAI client in OpenAI's shape.
    let node_error = s
        .post(
            "/v1/chat/completions",
            json!({"model": "c", "temperature": 1.7,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(node_error.status, 400, "{}", node_error.text());
    let error = &node_error.json()["error"];
    assert!(
        error["message"].as_str().unwrap().contains("temperature"),
        "{error}"
    );

    // Anthropic's own request rules, checked before any node: max_tokens is required.
    let missing = anthropic_post(
        &s,
        json!({"model": "g", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["type"], "error");
    assert_eq!(missing.json()["error"]["type"], "invalid_request_error");
    let unknown = anthropic_post(
        &s,
        json!({"model": "nope", "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["type"], "not_found_error");
}

/// A node that dies mid-stream ends the client's stream with an error in the client's
/// format, never a clean end.
#[actix_rt::test]
async fn a_translated_stream_that_dies_ends_in_an_error() {
    let s = fleet(|_| {}).await;
    s.node("anthropic").set_tokens(20);
    s.node("anthropic").set_failure(Failure::DieAfter(4));
    s.node("openai").set_tokens(20);
    s.node("openai").set_failure(Failure::DieAfter(4));
    let openai_client = s
        .post(
            "/v1/chat/completions",
            json!({"model": "c", "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(openai_client.status, 200);
    let text = openai_client.text();
    assert!(!text.contains("[DONE]"), "{text}");
    assert!(
        sse_data(&openai_client).last().unwrap()["error"]["message"].is_string(),
        "{text}"
    );

    let anthropic_client = anthropic_post(
        &s,
        json!({"model": "g", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let text = anthropic_client.text();
    assert!(!text.contains("message_stop"), "{text}");
    assert!(text.contains("event: error"), "{text}");

    let ollama_client = s
        .post(
            "/api/chat",
            json!({"model": "c", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let last = ollama_client.lines().pop().unwrap();
    assert!(last["error"].is_string(), "{}", ollama_client.text());
}

/// Tokens of translated answers count like any others (records, key limits and metrics read
/// the same numbers), and route aliases are listed for every client API.
#[actix_rt::test]
async fn translated_usage_is_counted_and_aliases_are_listed() {
    let s = fleet(|config| {
        config.routes = vec![drover::config::RouteConfig {
            alias: "smart".into(),
            target_model: "c".into(),
            nodes: Vec::new(),
            fallbacks: Vec::new(),
        }];
    })
    .await;
    let reply = s
        .post(
            "/api/chat",
            json!({"model": "smart", "stream": false,
            "messages": [{"role": "user", "content": "count these words"}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let prompt = reply.json()["prompt_eval_count"].as_u64().unwrap();
    let metrics = crate::harness::client()
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .body()
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    let counted = metrics
        .lines()
        .find(|l| {
            l.starts_with("drover_tokens_total")
                && l.contains("node=\"anthropic\"")
                && l.contains("direction=\"prompt\"")
        })
        .unwrap_or_else(|| panic!("no prompt tokens for the anthropic node:\n{metrics}"));
    assert!(
        counted.ends_with(&format!(" {prompt}")),
        "{counted} vs {prompt}"
    );

    let openai = crate::harness::client()
        .get(s.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        openai["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "smart"),
        "{openai}"
    );
    let anthropic = crate::harness::client()
        .get(s.url("/v1/models"))
        .insert_header(("anthropic-version", "2023-06-01"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        anthropic["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "smart" && m["type"] == "model"),
        "{anthropic}"
    );
    assert_eq!(anthropic["has_more"], false);
    let tags = crate::harness::client()
        .get(s.url("/api/tags"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let names: Vec<&str> = tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for name in ["o:latest", "g", "c", "smart"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

/// Node keys reach the nodes and are never shown whole.
#[actix_rt::test]
async fn node_keys_reach_the_nodes_and_are_never_shown() {
    let s = fleet(|_| {}).await;
    let reply = s
        .post(
            "/v1/chat/completions",
            json!({"model": "g", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        s.node("openai")
            .last_header("/v1/chat/completions", "authorization")
            .as_deref(),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    let text = crate::admin::admin(&s, "GET", "/nodes", None).await.text();
    assert!(
        !text.contains(OPENAI_KEY) && !text.contains(ANTHROPIC_KEY),
        "{text}"
    );
    assert!(text.contains("sk-…0001"), "{text}");
    let pool = crate::admin::admin(&s, "GET", "/pool", None).await.text();
    assert!(!pool.contains(OPENAI_KEY), "{pool}");

    // A node read and written back (its key masked) keeps its key; a key that is not a
    // header value is refused.
    let mut node = crate::admin::admin(&s, "GET", "/nodes/openai", None)
        .await
        .json();
    assert_eq!(node["api_key"], "sk-…0001");
    node["weight"] = json!(3);
    let put = crate::admin::admin(&s, "PUT", "/nodes/openai", Some(node.clone())).await;
    assert_eq!(put.status, 200, "{}", put.text());
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let reply = s
        .post(
            "/v1/chat/completions",
            json!({"model": "g", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "the key was lost: {}", reply.text());
    assert_eq!(
        s.node("openai")
            .last_header("/v1/chat/completions", "authorization")
            .as_deref(),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    node["api_key"] = json!("sk-…other");
    let refused = crate::admin::admin(&s, "PUT", "/nodes/openai", Some(node)).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("api_key"), "{}", refused.text());
}

/// Nodes that are not probed (paid APIs) serve the models listed for them.
#[actix_rt::test]
async fn an_unprobed_node_serves_its_listed_models() {
    let anthropic = MockUpstream::start(MockConfig::of_kind(
        MockKind::Anthropic,
        "paid",
        &["claude-x"],
    ))
    .unwrap();
    let url = anthropic.url();
    let s = start_over(vec![anthropic], move |config| {
        config.nodes = vec![NodeConfig {
            name: "paid".into(),
            kind: NodeKind::Anthropic,
            url: url.clone(),
            priority: Priority::Active,
            weight: 1,
            max_concurrency: None,
            api_key: None,
            models: vec!["claude-x".into()],
            probe: false,
            responses: false,
        }];
    })
    .await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.node("paid").requests("/v1/models"),
        0,
        "an unprobed node was probed"
    );
    let reply = s
        .post(
            "/v1/chat/completions",
            json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let models = crate::harness::client()
        .get(s.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "claude-x");
}

/// A node's key rotated through the admin API is used by the next request, and so are its
/// listed models changed alone: any change of a node's settings gives it a new target.
#[actix_rt::test]
async fn a_rotated_node_key_and_changed_models_are_used_at_once() {
    const NEW_KEY: &str = "sk-rotated-node-key-0003";
    let openai = MockUpstream::start(MockConfig {
        api_key: Some(NEW_KEY.into()),
        ..MockConfig::of_kind(MockKind::OpenAi, "rotated", &["g", "g2"])
    })
    .unwrap();
    let url = format!("{}/v1", openai.url());
    let s = start_over(vec![openai], move |config| {
        config.auth.admin_token = crate::admin::TOKEN.into();
        config.nodes = vec![NodeConfig {
            name: "rotated".into(),
            kind: NodeKind::OpenAi,
            url: url.clone(),
            priority: Priority::Active,
            weight: 1,
            max_concurrency: None,
            api_key: Some(OPENAI_KEY.into()),
            models: vec!["g".into()],
            probe: false,
            responses: false,
        }];
    })
    .await;
    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let stale = s.post("/v1/chat/completions", chat("g")).await;
    assert_ne!(
        stale.status,
        200,
        "the mock took the old key: {}",
        stale.text()
    );

    let mut node = crate::admin::admin(&s, "GET", "/nodes/rotated", None)
        .await
        .json();
    node["api_key"] = json!(NEW_KEY);
    let put = crate::admin::admin(&s, "PUT", "/nodes/rotated", Some(node.clone())).await;
    assert_eq!(put.status, 200, "{}", put.text());
    s.wait_until(|ready| ready["nodes_up"] == 1).await;
    let reply = s.post("/v1/chat/completions", chat("g")).await;
    assert_eq!(
        reply.status,
        200,
        "the old key is still used: {}",
        reply.text()
    );
    assert_eq!(
        s.node("rotated")
            .last_header("/v1/chat/completions", "authorization")
            .as_deref(),
        Some(format!("Bearer {NEW_KEY}").as_str())
    );

    let mut node = crate::admin::admin(&s, "GET", "/nodes/rotated", None)
        .await
        .json();
    node["models"] = json!(["g", "g2"]);
    let put = crate::admin::admin(&s, "PUT", "/nodes/rotated", Some(node)).await;
    assert_eq!(put.status, 200, "{}", put.text());
    s.wait_until(|ready| ready["nodes_up"] == 1).await;
    let reply = s.post("/v1/chat/completions", chat("g2")).await;
    assert_eq!(
        reply.status,
        200,
        "the new model list is not used: {}",
        reply.text()
    );
}

/// Nodes behind https are reached over TLS (OpenAI and Anthropic are): a probe of a local
/// port that speaks no TLS fails in the handshake, not for want of TLS support.
#[actix_rt::test]
async fn https_nodes_are_reached_over_tls() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            use std::io::Write;
            let mut stream = stream;
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\nnot tls");
        }
    });
    let db = tempfile::tempdir().unwrap();
    let mut config = crate::harness::test_config(&[]);
    config.database_url = format!("sqlite://{}/drover.db", db.path().display());
    config.auth.admin_token = crate::admin::TOKEN.into();
    config.nodes = vec![NodeConfig {
        name: "tls".into(),
        kind: NodeKind::OpenAi,
        url: format!("https://127.0.0.1:{port}/v1"),
        priority: Priority::Active,
        weight: 1,
        max_concurrency: None,
        api_key: Some("sk-tls-test-key-000000".into()),
        models: Vec::new(),
        probe: true,
        responses: false,
    }];
    let drover = drover::server::spawn(config).unwrap();
    let s = Setup {
        nodes: Vec::new(),
        drover,
        _db: Some(db),
    };
    let mut error = String::new();
    for _ in 0..100 {
        let pool = crate::admin::admin(&s, "GET", "/pool", None).await.json();
        if let Some(e) = pool["nodes"][0]["last_error"].as_str() {
            error = e.to_owned();
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!error.is_empty(), "the probe never failed");
    println!("probe of a node that speaks no TLS: {error}");
    assert!(!error.contains("SSL is not supported"), "{error}");
    assert!(error.contains("/v1/models"), "{error}");
}

/// Ollama's CLI works on models of other node kinds: `/api/show` and the empty chat that
/// loads a model are answered by Drover; a request one node's kind cannot take goes to
/// another node of the model.
#[actix_rt::test]
async fn ollama_clients_get_show_and_load_and_kinds_that_cannot_serve_are_skipped() {
    let s = fleet(|config| {
        config.selector.strategy = drover::config::StrategyName::RoundRobin;
        config.selector.queue_timeout = Duration::from_millis(300);
        for node in &mut config.nodes {
            node.max_concurrency = Some(1);
        }
    })
    .await;
    // The Anthropic node's one slot is busy: Drover's own answers need none.
    s.node("anthropic").set_latency(Duration::from_secs(2));
    let busy = s.post(
        "/v1/messages",
        json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "hold"}]}),
    );
    let show = async {
        while s.node("anthropic").in_flight() == 0 {
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        s.post("/api/show", json!({"model": "c"})).await
    };
    let (_, show) = tokio::join!(busy, show);
    s.node("anthropic").set_latency(Duration::ZERO);
    assert_eq!(show.status, 200, "{}", show.text());
    assert_eq!(show.json()["details"]["family"], "anthropic");
    let load = s
        .post("/api/chat", json!({"model": "g", "messages": []}))
        .await;
    assert_eq!(load.status, 200, "{}", load.text());
    assert_eq!(load.lines()[0]["done_reason"], "load");
    assert_eq!(s.node("openai").requests("/v1/chat/completions"), 0);

    // Model "shared" on the Ollama node and the Anthropic node: embeddings always come from
    // the Ollama node, whichever the round robin picks first.
    s.node("ollama").set_models(&["o:latest", "shared:latest"]);
    s.node("anthropic").set_models(&["c", "shared:latest"]);
    s.wait_for_get("/v1/models", |m| {
        m["data"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x["id"] == "shared:latest"))
    })
    .await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..4 {
        let embed = s
            .post("/api/embed", json!({"model": "shared", "input": "a"}))
            .await;
        assert_eq!(embed.status, 200, "{}", embed.text());
        assert_eq!(embed.node.as_deref(), Some("ollama"));
    }
    assert_no_rejections(&s);
}

/// A translated stream is recorded as the client got it, reassembled whole (its closing
/// events included), with the node's token counts.
#[actix_rt::test]
async fn translated_streams_are_recorded_as_the_client_got_them() {
    let s = fleet(|config| {
        config.request_log.enabled = true;
        config.request_log.flush_timeout = Duration::from_millis(50);
        config.request_log.capture = true;
    })
    .await;
    let stream = anthropic_post(
        &s,
        json!({"model": "g", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "record me"}]}),
    )
    .await;
    assert_eq!(stream.status, 200);
    let mut record = Value::Null;
    for _ in 0..100 {
        let page = crate::admin::admin(&s, "GET", "/logs?q=record%20me", None)
            .await
            .json();
        if let Some(found) = page["records"].as_array().and_then(|r| r.first()) {
            record = found.clone();
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(record.is_object(), "no record");
    assert_eq!(record["node"], "openai", "{record}");
    assert!(record["prompt_tokens"].as_u64().unwrap() > 0, "{record}");
    assert!(
        record["completion_tokens"].as_u64().unwrap() > 0,
        "{record}"
    );
    let id = record["id"].as_str().unwrap();
    let one = crate::admin::admin(&s, "GET", &format!("/logs/{id}"), None)
        .await
        .json();
    let answer = &one["content"]["response"];
    assert_eq!(answer["type"], "message", "{answer}");
    assert_eq!(answer["stop_reason"], "end_turn", "{answer}");
    assert_eq!(
        anthropic_gist(answer).text,
        anthropic_stream_gist(&stream).text,
        "the record differs from what the client got"
    );
}

/// A translated stream reads the node's body to its end, so the node's connection is reused:
/// one dropped mid-body is closed, and every request would pay a new connection.
#[actix_rt::test]
async fn translated_streams_reuse_node_connections() {
    let s = fleet(|config| config.workers = 1).await;
    for (client, model) in [("openai", "c"), ("anthropic", "g"), ("ollama", "c")] {
        let node = if model == "c" { "anthropic" } else { "openai" };
        // Warm: the worker's pool holds a connection to the node.
        let ask = |n: usize| match client {
            "openai" => json!({"model": model, "stream": true,
                "messages": [{"role": "user", "content": format!("hi {n}")}]}),
            "anthropic" => json!({"model": model, "max_tokens": 20, "stream": true,
                "messages": [{"role": "user", "content": format!("hi {n}")}]}),
            _ => {
                json!({"model": model, "messages": [{"role": "user", "content": format!("hi {n}")}]})
            }
        };
        let path = match client {
            "openai" => "/v1/chat/completions",
            "anthropic" => "/v1/messages",
            _ => "/api/chat",
        };
        let send = |n: usize| {
            let body = ask(n);
            let s = &s;
            async move {
                let res = crate::harness::client()
                    .post(s.url(path))
                    .insert_header(("anthropic-version", "2023-06-01"))
                    .send_json(&body)
                    .await
                    .unwrap();
                crate::harness::read(res).await
            }
        };
        assert_eq!(send(0).await.status, 200);
        let before = s.node(node).connections();
        for n in 1..=10 {
            let reply = send(n).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
        let opened = s.node(node).connections() - before;
        // Probes use their own client; allow for one of theirs.
        assert!(
            opened <= 1,
            "{client} client → {node} node: {opened} new connections for 10 streams"
        );
    }
}
