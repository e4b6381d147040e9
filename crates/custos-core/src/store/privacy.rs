//! The storage side of the privacy lifecycle: subject states and external-id lookups,
//! recipients and disclosures, data-subject requests with their notices, record and
//! file locking and purging, and encrypted files. Every personal value arrives sealed;
//! external ids arrive as keyed MACs.

use super::{FieldRow, IndexRow, StoreError};
use crate::clock::Timestamp;
use crate::ids::{
    CollectionName, DisclosureId, DsrId, FieldName, FileId, Pseudonym, RecipientId, RecordId, TenantCode,
};
use async_trait::async_trait;
use custos_crypto::{Sealed, TokenHash};
use serde::{Deserialize, Serialize};

/// Where a subject is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectState {
    /// Visible to every principal allowed to read the tenant's records.
    Active,
    /// An erasure was requested: visible only to principals handling requests.
    Locked,
    /// Stands in for an erased subject as the author of kept, anonymised content; it
    /// has no key and is never returned as a subject.
    Tombstone,
    /// Erased: the key is destroyed; the rest of its rows are being deleted.
    Purged,
}

impl SubjectState {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectState::Active => "active",
            SubjectState::Locked => "locked",
            SubjectState::Tombstone => "tombstone",
            SubjectState::Purged => "purged",
        }
    }

    /// Parse stored text.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => SubjectState::Active,
            "locked" => SubjectState::Locked,
            "tombstone" => SubjectState::Tombstone,
            "purged" => SubjectState::Purged,
            _ => return None,
        })
    }
}

/// A third party that receives disclosed data, with its own API key and webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientRow {
    /// Id.
    pub id: RecipientId,
    /// Tenant.
    pub tenant: TenantCode,
    /// The organisation's name (not personal data).
    pub name: String,
    /// Where erasure notices are posted (https, or http on loopback).
    pub webhook_url: String,
    /// The webhook signing secret, sealed.
    pub secret: Sealed,
    /// SHA-256 of the recipient's API key.
    pub key_hash: TokenHash,
    /// Key expiry.
    pub key_expires_at: Timestamp,
    /// Created.
    pub created_at: Timestamp,
    /// Revoked: its key stops working; notices already owed are still sent.
    pub revoked_at: Option<Timestamp>,
}

/// A record that fields of some of a subject's records were shared with a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisclosureRow {
    /// Id.
    pub id: DisclosureId,
    /// Tenant.
    pub tenant: TenantCode,
    /// Whose data.
    pub subject: Pseudonym,
    /// To whom.
    pub recipient: RecipientId,
    /// Which collection.
    pub collection: CollectionName,
    /// Which fields.
    pub fields: Vec<FieldName>,
    /// Which records (the subject's records of the collection at the time).
    pub records: Vec<RecordId>,
    /// When.
    pub at: Timestamp,
}

/// Kind of data-subject request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DsrKind {
    /// Access and portability (Art. 15/20).
    Export,
    /// Erasure (Art. 17).
    Erasure,
}

/// State of a data-subject request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DsrState {
    /// Export delivered.
    Completed,
    /// Erasure: the subject is locked; recipients are being told.
    Locked,
    /// Erasure cancelled while locked: the subject is active again.
    Cancelled,
    /// Erasure carried out: the key is destroyed, the data deleted.
    Purged,
}

impl DsrState {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            DsrState::Completed => "completed",
            DsrState::Locked => "locked",
            DsrState::Cancelled => "cancelled",
            DsrState::Purged => "purged",
        }
    }

    /// Whether the request is still open (its due date matters).
    pub fn is_open(self) -> bool {
        matches!(self, DsrState::Locked)
    }
}

/// One step in a request's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsrEvent {
    /// When (ms since the epoch).
    pub at: i64,
    /// What happened (`received`, `locked`, `notified:rcp_…`, `cancelled`, `purged`...).
    pub event: String,
    /// Who did it (principal id, or `custos`).
    pub by: String,
}

