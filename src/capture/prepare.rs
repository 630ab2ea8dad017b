//! Turning a capture into what the database keeps: the request with its images taken out,
//! the answer reassembled, each cut to the size cap on a character boundary.

use std::path::Path;

use super::{media, reassemble, Capture};
use crate::store::contents::{ContentRow, MediaRow};

/// The rows for one record's capture. Runs in the writer, on a blocking thread (it parses,
/// hashes and writes files).
pub fn prepare(
    capture: &Capture,
    log_id: &str,
    now_ms: i64,
    media_dir: &Path,
    max_bytes: usize,
) -> (ContentRow, Vec<MediaRow>) {
    let (request, found) = match serde_json::from_slice::<serde_json::Value>(&capture.request) {
        Ok(mut value) => {
            let found = media::extract(&mut value, media_dir);
            (value.to_string(), found)
        }
        Err(_) => (
            String::from_utf8_lossy(&capture.request).into_owned(),
            Vec::new(),
        ),
    };
    let raw = capture.response.concat();
    let response = reassemble::answer(capture.framing, &raw);
    let (request, request_cut) = cut(request, max_bytes);
    let (response, response_cut) = cut(response, max_bytes);
    let media = found
        .into_iter()
        .map(|m| MediaRow {
            sha256: m.sha256,
            mime: m.mime,
            bytes: i64::try_from(m.bytes).unwrap_or(i64::MAX),
            path: m.path.to_string_lossy().into_owned(),
            first_log_id: Some(log_id.to_owned()),
            created_ms: now_ms,
        })
        .collect();
    let content = ContentRow {
        log_id: log_id.to_owned(),
        request_body: Some(request),
        response_body: Some(response),
        truncated: request_cut || response_cut || capture.cut,
    };
    (content, media)
}

/// At most `max` bytes, ending on a character boundary.
fn cut(mut text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_on_character_boundaries() {
        assert_eq!(cut("héllo".into(), 2), ("h".into(), true));
        assert_eq!(cut("héllo".into(), 3), ("hé".into(), true));
        assert_eq!(cut("abc".into(), 3), ("abc".into(), false));
    }
}
