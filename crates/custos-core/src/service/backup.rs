//! What the vault offers backups: the server's signature on manifests, the record of
//! every backup, prune, restore and drill (a `sys` value for health and the audit trail
//! for evidence), the erasure ledger re-applied without keys (restore), and a scratch
//! vault opened with this vault's root key to decrypt a sample (drills).

use super::Vault;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::keyring::{Keyring, read, write};
use crate::store::{RecordFilter, Visibility, WriteOp};
use custos_crypto::AuditSigningKey;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One backup, prune, restore or drill, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupEvent {
    /// `full`, `snapshot`, `drill`, `prune` or `restore`.
    pub kind: String,
    /// The backup it concerns.
    pub backup: String,
    /// When it finished.
    pub at: Timestamp,
    /// How long it took (ms).
    pub duration_ms: u64,
    /// Whether it succeeded.
    pub ok: bool,
    /// A short summary or the error (never personal data).
    pub detail: String,
}

/// The latest backups and drills, for health and the controls report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupStatus {
    /// Last successful full backup.
    pub last_full: Option<BackupEvent>,
    /// Last successful snapshot.
    pub last_snapshot: Option<BackupEvent>,
    /// Last drill (successful or not).
    pub last_drill: Option<BackupEvent>,
    /// Last successful drill.
    pub last_good_drill: Option<BackupEvent>,
    /// Last failed backup, if it came after the last success.
    pub last_failure: Option<BackupEvent>,
}

/// Set by `custos restore` to the key that signed the restored backup; unseal refuses
/// a root key whose signing key differs.
pub const META_RESTORED_SIGNER: &str = "restored_signer";

fn meta_key(kind: &str, ok: bool) -> String {
    format!("backup:{kind}:{}", if ok { "last_ok" } else { "last" })
}

impl Vault {
    /// Allow a backup, drill or backup listing for operators only; the request (allowed
    /// or refused) is audited as `action`, before anything is done. Sealed: refused.
    pub async fn authorize_backup(&self, c: &super::Caller, action: &str) -> Result<(), CoreError> {
        let a = self.audit(c, action);
        let r = c.principal.require_operator().and_then(|()| self.keys().map(|_| ()));
        match r {
            Ok(()) => Ok(self.apply_audited(Vec::new(), &a).await?),
            Err(e) => self.settle(a, Err(e)).await,
        }
    }

    /// Sign `msg` with the server's key (the audit checkpoint key); returns the
    /// signature and the public key. Sealed: refused.
    pub fn sign_as_server(&self, msg: &[u8]) -> Result<([u8; 64], [u8; 32]), CoreError> {
        let keys = self.keys()?;
        let k = AuditSigningKey::derive(keys.root())?;
        Ok((k.sign(msg), k.public_key()))
    }

    /// Record a backup event: in the audit trail (action `backup.<kind>` unless the kind
    /// names its own action) and as the latest of its kind. Fails closed: an event that
    /// cannot be recorded is an error.
    pub async fn record_backup_event(&self, ev: &BackupEvent) -> Result<(), CoreError> {
        let action = match ev.kind.as_str() {
            "full" | "snapshot" => "backup.create",
            "drill" => "backup.drill",
            "prune" => "backup.prune",
            "restore" => "backup.restore",
            _ => return Err(CoreError::State("unknown backup event")),
        };
        let mut a = self.audit_system(action);
        a.set_reason(format!("{} {} {} ms: {}", ev.kind, ev.backup, ev.duration_ms, ev.detail));
        let raw = serde_json::to_vec(ev).map_err(|_| CoreError::Integrity)?;
        let mut ops = vec![WriteOp::PutMeta(meta_key(&ev.kind, false), raw.clone())];
        if ev.ok {
            ops.push(WriteOp::PutMeta(meta_key(&ev.kind, true), raw));
            self.apply_audited(ops, &a).await?;
        } else {
            ops.push(a.failed_entry(&ev.detail));
            self.store.apply(ops).await?;
        }
        Ok(())
    }

    async fn backup_meta(&self, kind: &str, ok: bool) -> Result<Option<BackupEvent>, CoreError> {
        Ok(self.store.get_meta(&meta_key(kind, ok)).await?.and_then(|raw| serde_json::from_slice(&raw).ok()))
    }

    /// The latest backups and drills.
    pub async fn backup_status(&self) -> Result<BackupStatus, CoreError> {
        let last_full = self.backup_meta("full", true).await?;
        let last_snapshot = self.backup_meta("snapshot", true).await?;
        let newest_ok = [&last_full, &last_snapshot].into_iter().flatten().map(|e| e.at).max();
        let last_failure = [self.backup_meta("full", false).await?, self.backup_meta("snapshot", false).await?]
            .into_iter()
            .flatten()
            .filter(|e| !e.ok && newest_ok.is_none_or(|t| e.at > t))
            .max_by_key(|e| e.at);
        Ok(BackupStatus {
            last_full,
            last_snapshot,
            last_drill: self.backup_meta("drill", false).await?,
            last_good_drill: self.backup_meta("drill", true).await?,
            last_failure,
        })
    }

    /// Re-apply the erasure ledger to a restored store without any key: every listed
    /// subject still present has its wrapped key overwritten and all its data deleted
    /// (kept anonymised content included: rebuilding it would need the erased key).
    pub async fn reapply_ledger_offline(&self) -> Result<usize, CoreError> {
        self.reapply_ledger_with(true).await
    }

    /// Open `scratch` (a vault over a restored copy of this zone) with this vault's root
    /// key, after checking the copy was initialised with the same root.
    pub async fn lend_root_to(&self, scratch: &Vault) -> Result<(), CoreError> {
        let keys = self.keys()?;
        let init =
            scratch.store.get_meta(super::seal::META_INIT_ID).await?.ok_or(CoreError::State("not initialised"))?;
        let check = scratch.store.get_meta(super::seal::META_CHECK).await?.ok_or(CoreError::Integrity)?;
        let init = std::str::from_utf8(&init).map_err(|_| CoreError::Integrity)?;
        if keys.root().check_value(init)?[..] != check[..] {
            return Err(CoreError::Unseal("the copy belongs to another root key".into()));
        }
        let root = keys.root().duplicate()?;
        *write(&scratch.keyring) = Some(Arc::new(Keyring::new(root, scratch.zone.clone())));
        Ok(())
    }

    /// Decrypt up to `n` records across the zone's tenants and collections (a drill's
    /// sample); returns how many opened. Any record that does not open is an error.
    pub async fn decrypt_sample(&self, n: usize) -> Result<usize, CoreError> {
        let keys = read(&self.keyring).clone().ok_or(CoreError::Sealed)?;
        let mut opened = 0usize;
        for t in self.store.list_tenants().await? {
            for c in self.store.collections(&t.code).await? {
                let left = n.saturating_sub(opened);
                if left == 0 {
                    return Ok(opened);
                }
                let limit = u32::try_from(left.min(100)).unwrap_or(100);
                let rows = self
                    .store
                    .list_records(&t.code, &RecordFilter::Collection(c.name.clone()), None, limit, Visibility::All)
                    .await?;
                for row in rows {
                    self.open_record(&keys, row).await?;
                    opened += 1;
                }
            }
        }
        Ok(opened)
    }
}
