//! Identity reads: users, sessions, tokens, roles, OpenID Connect state, reviews and
//! API keys, parsed back into checked types.

use super::identity_apply::tenant_col;
use super::read::{corrupt, hash32, sealed};
use crate::sql::backend;
use crate::sql::{Connection, OptionalExtension, Params, Row, params};
use custos_core::clock::Timestamp;
use custos_core::ids::{ApiKeyId, TenantCode, UserId};
use custos_core::policy::{Permission, Permissions, RoleName};
use custos_core::store::{
    AccessReviewRow, ApiKeyRow, OidcConfigRow, OidcPendingRow, ResetTokenRow, RoleRow, SessionRow, StoreError,
    TokenPurpose, UserRow,
};
use custos_crypto::TokenHash;

const USER_COLS: &str = "id, tenant, login_mac, email_mac, profile, password, roles, totp, totp_enabled, \
                         totp_last_step, disabled, created_at, last_login_at";

fn opt_ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

fn tenant_of(s: String) -> Result<Option<TenantCode>, StoreError> {
    if s.is_empty() { Ok(None) } else { TenantCode::parse(&s).map(Some).map_err(|_| corrupt("tenant code")) }
}

fn user_row(r: &Row<'_>) -> Result<UserRow, StoreError> {
    let g = |e: crate::sql::Error| backend(e);
    let roles: String = r.get(6).map_err(g)?;
    let roles: Vec<RoleName> = serde_json::from_str(&roles).map_err(|_| corrupt("roles"))?;
    Ok(UserRow {
        id: UserId::parse(&r.get::<_, String>(0).map_err(g)?).map_err(|_| corrupt("user id"))?,
        tenant: tenant_of(r.get(1).map_err(g)?)?,
        login_mac: hash32(r.get(2).map_err(g)?)?,
        email_mac: r.get::<_, Option<Vec<u8>>>(3).map_err(g)?.map(hash32).transpose()?,
        profile: sealed(r.get(4).map_err(g)?)?,
        password: r.get(5).map_err(g)?,
        roles,
        totp: r.get::<_, Option<Vec<u8>>>(7).map_err(g)?.map(sealed).transpose()?,
        totp_enabled: r.get(8).map_err(g)?,
        totp_last_step: r.get(9).map_err(g)?,
        disabled: r.get(10).map_err(g)?,
        created_at: Timestamp(r.get(11).map_err(g)?),
        last_login_at: opt_ts(r.get(12).map_err(g)?),
    })
}

fn users_where(c: &Connection, cond: &str, p: impl Params) -> Result<Vec<UserRow>, StoreError> {
    let mut st =
        c.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE {cond} ORDER BY id")).map_err(backend)?;
    let mut rows = st.query(p).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(backend)? {
        out.push(user_row(&r)?);
    }
    Ok(out)
}

pub(crate) fn user(c: &Connection, id: &UserId) -> Result<Option<UserRow>, StoreError> {
    users_where(c, "id = ?1", [id.as_str()]).map(|mut v| v.pop())
}

pub(crate) fn user_by_login(
    c: &Connection,
    tenant: Option<&TenantCode>,
    mac: &[u8; 32],
) -> Result<Option<UserRow>, StoreError> {
    users_where(c, "tenant = ?1 AND login_mac = ?2", params![tenant_col(tenant), &mac[..]]).map(|mut v| v.pop())
}

pub(crate) fn user_by_email(
    c: &Connection,
    tenant: Option<&TenantCode>,
    mac: &[u8; 32],
) -> Result<Option<UserRow>, StoreError> {
    users_where(c, "tenant = ?1 AND email_mac = ?2", params![tenant_col(tenant), &mac[..]]).map(|mut v| v.pop())
}

pub(crate) fn users(c: &Connection, tenant: Option<&TenantCode>) -> Result<Vec<UserRow>, StoreError> {
    users_where(c, "tenant = ?1", [tenant_col(tenant)])
}

