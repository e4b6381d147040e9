//! Records over HTTPS: round trip, lists and search, roles and purposes, key rotation,
//! and no plaintext in the database files.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn record_round_trip_lists_and_search() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let admin = tenant_with_admin(&s, op, "uio").await;
    put_people(&s, &admin, "uio").await;
    let sub = subject(&s, &admin, "uio").await;
    let id = record(
        &s,
        &admin,
        "uio",
        Some(&sub),
        json!({"email": "Kari.Nordmann@example.no", "name": "Kari Nordmann", "score": 7}),
    )
    .await;

    let path = format!("/v1/tenants/uio/collections/people/records/{id}");
    let r = s.call(Method::GET, &path, Some(&admin), Some("grading"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["fields"], json!({"email": "Kari.Nordmann@example.no", "name": "Kari Nordmann", "score": 7}));
    assert_eq!(r.body["subject"], json!(sub));
    assert_eq!(r.body["version"], json!(1));

    let r = s.call(Method::PATCH, &path, Some(&admin), None, Some(json!({"fields": {"score": 9, "name": null}}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], json!(2));
    let r = s.call(Method::GET, &path, Some(&admin), Some("grading"), None).await;
    assert_eq!(r.body["fields"], json!({"email": "Kari.Nordmann@example.no", "score": 9}));
    // a stale version is refused
    let r = s.call(Method::PATCH, &path, Some(&admin), None, Some(json!({"fields": {"score": 1}, "version": 1}))).await;
    assert_problem(&r, 409, "conflict");

    // search: emails match case-insensitively; the value travels in the body
    let r = s.search(&admin, "uio", "email", json!("kari.nordmann@EXAMPLE.no")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["records"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["records"][0]["id"], json!(id));
    let r = s.search(&admin, "uio", "email", json!("nobody@example.no")).await;
    assert_eq!(r.body["records"], json!([]));
    let r = s.search(&admin, "uio", "name", json!("Kari")).await;
    assert_problem(&r, 400, "invalid-input");

    // pagination over 6 records, by collection and by subject
    for i in 0..5 {
        record(
            &s,
            &admin,
            "uio",
            if i % 2 == 0 { Some(&sub) } else { None },
            json!({"email": format!("p{i}@example.no")}),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".into(),
        };
        let r = s
            .call(
                Method::GET,
                &format!("/v1/tenants/uio/collections/people/records{q}"),
                Some(&admin),
                Some("support"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        for rec in r.body["records"].as_array().unwrap() {
            seen.push(rec["id"].as_str().unwrap().to_owned());
        }
        match r.body["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup, seen, "pages are in id order without repeats");
    let r = s
        .call(
            Method::GET,
            &format!("/v1/tenants/uio/collections/people/records?subject={sub}"),
            Some(&admin),
            Some("grading"),
            None,
        )
        .await;
    assert_eq!(r.body["records"].as_array().unwrap().len(), 4);

    let r = s.call(Method::DELETE, &path, Some(&admin), None, None).await;
    assert_eq!(r.status, 204);
    let r = s.call(Method::GET, &path, Some(&admin), Some("grading"), None).await;
    assert_problem(&r, 404, "not-found");
    let r = s.search(&admin, "uio", "email", json!("kari.nordmann@example.no")).await;
    assert_eq!(r.body["records"], json!([]), "deleted record leaves the index");
}

#[tokio::test]
async fn roles_and_purposes_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let admin = tenant_with_admin(&s, op, "ntnu").await;
    put_people(&s, &admin, "ntnu").await;
    let reader = key(&s, &admin, "ntnu", "reader").await;
    let writer = key(&s, &admin, "ntnu", "writer").await;
    let id = record(&s, &writer, "ntnu", None, json!({"email": "a@example.no"})).await;
    let rec = format!("/v1/tenants/ntnu/collections/people/records/{id}");
    let coll = "/v1/tenants/ntnu/collections/people";

    // a reader cannot write anything
    let r = s
        .call(
            Method::POST,
            &format!("{coll}/records"),
            Some(&reader),
            None,
            Some(json!({"fields": {"email": "b@example.no"}})),
        )
        .await;
    assert_problem(&r, 403, "forbidden");
    let r = s.call(Method::PATCH, &rec, Some(&reader), None, Some(json!({"fields": {"score": 1}}))).await;
    assert_problem(&r, 403, "forbidden");
    let r = s.call(Method::DELETE, &rec, Some(&reader), None, None).await;
    assert_problem(&r, 403, "forbidden");
    let r = s.call(Method::POST, "/v1/tenants/ntnu/subjects", Some(&reader), None, Some(json!({}))).await;
    assert_problem(&r, 403, "forbidden");
    // a writer cannot change schemas or issue keys
    let r = s.call(Method::PUT, coll, Some(&writer), None, Some(people_schema())).await;
    assert_problem(&r, 403, "forbidden");
    let r = s
        .call(
            Method::POST,
            "/v1/tenants/ntnu/api-keys",
            Some(&writer),
            None,
            Some(json!({"name": "x", "role": "admin"})),
        )
        .await;
    assert_problem(&r, 403, "forbidden");
    // the operator manages tenants, not their data
    let r = s.call(Method::GET, &rec, Some(op), Some("grading"), None).await;
    assert_problem(&r, 403, "forbidden");
    // tenants are created by operators only
    let r = s.call(Method::POST, "/v1/tenants", Some(&admin), None, Some(json!({"code": "evil", "name": "x"}))).await;
    assert_problem(&r, 403, "forbidden");
    // no key: 401
    let r = s.call(Method::GET, &rec, None, Some("grading"), None).await;
    assert_problem(&r, 401, "unauthenticated");
    let r = s.call(Method::GET, &rec, Some("ck_not-a-real-key"), Some("grading"), None).await;
    assert_problem(&r, 401, "unauthenticated");

    // purposes
    let r = s.call(Method::GET, &rec, Some(&reader), None, None).await;
    assert_problem(&r, 400, "purpose-required");
    let r = s.call(Method::GET, &rec, Some(&reader), Some("analytics"), None).await;
    assert_problem(&r, 403, "purpose-not-allowed");
    assert!(!r.text.contains("a@example.no"));
    let r = s.call(Method::GET, &rec, Some(&reader), Some("grading"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["fields"]["email"], json!("a@example.no"));
}

#[tokio::test]
async fn key_rotation_keeps_old_records_readable() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let admin = tenant_with_admin(&s, op, "hvl").await;
    put_people(&s, &admin, "hvl").await;
    let sub = subject(&s, &admin, "hvl").await;
    let old = record(&s, &admin, "hvl", Some(&sub), json!({"email": "old@example.no", "score": 1, "note": "n"})).await;
    let get = |id: String| {
        let s = &s;
        let admin = admin.clone();
        async move {
            s.call(
                Method::GET,
                &format!("/v1/tenants/hvl/collections/people/records/{id}"),
                Some(&admin),
                Some("grading"),
                None,
            )
            .await
        }
    };
    assert_eq!(get(old.clone()).await.body["key_version"], json!(1));

    let r = s.call(Method::POST, "/v1/tenants/hvl/keys/rotate", Some(&admin), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"key_version": 2}));
    let new = record(&s, &admin, "hvl", Some(&sub), json!({"email": "new@example.no", "score": 2})).await;
    assert_eq!(get(new).await.body["key_version"], json!(2), "new writes use the new version");
    let r = get(old.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["fields"]["email"], json!("old@example.no"));
    let r = s.search(&admin, "hvl", "email", json!("old@example.no")).await;
    assert_eq!(r.body["records"][0]["id"], json!(old), "old index entries still match");

    // the background rewrap moves the old record forward
    let mut moved = false;
    for _ in 0..100 {
        if get(old.clone()).await.body["key_version"] == json!(2) {
            moved = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(moved, "rewrap moved the old record to key version 2");
    let db = db(dir.path());
    let stale: i64 = db
        .query_row(
            "SELECT (SELECT count(*) FROM record_fields f JOIN records r ON r.id = f.record_id WHERE r.tenant = 'hvl' AND f.key_version = 1)
                  + (SELECT count(*) FROM blind_index WHERE tenant = 'hvl' AND version = 1)
                  + (SELECT count(*) FROM subjects WHERE tenant = 'hvl' AND key_version = 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stale, 0, "no field, index entry or subject key left on version 1");
    let r = s.search(&admin, "hvl", "email", json!("old@example.no")).await;
    assert_eq!(r.body["records"][0]["fields"]["email"], json!("old@example.no"));
    // a rotation by a key of another tenant is a 404
    let other = tenant_with_admin(&s, op, "uib").await;
    let r = s.call(Method::POST, "/v1/tenants/hvl/keys/rotate", Some(&other), None, None).await;
    assert_problem(&r, 404, "not-found");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn database_files_hold_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let admin = tenant_with_admin(&s, op, "scan").await;
    put_people(&s, &admin, "scan").await;
    let mut secrets: Vec<String> =
        vec!["ingrid.berg@example.org".into(), "Haugen".into(), "Worked answer 1 of candidate".into()];
    for i in 0..20 {
        let sub = subject(&s, &admin, "scan").await;
        let email = format!("zebra.quokka{i}@example.no");
        let name = format!("Quokkaline Zebrafinch{i}");
        let note = format!("free-text-note-{i}-marmalade");
        record(&s, &admin, "scan", Some(&sub), json!({"email": email, "name": name, "note": note})).await;
        secrets.extend([email, name, note]);
    }
    // search values must not land anywhere either
    let r = s
        .call(
            Method::POST,
            "/v1/tenants/scan/collections/people/records/search",
            Some(&admin),
            Some("grading"),
            Some(json!({"field": "email", "equals": "lookup.only@example.no"})),
        )
        .await;
    assert_eq!(r.status, 200);
    secrets.push("lookup.only@example.no".into());
    let scan = |when: &str| {
        let mut scanned = 0;
        for f in ["zone.db", "zone.db-wal", "zone.db-shm"] {
            let Ok(bytes) = std::fs::read(dir.path().join(f)) else {
                continue;
            };
            scanned += bytes.len();
            for sec in &secrets {
                assert!(!contains(&bytes, sec.as_bytes()), "{when}: {f} contains plaintext {sec:?}");
                assert!(!contains(&bytes, sec.to_lowercase().as_bytes()), "{when}: {f} contains plaintext {sec:?}");
            }
        }
        assert!(scanned > 0);
    };
    scan("while serving");
    drop(s);
    scan("after stop");
}

#[tokio::test]
async fn openapi_document_describes_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = demo(dir.path());
    let r = s.call(Method::GET, "/v1/openapi.json", None, None, None).await;
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/v1/sys/health",
        "/v1/sys/unseal",
        "/v1/tenants",
        "/v1/tenants/{code}/keys/rotate",
        "/v1/tenants/{code}/api-keys",
        "/v1/tenants/{code}/collections/{name}",
        "/v1/tenants/{code}/subjects",
        "/v1/tenants/{code}/collections/{name}/records",
        "/v1/tenants/{code}/collections/{name}/records/{id}",
        "/v1/tenants/{code}/collections/{name}/records/search",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    let rec: &Value = &paths["/v1/tenants/{code}/collections/{name}/records/{id}"];
    assert!(rec.get("get").is_some() && rec.get("patch").is_some() && rec.get("delete").is_some());
}
