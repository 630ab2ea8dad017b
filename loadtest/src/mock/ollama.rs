//! Ollama-native endpoints (`/api/*` and `/`), shaped after Ollama's API documentation.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{
    aborted, admit, book, json_bytes, ndjson_line, ok_json, refuse, streamed, Frames, JSON, NDJSON,
};
use super::errors::{ollama_error, ollama_not_found};
use super::ollama_request;
use super::plan::{plan, Finish, Plan};
use super::prompt::Prompt;
use super::state::{Endpoint, Shared, DETAILS};
use super::stream::Script;
use super::text::{count_words, digest_hex, embedding, rfc3339_now};

type St = web::Data<Shared>;

/// A probe: booked (counted, key checked) and answered with a fixed body.
fn probe(st: &Shared, ep: Endpoint, req: &HttpRequest, body: Bytes) -> HttpResponse {
    match book(st, ep, req, &Bytes::new()) {
        Ok(()) => ok_json(body),
        Err(resp) => resp,
    }
}

pub(crate) async fn root_get(st: St, req: HttpRequest) -> HttpResponse {
    if let Err(resp) = book(&st, Endpoint::Root, &req, &Bytes::new()) {
        return resp;
    }
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("Ollama is running")
}

pub(crate) async fn root_head(st: St, req: HttpRequest) -> HttpResponse {
    if let Err(resp) = book(&st, Endpoint::Root, &req, &Bytes::new()) {
        return resp;
    }
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .finish()
}

pub(crate) async fn version(st: St, req: HttpRequest) -> HttpResponse {
    probe(&st, Endpoint::Version, &req, st.version())
}

pub(crate) async fn tags(st: St, req: HttpRequest) -> HttpResponse {
    probe(&st, Endpoint::Tags, &req, st.catalog().tags.clone())
}

pub(crate) async fn ps(st: St, req: HttpRequest) -> HttpResponse {
    probe(&st, Endpoint::Ps, &req, st.catalog().ps.clone())
}

/// Parses a request body, mapping malformed JSON to Ollama's 400 answer (counted).
fn parse<'a, T: Deserialize<'a>>(st: &Shared, body: &'a [u8]) -> Result<T, HttpResponse> {
    serde_json::from_slice(body)
        .map_err(|e| refuse(st, ollama_error(StatusCode::BAD_REQUEST, &e.to_string())))
}

/// Rejects a missing or unknown model the way Ollama does.
fn check_model(st: &Shared, model: &str) -> Result<(), HttpResponse> {
    if model.is_empty() {
        return Err(refuse(
            st,
            ollama_error(StatusCode::BAD_REQUEST, "model is required"),
        ));
    }
    if !st.catalog().has(model) {
        return Err(ollama_not_found(model));
    }
    Ok(())
}

#[derive(Serialize)]
struct OutFunction<'a> {
    name: &'a str,
    arguments: &'a Value,
}

