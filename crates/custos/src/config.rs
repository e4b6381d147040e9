//! Configuration: one TOML file in the data directory (`custos.toml`, unknown keys
//! refused) plus `CUSTOS_*` environment overrides, checked once into a `Config` that is
//! passed to whatever needs it. Relative paths resolve against the data directory.

use anyhow::{Context, Result, bail};
use custos_core::ids::ZoneName;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Name of the configuration file inside a data directory.
pub const FILE: &str = "custos.toml";

/// The file as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Residency zone of this data directory.
    pub zone: String,
    /// HTTP server.
    pub server: RawServer,
    /// Storage.
    pub storage: RawStorage,
    /// Audit trail.
    #[serde(default)]
    pub audit: RawAudit,
    /// Staff sign-in.
    #[serde(default)]
    pub auth: crate::config_auth::RawAuth,
    /// Mail relay for resets and invitations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<crate::config_auth::RawSmtp>,
    /// Erasure, retention and files (defaults when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<crate::config_privacy::RawPrivacy>,
    /// Backups, retention and restore drills (on request only when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<crate::config_backup::RawBackup>,
    /// Residency zones: the served zone's store and backup target, the others' URLs.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub zones: std::collections::BTreeMap<String, crate::config_zones::RawZone>,
}

/// `[audit]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// Seconds between signed checkpoints of the chain head.
    #[serde(default = "default_checkpoint")]
    pub checkpoint_seconds: u64,
    /// Keep entries this many days (0: forever). Pruning cuts at a signed checkpoint.
    #[serde(default)]
    pub retention_days: u32,
    /// Exporters to SIEMs and files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exporters: Vec<RawExporter>,
    /// Alert rules and their webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<RawAlerts>,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self { checkpoint_seconds: default_checkpoint(), retention_days: 0, exporters: Vec::new(), alerts: None }
    }
}

/// `[audit.alerts]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    /// Webhook URL (http or https).
    pub webhook_url: String,
    /// File holding the webhook's HMAC secret.
    pub webhook_secret_file: PathBuf,
    /// Window of the burst rules, seconds (default 60).
    #[serde(default = "default_window")]
    pub window_seconds: u32,
    /// Failed authentications from one address per window (default 10; 0 disables).
    #[serde(default = "default_failed_logins")]
    pub failed_logins: u32,
    /// Denials of one principal per window (default 20; 0 disables).
    #[serde(default = "default_denials")]
    pub denials: u32,
    /// Records read by one principal per window (default 1000; 0 disables).
    #[serde(default = "default_bulk")]
    pub bulk_read_records: u32,
    /// Exporter lag in entries that raises an alert (default 10000; 0 disables).
    #[serde(default = "default_lag")]
    pub exporter_lag: u32,
    /// Re-identifications by one principal per window that raise an alert (default 1:
    /// every one; 0 disables).
    #[serde(default = "default_reidentifications")]
    pub reidentifications: u32,
}

fn default_reidentifications() -> u32 {
    1
}

fn default_lag() -> u32 {
    10_000
}

fn default_window() -> u32 {
    60
}

fn default_failed_logins() -> u32 {
    10
}

fn default_denials() -> u32 {
    20
}

fn default_bulk() -> u32 {
    1000
}

/// `[[audit.exporters]]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum RawExporter {
    /// JSON Lines file.
    Jsonl {
        /// Unique name (names the durable cursor).
        name: String,
        /// File path.
        path: PathBuf,
        /// Rotate at this size (default 64 MiB).
        #[serde(default = "default_max_bytes")]
        max_bytes: u64,
        /// Rotated files kept (default 10).
        #[serde(default = "default_keep")]
        keep: u32,
    },
    /// Syslog (RFC 5424) over TCP, or TLS when `tls_ca` is set.
    Syslog {
        /// Unique name.
        name: String,
        /// Receiver `host:port`.
        address: String,
        /// CA certificate of the receiver (PEM); enables TLS.
        #[serde(default)]
        tls_ca: Option<PathBuf>,
        /// Name in the receiver's certificate (default: the host of `address`).
        #[serde(default)]
        tls_server_name: Option<String>,
        /// HOSTNAME field of the messages (default "custos").
        #[serde(default)]
        hostname: Option<String>,
    },
}

