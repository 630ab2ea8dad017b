//! Table-driven tests: each row is a client body and the node body expected, compared as
//! JSON values, or a client body and the field its refusal names.

use serde_json::{json, Value};

use super::request;
use crate::translate::{Dialect, Dialect::*, Options, TranslateError};

fn run(from: Dialect, to: Dialect, body: &Value) -> Result<Value, TranslateError> {
    request(from, to, body.to_string().as_bytes(), &Options::default())
        .map(|out| serde_json::from_slice(&out.body).unwrap())
}

/// Rows of (what, from, to, input, expected output).
fn check(rows: Vec<(&str, Dialect, Dialect, Value, Value)>) {
    for (what, from, to, input, want) in rows {
        match run(from, to, &input) {
            Ok(got) => assert_eq!(got, want, "{what}: {from:?} -> {to:?}"),
            Err(e) => panic!("{what}: {from:?} -> {to:?}: {e}"),
        }
    }
}

/// Rows of (from, to, input, the field the refusal names).
fn refused(rows: Vec<(Dialect, Dialect, Value, &str)>) {
    for (from, to, input, field) in rows {
        match run(from, to, &input) {
            Err(TranslateError::Unsupported(msg)) => {
                assert!(msg.starts_with(field), "{from:?} -> {to:?} {input}: {msg}")
            }
            other => {
                panic!("{from:?} -> {to:?} {input}: expected a refusal of {field}, got {other:?}")
            }
        }
    }
}

/// One row of [`drops`]: what, from, to, input, expected output, the fields named as dropped.
type DropRow<'a> = (&'a str, Dialect, Dialect, Value, Value, Vec<&'a str>);

fn drops(rows: Vec<DropRow>) {
    for (what, from, to, input, want, dropped) in rows {
        match request(from, to, input.to_string().as_bytes(), &Options::default()) {
            Ok(out) => {
                let got: Value = serde_json::from_slice(&out.body).unwrap();
                assert_eq!(got, want, "{what}: {from:?} -> {to:?}");
                assert_eq!(out.dropped, dropped, "{what}: {from:?} -> {to:?}");
            }
            Err(e) => panic!("{what}: {from:?} -> {to:?}: {e}"),
        }
    }
}

fn invalid(rows: Vec<(Dialect, Dialect, Value, &str)>) {
    for (from, to, input, field) in rows {
        match run(from, to, &input) {
            Err(TranslateError::Invalid(msg)) => {
                assert!(msg.starts_with(field), "{from:?} -> {to:?} {input}: {msg}")
            }
            other => {
                panic!("{from:?} -> {to:?} {input}: expected Invalid at {field}, got {other:?}")
            }
        }
    }
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk";
const JPEG: &str = "/9j/4AAQSkZJRgABAQAAAQABAAD";

#[test]
fn system_prompts() {
    check(vec![
        (
            "system and developer messages become the top-level system",
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                {"role": "user", "content": "Hi"}
            ]}),
            json!({"model": "m", "max_tokens": 4096, "stream": false,
                   "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use French."}],
                   "messages": [{"role": "user", "content": "Hi"}]}),
        ),
        (
            "a system message mid-conversation joins the top-level system",
            OllamaChat,
            AnthropicMessages,
            json!({"model": "m", "stream": false, "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "system", "content": "Now answer in caps."},
                {"role": "user", "content": "ok?"}
            ]}),
            json!({"model": "m", "max_tokens": 4096, "stream": false,
                   "system": "Now answer in caps.",
                   "messages": [{"role": "user", "content": [
                       {"type": "text", "text": "Hi"}, {"type": "text", "text": "ok?"}]}]}),
        ),
        (
            "Anthropic system blocks become one system message; cache_control dropped",
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 10, "system": [
                {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "B"}],
                "messages": [{"role": "user", "content": "Hi"}]}),
            json!({"model": "m", "max_tokens": 10, "stream": false, "messages": [
                {"role": "system", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]},
                {"role": "user", "content": "Hi"}]}),
        ),
        (
            "Anthropic string system to Ollama",
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 10, "system": "S",
                   "messages": [{"role": "user", "content": "Hi"}]}),
            json!({"model": "m", "stream": false, "options": {"num_predict": 10}, "messages": [
                {"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]}),
        ),
    ]);
}

