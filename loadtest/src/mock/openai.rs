//! OpenAI endpoints (`/v1/*`): leniently as Ollama's OpenAI-compatible layer serves them
//! (Ollama kind), strictly as the OpenAI API does (OpenAI kind).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::base64;
use super::common::{
    aborted, admit, book, json_bytes, ok_json, refuse, sse_event, Frames, JSON, SSE, SSE_DONE,
};
use super::errors::{openai_error, openai_not_found};
use super::ollama::inputs;
use super::openai_request;
use super::plan::{pieces, plan, Finish, Plan, ARG_PIECE};
use super::prompt::Prompt;
use super::state::{Endpoint, Shared};
use super::text::{count_words, embedding, unix_now};
use super::MockKind;

type St = web::Data<Shared>;

pub(crate) async fn models(st: St, req: HttpRequest) -> HttpResponse {
    st.probe_gate().await;
    match book(&st, Endpoint::V1Models, &req, &Bytes::new()) {
        Ok(()) => ok_json(st.catalog().v1_models.clone()),
        Err(resp) => resp,
    }
}

fn bad_request(st: &Shared, msg: &str) -> HttpResponse {
    refuse(st, openai_error(StatusCode::BAD_REQUEST, msg, None))
}

fn parse(st: &Shared, body: &[u8]) -> Result<Value, HttpResponse> {
    serde_json::from_slice(body).map_err(|e| {
        bad_request(
            st,
            &format!("We could not parse the JSON body of your request. ({e})"),
        )
    })
}

fn check_model(st: &Shared, model: &str) -> Result<(), HttpResponse> {
    if model.is_empty() {
        return Err(bad_request(st, "you must provide a model parameter"));
    }
    if !st.catalog().has(model) {
        return Err(openai_not_found(model));
    }
    Ok(())
}

#[derive(Serialize, Clone, Copy)]
struct PromptDetails {
    cached_tokens: usize,
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: usize,
    completion_tokens: usize,
    total_tokens: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_details: Option<PromptDetails>,
}

impl Usage {
    /// OpenAI counts cached tokens inside `prompt_tokens`; the OpenAI kind always reports
    /// the details, Ollama's layer only when something was cached.
    fn of(plan: &Plan, kind: MockKind) -> Usage {
        let prompt = plan.prompt_tokens + plan.cached_tokens;
        Usage {
            prompt_tokens: prompt,
            completion_tokens: plan.completion_tokens,
            total_tokens: prompt + plan.completion_tokens,
            prompt_tokens_details: (kind == MockKind::OpenAi || plan.cached_tokens > 0).then_some(
                PromptDetails {
                    cached_tokens: plan.cached_tokens,
                },
            ),
        }
    }
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// One tool call inside a delta (streamed) or a message (whole).
#[derive(Serialize)]
struct CallOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<CallOut<'a>>,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    /// `null` when the answer is tool calls.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<CallOut<'a>>,
}

/// One entry of `choices`, covering chat (message/delta) and completion (text) shapes.
#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<Delta<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<Choice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

fn finish_reason(f: &Finish) -> &'static str {
    match f {
        Finish::Stop | Finish::StopSequence(_) => "stop",
        Finish::Length => "length",
        Finish::ToolCalls => "tool_calls",
    }
}

/// Chat and text completions share everything but the object names and choice shape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Chat,
    Text,
}

impl Shape {
    fn object(self, chunk: bool) -> &'static str {
        match (self, chunk) {
            (Shape::Chat, false) => "chat.completion",
            (Shape::Chat, true) => "chat.completion.chunk",
            (Shape::Text, _) => "text_completion",
        }
    }

    fn id_prefix(self) -> &'static str {
        match self {
            Shape::Chat => "chatcmpl-mock",
            Shape::Text => "cmpl-mock",
        }
    }

    /// A streamed choice: a chat delta, or a completion's `text` (empty when closing).
    fn chunk_choice<'a>(self, delta: Delta<'a>, finish: Option<&'static str>) -> Choice<'a> {
        match self {
            Shape::Chat => Choice {
                index: 0,
                message: None,
                delta: Some(delta),
                text: None,
                logprobs: None,
                finish_reason: finish,
            },
            Shape::Text => Choice {
                index: 0,
                message: None,
                delta: None,
                text: Some(delta.content.unwrap_or("")),
                logprobs: None,
                finish_reason: finish,
            },
        }
    }
}

