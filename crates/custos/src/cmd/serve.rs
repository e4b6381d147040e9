//! `custos serve`: start sealed, serve HTTPS, run the background jobs, seal on exit.
//! A development data directory auto-unseals from its share file, with a loud warning.

use crate::{config, datadir};
use anyhow::{Context, Result, bail};
use custos_core::Vault;
use custos_core::service::Mode;
use custos_server::{AppState, ListenOptions, Running};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub const DEV_WARNING: &str = "\n\
    ************************************************************************\n\
    *  DEVELOPMENT MODE: this data directory keeps an unseal share on disk *\n\
    *  and unseals itself. Anyone who can read the directory can read the  *\n\
    *  data. Never use it for real personal data.                          *\n\
    ************************************************************************\n";

/// Unseal a development vault from its share file.
pub async fn dev_unseal(vault: &Vault, dir: &Path) -> Result<()> {
    let share = std::fs::read_to_string(datadir::dev_share(dir)).context("reading the development unseal share")?;
    let meta = custos_core::audit::RequestMeta { request_id: "dev-auto-unseal".into(), client: None };
    let st = vault.unseal(share.trim(), &meta).await?;
    if st.sealed {
        bail!("the development share did not unseal the vault");
    }
    eprintln!("{DEV_WARNING}");
    Ok(())
}

/// Start the HTTP(S) listener for a vault.
pub fn start(vault: Arc<Vault>, cfg: &config::Config, exporters: custos_server::export::Exporters) -> Result<Running> {
    let tls = if cfg.insecure_http {
        tracing::warn!("serving plain HTTP on {} (loopback only)", cfg.listen);
        None
    } else {
        Some(custos_server::tls::server_config(&cfg.tls_cert, &cfg.tls_key)?)
    };
    vault.set_identity_config(cfg.auth.identity.clone());
    let mailer = cfg
        .auth
        .smtp
        .as_ref()
        .map(|m| custos_server::mail::Mailer::new(m).map(Arc::new))
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let oidc = custos_server::oidc::OidcClient::new(cfg.auth.oidc_ca.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = AppState {
        vault: vault.clone(),
        tls: tls.is_some(),
        exporters,
        mailer,
        oidc,
        backups: cfg.backup.clone(),
        zones: zones(cfg),
    };
    let app = custos_server::router(state, cfg.max_body_bytes);
    let running = custos_server::start(app, ListenOptions { addr: cfg.listen, tls: tls.clone() })?;
    if !cfg.auth.public_url_set {
        let mut identity = cfg.auth.identity.clone();
        identity.public_url = url(running.addr, tls.is_some());
        vault.set_identity_config(identity);
    }
    Ok(running)
}

/// The background jobs of a serving vault: key rewrap, audit checkpoints and retention,
/// identity checks, and the privacy jobs (retention purge, erasure notices).
pub fn spawn_jobs(vault: &Arc<Vault>, cfg: &config::Config) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let notice_client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the notice webhook client")?;
    let mut jobs = vec![
        custos_server::jobs::spawn_rewrap(vault.clone()),
        custos_server::jobs::spawn_checkpoints(vault.clone(), cfg.checkpoint_every, cfg.audit_retention),
        custos_server::jobs::spawn_identity_checks(vault.clone(), cfg.auth.reminder_days),
    ];
    jobs.extend(custos_server::jobs::spawn_privacy(vault.clone(), cfg.privacy.every, notice_client));
    jobs.extend(custos_server::backups::spawn(vault.clone(), cfg.backup.clone(), std::time::Duration::from_secs(30)));
    Ok(jobs)
}

/// The zone directory handed to the server.
fn zones(cfg: &config::Config) -> custos_server::zones::Zones {
    let all = cfg
        .zones
        .iter()
        .map(|z| custos_server::zones::ZoneEntry { name: z.name.clone(), region: z.region.clone(), url: z.url.clone() })
        .collect();
    custos_server::zones::Zones(Arc::new(all))
}

/// The URL clients use for a bound address.
pub fn url(addr: SocketAddr, tls: bool) -> String {
    let host = if addr.ip().is_loopback() && addr.is_ipv4() { "localhost".to_string() } else { addr.ip().to_string() };
    let host = if addr.is_ipv6() && !addr.ip().is_loopback() { format!("[{host}]") } else { host };
    format!("{}://{host}:{}", if tls { "https" } else { "http" }, addr.port())
}

/// `custos serve`
pub async fn run(dir: &Path, listen: Option<SocketAddr>, insecure_http: bool) -> Result<()> {
    let cfg = config::load(dir, &config::EnvOverrides::from_env(), listen, insecure_http)?;
    let vault = super::open_vault(&cfg).await?;
    vault.set_node_id(&datadir::node_id(dir)?);
    match vault.mode().await? {
        None => bail!("{} is not initialised; run `custos init`", dir.display()),
        Some(Mode::Development) => dev_unseal(&vault, dir).await?,
        Some(Mode::Production) => {
            if cfg!(feature = "bench-no-audit") {
                bail!("this is a benchmark build without the audit trail; it refuses production data directories");
            }
            if datadir::dev_share(dir).exists() {
                bail!("a development unseal share is present in a production data directory; remove it");
            }
        }
    }
    let exporters = custos_server::export::spawn(vault.clone(), cfg.exporters.clone());
    let _alerts = cfg.alerts.clone().map(|a| custos_server::alerts::spawn(vault.clone(), a, exporters.clone()));
    let running = start(vault.clone(), &cfg, exporters)?;
    let _jobs = spawn_jobs(&vault, &cfg)?;
    println!("custos: listening on {}", url(running.addr, !cfg.insecure_http));
    if vault.is_sealed() {
        println!("custos: sealed; unseal with `custos unseal --data-dir {}`", dir.display());
    }
    super::shutdown_signal().await;
    running.shutdown(std::time::Duration::from_secs(10)).await;
    vault.seal_now();
    Ok(())
}
