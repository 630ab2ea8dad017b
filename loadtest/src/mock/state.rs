//! Shared state of one mock node: knobs the test flips at run time, request counters, and
//! the pre-serialized probe bodies. Hot paths only touch atomics; the model catalog sits
//! behind an `RwLock` that is held for a pointer copy and never across an await.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use actix_web::http::header::HeaderMap;
use bytes::Bytes;
use serde::Serialize;

use super::text::{digest_hex, first_token, with_default_tag};
use super::{Failure, MockConfig, MockKind};

/// Every route the mock serves. Counting by index keeps the per-request bookkeeping to one
/// atomic add instead of a map lookup under a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Root,
    Version,
    Tags,
    Ps,
    Show,
    Pull,
    Push,
    Create,
    Copy,
    Delete,
    Blobs,
    Chat,
    Generate,
    Embed,
    Embeddings,
    V1Models,
    V1Chat,
    V1Completions,
    V1Embeddings,
    V1Messages,
    V1CountTokens,
    V1Responses,
}

impl Endpoint {
    pub(crate) const ALL: [Endpoint; 22] = [
        Endpoint::Root,
        Endpoint::Version,
        Endpoint::Tags,
        Endpoint::Ps,
        Endpoint::Show,
        Endpoint::Pull,
        Endpoint::Push,
        Endpoint::Create,
        Endpoint::Copy,
        Endpoint::Delete,
        Endpoint::Blobs,
        Endpoint::Chat,
        Endpoint::Generate,
        Endpoint::Embed,
        Endpoint::Embeddings,
        Endpoint::V1Models,
        Endpoint::V1Chat,
        Endpoint::V1Completions,
        Endpoint::V1Embeddings,
        Endpoint::V1Messages,
        Endpoint::V1CountTokens,
        Endpoint::V1Responses,
    ];

    pub(crate) fn path(self) -> &'static str {
        match self {
            Endpoint::Root => "/",
            Endpoint::Version => "/api/version",
            Endpoint::Tags => "/api/tags",
            Endpoint::Ps => "/api/ps",
            Endpoint::Show => "/api/show",
            Endpoint::Pull => "/api/pull",
            Endpoint::Push => "/api/push",
            Endpoint::Create => "/api/create",
            Endpoint::Copy => "/api/copy",
            Endpoint::Delete => "/api/delete",
            // `/api/blobs/:digest`, both methods, counted as one path.
            Endpoint::Blobs => "/api/blobs",
            Endpoint::Chat => "/api/chat",
            Endpoint::Generate => "/api/generate",
            Endpoint::Embed => "/api/embed",
            Endpoint::Embeddings => "/api/embeddings",
            Endpoint::V1Models => "/v1/models",
            Endpoint::V1Chat => "/v1/chat/completions",
            Endpoint::V1Completions => "/v1/completions",
            Endpoint::V1Embeddings => "/v1/embeddings",
            Endpoint::V1Messages => "/v1/messages",
            Endpoint::V1CountTokens => "/v1/messages/count_tokens",
            Endpoint::V1Responses => "/v1/responses",
        }
    }

    pub(crate) fn from_path(path: &str) -> Option<Endpoint> {
        Endpoint::ALL.iter().copied().find(|e| e.path() == path)
    }

    /// Inference endpoints are the ones counted by `total_inference_requests` and tracked
    /// in flight; pull also obeys failure modes but is management, not inference.
    pub(crate) fn is_inference(self) -> bool {
        matches!(
            self,
            Endpoint::Chat
                | Endpoint::Generate
                | Endpoint::Embed
                | Endpoint::Embeddings
                | Endpoint::V1Chat
                | Endpoint::V1Completions
                | Endpoint::V1Embeddings
                | Endpoint::V1Messages
                | Endpoint::V1Responses
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Packs a [`Failure`] into one word so the hot path reads it with a single atomic load.
/// Top two bits are the variant, the rest the payload (saturated).
pub(crate) fn encode_failure(f: Failure) -> u64 {
    const MAX: u64 = (1 << 62) - 1;
    match f {
        Failure::None => 0,
        Failure::Status(code) => (1 << 62) | u64::from(code),
        Failure::DieAfter(n) => (2 << 62) | (n as u64).min(MAX),
        Failure::Hang => 3 << 62,
    }
}

pub(crate) fn decode_failure(v: u64) -> Failure {
    let payload = v & ((1 << 62) - 1);
    match v >> 62 {
        1 => Failure::Status(u16::try_from(payload).unwrap_or(500)),
        2 => Failure::DieAfter(usize::try_from(payload).unwrap_or(usize::MAX)),
        3 => Failure::Hang,
        _ => Failure::None,
    }
}

/// The models a node knows, plus the probe answers derived from them. Rebuilt on every
/// change (rare) so probes are a refcount bump, not a serialization.
pub(crate) struct Catalog {
    models: Vec<String>,
    loaded: Vec<String>,
    pub(crate) tags: Bytes,
    pub(crate) ps: Bytes,
    pub(crate) v1_models: Bytes,
    /// `/v1/models` in Anthropic's shape, served by Anthropic-kind nodes.
    pub(crate) anthropic_models: Bytes,
}

#[derive(Serialize)]
pub(crate) struct Details {
    format: &'static str,
    family: &'static str,
    parameter_size: &'static str,
    quantization_level: &'static str,
}

pub(crate) const DETAILS: Details = Details {
    format: "gguf",
    family: "llama",
    parameter_size: "7B",
    quantization_level: "Q4_0",
};

#[derive(Serialize)]
struct TagEntry<'a> {
    name: &'a str,
    model: &'a str,
    modified_at: &'static str,
    size: u64,
    digest: String,
    details: &'a Details,
}

#[derive(Serialize)]
struct PsEntry<'a> {
    name: &'a str,
    model: &'a str,
    size: u64,
    digest: String,
    expires_at: &'static str,
    size_vram: u64,
    details: &'a Details,
}

