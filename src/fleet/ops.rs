//! Each management call of Ollama's API: which nodes it concerns, what goes to them, and how
//! their answers become the client's.

use std::sync::Arc;

use actix_web::{
    http::{header, Method, StatusCode},
    HttpRequest, HttpResponse,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    blob, error_of, per_node_progress,
    progress::{node_events, node_failed, MergedProgress, ProgressMerge},
    replies::{self, Reply},
    Fleet, Scope, Target,
};
use crate::{
    auth::ClientKey,
    dispatch::Gateway,
    error::GatewayError,
    inbound::Operation,
    wire::{
        self,
        ollama::{CopyRequest, CreateRequest, ModelRequest},
    },
};

/// The largest single answer read from a node (they are a few bytes).
const MAX_REPLY: usize = 1024 * 1024;

/// `POST /api/pull`: on every up Ollama node (or the named one), progress merged.
pub async fn pull(
    gw: &Gateway,
    req: &HttpRequest,
    body: Bytes,
    key: Option<&ClientKey>,
) -> Result<HttpResponse, GatewayError> {
    let request: ModelRequest = wire::parse(&body)?;
    let stream = request.stream.unwrap_or(true);
    let model = wire::require_model(request.model.or(request.name))?;
    admit(key, &model)?;
    let fleet = Fleet::of(gw, &Target::from_request(req), Scope::Every).await?;
    Ok(progress(
        fleet,
        "pull",
        "/api/pull",
        body,
        stream,
        per_node_progress(req),
    )
    .await)
}

/// `POST /api/push`: from every up node holding the model (or the named one).
pub async fn push(
    gw: &Gateway,
    req: &HttpRequest,
    body: Bytes,
    key: Option<&ClientKey>,
) -> Result<HttpResponse, GatewayError> {
    let request: ModelRequest = wire::parse(&body)?;
    let stream = request.stream.unwrap_or(true);
    let model = wire::require_model(request.model.or(request.name))?;
    admit(key, &model)?;
    let fleet = Fleet::of(gw, &Target::from_request(req), Scope::Holding(&model)).await?;
    Ok(progress(
        fleet,
        "push",
        "/api/push",
        body,
        stream,
        per_node_progress(req),
    )
    .await)
}

/// `POST /api/create`: on every up Ollama node (or the named one); blobs named in `files`
/// must have been uploaded to them first (`POST /api/blobs/:digest` does that fleet-wide).
pub async fn create(
    gw: &Gateway,
    req: &HttpRequest,
    body: Bytes,
    key: Option<&ClientKey>,
) -> Result<HttpResponse, GatewayError> {
    let request: CreateRequest = wire::parse(&body)?;
    let stream = request.stream.unwrap_or(true);
    let model = wire::require_model(request.model.or(request.name))?;
    admit(key, &model)?;
    if let Some(from) = &request.from {
        admit(key, from)?;
    }
    if request.from.is_none() && request.files.is_none() && request.modelfile.is_none() {
        return Err(GatewayError::BadRequest(
            "neither 'from' or 'files' was specified".into(),
        ));
    }
    let fleet = Fleet::of(gw, &Target::from_request(req), Scope::Every).await?;
    Ok(progress(
        fleet,
        "create",
        "/api/create",
        body,
        stream,
        per_node_progress(req),
    )
    .await)
}

/// `DELETE /api/delete`: on every up node holding the model (or the named one).
pub async fn delete(
    gw: &Gateway,
    req: &HttpRequest,
    body: Bytes,
    key: Option<&ClientKey>,
) -> Result<HttpResponse, GatewayError> {
    let request: ModelRequest = wire::parse(&body)?;
    let model = wire::require_model(request.model.or(request.name))?;
    admit(key, &model)?;
    let fleet = Fleet::of(gw, &Target::from_request(req), Scope::Holding(&model)).await?;
    Ok(single(&fleet, "delete", Method::DELETE, "/api/delete", &body, true).await)
}

/// `POST /api/copy`: on every up node holding `source` (or the named one).
pub async fn copy(
    gw: &Gateway,
    req: &HttpRequest,
    body: Bytes,
    key: Option<&ClientKey>,
) -> Result<HttpResponse, GatewayError> {
    let request: CopyRequest = wire::parse(&body)?;
    let source = wire::require(request.source, "source")?;
    let destination = wire::require(request.destination, "destination")?;
    admit(key, &source)?;
    admit(key, &destination)?;
    let fleet = Fleet::of(gw, &Target::from_request(req), Scope::Holding(&source)).await?;
    Ok(single(&fleet, "copy", Method::POST, "/api/copy", &body, true).await)
}

