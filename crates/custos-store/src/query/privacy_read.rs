//! Privacy-lifecycle reads: subject states, recipients, disclosures, requests, notices,
//! purge candidates and files, parsed back into checked types.

use super::read::{RECORD_COLS, collect_records, corrupt, hash32, sealed};
use crate::sql::Value as SqlValue;
use crate::sql::backend;
use crate::sql::{Connection, OptionalExtension, Params, Row, params};
use custos_core::clock::Timestamp;
use custos_core::ids::{
    CollectionName, DisclosureId, DsrId, FieldName, FileId, Pseudonym, RecipientId, RecordId, TenantCode,
};
use custos_core::store::{
    CollectionRow, DisclosureRow, DsrEvent, DsrKind, DsrRow, DsrState, FieldKey, FileRow, NoticeRow, RecipientRow,
    RecordRow, StoreError, SubjectState,
};
use custos_crypto::TokenHash;

fn g<T: crate::sql::FromSql>(r: &Row<'_>, i: usize) -> Result<T, StoreError> {
    r.get(i).map_err(backend)
}

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

fn tenant(s: String) -> Result<TenantCode, StoreError> {
    TenantCode::parse(&s).map_err(|_| corrupt("tenant code"))
}

fn pseudonym(s: String) -> Result<Pseudonym, StoreError> {
    Pseudonym::parse(&s).map_err(|_| corrupt("pseudonym"))
}

fn recipient_id(s: String) -> Result<RecipientId, StoreError> {
    RecipientId::parse(&s).map_err(|_| corrupt("recipient id"))
}

fn dsr_id(s: String) -> Result<DsrId, StoreError> {
    DsrId::parse(&s).map_err(|_| corrupt("request id"))
}

fn rows<T>(
    c: &Connection,
    sql: &str,
    p: impl Params,
    f: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut st = c.prepare_cached(sql).map_err(backend)?;
    let mut rs = st.query(p).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(r) = rs.next().map_err(backend)? {
        out.push(f(&r)?);
    }
    Ok(out)
}

pub(crate) fn subject_by_external(
    c: &Connection,
    t: &TenantCode,
    mac: &[u8; 32],
) -> Result<Option<Pseudonym>, StoreError> {
    c.prepare_cached("SELECT pseudonym FROM subject_ids WHERE tenant = ?1 AND mac = ?2")
        .map_err(backend)?
        .query_row(params![t.as_str(), &mac[..]], |r| r.get::<_, String>(0))
        .optional()
        .map_err(backend)?
        .map(pseudonym)
        .transpose()
}

pub(crate) fn subject_state(c: &Connection, t: &TenantCode, p: &Pseudonym) -> Result<Option<SubjectState>, StoreError> {
    c.prepare_cached("SELECT state FROM subjects WHERE tenant = ?1 AND pseudonym = ?2")
        .map_err(backend)?
        .query_row(params![t.as_str(), p.as_str()], |r| r.get::<_, String>(0))
        .optional()
        .map_err(backend)?
        .map(|s| SubjectState::parse(&s).ok_or_else(|| corrupt("subject state")))
        .transpose()
}

const RECIPIENT_COLS: &str = "id, tenant, name, webhook_url, secret, key_hash, key_expires_at, created_at, revoked_at";

fn recipient_row(r: &Row<'_>) -> Result<RecipientRow, StoreError> {
    Ok(RecipientRow {
        id: recipient_id(g(r, 0)?)?,
        tenant: tenant(g(r, 1)?)?,
        name: g(r, 2)?,
        webhook_url: g(r, 3)?,
        secret: sealed(g(r, 4)?)?,
        key_hash: TokenHash(hash32(g(r, 5)?)?),
        key_expires_at: Timestamp(g(r, 6)?),
        created_at: Timestamp(g(r, 7)?),
        revoked_at: ts(g(r, 8)?),
    })
}

pub(crate) fn recipients_where(c: &Connection, cond: &str, p: impl Params) -> Result<Vec<RecipientRow>, StoreError> {
    rows(c, &format!("SELECT {RECIPIENT_COLS} FROM recipients WHERE {cond} ORDER BY id"), p, recipient_row)
}

const DISCLOSURE_COLS: &str = "id, tenant, subject, recipient, collection, fields, records, at";

