//! Admin users (role `admin` or `viewer`), their passwords, and sessions: `POST
//! /admin/api/login` trades a username and password for a session token that expires after
//! `auth.session_ttl`.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    auth::{bearer, Reader, Writer, ADMIN_ROLE, SESSION_TAG},
    parse, Admin, AdminError, Reply,
};
use crate::{
    auth::{passwords, secrets},
    store::{nodes::now_ms, users::UserRow},
};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(list_users))
        .route("/users", web::post().to(add_user))
        .route("/users/{username}", web::get().to(get_user))
        .route("/users/{username}", web::patch().to(change_role))
        .route("/users/{username}", web::delete().to(delete_user))
        .route("/users/{username}/password", web::put().to(set_password))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout));
}

const VIEWER_ROLE: &str = "viewer";

/// `POST /admin/api/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    /// 1 to 64 letters, digits, or `_ - . @`.
    #[schema(example = "ada")]
    username: String,
    #[schema(format = Password)]
    password: String,
    /// `admin` or `viewer`.
    #[schema(example = "viewer")]
    role: String,
}

/// `PATCH /admin/api/users/{username}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleChange {
    /// `admin` or `viewer`.
    #[schema(example = "admin")]
    role: String,
}

/// `PUT /admin/api/users/{username}/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordChange {
    #[schema(format = Password)]
    password: String,
}

/// `POST /admin/api/login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Login {
    username: String,
    #[schema(format = Password)]
    password: String,
}

/// A session, from `POST /admin/api/login`.
#[derive(Serialize, ToSchema)]
pub(super) struct Session {
    /// Send as `Authorization: Bearer <token>` until it expires or the user logs out.
    #[schema(example = "drs_…")]
    token: String,
    /// Epoch milliseconds.
    expires_ms: i64,
    username: String,
    role: String,
}

/// `GET /admin/api/users`.
#[derive(Serialize, ToSchema)]
pub(super) struct UserList {
    users: Vec<UserRow>,
}

fn check_username(name: &str) -> Result<(), AdminError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'));
    if !ok {
        return Err(AdminError::Invalid(
            "username: 1 to 64 letters, digits, or _ - . @".into(),
        ));
    }
    Ok(())
}

fn check_role(role: &str) -> Result<(), AdminError> {
    if role != ADMIN_ROLE && role != VIEWER_ROLE {
        return Err(AdminError::Invalid(format!(
            "role: must be \"{ADMIN_ROLE}\" or \"{VIEWER_ROLE}\""
        )));
    }
    Ok(())
}

async fn hash(password: String) -> Result<String, AdminError> {
    passwords::hash(password).await.map_err(|e| match e {
        passwords::PasswordError::TooShort => AdminError::Invalid(e.to_string()),
        passwords::PasswordError::Hash(_) => AdminError::Clash(e.to_string()),
    })
}

/// List users
#[utoipa::path(
    get,
    path = "/admin/api/users",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every user", body = UserList),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn list_users(_: Reader, admin: web::Data<Admin>) -> Reply {
    let users = admin.store.list_users().await?;
    Ok(HttpResponse::Ok().json(UserList { users }))
}

/// Get a user
#[utoipa::path(
    get,
    path = "/admin/api/users/{username}",
    tag = "users",
    params(("username" = String, Path, description = "The user's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserRow),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn get_user(_: Reader, admin: web::Data<Admin>, name: web::Path<String>) -> Reply {
    let user = admin.store.get_user(&name).await?;
    let user = user.ok_or_else(|| AdminError::Missing("user", name.into_inner()))?;
    Ok(HttpResponse::Ok().json(user))
}

/// Add a user
///
/// With a password and a role.
#[utoipa::path(
    post,
    path = "/admin/api/users",
    tag = "users",
    request_body = NewUser,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = UserRow),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 409, response = super::openapi::Conflict),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn add_user(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    body: web::Bytes,
) -> Reply {
    let new: NewUser = parse(&body)?;
    check_username(&new.username)?;
    check_role(&new.role)?;
    if admin.store.get_user(&new.username).await?.is_some() {
        return Err(AdminError::Clash(format!(
            "user {:?} already exists",
            new.username
        )));
    }
    let row = UserRow {
        password_hash: hash(new.password).await?,
        username: new.username,
        role: new.role,
        created_ms: now_ms(),
    };
    admin.store.put_user(&row, &caller.actor).await?;
    Ok(HttpResponse::Created().json(row))
}

