//! Signed checkpoints: every so often the chain head (sequence number and hash) is signed
//! with the zone's Ed25519 checkpoint key. A checkpoint lets anyone holding the public
//! key detect a truncated tail or a rewritten chain, without the root key.

use crate::clock::Timestamp;
use crate::ids::ZoneName;

/// A signed chain head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Sequence number of the entry signed.
    pub seq: i64,
    /// That entry's hash.
    pub hash: [u8; 32],
    /// When the checkpoint was made.
    pub time: Timestamp,
    /// Ed25519 signature over `checkpoint_message`.
    pub signature: [u8; 64],
}

/// The signed message: `"custos/audit-checkpoint/v1" ‖ len(zone) ‖ zone ‖ seq ‖ hash ‖ time`
/// (lengths and integers big-endian; len 4 bytes, seq and time 8 bytes).
pub fn checkpoint_message(zone: &ZoneName, seq: i64, hash: &[u8; 32], time: Timestamp) -> Vec<u8> {
    let mut m = Vec::with_capacity(96);
    m.extend_from_slice(b"custos/audit-checkpoint/v1");
    m.extend_from_slice(&u32::try_from(zone.as_str().len()).unwrap_or(u32::MAX).to_be_bytes());
    m.extend_from_slice(zone.as_str().as_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(&time.0.to_be_bytes());
    m
}
