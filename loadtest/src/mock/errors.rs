//! Error bodies in each API's own shape, so a gateway's error mapping is tested against
//! what the real upstreams send.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

use super::common::{json_bytes, JSON};
use super::MockKind;

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

/// OpenAI's error object: `{"error":{"message","type","param","code"}}`.
pub(crate) fn openai_error_typed(
    status: StatusCode,
    msg: &str,
    kind: &str,
    code: Option<&str>,
) -> HttpResponse {
    #[derive(Serialize)]
    struct Inner<'a> {
        message: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
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
                kind,
                param: None,
                code,
            },
        }))
}

/// An OpenAI `invalid_request_error`.
pub(crate) fn openai_error(status: StatusCode, msg: &str, code: Option<&str>) -> HttpResponse {
    openai_error_typed(status, msg, "invalid_request_error", code)
}

pub(crate) fn openai_not_found(model: &str) -> HttpResponse {
    openai_error(
        StatusCode::NOT_FOUND,
        &format!("model \"{model}\" not found"),
        Some("model_not_found"),
    )
}

/// Anthropic's error body: `{"type":"error","error":{"type","message"}}`.
pub(crate) fn anthropic_error(status: StatusCode, kind: &str, msg: &str) -> HttpResponse {
    #[derive(Serialize)]
    struct Inner<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        message: &'a str,
    }
    #[derive(Serialize)]
    struct E<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        error: Inner<'a>,
    }
    HttpResponse::build(status)
        .content_type(JSON)
        .body(json_bytes(&E {
            kind: "error",
            error: Inner { kind, message: msg },
        }))
}

/// Anthropic's error `type` for an HTTP status, per its error documentation.
pub(crate) fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

pub(crate) fn anthropic_bad_request(msg: &str) -> HttpResponse {
    anthropic_error(StatusCode::BAD_REQUEST, "invalid_request_error", msg)
}

/// The answer to `Failure::Status(code)` in the node kind's shape.
pub(crate) fn failure(kind: MockKind, code: u16) -> HttpResponse {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    const MSG: &str = "mock failure";
    let mut response = failure_body(kind, status, MSG);
    if code == 429 {
        // A rate limit says when to come back, as the real APIs do.
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from_static(FAILURE_RETRY_AFTER),
        );
    }
    response
}

/// The `Retry-After` of a `Failure::Status(429)` answer, in seconds.
pub(crate) const FAILURE_RETRY_AFTER: &str = "7";

fn failure_body(kind: MockKind, status: StatusCode, msg: &str) -> HttpResponse {
    match kind {
        MockKind::Ollama => ollama_error(status, msg),
        MockKind::OpenAi => {
            let (kind, code) = match status.as_u16() {
                401 => ("invalid_request_error", Some("invalid_api_key")),
                429 => ("requests", Some("rate_limit_exceeded")),
                s if s >= 500 => ("server_error", None),
                _ => ("invalid_request_error", None),
            };
            openai_error_typed(status, msg, kind, code)
        }
        MockKind::Anthropic => anthropic_error(status, anthropic_error_type(status.as_u16()), msg),
    }
}

/// Unknown path, in the kind's shape (Ollama answers Go's plain-text 404).
pub(crate) fn path_not_found(kind: MockKind, method: &str, path: &str) -> HttpResponse {
    match kind {
        MockKind::Ollama => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("404 page not found"),
        MockKind::OpenAi => openai_error(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL ({method} {path})"),
            None,
        ),
        MockKind::Anthropic => {
            anthropic_error(StatusCode::NOT_FOUND, "not_found_error", "Not Found")
        }
    }
}