/// A data-subject request and its GDPR clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsrRow {
    /// Id.
    pub id: DsrId,
    /// Tenant.
    pub tenant: TenantCode,
    /// Export or erasure.
    pub kind: DsrKind,
    /// The subject; cleared when it is purged (the ledger keeps the link).
    pub subject: Option<Pseudonym>,
    /// State.
    pub state: DsrState,
    /// Erasure: also delete fields that would otherwise be kept anonymised.
    pub delete_shared: bool,
    /// The requester's reason, sealed under the tenant key.
    pub reason: Option<Sealed>,
    /// Tenant key version sealing `reason`.
    pub reason_version: u32,
    /// Receipt.
    pub received_at: Timestamp,
    /// One month after receipt.
    pub due_at: Timestamp,
    /// Erasure: end of the grace window.
    pub purge_after: Option<Timestamp>,
    /// Completed, cancelled or purged.
    pub closed_at: Option<Timestamp>,
    /// What happened, in order.
    pub history: Vec<DsrEvent>,
}

/// An erasure notice owed to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRow {
    /// The erasure request.
    pub request: DsrId,
    /// Tenant.
    pub tenant: TenantCode,
    /// The recipient.
    pub recipient: RecipientId,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Next attempt (none once delivered).
    pub next_attempt_at: Option<Timestamp>,
    /// First successful delivery.
    pub notified_at: Option<Timestamp>,
    /// The recipient's acknowledgement.
    pub acknowledged_at: Option<Timestamp>,
    /// Last failure (status code or transport error kind; never a body).
    pub last_error: Option<String>,
}

/// A stored file's metadata; its content is in sealed chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// Id.
    pub id: FileId,
    /// Tenant.
    pub tenant: TenantCode,
    /// The subject it belongs to (content sealed under its key), if any.
    pub subject: Option<Pseudonym>,
    /// Kind (`transfer`, `attachment`...): decides retention.
    pub kind: String,
    /// Checked content type.
    pub content_type: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Number of chunks.
    pub chunks: u32,
    /// Sealing key (subject key, or a tenant key version).
    pub key: super::FieldKey,
    /// The file name, sealed like the content.
    pub name: Sealed,
    /// Created.
    pub created_at: Timestamp,
    /// Purged at this time by the retention job.
    pub expires_at: Option<Timestamp>,
    /// Locked (deleted, or its subject locked): visible only to request handlers.
    pub hidden: bool,
    /// Deleted: purged at this time.
    pub purge_after: Option<Timestamp>,
}

/// A record rewritten at purge: the kept, anonymised fields under the tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymisedRecord {
    /// The record.
    pub id: RecordId,
    /// Its kept fields, sealed under the tenant key.
    pub fields: Vec<FieldRow>,
    /// Index entries of the kept fields.
    pub index: Vec<IndexRow>,
}

/// One entry of the erasure ledger: a purge that must hold even over a restored copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Position in the ledger, from 1.
    pub seq: i64,
    /// Tenant.
    pub tenant: TenantCode,
    /// The purged subject.
    pub pseudonym: Pseudonym,
    /// The erasure request.
    pub request: DsrId,
    /// When it was purged.
    pub at: Timestamp,
}

