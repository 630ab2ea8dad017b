//! Anthropic Messages (`POST /v1/messages`) to and from the canonical request.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    image, invalid,
    ir::{
        Block, Chat, Image, Message, Reasoning, Role, Sampling, Tool, ToolChoice, ToolResult,
        ToolUse,
    },
    refuse_ollama_extras, refuse_unknown, texts, unsupported,
};
use crate::translate::{Options, TranslateError};

const TARGET: &str = "Anthropic";

/// The request as Anthropic defines it; any field not listed lands in `unknown` and is
/// refused (`container`, `mcp_servers`, `context_management`…).
#[derive(Debug, Deserialize)]
struct Request {
    #[serde(default)]
    model: String,
    messages: Vec<WireMessage>,
    max_tokens: Option<u64>,
    system: Option<Value>,
    metadata: Option<Metadata>,
    stop_sequences: Option<Vec<String>>,
    stream: Option<bool>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u64>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    thinking: Option<Value>,
    // No effect on the answer: dropped.
    #[serde(rename = "service_tier")]
    _service_tier: Option<Value>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    content: Value,
}

pub fn parse(body: &[u8]) -> Result<Chat, TranslateError> {
    let r: Request = super::parse(body)?;
    refuse_unknown(&r.unknown, "another API")?;
    let mut messages = Vec::with_capacity(r.messages.len() + 1);
    if let Some(system) = &r.system {
        let content = system_blocks(system)?;
        if !content.is_empty() {
            messages.push(Message {
                role: Role::System,
                content,
            });
        }
    }
    for (i, m) in r.messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(invalid(
                    &format!("{at}.role"),
                    &format!("unknown role `{other}`"),
                ))
            }
        };
        messages.push(Message {
            role,
            content: content(&m.content, &format!("{at}.content"))?,
        });
    }
    let mut parallel_tool_calls = None;
    let tool_choice = match &r.tool_choice {
        Some(value) => {
            let (choice, parallel) = tool_choice(value)?;
            parallel_tool_calls = parallel;
            Some(choice)
        }
        None => None,
    };
    Ok(Chat {
        model: r.model,
        messages,
        tools: r
            .tools
            .map(|tools| {
                tools
                    .iter()
                    .enumerate()
                    .map(|(i, t)| tool(t, &format!("tools[{i}]")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?,
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
        format: None,
        reasoning: r.thinking.as_ref().map(thinking).transpose()?.flatten(),
        user: r.metadata.and_then(|m| m.user_id),
        ollama: Default::default(),
        dropped: Vec::new(),
    })
}

/// The top-level `system`: a string or text blocks.
fn system_blocks(value: &Value) -> Result<Vec<Block>, TranslateError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => Ok(vec![Block::Text(text.clone())]),
        Value::Array(blocks) => blocks
            .iter()
            .enumerate()
            .map(|(i, b)| match b.get("type").and_then(Value::as_str) {
                Some("text") => b
                    .get("text")
                    .and_then(Value::as_str)
                    .map(|t| Block::Text(t.to_owned()))
                    .ok_or_else(|| invalid(&format!("system[{i}]"), "needs `text`")),
                _ => Err(invalid(&format!("system[{i}]"), "must be a text block")),
            })
            .collect(),
        _ => Err(invalid("system", "must be a string or text blocks")),
    }
}

/// A message's content: a string or content blocks.
fn content(value: &Value, at: &str) -> Result<Vec<Block>, TranslateError> {
    let blocks = match value {
        Value::String(text) => return Ok(vec![Block::Text(text.clone())]),
        Value::Array(blocks) => blocks,
        _ => return Err(invalid(at, "must be a string or an array of blocks")),
    };
    let mut out = Vec::with_capacity(blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        if let Some(block) = block(b, &format!("{at}[{i}]"), true)? {
            out.push(block);
        }
    }
    Ok(out)
}

/// One content block; `None` for what is dropped. Only `top`-level blocks may be tool
/// blocks or thinking: a tool result's content holds text and images.
fn block(b: &Value, at: &str, top: bool) -> Result<Option<Block>, TranslateError> {
    let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
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
                        if let Some(inner) = block(item, &format!("{at}.content[{i}]"), false)? {
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

fn tool(t: &Value, at: &str) -> Result<Tool, TranslateError> {
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

fn thinking(value: &Value) -> Result<Option<Reasoning>, TranslateError> {
    match value.get("type").and_then(Value::as_str) {
        Some("enabled") => Ok(Some(Reasoning::On {
            budget_tokens: value.get("budget_tokens").and_then(Value::as_u64),
        })),
        Some("disabled") => Ok(Some(Reasoning::Off)),
        None if value.is_null() => Ok(None),
        _ => Err(unsupported(
            "thinking.type",
            "only enabled and disabled thinking can be translated",
        )),
    }
}

pub fn render(chat: &Chat, options: &Options) -> Result<Value, TranslateError> {
    refuse_ollama_extras(chat, TARGET)?;
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
    if seed.is_some() {
        return Err(unsupported("seed", "Anthropic has no seed"));
    }
    for (field, value) in [
        ("frequency_penalty", frequency_penalty),
        ("presence_penalty", presence_penalty),
    ] {
        if value.is_some_and(|v| v != 0.0) {
            return Err(unsupported(field, "Anthropic has no repetition penalties"));
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
    out.insert(
        "max_tokens".into(),
        json!(max_tokens.unwrap_or(u64::from(options.default_max_tokens))),
    );
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
    match &chat.reasoning {
        None | Some(Reasoning::Off) => {}
        Some(Reasoning::On {
            budget_tokens: Some(budget),
        }) => {
            out.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
        }
        Some(Reasoning::On {
            budget_tokens: None,
        }) => {
            return Err(unsupported(
                "think",
                "Anthropic thinking needs a token budget, which this request does not give",
            ))
        }
        Some(Reasoning::Effort(_)) => {
            return Err(unsupported(
                "reasoning_effort",
                "Anthropic thinking takes a token budget, not an effort level",
            ))
        }
    }
    if let Some(user) = &chat.user {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(Value::Object(out))
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
