//! Ollama chat (`POST /api/chat`) to and from the canonical request, and Ollama generate
//! (`POST /api/generate`) into it.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    image, invalid,
    ir::{
        Block, Chat, Image, Message, OllamaExtras, Reasoning, ResponseFormat, Role, Sampling,
        ToolChoice, ToolResult, ToolUse,
    },
    openai::WireTool,
    unsupported,
};
use crate::translate::TranslateError;

/// The chat request as Ollama defines it; unknown fields are kept for an Ollama target.
#[derive(Debug, Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: String,
    #[serde(default)]
    messages: Vec<WireMessage>,
    tools: Option<Vec<WireTool>>,
    format: Option<Value>,
    options: Option<Map<String, Value>>,
    stream: Option<bool>,
    keep_alive: Option<Value>,
    think: Option<Value>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    #[serde(default)]
    content: Option<String>,
    images: Option<Vec<String>>,
    tool_calls: Option<Vec<WireToolCall>>,
    tool_name: Option<String>,
    /// Not in Ollama's documented API, but sent by some clients; used when present.
    tool_call_id: Option<String>,
    thinking: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    /// Not in Ollama's documented API; used when present.
    id: Option<String>,
    function: WireFunctionCall,
}

#[derive(Debug, Deserialize)]
struct WireFunctionCall {
    name: String,
    /// A JSON object (not text, unlike OpenAI).
    #[serde(default)]
    arguments: Option<Value>,
}

