//! Staff identity: users and operators, password logins with throttling, sessions,
//! TOTP, password reset and invites, custom roles, API-key lifecycle, access reviews
//! and OpenID Connect sign-in. Personal values (usernames, emails) are sealed under
//! per-tenant identity keys and found again through keyed lookups; secrets are stored
//! only as hashes.

mod api_keys;
mod login;
mod mfa;
mod reset;
mod review;
mod roles;
mod sessions;
mod sso;
mod users;

pub use api_keys::{ApiKeyCreated, ApiKeyView, DEFAULT_KEY_DAYS, ExpiringKey, NewApiKey};
pub use login::{LoginRequest, SessionCreated};
pub use mfa::{MfaConfirmed, TotpEnrolment};
pub use reset::OutgoingMail;
pub use review::{AccessReview, ConfirmReview, PrincipalReview, ReviewConfirmed};
pub use roles::RoleView;
pub use sso::{OidcSettings, OidcStart, SsoIdentity};
pub use users::{NewUser, UserChange, UserView};

use super::Vault;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::{TenantCode, UserId};
use crate::policy::{Permissions, RoleName};
use crate::store::{ThrottlePolicy, UserRow};
use custos_crypto::{FieldAad, IdentityKeys, KeyScope, PasswordParams, Secret};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// Identity settings (`[auth]` in the configuration file).
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// A session ends after this long without a request.
    pub session_idle_ms: i64,
    /// A session ends this long after login, whatever its use.
    pub session_absolute_ms: i64,
    /// Argon2id cost for new hashes; weaker stored hashes are upgraded at login.
    pub password_params: PasswordParams,
    /// Password reset tokens last this long.
    pub reset_ms: i64,
    /// Invitation tokens last this long.
    pub invite_ms: i64,
    /// API keys: lifetime when none is asked for.
    pub default_key_days: u32,
    /// API keys: longest lifetime.
    pub max_key_days: u32,
    /// Access reviews are due this often.
    pub review_days: i64,
    /// Per account: failed logins before locking, and the lock's growth.
    pub account_throttle: ThrottlePolicy,
    /// Per source address: failed logins before locking, and the lock's growth.
    pub source_throttle: ThrottlePolicy,
    /// Console address used in emailed links (`https://host:port`).
    pub public_url: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            session_idle_ms: 30 * 60_000,
            session_absolute_ms: 12 * 3_600_000,
            password_params: PasswordParams::default(),
            reset_ms: 30 * 60_000,
            invite_ms: 72 * 3_600_000,
            default_key_days: DEFAULT_KEY_DAYS,
            max_key_days: 365,
            review_days: 90,
            account_throttle: ThrottlePolicy { free: 5, base_ms: 30_000, max_ms: 3_600_000, window_ms: 86_400_000 },
            source_throttle: ThrottlePolicy { free: 20, base_ms: 10_000, max_ms: 3_600_000, window_ms: 3_600_000 },
            public_url: "https://localhost:8443".into(),
        }
    }
}

/// The sealed part of a user: what identifies the person.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct Profile {
    pub(crate) username: Option<String>,
    pub(crate) email: Option<String>,
}

impl Drop for Profile {
    fn drop(&mut self) {
        self.username.zeroize();
        self.email.zeroize();
    }
}

/// Scope name of identity keys: a tenant code, or `sys` for operators.
pub(crate) fn scope(tenant: Option<&TenantCode>) -> &str {
    tenant.map_or("sys", |t| t.as_str())
}

/// Usernames compare case-insensitively, without surrounding space.
pub(crate) fn normalise_login(s: &str) -> String {
    s.trim().to_lowercase()
}

pub(crate) fn validate_username(s: &str) -> Result<String, CoreError> {
    let n = normalise_login(s);
    if n.is_empty() || n.len() > 128 || n.chars().any(char::is_control) {
        return Err(CoreError::invalid("username", "1-128 printable characters"));
    }
    Ok(n)
}

pub(crate) fn validate_email(s: &str) -> Result<String, CoreError> {
    let n = s.trim().to_lowercase();
    let ok = n.len() <= 254
        && n.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !n.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(n) } else { Err(CoreError::invalid("email", "an email address")) }
}

impl Vault {
    /// Replace the identity settings (at start-up, from the configuration).
    pub fn set_identity_config(&self, cfg: IdentityConfig) {
        *crate::keyring::write(&self.identity) = cfg;
    }

    /// The public address used in links and the OpenID Connect redirect.
    pub fn public_url(&self) -> String {
        crate::keyring::read(&self.identity).public_url.trim_end_matches('/').to_owned()
    }

    pub(crate) fn identity_config(&self) -> IdentityConfig {
        crate::keyring::read(&self.identity).clone()
    }

    pub(crate) fn identity_keys(&self, tenant: Option<&TenantCode>) -> Result<IdentityKeys, CoreError> {
        Ok(self.keys()?.root().identity_keys(scope(tenant))?)
    }

    pub(crate) fn open_profile(&self, ik: &IdentityKeys, user: &UserRow) -> Result<Profile, CoreError> {
        let aad = profile_aad(user.tenant.as_ref(), &user.id, "profile");
        let plain = ik.seal_key().open_field(&user.profile, &aad)?;
        serde_json::from_slice(&plain).map_err(|_| CoreError::Integrity)
    }

    /// Effective permissions of a set of roles in a tenant: built-in roles from the
    /// table, custom ones from the store; unknown names grant nothing.
    pub(crate) async fn permissions_of(
        &self,
        tenant: &TenantCode,
        roles: &[RoleName],
    ) -> Result<Permissions, CoreError> {
        let mut perms = Permissions::NONE;
        let mut custom = None;
        for r in roles {
            if let Some(p) = r.builtin() {
                perms = perms.union(p);
                continue;
            }
            if custom.is_none() {
                custom = Some(self.store.roles(tenant).await?);
            }
            if let Some(row) = custom.as_ref().and_then(|c| c.iter().find(|row| &row.name == r)) {
                perms = perms.union(row.permissions);
            }
        }
        Ok(perms)
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

pub(crate) fn profile_aad<'a>(tenant: Option<&'a TenantCode>, id: &'a UserId, what: &'a str) -> FieldAad<'a> {
    FieldAad {
        tenant: scope(tenant),
        collection: "_staff",
        record: id.as_str(),
        field: what,
        scope: KeyScope::Tenant(0),
    }
}

pub(crate) fn seal_profile(
    ik: &IdentityKeys,
    tenant: Option<&TenantCode>,
    id: &UserId,
    p: &Profile,
) -> Result<custos_crypto::Sealed, CoreError> {
    let plain = Secret::new(serde_json::to_vec(p).map_err(|_| CoreError::Integrity)?);
    Ok(ik.seal_key().seal_field(plain.expose(), &profile_aad(tenant, id, "profile"))?)
}
