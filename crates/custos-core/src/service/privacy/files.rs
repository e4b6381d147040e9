//! Encrypted files: uploads are sealed chunk by chunk as they stream in (64 KiB
//! chunks, each bound to the file, its position and whether it is the last), checked
//! against a size limit and a content-type allow-list (the declared type must match
//! the content's first bytes), stored in one write, and expire by their kind.

use super::super::{Caller, Vault};
use super::sees_locked;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::{FileId, Pseudonym, Purpose, TenantCode};
use crate::keyring::TenantKeys;
use crate::policy::Action;
use crate::store::{FieldKey, FileRow, PrivacyOp, Store, SubjectState, WriteOp};
use custos_crypto::{FieldAad, KeyScope, Sealed, SubjectKey};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Plaintext bytes per sealed chunk.
pub(crate) const CHUNK: usize = 64 * 1024;

/// A file to upload.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Kind (decides retention): one of the configured kinds.
    pub kind: String,
    /// Declared content type.
    pub content_type: String,
    /// File name (sealed like the content).
    pub name: String,
    /// The subject the file belongs to (sealed under its key).
    pub subject: Option<Pseudonym>,
}

/// A stored file's metadata, opened for a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileView {
    /// Id.
    pub id: FileId,
    /// Subject.
    pub subject: Option<Pseudonym>,
    /// Kind.
    pub kind: String,
    /// Content type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// File name.
    pub name: String,
    /// Created.
    pub created_at: Timestamp,
    /// Purged at this time.
    pub expires_at: Option<Timestamp>,
    /// Locked (deleted or its subject's erasure pending).
    pub hidden: bool,
}

#[derive(Clone)]
enum FileKey {
    Subject(Arc<SubjectKey>),
    Tenant(Arc<TenantKeys>),
}

impl FileKey {
    fn field_key(&self) -> FieldKey {
        match self {
            FileKey::Subject(_) => FieldKey::Subject,
            FileKey::Tenant(t) => FieldKey::Tenant(t.key.version()),
        }
    }

    fn data_key(&self) -> &custos_crypto::DataKey {
        match self {
            FileKey::Subject(k) => k.data_key(),
            FileKey::Tenant(t) => t.key.data_key(),
        }
    }
}

fn aad<'a>(tenant: &'a TenantCode, id: &'a FileId, part: &'a str, key: FieldKey) -> FieldAad<'a> {
    FieldAad {
        tenant: tenant.as_str(),
        collection: "_file",
        record: id.as_str(),
        field: part,
        scope: match key {
            FieldKey::Subject => KeyScope::Subject,
            FieldKey::Tenant(v) => KeyScope::Tenant(v),
        },
    }
}

fn chunk_part(n: u32, last: bool) -> String {
    if last { format!("c{n}.last") } else { format!("c{n}") }
}

/// Whether the content's first bytes fit the declared type.
fn sniff_ok(content_type: &str, head: &[u8]) -> bool {
    let text = |h: &[u8]| {
        let h = &h[..h.len().min(4096)];
        !h.contains(&0)
            && (std::str::from_utf8(h).is_ok() || std::str::from_utf8(&h[..h.len().saturating_sub(3)]).is_ok())
    };
    match content_type {
        "application/pdf" => head.starts_with(b"%PDF-"),
        "image/png" => head.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]),
        "image/jpeg" => head.starts_with(&[0xff, 0xd8, 0xff]),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => head.starts_with(b"PK\x03\x04"),
        "application/json" => text(head) && matches!(head.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'[')),
        "text/csv" | "text/plain" => text(head),
        // A configured type with no known signature: never markup or an executable.
        _ => !(head.starts_with(b"MZ") || head.starts_with(b"\x7fELF") || head.trim_ascii_start().starts_with(b"<")),
    }
}

/// An upload in progress: bytes are sealed as whole chunks arrive.
pub struct FileUpload {
    row: FileRow,
    key: FileKey,
    chunks: Vec<Sealed>,
    buf: Zeroizing<Vec<u8>>,
    head: Vec<u8>,
    max: u64,
    caller: Caller,
}