fn disclosure_row(r: &Row<'_>) -> Result<DisclosureRow, StoreError> {
    let fields: Vec<String> = serde_json::from_str(&g::<String>(r, 5)?).map_err(|_| corrupt("fields"))?;
    let records: Vec<String> = serde_json::from_str(&g::<String>(r, 6)?).map_err(|_| corrupt("records"))?;
    Ok(DisclosureRow {
        id: DisclosureId::parse(&g::<String>(r, 0)?).map_err(|_| corrupt("disclosure id"))?,
        tenant: tenant(g(r, 1)?)?,
        subject: pseudonym(g(r, 2)?)?,
        recipient: recipient_id(g(r, 3)?)?,
        collection: CollectionName::parse(&g::<String>(r, 4)?).map_err(|_| corrupt("collection"))?,
        fields: fields.iter().map(|f| FieldName::parse(f).map_err(|_| corrupt("field"))).collect::<Result<_, _>>()?,
        records: records
            .iter()
            .map(|f| RecordId::parse(f).map_err(|_| corrupt("record id")))
            .collect::<Result<_, _>>()?,
        at: Timestamp(g(r, 7)?),
    })
}

pub(crate) fn disclosures(c: &Connection, t: &TenantCode, s: &Pseudonym) -> Result<Vec<DisclosureRow>, StoreError> {
    rows(
        c,
        &format!("SELECT {DISCLOSURE_COLS} FROM disclosures WHERE tenant = ?1 AND subject = ?2 ORDER BY at, id"),
        params![t.as_str(), s.as_str()],
        disclosure_row,
    )
}

pub(crate) fn disclosures_to(
    c: &Connection,
    rcp: &RecipientId,
    after: Option<&DisclosureId>,
    limit: u32,
) -> Result<Vec<DisclosureRow>, StoreError> {
    rows(
        c,
        &format!("SELECT {DISCLOSURE_COLS} FROM disclosures WHERE recipient = ?1 AND id > ?2 ORDER BY id LIMIT ?3"),
        params![rcp.as_str(), after.map(|a| a.as_str()).unwrap_or(""), limit],
        disclosure_row,
    )
}

const DSR_COLS: &str = "id, tenant, kind, subject, state, delete_shared, reason, reason_version, received_at, \
                        due_at, purge_after, closed_at, history";

fn dsr_row(r: &Row<'_>) -> Result<DsrRow, StoreError> {
    let kind = match g::<String>(r, 2)?.as_str() {
        "export" => DsrKind::Export,
        "erasure" => DsrKind::Erasure,
        _ => return Err(corrupt("request kind")),
    };
    let state = match g::<String>(r, 4)?.as_str() {
        "completed" => DsrState::Completed,
        "locked" => DsrState::Locked,
        "cancelled" => DsrState::Cancelled,
        "purged" => DsrState::Purged,
        _ => return Err(corrupt("request state")),
    };
    let history: Vec<DsrEvent> = serde_json::from_str(&g::<String>(r, 12)?).map_err(|_| corrupt("history"))?;
    Ok(DsrRow {
        id: dsr_id(g(r, 0)?)?,
        tenant: tenant(g(r, 1)?)?,
        kind,
        subject: g::<Option<String>>(r, 3)?.map(pseudonym).transpose()?,
        state,
        delete_shared: g(r, 5)?,
        reason: g::<Option<Vec<u8>>>(r, 6)?.map(sealed).transpose()?,
        reason_version: g(r, 7)?,
        received_at: Timestamp(g(r, 8)?),
        due_at: Timestamp(g(r, 9)?),
        purge_after: ts(g(r, 10)?),
        closed_at: ts(g(r, 11)?),
        history,
    })
}

pub(crate) fn dsrs_where(c: &Connection, cond: &str, p: impl Params) -> Result<Vec<DsrRow>, StoreError> {
    rows(c, &format!("SELECT {DSR_COLS} FROM dsr_requests WHERE {cond}"), p, dsr_row)
}

fn notice_row(r: &Row<'_>) -> Result<NoticeRow, StoreError> {
    Ok(NoticeRow {
        request: dsr_id(g(r, 0)?)?,
        tenant: tenant(g(r, 1)?)?,
        recipient: recipient_id(g(r, 2)?)?,
        attempts: g(r, 3)?,
        next_attempt_at: ts(g(r, 4)?),
        notified_at: ts(g(r, 5)?),
        acknowledged_at: ts(g(r, 6)?),
        last_error: g(r, 7)?,
    })
}

pub(crate) fn notices_where(c: &Connection, cond: &str, p: impl Params) -> Result<Vec<NoticeRow>, StoreError> {
    rows(
        c,
        &format!(
            "SELECT request, tenant, recipient, attempts, next_attempt_at, notified_at, acknowledged_at, last_error \
             FROM dsr_notices WHERE {cond}"
        ),
        p,
        notice_row,
    )
}

