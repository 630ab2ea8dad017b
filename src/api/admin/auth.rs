//! Who is calling the admin API, and what they may do. A caller proves itself with
//! `Authorization: Bearer …` holding either the admin token from the config or a session
//! token from `POST /admin/api/login`. Readers may call every `GET`; writers (the admin token
//! or an `admin` user) may change things.

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::{Admin, AdminError};
use crate::auth::secrets;

/// Session tokens start with this, so they are told apart from the admin token at a glance.
pub(super) const SESSION_TAG: &str = "drs_";
/// The role that may change things; the other is `viewer`.
pub(super) const ADMIN_ROLE: &str = "admin";

/// An authenticated caller: `actor` names them in the config history.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: String,
    pub can_write: bool,
}

/// Any authenticated caller: may read.
pub struct Reader(pub Caller);

/// A caller allowed to change things.
pub struct Writer(pub Caller);

/// The bearer token of a request, if it sent one.
pub(super) fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()
        .and_then(crate::auth::bearer_token)
}

async fn identify(req: HttpRequest) -> Result<Caller, AdminError> {
    let admin = req
        .app_data::<web::Data<Admin>>()
        .cloned()
        .ok_or_else(|| AdminError::Invalid("admin API not configured".into()))?;
    let Some(sent) = bearer(&req) else {
        return Err(if admin.token.is_empty() {
            AdminError::Off
        } else {
            AdminError::Unauthorized
        });
    };
    if !admin.token.is_empty() && secrets::constant_time_eq(sent.as_bytes(), admin.token.as_bytes())
    {
        return Ok(Caller {
            actor: "admin-token".into(),
            can_write: true,
        });
    }
    if sent.starts_with(SESSION_TAG) {
        if let Some(user) = admin.store.session_user(&secrets::digest(sent)).await? {
            return Ok(Caller {
                can_write: user.role == ADMIN_ROLE,
                actor: user.username,
            });
        }
    }
    Err(AdminError::Unauthorized)
}

impl FromRequest for Reader {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<Reader, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { identify(req).await.map(Reader) })
    }
}

impl FromRequest for Writer {
    type Error = AdminError;
    type Future = LocalBoxFuture<'static, Result<Writer, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = identify(req).await?;
            if caller.can_write {
                Ok(Writer(caller))
            } else {
                Err(AdminError::ReadOnly(caller.actor))
            }
        })
    }
}
