//! Writing the audit trail from the service: every operation builds an entry as it
//! learns its target, adds it to the same write set as its data change (or, for a read,
//! commits it before the data is returned), and records refusals and failures too.
//! If the entry cannot be written, the operation fails: nothing happens unaudited.

use super::Vault;
use crate::audit::{AuditEntry, Outcome, PrincipalKind, RequestMeta};
use crate::error::CoreError;
use crate::ids::{CollectionName, Pseudonym, Purpose, RecordId, TenantCode};
use crate::policy::{MemberKind, Principal};
use crate::store::{StoreError, WriteOp};
use custos_crypto::TokenHash;

/// An authenticated caller with the request it came in on.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// Request id and client address.
    pub meta: RequestMeta,
    /// The session the request came with (staff users), for MFA step-up and logout.
    pub session: Option<TokenHash>,
}

/// An audit entry being filled in by an operation.
#[derive(Debug, Clone)]
pub(crate) struct Audit(AuditEntry);

impl Audit {
    pub(crate) fn tenant(mut self, t: &TenantCode) -> Self {
        self.0.tenant = Some(t.clone());
        self
    }

    pub(crate) fn collection(mut self, c: &CollectionName) -> Self {
        self.0.collection = Some(c.clone());
        self
    }

    pub(crate) fn subject(mut self, s: Option<&Pseudonym>) -> Self {
        self.0.subject = s.cloned();
        self
    }

    pub(crate) fn purpose(mut self, p: Option<&Purpose>) -> Self {
        self.0.purpose = p.cloned();
        self
    }

    pub(crate) fn set_record(&mut self, r: &RecordId) {
        self.0.record = Some(r.clone());
    }

    pub(crate) fn set_subject(&mut self, s: &Pseudonym) {
        self.0.subject = Some(s.clone());
    }

    pub(crate) fn set_client(&mut self, client: Option<String>) {
        self.0.client = client;
    }

    pub(crate) fn set_reason(&mut self, reason: String) {
        self.0.reason = Some(reason);
    }

    /// The target of an action that has no column of its own (a file, a request): its
    /// id goes in `reason` (a failure's reason code replaces it).
    pub(crate) fn set_file(&mut self, id: &crate::ids::FileId) {
        self.0.reason = Some(id.to_string());
    }

    pub(crate) fn set_count(&mut self, n: usize) {
        self.0.count = u32::try_from(n).unwrap_or(u32::MAX);
    }

    /// The entry for a successful operation.
    pub(crate) fn ok(&self) -> WriteOp {
        WriteOp::Audit(Box::new(AuditEntry { outcome: Outcome::Ok, ..self.0.clone() }))
    }

    /// The entry for an operation that failed for a reason outside the caller (a
    /// webhook down): outcome `error`, with a reason code.
    pub(crate) fn failed_entry(&self, reason: &str) -> WriteOp {
        WriteOp::Audit(Box::new(AuditEntry {
            outcome: Outcome::Error,
            reason: Some(reason.to_owned()),
            ..self.0.clone()
        }))
    }

    fn failed(mut self, e: &CoreError) -> WriteOp {
        self.0.outcome = match e {
            CoreError::Unauthenticated
            | CoreError::Forbidden(_)
            | CoreError::NotFound(_)
            | CoreError::PurposeRequired
            | CoreError::PurposeNotAllowed
            | CoreError::Unseal(_)
            | CoreError::MfaRequired
            | CoreError::LoginFailed(_)
            | CoreError::Throttled { .. } => Outcome::Denied,
            _ => Outcome::Error,
        };
        self.0.reason = Some(match e {
            CoreError::LoginFailed(cause) => (*cause).to_owned(),
            CoreError::Throttled { .. } => "locked".to_owned(),
            other => other.code().to_owned(),
        });
        WriteOp::Audit(Box::new(self.0))
    }
}

impl Vault {
    fn entry(&self, kind: PrincipalKind, id: String, meta: &RequestMeta, action: &str) -> Audit {
        let mut e = AuditEntry::new(self.clock.now(), self.zone.clone(), kind, id, action);
        e.client = meta.client.clone();
        e.request_id = meta.request_id.clone();
        Audit(e)
    }

