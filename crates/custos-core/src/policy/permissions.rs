//! Fine-grained permissions: what a role may do inside a tenant, as a small set.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One permission inside a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Permission {
    /// Read collection schemas.
    #[serde(rename = "schema:read")]
    SchemaRead,
    /// Create and change collection schemas.
    #[serde(rename = "collections:manage")]
    CollectionsManage,
    /// Create subjects.
    #[serde(rename = "subjects:write")]
    SubjectsWrite,
    /// Read records (personal data also needs an allowed purpose).
    #[serde(rename = "records:read")]
    RecordsRead,
    /// Create, change and delete records.
    #[serde(rename = "records:write")]
    RecordsWrite,
    /// See who is behind a pseudonym (identifying fields).
    #[serde(rename = "subjects:reidentify")]
    SubjectsReidentify,
    /// Read the tenant's audit trail.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Handle data-subject requests (export, erasure).
    #[serde(rename = "dsr:manage")]
    DsrManage,
    /// Create, change, disable and delete staff users; define custom roles.
    #[serde(rename = "users:manage")]
    UsersManage,
    /// Issue, rotate and revoke API keys.
    #[serde(rename = "keys:manage")]
    KeysManage,
    /// Rotate the tenant's encryption key.
    #[serde(rename = "keys:rotate")]
    KeysRotate,
    /// Run and restore the tenant's backups.
    #[serde(rename = "backups:run")]
    BackupsRun,
    /// List principals and confirm access reviews.
    #[serde(rename = "access:review")]
    AccessReview,
}

impl Permission {
    /// Every permission, in documentation order.
    pub const ALL: [Permission; 13] = [
        Permission::SchemaRead,
        Permission::CollectionsManage,
        Permission::SubjectsWrite,
        Permission::RecordsRead,
        Permission::RecordsWrite,
        Permission::SubjectsReidentify,
        Permission::AuditRead,
        Permission::DsrManage,
        Permission::UsersManage,
        Permission::KeysManage,
        Permission::KeysRotate,
        Permission::BackupsRun,
        Permission::AccessReview,
    ];

    /// The wire name (`records:read`).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::SchemaRead => "schema:read",
            Permission::CollectionsManage => "collections:manage",
            Permission::SubjectsWrite => "subjects:write",
            Permission::RecordsRead => "records:read",
            Permission::RecordsWrite => "records:write",
            Permission::SubjectsReidentify => "subjects:reidentify",
            Permission::AuditRead => "audit:read",
            Permission::DsrManage => "dsr:manage",
            Permission::UsersManage => "users:manage",
            Permission::KeysManage => "keys:manage",
            Permission::KeysRotate => "keys:rotate",
            Permission::BackupsRun => "backups:run",
            Permission::AccessReview => "access:review",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Privileged permissions: a staff user holding any of them must use MFA.
    pub fn is_privileged(self) -> bool {
        matches!(
            self,
            Permission::SubjectsReidentify
                | Permission::DsrManage
                | Permission::UsersManage
                | Permission::KeysManage
                | Permission::KeysRotate
                | Permission::BackupsRun
        )
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Permissions(u32);

impl Permissions {
    /// No permission at all.
    pub const NONE: Permissions = Permissions(0);

    /// The set of `perms`.
    pub fn of(perms: &[Permission]) -> Self {
        Self(perms.iter().fold(0, |acc, p| acc | p.bit()))
    }

    /// Whether `p` is in the set.
    pub fn has(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// The union.
    pub fn union(self, other: Permissions) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether any member is privileged.
    pub fn is_privileged(self) -> bool {
        self.iter().any(Permission::is_privileged)
    }

    /// The members, in documentation order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.has(*p))
    }

    /// Wire names of the members.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }
}
