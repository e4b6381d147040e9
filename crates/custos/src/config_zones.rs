//! `[zones.<name>]`: the residency zones of a deployment. The zone this node serves
//! names its store (a SQLite file or a PostgreSQL URL, optionally over TLS), its backup
//! target and its region; other zones are known by region and public URL only, so a
//! request for them can be pointed there. No node's file may hold another zone's
//! database or backup location: least access is checked here, not trusted to habit.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One `[zones.<name>]` table as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    /// Where the zone lives ("EU (Stockholm)"): shown, never interpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Public base URL of this zone's nodes (`https://…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `sqlite:PATH` or `postgres://user@host:port/db` (served zone only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// File holding the database password, kept out of this file (served zone only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_password_file: Option<PathBuf>,
    /// CA certificate of the database server: TLS to the database is then required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ca: Option<PathBuf>,
    /// Most PostgreSQL connections this node opens for reads (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_connections: Option<usize>,
    /// The zone's backup target (served zone only; overrides `[backup] target`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_target: Option<String>,
}

/// The served zone's store.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// One SQLite file.
    Sqlite {
        /// Database file.
        path: PathBuf,
        /// Read connections.
        read_connections: usize,
    },
    /// A PostgreSQL database (URL and password are secrets: `PgOptions` redacts them).
    Postgres(custos_store::PgOptions),
}

/// What this node knows of one zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInfo {
    /// Name.
    pub name: String,
    /// Region label.
    pub region: Option<String>,
    /// Public URL.
    pub url: Option<String>,
}

/// The checked `[zones]`: the served zone's store and backup target, and the directory.
#[derive(Debug, Clone)]
pub struct Zones {
    /// Store of the served zone.
    pub store: StoreConfig,
    /// Backup target of the served zone, when `[zones.<zone>]` names one.
    pub backup_target: Option<String>,
    /// Every zone this node knows, the served one included.
    pub directory: Vec<ZoneInfo>,
}

/// Check `[zones]` for a node of `served`; `default_sqlite` is `[storage]`'s file.
pub fn check(
    dir: &Path,
    served: &str,
    raw: &BTreeMap<String, RawZone>,
    default_sqlite: (PathBuf, usize),
) -> Result<Zones> {
    if !raw.is_empty() && !raw.contains_key(served) {
        bail!("zones: the served zone {served:?} has no [zones.{served}] table");
    }
    let mut directory = Vec::new();
    for (name, z) in raw {
        custos_core::ids::ZoneName::parse(name).map_err(|e| anyhow::anyhow!("zones.{name}: {e}"))?;
        if let Some(u) = &z.url {
            let ok =
                u.starts_with("https://") || u.starts_with("http://127.0.0.1") || u.starts_with("http://localhost");
            if !ok || u.len() > 200 || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("zones.{name}.url must be an https:// URL");
            }
        }
        if z.region.as_ref().is_some_and(|r| r.len() > 100 || r.chars().any(char::is_control)) {
            bail!("zones.{name}.region must be a short label");
        }
        if name != served
            && (z.store.is_some()
                || z.store_password_file.is_some()
                || z.store_ca.is_some()
                || z.backup_target.is_some())
        {
            bail!(
                "zones.{name}: a node of zone {served:?} must not hold another zone's store, credentials or backup \
                 target (keep them in zone {name:?}'s own configuration)"
            );
        }
        directory.push(ZoneInfo { name: name.clone(), region: z.region.clone(), url: z.url.clone() });
    }
    if directory.is_empty() {
        directory.push(ZoneInfo { name: served.to_owned(), region: None, url: None });
    }
    let own = raw.get(served).cloned().unwrap_or_default();
    let store = match own.store.as_deref() {
        None => StoreConfig::Sqlite { path: default_sqlite.0, read_connections: default_sqlite.1 },
        Some(s) => store(dir, served, s, &own)?,
    };
    Ok(Zones { store, backup_target: own.backup_target, directory })
}

