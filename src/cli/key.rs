//! `drover key …`: the API keys clients send to a replica (`/admin/api/keys`).

use std::io::Write;

use awc::http::Method;
use clap::Subcommand;
use serde_json::{json, Map, Value};

use super::{
    admin::{segment, AdminClient, Remote},
    print,
    table::{cell, print_fields, time_cell, Table},
    time::{now_ms, parse_when, Counted},
};

#[derive(Debug, clap::Args)]
pub(super) struct KeyArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a key and print its secret, once: it cannot be shown again.
    Create(CreateArgs),
    /// Every key (without secrets).
    List,
    /// Revoke a key: requests with it are refused from then on.
    Revoke { id: String },
    /// Change a key.
    Set(SetArgs),
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    name: String,
    /// Models the key may use, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_name = "MODEL,...")]
    models: Vec<String>,
    /// Requests per minute (default: unlimited).
    #[arg(long, value_name = "N")]
    rpm: Option<u32>,
    /// Tokens per minute (default: unlimited).
    #[arg(long, value_name = "N")]
    tpm: Option<u32>,
    /// When the key stops working: a duration from now (30d, 12h) or an RFC 3339 time
    /// (default: never).
    #[arg(long, value_parser = expiry, value_name = "DURATION|RFC3339")]
    expires: Option<Expiry>,
}

#[derive(Debug, clap::Args)]
struct SetArgs {
    id: String,
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    #[arg(long)]
    disable: bool,
    #[arg(long)]
    name: Option<String>,
    /// Models the key may use, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "MODEL,...",
        conflicts_with = "all_models"
    )]
    models: Option<Vec<String>>,
    /// Let the key use every model.
    #[arg(long)]
    all_models: bool,
    /// Requests per minute, or `none` for no limit.
    #[arg(long, value_parser = limit, value_name = "N|none")]
    rpm: Option<Limit>,
    /// Tokens per minute, or `none` for no limit.
    #[arg(long, value_parser = limit, value_name = "N|none")]
    tpm: Option<Limit>,
    /// A duration from now, an RFC 3339 time, or `never`.
    #[arg(long, value_parser = expiry, value_name = "DURATION|RFC3339|never")]
    expires: Option<Expiry>,
}

/// A limit that may be cleared (`none`), which the API spells `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit(Option<u32>);

fn limit(text: &str) -> Result<Limit, String> {
    if text == "none" {
        return Ok(Limit(None));
    }
    text.parse()
        .map(|n| Limit(Some(n)))
        .map_err(|_| format!("{text:?}: expected a number or none"))
}

/// An expiry time in epoch ms, or none (`never`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expiry(Option<i64>);

fn expiry(text: &str) -> Result<Expiry, String> {
    if text == "never" {
        return Ok(Expiry(None));
    }
    parse_when(text, Counted::Ahead, now_ms()).map(|ms| Expiry(Some(ms)))
}

fn create_body(args: &CreateArgs) -> Value {
    json!({
        "name": args.name,
        "allowed_models": (!args.models.is_empty()).then_some(&args.models),
        "rpm_limit": args.rpm,
        "tpm_limit": args.tpm,
        "expires_ms": args.expires.and_then(|e| e.0),
    })
}

/// Only the fields given: a PATCH leaves the others as they are.
fn patch_body(args: &SetArgs) -> Value {
    let mut body = Map::new();
    if args.enable || args.disable {
        body.insert("enabled".into(), json!(args.enable));
    }
    if let Some(name) = &args.name {
        body.insert("name".into(), json!(name));
    }
    if let Some(models) = &args.models {
        body.insert("allowed_models".into(), json!(models));
    }
    if args.all_models {
        body.insert("allowed_models".into(), Value::Null);
    }
    if let Some(Limit(rpm)) = args.rpm {
        body.insert("rpm_limit".into(), json!(rpm));
    }
    if let Some(Limit(tpm)) = args.tpm {
        body.insert("tpm_limit".into(), json!(tpm));
    }
    if let Some(Expiry(expires)) = args.expires {
        body.insert("expires_ms".into(), json!(expires));
    }
    Value::Object(body)
}

const KEY_FIELDS: &[&str] = &[
    "id",
    "name",
    "prefix",
    "enabled",
    "allowed_models",
    "rpm_limit",
    "tpm_limit",
    "expires_ms",
    "created_ms",
    "revoked_ms",
];

