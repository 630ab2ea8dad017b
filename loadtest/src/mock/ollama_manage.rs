//! Ollama's model management, as the real server answers it: `DELETE /api/delete` and
//! `POST /api/copy` (200, empty body; 404 for an unknown model), `POST /api/create` and
//! `POST /api/push` (NDJSON progress ending in `success`, or one object with
//! `"stream": false`), `HEAD`/`POST /api/blobs/:digest` (200 or 404; 201 once stored, 400 on
//! a digest mismatch), and unload (a chat or generate with `keep_alive: 0` and nothing to
//! answer: `done_reason: "unload"`). Each changes the node's catalog, so tests see what was
//! acted on.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::common::{aborted, admit, book, ndjson_line, ok_json, refuse, streamed, JSON, NDJSON};
use super::errors::{ollama_error, ollama_not_found};
use super::state::{Endpoint, Shared};
use super::stream::Script;
use super::text::{digest_hex, rfc3339_now};

type St = web::Data<Shared>;

#[derive(Deserialize)]
struct ModelReq {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    name: Option<String>,
    stream: Option<bool>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    files: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    destination: Option<String>,
}

impl ModelReq {
    fn model(&self) -> &str {
        self.model
            .as_deref()
            .filter(|m| !m.is_empty())
            .or(self.name.as_deref())
            .unwrap_or("")
    }
}

fn bad_request(st: &Shared, message: &str) -> HttpResponse {
    refuse(st, ollama_error(StatusCode::BAD_REQUEST, message))
}

/// Books the call, parses its body and applies the failure knobs. `Err` is the answer.
async fn start(
    st: &St,
    ep: Endpoint,
    req: &HttpRequest,
    body: &Bytes,
) -> Result<(ModelReq, super::common::Admitted), HttpResponse> {
    book(st, ep, req, body)?;
    let parsed: ModelReq =
        serde_json::from_slice(body).map_err(|e| bad_request(st, &e.to_string()))?;
    let admitted = admit(st, ep).await?;
    Ok((parsed, admitted))
}

pub(crate) async fn delete(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let (parsed, _) = match start(&st, Endpoint::Delete, &req, &body).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let model = parsed.model();
    if model.is_empty() {
        return bad_request(&st, "model is required");
    }
    if !st.remove_model(model) {
        return ollama_error(StatusCode::NOT_FOUND, &format!("model '{model}' not found"));
    }
    HttpResponse::Ok().finish()
}

pub(crate) async fn copy(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let (parsed, _) = match start(&st, Endpoint::Copy, &req, &body).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let (Some(source), Some(destination)) =
        (parsed.source.as_deref(), parsed.destination.as_deref())
    else {
        return bad_request(&st, "source and destination are required");
    };
    if !st.catalog().has(source) {
        return ollama_error(
            StatusCode::NOT_FOUND,
            &format!("model \"{source}\" not found"),
        );
    }
    st.add_model(destination);
    HttpResponse::Ok().finish()
}

#[derive(Serialize)]
struct Progress<'a> {
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed: Option<u64>,
}

fn status_line(status: &str) -> Bytes {
    ndjson_line(&Progress {
        status,
        digest: None,
        total: None,
        completed: None,
    })
}

