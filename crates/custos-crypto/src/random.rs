//! Randomness from the system RNG through aws-lc-rs (FIPS DRBG with the `fips` feature).

use crate::CryptoError;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Fill a fixed-size array with random bytes.
pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).map_err(|_| CryptoError::Rng)?;
    Ok(out)
}

/// `n` random bytes as lowercase hex (2n characters): ids and pseudonyms.
pub fn random_hex(n: usize) -> Result<String, CryptoError> {
    let mut buf = vec![0u8; n];
    SystemRandom::new().fill(&mut buf).map_err(|_| CryptoError::Rng)?;
    Ok(hex::encode(buf))
}
