//! The conformance suite and the cross-node guarantees on a real PostgreSQL server.

use custos_store::{PgOptions, SqlStore, conformance, scratch_postgres};
use std::sync::Arc;

async fn store() -> Option<SqlStore> {
    let url = scratch_postgres().await.unwrap()?;
    Some(SqlStore::connect_postgres(&PgOptions::new(url)).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_suite() {
    let Some(store) = store().await else { return eprintln!("no PostgreSQL server configured; skipped") };
    conformance::run_all(Arc::new(store)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_database_keep_one_chain_one_lease_one_count() {
    let Some(url) = scratch_postgres().await.unwrap() else {
        return eprintln!("no PostgreSQL server configured; skipped");
    };
    let a = SqlStore::connect_postgres(&PgOptions::new(url.clone())).await.unwrap();
    let b = SqlStore::connect_postgres(&PgOptions::new(url)).await.unwrap();
    conformance::run_two_nodes(Arc::new(a), Arc::new(b)).await.unwrap();
}

/// TLS to the database: with the server's CA pinned the store connects (TLS required);
/// with another CA it refuses to connect at all, so the certificate really is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_checks_the_servers_certificate() {
    let Some(url) = scratch_postgres().await.unwrap() else {
        return eprintln!("no PostgreSQL server configured; skipped");
    };
    let Ok(ca) = std::env::var("CUSTOS_TEST_POSTGRES_CA") else {
        assert!(std::env::var("CUSTOS_REQUIRE_POSTGRES").is_err(), "CUSTOS_TEST_POSTGRES_CA is required");
        return eprintln!("no database CA configured; skipped");
    };
    let mut o = PgOptions::new(url.clone());
    o.ca_file = Some(ca.into());
    let store = SqlStore::connect_postgres(&o).await.unwrap();
    use custos_core::store::{Store, WriteOp};
    store.apply(vec![WriteOp::PutMeta("tls".into(), b"yes".to_vec())]).await.unwrap();
    assert_eq!(store.get_meta("tls").await.unwrap(), Some(b"yes".to_vec()));

    let dir = tempfile::tempdir().unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let mut o = PgOptions::new(url);
    o.ca_file = Some(other_ca);
    let err = SqlStore::connect_postgres(&o).await.unwrap_err().to_string();
    assert!(err.contains("cannot connect"), "{err}");
    assert!(!err.contains("postgres://"), "the URL stays out of the message: {err}");
}
