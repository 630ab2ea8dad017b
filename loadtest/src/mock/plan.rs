//! The answer the mock will give, decided once from the [`Prompt`] by rules every kind
//! shares, then rendered by each kind in its own wire format. Keeping the decision here
//! means an OpenAI, an Anthropic and an Ollama node answer the same request with the same
//! text, tool calls, finish and counts, so a test can compare what a client saw through a
//! translating gateway with what the upstream produced.
//!
//! Rules:
//! - Tools declared, `tool_choice` not none, last turn a user turn (not a tool result):
//!   tool calls instead of text. One call to the first tool (or to the named tool), or
//!   one call to the tool a `use tool NAME` directive in the user text names, or one call
//!   to every tool when the user text has the word `parallel`. Arguments fit the tool's
//!   schema, or are `{"query":"<user text>","n":<number of tools declared>}` where the
//!   schema allows (see `tool_args`).
//! - Otherwise text: `tokens` chunks (`"[NAME] tok0 "`, `"tok1 "`, …). The first chunk
//!   starts with, in this order: `tool said: <result> ` for each result of the last tool
//!   turn, `[system: <system text>] `, `[images: N] `.
//! - `max_tokens` below `tokens` cuts the text (finish `Length`); a stop sequence equal to a
//!   generated word `tokK` ends it before that chunk (finish `StopSequence`).
//! - Counts: prompt tokens are the request's words (at least 1); completion tokens are the
//!   text chunks, or for tool calls the number of [`ARG_PIECE`]-byte argument pieces.

use serde_json::Value;

use super::prompt::{LastTurn, Prompt, Tool, ToolChoice};
use super::text::token;
use super::tool_args::{arguments, directive};

/// Bytes of tool-call arguments per streamed delta.
pub(crate) const ARG_PIECE: usize = 5;

/// Cached prompt tokens reported when the request asked for caching.
pub(crate) const CACHED_TOKENS: usize = 7;

/// Why the answer ended, mapped by each kind to its own wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Finish {
    Stop,
    Length,
    StopSequence(String),
    ToolCalls,
}

/// One tool call of the answer.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub(crate) name: String,
    /// The arguments as an object (Ollama, Anthropic).
    pub(crate) input: Value,
    /// The same, serialized (OpenAI's string `arguments`, streamed pieces).
    pub(crate) arguments: String,
}

#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Text chunks; empty for tool calls.
    pub(crate) chunks: Vec<String>,
    pub(crate) calls: Vec<Call>,
    pub(crate) finish: Finish,
    pub(crate) prompt_tokens: usize,
    pub(crate) completion_tokens: usize,
    /// Cached prompt tokens to report (0 or [`CACHED_TOKENS`]).
    pub(crate) cached_tokens: usize,
}

impl Plan {
    /// The whole text, as a non-streamed answer carries it.
    pub(crate) fn text(&self) -> String {
        self.chunks.concat()
    }
}

/// Decides the answer to `p` for a node whose first token is `first` and which generates
/// `tokens` chunks.
pub(crate) fn plan(p: &Prompt, first: &str, tokens: usize) -> Plan {
    let prompt_tokens = p.words.max(1);
    let cached_tokens = if p.cached { CACHED_TOKENS } else { 0 };
    if let (LastTurn::User(text), false) = (&p.last, p.tools.is_empty()) {
        if p.choice != ToolChoice::None {
            let calls = tool_calls(p, text);
            let completion_tokens = calls.iter().map(|c| piece_count(&c.arguments)).sum();
            return Plan {
                chunks: Vec::new(),
                calls,
                finish: Finish::ToolCalls,
                prompt_tokens,
                completion_tokens,
                cached_tokens,
            };
        }
    }
    let limit = tokens.min(p.max_tokens.unwrap_or(usize::MAX));
    let stop_at = stop_index(&p.stop, limit);
    let emitted = stop_at.map_or(limit, |(k, _)| k);
    let finish = match stop_at {
        Some((_, s)) => Finish::StopSequence(s.to_owned()),
        None if limit < tokens => Finish::Length,
        None => Finish::Stop,
    };
    let mut chunks: Vec<String> = (0..emitted).map(|i| token(first, i)).collect();
    if let Some(head) = chunks.first_mut() {
        let prefix = prefix(p);
        if !prefix.is_empty() {
            head.insert_str(0, &prefix);
        }
    }
    Plan {
        completion_tokens: chunks.len(),
        chunks,
        calls: Vec::new(),
        finish,
        prompt_tokens,
        cached_tokens,
    }
}

