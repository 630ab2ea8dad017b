//! What a load-test request looks like for each scenario, and how its answer is judged.
//! Bodies are rendered once per model; streamed answers are scanned line by line without
//! parsing JSON, to keep the generator cheap.

use bytes::Bytes;
use serde::Serialize;
use serde_json::json;

/// The request shape to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Ollama `/api/chat`, `"stream": false`.
    Chat,
    /// Ollama `/api/chat` streamed as NDJSON.
    ChatStream,
    /// OpenAI `/v1/chat/completions`, not streamed.
    OpenaiChat,
    /// OpenAI `/v1/chat/completions` streamed as server-sent events.
    OpenaiChatStream,
    /// Ollama `/api/embed`.
    Embed,
    /// Anthropic `/v1/messages`, not streamed.
    AnthropicChat,
    /// Anthropic `/v1/messages` streamed as named server-sent events.
    AnthropicChatStream,
    /// OpenAI `/v1/responses` streamed as named server-sent events.
    ResponsesStream,
}

impl Scenario {
    pub fn path(self) -> &'static str {
        match self {
            Scenario::Chat | Scenario::ChatStream => "/api/chat",
            Scenario::OpenaiChat | Scenario::OpenaiChatStream => "/v1/chat/completions",
            Scenario::Embed => "/api/embed",
            Scenario::AnthropicChat | Scenario::AnthropicChatStream => "/v1/messages",
            Scenario::ResponsesStream => "/v1/responses",
        }
    }

    pub fn is_stream(self) -> bool {
        matches!(
            self,
            Scenario::ChatStream
                | Scenario::OpenaiChatStream
                | Scenario::AnthropicChatStream
                | Scenario::ResponsesStream
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Chat => "chat",
            Scenario::ChatStream => "chat-stream",
            Scenario::OpenaiChat => "openai-chat",
            Scenario::OpenaiChatStream => "openai-chat-stream",
            Scenario::Embed => "embed",
            Scenario::AnthropicChat => "anthropic-chat",
            Scenario::AnthropicChatStream => "anthropic-chat-stream",
            Scenario::ResponsesStream => "responses-stream",
        }
    }

    /// The request body for `model`, rendered once and shared by every request.
    pub fn body(self, model: &str, prompt: &str) -> Bytes {
        let messages = json!([{"role": "user", "content": prompt}]);
        let v = match self {
            Scenario::Chat => json!({"model": model, "messages": messages, "stream": false}),
            Scenario::ChatStream => json!({"model": model, "messages": messages, "stream": true}),
            Scenario::OpenaiChat => json!({"model": model, "messages": messages}),
            Scenario::OpenaiChatStream => {
                json!({"model": model, "messages": messages, "stream": true})
            }
            Scenario::Embed => json!({"model": model, "input": prompt}),
            Scenario::AnthropicChat => {
                json!({"model": model, "max_tokens": 256, "messages": messages})
            }
            Scenario::AnthropicChatStream => {
                json!({"model": model, "max_tokens": 256, "messages": messages, "stream": true})
            }
            Scenario::ResponsesStream => json!({"model": model, "input": prompt, "stream": true}),
        };
        Bytes::from(v.to_string())
    }

    /// A cheap sanity marker that a complete non-streamed answer contains.
    pub fn marker(self) -> &'static [u8] {
        match self {
            Scenario::Chat | Scenario::ChatStream => b"\"done\":true",
            Scenario::OpenaiChat | Scenario::OpenaiChatStream => b"\"choices\"",
            Scenario::Embed => b"\"embeddings\"",
            Scenario::AnthropicChat | Scenario::AnthropicChatStream => b"\"stop_reason\"",
            Scenario::ResponsesStream => b"\"response.completed\"",
        }
    }
}

/// Naive substring search; answers are small and this runs once per response.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Follows a streamed body as it arrives and counts its frames: NDJSON lines for Ollama,
/// `data:` events for SSE (the `[DONE]` sentinel is not counted as a chunk; Anthropic's
/// stream ends with its `message_stop` event, which is).
pub struct StreamScanner {
    sse: bool,
    /// Anthropic's events: the end is `message_stop`, not `[DONE]`.
    anthropic: bool,
    /// Responses events: the end is `response.completed`.
    responses: bool,
    carry: Vec<u8>,
    /// Frames seen so far.
    pub chunks: u64,
    /// Whether the last frame seen closes the stream properly.
    finished: bool,
    /// Set when data arrives after the closing frame.
    trailing: bool,
}

