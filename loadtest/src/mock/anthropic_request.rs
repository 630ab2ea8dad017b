//! Reading Anthropic Messages request bodies: [`validate`] refuses what the real API
//! refuses (wording after its own messages, dotted paths like `messages.1.content.0`),
//! [`read`] extracts the [`Prompt`].

use serde_json::{Map, Value};

use super::base64;
use super::openai_request::valid_tool_name;
use super::prompt::{
    content_words, join_into, limit, stop_list, text_of, LastTurn, Prompt, Tool, ToolChoice,
};
use super::text::count_words;

type Check = Result<(), String>;

/// The top-level fields the Messages API knows; any other is "Extra inputs are not permitted".
const TOP_LEVEL: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
    "output_config",
];

/// Effort levels of `output_config.effort`.
const EFFORTS: &[&str] = &["low", "medium", "high", "xhigh", "max"];

/// The `anthropic-beta` features of a request, which unlock fields the plain API refuses.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Betas<'a>(&'a str);

impl<'a> Betas<'a> {
    /// The comma-separated `anthropic-beta` header value (several headers joined).
    pub(crate) fn new(header: &'a str) -> Betas<'a> {
        Betas(header)
    }

    /// Whether a beta whose name starts with `prefix` (its date left out) is on.
    fn has(self, prefix: &str) -> bool {
        self.0.split(',').any(|b| b.trim().starts_with(prefix))
    }
}

const MEDIA_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{path}: Input should be a valid dictionary"))
}

fn only_keys(o: &Map<String, Value>, allowed: &[&str], path: &str) -> Check {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{path}.{k}: Extra inputs are not permitted")),
        None => Ok(()),
    }
}

fn string<'a>(o: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, String> {
    match o.get(key) {
        None => Err(format!("{path}.{key}: Field required")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("{path}.{key}: Input should be a valid string")),
    }
}

fn check_cache_control(o: &Map<String, Value>, path: &str) -> Check {
    match o.get("cache_control") {
        None | Some(Value::Null) => Ok(()),
        Some(cc) => {
            let cc = object(cc, &format!("{path}.cache_control"))?;
            if cc.get("type").and_then(Value::as_str) == Some("ephemeral") {
                only_keys(cc, &["type", "ttl"], &format!("{path}.cache_control"))?;
                match cc.get("ttl") {
                    None => Ok(()),
                    Some(Value::String(t)) if t == "5m" || t == "1h" => Ok(()),
                    Some(_) => Err(format!(
                        "{path}.cache_control.ttl: Input should be '5m' or '1h'"
                    )),
                }
            } else {
                Err(format!(
                    "{path}.cache_control.type: Input should be 'ephemeral'"
                ))
            }
        }
    }
}

fn check_text_block(o: &Map<String, Value>, path: &str) -> Check {
    only_keys(o, &["type", "text", "cache_control", "citations"], path)?;
    if string(o, "text", path)?.is_empty() {
        return Err(format!(
            "{path}.text: text content blocks must be non-empty"
        ));
    }
    check_cache_control(o, path)
}

fn check_image_block(o: &Map<String, Value>, path: &str) -> Check {
    only_keys(o, &["type", "source", "cache_control"], path)?;
    let spath = format!("{path}.source");
    let source = object(
        o.get("source")
            .ok_or_else(|| format!("{path}.source: Field required"))?,
        &spath,
    )?;
    match string(source, "type", &spath)? {
        "base64" => {
            only_keys(source, &["type", "media_type", "data"], &spath)?;
            let media_type = string(source, "media_type", &spath)?;
            if !MEDIA_TYPES.contains(&media_type) {
                return Err(format!(
                    "{spath}.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
                ));
            }
            if !base64::is_valid(string(source, "data", &spath)?) {
                return Err(format!("{spath}.data: The image data is not valid base64"));
            }
        }
        "url" => {
            only_keys(source, &["type", "url"], &spath)?;
            let url = string(source, "url", &spath)?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("{spath}.url: Input should be an http(s) URL"));
            }
        }
        other => {
            return Err(format!(
                "{spath}.type: Input tag '{other}' does not match any of the expected tags: 'base64', 'url'"
            ))
        }
    }
    check_cache_control(o, path)
}

