//! Whether a string is valid standard base64 (RFC 4648, padded), which is what the real
//! APIs demand of image data. Validation only: the mock never needs the bytes.

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
