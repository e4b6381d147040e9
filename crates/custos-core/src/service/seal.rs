//! Initialisation, unsealing and sealing: the root key exists whole only between a
//! successful unseal and the next seal.

use super::Vault;
use super::audit::Caller;
use crate::audit::RequestMeta;
use crate::error::CoreError;
use crate::keyring::{Keyring, lock, write};
use crate::store::{OperatorRow, WriteOp};
use custos_crypto::{InitId, RootKey, Secret, Share, combine_shares, new_token, split_root_key};

pub(super) const META_INIT_ID: &str = "init_id";
const META_THRESHOLD: &str = "threshold";
const META_SHARES: &str = "shares";
pub(super) const META_CHECK: &str = "root_check";
const META_MODE: &str = "mode";

/// Production, or development (one share kept on disk for auto-unseal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Shares are handed to operators; nothing on disk can unseal.
    Production,
    /// Demo and development: auto-unseal from a share file.
    Development,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Production => "production",
            Mode::Development => "development",
        }
    }
}

/// Parameters of `init`.
#[derive(Debug, Clone, Copy)]
pub struct InitParams {
    /// Number of shares.
    pub shares: u8,
    /// Shares needed to unseal.
    pub threshold: u8,
    /// Mode recorded in the store.
    pub mode: Mode,
}

/// What `init` hands out once.
#[derive(Debug)]
pub struct InitOutput {
    /// The shares' text forms.
    pub shares: Vec<Secret<String>>,
    /// Threshold.
    pub threshold: u8,
    /// The initial operator token.
    pub operator_token: Secret<String>,
}

/// Seal state as the health endpoint shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealStatus {
    /// No keys in memory.
    pub sealed: bool,
    /// Distinct shares given so far.
    pub progress: u8,
    /// Shares needed.
    pub threshold: u8,
}

impl Vault {
    /// Initialise an empty store: root key, shares, check value, first operator token.
    pub async fn initialize(&self, params: InitParams) -> Result<InitOutput, CoreError> {
        if params.threshold == 0 || params.threshold > params.shares {
            return Err(CoreError::invalid("threshold", "must be between 1 and the number of shares"));
        }
        if self.store.get_meta(META_INIT_ID).await?.is_some() {
            return Err(CoreError::State("this data directory is already initialised"));
        }
        let root = RootKey::generate()?;
        let init = InitId::generate()?;
        let check = root.check_value(init.as_str())?;
        let shares = split_root_key(&root, &init, params.shares, params.threshold)?;
        let (token, hash) = new_token("cop")?;
        let now = self.clock.now();
        self.store
            .apply(vec![
                WriteOp::PutMeta(META_INIT_ID.into(), init.as_str().as_bytes().to_vec()),
                WriteOp::PutMeta(META_THRESHOLD.into(), vec![params.threshold]),
                WriteOp::PutMeta(META_SHARES.into(), vec![params.shares]),
                WriteOp::PutMeta(META_CHECK.into(), check.to_vec()),
                WriteOp::PutMeta(META_MODE.into(), params.mode.as_str().as_bytes().to_vec()),
                WriteOp::InsertOperator(OperatorRow { id: "op_initial".into(), hash, created_at: now }),
            ])
            .await?;
        Ok(InitOutput {
            shares: shares.iter().map(|s| s.to_text()).collect(),
            threshold: params.threshold,
            operator_token: token,
        })
    }

    /// Whether the store is initialised, and in which mode.
    pub async fn mode(&self) -> Result<Option<Mode>, CoreError> {
        Ok(match self.store.get_meta(META_MODE).await? {
            None => None,
            Some(m) if m == b"development" => Some(Mode::Development),
            Some(_) => Some(Mode::Production),
        })
    }

    async fn threshold(&self) -> Result<u8, CoreError> {
        let t = self.store.get_meta(META_THRESHOLD).await?.ok_or(CoreError::State("not initialised"))?;
        t.first().copied().ok_or(CoreError::Integrity)
    }

    /// The seal state.
    pub async fn seal_status(&self) -> Result<SealStatus, CoreError> {
        let threshold = self.threshold().await?;
        let sealed = self.keys().is_err();
        let progress = if sealed { u8::try_from(lock(&self.pending_shares).len()).unwrap_or(u8::MAX) } else { 0 };
        Ok(SealStatus { sealed, progress, threshold })
    }

    /// Whether unsealed (cheap; no store access).
    pub fn is_sealed(&self) -> bool {
        self.keys().is_err()
    }

