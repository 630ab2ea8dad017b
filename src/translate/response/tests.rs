//! Whole answers: every (node, client) pair on text, tool calls, thinking, finish reasons
//! and cached usage; embeddings; round trips; arbitrary input never panics.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::translate::EmbedDialect;

const NODES: [Dialect; 3] = [
    Dialect::OpenAiChat,
    Dialect::AnthropicMessages,
    Dialect::OllamaChat,
];
const CLIENTS: [Dialect; 4] = [
    Dialect::OpenAiChat,
    Dialect::AnthropicMessages,
    Dialect::OllamaChat,
    Dialect::OllamaGenerate,
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

fn translate(from: Dialect, to: Dialect, body: &Value) -> (Value, Usage) {
    let (out, usage) = response(from, to, body.to_string().as_bytes(), &ctx())
        .unwrap_or_else(|e| panic!("{from:?} -> {to:?}: {e}"));
    (serde_json::from_slice(&out).unwrap(), usage)
}

/// The same answer in each node dialect: thinking, text, two parallel tool calls, cached
/// prompt tokens (Ollama reports no cache and has no call ids).
fn rich(from: Dialect) -> Value {
    match from {
        Dialect::OpenAiChat => json!({
            "id": "chatcmpl-node", "object": "chat.completion", "created": 1, "model": "gpt",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Checking.", "reasoning_content": "Two calls.",
                "tool_calls": [
                    {"id": "call_a", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"n\":1.50}"}},
                    {"id": "call_b", "type": "function",
                     "function": {"name": "get_time", "arguments": "{}"}}
                ]}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                      "prompt_tokens_details": {"cached_tokens": 60}}
        }),
        Dialect::AnthropicMessages => json!({
            "id": "msg_node", "type": "message", "role": "assistant", "model": "claude",
            "content": [
                {"type": "thinking", "thinking": "Two calls.", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_a", "name": "get_weather",
                 "input": {"city": "Paris", "n": 1.50}},
                {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 40, "cache_read_input_tokens": 60, "output_tokens": 20}
        }),
        _ => json!({
            "model": "llama", "created_at": "2024-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": "Checking.", "thinking": "Two calls.",
                "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Paris", "n": 1.50}}},
                    {"function": {"name": "get_time", "arguments": {}}}
                ]},
            "done": true, "done_reason": "stop", "total_duration": 9, "load_duration": 1,
            "prompt_eval_count": 100, "prompt_eval_duration": 2, "eval_count": 20, "eval_duration": 3
        }),
    }
}

#[test]
fn every_pair_keeps_text_thinking_calls_finish_and_usage() {
    for from in NODES {
        for to in CLIENTS {
            let (out, usage) = translate(from, to, &rich(from));
            let back = parse(to, out.to_string().as_bytes()).unwrap();
            let case = format!("{from:?} -> {to:?}");
            assert_eq!(back.text(), "Checking.", "{case}");
            assert_eq!(back.thinking().as_deref(), Some("Two calls."), "{case}");
            assert_eq!(usage.input, Some(100), "{case}");
            assert_eq!(usage.output, Some(20), "{case}");
            if to == Dialect::OllamaGenerate {
                assert_eq!(
                    back.tool_calls().count(),
                    0,
                    "{case}: generate has no calls"
                );
                continue;
            }
            let calls: Vec<_> = back
                .tool_calls()
                .map(|c| (c.id.clone(), c.name.clone(), c.arguments.get().to_owned()))
                .collect();
            let ids: [&str; 2] = if from == Dialect::OllamaChat {
                ["call_0", "call_1"]
            } else {
                ["call_a", "call_b"]
            };
            assert_eq!(calls.len(), 2, "{case}");
            assert_eq!(calls[0].0, ids[0], "{case}");
            assert_eq!(calls[1].0, ids[1], "{case}");
            assert_eq!(calls[0].1, "get_weather", "{case}");
            assert_eq!(calls[1].1, "get_time", "{case}");
            let args: Value = serde_json::from_str(&calls[0].2).unwrap();
            assert_eq!(args, json!({"city": "Paris", "n": 1.50}), "{case}");
            assert_eq!(back.finish(), answer::Finish::ToolCalls, "{case}");
            if to != Dialect::OllamaChat && from != Dialect::OllamaChat {
                assert_eq!(back.usage.cache_read, Some(60), "{case}");
            }
        }
    }
}

