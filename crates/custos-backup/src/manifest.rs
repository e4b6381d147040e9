//! The manifest beside every backup: what it holds (zone, time, format, audit chain
//! head, row counts, the payload's size and SHA-256) and the server's Ed25519 signature
//! over all of it. Restore trusts nothing in a backup until this verifies.

use crate::BackupError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Signed bytes start with this, so a manifest signature is never valid for anything else.
const DOMAIN: &[u8] = b"custos-backup-manifest/1\n";

/// Full backups go to the zone's target and are kept for the retention window;
/// snapshots are the more frequent copies, kept for a shorter one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    /// A nightly full backup.
    Full,
    /// An intraday snapshot.
    Snapshot,
}

impl BackupKind {
    /// The name used in manifests and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Snapshot => "snapshot",
        }
    }
}

/// The audit chain's head inside the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Sequence number of the last entry.
    pub seq: i64,
    /// Its hash, hex.
    pub hash: String,
}

/// The encrypted payload file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// File name beside the manifest.
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file as stored (the age ciphertext), hex.
    pub sha256: String,
}

/// A backup's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of the payload's plaintext body.
    pub format: String,
    /// Backup id (`bkp_` + UTC time + random suffix; sorts by time).
    pub id: String,
    /// Full or snapshot.
    pub kind: BackupKind,
    /// Zone.
    pub zone: String,
    /// When the snapshot was taken (ms since the epoch).
    pub created_at: i64,
    /// Schema version of the store it came from.
    pub schema_version: u32,
    /// Audit chain head inside the backup.
    pub audit_head: Option<AuditHead>,
    /// Rows per table.
    pub counts: BTreeMap<String, u64>,
    /// The encrypted payload.
    pub payload: Payload,
    /// age recipients the payload is encrypted to.
    pub recipients: Vec<String>,
    /// Time the backup took (ms).
    pub duration_ms: u64,
    /// Longest write commit while it ran (µs): the write stall it may have caused.
    pub longest_commit_us: u64,
    /// The server's signing public key (Ed25519, hex): the audit checkpoint key.
    pub signer: String,
    /// Signature over the manifest without this field (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Manifest {
    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, BackupError> {
        let mut unsigned = self.clone();
        unsigned.signature = None;
        let mut out = DOMAIN.to_vec();
        serde_json::to_writer(&mut out, &unsigned).map_err(|e| BackupError::Invalid(e.to_string()))?;
        Ok(out)
    }

    /// Check the signature against `trusted` (hex), or against the key the manifest
    /// names when no key is pinned.
    pub fn verify(&self, trusted: Option<&str>) -> Result<(), BackupError> {
        let signer = trusted.unwrap_or(&self.signer);
        if trusted.is_some_and(|t| !t.eq_ignore_ascii_case(&self.signer)) {
            return Err(BackupError::Tampered("the manifest is signed by another key than the one pinned".into()));
        }
        let pk = hex::decode(signer).ok().filter(|k| k.len() == 32);
        let sig = self.signature.as_deref().and_then(|s| hex::decode(s).ok()).filter(|s| s.len() == 64);
        let (Some(pk), Some(sig)) = (pk, sig) else {
            return Err(BackupError::Tampered("the manifest has no valid signature".into()));
        };
        if custos_crypto::verify_signature(&pk, &self.signed_bytes()?, &sig) {
            Ok(())
        } else {
            Err(BackupError::Tampered("the manifest signature does not verify".into()))
        }
    }

    /// Parse a manifest file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, BackupError> {
        if bytes.len() > 1 << 20 {
            return Err(BackupError::Tampered("the manifest is too large".into()));
        }
        serde_json::from_slice(bytes).map_err(|e| BackupError::Tampered(format!("the manifest is not valid: {e}")))
    }

    /// The manifest's file name.
    pub fn file_name(id: &str) -> String {
        format!("{id}.manifest.json")
    }
}

/// A backup id for a snapshot taken at `at_ms`.
pub fn new_id(at_ms: i64) -> Result<String, BackupError> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .map_err(|_| BackupError::Invalid("clock out of range".into()))?;
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    Ok(format!("bkp_{stamp}_{}", custos_crypto::random_hex(4)?))
}

/// Whether `id` has the shape of a backup id (it names files, so nothing else passes).
pub fn valid_id(id: &str) -> bool {
    id.len() == 29
        && id.starts_with("bkp_")
        && id
            .bytes()
            .skip(4)
            .all(|b| b.is_ascii_digit() || b == b'T' || b == b'Z' || b == b'_' || b.is_ascii_lowercase())
}
