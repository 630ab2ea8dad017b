//! Nodes: list, add, read, replace, remove, drain, probe; and the live pool.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::{
    auth::{Reader, Writer},
    parse, Admin, AdminError, Reply,
};
use crate::{
    actors::messages::{NodeState, ProbeNode, RemoveNode, SetDrained, UpsertNode},
    config::NodeConfig,
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

fn checked(node: NodeConfig) -> Result<NodeConfig, AdminError> {
    node.check()
        .map_err(|(field, message)| AdminError::Invalid(format!("{field}: {message}")))?;
    Ok(node)
}

/// The nodes as stored, each with its live state (health, in flight, models).
async fn list_nodes(_: Reader, admin: web::Data<Admin>) -> Reply {
    let rows = admin.store.list_nodes().await?;
    let pool = admin.router.pool().await?;
    let nodes: Vec<_> = rows
        .iter()
        .map(|row| {
            let live = pool.iter().find(|n| *n.status.name == *row.name);
            json!({ "config": row, "state": live })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "nodes": nodes })))
}

async fn get_node(_: Reader, admin: web::Data<Admin>, name: web::Path<String>) -> Reply {
    let row = admin
        .store
        .get_node(&name)
        .await?
        .ok_or_else(|| AdminError::NotFound(name.into_inner()))?;
    Ok(HttpResponse::Ok().json(row))
}

/// Takes the same fields as a `[[nodes]]` entry.
async fn add_node(Writer(caller): Writer, admin: web::Data<Admin>, body: web::Bytes) -> Reply {
    let node = checked(parse::<NodeConfig>(&body)?)?;
    if admin.store.get_node(&node.name).await?.is_some() {
        return Err(AdminError::Conflict(node.name));
    }
    let row = NodeRow::from_config(&node, false);
    admin.store.put_node(&row, &caller.actor).await?;
    admin.router.selector().do_send(UpsertNode(node));
    Ok(HttpResponse::Created().json(row))
}

/// Replaces a node's settings; the name in the path wins (a body may omit it).
async fn put_node(
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
        }
        None => return Err(AdminError::Invalid("expected a JSON object".into())),
    }
    let node = checked(
        serde_json::from_value::<NodeConfig>(value)
            .map_err(|e| AdminError::Invalid(e.to_string()))?,
    )?;
    let row = NodeRow::from_config(&node, before.drained);
    admin.store.put_node(&row, &caller.actor).await?;
    admin.router.selector().do_send(UpsertNode(node));
    Ok(HttpResponse::Ok().json(row))
}

async fn delete_node(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    name: web::Path<String>,
) -> Reply {
    if !admin.store.delete_node(&name, &caller.actor).await? {
        return Err(AdminError::NotFound(name.into_inner()));
    }
    let removed = admin
        .router
        .selector()
        .send(RemoveNode(name.into_inner()))
        .await;
    removed.map_err(|e| GatewayError::Internal(e.to_string()))??;
    Ok(HttpResponse::NoContent().finish())
}

async fn drain_node(caller: Writer, admin: web::Data<Admin>, name: web::Path<String>) -> Reply {
    set_drained(caller, admin, name.into_inner(), true).await
}

async fn undrain_node(caller: Writer, admin: web::Data<Admin>, name: web::Path<String>) -> Reply {
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
    admin.store.put_node(&row, &caller.actor).await?;
    let applied = admin
        .router
        .selector()
        .send(SetDrained { name, drained })
        .await;
    applied.map_err(|e| GatewayError::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(row))
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

/// The running pool as its actors see it, nothing from the database: health, drained, in
/// flight, latencies, last error, models, version.
async fn pool(_: Reader, admin: web::Data<Admin>) -> Reply {
    let nodes: Vec<NodeState> = admin.router.pool().await?.into_iter().map(live).collect();
    Ok(HttpResponse::Ok().json(json!({ "nodes": nodes })))
}

/// Probes a node now, without waiting for its next health check (after changing its models
/// by hand, say), and answers with its fresh state; the routing table already has it.
async fn probe_node(_: Writer, admin: web::Data<Admin>, name: web::Path<String>) -> Reply {
    let name = name.into_inner();
    let probed = admin.router.selector().send(ProbeNode(name.clone())).await;
    match probed.map_err(|e| GatewayError::Internal(e.to_string()))? {
        Ok(state) => Ok(HttpResponse::Ok().json(live(state))),
        Err(GatewayError::UnknownNode(_)) => Err(AdminError::NotFound(name)),
        Err(e) => Err(e.into()),
    }
}
