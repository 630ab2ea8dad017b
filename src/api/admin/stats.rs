//! Request statistics: counts, errors, tokens and latency percentiles over a time range.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{auth::Reader, Admin, AdminError, Params, Reply};
use crate::store::{nodes::now_ms, stats::StatsQuery};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/stats", web::get().to(stats));
}

/// `GET /admin/api/stats?since=&until=&bucket=&by=`: totals, buckets and groups over
/// `[since, until)` (epoch ms; the last hour by default). See `store::stats` for the
/// percentiles and their error bound.
async fn stats(_: Reader, admin: web::Data<Admin>, req: HttpRequest) -> Reply {
    let params = Params::parse(&req, &["since", "until", "bucket", "by"])?;
    let query = StatsQuery::new(
        params.int("since")?,
        params.int("until")?,
        params.text("bucket"),
        params.text("by"),
        now_ms(),
    )
    .map_err(AdminError::Invalid)?;
    Ok(HttpResponse::Ok().json(admin.store.stats(&query).await?))
}
