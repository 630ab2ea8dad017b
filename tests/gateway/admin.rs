//! The admin API: nodes added, drained, changed and removed at runtime change routing on the
//! next request, persist in the database (both backends), and need the admin token.

use drover_loadtest::mock::{MockConfig, MockUpstream};
use serde_json::{json, Value};

use crate::{
    databases::TestDb,
    harness::{client, read, start, Reply, Setup},
};

const TOKEN: &str = "test-admin-token";

async fn admin(s: &Setup, method: &str, path: &str, body: Option<Value>) -> Reply {
    let url = s.url(&format!("/admin/api{path}"));
    let req = match method {
        "GET" => client().get(url),
        "POST" => client().post(url),
        "PUT" => client().put(url),
        _ => client().delete(url),
    }
    .insert_header(("authorization", format!("Bearer {TOKEN}")));
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
