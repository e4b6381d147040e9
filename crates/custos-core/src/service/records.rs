//! Subjects and records: validate against the schema, seal each field under the right
//! key and binding, index searchable fields blindly, and open them again only for a
//! principal with an allowed purpose.

use super::audit::{Audit, Caller};
use super::privacy::{sees_locked, visibility};
use super::{TenantCtx, Vault};
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::{CollectionName, FieldName, Pseudonym, Purpose, RecordId, TenantCode};
use crate::keyring::Keyring;
use crate::policy::{Action, Permission, Principal};
use crate::schema::{CheckedValue, CollectionSchema, normalise};
use crate::store::{
    FieldKey, FieldRow, IndexRow, PrivacyOp, RecordFilter, RecordMeta, RecordRow, StoreError, SubjectRow, SubjectState,
    WriteOp,
};
use custos_crypto::{FieldAad, KeyScope, SubjectKey, WrappedKey};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 500;

/// A record opened for a caller.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordView {
    /// Id.
    pub id: RecordId,
    /// Linked subject.
    pub subject: Option<Pseudonym>,
    /// Field values.
    pub fields: Map<String, Value>,
    /// Change counter.
    pub version: i64,
    /// Newest tenant key version among the record's tenant-sealed fields.
    pub key_version: u32,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// Which page to return: a cursor from the previous page's `next`, and a size.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageRequest<'a> {
    /// Cursor from the previous page.
    pub cursor: Option<&'a str>,
    /// Page size (default 50, at most 500).
    pub limit: Option<u32>,
}

/// One page of records.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// Records.
    pub records: Vec<RecordView>,
    /// Cursor for the next page.
    pub next: Option<String>,
}

fn field_aad<'a>(meta: &'a RecordMeta, field: &'a FieldName, key: FieldKey) -> FieldAad<'a> {
    FieldAad {
        tenant: meta.tenant.as_str(),
        collection: meta.collection.as_str(),
        record: meta.id.as_str(),
        field: field.as_str(),
        scope: match key {
            FieldKey::Tenant(v) => KeyScope::Tenant(v),
            FieldKey::Subject => KeyScope::Subject,
        },
    }
}

/// Whether a read for `purpose` may see this record: a record may narrow its
/// collection's purposes. Collections without personal data need no purpose.
fn purpose_fits(meta: &RecordMeta, schema: &CollectionSchema, purpose: Option<&Purpose>) -> bool {
    match (&meta.purposes, purpose) {
        (None, _) => true,
        (Some(_), None) => !schema.has_pii(),
        (Some(allowed), Some(p)) => allowed.contains(p),
    }
}

/// Remove identifying fields unless the principal may re-identify subjects; returns
/// whether identifying values are being returned (a re-identification).
fn redact(p: &Principal, schema: &CollectionSchema, view: &mut RecordView) -> bool {
    if !schema.has_identifying() {
        return false;
    }
    if p.has_permission(Permission::SubjectsReidentify) {
        return schema.fields.iter().any(|(name, spec)| spec.identifying && view.fields.contains_key(name.as_str()));
    }
    for (name, spec) in &schema.fields {
        if spec.identifying {
            view.fields.remove(name.as_str());
        }
    }
    false
}

fn check_limit(limit: Option<u32>) -> Result<u32, CoreError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(_) => Err(CoreError::invalid("limit", format!("between 1 and {MAX_LIMIT}"))),
    }
}

fn parse_cursor(cursor: Option<&str>) -> Result<Option<RecordId>, CoreError> {
    cursor
        .map(|c| RecordId::parse(c).map_err(|_| CoreError::invalid("cursor", "not a cursor from this API")))
        .transpose()
}

impl Vault {
    /// Create a subject: a random pseudonym and a fresh subject key.
    pub async fn create_subject(&self, c: &Caller, code: &TenantCode) -> Result<Pseudonym, CoreError> {
        let mut a = self.audit(c, "subject.create").tenant(code);
        let r = self.create_subject_inner(&c.principal, code, &mut a).await;
        self.settle(a, r).await
    }

