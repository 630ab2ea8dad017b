//! Prometheus metrics: names live here so the README's table and the code cannot drift apart.
//! The recorder is process-global (the `metrics` crate's design); in-process test servers share it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const REQUESTS: &str = "drover_requests_total";
pub const REQUEST_DURATION: &str = "drover_request_duration_seconds";
pub const TTFT: &str = "drover_time_to_first_byte_seconds";
pub const CLUSTER_CONNECTED: &str = "drover_cluster_nats_connected";
pub const CLUSTER_REPLICAS: &str = "drover_cluster_replicas";
pub const CLUSTER_MESSAGES: &str = "drover_cluster_messages_total";
pub const CLUSTER_REVISION: &str = "drover_cluster_applied_revision";
pub const CLUSTER_APPLY_ERRORS: &str = "drover_cluster_apply_errors_total";
pub const CLUSTER_REVISION_LAG: &str = "drover_cluster_revision_lag";
pub const TOKENS: &str = "drover_tokens_total";
pub const RETRIES: &str = "drover_retries_total";
pub const QUEUE_WAITS: &str = "drover_queue_waits_total";
pub const QUEUE_TIMEOUTS: &str = "drover_queue_timeouts_total";
pub const STREAM_ERRORS: &str = "drover_stream_errors_total";
pub const NODE_UP: &str = "drover_node_up";
pub const NODE_IN_FLIGHT: &str = "drover_node_in_flight";
pub const NODE_LATENCY: &str = "drover_node_latency_ewma_seconds";
pub const NODE_TTFT: &str = "drover_node_ttft_ewma_seconds";
pub const NODE_HEALTH_TRANSITIONS: &str = "drover_node_health_transitions_total";
pub const PROBES: &str = "drover_probes_total";
pub const LOG_WRITTEN: &str = "drover_request_log_written_total";
pub const LOG_DROPPED: &str = "drover_request_log_dropped_total";
pub const LOG_WRITE_ERRORS: &str = "drover_request_log_write_errors_total";

/// Latency buckets from 1 ms to 5 min: LLM answers span that whole range.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder once and returns the handle that renders `/metrics`.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    zero();
                    handle
                }
                // Another recorder is installed (an embedding program's): render an empty one.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Counters with no labels, or only fixed ones, exported as 0 from the start: a series that
/// appears only at its first event shows "no data" on dashboards (and breaks `rate()` and
/// alerts) where 0 is the truth.
fn zero() {
    for name in [LOG_WRITTEN, QUEUE_WAITS, QUEUE_TIMEOUTS] {
        metrics::counter!(name).increment(0);
    }
    for reason in [
        "queue_full",
        "content_buffer_full",
        "buffer_full",
        "shutdown",
    ] {
        metrics::counter!(LOG_DROPPED, "reason" => reason).increment(0);
    }
    for kind in ["connect", "pool", "query"] {
        metrics::counter!(LOG_WRITE_ERRORS, "kind" => kind).increment(0);
    }
}

/// The cluster's series, from the start of a replica in cluster mode: counters at 0, and the
/// membership gauges at what a replica knows before it hears anyone (itself, no lag).
pub fn zero_cluster() {
    for direction in ["in", "out"] {
        metrics::counter!(CLUSTER_MESSAGES, "direction" => direction).increment(0);
    }
    metrics::counter!(CLUSTER_APPLY_ERRORS).increment(0);
    metrics::gauge!(CLUSTER_REPLICAS).set(1.0);
    metrics::gauge!(CLUSTER_REVISION_LAG).set(0.0);
}

/// A node's counters at 0 from the moment it is added.
pub fn zero_node(node: &str) {
    for result in ["ok", "error"] {
        metrics::counter!(PROBES, "node" => node.to_owned(), "result" => result).increment(0);
    }
    metrics::counter!(STREAM_ERRORS, "node" => node.to_owned()).increment(0);
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        REQUESTS,
        "Inference requests by api, model, node and status"
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Whole request time by api, model, node and status"
    );
    describe_histogram!(TTFT, Unit::Seconds, "Time to the first byte of the answer");
    describe_gauge!(
        CLUSTER_CONNECTED,
        "1 while connected to NATS (cluster mode)"
    );
    describe_gauge!(
        CLUSTER_REPLICAS,
        "Live replicas this replica hears, itself included"
    );
    describe_gauge!(
        CLUSTER_REVISION,
        "The last cluster config revision this replica applied"
    );
    describe_gauge!(
        CLUSTER_REVISION_LAG,
        "Newest config revision a peer reports minus this replica's applied one"
    );
    describe_counter!(
        CLUSTER_APPLY_ERRORS,
        "Cluster config changes this replica could not apply (and skipped)"
    );
    describe_counter!(
        CLUSTER_MESSAGES,
        "Cluster bus messages by direction (in or out)"
    );
    describe_counter!(
        TOKENS,
        "Tokens nodes reported, by model, node and direction (prompt or completion)"
    );
    describe_counter!(
        RETRIES,
        "Attempts retried on another node, by node and reason"
    );
    describe_counter!(QUEUE_WAITS, "Requests that waited for a free node slot");
    describe_counter!(
        QUEUE_TIMEOUTS,
        "Requests that gave up waiting for a slot (503)"
    );
    describe_counter!(STREAM_ERRORS, "Answers that broke off after the first byte");
    describe_gauge!(NODE_UP, "1 when the node is up, else 0");
    describe_gauge!(
        NODE_IN_FLIGHT,
        "Requests this replica is running on the node"
    );
    describe_gauge!(
        NODE_LATENCY,
        Unit::Seconds,
        "EWMA of time to response headers"
    );
    describe_gauge!(
        NODE_TTFT,
        Unit::Seconds,
        "EWMA of time to the first answer byte"
    );
    describe_counter!(
        NODE_HEALTH_TRANSITIONS,
        "Health changes by node, from and to"
    );
    describe_counter!(PROBES, "Active probes by node and result");
    describe_counter!(LOG_WRITTEN, "Request records written to the database");
    describe_counter!(
        LOG_DROPPED,
        "Request records lost, by reason (queue_full, buffer_full, shutdown)"
    );
    describe_counter!(
        LOG_WRITE_ERRORS,
        "Failed batch writes of request records, by kind"
    );
}