/// Change a user's role
#[utoipa::path(
    patch,
    path = "/admin/api/users/{username}",
    tag = "users",
    params(("username" = String, Path, description = "The user's name")),
    request_body = RoleChange,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = UserRow),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn change_role(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Reply {
    let change: RoleChange = parse(&body)?;
    check_role(&change.role)?;
    let Some(mut row) = admin.store.get_user(&name).await? else {
        return Err(AdminError::Missing("user", name.into_inner()));
    };
    row.role = change.role;
    admin.store.put_user(&row, &caller.actor).await?;
    Ok(HttpResponse::Ok().json(row))
}

/// Remove a user
#[utoipa::path(
    delete,
    path = "/admin/api/users/{username}",
    tag = "users",
    params(("username" = String, Path, description = "The user's name")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn delete_user(
    Writer(caller): Writer,
    admin: web::Data<Admin>,
    name: web::Path<String>,
) -> Reply {
    if !admin.store.delete_user(&name, &caller.actor).await? {
        return Err(AdminError::Missing("user", name.into_inner()));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Set a user's password
///
/// An admin may set anyone's password; a viewer only their own. Every session of the user
/// ends, so a stolen session does not outlive the change.
#[utoipa::path(
    put,
    path = "/admin/api/users/{username}/password",
    tag = "users",
    params(("username" = String, Path, description = "The user's name")),
    request_body = PasswordChange,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Set; the user's sessions have ended"),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, response = super::openapi::Conflict),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn set_password(
    Reader(caller): Reader,
    admin: web::Data<Admin>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Reply {
    if !caller.can_write && caller.actor != *name {
        return Err(AdminError::ReadOnly(caller.actor));
    }
    let change: PasswordChange = parse(&body)?;
    let Some(mut row) = admin.store.get_user(&name).await? else {
        return Err(AdminError::Missing("user", name.into_inner()));
    };
    row.password_hash = hash(change.password).await?;
    admin.store.put_user(&row, &caller.actor).await?;
    admin.store.end_sessions(&row.username).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Log in
///
/// Trades a username and password for a session token. Needs no credentials.
#[utoipa::path(
    post,
    path = "/admin/api/login",
    tag = "users",
    request_body = Login,
    responses(
        (status = 200, description = "A new session", body = Session),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, description = "Wrong username or password", body = super::ErrorBody),
        (status = 409, response = super::openapi::Conflict),
        (status = 429, description = "Too many failed logins for this username or from this \
            address: try again after `Retry-After` seconds", body = super::ErrorBody),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn login(admin: web::Data<Admin>, req: HttpRequest, body: web::Bytes) -> Reply {
    let login: Login = parse(&body)?;
    let addr = req.peer_addr().map(|a| a.ip());
    admin
        .logins
        .attempt(&login.username, addr, Instant::now())
        .map_err(|wait| {
            tracing::warn!(username = %login.username, "admin login refused: locked out");
            AdminError::LoginsLocked(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })?;
    let user = admin.store.get_user(&login.username).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches = passwords::verify(login.password, stored).await;
    let Some(user) = user.filter(|_| matches) else {
        tracing::warn!(username = %login.username, "admin login failed");
        return Err(AdminError::BadLogin);
    };
    admin.logins.succeeded(&user.username, addr);
    let token = secrets::generate(SESSION_TAG)
        .map_err(|e| AdminError::Clash(format!("cannot make a session: {e}")))?;
    let ttl_ms = i64::try_from(admin.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_ms = now_ms().saturating_add(ttl_ms);
    admin
        .store
        .create_session(&secrets::digest(&token), &user.username, expires_ms)
        .await?;
    Ok(HttpResponse::Ok().json(Session {
        token,
        expires_ms,
        username: user.username,
        role: user.role,
    }))
}

/// Log out
///
/// Ends the session the request carries (the admin token has no session to end).
#[utoipa::path(
    post,
    path = "/admin/api/logout",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn logout(_: Reader, admin: web::Data<Admin>, req: HttpRequest) -> Reply {
    if let Some(token) = bearer(&req).filter(|t| t.starts_with(SESSION_TAG)) {
        admin.store.end_session(&secrets::digest(token)).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}
