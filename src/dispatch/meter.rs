//! One request's measurements, written once when it ends (metrics and the access log line).
//!
//! Metric handles are cached per worker thread by (api, model, node, end): building label
//! strings and hashing them into the registry on every request was a visible share of the
//! request path's allocations.

use std::{cell::RefCell, collections::HashMap, sync::Arc, time::Duration};

use metrics::{Counter, Histogram};
use tokio::time::Instant;

use crate::metrics as m;

/// How a request ended, as the `status` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// The HTTP status the client got.
    Status(u16),
    /// The answer broke off after the first byte.
    StreamError,
    /// The client went away before the end.
    ClientClosed,
}

impl End {
    fn label(self) -> String {
        match self {
            End::Status(code) => code.to_string(),
            End::StreamError => "stream_error".to_owned(),
            End::ClientClosed => "client_closed".to_owned(),
        }
    }

    fn as_log(self) -> &'static str {
        match self {
            End::Status(_) => "status",
            End::StreamError => "stream_error",
            End::ClientClosed => "client_closed",
        }
    }
}

struct Handles {
    requests: Counter,
    duration: Histogram,
    ttfb: Histogram,
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
                }
            });
        record(handles);
    });
}

pub struct RequestMeter {
    pub api: &'static str,
    pub model: Arc<str>,
    pub request_id: Arc<str>,
    pub started: Instant,
}

impl RequestMeter {
    pub fn new(api: &'static str, model: Arc<str>, request_id: Arc<str>) -> Self {
        Self {
            api,
            model,
            request_id,
            started: Instant::now(),
        }
    }

    /// Records the end of the request; `node` is `-` when none was reached.
    pub fn finish(&self, node: &Arc<str>, end: End, ttfb: Option<Duration>, retries: u32) {
        let elapsed = self.started.elapsed();
        with_handles((self.api, self.model.clone(), node.clone(), end), |h| {
            h.requests.increment(1);
            h.duration.record(elapsed.as_secs_f64());
            if let Some(ttfb) = ttfb {
                h.ttfb.record(ttfb.as_secs_f64());
            }
        });
        let status = match end {
            End::Status(code) => Some(code),
            _ => None,
        };
        tracing::info!(
            request_id = %self.request_id,
            api = self.api,
            model = %self.model,
            node = %node,
            end = end.as_log(),
            status,
            retries,
            duration_ms = elapsed.as_secs_f64() * 1e3,
            ttfb_ms = ttfb.map(|t| t.as_secs_f64() * 1e3),
            "request finished"
        );
    }
}
