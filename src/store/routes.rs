//! Routes in the database, seeded from the file like nodes, edited through the admin API.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::{
    db_run,
    nodes::{now_ms, Origin},
    schema::routes,
    Store, StoreError,
};
use crate::config::RouteConfig;

#[derive(Debug, Clone, PartialEq, Insertable, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = routes, treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct RouteRow {
    pub alias: String,
    pub target_model: String,
    /// JSON array of node names.
    pub nodes: String,
    /// JSON array of aliases.
    pub fallbacks: String,
    pub updated_ms: i64,
}

/// A route as the API shows it: lists as lists.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RouteView {
    #[serde(flatten)]
    pub route: RouteConfig,
    pub updated_ms: i64,
}

impl RouteRow {
    pub fn from_config(route: &RouteConfig) -> RouteRow {
        RouteRow {
            alias: route.alias.clone(),
            target_model: route.target_model.clone(),
            nodes: serde_json::json!(route.nodes).to_string(),
            fallbacks: serde_json::json!(route.fallbacks).to_string(),
            updated_ms: now_ms(),
        }
    }

    pub fn to_config(&self) -> Result<RouteConfig, StoreError> {
        let list = |text: &str, what: &str| {
            serde_json::from_str::<Vec<String>>(text).map_err(|e| {
                StoreError::Connect(format!(
                    "route {:?} has invalid {what} in the database: {e}",
                    self.alias
                ))
            })
        };
        Ok(RouteConfig {
            alias: self.alias.clone(),
            target_model: self.target_model.clone(),
            nodes: list(&self.nodes, "nodes")?,
            fallbacks: list(&self.fallbacks, "fallbacks")?,
        })
    }

    pub fn view(&self) -> Result<RouteView, StoreError> {
        Ok(RouteView {
            route: self.to_config()?,
            updated_ms: self.updated_ms,
        })
    }
}

impl Store {
    pub async fn list_routes(&self) -> Result<Vec<RouteRow>, StoreError> {
        db_run!(self, |conn| routes::table
            .order(routes::alias)
            .select(RouteRow::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from))
    }

    pub async fn get_route(&self, alias: &str) -> Result<Option<RouteRow>, StoreError> {
        db_run!(self, |conn| routes::table
            .find(alias)
            .select(RouteRow::as_select())
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from))
    }

    /// Writes a route (insert or replace) and records the change.
    pub async fn put_route(
        &self,
        row: &RouteRow,
        origin: impl Into<Origin<'_>>,
    ) -> Result<(), StoreError> {
        let before = self.get_route(&row.alias).await?;
        db_run!(self, |conn| diesel::insert_into(routes::table)
            .values(row)
            .on_conflict(routes::alias)
            .do_update()
            .set(row)
            .execute(conn)
            .await
            .map_err(StoreError::from))?;
        let before = before.and_then(|r| r.view().ok());
        let after = row.view().ok();
        self.record_change(
            origin.into(),
            &format!("route:{}", row.alias),
            before.as_ref(),
            after.as_ref(),
        )
        .await
    }

    /// Deletes a route; false when there was none.
    pub async fn delete_route(
        &self,
        alias: &str,
        origin: impl Into<Origin<'_>>,
    ) -> Result<bool, StoreError> {
        let Some(before) = self.get_route(alias).await? else {
            return Ok(false);
        };
        db_run!(self, |conn| diesel::delete(routes::table.find(alias))
            .execute(conn)
            .await
            .map_err(StoreError::from))?;
        let before = before.view().ok();
        self.record_change(
            origin.into(),
            &format!("route:{alias}"),
            before.as_ref(),
            None,
        )
        .await?;
        Ok(true)
    }

    /// Whether any change to entities named `<kind>:…` was ever recorded: the file seeds a
    /// kind only while the database has never held it, so deleting every node through the API
    /// does not bring the file's back at the next start.
    pub async fn ever_stored(&self, kind: &str) -> Result<bool, StoreError> {
        use super::schema::config_history;
        let pattern = format!("{kind}:%");
        let count: i64 = db_run!(self, |conn| config_history::table
            .filter(config_history::entity.like(&pattern))
            .count()
            .get_result(conn)
            .await
            .map_err(StoreError::from))?;
        Ok(count > 0)
    }
}