#[test]
fn openai_arguments_string_becomes_the_same_object_text_and_back() {
    let (anthropic, _) = translate(
        Dialect::OpenAiChat,
        Dialect::AnthropicMessages,
        &rich(Dialect::OpenAiChat),
    );
    // Byte for byte: `1.50` stays `1.50`, key order stays.
    let (raw, _) = response(
        Dialect::OpenAiChat,
        Dialect::AnthropicMessages,
        rich(Dialect::OpenAiChat).to_string().as_bytes(),
        &ctx(),
    )
    .unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(
        text.contains(r#""input":{"city":"Paris","n":1.50}"#),
        "{text}"
    );
    assert_eq!(anthropic["content"][2]["id"], "call_a");
    let (raw, _) = response(
        Dialect::AnthropicMessages,
        Dialect::OpenAiChat,
        text.as_bytes(),
        &ctx(),
    )
    .unwrap();
    let openai: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        openai["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\",\"n\":1.50}"
    );
}

#[test]
fn cache_tokens_map_between_anthropic_and_openai() {
    let anthropic = json!({
        "id": "msg_1", "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5,
                  "cache_read_input_tokens": 50, "output_tokens": 7}
    });
    let (openai, usage) = translate(Dialect::AnthropicMessages, Dialect::OpenAiChat, &anthropic);
    assert_eq!(
        usage,
        Usage {
            input: Some(65),
            output: Some(7),
            cache_read: Some(50),
            cache_write: Some(5)
        }
    );
    assert_eq!(
        openai["usage"],
        json!({"prompt_tokens": 65, "completion_tokens": 7, "total_tokens": 72,
               "prompt_tokens_details": {"cached_tokens": 50}})
    );
    let (back, _) = translate(Dialect::OpenAiChat, Dialect::AnthropicMessages, &openai);
    // OpenAI cannot name cache writes: they stay counted as input.
    assert_eq!(
        back["usage"],
        json!({"input_tokens": 15, "cache_read_input_tokens": 50, "output_tokens": 7})
    );
    let (ollama, _) = translate(Dialect::AnthropicMessages, Dialect::OllamaChat, &anthropic);
    assert_eq!(ollama["prompt_eval_count"], 65);
    assert_eq!(ollama["eval_count"], 7);
    assert_eq!(ollama["total_duration"], 0);
}

