//! Encrypted zone backups (docs/backup.md). A backup is a consistent logical snapshot of
//! a zone (`format`), encrypted with age to the operators' keys, beside a manifest the
//! server signs (`manifest`), kept at a directory or S3 target (`target`). `take` makes
//! one, `retention` prunes old ones, `restore` verifies and loads one into a new store and
//! re-applies the erasure ledger, `drill` proves the newest one restores.
#![forbid(unsafe_code)]

pub mod drill;
pub mod format;
pub mod identity;
pub mod manifest;
pub mod restore;
pub mod retention;
pub mod take;
pub mod target;

pub use manifest::{BackupKind, Manifest};
pub use target::Target;

use custos_core::error::CoreError;
use custos_core::store::StoreError;

/// Backup errors. `Tampered` and `Invalid` are the operator's to fix; the rest are faults.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// Bad input: a recipient, identity, target or option.
    #[error("{0}")]
    Invalid(String),
    /// The backup fails verification: signature, checksum, size, structure or counts.
    #[error("the backup fails verification: {0}")]
    Tampered(String),
    /// No such backup.
    #[error("{0}")]
    NotFound(String),
    /// The target failed.
    #[error("backup target: {0}")]
    Target(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The vault refused or failed.
    #[error("{0}")]
    Core(#[from] CoreError),
    /// Randomness or a primitive failed.
    #[error("crypto: {0}")]
    Crypto(#[from] custos_crypto::CryptoError),
    /// Local file I/O.
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
}

/// Progress of a long step: called with bytes done so far.
pub type Progress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;
