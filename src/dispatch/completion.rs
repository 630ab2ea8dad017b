//! Knowing whether an answer really ended, and how. awc reports a connection that drops in
//! the middle of a chunked body exactly like a finished body (its payload stream just ends),
//! so a dead node would look like a clean, short answer. Each format says where it ends:
//! - Ollama NDJSON: the last line is an object whose top-level `done` is true, or an
//!   `error` line (an in-band failure: an end, but not a success);
//! - OpenAI SSE: the last event is `data: [DONE]` on a line of its own;
//! - Anthropic SSE: the last event is `message_stop` (`error`: an in-band failure);
//! - OpenAI Responses SSE: the last event is `response.completed` or `response.incomplete`
//!   (`response.failed` or `error`: an in-band failure), its data the whole response with
//!   `response.usage`;
//! - a whole JSON answer: its Content-Length, or else the closing brace of the top-level
//!   value (tracked byte by byte, strings and escapes included).
//!
//! Chunks are inspected as they pass; only a line split across chunks is carried over.
//!
//! The same pass reads the token counts an answer reports, where each format puts them:
//! Ollama's `prompt_eval_count`/`eval_count` on its last object, OpenAI's `usage` object
//! (in a whole answer, or in a stream's usage event when the client asked for one).

use bytes::Bytes;
use serde::{de::IgnoredAny, Deserialize};

use crate::inbound::Framing;

/// A line longer than this is not an end marker; it is not kept whole. Generous: Ollama's
/// last generate line carries the whole `context` (token ids of prompt and answer), ~600 KB
/// for 100k tokens, and a cut-off verdict on a complete answer would append an error to it.
const MAX_LINE: usize = 4 * 1024 * 1024;
/// A whole JSON answer up to this size is read for its token counts (its chunks are kept by
/// reference, not copied); a larger one (huge embedding batches) reports none.
const MAX_USAGE_BODY: usize = 1024 * 1024;

/// Token counts an answer reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub prompt: Option<u64>,
    pub completion: Option<u64>,
}

impl Tokens {
    pub fn total(self) -> u64 {
        self.prompt.unwrap_or(0) + self.completion.unwrap_or(0)
    }
}

/// The top-level fields that carry token counts in each format.
#[derive(Deserialize, Default)]
struct UsageFields {
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    usage: Option<OpenAiUsage>,
}

/// OpenAI's `usage` (`prompt_tokens`…) or Anthropic's (`input_tokens`…, where cached prompt
/// tokens are counted apart: they are added back, so `prompt` means the whole prompt).
#[derive(Deserialize, Default)]
struct OpenAiUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

impl OpenAiUsage {
    fn tokens(&self) -> Tokens {
        let anthropic_prompt = self.input_tokens.map(|input| {
            input
                + self.cache_read_input_tokens.unwrap_or(0)
                + self.cache_creation_input_tokens.unwrap_or(0)
        });
        Tokens {
            prompt: self.prompt_tokens.or(anthropic_prompt),
            completion: self.completion_tokens.or(self.output_tokens),
        }
    }
}

impl UsageFields {
    fn tokens(self) -> Option<Tokens> {
        let tokens = match self.usage {
            Some(u) => u.tokens(),
            None => Tokens {
                prompt: self.prompt_eval_count,
                completion: self.eval_count,
            },
        };
        (tokens != Tokens::default()).then_some(tokens)
    }
}

/// How an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The format's end marker came last.
    Done,
    /// The node ended the answer with an error of its own (Ollama `{"error": ...}` line).
    InBandError,
    /// The answer stopped before its end marker.
    Cut,
}

#[derive(Debug)]
pub struct Completion {
    framing: Framing,
    expected_len: Option<u64>,
    seen_len: u64,
    /// What the last complete, non-blank line said.
    last_line: Ending,
    /// A line begun in an earlier chunk.
    partial: Vec<u8>,
    partial_overflow: bool,
    json: JsonDepth,
    tokens: Tokens,
    /// A whole JSON answer's chunks, for its token counts; cleared past `MAX_USAGE_BODY`.
    body: Vec<Bytes>,
    body_len: usize,
}

