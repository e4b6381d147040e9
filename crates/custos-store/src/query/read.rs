//! Read queries for the SQLite store. Rows are parsed back into checked types; a row
//! that does not parse is reported as a backend fault, never passed on.

use crate::sql::Value as SqlValue;
use crate::sql::backend;
use crate::sql::{Connection, OptionalExtension, Row, params, params_from_iter};
use custos_core::audit::{AuditEntry, ChainedEntry, Checkpoint, Outcome, PrincipalKind};
use custos_core::clock::Timestamp;
use custos_core::ids::{CollectionName, FieldName, Pseudonym, Purpose, RecordId, TenantCode, ZoneName};
use custos_core::store::{
    ApiKeyRow, AuditFilter, CollectionRow, FieldKey, FieldRow, IndexRow, OperatorRow, RecordFilter, RecordMeta,
    RecordRow, StoreError, SubjectRow, SubjectState, TenantKeyRow, TenantRow, Visibility,
};
use custos_crypto::{Sealed, TokenHash};

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("stored {what} does not parse"))
}

pub(crate) fn hash32(b: Vec<u8>) -> Result<[u8; 32], StoreError> {
    b.try_into().map_err(|_| corrupt("hash"))
}

pub(crate) fn sealed(b: Vec<u8>) -> Result<Sealed, StoreError> {
    Sealed::from_bytes(b).map_err(|_| corrupt("ciphertext"))
}

fn u32_of(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt("version"))
}

pub(crate) fn meta(c: &Connection, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    c.prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .map_err(backend)?
        .query_row([key], |r| r.get(0))
        .optional()
        .map_err(backend)
}

pub(crate) fn operator_by_hash(c: &Connection, hash: &TokenHash) -> Result<Option<OperatorRow>, StoreError> {
    let row = c
        .prepare_cached("SELECT id, hash, created_at FROM operators WHERE hash = ?1")
        .map_err(backend)?
        .query_row([&hash.0[..]], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, i64>(2)?)))
        .optional()
        .map_err(backend)?;
    row.map(|(id, h, at)| Ok(OperatorRow { id, hash: TokenHash(hash32(h)?), created_at: Timestamp(at) })).transpose()
}

pub(crate) fn api_key_by_hash(c: &Connection, hash: &TokenHash) -> Result<Option<ApiKeyRow>, StoreError> {
    super::identity_read::api_keys_where(c, "hash = ?1", params![&hash.0[..]]).map(|mut v| v.pop())
}

fn tenant_row(r: &Row<'_>) -> crate::sql::Result<(String, String, String, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn tenant_parse((code, name, zone, v, at): (String, String, String, i64, i64)) -> Result<TenantRow, StoreError> {
    Ok(TenantRow {
        code: TenantCode::parse(&code).map_err(|_| corrupt("tenant code"))?,
        name,
        zone: ZoneName::parse(&zone).map_err(|_| corrupt("zone"))?,
        key_version: u32_of(v)?,
        created_at: Timestamp(at),
    })
}

pub(crate) fn tenant(c: &Connection, code: &TenantCode) -> Result<Option<TenantRow>, StoreError> {
    c.prepare_cached("SELECT code, name, zone, key_version, created_at FROM tenants WHERE code = ?1")
        .map_err(backend)?
        .query_row([code.as_str()], tenant_row)
        .optional()
        .map_err(backend)?
        .map(tenant_parse)
        .transpose()
}

pub(crate) fn tenants(c: &Connection) -> Result<Vec<TenantRow>, StoreError> {
    let mut st = c
        .prepare_cached("SELECT code, name, zone, key_version, created_at FROM tenants ORDER BY code")
        .map_err(backend)?;
    let rows = st.query_map((), tenant_row).map_err(backend)?;
    rows.map(|r| r.map_err(backend).and_then(tenant_parse)).collect()
}

