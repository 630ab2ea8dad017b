//! The change history: every change made through the admin API (and the first seeding from
//! the config file), newest first.

use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::IntoParams;

use super::{auth::Reader, Admin, AdminError, Params, Reply};
use crate::store::{
    history::{EntityFilter, HistoryPage},
    records::MAX_PAGE,
};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/history", web::get().to(history));
}

/// The query of `GET /admin/api/history`. Read through `Params` for its errors that name the
/// parameter; a type of its own so the OpenAPI document lists exactly these.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryParams {
    /// An entity exactly (`node:gpu-a`), or a prefix when it ends in `*` (`node:*`).
    #[param(example = "node:*")]
    entity: Option<String>,
    /// At most this many changes, 1 to 1000; default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Changes with a revision below this: a previous page's `next_before`.
    before: Option<i64>,
}

impl HistoryParams {
    const NAMES: [&str; 3] = ["entity", "limit", "before"];

    /// Checks `limit`'s range before reading `before`, so the first fault is the one named.
    fn parse(req: &HttpRequest) -> Result<HistoryParams, AdminError> {
        let params = Params::parse(req, &Self::NAMES)?;
        let limit = params.int("limit")?;
        if limit.is_some_and(|l| !(1..=MAX_PAGE).contains(&l)) {
            return Err(AdminError::Invalid(format!(
                "limit: must be between 1 and {MAX_PAGE}"
            )));
        }
        Ok(HistoryParams {
            entity: params.text("entity").map(str::to_owned),
            limit,
            before: params.int("before")?,
        })
    }
}

/// The change history
///
/// Newest first; pass `next_before` as `before` for the next page.
#[utoipa::path(
    get,
    path = "/admin/api/history",
    tag = "history",
    params(HistoryParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of changes, newest first", body = HistoryPage),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn history(_: Reader, admin: web::Data<Admin>, req: HttpRequest) -> Reply {
    let params = HistoryParams::parse(&req)?;
    let entity = params.entity.as_deref().map(EntityFilter::parse);
    let limit = params.limit.unwrap_or(100);
    Ok(HttpResponse::Ok().json(
        admin
            .store
            .history(entity.as_ref(), params.before, limit)
            .await?,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The names `Params` accepts are the ones the document lists.
    #[test]
    fn the_accepted_parameters_are_the_documented_ones() {
        let documented: Vec<String> = HistoryParams::into_params(|| None)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(documented, HistoryParams::NAMES);
    }
}
