//! Images between `data:` URLs, base64 with a media type, and Ollama's bare base64.

use base64::Engine;

use super::{invalid, ir::Image, unsupported};
use crate::translate::TranslateError;

/// An OpenAI `image_url.url`: a `data:<type>;base64,<data>` URL or an `http(s)` address.
pub fn from_url(url: &str, field: &str) -> Result<Image, TranslateError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let Some((meta, data)) = rest.split_once(',') else {
            return Err(invalid(field, "a data: URL needs a comma before its data"));
        };
        let Some(media_type) = meta.strip_suffix(";base64") else {
            return Err(unsupported(
                field,
                "only base64 data: URLs can be translated",
            ));
        };
        let media_type = if media_type.is_empty() {
            sniff(data)
                .ok_or_else(|| unsupported(field, "the image is not PNG, JPEG, GIF or WebP"))?
                .to_owned()
        } else {
            media_type.to_owned()
        };
        return Ok(Image::Base64 {
            media_type,
            data: data.to_owned(),
        });
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(Image::Url(url.to_owned()))
    } else {
        Err(invalid(
            field,
            "an image URL must be http(s) or a data: URL",
        ))
    }
}

/// The `data:` URL OpenAI takes for a base64 image.
pub fn data_url(media_type: &str, data: &str) -> String {
    format!("data:{media_type};base64,{data}")
}

/// An Ollama image: base64 whose type is read from its first bytes, since Ollama sends none.
/// An unknown type is left empty: another Ollama takes the image as it is, while the
/// renderers that need a type refuse it through [`known_type`].
pub fn from_ollama(data: &str) -> Image {
    Image::Base64 {
        media_type: sniff(data).unwrap_or_default().to_owned(),
        data: data.to_owned(),
    }
}

/// The media type an OpenAI or Anthropic node needs, refused when Ollama's bytes did not say.
pub fn known_type<'a>(media_type: &'a str, at: &str) -> Result<&'a str, TranslateError> {
    if media_type.is_empty() {
        Err(unsupported(
            at,
            "the image is not base64 PNG, JPEG, GIF or WebP, so its media type is unknown",
        ))
    } else {
        Ok(media_type)
    }
}

/// The media type of base64 image data from its magic bytes. Only the first 16 characters
/// are decoded (12 bytes, enough for WebP's `RIFF....WEBP`).
pub fn sniff(data: &str) -> Option<&'static str> {
    let mut head: String = data
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '=')
        .take(16)
        .collect();
    if !head.is_ascii() {
        return None;
    }
    // Whole 4-character groups only, so a short or padded head still decodes.
    head.truncate(head.len() - head.len() % 4);
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&head)
        .ok()?;
    if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF8") {
        Some("image/gif")
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice()) {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn magic_bytes_name_the_type() {
        let rows: &[(&[u8], Option<&str>)] = &[
            (b"\x89PNG\r\n\x1a\n0000", Some("image/png")),
            (b"\xFF\xD8\xFF\xE0000000000", Some("image/jpeg")),
            (b"GIF89a0000000", Some("image/gif")),
            (b"RIFF\x00\x00\x00\x00WEBPVP8 ", Some("image/webp")),
            (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
            (b"hello world, not an image", None),
            (b"\x89P", None),
        ];
        for (bytes, want) in rows {
            assert_eq!(sniff(&b64(bytes)), *want, "{bytes:?}");
        }
        assert_eq!(sniff("not base64 at all!"), None);
        assert_eq!(sniff(""), None);
        assert_eq!(sniff("é"), None);
        assert_eq!(sniff("aaaé"), None);
        assert_eq!(sniff("R0lGODlhaAAa+"), Some("image/gif"));
    }

    #[test]
    fn urls_are_read() {
        assert_eq!(
            from_url("data:image/png;base64,AAAA", "u").unwrap(),
            Image::Base64 {
                media_type: "image/png".into(),
                data: "AAAA".into()
            }
        );
        assert_eq!(
            from_url("HTTPS://x.test/a.png", "u").unwrap(),
            Image::Url("HTTPS://x.test/a.png".into())
        );
        assert!(matches!(
            from_url("data:text/plain,hi", "u"),
            Err(TranslateError::Unsupported(_))
        ));
        assert!(matches!(
            from_url("ftp://x", "u"),
            Err(TranslateError::Invalid(_))
        ));
        assert!(matches!(
            from_url("é", "u"),
            Err(TranslateError::Invalid(_))
        ));
    }
}