#[test]
fn finish_reasons_map_exactly() {
    // (OpenAI, Anthropic, Ollama) as each would report the same end.
    let table = [
        ("stop", "end_turn", "stop"),
        ("length", "max_tokens", "length"),
        ("content_filter", "refusal", "stop"),
    ];
    for (openai, anthropic, ollama) in table {
        let o = json!({"choices": [{"message": {"content": "x"}, "finish_reason": openai}]});
        let a = json!({"content": [{"type": "text", "text": "x"}], "stop_reason": anthropic});
        let (to_a, _) = translate(Dialect::OpenAiChat, Dialect::AnthropicMessages, &o);
        assert_eq!(to_a["stop_reason"], anthropic);
        let (to_o, _) = translate(Dialect::AnthropicMessages, Dialect::OpenAiChat, &a);
        assert_eq!(to_o["choices"][0]["finish_reason"], openai);
        let (to_l, _) = translate(Dialect::AnthropicMessages, Dialect::OllamaChat, &a);
        assert_eq!(to_l["done_reason"], ollama);
        assert_eq!(to_l["done"], true);
    }
    let a = json!({"content": [{"type": "text", "text": "x"}], "stop_reason": "stop_sequence",
                   "stop_sequence": "END"});
    let (same, _) = translate(Dialect::AnthropicMessages, Dialect::AnthropicMessages, &a);
    assert_eq!(same["stop_reason"], "stop_sequence");
    assert_eq!(same["stop_sequence"], "END");
    let (to_o, _) = translate(Dialect::AnthropicMessages, Dialect::OpenAiChat, &a);
    assert_eq!(to_o["choices"][0]["finish_reason"], "stop");
    let p = json!({"content": [], "stop_reason": "pause_turn"});
    let (to_o, _) = translate(Dialect::AnthropicMessages, Dialect::OpenAiChat, &p);
    assert_eq!(to_o["choices"][0]["finish_reason"], "stop");
    // Ollama says `stop` with tool calls; the clients loop on tool_calls / tool_use.
    let l = rich(Dialect::OllamaChat);
    let (to_o, _) = translate(Dialect::OllamaChat, Dialect::OpenAiChat, &l);
    assert_eq!(to_o["choices"][0]["finish_reason"], "tool_calls");
    let (to_a, _) = translate(Dialect::OllamaChat, Dialect::AnthropicMessages, &l);
    assert_eq!(to_a["stop_reason"], "tool_use");
    let mut long = l.clone();
    long["done_reason"] = json!("length");
    let (to_a, _) = translate(Dialect::OllamaChat, Dialect::AnthropicMessages, &long);
    assert_eq!(to_a["stop_reason"], "max_tokens");
}

#[test]
fn ids_model_and_created_follow_the_client() {
    let (same, _) = translate(
        Dialect::OpenAiChat,
        Dialect::OpenAiChat,
        &rich(Dialect::OpenAiChat),
    );
    assert_eq!(same["id"], "chatcmpl-node");
    assert_eq!(same["model"], "client-model");
    assert_eq!(same["created"], 1_700_000_000);
    assert_eq!(same["object"], "chat.completion");
    let (a, _) = translate(
        Dialect::OpenAiChat,
        Dialect::AnthropicMessages,
        &rich(Dialect::OpenAiChat),
    );
    assert_eq!(a["id"], "msg_gw1");
    assert_eq!(a["model"], "client-model");
    let (o, _) = translate(
        Dialect::AnthropicMessages,
        Dialect::OpenAiChat,
        &rich(Dialect::AnthropicMessages),
    );
    assert_eq!(o["id"], "chatcmpl-gw1");
    let (l, _) = translate(
        Dialect::AnthropicMessages,
        Dialect::OllamaChat,
        &rich(Dialect::AnthropicMessages),
    );
    assert_eq!(l["created_at"], "2023-11-14T22:13:20Z");
    assert_eq!(l["model"], "client-model");
    assert_eq!(answer::created_at(u64::MAX), "9999-12-31T23:59:59Z");
}

