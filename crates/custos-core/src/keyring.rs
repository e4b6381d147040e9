//! The unsealed key set: the root key and the tenant and subject keys unwrapped from
//! it, cached in memory only while unsealed. Dropping the keyring (sealing) drops every
//! key; each zeroizes or is cleansed by AWS-LC.

use crate::ids::{Pseudonym, TenantCode, ZoneName};
use custos_crypto::{BlindIndexKey, RootKey, SubjectKey, TenantKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Most subject keys kept unwrapped at once; the cache empties when full.
const SUBJECT_CACHE_MAX: usize = 50_000;

/// A tenant key version with its blind-index key.
#[derive(Debug)]
pub struct TenantKeys {
    /// The key.
    pub key: TenantKey,
    /// Its blind-index key.
    pub blind: BlindIndexKey,
}

/// Keys held while unsealed.
#[derive(Debug)]
pub struct Keyring {
    root: RootKey,
    zone: ZoneName,
    tenants: RwLock<HashMap<(TenantCode, u32), Arc<TenantKeys>>>,
    subjects: Mutex<HashMap<(TenantCode, Pseudonym), Arc<SubjectKey>>>,
}

pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn lock<T>(l: &Mutex<T>) -> MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}

impl Keyring {
    /// A keyring around a freshly combined root key.
    pub fn new(root: RootKey, zone: ZoneName) -> Self {
        Self { root, zone, tenants: RwLock::default(), subjects: Mutex::default() }
    }

    /// The root key (tenant key wrapping).
    pub fn root(&self) -> &RootKey {
        &self.root
    }

    /// The zone this keyring serves.
    pub fn zone(&self) -> &ZoneName {
        &self.zone
    }

    /// A cached tenant key version.
    pub fn tenant_key(&self, tenant: &TenantCode, version: u32) -> Option<Arc<TenantKeys>> {
        read(&self.tenants).get(&(tenant.clone(), version)).cloned()
    }

    /// Cache a tenant key version.
    pub fn put_tenant_key(
        &self,
        tenant: &TenantCode,
        key: TenantKey,
    ) -> Result<Arc<TenantKeys>, custos_crypto::CryptoError> {
        let version = key.version();
        let blind = key.blind_index_key()?;
        let entry = Arc::new(TenantKeys { key, blind });
        write(&self.tenants).insert((tenant.clone(), version), entry.clone());
        Ok(entry)
    }

    /// A cached subject key.
    pub fn subject_key(&self, tenant: &TenantCode, subject: &Pseudonym) -> Option<Arc<SubjectKey>> {
        lock(&self.subjects).get(&(tenant.clone(), subject.clone())).cloned()
    }

    /// Cache a subject key.
    pub fn put_subject_key(&self, tenant: &TenantCode, subject: &Pseudonym, key: SubjectKey) -> Arc<SubjectKey> {
        let key = Arc::new(key);
        let mut map = lock(&self.subjects);
        if map.len() >= SUBJECT_CACHE_MAX {
            map.clear();
        }
        map.insert((tenant.clone(), subject.clone()), key.clone());
        key
    }

    /// Drop a subject key from the cache (its subject was purged).
    pub fn forget_subject_key(&self, tenant: &TenantCode, subject: &Pseudonym) {
        lock(&self.subjects).remove(&(tenant.clone(), subject.clone()));
    }
}
