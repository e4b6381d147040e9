//! The subcommands. Each opens what it needs from the checked configuration and calls
//! the vault service; none touches the store behind the service's back.

pub mod audit;
pub mod backup;
pub mod bench;
pub mod bench_auth;
pub mod bench_backup;
pub mod bench_nodes;
pub mod bench_purge;
mod bench_zone;
pub mod demo;
pub mod init;
mod load;
pub mod serve;
pub mod unseal;

use crate::config;
use crate::config_zones::StoreConfig;
use anyhow::{Context, Result};
use custos_core::Vault;
use custos_core::clock::SystemClock;
use custos_store::{SqlStore, SqliteOptions};
use std::path::Path;
use std::sync::Arc;

/// Open the zone's store (SQLite file or PostgreSQL database).
pub async fn open_store(cfg: &config::Config) -> Result<SqlStore> {
    match &cfg.store {
        StoreConfig::Sqlite { path, read_connections } => {
            SqlStore::open_sqlite(path, SqliteOptions { read_connections: *read_connections, ..Default::default() })
                .with_context(|| format!("opening {}", path.display()))
        }
        StoreConfig::Postgres(o) => SqlStore::connect_postgres(o).await.context("opening the zone's PostgreSQL store"),
    }
}

/// Open the zone store and a sealed vault over it.
pub async fn open_vault(cfg: &config::Config) -> Result<Arc<Vault>> {
    let store = open_store(cfg).await?;
    let vault = Vault::new(Arc::new(store), Arc::new(SystemClock), cfg.zone.clone());
    let ledger = custos_store::SqliteLedger::open(&cfg.privacy.ledger)
        .with_context(|| format!("opening the erasure ledger {}", cfg.privacy.ledger.display()))?;
    vault.set_ledger(Arc::new(ledger));
    vault.set_privacy_config(cfg.privacy.vault.clone());
    Ok(Arc::new(vault))
}

/// `custos config check`
pub fn config_check(dir: &Path) -> Result<()> {
    let cfg = config::load(dir, &config::EnvOverrides::from_env(), None, false)?;
    println!("configuration ok: {}", dir.join(config::FILE).display());
    println!("  zone            {}", cfg.zone);
    println!("  listen          {}{}", cfg.listen, if cfg.insecure_http { " (plain HTTP)" } else { " (HTTPS)" });
    println!("  tls_cert        {}", cfg.tls_cert.display());
    println!("  tls_key         {}", cfg.tls_key.display());
    println!("  max_body_bytes  {}", cfg.max_body_bytes);
    match &cfg.store {
        StoreConfig::Sqlite { path, .. } => println!("  store           sqlite {}", path.display()),
        StoreConfig::Postgres(_) => println!("  store           postgres (URL not shown)"),
    }
    for z in cfg.zones.iter().filter(|z| z.name != cfg.zone.as_str()) {
        println!("  other zone      {} {}", z.name, z.url.as_deref().unwrap_or("(no URL)"));
    }
    if !cfg.insecure_http {
        custos_server::tls::server_config(&cfg.tls_cert, &cfg.tls_key).context("TLS material")?;
        println!("  tls             certificate and key load");
    }
    Ok(())
}

/// `custos openapi`
pub fn print_openapi() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("custos-openapi-{}", std::process::id()));
    // The document needs no store contents; a throwaway sealed vault provides the state.
    let store = SqlStore::open_sqlite(&dir.with_extension("db"), SqliteOptions::default())?;
    let vault =
        Arc::new(Vault::new(Arc::new(store), Arc::new(SystemClock), custos_core::ids::ZoneName::parse("default")?));
    println!(
        "{}",
        custos_server::openapi_json(custos_server::AppState {
            vault,
            tls: true,
            exporters: Default::default(),
            mailer: None,
            oidc: custos_server::oidc::OidcClient::new(None)?,
            backups: Arc::new(custos_server::backups::BackupSettings::on_request(String::new(), dir.clone())),
            zones: Default::default(),
        })
    );
    for ext in ["db", "db-wal", "db-shm"] {
        let _ = std::fs::remove_file(dir.with_extension(ext));
    }
    Ok(())
}

/// Wait for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}