    async fn create_subject_inner(
        &self,
        p: &Principal,
        code: &TenantCode,
        a: &mut Audit,
    ) -> Result<Pseudonym, CoreError> {
        let ctx = self.ctx(p, code, Action::CreateSubject).await?;
        let (row, key) = self.new_subject(&ctx).await?;
        let pseudonym = row.pseudonym.clone();
        a.set_subject(&pseudonym);
        self.apply_audited(vec![WriteOp::InsertSubject(row)], a).await?;
        ctx.keys.put_subject_key(code, &pseudonym, key);
        Ok(pseudonym)
    }

    /// A new active subject: a random pseudonym and a fresh key wrapped by the tenant's
    /// current key (not yet stored).
    pub(super) async fn new_subject(&self, ctx: &TenantCtx) -> Result<(SubjectRow, SubjectKey), CoreError> {
        let code = &ctx.tenant.code;
        let tk = self.tenant_keys(&ctx.keys, code, ctx.tenant.key_version).await?;
        let pseudonym = Pseudonym::generate()?;
        let key = SubjectKey::generate()?;
        let wrapped = tk.key.wrap_subject_key(&key, code.as_str(), pseudonym.as_str())?;
        let row = SubjectRow {
            tenant: code.clone(),
            pseudonym,
            key_version: tk.key.version(),
            wrapped_key: wrapped.0,
            created_at: self.clock.now(),
            state: SubjectState::Active,
        };
        Ok((row, key))
    }

    /// Check a subject is the caller's to see (404 otherwise).
    pub async fn get_subject(
        &self,
        c: &Caller,
        code: &TenantCode,
        subject: &Pseudonym,
    ) -> Result<(Timestamp, SubjectState), CoreError> {
        let a = self.audit(c, "subject.read").tenant(code).subject(Some(subject));
        let r = async {
            self.ctx(&c.principal, code, Action::ReadRecords).await?;
            let state = self.visible_subject(&c.principal, code, subject).await?;
            let row = self.store.get_subject(code, subject).await?.ok_or(CoreError::NotFound("subject"))?;
            self.record_read(&a).await?;
            Ok((row.created_at, state))
        }
        .await;
        self.settle(a, r).await
    }

    pub(crate) async fn subject_key(
        &self,
        keys: &Keyring,
        code: &TenantCode,
        subject: &Pseudonym,
    ) -> Result<Arc<SubjectKey>, CoreError> {
        if let Some(k) = keys.subject_key(code, subject) {
            return Ok(k);
        }
        // A purged subject stays purged even if an older copy of its row came back.
        let ledger = crate::keyring::read(&self.ledger).clone();
        if let Some(l) = ledger
            && l.contains(code, subject).await?
        {
            return Err(CoreError::NotFound("subject"));
        }
        self.unwrap_subject_key(keys, code, subject).await
    }

    /// Unwrap a live (active or locked) subject's key from the store.
    pub(crate) async fn unwrap_subject_key(
        &self,
        keys: &Keyring,
        code: &TenantCode,
        subject: &Pseudonym,
    ) -> Result<Arc<SubjectKey>, CoreError> {
        let row = self.store.get_subject(code, subject).await?.ok_or(CoreError::NotFound("subject"))?;
        if !matches!(row.state, SubjectState::Active | SubjectState::Locked) {
            return Err(CoreError::NotFound("subject"));
        }
        let tk = self.tenant_keys(keys, code, row.key_version).await?;
        let key = tk.key.unwrap_subject_key(&WrappedKey(row.wrapped_key), code.as_str(), subject.as_str())?;
        Ok(keys.put_subject_key(code, subject, key))
    }

