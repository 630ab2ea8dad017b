//! Who may use Drover: API keys for inference clients (with their limits), passwords and
//! session tokens for admin users, and the secret handling both share.

pub mod keys;
pub mod limits;
pub mod passwords;
pub mod secrets;

pub use keys::{ClientKey, KeyRing};
