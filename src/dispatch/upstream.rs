//! Sending one attempt to one node, up to and including its first body chunk. Everything that
//! can fail here fails before the client has seen a byte, so the caller may try another node.

use std::time::Duration;

use awc::{error::SendRequestError, ClientResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::{timeout, Instant};

use crate::error::UpstreamError;

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
/// A 5xx answer is an error (another node may do better); a 4xx is the client's and returned.
pub async fn attempt(
    client: &awc::Client,
    node: &str,
    url: &str,
    body: Bytes,
    first_byte: Duration,
) -> Result<Answer, UpstreamError> {
    let sent = Instant::now();
    let mut response = client
        .post(url)
        .insert_header((awc::http::header::CONTENT_TYPE, "application/json"))
        .timeout(first_byte)
        .send_body(body)
        .await
        .map_err(|e| send_error(node, e, first_byte))?;
    let latency = sent.elapsed();
    let status = response.status();
    if status.is_server_error() {
        return Err(UpstreamError::Status {
            node: node.to_owned(),
            status: status.as_u16(),
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
        Ok(None) if status.is_success() => {
            return Err(UpstreamError::Broken {
                node: node.to_owned(),
                message: "the connection closed before the answer began".to_owned(),
            })
        }
        Ok(None) => None,
        Ok(Some(Err(e))) => {
            return Err(UpstreamError::Broken {
                node: node.to_owned(),
                message: e.to_string(),
            })
        }
        Ok(Some(Ok(chunk))) => Some(chunk),
    };
    Ok(Answer {
        response,
        first_chunk,
        latency,
        ttfb: sent.elapsed(),
    })
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