    /// Seal checked values for a record; returns field rows and index rows.
    async fn seal_values(
        &self,
        ctx: &TenantCtx,
        meta: &RecordMeta,
        values: &[CheckedValue<'_>],
    ) -> Result<(Vec<FieldRow>, Vec<IndexRow>), CoreError> {
        let code = &ctx.tenant.code;
        let tk = self.tenant_keys(&ctx.keys, code, ctx.tenant.key_version).await?;
        let sk = match &meta.subject {
            Some(s) if values.iter().any(|v| v.spec.pii) => Some(self.subject_key(&ctx.keys, code, s).await?),
            _ => None,
        };
        let mut fields = Vec::with_capacity(values.len());
        let mut index = Vec::new();
        for v in values {
            let Some(value) = &v.value else { continue };
            let plain = zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(|_| CoreError::Integrity)?);
            let (key, ct) = match (&sk, v.spec.pii) {
                (Some(sk), true) => {
                    (FieldKey::Subject, sk.data_key().seal_field(&plain, &field_aad(meta, &v.name, FieldKey::Subject))?)
                }
                _ => {
                    let key = FieldKey::Tenant(tk.key.version());
                    (key, tk.key.data_key().seal_field(&plain, &field_aad(meta, &v.name, key))?)
                }
            };
            fields.push(FieldRow { field: v.name.clone(), key, ct });
            if v.spec.searchable {
                let norm = zeroize::Zeroizing::new(normalise(v.spec.kind, value));
                let mac = tk.blind.compute(meta.collection.as_str(), v.name.as_str(), &norm);
                index.push(IndexRow { field: v.name.clone(), version: tk.key.version(), mac: mac.0 });
            }
        }
        Ok((fields, index))
    }

    /// Create a record, optionally linked to a subject.
    pub async fn create_record(
        &self,
        c: &Caller,
        code: &TenantCode,
        collection: &CollectionName,
        subject: Option<Pseudonym>,
        input: Map<String, Value>,
    ) -> Result<(RecordId, i64), CoreError> {
        self.create_record_for(c, code, collection, subject, input, None).await
    }

    /// Create a record whose personal data may be read only for `purposes` (a subset of
    /// the collection's purposes), when given.
    pub async fn create_record_for(
        &self,
        c: &Caller,
        code: &TenantCode,
        collection: &CollectionName,
        subject: Option<Pseudonym>,
        input: Map<String, Value>,
        purposes: Option<Vec<Purpose>>,
    ) -> Result<(RecordId, i64), CoreError> {
        let mut a = self.audit(c, "record.create").tenant(code).collection(collection).subject(subject.as_ref());
        let r = self.create_record_inner(&c.principal, code, collection, subject, input, purposes, &mut a).await;
        self.settle(a, r).await
    }

    #[allow(clippy::too_many_arguments)] // private: the public wrapper's arguments plus its audit entry
    async fn create_record_inner(
        &self,
        p: &Principal,
        code: &TenantCode,
        collection: &CollectionName,
        subject: Option<Pseudonym>,
        input: Map<String, Value>,
        purposes: Option<Vec<Purpose>>,
        a: &mut Audit,
    ) -> Result<(RecordId, i64), CoreError> {
        let ctx = self.ctx(p, code, Action::WriteRecords).await?;
        let schema = self.schema(code, collection).await?;
        let values = schema.validate_new(input)?;
        if let Some(ps) = &purposes
            && (ps.is_empty() || ps.iter().any(|x| !schema.allows(x)))
        {
            return Err(CoreError::invalid("purposes", "a non-empty subset of the collection's purposes"));
        }
        if let Some(s) = &subject {
            // A foreign, unknown or locked subject is a 404, whether or not a pii field is given.
            if self.store.subject_state(code, s).await? != Some(SubjectState::Active) {
                return Err(CoreError::NotFound("subject"));
            }
            self.subject_key(&ctx.keys, code, s).await?;
        }
        let now = self.clock.now();
        let meta = RecordMeta {
            tenant: code.clone(),
            collection: collection.clone(),
            id: RecordId::generate(now)?,
            subject,
            version: 1,
            created_at: now,
            updated_at: now,
            hidden: false,
            purposes,
        };
        let (fields, index) = self.seal_values(&ctx, &meta, &values).await?;
        let id = meta.id.clone();
        a.set_record(&id);
        self.apply_audited(vec![WriteOp::InsertRecord { meta, fields, index }], a).await?;
        Ok((id, 1))
    }

