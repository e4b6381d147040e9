//! External ids: an SSO `sub` or a student number maps to a subject through a per-tenant
//! keyed MAC, so the same person is the same subject within a tenant and unlinkable
//! across tenants; the id itself is never stored.

use super::super::{Caller, Vault};
use super::sees_locked;
use crate::error::CoreError;
use crate::ids::{Pseudonym, TenantCode};
use crate::policy::Action;
use crate::store::{PrivacyOp, StoreError, SubjectState, WriteOp};

/// Longest external id value, in bytes.
const MAX_EXTERNAL_BYTES: usize = 256;

fn check_kind(kind: &str) -> Result<(), CoreError> {
    let ok = (1..=32).contains(&kind.len())
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(CoreError::invalid("external_id.kind", "1-32 of a-z, 0-9, '-', '_'")) }
}

fn normalise_value(value: &str) -> Result<&str, CoreError> {
    let v = value.trim();
    if v.is_empty() || v.len() > MAX_EXTERNAL_BYTES || v.chars().any(char::is_control) {
        return Err(CoreError::invalid("external_id.value", "1-256 bytes of printable text"));
    }
    Ok(v)
}

impl Vault {
    fn external_mac(&self, code: &TenantCode, kind: &str, value: &str) -> Result<[u8; 32], CoreError> {
        check_kind(kind)?;
        let v = normalise_value(value)?;
        Ok(self.identity_keys(Some(code))?.lookup(&format!("subject-id:{kind}"), v))
    }

    /// The subject an external id belongs to, created (with a fresh pseudonym and key)
    /// the first time the id is seen. Returns the pseudonym and whether it was created.
    pub async fn ensure_subject(
        &self,
        c: &Caller,
        code: &TenantCode,
        kind: &str,
        value: &str,
    ) -> Result<(Pseudonym, bool), CoreError> {
        let mut a = self.audit(c, "subject.create").tenant(code);
        let r = async {
            let ctx = self.ctx(&c.principal, code, Action::CreateSubject).await?;
            let mac = self.external_mac(code, kind, value)?;
            if let Some(p) = self.store.subject_by_external(code, &mac).await? {
                a.set_subject(&p);
                return match self.store.subject_state(code, &p).await? {
                    Some(SubjectState::Active) => {
                        a.set_reason("existing".into());
                        self.apply_audited(vec![], &a).await?;
                        Ok((p, false))
                    }
                    // A locked subject is not there for anyone but request handlers.
                    _ if sees_locked(&c.principal) => {
                        Err(CoreError::Conflict("the subject is locked for erasure".into()))
                    }
                    _ => Err(CoreError::NotFound("subject")),
                };
            }
            let (row, key) = self.new_subject(&ctx).await?;
            let pseudonym = row.pseudonym.clone();
            a.set_subject(&pseudonym);
            let ops = vec![
                WriteOp::InsertSubject(row),
                WriteOp::Privacy(PrivacyOp::InsertExternalId {
                    tenant: code.clone(),
                    mac,
                    pseudonym: pseudonym.clone(),
                }),
            ];
            match self.apply_audited(ops, &a).await {
                Ok(()) => {}
                // Another request mapped the same id first: its subject is the one.
                Err(StoreError::Conflict(_)) => {
                    let p = self.store.subject_by_external(code, &mac).await?.ok_or(CoreError::NotFound("subject"))?;
                    return Ok((p, false));
                }
                Err(e) => return Err(e.into()),
            }
            ctx.keys.put_subject_key(code, &pseudonym, key);
            Ok((pseudonym, true))
        }
        .await;
        self.settle(a, r).await
    }

    /// Find the subject of an external id (404 when unknown, or locked and the caller
    /// does not handle requests).
    pub async fn lookup_subject(
        &self,
        c: &Caller,
        code: &TenantCode,
        kind: &str,
        value: &str,
    ) -> Result<Pseudonym, CoreError> {
        let mut a = self.audit(c, "subject.lookup").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ReadRecords).await?;
            let mac = self.external_mac(code, kind, value)?;
            let p = self.store.subject_by_external(code, &mac).await?.ok_or(CoreError::NotFound("subject"))?;
            self.visible_subject(&c.principal, code, &p).await?;
            a.set_subject(&p);
            self.record_read(&a).await?;
            Ok(p)
        }
        .await;
        self.settle(a, r).await
    }

    /// Check a subject exists and the principal may see it in its state (404 otherwise).
    pub(crate) async fn visible_subject(
        &self,
        p: &crate::policy::Principal,
        code: &TenantCode,
        subject: &Pseudonym,
    ) -> Result<SubjectState, CoreError> {
        match self.store.subject_state(code, subject).await? {
            Some(SubjectState::Active) => Ok(SubjectState::Active),
            Some(SubjectState::Locked) if sees_locked(p) => Ok(SubjectState::Locked),
            _ => Err(CoreError::NotFound("subject")),
        }
    }
}
