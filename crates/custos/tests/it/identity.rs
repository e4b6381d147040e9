//! Staff sign-in end to end: TOTP against oathtool, replays, recovery codes, MFA
//! gating of privileged users, cookies, lockout under parallel attempts, sessions
//! ending, and a scan for secrets in responses, logs, the audit trail and the database.

use crate::staff::{PASSWORD, audit_of, create_user, login, oathtool, session, tenant_of};
use crate::support::{assert_problem, demo};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn privileged_users_enrol_in_totp_that_interoperates_and_cannot_be_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let t = tenant_of(&creds);
    create_user(&s, op, Some(t), "kari.admin", &["admin"]).await;

    // Before enrolment: signed in, but refused everything except enrolling.
    let r = login(&s, Some(t), "kari.admin", PASSWORD, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfa_enrolment_required"], true);
    let tok = r.body["token"].as_str().unwrap().to_owned();
    let read = |tok: String| {
        let s = &s;
        async move { s.call(Method::GET, &format!("/v1/tenants/{t}/collections/candidates"), Some(&tok), None, None).await }
    };
    assert_problem(&read(tok.clone()).await, 403, "mfa-required");
    let me = s.call(Method::GET, "/v1/auth/session", Some(&tok), None, None).await;
    assert_eq!(me.body["mfa_enrolment_required"], true, "{}", me.text);

    let e = s.call(Method::POST, "/v1/auth/totp/enrol", Some(&tok), None, None).await;
    assert_eq!(e.status, 200, "{}", e.text);
    let secret = e.body["secret"].as_str().unwrap().to_owned();
    let uri = e.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Custos:") && uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("algorithm=SHA1&digits=6&period=30"), "{uri}");
    assert!(e.body["qr_svg"].as_str().unwrap().starts_with("<?xml"), "an SVG QR code");
    let wrong = s.call(Method::POST, "/v1/auth/totp/confirm", Some(&tok), None, Some(json!({"code": "000000"}))).await;
    assert!(wrong.status == 400 || oathtool(&secret, 0) == "000000", "{}", wrong.text);
    let c = s
        .call(Method::POST, "/v1/auth/totp/confirm", Some(&tok), None, Some(json!({"code": oathtool(&secret, 0)})))
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    let recovery: Vec<String> =
        c.body["recovery_codes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(recovery.len(), 10);
    // The same request now works on the same session.
    assert_eq!(read(tok.clone()).await.status, 200);

    // Enrolled: the password alone no longer signs in.
    assert_problem(&login(&s, Some(t), "kari.admin", PASSWORD, None).await, 401, "login-failed");
    // A code made by oathtool for the next step (inside the ±1 window) signs in once.
    let code = oathtool(&secret, 1);
    let ok = login(&s, Some(t), "kari.admin", PASSWORD, Some(&code)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["mfa_enrolment_required"], false);
    assert_eq!(read(ok.body["token"].as_str().unwrap().to_owned()).await.status, 200);
    // Replayed in its window: refused, and the audit trail says why.
    assert_problem(&login(&s, Some(t), "kari.admin", PASSWORD, Some(&code)).await, 401, "login-failed");
    let reasons: Vec<Option<String>> = audit_of(dir.path(), "auth.login").into_iter().map(|e| e.1).collect();
    assert!(reasons.contains(&Some("totp_replayed".into())), "{reasons:?}");
    assert!(reasons.contains(&Some("totp_missing".into())), "{reasons:?}");
    // A recovery code works once.
    let rc = login(&s, Some(t), "kari.admin", PASSWORD, Some(&recovery[3].to_uppercase())).await;
    assert_eq!(rc.status, 200, "{}", rc.text);
    assert_problem(&login(&s, Some(t), "kari.admin", PASSWORD, Some(&recovery[3])).await, 401, "login-failed");
    let mfa: Vec<Option<String>> = audit_of(dir.path(), "auth.mfa").into_iter().map(|e| e.1).collect();
    assert_eq!(mfa, [Some("totp".to_owned()), Some("recovery_code".to_owned())]);
    // The TOTP secret and recovery codes appear in no log line, no audit entry, no later
    // response, and not in clear in the database.
    let log = std::fs::read_to_string(&s.log).unwrap();
    let c = crate::support::db(dir.path());
    let audit: String = c
        .prepare("SELECT COALESCE(reason, '') || principal_id || action FROM audit_log")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let users = s.call(Method::GET, &format!("/v1/tenants/{t}/users"), Some(op), None, None).await;
    let me = s.call(Method::GET, "/v1/auth/session", Some(ok.body["token"].as_str().unwrap()), None, None).await;
    let mut db_bytes = std::fs::read(dir.path().join("zone.db")).unwrap();
    db_bytes.extend(std::fs::read(dir.path().join("zone.db-wal")).unwrap_or_default());
    for secret in std::iter::once(&secret).chain(recovery.iter()) {
        for (place, text) in [("log", &log), ("audit", &audit), ("users", &users.text), ("session", &me.text)] {
            assert!(!text.contains(secret.as_str()), "{place} holds a TOTP secret or recovery code");
        }
        assert!(!db_bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "in clear in the database");
    }
}

#[tokio::test]
async fn sessions_cookies_and_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let t = tenant_of(&creds);
    let user = "ola.grader@example.no";
    let uid = create_user(&s, op, Some(t), user, &["grader"]).await;

    let r = login(&s, Some(t), user, PASSWORD, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let tok = r.body["token"].as_str().unwrap().to_owned();
    assert!(tok.starts_with("cs_") && tok.len() == 46, "256-bit id");
    let cookie = r.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert_eq!(attrs[0], format!("custos_session={tok}"), "nothing but the session id");
    for a in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(attrs.contains(&a), "{a} in {cookie}");
    }
    assert!(r.headers.get("cache-control").is_some_and(|v| v == "no-store"));

    // The cookie alone authenticates; the grader reads but cannot manage users.
    let by_cookie = s
        .http
        .get(format!("{}/v1/tenants/{t}/collections/candidates", s.url))
        .header("cookie", format!("custos_session={tok}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);
    let me = s.call(Method::GET, "/v1/auth/session", Some(&tok), None, None).await;
    assert_eq!(me.body["kind"], "user");
    assert_eq!(me.body["id"], uid.as_str());
    assert_problem(
        &s.call(Method::GET, &format!("/v1/tenants/{t}/users"), Some(&tok), None, None).await,
        403,
        "forbidden",
    );

    // Password policy: short and breached passwords are refused, without echoing them.
    for bad in ["short", "1qaz2wsx3edc", "Q1w2e3r4t5y6"] {
        let r = s
            .call(
                Method::POST,
                &format!("/v1/tenants/{t}/users"),
                Some(op),
                None,
                Some(json!({"username": "x.y", "password": bad})),
            )
            .await;
        assert_problem(&r, 400, "invalid-input");
        assert!(!r.text.contains(bad));
    }

    // Logout ends the session; disabling a user ends its other sessions.
    let out = s.call(Method::POST, "/v1/auth/logout", Some(&tok), None, None).await;
    assert_eq!(out.status, 204);
    assert_problem(&s.call(Method::GET, "/v1/auth/session", Some(&tok), None, None).await, 401, "unauthenticated");
    let tok2 = session(&s, Some(t), user).await;
    let d = s
        .call(Method::PATCH, &format!("/v1/tenants/{t}/users/{uid}"), Some(op), None, Some(json!({"disabled": true})))
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_problem(&s.call(Method::GET, "/v1/auth/session", Some(&tok2), None, None).await, 401, "unauthenticated");
    assert_problem(&login(&s, Some(t), user, PASSWORD, None).await, 401, "login-failed");

    // No password, hash, session id or username anywhere it must not be.
    let phc: String = crate::support::db(dir.path())
        .query_row("SELECT password FROM users WHERE id = ?1", [&uid], |r| r.get(0))
        .unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    let log = std::fs::read_to_string(&s.log).unwrap();
    let audit = crate::support::db(dir.path())
        .prepare("SELECT * FROM audit_log")
        .unwrap()
        .query_map([], |r| {
            let mut row = String::new();
            for i in 0..18 {
                if let Ok(v) = r.get::<_, Option<String>>(i) {
                    row.push_str(&v.unwrap_or_default());
                    row.push('|');
                }
            }
            Ok(row)
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    // Responses after login carry none of it either (the user list shows no hash).
    let listed = s.call(Method::GET, &format!("/v1/tenants/{t}/users"), Some(op), None, None).await;
    assert_eq!(listed.status, 200);
    assert!(listed.text.contains(user), "the manager sees the username");
    for secret in [PASSWORD, phc.as_str(), tok.as_str(), tok2.as_str(), user] {
        assert!(!log.contains(secret), "log line holds a secret");
        assert!(!audit.contains(secret), "audit entry holds a secret");
        if secret != user {
            assert!(!listed.text.contains(secret), "a response holds a secret");
        }
    }
    let mut db_bytes = Vec::new();
    for f in ["zone.db", "zone.db-wal"] {
        if let Ok(b) = std::fs::read(dir.path().join(f)) {
            db_bytes.extend(b);
        }
    }
    for plain in [user, PASSWORD, tok.as_str()] {
        assert!(!db_bytes.windows(plain.len()).any(|w| w == plain.as_bytes()), "plaintext in the database");
    }
}

#[tokio::test]
async fn lockout_holds_under_fifty_parallel_wrong_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let t = tenant_of(&creds);
    create_user(&s, op, Some(t), "per.support", &["support"]).await;
    let s = std::sync::Arc::new(s);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = s.clone();
        let t = t.to_owned();
        tasks.push(tokio::spawn(async move {
            login(&s, Some(&t), "per.support", &format!("wrong password {i}"), None).await
        }));
    }
    let mut failed = 0;
    let mut throttled = 0;
    for task in tasks {
        let r = task.await.unwrap();
        match r.status.as_u16() {
            401 => failed += 1,
            429 => {
                assert_problem(&r, 429, "throttled");
                assert!(r.headers.get("retry-after").is_some());
                throttled += 1;
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    // The policy lets five attempts be evaluated; the other 45 are refused unseen.
    assert_eq!((failed, throttled), (5, 45));
    let reasons: Vec<Option<String>> = audit_of(dir.path(), "auth.login").into_iter().map(|e| e.1).collect();
    assert_eq!(reasons.iter().filter(|r| r.as_deref() == Some("bad_password")).count(), 5);
    assert_eq!(reasons.iter().filter(|r| r.as_deref() == Some("locked")).count(), 45);
    // Locked: even the right password is not looked at.
    assert_problem(&login(&s, Some(t), "per.support", PASSWORD, None).await, 429, "throttled");
    // Unknown accounts and unknown tenants fail exactly like a wrong password.
    let a = login(&s, Some(t), "nobody.here", PASSWORD, None).await;
    let b = login(&s, Some("no-such-tenant"), "per.support", PASSWORD, None).await;
    assert_problem(&a, 401, "login-failed");
    assert_problem(&b, 401, "login-failed");
    assert_eq!(a.body["detail"], b.body["detail"]);
    // Successful logins do not use up the address's allowance (a school behind one NAT).
    create_user(&s, op, Some(t), "busy.teacher", &["grader"]).await;
    for _ in 0..25 {
        assert_eq!(login(&s, Some(t), "busy.teacher", PASSWORD, None).await.status, 200);
    }
}

#[tokio::test]
async fn operator_users_must_enrol_before_they_operate_and_never_read_data() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    create_user(&s, op, None, "ops.olav", &[]).await;
    let r = login(&s, None, "ops.olav", PASSWORD, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfa_enrolment_required"], true);
    let tok = r.body["token"].as_str().unwrap().to_owned();
    let create = |code: &'static str| {
        let (s, tok) = (&s, tok.clone());
        async move { s.call(Method::POST, "/v1/tenants", Some(&tok), None, Some(json!({"code": code, "name": "N"}))).await }
    };
    assert_problem(&create("ops1").await, 403, "mfa-required");
    crate::staff::enrol(&s, &tok).await;
    assert_eq!(create("ops2").await.status, 201);
    let t = tenant_of(&creds);
    let read = s
        .call(
            Method::GET,
            &format!("/v1/tenants/{t}/collections/candidates/records"),
            Some(&tok),
            Some("grading"),
            None,
        )
        .await;
    assert_problem(&read, 403, "forbidden");
    // An operator user is not a tenant user: signing in to a tenant with it fails.
    assert_problem(&login(&s, Some(t), "ops.olav", PASSWORD, None).await, 401, "login-failed");
}
