//! Reading OpenAI request bodies: `validate_*` refuses what the OpenAI API refuses (strict
//! kind only), `read_*` extracts the [`Prompt`] leniently (every kind serving `/v1/*`).
//! Messages name the offending field, in the spirit of OpenAI's own.

use serde_json::{Map, Value};

use super::base64;
use super::prompt::{
    content_words, join_into, limit, stop_list, text_of, LastTurn, Prompt, Tool, ToolChoice,
};

type Check = Result<(), String>;

const ROLES: &str = "'system', 'developer', 'user', 'assistant' and 'tool'";

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("Invalid type for '{path}': expected an object."))
}

/// A required non-empty string field.
fn string<'a>(o: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, String> {
    match o.get(key) {
        None | Some(Value::Null) => Err(format!("Missing required parameter: '{path}.{key}'.")),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(format!("Invalid '{path}.{key}': empty string.")),
        Some(_) => Err(format!(
            "Invalid type for '{path}.{key}': expected a string."
        )),
    }
}

/// Tool names as OpenAI allows them: `^[a-zA-Z0-9_-]{1,64}$`.
pub(crate) fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_model(o: &Map<String, Value>) -> Check {
    match o.get("model") {
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            Err("you must provide a model parameter".to_owned())
        }
        Some(_) => Err("Invalid type for 'model': expected a string.".to_owned()),
    }
}

fn optional_number(o: &Map<String, Value>, key: &str, max: f64) -> Check {
    match o.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(v) => match v.as_f64() {
            Some(x) if (0.0..=max).contains(&x) => Ok(()),
            Some(x) => Err(format!(
                "Invalid '{key}': {x} is out of range; expected a value between 0 and {max}."
            )),
            None => Err(format!("Invalid type for '{key}': expected a number.")),
        },
    }
}

fn optional_positive(o: &Map<String, Value>, key: &str) -> Check {
    match o.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v.as_u64().is_some_and(|n| n >= 1) => Ok(()),
        Some(_) => Err(format!(
            "Invalid '{key}': expected an integer greater than or equal to 1."
        )),
    }
}

/// Fields shared by chat and text completions: streaming switches, stop, limits, sampling.
fn check_common(o: &Map<String, Value>) -> Check {
    let stream = match o.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("Invalid type for 'stream': expected a boolean.".to_owned()),
    };
    match o.get("stream_options") {
        None | Some(Value::Null) => {}
        Some(_) if !stream => {
            return Err(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled."
                    .to_owned(),
            )
        }
        Some(so) => {
            let so = object(so, "stream_options")?;
            if so.get("include_usage").is_some_and(|v| !v.is_boolean()) {
                return Err(
                    "Invalid type for 'stream_options.include_usage': expected a boolean."
                        .to_owned(),
                );
            }
        }
    }
    match o.get("stop") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(Value::Array(items)) => {
            if items.len() > 4 {
                return Err("Invalid 'stop': array too long. Expected at most 4 items.".to_owned());
            }
            if !items.iter().all(Value::is_string) {
                return Err("Invalid type for 'stop': expected an array of strings.".to_owned());
            }
        }
        Some(_) => {
            return Err(
                "Invalid type for 'stop': expected a string or an array of strings.".to_owned(),
            )
        }
    }
    optional_positive(o, "max_tokens")?;
    optional_positive(o, "max_completion_tokens")?;
    optional_positive(o, "n")?;
    optional_number(o, "temperature", 2.0)?;
    optional_number(o, "top_p", 1.0)
}

/// `http(s)://…` or a `data:image/…;base64,` URL with valid base64.
fn check_image_url(url: &str, path: &str) -> Check {
    if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        return if rest.is_empty() {
            Err(format!("Invalid '{path}': URL has no host."))
        } else {
            Ok(())
        };
    }
    match base64::image_data_url(url) {
        Some((_, data)) if base64::is_valid(data) => Ok(()),
        Some(_) => Err(format!(
            "Invalid '{path}': the data URL is not valid base64."
        )),
        None => Err(format!(
            "Invalid '{path}': expected an http(s) URL or a base64 data:image/ URL."
        )),
    }
}