#[test]
fn client_shapes_are_exact() {
    let (o, _) = translate(
        Dialect::OllamaChat,
        Dialect::OpenAiChat,
        &rich(Dialect::OllamaChat),
    );
    assert_eq!(
        o["choices"][0]["message"]["tool_calls"][0],
        json!({"id": "call_0", "type": "function",
               "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"n\":1.5}"}})
    );
    assert_eq!(
        o["choices"][0]["message"]["reasoning_content"],
        "Two calls."
    );
    let (l, _) = translate(
        Dialect::OpenAiChat,
        Dialect::OllamaChat,
        &rich(Dialect::OpenAiChat),
    );
    assert_eq!(
        l["message"]["tool_calls"][1],
        json!({"id": "call_b", "function": {"index": 1, "name": "get_time", "arguments": {}}})
    );
    assert_eq!(l["message"]["thinking"], "Two calls.");
    let (g, _) = translate(
        Dialect::AnthropicMessages,
        Dialect::OllamaGenerate,
        &rich(Dialect::AnthropicMessages),
    );
    assert_eq!(g["response"], "Checking.");
    assert_eq!(g["thinking"], "Two calls.");
    assert_eq!(g["done"], true);
    assert!(g.get("context").is_none());
    assert_eq!(g["prompt_eval_count"], 100);
    let (a, _) = translate(
        Dialect::OllamaChat,
        Dialect::AnthropicMessages,
        &rich(Dialect::OllamaChat),
    );
    assert_eq!(
        a["content"][0],
        json!({"type": "thinking", "thinking": "Two calls.", "signature": ""})
    );
    assert_eq!(a["content"][2]["input"], json!({"city": "Paris", "n": 1.5}));
    // Tool calls only: OpenAI's content is null.
    let only = json!({"content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                      "stop_reason": "tool_use"});
    let (o, _) = translate(Dialect::AnthropicMessages, Dialect::OpenAiChat, &only);
    assert_eq!(o["choices"][0]["message"]["content"], Value::Null);
}

#[test]
fn ollama_durations_pass_to_ollama_clients() {
    let (l, _) = translate(
        Dialect::OllamaChat,
        Dialect::OllamaChat,
        &rich(Dialect::OllamaChat),
    );
    assert_eq!(l["total_duration"], 9);
    assert_eq!(l["eval_duration"], 3);
    assert_eq!(l["prompt_eval_count"], 100);
}

#[test]
fn bad_arguments_are_the_nodes_error() {
    for args in ["{\"city\":", "[1,2]", "\"text\"", "nope"] {
        let body = json!({"choices": [{"message": {"tool_calls": [
            {"id": "c", "function": {"name": "f", "arguments": args}}]}, "finish_reason": "tool_calls"}]});
        for to in [Dialect::AnthropicMessages, Dialect::OllamaChat] {
            let got = response(Dialect::OpenAiChat, to, body.to_string().as_bytes(), &ctx());
            assert!(
                matches!(got, Err(TranslateError::Upstream(_))),
                "{args} -> {to:?}: {got:?}"
            );
        }
    }
    // No parameters: an empty string is `{}`.
    let body = json!({"choices": [{"message": {"tool_calls": [
        {"id": "c", "function": {"name": "f", "arguments": ""}}]}, "finish_reason": "tool_calls"}]});
    let (a, _) = translate(Dialect::OpenAiChat, Dialect::AnthropicMessages, &body);
    assert_eq!(a["content"][0]["input"], json!({}));
}

#[test]
fn malformed_bodies_are_upstream_errors() {
    for from in NODES {
        for body in [&b"not json"[..], b"[]", b"{\"choices\": 3}"] {
            let got = response(from, Dialect::OpenAiChat, body, &ctx());
            assert!(matches!(got, Err(TranslateError::Upstream(_))), "{from:?}");
        }
    }
    let got = response(
        Dialect::OpenAiChat,
        Dialect::AnthropicMessages,
        b"{\"choices\": []}",
        &ctx(),
    );
    assert!(matches!(got, Err(TranslateError::Upstream(_))));
}

#[test]
fn usage_reads_each_dialect() {
    assert_eq!(
        usage(
            Dialect::AnthropicMessages,
            rich(Dialect::AnthropicMessages).to_string().as_bytes()
        ),
        Usage {
            input: Some(100),
            output: Some(20),
            cache_read: Some(60),
            cache_write: None
        }
    );
    assert_eq!(
        usage(
            Dialect::OpenAiChat,
            rich(Dialect::OpenAiChat).to_string().as_bytes()
        )
        .cache_read,
        Some(60)
    );
    assert_eq!(
        usage(
            Dialect::OllamaGenerate,
            br#"{"response":"x","done":true,"prompt_eval_count":3,"eval_count":4}"#
        ),
        Usage {
            input: Some(3),
            output: Some(4),
            ..Usage::default()
        }
    );
    assert_eq!(usage(Dialect::OpenAiChat, b"garbage"), Usage::default());
}

#[test]
fn embeddings_translate_every_way() {
    let openai = json!({"object": "list", "model": "m", "data": [
        {"object": "embedding", "index": 1, "embedding": [0.5, -1e-7]},
        {"object": "embedding", "index": 0, "embedding": [0.25, 3]}],
        "usage": {"prompt_tokens": 8, "total_tokens": 8}});
    let (out, usage) = embed_response(
        EmbedDialect::OpenAi,
        EmbedDialect::OllamaEmbed,
        openai.to_string().as_bytes(),
        &ctx(),
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains(r#""embeddings":[[0.25,3],[0.5,-1e-7]]"#),
        "{text}"
    );
    assert_eq!(usage.input, Some(8));
    let ollama: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ollama["prompt_eval_count"], 8);
    assert_eq!(ollama["model"], "client-model");
    let (back, usage) = embed_response(
        EmbedDialect::OllamaEmbed,
        EmbedDialect::OpenAi,
        text.as_bytes(),
        &ctx(),
    )
    .unwrap();
    let back: Value = serde_json::from_slice(&back).unwrap();
    assert_eq!(usage.input, Some(8));
    assert_eq!(
        back,
        json!({"object": "list", "model": "client-model", "data": [
            {"object": "embedding", "embedding": [0.25, 3], "index": 0},
            {"object": "embedding", "embedding": [0.5, -1e-7], "index": 1}],
            "usage": {"prompt_tokens": 8, "total_tokens": 8}})
    );
    let one = json!({"embedding": [1, 2]});
    let (out, _) = embed_response(
        EmbedDialect::OllamaEmbeddings,
        EmbedDialect::OpenAi,
        one.to_string().as_bytes(),
        &ctx(),
    )
    .unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["data"][0]["embedding"], json!([1, 2]));
    let (out, _) = embed_response(
        EmbedDialect::OllamaEmbed,
        EmbedDialect::OllamaEmbeddings,
        br#"{"embeddings":[[1,2]]}"#,
        &ctx(),
    )
    .unwrap();
    assert_eq!(out, br#"{"embedding":[1,2]}"#);
    assert!(embed_response(
        EmbedDialect::OpenAi,
        EmbedDialect::OllamaEmbeddings,
        openai.to_string().as_bytes(),
        &ctx()
    )
    .is_err());
    let base64 = json!({"data": [{"index": 0, "embedding": "AAAA"}]});
    assert!(embed_response(
        EmbedDialect::OpenAi,
        EmbedDialect::OllamaEmbed,
        base64.to_string().as_bytes(),
        &ctx()
    )
    .is_err());
}

/// An OpenAI answer in the subset Anthropic can also say: text, tool calls with ids and
/// object arguments, the four finish reasons, usage with or without cached tokens.
fn openai_subset() -> impl Strategy<Value = Value> {
    let call = (
        "[a-zA-Z0-9]{1,12}",
        "[a-z_]{1,10}",
        prop::collection::btree_map("[a-z]{1,6}", any::<i32>(), 0..3),
    );
    (
        prop::collection::vec(call, 0..3),
        prop::option::of(".{0,20}"),
        0..3usize,
        (0..1000u64, 0..1000u64, prop::option::of(0..1000u64)),
    )
        .prop_map(|(calls, text, reason, (prompt, completion, cached))| {
            let tool_calls: Vec<Value> = calls
                .iter()
                .map(|(id, name, args)| {
                    json!({"id": format!("call_{id}"), "type": "function",
                           "function": {"name": name,
                                        "arguments": serde_json::to_string(args).unwrap()}})
                })
                .collect();
            let content = match text {
                Some(t) if !t.is_empty() || tool_calls.is_empty() => json!(t),
                _ if tool_calls.is_empty() => json!(""),
                _ => Value::Null,
            };
            let finish = if tool_calls.is_empty() {
                ["stop", "length", "content_filter"][reason]
            } else {
                "tool_calls"
            };
            let mut message = json!({"role": "assistant", "content": content});
            if !tool_calls.is_empty() {
                message["tool_calls"] = json!(tool_calls);
            }
            let cached = cached.map(|c| c.min(prompt));
            let mut usage = json!({"prompt_tokens": prompt, "completion_tokens": completion,
                                   "total_tokens": prompt + completion});
            if let Some(c) = cached {
                usage["prompt_tokens_details"] = json!({"cached_tokens": c});
            }
            json!({"id": "chatcmpl-gw1", "object": "chat.completion", "created": 1_700_000_000,
                   "model": "client-model",
                   "choices": [{"index": 0, "message": message, "logprobs": null,
                                "finish_reason": finish}],
                   "usage": usage})
        })
}

/// The Anthropic side of the same subset (no cache writes: OpenAI cannot name them).
fn anthropic_subset() -> impl Strategy<Value = Value> {
    let call = (
        "[a-zA-Z0-9]{1,12}",
        "[a-z_]{1,10}",
        prop::collection::btree_map("[a-z]{1,6}", ".{0,5}", 0..3),
    );
    (
        prop::collection::vec(call, 0..3),
        ".{0,20}",
        0..3usize,
        (0..1000u64, 0..1000u64, prop::option::of(0..1000u64)),
    )
        .prop_map(|(calls, text, reason, (input, output, cached))| {
            let mut content = Vec::new();
            if !text.is_empty() {
                content.push(json!({"type": "text", "text": text}));
            }
            for (id, name, args) in &calls {
                content.push(json!({"type": "tool_use", "id": format!("toolu_{id}"),
                                    "name": name, "input": args}));
            }
            let stop = if calls.is_empty() {
                ["end_turn", "max_tokens", "refusal"][reason]
            } else {
                "tool_use"
            };
            let mut usage = json!({"input_tokens": input, "output_tokens": output});
            if let Some(c) = cached {
                usage["cache_read_input_tokens"] = json!(c);
            }
            json!({"id": "msg_gw1", "type": "message", "role": "assistant",
                   "model": "client-model", "content": content, "stop_reason": stop,
                   "stop_sequence": null, "usage": usage})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn openai_round_trips_through_anthropic(original in openai_subset()) {
        let (anthropic, _) = translate(Dialect::OpenAiChat, Dialect::AnthropicMessages, &original);
        let (back, _) = translate(Dialect::AnthropicMessages, Dialect::OpenAiChat, &anthropic);
        prop_assert_eq!(back, original);
    }

    #[test]
    fn anthropic_round_trips_through_openai(original in anthropic_subset()) {
        let (openai, _) = translate(Dialect::AnthropicMessages, Dialect::OpenAiChat, &original);
        let (back, _) = translate(Dialect::OpenAiChat, Dialect::AnthropicMessages, &openai);
        prop_assert_eq!(back, original);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        for from in NODES {
            for to in CLIENTS {
                let _ = response(from, to, &body, &ctx());
            }
            let _ = usage(from, &body);
        }
        for from in [EmbedDialect::OpenAi, EmbedDialect::OllamaEmbed, EmbedDialect::OllamaEmbeddings] {
            for to in [EmbedDialect::OpenAi, EmbedDialect::OllamaEmbed, EmbedDialect::OllamaEmbeddings] {
                let _ = embed_response(from, to, &body, &ctx());
            }
        }
    }

    #[test]
    fn arbitrary_json_shapes_never_panic(body in arbitrary_answer()) {
        for from in NODES {
            for to in CLIENTS.into_iter().chain([Dialect::OpenAiResponses]) {
                let _ = response(from, to, body.to_string().as_bytes(), &ctx());
            }
        }
    }
}

/// JSON near the dialects' shapes, so the readers get past the first field.
fn arbitrary_answer() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
        Just(json!("{")),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("text".to_owned()),
                    Just("input".to_owned()),
                    Just("arguments".to_owned()),
                    Just("id".to_owned()),
                    Just("name".to_owned()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    (value.clone(), value.clone(), value).prop_map(|(a, b, c)| {
        json!({
            "choices": [{"message": {"content": a.clone(), "tool_calls": [{"function": b.clone()}]},
                         "finish_reason": c.clone()}],
            "content": [a.clone(), {"type": "tool_use", "id": "x", "name": "y", "input": b.clone()}],
            "message": {"content": a, "tool_calls": [{"function": {"name": "f", "arguments": b}}]},
            "usage": c,
        })
    })
}

/// Every node's answer as a Responses `response`: items in order, ids in OpenAI's style,
/// usage, and the echo of the request.
#[test]
fn every_node_answer_becomes_a_responses_object() {
    let request = json!({"model": "m", "input": "x", "instructions": "Be brief.", "temperature": 0.2,
                         "tools": [{"type": "function", "name": "get_weather"}], "store": true});
    let echo_ctx = ResponseContext {
        responses: Some(std::sync::Arc::new(
            crate::translate::request::responses_echo(request.to_string().as_bytes()),
        )),
        ..ctx()
    };
    for from in NODES {
        let (out, usage) = response(
            from,
            Dialect::OpenAiResponses,
            rich(from).to_string().as_bytes(),
            &echo_ctx,
        )
        .unwrap();
        let r: Value = serde_json::from_slice(&out).unwrap();
        let case = format!("{from:?}");
        assert_eq!(usage.input, Some(100), "{case}");
        assert_eq!(r["object"], "response", "{case}");
        assert_eq!(r["id"], "resp_gw1", "{case}");
        assert_eq!(r["status"], "completed", "{case}");
        assert_eq!(r["store"], false, "{case}");
        assert_eq!(r["previous_response_id"], Value::Null, "{case}");
        assert_eq!(r["error"], Value::Null, "{case}");
        assert_eq!(r["instructions"], "Be brief.", "{case}");
        assert_eq!(r["temperature"], 0.2, "{case}");
        assert_eq!(r["tool_choice"], "auto", "{case}");
        assert_eq!(r["parallel_tool_calls"], true, "{case}");
        assert_eq!(r["tools"][0]["name"], "get_weather", "{case}");
        assert_eq!(r["text"], json!({"format": {"type": "text"}}), "{case}");
        let output = r["output"].as_array().unwrap();
        let kinds: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["reasoning", "message", "function_call", "function_call"],
            "{case}"
        );
        assert_eq!(
            output[0]["summary"],
            json!([{"type": "summary_text", "text": "Two calls."}])
        );
        assert_eq!(output[1]["role"], "assistant");
        assert_eq!(
            output[1]["content"],
            json!([{"type": "output_text", "text": "Checking.", "annotations": [], "logprobs": []}])
        );
        assert!(output[1]["id"].as_str().unwrap().starts_with("msg_"));
        assert!(output[2]["id"].as_str().unwrap().starts_with("fc_"));
        assert_eq!(output[2]["name"], "get_weather");
        assert_eq!(output[2]["status"], "completed");
        let args: Value = serde_json::from_str(output[2]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"city": "Paris", "n": 1.50}), "{case}");
        let u = &r["usage"];
        assert_eq!(u["input_tokens"], 100, "{case}");
        assert_eq!(u["output_tokens"], 20, "{case}");
        assert_eq!(u["total_tokens"], 120, "{case}");
        assert_eq!(u["output_tokens_details"]["reasoning_tokens"], 0, "{case}");
        if from != Dialect::OllamaChat {
            assert_eq!(u["input_tokens_details"]["cached_tokens"], 60, "{case}");
        }
    }
    // Cut short by the token limit: incomplete, and why.
    let long = json!({"choices": [{"message": {"content": "abc"}, "finish_reason": "length"}]});
    let (out, _) = response(
        Dialect::OpenAiChat,
        Dialect::OpenAiResponses,
        long.to_string().as_bytes(),
        &ctx(),
    )
    .unwrap();
    let r: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(r["status"], "incomplete");
    assert_eq!(
        r["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    // Without an echo, OpenAI's defaults.
    assert_eq!(r["tools"], json!([]));
    assert_eq!(r["metadata"], json!({}));
    // A node error reaches a Responses client in OpenAI's shape.
    let (status, body) = crate::translate::errors::error(
        Dialect::AnthropicMessages,
        Dialect::OpenAiResponses,
        429,
        br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
    );
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 429);
    assert_eq!(e["error"]["message"], "slow down");
    assert_eq!(e["error"]["type"], "rate_limit_error");
}
