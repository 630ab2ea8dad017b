//! Ollama's model management over the whole pool: pull, push, create, copy, delete, blobs and
//! unload act on every up Ollama node concerned, or on the one a client names with `?node=`
//! or `X-Drover-Node`. One place decides which nodes ([`select`]), one merges progress
//! streams (`progress`), one combines single answers and names the nodes that failed
//! (`replies`); after a change the nodes are re-probed, so `/api/tags` and `/api/ps` are
//! right at once.

mod blob;
mod ops;
mod progress;
mod replies;

use std::{collections::HashMap, sync::Arc, time::Duration};

use actix_web::{
    http::{header, Method, StatusCode},
    web, HttpRequest,
};
use bytes::Bytes;

pub use ops::{blob_exists, blob_upload, copy, create, delete, pull, push, unload, Unload};
pub use progress::{node_events, NodeEvent, ProgressMerge};

use crate::{
    actors::messages::{NodeState, ProbeNow},
    config::NodeKind,
    dispatch::{Gateway, NODE_HEADER},
    error::GatewayError,
    routing::NodeTarget,
};

/// Where a management call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every up Ollama node concerned.
    All,
    Node(String),
}

impl Target {
    /// `?node=NAME` or the `X-Drover-Node` header name one node; otherwise all.
    pub fn from_request(req: &HttpRequest) -> Self {
        let from_query = query(req, "node");
        let from_header = || {
            req.headers()
                .get(NODE_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
        };
        from_query
            .or_else(from_header)
            .map_or(Target::All, Target::Node)
    }
}

/// One query parameter, when present and not empty.
fn query(req: &HttpRequest, name: &str) -> Option<String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().remove(name))
        .filter(|v| !v.is_empty())
}

/// `?progress=nodes`: each node's progress lines unmerged, tagged with `"node"` (what
/// `drover pull` draws one bar per node from).
pub fn per_node_progress(req: &HttpRequest) -> bool {
    query(req, "progress").as_deref() == Some("nodes")
}

/// Which up Ollama nodes a call concerns.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every one (pull, create, blobs): the model may be new to all of them.
    Every,
    /// Those that list the model (delete, copy, push); none is a 404.
    Holding(&'a str),
    /// Those with the model loaded in memory (unload). None holding it is a 404; holding
    /// it but none with it loaded is no node at all, and nothing to do.
    Loaded(&'a str),
}

/// Whether a node's `listed` model is the `requested` one: `llama3` means `llama3:latest`,
/// as Ollama resolves it.
fn is_model(listed: &str, requested: &str) -> bool {
    listed == requested
        || (!requested.contains(':')
            && listed
                .strip_prefix(requested)
                .is_some_and(|tag| tag == ":latest"))
}

fn holds(node: &NodeState, model: &str) -> bool {
    node.status.models.iter().any(|m| is_model(m, model))
}

fn has_loaded(node: &NodeState, model: &str) -> bool {
    node.status.loaded.iter().any(|m| is_model(m, model))
}

/// The nodes a call acts on. A named node must exist, be up and be an Ollama node; with a
/// model in scope it must hold it.
pub fn select(
    pool: &[NodeState],
    target: &Target,
    scope: Scope<'_>,
) -> Result<Vec<Arc<NodeTarget>>, GatewayError> {
    let candidates: Vec<&NodeState> = match target {
        Target::Node(name) => {
            let node = pool
                .iter()
                .find(|n| &*n.status.name == name.as_str())
                .ok_or_else(|| GatewayError::UnknownNode(name.clone()))?;
            if node.status.kind != NodeKind::Ollama {
                return Err(GatewayError::BadRequest(format!(
                    "node {name} is an {} node; model management needs an Ollama node",
                    node.status.kind.as_str()
                )));
            }
            if !node.status.health.routable() {
                return Err(GatewayError::NoHealthyNode(format!(
                    "the call (node {name} is {})",
                    node.status.health.as_str()
                )));
            }
            vec![node]
        }
        Target::All => pool
            .iter()
            .filter(|n| n.status.health.routable() && n.status.kind == NodeKind::Ollama)
            .collect(),
    };
    let chosen: Vec<&NodeState> = match scope {
        Scope::Every => {
            if candidates.is_empty() {
                return Err(GatewayError::NoHealthyNode(
                    "the call (no Ollama node is up)".into(),
                ));
            }
            candidates
        }
        Scope::Holding(model) | Scope::Loaded(model) => {
            let holding: Vec<&NodeState> =
                candidates.into_iter().filter(|n| holds(n, model)).collect();
            if holding.is_empty() {
                return Err(GatewayError::ModelNotFound(model.to_owned()));
            }
            match scope {
                Scope::Loaded(_) => holding
                    .into_iter()
                    .filter(|n| has_loaded(n, model))
                    .collect(),
                _ => holding,
            }
        }
    };
    Ok(chosen.into_iter().map(|n| n.target.clone()).collect())
}

/// The nodes one call acts on, and what sending to them needs.
pub(crate) struct Fleet {
    nodes: Vec<Arc<NodeTarget>>,
    client: awc::Client,
    idle: Duration,
}

impl Fleet {
    pub async fn of(
        gw: &Gateway,
        target: &Target,
        scope: Scope<'_>,
    ) -> Result<Fleet, GatewayError> {
        let pool = gw.pool().await?;
        Ok(Fleet {
            nodes: select(&pool, target, scope)?,
            client: gw.client(),
            idle: gw.tuning.load().timeouts.idle,
        })
    }

    fn names(&self) -> Vec<Arc<str>> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// A request to one node, with the headers every call to it carries.
    fn request(&self, node: &NodeTarget, method: Method, path: &str) -> awc::ClientRequest {
        let mut request = self
            .client
            .request(method, format!("{}{path}", node.base_url));
        for (name, value) in node.headers.iter() {
            request = request.insert_header((name.clone(), value.clone()));
        }
        request
    }

    /// Sends the same JSON `body` to every node.
    fn send_json(
        &self,
        method: Method,
        path: &str,
        body: &Bytes,
    ) -> impl std::future::Future<Output = Vec<Result<awc::ClientResponse, String>>> + 'static {
        let sends: Vec<_> = self
            .nodes
            .iter()
            .map(|node| {
                let send = self
                    .request(node, method.clone(), path)
                    .insert_header((header::CONTENT_TYPE, "application/json"))
                    .send_body(body.clone());
                async move { send.await.map_err(|e| e.to_string()) }
            })
            .collect();
        futures_util::future::join_all(sends)
    }

    /// Re-probes every node acted on and waits for the fresh reports, which reach the
    /// selector first: a client answered after this finds the change in `/api/tags` and
    /// `/api/ps` at once. A node that fails its probe is left to its health tracking.
    async fn settle(nodes: Vec<Arc<NodeTarget>>) {
        let probes = nodes.iter().map(|node| node.actor.send(ProbeNow));
        futures_util::future::join_all(probes).await;
    }
}

