//! `drover config show | publish FILE | history | rollback REV`: the cluster's config, read and
//! written in its NATS bucket directly, so it works with no replica running.

use std::{
    io::Write,
    path::PathBuf,
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use async_nats::jetstream;
use clap::{Args, Subcommand};

use super::table::Table;
use crate::{
    cluster::{
        bridge::gather,
        config_sync::{bucket_name, open_bucket},
        connect::connect,
        publish::{self, comparable},
    },
    config::ClusterConfig,
};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
    #[command(flatten)]
    nats: NatsArgs,
}

/// Where the cluster's NATS is: the same variables `drover serve` reads.
#[derive(Debug, Args)]
struct NatsArgs {
    #[arg(long, global = true, env = "DROVER_CLUSTER__NATS_URL")]
    nats_url: Option<String>,
    /// The cluster's name.
    #[arg(long, global = true, env = "DROVER_CLUSTER__NAME")]
    cluster: Option<String>,
    #[arg(
        long,
        global = true,
        env = "DROVER_CLUSTER__USER",
        hide_env_values = true
    )]
    nats_user: Option<String>,
    #[arg(
        long,
        global = true,
        env = "DROVER_CLUSTER__PASSWORD",
        hide_env_values = true
    )]
    nats_password: Option<String>,
    #[arg(
        long,
        global = true,
        env = "DROVER_CLUSTER__TOKEN",
        hide_env_values = true
    )]
    nats_token: Option<String>,
    #[arg(long, global = true, env = "DROVER_CLUSTER__CREDS_FILE")]
    nats_creds: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Every node, route, settings section and key (metadata) in the cluster, with revisions.
    Show,
    /// Make the cluster's nodes, routes and named settings those of FILE: prints the changes,
    /// then writes them (compare-and-set).
    Publish {
        file: PathBuf,
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Past writes the bucket keeps (64 per entity), newest first.
    History {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Put nodes, routes and settings back as they were right after revision REV.
    Rollback {
        revision: u64,
        #[arg(long)]
        dry_run: bool,
    },
}

/// Who the history names for writes from the command line.
fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "someone".to_owned());
    format!("cli:{user}")
}

impl NatsArgs {
    fn cluster(&self) -> anyhow::Result<ClusterConfig> {
        let (Some(url), Some(name)) = (&self.nats_url, &self.cluster) else {
            anyhow::bail!(
                "say where the cluster is: --nats-url and --cluster (or DROVER_CLUSTER__NATS_URL and DROVER_CLUSTER__NAME)"
            );
        };
        Ok(ClusterConfig {
            nats_url: url.clone(),
            name: name.clone(),
            user: self.nats_user.clone().unwrap_or_default(),
            password: self.nats_password.clone().unwrap_or_default(),
            token: self.nats_token.clone().unwrap_or_default(),
            creds_file: self.nats_creds.clone(),
            ..ClusterConfig::default()
        })
    }
}

/// A NATS connection for one command, or an error naming the server when it does not come
/// up within 3 s.
async fn connect_cli(cluster: &ClusterConfig) -> anyhow::Result<async_nats::Client> {
    let connected = Arc::new(AtomicBool::new(false));
    let connections = Arc::new(tokio::sync::watch::channel(0).0);
    let client = connect(cluster, "cli", connected.clone(), connections).await?;
    for _ in 0..60 {
        if connected.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(client);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("cannot reach NATS at {}", cluster.nats_url)
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
    #[command(flatten)]
    nats: NatsArgs,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Every live replica: version, applied revision and lag, uptime, in flight, traffic.
    Status,
}

pub async fn status(args: ClusterArgs, mut out: Box<dyn Write>) -> anyhow::Result<()> {
    let ClusterCommand::Status = args.command;
    let cluster = args.nats.cluster()?;
    let client = connect_cli(&cluster).await?;
    let replicas = gather(&client, &cluster.name, Duration::from_millis(700)).await?;
    if args.nats.json {
        writeln!(out, "{}", serde_json::to_string(&replicas)?)?;
        return Ok(());
    }
    let newest = replicas.iter().map(|r| r.revision).max().unwrap_or(0);
    let one = |v: f64| format!("{v:.1}");
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    let rows: Vec<Vec<String>> = replicas
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.address.clone(),
                r.version.clone(),
                r.revision.to_string(),
                newest.saturating_sub(r.revision).to_string(),
                format!("{}s", r.uptime_s),
                r.in_flight.to_string(),
                one(r.load.rps),
                one(r.load.errors_per_s),
                ms(r.load.p99_ms),
                one(r.load.tokens_per_s),
            ]
        })
        .collect();
    Table::new(&[
        "REPLICA",
        "ADDRESS",
        "VERSION",
        "REVISION",
        "LAG",
        "UPTIME",
        "IN FLIGHT",
        "RPS",
        "ERR/S",
        "P99 MS",
        "TOKENS/S",
    ])
    .print(&mut out, &rows)?;
    writeln!(
        out,
        "{} replica(s) in cluster {}",
        replicas.len(),
        cluster.name
    )?;
    Ok(())
}

