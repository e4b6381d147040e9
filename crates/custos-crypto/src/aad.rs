//! Additional authenticated data: the bindings that make a ciphertext valid only in the
//! place it was written for (DESIGN §2). Encoded canonically (a domain tag, then each
//! part length-prefixed) so that no two bindings share an encoding.

/// Which key a field is sealed under: the tenant key of a version, or the record's
/// subject key (itself wrapped by a tenant key version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    /// Sealed with the data key derived from tenant key `version`.
    Tenant(u32),
    /// Sealed with the subject key of the record's subject.
    Subject,
}

/// Binding of a field ciphertext: tenant ‖ collection ‖ record id ‖ field ‖ key scope.
#[derive(Debug, Clone, Copy)]
pub struct FieldAad<'a> {
    /// Tenant account code.
    pub tenant: &'a str,
    /// Collection name.
    pub collection: &'a str,
    /// Record id.
    pub record: &'a str,
    /// Field name.
    pub field: &'a str,
    /// The key the field is sealed under.
    pub scope: KeyScope,
}

/// Binding of a wrapped tenant key: zone ‖ tenant ‖ key version.
#[derive(Debug, Clone, Copy)]
pub struct TenantKeyAad<'a> {
    /// Residency zone.
    pub zone: &'a str,
    /// Tenant account code.
    pub tenant: &'a str,
    /// Tenant key version being wrapped.
    pub version: u32,
}

/// Binding of a wrapped subject key: tenant ‖ subject pseudonym ‖ wrapping key version.
#[derive(Debug, Clone, Copy)]
pub struct SubjectKeyAad<'a> {
    /// Tenant account code.
    pub tenant: &'a str,
    /// Subject pseudonym.
    pub subject: &'a str,
    /// Tenant key version that wraps the subject key.
    pub version: u32,
}

pub(crate) struct AadBuf(Vec<u8>);

impl AadBuf {
    pub(crate) fn new(tag: &str) -> Self {
        let mut b = AadBuf(Vec::with_capacity(96));
        b.part(tag.as_bytes());
        b
    }

    pub(crate) fn part(&mut self, bytes: &[u8]) -> &mut Self {
        // A part longer than u32::MAX cannot occur (names are validated short); saturate anyway.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl FieldAad<'_> {
    pub(crate) fn encode(&self) -> AadBuf {
        let mut b = AadBuf::new("custos/field/v1");
        b.part(self.tenant.as_bytes())
            .part(self.collection.as_bytes())
            .part(self.record.as_bytes())
            .part(self.field.as_bytes());
        match self.scope {
            KeyScope::Tenant(v) => b.part(b"t").part(&v.to_be_bytes()),
            KeyScope::Subject => b.part(b"s"),
        };
        b
    }
}

impl TenantKeyAad<'_> {
    pub(crate) fn encode(&self) -> AadBuf {
        let mut b = AadBuf::new("custos/tenant-key/v1");
        b.part(self.zone.as_bytes()).part(self.tenant.as_bytes()).part(&self.version.to_be_bytes());
        b
    }
}

impl SubjectKeyAad<'_> {
    pub(crate) fn encode(&self) -> AadBuf {
        let mut b = AadBuf::new("custos/subject-key/v1");
        b.part(self.tenant.as_bytes()).part(self.subject.as_bytes()).part(&self.version.to_be_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixing_keeps_parts_apart() {
        let a = FieldAad { tenant: "ab", collection: "c", record: "r", field: "f", scope: KeyScope::Subject };
        let b = FieldAad { tenant: "a", collection: "bc", record: "r", field: "f", scope: KeyScope::Subject };
        assert_ne!(a.encode().bytes(), b.encode().bytes());
        let t1 = FieldAad { scope: KeyScope::Tenant(1), ..a };
        let t2 = FieldAad { scope: KeyScope::Tenant(2), ..a };
        assert_ne!(t1.encode().bytes(), t2.encode().bytes());
    }
}
