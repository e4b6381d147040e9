//! The storage boundary. A `Store` holds rows whose personal data is already sealed;
//! it never sees a key or a plaintext value. Writes are sets of operations applied
//! atomically (a backend may group several sets into one transaction, each in its own
//! savepoint); reads are plain queries. Every backend passes the conformance suite in
//! `custos-store`.

use crate::audit::{AuditEntry, ChainedEntry, Checkpoint, Outcome};
use crate::clock::Timestamp;
use crate::ids::{ApiKeyId, CollectionName, FieldName, Pseudonym, RecordId, TenantCode, ZoneName};
use crate::policy::RoleName;
use async_trait::async_trait;
use custos_crypto::{Sealed, TokenHash};

mod identity;
mod privacy;
mod snapshot;
pub use identity::{
    AccessReviewRow, IdentityOp, IdentityStore, OidcConfigRow, OidcPendingRow, ResetTokenRow, RoleRow, SessionRow,
    ThrottlePolicy, ThrottleState, TokenPurpose, UserRow,
};
pub use privacy::{
    AnonymisedRecord, DisclosureRow, DsrEvent, DsrKind, DsrRow, DsrState, ErasureLedger, FileRow, LedgerEntry,
    NoticeRow, PrivacyOp, PrivacyStore, RecipientRow, SubjectState, Visibility,
};
pub use snapshot::{
    Column, ColumnType, LogicalSnapshot, SnapshotInfo, SnapshotSink, SnapshotSource, TableHeader, Value,
};

/// Storage errors. `Conflict` and `NotFound` are outcomes of preconditions in a write set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique key already exists (tenant code, subject, record id, key version).
    #[error("already exists: {0}")]
    Conflict(&'static str),
    /// A precondition's row is missing.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A row was changed since it was read (optimistic concurrency).
    #[error("stale version")]
    Stale,
    /// A throttle key is locked until the given time.
    #[error("locked until {until:?}")]
    Locked {
        /// End of the lock.
        until: Timestamp,
    },
    /// The backend failed (I/O, corruption, closed writer). Details go to the log only.
    #[error("backend failure: {0}")]
    Backend(String),
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    /// Account code.
    pub code: TenantCode,
    /// Display name (an organisation's name: not personal data).
    pub name: String,
    /// Zone the tenant lives in.
    pub zone: ZoneName,
    /// Newest key version: new writes use it.
    pub key_version: u32,
    /// Created.
    pub created_at: Timestamp,
}

/// One wrapped tenant key version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantKeyRow {
    /// Tenant.
    pub tenant: TenantCode,
    /// Version.
    pub version: u32,
    /// Wrapped by the root key.
    pub wrapped: Sealed,
    /// Created.
    pub created_at: Timestamp,
}

/// A service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// Public id.
    pub id: ApiKeyId,
    /// Tenant.
    pub tenant: TenantCode,
    /// Label chosen by the creator (not personal data).
    pub name: String,
    /// Role.
    pub role: RoleName,
    /// SHA-256 of the key.
    pub hash: TokenHash,
    /// Created.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Revoked (no longer valid from then on).
    pub revoked_at: Option<Timestamp>,
    /// Last use (recorded at most once a minute).
    pub last_used_at: Option<Timestamp>,
}

/// An operator token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRow {
    /// Public id.
    pub id: String,
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// Created.
    pub created_at: Timestamp,
}

/// A collection and its schema (JSON text; no personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionRow {
    /// Tenant.
    pub tenant: TenantCode,
    /// Name.
    pub name: CollectionName,
    /// Schema as JSON.
    pub schema_json: String,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A subject: a pseudonym and its wrapped key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRow {
    /// Tenant.
    pub tenant: TenantCode,
    /// Pseudonym.
    pub pseudonym: Pseudonym,
    /// Tenant key version that wraps the subject key.
    pub key_version: u32,
    /// The wrapped subject key.
    pub wrapped_key: Sealed,
    /// Created.
    pub created_at: Timestamp,
    /// Active, locked (erasure requested) or a tombstone.
    pub state: SubjectState,
}

/// Which key seals a stored field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKey {
    /// A tenant key version's data key.
    Tenant(u32),
    /// The record's subject key.
    Subject,
}

/// One sealed field value of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRow {
    /// Field name.
    pub field: FieldName,
    /// Sealing key.
    pub key: FieldKey,
    /// Ciphertext.
    pub ct: Sealed,
}

