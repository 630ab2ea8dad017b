//! Random secrets and how they are kept: only a SHA-256 digest is stored, and digests are
//! compared in constant time. A plain hash is right here (unlike passwords): the secrets are
//! 192 random bits, so there is nothing to guess that a slow hash would protect.

use sha2::{Digest, Sha256};

/// Random bytes in a new secret: 192 bits.
const SECRET_BYTES: usize = 24;

/// A new secret `<tag><48 hex digits>` from the operating system's generator.
pub fn generate(tag: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)?;
    let mut secret = String::with_capacity(tag.len() + SECRET_BYTES * 2);
    secret.push_str(tag);
    secret.push_str(&hex(&bytes));
    Ok(secret)
}

/// A short random id for rows people refer to (key ids).
pub fn random_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

/// The hex SHA-256 of a secret, as stored.
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Compares without an early exit, so the time taken says nothing about where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_tagged() {
        let a = generate("drv_").unwrap();
        let b = generate("drv_").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("drv_"));
        assert_eq!(a.len(), 4 + 48);
        assert!(a[4..].bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn digests_are_stable_and_compared_whole() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
