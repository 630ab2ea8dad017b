//! The admin API under `/admin/api/`: nodes for now (list, add, read, replace, remove,
//! drain). Every change is written to the database first (with its history), then applied
//! to the running selector at once, so the next request already routes by it. Callers must
//! send the admin token as `Authorization: Bearer …`.

use std::sync::Arc;

use actix_web::{
    dev::Payload, http::StatusCode, web, FromRequest, HttpRequest, HttpResponse, ResponseError,
};
use serde_json::json;

use crate::{
    actors::messages::{ApplySelectorConfig, RemoveNode, SetDrained, UpsertNode},
    config::{AuthConfig, NodeConfig, SelectorConfig},
    error::GatewayError,
    routing::Router,
    server::SELECTOR_SETTING,
    store::{nodes::NodeRow, records::LogQuery, Store, StoreError},
};

/// What the admin handlers share.
pub struct Admin {
    store: Store,
    router: Arc<Router>,
    token: String,
}

impl Admin {
    pub fn new(store: Store, router: Arc<Router>, auth: &AuthConfig) -> Admin {
        Admin {
            store,
            router,
            token: auth.admin_token.clone(),
        }
    }
}

/// Admin errors: `{"error": "..."}` with a status, naming the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the admin API is off: set auth.admin_token (DROVER_AUTH__ADMIN_TOKEN)")]
    Off,
    #[error("missing or wrong admin token: send Authorization: Bearer <token>")]
    Unauthorized,
    #[error("{0}")]
    Invalid(String),
    #[error("node {0:?} does not exist")]
    NotFound(String),
    #[error("node {0:?} already exists: PUT /admin/api/nodes/{0} to change it")]
    Conflict(String),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Gateway(#[from] GatewayError),
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::Off => StatusCode::FORBIDDEN,
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Gateway(e) => e.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(json!({ "error": self.to_string() }))
    }
}

/// Proof that the caller sent the admin token.
pub struct AdminCaller;

impl FromRequest for AdminCaller {
    type Error = AdminError;
    type Future = std::future::Ready<Result<AdminCaller, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .app_data::<web::Data<Admin>>()
            .map(|a| a.token.as_str())
            .unwrap_or_default();
        let sent = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        std::future::ready(match sent {
            _ if token.is_empty() => Err(AdminError::Off),
            Some(sent) if constant_time_eq(sent.as_bytes(), token.as_bytes()) => Ok(AdminCaller),
            _ => Err(AdminError::Unauthorized),
        })
    }
}

/// Compares without an early exit, so the time taken says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON body, with errors that name the field.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    crate::wire::parse(body).map_err(|e| AdminError::Invalid(e.to_string()))
}

fn checked(node: NodeConfig) -> Result<NodeConfig, AdminError> {
    node.check()
        .map_err(|(field, message)| AdminError::Invalid(format!("{field}: {message}")))?;
    Ok(node)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/api")
            .route("/nodes", web::get().to(list_nodes))
            .route("/nodes", web::post().to(add_node))
            .route("/nodes/{name}", web::get().to(get_node))
            .route("/nodes/{name}", web::put().to(put_node))
            .route("/nodes/{name}", web::delete().to(delete_node))
            .route("/nodes/{name}/drain", web::post().to(drain_node))
            .route("/nodes/{name}/undrain", web::post().to(undrain_node))
            .route("/logs", web::get().to(logs))
            .route("/settings", web::get().to(get_settings))
            .route("/settings", web::put().to(put_settings)),
    );
}

type Reply = Result<HttpResponse, AdminError>;

