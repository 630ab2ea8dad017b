//! Sending one attempt to one node, up to and including its first body chunk. Everything that
//! can fail here fails before the client has seen a byte, so the caller may try another node.

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use awc::{error::SendRequestError, ClientResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::{timeout, Instant};

use super::completion;
use crate::{error::UpstreamError, inbound::Framing};

/// Most of a node's error body read to learn its message.
const ERROR_BODY_LIMIT: usize = 16 * 1024;

/// The request path's HTTP client: one per worker thread (awc clients are not `Send`).
pub fn client(connect_timeout: Duration) -> awc::Client {
    awc::Client::builder()
        // No pool limit: the selector's max_concurrency is the limit that matters, and a low
        // pool cap would queue requests out of the selector's sight.
        .connector(awc::Connector::new().timeout(connect_timeout).limit(0))
        .disable_redirects()
        .disable_timeout()
        .finish()
}

/// A node's answer whose head and first chunk have arrived.
pub struct Answer {
    pub response: ClientResponse,
    /// `None` when the body was empty.
    pub first_chunk: Option<Bytes>,
    /// Time to response headers.
    pub latency: Duration,
    /// Time to the first body byte.
    pub ttfb: Duration,
}

/// POSTs `body` to `url` and waits for the first chunk of the answer within `first_byte`.
/// A 5xx answer is an error (another node may do better), and so are 401, 403 and 429: the
/// client's own key is never sent upstream, so those are about the node's credentials or
/// quota, which another node may not share. Other 4xx are the client's and returned.
pub async fn attempt(
    client: &awc::Client,
    node: &str,
    url: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
    first_byte: Duration,
    framing: Framing,
) -> Result<Answer, UpstreamError> {
    let sent = Instant::now();
    let mut request = client
        .post(url)
        .insert_header((awc::http::header::CONTENT_TYPE, "application/json"))
        .timeout(first_byte);
    for (name, value) in headers {
        request = request.insert_header((name.clone(), value.clone()));
    }
    let mut response = request
        .send_body(body)
        .await
        .map_err(|e| send_error(node, e, first_byte))?;
    let latency = sent.elapsed();
    let status = response.status();
    if status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 429) {
        return Err(UpstreamError::Status {
            node: node.to_owned(),
            status: status.as_u16(),
            retry_after: retry_after(&response),
            message: error_message(&mut response).await,
        });
    }
    let remaining = first_byte.saturating_sub(latency);
    let first_chunk = match timeout(remaining, response.next()).await {
        Err(_) => {
            return Err(UpstreamError::Timeout {
                node: node.to_owned(),
                after: first_byte,
            })
        }
        // Every answer Drover relays has a body; none at all means the node hung up (awc
        // cannot tell a dropped connection from an empty body).
        // The node sent its head, so it is alive: a cut here is counted softly (see `Cut`).
        Ok(None) if status.is_success() => {
            return Err(UpstreamError::Cut {
                node: node.to_owned(),
                message: "the connection closed before the answer began".to_owned(),
            })
        }
        Ok(None) => None,
        Ok(Some(Err(e))) => {
            return Err(UpstreamError::Cut {
                node: node.to_owned(),
                message: e.to_string(),
            })
        }
        Ok(Some(Ok(chunk))) => {
            // Ollama reports some failures (a model that will not load) as a 200 whose first
            // line is an error: nothing reached the client yet, so another node may try.
            if framing == Framing::Ndjson && status.is_success() {
                if let Some(message) = completion::in_band_error(&chunk) {
                    return Err(UpstreamError::InBand {
                        node: node.to_owned(),
                        message,
                    });
                }
            }
            Some(chunk)
        }
    };
    Ok(Answer {
        response,
        first_chunk,
        latency,
        ttfb: sent.elapsed(),
    })
}

/// The node's `Retry-After` in whole seconds (the delay form; an HTTP date is ignored).
fn retry_after(response: &ClientResponse) -> Option<u64> {
    response
        .headers()
        .get(awc::http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn send_error(node: &str, e: SendRequestError, after: Duration) -> UpstreamError {
    let node = node.to_owned();
    match e {
        SendRequestError::Timeout => UpstreamError::Timeout { node, after },
        SendRequestError::Connect(e) => UpstreamError::Connect {
            node,
            message: e.to_string(),
        },
        other => UpstreamError::Broken {
            node,
            message: other.to_string(),
        },
    }
}

/// The node's own error message from a 5xx body (Ollama `{"error": "..."}`, OpenAI
/// `{"error": {"message": ...}}`, or the start of whatever text it sent), read briefly.
async fn error_message(response: &mut ClientResponse) -> String {
    let body = match timeout(
        Duration::from_secs(2),
        response.body().limit(ERROR_BODY_LIMIT),
    )
    .await
    {
        Ok(Ok(body)) => body,
        _ => return "no readable error body".to_owned(),
    };
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        let error = v.get("error")?;
        error
            .as_str()
            .or_else(|| error.get("message").and_then(serde_json::Value::as_str))
            .map(str::to_owned)
    });
    from_json.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&body);
        let text = text.trim();
        match text.char_indices().nth(200) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None if text.is_empty() => "empty error body".to_owned(),
            None => text.to_owned(),
        }
    })
}
