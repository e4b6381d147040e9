//! Restoring a backup into a new store. Nothing is written until the manifest's
//! signature, the payload's size and SHA-256 all verify. Then the body is decrypted and
//! loaded in one transaction, its counts and audit head checked against the manifest,
//! the erasure ledger re-applied (every subject purged since the backup stays purged),
//! the restore recorded, and the whole audit chain verified. Any failure removes what
//! was written.

use crate::identity::Identities;
use crate::manifest::{Manifest, valid_id};
use crate::{BackupError, Progress, format, target::Target};
use custos_core::Vault;
use custos_core::clock::Clock;
use custos_core::ids::ZoneName;
use custos_core::service::{BackupEvent, META_RESTORED_SIGNER};
use custos_core::store::{ErasureLedger, Store, WriteOp};
use custos_crypto::Sha256Stream;
use custos_store::{SqlStore, SqliteOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Where a backup is: a local manifest or payload file, or `s3://bucket[/prefix]/<zone>/<id>`.
#[derive(Debug, Clone)]
pub enum BackupSource {
    /// A local file (`<id>.manifest.json` or `<id>.age`) with its sibling.
    Local(PathBuf),
    /// A backup at a target.
    Target(Target, String),
}

impl BackupSource {
    /// Parse `--from`.
    pub fn parse(from: &str) -> Result<Self, BackupError> {
        if let Some(rest) = from.strip_prefix("s3://") {
            let rest = rest.trim_end_matches('/');
            let mut parts: Vec<&str> = rest.rsplitn(3, '/').collect();
            parts.reverse();
            let [spec, zone, file] = parts.as_slice() else {
                return Err(BackupError::Invalid("an s3:// backup is s3://bucket[/prefix]/<zone>/<id>".into()));
            };
            let id = strip_suffix(file);
            if !valid_id(id) {
                return Err(BackupError::Invalid("the backup id is not valid".into()));
            }
            let target = Target::open(&format!("s3://{spec}"), zone)?;
            return Ok(Self::Target(target, id.to_owned()));
        }
        Ok(Self::Local(PathBuf::from(from)))
    }
}

fn strip_suffix(name: &str) -> &str {
    name.strip_suffix(".manifest.json").or_else(|| name.strip_suffix(".age")).unwrap_or(name)
}

/// What to restore and where.
pub struct RestoreRequest {
    /// The backup.
    pub source: BackupSource,
    /// Identities that open it.
    pub identities: Arc<Identities>,
    /// The new database file (must not exist).
    pub db_path: PathBuf,
    /// The erasure ledger to re-apply (the live one, kept outside backups).
    pub ledger: Option<Arc<dyn ErasureLedger>>,
    /// Signing key to require (hex); otherwise the key the manifest names, which the
    /// restored data must carry and which unseal later checks against the root key.
    pub trusted_key: Option<String>,
    /// Clock for the restored vault.
    pub clock: Arc<dyn Clock>,
    /// The zone the data must belong to (a zone's data is restored only into it).
    pub zone: Option<String>,
    /// Bytes of the payload verified and then decrypted.
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for RestoreRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreRequest")
            .field("source", &self.source)
            .field("db_path", &self.db_path)
            .finish_non_exhaustive()
    }
}

/// A finished restore.
#[derive(Debug)]
pub struct RestoreReport {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Subjects purged again from the ledger.
    pub reapplied: usize,
    /// Audit entries in the restored trail (all verified).
    pub audit_entries: i64,
    /// Time taken.
    pub duration: std::time::Duration,
    /// The restored vault (sealed), for a drill to open.
    pub vault: Arc<Vault>,
}

/// The manifest and the local payload file, fetched and verified.
pub(crate) struct Fetched {
    pub(crate) manifest: Manifest,
    pub(crate) payload: PathBuf,
    _tmp: Option<TempDir>,
}

