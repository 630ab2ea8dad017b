//! Error frames in each client API's own stream format, for answers that break off after the
//! client has received bytes: the client must see an error, never a clean-looking end.

use bytes::Bytes;
use serde_json::json;

use crate::inbound::Framing;

/// The frame that ends a broken stream, or `None` when the format has no room for one
/// (a whole JSON answer: the connection is cut instead).
pub fn stream_error(framing: Framing, message: &str) -> Option<Bytes> {
    match framing {
        Framing::Json => None,
        Framing::Ndjson => {
            let mut line = json!({ "error": message }).to_string().into_bytes();
            line.push(b'\n');
            Some(line.into())
        }
        Framing::Sse => {
            let event = json!({ "error": {
                "message": message,
                "type": "server_error",
                "param": null,
                "code": "upstream_error",
            }});
            Some(format!("data: {event}\n\n").into())
        }
        Framing::AnthropicSse => {
            let event = json!({ "type": "error", "error": {
                "type": "api_error",
                "message": message,
            }});
            Some(format!("event: error\ndata: {event}\n\n").into())
        }
        // The node's own events carried the response so far; the failure says only that it
        // failed and why (OpenAI's SDKs and Codex read `response.error`).
        Framing::ResponsesSse => {
            let event = json!({ "type": "response.failed", "response": {
                "object": "response",
                "status": "failed",
                "error": {"code": "server_error", "message": message},
            }});
            Some(format!("event: response.failed\ndata: {event}\n\n").into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_match_each_format() {
        let nd = stream_error(Framing::Ndjson, "node died").unwrap();
        assert_eq!(&nd[..], b"{\"error\":\"node died\"}\n");
        let sse = stream_error(Framing::Sse, "node died").unwrap();
        let text = std::str::from_utf8(&sse).unwrap();
        assert!(text.starts_with("data: {") && text.ends_with("}\n\n"));
        let body: serde_json::Value = serde_json::from_str(&text[6..]).unwrap();
        assert_eq!(body["error"]["message"], "node died");
        assert_eq!(stream_error(Framing::Json, "x"), None);
        let failed = stream_error(Framing::ResponsesSse, "node died").unwrap();
        let text = std::str::from_utf8(&failed).unwrap();
        let data = text.strip_prefix("event: response.failed\ndata: ").unwrap();
        let body: serde_json::Value = serde_json::from_str(data.trim_end()).unwrap();
        assert_eq!(body["type"], "response.failed");
        assert_eq!(body["response"]["status"], "failed");
        assert_eq!(body["response"]["error"]["message"], "node died");
    }
}
