//! `drover logs`: request records of a running replica (`GET /admin/api/logs`), printed oldest
//! first like `tail`, and followed with `--follow`.
//!
//! Following cannot simply ask for records newer than the last one printed: a record carries
//! its request's *start* time and is written when the request ends, in batches, so a long
//! stream shows up after shorter requests that started later. Each poll therefore re-reads a
//! trailing window (`--follow-window`) and prints the records it has not printed yet.

use std::{
    collections::HashMap,
    io::Write,
    time::{Duration, Instant},
};

use anyhow::anyhow;
use serde::Serialize;
use serde_json::{json, Value};

use super::{
    admin::{AdminClient, Remote},
    table::{cell, Table},
    time::{format_ms, now_ms, parse_when, Counted},
};

/// The most records the API returns in one page.
const PAGE: u64 = 1000;
/// The most records one `--follow` poll reads; beyond, it warns that it may miss some.
const FOLLOW_CAP: u64 = 20 * PAGE;

#[derive(Debug, clap::Args)]
pub(super) struct LogsArgs {
    #[command(flatten)]
    remote: Remote,
    /// Only requests for this model (requested or resolved name).
    #[arg(long)]
    model: Option<String>,
    /// Only requests served by this node.
    #[arg(long)]
    node: Option<String>,
    /// Only requests made with this API key id.
    #[arg(long)]
    key: Option<String>,
    /// Only requests that ended with this HTTP status.
    #[arg(long)]
    status: Option<u16>,
    /// Only requests from then on: a duration ago (10m, 2h), an RFC 3339 time or epoch ms.
    #[arg(long, value_name = "DURATION_AGO|RFC3339")]
    since: Option<String>,
    /// Only requests before then (same forms as --since).
    #[arg(long, value_name = "DURATION_AGO|RFC3339", conflicts_with = "follow")]
    until: Option<String>,
    /// How many of the newest records to print.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    limit: u64,
    /// Keep polling every second and print new records as they are written, until Ctrl-C.
    #[arg(long, short)]
    follow: bool,
    /// With --follow: how far before the newest record each poll looks again, for records of
    /// long requests written late. A request longer than this may not be shown.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration, requires = "follow")]
    follow_window: Duration,
}

/// The query string of `GET /admin/api/logs`; absent fields do not filter.
#[derive(Debug, Clone, Default, Serialize)]
struct Query {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

impl LogsArgs {
    fn query(&self) -> anyhow::Result<Query> {
        let now = now_ms();
        let when = |flag: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| parse_when(t, Counted::Ago, now).map_err(|e| anyhow!("--{flag}: {e}")))
                .transpose()
        };
        Ok(Query {
            model: self.model.clone(),
            node: self.node.clone(),
            key: self.key.clone(),
            status: self.status,
            since: when("since", &self.since)?,
            until: when("until", &self.until)?,
            limit: None,
            cursor: None,
        })
    }
}

/// Records newest first, read page by page until `want` or the end; and the cursor of what
/// was left, if anything was.
async fn fetch(
    client: &AdminClient,
    query: &Query,
    want: u64,
) -> anyhow::Result<(Vec<Value>, Option<String>)> {
    let mut query = query.clone();
    let mut records = Vec::new();
    loop {
        let got = records.len() as u64;
        query.limit = Some((want - got).min(PAGE));
        let page = client.get_query("/logs", &query).await?.json()?;
        let batch = page["records"].as_array().cloned().unwrap_or_default();
        let next = page["next_cursor"].as_str().map(str::to_owned);
        let empty = batch.is_empty();
        records.extend(batch);
        match next {
            Some(cursor) if (records.len() as u64) < want && !empty => query.cursor = Some(cursor),
            next => return Ok((records, next)),
        }
    }
}