/// One blind-index entry: HMAC of a normalised value under tenant key `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    /// Field name.
    pub field: FieldName,
    /// Tenant key version of the index key.
    pub version: u32,
    /// The MAC.
    pub mac: [u8; 32],
}

/// A record's metadata (plaintext by design: ids, times, versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    /// Tenant.
    pub tenant: TenantCode,
    /// Collection.
    pub collection: CollectionName,
    /// Id.
    pub id: RecordId,
    /// Linked subject.
    pub subject: Option<Pseudonym>,
    /// Change counter, from 1.
    pub version: i64,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Locked: deleted (and awaiting purge) or its subject is locked.
    pub hidden: bool,
    /// Purposes this record may be read for, narrower than its collection's (`None`:
    /// the collection's).
    pub purposes: Option<Vec<crate::ids::Purpose>>,
}

/// A record with its sealed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// Metadata.
    pub meta: RecordMeta,
    /// Sealed fields.
    pub fields: Vec<FieldRow>,
}

/// Which audit entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// One tenant's entries; `None` lists `sys` entries (no tenant).
    pub tenant: Option<TenantCode>,
    /// From this time (inclusive).
    pub from: Option<Timestamp>,
    /// Before this time (exclusive).
    pub to: Option<Timestamp>,
    /// Principal id.
    pub principal: Option<String>,
    /// Subject.
    pub subject: Option<Pseudonym>,
    /// Action.
    pub action: Option<String>,
    /// Outcome (`ok`, `denied`, `error`).
    pub outcome: Option<Outcome>,
}

/// Which records to list.
#[derive(Debug, Clone)]
pub enum RecordFilter {
    /// Every record of a collection.
    Collection(CollectionName),
    /// A subject's records in one collection.
    Subject(CollectionName, Pseudonym),
    /// Records whose blind index for `field` matches any of `macs` (one per key version).
    Index(CollectionName, FieldName, Vec<(u32, [u8; 32])>),
}

/// One change, applied with the others of its set or not at all.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Append an audit entry to the zone's chain: the store assigns the next sequence
    /// number and computes the hash inside the same transaction as the set's other ops.
    Audit(Box<AuditEntry>),
    /// Record a signed checkpoint of the audit chain (conflict if one exists at its seq).
    AuditCheckpoint(Checkpoint),
    /// Retention: delete audit entries up to and including `through` (a checkpointed
    /// sequence number) and the checkpoints before it; the checkpoint at `through` stays
    /// as the anchor the remaining chain verifies from.
    PruneAudit {
        /// Last sequence number deleted.
        through: i64,
    },
    /// Set a `sys` metadata value.
    PutMeta(String, Vec<u8>),
    /// Take or renew the lease `name` for `holder` until `until`: granted when it is
    /// free, expired at `now`, or already `holder`'s; `Conflict("lease")` otherwise.
    /// Background jobs take one so a zone's job runs on one node at a time.
    TakeLease {
        /// Job name.
        name: String,
        /// The node asking (its random id).
        holder: String,
        /// Now.
        now: Timestamp,
        /// Expiry of the lease if granted.
        until: Timestamp,
    },
    /// Add an operator token.
    InsertOperator(OperatorRow),
    /// Add a tenant (conflict if the code exists).
    InsertTenant(TenantRow),
    /// Add a tenant key version and make it current (conflict if it exists).
    InsertTenantKey(TenantKeyRow),
    /// Add an API key.
    InsertApiKey(ApiKeyRow),
    /// Create or replace a collection.
    PutCollection(CollectionRow),
    /// Add a subject.
    InsertSubject(SubjectRow),
    /// Rewrap a subject key, if still wrapped by `from_version`.
    RewrapSubject {
        /// Tenant.
        tenant: TenantCode,
        /// Subject.
        pseudonym: Pseudonym,
        /// Expected current version.
        from_version: u32,
        /// New version.
        to_version: u32,
        /// New wrapped key.
        wrapped_key: Sealed,
    },
    /// A change to staff identity, sessions, roles or API keys.
    Identity(IdentityOp),
    /// A change to the privacy lifecycle: subject states, recipients, requests, files.
    Privacy(PrivacyOp),
    /// Add a record with its fields and index entries.
    InsertRecord {
        /// Metadata (version 1).
        meta: RecordMeta,
        /// Sealed fields.
        fields: Vec<FieldRow>,
        /// Index entries.
        index: Vec<IndexRow>,
    },
    /// Change a record at `expected_version`: set or remove fields, replace their index.
    UpdateRecord {
        /// Tenant.
        tenant: TenantCode,
        /// Collection.
        collection: CollectionName,
        /// Id.
        id: RecordId,
        /// Version read by the caller (stale otherwise).
        expected_version: i64,
        /// Time of the change.
        updated_at: Timestamp,
        /// Fields to set.
        set: Vec<FieldRow>,
        /// Fields to remove.
        remove: Vec<FieldName>,
        /// Fields whose index entries are replaced by `index`.
        reindex: Vec<FieldName>,
        /// New index entries.
        index: Vec<IndexRow>,
    },
    /// Delete a record, its fields and index entries (not found if absent).
    DeleteRecord {
        /// Tenant.
        tenant: TenantCode,
        /// Collection.
        collection: CollectionName,
        /// Id.
        id: RecordId,
    },
    /// Replace one sealed field if it still holds `old` (background rewrap); no-op otherwise.
    RewrapField {
        /// Record.
        record: RecordId,
        /// New field row (same field name).
        new: FieldRow,
        /// Ciphertext expected now.
        old: Sealed,
    },
    /// Replace a record's index entry for a field of an older version; no-op if gone.
    RewrapIndex {
        /// Record.
        record: RecordId,
        /// Field.
        field: FieldName,
        /// Old version.
        from_version: u32,
        /// New entry.
        new: IndexRow,
    },
}

