//! API keys of service accounts: issued with a required expiry (default 90 days, a
//! configured maximum), shown once and stored hashed; rotated with an overlap window in
//! which both keys work; revoked at once; last use recorded; reminders before expiry.

use super::super::Vault;
use super::super::audit::{Audit, Caller};
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::{ApiKeyId, TenantCode};
use crate::keyring::write;
use crate::policy::{Action, RoleName};
use crate::store::{ApiKeyRow, IdentityOp, WriteOp};
use custos_crypto::{Secret, new_token};

/// Default lifetime of an API key.
pub const DEFAULT_KEY_DAYS: u32 = 90;
/// Longest rotation overlap.
const MAX_OVERLAP_HOURS: u32 = 720;

/// A request for a new API key.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Label.
    pub name: String,
    /// Role.
    pub role: RoleName,
    /// Lifetime in days (default from the configuration).
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
    pub role: RoleName,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// A key as listed (never its secret).
#[derive(Debug, Clone)]
pub struct ApiKeyView {
    /// Id.
    pub id: ApiKeyId,
    /// Label.
    pub name: String,
    /// Role.
    pub role: RoleName,
    /// Created.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Revoked.
    pub revoked_at: Option<Timestamp>,
    /// Last use.
    pub last_used_at: Option<Timestamp>,
}

/// A key whose expiry is near, for the reminder alert.
#[derive(Debug, Clone)]
pub struct ExpiringKey {
    /// Tenant.
    pub tenant: TenantCode,
    /// Id.
    pub id: ApiKeyId,
    /// Label.
    pub name: String,
    /// Expiry.
    pub expires_at: Timestamp,
}

impl From<&ApiKeyRow> for ApiKeyView {
    fn from(k: &ApiKeyRow) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            role: k.role.clone(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            last_used_at: k.last_used_at,
        }
    }
}

