//! The in-process zone the storage benchmarks run on: a real SQLite zone and ledger in a
//! temporary directory, unsealed, with one tenant, an admin and a DPO, and a collection
//! of answers (a searchable email, a 200-character answer, a score).

use anyhow::Result;
use custos_core::Vault;
use custos_core::audit::RequestMeta;
use custos_core::clock::SystemClock;
use custos_core::ids::{CollectionName, Pseudonym, TenantCode, ZoneName};
use custos_core::policy::RoleName;
use custos_core::schema::CollectionSchema;
use custos_core::service::{Caller, InitParams, Mode, NewApiKey, PrivacyConfig};
use custos_store::{SqlStore, SqliteLedger, SqliteOptions};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// A benchmark zone.
pub struct BenchZone {
    pub vault: Arc<Vault>,
    pub admin: Caller,
    pub dpo: Caller,
    pub t: TenantCode,
    pub coll: CollectionName,
    pub ledger: Arc<SqliteLedger>,
}

/// Open a zone in `dir` (which must be empty).
pub async fn open(dir: &Path) -> Result<BenchZone> {
    let store = SqlStore::open_sqlite(&dir.join("zone.db"), SqliteOptions::default())?;
    let vault = Arc::new(Vault::new(Arc::new(store), Arc::new(SystemClock), ZoneName::parse("bench")?));
    let ledger = Arc::new(SqliteLedger::open(&dir.join("erasure-ledger.db"))?);
    vault.set_ledger(ledger.clone());
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
    Ok(BenchZone { vault, admin, dpo, t, coll, ledger })
}

impl BenchZone {
    /// Write `n` answer records (for `subject`, if given) with many writers at once, so
    /// the group commit fills its batches.
    pub async fn fill(&self, n: usize, subject: Option<&Pseudonym>) -> Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (v, admin, t, coll, s) =
                (self.vault.clone(), self.admin.clone(), self.t.clone(), self.coll.clone(), subject.cloned());
            tasks.spawn(async move { v.create_record(&admin, &t, &coll, s, answer(i)).await.map(|_| ()) });
            if tasks.len() >= 64
                && let Some(r) = tasks.join_next().await
            {
                r??;
            }
        }
        while let Some(r) = tasks.join_next().await {
            r??;
        }
        Ok(())
    }
}

/// The fields of answer `i`.
pub fn answer(i: usize) -> serde_json::Map<String, serde_json::Value> {
    let fields = json!({"email": format!("p{i}@bench.example"), "answer": "x".repeat(200), "score": i});
    fields.as_object().cloned().unwrap_or_default()
}
