//! Conformance across nodes: two stores open on one database (two `custos serve`
//! processes on one PostgreSQL zone, or two on one SQLite file) write at once. Every
//! acknowledged write is there exactly once, the audit trail is one chain, a lease goes
//! to one node, lockout counters count every attempt of both.

use crate::conformance::{R, check, code, tenant_ops};
use custos_core::audit::{AuditEntry, GENESIS, PrincipalKind, verify_chain};
use custos_core::clock::Timestamp;
use custos_core::ids::ZoneName;
use custos_core::store::{IdentityOp, Store, StoreError, ThrottlePolicy, WriteOp};
use std::sync::Arc;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn audit(n: u32, node: &str) -> WriteOp {
    let zone = ZoneName::parse("default").unwrap_or_else(|_| unreachable!("fixture zone"));
    let mut e = AuditEntry::new(Timestamp(1), zone, PrincipalKind::Operator, node.into(), "test.write");
    e.request_id = format!("{node}-{n}");
    WriteOp::Audit(Box::new(e))
}

/// Run every cross-node check on two stores over one (fresh) database.
pub async fn run_two_nodes(a: Arc<dyn Store>, b: Arc<dyn Store>) -> R {
    a.apply(tenant_ops("nodes")).await.map_err(err)?;
    one_chain_from_two_writers(&a, &b).await?;
    leases_go_to_one_node(&*a, &*b).await?;
    lockout_counts_every_attempt(&a, &b).await?;
    Ok(())
}

async fn one_chain_from_two_writers(a: &Arc<dyn Store>, b: &Arc<dyn Store>) -> R {
    let before = a.audit_head().await.map_err(err)?.map_or(0, |h| h.0);
    let mut tasks = Vec::new();
    for i in 0..300u32 {
        let (s, node) = if i % 2 == 0 { (a.clone(), "a") } else { (b.clone(), "b") };
        tasks.push(tokio::spawn(async move { s.apply(vec![audit(i, node)]).await.is_ok() }));
    }
    for t in tasks {
        check(t.await.map_err(err)?, "every audit append is acknowledged")?;
    }
    let all = b.audit_after(0, 10_000).await.map_err(err)?;
    check(verify_chain((0, GENESIS), &all).is_ok(), "the trail written by two nodes is one unbroken chain")?;
    let ours: Vec<_> = all.iter().filter(|e| e.seq > before).collect();
    check(ours.len() == 300, "300 acknowledged appends, 300 entries")?;
    let mut ids: Vec<&str> = ours.iter().map(|e| e.entry.request_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    check(ids.len() == 300, "each append is in the chain exactly once")?;
    Ok(())
}

async fn leases_go_to_one_node(a: &dyn Store, b: &dyn Store) -> R {
    let take = |holder: &str, now: i64| WriteOp::TakeLease {
        name: "job.purge".into(),
        holder: holder.into(),
        now: Timestamp(now),
        until: Timestamp(now + 1_000),
    };
    let (ra, rb) = tokio::join!(a.apply(vec![take("node-a", 10)]), b.apply(vec![take("node-b", 10)]));
    let granted = [ra.is_ok(), rb.is_ok()];
    check(granted.iter().filter(|g| **g).count() == 1, "a free lease goes to exactly one of two nodes")?;
    let (winner, loser) = if granted[0] { ("node-a", "node-b") } else { ("node-b", "node-a") };
    let (w, l): (&dyn Store, &dyn Store) = if granted[0] { (a, b) } else { (b, a) };
    check(w.apply(vec![take(winner, 500)]).await.is_ok(), "the holder renews its lease")?;
    check(
        matches!(l.apply(vec![take(loser, 1_499)]).await, Err(StoreError::Conflict("lease"))),
        "another node is refused until the lease expires",
    )?;
    check(l.apply(vec![take(loser, 1_500)]).await.is_ok(), "an expired lease passes to another node")?;
    check(
        matches!(w.apply(vec![take(winner, 1_600)]).await, Err(StoreError::Conflict("lease"))),
        "the old holder has lost it",
    )?;
    Ok(())
}

async fn lockout_counts_every_attempt(a: &Arc<dyn Store>, b: &Arc<dyn Store>) -> R {
    // Ten free attempts, then a lock: forty attempts from two nodes at once must admit
    // exactly ten, however they interleave.
    let policy = ThrottlePolicy { free: 10, base_ms: 60_000, max_ms: 60_000, window_ms: 600_000 };
    let key = [0x5a; 32];
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let op = WriteOp::Identity(IdentityOp::ThrottleAdmit { keys: vec![(key, policy)], now: Timestamp(1_000) });
        tasks.push(tokio::spawn(async move { s.apply(vec![op]).await }));
    }
    let mut admitted = 0;
    for t in tasks {
        match t.await.map_err(err)? {
            Ok(()) => admitted += 1,
            Err(StoreError::Locked { .. }) => {}
            Err(e) => return Err(format!("throttle: {e}")),
        }
    }
    check(admitted == 10, &format!("exactly the free attempts are admitted across nodes (got {admitted})"))?;
    let _ = code("nodes");
    Ok(())
}
