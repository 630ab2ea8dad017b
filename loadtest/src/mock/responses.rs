//! OpenAI's Responses API (`POST /v1/responses`), served by the OpenAI kind as strictly as
//! OpenAI does (unknown parameters, malformed items, a tool output without its call and
//! stored-state parameters are refused), stateless like a `store: false` request: the
//! answer comes from the shared [`plan`], whole or as the full named event sequence.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::common::{aborted, admit, book, ok_json, refuse, sse_named, Frames, JSON, SSE};
use super::errors::{openai_error, openai_not_found};
use super::plan::{pieces, plan, Finish, Plan, ARG_PIECE};
use super::prompt::{content_words, join_into, limit, text_of, LastTurn, Prompt, Tool, ToolChoice};
use super::state::{Endpoint, Shared};
use super::text::unix_now;

type St = web::Data<Shared>;

/// The request parameters OpenAI documents; any other is `Unknown parameter`.
const KNOWN: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_output_tokens",
    "max_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "reasoning",
    "text",
    "stream",
    "stream_options",
    "store",
    "metadata",
    "include",
    "prompt_cache_key",
    "prompt_cache_retention",
    "safety_identifier",
    "user",
    "service_tier",
    "truncation",
    "background",
    "previous_response_id",
    "conversation",
    "prompt",
];

fn bad_request(st: &Shared, msg: &str) -> HttpResponse {
    refuse(st, openai_error(StatusCode::BAD_REQUEST, msg, None))
}

pub(crate) async fn responses(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let ep = Endpoint::V1Responses;
    if let Err(resp) = book(&st, ep, &req, &body) {
        return resp;
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return bad_request(
                &st,
                &format!("We could not parse the JSON body of your request. ({e})"),
            )
        }
    };
    let prompt = match read(&v) {
        Ok(p) => p,
        Err(msg) => return bad_request(&st, &msg),
    };
    let admitted = match admit(&st, ep).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let model = v.get("model").and_then(Value::as_str).unwrap_or("");
    if !st.catalog().has(model) {
        return openai_not_found(model);
    }
    let plan = plan(&prompt, &st.first_token, st.tokens());
    let answer = Answer {
        id: format!("resp_{}", st.next_id()),
        model,
        created: unix_now(),
        echo: &v,
        plan: &plan,
        node: &st.name,
    };
    if !v.get("stream").and_then(Value::as_bool).unwrap_or(false) {
        if admitted.die_after.is_some() {
            return aborted(JSON, admitted.guard);
        }
        let body = answer.response("completed", answer.items());
        return ok_json(Bytes::from(body.to_string()));
    }
    let frames = answer.events();
    frames.respond(SSE, &st, admitted)
}

/// Validates the body as OpenAI does and reads the facts the answer depends on.
fn read(v: &Value) -> Result<Prompt, String> {
    let Some(body) = v.as_object() else {
        return Err("The body must be a JSON object.".into());
    };
    if let Some(key) = body.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!("Unknown parameter: '{key}'."));
    }
    match body.get("model") {
        Some(Value::String(m)) if !m.is_empty() => {}
        _ => return Err("Missing required parameter: 'model'.".into()),
    }
    for stored in ["previous_response_id", "conversation"] {
        if body.get(stored).is_some_and(|v| !v.is_null()) {
            return Err(format!(
                "'{stored}' refers to stored state this mock never keeps."
            ));
        }
    }
    let mut p = Prompt::default();
    if let Some(instructions) = body.get("instructions").filter(|i| !i.is_null()) {
        let Some(text) = instructions.as_str() else {
            return Err("Invalid type for 'instructions': expected a string.".into());
        };
        p.words += content_words(instructions);
        join_into(&mut p.system, text);
    }
    p.max_tokens = limit(body.get("max_output_tokens"));
    p.cached = body.get("prompt_cache_key").is_some_and(|k| !k.is_null());
    tools(body, &mut p)?;
    match body.get("input") {
        Some(Value::String(text)) => {
            p.words += content_words(&json!(text));
            p.last = LastTurn::User(text.clone());
        }
        Some(Value::Array(items)) => input(items, &mut p)?,
        None | Some(Value::Null) => return Err("Missing required parameter: 'input'.".into()),
        Some(_) => return Err("Invalid type for 'input': expected a string or an array.".into()),
    }
    Ok(p)
}

