//! Applying privacy-lifecycle operations on the writer connection: subject locks and
//! purges, recipients, disclosures, requests and notices, record and file locks and
//! purges, and file storage.

use super::apply::{insert_fields, insert_index, unique};
use crate::sql::backend;
use crate::sql::{Connection, OptionalExtension, params};
use custos_core::clock::Timestamp;
use custos_core::ids::{FileId, Pseudonym, RecordId, TenantCode};
use custos_core::store::{
    AnonymisedRecord, DsrEvent, DsrRow, FieldKey, FileRow, NoticeRow, PrivacyOp, StoreError, SubjectState,
};
use custos_crypto::Sealed;

/// Record hidden because it was deleted.
pub(crate) const HIDDEN_DELETED: i64 = 1;
/// Record or file hidden because its subject is locked.
pub(crate) const HIDDEN_SUBJECT: i64 = 2;

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|_| StoreError::Backend("value does not encode".into()))
}

pub(crate) fn key_version_col(k: FieldKey) -> i64 {
    match k {
        FieldKey::Subject => 0,
        FieldKey::Tenant(v) => i64::from(v),
    }
}

fn set_subject_state(
    conn: &Connection,
    tenant: &TenantCode,
    p: &Pseudonym,
    from: SubjectState,
    to: SubjectState,
) -> Result<(), StoreError> {
    let n = conn
        .execute(
            "UPDATE subjects SET state = ?4 WHERE tenant = ?1 AND pseudonym = ?2 AND state = ?3",
            params![tenant.as_str(), p.as_str(), from.as_str(), to.as_str()],
        )
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::NotFound("subject"));
    }
    Ok(())
}

fn lock_subject(conn: &Connection, tenant: &TenantCode, p: &Pseudonym, lock: bool) -> Result<(), StoreError> {
    if lock {
        set_subject_state(conn, tenant, p, SubjectState::Active, SubjectState::Locked)?;
        for table in ["records", "files"] {
            conn.execute(
                &format!("UPDATE {table} SET hidden = hidden | ?3 WHERE tenant = ?1 AND subject = ?2"),
                params![tenant.as_str(), p.as_str(), HIDDEN_SUBJECT],
            )
            .map_err(backend)?;
        }
    } else {
        set_subject_state(conn, tenant, p, SubjectState::Locked, SubjectState::Active)?;
        for table in ["records", "files"] {
            conn.execute(
                &format!("UPDATE {table} SET hidden = hidden & ~CAST(?3 AS BIGINT) WHERE tenant = ?1 AND subject = ?2"),
                params![tenant.as_str(), p.as_str(), HIDDEN_SUBJECT],
            )
            .map_err(backend)?;
        }
    }
    Ok(())
}

fn purge_records(conn: &Connection, tenant: &TenantCode, ids: &[RecordId]) -> Result<(), StoreError> {
    let mut idx = conn.prepare_cached("DELETE FROM blind_index WHERE record_id = ?1").map_err(backend)?;
    let mut fields = conn.prepare_cached("DELETE FROM record_fields WHERE record_id = ?1").map_err(backend)?;
    let mut rec = conn.prepare_cached("DELETE FROM records WHERE id = ?1 AND tenant = ?2").map_err(backend)?;
    for id in ids {
        // Only the tenant's own rows: an id of another tenant is skipped, not deleted.
        let owned: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM records WHERE id = ?1 AND tenant = ?2)")
            .map_err(backend)?
            .query_row(params![id.as_str(), tenant.as_str()], |r| r.get(0))
            .map_err(backend)?;
        if !owned {
            continue;
        }
        idx.execute([id.as_str()]).map_err(backend)?;
        fields.execute([id.as_str()]).map_err(backend)?;
        rec.execute(params![id.as_str(), tenant.as_str()]).map_err(backend)?;
    }
    Ok(())
}

fn purge_files(conn: &Connection, tenant: &TenantCode, ids: &[FileId]) -> Result<(), StoreError> {
    for id in ids {
        let owned: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM files WHERE id = ?1 AND tenant = ?2)",
                params![id.as_str(), tenant.as_str()],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if owned {
            conn.execute("DELETE FROM file_chunks WHERE file_id = ?1", [id.as_str()]).map_err(backend)?;
            conn.execute("DELETE FROM files WHERE id = ?1", [id.as_str()]).map_err(backend)?;
        }
    }
    Ok(())
}

