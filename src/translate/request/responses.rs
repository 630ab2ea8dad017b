//! OpenAI Responses (`POST /v1/responses`) into the canonical request. Only ever a client
//! dialect: nodes are sent chat (or, when they serve the Responses API themselves, the body
//! untouched by the gateway).
//!
//! Drover keeps nothing, so what needs a stored response or conversation
//! (`previous_response_id`, `conversation`, `background`, `prompt` templates,
//! `item_reference` items) is refused naming the field. Hints and bookkeeping are dropped
//! and named in [`Chat::dropped`]; `null` is the default and is neither.
//!
//! `custom` (freeform) tools become function tools with one string parameter `input`; the
//! answer turns a call of one back into a `custom_tool_call` (see [`ResponsesEcho`]).
//! Hosted tools the node cannot run (`web_search`, `file_search`, `local_shell`…) are
//! dropped and named.

use serde_json::{json, Map, Value};

use super::{
    image, invalid,
    ir::{
        Block, Chat, Message, Reasoning, ResponseFormat, Role, Sampling, Tool, ToolChoice,
        ToolResult, ToolUse,
    },
    openai::arguments,
    unsupported,
};
use crate::translate::{EchoFields, ResponsesEcho, TranslateError};

/// The parameter a `custom` tool's free text travels in as a function argument.
pub const CUSTOM_INPUT: &str = "input";

/// Tools OpenAI runs itself (or only its own models call): a node cannot, so they are
/// dropped from the request.
const HOSTED_TOOLS: &[&str] = &[
    "web_search",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "web_search_2025_08_26",
    "file_search",
    "code_interpreter",
    "image_generation",
    "computer_use_preview",
    "computer_use",
    "mcp",
    "local_shell",
    "shell",
    "apply_patch",
    // A group of functions called through OpenAI's namespaced tool calls (Codex sends
    // `multi_agent_v1`); chat APIs have no namespaces, so the group is left out whole.
    "namespace",
];

/// Top-level fields that only steer OpenAI's own service or bookkeeping: dropped.
const HINTS: &[&str] = &[
    "metadata",
    "include",
    "prompt_cache_key",
    "prompt_cache_retention",
    "service_tier",
    "truncation",
    "stream_options",
    "max_tool_calls",
];

/// Fields that need state Drover does not keep.
const STATEFUL: &[(&str, &str)] = &[
    (
        "previous_response_id",
        "Drover is stateless and keeps no responses; send the whole conversation in `input`",
    ),
    (
        "conversation",
        "Drover is stateless and keeps no conversations; send the whole conversation in `input`",
    ),
    (
        "prompt",
        "Drover keeps no prompt templates; send the instructions and input themselves",
    ),
];

