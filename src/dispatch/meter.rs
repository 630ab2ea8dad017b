//! One request's measurements, written once when it ends (metrics and the access log line).

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::metrics as m;

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

    /// Records the end of the request. `status` is the HTTP status sent, or a word for ends
    /// that have none (`stream_error`, `client_closed`); `node` is `-` when none was reached.
    pub fn finish(&self, node: &str, status: &str, ttfb: Option<Duration>, retries: u32) {
        let elapsed = self.started.elapsed();
        let labels = [
            ("api", self.api.to_owned()),
            ("model", self.model.to_string()),
            ("node", node.to_owned()),
            ("status", status.to_owned()),
        ];
        metrics::counter!(m::REQUESTS, &labels).increment(1);
        metrics::histogram!(m::REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
        if let Some(ttfb) = ttfb {
            metrics::histogram!(m::TTFT, "api" => self.api, "node" => node.to_owned())
                .record(ttfb.as_secs_f64());
        }
        tracing::info!(
            request_id = %self.request_id,
            api = self.api,
            model = %self.model,
            node,
            status,
            retries,
            duration_ms = elapsed.as_secs_f64() * 1e3,
            ttfb_ms = ttfb.map(|t| t.as_secs_f64() * 1e3),
            "request finished"
        );
    }
}
