//! `/api/pull` over several nodes: the pull runs on every target node at once and the client
//! sees one progress stream, as if it pulled from one Ollama: per layer digest, `total` and
//! `completed` are summed over nodes; status lines are passed once; `success` comes when every
//! node succeeded, and otherwise a final `{"error": ...}` names each node that failed.

use std::{
    collections::{HashMap, VecDeque},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use actix::Addr;
use actix_web::{
    http::{header, StatusCode},
    web, HttpRequest, HttpResponse,
};
use bytes::{Bytes, BytesMut};
use futures_util::{
    stream::{self, LocalBoxStream, SelectAll},
    Stream, StreamExt,
};
use serde_json::{json, Value};

use crate::{
    actors::{
        messages::{NodeState, ProbeNow},
        node::NodeActor,
    },
    config::NodeKind,
    dispatch::{Gateway, NODE_HEADER},
    error::GatewayError,
    wire::{self, ollama::ModelRequest},
};

/// What one node's pull stream said.
#[derive(Debug)]
pub enum PullEvent {
    Line(Bytes),
    Failed(String),
    Ended,
}

/// Splits a node's NDJSON body into lines, reporting a broken body or a missing end.
/// A node silent for `idle` counts as failed, so one hung node cannot hang the whole pull.
pub fn node_events(
    index: usize,
    body: impl Stream<Item = Result<Bytes, String>> + Unpin + 'static,
    idle: Duration,
) -> LocalBoxStream<'static, (usize, PullEvent)> {
    struct State<S> {
        body: S,
        buf: BytesMut,
        lines: VecDeque<Bytes>,
        done: bool,
    }
    let state = State {
        body,
        buf: BytesMut::new(),
        lines: VecDeque::new(),
        done: false,
    };
    stream::unfold(state, move |mut st| async move {
        loop {
            if let Some(line) = st.lines.pop_front() {
                return Some(((index, PullEvent::Line(line)), st));
            }
            if st.done {
                return None;
            }
            let next = match tokio::time::timeout(idle, st.body.next()).await {
                Ok(next) => next,
                Err(_) => Some(Err(format!("no progress for {idle:?}"))),
            };
            match next {
                Some(Ok(chunk)) => {
                    st.buf.extend_from_slice(&chunk);
                    while let Some(pos) = st.buf.iter().position(|&b| b == b'\n') {
                        let line = st.buf.split_to(pos + 1).freeze();
                        if pos > 0 {
                            st.lines.push_back(line.slice(..pos));
                        }
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some(((index, PullEvent::Failed(e)), st));
                }
                None => {
                    st.done = true;
                    if !st.buf.is_empty() {
                        st.lines.push_back(st.buf.split().freeze());
                    }
                    st.lines.push_back(Bytes::new());
                    // The empty line marks the end, turned into `Ended` below.
                }
            }
        }
    })
    .map(|(i, event)| match event {
        PullEvent::Line(line) if line.is_empty() => (i, PullEvent::Ended),
        other => (i, other),
    })
    .boxed_local()
}

/// A node that failed before it could stream anything.
pub fn node_failed(index: usize, error: String) -> LocalBoxStream<'static, (usize, PullEvent)> {
    stream::iter([(index, PullEvent::Failed(error)), (index, PullEvent::Ended)]).boxed_local()
}

#[derive(Default)]
struct NodeProgress {
    /// digest → (total, completed)
    layers: HashMap<String, (u64, u64)>,
    succeeded: bool,
    error: Option<String>,
}

/// The merge state; pure, so it is tested without any network.
pub struct PullMerge {
    names: Vec<Arc<str>>,
    nodes: Vec<NodeProgress>,
    last_status: Option<String>,
}

impl PullMerge {
    pub fn new(names: Vec<Arc<str>>) -> Self {
        let nodes = names.iter().map(|_| NodeProgress::default()).collect();
        Self {
            names,
            nodes,
            last_status: None,
        }
    }

