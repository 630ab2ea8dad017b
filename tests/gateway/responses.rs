//! OpenAI Responses clients (`POST /v1/responses`) on every node kind: translated onto Ollama
//! chat, OpenAI chat completions and Anthropic Messages, and passed through to an OpenAI node
//! that declares `responses = true`; whole and streamed, a function-tool round trip, bad input
//! in OpenAI's shape, and the request record.

use drover::{
    config::{Config, NodeKind},
    store::Store,
};
use drover_loadtest::mock::{MockConfig, MockKind, MockUpstream};
use serde_json::{json, Value};

use crate::{
    databases::wait_for_count,
    harness::{start_over, Reply, Setup},
};

/// Models by node: `o` Ollama, `g` OpenAI (chat only), `r` OpenAI serving Responses,
/// `c` Anthropic.
const MODELS: [(&str, &str); 4] = [
    ("o:latest", "ollama"),
    ("g", "openai"),
    ("r", "responder"),
    ("c", "anthropic"),
];

async fn fleet(tweak: impl FnOnce(&mut Config)) -> Setup {
    let ollama = MockUpstream::start(MockConfig::named("ollama", &["o:latest"])).unwrap();
    let openai =
        MockUpstream::start(MockConfig::of_kind(MockKind::OpenAi, "openai", &["g"])).unwrap();
    let responder =
        MockUpstream::start(MockConfig::of_kind(MockKind::OpenAi, "responder", &["r"])).unwrap();
    let anthropic = MockUpstream::start(MockConfig::of_kind(
        MockKind::Anthropic,
        "anthropic",
        &["c"],
    ))
    .unwrap();
    let urls = [
        format!("{}/v1", openai.url()),
        format!("{}/v1", responder.url()),
        anthropic.url(),
    ];
    start_over(vec![ollama, openai, responder, anthropic], move |config| {
        for node in &mut config.nodes {
            match node.name.as_str() {
                "openai" => {
                    node.kind = NodeKind::OpenAi;
                    node.url = urls[0].clone();
                }
                "responder" => {
                    node.kind = NodeKind::OpenAi;
                    node.url = urls[1].clone();
                    node.responses = true;
                }
                "anthropic" => {
                    node.kind = NodeKind::Anthropic;
                    node.url = urls[2].clone();
                }
                _ => {}
            }
        }
        tweak(config);
    })
    .await
}

fn assert_no_rejections(s: &Setup) {
    for node in &s.nodes {
        assert_eq!(
            node.rejections(),
            0,
            "node {} refused a request",
            node.name()
        );
    }
}

/// The named events of a Responses stream, in order.
fn events(reply: &Reply) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut name = String::new();
    for line in reply.text().lines() {
        if let Some(n) = line.strip_prefix("event: ") {
            name = n.to_owned();
        } else if let Some(d) = line.strip_prefix("data: ") {
            let v: Value = serde_json::from_str(d).unwrap();
            assert_eq!(v["type"], name.as_str(), "{d}");
            out.push((std::mem::take(&mut name), v));
        }
    }
    out
}

/// What must agree between a whole response and a stream: output item kinds, text, calls.
#[derive(Debug, PartialEq)]
struct Gist {
    status: String,
    text: String,
    calls: Vec<(String, Value)>,
}

fn gist(response: &Value) -> Gist {
    let mut g = Gist {
        status: response["status"].as_str().unwrap().to_owned(),
        text: String::new(),
        calls: Vec::new(),
    };
    for item in response["output"].as_array().unwrap() {
        match item["type"].as_str().unwrap() {
            "message" => g
                .text
                .push_str(item["content"][0]["text"].as_str().unwrap()),
            "function_call" => g.calls.push((
                item["name"].as_str().unwrap().to_owned(),
                serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap(),
            )),
            "reasoning" => {}
            other => panic!("unexpected item {other}"),
        }
    }
    g
}

/// The streamed answer: the deltas put together must equal the terminal response's output.
fn stream_gist(reply: &Reply) -> Gist {
    let events = events(reply);
    assert_eq!(events[0].0, "response.created");
    assert_eq!(events[1].0, "response.in_progress");
    let (last, terminal) = events.last().unwrap();
    assert!(
        last == "response.completed" || last == "response.incomplete",
        "{last}"
    );
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, v)| v["delta"].as_str().unwrap())
        .collect();
    let g = gist(&terminal["response"]);
    assert_eq!(g.text, text);
    let mut seq = events
        .iter()
        .map(|(_, v)| v["sequence_number"].as_u64().unwrap());
    let first = seq.next().unwrap();
    assert!(
        seq.fold((true, first), |(ok, prev), n| (ok && n > prev, n))
            .0
    );
    g
}

