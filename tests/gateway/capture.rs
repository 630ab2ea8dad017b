//! Content capture: bodies kept with their records (streamed answers reassembled), base64
//! images stored once as files and referenced, text search over bodies, bodies cut at the
//! cap. Both backends.

use std::time::Duration;

use base64::Engine;
use drover::store::Store;
use serde_json::{json, Value};

use crate::{
    admin::{admin, TOKEN},
    databases::{wait_for_count, TestDb},
    harness::{client, start},
};

fn png() -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend((0..=255u8).cycle().take(300));
    bytes
}

async fn content_is_captured_with_media(db: TestDb) {
    let url = db.url().to_owned();
    let media_dir = tempfile::tempdir().unwrap();
    let dir = media_dir.path().to_owned();
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into();
        c.database_url = url.clone();
        c.request_log.enabled = true;
        c.request_log.flush_timeout = Duration::from_millis(50);
        c.request_log.capture = true;
        c.request_log.capture_max_bytes = 1024;
        c.request_log.media_dir = dir.clone();
    })
    .await;
    let image = base64::engine::general_purpose::STANDARD.encode(png());
    // Ollama, streamed, with a raw base64 image.
    let streamed = s
        .post(
            "/api/chat",
            json!({"model": "m", "messages": [{"role": "user", "content": "look at this",
                "images": [image]}]}),
        )
        .await;
    assert_eq!(streamed.status, 200);
    let said: String = streamed
        .lines()
        .iter()
        .map(|l| l["message"]["content"].as_str().unwrap().to_owned())
        .collect();
    // OpenAI, streamed, the same image as a data URL.
    let openai = s
        .post(
            "/v1/chat/completions",
            json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "look at this too"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{image}")}}
            ]}]}),
        )
        .await;
    assert_eq!(openai.status, 200);
    // A body over the cap is cut.
    let long = "x".repeat(4096);
    let whole = s
        .post(
            "/api/chat",
            json!({"model": "m", "stream": false, "messages": [{"role": "user", "content": long}]}),
        )
        .await;
    assert_eq!(whole.status, 200);

    let store = Store::open(db.url()).await.unwrap();
    assert_eq!(wait_for_count(&store, 3).await, 3);
    let search = |q: &str| {
        let s = &s;
        let q = q.to_owned();
        async move { admin(s, "GET", &format!("/logs?q={q}"), None).await.json() }
    };
    let found = search("look%20at%20this").await;
    assert_eq!(found["records"].as_array().unwrap().len(), 2, "{found}");
    assert_eq!(search("nowhere").await["records"], json!([]));

    // The Ollama stream: reassembled as one message, the image out of the request.
    let id = found["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["api"] == "/api/chat")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = admin(&s, "GET", &format!("/logs/{id}"), None).await.json();
    let content = &one["content"];
    assert_eq!(content["response"]["message"]["content"], said.as_str());
    assert_eq!(content["response"]["done"], true);
    let reference = content["request"]["messages"][0]["images"][0]
        .as_str()
        .unwrap();
    assert!(reference.starts_with("media:"), "{reference}");
    assert!(!one.to_string().contains(&image[..40]));
    assert_eq!(one["media"].as_array().unwrap().len(), 1, "{one}");
    let media_url = one["media"][0]["url"].as_str().unwrap();
    let mut res = client()
        .get(s.url(media_url))
        .insert_header(("authorization", format!("Bearer {TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("content-type").unwrap(), "image/png");
    assert_eq!(res.body().await.unwrap().to_vec(), png());

    // The OpenAI stream: one chat.completion; the same image, stored once.
    let id = found["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["api"] == "/v1/chat/completions")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = admin(&s, "GET", &format!("/logs/{id}"), None).await.json();
    let answer: &Value = &one["content"]["response"];
    assert_eq!(answer["object"], "chat.completion", "{answer}");
    assert!(answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("tok0"));
    assert_eq!(
        one["content"]["request"]["messages"][0]["content"][1]["image_url"]["url"],
        reference
    );
    let files: Vec<_> = walk(media_dir.path());
    assert_eq!(files.len(), 1, "{files:?}");

    // The long one was cut at the cap.
    let page = admin(&s, "GET", "/logs?q=xxxxxxxx", None).await.json();
    let id = page["records"][0]["id"].as_str().unwrap();
    let one = admin(&s, "GET", &format!("/logs/{id}"), None).await.json();
    assert_eq!(one["content"]["truncated"], true);
    assert!(one["content"]["request"].as_str().unwrap().len() <= 1024);
    drop(s);
    db.drop_db().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[actix_rt::test]
async fn sqlite_content_is_captured_with_media() {
    content_is_captured_with_media(TestDb::sqlite()).await;
}

#[actix_rt::test]
async fn postgres_content_is_captured_with_media() {
    content_is_captured_with_media(TestDb::postgres().await).await;
}
