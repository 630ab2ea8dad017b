//! Anthropic Messages (`POST /v1/messages`) to and from the canonical request.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    drop_field, drop_ollama_extras, drop_unknown, image, invalid,
    ir::{
        Block, Chat, Image, Message, Reasoning, ResponseFormat, Role, Sampling, Tool, ToolChoice,
        ToolResult, ToolUse,
    },
    texts, unsupported,
};
use crate::translate::{Options, TranslateError};

const TARGET: &str = "Anthropic";

/// Why an Anthropic body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A message to answer: `max_tokens` is required, as Anthropic requires it.
    Answer,
    /// A `count_tokens` body: the same, without `max_tokens`.
    Count,
}

/// The request as Anthropic defines it. Hints with no counterpart elsewhere
/// (`context_management`, `cache_control`, `service_tier`, unknown fields) are dropped and
/// named; what runs on Anthropic's side only (`container`, `mcp_servers`) is refused.
#[derive(Debug, Deserialize)]
struct Request {
    #[serde(default)]
    model: String,
    messages: Option<Vec<WireMessage>>,
    max_tokens: Option<u64>,
    system: Option<Value>,
    metadata: Option<Map<String, Value>>,
    stop_sequences: Option<Vec<String>>,
    stream: Option<bool>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u64>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    thinking: Option<Value>,
    output_config: Option<Map<String, Value>>,
    // Run by Anthropic itself: refused.
    container: Option<Value>,
    mcp_servers: Option<Value>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    content: Option<Value>,
}

pub fn parse(body: &[u8], purpose: Purpose) -> Result<Chat, TranslateError> {
    let r: Request = super::parse(body)?;
    let mut dropped = Vec::new();
    for (field, value) in [("container", &r.container), ("mcp_servers", &r.mcp_servers)] {
        if value.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(unsupported(field, "it runs on Anthropic's side only"));
        }
    }
    let wire_messages = match r.messages {
        Some(m) if !m.is_empty() => m,
        _ => return Err(invalid("messages", "at least one message is required")),
    };
    if purpose == Purpose::Answer {
        match r.max_tokens {
            None => return Err(invalid("max_tokens", "Field required")),
            Some(0) => return Err(invalid("max_tokens", "must be greater than or equal to 1")),
            Some(_) => {}
        }
    }
    drop_unknown(&r.unknown, &mut dropped);
    let mut messages = Vec::with_capacity(wire_messages.len() + 1);
    if let Some(system) = &r.system {
        let content = system_blocks(system, "system", &mut dropped)?;
        if !content.is_empty() {
            messages.push(Message {
                role: Role::System,
                content,
            });
        }
    }
    for (i, m) in wire_messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let Some(value) = &m.content else {
            return Err(invalid(&format!("{at}.content"), "Field required"));
        };
        let content_at = format!("{at}.content");
        let (role, content) = match m.role.as_str() {
            "user" => (Role::User, content(value, &content_at, &mut dropped)?),
            "assistant" => (Role::Assistant, content(value, &content_at, &mut dropped)?),
            // Mid-conversation system messages (Claude Code sends them with a beta header):
            // text, kept in place.
            "system" => (
                Role::System,
                system_blocks(value, &content_at, &mut dropped)?,
            ),
            other => {
                return Err(invalid(
                    &format!("{at}.role"),
                    &format!("unknown role `{other}`"),
                ))
            }
        };
        messages.push(Message { role, content });
    }
    let mut parallel_tool_calls = None;
    let tool_choice = match &r.tool_choice {
        Some(Value::Null) | None => None,
        Some(value) => {
            let (choice, parallel) = tool_choice(value)?;
            parallel_tool_calls = parallel;
            Some(choice)
        }
    };
    let tools = r
        .tools
        .map(|tools| {
            tools
                .iter()
                .enumerate()
                .map(|(i, t)| tool(t, &format!("tools[{i}]"), &mut dropped))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let mut output = r.output_config.unwrap_or_default();
    let effort = match output.remove("effort") {
        None | Some(Value::Null) => None,
        Some(Value::String(level)) => Some(level),
        Some(_) => return Err(invalid("output_config.effort", "must be a string")),
    };
    let format = match output.remove("format") {
        None | Some(Value::Null) => None,
        Some(spec) => output_format(&spec)?,
    };
    for (key, value) in &output {
        if !value.is_null() {
            drop_field(&mut dropped, format!("output_config.{key}"));
        }
    }
    let reasoning = reasoning(r.thinking.as_ref(), effort, &mut dropped)?;
    let mut user = None;
    for (key, value) in r.metadata.unwrap_or_default() {
        match (key.as_str(), value) {
            (_, Value::Null) => {}
            ("user_id", Value::String(id)) => user = Some(id),
            ("user_id", _) => return Err(invalid("metadata.user_id", "must be a string")),
            (other, _) => drop_field(&mut dropped, format!("metadata.{other}")),
        }
    }
    Ok(Chat {
        model: r.model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        sampling: Sampling {
            max_tokens: r.max_tokens,
            temperature: r.temperature,
            top_p: r.top_p,
            top_k: r.top_k,
            stop: r.stop_sequences,
            ..Default::default()
        },
        stream: r.stream.unwrap_or(false),
        format,
        reasoning,
        user,
        ollama: Default::default(),
        dropped,
    })
}

/// `output_config.format`: Anthropic's structured output, a JSON schema.
fn output_format(spec: &Value) -> Result<Option<ResponseFormat>, TranslateError> {
    let at = "output_config.format";
    match spec.get("type").and_then(Value::as_str) {
        Some("json_schema") => Ok(Some(ResponseFormat::Schema {
            name: None,
            schema: spec
                .get("schema")
                .cloned()
                .ok_or_else(|| invalid(at, "a json_schema format needs `schema`"))?,
            strict: None,
        })),
        Some(other) => Err(unsupported(
            &format!("{at}.type"),
            &format!("`{other}` has no counterpart in other APIs"),
        )),
        None => Err(invalid(at, "needs `type`")),
    }
}

/// The top-level `system` or a system message's content: a string or text blocks.
fn system_blocks(
    value: &Value,
    at: &str,
    dropped: &mut Vec<String>,
) -> Result<Vec<Block>, TranslateError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => Ok(vec![Block::Text(text.clone())]),
        Value::Array(blocks) => blocks
            .iter()
            .enumerate()
            .map(|(i, b)| match b.get("type").and_then(Value::as_str) {
                Some("text") => {
                    drop_block_hints(b, dropped);
                    b.get("text")
                        .and_then(Value::as_str)
                        .map(|t| Block::Text(t.to_owned()))
                        .ok_or_else(|| invalid(&format!("{at}[{i}]"), "needs `text`"))
                }
                _ => Err(invalid(&format!("{at}[{i}]"), "must be a text block")),
            })
            .collect(),
        _ => Err(invalid(at, "must be a string or text blocks")),
    }
}