impl Completion {
    pub fn new(framing: Framing, expected_len: Option<u64>) -> Self {
        Self {
            framing,
            expected_len,
            seen_len: 0,
            last_line: Ending::Cut,
            partial: Vec::new(),
            partial_overflow: false,
            json: JsonDepth::default(),
            tokens: Tokens::default(),
            body: Vec::new(),
            body_len: 0,
        }
    }

    pub fn observe(&mut self, chunk: &Bytes) {
        self.seen_len += chunk.len() as u64;
        match self.framing {
            Framing::Json => {
                if self.expected_len.is_none() {
                    self.json.feed(chunk);
                }
                self.keep(chunk);
            }
            Framing::Ndjson | Framing::Sse | Framing::AnthropicSse | Framing::ResponsesSse => {
                self.feed_lines(chunk)
            }
        }
    }

    fn keep(&mut self, chunk: &Bytes) {
        self.body_len += chunk.len();
        if self.body_len <= MAX_USAGE_BODY {
            self.body.push(chunk.clone());
        } else {
            self.body.clear();
        }
    }

    /// The token counts the answer reported (read once it has ended).
    pub fn tokens(&self) -> Tokens {
        if self.framing != Framing::Json || self.body.is_empty() {
            return self.tokens;
        }
        let parsed = if let [one] = self.body.as_slice() {
            serde_json::from_slice::<UsageFields>(one)
        } else {
            serde_json::from_slice::<UsageFields>(&self.body.concat())
        };
        parsed
            .ok()
            .and_then(UsageFields::tokens)
            .unwrap_or_default()
    }

    fn feed_lines(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(pos);
            rest = &tail[1..];
            if self.partial.is_empty() && !self.partial_overflow {
                self.finish_line(line);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                if std::mem::take(&mut self.partial_overflow) {
                    self.last_line = Ending::Cut;
                } else {
                    self.finish_line(&whole);
                }
                whole.clear();
                self.partial = whole;
            }
        }
        if !rest.is_empty() {
            if self.partial.len() + rest.len() > MAX_LINE {
                self.partial.clear();
                self.partial_overflow = true;
            } else if !self.partial_overflow {
                self.partial.extend_from_slice(rest);
            }
        }
    }

    fn finish_line(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return; // SSE event separators, blank NDJSON lines
        }
        self.last_line = match self.framing {
            Framing::Ndjson => {
                let (ending, tokens) = ndjson_line(line);
                if let Some(tokens) = tokens {
                    self.tokens = tokens;
                }
                ending
            }
            Framing::Sse if line == b"data: [DONE]" || line == b"data:[DONE]" => Ending::Done,
            Framing::Sse => {
                if let Some(tokens) = sse_usage(line) {
                    self.tokens = tokens;
                }
                // Other SSE lines (events, comments, `event:` fields) are not the end.
                Ending::Cut
            }
            Framing::AnthropicSse => {
                if let Some(event) = line.strip_prefix(b"event:") {
                    match event.trim_ascii() {
                        b"message_stop" => Ending::Done,
                        b"error" => Ending::InBandError,
                        _ => Ending::Cut,
                    }
                } else {
                    if let Some(tokens) = anthropic_usage(line) {
                        self.tokens.prompt = tokens.prompt.or(self.tokens.prompt);
                        self.tokens.completion = tokens.completion.or(self.tokens.completion);
                    }
                    // A data line belongs to the event named before it.
                    self.last_line
                }
            }
            Framing::ResponsesSse => {
                if let Some(event) = line.strip_prefix(b"event:") {
                    match event.trim_ascii() {
                        b"response.completed" | b"response.incomplete" => Ending::Done,
                        b"response.failed" | b"error" => Ending::InBandError,
                        _ => Ending::Cut,
                    }
                } else {
                    // The terminal event's data is the whole response, usage included.
                    if self.last_line == Ending::Done {
                        if let Some(tokens) = responses_usage(line) {
                            self.tokens = tokens;
                        }
                    }
                    self.last_line
                }
            }
            Framing::Json => Ending::Cut,
        };
    }

    /// How the answer ended, once the node's body has ended.
    pub fn ending(&self) -> Ending {
        match self.framing {
            Framing::Json => match self.expected_len {
                Some(n) if n == self.seen_len => Ending::Done,
                Some(_) => Ending::Cut,
                None if self.json.closed() => Ending::Done,
                None => Ending::Cut,
            },
            Framing::Ndjson | Framing::Sse | Framing::AnthropicSse | Framing::ResponsesSse => {
                let trailing = self.partial.trim_ascii();
                if trailing.is_empty() && !self.partial_overflow {
                    self.last_line
                } else if self.framing == Framing::Ndjson && !self.partial_overflow {
                    // A last line without its newline still counts if it is whole.
                    ndjson_line(trailing).0
                } else {
                    Ending::Cut
                }
            }
        }
    }
}