pub fn parse(body: &[u8]) -> Result<Chat, TranslateError> {
    let mut r: Map<String, Value> = super::parse(body)?;
    // `null` is every field's default.
    r.retain(|_, v| !v.is_null());
    refuse_stateful(&r)?;
    let mut chat = Chat {
        model: take_string(&mut r, "model")?.unwrap_or_default(),
        stream: take_bool(&mut r, "stream")?.unwrap_or(false),
        parallel_tool_calls: take_bool(&mut r, "parallel_tool_calls")?,
        ..Chat::default()
    };
    chat.sampling = Sampling {
        max_tokens: take_u64(&mut r, "max_output_tokens")?,
        temperature: take_f64(&mut r, "temperature")?,
        top_p: take_f64(&mut r, "top_p")?,
        ..Sampling::default()
    };
    let safety = take_string(&mut r, "safety_identifier")?;
    chat.user = take_string(&mut r, "user")?.or(safety);
    if let Some(instructions) = r.remove("instructions") {
        let text = match instructions {
            Value::String(text) => text,
            _ => return Err(invalid("instructions", "must be a string")),
        };
        chat.messages.push(Message {
            role: Role::System,
            content: vec![Block::Text(text)],
        });
    }
    match r.remove("input") {
        None => {}
        Some(Value::String(text)) => chat.messages.push(Message {
            role: Role::User,
            content: vec![Block::Text(text)],
        }),
        Some(Value::Array(items)) => input_items(items, &mut chat)?,
        Some(_) => {
            return Err(invalid(
                "input",
                "must be a string or an array of input items",
            ))
        }
    }
    if let Some(tools) = r.remove("tools") {
        let Value::Array(tools) = tools else {
            return Err(invalid("tools", "must be an array"));
        };
        let mut kept = Vec::with_capacity(tools.len());
        for (i, t) in tools.into_iter().enumerate() {
            if let Some(tool) = tool(t, &format!("tools[{i}]"), &mut chat.dropped)? {
                kept.push(tool);
            }
        }
        chat.tools = (!kept.is_empty()).then_some(kept);
    }
    if let Some(choice) = r.remove("tool_choice") {
        let choice = tool_choice(&choice)?;
        match (&chat.tools, &choice) {
            (Some(_), _) => chat.tool_choice = Some(choice),
            // No tool is left (none was sent, or every one was hosted and dropped): no
            // choice among them either.
            (None, ToolChoice::Auto | ToolChoice::None) => {}
            (None, _) => chat.dropped.push("tool_choice".into()),
        }
    }
    if let Some(reasoning) = r.remove("reasoning") {
        chat.reasoning = self::reasoning(reasoning, &mut chat.dropped)?;
    }
    if let Some(text) = r.remove("text") {
        chat.format = text_format(text, &mut chat.dropped)?;
    }
    if let Some(background) = r.remove("background") {
        match background {
            Value::Bool(false) => {}
            Value::Bool(true) => {
                return Err(invalid(
                    "background",
                    "Drover keeps no responses to poll; ask without `background: true`",
                ))
            }
            _ => return Err(invalid("background", "must be a boolean")),
        }
    }
    if let Some(top) = r.remove("top_logprobs") {
        if top != json!(0) {
            return Err(unsupported(
                "top_logprobs",
                "other APIs answer without log probabilities",
            ));
        }
    }
    // Drover keeps nothing: the answer says `store: false` whatever was asked.
    match r.remove("store") {
        Some(Value::Bool(false)) | None => {}
        Some(Value::Bool(true)) => chat.dropped.push("store".into()),
        Some(_) => return Err(invalid("store", "must be a boolean")),
    }
    // Hints first in a fixed order, then the fields Drover does not know, as they came.
    for hint in HINTS {
        if r.remove(*hint).is_some() {
            chat.dropped.push((*hint).into());
        }
    }
    chat.dropped.extend(r.keys().cloned());
    Ok(chat)
}

fn refuse_stateful(r: &Map<String, Value>) -> Result<(), TranslateError> {
    for (field, why) in STATEFUL {
        if r.contains_key(*field) {
            return Err(invalid(field, why));
        }
    }
    Ok(())
}

/// What the answer repeats of the request, as OpenAI's does, read leniently: the parser has
/// judged the body already.
pub fn echo(body: &[u8]) -> ResponsesEcho {
    let Ok(Value::Object(mut r)) = serde_json::from_slice::<Value>(body) else {
        return ResponsesEcho::default();
    };
    let mut fields = Map::new();
    let defaults = [
        ("instructions", Value::Null),
        ("tools", json!([])),
        ("tool_choice", json!("auto")),
        ("parallel_tool_calls", json!(true)),
        ("temperature", json!(1.0)),
        ("top_p", json!(1.0)),
        ("max_output_tokens", Value::Null),
        ("text", json!({"format": {"type": "text"}})),
        ("truncation", json!("disabled")),
        ("metadata", json!({})),
        ("reasoning", json!({"effort": null, "summary": null})),
        ("user", Value::Null),
    ];
    for (field, default) in defaults {
        let value = r.remove(field).filter(|v| !v.is_null()).unwrap_or(default);
        fields.insert(field.into(), value);
    }
    let custom_tools = fields
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.get("type").and_then(Value::as_str) == Some("custom"))
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    ResponsesEcho {
        fields: EchoFields::render(fields),
        custom_tools,
    }
}

