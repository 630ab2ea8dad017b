//! The admin API under `/admin/api/`. Every change is written to the database first (with its history), then applied
//! to the running selector at once, so the next request already routes by it. Callers must
//! send the admin token as `Authorization: Bearer …`.

use std::sync::Arc;

use actix_web::{http::StatusCode, web, HttpResponse, ResponseError};
use serde_json::json;

mod auth;
mod logs;
mod nodes;
mod settings;

use crate::{
    config::AuthConfig,
    error::GatewayError,
    routing::Router,
    store::{Store, StoreError},
};

/// What the admin handlers share.
pub struct Admin {
    pub(super) store: Store,
    pub(super) router: Arc<Router>,
    pub(super) token: String,
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
    #[error("{0:?} may only read; changes need an admin")]
    ReadOnly(String),
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
            AdminError::ReadOnly(_) => StatusCode::FORBIDDEN,
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

/// A JSON body, with errors that name the field.
pub(super) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    crate::wire::parse(body).map_err(|e| AdminError::Invalid(e.to_string()))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/api")
            .configure(nodes::routes)
            .configure(logs::routes)
            .configure(settings::routes),
    );
}

pub(super) type Reply = Result<HttpResponse, AdminError>;