/// The generate request: one prompt, no turns.
#[derive(Debug, Deserialize)]
struct GenerateRequest {
    #[serde(default)]
    model: String,
    prompt: Option<String>,
    suffix: Option<String>,
    images: Option<Vec<String>>,
    format: Option<Value>,
    options: Option<Map<String, Value>>,
    system: Option<String>,
    template: Option<String>,
    stream: Option<bool>,
    raw: Option<bool>,
    keep_alive: Option<Value>,
    context: Option<Vec<Value>>,
    think: Option<Value>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

pub fn parse_chat(body: &[u8]) -> Result<Chat, TranslateError> {
    let r: ChatRequest = super::parse(body)?;
    let mut messages = Vec::with_capacity(r.messages.len());
    // Calls of the latest assistant turn not yet answered: (id, name).
    let mut unanswered: Vec<(String, String)> = Vec::new();
    for (i, m) in r.messages.into_iter().enumerate() {
        let at = format!("messages[{i}]");
        let mut blocks = Vec::new();
        for data in m.images.iter().flatten() {
            blocks.push(Block::Image(image::from_ollama(data)));
        }
        let text = m.content.unwrap_or_default();
        let role = match m.role.as_str() {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => {
                let id = match m.tool_call_id {
                    Some(id) => {
                        unanswered.retain(|(pending, _)| *pending != id);
                        id
                    }
                    None => answer(&mut unanswered, m.tool_name.as_deref()).ok_or_else(|| {
                        invalid(&at, "this tool result answers no earlier tool call")
                    })?,
                };
                let mut content = blocks;
                content.push(Block::Text(text));
                messages.push(Message {
                    role: Role::User,
                    content: vec![Block::ToolResult(ToolResult {
                        tool_use_id: id,
                        name: m.tool_name,
                        content,
                        is_error: false,
                    })],
                });
                continue;
            }
            other => {
                return Err(invalid(
                    &format!("{at}.role"),
                    &format!("unknown role `{other}`"),
                ))
            }
        };
        if let Some(thinking) = m.thinking.filter(|t| !t.is_empty()) {
            blocks.push(Block::Thinking {
                text: thinking,
                signature: None,
            });
        }
        if !text.is_empty() || blocks.is_empty() {
            blocks.push(Block::Text(text));
        }
        if role == Role::Assistant {
            unanswered.clear();
            for (n, call) in m.tool_calls.into_iter().flatten().enumerate() {
                let at = format!("{at}.tool_calls[{n}].function.arguments");
                let input = match call.function.arguments {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(map)) => map,
                    Some(_) => return Err(invalid(&at, "must be a JSON object")),
                };
                let id = call.id.unwrap_or_else(|| format!("call_{i}_{n}"));
                unanswered.push((id.clone(), call.function.name.clone()));
                blocks.push(Block::ToolUse(ToolUse {
                    id,
                    name: call.function.name,
                    input,
                }));
            }
        }
        messages.push(Message {
            role,
            content: blocks,
        });
    }
    let (sampling, options) = options(r.options.unwrap_or_default())?;
    Ok(Chat {
        model: r.model,
        messages,
        tools: r
            .tools
            .map(|tools| {
                tools
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| t.into_ir(&format!("tools[{i}]")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?,
        tool_choice: None,
        parallel_tool_calls: None,
        sampling,
        stream: r.stream.unwrap_or(true),
        format: r.format.as_ref().map(format).transpose()?.flatten(),
        reasoning: r.think.as_ref().map(think).transpose()?.flatten(),
        user: None,
        ollama: OllamaExtras {
            keep_alive: r.keep_alive,
            options,
            unknown: r.unknown,
        },
        dropped: Vec::new(),
    })
}

/// The id of the call a `role: tool` message answers: the earliest unanswered one with its
/// tool name, or the earliest when no name is given.
fn answer(unanswered: &mut Vec<(String, String)>, name: Option<&str>) -> Option<String> {
    let index = match name {
        Some(name) => unanswered.iter().position(|(_, n)| n == name)?,
        None if unanswered.is_empty() => return None,
        None => 0,
    };
    Some(unanswered.remove(index).0)
}

pub fn parse_generate(body: &[u8]) -> Result<Chat, TranslateError> {
    let r: GenerateRequest = super::parse(body)?;
    let chat_has_none = "chat has no counterpart";
    if r.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(unsupported("suffix", chat_has_none));
    }
    if r.template.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(unsupported("template", chat_has_none));
    }
    if r.raw == Some(true) {
        return Err(unsupported("raw", chat_has_none));
    }
    if r.context.as_ref().is_some_and(|c| !c.is_empty()) {
        return Err(unsupported("context", chat_has_none));
    }
    let mut messages = Vec::new();
    if let Some(system) = r.system.filter(|s| !s.is_empty()) {
        messages.push(Message {
            role: Role::System,
            content: vec![Block::Text(system)],
        });
    }
    let mut content = Vec::new();
    for data in r.images.iter().flatten() {
        content.push(Block::Image(image::from_ollama(data)));
    }
    let prompt = r.prompt.unwrap_or_default();
    if !prompt.is_empty() || !content.is_empty() {
        content.push(Block::Text(prompt));
        messages.push(Message {
            role: Role::User,
            content,
        });
    }
    let (sampling, options) = options(r.options.unwrap_or_default())?;
    Ok(Chat {
        model: r.model,
        messages,
        sampling,
        stream: r.stream.unwrap_or(true),
        format: r.format.as_ref().map(format).transpose()?.flatten(),
        reasoning: r.think.as_ref().map(think).transpose()?.flatten(),
        ollama: OllamaExtras {
            keep_alive: r.keep_alive,
            options,
            unknown: r.unknown,
        },
        ..Default::default()
    })
}

/// `options` split into the sampling settings other APIs share and the rest.
fn options(mut all: Map<String, Value>) -> Result<(Sampling, Map<String, Value>), TranslateError> {
    let mut take = |key: &str| all.remove(key).filter(|v| !v.is_null());
    let float = |key: &str, v: Option<Value>| -> Result<Option<f64>, TranslateError> {
        v.map(|v| {
            v.as_f64()
                .ok_or_else(|| invalid(&format!("options.{key}"), "must be a number"))
        })
        .transpose()
    };
    let int = |key: &str, v: Option<Value>| -> Result<Option<i64>, TranslateError> {
        v.map(|v| match (v.as_i64(), v.as_f64()) {
            (Some(i), _) => Ok(i),
            // Ollama reads 100.0 as 100.
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
            _ => Err(invalid(&format!("options.{key}"), "must be an integer")),
        })
        .transpose()
    };
    let stop = match take("stop") {
        None => None,
        Some(Value::String(s)) => Some(vec![s]),
        Some(Value::Array(items)) => Some(
            items
                .into_iter()
                .map(|s| match s {
                    Value::String(s) => Ok(s),
                    _ => Err(invalid("options.stop", "must hold strings")),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(invalid("options.stop", "must be a list of strings")),
    };
    let sampling = Sampling {
        // Negative: no limit (-1) or until the context is full (-2).
        max_tokens: int("num_predict", take("num_predict"))?.and_then(|n| u64::try_from(n).ok()),
        temperature: float("temperature", take("temperature"))?,
        top_p: float("top_p", take("top_p"))?,
        top_k: int("top_k", take("top_k"))?.and_then(|n| u64::try_from(n).ok()),
        stop,
        seed: int("seed", take("seed"))?,
        frequency_penalty: float("frequency_penalty", take("frequency_penalty"))?,
        presence_penalty: float("presence_penalty", take("presence_penalty"))?,
    };
    // Ollama reads a `null` option as unset (LangChain sends every option, most of them null).
    all.retain(|_, v| !v.is_null());
    Ok((sampling, all))
}

/// `format`: `"json"`, a JSON schema, or empty.
fn format(value: &Value) -> Result<Option<ResponseFormat>, TranslateError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) if s == "json" => Ok(Some(ResponseFormat::Json)),
        Value::Object(_) => Ok(Some(ResponseFormat::Schema {
            name: None,
            schema: value.clone(),
            strict: None,
        })),
        _ => Err(invalid("format", "must be \"json\" or a JSON schema")),
    }
}

/// `think`: a switch, or an effort level for models that take one.
fn think(value: &Value) -> Result<Option<Reasoning>, TranslateError> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(true) => Ok(Some(Reasoning::On {
            budget_tokens: None,
        })),
        Value::Bool(false) => Ok(Some(Reasoning::Off)),
        Value::String(level) => Ok(Some(Reasoning::Effort(level.clone()))),
        _ => Err(invalid("think", "must be a boolean or a level")),
    }
}