/// A temporary directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fetch a backup and verify its manifest signature, payload size and SHA-256.
pub(crate) async fn fetch_verified(
    source: &BackupSource,
    trusted: Option<&str>,
    progress: Option<Progress>,
) -> Result<Fetched, BackupError> {
    let (raw, payload, tmp, id) = match source {
        BackupSource::Local(p) => {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let id = strip_suffix(name);
            if !valid_id(id) {
                return Err(BackupError::Invalid(format!(
                    "{} is not a backup (expected <id>.manifest.json or <id>.age)",
                    p.display()
                )));
            }
            let dir = p.parent().unwrap_or(Path::new("."));
            let mpath = dir.join(Manifest::file_name(id));
            let raw = std::fs::read(&mpath)
                .map_err(|e| BackupError::NotFound(format!("cannot read the manifest {}: {e}", mpath.display())))?;
            (raw, dir.join(format!("{id}.age")), None, id.to_owned())
        }
        BackupSource::Target(t, id) => {
            let raw = t.get_bytes(&Manifest::file_name(id)).await?;
            let tmp = TempDir(std::env::temp_dir().join(format!("custos-restore-{}", custos_crypto::random_hex(8)?)));
            std::fs::create_dir_all(&tmp.0)?;
            let local = tmp.0.join(format!("{id}.age"));
            t.get_file(&format!("{id}.age"), &local).await?;
            (raw, local, Some(tmp), id.clone())
        }
    };
    let manifest = Manifest::parse(&raw)?;
    manifest.verify(trusted)?;
    if manifest.id != id || manifest.payload.file != format!("{id}.age") {
        return Err(BackupError::Tampered("the manifest belongs to another backup".into()));
    }
    if manifest.format != format::FORMAT {
        return Err(BackupError::Tampered(format!("unknown backup format {}", manifest.format)));
    }
    let path = payload.clone();
    let expected = (manifest.payload.bytes, manifest.payload.sha256.clone());
    tokio::task::spawn_blocking(move || check_payload(&path, expected.0, &expected.1, progress))
        .await
        .map_err(|e| BackupError::Target(format!("verify task failed: {e}")))??;
    Ok(Fetched { manifest, payload, _tmp: tmp })
}

fn check_payload(path: &Path, bytes: u64, sha256: &str, progress: Option<Progress>) -> Result<(), BackupError> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| BackupError::NotFound(format!("cannot read the payload {}: {e}", path.display())))?;
    let size = f.metadata()?.len();
    if size != bytes {
        return Err(BackupError::Tampered(format!(
            "the payload is {size} bytes, the manifest says {bytes} (truncated or extended)"
        )));
    }
    let mut sha = Sha256Stream::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        done += n as u64;
        if let Some(p) = &progress {
            p(done);
        }
    }
    if !hex::encode(sha.finish()).eq_ignore_ascii_case(sha256) {
        return Err(BackupError::Tampered("the payload's SHA-256 does not match the manifest".into()));
    }
    Ok(())
}