pub(crate) fn tenant_key(c: &Connection, code: &TenantCode, version: u32) -> Result<Option<TenantKeyRow>, StoreError> {
    let row = c
        .prepare_cached("SELECT wrapped, created_at FROM tenant_keys WHERE tenant = ?1 AND version = ?2")
        .map_err(backend)?
        .query_row(params![code.as_str(), version], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))
        .optional()
        .map_err(backend)?;
    row.map(|(w, at)| {
        Ok(TenantKeyRow { tenant: code.clone(), version, wrapped: sealed(w)?, created_at: Timestamp(at) })
    })
    .transpose()
}

pub(crate) fn collection(
    c: &Connection,
    tenant: &TenantCode,
    name: &CollectionName,
) -> Result<Option<CollectionRow>, StoreError> {
    let row = c
        .prepare_cached("SELECT schema_json, created_at, updated_at FROM collections WHERE tenant = ?1 AND name = ?2")
        .map_err(backend)?
        .query_row(params![tenant.as_str(), name.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })
        .optional()
        .map_err(backend)?;
    Ok(row.map(|(schema_json, c, u)| CollectionRow {
        tenant: tenant.clone(),
        name: name.clone(),
        schema_json,
        created_at: Timestamp(c),
        updated_at: Timestamp(u),
    }))
}

type SubjectRaw = (String, i64, Vec<u8>, i64, String);

fn subject_parse(tenant: &TenantCode, (p, v, w, at, st): SubjectRaw) -> Result<SubjectRow, StoreError> {
    Ok(SubjectRow {
        state: SubjectState::parse(&st).ok_or_else(|| corrupt("subject state"))?,
        tenant: tenant.clone(),
        pseudonym: Pseudonym::parse(&p).map_err(|_| corrupt("pseudonym"))?,
        key_version: u32_of(v)?,
        wrapped_key: sealed(w)?,
        created_at: Timestamp(at),
    })
}

