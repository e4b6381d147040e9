//! Password login: throttle first (per account and per source address, counted in the
//! store inside one transaction, so parallel attempts and other nodes see every one),
//! then the password, then the second factor, then a session. Every cause of failure
//! gives the caller the same error; the audit trail records the cause.

use super::super::Vault;
use super::super::audit::Audit;
use super::{normalise_login, scope};
use crate::audit::RequestMeta;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::TenantCode;
use crate::store::{IdentityOp, StoreError, UserRow, WriteOp};
use aws_lc_rs::digest::{SHA256, digest};
use custos_crypto::{Secret, burn_password_check, hash_password, needs_rehash, verify_password};

/// A login attempt.
#[derive(Debug)]
pub struct LoginRequest {
    /// Tenant; `None` for an operator.
    pub tenant: Option<TenantCode>,
    /// Username.
    pub username: String,
    /// Password.
    pub password: Secret<String>,
    /// Six-digit TOTP code, or a recovery code, when MFA is set up.
    pub totp: Option<Secret<String>>,
}

/// A new session: the only time its id is visible.
#[derive(Debug)]
pub struct SessionCreated {
    /// The session id (bearer token and cookie value).
    pub token: Secret<String>,
    /// Absolute end of the session.
    pub expires_at: Timestamp,
    /// Whether the user must enrol in MFA before doing anything else.
    pub mfa_enrolment_required: bool,
}

pub(crate) fn throttle_key(parts: &[&[u8]]) -> [u8; 32] {
    let mut buf = Vec::new();
    for p in parts {
        buf.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &buf).as_ref());
    out
}

impl Vault {
    /// Log in with a password (and a TOTP or recovery code when enrolled).
    pub async fn login(&self, req: LoginRequest, meta: &RequestMeta) -> Result<SessionCreated, CoreError> {
        let mut a = self.audit_anonymous(meta, "auth.login");
        if let Some(t) = &req.tenant {
            a = a.tenant(t);
        }
        let r = self.login_inner(req, meta, &mut a).await;
        self.settle(a, r).await
    }

    async fn login_inner(
        &self,
        req: LoginRequest,
        meta: &RequestMeta,
        a: &mut Audit,
    ) -> Result<SessionCreated, CoreError> {
        let cfg = self.identity_config();
        let tenant = req.tenant.as_ref();
        if let Some(t) = tenant {
            // An unknown tenant looks like an unknown account.
            if self.tenant_row(t).await.is_err() {
                self.keys()?;
                return Err(CoreError::LoginFailed("unknown_tenant"));
            }
        }
        let ik = self.identity_keys(tenant)?;
        let login_mac = ik.lookup("username", &normalise_login(&req.username));
        let acct = throttle_key(&[b"acct", scope(tenant).as_bytes(), &login_mac]);
        let src = throttle_key(&[b"src", meta.client.as_deref().unwrap_or("unknown").as_bytes()]);
        let admit = IdentityOp::ThrottleAdmit {
            keys: vec![(acct, cfg.account_throttle), (src, cfg.source_throttle)],
            now: self.now(),
        };
        match self.store.apply(vec![WriteOp::Identity(admit)]).await {
            Ok(()) => {}
            Err(StoreError::Locked { until }) => {
                let retry_after = ((until.0 - self.now().0) / 1000).max(1);
                return Err(CoreError::Throttled { retry_after });
            }
            Err(e) => return Err(e.into()),
        }
        let user = self.store.user_by_login(tenant, &login_mac).await?;
        let Some(user) = user else {
            self.burn(req.password, cfg.password_params).await;
            return Err(CoreError::LoginFailed("unknown_account"));
        };
        *a = self.audit_user(user.id.as_str(), tenant.is_none(), meta, "auth.login");
        if let Some(t) = tenant {
            *a = a.clone().tenant(t);
        }
        let Some(phc) = user.password.clone() else {
            self.burn(req.password, cfg.password_params).await;
            return Err(CoreError::LoginFailed("no_password"));
        };
        let (ok, password) = self.verify(req.password, phc.clone()).await?;
        if !ok {
            return Err(CoreError::LoginFailed("bad_password"));
        }
        if user.disabled {
            return Err(CoreError::LoginFailed("disabled"));
        }
        let mut ops = Vec::new();
        let mfa = if user.totp_enabled {
            let code = req.totp.ok_or(CoreError::LoginFailed("totp_missing"))?;
            let factor = self.check_second_factor(&user, code.expose()).await?;
            let mut m = self.audit_user(user.id.as_str(), tenant.is_none(), meta, "auth.mfa");
            if let Some(t) = tenant {
                m = m.tenant(t);
            }
            m.set_reason(factor.into());
            ops.push(m.ok());
            true
        } else {
            false
        };
        if needs_rehash(&phc, cfg.password_params) {
            let params = cfg.password_params;
            let new = tokio::task::spawn_blocking(move || hash_password(&password, params))
                .await
                .map_err(|_| CoreError::Integrity)??;
            ops.push(WriteOp::Identity(IdentityOp::SetPassword { id: user.id.clone(), phc: new }));
        }
        ops.push(WriteOp::Identity(IdentityOp::ThrottleClear { key: acct }));
        // The address keeps its other failures (password spraying), not this success.
        ops.push(WriteOp::Identity(IdentityOp::ThrottleForgive { key: src, policy: cfg.source_throttle }));
        let created = self.start_session(&user, mfa, &mut ops).await?;
        self.apply_audited(ops, a).await?;
        Ok(created)
    }

    /// A TOTP code (each step usable once) or a recovery code (each usable once): which
    /// of the two was used.
    pub(crate) async fn check_second_factor(&self, user: &UserRow, code: &str) -> Result<&'static str, CoreError> {
        let code = code.trim();
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            let secret = self.open_totp(user)?;
            let now_step = custos_crypto::TotpSecret::step_of(self.now().0.div_euclid(1000));
            let step = secret.matching_step(code, now_step).ok_or(CoreError::LoginFailed("bad_totp"))?;
            // Spent at once, before anything else, so a replay in the same window fails.
            let spend = IdentityOp::UseTotpStep { id: user.id.clone(), step };
            return match self.store.apply(vec![WriteOp::Identity(spend)]).await {
                Ok(()) => Ok("totp"),
                Err(StoreError::Stale) => Err(CoreError::LoginFailed("totp_replayed")),
                Err(e) => Err(e.into()),
            };
        }
        let hash = super::mfa::recovery_hash(code);
        let spend = IdentityOp::UseRecoveryCode { user: user.id.clone(), hash, at: self.now() };
        match self.store.apply(vec![WriteOp::Identity(spend)]).await {
            Ok(()) => Ok("recovery_code"),
            Err(StoreError::NotFound(_)) => Err(CoreError::LoginFailed("bad_second_factor")),
            Err(e) => Err(e.into()),
        }
    }

    async fn verify(&self, password: Secret<String>, phc: String) -> Result<(bool, Secret<String>), CoreError> {
        let _permit = self.argon.acquire().await.map_err(|_| CoreError::Integrity)?;
        tokio::task::spawn_blocking(move || {
            let ok = verify_password(&password, &phc);
            (ok, password)
        })
        .await
        .map_err(|_| CoreError::Integrity)
    }

    async fn burn(&self, password: Secret<String>, params: custos_crypto::PasswordParams) {
        if let Ok(_permit) = self.argon.acquire().await {
            let _ = tokio::task::spawn_blocking(move || burn_password_check(&password, params)).await;
        }
    }
}
