//! Streams still running when the shutdown grace runs out: the client gets an error frame in
//! its API's format, never a bare cut, and the record says the stream was cut by shutdown.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use drover::store::Store;
use drover_loadtest::mock::{MockConfig, MockUpstream};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::{
    harness::client,
    process::{drover, free_port},
};

#[actix_rt::test]
async fn streams_outliving_the_grace_end_with_an_error_frame_recorded_as_shutdown() {
    let mock = MockUpstream::start(MockConfig::named("n", &["m:latest"])).unwrap();
    // Far longer than the grace.
    mock.set_tokens(100);
    mock.set_token_delay(Duration::from_millis(200));
    let port = free_port();
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/drover.db", db.path().display());
    let mut child = drover()
        .env("DROVER_DATABASE_URL", &url)
        .args(["serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--node")
        .arg(format!("n={}", mock.url()))
        .env("DROVER_HEALTH__INTERVAL", "100ms")
        .env("DROVER_LIMITS__SHUTDOWN_GRACE", "1s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(mut res) = client().get(format!("{base}/readyz")).send().await {
            if res.json::<Value>().await.is_ok_and(|b| b["nodes_up"] == 1) {
                ready = true;
                break;
            }
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    if !ready {
        let _ = child.kill();
        panic!("drover never became ready");
    }
    let mut ollama = client()
        .post(format!("{base}/api/chat"))
        .insert_header(("x-request-id", "cut-ollama"))
        .send_json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .await
        .unwrap();
    let mut openai = client()
        .post(format!("{base}/v1/chat/completions"))
        .insert_header(("x-request-id", "cut-openai"))
        .send_json(&json!({"model": "m", "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}))
        .await
        .unwrap();
    let mut ollama_body = ollama.next().await.unwrap().unwrap().to_vec();
    let mut openai_body = openai.next().await.unwrap().unwrap().to_vec();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    while let Some(Ok(chunk)) = ollama.next().await {
        ollama_body.extend_from_slice(&chunk);
    }
    while let Some(Ok(chunk)) = openai.next().await {
        openai_body.extend_from_slice(&chunk);
    }
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");

    let lines: Vec<Value> = String::from_utf8(ollama_body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.last().unwrap();
    assert!(
        last["error"].as_str().unwrap().contains("shutting down"),
        "{lines:?}"
    );
    let text = String::from_utf8(openai_body).unwrap();
    assert!(!text.contains("[DONE]"), "{text}");
    let event = text.trim_end().rsplit("\n\n").next().unwrap();
    let event: Value = serde_json::from_str(event.strip_prefix("data: ").unwrap()).unwrap();
    assert!(
        event["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down"),
        "{text}"
    );

    let store = Store::open(&url).await.unwrap();
    let records = store.recent_records(10).await.unwrap();
    for id in ["cut-ollama", "cut-openai"] {
        let record = records.iter().find(|r| r.request_id == id).unwrap();
        assert_eq!(record.error_kind.as_deref(), Some("shutdown"), "{record:?}");
    }
}
