//! A small pool of connections of either engine: idle connections are reused, a broken
//! PostgreSQL session is dropped, and a semaphore bounds how many are open at once.

use crate::sql::Connection;
use custos_core::store::StoreError;
use std::sync::{Arc, Mutex};

type Opener = Box<dyn Fn() -> Result<Connection, StoreError> + Send + Sync>;

/// Connections for reads.
pub(crate) struct Pool {
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
    open: Opener,
    /// Bounds concurrent connections (PostgreSQL servers cap sessions).
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
}

impl Pool {
    pub(crate) fn new(max: usize, open: Opener) -> Self {
        let max = max.max(1);
        Self { idle: Mutex::new(Vec::new()), max_idle: max, open, permits: Arc::new(tokio::sync::Semaphore::new(max)) }
    }

    /// A fresh connection, outside the pool (writer, snapshots).
    pub(crate) fn connect(&self) -> Result<Connection, StoreError> {
        (self.open)()
    }

    /// Run `f` on a pooled connection.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) if !c.is_closed() => c,
            _ => (self.open)()?,
        };
        let out = f(&conn);
        if !conn.is_closed() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < self.max_idle {
                idle.push(conn);
            }
        }
        out
    }
}

impl Drop for Pool {
    /// A PostgreSQL session says goodbye to its server on drop, which blocks: never on
    /// an async worker thread, so idle connections are dropped on a thread of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::Builder::new().name("custos-pool-close".into()).spawn(move || drop(idle));
        }
    }
}
