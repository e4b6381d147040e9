//! Alert rules on the audit stream. One task tails the trail from its own durable
//! cursor (starting at the head when first configured, so history does not alert),
//! evaluates each entry against the rules, and for each firing writes an `alert.<rule>`
//! audit entry and sends a signed webhook. Like the exporters it never blocks the data
//! path.

mod rules;
mod webhook;

pub use rules::AlertRules;
pub use webhook::{Webhook, signature};

use custos_core::Vault;
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

/// Start the alert task; it runs until the process ends.
pub fn spawn(vault: Arc<Vault>, cfg: AlertConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut cursor = match vault.exporter_cursor(CURSOR).await {
            Ok(0) => vault.audit_head_seq().await.unwrap_or(0),
            Ok(c) => c,
            Err(_) => 0,
        };
        let mut state = rules::State::default();
        loop {
            let batch = match vault.audit_tail(cursor, 500).await {
                Ok(b) if !b.is_empty() => b,
                _ => {
                    // quiet: check the exporter-lag rule now and then
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            for entry in &batch {
                for fired in state.observe(&cfg.rules, entry) {
                    if let Err(e) = vault.record_alert(fired.rule, entry, fired.count).await {
                        tracing::error!(error = %e, rule = fired.rule, "could not record an alert in the audit trail");
                    }
                    cfg.webhook.send(&fired, entry).await;
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
