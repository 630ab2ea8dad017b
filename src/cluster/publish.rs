//! The cluster's config as a whole, for `drover config show | publish | history | rollback`,
//! which need only NATS (no replica): read every entity from the bucket, turn a file into the
//! entities it asks for, plan the difference, and write it with compare-and-set on each
//! entity's revision, so a publish racing an admin change fails instead of overwriting it.
//!
//! A publish file is a Drover config file's `[[nodes]]`, `[[routes]]` and settings sections
//! (`[selector]`, `[health]`, `[timeouts]`, `[failover]`, `[limits]`), plus `drained = [names]`.
//! Its nodes and routes are the whole set (others are removed); settings sections it names
//! replace theirs, others stay. API keys are left to the admin API.

use std::collections::BTreeMap;

use async_nats::jetstream::kv::{self, Operation};
use figment::{
    providers::{Format, Serialized, Toml},
    Figment,
};
use futures_util::StreamExt;
use serde_json::Value;

use super::{
    kv_keys::{decode, Kind},
    wire::{change_of, key_of, value_of},
};
use crate::{
    changes::{Change, SECTIONS},
    config::Config,
    store::nodes::NodeRow,
};

/// One entity as the bucket holds it now.
#[derive(Debug, Clone)]
pub struct Current {
    pub revision: u64,
    pub change: Change,
    pub actor: String,
}

/// Every live entity of the bucket, by key.
pub async fn read(bucket: &kv::Store) -> anyhow::Result<BTreeMap<String, Current>> {
    let mut keys = bucket.keys().await?;
    let mut found = BTreeMap::new();
    while let Some(key) = keys.next().await {
        let key = key?;
        let Some(entry) = bucket.entry(key.clone()).await? else {
            continue;
        };
        if entry.operation != Operation::Put {
            continue;
        }
        if let Some((change, actor, _)) = change_of(&key, Some(&entry.value)) {
            found.insert(
                key,
                Current {
                    revision: entry.revision,
                    change,
                    actor,
                },
            );
        }
    }
    Ok(found)
}

/// The entities a publish file asks for; checked like a config file (the error names the
/// field) and for consistency (routes name existing nodes and routes).
pub fn from_file(text: &str) -> anyhow::Result<Vec<Change>> {
    let mut raw: Value = Figment::from(Toml::string(text)).extract()?;
    let fields = raw
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("expected TOML tables"))?;
    let drained: Vec<String> = match fields.remove("drained") {
        Some(list) => serde_json::from_value(list)
            .map_err(|e| anyhow::anyhow!("drained: expected a list of node names ({e})"))?,
        None => Vec::new(),
    };
    let allowed = ["nodes", "routes"]
        .into_iter()
        .chain(SECTIONS)
        .collect::<Vec<_>>();
    if let Some(other) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        anyhow::bail!(
            "{other}: not part of the cluster's config (publish takes nodes, routes, drained and {})",
            SECTIONS.join(", ")
        );
    }
    let named: Vec<&str> = SECTIONS
        .into_iter()
        .filter(|s| fields.contains_key(*s))
        .collect();
    let config: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Serialized::globals(&raw))
        .extract()?;
    config.validate()?;
    for name in &drained {
        if !config.nodes.iter().any(|n| &n.name == name) {
            anyhow::bail!("drained: node {name:?} is not in the file's nodes");
        }
    }
    for route in &config.routes {
        if let Some(node) = route
            .nodes
            .iter()
            .find(|n| !config.nodes.iter().any(|c| &c.name == *n))
        {
            anyhow::bail!(
                "routes: {:?} names node {node:?}, which the file lacks",
                route.alias
            );
        }
        if let Some(fallback) = route
            .fallbacks
            .iter()
            .find(|f| !config.routes.iter().any(|r| &r.alias == *f))
        {
            anyhow::bail!(
                "routes: {:?} falls back to {fallback:?}, which the file lacks",
                route.alias
            );
        }
    }
    let mut changes = Vec::new();
    for node in &config.nodes {
        let row = NodeRow::from_config(node, drained.contains(&node.name));
        changes.push(Change::Node {
            name: node.name.clone(),
            row: Some(row),
        });
    }
    for route in config.routes {
        changes.push(Change::Route {
            alias: route.alias.clone(),
            route: Some(route),
        });
    }
    for section in named {
        let value = match section {
            "selector" => serde_json::to_value(&config.selector)?,
            "health" => serde_json::to_value(&config.health)?,
            "timeouts" => serde_json::to_value(&config.timeouts)?,
            "failover" => serde_json::to_value(&config.failover)?,
            _ => serde_json::to_value(&config.limits)?,
        };
        changes.push(Change::Setting {
            section: section.to_owned(),
            value,
        });
    }
    Ok(changes)
}

/// One write of a plan.
#[derive(Debug, Clone)]
pub struct Step {
    pub key: String,
    /// The revision the write expects (`None`: the entity must not exist).
    pub expected: Option<u64>,
    pub before: Option<Value>,
    /// `None`: remove.
    pub after: Option<Change>,
}

impl Step {
    /// `+ node gpu-a`, `~ route chat`, `- node old`.
    pub fn describe(&self) -> String {
        let what = decode(&self.key).map_or(self.key.clone(), |(kind, name)| {
            format!("{} {name}", kind.as_str())
        });
        match (&self.before, &self.after) {
            (None, Some(_)) => format!("+ {what}"),
            (Some(_), Some(_)) => format!("~ {what}"),
            _ => format!("- {what}"),
        }
    }

    pub fn after_json(&self) -> Option<Value> {
        self.after.as_ref().map(comparable)
    }
}

