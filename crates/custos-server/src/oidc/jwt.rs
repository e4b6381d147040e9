//! ID-token (JWS compact) validation with aws-lc-rs: the algorithm must be on a short
//! list and match the key's type (no `none`, no HMAC with a public key), the key is
//! found by `kid`, and every claim the flow depends on is checked.

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// One JSON Web Key (the public parts used).
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// A JWKS document.
#[derive(Debug, Deserialize)]
pub(super) struct JwkSet {
    /// Keys.
    pub(super) keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims Custos uses.
#[derive(Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: String,
    aud: Audience,
    #[serde(default)]
    azp: Option<String>,
    /// Expiry (seconds).
    pub exp: i64,
    /// Issued at (seconds).
    pub iat: i64,
    #[serde(default)]
    nonce: Option<String>,
    /// Email, if released.
    #[serde(default)]
    pub email: Option<String>,
}

impl std::fmt::Debug for IdTokenClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdTokenClaims([REDACTED])")
    }
}

/// Why a token was refused (the audit reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefused {
    /// Not three base64url parts of JSON.
    Malformed,
    /// Algorithm not accepted, or not matching the key.
    Algorithm,
    /// No key with that id.
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// Wrong issuer.
    Issuer,
    /// Not for this client.
    Audience,
    /// Expired.
    Expired,
    /// Issued in the future.
    NotYetValid,
    /// Nonce missing or different.
    Nonce,
    /// No usable subject.
    Subject,
}

impl TokenRefused {
    /// Audit reason code.
    pub fn code(self) -> &'static str {
        match self {
            TokenRefused::Malformed => "id_token_malformed",
            TokenRefused::Algorithm => "id_token_algorithm",
            TokenRefused::UnknownKey => "id_token_unknown_key",
            TokenRefused::Signature => "id_token_signature",
            TokenRefused::Issuer => "id_token_issuer",
            TokenRefused::Audience => "id_token_audience",
            TokenRefused::Expired => "id_token_expired",
            TokenRefused::NotYetValid => "id_token_not_yet_valid",
            TokenRefused::Nonce => "id_token_nonce",
            TokenRefused::Subject => "id_token_subject",
        }
    }
}

fn b64(s: &str) -> Result<Vec<u8>, TokenRefused> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenRefused::Malformed)
}

/// Allowed clock difference with the provider.
const LEEWAY_S: i64 = 60;

fn verify(alg: &str, key: &Jwk, msg: &[u8], sig: &[u8]) -> Result<(), TokenRefused> {
    let field = |v: &Option<String>| v.as_deref().ok_or(TokenRefused::Algorithm).and_then(b64);
    let ok = match (alg, key.kty.as_str()) {
        ("RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512", "RSA") => {
            let params: &signature::RsaParameters = match alg {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                _ => &signature::RSA_PSS_2048_8192_SHA512,
            };
            let (n, e) = (field(&key.n)?, field(&key.e)?);
            RsaPublicKeyComponents { n: &n, e: &e }.verify(params, msg, sig).is_ok()
        }
        ("ES256" | "ES384", "EC") => {
            let (alg_v, crv, len): (&'static signature::EcdsaVerificationAlgorithm, &str, usize) = match alg {
                "ES256" => (&signature::ECDSA_P256_SHA256_FIXED, "P-256", 32),
                _ => (&signature::ECDSA_P384_SHA384_FIXED, "P-384", 48),
            };
            let (x, y) = (field(&key.x)?, field(&key.y)?);
            if key.crv.as_deref() != Some(crv) || x.len() != len || y.len() != len {
                return Err(TokenRefused::Algorithm);
            }
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(alg_v, &point).verify(msg, sig).is_ok()
        }
        ("EdDSA", "OKP") => {
            if key.crv.as_deref() != Some("Ed25519") {
                return Err(TokenRefused::Algorithm);
            }
            UnparsedPublicKey::new(&signature::ED25519, &field(&key.x)?).verify(msg, sig).is_ok()
        }
        _ => return Err(TokenRefused::Algorithm),
    };
    if ok { Ok(()) } else { Err(TokenRefused::Signature) }
}

