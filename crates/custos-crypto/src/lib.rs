//! Custos cryptography: secret types, the field envelope, the key hierarchy's key tiers,
//! Shamir splitting of the root key and blind indexes. Pure: no I/O, no clock.
//!
//! Every primitive comes from `aws-lc-rs` (its FIPS module with the `fips` feature);
//! nothing here is hand-rolled. Key material lives in zeroizing types and is read
//! through an explicit `expose()`.
#![forbid(unsafe_code)]

mod aad;
mod aead;
mod blind;
mod digest;
mod error;
mod identity;
mod keys;
mod password;
mod random;
mod secret;
mod shamir;
mod signing;
mod token;
mod totp;

pub use aad::{FieldAad, KeyScope, SubjectKeyAad, TenantKeyAad};
pub use aead::Sealed;
pub use blind::{BlindIndex, BlindIndexKey};
pub use digest::Sha256Stream;
pub use error::CryptoError;
pub use identity::IdentityKeys;
pub use keys::{DataKey, KEY_LEN, RootKey, SubjectKey, TenantKey, WrappedKey};
pub use password::{
    MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, PasswordParams, PasswordProblem, burn_password_check, check_new_password,
    hash_password, needs_rehash, verify_password,
};
pub use random::{random_array, random_hex};
pub use secret::Secret;
pub use shamir::{InitId, Share, combine_shares, split_root_key};
pub use signing::{AuditSigningKey, verify_signature};
pub use token::{TokenHash, new_token, sha256};
pub use totp::{TOTP_DIGITS, TOTP_STEP_SECONDS, TotpSecret};

/// Whether the FIPS-validated module is in use (only with the `fips` feature).
pub fn fips_mode() -> bool {
    #[cfg(feature = "fips")]
    {
        aws_lc_rs::try_fips_mode().is_ok()
    }
    #[cfg(not(feature = "fips"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(feature = "fips")]
    fn fips_build_runs_in_fips_mode() {
        assert!(super::fips_mode(), "built with `fips` but the module is not in FIPS mode");
    }

    #[test]
    #[cfg(not(feature = "fips"))]
    fn default_build_is_not_fips() {
        assert!(!super::fips_mode());
    }
}
