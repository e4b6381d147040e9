//! Alert rules on the audit stream. One task tails the trail from its own durable
//! cursor (starting at the head when first configured, so history does not alert),
//! evaluates each entry against the rules, and for each firing writes an `alert.<rule>`
//! audit entry and sends a signed webhook. Like the exporters it never blocks the data
//! path.

mod rules;
mod webhook;

pub use rules::AlertRules;
pub use webhook::{Webhook, signature};

use crate::export::Exporters;
use custos_core::Vault;
use custos_core::audit::{AuditEntry, ChainedEntry, GENESIS, Outcome, PrincipalKind, verify_chain};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const CURSOR: &str = "alerts";

/// Alerting configuration.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// The rules and their thresholds.
    pub rules: AlertRules,
    /// Where alerts are sent.
    pub webhook: Webhook,
}

/// A condition that is not one entry (exporter lag, a failed verification), shaped as
/// the entry that raises the alert: the system principal at the chain head.
fn condition(vault: &Vault, seq: i64, action: &str, reason: String) -> ChainedEntry {
    let mut entry =
        AuditEntry::new(vault.clock().now(), vault.zone().clone(), PrincipalKind::System, "custos".into(), action);
    entry.outcome = Outcome::Error;
    entry.reason = Some(reason);
    ChainedEntry { seq, entry, prev_hash: GENESIS, hash: GENESIS }
}

async fn raise(vault: &Vault, cfg: &AlertConfig, fired: &rules::Fired, trigger: &ChainedEntry) {
    if let Err(e) = vault.record_alert(fired.rule, trigger, fired.count).await {
        tracing::error!(error = %e, rule = fired.rule, "could not record an alert in the audit trail");
    }
    cfg.webhook.send(fired, trigger).await;
}

/// Start the alert task; it runs until the process ends. `exporters` feeds the
/// exporter-lag rule.
pub fn spawn(vault: Arc<Vault>, cfg: AlertConfig, exporters: Exporters) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut cursor = 0;
        let mut held = false;
        // The chain as it streams past is checked too: (seq, hash) of the last entry seen.
        let mut chain: Option<(i64, [u8; 32])> = None;
        let mut chain_alerted = false;
        let mut lagging: HashSet<String> = HashSet::new();
        let mut state = rules::State::default();
        loop {
            // One node of the zone watches the trail; a standby resumes from the cursor.
            if !vault.hold_lease("alerts", crate::jobs::STREAM_LEASE).await {
                held = false;
                tokio::time::sleep(crate::jobs::STANDBY).await;
                continue;
            }
            if !held {
                cursor = match vault.exporter_cursor(CURSOR).await {
                    Ok(0) => vault.audit_head_seq().await.unwrap_or(0),
                    Ok(c) => c,
                    Err(_) => 0,
                };
                chain = None;
                held = true;
            }
            for e in exporters.snapshot() {
                let threshold = cfg.rules.exporter_lag;
                if threshold > 0 && e.lag >= threshold && lagging.insert(e.name.clone()) {
                    let head = vault.audit_head_seq().await.unwrap_or(0);
                    let trigger = condition(&vault, head, "audit.export", format!("exporter {} lags", e.name));
                    let fired = rules::Fired {
                        rule: "exporter-lag",
                        key: e.name.clone(),
                        count: u32::try_from(e.lag).unwrap_or(u32::MAX),
                    };
                    raise(&vault, &cfg, &fired, &trigger).await;
                } else if e.lag < threshold / 2 {
                    lagging.remove(&e.name);
                }
            }
            let batch = match vault.audit_tail(cursor, 500).await {
                Ok(b) if !b.is_empty() => b,
                _ => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            if !chain_alerted
                && let Some(start) = chain.or_else(|| batch.first().map(|f| (f.seq - 1, f.prev_hash)))
                && let Err(fault) = verify_chain(start, &batch)
            {
                chain_alerted = true;
                let trigger = condition(&vault, fault.seq(), "audit.verify", fault.kind().to_owned());
                let fired = rules::Fired { rule: "audit-verification", key: fault.kind().to_owned(), count: 1 };
                raise(&vault, &cfg, &fired, &trigger).await;
            }
            chain = batch.last().map(|l| (l.seq, l.hash));
            for entry in &batch {
                for fired in state.observe(&cfg.rules, entry) {
                    raise(&vault, &cfg, &fired, entry).await;
                }
            }
            if let Some(last) = batch.last() {
                cursor = last.seq;
                if let Err(e) = vault.save_exporter_cursor(CURSOR, cursor).await {
                    tracing::warn!(error = %e, "could not save the alert cursor");
                }
            }
        }
    })
}
