//! Store integration tests: the conformance suite on a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed unwrap is a failed test

mod postgres;
mod privacy;

use custos_store::{SqlStore, SqliteOptions, conformance};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(&dir.path().join("zone.db"), SqliteOptions::default()).unwrap();
    conformance::run_all(Arc::new(store)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_sqlite_file_keep_one_chain_one_lease_one_count() {
    let dir = tempfile::tempdir().unwrap();
    let a = SqlStore::open_sqlite(&dir.path().join("zone.db"), SqliteOptions::default()).unwrap();
    let b = SqlStore::open_sqlite(&dir.path().join("zone.db"), SqliteOptions::default()).unwrap();
    conformance::run_two_nodes(Arc::new(a), Arc::new(b)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reopens_with_data_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zone.db");
    {
        let store = SqlStore::open_sqlite(&path, SqliteOptions::default()).unwrap();
        custos_core::store::Store::apply(&store, vec![custos_core::store::WriteOp::PutMeta("k".into(), b"v".to_vec())])
            .await
            .unwrap();
    }
    let store = SqlStore::open_sqlite(&path, SqliteOptions::default()).unwrap();
    assert_eq!(custos_core::store::Store::get_meta(&store, "k").await.unwrap(), Some(b"v".to_vec()));
}

/// Audit retention on a real SQLite file: pruning cuts at a signed checkpoint, what
/// remains verifies from that anchor, the chain goes on, and losing the anchor is caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_retention_prunes_at_a_checkpoint_and_the_rest_verifies() {
    use custos_core::Vault;
    use custos_core::audit::RequestMeta;
    use custos_core::clock::{Clock, ManualClock, Timestamp};
    use custos_core::ids::{TenantCode, ZoneName};
    use custos_core::service::{InitParams, Mode};

    const DAY: i64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zone.db");
    let store = SqlStore::open_sqlite(&path, SqliteOptions::default()).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let vault = Vault::new(Arc::new(store), clock.clone(), ZoneName::parse("default").unwrap());
    let out = vault.initialize(InitParams { shares: 1, threshold: 1, mode: Mode::Production }).await.unwrap();
    let meta = RequestMeta { request_id: "test".into(), client: None };
    vault.unseal(out.shares[0].expose(), &meta).await.unwrap();
    let op = vault.authenticate(out.operator_token.expose(), &meta).await.unwrap();
    for i in 0..5 {
        vault.create_tenant(&op, TenantCode::parse(&format!("old{i}")).unwrap(), "Old").await.unwrap();
    }
    let anchor = vault.audit_checkpoint().await.unwrap().unwrap();
    clock.advance_ms(10 * DAY);
    for i in 0..3 {
        vault.create_tenant(&op, TenantCode::parse(&format!("new{i}")).unwrap(), "New").await.unwrap();
    }
    vault.audit_checkpoint().await.unwrap().unwrap();
    let before = vault.verify_audit(None).await.unwrap();
    assert!(before.fault.is_none());

    let pruned = vault.prune_audit(Timestamp(clock.now().0 - 5 * DAY)).await.unwrap();
    assert_eq!(pruned, Some(anchor), "cut at the newest checkpoint older than the cutoff");
    let after = vault.verify_audit(None).await.unwrap();
    assert!(after.fault.is_none(), "{after:?}");
    assert!(after.entries < before.entries && after.verified_to > before.verified_to);
    // nothing newer than the cutoff was pruned, and the chain goes on
    vault.create_tenant(&op, TenantCode::parse("later").unwrap(), "Later").await.unwrap();
    assert!(vault.verify_audit(None).await.unwrap().fault.is_none());
    assert_eq!(vault.prune_audit(Timestamp(clock.now().0 - 5 * DAY)).await.unwrap(), None, "nothing more to prune");

    // removing the anchor checkpoint is detected
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("DELETE FROM audit_checkpoints WHERE seq = ?1", [anchor]).unwrap();
    let broken = vault.verify_audit(None).await.unwrap();
    assert_eq!(broken.fault.map(|f| (f.seq, f.kind)), Some((anchor, "missing-entry")));
}

/// Identity rules that depend on time, with a manual clock over a real SQLite file:
/// idle and absolute session timeouts, lock expiry, API-key expiry reminders (once),
/// overdue access reviews, and stored hashes upgraded when the cost is raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_locks_reminders_and_reviews_follow_the_clock() {
    use custos_core::Vault;
    use custos_core::audit::RequestMeta;
    use custos_core::clock::{ManualClock, Timestamp};
    use custos_core::ids::{TenantCode, ZoneName};
    use custos_core::policy::RoleName;
    use custos_core::service::{IdentityConfig, InitParams, LoginRequest, Mode, NewApiKey, NewUser};
    use custos_crypto::{PasswordParams, Secret};

    const MIN: i64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zone.db");
    let store = SqlStore::open_sqlite(&path, SqliteOptions::default()).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let vault = Vault::new(Arc::new(store), clock.clone(), ZoneName::parse("default").unwrap());
    let weak = PasswordParams { m_kib: 8 * 1024, t: 1, p: 1 };
    vault.set_identity_config(IdentityConfig { password_params: weak, ..IdentityConfig::default() });
    let out = vault.initialize(InitParams { shares: 1, threshold: 1, mode: Mode::Production }).await.unwrap();
    let meta = RequestMeta { request_id: "test".into(), client: Some("192.0.2.1".into()) };
    vault.unseal(out.shares[0].expose(), &meta).await.unwrap();
    let op = vault.authenticate(out.operator_token.expose(), &meta).await.unwrap();
    let t = TenantCode::parse("clock").unwrap();
    vault.create_tenant(&op, t.clone(), "Clock school").await.unwrap();
    let pw = "a sufficiently long passphrase";
    let new_user = |name: &str| NewUser {
        username: name.into(),
        password: Some(Secret::new(pw.to_owned())),
        email: None,
        roles: vec![RoleName::parse("grader").unwrap()],
    };
    let (u, _) = vault.create_user(&op, Some(&t), new_user("sigrid")).await.unwrap();
    let login = |password: &str| LoginRequest {
        tenant: Some(t.clone()),
        username: "sigrid".into(),
        password: Secret::new(password.to_owned()),
        totp: None,
    };
    let phc = |c: &rusqlite::Connection| -> String {
        c.query_row("SELECT password FROM users WHERE id = ?1", [u.id.as_str()], |r| r.get(0)).unwrap()
    };
    let db = rusqlite::Connection::open(&path).unwrap();
    assert!(phc(&db).contains("m=8192,t=1,p=1"));

    // Raising the cost upgrades the stored hash at the next successful login.
    vault.set_identity_config(IdentityConfig {
        password_params: PasswordParams { m_kib: 12 * 1024, t: 2, p: 1 },
        ..IdentityConfig::default()
    });
    let s1 = vault.login(login(pw), &meta).await.unwrap();
    assert!(phc(&db).contains("m=12288,t=2,p=1"), "{}", phc(&db));

    // Idle timeout (30 min): activity keeps a session alive, silence ends it.
    for _ in 0..4 {
        clock.advance_ms(20 * MIN);
        vault.authenticate(s1.token.expose(), &meta).await.unwrap();
    }
    clock.advance_ms(31 * MIN);
    assert!(vault.authenticate(s1.token.expose(), &meta).await.is_err(), "idle session ended");
    // Absolute timeout (12 h), however busy.
    let s2 = vault.login(login(pw), &meta).await.unwrap();
    for _ in 0..(12 * 60 / 20) {
        clock.advance_ms(20 * MIN);
        let _ = vault.authenticate(s2.token.expose(), &meta).await;
    }
    assert!(vault.authenticate(s2.token.expose(), &meta).await.is_err(), "absolute end");

    // A lock ends when its time has passed; the next failure locks for twice as long.
    for _ in 0..5 {
        assert!(vault.login(login("wrong wrong wrong"), &meta).await.is_err());
    }
    assert!(matches!(vault.login(login(pw), &meta).await, Err(custos_core::CoreError::Throttled { retry_after: 30 })));
    clock.advance_ms(31_000);
    assert!(vault.login(login("wrong wrong wrong"), &meta).await.is_err());
    assert!(matches!(vault.login(login(pw), &meta).await, Err(custos_core::CoreError::Throttled { retry_after: 60 })));
    clock.advance_ms(61_000);
    vault.login(login(pw), &meta).await.unwrap();

    // API keys: a reminder once the expiry is 14 days away, and only once.
    let k = vault
        .create_api_key(
            &op,
            &t,
            NewApiKey {
                name: "svc".into(),
                role: RoleName::parse("service-reader").unwrap(),
                expires_in_days: Some(30),
            },
        )
        .await
        .unwrap();
    assert!(vault.api_key_reminders(14).await.unwrap().is_empty());
    clock.advance_ms(17 * 24 * 60 * MIN);
    let due = vault.api_key_reminders(14).await.unwrap();
    assert_eq!(due.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), vec![k.id.clone()]);
    assert!(vault.api_key_reminders(14).await.unwrap().is_empty(), "reminded once");
    clock.advance_ms(14 * 24 * 60 * MIN);
    assert!(vault.authenticate(k.key.expose(), &meta).await.is_err(), "expired");

    // Access reviews: due 90 days after creation (or the last review).
    assert!(vault.overdue_access_reviews().await.unwrap().is_empty());
    clock.advance_ms(60 * 24 * 60 * MIN);
    assert_eq!(vault.overdue_access_reviews().await.unwrap(), vec![t.clone()]);
    vault.confirm_access_review(&op, &t, Default::default()).await.unwrap_err(); // operators do not review
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM audit_log WHERE action = 'apikey.expiry_reminder'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}
