//! `custos backup`, `custos restore` and `custos restore-drill`. Backups and drills run
//! in the serving process (it holds the signing key and the root key); the CLI asks it
//! with an operator token. Restore runs here, offline, into a new data directory.

use crate::{client, config, datadir};
use anyhow::{Context, Result, bail};
use custos_backup::identity::Identities;
use custos_backup::restore::{BackupSource, RestoreRequest, restore};
use custos_core::clock::SystemClock;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A spinner or byte counter on standard error when it is a terminal; silent otherwise.
fn progress(msg: &str, bytes: bool) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        let tpl =
            if bytes { "{spinner} {msg} {bytes} ({bytes_per_sec}, {elapsed})" } else { "{spinner} {msg} ({elapsed})" };
        if let Ok(style) = ProgressStyle::with_template(tpl) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_message(msg.to_owned());
    bar
}

fn token() -> Result<String> {
    std::env::var("CUSTOS_TOKEN").ok().filter(|t| !t.trim().is_empty()).map(|t| t.trim().to_owned()).context(
        "set CUSTOS_TOKEN to an operator token (backups and drills are run by the server, which holds the keys)",
    )
}

async fn call(dir: &Path, path: &str, body: serde_json::Value, what: &str) -> Result<serde_json::Value> {
    let cfg = config::load(dir, &config::EnvOverrides::from_env(), None, false)?;
    let base = super::serve::url(cfg.listen, !cfg.insecure_http);
    let http = client::https_client_waiting(
        if cfg.insecure_http { None } else { cfg.tls_ca.as_deref() },
        1,
        Duration::from_secs(6 * 3600),
    )?;
    let bar = progress(what, false);
    let resp = http
        .post(format!("{base}{path}"))
        .bearer_auth(token()?)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("contacting the server at {base}"))?;
    bar.finish_and_clear();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.context("reading the server's answer")?;
    if !status.is_success() {
        bail!("{} ({})", body["detail"].as_str().unwrap_or("the server refused"), body["type"].as_str().unwrap_or(""));
    }
    Ok(body)
}

/// `custos backup`
pub async fn backup(
    dir: &Path,
    zone: Option<String>,
    to: Option<String>,
    recipients: Vec<String>,
    snapshot: bool,
) -> Result<()> {
    let to = match to {
        Some(t) if !t.starts_with("s3://") => Some(
            std::path::absolute(Path::new(&t)).context("--to")?.to_str().context("--to is not valid UTF-8")?.to_owned(),
        ),
        other => other,
    };
    let body = serde_json::json!({
        "kind": if snapshot { "snapshot" } else { "full" },
        "zone": zone, "target": to, "recipients": recipients,
    });
    let out = call(dir, "/v1/sys/backups", body, "backing up").await?;
    let m = &out["manifest"];
    println!("{}", out["id"].as_str().unwrap_or_default());
    println!("{}", out["location"].as_str().unwrap_or_default());
    eprintln!(
        "{} bytes encrypted to {} recipient(s); audit head {}; longest write commit during the backup {} µs",
        m["payload"]["bytes"],
        m["recipients"].as_array().map_or(0, Vec::len),
        m["audit_head"]["seq"],
        m["longest_commit_us"]
    );
    Ok(())
}

