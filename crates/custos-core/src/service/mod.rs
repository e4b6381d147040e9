//! The vault service: the only way to data. The HTTP API, the console and the CLI call
//! it; it checks the principal, validates, seals and opens, and writes through the store.

mod audit;
mod audit_trail;
mod auth;
mod backup;
mod collections;
mod identity;
mod lease;
mod privacy;
mod records;
mod rewrap;
mod seal;
mod tenants;

pub use audit::Caller;
pub use audit_trail::{AuditFault, AuditPage, AuditReport};
pub use backup::{BackupEvent, BackupStatus, META_RESTORED_SIGNER};
pub use identity::{
    AccessReview, ApiKeyCreated, ApiKeyView, ConfirmReview, DEFAULT_KEY_DAYS, ExpiringKey, IdentityConfig,
    LoginRequest, MfaConfirmed, NewApiKey, NewUser, OidcSettings, OidcStart, OutgoingMail, PrincipalReview,
    ReviewConfirmed, RoleView, SessionCreated, SsoIdentity, TotpEnrolment, UserChange, UserView,
};
pub use privacy::{
    Disclosed, DisclosureView, ErasureView, ExportDocument, FileDownload, FileUpload, FileView, NewDisclosure, NewFile,
    NewRecipient, NoticeOutcome, NoticeView, OutgoingNotice, PrivacyConfig, PurgeTiming, RecipientCreated,
    RecipientView, RetentionReport, TenantPrivacy,
};
pub use records::{DEFAULT_LIMIT, ListPage, MAX_LIMIT, PageRequest, RecordView};
pub use seal::{InitOutput, InitParams, Mode, SealStatus};
pub use tenants::TenantView;

use crate::clock::{Clock, Timestamp};
use crate::error::CoreError;
use crate::ids::{CollectionName, TenantCode, ZoneName};
use crate::keyring::{Keyring, TenantKeys, read, write};
use crate::policy::{Action, Principal};
use crate::schema::CollectionSchema;
use crate::store::{Store, TenantRow};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// How long a cached tenant row, collection schema or authenticated token is trusted
/// before re-reading the store (other nodes' rotations, schema changes and revocations
/// show up within this).
const CACHE_TTL_MS: i64 = 2_000;

/// A parsed schema and when it was read.
type CachedSchema = (Arc<CollectionSchema>, Timestamp);

/// The vault service for one zone.
#[derive(Debug)]
pub struct Vault {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    zone: ZoneName,
    keyring: RwLock<Option<Arc<Keyring>>>,
    pending_shares: Mutex<Vec<custos_crypto::Share>>,
    tenants: RwLock<HashMap<TenantCode, (TenantRow, Timestamp)>>,
    schemas: RwLock<HashMap<(TenantCode, CollectionName), CachedSchema>>,
    tokens: RwLock<HashMap<[u8; 32], (Principal, Timestamp)>>,
    rewrap_wanted: tokio::sync::Notify,
    identity: RwLock<IdentityConfig>,
    /// Bounds concurrent Argon2id work (each takes its memory cost).
    argon: tokio::sync::Semaphore,
    privacy: RwLock<PrivacyConfig>,
    /// Wakes the notice sender when an erasure owes notices.
    privacy_wake: tokio::sync::Notify,
    ledger: RwLock<Option<Arc<dyn crate::store::ErasureLedger>>>,
    /// This node's id: the holder name of the leases it takes (random per process
    /// unless the data directory gives it a lasting one).
    node: RwLock<String>,
    /// Leases this node holds, by job, with the time it last renewed each.
    leases: RwLock<HashMap<String, Timestamp>>,
}

/// What a tenant-scoped call works with once authorised.
struct TenantCtx {
    keys: Arc<Keyring>,
    tenant: TenantRow,
}

impl Vault {
    /// A sealed vault over a store.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, zone: ZoneName) -> Self {
        Self {
            store,
            clock,
            zone,
            keyring: RwLock::new(None),
            pending_shares: Mutex::new(Vec::new()),
            tenants: RwLock::default(),
            schemas: RwLock::default(),
            tokens: RwLock::default(),
            rewrap_wanted: tokio::sync::Notify::new(),
            identity: RwLock::new(IdentityConfig::default()),
            argon: tokio::sync::Semaphore::new(4),
            privacy: RwLock::new(PrivacyConfig::default()),
            privacy_wake: tokio::sync::Notify::new(),
            ledger: RwLock::new(None),
            leases: RwLock::default(),
            node: RwLock::new(custos_crypto::random_hex(8).unwrap_or_else(|_| format!("pid-{}", std::process::id()))),
        }
    }

    /// The zone served.
    pub fn zone(&self) -> &ZoneName {
        &self.zone
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The store (for CLI maintenance and tests).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn keys(&self) -> Result<Arc<Keyring>, CoreError> {
        read(&self.keyring).clone().ok_or(CoreError::Sealed)
    }

    async fn tenant_row(&self, code: &TenantCode) -> Result<TenantRow, CoreError> {
        let now = self.clock.now();
        if let Some((row, at)) = read(&self.tenants).get(code)
            && now.0 - at.0 < CACHE_TTL_MS
        {
            return Ok(row.clone());
        }
        let row = self.store.get_tenant(code).await?.ok_or(CoreError::NotFound("tenant"))?;
        write(&self.tenants).insert(code.clone(), (row.clone(), now));
        Ok(row)
    }

    fn forget_tenant(&self, code: &TenantCode) {
        write(&self.tenants).remove(code);
    }

    /// Sealed check, authorisation, then the tenant (404 for a missing or foreign one).
    async fn ctx(&self, p: &Principal, code: &TenantCode, action: Action) -> Result<TenantCtx, CoreError> {
        let keys = self.keys()?;
        p.authorize(code, action)?;
        let tenant = self.tenant_row(code).await?;
        Ok(TenantCtx { keys, tenant })
    }

    /// A tenant key version, unwrapped from the store on first use.
    async fn tenant_keys(&self, keys: &Keyring, code: &TenantCode, version: u32) -> Result<Arc<TenantKeys>, CoreError> {
        if let Some(k) = keys.tenant_key(code, version) {
            return Ok(k);
        }
        let row = self.store.get_tenant_key(code, version).await?.ok_or(CoreError::Integrity)?;
        let key = keys.root().unwrap_tenant_key(
            &custos_crypto::WrappedKey(row.wrapped),
            keys.zone().as_str(),
            code.as_str(),
            version,
        )?;
        Ok(keys.put_tenant_key(code, key)?)
    }

    async fn schema(&self, code: &TenantCode, name: &CollectionName) -> Result<Arc<CollectionSchema>, CoreError> {
        let now = self.clock.now();
        if let Some((s, at)) = read(&self.schemas).get(&(code.clone(), name.clone()))
            && now.0 - at.0 < CACHE_TTL_MS
        {
            return Ok(s.clone());
        }
        let row = self.store.get_collection(code, name).await?.ok_or(CoreError::NotFound("collection"))?;
        let schema: CollectionSchema = serde_json::from_str(&row.schema_json).map_err(|_| CoreError::Integrity)?;
        let schema = Arc::new(schema);
        write(&self.schemas).insert((code.clone(), name.clone()), (schema.clone(), now));
        Ok(schema)
    }
}
