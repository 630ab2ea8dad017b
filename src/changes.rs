//! A change to the configuration (a node, a route, a settings section or an API key) and how a
//! replica applies it: stored first (with its history), then handed to the running actors
//! and tables, so the next request already follows it. The admin API applies its changes
//! this way on a standalone replica; in a cluster, every replica applies each change it
//! receives from the shared bucket this same way.

use std::sync::Arc;

use crate::{
    actors::messages::{ApplyProbing, ApplySelectorConfig, RemoveNode, SetDrained, UpsertNode},
    auth::KeyRing,
    config::{Config, RouteConfig},
    error::GatewayError,
    routing::{RouteTable, Router},
    server::{
        FAILOVER_SETTING, HEALTH_SETTING, LIMITS_SETTING, SELECTOR_SETTING, TIMEOUTS_SETTING,
    },
    store::{
        keys::KeyRow,
        nodes::{NodeRow, Origin},
        routes::RouteRow,
        Store, StoreError,
    },
    tuning::Tuning,
};

/// The settings sections, as stored in `settings` and named in the API.
pub const SECTIONS: [&str; 5] = [
    SELECTOR_SETTING,
    HEALTH_SETTING,
    TIMEOUTS_SETTING,
    FAILOVER_SETTING,
    LIMITS_SETTING,
];

/// One entity set to a new value, or removed (`None`). API keys are never removed, only
/// revoked (a new value).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Node {
        name: String,
        row: Option<NodeRow>,
    },
    Route {
        alias: String,
        route: Option<RouteConfig>,
    },
    Setting {
        section: String,
        value: serde_json::Value,
    },
    Key {
        row: KeyRow,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

/// What applying a change needs; one per replica.
pub struct Applier {
    pub store: Store,
    pub router: Arc<Router>,
    pub keys: Arc<KeyRing>,
    pub tuning: crate::tuning::LiveTuning,
    /// The configuration the replica started with, for what settings do not override.
    pub base: Arc<Config>,
}

impl Applier {
    pub async fn apply(&self, change: &Change, origin: Origin<'_>) -> Result<(), ApplyError> {
        match change {
            Change::Node { name, row } => self.node(name, row.as_ref(), origin).await,
            Change::Route { alias, route } => self.route(alias, route.as_ref(), origin).await,
            Change::Setting { section, value } => self.setting(section, value, origin).await,
            Change::Key { row } => {
                self.store.put_key(row, origin).await?;
                self.keys.reload().await?;
                Ok(())
            }
        }
    }

    async fn node(
        &self,
        name: &str,
        row: Option<&NodeRow>,
        origin: Origin<'_>,
    ) -> Result<(), ApplyError> {
        let selector = self.router.selector();
        let Some(row) = row else {
            if self.store.get_node(name).await?.is_some() {
                self.store.delete_node(name, origin).await?;
            }
            // Gone from the pool, whether it was there or not.
            let _ = selector.send(RemoveNode(name.to_owned())).await;
            return Ok(());
        };
        let config = row.to_config()?;
        self.store.put_node(row, origin).await?;
        // Compared with the running pool, not the database: replicas sharing PostgreSQL find
        // the row already written by whichever applied the change first.
        let table = self.router.table();
        let running = table.nodes.iter().find(|n| *n.status.name == *name);
        let unchanged = running.is_some_and(|n| {
            let s = &n.status;
            s.kind == config.kind
                && *s.url == *config.url.trim_end_matches('/')
                && s.priority == config.priority
                && s.weight == config.weight
                && s.max_concurrency == config.max_concurrency
                && n.target.max_concurrency == config.max_concurrency
                && n.target.serves_responses == config.responses
        });
        // Only a change of the node itself restarts its actor (and its health); a drain
        // alone does not.
        if !unchanged {
            selector.do_send(UpsertNode(config));
        }
        if running.map(|n| n.drained) != Some(row.drained) || !unchanged {
            let drained = selector
                .send(SetDrained {
                    name: name.to_owned(),
                    drained: row.drained,
                })
                .await;
            drained.map_err(|e| GatewayError::Internal(e.to_string()))??;
        }
        Ok(())
    }

    async fn route(
        &self,
        alias: &str,
        route: Option<&RouteConfig>,
        origin: Origin<'_>,
    ) -> Result<(), ApplyError> {
        match route {
            Some(route) => {
                self.store
                    .put_route(&RouteRow::from_config(route), origin)
                    .await?
            }
            None => {
                self.store.delete_route(alias, origin).await?;
            }
        }
        self.reload_routes().await
    }

    /// Rebuilds the router's routes from the database.
    async fn reload_routes(&self) -> Result<(), ApplyError> {
        let routes = self
            .store
            .list_routes()
            .await?
            .iter()
            .map(RouteRow::to_config)
            .collect::<Result<Vec<_>, _>>()?;
        self.router.set_routes(RouteTable::new(routes));
        Ok(())
    }

    async fn setting(
        &self,
        section: &str,
        value: &serde_json::Value,
        origin: Origin<'_>,
    ) -> Result<(), ApplyError> {
        if !SECTIONS.contains(&section) {
            return Err(ApplyError::Invalid(format!(
                "no settings section {section:?}"
            )));
        }
        let next = self.compose(&[(section, value.clone())]).await?;
        self.store.put_setting(section, value, origin).await?;
        self.apply_settings(&next, &[section]);
        Ok(())
    }

    /// The configuration the stored sections give, with `changed` sections replaced; checked
    /// like a config file.
    pub async fn compose(
        &self,
        changed: &[(&str, serde_json::Value)],
    ) -> Result<Config, ApplyError> {
        let mut next = (*self.base).clone();
        for section in SECTIONS {
            let value = match changed.iter().find(|(s, _)| *s == section) {
                Some((_, value)) => Some(value.clone()),
                None => match self.store.get_setting(section).await? {
                    Some(text) => serde_json::from_str(&text).ok(),
                    None => None,
                },
            };
            let Some(value) = value else { continue };
            let bad = |e: serde_json::Error| ApplyError::Invalid(format!("{section}: {e}"));
            match section {
                SELECTOR_SETTING => next.selector = serde_json::from_value(value).map_err(bad)?,
                HEALTH_SETTING => next.health = serde_json::from_value(value).map_err(bad)?,
                TIMEOUTS_SETTING => next.timeouts = serde_json::from_value(value).map_err(bad)?,
                FAILOVER_SETTING => next.failover = serde_json::from_value(value).map_err(bad)?,
                _ => next.limits = serde_json::from_value(value).map_err(bad)?,
            }
        }
        next.validate()
            .map_err(|e| ApplyError::Invalid(e.to_string()))?;
        Ok(next)
    }

    /// Hands the sections named in `changed` to the running replica.
    pub fn apply_settings(&self, next: &Config, changed: &[&str]) {
        let selector = self.router.selector();
        if changed.contains(&SELECTOR_SETTING) {
            selector.do_send(ApplySelectorConfig(next.selector.clone()));
        }
        if changed.contains(&HEALTH_SETTING) || changed.contains(&TIMEOUTS_SETTING) {
            selector.do_send(ApplyProbing {
                health: next.health.clone(),
                connect_timeout: next.timeouts.connect,
            });
        }
        self.tuning.store(Arc::new(Tuning::of(next)));
    }
}
