//! `drover settings …`: the settings a replica changes at runtime (`/admin/api/settings`).

use std::io::{Read, Write};

use anyhow::Context;
use awc::http::Method;
use clap::Subcommand;
use serde_json::Value;

use super::{
    admin::{AdminClient, Remote},
    print,
    table::print_fields,
};

#[derive(Debug, clap::Args)]
pub(super) struct SettingsArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    command: SettingsCommand,
}

#[derive(Debug, Subcommand)]
enum SettingsCommand {
    /// The settings in force.
    Show,
    /// Replace the settings with a JSON file (`-`: standard input), e.g.
    /// {"selector": {"strategy": "p2c"}}; absent fields take their defaults.
    Set {
        #[arg(value_name = "FILE.json|-")]
        file: String,
    },
}

pub(super) async fn run(args: SettingsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.remote)?;
    let json = args.remote.json;
    match args.command {
        SettingsCommand::Show => {
            let answer = client.get("/settings").await?;
            print(out, json, &answer, |out, settings| {
                print_fields(out, settings, &[])
            })
        }
        SettingsCommand::Set { file } => {
            let body = read_json(&file)?;
            let answer = client.send(Method::PUT, "/settings", Some(&body)).await?;
            print(out, json, &answer, |out, settings| {
                print_fields(out, settings, &[])
            })
        }
    }
}

/// The file (or standard input) as JSON, checked here so a typo is reported with its line
/// before anything is sent; the server checks the fields.
fn read_json(file: &str) -> anyhow::Result<Value> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
    } else {
        text = std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
    }
    let name = if file == "-" { "standard input" } else { file };
    serde_json::from_str(&text).with_context(|| format!("{name} is not JSON"))
}
