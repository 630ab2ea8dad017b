//! Drover's configuration: defaults, then a TOML file, then `DROVER_*` environment variables
//! (`__` separates nested keys), then command-line flags. Unknown keys are errors that name the
//! key, because a typo that silently falls back to a default is the worst kind of config bug.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The whole configuration of one replica, as the code uses it (validated).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP edge listens on.
    pub listen: SocketAddr,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Upstream nodes known at start.
    pub nodes: Vec<NodeConfig>,
    /// Public model names mapped to a model on a set of nodes, with fallbacks.
    pub routes: Vec<RouteConfig>,
    pub selector: SelectorConfig,
    pub health: HealthConfig,
    pub failover: FailoverConfig,
    pub timeouts: TimeoutConfig,
    pub limits: LimitsConfig,
    pub log: LogConfig,
    /// `sqlite://PATH` (default, a file beside where Drover runs) or `postgres://…`
    /// (a fleet); env `DROVER_DATABASE_URL`.
    pub database_url: String,
    /// This replica's name in request records; empty: `<hostname>:<port>`.
    pub replica: String,
    pub request_log: RequestLogConfig,
    pub auth: AuthConfig,
    pub cluster: ClusterConfig,
    pub translation: TranslationConfig,
}

/// Filling what one API requires and another leaves out, when Drover translates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranslationConfig {
    /// `max_tokens` sent to an Anthropic node when the client gave none (Anthropic requires
    /// it; OpenAI and Ollama clients may leave it out).
    pub default_max_tokens: u32,
}

impl Default for TranslationConfig {
    fn default() -> Self {
        Self {
            default_max_tokens: 4096,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Bearer token of the admin API (`/admin/api/`); empty: only user sessions open it.
    /// Env `DROVER_AUTH__ADMIN_TOKEN`.
    #[serde(skip_serializing)]
    pub admin_token: String,
    /// Whether inference clients need an API key.
    pub mode: AuthMode,
    /// How long an admin user's session lasts after login.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            admin_token: String::new(),
            mode: AuthMode::Open,
            session_ttl: Duration::from_secs(12 * 3600),
        }
    }
}

/// Joining a cluster of replicas over NATS; a replica runs standalone unless both `nats_url`
/// and `name` are set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// NATS server(s), comma-separated: `nats://10.0.0.2:4222,nats://10.0.0.3:4222`.
    pub nats_url: String,
    /// The cluster's name: subjects live under `drover.<name>.`.
    pub name: String,
    /// User and password, or a token, or a credentials file (NATS decentralised auth).
    pub user: String,
    #[serde(skip_serializing)]
    pub password: String,
    #[serde(skip_serializing)]
    pub token: String,
    pub creds_file: Option<PathBuf>,
    pub tls: ClusterTls,
    /// How often this replica announces itself to its peers.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// A peer silent this long is gone: its in-flight counts and observations expire.
    #[serde(with = "humantime_serde")]
    pub peer_timeout: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            nats_url: String::new(),
            name: String::new(),
            user: String::new(),
            password: String::new(),
            token: String::new(),
            creds_file: None,
            tls: ClusterTls::default(),
            heartbeat: Duration::from_secs(1),
            peer_timeout: Duration::from_secs(5),
        }
    }
}

impl ClusterConfig {
    pub fn enabled(&self) -> bool {
        !self.nats_url.is_empty() && !self.name.is_empty()
    }

    fn cert_file_pair_broken(&self) -> bool {
        self.tls.cert_file.is_some() != self.tls.key_file.is_some()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterTls {
    /// Require TLS even when the URL says `nats://`.
    pub required: bool,
    /// CA bundle that signs the servers' certificates.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key, for servers that verify clients.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// Client authentication of the inference APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Anyone who can reach Drover may use it, as with Ollama itself.
    #[default]
    Open,
    /// Every inference request needs an API key made with `POST /admin/api/keys`.
    Keys,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8040)),
            workers: 0,
            nodes: Vec::new(),
            routes: Vec::new(),
            selector: SelectorConfig::default(),
            health: HealthConfig::default(),
            failover: FailoverConfig::default(),
            timeouts: TimeoutConfig::default(),
            limits: LimitsConfig::default(),
            log: LogConfig::default(),
            database_url: "sqlite://drover.db".to_owned(),
            replica: String::new(),
            request_log: RequestLogConfig::default(),
            auth: AuthConfig::default(),
            cluster: ClusterConfig::default(),
            translation: TranslationConfig::default(),
        }
    }
}

