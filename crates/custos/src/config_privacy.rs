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
    /// Erasure grace window unless a tenant sets its own (`30d`; units s, m, h, d).
    #[serde(default = "default_grace")]
    pub grace: String,
    /// Deleted records and files are purged this much later (`30d`).
    #[serde(default = "default_grace")]
    pub delete_delay: String,
    /// Interval of the retention job (`5m`).
    #[serde(default = "default_every")]
    pub retention_check: String,
    /// First delay before re-sending a failed erasure notice (`30s`; doubles, at most 6 h).
    #[serde(default = "default_retry")]
    pub notice_retry: String,
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
            grace: default_grace(),
            delete_delay: default_grace(),
            retention_check: default_every(),
            notice_retry: default_retry(),
            max_file_bytes: default_file(),
            content_types: None,
            file_kinds: None,
            ledger: default_ledger(),
        }
    }
}

fn default_grace() -> String {
    "30d".into()
}

fn default_every() -> String {
    "5m".into()
}

fn default_retry() -> String {
    "30s".into()
}

/// Parse `<n><unit>` with unit `s`, `m`, `h` or `d` into milliseconds.
pub fn duration_ms(what: &str, s: &str) -> Result<i64> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n.parse().map_err(|_| anyhow::anyhow!("{what}: {s:?} is not a duration like 30d, 12h, 5m or 30s"))?;
    let ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("{what}: {s:?} is not a duration like 30d, 12h, 5m or 30s"),
    };
    n.checked_mul(ms).ok_or_else(|| anyhow::anyhow!("{what}: {s:?} is too long"))
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
    const DAY: i64 = 86_400_000;
    let grace = duration_ms("privacy.grace", &raw.grace)?;
    if !(1_000..=90 * DAY).contains(&grace) {
        bail!("privacy.grace must be between 1s and 90d");
    }
    let delete_delay = duration_ms("privacy.delete_delay", &raw.delete_delay)?;
    if !(1_000..=3650 * DAY).contains(&delete_delay) {
        bail!("privacy.delete_delay must be between 1s and 3650d");
    }
    let every = duration_ms("privacy.retention_check", &raw.retention_check)?;
    if !(1_000..=DAY).contains(&every) {
        bail!("privacy.retention_check must be between 1s and 1d");
    }
    let retry = duration_ms("privacy.notice_retry", &raw.notice_retry)?;
    if !(1_000..=3_600_000).contains(&retry) {
        bail!("privacy.notice_retry must be between 1s and 1h");
    }
    if !(1024..=(4u64 << 30)).contains(&raw.max_file_bytes) {
        bail!("privacy.max_file_bytes must be between 1 KiB and 4 GiB");
    }
    let mut vault = PrivacyConfig {
        grace_ms: grace,
        delete_delay_ms: delete_delay,
        max_file_bytes: raw.max_file_bytes,
        notice_retry_ms: retry,
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
        every: std::time::Duration::from_millis(u64::try_from(every).unwrap_or(300_000)),
        ledger: raw.ledger.clone(),
    })
}
