//! The storage side of staff identity: users, sessions, recovery codes, reset tokens,
//! custom roles, OpenID Connect settings and pending logins, access reviews, API-key
//! lifecycle, and the login throttle. Every personal value arrives sealed or as a keyed
//! lookup MAC; secrets (session ids, tokens, recovery codes) arrive as hashes.

use super::StoreError;
use crate::clock::Timestamp;
use crate::ids::{ApiKeyId, TenantCode, UserId};
use crate::policy::{Permissions, RoleName};
use async_trait::async_trait;
use custos_crypto::{Sealed, TokenHash};

/// A staff user (of a tenant, or an operator when `tenant` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Id.
    pub id: UserId,
    /// Tenant; `None` for operators.
    pub tenant: Option<TenantCode>,
    /// Keyed lookup of the username (or of the SSO issuer and subject).
    pub login_mac: [u8; 32],
    /// Keyed lookup of the email address, if one is known.
    pub email_mac: Option<[u8; 32]>,
    /// Sealed profile (username, email).
    pub profile: Sealed,
    /// Argon2id PHC string (parameters included); `None` for SSO-only and invited users.
    pub password: Option<String>,
    /// Roles.
    pub roles: Vec<RoleName>,
    /// Sealed TOTP secret (pending until `totp_enabled`).
    pub totp: Option<Sealed>,
    /// Whether MFA is set up.
    pub totp_enabled: bool,
    /// Last TOTP step accepted (a code is usable once).
    pub totp_last_step: i64,
    /// Disabled users cannot sign in; their sessions stop working.
    pub disabled: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last successful login.
    pub last_login_at: Option<Timestamp>,
}

/// A session: the hash of its id, never the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 of the session id.
    pub hash: TokenHash,
    /// Its user.
    pub user: UserId,
    /// Created.
    pub created_at: Timestamp,
    /// Last request (for the idle timeout).
    pub last_seen_at: Timestamp,
    /// Absolute end.
    pub expires_at: Timestamp,
    /// Whether the second factor was given (or the user has none to give).
    pub mfa: bool,
}

/// What a single-use emailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Forgotten password.
    Reset,
    /// First password of an invited user.
    Invite,
}

impl TokenPurpose {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Reset => "reset",
            TokenPurpose::Invite => "invite",
        }
    }

    /// Parse stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reset" => Some(TokenPurpose::Reset),
            "invite" => Some(TokenPurpose::Invite),
            _ => None,
        }
    }
}

/// A single-use password token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetTokenRow {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// Its user.
    pub user: UserId,
    /// Reset or invite.
    pub purpose: TokenPurpose,
    /// Created.
    pub created_at: Timestamp,
    /// End of validity.
    pub expires_at: Timestamp,
}

/// A tenant's custom role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    /// Tenant.
    pub tenant: TenantCode,
    /// Name (never a built-in one).
    pub name: RoleName,
    /// Permissions.
    pub permissions: Permissions,
    /// Created or last changed.
    pub updated_at: Timestamp,
}

/// A tenant's OpenID Connect settings: JSON without the secret, and the sealed secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfigRow {
    /// Tenant.
    pub tenant: TenantCode,
    /// Issuer, client id, scopes, default role, profile choice (JSON).
    pub settings_json: String,
    /// Sealed client secret.
    pub client_secret: Sealed,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A login started at a provider and not yet finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcPendingRow {
    /// SHA-256 of the `state` value.
    pub state_hash: TokenHash,
    /// Tenant.
    pub tenant: TenantCode,
    /// Sealed PKCE verifier and nonce (JSON).
    pub secrets: Sealed,
    /// Started.
    pub created_at: Timestamp,
    /// Expires.
    pub expires_at: Timestamp,
}

/// A confirmed access review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessReviewRow {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant: TenantCode,
    /// Who confirmed it (principal id).
    pub reviewer: String,
    /// When.
    pub at: Timestamp,
    /// What was reviewed and changed (JSON; ids and roles only).
    pub summary_json: String,
}

/// How fast a throttle key locks: `free` failures are allowed, then each further one
/// locks the key for `base_ms`, doubling up to `max_ms`. Failures older than
/// `window_ms` are forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures before the first lock.
    pub free: u32,
    /// First lock.
    pub base_ms: i64,
    /// Longest lock.
    pub max_ms: i64,
    /// Memory of the counter.
    pub window_ms: i64,
}

