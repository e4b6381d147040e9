//! Recipients (third parties that receive a subject's data) and disclosures (what was
//! given to whom). A recipient signs in with its own API key, holds no permission, and
//! reads exactly the fields of the records disclosed to it, nothing else.

use super::super::{Caller, TenantCtx, Vault};
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::{CollectionName, DisclosureId, DsrId, FieldName, Pseudonym, RecipientId, RecordId, TenantCode};
use crate::policy::{Action, MemberKind, Principal};
use crate::store::{DisclosureRow, DsrState, PrivacyOp, RecipientRow, SubjectState, WriteOp};
use custos_crypto::{FieldAad, IdentityKeys, KeyScope, Secret};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Longest recipient name.
const MAX_NAME: usize = 200;
/// Most records named in one disclosure.
const MAX_DISCLOSED_RECORDS: usize = 1_000;

/// A recipient to register.
#[derive(Debug, Clone)]
pub struct NewRecipient {
    /// The organisation's name.
    pub name: String,
    /// Where erasure notices go (https; http only to a loopback address).
    pub webhook_url: String,
    /// Key lifetime in days (default 365).
    pub key_days: Option<u32>,
}

/// A registered recipient, with its key and webhook secret (shown once).
#[derive(Debug)]
pub struct RecipientCreated {
    /// The recipient.
    pub view: RecipientView,
    /// Its API key.
    pub api_key: Secret<String>,
    /// The secret its webhook uses to check notice signatures.
    pub webhook_secret: Secret<String>,
}

/// A recipient as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientView {
    /// Id.
    pub id: RecipientId,
    /// Name.
    pub name: String,
    /// Webhook address.
    pub webhook_url: String,
    /// Key expiry.
    pub key_expires_at: Timestamp,
    /// Created.
    pub created_at: Timestamp,
    /// Revoked.
    pub revoked_at: Option<Timestamp>,
}

impl From<RecipientRow> for RecipientView {
    fn from(r: RecipientRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            webhook_url: r.webhook_url,
            key_expires_at: r.key_expires_at,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// A disclosure to record.
#[derive(Debug, Clone)]
pub struct NewDisclosure {
    /// To whom.
    pub recipient: RecipientId,
    /// Which collection.
    pub collection: CollectionName,
    /// Which fields.
    pub fields: Vec<FieldName>,
    /// Which records (default: every live record of the subject in the collection).
    pub records: Option<Vec<RecordId>>,
}

/// A recorded disclosure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisclosureView {
    /// Id.
    pub id: DisclosureId,
    /// Whose data.
    pub subject: Pseudonym,
    /// To whom.
    pub recipient: RecipientId,
    /// Collection.
    pub collection: CollectionName,
    /// Fields.
    pub fields: Vec<FieldName>,
    /// Records.
    pub records: Vec<RecordId>,
    /// When.
    pub at: Timestamp,
}

impl From<DisclosureRow> for DisclosureView {
    fn from(d: DisclosureRow) -> Self {
        Self {
            id: d.id,
            subject: d.subject,
            recipient: d.recipient,
            collection: d.collection,
            fields: d.fields,
            records: d.records,
            at: d.at,
        }
    }
}

/// What a recipient may read of one subject: the disclosed fields of the disclosed records.
#[derive(Debug, Clone, PartialEq)]
pub struct Disclosed {
    /// The subject.
    pub subject: Pseudonym,
    /// `(collection, record, fields)` in record order.
    pub records: Vec<(CollectionName, RecordId, Map<String, Value>)>,
}

pub(crate) fn secret_aad<'a>(tenant: &'a TenantCode, id: &'a RecipientId) -> FieldAad<'a> {
    FieldAad {
        tenant: tenant.as_str(),
        collection: "_recipient",
        record: id.as_str(),
        field: "webhook-secret",
        scope: KeyScope::Tenant(0),
    }
}

fn check_webhook(url: &str) -> Result<(), CoreError> {
    let bad = || CoreError::invalid("webhook_url", "an https URL (http only to 127.0.0.1, [::1] or localhost)");
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    if let Some(rest) = url.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() || host.contains('@') {
            return Err(bad());
        }
        return Ok(());
    }
    let loopback = ["http://127.0.0.1:", "http://127.0.0.1/", "http://[::1]:", "http://[::1]/", "http://localhost:"];
    if loopback.iter().any(|p| url.starts_with(p)) { Ok(()) } else { Err(bad()) }
}

