//! A programmable mock LLM upstream of one of three kinds: Ollama (its native API plus the
//! OpenAI-compatible one, leniently), a strict OpenAI API, or a strict Anthropic Messages API.
//!
//! Drover's integration tests start it in-process to play the nodes of a cluster (and kill,
//! slow down or break them on demand); the `drover-mock` binary serves it for benchmarks,
//! where it must be cheap enough never to be the bottleneck. The strict kinds validate what
//! they receive as the real APIs do, so Drover's translation is tested against upstreams
//! that refuse what the real ones would refuse ([`MockUpstream::rejections`]).
//!
//! Generated text is deterministic: `tokens` chunks, the first `"[NAME] tok0 "`, the rest
//! `"tok{i} "`, so a client can tell from the body alone which node answered and how many
//! chunks it should have seen. Bare model names resolve to `NAME:latest` as in Ollama. What
//! the request carried (system prompt, images, tool results) is echoed at the start of the
//! first chunk, and declared tools are called, by rules every kind shares (see `plan`).

// A handler's early exit is the HTTP response itself, built once per refused request;
// boxing it would only add an allocation and a deref at every `return`.
#![allow(clippy::result_large_err)]

mod anthropic;
mod anthropic_request;
#[cfg(test)]
mod arbitrary_input_tests;
mod auth;
mod base64;
mod common;
mod errors;
mod ollama;
mod ollama_manage;
mod ollama_request;
mod openai;
mod openai_request;
mod plan;
mod prompt;
mod responses;
mod server;
mod state;
mod stream;
mod text;
mod tool_args;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use state::Shared;

/// Which API a node speaks, and how strictly it checks requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MockKind {
    /// Ollama: `/api/*` plus the OpenAI-compatible `/v1/*`, as Ollama serves them. Lenient
    /// like Ollama, except where Ollama itself refuses: `images` must be bare base64 and
    /// tool-call `arguments` must be objects.
    #[default]
    Ollama,
    /// The OpenAI API: `/v1/models`, `/v1/chat/completions`, `/v1/completions`,
    /// `/v1/embeddings` only, with OpenAI's validation of chat requests (roles, content
    /// parts, tool-call pairing, string `arguments`, `stream_options` only when streaming).
    OpenAi,
    /// The Anthropic Messages API: `/v1/models` in Anthropic's shape and `/v1/messages`,
    /// with Anthropic's validation (required `max_tokens`, top-level `system` only, strict
    /// alternation, tool_use/tool_result pairing, no unknown fields) and the
    /// `anthropic-version` header required.
    Anthropic,
}

impl MockKind {
    /// The name used on the command line: `ollama`, `openai` or `anthropic`.
    pub fn as_str(self) -> &'static str {
        match self {
            MockKind::Ollama => "ollama",
            MockKind::OpenAi => "openai",
            MockKind::Anthropic => "anthropic",
        }
    }
}

impl std::str::FromStr for MockKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ollama" => Ok(MockKind::Ollama),
            "openai" => Ok(MockKind::OpenAi),
            "anthropic" => Ok(MockKind::Anthropic),
            other => Err(format!(
                "unknown mock kind {other:?} (expected ollama, openai or anthropic)"
            )),
        }
    }
}