fn subject_row(r: &Row<'_>) -> crate::sql::Result<SubjectRaw> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

pub(crate) fn subject(c: &Connection, tenant: &TenantCode, p: &Pseudonym) -> Result<Option<SubjectRow>, StoreError> {
    c.prepare_cached(
        "SELECT pseudonym, key_version, wrapped_key, created_at, state FROM subjects WHERE tenant = ?1 AND pseudonym = ?2 \
         AND state IN ('active', 'locked')",
    )
    .map_err(backend)?
    .query_row(params![tenant.as_str(), p.as_str()], subject_row)
    .optional()
    .map_err(backend)?
    .map(|raw| subject_parse(tenant, raw))
    .transpose()
}

pub(crate) fn subjects_below(
    c: &Connection,
    tenant: &TenantCode,
    version: u32,
    limit: u32,
) -> Result<Vec<SubjectRow>, StoreError> {
    let mut st = c
        .prepare_cached("SELECT pseudonym, key_version, wrapped_key, created_at, state FROM subjects WHERE tenant = ?1 AND key_version < ?2 AND state IN ('active', 'locked') LIMIT ?3")
        .map_err(backend)?;
    let rows = st.query_map(params![tenant.as_str(), version, limit], subject_row).map_err(backend)?;
    rows.map(|r| r.map_err(backend).and_then(|raw| subject_parse(tenant, raw))).collect()
}

pub(crate) const RECORD_COLS: &str = "r.id, r.tenant, r.collection, r.subject, r.version, r.created_at, r.updated_at, \
                           f.field, f.key_version, f.ct, r.hidden, r.purposes";

/// Group joined (record, field) rows into records, keeping the query's order.
pub(crate) fn collect_records(
    st: &mut crate::sql::Stmt<'_>,
    params: &[SqlValue],
) -> Result<Vec<RecordRow>, StoreError> {
    let mut out: Vec<RecordRow> = Vec::new();
    let mut rows = st.query(params_from_iter(params.iter())).map_err(backend)?;
    while let Some(r) = rows.next().map_err(backend)? {
        let id: String = r.get(0).map_err(backend)?;
        if out.last().is_none_or(|last| last.meta.id.as_str() != id) {
            let subject: Option<String> = r.get(3).map_err(backend)?;
            out.push(RecordRow {
                meta: RecordMeta {
                    id: RecordId::parse(&id).map_err(|_| corrupt("record id"))?,
                    tenant: TenantCode::parse(&r.get::<_, String>(1).map_err(backend)?)
                        .map_err(|_| corrupt("tenant"))?,
                    collection: CollectionName::parse(&r.get::<_, String>(2).map_err(backend)?)
                        .map_err(|_| corrupt("collection"))?,
                    subject: subject.map(|s| Pseudonym::parse(&s).map_err(|_| corrupt("pseudonym"))).transpose()?,
                    version: r.get(4).map_err(backend)?,
                    created_at: Timestamp(r.get(5).map_err(backend)?),
                    updated_at: Timestamp(r.get(6).map_err(backend)?),
                    hidden: r.get::<_, i64>(10).map_err(backend)? != 0,
                    purposes: r
                        .get::<_, Option<String>>(11)
                        .map_err(backend)?
                        .map(|p| serde_json::from_str::<Vec<Purpose>>(&p).map_err(|_| corrupt("purposes")))
                        .transpose()?,
                },
                fields: Vec::new(),
            });
        }
        let field: Option<String> = r.get(7).map_err(backend)?;
        if let (Some(field), Some(last)) = (field, out.last_mut()) {
            let kv: i64 = r.get(8).map_err(backend)?;
            last.fields.push(FieldRow {
                field: FieldName::parse(&field).map_err(|_| corrupt("field name"))?,
                key: if kv == 0 { FieldKey::Subject } else { FieldKey::Tenant(u32_of(kv)?) },
                ct: sealed(r.get(9).map_err(backend)?)?,
            });
        }
    }
    Ok(out)
}

pub(crate) fn record(
    c: &Connection,
    tenant: &TenantCode,
    coll: &CollectionName,
    id: &RecordId,
) -> Result<Option<RecordRow>, StoreError> {
    let sql = format!(
        "SELECT {RECORD_COLS} FROM records r LEFT JOIN record_fields f ON f.record_id = r.id \
         WHERE r.id = ?1 AND r.tenant = ?2 AND r.collection = ?3 ORDER BY f.field"
    );
    let mut st = c.prepare_cached(&sql).map_err(backend)?;
    let p = [
        SqlValue::from(id.as_str().to_owned()),
        SqlValue::from(tenant.as_str().to_owned()),
        SqlValue::from(coll.as_str().to_owned()),
    ];
    Ok(collect_records(&mut st, &p)?.pop())
}

pub(crate) fn records(
    c: &Connection,
    tenant: &TenantCode,
    filter: &RecordFilter,
    after: Option<&RecordId>,
    limit: u32,
    visibility: Visibility,
) -> Result<Vec<RecordRow>, StoreError> {
    let live = match visibility {
        Visibility::Live => "AND hidden = 0",
        Visibility::All => "",
    };
    let after = after.map(|a| a.as_str().to_owned()).unwrap_or_default();
    let mut p: Vec<SqlValue> = vec![tenant.as_str().to_owned().into(), after.into(), i64::from(limit).into()];
    let inner = match filter {
        RecordFilter::Collection(coll) => {
            p.push(coll.as_str().to_owned().into());
            format!(
                "SELECT * FROM records WHERE tenant = ?1 AND collection = ?4 AND id > ?2 {live} ORDER BY id LIMIT ?3"
            )
        }
        RecordFilter::Subject(coll, s) => {
            p.push(coll.as_str().to_owned().into());
            p.push(s.as_str().to_owned().into());
            format!(
                "SELECT * FROM records WHERE tenant = ?1 AND subject = ?5 AND collection = ?4 AND id > ?2 {live} ORDER BY id LIMIT ?3"
            )
        }
        RecordFilter::Index(coll, field, macs) => {
            p.push(coll.as_str().to_owned().into());
            p.push(field.as_str().to_owned().into());
            let mut holes = Vec::with_capacity(macs.len());
            for (_, mac) in macs {
                p.push(mac.to_vec().into());
                holes.push(format!("?{}", p.len()));
            }
            if holes.is_empty() {
                return Ok(Vec::new());
            }
            format!(
                "SELECT * FROM records WHERE tenant = ?1 AND collection = ?4 AND id > ?2 {live} AND id IN \
                 (SELECT record_id FROM blind_index WHERE tenant = ?1 AND collection = ?4 AND field = ?5 AND mac IN ({})) \
                 ORDER BY id LIMIT ?3",
                holes.join(", ")
            )
        }
    };
    let sql = format!(
        "SELECT {RECORD_COLS} FROM ({inner}) r LEFT JOIN record_fields f ON f.record_id = r.id ORDER BY r.id, f.field"
    );
    let mut st = c.prepare_cached(&sql).map_err(backend)?;
    collect_records(&mut st, &p)
}

pub(crate) fn records_below(
    c: &Connection,
    tenant: &TenantCode,
    version: u32,
    limit: u32,
) -> Result<Vec<(RecordRow, Vec<IndexRow>)>, StoreError> {
    let inner = "SELECT * FROM records WHERE tenant = ?1 AND id IN ( \
                   SELECT record_id FROM record_fields WHERE key_version BETWEEN 1 AND ?2 - 1 \
                   UNION SELECT record_id FROM blind_index WHERE tenant = ?1 AND version < ?2) \
                 ORDER BY id LIMIT ?3";
    let sql = format!(
        "SELECT {RECORD_COLS} FROM ({inner}) r LEFT JOIN record_fields f ON f.record_id = r.id ORDER BY r.id, f.field"
    );
    let mut st = c.prepare_cached(&sql).map_err(backend)?;
    let p = [
        SqlValue::from(tenant.as_str().to_owned()),
        SqlValue::from(i64::from(version)),
        SqlValue::from(i64::from(limit)),
    ];
    let recs = collect_records(&mut st, &p)?;
    let mut ist =
        c.prepare_cached("SELECT field, version, mac FROM blind_index WHERE record_id = ?1").map_err(backend)?;
    let mut out = Vec::with_capacity(recs.len());
    for rec in recs {
        let rows = ist
            .query_map([rec.meta.id.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?))
            })
            .map_err(backend)?;
        let mut index = Vec::new();
        for row in rows {
            let (f, v, m) = row.map_err(backend)?;
            index.push(IndexRow {
                field: FieldName::parse(&f).map_err(|_| corrupt("field"))?,
                version: u32_of(v)?,
                mac: hash32(m)?,
            });
        }
        out.push((rec, index));
    }
    Ok(out)
}

