//! TLS: a rustls server configuration (TLS 1.2 and 1.3 only, AWS-LC provider) from PEM
//! files, and generation of a local CA plus a `localhost` leaf it signs, for first runs
//! and the demo. The CA's private key is discarded once the leaf is signed.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// TLS set-up errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {0}: {1}")]
    Pem(String, String),
    /// rustls refused the configuration (for example a CA used as a server certificate).
    #[error("TLS configuration refused: {0}")]
    Config(String),
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(String),
    /// Writing a file failed.
    #[error("cannot write {0}: {1}")]
    Io(String, String),
}

/// The crypto provider used everywhere: AWS-LC (FIPS module with the `fips` feature).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A server configuration from a certificate chain and key in PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::Pem(cert.display().to_string(), e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem(cert.display().to_string(), e.to_string()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem(key.display().to_string(), e.to_string()))?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Paths of generated TLS material.
#[derive(Debug, Clone)]
pub struct GeneratedTls {
    /// The local CA certificate (give it to clients).
    pub ca_cert: std::path::PathBuf,
    /// The server certificate.
    pub cert: std::path::PathBuf,
    /// The server key (mode 0600).
    pub key: std::path::PathBuf,
}

/// Generate a local CA and a leaf for `localhost`, 127.0.0.1 and ::1 in `dir`.
pub fn generate_local(dir: &Path) -> Result<GeneratedTls, TlsError> {
    let g = |e: rcgen::Error| TlsError::Generate(e.to_string());
    std::fs::create_dir_all(dir).map_err(|e| TlsError::Io(dir.display().to_string(), e.to_string()))?;
    let ca_key = KeyPair::generate().map_err(g)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(g)?;
    ca.distinguished_name.push(DnType::CommonName, "Custos local CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(g)?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().map_err(g)?;
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()]).map_err(g)?;
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(g)?;
    let out = GeneratedTls { ca_cert: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server.key") };
    write(&out.ca_cert, ca_cert.pem().as_bytes(), 0o644)?;
    write(&out.cert, format!("{}{}", leaf_cert.pem(), ca_cert.pem()).as_bytes(), 0o644)?;
    write(&out.key, leaf_key.serialize_pem().as_bytes(), 0o600)?;
    Ok(out)
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: std::io::Error| TlsError::Io(path.display().to_string(), e.to_string());
    let mut f =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

/// SHA-256 fingerprint of the first certificate in a PEM file, as colon-separated hex.
pub fn fingerprint(cert: &Path) -> Result<String, TlsError> {
    let der =
        CertificateDer::from_pem_file(cert).map_err(|e| TlsError::Pem(cert.display().to_string(), e.to_string()))?;
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der.as_ref());
    Ok(d.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"))
}
