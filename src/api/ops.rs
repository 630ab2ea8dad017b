//! Operations endpoints for load balancers, orchestrators and Prometheus.

use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::{actors::health::Health, cluster::Cluster, dispatch::Gateway};

/// The cluster link, when this replica is in a cluster.
type ClusterData = web::Data<Option<std::sync::Arc<Cluster>>>;

/// 200 while the process serves HTTP at all.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when at least one node is up: before that, every inference request would fail.
pub async fn readyz(gw: web::Data<Gateway>, cluster: ClusterData) -> HttpResponse {
    let Ok(pool) = gw.pool().await else {
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not_ready", "reason": "selector unavailable" }));
    };
    let up = pool
        .iter()
        .filter(|n| n.status.health == Health::Up)
        .count();
    let nodes: serde_json::Map<String, serde_json::Value> = pool
        .iter()
        .map(|n| (n.status.name.to_string(), json!(n.status.health.as_str())))
        .collect();
    let mut body = json!({ "status": if up > 0 { "ready" } else { "not_ready" }, "nodes_up": up, "nodes": nodes });
    // The cluster link is a detail, not a condition: a replica serves on what it has while
    // NATS is away.
    if let Some(cluster) = cluster.as_ref() {
        body["cluster"] = json!(cluster.status());
    }
    if up > 0 {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn version() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "name": "drover", "version": env!("CARGO_PKG_VERSION") }))
}

pub async fn metrics(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