    /// Offer one share. At the threshold, the shares are combined and checked; a wrong
    /// combination clears the progress so a bad share cannot block unsealing forever.
    pub async fn unseal(&self, share_text: &str, meta: &RequestMeta) -> Result<SealStatus, CoreError> {
        let was_sealed = self.is_sealed();
        let r = self.unseal_inner(share_text).await;
        let action = match &r {
            Ok(st) if was_sealed && !st.sealed => "sys.unseal",
            _ => "sys.unseal-share",
        };
        let a = self.audit_anonymous(meta, action);
        if let Ok(st) = &r {
            // Fail closed: an unseal that cannot be recorded does not stand.
            if let Err(e) = self.record_read(&a).await {
                if was_sealed && !st.sealed {
                    self.seal_now();
                }
                return Err(e);
            }
            return r;
        }
        self.settle(a, r).await
    }

    async fn unseal_inner(&self, share_text: &str) -> Result<SealStatus, CoreError> {
        let threshold = self.threshold().await?;
        if !self.is_sealed() {
            return Ok(SealStatus { sealed: false, progress: 0, threshold });
        }
        let init_raw = self.store.get_meta(META_INIT_ID).await?.ok_or(CoreError::State("not initialised"))?;
        let init = InitId::parse(std::str::from_utf8(&init_raw).map_err(|_| CoreError::Integrity)?)?;
        let check_raw = self.store.get_meta(META_CHECK).await?.ok_or(CoreError::Integrity)?;
        let check: [u8; 32] = check_raw.as_slice().try_into().map_err(|_| CoreError::Integrity)?;
        let share = Share::parse(share_text).map_err(|e| CoreError::Unseal(e.to_string()))?;
        if share.init() != &init {
            return Err(CoreError::Unseal("share belongs to another initialisation".into()));
        }
        // The guard lives in this block only: no lock is held across an await.
        let result = {
            let mut pending = lock(&self.pending_shares);
            if !pending.iter().any(|s| s.index() == share.index()) {
                pending.push(share);
            }
            let progress = u8::try_from(pending.len()).unwrap_or(u8::MAX);
            if progress < threshold {
                return Ok(SealStatus { sealed: true, progress, threshold });
            }
            let result = combine_shares(&pending, &init, threshold, &check);
            pending.clear();
            result
        };
        match result {
            Ok(root) => {
                // A restored copy opens only under the key that signed its backup.
                if let Some(signer) = self.store.get_meta(super::backup::META_RESTORED_SIGNER).await? {
                    let pk = custos_crypto::AuditSigningKey::derive(&root)?.public_key();
                    if signer != pk {
                        return Err(CoreError::Unseal(
                            "this data was restored from a backup signed by another vault's key".into(),
                        ));
                    }
                }
                *write(&self.keyring) = Some(std::sync::Arc::new(Keyring::new(root, self.zone.clone())));
                self.rewrap_wanted.notify_one();
                if let Err(e) = self.publish_audit_key().await {
                    tracing::error!(error = %e, "could not record the audit checkpoint public key");
                }
                tracing::warn!(target: "custos::keys", "vault unsealed: root key in memory");
                // Purges recorded in the ledger hold over older data put back in place.
                match self.reapply_ledger().await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(subjects = n, "erasures re-applied from the ledger"),
                    Err(e) => {
                        tracing::error!(error = %e, "could not re-apply the erasure ledger; purged subjects stay unreadable")
                    }
                }
                self.privacy_wake.notify_one();
                Ok(SealStatus { sealed: false, progress: 0, threshold })
            }
            Err(e) => Err(CoreError::Unseal(e.to_string())),
        }
    }

    /// Drop every key from memory (operator only).
    pub async fn seal(&self, c: &Caller) -> Result<(), CoreError> {
        let a = self.audit(c, "sys.seal");
        let r = c.principal.require_operator();
        if r.is_ok() {
            self.seal_now();
            // Sealing always happens; its record follows (a failure to record is logged).
            if let Err(e) = self.record_read(&a).await {
                tracing::error!(error = %e, "could not record the seal in the audit trail");
            }
            return Ok(());
        }
        self.settle(a, r).await
    }

    /// Drop every key from memory (shutdown, CLI).
    pub fn seal_now(&self) {
        *write(&self.keyring) = None;
        lock(&self.pending_shares).clear();
        tracing::warn!(target: "custos::keys", "vault sealed: keys dropped from memory");
    }
}
