//! Starting mock nodes and a gateway over them, and small client helpers.

use std::time::Duration;

use awc::http::StatusCode;
use bytes::Bytes;
use drover::{
    config::{Config, NodeConfig, NodeKind, Priority, StrategyName},
    server::{spawn, RunningServer},
};
use drover_loadtest::mock::{MockConfig, MockUpstream};
use futures_util::StreamExt;
use serde_json::Value;

pub struct Setup {
    pub nodes: Vec<MockUpstream>,
    pub drover: RunningServer,
    /// The SQLite file's folder, when the test did not name a database itself.
    pub _db: Option<tempfile::TempDir>,
}

/// A config with fast probes and short timeouts, suited to tests.
pub fn test_config(nodes: &[&MockUpstream]) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        workers: 2,
        ..Config::default()
    };
    config.health.interval = Duration::from_millis(100);
    config.health.timeout = Duration::from_millis(500);
    config.timeouts.connect = Duration::from_millis(500);
    config.timeouts.first_byte = Duration::from_secs(5);
    config.timeouts.idle = Duration::from_secs(5);
    config.limits.shutdown_grace = Duration::from_secs(1);
    // Request records have tests of their own (tests/gateway/records.rs).
    config.request_log.enabled = false;
    config.nodes = nodes
        .iter()
        .map(|n| NodeConfig {
            name: n.name().to_owned(),
            kind: NodeKind::Ollama,
            url: n.url(),
            priority: Priority::Active,
            weight: 1,
            max_concurrency: None,
            api_key: None,
            models: Vec::new(),
            probe: true,
            responses: false,
        })
        .collect();
    config
}

/// Starts mocks (one per entry: name and models) and a gateway over them, adjusted by `tweak`,
/// and waits until every node is up.
pub async fn start(nodes: &[(&str, &[&str])], tweak: impl FnOnce(&mut Config)) -> Setup {
    let mocks: Vec<MockUpstream> = nodes
        .iter()
        .map(|(name, models)| MockUpstream::start(MockConfig::named(name, models)).unwrap())
        .collect();
    start_over(mocks, tweak).await
}

pub async fn start_over(nodes: Vec<MockUpstream>, tweak: impl FnOnce(&mut Config)) -> Setup {
    let mut config = test_config(&nodes.iter().collect::<Vec<_>>());
    let db = tempfile::tempdir().unwrap();
    config.database_url = format!("sqlite://{}/drover.db", db.path().display());
    tweak(&mut config);
    let drover = spawn(config).unwrap();
    let setup = Setup {
        nodes,
        drover,
        _db: Some(db),
    };
    let count = setup.nodes.len();
    setup.wait_until(|ready| ready["nodes_up"] == count).await;
    setup
}

pub fn with_strategy(strategy: StrategyName) -> impl FnOnce(&mut Config) {
    move |c| c.selector.strategy = strategy
}

impl Setup {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.drover.url())
    }

    pub fn node(&self, name: &str) -> &MockUpstream {
        self.nodes.iter().find(|n| n.name() == name).unwrap()
    }

    /// Polls `/readyz` until `check` holds on its body (10 s at most).
    pub async fn wait_until(&self, check: impl Fn(&Value) -> bool) {
        let client = client();
        for _ in 0..200 {
            if let Ok(mut res) = client.get(self.url("/readyz")).send().await {
                if let Ok(body) = res.json::<Value>().await {
                    if check(&body) {
                        return;
                    }
                }
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the pool never reached the expected state");
    }

    /// Polls a GET endpoint until `check` holds on its JSON body (10 s at most).
    pub async fn wait_for_get(&self, path: &str, check: impl Fn(&Value) -> bool) {
        for _ in 0..200 {
            if let Ok(mut res) = client().get(self.url(path)).send().await {
                if let Ok(body) = res.json::<Value>().await {
                    if check(&body) {
                        return;
                    }
                }
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("GET {path} never showed the expected state");
    }

    /// Waits until node `name` has the given health in `/readyz`.
    pub async fn wait_health(&self, name: &str, health: &str) {
        self.wait_until(|ready| ready["nodes"][name] == health)
            .await;
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        post_raw(&self.url(path), Bytes::from(body.to_string())).await
    }

    /// A non-streamed Ollama chat; returns the node that served it.
    pub async fn chat(&self, model: &str) -> Reply {
        self.post(
            "/api/chat",
            serde_json::json!({"model": model, "stream": false,
                "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
    }
}

pub fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

/// A whole response, read to the end.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub node: Option<String>,
    pub headers: awc::http::header::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The NDJSON lines of the body, parsed.
    pub fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

pub async fn post_raw(url: &str, body: Bytes) -> Reply {
    let res = client()
        .post(url)
        .insert_header(("content-type", "application/json"))
        .send_body(body)
        .await
        .unwrap();
    read(res).await
}

/// Reads a response to its end, tolerating a body cut short (returns what arrived).
pub async fn read(
    mut res: awc::ClientResponse<
        impl futures_util::Stream<Item = Result<Bytes, awc::error::PayloadError>> + Unpin,
    >,
) -> Reply {
    let status = res.status();
    let headers = res.headers().clone();
    let node = headers
        .get("x-drover-node")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut body = Vec::new();
    while let Some(Ok(chunk)) = res.next().await {
        body.extend_from_slice(&chunk);
    }
    Reply {
        status,
        node,
        headers,
        body: body.into(),
    }
}

/// How many of `replies` each node served, in node order.
pub fn served_by(replies: &[Reply], names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| {
            replies
                .iter()
                .filter(|r| r.node.as_deref() == Some(n))
                .count()
        })
        .collect()
}
