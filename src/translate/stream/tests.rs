//! Streams: every (node, client) pair, split at every byte, against the whole translation;
//! in-band errors, broken streams, limits; arbitrary input never panics.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{decode::Decoder, event::Event, lines::Lines, *};
use crate::translate::response::{self, answer::Finish};

const NODES: [Dialect; 3] = [
    Dialect::OpenAiChat,
    Dialect::AnthropicMessages,
    Dialect::OllamaChat,
];
const CLIENTS: [Dialect; 5] = [
    Dialect::OpenAiChat,
    Dialect::AnthropicMessages,
    Dialect::OllamaChat,
    Dialect::OllamaGenerate,
    Dialect::OpenAiResponses,
];

fn ctx() -> ResponseContext {
    ResponseContext {
        model: "client-model".to_owned(),
        id: "chatcmpl-gw1".to_owned(),
        created: 1_700_000_000,
        include_usage: true,
        responses: None,
    }
}

fn sse(events: &[&str]) -> String {
    events.iter().map(|e| format!("data: {e}\n\n")).collect()
}

fn anthropic_sse(events: &[&str]) -> String {
    events
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_str(e).unwrap();
            format!("event: {}\ndata: {e}\n\n", v["type"].as_str().unwrap())
        })
        .collect()
}

const OA: &str =
    r#""id":"chatcmpl-node","object":"chat.completion.chunk","created":1,"model":"gpt""#;

/// Reasoning, text with multi-byte characters, two parallel calls in pieces, a usage-only
/// chunk with cached tokens.
fn openai_stream() -> String {
    let c = |choice: &str| format!(r#"{{{OA},"choices":[{choice}]}}"#);
    sse(&[
        &c(r#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#),
        &c(r#"{"index":0,"delta":{"reasoning_content":"Thïnk"},"finish_reason":null}"#),
        &c(r#"{"index":0,"delta":{"content":"Héllo "},"finish_reason":null}"#),
        &c(r#"{"index":0,"delta":{"content":"wörld 🌍"},"finish_reason":null}"#),
        &c(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}"#,
        ),
        &c(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"finish_reason":null}"#,
        ),
        &c(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Pa"}}]},"finish_reason":null}"#,
        ),
        &c(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ris\"}"}}]},"finish_reason":null}"#,
        ),
        &c(
            r#"{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{\"tz\":"}}]},"finish_reason":null}"#,
        ),
        &c(
            r#"{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\"CET\"}"}}]},"finish_reason":null}"#,
        ),
        &c(r#"{"index":0,"delta":{},"finish_reason":"tool_calls"}"#),
        &format!(
            r#"{{{OA},"choices":[],"usage":{{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{{"cached_tokens":60}}}}}}"#
        ),
        "[DONE]",
    ])
}

fn openai_whole() -> Value {
    json!({"id": "chatcmpl-node", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": "Héllo wörld 🌍", "reasoning_content": "Thïnk",
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"CET\"}"}}]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                  "prompt_tokens_details": {"cached_tokens": 60}}})
}

/// Thinking with a signature, a ping, text, two tool calls in pieces, cache reads and writes.
fn anthropic_stream() -> String {
    anthropic_sse(&[
        r#"{"type":"message_start","message":{"id":"msg_node","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":50,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Thïnk"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"ping"}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Héllo "}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"wörld 🌍"}}"#,
        r#"{"type":"content_block_stop","index":1}"#,
        r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_a","name":"get_weather","input":{}}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"ris\"}"}}"#,
        r#"{"type":"content_block_stop","index":2}"#,
        r#"{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_b","name":"get_time","input":{}}}"#,
        r#"{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"tz\": \"CET\"}"}}"#,
        r#"{"type":"content_block_stop","index":3}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":20}}"#,
        r#"{"type":"message_stop"}"#,
    ])
}

fn anthropic_whole() -> Value {
    json!({"id": "msg_node", "type": "message", "role": "assistant", "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "Thïnk", "signature": "c2ln"},
            {"type": "text", "text": "Héllo wörld 🌍"},
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {"tz": "CET"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5,
                  "cache_read_input_tokens": 50, "output_tokens": 20}})
}

const OL: &str = r#""model":"llama","created_at":"2024-01-01T00:00:00Z""#;

