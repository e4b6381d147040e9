//! `IdentityStore` for SQLite: point reads inline, lists off the runtime.

use super::{SqliteStore, identity_read as r};
use async_trait::async_trait;
use custos_core::clock::Timestamp;
use custos_core::ids::{ApiKeyId, TenantCode, UserId};
use custos_core::store::{
    AccessReviewRow, ApiKeyRow, IdentityStore, OidcConfigRow, OidcPendingRow, ResetTokenRow, RoleRow, SessionRow,
    StoreError, UserRow,
};
use custos_crypto::TokenHash;
use rusqlite::params;

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn user(&self, id: &UserId) -> Result<Option<UserRow>, StoreError> {
        self.point(|c| r::user(c, id))
    }

    async fn user_by_login(&self, tenant: Option<&TenantCode>, mac: &[u8; 32]) -> Result<Option<UserRow>, StoreError> {
        self.point(|c| r::user_by_login(c, tenant, mac))
    }

    async fn user_by_email(&self, tenant: Option<&TenantCode>, mac: &[u8; 32]) -> Result<Option<UserRow>, StoreError> {
        self.point(|c| r::user_by_email(c, tenant, mac))
    }

    async fn users(&self, tenant: Option<&TenantCode>) -> Result<Vec<UserRow>, StoreError> {
        let tenant = tenant.cloned();
        self.read(move |c| r::users(c, tenant.as_ref())).await
    }

    async fn session(&self, hash: &TokenHash) -> Result<Option<SessionRow>, StoreError> {
        self.point(|c| r::session(c, hash))
    }

    async fn reset_token(&self, hash: &TokenHash) -> Result<Option<ResetTokenRow>, StoreError> {
        self.point(|c| r::reset_token(c, hash))
    }

    async fn roles(&self, tenant: &TenantCode) -> Result<Vec<RoleRow>, StoreError> {
        self.point(|c| r::roles(c, tenant))
    }

    async fn oidc_config(&self, tenant: &TenantCode) -> Result<Option<OidcConfigRow>, StoreError> {
        self.point(|c| r::oidc_config(c, tenant))
    }

    async fn oidc_pending(&self, state_hash: &TokenHash) -> Result<Option<OidcPendingRow>, StoreError> {
        self.point(|c| r::oidc_pending(c, state_hash))
    }

    async fn last_access_review(&self, tenant: &TenantCode) -> Result<Option<AccessReviewRow>, StoreError> {
        self.point(|c| r::last_access_review(c, tenant))
    }

    async fn api_keys(&self, tenant: &TenantCode) -> Result<Vec<ApiKeyRow>, StoreError> {
        let tenant = tenant.clone();
        self.read(move |c| r::api_keys_where(c, "tenant = ?1", [tenant.as_str()])).await
    }

    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRow>, StoreError> {
        self.point(|c| r::api_keys_where(c, "id = ?1", [id.as_str()]).map(|mut v| v.pop()))
    }

    async fn api_keys_expiring(&self, before: Timestamp) -> Result<Vec<ApiKeyRow>, StoreError> {
        self.read(move |c| {
            r::api_keys_where(
                c,
                "revoked_at IS NULL AND reminded_at IS NULL AND expires_at < ?1 AND expires_at > ?2",
                params![before.0, before.0 - 365 * 86_400_000],
            )
        })
        .await
    }
}
