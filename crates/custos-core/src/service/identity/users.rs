//! Staff users and operators: create (with a password or by invitation), list, change
//! roles, disable, delete. Usernames and emails are sealed; lookups go through keyed
//! MACs. A caller can grant only roles whose permissions it holds itself (operators set
//! up tenants and may grant any role).

use super::super::Vault;
use super::super::audit::{Audit, Caller};
use super::{Profile, normalise_login, scope, seal_profile, validate_email, validate_username};
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::{TenantCode, UserId};
use crate::policy::{Action, Principal, RoleName};
use crate::store::{IdentityOp, ResetTokenRow, TokenPurpose, UserRow, WriteOp};
use custos_crypto::{PasswordProblem, Secret, check_new_password, hash_password, new_token};

use super::reset::OutgoingMail;

/// A new staff user.
#[derive(Debug)]
pub struct NewUser {
    /// Username (compared case-insensitively).
    pub username: String,
    /// First password; without one the user must be invited by email.
    pub password: Option<Secret<String>>,
    /// Email address, for resets and invitations.
    pub email: Option<String>,
    /// Roles (none: no access until given one).
    pub roles: Vec<RoleName>,
}

/// A change to a user.
#[derive(Debug, Default)]
pub struct UserChange {
    /// New roles.
    pub roles: Option<Vec<RoleName>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
}

/// A user as shown to those who manage users.
#[derive(Debug, Clone)]
pub struct UserView {
    /// Id.
    pub id: UserId,
    /// Username (`None` for users who only sign in through SSO).
    pub username: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Roles.
    pub roles: Vec<RoleName>,
    /// Whether MFA is set up.
    pub mfa: bool,
    /// Whether the user is disabled.
    pub disabled: bool,
    /// Whether the user has a password (invited users have none until they set one).
    pub has_password: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last login.
    pub last_login_at: Option<Timestamp>,
}

fn password_problem(p: PasswordProblem) -> CoreError {
    let why = match p {
        PasswordProblem::TooShort => format!("at least {} characters", custos_crypto::MIN_PASSWORD_CHARS),
        PasswordProblem::TooLong => format!("at most {} bytes", custos_crypto::MAX_PASSWORD_BYTES),
        PasswordProblem::Common => "is a common or breached password".into(),
        PasswordProblem::ContainsUsername => "must not contain the username".into(),
    };
    CoreError::invalid("password", why)
}

impl Vault {
    /// Check a new password against the policy and hash it (off the runtime).
    pub(crate) async fn hash_new_password(
        &self,
        password: Secret<String>,
        username: &str,
    ) -> Result<String, CoreError> {
        check_new_password(password.expose(), username).map_err(password_problem)?;
        let params = self.identity_config().password_params;
        let _permit = self.argon.acquire().await.map_err(|_| CoreError::Integrity)?;
        tokio::task::spawn_blocking(move || hash_password(&password, params))
            .await
            .map_err(|_| CoreError::Integrity)?
            .map_err(CoreError::from)
    }

    fn user_audit(&self, c: &Caller, tenant: Option<&TenantCode>, action: &str) -> Audit {
        let a = self.audit(c, action);
        match tenant {
            Some(t) => a.tenant(t),
            None => a,
        }
    }

    /// Authorise user management in `tenant` (`None`: operators, by operators only).
    async fn authorize_users(&self, c: &Caller, tenant: Option<&TenantCode>) -> Result<(), CoreError> {
        self.keys()?;
        match tenant {
            Some(t) => {
                c.principal.authorize(t, Action::ManageUsers)?;
                self.tenant_row(t).await?;
                Ok(())
            }
            None => c.principal.require_operator(),
        }
    }

