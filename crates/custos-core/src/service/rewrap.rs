//! The rewrap job: after a rotation, moves subject keys, tenant-sealed fields and blind
//! index entries to the tenant's newest key version, in small batches. Each change is
//! conditional on the row being unchanged, so it never overwrites a concurrent write.

use super::Vault;
use crate::error::CoreError;
use crate::schema::CollectionSchema;
use crate::store::{FieldKey, FieldRow, IndexRow, WriteOp};
use custos_crypto::WrappedKey;

const BATCH: u32 = 200;

impl Vault {
    /// Wait until a rotation or unseal asks for a rewrap pass (or `max` elapses).
    pub async fn rewrap_wanted(&self, max: std::time::Duration) {
        let _ = tokio::time::timeout(max, self.rewrap_wanted.notified()).await;
    }

    /// One batch for every tenant; returns how many rows were moved forward.
    pub async fn rewrap_step(&self) -> Result<usize, CoreError> {
        let keys = self.keys()?;
        let mut moved = 0;
        for tenant in self.store.list_tenants().await? {
            let code = &tenant.code;
            let current = tenant.key_version;
            if current <= 1 {
                continue;
            }
            let tk = self.tenant_keys(&keys, code, current).await?;
            let mut ops = Vec::new();
            for s in self.store.subjects_below(code, current, BATCH).await? {
                let old = self.tenant_keys(&keys, code, s.key_version).await?;
                let Ok(sk) =
                    old.key.unwrap_subject_key(&WrappedKey(s.wrapped_key), code.as_str(), s.pseudonym.as_str())
                else {
                    tracing::error!(target: "custos::integrity", tenant = %code, "subject key failed to unwrap during rewrap");
                    continue;
                };
                let wrapped = tk.key.wrap_subject_key(&sk, code.as_str(), s.pseudonym.as_str())?;
                ops.push(WriteOp::RewrapSubject {
                    tenant: code.clone(),
                    pseudonym: s.pseudonym,
                    from_version: s.key_version,
                    to_version: current,
                    wrapped_key: wrapped.0,
                });
            }
            for (row, index) in self.store.records_below(code, current, BATCH).await? {
                let meta = &row.meta;
                let schema_row = self.store.get_collection(code, &meta.collection).await?;
                let schema: Option<CollectionSchema> =
                    schema_row.and_then(|r| serde_json::from_str(&r.schema_json).ok());
                for f in &row.fields {
                    let stale_field = matches!(f.key, FieldKey::Tenant(v) if v < current);
                    let stale_index: Vec<&IndexRow> =
                        index.iter().filter(|i| i.field == f.field && i.version < current).collect();
                    if !stale_field && stale_index.is_empty() {
                        continue;
                    }
                    let Ok(plain) = self.open_field(&keys, meta, f).await else {
                        continue;
                    };
                    if stale_field {
                        let key = FieldKey::Tenant(current);
                        let aad = custos_crypto::FieldAad {
                            tenant: code.as_str(),
                            collection: meta.collection.as_str(),
                            record: meta.id.as_str(),
                            field: f.field.as_str(),
                            scope: custos_crypto::KeyScope::Tenant(current),
                        };
                        let ct = tk.key.data_key().seal_field(&plain, &aad)?;
                        ops.push(WriteOp::RewrapField {
                            record: meta.id.clone(),
                            new: FieldRow { field: f.field.clone(), key, ct },
                            old: f.ct.clone(),
                        });
                    }
                    if let (Some(old), Some(spec)) =
                        (stale_index.first(), schema.as_ref().and_then(|s| s.fields.get(&f.field)))
                    {
                        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&plain) else {
                            continue;
                        };
                        let norm = zeroize::Zeroizing::new(crate::schema::normalise(spec.kind, &value));
                        let mac = tk.blind.compute(meta.collection.as_str(), f.field.as_str(), &norm);
                        ops.push(WriteOp::RewrapIndex {
                            record: meta.id.clone(),
                            field: f.field.clone(),
                            from_version: old.version,
                            new: IndexRow { field: f.field.clone(), version: current, mac: mac.0 },
                        });
                    }
                }
            }
            moved += ops.len();
            if !ops.is_empty() {
                let mut a = self.audit_system("tenant.key-rewrap").tenant(code);
                a.set_count(ops.len());
                self.apply_audited(ops, &a).await?;
            }
        }
        Ok(moved)
    }
}