/// Which content part types a role accepts.
#[derive(Clone, Copy)]
enum Parts {
    /// system, developer, tool.
    Text,
    /// user: text and images.
    TextAndImages,
    /// assistant: text and refusals.
    Assistant,
}

fn check_content(content: &Value, path: &str, parts: Parts) -> Check {
    let items = match content {
        Value::String(_) => return Ok(()),
        Value::Array(items) => items,
        Value::Null => {
            return Err(format!(
                "Invalid value for '{path}': expected a string, got null."
            ))
        }
        _ => {
            return Err(format!(
                "Invalid type for '{path}': expected one of a string or array of objects."
            ))
        }
    };
    if items.is_empty() {
        return Err(format!(
            "Invalid '{path}': empty array. Expected an array with minimum length 1."
        ));
    }
    for (j, part) in items.iter().enumerate() {
        let ppath = format!("{path}[{j}]");
        let o = object(part, &ppath)?;
        let kind = string(o, "type", &ppath)?;
        match (kind, parts) {
            ("text", _) => {
                if !o.get("text").is_some_and(Value::is_string) {
                    return Err(format!("Missing required parameter: '{ppath}.text'."));
                }
            }
            ("image_url", Parts::TextAndImages) => {
                let iu = o
                    .get("image_url")
                    .ok_or_else(|| format!("Missing required parameter: '{ppath}.image_url'."))?;
                let iu = object(iu, &format!("{ppath}.image_url"))?;
                let url = string(iu, "url", &format!("{ppath}.image_url"))?;
                check_image_url(url, &format!("{ppath}.image_url.url"))?;
                if let Some(d) = iu.get("detail") {
                    if !matches!(d.as_str(), Some("auto" | "low" | "high")) {
                        return Err(format!(
                            "Invalid value for '{ppath}.image_url.detail': expected 'auto', 'low' or 'high'."
                        ));
                    }
                }
            }
            ("refusal", Parts::Assistant) => {
                string(o, "refusal", &ppath)?;
            }
            (other, _) => {
                return Err(format!(
                    "Invalid value for '{ppath}.type': '{other}' is not a supported content part type here."
                ))
            }
        }
    }
    Ok(())
}

/// An assistant message's `tool_calls`; returns their ids.
fn check_tool_calls<'a>(calls: &'a Value, path: &str) -> Result<Vec<&'a str>, String> {
    let calls = calls
        .as_array()
        .ok_or_else(|| format!("Invalid type for '{path}': expected an array."))?;
    if calls.is_empty() {
        return Err(format!(
            "Invalid '{path}': empty array. Expected an array with minimum length 1."
        ));
    }
    let mut ids = Vec::with_capacity(calls.len());
    for (j, call) in calls.iter().enumerate() {
        let cpath = format!("{path}[{j}]");
        let c = object(call, &cpath)?;
        ids.push(string(c, "id", &cpath)?);
        match string(c, "type", &cpath)? {
            "function" => {}
            // A call of a custom (free-form) tool: its input is plain text.
            "custom" => {
                let xpath = format!("{cpath}.custom");
                let x = object(
                    c.get("custom")
                        .ok_or_else(|| format!("Missing required parameter: '{xpath}'."))?,
                    &xpath,
                )?;
                string(x, "name", &xpath)?;
                if !x.get("input").is_some_and(Value::is_string) {
                    return Err(format!(
                        "Invalid type for '{xpath}.input': expected a string."
                    ));
                }
                continue;
            }
            _ => {
                return Err(format!(
                    "Invalid value for '{cpath}.type': expected one of 'function' or 'custom'."
                ))
            }
        }
        let fpath = format!("{cpath}.function");
        let f = object(
            c.get("function")
                .ok_or_else(|| format!("Missing required parameter: '{fpath}'."))?,
            &fpath,
        )?;
        string(f, "name", &fpath)?;
        match f.get("arguments") {
            Some(Value::String(args)) => {
                if serde_json::from_str::<serde::de::IgnoredAny>(args).is_err() {
                    return Err(format!(
                        "Invalid '{fpath}.arguments': not valid JSON: {args:?}."
                    ));
                }
            }
            None => return Err(format!("Missing required parameter: '{fpath}.arguments'.")),
            Some(_) => {
                return Err(format!(
                "Invalid type for '{fpath}.arguments': expected a string (JSON-encoded arguments)."
            ))
            }
        }
    }
    Ok(ids)
}

