//! The admin API under `/admin/api/`. Every change is written to the database first (with its history), then applied
//! to the running selector at once, so the next request already routes by it. Callers must
//! send the admin token as `Authorization: Bearer …`. Its OpenAPI document is served at
//! `/admin/api/openapi.json` and shown at `/admin/docs` (see `openapi`).

use std::{collections::HashMap, sync::Arc, time::Duration};

use actix_web::{
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::StatusCode,
    middleware::{from_fn, Next},
    web, HttpRequest, HttpResponse, ResponseError,
};
use serde::Serialize;
use utoipa::ToSchema;

mod auth;
mod cluster;
mod history;
mod keys;
mod logs;
mod nodes;
pub mod openapi;
mod routes;
mod settings;
mod stats;
mod users;

use crate::{
    auth::lockout::LoginGuard,
    changes::{Applier, ApplyError, Change},
    cluster::config_sync::{ConfigSync, WriteError},
    config::Config,
    error::GatewayError,
    routing::Router,
    store::{Store, StoreError},
};
use auth::Caller;

/// What the admin handlers share.
pub struct Admin {
    pub(super) store: Store,
    pub(super) router: Arc<Router>,
    pub(super) applier: Arc<Applier>,
    /// In a cluster: where changes go (the shared bucket) instead of straight to `applier`.
    pub(super) sync: Option<Arc<ConfigSync>>,
    pub(super) token: String,
    pub(super) session_ttl: Duration,
    /// Failed logins per username and address, against password guessing.
    pub(super) logins: LoginGuard,
}

impl Admin {
    pub fn new(applier: Arc<Applier>, sync: Option<Arc<ConfigSync>>, config: &Config) -> Admin {
        Admin {
            store: applier.store.clone(),
            router: applier.router.clone(),
            applier,
            sync,
            token: config.auth.admin_token.clone(),
            session_ttl: config.auth.session_ttl,
            logins: LoginGuard::default(),
        }
    }

    /// Makes a change to nodes, routes, settings or keys. Standalone, it is stored and applied
    /// here at once; in a cluster it goes to the shared bucket (compare-and-set), every
    /// replica applies it, and this one has before the answer.
    pub(super) async fn commit(&self, change: Change, caller: &Caller) -> Result<(), AdminError> {
        match &self.sync {
            None => Ok(self
                .applier
                .apply(&change, caller.actor.as_str().into())
                .await?),
            Some(sync) => Ok(sync.write(&change, &caller.actor).await?),
        }
    }
}

impl From<ApplyError> for AdminError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Store(e) => AdminError::Store(e),
            ApplyError::Invalid(message) => AdminError::Invalid(message),
            ApplyError::Gateway(e) => AdminError::Gateway(e),
        }
    }
}