/// Input items in order. Assistant output (messages, reasoning, calls) that follows one
/// another is one assistant turn, tool outputs that follow one another one user turn, as
/// the canonical request keeps them.
fn input_items(items: Vec<Value>, chat: &mut Chat) -> Result<(), TranslateError> {
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("input[{i}]");
        let Value::Object(item) = item else {
            return Err(invalid(&at, "an input item must be an object"));
        };
        let kind = match item.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            None if item.contains_key("role") => "message",
            Some(_) => return Err(invalid(&format!("{at}.type"), "must be a string")),
            None => return Err(invalid(&format!("{at}.type"), "is required")),
        };
        match kind {
            "message" => {
                let (role, content) = message(&item, &at)?;
                push(chat, role, content);
            }
            "function_call" => {
                let call = ToolUse {
                    id: string_field(&item, "call_id", &at)?,
                    name: string_field(&item, "name", &at)?,
                    input: arguments(
                        &string_field(&item, "arguments", &at)?,
                        &format!("{at}.arguments"),
                    )?,
                };
                push(chat, Role::Assistant, vec![Block::ToolUse(call)]);
            }
            "custom_tool_call" => {
                let mut input = Map::new();
                input.insert(
                    CUSTOM_INPUT.into(),
                    Value::String(string_field(&item, "input", &at)?),
                );
                let call = ToolUse {
                    id: string_field(&item, "call_id", &at)?,
                    name: string_field(&item, "name", &at)?,
                    input,
                };
                push(chat, Role::Assistant, vec![Block::ToolUse(call)]);
            }
            "function_call_output" | "custom_tool_call_output" => {
                let id = string_field(&item, "call_id", &at)?;
                let name = chat.tool_name(&id).map(str::to_owned);
                if name.is_none() {
                    return Err(invalid(
                        &format!("{at}.call_id"),
                        &format!("no function_call with call_id `{id}` comes before this output"),
                    ));
                }
                let content = match item.get("output") {
                    Some(Value::String(text)) => vec![Block::Text(text.clone())],
                    Some(Value::Array(parts)) => parts_of(parts, &format!("{at}.output"), true)?,
                    _ => {
                        return Err(invalid(
                            &format!("{at}.output"),
                            "must be a string or an array of parts",
                        ))
                    }
                };
                let result = ToolResult {
                    tool_use_id: id,
                    name,
                    content,
                    is_error: false,
                };
                push(chat, Role::User, vec![Block::ToolResult(result)]);
            }
            "reasoning" => {
                let text = summary(&item, &at)?;
                if item.get("encrypted_content").is_some_and(|v| !v.is_null()) {
                    chat.dropped.push(format!("{at}.encrypted_content"));
                }
                if text.is_empty() {
                    continue;
                }
                let thinking = Block::Thinking {
                    text,
                    signature: None,
                };
                push(chat, Role::Assistant, vec![thinking]);
            }
            "item_reference" => {
                return Err(invalid(
                    &at,
                    "Drover is stateless and keeps no items to reference; send the item itself",
                ))
            }
            "local_shell_call"
            | "local_shell_call_output"
            | "shell_call"
            | "shell_call_output"
            | "apply_patch_call"
            | "apply_patch_call_output"
            | "web_search_call"
            | "file_search_call"
            | "computer_call"
            | "computer_call_output"
            | "image_generation_call"
            | "code_interpreter_call"
            | "mcp_call"
            | "mcp_list_tools"
            | "mcp_approval_request"
            | "mcp_approval_response" => {
                return Err(unsupported(
                    &format!("{at}.type"),
                    &format!(
                        "`{kind}` is a call of a tool OpenAI runs; other APIs cannot replay it"
                    ),
                ))
            }
            other => {
                return Err(invalid(
                    &format!("{at}.type"),
                    &format!("unknown input item type `{other}`"),
                ))
            }
        }
    }
    Ok(())
}

/// Appends blocks to the last turn when it is the same role (and not a system turn), else
/// starts a turn.
fn push(chat: &mut Chat, role: Role, content: Vec<Block>) {
    match chat.messages.last_mut() {
        Some(last) if last.role == role && role != Role::System => last.content.extend(content),
        _ => chat.messages.push(Message { role, content }),
    }
}

fn message(item: &Map<String, Value>, at: &str) -> Result<(Role, Vec<Block>), TranslateError> {
    let role = match item.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("system" | "developer") => Role::System,
        Some(other) => {
            return Err(invalid(
                &format!("{at}.role"),
                &format!("unknown role `{other}`"),
            ))
        }
        None => return Err(invalid(&format!("{at}.role"), "is required")),
    };
    let content_at = format!("{at}.content");
    let content = match item.get("content") {
        Some(Value::String(text)) => vec![Block::Text(text.clone())],
        Some(Value::Array(parts)) => parts_of(parts, &content_at, role == Role::User)?,
        _ => {
            return Err(invalid(
                &content_at,
                "must be a string or an array of parts",
            ))
        }
    };
    Ok((role, content))
}

