//! One audit entry: who did what to which resource, for which purpose, with what outcome.

use crate::clock::Timestamp;
use crate::ids::{CollectionName, Pseudonym, Purpose, RecordId, TenantCode, ZoneName};

/// Outcome of an audited operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Carried out.
    Ok,
    /// Refused by policy: authentication, role, tenant, purpose.
    Denied,
    /// Failed: invalid input, conflict, integrity or backend fault.
    Error,
}

impl Outcome {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }

    /// Parse stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(Outcome::Ok),
            "denied" => Some(Outcome::Denied),
            "error" => Some(Outcome::Error),
            _ => None,
        }
    }
}

/// The kind of principal behind an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// An operator token.
    Operator,
    /// A tenant API key.
    Service,
    /// A staff user's session.
    User,
    /// A recipient's key (a third party reading what was disclosed to it).
    Recipient,
    /// Not (yet) authenticated: failed logins, unseal attempts.
    Anonymous,
    /// Custos itself (background jobs).
    System,
}

impl PrincipalKind {
    /// Stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Operator => "operator",
            PrincipalKind::Service => "service",
            PrincipalKind::User => "user",
            PrincipalKind::Recipient => "recipient",
            PrincipalKind::Anonymous => "anonymous",
            PrincipalKind::System => "system",
        }
    }

    /// Parse stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "operator" => Some(PrincipalKind::Operator),
            "service" => Some(PrincipalKind::Service),
            "user" => Some(PrincipalKind::User),
            "recipient" => Some(PrincipalKind::Recipient),
            "anonymous" => Some(PrincipalKind::Anonymous),
            "system" => Some(PrincipalKind::System),
            _ => None,
        }
    }
}

/// Where a request came from: set by the server for every request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestMeta {
    /// Random id of the request (also in the response's `Custos-Request-Id`).
    pub request_id: String,
    /// Client address, as seen by the server.
    pub client: Option<String>,
}

/// An audit entry before it is chained. Holds ids, names and codes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When.
    pub time: Timestamp,
    /// Zone of the chain.
    pub zone: ZoneName,
    /// Tenant concerned, if any.
    pub tenant: Option<TenantCode>,
    /// Kind of principal.
    pub principal_kind: PrincipalKind,
    /// Principal id (operator token id, API key id); empty when anonymous.
    pub principal_id: String,
    /// Action, `<resource>.<verb>` (`record.read`, `tenant.create`, `auth.token`).
    pub action: String,
    /// Collection concerned.
    pub collection: Option<CollectionName>,
    /// Record concerned.
    pub record: Option<RecordId>,
    /// Subject concerned.
    pub subject: Option<Pseudonym>,
    /// Stated purpose.
    pub purpose: Option<Purpose>,
    /// Outcome.
    pub outcome: Outcome,
    /// Reason code for denials and errors (`forbidden`, `purpose-not-allowed`...).
    pub reason: Option<String>,
    /// Client address.
    pub client: Option<String>,
    /// Request id.
    pub request_id: String,
    /// How many records a read returned (lists and searches), else 0.
    pub count: u32,
}

impl AuditEntry {
    /// An `ok` entry of `action` by a principal, with no resource yet.
    pub fn new(
        time: Timestamp,
        zone: ZoneName,
        principal_kind: PrincipalKind,
        principal_id: String,
        action: &str,
    ) -> Self {
        Self {
            time,
            zone,
            tenant: None,
            principal_kind,
            principal_id,
            action: action.to_owned(),
            collection: None,
            record: None,
            subject: None,
            purpose: None,
            outcome: Outcome::Ok,
            reason: None,
            client: None,
            request_id: String::new(),
            count: 0,
        }
    }
}

/// An entry as stored: with its sequence number and chain hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedEntry {
    /// Sequence number in the zone's chain, from 1.
    pub seq: i64,
    /// The entry.
    pub entry: AuditEntry,
    /// Hash of the previous entry (zeros for the first).
    pub prev_hash: [u8; 32],
    /// This entry's hash.
    pub hash: [u8; 32],
}