impl std::fmt::Debug for FileUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileUpload").field("id", &self.row.id).field("size", &self.row.size).finish_non_exhaustive()
    }
}

impl FileUpload {
    /// Add bytes; whole chunks are sealed at once. Past the size limit: `TooLarge`.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), CoreError> {
        self.row.size = self.row.size.saturating_add(bytes.len() as u64);
        if self.row.size > self.max {
            return Err(CoreError::TooLarge(self.max));
        }
        if self.head.len() < 4096 {
            let take = (4096 - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        self.buf.extend_from_slice(bytes);
        while self.buf.len() > CHUNK {
            let rest = Zeroizing::new(self.buf.split_off(CHUNK));
            self.seal_chunk(false)?;
            self.buf = rest;
        }
        Ok(())
    }

    fn seal_chunk(&mut self, last: bool) -> Result<(), CoreError> {
        let n = u32::try_from(self.chunks.len()).map_err(|_| CoreError::TooLarge(self.max))?;
        let part = chunk_part(n, last);
        let ct = self
            .key
            .data_key()
            .seal_field(&self.buf, &aad(&self.row.tenant, &self.row.id, &part, self.key.field_key()))?;
        self.chunks.push(ct);
        Ok(())
    }
}

/// A download in progress: chunks are read and opened one at a time.
pub struct FileDownload {
    /// The file.
    pub view: FileView,
    store: Arc<dyn Store>,
    key: FileKey,
    tenant: TenantCode,
    chunks: u32,
    next: u32,
}

impl std::fmt::Debug for FileDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDownload").field("id", &self.view.id).finish_non_exhaustive()
    }
}

impl FileDownload {
    /// The next chunk of plaintext, or `None` at the end. A missing, moved or altered
    /// chunk fails with `Integrity`.
    pub async fn next_chunk(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, CoreError> {
        if self.next >= self.chunks {
            return Ok(None);
        }
        let n = self.next;
        let ct = self.store.file_chunk(&self.view.id, n).await?.ok_or(CoreError::Integrity)?;
        let part = chunk_part(n, n + 1 == self.chunks);
        let plain = self.key.data_key().open_field(&ct, &aad(&self.tenant, &self.view.id, &part, self.key.field_key()))
            .map_err(|_| {
                tracing::error!(target: "custos::integrity", tenant = %self.tenant, file = %self.view.id, chunk = n, "file chunk failed to authenticate");
                CoreError::Integrity
            })?;
        self.next += 1;
        Ok(Some(plain))
    }
}

impl Vault {
    async fn file_key(
        &self,
        keys: &crate::keyring::Keyring,
        code: &TenantCode,
        subject: Option<&Pseudonym>,
        key: Option<FieldKey>,
    ) -> Result<FileKey, CoreError> {
        match (subject, key) {
            (Some(s), None | Some(FieldKey::Subject)) => Ok(FileKey::Subject(self.subject_key(keys, code, s).await?)),
            (_, Some(FieldKey::Tenant(v))) => Ok(FileKey::Tenant(self.tenant_keys(keys, code, v).await?)),
            (None, _) => {
                let v = self.tenant_row(code).await?.key_version;
                Ok(FileKey::Tenant(self.tenant_keys(keys, code, v).await?))
            }
        }
    }

