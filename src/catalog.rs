//! Pool-wide views built from the node actors' reports: the merged `/api/tags`, `/api/ps`,
//! `/v1/models` and `/api/version`. Only routable nodes count, and each model appears once.

use std::{collections::HashSet, sync::Arc};

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

pub fn tags(pool: &[NodeState]) -> Value {
    json!({ "models": merge_entries(routable(pool).flat_map(|n| n.status.tag_entries.iter())) })
}

pub fn ps(pool: &[NodeState]) -> Value {
    json!({ "models": merge_entries(routable(pool).flat_map(|n| n.status.ps_entries.iter())) })
}

fn openai_model_object(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 0, "owned_by": "library" })
}

pub fn openai_models(pool: &[NodeState]) -> Value {
    let mut seen = HashSet::new();
    let data: Vec<Value> = routable(pool)
        .flat_map(|n| n.status.models.iter())
        .filter(|m| seen.insert(Arc::clone(m)))
        .map(|m| openai_model_object(m))
        .collect();
    json!({ "object": "list", "data": data })
}

/// One model as `GET /v1/models/{id}` answers it; a bare name also finds `name:latest`.
pub fn openai_model(pool: &[NodeState], id: &str) -> Option<Value> {
    let tagged = format!("{id}:latest");
    routable(pool)
        .flat_map(|n| n.status.models.iter())
        .find(|m| ***m == *id || (!id.contains(':') && ***m == *tagged))
        .map(|m| openai_model_object(m))
}

/// The oldest version among routable nodes: clients that adapt to the server's version must
/// not use a feature some node lacks.
pub fn version(pool: &[NodeState]) -> Option<String> {
    routable(pool)
        .filter_map(|n| n.status.version.clone())
        .min_by_key(|v| version_key(v))
}

fn version_key(version: &str) -> Vec<u64> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(3)
        .filter_map(|s| s.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_key("0.10.1") > version_key("0.9.7"));
        assert!(version_key("0.5.0-rc1") < version_key("0.5.1"));
    }
}
