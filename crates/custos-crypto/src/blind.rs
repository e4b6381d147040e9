//! Blind indexes: a keyed HMAC-SHA256 of a normalised searchable value, so equality
//! lookups work without any plaintext in the index.

use crate::Secret;
use aws_lc_rs::hmac;

/// The blind-index key of one tenant key version.
pub struct BlindIndexKey(hmac::Key);

impl std::fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexKey([REDACTED])")
    }
}

/// A blind-index value: 32 bytes, stored as a BLOB.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlindIndex(pub [u8; 32]);

impl BlindIndexKey {
    pub(crate) fn new(bytes: Secret<[u8; 32]>) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes.expose()))
    }

    /// The index value of `normalised` in field `field` of `collection`.
    pub fn compute(&self, collection: &str, field: &str, normalised: &[u8]) -> BlindIndex {
        let mut ctx = hmac::Context::with_key(&self.0);
        for part in [collection.as_bytes(), field.as_bytes(), normalised] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            ctx.update(&len.to_be_bytes());
            ctx.update(part);
        }
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        BlindIndex(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::TenantKey;

    #[test]
    fn index_depends_on_key_collection_field_and_value() {
        let k1 = TenantKey::generate(1).unwrap().blind_index_key().unwrap();
        let k2 = TenantKey::generate(1).unwrap().blind_index_key().unwrap();
        let a = k1.compute("c", "email", b"kari@example.no");
        assert_eq!(a, k1.compute("c", "email", b"kari@example.no"));
        assert_ne!(a, k2.compute("c", "email", b"kari@example.no"));
        assert_ne!(a, k1.compute("c", "email2", b"kari@example.no"));
        assert_ne!(a, k1.compute("d", "email", b"kari@example.no"));
        assert_ne!(a, k1.compute("c", "email", b"kari@example.com"));
    }
}
