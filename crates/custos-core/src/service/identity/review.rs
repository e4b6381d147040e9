//! Access reviews: every principal of a tenant with its roles, effective permissions,
//! MFA status, last activity and key age; a confirmation records who reviewed, when,
//! and what they changed (users disabled, keys revoked in the same step). A tenant whose
//! last review is older than the review period is overdue.

use super::super::Vault;
use super::super::audit::Caller;
use crate::clock::Timestamp;
use crate::error::CoreError;
use crate::ids::{ApiKeyId, TenantCode, UserId};
use crate::policy::{Action, RoleName};
use crate::store::{AccessReviewRow, IdentityOp, WriteOp};

/// One principal in a review.
#[derive(Debug, Clone)]
pub struct PrincipalReview {
    /// User or key id.
    pub id: String,
    /// `user` or `service`.
    pub kind: &'static str,
    /// Username or key label.
    pub name: Option<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// Effective permissions.
    pub permissions: Vec<&'static str>,
    /// MFA set up (users only).
    pub mfa: Option<bool>,
    /// Disabled user or revoked/expired key.
    pub inactive: bool,
    /// Last login or use.
    pub last_active_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Age in days.
    pub age_days: i64,
    /// Key expiry.
    pub expires_at: Option<Timestamp>,
}

/// The review report.
#[derive(Debug, Clone)]
pub struct AccessReview {
    /// Tenant.
    pub tenant: TenantCode,
    /// When this report was made.
    pub generated_at: Timestamp,
    /// The previous confirmed review.
    pub last_review: Option<(String, String, Timestamp)>,
    /// When the next review is due.
    pub due_at: Timestamp,
    /// Whether it is overdue.
    pub overdue: bool,
    /// Every principal.
    pub principals: Vec<PrincipalReview>,
}

/// A confirmation, with the changes to make as part of it.
#[derive(Debug, Clone, Default)]
pub struct ConfirmReview {
    /// Users to disable.
    pub disable_users: Vec<UserId>,
    /// Keys to revoke.
    pub revoke_keys: Vec<ApiKeyId>,
}

/// A recorded review.
#[derive(Debug, Clone)]
pub struct ReviewConfirmed {
    /// Id.
    pub id: String,
    /// Reviewer.
    pub reviewer: String,
    /// When.
    pub at: Timestamp,
    /// Principals reviewed.
    pub principals_reviewed: usize,
    /// What changed.
    pub changes: Vec<String>,
}

const DAY_MS: i64 = 86_400_000;

impl Vault {
    async fn review_due(&self, code: &TenantCode) -> Result<(Option<AccessReviewRow>, Timestamp), CoreError> {
        let last = self.store.last_access_review(code).await?;
        let from = match &last {
            Some(r) => r.at,
            None => self.tenant_row(code).await?.created_at,
        };
        Ok((last, from.plus_days(self.identity_config().review_days)))
    }

    async fn principals(&self, code: &TenantCode) -> Result<Vec<PrincipalReview>, CoreError> {
        let now = self.now();
        let mut out = Vec::new();
        for u in self.store.users(Some(code)).await? {
            let v = self.user_view(&u)?;
            let perms = self.permissions_of(code, &u.roles).await?;
            out.push(PrincipalReview {
                id: u.id.to_string(),
                kind: "user",
                name: v.username,
                roles: u.roles.iter().map(RoleName::to_string).collect(),
                permissions: perms.names(),
                mfa: Some(u.totp_enabled),
                inactive: u.disabled,
                last_active_at: u.last_login_at,
                created_at: u.created_at,
                age_days: (now.0 - u.created_at.0) / DAY_MS,
                expires_at: None,
            });
        }
        for k in self.store.api_keys(code).await? {
            let perms = self.permissions_of(code, std::slice::from_ref(&k.role)).await?;
            out.push(PrincipalReview {
                id: k.id.to_string(),
                kind: "service",
                name: Some(k.name.clone()),
                roles: vec![k.role.to_string()],
                permissions: perms.names(),
                mfa: None,
                inactive: k.revoked_at.is_some() || k.expires_at <= now,
                last_active_at: k.last_used_at,
                created_at: k.created_at,
                age_days: (now.0 - k.created_at.0) / DAY_MS,
                expires_at: Some(k.expires_at),
            });
        }
        Ok(out)
    }

