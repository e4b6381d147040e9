//! Applying identity operations: users, sessions, codes, tokens, roles, OpenID Connect
//! state, reviews, API-key lifecycle, and the throttle's read-check-write, which runs
//! inside the write transaction so that parallel attempts are counted one by one.

use super::apply::unique;
use crate::sql::backend;
use crate::sql::{Connection, OptionalExtension, params};
use custos_core::clock::Timestamp;
use custos_core::store::{IdentityOp, StoreError, ThrottleState};

/// Tenant column value: operators are stored under the empty string.
pub(crate) fn tenant_col(t: Option<&custos_core::ids::TenantCode>) -> &str {
    t.map_or("", |t| t.as_str())
}

fn changed(n: usize, what: &'static str) -> Result<(), StoreError> {
    if n == 0 { Err(StoreError::NotFound(what)) } else { Ok(()) }
}

fn roles_json(roles: &[custos_core::policy::RoleName]) -> Result<String, StoreError> {
    serde_json::to_string(roles).map_err(|e| StoreError::Backend(e.to_string()))
}

fn throttle_admit(
    conn: &Connection,
    keys: &[([u8; 32], custos_core::store::ThrottlePolicy)],
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut next = Vec::with_capacity(keys.len());
    for (key, policy) in keys {
        let st = conn
            .prepare_cached("SELECT failures, locked_until, updated_at FROM throttle WHERE key = ?1")
            .map_err(backend)?
            .query_row([&key[..]], |r| {
                Ok(ThrottleState { failures: r.get(0)?, locked_until: r.get(1)?, updated_at: r.get(2)? })
            })
            .optional()
            .map_err(backend)?
            .unwrap_or_default();
        let st = policy.admit(st, now).map_err(|until| StoreError::Locked { until })?;
        next.push((key, st));
    }
    for (key, st) in next {
        conn.prepare_cached(
            "INSERT INTO throttle (key, failures, locked_until, updated_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, \
             updated_at = excluded.updated_at",
        )
        .map_err(backend)?
        .execute(params![&key[..], st.failures, st.locked_until, st.updated_at])
        .map_err(backend)?;
    }
    Ok(())
}

