//! `custos unseal`: read shares from standard input (one per line, so they never appear
//! in a process list or shell history) and offer them to the running server.

use crate::{client, config};
use anyhow::{Context, Result, bail};
use std::io::BufRead;
use std::path::Path;

/// `custos unseal`
pub async fn run(dir: &Path, url: Option<String>) -> Result<()> {
    let cfg = config::load(dir, &config::EnvOverrides::from_env(), None, false)?;
    let base = url.unwrap_or_else(|| super::serve::url(cfg.listen, !cfg.insecure_http));
    let http = client::https_client(if cfg.insecure_http { None } else { cfg.tls_ca.as_deref() }, 1)?;
    eprintln!("Enter unseal shares, one per line (end with Ctrl-D):");
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading standard input")?;
        let share = line.trim();
        if share.is_empty() {
            continue;
        }
        let resp = http
            .post(format!("{base}/v1/sys/unseal"))
            .json(&serde_json::json!({ "share": share }))
            .send()
            .await
            .with_context(|| format!("contacting {base}"))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.context("reading the server's answer")?;
        if !status.is_success() {
            bail!("share refused: {}", body["detail"].as_str().unwrap_or("unknown error"));
        }
        if body["sealed"] == serde_json::Value::Bool(false) {
            println!("unsealed");
            return Ok(());
        }
        println!("progress {}/{}", body["progress"], body["threshold"]);
    }
    bail!("input ended while the vault is still sealed")
}
