//! What every inference handler does before producing an answer: count the hit, keep the
//! body, apply the failure mode and the configured latency. Plus small response helpers.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use bytes::Bytes;
use serde::Serialize;

use super::state::{Endpoint, InFlight, Shared};
use super::stream::Script;
use super::Failure;

pub(crate) const JSON: &str = "application/json; charset=utf-8";
pub(crate) const NDJSON: &str = "application/x-ndjson";
pub(crate) const SSE: &str = "text/event-stream";

/// How long `Failure::Hang` waits: far beyond any client timeout, short of overflow.
const HANG: Duration = Duration::from_secs(24 * 3600);

/// Permission to answer, granted by [`admit`].
pub(crate) struct Admitted {
    /// Held for the whole response, streamed body included.
    pub(crate) guard: Option<InFlight>,
    /// `Some(n)` when the node must die after `n` streamed frames.
    pub(crate) die_after: Option<usize>,
}

/// Books the request and applies the failure knobs. `Err` carries the response to send
/// instead of a normal answer.
pub(crate) async fn admit(
    st: &Arc<Shared>,
    ep: Endpoint,
    body: &Bytes,
) -> Result<Admitted, HttpResponse> {
    st.hit(ep);
    st.store_body(ep, body);
    let guard = ep.is_inference().then(|| st.enter());
    let die_after = match st.failure() {
        Failure::None => None,
        Failure::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(HttpResponse::build(status)
                .content_type(JSON)
                .body(r#"{"error":"mock failure"}"#));
        }
        Failure::Hang => {
            tokio::time::sleep(HANG).await;
            return Err(HttpResponse::GatewayTimeout().finish());
        }
        Failure::DieAfter(n) => Some(n),
    };
    let latency = st.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    Ok(Admitted { guard, die_after })
}

pub(crate) fn json_bytes<T: Serialize>(v: &T) -> Bytes {
    // Plain structs with string keys cannot fail to serialize.
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// One NDJSON frame: the object followed by a newline.
pub(crate) fn ndjson_line<T: Serialize>(v: &T) -> Bytes {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

/// One server-sent event: `data: <json>\n\n`.
pub(crate) fn sse_event<T: Serialize>(v: &T) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    // Writing into a Vec cannot fail for these types.
    let _ = serde_json::to_writer(&mut out, v);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

pub(crate) const SSE_DONE: &[u8] = b"data: [DONE]\n\n";

pub(crate) fn ok_json(body: Bytes) -> HttpResponse {
    HttpResponse::Ok().content_type(JSON).body(body)
}

/// A streamed response whose frames come from `script`.
pub(crate) fn streamed(content_type: &'static str, script: Script) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .streaming(script.into_stream())
}

/// `DieAfter` on a non-streamed endpoint: headers go out, then the connection drops before
/// any body byte, which a client sees as a truncated response.
pub(crate) fn aborted(content_type: &'static str, guard: Option<InFlight>) -> HttpResponse {
    streamed(
        content_type,
        Script::new(Vec::new(), Duration::ZERO)
            .die_after(Some(0))
            .guard(guard),
    )
}

/// Ollama-style error: `{"error":"..."}`.
pub(crate) fn ollama_error(status: StatusCode, msg: &str) -> HttpResponse {
    #[derive(Serialize)]
    struct E<'a> {
        error: &'a str,
    }
    HttpResponse::build(status)
        .content_type(JSON)
        .body(json_bytes(&E { error: msg }))
}

/// Real Ollama's wording for a missing model.
pub(crate) fn ollama_not_found(model: &str) -> HttpResponse {
    ollama_error(
        StatusCode::NOT_FOUND,
        &format!("model \"{model}\" not found, try pulling it first"),
    )
}

/// OpenAI-style error object.
pub(crate) fn openai_error(status: StatusCode, msg: &str, code: Option<&str>) -> HttpResponse {
    #[derive(Serialize)]
    struct Inner<'a> {
        message: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        param: Option<&'static str>,
        code: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct E<'a> {
        error: Inner<'a>,
    }
    HttpResponse::build(status)
        .content_type(JSON)
        .body(json_bytes(&E {
            error: Inner {
                message: msg,
                kind: "invalid_request_error",
                param: None,
                code,
            },
        }))
}

pub(crate) fn openai_not_found(model: &str) -> HttpResponse {
    openai_error(
        StatusCode::NOT_FOUND,
        &format!("model \"{model}\" not found"),
        Some("model_not_found"),
    )
}
