//! Tenant isolation: for every tenant-scoped endpoint and every role, a key of tenant A
//! used on tenant B's resources gets a 404 and nothing of B; B is left unchanged. The
//! check enumerates the whole endpoint × role space rather than sampling it.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn a_key_of_tenant_a_sees_nothing_of_tenant_b() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let a_admin = tenant_with_admin(&s, op, "tenant-a").await;
    let b_admin = tenant_with_admin(&s, op, "tenant-b").await;
    put_people(&s, &a_admin, "tenant-a").await;
    put_people(&s, &b_admin, "tenant-b").await;
    let b_sub = subject(&s, &b_admin, "tenant-b").await;
    let b_email = "secret.b.person@example.no";
    let b_rec =
        record(&s, &b_admin, "tenant-b", Some(&b_sub), json!({"email": b_email, "name": "Bettina Secret", "score": 5}))
            .await;
    let path = format!("/v1/tenants/tenant-b/files?subject={b_sub}");
    let (_, f) = upload(&s, &b_admin, &path, "text/csv", b"name\nBettina Secret\n".to_vec()).await;
    let b_file = f["id"].as_str().unwrap().to_owned();
    let a_recipient = s
        .call(
            Method::POST,
            "/v1/tenants/tenant-a/recipients",
            Some(&a_admin),
            None,
            Some(json!({"name": "A's provider", "webhook_url": "https://provider.example/hook"})),
        )
        .await
        .body["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let keys = [
        ("admin", a_admin.clone()),
        ("writer", key(&s, &a_admin, "tenant-a", "writer").await),
        ("reader", key(&s, &a_admin, "tenant-a", "reader").await),
        ("recipient", a_recipient),
    ];

    let b = "/v1/tenants/tenant-b";
    let a = "/v1/tenants/tenant-a";
    let rec_body = json!({"subject": b_sub, "fields": {"email": "x@example.no"}});
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, b.to_string(), None),
        (Method::POST, format!("{b}/keys/rotate"), None),
        (Method::POST, format!("{b}/api-keys"), Some(json!({"name": "steal", "role": "admin"}))),
        (Method::PUT, format!("{b}/collections/people"), Some(people_schema())),
        (Method::GET, format!("{b}/collections/people"), None),
        (Method::POST, format!("{b}/subjects"), Some(json!({}))),
        (Method::GET, format!("{b}/subjects/{b_sub}"), None),
        (Method::POST, format!("{b}/collections/people/records"), Some(json!({"fields": {"email": "x@example.no"}}))),
        (Method::GET, format!("{b}/collections/people/records"), None),
        (Method::GET, format!("{b}/collections/people/records?subject={b_sub}"), None),
        (Method::GET, format!("{b}/collections/people/records/{b_rec}"), None),
        (Method::PATCH, format!("{b}/collections/people/records/{b_rec}"), Some(json!({"fields": {"score": 0}}))),
        (Method::DELETE, format!("{b}/collections/people/records/{b_rec}"), None),
        (
            Method::POST,
            format!("{b}/collections/people/records/search"),
            Some(json!({"field": "email", "equals": b_email})),
        ),
        (Method::GET, format!("{b}/audit"), None),
        (Method::GET, format!("{b}/audit?subject={b_sub}"), None),
        (Method::POST, format!("{b}/subjects/lookup"), Some(json!({"kind": "student-number", "value": "1"}))),
        (Method::POST, format!("{b}/subjects/{b_sub}/erasure"), Some(json!({}))),
        (Method::GET, format!("{b}/subjects/{b_sub}/export"), None),
        (Method::GET, format!("{b}/subjects/{b_sub}/disclosures"), None),
        (Method::GET, format!("{b}/dsr-requests"), None),
        (Method::GET, format!("{b}/erasures/dsr_0000000000000001"), None),
        (Method::GET, format!("{b}/privacy"), None),
        (Method::GET, format!("{b}/recipients"), None),
        (Method::GET, format!("{b}/files/{b_file}"), None),
        (Method::GET, format!("{b}/files/{b_file}/meta"), None),
        (Method::DELETE, format!("{b}/files/{b_file}"), None),
        (Method::GET, format!("{b}/recipient/disclosures"), None),
        (Method::GET, format!("{b}/recipient/subjects/{b_sub}"), None),
        (Method::GET, format!("{a}/files/{b_file}/meta"), None),
        // B's ids through A's own paths
        (Method::GET, format!("{a}/subjects/{b_sub}"), None),
        (Method::GET, format!("{a}/collections/people/records/{b_rec}"), None),
        (Method::PATCH, format!("{a}/collections/people/records/{b_rec}"), Some(json!({"fields": {"score": 0}}))),
        (Method::DELETE, format!("{a}/collections/people/records/{b_rec}"), None),
        (Method::GET, format!("{a}/collections/people/records?subject={b_sub}"), None),
        (Method::POST, format!("{a}/collections/people/records"), Some(rec_body)),
    ];
    let mut checked = 0;
    for (role, k) in &keys {
        for (m, path, body) in &endpoints {
            let r = s.call(m.clone(), path, Some(k), Some("grading"), body.clone()).await;
            let own_tenant_forbidden = path.starts_with(a) && r.status == 403 && *role != "admin";
            assert!(r.status == 404 || own_tenant_forbidden, "{role} {m} {path}: {} {}", r.status, r.text);
            if r.status == 404 {
                assert_problem(&r, 404, "not-found");
            }
            for leak in [b_email, "Bettina", b_sub.as_str(), b_rec.as_str()] {
                assert!(!r.text.contains(leak), "{role} {m} {path} leaked {leak}: {}", r.text);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, keys.len() * endpoints.len());

    // B is unchanged
    let r = s
        .call(Method::GET, &format!("{b}/collections/people/records/{b_rec}"), Some(&b_admin), Some("grading"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"], json!(1));
    assert_eq!(r.body["fields"]["email"], json!(b_email));
    let r = s.call(Method::GET, b, Some(&b_admin), None, None).await;
    assert_eq!(r.body["key_version"], json!(1));
    let r =
        s.call(Method::GET, &format!("{b}/collections/people/records"), Some(&b_admin), Some("grading"), None).await;
    assert_eq!(r.body["records"].as_array().unwrap().len(), 1, "nothing was created in B");
}