fn store(dir: &Path, zone: &str, s: &str, z: &RawZone) -> Result<StoreConfig> {
    if let Some(path) = s.strip_prefix("sqlite:") {
        if z.store_password_file.is_some() || z.store_ca.is_some() {
            bail!("zones.{zone}: store_password_file and store_ca apply to PostgreSQL only");
        }
        if path.is_empty() {
            bail!("zones.{zone}.store: sqlite: needs a file path");
        }
        let p = Path::new(path);
        let path = if p.is_absolute() { p.to_owned() } else { dir.join(p) };
        return Ok(StoreConfig::Sqlite { path, read_connections: 4 });
    }
    if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
        bail!("zones.{zone}.store must be sqlite:PATH or a postgres:// URL");
    }
    let mut url = s.to_owned();
    if let Some(f) = &z.store_password_file {
        let f = if f.is_absolute() { f.clone() } else { dir.join(f) };
        let pw = std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        let pw = pw.trim_end_matches(['\r', '\n']);
        if pw.is_empty() || pw.chars().any(|c| c.is_control()) {
            bail!("{} must hold the password on one line", f.display());
        }
        url = with_password(&url, pw).with_context(|| format!("zones.{zone}.store"))?;
    }
    let mut o = custos_store::PgOptions::new(url);
    o.ca_file = z.store_ca.as_ref().map(|c| if c.is_absolute() { c.clone() } else { dir.join(c) });
    if let Some(n) = z.store_connections {
        if !(1..=256).contains(&n) {
            bail!("zones.{zone}.store_connections must be between 1 and 256");
        }
        o.max_connections = n;
    }
    Ok(StoreConfig::Postgres(o))
}

/// Put a password into `postgres://user@host/...` (percent-encoded).
fn with_password(url: &str, pw: &str) -> Result<String> {
    let (scheme, rest) = url.split_once("://").context("not a URL")?;
    let (auth, host) = rest.split_once('@').context("the URL names no user (postgres://USER@host/db)")?;
    if auth.contains(':') {
        bail!("the URL already holds a password; keep it only in store_password_file");
    }
    let enc: String = pw
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok(format!("{scheme}://{auth}:{enc}@{host}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn zones(text: &str) -> BTreeMap<String, RawZone> {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn another_zones_store_or_backup_target_is_refused() {
        let raw = zones("[eu]\nstore = \"sqlite:eu.db\"\n[ca]\nregion = \"Canada\"\nstore = \"postgres://u@db/ca\"\n");
        let e = check(Path::new("/d"), "eu", &raw, ("/d/zone.db".into(), 4)).unwrap_err().to_string();
        assert!(e.contains("must not hold another zone's store"), "{e}");
        let raw = zones("[eu]\n[ca]\nbackup_target = \"s3://ca\"\n");
        assert!(check(Path::new("/d"), "eu", &raw, ("/d/zone.db".into(), 4)).is_err());
    }

    #[test]
    fn the_served_zone_names_its_store_and_the_others_only_region_and_url() {
        let raw = zones(
            "[eu]\nregion = \"EU\"\nstore = \"postgres://app@db:5432/eu\"\n[ca]\nregion = \"Canada\"\nurl = \"https://ca.example\"\n",
        );
        let z = check(Path::new("/d"), "eu", &raw, ("/d/zone.db".into(), 4)).unwrap();
        assert!(matches!(z.store, StoreConfig::Postgres(_)));
        assert_eq!(z.directory.len(), 2);
        assert!(check(Path::new("/d"), "us", &raw, ("/d/zone.db".into(), 4)).is_err(), "served zone must be listed");
        let z =
            check(Path::new("/d"), "eu", &zones("[eu]\nstore = \"sqlite:x.db\"\n"), ("/d/zone.db".into(), 4)).unwrap();
        assert!(matches!(z.store, StoreConfig::Sqlite { ref path, .. } if path == Path::new("/d/x.db")));
    }

    #[test]
    fn a_password_file_is_encoded_into_the_url_and_never_doubled() {
        assert_eq!(with_password("postgres://app@db/eu", "p@ss:w/rd").unwrap(), "postgres://app:p%40ss%3Aw%2Frd@db/eu");
        assert!(with_password("postgres://app:x@db/eu", "y").is_err());
        assert!(with_password("postgres://db/eu", "y").is_err());
    }
}