/// Names a block's hints that no other API has: `cache_control` (a caching hint) and
/// `citations` (asks Anthropic to cite its sources).
fn drop_block_hints(b: &Value, dropped: &mut Vec<String>) {
    for hint in ["cache_control", "citations"] {
        if b.get(hint).is_some_and(|v| !v.is_null()) {
            drop_field(dropped, hint);
        }
    }
}

/// A message's content: a string or content blocks.
fn content(
    value: &Value,
    at: &str,
    dropped: &mut Vec<String>,
) -> Result<Vec<Block>, TranslateError> {
    let blocks = match value {
        Value::String(text) => return Ok(vec![Block::Text(text.clone())]),
        Value::Array(blocks) => blocks,
        _ => return Err(invalid(at, "must be a string or an array of blocks")),
    };
    let mut out = Vec::with_capacity(blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        if let Some(block) = block(b, &format!("{at}[{i}]"), true, dropped)? {
            out.push(block);
        }
    }
    Ok(out)
}

/// One content block; `None` for what is dropped. Only `top`-level blocks may be tool
/// blocks or thinking: a tool result's content holds text and images.
fn block(
    b: &Value,
    at: &str,
    top: bool,
    dropped: &mut Vec<String>,
) -> Result<Option<Block>, TranslateError> {
    let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
    drop_block_hints(b, dropped);
    let str_field = |key: &str| -> Result<String, TranslateError> {
        b.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| invalid(at, &format!("a {kind} block needs `{key}`")))
    };
    Ok(Some(match kind {
        "text" => Block::Text(str_field("text")?),
        "image" => Block::Image(image_source(b.get("source"), &format!("{at}.source"))?),
        "tool_use" if top => {
            let input = match b.get("input") {
                Some(Value::Object(map)) => map.clone(),
                None => Map::new(),
                Some(_) => return Err(invalid(&format!("{at}.input"), "must be an object")),
            };
            Block::ToolUse(ToolUse {
                id: str_field("id")?,
                name: str_field("name")?,
                input,
            })
        }
        "tool_result" if top => {
            let content = match b.get("content") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(text)) => vec![Block::Text(text.clone())],
                Some(Value::Array(items)) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        if let Some(inner) =
                            block(item, &format!("{at}.content[{i}]"), false, dropped)?
                        {
                            out.push(inner);
                        }
                    }
                    out
                }
                Some(_) => return Err(invalid(&format!("{at}.content"), "must be text or blocks")),
            };
            Block::ToolResult(ToolResult {
                tool_use_id: str_field("tool_use_id")?,
                name: None,
                content,
                is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
            })
        }
        "thinking" if top => Block::Thinking {
            text: str_field("thinking")?,
            signature: b
                .get("signature")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        // Opaque to every other API.
        "redacted_thinking" if top => return Ok(None),
        "" => return Err(invalid(at, "a block needs `type`")),
        other => {
            return Err(unsupported(
                at,
                &format!("`{other}` blocks have no counterpart in other APIs"),
            ))
        }
    }))
}