fn unanswered(pending: &[&str]) -> String {
    format!(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
        pending.join(", ")
    )
}

fn check_messages(messages: &[Value]) -> Check {
    if messages.is_empty() {
        return Err(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."
                .to_owned(),
        );
    }
    // Ids of the last assistant turn's calls not yet answered, and whether the previous
    // message belongs to that turn (the assistant message or one of its tool answers).
    let mut pending: Vec<&str> = Vec::new();
    let mut answering = false;
    for (i, m) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let o = object(m, &path)?;
        let role = string(o, "role", &path)?;
        if role != "tool" && !pending.is_empty() {
            return Err(unanswered(&pending));
        }
        if o.get("name").is_some_and(|n| !n.is_string()) {
            return Err(format!(
                "Invalid type for '{path}.name': expected a string."
            ));
        }
        let content = o.get("content").unwrap_or(&Value::Null);
        let cpath = format!("{path}.content");
        match role {
            "system" | "developer" => check_content(content, &cpath, Parts::Text)?,
            "user" => check_content(content, &cpath, Parts::TextAndImages)?,
            "assistant" => {
                let calls = match o.get("tool_calls") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(calls) => check_tool_calls(calls, &format!("{path}.tool_calls"))?,
                };
                if !content.is_null() || calls.is_empty() {
                    check_content(content, &cpath, Parts::Assistant)?;
                }
                answering = !calls.is_empty();
                pending = calls;
                continue;
            }
            "tool" => {
                let id = string(o, "tool_call_id", &path)?;
                if !answering {
                    return Err(format!(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls' ({path})."
                    ));
                }
                match pending.iter().position(|p| *p == id) {
                    Some(k) => {
                        pending.remove(k);
                    }
                    None => {
                        return Err(format!(
                            "Invalid parameter: '{path}.tool_call_id' of '{id}' not found in 'tool_calls' of previous message."
                        ))
                    }
                }
                check_content(content, &cpath, Parts::Text)?;
                continue;
            }
            other => {
                return Err(format!(
                    "Invalid value for '{path}.role': '{other}'. Supported values are: {ROLES}."
                ))
            }
        }
        answering = false;
    }
    if pending.is_empty() {
        Ok(())
    } else {
        Err(unanswered(&pending))
    }
}