#[derive(Serialize)]
struct V1Model<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct AnthropicModel<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    display_name: &'a str,
    created_at: &'static str,
}

#[derive(Serialize)]
struct AnthropicList<'a> {
    data: Vec<AnthropicModel<'a>>,
    has_more: bool,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
}

#[derive(Serialize)]
struct ModelList<T> {
    models: Vec<T>,
}

#[derive(Serialize)]
struct V1List<T> {
    object: &'static str,
    data: Vec<T>,
}

fn to_bytes<T: Serialize>(v: &T) -> Bytes {
    // Serializing these plain structs cannot fail; an empty body would be the visible symptom.
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

impl Catalog {
    pub(crate) fn new(models: Vec<String>, loaded: Vec<String>) -> Catalog {
        let tags = to_bytes(&ModelList {
            models: models
                .iter()
                .map(|m| TagEntry {
                    name: m,
                    model: m,
                    modified_at: "2024-01-01T00:00:00Z",
                    size: 1000,
                    digest: digest_hex(m),
                    details: &DETAILS,
                })
                .collect(),
        });
        let ps = to_bytes(&ModelList {
            models: loaded
                .iter()
                .map(|m| PsEntry {
                    name: m,
                    model: m,
                    size: 1000,
                    digest: digest_hex(m),
                    expires_at: "2099-01-01T00:00:00Z",
                    size_vram: 1000,
                    details: &DETAILS,
                })
                .collect(),
        });
        let v1_models = to_bytes(&V1List {
            object: "list",
            data: models
                .iter()
                .map(|m| V1Model {
                    id: m,
                    object: "model",
                    created: 0,
                    owned_by: "library",
                })
                .collect(),
        });
        let anthropic_models = to_bytes(&AnthropicList {
            data: models
                .iter()
                .map(|m| AnthropicModel {
                    kind: "model",
                    id: m,
                    display_name: m,
                    created_at: "2024-01-01T00:00:00Z",
                })
                .collect(),
            has_more: false,
            first_id: models.first().map(String::as_str),
            last_id: models.last().map(String::as_str),
        });
        Catalog {
            models,
            loaded,
            tags,
            ps,
            v1_models,
            anthropic_models,
        }
    }

    /// Whether `requested` names a known model: exactly, or as a bare name whose
    /// `:latest` tag is known (Ollama's own resolution rule).
    pub(crate) fn has(&self, requested: &str) -> bool {
        if self.models.iter().any(|m| m == requested) {
            return true;
        }
        !requested.contains(':')
            && self.models.iter().any(|m| {
                m.len() == requested.len() + 7 && m.starts_with(requested) && m.ends_with(":latest")
            })
    }
}

/// Refusals kept for `/_mock/log`; older ones are dropped (the count stays exact).
pub(crate) const REFUSALS_KEPT: usize = 32;

/// One refused request: the answer's status and its error body (JSON when it parses).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) error: serde_json::Value,
}

