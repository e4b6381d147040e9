//! A backup restores into a new database with every record identical and a verifying
//! audit trail; a subject purged after the backup was taken stays purged.

use crate::support::*;
use custos_backup::BackupKind;
use futures_util::future::join_all;
use serde_json::json;

const RECORDS: usize = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_thousand_records_restore_identically_and_the_trail_verifies() {
    let z = zone().await;
    let mut written = Vec::with_capacity(RECORDS);
    for chunk in 0..RECORDS / 1000 {
        let batch = (0..1000).map(|i| {
            let n = chunk * 1000 + i;
            let z = &z;
            async move {
                let name = format!("Student {n:06}");
                let id = z.record(None, &name, i64::try_from(n).unwrap()).await;
                (id, fields(json!({"name": name, "score": n})))
            }
        });
        written.extend(join_all(batch).await);
    }
    let out = z.backup(BackupKind::Full).await;
    assert_eq!(out.manifest.counts["records"], RECORDS as u64);
    assert_eq!(out.manifest.counts["record_fields"], 2 * RECORDS as u64);

    let new = tempfile::tempdir().unwrap();
    let db = new.path().join("zone.db");
    let report = z.restore_from(&z.manifest_path(&out.manifest.id), &db).await.unwrap();
    assert_eq!(report.reapplied, 0);
    assert!(report.audit_entries > RECORDS as i64, "every create was audited and restored");

    let restored = report.vault.clone();
    let admin = open_restored(&z, &restored).await;
    let mut read = all_records(&restored, &admin, &z.t).await;
    read.sort_by(|a, b| a.0.cmp(&b.0));
    written.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(read.len(), RECORDS);
    assert!(read == written, "every record reads back identically");
    let trail = restored.verify_audit(None).await.unwrap();
    assert!(trail.fault.is_none(), "{:?}", trail.fault);
    // The live zone's checkpoints carry over and verify on the restored copy.
    assert!(trail.entries >= report.audit_entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_purged_after_the_backup_stays_purged_and_cannot_be_decrypted() {
    let z = zone().await;
    let gone = z.vault.create_subject(&z.admin, &z.t).await.unwrap();
    let kept = z.vault.create_subject(&z.admin, &z.t).await.unwrap();
    let gone_rec = z.record(Some(gone.clone()), "Ola Nordmann", 7).await;
    let kept_rec = z.record(Some(kept.clone()), "Kari Nordmann", 9).await;
    let out = z.backup(BackupKind::Full).await;

    // After the backup: erased, grace window over, purged (recorded in the ledger).
    z.vault.request_erasure(&z.dpo, &z.t, &gone, None, false).await.unwrap();
    z.clock.set(custos_core::clock::Timestamp(T0 + 31 * DAY));
    assert_eq!(z.vault.run_retention().await.unwrap().subjects, 1);

    let new = tempfile::tempdir().unwrap();
    let db = new.path().join("zone.db");
    let report = z.restore_from(&z.manifest_path(&out.manifest.id), &db).await.unwrap();
    assert_eq!(report.reapplied, 1, "the ledger's erasure is re-applied");
    // Nothing of the subject is left: no subject row, so no wrapped key to unwrap its
    // data with, and no record, field or index row.
    let q = |sql: String| count(&db, &sql);
    assert_eq!(q(format!("SELECT count(*) FROM subjects WHERE pseudonym = '{gone}'")), 0);
    assert_eq!(q(format!("SELECT count(*) FROM records WHERE subject = '{gone}' OR id = '{gone_rec}'")), 0);
    assert_eq!(q(format!("SELECT count(*) FROM record_fields WHERE record_id = '{gone_rec}'")), 0);
    assert_eq!(q(format!("SELECT count(*) FROM blind_index WHERE record_id = '{gone_rec}'")), 0);
    assert_eq!(q(format!("SELECT count(*) FROM subjects WHERE pseudonym = '{kept}'")), 1);

    let restored = report.vault.clone();
    let admin = open_restored(&z, &restored).await;
    let grading = custos_core::ids::Purpose::parse("grading").unwrap();
    assert!(restored.get_record(&admin, &z.t, &coll(), &gone_rec, Some(&grading)).await.is_err());
    assert!(restored.get_subject(&z.dpo_on(&restored).await, &z.t, &gone).await.is_err());
    let r = restored.get_record(&admin, &z.t, &coll(), &kept_rec, Some(&grading)).await.unwrap();
    assert_eq!(r.fields["name"], json!("Kari Nordmann"));
    let trail = restored.verify_audit(None).await.unwrap();
    assert!(trail.fault.is_none(), "{:?}", trail.fault);
    // The re-applied purge and the restore itself are in the restored trail.
    let actions = count(&db, "SELECT count(*) FROM audit_log WHERE action IN ('subject.purge', 'backup.restore')");
    assert_eq!(actions, 2);
}
