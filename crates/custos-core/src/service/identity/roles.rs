//! Custom roles: a tenant names its own sets of permissions beside the built-in roles.
//! Defining one needs `users:manage` and only permissions the caller holds.

use super::super::Vault;
use super::super::audit::Caller;
use crate::error::CoreError;
use crate::ids::TenantCode;
use crate::policy::{Action, BUILTIN_ROLES, Permission, Permissions, Principal, RoleName};
use crate::store::{IdentityOp, RoleRow, WriteOp};

/// A role and its permissions.
#[derive(Debug, Clone)]
pub struct RoleView {
    /// Name.
    pub name: String,
    /// Built in or the tenant's own.
    pub builtin: bool,
    /// Permissions.
    pub permissions: Permissions,
}

impl Vault {
    /// Built-in and custom roles of a tenant.
    pub async fn list_roles(&self, c: &Caller, code: &TenantCode) -> Result<Vec<RoleView>, CoreError> {
        let a = self.audit(c, "role.list").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ManageUsers).await?;
            let mut out: Vec<RoleView> = BUILTIN_ROLES
                .iter()
                .map(|(n, p)| RoleView { name: (*n).to_owned(), builtin: true, permissions: Permissions::of(p) })
                .collect();
            for row in self.store.roles(code).await? {
                out.push(RoleView { name: row.name.to_string(), builtin: false, permissions: row.permissions });
            }
            self.record_read(&a).await?;
            Ok(out)
        }
        .await;
        self.settle(a, r).await
    }

    /// Create or replace a custom role.
    pub async fn put_role(
        &self,
        c: &Caller,
        code: &TenantCode,
        name: &RoleName,
        permissions: &[Permission],
    ) -> Result<RoleView, CoreError> {
        let mut a = self.audit(c, "role.put").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ManageUsers).await?;
            if name.builtin().is_some() {
                return Err(CoreError::Conflict(format!("{name} is a built-in role")));
            }
            let perms = Permissions::of(permissions);
            if let Principal::Member { permissions: held, .. } = &c.principal
                && perms.iter().any(|p| !held.has(p))
            {
                return Err(CoreError::Forbidden("cannot grant permissions the caller does not hold"));
            }
            a.set_reason(format!("role={name} permissions={}", perms.names().join(",")));
            let row = RoleRow { tenant: code.clone(), name: name.clone(), permissions: perms, updated_at: self.now() };
            self.apply_audited(vec![WriteOp::Identity(IdentityOp::PutRole(row))], &a).await?;
            Ok(RoleView { name: name.to_string(), builtin: false, permissions: perms })
        }
        .await;
        self.settle(a, r).await
    }

    /// Delete a custom role; its holders lose its permissions at once.
    pub async fn delete_role(&self, c: &Caller, code: &TenantCode, name: &RoleName) -> Result<(), CoreError> {
        let mut a = self.audit(c, "role.delete").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ManageUsers).await?;
            a.set_reason(format!("role={name}"));
            let op = IdentityOp::DeleteRole { tenant: code.clone(), name: name.clone() };
            self.apply_audited(vec![WriteOp::Identity(op)], &a).await?;
            Ok(())
        }
        .await;
        self.settle(a, r).await
    }
}
