//! `drover route …`: model aliases and their fallbacks (`/admin/api/routes`).

use std::io::Write;

use awc::http::Method;
use clap::Subcommand;
use serde_json::{json, Value};

use super::{
    admin::{segment, AdminClient, Remote},
    print,
    table::{cell, print_fields, time_cell, Table},
};

#[derive(Debug, clap::Args)]
pub(super) struct RouteArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    command: RouteCommand,
}

#[derive(Debug, Subcommand)]
enum RouteCommand {
    /// Route requests for ALIAS to TARGET_MODEL.
    Add {
        alias: String,
        target_model: String,
        /// Only these nodes serve the route, comma-separated (default: any that has the model).
        #[arg(long, value_delimiter = ',', value_name = "NODE,...")]
        nodes: Vec<String>,
        /// Routes tried in order when this one cannot be served, comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "ALIAS,...")]
        fallbacks: Vec<String>,
    },
    /// Every route.
    List,
    /// One route.
    Show { alias: String },
    /// Remove a route.
    Rm { alias: String },
}

const ROUTE_FIELDS: &[&str] = &["alias", "target_model", "nodes", "fallbacks", "updated_ms"];

pub(super) async fn run(args: RouteArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.remote)?;
    let json = args.remote.json;
    match args.command {
        RouteCommand::Add {
            alias,
            target_model,
            nodes,
            fallbacks,
        } => {
            let body = json!({"alias": alias, "target_model": target_model,
                "nodes": nodes, "fallbacks": fallbacks});
            let answer = client.send(Method::POST, "/routes", Some(&body)).await?;
            print(out, json, &answer, |out, route| {
                writeln!(out, "added route {alias}")?;
                print_fields(out, route, ROUTE_FIELDS)
            })
        }
        RouteCommand::List => {
            let answer = client.get("/routes").await?;
            print(out, json, &answer, list)
        }
        RouteCommand::Show { alias } => {
            let answer = client.get(&format!("/routes/{}", segment(&alias))).await?;
            print(out, json, &answer, |out, route| {
                print_fields(out, route, ROUTE_FIELDS)
            })
        }
        RouteCommand::Rm { alias } => {
            let path = format!("/routes/{}", segment(&alias));
            let answer = client.send(Method::DELETE, &path, None).await?;
            print(out, json, &answer, |out, _| {
                writeln!(out, "removed route {alias}")
            })
        }
    }
}

fn list(out: &mut dyn Write, answer: &Value) -> std::io::Result<()> {
    let mut table = Table::new(&["ALIAS", "TARGET", "NODES", "FALLBACKS", "UPDATED"]);
    let rows: Vec<Vec<String>> = answer["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                cell(r.get("alias")),
                cell(r.get("target_model")),
                cell(r.get("nodes")),
                cell(r.get("fallbacks")),
                time_cell(r.get("updated_ms")),
            ]
        })
        .collect();
    table.print(out, &rows)
}
