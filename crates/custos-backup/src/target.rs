//! Where a zone's backups live: a local directory or an S3-compatible bucket, through
//! one object-store interface. Objects sit under the zone's name; a backup is its
//! payload (`<id>.age`) and its manifest (`<id>.manifest.json`), written payload first so
//! a manifest never names a payload that is not there.

use crate::BackupError;
use crate::manifest::{Manifest, valid_id};
use futures_util::StreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A backup target for one zone.
#[derive(Clone)]
pub struct Target {
    store: Arc<dyn ObjectStore>,
    zone: String,
    describe: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.describe)
    }
}

fn obj(e: object_store::Error) -> BackupError {
    match e {
        object_store::Error::NotFound { .. } => BackupError::NotFound("the backup is not at the target".into()),
        other => BackupError::Target(other.to_string()),
    }
}

impl Target {
    /// Open a target: `s3://bucket[/prefix]` (credentials, region and endpoint from the
    /// standard `AWS_*` environment variables) or a directory path (created if missing).
    pub fn open(spec: &str, zone: &str) -> Result<Self, BackupError> {
        Self::open_with(spec, zone, &[])
    }

    /// The same, with S3 settings (`aws_endpoint`, `aws_region`, `aws_access_key_id`,
    /// `aws_secret_access_key`, `aws_allow_http`, …) given here over the environment's.
    pub fn open_with(spec: &str, zone: &str, s3: &[(&str, &str)]) -> Result<Self, BackupError> {
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(BackupError::Invalid("an s3:// target needs a bucket name".into()));
            }
            let mut builder = object_store::aws::AmazonS3Builder::from_env();
            for (k, v) in s3 {
                let key = k
                    .parse::<object_store::aws::AmazonS3ConfigKey>()
                    .map_err(|_| BackupError::Invalid(format!("unknown S3 setting {k}")))?;
                builder = builder.with_config(key, *v);
            }
            let store = builder
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| BackupError::Invalid(format!("S3 target: {e}")))?;
            let prefix = prefix.trim_matches('/');
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(store)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
            };
            return Ok(Self { store, zone: zone.to_owned(), describe: format!("s3://{rest}") });
        }
        let dir = Path::new(spec.strip_prefix("dir:").unwrap_or(spec));
        std::fs::create_dir_all(dir)
            .map_err(|e| BackupError::Target(format!("cannot create the backup directory {}: {e}", dir.display())))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| BackupError::Target(e.to_string()))?
            .with_automatic_cleanup(true);
        Ok(Self { store: Arc::new(store), zone: zone.to_owned(), describe: dir.display().to_string() })
    }

    /// A human-readable description (directory or bucket URL).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    fn key(&self, name: &str) -> ObjPath {
        ObjPath::from(format!("{}/{name}", self.zone))
    }

    /// Where an object is, for people: `<target>/<zone>/<name>`.
    pub fn location(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.describe.trim_end_matches('/'), self.zone)
    }

    /// Upload a local file as `name`, in parts.
    pub async fn put_file(&self, local: &Path, name: &str) -> Result<(), BackupError> {
        let upload = self.store.put_multipart(&self.key(name)).await.map_err(obj)?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, 8 << 20);
        let mut f = tokio::fs::File::open(local).await?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            w.wait_for_capacity(4).await.map_err(obj)?;
            w.write(&buf[..n]);
        }
        w.finish().await.map_err(obj)?;
        Ok(())
    }

    /// Upload small bytes as `name`.
    pub async fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<(), BackupError> {
        self.store.put(&self.key(name), bytes.into()).await.map_err(obj)?;
        Ok(())
    }

    /// Download `name` into a local file; returns its size.
    pub async fn get_file(&self, name: &str, local: &Path) -> Result<u64, BackupError> {
        let mut stream = self.store.get(&self.key(name)).await.map_err(obj)?.into_stream();
        let mut f = tokio::fs::File::create(local).await?;
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(obj)?;
            n += chunk.len() as u64;
            f.write_all(&chunk).await?;
        }
        f.flush().await?;
        f.sync_all().await?;
        Ok(n)
    }

    /// Read a small object.
    pub async fn get_bytes(&self, name: &str) -> Result<Vec<u8>, BackupError> {
        let r = self.store.get(&self.key(name)).await.map_err(obj)?;
        if r.meta.size > 1 << 20 {
            return Err(BackupError::Tampered(format!("{name} is too large for a manifest")));
        }
        Ok(r.bytes().await.map_err(obj)?.to_vec())
    }

    /// An object's size.
    pub async fn size(&self, name: &str) -> Result<u64, BackupError> {
        Ok(self.store.head(&self.key(name)).await.map_err(obj)?.size)
    }

    /// Delete an object; one that is already gone is not an error.
    pub async fn delete(&self, name: &str) -> Result<(), BackupError> {
        match self.store.delete(&self.key(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(obj(e)),
        }
    }

    /// Every manifest of the zone, parsed (not yet verified), oldest first. Objects that
    /// are not backups are left alone.
    pub async fn manifests(&self) -> Result<Vec<Manifest>, BackupError> {
        let prefix = ObjPath::from(self.zone.as_str());
        let mut list = self.store.list(Some(&prefix));
        let mut ids = Vec::new();
        while let Some(meta) = list.next().await {
            let meta = meta.map_err(obj)?;
            if let Some(id) = meta.location.filename().and_then(|f| f.strip_suffix(".manifest.json"))
                && valid_id(id)
            {
                ids.push(id.to_owned());
            }
        }
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.get_bytes(&Manifest::file_name(&id)).await.and_then(|b| Manifest::parse(&b)) {
                Ok(m) if m.id == id => out.push(m),
                Ok(_) | Err(_) => tracing::warn!(backup = %id, "a manifest at the backup target does not parse"),
            }
        }
        out.sort_by_key(|m| m.created_at);
        Ok(out)
    }
}
