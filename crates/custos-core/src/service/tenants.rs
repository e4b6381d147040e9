//! Tenants and their keys: creation (a fresh tenant key wrapped by the root key) and
//! rotation (a new version for new writes; the rewrap job moves old data forward).

use super::Vault;
use super::audit::{Audit, Caller};
use crate::error::CoreError;
use crate::ids::{TenantCode, ZoneName};
use crate::policy::{Action, Principal};
use crate::store::{StoreError, TenantKeyRow, TenantRow, WriteOp};
use custos_crypto::TenantKey;

/// A tenant as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantView {
    /// Account code.
    pub code: TenantCode,
    /// Zone.
    pub zone: ZoneName,
    /// Current key version.
    pub key_version: u32,
}

impl Vault {
    /// Create a tenant with key version 1 (operator only).
    pub async fn create_tenant(&self, c: &Caller, code: TenantCode, name: &str) -> Result<TenantView, CoreError> {
        let a = self.audit(c, "tenant.create").tenant(&code);
        let r = self.create_tenant_inner(&c.principal, code, name, &a).await;
        self.settle(a, r).await
    }

    async fn create_tenant_inner(
        &self,
        p: &Principal,
        code: TenantCode,
        name: &str,
        a: &Audit,
    ) -> Result<TenantView, CoreError> {
        let keys = self.keys()?;
        p.require_operator()?;
        let name = name.trim();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return Err(CoreError::invalid("name", "1-200 printable characters"));
        }
        let key = TenantKey::generate(1)?;
        let wrapped = keys.root().wrap_tenant_key(&key, self.zone.as_str(), code.as_str())?;
        let now = self.clock.now();
        let row = TenantRow {
            code: code.clone(),
            name: name.to_owned(),
            zone: self.zone.clone(),
            key_version: 1,
            created_at: now,
        };
        let key_row = TenantKeyRow { tenant: code.clone(), version: 1, wrapped: wrapped.0, created_at: now };
        match self.apply_audited(vec![WriteOp::InsertTenant(row), WriteOp::InsertTenantKey(key_row)], a).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(CoreError::Conflict("a tenant with this code exists".into()));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(target: "custos::keys", tenant = %code, "tenant created; root key used to wrap tenant key v1");
        Ok(TenantView { code, zone: self.zone.clone(), key_version: 1 })
    }

    /// A tenant (operator, or the tenant's own principals).
    pub async fn get_tenant(&self, c: &Caller, code: &TenantCode) -> Result<TenantView, CoreError> {
        let a = self.audit(c, "tenant.read").tenant(code);
        let r = async {
            if c.principal.require_operator().is_err() {
                c.principal.authorize(code, Action::ReadSchema)?;
            }
            let t = self.tenant_row(code).await?;
            self.record_read(&a).await?;
            Ok(TenantView { code: t.code, zone: t.zone, key_version: t.key_version })
        }
        .await;
        self.settle(a, r).await
    }

    /// Add a tenant key version; new writes use it at once.
    pub async fn rotate_tenant_key(&self, c: &Caller, code: &TenantCode) -> Result<u32, CoreError> {
        let a = self.audit(c, "tenant.key-rotate").tenant(code);
        let r = self.rotate_inner(&c.principal, code, &a).await;
        self.settle(a, r).await
    }

    async fn rotate_inner(&self, p: &Principal, code: &TenantCode, a: &Audit) -> Result<u32, CoreError> {
        let ctx = self.ctx(p, code, Action::RotateKeys).await?;
        // Read the current version from the store, not the cache: rotation must not race.
        let current = self.store.get_tenant(code).await?.ok_or(CoreError::NotFound("tenant"))?.key_version;
        let next = current.checked_add(1).ok_or(CoreError::Conflict("key version space exhausted".into()))?;
        let key = TenantKey::generate(next)?;
        let wrapped = ctx.keys.root().wrap_tenant_key(&key, self.zone.as_str(), code.as_str())?;
        let row =
            TenantKeyRow { tenant: code.clone(), version: next, wrapped: wrapped.0, created_at: self.clock.now() };
        match self.apply_audited(vec![WriteOp::InsertTenantKey(row)], a).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(CoreError::Conflict("a concurrent rotation won; retry".into()));
            }
            Err(e) => return Err(e.into()),
        }
        ctx.keys.put_tenant_key(code, key)?;
        self.forget_tenant(code);
        self.rewrap_wanted.notify_one();
        tracing::info!(target: "custos::keys", tenant = %code, version = next, "tenant key rotated; root key used");
        Ok(next)
    }
}
