//! Group commit: one writer thread owns the write connection. Concurrent write sets are
//! queued; the thread takes all that are waiting (up to a limit), applies each in its own
//! savepoint inside one transaction, commits once (one fsync), and only then answers
//! each caller. A set that fails rolls back to its savepoint alone. On PostgreSQL a
//! broken session is replaced before the next batch; the batch it broke is answered
//! with an error, never acknowledged.

use crate::query::apply;
use crate::sql::{Connection, backend};
use custos_core::store::{StoreError, WriteOp};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

type Reopen = Box<dyn Fn() -> Result<Connection, StoreError> + Send>;

struct Job {
    ops: Vec<WriteOp>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Handle to the writer thread; dropping it stops the thread after the queue drains.
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
    /// Longest group commit since last taken, in microseconds.
    longest: Arc<AtomicU64>,
}

impl Writer {
    pub(crate) fn start(conn: Connection, max_batch: usize, reopen: Option<Reopen>) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>(8192);
        let longest = Arc::new(AtomicU64::new(0));
        let l = longest.clone();
        std::thread::Builder::new()
            .name("custos-store-writer".into())
            .spawn(move || run(conn, reopen, rx, max_batch.max(1), &l))
            .map_err(|e| StoreError::Backend(format!("cannot start writer thread: {e}")))?;
        Ok(Self { tx, longest })
    }

    /// Queue a write set and wait until its batch is durable.
    pub(crate) async fn submit(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job { ops, reply }).await.map_err(|_| StoreError::Backend("writer stopped".into()))?;
        rx.await.map_err(|_| StoreError::Backend("writer dropped the request".into()))?
    }

    /// The longest group commit since the last call.
    pub(crate) fn take_longest(&self) -> Duration {
        Duration::from_micros(self.longest.swap(0, Ordering::Relaxed))
    }
}

fn run(
    mut conn: Connection,
    reopen: Option<Reopen>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    longest: &AtomicU64,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        if let (true, Some(open)) = (conn.is_closed(), &reopen) {
            match open() {
                Ok(c) => conn = c,
                Err(e) => tracing::error!(error = %e, "store writer cannot reconnect; will retry"),
            }
        }
        jobs.push(first);
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let start = Instant::now();
        let results = commit_batch(&conn, &jobs);
        longest.fetch_max(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        for (job, result) in jobs.drain(..).zip(results) {
            // A caller that went away (client disconnected) no longer needs the answer.
            let _ = job.reply.send(result);
        }
    }
}

fn commit_batch(conn: &Connection, jobs: &[Job]) -> Vec<Result<(), StoreError>> {
    let fail_all = |e: StoreError| jobs.iter().map(|_| Err(StoreError::Backend(e.to_string()))).collect();
    if let Err(e) = conn.begin_write() {
        return fail_all(backend(e));
    }
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let r = conn.execute_batch("SAVEPOINT ws").map_err(backend).and_then(|()| apply::apply_ops(conn, &job.ops));
        let end = if r.is_ok() { "RELEASE ws" } else { "ROLLBACK TO ws; RELEASE ws" };
        if let Err(e) = conn.execute_batch(end) {
            let _ = conn.execute_batch("ROLLBACK");
            return fail_all(backend(e));
        }
        results.push(r);
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        tracing::error!(error = %e, "group commit failed; batch rolled back");
        let _ = conn.execute_batch("ROLLBACK");
        return fail_all(backend(e));
    }
    results
}