fn tools(body: &Map<String, Value>, p: &mut Prompt) -> Result<(), String> {
    for (i, tool) in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match tool.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => match tool.get("name").and_then(Value::as_str) {
                Some(name) => p.tools.push(Tool {
                    name: name.to_owned(),
                    schema: tool.get("parameters").cloned(),
                }),
                None => return Err(format!("Missing required parameter: 'tools[{i}].name'.")),
            },
            Some(_) => {}
            None => return Err(format!("Missing required parameter: 'tools[{i}].type'.")),
        }
        if tool.get("function").is_some() {
            return Err(format!("Unknown parameter: 'tools[{i}].function'."));
        }
    }
    p.choice = match body.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::String(s)) if s == "required" => ToolChoice::Required,
        Some(Value::Object(o)) => match o.get("name").and_then(Value::as_str) {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => ToolChoice::Auto,
        },
        _ => ToolChoice::Auto,
    };
    Ok(())
}

fn input(items: &[Value], p: &mut Prompt) -> Result<(), String> {
    let mut calls: Vec<&str> = Vec::new();
    let mut results: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let kind = match item.get("type").and_then(Value::as_str) {
            Some(kind) => kind,
            None if item.get("role").is_some() => "message",
            None => return Err(format!("Missing required parameter: 'input[{i}].type'.")),
        };
        match kind {
            "message" => {
                let role = item.get("role").and_then(Value::as_str).unwrap_or("");
                let content = item.get("content").unwrap_or(&Value::Null);
                if !content.is_string() && !content.is_array() {
                    return Err(format!("Invalid value for 'input[{i}].content'."));
                }
                p.words += content_words(content);
                p.images += content
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|part| part.get("type").and_then(Value::as_str) == Some("input_image"))
                    .count();
                match role {
                    "system" | "developer" => join_into(&mut p.system, &text_of(content)),
                    "user" => {
                        results.clear();
                        p.last = LastTurn::User(text_of(content));
                    }
                    "assistant" => p.last = LastTurn::Other,
                    _ => return Err(format!("Invalid value: '{role}' for 'input[{i}].role'.")),
                }
            }
            "function_call" | "custom_tool_call" => {
                let call_id = item.get("call_id").and_then(Value::as_str);
                let name = item.get("name").and_then(Value::as_str);
                let (Some(call_id), Some(_)) = (call_id, name) else {
                    return Err(format!(
                        "Missing required parameter: 'input[{i}].call_id' or 'input[{i}].name'."
                    ));
                };
                calls.push(call_id);
                p.last = LastTurn::Other;
            }
            "function_call_output" | "custom_tool_call_output" => {
                let call_id = item.get("call_id").and_then(Value::as_str).unwrap_or("");
                if !calls.contains(&call_id) {
                    return Err(format!(
                        "No tool call found for function call output with call_id {call_id}."
                    ));
                }
                let output = item.get("output").unwrap_or(&Value::Null);
                p.words += content_words(output);
                results.push(text_of(output));
                p.last = LastTurn::ToolResults(results.clone());
            }
            "reasoning" => {}
            other => return Err(format!("Invalid value: '{other}' for 'input[{i}].type'.")),
        }
    }
    Ok(())
}

/// One answer in Responses' shapes.
struct Answer<'a> {
    id: String,
    model: &'a str,
    created: u64,
    echo: &'a Value,
    plan: &'a Plan,
    node: &'a str,
}