/// A `document` block (PDF or plain text, as Claude Code's `Read` of a PDF sends it).
fn check_document_block(o: &Map<String, Value>, path: &str) -> Check {
    only_keys(
        o,
        &[
            "type",
            "source",
            "title",
            "context",
            "citations",
            "cache_control",
        ],
        path,
    )?;
    let spath = format!("{path}.source");
    let source = object(
        o.get("source")
            .ok_or_else(|| format!("{path}.source: Field required"))?,
        &spath,
    )?;
    match string(source, "type", &spath)? {
        "base64" => {
            only_keys(source, &["type", "media_type", "data"], &spath)?;
            if string(source, "media_type", &spath)? != "application/pdf" {
                return Err(format!("{spath}.media_type: Input should be 'application/pdf'"));
            }
            if !base64::is_valid(string(source, "data", &spath)?) {
                return Err(format!("{spath}.data: The PDF data is not valid base64"));
            }
        }
        "text" => {
            only_keys(source, &["type", "media_type", "data"], &spath)?;
            if string(source, "media_type", &spath)? != "text/plain" {
                return Err(format!("{spath}.media_type: Input should be 'text/plain'"));
            }
            string(source, "data", &spath)?;
        }
        "url" => {
            only_keys(source, &["type", "url"], &spath)?;
            string(source, "url", &spath)?;
        }
        "content" => {
            only_keys(source, &["type", "content"], &spath)?;
        }
        other => {
            return Err(format!(
                "{spath}.type: Input tag '{other}' does not match any of the expected tags: 'base64', 'text', 'url', 'content'"
            ))
        }
    }
    check_cache_control(o, path)
}

fn check_tool_result(o: &Map<String, Value>, path: &str) -> Check {
    only_keys(
        o,
        &[
            "type",
            "tool_use_id",
            "content",
            "is_error",
            "cache_control",
        ],
        path,
    )?;
    string(o, "tool_use_id", path)?;
    if o.get("is_error").is_some_and(|e| !e.is_boolean()) {
        return Err(format!("{path}.is_error: Input should be a valid boolean"));
    }
    match o.get("content") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(items)) => {
            for (k, item) in items.iter().enumerate() {
                let ipath = format!("{path}.content.{k}");
                let b = object(item, &ipath)?;
                match string(b, "type", &ipath)? {
                    "text" => check_text_block(b, &ipath)?,
                    "image" => check_image_block(b, &ipath)?,
                    "document" => check_document_block(b, &ipath)?,
                    other => {
                        return Err(format!(
                            "{ipath}.type: Input tag '{other}' does not match any of the expected tags: 'text', 'image', 'document'"
                        ))
                    }
                }
            }
        }
        Some(_) => {
            return Err(format!(
                "{path}.content: Input should be a valid string or a list of blocks"
            ))
        }
    }
    check_cache_control(o, path)
}

/// The tool ids one message mentions.
#[derive(Default)]
struct ToolIds<'a> {
    /// Ids of its tool_use blocks.
    uses: Vec<&'a str>,
    /// Block index and `tool_use_id` of its tool_result blocks.
    results: Vec<(usize, &'a str)>,
}

/// One message's content; returns the tool ids it mentions.
fn check_content<'a>(content: &'a Value, role: &str, path: &str) -> Result<ToolIds<'a>, String> {
    let mut ids = ToolIds::default();
    let blocks = match content {
        Value::String(_) => return Ok(ids),
        Value::Array(blocks) => blocks,
        _ => {
            return Err(format!(
                "{path}.content: Input should be a valid string or a list of content blocks"
            ))
        }
    };
    let mut seen_other = false;
    for (j, block) in blocks.iter().enumerate() {
        let bpath = format!("{path}.content.{j}");
        let b = object(block, &bpath)?;
        let kind = string(b, "type", &bpath)?;
        match (kind, role) {
            ("text", _) => check_text_block(b, &bpath)?,
            ("image", _) => check_image_block(b, &bpath)?,
            ("document", "user") => check_document_block(b, &bpath)?,
            ("tool_use", "assistant") => {
                only_keys(b, &["type", "id", "name", "input", "cache_control"], &bpath)?;
                ids.uses.push(string(b, "id", &bpath)?);
                string(b, "name", &bpath)?;
                match b.get("input") {
                    Some(Value::Object(_)) => {}
                    None => return Err(format!("{bpath}.input: Field required")),
                    Some(_) => {
                        return Err(format!("{bpath}.input: Input should be a valid dictionary"))
                    }
                }
                check_cache_control(b, &bpath)?;
            }
            ("tool_result", "user") => {
                if seen_other {
                    return Err(format!(
                        "{bpath}: tool_result blocks must come first in a user message, before any other content"
                    ));
                }
                check_tool_result(b, &bpath)?;
                ids.results.push((j, string(b, "tool_use_id", &bpath)?));
                continue;
            }
            ("thinking", "assistant") => {
                only_keys(b, &["type", "thinking", "signature"], &bpath)?;
                string(b, "thinking", &bpath)?;
                string(b, "signature", &bpath)?;
            }
            ("redacted_thinking", "assistant") => {
                only_keys(b, &["type", "data"], &bpath)?;
                string(b, "data", &bpath)?;
            }
            ("tool_use" | "thinking" | "redacted_thinking" | "tool_result" | "document", _) => {
                return Err(format!(
                    "{bpath}.type: '{kind}' blocks are not allowed in a '{role}' message"
                ))
            }
            (other, _) => {
                return Err(format!(
                    "{bpath}.type: Input tag '{other}' does not match any of the expected tags: 'text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'"
                ))
            }
        }
        seen_other = true;
    }
    Ok(ids)
}

