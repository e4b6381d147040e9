//! The audit trail's domain: what an entry holds (never plaintext personal data or
//! secrets), how entries are chained (SHA-256 over the previous hash and a canonical
//! encoding), and how a chain is verified. The store assigns sequence numbers and
//! hashes inside the transaction that carries the data change.

mod chain;
mod checkpoint;
mod entry;

pub use chain::{ChainFault, GENESIS, canonical_bytes, chain_hash, verify_chain};
pub use checkpoint::{Checkpoint, checkpoint_message};
pub use entry::{AuditEntry, ChainedEntry, Outcome, PrincipalKind, RequestMeta};