impl Config {
    /// The replica name records carry.
    pub fn replica_name(&self) -> String {
        if !self.replica.is_empty() {
            return self.replica.clone();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "drover".to_owned());
        format!("{host}:{}", self.listen.port())
    }
}

/// The record of every request, written by the `LogWriter`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestLogConfig {
    pub enabled: bool,
    /// Records in flight between request handlers and the writer; beyond, records are dropped
    /// (counted) rather than slowing requests.
    pub queue: usize,
    /// Records the writer keeps while the database is unreachable; beyond, the oldest go.
    pub buffer: usize,
    /// How long shutdown waits for the database to take the last records.
    #[serde(with = "humantime_serde")]
    pub flush_timeout: Duration,
    /// Keep request and response bodies with each record (streamed answers reassembled).
    pub capture: bool,
    /// Most bytes kept of each body; longer ones are cut and marked truncated.
    pub capture_max_bytes: usize,
    /// Most body bytes the writer holds while the database is unreachable; beyond, the
    /// oldest records lose their bodies (the records themselves stay).
    pub capture_buffer_bytes: usize,
    /// Where base64 images from requests are stored, once each, named by their SHA-256.
    pub media_dir: PathBuf,
}

impl Default for RequestLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            queue: 16_384,
            buffer: 200_000,
            flush_timeout: Duration::from_secs(5),
            capture: false,
            capture_max_bytes: 256 * 1024,
            capture_buffer_bytes: 64 * 1024 * 1024,
            media_dir: PathBuf::from("drover-media"),
        }
    }
}

/// The API an upstream node speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// An Ollama server: its own API and the OpenAI-compatible one under `/v1`.
    Ollama,
    /// OpenAI or any server speaking its API (vLLM, llama.cpp, LM Studio, another Drover);
    /// `url` is the base URL with `/v1`, as OpenAI clients take it.
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic's Messages API; `url` without `/v1`, as Anthropic clients take it.
    Anthropic,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Ollama => "ollama",
            NodeKind::OpenAi => "openai",
            NodeKind::Anthropic => "anthropic",
        }
    }

    pub fn parse(name: &str) -> Option<NodeKind> {
        match name {
            "ollama" => Some(NodeKind::Ollama),
            "openai" => Some(NodeKind::OpenAi),
            "anthropic" => Some(NodeKind::Anthropic),
            _ => None,
        }
    }
}

/// Active nodes take traffic; standby nodes only when no active node can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    #[default]
    Active,
    Standby,
}

/// An upstream node: a `[[nodes]]` entry, and the body of `POST /admin/api/nodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Unique; no spaces or '/'.
    #[schema(example = "gpu-a")]
    pub name: String,
    #[serde(default = "default_kind")]
    pub kind: NodeKind,
    /// Starts with http:// or https://.
    #[schema(example = "http://10.0.0.5:11434")]
    pub url: String,
    #[serde(default)]
    pub priority: Priority,
    /// For strategy `weighted`; at least 1.
    #[serde(default = "default_weight")]
    #[schema(default = 1, minimum = 1)]
    pub weight: u32,
    /// Most requests this node may run at once (across the replica); unbounded when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub max_concurrency: Option<u32>,
    /// The key the node's own API asks for (`openai`: `Authorization: Bearer`; `anthropic`:
    /// `x-api-key`). Write-only: never serialized with the rest (the cluster's config bucket
    /// carries it beside), the admin API shows it masked, logs never show it.
    #[serde(default, skip_serializing_if = "never_serialized")]
    #[schema(write_only)]
    pub api_key: Option<String>,
    /// Models the node serves, listed by hand: used instead of the ones its probe discovers
    /// (required when `probe` is off).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Whether to probe the node's health and models (off for paid APIs, where every probe
    /// costs: the node then counts as up and only failed requests take it down).
    #[serde(default = "default_probe", skip_serializing_if = "is_true")]
    #[schema(default = true)]
    pub probe: bool,
    /// `openai` nodes only: the node serves the Responses API (`/v1/responses`) itself, so
    /// Responses clients are passed through to it untouched. Off: they are translated onto
    /// its chat completions (many OpenAI-compatible servers have no Responses API).
    #[serde(default, skip_serializing_if = "is_false")]
    #[schema(default = false)]
    pub responses: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A secret stays out of every serialization; `skip_serializing` would also hide the field
