//! Every request leaves exactly one record, on both backends, without the request path ever
//! waiting for the database.

use std::time::Duration;

use drover::store::{records::RequestRecord, Store};
use futures_util::future::join_all;
use serde_json::json;

use crate::{
    databases::{wait_for_count, TestDb},
    harness::{client, start},
};

async fn n_requests_give_n_records(db: TestDb) {
    let url = db.url().to_owned();
    let s = start(&[("a", &["m:latest"]), ("b", &["m:latest"])], |c| {
        c.request_log.enabled = true;
        c.database_url = url.clone();
        c.replica = "test-replica".into();
    })
    .await;
    // 150 whole answers, 30 streams, 20 unknown models, all at once.
    let ok = (0..150).map(|_| s.chat("m"));
    let replies = join_all(ok).await;
    assert!(replies.iter().all(|r| r.status == 200));
    let streams = (0..30).map(|_| s.post("/api/generate", json!({"model": "m", "prompt": "x"})));
    assert!(join_all(streams).await.iter().all(|r| r.status == 200));
    let missing = (0..20).map(|_| s.chat("ghost"));
    assert!(join_all(missing).await.iter().all(|r| r.status == 404));
    let store = Store::open(&url).await.unwrap();
    assert_eq!(wait_for_count(&store, 200).await, 200);
    // Nothing more arrives later: exactly one record per request.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.count_records().await.unwrap(), 200);
    let records: Vec<RequestRecord> = store.recent_records(500).await.unwrap();
    let served: Vec<_> = records.iter().filter(|r| r.status == 200).collect();
    assert_eq!(served.len(), 180);
    assert!(served
        .iter()
        .all(|r| r.model_resolved.as_deref() == Some("m:latest")
            && r.model_requested == "m"
            && matches!(r.node.as_deref(), Some("a" | "b"))
            && r.replica == "test-replica"
            && r.client_addr.as_deref() == Some("127.0.0.1")
            && r.ttft_ms.is_some()));
    assert_eq!(served.iter().filter(|r| r.stream).count(), 30);
    let missing: Vec<_> = records.iter().filter(|r| r.status == 404).collect();
    assert_eq!(missing.len(), 20);
    assert!(missing.iter().all(|r| r.node.is_none()
        && r.model_resolved.is_none()
        && r.error_kind.as_deref() == Some("model_not_found")));
    drop(s);
    db.drop_db().await;
}

#[actix_rt::test]
async fn sqlite_n_requests_give_n_records() {
    n_requests_give_n_records(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_n_requests_give_n_records() {
    n_requests_give_n_records(TestDb::postgres().await).await;
}

async fn migrations_from_empty(db: TestDb) {
    let applied = drover::store::migrate_only(db.url()).await.unwrap();
    let versions = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert_eq!(applied.len(), versions, "{applied:?}");
    // A second run has nothing to do.
    assert!(drover::store::migrate_only(db.url())
        .await
        .unwrap()
        .is_empty());
    let store = Store::open(db.url()).await.unwrap();
    assert_eq!(store.count_records().await.unwrap(), 0);
    db.drop_db().await;
}

#[actix_rt::test]
async fn sqlite_migrations_from_empty() {
    migrations_from_empty(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_migrations_from_empty() {
    migrations_from_empty(TestDb::postgres().await).await;
}

#[actix_rt::test]
async fn refused_requests_are_recorded_too() {
    let db = TestDb::sqlite();
    let url = db.url().to_owned();
    let s = start(&[("a", &["m:latest"])], |c| {
        c.request_log.enabled = true;
        c.database_url = url.clone();
    })
    .await;
    let res = client()
        .post(s.url("/api/chat"))
        .send_body("{")
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let store = Store::open(&url).await.unwrap();
    assert_eq!(wait_for_count(&store, 1).await, 1);
    let record = &store.recent_records(1).await.unwrap()[0];
    assert_eq!(
        (record.status, record.error_kind.as_deref()),
        (400, Some("bad_request"))
    );
    assert_eq!(record.api, "/api/chat");
}

/// PostgreSQL stopped for 10 s under load: no inference request fails, and every record is
/// in the database once it is back.
#[actix_rt::test]
async fn postgres_down_for_ten_seconds_loses_no_request_and_no_record() {
    use drover_loadtest::load::{self, LoadConfig, Mode};

    use crate::databases::PrivatePostgres;

    let pg = PrivatePostgres::start();
    let url = pg.url();
    let s = start(&[("a", &["m:latest"])], |c| {
        c.request_log.enabled = true;
        c.database_url = url.clone();
    })
    .await;
    let mut config = LoadConfig::new(vec![s.drover.url()]);
    config.models = vec!["m:latest".into()];
    config.mode = Mode::Open {
        rate: 100.0,
        connections: 64,
    };
    config.duration = Duration::from_secs(16);
    config.threads = 1;
    let load = actix_rt::task::spawn_blocking(move || load::run(&config));
    actix_rt::time::sleep(Duration::from_secs(3)).await;
    pg.stop();
    actix_rt::time::sleep(Duration::from_secs(10)).await;
    pg.restart();
    let report = load.await.unwrap().unwrap();
    let target = &report.targets[0];
    assert!(target.sent >= 1400, "only {} sent", target.sent);
    assert_eq!(target.ok, target.sent, "errors: {:?}", target.errors);
    let store = Store::open(&url).await.unwrap();
    let count = wait_for_count(&store, target.sent as i64).await;
    assert_eq!(
        count, target.sent as i64,
        "records missing after the outage"
    );
}
