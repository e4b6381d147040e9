//! `[auth]` and `[smtp]` of the configuration: session lifetimes, password cost, API-key
//! lifetimes, lockout, access-review period, the public address used in links, and the
//! mail relay for resets and invitations.

use anyhow::{Context, Result, bail};
use custos_core::service::IdentityConfig;
use custos_core::store::ThrottlePolicy;
use custos_server::mail::{SmtpConfig, SmtpSecurity};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    /// Address in emailed links and the OpenID Connect redirect (default: the listener).
    pub public_url: Option<String>,
    /// Minutes without a request before a session ends.
    pub session_idle_minutes: u32,
    /// Hours after login a session ends regardless.
    pub session_absolute_hours: u32,
    /// Argon2id memory in KiB.
    pub password_memory_kib: u32,
    /// Argon2id iterations.
    pub password_iterations: u32,
    /// API key lifetime when none is given.
    pub api_key_default_days: u32,
    /// Longest API key lifetime.
    pub api_key_max_days: u32,
    /// Days before an API key expires that its reminder alert is raised.
    pub api_key_reminder_days: u32,
    /// Days between access reviews.
    pub access_review_days: u32,
    /// Failed logins of an account before it locks.
    pub lockout_after: u32,
    /// First lock, in seconds (doubles with each further failure, up to an hour).
    pub lockout_seconds: u32,
    /// Failed logins from one address before it is throttled.
    pub source_lockout_after: u32,
    /// Extra CA (PEM) to trust for OpenID Connect providers.
    pub oidc_ca_file: Option<PathBuf>,
}

impl Default for RawAuth {
    fn default() -> Self {
        Self {
            public_url: None,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            password_memory_kib: 19 * 1024,
            password_iterations: 2,
            api_key_default_days: 90,
            api_key_max_days: 365,
            api_key_reminder_days: 14,
            access_review_days: 90,
            lockout_after: 5,
            lockout_seconds: 30,
            source_lockout_after: 20,
            oidc_ca_file: None,
        }
    }
}

/// `[smtp]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    /// Relay host.
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// `starttls` (default), `tls`, or `none` (loopback relays only).
    #[serde(default = "default_security")]
    pub security: String,
    /// Extra CA (PEM) for the relay.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Login.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Sender.
    pub from: String,
}

fn default_security() -> String {
    "starttls".into()
}

/// The checked `[auth]` and `[smtp]`.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Identity settings for the vault (public URL filled in once the listener is bound).
    pub identity: IdentityConfig,
    /// Whether `public_url` was configured.
    pub public_url_set: bool,
    /// Days before expiry that key reminders are raised.
    pub reminder_days: i64,
    /// Extra CA for providers.
    pub oidc_ca: Option<Vec<u8>>,
    /// Mail relay.
    pub smtp: Option<SmtpConfig>,
}

fn resolve(dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_owned() } else { dir.join(p) }
}

/// Check the sections.
pub fn check(dir: &Path, a: &RawAuth, smtp: Option<&RawSmtp>) -> Result<AuthConfig> {
    let range = |v: u32, lo: u32, hi: u32, what: &str| -> Result<i64> {
        if (lo..=hi).contains(&v) { Ok(i64::from(v)) } else { bail!("auth.{what} must be between {lo} and {hi}") }
    };
    let idle = range(a.session_idle_minutes, 1, 1440, "session_idle_minutes")?;
    let absolute = range(a.session_absolute_hours, 1, 720, "session_absolute_hours")?;
    let m = range(a.password_memory_kib, 8 * 1024, 1024 * 1024, "password_memory_kib")?;
    let t = range(a.password_iterations, 1, 16, "password_iterations")?;
    let max_days = range(a.api_key_max_days, 1, 730, "api_key_max_days")?;
    let default_days = range(a.api_key_default_days, 1, 730, "api_key_default_days")?;
    if default_days > max_days {
        bail!("auth.api_key_default_days must not exceed auth.api_key_max_days");
    }
    let reminder_days = range(a.api_key_reminder_days, 1, 365, "api_key_reminder_days")?;
    let review_days = range(a.access_review_days, 1, 3650, "access_review_days")?;
    let lockout_after = range(a.lockout_after, 1, 100, "lockout_after")?;
    let lockout_ms = range(a.lockout_seconds, 1, 3600, "lockout_seconds")? * 1000;
    let source_after = range(a.source_lockout_after, 1, 10_000, "source_lockout_after")?;
    if let Some(u) = &a.public_url
        && !(u.starts_with("https://") || u.starts_with("http://127.0.0.1") || u.starts_with("http://localhost"))
    {
        bail!("auth.public_url must be an https:// URL");
    }
    let defaults = IdentityConfig::default();
    let identity = IdentityConfig {
        session_idle_ms: idle * 60_000,
        session_absolute_ms: absolute * 3_600_000,
        password_params: custos_crypto::PasswordParams { m_kib: m as u32, t: t as u32, p: 1 },
        default_key_days: default_days as u32,
        max_key_days: max_days as u32,
        review_days,
        account_throttle: ThrottlePolicy {
            free: lockout_after as u32,
            base_ms: lockout_ms,
            max_ms: 3_600_000,
            window_ms: 86_400_000,
        },
        source_throttle: ThrottlePolicy { free: source_after as u32, ..defaults.source_throttle },
        public_url: a.public_url.clone().unwrap_or(defaults.public_url.clone()),
        ..defaults
    };
    let oidc_ca = a
        .oidc_ca_file
        .as_ref()
        .map(|p| {
            let p = resolve(dir, p);
            std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
        })
        .transpose()?;
    let smtp = smtp.map(|s| smtp_config(dir, s)).transpose()?;
    Ok(AuthConfig { identity, public_url_set: a.public_url.is_some(), reminder_days, oidc_ca, smtp })
}

fn smtp_config(dir: &Path, s: &RawSmtp) -> Result<SmtpConfig> {
    let security = match s.security.as_str() {
        "starttls" => SmtpSecurity::StartTls,
        "tls" => SmtpSecurity::Tls,
        "none" => SmtpSecurity::None,
        other => bail!("smtp.security: {other:?} is not starttls, tls or none"),
    };
    let password = s
        .password_file
        .as_ref()
        .map(|p| {
            let p = resolve(dir, p);
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
        })
        .transpose()?
        .map(|p| custos_crypto::Secret::new(p.trim().to_owned()));
    let cfg = SmtpConfig {
        host: s.host.clone(),
        port: s.port,
        security,
        ca_file: s.ca_file.as_ref().map(|p| resolve(dir, p)),
        username: s.username.clone(),
        password,
        from: s.from.clone(),
    };
    custos_server::mail::Mailer::new(&cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg)
}
