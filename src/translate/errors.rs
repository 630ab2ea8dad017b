//! A node's error answer, or Drover's own error, in the client API's error shape and status.
//!
//! | client | body | kinds by status |
//! | --- | --- | --- |
//! | OpenAI | `{"error": {"message", "type", "param", "code"}}` | 401 `authentication_error`, 403 `permission_error`, 404 `not_found_error`, 429 `rate_limit_error`, other 4xx `invalid_request_error`, 5xx `server_error` |
//! | Anthropic | `{"type": "error", "error": {"type", "message"}}` | 400 `invalid_request_error`, 401 `authentication_error`, 403 `permission_error`, 404 `not_found_error`, 413 `request_too_large`, 429 `rate_limit_error`, 503/529 `overloaded_error`, other 5xx `api_error` |
//! | Ollama | `{"error": "message"}` | — |
//!
//! Statuses are kept, except Anthropic's own 529 (overloaded), which OpenAI and Ollama
//! clients know as 503, and anything outside 400–599, which becomes 502: the node answered
//! something that is not an error status for an error.

use serde_json::{json, Value};

use super::Dialect;

/// How much of a node's non-JSON error text is quoted back.
const MAX_TEXT: usize = 2000;

/// A node's error answer (`from`: the node's dialect) for the client (`to`: the client's).
/// The message is read from any of the three APIs' shapes (a node may sit behind a proxy of
/// another kind), else the body's text; the status is mapped as the module says.
pub fn error(from: Dialect, to: Dialect, status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    if from == to && (400..=599).contains(&status) {
        return (status, body.to_vec());
    }
    let status = client_status(to, status);
    let message = message(body).unwrap_or_else(|| format!("the upstream answered status {status}"));
    (status, error_body(to, status, &message))
}

/// Drover's own error in the client API's shape; its kind is chosen from `status`.
pub fn error_body(to: Dialect, status: u16, message: &str) -> Vec<u8> {
    let value = match to {
        Dialect::OpenAiChat | Dialect::OpenAiResponses => json!({
            "error": {
                "message": message,
                "type": openai_kind(status),
                "param": null,
                "code": null,
            }
        }),
        Dialect::AnthropicMessages => json!({
            "type": "error",
            "error": {"type": anthropic_kind(status), "message": message},
        }),
        Dialect::OllamaChat | Dialect::OllamaGenerate => json!({"error": message}),
    };
    value.to_string().into_bytes()
}

fn client_status(to: Dialect, status: u16) -> u16 {
    match status {
        529 if to != Dialect::AnthropicMessages => 503,
        400..=599 => status,
        _ => 502,
    }
}