pub(crate) fn session(c: &Connection, hash: &TokenHash) -> Result<Option<SessionRow>, StoreError> {
    type Raw = (String, i64, i64, i64, bool);
    let row: Option<Raw> = c
        .prepare_cached("SELECT user_id, created_at, last_seen_at, expires_at, mfa FROM sessions WHERE hash = ?1")
        .map_err(backend)?
        .query_row([&hash.0[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()
        .map_err(backend)?;
    row.map(|(user, created, seen, expires, mfa)| {
        Ok(SessionRow {
            hash: hash.clone(),
            user: UserId::parse(&user).map_err(|_| corrupt("user id"))?,
            created_at: Timestamp(created),
            last_seen_at: Timestamp(seen),
            expires_at: Timestamp(expires),
            mfa,
        })
    })
    .transpose()
}

pub(crate) fn reset_token(c: &Connection, hash: &TokenHash) -> Result<Option<ResetTokenRow>, StoreError> {
    type Raw = (String, String, i64, i64);
    let row: Option<Raw> = c
        .prepare_cached(
            "SELECT user_id, purpose, created_at, expires_at FROM reset_tokens WHERE hash = ?1 AND used_at IS NULL",
        )
        .map_err(backend)?
        .query_row([&hash.0[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()
        .map_err(backend)?;
    row.map(|(user, purpose, created, expires)| {
        Ok(ResetTokenRow {
            hash: hash.clone(),
            user: UserId::parse(&user).map_err(|_| corrupt("user id"))?,
            purpose: TokenPurpose::parse(&purpose).ok_or_else(|| corrupt("token purpose"))?,
            created_at: Timestamp(created),
            expires_at: Timestamp(expires),
        })
    })
    .transpose()
}

pub(crate) fn roles(c: &Connection, tenant: &TenantCode) -> Result<Vec<RoleRow>, StoreError> {
    let mut st = c
        .prepare_cached("SELECT name, permissions, updated_at FROM roles WHERE tenant = ?1 ORDER BY name")
        .map_err(backend)?;
    let rows = st
        .query_map([tenant.as_str()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
        .map_err(backend)?;
    rows.map(|r| {
        let (name, perms, at) = r.map_err(backend)?;
        let names: Vec<String> = serde_json::from_str(&perms).map_err(|_| corrupt("permissions"))?;
        let perms: Option<Vec<Permission>> = names.iter().map(|n| Permission::parse(n)).collect();
        Ok(RoleRow {
            tenant: tenant.clone(),
            name: RoleName::parse(&name).map_err(|_| corrupt("role"))?,
            permissions: Permissions::of(&perms.ok_or_else(|| corrupt("permissions"))?),
            updated_at: Timestamp(at),
        })
    })
    .collect()
}

pub(crate) fn oidc_config(c: &Connection, tenant: &TenantCode) -> Result<Option<OidcConfigRow>, StoreError> {
    let row: Option<(String, Vec<u8>, i64)> = c
        .prepare_cached("SELECT settings, client_secret, updated_at FROM oidc_configs WHERE tenant = ?1")
        .map_err(backend)?
        .query_row([tenant.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
        .map_err(backend)?;
    row.map(|(settings, secret, at)| {
        Ok(OidcConfigRow {
            tenant: tenant.clone(),
            settings_json: settings,
            client_secret: sealed(secret)?,
            updated_at: Timestamp(at),
        })
    })
    .transpose()
}

pub(crate) fn oidc_pending(c: &Connection, state_hash: &TokenHash) -> Result<Option<OidcPendingRow>, StoreError> {
    let row: Option<(String, Vec<u8>, i64, i64)> = c
        .prepare_cached("SELECT tenant, secrets, created_at, expires_at FROM oidc_pending WHERE state_hash = ?1")
        .map_err(backend)?
        .query_row([&state_hash.0[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()
        .map_err(backend)?;
    row.map(|(tenant, secrets, created, expires)| {
        Ok(OidcPendingRow {
            state_hash: state_hash.clone(),
            tenant: TenantCode::parse(&tenant).map_err(|_| corrupt("tenant code"))?,
            secrets: sealed(secrets)?,
            created_at: Timestamp(created),
            expires_at: Timestamp(expires),
        })
    })
    .transpose()
}

pub(crate) fn last_access_review(c: &Connection, tenant: &TenantCode) -> Result<Option<AccessReviewRow>, StoreError> {
    c.prepare_cached(
        "SELECT id, reviewer, at, summary FROM access_reviews WHERE tenant = ?1 ORDER BY at DESC, id DESC LIMIT 1",
    )
    .map_err(backend)?
    .query_row([tenant.as_str()], |r| {
        Ok(AccessReviewRow {
            id: r.get(0)?,
            tenant: tenant.clone(),
            reviewer: r.get(1)?,
            at: Timestamp(r.get(2)?),
            summary_json: r.get(3)?,
        })
    })
    .optional()
    .map_err(backend)
}

pub(crate) fn api_keys_where(c: &Connection, cond: &str, p: impl Params) -> Result<Vec<ApiKeyRow>, StoreError> {
    let mut st = c
        .prepare_cached(&format!(
            "SELECT id, tenant, name, role, hash, created_at, expires_at, revoked_at, last_used_at \
             FROM api_keys WHERE {cond} ORDER BY id"
        ))
        .map_err(backend)?;
    let mut rows = st.query(p).map_err(backend)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(backend)? {
        let g = |e: crate::sql::Error| backend(e);
        out.push(ApiKeyRow {
            id: ApiKeyId::parse(&r.get::<_, String>(0).map_err(g)?).map_err(|_| corrupt("api key id"))?,
            tenant: TenantCode::parse(&r.get::<_, String>(1).map_err(g)?).map_err(|_| corrupt("tenant code"))?,
            name: r.get(2).map_err(g)?,
            role: RoleName::parse(&r.get::<_, String>(3).map_err(g)?).map_err(|_| corrupt("role"))?,
            hash: TokenHash(hash32(r.get(4).map_err(g)?)?),
            created_at: Timestamp(r.get(5).map_err(g)?),
            expires_at: Timestamp(r.get(6).map_err(g)?),
            revoked_at: opt_ts(r.get(7).map_err(g)?),
            last_used_at: opt_ts(r.get(8).map_err(g)?),
        });
    }
    Ok(out)
}
