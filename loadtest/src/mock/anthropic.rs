//! The Anthropic Messages API (`/v1/messages`, `/v1/messages/count_tokens`, `/v1/models`)
//! of an Anthropic-kind node:
//! strict validation, whole answers and the exact streamed event sequence.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use super::anthropic_request;
use super::common::{
    aborted, admit, book, json_bytes, ok_json, refuse, sse_named, Frames, JSON, SSE,
};
use super::errors::{anthropic_bad_request, anthropic_error};
use super::plan::{pieces, plan, Finish, Plan, ARG_PIECE};
use super::state::{Endpoint, Shared};

type St = web::Data<Shared>;

pub(crate) async fn models(st: St, req: HttpRequest) -> HttpResponse {
    match book(&st, Endpoint::V1Models, &req, &Bytes::new()) {
        Ok(()) => ok_json(st.catalog().anthropic_models.clone()),
        Err(resp) => resp,
    }
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    input_tokens: usize,
    output_tokens: usize,
    cache_creation_input_tokens: usize,
    cache_read_input_tokens: usize,
}

impl Usage {
    /// Anthropic counts cache reads apart from `input_tokens`.
    fn of(plan: &Plan, output_tokens: usize) -> Usage {
        Usage {
            input_tokens: plan.prompt_tokens,
            output_tokens,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: plan.cached_tokens,
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a Value,
    },
}

#[derive(Serialize)]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'a str>,
    usage: Usage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopDelta<'a> {
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: usize,
}

/// The streamed events, each serialized with its `type` tag.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: Message<'a>,
    },
    ContentBlockStart {
        index: usize,
        content_block: Block<'a>,
    },
    Ping,
    ContentBlockDelta {
        index: usize,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: StopDelta<'a>,
        usage: OutputUsage,
    },
    MessageStop,
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::Ping => "ping",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
        }
    }

    fn frame(&self) -> Bytes {
        sse_named(self.name(), self)
    }
}

fn stop_reason(f: &Finish) -> &'static str {
    match f {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::StopSequence(_) => "stop_sequence",
        Finish::ToolCalls => "tool_use",
    }
}

fn stop_sequence(f: &Finish) -> Option<&str> {
    match f {
        Finish::StopSequence(s) => Some(s),
        _ => None,
    }
}

/// The id Anthropic-style answers give tool call `i` of node `name`.
fn tool_use_id(name: &str, i: usize) -> String {
    format!("toolu_{name}_{i}")
}

/// The events of a streamed answer; the count of those before `message_delta` (what a
/// dying node may send) comes second.
fn stream_events(plan: &Plan, msg: Message<'_>, ids: &[String]) -> (Vec<Bytes>, usize) {
    let mut frames = vec![Event::MessageStart { message: msg }.frame()];
    let mut index = 0;
    let ping = || Event::Ping.frame();
    if !plan.chunks.is_empty() {
        frames.push(
            Event::ContentBlockStart {
                index,
                content_block: Block::Text { text: "" },
            }
            .frame(),
        );
        frames.push(ping());
        for chunk in &plan.chunks {
            frames.push(
                Event::ContentBlockDelta {
                    index,
                    delta: Delta::TextDelta { text: chunk },
                }
                .frame(),
            );
        }
        frames.push(Event::ContentBlockStop { index }.frame());
        index += 1;
    }
    let empty = Value::Object(serde_json::Map::new());
    for (call, id) in plan.calls.iter().zip(ids) {
        frames.push(
            Event::ContentBlockStart {
                index,
                content_block: Block::ToolUse {
                    id,
                    name: &call.name,
                    input: &empty,
                },
            }
            .frame(),
        );
        if index == 0 {
            frames.push(ping());
        }
        for piece in pieces(&call.arguments, ARG_PIECE) {
            frames.push(
                Event::ContentBlockDelta {
                    index,
                    delta: Delta::InputJsonDelta {
                        partial_json: piece,
                    },
                }
                .frame(),
            );
        }
        frames.push(Event::ContentBlockStop { index }.frame());
        index += 1;
    }
    if index == 0 {
        frames.push(ping());
    }
    let content = frames.len();
    frames.push(
        Event::MessageDelta {
            delta: StopDelta {
                stop_reason: stop_reason(&plan.finish),
                stop_sequence: stop_sequence(&plan.finish),
            },
            usage: OutputUsage {
                output_tokens: plan.completion_tokens,
            },
        }
        .frame(),
    );
    frames.push(Event::MessageStop.frame());
    (frames, content)
}