#[derive(Serialize)]
struct OutCall<'a> {
    function: OutFunction<'a>,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutCall<'a>>,
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
    fn of(plan: &Plan) -> Stats {
        Stats {
            // Ollama ends a tool-call answer with "stop" too.
            done_reason: if plan.finish == Finish::Length {
                "length"
            } else {
                "stop"
            },
            total_duration: 1,
            load_duration: 1,
            prompt_eval_count: plan.prompt_tokens,
            prompt_eval_duration: 1,
            eval_count: plan.completion_tokens,
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
#[derive(Clone, Copy)]
enum Shape {
    Chat,
    Generate,
}

/// One frame: `text`, the plan's tool calls when `calls`, the counters when `stats`.
fn frame(
    shape: Shape,
    model: &str,
    created_at: &str,
    text: &str,
    calls: Option<&Plan>,
    stats: Option<Stats>,
) -> Bytes {
    match shape {
        Shape::Chat => ndjson_line(&ChatFrame {
            model,
            created_at,
            message: OutMessage {
                role: "assistant",
                content: text,
                tool_calls: calls.map_or_else(Vec::new, |p| {
                    p.calls
                        .iter()
                        .map(|c| OutCall {
                            function: OutFunction {
                                name: &c.name,
                                arguments: &c.input,
                            },
                        })
                        .collect()
                }),
            },
            done: stats.is_some(),
            stats,
        }),
        Shape::Generate => ndjson_line(&GenerateFrame {
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
    shape: Shape,
    model: &str,
    prompt: Prompt,
    stream: bool,
) -> HttpResponse {
    let admitted = match admit(&st, ep).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    if let Err(resp) = check_model(&st, model) {
        return resp;
    }
    let plan = prompt_only(plan(&prompt, &st.first_token, st.tokens()), &prompt);
    let created_at = rfc3339_now();
    let calls = (!plan.calls.is_empty()).then_some(&plan);
    if !stream {
        if admitted.die_after.is_some() {
            return aborted(JSON, admitted.guard);
        }
        let mut body = frame(
            shape,
            model,
            &created_at,
            &plan.text(),
            calls,
            Some(Stats::of(&plan)),
        );
        // The NDJSON helper appends a newline; a plain JSON answer does not need it.
        body.truncate(body.len().saturating_sub(1));
        return ok_json(body);
    }
    let mut frames = Vec::with_capacity(plan.chunks.len() + 2);
    for chunk in &plan.chunks {
        frames.push(frame(shape, model, &created_at, chunk, None, None));
    }
    // Ollama sends a tool-call answer whole, in one chunk.
    if calls.is_some() {
        frames.push(frame(shape, model, &created_at, "", calls, None));
    }
    let content = frames.len();
    frames.push(frame(
        shape,
        model,
        &created_at,
        "",
        None,
        Some(Stats::of(&plan)),
    ));
    Frames { frames, content }.respond(NDJSON, &st, admitted)
}

/// `num_predict: 0` asks Ollama to read the prompt and generate nothing, not even a tool
/// call: what Drover's `count_tokens` relies on to count a prompt.
fn prompt_only(plan: Plan, prompt: &Prompt) -> Plan {
    if prompt.max_tokens != Some(0) {
        return plan;
    }
    Plan {
        chunks: Vec::new(),
        calls: Vec::new(),
        finish: Finish::Length,
        completion_tokens: 0,
        ..plan
    }
}

fn model_of(v: &Value) -> &str {
    v.get("model").and_then(Value::as_str).unwrap_or("")
}

/// Ollama streams unless `"stream": false`.
fn streams(v: &Value) -> bool {
    v.get("stream").and_then(Value::as_bool).unwrap_or(true)
}

pub(crate) async fn chat(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let ep = Endpoint::Chat;
    if let Err(resp) = book(&st, ep, &req, &body) {
        return resp;
    }
    let v: Value = match parse(&st, &body) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if let Some(resp) = super::ollama_manage::unload(&st, ep, &v, "messages").await {
        return resp;
    }
    if let Err(msg) = ollama_request::validate_chat(&v) {
        return refuse(&st, ollama_error(StatusCode::BAD_REQUEST, &msg));
    }
    let prompt = ollama_request::read_chat(&v);
    answer(st, ep, Shape::Chat, model_of(&v), prompt, streams(&v)).await
}

pub(crate) async fn generate(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let ep = Endpoint::Generate;
    if let Err(resp) = book(&st, ep, &req, &body) {
        return resp;
    }
    let v: Value = match parse(&st, &body) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if let Some(resp) = super::ollama_manage::unload(&st, ep, &v, "prompt").await {
        return resp;
    }
    if let Err(msg) = ollama_request::validate_generate(&v) {
        return refuse(&st, ollama_error(StatusCode::BAD_REQUEST, &msg));
    }
    let prompt = ollama_request::read_generate(&v);
    answer(st, ep, Shape::Generate, model_of(&v), prompt, streams(&v)).await
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
    req: &HttpRequest,
    body: &Bytes,
    model: impl FnOnce(&T) -> &str,
) -> Result<(T, Option<super::state::InFlight>), HttpResponse> {
    book(st, ep, req, body)?;
    let parsed: T = parse(st, body)?;
    let admitted = admit(st, ep).await?;
    check_model(st, model(&parsed))?;
    if admitted.die_after.is_some() {
        return Err(aborted(JSON, admitted.guard));
    }
    Ok((parsed, admitted.guard))
}

pub(crate) async fn embed(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let (req, _guard) =
        match embed_common::<EmbedReq>(&st, Endpoint::Embed, &req, &body, |r| &r.model).await {
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

pub(crate) async fn embeddings(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let (req, _guard) =
        match embed_common::<EmbeddingsReq>(&st, Endpoint::Embeddings, &req, &body, |r| &r.model)
            .await
        {
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

pub(crate) async fn show(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    if let Err(resp) = book(&st, Endpoint::Show, &req, &body) {
        return resp;
    }
    let req: NamedReq = match parse(&st, &body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let model = req.model();
    if let Err(resp) = check_model(&st, model) {
        return resp;
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

pub(crate) async fn pull(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    if let Err(resp) = book(&st, Endpoint::Pull, &req, &body) {
        return resp;
    }
    let req: NamedReq = match parse(&st, &body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let admitted = match admit(&st, Endpoint::Pull).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let model = req.model().to_owned();
    if model.is_empty() {
        return refuse(
            &st,
            ollama_error(StatusCode::BAD_REQUEST, "model is required"),
        );
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
}
