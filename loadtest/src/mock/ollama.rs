//! Ollama-native endpoints (`/api/*` and `/`), shaped after Ollama's API documentation.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{
    aborted, admit, json_bytes, ndjson_line, ok_json, ollama_error, ollama_not_found, streamed,
    JSON, NDJSON,
};
use super::state::{Endpoint, Shared, DETAILS};
use super::stream::Script;
use super::text::{count_words, digest_hex, embedding, full_text, rfc3339_now, token};

type St = web::Data<Shared>;

pub(crate) async fn root_get(st: St) -> HttpResponse {
    st.hit(Endpoint::Root);
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Ollama is running")
}

pub(crate) async fn root_head(st: St) -> HttpResponse {
    st.hit(Endpoint::Root);
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .finish()
}

pub(crate) async fn version(st: St) -> HttpResponse {
    st.hit(Endpoint::Version);
    ok_json(Bytes::from_static(br#"{"version":"0.5.0-mock"}"#))
}

pub(crate) async fn tags(st: St) -> HttpResponse {
    st.hit(Endpoint::Tags);
    ok_json(st.catalog().tags.clone())
}

pub(crate) async fn ps(st: St) -> HttpResponse {
    st.hit(Endpoint::Ps);
    ok_json(st.catalog().ps.clone())
}

/// Parses a request body, mapping malformed JSON to Ollama's 400 answer.
fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Box<HttpResponse>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(ollama_error(StatusCode::BAD_REQUEST, &e.to_string())))
}

/// Rejects a missing or unknown model the way Ollama does.
fn check_model(st: &Shared, model: &str) -> Result<(), Box<HttpResponse>> {
    if model.is_empty() {
        return Err(Box::new(ollama_error(
            StatusCode::BAD_REQUEST,
            "model is required",
        )));
    }
    if !st.catalog().has(model) {
        return Err(Box::new(ollama_not_found(model)));
    }
    Ok(())
}

/// Word count of a message `content`, which is a string in Ollama and may be an array of
/// parts in OpenAI.
pub(crate) fn content_words(content: &Value) -> usize {
    match content {
        Value::String(s) => count_words(s),
        Value::Array(parts) => parts
            .iter()
            .map(|p| p.get("text").and_then(Value::as_str).map_or(0, count_words))
            .sum(),
        _ => 0,
    }
}

#[derive(Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    pub(crate) content: Value,
}

#[derive(Deserialize)]
struct ChatReq {
    #[serde(default)]
    model: String,
    #[serde(default)]
    messages: Vec<Message>,
    stream: Option<bool>,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: &'a str,
}

/// Timing and count fields of Ollama's final frame; durations are nominal (1 ns).
#[derive(Serialize)]
struct Stats {
    done_reason: &'static str,
    total_duration: u64,
    load_duration: u64,
    prompt_eval_count: usize,
    prompt_eval_duration: u64,
    eval_count: usize,
    eval_duration: u64,
}

impl Stats {
    fn new(prompt: usize, eval: usize) -> Stats {
        Stats {
            done_reason: "stop",
            total_duration: 1,
            load_duration: 1,
            prompt_eval_count: prompt.max(1),
            prompt_eval_duration: 1,
            eval_count: eval,
            eval_duration: 1,
        }
    }
}

#[derive(Serialize)]
struct ChatFrame<'a> {
    model: &'a str,
    created_at: &'a str,
    message: OutMessage<'a>,
    done: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    stats: Option<Stats>,
}

#[derive(Serialize)]
struct GenerateFrame<'a> {
    model: &'a str,
    created_at: &'a str,
    response: &'a str,
    done: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    stats: Option<Stats>,
}

/// The parts of a chat or generate answer that differ; the flow is shared.
enum Kind {
    Chat,
    Generate,
}

fn frame(kind: &Kind, model: &str, created_at: &str, text: &str, stats: Option<Stats>) -> Bytes {
    match kind {
        Kind::Chat => ndjson_line(&ChatFrame {
            model,
            created_at,
            message: OutMessage {
                role: "assistant",
                content: text,
            },
            done: stats.is_some(),
            stats,
        }),
        Kind::Generate => ndjson_line(&GenerateFrame {
            model,
            created_at,
            response: text,
            done: stats.is_some(),
            stats,
        }),
    }
}