    /// Start an upload: checks the caller, kind, content type, name and subject.
    pub async fn begin_upload(&self, c: &Caller, code: &TenantCode, req: NewFile) -> Result<FileUpload, CoreError> {
        let a = self.audit(c, "file.upload").tenant(code).subject(req.subject.as_ref());
        let r = async {
            let ctx = self.ctx(&c.principal, code, Action::WriteRecords).await?;
            let cfg = self.privacy_config();
            let Some(retention) = cfg.file_kinds.get(&req.kind) else {
                return Err(CoreError::invalid("kind", "not a configured file kind"));
            };
            let content_type = req.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if !cfg.content_types.iter().any(|t| t == &content_type) {
                return Err(CoreError::UnsupportedType);
            }
            let name = req.name.trim();
            if name.is_empty() || name.len() > 255 || name.chars().any(|ch| ch.is_control() || ch == '/' || ch == '\\')
            {
                return Err(CoreError::invalid("name", "1-255 bytes, no control characters or slashes"));
            }
            if let Some(s) = &req.subject
                && self.store.subject_state(code, s).await? != Some(SubjectState::Active)
            {
                return Err(CoreError::NotFound("subject"));
            }
            let key = self.file_key(&ctx.keys, code, req.subject.as_ref(), None).await?;
            let now = self.clock.now();
            let id = FileId::generate(now)?;
            let name_ct = key.data_key().seal_field(name.as_bytes(), &aad(code, &id, "name", key.field_key()))?;
            Ok(FileUpload {
                row: FileRow {
                    id,
                    tenant: code.clone(),
                    subject: req.subject,
                    kind: req.kind.clone(),
                    content_type,
                    size: 0,
                    chunks: 0,
                    key: key.field_key(),
                    name: name_ct,
                    created_at: now,
                    expires_at: retention.map(|d| now.plus_days(i64::from(d))),
                    hidden: false,
                    purge_after: None,
                },
                key,
                chunks: Vec::new(),
                buf: Zeroizing::new(Vec::with_capacity(CHUNK)),
                head: Vec::new(),
                max: cfg.max_file_bytes,
                caller: c.clone(),
            })
        }
        .await;
        self.settle(a, r).await
    }

    /// Finish an upload: the last chunk is sealed, the content checked against the
    /// declared type, and the file stored with its audit entry in one write.
    pub async fn finish_upload(&self, mut up: FileUpload) -> Result<FileView, CoreError> {
        let mut a = self.audit(&up.caller, "file.upload").tenant(&up.row.tenant).subject(up.row.subject.as_ref());
        a.set_file(&up.row.id);
        let r = async {
            if up.row.size == 0 {
                return Err(CoreError::invalid("body", "an empty file"));
            }
            if !sniff_ok(&up.row.content_type, &up.head) {
                return Err(CoreError::invalid("content", "does not match the declared content type"));
            }
            up.seal_chunk(true)?;
            up.row.chunks = u32::try_from(up.chunks.len()).map_err(|_| CoreError::TooLarge(up.max))?;
            let name = Zeroizing::new(
                up.key
                    .data_key()
                    .open_field(&up.row.name, &aad(&up.row.tenant, &up.row.id, "name", up.key.field_key()))?,
            );
            let view = FileView {
                id: up.row.id.clone(),
                subject: up.row.subject.clone(),
                kind: up.row.kind.clone(),
                content_type: up.row.content_type.clone(),
                size: up.row.size,
                name: String::from_utf8(name.to_vec()).map_err(|_| CoreError::Integrity)?,
                created_at: up.row.created_at,
                expires_at: up.row.expires_at,
                hidden: false,
            };
            let chunks = std::mem::take(&mut up.chunks);
            let op = PrivacyOp::InsertFile { row: up.row.clone(), chunks };
            match self.apply_audited(vec![WriteOp::Privacy(op)], &a).await {
                Err(crate::store::StoreError::NotFound(_)) => Err(CoreError::NotFound("subject")),
                other => other.map(|()| view).map_err(Into::into),
            }
        }
        .await;
        self.settle(a, r).await
    }

    async fn file_row_for(&self, c: &Caller, code: &TenantCode, id: &FileId) -> Result<FileRow, CoreError> {
        let row = self.store.file(code, id).await?.ok_or(CoreError::NotFound("file"))?;
        if row.hidden && !sees_locked(&c.principal) {
            return Err(CoreError::NotFound("file"));
        }
        Ok(row)
    }