#[test]
fn alternation_and_merging() {
    check(vec![
        (
            "consecutive user turns merge; parallel tool results become one user turn",
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": ""}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "one"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "two"}]},
                {"role": "user", "content": "thanks"}
            ]}),
            json!({"model": "m", "max_tokens": 4096, "stream": false, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "f", "input": {"x": 1}},
                    {"type": "tool_use", "id": "call_2", "name": "g", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "one"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "two"},
                    {"type": "text", "text": "thanks"}]}
            ]}),
        ),
        (
            "an Anthropic user turn of results and text splits into tool and user messages",
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 5, "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "r"}], "is_error": true},
                    {"type": "text", "text": "and?"}]}
            ]}),
            json!({"model": "m", "max_tokens": 5, "stream": false, "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "Let me look.", "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":[1,2]}"}}]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "r"},
                {"role": "user", "content": "and?"}
            ]}),
        ),
    ]);
    refused(vec![(
        OpenAiChat,
        AnthropicMessages,
        json!({"model": "m", "messages": [
            {"role": "system", "content": "s"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Hi"}]}),
        "messages",
    )]);
}

#[test]
fn images() {
    check(vec![
        (
            "OpenAI data URL and http URL to Anthropic",
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}"), "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg"}}]}]}),
            json!({"model": "m", "max_tokens": 4096, "stream": false, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.jpg"}}]}]}),
        ),
        (
            "Anthropic base64 image to Ollama images",
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": JPEG}},
                {"type": "text", "text": "Describe"}]}]}),
            json!({"model": "m", "stream": false, "options": {"num_predict": 5}, "messages": [
                {"role": "user", "content": "Describe", "images": [JPEG]}]}),
        ),
        (
            "Ollama images become data URLs of the sniffed type",
            OllamaChat,
            OpenAiChat,
            json!({"model": "m", "messages": [
                {"role": "user", "content": "Compare", "images": [PNG, JPEG]}]}),
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "messages": [
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}},
                    {"type": "image_url", "image_url": {"url": format!("data:image/jpeg;base64,{JPEG}")}},
                    {"type": "text", "text": "Compare"}]}]}),
        ),
        (
            "Ollama image to Anthropic",
            OllamaChat,
            AnthropicMessages,
            json!({"model": "m", "stream": false, "messages": [
                {"role": "user", "content": "", "images": [PNG]}]}),
            json!({"model": "m", "max_tokens": 4096, "stream": false, "messages": [
                {"role": "user", "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}]}),
        ),
    ]);
    refused(vec![
        (
            OpenAiChat,
            OllamaChat,
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]}),
            "messages[0]",
        ),
        (
            OllamaChat,
            OpenAiChat,
            json!({"model": "m", "messages": [{"role": "user", "content": "x", "images": ["aGVsbG8gd29ybGQ="]}]}),
            "messages[0]",
        ),
        (
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}]}),
            "messages[0].content[0]",
        ),
        (
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]}]}),
            "messages[0].content[0]",
        ),
    ]);
}

#[test]
fn tools_and_tool_choice() {
    let openai_tools = json!([{"type": "function", "function": {
        "name": "weather", "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let anthropic_tools = json!([{"name": "weather", "description": "Weather by city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    let user = json!([{"role": "user", "content": "Paris?"}]);
    let choices = [
        (json!("auto"), json!({"type": "auto"})),
        (json!("none"), json!({"type": "none"})),
        (json!("required"), json!({"type": "any"})),
        (
            json!({"type": "function", "function": {"name": "weather"}}),
            json!({"type": "tool", "name": "weather"}),
        ),
    ];
    let mut rows = Vec::new();
    for (openai, anthropic) in choices {
        rows.push((
            "tool_choice to Anthropic",
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": user, "tools": openai_tools, "tool_choice": openai}),
            json!({"model": "m", "max_tokens": 4096, "stream": false, "messages": user,
                   "tools": anthropic_tools, "tool_choice": anthropic}),
        ));
        rows.push((
            "tool_choice to OpenAI",
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 9, "messages": user, "tools": anthropic_tools, "tool_choice": anthropic}),
            json!({"model": "m", "max_tokens": 9, "stream": false, "messages": user,
                   "tools": openai_tools, "tool_choice": openai}),
        ));
    }
    rows.push((
        "parallel_tool_calls false becomes disable_parallel_tool_use",
        OpenAiChat,
        AnthropicMessages,
        json!({"model": "m", "messages": user, "tools": openai_tools, "parallel_tool_calls": false}),
        json!({"model": "m", "max_tokens": 4096, "stream": false, "messages": user, "tools": anthropic_tools,
               "tool_choice": {"type": "auto", "disable_parallel_tool_use": true}}),
    ));
    rows.push((
        "disable_parallel_tool_use becomes parallel_tool_calls false",
        AnthropicMessages,
        OpenAiChat,
        json!({"model": "m", "max_tokens": 9, "messages": user, "tools": anthropic_tools,
               "tool_choice": {"type": "any", "disable_parallel_tool_use": true}}),
        json!({"model": "m", "max_tokens": 9, "stream": false, "messages": user, "tools": openai_tools,
               "tool_choice": "required", "parallel_tool_calls": false}),
    ));
    rows.push((
        "Ollama tools are OpenAI's shape; auto is dropped",
        OpenAiChat,
        OllamaChat,
        json!({"model": "m", "messages": user, "tools": openai_tools, "tool_choice": "auto"}),
        json!({"model": "m", "stream": false, "messages": user, "tools": openai_tools}),
    ));
    rows.push((
        "tool_choice none sends Ollama no tools",
        AnthropicMessages,
        OllamaChat,
        json!({"model": "m", "max_tokens": 9, "messages": user, "tools": anthropic_tools, "tool_choice": {"type": "none"}}),
        json!({"model": "m", "stream": false, "options": {"num_predict": 9}, "messages": user}),
    ));
    rows.push((
        "a tool without a schema gets an empty object schema for Anthropic",
        OllamaChat,
        AnthropicMessages,
        json!({"model": "m", "stream": false, "messages": user, "tools": [{"type": "function", "function": {"name": "now"}}]}),
        json!({"model": "m", "max_tokens": 4096, "stream": false, "messages": user,
               "tools": [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]}),
    ));
    check(rows);
    refused(vec![
        (
            OpenAiChat,
            OllamaChat,
            json!({"model": "m", "messages": user, "tools": openai_tools, "tool_choice": "required"}),
            "tool_choice",
        ),
        (
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 1, "messages": user, "tools": anthropic_tools,
                   "tool_choice": {"type": "tool", "name": "weather"}}),
            "tool_choice",
        ),
        (
            OpenAiChat,
            OllamaChat,
            json!({"model": "m", "messages": user, "tools": openai_tools, "parallel_tool_calls": false}),
            "parallel_tool_calls",
        ),
        (
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 1, "messages": user,
                   "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            "tools[0].type",
        ),
        (
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": user, "tools": [{"type": "custom", "custom": {"name": "x"}}]}),
            "tools[0].type",
        ),
    ]);
}

