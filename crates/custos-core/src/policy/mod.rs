//! Who may do what: principals, permissions and roles. Least privilege: a principal holds
//! only its roles' permissions, a principal of one tenant cannot even learn that another
//! tenant's resources exist (404, not 403), and a privileged staff user who has not yet
//! enrolled in MFA can do nothing but enrol.

mod permissions;
mod roles;

pub use permissions::{Permission, Permissions};
pub use roles::{BUILTIN_ROLES, RoleName, builtin_permissions};

use crate::CoreError;
use crate::ids::TenantCode;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create tenants, list them (operators only).
    ManageTenants,
    /// Rotate a tenant's key.
    RotateKeys,
    /// Issue, rotate, revoke API keys.
    ManageApiKeys,
    /// Create or change collection schemas.
    ManageCollections,
    /// Read schemas.
    ReadSchema,
    /// Create subjects.
    CreateSubject,
    /// Create, change, delete records.
    WriteRecords,
    /// Read records (personal data additionally needs a purpose).
    ReadRecords,
    /// Read the audit trail.
    ReadAudit,
    /// Manage staff users and custom roles.
    ManageUsers,
    /// List principals and confirm access reviews.
    ReviewAccess,
    /// Re-identify subjects.
    Reidentify,
    /// Handle data-subject requests.
    ManageDsr,
    /// Run backups.
    RunBackups,
}

impl Action {
    /// The tenant permission an action needs (`None`: operators only).
    pub fn permission(self) -> Option<Permission> {
        Some(match self {
            Action::ManageTenants => return None,
            Action::RotateKeys => Permission::KeysRotate,
            Action::ManageApiKeys => Permission::KeysManage,
            Action::ManageCollections => Permission::CollectionsManage,
            Action::ReadSchema => Permission::SchemaRead,
            Action::CreateSubject => Permission::SubjectsWrite,
            Action::WriteRecords => Permission::RecordsWrite,
            Action::ReadRecords => Permission::RecordsRead,
            Action::ReadAudit => Permission::AuditRead,
            Action::ManageUsers => Permission::UsersManage,
            Action::ReviewAccess => Permission::AccessReview,
            Action::Reidentify => Permission::SubjectsReidentify,
            Action::ManageDsr => Permission::DsrManage,
            Action::RunBackups => Permission::BackupsRun,
        })
    }
}

/// How a tenant member signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// A service account's API key.
    Service,
    /// A staff user's session.
    User,
    /// A recipient's API key: holds no permission; reads only what was disclosed to it.
    Recipient,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An operator (the init token or an operator user): manages `sys`, tenants and
    /// their keys and users, never reads tenant data.
    Operator {
        /// Operator token id or user id.
        id: String,
        /// A user who must still enrol in MFA.
        mfa_pending: bool,
    },
    /// A staff user or service account of one tenant.
    Member {
        /// User id or API key id.
        id: String,
        /// Session or API key.
        kind: MemberKind,
        /// Its tenant.
        tenant: TenantCode,
        /// Effective permissions (the union of its roles').
        permissions: Permissions,
        /// A privileged user who must still enrol in MFA.
        mfa_pending: bool,
    },
}

/// What operators may do in a tenant: set it up, never read its data.
fn operator_allows(action: Action) -> bool {
    matches!(
        action,
        Action::ManageTenants | Action::RotateKeys | Action::ManageApiKeys | Action::ManageUsers | Action::RunBackups
    )
}

impl Principal {
    /// The id recorded in the audit trail.
    pub fn id(&self) -> &str {
        match self {
            Principal::Operator { id, .. } | Principal::Member { id, .. } => id,
        }
    }

    /// Whether this principal may only enrol in MFA for now.
    pub fn mfa_pending(&self) -> bool {
        match self {
            Principal::Operator { mfa_pending, .. } | Principal::Member { mfa_pending, .. } => *mfa_pending,
        }
    }

    /// Allow or refuse `action` on `tenant`.
    pub fn authorize(&self, tenant: &TenantCode, action: Action) -> Result<(), CoreError> {
        if self.mfa_pending() {
            return Err(CoreError::MfaRequired);
        }
        match self {
            Principal::Operator { .. } => {
                if operator_allows(action) {
                    Ok(())
                } else {
                    Err(CoreError::Forbidden("operators manage sys and tenants, not tenant data"))
                }
            }
            Principal::Member { tenant: own, permissions, .. } => {
                if own != tenant {
                    // Indistinguishable from a tenant that does not exist.
                    return Err(CoreError::NotFound("tenant"));
                }
                match action.permission() {
                    Some(p) if permissions.has(p) => Ok(()),
                    _ => Err(CoreError::Forbidden("role does not permit this action")),
                }
            }
        }
    }

    /// Whether a tenant member holds a permission (operators hold none in a tenant).
    pub fn has_permission(&self, perm: Permission) -> bool {
        matches!(self, Principal::Member { permissions, mfa_pending: false, .. } if permissions.has(perm))
    }

    /// Allow only operators (sys endpoints, tenant creation).
    pub fn require_operator(&self) -> Result<(), CoreError> {
        match self {
            Principal::Operator { mfa_pending: true, .. } => Err(CoreError::MfaRequired),
            Principal::Operator { .. } => Ok(()),
            Principal::Member { .. } => Err(CoreError::Forbidden("operator only")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(t: &str, role: &str) -> Principal {
        Principal::Member {
            id: "key_0011223344556677".into(),
            kind: MemberKind::Service,
            tenant: TenantCode::parse(t).unwrap(),
            permissions: builtin_permissions(role).unwrap(),
            mfa_pending: false,
        }
    }

    #[test]
    fn matrix() {
        let uio = TenantCode::parse("uio").unwrap();
        assert!(member("uio", "reader").authorize(&uio, Action::ReadRecords).is_ok());
        assert!(matches!(member("uio", "reader").authorize(&uio, Action::WriteRecords), Err(CoreError::Forbidden(_))));
        assert!(matches!(
            member("uio", "writer").authorize(&uio, Action::ManageCollections),
            Err(CoreError::Forbidden(_))
        ));
        assert!(member("uio", "admin").authorize(&uio, Action::ManageApiKeys).is_ok());
        assert!(matches!(member("ntnu", "admin").authorize(&uio, Action::ReadRecords), Err(CoreError::NotFound(_))));
        let op = Principal::Operator { id: "op".into(), mfa_pending: false };
        assert!(op.authorize(&uio, Action::RotateKeys).is_ok());
        assert!(matches!(op.authorize(&uio, Action::ReadRecords), Err(CoreError::Forbidden(_))));
    }

    #[test]
    fn pending_mfa_blocks_everything() {
        let uio = TenantCode::parse("uio").unwrap();
        let Principal::Member { id, kind, tenant, permissions, .. } = member("uio", "admin") else { unreachable!() };
        let p = Principal::Member { id, kind, tenant, permissions, mfa_pending: true };
        assert!(matches!(p.authorize(&uio, Action::ReadSchema), Err(CoreError::MfaRequired)));
        let op = Principal::Operator { id: "op".into(), mfa_pending: true };
        assert!(matches!(op.require_operator(), Err(CoreError::MfaRequired)));
    }

    #[test]
    fn no_role_no_access() {
        let uio = TenantCode::parse("uio").unwrap();
        let p = Principal::Member {
            id: "usr_1".into(),
            kind: MemberKind::User,
            tenant: uio.clone(),
            permissions: Permissions::NONE,
            mfa_pending: false,
        };
        assert!(matches!(p.authorize(&uio, Action::ReadSchema), Err(CoreError::Forbidden(_))));
    }
}
