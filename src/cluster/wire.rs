//! Config changes as the cluster's bucket holds them: one key per entity (`kv_keys`), its
//! value a JSON envelope naming who made the change. API keys travel with their hash (never
//! the secret), so every replica can check them.

use serde::{Deserialize, Serialize};

use super::kv_keys::{decode, encode, Kind};
use crate::{
    changes::Change,
    config::{NodeConfig, RouteConfig},
    store::{keys::KeyRow, nodes::NodeRow},
};

#[derive(Debug, Serialize, Deserialize)]
struct Envelope<T> {
    /// Who made the change (a user, the admin token, `drover config publish`).
    actor: String,
    /// The replica that wrote it, or `cli`.
    origin: String,
    value: T,
}

#[derive(Debug, Serialize, Deserialize)]
struct NodeValue {
    #[serde(flatten)]
    config: NodeConfig,
    #[serde(default)]
    drained: bool,
    /// The node's own API key, which `NodeConfig` never serializes: the fleet needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
}

/// `KeyRow` with its hash, which the API never shows.
#[derive(Debug, Serialize, Deserialize)]
struct KeyValue {
    id: String,
    name: String,
    prefix: String,
    hash: String,
    enabled: bool,
    expires_ms: Option<i64>,
    allowed_models: Option<Vec<String>>,
    rpm_limit: Option<i32>,
    tpm_limit: Option<i32>,
    created_ms: i64,
    revoked_ms: Option<i64>,
}

/// The bucket key of the entity a change is about.
pub fn key_of(change: &Change) -> String {
    match change {
        Change::Node { name, .. } => encode(Kind::Node, name),
        Change::Route { alias, .. } => encode(Kind::Route, alias),
        Change::Setting { section, .. } => encode(Kind::Setting, section),
        Change::Key { row } => encode(Kind::Key, &row.id),
    }
}

/// The value to store; `None` for a removal (a delete marker in the bucket).
pub fn value_of(change: &Change, actor: &str, origin: &str) -> serde_json::Result<Option<Vec<u8>>> {
    let envelope = |value: serde_json::Value| Envelope {
        actor: actor.to_owned(),
        origin: origin.to_owned(),
        value,
    };
    let value = match change {
        Change::Node { row: None, .. } | Change::Route { route: None, .. } => return Ok(None),
        Change::Node { row: Some(row), .. } => {
            let config = row
                .to_config()
                .map_err(|e| serde::ser::Error::custom(e.to_string()))?;
            serde_json::to_value(NodeValue {
                api_key: config.api_key.clone(),
                config,
                drained: row.drained,
            })?
        }
        Change::Route {
            route: Some(route), ..
        } => serde_json::to_value(route)?,
        Change::Setting { value, .. } => value.clone(),
        Change::Key { row } => serde_json::to_value(KeyValue {
            id: row.id.clone(),
            name: row.name.clone(),
            prefix: row.prefix.clone(),
            hash: row.hash.clone(),
            enabled: row.enabled,
            expires_ms: row.expires_ms,
            allowed_models: row.models(),
            rpm_limit: row.rpm_limit,
            tpm_limit: row.tpm_limit,
            created_ms: row.created_ms,
            revoked_ms: row.revoked_ms,
        })?,
    };
    serde_json::to_vec(&envelope(value)).map(Some)
}

/// A change read from the bucket, with who made it; `None` for a key Drover does not know
/// (written by something else) or a value it cannot read.
pub fn change_of(key: &str, value: Option<&[u8]>) -> Option<(Change, String, String)> {
    let (kind, name) = decode(key)?;
    let Some(value) = value else {
        return match kind {
            Kind::Node => Some((
                Change::Node { name, row: None },
                String::new(),
                String::new(),
            )),
            Kind::Route => Some((
                Change::Route {
                    alias: name,
                    route: None,
                },
                String::new(),
                String::new(),
            )),
            // Settings and keys are never removed.
            Kind::Setting | Kind::Key => None,
        };
    };
    let envelope: Envelope<serde_json::Value> = serde_json::from_slice(value).ok()?;
    let change = match kind {
        Kind::Node => {
            let mut node: NodeValue = serde_json::from_value(envelope.value).ok()?;
            node.config.api_key = node.api_key.take().or(node.config.api_key);
            Change::Node {
                name,
                row: Some(NodeRow::from_config(&node.config, node.drained)),
            }
        }
        Kind::Route => Change::Route {
            alias: name,
            route: Some(serde_json::from_value::<RouteConfig>(envelope.value).ok()?),
        },
        Kind::Setting => Change::Setting {
            section: name,
            value: envelope.value,
        },
        Kind::Key => {
            let key: KeyValue = serde_json::from_value(envelope.value).ok()?;
            Change::Key {
                row: KeyRow {
                    id: key.id,
                    name: key.name,
                    prefix: key.prefix,
                    hash: key.hash,
                    enabled: key.enabled,
                    expires_ms: key.expires_ms,
                    allowed_models: key.allowed_models.map(|m| serde_json::json!(m).to_string()),
                    rpm_limit: key.rpm_limit,
                    tpm_limit: key.tpm_limit,
                    created_ms: key.created_ms,
                    revoked_ms: key.revoked_ms,
                },
            }
        }
    };
    Some((change, envelope.actor, envelope.origin))
}