pub(crate) async fn messages(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let ep = Endpoint::V1Messages;
    if let Err(resp) = book(&st, ep, &req, &body) {
        return resp;
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return refuse(
                &st,
                anthropic_bad_request(&format!("There was an error parsing the body: {e}")),
            )
        }
    };
    let betas = req
        .headers()
        .get("anthropic-beta")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if let Err(msg) = anthropic_request::validate(&v, anthropic_request::Betas::new(betas)) {
        return refuse(&st, anthropic_bad_request(&msg));
    }
    let prompt = anthropic_request::read(&v);
    let model = v.get("model").and_then(Value::as_str).unwrap_or("");
    let stream = v.get("stream").and_then(Value::as_bool).unwrap_or(false);

    let admitted = match admit(&st, ep).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    if !st.catalog().has(model) {
        return anthropic_error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("model: {model}"),
        );
    }
    let plan = plan(&prompt, &st.first_token, st.tokens());
    let id = format!("msg_mock_{}", st.next_id());
    let ids: Vec<String> = (0..plan.calls.len())
        .map(|i| tool_use_id(&st.name, i))
        .collect();
    if !stream {
        if admitted.die_after.is_some() {
            return aborted(JSON, admitted.guard);
        }
        let text = plan.text();
        let mut content = Vec::with_capacity(plan.calls.len() + 1);
        if !text.is_empty() {
            content.push(Block::Text { text: &text });
        }
        for (call, id) in plan.calls.iter().zip(&ids) {
            content.push(Block::ToolUse {
                id,
                name: &call.name,
                input: &call.input,
            });
        }
        return ok_json(json_bytes(&Message {
            id: &id,
            kind: "message",
            role: "assistant",
            model,
            content,
            stop_reason: Some(stop_reason(&plan.finish)),
            stop_sequence: stop_sequence(&plan.finish),
            usage: Usage::of(&plan, plan.completion_tokens),
        }));
    }
    let start = Message {
        id: &id,
        kind: "message",
        role: "assistant",
        model,
        content: Vec::new(),
        stop_reason: None,
        stop_sequence: None,
        // As the real API: a token's worth of output so far; the total comes in
        // message_delta.
        usage: Usage::of(&plan, 1),
    };
    let (frames, content) = stream_events(&plan, start, &ids);
    Frames { frames, content }.respond(SSE, &st, admitted)
}

/// `POST /v1/messages/count_tokens`: the prompt tokens the same body would cost as a message
/// (the planner's count), for a body with a model and messages; no `max_tokens` needed.
pub(crate) async fn count_tokens(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    if let Err(resp) = book(&st, Endpoint::V1CountTokens, &req, &body) {
        return resp;
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return refuse(
                &st,
                anthropic_bad_request(&format!("There was an error parsing the body: {e}")),
            )
        }
    };
    let model = match v.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => m,
        _ => return refuse(&st, anthropic_bad_request("model: Field required")),
    };
    if !v.get("messages").is_some_and(Value::is_array) {
        return refuse(&st, anthropic_bad_request("messages: Field required"));
    }
    if !st.catalog().has(model) {
        return anthropic_error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("model: {model}"),
        );
    }
    let prompt = anthropic_request::read(&v);
    let counted = plan(&prompt, &st.first_token, 0).prompt_tokens;
    ok_json(json_bytes(&serde_json::json!({ "input_tokens": counted })))
}