#[test]
fn tool_calls_from_ollama_get_ids_and_results_are_matched() {
    let ollama = json!({"model": "m", "stream": false, "messages": [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "weather", "arguments": {"city": "Paris"}}},
            {"function": {"name": "time", "arguments": {}}},
            {"function": {"name": "weather", "arguments": {"city": "Rome"}}}]},
        {"role": "tool", "tool_name": "weather", "content": "20C"},
        {"role": "tool", "tool_name": "weather", "content": "25C"},
        {"role": "tool", "content": "noon"}
    ]});
    check(vec![
        (
            "Ollama calls to OpenAI",
            OllamaChat,
            OpenAiChat,
            ollama.clone(),
            json!({"model": "m", "stream": false, "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "call_1_0", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_1_1", "type": "function", "function": {"name": "time", "arguments": "{}"}},
                    {"id": "call_1_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1_0", "content": "20C"},
                {"role": "tool", "tool_call_id": "call_1_2", "content": "25C"},
                {"role": "tool", "tool_call_id": "call_1_1", "content": "noon"}
            ]}),
        ),
        (
            "Ollama calls to Anthropic",
            OllamaChat,
            AnthropicMessages,
            ollama,
            json!({"model": "m", "max_tokens": 4096, "stream": false, "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1_0", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_1_1", "name": "time", "input": {}},
                    {"type": "tool_use", "id": "call_1_2", "name": "weather", "input": {"city": "Rome"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1_0", "content": "20C"},
                    {"type": "tool_result", "tool_use_id": "call_1_2", "content": "25C"},
                    {"type": "tool_result", "tool_use_id": "call_1_1", "content": "noon"}]}
            ]}),
        ),
        (
            "OpenAI calls to Ollama: arguments become objects, results get their tool name",
            OpenAiChat,
            OllamaChat,
            json!({"model": "m", "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                    {"id": "c9", "type": "function", "function": {"name": "f", "arguments": "{\"k\":\"v\"}"}}]},
                {"role": "tool", "tool_call_id": "c9", "content": "done"}]}),
            json!({"model": "m", "stream": false, "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"k": "v"}}}]},
                {"role": "tool", "content": "done", "tool_name": "f"}]}),
        ),
    ]);
    invalid(vec![
        (
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]}),
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            OpenAiChat,
            OllamaChat,
            json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]}),
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            OllamaChat,
            OpenAiChat,
            json!({"model": "m", "messages": [{"role": "tool", "tool_name": "f", "content": "x"}]}),
            "messages[0]",
        ),
    ]);
}

