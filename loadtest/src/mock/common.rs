//! What every handler does before producing an answer: count the hit, keep the body and
//! headers, check the key; then, for inference, apply the failure mode and the configured
//! latency. Plus small response helpers.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use serde::Serialize;

use super::state::{Endpoint, InFlight, Refusal, Shared};
use super::stream::Script;
use super::{auth, errors, Failure};

pub(crate) const JSON: &str = "application/json; charset=utf-8";
pub(crate) const NDJSON: &str = "application/x-ndjson";
pub(crate) const SSE: &str = "text/event-stream";

/// How long `Failure::Hang` waits: far beyond any client timeout, short of overflow.
const HANG: Duration = Duration::from_secs(24 * 3600);

/// Records the request (count, body, headers) and checks its credentials. `Err` is the
/// refusal to send, already counted in `rejections`.
pub(crate) fn book(
    st: &Shared,
    ep: Endpoint,
    req: &HttpRequest,
    body: &Bytes,
) -> Result<(), HttpResponse> {
    st.hit(ep);
    st.store_body(ep, body);
    store_head(st, ep, req);
    auth::check(st, req.headers()).map_err(|resp| refuse(st, resp))
}

/// Pseudo-header under which a request's query string is kept with its headers.
pub(crate) const QUERY_HEADER: &str = "x-mock-query";

/// Keeps the request's headers and, under [`QUERY_HEADER`], its query string.
fn store_head(st: &Shared, ep: Endpoint, req: &HttpRequest) {
    let query = req.query_string();
    if query.is_empty() {
        return st.store_headers(ep, req.headers());
    }
    let mut headers = req.headers().clone();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(query) {
        headers.insert(
            actix_web::http::header::HeaderName::from_static(QUERY_HEADER),
            value,
        );
    }
    st.store_headers(ep, &headers);
}

/// Counts and keeps a refusal (400/401) and passes the response through. Refusals are
/// built from whole bodies, so taking the bytes out and putting them back is a refcount move.
pub(crate) fn refuse(st: &Shared, resp: HttpResponse) -> HttpResponse {
    let status = resp.status().as_u16();
    let (head, body) = resp.into_parts();
    match body.try_into_bytes() {
        Ok(bytes) => {
            let error = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into())
            });
            st.reject(Refusal { status, error });
            head.set_body(BoxBody::new(bytes))
        }
        // Not a whole body (none is today): counted, passed on untouched.
        Err(body) => {
            st.reject(Refusal {
                status,
                error: serde_json::Value::Null,
            });
            head.set_body(body)
        }
    }
}

/// `GET /_mock/log`: the refusal count, the kept refusals and the last body each endpoint
/// received, for tests that drive clients they do not control (see `tests/clients`).
pub(crate) async fn mock_log(st: actix_web::web::Data<Shared>) -> HttpResponse {
    #[derive(Serialize)]
    struct Log {
        rejections: u64,
        refused: Vec<Refusal>,
        last_bodies: serde_json::Map<String, serde_json::Value>,
    }
    let last_bodies = st
        .last_bodies()
        .into_iter()
        .map(|(path, body)| (path.to_owned(), body))
        .collect();
    ok_json(json_bytes(&Log {
        rejections: st.rejections(),
        refused: st.refusals(),
        last_bodies,
    }))
}

/// Permission to answer, granted by [`admit`].
pub(crate) struct Admitted {
    /// Held for the whole response, streamed body included.
    pub(crate) guard: Option<InFlight>,
    /// `Some(n)` when the node must die after `n` streamed frames.
    pub(crate) die_after: Option<usize>,
}

/// Applies the failure knobs and the latency to a booked request. `Err` carries the
/// response to send instead of a normal answer.
pub(crate) async fn admit(st: &Arc<Shared>, ep: Endpoint) -> Result<Admitted, HttpResponse> {
    let guard = ep.is_inference().then(|| st.enter());
    let die_after = match st.failure() {
        Failure::None => None,
        Failure::Status(code) => return Err(errors::failure(st.kind, code)),
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

/// One named server-sent event: `event: <name>\ndata: <json>\n\n` (Anthropic's framing).
pub(crate) fn sse_named<T: Serialize>(name: &str, v: &T) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
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

/// Streamed frames plus how many of them carry content: a dying node sends at most that
/// many, never the closing frames.
pub(crate) struct Frames {
    pub(crate) frames: Vec<Bytes>,
    pub(crate) content: usize,
}

impl Frames {
    /// The streamed response, cut after `die_after` frames (capped at the content frames).
    pub(crate) fn respond(
        self,
        content_type: &'static str,
        st: &Shared,
        admitted: Admitted,
    ) -> HttpResponse {
        let script = Script::new(self.frames, st.token_delay())
            .die_after(admitted.die_after.map(|d| d.min(self.content)))
            .guard(admitted.guard);
        streamed(content_type, script)
    }
}