async fn answer(
    st: St,
    ep: Endpoint,
    kind: Kind,
    body: Bytes,
    model: String,
    prompt_words: usize,
    stream: bool,
) -> HttpResponse {
    let admitted = match admit(&st, ep, &body).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    if let Err(resp) = check_model(&st, &model) {
        return *resp;
    }
    let n = st.tokens();
    let created_at = rfc3339_now();
    if !stream {
        if admitted.die_after.is_some() {
            return aborted(JSON, admitted.guard);
        }
        let text = full_text(&st.first_token, n);
        let mut body = frame(
            &kind,
            &model,
            &created_at,
            &text,
            Some(Stats::new(prompt_words, n)),
        );
        // The NDJSON helper appends a newline; a plain JSON answer does not need it.
        body.truncate(body.len().saturating_sub(1));
        return ok_json(body);
    }
    let mut frames = Vec::with_capacity(n + 1);
    for i in 0..n {
        frames.push(frame(
            &kind,
            &model,
            &created_at,
            &token(&st.first_token, i),
            None,
        ));
    }
    frames.push(frame(
        &kind,
        &model,
        &created_at,
        "",
        Some(Stats::new(prompt_words, n)),
    ));
    let script = Script::new(frames, st.token_delay())
        .die_after(admitted.die_after.map(|d| d.min(n)))
        .guard(admitted.guard);
    streamed(NDJSON, script)
}

pub(crate) async fn chat(st: St, body: Bytes) -> HttpResponse {
    let req: ChatReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => {
            st.hit(Endpoint::Chat);
            st.store_body(Endpoint::Chat, &body);
            return *resp;
        }
    };
    let words = req.messages.iter().map(|m| content_words(&m.content)).sum();
    let stream = req.stream.unwrap_or(true);
    answer(
        st,
        Endpoint::Chat,
        Kind::Chat,
        body,
        req.model,
        words,
        stream,
    )
    .await
}

#[derive(Deserialize)]
struct GenerateReq {
    #[serde(default)]
    model: String,
    #[serde(default)]
    prompt: String,
    stream: Option<bool>,
}

pub(crate) async fn generate(st: St, body: Bytes) -> HttpResponse {
    let req: GenerateReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => {
            st.hit(Endpoint::Generate);
            st.store_body(Endpoint::Generate, &body);
            return *resp;
        }
    };
    let words = count_words(&req.prompt);
    let stream = req.stream.unwrap_or(true);
    answer(
        st,
        Endpoint::Generate,
        Kind::Generate,
        body,
        req.model,
        words,
        stream,
    )
    .await
}

/// `input` of an embedding request: one string or a list; anything else counts as text.
pub(crate) fn inputs(input: &Value) -> Vec<String> {
    match input {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        other => vec![other.to_string()],
    }
}

#[derive(Deserialize)]
struct EmbedReq {
    #[serde(default)]
    model: String,
    #[serde(default)]
    input: Value,
}

#[derive(Serialize)]
struct EmbedResp<'a> {
    model: &'a str,
    embeddings: Vec<Vec<f32>>,
    total_duration: u64,
    load_duration: u64,
    prompt_eval_count: usize,
}

/// Books and parses an embedding-style request; `Err` is the answer to send instead.
async fn embed_common<T: for<'de> Deserialize<'de>>(
    st: &St,
    ep: Endpoint,
    body: &Bytes,
    model: impl FnOnce(&T) -> &str,
) -> Result<(T, Option<super::state::InFlight>), HttpResponse> {
    let admitted = admit(st, ep, body).await?;
    let req: T = parse(body).map_err(|r| *r)?;
    check_model(st, model(&req)).map_err(|r| *r)?;
    if admitted.die_after.is_some() {
        return Err(aborted(JSON, admitted.guard));
    }
    Ok((req, admitted.guard))
}

pub(crate) async fn embed(st: St, body: Bytes) -> HttpResponse {
    let (req, _guard) =
        match embed_common::<EmbedReq>(&st, Endpoint::Embed, &body, |r| &r.model).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
    let texts = inputs(&req.input);
    let words = texts.iter().map(|t| count_words(t)).sum::<usize>();
    ok_json(json_bytes(&EmbedResp {
        model: &req.model,
        embeddings: texts
            .iter()
            .map(|t| embedding(t, st.embedding_dims))
            .collect(),
        total_duration: 1,
        load_duration: 1,
        prompt_eval_count: words.max(texts.len()),
    }))
}

#[derive(Deserialize)]
struct EmbeddingsReq {
    #[serde(default)]
    model: String,
    #[serde(default)]
    prompt: String,
}

#[derive(Serialize)]
struct EmbeddingsResp {
    embedding: Vec<f32>,
}

pub(crate) async fn embeddings(st: St, body: Bytes) -> HttpResponse {
    let (req, _guard) =
        match embed_common::<EmbeddingsReq>(&st, Endpoint::Embeddings, &body, |r| &r.model).await {
            Ok(x) => x,
            Err(resp) => return resp,
        };
    ok_json(json_bytes(&EmbeddingsResp {
        embedding: embedding(&req.prompt, st.embedding_dims),
    }))
}