pub(crate) fn apply(conn: &Connection, op: &IdentityOp) -> Result<(), StoreError> {
    match op {
        IdentityOp::InsertUser(u) => {
            conn.execute(
                "INSERT INTO users (id, tenant, login_mac, email_mac, profile, password, roles, totp, totp_enabled, \
                 totp_last_step, disabled, created_at, last_login_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    u.id.as_str(),
                    tenant_col(u.tenant.as_ref()),
                    &u.login_mac[..],
                    u.email_mac.as_ref().map(|m| m.to_vec()),
                    u.profile.as_bytes(),
                    u.password,
                    roles_json(&u.roles)?,
                    u.totp.as_ref().map(|t| t.as_bytes().to_vec()),
                    u.totp_enabled,
                    u.totp_last_step,
                    u.disabled,
                    u.created_at.0,
                    u.last_login_at.map(|t| t.0),
                ],
            )
            .map_err(unique("user"))?;
        }
        IdentityOp::SetUserRoles { id, roles } => {
            let n = conn
                .execute("UPDATE users SET roles = ?2 WHERE id = ?1", params![id.as_str(), roles_json(roles)?])
                .map_err(backend)?;
            changed(n, "user")?;
        }
        IdentityOp::SetUserDisabled { id, disabled } => {
            let n = conn
                .execute("UPDATE users SET disabled = ?2 WHERE id = ?1", params![id.as_str(), disabled])
                .map_err(backend)?;
            changed(n, "user")?;
        }
        IdentityOp::SetPassword { id, phc } => {
            let n = conn
                .execute("UPDATE users SET password = ?2 WHERE id = ?1", params![id.as_str(), phc])
                .map_err(backend)?;
            changed(n, "user")?;
        }
        IdentityOp::SetTotp { id, secret, enabled } => {
            let n = conn
                .execute(
                    "UPDATE users SET totp = ?2, totp_enabled = ?3 WHERE id = ?1",
                    params![id.as_str(), secret.as_ref().map(|s| s.as_bytes().to_vec()), enabled],
                )
                .map_err(backend)?;
            changed(n, "user")?;
        }
        IdentityOp::UseTotpStep { id, step } => {
            let n = conn
                .execute(
                    "UPDATE users SET totp_last_step = ?2 WHERE id = ?1 AND totp_last_step < ?2",
                    params![id.as_str(), step],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::Stale);
            }
        }
        IdentityOp::TouchLogin { id, at } => {
            conn.execute("UPDATE users SET last_login_at = ?2 WHERE id = ?1", params![id.as_str(), at.0])
                .map_err(backend)?;
        }
        IdentityOp::DeleteUser { id } => {
            let n = conn.execute("DELETE FROM users WHERE id = ?1", [id.as_str()]).map_err(backend)?;
            changed(n, "user")?;
        }
        IdentityOp::ReplaceRecoveryCodes { user, hashes } => {
            conn.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user.as_str()]).map_err(backend)?;
            for h in hashes {
                conn.execute(
                    "INSERT INTO recovery_codes (user_id, hash, used_at) VALUES (?1, ?2, NULL)",
                    params![user.as_str(), &h.0[..]],
                )
                .map_err(unique("recovery code"))?;
            }
        }
        IdentityOp::UseRecoveryCode { user, hash, at } => {
            let n = conn
                .execute(
                    "UPDATE recovery_codes SET used_at = ?3 WHERE user_id = ?1 AND hash = ?2 AND used_at IS NULL",
                    params![user.as_str(), &hash.0[..], at.0],
                )
                .map_err(backend)?;
            changed(n, "recovery code")?;
        }
        IdentityOp::InsertSession(s) => {
            conn.execute(
                "INSERT INTO sessions (hash, user_id, created_at, last_seen_at, expires_at, mfa) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![&s.hash.0[..], s.user.as_str(), s.created_at.0, s.last_seen_at.0, s.expires_at.0, s.mfa],
            )
            .map_err(unique("session"))?;
        }
        IdentityOp::TouchSession { hash, at } => {
            conn.prepare_cached("UPDATE sessions SET last_seen_at = ?2 WHERE hash = ?1 AND last_seen_at < ?2")
                .map_err(backend)?
                .execute(params![&hash.0[..], at.0])
                .map_err(backend)?;
        }
        IdentityOp::SetSessionMfa { hash } => {
            let n = conn.execute("UPDATE sessions SET mfa = 1 WHERE hash = ?1", [&hash.0[..]]).map_err(backend)?;
            changed(n, "session")?;
        }
        IdentityOp::RevokeSession { hash } => {
            conn.execute("DELETE FROM sessions WHERE hash = ?1", [&hash.0[..]]).map_err(backend)?;
        }
        IdentityOp::RevokeUserSessions { user } => {
            conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user.as_str()]).map_err(backend)?;
        }
        IdentityOp::ThrottleAdmit { keys, now } => throttle_admit(conn, keys, *now)?,
        IdentityOp::ThrottleForgive { key, policy } => {
            let st = conn
                .query_row("SELECT failures, locked_until, updated_at FROM throttle WHERE key = ?1", [&key[..]], |r| {
                    Ok(ThrottleState { failures: r.get(0)?, locked_until: r.get(1)?, updated_at: r.get(2)? })
                })
                .optional()
                .map_err(backend)?;
            if let Some(st) = st {
                let st = policy.forgive(st);
                conn.execute(
                    "UPDATE throttle SET failures = ?2, locked_until = ?3 WHERE key = ?1",
                    params![&key[..], st.failures, st.locked_until],
                )
                .map_err(backend)?;
            }
        }
        IdentityOp::ThrottleClear { key } => {
            conn.execute("DELETE FROM throttle WHERE key = ?1", [&key[..]]).map_err(backend)?;
        }
        IdentityOp::InsertResetToken(t) => {
            conn.execute(
                "INSERT INTO reset_tokens (hash, user_id, purpose, created_at, expires_at, used_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                params![&t.hash.0[..], t.user.as_str(), t.purpose.as_str(), t.created_at.0, t.expires_at.0],
            )
            .map_err(unique("reset token"))?;
        }
        IdentityOp::UseResetToken { hash, at } => {
            let user: Option<String> = conn
                .query_row(
                    "SELECT user_id FROM reset_tokens WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                    params![&hash.0[..], at.0],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            let user = user.ok_or(StoreError::NotFound("reset token"))?;
            conn.execute(
                "UPDATE reset_tokens SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
                params![user, at.0],
            )
            .map_err(backend)?;
        }
        IdentityOp::PutRole(r) => {
            let perms =
                serde_json::to_string(&r.permissions.names()).map_err(|e| StoreError::Backend(e.to_string()))?;
            conn.execute(
                "INSERT INTO roles (tenant, name, permissions, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (tenant, name) DO UPDATE SET permissions = excluded.permissions, updated_at = excluded.updated_at",
                params![r.tenant.as_str(), r.name.as_str(), perms, r.updated_at.0],
            )
            .map_err(backend)?;
        }
        IdentityOp::DeleteRole { tenant, name } => {
            let n = conn
                .execute("DELETE FROM roles WHERE tenant = ?1 AND name = ?2", params![tenant.as_str(), name.as_str()])
                .map_err(backend)?;
            changed(n, "role")?;
        }
        IdentityOp::PutOidcConfig(c) => {
            conn.execute(
                "INSERT INTO oidc_configs (tenant, settings, client_secret, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (tenant) DO UPDATE SET settings = excluded.settings, \
                 client_secret = excluded.client_secret, updated_at = excluded.updated_at",
                params![c.tenant.as_str(), c.settings_json, c.client_secret.as_bytes(), c.updated_at.0],
            )
            .map_err(backend)?;
        }
        IdentityOp::InsertOidcPending(p) => {
            conn.execute("DELETE FROM oidc_pending WHERE expires_at <= ?1", [p.created_at.0]).map_err(backend)?;
            conn.execute(
                "INSERT INTO oidc_pending (state_hash, tenant, secrets, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&p.state_hash.0[..], p.tenant.as_str(), p.secrets.as_bytes(), p.created_at.0, p.expires_at.0],
            )
            .map_err(unique("login state"))?;
        }
        IdentityOp::TakeOidcPending { state_hash, at } => {
            let n = conn
                .execute(
                    "DELETE FROM oidc_pending WHERE state_hash = ?1 AND expires_at > ?2",
                    params![&state_hash.0[..], at.0],
                )
                .map_err(backend)?;
            changed(n, "login state")?;
        }
        IdentityOp::InsertAccessReview(r) => {
            conn.execute(
                "INSERT INTO access_reviews (id, tenant, reviewer, at, summary) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.id, r.tenant.as_str(), r.reviewer, r.at.0, r.summary_json],
            )
            .map_err(unique("access review"))?;
        }
        IdentityOp::RevokeApiKey { id, at } => {
            let n = conn
                .execute(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id.as_str(), at.0],
                )
                .map_err(backend)?;
            changed(n, "api key")?;
        }
        IdentityOp::ExpireApiKeyBy { id, at } => {
            let n = conn
                .execute(
                    "UPDATE api_keys SET expires_at = CASE WHEN expires_at < ?2 THEN expires_at ELSE ?2 END WHERE id = ?1",
                    params![id.as_str(), at.0],
                )
                .map_err(backend)?;
            changed(n, "api key")?;
        }
        IdentityOp::TouchApiKey { id, at } => {
            conn.prepare_cached(
                "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
            )
            .map_err(backend)?
            .execute(params![id.as_str(), at.0])
            .map_err(backend)?;
        }
        IdentityOp::RemindApiKey { id, at } => {
            conn.execute("UPDATE api_keys SET reminded_at = ?2 WHERE id = ?1", params![id.as_str(), at.0])
                .map_err(backend)?;
        }
    }
    Ok(())
}
