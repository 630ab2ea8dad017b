//! Pure helpers that produce the mock's deterministic payloads: timestamps, digests,
//! generated tokens and embedding vectors. Kept free of I/O so they can be unit tested.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch; OpenAI's `created` fields use this unit.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Current time as RFC 3339 (UTC, microseconds), the shape Ollama puts in `created_at`.
/// Hand-rolled because the stack has no date crate and the mock only needs "now".
pub(crate) fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs(), now.subsec_micros())
}

/// Formats a Unix timestamp as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(crate) fn rfc3339(secs: u64, micros: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after Howard Hinnant's
/// well-known `civil_from_days` algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// FNV-1a: a tiny stable hash so digests and embeddings are reproducible across runs.
pub(crate) fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// SplitMix64 step: expands one seed into a stream of well-mixed words.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 64-hex-digit pseudo sha256 derived from `seed`, stable per model name, so `/api/tags`
/// digests look real and never change between calls.
pub(crate) fn digest_hex(seed: &str) -> String {
    let mut state = fnv1a(seed.as_bytes());
    let mut out = String::with_capacity(64);
    for _ in 0..4 {
        out.push_str(&format!("{:016x}", splitmix64(&mut state)));
    }
    out
}

/// A deterministic unit-length embedding of `text`: same text, same vector, so tests can
/// compare answers from different nodes or paths.
pub(crate) fn embedding(text: &str, dims: usize) -> Vec<f32> {
    let mut state = fnv1a(text.as_bytes());
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            let r = splitmix64(&mut state) >> 40; // 24 bits, exact in f32
            (r as f32 / (1u32 << 23) as f32) - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}

/// Text of generated token `i`. The first token carries the node name so a client can tell
/// which upstream answered from the body alone.
pub(crate) fn token(first: &str, i: usize) -> String {
    if i == 0 {
        first.to_owned()
    } else {
        format!("tok{i} ")
    }
}

/// The first token for node `name`: `"[name] tok0 "`.
pub(crate) fn first_token(name: &str) -> String {
    format!("[{name}] tok0 ")
}

/// Rough prompt token count (whitespace-separated words, at least 1), enough for usage fields.
pub(crate) fn count_words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Real Ollama accepts `llama3` for `llama3:latest`; this is the name a bare model resolves to.
pub(crate) fn with_default_tag(model: &str) -> String {
    if model.contains(':') {
        model.to_owned()
    } else {
        format!("{model}:latest")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000005Z");
        assert_eq!(rfc3339(1_704_067_199, 0), "2023-12-31T23:59:59.000000Z");
    }

    #[test]
    fn digest_is_stable_hex() {
        let a = digest_hex("llama3:latest");
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, digest_hex("llama3:latest"));
        assert_ne!(a, digest_hex("qwen:7b"));
    }

    #[test]
    fn embedding_is_deterministic_unit() {
        let a = embedding("hello", 8);
        assert_eq!(a.len(), 8);
        assert_eq!(a, embedding("hello", 8));
        assert_ne!(a, embedding("world", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(embedding("x", 0).is_empty());
    }

    #[test]
    fn tokens_concatenate() {
        let first = first_token("n1");
        let joined: String = (0..4).map(|i| token(&first, i)).collect();
        assert_eq!(joined, "[n1] tok0 tok1 tok2 tok3 ");
    }

    #[test]
    fn default_tag() {
        assert_eq!(with_default_tag("llama3"), "llama3:latest");
        assert_eq!(with_default_tag("qwen:7b"), "qwen:7b");
    }
}