/// A throttle key's counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleState {
    /// Attempts counted as failures (an attempt counts from the moment it is let in).
    pub failures: u32,
    /// Locked until (ms).
    pub locked_until: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl ThrottlePolicy {
    /// Take back one attempt that succeeded: one failure less, and no lock unless the
    /// remaining failures still call for one.
    pub fn forgive(&self, st: ThrottleState) -> ThrottleState {
        let failures = st.failures.saturating_sub(1);
        let locked_until = if failures >= self.free { st.locked_until } else { 0 };
        ThrottleState { failures, locked_until, updated_at: st.updated_at }
    }

    /// Let one attempt in, counting it as a failure until it succeeds: the new state,
    /// or the time the key is locked until. Backends call this inside the transaction
    /// that reads and writes the counter, so parallel attempts cannot all slip in.
    pub fn admit(&self, st: ThrottleState, now: Timestamp) -> Result<ThrottleState, Timestamp> {
        if now.0 < st.locked_until {
            return Err(Timestamp(st.locked_until));
        }
        let failures = if now.0 - st.updated_at > self.window_ms { 0 } else { st.failures };
        let failures = failures.saturating_add(1);
        let locked_until = if failures >= self.free {
            let doublings = (failures - self.free).min(30);
            now.0 + self.base_ms.saturating_mul(1i64 << doublings).min(self.max_ms)
        } else {
            0
        };
        Ok(ThrottleState { failures, locked_until, updated_at: now.0 })
    }
}

/// One change to identity state (part of a [`super::WriteOp`] set).
#[derive(Debug, Clone)]
pub enum IdentityOp {
    /// Add a user (conflict if the login exists in the tenant).
    InsertUser(Box<UserRow>),
    /// Replace a user's roles.
    SetUserRoles {
        /// User.
        id: UserId,
        /// New roles.
        roles: Vec<RoleName>,
    },
    /// Disable or enable a user.
    SetUserDisabled {
        /// User.
        id: UserId,
        /// Disabled.
        disabled: bool,
    },
    /// Replace a user's password hash.
    SetPassword {
        /// User.
        id: UserId,
        /// PHC string.
        phc: String,
    },
    /// Set or clear the TOTP secret.
    SetTotp {
        /// User.
        id: UserId,
        /// Sealed secret.
        secret: Option<Sealed>,
        /// Enabled.
        enabled: bool,
    },
    /// Accept a TOTP step: stale if this or a later step was already used.
    UseTotpStep {
        /// User.
        id: UserId,
        /// Step.
        step: i64,
    },
    /// Record a successful login.
    TouchLogin {
        /// User.
        id: UserId,
        /// When.
        at: Timestamp,
    },
    /// Delete a user with its sessions, codes and tokens (not found if absent).
    DeleteUser {
        /// User.
        id: UserId,
    },
    /// Replace a user's recovery codes (hashes).
    ReplaceRecoveryCodes {
        /// User.
        user: UserId,
        /// Hashes.
        hashes: Vec<TokenHash>,
    },
    /// Spend a recovery code (not found if unknown or spent).
    UseRecoveryCode {
        /// User.
        user: UserId,
        /// Hash.
        hash: TokenHash,
        /// When.
        at: Timestamp,
    },
    /// Start a session.
    InsertSession(SessionRow),
    /// Note activity on a session.
    TouchSession {
        /// Session hash.
        hash: TokenHash,
        /// When.
        at: Timestamp,
    },
    /// Mark a session's second factor given.
    SetSessionMfa {
        /// Session hash.
        hash: TokenHash,
    },
    /// End a session.
    RevokeSession {
        /// Session hash.
        hash: TokenHash,
    },
    /// End every session of a user.
    RevokeUserSessions {
        /// User.
        user: UserId,
    },
    /// Let an attempt in on every key, or fail with `Locked` and change nothing.
    ThrottleAdmit {
        /// Keys with their policies.
        keys: Vec<([u8; 32], ThrottlePolicy)>,
        /// Now.
        now: Timestamp,
    },
    /// Take back one counted attempt that succeeded (and the lock it caused).
    ThrottleForgive {
        /// Key.
        key: [u8; 32],
        /// Its policy.
        policy: ThrottlePolicy,
    },
    /// Forget a key's failures (after a success).
    ThrottleClear {
        /// Key.
        key: [u8; 32],
    },
    /// Add a password token.
    InsertResetToken(ResetTokenRow),
    /// Spend a password token (not found if unknown, spent or expired); the user's
    /// other tokens are spent with it.
    UseResetToken {
        /// Hash.
        hash: TokenHash,
        /// When.
        at: Timestamp,
    },
    /// Create or replace a custom role.
    PutRole(RoleRow),
    /// Delete a custom role (not found if absent).
    DeleteRole {
        /// Tenant.
        tenant: TenantCode,
        /// Name.
        name: RoleName,
    },
    /// Create or replace a tenant's OpenID Connect settings.
    PutOidcConfig(OidcConfigRow),
    /// Remember a started provider login.
    InsertOidcPending(OidcPendingRow),
    /// Take a started login (not found if unknown, taken or expired).
    TakeOidcPending {
        /// State hash.
        state_hash: TokenHash,
        /// When.
        at: Timestamp,
    },
    /// Record a confirmed access review.
    InsertAccessReview(AccessReviewRow),
    /// Revoke an API key now (not found if absent or already revoked).
    RevokeApiKey {
        /// Key.
        id: ApiKeyId,
        /// When.
        at: Timestamp,
    },
    /// Bring an API key's expiry forward (rotation overlap); never extends it.
    ExpireApiKeyBy {
        /// Key.
        id: ApiKeyId,
        /// Latest expiry.
        at: Timestamp,
    },
    /// Record an API key's use.
    TouchApiKey {
        /// Key.
        id: ApiKeyId,
        /// When.
        at: Timestamp,
    },
    /// Record that the expiry reminder for a key was raised.
    RemindApiKey {
        /// Key.
        id: ApiKeyId,
        /// When.
        at: Timestamp,
    },
}