/// Answers a progress call: the frames streamed (or only `success`), `done` run as the last
/// frame goes out.
fn progress(
    st: St,
    admitted: super::common::Admitted,
    stream: bool,
    frames: Vec<Bytes>,
    done: Box<dyn FnOnce(&Shared) + Send>,
) -> HttpResponse {
    if !stream {
        if admitted.die_after.is_some() {
            return aborted(JSON, admitted.guard);
        }
        done(&st);
        return ok_json(Bytes::from_static(br#"{"status":"success"}"#));
    }
    let last_progress = frames.len().saturating_sub(1);
    let state = st.into_inner();
    let script = Script::new(frames, state.token_delay())
        .die_after(admitted.die_after.map(|d| d.min(last_progress)))
        .on_done(Box::new(move || done(&state)));
    streamed(NDJSON, script)
}

pub(crate) async fn create(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let (parsed, admitted) = match start(&st, Endpoint::Create, &req, &body).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let model = parsed.model().to_owned();
    if model.is_empty() {
        return bad_request(&st, "model is required");
    }
    let mut frames = vec![status_line("gathering model components")];
    match (&parsed.from, &parsed.files) {
        (None, None) => return bad_request(&st, "neither 'from' or 'files' was specified"),
        (Some(from), _) if !st.catalog().has(from) => return ollama_not_found(from),
        (Some(from), _) => {
            let layer = format!("sha256:{}", digest_hex(from));
            frames.push(status_line(&format!("using existing layer {layer}")));
        }
        (None, Some(files)) => {
            for (name, digest) in files {
                if st.blob(digest).is_none() {
                    return bad_request(&st, &format!("blob {digest} for {name} not found"));
                }
                frames.push(status_line(&format!("copying file {digest} 100%")));
            }
        }
    }
    frames.push(status_line("writing manifest"));
    frames.push(status_line("success"));
    let stream = parsed.stream.unwrap_or(true);
    progress(
        st,
        admitted,
        stream,
        frames,
        Box::new(move |st| st.add_model(&model)),
    )
}

pub(crate) async fn push(st: St, req: HttpRequest, body: Bytes) -> HttpResponse {
    let (parsed, admitted) = match start(&st, Endpoint::Push, &req, &body).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let model = parsed.model().to_owned();
    if model.is_empty() {
        return bad_request(&st, "model is required");
    }
    if !st.catalog().has(&model) {
        return ollama_not_found(&model);
    }
    let mut frames = vec![status_line("retrieving manifest")];
    frames.push(status_line("starting upload"));
    let digest = format!("sha256:{}", digest_hex(&format!("{model}/push")));
    let status = format!("pushing {}", digest.get(7..19).unwrap_or("layer"));
    let total = 2_000u64;
    for completed in [0, total / 2, total] {
        frames.push(ndjson_line(&Progress {
            status: &status,
            digest: Some(&digest),
            total: Some(total),
            completed: Some(completed),
        }));
    }
    frames.push(status_line("pushing manifest"));
    frames.push(status_line("success"));
    let stream = parsed.stream.unwrap_or(true);
    progress(st, admitted, stream, frames, Box::new(|_| {}))
}

pub(crate) async fn blob_head(st: St, req: HttpRequest, digest: web::Path<String>) -> HttpResponse {
    if let Err(resp) = book(&st, Endpoint::Blobs, &req, &Bytes::new()) {
        return resp;
    }
    if let Err(resp) = admit(&st, Endpoint::Blobs).await {
        return resp;
    }
    if st.blob(&digest).is_some() {
        HttpResponse::Ok().finish()
    } else {
        HttpResponse::NotFound().finish()
    }
}

/// Hashes the body as it streams in (never held whole) and keeps the blob when the digest
/// matches.
pub(crate) async fn blob_post(
    st: St,
    req: HttpRequest,
    digest: web::Path<String>,
    mut body: web::Payload,
) -> HttpResponse {
    if let Err(resp) = book(&st, Endpoint::Blobs, &req, &Bytes::new()) {
        return resp;
    }
    if let Err(resp) = admit(&st, Endpoint::Blobs).await {
        return resp;
    }
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => {
                hasher.update(&bytes);
                size += bytes.len() as u64;
            }
            Err(e) => return bad_request(&st, &e.to_string()),
        }
    }
    let got = format!("sha256:{:x}", hasher.finalize());
    let expected = digest.replacen("sha256-", "sha256:", 1);
    if got != expected {
        return bad_request(
            &st,
            &format!("digest mismatch, expected \"{expected}\", got \"{got}\""),
        );
    }
    st.add_blob(&expected, size);
    HttpResponse::Created().finish()
}

/// `keep_alive` of zero: `0` or a zero duration string.
fn is_zero(keep_alive: &Value) -> bool {
    match keep_alive {
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .parse::<f64>()
            .is_ok_and(|v| v == 0.0),
        _ => false,
    }
}

/// When `v` is an unload (zero `keep_alive`, nothing in `field`), the answer to it (after
/// the failure knobs): the model leaves memory. `None` for any other request.
pub(crate) async fn unload(st: &St, ep: Endpoint, v: &Value, field: &str) -> Option<HttpResponse> {
    if !v.get("keep_alive").is_some_and(is_zero) {
        return None;
    }
    let empty = match v.get(field) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    };
    if !empty {
        return None;
    }
    if let Err(resp) = admit(st, ep).await {
        return Some(resp);
    }
    let model = v.get("model").and_then(Value::as_str).unwrap_or("");
    if !st.catalog().has(model) {
        return Some(ollama_not_found(model));
    }
    st.unload(model);
    let mut answer = json!({
        "model": model, "created_at": rfc3339_now(), "done": true, "done_reason": "unload",
    });
    let content = if field == "messages" {
        ("message", json!({"role": "assistant", "content": ""}))
    } else {
        ("response", json!(""))
    };
    if let Some(fields) = answer.as_object_mut() {
        fields.insert(content.0.into(), content.1);
    }
    Some(ok_json(Bytes::from(answer.to_string())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn zero_keep_alive() {
        assert!(is_zero(&json!(0)));
        assert!(is_zero(&json!("0s")));
        assert!(!is_zero(&json!("5m")));
        assert!(!is_zero(&json!(-1)));
    }
}
