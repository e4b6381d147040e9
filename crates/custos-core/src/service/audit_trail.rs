//! Operations on the trail itself: signing checkpoints of the chain head, publishing
//! the checkpoint public key, and verifying the whole chain and its checkpoints.

use super::PageRequest;
use super::Vault;
use super::audit::Caller;
use crate::audit::{ChainedEntry, Checkpoint, GENESIS, checkpoint_message, verify_chain};
use crate::error::CoreError;
use crate::ids::TenantCode;
use crate::policy::Action;
use crate::store::AuditFilter;
use crate::store::WriteOp;
use custos_crypto::{AuditSigningKey, verify_signature};

const META_AUDIT_PUBLIC_KEY: &str = "audit_public_key";
const BATCH: u32 = 2_000;

/// The first problem `verify_audit` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFault {
    /// The first bad sequence number.
    pub seq: i64,
    /// Its kind: `edited-entry`, `missing-entry`, `out-of-order-entry`, `broken-link`,
    /// `truncated`, `forged-checkpoint`, `checkpoint-mismatch`.
    pub kind: &'static str,
}

/// Result of verifying a zone's trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Entries read.
    pub entries: i64,
    /// Sequence number up to which the chain verified.
    pub verified_to: i64,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// Newest checkpoint's sequence number.
    pub last_checkpoint: Option<i64>,
    /// The first fault, if any.
    pub fault: Option<AuditFault>,
}

/// One page of audit entries.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// Entries, by sequence number.
    pub entries: Vec<ChainedEntry>,
    /// Cursor for the next page.
    pub next: Option<String>,
}

impl Vault {
    /// Query the trail: one tenant's entries (its admins and auditors, operators) or,
    /// with no tenant, the `sys` entries (operators). The query is itself audited.
    pub async fn query_audit(
        &self,
        c: &Caller,
        tenant: Option<&TenantCode>,
        filter: AuditFilter,
        page: PageRequest<'_>,
    ) -> Result<AuditPage, CoreError> {
        let mut a = self.audit(c, "audit.read");
        if let Some(t) = tenant {
            a = a.tenant(t);
        }
        let r = async {
            match tenant {
                Some(t) => {
                    if c.principal.require_operator().is_err() {
                        c.principal.authorize(t, Action::ReadAudit)?;
                    }
                    self.tenant_row(t).await?;
                }
                None => c.principal.require_operator()?,
            }
            let limit = match page.limit {
                None => 100,
                Some(l) if (1..=1000).contains(&l) => l,
                Some(_) => return Err(CoreError::invalid("limit", "between 1 and 1000")),
            };
            let after = match page.cursor {
                None => 0,
                Some(c) => c
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or(CoreError::invalid("cursor", "not a cursor from this API"))?,
            };
            let filter = AuditFilter { tenant: tenant.cloned(), ..filter };
            let mut entries = self.store.audit_query(&filter, after, limit + 1).await?;
            let more = entries.len() > limit as usize;
            entries.truncate(limit as usize);
            let next = if more { entries.last().map(|e| e.seq.to_string()) } else { None };
            a.set_count(entries.len());
            self.record_read(&a).await?;
            Ok(AuditPage { entries, next })
        }
        .await;
        self.settle(a, r).await
    }

    /// Retention: delete entries older than `cutoff`, cutting at the newest signed
    /// checkpoint before it (never the chain head), so what remains still verifies from
    /// that checkpoint. Returns the last pruned sequence number. The pruning is audited.
    pub async fn prune_audit(&self, cutoff: crate::clock::Timestamp) -> Result<Option<i64>, CoreError> {
        let Some((head, _)) = self.store.audit_head().await? else { return Ok(None) };
        let checkpoints = self.store.audit_checkpoints().await?;
        let first = self.store.audit_after(0, 1).await?.first().map(|e| e.seq).unwrap_or(head);
        let Some(anchor) = checkpoints.iter().rev().find(|c| c.time < cutoff && c.seq < head && c.seq >= first) else {
            return Ok(None);
        };
        let mut a = self.audit_system("audit.prune");
        a.set_reason(format!("through-seq-{}", anchor.seq));
        self.apply_audited(vec![WriteOp::PruneAudit { through: anchor.seq }], &a).await?;
        Ok(Some(anchor.seq))
    }

    /// Entries after `after`, for exporters and alert rules (not audited: they move the
    /// trail itself, never personal data).
    pub async fn audit_tail(&self, after: i64, limit: u32) -> Result<Vec<ChainedEntry>, CoreError> {
        Ok(self.store.audit_after(after, limit).await?)
    }

    /// The newest entry's sequence number (0 when empty).
    pub async fn audit_head_seq(&self) -> Result<i64, CoreError> {
        Ok(self.store.audit_head().await?.map(|(s, _)| s).unwrap_or(0))
    }

    /// Record that alert `rule` fired on `trigger` (an entry of the system principal,
    /// carrying the trigger's tenant, subject and client).
    pub async fn record_alert(&self, rule: &str, trigger: &ChainedEntry, count: u32) -> Result<(), CoreError> {
        let mut a = self.audit_system(&format!("alert.{rule}"));
        if let Some(t) = &trigger.entry.tenant {
            a = a.tenant(t);
        }
        a = a.subject(trigger.entry.subject.as_ref());
        a.set_count(count as usize);
        a.set_client(trigger.entry.client.clone());
        a.set_reason(format!("trigger-seq-{}", trigger.seq));
        self.store.apply(vec![a.ok()]).await?;
        Ok(())
    }