fn opt<T>(
    v: Option<String>,
    parse: fn(&str) -> Result<T, custos_core::CoreError>,
    what: &str,
) -> Result<Option<T>, StoreError> {
    v.map(|s| parse(&s).map_err(|_| corrupt(what))).transpose()
}

const AUDIT_COLS: &str = "seq, time, zone, tenant, principal_kind, principal_id, action, collection, record_id, \
     subject, purpose, outcome, reason, client, request_id, count, prev_hash, hash";

pub(crate) fn audit_after(c: &Connection, after: i64, limit: u32) -> Result<Vec<ChainedEntry>, StoreError> {
    let mut st = c
        .prepare_cached(&format!("SELECT {AUDIT_COLS} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"))
        .map_err(backend)?;
    let params: [SqlValue; 2] = [after.into(), i64::from(limit).into()];
    audit_rows(&mut st, &params)
}

pub(crate) fn audit_query(
    c: &Connection,
    f: &AuditFilter,
    after: i64,
    limit: u32,
) -> Result<Vec<ChainedEntry>, StoreError> {
    let tenant_cond = if f.tenant.is_some() { "" } else { " AND tenant IS NULL" };
    let mut sql = format!("SELECT {AUDIT_COLS} FROM audit_log WHERE seq > ?1{tenant_cond}");
    let mut p: Vec<SqlValue> = vec![after.into()];
    let mut cond = |col: &str, op: &str, v: SqlValue| {
        p.push(v);
        sql.push_str(&format!(" AND {col} {op} ?{}", p.len()));
    };
    if let Some(t) = &f.tenant {
        cond("tenant", "=", t.as_str().to_owned().into());
    }
    if let Some(t) = f.from {
        cond("time", ">=", t.0.into());
    }
    if let Some(t) = f.to {
        cond("time", "<", t.0.into());
    }
    if let Some(v) = &f.principal {
        cond("principal_id", "=", v.clone().into());
    }
    if let Some(v) = &f.subject {
        cond("subject", "=", v.as_str().to_owned().into());
    }
    if let Some(v) = &f.action {
        cond("action", "=", v.clone().into());
    }
    if let Some(v) = f.outcome {
        cond("outcome", "=", v.as_str().to_owned().into());
    }
    p.push(i64::from(limit).into());
    sql.push_str(&format!(" ORDER BY seq LIMIT ?{}", p.len()));
    let mut st = c.prepare_cached(&sql).map_err(backend)?;
    audit_rows(&mut st, &p)
}

