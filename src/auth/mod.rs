//! Who may use Drover: API keys for inference clients (with their limits), passwords and
//! session tokens for admin users, and the secret handling both share.

pub mod keys;
pub mod limits;
pub mod lockout;
pub mod passwords;
pub mod secrets;

pub use keys::{ClientKey, KeyRing};

/// The credentials of an `Authorization` value in the `Bearer` scheme. The scheme's name is
/// case-insensitive (RFC 9110, section 11.1), so `bearer` and `BEARER` are taken too.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer t0k", "bearer t0k", "BEARER  t0k ", "BeArEr t0k"] {
            assert_eq!(bearer_token(value), Some("t0k"), "{value}");
        }
        for value in ["Basic t0k", "Bearert0k", "t0k", "", "Bearer"] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }
}
