//! Captured bodies (`request_contents`) and the images taken out of them (`media_resources`).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::{
    db_run,
    schema::{media_resources, request_contents},
    Store, StoreError,
};

#[derive(Debug, Clone, PartialEq, Insertable, Queryable, Selectable, Serialize)]
#[diesel(table_name = request_contents, treat_none_as_default_value = false)]
pub struct ContentRow {
    pub log_id: String,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub truncated: bool,
}

/// An image taken out of a captured request, stored once by its SHA-256.
#[derive(
    Debug, Clone, PartialEq, Insertable, Queryable, Selectable, Serialize, utoipa::ToSchema,
)]
#[diesel(table_name = media_resources, treat_none_as_default_value = false)]
pub struct MediaRow {
    pub sha256: String,
    pub mime: String,
    pub bytes: i64,
    #[serde(skip)]
    pub path: String,
    pub first_log_id: Option<String>,
    pub created_ms: i64,
}

impl Store {
    pub async fn get_content(&self, log_id: &str) -> Result<Option<ContentRow>, StoreError> {
        db_run!(self, |conn| request_contents::table
            .find(log_id)
            .select(ContentRow::as_select())
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from))
    }

    pub async fn get_media(&self, sha256: &[String]) -> Result<Vec<MediaRow>, StoreError> {
        db_run!(self, |conn| media_resources::table
            .filter(media_resources::sha256.eq_any(sha256))
            .select(MediaRow::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from))
    }
}