/// Thinking, text, two whole calls without ids, `stop` with calls, counts and durations.
fn ollama_stream() -> String {
    [
        format!(r#"{{{OL},"message":{{"role":"assistant","content":"","thinking":"Thïnk"}},"done":false}}"#),
        format!(r#"{{{OL},"message":{{"role":"assistant","content":"Héllo "}},"done":false}}"#),
        format!(r#"{{{OL},"message":{{"role":"assistant","content":"wörld 🌍"}},"done":false}}"#),
        format!(
            r#"{{{OL},"message":{{"role":"assistant","content":"","tool_calls":[{{"function":{{"name":"get_weather","arguments":{{"city":"Paris"}}}}}},{{"function":{{"name":"get_time","arguments":{{"tz":"CET"}}}}}}]}},"done":false}}"#
        ),
        format!(
            r#"{{{OL},"message":{{"role":"assistant","content":""}},"done":true,"done_reason":"stop","total_duration":9,"load_duration":1,"prompt_eval_count":100,"prompt_eval_duration":2,"eval_count":20,"eval_duration":3}}"#
        ),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect()
}

fn ollama_whole() -> Value {
    json!({"model": "llama", "created_at": "2024-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": "Héllo wörld 🌍", "thinking": "Thïnk",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"function": {"name": "get_time", "arguments": {"tz": "CET"}}}]},
        "done": true, "done_reason": "stop", "total_duration": 9, "load_duration": 1,
        "prompt_eval_count": 100, "prompt_eval_duration": 2, "eval_count": 20, "eval_duration": 3})
}

/// Text only, cut by the length limit.
fn short_stream(from: Dialect) -> (String, Value) {
    match from {
        Dialect::OpenAiChat => (
            sse(&[
                &format!(r#"{{{OA},"choices":[{{"index":0,"delta":{{"role":"assistant","content":"ab"}},"finish_reason":null}}]}}"#),
                &format!(r#"{{{OA},"choices":[{{"index":0,"delta":{{}},"finish_reason":"length"}}],"usage":{{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}}}"#),
                "[DONE]",
            ]),
            json!({"choices": [{"message": {"content": "ab"}, "finish_reason": "length"}],
                   "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        ),
        Dialect::AnthropicMessages => (
            anthropic_sse(&[
                r#"{"type":"message_start","message":{"id":"msg_s","usage":{"input_tokens":3,"output_tokens":1}}}"#,
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"a"}}"#,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"b"}}"#,
                r#"{"type":"content_block_stop","index":0}"#,
                r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":2}}"#,
                r#"{"type":"message_stop"}"#,
            ]),
            json!({"id": "msg_s", "content": [{"type": "text", "text": "ab"}],
                   "stop_reason": "max_tokens", "usage": {"input_tokens": 3, "output_tokens": 2}}),
        ),
        _ => (
            format!(
                "{{{OL},\"message\":{{\"role\":\"assistant\",\"content\":\"ab\"}},\"done\":false}}\n{{{OL},\"message\":{{\"role\":\"assistant\",\"content\":\"\"}},\"done\":true,\"done_reason\":\"length\",\"prompt_eval_count\":3,\"eval_count\":2}}\n"
            ),
            json!({"message": {"role": "assistant", "content": "ab"}, "done": true,
                   "done_reason": "length", "prompt_eval_count": 3, "eval_count": 2}),
        ),
    }
}

fn rich(from: Dialect) -> (String, Value) {
    match from {
        Dialect::OpenAiChat => (openai_stream(), openai_whole()),
        Dialect::AnthropicMessages => (anthropic_stream(), anthropic_whole()),
        _ => (ollama_stream(), ollama_whole()),
    }
}

fn fixtures() -> Vec<(Dialect, String, Value)> {
    NODES
        .iter()
        .flat_map(|&from| {
            let (s, w) = rich(from);
            let (s2, w2) = short_stream(from);
            [(from, s, w), (from, s2, w2)]
        })
        .collect()
}

/// Feeds the chunks in order; the output, the final state and the usage.
fn run(from: Dialect, to: Dialect, chunks: &[&[u8]]) -> (Vec<u8>, StreamState, Usage) {
    let mut t = StreamTranslator::new(from, to, ctx());
    let mut out = Vec::new();
    for chunk in chunks {
        t.push(chunk, &mut out)
            .unwrap_or_else(|e| panic!("{from:?} -> {to:?}: {e}"));
    }
    (out, t.state(), t.usage())
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn every_split_gives_the_same_frames() {
    for (from, stream, _) in fixtures() {
        let bytes = stream.as_bytes();
        for to in CLIENTS {
            let (whole, state, _) = run(from, to, &[bytes]);
            assert_eq!(state, StreamState::Done, "{from:?} -> {to:?}");
            for at in 0..=bytes.len() {
                let (a, b) = bytes.split_at(at);
                let (split, state, _) = run(from, to, &[a, b]);
                assert_eq!(split, whole, "{from:?} -> {to:?} split at {at}");
                assert_eq!(state, StreamState::Done);
            }
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            let (one_by_one, _, _) = run(from, to, &singles);
            assert_eq!(one_by_one, whole, "{from:?} -> {to:?} byte by byte");
        }
    }
}

#[test]
fn frames_are_written_as_soon_as_complete() {
    // Everything before the terminal event is out before it arrives.
    let stream = openai_stream();
    let cut = stream.find("data: [DONE]").unwrap();
    for to in CLIENTS {
        let mut t = StreamTranslator::new(Dialect::OpenAiChat, to, ctx());
        let mut out = Vec::new();
        t.push(&stream.as_bytes()[..cut], &mut out).unwrap();
        let summary = summarize_stream(to, &out);
        assert!(summary.text.ends_with("🌍"), "{to:?}");
        assert_eq!(t.state(), StreamState::Open);
    }
    // Anthropic text goes out piece by piece, before the block ends.
    let mut t = StreamTranslator::new(Dialect::AnthropicMessages, Dialect::OpenAiChat, ctx());
    let mut out = Vec::new();
    let stream = anthropic_stream();
    let cut = stream.find("wörld").unwrap();
    t.push(&stream.as_bytes()[..cut], &mut out).unwrap();
    assert!(text(&out).contains("Héllo "));
}

/// What a client makes of an answer: reassembled from its stream or read whole.
#[derive(Debug, PartialEq)]
struct Summary {
    text: String,
    thinking: String,
    calls: Vec<(String, String, Value)>,
    finish: Finish,
    usage: Usage,
}

/// A Responses client's reading: text and reasoning deltas, each call item when done, the
/// terminal response's status and usage. Responses cannot tell a tool-call end from a stop:
/// `completed` with calls reads as `ToolCalls`.
fn summarize_responses(frames: Vec<(String, Value)>) -> Summary {
    let mut s = Summary {
        text: String::new(),
        thinking: String::new(),
        calls: Vec::new(),
        finish: Finish::Stop,
        usage: Usage::default(),
    };
    let mut last = 0;
    for (name, v) in frames {
        assert_eq!(v["type"], name.as_str());
        let seq = v["sequence_number"].as_u64().unwrap();
        assert!(seq == 0 || seq > last, "sequence numbers increase");
        last = seq;
        match name.as_str() {
            "response.output_text.delta" => s.text.push_str(v["delta"].as_str().unwrap()),
            "response.reasoning_summary_text.delta" => {
                s.thinking.push_str(v["delta"].as_str().unwrap())
            }
            "response.completed" | "response.incomplete" => {
                s = summarize_responses_whole(&v["response"], s.text, s.thinking);
            }
            _ => {}
        }
    }
    s
}

/// A whole Responses `response`; `text` and `thinking` as already read from the deltas
/// (checked against the items).
fn summarize_responses_whole(r: &Value, text: String, thinking: String) -> Summary {
    let mut s = Summary {
        text: String::new(),
        thinking: String::new(),
        calls: Vec::new(),
        finish: Finish::Stop,
        usage: Usage::default(),
    };
    for item in r["output"].as_array().unwrap() {
        match item["type"].as_str().unwrap() {
            "message" => s
                .text
                .push_str(item["content"][0]["text"].as_str().unwrap()),
            "reasoning" => s
                .thinking
                .push_str(item["summary"][0]["text"].as_str().unwrap()),
            "function_call" => s.calls.push((
                item["call_id"].as_str().unwrap().to_owned(),
                item["name"].as_str().unwrap().to_owned(),
                serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap(),
            )),
            other => panic!("unexpected item {other}"),
        }
    }
    if !text.is_empty() || !thinking.is_empty() {
        assert_eq!((&s.text, &s.thinking), (&text, &thinking), "deltas = items");
    }
    s.finish = match (
        r["status"].as_str().unwrap(),
        r["incomplete_details"]["reason"].as_str(),
    ) {
        ("incomplete", Some("max_output_tokens")) => Finish::Length,
        ("incomplete", _) => Finish::ContentFilter,
        _ => Finish::natural(!s.calls.is_empty()),
    };
    let u = &r["usage"];
    s.usage = Usage {
        input: u["input_tokens"].as_u64(),
        output: u["output_tokens"].as_u64(),
        cache_read: u["input_tokens_details"]["cached_tokens"].as_u64(),
        cache_write: None,
    };
    s
}

fn summarize_stream(client: Dialect, bytes: &[u8]) -> Summary {
    if client == Dialect::OpenAiResponses {
        return summarize_responses(sse_frames(bytes));
    }
    let mut lines = Lines::new(MAX_LINE);
    let mut decoder = Decoder::new(client);
    let mut events = Vec::new();
    lines
        .split(bytes, |line| decoder.line(line, &mut events))
        .unwrap();
    let mut s = Summary {
        text: String::new(),
        thinking: String::new(),
        calls: Vec::new(),
        finish: Finish::Stop,
        usage: Usage::default(),
    };
    let mut keys = Vec::new();
    let mut args: Vec<String> = Vec::new();
    let mut finish = None;
    for event in events {
        match event {
            Event::Text(t) => s.text.push_str(&t),
            Event::Thinking(t) => s.thinking.push_str(&t),
            Event::ToolStart { key, id, name } => {
                keys.push(key);
                args.push(String::new());
                s.calls.push((id, name, Value::Null));
            }
            Event::ToolArgs { key, piece } => {
                let at = keys.iter().position(|k| *k == key).unwrap();
                args[at].push_str(&piece);
            }
            Event::Finish { reason, .. } => finish = Some(reason),
            Event::Usage(u) => {
                let mut totals = super::encode::Totals {
                    usage: s.usage,
                    ..Default::default()
                };
                totals.merge_usage(&u);
                s.usage = totals.usage;
            }
            _ => {}
        }
    }
    for (call, a) in s.calls.iter_mut().zip(args) {
        call.2 = if a.is_empty() {
            json!({})
        } else {
            serde_json::from_str(&a).unwrap()
        };
    }
    s.finish = finish.unwrap_or(Finish::natural(!s.calls.is_empty()));
    s
}

fn summarize_whole(client: Dialect, body: &[u8]) -> Summary {
    if client == Dialect::OpenAiResponses {
        let r: Value = serde_json::from_slice(body).unwrap();
        return summarize_responses_whole(&r, String::new(), String::new());
    }
    let answer = response::parse(client, body).unwrap();
    Summary {
        text: answer.text(),
        thinking: answer.thinking().unwrap_or_default(),
        calls: answer
            .tool_calls()
            .map(|c| {
                (
                    c.id.clone(),
                    c.name.clone(),
                    serde_json::from_str(c.arguments.get()).unwrap(),
                )
            })
            .collect(),
        finish: answer.finish(),
        usage: answer.usage,
    }
}

#[test]
fn streamed_equals_whole() {
    for (from, stream, whole) in fixtures() {
        for to in CLIENTS {
            let case = format!("{from:?} -> {to:?}");
            let (frames, _, stream_usage) = run(from, to, &[stream.as_bytes()]);
            let (body, whole_usage) =
                response::response(from, to, whole.to_string().as_bytes(), &ctx()).unwrap();
            assert_eq!(stream_usage, whole_usage, "{case}");
            let streamed = summarize_stream(to, &frames);
            let expected = summarize_whole(to, &body);
            assert_eq!(streamed, expected, "{case}\n{}", text(&frames));
            assert!(!expected.text.is_empty(), "{case}");
        }
    }
}

/// The JSON payloads of SSE frames, with their event names.
fn sse_frames(bytes: &[u8]) -> Vec<(String, Value)> {
    let mut frames = Vec::new();
    let mut name = String::new();
    for line in text(bytes).lines() {
        if let Some(n) = line.strip_prefix("event: ") {
            name = n.to_owned();
        } else if let Some(d) = line.strip_prefix("data: ") {
            let v = if d == "[DONE]" {
                json!("[DONE]")
            } else {
                serde_json::from_str(d).unwrap()
            };
            frames.push((std::mem::take(&mut name), v));
        }
    }
    frames
}

#[test]
fn openai_client_gets_openai_chunks() {
    let (out, _, _) = run(
        Dialect::AnthropicMessages,
        Dialect::OpenAiChat,
        &[anthropic_stream().as_bytes()],
    );
    let frames: Vec<Value> = sse_frames(&out).into_iter().map(|(_, v)| v).collect();
    let first = &frames[0];
    assert_eq!(first["id"], "chatcmpl-gw1");
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["created"], 1_700_000_000);
    assert_eq!(first["model"], "client-model");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    let call_heads: Vec<&Value> = frames
        .iter()
        .filter(|f| f["choices"][0]["delta"]["tool_calls"][0]["id"].is_string())
        .collect();
    assert_eq!(call_heads.len(), 2);
    assert_eq!(
        call_heads[1]["choices"][0]["delta"]["tool_calls"][0],
        json!({"index": 1, "id": "toolu_b", "type": "function",
               "function": {"name": "get_time", "arguments": ""}})
    );
    assert!(frames
        .iter()
        .any(|f| f["choices"][0]["delta"]["tool_calls"][0]
            == json!({"index": 0, "function": {"arguments": "ris\"}"}})));
    let n = frames.len();
    assert_eq!(frames[n - 3]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(frames[n - 2]["choices"], json!([]));
    assert_eq!(
        frames[n - 2]["usage"],
        json!({"prompt_tokens": 65, "completion_tokens": 20, "total_tokens": 85,
               "prompt_tokens_details": {"cached_tokens": 50}})
    );
    assert_eq!(frames[n - 1], json!("[DONE]"));
    // Without include_usage, no usage chunk.
    let mut t = StreamTranslator::new(
        Dialect::AnthropicMessages,
        Dialect::OpenAiChat,
        ResponseContext {
            include_usage: false,
            responses: None,
            ..ctx()
        },
    );
    let mut out = Vec::new();
    t.push(anthropic_stream().as_bytes(), &mut out).unwrap();
    assert!(!text(&out).contains("\"usage\""));
    assert!(text(&out).ends_with("data: [DONE]\n\n"));
}

#[test]
fn anthropic_client_gets_the_full_event_sequence() {
    let (out, _, _) = run(
        Dialect::OpenAiChat,
        Dialect::AnthropicMessages,
        &[openai_stream().as_bytes()],
    );
    let frames = sse_frames(&out);
    let names: Vec<&str> = frames.iter().map(|(n, _)| n.as_str()).collect();
    for (name, v) in &frames {
        assert_eq!(v["type"], name.as_str());
    }
    let mut expected = vec!["message_start", "content_block_start"];
    expected.extend([
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
    ]);
    expected.extend(["content_block_delta"; 2]);
    expected.extend(["content_block_stop", "content_block_start"]);
    expected.extend(["content_block_delta"; 3]);
    // The second call started while the first call's block was open (OpenAI never says a
    // call is complete): it is held and written whole, one delta, at the finish.
    expected.extend([
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
    ]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    let starts: Vec<&Value> = frames
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, v)| v)
        .collect();
    let indexes: Vec<u64> = starts
        .iter()
        .map(|v| v["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 2, 3]);
    assert_eq!(starts[0]["content_block"]["type"], "thinking");
    assert_eq!(
        starts[2]["content_block"],
        json!({"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}})
    );
    let (_, start) = &frames[0];
    assert_eq!(start["message"]["id"], "msg_gw1");
    assert_eq!(start["message"]["usage"]["input_tokens"], 0);
    let (_, delta) = &frames[frames.len() - 2];
    assert_eq!(
        delta["delta"],
        json!({"stop_reason": "tool_use", "stop_sequence": null})
    );
    // The usage-only chunk's counts: Anthropic's split of cached tokens.
    assert_eq!(
        delta["usage"],
        json!({"input_tokens": 40, "cache_read_input_tokens": 60, "output_tokens": 20})
    );
    // Anthropic → Anthropic keeps the node's id, counts and signature.
    let (out, _, _) = run(
        Dialect::AnthropicMessages,
        Dialect::AnthropicMessages,
        &[anthropic_stream().as_bytes()],
    );
    let frames = sse_frames(&out);
    assert_eq!(frames[0].1["message"]["id"], "msg_node");
    assert_eq!(
        frames[0].1["message"]["usage"],
        json!({"input_tokens": 10, "cache_creation_input_tokens": 5,
               "cache_read_input_tokens": 50, "output_tokens": 1})
    );
    assert!(frames
        .iter()
        .any(|(_, v)| v["delta"]["signature"] == "c2ln"));
    assert!(frames.iter().any(|(n, _)| n == "ping"));
}

#[test]
fn stop_sequence_reaches_anthropic_clients() {
    let stream = anthropic_sse(&[
        r#"{"type":"message_start","message":{"id":"msg_s","usage":{"input_tokens":3,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"output_tokens":2}}"#,
        r#"{"type":"message_stop"}"#,
    ]);
    let (out, _, _) = run(
        Dialect::AnthropicMessages,
        Dialect::AnthropicMessages,
        &[stream.as_bytes()],
    );
    let frames = sse_frames(&out);
    assert_eq!(
        frames[frames.len() - 2].1["delta"],
        json!({"stop_reason": "stop_sequence", "stop_sequence": "END"})
    );
    let (out, _, _) = run(
        Dialect::AnthropicMessages,
        Dialect::OpenAiChat,
        &[stream.as_bytes()],
    );
    assert!(text(&out).contains(r#""finish_reason":"stop""#));
}

/// OpenAI pieces of two calls interleaved: Anthropic gets the first block live, the second
/// held and written whole after it; Ollama gets both whole.
#[test]
fn interleaved_parallel_calls_are_reassembled_in_order() {
    let c = |choice: &str| format!(r#"{{{OA},"choices":[{choice}]}}"#);
    let t = |index: u32, head: Option<(&str, &str)>, args: &str| {
        let call = match head {
            Some((id, name)) => json!({"index": index, "id": id, "type": "function",
                                       "function": {"name": name, "arguments": args}}),
            None => json!({"index": index, "function": {"arguments": args}}),
        };
        c(&json!({"index": 0, "delta": {"tool_calls": [call]}}).to_string())
    };
    let stream = sse(&[
        &t(0, Some(("call_a", "f")), ""),
        &t(1, Some(("call_b", "g")), "{\"b\""),
        &t(0, None, "{\"a\""),
        &t(1, None, ":2}"),
        &t(0, None, ":1}"),
        &c(r#"{"index":0,"delta":{},"finish_reason":"tool_calls"}"#),
        "[DONE]",
    ]);
    let (out, state, _) = run(
        Dialect::OpenAiChat,
        Dialect::AnthropicMessages,
        &[stream.as_bytes()],
    );
    assert_eq!(state, StreamState::Done);
    let frames = sse_frames(&out);
    let mut blocks: Vec<(String, String)> = Vec::new();
    for (name, v) in &frames {
        match name.as_str() {
            "content_block_start" => {
                assert_eq!(v["index"].as_u64().unwrap() as usize, blocks.len());
                blocks.push((
                    v["content_block"]["id"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
            }
            "content_block_delta" => {
                let at = v["index"].as_u64().unwrap() as usize;
                assert_eq!(at + 1, blocks.len(), "deltas only for the open block");
                blocks[at]
                    .1
                    .push_str(v["delta"]["partial_json"].as_str().unwrap());
            }
            _ => {}
        }
    }
    assert_eq!(
        blocks,
        [
            ("call_a".to_owned(), "{\"a\":1}".to_owned()),
            ("call_b".to_owned(), "{\"b\":2}".to_owned())
        ]
    );
    let (out, _, _) = run(
        Dialect::OpenAiChat,
        Dialect::OllamaChat,
        &[stream.as_bytes()],
    );
    let lines: Vec<Value> = text(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0]["message"]["tool_calls"],
        json!([{"id": "call_a", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}])
    );
    assert_eq!(
        lines[1]["message"]["tool_calls"],
        json!([{"id": "call_b", "function": {"index": 1, "name": "g", "arguments": {"b": 2}}}])
    );
    assert_eq!(lines[2]["done"], true);
    assert_eq!(lines[2]["done_reason"], "stop");
}

#[test]
fn ollama_clients_get_ollama_lines() {
    let (out, _, _) = run(
        Dialect::AnthropicMessages,
        Dialect::OllamaChat,
        &[anthropic_stream().as_bytes()],
    );
    let lines: Vec<Value> = text(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0],
        json!({"model": "client-model", "created_at": "2023-11-14T22:13:20Z",
               "message": {"role": "assistant", "content": "", "thinking": "Thïnk"}, "done": false})
    );
    assert_eq!(lines[1]["message"]["content"], "Héllo ");
    // The call goes out at its block's end, before the answer finishes.
    assert_eq!(
        lines[3]["message"]["tool_calls"][0],
        json!({"id": "toolu_a", "function": {"index": 0, "name": "get_weather",
                                             "arguments": {"city": "Paris"}}})
    );
    let last = lines.last().unwrap();
    assert_eq!(
        last,
        &json!({"model": "client-model", "created_at": "2023-11-14T22:13:20Z",
                "message": {"role": "assistant", "content": ""}, "done": true,
                "done_reason": "stop", "total_duration": 0, "load_duration": 0,
                "prompt_eval_count": 65, "prompt_eval_duration": 0, "eval_count": 20,
                "eval_duration": 0})
    );
    let (out, _, _) = run(
        Dialect::OllamaChat,
        Dialect::OllamaGenerate,
        &[ollama_stream().as_bytes()],
    );
    let lines: Vec<Value> = text(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[1],
        json!({"model": "client-model", "created_at": "2023-11-14T22:13:20Z",
               "response": "Héllo ", "done": false})
    );
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert_eq!(last["total_duration"], 9);
    assert_eq!(last["response"], "");
    assert!(last.get("context").is_none());
    assert!(!text(&out).contains("tool_calls"));
    // Ollama → OpenAI: generated ids.
    let (out, _, _) = run(
        Dialect::OllamaChat,
        Dialect::OpenAiChat,
        &[ollama_stream().as_bytes()],
    );
    assert!(text(&out).contains(r#""id":"call_0","type":"function""#));
    assert!(text(&out).contains(r#""id":"call_1","type":"function""#));
    assert!(text(&out).contains(r#""finish_reason":"tool_calls""#));
}

/// The names of a Responses client's events, in order.
fn responses_events(out: &[u8]) -> Vec<String> {
    sse_frames(out).into_iter().map(|(name, _)| name).collect()
}

#[test]
fn responses_client_gets_the_full_event_sequence() {
    let (out, state, _) = run(
        Dialect::AnthropicMessages,
        Dialect::OpenAiResponses,
        &[anthropic_stream().as_bytes()],
    );
    assert_eq!(state, StreamState::Done);
    let names = responses_events(&out);
    let head = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
    ];
    assert_eq!(&names[..5], head, "{names:?}");
    for needed in [
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ] {
        assert!(names.iter().any(|n| n == needed), "{needed} in {names:?}");
    }
    assert_eq!(names.last().unwrap(), "response.completed");
    let frames = sse_frames(&out);
    let (_, created) = &frames[0];
    assert_eq!(created["response"]["status"], "in_progress");
    assert_eq!(created["response"]["id"], "resp_gw1");
    assert_eq!(created["response"]["store"], false);
    let (_, last) = frames.last().unwrap();
    let r = &last["response"];
    assert_eq!(r["status"], "completed");
    assert_eq!(r["object"], "response");
    assert_eq!(r["usage"]["input_tokens"], 65);
    assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 50);
    assert_eq!(r["usage"]["total_tokens"], 85);
    let kinds: Vec<&str> = r["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "reasoning");
    assert_eq!(kinds[1], "message");
    assert!(
        kinds[2..].iter().all(|k| *k == "function_call"),
        "{kinds:?}"
    );
    // Items are whole and in order: each added, filled and done before the next is added.
    let mut open: Option<u64> = None;
    for (name, v) in &frames {
        match name.as_str() {
            "response.output_item.added" => {
                assert_eq!(open, None, "one item at a time");
                open = v["output_index"].as_u64();
            }
            "response.output_item.done" => {
                assert_eq!(open, v["output_index"].as_u64());
                open = None;
            }
            n if n.ends_with(".delta") => assert_eq!(open, v["output_index"].as_u64()),
            _ => {}
        }
    }
}

#[test]
fn responses_interleaved_calls_come_out_whole_and_in_order() {
    let c = |choice: &str| format!(r#"{{{OA},"choices":[{choice}]}}"#);
    let t = |index: u32, head: Option<(&str, &str)>, args: &str| {
        let call = match head {
            Some((id, name)) => json!({"index": index, "id": id, "type": "function",
                                       "function": {"name": name, "arguments": args}}),
            None => json!({"index": index, "function": {"arguments": args}}),
        };
        c(&json!({"index": 0, "delta": {"tool_calls": [call]}}).to_string())
    };
    let stream = sse(&[
        &t(0, Some(("call_a", "f")), ""),
        &t(1, Some(("call_b", "g")), "{\"b\""),
        &t(0, None, "{\"a\""),
        &t(1, None, ":2}"),
        &t(0, None, ":1}"),
        &c(r#"{"index":0,"delta":{},"finish_reason":"length"}"#),
        "[DONE]",
    ]);
    let (out, state, _) = run(
        Dialect::OpenAiChat,
        Dialect::OpenAiResponses,
        &[stream.as_bytes()],
    );
    assert_eq!(state, StreamState::Done);
    let frames = sse_frames(&out);
    let done: Vec<(String, String)> = frames
        .iter()
        .filter(|(n, _)| n == "response.function_call_arguments.done")
        .map(|(_, v)| {
            let args = v["arguments"].as_str().unwrap().to_owned();
            (v["name"].as_str().unwrap().to_owned(), args)
        })
        .collect();
    assert_eq!(
        done,
        [
            ("f".to_owned(), "{\"a\":1}".to_owned()),
            ("g".to_owned(), "{\"b\":2}".to_owned())
        ]
    );
    let (name, last) = frames.last().unwrap();
    assert_eq!(name, "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
}

#[test]
fn responses_custom_tool_calls_come_back_as_custom_items() {
    let echo = crate::translate::ResponsesEcho {
        custom_tools: vec!["apply_patch".into()],
        ..Default::default()
    };
    let ctx = ResponseContext {
        responses: Some(std::sync::Arc::new(echo)),
        ..ctx()
    };
    let c = |choice: &str| format!(r#"{{{OA},"choices":[{choice}]}}"#);
    let stream = sse(&[
        &c(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_p","type":"function","function":{"name":"apply_patch","arguments":"{\"input\":"}}]}}"#,
        ),
        &c(
            r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"*** Begin Patch\"}"}}]}}"#,
        ),
        &c(r#"{"index":0,"delta":{},"finish_reason":"tool_calls"}"#),
        "[DONE]",
    ]);
    let mut t = StreamTranslator::new(Dialect::OpenAiChat, Dialect::OpenAiResponses, ctx.clone());
    let mut out = Vec::new();
    t.push(stream.as_bytes(), &mut out).unwrap();
    let frames = sse_frames(&out);
    let names: Vec<&str> = frames.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"response.custom_tool_call_input.delta"),
        "{names:?}"
    );
    let (_, last) = frames.last().unwrap();
    let item = &last["response"]["output"][0];
    assert_eq!(item["type"], "custom_tool_call");
    assert_eq!(item["call_id"], "call_p");
    assert_eq!(item["input"], "*** Begin Patch");
    // The whole answer says the same.
    let whole = json!({"id": "x", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "call_p",
        "type": "function", "function": {"name": "apply_patch",
        "arguments": "{\"input\":\"*** Begin Patch\"}"}}]}}]});
    let (body, _) = response::response(
        Dialect::OpenAiChat,
        Dialect::OpenAiResponses,
        whole.to_string().as_bytes(),
        &ctx,
    )
    .unwrap();
    let r: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(r["output"][0]["type"], "custom_tool_call");
    assert_eq!(r["output"][0]["input"], "*** Begin Patch");
}

/// The error frame each client gets, and that nothing after it looks like a clean end.
fn assert_error_end(to: Dialect, out: &[u8], message: &str) {
    let s = text(out);
    match to {
        Dialect::OpenAiChat => {
            let last = s.rsplit("data: ").next().unwrap();
            let v: Value = serde_json::from_str(last.trim_end()).unwrap();
            assert_eq!(v["error"]["message"], message, "{s}");
            assert!(s.ends_with("\n\n"));
            assert!(!s.contains("[DONE]"), "{s}");
        }
        Dialect::AnthropicMessages => {
            let frames = sse_frames(out);
            let (name, v) = frames.last().unwrap();
            assert_eq!(name, "error");
            assert_eq!(v["type"], "error");
            assert_eq!(v["error"]["message"], message);
            assert!(!s.contains("message_stop"), "{s}");
        }
        Dialect::OpenAiResponses => {
            let frames = sse_frames(out);
            let (name, v) = frames.last().unwrap();
            assert_eq!(name, "response.failed", "{s}");
            assert_eq!(v["response"]["status"], "failed");
            assert_eq!(v["response"]["error"]["message"], message);
            assert!(!s.contains("response.completed"), "{s}");
        }
        _ => {
            let last: Value = serde_json::from_str(s.lines().last().unwrap()).unwrap();
            assert_eq!(last, json!({"error": message}));
            assert!(!s.contains("\"done\":true"), "{s}");
        }
    }
}

#[test]
fn in_band_errors_become_client_error_frames() {
    for from in NODES {
        let (head, error) = match from {
            Dialect::OpenAiChat => (
                sse(&[&format!(r#"{{{OA},"choices":[{{"index":0,"delta":{{"content":"hi"}}}}]}}"#)]),
                sse(&[r#"{"error":{"message":"overloaded now","type":"server_error"}}"#]),
            ),
            Dialect::AnthropicMessages => (
                anthropic_sse(&[
                    r#"{"type":"message_start","message":{"id":"msg_e","usage":{"input_tokens":1,"output_tokens":1}}}"#,
                    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"hi"}}"#,
                ]),
                anthropic_sse(&[
                    r#"{"type":"error","error":{"type":"overloaded_error","message":"overloaded now"}}"#,
                ]),
            ),
            _ => (
                format!("{{{OL},\"message\":{{\"role\":\"assistant\",\"content\":\"hi\"}},\"done\":false}}\n"),
                "{\"error\":\"overloaded now\"}\n".to_owned(),
            ),
        };
        for to in CLIENTS {
            let stream = format!("{head}{error}");
            let (out, state, _) = run(from, to, &[stream.as_bytes()]);
            assert_eq!(state, StreamState::Failed, "{from:?} -> {to:?}");
            assert_error_end(to, &out, "overloaded now");
            // Later bytes change nothing, `fail` neither.
            let mut t = StreamTranslator::new(from, to, ctx());
            let mut again = Vec::new();
            t.push(stream.as_bytes(), &mut again).unwrap();
            t.push(b"data: [DONE]\n\n", &mut again).unwrap();
            t.fail("late", &mut again);
            assert_eq!(again, out);
        }
    }
    // Anthropic's own error type reaches Anthropic clients.
    let (out, _, _) = run(
        Dialect::AnthropicMessages,
        Dialect::AnthropicMessages,
        &[anthropic_sse(&[
            r#"{"type":"error","error":{"type":"overloaded_error","message":"x"}}"#,
        ])
        .as_bytes()],
    );
    assert!(text(&out).contains(r#""type":"overloaded_error""#));
}

/// `[DONE]` with no finish reason before it: the node stopped without saying why, which
/// every client must read as a cut, not as `stop`/`end_turn`.
#[test]
fn openai_done_without_a_finish_reason_is_a_cut() {
    let content = |c: &str| {
        format!(
            r#"{{{OA},"choices":[{{"index":0,"delta":{{"content":"{c}"}},"finish_reason":null}}]}}"#
        )
    };
    let usage = format!(
        r#"{{{OA},"choices":[],"usage":{{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}}}"#
    );
    let cases = [
        sse(&[&content("ab"), "[DONE]"]),
        sse(&[&content("ab"), &usage, "[DONE]"]),
        sse(&["[DONE]"]),
    ];
    for stream in cases {
        for to in CLIENTS {
            let (out, state, _) = run(Dialect::OpenAiChat, to, &[stream.as_bytes()]);
            assert_eq!(state, StreamState::Failed, "{to:?}: {}", text(&out));
            assert_error_end(
                to,
                &out,
                "the node ended its stream without a finish reason",
            );
        }
    }
}

#[test]
fn fail_ends_with_an_error_frame_never_a_clean_end() {
    for (from, stream, _) in fixtures() {
        let cut = stream.len() * 2 / 3;
        for to in CLIENTS {
            let mut t = StreamTranslator::new(from, to, ctx());
            let mut out = Vec::new();
            t.push(&stream.as_bytes()[..cut], &mut out).unwrap();
            assert_eq!(t.state(), StreamState::Open);
            t.fail("node went away", &mut out);
            assert_eq!(t.state(), StreamState::Failed);
            assert_error_end(to, &out, "node went away");
        }
    }
    let exact = [
        (
            Dialect::OpenAiChat,
            "data: {\"error\":{\"message\":\"gone\",\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_error\"}}\n\n",
        ),
        (
            Dialect::AnthropicMessages,
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"gone\"}}\n\n",
        ),
        (Dialect::OllamaChat, "{\"error\":\"gone\"}\n"),
        (Dialect::OllamaGenerate, "{\"error\":\"gone\"}\n"),
    ];
    for (to, frame) in exact {
        let mut t = StreamTranslator::new(Dialect::OpenAiChat, to, ctx());
        let mut out = Vec::new();
        t.fail("gone", &mut out);
        assert_eq!(text(&out), frame);
    }
    // After a clean end, `fail` writes nothing.
    let mut t = StreamTranslator::new(Dialect::OllamaChat, Dialect::OpenAiChat, ctx());
    let mut out = Vec::new();
    t.push(ollama_stream().as_bytes(), &mut out).unwrap();
    let len = out.len();
    t.fail("late", &mut out);
    assert_eq!(out.len(), len);
    assert_eq!(t.state(), StreamState::Done);
}

#[test]
fn malformed_streams_fail_with_an_error_frame() {
    let cases: [(Dialect, Vec<u8>); 4] = [
        (Dialect::OpenAiChat, b"data: {not json\n".to_vec()),
        (
            Dialect::AnthropicMessages,
            b"data: {\"type\":\"message_start\"}\n".to_vec(),
        ),
        (Dialect::OllamaChat, b"<html>\n".to_vec()),
        (Dialect::OllamaChat, vec![b'x'; MAX_LINE + 1]),
    ];
    for (from, bytes) in cases {
        for to in CLIENTS {
            let mut t = StreamTranslator::new(from, to, ctx());
            let mut out = Vec::new();
            let got = t.push(&bytes, &mut out);
            assert!(matches!(got, Err(TranslateError::Upstream(_))), "{from:?}");
            assert_eq!(t.state(), StreamState::Failed);
            assert!(!out.is_empty());
        }
    }
    // A line may reach the limit over many chunks: still one line held, then refused.
    let mut t = StreamTranslator::new(Dialect::OllamaChat, Dialect::OllamaChat, ctx());
    let mut out = Vec::new();
    let piece = vec![b' '; 64 * 1024];
    let mut failed = false;
    for _ in 0..17 {
        if t.push(&piece, &mut out).is_err() {
            failed = true;
        }
    }
    assert!(failed);
    // OpenAI arguments that are not JSON cannot become Ollama's object.
    let bad = sse(&[
        &format!(
            r#"{{{OA},"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"id":"c","function":{{"name":"f","arguments":"{{oops"}}}}]}}}}]}}"#
        ),
        &format!(r#"{{{OA},"choices":[{{"index":0,"delta":{{}},"finish_reason":"tool_calls"}}]}}"#),
        "[DONE]",
    ]);
    let mut t = StreamTranslator::new(Dialect::OpenAiChat, Dialect::OllamaChat, ctx());
    let mut out = Vec::new();
    assert!(t.push(bad.as_bytes(), &mut out).is_err());
    assert_eq!(t.state(), StreamState::Failed);
    assert!(text(&out).ends_with("\"}\n"));
    assert!(text(&out).contains("{\"error\":"));
}

#[test]
fn usage_so_far_is_reported() {
    let stream = anthropic_stream();
    let cut = stream.find("content_block_start").unwrap();
    let mut t = StreamTranslator::new(Dialect::AnthropicMessages, Dialect::OpenAiChat, ctx());
    let mut out = Vec::new();
    t.push(&stream.as_bytes()[..cut], &mut out).unwrap();
    assert_eq!(
        t.usage(),
        Usage {
            input: Some(65),
            output: Some(1),
            cache_read: Some(50),
            cache_write: Some(5)
        }
    );
    t.push(&stream.as_bytes()[cut..], &mut out).unwrap();
    assert_eq!(t.usage().output, Some(20));
}

/// Cut points for a fixture.
fn chunking() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..4096usize, 0..24)
}

fn cut<'a>(bytes: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut from = 0;
    for p in points {
        chunks.push(&bytes[from..p]);
        from = p;
    }
    chunks.push(&bytes[from..]);
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_and_chunkings_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        points in chunking(),
    ) {
        for from in NODES {
            for to in CLIENTS {
                let mut t = StreamTranslator::new(from, to, ctx());
                let mut out = Vec::new();
                for chunk in cut(&bytes, &points) {
                    let _ = t.push(chunk, &mut out);
                }
                t.fail("x", &mut out);
                prop_assert_ne!(t.state(), StreamState::Open);
            }
        }
    }

    #[test]
    fn mangled_fixtures_never_panic(
        which in 0..6usize,
        edits in prop::collection::vec((0..4096usize, any::<u8>()), 0..8),
        points in chunking(),
    ) {
        let (from, stream, _) = fixtures().swap_remove(which);
        let mut bytes = stream.into_bytes();
        for (at, byte) in edits {
            let len = bytes.len();
            bytes[at % len] = byte;
        }
        for to in CLIENTS {
            let mut t = StreamTranslator::new(from, to, ctx());
            let mut out = Vec::new();
            for chunk in cut(&bytes, &points) {
                let _ = t.push(chunk, &mut out);
            }
        }
    }

    #[test]
    fn any_chunking_gives_the_same_frames(which in 0..6usize, points in chunking()) {
        let (from, stream, _) = fixtures().swap_remove(which);
        for to in CLIENTS {
            let (whole, _, _) = run(from, to, &[stream.as_bytes()]);
            let (split, state, _) = run(from, to, &cut(stream.as_bytes(), &points));
            prop_assert_eq!(split, whole);
            prop_assert_eq!(state, StreamState::Done);
        }
    }
}
