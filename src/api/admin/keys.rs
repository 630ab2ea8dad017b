//! API keys: create (the secret is shown once), list, read, change, revoke. Every change
//! reloads this replica's key ring at once; other replicas see it within
//! `auth::keys::RELOAD_EVERY`.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{
    auth::{Reader, Writer},
    parse, Admin, AdminError, Reply,
};
use crate::{
    auth::keys::mint,
    changes::Change,
    store::{keys::KeyRow, nodes::now_ms},
};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys", web::get().to(list_keys))
        .route("/keys", web::post().to(create_key))
        .route("/keys/{id}", web::get().to(get_key))
        .route("/keys/{id}", web::patch().to(change_key))
        .route("/keys/{id}", web::delete().to(revoke_key));
}

/// `POST /admin/api/keys`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    /// 1 to 200 characters, for people.
    name: String,
    /// The models this key may use; absent or null: every model.
    #[serde(default)]
    allowed_models: Option<Vec<String>>,
    /// Requests per minute; absent: unlimited.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2147483647)]
    rpm_limit: Option<u32>,
    /// Tokens per minute; absent: unlimited.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2147483647)]
    tpm_limit: Option<u32>,
    /// Epoch milliseconds, in the future; absent: never expires.
    #[serde(default)]
    expires_ms: Option<i64>,
}

/// `PATCH /admin/api/keys/{id}`: absent fields stay; `null` clears a limit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyPatch {
    name: Option<String>,
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    allowed_models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 2147483647)]
    rpm_limit: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 2147483647)]
    tpm_limit: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    expires_ms: Option<Option<i64>>,
}

/// `GET /admin/api/keys`.
#[derive(Serialize, ToSchema)]
pub(super) struct KeyList {
    keys: Vec<KeyRow>,
}

/// `POST /admin/api/keys`: the stored key and its secret, shown this once.
#[derive(Serialize, ToSchema)]
pub(super) struct CreatedKey {
    #[serde(flatten)]
    key: KeyRow,
    /// What clients send as their bearer token; only its digest is kept.
    secret: String,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn check_name(name: &str) -> Result<(), AdminError> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(AdminError::Invalid(
            "name: must be 1 to 200 characters".into(),
        ));
    }
    Ok(())
}

fn limit(field: &str, value: Option<u32>) -> Result<Option<i32>, AdminError> {
    value
        .map(|v| match i32::try_from(v) {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(AdminError::Invalid(format!(
                "{field}: must be between 1 and {}",
                i32::MAX
            ))),
        })
        .transpose()
}

fn models(value: Option<Vec<String>>) -> Result<Option<String>, AdminError> {
    let Some(models) = value else { return Ok(None) };
    if models.iter().any(|m| m.trim().is_empty()) {
        return Err(AdminError::Invalid(
            "allowed_models: model names must not be empty".into(),
        ));
    }
    Ok(Some(json!(models).to_string()))
}

fn expiry(value: Option<i64>) -> Result<Option<i64>, AdminError> {
    match value {
        Some(at) if at <= now_ms() => Err(AdminError::Invalid(
            "expires_ms: must be in the future (epoch milliseconds)".into(),
        )),
        other => Ok(other),
    }
}

/// List API keys
///
/// Every key, revoked ones included; never their secrets.
#[utoipa::path(
    get,
    path = "/admin/api/keys",
    tag = "keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every key", body = KeyList),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn list_keys(_: Reader, admin: web::Data<Admin>) -> Reply {
    let keys = admin.store.list_keys().await?;
    Ok(HttpResponse::Ok().json(KeyList { keys }))
}

/// Get an API key
///
/// Never its secret.
#[utoipa::path(
    get,
    path = "/admin/api/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id (not its secret)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key", body = KeyRow),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn get_key(_: Reader, admin: web::Data<Admin>, id: web::Path<String>) -> Reply {
    let row = admin.store.get_key(&id).await?;
    let row = row.ok_or_else(|| AdminError::Missing("key", id.into_inner()))?;
    Ok(HttpResponse::Ok().json(row))
}

/// Make an API key
///
/// Answers with the key's secret: the only time it is ever shown.
#[utoipa::path(
    post,
    path = "/admin/api/keys",
    tag = "keys",
    request_body = NewKey,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Made; `secret` is shown only now", body = CreatedKey),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn create_key(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    body: web::Bytes,
) -> Reply {
    let new: NewKey = parse(&body)?;
    check_name(&new.name)?;
    let (secret, mut row) =
        mint(new.name).map_err(|e| AdminError::Invalid(format!("cannot make a key: {e}")))?;
    row.allowed_models = models(new.allowed_models)?;
    row.rpm_limit = limit("rpm_limit", new.rpm_limit)?;
    row.tpm_limit = limit("tpm_limit", new.tpm_limit)?;
    row.expires_ms = expiry(new.expires_ms)?;
    admin
        .commit(Change::Key { row: row.clone() }, &caller)
        .await?;
    tracing::info!(key = %row.id, prefix = %row.prefix, actor = %caller.actor, "API key created");
    Ok(HttpResponse::Created().json(CreatedKey { key: row, secret }))
}

/// Change an API key
///
/// Its name, enabled flag, models, limits or expiry; absent fields stay, `null` clears. A
/// revoked key cannot change.
#[utoipa::path(
    patch,
    path = "/admin/api/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id (not its secret)")),
    request_body = KeyPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = KeyRow),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, response = super::openapi::Conflict),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn change_key(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Reply {
    let patch: KeyPatch = parse(&body)?;
    let Some(mut row) = admin.store.get_key(&id).await? else {
        return Err(AdminError::Missing("key", id.into_inner()));
    };
    if row.revoked_ms.is_some() {
        return Err(AdminError::Clash(format!(
            "key {:?} is revoked; make a new one",
            row.id
        )));
    }
    if let Some(name) = patch.name {
        check_name(&name)?;
        row.name = name;
    }
    if let Some(enabled) = patch.enabled {
        row.enabled = enabled;
    }
    if let Some(models_) = patch.allowed_models {
        row.allowed_models = models(models_)?;
    }
    if let Some(rpm) = patch.rpm_limit {
        row.rpm_limit = limit("rpm_limit", rpm)?;
    }
    if let Some(tpm) = patch.tpm_limit {
        row.tpm_limit = limit("tpm_limit", tpm)?;
    }
    if let Some(expires) = patch.expires_ms {
        row.expires_ms = expiry(expires)?;
    }
    admin
        .commit(Change::Key { row: row.clone() }, &caller)
        .await?;
    Ok(HttpResponse::Ok().json(row))
}

/// Revoke an API key
///
/// For good; the row stays so records keep naming the key.
#[utoipa::path(
    delete,
    path = "/admin/api/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id (not its secret)")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn revoke_key(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    id: web::Path<String>,
) -> Reply {
    let Some(mut row) = admin.store.get_key(&id).await? else {
        return Err(AdminError::Missing("key", id.into_inner()));
    };
    if row.revoked_ms.is_none() {
        row.revoked_ms = Some(now_ms());
    }
    row.enabled = false;
    admin
        .commit(Change::Key { row: row.clone() }, &caller)
        .await?;
    tracing::info!(key = %row.id, actor = %caller.actor, "API key revoked");
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_clears_and_absent_keeps() {
        let patch: KeyPatch =
            crate::wire::parse(br#"{"enabled": false, "rpm_limit": null, "tpm_limit": 5}"#)
                .unwrap();
        assert_eq!(patch.rpm_limit, Some(None));
        assert_eq!(patch.tpm_limit, Some(Some(5)));
        assert_eq!(patch.expires_ms, None);
    }
}
