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
