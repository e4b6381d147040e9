//! Taking a backup while the zone serves: the store streams a consistent snapshot into
//! the logical body, age encrypts it to the operators' recipients on its way to a staging
//! file (hashed as it is written), the server signs the manifest, and the payload then the
//! manifest go to the target. Every backup, good or failed, is recorded and audited.

use crate::identity::Recipients;
use crate::manifest::{AuditHead, BackupKind, Manifest, Payload, new_id};
use crate::{BackupError, Progress, format, target::Target};
use custos_core::Vault;
use custos_core::service::BackupEvent;
use custos_core::store::StoreError;
use custos_crypto::Sha256Stream;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What to back up and how.
#[derive(Debug, Clone)]
pub struct BackupPlan {
    /// Full or snapshot.
    pub kind: BackupKind,
    /// age recipients (`age1…`).
    pub recipients: Vec<String>,
    /// A local directory for the encrypted payload before it goes to the target.
    pub staging: PathBuf,
}

/// A finished backup.
#[derive(Debug, Clone)]
pub struct BackupOutcome {
    /// Its manifest.
    pub manifest: Manifest,
    /// Where the manifest is, for people.
    pub location: String,
}

/// Counts and hashes what passes through.
struct Hashing<W: Write> {
    inner: W,
    sha: Sha256Stream,
    bytes: u64,
    progress: Option<Progress>,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        if let Some(p) = &self.progress {
            p(self.bytes);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Take a backup of the vault's zone to `target`. The vault must be unsealed (the
/// manifest is signed with the server's key).
pub async fn take_backup(
    vault: &Arc<Vault>,
    target: &Target,
    plan: &BackupPlan,
    progress: Option<Progress>,
) -> Result<BackupOutcome, BackupError> {
    let started = Instant::now();
    let created_at = vault.clock().now();
    let id = new_id(created_at.0)?;
    let result = take_inner(vault, target, plan, progress, &id, created_at.0, started).await;
    let ev = BackupEvent {
        kind: plan.kind.as_str().into(),
        backup: id.clone(),
        at: vault.clock().now(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        ok: result.is_ok(),
        detail: match &result {
            Ok(o) => format!(
                "{} bytes, audit head {}, longest commit {} us",
                o.manifest.payload.bytes,
                o.manifest.audit_head.as_ref().map_or(0, |h| h.seq),
                o.manifest.longest_commit_us
            ),
            Err(e) => e.to_string(),
        },
    };
    if let Err(e) = vault.record_backup_event(&ev).await {
        tracing::error!(error = %e, backup = %id, "could not record the backup in the audit trail");
        if result.is_ok() {
            // Fail closed: an unrecorded backup is withdrawn.
            let _ = target.delete(&Manifest::file_name(&id)).await;
            let _ = target.delete(&format!("{id}.age")).await;
            return Err(e.into());
        }
    }
    result
}

async fn take_inner(
    vault: &Arc<Vault>,
    target: &Target,
    plan: &BackupPlan,
    progress: Option<Progress>,
    id: &str,
    created_at: i64,
    started: Instant,
) -> Result<BackupOutcome, BackupError> {
    if vault.is_sealed() {
        return Err(BackupError::Core(custos_core::CoreError::Sealed));
    }
    let recipients = Recipients::parse(&plan.recipients)?;
    std::fs::create_dir_all(&plan.staging)?;
    let staged = plan.staging.join(format!("{id}.age.partial"));
    let (v, path, zone) = (vault.clone(), staged.clone(), vault.zone().to_string());
    let written = tokio::task::spawn_blocking(move || write_payload(&v, &path, &zone, &recipients, progress))
        .await
        .map_err(|e| BackupError::Target(format!("backup task failed: {e}")))?;
    let (info, sha, bytes, longest, recipients) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
    };
    let payload_name = format!("{id}.age");
    let mut manifest = Manifest {
        format: format::FORMAT.into(),
        id: id.to_owned(),
        kind: plan.kind,
        zone: vault.zone().to_string(),
        created_at,
        schema_version: info.schema_version,
        audit_head: info.audit_head.map(|(seq, h)| AuditHead { seq, hash: hex::encode(h) }),
        counts: info.counts.into_iter().collect(),
        payload: Payload { file: payload_name.clone(), bytes, sha256: hex::encode(sha) },
        recipients,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        longest_commit_us: u64::try_from(longest.as_micros()).unwrap_or(u64::MAX),
        signer: String::new(),
        signature: None,
    };
    let (_, pk) = vault.sign_as_server(b"custos-backup-probe")?;
    manifest.signer = hex::encode(pk);
    let (sig, _) = vault.sign_as_server(&manifest.signed_bytes()?)?;
    manifest.signature = Some(hex::encode(sig));
    let raw = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Invalid(e.to_string()))?;
    let uploaded = async {
        target.put_file(&staged, &payload_name).await?;
        target.put_bytes(&Manifest::file_name(id), raw).await
    }
    .await;
    let _ = std::fs::remove_file(&staged);
    if let Err(e) = uploaded {
        let _ = target.delete(&payload_name).await;
        return Err(e);
    }
    Ok(BackupOutcome { location: target.location(&Manifest::file_name(id)), manifest })
}

type Written = (custos_core::store::SnapshotInfo, [u8; 32], u64, std::time::Duration, Vec<String>);

fn write_payload(
    vault: &Vault,
    path: &Path,
    zone: &str,
    recipients: &Recipients,
    progress: Option<Progress>,
) -> Result<Written, BackupError> {
    let store = vault.store();
    let _ = store.take_longest_commit();
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    let hashing = Hashing {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        sha: Sha256Stream::default(),
        bytes: 0,
        progress,
    };
    let enc =
        age::Encryptor::with_recipients(recipients.as_dyn()).map_err(|e| BackupError::Invalid(format!("age: {e}")))?;
    let age_out = enc.wrap_output(hashing)?;
    let mut body = format::BodyWriter::new(std::io::BufWriter::with_capacity(1 << 20, age_out), zone);
    let info = store.snapshot(&mut body)?;
    let age_out = body
        .finish()?
        .into_inner()
        .map_err(|e| BackupError::Store(StoreError::Backend(format!("backup stream: {}", e.error()))))?;
    let mut hashing = age_out.finish()?;
    hashing.flush()?;
    let file = hashing.inner.into_inner().map_err(|e| BackupError::Io(e.into_error()))?;
    file.sync_all()?;
    let longest = store.take_longest_commit();
    Ok((info, hashing.sha.finish(), hashing.bytes, longest, recipients.to_strings()))
}
