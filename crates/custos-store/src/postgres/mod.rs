//! The PostgreSQL engine: connection settings (URL, optional TLS with a pinned CA), the
//! migrations, snapshots and compaction. Queries and writes are shared with SQLite
//! through the SQL facade; only what differs lives here.

pub(crate) mod migrate;
pub(crate) mod snapshot;

use crate::sql::{Connection, PgConn, backend};
use custos_core::store::StoreError;
use std::path::PathBuf;
use std::str::FromStr;

/// How to reach a PostgreSQL zone database.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/database` (or key=value form). Holds a secret:
    /// never printed.
    pub url: String,
    /// CA certificate (PEM) the server's certificate must chain to. When set, TLS is
    /// required (`sslmode=require` semantics with full certificate and name checks).
    pub ca_file: Option<PathBuf>,
    /// Most connections this node opens for reads.
    pub max_connections: usize,
    /// Most write sets in one group commit.
    pub max_batch: usize,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl PgOptions {
    /// Defaults for a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), ca_file: None, max_connections: 8, max_batch: 512 }
    }
}

/// Opens sessions with the zone's settings.
#[derive(Clone)]
pub(crate) struct Connector {
    config: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl Connector {
    pub(crate) fn new(o: &PgOptions) -> Result<Self, StoreError> {
        // The parser's message can quote the URL (and so a password): keep it out.
        let mut config = postgres::Config::from_str(&o.url)
            .map_err(|_| StoreError::Backend("the PostgreSQL URL does not parse".into()))?;
        config.application_name("custos");
        config.connect_timeout(std::time::Duration::from_secs(10));
        let tls = match &o.ca_file {
            None => None,
            Some(ca) => {
                config.ssl_mode(postgres::config::SslMode::Require);
                Some(tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(ca)?))
            }
        };
        Ok(Self { config, tls })
    }

    /// `host:port/database` for logs (no user, no password).
    pub(crate) fn shown(&self) -> String {
        let host = self
            .config
            .get_hosts()
            .first()
            .map(|h| match h {
                postgres::config::Host::Tcp(h) => h.clone(),
                postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_default();
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{host}:{port}/{}", self.config.get_dbname().unwrap_or(""))
    }

    pub(crate) fn connect(&self) -> Result<Connection, StoreError> {
        let client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(postgres::NoTls),
        }
        .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL at {}: {}", self.shown(), e)))?;
        Ok(Connection::Pg(Box::new(PgConn::new(client))))
    }
}

fn tls_config(ca: &std::path::Path) -> Result<rustls::ClientConfig, StoreError> {
    let pem = std::fs::read(ca)
        .map_err(|e| StoreError::Backend(format!("cannot read the database CA {}: {e}", ca.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
        let cert: rustls::pki_types::CertificateDer<'static> =
            cert.map_err(|_| StoreError::Backend(format!("{} is not a PEM certificate", ca.display())))?;
        roots.add(cert).map_err(|e| StoreError::Backend(format!("database CA {}: {e}", ca.display())))?;
    }
    if roots.is_empty() {
        return Err(StoreError::Backend(format!("{} holds no certificate", ca.display())));
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// After a purge: let PostgreSQL reclaim the dead row versions of the tables a purge
/// touches (their bytes are ciphertext under a destroyed key; VACUUM makes the space
/// reusable so it is overwritten).
pub(crate) fn compact(c: &Connection) -> Result<(), StoreError> {
    c.execute_batch("VACUUM subjects, records, record_fields, blind_index, subject_ids, files, file_chunks")
        .map_err(backend)
}