fn default_max_bytes() -> u64 {
    64 << 20
}

fn default_keep() -> u32 {
    10
}

fn default_checkpoint() -> u64 {
    10
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address to listen on.
    pub listen: String,
    /// Serve plain HTTP (loopback only).
    #[serde(default)]
    pub insecure_http: bool,
    /// Certificate chain (PEM).
    pub tls_cert: PathBuf,
    /// Private key (PEM).
    pub tls_key: PathBuf,
    /// CA certificate clients should trust, if the server generated its own.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// Largest accepted request body.
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
}

/// `[storage]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// SQLite database file of the zone.
    pub path: PathBuf,
    /// Read connections.
    #[serde(default = "default_readers")]
    pub read_connections: usize,
}

fn default_body() -> usize {
    1 << 20
}

fn default_readers() -> usize {
    4
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Zone.
    pub zone: ZoneName,
    /// Listen address.
    pub listen: SocketAddr,
    /// Plain HTTP.
    pub insecure_http: bool,
    /// Certificate chain.
    pub tls_cert: PathBuf,
    /// Private key.
    pub tls_key: PathBuf,
    /// CA certificate for clients, if any.
    pub tls_ca: Option<PathBuf>,
    /// Body limit.
    pub max_body_bytes: usize,
    /// The zone's store.
    pub store: crate::config_zones::StoreConfig,
    /// Every zone this node knows (region, public URL), the served one included.
    pub zones: Vec<crate::config_zones::ZoneInfo>,
    /// Interval between signed audit checkpoints.
    pub checkpoint_every: std::time::Duration,
    /// How long audit entries are kept (`None`: forever).
    pub audit_retention: Option<std::time::Duration>,
    /// Audit exporters.
    pub exporters: Vec<custos_server::export::ExporterConfig>,
    /// Alerting, if configured.
    pub alerts: Option<custos_server::alerts::AlertConfig>,
    /// Staff sign-in and mail.
    pub auth: crate::config_auth::AuthConfig,
    /// Erasure, retention and files.
    pub privacy: crate::config_privacy::Privacy,
    /// Backups.
    pub backup: std::sync::Arc<custos_server::backups::BackupSettings>,
}

impl RawConfig {
    /// The configuration `init` writes.
    pub fn initial(listen: SocketAddr) -> Self {
        Self {
            zone: "default".into(),
            server: RawServer {
                listen: listen.to_string(),
                insecure_http: false,
                tls_cert: "tls/server.pem".into(),
                tls_key: "tls/server.key".into(),
                tls_ca: Some("tls/ca.pem".into()),
                max_body_bytes: default_body(),
            },
            storage: RawStorage { path: "zone.db".into(), read_connections: default_readers() },
            audit: RawAudit::default(),
            auth: Default::default(),
            smtp: None,
            privacy: None,
            backup: None,
            zones: Default::default(),
        }
    }

    /// Write to `dir/custos.toml`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).context("encoding configuration")?;
        let header = "# Custos configuration. Relative paths are inside this directory.\n\
                      # Environment overrides: CUSTOS_LISTEN, CUSTOS_INSECURE_HTTP, CUSTOS_MAX_BODY_BYTES.\n\n";
        std::fs::write(dir.join(FILE), format!("{header}{text}")).context("writing custos.toml")
    }
}

fn resolve(dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_owned() } else { dir.join(p) }
}

/// Environment overrides, read once at start.
#[derive(Debug, Default, Clone)]
pub struct EnvOverrides {
    /// `CUSTOS_LISTEN`
    pub listen: Option<String>,
    /// `CUSTOS_INSECURE_HTTP`
    pub insecure_http: Option<String>,
    /// `CUSTOS_MAX_BODY_BYTES`
    pub max_body_bytes: Option<String>,
}

