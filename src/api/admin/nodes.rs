//! Nodes: list, add, read, replace, remove, drain, probe; and the live pool.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{
    auth::{Reader, Writer},
    parse, Admin, AdminError, Reply,
};
use crate::{
    actors::messages::{NodeState, ProbeNode},
    changes::Change,
    config::{NodeConfig, NodeKind, Priority},
    error::GatewayError,
    store::nodes::NodeRow,
};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/nodes", web::get().to(list_nodes))
        .route("/nodes", web::post().to(add_node))
        .route("/nodes/{name}", web::get().to(get_node))
        .route("/nodes/{name}", web::put().to(put_node))
        .route("/nodes/{name}", web::delete().to(delete_node))
        .route("/nodes/{name}/drain", web::post().to(drain_node))
        .route("/nodes/{name}/undrain", web::post().to(undrain_node))
        .route("/nodes/{name}/probe", web::post().to(probe_node))
        .route("/pool", web::get().to(pool));
}

/// `GET /admin/api/nodes`.
#[derive(Serialize, ToSchema)]
pub(super) struct NodeList {
    nodes: Vec<NodeEntry>,
}

/// A node as stored, and as the running pool sees it (null while its actor starts).
#[derive(Serialize, ToSchema)]
pub(super) struct NodeEntry {
    config: NodeRow,
    state: Option<NodeState>,
}

/// `GET /admin/api/pool`.
#[derive(Serialize, ToSchema)]
pub(super) struct PoolView {
    nodes: Vec<NodeState>,
}

/// The body of `PUT /admin/api/nodes/{name}`: a `NodeConfig` whose `name` may be left out
/// (the path's wins). Only for the document; the handler parses a `NodeConfig`, and a unit
/// test keeps the two alike.
#[derive(ToSchema)]
#[allow(dead_code)] // read by the OpenAPI derive only
pub(super) struct NodeChange {
    /// Ignored: the name in the path wins.
    name: Option<String>,
    kind: Option<NodeKind>,
    url: String,
    priority: Option<Priority>,
    #[schema(default = 1, minimum = 1)]
    weight: Option<u32>,
    #[schema(minimum = 1)]
    max_concurrency: Option<u32>,
    /// The node's own API key. Left out: the stored one is kept; `null`: removed.
    #[schema(write_only)]
    api_key: Option<String>,
    models: Option<Vec<String>>,
    #[schema(default = true)]
    probe: Option<bool>,
    /// `openai` nodes: the node serves the Responses API itself (Responses clients pass
    /// through to it).
    #[schema(default = false)]
    responses: Option<bool>,
}

fn checked(node: NodeConfig) -> Result<NodeConfig, AdminError> {
    node.check()
        .map_err(|(field, message)| AdminError::Invalid(format!("{field}: {message}")))?;
    Ok(node)
}

/// List nodes
///
/// The nodes as stored, each with its live state (health, in flight, models).
#[utoipa::path(
    get,
    path = "/admin/api/nodes",
    tag = "nodes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every node, by name", body = NodeList),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 500, response = super::openapi::Internal),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn list_nodes(_: Reader, admin: web::Data<Admin>) -> Reply {
    let rows = admin.store.list_nodes().await?;
    let pool = admin.router.pool().await?;
    let nodes = rows
        .into_iter()
        .map(|row| {
            let state = pool.iter().find(|n| *n.status.name == *row.name).cloned();
            NodeEntry { config: row, state }
        })
        .collect();
    Ok(HttpResponse::Ok().json(NodeList { nodes }))
}

/// Get a node
///
/// One node's stored settings.
#[utoipa::path(
    get,
    path = "/admin/api/nodes/{name}",
    tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The node", body = NodeRow),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn get_node(_: Reader, admin: web::Data<Admin>, name: web::Path<String>) -> Reply {
    let row = admin
        .store
        .get_node(&name)
        .await?
        .ok_or_else(|| AdminError::NotFound(name.into_inner()))?;
    Ok(HttpResponse::Ok().json(row))
}

/// Add a node
///
/// Takes the same fields as a `[[nodes]]` entry. Routable on the next request once a probe
/// finds it up.
#[utoipa::path(
    post,
    path = "/admin/api/nodes",
    tag = "nodes",
    request_body = NodeConfig,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = NodeRow),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 409, response = super::openapi::Conflict),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn add_node(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    body: web::Bytes,
) -> Reply {
    let node = checked(parse::<NodeConfig>(&body)?)?;
    if admin.store.get_node(&node.name).await?.is_some() {
        return Err(AdminError::Conflict(node.name));
    }
    let row = NodeRow::from_config(&node, false);
    admin.commit(node_change(&row), &caller).await?;
    Ok(HttpResponse::Created().json(row))
}

