//! API-key lifecycle and access reviews: rotation keeps the old key for the overlap
//! only, revocation is immediate, last use is recorded; the review lists every
//! principal, and its confirmation records who, when and what changed.

use crate::staff::{create_user, enrol, session, tenant_of};
use crate::support::{assert_problem, demo, key};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn keys_rotate_with_overlap_revoke_at_once_and_reviews_record_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let t = tenant_of(&creds);
    create_user(&s, op, Some(t), "anne.admin", &["admin"]).await;
    let admin = session(&s, Some(t), "anne.admin").await;
    enrol(&s, &admin).await;
    let grader = create_user(&s, &admin, Some(t), "gro.grader", &["grader"]).await;
    // An admin cannot hand out what it does not hold (re-identification).
    let r = s
        .call(
            Method::POST,
            &format!("/v1/tenants/{t}/users"),
            Some(&admin),
            None,
            Some(json!({"username": "d", "password": crate::staff::PASSWORD, "roles": ["dpo"]})),
        )
        .await;
    assert_problem(&r, 403, "forbidden");

    let svc = key(&s, &admin, t, "service-reader").await;
    let read = |k: String| {
        let s = &s;
        async move { s.call(Method::GET, &format!("/v1/tenants/{t}/collections/candidates"), Some(&k), None, None).await }
    };
    assert_eq!(read(svc.clone()).await.status, 200);
    let list = s.call(Method::GET, &format!("/v1/tenants/{t}/api-keys"), Some(&admin), None, None).await;
    let mine = list.body["keys"].as_array().unwrap().iter().find(|k| k["role"] == "service-reader").unwrap().clone();
    assert!(mine["last_used_at"].is_string(), "last use recorded: {mine}");
    assert!(!list.text.contains(&svc), "never the secret");
    let id = mine["id"].as_str().unwrap();

    // Expiry is bounded by the configured maximum.
    let long = s
        .call(
            Method::POST,
            &format!("/v1/tenants/{t}/api-keys"),
            Some(&admin),
            None,
            Some(json!({"name": "x", "role": "service-reader", "expires_in_days": 1000})),
        )
        .await;
    assert_problem(&long, 400, "invalid-input");

    // Rotation: a new key; the old one keeps working inside its overlap (0 hours: none).
    let rot = s
        .call(
            Method::POST,
            &format!("/v1/tenants/{t}/api-keys/{id}/rotate"),
            Some(&admin),
            None,
            Some(json!({"overlap_hours": 0})),
        )
        .await;
    assert_eq!(rot.status, 201, "{}", rot.text);
    let new = rot.body["key"].as_str().unwrap().to_owned();
    assert_eq!(rot.body["role"], "service-reader");
    assert_eq!(read(new.clone()).await.status, 200);
    assert_problem(&read(svc.clone()).await, 401, "unauthenticated");
    let rot2 = s
        .call(
            Method::POST,
            &format!("/v1/tenants/{t}/api-keys/{}/rotate", rot.body["id"].as_str().unwrap()),
            Some(&admin),
            None,
            Some(json!({"overlap_hours": 24})),
        )
        .await;
    let newest = rot2.body["key"].as_str().unwrap().to_owned();
    assert_eq!(read(new.clone()).await.status, 200, "the old key works during the overlap");
    assert_eq!(read(newest.clone()).await.status, 200);

    // Revocation is immediate (no cache grace on this node).
    let rid = rot2.body["id"].as_str().unwrap();
    let del = s.call(Method::DELETE, &format!("/v1/tenants/{t}/api-keys/{rid}"), Some(&admin), None, None).await;
    assert_eq!(del.status, 204);
    assert_problem(&read(newest).await, 401, "unauthenticated");

    // The review lists users and keys with what an auditor needs.
    let rev = s.call(Method::GET, &format!("/v1/tenants/{t}/access-review"), Some(&admin), None, None).await;
    assert_eq!(rev.status, 200, "{}", rev.text);
    assert_eq!(rev.body["overdue"], false);
    let ps = rev.body["principals"].as_array().unwrap();
    let g = ps.iter().find(|p| p["id"] == grader.as_str()).unwrap();
    assert_eq!(g["kind"], "user");
    assert_eq!(g["roles"], json!(["grader"]));
    assert_eq!(g["mfa"], false);
    assert!(g["permissions"].as_array().unwrap().contains(&json!("records:write")));
    let a = ps.iter().find(|p| p["name"] == "anne.admin").unwrap();
    assert_eq!(a["mfa"], true);
    assert!(a["last_active_at"].is_string());
    assert!(ps.iter().any(|p| p["kind"] == "service" && p["inactive"] == true), "revoked keys are shown as inactive");

    // Confirming disables the grader in the same step and records it.
    let gtok = session(&s, Some(t), "gro.grader").await;
    let c = s
        .call(
            Method::POST,
            &format!("/v1/tenants/{t}/access-review/confirm"),
            Some(&admin),
            None,
            Some(json!({"disable_users": [grader]})),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["changes"], json!([format!("disabled user {grader}")]));
    assert_problem(&s.call(Method::GET, "/v1/auth/session", Some(&gtok), None, None).await, 401, "unauthenticated");
    let rev2 = s.call(Method::GET, &format!("/v1/tenants/{t}/access-review"), Some(&admin), None, None).await;
    assert_eq!(rev2.body["last_review"]["id"], c.body["id"]);
    let health = s.call(Method::GET, "/v1/sys/health", None, None, None).await;
    assert_eq!(health.body["access_reviews_overdue"], 0);
    let entries = crate::staff::audit_of(dir.path(), "access_review.confirm");
    assert_eq!(entries.len(), 1);
    assert!(entries[0].1.as_deref().unwrap().ends_with("changes=1"));
    for action in ["apikey.rotate", "apikey.revoke", "user.create"] {
        assert!(!crate::staff::audit_of(dir.path(), action).is_empty(), "{action} audited");
    }
}
