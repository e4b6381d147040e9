//! TOTP enrolment (RFC 6238): a fresh secret sealed under the identity key, confirmed by
//! a first code, then ten single-use recovery codes, stored as hashes. Confirming also
//! marks the current session as having given its second factor.

use super::super::Vault;
use super::super::audit::Caller;
use super::{profile_aad, scope};
use crate::error::CoreError;
use crate::ids::UserId;
use crate::store::{IdentityOp, StoreError, UserRow, WriteOp};
use custos_crypto::{Secret, TokenHash, TotpSecret};

/// How many recovery codes a user gets.
const RECOVERY_CODES: usize = 10;

/// A started enrolment: shown once.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// Base32 secret for manual entry.
    pub secret: Secret<String>,
    /// `otpauth://totp/...` URI for authenticator apps.
    pub otpauth_uri: Secret<String>,
}

/// A confirmed enrolment: the recovery codes, shown once.
#[derive(Debug)]
pub struct MfaConfirmed {
    /// Ten single-use codes.
    pub recovery_codes: Vec<Secret<String>>,
}

/// Hash of a recovery code, normalised (case and dashes ignored).
pub(crate) fn recovery_hash(code: &str) -> TokenHash {
    let n: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    TokenHash::of(&n)
}

fn new_recovery_code() -> Result<Secret<String>, CoreError> {
    let raw = custos_crypto::random_array::<7>()?;
    let text = TotpSecret::from_bytes(raw.to_vec()).to_base32();
    let lower = text.expose().to_lowercase();
    Ok(Secret::new(format!("{}-{}", &lower[..5], &lower[5..10])))
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Vault {
    pub(crate) fn open_totp(&self, user: &UserRow) -> Result<TotpSecret, CoreError> {
        let sealed = user.totp.as_ref().ok_or(CoreError::LoginFailed("no_totp"))?;
        let ik = self.identity_keys(user.tenant.as_ref())?;
        let plain = ik.seal_key().open_field(sealed, &profile_aad(user.tenant.as_ref(), &user.id, "totp"))?;
        Ok(TotpSecret::from_bytes(plain.to_vec()))
    }

    async fn session_user(&self, c: &Caller) -> Result<UserRow, CoreError> {
        if c.session.is_none() {
            return Err(CoreError::Forbidden("only a staff user's session can enrol in MFA"));
        }
        let id = UserId::parse(c.principal.id()).map_err(|_| CoreError::Forbidden("not a staff user"))?;
        self.store.user(&id).await?.ok_or(CoreError::Unauthenticated)
    }

    /// Start TOTP enrolment for the calling user (allowed while MFA is pending).
    pub async fn totp_enrol(&self, c: &Caller) -> Result<TotpEnrolment, CoreError> {
        let a = self.audit_own_tenant(c, "auth.mfa.enrol");
        let r = async {
            let user = self.session_user(c).await?;
            if user.totp_enabled {
                return Err(CoreError::Conflict("MFA is already set up for this user".into()));
            }
            let secret = TotpSecret::generate()?;
            let ik = self.identity_keys(user.tenant.as_ref())?;
            let sealed =
                ik.seal_key().seal_field(secret.expose(), &profile_aad(user.tenant.as_ref(), &user.id, "totp"))?;
            let profile = self.open_profile(&ik, &user)?;
            let account =
                format!("{}:{}", scope(user.tenant.as_ref()), profile.username.as_deref().unwrap_or(user.id.as_str()));
            let b32 = secret.to_base32();
            let uri = format!(
                "otpauth://totp/Custos:{}?secret={}&issuer=Custos&algorithm=SHA1&digits=6&period=30",
                url_encode(&account),
                b32.expose()
            );
            let set = IdentityOp::SetTotp { id: user.id.clone(), secret: Some(sealed), enabled: false };
            self.apply_audited(vec![WriteOp::Identity(set)], &a).await?;
            Ok(TotpEnrolment { secret: b32, otpauth_uri: Secret::new(uri) })
        }
        .await;
        self.settle(a, r).await
    }

    /// Confirm enrolment with a first code: MFA on, recovery codes issued, this
    /// session's second factor given.
    pub async fn totp_confirm(&self, c: &Caller, code: &str) -> Result<MfaConfirmed, CoreError> {
        let a = self.audit_own_tenant(c, "auth.mfa.confirm");
        let r = async {
            let user = self.session_user(c).await?;
            if user.totp_enabled {
                return Err(CoreError::Conflict("MFA is already set up for this user".into()));
            }
            if user.totp.is_none() {
                return Err(CoreError::State("start enrolment first"));
            }
            let secret = self.open_totp(&user)?;
            let now_step = TotpSecret::step_of(self.now().0.div_euclid(1000));
            let step =
                secret.matching_step(code.trim(), now_step).ok_or(CoreError::invalid("code", "does not match"))?;
            let mut codes = Vec::with_capacity(RECOVERY_CODES);
            for _ in 0..RECOVERY_CODES {
                codes.push(new_recovery_code()?);
            }
            let hashes = codes.iter().map(|c| recovery_hash(c.expose())).collect();
            let session = c.session.clone().ok_or(CoreError::Unauthenticated)?;
            let ops = vec![
                WriteOp::Identity(IdentityOp::UseTotpStep { id: user.id.clone(), step }),
                WriteOp::Identity(IdentityOp::SetTotp {
                    id: user.id.clone(),
                    secret: user.totp.clone(),
                    enabled: true,
                }),
                WriteOp::Identity(IdentityOp::ReplaceRecoveryCodes { user: user.id.clone(), hashes }),
                WriteOp::Identity(IdentityOp::SetSessionMfa { hash: session }),
            ];
            match self.apply_audited(ops, &a).await {
                Ok(()) => Ok(MfaConfirmed { recovery_codes: codes }),
                Err(StoreError::Stale) => Err(CoreError::invalid("code", "already used")),
                Err(e) => Err(e.into()),
            }
        }
        .await;
        self.settle(a, r).await
    }
}
