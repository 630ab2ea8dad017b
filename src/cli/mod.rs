//! The `drover` command line: `serve` and its config tools here; the admin commands, which
//! call a running replica's admin API over HTTP, one module per resource.

use std::{io::Write, net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    config::{Config, LogFormat, Overrides},
    server, telemetry,
};

mod admin;
mod cluster_config;
mod key;
mod logs;
mod node;
mod password;
mod pull;
mod route;
mod settings;
mod table;
mod time;
mod user;

#[derive(Debug, Parser)]
#[command(
    name = "drover",
    version,
    about = "An LLM gateway for Ollama, OpenAI and Anthropic clients"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a replica: the gateway on `listen`, routing over the configured nodes.
    Serve(ServeArgs),
    /// Check a configuration (file + DROVER_* environment) and print it resolved, as JSON.
    CheckConfig(ConfigArgs),
    /// Create or update the database schema (`database_url`), then exit.
    Migrate(ConfigArgs),
    /// Nodes of a running replica: add, list, show, rm, drain, undrain.
    Node(node::NodeArgs),
    /// Request records of a running replica, oldest first; --follow for new ones.
    Logs(logs::LogsArgs),
    /// Runtime settings of a running replica: show, set.
    Settings(settings::SettingsArgs),
    /// API keys of a running replica: create, list, revoke, set.
    Key(key::KeyArgs),
    /// Admin users of a running replica: add, list, rm, passwd, role.
    User(user::UserArgs),
    /// Log in as an admin user and print a session token to use as --token.
    Login(user::LoginArgs),
    /// Model routes of a running replica: add, list, show, rm.
    Route(route::RouteArgs),
    /// The cluster's config in NATS (no replica needed): show, publish, history, rollback.
    Config(cluster_config::ConfigArgs),
    /// Pull a model on every up Ollama node of a running replica (or --node NAME), with a
    /// progress bar per node.
    Pull(pull::PullArgs),
    /// The cluster's live replicas, asked over NATS (no replica URL needed): status.
    Cluster(cluster_config::ClusterArgs),
}

#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// TOML configuration file; every key may also be set as DROVER_<KEY> (nested with __).
    #[arg(long, short, env = "DROVER_CONFIG")]
    config: Option<PathBuf>,
    /// Add an Ollama node without a file: NAME=URL (repeatable).
    #[arg(long = "node", value_name = "NAME=URL")]
    nodes: Vec<String>,
    /// Address to listen on (overrides `listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Log format (overrides `log.format`).
    #[arg(long, value_enum)]
    log_format: Option<LogFormatArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

impl ConfigArgs {
    fn load(&self, log_format: Option<LogFormat>) -> anyhow::Result<Config> {
        let overrides = Overrides {
            listen: self.listen,
            log_format,
            nodes: self.nodes.clone(),
        };
        Ok(Config::load(self.config.as_deref(), &overrides)?)
    }
}

pub fn run() -> anyhow::Result<()> {
    let result = run_command(Cli::parse().command);
    // `drover logs | head` closes the pipe early: that is the reader's choice, not a failure.
    if let Err(e) = &result {
        if e.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        }) {
            return Ok(());
        }
    }
    result
}

/// Runs an admin command on a runtime of its own, writing to standard output.
fn call<F>(command: impl FnOnce(Box<dyn Write>) -> F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let out: Box<dyn Write> = Box::new(std::io::stdout().lock());
    actix_rt::System::new().block_on(command(out))
}

/// The answer of an admin call: with `--json`, the body as the server sent it (nothing for an
/// empty one); otherwise `human` renders it.
fn print(
    out: &mut dyn Write,
    json: bool,
    answer: &admin::Answer,
    human: impl FnOnce(&mut dyn Write, &serde_json::Value) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    if json {
        let raw = answer.raw();
        if !raw.is_empty() {
            writeln!(out, "{raw}")?;
        }
    } else {
        human(out, &answer.json()?)?;
    }
    Ok(())
}

fn run_command(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Node(args) => call(|mut out| async move { node::run(args, &mut *out).await }),
        Command::Logs(args) => call(|mut out| async move { logs::run(args, &mut *out).await }),
        Command::Settings(args) => {
            call(|mut out| async move { settings::run(args, &mut *out).await })
        }
        Command::Key(args) => call(|mut out| async move { key::run(args, &mut *out).await }),
        Command::User(args) => call(|mut out| async move { user::run(args, &mut *out).await }),
        Command::Login(args) => call(|mut out| async move { user::login(args, &mut *out).await }),
        Command::Pull(args) => call(|mut out| async move { pull::run(args, &mut *out).await }),
        Command::Route(args) => call(|mut out| async move { route::run(args, &mut *out).await }),
        Command::Config(args) => call(|out| cluster_config::run(args, out)),
        Command::Cluster(args) => call(|out| cluster_config::status(args, out)),
        Command::Serve(args) => {
            let format = args.log_format.map(|f| match f {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            });
            let config = args.config.load(format)?;
            telemetry::init(config.log.format, &config.log.level);
            if config.nodes.is_empty() {
                tracing::warn!(
                    "no nodes configured: add [[nodes]] to the config or pass --node NAME=URL"
                );
            }
            server::run(config)
        }
        Command::Migrate(args) => {
            let config = args.load(None)?;
            let applied = actix_rt::System::new()
                .block_on(crate::store::migrate_only(&config.database_url))?;
            if applied.is_empty() {
                println!("the database schema is up to date");
            }
            for version in applied {
                println!("applied {version}");
            }
            Ok(())
        }
        Command::CheckConfig(args) => {
            let config = args.load(None)?;
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
