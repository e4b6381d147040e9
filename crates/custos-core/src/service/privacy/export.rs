//! Export of everything held on a subject (GDPR Art. 15/20) as one JSON document:
//! records, files, disclosures and the subject's access history. Each export is a
//! recorded request with its receipt time, due date and history.

use super::super::{Caller, Vault};
use crate::audit::Outcome;
use crate::error::CoreError;
use crate::ids::{DsrId, Pseudonym, Purpose, TenantCode};
use crate::policy::Action;
use crate::store::{AuditFilter, DsrEvent, DsrKind, DsrRow, DsrState, PrivacyOp, WriteOp};
use base64::Engine;
use serde_json::{Value, json};

/// The purpose an export must be made for.
pub(crate) const DSR_PURPOSE: &str = "dsr";
/// Format name and version of the document.
pub(crate) const EXPORT_FORMAT: &str = "custos-export/1";

/// The export document (schema in docs/privacy.md).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportDocument(pub Value);

impl Vault {
    /// Export everything held on a subject. Needs `dsr:manage` and purpose `dsr`.
    pub async fn export_subject(
        &self,
        c: &Caller,
        code: &TenantCode,
        subject: &Pseudonym,
        purpose: Option<&Purpose>,
    ) -> Result<ExportDocument, CoreError> {
        let mut a = self.audit(c, "subject.export").tenant(code).subject(Some(subject)).purpose(purpose);
        let r = async {
            let ctx = self.ctx(&c.principal, code, Action::ManageDsr).await?;
            match purpose {
                None => return Err(CoreError::PurposeRequired),
                Some(p) if p.as_str() != DSR_PURPOSE => return Err(CoreError::PurposeNotAllowed),
                Some(_) => {}
            }
            let state = self.visible_subject(&c.principal, code, subject).await?;
            let row = self.store.get_subject(code, subject).await?.ok_or(CoreError::NotFound("subject"))?;
            let now = self.clock.now();
            let id = DsrId::generate()?;
            a.set_reason(id.to_string());

            let mut records = Vec::new();
            let mut after = None;
            loop {
                let rows = self.store.subject_records(code, subject, after.as_ref(), 200).await?;
                let Some(last) = rows.last().map(|r| r.meta.id.clone()) else { break };
                after = Some(last);
                for row in rows {
                    let collection = row.meta.collection.clone();
                    let purposes = row.meta.purposes.clone();
                    let deleted = row.meta.hidden;
                    let v = self.open_record(&ctx.keys, row).await?;
                    records.push(json!({
                        "collection": collection.as_str(),
                        "id": v.id.as_str(),
                        "version": v.version,
                        "created_at": v.created_at.to_rfc3339(),
                        "updated_at": v.updated_at.to_rfc3339(),
                        "purposes": purposes,
                        "locked": deleted,
                        "fields": v.fields,
                    }));
                }
            }
            let mut files = Vec::new();
            for (f, content) in self.subject_file_contents(&ctx.keys, code, subject).await? {
                files.push(json!({
                    "id": f.id.as_str(),
                    "kind": f.kind,
                    "content_type": f.content_type,
                    "name": f.name,
                    "size": f.size,
                    "created_at": f.created_at.to_rfc3339(),
                    "expires_at": f.expires_at.map(|t| t.to_rfc3339()),
                    "content_base64": base64::engine::general_purpose::STANDARD.encode(&content[..]),
                }));
            }
            let mut disclosures = Vec::new();
            for d in self.store.disclosures(code, subject).await? {
                let name = self.store.recipient(&d.recipient).await?.map(|r| r.name);
                disclosures.push(json!({
                    "id": d.id.as_str(),
                    "recipient": d.recipient.as_str(),
                    "recipient_name": name,
                    "collection": d.collection.as_str(),
                    "fields": d.fields.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
                    "records": d.records.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                    "at": d.at.to_rfc3339(),
                }));
            }
            let mut history = Vec::new();
            let filter = AuditFilter { tenant: Some(code.clone()), subject: Some(subject.clone()), ..Default::default() };
            let mut seq = 0;
            loop {
                let page = self.store.audit_query(&filter, seq, 1_000).await?;
                let Some(last) = page.last().map(|e| e.seq) else { break };
                seq = last;
                for e in page {
                    let en = &e.entry;
                    history.push(json!({
                        "seq": e.seq,
                        "time": en.time.to_rfc3339(),
                        "action": en.action,
                        "principal_kind": en.principal_kind.as_str(),
                        "principal_id": en.principal_id,
                        "purpose": en.purpose.as_ref().map(|p| p.as_str()),
                        "outcome": match en.outcome { Outcome::Ok => "ok", Outcome::Denied => "denied", Outcome::Error => "error" },
                        "collection": en.collection.as_ref().map(|c| c.as_str()),
                        "record": en.record.as_ref().map(|r| r.as_str()),
                    }));
                }
            }
            let dsr = DsrRow {
                id: id.clone(),
                tenant: code.clone(),
                kind: DsrKind::Export,
                subject: Some(subject.clone()),
                state: DsrState::Completed,
                delete_shared: false,
                reason: None,
                reason_version: 0,
                received_at: now,
                due_at: now.plus_one_month(),
                purge_after: None,
                closed_at: Some(now),
                history: vec![
                    DsrEvent { at: now.0, event: "received".into(), by: c.principal.id().to_owned() },
                    DsrEvent { at: now.0, event: "completed".into(), by: c.principal.id().to_owned() },
                ],
            };
            a.set_count(records.len() + files.len());
            let doc = json!({
                "format": EXPORT_FORMAT,
                "request": {
                    "id": id.as_str(),
                    "kind": "export",
                    "state": "completed",
                    "received_at": now.to_rfc3339(),
                    "due_at": dsr.due_at.to_rfc3339(),
                    "completed_at": now.to_rfc3339(),
                },
                "tenant": code.as_str(),
                "subject": {
                    "id": subject.as_str(),
                    "state": if state == crate::store::SubjectState::Locked { "locked" } else { "active" },
                    "created_at": row.created_at.to_rfc3339(),
                },
                "records": records,
                "files": files,
                "disclosures": disclosures,
                "access_history": history,
            });
            // The request and the read's entry are committed before the data leaves.
            self.apply_audited(vec![WriteOp::Privacy(PrivacyOp::InsertDsr(dsr))], &a)
                .await
                .map_err(|e| match e {
                    crate::store::StoreError::Backend(_) => CoreError::AuditUnavailable,
                    other => other.into(),
                })?;
            Ok(ExportDocument(doc))
        }
        .await;
        self.settle(a, r).await
    }
}
