//! A deliberately dumb blocking HTTP/1.1 client for the mock's tests: it sees the wire as
//! it is (each chunk of a chunked body, when it arrived, and whether the body was cut off),
//! which a real client library would hide.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Chunks of a chunked body, with their arrival time.
    pub chunks: Vec<(Instant, Vec<u8>)>,
    /// False when the connection ended before the body did.
    pub complete: bool,
    /// When the status line arrived.
    pub head_at: Instant,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// NDJSON lines of the body, parsed.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Named SSE events (`event:` + `data:`, Anthropic's framing): name and parsed payload.
    pub fn named_events(&self) -> Vec<(String, serde_json::Value)> {
        self.text()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (head, data) = e.split_once('\n').expect("event line then data line");
                let name = head.strip_prefix("event: ").expect("event: line");
                let data = data.strip_prefix("data: ").expect("data: line");
                (name.to_owned(), serde_json::from_str(data).unwrap())
            })
            .collect()
    }

    /// Payloads of `data:` SSE events.
    pub fn events(&self) -> Vec<String> {
        self.text()
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .map(str::to_owned)
            .collect()
    }
}

pub fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Resp {
    try_request(addr, method, path, body, Duration::from_secs(10)).expect("request failed")
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, None)
}

pub fn post(addr: SocketAddr, path: &str, body: &str) -> Resp {
    request(addr, "POST", path, Some(body))
}

pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> std::io::Result<Resp> {
    try_request_with(addr, method, path, &[], body, timeout)
}

/// A POST with extra request headers.
pub fn post_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    try_request_with(
        addr,
        "POST",
        path,
        headers,
        Some(body),
        Duration::from_secs(10),
    )
    .expect("request failed")
}

/// A GET with extra request headers.
pub fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    try_request_with(addr, "GET", path, headers, None, Duration::from_secs(10))
        .expect("request failed")
}

pub fn try_request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    timeout: Duration,
) -> std::io::Result<Resp> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    let body = body.unwrap_or("");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes())?;
    read_response(stream, method == "HEAD")
}

fn read_response(stream: TcpStream, head: bool) -> std::io::Result<Resp> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let head_at = Instant::now();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
        chunks: Vec::new(),
        complete: true,
        head_at,
    };
    if head {
        return Ok(resp);
    }
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        resp.complete = false;
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let Ok(size) = usize::from_str_radix(line.trim(), 16) else {
                break;
            };
            if size == 0 {
                resp.complete = true;
                break;
            }
            let mut data = vec![0; size + 2];
            if r.read_exact(&mut data).is_err() {
                break;
            }
            data.truncate(size);
            resp.body.extend_from_slice(&data);
            resp.chunks.push((Instant::now(), data));
        }
    } else if let Some(len) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut data = vec![0; len];
        resp.complete = r.read_exact(&mut data).is_ok();
        resp.body = data;
    } else {
        let _ = r.read_to_end(&mut resp.body);
    }
    Ok(resp)
}

/// True when nothing listens on `addr` any more.
pub fn refused(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err()
}
