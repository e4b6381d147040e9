//! `custos init`: create a data directory. The root key is generated, split into shares
//! and dropped; only the shares leave, printed once. Nothing stays half-written.

use crate::{config, datadir};
use anyhow::{Context, Result, bail};
use custos_core::service::{InitOutput, InitParams, Mode};
use std::net::SocketAddr;
use std::path::Path;

/// The zone a new data directory serves, and its store.
#[derive(Debug, Clone, Default)]
pub struct ZoneArgs {
    /// Zone name.
    pub zone: String,
    /// Region label.
    pub region: Option<String>,
    /// `sqlite:PATH` or a `postgres://` URL (without a password).
    pub store: Option<String>,
}

impl ZoneArgs {
    fn apply(&self, dir: &Path, raw: &mut config::RawConfig) -> Result<()> {
        if self.zone != "default" || self.region.is_some() || self.store.is_some() {
            let mut z = crate::config_zones::RawZone {
                region: self.region.clone(),
                store: self.store.clone(),
                ..Default::default()
            };
            let userinfo = self.store.as_deref().and_then(|s| s.split_once("://")).and_then(|(_, r)| r.split_once('@'));
            if userinfo.is_some_and(|(user, _)| user.contains(':')) {
                bail!("--store must not hold a password; pass it in CUSTOS_STORE_PASSWORD");
            }
            if let Ok(pw) = std::env::var("CUSTOS_STORE_PASSWORD") {
                datadir::write_secret(&dir.join("store-password"), pw.as_bytes())?;
                z.store_password_file = Some("store-password".into());
            }
            raw.zones.insert(self.zone.clone(), z);
        }
        raw.zone.clone_from(&self.zone);
        Ok(())
    }
}

/// Create and initialise `dir`; on any failure remove what was created.
pub async fn initialize(dir: &Path, params: InitParams, listen: SocketAddr, zone: &ZoneArgs) -> Result<InitOutput> {
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
        let mut raw = config::RawConfig::initial(listen);
        zone.apply(dir, &mut raw)?;
        raw.write(dir)?;
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
pub async fn run(dir: &Path, shares: u8, threshold: u8, listen: SocketAddr, json: bool, zone: ZoneArgs) -> Result<()> {
    if threshold > shares {
        bail!("--threshold ({threshold}) cannot exceed --shares ({shares})");
    }
    let out = initialize(dir, InitParams { shares, threshold, mode: Mode::Production }, listen, &zone).await?;
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
