//! Who may do what: principals, tenant roles and the permission matrix. Least privilege:
//! a role holds only the actions listed for it, and a principal of one tenant cannot
//! even learn that another tenant's resources exist (404, not 403).

use crate::CoreError;
use crate::ids::{ApiKeyId, TenantCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A tenant role for service accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything within the tenant: schemas, API keys, key rotation, data.
    Admin,
    /// Create and change subjects and records; read them.
    Writer,
    /// Read records and schemas.
    Reader,
    /// Read the tenant's audit trail, nothing else.
    Auditor,
}

impl Role {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Writer => "writer",
            Role::Reader => "reader",
            Role::Auditor => "auditor",
        }
    }

    /// Parse stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "writer" => Some(Role::Writer),
            "reader" => Some(Role::Reader),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create tenants, list them.
    ManageTenants,
    /// Rotate a tenant's key.
    RotateKeys,
    /// Issue API keys for a tenant.
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
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An operator: manages `sys` and tenants, never reads tenant data.
    Operator {
        /// Operator token id.
        id: String,
    },
    /// A service account of one tenant.
    Service {
        /// The API key's id.
        key_id: ApiKeyId,
        /// Its tenant.
        tenant: TenantCode,
        /// Its role.
        role: Role,
    },
}

impl Principal {
    /// Allow or refuse `action` on `tenant`.
    pub fn authorize(&self, tenant: &TenantCode, action: Action) -> Result<(), CoreError> {
        match self {
            Principal::Operator { .. } => match action {
                Action::ManageTenants | Action::RotateKeys | Action::ManageApiKeys => Ok(()),
                _ => Err(CoreError::Forbidden("operators manage sys and tenants, not tenant data")),
            },
            Principal::Service { tenant: own, role, .. } => {
                if own != tenant {
                    // Indistinguishable from a tenant that does not exist.
                    return Err(CoreError::NotFound("tenant"));
                }
                if role_allows(*role, action) {
                    Ok(())
                } else {
                    Err(CoreError::Forbidden("role does not permit this action"))
                }
            }
        }
    }

    /// Allow only operators (sys endpoints, tenant creation).
    pub fn require_operator(&self) -> Result<(), CoreError> {
        match self {
            Principal::Operator { .. } => Ok(()),
            Principal::Service { .. } => Err(CoreError::Forbidden("operator only")),
        }
    }
}

fn role_allows(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Admin => !matches!(action, ManageTenants),
        Role::Writer => matches!(action, ReadSchema | CreateSubject | WriteRecords | ReadRecords),
        Role::Reader => matches!(action, ReadSchema | ReadRecords),
        Role::Auditor => matches!(action, ReadAudit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(t: &str, role: Role) -> Principal {
        Principal::Service {
            key_id: ApiKeyId::parse("key_0011223344556677").unwrap(),
            tenant: TenantCode::parse(t).unwrap(),
            role,
        }
    }

    #[test]
    fn matrix() {
        let uio = TenantCode::parse("uio").unwrap();
        assert!(svc("uio", Role::Reader).authorize(&uio, Action::ReadRecords).is_ok());
        assert!(matches!(svc("uio", Role::Reader).authorize(&uio, Action::WriteRecords), Err(CoreError::Forbidden(_))));
        assert!(matches!(
            svc("uio", Role::Writer).authorize(&uio, Action::ManageCollections),
            Err(CoreError::Forbidden(_))
        ));
        assert!(svc("uio", Role::Admin).authorize(&uio, Action::ManageApiKeys).is_ok());
        assert!(matches!(svc("ntnu", Role::Admin).authorize(&uio, Action::ReadRecords), Err(CoreError::NotFound(_))));
        let op = Principal::Operator { id: "op".into() };
        assert!(op.authorize(&uio, Action::RotateKeys).is_ok());
        assert!(matches!(op.authorize(&uio, Action::ReadRecords), Err(CoreError::Forbidden(_))));
    }
}
