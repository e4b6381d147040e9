//! Schema migrations for the SQLite store, tracked by `PRAGMA user_version`.

use super::backend;
use custos_core::store::StoreError;
use rusqlite::Connection;

/// Every schema step, written for SQLite; PostgreSQL runs the same steps translated
/// (`postgres::migrate`), so both engines hold the same tables and columns.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: foundation
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE operators (id TEXT PRIMARY KEY, hash BLOB NOT NULL UNIQUE, created_at INTEGER NOT NULL);
    CREATE TABLE tenants (
        code TEXT PRIMARY KEY, name TEXT NOT NULL, zone TEXT NOT NULL,
        key_version INTEGER NOT NULL, created_at INTEGER NOT NULL);
    CREATE TABLE tenant_keys (
        tenant TEXT NOT NULL REFERENCES tenants(code), version INTEGER NOT NULL,
        wrapped BLOB NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (tenant, version));
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(code), name TEXT NOT NULL,
        role TEXT NOT NULL, hash BLOB NOT NULL UNIQUE, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
    CREATE TABLE collections (
        tenant TEXT NOT NULL REFERENCES tenants(code), name TEXT NOT NULL, schema_json TEXT NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (tenant, name));
    CREATE TABLE subjects (
        tenant TEXT NOT NULL REFERENCES tenants(code), pseudonym TEXT NOT NULL,
        key_version INTEGER NOT NULL, wrapped_key BLOB NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, pseudonym));
    CREATE INDEX subjects_by_version ON subjects (tenant, key_version);
    CREATE TABLE records (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, collection TEXT NOT NULL, subject TEXT,
        version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        FOREIGN KEY (tenant, collection) REFERENCES collections (tenant, name),
        FOREIGN KEY (tenant, subject) REFERENCES subjects (tenant, pseudonym));
    CREATE INDEX records_by_collection ON records (tenant, collection, id);
    CREATE INDEX records_by_subject ON records (tenant, subject, collection, id);
    -- key_version: 0 = sealed under the record's subject key, n = tenant key version n
    CREATE TABLE record_fields (
        record_id TEXT NOT NULL REFERENCES records(id) ON DELETE CASCADE, field TEXT NOT NULL,
        key_version INTEGER NOT NULL, ct BLOB NOT NULL, PRIMARY KEY (record_id, field)) WITHOUT ROWID;
    CREATE INDEX record_fields_by_version ON record_fields (key_version, record_id);
    CREATE TABLE blind_index (
        tenant TEXT NOT NULL, collection TEXT NOT NULL, field TEXT NOT NULL, version INTEGER NOT NULL,
        mac BLOB NOT NULL, record_id TEXT NOT NULL REFERENCES records(id) ON DELETE CASCADE,
        PRIMARY KEY (record_id, field, version)) WITHOUT ROWID;
    CREATE INDEX blind_index_lookup ON blind_index (tenant, collection, field, mac, record_id);
    CREATE INDEX blind_index_by_version ON blind_index (tenant, version);
    "#,
    // 2: audit trail (hash chain per zone)
    r#"
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, zone TEXT NOT NULL, tenant TEXT,
        principal_kind TEXT NOT NULL, principal_id TEXT NOT NULL, action TEXT NOT NULL,
        collection TEXT, record_id TEXT, subject TEXT, purpose TEXT, outcome TEXT NOT NULL,
        reason TEXT, client TEXT, request_id TEXT NOT NULL, count INTEGER NOT NULL,
        prev_hash BLOB NOT NULL, hash BLOB NOT NULL);
    CREATE INDEX audit_by_tenant ON audit_log (tenant, seq);
    CREATE TABLE audit_checkpoints (
        seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, time INTEGER NOT NULL, signature BLOB NOT NULL);
    "#,
    // 3: staff identity, sessions, throttle, roles, OpenID Connect, access reviews
    r#"
    CREATE TABLE users (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, login_mac BLOB NOT NULL, email_mac BLOB,
        profile BLOB NOT NULL, password TEXT, roles TEXT NOT NULL, totp BLOB,
        totp_enabled INTEGER NOT NULL, totp_last_step INTEGER NOT NULL, disabled INTEGER NOT NULL,
        created_at INTEGER NOT NULL, last_login_at INTEGER, UNIQUE (tenant, login_mac));
    CREATE UNIQUE INDEX users_by_email ON users (tenant, email_mac) WHERE email_mac IS NOT NULL;
    CREATE INDEX users_by_tenant ON users (tenant, id);
    CREATE TABLE recovery_codes (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, hash BLOB NOT NULL, used_at INTEGER,
        PRIMARY KEY (user_id, hash)) WITHOUT ROWID;
    CREATE TABLE sessions (
        hash BLOB PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
        mfa INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX sessions_by_user ON sessions (user_id);
    CREATE TABLE throttle (
        key BLOB PRIMARY KEY, failures INTEGER NOT NULL, locked_until INTEGER NOT NULL,
        updated_at INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE reset_tokens (
        hash BLOB PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        purpose TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
        used_at INTEGER) WITHOUT ROWID;
    CREATE INDEX reset_tokens_by_user ON reset_tokens (user_id);
    CREATE TABLE roles (
        tenant TEXT NOT NULL REFERENCES tenants(code), name TEXT NOT NULL, permissions TEXT NOT NULL,
        updated_at INTEGER NOT NULL, PRIMARY KEY (tenant, name));
    CREATE TABLE oidc_configs (
        tenant TEXT PRIMARY KEY REFERENCES tenants(code), settings TEXT NOT NULL, client_secret BLOB NOT NULL,
        updated_at INTEGER NOT NULL);
    CREATE TABLE oidc_pending (
        state_hash BLOB PRIMARY KEY, tenant TEXT NOT NULL, secrets BLOB NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE access_reviews (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(code), reviewer TEXT NOT NULL,
        at INTEGER NOT NULL, summary TEXT NOT NULL);
    CREATE INDEX access_reviews_by_tenant ON access_reviews (tenant, at);
    ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;
    ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
    ALTER TABLE api_keys ADD COLUMN reminded_at INTEGER;
    CREATE INDEX api_keys_by_tenant ON api_keys (tenant, id);
    "#,
    r#"
    ALTER TABLE subjects ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
    -- hidden: bit 1 = deleted (purged after purge_after), bit 2 = its subject is locked
    ALTER TABLE records ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE records ADD COLUMN purge_after INTEGER;
    ALTER TABLE records ADD COLUMN purposes TEXT;
    CREATE INDEX records_by_created ON records (tenant, collection, created_at);
    CREATE INDEX records_purge_due ON records (purge_after) WHERE purge_after IS NOT NULL;
    CREATE TABLE subject_ids (
        tenant TEXT NOT NULL, mac BLOB NOT NULL, pseudonym TEXT NOT NULL,
        PRIMARY KEY (tenant, mac), FOREIGN KEY (tenant, pseudonym) REFERENCES subjects (tenant, pseudonym)) WITHOUT ROWID;
    CREATE INDEX subject_ids_by_subject ON subject_ids (tenant, pseudonym);
    CREATE TABLE recipients (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(code), name TEXT NOT NULL,
        webhook_url TEXT NOT NULL, secret BLOB NOT NULL, key_hash BLOB NOT NULL UNIQUE,
        key_expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER);
    CREATE INDEX recipients_by_tenant ON recipients (tenant, id);
    CREATE TABLE disclosures (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, subject TEXT NOT NULL, recipient TEXT NOT NULL REFERENCES recipients(id),
        collection TEXT NOT NULL, fields TEXT NOT NULL, records TEXT NOT NULL, at INTEGER NOT NULL,
        FOREIGN KEY (tenant, subject) REFERENCES subjects (tenant, pseudonym));
    CREATE INDEX disclosures_by_subject ON disclosures (tenant, subject, id);
    CREATE INDEX disclosures_by_recipient ON disclosures (recipient, id);
    CREATE TABLE dsr_requests (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(code), kind TEXT NOT NULL, subject TEXT,
        state TEXT NOT NULL, delete_shared INTEGER NOT NULL, reason BLOB, reason_version INTEGER NOT NULL,
        received_at INTEGER NOT NULL, due_at INTEGER NOT NULL, purge_after INTEGER, closed_at INTEGER,
        history TEXT NOT NULL);
    CREATE INDEX dsr_by_tenant ON dsr_requests (tenant, id);
    CREATE INDEX dsr_by_subject ON dsr_requests (tenant, subject) WHERE subject IS NOT NULL;
    CREATE INDEX dsr_open ON dsr_requests (state, purge_after);
    CREATE TABLE dsr_notices (
        request TEXT NOT NULL REFERENCES dsr_requests(id), tenant TEXT NOT NULL, recipient TEXT NOT NULL,
        attempts INTEGER NOT NULL, next_attempt_at INTEGER, notified_at INTEGER, acknowledged_at INTEGER,
        last_error TEXT, PRIMARY KEY (request, recipient)) WITHOUT ROWID;
    CREATE INDEX dsr_notices_due ON dsr_notices (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
    CREATE TABLE files (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(code), subject TEXT, kind TEXT NOT NULL,
        content_type TEXT NOT NULL, size INTEGER NOT NULL, chunks INTEGER NOT NULL, key_version INTEGER NOT NULL,
        name BLOB NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER, hidden INTEGER NOT NULL,
        purge_after INTEGER, FOREIGN KEY (tenant, subject) REFERENCES subjects (tenant, pseudonym));
    CREATE INDEX files_by_subject ON files (tenant, subject, id) WHERE subject IS NOT NULL;
    CREATE INDEX files_expiry ON files (expires_at) WHERE expires_at IS NOT NULL;
    CREATE INDEX files_purge_due ON files (purge_after) WHERE purge_after IS NOT NULL;
    CREATE TABLE file_chunks (
        file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE, n INTEGER NOT NULL, ct BLOB NOT NULL,
        PRIMARY KEY (file_id, n)) WITHOUT ROWID;
    "#,
    // 5: leases, so a background job runs on one node of a zone at a time
    r#"
    CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
    "#,
];

/// Bring the database to the newest schema, one transaction per migration.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).map_err(backend)?.try_into().unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this binary ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1)).map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(())
}
