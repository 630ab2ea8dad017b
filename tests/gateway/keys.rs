//! API keys in `keys` mode: each way a key can be refused gives the right status and error
//! shape on the Ollama and OpenAI surfaces; good keys work with either header; limits hold;
//! records name the key and its tokens. Both backends.

use std::time::Duration;

use bytes::Bytes;
use drover::{config::AuthMode, store::Store};
use serde_json::{json, Value};

use crate::{
    admin::{admin, TOKEN},
    databases::{wait_for_count, TestDb},
    harness::{client, read, start, Reply, Setup},
};

const OLLAMA_CHAT: &str = "/api/chat";
const OPENAI_CHAT: &str = "/v1/chat/completions";

fn chat_body(path: &str, model: &str) -> Value {
    let messages = json!([{"role": "user", "content": "hi"}]);
    match path {
        OLLAMA_CHAT => json!({"model": model, "stream": false, "messages": messages}),
        _ => json!({"model": model, "messages": messages}),
    }
}

/// A chat on `path` with `headers`.
async fn chat_with(s: &Setup, path: &str, model: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = client()
        .post(s.url(path))
        .insert_header(("content-type", "application/json"));
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    let body = Bytes::from(chat_body(path, model).to_string());
    read(req.send_body(body).await.unwrap()).await
}

async fn chat_key(s: &Setup, path: &str, model: &str, secret: &str) -> Reply {
    chat_with(
        s,
        path,
        model,
        &[("authorization", &format!("Bearer {secret}"))],
    )
    .await
}

/// Checks status and the surface's error shape; returns the message.
fn refused(reply: &Reply, path: &str, status: u16, openai_code: &str) -> String {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
    let body = reply.json();
    if path == OLLAMA_CHAT {
        body["error"].as_str().expect("Ollama shape").to_owned()
    } else {
        assert_eq!(body["error"]["code"], openai_code, "{body}");
        assert!(body["error"]["type"].is_string(), "{body}");
        body["error"]["message"]
            .as_str()
            .expect("OpenAI shape")
            .to_owned()
    }
}

async fn create_key(s: &Setup, body: Value) -> (String, String) {
    let made = admin(s, "POST", "/keys", Some(body)).await;
    assert_eq!(made.status, 201, "{}", made.text());
    let made = made.json();
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("drv_") && secret.len() >= 4 + 32,
        "{secret}"
    );
    assert!(secret.starts_with(made["prefix"].as_str().unwrap()));
    assert!(made.get("hash").is_none());
    (made["id"].as_str().unwrap().to_owned(), secret)
}

