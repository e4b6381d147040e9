//! OpenID Connect sign-in, the vault's side: per-tenant settings (client secret sealed),
//! started logins kept in the store (state hash, sealed PKCE verifier and nonce) so any
//! node can finish them, and the sign-in itself: the provider's subject becomes a keyed
//! per-tenant lookup, the same person always the same user in a tenant and unrelated
//! across tenants, provisioned on first sign-in with the tenant's default role. The
//! provider's name and email are kept only if the tenant asks for it.

use super::super::Vault;
use super::super::audit::Caller;
use super::{Profile, SessionCreated, seal_profile, validate_email};
use crate::audit::RequestMeta;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::{TenantCode, UserId};
use crate::policy::{Action, RoleName};
use crate::store::{IdentityOp, OidcConfigRow, OidcPendingRow, StoreError, UserRow, WriteOp};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use custos_crypto::{Secret, TokenHash};
use serde::{Deserialize, Serialize};

/// How long a started login may take.
const PENDING_MS: i64 = 10 * 60_000;

/// A tenant's OpenID Connect settings (the client secret is kept apart, sealed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// Issuer URL (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// Client id registered at the provider.
    pub client_id: String,
    /// Scopes to ask for (`openid` is always included).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Role given to users provisioned at first sign-in (none: no access until given).
    #[serde(default)]
    pub default_role: Option<RoleName>,
    /// Keep the provider's email for this tenant's users (default: keep nothing).
    #[serde(default)]
    pub store_email: bool,
}

/// Values for a login being started: `state` and `nonce` go to the provider, the
/// verifier stays until the code is exchanged.
#[derive(Debug)]
pub struct OidcStart {
    /// The tenant's settings.
    pub settings: OidcSettings,
    /// Opaque state.
    pub state: Secret<String>,
    /// Nonce bound into the ID token.
    pub nonce: Secret<String>,
    /// PKCE code verifier.
    pub verifier: Secret<String>,
}

/// What a validated ID token says.
#[derive(Debug)]
pub struct SsoIdentity {
    /// Issuer.
    pub issuer: String,
    /// Subject (opaque at providers such as Feide).
    pub subject: Secret<String>,
    /// Email, if the provider sent one.
    pub email: Option<Secret<String>>,
}

#[derive(Serialize, Deserialize)]
struct PendingSecrets {
    verifier: String,
    nonce: String,
}

