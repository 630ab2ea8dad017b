//! Request records: queried, one at a time with its captured bodies, and the images taken
//! out of those bodies.

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{auth::Reader, Admin, AdminError, Reply};
use crate::{capture::media::REFERENCE_TAG, store::records::LogQuery};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/logs", web::get().to(logs))
        .route("/logs/{id}", web::get().to(one_log))
        .route("/media/{sha256}", web::get().to(media));
}

/// `GET /admin/api/logs?model=&node=&key=&status=&since=&until=&q=&limit=&cursor=`: request
/// records, newest first; `next_cursor` fetches the next page; `q` searches captured bodies.
async fn logs(_: Reader, admin: web::Data<Admin>, req: HttpRequest) -> Reply {
    let query = web::Query::<LogQuery>::from_query(req.query_string())
        .map_err(|e| AdminError::Invalid(format!("query: {e}")))?
        .into_inner();
    query.check().map_err(AdminError::Invalid)?;
    Ok(HttpResponse::Ok().json(admin.store.query_records(&query).await?))
}

/// One record with its captured bodies (JSON where they are JSON) and the media they
/// reference, each with the URL that serves it.
async fn one_log(_: Reader, admin: web::Data<Admin>, id: web::Path<String>) -> Reply {
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
        json!({ "request": request, "response": body(c.response_body), "truncated": c.truncated })
    });
    let media: Vec<Value> = admin
        .store
        .get_media(&references)
        .await?
        .into_iter()
        .map(|m| json!({ "url": format!("/admin/api/media/{}", m.sha256), "media": m }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "record": record, "content": content, "media": media })))
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

/// An image taken out of a request, as it was sent.
async fn media(_: Reader, admin: web::Data<Admin>, sha256: web::Path<String>) -> Reply {
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
