//! Applying one write set's operations on the writer connection, with each operation's
//! preconditions (unique codes, expected versions, rows still unchanged).

use crate::sql::backend;
use crate::sql::{Connection, OptionalExtension, params};
use custos_core::audit::{AuditEntry, GENESIS, chain_hash};
use custos_core::ids::{CollectionName, RecordId, TenantCode};
use custos_core::store::{FieldKey, FieldRow, IndexRow, StoreError, WriteOp};

fn key_col(k: FieldKey) -> i64 {
    match k {
        FieldKey::Subject => 0,
        FieldKey::Tenant(v) => i64::from(v),
    }
}

/// Narrowed purposes as stored (JSON list), or NULL.
pub(crate) fn purposes_col(p: Option<&[custos_core::ids::Purpose]>) -> Result<Option<String>, StoreError> {
    p.map(|p| serde_json::to_string(p).map_err(|_| StoreError::Backend("purposes do not encode".into()))).transpose()
}

pub(crate) fn unique(what: &'static str) -> impl Fn(crate::sql::Error) -> StoreError {
    move |e| if e.is_constraint() { StoreError::Conflict(what) } else { backend(e) }
}

pub(crate) fn insert_fields(conn: &Connection, record: &str, fields: &[FieldRow]) -> Result<(), StoreError> {
    let mut st = conn
        .prepare_cached("INSERT INTO record_fields (record_id, field, key_version, ct) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (record_id, field) DO UPDATE SET key_version = excluded.key_version, ct = excluded.ct")
        .map_err(backend)?;
    for f in fields {
        st.execute(params![record, f.field.as_str(), key_col(f.key), f.ct.as_bytes()]).map_err(backend)?;
    }
    Ok(())
}

pub(crate) fn insert_index(
    conn: &Connection,
    tenant: &str,
    collection: &str,
    record: &str,
    index: &[IndexRow],
) -> Result<(), StoreError> {
    let mut st = conn
        .prepare_cached("INSERT INTO blind_index (tenant, collection, field, version, mac, record_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .map_err(backend)?;
    for i in index {
        st.execute(params![tenant, collection, i.field.as_str(), i.version, &i.mac[..], record]).map_err(backend)?;
    }
    Ok(())
}

fn record_exists(
    conn: &Connection,
    tenant: &TenantCode,
    collection: &CollectionName,
    id: &RecordId,
) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM records WHERE id = ?1 AND tenant = ?2 AND collection = ?3)")
        .map_err(backend)?
        .query_row(params![id.as_str(), tenant.as_str(), collection.as_str()], |r| r.get(0))
        .map_err(backend)
}