    /// Change fields of a record; `null` removes an optional field.
    pub async fn update_record(
        &self,
        c: &Caller,
        code: &TenantCode,
        collection: &CollectionName,
        id: &RecordId,
        input: Map<String, Value>,
        expected_version: Option<i64>,
    ) -> Result<i64, CoreError> {
        let mut a = self.audit(c, "record.update").tenant(code).collection(collection);
        a.set_record(id);
        let r = self.update_record_inner(&c.principal, code, collection, id, input, expected_version, &a).await;
        self.settle(a, r).await
    }

    #[allow(clippy::too_many_arguments)] // private: the public wrapper's arguments plus its audit entry
    async fn update_record_inner(
        &self,
        p: &Principal,
        code: &TenantCode,
        collection: &CollectionName,
        id: &RecordId,
        input: Map<String, Value>,
        expected_version: Option<i64>,
        a: &Audit,
    ) -> Result<i64, CoreError> {
        let ctx = self.ctx(p, code, Action::WriteRecords).await?;
        let schema = self.schema(code, collection).await?;
        let values = schema.validate_patch(input)?;
        let current = self.store.get_record(code, collection, id).await?.ok_or(CoreError::NotFound("record"))?;
        // Locked records (deleted, or their subject's erasure pending) are read-only.
        if current.meta.hidden {
            return Err(CoreError::NotFound("record"));
        }
        if expected_version.is_some_and(|v| v != current.meta.version) {
            return Err(CoreError::Conflict("record version does not match".into()));
        }
        let (set, index) = self.seal_values(&ctx, &current.meta, &values).await?;
        let remove = values.iter().filter(|v| v.value.is_none()).map(|v| v.name.clone()).collect();
        let reindex = values.iter().filter(|v| v.spec.searchable).map(|v| v.name.clone()).collect();
        let op = WriteOp::UpdateRecord {
            tenant: code.clone(),
            collection: collection.clone(),
            id: id.clone(),
            expected_version: current.meta.version,
            updated_at: self.clock.now(),
            set,
            remove,
            reindex,
            index,
        };
        match self.apply_audited(vec![op], a).await {
            Ok(()) => Ok(current.meta.version + 1),
            Err(StoreError::Stale) => Err(CoreError::Conflict("record changed concurrently; retry".into())),
            Err(StoreError::NotFound(_)) => Err(CoreError::NotFound("record")),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete a record.
    pub async fn delete_record(
        &self,
        c: &Caller,
        code: &TenantCode,
        collection: &CollectionName,
        id: &RecordId,
    ) -> Result<(), CoreError> {
        let mut a = self.audit(c, "record.delete").tenant(code).collection(collection);
        a.set_record(id);
        let r = async {
            self.ctx(&c.principal, code, Action::WriteRecords).await?;
            self.schema(code, collection).await?;
            let row = self.store.get_record(code, collection, id).await?.ok_or(CoreError::NotFound("record"))?;
            if row.meta.hidden {
                return Err(CoreError::NotFound("record"));
            }
            // Locked at once, purged for good after the configured delay.
            let op = WriteOp::Privacy(PrivacyOp::HideRecord {
                tenant: code.clone(),
                collection: collection.clone(),
                id: id.clone(),
                purge_after: self.delete_purge_time(self.clock.now()),
            });
            match self.apply_audited(vec![op], &a).await {
                Ok(()) => Ok(()),
                Err(StoreError::NotFound(_)) => Err(CoreError::NotFound("record")),
                Err(e) => Err(e.into()),
            }
        }
        .await;
        self.settle(a, r).await
    }

    /// Authorise a read and check the purpose against the schema.
    async fn read_ctx(
        &self,
        p: &Principal,
        code: &TenantCode,
        collection: &CollectionName,
        purpose: Option<&Purpose>,
    ) -> Result<(TenantCtx, Arc<CollectionSchema>), CoreError> {
        let ctx = self.ctx(p, code, Action::ReadRecords).await?;
        let schema = self.schema(code, collection).await?;
        if schema.has_pii() {
            let purpose = purpose.ok_or(CoreError::PurposeRequired)?;
            if !schema.allows(purpose) {
                return Err(CoreError::PurposeNotAllowed);
            }
        }
        Ok((ctx, schema))
    }

    /// Read one record.
    pub async fn get_record(
        &self,
        c: &Caller,
        code: &TenantCode,
        collection: &CollectionName,
        id: &RecordId,
        purpose: Option<&Purpose>,
    ) -> Result<RecordView, CoreError> {
        let mut a = self.audit(c, "record.read").tenant(code).collection(collection).purpose(purpose);
        a.set_record(id);
        let r = async {
            let (ctx, schema) = self.read_ctx(&c.principal, code, collection, purpose).await?;
            let row = self.store.get_record(code, collection, id).await?.ok_or(CoreError::NotFound("record"))?;
            if row.meta.hidden && !sees_locked(&c.principal) {
                return Err(CoreError::NotFound("record"));
            }
            if let Some(s) = &row.meta.subject {
                a.set_subject(s);
            }
            if !purpose_fits(&row.meta, &schema, purpose) {
                return Err(CoreError::PurposeNotAllowed);
            }
            a.set_count(1);
            let mut view = self.open_record(&ctx.keys, row).await?;
            let reidentified = redact(&c.principal, &schema, &mut view);
            self.record_reads(&a, reidentified).await?;
            Ok(view)
        }
        .await;
        self.settle(a, r).await
    }

    /// List a collection's records, or one subject's, by id.
    pub async fn list_records(
        &self,
        c: &Caller,
        code: &TenantCode,
        collection: &CollectionName,
        subject: Option<Pseudonym>,
        page: PageRequest<'_>,
        purpose: Option<&Purpose>,
    ) -> Result<ListPage, CoreError> {
        let mut a =
            self.audit(c, "record.list").tenant(code).collection(collection).subject(subject.as_ref()).purpose(purpose);
        let r = async {
            let (ctx, schema) = self.read_ctx(&c.principal, code, collection, purpose).await?;
            let filter = match subject {
                Some(s) => {
                    self.visible_subject(&c.principal, code, &s).await?;
                    RecordFilter::Subject(collection.clone(), s)
                }
                None => RecordFilter::Collection(collection.clone()),
            };
            self.page(&c.principal, (&ctx, &schema), &filter, (page, purpose), &mut a).await
        }
        .await;
        self.settle(a, r).await
    }

    /// Exact-match lookup (`field` equals `equals`) on a searchable field through the
    /// blind index.
    pub async fn search_records(
        &self,
        c: &Caller,
        code: &TenantCode,
        collection: &CollectionName,
        lookup: (&FieldName, &Value),
        page: PageRequest<'_>,
        purpose: Option<&Purpose>,
    ) -> Result<ListPage, CoreError> {
        let mut a = self.audit(c, "record.search").tenant(code).collection(collection).purpose(purpose);
        let r = self.search_inner(&c.principal, code, collection, lookup, page, purpose, &mut a).await;
        self.settle(a, r).await
    }

    #[allow(clippy::too_many_arguments)] // private: the public wrapper's arguments plus its audit entry
    async fn search_inner(
        &self,
        p: &Principal,
        code: &TenantCode,
        collection: &CollectionName,
        (field, equals): (&FieldName, &Value),
        page: PageRequest<'_>,
        purpose: Option<&Purpose>,
        a: &mut Audit,
    ) -> Result<ListPage, CoreError> {
        let (ctx, schema) = self.read_ctx(p, code, collection, purpose).await?;
        let norm = zeroize::Zeroizing::new(schema.search_key(field, equals)?);
        // Entries may still be under older versions until the rewrap job reaches them.
        let mut macs = Vec::new();
        for v in 1..=ctx.tenant.key_version {
            let tk = self.tenant_keys(&ctx.keys, code, v).await?;
            macs.push((v, tk.blind.compute(collection.as_str(), field.as_str(), &norm).0));
        }
        let filter = RecordFilter::Index(collection.clone(), field.clone(), macs);
        self.page(p, (&ctx, &schema), &filter, (page, purpose), a).await
    }

    async fn page(
        &self,
        p: &Principal,
        (ctx, schema): (&TenantCtx, &CollectionSchema),
        filter: &RecordFilter,
        (page, purpose): (PageRequest<'_>, Option<&Purpose>),
        a: &mut Audit,
    ) -> Result<ListPage, CoreError> {
        let code = &ctx.tenant.code;
        let limit = check_limit(page.limit)?;
        let after = parse_cursor(page.cursor)?;
        let rows = self.store.list_records(code, filter, after.as_ref(), limit + 1, visibility(p)).await?;
        let more = rows.len() > limit as usize;
        let mut records = Vec::with_capacity(rows.len().min(limit as usize));
        let mut last = None;
        let mut reidentified = false;
        for row in rows.into_iter().take(limit as usize) {
            last = Some(row.meta.id.clone());
            // A record narrowed to other purposes is left out of the page.
            if !purpose_fits(&row.meta, schema, purpose) {
                continue;
            }
            let mut view = self.open_record(&ctx.keys, row).await?;
            reidentified |= redact(p, schema, &mut view);
            records.push(view);
        }
        let next = if more { last.map(|id| id.as_str().to_owned()) } else { None };
        // One entry for the page, counting the records it returns: bulk reads show up.
        a.set_count(records.len());
        self.record_reads(a, reidentified).await?;
        Ok(ListPage { records, next })
    }

    /// Open every field of a stored record. Any field that fails to authenticate fails
    /// the whole read: a moved or altered ciphertext is never returned.
    pub(crate) async fn open_record(&self, keys: &Keyring, row: RecordRow) -> Result<RecordView, CoreError> {
        let meta = row.meta;
        let mut fields = Map::new();
        let mut key_version = 0;
        for f in row.fields {
            let plain = self.open_field(keys, &meta, &f).await?;
            if let FieldKey::Tenant(v) = f.key {
                key_version = key_version.max(v);
            }
            let value: Value = serde_json::from_slice(&plain).map_err(|_| CoreError::Integrity)?;
            fields.insert(f.field.as_str().to_owned(), value);
        }
        if key_version == 0 {
            key_version = self.tenant_row(&meta.tenant).await?.key_version;
        }
        Ok(RecordView {
            id: meta.id,
            subject: meta.subject,
            fields,
            version: meta.version,
            key_version,
            created_at: meta.created_at,
            updated_at: meta.updated_at,
        })
    }

    pub(crate) async fn open_field(
        &self,
        keys: &Keyring,
        meta: &RecordMeta,
        f: &FieldRow,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CoreError> {
        let aad = field_aad(meta, &f.field, f.key);
        let plain = match f.key {
            FieldKey::Tenant(v) => {
                self.tenant_keys(keys, &meta.tenant, v).await?.key.data_key().open_field(&f.ct, &aad)
            }
            FieldKey::Subject => {
                let s = meta.subject.as_ref().ok_or(CoreError::Integrity)?;
                self.subject_key(keys, &meta.tenant, s).await?.data_key().open_field(&f.ct, &aad)
            }
        };
        plain.map_err(|_| {
            tracing::error!(target: "custos::integrity", tenant = %meta.tenant, record = %meta.id, field = %f.field, "field failed to authenticate");
            CoreError::Integrity
        })
    }
}