fn subject_state(conn: &Connection, tenant: &TenantCode, p: &Pseudonym) -> Result<Option<SubjectState>, StoreError> {
    let state: Option<String> = conn
        .query_row(
            "SELECT state FROM subjects WHERE tenant = ?1 AND pseudonym = ?2",
            params![tenant.as_str(), p.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    Ok(state.as_deref().and_then(SubjectState::parse))
}

fn anonymise(
    conn: &Connection,
    tenant: &TenantCode,
    p: &Pseudonym,
    tombstone: &Pseudonym,
    keep: &[AnonymisedRecord],
) -> Result<(), StoreError> {
    if !matches!(subject_state(conn, tenant, p)?, Some(SubjectState::Active | SubjectState::Locked)) {
        return Err(StoreError::NotFound("subject"));
    }
    if keep.is_empty() {
        return Ok(());
    }
    conn.execute(
        "INSERT INTO subjects (tenant, pseudonym, key_version, wrapped_key, created_at, state) \
         VALUES (?1, ?2, 0, ?3, 0, 'tombstone') ON CONFLICT (tenant, pseudonym) DO NOTHING",
        params![tenant.as_str(), tombstone.as_str(), NO_KEY],
    )
    .map_err(backend)?;
    if subject_state(conn, tenant, tombstone)? != Some(SubjectState::Tombstone) {
        return Err(StoreError::Conflict("tombstone"));
    }
    for k in keep {
        let coll: String = conn
            .query_row(
                "SELECT collection FROM records WHERE id = ?1 AND tenant = ?2 AND subject = ?3",
                params![k.id.as_str(), tenant.as_str(), p.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?
            .ok_or(StoreError::NotFound("record"))?;
        conn.execute("DELETE FROM blind_index WHERE record_id = ?1", [k.id.as_str()]).map_err(backend)?;
        conn.execute("DELETE FROM record_fields WHERE record_id = ?1", [k.id.as_str()]).map_err(backend)?;
        conn.execute(
            "UPDATE records SET subject = ?2, hidden = hidden & ~CAST(?3 AS BIGINT), purposes = NULL, version = version + 1 WHERE id = ?1",
            params![k.id.as_str(), tombstone.as_str(), HIDDEN_SUBJECT],
        )
        .map_err(backend)?;
        insert_fields(conn, k.id.as_str(), &k.fields)?;
        insert_index(conn, tenant.as_str(), &coll, k.id.as_str(), &k.index)?;
    }
    Ok(())
}

/// The wrapped key of a subject that has none (purged, tombstone): zero bytes.
const NO_KEY: &[u8] = &[];

fn destroy_key(conn: &Connection, tenant: &TenantCode, p: &Pseudonym) -> Result<(), StoreError> {
    let n = conn
        .execute(
            "UPDATE subjects SET wrapped_key = ?3, state = 'purged' WHERE tenant = ?1 AND pseudonym = ?2 \
             AND state IN ('active', 'locked')",
            params![tenant.as_str(), p.as_str(), NO_KEY],
        )
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::NotFound("subject"));
    }
    Ok(())
}

fn delete_subject(conn: &Connection, tenant: &TenantCode, p: &Pseudonym) -> Result<(), StoreError> {
    if subject_state(conn, tenant, p)? != Some(SubjectState::Purged) {
        return Err(StoreError::NotFound("subject"));
    }
    let args = params![tenant.as_str(), p.as_str()];
    let left: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM records WHERE tenant = ?1 AND subject = ?2) \
             OR EXISTS (SELECT 1 FROM files WHERE tenant = ?1 AND subject = ?2)",
            args,
            |r| r.get(0),
        )
        .map_err(backend)?;
    if left {
        return Err(StoreError::Conflict("subject still has records or files"));
    }
    conn.execute("DELETE FROM disclosures WHERE tenant = ?1 AND subject = ?2", args).map_err(backend)?;
    conn.execute("DELETE FROM subject_ids WHERE tenant = ?1 AND pseudonym = ?2", args).map_err(backend)?;
    conn.execute("UPDATE dsr_requests SET subject = NULL WHERE tenant = ?1 AND subject = ?2", args).map_err(backend)?;
    conn.execute("DELETE FROM subjects WHERE tenant = ?1 AND pseudonym = ?2", args).map_err(backend)?;
    Ok(())
}

