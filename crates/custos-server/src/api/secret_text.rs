//! Secrets crossing the API: read from request bodies straight into zeroizing
//! `Secret`s, and written into a response exactly once.

use custos_crypto::Secret;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret from a request body (password, code, token).
pub(crate) struct SecretIn(pub(crate) Secret<String>);

impl<'de> Deserialize<'de> for SecretIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(SecretIn(Secret::new(String::deserialize(d)?)))
    }
}

impl std::fmt::Debug for SecretIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Serialises a secret exactly once, into the response that hands it out.
#[derive(Debug)]
pub(crate) struct KeyText(pub(crate) Secret<String>);

impl Serialize for KeyText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose())
    }
}
