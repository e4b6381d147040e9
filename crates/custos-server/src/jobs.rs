//! Background jobs of a serving node: the key rewrap after rotations.

use custos_core::Vault;
use std::sync::Arc;
use std::time::Duration;

/// Run the rewrap job until the process ends: after each rotation or unseal (and every
/// minute), move old-version data forward in batches until none is left.
pub fn spawn_rewrap(vault: Arc<Vault>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            vault.rewrap_wanted(Duration::from_secs(60)).await;
            loop {
                match vault.rewrap_step().await {
                    Ok(0) => break,
                    Ok(n) => tracing::info!(rows = n, "rewrap: moved rows to the newest tenant key version"),
                    Err(custos_core::CoreError::Sealed) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "rewrap step failed");
                        break;
                    }
                }
            }
        }
    })
}

/// Sign a checkpoint of the audit chain head every `every` while unsealed.
pub fn spawn_checkpoints(vault: Arc<Vault>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match vault.audit_checkpoint().await {
                Ok(_) | Err(custos_core::CoreError::Sealed) => {}
                Err(e) => tracing::error!(error = %e, "audit checkpoint failed"),
            }
        }
    })
}
