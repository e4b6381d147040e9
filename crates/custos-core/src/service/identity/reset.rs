//! Password reset and invitations by email: a single-use token (256 bits, stored as a
//! hash) in a link to the console. A reset request answers the same whether or not the
//! account exists; only an existing, enabled account with an email gets a mail.
//! Completing a reset sets the password and ends every session of the user.

use super::super::Vault;
use super::login::throttle_key;
use super::{scope, validate_email};
use crate::audit::RequestMeta;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::TenantCode;
use crate::store::{IdentityOp, ResetTokenRow, StoreError, ThrottlePolicy, TokenPurpose, WriteOp};
use custos_crypto::{Secret, TokenHash, new_token};

/// A mail for the server to send.
#[derive(Debug)]
pub struct OutgoingMail {
    /// Recipient.
    pub to: Secret<String>,
    /// Subject.
    pub subject: String,
    /// Plain-text body (holds the link, so it is secret).
    pub body: Secret<String>,
}

/// Reset requests per address and per account: a few an hour, to stop mail floods.
const RESET_THROTTLE: ThrottlePolicy =
    ThrottlePolicy { free: 5, base_ms: 600_000, max_ms: 3_600_000, window_ms: 3_600_000 };

impl OutgoingMail {
    fn link(public_url: &str, token: &Secret<String>) -> String {
        // The token travels in the fragment, which browsers never send to a server.
        format!("{}/console/reset#token={}", public_url.trim_end_matches('/'), token.expose())
    }

    pub(crate) fn reset(public_url: &str, scope: &str, to: Secret<String>, token: &Secret<String>) -> Self {
        let body = format!(
            "Someone asked to reset the password of your Custos account ({scope}).\n\n\
             To choose a new password, open this link within 30 minutes:\n\n{}\n\n\
             The link works once. If you did not ask for this, ignore this mail: your password stays as it is.\n",
            Self::link(public_url, token)
        );
        Self { to, subject: "Reset your Custos password".into(), body: Secret::new(body) }
    }

    pub(crate) fn invitation(public_url: &str, scope: &str, to: Secret<String>, token: &Secret<String>) -> Self {
        let body = format!(
            "You have been given an account on Custos ({scope}).\n\n\
             To choose your password, open this link within 72 hours:\n\n{}\n\nThe link works once.\n",
            Self::link(public_url, token)
        );
        Self { to, subject: "Your Custos account".into(), body: Secret::new(body) }
    }
}

impl Vault {
    /// Ask for a reset mail. Always succeeds from the caller's view (unless sealed or
    /// throttled); returns the mail to send when there is one.
    pub async fn request_password_reset(
        &self,
        tenant: Option<&TenantCode>,
        email: &str,
        meta: &RequestMeta,
    ) -> Result<Option<OutgoingMail>, CoreError> {
        let mut a = self.audit_anonymous(meta, "auth.password_reset.request");
        if let Some(t) = tenant {
            a = a.tenant(t);
        }
        let r = async {
            self.keys()?;
            let Ok(email) = validate_email(email) else {
                a.set_reason("invalid_email".into());
                return Ok(None);
            };
            if let Some(t) = tenant
                && self.tenant_row(t).await.is_err()
            {
                a.set_reason("unknown_tenant".into());
                return Ok(None);
            }
            let ik = self.identity_keys(tenant)?;
            let mac = ik.lookup("email", &email);
            let keys = vec![
                (throttle_key(&[b"reset-acct", scope(tenant).as_bytes(), &mac]), RESET_THROTTLE),
                (throttle_key(&[b"reset-src", meta.client.as_deref().unwrap_or("unknown").as_bytes()]), RESET_THROTTLE),
            ];
            match self.store.apply(vec![WriteOp::Identity(IdentityOp::ThrottleAdmit { keys, now: self.now() })]).await {
                Ok(()) => {}
                Err(StoreError::Locked { .. }) => {
                    // Still the same answer: a flood is dropped, not announced.
                    a.set_reason("throttled".into());
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
            let user = self.store.user_by_email(tenant, &mac).await?;
            let Some(user) = user.filter(|u| !u.disabled) else {
                a.set_reason("unknown_account".into());
                return Ok(None);
            };
            let cfg = self.identity_config();
            let now = self.now();
            let (token, hash) = new_token("cr")?;
            let row = ResetTokenRow {
                hash,
                user: user.id.clone(),
                purpose: TokenPurpose::Reset,
                created_at: now,
                expires_at: Timestamp(now.0 + cfg.reset_ms),
            };
            let mut entry = self.audit_user(user.id.as_str(), tenant.is_none(), meta, "auth.password_reset.request");
            if let Some(t) = tenant {
                entry = entry.tenant(t);
            }
            self.apply_audited(vec![WriteOp::Identity(IdentityOp::InsertResetToken(row))], &entry).await?;
            a.set_reason("mail_sent".into());
            Ok(Some(OutgoingMail::reset(&cfg.public_url, scope(tenant), Secret::new(email), &token)))
        }
        .await;
        match r {
            // The anonymous entry records requests that sent nothing.
            Ok(None) => {
                self.store.apply(vec![a.ok()]).await?;
                Ok(None)
            }
            other => self.settle(a, other).await,
        }
    }

    /// Set a new password with a reset or invitation token; ends every session.
    pub async fn complete_password_reset(
        &self,
        token: &str,
        password: Secret<String>,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut a = self.audit_anonymous(meta, "auth.password_reset");
        let r = async {
            self.keys()?;
            let hash = TokenHash::of(token);
            let now = self.now();
            let row = self.store.reset_token(&hash).await?.filter(|t| t.expires_at > now);
            let row = row.ok_or(CoreError::invalid("token", "unknown, used or expired"))?;
            let user =
                self.store.user(&row.user).await?.ok_or(CoreError::invalid("token", "unknown, used or expired"))?;
            a = self.audit_user(user.id.as_str(), user.tenant.is_none(), meta, "auth.password_reset");
            if let Some(t) = &user.tenant {
                a = a.clone().tenant(t);
            }
            a.set_reason(row.purpose.as_str().into());
            let ik = self.identity_keys(user.tenant.as_ref())?;
            let profile = self.open_profile(&ik, &user)?;
            let phc = self.hash_new_password(password, profile.username.as_deref().unwrap_or("")).await?;
            let acct = throttle_key(&[b"acct", scope(user.tenant.as_ref()).as_bytes(), &user.login_mac]);
            let ops = vec![
                WriteOp::Identity(IdentityOp::UseResetToken { hash, at: now }),
                WriteOp::Identity(IdentityOp::SetPassword { id: user.id.clone(), phc }),
                WriteOp::Identity(IdentityOp::RevokeUserSessions { user: user.id.clone() }),
                WriteOp::Identity(IdentityOp::ThrottleClear { key: acct }),
            ];
            self.apply_audited(ops, &a).await.map_err(|e| match e {
                StoreError::NotFound(_) => CoreError::invalid("token", "unknown, used or expired"),
                other => other.into(),
            })
        }
        .await;
        self.settle(a, r).await
    }
}
