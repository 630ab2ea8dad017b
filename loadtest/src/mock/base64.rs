//! Whether a string is valid standard base64 (RFC 4648, padded), which is what the real
//! APIs demand of image data, and encoding for the answers that carry base64 (OpenAI
//! embeddings with `encoding_format: "base64"`). The mock never decodes.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard padded base64 of `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// True for non-empty, padded, standard-alphabet base64.
pub(crate) fn is_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    if pad > 2 {
        return false;
    }
    let body = b.get(..b.len() - pad).unwrap_or_default();
    body.iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// The base64 payload of a `data:image/<subtype>;base64,<data>` URL, if it is one.
pub(crate) fn image_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (media_type, data) = rest.split_once(";base64,")?;
    media_type
        .strip_prefix("image/")
        .filter(|s| !s.is_empty())?;
    Some((media_type, data))
}

#[cfg(test)]
mod encode_tests {
    use super::*;

    #[test]
    fn encodes_rfc4648_vectors() {
        for (raw, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(raw.as_bytes()), want);
        }
        assert!(is_valid(&encode(&[0xff, 0xfe, 0x00, 0x10])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        for ok in ["aGk=", "aGVsbG8h", "YQ==", "+/+/"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "aGk",
            "a===",
            "aG k=",
            "aG=k",
            "data:image/png;base64,aGk=",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn data_urls() {
        assert_eq!(
            image_data_url("data:image/png;base64,aGk="),
            Some(("image/png", "aGk="))
        );
        assert_eq!(image_data_url("data:text/plain;base64,aGk="), None);
        assert_eq!(image_data_url("https://x/y.png"), None);
        assert_eq!(image_data_url("data:image/;base64,aGk="), None);
    }
}
