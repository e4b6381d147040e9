//! A restore drill restores the newest backup into scratch space, verifies it, opens a
//! sample of records with the live root key, removes the copy and records the outcome:
//! good or failed, it is in the backup status and the audit trail.

use crate::support::*;
use age::secrecy::ExposeSecret;
use custos_backup::BackupKind;
use custos_backup::drill::{SAMPLE, drill};
use custos_backup::identity::Identities;
use custos_crypto::Secret;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_restores_verifies_decrypts_a_sample_and_is_recorded() {
    let z = zone().await;
    let scratch = z.dir.path().join("scratch");
    let ids = Arc::new(Identities::parse(&z.identity).unwrap());

    // No backup yet: the drill fails, and that is recorded too.
    assert!(drill(&z.vault, &z.target, ids.clone(), &scratch).await.is_err());
    let status = z.vault.backup_status().await.unwrap();
    assert!(!status.last_drill.as_ref().unwrap().ok);
    assert!(status.last_good_drill.is_none());

    for i in 0..40 {
        let s = z.vault.create_subject(&z.admin, &z.t).await.unwrap();
        z.record(Some(s), &format!("Pupil {i}"), i).await;
        z.record(None, &format!("Guest {i}"), i).await;
    }
    let backup = z.backup(BackupKind::Full).await.manifest;
    let good = drill(&z.vault, &z.target, ids, &scratch).await.unwrap();
    assert!(good.event.ok);
    assert_eq!(good.event.backup, backup.id);
    assert_eq!(good.sample, SAMPLE, "subject-sealed and tenant-sealed records opened");
    assert_eq!(good.rows, backup.counts.values().sum::<u64>());
    assert!(good.audit_entries > 80);
    assert!(files_under(&scratch).is_empty(), "the scratch copy is removed");

    // A drill with an identity the backup is not encrypted to fails and says so.
    let stranger = age::x25519::Identity::generate();
    let wrong = Arc::new(Identities::parse(&Secret::new(stranger.to_string().expose_secret().to_owned())).unwrap());
    let err = drill(&z.vault, &z.target, wrong, &scratch).await.unwrap_err();
    assert!(err.to_string().contains("identity"), "{err}");

    let status = z.vault.backup_status().await.unwrap();
    assert_eq!(status.last_good_drill.as_ref(), Some(&good.event));
    let last = status.last_drill.unwrap();
    assert!(!last.ok && last.detail.contains("identity"));
    let db = z.dir.path().join("zone.db");
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log WHERE action = 'backup.drill' AND outcome = 'ok'"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log WHERE action = 'backup.drill' AND outcome <> 'ok'"), 2);
    assert!(z.vault.verify_audit(None).await.unwrap().fault.is_none());
}
