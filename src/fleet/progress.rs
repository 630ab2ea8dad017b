//! Progress streams of a management call run on several nodes (pull, push, create), merged
//! so the client sees one, as if one Ollama did the work: per layer digest, `total` and
//! `completed` are summed over nodes; status lines are passed once; `success` comes when every
//! node succeeded, and otherwise a final `{"error": ...}` names each node that failed. With
//! per-node progress asked for (`drover pull` does), each node's lines pass unmerged, tagged
//! with `"node"`, and only the last line is merged.

use std::{
    collections::{HashMap, VecDeque},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures_util::{
    future::LocalBoxFuture,
    stream::{self, LocalBoxStream, SelectAll},
    Stream, StreamExt,
};
use serde_json::{json, Value};

/// What one node's progress stream said.
#[derive(Debug)]
pub enum NodeEvent {
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
) -> LocalBoxStream<'static, (usize, NodeEvent)> {
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
                return Some(((index, NodeEvent::Line(line)), st));
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
                    return Some(((index, NodeEvent::Failed(e)), st));
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
        NodeEvent::Line(line) if line.is_empty() => (i, NodeEvent::Ended),
        other => (i, other),
    })
    .boxed_local()
}

/// A node that failed before it could stream anything.
pub fn node_failed(index: usize, error: String) -> LocalBoxStream<'static, (usize, NodeEvent)> {
    stream::iter([(index, NodeEvent::Failed(error)), (index, NodeEvent::Ended)]).boxed_local()
}

#[derive(Default)]
struct NodeProgress {
    /// digest → (total, completed)
    layers: HashMap<String, (u64, u64)>,
    succeeded: bool,
    error: Option<String>,
}

/// The merge state; pure, so it is tested without any network.
pub struct ProgressMerge {
    /// What the call does, for the final error: `pull`, `push`, `create`.
    verb: &'static str,
    names: Vec<Arc<str>>,
    nodes: Vec<NodeProgress>,
    last_status: Option<String>,
    per_node: bool,
}

impl ProgressMerge {
    pub fn new(verb: &'static str, names: Vec<Arc<str>>, per_node: bool) -> Self {
        let nodes = names.iter().map(|_| NodeProgress::default()).collect();
        Self {
            verb,
            names,
            nodes,
            last_status: None,
            per_node,
        }
    }

    /// Applies one event; returns the line to send, if any.
    pub fn apply(&mut self, index: usize, event: NodeEvent) -> Option<Value> {
        let node = self.nodes.get_mut(index)?;
        let line = match event {
            NodeEvent::Failed(e) => {
                let line = self
                    .per_node
                    .then(|| json!({ "error": &e, "node": &*self.names[index] }));
                node.error.get_or_insert(e);
                return line;
            }
            NodeEvent::Ended => {
                if !node.succeeded && node.error.is_none() {
                    node.error = Some(format!("{} ended without success", self.verb));
                }
                return None;
            }
            NodeEvent::Line(line) => line,
        };
        let mut value: Value = match serde_json::from_slice(&line) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                node.error
                    .get_or_insert("invalid progress line: not an object".to_owned());
                return None;
            }
            Err(e) => {
                node.error
                    .get_or_insert(format!("invalid progress line: {e}"));
                return None;
            }
        };
        let status = value
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let digest = value
            .get("digest")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            node.error.get_or_insert(error.to_owned());
        } else if status == "success" {
            node.succeeded = true;
        } else if let Some(digest) = &digest {
            let total = value.get("total").and_then(Value::as_u64).unwrap_or(0);
            let completed = value.get("completed").and_then(Value::as_u64).unwrap_or(0);
            node.layers.insert(digest.clone(), (total, completed));
        }
        if self.per_node {
            if let Some(fields) = value.as_object_mut() {
                fields.insert("node".into(), json!(&*self.names[index]));
            }
            return Some(value);
        }
        if value.get("error").is_some() || status == "success" {
            return None;
        }
        if let Some(digest) = digest {
            let (total, completed) = self.nodes.iter().fold((0, 0), |(t, c), n| {
                let (nt, nc) = n.layers.get(&digest).copied().unwrap_or((0, 0));
                (t + nt, c + nc)
            });
            return Some(json!({
                "status": status, "digest": digest, "total": total, "completed": completed,
            }));
        }
        if self.last_status.as_deref() == Some(status.as_str()) {
            return None;
        }
        self.last_status = Some(status.clone());
        Some(json!({ "status": status }))
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
            json!({ "error": format!("{} failed on {}", self.verb, failures.join("; ")) })
        }
    }
}

/// What runs once every node has ended and before the last line goes out: re-probing the
/// nodes, so a client that reads `success` already finds the change in `/api/tags`.
pub type Settle = Box<dyn FnOnce() -> LocalBoxFuture<'static, ()>>;

