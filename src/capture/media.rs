//! Images sent inline (base64) are taken out of the stored request: each is written once to
//! the media folder, named by its SHA-256, and the request keeps `"media:<sha256>"` in its
//! place. Found where each API puts them: Ollama's `images` arrays, OpenAI's `data:` URLs
//! (`image_url.url`), Anthropic's `{"type": "base64", "media_type", "data"}` sources.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What replaces an image in stored content.
pub const REFERENCE_TAG: &str = "media:";

/// Strings shorter than this are not worth a file (and are unlikely images).
const MIN_ENCODED: usize = 64;

/// One image taken out of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub sha256: String,
    pub mime: String,
    pub bytes: u64,
    pub path: PathBuf,
}

/// Takes every inline image out of `value` into `dir`; returns what was found. An image that
/// cannot be written stays inline (and is logged), so nothing is lost.
pub fn extract(value: &mut Value, dir: &Path) -> Vec<Media> {
    let mut found = Vec::new();
    walk(value, dir, &mut found);
    found
}

fn walk(value: &mut Value, dir: &Path, found: &mut Vec<Media>) {
    match value {
        Value::Object(object) => {
            // Anthropic: {"type": "base64", "media_type": "image/png", "data": "..."}
            if object.get("type").and_then(Value::as_str) == Some("base64") {
                let mime = object
                    .get("media_type")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if let Some(Value::String(data)) = object.get_mut("data") {
                    store_inline(data, mime, dir, found);
                }
            }
            for (key, child) in object.iter_mut() {
                match (key.as_str(), child) {
                    // Ollama: "images": ["<base64>", ...]
                    ("images", Value::Array(items)) => {
                        for item in items {
                            if let Value::String(data) = item {
                                store_inline(data, None, dir, found);
                            }
                        }
                    }
                    (_, child) => walk(child, dir, found),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, dir, found)),
        // OpenAI: "url": "data:image/png;base64,..."
        Value::String(text) if text.starts_with("data:") => {
            if let Some((head, _)) = text.split_once(";base64,") {
                let mime = head["data:".len()..].to_owned();
                let data_at = head.len() + ";base64,".len();
                let mut data = text[data_at..].to_owned();
                if store_inline(&mut data, Some(mime), dir, found) {
                    *text = data;
                }
            }
        }
        _ => {}
    }
}

/// Decodes, stores and replaces one base64 string; false when it was left as it was.
fn store_inline(
    data: &mut String,
    mime: Option<String>,
    dir: &Path,
    found: &mut Vec<Media>,
) -> bool {
    if data.len() < MIN_ENCODED || data.starts_with(REFERENCE_TAG) {
        return false;
    }
    let engine = base64::engine::general_purpose::STANDARD;
    let Ok(bytes) = engine.decode(data.trim()) else {
        return false;
    };
    let sha256 = hex(&Sha256::digest(&bytes));
    let mime = mime.unwrap_or_else(|| sniff(&bytes).to_owned());
    let path = dir
        .join(&sha256[..2])
        .join(format!("{sha256}.{}", extension(&mime)));
    if let Err(error) = write_once(&path, &bytes) {
        tracing::warn!(%error, path = %path.display(), "cannot store an image; keeping it inline");
        return false;
    }
    *data = format!("{REFERENCE_TAG}{sha256}");
    if !found.iter().any(|m| m.sha256 == sha256) {
        found.push(Media {
            sha256,
            mime,
            bytes: bytes.len() as u64,
            path,
        });
    }
    true
}

/// Writes a file unless it exists, through a temporary name so a reader never sees half.
fn write_once(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder)?;
    let temp = folder.join(format!(".{:016x}.part", fastrand::u64(..)));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        _ => "application/octet-stream",
    }
}

fn extension(mime: &str) -> &'static str {
    match mime {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => "bin",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn png(seed: u8) -> Vec<u8> {
        let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        bytes.extend((0..200).map(|i: u8| i.wrapping_mul(seed)));
        bytes
    }

    #[test]
    fn images_of_each_api_are_stored_once_and_referenced() {
        let dir = tempfile::tempdir().unwrap();
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let (one, two) = (png(3), png(7));
        let mut request = json!({
            "messages": [
                {"role": "user", "content": "look", "images": [b64(&one), b64(&one)]},
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", b64(&two))}},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(&one)}},
                    {"type": "text", "text": "data:text/plain;base64,short"}
                ]}
            ]
        });
        let found = extract(&mut request, dir.path());
        assert_eq!(found.len(), 2, "{found:?}");
        let sha_one = hex(&Sha256::digest(&one));
        let reference = format!("media:{sha_one}");
        assert_eq!(
            request["messages"][0]["images"],
            json!([reference, reference])
        );
        assert_eq!(
            request["messages"][1]["content"][1]["source"]["data"],
            reference
        );
        let url = request["messages"][1]["content"][0]["image_url"]["url"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("media:"), "{url}");
        assert_eq!(
            request["messages"][1]["content"][2]["text"],
            "data:text/plain;base64,short"
        );
        let stored = std::fs::read(&found[0].path).unwrap();
        assert_eq!(stored, one);
        assert_eq!(found[0].mime, "image/png");
        assert!(found[0].path.to_string_lossy().ends_with(".png"));
    }
}
