//! Streamed answers put back together as the whole answer the same API would have given
//! without streaming: Ollama's token lines into one object with the full `message` (or
//! `response`), OpenAI's chunks into one `chat.completion` (tool-call arguments joined by
//! index) or `text_completion`. Lines that do not parse are skipped; an answer that broke off
//! is reassembled as far as it got.

use serde_json::{json, Map, Value};

use crate::inbound::Framing;

/// The answer as one JSON text (or the raw text when it is not JSON at all).
pub fn answer(framing: Framing, raw: &[u8]) -> String {
    match framing {
        Framing::Json => String::from_utf8_lossy(raw).into_owned(),
        Framing::Ndjson => ollama(raw).to_string(),
        Framing::Sse => openai(raw).to_string(),
        Framing::AnthropicSse => anthropic(raw).to_string(),
        Framing::ResponsesSse => responses(raw).to_string(),
    }
}

/// Responses events into one `response`: the last response object an event carried (the
/// terminal event's is whole), with the items done so far when it has none (a stream that
/// broke off).
fn responses(raw: &[u8]) -> Value {
    let mut response = Value::Null;
    let mut items = Vec::new();
    for line in lines(raw) {
        let Some(data) = line.strip_prefix(b"data:") else {
            continue;
        };
        let Ok(Value::Object(mut event)) = serde_json::from_slice::<Value>(data.trim_ascii())
        else {
            continue;
        };
        match event.get("type").and_then(Value::as_str) {
            Some("response.output_item.done") => {
                if let Some(item) = event.remove("item") {
                    items.push(item);
                }
            }
            Some(_) => {
                if let Some(r @ Value::Object(_)) = event.remove("response") {
                    response = r;
                }
            }
            None => {}
        }
    }
    if !response.is_object() {
        response = json!({"object": "response"});
    }
    let empty = response
        .get("output")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if empty && !items.is_empty() {
        response["output"] = Value::Array(items);
    }
    response
}

/// Anthropic's events into one `message`: `message_start`'s message, each content block as
/// started and then extended by its deltas (tool input from its JSON pieces), and the stop
/// reason and usage of `message_delta`.
fn anthropic(raw: &[u8]) -> Value {
    let mut message = Map::new();
    let mut blocks: Vec<(u64, Value, String)> = Vec::new();
    let mut error = Value::Null;
    for line in lines(raw) {
        let Some(data) = line.strip_prefix(b"data:") else {
            continue;
        };
        let Ok(Value::Object(event)) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
            continue;
        };
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        let block = |blocks: &mut Vec<(u64, Value, String)>| {
            blocks.iter().position(|(i, _, _)| *i == index)
        };
        match event.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                if let Some(Value::Object(start)) = event.get("message") {
                    message = start.clone();
                }
            }
            Some("content_block_start") => {
                let start = event.get("content_block").cloned().unwrap_or(Value::Null);
                blocks.push((index, start, String::new()));
            }
            Some("content_block_delta") => {
                let Some(at) = block(&mut blocks) else {
                    continue;
                };
                let delta = &event["delta"];
                let (_, block, json) = &mut blocks[at];
                match delta["type"].as_str() {
                    Some("text_delta") => append(block, "text", &delta["text"]),
                    Some("thinking_delta") => append(block, "thinking", &delta["thinking"]),
                    Some("signature_delta") => append(block, "signature", &delta["signature"]),
                    Some("input_json_delta") => {
                        json.push_str(delta["partial_json"].as_str().unwrap_or_default());
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                if let Some(Value::Object(delta)) = event.get("delta") {
                    for (field, value) in delta {
                        message.insert(field.clone(), value.clone());
                    }
                }
                if let Some(Value::Object(usage)) = event.get("usage") {
                    let merged = message
                        .entry("usage")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(merged) = merged {
                        for (field, value) in usage {
                            merged.insert(field.clone(), value.clone());
                        }
                    }
                }
            }
            Some("error") => error = event.get("error").cloned().unwrap_or(Value::Null),
            _ => {}
        }
    }
    let content: Vec<Value> = blocks
        .into_iter()
        .map(|(_, mut block, json)| {
            if !json.is_empty() {
                block["input"] = serde_json::from_str(&json).unwrap_or(Value::String(json));
            }
            block
        })
        .collect();
    message.insert("content".into(), content.into());
    if !error.is_null() {
        message.insert("error".into(), error);
    }
    Value::Object(message)
}

/// Appends a delta's text to a block's field.
fn append(block: &mut Value, field: &str, piece: &Value) {
    let Some(piece) = piece.as_str() else { return };
    let Value::Object(block) = block else { return };
    let entry = block
        .entry(field)
        .or_insert_with(|| Value::String(String::new()));
    if let Value::String(text) = entry {
        text.push_str(piece);
    }
}

