//! The change history: every change made through the admin API (and the first seeding from
//! the config file), newest first.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{auth::Reader, Admin, AdminError, Params, Reply};
use crate::store::{history::EntityFilter, records::MAX_PAGE};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/history", web::get().to(history));
}

/// `GET /admin/api/history?entity=&limit=&before=`: `entity` is exact (`node:gpu-a`) or a
/// prefix when it ends in `*` (`node:*`); pass `next_before` as `before` for the next page.
async fn history(_: Reader, admin: web::Data<Admin>, req: HttpRequest) -> Reply {
    let params = Params::parse(&req, &["entity", "limit", "before"])?;
    let entity = params.text("entity").map(EntityFilter::parse);
    let limit = params.int("limit")?.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AdminError::Invalid(format!(
            "limit: must be between 1 and {MAX_PAGE}"
        )));
    }
    let before = params.int("before")?;
    Ok(HttpResponse::Ok().json(admin.store.history(entity.as_ref(), before, limit).await?))
}
