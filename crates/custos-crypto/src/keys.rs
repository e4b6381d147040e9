//! The key tiers of DESIGN §2, each its own type: the root key, tenant keys (versioned),
//! subject keys, the data keys derived from them, and `WrappedKey` for a key sealed
//! under the tier above. Derivations use HKDF-SHA256 with distinct labels.

use crate::aad::{FieldAad, KeyScope, SubjectKeyAad, TenantKeyAad};
use crate::aead::{AeadKey, Sealed};
use crate::blind::BlindIndexKey;
use crate::random::random_array;
use crate::{CryptoError, Secret};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::hmac;
use zeroize::Zeroizing;

/// Length of every symmetric key in the hierarchy.
pub const KEY_LEN: usize = 32;

type KeyBytes = Secret<[u8; KEY_LEN]>;

fn fresh() -> Result<KeyBytes, CryptoError> {
    Ok(Secret::new(random_array::<KEY_LEN>()?))
}

fn derive(ikm: &KeyBytes, label: &str) -> Result<KeyBytes, CryptoError> {
    let prk = Salt::new(HKDF_SHA256, b"custos/hkdf/v1").extract(ikm.expose());
    let info = [label.as_bytes()];
    let okm = prk.expand(&info, HKDF_SHA256).map_err(|_| CryptoError::Primitive)?;
    let mut buf = Zeroizing::new([0u8; KEY_LEN]);
    okm.fill(buf.as_mut()).map_err(|_| CryptoError::Primitive)?;
    Ok(Secret::new(*buf))
}

fn key_from_plain(plain: Vec<u8>) -> Result<KeyBytes, CryptoError> {
    let plain = Zeroizing::new(plain);
    let arr: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| CryptoError::Malformed)?;
    Ok(Secret::new(arr))
}

/// A key sealed under the tier above it; safe to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey(pub Sealed);

/// The root key. Exists whole only in memory while unsealed.
pub struct RootKey {
    bytes: KeyBytes,
    wrap: AeadKey,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey([REDACTED])")
    }
}

impl RootKey {
    /// Generate a new random root key (at init only).
    pub fn generate() -> Result<Self, CryptoError> {
        Self::from_secret(fresh()?)
    }

    pub(crate) fn from_secret(bytes: KeyBytes) -> Result<Self, CryptoError> {
        let wrap = AeadKey::new(derive(&bytes, "root/tenant-wrap")?.expose())?;
        Ok(Self { bytes, wrap })
    }

    /// A second copy in memory, for a scratch vault that must open the same data (a
    /// restore drill); zeroized on drop like the first.
    pub fn duplicate(&self) -> Result<Self, CryptoError> {
        Self::from_secret(Secret::new(*self.bytes.expose()))
    }

    pub(crate) fn bytes(&self) -> &KeyBytes {
        &self.bytes
    }

    pub(crate) fn derive_seed(&self, label: &str) -> Result<KeyBytes, CryptoError> {
        derive(&self.bytes, label)
    }

    /// A check value proving a combined key is the one created at init (HMAC of the
    /// init id under a derived key); stored at init, compared at unseal.
    pub fn check_value(&self, init_id: &str) -> Result<[u8; 32], CryptoError> {
        let k = derive(&self.bytes, "root/check")?;
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, k.expose()), init_id.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Wrap a tenant key for storage, bound to zone, tenant and version.
    pub fn wrap_tenant_key(&self, key: &TenantKey, zone: &str, tenant: &str) -> Result<WrappedKey, CryptoError> {
        let aad = TenantKeyAad { zone, tenant, version: key.version }.encode();
        Ok(WrappedKey(self.wrap.seal(key.bytes.expose(), aad.bytes())?))
    }

    /// Unwrap a stored tenant key; fails if it was wrapped for another zone, tenant or version.
    pub fn unwrap_tenant_key(
        &self,
        wrapped: &WrappedKey,
        zone: &str,
        tenant: &str,
        version: u32,
    ) -> Result<TenantKey, CryptoError> {
        let aad = TenantKeyAad { zone, tenant, version }.encode();
        let bytes = key_from_plain(self.wrap.open(&wrapped.0, aad.bytes())?)?;
        TenantKey::from_secret(bytes, version)
    }
}