fn random_b64(n: usize) -> Result<Secret<String>, CoreError> {
    let mut raw = vec![0u8; n];
    for chunk in raw.chunks_mut(32) {
        let r = custos_crypto::random_array::<32>()?;
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    Ok(Secret::new(URL_SAFE_NO_PAD.encode(raw)))
}

fn validate(s: &OidcSettings) -> Result<(), CoreError> {
    let https = s.issuer.starts_with("https://");
    let loopback = s.issuer.starts_with("http://127.0.0.1") || s.issuer.starts_with("http://localhost");
    if !(https || loopback) || s.issuer.len() > 512 {
        return Err(CoreError::invalid("issuer", "an https:// URL (http:// only on loopback)"));
    }
    if s.client_id.is_empty() || s.client_id.len() > 256 || s.client_id.chars().any(char::is_control) {
        return Err(CoreError::invalid("client_id", "1-256 printable characters"));
    }
    if s.scopes.len() > 16
        || s.scopes.iter().any(|x| x.is_empty() || x.len() > 64 || !x.chars().all(|c| c.is_ascii_graphic()))
    {
        return Err(CoreError::invalid("scopes", "up to 16 scope names"));
    }
    Ok(())
}

impl Vault {
    fn oidc_aad<'a>(code: &'a TenantCode, what: &'a str) -> custos_crypto::FieldAad<'a> {
        custos_crypto::FieldAad {
            tenant: code.as_str(),
            collection: "_oidc",
            record: "config",
            field: what,
            scope: custos_crypto::KeyScope::Tenant(0),
        }
    }

    /// Set a tenant's OpenID Connect settings and client secret.
    pub async fn set_oidc(
        &self,
        c: &Caller,
        code: &TenantCode,
        settings: OidcSettings,
        client_secret: Secret<String>,
    ) -> Result<(), CoreError> {
        let mut a = self.audit(c, "oidc.configure").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ManageUsers).await?;
            validate(&settings)?;
            if let Some(role) = &settings.default_role {
                self.ensure_can_grant(c, code, std::slice::from_ref(role)).await?;
            }
            if client_secret.expose().len() > 1024 {
                return Err(CoreError::invalid("client_secret", "at most 1024 bytes"));
            }
            let ik = self.identity_keys(Some(code))?;
            let sealed =
                ik.seal_key().seal_field(client_secret.expose().as_bytes(), &Self::oidc_aad(code, "secret"))?;
            a.set_reason(format!("issuer={}", settings.issuer));
            let row = OidcConfigRow {
                tenant: code.clone(),
                settings_json: serde_json::to_string(&settings).map_err(|_| CoreError::Integrity)?,
                client_secret: sealed,
                updated_at: self.now(),
            };
            self.apply_audited(vec![WriteOp::Identity(IdentityOp::PutOidcConfig(row))], &a).await?;
            Ok(())
        }
        .await;
        self.settle(a, r).await
    }

    /// A tenant's settings and client secret (for the server's provider calls).
    pub async fn oidc_client(&self, code: &TenantCode) -> Result<(OidcSettings, Secret<String>), CoreError> {
        let row = self.store.oidc_config(code).await?.ok_or(CoreError::NotFound("single sign-on for this tenant"))?;
        let settings: OidcSettings = serde_json::from_str(&row.settings_json).map_err(|_| CoreError::Integrity)?;
        let ik = self.identity_keys(Some(code))?;
        let plain = ik.seal_key().open_field(&row.client_secret, &Self::oidc_aad(code, "secret"))?;
        let secret = String::from_utf8(plain.to_vec()).map_err(|_| CoreError::Integrity)?;
        Ok((settings, Secret::new(secret)))
    }

    /// Start a login: fresh state, nonce and PKCE verifier, remembered in the store.
    pub async fn oidc_begin(&self, code: &TenantCode) -> Result<OidcStart, CoreError> {
        self.keys()?;
        self.tenant_row(code).await?;
        let (settings, _) = self.oidc_client(code).await?;
        let state = random_b64(32)?;
        let nonce = random_b64(32)?;
        let verifier = random_b64(48)?;
        let secrets = PendingSecrets { verifier: verifier.expose().clone(), nonce: nonce.expose().clone() };
        let plain = Secret::new(serde_json::to_vec(&secrets).map_err(|_| CoreError::Integrity)?);
        let ik = self.identity_keys(Some(code))?;
        let state_hash = TokenHash::of(state.expose());
        let sealed = ik.seal_key().seal_field(plain.expose(), &Self::oidc_aad(code, "pending"))?;
        let now = self.now();
        let row = OidcPendingRow {
            state_hash,
            tenant: code.clone(),
            secrets: sealed,
            created_at: now,
            expires_at: Timestamp(now.0 + PENDING_MS),
        };
        self.store.apply(vec![WriteOp::Identity(IdentityOp::InsertOidcPending(row))]).await?;
        Ok(OidcStart { settings, state, nonce, verifier })
    }

    /// Take a started login by its state (once): tenant, verifier and nonce.
    pub async fn oidc_take(
        &self,
        state: &str,
        meta: &RequestMeta,
    ) -> Result<(TenantCode, Secret<String>, Secret<String>), CoreError> {
        let a = self.audit_anonymous(meta, "auth.oidc.callback");
        let r = async {
            self.keys()?;
            let hash = TokenHash::of(state);
            let row = self.store.oidc_pending(&hash).await?.ok_or(CoreError::LoginFailed("unknown_state"))?;
            let take = IdentityOp::TakeOidcPending { state_hash: hash, at: self.now() };
            match self.store.apply(vec![WriteOp::Identity(take)]).await {
                Ok(()) => {}
                Err(StoreError::NotFound(_)) => return Err(CoreError::LoginFailed("state_used_or_expired")),
                Err(e) => return Err(e.into()),
            }
            let ik = self.identity_keys(Some(&row.tenant))?;
            let plain = ik.seal_key().open_field(&row.secrets, &Self::oidc_aad(&row.tenant, "pending"))?;
            let s: PendingSecrets = serde_json::from_slice(&plain).map_err(|_| CoreError::Integrity)?;
            Ok((row.tenant, Secret::new(s.verifier.clone()), Secret::new(s.nonce.clone())))
        }
        .await;
        self.settle(a, r).await
    }

    /// Record a refused provider login (bad token, provider error) in the audit trail.
    pub async fn oidc_refused(&self, code: &TenantCode, cause: &'static str, meta: &RequestMeta) -> CoreError {
        let a = self.audit_anonymous(meta, "auth.login").tenant(code);
        match self.settle::<()>(a, Err(CoreError::LoginFailed(cause))).await {
            Err(e) => e,
            Ok(()) => CoreError::LoginFailed(cause),
        }
    }

    /// Sign in a validated provider identity: find or provision the user, start a session.
    pub async fn sso_login(
        &self,
        code: &TenantCode,
        id: SsoIdentity,
        meta: &RequestMeta,
    ) -> Result<SessionCreated, CoreError> {
        let mut a = self.audit_anonymous(meta, "auth.login").tenant(code);
        let r = async {
            let (settings, _) = self.oidc_client(code).await?;
            let ik = self.identity_keys(Some(code))?;
            let login_mac = ik.lookup("oidc-subject", &format!("{}\u{0}{}", id.issuer, id.subject.expose()));
            let mut ops = Vec::new();
            let user = match self.store.user_by_login(Some(code), &login_mac).await? {
                Some(u) => u,
                None => {
                    let uid = UserId::generate()?;
                    let email = match (&id.email, settings.store_email) {
                        (Some(e), true) => validate_email(e.expose()).ok(),
                        _ => None,
                    };
                    let profile = Profile { username: None, email: email.clone() };
                    let row = UserRow {
                        id: uid.clone(),
                        tenant: Some(code.clone()),
                        login_mac,
                        email_mac: email.as_deref().map(|e| ik.lookup("email", e)),
                        profile: seal_profile(&ik, Some(code), &uid, &profile)?,
                        password: None,
                        roles: settings.default_role.iter().cloned().collect(),
                        totp: None,
                        totp_enabled: false,
                        totp_last_step: 0,
                        disabled: false,
                        created_at: self.now(),
                        last_login_at: None,
                    };
                    let mut p = self.audit_system("user.provision").tenant(code);
                    p.set_reason(format!(
                        "user={uid} via=oidc roles={}",
                        settings.default_role.as_ref().map(RoleName::as_str).unwrap_or("")
                    ));
                    ops.push(WriteOp::Identity(IdentityOp::InsertUser(Box::new(row.clone()))));
                    ops.push(p.ok());
                    row
                }
            };
            a = self.audit_user(user.id.as_str(), false, meta, "auth.login").tenant(code);
            a.set_reason("oidc".into());
            if user.disabled {
                return Err(CoreError::LoginFailed("disabled"));
            }
            let created = self.start_session(&user, false, &mut ops).await?;
            self.apply_audited(ops, &a).await?;
            Ok(created)
        }
        .await;
        self.settle(a, r).await
    }
}
