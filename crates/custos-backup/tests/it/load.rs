//! A backup taken while writers keep writing loses no acknowledged write: every write
//! acknowledged before the backup began is in it, every write during it succeeds and is
//! in the live zone, and what the backup holds is exactly what its manifest counts.

use crate::support::*;
use custos_backup::BackupKind;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_sustained_writes_loses_no_acknowledged_write() {
    let z = Arc::new(zone().await);
    for i in 0..5_000 {
        z.record(None, &format!("Before {i}"), i).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (z, stop) = (z.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut n = 0i64;
            // Bounded: the writers stop when the backup is done, or after 200,000 writes.
            while !stop.load(Ordering::Relaxed) && n < 200_000 {
                acked.push(z.record(None, &format!("During {w}-{n}"), n).await);
                n += 1;
            }
            acked
        }));
    }
    // Let the load settle, note what is acknowledged, then back up under it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before: HashSet<String> =
        all_records(&z.vault, &z.admin, &z.t).await.into_iter().map(|r| r.0.to_string()).collect();
    let out = z.backup(BackupKind::Full).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = HashSet::new();
    for w in writers {
        acked.extend(w.await.unwrap().into_iter().map(|id| id.to_string()));
    }
    assert!(acked.len() > 100, "the writers kept writing");

    let live: HashSet<String> =
        all_records(&z.vault, &z.admin, &z.t).await.into_iter().map(|r| r.0.to_string()).collect();
    assert!(acked.is_subset(&live), "every acknowledged write is in the live zone");

    let new = tempfile::tempdir().unwrap();
    let db = new.path().join("zone.db");
    let report = z.restore_from(&z.manifest_path(&out.manifest.id), &db).await.unwrap();
    let admin = open_restored(&z, &report.vault).await;
    let restored: HashSet<String> =
        all_records(&report.vault, &admin, &z.t).await.into_iter().map(|r| r.0.to_string()).collect();
    assert!(before.is_subset(&restored), "every write acknowledged before the backup is in it");
    assert!(restored.is_subset(&live), "the backup holds nothing the zone never acknowledged");
    assert_eq!(restored.len() as u64, out.manifest.counts["records"]);
    assert!(restored.len() < live.len(), "writes went on during and after the snapshot");
}