/// One version of a tenant key, with the keys derived from it.
pub struct TenantKey {
    version: u32,
    bytes: KeyBytes,
    data: DataKey,
    subject_wrap: AeadKey,
}

impl std::fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TenantKey(v{}, [REDACTED])", self.version)
    }
}

impl TenantKey {
    /// Generate a fresh tenant key of the given version.
    pub fn generate(version: u32) -> Result<Self, CryptoError> {
        Self::from_secret(fresh()?, version)
    }

    fn from_secret(bytes: KeyBytes, version: u32) -> Result<Self, CryptoError> {
        let data = DataKey(AeadKey::new(derive(&bytes, "tenant/data")?.expose())?);
        let subject_wrap = AeadKey::new(derive(&bytes, "tenant/subject-wrap")?.expose())?;
        Ok(Self { version, bytes, data, subject_wrap })
    }

    /// The key version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The data key for fields not tied to a subject.
    pub fn data_key(&self) -> &DataKey {
        &self.data
    }

    /// The blind-index key of this version.
    pub fn blind_index_key(&self) -> Result<BlindIndexKey, CryptoError> {
        Ok(BlindIndexKey::new(derive(&self.bytes, "tenant/blind-index")?))
    }

    /// Wrap a subject key, bound to tenant, pseudonym and this key's version.
    pub fn wrap_subject_key(&self, key: &SubjectKey, tenant: &str, subject: &str) -> Result<WrappedKey, CryptoError> {
        let aad = SubjectKeyAad { tenant, subject, version: self.version }.encode();
        Ok(WrappedKey(self.subject_wrap.seal(key.bytes.expose(), aad.bytes())?))
    }

    /// Unwrap a subject key wrapped by this version.
    pub fn unwrap_subject_key(
        &self,
        wrapped: &WrappedKey,
        tenant: &str,
        subject: &str,
    ) -> Result<SubjectKey, CryptoError> {
        let aad = SubjectKeyAad { tenant, subject, version: self.version }.encode();
        SubjectKey::from_secret(key_from_plain(self.subject_wrap.open(&wrapped.0, aad.bytes())?)?)
    }
}

/// A subject's own key: seals that person's pii fields. Destroying every wrapped copy
/// makes them unreadable (crypto-shredding).
pub struct SubjectKey {
    bytes: KeyBytes,
    data: DataKey,
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectKey([REDACTED])")
    }
}

impl SubjectKey {
    /// Generate a fresh subject key.
    pub fn generate() -> Result<Self, CryptoError> {
        Self::from_secret(fresh()?)
    }

    fn from_secret(bytes: KeyBytes) -> Result<Self, CryptoError> {
        let data = DataKey(AeadKey::new(derive(&bytes, "subject/data")?.expose())?);
        Ok(Self { bytes, data })
    }

    /// The data key for this subject's pii fields.
    pub fn data_key(&self) -> &DataKey {
        &self.data
    }
}

/// An AES-256-GCM key that seals field values under a `FieldAad`.
pub struct DataKey(AeadKey);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

impl DataKey {
    pub(crate) fn from_bytes(bytes: &KeyBytes) -> Result<Self, CryptoError> {
        Ok(Self(AeadKey::new(bytes.expose())?))
    }

    /// Seal a field value bound to its place.
    pub fn seal_field(&self, plaintext: &[u8], aad: &FieldAad<'_>) -> Result<Sealed, CryptoError> {
        self.0.seal(plaintext, aad.encode().bytes())
    }

    /// Open a field value; fails if it was sealed for another place or key.
    pub fn open_field(&self, sealed: &Sealed, aad: &FieldAad<'_>) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        Ok(Zeroizing::new(self.0.open(sealed, aad.encode().bytes())?))
    }
}

/// Used by the scope check in `FieldAad`: the tenant scope carries its version.
impl From<&TenantKey> for KeyScope {
    fn from(k: &TenantKey) -> Self {
        KeyScope::Tenant(k.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn aad<'a>(tenant: &'a str, record: &'a str, field: &'a str, scope: KeyScope) -> FieldAad<'a> {
        FieldAad { tenant, collection: "candidates", record, field, scope }
    }