/// Content parts: text of any kind, and images where `images` says so.
fn parts_of(parts: &[Value], at: &str, images: bool) -> Result<Vec<Block>, TranslateError> {
    let mut blocks = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
        let text = |field: &str| {
            part.get(field)
                .and_then(Value::as_str)
                .map(|t| Block::Text(t.to_owned()))
                .ok_or_else(|| invalid(&at, &format!("a `{kind}` part needs `{field}`")))
        };
        match kind {
            "input_text" | "output_text" | "text" | "summary_text" => blocks.push(text("text")?),
            "refusal" => blocks.push(text("refusal")?),
            "input_image" if !images => return Err(invalid(&at, "only user content takes images")),
            "input_image" => {
                if part.get("file_id").is_some_and(|v| !v.is_null()) {
                    return Err(unsupported(
                        &format!("{at}.file_id"),
                        "Drover keeps no files; send the image as a data: or http(s) URL",
                    ));
                }
                let url = part
                    .get("image_url")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(&at, "an input_image part needs `image_url`"))?;
                blocks.push(Block::Image(image::from_url(
                    url,
                    &format!("{at}.image_url"),
                )?));
            }
            "input_file" | "input_audio" => {
                return Err(unsupported(
                    &at,
                    &format!("`{kind}` parts have no counterpart in other APIs"),
                ))
            }
            other => {
                return Err(invalid(
                    &format!("{at}.type"),
                    &format!("unknown content part type `{other}`"),
                ))
            }
        }
    }
    Ok(blocks)
}

/// A reasoning item's summary text, its parts joined by blank lines; without a summary, its
/// `content` text (the raw reasoning open-weight models return there).
fn summary(item: &Map<String, Value>, at: &str) -> Result<String, TranslateError> {
    let (field, parts) = match (item.get("summary"), item.get("content")) {
        (Some(Value::Array(parts)), _) if !parts.is_empty() => ("summary", parts),
        (Some(Value::Array(_)) | None | Some(Value::Null), Some(Value::Array(parts))) => {
            ("content", parts)
        }
        (None | Some(Value::Null) | Some(Value::Array(_)), _) => return Ok(String::new()),
        (Some(_), _) => return Err(invalid(&format!("{at}.summary"), "must be an array")),
    };
    let mut texts = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        match part.get("text").and_then(Value::as_str) {
            Some(text) => texts.push(text),
            None => {
                return Err(invalid(
                    &format!("{at}.{field}[{i}]"),
                    "a reasoning part needs `text`",
                ))
            }
        }
    }
    Ok(texts.join("\n\n"))
}

/// One tool, `None` when it is a hosted tool (named in `dropped`).
fn tool(value: Value, at: &str, dropped: &mut Vec<String>) -> Result<Option<Tool>, TranslateError> {
    let Value::Object(mut t) = value else {
        return Err(invalid(at, "a tool must be an object"));
    };
    let kind = match t.get("type").and_then(Value::as_str) {
        Some(kind) => kind.to_owned(),
        None => return Err(invalid(&format!("{at}.type"), "is required")),
    };
    let name = |t: &mut Map<String, Value>| match t.remove("name") {
        Some(Value::String(name)) => Ok(name),
        _ => Err(invalid(
            &format!("{at}.name"),
            "is required and must be a string",
        )),
    };
    let description = |t: &mut Map<String, Value>| match t.remove("description") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(d)) => Ok(Some(d)),
        Some(_) => Err(invalid(&format!("{at}.description"), "must be a string")),
    };
    match kind.as_str() {
        "function" => Ok(Some(Tool {
            name: name(&mut t)?,
            description: description(&mut t)?,
            parameters: t.remove("parameters").filter(|p| !p.is_null()),
        })),
        "custom" => {
            let name = name(&mut t)?;
            let description = description(&mut t)?;
            // A grammar the node cannot enforce: the model is told the text's shape by the
            // description alone.
            if t.get("format").is_some_and(|f| {
                !f.is_null() && f.get("type").and_then(Value::as_str) != Some("text")
            }) {
                dropped.push(format!("{at}.format"));
            }
            Ok(Some(Tool {
                name,
                description,
                parameters: Some(json!({
                    "type": "object",
                    "properties": {CUSTOM_INPUT: {"type": "string", "description": "The tool's input, as free text."}},
                    "required": [CUSTOM_INPUT],
                    "additionalProperties": false,
                })),
            }))
        }
        hosted if HOSTED_TOOLS.contains(&hosted) || hosted.starts_with("web_search") => {
            dropped.push(at.to_owned());
            Ok(None)
        }
        other => Err(invalid(
            &format!("{at}.type"),
            &format!("unknown tool type `{other}`"),
        )),
    }
}