/// `tools`; returns the declared names.
fn check_tools(tools: &Value) -> Result<Vec<&str>, String> {
    let tools = tools
        .as_array()
        .ok_or("Invalid type for 'tools': expected an array.")?;
    let mut names = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        let o = object(t, &path)?;
        match string(o, "type", &path)? {
            "function" => {}
            // Custom tools take free-form text input (optionally with a grammar `format`).
            "custom" => {
                let cpath = format!("{path}.custom");
                let c = object(
                    o.get("custom")
                        .ok_or_else(|| format!("Missing required parameter: '{cpath}'."))?,
                    &cpath,
                )?;
                let name = string(c, "name", &cpath)?;
                if !valid_tool_name(name) {
                    return Err(format!(
                        "Invalid '{cpath}.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
                    ));
                }
                names.push(name);
                continue;
            }
            _ => {
                return Err(format!(
                    "Invalid value for '{path}.type': expected one of 'function' or 'custom'."
                ))
            }
        }
        let fpath = format!("{path}.function");
        let f = object(
            o.get("function")
                .ok_or_else(|| format!("Missing required parameter: '{fpath}'."))?,
            &fpath,
        )?;
        let name = string(f, "name", &fpath)?;
        if !valid_tool_name(name) {
            return Err(format!(
                "Invalid '{fpath}.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
            ));
        }
        if f.get("parameters").is_some_and(|p| !p.is_object()) {
            return Err(format!(
                "Invalid type for '{fpath}.parameters': expected an object."
            ));
        }
        if f.get("description").is_some_and(|d| !d.is_string()) {
            return Err(format!(
                "Invalid type for '{fpath}.description': expected a string."
            ));
        }
        names.push(name);
    }
    Ok(names)
}

fn check_tool_choice(choice: &Value, tools: &[&str]) -> Check {
    if tools.is_empty() {
        return Err(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
                .to_owned(),
        );
    }
    match choice {
        Value::String(s) if matches!(s.as_str(), "none" | "auto" | "required") => Ok(()),
        Value::Object(o) => {
            let kind = match o.get("type").and_then(Value::as_str) {
                Some(k @ ("function" | "custom")) => k,
                _ => {
                    return Err(
                        "Invalid value for 'tool_choice.type': expected one of 'function' or 'custom'."
                            .to_owned(),
                    )
                }
            };
            let path = format!("tool_choice.{kind}");
            let f = object(
                o.get(kind)
                    .ok_or_else(|| format!("Missing required parameter: '{path}'."))?,
                &path,
            )?;
            let name = string(f, "name", &path)?;
            if tools.contains(&name) {
                Ok(())
            } else {
                Err(format!(
                    "Invalid value for 'tool_choice': function '{name}' is not among the declared tools."
                ))
            }
        }
        _ => Err(
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a named function."
                .to_owned(),
        ),
    }
}

/// OpenAI's checks of a chat completion request.
pub(crate) fn validate_chat(v: &Value) -> Check {
    let o = v
        .as_object()
        .ok_or("The request body must be a JSON object.")?;
    check_model(o)?;
    match o.get("messages") {
        Some(Value::Array(m)) => check_messages(m)?,
        None | Some(Value::Null) => {
            return Err("Missing required parameter: 'messages'.".to_owned())
        }
        Some(_) => return Err("Invalid type for 'messages': expected an array.".to_owned()),
    }
    let tools = match o.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(t) => check_tools(t)?,
    };
    match o.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(c) => check_tool_choice(c, &tools)?,
    }
    if o.get("parallel_tool_calls")
        .is_some_and(|p| !p.is_boolean())
    {
        return Err("Invalid type for 'parallel_tool_calls': expected a boolean.".to_owned());
    }
    if o.get("prompt_cache_key")
        .is_some_and(|p| !p.is_string() && !p.is_null())
    {
        return Err("Invalid type for 'prompt_cache_key': expected a string.".to_owned());
    }
    check_common(o)
}

/// OpenAI's checks of a (legacy) text completion request.
pub(crate) fn validate_completion(v: &Value) -> Check {
    let o = v
        .as_object()
        .ok_or("The request body must be a JSON object.")?;
    check_model(o)?;
    match o.get("prompt") {
        Some(Value::String(_)) => {}
        Some(Value::Array(items)) if !items.is_empty() => {}
        None | Some(Value::Null) => return Err("Missing required parameter: 'prompt'.".to_owned()),
        Some(_) => {
            return Err(
                "Invalid type for 'prompt': expected a string or a non-empty array.".to_owned(),
            )
        }
    }
    check_common(o)
}