fn lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
}

fn ollama(raw: &[u8]) -> Value {
    let mut content = String::new();
    let mut thinking = String::new();
    let mut response = String::new();
    let mut tool_calls: Vec<Value> = Vec::new();
    let mut last = Map::new();
    let mut chat = false;
    for line in lines(raw) {
        let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if let Some(message) = object.get("message") {
            chat = true;
            if let Some(text) = message["content"].as_str() {
                content.push_str(text);
            }
            if let Some(text) = message["thinking"].as_str() {
                thinking.push_str(text);
            }
            if let Some(calls) = message["tool_calls"].as_array() {
                tool_calls.extend(calls.iter().cloned());
            }
        }
        if let Some(text) = object.get("response").and_then(Value::as_str) {
            response.push_str(text);
        }
        last = object;
    }
    if chat {
        let mut message = json!({"role": "assistant", "content": content});
        if !thinking.is_empty() {
            message["thinking"] = thinking.into();
        }
        if !tool_calls.is_empty() {
            message["tool_calls"] = tool_calls.into();
        }
        last.insert("message".into(), message);
    } else {
        last.insert("response".into(), response.into());
    }
    Value::Object(last)
}

/// One choice being put together.
#[derive(Default)]
struct Choice {
    role: Option<String>,
    content: String,
    text: String,
    /// By the index the stream gives each call.
    tool_calls: Vec<(u64, Value)>,
    finish_reason: Value,
}

fn openai(raw: &[u8]) -> Value {
    let mut head = Map::new();
    let mut choices: Vec<(u64, Choice)> = Vec::new();
    let mut usage = Value::Null;
    let mut error = Value::Null;
    let mut completion = false;
    for line in lines(raw) {
        let Some(data) = line.strip_prefix(b"data:") else {
            continue;
        };
        let Ok(event) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
            continue; // `[DONE]` and anything else that is not JSON
        };
        if !event.is_object() {
            continue;
        }
        if !event["error"].is_null() {
            error = event["error"].clone();
            continue;
        }
        if head.is_empty() {
            for field in ["id", "created", "model", "system_fingerprint"] {
                if let Some(v) = event.get(field) {
                    head.insert(field.into(), v.clone());
                }
            }
        }
        completion |= event.get("object").and_then(Value::as_str) == Some("text_completion");
        if !event["usage"].is_null() {
            usage = event["usage"].clone();
        }
        for delta in event["choices"].as_array().into_iter().flatten() {
            let index = delta["index"].as_u64().unwrap_or(0);
            let at = match choices.iter().position(|(i, _)| *i == index) {
                Some(at) => at,
                None => {
                    choices.push((index, Choice::default()));
                    choices.len() - 1
                }
            };
            merge_choice(&mut choices[at].1, delta);
        }
    }
    let object = if completion {
        "text_completion"
    } else {
        "chat.completion"
    };
    let mut answer = head;
    answer.insert("object".into(), object.into());
    let choices: Vec<Value> = choices
        .into_iter()
        .map(|(index, c)| finish_choice(index, c, completion))
        .collect();
    answer.insert("choices".into(), choices.into());
    if !usage.is_null() {
        answer.insert("usage".into(), usage);
    }
    if !error.is_null() {
        answer.insert("error".into(), error);
    }
    Value::Object(answer)
}

fn merge_choice(choice: &mut Choice, event: &Value) {
    if let Some(text) = event["text"].as_str() {
        choice.text.push_str(text);
    }
    if !event["finish_reason"].is_null() {
        choice.finish_reason = event["finish_reason"].clone();
    }
    let delta = &event["delta"];
    if let Some(role) = delta["role"].as_str() {
        choice.role = Some(role.to_owned());
    }
    if let Some(text) = delta["content"].as_str() {
        choice.content.push_str(text);
    }
    for call in delta["tool_calls"].as_array().into_iter().flatten() {
        let index = call["index"].as_u64().unwrap_or(0);
        let at = match choice.tool_calls.iter().position(|(i, _)| *i == index) {
            Some(at) => at,
            None => {
                let fresh = json!({"id": null, "type": "function",
                    "function": {"name": null, "arguments": ""}});
                choice.tool_calls.push((index, fresh));
                choice.tool_calls.len() - 1
            }
        };
        let whole = &mut choice.tool_calls[at].1;
        for field in ["id", "type"] {
            if call[field].is_string() {
                whole[field] = call[field].clone();
            }
        }
        if call["function"]["name"].is_string() {
            whole["function"]["name"] = call["function"]["name"].clone();
        }
        if let Some(part) = call["function"]["arguments"].as_str() {
            let joined = format!(
                "{}{part}",
                whole["function"]["arguments"].as_str().unwrap_or_default()
            );
            whole["function"]["arguments"] = joined.into();
        }
    }
}

