//! Request records: one row per inference request, written in batches by the `LogWriter`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::{db_run, schema::request_logs, DbPool, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Insertable, Queryable, Selectable, Serialize)]
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
}

impl Store {
    /// Inserts a batch of records: one multi-row INSERT on PostgreSQL; on SQLite, whose batch
    /// insert diesel runs only on its sync connection, one transaction on that connection.
    pub async fn insert_records(&self, records: &[RequestRecord]) -> Result<usize, StoreError> {
        match &self.pool {
            DbPool::Postgres(pool) => {
                let mut conn = pool.get().await?;
                Ok(diesel::insert_into(request_logs::table)
                    .values(records)
                    .execute(&mut conn)
                    .await?)
            }
            DbPool::Sqlite(pool) => {
                let mut conn = pool.get().await?;
                let records = records.to_vec();
                Ok(conn
                    .spawn_blocking(move |conn| {
                        conn.transaction(|conn| {
                            let insert = diesel::insert_into(request_logs::table).values(&records);
                            diesel::RunQueryDsl::execute(insert, conn)
                        })
                    })
                    .await?)
            }
        }
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
