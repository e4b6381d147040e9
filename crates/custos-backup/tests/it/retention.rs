//! Retention on a manual clock: each backup goes exactly when its kind's window ends,
//! never a millisecond before; the newest good backup stays however old it is, and a
//! damaged newer one does not count as good. Every deletion is audited.

use crate::support::*;
use custos_backup::BackupKind;
use custos_backup::retention::{RetentionPolicy, prune};
use custos_core::clock::Timestamp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_exactly_the_expired_backups_and_never_the_newest_good_one() {
    let z = zone().await;
    z.record(None, "Student", 1).await;
    let policy = RetentionPolicy { full_ms: 7 * DAY, snapshot_ms: 2 * DAY };
    let at = |d: i64, ms: i64| z.clock.set(Timestamp(T0 + d * DAY + ms));
    let pruned = || async { prune(&z.vault, &z.target, policy).await.unwrap().deleted };

    let a = z.backup(BackupKind::Full).await.manifest.id;
    at(1, 0);
    let b = z.backup(BackupKind::Snapshot).await.manifest.id;
    at(2, 0);
    let c = z.backup(BackupKind::Snapshot).await.manifest.id;
    at(3, -1);
    assert!(pruned().await.is_empty(), "one millisecond before its window ends, nothing goes");
    at(3, 0);
    let d = z.backup(BackupKind::Full).await.manifest.id;
    assert_eq!(pruned().await, vec![b.clone()], "a snapshot goes at exactly 2 days");
    at(4, 0);
    let e = z.backup(BackupKind::Snapshot).await.manifest.id;
    assert_eq!(pruned().await, vec![c.clone()]);
    at(7, -1);
    assert!(pruned().await.is_empty(), "the full backup stays until exactly 7 days");
    at(7, 0);
    assert_eq!(pruned().await, vec![a.clone()], "the 3-day-old snapshot is the newest good one: it stays");

    at(30, 0);
    assert_eq!(pruned().await, vec![d.clone()]);
    assert!(pruned().await.is_empty(), "the newest good backup stays, however old");
    let f = z.backup(BackupKind::Snapshot).await.manifest.id;
    // Damage the newest: it no longer counts as good, so the older one is kept.
    let payload = z.dir.path().join("backups").join("eu").join(format!("{f}.age"));
    let bytes = std::fs::read(&payload).unwrap();
    std::fs::write(&payload, &bytes[..bytes.len() / 2]).unwrap();
    at(40, 0);
    assert_eq!(pruned().await, vec![f.clone()]);
    let left: Vec<String> = z.target.manifests().await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(left, vec![e.clone()]);
    let files = files_under(&z.dir.path().join("backups"));
    assert_eq!(files.len(), 2, "only the kept backup's payload and manifest remain: {files:?}");

    let db = z.dir.path().join("zone.db");
    assert_eq!(count(&db, "SELECT count(*) FROM audit_log WHERE action = 'backup.prune' AND outcome = 'ok'"), 5);
    for id in [&a, &b, &c, &d, &f] {
        let n = count(
            &db,
            &format!("SELECT count(*) FROM audit_log WHERE action = 'backup.prune' AND reason LIKE '%{id}%'"),
        );
        assert_eq!(n, 1, "the prune of {id} is audited");
    }
    assert!(z.vault.verify_audit(None).await.unwrap().fault.is_none());
}
