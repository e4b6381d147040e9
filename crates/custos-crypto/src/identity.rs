//! Keys for staff identities: sealing profiles and TOTP secrets, and keyed lookups by
//! username, email and SSO subject. Derived from the root key per tenant.

use crate::keys::DataKey;
use crate::{CryptoError, RootKey};
use aws_lc_rs::hmac;

/// Keys for staff identities of one tenant (or of the operators): an AEAD key sealing
/// profiles and TOTP secrets, and an HMAC key for lookups by username, email and SSO
/// subject. Derived from the root key per tenant, so they do not change when the
/// tenant's data key rotates, and one tenant's lookups are unrelated to another's.
pub struct IdentityKeys {
    seal: DataKey,
    lookup: hmac::Key,
}

impl std::fmt::Debug for IdentityKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityKeys([REDACTED])")
    }
}

impl RootKey {
    /// The identity keys of `scope` (a tenant code, or `sys` for operators).
    pub fn identity_keys(&self, scope: &str) -> Result<IdentityKeys, CryptoError> {
        let seal = self.derive_seed(&format!("root/identity-seal/{scope}"))?;
        let lookup = self.derive_seed(&format!("root/identity-lookup/{scope}"))?;
        Ok(IdentityKeys {
            seal: DataKey::from_bytes(&seal)?,
            lookup: hmac::Key::new(hmac::HMAC_SHA256, lookup.expose()),
        })
    }
}

impl IdentityKeys {
    /// The key sealing profiles and TOTP secrets (AAD: scope, user id, what).
    pub fn seal_key(&self) -> &DataKey {
        &self.seal
    }

    /// Keyed lookup value of `(kind, normalised value)`: `kind` separates usernames,
    /// emails and SSO subjects.
    pub fn lookup(&self, kind: &str, normalised: &str) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.lookup);
        for part in [kind.as_bytes(), normalised.as_bytes()] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            ctx.update(&len.to_be_bytes());
            ctx.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}
