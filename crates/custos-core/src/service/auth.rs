//! Bearer-token authentication: operator tokens (`cop_`), API keys (`ck_`) and staff
//! sessions (`cs_`), each stored only as a SHA-256 hash. API keys are cached for a
//! moment (revocation on this node clears the cache at once); sessions are checked
//! against the store on every request.

use super::audit::Caller;
use super::{CACHE_TTL_MS, Vault};
use crate::audit::RequestMeta;
use crate::error::CoreError;
use crate::keyring::{read, write};
use crate::policy::{MemberKind, Principal};
use crate::store::{IdentityOp, WriteOp};
use custos_crypto::TokenHash;

/// Last use of an API key is written back at most this often.
const KEY_TOUCH_MS: i64 = 60_000;

impl Vault {
    /// Resolve a bearer token to a caller. Unknown, expired or revoked:
    /// `Unauthenticated`, and the failed attempt is audited.
    pub async fn authenticate(&self, token: &str, meta: &RequestMeta) -> Result<Caller, CoreError> {
        let session = token.starts_with("cs_").then(|| TokenHash::of(token));
        let r = self.resolve_token(token).await;
        match r {
            Ok(principal) => Ok(Caller { principal, meta: meta.clone(), session }),
            Err(e) => self.settle(self.audit_anonymous(meta, "auth.token"), Err(e)).await,
        }
    }

    async fn resolve_token(&self, token: &str) -> Result<Principal, CoreError> {
        if token.is_empty() || token.len() > 256 {
            return Err(CoreError::Unauthenticated);
        }
        let hash = TokenHash::of(token);
        if token.starts_with("cs_") {
            self.keys()?;
            return self.resolve_session(&hash).await;
        }
        let now = self.clock.now();
        if let Some((p, at)) = read(&self.tokens).get(&hash.0)
            && now.0 - at.0 < CACHE_TTL_MS
        {
            return Ok(p.clone());
        }
        let principal = if let Some(op) = self.store.operator_by_hash(&hash).await? {
            Principal::Operator { id: op.id, mfa_pending: false }
        } else if let Some(k) = self.store.api_key_by_hash(&hash).await? {
            if k.expires_at <= now || k.revoked_at.is_some() {
                return Err(CoreError::Unauthenticated);
            }
            if k.last_used_at.is_none_or(|t| now.0 - t.0 >= KEY_TOUCH_MS) {
                let touch = IdentityOp::TouchApiKey { id: k.id.clone(), at: now };
                self.store.apply(vec![WriteOp::Identity(touch)]).await?;
            }
            let permissions = self.permissions_of(&k.tenant, std::slice::from_ref(&k.role)).await?;
            Principal::Member {
                id: k.id.to_string(),
                kind: MemberKind::Service,
                tenant: k.tenant,
                permissions,
                mfa_pending: false,
            }
        } else if let Some(r) = self.store.recipient_by_hash(&hash).await? {
            if r.key_expires_at <= now || r.revoked_at.is_some() {
                return Err(CoreError::Unauthenticated);
            }
            Principal::Member {
                id: r.id.to_string(),
                kind: MemberKind::Recipient,
                tenant: r.tenant,
                permissions: crate::policy::Permissions::NONE,
                mfa_pending: false,
            }
        } else {
            return Err(CoreError::Unauthenticated);
        };
        let mut cache = write(&self.tokens);
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(hash.0, (principal.clone(), now));
        Ok(principal)
    }
}