impl std::fmt::Display for MockKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Initial settings of a mock node; most can be changed later through [`MockUpstream`].
#[derive(Clone, Debug)]
pub struct MockConfig {
    /// The API the node speaks (and how strictly).
    pub kind: MockKind,
    /// When set, every request must carry this key: `Authorization: Bearer KEY` (Ollama and
    /// OpenAI kinds) or `x-api-key: KEY` (Anthropic kind); otherwise 401 in the kind's
    /// error shape.
    pub api_key: Option<String>,
    /// Node name, echoed in the `x-mock-node` header of every response and in the text.
    pub name: String,
    /// Models listed by `/api/tags` and `/v1/models` and accepted for inference.
    pub models: Vec<String>,
    /// Subset reported as loaded by `/api/ps`.
    pub loaded: Vec<String>,
    /// Chunks per streamed answer (before the final frame).
    pub tokens: usize,
    /// Gap between streamed chunks.
    pub token_delay: Duration,
    /// Delay before response headers on inference endpoints.
    pub latency: Duration,
    /// Length of generated embedding vectors.
    pub embedding_dims: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            kind: MockKind::Ollama,
            api_key: None,
            name: "mock".to_owned(),
            models: vec!["llama3:latest".to_owned()],
            loaded: Vec::new(),
            tokens: 5,
            token_delay: Duration::ZERO,
            latency: Duration::ZERO,
            embedding_dims: 8,
        }
    }
}

impl MockConfig {
    /// A default node with its own name and models, the common case in cluster tests.
    pub fn named(name: &str, models: &[&str]) -> Self {
        MockConfig {
            name: name.to_owned(),
            models: models.iter().map(|m| (*m).to_owned()).collect(),
            ..MockConfig::default()
        }
    }

    /// A default node of `kind` with its own name and models.
    pub fn of_kind(kind: MockKind, name: &str, models: &[&str]) -> Self {
        MockConfig {
            kind,
            ..MockConfig::named(name, models)
        }
    }
}

/// How the node misbehaves on inference endpoints (and pull); probes stay healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Answer normally.
    None,
    /// Answer this status without the configured latency, with the message `mock failure`
    /// in the kind's error shape: `{"error":"mock failure"}` (Ollama kind, both APIs),
    /// OpenAI's error object, or Anthropic's (`overloaded_error` for 529).
    Status(u16),
    /// Streams: send this many chunks, then drop the connection with no terminating chunk
    /// and no final frame (0: headers only). Non-streamed answers: headers, then drop.
    DieAfter(usize),
    /// Never answer (the request sleeps for a day or until the node stops).
    Hang,
}

/// A running (or stopped) mock node. Stopping and restarting keeps the same port, so a
/// gateway configured with its URL sees the node go down and come back.
pub struct MockUpstream {
    state: Arc<Shared>,
    addr: SocketAddr,
    workers: usize,
    running: Mutex<Option<server::Running>>,
}

