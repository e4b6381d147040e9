//! One zone for the backup tests: a real SQLite zone and ledger on a manual clock,
//! unsealed, with a tenant, admin and DPO keys, a collection and an operator age key.

use age::secrecy::ExposeSecret;
use custos_backup::identity::Identities;
use custos_backup::restore::{BackupSource, RestoreReport, RestoreRequest, restore};
use custos_backup::take::{BackupOutcome, BackupPlan, take_backup};
use custos_backup::{BackupError, BackupKind, Target};
use custos_core::Vault;
use custos_core::audit::RequestMeta;
use custos_core::clock::{ManualClock, Timestamp};
use custos_core::ids::{CollectionName, Pseudonym, RecordId, TenantCode, ZoneName};
use custos_core::policy::RoleName;
use custos_core::schema::CollectionSchema;
use custos_core::service::{Caller, InitParams, Mode, NewApiKey, PageRequest, PrivacyConfig};
use custos_crypto::Secret;
use custos_store::{SqlStore, SqliteLedger, SqliteOptions};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const DAY: i64 = 86_400_000;
pub const T0: i64 = 1_800_000_000_000;

pub struct Zone {
    pub vault: Arc<Vault>,
    pub clock: Arc<ManualClock>,
    pub admin: Caller,
    pub dpo: Caller,
    pub t: TenantCode,
    pub share: Secret<String>,
    pub admin_key: Secret<String>,
    pub dpo_key: Secret<String>,
    pub identity: Secret<String>,
    pub identity_file: PathBuf,
    pub recipient: String,
    pub target: Target,
    pub ledger: Arc<SqliteLedger>,
    pub dir: tempfile::TempDir,
}

pub fn meta() -> RequestMeta {
    RequestMeta { request_id: "test".into(), client: None }
}

pub fn coll() -> CollectionName {
    CollectionName::parse("results").unwrap()
}

pub fn fields(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

pub async fn zone() -> Zone {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(&dir.path().join("zone.db"), SqliteOptions::default()).unwrap();
    zone_on(store, dir).await
}

/// The same zone on a scratch PostgreSQL database (`None` without a test server).
pub async fn pg_zone() -> Option<Zone> {
    let url = custos_store::scratch_postgres().await.unwrap()?;
    let store = SqlStore::connect_postgres(&custos_store::PgOptions::new(url)).await.unwrap();
    Some(zone_on(store, tempfile::tempdir().unwrap()).await)
}

async fn zone_on(store: SqlStore, dir: tempfile::TempDir) -> Zone {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let vault = Arc::new(Vault::new(Arc::new(store), clock.clone(), ZoneName::parse("eu").unwrap()));
    let ledger = Arc::new(SqliteLedger::open(&dir.path().join("erasure-ledger.db")).unwrap());
    vault.set_ledger(ledger.clone());
    vault.set_privacy_config(PrivacyConfig { grace_ms: 30 * DAY, ..PrivacyConfig::default() });
    let out = vault.initialize(InitParams { shares: 1, threshold: 1, mode: Mode::Production }).await.unwrap();
    vault.unseal(out.shares[0].expose(), &meta()).await.unwrap();
    let op = vault.authenticate(out.operator_token.expose(), &meta()).await.unwrap();
    let t = TenantCode::parse("school").unwrap();
    vault.create_tenant(&op, t.clone(), "A school").await.unwrap();
    let key =
        |role: &str| NewApiKey { name: role.into(), role: RoleName::parse(role).unwrap(), expires_in_days: Some(365) };
    let admin_key = vault.create_api_key(&op, &t, key("admin")).await.unwrap();
    let dpo_key = vault.create_api_key(&op, &t, key("dpo")).await.unwrap();
    let admin = vault.authenticate(admin_key.key.expose(), &meta()).await.unwrap();
    let dpo = vault.authenticate(dpo_key.key.expose(), &meta()).await.unwrap();
    let schema: CollectionSchema = serde_json::from_value(json!({"fields": {
        "name": {"type": "string", "pii": true, "searchable": true},
        "score": {"type": "integer"}
    }, "purposes": ["grading", "dsr"]}))
    .unwrap();
    vault.put_collection(&admin, &t, &coll(), schema).await.unwrap();
    let id = age::x25519::Identity::generate();
    let identity = Secret::new(id.to_string().expose_secret().to_owned());
    let identity_file = dir.path().join("operator.age-key");
    std::fs::write(&identity_file, format!("# operator backup key\n{}\n", identity.expose())).unwrap();
    let target = Target::open(dir.path().join("backups").to_str().unwrap(), "eu").unwrap();
    Zone {
        vault,
        clock,
        admin,
        dpo,
        t,
        share: Secret::new(out.shares[0].expose().clone()),
        admin_key: Secret::new(admin_key.key.expose().clone()),
        dpo_key: Secret::new(dpo_key.key.expose().clone()),
        identity,
        identity_file,
        recipient: id.to_public().to_string(),
        target,
        ledger,
        dir,
    }
}

impl Zone {
    pub async fn backup(&self, kind: BackupKind) -> BackupOutcome {
        take_backup(&self.vault, &self.target, &self.plan(kind), None).await.unwrap()
    }

    pub fn plan(&self, kind: BackupKind) -> BackupPlan {
        BackupPlan { kind, recipients: vec![self.recipient.clone()], staging: self.dir.path().join("staging") }
    }

    /// The manifest file of a backup at the directory target.
    pub fn manifest_path(&self, id: &str) -> PathBuf {
        self.dir.path().join("backups").join("eu").join(format!("{id}.manifest.json"))
    }

    pub async fn restore_from(&self, from: &Path, db: &Path) -> Result<RestoreReport, BackupError> {
        restore(RestoreRequest {
            source: BackupSource::Local(from.to_owned()),
            identities: Arc::new(Identities::parse(&self.identity).unwrap()),
            db_path: db.to_owned(),
            ledger: Some(self.ledger.clone()),
            trusted_key: None,
            clock: self.clock.clone(),
            zone: None,
            progress: None,
        })
        .await
    }

    /// The DPO, signed in on a vault over a restored copy of this zone.
    pub async fn dpo_on(&self, v: &Vault) -> Caller {
        v.authenticate(self.dpo_key.expose(), &meta()).await.unwrap()
    }

    pub async fn record(&self, subject: Option<Pseudonym>, name: &str, score: i64) -> RecordId {
        let f = fields(json!({"name": name, "score": score}));
        self.vault.create_record(&self.admin, &self.t, &coll(), subject, f).await.unwrap().0
    }
}

/// Every record of the collection, as `caller` of `vault` reads it.
pub async fn all_records(vault: &Vault, caller: &Caller, t: &TenantCode) -> Vec<(RecordId, Map<String, Value>)> {
    let purpose = custos_core::ids::Purpose::parse("grading").unwrap();
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = vault
            .list_records(
                caller,
                t,
                &coll(),
                None,
                PageRequest { cursor: cursor.as_deref(), limit: Some(500) },
                Some(&purpose),
            )
            .await
            .unwrap();
        out.extend(page.records.into_iter().map(|r| (r.id, r.fields)));
        match page.next {
            Some(n) => cursor = Some(n),
            None => return out,
        }
    }
}

/// Unseal a restored vault with the zone's share and sign in with the zone's admin key.
pub async fn open_restored(z: &Zone, restored: &Vault) -> Caller {
    restored.unseal(z.share.expose(), &meta()).await.unwrap();
    restored.authenticate(z.admin_key.expose(), &meta()).await.unwrap()
}

pub fn count(path: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(path).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