/// Decrements the in-flight gauge when the request (or its streamed body) is finished or
/// dropped, so aborted streams are accounted for too.
pub(crate) struct InFlight {
    state: Arc<Shared>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts open TCP connections; one lives in each connection's extensions, so `stop` can
/// wait until the workers really dropped every socket.
pub(crate) struct ConnGuard {
    state: Arc<Shared>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.state.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) kind: MockKind,
    /// The key clients must present, in the kind's own header; `None`: no check.
    pub(crate) api_key: Option<String>,
    /// First generated token, containing the node name.
    pub(crate) first_token: String,
    pub(crate) embedding_dims: usize,
    failure: AtomicU64,
    tokens: AtomicUsize,
    token_delay_ns: AtomicU64,
    latency_ns: AtomicU64,
    /// Probes wait until no inference request is in flight, like a one-slot server (llama.cpp)
    /// that answers nothing while it generates.
    probe_after_streams: AtomicBool,
    /// A request whose body contains this text gets 200 and stream headers, then the
    /// connection drops (a server refusing an over-long prompt mid-answer).
    cut_on: Mutex<Option<String>>,
    /// Streams end with `[DONE]` but no finish reason (OpenAI shape only).
    omit_finish: AtomicBool,
    catalog: RwLock<Arc<Catalog>>,
    counts: [AtomicU64; Endpoint::ALL.len()],
    other_counts: Mutex<HashMap<String, u64>>,
    last_bodies: [Mutex<Option<Bytes>>; Endpoint::ALL.len()],
    last_headers: [Mutex<Option<HeaderMap>>; Endpoint::ALL.len()],
    rejections: AtomicU64,
    /// The last [`REFUSALS_KEPT`] refusals, oldest first: what `/_mock/log` shows.
    refusals: Mutex<VecDeque<Refusal>>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    open_connections: AtomicU64,
    /// Every connection ever accepted: tells whether a client reuses its connections.
    accepted_connections: AtomicU64,
    seq: AtomicU64,
    /// Blobs received (`POST /api/blobs/:digest`): digest → size. Contents are not kept.
    blobs: Mutex<HashMap<String, u64>>,
    /// The `/api/version` answer.
    version: RwLock<Bytes>,
}

/// What a mock node reports as its Ollama version unless told otherwise.
const DEFAULT_VERSION: &str = "0.5.0-mock";