impl EnvOverrides {
    /// Read the process environment.
    pub fn from_env() -> Self {
        Self {
            listen: std::env::var("CUSTOS_LISTEN").ok(),
            insecure_http: std::env::var("CUSTOS_INSECURE_HTTP").ok(),
            max_body_bytes: std::env::var("CUSTOS_MAX_BODY_BYTES").ok(),
        }
    }
}

/// Load and check `dir/custos.toml` with overrides; `listen` (a flag) wins over both.
pub fn load(dir: &Path, env: &EnvOverrides, listen: Option<SocketAddr>, insecure_http: bool) -> Result<Config> {
    let path = dir.join(FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}; run `custos init` first", path.display()))?;
    let raw: RawConfig =
        toml::from_str(&text).with_context(|| format!("{} is not a valid configuration", path.display()))?;
    check(dir, raw, env, listen, insecure_http)
}

fn check(
    dir: &Path,
    raw: RawConfig,
    env: &EnvOverrides,
    listen: Option<SocketAddr>,
    insecure_flag: bool,
) -> Result<Config> {
    let zone = ZoneName::parse(&raw.zone).map_err(|e| anyhow::anyhow!("zone: {e}"))?;
    let listen_text = env.listen.clone().unwrap_or(raw.server.listen);
    let listen = match listen {
        Some(l) => l,
        None => listen_text
            .parse()
            .with_context(|| format!("listen: {listen_text:?} is not an address like 127.0.0.1:8443"))?,
    };
    let insecure_http = insecure_flag
        || match env.insecure_http.as_deref() {
            None => raw.server.insecure_http,
            Some("1" | "true") => true,
            Some("0" | "false") => false,
            Some(other) => bail!("CUSTOS_INSECURE_HTTP: {other:?} is not true or false"),
        };
    if insecure_http && !listen.ip().is_loopback() {
        bail!("plain HTTP is allowed only on a loopback address, not {listen}");
    }
    let max_body_bytes = match &env.max_body_bytes {
        Some(v) => v.parse().with_context(|| "CUSTOS_MAX_BODY_BYTES is not a number")?,
        None => raw.server.max_body_bytes,
    };
    if !(1024..=64 << 20).contains(&max_body_bytes) {
        bail!("max_body_bytes must be between 1 KiB and 64 MiB");
    }
    if !(1..=3600).contains(&raw.audit.checkpoint_seconds) {
        bail!("audit.checkpoint_seconds must be between 1 and 3600");
    }
    if raw.storage.read_connections == 0 || raw.storage.read_connections > 64 {
        bail!("storage.read_connections must be between 1 and 64");
    }
    let zones = crate::config_zones::check(
        dir,
        zone.as_str(),
        &raw.zones,
        (resolve(dir, &raw.storage.path), raw.storage.read_connections),
    )?;
    let mut raw_backup = raw.backup.clone().unwrap_or_default();
    if let Some(t) = &zones.backup_target {
        raw_backup.target.clone_from(t);
    }
    Ok(Config {
        zone,
        listen,
        insecure_http,
        tls_cert: resolve(dir, &raw.server.tls_cert),
        tls_key: resolve(dir, &raw.server.tls_key),
        tls_ca: raw.server.tls_ca.map(|p| resolve(dir, &p)),
        max_body_bytes,
        store: zones.store,
        zones: zones.directory,
        checkpoint_every: std::time::Duration::from_secs(raw.audit.checkpoint_seconds),
        audit_retention: (raw.audit.retention_days > 0)
            .then(|| std::time::Duration::from_secs(u64::from(raw.audit.retention_days) * 86_400)),
        exporters: exporters(dir, &raw.audit.exporters)?,
        alerts: raw.audit.alerts.as_ref().map(|a| alerts(dir, a)).transpose()?,
        auth: crate::config_auth::check(dir, &raw.auth, raw.smtp.as_ref())?,
        privacy: {
            let mut p = crate::config_privacy::check(&raw.privacy.clone().unwrap_or_default())?;
            p.ledger = resolve(dir, &p.ledger);
            p
        },
        backup: std::sync::Arc::new(crate::config_backup::check(dir, &raw_backup)?),
    })
}