#[test]
fn sampling_and_limits() {
    check(vec![
        (
            "OpenAI sampling to Anthropic; max_completion_tokens wins; user becomes metadata",
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                   "max_tokens": 5, "max_completion_tokens": 50, "temperature": 0.5, "top_p": 0.9,
                   "stop": "END", "user": "u-1", "n": 1, "store": true, "metadata": {"a": "b"},
                   "service_tier": "auto", "presence_penalty": 0, "logprobs": false}),
            json!({"model": "m", "max_tokens": 50, "stream": false, "temperature": 0.5, "top_p": 0.9,
                   "stop_sequences": ["END"], "metadata": {"user_id": "u-1"},
                   "messages": [{"role": "user", "content": "x"}]}),
        ),
        (
            "Anthropic sampling to Ollama options",
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 100, "temperature": 0.2, "top_p": 0.8, "top_k": 40,
                   "stop_sequences": ["a", "b"], "metadata": {"user_id": "u"}, "stream": true,
                   "messages": [{"role": "user", "content": "x"}]}),
            json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}],
                   "options": {"num_predict": 100, "temperature": 0.2, "top_p": 0.8, "top_k": 40, "stop": ["a", "b"]}}),
        ),
        (
            "Ollama options to OpenAI; runtime options and keep_alive dropped",
            OllamaChat,
            OpenAiChat,
            json!({"model": "m", "keep_alive": "10m", "messages": [{"role": "user", "content": "x"}],
                   "options": {"num_predict": 7, "temperature": 1, "seed": 42, "stop": ["z"], "num_ctx": 8192,
                               "frequency_penalty": 0.5}}),
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                   "max_tokens": 7, "temperature": 1.0, "seed": 42, "stop": ["z"], "frequency_penalty": 0.5,
                   "messages": [{"role": "user", "content": "x"}]}),
        ),
        (
            "unlimited num_predict: Anthropic gets the default",
            OllamaChat,
            AnthropicMessages,
            json!({"model": "m", "stream": false, "options": {"num_predict": -1},
                   "messages": [{"role": "user", "content": "x"}]}),
            json!({"model": "m", "max_tokens": 4096, "stream": false, "messages": [{"role": "user", "content": "x"}]}),
        ),
    ]);
    let x = json!([{"role": "user", "content": "x"}]);
    drops(vec![
        (
            "top_k: a sampling hint OpenAI lacks",
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 1, "top_k": 5, "messages": x}),
            json!({"model": "m", "max_tokens": 1, "stream": false, "messages": x}),
            vec!["top_k"],
        ),
        (
            "seed and penalties: hints Anthropic lacks",
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "seed": 1, "frequency_penalty": 0.3, "presence_penalty": 0, "messages": x}),
            json!({"model": "m", "max_tokens": 4096, "stream": false, "messages": x}),
            vec!["seed", "frequency_penalty"],
        ),
        (
            "Ollama sampling options others lack, by their Ollama names",
            OllamaChat,
            OpenAiChat,
            json!({"model": "m", "stream": false, "keep_alive": "5m", "messages": x,
                   "options": {"repeat_penalty": 1.1, "mirostat": null, "top_k": 3, "num_ctx": 4096}}),
            json!({"model": "m", "stream": false, "messages": x}),
            vec![
                "keep_alive",
                "options.num_ctx",
                "options.repeat_penalty",
                "options.top_k",
            ],
        ),
        (
            "Ollama options to Anthropic: top_k kept, min_p dropped",
            OllamaChat,
            AnthropicMessages,
            json!({"model": "m", "stream": false, "options": {"top_k": 10, "min_p": 0.1, "seed": 4}, "messages": x}),
            json!({"model": "m", "max_tokens": 4096, "stream": false, "top_k": 10, "messages": x}),
            vec!["options.min_p", "options.seed"],
        ),
    ]);
}

#[test]
fn streaming_flags() {
    let msgs = json!([{"role": "user", "content": "x"}]);
    check(vec![
        (
            "Ollama streams when stream is absent",
            OllamaChat,
            AnthropicMessages,
            json!({"model": "m", "messages": msgs}),
            json!({"model": "m", "max_tokens": 4096, "stream": true, "messages": msgs}),
        ),
        (
            "OpenAI does not stream when absent; Ollama is told so",
            OpenAiChat,
            OllamaChat,
            json!({"model": "m", "messages": msgs}),
            json!({"model": "m", "stream": false, "messages": msgs}),
        ),
        (
            "a streaming OpenAI target always asks for usage",
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 3, "stream": true, "messages": msgs}),
            json!({"model": "m", "max_tokens": 3, "stream": true, "stream_options": {"include_usage": true}, "messages": msgs}),
        ),
        (
            "the client's own stream_options is not passed on",
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": false}, "messages": msgs}),
            json!({"model": "m", "max_tokens": 4096, "stream": true, "messages": msgs}),
        ),
    ]);
}

#[test]
fn response_format_and_reasoning() {
    let msgs = json!([{"role": "user", "content": "x"}]);
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
    check(vec![
        (
            "json_object to Ollama format json",
            OpenAiChat,
            OllamaChat,
            json!({"model": "m", "messages": msgs, "response_format": {"type": "json_object"}}),
            json!({"model": "m", "stream": false, "messages": msgs, "format": "json"}),
        ),
        (
            "json_schema to Ollama format schema",
            OpenAiChat,
            OllamaChat,
            json!({"model": "m", "messages": msgs, "response_format": {"type": "json_schema",
                   "json_schema": {"name": "thing", "schema": schema, "strict": true}}}),
            json!({"model": "m", "stream": false, "messages": msgs, "format": schema}),
        ),
        (
            "Ollama schema to OpenAI json_schema",
            OllamaChat,
            OpenAiChat,
            json!({"model": "m", "stream": false, "messages": msgs, "format": schema}),
            json!({"model": "m", "stream": false, "messages": msgs, "response_format": {"type": "json_schema",
                   "json_schema": {"name": "response", "schema": schema}}}),
        ),
        (
            "text format is the default",
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": msgs, "response_format": {"type": "text"}}),
            json!({"model": "m", "max_tokens": 4096, "stream": false, "messages": msgs}),
        ),
        (
            "Anthropic thinking to Ollama think",
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": msgs}),
            json!({"model": "m", "stream": false, "think": true, "options": {"num_predict": 2000}, "messages": msgs}),
        ),
        (
            "reasoning_effort to Ollama think level",
            OpenAiChat,
            OllamaChat,
            json!({"model": "m", "messages": msgs, "reasoning_effort": "high"}),
            json!({"model": "m", "stream": false, "think": "high", "messages": msgs}),
        ),
        (
            "thinking of an earlier turn: to Ollama's thinking field",
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 1, "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "zzz"},
                    {"type": "text", "text": "y"}]},
                {"role": "user", "content": "z"}]}),
            json!({"model": "m", "stream": false, "options": {"num_predict": 1}, "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": "y", "thinking": "hmm"},
                {"role": "user", "content": "z"}]}),
        ),
        (
            "thinking of an earlier turn: dropped for OpenAI",
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 1, "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "y"}]}]}),
            json!({"model": "m", "max_tokens": 1, "stream": false, "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": "y"}]}),
        ),
    ]);
    refused(vec![
        (
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": msgs, "response_format": {"type": "json_object"}}),
            "response_format",
        ),
        (
            OllamaChat,
            AnthropicMessages,
            json!({"model": "m", "messages": msgs, "format": "json"}),
            "response_format",
        ),
    ]);
}

