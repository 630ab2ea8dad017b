//! OpenAI chat completions (`POST /v1/chat/completions`) to and from the canonical request.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    drop_ollama_extras, drop_unknown, image, invalid,
    ir::{
        Block, Chat, Image, Message, Reasoning, ResponseFormat, Role, Sampling, Tool, ToolChoice,
        ToolResult, ToolUse,
    },
    texts, unsupported,
};
use crate::translate::TranslateError;

const TARGET: &str = "OpenAI";

/// The request as OpenAI defines it. Fields with no effect on the answer are read only to be
/// dropped and named, as is any field Drover does not know (it lands in `unknown`).
#[derive(Debug, Deserialize)]
struct Request {
    #[serde(default)]
    model: String,
    messages: Vec<WireMessage>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stop: Option<Value>,
    seed: Option<i64>,
    frequency_penalty: Option<f64>,
    presence_penalty: Option<f64>,
    stream: Option<bool>,
    tools: Option<Vec<WireTool>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<Value>,
    reasoning_effort: Option<String>,
    user: Option<String>,
    // Refused unless they are at their default.
    n: Option<u64>,
    logprobs: Option<bool>,
    top_logprobs: Option<Value>,
    logit_bias: Option<Map<String, Value>>,
    audio: Option<Value>,
    modalities: Option<Vec<String>>,
    functions: Option<Value>,
    function_call: Option<Value>,
    web_search_options: Option<Value>,
    /// Read by the gateway itself (`include_usage`), never passed on.
    #[serde(rename = "stream_options")]
    _stream_options: Option<Value>,
    // Everything else (`store`, `metadata`, `service_tier`, `prediction`, `prompt_cache_key`,
    // `safety_identifier`, `verbosity`…): a hint, dropped and named.
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    /// A string, content parts, or null (an assistant turn with tool calls).
    content: Option<Value>,
    tool_calls: Option<Vec<WireToolCall>>,
    tool_call_id: Option<String>,
    refusal: Option<String>,
    audio: Option<Value>,
    function_call: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    id: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    function: WireFunctionCall,
}

#[derive(Debug, Deserialize)]
struct WireFunctionCall {
    name: String,
    /// JSON text.
    arguments: String,
}

/// A tool definition; Ollama uses the same shape.
#[derive(Debug, Deserialize)]
pub(super) struct WireTool {
    #[serde(rename = "type")]
    kind: String,
    function: Option<WireFunction>,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    description: Option<String>,
    parameters: Option<Value>,
}

impl WireTool {
    /// The canonical tool; only `function` tools exist outside OpenAI.
    pub(super) fn into_ir(self, field: &str) -> Result<Tool, TranslateError> {
        match (self.kind.as_str(), self.function) {
            ("function", Some(f)) => Ok(Tool {
                name: f.name,
                description: f.description,
                parameters: f.parameters,
            }),
            ("function", None) => Err(invalid(field, "a function tool needs `function`")),
            (kind, _) => Err(unsupported(
                &format!("{field}.type"),
                &format!("only function tools can be translated, not `{kind}`"),
            )),
        }
    }
}

pub fn parse(body: &[u8]) -> Result<Chat, TranslateError> {
    let r: Request = super::parse(body)?;
    refuse_defaults_only(&r)?;
    let mut dropped = Vec::new();
    drop_unknown(&r.unknown, &mut dropped);

    let mut messages = Vec::with_capacity(r.messages.len());
    for (i, m) in r.messages.into_iter().enumerate() {
        messages.push(message(m, &format!("messages[{i}]"))?);
    }
    let tools = match r.tools {
        Some(tools) => Some(
            tools
                .into_iter()
                .enumerate()
                .map(|(i, t)| t.into_ir(&format!("tools[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    Ok(Chat {
        model: r.model,
        messages,
        tools,
        tool_choice: r.tool_choice.as_ref().map(tool_choice).transpose()?,
        parallel_tool_calls: r.parallel_tool_calls,
        sampling: Sampling {
            max_tokens: r.max_completion_tokens.or(r.max_tokens),
            temperature: r.temperature,
            top_p: r.top_p,
            top_k: None,
            stop: r.stop.as_ref().map(stop).transpose()?.flatten(),
            seed: r.seed,
            frequency_penalty: r.frequency_penalty,
            presence_penalty: r.presence_penalty,
        },
        stream: r.stream.unwrap_or(false),
        format: r
            .response_format
            .as_ref()
            .map(response_format)
            .transpose()?
            .flatten(),
        reasoning: r.reasoning_effort.map(Reasoning::Effort),
        user: r.user,
        ollama: Default::default(),
        dropped,
    })
}

/// Fields that only OpenAI has; harmless at their default value, refused otherwise.
fn refuse_defaults_only(r: &Request) -> Result<(), TranslateError> {
    let other = "other APIs answer one choice without log probabilities";
    if r.n.is_some_and(|n| n != 1) {
        return Err(unsupported("n", other));
    }
    if r.logprobs == Some(true) {
        return Err(unsupported("logprobs", other));
    }
    if r.top_logprobs.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(unsupported("top_logprobs", other));
    }
    if r.logit_bias.as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(unsupported("logit_bias", "other APIs have no logit bias"));
    }
    if r.audio.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(unsupported("audio", "other APIs answer no audio"));
    }
    if let Some(m) = r.modalities.iter().flatten().find(|m| *m != "text") {
        return Err(unsupported(
            "modalities",
            &format!("other APIs answer text only, not `{m}`"),
        ));
    }
    for (field, value) in [
        ("functions", &r.functions),
        ("function_call", &r.function_call),
        ("web_search_options", &r.web_search_options),
    ] {
        if value.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(unsupported(field, "other APIs have no counterpart"));
        }
    }
    Ok(())
}