fn image_source(source: Option<&Value>, at: &str) -> Result<Image, TranslateError> {
    let source = source.ok_or_else(|| invalid(at, "an image needs `source`"))?;
    let field = |key: &str| {
        source
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| invalid(at, &format!("needs `{key}`")))
    };
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => Ok(Image::Base64 {
            media_type: field("media_type")?,
            data: field("data")?,
        }),
        Some("url") => Ok(Image::Url(field("url")?)),
        Some(other) => Err(unsupported(
            &format!("{at}.type"),
            &format!("`{other}` image sources have no counterpart in other APIs"),
        )),
        None => Err(invalid(at, "needs `type`")),
    }
}

fn tool(t: &Value, at: &str, dropped: &mut Vec<String>) -> Result<Tool, TranslateError> {
    if let Some(kind) = t
        .get("type")
        .and_then(Value::as_str)
        .filter(|k| *k != "custom")
    {
        return Err(unsupported(
            &format!("{at}.type"),
            &format!("Anthropic's `{kind}` tool runs on Anthropic's side only"),
        ));
    }
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(at, "a tool needs `name`"))?;
    // Streaming and caching hints, and Claude Code's `defer_loading`: no counterpart.
    for hint in ["cache_control", "eager_input_streaming", "defer_loading"] {
        if t.get(hint).is_some_and(|v| !v.is_null()) {
            drop_field(dropped, hint);
        }
    }
    Ok(Tool {
        name: name.to_owned(),
        description: t
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        parameters: t.get("input_schema").cloned(),
    })
}

/// `tool_choice` and its `disable_parallel_tool_use` (as `parallel_tool_calls`).
fn tool_choice(value: &Value) -> Result<(ToolChoice, Option<bool>), TranslateError> {
    let at = "tool_choice";
    let choice = match value.get("type").and_then(Value::as_str) {
        Some("auto") => ToolChoice::Auto,
        Some("any") => ToolChoice::Required,
        Some("none") => ToolChoice::None,
        Some("tool") => ToolChoice::Named(
            value
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(at, "a tool choice needs `name`"))?
                .to_owned(),
        ),
        Some(other) => return Err(invalid(at, &format!("unknown type `{other}`"))),
        None => return Err(invalid(at, "needs `type`")),
    };
    let parallel = value
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .map(|disable| !disable);
    Ok((choice, parallel))
}

/// `thinking` and `output_config.effort` as one reasoning setting. An effort level wins over
/// adaptive or enabled thinking (it is what the other APIs take); disabled thinking wins over
/// an effort, which is then dropped.
fn reasoning(
    thinking: Option<&Value>,
    effort: Option<String>,
    dropped: &mut Vec<String>,
) -> Result<Option<Reasoning>, TranslateError> {
    let thinking = match thinking {
        None | Some(Value::Null) => None,
        Some(value) => match value.get("type").and_then(Value::as_str) {
            Some("enabled") => Some(Reasoning::On {
                budget_tokens: value.get("budget_tokens").and_then(Value::as_u64),
            }),
            // The model decides how much to think: thinking on, no budget.
            Some("adaptive") => Some(Reasoning::On {
                budget_tokens: None,
            }),
            Some("disabled") => Some(Reasoning::Off),
            Some(other) => {
                return Err(invalid("thinking.type", &format!("unknown type `{other}`")))
            }
            None => return Err(invalid("thinking", "needs `type`")),
        },
    };
    Ok(match (thinking, effort) {
        (Some(Reasoning::Off), Some(_)) => {
            drop_field(dropped, "output_config.effort");
            Some(Reasoning::Off)
        }
        (_, Some(level)) => Some(Reasoning::Effort(level)),
        (thinking, None) => thinking,
    })
}