    /// Applies one event; returns the merged line to send, if any.
    pub fn apply(&mut self, index: usize, event: PullEvent) -> Option<Value> {
        let node = self.nodes.get_mut(index)?;
        match event {
            PullEvent::Failed(e) => {
                node.error.get_or_insert(e);
                None
            }
            PullEvent::Ended => {
                if !node.succeeded && node.error.is_none() {
                    node.error = Some("pull ended without success".to_owned());
                }
                None
            }
            PullEvent::Line(line) => {
                let value: Value = match serde_json::from_slice(&line) {
                    Ok(v) => v,
                    Err(e) => {
                        node.error
                            .get_or_insert(format!("invalid progress line: {e}"));
                        return None;
                    }
                };
                if let Some(error) = value.get("error").and_then(Value::as_str) {
                    node.error.get_or_insert(error.to_owned());
                    return None;
                }
                let status = value
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if status == "success" {
                    node.succeeded = true;
                    return None;
                }
                if let Some(digest) = value.get("digest").and_then(Value::as_str) {
                    let total = value.get("total").and_then(Value::as_u64).unwrap_or(0);
                    let completed = value.get("completed").and_then(Value::as_u64).unwrap_or(0);
                    node.layers.insert(digest.to_owned(), (total, completed));
                    let (total, completed) = self.nodes.iter().fold((0, 0), |(t, c), n| {
                        let (nt, nc) = n.layers.get(digest).copied().unwrap_or((0, 0));
                        (t + nt, c + nc)
                    });
                    return Some(json!({
                        "status": status, "digest": digest, "total": total, "completed": completed,
                    }));
                }
                if self.last_status.as_deref() == Some(status) {
                    return None;
                }
                self.last_status = Some(status.to_owned());
                Some(json!({ "status": status }))
            }
        }
    }

    /// The last line once every node has ended.
    pub fn finish(&self) -> Value {
        let failures: Vec<String> = self
            .names
            .iter()
            .zip(&self.nodes)
            .filter_map(|(name, n)| n.error.as_ref().map(|e| format!("node {name}: {e}")))
            .collect();
        if failures.is_empty() {
            json!({ "status": "success" })
        } else {
            json!({ "error": format!("pull failed on {}", failures.join("; ")) })
        }
    }
}

/// The merged progress as an NDJSON stream.
pub struct MergedPull {
    events: SelectAll<LocalBoxStream<'static, (usize, PullEvent)>>,
    merge: PullMerge,
    /// Node actors to re-probe once the pull ends, so the new model is routable at once.
    probe_after: Vec<Addr<NodeActor>>,
    done: bool,
}

impl MergedPull {
    fn new(
        names: Vec<Arc<str>>,
        streams: Vec<LocalBoxStream<'static, (usize, PullEvent)>>,
        probe_after: Vec<Addr<NodeActor>>,
    ) -> Self {
        Self {
            events: stream::select_all(streams),
            merge: PullMerge::new(names),
            probe_after,
            done: false,
        }
    }

    fn finish(&mut self) -> Value {
        self.done = true;
        for node in self.probe_after.drain(..) {
            node.do_send(ProbeNow);
        }
        self.merge.finish()
    }

    /// Drives the pull to its end and returns only the final line (`"stream": false`).
    async fn last_line(mut self) -> Value {
        while let Some((i, event)) = self.events.next().await {
            self.merge.apply(i, event);
        }
        self.finish()
    }
}

/// Where a pull goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullTarget {
    /// Every routable Ollama node.
    All,
    Node(String),
}

impl PullTarget {
    /// `?node=NAME` or the `X-Drover-Node` header name one node; otherwise all.
    pub fn from_request(req: &HttpRequest) -> Self {
        let from_query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.into_inner().remove("node"))
            .filter(|n| !n.is_empty());
        let from_header = || {
            req.headers()
                .get(NODE_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
        };
        from_query
            .or_else(from_header)
            .map_or(PullTarget::All, PullTarget::Node)
    }
}

/// Runs a pull on the target nodes and answers with the merged progress (or, with
/// `"stream": false`, only its outcome).
pub async fn run(
    gw: &Gateway,
    body: Bytes,
    target: PullTarget,
) -> Result<HttpResponse, GatewayError> {
    let request: ModelRequest = wire::parse(&body)?;
    let stream = request.stream.unwrap_or(true);
    let model = wire::require_model(request.model.or(request.name))?;
    let pool = gw.pool().await?;
    let targets: Vec<&NodeState> = match &target {
        PullTarget::Node(name) => {
            let node = pool
                .iter()
                .find(|n| &*n.status.name == name.as_str())
                .ok_or_else(|| GatewayError::UnknownNode(name.clone()))?;
            if !node.status.health.routable() {
                return Err(GatewayError::NoHealthyNode(format!(
                    "{model} (node {name} is {})",
                    node.status.health.as_str()
                )));
            }
            vec![node]
        }
        PullTarget::All => pool
            .iter()
            .filter(|n| n.status.health.routable() && n.status.kind == NodeKind::Ollama)
            .collect(),
    };
    if targets.is_empty() {
        return Err(GatewayError::NoHealthyNode(model));
    }
    let sends = targets.iter().map(|node| {
        let url = format!("{}/api/pull", node.target.base_url);
        gw.client()
            .post(url)
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .send_body(body.clone())
    });
    let answers = futures_util::future::join_all(sends).await;
    let mut streams = Vec::with_capacity(answers.len());
    for (i, answer) in answers.into_iter().enumerate() {
        streams.push(match answer {
            Ok(response) if response.status().is_success() => {
                let body = response.map(|chunk| chunk.map_err(|e| e.to_string()));
                node_events(i, body, gw.tuning.load().timeouts.idle)
            }
            Ok(mut response) => {
                let status = response.status();
                let text = response.body().limit(64 * 1024).await.unwrap_or_default();
                let message = serde_json::from_slice::<Value>(&text)
                    .ok()
                    .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_else(|| format!("status {status}"));
                node_failed(i, message)
            }
            Err(e) => node_failed(i, e.to_string()),
        });
    }
    let names = targets.iter().map(|n| n.status.name.clone()).collect();
    let probe_after = targets.iter().map(|n| n.target.actor.clone()).collect();
    let merged = MergedPull::new(names, streams, probe_after);
    if stream {
        return Ok(HttpResponse::Ok()
            .content_type("application/x-ndjson")
            .streaming(merged));
    }
    let last = merged.last_line().await;
    let status = if last.get("error").is_some() {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(last))
}

