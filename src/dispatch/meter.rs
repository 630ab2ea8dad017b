//! One request's measurements, written once when it ends: metrics, the access log line, and
//! the request record for the `LogWriter`.
//!
//! Metric handles are cached per worker thread by (api, model, node, end): building label
//! strings and hashing them into the registry on every request was a visible share of the
//! request path's allocations.

use std::{
    cell::RefCell,
    collections::HashMap,
    net::IpAddr,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use metrics::{Counter, Histogram};
use tokio::time::Instant;

use super::completion::Tokens;
use crate::{
    actors::log_writer::{LogEntry, LogSender},
    auth::ClientKey,
    capture::Capture,
    metrics as m,
    providers::Dropped,
    store::records::RequestRecord,
};

/// How a request ended, with the HTTP status the client got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// The answer ended as its format says.
    Status(u16),
    /// The answer broke off after the first byte.
    StreamError(u16),
    /// The client went away before the end.
    ClientClosed(u16),
    /// The replica was shutting down and its grace ran out: the answer was cut (the client
    /// got an error frame).
    Shutdown(u16),
}

impl End {
    fn status(self) -> u16 {
        match self {
            End::Status(s) | End::StreamError(s) | End::ClientClosed(s) | End::Shutdown(s) => s,
        }
    }

    /// The `status` metric label.
    fn label(self) -> String {
        match self {
            End::Status(code) => code.to_string(),
            End::StreamError(_) => "stream_error".to_owned(),
            End::ClientClosed(_) => "client_closed".to_owned(),
            End::Shutdown(_) => "shutdown".to_owned(),
        }
    }

    fn error_kind(self) -> Option<&'static str> {
        match self {
            End::Status(_) => None,
            End::StreamError(_) => Some("stream_error"),
            End::ClientClosed(_) => Some("client_closed"),
            End::Shutdown(_) => Some("shutdown"),
        }
    }
}

struct Handles {
    requests: Counter,
    duration: Histogram,
    ttfb: Histogram,
    prompt_tokens: Counter,
    completion_tokens: Counter,
}

