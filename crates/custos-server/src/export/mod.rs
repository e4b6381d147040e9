//! Audit exporters: each tails the durable audit log from its own durable cursor and
//! delivers entries, in order and at least once, to a sink (a JSON Lines file, a syslog
//! receiver over TCP or TLS). They run beside the data path and never block it: a sink
//! outage only makes its exporter fall behind, and it catches up when the sink returns.

mod jsonl;
mod syslog;

use crate::api::audit::EntryOut;
use custos_core::Vault;
use custos_core::audit::ChainedEntry;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use syslog::SyslogTls;

const BATCH: u32 = 500;
const IDLE: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What an exporter delivers to.
#[derive(Debug, Clone)]
pub enum SinkConfig {
    /// A JSON Lines file, rotated at `max_bytes`, keeping `keep` old files.
    Jsonl {
        /// File path.
        path: PathBuf,
        /// Rotate when the file would exceed this.
        max_bytes: u64,
        /// Rotated files kept (`path.1` … `path.N`).
        keep: u32,
    },
    /// RFC 5424 syslog over TCP (RFC 6587 octet counting), optionally TLS (RFC 5425).
    Syslog {
        /// Receiver address.
        address: String,
        /// TLS settings; plain TCP when `None`.
        tls: Option<SyslogTls>,
        /// HOSTNAME field.
        hostname: String,
    },
}

/// One configured exporter.
#[derive(Debug, Clone)]
pub struct ExporterConfig {
    /// Unique name: names its durable cursor.
    pub name: String,
    /// Where it delivers.
    pub sink: SinkConfig,
}

/// Live state of one exporter, for health and metrics.
#[derive(Debug, Clone, Default)]
pub struct ExporterStatus {
    /// Name.
    pub name: String,
    /// Last delivered sequence number.
    pub cursor: i64,
    /// Entries not yet delivered.
    pub lag: i64,
    /// Entries delivered since start.
    pub delivered: u64,
    /// Last delivery error, cleared on success.
    pub last_error: Option<String>,
}

/// Shared view of every exporter's status.
#[derive(Debug, Clone, Default)]
pub struct Exporters(Arc<RwLock<Vec<ExporterStatus>>>);

impl Exporters {
    /// A snapshot of every exporter's status.
    pub fn snapshot(&self) -> Vec<ExporterStatus> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, i: usize, f: impl FnOnce(&mut ExporterStatus)) {
        if let Some(s) = self.0.write().unwrap_or_else(|p| p.into_inner()).get_mut(i) {
            f(s);
        }
    }
}

/// The JSON document of one entry: the same shape as the query API.
pub(crate) fn entry_json(e: &ChainedEntry) -> String {
    serde_json::to_string(&EntryOut::from(e.clone())).unwrap_or_default()
}

enum Sink {
    Jsonl(jsonl::JsonlSink),
    Syslog(syslog::SyslogSink),
}

impl Sink {
    fn new(cfg: &SinkConfig) -> Self {
        match cfg {
            SinkConfig::Jsonl { path, max_bytes, keep } => {
                Sink::Jsonl(jsonl::JsonlSink::new(path.clone(), *max_bytes, *keep))
            }
            SinkConfig::Syslog { address, tls, hostname } => {
                Sink::Syslog(syslog::SyslogSink::new(address.clone(), tls.clone(), hostname.clone()))
            }
        }
    }

    async fn deliver(&mut self, entries: &[ChainedEntry]) -> std::io::Result<()> {
        match self {
            Sink::Jsonl(s) => s.deliver(entries).await,
            Sink::Syslog(s) => s.deliver(entries).await,
        }
    }
}

/// Start every exporter; they run until the process ends.
pub fn spawn(vault: Arc<Vault>, configs: Vec<ExporterConfig>) -> Exporters {
    let exporters = Exporters(Arc::new(RwLock::new(
        configs.iter().map(|c| ExporterStatus { name: c.name.clone(), ..Default::default() }).collect(),
    )));
    for (i, cfg) in configs.into_iter().enumerate() {
        let (vault, status) = (vault.clone(), exporters.clone());
        tokio::spawn(async move { run(vault, cfg, i, status).await });
    }
    exporters
}

async fn run(vault: Arc<Vault>, cfg: ExporterConfig, i: usize, status: Exporters) {
    let mut sink = Sink::new(&cfg.sink);
    let mut cursor = 0;
    let mut held = false;
    let mut backoff = Duration::from_millis(250);
    let lease = format!("export.{}", cfg.name);
    loop {
        // One node of the zone exports; another takes over (from the durable cursor)
        // within the lease period if it dies.
        if !vault.hold_lease(&lease, crate::jobs::STREAM_LEASE).await {
            held = false;
            tokio::time::sleep(crate::jobs::STANDBY).await;
            continue;
        }
        if !held {
            cursor = vault.exporter_cursor(&cfg.name).await.unwrap_or(0);
            held = true;
        }
        let head = vault.audit_head_seq().await.unwrap_or(cursor);
        status.update(i, |s| {
            s.cursor = cursor;
            s.lag = head.saturating_sub(cursor);
        });
        let batch = match vault.audit_tail(cursor, BATCH).await {
            Ok(b) => b,
            Err(e) => {
                status.update(i, |s| s.last_error = Some(e.to_string()));
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let Some(last) = batch.last().map(|e| e.seq) else {
            tokio::time::sleep(IDLE).await;
            continue;
        };
        match sink.deliver(&batch).await {
            Ok(()) => {
                // Delivered first, cursor second: a crash in between re-sends (at least once).
                if let Err(e) = vault.save_exporter_cursor(&cfg.name, last).await {
                    tracing::warn!(exporter = %cfg.name, error = %e, "could not save the exporter cursor");
                }
                cursor = last;
                backoff = Duration::from_millis(250);
                let n = batch.len() as u64;
                status.update(i, |s| {
                    s.delivered += n;
                    s.last_error = None;
                });
            }
            Err(e) => {
                tracing::warn!(exporter = %cfg.name, error = %e, "audit export failed; retrying");
                status.update(i, |s| s.last_error = Some(e.to_string()));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
