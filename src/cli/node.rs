//! `drover node …`: the nodes of a running replica (`/admin/api/nodes`).

use std::io::Write;

use awc::http::Method;
use clap::{Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use super::{
    admin::{segment, AdminClient, Remote},
    print,
    table::{cell, print_fields, Table},
};

#[derive(Debug, clap::Args)]
pub(super) struct NodeArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    command: NodeCommand,
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Add a node; it takes requests as soon as a probe finds it up.
    Add(AddArgs),
    /// Every node: settings and live state (health, in flight, models).
    List,
    /// One node's stored settings.
    Show { name: String },
    /// Remove a node; requests running on it finish.
    Rm { name: String },
    /// Stop sending new requests to a node (running ones finish).
    Drain { name: String },
    /// Send requests to a drained node again.
    Undrain { name: String },
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    name: String,
    /// The node's base URL, e.g. http://10.0.0.5:11434. (Its own id: the replica's `--url`
    /// is a global flag, and two arguments with one id would share the value.)
    #[arg(id = "node_url", value_name = "URL")]
    url: String,
    /// The API the node speaks (the server's default is ollama).
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// active, or standby: used only when no active node can serve.
    #[arg(long, value_enum)]
    priority: Option<PriorityArg>,
    /// Share of requests under the weighted strategy.
    #[arg(long)]
    weight: Option<u32>,
    /// Most requests the node runs at once; more wait in the queue.
    #[arg(long)]
    max_concurrency: Option<u32>,
    /// The key the node itself asks for (openai and anthropic nodes). Visible in the process
    /// list while the command runs.
    #[arg(long)]
    api_key: Option<String>,
    /// Models the node serves, listed by hand (comma-separated): replaces what probes find.
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Don't probe the node (paid APIs): it counts as up until requests fail. Needs --models.
    #[arg(long)]
    no_probe: bool,
    /// The node (openai) serves the Responses API itself: Responses clients pass through.
    #[arg(long)]
    responses: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Ollama,
    Openai,
    Anthropic,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PriorityArg {
    Active,
    Standby,
}

/// The fields of a `[[nodes]]` entry; absent flags are left to the server's defaults.
fn add_body(args: &AddArgs) -> Value {
    let mut body = Map::new();
    body.insert("name".into(), json!(args.name));
    body.insert("url".into(), json!(args.url));
    if let Some(kind) = args.kind {
        let kind = match kind {
            Kind::Ollama => "ollama",
            Kind::Openai => "openai",
            Kind::Anthropic => "anthropic",
        };
        body.insert("kind".into(), json!(kind));
    }
    if let Some(priority) = args.priority {
        let priority = match priority {
            PriorityArg::Active => "active",
            PriorityArg::Standby => "standby",
        };
        body.insert("priority".into(), json!(priority));
    }
    if let Some(weight) = args.weight {
        body.insert("weight".into(), json!(weight));
    }
    if let Some(max) = args.max_concurrency {
        body.insert("max_concurrency".into(), json!(max));
    }
    if let Some(key) = &args.api_key {
        body.insert("api_key".into(), json!(key));
    }
    if !args.models.is_empty() {
        body.insert("models".into(), json!(args.models));
    }
    if args.no_probe {
        body.insert("probe".into(), json!(false));
    }
    if args.responses {
        body.insert("responses".into(), json!(true));
    }
    Value::Object(body)
}

const NODE_FIELDS: &[&str] = &[
    "name",
    "kind",
    "url",
    "priority",
    "weight",
    "max_concurrency",
    "drained",
    "updated_ms",
];

pub(super) async fn run(args: NodeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.remote)?;
    let json = args.remote.json;
    match args.command {
        NodeCommand::Add(add) => {
            let answer = client
                .send(Method::POST, "/nodes", Some(&add_body(&add)))
                .await?;
            print(out, json, &answer, |out, node| {
                writeln!(out, "added node {}", add.name)?;
                print_fields(out, node, NODE_FIELDS)
            })
        }
        NodeCommand::List => {
            let answer = client.get("/nodes").await?;
            print(out, json, &answer, list)
        }
        NodeCommand::Show { name } => {
            let answer = client.get(&format!("/nodes/{}", segment(&name))).await?;
            print(out, json, &answer, |out, node| {
                print_fields(out, node, NODE_FIELDS)
            })
        }
        NodeCommand::Rm { name } => {
            let path = format!("/nodes/{}", segment(&name));
            let answer = client.send(Method::DELETE, &path, None).await?;
            print(out, json, &answer, |out, _| {
                writeln!(out, "removed node {name}")
            })
        }
        NodeCommand::Drain { name } => set_drained(&client, out, json, &name, true).await,
        NodeCommand::Undrain { name } => set_drained(&client, out, json, &name, false).await,
    }
}