fn audit_rows(st: &mut crate::sql::Stmt<'_>, params: &[SqlValue]) -> Result<Vec<ChainedEntry>, StoreError> {
    let mut rows = st.query(params_from_iter(params.iter())).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(backend)? {
        let g = |i: usize| -> Result<Option<String>, StoreError> { r.get(i).map_err(backend) };
        let s = |i: usize| -> Result<String, StoreError> { r.get(i).map_err(backend) };
        let entry = AuditEntry {
            time: Timestamp(r.get(1).map_err(backend)?),
            zone: ZoneName::parse(&s(2)?).map_err(|_| corrupt("zone"))?,
            tenant: opt(g(3)?, TenantCode::parse, "tenant")?,
            principal_kind: PrincipalKind::parse(&s(4)?).ok_or_else(|| corrupt("principal kind"))?,
            principal_id: s(5)?,
            action: s(6)?,
            collection: opt(g(7)?, CollectionName::parse, "collection")?,
            record: opt(g(8)?, RecordId::parse, "record id")?,
            subject: opt(g(9)?, Pseudonym::parse, "pseudonym")?,
            purpose: opt(g(10)?, Purpose::parse, "purpose")?,
            outcome: Outcome::parse(&s(11)?).ok_or_else(|| corrupt("outcome"))?,
            reason: g(12)?,
            client: g(13)?,
            request_id: s(14)?,
            count: r.get(15).map_err(backend)?,
        };
        out.push(ChainedEntry {
            seq: r.get(0).map_err(backend)?,
            entry,
            prev_hash: hash32(r.get(16).map_err(backend)?)?,
            hash: hash32(r.get(17).map_err(backend)?)?,
        });
    }
    Ok(out)
}

pub(crate) fn audit_head(c: &Connection) -> Result<Option<(i64, [u8; 32])>, StoreError> {
    let row: Option<(i64, Vec<u8>)> = c
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .map_err(backend)?
        .query_row((), |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(backend)?;
    row.map(|(s, h)| Ok((s, hash32(h)?))).transpose()
}

pub(crate) fn audit_last_checkpoint(c: &Connection) -> Result<Option<Checkpoint>, StoreError> {
    Ok(checkpoints_where(c, "ORDER BY seq DESC LIMIT 1")?.pop())
}

pub(crate) fn audit_checkpoints(c: &Connection) -> Result<Vec<Checkpoint>, StoreError> {
    checkpoints_where(c, "ORDER BY seq")
}

fn checkpoints_where(c: &Connection, tail: &str) -> Result<Vec<Checkpoint>, StoreError> {
    let mut st = c
        .prepare_cached(&format!("SELECT seq, hash, time, signature FROM audit_checkpoints {tail}"))
        .map_err(backend)?;
    let rows = st
        .query_map((), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, i64>(2)?, r.get::<_, Vec<u8>>(3)?))
        })
        .map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, hash, time, sig) = row.map_err(backend)?;
        out.push(Checkpoint {
            seq,
            hash: hash32(hash)?,
            time: Timestamp(time),
            signature: sig.try_into().map_err(|_| corrupt("checkpoint signature"))?,
        });
    }
    Ok(out)
}
