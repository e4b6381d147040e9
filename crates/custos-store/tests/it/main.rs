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
