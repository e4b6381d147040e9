//! `custos init`: create a data directory. The root key is generated, split into shares
//! and dropped; only the shares leave, printed once. Nothing stays half-written.

use crate::{config, datadir};
use anyhow::{Context, Result, bail};
use custos_core::service::{InitOutput, InitParams, Mode};
use std::net::SocketAddr;
use std::path::Path;

/// Create and initialise `dir`; on any failure remove what was created.
pub async fn initialize(dir: &Path, params: InitParams, listen: SocketAddr) -> Result<InitOutput> {
    if dir.join(config::FILE).exists() {
        bail!("{} is already initialised", dir.display());
    }
    if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not empty; choose a new directory", dir.display());
    }
    let existed = dir.exists();
    datadir::create_private_dir(dir)?;
    let result = async {
        custos_server::tls::generate_local(&datadir::tls_dir(dir)).context("generating TLS material")?;
        config::RawConfig::initial(listen).write(dir)?;
        let cfg = config::load(dir, &config::EnvOverrides::default(), Some(listen), false)?;
        let vault = super::open_vault(&cfg).await?;
        Ok::<_, anyhow::Error>(vault.initialize(params).await?)
    }
    .await;
    if result.is_err() {
        if existed {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = entry.path();
                let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            }
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}

/// `custos init`
pub async fn run(dir: &Path, shares: u8, threshold: u8, listen: SocketAddr, json: bool) -> Result<()> {
    if threshold > shares {
        bail!("--threshold ({threshold}) cannot exceed --shares ({shares})");
    }
    let out = initialize(dir, InitParams { shares, threshold, mode: Mode::Production }, listen).await?;
    if json {
        let doc = serde_json::json!({
            "shares": out.shares.iter().map(|s| s.expose().as_str()).collect::<Vec<_>>(),
            "threshold": out.threshold,
            "operator_token": out.operator_token.expose(),
        });
        println!("{doc}");
    } else {
        println!("Initialised {}.", dir.display());
        println!();
        println!(
            "Unseal shares ({} needed of {}). Give one to each operator; they are not stored and not shown again:",
            out.threshold,
            out.shares.len()
        );
        for (i, s) in out.shares.iter().enumerate() {
            println!("  share {}: {}", i + 1, s.expose());
        }
        println!();
        println!("Initial operator token (store it in a password manager):");
        println!("  {}", out.operator_token.expose());
        println!();
        println!("Next: custos serve --data-dir {}   then   custos unseal --data-dir {}", dir.display(), dir.display());
    }
    Ok(())
}