pub(super) async fn run(args: LogsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.remote)?;
    let query = args.query()?;
    let json = args.remote.json;
    let (records, next_cursor) = fetch(&client, &query, args.limit).await?;
    let mut printer = Printer::new(json);
    if !args.follow {
        if json {
            let page = json!({ "records": records, "next_cursor": next_cursor });
            writeln!(out, "{page}")?;
        } else {
            let oldest_first: Vec<Value> = records.into_iter().rev().collect();
            printer.print(out, &oldest_first)?;
        }
        return Ok(());
    }
    let oldest_first: Vec<Value> = records.iter().rev().cloned().collect();
    printer.print(out, &oldest_first)?;
    let mut follow = Follow::new(&args, query, &records);
    loop {
        let started = Instant::now();
        let fresh = follow.poll(&client).await?;
        printer.print(out, &fresh)?;
        out.flush()?;
        actix_rt::time::sleep(Duration::from_secs(1).saturating_sub(started.elapsed())).await;
    }
}

/// Which records `--follow` has printed, within the window it still re-reads.
struct Follow {
    query: Query,
    window_ms: i64,
    /// Printed records by id, with their time; pruned as the window moves on.
    seen: HashMap<String, i64>,
    newest_ms: Option<i64>,
    /// Until the first poll: the newest record printed, by (time, id). That poll marks the
    /// older records of the window as seen without printing them (they were left out by
    /// `--limit`, not new).
    first_floor: Option<(i64, String)>,
    warned: bool,
}

fn key(record: &Value) -> (i64, String) {
    (
        record["ts_ms"].as_i64().unwrap_or(0),
        record["id"].as_str().unwrap_or_default().to_owned(),
    )
}

impl Follow {
    fn new(args: &LogsArgs, query: Query, printed: &[Value]) -> Follow {
        let window_ms = i64::try_from(args.follow_window.as_millis()).unwrap_or(i64::MAX);
        let seen: HashMap<String, i64> = printed
            .iter()
            .map(|r| {
                let (ts, id) = key(r);
                (id, ts)
            })
            .collect();
        let first_floor = printed.iter().map(key).max();
        Follow {
            query,
            window_ms,
            seen,
            newest_ms: first_floor.as_ref().map(|(ts, _)| *ts),
            first_floor,
            warned: false,
        }
    }

    /// One poll: the records not printed yet, oldest first.
    async fn poll(&mut self, client: &AdminClient) -> anyhow::Result<Vec<Value>> {
        let mut query = self.query.clone();
        if let Some(newest) = self.newest_ms {
            let horizon = newest.saturating_sub(self.window_ms);
            query.since = Some(query.since.map_or(horizon, |s| s.max(horizon)));
        }
        let (records, more) = fetch(client, &query, FOLLOW_CAP).await?;
        if more.is_some() && !self.warned {
            self.warned = true;
            eprintln!(
                "drover: more than {FOLLOW_CAP} records within --follow-window: some may not be shown; narrow the filters or shorten the window"
            );
        }
        Ok(self.take_new(records))
    }

    fn take_new(&mut self, records: Vec<Value>) -> Vec<Value> {
        let floor = self.first_floor.take();
        let mut fresh: Vec<Value> = Vec::new();
        for record in records {
            let (ts, id) = key(&record);
            if self.seen.insert(id.clone(), ts).is_some() {
                continue;
            }
            if floor.as_ref().is_some_and(|floor| (ts, id) <= *floor) {
                continue;
            }
            fresh.push(record);
        }
        fresh.sort_by_key(key);
        if let Some(newest) = fresh.last().map(|r| key(r).0) {
            self.newest_ms = Some(self.newest_ms.map_or(newest, |n| n.max(newest)));
        }
        if let Some(newest) = self.newest_ms {
            let horizon = newest.saturating_sub(self.window_ms);
            self.seen.retain(|_, ts| *ts >= horizon);
        }
        fresh
    }
}

/// Records as table rows, or as one JSON object a line with `--json`.
struct Printer {
    table: Option<Table>,
}

