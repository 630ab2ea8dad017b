//! Single answers of a call run on several nodes (delete, copy, unload, blobs), combined
//! into the one answer Ollama would give: the nodes' own success when all succeeded;
//! otherwise an `{"error"}` naming each node that failed, with the status they agreed on
//! when every node refused alike (a 400 for a bad digest), else 502.

use std::sync::Arc;

use actix_web::{http::StatusCode, HttpResponse};
use bytes::Bytes;
use serde_json::json;

/// What one node answered.
#[derive(Debug)]
pub enum Reply {
    Answered(StatusCode, Bytes),
    /// No answer: the node could not be reached, or the answer broke off.
    Unreachable(String),
}

impl Reply {
    fn failure(&self) -> Option<(Option<StatusCode>, String)> {
        match self {
            Reply::Answered(status, _) if status.is_success() => None,
            Reply::Answered(status, body) => {
                Some((Some(*status), super::message_of(*status, body)))
            }
            Reply::Unreachable(e) => Some((None, e.clone())),
        }
    }
}

/// `Ok` with the first node's success (status and body) when every node succeeded;
/// otherwise the status to answer and the message naming each node that failed.
pub fn combine(
    verb: &str,
    names: &[Arc<str>],
    replies: Vec<Reply>,
) -> Result<(StatusCode, Bytes), (StatusCode, String)> {
    let failures: Vec<(&Arc<str>, Option<StatusCode>, String)> = names
        .iter()
        .zip(&replies)
        .filter_map(|(name, reply)| reply.failure().map(|(s, m)| (name, s, m)))
        .collect();
    if failures.is_empty() {
        return Ok(match replies.into_iter().next() {
            Some(Reply::Answered(status, body)) => (status, body),
            _ => (StatusCode::OK, Bytes::new()),
        });
    }
    let first = failures[0].1;
    let alike = failures.len() == replies.len()
        && first.is_some_and(|s| s.is_client_error())
        && failures.iter().all(|(_, s, _)| *s == first);
    let status = match first {
        Some(status) if alike => status,
        _ => StatusCode::BAD_GATEWAY,
    };
    let named: Vec<String> = failures
        .iter()
        .map(|(name, _, message)| format!("node {name}: {message}"))
        .collect();
    Err((status, format!("{verb} failed on {}", named.join("; "))))
}

/// The combined answer as an HTTP response in Ollama's shape.
pub fn respond(verb: &str, names: &[Arc<str>], replies: Vec<Reply>) -> HttpResponse {
    match combine(verb, names, replies) {
        Ok((status, body)) if body.is_empty() => HttpResponse::build(status).finish(),
        Ok((status, body)) => HttpResponse::build(status)
            .content_type("application/json; charset=utf-8")
            .body(body),
        Err((status, message)) => HttpResponse::build(status).json(json!({ "error": message })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<Arc<str>> {
        vec!["a".into(), "b".into()]
    }

    #[test]
    fn all_succeeding_answers_like_one_node() {
        let ok = || Reply::Answered(StatusCode::OK, Bytes::new());
        assert_eq!(
            combine("delete", &names(), vec![ok(), ok()]),
            Ok((StatusCode::OK, Bytes::new()))
        );
    }

    #[test]
    fn failures_are_named_and_a_shared_refusal_keeps_its_status() {
        let bad = || {
            Reply::Answered(
                StatusCode::BAD_REQUEST,
                Bytes::from_static(br#"{"error":"digest mismatch"}"#),
            )
        };
        let (status, message) = combine("upload", &names(), vec![bad(), bad()]).unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.contains("node a: digest mismatch; node b: digest mismatch"));
        let mixed = vec![
            Reply::Answered(StatusCode::OK, Bytes::new()),
            Reply::Unreachable("connection refused".into()),
        ];
        let (status, message) = combine("copy", &names(), mixed).unwrap_err();
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(message, "copy failed on node b: connection refused");
    }
}