/// What an entity's value is, for comparing and showing (no actor, no timestamps).
pub fn comparable(change: &Change) -> Value {
    let bytes = value_of(change, "", "").ok().flatten().unwrap_or_default();
    let mut value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    value
        .get_mut("value")
        .map(Value::take)
        .unwrap_or(Value::Null)
}

/// The writes that turn `current` into `desired`: nodes and routes `desired` lacks are
/// removed; settings and keys it does not name stay.
pub fn plan(current: &BTreeMap<String, Current>, desired: &[Change]) -> Vec<Step> {
    let mut steps = Vec::new();
    for change in desired {
        let key = key_of(change);
        let after = comparable(change);
        match current.get(&key) {
            Some(now) if comparable(&now.change) == after => {}
            Some(now) => steps.push(Step {
                key,
                expected: Some(now.revision),
                before: Some(comparable(&now.change)),
                after: Some(change.clone()),
            }),
            None => steps.push(Step {
                key,
                expected: None,
                before: None,
                after: Some(change.clone()),
            }),
        }
    }
    for (key, now) in current {
        let removable = matches!(decode(key), Some((Kind::Node | Kind::Route, _)));
        if removable && !desired.iter().any(|c| &key_of(c) == key) {
            steps.push(Step {
                key: key.clone(),
                expected: Some(now.revision),
                before: Some(comparable(&now.change)),
                after: None,
            });
        }
    }
    steps
}

/// Writes a plan, each step compare-and-set; stops at the first failure (a concurrent change:
/// read again and retry). Returns the last revision written.
pub async fn execute(bucket: &kv::Store, steps: &[Step], actor: &str) -> anyhow::Result<u64> {
    let mut last = 0;
    for step in steps {
        let stale = || {
            anyhow::anyhow!(
                "{} changed meanwhile; nothing after it was written: run again",
                step.key
            )
        };
        match &step.after {
            Some(change) => {
                let value = value_of(change, actor, "cli")?
                    .ok_or_else(|| anyhow::anyhow!("{}: nothing to write", step.key))?;
                last = match step.expected {
                    Some(revision) => bucket
                        .update(&step.key, value.into(), revision)
                        .await
                        .map_err(|e| match e.kind() {
                            kv::UpdateErrorKind::WrongLastRevision => stale(),
                            _ => e.into(),
                        })?,
                    None => bucket.create(&step.key, value.into()).await.map_err(|e| {
                        match e.kind() {
                            kv::CreateErrorKind::AlreadyExists => stale(),
                            _ => e.into(),
                        }
                    })?,
                };
            }
            None => {
                bucket
                    .delete_expect_revision(&step.key, step.expected)
                    .await
                    .map_err(|e| match e.kind() {
                        kv::DeleteErrorKind::WrongLastRevision => stale(),
                        _ => e.into(),
                    })?;
            }
        }
    }
    Ok(last)
}

/// One past write of an entity.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Past {
    pub revision: u64,
    pub key: String,
    pub operation: &'static str,
    pub actor: String,
    pub ts_ms: i64,
    pub value: Value,
}

/// Every write the bucket still keeps (up to 64 per entity), newest first.
pub async fn history(bucket: &kv::Store) -> anyhow::Result<Vec<Past>> {
    let mut keys: Vec<String> = Vec::new();
    // Deleted entities no longer list as keys: read their subjects from the whole watch.
    let mut watch = bucket.watch_with_history(">").await?;
    while let Ok(Some(entry)) =
        tokio::time::timeout(std::time::Duration::from_millis(300), watch.next()).await
    {
        let entry = entry?;
        if !keys.contains(&entry.key) {
            keys.push(entry.key);
        }
        if entry.delta == 0 {
            break;
        }
    }
    let mut past = Vec::new();
    for key in keys {
        let mut entries = bucket.history(&key).await?;
        while let Some(entry) = entries.next().await {
            let entry = entry?;
            let put = entry.operation == Operation::Put;
            let decoded = change_of(&key, put.then_some(&entry.value[..]));
            past.push(Past {
                revision: entry.revision,
                key: key.clone(),
                operation: if put { "put" } else { "delete" },
                actor: decoded
                    .as_ref()
                    .map(|(_, a, _)| a.clone())
                    .unwrap_or_default(),
                ts_ms: (entry.created.unix_timestamp_nanos() / 1_000_000) as i64,
                value: decoded
                    .map(|(c, _, _)| comparable(&c))
                    .unwrap_or(Value::Null),
            });
        }
    }
    past.sort_by_key(|p| std::cmp::Reverse(p.revision));
    Ok(past)
}

/// The nodes, routes and settings as they were right after revision `revision`, from the
/// history the bucket keeps.
pub fn as_of(past: &[Past], revision: u64) -> anyhow::Result<Vec<Change>> {
    let mut latest: BTreeMap<&str, &Past> = BTreeMap::new();
    for entry in past.iter().filter(|p| p.revision <= revision) {
        let newer = latest
            .get(entry.key.as_str())
            .is_none_or(|p| p.revision < entry.revision);
        if newer {
            latest.insert(&entry.key, entry);
        }
    }
    if latest.is_empty() {
        anyhow::bail!("revision {revision}: the bucket keeps no history that old");
    }
    let mut changes = Vec::new();
    for (key, entry) in latest {
        if entry.operation != "put" {
            continue;
        }
        let Some((kind, _)) = decode(key) else {
            continue;
        };
        if kind == Kind::Key {
            continue; // keys are the admin API's: a rollback does not bring revoked ones back
        }
        let envelope = serde_json::json!({"actor": "", "origin": "", "value": entry.value});
        if let Some((change, _, _)) = change_of(key, Some(&serde_json::to_vec(&envelope)?)) {
            changes.push(change);
        }
    }
    Ok(changes)
}
