//! The AEAD envelope: AES-256-GCM with a fresh random 96-bit nonce per message.
//! Wire format of a `Sealed` value: `0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.

use crate::CryptoError;
use crate::random::random_array;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

const FORMAT_V1: u8 = 1;
const TAG_LEN: usize = 16;

/// Ciphertext bytes as stored. Only this type crosses into the store.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

impl Sealed {
    /// Take bytes read from the store; checks only the framing, not authenticity.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, CryptoError> {
        if bytes.len() < 1 + NONCE_LEN + TAG_LEN || bytes[0] != FORMAT_V1 {
            return Err(CryptoError::Malformed);
        }
        Ok(Self(bytes))
    }

    /// The stored representation.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Consume into the stored representation.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// An AES-256-GCM key ready for use. Key material is held inside AWS-LC, which
/// cleanses it when the key is dropped.
pub(crate) struct AeadKey(LessSafeKey);

impl AeadKey {
    pub(crate) fn new(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::Primitive)?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, CryptoError> {
        let nonce_bytes: [u8; NONCE_LEN] = random_array()?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(plaintext);
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        let tag = self
            .0
            .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut out[1 + NONCE_LEN..])
            .map_err(|_| CryptoError::Primitive)?;
        out.extend_from_slice(tag.as_ref());
        Ok(Sealed(out))
    }

    /// Open into a plaintext buffer; the caller wraps it in a zeroizing type if secret.
    pub(crate) fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let bytes = sealed.as_bytes();
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[1..1 + NONCE_LEN]);
        let mut buf = bytes[1 + NONCE_LEN..].to_vec();
        let plain_len = self
            .0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
            .map_err(|_| CryptoError::Decrypt)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}
