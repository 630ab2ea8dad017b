//! Admin user passwords: argon2id with a random salt, stored as a PHC string. Hashing is
//! deliberately slow (tens of milliseconds), so it runs on the blocking pool, never on an
//! HTTP worker.

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

/// Shortest password accepted.
pub const MIN_LEN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password: must be at least {MIN_LEN} characters")]
    TooShort,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes a new password (checked for length first).
pub async fn hash(password: String) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    tokio::task::spawn_blocking(move || {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
        let salt =
            SaltString::encode_b64(&bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| PasswordError::Hash(e.to_string()))?
}

/// A hash to check against when there is no user, so a wrong username takes as long as a
/// wrong password and the answer says nothing about which users exist.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0yLRFSEyzNHsKSTHZ8NWNrfgDnLw9dSDHkBC6WF+C2w";

/// Whether `password` matches the stored PHC string (`None`: no such user, never matches);
/// a malformed hash never matches.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let exists = stored.is_some();
    let stored = stored.unwrap_or_else(|| DECOY_HASH.to_owned());
    let matches = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false);
    exists && matches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_only_themselves() {
        let stored = hash("correct horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(stored.clone())).await);
        assert!(!verify("correct horsf".into(), Some(stored)).await);
        assert!(!verify("x".into(), Some("not a hash".into())).await);
        assert!(!verify("x".into(), None).await);
        // The decoy must be a real hash, or a missing user would answer faster.
        assert!(PasswordHash::new(DECOY_HASH).is_ok());
        assert!(matches!(
            hash("short".into()).await,
            Err(PasswordError::TooShort)
        ));
    }
}
