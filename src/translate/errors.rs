//! Stub until the translation branch lands: the contract only.
use super::Dialect;

pub fn error(_from: Dialect, to: Dialect, status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    (
        status,
        error_body(to, status, &String::from_utf8_lossy(body)),
    )
}

pub fn error_body(_to: Dialect, _status: u16, message: &str) -> Vec<u8> {
    serde_json::json!({ "error": message })
        .to_string()
        .into_bytes()
}