    /// Open a file for download; its read is audited before the first byte. A subject's
    /// file is personal data: a purpose is required.
    pub async fn open_file(
        &self,
        c: &Caller,
        code: &TenantCode,
        id: &FileId,
        purpose: Option<&Purpose>,
    ) -> Result<FileDownload, CoreError> {
        let mut a = self.audit(c, "file.read").tenant(code).purpose(purpose);
        a.set_file(id);
        let r = async {
            let ctx = self.ctx(&c.principal, code, Action::ReadRecords).await?;
            let row = self.file_row_for(c, code, id).await?;
            if let Some(s) = &row.subject {
                a.set_subject(s);
                if purpose.is_none() {
                    return Err(CoreError::PurposeRequired);
                }
            }
            let key = self.file_key(&ctx.keys, code, row.subject.as_ref(), Some(row.key)).await?;
            let view = self.file_view(&key, &row)?;
            a.set_count(1);
            self.record_read(&a).await?;
            Ok(FileDownload { view, store: self.store.clone(), key, tenant: code.clone(), chunks: row.chunks, next: 0 })
        }
        .await;
        self.settle(a, r).await
    }

    fn file_view(&self, key: &FileKey, row: &FileRow) -> Result<FileView, CoreError> {
        let name = Zeroizing::new(key.data_key().open_field(&row.name, &aad(&row.tenant, &row.id, "name", row.key))?);
        Ok(FileView {
            id: row.id.clone(),
            subject: row.subject.clone(),
            kind: row.kind.clone(),
            content_type: row.content_type.clone(),
            size: row.size,
            name: String::from_utf8(name.to_vec()).map_err(|_| CoreError::Integrity)?,
            created_at: row.created_at,
            expires_at: row.expires_at,
            hidden: row.hidden,
        })
    }

    /// Delete a file: locked at once, purged after the configured delay.
    pub async fn delete_file(&self, c: &Caller, code: &TenantCode, id: &FileId) -> Result<(), CoreError> {
        let mut a = self.audit(c, "file.delete").tenant(code);
        a.set_file(id);
        let r = async {
            self.ctx(&c.principal, code, Action::WriteRecords).await?;
            let row = self.store.file(code, id).await?.ok_or(CoreError::NotFound("file"))?;
            if row.hidden {
                return Err(CoreError::NotFound("file"));
            }
            let op = PrivacyOp::HideFile {
                tenant: code.clone(),
                id: id.clone(),
                purge_after: self.delete_purge_time(self.clock.now()),
            };
            match self.apply_audited(vec![WriteOp::Privacy(op)], &a).await {
                Err(crate::store::StoreError::NotFound(_)) => Err(CoreError::NotFound("file")),
                other => Ok(other?),
            }
        }
        .await;
        self.settle(a, r).await
    }

    /// A subject's files with their content (for the export), opened with its key.
    pub(crate) async fn subject_file_contents(
        &self,
        keys: &crate::keyring::Keyring,
        code: &TenantCode,
        subject: &Pseudonym,
    ) -> Result<Vec<(FileView, Zeroizing<Vec<u8>>)>, CoreError> {
        let mut out = Vec::new();
        for row in self.store.subject_files(code, subject).await? {
            let key = self.file_key(keys, code, Some(subject), Some(row.key)).await?;
            let view = self.file_view(&key, &row)?;
            let mut dl = FileDownload {
                view: view.clone(),
                store: self.store.clone(),
                key,
                tenant: code.clone(),
                chunks: row.chunks,
                next: 0,
            };
            let mut content = Zeroizing::new(Vec::with_capacity(usize::try_from(row.size).unwrap_or(0)));
            while let Some(c) = dl.next_chunk().await? {
                content.extend_from_slice(&c);
            }
            out.push((view, content));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::sniff_ok;

    #[test]
    fn declared_type_must_match_content() {
        assert!(sniff_ok("application/pdf", b"%PDF-1.7\n..."));
        assert!(!sniff_ok("application/pdf", b"<html>"));
        assert!(sniff_ok("text/csv", "name,score\nÅse,3\n".as_bytes()));
        assert!(!sniff_ok("text/csv", b"MZ\x90\x00\x03\x00"));
        assert!(sniff_ok("image/png", &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0]));
        assert!(!sniff_ok("image/jpeg", b"GIF89a"));
        assert!(sniff_ok("application/json", b"  {\"a\":1}"));
        assert!(!sniff_ok("application/json", b"alert(1)"));
    }
}
