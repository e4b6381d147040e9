//! Bearer-token authentication (operator tokens, API keys) and issuing API keys.
//! Keys are shown once and stored as SHA-256 hashes; lookups go by hash.

use super::audit::{Audit, Caller};
use super::{CACHE_TTL_MS, Vault};
use crate::audit::RequestMeta;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::{ApiKeyId, TenantCode};
use crate::keyring::{read, write};
use crate::policy::{Action, Principal, Role};
use crate::store::{ApiKeyRow, WriteOp};
use custos_crypto::{Secret, TokenHash, new_token};

/// Default lifetime of an API key.
pub const DEFAULT_KEY_DAYS: u32 = 90;
/// Longest lifetime of an API key.
pub const MAX_KEY_DAYS: u32 = 730;

/// A request for a new API key.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Label.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Lifetime in days (default 90).
    pub expires_in_days: Option<u32>,
}

/// A new key: the only time its secret is visible.
#[derive(Debug)]
pub struct ApiKeyCreated {
    /// Id.
    pub id: ApiKeyId,
    /// The key itself.
    pub key: Secret<String>,
    /// Role.
    pub role: Role,
    /// Expiry.
    pub expires_at: Timestamp,
}

impl Vault {
    /// Resolve a bearer token to a caller. Unknown or expired: `Unauthenticated`, and
    /// the failed attempt is audited.
    pub async fn authenticate(&self, token: &str, meta: &RequestMeta) -> Result<Caller, CoreError> {
        let r = self.resolve_token(token).await;
        match r {
            Ok(principal) => Ok(Caller { principal, meta: meta.clone() }),
            Err(e) => self.settle(self.audit_anonymous(meta, "auth.token"), Err(e)).await,
        }
    }

    async fn resolve_token(&self, token: &str) -> Result<Principal, CoreError> {
        if token.is_empty() || token.len() > 256 {
            return Err(CoreError::Unauthenticated);
        }
        let hash = TokenHash::of(token);
        let now = self.clock.now();
        if let Some((p, at)) = read(&self.tokens).get(&hash.0)
            && now.0 - at.0 < CACHE_TTL_MS
        {
            return Ok(p.clone());
        }
        let principal = if let Some(op) = self.store.operator_by_hash(&hash).await? {
            Principal::Operator { id: op.id }
        } else if let Some(k) = self.store.api_key_by_hash(&hash).await? {
            if k.expires_at <= now {
                return Err(CoreError::Unauthenticated);
            }
            Principal::Service { key_id: k.id, tenant: k.tenant, role: k.role }
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

    /// Issue an API key for a tenant (operator or tenant admin).
    pub async fn create_api_key(
        &self,
        c: &Caller,
        code: &TenantCode,
        req: NewApiKey,
    ) -> Result<ApiKeyCreated, CoreError> {
        let a = self.audit(c, "apikey.create").tenant(code);
        let r = self.create_api_key_inner(&c.principal, code, req, &a).await;
        self.settle(a, r).await
    }

    async fn create_api_key_inner(
        &self,
        p: &Principal,
        code: &TenantCode,
        req: NewApiKey,
        a: &Audit,
    ) -> Result<ApiKeyCreated, CoreError> {
        p.authorize(code, Action::ManageApiKeys)?;
        self.tenant_row(code).await?;
        let name = req.name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(CoreError::invalid("name", "1-64 printable characters"));
        }
        let days = req.expires_in_days.unwrap_or(DEFAULT_KEY_DAYS);
        if days == 0 || days > MAX_KEY_DAYS {
            return Err(CoreError::invalid("expires_in_days", format!("between 1 and {MAX_KEY_DAYS}")));
        }
        let (key, hash) = new_token("ck")?;
        let now = self.clock.now();
        let row = ApiKeyRow {
            id: ApiKeyId::generate()?,
            tenant: code.clone(),
            name: name.to_owned(),
            role: req.role,
            hash,
            created_at: now,
            expires_at: now.plus_days(i64::from(days)),
        };
        let out = ApiKeyCreated { id: row.id.clone(), key, role: row.role, expires_at: row.expires_at };
        self.apply_audited(vec![WriteOp::InsertApiKey(row)], a).await?;
        Ok(out)
    }
}
