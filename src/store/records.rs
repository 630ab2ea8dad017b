//! Request records: one row per inference request, written in batches by the `LogWriter`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use diesel_async::AsyncConnection;

use super::{
    contents::{ContentRow, MediaRow},
    db_run,
    schema::{media_resources, request_contents, request_logs},
    DbPool, Store, StoreError,
};

/// One inference request, refused ones included. Times are epoch milliseconds, durations
/// milliseconds.
#[derive(Debug, Clone, PartialEq, Insertable, Queryable, Selectable, Serialize, ToSchema)]
#[diesel(table_name = request_logs, treat_none_as_default_value = false)]
pub struct RequestRecord {
    pub id: String,
    pub request_id: String,
    pub ts_ms: i64,
    pub replica: String,
    pub api: String,
    pub key_id: Option<String>,
    pub model_requested: String,
    pub model_resolved: Option<String>,
    pub node: Option<String>,
    pub status: i32,
    pub error_kind: Option<String>,
    pub stream: bool,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub retries: i32,
    pub client_addr: Option<String>,
    /// The client's fields a translation dropped, as `x-drover-dropped` told them
    /// (`context_management, output_config.effort`); `None` when nothing was.
    pub dropped: Option<String>,
}

impl Store {
    /// Inserts a batch of records: one multi-row INSERT on PostgreSQL; on SQLite, whose batch
    /// insert diesel runs only on its sync connection, one transaction on that connection.
    pub async fn insert_records(&self, records: &[RequestRecord]) -> Result<usize, StoreError> {
        self.insert_batch(records, &[], &[]).await
    }

    /// Inserts records with their captured bodies and the media found in them, in one
    /// transaction: a retried batch never leaves half of itself behind. Media already known
    /// (the same image sent again) are skipped.
    pub async fn insert_batch(
        &self,
        records: &[RequestRecord],
        contents: &[ContentRow],
        media: &[MediaRow],
    ) -> Result<usize, StoreError> {
        match &self.pool {
            DbPool::Postgres(pool) => {
                let mut conn = pool.get().await?;
                conn.transaction(async |conn| {
                    let n = diesel::insert_into(request_logs::table)
                        .values(records)
                        .execute(conn)
                        .await?;
                    if !contents.is_empty() {
                        diesel::insert_into(request_contents::table)
                            .values(contents)
                            .execute(conn)
                            .await?;
                    }
                    if !media.is_empty() {
                        diesel::insert_into(media_resources::table)
                            .values(media)
                            .on_conflict_do_nothing()
                            .execute(conn)
                            .await?;
                    }
                    Ok::<_, StoreError>(n)
                })
                .await
            }
            DbPool::Sqlite(pool) => {
                let mut conn = pool.get().await?;
                let (records, contents, media) =
                    (records.to_vec(), contents.to_vec(), media.to_vec());
                Ok(conn
                    .spawn_blocking(move |conn| {
                        use diesel::RunQueryDsl as Sync;
                        conn.transaction(|conn| {
                            let insert = diesel::insert_into(request_logs::table).values(&records);
                            let n = Sync::execute(insert, conn)?;
                            if !contents.is_empty() {
                                let insert =
                                    diesel::insert_into(request_contents::table).values(&contents);
                                Sync::execute(insert, conn)?;
                            }
                            if !media.is_empty() {
                                let insert = diesel::insert_or_ignore_into(media_resources::table)
                                    .values(&media);
                                Sync::execute(insert, conn)?;
                            }
                            Ok::<_, diesel::result::Error>(n)
                        })
                    })
                    .await?)
            }
        }
    }

    pub async fn get_record(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        db_run!(self, |conn| request_logs::table
            .find(id)
            .select(RequestRecord::as_select())
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from))
    }

    pub async fn count_records(&self) -> Result<i64, StoreError> {
        db_run!(self, |conn| request_logs::table
            .count()
            .get_result(conn)
            .await
            .map_err(StoreError::from))
    }

    /// The newest records first.
    pub async fn recent_records(&self, limit: i64) -> Result<Vec<RequestRecord>, StoreError> {
        db_run!(self, |conn| request_logs::table
            .order(request_logs::ts_ms.desc())
            .limit(limit)
            .select(RequestRecord::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from))
    }
}