/// Replace a node
///
/// The name in the path wins (a body may omit it). Absent fields take their defaults; drained
/// stays as it was.
#[utoipa::path(
    put,
    path = "/admin/api/nodes/{name}",
    tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    request_body = NodeChange,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Replaced", body = NodeRow),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn put_node(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Reply {
    let Some(before) = admin.store.get_node(&name).await? else {
        return Err(AdminError::NotFound(name.into_inner()));
    };
    let mut value: serde_json::Value = parse(&body)?;
    match value.as_object_mut() {
        Some(fields) => {
            fields.insert("name".into(), json!(name.as_str()));
            // What `GET` shows may be sent back as it is: its read-only fields are dropped
            // (draining has its own endpoints).
            fields.remove("drained");
            fields.remove("updated_ms");
            // A change that does not mention the key, or sends back the masked form the API
            // showed, keeps it: it is never shown whole, so a client that read the node and
            // wrote it back could not send it.
            if let Some(key) = &before.api_key {
                let masked = json!(crate::store::nodes::mask(key));
                if fields.get("api_key").is_none_or(|sent| *sent == masked) {
                    fields.insert("api_key".into(), json!(key));
                }
            }
        }
        None => return Err(AdminError::Invalid("expected a JSON object".into())),
    }
    let node = checked(
        serde_json::from_value::<NodeConfig>(value)
            .map_err(|e| AdminError::Invalid(e.to_string()))?,
    )?;
    let row = NodeRow::from_config(&node, before.drained);
    admin.commit(node_change(&row), &caller).await?;
    Ok(HttpResponse::Ok().json(row))
}

/// Remove a node
///
/// Requests running on it finish there.
#[utoipa::path(
    delete,
    path = "/admin/api/nodes/{name}",
    tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 500, response = super::openapi::Internal),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn delete_node(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    name: web::Path<String>,
) -> Reply {
    if admin.store.get_node(&name).await?.is_none() {
        return Err(AdminError::NotFound(name.into_inner()));
    }
    let change = Change::Node {
        name: name.into_inner(),
        row: None,
    };
    admin.commit(change, &caller).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Drain a node
///
/// Stops new requests to a node; requests running on it finish. Stored: a restart keeps it.
#[utoipa::path(
    post,
    path = "/admin/api/nodes/{name}/drain",
    tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Drained", body = NodeRow),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 500, response = super::openapi::Internal),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn drain_node(
    caller: Writer,
    admin: web::Data<Admin>,
    name: web::Path<String>,
) -> Reply {
    set_drained(caller, admin, name.into_inner(), true).await
}

/// Undrain a node
///
/// Lets a drained node take new requests again.
#[utoipa::path(
    post,
    path = "/admin/api/nodes/{name}/undrain",
    tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Taking requests again", body = NodeRow),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 500, response = super::openapi::Internal),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn undrain_node(
    caller: Writer,
    admin: web::Data<Admin>,
    name: web::Path<String>,
) -> Reply {
    set_drained(caller, admin, name.into_inner(), false).await
}

async fn set_drained(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    name: String,
    drained: bool,
) -> Reply {
    let Some(mut row) = admin.store.get_node(&name).await? else {
        return Err(AdminError::NotFound(name));
    };
    row.drained = drained;
    row.updated_ms = crate::store::nodes::now_ms();
    admin.commit(node_change(&row), &caller).await?;
    Ok(HttpResponse::Ok().json(row))
}

fn node_change(row: &NodeRow) -> Change {
    Change::Node {
        name: row.name.clone(),
        row: Some(row.clone()),
    }
}

/// A node's state with its latency averages read now. Leases update them on every request;
/// the status holds them as of the node's last report, up to a probe interval ago.
fn live(mut state: NodeState) -> NodeState {
    let stats = state.target.stats.clone();
    let status = Arc::make_mut(&mut state.status);
    status.latency_ewma_ms = stats.latency.get().or(status.latency_ewma_ms);
    status.ttfb_ewma_ms = stats.ttfb.get().or(status.ttfb_ewma_ms);
    state
}

/// The live pool
///
/// The running pool as its actors see it, nothing from the database: health, drained, in
/// flight, latencies, last error, models, version.
#[utoipa::path(
    get,
    path = "/admin/api/pool",
    tag = "nodes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every running node", body = PoolView),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 500, response = super::openapi::Internal),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn pool(_: Reader, admin: web::Data<Admin>) -> Reply {
    let nodes: Vec<NodeState> = admin.router.pool().await?.into_iter().map(live).collect();
    Ok(HttpResponse::Ok().json(PoolView { nodes }))
}

/// Probe a node now
///
/// Without waiting for its next health check (after changing its models by hand, say);
/// answers with its fresh state, which the routing table already has.
#[utoipa::path(
    post,
    path = "/admin/api/nodes/{name}/probe",
    tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The node's state after the probe", body = NodeState),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 500, response = super::openapi::Internal),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn probe_node(
    _: Writer,
    admin: web::Data<Admin>,
    name: web::Path<String>,
) -> Reply {
    let name = name.into_inner();
    let probed = admin.router.selector().send(ProbeNode(name.clone())).await;
    match probed.map_err(|e| GatewayError::Internal(e.to_string()))? {
        Ok(state) => Ok(HttpResponse::Ok().json(live(state))),
        Err(GatewayError::UnknownNode(_)) => Err(AdminError::NotFound(name)),
        Err(e) => Err(e.into()),
    }
}
