//! Bearer tokens (operator tokens, API keys): 256 random bits, shown once, stored only
//! as a SHA-256 hash. High-entropy tokens need no slow hash; lookups go by the hash.

use crate::{CryptoError, Secret};
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The stored form of a token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hash a presented token.
    pub fn of(token: &str) -> Self {
        let d = digest(&SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Self(out)
    }
}

/// SHA-256 of some bytes.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest(&SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A new token `<prefix>_<43 base64url chars>`; returns it and its hash.
pub fn new_token(prefix: &str) -> Result<(Secret<String>, TokenHash), CryptoError> {
    let raw: [u8; 32] = crate::random_array()?;
    let token = format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(raw));
    let hash = TokenHash::of(&token);
    Ok((Secret::new(token), hash))
}
