//! Splitting the root key into Shamir shares (GF(256), via `blahaj`) and combining
//! them again. A share's text form names the init it belongs to, so a share of another
//! init is refused on sight, and the combined key is checked against a stored value.
//!
//! Text form: `cs1.<init id>.<base64url(x ‖ y…)>`.

use crate::keys::RootKey;
use crate::{CryptoError, Secret};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blahaj::Sharks;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const PREFIX: &str = "cs1";

/// Identifies one `custos init`: 16 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitId(String);

impl InitId {
    /// A fresh random init id.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(crate::random_hex(8)?))
    }

    /// Parse a stored init id.
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        if s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(CryptoError::BadShare("init id"))
        }
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One share of the root key. Secret: zeroized on drop, never printed by `Debug`.
pub struct Share {
    init: InitId,
    x: u8,
    bytes: Secret<Vec<u8>>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Share(init {}, #{}, [REDACTED])", self.init.as_str(), self.x)
    }
}

impl Share {
    /// Parse the text form.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let mut parts = text.trim().split('.');
        let (Some(prefix), Some(init), Some(body), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::BadShare("expected cs1.<init>.<data>"));
        };
        if prefix != PREFIX {
            return Err(CryptoError::BadShare("unknown share format"));
        }
        let init = InitId::parse(init)?;
        let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(body).map_err(|_| CryptoError::BadShare("not base64url"))?);
        if bytes.len() != 1 + crate::KEY_LEN || bytes[0] == 0 {
            return Err(CryptoError::BadShare("wrong length"));
        }
        Ok(Self { init, x: bytes[0], bytes: Secret::new(bytes.to_vec()) })
    }

    /// The text form, to hand to an operator once.
    pub fn to_text(&self) -> Secret<String> {
        Secret::new(format!("{PREFIX}.{}.{}", self.init.as_str(), URL_SAFE_NO_PAD.encode(self.bytes.expose())))
    }

    /// The init this share belongs to.
    pub fn init(&self) -> &InitId {
        &self.init
    }

    /// The share's x coordinate (1..=255): two shares with the same x are the same share.
    pub fn index(&self) -> u8 {
        self.x
    }
}

/// Split a root key into `shares` shares, any `threshold` of which recover it.
pub fn split_root_key(root: &RootKey, init: &InitId, shares: u8, threshold: u8) -> Result<Vec<Share>, CryptoError> {
    if threshold == 0 || shares == 0 || threshold > shares {
        return Err(CryptoError::Combine("need 1 <= threshold <= shares"));
    }
    let dealer = Sharks(threshold).dealer(root.bytes().expose());
    Ok(dealer
        .take(usize::from(shares))
        .map(|s| {
            let bytes = Vec::from(&s);
            Share { init: init.clone(), x: bytes[0], bytes: Secret::new(bytes) }
        })
        .collect())
}

/// Combine shares into the root key and check it against the value stored at init.
pub fn combine_shares(
    shares: &[Share],
    init: &InitId,
    threshold: u8,
    check: &[u8; 32],
) -> Result<RootKey, CryptoError> {
    if shares.iter().any(|s| s.init != *init) {
        return Err(CryptoError::Combine("share of another init"));
    }
    let parsed: Vec<blahaj::Share> = shares
        .iter()
        .map(|s| blahaj::Share::try_from(s.bytes.expose().as_slice()))
        .collect::<Result<_, _>>()
        .map_err(|_| CryptoError::Combine("malformed share"))?;
    let secret = Zeroizing::new(
        Sharks(threshold).recover(parsed.iter()).map_err(|_| CryptoError::Combine("not enough distinct shares"))?,
    );
    let arr: [u8; crate::KEY_LEN] =
        secret.as_slice().try_into().map_err(|_| CryptoError::Combine("wrong key length"))?;
    let root = RootKey::from_secret(Secret::new(arr))?;
    let actual = root.check_value(init.as_str())?;
    if bool::from(actual.ct_eq(check)) {
        Ok(root)
    } else {
        Err(CryptoError::Combine("shares do not recover this init's root key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(n: u8, k: u8) -> (InitId, [u8; 32], Vec<Share>) {
        let root = RootKey::generate().unwrap();
        let init = InitId::generate().unwrap();
        let check = root.check_value(init.as_str()).unwrap();
        let shares = split_root_key(&root, &init, n, k).unwrap();
        (init, check, shares)
    }

    fn reparse(shares: &[&Share]) -> Vec<Share> {
        shares.iter().map(|s| Share::parse(s.to_text().expose()).unwrap()).collect()
    }

    #[test]
    fn any_k_of_n_recover_and_k_minus_1_do_not() {
        let (init, check, shares) = setup(5, 3);
        for a in 0..5 {
            for b in a + 1..5 {
                for c in b + 1..5 {
                    let set = reparse(&[&shares[a], &shares[b], &shares[c]]);
                    assert!(combine_shares(&set, &init, 3, &check).is_ok(), "{a}{b}{c}");
                }
                let two = reparse(&[&shares[a], &shares[b]]);
                assert!(combine_shares(&two, &init, 3, &check).is_err());
            }
        }
        // the same share twice is one share
        let dup = reparse(&[&shares[0], &shares[0], &shares[1]]);
        assert!(combine_shares(&dup, &init, 3, &check).is_err());
    }

    #[test]
    fn shares_of_another_init_are_refused() {
        let (init, check, shares) = setup(3, 2);
        let (_, _, other) = setup(3, 2);
        let mixed = reparse(&[&shares[0], &other[1]]);
        assert_eq!(
            combine_shares(&mixed, &init, 2, &check).unwrap_err(),
            CryptoError::Combine("share of another init")
        );
        // forge the init id on a foreign share: the check value still refuses it
        let forged_text = other[1].to_text().expose().replace(other[1].init().as_str(), init.as_str());
        let forged = vec![Share::parse(shares[0].to_text().expose()).unwrap(), Share::parse(&forged_text).unwrap()];
        assert!(combine_shares(&forged, &init, 2, &check).is_err());
    }

    #[test]
    fn malformed_share_text_is_refused() {
        for bad in [
            "",
            "cs1",
            "cs2.0011223344556677.AAAA",
            "cs1.xyz.AAAA",
            "cs1.0011223344556677.!!!",
            "cs1.0011223344556677.AAAA",
        ] {
            assert!(Share::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_hides_share_bytes() {
        let (_, _, shares) = setup(2, 2);
        let dbg = format!("{:?}", shares[0]);
        assert!(dbg.contains("REDACTED"));
        assert!(!dbg.contains(&shares[0].to_text().expose()[20..]));
    }
}