#[test]
fn openai_only_fields_are_refused() {
    let msgs = json!([{"role": "user", "content": "x"}]);
    let rows = [
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("top_logprobs", json!(3)),
        ("logit_bias", json!({"50256": -100})),
        ("audio", json!({"voice": "alloy", "format": "wav"})),
        ("modalities", json!(["text", "audio"])),
        ("functions", json!([{"name": "f"}])),
        ("web_search_options", json!({})),
    ];
    for to in [AnthropicMessages, OllamaChat] {
        refused(
            rows.iter()
                .map(|(field, value)| {
                    let mut body = json!({"model": "m", "messages": msgs});
                    body[*field] = value.clone();
                    (OpenAiChat, to, body, *field)
                })
                .collect(),
        );
    }
    refused(vec![
        (
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 1, "messages": msgs, "mcp_servers": []}),
            "mcp_servers",
        ),
        (
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 1, "messages": msgs, "container": "c-1"}),
            "container",
        ),
    ]);
}

#[test]
fn ollama_generate_becomes_chat() {
    check(vec![
        (
            "prompt, system and images to OpenAI",
            OllamaGenerate,
            OpenAiChat,
            json!({"model": "m", "prompt": "Why?", "system": "Be kind.", "images": [PNG],
                   "stream": false, "format": "json", "options": {"temperature": 0}}),
            json!({"model": "m", "stream": false, "temperature": 0.0, "response_format": {"type": "json_object"},
                   "messages": [
                       {"role": "system", "content": "Be kind."},
                       {"role": "user", "content": [
                           {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}},
                           {"type": "text", "text": "Why?"}]}]}),
        ),
        (
            "to Ollama chat, keep_alive and unknown fields are kept",
            OllamaGenerate,
            OllamaChat,
            json!({"model": "m", "prompt": "Hi", "keep_alive": "1h", "options": {"num_ctx": 4096, "mirostat": 1},
                   "template": "", "context": [], "raw": false, "brand_new": 3}),
            json!({"model": "m", "stream": true, "keep_alive": "1h", "brand_new": 3,
                   "options": {"num_ctx": 4096, "mirostat": 1},
                   "messages": [{"role": "user", "content": "Hi"}]}),
        ),
        (
            "to Anthropic",
            OllamaGenerate,
            AnthropicMessages,
            json!({"model": "m", "prompt": "Hi", "system": "S", "stream": false}),
            json!({"model": "m", "max_tokens": 4096, "stream": false, "system": "S",
                   "messages": [{"role": "user", "content": "Hi"}]}),
        ),
        (
            "an image of a type Drover cannot tell passes between Ollama endpoints",
            OllamaGenerate,
            OllamaChat,
            json!({"model": "m", "prompt": "p", "images": ["Qk0="], "stream": false}),
            json!({"model": "m", "stream": false, "messages": [{"role": "user", "content": "p", "images": ["Qk0="]}]}),
        ),
        (
            "an empty prompt (a model load) is an empty chat",
            OllamaGenerate,
            OllamaChat,
            json!({"model": "m"}),
            json!({"model": "m", "stream": true, "messages": []}),
        ),
    ]);
    refused(vec![
        (
            OllamaGenerate,
            OllamaChat,
            json!({"model": "m", "prompt": "a", "suffix": "b"}),
            "suffix",
        ),
        (
            OllamaGenerate,
            OpenAiChat,
            json!({"model": "m", "prompt": "a", "raw": true}),
            "raw",
        ),
        (
            OllamaGenerate,
            OpenAiChat,
            json!({"model": "m", "prompt": "a", "context": [1, 2]}),
            "context",
        ),
        (
            OllamaGenerate,
            AnthropicMessages,
            json!({"model": "m", "prompt": "a", "template": "{{ .Prompt }}"}),
            "template",
        ),
    ]);
}

#[test]
fn same_dialect_and_generate_target() {
    let body = br#"{"model":"m","messages":[],"anything":1}"#;
    for d in [OpenAiChat, AnthropicMessages, OllamaChat, OllamaGenerate] {
        assert_eq!(
            request(d, d, body, &Options::default()).unwrap().body,
            body.to_vec()
        );
    }
    assert!(matches!(
        request(
            OpenAiChat,
            OllamaGenerate,
            b"{\"model\":\"m\",\"messages\":[]}",
            &Options::default()
        ),
        Err(TranslateError::Unsupported(_))
    ));
    let options = Options {
        default_max_tokens: 77,
    };
    let out = request(
        OpenAiChat,
        AnthropicMessages,
        br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#,
        &options,
    )
    .unwrap();
    let out: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(out["max_tokens"], 77);
}

