//! OpenID Connect relying party: discovery, the authorization-code flow with PKCE
//! (S256), the code exchange, and full ID-token validation (signature against the
//! provider's JWKS, issuer, audience, authorized party, expiry, issue time, nonce).

mod jwt;

pub use jwt::{IdTokenClaims, Jwk, TokenRefused, validate_id_token};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use custos_core::service::OidcSettings;
use custos_crypto::Secret;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Discovered provider metadata (the parts used).
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// Issuer (must equal the configured one).
    pub issuer: String,
    /// Authorization endpoint.
    pub authorization_endpoint: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// JWKS.
    pub jwks_uri: String,
}

/// Why a provider call failed (for the audit reason; never shown in detail).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Discovery or JWKS could not be fetched or parsed.
    #[error("provider metadata unavailable: {0}")]
    Metadata(String),
    /// The code exchange failed.
    #[error("code exchange failed: {0}")]
    Exchange(String),
}

/// A cached JWKS.
type Jwks = Arc<Vec<jwt::Jwk>>;

/// HTTP client for providers, with discovery and key caches (5 minutes; the JWKS is
/// refetched at once when a token names an unknown key).
#[derive(Debug, Clone)]
pub struct OidcClient {
    http: reqwest::Client,
    discovery: Arc<Mutex<HashMap<String, (Discovery, Instant)>>>,
    jwks: Arc<Mutex<HashMap<String, (Jwks, Instant)>>>,
}

const CACHE: Duration = Duration::from_secs(300);

impl OidcClient {
    /// A client; `extra_ca` is trusted besides the system roots (a private provider).
    pub fn new(extra_ca: Option<&[u8]>) -> Result<Self, ProviderError> {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .https_only(false);
        if let Some(pem) = extra_ca {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| ProviderError::Metadata(e.to_string()))?;
            b = b.add_root_certificate(cert);
        }
        let http = b.build().map_err(|e| ProviderError::Metadata(e.to_string()))?;
        Ok(Self { http, discovery: Arc::default(), jwks: Arc::default() })
    }

    /// The provider's metadata (cached).
    pub async fn discover(&self, issuer: &str) -> Result<Discovery, ProviderError> {
        if let Some((d, at)) = self.discovery.lock().unwrap_or_else(|p| p.into_inner()).get(issuer)
            && at.elapsed() < CACHE
        {
            return Ok(d.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let d: Discovery = self.get_json(&url).await?;
        if d.issuer != issuer {
            return Err(ProviderError::Metadata("discovered issuer differs from the configured one".into()));
        }
        self.discovery.lock().unwrap_or_else(|p| p.into_inner()).insert(issuer.to_owned(), (d.clone(), Instant::now()));
        Ok(d)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, ProviderError> {
        let r = self.http.get(url).send().await.map_err(|e| ProviderError::Metadata(e.to_string()))?;
        if !r.status().is_success() {
            return Err(ProviderError::Metadata(format!("{url}: HTTP {}", r.status())));
        }
        r.json().await.map_err(|e| ProviderError::Metadata(e.to_string()))
    }

    /// The provider's signing keys; `refresh` skips the cache.
    pub async fn keys(&self, d: &Discovery, refresh: bool) -> Result<Jwks, ProviderError> {
        if !refresh
            && let Some((k, at)) = self.jwks.lock().unwrap_or_else(|p| p.into_inner()).get(&d.jwks_uri)
            && at.elapsed() < CACHE
        {
            return Ok(k.clone());
        }
        let set: jwt::JwkSet = self.get_json(&d.jwks_uri).await?;
        let keys = Arc::new(set.keys);
        self.jwks.lock().unwrap_or_else(|p| p.into_inner()).insert(d.jwks_uri.clone(), (keys.clone(), Instant::now()));
        Ok(keys)
    }

    /// Exchange an authorization code (client_secret_basic) for the raw ID token.
    pub async fn exchange(
        &self,
        d: &Discovery,
        settings: &OidcSettings,
        secret: &Secret<String>,
        code: &str,
        verifier: &Secret<String>,
        redirect_uri: &str,
    ) -> Result<Secret<String>, ProviderError> {
        #[derive(Deserialize)]
        struct TokenResponse {
            id_token: Option<String>,
        }
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose().as_str()),
        ];
        let r = self
            .http
            .post(&d.token_endpoint)
            .basic_auth(form_encode(&settings.client_id), Some(form_encode(secret.expose())))
            .form(&form)
            .send()
            .await
            .map_err(|e| ProviderError::Exchange(e.to_string()))?;
        if !r.status().is_success() {
            return Err(ProviderError::Exchange(format!("HTTP {}", r.status())));
        }
        let t: TokenResponse = r.json().await.map_err(|e| ProviderError::Exchange(e.to_string()))?;
        t.id_token.map(Secret::new).ok_or_else(|| ProviderError::Exchange("no id_token in the response".into()))
    }
}

/// `application/x-www-form-urlencoded` encoding (RFC 6749 §2.3.1 for client credentials).
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()).as_ref())
}

/// The URL to send the browser to.
pub fn authorize_url(
    d: &Discovery,
    settings: &OidcSettings,
    redirect_uri: &str,
    state: &str,
    nonce: &str,
    verifier: &str,
) -> String {
    let mut scopes = vec!["openid".to_owned()];
    scopes.extend(settings.scopes.iter().filter(|s| s.as_str() != "openid").cloned());
    let params = [
        ("response_type", "code".to_owned()),
        ("client_id", settings.client_id.clone()),
        ("redirect_uri", redirect_uri.to_owned()),
        ("scope", scopes.join(" ")),
        ("state", state.to_owned()),
        ("nonce", nonce.to_owned()),
        ("code_challenge", pkce_challenge(verifier)),
        ("code_challenge_method", "S256".to_owned()),
    ];
    let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", form_encode(v))).collect();
    let sep = if d.authorization_endpoint.contains('?') { '&' } else { '?' };
    format!("{}{sep}{}", d.authorization_endpoint, q.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
