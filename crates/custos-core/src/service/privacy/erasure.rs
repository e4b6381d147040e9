//! Erasure in one request: the subject is locked at once (invisible to all but request
//! handlers), every recipient that holds its data is owed a notice, the request may be
//! cancelled while locked, and after the grace window the subject is purged: kept
//! content is moved to a tombstone, the ledger entry is written, the key destroyed in one
//! row, then the records, index entries, files and disclosures are deleted.

use super::super::{Caller, Vault};
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::{DsrId, FieldName, Pseudonym, RecipientId, TenantCode};
use crate::policy::Action;
use crate::schema::{CollectionSchema, normalise};
use crate::store::{
    AnonymisedRecord, DsrEvent, DsrKind, DsrRow, DsrState, FieldKey, FieldRow, IndexRow, NoticeRow, PrivacyOp,
    StoreError, SubjectState, WriteOp,
};
use custos_crypto::{FieldAad, KeyScope};
use std::collections::{BTreeMap, BTreeSet};

/// Longest erasure reason, in bytes.
const MAX_REASON: usize = 2_000;
/// Records deleted per transaction while purging.
const PURGE_BATCH: u32 = 500;

/// How long each step of one purge took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeTiming {
    /// Re-sealing kept fields under the tombstone (grows with the kept content).
    pub anonymise: std::time::Duration,
    /// Ledger entry and key destruction: from here the data is unreadable (constant).
    pub destroy_key: std::time::Duration,
    /// Deleting records, index entries, files and disclosures (grows with the data).
    pub delete_data: std::time::Duration,
    /// Checkpointing the write-ahead log afterwards (once per run).
    pub compact: std::time::Duration,
}

/// A recipient's notice as shown on the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeView {
    /// The recipient.
    pub recipient: RecipientId,
    /// First successful delivery.
    pub notified_at: Option<Timestamp>,
    /// The recipient's acknowledgement.
    pub acknowledged_at: Option<Timestamp>,
    /// Delivery attempts.
    pub attempts: u32,
    /// Last failure.
    pub last_error: Option<String>,
}

/// A data-subject request as shown to request handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureView {
    /// The request row (reason stays sealed).
    pub row: DsrRow,
    /// Notices, by recipient.
    pub recipients: Vec<NoticeView>,
}

fn event(at: Timestamp, what: impl Into<String>, by: &str) -> DsrEvent {
    DsrEvent { at: at.0, event: what.into(), by: by.to_owned() }
}

fn reason_aad<'a>(tenant: &'a TenantCode, id: &'a DsrId, version: u32) -> FieldAad<'a> {
    FieldAad {
        tenant: tenant.as_str(),
        collection: "_dsr",
        record: id.as_str(),
        field: "reason",
        scope: KeyScope::Tenant(version),
    }
}

