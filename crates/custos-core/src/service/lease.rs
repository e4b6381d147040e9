//! Job leases: several nodes serve one zone, and a zone's background job (purges,
//! retention, rewrap, checkpoints, backups, exporters, alerts) runs on the one node
//! that holds its lease in the zone's database. A lease lapses unless renewed, so a
//! node that dies hands its jobs on within one lease period.

use super::Vault;
use crate::clock::Timestamp;
use crate::store::{StoreError, WriteOp};
use std::time::Duration;

impl Vault {
    /// This node's id.
    pub fn node_id(&self) -> String {
        crate::keyring::read(&self.node).clone()
    }

    /// Give this node a lasting id (kept in its data directory), so a restarted node
    /// takes its own leases back at once instead of waiting for them to lapse.
    pub fn set_node_id(&self, id: &str) {
        id.clone_into(&mut crate::keyring::write(&self.node));
    }

    /// Take or renew the lease for `job` for `ttl`: `true` when this node may run it
    /// now. Any doubt (the store failing) is a `false`: a job skipped is retried, a job
    /// run twice may not be harmless.
    pub async fn hold_lease(&self, job: &str, ttl: Duration) -> bool {
        let now = self.clock.now();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        // Renewed less than a third of the period ago: still ours without asking.
        if crate::keyring::read(&self.leases).get(job).is_some_and(|at| now.0 >= at.0 && now.0 - at.0 < ttl_ms / 3) {
            return true;
        }
        let until = Timestamp(now.0.saturating_add(ttl_ms));
        let op = WriteOp::TakeLease { name: job.to_owned(), holder: self.node_id(), now, until };
        match self.store.apply(vec![op]).await {
            Ok(()) => {
                crate::keyring::write(&self.leases).insert(job.to_owned(), now);
                true
            }
            Err(StoreError::Conflict(_)) => {
                crate::keyring::write(&self.leases).remove(job);
                false
            }
            Err(e) => {
                crate::keyring::write(&self.leases).remove(job);
                tracing::warn!(job, error = %e, "cannot take the job lease; skipping this run");
                false
            }
        }
    }
}
