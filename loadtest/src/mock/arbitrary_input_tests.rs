//! The request readers and the planner must never panic, whatever the body: random JSON
//! built from the words the readers look for, checked through every kind's path.

use serde_json::{Map, Value};

use super::plan::plan;
use super::tool_args::{arguments, directive};
use super::{anthropic_request, ollama_request, openai_request};

const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "tool_calls",
    "function",
    "arguments",
    "tool_call_id",
    "tools",
    "tool_choice",
    "name",
    "input",
    "id",
    "tool_use_id",
    "source",
    "data",
    "media_type",
    "url",
    "image_url",
    "images",
    "system",
    "stop",
    "stop_sequences",
    "max_tokens",
    "max_completion_tokens",
    "options",
    "num_predict",
    "stream",
    "stream_options",
    "include_usage",
    "cache_control",
    "prompt_cache_key",
    "input_schema",
    "parameters",
    "is_error",
    "prompt",
    "thinking",
    "budget_tokens",
    "display",
    "output_config",
    "effort",
    "format",
    "schema",
    "context_management",
    "edits",
    "defer_loading",
    "eager_input_streaming",
    "encoding_format",
    "properties",
    "required",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "items",
    "minItems",
    "minimum",
    "maximum",
    "additionalProperties",
];

const STRINGS: &[&str] = &[
    "user",
    "assistant",
    "tool",
    "system",
    "developer",
    "text",
    "image",
    "image_url",
    "tool_use",
    "tool_result",
    "function",
    "auto",
    "any",
    "none",
    "required",
    "base64",
    "image/png",
    "aGk=",
    "data:image/png;base64,aGk=",
    "https://x",
    "tok2",
    "parallel",
    "é€😀",
    "",
    "{}",
    "{\"a\":1}",
    "m",
    "ephemeral",
    "object",
    "string",
    "integer",
    "number",
    "boolean",
    "array",
    "adaptive",
    "enabled",
    "high",
    "json_schema",
    "use tool f with {\"a\":1}",
    "use tool ",
];

fn value(rng: &mut fastrand::Rng, depth: u32) -> Value {
    let leaf = depth == 0 || rng.u8(..4) == 0;
    match (leaf, rng.u8(..6)) {
        (_, 0) => Value::Null,
        (_, 1) => Value::Bool(rng.bool()),
        (_, 2) => Value::from(rng.i64(-3..2000)),
        (true, _) | (_, 3) => Value::from(STRINGS[rng.usize(..STRINGS.len())]),
        (false, 4) => (0..rng.usize(..4)).map(|_| value(rng, depth - 1)).collect(),
        (false, _) => {
            let mut m = Map::new();
            for _ in 0..rng.usize(..6) {
                m.insert(
                    KEYS[rng.usize(..KEYS.len())].to_owned(),
                    value(rng, depth - 1),
                );
            }
            Value::Object(m)
        }
    }
}

#[test]
fn readers_and_planner_never_panic() {
    let mut rng = fastrand::Rng::with_seed(6);
    for _ in 0..20_000 {
        let v = value(&mut rng, 5);
        let _ = openai_request::validate_chat(&v);
        let _ = openai_request::validate_completion(&v);
        let _ = openai_request::validate_embeddings(&v);
        let _ = anthropic_request::validate(
            &v,
            anthropic_request::Betas::new(
                "mid-conversation-tool-changes-2026-07-01,interleaved-thinking-2025-05-14",
            ),
        );
        let _ = ollama_request::validate_chat(&v);
        let _ = ollama_request::validate_generate(&v);
        for p in [
            openai_request::read_chat(&v),
            openai_request::read_completion(&v, 3),
            anthropic_request::read(&v),
            ollama_request::read_chat(&v),
            ollama_request::read_generate(&v),
        ] {
            let out = plan(&p, "[n] tok0 ", 4);
            assert!(out.chunks.len() <= 4);
        }
        // Any value as a tool schema, and the directive's JSON.
        let _ = arguments(Some(&v), "use tool f with {}", 2);
        let _ = directive(&v.to_string());
    }
}
