//! The hash chain. `hash(n) = SHA-256("custos/audit/v1" ‖ hash(n-1) ‖ canonical(n))`,
//! with `hash(0)` all zeros. The canonical encoding is documented in `docs/audit.md`:
//! seq and time as 8-byte big-endian integers, count as 4 bytes, then each text field
//! in a fixed order as a presence byte, a 4-byte length and its UTF-8 bytes.

use super::entry::{AuditEntry, ChainedEntry};
use aws_lc_rs::digest::{Context, SHA256};

/// The previous hash of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

fn text(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// The canonical encoding of entry `seq`.
pub fn canonical_bytes(seq: i64, e: &AuditEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&e.time.0.to_be_bytes());
    out.extend_from_slice(&e.count.to_be_bytes());
    text(&mut out, Some(e.zone.as_str()));
    text(&mut out, e.tenant.as_ref().map(|t| t.as_str()));
    text(&mut out, Some(e.principal_kind.as_str()));
    text(&mut out, Some(&e.principal_id));
    text(&mut out, Some(&e.action));
    text(&mut out, e.collection.as_ref().map(|c| c.as_str()));
    text(&mut out, e.record.as_ref().map(|r| r.as_str()));
    text(&mut out, e.subject.as_ref().map(|s| s.as_str()));
    text(&mut out, e.purpose.as_ref().map(|p| p.as_str()));
    text(&mut out, Some(e.outcome.as_str()));
    text(&mut out, e.reason.as_deref());
    text(&mut out, e.client.as_deref());
    text(&mut out, Some(&e.request_id));
    out
}

/// The hash of entry `seq` following `prev`.
pub fn chain_hash(prev: &[u8; 32], seq: i64, e: &AuditEntry) -> [u8; 32] {
    let mut ctx = Context::new(&SHA256);
    ctx.update(b"custos/audit/v1");
    ctx.update(prev);
    ctx.update(&canonical_bytes(seq, e));
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The first fault found by `verify_chain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFault {
    /// Sequence numbers skip (an entry deleted) or repeat/go back (inserted, reordered).
    Sequence {
        /// The sequence number expected here.
        expected: i64,
        /// The one found.
        found: i64,
    },
    /// The entry's `prev_hash` is not the previous entry's hash.
    Link {
        /// The entry.
        seq: i64,
    },
    /// The entry's hash does not match its content (edited).
    Content {
        /// The entry.
        seq: i64,
    },
}

impl ChainFault {
    /// The first bad sequence number.
    pub fn seq(&self) -> i64 {
        match self {
            ChainFault::Sequence { expected, .. } => *expected,
            ChainFault::Link { seq } | ChainFault::Content { seq } => *seq,
        }
    }

    /// A stable name of the fault kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ChainFault::Sequence { found, expected } if found > expected => "missing-entry",
            ChainFault::Sequence { .. } => "out-of-order-entry",
            ChainFault::Link { .. } => "broken-link",
            ChainFault::Content { .. } => "edited-entry",
        }
    }
}

/// Verify a run of entries that continues from `(prev_seq, prev_hash)`. Returns the
/// last `(seq, hash)` on success, or the first fault.
pub fn verify_chain<'a>(
    start: (i64, [u8; 32]),
    entries: impl IntoIterator<Item = &'a ChainedEntry>,
) -> Result<(i64, [u8; 32]), ChainFault> {
    let (mut seq, mut prev) = start;
    for e in entries {
        if e.seq != seq + 1 {
            return Err(ChainFault::Sequence { expected: seq + 1, found: e.seq });
        }
        if e.prev_hash != prev {
            return Err(ChainFault::Link { seq: e.seq });
        }
        if chain_hash(&prev, e.seq, &e.entry) != e.hash {
            return Err(ChainFault::Content { seq: e.seq });
        }
        seq = e.seq;
        prev = e.hash;
    }
    Ok((seq, prev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::PrincipalKind;
    use crate::clock::Timestamp;
    use crate::ids::ZoneName;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry::new(Timestamp(1), ZoneName::parse("default").unwrap(), PrincipalKind::Operator, "op".into(), action)
    }

    fn chain(n: i64) -> Vec<ChainedEntry> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let e = entry(&format!("a{seq}"));
                let hash = chain_hash(&prev, seq, &e);
                let c = ChainedEntry { seq, entry: e, prev_hash: prev, hash };
                prev = hash;
                c
            })
            .collect()
    }

    #[test]
    fn detects_each_kind_of_tampering() {
        let good = chain(5);
        assert_eq!(verify_chain((0, GENESIS), &good).unwrap().0, 5);
        let mut edited = good.clone();
        edited[2].entry.action = "other".into();
        assert_eq!(verify_chain((0, GENESIS), &edited).unwrap_err(), ChainFault::Content { seq: 3 });
        let mut deleted = good.clone();
        deleted.remove(1);
        assert_eq!(verify_chain((0, GENESIS), &deleted).unwrap_err().kind(), "missing-entry");
        let mut swapped = good.clone();
        swapped.swap(1, 2);
        assert_eq!(verify_chain((0, GENESIS), &swapped).unwrap_err().seq(), 2);
        // an entry with absent and empty optional text hashes differently
        let mut a = entry("x");
        a.reason = Some(String::new());
        assert_ne!(chain_hash(&GENESIS, 1, &a), chain_hash(&GENESIS, 1, &entry("x")));
    }
}