pub async fn run(args: ConfigArgs, mut out: Box<dyn Write>) -> anyhow::Result<()> {
    let cluster = args.nats.cluster()?;
    let client = connect_cli(&cluster).await?;
    let js = jetstream::new(client);
    let bucket = open_bucket(&js, &bucket_name(&cluster.name)).await?;
    let json = args.nats.json;
    match args.command {
        ConfigCommand::Show => {
            let current = publish::read(&bucket).await?;
            if json {
                let all: serde_json::Map<String, serde_json::Value> = current
                    .iter()
                    .map(|(k, c)| {
                        let entry = serde_json::json!({"revision": c.revision, "actor": c.actor,
                            "value": hide_secrets(comparable(&c.change))});
                        (k.clone(), entry)
                    })
                    .collect();
                writeln!(out, "{}", serde_json::Value::Object(all))?;
            } else {
                let rows: Vec<Vec<String>> = current
                    .iter()
                    .map(|(k, c)| {
                        vec![
                            k.clone(),
                            c.revision.to_string(),
                            c.actor.clone(),
                            hide_secrets(comparable(&c.change)).to_string(),
                        ]
                    })
                    .collect();
                Table::new(&["KEY", "REVISION", "BY", "VALUE"]).print(&mut out, &rows)?;
            }
        }
        ConfigCommand::Publish { file, dry_run } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let desired = publish::from_file(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let current = publish::read(&bucket).await?;
            let steps = publish::plan(&current, &desired);
            write_plan(&mut out, &steps)?;
            if !dry_run && !steps.is_empty() {
                let revision = publish::execute(&bucket, &steps, &actor()).await?;
                writeln!(
                    out,
                    "published {} change(s); revision {revision}",
                    steps.len()
                )?;
            }
        }
        ConfigCommand::History { limit } => {
            let past = publish::history(&bucket).await?;
            let past = &past[..past.len().min(limit)];
            if json {
                let shown: Vec<serde_json::Value> = past
                    .iter()
                    .map(|p| {
                        serde_json::json!({"revision": p.revision, "key": p.key,
                            "operation": p.operation, "actor": p.actor, "ts_ms": p.ts_ms,
                            "value": hide_secrets(p.value.clone())})
                    })
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(shown))?;
            } else {
                let rows: Vec<Vec<String>> = past
                    .iter()
                    .map(|p| {
                        vec![
                            p.revision.to_string(),
                            super::time::format_ms(p.ts_ms, false),
                            p.key.clone(),
                            p.operation.to_owned(),
                            p.actor.clone(),
                        ]
                    })
                    .collect();
                Table::new(&["REVISION", "TIME", "KEY", "OP", "BY"]).print(&mut out, &rows)?;
            }
        }
        ConfigCommand::Rollback { revision, dry_run } => {
            let past = publish::history(&bucket).await?;
            let desired = publish::as_of(&past, revision)?;
            let current = publish::read(&bucket).await?;
            let steps = publish::plan(&current, &desired);
            write_plan(&mut out, &steps)?;
            if !dry_run && !steps.is_empty() {
                let last = publish::execute(&bucket, &steps, &actor()).await?;
                writeln!(
                    out,
                    "rolled back to revision {revision}; now at revision {last}"
                )?;
            }
        }
    }
    Ok(())
}

fn write_plan(out: &mut dyn Write, steps: &[publish::Step]) -> std::io::Result<()> {
    if steps.is_empty() {
        return writeln!(out, "nothing to change");
    }
    for step in steps {
        writeln!(out, "{}", step.describe())?;
        if let Some(before) = &step.before {
            writeln!(out, "    was {}", hide_secrets(before.clone()))?;
        }
        if let Some(after) = step.after_json() {
            writeln!(out, "    now {}", hide_secrets(after))?;
        }
    }
    Ok(())
}

/// Key hashes are not secrets, but nobody needs to see them.
/// What people may see of a bucket value: no key hashes, node keys masked.
fn hide_secrets(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(fields) = value.as_object_mut() {
        fields.remove("hash");
        if let Some(serde_json::Value::String(key)) = fields.get_mut("api_key") {
            *key = crate::store::nodes::mask(key);
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_values_hold_no_secret() {
        let shown = hide_secrets(serde_json::json!({
            "name": "claude", "api_key": "sk-ant-0123456789abcdef", "hash": "abc"
        }));
        assert_eq!(
            shown,
            serde_json::json!({"name": "claude", "api_key": "sk-…cdef"})
        );
        assert_eq!(crate::store::nodes::mask("short"), "…");
    }
}
