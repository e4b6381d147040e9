//! WAL checkpoints off the write path: the writer connection has auto-checkpointing
//! off, and this thread copies the WAL back into the database twice a second (PASSIVE,
//! so it never blocks the writer or readers). It stops when the store is dropped.

use custos_core::store::StoreError;
use rusqlite::Connection;
use std::sync::mpsc;
use std::time::Duration;

/// Handle to the checkpoint thread; dropping it stops the thread.
pub(crate) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    pub(crate) fn start(conn: Connection) -> Result<Self, StoreError> {
        let (stop, rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("custos-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_millis(500)) {
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                    }
                }
                // Final full checkpoint so a clean shutdown leaves a small WAL.
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            })
            .map_err(|e| StoreError::Backend(format!("cannot start checkpoint thread: {e}")))?;
        Ok(Self { _stop: stop })
    }
}
