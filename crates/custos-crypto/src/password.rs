//! Staff passwords (NIST SP 800-63B): Argon2id, the cost parameters stored in the PHC
//! string next to each hash so they can be raised later and old hashes upgraded at the
//! next successful login; a minimum length and a bundled list of common and breached
//! passwords, and no composition rules.

use crate::{CryptoError, Secret};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::collections::HashSet;
use std::sync::OnceLock;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (bounds the hashing work an attacker can ask for).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for PasswordParams {
    /// OWASP's Argon2id baseline: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self { m_kib: 19 * 1024, t: 2, p: 1 }
    }
}

impl PasswordParams {
    fn argon2(&self) -> Result<Argon2<'static>, CryptoError> {
        let params = Params::new(self.m_kib, self.t, self.p, None).map_err(|_| CryptoError::Primitive)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Why a new password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    TooShort,
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    TooLong,
    /// On the list of common and breached passwords.
    Common,
    /// Contains the username.
    ContainsUsername,
}

fn common() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| include_str!("../data/common-passwords.txt").lines().collect())
}

/// Check a new password against the policy.
pub fn check_new_password(password: &str, username: &str) -> Result<(), PasswordProblem> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordProblem::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    let lower = password.to_lowercase();
    if common().contains(lower.as_str()) || common().contains(password) {
        return Err(PasswordProblem::Common);
    }
    let user = username.trim().to_lowercase();
    if user.len() >= 4 && lower.contains(&user) {
        return Err(PasswordProblem::ContainsUsername);
    }
    Ok(())
}

/// Hash a password: a PHC string `$argon2id$v=19$m=..,t=..,p=..$salt$hash`.
pub fn hash_password(password: &Secret<String>, params: PasswordParams) -> Result<String, CryptoError> {
    let salt_bytes: [u8; 16] = crate::random_array()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| CryptoError::Primitive)?;
    let hash =
        params.argon2()?.hash_password(password.expose().as_bytes(), &salt).map_err(|_| CryptoError::Primitive)?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string (constant time in the hash
/// comparison). A malformed stored string never matches.
pub fn verify_password(password: &Secret<String>, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    // The verifier takes the cost parameters from the stored string.
    Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok()
}

/// Spend the same work as a real verification, for an account that does not exist,
/// so response times do not tell which accounts exist.
pub fn burn_password_check(password: &Secret<String>, params: PasswordParams) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password(&Secret::new("custos-timing-equaliser".to_owned()), params).ok());
    if let Some(d) = dummy {
        let _ = verify_password(password, d);
    }
}

/// Whether a stored hash was made with weaker parameters than `params` (or another
/// algorithm) and should be replaced at the next successful login.
pub fn needs_rehash(phc: &str, params: PasswordParams) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return true };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    let Ok(stored) = Params::try_from(&parsed) else { return true };
    stored.m_cost() < params.m_kib || stored.t_cost() < params.t || stored.p_cost() < params.p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Secret<String> {
        Secret::new(x.to_owned())
    }

    const FAST: PasswordParams = PasswordParams { m_kib: 1024, t: 1, p: 1 };

    #[test]
    fn hash_records_parameters_and_verifies() {
        let h = hash_password(&s("correct horse battery"), FAST).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{h}");
        assert!(verify_password(&s("correct horse battery"), &h));
        assert!(!verify_password(&s("correct horse batterx"), &h));
        assert!(!verify_password(&s("x"), "not a hash"));
    }

    #[test]
    fn weaker_parameters_need_a_rehash() {
        let h = hash_password(&s("correct horse battery"), FAST).unwrap();
        assert!(!needs_rehash(&h, FAST));
        assert!(needs_rehash(&h, PasswordParams { m_kib: 2048, t: 1, p: 1 }));
        assert!(needs_rehash(&h, PasswordParams { m_kib: 1024, t: 2, p: 1 }));
        assert!(needs_rehash("$pbkdf2$whatever", FAST));
    }

    #[test]
    fn policy_refuses_short_common_and_username_passwords() {
        assert_eq!(check_new_password("short", "kari"), Err(PasswordProblem::TooShort));
        assert_eq!(check_new_password("1qaz2wsx3edc", "kari"), Err(PasswordProblem::Common));
        assert_eq!(check_new_password("Qwertyuiop123", "kari"), Err(PasswordProblem::Common));
        assert_eq!(check_new_password("kari.nordmann-99!", "kari.nordmann"), Err(PasswordProblem::ContainsUsername));
        assert_eq!(check_new_password(&"a".repeat(300), "kari"), Err(PasswordProblem::TooLong));
        // No composition rules: a long passphrase of lowercase words is fine.
        assert_eq!(check_new_password("purple otters juggle quietly", "kari"), Ok(()));
    }
}