pub fn render(
    chat: &Chat,
    options: &Options,
    dropped: &mut Vec<String>,
) -> Result<Value, TranslateError> {
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
    // Sampling hints Anthropic lacks; a zero penalty is the default and not worth naming.
    if seed.is_some() {
        dropped.push("seed".into());
    }
    for (field, value) in [
        ("frequency_penalty", frequency_penalty),
        ("presence_penalty", presence_penalty),
    ] {
        if value.is_some_and(|v| v != 0.0) {
            dropped.push(field.into());
        }
    }
    if chat.format.is_some() {
        return Err(unsupported(
            "response_format",
            "Anthropic Messages has no JSON mode",
        ));
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(chat.model));
    let (system, messages) = render_messages(&chat.messages)?;
    if let Some(system) = system {
        out.insert("system".into(), system);
    }
    out.insert("messages".into(), Value::Array(messages));
    let max_tokens = max_tokens.unwrap_or(u64::from(options.default_max_tokens));
    out.insert("max_tokens".into(), json!(max_tokens));
    out.insert("stream".into(), json!(chat.stream));
    for (key, value) in [("temperature", temperature), ("top_p", top_p)] {
        if let Some(value) = value {
            out.insert(key.into(), json!(value));
        }
    }
    if let Some(top_k) = top_k {
        out.insert("top_k".into(), json!(top_k));
    }
    if let Some(stop) = stop {
        out.insert("stop_sequences".into(), json!(stop));
    }
    if let Some(tools) = &chat.tools {
        out.insert(
            "tools".into(),
            tools
                .iter()
                .map(|t| {
                    let mut tool = Map::new();
                    tool.insert("name".into(), json!(t.name));
                    if let Some(description) = &t.description {
                        tool.insert("description".into(), json!(description));
                    }
                    tool.insert(
                        "input_schema".into(),
                        t.parameters
                            .clone()
                            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                    );
                    Value::Object(tool)
                })
                .collect(),
        );
    }
    let disable_parallel = chat.parallel_tool_calls == Some(false);
    let choice = match (&chat.tool_choice, disable_parallel) {
        (None, false) => None,
        (None, true) | (Some(ToolChoice::Auto), _) => Some(json!({"type": "auto"})),
        (Some(ToolChoice::None), _) => Some(json!({"type": "none"})),
        (Some(ToolChoice::Required), _) => Some(json!({"type": "any"})),
        (Some(ToolChoice::Named(name)), _) => Some(json!({"type": "tool", "name": name})),
    };
    if let Some(mut choice) = choice {
        if disable_parallel && chat.tool_choice != Some(ToolChoice::None) {
            if let Some(o) = choice.as_object_mut() {
                o.insert("disable_parallel_tool_use".into(), json!(true));
            }
        }
        out.insert("tool_choice".into(), choice);
    }
    if let Some(budget) = thinking_budget(chat.reasoning.as_ref(), max_tokens, dropped) {
        out.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    if let Some(user) = &chat.user {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(Value::Object(out))
}

/// Anthropic's smallest thinking budget.
const MIN_BUDGET: u64 = 1024;

/// The thinking budget for a reasoning setting: the client's own, or one per effort level
/// (`low` 2048, `medium` or thinking on without a budget 8192, `high` and above 24576),
/// kept below `max_tokens` as Anthropic requires. Dropped (and named) when `max_tokens`
/// leaves no room for Anthropic's least budget; `minimal` and `none` think not at all.
fn thinking_budget(
    reasoning: Option<&Reasoning>,
    max_tokens: u64,
    dropped: &mut Vec<String>,
) -> Option<u64> {
    let (wanted, field) = match reasoning? {
        Reasoning::Off => return None,
        Reasoning::On {
            budget_tokens: Some(budget),
        } => (*budget, "thinking.budget_tokens"),
        Reasoning::On {
            budget_tokens: None,
        } => (8192, "thinking"),
        Reasoning::Effort(level) => match level.as_str() {
            "none" | "minimal" => return None,
            "low" => (2048, "reasoning_effort"),
            "medium" => (8192, "reasoning_effort"),
            _ => (24576, "reasoning_effort"),
        },
    };
    let budget = wanted.min(max_tokens.saturating_sub(1));
    if budget < MIN_BUDGET {
        dropped.push(field.into());
        return None;
    }
    Some(budget)
}

/// The top-level `system` (every system message, in order) and the alternating turns.
fn render_messages(messages: &[Message]) -> Result<(Option<Value>, Vec<Value>), TranslateError> {
    let mut system: Vec<&str> = Vec::new();
    // (role, blocks) with consecutive same-role turns merged.
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        if m.role == Role::System {
            system.extend(texts(&m.content, &format!("{at}.content"), TARGET)?);
            continue;
        }
        let mut blocks = Vec::with_capacity(m.content.len());
        for block in &m.content {
            if let Some(b) = render_block(block, &at)? {
                blocks.push(b);
            }
        }
        match turns.last_mut() {
            Some((role, existing)) if *role == m.role => existing.extend(blocks),
            _ => turns.push((m.role, blocks)),
        }
    }
    if turns
        .first()
        .is_some_and(|(role, _)| *role == Role::Assistant)
    {
        return Err(unsupported(
            "messages",
            "Anthropic needs the conversation to start with a user turn, and this one starts \
             with the assistant's",
        ));
    }
    let system = match system.as_slice() {
        [] => None,
        [one] => Some(json!(one)),
        many => Some(
            many.iter()
                .map(|t| json!({"type": "text", "text": t}))
                .collect(),
        ),
    };
    let turns = turns
        .into_iter()
        .map(|(role, blocks)| {
            let role = if role == Role::Assistant {
                "assistant"
            } else {
                "user"
            };
            json!({"role": role, "content": block_content(blocks)})
        })
        .collect();
    Ok((system, turns))
}

/// One text block as a plain string; otherwise the blocks, without empty text blocks
/// (Anthropic refuses them beside others).
fn block_content(blocks: Vec<Value>) -> Value {
    if let [only] = blocks.as_slice() {
        if only.get("type").and_then(Value::as_str) == Some("text") {
            if let Some(text) = only.get("text") {
                return text.clone();
            }
        }
    }
    if blocks.is_empty() {
        return json!("");
    }
    Value::Array(
        blocks
            .into_iter()
            .filter(|b| {
                !(b.get("type").and_then(Value::as_str) == Some("text")
                    && b.get("text").and_then(Value::as_str) == Some(""))
            })
            .collect(),
    )
}

fn render_image(image: &Image, at: &str) -> Result<Value, TranslateError> {
    Ok(match image {
        Image::Base64 { media_type, data } => json!({
            "type": "image",
            "source": {"type": "base64", "media_type": image::known_type(media_type, at)?, "data": data},
        }),
        Image::Url(url) => json!({"type": "image", "source": {"type": "url", "url": url}}),
    })
}

fn render_block(block: &Block, at: &str) -> Result<Option<Value>, TranslateError> {
    Ok(Some(match block {
        Block::Text(text) => json!({"type": "text", "text": text}),
        Block::Image(picture) => render_image(picture, at)?,
        Block::ToolUse(call) => json!({
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": call.input,
        }),
        Block::ToolResult(result) => {
            let mut b = Map::new();
            b.insert("type".into(), json!("tool_result"));
            b.insert("tool_use_id".into(), json!(result.tool_use_id));
            let content: Vec<Value> = result
                .content
                .iter()
                .filter_map(|inner| match inner {
                    Block::Text(text) => Some(Ok(json!({"type": "text", "text": text}))),
                    Block::Image(picture) => Some(render_image(picture, at)),
                    Block::Thinking { .. } => None,
                    Block::ToolUse(_) | Block::ToolResult(_) => Some(Err(unsupported(
                        at,
                        "a tool result cannot hold tool blocks",
                    ))),
                })
                .collect::<Result<_, _>>()?;
            if !content.is_empty() {
                b.insert("content".into(), block_content(content));
            }
            if result.is_error {
                b.insert("is_error".into(), json!(true));
            }
            Value::Object(b)
        }
        Block::Thinking {
            text,
            signature: Some(signature),
        } => json!({"type": "thinking", "thinking": text, "signature": signature}),
        // Anthropic refuses thinking without the signature it issued.
        Block::Thinking {
            signature: None, ..
        } => return Ok(None),
    }))
}
