//! An HTTPS client for the CLI (unseal, bench) that trusts exactly the given CA
//! certificate, on the same AWS-LC provider as the server.

use anyhow::{Context, Result};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::time::Duration;

/// A client trusting `ca` (PEM), or plain HTTP when `ca` is `None`.
pub fn https_client(ca: Option<&Path>, pool_size: usize) -> Result<reqwest::Client> {
    https_client_waiting(ca, pool_size, Duration::from_secs(30))
}

/// The same, waiting up to `timeout` for an answer (long operations such as backups).
pub fn https_client_waiting(ca: Option<&Path>, pool_size: usize, timeout: Duration) -> Result<reqwest::Client> {
    let builder = reqwest::Client::builder().timeout(timeout).pool_max_idle_per_host(pool_size).http1_only();
    let builder = match ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))? {
                roots
                    .add(cert.with_context(|| format!("parsing {}", ca.display()))?)
                    .context("adding CA certificate")?;
            }
            let cfg = rustls::ClientConfig::builder_with_provider(custos_server::tls::provider())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .context("TLS versions")?
                .with_root_certificates(roots)
                .with_no_client_auth();
            builder.tls_backend_preconfigured(cfg)
        }
        None => builder,
    };
    builder.build().context("building the HTTP client")
}