/// The recipient behind a caller, in `code` (404 for any other principal or tenant).
pub(crate) fn recipient_of(p: &Principal, code: &TenantCode) -> Result<RecipientId, CoreError> {
    match p {
        Principal::Member { id, kind: MemberKind::Recipient, tenant, .. } if tenant == code => {
            RecipientId::parse(id).map_err(|_| CoreError::Integrity)
        }
        Principal::Member { tenant, .. } if tenant != code => Err(CoreError::NotFound("tenant")),
        _ => Err(CoreError::Forbidden("only a recipient reads what was disclosed to it")),
    }
}

impl Vault {
    /// Register a recipient; its API key and webhook secret are returned once.
    pub async fn create_recipient(
        &self,
        c: &Caller,
        code: &TenantCode,
        req: NewRecipient,
    ) -> Result<RecipientCreated, CoreError> {
        let a = self.audit(c, "recipient.create").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ManageApiKeys).await?;
            let name = req.name.trim().to_owned();
            if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
                return Err(CoreError::invalid("name", format!("1-{MAX_NAME} printable characters")));
            }
            check_webhook(&req.webhook_url)?;
            let max = self.identity_config().max_key_days;
            let days = req.key_days.unwrap_or(365);
            if days == 0 || days > max {
                return Err(CoreError::invalid("key_days", format!("1 to {max} days")));
            }
            let id = RecipientId::generate()?;
            let (api_key, key_hash) = custos_crypto::new_token("ck")?;
            let (webhook_secret, _) = custos_crypto::new_token("whsec")?;
            let ik = self.identity_keys(Some(code))?;
            let secret = ik.seal_key().seal_field(webhook_secret.expose().as_bytes(), &secret_aad(code, &id))?;
            let now = self.clock.now();
            let row = RecipientRow {
                id: id.clone(),
                tenant: code.clone(),
                name,
                webhook_url: req.webhook_url,
                secret,
                key_hash,
                key_expires_at: now.plus_days(i64::from(days)),
                created_at: now,
                revoked_at: None,
            };
            let view = RecipientView::from(row.clone());
            self.apply_audited(vec![WriteOp::Privacy(PrivacyOp::InsertRecipient(row))], &a).await?;
            Ok(RecipientCreated { view, api_key, webhook_secret })
        }
        .await;
        self.settle(a, r).await
    }

    /// A tenant's recipients.
    pub async fn list_recipients(&self, c: &Caller, code: &TenantCode) -> Result<Vec<RecipientView>, CoreError> {
        let a = self.audit(c, "recipient.list").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ManageApiKeys).await?;
            let rows = self.store.recipients(code).await?;
            self.record_read(&a).await?;
            Ok(rows.into_iter().map(RecipientView::from).collect())
        }
        .await;
        self.settle(a, r).await
    }

    /// Revoke a recipient's key (notices already owed to it are still sent).
    pub async fn revoke_recipient(&self, c: &Caller, code: &TenantCode, id: &RecipientId) -> Result<(), CoreError> {
        let a = self.audit(c, "recipient.revoke").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ManageApiKeys).await?;
            let row = self
                .store
                .recipient(id)
                .await?
                .filter(|r| &r.tenant == code)
                .ok_or(CoreError::NotFound("recipient"))?;
            let op = PrivacyOp::RevokeRecipient { id: row.id, at: self.clock.now() };
            self.apply_audited(vec![WriteOp::Privacy(op)], &a).await?;
            crate::keyring::write(&self.tokens).remove(&row.key_hash.0);
            Ok(())
        }
        .await;
        self.settle(a, r).await
    }

    /// The webhook secret of a recipient (for signing notices).
    pub(crate) fn open_webhook_secret(
        &self,
        ik: &IdentityKeys,
        row: &RecipientRow,
    ) -> Result<Secret<String>, CoreError> {
        let plain = ik.seal_key().open_field(&row.secret, &secret_aad(&row.tenant, &row.id))?;
        Ok(Secret::new(String::from_utf8(plain.to_vec()).map_err(|_| CoreError::Integrity)?))
    }

    /// Record that fields of a subject's records were given to a recipient.
    pub async fn disclose(
        &self,
        c: &Caller,
        code: &TenantCode,
        subject: &Pseudonym,
        req: NewDisclosure,
    ) -> Result<DisclosureView, CoreError> {
        let a = self.audit(c, "disclosure.create").tenant(code).subject(Some(subject)).collection(&req.collection);
        let r = async {
            let ctx = self.ctx(&c.principal, code, Action::WriteRecords).await?;
            if self.visible_subject(&c.principal, code, subject).await? != SubjectState::Active {
                return Err(CoreError::Conflict("the subject is locked for erasure".into()));
            }
            self.store
                .recipient(&req.recipient)
                .await?
                .filter(|r| &r.tenant == code && r.revoked_at.is_none())
                .ok_or(CoreError::NotFound("recipient"))?;
            let schema = self.schema(code, &req.collection).await?;
            let fields: BTreeSet<FieldName> = req.fields.into_iter().collect();
            if fields.is_empty() || fields.iter().any(|f| !schema.fields.contains_key(f)) {
                return Err(CoreError::invalid("fields", "one or more fields of the collection"));
            }
            let live = self.live_subject_records(&ctx, subject, &req.collection).await?;
            let records = match req.records {
                Some(ids) => {
                    if ids.is_empty() || ids.len() > MAX_DISCLOSED_RECORDS || ids.iter().any(|id| !live.contains(id)) {
                        return Err(CoreError::invalid("records", "records of this subject in the collection"));
                    }
                    ids.into_iter().collect::<BTreeSet<_>>().into_iter().collect()
                }
                None => live.into_iter().take(MAX_DISCLOSED_RECORDS).collect(),
            };
            let row = DisclosureRow {
                id: DisclosureId::generate()?,
                tenant: code.clone(),
                subject: subject.clone(),
                recipient: req.recipient,
                collection: req.collection.clone(),
                fields: fields.into_iter().collect(),
                records,
                at: self.clock.now(),
            };
            let view = DisclosureView::from(row.clone());
            self.apply_audited(vec![WriteOp::Privacy(PrivacyOp::InsertDisclosure(row))], &a).await?;
            Ok(view)
        }
        .await;
        self.settle(a, r).await
    }

    async fn live_subject_records(
        &self,
        ctx: &TenantCtx,
        subject: &Pseudonym,
        collection: &CollectionName,
    ) -> Result<BTreeSet<RecordId>, CoreError> {
        let mut out = BTreeSet::new();
        let mut after: Option<RecordId> = None;
        loop {
            let filter = crate::store::RecordFilter::Subject(collection.clone(), subject.clone());
            let rows = self
                .store
                .list_records(&ctx.tenant.code, &filter, after.as_ref(), 500, crate::store::Visibility::Live)
                .await?;
            let Some(last) = rows.last().map(|r| r.meta.id.clone()) else { break };
            out.extend(rows.into_iter().map(|r| r.meta.id));
            after = Some(last);
        }
        Ok(out)
    }

    /// A subject's disclosures (request handlers).
    pub async fn subject_disclosures(
        &self,
        c: &Caller,
        code: &TenantCode,
        subject: &Pseudonym,
    ) -> Result<Vec<DisclosureView>, CoreError> {
        let a = self.audit(c, "disclosure.list").tenant(code).subject(Some(subject));
        let r = async {
            self.ctx(&c.principal, code, Action::ReadRecords).await?;
            self.visible_subject(&c.principal, code, subject).await?;
            let rows = self.store.disclosures(code, subject).await?;
            self.record_read(&a).await?;
            Ok(rows.into_iter().map(DisclosureView::from).collect())
        }
        .await;
        self.settle(a, r).await
    }

    /// What was disclosed to the calling recipient, of live subjects only.
    pub async fn recipient_disclosures(
        &self,
        c: &Caller,
        code: &TenantCode,
        after: Option<&DisclosureId>,
        limit: u32,
    ) -> Result<Vec<DisclosureView>, CoreError> {
        let mut a = self.audit(c, "recipient.disclosures").tenant(code);
        let r = async {
            self.keys()?;
            let me = recipient_of(&c.principal, code)?;
            let rows = self.store.disclosures_to(&me, after, limit.clamp(1, 500)).await?;
            let mut out = Vec::with_capacity(rows.len());
            for d in rows {
                if self.store.subject_state(code, &d.subject).await? == Some(SubjectState::Active) {
                    out.push(DisclosureView::from(d));
                }
            }
            a.set_count(out.len());
            self.record_read(&a).await?;
            Ok(out)
        }
        .await;
        self.settle(a, r).await
    }

    /// The disclosed fields of a live subject's disclosed records, for the calling
    /// recipient (404 for a subject never disclosed to it, or locked).
    pub async fn recipient_read(
        &self,
        c: &Caller,
        code: &TenantCode,
        subject: &Pseudonym,
    ) -> Result<Disclosed, CoreError> {
        let mut a = self.audit(c, "recipient.read").tenant(code).subject(Some(subject));
        let r = async {
            let keys = self.keys()?;
            let me = recipient_of(&c.principal, code)?;
            if self.store.subject_state(code, subject).await? != Some(SubjectState::Active) {
                return Err(CoreError::NotFound("subject"));
            }
            let out = self.disclosed_to(&keys, code, subject, &me, false).await?;
            a.set_count(out.records.len());
            self.record_read(&a).await?;
            Ok(out)
        }
        .await;
        self.settle(a, r).await
    }

    /// During an erasure's grace window, what the calling recipient holds of the
    /// subject, so it can retrieve what it needs; nothing once purged or cancelled.
    pub async fn recipient_erasure_read(
        &self,
        c: &Caller,
        code: &TenantCode,
        request: &DsrId,
    ) -> Result<Disclosed, CoreError> {
        let mut a = self.audit(c, "recipient.erasure-read").tenant(code);
        let r = async {
            let keys = self.keys()?;
            let me = recipient_of(&c.principal, code)?;
            let dsr =
                self.store.dsr(request).await?.filter(|d| &d.tenant == code).ok_or(CoreError::NotFound("request"))?;
            let owed = self.store.notices(request).await?.iter().any(|n| n.recipient == me);
            let subject = match (&dsr.subject, dsr.state, owed) {
                (Some(s), DsrState::Locked, true) => s.clone(),
                _ => return Err(CoreError::NotFound("request")),
            };
            a.set_subject(&subject);
            let out = self.disclosed_to(&keys, code, &subject, &me, true).await?;
            a.set_count(out.records.len());
            self.record_read(&a).await?;
            Ok(out)
        }
        .await;
        self.settle(a, r).await
    }

    /// The recipient confirms it received an erasure notice.
    pub async fn acknowledge_notice(&self, c: &Caller, code: &TenantCode, request: &DsrId) -> Result<(), CoreError> {
        let a = self.audit(c, "erasure.acknowledge").tenant(code);
        let r = async {
            self.keys()?;
            let me = recipient_of(&c.principal, code)?;
            let dsr =
                self.store.dsr(request).await?.filter(|d| &d.tenant == code).ok_or(CoreError::NotFound("request"))?;
            let now = self.clock.now();
            let ops = vec![
                WriteOp::Privacy(PrivacyOp::AcknowledgeNotice {
                    request: dsr.id.clone(),
                    recipient: me.clone(),
                    at: now,
                }),
                WriteOp::Privacy(PrivacyOp::DsrEvent {
                    id: dsr.id,
                    event: crate::store::DsrEvent {
                        at: now.0,
                        event: format!("acknowledged:{me}"),
                        by: me.to_string(),
                    },
                }),
            ];
            match self.apply_audited(ops, &a).await {
                Err(crate::store::StoreError::NotFound(_)) => Err(CoreError::NotFound("request")),
                other => Ok(other?),
            }
        }
        .await;
        self.settle(a, r).await
    }

    /// Open the disclosed fields of the records disclosed to `me` (live records only,
    /// unless `locked_too` during an erasure's grace window).
    async fn disclosed_to(
        &self,
        keys: &crate::keyring::Keyring,
        code: &TenantCode,
        subject: &Pseudonym,
        me: &RecipientId,
        locked_too: bool,
    ) -> Result<Disclosed, CoreError> {
        let mut wanted: BTreeMap<RecordId, (CollectionName, BTreeSet<FieldName>)> = BTreeMap::new();
        for d in self.store.disclosures(code, subject).await?.into_iter().filter(|d| &d.recipient == me) {
            for id in d.records {
                wanted
                    .entry(id)
                    .or_insert_with(|| (d.collection.clone(), BTreeSet::new()))
                    .1
                    .extend(d.fields.iter().cloned());
            }
        }
        if wanted.is_empty() {
            return Err(CoreError::NotFound("subject"));
        }
        let mut records = Vec::new();
        for (id, (coll, fields)) in wanted {
            let Some(row) = self.store.get_record(code, &coll, &id).await? else { continue };
            if row.meta.subject.as_ref() != Some(subject) || (row.meta.hidden && !locked_too) {
                continue;
            }
            let meta = row.meta.clone();
            let mut out = Map::new();
            for f in row.fields.iter().filter(|f| fields.contains(&f.field)) {
                let plain = self.open_field(keys, &meta, f).await?;
                let v: Value = serde_json::from_slice(&plain).map_err(|_| CoreError::Integrity)?;
                out.insert(f.field.as_str().to_owned(), v);
            }
            records.push((coll, id, out));
        }
        Ok(Disclosed { subject: subject.clone(), records })
    }
}
