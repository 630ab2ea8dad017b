//! Admin users: login gives an expiring session; viewers may only read; admins may change
//! things (and the history names them); password changes end sessions. Both backends.

use serde_json::{json, Value};

use crate::{
    admin::{admin, admin_as, TOKEN},
    databases::TestDb,
    harness::{client, read, start, Reply, Setup},
};

async fn login(s: &Setup, username: &str, password: &str) -> Reply {
    let res = client()
        .post(s.url("/admin/api/login"))
        .send_json(&json!({"username": username, "password": password}))
        .await
        .unwrap();
    read(res).await
}

async fn session(s: &Setup, username: &str, password: &str) -> String {
    let reply = login(s, username, password).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert!(body["expires_ms"].as_i64().unwrap() > 0);
    body["token"].as_str().unwrap().to_owned()
}

async fn users_and_sessions(db: TestDb) {
    let url = db.url().to_owned();
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into();
        c.database_url = url.clone();
    })
    .await;
    for (name, role) in [("vera", "viewer"), ("ada", "admin")] {
        let made = admin(
            &s,
            "POST",
            "/users",
            Some(json!({"username": name, "password": "long enough", "role": role})),
        )
        .await;
        assert_eq!(made.status, 201, "{}", made.text());
        assert!(!made.text().contains("argon2"), "{}", made.text());
    }
    // Wrong passwords and unknown users look the same.
    let wrong = login(&s, "vera", "not the one").await;
    let nobody = login(&s, "nobody", "long enough").await;
    assert_eq!((wrong.status.as_u16(), nobody.status.as_u16()), (401, 401));
    assert_eq!(wrong.json(), nobody.json());

    let viewer = session(&s, "vera", "long enough").await;
    assert_eq!(
        admin_as(&s, &viewer, "GET", "/nodes", None).await.status,
        200
    );
    assert_eq!(
        admin_as(&s, &viewer, "GET", "/users", None).await.status,
        200
    );
    let node = json!({"name": "b", "url": "http://127.0.0.1:9"});
    let denied = admin_as(&s, &viewer, "POST", "/nodes", Some(node.clone())).await;
    assert_eq!(denied.status, 403, "{}", denied.text());
    assert!(denied.json()["error"].as_str().unwrap().contains("vera"));
    let denied = admin_as(&s, &viewer, "POST", "/keys", Some(json!({"name": "k"}))).await;
    assert_eq!(denied.status, 403);

    // An admin user may change things, and the history names them.
    let ada = session(&s, "ada", "long enough").await;
    let added = admin_as(&s, &ada, "POST", "/nodes", Some(node)).await;
    assert_eq!(added.status, 201, "{}", added.text());
    let store = drover::store::Store::open(db.url()).await.unwrap();
    assert_eq!(store.history_len("node:b").await.unwrap(), 1);

    // A viewer may change their own password, not anyone else's; the change ends sessions.
    let other = admin_as(
        &s,
        &viewer,
        "PUT",
        "/users/ada/password",
        Some(json!({"password": "new password"})),
    )
    .await;
    assert_eq!(other.status, 403);
    let own = admin_as(
        &s,
        &viewer,
        "PUT",
        "/users/vera/password",
        Some(json!({"password": "new password"})),
    )
    .await;
    assert_eq!(own.status, 204, "{}", own.text());
    assert_eq!(
        admin_as(&s, &viewer, "GET", "/nodes", None).await.status,
        401
    );
    assert_eq!(login(&s, "vera", "long enough").await.status, 401);
    let viewer = session(&s, "vera", "new password").await;

    // Promoted, the same session may write; logged out, it is gone.
    let promoted = admin(&s, "PATCH", "/users/vera", Some(json!({"role": "admin"}))).await;
    assert_eq!(promoted.status, 200, "{}", promoted.text());
    let drained = admin_as(&s, &viewer, "POST", "/nodes/b/drain", None).await;
    assert_eq!(drained.status, 200, "{}", drained.text());
    assert_eq!(
        admin_as(&s, &viewer, "POST", "/logout", None).await.status,
        204
    );
    assert_eq!(
        admin_as(&s, &viewer, "GET", "/nodes", None).await.status,
        401
    );

    // Deleting a user ends their sessions.
    assert_eq!(admin(&s, "DELETE", "/users/ada", None).await.status, 204);
    assert_eq!(admin_as(&s, &ada, "GET", "/nodes", None).await.status, 401);
    let users: Value = admin(&s, "GET", "/users", None).await.json();
    assert_eq!(users["users"].as_array().unwrap().len(), 1);
    drop(s);
    db.drop_db().await;
}

#[actix_rt::test]
async fn sqlite_users_and_sessions() {
    users_and_sessions(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_users_and_sessions() {
    users_and_sessions(TestDb::postgres().await).await;
}

#[actix_rt::test]
async fn bad_user_input_names_the_field() {
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into()
    })
    .await;
    for (body, field) in [
        (
            json!({"username": "", "password": "long enough", "role": "admin"}),
            "username",
        ),
        (
            json!({"username": "a b", "password": "long enough", "role": "admin"}),
            "username",
        ),
        (
            json!({"username": "x", "password": "short", "role": "admin"}),
            "password",
        ),
        (
            json!({"username": "x", "password": "long enough", "role": "root"}),
            "role",
        ),
        (json!({"username": "x", "password": "long enough"}), "role"),
    ] {
        let reply = admin(&s, "POST", "/users", Some(body.clone())).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        let message = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains(field), "{body}: {message}");
    }
    let user = json!({"username": "x", "password": "long enough", "role": "viewer"});
    assert_eq!(
        admin(&s, "POST", "/users", Some(user.clone())).await.status,
        201
    );
    assert_eq!(admin(&s, "POST", "/users", Some(user)).await.status, 409);
    assert_eq!(admin(&s, "DELETE", "/users/nobody", None).await.status, 404);
    let role = admin(&s, "PATCH", "/users/x", Some(json!({"role": "boss"}))).await;
    assert_eq!(role.status, 400);
}

/// Password guessing is slowed: after five failures, logins for that username and from that
/// address are refused with 429 and `Retry-After` (even a right password) until the delay
/// passes; a success clears the count.
#[actix_rt::test]
async fn failed_logins_lock_out_the_username_and_the_address() {
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into()
    })
    .await;
    for name in ["ada", "vera"] {
        let made = admin(
            &s,
            "POST",
            "/users",
            Some(json!({"username": name, "password": "long enough", "role": "admin"})),
        )
        .await;
        assert_eq!(made.status, 201, "{}", made.text());
    }
    for _ in 0..4 {
        assert_eq!(login(&s, "ada", "a guess").await.status, 401);
    }
    session(&s, "ada", "long enough").await;
    for _ in 0..5 {
        assert_eq!(login(&s, "ada", "a guess").await.status, 401);
    }
    for (name, what) in [("ada", "the username"), ("vera", "the address")] {
        let locked = login(&s, name, "long enough").await;
        assert_eq!(locked.status, 429, "{what}: {}", locked.text());
        let retry = locked.headers.get("retry-after").expect("Retry-After");
        assert!(retry.to_str().unwrap().parse::<u64>().unwrap() >= 1);
        assert!(locked.json()["error"]
            .as_str()
            .unwrap()
            .contains("too many failed logins"));
    }
}
