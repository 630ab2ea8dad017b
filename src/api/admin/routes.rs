//! Model routes: list, add, read, replace, remove. A change is stored (with its history),
//! then the router's route table is rebuilt from the database, so the next request plans by it.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{
    auth::{Reader, Writer},
    parse, Admin, AdminError, Reply,
};
use crate::{
    changes::Change,
    config::RouteConfig,
    store::routes::{RouteRow, RouteView},
};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/routes", web::get().to(list_routes))
        .route("/routes", web::post().to(add_route))
        .route("/routes/{alias}", web::get().to(get_route))
        .route("/routes/{alias}", web::put().to(put_route))
        .route("/routes/{alias}", web::delete().to(delete_route));
}

/// `GET /admin/api/routes`.
#[derive(Serialize, ToSchema)]
pub(super) struct RouteList {
    routes: Vec<RouteView>,
}

/// The body of `PUT /admin/api/routes/{alias}`: a `RouteConfig` whose `alias` may be left
/// out (the path's wins). Only for the document; the handler parses a `RouteConfig`, and a
/// unit test keeps the two alike.
#[derive(ToSchema)]
#[allow(dead_code)] // read by the OpenAPI derive only
pub(super) struct RouteChange {
    /// Ignored: the alias in the path wins.
    alias: Option<String>,
    target_model: String,
    nodes: Option<Vec<String>>,
    fallbacks: Option<Vec<String>>,
}

/// Checks a route against what exists: its nodes must be known and its fallbacks routes.
async fn checked(admin: &Admin, route: RouteConfig) -> Result<RouteConfig, AdminError> {
    route
        .check()
        .map_err(|(field, message)| AdminError::Invalid(format!("{field}: {message}")))?;
    for node in &route.nodes {
        if admin.store.get_node(node).await?.is_none() {
            return Err(AdminError::Invalid(format!(
                "nodes: node {node:?} does not exist"
            )));
        }
    }
    for fallback in &route.fallbacks {
        if admin.store.get_route(fallback).await?.is_none() {
            return Err(AdminError::Invalid(format!(
                "fallbacks: route {fallback:?} does not exist"
            )));
        }
    }
    Ok(route)
}

fn view(row: &RouteRow) -> Result<RouteView, AdminError> {
    Ok(row.view()?)
}

/// List routes
///
/// Every route, by alias.
#[utoipa::path(
    get,
    path = "/admin/api/routes",
    tag = "routes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every route", body = RouteList),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn list_routes(_: Reader, admin: web::Data<Admin>) -> Reply {
    let routes = admin
        .store
        .list_routes()
        .await?
        .iter()
        .map(view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(RouteList { routes }))
}

/// Get a route
#[utoipa::path(
    get,
    path = "/admin/api/routes/{alias}",
    tag = "routes",
    params(("alias" = String, Path, description = "The route's public model name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The route", body = RouteView),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn get_route(
    _: Reader,
    admin: web::Data<Admin>,
    alias: web::Path<String>,
) -> Reply {
    let row = admin.store.get_route(&alias).await?;
    let row = row.ok_or_else(|| AdminError::Missing("route", alias.into_inner()))?;
    Ok(HttpResponse::Ok().json(view(&row)?))
}

/// Add a route
///
/// Its nodes must exist, and its fallbacks must be routes.
#[utoipa::path(
    post,
    path = "/admin/api/routes",
    tag = "routes",
    request_body = RouteConfig,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = RouteView),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 409, response = super::openapi::Conflict),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn add_route(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    body: web::Bytes,
) -> Reply {
    let route = checked(&admin, parse::<RouteConfig>(&body)?).await?;
    if admin.store.get_route(&route.alias).await?.is_some() {
        return Err(AdminError::Clash(format!(
            "route {0:?} already exists: PUT /admin/api/routes/{0} to change it",
            route.alias
        )));
    }
    let row = RouteRow::from_config(&route);
    let change = Change::Route {
        alias: route.alias.clone(),
        route: Some(route),
    };
    admin.commit(change, &caller).await?;
    Ok(HttpResponse::Created().json(view(&row)?))
}

/// Replace a route
///
/// The alias in the path wins (a body may omit it).
#[utoipa::path(
    put,
    path = "/admin/api/routes/{alias}",
    tag = "routes",
    params(("alias" = String, Path, description = "The route's public model name")),
    request_body = RouteChange,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Replaced", body = RouteView),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn put_route(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    alias: web::Path<String>,
    body: web::Bytes,
) -> Reply {
    if admin.store.get_route(&alias).await?.is_none() {
        return Err(AdminError::Missing("route", alias.into_inner()));
    }
    let mut value: serde_json::Value = parse(&body)?;
    let Some(fields) = value.as_object_mut() else {
        return Err(AdminError::Invalid("expected a JSON object".into()));
    };
    fields.insert("alias".into(), json!(alias.as_str()));
    let route = serde_json::from_value::<RouteConfig>(value)
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
    let route = checked(&admin, route).await?;
    let row = RouteRow::from_config(&route);
    let change = Change::Route {
        alias: route.alias.clone(),
        route: Some(route),
    };
    admin.commit(change, &caller).await?;
    Ok(HttpResponse::Ok().json(view(&row)?))
}

/// Remove a route
///
/// Routes that fall back to it skip it from then on.
#[utoipa::path(
    delete,
    path = "/admin/api/routes/{alias}",
    tag = "routes",
    params(("alias" = String, Path, description = "The route's public model name")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn delete_route(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    alias: web::Path<String>,
) -> Reply {
    if admin.store.get_route(&alias).await?.is_none() {
        return Err(AdminError::Missing("route", alias.into_inner()));
    }
    let change = Change::Route {
        alias: alias.into_inner(),
        route: None,
    };
    admin.commit(change, &caller).await?;
    Ok(HttpResponse::NoContent().finish())
}