fn message(m: WireMessage, at: &str) -> Result<Message, TranslateError> {
    if m.function_call.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(unsupported(
            &format!("{at}.function_call"),
            "deprecated function calls are not translated; use tool_calls",
        ));
    }
    if m.audio.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(unsupported(
            &format!("{at}.audio"),
            "other APIs take no audio",
        ));
    }
    let content_at = format!("{at}.content");
    match m.role.as_str() {
        "system" | "developer" => Ok(Message {
            role: Role::System,
            content: content(m.content.as_ref(), &content_at, false)?,
        }),
        "user" => Ok(Message {
            role: Role::User,
            content: content(m.content.as_ref(), &content_at, true)?,
        }),
        "assistant" => {
            let mut blocks = content(m.content.as_ref(), &content_at, false)?;
            if let Some(refusal) = m.refusal {
                blocks.push(Block::Text(refusal));
            }
            for (n, call) in m.tool_calls.into_iter().flatten().enumerate() {
                blocks.push(Block::ToolUse(tool_call(
                    call,
                    &format!("{at}.tool_calls[{n}]"),
                )?));
            }
            Ok(Message {
                role: Role::Assistant,
                content: blocks,
            })
        }
        "tool" => {
            let Some(id) = m.tool_call_id else {
                return Err(invalid(at, "a tool message needs `tool_call_id`"));
            };
            Ok(Message {
                role: Role::User,
                content: vec![Block::ToolResult(ToolResult {
                    tool_use_id: id,
                    name: None,
                    content: content(m.content.as_ref(), &content_at, false)?,
                    is_error: false,
                })],
            })
        }
        "function" => Err(unsupported(
            &format!("{at}.role"),
            "deprecated function messages are not translated; use tool messages",
        )),
        other => Err(invalid(
            &format!("{at}.role"),
            &format!("unknown role `{other}`"),
        )),
    }
}

/// Message content: a string or content parts; images only where `images` says so.
fn content(value: Option<&Value>, at: &str, images: bool) -> Result<Vec<Block>, TranslateError> {
    let parts = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(text)) => return Ok(vec![Block::Text(text.clone())]),
        Some(Value::Array(parts)) => parts,
        Some(_) => return Err(invalid(at, "must be a string or an array of parts")),
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "text" => match part.get("text").and_then(Value::as_str) {
                Some(text) => blocks.push(Block::Text(text.to_owned())),
                None => return Err(invalid(&at, "a text part needs `text`")),
            },
            "refusal" => match part.get("refusal").and_then(Value::as_str) {
                Some(text) => blocks.push(Block::Text(text.to_owned())),
                None => return Err(invalid(&at, "a refusal part needs `refusal`")),
            },
            "image_url" if images => {
                let url = part
                    .get("image_url")
                    .and_then(|i| i.get("url"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(&at, "an image_url part needs `image_url.url`"))?;
                blocks.push(Block::Image(image::from_url(url, &at)?));
            }
            "image_url" => return Err(invalid(&at, "this message takes no images")),
            "input_audio" | "file" => {
                return Err(unsupported(
                    &at,
                    &format!("`{kind}` parts have no counterpart in other APIs"),
                ))
            }
            other => {
                return Err(invalid(
                    &format!("{at}.type"),
                    &format!("unknown part type `{other}`"),
                ))
            }
        }
    }
    Ok(blocks)
}

fn tool_call(call: WireToolCall, at: &str) -> Result<ToolUse, TranslateError> {
    if let Some(kind) = call.kind.as_deref().filter(|k| *k != "function") {
        return Err(unsupported(
            &format!("{at}.type"),
            &format!("only function calls can be translated, not `{kind}`"),
        ));
    }
    Ok(ToolUse {
        id: call.id,
        name: call.function.name,
        input: arguments(
            &call.function.arguments,
            &format!("{at}.function.arguments"),
        )?,
    })
}