/// OpenAI's checks of an embeddings request.
pub(crate) fn validate_embeddings(v: &Value) -> Check {
    let o = v
        .as_object()
        .ok_or("The request body must be a JSON object.")?;
    check_model(o)?;
    let ok = match o.get("input") {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(items)) => {
            !items.is_empty()
                && (items
                    .iter()
                    .all(|i| i.as_str().is_some_and(|s| !s.is_empty()))
                    || items.iter().all(Value::is_u64)
                    || items.iter().all(|i| {
                        i.as_array()
                            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_u64))
                    }))
        }
        _ => false,
    };
    if !ok {
        return Err("Invalid 'input': expected a non-empty string, array of strings, or array of token arrays.".to_owned());
    }
    match o.get("encoding_format") {
        None | Some(Value::Null) => {}
        Some(Value::String(f)) if f == "float" || f == "base64" => {}
        Some(_) => {
            return Err(
                "Invalid value for 'encoding_format': expected 'float' or 'base64'.".to_owned(),
            )
        }
    }
    optional_positive(o, "dimensions")?;
    if o.get("user")
        .is_some_and(|u| !u.is_string() && !u.is_null())
    {
        return Err("Invalid type for 'user': expected a string.".to_owned());
    }
    Ok(())
}

fn image_parts(content: &Value) -> usize {
    content.as_array().map_or(0, |parts| {
        parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("image_url"))
            .count()
    })
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or("")
}

fn content(m: &Value) -> &Value {
    m.get("content").unwrap_or(&Value::Null)
}

/// The [`Prompt`] of a chat completion request, whatever its validity.
pub(crate) fn read_chat(v: &Value) -> Prompt {
    let mut p = Prompt::default();
    let messages = v
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for m in messages {
        let c = content(m);
        p.words += content_words(c);
        p.images += image_parts(c);
        if matches!(role(m), "system" | "developer") {
            join_into(&mut p.system, &text_of(c));
        }
    }
    // The turn answered is the last user or tool one: system messages after it (agents
    // insert them mid-conversation) do not hide it.
    let end = messages
        .iter()
        .rposition(|m| !(matches!(role(m), "system" | "developer")))
        .map_or(0, |k| k + 1);
    let turns = messages.get(..end).unwrap_or_default();
    p.last = match turns.last() {
        Some(m) if role(m) == "user" => LastTurn::User(text_of(content(m))),
        Some(m) if role(m) == "tool" => {
            let start = turns
                .iter()
                .rposition(|m| role(m) != "tool")
                .map_or(0, |k| k + 1);
            LastTurn::ToolResults(
                turns
                    .get(start..)
                    .unwrap_or_default()
                    .iter()
                    .map(|m| text_of(content(m)))
                    .collect(),
            )
        }
        _ => LastTurn::Other,
    };
    p.tools = v
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| Tool::from_declaration(t, "/function/name", "/function/parameters"))
                .collect()
        })
        .unwrap_or_default();
    p.choice = match v.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::String(s)) if s == "required" => ToolChoice::Required,
        Some(Value::Object(o)) => match o.get("function").and_then(|f| f.get("name")) {
            Some(Value::String(name)) => ToolChoice::Named(name.clone()),
            _ => ToolChoice::Auto,
        },
        _ => ToolChoice::Auto,
    };
    p.stop = stop_list(v.get("stop"));
    p.max_tokens = limit(v.get("max_completion_tokens")).or_else(|| limit(v.get("max_tokens")));
    p.cached = v.get("prompt_cache_key").is_some_and(|k| !k.is_null());
    p
}

