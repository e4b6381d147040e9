//! The `[privacy]` section: erasure grace window, deletion delay, file kinds with their
//! retention, upload limits, the retention job's interval, notice retries and where the
//! erasure ledger lives (a file apart from the zone's data).

use anyhow::{Result, bail};
use custos_core::service::PrivacyConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[privacy]` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrivacy {
    /// Erasure grace window in days, unless a tenant sets its own (default 30).
    #[serde(default = "default_grace")]
    pub grace_days: u32,
    /// Deleted records and files are purged this many days later (default 30).
    #[serde(default = "default_grace")]
    pub delete_delay_days: u32,
    /// Seconds between runs of the retention job (default 300).
    #[serde(default = "default_every")]
    pub retention_check_seconds: u64,
    /// First delay before re-sending a failed erasure notice, seconds (default 30; doubles).
    #[serde(default = "default_retry")]
    pub notice_retry_seconds: u64,
    /// Largest file in bytes (default 25 MiB).
    #[serde(default = "default_file")]
    pub max_file_bytes: u64,
    /// Accepted content types (default: pdf, csv, plain text, png, jpeg, json, xlsx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_types: Option<Vec<String>>,
    /// File kinds and their retention in days (0: kept until deleted). Default:
    /// `transfer = 4`, `attachment = 0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_kinds: Option<BTreeMap<String, u32>>,
    /// The erasure ledger file (default `erasure-ledger.db` in the data directory).
    #[serde(default = "default_ledger")]
    pub ledger: PathBuf,
}

impl Default for RawPrivacy {
    fn default() -> Self {
        Self {
            grace_days: default_grace(),
            delete_delay_days: default_grace(),
            retention_check_seconds: default_every(),
            notice_retry_seconds: default_retry(),
            max_file_bytes: default_file(),
            content_types: None,
            file_kinds: None,
            ledger: default_ledger(),
        }
    }
}

fn default_grace() -> u32 {
    30
}

fn default_every() -> u64 {
    300
}

fn default_retry() -> u64 {
    30
}

fn default_file() -> u64 {
    25 << 20
}

fn default_ledger() -> PathBuf {
    "erasure-ledger.db".into()
}

/// The checked `[privacy]` settings.
#[derive(Debug, Clone)]
pub struct Privacy {
    /// For the vault.
    pub vault: PrivacyConfig,
    /// Retention job interval.
    pub every: std::time::Duration,
    /// The ledger file (relative to the data directory when not absolute).
    pub ledger: PathBuf,
}

/// Check `[privacy]`.
pub fn check(raw: &RawPrivacy) -> Result<Privacy> {
    if !(1..=90).contains(&raw.grace_days) {
        bail!("privacy.grace_days must be between 1 and 90");
    }
    if !(1..=3650).contains(&raw.delete_delay_days) {
        bail!("privacy.delete_delay_days must be between 1 and 3650");
    }
    if !(1..=86_400).contains(&raw.retention_check_seconds) {
        bail!("privacy.retention_check_seconds must be between 1 and 86400");
    }
    if !(1..=3_600).contains(&raw.notice_retry_seconds) {
        bail!("privacy.notice_retry_seconds must be between 1 and 3600");
    }
    if !(1024..=(4u64 << 30)).contains(&raw.max_file_bytes) {
        bail!("privacy.max_file_bytes must be between 1 KiB and 4 GiB");
    }
    let mut vault = PrivacyConfig {
        grace_days: raw.grace_days,
        delete_delay_days: raw.delete_delay_days,
        max_file_bytes: raw.max_file_bytes,
        notice_retry_ms: i64::try_from(raw.notice_retry_seconds).unwrap_or(30) * 1000,
        ..PrivacyConfig::default()
    };
    if let Some(types) = &raw.content_types {
        for t in types {
            let ok = t.split_once('/').is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
                && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/.+-".contains(&b));
            if !ok {
                bail!("privacy.content_types: {t:?} is not a lowercase type/subtype");
            }
            if t.starts_with("text/html") || t.contains("javascript") || t.contains("svg") {
                bail!("privacy.content_types: {t:?} can run in a browser and is never accepted");
            }
        }
        vault.content_types = types.clone();
    }
    if let Some(kinds) = &raw.file_kinds {
        vault.file_kinds = BTreeMap::new();
        for (k, days) in kinds {
            if k.is_empty()
                || k.len() > 32
                || !k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                bail!("privacy.file_kinds: {k:?} is not 1-32 of a-z, 0-9, '-'");
            }
            if *days > 36_500 {
                bail!("privacy.file_kinds.{k}: at most 36500 days");
            }
            vault.file_kinds.insert(k.clone(), (*days > 0).then_some(*days));
        }
    }
    Ok(Privacy {
        vault,
        every: std::time::Duration::from_secs(raw.retention_check_seconds),
        ledger: raw.ledger.clone(),
    })
}