pub(crate) fn subject_records(
    c: &Connection,
    t: &TenantCode,
    s: &Pseudonym,
    after: Option<&RecordId>,
    limit: u32,
) -> Result<Vec<RecordRow>, StoreError> {
    let sql = format!(
        "SELECT {RECORD_COLS} FROM (SELECT * FROM records WHERE tenant = ?1 AND subject = ?2 AND id > ?3 ORDER BY id LIMIT ?4) r \
         LEFT JOIN record_fields f ON f.record_id = r.id ORDER BY r.id, f.field"
    );
    let mut st = c.prepare_cached(&sql).map_err(backend)?;
    let p = [
        SqlValue::from(t.as_str().to_owned()),
        SqlValue::from(s.as_str().to_owned()),
        SqlValue::from(after.map(|a| a.as_str().to_owned()).unwrap_or_default()),
        SqlValue::from(i64::from(limit)),
    ];
    collect_records(&mut st, &p)
}

pub(crate) fn records_created_before(
    c: &Connection,
    t: &TenantCode,
    coll: &CollectionName,
    cutoff: Timestamp,
    limit: u32,
) -> Result<Vec<RecordId>, StoreError> {
    rows(
        c,
        "SELECT id FROM records WHERE tenant = ?1 AND collection = ?2 AND created_at <= ?3 ORDER BY created_at LIMIT ?4",
        params![t.as_str(), coll.as_str(), cutoff.0, limit],
        |r| RecordId::parse(&g::<String>(r, 0)?).map_err(|_| corrupt("record id")),
    )
}

pub(crate) fn records_purge_due(
    c: &Connection,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<(TenantCode, RecordId)>, StoreError> {
    rows(
        c,
        "SELECT tenant, id FROM records WHERE purge_after IS NOT NULL AND purge_after <= ?1 ORDER BY purge_after LIMIT ?2",
        params![now.0, limit],
        |r| Ok((tenant(g(r, 0)?)?, RecordId::parse(&g::<String>(r, 1)?).map_err(|_| corrupt("record id"))?)),
    )
}

pub(crate) fn collections(c: &Connection, t: &TenantCode) -> Result<Vec<CollectionRow>, StoreError> {
    rows(
        c,
        "SELECT name, schema_json, created_at, updated_at FROM collections WHERE tenant = ?1 ORDER BY name",
        [t.as_str()],
        |r| {
            Ok(CollectionRow {
                tenant: t.clone(),
                name: CollectionName::parse(&g::<String>(r, 0)?).map_err(|_| corrupt("collection"))?,
                schema_json: g(r, 1)?,
                created_at: Timestamp(g(r, 2)?),
                updated_at: Timestamp(g(r, 3)?),
            })
        },
    )
}

const FILE_COLS: &str = "id, tenant, subject, kind, content_type, size, chunks, key_version, name, created_at, \
                         expires_at, hidden, purge_after";

fn file_row(r: &Row<'_>) -> Result<FileRow, StoreError> {
    let kv: i64 = g(r, 7)?;
    Ok(FileRow {
        id: FileId::parse(&g::<String>(r, 0)?).map_err(|_| corrupt("file id"))?,
        tenant: tenant(g(r, 1)?)?,
        subject: g::<Option<String>>(r, 2)?.map(pseudonym).transpose()?,
        kind: g(r, 3)?,
        content_type: g(r, 4)?,
        size: u64::try_from(g::<i64>(r, 5)?).map_err(|_| corrupt("file size"))?,
        chunks: g(r, 6)?,
        key: if kv == 0 { FieldKey::Subject } else { FieldKey::Tenant(u32::try_from(kv).map_err(|_| corrupt("key"))?) },
        name: sealed(g(r, 8)?)?,
        created_at: Timestamp(g(r, 9)?),
        expires_at: ts(g(r, 10)?),
        hidden: g::<i64>(r, 11)? != 0,
        purge_after: ts(g(r, 12)?),
    })
}

pub(crate) fn files_where(c: &Connection, cond: &str, p: impl Params) -> Result<Vec<FileRow>, StoreError> {
    rows(c, &format!("SELECT {FILE_COLS} FROM files WHERE {cond}"), p, file_row)
}

pub(crate) fn file_chunk(c: &Connection, id: &FileId, n: u32) -> Result<Option<custos_crypto::Sealed>, StoreError> {
    c.prepare_cached("SELECT ct FROM file_chunks WHERE file_id = ?1 AND n = ?2")
        .map_err(backend)?
        .query_row(params![id.as_str(), n], |r| r.get::<_, Vec<u8>>(0))
        .optional()
        .map_err(backend)?
        .map(sealed)
        .transpose()
}
