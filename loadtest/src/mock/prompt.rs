//! What a request asked for, in terms every kind shares: the facts the mock's answer
//! depends on (see `plan`), read from an Ollama, OpenAI or Anthropic body by the
//! `*_request` modules.

use serde_json::Value;

use super::text::count_words;

/// Which declared tools the model may call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    /// Call tools when the turn asks for it (also OpenAI's absent `tool_choice`).
    #[default]
    Auto,
    /// Never call tools: answer text.
    None,
    /// OpenAI `required`, Anthropic `any`: call tools (the mock calls them anyway).
    Required,
    /// Call this tool only.
    Named(String),
}

/// The turn the answer responds to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum LastTurn {
    /// No message, or the last one is the assistant's (a prefill).
    #[default]
    Other,
    /// A user turn that is not a tool result: its text.
    User(String),
    /// The results of the last tool calls, in order, as text.
    ToolResults(Vec<String>),
}

/// A declared tool: its name and its parameters' JSON schema, when the request gave one.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Tool {
    pub(crate) name: String,
    pub(crate) schema: Option<Value>,
}

impl Tool {
    /// A tool declared as `tool` (OpenAI and Ollama `{"function": {"name", "parameters"}}`,
    /// Anthropic `{"name", "input_schema"}`), if it has a name.
    pub(crate) fn from_declaration(tool: &Value, name: &str, schema: &str) -> Option<Tool> {
        Some(Tool {
            name: tool.pointer(name)?.as_str()?.to_owned(),
            schema: tool.pointer(schema).filter(|s| s.is_object()).cloned(),
        })
    }
}

/// The facts of a request the mock's answer depends on.
#[derive(Clone, Debug, Default)]
pub(crate) struct Prompt {
    /// Words of all text sent: system, messages, tool results (not tool definitions nor
    /// tool-call arguments). The prompt token count.
    pub(crate) words: usize,
    /// The system prompt's text (several system parts joined by a space).
    pub(crate) system: Option<String>,
    /// Images carried, in any form.
    pub(crate) images: usize,
    /// The declared tools, in order.
    pub(crate) tools: Vec<Tool>,
    pub(crate) choice: ToolChoice,
    pub(crate) last: LastTurn,
    /// Stop sequences.
    pub(crate) stop: Vec<String>,
    /// The answer's length limit, in chunks.
    pub(crate) max_tokens: Option<usize>,
    /// Whether the request asked for prompt caching (Anthropic `cache_control`, OpenAI
    /// `prompt_cache_key`).
    pub(crate) cached: bool,
}

/// Text of a `content` that is a string or an array of parts carrying `text` (OpenAI parts,
/// Anthropic text blocks), parts joined by a space.
pub(crate) fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let mut out = String::new();
            for t in parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
            {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(t);
            }
            out
        }
        _ => String::new(),
    }
}

/// Words of a `content` string or of its text parts.
pub(crate) fn content_words(content: &Value) -> usize {
    match content {
        Value::String(s) => count_words(s),
        Value::Array(parts) => parts
            .iter()
            .map(|p| p.get("text").and_then(Value::as_str).map_or(0, count_words))
            .sum(),
        _ => 0,
    }
}

/// Stop sequences given as one string or an array of strings (others ignored).
pub(crate) fn stop_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// A non-negative integer field as a limit.
pub(crate) fn limit(v: Option<&Value>) -> Option<usize> {
    v.and_then(Value::as_u64)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Appends `text` to an optional space-joined accumulator.
pub(crate) fn join_into(acc: &mut Option<String>, text: &str) {
    match acc {
        Some(s) => {
            s.push(' ');
            s.push_str(text);
        }
        None => *acc = Some(text.to_owned()),
    }
}

#[cfg(test)]
impl Prompt {
    /// Names of the declared tools, in order.
    pub(crate) fn tool_names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.name.as_str()).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tools_from_each_declaration_form() {
        let t = json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}});
        let tool = Tool::from_declaration(&t, "/function/name", "/function/parameters").unwrap();
        assert_eq!(tool.name, "f");
        assert_eq!(tool.schema, Some(json!({"type": "object"})));
        let t = json!({"name": "g", "input_schema": "nope"});
        let tool = Tool::from_declaration(&t, "/name", "/input_schema").unwrap();
        assert_eq!((tool.name.as_str(), tool.schema), ("g", None));
        assert!(Tool::from_declaration(&json!({"name": 3}), "/name", "/input_schema").is_none());
    }

    #[test]
    fn text_and_words_of_content_forms() {
        assert_eq!(text_of(&json!("a b")), "a b");
        let parts =
            json!([{"type":"text","text":"x y"},{"type":"image_url"},{"type":"text","text":"z"}]);
        assert_eq!(text_of(&parts), "x y z");
        assert_eq!(content_words(&parts), 3);
        assert_eq!(text_of(&Value::Null), "");
    }

    #[test]
    fn stops_and_limits() {
        assert_eq!(stop_list(Some(&json!("a"))), vec!["a"]);
        assert_eq!(stop_list(Some(&json!(["a", 1, "b"]))), vec!["a", "b"]);
        assert!(stop_list(None).is_empty());
        assert_eq!(limit(Some(&json!(3))), Some(3));
        assert_eq!(limit(Some(&json!(-1))), None);
        let mut acc = None;
        join_into(&mut acc, "a");
        join_into(&mut acc, "b");
        assert_eq!(acc.as_deref(), Some("a b"));
    }
}