/// `custos restore-drill`
pub async fn drill(dir: &Path, identity: Option<PathBuf>) -> Result<()> {
    let text = match identity {
        Some(p) => {
            Identities::read(&p)?;
            Some(std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => None,
    };
    let body = serde_json::json!({ "identity": text });
    let out = call(dir, "/v1/sys/restore-drills", body, "restoring the newest backup into scratch space").await?;
    let r = &out["result"];
    println!("restore drill passed: backup {}", r["backup"].as_str().unwrap_or_default());
    println!("  at        {}", r["at"].as_str().unwrap_or_default());
    println!("  duration  {} ms", r["duration_ms"]);
    println!("  rows      {}", out["rows"]);
    println!("  audit     {} entries verified", out["audit_entries"]);
    println!("  sample    {} records decrypted", out["sample"]);
    Ok(())
}

/// What `custos restore` was asked.
#[derive(Debug)]
pub struct RestoreArgs {
    pub from: String,
    pub identity: PathBuf,
    pub data_dir: PathBuf,
    pub ledger: Option<PathBuf>,
    pub public_key: Option<String>,
    pub listen: SocketAddr,
}

/// `custos restore`: into a new data directory, or one prepared with a `custos.toml` and
/// no database yet. On failure, everything this command created is removed.
pub async fn restore_cmd(a: RestoreArgs) -> Result<()> {
    let identities = Arc::new(Identities::read(&a.identity)?);
    let source = BackupSource::parse(&a.from)?;
    if a.public_key.as_deref().is_some_and(|k| k.len() != 64 || hex_ok(k).is_none()) {
        bail!("--public-key is not 64 hex digits");
    }
    let dir = &a.data_dir;
    let prepared = dir.join(config::FILE).exists();
    let mut zone_check = None;
    let (db_path, ledger_path) = if prepared {
        let cfg = config::load(dir, &config::EnvOverrides::from_env(), None, false)?;
        let crate::config_zones::StoreConfig::Sqlite { path, .. } = cfg.store else {
            bail!(
                "restore writes a SQLite zone; restore into a new data directory, then move the data (docs/deploy.md)"
            );
        };
        zone_check = Some(cfg.zone.to_string());
        (path, a.ledger.clone().unwrap_or(cfg.privacy.ledger))
    } else {
        if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
            bail!("{} exists and is not empty; restore into a new directory", dir.display());
        }
        let ledger = a.ledger.clone().context(
            "--ledger is required: the zone's erasure ledger (kept apart from backups) is re-applied to the restored data",
        )?;
        (dir.join("zone.db"), ledger)
    };
    if !ledger_path.is_file() {
        bail!("the erasure ledger {} does not exist; a restore must re-apply it", ledger_path.display());
    }
    let ledger_path = std::path::absolute(&ledger_path)?;
    let ledger = Arc::new(
        custos_store::SqliteLedger::open(&ledger_path)
            .with_context(|| format!("opening the erasure ledger {}", ledger_path.display()))?,
    );
    let created = !prepared && !dir.exists();
    if !prepared {
        datadir::create_private_dir(dir)?;
    }
    let bar = progress("verifying and restoring", true);
    let b = bar.clone();
    let result = restore(RestoreRequest {
        source,
        identities,
        db_path,
        ledger: Some(ledger),
        trusted_key: a.public_key.clone(),
        clock: Arc::new(SystemClock),
        zone: zone_check,
        progress: Some(Arc::new(move |n| b.set_position(n))),
    })
    .await;
    bar.finish_and_clear();
    let written = match result {
        Ok(r) if !prepared => write_config(dir, a.listen, &r.manifest.zone, &ledger_path).map(|()| r),
        other => other.map_err(anyhow::Error::from),
    };
    let r = match written {
        Ok(r) => r,
        Err(e) => {
            if created {
                let _ = std::fs::remove_dir_all(dir);
            } else if !prepared {
                for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    let p = entry.path();
                    let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                }
            }
            return Err(e);
        }
    };
    let rows: u64 = r.manifest.counts.values().sum();
    println!("restored {} into {}", r.manifest.id, dir.display());
    println!("  rows      {rows}");
    println!("  erasures  {} re-applied from the ledger", r.reapplied);
    println!("  audit     verified ({} entries)", r.audit_entries);
    println!("  took      {} ms", r.duration.as_millis());
    println!(
        "Next: custos serve --data-dir {0}   then   custos unseal --data-dir {0} (the zone's own shares)",
        dir.display()
    );
    Ok(())
}

fn hex_ok(k: &str) -> Option<()> {
    k.bytes().all(|b| b.is_ascii_hexdigit()).then_some(())
}

fn write_config(dir: &Path, listen: SocketAddr, zone: &str, ledger: &Path) -> Result<()> {
    custos_server::tls::generate_local(&datadir::tls_dir(dir)).context("generating TLS material")?;
    let mut raw = config::RawConfig::initial(listen);
    raw.zone = zone.to_owned();
    raw.privacy = Some(crate::config_privacy::RawPrivacy { ledger: ledger.to_owned(), ..Default::default() });
    raw.write(dir)?;
    config::load(dir, &config::EnvOverrides::default(), Some(listen), false).map(|_| ())
}
