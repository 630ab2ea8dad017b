//! Settings an operator changes at runtime, by section: `selector`, `health`, `timeouts`,
//! `failover`, `limits` (the same sections as the config file). A `PUT` replaces the sections
//! it names (absent fields take their defaults) and leaves the others; the whole result is
//! checked like a config file before anything is stored. Each section applies at once:
//! selector and probing through the actors, the rest from the next request on, except
//! `limits.shutdown_grace`, which the server reads when it starts.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::{
    auth::{Reader, Writer},
    parse, Admin, AdminError, Reply,
};
use crate::{
    changes::SECTIONS,
    config::{FailoverConfig, HealthConfig, LimitsConfig, SelectorConfig, TimeoutConfig},
    server::{
        FAILOVER_SETTING, HEALTH_SETTING, LIMITS_SETTING, SELECTOR_SETTING, TIMEOUTS_SETTING,
    },
};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(get_settings))
        .route("/settings", web::put().to(put_settings));
}

/// A `PUT` body: any of the sections; each one given replaces that section whole.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    selector: Option<SelectorConfig>,
    health: Option<HealthConfig>,
    timeouts: Option<TimeoutConfig>,
    failover: Option<FailoverConfig>,
    limits: Option<LimitsConfig>,
}

/// Every section as stored.
async fn stored(admin: &Admin) -> Result<Map<String, Value>, AdminError> {
    let mut sections = Map::new();
    for key in SECTIONS {
        let value = match admin.store.get_setting(key).await? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| AdminError::Invalid(format!("stored {key}: {e}")))?,
            None => Value::Null,
        };
        sections.insert(key.to_owned(), value);
    }
    Ok(sections)
}

/// Every settings section as stored (each as in the config file).
#[derive(serde::Serialize, ToSchema)]
pub(super) struct SettingsView {
    selector: Option<SelectorConfig>,
    health: Option<HealthConfig>,
    timeouts: Option<TimeoutConfig>,
    failover: Option<FailoverConfig>,
    limits: Option<LimitsConfig>,
}

/// Get the runtime settings
///
/// The sections `selector`, `health`, `timeouts`, `failover` and `limits` in force.
#[utoipa::path(
    get,
    path = "/admin/api/settings",
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings", body = SettingsView),
        (status = 400, description = "A stored section is not valid JSON", body = super::ErrorBody),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn get_settings(_: Reader, admin: web::Data<Admin>) -> Reply {
    Ok(HttpResponse::Ok().json(stored(&admin).await?))
}

/// Replace settings sections
///
/// Replaces the sections the body names (absent fields take their defaults) and keeps the
/// others; the result is checked like a config file, then applied at once.
#[utoipa::path(
    put,
    path = "/admin/api/settings",
    tag = "settings",
    request_body = Settings,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Stored and applied; every section", body = SettingsView),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn put_settings(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    body: web::Bytes,
) -> Reply {
    let change: Settings = parse(&body)?;
    let named: Vec<(&str, Value)> = [
        (SELECTOR_SETTING, change.selector.map(|v| json!(v))),
        (HEALTH_SETTING, change.health.map(|v| json!(v))),
        (TIMEOUTS_SETTING, change.timeouts.map(|v| json!(v))),
        (FAILOVER_SETTING, change.failover.map(|v| json!(v))),
        (LIMITS_SETTING, change.limits.map(|v| json!(v))),
    ]
    .into_iter()
    .filter_map(|(section, value)| value.map(|v| (section, v)))
    .collect();
    if named.is_empty() {
        return Err(AdminError::Invalid(format!(
            "expected at least one section: {}",
            SECTIONS.join(", ")
        )));
    }
    // The whole result is checked before any section is stored.
    admin.applier.compose(&named).await?;
    for (section, value) in named {
        let change = crate::changes::Change::Setting {
            section: section.to_owned(),
            value,
        };
        admin.commit(change, &caller).await?;
    }
    Ok(HttpResponse::Ok().json(stored(&admin).await?))
}
