//! `drover pull MODEL [--node NAME]`: pulls a model on every up Ollama node of a running
//! replica (or on one), with a progress bar per node on a terminal. It asks the replica for
//! per-node progress (`/api/pull?progress=nodes`), so each bar is one node's own download;
//! the last line, merged by the replica, says whether every node succeeded and names those
//! that did not. Off a terminal it prints each node's status changes as text, and with
//! `--json` the progress lines as they come.

use std::{
    collections::{BTreeMap, HashMap},
    io::{IsTerminal, Write},
};

use anyhow::{bail, Context};
use bytes::BytesMut;
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::admin::DEFAULT_URL;

#[derive(Debug, clap::Args)]
pub(super) struct PullArgs {
    /// The model to pull, as Ollama names it (`llama3.2`, `qwen2.5:7b`).
    model: String,
    /// Pull on this node only; by default every up Ollama node pulls.
    #[arg(long)]
    node: Option<String>,
    /// Base URL of the replica to call.
    #[arg(long, env = "DROVER_URL", default_value = DEFAULT_URL)]
    url: String,
    /// A client API key, needed when the replica runs in `keys` mode: a pull is a client
    /// call (`POST /api/pull`), not an admin one.
    #[arg(long, env = "DROVER_API_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Print the progress lines as the replica sends them (NDJSON), for scripts.
    #[arg(long)]
    json: bool,
}

/// One node's progress as its lines tell it.
#[derive(Default)]
struct NodeView {
    /// digest → (total, completed)
    layers: BTreeMap<String, (u64, u64)>,
    status: String,
}

impl NodeView {
    fn apply(&mut self, line: &Value) {
        if let Some(status) = line.get("status").and_then(Value::as_str) {
            self.status = status.to_owned();
        }
        if let Some(digest) = line.get("digest").and_then(Value::as_str) {
            let total = line.get("total").and_then(Value::as_u64).unwrap_or(0);
            let completed = line.get("completed").and_then(Value::as_u64).unwrap_or(0);
            self.layers.insert(digest.to_owned(), (total, completed));
        }
    }

    fn totals(&self) -> (u64, u64) {
        self.layers
            .values()
            .fold((0, 0), |(t, c), (lt, lc)| (t + lt, c + lc))
    }
}

/// How the progress is shown.
enum Display {
    Json,
    /// Status changes as text lines (not a terminal).
    Text,
    Bars {
        multi: MultiProgress,
        bars: HashMap<String, ProgressBar>,
        style: ProgressStyle,
    },
}

impl Display {
    fn show(
        &mut self,
        out: &mut dyn Write,
        node: &str,
        view: &NodeView,
        line: &Value,
    ) -> std::io::Result<()> {
        match self {
            Display::Json => writeln!(out, "{line}"),
            Display::Text => {
                let changed = line.get("digest").is_none() || line.get("error").is_some();
                if let Some(error) = line.get("error").and_then(Value::as_str) {
                    writeln!(out, "{node}: error: {error}")
                } else if changed {
                    writeln!(out, "{node}: {}", view.status)
                } else {
                    Ok(())
                }
            }
            Display::Bars { multi, bars, style } => {
                let bar = bars.entry(node.to_owned()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(0));
                    bar.set_style(style.clone());
                    bar.set_prefix(node.to_owned());
                    bar
                });
                let (total, completed) = view.totals();
                bar.set_length(total);
                bar.set_position(completed);
                if let Some(error) = line.get("error").and_then(Value::as_str) {
                    bar.abandon_with_message(format!("error: {error}"));
                } else if view.status == "success" {
                    bar.finish_with_message("success");
                } else {
                    bar.set_message(view.status.clone());
                }
                Ok(())
            }
        }
    }
}

pub(super) async fn run(args: PullArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let base = args.url.trim().trim_end_matches('/');
    let mut url = format!("{base}/api/pull?progress=nodes");
    if let Some(node) = &args.node {
        url.push_str("&node=");
        url.push_str(&form_encode(node));
    }
    let client = awc::Client::builder().disable_timeout().finish();
    let mut request = client.post(&url);
    if let Some(key) = args.key.as_deref().filter(|k| !k.is_empty()) {
        request = request.bearer_auth(key);
    }
    let mut response = request
        .send_json(&json!({ "model": args.model }))
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach a replica at {base}: {e} (is `drover serve` running there? set --url or DROVER_URL)"))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.body().limit(64 * 1024).await.unwrap_or_default();
        let message = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        bail!("pull {}: {status}: {message}", args.model);
    }
    let mut display = if args.json {
        Display::Json
    } else if std::io::stdout().is_terminal() {
        Display::Bars {
            multi: MultiProgress::new(),
            bars: HashMap::new(),
            style: ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {bytes:>10}/{total_bytes:<10} {msg}",
            )
            .context("progress bar template")?
            .progress_chars("=> "),
        }
    } else {
        Display::Text
    };
    let mut views: HashMap<String, NodeView> = HashMap::new();
    let mut buf = BytesMut::new();
    let mut last: Option<Value> = None;
    while let Some(chunk) = response.next().await {
        let chunk = chunk.with_context(|| format!("the pull of {} broke off", args.model))?;
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let raw = buf.split_to(pos + 1);
            let Ok(line) = serde_json::from_slice::<Value>(&raw[..pos]) else {
                continue;
            };
            match line.get("node").and_then(Value::as_str) {
                Some(node) => {
                    let view = views.entry(node.to_owned()).or_default();
                    view.apply(&line);
                    display.show(out, node, view, &line)?;
                }
                None => {
                    if matches!(display, Display::Json) {
                        writeln!(out, "{line}")?;
                    }
                    last = Some(line);
                }
            }
        }
    }
    if let Display::Bars { multi, .. } = &display {
        multi.clear().ok();
    }
    let last =
        last.with_context(|| format!("the pull of {} ended without a result", args.model))?;
    if let Some(error) = last.get("error").and_then(Value::as_str) {
        bail!("{error}");
    }
    if !matches!(display, Display::Json) {
        let mut nodes: Vec<&String> = views.keys().collect();
        nodes.sort();
        let nodes: Vec<&str> = nodes.iter().map(|n| n.as_str()).collect();
        writeln!(out, "pulled {} on {}", args.model, nodes.join(", "))?;
    }
    Ok(())
}

/// A query value with the characters a URL reserves escaped.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_sums_its_layers() {
        let mut view = NodeView::default();
        view.apply(&json!({"status": "pulling a", "digest": "a", "total": 10, "completed": 5}));
        view.apply(&json!({"status": "pulling b", "digest": "b", "total": 20, "completed": 20}));
        assert_eq!(view.totals(), (30, 25));
        assert_eq!(view.status, "pulling b");
        assert_eq!(form_encode("a b/c"), "a%20b%2Fc");
    }
}
