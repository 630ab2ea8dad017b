//! OpenAI-compatible endpoints (`/v1/*`), as Ollama and most upstreams expose them.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{
    aborted, admit, json_bytes, ok_json, openai_error, openai_not_found, sse_event, streamed, JSON,
    SSE, SSE_DONE,
};
use super::ollama::{content_words, inputs, Message};
use super::state::{Endpoint, Shared};
use super::stream::Script;
use super::text::{count_words, embedding, full_text, token, unix_now};

type St = web::Data<Shared>;

pub(crate) async fn models(st: St) -> HttpResponse {
    st.hit(Endpoint::V1Models);
    ok_json(st.catalog().v1_models.clone())
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Box<HttpResponse>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(openai_error(StatusCode::BAD_REQUEST, &e.to_string(), None)))
}

fn check_model(st: &Shared, model: &str) -> Result<(), Box<HttpResponse>> {
    if model.is_empty() {
        return Err(Box::new(openai_error(
            StatusCode::BAD_REQUEST,
            "you must provide a model parameter",
            None,
        )));
    }
    if !st.catalog().has(model) {
        return Err(Box::new(openai_not_found(model)));
    }
    Ok(())
}

#[derive(Deserialize, Default)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
struct ChatReq {
    #[serde(default)]
    model: String,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct CompletionReq {
    #[serde(default)]
    model: String,
    #[serde(default)]
    prompt: Value,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: usize,
    completion_tokens: usize,
    total_tokens: usize,
}

impl Usage {
    fn new(prompt: usize, completion: usize) -> Usage {
        let prompt = prompt.max(1);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }
}

#[derive(Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: &'a str,
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

/// Chat and text completions share everything but the object names and choice shape.
#[derive(Clone, Copy)]
enum Kind {
    Chat,
    Text,
}

impl Kind {
    fn object(self, chunk: bool) -> &'static str {
        match (self, chunk) {
            (Kind::Chat, false) => "chat.completion",
            (Kind::Chat, true) => "chat.completion.chunk",
            (Kind::Text, _) => "text_completion",
        }
    }

    fn id_prefix(self) -> &'static str {
        match self {
            Kind::Chat => "chatcmpl-mock",
            Kind::Text => "cmpl-mock",
        }
    }

    /// A streamed choice carrying `text` (`None`: the closing, empty one).
    fn chunk_choice(self, first: bool, text: Option<&str>) -> Choice<'_> {
        let finish_reason = if text.is_none() { Some("stop") } else { None };
        match self {
            Kind::Chat => Choice {
                index: 0,
                message: None,
                delta: Some(Delta {
                    role: first.then_some("assistant"),
                    content: text,
                }),
                text: None,
                logprobs: None,
                finish_reason,
            },
            Kind::Text => Choice {
                index: 0,
                message: None,
                delta: None,
                text: Some(text.unwrap_or("")),
                logprobs: None,
                finish_reason,
            },
        }
    }

    fn whole_choice(self, text: &str) -> Choice<'_> {
        let (message, text) = match self {
            Kind::Chat => (
                Some(OutMessage {
                    role: "assistant",
                    content: text,
                }),
                None,
            ),
            Kind::Text => (None, Some(text)),
        };
        Choice {
            index: 0,
            message,
            delta: None,
            text,
            logprobs: None,
            finish_reason: Some("stop"),
        }
    }
}

struct Ask {
    kind: Kind,
    ep: Endpoint,
    model: String,
    prompt_words: usize,
    stream: bool,
    include_usage: bool,
}

async fn answer(st: St, body: Bytes, ask: Ask) -> HttpResponse {
    let admitted = match admit(&st, ask.ep, &body).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    if let Err(resp) = check_model(&st, &ask.model) {
        return *resp;
    }
    let n = st.tokens();
    let id = format!("{}-{}", ask.kind.id_prefix(), st.next_id());
    let created = unix_now();
    let usage = Usage::new(ask.prompt_words, n);
    let model = ask.model.as_str();
    let completion = |chunk: bool, choices: Vec<Choice<'_>>, usage: Option<Usage>| {
        let c = Completion {
            id: &id,
            object: ask.kind.object(chunk),
            created,
            model,
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
        let text = full_text(&st.first_token, n);
        return ok_json(completion(
            false,
            vec![ask.kind.whole_choice(&text)],
            Some(usage),
        ));
    }
    let mut frames = Vec::with_capacity(n + 3);
    for i in 0..n {
        let text = token(&st.first_token, i);
        frames.push(completion(
            true,
            vec![ask.kind.chunk_choice(i == 0, Some(&text))],
            None,
        ));
    }
    frames.push(completion(
        true,
        vec![ask.kind.chunk_choice(n == 0, None)],
        None,
    ));
    if ask.include_usage {
        frames.push(completion(true, Vec::new(), Some(usage)));
    }
    frames.push(Bytes::from_static(SSE_DONE));
    let script = Script::new(frames, st.token_delay())
        .die_after(admitted.die_after.map(|d| d.min(n)))
        .guard(admitted.guard);
    streamed(SSE, script)
}

/// Counts a request whose body could not be parsed, then answers 400.
fn rejected(st: &St, ep: Endpoint, body: &Bytes, resp: HttpResponse) -> HttpResponse {
    st.hit(ep);
    st.store_body(ep, body);
    resp
}

pub(crate) async fn chat(st: St, body: Bytes) -> HttpResponse {
    let req: ChatReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return rejected(&st, Endpoint::V1Chat, &body, *resp),
    };
    let ask = Ask {
        kind: Kind::Chat,
        ep: Endpoint::V1Chat,
        prompt_words: req.messages.iter().map(|m| content_words(&m.content)).sum(),
        model: req.model,
        stream: req.stream,
        include_usage: req.stream_options.unwrap_or_default().include_usage,
    };
    answer(st, body, ask).await
}

pub(crate) async fn completions(st: St, body: Bytes) -> HttpResponse {
    let req: CompletionReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return rejected(&st, Endpoint::V1Completions, &body, *resp),
    };
    let ask = Ask {
        kind: Kind::Text,
        ep: Endpoint::V1Completions,
        prompt_words: inputs(&req.prompt).iter().map(|p| count_words(p)).sum(),
        model: req.model,
        stream: req.stream,
        include_usage: req.stream_options.unwrap_or_default().include_usage,
    };
    answer(st, body, ask).await
}

#[derive(Deserialize)]
struct EmbeddingsReq {
    #[serde(default)]
    model: String,
    #[serde(default)]
    input: Value,
}

#[derive(Serialize)]
struct EmbeddingItem {
    object: &'static str,
    index: usize,
    embedding: Vec<f32>,
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

pub(crate) async fn embeddings(st: St, body: Bytes) -> HttpResponse {
    let admitted = match admit(&st, Endpoint::V1Embeddings, &body).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let req: EmbeddingsReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    if let Err(resp) = check_model(&st, &req.model) {
        return *resp;
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
    ok_json(json_bytes(&EmbeddingsResp {
        object: "list",
        data: texts
            .iter()
            .enumerate()
            .map(|(index, t)| EmbeddingItem {
                object: "embedding",
                index,
                embedding: embedding(t, st.embedding_dims),
            })
            .collect(),
        model: &req.model,
        usage: EmbeddingUsage {
            prompt_tokens: words,
            total_tokens: words,
        },
    }))
}