/// The top-level fields that end an Ollama stream; the rest of the line is skipped.
#[derive(Deserialize)]
struct EndFields {
    done: Option<bool>,
    error: Option<IgnoredAny>,
    #[serde(flatten)]
    usage: UsageFields,
}

/// What an NDJSON line says about the end, with the token counts of a final line.
fn ndjson_line(line: &[u8]) -> (Ending, Option<Tokens>) {
    // Token lines are the bulk: only lines that could be an end are parsed at all.
    let maybe_end = memchr::memmem::find(line, b"\"done\"").is_some()
        || memchr::memmem::find(line, b"\"error\"").is_some();
    if !maybe_end {
        return (Ending::Cut, None);
    }
    match serde_json::from_slice::<EndFields>(line) {
        Ok(EndFields { error: Some(_), .. }) => (Ending::InBandError, None),
        Ok(EndFields {
            done: Some(true),
            usage,
            ..
        }) => (Ending::Done, usage.tokens()),
        _ => (Ending::Cut, None),
    }
}

/// The counts of an OpenAI usage event (`data: {..., "usage": {...}}`); others are skipped
/// unparsed.
fn sse_usage(line: &[u8]) -> Option<Tokens> {
    let data = line.strip_prefix(b"data:")?;
    memchr::memmem::find(data, b"\"usage\"")?;
    serde_json::from_slice::<UsageFields>(data.trim_ascii())
        .ok()?
        .tokens()
}

/// The counts in an Anthropic event's data: `message_start` carries the prompt's (under
/// `message.usage`), `message_delta` the answer's (under `usage`).
fn anthropic_usage(line: &[u8]) -> Option<Tokens> {
    let data = line.strip_prefix(b"data:")?;
    memchr::memmem::find(data, b"\"usage\"")?;
    #[derive(Deserialize)]
    struct Event {
        usage: Option<OpenAiUsage>,
        message: Option<UsageFields>,
    }
    let event: Event = serde_json::from_slice(data.trim_ascii()).ok()?;
    event
        .usage
        .or_else(|| event.message.and_then(|m| m.usage))
        .map(|u| u.tokens())
}

/// The counts of a Responses terminal event (`{"response": {"usage": {...}}}`).
fn responses_usage(line: &[u8]) -> Option<Tokens> {
    let data = line.strip_prefix(b"data:")?;
    #[derive(Deserialize)]
    struct Event {
        response: Option<UsageFields>,
    }
    let event: Event = serde_json::from_slice(data.trim_ascii()).ok()?;
    event.response?.usage.map(|u| u.tokens())
}

/// The message of an Ollama in-band error, when `chunk` starts with such a line.
pub fn in_band_error(chunk: &[u8]) -> Option<String> {
    let line = chunk.split(|&b| b == b'\n').next()?.trim_ascii();
    if ndjson_line(line).0 != Ending::InBandError {
        return None;
    }
    #[derive(Deserialize)]
    struct ErrorLine {
        error: serde_json::Value,
    }
    let parsed: ErrorLine = serde_json::from_slice(line).ok()?;
    Some(match parsed.error {
        serde_json::Value::String(message) => message,
        other => other.to_string(),
    })
}

/// Tracks the nesting of a JSON document as bytes pass, to see its top-level value close.
#[derive(Debug, Default)]
struct JsonDepth {
    depth: u32,
    started: bool,
    in_string: bool,
    escaped: bool,
    closed: bool,
    /// Anything after the top-level value other than whitespace.
    trailing: bool,
}

