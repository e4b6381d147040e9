//! Sending mail (password resets, invitations) through a configured SMTP relay, with
//! STARTTLS or implicit TLS (rustls), in the background so that response times do not
//! tell whether a mail was sent. Addresses and links never reach the log.

use custos_core::service::OutgoingMail;
use custos_crypto::Secret;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How to reach the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP: loopback relays only.
    None,
    /// Upgrade with STARTTLS (required).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// SMTP settings (`[smtp]`).
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Relay host.
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// Transport security.
    pub security: SmtpSecurity,
    /// Extra CA to trust for the relay's certificate (PEM).
    pub ca_file: Option<PathBuf>,
    /// Login, if the relay wants one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<Secret<String>>,
    /// Sender address.
    pub from: String,
}

/// Mail sending errors at start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The settings are unusable.
    #[error("smtp: {0}")]
    Config(String),
}

/// Sends mail in the background.
#[derive(Debug)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    sent: AtomicU64,
    failed: AtomicU64,
}

impl Mailer {
    /// Build a mailer from its settings.
    pub fn new(cfg: &SmtpConfig) -> Result<Self, MailError> {
        let from: Mailbox = cfg.from.parse().map_err(|_| MailError::Config("from is not a mail address".into()))?;
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .timeout(Some(Duration::from_secs(20)));
        let tls = || -> Result<TlsParameters, MailError> {
            let mut p = TlsParameters::builder(cfg.host.clone());
            if let Some(ca) = &cfg.ca_file {
                let pem = std::fs::read(ca).map_err(|e| MailError::Config(format!("reading {}: {e}", ca.display())))?;
                p = p.add_root_certificate(
                    Certificate::from_pem(&pem).map_err(|e| MailError::Config(format!("ca_file: {e}")))?,
                );
            }
            p.build_rustls().map_err(|e| MailError::Config(e.to_string()))
        };
        b = match cfg.security {
            SmtpSecurity::None => {
                let loopback = matches!(cfg.host.as_str(), "127.0.0.1" | "::1" | "localhost");
                if !loopback {
                    return Err(MailError::Config("plain SMTP is allowed only to a loopback relay".into()));
                }
                b.tls(Tls::None)
            }
            SmtpSecurity::StartTls => b.tls(Tls::Required(tls()?)),
            SmtpSecurity::Tls => b.tls(Tls::Wrapper(tls()?)),
        };
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            b = b.credentials(Credentials::new(u.clone(), p.expose().clone()));
        }
        Ok(Self { transport: b.build(), from, sent: AtomicU64::new(0), failed: AtomicU64::new(0) })
    }

    /// Mails sent and failed since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.sent.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }

    /// Send `mail` in the background (three tries); failures are logged without the
    /// address.
    pub fn send_later(self: &Arc<Self>, mail: OutgoingMail) {
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(to) = mail.to.expose().parse::<Mailbox>() else {
                tracing::warn!("mail not sent: the stored address does not parse");
                me.failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let msg = Message::builder()
                .from(me.from.clone())
                .to(to)
                .subject(mail.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(mail.body.expose().clone());
            let Ok(msg) = msg else {
                me.failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            for attempt in 0..3u32 {
                match me.transport.send(msg.clone()).await {
                    Ok(_) => {
                        me.sent.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(attempt, error_kind = ?e.status(), transient = e.is_transient(), "mail delivery failed");
                        tokio::time::sleep(Duration::from_secs(2u64 << attempt)).await;
                    }
                }
            }
            me.failed.fetch_add(1, Ordering::Relaxed);
        });
    }
}