/// The id OpenAI-style answers give call `i` of node `name`.
fn call_id(name: &str, i: usize) -> String {
    format!("call_{name}_{i}")
}

struct Ask<'a> {
    shape: Shape,
    ep: Endpoint,
    model: &'a str,
    stream: bool,
    include_usage: bool,
}

impl<'a> Ask<'a> {
    fn of(shape: Shape, ep: Endpoint, v: &'a Value) -> Ask<'a> {
        Ask {
            shape,
            ep,
            model: v.get("model").and_then(Value::as_str).unwrap_or(""),
            stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
            include_usage: v
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

async fn answer(st: St, ask: Ask<'_>, prompt: Prompt) -> HttpResponse {
    let admitted = match admit(&st, ask.ep).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    if let Err(resp) = check_model(&st, ask.model) {
        return resp;
    }
    let plan = plan(&prompt, &st.first_token, st.tokens());
    let id = format!("{}-{}", ask.shape.id_prefix(), st.next_id());
    let created = unix_now();
    let usage = Usage::of(&plan, st.kind);
    let finish = finish_reason(&plan.finish);
    let ids: Vec<String> = (0..plan.calls.len())
        .map(|i| call_id(&st.name, i))
        .collect();
    let completion = |chunk: bool, choices: Vec<Choice<'_>>, usage: Option<Usage>| {
        let c = Completion {
            id: &id,
            object: ask.shape.object(chunk),
            created,
            model: ask.model,
            system_fingerprint: "fp_mock",
            choices,
            usage,
        };
        if chunk {
            sse_event(&c)
        } else {
            json_bytes(&c)
        }
    };
    if !ask.stream {
        if admitted.die_after.is_some() {
            return aborted(JSON, admitted.guard);
        }
        let text = plan.text();
        let choice = match ask.shape {
            Shape::Chat => Choice {
                index: 0,
                message: Some(OutMessage {
                    role: "assistant",
                    content: plan.calls.is_empty().then_some(text.as_str()),
                    tool_calls: plan
                        .calls
                        .iter()
                        .zip(&ids)
                        .map(|(c, id)| CallOut {
                            index: None,
                            id: Some(id),
                            kind: Some("function"),
                            function: FunctionDelta {
                                name: Some(&c.name),
                                arguments: &c.arguments,
                            },
                        })
                        .collect(),
                }),
                delta: None,
                text: None,
                logprobs: None,
                finish_reason: Some(finish),
            },
            Shape::Text => Choice {
                index: 0,
                message: None,
                delta: None,
                text: Some(&text),
                logprobs: None,
                finish_reason: Some(finish),
            },
        };
        return ok_json(completion(false, vec![choice], Some(usage)));
    }
    let mut frames = Vec::with_capacity(plan.chunks.len() + 3);
    // `role` rides on the first delta only.
    let mut role = Some("assistant");
    for chunk in &plan.chunks {
        let delta = Delta {
            role: role.take(),
            content: Some(chunk),
            ..Delta::default()
        };
        frames.push(completion(
            true,
            vec![ask.shape.chunk_choice(delta, None)],
            None,
        ));
    }
    for (index, (call, id)) in plan.calls.iter().zip(&ids).enumerate() {
        // The first delta of a call names it; the arguments follow in small pieces.
        let delta = Delta {
            role: role.take(),
            content: None,
            tool_calls: vec![CallOut {
                index: Some(index),
                id: Some(id),
                kind: Some("function"),
                function: FunctionDelta {
                    name: Some(&call.name),
                    arguments: "",
                },
            }],
        };
        frames.push(completion(
            true,
            vec![ask.shape.chunk_choice(delta, None)],
            None,
        ));
        for piece in pieces(&call.arguments, ARG_PIECE) {
            let delta = Delta {
                tool_calls: vec![CallOut {
                    index: Some(index),
                    id: None,
                    kind: None,
                    function: FunctionDelta {
                        name: None,
                        arguments: piece,
                    },
                }],
                ..Delta::default()
            };
            frames.push(completion(
                true,
                vec![ask.shape.chunk_choice(delta, None)],
                None,
            ));
        }
    }
    let content = frames.len();
    let closing = Delta {
        role: role.take(),
        ..Delta::default()
    };
    if !st.omit_finish() {
        frames.push(completion(
            true,
            vec![ask.shape.chunk_choice(closing, Some(finish))],
            None,
        ));
    }
    if ask.include_usage {
        frames.push(completion(true, Vec::new(), Some(usage)));
    }
    frames.push(Bytes::from_static(SSE_DONE));
    Frames { frames, content }.respond(SSE, &st, admitted)
}

pub(crate) async fn chat(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let ep = Endpoint::V1Chat;
    if let Err(resp) = book(&st, ep, &req, &body) {
        return resp;
    }
    if st.cuts(&body) {
        return aborted(SSE, Some(st.enter()));
    }
    let v = match parse(&st, &body) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if st.kind == MockKind::OpenAi {
        if let Err(msg) = openai_request::validate_chat(&v) {
            return bad_request(&st, &msg);
        }
    }
    let prompt = openai_request::read_chat(&v);
    answer(st, Ask::of(Shape::Chat, ep, &v), prompt).await
}

pub(crate) async fn completions(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let ep = Endpoint::V1Completions;
    if let Err(resp) = book(&st, ep, &req, &body) {
        return resp;
    }
    let v = match parse(&st, &body) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if st.kind == MockKind::OpenAi {
        if let Err(msg) = openai_request::validate_completion(&v) {
            return bad_request(&st, &msg);
        }
    }
    let words = inputs(v.get("prompt").unwrap_or(&Value::Null))
        .iter()
        .map(|p| count_words(p))
        .sum();
    let prompt = openai_request::read_completion(&v, words);
    answer(st, Ask::of(Shape::Text, ep, &v), prompt).await
}

#[derive(Deserialize)]
struct EmbeddingsReq {
    #[serde(default)]
    model: String,
    #[serde(default)]
    input: Value,
    /// `"base64"`: each vector as base64 of its little-endian f32s (what the openai Node
    /// SDK asks by default).
    #[serde(default)]
    encoding_format: Option<String>,
}

/// One vector, as floats or (`encoding_format: "base64"`) as OpenAI's base64 string.
#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Floats(Vec<f32>),
    Base64(String),
}

impl Vector {
    fn new(v: Vec<f32>, base64: bool) -> Vector {
        if base64 {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            Vector::Base64(base64::encode(&bytes))
        } else {
            Vector::Floats(v)
        }
    }
}

#[derive(Serialize)]
struct EmbeddingItem {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: usize,
    total_tokens: usize,
}

#[derive(Serialize)]
struct EmbeddingsResp<'a> {
    object: &'static str,
    data: Vec<EmbeddingItem>,
    model: &'a str,
    usage: EmbeddingUsage,
}

pub(crate) async fn embeddings(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let ep = Endpoint::V1Embeddings;
    if let Err(resp) = book(&st, ep, &req, &body) {
        return resp;
    }
    let v = match parse(&st, &body) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if st.kind == MockKind::OpenAi {
        if let Err(msg) = openai_request::validate_embeddings(&v) {
            return bad_request(&st, &msg);
        }
    }
    let req: EmbeddingsReq = match serde_json::from_value(v) {
        Ok(r) => r,
        Err(e) => return bad_request(&st, &e.to_string()),
    };
    let admitted = match admit(&st, ep).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    if let Err(resp) = check_model(&st, &req.model) {
        return resp;
    }
    if admitted.die_after.is_some() {
        return aborted(JSON, admitted.guard);
    }
    // A token-id array (`[1, 2, 3]`) is one input, not three.
    let texts = match &req.input {
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_number) => {
            vec![req.input.to_string()]
        }
        other => inputs(other),
    };
    let words = texts.iter().map(|t| count_words(t)).sum::<usize>().max(1);
    let base64 = req.encoding_format.as_deref() == Some("base64");
    ok_json(json_bytes(&EmbeddingsResp {
        object: "list",
        data: texts
            .iter()
            .enumerate()
            .map(|(index, t)| EmbeddingItem {
                object: "embedding",
                index,
                embedding: Vector::new(embedding(t, st.embedding_dims), base64),
            })
            .collect(),
        model: &req.model,
        usage: EmbeddingUsage {
            prompt_tokens: words,
            total_tokens: words,
        },
    }))
}