/// from the OpenAPI schema, where clients must see that they may send it.
fn never_serialized<T>(_: &T) -> bool {
    true
}

fn default_probe() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl NodeConfig {
    /// Checks what serde cannot; the error names the field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.name.is_empty() || self.name.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err((
                "name",
                format!("{:?} must be non-empty, without spaces or '/'", self.name),
            ));
        }
        validate_url(&self.url).map_err(|m| ("url", m))?;
        if self.weight == 0 {
            return Err(("weight", "must be at least 1".to_owned()));
        }
        if self.max_concurrency == Some(0) {
            return Err(("max_concurrency", "must be at least 1".to_owned()));
        }
        if self.responses && self.kind != NodeKind::OpenAi {
            return Err((
                "responses",
                format!(
                    "only an openai node can serve the Responses API itself, not an {} one",
                    self.kind.as_str()
                ),
            ));
        }
        if self.kind == NodeKind::Anthropic && self.url.trim_end_matches('/').ends_with("/v1") {
            return Err((
                "url",
                format!(
                    "{:?}: an anthropic node's URL has no /v1 (Drover adds /v1/messages)",
                    self.url
                ),
            ));
        }
        if !self.probe && self.models.is_empty() {
            return Err((
                "models",
                "a node that is not probed must list its models".to_owned(),
            ));
        }
        if let Some(bad) = self.models.iter().find(|m| m.trim().is_empty()) {
            return Err(("models", format!("{bad:?} is not a model name")));
        }
        // Keys are header values: printable ASCII only. This also refuses a masked key
        // (`sk-…wxyz`) read from the API and written back by mistake.
        if self
            .api_key
            .as_deref()
            .is_some_and(|k| k.is_empty() || !k.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err((
                "api_key",
                "must be printable ASCII without spaces (a masked key, as the API shows it, \
                 is not a key)"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

/// A public model name (`alias`) served as `target_model` on `nodes` (any node when empty).
/// When every node of the route fails before answering, the `fallbacks` (other routes' aliases)
/// are tried in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub alias: String,
    pub target_model: String,
    #[serde(default)]
    pub nodes: Vec<String>,
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

impl RouteConfig {
    /// Checks the route on its own; the error names the field. Whether its nodes and
    /// fallbacks exist is checked against the pool by whoever stores it.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let bad_name = |s: &str| s.trim().is_empty() || s.chars().any(char::is_whitespace);
        if bad_name(&self.alias) || self.alias.len() > 200 {
            return Err((
                "alias",
                format!(
                    "{:?} must be 1 to 200 characters, without spaces",
                    self.alias
                ),
            ));
        }
        if bad_name(&self.target_model) {
            return Err((
                "target_model",
                format!("{:?} must be a model name", self.target_model),
            ));
        }
        if self.fallbacks.iter().any(|f| f == &self.alias) {
            return Err(("fallbacks", "a route cannot fall back to itself".into()));
        }
        Ok(())
    }
}

fn default_kind() -> NodeKind {
    NodeKind::Ollama
}

fn default_weight() -> u32 {
    1
}

/// Routing strategy names, as written in `[selector] strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StrategyName {
    #[default]
    LeastInflight,
    RoundRobin,
    Latency,
    P2c,
    Weighted,
    Random,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SelectorConfig {
    pub strategy: StrategyName,
    /// Prefer nodes that already hold the model in memory (Ollama `/api/ps`)...
    pub prefer_loaded: bool,
    /// ...while they run fewer than this many requests; beyond, cold nodes share the load
    /// (Ollama runs up to 4 requests at once per model by default).
    pub loaded_busy: u32,
    /// Requests that may wait for a free slot when every candidate is at `max_concurrency`.
    pub max_queue: usize,
    /// How long a request waits for a slot before it gets 503 with `Retry-After`: a
    /// duration such as `30s` or `1m 30s`, above zero.
    #[serde(with = "humantime_serde")]
    #[schema(value_type = String, default = "30s", example = "10s")]
    pub queue_timeout: Duration,
}

impl Default for SelectorConfig {
    fn default() -> Self {
        Self {
            strategy: StrategyName::default(),
            prefer_loaded: true,
            loaded_busy: 4,
            max_queue: 1024,
            queue_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Time between active probes of each node.
    #[schema(value_type = String, example = "5s")]
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Deadline of one probe.
    #[schema(value_type = String, example = "5s")]
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Consecutive failures that take a node from suspect to down.
    pub down_after: u32,
    /// Consecutive successes that bring a down node back up.
    pub up_after: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(3),
            down_after: 3,
            up_after: 2,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverConfig {
    /// Attempts in total (first try included) before the client gets an error.
    pub attempts: u32,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        Self { attempts: 3 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    /// TCP connect to an upstream node.
    #[schema(value_type = String, example = "5s")]
    #[serde(with = "humantime_serde")]
    pub connect: Duration,
    /// From sending the request to the first byte of the answer. Generous by default: a
    /// non-streamed answer only starts once the whole generation is done, and Ollama may first
    /// load the model.
    #[schema(value_type = String, example = "5s")]
    #[serde(with = "humantime_serde")]
    pub first_byte: Duration,
    /// Longest silence between two chunks of a streamed answer.
    #[schema(value_type = String, example = "5s")]
    #[serde(with = "humantime_serde")]
    pub idle: Duration,
    /// Longest silence while a client sends its request body: then 408 and the connection
    /// closed, so unfinished bodies cannot hold connections (and descriptors) forever.
    #[schema(value_type = String, example = "30s")]
    #[serde(with = "humantime_serde")]
    pub body: Duration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(300),
            idle: Duration::from_secs(300),
            body: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body accepted, in bytes (413 above). Base64 images make bodies large.
    pub max_body_bytes: usize,
    /// How long in-flight requests may run on after SIGTERM before the process exits.
    #[schema(value_type = String, example = "5s")]
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing_subscriber` filter, e.g. `info` or `drover=debug,info`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// Configuration errors; each names the key or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(Box<figment::Error>),
    #[error("config file {0} does not exist")]
    MissingFile(String),
    #[error("invalid --node {0:?}: expected NAME=URL")]
    NodeFlag(String),
    #[error("nodes[{index}].{field}: {message}")]
    Node {
        index: usize,
        field: &'static str,
        message: String,
    },
    #[error("routes[{index}].{field}: {message}")]
    Route {
        index: usize,
        field: &'static str,
        message: String,
    },
    #[error("{key}: {message}")]
    Value { key: &'static str, message: String },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        ConfigError::Load(Box::new(e))
    }
}

/// Overrides given on the command line; they win over file and environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub log_format: Option<LogFormat>,
    /// `NAME=URL` pairs, added as Ollama nodes after those of the file.
    pub nodes: Vec<String>,
}

impl Config {
    /// Loads defaults, then `file` (when given), then `DROVER_*` variables, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        // DROVER_CONFIG names the file and DROVER_URL the replica the admin commands call (see
        // the CLI); neither is a key, and a shell that exports both must still run `serve`.
        let env = Env::prefixed("DROVER_")
            .ignore(&["config", "url"])
            .split("__");
        Self::load_with_env(file, overrides, env)
    }

    fn load_with_env(
        file: Option<&Path>,
        overrides: &Overrides,
        env: Env,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.display().to_string()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let mut config: Config = figment.merge(env).extract()?;
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(format) = overrides.log_format {
            config.log.format = format;
        }
        for flag in &overrides.nodes {
            config.nodes.push(parse_node_flag(flag)?);
        }
        config.validate()?;
        Ok(config)
    }

    /// Parses a whole configuration from TOML text (defaults fill the gaps), without the
    /// environment: used by tests and by tools that check a file.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: unique names, usable URLs, sane numbers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for (index, node) in self.nodes.iter().enumerate() {
            let err = |field, message: String| ConfigError::Node {
                index,
                field,
                message,
            };
            if !seen.insert(node.name.as_str()) {
                return Err(err("name", format!("duplicate node name {:?}", node.name)));
            }
            node.check()
                .map_err(|(field, message)| err(field, message))?;
        }
        let cluster = &self.cluster;
        if cluster.nats_url.is_empty() != cluster.name.is_empty() {
            return Err(ConfigError::Value {
                key: "cluster.nats_url/name",
                message: "set both to join a cluster, or neither to run standalone".to_owned(),
            });
        }
        let subject_safe = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !subject_safe(&cluster.name) {
            return Err(ConfigError::Value {
                key: "cluster.name",
                message: format!("{:?}: letters, digits, - and _ only", cluster.name),
            });
        }
        if cluster.cert_file_pair_broken() {
            return Err(ConfigError::Value {
                key: "cluster.tls.cert_file/key_file",
                message: "give both or neither".to_owned(),
            });
        }
        if cluster.heartbeat.is_zero() || cluster.peer_timeout <= cluster.heartbeat {
            return Err(ConfigError::Value {
                key: "cluster.peer_timeout",
                message: "must be longer than cluster.heartbeat (and both above zero)".to_owned(),
            });
        }
        let mut aliases = std::collections::HashSet::new();
        for (index, route) in self.routes.iter().enumerate() {
            let err = |field, message: String| ConfigError::Route {
                index,
                field,
                message,
            };
            if !aliases.insert(route.alias.as_str()) {
                return Err(err("alias", format!("duplicate alias {:?}", route.alias)));
            }
            route
                .check()
                .map_err(|(field, message)| err(field, message))?;
        }
        if self.translation.default_max_tokens == 0 {
            return Err(ConfigError::Value {
                key: "translation.default_max_tokens",
                message: "must be at least 1".to_owned(),
            });
        }
        if self.failover.attempts == 0 {
            return Err(ConfigError::Value {
                key: "failover.attempts",
                message: "must be at least 1".to_owned(),
            });
        }
        let durations = [
            ("health.interval", self.health.interval),
            ("health.timeout", self.health.timeout),
            ("timeouts.connect", self.timeouts.connect),
            ("timeouts.first_byte", self.timeouts.first_byte),
            ("timeouts.idle", self.timeouts.idle),
            ("selector.queue_timeout", self.selector.queue_timeout),
        ];
        if let Some((key, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(ConfigError::Value {
                key,
                message: "must be above zero".to_owned(),
            });
        }
        if self.health.down_after == 0 || self.health.up_after == 0 {
            return Err(ConfigError::Value {
                key: "health.down_after/up_after",
                message: "must be at least 1".to_owned(),
            });
        }
        Ok(())
    }
}

fn validate_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{url:?} must start with http:// or https://"))?;
    if rest.trim_end_matches('/').is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    url.parse::<actix_web::http::Uri>()
        .map(|_| ())
        .map_err(|e| format!("{url:?} is not a valid URL: {e}"))
}

/// `--node gpu-a=http://10.0.0.5:11434` → an active Ollama node of weight 1.
fn parse_node_flag(flag: &str) -> Result<NodeConfig, ConfigError> {
    let (name, url) = flag
        .split_once('=')
        .ok_or_else(|| ConfigError::NodeFlag(flag.to_owned()))?;
    if name.is_empty() || url.is_empty() {
        return Err(ConfigError::NodeFlag(flag.to_owned()));
    }
    Ok(NodeConfig {
        name: name.to_owned(),
        kind: NodeKind::Ollama,
        url: url.trim_end_matches('/').to_owned(),
        priority: Priority::Active,
        weight: 1,
        max_concurrency: None,
        api_key: None,
        models: Vec::new(),
        probe: true,
        responses: false,
    })
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail returns its own large error
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        listen = "127.0.0.1:8040"
        [[nodes]]
        name = "gpu-a"
        kind = "ollama"
        url = "http://10.0.0.5:11434"
        priority = "active"
        weight = 1
        max_concurrency = 4
        [selector]
        strategy = "least_inflight"
        [health]
        interval = "5s"
    "#;

    #[test]
    fn the_documented_shape_parses() {
        let config = Config::from_toml(EXAMPLE).unwrap();
        assert_eq!(config.nodes.len(), 1);
        assert_eq!(config.nodes[0].max_concurrency, Some(4));
        assert_eq!(config.selector.strategy, StrategyName::LeastInflight);
        assert_eq!(config.health.interval, Duration::from_secs(5));
        assert_eq!(config.failover.attempts, 3);
    }

    #[test]
    fn defaults_run_without_a_file() {
        let config = Config::from_toml("").unwrap();
        assert_eq!(config.listen.port(), 8040);
        assert!(config.nodes.is_empty());
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::from_toml("[selector]\nstrategi = \"random\"").unwrap_err();
        assert!(err.to_string().contains("strategi"), "{err}");
        let err = Config::from_toml("[[nodes]]\nname='a'\nurl='http://x'\nwieght=2").unwrap_err();
        assert!(err.to_string().contains("wieght"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::from_toml("[selector]\nstrategy = \"fastest\"").unwrap_err();
        assert!(err.to_string().contains("fastest"), "{err}");
        let err = Config::from_toml("[[nodes]]\nname='a'\nurl='ftp://x'").unwrap_err();
        assert!(err.to_string().contains("nodes[0].url"), "{err}");
        let twice = "[[nodes]]\nname='a'\nurl='http://x'\n[[nodes]]\nname='a'\nurl='http://y'";
        let err = Config::from_toml(twice).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }

    #[test]
    fn environment_overrides_file_with_nested_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("drover.toml", EXAMPLE)?;
            jail.set_env("DROVER_SELECTOR__STRATEGY", "p2c");
            jail.set_env("DROVER_HEALTH__INTERVAL", "250ms");
            jail.set_env("DROVER_FAILOVER__ATTEMPTS", "5");
            let config = Config::load(Some(Path::new("drover.toml")), &Overrides::default())
                .map_err(|e| e.to_string())?;
            assert_eq!(config.selector.strategy, StrategyName::P2c);
            assert_eq!(config.health.interval, Duration::from_millis(250));
            assert_eq!(config.failover.attempts, 5);
            Ok(())
        });
    }

    #[test]
    fn unknown_environment_keys_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DROVER_SELECTOR__NOPE", "1");
            let err = Config::load(None, &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("nope"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn zero_durations_are_rejected_by_name() {
        let err = Config::from_toml("[timeouts]\nidle = \"0s\"").unwrap_err();
        assert!(err.to_string().contains("timeouts.idle"), "{err}");
    }

    #[test]
    fn drover_config_names_the_file_and_is_not_a_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DROVER_CONFIG", "elsewhere.toml");
            Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            Ok(())
        });
    }

    #[test]
    fn drover_url_is_for_the_admin_commands_and_not_a_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DROVER_URL", "http://127.0.0.1:8040");
            Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            Ok(())
        });
    }

    #[test]
    fn nodes_can_be_given_inline_in_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DROVER_NODES", "[{name=\"a\",url=\"http://127.0.0.1:1\"}]");
            let config = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.nodes[0].name, "a");
            Ok(())
        });
    }

    #[test]
    fn node_flags_add_nodes() {
        let overrides = Overrides {
            nodes: vec!["a=http://127.0.0.1:1/".into()],
            ..Overrides::default()
        };
        figment::Jail::expect_with(|_| {
            let config = Config::load(None, &overrides).map_err(|e| e.to_string())?;
            assert_eq!(config.nodes[0].name, "a");
            assert_eq!(config.nodes[0].url, "http://127.0.0.1:1");
            Ok(())
        });
        let bad = Overrides {
            nodes: vec!["no-equals".into()],
            ..Overrides::default()
        };
        figment::Jail::expect_with(|_| {
            assert!(Config::load(None, &bad).is_err());
            Ok(())
        });
    }
}