/// Append to the chain: next sequence number and hash, from the last row of this
/// transaction's view (so a rolled-back savepoint leaves no gap).
fn append_audit(conn: &Connection, e: &AuditEntry) -> Result<(), StoreError> {
    let last: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .map_err(backend)?
        .query_row((), |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(backend)?;
    // After retention pruned every entry, the chain continues from the anchor checkpoint.
    let last = match last {
        Some(l) => Some(l),
        None => conn
            .prepare_cached("SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
            .map_err(backend)?
            .query_row((), |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(backend)?,
    };
    let (seq, prev) = match last {
        None => (1, GENESIS),
        Some((s, h)) => (s + 1, h.try_into().map_err(|_| StoreError::Backend("audit chain head is corrupt".into()))?),
    };
    let hash = chain_hash(&prev, seq, e);
    conn.prepare_cached(
        "INSERT INTO audit_log (seq, time, zone, tenant, principal_kind, principal_id, action, collection, record_id, \
         subject, purpose, outcome, reason, client, request_id, count, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )
    .map_err(backend)?
    .execute(params![
        seq,
        e.time.0,
        e.zone.as_str(),
        e.tenant.as_ref().map(|t| t.as_str()),
        e.principal_kind.as_str(),
        e.principal_id,
        e.action,
        e.collection.as_ref().map(|c| c.as_str()),
        e.record.as_ref().map(|r| r.as_str()),
        e.subject.as_ref().map(|s| s.as_str()),
        e.purpose.as_ref().map(|p| p.as_str()),
        e.outcome.as_str(),
        e.reason,
        e.client,
        e.request_id,
        e.count,
        &prev[..],
        &hash[..],
    ])
    .map_err(backend)?;
    Ok(())
}

/// Apply every op, or fail (the caller rolls back to the set's savepoint).
pub(crate) fn apply_ops(conn: &Connection, ops: &[WriteOp]) -> Result<(), StoreError> {
    for op in ops {
        apply_op(conn, op)?;
    }
    Ok(())
}

fn apply_op(conn: &Connection, op: &WriteOp) -> Result<(), StoreError> {
    match op {
        WriteOp::Audit(e) => append_audit(conn, e)?,
        WriteOp::PruneAudit { through } => {
            let anchored: bool = conn
                .query_row("SELECT EXISTS (SELECT 1 FROM audit_checkpoints WHERE seq = ?1)", [through], |r| r.get(0))
                .map_err(backend)?;
            if !anchored {
                return Err(StoreError::NotFound("audit checkpoint"));
            }
            conn.execute("DELETE FROM audit_log WHERE seq <= ?1", [through]).map_err(backend)?;
            conn.execute("DELETE FROM audit_checkpoints WHERE seq < ?1", [through]).map_err(backend)?;
        }
        WriteOp::AuditCheckpoint(c) => {
            conn.execute(
                "INSERT INTO audit_checkpoints (seq, hash, time, signature) VALUES (?1, ?2, ?3, ?4)",
                params![c.seq, &c.hash[..], c.time.0, &c.signature[..]],
            )
            .map_err(unique("audit checkpoint"))?;
        }
        WriteOp::PutMeta(k, v) => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![k, v],
            )
            .map_err(backend)?;
        }
        WriteOp::TakeLease { name, holder, now, until } => {
            let n = conn
                .execute(
                    "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?4) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                     WHERE leases.holder = excluded.holder OR leases.expires_at <= ?3",
                    params![name, holder, now.0, until.0],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::Conflict("lease"));
            }
        }
        WriteOp::InsertOperator(o) => {
            conn.execute(
                "INSERT INTO operators (id, hash, created_at) VALUES (?1, ?2, ?3)",
                params![o.id, &o.hash.0[..], o.created_at.0],
            )
            .map_err(unique("operator"))?;
        }
        WriteOp::InsertTenant(t) => {
            conn.execute(
                "INSERT INTO tenants (code, name, zone, key_version, created_at) VALUES (?1, ?2, ?3, 0, ?4)",
                params![t.code.as_str(), t.name, t.zone.as_str(), t.created_at.0],
            )
            .map_err(unique("tenant"))?;
        }
        WriteOp::InsertTenantKey(k) => {
            conn.execute(
                "INSERT INTO tenant_keys (tenant, version, wrapped, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![k.tenant.as_str(), k.version, k.wrapped.as_bytes(), k.created_at.0],
            )
            .map_err(unique("tenant key version"))?;
            let n = conn
                .execute(
                    "UPDATE tenants SET key_version = ?2 WHERE code = ?1 AND key_version < ?2",
                    params![k.tenant.as_str(), k.version],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::Conflict("tenant key version"));
            }
        }
        WriteOp::Identity(op) => super::identity_apply::apply(conn, op)?,
        WriteOp::Privacy(op) => super::privacy_apply::apply(conn, op)?,
        WriteOp::InsertApiKey(k) => {
            conn.execute(
                "INSERT INTO api_keys (id, tenant, name, role, hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![k.id.as_str(), k.tenant.as_str(), k.name, k.role.as_str(), &k.hash.0[..], k.created_at.0, k.expires_at.0],
            )
            .map_err(unique("api key"))?;
        }
        WriteOp::PutCollection(c) => {
            conn.execute(
                "INSERT INTO collections (tenant, name, schema_json, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (tenant, name) DO UPDATE SET schema_json = excluded.schema_json, updated_at = excluded.updated_at",
                params![c.tenant.as_str(), c.name.as_str(), c.schema_json, c.created_at.0, c.updated_at.0],
            )
            .map_err(backend)?;
        }
        WriteOp::InsertSubject(s) => {
            conn.prepare_cached("INSERT INTO subjects (tenant, pseudonym, key_version, wrapped_key, created_at, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(backend)?
                .execute(params![s.tenant.as_str(), s.pseudonym.as_str(), s.key_version, s.wrapped_key.as_bytes(), s.created_at.0, s.state.as_str()])
                .map_err(unique("subject"))?;
        }
        WriteOp::RewrapSubject { tenant, pseudonym, from_version, to_version, wrapped_key } => {
            conn.execute(
                "UPDATE subjects SET key_version = ?4, wrapped_key = ?5 WHERE tenant = ?1 AND pseudonym = ?2 AND key_version = ?3",
                params![tenant.as_str(), pseudonym.as_str(), from_version, to_version, wrapped_key.as_bytes()],
            )
            .map_err(backend)?;
        }
        WriteOp::InsertRecord { meta, fields, index } => {
            conn.prepare_cached(
                "INSERT INTO records (id, tenant, collection, subject, version, created_at, updated_at, purposes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(backend)?
            .execute(params![
                meta.id.as_str(),
                meta.tenant.as_str(),
                meta.collection.as_str(),
                meta.subject.as_ref().map(|s| s.as_str()),
                meta.version,
                meta.created_at.0,
                meta.updated_at.0,
                purposes_col(meta.purposes.as_deref())?
            ])
            .map_err(unique("record"))?;
            insert_fields(conn, meta.id.as_str(), fields)?;
            insert_index(conn, meta.tenant.as_str(), meta.collection.as_str(), meta.id.as_str(), index)?;
        }
        WriteOp::UpdateRecord { tenant, collection, id, expected_version, updated_at, set, remove, reindex, index } => {
            let n = conn
                .prepare_cached(
                    "UPDATE records SET version = version + 1, updated_at = ?5 WHERE id = ?1 AND tenant = ?2 AND collection = ?3 AND version = ?4",
                )
                .map_err(backend)?
                .execute(params![id.as_str(), tenant.as_str(), collection.as_str(), expected_version, updated_at.0])
                .map_err(backend)?;
            if n == 0 {
                return Err(if record_exists(conn, tenant, collection, id)? {
                    StoreError::Stale
                } else {
                    StoreError::NotFound("record")
                });
            }
            insert_fields(conn, id.as_str(), set)?;
            for f in remove {
                conn.execute(
                    "DELETE FROM record_fields WHERE record_id = ?1 AND field = ?2",
                    params![id.as_str(), f.as_str()],
                )
                .map_err(backend)?;
            }
            for f in reindex {
                conn.execute(
                    "DELETE FROM blind_index WHERE record_id = ?1 AND field = ?2",
                    params![id.as_str(), f.as_str()],
                )
                .map_err(backend)?;
            }
            insert_index(conn, tenant.as_str(), collection.as_str(), id.as_str(), index)?;
        }
        WriteOp::DeleteRecord { tenant, collection, id } => {
            if !record_exists(conn, tenant, collection, id)? {
                return Err(StoreError::NotFound("record"));
            }
            conn.execute("DELETE FROM blind_index WHERE record_id = ?1", params![id.as_str()]).map_err(backend)?;
            conn.execute("DELETE FROM record_fields WHERE record_id = ?1", params![id.as_str()]).map_err(backend)?;
            conn.execute("DELETE FROM records WHERE id = ?1", params![id.as_str()]).map_err(backend)?;
        }
        WriteOp::RewrapField { record, new, old } => {
            conn.execute(
                "UPDATE record_fields SET key_version = ?3, ct = ?4 WHERE record_id = ?1 AND field = ?2 AND ct = ?5",
                params![record.as_str(), new.field.as_str(), key_col(new.key), new.ct.as_bytes(), old.as_bytes()],
            )
            .map_err(backend)?;
        }
        WriteOp::RewrapIndex { record, field, from_version, new } => {
            let n = conn
                .execute(
                    "UPDATE blind_index SET version = ?4, mac = ?5 WHERE record_id = ?1 AND field = ?2 AND version = ?3",
                    params![record.as_str(), field.as_str(), from_version, new.version, &new.mac[..]],
                )
                .map_err(backend);
            // A newer entry for the same field may exist already (an update raced us).
            if let Err(StoreError::Backend(_)) = n {
                conn.execute(
                    "DELETE FROM blind_index WHERE record_id = ?1 AND field = ?2 AND version = ?3",
                    params![record.as_str(), field.as_str(), from_version],
                )
                .map_err(backend)?;
            }
        }
    }
    Ok(())
}