fn openai_kind(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn anthropic_kind(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The message of an error body in any API's shape, or its trimmed text.
fn message(body: &[u8]) -> Option<String> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let error = value.get("error");
        // OpenAI and Anthropic: `error.message`; Ollama: `error` as a string.
        let found = error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .or_else(|| error.and_then(Value::as_str))
            .or_else(|| value.get("message").and_then(Value::as_str))
            .or_else(|| value.get("detail").and_then(Value::as_str));
        if let Some(message) = found.filter(|m| !m.trim().is_empty()) {
            return Some(message.to_owned());
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut quoted: String = text.chars().take(MAX_TEXT).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    Some(quoted)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use Dialect::*;

    /// (node dialect, client dialect, node status, node body, client status, client body).
    type Row = (Dialect, Dialect, u16, &'static [u8], u16, Value);

    fn parsed(out: &[u8]) -> Value {
        serde_json::from_slice(out).unwrap()
    }

    #[test]
    fn node_errors_take_the_clients_shape() {
        let anthropic_overloaded =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let openai_limit = br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        let rows: Vec<Row> = vec![
            (
                AnthropicMessages,
                OpenAiChat,
                529,
                anthropic_overloaded,
                503,
                json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": null}}),
            ),
            (
                AnthropicMessages,
                OllamaChat,
                529,
                anthropic_overloaded,
                503,
                json!({"error": "Overloaded"}),
            ),
            (
                OpenAiChat,
                AnthropicMessages,
                429,
                openai_limit,
                429,
                json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached"}}),
            ),
            (
                OllamaChat,
                AnthropicMessages,
                404,
                br#"{"error":"model \"x\" not found, try pulling it first"}"#,
                404,
                json!({"type": "error", "error": {"type": "not_found_error", "message": "model \"x\" not found, try pulling it first"}}),
            ),
            (
                OllamaChat,
                OpenAiChat,
                400,
                br#"{"error":"bad"}"#,
                400,
                json!({"error": {"message": "bad", "type": "invalid_request_error", "param": null, "code": null}}),
            ),
            (
                OpenAiChat,
                AnthropicMessages,
                413,
                b"<html>Request Entity Too Large</html>\n",
                413,
                json!({"type": "error", "error": {"type": "request_too_large", "message": "<html>Request Entity Too Large</html>"}}),
            ),
            (
                OpenAiChat,
                AnthropicMessages,
                503,
                b"",
                503,
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "the upstream answered status 503"}}),
            ),
            (
                OpenAiChat,
                OllamaGenerate,
                200,
                b"odd",
                502,
                json!({"error": "odd"}),
            ),
            (
                AnthropicMessages,
                OpenAiChat,
                401,
                br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
                401,
                json!({"error": {"message": "invalid x-api-key", "type": "authentication_error", "param": null, "code": null}}),
            ),
            (
                OllamaChat,
                AnthropicMessages,
                500,
                br#"{"error":"llama runner process has terminated"}"#,
                500,
                json!({"type": "error", "error": {"type": "api_error", "message": "llama runner process has terminated"}}),
            ),
            (
                OllamaChat,
                OpenAiChat,
                403,
                br#"{"detail":"forbidden"}"#,
                403,
                json!({"error": {"message": "forbidden", "type": "permission_error", "param": null, "code": null}}),
            ),
        ];
        for (from, to, status, body, want_status, want) in rows {
            let (got_status, got) = error(from, to, status, body);
            assert_eq!(got_status, want_status, "{from:?}->{to:?} {status}");
            assert_eq!(parsed(&got), want, "{from:?}->{to:?} {status}");
        }
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let body = "é".repeat(5000);
        let (_, out) = error(OpenAiChat, OllamaChat, 500, body.as_bytes());
        let msg = parsed(&out)["error"].as_str().unwrap().to_owned();
        assert_eq!(msg.chars().count(), MAX_TEXT + 1);
    }

    #[test]
    fn same_dialect_passes_through() {
        assert_eq!(
            error(OllamaChat, OllamaChat, 404, b"{\"error\":\"x\"}"),
            (404, b"{\"error\":\"x\"}".to_vec())
        );
    }

    #[test]
    fn own_errors_by_status() {
        let rows = [
            (AnthropicMessages, 400, "invalid_request_error"),
            (AnthropicMessages, 401, "authentication_error"),
            (AnthropicMessages, 403, "permission_error"),
            (AnthropicMessages, 404, "not_found_error"),
            (AnthropicMessages, 413, "request_too_large"),
            (AnthropicMessages, 429, "rate_limit_error"),
            (AnthropicMessages, 500, "api_error"),
            (AnthropicMessages, 502, "api_error"),
            (AnthropicMessages, 529, "overloaded_error"),
            (OpenAiChat, 400, "invalid_request_error"),
            (OpenAiChat, 413, "invalid_request_error"),
            (OpenAiChat, 401, "authentication_error"),
            (OpenAiChat, 429, "rate_limit_error"),
            (OpenAiChat, 504, "server_error"),
        ];
        for (to, status, kind) in rows {
            let v = parsed(&error_body(to, status, "m"));
            let got = if to == AnthropicMessages {
                assert_eq!(v["type"], "error");
                v["error"]["type"].clone()
            } else {
                v["error"]["type"].clone()
            };
            assert_eq!(got, kind, "{to:?} {status}");
            assert_eq!(v["error"]["message"], "m");
        }
        assert_eq!(
            parsed(&error_body(OllamaGenerate, 500, "m")),
            json!({"error": "m"})
        );
    }

    fn dialect() -> impl Strategy<Value = Dialect> {
        prop_oneof![
            Just(OpenAiChat),
            Just(AnthropicMessages),
            Just(OllamaChat),
            Just(OllamaGenerate)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_body_gives_json_and_an_error_status(
            from in dialect(),
            to in dialect(),
            status in any::<u16>(),
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let (out_status, out) = error(from, to, status, &body);
            prop_assert!((400..=599).contains(&out_status));
            if from != to {
                prop_assert!(serde_json::from_slice::<Value>(&out).is_ok());
            }
        }
    }
}
