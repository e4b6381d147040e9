//! `custos bench-purge`: how long purging one subject takes with 10 and with 10,000
//! records, step by step. The step that makes the data unreadable (ledger entry and key
//! destruction) must not grow with the data; deleting the rows does.

use anyhow::{Result, bail};
use custos_core::Vault;
use custos_core::audit::RequestMeta;
use custos_core::clock::SystemClock;
use custos_core::ids::{CollectionName, TenantCode, ZoneName};
use custos_core::policy::RoleName;
use custos_core::schema::CollectionSchema;
use custos_core::service::{InitParams, Mode, NewApiKey, PrivacyConfig, PurgeTiming};
use custos_store::{SqliteLedger, SqliteOptions, SqliteStore};
use serde_json::json;
use std::sync::Arc;

/// Options of `custos bench-purge`.
#[derive(Debug, clap::Args)]
pub struct BenchPurgeArgs {
    /// Record counts to measure, one subject each.
    #[arg(long, value_delimiter = ',', default_values_t = [10usize, 10_000])]
    records: Vec<usize>,
    /// Runs per count (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `custos bench-purge`
pub async fn run(a: BenchPurgeArgs) -> Result<()> {
    if a.records.is_empty() || a.records.iter().any(|n| *n == 0 || *n > 200_000) || !(1..=20).contains(&a.runs) {
        bail!("--records 1-200000 each, --runs 1-20");
    }
    let dir = std::env::temp_dir().join(format!("custos-bench-purge-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = super::bench::Cleanup(dir.clone());
    let store = SqliteStore::open(&dir.join("zone.db"), SqliteOptions::default())?;
    let vault = Arc::new(Vault::new(Arc::new(store), Arc::new(SystemClock), ZoneName::parse("bench")?));
    vault.set_ledger(Arc::new(SqliteLedger::open(&dir.join("erasure-ledger.db"))?));
    vault.set_privacy_config(PrivacyConfig { grace_ms: 1, ..PrivacyConfig::default() });
    let out = vault.initialize(InitParams { shares: 1, threshold: 1, mode: Mode::Development }).await?;
    let meta = RequestMeta { request_id: "bench".into(), client: None };
    vault.unseal(out.shares[0].expose(), &meta).await?;
    let op = vault.authenticate(out.operator_token.expose(), &meta).await?;
    let t = TenantCode::parse("bench")?;
    vault.create_tenant(&op, t.clone(), "Bench").await?;
    let key = |role: &str| -> Result<NewApiKey> {
        Ok(NewApiKey { name: role.into(), role: RoleName::parse(role)?, expires_in_days: Some(1) })
    };
    let admin = vault.authenticate(vault.create_api_key(&op, &t, key("admin")?).await?.key.expose(), &meta).await?;
    let dpo = vault.authenticate(vault.create_api_key(&op, &t, key("dpo")?).await?.key.expose(), &meta).await?;
    let coll = CollectionName::parse("answers")?;
    let schema: CollectionSchema = serde_json::from_value(json!({"fields": {
        "email": {"type": "email", "pii": true, "searchable": true},
        "answer": {"type": "string", "pii": true},
        "score": {"type": "integer"}
    }, "purposes": ["grading"]}))?;
    vault.put_collection(&admin, &t, &coll, schema).await?;
    println!(
        "{:>8} {:>12} {:>14} {:>14} {:>12} {:>12}",
        "records", "anonymise", "destroy key", "delete data", "compact", "total"
    );
    for &n in &a.records {
        let mut runs: Vec<PurgeTiming> = Vec::new();
        for _ in 0..a.runs {
            let s = vault.create_subject(&admin, &t).await?;
            // Many writers at once, so the group commit fills its batches.
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..n {
                let (v, admin, t, coll, s) = (vault.clone(), admin.clone(), t.clone(), coll.clone(), s.clone());
                let fields = json!({"email": format!("p{i}@bench.example"), "answer": "x".repeat(200), "score": i});
                let fields = fields.as_object().cloned().unwrap_or_default();
                tasks.spawn(async move { v.create_record(&admin, &t, &coll, Some(s), fields).await.map(|_| ()) });
                if tasks.len() >= 64
                    && let Some(r) = tasks.join_next().await
                {
                    r??;
                }
            }
            while let Some(r) = tasks.join_next().await {
                r??;
            }
            vault.request_erasure(&dpo, &t, &s, None, true).await?;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let timing = vault.purge_due_erasures_timed().await?;
            runs.extend(timing);
        }
        runs.sort_by_key(|r| r.anonymise + r.destroy_key + r.delete_data + r.compact);
        let m = runs[runs.len() / 2];
        let total = m.anonymise + m.destroy_key + m.delete_data + m.compact;
        println!(
            "{n:>8} {:>9.2} ms {:>11.2} ms {:>11.2} ms {:>9.2} ms {:>9.2} ms",
            ms(m.anonymise),
            ms(m.destroy_key),
            ms(m.delete_data),
            ms(m.compact),
            ms(total)
        );
    }
    Ok(())
}
