//! Store integration tests: the conformance suite on a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed unwrap is a failed test

use custos_store::{SqliteOptions, SqliteStore, conformance};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("zone.db"), SqliteOptions::default()).unwrap();
    conformance::run_all(Arc::new(store)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reopens_with_data_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zone.db");
    {
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        custos_core::store::Store::apply(&store, vec![custos_core::store::WriteOp::PutMeta("k".into(), b"v".to_vec())])
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(custos_core::store::Store::get_meta(&store, "k").await.unwrap(), Some(b"v".to_vec()));
}

/// Audit retention on a real SQLite file: pruning cuts at a signed checkpoint, what
/// remains verifies from that anchor, the chain goes on, and losing the anchor is caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_retention_prunes_at_a_checkpoint_and_the_rest_verifies() {
    use custos_core::Vault;
    use custos_core::audit::RequestMeta;
    use custos_core::clock::{Clock, ManualClock, Timestamp};
    use custos_core::ids::{TenantCode, ZoneName};
    use custos_core::service::{InitParams, Mode};

    const DAY: i64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zone.db");
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let vault = Vault::new(Arc::new(store), clock.clone(), ZoneName::parse("default").unwrap());
    let out = vault.initialize(InitParams { shares: 1, threshold: 1, mode: Mode::Production }).await.unwrap();
    let meta = RequestMeta { request_id: "test".into(), client: None };
    vault.unseal(out.shares[0].expose(), &meta).await.unwrap();
    let op = vault.authenticate(out.operator_token.expose(), &meta).await.unwrap();
    for i in 0..5 {
        vault.create_tenant(&op, TenantCode::parse(&format!("old{i}")).unwrap(), "Old").await.unwrap();
    }
    let anchor = vault.audit_checkpoint().await.unwrap().unwrap();
    clock.advance_ms(10 * DAY);
    for i in 0..3 {
        vault.create_tenant(&op, TenantCode::parse(&format!("new{i}")).unwrap(), "New").await.unwrap();
    }
    vault.audit_checkpoint().await.unwrap().unwrap();
    let before = vault.verify_audit(None).await.unwrap();
    assert!(before.fault.is_none());

    let pruned = vault.prune_audit(Timestamp(clock.now().0 - 5 * DAY)).await.unwrap();
    assert_eq!(pruned, Some(anchor), "cut at the newest checkpoint older than the cutoff");
    let after = vault.verify_audit(None).await.unwrap();
    assert!(after.fault.is_none(), "{after:?}");
    assert!(after.entries < before.entries && after.verified_to > before.verified_to);
    // nothing newer than the cutoff was pruned, and the chain goes on
    vault.create_tenant(&op, TenantCode::parse("later").unwrap(), "Later").await.unwrap();
    assert!(vault.verify_audit(None).await.unwrap().fault.is_none());
    assert_eq!(vault.prune_audit(Timestamp(clock.now().0 - 5 * DAY)).await.unwrap(), None, "nothing more to prune");

    // removing the anchor checkpoint is detected
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("DELETE FROM audit_checkpoints WHERE seq = ?1", [anchor]).unwrap();
    let broken = vault.verify_audit(None).await.unwrap();
    assert_eq!(broken.fault.map(|f| (f.seq, f.kind)), Some((anchor, "missing-entry")));
}