fn is_empty_content(content: &Value) -> bool {
    match content {
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// A mid-conversation `role: "system"` message (beta `mid-conversation-tool-changes`): text
/// only, and outside the user/assistant alternation.
fn check_system_message(o: &Map<String, Value>, path: &str) -> Check {
    only_keys(o, &["role", "content"], path)?;
    match o.get("content") {
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        Some(Value::Array(blocks)) if !blocks.is_empty() => {
            for (j, b) in blocks.iter().enumerate() {
                let bpath = format!("{path}.content.{j}");
                let b = object(b, &bpath)?;
                if string(b, "type", &bpath)? != "text" {
                    return Err(format!("{bpath}.type: Input should be 'text'"));
                }
                check_text_block(b, &bpath)?;
            }
            Ok(())
        }
        None => Err(format!("{path}.content: Field required")),
        Some(_) => Err(format!(
            "{path}.content: system messages must have non-empty text content"
        )),
    }
}

fn check_messages(messages: &[Value], betas: Betas<'_>) -> Check {
    if messages.is_empty() {
        return Err("messages: at least one message is required".to_owned());
    }
    let mut prev_role = "";
    let mut prev_uses: Vec<&str> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let path = format!("messages.{i}");
        let o = object(m, &path)?;
        let role = string(o, "role", &path)?;
        match role {
            "user" | "assistant" => {}
            "system" if i > 0 && betas.has("mid-conversation-tool-changes") => {
                check_system_message(o, &path)?;
                continue;
            }
            "system" => {
                return Err(
                    "messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role."
                        .to_owned(),
                )
            }
            _ => return Err(format!("{path}.role: Input should be 'user' or 'assistant'")),
        }
        only_keys(o, &["role", "content"], &path)?;
        if i == 0 && role != "user" {
            return Err("messages: first message must use the \"user\" role".to_owned());
        }
        if role == prev_role {
            return Err(format!(
                "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{role}\" roles in a row"
            ));
        }
        let content = o
            .get("content")
            .ok_or_else(|| format!("{path}.content: Field required"))?;
        let last = i + 1 == messages.len();
        if is_empty_content(content) && !(last && role == "assistant") {
            return Err(format!(
                "{path}: all messages must have non-empty content except for the optional final assistant message"
            ));
        }
        let ToolIds { uses, results } = check_content(content, role, &path)?;
        if role == "user" {
            for (j, id) in &results {
                if !prev_uses.contains(id) {
                    return Err(format!(
                        "{path}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                    ));
                }
            }
            let missing: Vec<&str> = prev_uses
                .iter()
                .copied()
                .filter(|id| !results.iter().any(|(_, r)| r == id))
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                    i.saturating_sub(1),
                    missing.join(", ")
                ));
            }
        }
        prev_uses = uses;
        prev_role = role;
    }
    Ok(())
}

fn check_system(system: &Value) -> Check {
    match system {
        Value::String(_) => Ok(()),
        Value::Array(blocks) => {
            for (i, b) in blocks.iter().enumerate() {
                let path = format!("system.{i}");
                let o = object(b, &path)?;
                if string(o, "type", &path)? != "text" {
                    return Err(format!("{path}.type: Input should be 'text'"));
                }
                check_text_block(o, &path)?;
            }
            Ok(())
        }
        _ => Err("system: Input should be a valid string or a list of text blocks".to_owned()),
    }
}