    #[test]
    fn tenant_key_wrap_is_bound_to_zone_tenant_version() {
        let root = RootKey::generate().unwrap();
        let tk = TenantKey::generate(1).unwrap();
        let w = root.wrap_tenant_key(&tk, "default", "uio").unwrap();
        assert!(root.unwrap_tenant_key(&w, "default", "uio", 1).is_ok());
        assert_eq!(root.unwrap_tenant_key(&w, "default", "ntnu", 1).unwrap_err(), CryptoError::Decrypt);
        assert_eq!(root.unwrap_tenant_key(&w, "eu-north", "uio", 1).unwrap_err(), CryptoError::Decrypt);
        assert_eq!(root.unwrap_tenant_key(&w, "default", "uio", 2).unwrap_err(), CryptoError::Decrypt);
        let other_root = RootKey::generate().unwrap();
        assert!(other_root.unwrap_tenant_key(&w, "default", "uio", 1).is_err());
    }

    #[test]
    fn subject_key_wrap_is_bound_to_subject() {
        let tk = TenantKey::generate(3).unwrap();
        let sk = SubjectKey::generate().unwrap();
        let w = tk.wrap_subject_key(&sk, "uio", "abc").unwrap();
        let back = tk.unwrap_subject_key(&w, "uio", "abc").unwrap();
        let a = aad("uio", "r1", "email", KeyScope::Subject);
        let ct = sk.data_key().seal_field(b"kari@example.no", &a).unwrap();
        assert_eq!(back.data_key().open_field(&ct, &a).unwrap().as_slice(), b"kari@example.no");
        assert!(tk.unwrap_subject_key(&w, "uio", "abd").is_err());
        assert!(tk.unwrap_subject_key(&w, "ntnu", "abc").is_err());
    }

    proptest! {
        #[test]
        fn field_round_trip_and_binding(value in proptest::collection::vec(any::<u8>(), 0..512),
                                        field in "[a-z_]{1,12}", other in "[a-z_]{1,12}") {
            let tk = TenantKey::generate(1).unwrap();
            let a = aad("uio", "r1", &field, KeyScope::Tenant(1));
            let ct = tk.data_key().seal_field(&value, &a).unwrap();
            let opened = tk.data_key().open_field(&ct, &a).unwrap();
            prop_assert_eq!(opened.as_slice(), value.as_slice());
            // moved to another record, tenant, key version: refused
            prop_assert!(tk.data_key().open_field(&ct, &aad("uio", "r2", &field, KeyScope::Tenant(1))).is_err());
            prop_assert!(tk.data_key().open_field(&ct, &aad("ntnu", "r1", &field, KeyScope::Tenant(1))).is_err());
            prop_assert!(tk.data_key().open_field(&ct, &aad("uio", "r1", &field, KeyScope::Tenant(2))).is_err());
            prop_assert!(tk.data_key().open_field(&ct, &aad("uio", "r1", &field, KeyScope::Subject)).is_err());
            if other != field {
                prop_assert!(tk.data_key().open_field(&ct, &aad("uio", "r1", &other, KeyScope::Tenant(1))).is_err());
            }
            // any flipped byte: refused
            let mut bytes = ct.clone().into_bytes();
            let i = bytes.len() - 1;
            bytes[i] ^= 1;
            let tampered = Sealed::from_bytes(bytes).unwrap();
            prop_assert!(tk.data_key().open_field(&tampered, &a).is_err());
        }
    }

    #[test]
    fn hkdf_matches_rfc5869_case_1() {
        // RFC 5869 A.1: checks we drive aws-lc-rs' HKDF correctly (salt, info, length).
        let ikm = [0x0bu8; 22];
        let salt = hex::decode("000102030405060708090a0b0c").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        struct L42;
        impl aws_lc_rs::hkdf::KeyType for L42 {
            fn len(&self) -> usize {
                42
            }
        }
        let prk = Salt::new(HKDF_SHA256, &salt).extract(&ikm);
        let mut out = [0u8; 42];
        prk.expand(&[&info], L42).unwrap().fill(&mut out).unwrap();
        assert_eq!(
            hex::encode(out),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }
}
