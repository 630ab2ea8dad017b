//! Request records, queried.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{auth::Reader, Admin, AdminError, Reply};
use crate::store::records::LogQuery;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/logs", web::get().to(logs));
}

/// `GET /admin/api/logs?model=&node=&key=&status=&since=&until=&limit=&cursor=`: request
/// records, newest first; `next_cursor` fetches the next page.
async fn logs(_: Reader, admin: web::Data<Admin>, req: HttpRequest) -> Reply {
    let query = web::Query::<LogQuery>::from_query(req.query_string())
        .map_err(|e| AdminError::Invalid(format!("query: {e}")))?
        .into_inner();
    query.check().map_err(AdminError::Invalid)?;
    Ok(HttpResponse::Ok().json(admin.store.query_records(&query).await?))
}
