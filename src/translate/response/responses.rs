//! OpenAI Responses, whole: a `response` object whose `output` holds the answer's items in
//! order (`reasoning` with its summary text, `message` with `output_text`, `function_call`,
//! or `custom_tool_call` for a call of a tool the client declared `custom`), its usage, and
//! the request fields OpenAI echoes (from [`crate::translate::ResponsesEcho`], OpenAI's
//! defaults without one). The stream encoder builds its
//! items and its terminal `response` here too, so both say the same.

use serde_json::{json, Map, Value};

use super::answer::{client_id, Answer, Block, Finish};
use crate::translate::{request::CUSTOM_INPUT, ResponseContext, TranslateError, Usage};

/// How a response ended, as its `status` and `incomplete_details` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    InProgress,
    Completed,
    /// Cut short; the reason is `max_output_tokens` or `content_filter`.
    Incomplete(&'static str),
    Failed,
}

impl Status {
    pub fn of(finish: Finish) -> Status {
        match finish {
            Finish::Length => Status::Incomplete("max_output_tokens"),
            Finish::ContentFilter => Status::Incomplete("content_filter"),
            _ => Status::Completed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Incomplete(_) => "incomplete",
            Status::Failed => "failed",
        }
    }
}

/// The answer's ids: `resp_…` for the response, and item ids made from its bare part.
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    pub response: String,
    bare: String,
}

impl Ids {
    pub fn new(ctx: &ResponseContext) -> Ids {
        let response = client_id("resp_", &ctx.id);
        let bare = response
            .strip_prefix("resp_")
            .unwrap_or(&response)
            .to_owned();
        Ids { response, bare }
    }

    /// The id of output item `n`: `msg_…`, `rs_…`, `fc_…`, `ctc_…`.
    pub fn item(&self, prefix: &str, n: usize) -> String {
        format!("{prefix}_{}_{n}", self.bare)
    }
}

/// A tool call as the client declared the tool: a `custom` tool's call carries its free
/// text (the function argument `input`), a function's its JSON arguments.
pub(crate) fn call_item(
    ctx: &ResponseContext,
    ids: &Ids,
    n: usize,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: Status,
) -> Value {
    if is_custom(ctx, name) {
        return json!({
            "type": "custom_tool_call",
            "id": ids.item("ctc", n),
            "call_id": call_id,
            "name": name,
            "input": custom_input(arguments),
            "status": status.as_str(),
        });
    }
    json!({
        "type": "function_call",
        "id": ids.item("fc", n),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status.as_str(),
    })
}

pub(crate) fn is_custom(ctx: &ResponseContext, name: &str) -> bool {
    ctx.responses
        .as_ref()
        .is_some_and(|echo| echo.custom_tools.iter().any(|t| t == name))
}

/// A custom tool's free text from the function arguments the node sent: `input` when they
/// hold it as a string, else the arguments' text itself (a model that ignored the schema).
pub(crate) fn custom_input(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(mut args)) => match args.remove(CUSTOM_INPUT) {
            Some(Value::String(text)) => text,
            _ => arguments.to_owned(),
        },
        _ => arguments.to_owned(),
    }
}

pub(crate) fn message_item(id: &str, text: &str, status: Status) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": status.as_str(),
        "role": "assistant",
        "content": if status == Status::InProgress { json!([]) } else { json!([text_part(text)]) },
    })
}

pub(crate) fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

pub(crate) fn reasoning_item(id: &str, text: Option<&str>) -> Value {
    let summary = match text {
        Some(text) => json!([summary_part(text)]),
        None => json!([]),
    };
    json!({"type": "reasoning", "id": id, "summary": summary})
}

pub(crate) fn summary_part(text: &str) -> Value {
    json!({"type": "summary_text", "text": text})
}

/// Responses usage; reasoning tokens are not told apart by chat nodes, so they are 0.
pub(crate) fn usage(usage: &Usage) -> Value {
    let input = usage.input.unwrap_or(0);
    let output = usage.output.unwrap_or(0);
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": usage.cache_read.unwrap_or(0)},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    })
}

/// The `response` object: the answer so far (`output`), how it stands, and the echo.
pub(crate) fn response_object(
    ctx: &ResponseContext,
    ids: &Ids,
    status: Status,
    output: Vec<Value>,
    usage: Option<&Usage>,
    error: Option<Value>,
) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(ids.response));
    out.insert("object".into(), json!("response"));
    out.insert("created_at".into(), json!(ctx.created));
    out.insert("status".into(), json!(status.as_str()));
    out.insert("background".into(), json!(false));
    out.insert("error".into(), error.unwrap_or(Value::Null));
    out.insert(
        "incomplete_details".into(),
        match status {
            Status::Incomplete(reason) => json!({ "reason": reason }),
            _ => Value::Null,
        },
    );
    out.insert("model".into(), json!(ctx.model));
    out.insert("output".into(), Value::Array(output));
    out.insert("previous_response_id".into(), Value::Null);
    out.insert("store".into(), json!(false));
    out.insert("usage".into(), usage.map_or(Value::Null, self::usage));
    let default_echo;
    let echo = match &ctx.responses {
        Some(echo) => echo.as_ref(),
        None => {
            default_echo = crate::translate::request::responses_echo(b"{}");
            &default_echo
        }
    };
    for (field, value) in &echo.fields {
        out.insert(field.clone(), value.clone());
    }
    Value::Object(out)
}

/// The whole answer as a `response`. Consecutive text is one message item.
pub(super) fn render(answer: &Answer, ctx: &ResponseContext) -> Result<Vec<u8>, TranslateError> {
    let ids = Ids::new(ctx);
    let mut output = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, output: &mut Vec<Value>| {
        if !text.is_empty() {
            let id = ids.item("msg", output.len());
            output.push(message_item(&id, text, Status::Completed));
            text.clear();
        }
    };
    for block in &answer.blocks {
        match block {
            Block::Text(t) => text.push_str(t),
            Block::Thinking { text: t, .. } => {
                flush(&mut text, &mut output);
                let id = ids.item("rs", output.len());
                output.push(reasoning_item(&id, Some(t)));
            }
            Block::RedactedThinking(_) => {}
            Block::ToolCall(call) => {
                flush(&mut text, &mut output);
                let n = output.len();
                output.push(call_item(
                    ctx,
                    &ids,
                    n,
                    &call.id,
                    &call.name,
                    call.arguments.get(),
                    Status::Completed,
                ));
            }
        }
    }
    flush(&mut text, &mut output);
    let status = Status::of(answer.finish());
    let body = response_object(ctx, &ids, status, output, Some(&answer.usage), None);
    serde_json::to_vec(&body).map_err(|e| TranslateError::Upstream(e.to_string()))
}

#[derive(serde::Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<ResponsesCounts>,
}

#[derive(serde::Deserialize)]
struct ResponsesCounts {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    input_tokens_details: Option<Cached>,
}

#[derive(serde::Deserialize)]
struct Cached {
    cached_tokens: Option<u64>,
}

/// The usage of a whole Responses answer a node served itself (passed through).
pub(super) fn parse_usage(body: &[u8]) -> Option<Usage> {
    let counts = serde_json::from_slice::<UsageOnly>(body).ok()?.usage?;
    Some(Usage {
        input: counts.input_tokens,
        output: counts.output_tokens,
        cache_read: counts.input_tokens_details.and_then(|d| d.cached_tokens),
        cache_write: None,
    })
}