async fn set_drained(
    client: &AdminClient,
    out: &mut dyn Write,
    json: bool,
    name: &str,
    drained: bool,
) -> anyhow::Result<()> {
    let action = if drained { "drain" } else { "undrain" };
    let path = format!("/nodes/{}/{action}", segment(name));
    let answer = client.send(Method::POST, &path, None).await?;
    print(out, json, &answer, |out, _| {
        writeln!(out, "node {name}: {action}ed")
    })
}

/// `{"nodes": [{"config": {...}, "state": {...}|null}]}` as a table.
fn list(out: &mut dyn Write, answer: &Value) -> std::io::Result<()> {
    let mut table = Table::new(&[
        "NAME",
        "KIND",
        "URL",
        "PRIORITY",
        "WEIGHT",
        "MAX",
        "DRAINED",
        "HEALTH",
        "IN_FLIGHT",
        "MODELS",
    ]);
    let rows: Vec<Vec<String>> = answer["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|node| {
            let (config, state) = (&node["config"], &node["state"]);
            vec![
                cell(config.get("name")),
                cell(config.get("kind")),
                cell(config.get("url")),
                cell(config.get("priority")),
                cell(config.get("weight")),
                cell(config.get("max_concurrency")),
                cell(config.get("drained")),
                cell(state.get("health")),
                cell(state.get("in_flight")),
                models(state.get("models")),
            ]
        })
        .collect();
    table.print(out, &rows)
}

/// A node's models, the first few by name: a node may serve dozens.
fn models(models: Option<&Value>) -> String {
    let names: Vec<&str> = models
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match names.len() {
        0 => "-".to_owned(),
        n if n <= 3 => names.join(","),
        n => format!("{} +{}", names[..3].join(","), n - 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sends_only_the_given_fields() {
        let args = AddArgs {
            name: "gpu-b".into(),
            url: "http://10.0.0.6:11434".into(),
            kind: None,
            priority: Some(PriorityArg::Standby),
            weight: None,
            max_concurrency: Some(2),
            api_key: None,
            models: Vec::new(),
            no_probe: false,
            responses: false,
        };
        assert_eq!(
            add_body(&args),
            json!({"name": "gpu-b", "url": "http://10.0.0.6:11434", "priority": "standby", "max_concurrency": 2})
        );
    }

    #[test]
    fn a_paid_api_node_takes_its_kind_key_models_and_no_probe() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "drover",
            "node",
            "add",
            "claude",
            "https://api.anthropic.com",
            "--kind",
            "anthropic",
            "--api-key",
            "sk-ant-x",
            "--models",
            "claude-a,claude-b",
            "--no-probe",
        ])
        .unwrap();
        let crate::cli::Command::Node(args) = cli.command else {
            panic!("not node");
        };
        let NodeCommand::Add(add) = args.command else {
            panic!("not add");
        };
        assert_eq!(
            add_body(&add),
            json!({"name": "claude", "url": "https://api.anthropic.com", "kind": "anthropic",
                "api_key": "sk-ant-x", "models": ["claude-a", "claude-b"], "probe": false})
        );
    }

    #[test]
    fn the_node_url_and_the_replica_url_stay_apart() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "drover",
            "node",
            "add",
            "a",
            "http://node:1",
            "--url",
            "http://replica:2",
        ])
        .unwrap();
        let crate::cli::Command::Node(args) = cli.command else {
            panic!("not node");
        };
        let NodeCommand::Add(add) = args.command else {
            panic!("not add");
        };
        assert_eq!(
            (add.url.as_str(), args.remote.url.as_str()),
            ("http://node:1", "http://replica:2")
        );
    }

    #[test]
    fn long_model_lists_are_cut() {
        assert_eq!(models(Some(&json!(["a", "b"]))), "a,b");
        assert_eq!(models(Some(&json!(["a", "b", "c", "d", "e"]))), "a,b,c +2");
        assert_eq!(models(None), "-");
    }
}