impl Vault {
    /// Issue an API key for a tenant (operator or `keys:manage`).
    pub async fn create_api_key(
        &self,
        c: &Caller,
        code: &TenantCode,
        req: NewApiKey,
    ) -> Result<ApiKeyCreated, CoreError> {
        let mut a = self.audit(c, "apikey.create").tenant(code);
        let r = async {
            c.principal.authorize(code, Action::ManageApiKeys)?;
            self.tenant_row(code).await?;
            self.ensure_can_grant(c, code, std::slice::from_ref(&req.role)).await?;
            let name = req.name.trim();
            if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                return Err(CoreError::invalid("name", "1-64 printable characters"));
            }
            let cfg = self.identity_config();
            let days = req.expires_in_days.unwrap_or(cfg.default_key_days);
            if days == 0 || days > cfg.max_key_days {
                return Err(CoreError::invalid("expires_in_days", format!("between 1 and {}", cfg.max_key_days)));
            }
            let (created, row) = self.new_key_row(code, name, req.role, days)?;
            a.set_reason(format!("key={} role={}", row.id, row.role));
            self.apply_audited(vec![WriteOp::InsertApiKey(row)], &a).await?;
            Ok(created)
        }
        .await;
        self.settle(a, r).await
    }

    fn new_key_row(
        &self,
        code: &TenantCode,
        name: &str,
        role: RoleName,
        days: u32,
    ) -> Result<(ApiKeyCreated, ApiKeyRow), CoreError> {
        let (key, hash) = new_token("ck")?;
        let now = self.now();
        let row = ApiKeyRow {
            id: ApiKeyId::generate()?,
            tenant: code.clone(),
            name: name.to_owned(),
            role,
            hash,
            created_at: now,
            expires_at: now.plus_days(i64::from(days)),
            revoked_at: None,
            last_used_at: None,
        };
        Ok((ApiKeyCreated { id: row.id.clone(), key, role: row.role.clone(), expires_at: row.expires_at }, row))
    }

    /// A tenant's API keys.
    pub async fn list_api_keys(&self, c: &Caller, code: &TenantCode) -> Result<Vec<ApiKeyView>, CoreError> {
        let mut a = self.audit(c, "apikey.list").tenant(code);
        let r = async {
            c.principal.authorize(code, Action::ManageApiKeys)?;
            self.tenant_row(code).await?;
            let keys = self.store.api_keys(code).await?;
            a.set_count(keys.len());
            self.record_read(&a).await?;
            Ok(keys.iter().map(ApiKeyView::from).collect())
        }
        .await;
        self.settle(a, r).await
    }

    async fn key_in(&self, c: &Caller, code: &TenantCode, id: &ApiKeyId) -> Result<ApiKeyRow, CoreError> {
        c.principal.authorize(code, Action::ManageApiKeys)?;
        self.tenant_row(code).await?;
        let k = self.store.api_key(id).await?.filter(|k| &k.tenant == code).ok_or(CoreError::NotFound("api key"))?;
        if k.revoked_at.is_some() {
            return Err(CoreError::Conflict("the key is revoked".into()));
        }
        Ok(k)
    }

    /// Rotate: a new key with the same name and role, and the old one valid for
    /// `overlap_hours` more (never longer than it was).
    pub async fn rotate_api_key(
        &self,
        c: &Caller,
        code: &TenantCode,
        id: &ApiKeyId,
        overlap_hours: Option<u32>,
        expires_in_days: Option<u32>,
    ) -> Result<ApiKeyCreated, CoreError> {
        let mut a = self.audit(c, "apikey.rotate").tenant(code);
        let r = async {
            let old = self.key_in(c, code, id).await?;
            let overlap = overlap_hours.unwrap_or(24);
            if overlap > MAX_OVERLAP_HOURS {
                return Err(CoreError::invalid("overlap_hours", format!("at most {MAX_OVERLAP_HOURS}")));
            }
            let cfg = self.identity_config();
            let days = expires_in_days.unwrap_or(cfg.default_key_days);
            if days == 0 || days > cfg.max_key_days {
                return Err(CoreError::invalid("expires_in_days", format!("between 1 and {}", cfg.max_key_days)));
            }
            let (created, row) = self.new_key_row(code, &old.name, old.role.clone(), days)?;
            let until = Timestamp(self.now().0 + i64::from(overlap) * 3_600_000);
            a.set_reason(format!("key={} replaced_by={} overlap_hours={overlap}", old.id, row.id));
            let ops = vec![
                WriteOp::InsertApiKey(row),
                WriteOp::Identity(IdentityOp::ExpireApiKeyBy { id: old.id.clone(), at: until }),
            ];
            self.apply_audited(ops, &a).await?;
            self.forget_token(&old);
            Ok(created)
        }
        .await;
        self.settle(a, r).await
    }

    /// Revoke at once.
    pub async fn revoke_api_key(&self, c: &Caller, code: &TenantCode, id: &ApiKeyId) -> Result<(), CoreError> {
        let mut a = self.audit(c, "apikey.revoke").tenant(code);
        let r = async {
            let k = self.key_in(c, code, id).await?;
            a.set_reason(format!("key={}", k.id));
            self.apply_audited(
                vec![WriteOp::Identity(IdentityOp::RevokeApiKey { id: k.id.clone(), at: self.now() })],
                &a,
            )
            .await?;
            self.forget_token(&k);
            Ok(())
        }
        .await;
        self.settle(a, r).await
    }

    /// The op that revokes a key now (an access review's change).
    pub(crate) fn revoke_key_ops(&self, k: &ApiKeyRow) -> WriteOp {
        WriteOp::Identity(IdentityOp::RevokeApiKey { id: k.id.clone(), at: self.now() })
    }

    pub(crate) fn forget_token(&self, k: &ApiKeyRow) {
        write(&self.tokens).remove(&k.hash.0);
    }

    /// Keys expiring within `days` whose reminder is due: each is marked reminded and
    /// audited, and returned for the alert.
    pub async fn api_key_reminders(&self, days: i64) -> Result<Vec<ExpiringKey>, CoreError> {
        let before = self.now().plus_days(days);
        let keys = self.store.api_keys_expiring(before).await?;
        let mut out = Vec::new();
        for k in keys {
            let mut a: Audit = self.audit_system("apikey.expiry_reminder").tenant(&k.tenant);
            a.set_reason(format!("key={} expires_at={}", k.id, k.expires_at.to_rfc3339()));
            let op = WriteOp::Identity(IdentityOp::RemindApiKey { id: k.id.clone(), at: self.now() });
            self.apply_audited(vec![op], &a).await?;
            out.push(ExpiringKey { tenant: k.tenant, id: k.id, name: k.name, expires_at: k.expires_at });
        }
        Ok(out)
    }
}