/// `/api/show` and `/api/pull` accept the model as `model` or as legacy `name`.
#[derive(Deserialize)]
struct NamedReq {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    name: Option<String>,
    stream: Option<bool>,
}

impl NamedReq {
    fn model(&self) -> &str {
        self.model
            .as_deref()
            .filter(|m| !m.is_empty())
            .or(self.name.as_deref())
            .unwrap_or("")
    }
}

#[derive(Serialize)]
struct ShowResp<'a> {
    modelfile: String,
    parameters: &'static str,
    template: &'static str,
    details: &'a super::state::Details,
    model_info: serde_json::Map<String, Value>,
    capabilities: [&'static str; 1],
    modified_at: &'static str,
}

pub(crate) async fn show(st: St, body: Bytes) -> HttpResponse {
    st.hit(Endpoint::Show);
    st.store_body(Endpoint::Show, &body);
    let req: NamedReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let model = req.model();
    if let Err(resp) = check_model(&st, model) {
        return *resp;
    }
    ok_json(json_bytes(&ShowResp {
        modelfile: format!("# Modelfile generated by drover-mock\nFROM {model}\n"),
        parameters: "",
        template: "{{ .Prompt }}",
        details: &DETAILS,
        model_info: serde_json::Map::new(),
        capabilities: ["completion"],
        modified_at: "2024-01-01T00:00:00Z",
    }))
}

#[derive(Serialize)]
struct PullStatus<'a> {
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed: Option<u64>,
}

impl<'a> PullStatus<'a> {
    fn plain(status: &'a str) -> PullStatus<'a> {
        PullStatus {
            status,
            digest: None,
            total: None,
            completed: None,
        }
    }
}

/// The progress frames of a pull: manifest, two layers downloading in three steps each,
/// verification, manifest write, success.
fn pull_frames(model: &str) -> Vec<Bytes> {
    let mut frames = vec![ndjson_line(&PullStatus::plain("pulling manifest"))];
    for (layer, total) in [(0u32, 4_000u64), (1, 1_000)] {
        let digest = format!("sha256:{}", digest_hex(&format!("{model}/{layer}")));
        let short = digest.get(7..19).unwrap_or("layer");
        let status = format!("pulling {short}");
        for completed in [0, total / 2, total] {
            frames.push(ndjson_line(&PullStatus {
                status: &status,
                digest: Some(&digest),
                total: Some(total),
                completed: Some(completed),
            }));
        }
    }
    for s in ["verifying sha256 digest", "writing manifest", "success"] {
        frames.push(ndjson_line(&PullStatus::plain(s)));
    }
    frames
}

pub(crate) async fn pull(st: St, body: Bytes) -> HttpResponse {
    let admitted = match admit(&st, Endpoint::Pull, &body).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let req: NamedReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let model = req.model().to_owned();
    if model.is_empty() {
        return ollama_error(StatusCode::BAD_REQUEST, "model is required");
    }
    if !req.stream.unwrap_or(true) {
        if admitted.die_after.is_some() {
            return aborted(JSON, admitted.guard);
        }
        st.add_model(&model);
        return ok_json(Bytes::from_static(br#"{"status":"success"}"#));
    }
    let frames = pull_frames(&model);
    let last_progress = frames.len() - 1;
    let state = st.into_inner();
    let script = Script::new(frames, state.token_delay())
        .die_after(admitted.die_after.map(|d| d.min(last_progress)))
        .on_done(Box::new(move || state.add_model(&model)));
    streamed(NDJSON, script)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pull_frames_shape() {
        let frames = pull_frames("m");
        assert_eq!(frames.len(), 10);
        let parsed: Vec<Value> = frames
            .iter()
            .map(|f| serde_json::from_slice(f).unwrap())
            .collect();
        assert_eq!(parsed[0]["status"], "pulling manifest");
        assert_eq!(parsed[3]["completed"], parsed[3]["total"]);
        assert!(parsed[1]["digest"].as_str().unwrap().starts_with("sha256:"));
        assert_eq!(parsed[9]["status"], "success");
    }

    #[test]
    fn input_forms() {
        assert_eq!(inputs(&serde_json::json!("a")), vec!["a"]);
        assert_eq!(inputs(&serde_json::json!(["a", "b"])), vec!["a", "b"]);
        assert!(inputs(&Value::Null).is_empty());
    }

    #[test]
    fn content_word_counts() {
        assert_eq!(content_words(&serde_json::json!("a b c")), 3);
        assert_eq!(
            content_words(&serde_json::json!([{"type":"text","text":"x y"}])),
            2
        );
    }
}
