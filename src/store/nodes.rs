//! Nodes in the database. The config file (and `--node`) seed an empty table at start; after
//! that the table is the truth, edited through the admin API, every change kept in
//! `config_history`.

use std::time::{SystemTime, UNIX_EPOCH};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    db_run,
    schema::{config_history, nodes},
    Store, StoreError,
};
use crate::config::{NodeConfig, NodeKind, Priority};

/// A node as stored (the API shows every field but its credentials).
#[derive(
    Debug, Clone, PartialEq, Insertable, Queryable, Selectable, AsChangeset, Serialize, ToSchema,
)]
#[diesel(table_name = nodes, treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct NodeRow {
    pub name: String,
    #[schema(value_type = NodeKind)]
    pub kind: String,
    pub url: String,
    #[schema(value_type = Priority)]
    pub priority: String,
    pub weight: i32,
    pub max_concurrency: Option<i32>,
    /// Shown masked (`sk-…wxyz`); never in full.
    #[serde(serialize_with = "masked")]
    #[schema(value_type = Option<String>, example = "sk-…wxyz")]
    pub api_key: Option<String>,
    /// Models listed by hand, as a JSON array (empty: discovered by probes).
    #[serde(serialize_with = "json_list")]
    #[schema(value_type = Vec<String>)]
    pub models: String,
    /// Whether the node is probed.
    pub probe: bool,
    /// Whether the node (`openai`) serves the Responses API itself.
    pub responses: bool,
    /// Drained nodes take no new requests.
    pub drained: bool,
    /// Epoch milliseconds of the last change.
    pub updated_ms: i64,
}

/// Who made a change, for its history: a person or process, and, for a change that came
/// through the cluster's config bucket, its revision there.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub actor: &'a str,
    pub revision: Option<i64>,
}

impl<'a> From<&'a str> for Origin<'a> {
    fn from(actor: &'a str) -> Self {
        Origin {
            actor,
            revision: None,
        }
    }
}

impl<'a> From<&'a String> for Origin<'a> {
    fn from(actor: &'a String) -> Self {
        Origin::from(actor.as_str())
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl NodeRow {
    pub fn from_config(node: &NodeConfig, drained: bool) -> NodeRow {
        NodeRow {
            name: node.name.clone(),
            kind: node.kind.as_str().to_owned(),
            url: node.url.trim_end_matches('/').to_owned(),
            priority: match node.priority {
                Priority::Active => "active",
                Priority::Standby => "standby",
            }
            .to_owned(),
            weight: i32::try_from(node.weight).unwrap_or(i32::MAX),
            max_concurrency: node
                .max_concurrency
                .map(|m| i32::try_from(m).unwrap_or(i32::MAX)),
            api_key: node.api_key.clone(),
            models: serde_json::to_string(&node.models).unwrap_or_else(|_| "[]".to_owned()),
            probe: node.probe,
            responses: node.responses,
            drained,
            updated_ms: now_ms(),
        }
    }

    pub fn to_config(&self) -> Result<NodeConfig, StoreError> {
        let bad = |what: &str| {
            StoreError::Connect(format!(
                "node {:?} has an invalid {what} in the database",
                self.name
            ))
        };
        Ok(NodeConfig {
            name: self.name.clone(),
            kind: NodeKind::parse(&self.kind).ok_or_else(|| bad("kind"))?,
            url: self.url.clone(),
            priority: match self.priority.as_str() {
                "active" => Priority::Active,
                "standby" => Priority::Standby,
                _ => return Err(bad("priority")),
            },
            weight: u32::try_from(self.weight).map_err(|_| bad("weight"))?,
            max_concurrency: self
                .max_concurrency
                .map(|m| u32::try_from(m).map_err(|_| bad("max_concurrency")))
                .transpose()?,
            api_key: self.api_key.clone(),
            models: serde_json::from_str(&self.models).map_err(|_| bad("models"))?,
            probe: self.probe,
            responses: self.responses,
        })
    }
}

/// A secret as people may see it: enough to tell keys apart, not to use one.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 12 {
        return "…".to_owned();
    }
    let head: String = chars.iter().take(3).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{head}…{tail}")
}

fn masked<S: serde::Serializer>(secret: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_str(&mask(secret)),
        None => s.serialize_none(),
    }
}

fn json_list<S: serde::Serializer>(list: &str, s: S) -> Result<S::Ok, S::Error> {
    let names: Vec<String> = serde_json::from_str(list).unwrap_or_default();
    serde::Serialize::serialize(&names, s)
}

#[derive(Insertable)]
#[diesel(table_name = config_history, treat_none_as_default_value = false)]
struct HistoryRow {
    ts_ms: i64,
    actor: String,
    entity: String,
    before: Option<String>,
    after: Option<String>,
    cluster_revision: Option<i64>,
}

