//! Collections: a tenant's kinds of record, each with a schema. A schema may grow
//! (new optional fields, purposes) but never change what stored records mean.

use super::Vault;
use super::audit::{Audit, Caller};
use crate::error::CoreError;
use crate::ids::{CollectionName, TenantCode};
use crate::keyring::write;
use crate::policy::{Action, Principal};
use crate::schema::CollectionSchema;
use crate::store::{CollectionRow, WriteOp};

impl Vault {
    /// Create or replace a collection's schema. Returns whether it was created, and the
    /// stored schema.
    pub async fn put_collection(
        &self,
        c: &Caller,
        code: &TenantCode,
        name: &CollectionName,
        schema: CollectionSchema,
    ) -> Result<(bool, CollectionSchema), CoreError> {
        let a = self.audit(c, "collection.put").tenant(code).collection(name);
        let r = self.put_collection_inner(&c.principal, code, name, schema, &a).await;
        self.settle(a, r).await
    }

    async fn put_collection_inner(
        &self,
        p: &Principal,
        code: &TenantCode,
        name: &CollectionName,
        schema: CollectionSchema,
        a: &Audit,
    ) -> Result<(bool, CollectionSchema), CoreError> {
        self.ctx(p, code, Action::ManageCollections).await?;
        schema.check()?;
        let now = self.clock.now();
        let existing = self.store.get_collection(code, name).await?;
        let created_at = match &existing {
            Some(row) => {
                let old: CollectionSchema = serde_json::from_str(&row.schema_json).map_err(|_| CoreError::Integrity)?;
                old.check_compatible(&schema)?;
                row.created_at
            }
            None => now,
        };
        let schema_json = serde_json::to_string(&schema).map_err(|_| CoreError::Integrity)?;
        let row = CollectionRow { tenant: code.clone(), name: name.clone(), schema_json, created_at, updated_at: now };
        self.apply_audited(vec![WriteOp::PutCollection(row)], a).await?;
        write(&self.schemas).remove(&(code.clone(), name.clone()));
        Ok((existing.is_none(), schema))
    }

    /// A collection's schema.
    pub async fn get_collection(
        &self,
        c: &Caller,
        code: &TenantCode,
        name: &CollectionName,
    ) -> Result<CollectionSchema, CoreError> {
        let a = self.audit(c, "collection.read").tenant(code).collection(name);
        let r = async {
            self.ctx(&c.principal, code, Action::ReadSchema).await?;
            let schema = (*self.schema(code, name).await?).clone();
            self.record_read(&a).await?;
            Ok(schema)
        }
        .await;
        self.settle(a, r).await
    }
}