/// Arguments as the JSON object other APIs need; an empty string is a call without
/// arguments.
pub(super) fn arguments(text: &str, at: &str) -> Result<Map<String, Value>, TranslateError> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid(at, "must be a JSON object")),
        Err(e) => Err(invalid(at, &format!("is not valid JSON: {e}"))),
    }
}

fn tool_choice(value: &Value) -> Result<ToolChoice, TranslateError> {
    let at = "tool_choice";
    match value {
        Value::String(word) => super::tool_choice_word(word),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .map(|name| ToolChoice::Named(name.to_owned()))
                .ok_or_else(|| invalid(at, "needs `function.name`")),
            Some(kind) => Err(unsupported(
                &format!("{at}.type"),
                &format!("`{kind}` has no counterpart in other APIs"),
            )),
            None => Err(invalid(at, "needs `type`")),
        },
        _ => Err(invalid(at, "must be a string or an object")),
    }
}

/// `stop`: a string, a list of strings, or null.
fn stop(value: &Value) -> Result<Option<Vec<String>>, TranslateError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(vec![s.clone()])),
        Value::Array(items) => items
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid("stop", "must hold strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(invalid("stop", "must be a string or a list of strings")),
    }
}

fn response_format(value: &Value) -> Result<Option<ResponseFormat>, TranslateError> {
    let at = "response_format";
    match value.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat::Json)),
        Some("json_schema") => {
            let spec = value
                .get("json_schema")
                .ok_or_else(|| invalid(at, "json_schema needs `json_schema`"))?;
            Ok(Some(ResponseFormat::Schema {
                name: spec.get("name").and_then(Value::as_str).map(str::to_owned),
                schema: spec
                    .get("schema")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object"})),
                strict: spec.get("strict").and_then(Value::as_bool),
            }))
        }
        Some(other) => Err(invalid(
            &format!("{at}.type"),
            &format!("unknown type `{other}`"),
        )),
        None if value.is_null() => Ok(None),
        None => Err(invalid(at, "needs `type`")),
    }
}

pub fn render(chat: &Chat, dropped: &mut Vec<String>) -> Result<Value, TranslateError> {
    drop_ollama_extras(chat, dropped);
    let Sampling {
        max_tokens,
        temperature,
        top_p,
        top_k,
        stop,
        seed,
        frequency_penalty,
        presence_penalty,
    } = &chat.sampling;
    // A sampling hint OpenAI lacks.
    if top_k.is_some() {
        dropped.push("top_k".into());
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(chat.model));
    let mut messages = Vec::new();
    for (i, m) in chat.messages.iter().enumerate() {
        render_message(m, &format!("messages[{i}]"), &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));
    out.insert("stream".into(), json!(chat.stream));
    if chat.stream {
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let numbers = [
        ("max_tokens", max_tokens.map(Value::from)),
        ("temperature", temperature.map(Value::from)),
        ("top_p", top_p.map(Value::from)),
        ("seed", seed.map(Value::from)),
        ("frequency_penalty", frequency_penalty.map(Value::from)),
        ("presence_penalty", presence_penalty.map(Value::from)),
    ];
    for (key, value) in numbers {
        if let Some(value) = value {
            out.insert(key.into(), value);
        }
    }
    if let Some(stop) = stop {
        out.insert("stop".into(), json!(stop));
    }
    if let Some(tools) = &chat.tools {
        out.insert("tools".into(), tools.iter().map(tool).collect());
    }
    if let Some(choice) = &chat.tool_choice {
        out.insert(
            "tool_choice".into(),
            match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Named(name) => json!({"type": "function", "function": {"name": name}}),
            },
        );
    }
    if let Some(parallel) = chat.parallel_tool_calls {
        out.insert("parallel_tool_calls".into(), json!(parallel));
    }
    if let Some(format) = &chat.format {
        out.insert(
            "response_format".into(),
            match format {
                ResponseFormat::Json => json!({"type": "json_object"}),
                ResponseFormat::Schema {
                    name,
                    schema,
                    strict,
                } => {
                    let mut spec = Map::new();
                    spec.insert("name".into(), json!(name.as_deref().unwrap_or("response")));
                    spec.insert("schema".into(), schema.clone());
                    if let Some(strict) = strict {
                        spec.insert("strict".into(), json!(strict));
                    }
                    json!({"type": "json_schema", "json_schema": spec})
                }
            },
        );
    }
    if let Some(effort) = reasoning_effort(chat.reasoning.as_ref(), dropped) {
        out.insert("reasoning_effort".into(), json!(effort));
    }
    if let Some(user) = &chat.user {
        out.insert("user".into(), json!(user));
    }
    Ok(Value::Object(out))
}

