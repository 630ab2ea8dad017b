//! Measures what translation itself costs, apart from the network and the nodes: an Anthropic
//! node's 20-token answer turned into an OpenAI client's, streamed (each event pushed as its
//! own chunk, as a node sends them) and whole, plus the OpenAI request turned into Anthropic's;
//! then the same stream for an OpenAI Responses client (named events, per-item framing), to
//! compare its cost per event with chat's.
//!
//! `cargo run --release --example translate_cost`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use drover::translate::{
    request::request, response::response, stream::StreamTranslator, Dialect, Options,
    ResponseContext,
};

const TOKENS: usize = 20;
const ROUNDS: usize = 20_000;

fn events() -> Vec<Vec<u8>> {
    let mut events = vec![
        r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}"#.to_owned(),
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#.to_owned(),
    ];
    for i in 0..TOKENS {
        events.push(format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"tok{i} "}}}}"#
        ));
    }
    events.push(r#"{"type":"content_block_stop","index":0}"#.to_owned());
    events.push(r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":20}}"#.to_owned());
    events.push(r#"{"type":"message_stop"}"#.to_owned());
    events
        .into_iter()
        .map(|data| {
            let name = data
                .split("\"type\":\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap()
                .to_owned();
            format!("event: {name}\ndata: {data}\n\n").into_bytes()
        })
        .collect()
}

fn whole() -> Vec<u8> {
    let text: String = (0..TOKENS).map(|i| format!("tok{i} ")).collect();
    serde_json::json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": null, "usage": {"input_tokens": 12, "output_tokens": 20}})
    .to_string()
    .into_bytes()
}

fn context() -> ResponseContext {
    ResponseContext {
        model: "claude".into(),
        id: "bench".into(),
        created: 0,
        include_usage: true,
        responses: None,
    }
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!("{what:<44} p50 {:>8.2?}  p99 {:>8.2?}", at(0.5), at(0.99));
}

/// Times the whole stream for a `to` client, and per node event.
fn stream_cost(to: Dialect, label: &str, events: &[Vec<u8>]) {
    let mut times = Vec::with_capacity(ROUNDS);
    let mut out = Vec::with_capacity(8192);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut translator = StreamTranslator::new(Dialect::AnthropicMessages, to, context());
        for event in events {
            out.clear();
            translator.push(event, &mut out).unwrap();
        }
        times.push(started.elapsed());
        std::hint::black_box(&out);
    }
    report(
        &format!("{label} stream, 20 tokens (24 events), whole"),
        times.clone(),
    );
    let per_event: Vec<Duration> = times.iter().map(|t| *t / events.len() as u32).collect();
    report(&format!("{label} stream, per event"), per_event);
}

fn main() {
    let events = events();
    stream_cost(Dialect::OpenAiChat, "chat", &events);
    stream_cost(Dialect::OpenAiResponses, "responses", &events);

    let body = whole();
    let times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(
                response(
                    Dialect::AnthropicMessages,
                    Dialect::OpenAiChat,
                    &body,
                    &context(),
                )
                .unwrap(),
            );
            started.elapsed()
        })
        .collect();
    report("whole answer", times);

    let req = br#"{"model":"claude","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}],"stream":true}"#;
    let times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(
                request(
                    Dialect::OpenAiChat,
                    Dialect::AnthropicMessages,
                    req,
                    &Options::default(),
                )
                .unwrap(),
            );
            started.elapsed()
        })
        .collect();
    report("request", times);
}
