//! The gateway's domain errors. Each knows its HTTP status, whether another node might do
//! better, and a low-cardinality `kind()` for metric labels; the HTTP edge renders them in
//! the client API's own error shape (see `api::error`).

use std::time::Duration;

use actix_web::http::StatusCode;

use crate::auth::keys::KeyError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    BadRequest(String),
    #[error("model \"{0}\" not found, try pulling it first")]
    ModelNotFound(String),
    #[error("no healthy node can serve model \"{0}\"")]
    NoHealthyNode(String),
    #[error("model \"{model}\" is not known yet: {pending} node(s) have not answered a probe")]
    InventoryPending { model: String, pending: usize },
    #[error("every node that serves model \"{model}\" is at capacity; retry later")]
    Busy {
        model: String,
        retry_after: Duration,
    },
    #[error("upstream failed after {attempts} attempt(s): {last}")]
    UpstreamFailed { attempts: u32, last: String },
    /// Every attempt failed and the last node answered a status the client can act on (a
    /// rate limit with its wait, an overload, a judgement that the request is bad): passed on
    /// with the node's message, where a 502 would lose it.
    #[error("{message}")]
    NodeRefused {
        status: u16,
        message: String,
        retry_after: Option<u64>,
    },
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body: nothing received for {}; the connection is closed", humantime::format_duration(*.after))]
    BodyTimeout { after: Duration },
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed {
        method: String,
        path: String,
        /// The methods the path takes, for the `Allow` header.
        allow: &'static str,
    },
    #[error("no such endpoint: {0}")]
    NotFound(String),
    #[error("node \"{0}\" does not exist")]
    UnknownNode(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        /// `requests` or `tokens`: which per-minute limit.
        limit: &'static str,
        retry_after: Duration,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<KeyError> for GatewayError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::ModelNotAllowed(_) => GatewayError::Forbidden(e.to_string()),
            KeyError::RateLimited(refusal) => GatewayError::RateLimited {
                message: e.to_string(),
                limit: refusal.limit.as_str(),
                retry_after: refusal.retry_after,
            },
            _ => GatewayError::Unauthorized(e.to_string()),
        }
    }
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::ModelNotFound(_)
            | GatewayError::NotFound(_)
            | GatewayError::UnknownNode(_) => StatusCode::NOT_FOUND,
            GatewayError::NoHealthyNode(_)
            | GatewayError::InventoryPending { .. }
            | GatewayError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::UpstreamFailed { .. } => StatusCode::BAD_GATEWAY,
            GatewayError::NodeRefused { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            GatewayError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            GatewayError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            GatewayError::Forbidden(_) => StatusCode::FORBIDDEN,
            GatewayError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A metric label: fixed strings only, never a message or a model name.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::BadRequest(_) => "bad_request",
            GatewayError::ModelNotFound(_) => "model_not_found",
            GatewayError::NoHealthyNode(_) => "no_healthy_node",
            GatewayError::InventoryPending { .. } => "inventory_pending",
            GatewayError::Busy { .. } => "busy",
            GatewayError::UpstreamFailed { .. } => "upstream_failed",
            GatewayError::NodeRefused { .. } => "node_refused",
            GatewayError::PayloadTooLarge { .. } => "payload_too_large",
            GatewayError::BodyTimeout { .. } => "body_timeout",
            GatewayError::MethodNotAllowed { .. } => "method_not_allowed",
            GatewayError::NotFound(_) => "not_found",
            GatewayError::UnknownNode(_) => "unknown_node",
            GatewayError::Unauthorized(_) => "unauthorized",
            GatewayError::Forbidden(_) => "forbidden",
            GatewayError::RateLimited { .. } => "rate_limited",
            GatewayError::Internal(_) => "internal",
        }
    }

    /// Seconds a client should wait before retrying, when that is known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::Busy { retry_after, .. } => Some(retry_after.as_secs().max(1)),
            // Rounded up: a client that waits exactly this long is admitted.
            GatewayError::RateLimited { retry_after, .. } => {
                Some(retry_after.as_millis().div_ceil(1000).max(1) as u64)
            }
            GatewayError::NodeRefused { retry_after, .. } => *retry_after,
            GatewayError::NoHealthyNode(_) => Some(5),
            GatewayError::InventoryPending { .. } => Some(2),
            _ => None,
        }
    }
}

/// Why one attempt on one upstream node failed. All of these happen before the client has
/// seen a byte, so the request path may try another node.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("node {node}: cannot connect: {message}")]
    Connect { node: String, message: String },
    #[error("node {node}: no answer within {after:?}")]
    Timeout { node: String, after: Duration },
    #[error("node {node}: answered {status}: {message}")]
    Status {
        node: String,
        status: u16,
        message: String,
        /// The node's `Retry-After`, in seconds, when it sent one.
        retry_after: Option<u64>,
    },
    #[error("node {node}: answered with an error: {message}")]
    InBand { node: String, message: String },
    #[error("node {node}: answer broke off: {message}")]
    Broken { node: String, message: String },
    /// The node answered a status, then closed before (or while) sending the answer: it is
    /// alive, and the cause may be this request's content (a prompt over the server's context
    /// length, say), so this counts like an error answer, not like a dead node.
    #[error("node {node}: answered, then closed: {message}")]
    Cut { node: String, message: String },
}

impl UpstreamError {
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect { .. } => "connect",
            UpstreamError::Timeout { .. } => "timeout",
            UpstreamError::Status { status, .. } if *status >= 500 => "status_5xx",
            UpstreamError::Status { .. } => "status_4xx",
            UpstreamError::InBand { .. } => "in_band_error",
            UpstreamError::Broken { .. } => "broken",
            UpstreamError::Cut { .. } => "cut",
        }
    }

    /// What the client gets when this was the last attempt's failure: the node's own status
    /// and message when the client can act on them (429 with the node's wait, 503, a 4xx
    /// judging the request), else a 502. A node's 401/403 are about the node's credentials,
    /// never the client's (its key is not sent upstream): a 502, like any other breakage.
    pub fn into_gateway(self, attempts: u32) -> GatewayError {
        match self {
            UpstreamError::Status {
                status,
                message,
                retry_after,
                ..
            } if status == 429
                || status == 503
                || (400..500).contains(&status) && !matches!(status, 401 | 403) =>
            {
                GatewayError::NodeRefused {
                    status,
                    message,
                    retry_after,
                }
            }
            other => GatewayError::UpstreamFailed {
                attempts,
                last: other.to_string(),
            },
        }
    }

    /// Whether the node itself looks unwell (unreachable, silent, cut off), as opposed to
    /// having answered this one request with an error.
    pub fn is_hard(&self) -> bool {
        matches!(
            self,
            UpstreamError::Connect { .. }
                | UpstreamError::Timeout { .. }
                | UpstreamError::Broken { .. }
        )
    }
}
