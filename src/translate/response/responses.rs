//! OpenAI Responses, whole: a `response` object whose `output` holds the answer's items in
//! order (`reasoning` with its summary text, `message` with `output_text`, `function_call`,
//! or `custom_tool_call` for a call of a tool the client declared `custom`), its usage, and
//! the request fields OpenAI echoes (from [`crate::translate::ResponsesEcho`], OpenAI's
//! defaults without one). The stream encoder builds its
//! items and its terminal `response` here too, so both say the same.

use std::{iter::Peekable, sync::LazyLock};

use serde::{
    ser::{SerializeMap, SerializeSeq},
    Serialize, Serializer,
};
use serde_json::{value::RawValue, Value};

use super::answer::{client_id, Answer, Block, Finish};
use crate::translate::{
    request::CUSTOM_INPUT, ResponseContext, ResponsesEcho, TranslateError, Usage,
};

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

/// An output item, typed. Fields are declared in name order: the items were first written
/// as JSON maps, which sort their keys, and clients have seen them in this order since.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Item<'a> {
    Message {
        content: ZeroOrOne<TextPart<'a>>,
        id: &'a str,
        role: &'static str,
        status: &'static str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Reasoning {
        id: &'a str,
        summary: ZeroOrOne<SummaryPart<'a>>,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    FunctionCall {
        arguments: &'a str,
        call_id: &'a str,
        id: String,
        name: &'a str,
        status: &'static str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    CustomCall {
        call_id: &'a str,
        id: String,
        input: String,
        name: &'a str,
        status: &'static str,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

/// An array of no element or one (`content` of a message item, `summary` of a reasoning
/// one), without allocating for it.
pub(crate) struct ZeroOrOne<T>(pub Option<T>);

impl<T: Serialize> Serialize for ZeroOrOne<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(usize::from(self.0.is_some())))?;
        if let Some(element) = &self.0 {
            seq.serialize_element(element)?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
pub(crate) struct TextPart<'a> {
    annotations: [(); 0],
    logprobs: [(); 0],
    text: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
pub(crate) struct SummaryPart<'a> {
    text: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// A tool call as the client declared the tool: a `custom` tool's call carries its free
/// text (the function argument `input`), a function's its JSON arguments.
pub(crate) fn call_item<'a>(
    ctx: &ResponseContext,
    ids: &Ids,
    n: usize,
    call_id: &'a str,
    name: &'a str,
    arguments: &'a str,
    status: Status,
) -> Item<'a> {
    if is_custom(ctx, name) {
        return Item::CustomCall {
            call_id,
            id: ids.item("ctc", n),
            input: custom_input(arguments),
            name,
            status: status.as_str(),
            kind: "custom_tool_call",
        };
    }
    Item::FunctionCall {
        arguments,
        call_id,
        id: ids.item("fc", n),
        name,
        status: status.as_str(),
        kind: "function_call",
    }
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

/// A message item; one in progress has no content yet.
pub(crate) fn message_item<'a>(id: &'a str, text: &'a str, status: Status) -> Item<'a> {
    Item::Message {
        content: ZeroOrOne((status != Status::InProgress).then(|| text_part(text))),
        id,
        role: "assistant",
        status: status.as_str(),
        kind: "message",
    }
}

pub(crate) fn text_part(text: &str) -> TextPart<'_> {
    TextPart {
        annotations: [],
        logprobs: [],
        text,
        kind: "output_text",
    }
}

/// A reasoning item; one in progress has no summary yet.
pub(crate) fn reasoning_item<'a>(id: &'a str, text: Option<&'a str>) -> Item<'a> {
    Item::Reasoning {
        id,
        summary: ZeroOrOne(text.map(summary_part)),
        kind: "reasoning",
    }
}

pub(crate) fn summary_part(text: &str) -> SummaryPart<'_> {
    SummaryPart {
        text,
        kind: "summary_text",
    }
}

/// An item rendered once: the stream writes it in `output_item.done` and again in the
/// terminal `response`.
pub(crate) fn rendered(item: &Item<'_>) -> Result<Box<RawValue>, TranslateError> {
    serde_json::value::to_raw_value(item).map_err(|e| TranslateError::Upstream(e.to_string()))
}

/// Responses usage; reasoning tokens are not told apart by chat nodes, so they are 0.
#[derive(Serialize)]
struct UsageBody {
    input_tokens: u64,
    input_tokens_details: CachedTokens,
    output_tokens: u64,
    output_tokens_details: ReasoningTokens,
    total_tokens: u64,
}