/// OpenAI's `reasoning_effort` for a reasoning setting. A thinking budget becomes the level
/// that spends about as much (up to 4096 tokens `low`, up to 16384 `medium`, else `high`);
/// thinking switched on without a budget is what a reasoning model does by default, so it
/// is dropped and named; Anthropic's `max` effort is OpenAI's `high`. Thinking switched off
/// sends nothing: OpenAI has no switch, and non-reasoning models do not think anyway.
fn reasoning_effort(reasoning: Option<&Reasoning>, dropped: &mut Vec<String>) -> Option<String> {
    match reasoning? {
        Reasoning::Off => None,
        Reasoning::Effort(level) if level == "max" => Some("high".into()),
        Reasoning::Effort(level) => Some(level.clone()),
        Reasoning::On {
            budget_tokens: Some(budget),
        } => Some(
            match budget {
                0..=4096 => "low",
                4097..=16384 => "medium",
                _ => "high",
            }
            .into(),
        ),
        Reasoning::On {
            budget_tokens: None,
        } => {
            dropped.push("thinking".into());
            None
        }
    }
}

fn tool(t: &Tool) -> Value {
    let mut function = Map::new();
    function.insert("name".into(), json!(t.name));
    if let Some(description) = &t.description {
        function.insert("description".into(), json!(description));
    }
    if let Some(parameters) = &t.parameters {
        function.insert("parameters".into(), parameters.clone());
    }
    json!({"type": "function", "function": function})
}

/// One canonical turn as one or more OpenAI messages: tool results become `role: tool`
/// messages, in place.
fn render_message(m: &Message, at: &str, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    match m.role {
        Role::System => {
            let parts = texts(&m.content, &format!("{at}.content"), TARGET)?;
            out.push(json!({"role": "system", "content": text_content(&parts)}));
        }
        Role::User => {
            let mut pending: Vec<&Block> = Vec::new();
            for block in &m.content {
                match block {
                    Block::ToolResult(result) => {
                        flush_user(&mut pending, at, out)?;
                        let parts = texts(&result.content, &format!("{at}.tool_result"), TARGET)?;
                        out.push(json!({
                            "role": "tool",
                            "tool_call_id": result.tool_use_id,
                            "content": text_content(&parts),
                        }));
                    }
                    other => pending.push(other),
                }
            }
            flush_user(&mut pending, at, out)?;
        }
        Role::Assistant => {
            let mut text = Vec::new();
            let mut calls = Vec::new();
            for block in &m.content {
                match block {
                    Block::Text(t) => text.push(t.as_str()),
                    Block::ToolUse(call) => calls.push(json!({
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": Value::Object(call.input.clone()).to_string(),
                        },
                    })),
                    // OpenAI chat takes no reasoning back.
                    Block::Thinking { .. } => {}
                    Block::Image(_) | Block::ToolResult(_) => {
                        return Err(unsupported(
                            at,
                            "an OpenAI assistant message holds only text and tool calls",
                        ))
                    }
                }
            }
            let mut msg = Map::new();
            msg.insert("role".into(), json!("assistant"));
            let content = if text.is_empty() && !calls.is_empty() {
                Value::Null
            } else {
                text_content(&text)
            };
            msg.insert("content".into(), content);
            if !calls.is_empty() {
                msg.insert("tool_calls".into(), Value::Array(calls));
            }
            out.push(Value::Object(msg));
        }
    }
    Ok(())
}

/// The user blocks gathered so far as one user message.
fn flush_user(
    pending: &mut Vec<&Block>,
    at: &str,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    if pending.is_empty() {
        return Ok(());
    }
    let content = match pending.as_slice() {
        [Block::Text(text)] => json!(text),
        blocks => {
            let mut parts = Vec::with_capacity(blocks.len());
            for block in blocks {
                match block {
                    Block::Text(text) => parts.push(json!({"type": "text", "text": text})),
                    Block::Image(Image::Base64 { media_type, data }) => parts.push(json!({
                        "type": "image_url",
                        "image_url": {"url": image::data_url(image::known_type(media_type, at)?, data)},
                    })),
                    Block::Image(Image::Url(url)) => {
                        parts.push(json!({"type": "image_url", "image_url": {"url": url}}))
                    }
                    Block::Thinking { .. } => {}
                    Block::ToolUse(_) | Block::ToolResult(_) => {
                        return Err(unsupported(at, "a tool call cannot be a user's"))
                    }
                }
            }
            Value::Array(parts)
        }
    };
    out.push(json!({"role": "user", "content": content}));
    pending.clear();
    Ok(())
}

/// One text part as a string, several as text parts (nothing: an empty string).
fn text_content(parts: &[&str]) -> Value {
    match parts {
        [] => json!(""),
        [one] => json!(one),
        many => many
            .iter()
            .map(|t| json!({"type": "text", "text": t}))
            .collect(),
    }
}