fn tool_calls(p: &Prompt, text: &str) -> Vec<Call> {
    let steer = directive(text).filter(|d| p.tools.iter().any(|t| t.name == d.name));
    let undeclared;
    let chosen: Vec<&Tool> = match (&p.choice, &steer) {
        (ToolChoice::Named(name), _) => match p.tools.iter().find(|t| t.name == *name) {
            Some(t) => vec![t],
            None => {
                undeclared = Tool {
                    name: name.clone(),
                    schema: None,
                };
                vec![&undeclared]
            }
        },
        (_, Some(d)) => p
            .tools
            .iter()
            .filter(|t| t.name == d.name)
            .take(1)
            .collect(),
        _ if has_word(text, "parallel") => p.tools.iter().collect(),
        _ => p.tools.iter().take(1).collect(),
    };
    chosen
        .into_iter()
        .map(|tool| {
            let mut args = arguments(tool.schema.as_ref(), text, p.tools.len());
            if let Some(d) = steer.as_ref().filter(|d| d.name == tool.name) {
                for (k, v) in d.args.iter().flatten() {
                    args.set(k, v.clone());
                }
            }
            Call {
                name: tool.name.clone(),
                arguments: serde_json::to_string(&args).unwrap_or_default(),
                input: args.to_value(),
            }
        })
        .collect()
}

/// The first generated word `tokK` (K below `limit`) that is a stop sequence.
fn stop_index(stop: &[String], limit: usize) -> Option<(usize, &str)> {
    stop.iter()
        .filter_map(|s| {
            let k: usize = s.strip_prefix("tok")?.parse().ok()?;
            // `tok01` is not a generated word.
            (k < limit && s.len() == 3 + digits(k)).then_some((k, s.as_str()))
        })
        .min_by_key(|(k, _)| *k)
}

fn digits(mut k: usize) -> usize {
    let mut d = 1;
    while k >= 10 {
        k /= 10;
        d += 1;
    }
    d
}

/// What the first chunk echoes of the request.
fn prefix(p: &Prompt) -> String {
    let mut out = String::new();
    if let LastTurn::ToolResults(results) = &p.last {
        for r in results {
            out.push_str("tool said: ");
            out.push_str(r);
            out.push(' ');
        }
    }
    if let Some(system) = &p.system {
        out.push_str("[system: ");
        out.push_str(system);
        out.push_str("] ");
    }
    if p.images > 0 {
        out.push_str(&format!("[images: {}] ", p.images));
    }
    out
}

/// Whether `text` has `word` as a whole word, ignoring case and punctuation.
fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case(word))
}