/// A key limited to some models manages only those (and is counted against its limits).
fn admit(key: Option<&ClientKey>, model: &str) -> Result<(), GatewayError> {
    key.map_or(Ok(()), |key| key.admit(model).map_err(GatewayError::from))
}

/// Sends one JSON call to every node of `fleet` and answers with their combined replies;
/// `changes` re-probes the nodes after.
async fn single(
    fleet: &Fleet,
    verb: &'static str,
    method: Method,
    path: &str,
    body: &Bytes,
    changes: bool,
) -> HttpResponse {
    let answers = fleet.send_json(method, path, body).await;
    let replies = read_replies(answers).await;
    if changes {
        Fleet::settle(fleet.nodes.clone()).await;
    }
    replies::respond(verb, &fleet.names(), replies)
}

async fn read_replies(answers: Vec<Result<awc::ClientResponse, String>>) -> Vec<Reply> {
    let reads = answers.into_iter().map(|answer| async move {
        match answer {
            Ok(mut response) => {
                let status = response.status();
                match response.body().limit(MAX_REPLY).await {
                    Ok(body) => Reply::Answered(status, body),
                    Err(e) => Reply::Unreachable(e.to_string()),
                }
            }
            Err(e) => Reply::Unreachable(e),
        }
    });
    futures_util::future::join_all(reads).await
}

/// Runs a progress-streaming call on every node of `fleet` and answers with the merged
/// progress (or, with `"stream": false`, only its outcome: 502 naming the failed nodes).
async fn progress(
    fleet: Fleet,
    verb: &'static str,
    path: &str,
    body: Bytes,
    stream: bool,
    per_node: bool,
) -> HttpResponse {
    let answers = fleet.send_json(Method::POST, path, &body).await;
    // No node took the call: answer as Ollama does, with the status they agree on (a 404 for
    // a model a named node lacks), not with a stream that only carries the error.
    let took =
        |a: &Result<awc::ClientResponse, String>| a.as_ref().is_ok_and(|r| r.status().is_success());
    if !answers.iter().any(took) {
        let replies = read_replies(answers).await;
        return replies::respond(verb, &fleet.names(), replies);
    }
    let mut streams = Vec::with_capacity(answers.len());
    for (i, answer) in answers.into_iter().enumerate() {
        streams.push(match answer {
            Ok(response) if response.status().is_success() => {
                let body = response.map(|chunk| chunk.map_err(|e| e.to_string()));
                node_events(i, body, fleet.idle)
            }
            Ok(mut response) => node_failed(i, error_of(&mut response).await),
            Err(e) => node_failed(i, e),
        });
    }
    let nodes = fleet.nodes.clone();
    let merge = ProgressMerge::new(verb, fleet.names(), per_node);
    let settle = Box::new(
        move || -> futures_util::future::LocalBoxFuture<'static, ()> {
            Box::pin(Fleet::settle(nodes))
        },
    );
    let merged = MergedProgress::new(merge, streams, settle);
    if stream {
        return HttpResponse::Ok()
            .content_type("application/x-ndjson")
            .streaming(merged);
    }
    let last = merged.last_line().await;
    let status = if last.get("error").is_some() {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    HttpResponse::build(status).json(last)
}

/// A chat or generate that only unloads its model: `keep_alive` zero and nothing to answer
/// (no messages, no prompt). Ollama answers it with `done_reason: "unload"`; Drover sends it
/// to every node that has the model loaded, not to one.
#[derive(Debug)]
pub struct Unload {
    operation: Operation,
    model: Arc<str>,
}

impl Unload {
    /// Whether `inbound` is an unload. Bodies without `keep_alive` are passed over at the
    /// cost of one byte search, so inference pays nothing for it.
    pub fn of(operation: Operation, model: &Arc<str>, body: &[u8]) -> Option<Unload> {
        let asked = match operation {
            Operation::OllamaChat => "messages",
            Operation::OllamaGenerate => "prompt",
            _ => return None,
        };
        memchr::memmem::find(body, b"keep_alive")?;
        #[derive(Deserialize)]
        struct Fields {
            keep_alive: Option<Value>,
            prompt: Option<Value>,
            messages: Option<Value>,
        }
        let fields: Fields = serde_json::from_slice(body).ok()?;
        let content = if asked == "messages" {
            fields.messages
        } else {
            fields.prompt
        };
        (is_zero(fields.keep_alive.as_ref()?) && is_empty(content.as_ref())).then(|| Unload {
            operation,
            model: model.clone(),
        })
    }
}

/// `keep_alive` of zero: `0`, or a duration string of zero (`"0"`, `"0s"`, `"0m"`).
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