impl Store {
    pub async fn list_nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        db_run!(self, |conn| nodes::table
            .order(nodes::name)
            .select(NodeRow::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from))
    }

    pub async fn get_node(&self, name: &str) -> Result<Option<NodeRow>, StoreError> {
        db_run!(self, |conn| nodes::table
            .find(name)
            .select(NodeRow::as_select())
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from))
    }

    /// Writes `row` (insert or replace) and records the change.
    pub async fn put_node(
        &self,
        row: &NodeRow,
        origin: impl Into<Origin<'_>>,
    ) -> Result<(), StoreError> {
        let before = self.get_node(&row.name).await?;
        db_run!(self, |conn| diesel::insert_into(nodes::table)
            .values(row)
            .on_conflict(nodes::name)
            .do_update()
            .set(row)
            .execute(conn)
            .await
            .map_err(StoreError::from))?;
        self.record_change(
            origin.into(),
            &format!("node:{}", row.name),
            before.as_ref(),
            Some(row),
        )
        .await
    }

    /// Deletes a node; false when there was none.
    pub async fn delete_node(
        &self,
        name: &str,
        origin: impl Into<Origin<'_>>,
    ) -> Result<bool, StoreError> {
        let Some(before) = self.get_node(name).await? else {
            return Ok(false);
        };
        db_run!(self, |conn| diesel::delete(nodes::table.find(name))
            .execute(conn)
            .await
            .map_err(StoreError::from))?;
        self.record_change(origin.into(), &format!("node:{name}"), Some(&before), None)
            .await?;
        Ok(true)
    }

    pub(super) async fn record_change<T: Serialize>(
        &self,
        origin: Origin<'_>,
        entity: &str,
        before: Option<&T>,
        after: Option<&T>,
    ) -> Result<(), StoreError> {
        let json = |v: Option<&T>| v.and_then(|v| serde_json::to_string(v).ok());
        let row = HistoryRow {
            ts_ms: now_ms(),
            actor: origin.actor.to_owned(),
            entity: entity.to_owned(),
            before: json(before),
            after: json(after),
            cluster_revision: origin.revision,
        };
        // A change from the cluster's bucket is recorded once, by whichever replica sharing
        // this database comes first.
        db_run!(self, |conn| diesel::insert_into(config_history::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(conn)
            .await
            .map_err(StoreError::from))?;
        Ok(())
    }

    pub async fn history_len(&self, entity: &str) -> Result<i64, StoreError> {
        db_run!(self, |conn| config_history::table
            .filter(config_history::entity.eq(entity))
            .count()
            .get_result(conn)
            .await
            .map_err(StoreError::from))
    }
}

impl Store {
    /// A setting's JSON value, if stored.
    pub async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        use super::schema::settings;
        db_run!(self, |conn| settings::table
            .find(key)
            .select(settings::value)
            .first::<String>(conn)
            .await
            .optional()
            .map_err(StoreError::from))
    }

    /// Stores bookkeeping of the replica's own (not configuration: no history).
    pub async fn put_meta(&self, key: &str, text: &str) -> Result<(), StoreError> {
        use super::schema::settings;
        let now = now_ms();
        db_run!(self, |conn| diesel::insert_into(settings::table)
            .values((
                settings::key.eq(key),
                settings::value.eq(text),
                settings::updated_ms.eq(now)
            ))
            .on_conflict(settings::key)
            .do_update()
            .set((settings::value.eq(text), settings::updated_ms.eq(now)))
            .execute(conn)
            .await
            .map_err(StoreError::from))?;
        Ok(())
    }

    /// Stores a setting's JSON value and records the change.
    pub async fn put_setting(
        &self,
        key: &str,
        value: &serde_json::Value,
        origin: impl Into<Origin<'_>>,
    ) -> Result<(), StoreError> {
        use super::schema::settings;
        let before: Option<serde_json::Value> = self
            .get_setting(key)
            .await?
            .and_then(|v| serde_json::from_str(&v).ok());
        let text = value.to_string();
        let now = now_ms();
        db_run!(self, |conn| diesel::insert_into(settings::table)
            .values((
                settings::key.eq(key),
                settings::value.eq(&text),
                settings::updated_ms.eq(now)
            ))
            .on_conflict(settings::key)
            .do_update()
            .set((settings::value.eq(&text), settings::updated_ms.eq(now)))
            .execute(conn)
            .await
            .map_err(StoreError::from))?;
        self.record_change(
            origin.into(),
            &format!("setting:{key}"),
            before.as_ref(),
            Some(value),
        )
        .await
    }
}
