//! The admin API: nodes added, drained, changed and removed at runtime change routing on the
//! next request, persist in the database (both backends), and need the admin token.

use drover_loadtest::mock::{MockConfig, MockUpstream};
use serde_json::{json, Value};

use crate::{
    databases::TestDb,
    harness::{client, read, start, Reply, Setup},
};

pub const TOKEN: &str = "test-admin-token";

/// An admin API call with the admin token.
pub async fn admin(s: &Setup, method: &str, path: &str, body: Option<Value>) -> Reply {
    admin_as(s, TOKEN, method, path, body).await
}

/// An admin API call with any bearer token (a session's, or a wrong one).
pub async fn admin_as(
    s: &Setup,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let url = s.url(&format!("/admin/api{path}"));
    let req = match method {
        "GET" => client().get(url),
        "POST" => client().post(url),
        "PUT" => client().put(url),
        "PATCH" => client().patch(url),
        "DELETE" => client().delete(url),
        other => panic!("no such method in these tests: {other}"),
    }
    .insert_header(("authorization", format!("Bearer {token}")));
    let res = match body {
        Some(body) => req.send_json(&body).await,
        None => req.send().await,
    };
    read(res.unwrap()).await
}

async fn nodes_change_routing_at_runtime(db: TestDb) {
    let url = db.url().to_owned();
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into();
        c.database_url = url.clone();
    })
    .await;
    // A node with a model nobody else has: routable on the next request after the add.
    let extra = MockUpstream::start(MockConfig::named("extra", &["only-here:latest"])).unwrap();
    assert_eq!(s.chat("only-here").await.status, 404);
    let added = admin(
        &s,
        "POST",
        "/nodes",
        Some(json!({"name": "extra", "url": extra.url()})),
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.text());
    s.wait_health("extra", "up").await;
    let reply = s.chat("only-here").await;
    assert_eq!(
        (reply.status.as_u16(), reply.node.as_deref()),
        (200, Some("extra"))
    );

    // Duplicates, bad fields and unknown nodes are refused with the field named.
    let dup = admin(
        &s,
        "POST",
        "/nodes",
        Some(json!({"name": "extra", "url": extra.url()})),
    )
    .await;
    assert_eq!(dup.status, 409);
    let bad = admin(
        &s,
        "POST",
        "/nodes",
        Some(json!({"name": "x", "url": "ftp://nope"})),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"].as_str().unwrap().starts_with("url"),
        "{}",
        bad.text()
    );
    let typo = admin(
        &s,
        "POST",
        "/nodes",
        Some(json!({"name": "x", "url": "http://x", "wieght": 2})),
    )
    .await;
    assert_eq!(typo.status, 400);
    assert!(typo.text().contains("wieght"));
    assert_eq!(admin(&s, "GET", "/nodes/ghost", None).await.status, 404);

    // Drained: no new requests; undrained: back.
    assert_eq!(
        admin(&s, "POST", "/nodes/extra/drain", None).await.status,
        200
    );
    assert_eq!(s.chat("only-here").await.status, 503);
    assert_eq!(
        admin(&s, "POST", "/nodes/extra/undrain", None).await.status,
        200
    );
    assert_eq!(s.chat("only-here").await.status, 200);

    // Changed, then removed.
    let put = admin(
        &s,
        "PUT",
        "/nodes/extra",
        Some(json!({"url": extra.url(), "weight": 3})),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.json()["weight"], 3);
    let list = admin(&s, "GET", "/nodes", None).await.json();
    assert_eq!(list["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(admin(&s, "DELETE", "/nodes/extra", None).await.status, 204);
    assert_eq!(s.chat("only-here").await.status, 404);
    assert_eq!(admin(&s, "DELETE", "/nodes/extra", None).await.status, 404);

    // Every change is in the history: add, drain, undrain, put, delete.
    let store = drover::store::Store::open(&url).await.unwrap();
    assert_eq!(store.history_len("node:extra").await.unwrap(), 5);
    drop(s);
    db.drop_db().await;
}

#[actix_rt::test]
async fn sqlite_nodes_change_routing_at_runtime() {
    nodes_change_routing_at_runtime(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_nodes_change_routing_at_runtime() {
    nodes_change_routing_at_runtime(TestDb::postgres().await).await;
}

#[actix_rt::test]
async fn the_admin_api_needs_its_token() {
    let s = start(&[("a", &["m:latest"])], |_| {}).await;
    let res = client()
        .get(s.url("/admin/api/nodes"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        403,
        "no token configured: the admin API is off"
    );
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into()
    })
    .await;
    let res = client()
        .get(s.url("/admin/api/nodes"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client()
        .get(s.url("/admin/api/nodes"))
        .insert_header(("authorization", "Bearer wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// The file seeds an empty database; after that the database is the truth.
#[actix_rt::test]
async fn the_database_wins_over_the_file_once_seeded() {
    let db = TestDb::sqlite();
    let a = MockUpstream::start(MockConfig::named("a", &["m:latest"])).unwrap();
    let b = MockUpstream::start(MockConfig::named("b", &["m:latest"])).unwrap();
    let serve = |node: &MockUpstream| {
        let mut config = crate::harness::test_config(&[node]);
        config.database_url = db.url().to_owned();
        drover::server::spawn(config).unwrap()
    };
    drop(serve(&a));
    // Restarted with another node in its config: the database's node is the one served.
    let second = serve(&b);
    let mut served = None;
    for _ in 0..100 {
        let mut res = client()
            .get(format!("{}/readyz", second.url()))
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        if body["nodes_up"] == 1 {
            served = Some(body["nodes"].clone());
            break;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(served, Some(json!({"a": "up"})));
}

async fn logs_are_queryable(db: TestDb) {
    let url = db.url().to_owned();
    let s = start(&[("a", &["m:latest"]), ("b", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into();
        c.database_url = url.clone();
        c.request_log.enabled = true;
        c.selector.strategy = drover::config::StrategyName::RoundRobin;
    })
    .await;
    for _ in 0..12 {
        assert_eq!(s.chat("m").await.status, 200);
    }
    for _ in 0..5 {
        assert_eq!(s.chat("ghost").await.status, 404);
    }
    let store = drover::store::Store::open(&url).await.unwrap();
    crate::databases::wait_for_count(&store, 17).await;
    let page = |query: String| {
        let s = &s;
        async move { admin(s, "GET", &format!("/logs?{query}"), None).await }
    };
    let all = page("".into()).await.json();
    assert_eq!(all["records"].as_array().unwrap().len(), 17);
    assert_eq!(
        page("status=404".into()).await.json()["records"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        page("node=a".into()).await.json()["records"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        page("model=m:latest".into()).await.json()["records"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    let newest = all["records"][0]["ts_ms"].as_i64().unwrap();
    assert_eq!(
        page(format!("since={}", newest + 1)).await.json()["records"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Pages of 5 cover every record exactly once.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let body = page(format!("limit=5{cursor}")).await.json();
        for r in body["records"].as_array().unwrap() {
            assert!(seen.insert(r["id"].as_str().unwrap().to_owned()));
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 17);
    // Bad parameters name themselves.
    let bad = page("limit=0".into()).await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().starts_with("limit"));
    assert_eq!(page("status=abc".into()).await.status, 400);
    assert_eq!(page("colour=red".into()).await.status, 400);
    drop(s);
    db.drop_db().await;
}

#[actix_rt::test]
async fn sqlite_logs_are_queryable() {
    logs_are_queryable(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_logs_are_queryable() {
    logs_are_queryable(TestDb::postgres().await).await;
}

/// The strategy changes at runtime, on the next request, and the change outlives a restart.
#[actix_rt::test]
async fn the_strategy_changes_at_runtime_and_persists() {
    let db = TestDb::sqlite();
    let url = db.url().to_owned();
    let trio: &[(&str, &[&str])] = &[
        ("a", &["m:latest"]),
        ("b", &["m:latest"]),
        ("c", &["m:latest"]),
    ];
    let s = start(trio, |c| {
        c.auth.admin_token = TOKEN.into();
        c.database_url = url.clone();
        c.selector.strategy = drover::config::StrategyName::RoundRobin;
    })
    .await;
    let mut replies = Vec::new();
    for _ in 0..9 {
        replies.push(s.chat("m").await);
    }
    assert_eq!(
        crate::harness::served_by(&replies, &["a", "b", "c"]),
        vec![3, 3, 3]
    );
    // Weighted, with a weight of 4 on a (set through the node API): exactly 4:1:1.
    let a_url = s.node("a").url();
    let put = admin(
        &s,
        "PUT",
        "/nodes/a",
        Some(json!({"url": a_url, "weight": 4})),
    )
    .await;
    assert_eq!(put.status, 200);
    let set = admin(
        &s,
        "PUT",
        "/settings",
        Some(json!({"selector": {"strategy": "weighted"}})),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text());
    s.wait_health("a", "up").await;
    let mut replies = Vec::new();
    for _ in 0..12 {
        replies.push(s.chat("m").await);
    }
    assert_eq!(
        crate::harness::served_by(&replies, &["a", "b", "c"]),
        vec![8, 2, 2]
    );
    // Bad settings name the field.
    let bad = admin(
        &s,
        "PUT",
        "/settings",
        Some(json!({"selector": {"strategy": "fastest"}})),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("fastest"));
    let bad = admin(
        &s,
        "PUT",
        "/settings",
        Some(json!({"selector": {"queue_timeout": "0s"}})),
    )
    .await;
    assert!(bad.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("selector.queue_timeout"));
    let got = admin(&s, "GET", "/settings", None).await.json();
    assert_eq!(got["selector"]["strategy"], "weighted");
    // A restart (same nodes) with round_robin in the file keeps the database's weighted strategy.
    let Setup { nodes, drover, .. } = s;
    drop(drover);
    let again = crate::harness::start_over(nodes, |c| {
        c.auth.admin_token = TOKEN.into();
        c.database_url = url.clone();
        c.selector.strategy = drover::config::StrategyName::RoundRobin;
    })
    .await;
    assert_eq!(
        admin(&again, "GET", "/settings", None).await.json()["selector"]["strategy"],
        "weighted"
    );
}

/// Health, timeouts, failover and limits change at runtime too, checked like a config file.
#[actix_rt::test]
async fn probing_timeouts_and_limits_change_at_runtime() {
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into()
    })
    .await;
    let slow = json!({"health": {"interval": "1h"}});
    assert_eq!(admin(&s, "PUT", "/settings", Some(slow)).await.status, 200);
    // Let a probe already under way finish before the node changes.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // With an hour between probes, a new model on the node stays unknown...
    s.node("a").set_models(&["m:latest", "new:latest"]);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(s.chat("new").await.status, 404);
    // ...until the interval is shortened: the node actor rearms its timer at once.
    let put = admin(
        &s,
        "PUT",
        "/settings",
        Some(json!({"health": {"interval": "50ms"}, "limits": {"max_body_bytes": 200}})),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.json()["health"]["interval"], "50ms");
    assert_eq!(put.json()["selector"]["strategy"], "least_inflight");
    s.wait_for_get("/api/tags", |tags| tags.to_string().contains("new:latest"))
        .await;
    // The body limit applies from the next request.
    let big = s
        .post(
            "/api/chat",
            json!({"model": "new", "stream": false,
                "messages": [{"role": "user", "content": "x".repeat(300)}]}),
        )
        .await;
    assert_eq!(big.status, 413, "{}", big.text());
    assert_eq!(s.chat("new").await.status, 200);

    // Checked like the file; nothing is stored when a section is wrong.
    for (body, key) in [
        (json!({"failover": {"attempts": 0}}), "failover.attempts"),
        (json!({"timeouts": {"idle": "0s"}}), "timeouts.idle"),
        (json!({"health": {"intervall": "1s"}}), "intervall"),
        (json!({"colour": {}}), "colour"),
        (json!({}), "at least one section"),
    ] {
        let reply = admin(&s, "PUT", "/settings", Some(body.clone())).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        let message = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains(key), "{body}: {message}");
    }
    let now = admin(&s, "GET", "/settings", None).await.json();
    assert_eq!(now["failover"]["attempts"], 3, "{now}");
}

/// A body over the admin API's limit is refused in the API's JSON error shape, as every
/// other admin error is (actix's own answer is text).
#[actix_rt::test]
async fn an_oversized_admin_body_gets_a_json_413() {
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into()
    })
    .await;
    let models = vec!["x".repeat(1000); 300];
    let body = json!({"name": "big", "url": "http://127.0.0.1:1", "models": models});
    let reply = admin(&s, "POST", "/nodes", Some(body)).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    let content_type = reply.headers.get("content-type").unwrap().to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert!(
        reply.json()["error"].as_str().unwrap().contains("262144"),
        "{}",
        reply.text()
    );
}