/// A change to the privacy lifecycle's rows.
#[derive(Debug, Clone)]
pub enum PrivacyOp {
    /// Map an external id's MAC to a subject (conflict if the MAC is taken).
    InsertExternalId {
        /// Tenant.
        tenant: TenantCode,
        /// Keyed MAC of the kind and value.
        mac: [u8; 32],
        /// Subject.
        pseudonym: Pseudonym,
    },
    /// Lock an active subject with its records and files (not found unless active).
    LockSubject {
        /// Tenant.
        tenant: TenantCode,
        /// Subject.
        pseudonym: Pseudonym,
    },
    /// Make a locked subject active again (not found unless locked).
    UnlockSubject {
        /// Tenant.
        tenant: TenantCode,
        /// Subject.
        pseudonym: Pseudonym,
    },
    /// Move records of a subject to a tombstone subject (inserted if absent), keeping
    /// only their anonymised fields, sealed under the tenant key.
    AnonymiseRecords {
        /// Tenant.
        tenant: TenantCode,
        /// Subject.
        pseudonym: Pseudonym,
        /// Tombstone subject.
        tombstone: Pseudonym,
        /// The records and their kept fields.
        keep: Vec<AnonymisedRecord>,
    },
    /// Destroy a subject's key: the wrapped key is overwritten and the subject marked
    /// purged, in one row whatever the amount of data (not found unless active or locked).
    DestroySubjectKey {
        /// Tenant.
        tenant: TenantCode,
        /// Subject.
        pseudonym: Pseudonym,
    },
    /// Delete what is left of a purged subject once its records and files are gone: its
    /// disclosures, external ids and row; its requests forget it (not found unless purged).
    DeleteSubject {
        /// Tenant.
        tenant: TenantCode,
        /// Subject.
        pseudonym: Pseudonym,
    },
    /// Add a recipient.
    InsertRecipient(RecipientRow),
    /// Revoke a recipient's key.
    RevokeRecipient {
        /// Recipient.
        id: RecipientId,
        /// When.
        at: Timestamp,
    },
    /// Record a disclosure.
    InsertDisclosure(DisclosureRow),
    /// Add a request.
    InsertDsr(DsrRow),
    /// Move a request from `from` to `to`, appending `event` (stale if not in `from`).
    AdvanceDsr {
        /// Request.
        id: DsrId,
        /// Expected state.
        from: DsrState,
        /// New state.
        to: DsrState,
        /// Closed at (cancelled, purged).
        closed_at: Option<Timestamp>,
        /// History entry.
        event: DsrEvent,
    },
    /// Append to a request's history.
    DsrEvent {
        /// Request.
        id: DsrId,
        /// History entry.
        event: DsrEvent,
    },
    /// Add notices owed.
    InsertNotices(Vec<NoticeRow>),
    /// Record a delivery attempt.
    NoticeAttempt {
        /// Request.
        request: DsrId,
        /// Recipient.
        recipient: RecipientId,
        /// When.
        at: Timestamp,
        /// Delivered (2xx).
        delivered: bool,
        /// Failure kind when not delivered.
        error: Option<String>,
        /// Next attempt when not delivered.
        next_attempt_at: Option<Timestamp>,
    },
    /// Record a recipient's acknowledgement (not found if no notice is owed to it).
    AcknowledgeNotice {
        /// Request.
        request: DsrId,
        /// Recipient.
        recipient: RecipientId,
        /// When.
        at: Timestamp,
    },
    /// Lock a record: hidden now, purged after `purge_after` (not found if absent or
    /// already deleted).
    HideRecord {
        /// Tenant.
        tenant: TenantCode,
        /// Collection.
        collection: CollectionName,
        /// Record.
        id: RecordId,
        /// Purge time.
        purge_after: Timestamp,
    },
    /// Delete records with their fields and index entries (absent ones are skipped).
    PurgeRecords {
        /// Tenant.
        tenant: TenantCode,
        /// Records.
        ids: Vec<RecordId>,
    },
    /// Store a file with its sealed chunks.
    InsertFile {
        /// Metadata.
        row: FileRow,
        /// Sealed chunks in order.
        chunks: Vec<Sealed>,
    },
    /// Lock a file: hidden now, purged after `purge_after` (not found if absent or deleted).
    HideFile {
        /// Tenant.
        tenant: TenantCode,
        /// File.
        id: FileId,
        /// Purge time.
        purge_after: Timestamp,
    },
    /// Delete files and their chunks (absent ones are skipped).
    PurgeFiles {
        /// Tenant.
        tenant: TenantCode,
        /// Files.
        ids: Vec<FileId>,
    },
}

/// Who may see locked things: ordinary principals see only live rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Only rows that are not locked.
    Live,
    /// Locked rows too (request handlers).
    All,
}

