//! `GET /admin/api/cluster`: every live replica's status and headline numbers, gathered from
//! the replicas themselves by one scatter-gather request over NATS.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::{auth::Reader, Admin, AdminError, Reply};
use crate::cluster::{bridge::gather, membership::Heartbeat};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/cluster", web::get().to(cluster));
}

/// How long replies are awaited; replicas answer from memory, within milliseconds.
const GATHER: Duration = Duration::from_millis(500);

/// The cluster as its replicas report it.
#[derive(Serialize, ToSchema)]
pub(super) struct ClusterView {
    /// False on a standalone replica (then only this replica is listed, from memory).
    enabled: bool,
    name: Option<String>,
    /// The replica that answered this call.
    replica: Option<String>,
    /// The newest config revision any replica applied.
    revision: u64,
    replicas: Vec<ReplicaView>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct ReplicaView {
    #[serde(flatten)]
    #[schema(inline)]
    status: Heartbeat,
    /// How many revisions this replica is behind the newest.
    revision_lag: u64,
}

/// The cluster's replicas
///
/// Each live replica's id, address, version, applied config revision and lag, uptime, NATS
/// connection, in-flight requests and traffic of the last second (requests, errors and
/// tokens per second, p50 and p99 latency).
#[utoipa::path(
    get,
    path = "/admin/api/cluster",
    tag = "cluster",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The replicas", body = ClusterView),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn cluster(_: Reader, admin: web::Data<Admin>) -> Reply {
    let Some(sync) = &admin.sync else {
        return Ok(HttpResponse::Ok().json(ClusterView {
            enabled: false,
            name: None,
            replica: None,
            revision: 0,
            replicas: Vec::new(),
        }));
    };
    let cluster = sync.cluster();
    if !cluster.connected() {
        return Err(AdminError::Cluster(
            crate::cluster::config_sync::WriteError::Unavailable,
        ));
    }
    let replicas = gather(&cluster.client, &cluster.name, GATHER)
        .await
        .map_err(|e| AdminError::Invalid(format!("gathering the replicas failed: {e}")))?;
    let revision = replicas.iter().map(|r| r.revision).max().unwrap_or(0);
    Ok(HttpResponse::Ok().json(ClusterView {
        enabled: true,
        name: Some(cluster.name.clone()),
        replica: Some(cluster.replica.clone()),
        revision,
        replicas: replicas
            .into_iter()
            .map(|status| ReplicaView {
                revision_lag: revision.saturating_sub(status.revision),
                status,
            })
            .collect(),
    }))
}