#[test]
fn malformed_bodies_are_invalid() {
    invalid(vec![
        (
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m"}),
            "missing field `messages`",
        ),
        (
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": [], "temperature": "hot"}),
            "temperature",
        ),
        (
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
        (
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens",
        ),
        (
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens",
        ),
        (
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 1, "messages": []}),
            "messages",
        ),
        (
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "robot", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user"}]}),
            "messages[0].content",
        ),
        (
            OllamaChat,
            OpenAiChat,
            json!({"model": "m", "messages": [], "options": {"temperature": "x"}}),
            "options.temperature",
        ),
        (OllamaChat, OpenAiChat, json!([1]), "the body"),
    ]);
}

/// A request body the way Claude Code sends it to a model it does not know.
fn claude_code_body() -> Value {
    json!({
        "model": "m", "max_tokens": 32000, "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "Reminder: be brief."},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "go"}
        ],
        "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object"},
                   "eager_input_streaming": true, "cache_control": {"type": "ephemeral"}}],
        "metadata": {"user_id": "user_abc"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "thinking": {"type": "adaptive"}
    })
}

#[test]
fn claude_code_requests_are_accepted_and_their_hints_named() {
    let messages = json!([
        {"role": "system", "content": "You are Claude Code."},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "Reminder: be brief."},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "go"}
    ]);
    let tools = json!([{"type": "function", "function": {"name": "Bash", "description": "run", "parameters": {"type": "object"}}}]);
    drops(vec![
        (
            "to Ollama: effort becomes think, the end user is dropped",
            AnthropicMessages,
            OllamaChat,
            claude_code_body(),
            json!({"model": "m", "stream": true, "messages": messages, "tools": tools,
                   "options": {"num_predict": 32000}, "think": "high"}),
            vec![
                "context_management",
                "cache_control",
                "eager_input_streaming",
                "metadata.user_id",
            ],
        ),
        (
            "to OpenAI: effort becomes reasoning_effort, the end user is kept",
            AnthropicMessages,
            OpenAiChat,
            claude_code_body(),
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                   "max_tokens": 32000, "messages": messages, "tools": tools,
                   "reasoning_effort": "high", "user": "user_abc"}),
            vec![
                "context_management",
                "cache_control",
                "eager_input_streaming",
            ],
        ),
    ]);
}

#[test]
fn reasoning_is_mapped_between_switches_budgets_and_levels() {
    let x = json!([{"role": "user", "content": "x"}]);
    drops(vec![
        (
            "adaptive thinking to Ollama: think on",
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 10, "thinking": {"type": "adaptive"}, "messages": x}),
            json!({"model": "m", "stream": false, "think": true, "options": {"num_predict": 10}, "messages": x}),
            vec![],
        ),
        (
            "adaptive thinking to OpenAI: a reasoning model's default, named",
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 10, "thinking": {"type": "adaptive"}, "messages": x}),
            json!({"model": "m", "max_tokens": 10, "stream": false, "messages": x}),
            vec!["thinking"],
        ),
        (
            "a budget to OpenAI: the level that spends about as much",
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 20000, "thinking": {"type": "enabled", "budget_tokens": 10000}, "messages": x}),
            json!({"model": "m", "max_tokens": 20000, "stream": false, "reasoning_effort": "medium", "messages": x}),
            vec![],
        ),
        (
            "a budget to Ollama: think on, the budget named",
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": x}),
            json!({"model": "m", "stream": false, "think": true, "options": {"num_predict": 2000}, "messages": x}),
            vec!["thinking.budget_tokens"],
        ),
        (
            "disabled thinking wins over an effort",
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 5, "thinking": {"type": "disabled"}, "output_config": {"effort": "low"}, "messages": x}),
            json!({"model": "m", "stream": false, "think": false, "options": {"num_predict": 5}, "messages": x}),
            vec!["output_config.effort"],
        ),
        (
            "Anthropic's max effort is OpenAI's high",
            AnthropicMessages,
            OpenAiChat,
            json!({"model": "m", "max_tokens": 5, "output_config": {"effort": "max"}, "messages": x}),
            json!({"model": "m", "max_tokens": 5, "stream": false, "reasoning_effort": "high", "messages": x}),
            vec![],
        ),
        (
            "reasoning_effort to Anthropic: a budget below max_tokens",
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "reasoning_effort": "high", "messages": x}),
            json!({"model": "m", "max_tokens": 4096, "stream": false,
                   "thinking": {"type": "enabled", "budget_tokens": 4095}, "messages": x}),
            vec![],
        ),
        (
            "reasoning_effort to Anthropic with no room to think: named",
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "reasoning_effort": "low", "max_tokens": 500, "messages": x}),
            json!({"model": "m", "max_tokens": 500, "stream": false, "messages": x}),
            vec!["reasoning_effort"],
        ),
        (
            "Ollama think to Anthropic: the medium budget",
            OllamaChat,
            AnthropicMessages,
            json!({"model": "m", "stream": false, "think": true, "options": {"num_predict": 10000}, "messages": x}),
            json!({"model": "m", "max_tokens": 10000, "stream": false,
                   "thinking": {"type": "enabled", "budget_tokens": 8192}, "messages": x}),
            vec![],
        ),
        (
            "Ollama think to OpenAI: named by Ollama's name",
            OllamaChat,
            OpenAiChat,
            json!({"model": "m", "stream": false, "think": true, "messages": x}),
            json!({"model": "m", "stream": false, "messages": x}),
            vec!["think"],
        ),
        (
            "Anthropic structured output to Ollama's format",
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 5, "messages": x,
                   "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}, "future": 1}}),
            json!({"model": "m", "stream": false, "format": {"type": "object"}, "options": {"num_predict": 5}, "messages": x}),
            vec!["output_config.future"],
        ),
    ]);
}