async fn keys_guard_every_surface(db: TestDb) {
    let url = db.url().to_owned();
    let s = start(&[("a", &["m:latest", "other:latest"])], |c| {
        c.auth.admin_token = TOKEN.into();
        c.auth.mode = AuthMode::Keys;
        c.database_url = url.clone();
        c.request_log.enabled = true;
        c.request_log.flush_timeout = Duration::from_millis(50);
    })
    .await;
    let (id, secret) = create_key(&s, json!({"name": "app", "allowed_models": ["m"]})).await;

    // The secret is shown once: lists and reads never carry it.
    let listed = admin(&s, "GET", "/keys", None).await.text();
    assert!(
        listed.contains(&id) && !listed.contains(&secret[8..]),
        "{listed}"
    );

    for path in [OLLAMA_CHAT, OPENAI_CHAT] {
        let missing = chat_with(&s, path, "m", &[]).await;
        assert!(refused(&missing, path, 401, "invalid_api_key").contains("missing API key"));
        let wrong = format!("{}{}", &secret[..secret.len() - 4], "0000");
        let wrong = chat_key(&s, path, "m", &wrong).await;
        assert_eq!(
            refused(&wrong, path, 401, "invalid_api_key"),
            "invalid API key"
        );
        let junk = chat_key(&s, path, "m", "nonsense").await;
        refused(&junk, path, 401, "invalid_api_key");
        // Good keys, by either header; `m` and `m:latest` are one model.
        assert_eq!(chat_key(&s, path, "m", &secret).await.status, 200);
        let anthropic_style = chat_with(&s, path, "m:latest", &[("x-api-key", &secret)]).await;
        assert_eq!(anthropic_style.status, 200, "{}", anthropic_style.text());
        let not_allowed = chat_key(&s, path, "other", &secret).await;
        assert!(refused(&not_allowed, path, 403, "model_not_allowed").contains("other"));
    }
    // Model lists need a key too, in the surface's shape.
    let res = client().get(s.url("/v1/models")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = client()
        .get(s.url("/api/tags"))
        .insert_header(("authorization", format!("Bearer {secret}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Disabled, then enabled again; then revoked for good.
    let off = admin(
        &s,
        "PATCH",
        &format!("/keys/{id}"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(off.status, 200, "{}", off.text());
    let reply = chat_key(&s, OPENAI_CHAT, "m", &secret).await;
    assert!(refused(&reply, OPENAI_CHAT, 401, "invalid_api_key").contains("disabled"));
    admin(
        &s,
        "PATCH",
        &format!("/keys/{id}"),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(chat_key(&s, OLLAMA_CHAT, "m", &secret).await.status, 200);
    let revoked = admin(&s, "DELETE", &format!("/keys/{id}"), None).await;
    assert_eq!(revoked.status, 204);
    for path in [OLLAMA_CHAT, OPENAI_CHAT] {
        let reply = chat_key(&s, path, "m", &secret).await;
        assert!(refused(&reply, path, 401, "invalid_api_key").contains("revoked"));
    }
    let again = admin(
        &s,
        "PATCH",
        &format!("/keys/{id}"),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.text());

    // Expired.
    let soon = now_ms() + 1_000;
    let (_, short_lived) = create_key(&s, json!({"name": "brief", "expires_ms": soon})).await;
    assert_eq!(
        chat_key(&s, OLLAMA_CHAT, "m", &short_lived).await.status,
        200
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for path in [OLLAMA_CHAT, OPENAI_CHAT] {
        let reply = chat_key(&s, path, "m", &short_lived).await;
        assert!(refused(&reply, path, 401, "invalid_api_key").contains("expired"));
    }

    // Records name the key and carry the tokens the node reported (the mock: 1 prompt word,
    // 5 tokens), refused requests included.
    let store = Store::open(db.url()).await.unwrap();
    let served = 6;
    let refused_total = 13;
    assert_eq!(wait_for_count(&store, served + refused_total).await, 19);
    let page = store
        .query_records(&drover::store::records::LogQuery {
            key: Some(id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let ok: Vec<_> = page.records.iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 5, "{:?}", page.records);
    assert!(ok
        .iter()
        .all(|r| r.prompt_tokens == Some(1) && r.completion_tokens == Some(5)));
    assert!(page.records.iter().any(|r| r.status == 403));
    drop(s);
    db.drop_db().await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[actix_rt::test]
async fn sqlite_keys_guard_every_surface() {
    keys_guard_every_surface(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_keys_guard_every_surface() {
    keys_guard_every_surface(TestDb::postgres().await).await;
}

async fn key_limits_answer_429(db: TestDb) {
    let url = db.url().to_owned();
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into();
        c.auth.mode = AuthMode::Keys;
        c.database_url = url.clone();
    })
    .await;
    let (_, rpm) = create_key(&s, json!({"name": "rpm", "rpm_limit": 2})).await;
    for path in [OLLAMA_CHAT, OPENAI_CHAT] {
        assert_eq!(chat_key(&s, path, "m", &rpm).await.status, 200);
    }
    for path in [OLLAMA_CHAT, OPENAI_CHAT] {
        let limited = chat_key(&s, path, "m", &rpm).await;
        let message = refused(&limited, path, 429, "rate_limit_exceeded");
        assert!(message.contains("2 requests per minute"), "{message}");
        let wait: u64 = limited
            .headers
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=120).contains(&wait), "{wait}");
        if path == OPENAI_CHAT {
            assert_eq!(limited.json()["error"]["type"], "requests");
        }
    }
    // Tokens: the mock reports 6 per answer, so a limit of 10 admits two, then refuses.
    let (_, tpm) = create_key(&s, json!({"name": "tpm", "tpm_limit": 10})).await;
    assert_eq!(chat_key(&s, OLLAMA_CHAT, "m", &tpm).await.status, 200);
    assert_eq!(chat_key(&s, OPENAI_CHAT, "m", &tpm).await.status, 200);
    let limited = chat_key(&s, OPENAI_CHAT, "m", &tpm).await;
    refused(&limited, OPENAI_CHAT, 429, "rate_limit_exceeded");
    assert_eq!(limited.json()["error"]["type"], "tokens");
    // Keys do not share limits.
    let (_, free) = create_key(&s, json!({"name": "free"})).await;
    assert_eq!(chat_key(&s, OLLAMA_CHAT, "m", &free).await.status, 200);
    drop(s);
    db.drop_db().await;
}

#[actix_rt::test]
async fn sqlite_key_limits_answer_429() {
    key_limits_answer_429(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_key_limits_answer_429() {
    key_limits_answer_429(TestDb::postgres().await).await;
}

/// Bad key requests name the field; unknown keys are 404; keys work in open mode untouched.
#[actix_rt::test]
async fn bad_key_input_names_the_field() {
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into()
    })
    .await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "rpm_limit": 0}), "rpm_limit"),
        (json!({"name": "x", "tpm_limit": -1}), "tpm_limit"),
        (json!({"name": "x", "expires_ms": 1}), "expires_ms"),
        (
            json!({"name": "x", "allowed_models": [""]}),
            "allowed_models",
        ),
        (json!({"name": "x", "colour": "red"}), "colour"),
        (json!({"rpm_limit": 5}), "name"),
    ] {
        let reply = admin(&s, "POST", "/keys", Some(body.clone())).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        let message = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains(field), "{body}: {message}");
    }
    assert_eq!(admin(&s, "DELETE", "/keys/nope", None).await.status, 404);
    assert_eq!(admin(&s, "GET", "/keys/nope", None).await.status, 404);
    let patch = admin(&s, "PATCH", "/keys/nope", Some(json!({"enabled": false}))).await;
    assert_eq!(patch.status, 404);
    // Open mode (the default): no key needed, keys made anyway do not get in the way.
    create_key(&s, json!({"name": "unused"})).await;
    assert_eq!(chat_with(&s, OPENAI_CHAT, "m", &[]).await.status, 200);
}

/// The `Bearer` scheme's name is case-insensitive (RFC 9110): client keys and the admin API
/// take `bearer` and `BEARER` too.
#[actix_rt::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into();
        c.auth.mode = AuthMode::Keys;
    })
    .await;
    let (_, secret) = create_key(&s, json!({"name": "app"})).await;
    for scheme in ["bearer", "BEARER"] {
        let value = format!("{scheme} {secret}");
        for path in [OLLAMA_CHAT, OPENAI_CHAT] {
            let reply = chat_with(&s, path, "m", &[("authorization", &value)]).await;
            assert_eq!(reply.status, 200, "{scheme} on {path}: {}", reply.text());
        }
        let res = client()
            .get(s.url("/admin/api/nodes"))
            .insert_header(("authorization", format!("{scheme} {TOKEN}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{scheme} on the admin API");
    }
}
