//! The HTTP edge against raw TCP clients, which send what no client library would: bodies
//! that stop halfway.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use serde_json::Value;

use crate::harness::{start, Setup};

/// Sends `head` and `body` as they are, then reads until the server closes: the status and
/// the body of the answer.
fn raw(s: &Setup, head: &str, body: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(s.drover.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        panic!(
            "no end of the answer ({e}); got {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let (_, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head: {text:?}"));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, body)
}

/// A body that stops arriving (short of its Content-Length, or a chunked one never ended) is
/// answered 408 in the API's error shape once `timeouts.body` passes, and the connection is
/// closed; the admin API's too.
#[actix_rt::test]
async fn unfinished_bodies_time_out_with_408() {
    let s = start(&[("a", &["m:latest"])], |c| {
        c.timeouts.body = Duration::from_millis(500);
        c.auth.admin_token = crate::admin::TOKEN.into();
    })
    .await;
    let s = std::sync::Arc::new(s);
    let run = |head: String, body: &'static [u8]| {
        let s = s.clone();
        actix_rt::task::spawn_blocking(move || raw(&s, &head, body))
    };
    let short = |path: &str, extra: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}\
             Content-Length: 100\r\n\r\n"
        )
    };

    let (status, body) = run(short("/api/chat", ""), br#"{"model": "m","#)
        .await
        .unwrap();
    assert_eq!(status, 408, "{body}");
    assert!(body["error"].as_str().unwrap().contains("body"), "{body}");

    let chunked = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\
                   Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (status, body) = run(chunked.into(), b"5\r\n{\"mod\r\n").await.unwrap();
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["error"]["code"], "request_timeout", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");

    let admin = short(
        "/admin/api/nodes",
        &format!("Authorization: Bearer {}\r\n", crate::admin::TOKEN),
    );
    let (status, body) = run(admin, br#"{"name": "#).await.unwrap();
    assert_eq!(status, 408, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("timed out"),
        "{body}"
    );
}