fn tool_choice(value: &Value) -> Result<ToolChoice, TranslateError> {
    let at = "tool_choice";
    match value {
        Value::String(word) => super::tool_choice_word(word),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => o
                .get("name")
                .and_then(Value::as_str)
                .map(|name| ToolChoice::Named(name.to_owned()))
                .ok_or_else(|| invalid(at, "needs `name`")),
            Some(kind) => Err(unsupported(
                &format!("{at}.type"),
                &format!("`{kind}` has no counterpart in other APIs"),
            )),
            None => Err(invalid(at, "needs `type`")),
        },
        _ => Err(invalid(at, "must be a string or an object")),
    }
}

/// `reasoning.effort` is the effort; `summary` (how much of it to show) is a hint.
fn reasoning(value: Value, dropped: &mut Vec<String>) -> Result<Option<Reasoning>, TranslateError> {
    let Value::Object(mut r) = value else {
        return Err(invalid("reasoning", "must be an object"));
    };
    let effort = match r.remove("effort") {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) if e == "none" => Some(Reasoning::Off),
        Some(Value::String(e)) => Some(Reasoning::Effort(e)),
        Some(_) => return Err(invalid("reasoning.effort", "must be a string")),
    };
    for (key, value) in r {
        if !value.is_null() {
            dropped.push(format!("reasoning.{key}"));
        }
    }
    Ok(effort)
}

/// `text.format` is the answer's shape; `verbosity` a hint.
fn text_format(
    value: Value,
    dropped: &mut Vec<String>,
) -> Result<Option<ResponseFormat>, TranslateError> {
    let Value::Object(mut t) = value else {
        return Err(invalid("text", "must be an object"));
    };
    let format = match t.remove("format") {
        None | Some(Value::Null) => None,
        Some(f) => match f.get("type").and_then(Value::as_str) {
            Some("text") => None,
            Some("json_object") => Some(ResponseFormat::Json),
            Some("json_schema") => Some(ResponseFormat::Schema {
                name: f.get("name").and_then(Value::as_str).map(str::to_owned),
                schema: f
                    .get("schema")
                    .cloned()
                    .ok_or_else(|| invalid("text.format.schema", "is required for json_schema"))?,
                strict: f.get("strict").and_then(Value::as_bool),
            }),
            Some(other) => {
                return Err(invalid(
                    "text.format.type",
                    &format!("unknown format `{other}`"),
                ))
            }
            None => return Err(invalid("text.format.type", "is required")),
        },
    };
    for (key, value) in t {
        if !value.is_null() {
            dropped.push(format!("text.{key}"));
        }
    }
    Ok(format)
}

fn string_field(
    item: &Map<String, Value>,
    field: &str,
    at: &str,
) -> Result<String, TranslateError> {
    match item.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid(&format!("{at}.{field}"), "must be a string")),
        None => Err(invalid(&format!("{at}.{field}"), "is required")),
    }
}

fn take_string(r: &mut Map<String, Value>, field: &str) -> Result<Option<String>, TranslateError> {
    match r.remove(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn take_bool(r: &mut Map<String, Value>, field: &str) -> Result<Option<bool>, TranslateError> {
    match r.remove(field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(invalid(field, "must be a boolean")),
    }
}

fn take_u64(r: &mut Map<String, Value>, field: &str) -> Result<Option<u64>, TranslateError> {
    match r.remove(field) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(field, "must be a non-negative integer")),
    }
}

fn take_f64(r: &mut Map<String, Value>, field: &str) -> Result<Option<f64>, TranslateError> {
    match r.remove(field) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(field, "must be a number")),
    }
}
