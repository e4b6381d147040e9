//! Conformance checks for identity state: the throttle counts parallel attempts one by
//! one, a TOTP step and a reset token are usable once, sessions and users round-trip.

use crate::conformance::{R, check, code, ct, tenant_ops};
use custos_core::clock::Timestamp;
use custos_core::ids::UserId;
use custos_core::policy::RoleName;
use custos_core::store::{
    IdentityOp, ResetTokenRow, SessionRow, Store, StoreError, ThrottlePolicy, TokenPurpose, UserRow, WriteOp,
};
use custos_crypto::TokenHash;
use std::sync::Arc;

fn id(op: IdentityOp) -> Vec<WriteOp> {
    vec![WriteOp::Identity(op)]
}

fn user(uid: &str, mac: u8) -> Result<UserRow, String> {
    Ok(UserRow {
        id: UserId::parse(uid).map_err(|e| e.to_string())?,
        tenant: Some(code("idn")),
        login_mac: [mac; 32],
        email_mac: Some([mac.wrapping_add(100); 32]),
        profile: ct(1),
        password: Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into()),
        roles: vec![RoleName::parse("grader").map_err(|e| e.to_string())?],
        totp: None,
        totp_enabled: false,
        totp_last_step: 0,
        disabled: false,
        created_at: Timestamp(1),
        last_login_at: None,
    })
}

pub(crate) async fn run_all(s: Arc<dyn Store>) -> R {
    s.apply(tenant_ops("idn")).await.map_err(|e| e.to_string())?;
    users_and_sessions(&*s).await?;
    single_use(&*s).await?;
    throttle_is_atomic(s).await?;
    Ok(())
}

async fn users_and_sessions(s: &dyn Store) -> R {
    let u = user("usr_0000000000000001", 1)?;
    s.apply(id(IdentityOp::InsertUser(Box::new(u.clone())))).await.map_err(|e| e.to_string())?;
    let back = s.user_by_login(Some(&code("idn")), &[1; 32]).await.map_err(|e| e.to_string())?;
    check(back.as_ref() == Some(&u), "user round trip by login")?;
    check(s.user_by_login(None, &[1; 32]).await.map_err(|e| e.to_string())?.is_none(), "operators are apart")?;
    let dup = user("usr_0000000000000002", 1)?;
    check(
        matches!(s.apply(id(IdentityOp::InsertUser(Box::new(dup)))).await, Err(StoreError::Conflict(_))),
        "login unique per tenant",
    )?;
    let hash = TokenHash::of("cs_x");
    let sess = SessionRow {
        hash: hash.clone(),
        user: u.id.clone(),
        created_at: Timestamp(5),
        last_seen_at: Timestamp(5),
        expires_at: Timestamp(100),
        mfa: false,
    };
    s.apply(id(IdentityOp::InsertSession(sess.clone()))).await.map_err(|e| e.to_string())?;
    check(s.session(&hash).await.map_err(|e| e.to_string())?.as_ref() == Some(&sess), "session round trip")?;
    s.apply(id(IdentityOp::DeleteUser { id: u.id.clone() })).await.map_err(|e| e.to_string())?;
    check(s.session(&hash).await.map_err(|e| e.to_string())?.is_none(), "deleting a user ends its sessions")?;
    Ok(())
}

async fn single_use(s: &dyn Store) -> R {
    let u = user("usr_0000000000000003", 3)?;
    s.apply(id(IdentityOp::InsertUser(Box::new(u.clone())))).await.map_err(|e| e.to_string())?;
    s.apply(id(IdentityOp::UseTotpStep { id: u.id.clone(), step: 10 })).await.map_err(|e| e.to_string())?;
    check(
        matches!(s.apply(id(IdentityOp::UseTotpStep { id: u.id.clone(), step: 10 })).await, Err(StoreError::Stale)),
        "a TOTP step is usable once",
    )?;
    check(
        matches!(s.apply(id(IdentityOp::UseTotpStep { id: u.id.clone(), step: 9 })).await, Err(StoreError::Stale)),
        "an older TOTP step is refused",
    )?;
    let hash = TokenHash::of("cr_x");
    let row = ResetTokenRow {
        hash: hash.clone(),
        user: u.id.clone(),
        purpose: TokenPurpose::Reset,
        created_at: Timestamp(1),
        expires_at: Timestamp(50),
    };
    s.apply(id(IdentityOp::InsertResetToken(row))).await.map_err(|e| e.to_string())?;
    check(
        matches!(
            s.apply(id(IdentityOp::UseResetToken { hash: hash.clone(), at: Timestamp(60) })).await,
            Err(StoreError::NotFound(_))
        ),
        "an expired token is refused",
    )?;
    s.apply(id(IdentityOp::UseResetToken { hash: hash.clone(), at: Timestamp(20) }))
        .await
        .map_err(|e| e.to_string())?;
    check(
        matches!(
            s.apply(id(IdentityOp::UseResetToken { hash, at: Timestamp(21) })).await,
            Err(StoreError::NotFound(_))
        ),
        "a token is usable once",
    )?;
    Ok(())
}

async fn throttle_is_atomic(s: Arc<dyn Store>) -> R {
    let policy = ThrottlePolicy { free: 5, base_ms: 60_000, max_ms: 60_000, window_ms: 60_000 };
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.apply(id(IdentityOp::ThrottleAdmit { keys: vec![([7; 32], policy)], now: Timestamp(1_000) })).await
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        match t.await.map_err(|e| e.to_string())? {
            Ok(()) => admitted += 1,
            Err(StoreError::Locked { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    check(admitted == 5, &format!("40 parallel attempts admit exactly 5, got {admitted}"))?;
    // A locked second key refuses the whole set, so the first key is not counted.
    let before = s
        .apply(id(IdentityOp::ThrottleAdmit {
            keys: vec![([8; 32], policy), ([7; 32], policy)],
            now: Timestamp(2_000),
        }))
        .await;
    check(matches!(before, Err(StoreError::Locked { .. })), "a locked key refuses")?;
    // A success takes back its own count and the lock it caused, not the others.
    s.apply(id(IdentityOp::ThrottleForgive { key: [7; 32], policy })).await.map_err(|e| e.to_string())?;
    s.apply(id(IdentityOp::ThrottleAdmit { keys: vec![([7; 32], policy)], now: Timestamp(2_000) }))
        .await
        .map_err(|e| e.to_string())?;
    check(
        matches!(
            s.apply(id(IdentityOp::ThrottleAdmit { keys: vec![([7; 32], policy)], now: Timestamp(2_000) })).await,
            Err(StoreError::Locked { .. })
        ),
        "forgiving one success leaves the other failures counted",
    )?;
    s.apply(id(IdentityOp::ThrottleClear { key: [7; 32] })).await.map_err(|e| e.to_string())?;
    s.apply(id(IdentityOp::ThrottleAdmit { keys: vec![([7; 32], policy)], now: Timestamp(2_000) }))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