    /// Refuse roles that do not exist, or that grant more than the caller holds.
    pub(crate) async fn ensure_can_grant(
        &self,
        c: &Caller,
        tenant: &TenantCode,
        roles: &[RoleName],
    ) -> Result<(), CoreError> {
        let custom = self.store.roles(tenant).await?;
        for r in roles {
            if r.builtin().is_none() && !custom.iter().any(|row| &row.name == r) {
                return Err(CoreError::invalid("roles", format!("no role named {r}")));
            }
        }
        if let Principal::Member { permissions, .. } = &c.principal {
            let granted = self.permissions_of(tenant, roles).await?;
            if granted.iter().any(|p| !permissions.has(p)) {
                return Err(CoreError::Forbidden("cannot grant permissions the caller does not hold"));
            }
        }
        Ok(())
    }

    pub(crate) fn user_view(&self, u: &UserRow) -> Result<UserView, CoreError> {
        let ik = self.identity_keys(u.tenant.as_ref())?;
        let p = self.open_profile(&ik, u)?;
        Ok(UserView {
            id: u.id.clone(),
            username: p.username.clone(),
            email: p.email.clone(),
            roles: u.roles.clone(),
            mfa: u.totp_enabled,
            disabled: u.disabled,
            has_password: u.password.is_some(),
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        })
    }

    /// Create a user in `tenant` (`None`: an operator). Without a password an email is
    /// required and an invitation is returned for sending.
    pub async fn create_user(
        &self,
        c: &Caller,
        tenant: Option<&TenantCode>,
        req: NewUser,
    ) -> Result<(UserView, Option<OutgoingMail>), CoreError> {
        let mut a = self.user_audit(c, tenant, "user.create");
        let r = self.create_user_inner(c, tenant, req, &mut a).await;
        self.settle(a, r).await
    }

