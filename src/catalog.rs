//! Pool-wide views built from the node actors' reports: the merged `/api/tags`, `/api/ps`,
//! `/v1/models` (OpenAI's shape, or Anthropic's) and `/api/version`. Only routable nodes
//! count, each model appears once, and route aliases are listed as models (a client may ask
//! for them).

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::actors::messages::NodeState;

fn routable(pool: &[NodeState]) -> impl Iterator<Item = &NodeState> {
    pool.iter().filter(|n| n.status.health.routable())
}

fn merge_entries<'a>(entries: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let mut seen = HashSet::new();
    entries
        .filter(|e| {
            let name = e
                .get("name")
                .or_else(|| e.get("model"))
                .and_then(Value::as_str);
            name.is_some_and(|n| seen.insert(n.to_owned()))
        })
        .cloned()
        .collect()
}

pub fn tags(pool: &[NodeState], aliases: &[String]) -> Value {
    let routes: Vec<Value> = aliases
        .iter()
        .map(|alias| {
            json!({ "name": alias, "model": alias, "modified_at": "1970-01-01T00:00:00Z",
                "size": 0, "digest": "", "details": {} })
        })
        .collect();
    let entries = routable(pool)
        .flat_map(|n| n.status.tag_entries.iter())
        .chain(routes.iter());
    json!({ "models": merge_entries(entries) })
}

/// Model names clients may ask for: the routable nodes' models, then the route aliases.
fn names<'a>(pool: &'a [NodeState], aliases: &'a [String]) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    routable(pool)
        .flat_map(|n| n.status.models.iter().map(|m| &**m))
        .chain(aliases.iter().map(String::as_str))
        .filter(|m| seen.insert(*m))
        .collect()
}

pub fn ps(pool: &[NodeState]) -> Value {
    json!({ "models": merge_entries(routable(pool).flat_map(|n| n.status.ps_entries.iter())) })
}

fn openai_model_object(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 0, "owned_by": "library" })
}

pub fn openai_models(pool: &[NodeState], aliases: &[String]) -> Value {
    let data: Vec<Value> = names(pool, aliases)
        .into_iter()
        .map(openai_model_object)
        .collect();
    json!({ "object": "list", "data": data })
}

fn anthropic_model_object(id: &str) -> Value {
    json!({ "type": "model", "id": id, "display_name": id, "created_at": "1970-01-01T00:00:00Z" })
}

/// `GET /v1/models` as Anthropic answers it (asked with an `anthropic-version` header).
pub fn anthropic_models(pool: &[NodeState], aliases: &[String]) -> Value {
    let names = names(pool, aliases);
    let data: Vec<Value> = names.iter().map(|m| anthropic_model_object(m)).collect();
    json!({ "data": data, "has_more": false,
        "first_id": names.first(), "last_id": names.last() })
}

/// One model as `GET /v1/models/{id}` answers it (OpenAI's shape, or Anthropic's); a bare
/// name also finds `name:latest`.
pub fn model(pool: &[NodeState], aliases: &[String], id: &str, anthropic: bool) -> Option<Value> {
    let tagged = format!("{id}:latest");
    names(pool, aliases)
        .into_iter()
        .find(|m| *m == id || (!id.contains(':') && *m == tagged))
        .map(|m| {
            if anthropic {
                anthropic_model_object(m)
            } else {
                openai_model_object(m)
            }
        })
}

/// The oldest version among up Ollama nodes: clients that adapt to the server's version must
/// not use a feature some node lacks. Other kinds have no Ollama version to count.
pub fn version(pool: &[NodeState]) -> Option<String> {
    routable(pool)
        .filter(|n| n.status.kind == crate::config::NodeKind::Ollama)
        .filter_map(|n| n.status.version.clone())
        .min_by_key(|v| version_key(v))
}

/// Major, minor, patch, then 1 for a release and 0 for a pre-release (`0.5.0-rc1` comes
/// before `0.5.0`).
fn version_key(version: &str) -> Vec<u64> {
    let version = version.trim().trim_start_matches('v');
    let (core, pre) = match version.split_once('-') {
        Some((core, _)) => (core, true),
        None => (version, false),
    };
    let mut key: Vec<u64> = core
        .split('.')
        .take(3)
        .map(|s| s.parse().unwrap_or(0))
        .collect();
    key.resize(3, 0);
    key.push(u64::from(!pre));
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_key("0.10.1") > version_key("0.9.7"));
        assert!(version_key("0.5.0-rc1") < version_key("0.5.1"));
        assert!(version_key("0.5.0-rc1") < version_key("0.5.0"));
        assert!(version_key("0.13") < version_key("0.13.4"));
    }
}
