//! Background jobs of a serving node: the key rewrap, audit checkpoints and retention,
//! identity checks, the privacy jobs. Each runs on the node holding its lease in the
//! zone's database, so several nodes on one zone run each job once, not once each.

use custos_core::Vault;
use std::sync::Arc;
use std::time::Duration;

/// Lease period of the jobs that tail the trail continuously (exporters, alerts).
pub(crate) const STREAM_LEASE: Duration = Duration::from_secs(10);
/// How often a node without the lease asks again.
pub(crate) const STANDBY: Duration = Duration::from_secs(2);

/// Lease period for a job that runs every `every`: the holder renews it each run, so
/// it must outlast one interval; a dead holder's job moves on after about two.
pub(crate) fn lease_for(every: Duration) -> Duration {
    every.saturating_mul(2).max(Duration::from_secs(5)) + Duration::from_secs(5)
}

/// Run the rewrap job until the process ends: after each rotation or unseal (and every
/// minute), move old-version data forward in batches until none is left.
pub fn spawn_rewrap(vault: Arc<Vault>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            vault.rewrap_wanted(Duration::from_secs(60)).await;
            if !vault.hold_lease("rewrap", lease_for(Duration::from_secs(60))).await {
                continue;
            }
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

/// Sign a checkpoint of the audit chain head every `every` while unsealed; with a
/// retention period, prune older entries (at a checkpoint) once an hour.
pub fn spawn_checkpoints(
    vault: Arc<Vault>,
    every: Duration,
    retention: Option<Duration>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut last_prune: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            if !vault.hold_lease("audit", lease_for(every)).await {
                continue;
            }
            match vault.audit_checkpoint().await {
                Ok(_) | Err(custos_core::CoreError::Sealed) => {}
                Err(e) => tracing::error!(error = %e, "audit checkpoint failed"),
            }
            let due = last_prune.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600));
            if let (Some(keep), true) = (retention, due) {
                last_prune = Some(tokio::time::Instant::now());
                let now = vault.clock().now();
                let cutoff = custos_core::Timestamp(now.0 - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX));
                match vault.prune_audit(cutoff).await {
                    Ok(Some(seq)) => tracing::info!(through = seq, "audit retention pruned entries"),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "audit retention failed"),
                }
            }
        }
    })
}

/// Identity checks, hourly: API keys near expiry get their reminder (an audit entry the
/// alert rules raise), and each tenant with an overdue access review is noted once a day.
pub fn spawn_identity_checks(vault: Arc<Vault>, reminder_days: i64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut noted: std::collections::HashMap<custos_core::ids::TenantCode, i64> = Default::default();
        loop {
            if !vault.is_sealed() && vault.hold_lease("identity", lease_for(Duration::from_secs(3600))).await {
                if let Err(e) = vault.api_key_reminders(reminder_days).await {
                    tracing::warn!(error = %e, "api key reminders failed");
                }
                match vault.overdue_access_reviews().await {
                    Ok(tenants) => {
                        let now = vault.clock().now().0;
                        for t in tenants {
                            if noted.get(&t).is_some_and(|at| now - at < 86_400_000) {
                                continue;
                            }
                            if vault.note_overdue_review(&t).await.is_ok() {
                                noted.insert(t, now);
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "access review check failed"),
                }
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    })
}

/// The privacy jobs: every `every` the retention purge runs (expired records and files,
/// deleted items past their delay, erasures past their grace window) and overdue
/// data-subject requests are noted once a day; erasure notices are sent as soon as they
/// are owed and retried with back-off.
pub fn spawn_privacy(vault: Arc<Vault>, every: Duration, client: reqwest::Client) -> Vec<tokio::task::JoinHandle<()>> {
    let v = vault.clone();
    let retention = tokio::spawn(async move {
        let mut noted: std::collections::HashMap<custos_core::ids::DsrId, i64> = Default::default();
        loop {
            if !v.is_sealed() && v.hold_lease("retention", lease_for(every)).await {
                match v.run_retention().await {
                    Ok(r) if r != custos_core::service::RetentionReport::default() => {
                        tracing::info!(?r, "retention purge ran");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention purge failed; will retry"),
                }
                match v.overdue_dsrs().await {
                    Ok(rows) => {
                        let now = v.clock().now().0;
                        for d in rows {
                            if noted.get(&d.id).is_some_and(|at| now - at < 86_400_000) {
                                continue;
                            }
                            if v.note_overdue_dsr(&d).await.is_ok() {
                                noted.insert(d.id, now);
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "overdue request check failed"),
                }
            }
            tokio::time::sleep(every).await;
        }
    });
    let notices = tokio::spawn(async move {
        loop {
            if !vault.hold_lease("notices", STREAM_LEASE).await {
                tokio::time::sleep(STANDBY).await;
                continue;
            }
            match vault.due_notices(32).await {
                Ok(due) => {
                    for n in due {
                        let t = vault.clock().now().0 / 1000;
                        let outcome = send_notice(&client, &n, t).await;
                        if let Err(e) = vault.notice_result(&n, outcome).await {
                            tracing::warn!(error = %e, "could not record an erasure notice attempt");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "erasure notices could not be read"),
            }
            vault.privacy_wait(Duration::from_millis(500)).await;
        }
    });
    vec![retention, notices]
}

async fn send_notice(
    client: &reqwest::Client,
    n: &custos_core::service::OutgoingNotice,
    t: i64,
) -> custos_core::service::NoticeOutcome {
    use custos_core::service::NoticeOutcome;
    let sig = crate::alerts::signature(n.secret.expose().as_bytes(), t, &n.body);
    let resp = client
        .post(&n.url)
        .header("content-type", "application/json")
        .header("custos-signature", sig)
        .header("custos-event", "erasure.notice")
        .timeout(Duration::from_secs(10))
        .body(n.body.clone())
        .send()
        .await;
    match resp {
        Ok(r) if r.status().is_success() => NoticeOutcome::Delivered,
        Ok(r) => NoticeOutcome::Failed(format!("http-{}", r.status().as_u16())),
        Err(e) if e.is_timeout() => NoticeOutcome::Failed("timeout".into()),
        Err(e) if e.is_connect() => NoticeOutcome::Failed("connect".into()),
        Err(_) => NoticeOutcome::Failed("transport".into()),
    }
}