#[actix_rt::test]
async fn responses_clients_are_served_on_every_node_kind() {
    let s = fleet(|_| {}).await;
    for (model, node) in MODELS {
        let body = json!({"model": model, "input": "Say hi", "instructions": "Be brief.",
                          "store": false, "max_output_tokens": 500});
        let whole = s.post("/v1/responses", body.clone()).await;
        assert_eq!(whole.status, 200, "{model}: {}", whole.text());
        assert_eq!(whole.node.as_deref(), Some(node));
        let r = whole.json();
        assert_eq!(r["object"], "response", "{model}");
        assert!(r["id"].as_str().unwrap().starts_with("resp_"), "{model}");
        assert_eq!(r["model"], model);
        assert_eq!(r["instructions"], "Be brief.");
        assert!(r["usage"]["input_tokens"].as_u64().unwrap() > 0, "{model}");
        let g = gist(&r);
        assert_eq!(g.status, "completed");
        assert!(g.text.contains("tok0"), "{model}: {}", g.text);
        assert!(
            g.text.contains("[system: Be brief.]"),
            "{model}: {}",
            g.text
        );

        let mut streamed_body = body.clone();
        streamed_body["stream"] = json!(true);
        let streamed = s.post("/v1/responses", streamed_body).await;
        assert_eq!(streamed.status, 200, "{model}");
        assert!(streamed
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        assert_eq!(stream_gist(&streamed), g, "{model}: streamed = whole");
        assert!(!streamed.text().contains("[DONE]"));
    }
    // The node that serves Responses got the client's body as it was; the others got chat.
    assert_eq!(s.node("responder").requests("/v1/responses"), 2);
    assert_eq!(s.node("responder").requests("/v1/chat/completions"), 0);
    assert_eq!(s.node("openai").requests("/v1/chat/completions"), 2);
    assert_eq!(s.node("ollama").requests("/api/chat"), 2);
    assert_eq!(s.node("anthropic").requests("/v1/messages"), 2);
    assert_eq!(
        s.node("responder").last_body("/v1/responses").unwrap()["instructions"],
        "Be brief."
    );
    assert_no_rejections(&s);
}

#[actix_rt::test]
async fn a_function_tool_round_trip_works_on_every_node_kind() {
    let tools = json!([{"type": "function", "name": "lookup", "description": "Looks things up",
                        "parameters": {"type": "object", "properties": {"query": {"type": "string"},
                                       "n": {"type": "integer"}}}}]);
    let s = fleet(|_| {}).await;
    for (model, _) in MODELS {
        for stream in [false, true] {
            let first = json!({"model": model, "input": [{"role": "user", "content": "find cats"}],
                               "tools": tools, "stream": stream});
            let reply = s.post("/v1/responses", first).await;
            assert_eq!(reply.status, 200, "{model}: {}", reply.text());
            let response = if stream {
                events(&reply).last().unwrap().1["response"].clone()
            } else {
                reply.json()
            };
            let call = response["output"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["type"] == "function_call")
                .unwrap_or_else(|| panic!("{model}: no call in {response}"))
                .clone();
            assert_eq!(call["name"], "lookup");
            let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
            assert_eq!(args, json!({"query": "find cats", "n": 1}), "{model}");
            // The client sends the call back with its output, as the SDKs do.
            let second = json!({"model": model, "tools": tools, "stream": stream, "input": [
                {"role": "user", "content": "find cats"},
                {"type": "function_call", "call_id": call["call_id"], "name": "lookup",
                 "arguments": call["arguments"], "id": call["id"]},
                {"type": "function_call_output", "call_id": call["call_id"], "output": "three cats"}
            ]});
            let reply = s.post("/v1/responses", second).await;
            assert_eq!(reply.status, 200, "{model}: {}", reply.text());
            let g = if stream {
                stream_gist(&reply)
            } else {
                gist(&reply.json())
            };
            assert!(g.calls.is_empty(), "{model}");
            assert!(
                g.text.starts_with("tool said: three cats"),
                "{model}: {}",
                g.text
            );
        }
    }
    assert_no_rejections(&s);
}

#[actix_rt::test]
async fn bad_responses_input_gets_openai_errors_naming_the_field() {
    let s = fleet(|_| {}).await;
    let cases = [
        (
            json!({"model": "g", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"model": "r", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"model": "c", "input": "x", "background": true}),
            "background",
        ),
        (
            json!({"model": "g", "input": [{"type": "mystery"}]}),
            "input[0].type",
        ),
        (
            json!({"model": "o", "input": [{"type": "function_call_output", "call_id": "x", "output": "y"}]}),
            "input[0].call_id",
        ),
        (
            json!({"model": "c", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input[0]",
        ),
        (json!({"input": "x"}), "model"),
    ];
    for (body, field) in cases {
        let reply = s.post("/v1/responses", body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        let e = reply.json();
        assert_eq!(e["error"]["type"], "invalid_request_error", "{body}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    let unknown = s
        .post("/v1/responses", json!({"model": "ghost", "input": "x"}))
        .await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"]["message"].is_string());
    assert_no_rejections(&s);
}

#[actix_rt::test]
async fn a_responses_request_is_recorded_with_its_api() {
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/records.db", db.path().display());
    let config_url = url.clone();
    let s = fleet(move |c| {
        c.request_log.enabled = true;
        c.database_url = config_url;
    })
    .await;
    let reply = s
        .post(
            "/v1/responses",
            json!({"model": "c", "input": "hi", "stream": true}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let store = Store::open(&url).await.unwrap();
    assert_eq!(wait_for_count(&store, 1).await, 1);
    let records = store.recent_records(10).await.unwrap();
    assert_eq!(records[0].api, "/v1/responses");
    assert_eq!(records[0].node.as_deref(), Some("anthropic"));
    assert!(records[0].stream);
    assert!(records[0].prompt_tokens.is_some(), "{:?}", records[0]);
}

#[actix_rt::test]
async fn the_responses_setting_is_only_for_openai_nodes() {
    let node = drover::config::NodeConfig {
        name: "n".into(),
        kind: NodeKind::Anthropic,
        url: "http://127.0.0.1:9".into(),
        priority: drover::config::Priority::Active,
        weight: 1,
        max_concurrency: None,
        api_key: None,
        models: Vec::new(),
        probe: true,
        responses: true,
    };
    let (field, _) = node.check().unwrap_err();
    assert_eq!(field, "responses");
    let openai = drover::config::NodeConfig {
        kind: NodeKind::OpenAi,
        ..node
    };
    assert!(openai.check().is_ok());
}