/// A query of request records; absent fields do not filter.
#[derive(Debug, Clone, Default, serde::Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Matches the resolved or the requested model name.
    pub model: Option<String>,
    pub node: Option<String>,
    pub key: Option<String>,
    pub status: Option<i32>,
    /// Epoch milliseconds, inclusive.
    pub since: Option<i64>,
    /// Epoch milliseconds, exclusive.
    pub until: Option<i64>,
    /// At most this many records (default 100, at most 1000).
    pub limit: Option<i64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Text the captured request or response body contains (case-sensitive on PostgreSQL).
    pub q: Option<String>,
}

/// A page of records, newest first, and where the next page starts.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    pub records: Vec<RequestRecord>,
    pub next_cursor: Option<String>,
}

pub const MAX_PAGE: i64 = 1000;

/// `"<ts_ms>:<id>"` of the last record of a page: pages follow (time, id) descending, which
/// stays stable while new records arrive.
fn parse_cursor(cursor: &str) -> Result<(i64, String), String> {
    let (ts, id) = cursor
        .split_once(':')
        .ok_or_else(|| "cursor: expected a next_cursor value from a previous page".to_owned())?;
    let ts = ts
        .parse()
        .map_err(|_| "cursor: expected a next_cursor value from a previous page".to_owned())?;
    Ok((ts, id.to_owned()))
}

/// `%text%` with LIKE's own wildcards in `text` escaped.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl LogQuery {
    /// Checks the query; the error names the parameter.
    pub fn check(&self) -> Result<(), String> {
        if let Some(limit) = self.limit {
            if !(1..=MAX_PAGE).contains(&limit) {
                return Err(format!("limit: must be between 1 and {MAX_PAGE}"));
            }
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err("since: must be before until".to_owned());
            }
        }
        if let Some(cursor) = &self.cursor {
            parse_cursor(cursor)?;
        }
        Ok(())
    }
}

impl Store {
    /// Records matching `q`, newest first (call `LogQuery::check` first).
    pub async fn query_records(&self, q: &LogQuery) -> Result<LogPage, StoreError> {
        let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
        let cursor = q.cursor.as_deref().and_then(|c| parse_cursor(c).ok());
        let records: Vec<RequestRecord> = db_run!(self, |conn| {
            let mut query = request_logs::table.into_boxed();
            if let Some(model) = &q.model {
                query = query.filter(
                    request_logs::model_resolved
                        .eq(model)
                        .or(request_logs::model_requested.eq(model)),
                );
            }
            if let Some(node) = &q.node {
                query = query.filter(request_logs::node.eq(node));
            }
            if let Some(key) = &q.key {
                query = query.filter(request_logs::key_id.eq(key));
            }
            if let Some(status) = q.status {
                query = query.filter(request_logs::status.eq(status));
            }
            if let Some(since) = q.since {
                query = query.filter(request_logs::ts_ms.ge(since));
            }
            if let Some(until) = q.until {
                query = query.filter(request_logs::ts_ms.lt(until));
            }
            if let Some(text) = &q.q {
                let pattern = like_pattern(text);
                let matching = request_contents::table
                    .filter(
                        request_contents::request_body
                            .like(pattern.clone())
                            .escape('\\')
                            .or(request_contents::response_body.like(pattern).escape('\\')),
                    )
                    .select(request_contents::log_id);
                query = query.filter(request_logs::id.eq_any(matching));
            }
            if let Some((ts, id)) = &cursor {
                query = query.filter(
                    request_logs::ts_ms
                        .lt(*ts)
                        .or(request_logs::ts_ms.eq(*ts).and(request_logs::id.lt(id))),
                );
            }
            query
                .order((request_logs::ts_ms.desc(), request_logs::id.desc()))
                .limit(limit)
                .select(RequestRecord::as_select())
                .load(conn)
                .await
                .map_err(StoreError::from)
        })?;
        let next_cursor = (records.len() as i64 == limit)
            .then(|| records.last().map(|r| format!("{}:{}", r.ts_ms, r.id)))
            .flatten();
        Ok(LogPage {
            records,
            next_cursor,
        })
    }
}
