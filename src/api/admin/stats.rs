//! Request statistics: counts, errors, tokens and latency percentiles over a time range.

use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::IntoParams;

use super::{auth::Reader, Admin, AdminError, Params, Reply};
use crate::store::{
    nodes::now_ms,
    stats::{GroupBy, Stats, StatsQuery},
};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/stats", web::get().to(stats));
}

/// The query of `GET /admin/api/stats`, as given (`StatsQuery::new` checks it and fills in
/// the defaults). Read through `Params` for its errors that name the parameter; a type of its
/// own so the OpenAPI document lists exactly these.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsParams {
    /// Epoch milliseconds, inclusive; default an hour before `until`.
    since: Option<i64>,
    /// Epoch milliseconds, exclusive; default now.
    until: Option<i64>,
    /// The width of each bucket, a duration such as `5m`; default a round width giving about
    /// 100 buckets at most. More than 10,000 buckets is refused.
    #[param(example = "5m")]
    bucket: Option<String>,
    /// Adds `groups`, one per value of this.
    #[param(value_type = Option<GroupBy>)]
    by: Option<String>,
}

impl StatsParams {
    const NAMES: [&str; 4] = ["since", "until", "bucket", "by"];

    fn parse(req: &HttpRequest) -> Result<StatsParams, AdminError> {
        let params = Params::parse(req, &Self::NAMES)?;
        Ok(StatsParams {
            since: params.int("since")?,
            until: params.int("until")?,
            bucket: params.text("bucket").map(str::to_owned),
            by: params.text("by").map(str::to_owned),
        })
    }
}

/// Request statistics
///
/// Totals, buckets and groups over `[since, until)` (epoch ms; the last hour by default).
/// Percentiles are within 1.6 % + 1 µs of the exact nearest-rank value (see `store::stats`).
#[utoipa::path(
    get,
    path = "/admin/api/stats",
    tag = "records",
    params(StatsParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Statistics over the range", body = Stats),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn stats(_: Reader, admin: web::Data<Admin>, req: HttpRequest) -> Reply {
    let params = StatsParams::parse(&req)?;
    let query = StatsQuery::new(
        params.since,
        params.until,
        params.bucket.as_deref(),
        params.by.as_deref(),
        now_ms(),
    )
    .map_err(AdminError::Invalid)?;
    Ok(HttpResponse::Ok().json(admin.store.stats(&query).await?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The names `Params` accepts are the ones the document lists.
    #[test]
    fn the_accepted_parameters_are_the_documented_ones() {
        let documented: Vec<String> = StatsParams::into_params(|| None)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(documented, StatsParams::NAMES);
    }
}