impl StreamScanner {
    pub fn new(scenario: Scenario) -> StreamScanner {
        StreamScanner {
            sse: matches!(
                scenario,
                Scenario::OpenaiChatStream
                    | Scenario::AnthropicChatStream
                    | Scenario::ResponsesStream
            ),
            anthropic: scenario == Scenario::AnthropicChatStream,
            responses: scenario == Scenario::ResponsesStream,
            carry: Vec::new(),
            chunks: 0,
            finished: false,
            trailing: false,
        }
    }

    /// Feeds one network read; returns how many frames it completed.
    pub fn feed(&mut self, data: &[u8]) -> u64 {
        let before = self.chunks;
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            let (head, tail) = rest.split_at(pos);
            rest = &tail[1..];
            if self.carry.is_empty() {
                self.line(head);
            } else {
                let mut line = std::mem::take(&mut self.carry);
                line.extend_from_slice(head);
                self.line(&line);
            }
        }
        self.carry.extend_from_slice(rest);
        self.chunks - before
    }

    fn line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return;
        }
        if self.finished {
            self.trailing = true;
        }
        if self.sse {
            let Some(data) = line.strip_prefix(b"data:") else {
                return; // comments, `event:` lines and the like carry no chunk
            };
            if data.trim_ascii() == b"[DONE]" {
                self.finished = true;
            } else {
                self.chunks += 1;
                if self.anthropic && contains(data, b"\"message_stop\"") {
                    self.finished = true;
                }
                if self.responses && contains(data, b"\"type\":\"response.completed\"") {
                    self.finished = true;
                }
            }
        } else {
            self.chunks += 1;
            self.finished = contains(line, b"\"done\":true");
        }
    }

    /// Whether the stream ended with its closing frame and nothing after it.
    pub fn complete(&self) -> bool {
        self.finished && !self.trailing && self.carry.trim_ascii().is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_split_across_reads() {
        let mut s = StreamScanner::new(Scenario::ChatStream);
        assert_eq!(s.feed(b"{\"done\":false}\n{\"do"), 1);
        assert_eq!(s.feed(b"ne\":false}\n"), 1);
        assert!(!s.complete());
        assert_eq!(s.feed(b"{\"done\":true,\"x\":1}\n"), 1);
        assert!(s.complete());
        assert_eq!(s.chunks, 3);
    }

    #[test]
    fn ndjson_without_final_frame_is_incomplete() {
        let mut s = StreamScanner::new(Scenario::ChatStream);
        s.feed(b"{\"done\":false}\n{\"done\":fal");
        assert!(!s.complete());
    }

    #[test]
    fn anthropic_streams_end_with_message_stop() {
        let mut s = StreamScanner::new(Scenario::AnthropicChatStream);
        s.feed(b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n");
        s.feed(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\"}\n\n");
        assert!(!s.complete());
        s.feed(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        assert!(s.complete());
        assert_eq!(s.chunks, 3);
    }

    #[test]
    fn sse_counts_data_events() {
        let mut s = StreamScanner::new(Scenario::OpenaiChatStream);
        s.feed(b"data: {\"a\":1}\n\ndata: {\"a\":2}\r\n\r\n: comment\n\n");
        assert!(!s.complete());
        s.feed(b"data: [DONE]\n\n");
        assert!(s.complete());
        assert_eq!(s.chunks, 2);
        s.feed(b"data: {}\n\n");
        assert!(!s.complete(), "data after [DONE]");
    }

    #[test]
    fn bodies_are_valid_json() {
        for sc in [
            Scenario::Chat,
            Scenario::ChatStream,
            Scenario::OpenaiChat,
            Scenario::OpenaiChatStream,
            Scenario::Embed,
            Scenario::AnthropicChat,
            Scenario::AnthropicChatStream,
        ] {
            let v: serde_json::Value = serde_json::from_slice(&sc.body("m:1", "hi \"x\"")).unwrap();
            assert_eq!(v["model"], "m:1");
        }
        assert!(contains(b"abc\"done\":true}", Scenario::Chat.marker()));
        assert!(!contains(b"abc", b"abcd"));
    }
}