/// `s` in pieces of about `n` bytes, each cut on a character boundary.
pub(crate) fn pieces(s: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(s.len() / n.max(1) + 1);
    let mut rest = s;
    while !rest.is_empty() {
        let mut cut = n.max(1).min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    out
}

fn piece_count(s: &str) -> usize {
    pieces(s, ARG_PIECE).len()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FIRST: &str = "[n] tok0 ";

    fn tools(names: &[&str]) -> Vec<Tool> {
        names
            .iter()
            .map(|n| Tool {
                name: (*n).to_owned(),
                schema: None,
            })
            .collect()
    }

    fn user(text: &str) -> Prompt {
        Prompt {
            words: 2,
            last: LastTurn::User(text.to_owned()),
            ..Prompt::default()
        }
    }

    #[test]
    fn plain_text() {
        let p = plan(&user("hi"), FIRST, 3);
        assert_eq!(p.text(), "[n] tok0 tok1 tok2 ");
        assert_eq!(p.finish, Finish::Stop);
        assert_eq!(
            (p.prompt_tokens, p.completion_tokens, p.cached_tokens),
            (2, 3, 0)
        );
        let p = plan(&Prompt::default(), FIRST, 0);
        assert!(p.chunks.is_empty());
        assert_eq!(p.prompt_tokens, 1);
    }

    #[test]
    fn echoes_in_first_chunk() {
        let mut p = user("hi");
        p.system = Some("be brief".into());
        p.images = 2;
        let out = plan(&p, FIRST, 2);
        assert_eq!(out.chunks[0], "[system: be brief] [images: 2] [n] tok0 ");
        assert_eq!(out.chunks[1], "tok1 ");
        p.last = LastTurn::ToolResults(vec!["42".into(), "x y".into()]);
        p.tools = tools(&["f"]);
        let out = plan(&p, FIRST, 1);
        assert_eq!(
            out.text(),
            "tool said: 42 tool said: x y [system: be brief] [images: 2] [n] tok0 "
        );
        assert!(out.calls.is_empty());
    }

    #[test]
    fn limits_and_stops() {
        let mut p = user("hi");
        p.max_tokens = Some(2);
        let out = plan(&p, FIRST, 5);
        assert_eq!(out.text(), "[n] tok0 tok1 ");
        assert_eq!(out.finish, Finish::Length);
        p.max_tokens = Some(5);
        assert_eq!(plan(&p, FIRST, 5).finish, Finish::Stop);
        p.stop = vec!["tok3".into(), "zzz".into(), "tok2".into(), "tok02".into()];
        let out = plan(&p, FIRST, 5);
        assert_eq!(out.text(), "[n] tok0 tok1 ");
        assert_eq!(out.finish, Finish::StopSequence("tok2".into()));
        assert_eq!(out.completion_tokens, 2);
        // A stop word beyond the limit does not fire.
        p.max_tokens = Some(2);
        assert_eq!(plan(&p, FIRST, 5).finish, Finish::Length);
    }

    #[test]
    fn tool_calls_by_rule() {
        let mut p = user("find cats");
        p.tools = tools(&["a", "b"]);
        let out = plan(&p, FIRST, 5);
        assert_eq!(out.finish, Finish::ToolCalls);
        assert!(out.chunks.is_empty());
        assert_eq!(out.calls.len(), 1);
        assert_eq!(out.calls[0].name, "a");
        assert_eq!(out.calls[0].arguments, r#"{"query":"find cats","n":2}"#);
        assert_eq!(out.calls[0].input["n"], 2);
        assert_eq!(
            out.completion_tokens,
            pieces(&out.calls[0].arguments, 5).len()
        );

        p.last = LastTurn::User("do it in Parallel, please".into());
        let names: Vec<String> = plan(&p, FIRST, 5)
            .calls
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
        p.choice = ToolChoice::Named("b".into());
        let names: Vec<String> = plan(&p, FIRST, 5)
            .calls
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["b"]);
        p.choice = ToolChoice::None;
        assert_eq!(plan(&p, FIRST, 5).finish, Finish::Stop);
        p.choice = ToolChoice::Auto;
        p.last = LastTurn::Other;
        assert!(plan(&p, FIRST, 5).calls.is_empty());
        assert!(!has_word("unparallel", "parallel"));
    }

    #[test]
    fn directive_picks_the_tool_and_its_arguments() {
        let mut p = user(r#"use tool Read with {"file_path": "/tmp/x"} please"#);
        p.tools = tools(&["Bash", "Read"]);
        p.tools[1].schema = Some(serde_json::json!({"type": "object",
            "additionalProperties": false,
            "properties": {"file_path": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["file_path", "limit"]}));
        let out = plan(&p, FIRST, 5);
        assert_eq!(out.calls.len(), 1);
        assert_eq!(out.calls[0].name, "Read");
        assert_eq!(
            out.calls[0].arguments,
            r#"{"file_path":"/tmp/x","limit":2}"#
        );
        // An undeclared tool in the directive falls back to the first tool.
        p.last = LastTurn::User("use tool Write".into());
        assert_eq!(plan(&p, FIRST, 5).calls[0].name, "Bash");
        // The tool result ends the loop with text.
        p.last = LastTurn::ToolResults(vec!["hello".into()]);
        assert!(plan(&p, FIRST, 5).text().starts_with("tool said: hello"));
    }

    #[test]
    fn pieces_respect_char_boundaries() {
        assert_eq!(pieces("abcdefghijk", 5), ["abcde", "fghij", "k"]);
        assert!(pieces("", 5).is_empty());
        let s = "aaaaé€xyz😀";
        let ps = pieces(s, 5);
        assert_eq!(ps.concat(), s);
        assert!(ps.iter().all(|p| !p.is_empty()));
    }
}