fn insert_dsr(conn: &Connection, d: &DsrRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO dsr_requests (id, tenant, kind, subject, state, delete_shared, reason, reason_version, \
         received_at, due_at, purge_after, closed_at, history) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            d.id.as_str(),
            d.tenant.as_str(),
            json(&d.kind)?.trim_matches('"'),
            d.subject.as_ref().map(|s| s.as_str()),
            d.state.as_str(),
            d.delete_shared,
            d.reason.as_ref().map(|r| r.as_bytes().to_vec()),
            d.reason_version,
            d.received_at.0,
            d.due_at.0,
            d.purge_after.map(|t| t.0),
            d.closed_at.map(|t| t.0),
            json(&d.history)?,
        ],
    )
    .map_err(unique("request"))?;
    Ok(())
}

fn push_event(conn: &Connection, id: &str, event: &DsrEvent) -> Result<(), StoreError> {
    let history: String = conn
        .query_row("SELECT history FROM dsr_requests WHERE id = ?1", [id], |r| r.get(0))
        .optional()
        .map_err(backend)?
        .ok_or(StoreError::NotFound("request"))?;
    let mut events: Vec<DsrEvent> =
        serde_json::from_str(&history).map_err(|_| StoreError::Backend("stored history does not parse".into()))?;
    events.push(event.clone());
    conn.execute("UPDATE dsr_requests SET history = ?2 WHERE id = ?1", params![id, json(&events)?]).map_err(backend)?;
    Ok(())
}

fn insert_notice(conn: &Connection, n: &NoticeRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO dsr_notices (request, tenant, recipient, attempts, next_attempt_at, notified_at, acknowledged_at, last_error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (request, recipient) DO NOTHING",
        params![
            n.request.as_str(),
            n.tenant.as_str(),
            n.recipient.as_str(),
            n.attempts,
            n.next_attempt_at.map(|t| t.0),
            n.notified_at.map(|t| t.0),
            n.acknowledged_at.map(|t| t.0),
            n.last_error
        ],
    )
    .map_err(backend)?;
    Ok(())
}

fn insert_file(conn: &Connection, f: &FileRow, chunks: &[Sealed]) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO files (id, tenant, subject, kind, content_type, size, chunks, key_version, name, created_at, \
         expires_at, hidden, purge_after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            f.id.as_str(),
            f.tenant.as_str(),
            f.subject.as_ref().map(|s| s.as_str()),
            f.kind,
            f.content_type,
            i64::try_from(f.size).map_err(|_| StoreError::Backend("file too large".into()))?,
            f.chunks,
            key_version_col(f.key),
            f.name.as_bytes(),
            f.created_at.0,
            f.expires_at.map(|t| t.0),
            i64::from(f.hidden) * HIDDEN_SUBJECT,
            f.purge_after.map(|t| t.0),
        ],
    )
    .map_err(unique("file"))?;
    let mut st =
        conn.prepare_cached("INSERT INTO file_chunks (file_id, n, ct) VALUES (?1, ?2, ?3)").map_err(backend)?;
    for (n, c) in chunks.iter().enumerate() {
        st.execute(params![f.id.as_str(), n, c.as_bytes()]).map_err(backend)?;
    }
    Ok(())
}

fn hide(conn: &Connection, table: &str, tenant: &TenantCode, id: &str, at: Timestamp) -> Result<(), StoreError> {
    let n = conn
        .execute(
            &format!(
                "UPDATE {table} SET hidden = hidden | ?3, purge_after = ?4 WHERE id = ?1 AND tenant = ?2 \
                 AND hidden & ?3 = 0"
            ),
            params![id, tenant.as_str(), HIDDEN_DELETED, at.0],
        )
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::NotFound(if table == "records" { "record" } else { "file" }));
    }
    Ok(())
}

