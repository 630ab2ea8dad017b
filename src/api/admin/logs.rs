//! Request records: queried, one at a time with its captured bodies, and the images taken
//! out of those bodies.

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{auth::Reader, Admin, AdminError, Reply};
use crate::{
    capture::media::REFERENCE_TAG,
    store::{
        contents::MediaRow,
        records::{LogPage, LogQuery, RequestRecord},
    },
};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/logs", web::get().to(logs))
        .route("/logs/{id}", web::get().to(one_log))
        .route("/media/{sha256}", web::get().to(media));
}

/// One record with what was captured of it.
#[derive(Serialize, ToSchema)]
pub(super) struct LogDetail {
    record: RequestRecord,
    /// Null when bodies were not captured.
    content: Option<Captured>,
    /// The images the request referenced, each with the URL that serves it.
    media: Vec<MediaLink>,
}

/// Captured bodies: JSON where they parsed as JSON, else the text; images replaced by
/// references to `media`.
#[derive(Serialize, ToSchema)]
pub(super) struct Captured {
    request: Value,
    response: Value,
    /// A body was cut at the capture size limit.
    truncated: bool,
}

#[derive(Serialize, ToSchema)]
pub(super) struct MediaLink {
    /// `/admin/api/media/{sha256}`.
    url: String,
    media: MediaRow,
}

/// Query request records
///
/// Newest first; pass `next_cursor` as `cursor` for the next page; `q` searches captured
/// bodies.
#[utoipa::path(
    get,
    path = "/admin/api/logs",
    tag = "records",
    params(LogQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of records, newest first", body = LogPage),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn logs(_: Reader, admin: web::Data<Admin>, req: HttpRequest) -> Reply {
    let query = web::Query::<LogQuery>::from_query(req.query_string())
        .map_err(|e| AdminError::Invalid(format!("query: {e}")))?
        .into_inner();
    query.check().map_err(AdminError::Invalid)?;
    Ok(HttpResponse::Ok().json(admin.store.query_records(&query).await?))
}

/// Get a request record
///
/// With its captured bodies (JSON where they are JSON) and the media they reference, each
/// with the URL that serves it.
#[utoipa::path(
    get,
    path = "/admin/api/logs/{id}",
    tag = "records",
    params(("id" = String, Path, description = "The record's `id`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The record", body = LogDetail),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn one_log(_: Reader, admin: web::Data<Admin>, id: web::Path<String>) -> Reply {
    let record = admin.store.get_record(&id).await?;
    let record = record.ok_or_else(|| AdminError::Missing("record", id.to_string()))?;
    let content = admin.store.get_content(&id).await?;
    let mut references = Vec::new();
    let content = content.map(|c| {
        let body = |text: Option<String>| match text {
            Some(text) => serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
            None => Value::Null,
        };
        let request = body(c.request_body);
        collect_references(&request, &mut references);
        Captured {
            request,
            response: body(c.response_body),
            truncated: c.truncated,
        }
    });
    let media = admin
        .store
        .get_media(&references)
        .await?
        .into_iter()
        .map(|m| MediaLink {
            url: format!("/admin/api/media/{}", m.sha256),
            media: m,
        })
        .collect();
    Ok(HttpResponse::Ok().json(LogDetail {
        record,
        content,
        media,
    }))
}

fn collect_references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            if let Some(sha) = text.strip_prefix(REFERENCE_TAG) {
                if !found.iter().any(|f| f == sha) {
                    found.push(sha.to_owned());
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, found)),
        Value::Object(fields) => fields.values().for_each(|v| collect_references(v, found)),
        _ => {}
    }
}

/// Get a captured image
///
/// As it was sent, with the type it was sent as.
#[utoipa::path(
    get,
    path = "/admin/api/media/{sha256}",
    tag = "records",
    params(("sha256" = String, Path, description = "The image's SHA-256, hex")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The image's bytes, with the Content-Type it was sent with",
            content(("image/*"))),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
pub(super) async fn media(_: Reader, admin: web::Data<Admin>, sha256: web::Path<String>) -> Reply {
    let rows = admin.store.get_media(&[sha256.to_string()]).await?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| AdminError::Missing("media", sha256.to_string()))?;
    let path = row.path.clone();
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| AdminError::Missing("media file", row.path.clone()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, row.mime))
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400, immutable"))
        .body(bytes))
}
