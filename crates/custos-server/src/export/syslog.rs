//! The syslog exporter: RFC 5424 messages over TCP with RFC 6587 octet-counting framing,
//! or over TLS (RFC 5425). The message body is the entry's JSON; the MSGID is its action;
//! the severity follows its outcome (ok: info, denied: warning, error: error). The
//! connection is opened lazily and re-opened after any failure.

use custos_core::audit::{ChainedEntry, Outcome};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// TLS settings of a syslog exporter.
#[derive(Debug, Clone)]
pub struct SyslogTls {
    /// CA certificate (PEM) the receiver's certificate must chain to.
    pub ca: PathBuf,
    /// Name the receiver's certificate must carry.
    pub server_name: String,
}

/// Facility 13: log audit.
const FACILITY: u8 = 13;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to the receiver, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Send + Sync> Stream for T {}
type Conn = Pin<Box<dyn Stream>>;

/// Whether the receiver still holds the connection open. A receiver never sends
/// application data, so reading drains TLS housekeeping (session tickets) and sees the
/// peer's close; pending means alive. Syslog has no acknowledgements: this check before
/// and after each batch narrows, but cannot close, the window in which a receiver that
/// dies takes entries it had not yet processed with it (RELP would).
async fn alive(conn: &mut Conn) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(Duration::ZERO, conn.read(&mut buf)).await {
            Err(_) => return true,
            Ok(Ok(0)) | Ok(Err(_)) => return false,
            Ok(Ok(_)) => continue,
        }
    }
}

pub(super) struct SyslogSink {
    address: String,
    tls: Option<SyslogTls>,
    hostname: String,
    conn: Option<Conn>,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// One RFC 5424 message for an entry.
pub(crate) fn format_message(e: &ChainedEntry, hostname: &str) -> String {
    let severity = match e.entry.outcome {
        Outcome::Ok => 6,
        Outcome::Denied => 4,
        Outcome::Error => 3,
    };
    let pri = u16::from(FACILITY) * 8 + severity;
    let msgid: String = e.entry.action.chars().filter(|c| c.is_ascii_graphic()).take(32).collect();
    let host: String = hostname.chars().filter(|c| c.is_ascii_graphic()).take(255).collect();
    let host = if host.is_empty() { "-".to_owned() } else { host };
    format!("<{pri}>1 {} {host} custos - {msgid} - {}", e.entry.time.to_rfc3339(), super::entry_json(e))
}

impl SyslogSink {
    pub(super) fn new(address: String, tls: Option<SyslogTls>, hostname: String) -> Self {
        Self { address, tls, hostname, conn: None }
    }

    async fn connect(&self) -> std::io::Result<Conn> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&self.address))
            .await
            .map_err(|_| io_err("connect timed out"))??;
        tcp.set_nodelay(true)?;
        let Some(tls) = &self.tls else { return Ok(Box::pin(tcp)) };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&tls.ca).map_err(io_err)? {
            roots.add(cert.map_err(io_err)?).map_err(io_err)?;
        }
        let cfg = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(io_err)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(tls.server_name.clone()).map_err(io_err)?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await?;
        Ok(Box::pin(stream))
    }

    pub(super) async fn deliver(&mut self, entries: &[ChainedEntry]) -> std::io::Result<()> {
        let mut frames = Vec::with_capacity(entries.len() * 512);
        for e in entries {
            let msg = format_message(e, &self.hostname);
            frames.extend_from_slice(format!("{} {msg}", msg.len()).as_bytes());
        }
        if let Some(conn) = self.conn.as_mut()
            && !alive(conn).await
        {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect().await?);
        }
        let Some(conn) = self.conn.as_mut() else { return Err(io_err("no connection")) };
        let r = async {
            conn.write_all(&frames).await?;
            conn.flush().await?;
            if alive(conn).await { Ok(()) } else { Err(io_err("receiver closed the connection")) }
        }
        .await;
        if r.is_err() {
            self.conn = None;
        }
        r
    }
}
