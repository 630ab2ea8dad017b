//! Model routes: an alias served as a target model on a set of nodes, with fallbacks tried
//! when every node of the route fails; changed at runtime through the admin API, seeded from
//! the file, recorded with the requested and resolved names. Both backends.

use std::time::Duration;

use drover::{config::RouteConfig, store::Store};
use drover_loadtest::mock::Failure;
use serde_json::json;

use crate::{
    admin::{admin, TOKEN},
    databases::{wait_for_count, TestDb},
    harness::start,
};

async fn routes_plan_aliases_with_fallbacks(db: TestDb) {
    let url = db.url().to_owned();
    let s = start(
        &[
            ("a", &["big:70b", "m:latest"]),
            ("b", &["small:8b"]),
            ("c", &["big:70b"]),
        ],
        |c| {
            c.auth.admin_token = TOKEN.into();
            c.database_url = url.clone();
            c.request_log.enabled = true;
            c.request_log.flush_timeout = Duration::from_millis(50);
            // Seeded from the file into the empty database.
            c.routes = vec![RouteConfig {
                alias: "fast".into(),
                target_model: "small:8b".into(),
                nodes: vec![],
                fallbacks: vec![],
            }];
        },
    )
    .await;
    let listed = admin(&s, "GET", "/routes", None).await.json();
    assert_eq!(listed["routes"][0]["alias"], "fast", "{listed}");

    let chat = json!({"alias": "chat", "target_model": "big:70b", "nodes": ["c"],
        "fallbacks": ["fast"]});
    let made = admin(&s, "POST", "/routes", Some(chat.clone())).await;
    assert_eq!(made.status, 201, "{}", made.text());
    assert_eq!(made.json()["fallbacks"], json!(["fast"]));

    // Only c serves the route, though a has the model too; c is asked for the target name.
    for _ in 0..4 {
        let reply = s.chat("chat").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.node.as_deref(), Some("c"));
    }
    assert_eq!(
        s.node("c").last_body("/api/chat").unwrap()["model"],
        "big:70b"
    );
    assert_eq!(s.node("a").total_inference_requests(), 0);

    // c fails before answering: the fallback route's node answers.
    s.node("c").set_failure(Failure::Status(500));
    let reply = s.chat("chat").await;
    assert_eq!(
        (reply.status.as_u16(), reply.node.as_deref()),
        (200, Some("b")),
        "{}",
        reply.text()
    );
    assert_eq!(
        s.node("b").last_body("/api/chat").unwrap()["model"],
        "small:8b"
    );
    s.node("c").set_failure(Failure::None);

    // Changed at runtime: any node with the model.
    let any = json!({"target_model": "big:70b"});
    assert_eq!(
        admin(&s, "PUT", "/routes/chat", Some(any)).await.status,
        200
    );
    let served: Vec<_> = futures_util::future::join_all((0..8).map(|_| s.chat("chat:latest")))
        .await
        .into_iter()
        .map(|r| r.node.unwrap())
        .collect();
    assert!(served.iter().any(|n| n == "a"), "{served:?}");

    // Removed: the alias is no model at all.
    assert_eq!(admin(&s, "DELETE", "/routes/chat", None).await.status, 204);
    assert_eq!(s.chat("chat").await.status, 404);

    let store = Store::open(db.url()).await.unwrap();
    assert_eq!(wait_for_count(&store, 14).await, 14);
    let records = store.recent_records(100).await.unwrap();
    let fallback = records
        .iter()
        .find(|r| r.node.as_deref() == Some("b"))
        .unwrap();
    assert_eq!(
        (
            fallback.model_requested.as_str(),
            fallback.model_resolved.as_deref(),
            fallback.retries
        ),
        ("chat", Some("small:8b"), 1)
    );
    assert_eq!(store.history_len("route:chat").await.unwrap(), 3);
    drop(s);
    db.drop_db().await;
}

#[actix_rt::test]
async fn sqlite_routes_plan_aliases_with_fallbacks() {
    routes_plan_aliases_with_fallbacks(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_routes_plan_aliases_with_fallbacks() {
    routes_plan_aliases_with_fallbacks(TestDb::postgres().await).await;
}

#[actix_rt::test]
async fn bad_route_input_names_the_field() {
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into()
    })
    .await;
    for (body, field) in [
        (json!({"alias": "has space", "target_model": "m"}), "alias"),
        (json!({"alias": "x", "target_model": ""}), "target_model"),
        (
            json!({"alias": "x", "target_model": "m", "nodes": ["ghost"]}),
            "nodes",
        ),
        (
            json!({"alias": "x", "target_model": "m", "fallbacks": ["none"]}),
            "fallbacks",
        ),
        (
            json!({"alias": "x", "target_model": "m", "fallbacks": ["x"]}),
            "fallbacks",
        ),
        (json!({"alias": "x", "target": "m"}), "target"),
    ] {
        let reply = admin(&s, "POST", "/routes", Some(body.clone())).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        let message = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains(field), "{body}: {message}");
    }
    let ok = json!({"alias": "x", "target_model": "m"});
    assert_eq!(
        admin(&s, "POST", "/routes", Some(ok.clone())).await.status,
        201
    );
    assert_eq!(admin(&s, "POST", "/routes", Some(ok)).await.status, 409);
    assert_eq!(admin(&s, "GET", "/routes/nope", None).await.status, 404);
    assert_eq!(admin(&s, "DELETE", "/routes/nope", None).await.status, 404);
    let put = admin(
        &s,
        "PUT",
        "/routes/nope",
        Some(json!({"target_model": "m"})),
    )
    .await;
    assert_eq!(put.status, 404);
}
