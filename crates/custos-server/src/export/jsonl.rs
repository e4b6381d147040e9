//! The JSON Lines exporter: one entry per line, fsynced per batch before the cursor
//! moves, rotated by size (`file` → `file.1` → … → `file.N`, the oldest dropped).

use custos_core::audit::ChainedEntry;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

pub(super) struct JsonlSink {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
}

impl JsonlSink {
    pub(super) fn new(path: PathBuf, max_bytes: u64, keep: u32) -> Self {
        Self { path, max_bytes, keep }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    async fn rotate(&self) -> std::io::Result<()> {
        if self.keep == 0 {
            return tokio::fs::remove_file(&self.path).await;
        }
        let _ = tokio::fs::remove_file(self.rotated(self.keep)).await;
        for n in (1..self.keep).rev() {
            let _ = tokio::fs::rename(self.rotated(n), self.rotated(n + 1)).await;
        }
        tokio::fs::rename(&self.path, self.rotated(1)).await
    }

    async fn open(&self) -> std::io::Result<(tokio::fs::File, u64)> {
        if let Some(dir) = self.path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let f = tokio::fs::OpenOptions::new().create(true).append(true).open(&self.path).await?;
        let size = f.metadata().await?.len();
        Ok((f, size))
    }

    /// Append the entries, rotating before a line that would take the file past the
    /// limit; everything written is on disk before this returns.
    pub(super) async fn deliver(&mut self, entries: &[ChainedEntry]) -> std::io::Result<()> {
        let (mut f, mut size) = self.open().await?;
        for e in entries {
            let mut line = super::entry_json(e);
            line.push('\n');
            if size > 0 && size + line.len() as u64 > self.max_bytes {
                f.sync_data().await?;
                drop(f);
                self.rotate().await?;
                (f, size) = self.open().await?;
            }
            f.write_all(line.as_bytes()).await?;
            size += line.len() as u64;
        }
        f.sync_data().await
    }
}