pub(super) async fn run(args: KeyArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.remote)?;
    let json = args.remote.json;
    match args.command {
        KeyCommand::Create(create) => {
            let answer = client
                .send(Method::POST, "/keys", Some(&create_body(&create)))
                .await?;
            let printed = print(out, json, &answer, |out, key| {
                writeln!(out, "created key {}", create.name)?;
                let mut order = KEY_FIELDS.to_vec();
                order.push("secret");
                print_fields(out, key, &order)
            });
            eprintln!("warning: the secret is shown only this once; store it now, it cannot be shown again");
            printed
        }
        KeyCommand::List => {
            let answer = client.get("/keys").await?;
            print(out, json, &answer, list)
        }
        KeyCommand::Revoke { id } => {
            let path = format!("/keys/{}", segment(&id));
            let answer = client.send(Method::DELETE, &path, None).await?;
            print(out, json, &answer, |out, _| {
                writeln!(out, "revoked key {id}")
            })
        }
        KeyCommand::Set(set) => {
            let body = patch_body(&set);
            if body.as_object().is_some_and(Map::is_empty) {
                anyhow::bail!("nothing to change: give --enable, --disable, --name, --models, --all-models, --rpm, --tpm or --expires");
            }
            let path = format!("/keys/{}", segment(&set.id));
            let answer = client.send(Method::PATCH, &path, Some(&body)).await?;
            print(out, json, &answer, |out, key| match key {
                Value::Object(_) => print_fields(out, key, KEY_FIELDS),
                _ => writeln!(out, "updated key {}", set.id),
            })
        }
    }
}

fn list(out: &mut dyn Write, answer: &Value) -> std::io::Result<()> {
    let mut table = Table::new(&[
        "ID", "NAME", "PREFIX", "ENABLED", "MODELS", "RPM", "TPM", "EXPIRES", "CREATED", "REVOKED",
    ]);
    let rows: Vec<Vec<String>> = answer["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            vec![
                cell(k.get("id")),
                cell(k.get("name")),
                cell(k.get("prefix")),
                cell(k.get("enabled")),
                match k.get("allowed_models") {
                    None | Some(Value::Null) => "all".to_owned(),
                    models => cell(models),
                },
                cell(k.get("rpm_limit")),
                cell(k.get("tpm_limit")),
                time_cell(k.get("expires_ms")),
                time_cell(k.get("created_ms")),
                time_cell(k.get("revoked_ms")),
            ]
        })
        .collect();
    table.print(out, &rows)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cmd {
        #[command(subcommand)]
        command: KeyCommand,
    }

    fn parse(args: &[&str]) -> KeyCommand {
        Cmd::try_parse_from(std::iter::once("key").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    #[test]
    fn create_sends_every_field_with_nulls_for_defaults() {
        let KeyCommand::Create(args) = parse(&["create", "ci", "--models", "a,b", "--rpm", "60"])
        else {
            panic!("not create");
        };
        assert_eq!(
            create_body(&args),
            json!({"name": "ci", "allowed_models": ["a", "b"], "rpm_limit": 60,
                "tpm_limit": null, "expires_ms": null})
        );
        let KeyCommand::Create(args) = parse(&["create", "ci", "--expires", "1d"]) else {
            panic!("not create");
        };
        let expires = create_body(&args)["expires_ms"].as_i64().unwrap();
        assert!(
            (expires - now_ms() - 86_400_000).abs() < 60_000,
            "{expires}"
        );
    }

    #[test]
    fn set_sends_only_what_changes_and_none_clears() {
        let KeyCommand::Set(args) =
            parse(&["set", "k1", "--disable", "--rpm", "none", "--tpm", "5"])
        else {
            panic!("not set");
        };
        assert_eq!(
            patch_body(&args),
            json!({"enabled": false, "rpm_limit": null, "tpm_limit": 5})
        );
        let KeyCommand::Set(args) = parse(&["set", "k1", "--all-models", "--expires", "never"])
        else {
            panic!("not set");
        };
        assert_eq!(
            patch_body(&args),
            json!({"allowed_models": null, "expires_ms": null})
        );
    }

    #[test]
    fn bad_values_are_refused_before_any_call() {
        let bad = |args: &[&str]| {
            Cmd::try_parse_from(std::iter::once("key").chain(args.iter().copied())).is_err()
        };
        assert!(bad(&["create", "ci", "--expires", "soon"]));
        assert!(bad(&["set", "k1", "--rpm", "lots"]));
        assert!(bad(&["set", "k1", "--enable", "--disable"]));
        assert!(bad(&["set", "k1", "--models", "a", "--all-models"]));
    }
}
