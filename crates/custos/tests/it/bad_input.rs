//! Bad input: every malformed, mistyped, unknown, missing, oversized or invalid input is
//! a 4xx problem+json with a stable type, and nothing is written. Random bodies never
//! produce a 5xx.

use crate::support::*;
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn count(s: &Server, admin: &str) -> usize {
    let r = s
        .call(Method::GET, "/v1/tenants/bad/collections/people/records?limit=500", Some(admin), Some("grading"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["records"].as_array().unwrap().len()
}

#[tokio::test]
async fn bad_input_is_a_problem_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let admin = tenant_with_admin(&s, op, "bad").await;
    put_people(&s, &admin, "bad").await;
    let sub = subject(&s, &admin, "bad").await;
    let id = record(&s, &admin, "bad", Some(&sub), json!({"email": "keep@example.no", "score": 1})).await;
    let before = count(&s, &admin).await;
    let recs = "/v1/tenants/bad/collections/people/records";
    let rec = format!("{recs}/{id}");

    let cases: Vec<(Method, String, Option<Value>, u16, &str)> = vec![
        (
            Method::POST,
            recs.into(),
            Some(json!({"fields": {"email": "a@example.no", "score": "seven"}})),
            400,
            "invalid-input",
        ),
        (
            Method::POST,
            recs.into(),
            Some(json!({"fields": {"email": "a@example.no", "score": 1.5}})),
            400,
            "invalid-input",
        ),
        (Method::POST, recs.into(), Some(json!({"fields": {"email": "not an email"}})), 400, "invalid-input"),
        (
            Method::POST,
            recs.into(),
            Some(json!({"fields": {"email": "a@example.no", "colour": "red"}})),
            400,
            "invalid-input",
        ),
        (Method::POST, recs.into(), Some(json!({"fields": {"name": "No Email"}})), 400, "invalid-input"),
        (Method::POST, recs.into(), Some(json!({"fields": {"email": null}})), 400, "invalid-input"),
        (
            Method::POST,
            recs.into(),
            Some(json!({"fields": {"email": "a@example.no"}, "extra": 1})),
            400,
            "invalid-body",
        ),
        (Method::POST, recs.into(), Some(json!({"fields": ["email"]})), 400, "invalid-body"),
        (Method::POST, recs.into(), Some(json!([1, 2])), 400, "invalid-body"),
        (
            Method::POST,
            recs.into(),
            Some(json!({"subject": "sub_nothex", "fields": {"email": "a@example.no"}})),
            400,
            "invalid-input",
        ),
        (
            Method::POST,
            recs.into(),
            Some(json!({"subject": "sub_00000000000000000000000000000000", "fields": {"email": "a@example.no"}})),
            404,
            "not-found",
        ),
        (Method::PATCH, rec.clone(), Some(json!({"fields": {}})), 400, "invalid-input"),
        (Method::PATCH, rec.clone(), Some(json!({"fields": {"email": null}})), 400, "invalid-input"),
        (Method::PATCH, rec.clone(), Some(json!({"fields": {"score": true}})), 400, "invalid-input"),
        (Method::GET, format!("{recs}/rec_123"), None, 400, "invalid-input"),
        (Method::GET, format!("{recs}/..%2F..%2Fetc"), None, 400, "invalid-input"),
        (Method::DELETE, format!("{recs}/rec_00000000000000000000000000000000"), None, 404, "not-found"),
        (Method::GET, "/v1/tenants/BAD!/collections/people/records".into(), None, 400, "invalid-input"),
        (Method::GET, "/v1/tenants/bad/collections/Not%20A%20Name/records".into(), None, 400, "invalid-input"),
        (Method::GET, "/v1/tenants/bad/collections/nothere/records".into(), None, 404, "not-found"),
        (Method::GET, format!("{recs}?limit=0"), None, 400, "invalid-input"),
        (Method::GET, format!("{recs}?limit=abc"), None, 400, "invalid-input"),
        (Method::GET, format!("{recs}?cursor=garbage"), None, 400, "invalid-input"),
        (Method::GET, format!("{recs}?unknown=1"), None, 400, "invalid-input"),
        (Method::POST, format!("{recs}/search"), Some(json!({"field": "email"})), 400, "invalid-body"),
        (Method::POST, format!("{recs}/search"), Some(json!({"field": "email", "equals": 5})), 400, "invalid-input"),
        (Method::POST, format!("{recs}/search"), Some(json!({"field": "nope", "equals": "x"})), 400, "invalid-input"),
        (
            Method::PUT,
            "/v1/tenants/bad/collections/other".into(),
            Some(json!({"fields": {"x": {"type": "blob"}}})),
            400,
            "invalid-body",
        ),
        (
            Method::PUT,
            "/v1/tenants/bad/collections/other".into(),
            Some(json!({"fields": {"x": {"type": "json", "searchable": true}}})),
            400,
            "invalid-input",
        ),
        (Method::PUT, "/v1/tenants/bad/collections/other".into(), Some(json!({"fields": {}})), 400, "invalid-input"),
        (
            Method::PUT,
            "/v1/tenants/bad/collections/people".into(),
            Some(json!({"fields": {"email": {"type": "string"}}})),
            409,
            "conflict",
        ),
        (Method::POST, "/v1/tenants".into(), Some(json!({"code": "Bad Code", "name": "x"})), 400, "invalid-input"),
        (Method::POST, "/v1/tenants".into(), Some(json!({"code": "bad", "name": "dup"})), 403, "forbidden"),
        (
            Method::POST,
            "/v1/tenants/bad/api-keys".into(),
            Some(json!({"name": "k", "role": "root"})),
            400,
            "invalid-input",
        ),
        (
            Method::POST,
            "/v1/tenants/bad/api-keys".into(),
            Some(json!({"name": "k", "role": "Not A Role!"})),
            400,
            "invalid-body",
        ),
        (
            Method::POST,
            "/v1/tenants/bad/api-keys".into(),
            Some(json!({"name": "k", "role": "reader", "expires_in_days": 0})),
            400,
            "invalid-input",
        ),
        (
            Method::POST,
            "/v1/tenants/bad/api-keys".into(),
            Some(json!({"name": "", "role": "reader"})),
            400,
            "invalid-input",
        ),
        (Method::POST, "/v1/sys/unseal".into(), Some(json!({"share": 42})), 400, "invalid-body"),
        (Method::GET, "/v1/no/such/route".into(), None, 404, "not-found"),
        (Method::PUT, "/v1/sys/health".into(), None, 405, "method-not-allowed"),
    ];
    for (m, path, body, status, slug) in cases {
        let r = s.call(m.clone(), &path, Some(&admin), Some("grading"), body).await;
        assert_problem(&r, status, slug);
        assert!(!r.text.contains("keep@example.no"));
    }
    // operator duplicates and bad codes
    let r = s.call(Method::POST, "/v1/tenants", Some(op), None, Some(json!({"code": "bad", "name": "dup"}))).await;
    assert_problem(&r, 409, "conflict");
    let r = s.call(Method::POST, "/v1/tenants", Some(op), None, Some(json!({"code": "x", "name": "too short"}))).await;
    assert_problem(&r, 400, "invalid-input");
    // a bad purpose header
    let r = s.call(Method::GET, &rec, Some(&admin), Some("Not A Purpose!"), None).await;
    assert_problem(&r, 400, "invalid-input");
    // raw bodies: malformed JSON, wrong media type, over the 1 MiB limit
    let r = s.raw(Method::POST, recs, &admin, "application/json", b"{\"fields\": {".to_vec()).await;
    assert_problem(&r, 400, "malformed-json");
    let r = s.raw(Method::POST, recs, &admin, "text/plain", b"{}".to_vec()).await;
    assert_problem(&r, 415, "unsupported-media-type");
    let r = s.declared_body("POST", recs, &admin, 1_100_000);
    assert_problem(&r, 413, "body-too-large");
    let r = s.declared_body("PUT", "/v1/tenants/bad/collections/people", &admin, 2 << 20);
    assert_problem(&r, 413, "body-too-large");

    assert_eq!(count(&s, &admin).await, before, "no record written by bad input");
    let r = s.call(Method::GET, &rec, Some(&admin), Some("grading"), None).await;
    assert_eq!(r.body["version"], json!(1), "the record was not changed");
    let r = s.call(Method::GET, "/v1/tenants/bad/collections/other", Some(&admin), None, None).await;
    assert_problem(&r, 404, "not-found");
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "[ -~]{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("(email|name|score|note|[a-z]{1,6})", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn random_bodies_never_cause_a_server_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (s, admin, dpo, sub, op) = rt.block_on(async {
        let (s, creds) = demo(dir.path());
        let op = creds["operator_token"].as_str().unwrap().to_owned();
        let op = op.as_str();
        let admin = tenant_with_admin(&s, op, "bad").await;
        put_people(&s, &admin, "bad").await;
        let dpo = crate::support::key(&s, op, "bad", "dpo").await;
        let sub = crate::support::subject(&s, &admin, "bad").await;
        (s, admin, dpo, sub, op.to_owned())
    });
    let erase = format!("/v1/tenants/bad/subjects/{sub}/erasure");
    let disclose = format!("/v1/tenants/bad/subjects/{sub}/disclosures");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 96, ..ProptestConfig::default() });
    runner
        .run(&(arb_json(), arb_json()), |(fields, search)| {
            rt.block_on(async {
                for (m, path, body) in [
                    (Method::POST, "/v1/tenants/bad/collections/people/records", json!({"fields": fields})),
                    (
                        Method::POST,
                        "/v1/tenants/bad/collections/people/records/search",
                        json!({"field": "email", "equals": search}),
                    ),
                    (Method::PUT, "/v1/tenants/bad/collections/fuzz", json!({"fields": fields})),
                    (Method::POST, "/v1/tenants/bad/collections/people/records", fields.clone()),
                    (Method::POST, "/v1/auth/login", fields.clone()),
                    (Method::POST, "/v1/auth/login", json!({"tenant": "bad", "username": search, "password": fields})),
                    (Method::POST, "/v1/auth/password-reset", json!({"tenant": "bad", "email": search})),
                    (Method::POST, "/v1/auth/password-reset/complete", json!({"token": search, "password": fields})),
                    (Method::POST, "/v1/auth/totp/confirm", json!({"code": search})),
                    (Method::POST, "/v1/tenants/bad/users", fields.clone()),
                    (Method::POST, "/v1/tenants/bad/users", json!({"username": search, "roles": fields})),
                    (Method::PUT, "/v1/tenants/bad/roles/fuzz", json!({"permissions": fields})),
                    (Method::POST, "/v1/tenants/bad/api-keys", json!({"name": search, "role": fields})),
                    (Method::POST, "/v1/tenants/bad/access-review/confirm", fields.clone()),
                    (Method::PUT, "/v1/tenants/bad/oidc", fields.clone()),
                    (Method::POST, "/v1/tenants/bad/subjects", json!({"external_id": fields})),
                    (
                        Method::POST,
                        "/v1/tenants/bad/subjects",
                        json!({"external_id": {"kind": search, "value": search}}),
                    ),
                    (Method::POST, "/v1/tenants/bad/subjects/lookup", json!({"kind": "student", "value": search})),
                    (Method::POST, "/v1/tenants/bad/subjects/lookup", fields.clone()),
                    (Method::POST, "/v1/tenants/bad/recipients", json!({"name": search, "webhook_url": fields})),
                    (Method::POST, "/v1/tenants/bad/recipients", fields.clone()),
                    (Method::POST, &disclose, json!({"recipient": search, "collection": "people", "fields": fields})),
                    (
                        Method::POST,
                        "/v1/tenants/bad/collections/people/records",
                        json!({"subject": sub, "fields": {"email": "a@b.no"}, "purposes": fields}),
                    ),
                    (Method::POST, "/v1/tenants/bad/files?kind=transfer", fields.clone()),
                ] {
                    let r = s.call(m, path, Some(&admin), Some("grading"), Some(body)).await;
                    assert!(r.status.as_u16() < 500, "{path}: {} {}", r.status, r.text);
                    if !r.status.is_success() {
                        assert_eq!(r.content_type, "application/problem+json");
                    }
                }
                for (m, path, body) in [
                    (Method::PUT, "/v1/tenants/bad/privacy", fields.clone()),
                    (Method::PUT, "/v1/tenants/bad/privacy", json!({"grace_days": search})),
                    (Method::POST, erase.as_str(), json!({"reason": search, "delete_shared": fields})),
                    (Method::POST, erase.as_str(), fields.clone()),
                ] {
                    let r = s.call(m, path, Some(&dpo), None, Some(body)).await;
                    assert!(r.status.as_u16() < 500, "{path}: {} {}", r.status, r.text);
                    if !r.status.is_success() {
                        assert_eq!(r.content_type, "application/problem+json");
                    }
                }
                for body in [
                    fields.clone(),
                    json!({"kind": search, "recipients": fields}),
                    json!({"target": search, "recipients": [search]}),
                    json!({"zone": fields, "target": fields}),
                ] {
                    let r = s.call(Method::POST, "/v1/sys/backups", Some(&op), None, Some(body)).await;
                    assert!(r.status.is_client_error(), "backups: {} {}", r.status, r.text);
                    assert_eq!(r.content_type, "application/problem+json");
                }
                for body in [fields.clone(), json!({"identity": search}), json!({"identity": fields})] {
                    let r = s.call(Method::POST, "/v1/sys/restore-drills", Some(&op), None, Some(body)).await;
                    assert!(r.status.is_client_error(), "drills: {} {}", r.status, r.text);
                    assert_eq!(r.content_type, "application/problem+json");
                }
            });
            Ok(())
        })
        .unwrap();
}