/// `tools`; returns the declared names.
fn check_tools(tools: &Value) -> Result<Vec<&str>, String> {
    let tools = tools
        .as_array()
        .ok_or("tools: Input should be a valid list")?;
    let mut names = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let path = format!("tools.{i}");
        let o = object(t, &path)?;
        let name = string(o, "name", &path)?;
        match o.get("type").and_then(Value::as_str) {
            // Server tools (web search, code execution…) have their own fields.
            Some(kind) if kind != "custom" => {
                names.push(name);
                continue;
            }
            _ => {}
        }
        only_keys(
            o,
            &[
                "type",
                "name",
                "description",
                "input_schema",
                "cache_control",
                "defer_loading",
                "eager_input_streaming",
                "strict",
                "input_examples",
                "allowed_callers",
            ],
            &path,
        )?;
        for flag in ["defer_loading", "eager_input_streaming", "strict"] {
            if o.get(flag).is_some_and(|f| !f.is_boolean()) {
                return Err(format!("{path}.{flag}: Input should be a valid boolean"));
            }
        }
        if !valid_tool_name(name) {
            return Err(format!(
                "{path}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            ));
        }
        if o.get("description").is_some_and(|d| !d.is_string()) {
            return Err(format!(
                "{path}.description: Input should be a valid string"
            ));
        }
        let schema = object(
            o.get("input_schema")
                .ok_or_else(|| format!("{path}.input_schema: Field required"))?,
            &format!("{path}.input_schema"),
        )?;
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(format!(
                "{path}.input_schema.type: Input should be 'object'"
            ));
        }
        check_cache_control(o, &path)?;
        names.push(name);
    }
    Ok(names)
}

fn check_tool_choice(choice: &Value, tools: &[&str]) -> Check {
    let o = object(choice, "tool_choice")?;
    let kind = string(o, "type", "tool_choice")?;
    match kind {
        "auto" | "any" | "none" => {
            only_keys(o, &["type", "disable_parallel_tool_use"], "tool_choice")?
        }
        "tool" => {
            only_keys(o, &["type", "name", "disable_parallel_tool_use"], "tool_choice")?;
            let name = string(o, "name", "tool_choice")?;
            if !tools.contains(&name) {
                return Err(format!(
                    "tool_choice.name: tool '{name}' is not among the provided tools"
                ));
            }
        }
        other => {
            return Err(format!(
                "tool_choice.type: Input tag '{other}' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"
            ))
        }
    }
    if o.get("disable_parallel_tool_use")
        .is_some_and(|d| !d.is_boolean())
    {
        return Err(
            "tool_choice.disable_parallel_tool_use: Input should be a valid boolean".to_owned(),
        );
    }
    if tools.is_empty() && kind != "none" {
        return Err("tool_choice: may only be specified while providing tools".to_owned());
    }
    Ok(())
}

fn check_range(o: &Map<String, Value>, key: &str, max: f64) -> Check {
    match o.get(key) {
        None => Ok(()),
        Some(v) => match v.as_f64() {
            Some(x) if (0.0..=max).contains(&x) => Ok(()),
            Some(_) => Err(format!(
                "{key}: Input should be greater than or equal to 0 and less than or equal to {max}"
            )),
            None => Err(format!("{key}: Input should be a valid number")),
        },
    }
}

fn check_thinking(t: &Map<String, Value>, max_tokens: u64, betas: Betas<'_>) -> Check {
    if t.get("display").is_some_and(|d| !d.is_string()) {
        return Err("thinking.display: Input should be a valid string".to_owned());
    }
    match string(t, "type", "thinking")? {
        "disabled" => only_keys(t, &["type"], "thinking"),
        "adaptive" => only_keys(t, &["type", "display"], "thinking"),
        "enabled" => {
            only_keys(t, &["type", "budget_tokens", "display"], "thinking")?;
            // Interleaved thinking spreads the budget over turns: it may exceed max_tokens.
            let interleaved = betas.has("interleaved-thinking");
            match t.get("budget_tokens").and_then(Value::as_u64) {
                Some(b) if b >= 1024 && (b < max_tokens || interleaved) => Ok(()),
                _ => Err(
                    "thinking.budget_tokens: must be at least 1024 and less than max_tokens"
                        .to_owned(),
                ),
            }
        }
        other => Err(format!(
            "thinking.type: Input tag '{other}' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'"
        )),
    }
}