impl Printer {
    fn new(json: bool) -> Printer {
        let table = (!json).then(|| {
            Table::new(&[
                "TIME", "STATUS", "API", "MODEL", "NODE", "LATENCY", "TTFB", "RETRIES", "KEY",
                "ERROR",
            ])
        });
        Printer { table }
    }

    fn print(&mut self, out: &mut dyn Write, records: &[Value]) -> std::io::Result<()> {
        let Some(table) = &mut self.table else {
            for record in records {
                writeln!(out, "{record}")?;
            }
            return Ok(());
        };
        let rows: Vec<Vec<String>> = records.iter().map(row).collect();
        table.print(out, &rows)
    }
}

fn row(r: &Value) -> Vec<String> {
    let model = match r.get("model_resolved") {
        Some(Value::String(m)) => m.clone(),
        _ => cell(r.get("model_requested")),
    };
    vec![
        r["ts_ms"]
            .as_i64()
            .map_or_else(|| "-".to_owned(), |ms| format_ms(ms, true)),
        cell(r.get("status")),
        cell(r.get("api")),
        model,
        cell(r.get("node")),
        millis(r.get("latency_ms")),
        millis(r.get("ttft_ms")),
        cell(r.get("retries")),
        cell(r.get("key_id")),
        cell(r.get("error_kind")),
    ]
}

fn millis(value: Option<&Value>) -> String {
    match value.and_then(Value::as_f64) {
        Some(ms) if ms < 10.0 => format!("{ms:.1}ms"),
        Some(ms) => format!("{ms:.0}ms"),
        None => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn record(ts: i64, id: &str) -> Value {
        json!({"ts_ms": ts, "id": id})
    }

    fn follow(printed: &[Value]) -> Follow {
        #[derive(Parser)]
        struct Cmd {
            #[command(flatten)]
            logs: LogsArgs,
        }
        let args = Cmd::parse_from(["logs", "--follow", "--follow-window", "10s"]).logs;
        Follow::new(&args, Query::default(), printed)
    }

    fn ids(records: &[Value]) -> Vec<&str> {
        records.iter().map(|r| r["id"].as_str().unwrap()).collect()
    }

    #[test]
    fn the_first_poll_skips_what_limit_left_out() {
        // Printed the newest two of the window; the poll sees them, an older one, and two new.
        let mut f = follow(&[record(2000, "b"), record(3000, "c")]);
        let poll = vec![
            record(5000, "e"),
            record(4000, "d"),
            record(3000, "c"),
            record(2000, "b"),
            record(1000, "a"),
        ];
        assert_eq!(ids(&f.take_new(poll)), ["d", "e"]);
    }

    #[test]
    fn late_records_of_long_requests_still_print_once() {
        let mut f = follow(&[record(10_000, "a")]);
        assert!(f.take_new(vec![record(10_000, "a")]).is_empty());
        // A record that started earlier but was written later, and one newer.
        let poll = vec![
            record(11_000, "c"),
            record(10_000, "a"),
            record(9_000, "late"),
        ];
        assert_eq!(ids(&f.take_new(poll.clone())), ["late", "c"]);
        assert!(f.take_new(poll).is_empty());
    }

    #[test]
    fn seen_records_are_forgotten_past_the_window() {
        let mut f = follow(&[record(0, "old")]);
        f.take_new(vec![record(60_000, "new")]);
        assert!(!f.seen.contains_key("old"));
        assert!(f.seen.contains_key("new"));
    }

    #[test]
    fn records_render_as_rows() {
        let r = json!({"ts_ms": 0, "status": 404, "api": "ollama", "model_requested": "ghost",
            "model_resolved": null, "node": null, "latency_ms": 0.31, "ttft_ms": 1234.4,
            "retries": 0, "key_id": null, "error_kind": "model_not_found"});
        assert_eq!(
            row(&r),
            [
                "1970-01-01T00:00:00.000Z",
                "404",
                "ollama",
                "ghost",
                "-",
                "0.3ms",
                "1234ms",
                "0",
                "-",
                "model_not_found"
            ]
        );
    }
}
