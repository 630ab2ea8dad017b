//! The admin API's read-only views and the on-demand probe: `/stats` (counts and percentiles
//! computed in SQL, exact counts and percentiles within their documented bound on both
//! backends), `/history`, `/pool`, and `POST /nodes/{name}/probe`.

use std::time::Duration;

use drover::store::{records::RequestRecord, Store};
use serde_json::{json, Value};

use crate::{
    admin::{admin, TOKEN},
    databases::TestDb,
    harness::{client, start, Setup},
};

/// A whole minute, far from "now", so the default range (the last hour) sees nothing.
const T0: i64 = 1_700_000_000_000 / 60_000 * 60_000;
const MINUTE: i64 = 60_000;

async fn start_with(db: &TestDb, tweak: impl FnOnce(&mut drover::config::Config)) -> Setup {
    let url = db.url().to_owned();
    start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into();
        c.database_url = url;
        tweak(c);
    })
    .await
}

async fn get(s: &Setup, path: &str) -> Value {
    let reply = admin(s, "GET", path, None).await;
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.text());
    reply.json()
}

/// Asserts a 400 whose message starts with `param`.
async fn refused(s: &Setup, path: &str, param: &str) {
    let reply = admin(s, "GET", path, None).await;
    assert_eq!(reply.status, 400, "GET {path}: {}", reply.text());
    let error = reply.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.starts_with(&format!("{param}:")),
        "GET {path}: {error:?} should name {param}"
    );
}

/// A served request; tests change the fields they care about.
fn record(i: usize, ts_ms: i64, latency_ms: f64) -> RequestRecord {
    RequestRecord {
        id: format!("r{i:06}"),
        request_id: format!("q{i}"),
        ts_ms,
        replica: "test".into(),
        api: "/api/chat".into(),
        key_id: None,
        model_requested: "m".into(),
        model_resolved: Some("m:latest".into()),
        node: Some("a".into()),
        status: 200,
        error_kind: None,
        stream: false,
        latency_ms,
        ttft_ms: Some(latency_ms / 2.0),
        prompt_tokens: Some(10),
        completion_tokens: Some(20),
        retries: 0,
        client_addr: None,
        dropped: None,
    }
}

async fn insert(store: &Store, records: &[RequestRecord]) {
    // SQLite takes at most 32,766 bound values per statement: 18 columns × 500 rows is safe.
    for chunk in records.chunks(500) {
        store.insert_records(chunk).await.unwrap();
    }
}

/// The ⌈p·n/100⌉-th smallest value (nearest rank), which `/stats` answers within 1/64 + 1 µs.
fn nearest_rank(values: &[f64], p: usize) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (p * sorted.len()).div_ceil(100);
    (rank > 0).then(|| sorted[rank - 1])
}

/// Checks one summary (`totals`, a bucket or a group) against the records it covers:
/// counts and sums exactly, percentiles within the documented bound.
fn check_summary(got: &Value, records: &[&RequestRecord], what: &str) {
    let errors = records
        .iter()
        .filter(|r| r.status >= 400 || r.error_kind.is_some())
        .count();
    let sum =
        |f: fn(&RequestRecord) -> Option<i64>| -> i64 { records.iter().filter_map(|r| f(r)).sum() };
    assert_eq!(got["requests"], records.len(), "{what}: {got}");
    assert_eq!(got["errors"], errors, "{what}: {got}");
    assert_eq!(
        got["prompt_tokens"],
        sum(|r| r.prompt_tokens),
        "{what}: {got}"
    );
    assert_eq!(
        got["completion_tokens"],
        sum(|r| r.completion_tokens),
        "{what}: {got}"
    );
    let latencies: Vec<f64> = records.iter().map(|r| r.latency_ms).collect();
    let ttfts: Vec<f64> = records.iter().filter_map(|r| r.ttft_ms).collect();
    for (field, values) in [("latency_ms", &latencies), ("ttft_ms", &ttfts)] {
        for p in [50, 95, 99] {
            let got = &got[field][format!("p{p}")];
            match nearest_rank(values, p) {
                None => assert!(got.is_null(), "{what} {field} p{p}: {got}"),
                Some(want) => {
                    let got = got.as_f64().unwrap();
                    assert!(
                        (got - want).abs() <= want / 64.0 + 0.001,
                        "{what} {field} p{p}: {got} is not within the bound of {want}"
                    );
                }
            }
        }
    }
}

