//! `custos audit verify`: recompute a data directory's audit chain and check its signed
//! checkpoints, offline (also on a restored backup). Needs no share and no root key.

use crate::config;
use anyhow::{Context, Result, bail};
use std::path::Path;

/// `custos audit verify`
pub async fn verify(dir: &Path, public_key: Option<String>, json: bool) -> Result<()> {
    let cfg = config::load(dir, &config::EnvOverrides::from_env(), None, false)?;
    let vault = super::open_vault(&cfg).await?;
    let pk = match public_key {
        Some(h) => {
            let bytes = hex_decode(&h).context("--public-key is not 64 hex digits")?;
            Some(bytes)
        }
        None => None,
    };
    let r = vault.verify_audit(pk).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": r.fault.is_none(), "entries": r.entries, "verified_to": r.verified_to,
                "checkpoints": r.checkpoints, "last_checkpoint": r.last_checkpoint,
                "first_bad_seq": r.fault.as_ref().map(|f| f.seq), "fault": r.fault.as_ref().map(|f| f.kind),
            })
        );
    } else {
        println!("entries      {}", r.entries);
        println!("verified to  {}", r.verified_to);
        println!(
            "checkpoints  {} (last at {})",
            r.checkpoints,
            r.last_checkpoint.map_or("-".into(), |s| s.to_string())
        );
    }
    match r.fault {
        None => {
            if !json {
                println!("audit trail verified");
            }
            Ok(())
        }
        Some(f) => bail!("audit trail FAILED verification at entry {}: {}", f.seq, f.kind),
    }
}

fn hex_decode(h: &str) -> Option<[u8; 32]> {
    let h = h.trim();
    if h.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
