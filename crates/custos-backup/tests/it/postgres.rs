//! A PostgreSQL zone backs up like a SQLite one (one consistent snapshot of every
//! durable table) and restores, verified, into a new SQLite zone; a backup is restored
//! only into its own zone.

use crate::support::*;
use custos_backup::{BackupError, BackupKind};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_zone_backs_up_and_restores_identically_into_sqlite() {
    let Some(z) = pg_zone().await else { return eprintln!("no PostgreSQL server configured; skipped") };
    let mut written = Vec::new();
    for n in 0..300i64 {
        let subject = if n % 3 == 0 { Some(z.vault.create_subject(&z.admin, &z.t).await.unwrap()) } else { None };
        let name = format!("Student {n:04}");
        written.push((z.record(subject, &name, n).await, fields(json!({"name": name, "score": n}))));
    }
    let out = z.backup(BackupKind::Full).await;
    assert_eq!(out.manifest.counts["records"], 300);
    assert!(!out.manifest.counts.contains_key("custos_schema") && !out.manifest.counts.contains_key("leases"));

    let new = tempfile::tempdir().unwrap();
    let db = new.path().join("zone.db");
    let report = z.restore_from(&z.manifest_path(&out.manifest.id), &db).await.unwrap();
    let restored = report.vault.clone();
    let admin = open_restored(&z, &restored).await;
    let mut read = all_records(&restored, &admin, &z.t).await;
    read.sort_by(|a, b| a.0.cmp(&b.0));
    written.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(read == written, "every record of the PostgreSQL zone reads back identically");
    let trail = restored.verify_audit(None).await.unwrap();
    assert!(trail.fault.is_none(), "{:?}", trail.fault);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_restored_only_into_its_own_zone() {
    let z = zone().await;
    z.record(None, "Ada", 1).await;
    let out = z.backup(BackupKind::Full).await;
    let new = tempfile::tempdir().unwrap();
    let db = new.path().join("zone.db");
    let err = custos_backup::restore::restore(custos_backup::restore::RestoreRequest {
        source: custos_backup::restore::BackupSource::Local(z.manifest_path(&out.manifest.id)),
        identities: std::sync::Arc::new(custos_backup::identity::Identities::parse(&z.identity).unwrap()),
        db_path: db.clone(),
        ledger: Some(z.ledger.clone()),
        trusted_key: None,
        clock: z.clock.clone(),
        zone: Some("ca-central".into()),
        progress: None,
    })
    .await
    .unwrap_err();
    assert!(matches!(err, BackupError::Invalid(ref m) if m.contains("only into that zone")), "{err}");
    assert!(!db.exists(), "nothing written");
}
