//! Roles: named sets of permissions. Eight built-in roles cover the usual staff and
//! service duties; a tenant may define custom roles of its own. A principal's effective
//! permissions are the union of its roles'; no role means no access.

use super::permissions::{Permission, Permissions};
use crate::CoreError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A role's name: a built-in one or a tenant's custom one (`[a-z][a-z0-9-]{1,31}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "grader")]
pub struct RoleName(String);

impl RoleName {
    /// Validate a name.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let ok = (2..=32).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(CoreError::invalid("role", "2-32 of a-z, 0-9 and '-', starting with a letter"))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The built-in role of this name, if it is one.
    pub fn builtin(&self) -> Option<Permissions> {
        builtin_permissions(&self.0)
    }
}

impl TryFrom<String> for RoleName {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self, CoreError> {
        Self::parse(&s)
    }
}

impl From<RoleName> for String {
    fn from(r: RoleName) -> String {
        r.0
    }
}

impl std::fmt::Display for RoleName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

use Permission as P;

/// The built-in roles and their permissions (docs/auth.md prints this table; the
/// role-matrix test holds the API to it).
pub const BUILTIN_ROLES: &[(&str, &[Permission])] = &[
    (
        "admin",
        &[
            P::SchemaRead,
            P::CollectionsManage,
            P::SubjectsWrite,
            P::RecordsRead,
            P::RecordsWrite,
            P::AuditRead,
            P::UsersManage,
            P::KeysManage,
            P::KeysRotate,
            P::BackupsRun,
            P::AccessReview,
        ],
    ),
    ("dpo", &[P::SchemaRead, P::RecordsRead, P::SubjectsReidentify, P::AuditRead, P::DsrManage, P::AccessReview]),
    ("author", &[P::SchemaRead, P::CollectionsManage, P::SubjectsWrite, P::RecordsRead, P::RecordsWrite]),
    ("grader", &[P::SchemaRead, P::RecordsRead, P::RecordsWrite]),
    ("support", &[P::SchemaRead, P::RecordsRead]),
    ("auditor", &[P::AuditRead, P::AccessReview]),
    ("service-writer", &[P::SchemaRead, P::SubjectsWrite, P::RecordsRead, P::RecordsWrite]),
    ("service-reader", &[P::SchemaRead, P::RecordsRead]),
    // Names from the first API-key release, kept so existing keys and callers work.
    ("writer", &[P::SchemaRead, P::SubjectsWrite, P::RecordsRead, P::RecordsWrite]),
    ("reader", &[P::SchemaRead, P::RecordsRead]),
];

/// Permissions of a built-in role.
pub fn builtin_permissions(name: &str) -> Option<Permissions> {
    BUILTIN_ROLES.iter().find(|(n, _)| *n == name).map(|(_, p)| Permissions::of(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_equal_the_service_roles() {
        assert_eq!(builtin_permissions("writer"), builtin_permissions("service-writer"));
        assert_eq!(builtin_permissions("reader"), builtin_permissions("service-reader"));
    }

    #[test]
    fn only_admin_and_dpo_among_staff_roles_are_privileged() {
        for (name, perms) in BUILTIN_ROLES {
            let privileged = Permissions::of(perms).is_privileged();
            assert_eq!(privileged, matches!(*name, "admin" | "dpo"), "{name}");
        }
    }

    #[test]
    fn reidentification_is_its_own_permission() {
        let holders: Vec<&str> =
            BUILTIN_ROLES.iter().filter(|(_, p)| p.contains(&P::SubjectsReidentify)).map(|(n, _)| *n).collect();
        assert_eq!(holders, ["dpo"]);
    }

    #[test]
    fn names_are_validated() {
        assert!(RoleName::parse("exam-board").is_ok());
        assert!(RoleName::parse("Admin").is_err());
        assert!(RoleName::parse("x").is_err());
        assert!(RoleName::parse("1abc").is_err());
    }
}