    /// Start an entry for `caller` doing `action`.
    pub(crate) fn audit(&self, caller: &Caller, action: &str) -> Audit {
        let (kind, id) = match &caller.principal {
            Principal::Operator { id, .. } => (PrincipalKind::Operator, id.clone()),
            Principal::Member { id, kind: MemberKind::Service, .. } => (PrincipalKind::Service, id.clone()),
            Principal::Member { id, kind: MemberKind::User, .. } => (PrincipalKind::User, id.clone()),
            Principal::Member { id, kind: MemberKind::Recipient, .. } => (PrincipalKind::Recipient, id.clone()),
        };
        self.entry(kind, id, &caller.meta, action)
    }

    /// Start an entry for `caller` in its own tenant (none for operators): calls about
    /// the caller itself, such as logout and MFA enrolment.
    pub(crate) fn audit_own_tenant(&self, caller: &Caller, action: &str) -> Audit {
        let a = self.audit(caller, action);
        match &caller.principal {
            Principal::Member { tenant, .. } => a.tenant(tenant),
            Principal::Operator { .. } => a,
        }
    }

    /// Start an entry for a staff user (before a session exists: logins, resets).
    pub(crate) fn audit_user(&self, id: &str, operator: bool, meta: &RequestMeta, action: &str) -> Audit {
        let kind = if operator { PrincipalKind::Operator } else { PrincipalKind::User };
        self.entry(kind, id.to_owned(), meta, action)
    }

    /// Start an entry for an unauthenticated request.
    pub(crate) fn audit_anonymous(&self, meta: &RequestMeta, action: &str) -> Audit {
        self.entry(PrincipalKind::Anonymous, String::new(), meta, action)
    }

    /// Start an entry for Custos itself.
    pub(crate) fn audit_system(&self, action: &str) -> Audit {
        self.entry(PrincipalKind::System, "custos".into(), &RequestMeta::default(), action)
    }

    /// Finish an operation: a failure is recorded in its own entry. A sealed vault is
    /// not an event of any tenant and is not recorded.
    pub(crate) async fn settle<T>(&self, audit: Audit, result: Result<T, CoreError>) -> Result<T, CoreError> {
        match result {
            Ok(v) => Ok(v),
            Err(CoreError::Sealed) => Err(CoreError::Sealed),
            Err(e) => {
                if let Err(ae) = self.store.apply(vec![audit.failed(&e)]).await {
                    tracing::error!(error = %ae, "could not record a failed operation in the audit trail");
                }
                Err(e)
            }
        }
    }

    /// Commit a read's entry before its data is returned (fail closed).
    pub(crate) async fn record_read(&self, audit: &Audit) -> Result<(), CoreError> {
        if cfg!(feature = "bench-no-audit") {
            return Ok(());
        }
        self.store.apply(vec![audit.ok()]).await.map_err(|e| match e {
            StoreError::Backend(_) => CoreError::AuditUnavailable,
            other => other.into(),
        })
    }

    /// Commit a read's entry, and a re-identification entry when identifying values are
    /// returned, before the data is returned (fail closed).
    pub(crate) async fn record_reads(&self, audit: &Audit, reidentified: bool) -> Result<(), CoreError> {
        if !reidentified {
            return self.record_read(audit).await;
        }
        let mut reid = audit.clone();
        reid.0.action = "subject.reidentify".into();
        self.store.apply(vec![audit.ok(), reid.ok()]).await.map_err(|e| match e {
            StoreError::Backend(_) => CoreError::AuditUnavailable,
            other => other.into(),
        })
    }

    /// Apply a data change together with its entry; an audit failure fails the change.
    pub(crate) async fn apply_audited(&self, mut ops: Vec<WriteOp>, audit: &Audit) -> Result<(), StoreError> {
        if !cfg!(feature = "bench-no-audit") {
            ops.push(audit.ok());
        }
        self.store.apply(ops).await
    }
}