#[test]
fn hints_and_unknown_fields_are_dropped_and_named() {
    let x = json!([{"role": "user", "content": "x"}]);
    drops(vec![
        (
            "OpenAI bookkeeping and unknown fields; null is absent",
            OpenAiChat,
            OllamaChat,
            json!({"model": "m", "messages": x, "store": true, "metadata": {"a": "b"},
                   "prompt_cache_key": "k", "service_tier": "auto", "verbosity": "low",
                   "safety_identifier": "s", "brand_new": 1, "nothing": null, "user": "u"}),
            json!({"model": "m", "stream": false, "messages": x}),
            vec![
                "brand_new",
                "metadata",
                "prompt_cache_key",
                "safety_identifier",
                "service_tier",
                "store",
                "verbosity",
                "user",
            ],
        ),
        (
            "OpenAI unknown fields to Anthropic",
            OpenAiChat,
            AnthropicMessages,
            json!({"model": "m", "messages": x, "prompt_cache_key": "k", "user": "u"}),
            json!({"model": "m", "max_tokens": 4096, "stream": false, "metadata": {"user_id": "u"}, "messages": x}),
            vec!["prompt_cache_key"],
        ),
        (
            "ollama-ai-provider-v2's tool_choice, ignored as Ollama ignores it",
            OllamaChat,
            OpenAiChat,
            json!({"model": "m", "stream": false, "messages": x, "tool_choice": "auto"}),
            json!({"model": "m", "stream": false, "messages": x}),
            vec!["tool_choice"],
        ),
        (
            "Ollama generate's unknown fields to Anthropic",
            OllamaGenerate,
            AnthropicMessages,
            json!({"model": "m", "prompt": "a", "brand_new": 1}),
            json!({"model": "m", "max_tokens": 4096, "stream": true, "messages": [{"role": "user", "content": "a"}]}),
            vec!["brand_new"],
        ),
        (
            "Anthropic service_tier, metadata beyond user_id, citations",
            AnthropicMessages,
            OllamaChat,
            json!({"model": "m", "max_tokens": 1, "service_tier": "auto", "metadata": {"user_id": null, "org": "o"},
                   "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "citations": {"enabled": true}}]}]}),
            json!({"model": "m", "stream": false, "options": {"num_predict": 1}, "messages": x}),
            vec!["service_tier", "citations", "metadata.org"],
        ),
    ]);
}

#[test]
fn count_tokens_bodies_need_no_max_tokens_and_generate_nothing() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                      "tools": [{"name": "t", "input_schema": {"type": "object"}}]});
    let out = super::count_tokens_request(OllamaChat, body.to_string().as_bytes()).unwrap();
    let got: Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(
        got,
        json!({"model": "m", "stream": false, "options": {"num_predict": 0},
               "messages": [{"role": "user", "content": "x"}],
               "tools": [{"type": "function", "function": {"name": "t", "parameters": {"type": "object"}}}]})
    );
    let answer =
        super::count_tokens_answer(OllamaChat, br#"{"prompt_eval_count":12,"eval_count":0}"#);
    assert_eq!(answer.unwrap(), br#"{"input_tokens":12}"#.to_vec());
    assert!(super::count_tokens_answer(OllamaChat, b"{}").is_err());
    assert!(matches!(
        super::count_tokens_request(OllamaChat, br#"{"model":"m"}"#),
        Err(TranslateError::Invalid(_))
    ));
}

/// A Responses body with every kind of input item, the answer to a tool call included.
fn responses_conversation() -> Value {
    json!({
        "model": "m",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Use French."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Weather?"},
                {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}"), "detail": "low"}
            ]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Ask the tool."}],
             "encrypted_content": "opaque"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}
        ],
        "tools": [
            {"type": "function", "name": "get_weather", "description": "Weather", "strict": true,
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
            {"type": "web_search"},
            {"type": "namespace", "name": "multi_agent_v1", "tools": [{"type": "function", "name": "spawn"}]}
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "max_output_tokens": 50,
        "temperature": 0.5,
        "store": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "k",
        "stream": true
    })
}