fn line(value: &Value) -> Bytes {
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    bytes.into()
}

impl Stream for MergedPull {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match this.events.poll_next_unpin(cx) {
                Poll::Ready(Some((i, event))) => {
                    if let Some(out) = this.merge.apply(i, event) {
                        return Poll::Ready(Some(Ok(line(&out))));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(Some(Ok(line(&this.finish())))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> PullEvent {
        PullEvent::Line(Bytes::from(s.to_owned()))
    }

    #[test]
    fn progress_is_summed_per_digest_and_success_waits_for_all() {
        let mut m = PullMerge::new(vec!["a".into(), "b".into()]);
        assert_eq!(
            m.apply(0, ev(r#"{"status":"pulling manifest"}"#)),
            Some(json!({"status":"pulling manifest"}))
        );
        assert_eq!(m.apply(1, ev(r#"{"status":"pulling manifest"}"#)), None);
        m.apply(
            0,
            ev(r#"{"status":"pulling x","digest":"d","total":100,"completed":10}"#),
        );
        let merged = m.apply(
            1,
            ev(r#"{"status":"pulling x","digest":"d","total":100,"completed":30}"#),
        );
        assert_eq!(merged.unwrap()["completed"], 40);
        assert_eq!(m.apply(0, ev(r#"{"status":"success"}"#)), None);
        m.apply(0, PullEvent::Ended);
        m.apply(1, ev(r#"{"status":"success"}"#));
        m.apply(1, PullEvent::Ended);
        assert_eq!(m.finish(), json!({"status":"success"}));
    }

    #[test]
    fn a_failed_node_is_named() {
        let mut m = PullMerge::new(vec!["a".into(), "b".into()]);
        m.apply(0, ev(r#"{"status":"success"}"#));
        m.apply(1, ev(r#"{"error":"disk full"}"#));
        m.apply(0, PullEvent::Ended);
        m.apply(1, PullEvent::Ended);
        let err = m.finish()["error"].as_str().unwrap().to_owned();
        assert!(
            err.contains("node b: disk full") && !err.contains("node a"),
            "{err}"
        );
        let mut cut = PullMerge::new(vec!["a".into()]);
        cut.apply(0, PullEvent::Ended);
        assert!(cut.finish()["error"]
            .as_str()
            .unwrap()
            .contains("without success"));
    }

    #[actix_rt::test]
    async fn a_silent_node_fails_after_the_idle_time() {
        let body = stream::pending::<Result<Bytes, String>>();
        let events: Vec<_> = node_events(0, body, Duration::from_millis(20))
            .collect()
            .await;
        assert!(matches!(&events[0].1, PullEvent::Failed(e) if e.contains("no progress")));
    }

    #[actix_rt::test]
    async fn lines_split_across_chunks() {
        let body = stream::iter(vec![
            Ok(Bytes::from_static(b"{\"status\":\"a\"}\n{\"sta")),
            Ok(Bytes::from_static(b"tus\":\"b\"}\n")),
        ]);
        let events: Vec<_> = node_events(0, body, Duration::from_secs(5)).collect().await;
        assert_eq!(events.len(), 3);
        assert!(matches!(&events[1].1, PullEvent::Line(l) if &l[..] == b"{\"status\":\"b\"}"));
        assert!(matches!(events[2].1, PullEvent::Ended));
    }
}