fn finish_choice(index: u64, choice: Choice, completion: bool) -> Value {
    if completion {
        return json!({"index": index, "text": choice.text,
            "finish_reason": choice.finish_reason});
    }
    let mut message = json!({
        "role": choice.role.unwrap_or_else(|| "assistant".to_owned()),
        "content": choice.content,
    });
    if !choice.tool_calls.is_empty() {
        let calls: Vec<Value> = choice.tool_calls.into_iter().map(|(_, c)| c).collect();
        message["tool_calls"] = calls.into();
    }
    json!({"index": index, "message": message, "finish_reason": choice.finish_reason})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_lines_become_one_message() {
        let raw = br#"{"model":"m","message":{"role":"assistant","content":"Hel"},"done":false}
{"model":"m","message":{"role":"assistant","content":"lo","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]},"done":false}
{"model":"m","message":{"role":"assistant","content":""},"done":true,"eval_count":2}
"#;
        let whole: Value = serde_json::from_str(&answer(Framing::Ndjson, raw)).unwrap();
        assert_eq!(whole["message"]["content"], "Hello");
        assert_eq!(whole["message"]["tool_calls"][0]["function"]["name"], "f");
        assert_eq!(
            (whole["done"].clone(), whole["eval_count"].clone()),
            (json!(true), json!(2))
        );
        let generate = b"{\"response\":\"a\",\"done\":false}\n{\"response\":\"b\",\"done\":true}\n";
        let whole: Value = serde_json::from_str(&answer(Framing::Ndjson, generate)).unwrap();
        assert_eq!(whole["response"], "ab");
    }

    #[test]
    fn anthropic_events_become_one_message_with_joined_tool_input() {
        let raw = br#"event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"c","content":[],"stop_reason":null,"usage":{"input_tokens":9,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"there"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1.50}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":7}}

event: message_stop
data: {"type":"message_stop"}
"#;
        let whole: Value = serde_json::from_str(&answer(Framing::AnthropicSse, raw)).unwrap();
        assert_eq!(whole["id"], "msg_1");
        assert_eq!(whole["stop_reason"], "tool_use");
        assert_eq!(
            whole["usage"],
            json!({"input_tokens": 9, "output_tokens": 7})
        );
        assert_eq!(
            whole["content"][0],
            json!({"type": "text", "text": "Hi there"})
        );
        assert_eq!(
            whole["content"][1],
            json!({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1.5}})
        );
    }

    #[test]
    fn openai_chunks_become_one_completion_with_joined_tool_arguments() {
        let raw = br#"data: {"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}

data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"ci"}}]}}]}

data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":1}"}}]},"finish_reason":"tool_calls"}]}

data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}

data: [DONE]

"#;
        let whole: Value = serde_json::from_str(&answer(Framing::Sse, raw)).unwrap();
        assert_eq!(whole["object"], "chat.completion");
        assert_eq!(whole["id"], "c1");
        let message = &whole["choices"][0]["message"];
        assert_eq!(message["content"], "Hi");
        assert_eq!(message["tool_calls"][0]["id"], "call_1");
        assert_eq!(
            message["tool_calls"][0]["function"]["arguments"],
            "{\"city\":1}"
        );
        assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(whole["usage"]["completion_tokens"], 4);
    }

    #[test]
    fn responses_events_become_the_terminal_response_or_the_items_done() {
        let done = r#"event: response.created
data: {"type":"response.created","response":{"id":"resp_1","output":[],"status":"in_progress"}}

event: response.output_item.done
data: {"type":"response.output_item.done","output_index":0,"item":{"type":"message","content":[{"type":"output_text","text":"Hi"}]}}

event: response.completed
data: {"type":"response.completed","response":{"id":"resp_1","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"Hi"}]}],"usage":{"input_tokens":3}}}
"#;
        let whole: Value =
            serde_json::from_str(&answer(Framing::ResponsesSse, done.as_bytes())).unwrap();
        assert_eq!(whole["status"], "completed");
        assert_eq!(whole["usage"]["input_tokens"], 3);
        assert_eq!(whole["output"][0]["content"][0]["text"], "Hi");
        // Broken off before the end: the items done so far.
        let cut = done.split("event: response.completed").next().unwrap();
        let partial: Value =
            serde_json::from_str(&answer(Framing::ResponsesSse, cut.as_bytes())).unwrap();
        assert_eq!(partial["status"], "in_progress");
        assert_eq!(partial["output"][0]["type"], "message");
    }
}