    /// The access-review report of a tenant.
    pub async fn access_review(&self, c: &Caller, code: &TenantCode) -> Result<AccessReview, CoreError> {
        let mut a = self.audit(c, "access_review.read").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ReviewAccess).await?;
            let principals = self.principals(code).await?;
            let (last, due_at) = self.review_due(code).await?;
            a.set_count(principals.len());
            self.record_read(&a).await?;
            let now = self.now();
            Ok(AccessReview {
                tenant: code.clone(),
                generated_at: now,
                last_review: last.map(|r| (r.id, r.reviewer, r.at)),
                due_at,
                overdue: now >= due_at,
                principals,
            })
        }
        .await;
        self.settle(a, r).await
    }

    /// Confirm a review, applying the listed changes in the same step.
    pub async fn confirm_access_review(
        &self,
        c: &Caller,
        code: &TenantCode,
        req: ConfirmReview,
    ) -> Result<ReviewConfirmed, CoreError> {
        let mut a = self.audit(c, "access_review.confirm").tenant(code);
        let r = async {
            self.ctx(&c.principal, code, Action::ReviewAccess).await?;
            let principals = self.principals(code).await?;
            let mut ops = Vec::new();
            let mut changes = Vec::new();
            let mut forget = Vec::new();
            for id in &req.disable_users {
                let u = self.store.user(id).await?.filter(|u| u.tenant.as_ref() == Some(code));
                let u = u.ok_or(CoreError::invalid("disable_users", format!("no user {id} in this tenant")))?;
                if c.principal.id() == u.id.as_str() {
                    return Err(CoreError::Conflict("a reviewer cannot disable itself".into()));
                }
                ops.push(WriteOp::Identity(IdentityOp::SetUserDisabled { id: u.id.clone(), disabled: true }));
                ops.push(WriteOp::Identity(IdentityOp::RevokeUserSessions { user: u.id.clone() }));
                changes.push(format!("disabled user {}", u.id));
            }
            for id in &req.revoke_keys {
                let k = self.store.api_key(id).await?.filter(|k| &k.tenant == code && k.revoked_at.is_none());
                let k = k.ok_or(CoreError::invalid("revoke_keys", format!("no live key {id} in this tenant")))?;
                ops.push(self.revoke_key_ops(&k));
                changes.push(format!("revoked key {}", k.id));
                forget.push(k);
            }
            let now = self.now();
            let id = format!("rev_{}", custos_crypto::random_hex(8)?);
            let summary = serde_json::json!({
                "principals": principals.iter().map(|p| serde_json::json!({
                    "id": p.id, "kind": p.kind, "roles": p.roles, "permissions": p.permissions,
                    "mfa": p.mfa, "inactive": p.inactive,
                })).collect::<Vec<_>>(),
                "changes": changes,
            });
            ops.push(WriteOp::Identity(IdentityOp::InsertAccessReview(AccessReviewRow {
                id: id.clone(),
                tenant: code.clone(),
                reviewer: c.principal.id().to_owned(),
                at: now,
                summary_json: summary.to_string(),
            })));
            a.set_count(principals.len());
            a.set_reason(format!("review={id} changes={}", changes.len()));
            self.apply_audited(ops, &a).await?;
            for k in &forget {
                self.forget_token(k);
            }
            Ok(ReviewConfirmed {
                id,
                reviewer: c.principal.id().to_owned(),
                at: now,
                principals_reviewed: principals.len(),
                changes,
            })
        }
        .await;
        self.settle(a, r).await
    }

    /// Record that a tenant's access review is overdue (the alert rules raise it).
    pub async fn note_overdue_review(&self, code: &TenantCode) -> Result<(), CoreError> {
        let (_, due) = self.review_due(code).await?;
        let mut a = self.audit_system("access_review.overdue").tenant(code);
        a.set_reason(format!("due_at={}", due.to_rfc3339()));
        self.store.apply(vec![a.ok()]).await?;
        Ok(())
    }

    /// Tenants whose access review is overdue (for health and alerts).
    pub async fn overdue_access_reviews(&self) -> Result<Vec<TenantCode>, CoreError> {
        let now = self.now();
        let mut out = Vec::new();
        for t in self.store.list_tenants().await? {
            let (_, due) = self.review_due(&t.code).await?;
            if now >= due {
                out.push(t.code);
            }
        }
        Ok(out)
    }
}
