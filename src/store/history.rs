//! The change history (`config_history`) read back: who changed what and when, with the
//! values before and after, newest first. Rows are written by `record_change` (nodes.rs).

use diesel::{prelude::*, sql_types::Text};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use serde_json::Value;

use super::{db_run, schema::config_history, Store, StoreError};

diesel::define_sql_function! {
    /// The same on both backends: 1-based, counting characters.
    fn substr(text: Text, start: diesel::sql_types::Integer, length: diesel::sql_types::Integer) -> Text;
}

/// Which entities to list: `node:gpu-a` exactly, or every entity starting with `node:` when
/// written `node:*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityFilter {
    Exact(String),
    Prefix(String),
}

impl EntityFilter {
    pub fn parse(text: &str) -> EntityFilter {
        match text.strip_suffix('*') {
            Some(prefix) => EntityFilter::Prefix(prefix.to_owned()),
            None => EntityFilter::Exact(text.to_owned()),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = config_history)]
struct ChangeRow {
    revision: i64,
    ts_ms: i64,
    actor: String,
    entity: String,
    before: Option<String>,
    after: Option<String>,
}

/// One change; `before` is null for a creation, `after` for a removal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub revision: i64,
    pub ts_ms: i64,
    pub actor: String,
    pub entity: String,
    pub before: Value,
    pub after: Value,
}

/// A page of changes, newest first; `next_before` continues under the last one.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    pub history: Vec<Change>,
    pub next_before: Option<i64>,
}

/// Stored values are JSON written by `record_change`; one that does not parse is shown as
/// the text it is rather than hidden.
fn json(text: Option<String>) -> Value {
    text.map_or(Value::Null, |t| {
        serde_json::from_str(&t).unwrap_or(Value::String(t))
    })
}

impl Store {
    /// Up to `limit` changes with a revision below `before`, newest first.
    pub async fn history(
        &self,
        entity: Option<&EntityFilter>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<HistoryPage, StoreError> {
        let rows: Vec<ChangeRow> = db_run!(self, |conn| {
            let mut query = config_history::table.into_boxed();
            match entity {
                Some(EntityFilter::Exact(name)) => {
                    query = query.filter(config_history::entity.eq(name));
                }
                // LIKE would do, but SQLite's ignores case and `_` in names would be a
                // wildcard: compare the leading characters instead.
                Some(EntityFilter::Prefix(prefix)) if !prefix.is_empty() => {
                    let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
                    query = query.filter(substr(config_history::entity, 1, length).eq(prefix));
                }
                _ => {}
            }
            if let Some(before) = before {
                query = query.filter(config_history::revision.lt(before));
            }
            query
                .order(config_history::revision.desc())
                .limit(limit)
                .select(ChangeRow::as_select())
                .load(conn)
                .await
                .map_err(StoreError::from)
        })?;
        let next_before = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| r.revision))
            .flatten();
        let history = rows
            .into_iter()
            .map(|r| Change {
                revision: r.revision,
                ts_ms: r.ts_ms,
                actor: r.actor,
                entity: r.entity,
                before: json(r.before),
                after: json(r.after),
            })
            .collect();
        Ok(HistoryPage {
            history,
            next_before,
        })
    }
}