/// Identity reads.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// A user.
    async fn user(&self, id: &UserId) -> Result<Option<UserRow>, StoreError>;
    /// A user by login MAC within a tenant (`None`: operators).
    async fn user_by_login(&self, tenant: Option<&TenantCode>, mac: &[u8; 32]) -> Result<Option<UserRow>, StoreError>;
    /// A user by email MAC within a tenant (`None`: operators).
    async fn user_by_email(&self, tenant: Option<&TenantCode>, mac: &[u8; 32]) -> Result<Option<UserRow>, StoreError>;
    /// Every user of a tenant (`None`: operators), by id.
    async fn users(&self, tenant: Option<&TenantCode>) -> Result<Vec<UserRow>, StoreError>;
    /// A session by hash.
    async fn session(&self, hash: &TokenHash) -> Result<Option<SessionRow>, StoreError>;
    /// A password token by hash.
    async fn reset_token(&self, hash: &TokenHash) -> Result<Option<ResetTokenRow>, StoreError>;
    /// A tenant's custom roles, by name.
    async fn roles(&self, tenant: &TenantCode) -> Result<Vec<RoleRow>, StoreError>;
    /// A tenant's OpenID Connect settings.
    async fn oidc_config(&self, tenant: &TenantCode) -> Result<Option<OidcConfigRow>, StoreError>;
    /// A started provider login.
    async fn oidc_pending(&self, state_hash: &TokenHash) -> Result<Option<OidcPendingRow>, StoreError>;
    /// A tenant's newest access review.
    async fn last_access_review(&self, tenant: &TenantCode) -> Result<Option<AccessReviewRow>, StoreError>;
    /// A tenant's API keys, by id.
    async fn api_keys(&self, tenant: &TenantCode) -> Result<Vec<super::ApiKeyRow>, StoreError>;
    /// One API key.
    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<super::ApiKeyRow>, StoreError>;
    /// Live API keys expiring before `before` whose reminder has not been raised.
    async fn api_keys_expiring(&self, before: Timestamp) -> Result<Vec<super::ApiKeyRow>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ThrottlePolicy = ThrottlePolicy { free: 3, base_ms: 1_000, max_ms: 8_000, window_ms: 60_000 };

    #[test]
    fn throttle_locks_after_free_attempts_and_doubles() {
        let mut st = ThrottleState::default();
        let t = Timestamp(1_000_000);
        st = P.admit(st, t).unwrap();
        st = P.admit(st, t).unwrap();
        assert_eq!(st.locked_until, 0);
        st = P.admit(st, t).unwrap();
        assert_eq!(st.locked_until, t.0 + 1_000);
        assert_eq!(P.admit(st, t), Err(Timestamp(t.0 + 1_000)));
        let t2 = Timestamp(t.0 + 1_000);
        st = P.admit(st, t2).unwrap();
        assert_eq!(st.locked_until, t2.0 + 2_000);
        for _ in 0..10 {
            let at = Timestamp(st.locked_until);
            st = P.admit(st, at).unwrap();
        }
        assert_eq!(st.locked_until - st.updated_at, 8_000, "capped");
        // Long quiet: forgotten.
        let later = Timestamp(st.locked_until + 60_001);
        assert_eq!(P.admit(st, later).unwrap().failures, 1);
    }
}