/// Restore a backup into a new database (see the module docs).
pub async fn restore(req: RestoreRequest) -> Result<RestoreReport, BackupError> {
    let started = Instant::now();
    if req.db_path.exists() {
        return Err(BackupError::Invalid(format!(
            "{} exists: restore writes only into a new data directory",
            req.db_path.display()
        )));
    }
    let fetched = fetch_verified(&req.source, req.trusted_key.as_deref(), req.progress.clone()).await?;
    if let Some(z) = req.zone.as_deref().filter(|z| *z != fetched.manifest.zone) {
        return Err(BackupError::Invalid(format!(
            "this backup is of zone {}; a zone's data is restored only into that zone, not into {z}",
            fetched.manifest.zone
        )));
    }
    // Verified: from here on, anything written is removed again on failure.
    let result = load_and_check(&req, &fetched, started).await;
    if result.is_err() {
        for ext in ["", "-wal", "-shm"] {
            let mut p = req.db_path.clone().into_os_string();
            p.push(ext);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
    result
}

async fn load_and_check(req: &RestoreRequest, f: &Fetched, started: Instant) -> Result<RestoreReport, BackupError> {
    let m = &f.manifest;
    let zone =
        ZoneName::parse(&m.zone).map_err(|_| BackupError::Tampered("the manifest's zone is not valid".into()))?;
    let (payload, db, progress) = (f.payload.clone(), req.db_path.clone(), req.progress.clone());
    // The file key is unwrapped here; the body is decrypted and loaded on a blocking thread.
    let file = std::fs::File::open(&payload)?;
    let counted = CountingReader { inner: file, n: 0, progress };
    let decryptor = age::Decryptor::new(BufReader::new(counted))
        .map_err(|e| BackupError::Tampered(format!("the payload is not an age file: {e}")))?;
    let plain = decryptor
        .decrypt(req.identities.as_dyn())
        .map_err(|_| BackupError::Invalid("the identity does not open this backup".into()))?;
    let expected_zone = m.zone.clone();
    let counts = tokio::task::spawn_blocking(move || -> Result<Vec<(String, u64)>, BackupError> {
        let (mut body, header) = format::BodyReader::new(BufReader::with_capacity(1 << 20, plain))?;
        if header.zone != expected_zone {
            return Err(BackupError::Tampered("the body belongs to another zone than the manifest".into()));
        }
        let counts = custos_store::load_snapshot(&db, &mut body)?;
        if !body.finished() {
            return Err(BackupError::Tampered("the body ends early".into()));
        }
        Ok(counts)
    })
    .await
    .map_err(|e| BackupError::Target(format!("restore task failed: {e}")))??;
    let loaded: std::collections::BTreeMap<String, u64> = counts.into_iter().collect();
    if loaded != m.counts {
        return Err(BackupError::Tampered("the restored row counts differ from the manifest".into()));
    }
    let store = Arc::new(SqlStore::open_sqlite(&req.db_path, SqliteOptions::default())?);
    let head = store.audit_head().await?.map(|(seq, h)| (seq, hex::encode(h)));
    if head != m.audit_head.as_ref().map(|h| (h.seq, h.hash.clone())) {
        return Err(BackupError::Tampered("the restored audit head differs from the manifest".into()));
    }
    let vault = Arc::new(Vault::new(store.clone(), req.clock.clone(), zone));
    let signer = hex::decode(&m.signer).map_err(|_| BackupError::Tampered("the signer key is not hex".into()))?;
    match vault.audit_public_key().await? {
        Some(pk) if pk[..] == signer[..] => {}
        _ => {
            return Err(BackupError::Tampered(
                "the backup's data carries another signing key than its manifest".into(),
            ));
        }
    }
    store.apply(vec![WriteOp::PutMeta(META_RESTORED_SIGNER.into(), signer)]).await?;
    if let Some(l) = &req.ledger {
        vault.set_ledger(l.clone());
    }
    let reapplied = if req.ledger.is_some() { vault.reapply_ledger_offline().await? } else { 0 };
    vault
        .record_backup_event(&BackupEvent {
            kind: "restore".into(),
            backup: m.id.clone(),
            at: req.clock.now(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ok: true,
            detail: format!("{} rows, {reapplied} erasures re-applied from the ledger", loaded.values().sum::<u64>()),
        })
        .await?;
    let report = vault.verify_audit(None).await?;
    if let Some(fault) = report.fault {
        return Err(BackupError::Tampered(format!(
            "the restored audit trail fails verification at entry {}: {}",
            fault.seq, fault.kind
        )));
    }
    Ok(RestoreReport {
        manifest: m.clone(),
        reapplied,
        audit_entries: report.entries,
        duration: started.elapsed(),
        vault,
    })
}

struct CountingReader<R: Read> {
    inner: R,
    n: u64,
    progress: Option<Progress>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        if let Some(p) = &self.progress {
            p(self.n);
        }
        Ok(n)
    }
}
