//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA-1, 6 digits, 30 s
//! steps, the secret exchanged in RFC 4648 base32 as authenticator apps expect.

use crate::{CryptoError, Secret};
use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

/// Seconds per step.
pub const TOTP_STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const TOTP_DIGITS: u32 = 6;

/// A TOTP shared secret (160 bits, the RFC 4226 recommendation).
pub struct TotpSecret(Secret<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl TotpSecret {
    /// A fresh random secret.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(Secret::new(crate::random_array::<20>()?.to_vec())))
    }

    /// From raw bytes (as stored, after unsealing).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Secret::new(bytes))
    }

    /// The raw bytes, for sealing.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// Unpadded RFC 4648 base32, for the `otpauth://` URI and manual entry.
    pub fn to_base32(&self) -> Secret<String> {
        let bytes = self.0.expose();
        let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
        let mut buf: u64 = 0;
        let mut bits = 0u32;
        for &b in bytes {
            buf = (buf << 8) | u64::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(B32[((buf >> bits) & 31) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(B32[((buf << (5 - bits)) & 31) as usize]));
        }
        Secret::new(out)
    }

    /// Parse base32 (case-insensitive, padding and spaces ignored).
    pub fn from_base32(text: &str) -> Option<Self> {
        let mut out = Vec::new();
        let mut buf: u64 = 0;
        let mut bits = 0u32;
        for c in text.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
            let v = B32.iter().position(|&x| char::from(x) == c.to_ascii_uppercase())?;
            buf = (buf << 5) | v as u64;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push(((buf >> bits) & 0xff) as u8);
            }
        }
        (!out.is_empty()).then(|| Self::from_bytes(out))
    }

    /// The code for step `counter` (RFC 4226 HOTP with dynamic truncation).
    pub fn code_at_step(&self, counter: u64) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, self.0.expose());
        let tag = hmac::sign(&key, &counter.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let bin = (u32::from(mac[offset]) & 0x7f) << 24
            | u32::from(mac[offset + 1]) << 16
            | u32::from(mac[offset + 2]) << 8
            | u32::from(mac[offset + 3]);
        bin % 10u32.pow(TOTP_DIGITS)
    }

    /// The step of a Unix time in seconds.
    pub fn step_of(unix_seconds: i64) -> i64 {
        unix_seconds.div_euclid(TOTP_STEP_SECONDS)
    }

    /// The step within ±1 of `now_step` whose code is `code`, if any. Every candidate
    /// is compared, in constant time, so timing does not tell which one matched.
    pub fn matching_step(&self, code: &str, now_step: i64) -> Option<i64> {
        if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut found = None;
        for step in [now_step - 1, now_step, now_step + 1] {
            let Ok(counter) = u64::try_from(step) else { continue };
            let expected = format!("{:06}", self.code_at_step(counter));
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 column, truncated to 6 digits (the 8-digit values'
    /// last six).
    #[test]
    fn rfc6238_test_vectors() {
        let s = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (t, eight) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let step = u64::try_from(TotpSecret::step_of(t)).unwrap();
            assert_eq!(format!("{:06}", s.code_at_step(step)), eight[2..], "t={t}");
        }
    }

    #[test]
    fn base32_round_trip_and_rfc4648_vector() {
        let s = TotpSecret::from_bytes(b"foobar".to_vec());
        assert_eq!(s.to_base32().expose(), "MZXW6YTBOI");
        let back = TotpSecret::from_base32("mzxw 6ytb oi======").unwrap();
        assert_eq!(back.expose(), b"foobar");
        assert!(TotpSecret::from_base32("not base32!").is_none());
    }

    #[test]
    fn window_is_plus_minus_one_step() {
        let s = TotpSecret::generate().unwrap();
        let code = |st: u64| format!("{:06}", s.code_at_step(st));
        assert_eq!(s.matching_step(&code(100), 100), Some(100));
        assert_eq!(s.matching_step(&code(99), 100), Some(99));
        assert_eq!(s.matching_step(&code(101), 100), Some(101));
        assert_eq!(s.matching_step(&code(98), 100), None);
        assert_eq!(s.matching_step("12345", 100), None);
        assert_eq!(s.matching_step("abcdef", 100), None);
    }
}