#[derive(Serialize)]
struct CachedTokens {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct ReasoningTokens {
    reasoning_tokens: u64,
}

impl UsageBody {
    fn of(usage: &Usage) -> UsageBody {
        let input = usage.input.unwrap_or(0);
        let output = usage.output.unwrap_or(0);
        UsageBody {
            input_tokens: input,
            input_tokens_details: CachedTokens {
                cached_tokens: usage.cache_read.unwrap_or(0),
            },
            output_tokens: output,
            output_tokens_details: ReasoningTokens {
                reasoning_tokens: 0,
            },
            total_tokens: input.saturating_add(output),
        }
    }
}

/// A failed response's `error`: the node's error type as `code`.
#[derive(Serialize)]
pub(crate) struct ResponseError<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

#[derive(Serialize)]
struct IncompleteDetails {
    reason: &'static str,
}

/// The echo of a request that gave none of the echoed fields: OpenAI's defaults, rendered
/// once for the process.
static DEFAULT_ECHO: LazyLock<ResponsesEcho> =
    LazyLock::new(|| crate::translate::request::responses_echo(b"{}"));

/// The `response` object: the answer so far (`output`, its items rendered), how it stands,
/// and the echo. Written as one map with its own fields and the echo's merged in name
/// order (the order a JSON map gave them before), the echo's value winning a shared name.
pub(crate) struct ResponseObject<'a> {
    pub ctx: &'a ResponseContext,
    pub ids: &'a Ids,
    pub status: Status,
    pub output: &'a [Box<RawValue>],
    pub usage: Option<&'a Usage>,
    pub error: Option<ResponseError<'a>>,
}

impl Serialize for ResponseObject<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let echo = match &self.ctx.responses {
            Some(echo) => echo.as_ref(),
            None => &DEFAULT_ECHO,
        };
        let mut echo = echo.fields.iter().peekable();
        let mut map = serializer.serialize_map(None)?;
        let m = &mut map;
        let incomplete = match self.status {
            Status::Incomplete(reason) => Some(IncompleteDetails { reason }),
            _ => None,
        };
        merged(m, &mut echo, "background", &false)?;
        merged(m, &mut echo, "created_at", &self.ctx.created)?;
        merged(m, &mut echo, "error", &self.error)?;
        merged(m, &mut echo, "id", &self.ids.response)?;
        merged(m, &mut echo, "incomplete_details", &incomplete)?;
        merged(m, &mut echo, "model", &self.ctx.model)?;
        merged(m, &mut echo, "object", "response")?;
        merged(m, &mut echo, "output", self.output)?;
        merged(m, &mut echo, "previous_response_id", &None::<()>)?;
        merged(m, &mut echo, "status", self.status.as_str())?;
        merged(m, &mut echo, "store", &false)?;
        merged(m, &mut echo, "usage", &self.usage.map(UsageBody::of))?;
        for (name, value) in echo {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Writes the echo's fields named before `name`, then `name` with the echo's value if it
/// has one, else `value`.
fn merged<'e, M: SerializeMap, V: Serialize + ?Sized>(
    map: &mut M,
    echo: &mut Peekable<impl Iterator<Item = (&'e str, &'e RawValue)>>,
    name: &str,
    value: &V,
) -> Result<(), M::Error> {
    while let Some((field, echoed)) = echo.next_if(|(field, _)| *field < name) {
        map.serialize_entry(field, echoed)?;
    }
    match echo.next_if(|(field, _)| *field == name) {
        Some((field, echoed)) => map.serialize_entry(field, echoed),
        None => map.serialize_entry(name, value),
    }
}

/// The whole answer as a `response`. Consecutive text is one message item.
pub(super) fn render(answer: &Answer, ctx: &ResponseContext) -> Result<Vec<u8>, TranslateError> {
    let ids = Ids::new(ctx);
    let mut output = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, output: &mut Vec<Box<RawValue>>| {
        if !text.is_empty() {
            let id = ids.item("msg", output.len());
            output.push(rendered(&message_item(&id, text, Status::Completed))?);
            text.clear();
        }
        Ok::<_, TranslateError>(())
    };
    for block in &answer.blocks {
        match block {
            Block::Text(t) => text.push_str(t),
            Block::Thinking { text: t, .. } => {
                flush(&mut text, &mut output)?;
                let id = ids.item("rs", output.len());
                output.push(rendered(&reasoning_item(&id, Some(t)))?);
            }
            Block::RedactedThinking(_) => {}
            Block::ToolCall(call) => {
                flush(&mut text, &mut output)?;
                let n = output.len();
                output.push(rendered(&call_item(
                    ctx,
                    &ids,
                    n,
                    &call.id,
                    &call.name,
                    call.arguments.get(),
                    Status::Completed,
                ))?);
            }
        }
    }
    flush(&mut text, &mut output)?;
    let body = ResponseObject {
        ctx,
        ids: &ids,
        status: Status::of(answer.finish()),
        output: &output,
        usage: Some(&answer.usage),
        error: None,
    };
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
