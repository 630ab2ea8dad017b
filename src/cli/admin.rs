//! The HTTP client of the admin commands: one call per command against a running replica's
//! admin API, with the server's `{"error": "..."}` turned into a message that says what to do.

use std::{fmt::Write as _, time::Duration};

use awc::http::{Method, StatusCode};
use bytes::Bytes;
use serde_json::Value;

/// The replica the admin commands call when neither `--url` nor `DROVER_URL` is given: the
/// default `listen` address (a test checks they agree).
pub(super) const DEFAULT_URL: &str = "http://127.0.0.1:8040";

/// Where the admin commands send their calls, and how they print the answers. Every admin
/// command takes these flags; `global` lets them stand before or after a subcommand.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct Remote {
    /// Base URL of the replica to call.
    #[arg(long, env = "DROVER_URL", default_value = DEFAULT_URL, global = true)]
    pub url: String,
    /// The admin token, or a session token from `drover login`. The environment variable is
    /// the one `drover serve` reads, so on the replica's own machine nothing needs passing.
    #[arg(
        long,
        env = "DROVER_AUTH__ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// Print the server's JSON answer as it is, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Why a call failed. Each message names what to check.
#[derive(Debug, thiserror::Error)]
pub(super) enum CallError {
    #[error("{0:?} is not a replica URL: expected http://HOST:PORT (replicas serve plain HTTP)")]
    BadUrl(String),
    #[error("cannot reach a replica at {url}: {reason} (is `drover serve` running there? set --url or DROVER_URL)")]
    Unreachable { url: String, reason: String },
    #[error("{method} {url}: {reason}")]
    Failed {
        method: Method,
        url: String,
        reason: String,
    },
    #[error("{method} {path}: {status}: {message}{hint}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
        hint: &'static str,
    },
    #[error("{method} {path}: the answer is not JSON: {reason}")]
    NotJson {
        method: Method,
        path: String,
        reason: String,
    },
}

/// A successful answer.
#[derive(Debug)]
pub(super) struct Answer {
    body: Bytes,
    method: Method,
    path: String,
}

impl Answer {
    /// The body as JSON; `null` for an empty body (204).
    pub fn json(&self) -> Result<Value, CallError> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| CallError::NotJson {
            method: self.method.clone(),
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// The body as it came, for `--json` (nothing for an empty body).
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.body).trim_end().to_owned()
    }
}

/// The largest answer read (a page of 1000 request records is well under 1 MiB).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// A client for one replica's admin API.
pub(super) struct AdminClient {
    base: String,
    token: Option<String>,
    client: awc::Client,
}

impl AdminClient {
    pub fn new(remote: &Remote) -> Result<AdminClient, CallError> {
        let base = remote.url.trim().trim_end_matches('/').to_owned();
        // Replicas serve plain HTTP (TLS is a proxy's job), and this client is built without
        // TLS: an https:// URL would only fail later with a vaguer message.
        let rest = base.strip_prefix("http://");
        if rest.is_none_or(str::is_empty) || base.parse::<awc::http::Uri>().is_err() {
            return Err(CallError::BadUrl(remote.url.clone()));
        }
        Ok(AdminClient {
            base,
            token: remote.token.clone().filter(|t| !t.is_empty()),
            client: awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish(),
        })
    }

    pub async fn get(&self, path: &str) -> Result<Answer, CallError> {
        self.call(Method::GET, path, None::<&()>, None::<&()>).await
    }

    /// A GET with a query string built from `query` (absent fields are left out).
    pub async fn get_query(
        &self,
        path: &str,
        query: &impl serde::Serialize,
    ) -> Result<Answer, CallError> {
        self.call(Method::GET, path, None::<&()>, Some(query)).await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, CallError> {
        self.call(method, path, body, None::<&()>).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
        query: Option<&impl serde::Serialize>,
    ) -> Result<Answer, CallError> {
        let url = format!("{}/admin/api{path}", self.base);
        let failed = |reason: String| CallError::Failed {
            method: method.clone(),
            url: url.clone(),
            reason,
        };
        let mut req = self.client.request(method.clone(), &url);
        if let Some(query) = query {
            req = req.query(query).map_err(|e| failed(e.to_string()))?;
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let sent = match body {
            Some(body) => req.send_json(body).await,
            None => req.send().await,
        };
        let mut res = sent.map_err(|e| match e {
            awc::error::SendRequestError::Connect(e) => CallError::Unreachable {
                url: self.base.clone(),
                reason: e.to_string(),
            },
            awc::error::SendRequestError::Timeout => CallError::Unreachable {
                url: self.base.clone(),
                reason: "no answer within 30 s".to_owned(),
            },
            e => failed(e.to_string()),
        })?;
        let status = res.status();
        let body = res
            .body()
            .limit(MAX_ANSWER)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !status.is_success() {
            return Err(CallError::Status {
                method,
                path: format!("/admin/api{path}"),
                status,
                message: error_message(&body),
                hint: hint(status, path),
            });
        }
        Ok(Answer {
            body,
            method,
            path: path.to_owned(),
        })
    }
}

/// The server's `{"error": "..."}`, or the body itself when it is something else.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if text.is_empty() {
                "(no message)".to_owned()
            } else {
                text
            }
        })
}

/// What to do about a refusal. A 401 from `/login` is a wrong password, not a missing token.
fn hint(status: StatusCode, path: &str) -> &'static str {
    if status == StatusCode::UNAUTHORIZED && path != "/login" {
        "\nhint: pass the replica's admin token (or a session token from `drover login`) with --token or DROVER_AUTH__ADMIN_TOKEN"
    } else {
        ""
    }
}

/// One path segment (a node name, key id, alias) percent-encoded, so a name holding `?`, `#`
/// or `%` reaches the server as it was typed.
pub(super) fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_is_the_default_listen_address() {
        let listen = crate::config::Config::default().listen;
        assert_eq!(DEFAULT_URL, format!("http://{listen}"));
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("gpu-a.1"), "gpu-a.1");
        assert_eq!(segment("a b?#%/é"), "a%20b%3F%23%25%2F%C3%A9");
    }

    #[test]
    fn error_messages_come_from_the_error_field() {
        assert_eq!(
            error_message(br#"{"error": "node \"x\" does not exist"}"#),
            "node \"x\" does not exist"
        );
        assert_eq!(error_message(b"plain text\n"), "plain text");
        assert_eq!(error_message(b""), "(no message)");
    }

    #[test]
    fn urls_must_be_http() {
        let remote = |url: &str| Remote {
            url: url.to_owned(),
            token: None,
            json: false,
        };
        assert!(AdminClient::new(&remote("http://127.0.0.1:8040/")).is_ok());
        assert!(AdminClient::new(&remote("127.0.0.1:8040")).is_err());
        assert!(AdminClient::new(&remote("https://127.0.0.1:8040")).is_err());
        assert!(AdminClient::new(&remote("http://")).is_err());
    }
}