impl Vault {
    /// Request erasure of a subject: locked now, purged after the tenant's grace window.
    pub async fn request_erasure(
        &self,
        c: &Caller,
        code: &TenantCode,
        subject: &Pseudonym,
        reason: Option<&str>,
        delete_shared: bool,
    ) -> Result<ErasureView, CoreError> {
        let mut a = self.audit(c, "erasure.request").tenant(code).subject(Some(subject));
        let r = async {
            let ctx = self.ctx(&c.principal, code, Action::ManageDsr).await?;
            match self.visible_subject(&c.principal, code, subject).await? {
                SubjectState::Active => {}
                _ => return Err(CoreError::Conflict("an erasure of this subject is already open".into())),
            }
            let id = DsrId::generate()?;
            a.set_reason(id.to_string());
            let now = self.clock.now();
            let tk = self.tenant_keys(&ctx.keys, code, ctx.tenant.key_version).await?;
            let sealed_reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
                Some(r) if r.len() > MAX_REASON || r.chars().any(|ch| ch.is_control() && ch != '\n') => {
                    return Err(CoreError::invalid("reason", format!("at most {MAX_REASON} bytes of text")));
                }
                Some(r) => Some(tk.key.data_key().seal_field(r.as_bytes(), &reason_aad(code, &id, tk.key.version()))?),
                None => None,
            };
            let grace = self.grace_ms(code).await?;
            let recipients: BTreeSet<RecipientId> =
                self.store.disclosures(code, subject).await?.into_iter().map(|d| d.recipient).collect();
            let by = c.principal.id();
            let mut history = vec![event(now, "received", by), event(now, "locked", by)];
            history.extend(recipients.iter().map(|r| event(now, format!("notice-owed:{r}"), "custos")));
            let row = DsrRow {
                id: id.clone(),
                tenant: code.clone(),
                kind: DsrKind::Erasure,
                subject: Some(subject.clone()),
                state: DsrState::Locked,
                delete_shared,
                reason: sealed_reason,
                reason_version: tk.key.version(),
                received_at: now,
                due_at: now.plus_one_month(),
                purge_after: Some(Timestamp(now.0.saturating_add(grace))),
                closed_at: None,
                history,
            };
            let notices: Vec<NoticeRow> = recipients
                .iter()
                .map(|r| NoticeRow {
                    request: id.clone(),
                    tenant: code.clone(),
                    recipient: r.clone(),
                    attempts: 0,
                    next_attempt_at: Some(now),
                    notified_at: None,
                    acknowledged_at: None,
                    last_error: None,
                })
                .collect();
            let ops = vec![
                WriteOp::Privacy(PrivacyOp::InsertDsr(row)),
                WriteOp::Privacy(PrivacyOp::LockSubject { tenant: code.clone(), pseudonym: subject.clone() }),
                WriteOp::Privacy(PrivacyOp::InsertNotices(notices)),
            ];
            match self.apply_audited(ops, &a).await {
                Err(StoreError::NotFound(_)) => {
                    return Err(CoreError::Conflict("an erasure of this subject is already open".into()));
                }
                other => other?,
            }
            self.privacy_wake.notify_one();
            self.erasure_view(&id).await
        }
        .await;
        self.settle(a, r).await
    }

    async fn erasure_view(&self, id: &DsrId) -> Result<ErasureView, CoreError> {
        let row = self.store.dsr(id).await?.ok_or(CoreError::NotFound("request"))?;
        let recipients = self
            .store
            .notices(id)
            .await?
            .into_iter()
            .map(|n| NoticeView {
                recipient: n.recipient,
                notified_at: n.notified_at,
                acknowledged_at: n.acknowledged_at,
                attempts: n.attempts,
                last_error: n.last_error,
            })
            .collect();
        Ok(ErasureView { row, recipients })
    }

    /// A data-subject request of a tenant.
    pub async fn get_dsr(&self, c: &Caller, code: &TenantCode, id: &DsrId) -> Result<ErasureView, CoreError> {
        let a = self.audit(c, "dsr.read").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ManageDsr).await?;
            let view = self.erasure_view(id).await?;
            if &view.row.tenant != code {
                return Err(CoreError::NotFound("request"));
            }
            self.record_read(&a).await?;
            Ok(view)
        }
        .await;
        self.settle(a, r).await
    }

    /// A tenant's data-subject requests, newest first.
    pub async fn list_dsrs(
        &self,
        c: &Caller,
        code: &TenantCode,
        before: Option<&DsrId>,
        limit: u32,
    ) -> Result<Vec<DsrRow>, CoreError> {
        let mut a = self.audit(c, "dsr.list").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ManageDsr).await?;
            let rows = self.store.dsrs(code, before, limit.clamp(1, 500)).await?;
            a.set_count(rows.len());
            self.record_read(&a).await?;
            Ok(rows)
        }
        .await;
        self.settle(a, r).await
    }

    /// Cancel an erasure while its subject is locked: the subject is active again.
    pub async fn cancel_erasure(&self, c: &Caller, code: &TenantCode, id: &DsrId) -> Result<ErasureView, CoreError> {
        let mut a = self.audit(c, "erasure.cancel").tenant(code);
        a.set_reason(id.to_string());
        let r = async {
            self.ctx(&c.principal, code, Action::ManageDsr).await?;
            let row = self.store.dsr(id).await?.filter(|d| &d.tenant == code).ok_or(CoreError::NotFound("request"))?;
            let (DsrKind::Erasure, DsrState::Locked, Some(subject)) = (row.kind, row.state, row.subject.clone()) else {
                return Err(CoreError::Conflict("only a locked erasure can be cancelled".into()));
            };
            a.set_subject(&subject);
            let now = self.clock.now();
            let ops = vec![
                WriteOp::Privacy(PrivacyOp::AdvanceDsr {
                    id: id.clone(),
                    from: DsrState::Locked,
                    to: DsrState::Cancelled,
                    closed_at: Some(now),
                    event: event(now, "cancelled", c.principal.id()),
                }),
                WriteOp::Privacy(PrivacyOp::UnlockSubject { tenant: code.clone(), pseudonym: subject }),
            ];
            match self.apply_audited(ops, &a).await {
                Err(StoreError::Stale | StoreError::NotFound(_)) => {
                    return Err(CoreError::Conflict("only a locked erasure can be cancelled".into()));
                }
                other => other?,
            }
            self.erasure_view(id).await
        }
        .await;
        self.settle(a, r).await
    }

    /// Purge every erasure whose grace window has ended. Returns how many subjects
    /// were purged.
    pub async fn purge_due_erasures(&self) -> Result<usize, CoreError> {
        Ok(self.purge_due_erasures_timed().await?.len())
    }

    /// Purge every erasure whose grace window has ended, timing each purge's steps.
    pub async fn purge_due_erasures_timed(&self) -> Result<Vec<PurgeTiming>, CoreError> {
        self.keys()?;
        let mut out = Vec::new();
        loop {
            let due = self.store.erasures_due(self.clock.now(), 16).await?;
            if due.is_empty() {
                break;
            }
            for d in due {
                let Some(subject) = d.subject.clone() else { continue };
                out.push(self.purge_subject(&d.tenant, &subject, &d.id, d.delete_shared).await?);
            }
        }
        if !out.is_empty() {
            let t = std::time::Instant::now();
            self.store.compact().await?;
            if let Some(last) = out.last_mut() {
                last.compact = t.elapsed();
            }
        }
        Ok(out)
    }

    /// Carry out an erasure. Every step can be repeated: a purge interrupted half way
    /// is finished by the next run (or the next unseal, from the ledger).
    pub(crate) async fn purge_subject(
        &self,
        code: &TenantCode,
        subject: &Pseudonym,
        request: &DsrId,
        delete_shared: bool,
    ) -> Result<PurgeTiming, CoreError> {
        let start = std::time::Instant::now();
        let mut timing = PurgeTiming::default();
        // Deleting everything needs no key (a restore re-applies erasures while sealed).
        let keys = if delete_shared { self.keys().ok() } else { Some(self.keys()?) };
        let mut a = self.audit_system("subject.purge").tenant(code).subject(Some(subject));
        a.set_reason(request.to_string());
        let state = self.store.subject_state(code, subject).await?;
        if matches!(state, Some(SubjectState::Active | SubjectState::Locked)) {
            // 1. Kept content moves to a tombstone, re-sealed under the tenant key.
            if let Some(keys) = keys.as_ref().filter(|_| !delete_shared) {
                self.anonymise_subject(keys, code, subject).await?;
            }
            timing.anonymise = start.elapsed();
            let destroy = std::time::Instant::now();
            // 2. The ledger first: from here on the purge holds over any older copy.
            self.ledger()?.append(code, subject, request, self.clock.now()).await?;
            // 3. The key, in one row.
            let now = self.clock.now();
            let mut ops = vec![WriteOp::Privacy(PrivacyOp::DestroySubjectKey {
                tenant: code.clone(),
                pseudonym: subject.clone(),
            })];
            if let Some(d) = self.store.dsr(request).await?.filter(|d| d.state == DsrState::Locked) {
                ops.push(WriteOp::Privacy(PrivacyOp::AdvanceDsr {
                    id: d.id,
                    from: DsrState::Locked,
                    to: DsrState::Purged,
                    closed_at: Some(now),
                    event: event(now, "purged", "custos"),
                }));
            }
            self.apply_audited(ops, &a).await?;
            if let Some(keys) = &keys {
                keys.forget_subject_key(code, subject);
            }
            timing.destroy_key = destroy.elapsed();
        }
        // 4. The rest of the data, in batches.
        let delete = std::time::Instant::now();
        if self.store.subject_state(code, subject).await? == Some(SubjectState::Purged) {
            self.delete_purged_subject(code, subject).await?;
        }
        timing.delete_data = delete.elapsed();
        Ok(timing)
    }

    /// Delete the records, files and remaining rows of a subject whose key is gone.
    pub(crate) async fn delete_purged_subject(&self, code: &TenantCode, subject: &Pseudonym) -> Result<(), CoreError> {
        let mut deleted = 0usize;
        loop {
            let rows = self.store.subject_records(code, subject, None, PURGE_BATCH).await?;
            if rows.is_empty() {
                break;
            }
            deleted += rows.len();
            let ids = rows.into_iter().map(|r| r.meta.id).collect();
            self.store.apply(vec![WriteOp::Privacy(PrivacyOp::PurgeRecords { tenant: code.clone(), ids })]).await?;
        }
        let files: Vec<_> = self.store.subject_files(code, subject).await?.into_iter().map(|f| f.id).collect();
        let mut a = self.audit_system("subject.purge-data").tenant(code).subject(Some(subject));
        a.set_count(deleted + files.len());
        let ops = vec![
            WriteOp::Privacy(PrivacyOp::PurgeFiles { tenant: code.clone(), ids: files }),
            WriteOp::Privacy(PrivacyOp::DeleteSubject { tenant: code.clone(), pseudonym: subject.clone() }),
        ];
        self.apply_audited(ops, &a).await?;
        Ok(())
    }

    /// Re-seal the fields marked `anonymise_on_erasure` under the tenant key and move
    /// their records to a fresh tombstone subject; other fields of those records go.
    async fn anonymise_subject(
        &self,
        keys: &crate::keyring::Keyring,
        code: &TenantCode,
        subject: &Pseudonym,
    ) -> Result<(), CoreError> {
        let mut keep_fields: BTreeMap<String, (std::sync::Arc<CollectionSchema>, BTreeSet<FieldName>)> =
            BTreeMap::new();
        for coll in self.store.collections(code).await? {
            let schema: CollectionSchema = serde_json::from_str(&coll.schema_json).map_err(|_| CoreError::Integrity)?;
            let kept: BTreeSet<FieldName> =
                schema.fields.iter().filter(|(_, s)| s.anonymise_on_erasure).map(|(n, _)| n.clone()).collect();
            if !kept.is_empty() {
                keep_fields.insert(coll.name.as_str().to_owned(), (std::sync::Arc::new(schema), kept));
            }
        }
        if keep_fields.is_empty() {
            return Ok(());
        }
        let tenant = self.tenant_row(code).await?;
        let tk = self.tenant_keys(keys, code, tenant.key_version).await?;
        // Straight from the store: the ledger may already list this subject (re-apply).
        self.unwrap_subject_key(keys, code, subject).await?;
        let tombstone = Pseudonym::generate()?;
        let mut after = None;
        loop {
            let rows = self.store.subject_records(code, subject, after.as_ref(), PURGE_BATCH).await?;
            let Some(last) = rows.last().map(|r| r.meta.id.clone()) else { break };
            after = Some(last);
            let mut keep = Vec::new();
            for row in rows {
                let Some((schema, kept)) = keep_fields.get(row.meta.collection.as_str()) else { continue };
                let mut fields = Vec::new();
                let mut index = Vec::new();
                for f in row.fields.iter().filter(|f| kept.contains(&f.field)) {
                    let plain = self.open_field(keys, &row.meta, f).await?;
                    let key = FieldKey::Tenant(tk.key.version());
                    let aad = FieldAad {
                        tenant: code.as_str(),
                        collection: row.meta.collection.as_str(),
                        record: row.meta.id.as_str(),
                        field: f.field.as_str(),
                        scope: KeyScope::Tenant(tk.key.version()),
                    };
                    fields.push(FieldRow {
                        field: f.field.clone(),
                        key,
                        ct: tk.key.data_key().seal_field(&plain, &aad)?,
                    });
                    if let Some(spec) = schema.fields.get(&f.field).filter(|s| s.searchable) {
                        let v: serde_json::Value = serde_json::from_slice(&plain).map_err(|_| CoreError::Integrity)?;
                        let norm = zeroize::Zeroizing::new(normalise(spec.kind, &v));
                        let mac = tk.blind.compute(row.meta.collection.as_str(), f.field.as_str(), &norm);
                        index.push(IndexRow { field: f.field.clone(), version: tk.key.version(), mac: mac.0 });
                    }
                }
                if !fields.is_empty() {
                    keep.push(AnonymisedRecord { id: row.meta.id, fields, index });
                }
            }
            if !keep.is_empty() {
                let mut a = self.audit_system("subject.anonymise").tenant(code).subject(Some(subject));
                a.set_count(keep.len());
                let op = PrivacyOp::AnonymiseRecords {
                    tenant: code.clone(),
                    pseudonym: subject.clone(),
                    tombstone: tombstone.clone(),
                    keep,
                };
                self.apply_audited(vec![WriteOp::Privacy(op)], &a).await?;
            }
        }
        Ok(())
    }

    /// Open requests past their one-month due date, every tenant.
    pub async fn overdue_dsrs(&self) -> Result<Vec<DsrRow>, CoreError> {
        Ok(self.store.dsrs_overdue(None, self.clock.now()).await?)
    }

    /// Record that a request is overdue (the alert rules raise `dsr-overdue` from it).
    pub async fn note_overdue_dsr(&self, d: &DsrRow) -> Result<(), CoreError> {
        let mut a = self.audit_system("dsr.overdue").tenant(&d.tenant).subject(d.subject.as_ref());
        a.set_reason(d.id.to_string());
        self.apply_audited(vec![], &a).await?;
        Ok(())
    }

    /// Re-apply the erasure ledger: every subject it lists that is present in the store
    /// (an older copy of the data was put back) is purged again. Runs at unseal.
    pub async fn reapply_ledger(&self) -> Result<usize, CoreError> {
        self.reapply_ledger_with(false).await
    }

    /// The ledger re-applied; `offline` (no keys) deletes everything, kept content too.
    pub(crate) async fn reapply_ledger_with(&self, offline: bool) -> Result<usize, CoreError> {
        let Some(ledger) = crate::keyring::read(&self.ledger).clone() else { return Ok(0) };
        let mut n = 0;
        let mut after = 0;
        loop {
            let entries = ledger.entries(after, 500).await?;
            let Some(last) = entries.last().map(|e| e.seq) else { break };
            after = last;
            for e in entries {
                if self.store.subject_state(&e.tenant, &e.pseudonym).await?.is_some() {
                    tracing::warn!(tenant = %e.tenant, request = %e.request, "re-applying an erasure from the ledger");
                    // The request's choice, if the copy has it; otherwise delete everything.
                    let delete_shared = offline || self.store.dsr(&e.request).await?.is_none_or(|d| d.delete_shared);
                    self.purge_subject(&e.tenant, &e.pseudonym, &e.request, delete_shared).await?;
                    n += 1;
                }
            }
        }
        if n > 0 {
            self.store.compact().await?;
        }
        Ok(n)
    }
}
