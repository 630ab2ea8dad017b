//! Reading Ollama request bodies: [`validate_chat`] refuses the two things real Ollama
//! cannot decode (images that are not bare base64, tool-call arguments that are not
//! objects), [`read_chat`] and [`read_generate`] extract the [`Prompt`].

use serde_json::Value;

use super::base64;
use super::prompt::{content_words, join_into, stop_list, text_of, LastTurn, Prompt, Tool};
use super::text::count_words;

type Check = Result<(), String>;

fn check_images(images: Option<&Value>, path: &str) -> Check {
    let Some(images) = images else {
        return Ok(());
    };
    let items = match images {
        Value::Null => return Ok(()),
        Value::Array(items) => items,
        _ => {
            return Err(format!(
                "{path}.images: expected an array of base64 strings"
            ))
        }
    };
    for (j, img) in items.iter().enumerate() {
        match img.as_str() {
            Some(s) if base64::is_valid(s) => {}
            Some(s) if s.starts_with("data:") => {
                return Err(format!(
                    "{path}.images[{j}]: illegal base64 data at input byte 4 (images are bare base64, without a data: URL prefix)"
                ))
            }
            _ => return Err(format!("{path}.images[{j}]: illegal base64 data")),
        }
    }
    Ok(())
}

/// What real Ollama refuses in a chat request (it is lenient about the rest).
pub(crate) fn validate_chat(v: &Value) -> Check {
    let Some(messages) = v.get("messages") else {
        return Ok(());
    };
    let messages = match messages {
        Value::Null => return Ok(()),
        Value::Array(m) => m,
        _ => return Err("messages: expected an array".to_owned()),
    };
    for (i, m) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        check_images(m.get("images"), &path)?;
        let Some(calls) = m.get("tool_calls").and_then(Value::as_array) else {
            continue;
        };
        for (j, call) in calls.iter().enumerate() {
            match call.pointer("/function/arguments") {
                None | Some(Value::Object(_)) => {}
                Some(other) => {
                    let got = if other.is_string() {
                        "string"
                    } else {
                        "non-object"
                    };
                    return Err(format!(
                        "json: cannot unmarshal {got} into Go struct field ToolCallFunction.{path}.tool_calls[{j}].function.arguments of type api.ToolCallFunctionArguments"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn images_in(m: &Value) -> usize {
    m.get("images")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or("")
}

fn content(m: &Value) -> &Value {
    m.get("content").unwrap_or(&Value::Null)
}

/// `options.stop` and `options.num_predict` (negative: unlimited).
fn read_options(v: &Value, p: &mut Prompt) {
    let Some(options) = v.get("options") else {
        return;
    };
    p.stop = stop_list(options.get("stop"));
    p.max_tokens = options
        .get("num_predict")
        .and_then(Value::as_i64)
        .and_then(|n| usize::try_from(n).ok());
}

/// The [`Prompt`] of an `/api/chat` request.
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
        p.images += images_in(m);
        if role(m) == "system" {
            join_into(&mut p.system, &text_of(c));
        }
    }
    // The turn answered is the last user or tool one: system messages after it (agents
    // insert them mid-conversation) do not hide it.
    let end = messages
        .iter()
        .rposition(|m| role(m) != "system")
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
    if let Some(tools) = v.get("tools").and_then(Value::as_array) {
        p.tools = tools
            .iter()
            .filter_map(|t| Tool::from_declaration(t, "/function/name", "/function/parameters"))
            .collect();
    }
    read_options(v, &mut p);
    p
}

/// The [`Prompt`] of an `/api/generate` request.
pub(crate) fn read_generate(v: &Value) -> Prompt {
    let mut p = Prompt::default();
    if let Some(prompt) = v.get("prompt").and_then(Value::as_str) {
        p.words += count_words(prompt);
    }
    if let Some(system) = v.get("system").and_then(Value::as_str) {
        p.words += count_words(system);
        p.system = Some(system.to_owned());
    }
    p.images = images_in(v);
    read_options(v, &mut p);
    p
}

/// What real Ollama refuses in a generate request.
pub(crate) fn validate_generate(v: &Value) -> Check {
    check_images(v.get("images"), "request")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_and_arguments() {
        let ok = json!({"messages": [
            {"role": "user", "content": "x", "images": ["aGk="]},
            {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
            {"role": "tool", "content": "42", "tool_name": "f"}
        ]});
        validate_chat(&ok).unwrap();
        let e = validate_chat(
            &json!({"messages": [{"role": "user", "images": ["data:image/png;base64,aGk="]}]}),
        )
        .unwrap_err();
        assert!(e.contains("messages[0].images[0]"), "{e}");
        assert!(validate_chat(&json!({"messages": [{"images": ["@@"]}]})).is_err());
        let e = validate_chat(&json!({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]}))
            .unwrap_err();
        assert!(e.contains("cannot unmarshal string"), "{e}");
        let p = read_chat(&ok);
        assert_eq!(p.images, 1);
        assert_eq!(p.last, LastTurn::ToolResults(vec!["42".into()]));
        // A system message after the tool results does not hide them.
        let mut late = ok.clone();
        late["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "system", "content": "env"}));
        assert_eq!(
            read_chat(&late).last,
            LastTurn::ToolResults(vec!["42".into()])
        );
    }

    #[test]
    fn options() {
        let p = read_chat(
            &json!({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "a b"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "options": {"num_predict": 2, "stop": ["tok1"]}}),
        );
        assert_eq!(p.system.as_deref(), Some("s"));
        assert_eq!(p.words, 3);
        assert_eq!(p.tool_names(), ["f"]);
        assert_eq!(p.max_tokens, Some(2));
        assert_eq!(p.stop, ["tok1"]);
        assert_eq!(
            read_chat(&json!({"options": {"num_predict": -1}})).max_tokens,
            None
        );
        let g = read_generate(&json!({"prompt": "a b", "system": "c", "images": ["aGk="]}));
        assert_eq!((g.words, g.images), (3, 1));
    }
}
