//! Audit checkpoint signatures: an Ed25519 key derived from the root key (so it exists
//! only while unsealed), and verification with the public key alone (so anyone can
//! check a trail without the root key).

use crate::CryptoError;
use crate::keys::RootKey;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// The checkpoint signing key.
pub struct AuditSigningKey(Ed25519KeyPair);

impl std::fmt::Debug for AuditSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditSigningKey([REDACTED])")
    }
}

impl AuditSigningKey {
    /// Derive the signing key from the root key.
    pub fn derive(root: &RootKey) -> Result<Self, CryptoError> {
        let seed = root.derive_seed("root/audit-checkpoint-signing")?;
        Ok(Self(Ed25519KeyPair::from_seed_unchecked(seed.expose()).map_err(|_| CryptoError::Primitive)?))
    }

    /// Sign a message.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let sig = self.0.sign(msg);
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.as_ref());
        out
    }

    /// The public key (32 bytes).
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.public_key().as_ref());
        out
    }
}

/// Check an Ed25519 signature.
pub fn verify_signature(public_key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key).verify(msg, sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_the_public_key_only() {
        let root = RootKey::generate().unwrap();
        let k = AuditSigningKey::derive(&root).unwrap();
        let again = AuditSigningKey::derive(&root).unwrap();
        assert_eq!(k.public_key(), again.public_key(), "derivation is deterministic");
        let sig = k.sign(b"checkpoint");
        assert!(verify_signature(&k.public_key(), b"checkpoint", &sig));
        assert!(!verify_signature(&k.public_key(), b"checkpoinT", &sig));
        let other = AuditSigningKey::derive(&RootKey::generate().unwrap()).unwrap();
        assert!(!verify_signature(&other.public_key(), b"checkpoint", &sig));
    }
}