impl MockUpstream {
    /// Starts a node on an ephemeral loopback port with one worker thread; returns once it
    /// accepts connections.
    pub fn start(config: MockConfig) -> io::Result<MockUpstream> {
        MockUpstream::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), 1)
    }

    /// Starts a node on `addr` with `workers` worker threads (the binary's entry point).
    pub fn start_on(
        config: MockConfig,
        addr: SocketAddr,
        workers: usize,
    ) -> io::Result<MockUpstream> {
        let state = Arc::new(Shared::new(&config));
        let listener = server::bind(addr)?;
        let addr = listener.local_addr()?;
        let running = server::launch(Arc::clone(&state), listener, workers)?;
        Ok(MockUpstream {
            state,
            addr,
            workers,
            running: Mutex::new(Some(running)),
        })
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node name given in [`MockConfig::name`].
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// The API the node speaks.
    pub fn kind(&self) -> MockKind {
        self.state.kind
    }

    pub fn set_failure(&self, f: Failure) {
        self.state.set_failure(f);
    }

    pub fn failure(&self) -> Failure {
        self.state.failure()
    }

    pub fn set_models(&self, models: &[&str]) {
        self.state.set_models(models);
    }

    pub fn set_loaded(&self, loaded: &[&str]) {
        self.state.set_loaded(loaded);
    }

    /// What the node answers on `/api/version` from now on.
    pub fn set_version(&self, version: &str) {
        self.state.set_version(version);
    }

    /// Whether the node lists `model` (bare names mean `:latest`, as in Ollama).
    pub fn has_model(&self, model: &str) -> bool {
        self.state.catalog().has(model)
    }

    /// Whether `model` is loaded in memory (listed in `/api/ps`).
    pub fn is_loaded(&self, model: &str) -> bool {
        self.state.is_loaded(model)
    }

    /// The size of a blob the node received whole with the right digest.
    pub fn blob(&self, digest: &str) -> Option<u64> {
        self.state.blob(digest)
    }

    pub fn set_tokens(&self, n: usize) {
        self.state.set_tokens(n);
    }

    pub fn set_token_delay(&self, d: Duration) {
        self.state.set_token_delay(d);
    }

    pub fn set_latency(&self, d: Duration) {
        self.state.set_latency(d);
    }

    /// Probes answer only once no inference request is in flight, as a one-slot server
    /// (llama.cpp's) answers nothing while it generates.
    pub fn set_probe_after_streams(&self, on: bool) {
        self.state.set_probe_after_streams(on);
    }

    /// Chat requests whose body contains `text` get 200 with stream headers, then the
    /// connection drops (a server refusing an over-long prompt after its headers); `None`
    /// turns it off. OpenAI chat only.
    pub fn set_cut_on(&self, text: Option<&str>) {
        self.state.set_cut_on(text);
    }

    /// OpenAI streams end with `[DONE]` but without the chunk carrying `finish_reason`.
    pub fn set_omit_finish(&self, on: bool) {
        self.state.set_omit_finish(on);
    }

    /// Takes the node down: the listener closes and open connections are dropped at once,
    /// so new connections are refused. Blocks until done; safe to call from async code,
    /// and a no-op when already stopped.
    pub fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(running) = running {
            running.shutdown(&self.state);
        }
    }

    /// Brings the node back on the same port with the same state (counters kept). Stops it
    /// first if it is running.
    pub fn restart(&self) -> io::Result<()> {
        self.stop();
        let listener = server::bind_retrying(self.addr)?;
        let running = server::launch(Arc::clone(&self.state), listener, self.workers)?;
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = Some(running);
        Ok(())
    }

    /// Whether the node is currently serving.
    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Requests that hit `path` (e.g. `"/api/chat"`), whatever their outcome.
    pub fn requests(&self, path: &str) -> u64 {
        self.state.requests(path)
    }

    /// Requests on chat, generate, embed, embeddings and completions, both APIs.
    pub fn total_inference_requests(&self) -> u64 {
        self.state.total_inference_requests()
    }

    /// Highest number of inference requests seen in flight at once (streams count until
    /// their body ends or is dropped).
    pub fn max_in_flight(&self) -> u64 {
        self.state.max_in_flight()
    }

    pub fn in_flight(&self) -> u64 {
        self.state.in_flight()
    }

    /// Connections accepted since the node started (restarts included): a client that
    /// reuses its connections opens few.
    pub fn connections(&self) -> u64 {
        self.state.accepted_connections()
    }

    /// Last body received on `path`, if it was JSON.
    pub fn last_body(&self, path: &str) -> Option<serde_json::Value> {
        self.state.last_body(path)
    }

    /// Headers of the last request on `path` (names lower-case), whatever its outcome.
    pub fn last_headers(&self, path: &str) -> Option<Vec<(String, String)>> {
        self.state.last_headers(path)
    }

    /// One header of the last request on `path` (first value when repeated).
    pub fn last_header(&self, path: &str, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        self.state
            .last_headers(path)?
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The query string of the last request on `path` (`beta=true`), if it had one.
    pub fn last_query(&self, path: &str) -> Option<String> {
        self.last_header(path, common::QUERY_HEADER)
    }

    /// Requests refused as invalid or unauthenticated (400 and 401 answers, malformed JSON
    /// included; unknown models, 404, are not counted). A test that sends only valid
    /// traffic through Drover asserts this stays 0: the mock never had to refuse what
    /// Drover translated.
    pub fn rejections(&self) -> u64 {
        self.state.rejections()
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.stop();
    }
}