/// The records every stats scenario starts from, over four minutes from T0:
/// minute 0: 100 chats by key k1, 1..=100 ms; minute 1: on node b, 10 served and 5 failed
/// (502), 5 unknown models (404, no node), and one stream that broke off (200 with an error
/// kind); minute 2: nothing; minute 3: one record at its last millisecond. Plus one record
/// just before T0 and one at the range's end, both outside it.
fn known_records() -> Vec<RequestRecord> {
    let mut records = Vec::new();
    for i in 1..=100 {
        let mut r = record(records.len(), T0 + i as i64 * 500, i as f64);
        r.key_id = Some("k1".into());
        records.push(r);
    }
    let minute1 = T0 + MINUTE;
    for i in 0..10 {
        let mut r = record(records.len(), minute1 + i, 1000.0);
        r.node = Some("b".into());
        r.model_requested = "n".into();
        r.model_resolved = Some("n:latest".into());
        r.api = "/v1/chat/completions".into();
        r.ttft_ms = Some(100.0);
        r.prompt_tokens = Some(5);
        r.completion_tokens = Some(7);
        records.push(r);
    }
    for i in 0..5 {
        let mut r = record(records.len(), minute1 + 100 + i, 3000.0);
        r.node = Some("b".into());
        r.model_requested = "n".into();
        r.model_resolved = Some("n:latest".into());
        r.status = 502;
        r.error_kind = Some("upstream_failed".into());
        r.ttft_ms = None;
        r.prompt_tokens = None;
        r.completion_tokens = None;
        records.push(r);
    }
    for i in 0..5 {
        let mut r = record(records.len(), minute1 + 200 + i, 0.5);
        r.node = None;
        r.model_requested = "ghost".into();
        r.model_resolved = None;
        r.status = 404;
        r.error_kind = Some("model_not_found".into());
        r.ttft_ms = None;
        r.prompt_tokens = None;
        r.completion_tokens = None;
        records.push(r);
    }
    let mut broken = record(records.len(), minute1 + 300, 200.0);
    broken.error_kind = Some("stream_error".into());
    records.push(broken);
    let mut last = record(records.len(), T0 + 4 * MINUTE - 1, 7.0);
    last.prompt_tokens = Some(1);
    last.completion_tokens = Some(1);
    records.push(last);
    records.push(record(records.len(), T0 - 1, 5.0));
    records.push(record(records.len(), T0 + 4 * MINUTE, 5.0));
    records
}

/// A record's value for `by`, as `/stats` reports it.
fn group_of(r: &RequestRecord, by: &str) -> Value {
    match by {
        "model" => json!(r.model_resolved.as_ref().unwrap_or(&r.model_requested)),
        "node" => json!(r.node),
        "key" => json!(r.key_id),
        "api" => json!(r.api),
        _ => json!(r.status),
    }
}

