//! Rendering gateway errors in each client API's own error shape, in one place:
//! Ollama `{"error": "..."}`, OpenAI `{"error": {"message", "type", "param", "code"}}`,
//! Anthropic `{"type": "error", "error": {"type", "message"}}`.

use actix_web::{http::header, HttpResponse, ResponseError};
use serde_json::json;

use crate::{error::GatewayError, inbound::Surface};

#[derive(Debug)]
pub struct ApiError {
    pub surface: Surface,
    pub error: GatewayError,
}

impl ApiError {
    pub fn new(surface: Surface, error: GatewayError) -> Self {
        Self { surface, error }
    }

    /// The shape of an error for a path no route claimed: Anthropic under `/v1/messages`,
    /// OpenAI elsewhere under `/v1/`, else Ollama.
    pub fn for_path(path: &str, error: GatewayError) -> Self {
        let surface = if path.starts_with("/v1/messages") {
            Surface::Anthropic
        } else if path.starts_with("/v1/") {
            Surface::OpenAi
        } else {
            Surface::Ollama
        };
        Self { surface, error }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.error.status()
    }

    fn error_response(&self) -> HttpResponse {
        let body = body(self.surface, &self.error);
        let mut response = HttpResponse::build(self.error.status());
        if let Some(seconds) = self.error.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if let GatewayError::MethodNotAllowed { allow, .. } = &self.error {
            response.insert_header((header::ALLOW, *allow));
        }
        if let GatewayError::BodyTimeout { .. } = &self.error {
            // The rest of the body may still come: the connection cannot serve another request.
            response.force_close();
        }
        response.json(body)
    }
}

/// The body of `error` in `surface`'s shape: what the client gets, and what a refused
/// request's record keeps when content is captured.
pub fn body(surface: Surface, error: &GatewayError) -> serde_json::Value {
    let message = error.to_string();
    match surface {
        Surface::Ollama => json!({ "error": message }),
        Surface::OpenAi => json!({ "error": {
            "message": message,
            "type": openai_type(error),
            "param": null,
            "code": openai_code(error),
        }}),
        Surface::Anthropic => json!({ "type": "error", "error": {
            "type": anthropic_type(error),
            "message": message,
        }}),
    }
}

fn openai_type(error: &GatewayError) -> &'static str {
    if let GatewayError::RateLimited { limit, .. } = error {
        // OpenAI names the exhausted limit here: `requests` or `tokens`.
        return limit;
    }
    if error.status().as_u16() == 429 {
        return "requests";
    }
    match error.status().as_u16() {
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

/// Anthropic's error types, by status as its API uses them.
fn anthropic_type(error: &GatewayError) -> &'static str {
    match error {
        GatewayError::Busy { .. }
        | GatewayError::NoHealthyNode(_)
        | GatewayError::InventoryPending { .. }
        | GatewayError::NodeRefused { status: 503, .. } => "overloaded_error",
        _ => match error.status().as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 | 405 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "api_error",
        },
    }
}

fn openai_code(error: &GatewayError) -> Option<&'static str> {
    match error {
        GatewayError::ModelNotFound(_) => Some("model_not_found"),
        GatewayError::Busy { .. }
        | GatewayError::NoHealthyNode(_)
        | GatewayError::InventoryPending { .. } => Some("overloaded"),
        GatewayError::PayloadTooLarge { .. } => Some("request_too_large"),
        GatewayError::BodyTimeout { .. } => Some("request_timeout"),
        GatewayError::Unauthorized(_) => Some("invalid_api_key"),
        GatewayError::Forbidden(_) => Some("model_not_allowed"),
        GatewayError::RateLimited { .. } | GatewayError::NodeRefused { status: 429, .. } => {
            Some("rate_limit_exceeded")
        }
        GatewayError::NodeRefused { status: 503, .. } => Some("overloaded"),
        _ => None,
    }
}
