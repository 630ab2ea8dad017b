//! The `drover` command line.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    config::{Config, LogFormat, Overrides},
    server, telemetry,
};

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
    match Cli::parse().command {
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