    async fn create_user_inner(
        &self,
        c: &Caller,
        tenant: Option<&TenantCode>,
        req: NewUser,
        a: &mut Audit,
    ) -> Result<(UserView, Option<OutgoingMail>), CoreError> {
        self.authorize_users(c, tenant).await?;
        let username = validate_username(&req.username)?;
        let email = req.email.as_deref().map(validate_email).transpose()?;
        let roles = match tenant {
            Some(t) => {
                self.ensure_can_grant(c, t, &req.roles).await?;
                req.roles
            }
            None if req.roles.is_empty() => Vec::new(),
            None => return Err(CoreError::invalid("roles", "operators have no tenant roles")),
        };
        if req.password.is_none() && email.is_none() {
            return Err(CoreError::invalid("password", "give a password, or an email to send an invitation to"));
        }
        let password = match req.password {
            Some(p) => Some(self.hash_new_password(p, &username).await?),
            None => None,
        };
        let ik = self.identity_keys(tenant)?;
        let id = UserId::generate()?;
        a.set_reason(format!("roles={}", roles.iter().map(RoleName::as_str).collect::<Vec<_>>().join(",")));
        let profile = Profile { username: Some(username.clone()), email: email.clone() };
        let now = self.now();
        let row = UserRow {
            id: id.clone(),
            tenant: tenant.cloned(),
            login_mac: ik.lookup("username", &normalise_login(&username)),
            email_mac: email.as_deref().map(|e| ik.lookup("email", e)),
            profile: seal_profile(&ik, tenant, &id, &profile)?,
            password,
            roles,
            totp: None,
            totp_enabled: false,
            totp_last_step: 0,
            disabled: false,
            created_at: now,
            last_login_at: None,
        };
        let mut ops = vec![WriteOp::Identity(IdentityOp::InsertUser(Box::new(row.clone())))];
        let mail = match (&row.password, email) {
            (None, Some(to)) => {
                let cfg = self.identity_config();
                let (token, hash) = new_token("ct")?;
                ops.push(WriteOp::Identity(IdentityOp::InsertResetToken(ResetTokenRow {
                    hash,
                    user: id.clone(),
                    purpose: TokenPurpose::Invite,
                    created_at: now,
                    expires_at: Timestamp(now.0 + cfg.invite_ms),
                })));
                Some(OutgoingMail::invitation(&cfg.public_url, scope(tenant), Secret::new(to), &token))
            }
            _ => None,
        };
        self.apply_audited(ops, a).await.map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => {
                CoreError::Conflict("a user with this username or email exists".into())
            }
            other => other.into(),
        })?;
        Ok((self.user_view(&row)?, mail))
    }

    /// Every user of a tenant (`None`: operators).
    pub async fn list_users(&self, c: &Caller, tenant: Option<&TenantCode>) -> Result<Vec<UserView>, CoreError> {
        let mut a = self.user_audit(c, tenant, "user.list");
        let r = async {
            self.authorize_users(c, tenant).await?;
            let rows = self.store.users(tenant).await?;
            a.set_count(rows.len());
            self.record_read(&a).await?;
            rows.iter().map(|u| self.user_view(u)).collect()
        }
        .await;
        self.settle(a, r).await
    }

    async fn user_in(&self, tenant: Option<&TenantCode>, id: &UserId) -> Result<UserRow, CoreError> {
        let u = self.store.user(id).await?.ok_or(CoreError::NotFound("user"))?;
        if u.tenant.as_ref() != tenant {
            return Err(CoreError::NotFound("user"));
        }
        Ok(u)
    }

    /// One user.
    pub async fn get_user(&self, c: &Caller, tenant: Option<&TenantCode>, id: &UserId) -> Result<UserView, CoreError> {
        let a = self.user_audit(c, tenant, "user.read");
        let r = async {
            self.authorize_users(c, tenant).await?;
            let u = self.user_in(tenant, id).await?;
            self.record_read(&a).await?;
            self.user_view(&u)
        }
        .await;
        self.settle(a, r).await
    }

    /// Change roles or disable/enable. Disabling ends the user's sessions.
    pub async fn update_user(
        &self,
        c: &Caller,
        tenant: Option<&TenantCode>,
        id: &UserId,
        change: UserChange,
    ) -> Result<UserView, CoreError> {
        let action = if change.roles.is_some() { "user.roles" } else { "user.update" };
        let mut a = self.user_audit(c, tenant, action);
        let r = async {
            self.authorize_users(c, tenant).await?;
            let mut u = self.user_in(tenant, id).await?;
            let mut ops = Vec::new();
            let mut notes = vec![format!("user={id}")];
            if let Some(roles) = change.roles {
                let t = tenant.ok_or(CoreError::invalid("roles", "operators have no tenant roles"))?;
                self.ensure_can_grant(c, t, &roles).await?;
                notes.push(format!("roles={}", roles.iter().map(RoleName::as_str).collect::<Vec<_>>().join(",")));
                ops.push(WriteOp::Identity(IdentityOp::SetUserRoles { id: id.clone(), roles: roles.clone() }));
                u.roles = roles;
            }
            if let Some(disabled) = change.disabled {
                if c.principal.id() == id.as_str() && disabled {
                    return Err(CoreError::Conflict("a user cannot disable itself".into()));
                }
                notes.push(format!("disabled={disabled}"));
                ops.push(WriteOp::Identity(IdentityOp::SetUserDisabled { id: id.clone(), disabled }));
                if disabled {
                    ops.push(WriteOp::Identity(IdentityOp::RevokeUserSessions { user: id.clone() }));
                }
                u.disabled = disabled;
            }
            a.set_reason(notes.join(" "));
            self.apply_audited(ops, &a).await?;
            self.user_view(&u)
        }
        .await;
        self.settle(a, r).await
    }

    /// Delete a user, its sessions, codes and tokens.
    pub async fn delete_user(&self, c: &Caller, tenant: Option<&TenantCode>, id: &UserId) -> Result<(), CoreError> {
        let mut a = self.user_audit(c, tenant, "user.delete");
        let r = async {
            self.authorize_users(c, tenant).await?;
            self.user_in(tenant, id).await?;
            if c.principal.id() == id.as_str() {
                return Err(CoreError::Conflict("a user cannot delete itself".into()));
            }
            a.set_reason(format!("user={id}"));
            self.apply_audited(vec![WriteOp::Identity(IdentityOp::DeleteUser { id: id.clone() })], &a).await?;
            Ok(())
        }
        .await;
        self.settle(a, r).await
    }
}