    /// An exporter's durable cursor: the last sequence number it delivered.
    pub async fn exporter_cursor(&self, name: &str) -> Result<i64, CoreError> {
        let raw = self.store.get_meta(&format!("exporter_cursor:{name}")).await?;
        Ok(raw.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map(i64::from_be_bytes).unwrap_or(0))
    }

    /// Record that an exporter delivered everything up to `seq`.
    pub async fn save_exporter_cursor(&self, name: &str, seq: i64) -> Result<(), CoreError> {
        self.store.apply(vec![WriteOp::PutMeta(format!("exporter_cursor:{name}"), seq.to_be_bytes().to_vec())]).await?;
        Ok(())
    }

    pub(crate) async fn publish_audit_key(&self) -> Result<(), CoreError> {
        let keys = self.keys()?;
        let pk = AuditSigningKey::derive(keys.root())?.public_key();
        if self.store.get_meta(META_AUDIT_PUBLIC_KEY).await?.as_deref() != Some(&pk[..]) {
            self.store.apply(vec![WriteOp::PutMeta(META_AUDIT_PUBLIC_KEY.into(), pk.to_vec())]).await?;
        }
        Ok(())
    }

    /// The checkpoint public key, once the vault has been unsealed at least once.
    pub async fn audit_public_key(&self) -> Result<Option<[u8; 32]>, CoreError> {
        Ok(match self.store.get_meta(META_AUDIT_PUBLIC_KEY).await? {
            Some(b) => Some(b.as_slice().try_into().map_err(|_| CoreError::Integrity)?),
            None => None,
        })
    }

    /// Sign the chain head if it moved since the last checkpoint. Returns the new
    /// checkpoint's sequence number.
    pub async fn audit_checkpoint(&self) -> Result<Option<i64>, CoreError> {
        let keys = self.keys()?;
        let Some((seq, hash)) = self.store.audit_head().await? else { return Ok(None) };
        let last = self.store.audit_last_checkpoint().await?.map(|c| c.seq).unwrap_or(0);
        if seq <= last {
            return Ok(None);
        }
        let time = self.clock.now();
        let signer = AuditSigningKey::derive(keys.root())?;
        let signature = signer.sign(&checkpoint_message(&self.zone, seq, &hash, time));
        self.store.apply(vec![WriteOp::AuditCheckpoint(Checkpoint { seq, hash, time, signature })]).await?;
        Ok(Some(seq))
    }

    /// Recompute the chain and check every checkpoint against it and the public key
    /// (given, or the one recorded at unseal). Works sealed: it needs no secret.
    pub async fn verify_audit(&self, public_key: Option<[u8; 32]>) -> Result<AuditReport, CoreError> {
        let pk = match public_key {
            Some(pk) => Some(pk),
            None => self.audit_public_key().await?,
        };
        let checkpoints = self.store.audit_checkpoints().await?;
        let mut at_checkpoint = std::collections::HashMap::new();
        // Looked up once per entry: a set, not a scan of every checkpoint.
        let checkpointed: std::collections::HashSet<i64> = checkpoints.iter().map(|c| c.seq).collect();
        // After retention, the chain starts after an anchor checkpoint: verify from it.
        let first = self.store.audit_after(0, 1).await?;
        let mut state = match first.first() {
            Some(e) if e.seq > 1 => match checkpoints.iter().find(|c| c.seq == e.seq - 1) {
                Some(anchor) => (anchor.seq, anchor.hash),
                None => {
                    return Ok(AuditReport {
                        entries: 0,
                        verified_to: 0,
                        checkpoints: checkpoints.len(),
                        last_checkpoint: checkpoints.last().map(|c| c.seq),
                        fault: Some(AuditFault { seq: e.seq - 1, kind: "missing-entry" }),
                    });
                }
            },
            _ => (0, GENESIS),
        };
        let mut entries = 0i64;
        let mut fault: Option<AuditFault> = None;
        loop {
            let batch = self.store.audit_after(state.0, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            entries += i64::try_from(batch.len()).unwrap_or(i64::MAX);
            // Keep the stored hash at each checkpointed seq, as read, for comparison.
            for e in &batch {
                if checkpointed.contains(&e.seq) {
                    at_checkpoint.insert(e.seq, e.hash);
                }
            }
            match verify_chain(state, &batch) {
                Ok(next) => state = next,
                Err(f) => {
                    fault = Some(AuditFault { seq: f.seq(), kind: f.kind() });
                    break;
                }
            }
        }
        let verified_to = match &fault {
            Some(f) => f.seq - 1,
            None => state.0,
        };
        for c in &checkpoints {
            let bad = |kind| AuditFault { seq: c.seq, kind };
            let problem = match &pk {
                Some(pk)
                    if !verify_signature(pk, &checkpoint_message(&self.zone, c.seq, &c.hash, c.time), &c.signature) =>
                {
                    Some(bad("forged-checkpoint"))
                }
                None => Some(bad("forged-checkpoint")),
                _ if c.seq > state.0 && fault.is_none() => Some(AuditFault { seq: state.0 + 1, kind: "truncated" }),
                _ => match at_checkpoint.get(&c.seq) {
                    Some(h) if *h != c.hash => Some(bad("checkpoint-mismatch")),
                    _ => None,
                },
            };
            if let Some(p) = problem
                && fault.as_ref().is_none_or(|f| p.seq < f.seq)
            {
                fault = Some(p);
            }
        }
        Ok(AuditReport {
            entries,
            verified_to,
            checkpoints: checkpoints.len(),
            last_checkpoint: checkpoints.last().map(|c| c.seq),
            fault,
        })
    }
}
