//! Answers Drover gives itself when an Ollama client asks something of a model that an
//! OpenAI-compatible or Anthropic node serves but whose API has no such call: `/api/show`
//! (what `ollama run` asks first), and a chat or generate with nothing to answer (Ollama's
//! way to load a model: `done_reason: "load"`). Without these, Ollama's own CLI could not use
//! such models at all.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::{config::NodeKind, inbound::Operation};

/// The answer to give without a node, if the request asks nothing a node must answer.
pub(super) fn answer(
    operation: Operation,
    body: &[u8],
    model: &str,
    kind: NodeKind,
) -> Option<Bytes> {
    let value = match operation {
        Operation::OllamaShow => show(model, kind),
        Operation::OllamaChat if asks_nothing(body, "messages") => loaded(model, "message"),
        Operation::OllamaGenerate if asks_nothing(body, "prompt") => loaded(model, "response"),
        _ => return None,
    };
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    Some(bytes.into())
}

/// A request whose `field` is absent, empty or null (no messages, no prompt).
fn asks_nothing(body: &[u8], field: &str) -> bool {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => match fields.get(field) {
            None | Some(Value::Null) => true,
            Some(Value::Array(items)) => items.is_empty(),
            Some(Value::String(text)) => text.is_empty(),
            Some(_) => false,
        },
        _ => false,
    }
}

fn loaded(model: &str, field: &str) -> Value {
    let content = if field == "message" {
        json!({"role": "assistant", "content": ""})
    } else {
        json!("")
    };
    json!({
        "model": model,
        "created_at": "1970-01-01T00:00:00Z",
        field: content,
        "done_reason": "load",
        "done": true,
    })
}

fn show(model: &str, kind: NodeKind) -> Value {
    let kind = kind.as_str();
    json!({
        "license": "",
        "modelfile": format!("# {model} is served by an {kind} node through Drover\n"),
        "parameters": "",
        "template": "{{ .Prompt }}",
        "details": {
            "parent_model": "", "format": kind, "family": kind, "families": [kind],
            "parameter_size": "", "quantization_level": "",
        },
        "model_info": {},
        "capabilities": ["completion", "tools", "vision"],
        "modified_at": "1970-01-01T00:00:00Z",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_that_ask_nothing_are_answered_here() {
        let chat = |body: &str| {
            answer(
                Operation::OllamaChat,
                body.as_bytes(),
                "m",
                NodeKind::OpenAi,
            )
        };
        assert!(chat(r#"{"model":"m","messages":[]}"#).is_some());
        assert!(chat(r#"{"model":"m"}"#).is_some());
        assert!(chat(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#).is_none());
        let load: Value = serde_json::from_slice(&chat(r#"{"model":"m"}"#).unwrap()).unwrap();
        assert_eq!(load["done_reason"], "load");
        assert_eq!(load["message"]["content"], "");
        let generate = answer(
            Operation::OllamaGenerate,
            br#"{"model":"m","prompt":""}"#,
            "m",
            NodeKind::Anthropic,
        );
        assert!(generate.is_some());
        assert!(answer(
            Operation::OllamaGenerate,
            br#"{"model":"m","prompt":"x"}"#,
            "m",
            NodeKind::Anthropic
        )
        .is_none());
        let show: Value = serde_json::from_slice(
            &answer(
                Operation::OllamaShow,
                br#"{"model":"m"}"#,
                "m",
                NodeKind::Anthropic,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(show["details"]["family"], "anthropic");
        assert!(answer(Operation::OpenAiChat, b"{}", "m", NodeKind::OpenAi).is_none());
    }
}