fn check_output_config(v: &Value) -> Check {
    let o = object(v, "output_config")?;
    only_keys(o, &["effort", "format"], "output_config")?;
    if let Some(effort) = o.get("effort") {
        if !effort.as_str().is_some_and(|e| EFFORTS.contains(&e)) {
            return Err(format!(
                "output_config.effort: Input should be one of {}",
                EFFORTS.join(", ")
            ));
        }
    }
    if let Some(format) = o.get("format") {
        let f = object(format, "output_config.format")?;
        if string(f, "type", "output_config.format")? != "json_schema" {
            return Err("output_config.format.type: Input should be 'json_schema'".to_owned());
        }
        object(
            f.get("schema")
                .ok_or("output_config.format.schema: Field required")?,
            "output_config.format.schema",
        )?;
    }
    Ok(())
}

fn check_context_management(v: &Value) -> Check {
    let o = object(v, "context_management")?;
    only_keys(o, &["edits"], "context_management")?;
    let Some(edits) = o.get("edits") else {
        return Ok(());
    };
    let edits = edits
        .as_array()
        .ok_or("context_management.edits: Input should be a valid list")?;
    for (i, e) in edits.iter().enumerate() {
        let path = format!("context_management.edits.{i}");
        string(object(e, &path)?, "type", &path)?;
    }
    Ok(())
}

/// The Messages API's checks of a request body, with the `anthropic-beta` features it was
/// sent with.
pub(crate) fn validate(v: &Value, betas: Betas<'_>) -> Check {
    let o = v.as_object().ok_or("Input should be a valid dictionary")?;
    if let Some(k) = o.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(format!("{k}: Extra inputs are not permitted"));
    }
    match o.get("model") {
        Some(Value::String(s)) if !s.is_empty() => {}
        None => return Err("model: Field required".to_owned()),
        Some(_) => return Err("model: Input should be a valid non-empty string".to_owned()),
    }
    match o.get("max_tokens") {
        Some(m) if m.as_u64().is_some_and(|n| n >= 1) => {}
        None => return Err("max_tokens: Field required".to_owned()),
        Some(_) => return Err("max_tokens: Input should be a positive integer".to_owned()),
    }
    match o.get("messages") {
        Some(Value::Array(m)) => check_messages(m, betas)?,
        None => return Err("messages: Field required".to_owned()),
        Some(_) => return Err("messages: Input should be a valid list".to_owned()),
    }
    if let Some(system) = o.get("system") {
        check_system(system)?;
    }
    let tools = match o.get("tools") {
        None => Vec::new(),
        Some(t) => check_tools(t)?,
    };
    if let Some(choice) = o.get("tool_choice") {
        check_tool_choice(choice, &tools)?;
    }
    match o.get("stop_sequences") {
        None => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
        Some(_) => return Err("stop_sequences: Input should be a valid list of strings".to_owned()),
    }
    if o.get("stream").is_some_and(|s| !s.is_boolean()) {
        return Err("stream: Input should be a valid boolean".to_owned());
    }
    check_range(o, "temperature", 1.0)?;
    check_range(o, "top_p", 1.0)?;
    if o.get("top_k").is_some_and(|k| k.as_u64().is_none()) {
        return Err("top_k: Input should be a non-negative integer".to_owned());
    }
    if let Some(meta) = o.get("metadata") {
        only_keys(object(meta, "metadata")?, &["user_id"], "metadata")?;
    }
    if let Some(thinking) = o.get("thinking") {
        let max = o.get("max_tokens").and_then(Value::as_u64).unwrap_or(0);
        check_thinking(object(thinking, "thinking")?, max, betas)?;
    }
    if let Some(config) = o.get("output_config") {
        check_output_config(config)?;
    }
    if let Some(cm) = o.get("context_management") {
        check_context_management(cm)?;
    }
    Ok(())
}

fn has_cache_control(v: &Value) -> bool {
    v.get("cache_control").is_some_and(|c| !c.is_null())
}

/// Words, images and cache markers of a list of blocks (tool results included).
fn tally_blocks(blocks: &[Value], p: &mut Prompt) {
    for b in blocks {
        p.cached |= has_cache_control(b);
        match b.get("type").and_then(Value::as_str) {
            Some("text") => p.words += b.get("text").map_or(0, content_words),
            Some("image") => p.images += 1,
            Some("tool_result") => match b.get("content") {
                Some(Value::Array(inner)) => tally_blocks(inner, p),
                Some(c) => p.words += content_words(c),
                None => {}
            },
            _ => {}
        }
    }
}

fn tally(content: &Value, p: &mut Prompt) {
    match content {
        Value::Array(blocks) => tally_blocks(blocks, p),
        other => p.words += content_words(other),
    }
}

