//! The real binary: configuration errors, JSON logs, and graceful shutdown on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use drover_loadtest::mock::{MockConfig, MockUpstream};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::harness::client;

pub fn drover() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drover"));
    // The test's own environment must not leak DROVER_* settings into the child.
    for (key, _) in std::env::vars() {
        if key.starts_with("DROVER_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn unknown_config_keys_fail_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("drover.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[health]\nintervall = \"5s\"\n",
    )
    .unwrap();
    let out = drover()
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("intervall"), "{stderr}");

    let out = drover()
        .args(["serve", "--node", "no-url"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=URL"));

    let out = drover()
        .args(["check-config"])
        .env("DROVER_SELECTOR__STRATEGY", "teleport")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("teleport"));
}

struct Child_(Child);

impl Drop for Child_ {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

#[actix_rt::test]
async fn sigterm_lets_in_flight_streams_finish_then_exits() {
    let mock = MockUpstream::start(MockConfig::named("n", &["m:latest"])).unwrap();
    mock.set_tokens(8);
    mock.set_token_delay(Duration::from_millis(150));
    let port = free_port();
    let db = tempfile::tempdir().unwrap();
    let child = drover()
        .env(
            "DROVER_DATABASE_URL",
            format!("sqlite://{}/drover.db", db.path().display()),
        )
        .args(["serve", "--log-format", "json", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--node")
        .arg(format!("n={}", mock.url()))
        .env("DROVER_HEALTH__INTERVAL", "100ms")
        .env("DROVER_LIMITS__SHUTDOWN_GRACE", "20s")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Child_(child);
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(res) = client().get(format!("{base}/readyz")).send().await {
            if res.status() == 200 {
                ready = true;
                break;
            }
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "drover never became ready");

    let mut res = client()
        .post(format!("{base}/api/chat"))
        .insert_header(("x-request-id", "graceful-1"))
        .send_json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .await
        .unwrap();
    let mut body = res.next().await.unwrap().unwrap().to_vec();
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    // New connections are refused once the listener closes...
    let mut refused = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            refused = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "still accepting after SIGTERM");
    // ...while the stream already running is completed.
    while let Some(chunk) = res.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    let lines: Vec<Value> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 9);
    assert_eq!(lines.last().unwrap()["done"], true);

    let exit = child.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    // Logs are JSON lines and carry the request id.
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let logs: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("every log line is JSON"))
        .collect();
    assert!(
        logs.iter()
            .any(|l| l["request_id"] == "graceful-1" && l["message"] == "request finished"),
        "{logs:?}"
    );
}