/// Reads of the privacy lifecycle's rows.
#[async_trait]
pub trait PrivacyStore: Send + Sync {
    /// The subject an external id's MAC maps to.
    async fn subject_by_external(&self, tenant: &TenantCode, mac: &[u8; 32]) -> Result<Option<Pseudonym>, StoreError>;
    /// A subject's state.
    async fn subject_state(&self, tenant: &TenantCode, p: &Pseudonym) -> Result<Option<SubjectState>, StoreError>;
    /// A recipient.
    async fn recipient(&self, id: &RecipientId) -> Result<Option<RecipientRow>, StoreError>;
    /// A recipient by its API key's hash.
    async fn recipient_by_hash(&self, hash: &TokenHash) -> Result<Option<RecipientRow>, StoreError>;
    /// A tenant's recipients, by id.
    async fn recipients(&self, tenant: &TenantCode) -> Result<Vec<RecipientRow>, StoreError>;
    /// A subject's disclosures, oldest first.
    async fn disclosures(&self, tenant: &TenantCode, subject: &Pseudonym) -> Result<Vec<DisclosureRow>, StoreError>;
    /// A recipient's disclosures, oldest first, after `after`, at most `limit`.
    async fn disclosures_to(
        &self,
        recipient: &RecipientId,
        after: Option<&DisclosureId>,
        limit: u32,
    ) -> Result<Vec<DisclosureRow>, StoreError>;
    /// A request.
    async fn dsr(&self, id: &DsrId) -> Result<Option<DsrRow>, StoreError>;
    /// A tenant's requests, newest first, before `before`, at most `limit`.
    async fn dsrs(&self, tenant: &TenantCode, before: Option<&DsrId>, limit: u32) -> Result<Vec<DsrRow>, StoreError>;
    /// Open requests of a subject.
    async fn open_dsrs_of(&self, tenant: &TenantCode, subject: &Pseudonym) -> Result<Vec<DsrRow>, StoreError>;
    /// Locked erasures whose grace window ended by `now`.
    async fn erasures_due(&self, now: Timestamp, limit: u32) -> Result<Vec<DsrRow>, StoreError>;
    /// Open requests past their due date, per tenant (every tenant when `None`).
    async fn dsrs_overdue(&self, tenant: Option<&TenantCode>, now: Timestamp) -> Result<Vec<DsrRow>, StoreError>;
    /// A request's notices, by recipient.
    async fn notices(&self, request: &DsrId) -> Result<Vec<NoticeRow>, StoreError>;
    /// Notices whose next attempt is due.
    async fn notices_due(&self, now: Timestamp, limit: u32) -> Result<Vec<NoticeRow>, StoreError>;
    /// Every record of a subject (any collection), by id, after `after`.
    async fn subject_records(
        &self,
        tenant: &TenantCode,
        subject: &Pseudonym,
        after: Option<&RecordId>,
        limit: u32,
    ) -> Result<Vec<super::RecordRow>, StoreError>;
    /// Records of a collection created at or before `cutoff`, by id, at most `limit`.
    async fn records_created_before(
        &self,
        tenant: &TenantCode,
        collection: &CollectionName,
        cutoff: Timestamp,
        limit: u32,
    ) -> Result<Vec<RecordId>, StoreError>;
    /// Deleted records whose delay ended by `now`.
    async fn records_purge_due(&self, now: Timestamp, limit: u32) -> Result<Vec<(TenantCode, RecordId)>, StoreError>;
    /// A tenant's collections (names and schema JSON).
    async fn collections(&self, tenant: &TenantCode) -> Result<Vec<super::CollectionRow>, StoreError>;
    /// A file's metadata.
    async fn file(&self, tenant: &TenantCode, id: &FileId) -> Result<Option<FileRow>, StoreError>;
    /// One sealed chunk of a file.
    async fn file_chunk(&self, id: &FileId, n: u32) -> Result<Option<Sealed>, StoreError>;
    /// A subject's files, by id.
    async fn subject_files(&self, tenant: &TenantCode, subject: &Pseudonym) -> Result<Vec<FileRow>, StoreError>;
    /// Files expired (or deleted and past their delay) by `now`.
    async fn files_purge_due(&self, now: Timestamp, limit: u32) -> Result<Vec<FileRow>, StoreError>;
    /// Overwrite freed pages and write-ahead log frames holding removed rows (after a
    /// purge), as far as the backend can.
    async fn compact(&self) -> Result<(), StoreError>;
}

/// The erasure ledger: which subjects were purged, kept apart from the data and its
/// backups, so a purge survives putting an older copy of the data back.
#[async_trait]
pub trait ErasureLedger: Send + Sync + std::fmt::Debug {
    /// Append an entry (durable when this returns). `seq` is assigned by the ledger.
    async fn append(
        &self,
        tenant: &TenantCode,
        pseudonym: &Pseudonym,
        request: &DsrId,
        at: Timestamp,
    ) -> Result<LedgerEntry, StoreError>;
    /// Whether a subject was purged.
    async fn contains(&self, tenant: &TenantCode, pseudonym: &Pseudonym) -> Result<bool, StoreError>;
    /// Entries after `after`, in order, at most `limit`.
    async fn entries(&self, after: i64, limit: u32) -> Result<Vec<LedgerEntry>, StoreError>;
}