fn version_body(version: &str) -> Bytes {
    to_bytes(&serde_json::json!({ "version": version }))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Shared {
    pub(crate) fn new(cfg: &MockConfig) -> Shared {
        Shared {
            name: cfg.name.clone(),
            kind: cfg.kind,
            api_key: cfg.api_key.clone(),
            first_token: first_token(&cfg.name),
            embedding_dims: cfg.embedding_dims,
            failure: AtomicU64::new(0),
            tokens: AtomicUsize::new(cfg.tokens),
            token_delay_ns: AtomicU64::new(nanos(cfg.token_delay)),
            latency_ns: AtomicU64::new(nanos(cfg.latency)),
            probe_after_streams: AtomicBool::new(false),
            cut_on: Mutex::new(None),
            omit_finish: AtomicBool::new(false),
            catalog: RwLock::new(Arc::new(Catalog::new(
                cfg.models.clone(),
                cfg.loaded.clone(),
            ))),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            other_counts: Mutex::new(HashMap::new()),
            last_bodies: std::array::from_fn(|_| Mutex::new(None)),
            last_headers: std::array::from_fn(|_| Mutex::new(None)),
            rejections: AtomicU64::new(0),
            refusals: Mutex::new(VecDeque::new()),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            open_connections: AtomicU64::new(0),
            accepted_connections: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            blobs: Mutex::new(HashMap::new()),
            version: RwLock::new(version_body(DEFAULT_VERSION)),
        }
    }

    pub(crate) fn failure(&self) -> Failure {
        decode_failure(self.failure.load(Ordering::Relaxed))
    }
    pub(crate) fn set_failure(&self, f: Failure) {
        self.failure.store(encode_failure(f), Ordering::Relaxed);
    }
    pub(crate) fn tokens(&self) -> usize {
        self.tokens.load(Ordering::Relaxed)
    }
    pub(crate) fn set_tokens(&self, n: usize) {
        self.tokens.store(n, Ordering::Relaxed);
    }
    pub(crate) fn token_delay(&self) -> Duration {
        Duration::from_nanos(self.token_delay_ns.load(Ordering::Relaxed))
    }
    pub(crate) fn set_token_delay(&self, d: Duration) {
        self.token_delay_ns.store(nanos(d), Ordering::Relaxed);
    }
    pub(crate) fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_ns.load(Ordering::Relaxed))
    }
    pub(crate) fn set_latency(&self, d: Duration) {
        self.latency_ns.store(nanos(d), Ordering::Relaxed);
    }

    pub(crate) fn set_probe_after_streams(&self, on: bool) {
        self.probe_after_streams.store(on, Ordering::Relaxed);
    }

    /// Holds a probe while `probe_after_streams` is on and an inference request runs.
    pub(crate) async fn probe_gate(&self) {
        while self.probe_after_streams.load(Ordering::Relaxed) && self.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(crate) fn set_cut_on(&self, text: Option<&str>) {
        *self.cut_on.lock().unwrap_or_else(PoisonError::into_inner) = text.map(str::to_owned);
    }

    /// Whether `body` contains the `cut_on` text.
    pub(crate) fn cuts(&self, body: &[u8]) -> bool {
        let cut_on = self.cut_on.lock().unwrap_or_else(PoisonError::into_inner);
        cut_on.as_deref().is_some_and(|text| {
            !text.is_empty() && body.windows(text.len()).any(|w| w == text.as_bytes())
        })
    }

    pub(crate) fn set_omit_finish(&self, on: bool) {
        self.omit_finish.store(on, Ordering::Relaxed);
    }

    pub(crate) fn omit_finish(&self) -> bool {
        self.omit_finish.load(Ordering::Relaxed)
    }

    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace_catalog(&self, f: impl FnOnce(&Catalog) -> Catalog) {
        let mut guard = self.catalog.write().unwrap_or_else(PoisonError::into_inner);
        let next = f(&guard);
        *guard = Arc::new(next);
    }

    pub(crate) fn set_models(&self, models: &[&str]) {
        let models = models.iter().map(|m| (*m).to_owned()).collect();
        self.replace_catalog(|c| Catalog::new(models, c.loaded.clone()));
    }

    pub(crate) fn set_loaded(&self, loaded: &[&str]) {
        let loaded = loaded.iter().map(|m| (*m).to_owned()).collect();
        self.replace_catalog(|c| Catalog::new(c.models.clone(), loaded));
    }

    /// Records a finished pull: the model shows up in `/api/tags` from now on.
    pub(crate) fn add_model(&self, requested: &str) {
        let name = with_default_tag(requested);
        self.replace_catalog(|c| {
            let mut models = c.models.clone();
            if !c.has(requested) {
                models.push(name);
            }
            Catalog::new(models, c.loaded.clone())
        });
    }

    /// Forgets a model (`/api/delete`); `false` when it was not there.
    pub(crate) fn remove_model(&self, requested: &str) -> bool {
        let mut found = false;
        self.replace_catalog(|c| {
            let known = |m: &String| Catalog::new(vec![m.clone()], Vec::new()).has(requested);
            let models: Vec<String> = c.models.iter().filter(|m| !known(m)).cloned().collect();
            found = models.len() < c.models.len();
            let loaded = c.loaded.iter().filter(|m| !known(m)).cloned().collect();
            Catalog::new(models, loaded)
        });
        found
    }

    /// Takes a model out of memory (an unload); it stays in `/api/tags`.
    pub(crate) fn unload(&self, requested: &str) {
        self.replace_catalog(|c| {
            let loaded = c
                .loaded
                .iter()
                .filter(|m| !Catalog::new(vec![(*m).clone()], Vec::new()).has(requested))
                .cloned()
                .collect();
            Catalog::new(c.models.clone(), loaded)
        });
    }

    pub(crate) fn is_loaded(&self, requested: &str) -> bool {
        let catalog = self.catalog();
        Catalog::new(catalog.loaded.clone(), Vec::new()).has(requested)
    }

    pub(crate) fn add_blob(&self, digest: &str, size: u64) {
        self.blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest.to_owned(), size);
    }

    /// The size of a stored blob.
    pub(crate) fn blob(&self, digest: &str) -> Option<u64> {
        self.blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(digest)
            .copied()
    }

    pub(crate) fn version(&self) -> Bytes {
        self.version
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_version(&self, version: &str) {
        *self.version.write().unwrap_or_else(PoisonError::into_inner) = version_body(version);
    }

    pub(crate) fn hit(&self, ep: Endpoint) {
        self.counts[ep.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn hit_other(&self, path: &str) {
        let mut map = self
            .other_counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *map.entry(path.to_owned()).or_insert(0) += 1;
    }

    pub(crate) fn requests(&self, path: &str) -> u64 {
        match Endpoint::from_path(path) {
            Some(ep) => self.counts[ep.index()].load(Ordering::Relaxed),
            None => self
                .other_counts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(path)
                .copied()
                .unwrap_or(0),
        }
    }

    pub(crate) fn total_inference_requests(&self) -> u64 {
        Endpoint::ALL
            .iter()
            .filter(|e| e.is_inference())
            .map(|e| self.counts[e.index()].load(Ordering::Relaxed))
            .sum()
    }

    /// Keeps the raw body (a refcount bump); it is parsed only when a test asks for it.
    pub(crate) fn store_body(&self, ep: Endpoint, body: &Bytes) {
        let mut slot = self.last_bodies[ep.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *slot = Some(body.clone());
    }

    /// Keeps the request headers (a map clone of refcounted values).
    pub(crate) fn store_headers(&self, ep: Endpoint, headers: &HeaderMap) {
        let mut slot = self.last_headers[ep.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *slot = Some(headers.clone());
    }

    /// Last headers received on `path`, names lower-case, in arrival order per name.
    pub(crate) fn last_headers(&self, path: &str) -> Option<Vec<(String, String)>> {
        let ep = Endpoint::from_path(path)?;
        let slot = self.last_headers[ep.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let map = slot.as_ref()?;
        Some(
            map.iter()
                .map(|(k, v)| {
                    let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (k.as_str().to_owned(), value)
                })
                .collect(),
        )
    }

    /// Counts a request refused as invalid (400) or unauthenticated (401) and keeps the
    /// refusal, so a test driving a client it does not control can say what was refused.
    pub(crate) fn reject(&self, refusal: Refusal) {
        self.rejections.fetch_add(1, Ordering::Relaxed);
        let mut log = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() == REFUSALS_KEPT {
            log.pop_front();
        }
        log.push_back(refusal);
    }

    /// The kept refusals, oldest first.
    pub(crate) fn refusals(&self) -> Vec<Refusal> {
        self.refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Last JSON body of every endpoint that has one, by path.
    pub(crate) fn last_bodies(&self) -> Vec<(&'static str, serde_json::Value)> {
        Endpoint::ALL
            .iter()
            .filter_map(|e| Some((e.path(), self.last_body(e.path())?)))
            .collect()
    }

    pub(crate) fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }

    pub(crate) fn last_body(&self, path: &str) -> Option<serde_json::Value> {
        let ep = Endpoint::from_path(path)?;
        let raw = self.last_bodies[ep.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        serde_json::from_slice(&raw).ok()
    }

    pub(crate) fn enter(self: &Arc<Self>) -> InFlight {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight {
            state: Arc::clone(self),
        }
    }

    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
    pub(crate) fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn connect(self: &Arc<Self>) -> ConnGuard {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        self.accepted_connections.fetch_add(1, Ordering::Relaxed);
        ConnGuard {
            state: Arc::clone(self),
        }
    }

    pub(crate) fn open_connections(&self) -> u64 {
        self.open_connections.load(Ordering::Relaxed)
    }

    pub(crate) fn accepted_connections(&self) -> u64 {
        self.accepted_connections.load(Ordering::Relaxed)
    }

    /// Monotonic id for `chatcmpl-…`/`cmpl-…` identifiers.
    pub(crate) fn next_id(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn failure_roundtrip() {
        for f in [
            Failure::None,
            Failure::Status(503),
            Failure::Status(0),
            Failure::DieAfter(0),
            Failure::DieAfter(7),
            Failure::Hang,
        ] {
            assert_eq!(decode_failure(encode_failure(f)), f);
        }
    }

    #[test]
    fn endpoint_paths_roundtrip() {
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::from_path(e.path()), Some(e));
        }
        assert_eq!(Endpoint::from_path("/nope"), None);
        assert_eq!(Endpoint::ALL.iter().filter(|e| e.is_inference()).count(), 9);
        assert_eq!(Endpoint::from_path("/api/blobs"), Some(Endpoint::Blobs));
    }

    #[test]
    fn catalog_resolves_latest() {
        let c = Catalog::new(vec!["llama3:latest".into(), "qwen:7b".into()], vec![]);
        assert!(c.has("llama3:latest"));
        assert!(c.has("llama3"));
        assert!(c.has("qwen:7b"));
        assert!(!c.has("qwen"));
        assert!(!c.has("llama"));
        let tags: serde_json::Value = serde_json::from_slice(&c.tags).unwrap();
        assert_eq!(tags["models"][1]["name"], "qwen:7b");
        let ps: serde_json::Value = serde_json::from_slice(&c.ps).unwrap();
        assert_eq!(ps["models"].as_array().map(Vec::len), Some(0));
    }
}