fn is_empty(content: Option<&Value>) -> bool {
    match content {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    }
}

/// Sends the unload to every node with the model loaded (or the named one); when none has
/// it loaded there is nothing to do, and the answer is Ollama's all the same.
pub async fn unload(
    gw: &Gateway,
    req: &HttpRequest,
    unload: Unload,
    body: Bytes,
) -> Result<HttpResponse, GatewayError> {
    let fleet = Fleet::of(gw, &Target::from_request(req), Scope::Loaded(&unload.model)).await?;
    if fleet.nodes.is_empty() {
        return Ok(HttpResponse::Ok().json(unloaded(&unload)));
    }
    Ok(single(
        &fleet,
        "unload",
        Method::POST,
        unload.operation.path(),
        &body,
        true,
    )
    .await)
}

fn unloaded(unload: &Unload) -> Value {
    let created_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let mut answer = json!({
        "model": &*unload.model, "created_at": created_at, "done": true, "done_reason": "unload",
    });
    let (field, content) = match unload.operation {
        Operation::OllamaChat => ("message", json!({"role": "assistant", "content": ""})),
        _ => ("response", json!("")),
    };
    if let Some(fields) = answer.as_object_mut() {
        fields.insert(field.into(), content);
    }
    answer
}

/// `sha256:` (or `sha256-`) and 64 hex digits, as Ollama names blobs.
fn check_digest(digest: &str) -> Result<(), GatewayError> {
    let hex = digest
        .strip_prefix("sha256:")
        .or_else(|| digest.strip_prefix("sha256-"));
    match hex {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => Err(GatewayError::BadRequest(format!(
            "invalid digest {digest:?}: expected sha256:<64 hex digits>"
        ))),
    }
}

/// `HEAD /api/blobs/:digest`: 200 when every up Ollama node (or the named one) has the blob,
/// 404 when one lacks it (so a client uploads it, to all).
pub async fn blob_exists(
    gw: &Gateway,
    req: &HttpRequest,
    digest: &str,
) -> Result<HttpResponse, GatewayError> {
    check_digest(digest)?;
    let fleet = Fleet::of(gw, &Target::from_request(req), Scope::Every).await?;
    let path = format!("/api/blobs/{digest}");
    let sends = fleet.nodes.iter().map(|node| {
        let send = fleet.request(node, Method::HEAD, &path).send();
        async move { send.await.map_err(|e| e.to_string()) }
    });
    let replies = read_replies(futures_util::future::join_all(sends).await).await;
    let missing = replies
        .iter()
        .any(|r| matches!(r, Reply::Answered(s, _) if *s == StatusCode::NOT_FOUND));
    let failed = replies.iter().any(|r| match r {
        Reply::Answered(s, _) => !s.is_success() && *s != StatusCode::NOT_FOUND,
        Reply::Unreachable(_) => true,
    });
    Ok(match (failed, missing) {
        (false, false) => HttpResponse::Ok().finish(),
        (false, true) => HttpResponse::NotFound().finish(),
        (true, _) => replies::respond("blob check", &fleet.names(), replies),
    })
}

/// `POST /api/blobs/:digest`: the body streamed to every up Ollama node (or the named one)
/// at once; each node checks the digest. 201 when all stored it.
pub async fn blob_upload<S, E>(
    gw: &Gateway,
    req: &HttpRequest,
    digest: &str,
    body: S,
) -> Result<HttpResponse, GatewayError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    check_digest(digest)?;
    let fleet = Fleet::of(gw, &Target::from_request(req), Scope::Every).await?;
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let path = format!("/api/blobs/{digest}");
    let replies = blob::fan_out(&fleet, &path, length, body.boxed_local())
        .await
        .map_err(GatewayError::BadRequest)?;
    Ok(replies::respond("upload", &fleet.names(), replies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_keep_alive_in_its_forms() {
        for zero in [
            json!(0),
            json!(0.0),
            json!("0"),
            json!("0s"),
            json!("0m"),
            json!(" 0ms "),
        ] {
            assert!(is_zero(&zero), "{zero}");
        }
        for other in [json!(-1), json!("5m"), json!(null), json!("x"), json!(true)] {
            assert!(!is_zero(&other), "{other}");
        }
    }

    #[test]
    fn digests_are_checked() {
        let hex = "a".repeat(64);
        assert!(check_digest(&format!("sha256:{hex}")).is_ok());
        assert!(check_digest(&format!("sha256-{hex}")).is_ok());
        assert!(check_digest("sha256:abc").is_err());
        assert!(check_digest(&format!("md5:{hex}")).is_err());
    }
}