/// The [`Prompt`] of a text completion request.
pub(crate) fn read_completion(v: &Value, words: usize) -> Prompt {
    Prompt {
        words,
        stop: stop_list(v.get("stop")),
        max_tokens: limit(v.get("max_tokens")),
        ..Prompt::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chat(messages: Value) -> Value {
        json!({"model": "m", "messages": messages})
    }

    fn err(v: Value) -> String {
        validate_chat(&v).unwrap_err()
    }

    #[test]
    fn accepts_a_full_tool_conversation() {
        let v = json!({
            "model": "m",
            "stream": true,
            "stream_options": {"include_usage": true},
            "stop": ["x"],
            "max_completion_tokens": 3,
            "temperature": 0.5,
            "unknown_field": 1,
            "tools": [{"type": "function", "function": {"name": "get_w", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "get_w"}},
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "get_w", "arguments": "{\"a\":1}"}},
                    {"id": "c2", "type": "function", "function": {"name": "get_w", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "c2", "content": "r2"},
                {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "r1"}]},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "thanks"}
            ]
        });
        validate_chat(&v).unwrap();
        let p = read_chat(&v);
        assert_eq!(p.system.as_deref(), Some("be brief"));
        assert_eq!(p.images, 2);
        assert_eq!(p.tool_names(), ["get_w"]);
        assert_eq!(p.choice, ToolChoice::Named("get_w".into()));
        assert_eq!(p.last, LastTurn::User("thanks".into()));
        assert_eq!(p.max_tokens, Some(3));
        assert_eq!(p.words, 2 + 1 + 1 + 1 + 1 + 1);
    }

    #[test]
    fn accepts_custom_tools() {
        let v = chat(json!([
            {"role": "user", "content": "patch it"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "custom", "custom": {"name": "apply_patch", "input": "*** Begin Patch"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "done"}
        ]));
        let mut v = v;
        v["tools"] = json!([{"type": "custom", "custom": {"name": "apply_patch", "description": "d",
                              "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /.+/"}}}},
                            {"type": "function", "function": {"name": "f", "strict": true, "parameters": {"type": "object"}}}]);
        v["tool_choice"] = json!({"type": "custom", "custom": {"name": "apply_patch"}});
        validate_chat(&v).unwrap();
        v["tool_choice"] = json!({"type": "custom", "custom": {"name": "nope"}});
        assert!(validate_chat(&v).unwrap_err().contains("'nope'"));
        v["tools"][0]["custom"] = json!({});
        assert!(validate_chat(&v)
            .unwrap_err()
            .contains("tools[0].custom.name"));
    }

    #[test]
    fn reads_trailing_tool_results() {
        let v = chat(json!([
            {"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "one"},
            {"role": "tool", "tool_call_id": "b", "content": "two"}
        ]));
        assert_eq!(
            read_chat(&v).last,
            LastTurn::ToolResults(vec!["one".into(), "two".into()])
        );
        // System messages after the turn (an agent's mid-conversation notes) do not hide it.
        let v = chat(json!([
            {"role": "user", "content": "use tool f"},
            {"role": "system", "content": "env"},
            {"role": "developer", "content": "more"}
        ]));
        let p = read_chat(&v);
        assert_eq!(p.last, LastTurn::User("use tool f".into()));
        assert_eq!(p.system.as_deref(), Some("env more"));
    }

    #[test]
    fn refuses_each_rule() {
        let call = |id: &str, args: Value| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": args}});
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), "JSON object"),
            (
                json!({"messages": [{"role": "user", "content": "x"}]}),
                "model",
            ),
            (json!({"model": "m"}), "'messages'"),
            (chat(json!([])), "empty array"),
            (
                chat(json!([{"role": "system2", "content": "x"}])),
                "'messages[0].role'",
            ),
            (chat(json!([{"content": "x"}])), "messages[0].role"),
            (chat(json!([{"role": "user"}])), "messages[0].content"),
            (
                chat(json!([{"role": "user", "content": 3}])),
                "messages[0].content",
            ),
            (
                chat(json!([{"role": "user", "content": [{"type": "audio"}]}])),
                "'audio'",
            ),
            (
                chat(
                    json!([{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}]),
                ),
                "'image_url'",
            ),
            (
                chat(
                    json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]),
                ),
                "image_url.url",
            ),
            (
                chat(
                    json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]}]),
                ),
                "base64",
            ),
            (
                chat(
                    json!([{"role": "user", "content": [{"type": "image_url", "image_url": "https://x"}]}]),
                ),
                "image_url",
            ),
            (
                chat(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [call("a", json!({"x": 1}))]}, {"role": "tool", "tool_call_id": "a", "content": "r"}]),
                ),
                "expected a string (JSON",
            ),
            (
                chat(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [call("a", json!("{nope"))]}, {"role": "tool", "tool_call_id": "a", "content": "r"}]),
                ),
                "not valid JSON",
            ),
            (
                chat(
                    json!([{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "a", "content": "r"}]),
                ),
                "must be a response",
            ),
            (
                chat(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [call("a", json!("{}"))]}, {"role": "tool", "tool_call_id": "zz", "content": "r"}]),
                ),
                "'zz' not found",
            ),
            (
                chat(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [call("a", json!("{}")), call("b", json!("{}"))]}, {"role": "tool", "tool_call_id": "a", "content": "r"}, {"role": "user", "content": "x"}]),
                ),
                "did not have response messages: b",
            ),
            (
                chat(
                    json!([{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [call("a", json!("{}"))]}]),
                ),
                "did not have response messages: a",
            ),
            (
                chat(json!([{"role": "user", "content": "q"}, {"role": "tool", "content": "r"}])),
                "tool_call_id",
            ),
            (
                chat(json!([{"role": "assistant", "content": null}])),
                "got null",
            ),
        ];
        for (body, want) in cases {
            let e = err(body.clone());
            assert!(e.contains(want), "{body}: {e}");
        }
        let base = |extra: Value| {
            let mut v = chat(json!([{"role": "user", "content": "q"}]));
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"stream_options": {"include_usage": true}}),
                "only allowed when 'stream'",
            ),
            (
                json!({"stream": false, "stream_options": {"include_usage": true}}),
                "only allowed",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "bad name"}}]}),
                "pattern",
            ),
            (json!({"tools": [{"type": "retrieval"}]}), "'tools[0].type'"),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]}),
                "parameters",
            ),
            (json!({"tool_choice": "auto"}), "only allowed when 'tools'"),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "any"}),
                "tool_choice",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}}),
                "'g'",
            ),
            (json!({"stop": ["a", "b", "c", "d", "e"]}), "stop"),
            (json!({"max_tokens": 0}), "max_tokens"),
            (json!({"temperature": 3}), "temperature"),
        ];
        for (extra, want) in cases {
            let e = err(base(extra.clone()));
            assert!(e.contains(want), "{extra}: {e}");
        }
    }

    #[test]
    fn completions_and_embeddings() {
        validate_completion(&json!({"model": "m", "prompt": "x"})).unwrap();
        assert!(validate_completion(&json!({"model": "m"})).is_err());
        validate_embeddings(&json!({"model": "m", "input": ["a", "b"]})).unwrap();
        validate_embeddings(&json!({"model": "m", "input": [1, 2]})).unwrap();
        assert!(validate_embeddings(&json!({"model": "m", "input": ""})).is_err());
        assert!(validate_embeddings(&json!({"model": "m"})).is_err());
        // What the openai Node SDK sends by default.
        validate_embeddings(&json!({"model": "m", "input": "a", "encoding_format": "base64"}))
            .unwrap();
        validate_embeddings(&json!({"model": "m", "input": "a", "encoding_format": "float", "dimensions": 4, "user": "u"}))
            .unwrap();
        let e = validate_embeddings(&json!({"model": "m", "input": "a", "encoding_format": "hex"}))
            .unwrap_err();
        assert!(e.contains("encoding_format"), "{e}");
        assert!(
            validate_embeddings(&json!({"model": "m", "input": "a", "dimensions": 0})).is_err()
        );
    }
}
