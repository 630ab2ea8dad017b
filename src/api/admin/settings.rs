//! Settings an operator changes at runtime.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    auth::{Reader, Writer},
    parse, Admin, AdminError, Reply,
};
use crate::{
    actors::messages::ApplySelectorConfig, config::SelectorConfig, server::SELECTOR_SETTING,
};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(get_settings))
        .route("/settings", web::put().to(put_settings));
}

/// Settings an operator may change at runtime.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    selector: SelectorConfig,
}

/// The stored settings, as stored.
#[derive(Serialize, ToSchema)]
pub(super) struct SettingsView {
    /// Null until settings are first stored (the config file seeds them at first start).
    #[schema(value_type = Option<SelectorConfig>)]
    selector: serde_json::Value,
}

/// Get the selector settings
///
/// The selector settings in force.
#[utoipa::path(
    get,
    path = "/admin/api/settings",
    tag = "settings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings", body = SettingsView),
        (status = 400, description = "The stored settings are not JSON", body = super::ErrorBody),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn get_settings(_: Reader, admin: web::Data<Admin>) -> Reply {
    let selector: serde_json::Value = match admin.store.get_setting(SELECTOR_SETTING).await? {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| AdminError::Invalid(e.to_string()))?
        }
        None => serde_json::Value::Null,
    };
    Ok(HttpResponse::Ok().json(SettingsView { selector }))
}

/// Replace the selector settings
///
/// Strategy, prefer_loaded, loaded_busy, max_queue, queue_timeout; absent fields take their
/// defaults. Applied to the next request.
#[utoipa::path(
    put,
    path = "/admin/api/settings",
    tag = "settings",
    request_body = Settings,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Stored and applied", body = SettingsView),
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
        .put_setting(SELECTOR_SETTING, &value, &caller.actor)
        .await?;
    admin
        .router
        .selector()
        .do_send(ApplySelectorConfig(settings.selector));
    Ok(HttpResponse::Ok().json(SettingsView { selector: value }))
}