#[test]
fn responses_become_chat() {
    check(vec![
        (
            "a string input is one user message",
            OpenAiResponses,
            OpenAiChat,
            json!({"model": "m", "input": "Hi", "instructions": "Be brief.", "max_output_tokens": 9,
                   "reasoning": {"effort": "low", "summary": "auto"},
                   "text": {"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}, "strict": true}}}),
            json!({"model": "m", "stream": false, "max_tokens": 9, "reasoning_effort": "low",
                   "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                   "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}, "strict": true}}}),
        ),
        (
            "every item kind to OpenAI chat; hosted tools dropped",
            OpenAiResponses,
            OpenAiChat,
            responses_conversation(),
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
            "max_tokens": 50, "temperature": 0.5, "parallel_tool_calls": false, "tool_choice": "auto",
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "system", "content": "Use French."},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                    {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}]},
                {"role": "assistant", "content": "Checking.", "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
            ]}),
        ),
        (
            "every item kind to Anthropic",
            OpenAiResponses,
            AnthropicMessages,
            responses_conversation(),
            json!({"model": "m", "max_tokens": 50, "stream": true, "temperature": 0.5,
            "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use French."}],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
            "tools": [{"name": "get_weather", "description": "Weather",
                       "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"}]}
            ]}),
        ),
        (
            "a custom tool is a function with one string parameter; its call and output too",
            OpenAiResponses,
            OllamaChat,
            json!({"model": "m", "input": [
                {"role": "user", "content": "Patch it."},
                {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin Patch"},
                {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done"}
            ], "tools": [{"type": "custom", "name": "apply_patch", "description": "Patch files",
                          "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}}]}),
            json!({"model": "m", "stream": false,
            "tools": [{"type": "function", "function": {"name": "apply_patch", "description": "Patch files",
                "parameters": {"type": "object", "properties": {"input": {"type": "string", "description": "The tool's input, as free text."}},
                               "required": ["input"], "additionalProperties": false}}}],
            "messages": [
                {"role": "user", "content": "Patch it."},
                {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "apply_patch", "arguments": {"input": "*** Begin Patch"}}}]},
                {"role": "tool", "tool_name": "apply_patch", "content": "Done"}
            ]}),
        ),
    ]);
}

#[test]
fn responses_drops_are_named() {
    let out = request(
        OpenAiResponses,
        OpenAiChat,
        responses_conversation().to_string().as_bytes(),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(
        out.dropped,
        [
            "input[2].encrypted_content",
            "tools[1]",
            "tools[2]",
            "store",
            "include",
            "prompt_cache_key"
        ]
    );
    let hints = json!({"model": "m", "input": "x", "metadata": {"a": "b"}, "text": {"verbosity": "low"},
                       "reasoning": {"summary": "auto"}, "truncation": "auto", "service_tier": "auto",
                       "store": false, "user": null, "mystery": 1});
    let out = request(
        OpenAiResponses,
        AnthropicMessages,
        hints.to_string().as_bytes(),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(
        out.dropped,
        [
            "reasoning.summary",
            "text.verbosity",
            "metadata",
            "service_tier",
            "truncation",
            "mystery"
        ]
    );
}

#[test]
fn responses_bad_input_is_refused_naming_the_field() {
    invalid(vec![
        (
            OpenAiResponses,
            OpenAiChat,
            json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            OpenAiResponses,
            OpenAiChat,
            json!({"model": "m", "input": "x", "conversation": "conv_1"}),
            "conversation",
        ),
        (
            OpenAiResponses,
            OpenAiChat,
            json!({"model": "m", "input": "x", "background": true}),
            "background",
        ),
        (
            OpenAiResponses,
            OpenAiChat,
            json!({"model": "m", "prompt": {"id": "pmpt_1"}}),
            "prompt",
        ),
        (
            OpenAiResponses,
            OpenAiChat,
            json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input[0]",
        ),
        (
            OpenAiResponses,
            OpenAiChat,
            json!({"model": "m", "input": [{"role": "user", "content": "x"},
                   {"type": "function_call_output", "call_id": "nope", "output": "y"}]}),
            "input[1].call_id",
        ),
        (
            OpenAiResponses,
            AnthropicMessages,
            json!({"model": "m", "input": [{"type": "mystery"}]}),
            "input[0].type",
        ),
        (
            OpenAiResponses,
            OllamaChat,
            json!({"model": "m", "input": [{"type": "function_call", "call_id": "c"}]}),
            "input[0].name",
        ),
        (
            OpenAiResponses,
            OllamaChat,
            json!({"model": "m", "input": [{"type": "message", "content": "x"}]}),
            "input[0].role",
        ),
        (
            OpenAiResponses,
            OpenAiChat,
            json!({"model": "m", "input": 3}),
            "input",
        ),
        (
            OpenAiResponses,
            OpenAiChat,
            json!({"model": "m", "input": "x", "tools": [{"type": "function"}]}),
            "tools[0].name",
        ),
        (
            OpenAiResponses,
            OpenAiChat,
            json!({"model": "m", "input": "x", "max_output_tokens": "many"}),
            "max_output_tokens",
        ),
    ]);
    refused(vec![(
        OpenAiResponses,
        OpenAiChat,
        json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}),
        "input[0].content[0].file_id",
    )]);
}
