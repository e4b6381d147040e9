//! Sessions: 256-bit random ids, stored as SHA-256 hashes, checked on every request
//! against the store (idle and absolute timeouts, the user still enabled, its roles as
//! they are now). The check never touches the password hash.

use super::super::Vault;
use super::super::audit::Caller;
use crate::error::CoreError;
use crate::policy::{MemberKind, Principal};
use crate::store::{IdentityOp, SessionRow, UserRow, WriteOp};
use custos_crypto::{TokenHash, new_token};

use super::SessionCreated;

/// Prefix of session ids.
const SESSION_PREFIX: &str = "cs";

/// Activity is written back at most this often per session.
const TOUCH_EVERY_MS: i64 = 60_000;

impl Vault {
    /// Create a session row for `user` (added to `ops`) and return its id.
    pub(crate) async fn start_session(
        &self,
        user: &UserRow,
        mfa: bool,
        ops: &mut Vec<WriteOp>,
    ) -> Result<SessionCreated, CoreError> {
        let cfg = self.identity_config();
        let now = self.now();
        let (token, hash) = new_token(SESSION_PREFIX)?;
        let expires_at = crate::clock::Timestamp(now.0 + cfg.session_absolute_ms);
        ops.push(WriteOp::Identity(IdentityOp::InsertSession(SessionRow {
            hash,
            user: user.id.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            mfa,
        })));
        ops.push(WriteOp::Identity(IdentityOp::TouchLogin { id: user.id.clone(), at: now }));
        let principal = self.principal_of(user, mfa).await?;
        Ok(SessionCreated { token, expires_at, mfa_enrolment_required: principal.mfa_pending() })
    }

    /// The principal a user's session stands for.
    pub(crate) async fn principal_of(&self, user: &UserRow, session_mfa: bool) -> Result<Principal, CoreError> {
        Ok(match &user.tenant {
            None => Principal::Operator { id: user.id.to_string(), mfa_pending: !session_mfa },
            Some(t) => {
                let permissions = self.permissions_of(t, &user.roles).await?;
                Principal::Member {
                    id: user.id.to_string(),
                    kind: MemberKind::User,
                    tenant: t.clone(),
                    permissions,
                    mfa_pending: permissions.is_privileged() && !session_mfa,
                }
            }
        })
    }

    /// Resolve a session id (no audit; the caller audits failures).
    pub(crate) async fn resolve_session(&self, hash: &TokenHash) -> Result<Principal, CoreError> {
        let cfg = self.identity_config();
        let now = self.now();
        let s = self.store.session(hash).await?.ok_or(CoreError::Unauthenticated)?;
        if now >= s.expires_at || now.0 - s.last_seen_at.0 >= cfg.session_idle_ms {
            self.store.apply(vec![WriteOp::Identity(IdentityOp::RevokeSession { hash: hash.clone() })]).await?;
            return Err(CoreError::Unauthenticated);
        }
        let user = self.store.user(&s.user).await?.ok_or(CoreError::Unauthenticated)?;
        if user.disabled {
            return Err(CoreError::Unauthenticated);
        }
        if now.0 - s.last_seen_at.0 >= TOUCH_EVERY_MS {
            self.store.apply(vec![WriteOp::Identity(IdentityOp::TouchSession { hash: hash.clone(), at: now })]).await?;
        }
        self.principal_of(&user, s.mfa).await
    }

    /// End the caller's session.
    pub async fn logout(&self, c: &Caller) -> Result<(), CoreError> {
        let a = self.audit_own_tenant(c, "auth.logout");
        let r = async {
            let hash = c.session.clone().ok_or(CoreError::invalid("session", "only a session can log out"))?;
            self.apply_audited(vec![WriteOp::Identity(IdentityOp::RevokeSession { hash })], &a).await?;
            Ok(())
        }
        .await;
        self.settle(a, r).await
    }
}