fn alerts(dir: &Path, a: &RawAlerts) -> Result<custos_server::alerts::AlertConfig> {
    use custos_server::alerts::{AlertConfig, AlertRules, Webhook};
    if !(a.webhook_url.starts_with("https://") || a.webhook_url.starts_with("http://")) {
        bail!("audit.alerts.webhook_url must be an http(s) URL");
    }
    if a.window_seconds == 0 || a.window_seconds > 86_400 {
        bail!("audit.alerts.window_seconds must be between 1 and 86400");
    }
    let path = resolve(dir, &a.webhook_secret_file);
    let secret =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?.trim().to_owned();
    if secret.len() < 16 {
        bail!("the alert webhook secret in {} is shorter than 16 characters", path.display());
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .context("building the webhook client")?;
    Ok(AlertConfig {
        rules: AlertRules {
            window_ms: i64::from(a.window_seconds) * 1000,
            failed_logins: a.failed_logins,
            denials: a.denials,
            bulk_read_records: a.bulk_read_records,
            exporter_lag: i64::from(a.exporter_lag),
            reidentifications: a.reidentifications,
        },
        webhook: Webhook { url: a.webhook_url.clone(), secret: custos_crypto::Secret::new(secret), client },
    })
}

fn exporters(dir: &Path, raw: &[RawExporter]) -> Result<Vec<custos_server::export::ExporterConfig>> {
    use custos_server::export::{ExporterConfig, SinkConfig, SyslogTls};
    let mut out: Vec<ExporterConfig> = Vec::new();
    for r in raw {
        let (name, sink) = match r {
            RawExporter::Jsonl { name, path, max_bytes, keep } => {
                if *max_bytes < 4096 {
                    bail!("audit exporter {name}: max_bytes must be at least 4096");
                }
                (name, SinkConfig::Jsonl { path: resolve(dir, path), max_bytes: *max_bytes, keep: *keep })
            }
            RawExporter::Syslog { name, address, tls_ca, tls_server_name, hostname } => {
                let host = address.rsplit_once(':').map(|(h, _)| h).filter(|h| !h.is_empty());
                let Some(host) = host else { bail!("audit exporter {name}: address must be host:port") };
                let tls = tls_ca.as_ref().map(|ca| SyslogTls {
                    ca: resolve(dir, ca),
                    server_name: tls_server_name.clone().unwrap_or_else(|| host.trim_matches(['[', ']']).to_owned()),
                });
                let hostname = hostname.clone().unwrap_or_else(|| "custos".into());
                (name, SinkConfig::Syslog { address: address.clone(), tls, hostname })
            }
        };
        if name.is_empty()
            || name.len() > 64
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("audit exporter names are 1-64 of a-z, 0-9, '-', '_'");
        }
        if out.iter().any(|e| &e.name == name) {
            bail!("audit exporter {name} is defined twice");
        }
        out.push(ExporterConfig { name: name.clone(), sink });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawConfig {
        RawConfig::initial("127.0.0.1:8443".parse().unwrap())
    }

    #[test]
    fn initial_config_round_trips_and_checks() {
        let text = toml::to_string(&raw()).unwrap();
        let back: RawConfig = toml::from_str(&text).unwrap();
        let c = check(Path::new("/d"), back, &EnvOverrides::default(), None, false).unwrap();
        assert!(
            matches!(c.store, crate::config_zones::StoreConfig::Sqlite { ref path, .. } if path == Path::new("/d/zone.db"))
        );
        assert_eq!(c.max_body_bytes, 1 << 20);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let text = toml::to_string(&raw()).unwrap().replace("zone = ", "colour = 1\nzone = ");
        assert!(toml::from_str::<RawConfig>(&text).is_err());
        let env = EnvOverrides { listen: Some("0.0.0.0:80".into()), ..Default::default() };
        assert!(check(Path::new("/d"), raw(), &env, None, true).is_err(), "plain HTTP off loopback");
        let env = EnvOverrides { max_body_bytes: Some("lots".into()), ..Default::default() };
        assert!(check(Path::new("/d"), raw(), &env, None, false).is_err());
    }
}
