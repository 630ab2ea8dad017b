//! The provider seam: everything that depends on the kind of upstream node. The request path
//! asks `plan` how to send an inbound request to a node and gets back the upstream path, the
//! body and the `Codec` that turns the node's answer into the client's format; it never looks
//! at node kinds itself. Probing (health, model inventory) is per kind too.
//!
//! Today every node is Ollama, which serves both the Ollama and the OpenAI API itself, so
//! every plan is a byte pass-through. OpenAI-compatible and Anthropic nodes add a `NodeKind`,
//! a module here, and translating codecs; the request path stays as it is.

mod ollama;

use std::time::Duration;

use bytes::Bytes;

use crate::{config::NodeKind, error::GatewayError, inbound::Inbound};

/// How to send one request to one node.
#[derive(Debug, Clone)]
pub struct UpstreamCall {
    /// Path appended to the node's base URL.
    pub path: &'static str,
    pub body: Bytes,
    pub codec: Codec,
}

/// How the node's answer (status, body, stream frames, errors) becomes the client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Same API on both sides: bytes go through untouched.
    PassThrough,
}

pub fn plan(kind: NodeKind, inbound: &Inbound) -> Result<UpstreamCall, GatewayError> {
    match kind {
        NodeKind::Ollama => Ok(ollama::plan(inbound)),
    }
}

/// What a probe learned about a node.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProbeReport {
    pub version: Option<String>,
    pub models: Vec<String>,
    pub loaded: Vec<String>,
    pub tag_entries: Vec<serde_json::Value>,
    pub ps_entries: Vec<serde_json::Value>,
}

/// Probes a node's health and inventory; an error says what failed, for `last_error`.
pub async fn probe(
    kind: NodeKind,
    client: &awc::Client,
    base_url: &str,
    timeout: Duration,
) -> Result<ProbeReport, String> {
    match kind {
        NodeKind::Ollama => ollama::probe(client, base_url, timeout).await,
    }
}

/// An HTTP client for probes and other control-plane calls (not the request path's).
pub fn probe_client(connect_timeout: Duration) -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().timeout(connect_timeout))
        .disable_redirects()
        .finish()
}

/// GETs `url` and parses its JSON body, within `timeout`.
pub(crate) async fn get_json(
    client: &awc::Client,
    url: &str,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let mut response = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: status {}", response.status()));
    }
    let body = response
        .body()
        .limit(16 * 1024 * 1024)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: invalid JSON: {e}"))
}