/// The [`Prompt`] of a Messages request.
pub(crate) fn read(v: &Value) -> Prompt {
    let mut p = Prompt::default();
    match v.get("system") {
        Some(Value::String(s)) => {
            p.words += count_words(s);
            p.system = Some(s.clone());
        }
        Some(Value::Array(blocks)) => {
            for b in blocks {
                p.cached |= has_cache_control(b);
                if let Some(t) = b.get("text").and_then(Value::as_str) {
                    p.words += count_words(t);
                    join_into(&mut p.system, t);
                }
            }
        }
        _ => {}
    }
    let messages = v
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for m in messages {
        let content = m.get("content").unwrap_or(&Value::Null);
        if m.get("role").and_then(Value::as_str) == Some("system") {
            // Mid-conversation system text (a beta) joins the system prompt.
            join_into(&mut p.system, &text_of(content));
        }
        tally(content, &mut p);
    }
    // The turn answered is the last user or assistant one: system messages sit between.
    let last = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) != Some("system"));
    p.last = match last {
        Some(m) if m.get("role").and_then(Value::as_str) == Some("user") => {
            let content = m.get("content").unwrap_or(&Value::Null);
            let results: Vec<String> = content
                .as_array()
                .map(|blocks| {
                    blocks
                        .iter()
                        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                        .map(|b| b.get("content").map_or_else(String::new, text_of))
                        .collect()
                })
                .unwrap_or_default();
            if results.is_empty() {
                LastTurn::User(text_of(content))
            } else {
                LastTurn::ToolResults(results)
            }
        }
        _ => LastTurn::Other,
    };
    if let Some(tools) = v.get("tools").and_then(Value::as_array) {
        for t in tools {
            p.cached |= has_cache_control(t);
            if let Some(tool) = Tool::from_declaration(t, "/name", "/input_schema") {
                p.tools.push(tool);
            }
        }
    }
    p.choice = match v.pointer("/tool_choice/type").and_then(Value::as_str) {
        Some("none") => ToolChoice::None,
        Some("any") => ToolChoice::Required,
        Some("tool") => match v.pointer("/tool_choice/name").and_then(Value::as_str) {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => ToolChoice::Auto,
        },
        _ => ToolChoice::Auto,
    };
    p.stop = stop_list(v.get("stop_sequences"));
    p.max_tokens = limit(v.get("max_tokens"));
    p
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(messages: Value) -> Value {
        json!({"model": "m", "max_tokens": 10, "messages": messages})
    }

    fn tool_use(id: &str) -> Value {
        json!({"type": "tool_use", "id": id, "name": "f", "input": {"a": 1}})
    }

    fn tool_result(id: &str) -> Value {
        json!({"type": "tool_result", "tool_use_id": id, "content": "ok"})
    }

    #[test]
    fn accepts_a_full_conversation() {
        let v = json!({
            "model": "m", "max_tokens": 100, "stream": true, "temperature": 1,
            "stop_sequences": ["tok2"],
            "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "f"},
            "metadata": {"user_id": "u"},
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGk="}},
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "calling"}, tool_use("t1"), tool_use("t2")]},
                {"role": "user", "content": [tool_result("t2"),
                    {"type": "tool_result", "tool_use_id": "t1", "is_error": true,
                     "content": [{"type": "text", "text": "bad"}]},
                    {"type": "text", "text": "go on"}]}
            ]
        });
        validate(&v, Betas::default()).unwrap();
        let p = read(&v);
        assert_eq!(p.system.as_deref(), Some("be brief"));
        assert!(p.cached);
        assert_eq!(p.images, 2);
        assert_eq!(p.tool_names(), ["f"]);
        assert_eq!(p.choice, ToolChoice::Named("f".into()));
        assert_eq!(
            p.last,
            LastTurn::ToolResults(vec!["ok".into(), "bad".into()])
        );
        assert_eq!(p.stop, ["tok2"]);
        assert_eq!(p.max_tokens, Some(100));
        // be brief (2) + look (1) + calling (1) + ok (1) + bad (1) + go on (2)
        assert_eq!(p.words, 8);
    }

    #[test]
    fn refuses_each_rule() {
        let img = |source: Value| json!([{"role": "user", "content": [{"type": "image", "source": source}]}]);
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"max_tokens": 1, "messages": []}),
                "model: Field required",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
                "max_tokens: Field required",
            ),
            (
                json!({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}),
                "max_tokens",
            ),
            (
                json!({"model": "m", "max_tokens": 1}),
                "messages: Field required",
            ),
            (req(json!([])), "at least one message"),
            (
                req(json!([{"role": "system", "content": "x"}, {"role": "user", "content": "x"}])),
                "Unexpected role \"system\"",
            ),
            (
                req(json!([{"role": "tool", "content": "x"}])),
                "messages.0.role",
            ),
            (
                req(json!([{"role": "assistant", "content": "x"}])),
                "first message",
            ),
            (
                req(json!([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])),
                "multiple \"user\" roles",
            ),
            (
                req(json!([{"role": "user", "content": ""}])),
                "non-empty content",
            ),
            (
                req(json!([{"role": "user", "content": "x", "name": "n"}])),
                "messages.0.name: Extra inputs",
            ),
            (
                req(json!([{"role": "user", "content": [{"type": "text", "text": ""}]}])),
                "must be non-empty",
            ),
            (
                req(
                    json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}]),
                ),
                "'image_url'",
            ),
            (
                req(img(
                    json!({"type": "base64", "media_type": "image/bmp", "data": "aGk="}),
                )),
                "media_type",
            ),
            (
                req(img(
                    json!({"type": "base64", "media_type": "image/png", "data": "data:image/png;base64,aGk="}),
                )),
                "not valid base64",
            ),
            (
                req(img(json!({"type": "url", "url": "ftp://x"}))),
                "source.url",
            ),
            (
                req(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}]}]),
                ),
                "input: Input should be a valid dictionary",
            ),
            (
                req(json!([{"role": "user", "content": [tool_use("t")]}])),
                "not allowed in a 'user' message",
            ),
            (
                req(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [tool_use("t1")]}, {"role": "user", "content": [tool_result("zz")]}]),
                ),
                "unexpected `tool_use_id`",
            ),
            (
                req(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [tool_use("t1"), tool_use("t2")]}, {"role": "user", "content": [tool_result("t1")]}]),
                ),
                "without `tool_result` blocks immediately after: t2",
            ),
            (
                req(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [tool_use("t1")]}, {"role": "user", "content": "thanks"}]),
                ),
                "without `tool_result`",
            ),
            (
                req(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [tool_use("t1")]}, {"role": "user", "content": [{"type": "text", "text": "x"}, tool_result("t1")]}]),
                ),
                "must come first",
            ),
            (
                req(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [tool_use("t1")]}, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x", "extra": 1}]}]),
                ),
                "extra: Extra inputs",
            ),
        ];
        for (body, want) in cases {
            let e = validate(&body, Betas::default()).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
        let base = |extra: Value| {
            let mut v = req(json!([{"role": "user", "content": "q"}]));
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"stream_options": {}}),
                "stream_options: Extra inputs",
            ),
            (json!({"system": [{"type": "image"}]}), "system.0.type"),
            (json!({"system": 3}), "system"),
            (
                json!({"tools": [{"name": "f"}]}),
                "input_schema: Field required",
            ),
            (
                json!({"tools": [{"name": "f", "input_schema": {"type": "string"}}]}),
                "input_schema.type",
            ),
            (
                json!({"tools": [{"name": "f", "parameters": {}, "input_schema": {"type": "object"}}]}),
                "parameters: Extra inputs",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f"}}]}),
                "tools.0.name: Field required",
            ),
            (
                json!({"tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "required"}}),
                "tool_choice.type",
            ),
            (
                json!({"tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "tool", "name": "g"}}),
                "'g'",
            ),
            (
                json!({"tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": "auto"}),
                "tool_choice: Input should be a valid dictionary",
            ),
            (
                json!({"tool_choice": {"type": "auto"}}),
                "while providing tools",
            ),
            (json!({"stop_sequences": "x"}), "stop_sequences"),
            (json!({"temperature": 1.5}), "temperature"),
            (json!({"top_k": -1}), "top_k"),
        ];
        for (extra, want) in cases {
            let e = validate(&base(extra.clone()), Betas::default()).unwrap_err();
            assert!(e.contains(want), "{extra}: {e}");
        }
        // A final assistant prefill may be empty.
        validate(
            &req(json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}])),
            Betas::default(),
        )
        .unwrap();
        // Server tools pass with their own fields.
        validate(&base(json!({"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]})), Betas::default()).unwrap();
    }

    /// What Claude Code 2.1 sends (captured through Drover), which the real API accepts.
    #[test]
    fn accepts_what_claude_code_sends() {
        let betas = Betas::new(
            "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,mid-conversation-tool-changes-2026-07-01,advanced-tool-use-2025-11-20,effort-2025-11-24",
        );
        let cached = json!({"type": "ephemeral", "ttl": "1h"});
        let v = json!({
            "model": "m", "max_tokens": 32000, "stream": true,
            "thinking": {"type": "adaptive", "display": "updates"},
            "output_config": {"effort": "high"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "metadata": {"user_id": "{\"device_id\":\"d\"}"},
            "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1"},
                       {"type": "text", "text": "You are Claude Code", "cache_control": cached}],
            "tools": [
                {"name": "Read", "description": "d", "eager_input_streaming": true, "strict": false,
                 "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
                 "cache_control": {"type": "ephemeral"}},
                {"name": "DeferredToolPlaceholder", "defer_loading": true,
                 "input_schema": {"type": "object", "properties": {}}}
            ],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"},
                                             {"type": "text", "text": "read it", "cache_control": {"type": "ephemeral"}}]},
                {"role": "system", "content": [{"type": "text", "text": "# Environment", "cache_control": {"type": "ephemeral"}}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": "/x"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "hi",
                                              "cache_control": {"type": "ephemeral"}}]}
            ]
        });
        validate(&v, betas).unwrap();
        let p = read(&v);
        assert_eq!(p.last, LastTurn::ToolResults(vec!["hi".into()]));
        // A trailing system message does not hide the user turn it follows.
        let trailing = json!({"model": "m", "max_tokens": 5, "messages": [
            {"role": "user", "content": "use tool f"},
            {"role": "system", "content": "env"}]});
        validate(&trailing, betas).unwrap();
        let p = read(&trailing);
        assert_eq!(p.last, LastTurn::User("use tool f".into()));
        assert_eq!(p.system.as_deref(), Some("env"));
        // Budgets above max_tokens need interleaved thinking.
        let mut budget = req(json!([{"role": "user", "content": "q"}]));
        budget["thinking"] =
            json!({"type": "enabled", "budget_tokens": 40000, "display": "summarized"});
        validate(&budget, betas).unwrap();
        assert!(validate(&budget, Betas::default())
            .unwrap_err()
            .contains("budget_tokens"));
        // Without their beta, system messages are still refused.
        let e = validate(&v, Betas::new("claude-code-20250219")).unwrap_err();
        assert!(e.contains("Unexpected role \"system\""), "{e}");
        let refused: Vec<(Value, &str)> = vec![
            (
                json!({"output_config": {"effort": "extreme"}}),
                "output_config.effort",
            ),
            (
                json!({"output_config": {"verbosity": "low"}}),
                "output_config.verbosity: Extra",
            ),
            (
                json!({"thinking": {"type": "adaptive", "budget_tokens": 2000}}),
                "thinking.budget_tokens: Extra",
            ),
            (json!({"thinking": {"type": "sometimes"}}), "thinking.type"),
            (
                json!({"context_management": {"edits": [{"keep": "all"}]}}),
                "edits.0.type: Field required",
            ),
            (
                json!({"tools": [{"name": "f", "defer_loading": "yes", "input_schema": {"type": "object"}}]}),
                "defer_loading: Input should be a valid boolean",
            ),
            (
                json!({"tools": [{"name": "f", "defer_loading": true}]}),
                "input_schema: Field required",
            ),
            (
                json!({"system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "2h"}}]}),
                "ttl",
            ),
        ];
        for (extra, want) in refused {
            let mut body = req(json!([{"role": "user", "content": "q"}]));
            for (k, x) in extra.as_object().unwrap() {
                body[k] = x.clone();
            }
            let e = validate(&body, betas).unwrap_err();
            assert!(e.contains(want), "{extra}: {e}");
        }
        // Documents, in a user turn and in a tool result.
        let pdf = json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "aGk="},
                         "title": "t", "cache_control": {"type": "ephemeral"}});
        let text_doc = json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hi"}});
        validate(&req(json!([{"role": "user", "content": [pdf, {"type": "text", "text": "read"}]},
            {"role": "assistant", "content": [tool_use("t1")]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [text_doc]}]}])),
            Betas::default()).unwrap();
        let bad = json!({"type": "document", "source": {"type": "base64", "media_type": "image/png", "data": "aGk="}});
        let e = validate(
            &req(json!([{"role": "user", "content": [bad]}])),
            Betas::default(),
        )
        .unwrap_err();
        assert!(e.contains("source.media_type"), "{e}");
        // A system message may not open the conversation, even with the beta.
        let first =
            req(json!([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]));
        assert!(validate(&first, betas).is_err());
    }
}