async fn stats_are_exact(db: TestDb) {
    let s = start_with(&db, |_| {}).await;
    let store = Store::open(db.url()).await.unwrap();
    let records = known_records();
    insert(&store, &records).await;
    let until = T0 + 4 * MINUTE;
    let in_range: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| (T0..until).contains(&r.ts_ms))
        .collect();
    assert_eq!(in_range.len(), 122);

    let body = get(&s, &format!("/stats?since={T0}&until={until}&bucket=1m")).await;
    assert_eq!(
        (&body["since"], &body["until"], &body["bucket_ms"]),
        (&json!(T0), &json!(until), &json!(MINUTE))
    );
    check_summary(&body["totals"], &in_range, "totals");
    // Hand-counted, so the checks above are not only self-consistent: 5 failed, 5 unknown
    // models, 1 broken stream.
    assert_eq!(body["totals"]["errors"], 11);
    assert_eq!(body["totals"]["prompt_tokens"], 100 * 10 + 10 * 5 + 10 + 1);
    let buckets = body["buckets"].as_array().unwrap();
    let starts: Vec<i64> = buckets
        .iter()
        .map(|b| b["start"].as_i64().unwrap())
        .collect();
    assert_eq!(
        starts,
        vec![T0, T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE]
    );
    for bucket in buckets {
        let start = bucket["start"].as_i64().unwrap();
        let covered: Vec<&RequestRecord> = in_range
            .iter()
            .copied()
            .filter(|r| (start..start + MINUTE).contains(&r.ts_ms))
            .collect();
        check_summary(bucket, &covered, &format!("bucket {start}"));
    }
    assert_eq!(buckets[1]["requests"], 21);
    assert_eq!(buckets[2]["requests"], 0);
    assert!(buckets[2]["latency_ms"]["p50"].is_null());
    assert!(body["groups"].as_array().unwrap().is_empty());

    for by in ["model", "node", "key", "api", "status"] {
        let body = get(&s, &format!("/stats?since={T0}&until={until}&by={by}")).await;
        assert_eq!(body["by"], by);
        check_summary(&body["totals"], &in_range, "totals");
        let groups = body["groups"].as_array().unwrap();
        let mut keys: Vec<Value> = in_range.iter().map(|r| group_of(r, by)).collect();
        keys.sort_by_key(Value::to_string);
        keys.dedup();
        assert_eq!(groups.len(), keys.len(), "by {by}: {groups:?}");
        for group in groups {
            let key = &group[by];
            let members: Vec<&RequestRecord> = in_range
                .iter()
                .copied()
                .filter(|r| group_of(r, by) == *key)
                .collect();
            check_summary(group, &members, &format!("{by} {key}"));
        }
        let sizes: Vec<i64> = groups
            .iter()
            .map(|g| g["requests"].as_i64().unwrap())
            .collect();
        assert!(
            sizes.windows(2).all(|w| w[0] >= w[1]),
            "most first: {sizes:?}"
        );
    }
    let by_status = get(&s, &format!("/stats?since={T0}&until={until}&by=status")).await;
    let statuses: Vec<&Value> = by_status["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["status"])
        .collect();
    assert_eq!(statuses, [&json!(200), &json!(404), &json!(502)]);
    let by_node = get(&s, &format!("/stats?since={T0}&until={until}&by=node")).await;
    assert_eq!(by_node["groups"][0]["node"], "a");
    assert_eq!(by_node["groups"][0]["requests"], 102);
    assert!(by_node["groups"][2]["node"].is_null(), "{by_node}");

    // Without bucket: a round width that makes at most about 120 buckets (5s for 4 minutes).
    let body = get(&s, &format!("/stats?since={T0}&until={until}")).await;
    assert_eq!(body["bucket_ms"], 5_000);
    assert_eq!(body["buckets"].as_array().unwrap().len(), 48);
    // Without a range: the last hour, which holds none of these records.
    let body = get(&s, "/stats").await;
    assert_eq!(
        body["until"].as_i64().unwrap() - body["since"].as_i64().unwrap(),
        3_600_000
    );
    assert_eq!(body["totals"]["requests"], 0);
    // 1m buckets: 60, or 61 when the hour does not start on a whole minute.
    let count = body["buckets"].as_array().unwrap().len();
    assert!(count == 60 || count == 61, "{count} buckets");

    // Bad parameters name themselves; callers without the token are turned away.
    refused(&s, "/stats?since=abc", "since").await;
    refused(&s, &format!("/stats?since={until}&until={T0}"), "since").await;
    refused(&s, "/stats?since=-5", "since").await;
    refused(&s, "/stats?until=soon", "until").await;
    refused(&s, "/stats?bucket=fortnightly", "bucket").await;
    refused(&s, "/stats?bucket=0s", "bucket").await;
    refused(&s, "/stats?since=0&until=86400000&bucket=1s", "bucket").await;
    refused(&s, "/stats?by=colour", "by").await;
    refused(&s, "/stats?colour=red", "colour").await;
    refused(&s, "/stats?by=node&by=model", "by").await;
    for token in [None, Some("Bearer wrong")] {
        let mut req = client().get(s.url("/admin/api/stats"));
        if let Some(token) = token {
            req = req.insert_header(("authorization", token));
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    drop(s);
    db.drop_db().await;
}

#[actix_rt::test]
async fn sqlite_stats_are_exact() {
    stats_are_exact(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_stats_are_exact() {
    stats_are_exact(TestDb::postgres().await).await;
}

/// Latencies spread over eight orders of magnitude (10 µs to 1,000 s, fractions of a µs
/// included): every bucket's percentiles stay within the bound.
async fn percentiles_hold_over_every_magnitude(db: TestDb) {
    let s = start_with(&db, |_| {}).await;
    let store = Store::open(db.url()).await.unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let records: Vec<RequestRecord> = (0..4000)
        .map(|i| {
            let latency = 10f64.powf(rng.f64() * 8.0 - 2.0);
            let mut r = record(i, T0 + rng.i64(0..10 * MINUTE), latency);
            r.ttft_ms = (i % 3 != 0).then(|| latency * rng.f64());
            r
        })
        .collect();
    insert(&store, &records).await;
    let body = get(
        &s,
        &format!("/stats?since={T0}&until={}&bucket=2m", T0 + 10 * MINUTE),
    )
    .await;
    let all: Vec<&RequestRecord> = records.iter().collect();
    check_summary(&body["totals"], &all, "totals");
    for bucket in body["buckets"].as_array().unwrap() {
        let start = bucket["start"].as_i64().unwrap();
        let covered: Vec<&RequestRecord> = records
            .iter()
            .filter(|r| (start..start + 2 * MINUTE).contains(&r.ts_ms))
            .collect();
        check_summary(bucket, &covered, &format!("bucket {start}"));
    }
    drop(s);
    db.drop_db().await;
}

#[actix_rt::test]
async fn sqlite_percentiles_hold_over_every_magnitude() {
    percentiles_hold_over_every_magnitude(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_percentiles_hold_over_every_magnitude() {
    percentiles_hold_over_every_magnitude(TestDb::postgres().await).await;
}

fn entities(page: &Value) -> Vec<String> {
    page["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["entity"].as_str().unwrap().to_owned())
        .collect()
}

async fn history_is_filtered_and_paged(db: TestDb) {
    let s = start_with(&db, |_| {}).await;
    // Node names where LIKE would go wrong: `_` is its wildcard, and SQLite's ignores case.
    for name in ["g_1", "gx1", "G_2"] {
        let added = admin(
            &s,
            "POST",
            "/nodes",
            Some(json!({"name": name, "url": "http://127.0.0.1:9"})),
        )
        .await;
        assert_eq!(added.status, 201, "{}", added.text());
    }
    let put = admin(
        &s,
        "PUT",
        "/nodes/g_1",
        Some(json!({"url": "http://127.0.0.1:9", "weight": 3})),
    )
    .await;
    assert_eq!(put.status, 200);
    assert_eq!(
        admin(&s, "POST", "/nodes/g_1/drain", None).await.status,
        200
    );
    assert_eq!(admin(&s, "DELETE", "/nodes/gx1", None).await.status, 204);
    let set = admin(
        &s,
        "PUT",
        "/settings",
        Some(json!({"selector": {"strategy": "p2c"}})),
    )
    .await;
    assert_eq!(set.status, 200);

    // One node exactly, newest first, values as JSON.
    let page = get(&s, "/history?entity=node:g_1").await;
    let changes = page["history"].as_array().unwrap();
    assert_eq!(changes.len(), 3, "{page}");
    let revisions: Vec<i64> = changes
        .iter()
        .map(|c| c["revision"].as_i64().unwrap())
        .collect();
    assert!(revisions.windows(2).all(|w| w[0] > w[1]), "{revisions:?}");
    let (drain, put, add) = (&changes[0], &changes[1], &changes[2]);
    assert_eq!(drain["actor"], "admin-token");
    assert_eq!(
        (&drain["before"]["drained"], &drain["after"]["drained"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(
        (&put["before"]["weight"], &put["after"]["weight"]),
        (&json!(1), &json!(3))
    );
    assert!(add["before"].is_null());
    assert_eq!(add["after"]["name"], "g_1");
    assert!(add["ts_ms"].as_i64().unwrap() > T0);
    assert!(page["next_before"].is_null());

    // Prefixes: `_` and case are literal.
    assert_eq!(
        entities(&get(&s, "/history?entity=node:g_*").await),
        ["node:g_1"; 3]
    );
    let removed = get(&s, "/history?entity=node:gx1").await;
    assert!(removed["history"][0]["after"].is_null());
    assert_eq!(removed["history"][0]["before"]["name"], "gx1");
    // Every node change (the seeded node a, three adds, a put, a drain, a delete), and no
    // setting.
    let nodes = entities(&get(&s, "/history?entity=node:*").await);
    assert_eq!(nodes.len(), 7, "{nodes:?}");
    assert!(nodes.iter().all(|e| e.starts_with("node:")));
    let settings = get(&s, "/history?entity=setting:selector").await;
    assert_eq!(settings["history"][0]["after"]["strategy"], "p2c");
    let all = entities(&get(&s, "/history").await);
    assert!(all.len() > nodes.len());

    // Pages of 2 cover the node changes exactly once, newest first.
    let mut seen = Vec::new();
    let mut before = String::new();
    for _ in 0..10 {
        let page = get(&s, &format!("/history?entity=node:*&limit=2{before}")).await;
        for change in page["history"].as_array().unwrap() {
            seen.push(change["revision"].as_i64().unwrap());
        }
        match page["next_before"].as_i64() {
            Some(next) => before = format!("&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");

    refused(&s, "/history?limit=0", "limit").await;
    refused(&s, "/history?limit=many", "limit").await;
    refused(&s, "/history?before=latest", "before").await;
    refused(&s, "/history?actor=me", "actor").await;
    let res = client().get(s.url("/admin/api/history")).send().await;
    assert_eq!(res.unwrap().status(), 401);
    drop(s);
    db.drop_db().await;
}

#[actix_rt::test]
async fn sqlite_history_is_filtered_and_paged() {
    history_is_filtered_and_paged(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_history_is_filtered_and_paged() {
    history_is_filtered_and_paged(TestDb::postgres().await).await;
}

fn model_names(node: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = node["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    names.sort_unstable();
    names
}

/// A node whose models change is seen at once after `POST …/probe`, though its next health
/// check is an hour away.
async fn a_probe_refreshes_the_pool_at_once(db: TestDb) {
    let s = start_with(&db, |c| c.health.interval = Duration::from_secs(3600)).await;
    let pool = get(&s, "/pool").await;
    let node = &pool["nodes"][0];
    assert_eq!(
        (&node["name"], &node["kind"], &node["health"], &node["url"]),
        (
            &json!("a"),
            &json!("ollama"),
            &json!("up"),
            &json!(s.node("a").url())
        )
    );
    assert_eq!(model_names(node), ["m:latest"]);
    assert_eq!(
        (&node["in_flight"], &node["drained"]),
        (&json!(0), &json!(false))
    );
    assert!(node["probe_latency_ms"].is_f64() && node["last_error"].is_null());
    // Latency averages are read live: one request shows, with no report from the node actor.
    assert!(node["latency_ewma_ms"].is_null());
    assert_eq!(s.chat("m").await.status, 200);
    assert!(get(&s, "/pool").await["nodes"][0]["latency_ewma_ms"].is_f64());

    s.node("a").set_models(&["m:latest", "fresh:latest"]);
    s.node("a").set_loaded(&["fresh:latest"]);
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        model_names(&get(&s, "/pool").await["nodes"][0]),
        ["m:latest"]
    );
    assert_eq!(s.chat("fresh").await.status, 404, "not probed yet");

    let probed = admin(&s, "POST", "/nodes/a/probe", None).await;
    assert_eq!(probed.status, 200, "{}", probed.text());
    let probed = probed.json();
    assert_eq!(probed["name"], "a");
    assert_eq!(model_names(&probed), ["fresh:latest", "m:latest"]);
    assert_eq!(probed["loaded"], json!(["fresh:latest"]));
    assert_eq!(
        model_names(&get(&s, "/pool").await["nodes"][0]),
        ["fresh:latest", "m:latest"]
    );
    let reply = s.chat("fresh").await;
    assert_eq!(
        (reply.status.as_u16(), reply.node.as_deref()),
        (200, Some("a"))
    );

    // A drained node is probed too, and says so.
    assert_eq!(admin(&s, "POST", "/nodes/a/drain", None).await.status, 200);
    let probed = admin(&s, "POST", "/nodes/a/probe", None).await.json();
    assert_eq!(probed["drained"], true);

    let ghost = admin(&s, "POST", "/nodes/ghost/probe", None).await;
    assert_eq!(ghost.status, 404);
    assert!(ghost.json()["error"]
        .as_str()
        .unwrap()
        .contains("\"ghost\""));
    let res = client()
        .post(s.url("/admin/api/nodes/a/probe"))
        .send()
        .await;
    assert_eq!(res.unwrap().status(), 401);
    let res = client().get(s.url("/admin/api/pool")).send().await;
    assert_eq!(res.unwrap().status(), 401);
    drop(s);
    db.drop_db().await;
}

#[actix_rt::test]
async fn sqlite_a_probe_refreshes_the_pool_at_once() {
    a_probe_refreshes_the_pool_at_once(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_a_probe_refreshes_the_pool_at_once() {
    a_probe_refreshes_the_pool_at_once(TestDb::postgres().await).await;
}
