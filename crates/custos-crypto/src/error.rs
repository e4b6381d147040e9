//! The crypto crate's error type: deliberately coarse so that nothing about a failed
//! decryption (which key, which byte) leaks to a caller.

/// Errors from the crypto layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// Authentication failed: wrong key, wrong binding (AAD) or tampered bytes.
    #[error("decryption failed: wrong key, binding or tampered ciphertext")]
    Decrypt,
    /// Ciphertext bytes too short or of an unknown format.
    #[error("malformed ciphertext")]
    Malformed,
    /// The system random number generator failed.
    #[error("random number generator failure")]
    Rng,
    /// A Shamir share could not be parsed.
    #[error("malformed share: {0}")]
    BadShare(&'static str),
    /// Shares cannot be combined (too few, duplicates, or of different inits).
    #[error("shares cannot be combined: {0}")]
    Combine(&'static str),
    /// An internal primitive failed (key construction).
    #[error("crypto primitive failure")]
    Primitive,
}