impl Answer<'_> {
    fn status(&self) -> &'static str {
        match self.plan.finish {
            Finish::Length => "incomplete",
            _ => "completed",
        }
    }

    fn call_id(&self, i: usize) -> String {
        format!("call_{}_{i}", self.node)
    }

    fn items(&self) -> Vec<Value> {
        if !self.plan.calls.is_empty() {
            return (0..self.plan.calls.len())
                .map(|i| self.call(i, &self.plan.calls[i].arguments, "completed"))
                .collect();
        }
        vec![self.message(&self.plan.text(), "completed")]
    }

    fn message(&self, text: &str, status: &str) -> Value {
        let content = if status == "in_progress" {
            json!([])
        } else {
            json!([{"type": "output_text", "text": text, "annotations": []}])
        };
        json!({"type": "message", "id": format!("msg_{}", self.id), "status": status,
               "role": "assistant", "content": content})
    }

    fn call(&self, i: usize, arguments: &str, status: &str) -> Value {
        json!({"type": "function_call", "id": format!("fc_{}_{i}", self.id),
               "call_id": self.call_id(i), "name": self.plan.calls[i].name,
               "arguments": arguments, "status": status})
    }

    fn response(&self, status: &str, output: Vec<Value>) -> Value {
        let usage = (status != "in_progress").then(|| {
            json!({
                "input_tokens": self.plan.prompt_tokens,
                "input_tokens_details": {"cached_tokens": self.plan.cached_tokens},
                "output_tokens": self.plan.completion_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.plan.prompt_tokens + self.plan.completion_tokens,
            })
        });
        let field = |name: &str, default: Value| {
            self.echo
                .get(name)
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or(default)
        };
        json!({
            "id": self.id, "object": "response", "created_at": self.created,
            "status": status, "error": null,
            "incomplete_details": if status == "incomplete" { json!({"reason": "max_output_tokens"}) } else { Value::Null },
            "model": self.model, "output": output, "usage": usage,
            "instructions": field("instructions", Value::Null),
            "tools": field("tools", json!([])),
            "tool_choice": field("tool_choice", json!("auto")),
            "parallel_tool_calls": field("parallel_tool_calls", json!(true)),
            "previous_response_id": null, "store": field("store", json!(true)),
            "text": field("text", json!({"format": {"type": "text"}})),
            "metadata": field("metadata", json!({})),
        })
    }

    /// The whole event sequence; `content` counts the frames before the terminal one.
    fn events(&self) -> Frames {
        let mut frames = Vec::new();
        let mut seq = 0u64;
        let mut push = |frames: &mut Vec<Bytes>, kind: &str, mut body: Value| {
            body["type"] = json!(kind);
            body["sequence_number"] = json!(seq);
            seq += 1;
            frames.push(sse_named(kind, &body));
        };
        let head = self.response("in_progress", Vec::new());
        push(
            &mut frames,
            "response.created",
            json!({"response": head.clone()}),
        );
        push(
            &mut frames,
            "response.in_progress",
            json!({"response": head}),
        );
        if self.plan.calls.is_empty() {
            let item_id = format!("msg_{}", self.id);
            let text = self.plan.text();
            push(
                &mut frames,
                "response.output_item.added",
                json!({"output_index": 0, "item": self.message("", "in_progress")}),
            );
            let part = json!({"type": "output_text", "text": "", "annotations": []});
            push(
                &mut frames,
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": part}),
            );
            for chunk in &self.plan.chunks {
                push(
                    &mut frames,
                    "response.output_text.delta",
                    json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                           "delta": chunk, "logprobs": []}),
                );
            }
            push(
                &mut frames,
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                       "text": text, "logprobs": []}),
            );
            let part = json!({"type": "output_text", "text": text, "annotations": []});
            push(
                &mut frames,
                "response.content_part.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": part}),
            );
            push(
                &mut frames,
                "response.output_item.done",
                json!({"output_index": 0, "item": self.message(&text, "completed")}),
            );
        }
        for (i, call) in self.plan.calls.iter().enumerate() {
            let item_id = format!("fc_{}_{i}", self.id);
            push(
                &mut frames,
                "response.output_item.added",
                json!({"output_index": i, "item": self.call(i, "", "in_progress")}),
            );
            for piece in pieces(&call.arguments, ARG_PIECE) {
                push(
                    &mut frames,
                    "response.function_call_arguments.delta",
                    json!({"item_id": item_id, "output_index": i, "delta": piece}),
                );
            }
            push(
                &mut frames,
                "response.function_call_arguments.done",
                json!({"item_id": item_id, "output_index": i, "name": call.name,
                       "arguments": call.arguments}),
            );
            push(
                &mut frames,
                "response.output_item.done",
                json!({"output_index": i, "item": self.call(i, &call.arguments, "completed")}),
            );
        }
        let content = frames.len();
        let status = self.status();
        let last = json!({"response": self.response(status, self.items())});
        push(&mut frames, &format!("response.{status}"), last);
        Frames { frames, content }
    }
}