pub fn render(chat: &Chat, dropped: &mut Vec<String>) -> Result<Value, TranslateError> {
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
    let mut out = Map::new();
    out.insert("model".into(), json!(chat.model));
    let mut messages = Vec::new();
    for (i, m) in chat.messages.iter().enumerate() {
        render_message(chat, m, &format!("messages[{i}]"), &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));
    out.insert("stream".into(), json!(chat.stream));

    let tools_offered = chat.tools.is_some() && chat.tool_choice != Some(ToolChoice::None);
    match &chat.tool_choice {
        Some(ToolChoice::Required) | Some(ToolChoice::Named(_)) => {
            return Err(unsupported(
                "tool_choice",
                "Ollama cannot be made to call a tool",
            ))
        }
        _ if tools_offered && chat.parallel_tool_calls == Some(false) => {
            return Err(unsupported(
                "parallel_tool_calls",
                "Ollama cannot be limited to one tool call",
            ))
        }
        _ => {}
    }
    if let (true, Some(tools)) = (tools_offered, &chat.tools) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut function = Map::new();
                function.insert("name".into(), json!(t.name));
                if let Some(description) = &t.description {
                    function.insert("description".into(), json!(description));
                }
                function.insert(
                    "parameters".into(),
                    t.parameters
                        .clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                );
                json!({"type": "function", "function": function})
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    match &chat.format {
        None => {}
        Some(ResponseFormat::Json) => {
            out.insert("format".into(), json!("json"));
        }
        Some(ResponseFormat::Schema { schema, .. }) => {
            out.insert("format".into(), schema.clone());
        }
    }

    let mut options = Map::new();
    let numbers = [
        ("num_predict", max_tokens.map(Value::from)),
        ("temperature", temperature.map(Value::from)),
        ("top_p", top_p.map(Value::from)),
        ("top_k", top_k.map(Value::from)),
        ("seed", seed.map(Value::from)),
        ("frequency_penalty", frequency_penalty.map(Value::from)),
        ("presence_penalty", presence_penalty.map(Value::from)),
    ];
    for (key, value) in numbers {
        if let Some(value) = value {
            options.insert(key.into(), value);
        }
    }
    if let Some(stop) = stop {
        options.insert("stop".into(), json!(stop));
    }
    for (key, value) in &chat.ollama.options {
        options.insert(key.clone(), value.clone());
    }
    if !options.is_empty() {
        out.insert("options".into(), Value::Object(options));
    }
    match &chat.reasoning {
        None => {}
        Some(Reasoning::Off) => {
            out.insert("think".into(), json!(false));
        }
        Some(Reasoning::On { budget_tokens }) => {
            if budget_tokens.is_some() {
                dropped.push("thinking.budget_tokens".into());
            }
            out.insert("think".into(), json!(true));
        }
        Some(Reasoning::Effort(level)) => {
            out.insert("think".into(), json!(level));
        }
    }
    // Ollama has no end-user field.
    if chat.user.is_some() {
        dropped.push("user".into());
    }
    if let Some(keep_alive) = &chat.ollama.keep_alive {
        out.insert("keep_alive".into(), keep_alive.clone());
    }
    for (key, value) in &chat.ollama.unknown {
        out.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Ok(Value::Object(out))
}

/// Text parts joined (Ollama has one content string) and images as bare base64.
fn text_and_images(blocks: &[&Block], at: &str) -> Result<(String, Vec<String>), TranslateError> {
    let mut text: Vec<&str> = Vec::new();
    let mut images = Vec::new();
    for block in blocks {
        match block {
            Block::Text(t) => text.push(t),
            Block::Image(Image::Base64 { data, .. }) => images.push(data.clone()),
            Block::Image(Image::Url(_)) => {
                return Err(unsupported(
                    at,
                    "Ollama takes images as base64 only, not as a URL",
                ))
            }
            Block::Thinking { .. } => {}
            Block::ToolUse(_) | Block::ToolResult(_) => {
                return Err(unsupported(at, "a tool block cannot be placed here"))
            }
        }
    }
    Ok((text.join("\n"), images))
}

fn message(role: &str, text: String, images: Vec<String>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("role".into(), json!(role));
    m.insert("content".into(), json!(text));
    if !images.is_empty() {
        m.insert("images".into(), json!(images));
    }
    m
}

fn render_message(
    chat: &Chat,
    m: &Message,
    at: &str,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    match m.role {
        Role::System => {
            let blocks: Vec<&Block> = m.content.iter().collect();
            let (text, images) = text_and_images(&blocks, at)?;
            out.push(Value::Object(message("system", text, images)));
        }
        Role::User => {
            let mut pending: Vec<&Block> = Vec::new();
            for block in &m.content {
                match block {
                    Block::ToolResult(result) => {
                        flush_user(&mut pending, at, out)?;
                        let blocks: Vec<&Block> = result.content.iter().collect();
                        let (text, images) = text_and_images(&blocks, at)?;
                        let mut tool = message("tool", text, images);
                        let name = result
                            .name
                            .as_deref()
                            .or_else(|| chat.tool_name(&result.tool_use_id));
                        if let Some(name) = name {
                            tool.insert("tool_name".into(), json!(name));
                        }
                        out.push(Value::Object(tool));
                    }
                    other => pending.push(other),
                }
            }
            flush_user(&mut pending, at, out)?;
        }
        Role::Assistant => {
            let mut rest: Vec<&Block> = Vec::new();
            let mut thinking: Vec<&str> = Vec::new();
            let mut calls = Vec::new();
            for block in &m.content {
                match block {
                    Block::ToolUse(call) => calls.push(json!({
                        "function": {"name": call.name, "arguments": call.input},
                    })),
                    Block::Thinking { text, .. } => thinking.push(text),
                    other => rest.push(other),
                }
            }
            let (text, images) = text_and_images(&rest, at)?;
            let mut msg = message("assistant", text, images);
            if !thinking.is_empty() {
                msg.insert("thinking".into(), json!(thinking.join("\n")));
            }
            if !calls.is_empty() {
                msg.insert("tool_calls".into(), Value::Array(calls));
            }
            out.push(Value::Object(msg));
        }
    }
    Ok(())
}

fn flush_user(
    pending: &mut Vec<&Block>,
    at: &str,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    if pending.is_empty() {
        return Ok(());
    }
    let (text, images) = text_and_images(pending, at)?;
    out.push(Value::Object(message("user", text, images)));
    pending.clear();
    Ok(())
}
