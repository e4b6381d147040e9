//! `IdentityStore` over the SQL engines.

use super::SqlStore;
use crate::query::identity_read as r;
use crate::sql::params;
use async_trait::async_trait;
use custos_core::clock::Timestamp;
use custos_core::ids::{ApiKeyId, TenantCode, UserId};
use custos_core::store::{
    AccessReviewRow, ApiKeyRow, IdentityStore, OidcConfigRow, OidcPendingRow, ResetTokenRow, RoleRow, SessionRow,
    StoreError, UserRow,
};
use custos_crypto::TokenHash;

#[async_trait]
impl IdentityStore for SqlStore {
    async fn user(&self, id: &UserId) -> Result<Option<UserRow>, StoreError> {
        let id = id.clone();
        self.point(move |c| r::user(c, &id)).await
    }

    async fn user_by_login(&self, tenant: Option<&TenantCode>, mac: &[u8; 32]) -> Result<Option<UserRow>, StoreError> {
        let (tenant, mac) = (tenant.cloned(), *mac);
        self.point(move |c| r::user_by_login(c, tenant.as_ref(), &mac)).await
    }

    async fn user_by_email(&self, tenant: Option<&TenantCode>, mac: &[u8; 32]) -> Result<Option<UserRow>, StoreError> {
        let (tenant, mac) = (tenant.cloned(), *mac);
        self.point(move |c| r::user_by_email(c, tenant.as_ref(), &mac)).await
    }

    async fn users(&self, tenant: Option<&TenantCode>) -> Result<Vec<UserRow>, StoreError> {
        let tenant = tenant.cloned();
        self.read(move |c| r::users(c, tenant.as_ref())).await
    }

    async fn session(&self, hash: &TokenHash) -> Result<Option<SessionRow>, StoreError> {
        let hash = hash.clone();
        self.point(move |c| r::session(c, &hash)).await
    }

    async fn reset_token(&self, hash: &TokenHash) -> Result<Option<ResetTokenRow>, StoreError> {
        let hash = hash.clone();
        self.point(move |c| r::reset_token(c, &hash)).await
    }

    async fn roles(&self, tenant: &TenantCode) -> Result<Vec<RoleRow>, StoreError> {
        let tenant = tenant.clone();
        self.point(move |c| r::roles(c, &tenant)).await
    }

    async fn oidc_config(&self, tenant: &TenantCode) -> Result<Option<OidcConfigRow>, StoreError> {
        let tenant = tenant.clone();
        self.point(move |c| r::oidc_config(c, &tenant)).await
    }

    async fn oidc_pending(&self, state_hash: &TokenHash) -> Result<Option<OidcPendingRow>, StoreError> {
        let hash = state_hash.clone();
        self.point(move |c| r::oidc_pending(c, &hash)).await
    }

    async fn last_access_review(&self, tenant: &TenantCode) -> Result<Option<AccessReviewRow>, StoreError> {
        let tenant = tenant.clone();
        self.point(move |c| r::last_access_review(c, &tenant)).await
    }

    async fn api_keys(&self, tenant: &TenantCode) -> Result<Vec<ApiKeyRow>, StoreError> {
        let tenant = tenant.clone();
        self.read(move |c| r::api_keys_where(c, "tenant = ?1", [tenant.as_str()])).await
    }

    async fn api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRow>, StoreError> {
        let id = id.clone();
        self.point(move |c| r::api_keys_where(c, "id = ?1", [id.as_str()]).map(|mut v| v.pop())).await
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