type Key = (&'static str, Arc<str>, Arc<str>, End);

/// Distinct label sets a thread keeps before starting over; bounds memory if labels churn.
const MAX_CACHED: usize = 4096;

thread_local! {
    static HANDLES: RefCell<HashMap<Key, Handles>> = RefCell::new(HashMap::new());
}

fn with_handles(key: Key, record: impl FnOnce(&Handles)) {
    HANDLES.with_borrow_mut(|cache| {
        if cache.len() >= MAX_CACHED && !cache.contains_key(&key) {
            cache.clear();
        }
        let handles = cache
            .entry(key)
            .or_insert_with_key(|(api, model, node, end)| {
                let labels = [
                    ("api", (*api).to_owned()),
                    ("model", model.to_string()),
                    ("node", node.to_string()),
                    ("status", end.label()),
                ];
                Handles {
                    requests: metrics::counter!(m::REQUESTS, &labels),
                    duration: metrics::histogram!(m::REQUEST_DURATION, &labels),
                    ttfb: metrics::histogram!(m::TTFT, "api" => *api, "node" => node.to_string()),
                    prompt_tokens: tokens_counter(model, node, "prompt"),
                    completion_tokens: tokens_counter(model, node, "completion"),
                }
            });
        record(handles);
    });
}

fn tokens_counter(model: &str, node: &str, direction: &'static str) -> Counter {
    metrics::counter!(m::TOKENS, "model" => model.to_owned(), "node" => node.to_owned(), "direction" => direction)
}

/// Where request records go, with this replica's name.
#[derive(Clone)]
pub struct RecordSink {
    pub sender: LogSender,
    pub replica: Arc<str>,
    /// Keep this many bytes of each body with its record; `None`: no bodies.
    pub capture: Option<usize>,
}

pub struct RequestMeter {
    pub api: &'static str,
    /// The model as the client named it.
    pub requested: Arc<str>,
    /// The metric label: the resolved name once a node is chosen, `-` for unknown models.
    pub model: Arc<str>,
    /// The name nodes list, once resolved.
    pub resolved: Option<Arc<str>>,
    pub request_id: Arc<str>,
    pub stream: bool,
    pub client: Option<IpAddr>,
    /// Why the request failed, when it did before any answer (`GatewayError::kind`).
    pub error_kind: Option<&'static str>,
    /// The client's API key, in `keys` mode.
    pub key: Option<Arc<ClientKey>>,
    /// What the answer reported, once it ended.
    pub tokens: Tokens,
    /// The bodies, when the request log captures content.
    pub capture: Option<Capture>,
    /// The client's fields the translation for the serving node dropped.
    pub dropped: Option<Dropped>,
    pub started: Instant,
    started_wall: SystemTime,
    sink: Option<RecordSink>,
}

impl RequestMeter {
    pub fn new(
        api: &'static str,
        requested: Arc<str>,
        request_id: Arc<str>,
        stream: bool,
        client: Option<IpAddr>,
        sink: Option<RecordSink>,
    ) -> Self {
        Self {
            api,
            model: requested.clone(),
            requested,
            resolved: None,
            request_id,
            stream,
            client,
            error_kind: None,
            key: None,
            tokens: Tokens::default(),
            capture: None,
            dropped: None,
            started: Instant::now(),
            started_wall: SystemTime::now(),
            sink,
        }
    }

    /// Records the end of the request; `node` is `-` when none was reached.
    pub fn finish(&mut self, node: &Arc<str>, end: End, ttfb: Option<Duration>, retries: u32) {
        let elapsed = self.started.elapsed();
        with_handles((self.api, self.model.clone(), node.clone(), end), |h| {
            h.requests.increment(1);
            h.duration.record(elapsed.as_secs_f64());
            if let Some(ttfb) = ttfb {
                h.ttfb.record(ttfb.as_secs_f64());
            }
            if let Some(n) = self.tokens.prompt {
                h.prompt_tokens.increment(n);
            }
            if let Some(n) = self.tokens.completion {
                h.completion_tokens.increment(n);
            }
        });
        if let Some(key) = &self.key {
            key.spent(self.tokens.total());
        }
        let error_kind = self.error_kind.or(end.error_kind());
        crate::headline::HEADLINE.record(
            elapsed.as_micros() as u64,
            end.status() >= 500 || matches!(end, End::StreamError(_)),
            self.tokens.total(),
        );
        tracing::info!(
            request_id = %self.request_id,
            api = self.api,
            model = %self.model,
            node = %node,
            status = end.status(),
            error = error_kind,
            retries,
            duration_ms = elapsed.as_secs_f64() * 1e3,
            ttfb_ms = ttfb.map(|t| t.as_secs_f64() * 1e3),
            "request finished"
        );
        if let Some(sink) = &self.sink {
            let record = RequestRecord {
                id: format!("{:032x}", fastrand::u128(..)),
                request_id: self.request_id.to_string(),
                ts_ms: self
                    .started_wall
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64),
                replica: sink.replica.to_string(),
                api: self.api.to_owned(),
                key_id: self.key.as_ref().map(|k| k.id.to_string()),
                model_requested: self.requested.to_string(),
                model_resolved: self.resolved.as_ref().map(|m| m.to_string()),
                node: (&**node != "-").then(|| node.to_string()),
                status: i32::from(end.status()),
                error_kind: error_kind.map(str::to_owned),
                stream: self.stream,
                latency_ms: elapsed.as_secs_f64() * 1e3,
                ttft_ms: ttfb.map(|t| t.as_secs_f64() * 1e3),
                prompt_tokens: self.tokens.prompt.and_then(|n| i64::try_from(n).ok()),
                completion_tokens: self.tokens.completion.and_then(|n| i64::try_from(n).ok()),
                retries: retries as i32,
                client_addr: self.client.map(|ip| ip.to_string()),
                dropped: self.dropped.as_ref().map(|d| d.0.to_string()),
            };
            sink.sender.send(LogEntry {
                record,
                capture: self.capture.take(),
            });
        }
    }
}