/// The nodes as stored, each with its live state (health, in flight, models).
async fn list_nodes(_: AdminCaller, admin: web::Data<Admin>) -> Reply {
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

async fn get_node(_: AdminCaller, admin: web::Data<Admin>, name: web::Path<String>) -> Reply {
    let row = admin
        .store
        .get_node(&name)
        .await?
        .ok_or_else(|| AdminError::NotFound(name.into_inner()))?;
    Ok(HttpResponse::Ok().json(row))
}

/// Takes the same fields as a `[[nodes]]` entry.
async fn add_node(_: AdminCaller, admin: web::Data<Admin>, body: web::Bytes) -> Reply {
    let node = checked(parse::<NodeConfig>(&body)?)?;
    if admin.store.get_node(&node.name).await?.is_some() {
        return Err(AdminError::Conflict(node.name));
    }
    let row = NodeRow::from_config(&node, false);
    admin.store.put_node(&row, "admin").await?;
    admin.router.selector().do_send(UpsertNode(node));
    Ok(HttpResponse::Created().json(row))
}

/// Replaces a node's settings; the name in the path wins (a body may omit it).
async fn put_node(
    _: AdminCaller,
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
    admin.store.put_node(&row, "admin").await?;
    admin.router.selector().do_send(UpsertNode(node));
    Ok(HttpResponse::Ok().json(row))
}

async fn delete_node(_: AdminCaller, admin: web::Data<Admin>, name: web::Path<String>) -> Reply {
    if !admin.store.delete_node(&name, "admin").await? {
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

async fn drain_node(
    caller: AdminCaller,
    admin: web::Data<Admin>,
    name: web::Path<String>,
) -> Reply {
    set_drained(caller, admin, name.into_inner(), true).await
}

async fn undrain_node(
    caller: AdminCaller,
    admin: web::Data<Admin>,
    name: web::Path<String>,
) -> Reply {
    set_drained(caller, admin, name.into_inner(), false).await
}

async fn set_drained(
    _: AdminCaller,
    admin: web::Data<Admin>,
    name: String,
    drained: bool,
) -> Reply {
    let Some(mut row) = admin.store.get_node(&name).await? else {
        return Err(AdminError::NotFound(name));
    };
    row.drained = drained;
    row.updated_ms = crate::store::nodes::now_ms();
    admin.store.put_node(&row, "admin").await?;
    let applied = admin
        .router
        .selector()
        .send(SetDrained { name, drained })
        .await;
    applied.map_err(|e| GatewayError::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(row))
}

/// `GET /admin/api/logs?model=&node=&key=&status=&since=&until=&limit=&cursor=`: request
/// records, newest first; `next_cursor` fetches the next page.
async fn logs(_: AdminCaller, admin: web::Data<Admin>, req: HttpRequest) -> Reply {
    let query = web::Query::<LogQuery>::from_query(req.query_string())
        .map_err(|e| AdminError::Invalid(format!("query: {e}")))?
        .into_inner();
    query.check().map_err(AdminError::Invalid)?;
    Ok(HttpResponse::Ok().json(admin.store.query_records(&query).await?))
}

/// Settings an operator may change at runtime.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    selector: SelectorConfig,
}

async fn get_settings(_: AdminCaller, admin: web::Data<Admin>) -> Reply {
    let selector: serde_json::Value = match admin.store.get_setting(SELECTOR_SETTING).await? {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| AdminError::Invalid(e.to_string()))?
        }
        None => serde_json::Value::Null,
    };
    Ok(HttpResponse::Ok().json(json!({ "selector": selector })))
}

/// Replaces the selector settings (strategy, prefer_loaded, loaded_busy, max_queue,
/// queue_timeout); absent fields take their defaults. Applied to the next request.
async fn put_settings(_: AdminCaller, admin: web::Data<Admin>, body: web::Bytes) -> Reply {
    let settings: Settings = parse(&body)?;
    if settings.selector.queue_timeout.is_zero() {
        return Err(AdminError::Invalid(
            "selector.queue_timeout: must be above zero".into(),
        ));
    }
    let value =
        serde_json::to_value(&settings.selector).map_err(|e| AdminError::Invalid(e.to_string()))?;
    admin
        .store
        .put_setting(SELECTOR_SETTING, &value, "admin")
        .await?;
    admin
        .router
        .selector()
        .do_send(ApplySelectorConfig(settings.selector));
    Ok(HttpResponse::Ok().json(json!({ "selector": value })))
}
