//! The headers each kind requires before it looks at a request: the API key in the kind's
//! own header, and for Anthropic the `anthropic-version` header, which the real API
//! demands on every call.

use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use super::errors::{anthropic_bad_request, anthropic_error, ollama_error, openai_error};
use super::state::Shared;
use super::MockKind;

/// `Err` carries the 401 (or Anthropic's 400 for a missing version) to send instead.
pub(crate) fn check(st: &Shared, headers: &HeaderMap) -> Result<(), HttpResponse> {
    match st.kind {
        MockKind::Ollama | MockKind::OpenAi => {
            let Some(key) = st.api_key.as_deref() else {
                return Ok(());
            };
            let given = headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            match (given, st.kind) {
                (Some(g), _) if g == key => Ok(()),
                (_, MockKind::Ollama) => {
                    Err(ollama_error(StatusCode::UNAUTHORIZED, "unauthorized"))
                }
                (None, _) => Err(openai_error(
                    StatusCode::UNAUTHORIZED,
                    "You didn't provide an API key. You need to provide your API key in an \
                     Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    None,
                )),
                (Some(_), _) => Err(openai_error(
                    StatusCode::UNAUTHORIZED,
                    "Incorrect API key provided.",
                    Some("invalid_api_key"),
                )),
            }
        }
        MockKind::Anthropic => {
            if let Some(key) = st.api_key.as_deref() {
                let given = headers.get("x-api-key").and_then(|v| v.to_str().ok());
                if given != Some(key) {
                    return Err(anthropic_error(
                        StatusCode::UNAUTHORIZED,
                        "authentication_error",
                        "invalid x-api-key",
                    ));
                }
            }
            if !headers.contains_key("anthropic-version") {
                return Err(anthropic_bad_request(
                    "anthropic-version: header is required",
                ));
            }
            Ok(())
        }
    }
}