pub(crate) fn apply(conn: &Connection, op: &PrivacyOp) -> Result<(), StoreError> {
    match op {
        PrivacyOp::InsertExternalId { tenant, mac, pseudonym } => {
            conn.execute(
                "INSERT INTO subject_ids (tenant, mac, pseudonym) VALUES (?1, ?2, ?3)",
                params![tenant.as_str(), &mac[..], pseudonym.as_str()],
            )
            .map_err(unique("external id"))?;
        }
        PrivacyOp::LockSubject { tenant, pseudonym } => lock_subject(conn, tenant, pseudonym, true)?,
        PrivacyOp::UnlockSubject { tenant, pseudonym } => lock_subject(conn, tenant, pseudonym, false)?,
        PrivacyOp::AnonymiseRecords { tenant, pseudonym, tombstone, keep } => {
            anonymise(conn, tenant, pseudonym, tombstone, keep)?
        }
        PrivacyOp::DestroySubjectKey { tenant, pseudonym } => destroy_key(conn, tenant, pseudonym)?,
        PrivacyOp::DeleteSubject { tenant, pseudonym } => delete_subject(conn, tenant, pseudonym)?,
        PrivacyOp::InsertRecipient(r) => {
            conn.execute(
                "INSERT INTO recipients (id, tenant, name, webhook_url, secret, key_hash, key_expires_at, created_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    r.id.as_str(),
                    r.tenant.as_str(),
                    r.name,
                    r.webhook_url,
                    r.secret.as_bytes(),
                    &r.key_hash.0[..],
                    r.key_expires_at.0,
                    r.created_at.0,
                    r.revoked_at.map(|t| t.0)
                ],
            )
            .map_err(unique("recipient"))?;
        }
        PrivacyOp::RevokeRecipient { id, at } => {
            let n = conn
                .execute(
                    "UPDATE recipients SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id.as_str(), at.0],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound("recipient"));
            }
        }
        PrivacyOp::InsertDisclosure(d) => {
            let records: Vec<&str> = d.records.iter().map(|r| r.as_str()).collect();
            let fields: Vec<&str> = d.fields.iter().map(|f| f.as_str()).collect();
            conn.execute(
                "INSERT INTO disclosures (id, tenant, subject, recipient, collection, fields, records, at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    d.id.as_str(),
                    d.tenant.as_str(),
                    d.subject.as_str(),
                    d.recipient.as_str(),
                    d.collection.as_str(),
                    json(&fields)?,
                    json(&records)?,
                    d.at.0
                ],
            )
            .map_err(unique("disclosure"))?;
        }
        PrivacyOp::InsertDsr(d) => insert_dsr(conn, d)?,
        PrivacyOp::AdvanceDsr { id, from, to, closed_at, event } => {
            let n = conn
                .execute(
                    "UPDATE dsr_requests SET state = ?3, closed_at = COALESCE(?4, closed_at) WHERE id = ?1 AND state = ?2",
                    params![id.as_str(), from.as_str(), to.as_str(), closed_at.map(|t| t.0)],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::Stale);
            }
            if !to.is_open() {
                // Nothing more is sent for a closed request.
                conn.execute("UPDATE dsr_notices SET next_attempt_at = NULL WHERE request = ?1", [id.as_str()])
                    .map_err(backend)?;
            }
            push_event(conn, id.as_str(), event)?;
        }
        PrivacyOp::DsrEvent { id, event } => push_event(conn, id.as_str(), event)?,
        PrivacyOp::InsertNotices(ns) => {
            for n in ns {
                insert_notice(conn, n)?;
            }
        }
        PrivacyOp::NoticeAttempt { request, recipient, at, delivered, error, next_attempt_at } => {
            conn.execute(
                "UPDATE dsr_notices SET attempts = attempts + 1, \
                 notified_at = CASE WHEN ?3 THEN COALESCE(notified_at, ?4) ELSE notified_at END, \
                 next_attempt_at = ?5, last_error = ?6 WHERE request = ?1 AND recipient = ?2",
                params![request.as_str(), recipient.as_str(), delivered, at.0, next_attempt_at.map(|t| t.0), error],
            )
            .map_err(backend)?;
        }
        PrivacyOp::AcknowledgeNotice { request, recipient, at } => {
            let n = conn
                .execute(
                    "UPDATE dsr_notices SET acknowledged_at = COALESCE(acknowledged_at, ?3) WHERE request = ?1 AND recipient = ?2",
                    params![request.as_str(), recipient.as_str(), at.0],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound("notice"));
            }
        }
        PrivacyOp::HideRecord { tenant, collection, id, purge_after } => {
            let in_coll: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM records WHERE id = ?1 AND tenant = ?2 AND collection = ?3)",
                    params![id.as_str(), tenant.as_str(), collection.as_str()],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if !in_coll {
                return Err(StoreError::NotFound("record"));
            }
            hide(conn, "records", tenant, id.as_str(), *purge_after)?;
        }
        PrivacyOp::PurgeRecords { tenant, ids } => purge_records(conn, tenant, ids)?,
        PrivacyOp::InsertFile { row, chunks } => insert_file(conn, row, chunks)?,
        PrivacyOp::HideFile { tenant, id, purge_after } => hide(conn, "files", tenant, id.as_str(), *purge_after)?,
        PrivacyOp::PurgeFiles { tenant, ids } => purge_files(conn, tenant, ids)?,
    }
    Ok(())
}