/// Admin errors: `{"error": "..."}` with a status, naming the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the admin API needs credentials: set auth.admin_token (DROVER_AUTH__ADMIN_TOKEN) and send it as Authorization: Bearer <token>, or send a user's session token from POST /admin/api/login")]
    Off,
    #[error("missing, wrong or expired credentials: send Authorization: Bearer <admin token or session token>")]
    Unauthorized,
    #[error("{0:?} may only read; changes need an admin")]
    ReadOnly(String),
    #[error("{0}")]
    Invalid(String),
    #[error("node {0:?} does not exist")]
    NotFound(String),
    #[error("node {0:?} already exists: PUT /admin/api/nodes/{0} to change it")]
    Conflict(String),
    /// Any other entity that does not exist: what it is, and its id.
    #[error("{0} {1:?} does not exist")]
    Missing(&'static str, String),
    /// A change that clashes with what is stored.
    #[error("{0}")]
    Clash(String),
    #[error("wrong username or password")]
    BadLogin,
    /// Too many failed logins for the username or from the address: seconds to wait.
    #[error("too many failed logins: try again in {0} s")]
    LoginsLocked(u64),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cluster(#[from] WriteError),
    #[error("{0}")]
    Gateway(#[from] GatewayError),
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::Off => StatusCode::FORBIDDEN,
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::ReadOnly(_) => StatusCode::FORBIDDEN,
            AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) | AdminError::Clash(_) => StatusCode::CONFLICT,
            AdminError::Missing(..) => StatusCode::NOT_FOUND,
            AdminError::BadLogin => StatusCode::UNAUTHORIZED,
            AdminError::LoginsLocked(_) => StatusCode::TOO_MANY_REQUESTS,
            AdminError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Cluster(WriteError::Conflict(_)) => StatusCode::CONFLICT,
            AdminError::Cluster(WriteError::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Cluster(WriteError::Failed(_)) => StatusCode::BAD_GATEWAY,
            AdminError::Cluster(WriteError::Unconfirmed(_)) => StatusCode::GATEWAY_TIMEOUT,
            AdminError::Gateway(e) => e.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let AdminError::LoginsLocked(secs) = self {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        response.json(ErrorBody {
            error: self.to_string(),
        })
    }
}

/// The body of every admin error. A type rather than `json!` so that the OpenAPI document
/// describes exactly what `error_response` sends.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong; a bad input's message starts with the field or parameter at fault.
    #[schema(example = "url: \"ftp://x\" must start with http:// or https://")]
    pub error: String,
}

/// Query parameters, checked against the names an endpoint takes, so that every error (an
/// unknown or repeated parameter, a value of the wrong type) starts with the parameter's
/// name.
pub(super) struct Params(HashMap<String, String>);

impl Params {
    pub(super) fn parse(req: &HttpRequest, known: &[&str]) -> Result<Params, AdminError> {
        let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map_err(|e| AdminError::Invalid(format!("query: {e}")))?
            .into_inner();
        let mut params = HashMap::new();
        for (name, value) in pairs {
            if !known.contains(&name.as_str()) {
                return Err(AdminError::Invalid(format!(
                    "{name}: unknown parameter; expected one of {}",
                    known.join(", ")
                )));
            }
            if params.insert(name.clone(), value).is_some() {
                return Err(AdminError::Invalid(format!("{name}: given more than once")));
            }
        }
        Ok(Params(params))
    }

    /// A parameter's text; an empty value counts as absent (`?by=` as from an empty form field).
    pub(super) fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, AdminError> {
        self.text(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    AdminError::Invalid(format!("{name}: expected an integer, found {v:?}"))
                })
            })
            .transpose()
    }
}

/// A JSON body, with errors that name the field.
pub(super) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    crate::wire::parse(body).map_err(|e| AdminError::Invalid(e.to_string()))
}

/// The largest admin request body (actix's default, named here): settings, nodes and routes
/// are small.
const BODY_LIMIT: usize = 256 * 1024;

/// Errors answered by actix itself inside the admin API (a body over `BODY_LIMIT`, a body cut
/// off) come as text; the API's clients read its JSON shape, so they are rendered again in it.
async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let (status, error) = match res.response().error() {
        Some(e) if e.as_error::<AdminError>().is_some() => return Ok(res.map_into_boxed_body()),
        Some(e) if e.as_error().is_some_and(crate::api::body::is_timeout) => {
            (StatusCode::REQUEST_TIMEOUT, format!("body: {e}"))
        }
        Some(_) if res.status() == StatusCode::PAYLOAD_TOO_LARGE => (
            res.status(),
            format!("body: larger than the admin API's limit of {BODY_LIMIT} bytes"),
        ),
        Some(e) => (res.status(), e.to_string()),
        None => return Ok(res.map_into_boxed_body()),
    };
    let (req, _) = res.into_parts();
    let mut response = HttpResponse::build(status);
    if status == StatusCode::REQUEST_TIMEOUT {
        // The rest of the body may still come: the connection cannot serve another request.
        response.force_close();
    }
    Ok(ServiceResponse::new(
        req,
        response.json(ErrorBody { error }),
    ))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Outside the scope: a page for people, not part of the API it shows.
    cfg.route(openapi::VIEWER_PATH, web::get().to(openapi::viewer));
    cfg.route(openapi::VIEWER_PATH, web::head().to(openapi::viewer));
    cfg.service(
        web::scope("/admin/api")
            .wrap(from_fn(json_errors))
            .app_data(web::PayloadConfig::new(BODY_LIMIT))
            .route("/openapi.json", web::get().to(openapi::document))
            .configure(nodes::routes)
            .configure(routes::routes)
            .configure(keys::routes)
            .configure(users::routes)
            .configure(logs::routes)
            .configure(settings::routes)
            .configure(cluster::routes)
            .configure(stats::routes)
            .configure(history::routes),
    );
}

pub(super) type Reply = Result<HttpResponse, AdminError>;