impl JsonDepth {
    fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if self.closed {
                self.trailing |= !b.is_ascii_whitespace();
                continue;
            }
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.started = true;
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 && self.started {
                        self.closed = true;
                    }
                }
                _ => {}
            }
        }
    }

    fn closed(&self) -> bool {
        self.closed && !self.trailing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ending(framing: Framing, len: Option<u64>, chunks: &[&[u8]]) -> Ending {
        let mut c = Completion::new(framing, len);
        for chunk in chunks {
            c.observe(&Bytes::copy_from_slice(chunk));
        }
        c.ending()
    }

    const TOKEN: &[u8] = b"{\"message\":{\"content\":\"hi\"},\"done\":false}\n";

    #[test]
    fn ollama_streams_end_with_a_top_level_done_or_error() {
        assert_eq!(ending(Framing::Ndjson, None, &[TOKEN, TOKEN]), Ending::Cut);
        let last = b"{\"model\":\"m\",\"done\":true,\"eval_count\":2}\n";
        assert_eq!(ending(Framing::Ndjson, None, &[TOKEN, last]), Ending::Done);
        assert_eq!(
            ending(Framing::Ndjson, None, &[b"{\"error\":\"boom\"}\n"]),
            Ending::InBandError
        );
        // Split over chunks, even mid-token.
        assert_eq!(
            ending(
                Framing::Ndjson,
                None,
                &[TOKEN, b"{\"model\":\"m\",\"do", b"ne\":t", b"rue}\n"]
            ),
            Ending::Done
        );
        // Without the final newline.
        assert_eq!(
            ending(Framing::Ndjson, None, &[TOKEN, b"{\"done\":true}"]),
            Ending::Done
        );
    }

    #[test]
    fn nested_done_or_error_fields_are_not_the_end() {
        let tool = b"{\"message\":{\"tool_calls\":[{\"function\":{\"arguments\":{\"done\":true}}}]},\"done\":false}\n";
        assert_eq!(ending(Framing::Ndjson, None, &[tool]), Ending::Cut);
        let text = b"{\"message\":{\"content\":\"{\\\"error\\\": 1}\"},\"done\":false}\n";
        assert_eq!(ending(Framing::Ndjson, None, &[text]), Ending::Cut);
        // The end must come last: a done line followed by more is not complete.
        assert_eq!(
            ending(Framing::Ndjson, None, &[b"{\"done\":true}\n", TOKEN]),
            Ending::Cut
        );
    }

    #[test]
    fn openai_streams_end_with_a_done_event_line() {
        assert_eq!(ending(Framing::Sse, None, &[b"data: {}\n\n"]), Ending::Cut);
        assert_eq!(
            ending(Framing::Sse, None, &[b"data: {}\n\n", b"data: [DONE]\n\n"]),
            Ending::Done
        );
        assert_eq!(
            ending(Framing::Sse, None, &[b"data: {}\n\ndata: [DO", b"NE]\n\n"]),
            Ending::Done
        );
        // The words inside generated text are not the marker.
        let inside = b"data: {\"choices\":[{\"delta\":{\"content\":\"data: [DONE]\"}}]}\n\n";
        assert_eq!(ending(Framing::Sse, None, &[inside]), Ending::Cut);
    }

    #[test]
    fn responses_streams_end_with_a_terminal_event_whose_response_has_the_usage() {
        let created = b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n";
        let done = b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}}\n\n";
        assert_eq!(ending(Framing::ResponsesSse, None, &[created]), Ending::Cut);
        assert_eq!(
            ending(
                Framing::ResponsesSse,
                None,
                &[created, &done[..30], &done[30..]]
            ),
            Ending::Done
        );
        assert_eq!(
            tokens(Framing::ResponsesSse, &[created, done]),
            Tokens {
                prompt: Some(5),
                completion: Some(2)
            }
        );
        let failed = b"event: response.failed\ndata: {\"type\":\"response.failed\"}\n\n";
        assert_eq!(
            ending(Framing::ResponsesSse, None, &[created, failed]),
            Ending::InBandError
        );
        // A delta that says the words is not the end.
        let text = b"event: response.output_text.delta\ndata: {\"delta\":\"event: response.completed\"}\n\n";
        assert_eq!(ending(Framing::ResponsesSse, None, &[text]), Ending::Cut);
    }

    #[test]
    fn whole_answers_need_their_length_or_their_closing_brace() {
        assert_eq!(
            ending(Framing::Json, Some(4), &[b"{}", b"{}"]),
            Ending::Done
        );
        assert_eq!(ending(Framing::Json, Some(5), &[b"{}", b"{}"]), Ending::Cut);
        assert_eq!(
            ending(
                Framing::Json,
                None,
                &[b"{\"a\":[1,{\"b\":\"}]\\\"\"}", b"]}\n"]
            ),
            Ending::Done
        );
        assert_eq!(ending(Framing::Json, None, &[b"{\"a\":[1,2]"]), Ending::Cut);
        assert_eq!(ending(Framing::Json, None, &[b"{\"a\":\"}"]), Ending::Cut);
    }

    fn tokens(framing: Framing, chunks: &[&[u8]]) -> Tokens {
        let mut c = Completion::new(framing, None);
        for chunk in chunks {
            c.observe(&Bytes::copy_from_slice(chunk));
        }
        c.tokens()
    }

    #[test]
    fn token_counts_are_read_where_each_format_puts_them() {
        let both = |p, c| Tokens {
            prompt: Some(p),
            completion: Some(c),
        };
        let last = b"{\"done\":true,\"prompt_eval_count\":7,\"eval_count\":3}\n";
        assert_eq!(tokens(Framing::Ndjson, &[TOKEN, last]), both(7, 3));
        assert_eq!(tokens(Framing::Ndjson, &[TOKEN]), Tokens::default());
        let usage =
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n";
        assert_eq!(
            tokens(
                Framing::Sse,
                &[b"data: {\"usage\":null}\n\n", usage, b"data: [DONE]\n\n"]
            ),
            both(5, 2)
        );
        // Whole answers, split anywhere.
        assert_eq!(
            tokens(
                Framing::Json,
                &[
                    b"{\"choices\":[],\"usa",
                    b"ge\":{\"prompt_tokens\":4,\"completion_tokens\":9}}"
                ]
            ),
            both(4, 9)
        );
        let embed = b"{\"embeddings\":[[0.1]],\"prompt_eval_count\":6}";
        assert_eq!(
            tokens(Framing::Json, &[embed]),
            Tokens {
                prompt: Some(6),
                completion: None
            }
        );
        // Generated text that mentions usage is not a usage event.
        let text = b"data: {\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\"\"}}]}\n\n";
        assert_eq!(tokens(Framing::Sse, &[text]), Tokens::default());
    }

    #[test]
    fn in_band_errors_are_read_from_the_first_line() {
        assert_eq!(
            in_band_error(b"{\"error\":\"no memory\"}\n"),
            Some("no memory".into())
        );
        assert_eq!(in_band_error(TOKEN), None);
    }

    #[test]
    fn a_long_final_generate_line_in_pieces_is_an_end() {
        // Ollama's last generate line carries the context's token ids: long for a long answer.
        let context: Vec<String> = (0..60_000).map(|i| (i * 7).to_string()).collect();
        let line = format!(
            "{{\"done\":true,\"done_reason\":\"stop\",\"context\":[{}],\"prompt_eval_count\":3,\"eval_count\":9}}\n",
            context.join(",")
        );
        assert!(line.len() > 300_000);
        let mut c = Completion::new(Framing::Ndjson, None);
        c.observe(&Bytes::from_static(TOKEN));
        for piece in line.as_bytes().chunks(50_000) {
            c.observe(&Bytes::copy_from_slice(piece));
        }
        assert_eq!(c.ending(), Ending::Done);
        assert_eq!(c.tokens().completion, Some(9));
    }

    #[test]
    fn overlong_partial_lines_are_never_an_end() {
        let mut c = Completion::new(Framing::Ndjson, None);
        c.observe(&Bytes::from_static(b"{\"done\":true,\"pad\":\""));
        c.observe(&Bytes::from(vec![b'x'; MAX_LINE + 1]));
        c.observe(&Bytes::from_static(b"\"}\n"));
        assert_eq!(c.ending(), Ending::Cut);
    }
}