/// A storage backend for one zone.
#[async_trait]
pub trait Store: IdentityStore + PrivacyStore + LogicalSnapshot + Send + Sync + std::fmt::Debug {
    /// Apply a set of operations atomically and durably; returns once committed.
    async fn apply(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    /// A `sys` metadata value.
    async fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Operator by token hash.
    async fn operator_by_hash(&self, hash: &TokenHash) -> Result<Option<OperatorRow>, StoreError>;
    /// API key by hash.
    async fn api_key_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiKeyRow>, StoreError>;
    /// A tenant.
    async fn get_tenant(&self, code: &TenantCode) -> Result<Option<TenantRow>, StoreError>;
    /// Every tenant, by code.
    async fn list_tenants(&self) -> Result<Vec<TenantRow>, StoreError>;
    /// One wrapped tenant key version.
    async fn get_tenant_key(&self, code: &TenantCode, version: u32) -> Result<Option<TenantKeyRow>, StoreError>;
    /// A collection.
    async fn get_collection(
        &self,
        tenant: &TenantCode,
        name: &CollectionName,
    ) -> Result<Option<CollectionRow>, StoreError>;
    /// A subject that has a key (active or locked; purged and tombstone subjects have none).
    async fn get_subject(&self, tenant: &TenantCode, pseudonym: &Pseudonym) -> Result<Option<SubjectRow>, StoreError>;
    /// A record with its fields.
    async fn get_record(
        &self,
        tenant: &TenantCode,
        collection: &CollectionName,
        id: &RecordId,
    ) -> Result<Option<RecordRow>, StoreError>;
    /// Records matching `filter` with id greater than `after`, by id, at most `limit`;
    /// locked records only with `Visibility::All`.
    async fn list_records(
        &self,
        tenant: &TenantCode,
        filter: &RecordFilter,
        after: Option<&RecordId>,
        limit: u32,
        visibility: Visibility,
    ) -> Result<Vec<RecordRow>, StoreError>;
    /// Subjects still wrapped by a version below `version`.
    async fn subjects_below(
        &self,
        tenant: &TenantCode,
        version: u32,
        limit: u32,
    ) -> Result<Vec<SubjectRow>, StoreError>;
    /// The newest audit entry's sequence number and hash.
    async fn audit_head(&self) -> Result<Option<(i64, [u8; 32])>, StoreError>;
    /// The newest audit checkpoint.
    async fn audit_last_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError>;
    /// Every audit checkpoint, by sequence number.
    async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError>;
    /// Audit entries matching `filter` with sequence number greater than `after`.
    async fn audit_query(&self, filter: &AuditFilter, after: i64, limit: u32) -> Result<Vec<ChainedEntry>, StoreError>;
    /// Audit entries with sequence number greater than `after`, in order, at most `limit`.
    async fn audit_after(&self, after: i64, limit: u32) -> Result<Vec<ChainedEntry>, StoreError>;
    /// Records having a tenant-key field or an index entry below `version`.
    async fn records_below(
        &self,
        tenant: &TenantCode,
        version: u32,
        limit: u32,
    ) -> Result<Vec<(RecordRow, Vec<IndexRow>)>, StoreError>;
}