/// The message of a node's error answer: its `{"error"}`, else the status.
async fn error_of(response: &mut awc::ClientResponse) -> String {
    let status = response.status();
    let text = response.body().limit(64 * 1024).await.unwrap_or_default();
    message_of(status, &text)
}

fn message_of(status: StatusCode, body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| format!("status {status}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_means_latest() {
        assert!(is_model("m:latest", "m"));
        assert!(is_model("m:7b", "m:7b"));
        assert!(!is_model("m:7b", "m"));
        assert!(!is_model("mm:latest", "m"));
        assert!(!is_model("m:latest", "m:7b"));
    }
}

/// No body or progress line makes the unload check or the progress merge panic.
#[cfg(test)]
mod props {
    use std::sync::Arc;

    use bytes::Bytes;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::{NodeEvent, ProgressMerge, Unload};
    use crate::inbound::Operation;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "[a-z0-9:.]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::vec(
                    (
                        prop::sample::select(vec![
                            "model",
                            "keep_alive",
                            "prompt",
                            "messages",
                            "status",
                            "digest",
                            "total",
                            "completed",
                            "error",
                        ]),
                        inner
                    ),
                    0..5
                )
                .prop_map(|fields| {
                    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn unload_detection_never_panics(body in value(), raw in prop::collection::vec(any::<u8>(), 0..64)) {
            for bytes in [Bytes::from(body.to_string()), Bytes::from(raw.clone())] {
                for operation in [Operation::OllamaChat, Operation::OllamaGenerate] {
                    let _ = Unload::of(operation, &Arc::from("m"), &bytes);
                }
            }
        }

        #[test]
        fn the_progress_merge_never_panics(lines in prop::collection::vec((0usize..3, value()), 0..12)) {
            let mut merge = ProgressMerge::new("pull", vec!["a".into(), "b".into()], false);
            for (node, line) in lines {
                let _ = merge.apply(node, NodeEvent::Line(Bytes::from(line.to_string())));
            }
            merge.apply(0, NodeEvent::Ended);
            let _ = merge.finish();
        }
    }
}