/// Validate an ID token: signature by one of `keys`, then the claims against the
/// expected issuer, client id and nonce at `now` (seconds). `Err(UnknownKey)` tells the
/// caller to refresh the key set and try once more.
pub fn validate_id_token(
    token: &str,
    keys: &[Jwk],
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<IdTokenClaims, TokenRefused> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenRefused::Malformed);
    };
    let header: Header = serde_json::from_slice(&b64(h)?).map_err(|_| TokenRefused::Malformed)?;
    if header.crit.is_some() {
        return Err(TokenRefused::Algorithm);
    }
    let sig = b64(s)?;
    let usable = keys.iter().filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"));
    let key = match &header.kid {
        Some(kid) => usable.into_iter().find(|k| k.kid.as_deref() == Some(kid)).ok_or(TokenRefused::UnknownKey)?,
        None => {
            let candidates: Vec<&Jwk> = usable.collect();
            match candidates.as_slice() {
                [only] => *only,
                _ => return Err(TokenRefused::UnknownKey),
            }
        }
    };
    let signed = &token[..h.len() + 1 + p.len()];
    verify(&header.alg, key, signed.as_bytes(), &sig)?;
    let c: IdTokenClaims = serde_json::from_slice(&b64(p)?).map_err(|_| TokenRefused::Malformed)?;
    if c.iss != issuer {
        return Err(TokenRefused::Issuer);
    }
    let aud_ok = match &c.aud {
        Audience::One(a) => a == client_id,
        Audience::Many(v) => v.iter().any(|a| a == client_id) && (v.len() == 1 || c.azp.as_deref() == Some(client_id)),
    };
    if !aud_ok || c.azp.as_deref().is_some_and(|azp| azp != client_id) {
        return Err(TokenRefused::Audience);
    }
    if c.exp + LEEWAY_S <= now {
        return Err(TokenRefused::Expired);
    }
    if c.iat - LEEWAY_S > now {
        return Err(TokenRefused::NotYetValid);
    }
    let nonce_ok = c.nonce.as_deref().is_some_and(|n| {
        use subtle::ConstantTimeEq;
        bool::from(n.as_bytes().ct_eq(nonce.as_bytes()))
    });
    if !nonce_ok {
        return Err(TokenRefused::Nonce);
    }
    if c.sub.is_empty() || c.sub.len() > 255 {
        return Err(TokenRefused::Subject);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair};

    fn es256_token(claims: &serde_json::Value, kid: &str) -> (String, Jwk) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let pub_ = kp.public_key().as_ref();
        let jwk = Jwk {
            kty: "EC".into(),
            kid: Some(kid.into()),
            use_: None,
            n: None,
            e: None,
            crv: Some("P-256".into()),
            x: Some(URL_SAFE_NO_PAD.encode(&pub_[1..33])),
            y: Some(URL_SAFE_NO_PAD.encode(&pub_[33..65])),
        };
        let h = URL_SAFE_NO_PAD.encode(serde_json::json!({"alg": "ES256", "kid": kid}).to_string());
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let sig = kp.sign(&rng, format!("{h}.{p}").as_bytes()).unwrap();
        (format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())), jwk)
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"iss": "https://idp", "sub": "abc", "aud": "client", "exp": 2000, "iat": 1000, "nonce": "n1"})
    }

    #[test]
    fn es256_tokens_and_their_claims() {
        let (t, k) = es256_token(&claims(), "k1");
        let keys = [k];
        assert!(validate_id_token(&t, &keys, "https://idp", "client", "n1", 1500).is_ok());
        assert_eq!(
            validate_id_token(&t, &keys, "https://other", "client", "n1", 1500).err(),
            Some(TokenRefused::Issuer)
        );
        assert_eq!(
            validate_id_token(&t, &keys, "https://idp", "client2", "n1", 1500).err(),
            Some(TokenRefused::Audience)
        );
        assert_eq!(validate_id_token(&t, &keys, "https://idp", "client", "n2", 1500).err(), Some(TokenRefused::Nonce));
        assert_eq!(
            validate_id_token(&t, &keys, "https://idp", "client", "n1", 2100).err(),
            Some(TokenRefused::Expired)
        );
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), t.split('.').nth(1).unwrap());
        assert_eq!(
            validate_id_token(&none, &keys, "https://idp", "client", "n1", 1500).err(),
            Some(TokenRefused::Algorithm)
        );
        let hs = format!(
            "{}.{}.AAAA",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k1"}"#),
            t.split('.').nth(1).unwrap()
        );
        assert_eq!(
            validate_id_token(&hs, &keys, "https://idp", "client", "n1", 1500).err(),
            Some(TokenRefused::Algorithm)
        );
    }
}
