//! `drover user …` and `drover login`: the people who use the admin API
//! (`/admin/api/users`, `/admin/api/login`).

use std::io::Write;

use awc::http::Method;
use clap::{Subcommand, ValueEnum};
use serde_json::{json, Value};

use super::{
    admin::{segment, AdminClient, Remote},
    password::{Confirm, PasswordInput},
    print,
    table::{cell, print_fields, time_cell, Table},
    time::format_ms,
};

#[derive(Debug, clap::Args)]
pub(super) struct UserArgs {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user; the password is prompted for (or read with --password-stdin).
    Add {
        name: String,
        /// admin may change things; viewer may only read.
        #[arg(long, value_enum, default_value_t = Role::Viewer)]
        role: Role,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// Every user.
    List,
    /// Remove a user.
    Rm { name: String },
    /// Set a user's password (prompted for, or read with --password-stdin).
    Passwd {
        name: String,
        #[command(flatten)]
        password: PasswordInput,
    },
    /// Change a user's role.
    Role {
        name: String,
        #[arg(value_enum)]
        role: Role,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Role {
    Admin,
    Viewer,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

#[derive(Debug, clap::Args)]
pub(super) struct LoginArgs {
    #[command(flatten)]
    remote: Remote,
    username: String,
    #[command(flatten)]
    password: PasswordInput,
}

pub(super) async fn run(args: UserArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let json = args.remote.json;
    // The password first: a missing one fails before anything is sent.
    let password = match &args.command {
        UserCommand::Add { password, .. } | UserCommand::Passwd { password, .. } => {
            Some(password.read(Confirm::Twice)?)
        }
        _ => None,
    };
    let client = AdminClient::new(&args.remote)?;
    match args.command {
        UserCommand::Add { name, role, .. } => {
            let body = json!({"username": name, "password": password, "role": role.as_str()});
            let answer = client.send(Method::POST, "/users", Some(&body)).await?;
            print(out, json, &answer, |out, user| {
                writeln!(out, "added user {name}")?;
                print_fields(out, user, &["username", "role", "created_ms"])
            })
        }
        UserCommand::List => {
            let answer = client.get("/users").await?;
            print(out, json, &answer, list)
        }
        UserCommand::Rm { name } => {
            let path = format!("/users/{}", segment(&name));
            let answer = client.send(Method::DELETE, &path, None).await?;
            print(out, json, &answer, |out, _| {
                writeln!(out, "removed user {name}")
            })
        }
        UserCommand::Passwd { name, .. } => {
            let path = format!("/users/{}/password", segment(&name));
            let body = json!({ "password": password });
            let answer = client.send(Method::PUT, &path, Some(&body)).await?;
            print(out, json, &answer, |out, _| {
                writeln!(out, "changed the password of {name}")
            })
        }
        UserCommand::Role { name, role } => {
            let path = format!("/users/{}", segment(&name));
            let body = json!({ "role": role.as_str() });
            let answer = client.send(Method::PATCH, &path, Some(&body)).await?;
            print(out, json, &answer, |out, _| {
                writeln!(out, "{name} is now {}", role.as_str())
            })
        }
    }
}

fn list(out: &mut dyn Write, answer: &Value) -> std::io::Result<()> {
    let mut table = Table::new(&["USERNAME", "ROLE", "CREATED"]);
    let rows: Vec<Vec<String>> = answer["users"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            vec![
                cell(u.get("username")),
                cell(u.get("role")),
                time_cell(u.get("created_ms")),
            ]
        })
        .collect();
    table.print(out, &rows)
}

/// Prints only the session token on standard output, so `$(drover login …)` captures it;
/// who it is for and when it expires go to standard error.
pub(super) async fn login(args: LoginArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let password = args.password.read(Confirm::Once)?;
    // Logging in needs no token; a stale one in the environment must not get in the way.
    let remote = Remote {
        token: None,
        ..args.remote.clone()
    };
    let client = AdminClient::new(&remote)?;
    let body = json!({"username": args.username, "password": password});
    let answer = client.send(Method::POST, "/login", Some(&body)).await?;
    print(out, args.remote.json, &answer, |out, session| {
        writeln!(out, "{}", cell(session.get("token")))?;
        let expires = session["expires_ms"]
            .as_i64()
            .map_or_else(|| "-".to_owned(), |ms| format_ms(ms, false));
        eprintln!(
            "session of {} ({}) until {expires}; use it as --token or DROVER_AUTH__ADMIN_TOKEN",
            cell(session.get("username")),
            cell(session.get("role")),
        );
        Ok(())
    })
}