/// The merged progress as an NDJSON stream.
pub struct MergedProgress {
    events: SelectAll<LocalBoxStream<'static, (usize, NodeEvent)>>,
    merge: ProgressMerge,
    settle: Option<Settle>,
    /// The settling under way, once every node ended.
    settling: Option<LocalBoxFuture<'static, ()>>,
    done: bool,
}

impl MergedProgress {
    pub fn new(
        merge: ProgressMerge,
        streams: Vec<LocalBoxStream<'static, (usize, NodeEvent)>>,
        settle: Settle,
    ) -> Self {
        Self {
            events: stream::select_all(streams),
            merge,
            settle: Some(settle),
            settling: None,
            done: false,
        }
    }

    /// Drives every node to its end and returns only the final line (`"stream": false`).
    pub async fn last_line(mut self) -> Value {
        while let Some((i, event)) = self.events.next().await {
            self.merge.apply(i, event);
        }
        if let Some(settle) = self.settle.take() {
            settle().await;
        }
        self.merge.finish()
    }
}

pub fn line(value: &Value) -> Bytes {
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    bytes.into()
}

impl Stream for MergedProgress {
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
                Poll::Ready(None) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        if let Some(settle) = this.settle.take() {
            this.settling = Some(settle());
        }
        if let Some(settling) = &mut this.settling {
            if settling.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        this.done = true;
        Poll::Ready(Some(Ok(line(&this.merge.finish()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> NodeEvent {
        NodeEvent::Line(Bytes::from(s.to_owned()))
    }

    #[test]
    fn progress_is_summed_per_digest_and_success_waits_for_all() {
        let mut m = ProgressMerge::new("pull", vec!["a".into(), "b".into()], false);
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
        m.apply(0, NodeEvent::Ended);
        m.apply(1, ev(r#"{"status":"success"}"#));
        m.apply(1, NodeEvent::Ended);
        assert_eq!(m.finish(), json!({"status":"success"}));
    }

    #[test]
    fn a_failed_node_is_named() {
        let mut m = ProgressMerge::new("pull", vec!["a".into(), "b".into()], false);
        m.apply(0, ev(r#"{"status":"success"}"#));
        m.apply(1, ev(r#"{"error":"disk full"}"#));
        m.apply(0, NodeEvent::Ended);
        m.apply(1, NodeEvent::Ended);
        let err = m.finish()["error"].as_str().unwrap().to_owned();
        assert!(
            err.contains("node b: disk full") && !err.contains("node a"),
            "{err}"
        );
        let mut cut = ProgressMerge::new("pull", vec!["a".into()], false);
        cut.apply(0, NodeEvent::Ended);
        assert!(cut.finish()["error"]
            .as_str()
            .unwrap()
            .contains("without success"));
    }

    #[test]
    fn per_node_lines_pass_tagged_and_the_end_is_merged() {
        let mut m = ProgressMerge::new("push", vec!["a".into(), "b".into()], true);
        let line = m.apply(
            1,
            ev(r#"{"status":"pushing x","digest":"d","total":100,"completed":30}"#),
        );
        assert_eq!(line.unwrap()["node"], "b");
        assert_eq!(
            m.apply(0, ev(r#"{"status":"success"}"#)).unwrap()["node"],
            "a"
        );
        assert_eq!(
            m.apply(1, ev(r#"{"error":"denied"}"#)).unwrap()["node"],
            "b"
        );
        m.apply(0, NodeEvent::Ended);
        m.apply(1, NodeEvent::Ended);
        assert_eq!(
            m.finish(),
            json!({"error": "push failed on node b: denied"})
        );
    }

    #[actix_rt::test]
    async fn a_silent_node_fails_after_the_idle_time() {
        let body = stream::pending::<Result<Bytes, String>>();
        let events: Vec<_> = node_events(0, body, Duration::from_millis(20))
            .collect()
            .await;
        assert!(matches!(&events[0].1, NodeEvent::Failed(e) if e.contains("no progress")));
    }

    #[actix_rt::test]
    async fn lines_split_across_chunks() {
        let body = stream::iter(vec![
            Ok(Bytes::from_static(b"{\"status\":\"a\"}\n{\"sta")),
            Ok(Bytes::from_static(b"tus\":\"b\"}\n")),
        ]);
        let events: Vec<_> = node_events(0, body, Duration::from_secs(5)).collect().await;
        assert_eq!(events.len(), 3);
        assert!(matches!(&events[1].1, NodeEvent::Line(l) if &l[..] == b"{\"status\":\"b\"}"));
        assert!(matches!(events[2].1, NodeEvent::Ended));
    }
}
