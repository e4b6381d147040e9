//! The audit trail: every call leaves exactly the expected entries (success, denial,
//! failed authentication); each kind of tampering makes `custos audit verify` fail at
//! the first bad entry; an untouched trail verifies; a failing audit write stops the
//! operation and changes nothing.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

fn head(dir: &Path) -> i64 {
    db(dir).query_row("SELECT coalesce(max(seq), 0) FROM audit_log", [], |r| r.get(0)).unwrap()
}

/// An entry as the tests read it: (action, outcome, reason, principal_kind, tenant).
type Row = (String, String, Option<String>, String, Option<String>);
/// One call of the table: method, path, token, body, and the entries it must leave.
type Case<'a> = (Method, String, &'a str, Option<Value>, Vec<(&'a str, &'a str, Option<&'a str>)>);

/// Entries after `seq`.
fn entries_after(dir: &Path, seq: i64) -> Vec<Row> {
    let c = db(dir);
    let mut st = c
        .prepare("SELECT action, outcome, reason, principal_kind, tenant FROM audit_log WHERE seq > ?1 ORDER BY seq")
        .unwrap();
    st.query_map([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn verify(dir: &Path) -> Value {
    let out = Command::new(BIN)
        .args(["audit", "verify", "--data-dir", dir.to_str().unwrap(), "--json"])
        .env("CUSTOS_LOG", "error")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.success(), v["ok"] == json!(true), "exit code follows the verdict: {v}");
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[tokio::test]
async fn every_call_leaves_exactly_the_expected_entries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (s, creds) = demo(d);
    let op = creds["operator_token"].as_str().unwrap().to_owned();
    let admin = tenant_with_admin(&s, &op, "aud").await;
    put_people(&s, &admin, "aud").await;
    let reader = key(&s, &admin, "aud", "reader").await;
    let sub = subject(&s, &admin, "aud").await;
    let rec =
        record(&s, &admin, "aud", Some(&sub), json!({"email": "audit.me@example.no", "name": "Audit Person"})).await;
    let t = "/v1/tenants/aud";
    let r = format!("{t}/collections/people/records/{rec}");
    let schema = people_schema();
    let new_rec = json!({"fields": {"email": "n@example.no"}});
    let search = json!({"field": "email", "equals": "audit.me@example.no"});
    // (method, path, token, body, expected entries as (action, outcome, reason))
    let cases: Vec<Case> = vec![
        (Method::GET, t.into(), &admin, None, vec![("tenant.read", "ok", None)]),
        (Method::GET, t.into(), "ck_bogus", None, vec![("auth.token", "denied", Some("unauthenticated"))]),
        (
            Method::PUT,
            format!("{t}/collections/people"),
            &admin,
            Some(schema.clone()),
            vec![("collection.put", "ok", None)],
        ),
        (
            Method::PUT,
            format!("{t}/collections/people"),
            &reader,
            Some(schema),
            vec![("collection.put", "denied", Some("forbidden"))],
        ),
        (Method::GET, format!("{t}/collections/people"), &reader, None, vec![("collection.read", "ok", None)]),
        (Method::POST, format!("{t}/subjects"), &admin, Some(json!({})), vec![("subject.create", "ok", None)]),
        (
            Method::POST,
            format!("{t}/subjects"),
            &reader,
            Some(json!({})),
            vec![("subject.create", "denied", Some("forbidden"))],
        ),
        (Method::GET, format!("{t}/subjects/{sub}"), &reader, None, vec![("subject.read", "ok", None)]),
        (
            Method::POST,
            format!("{t}/collections/people/records"),
            &admin,
            Some(new_rec.clone()),
            vec![("record.create", "ok", None)],
        ),
        (
            Method::POST,
            format!("{t}/collections/people/records"),
            &reader,
            Some(new_rec),
            vec![("record.create", "denied", Some("forbidden"))],
        ),
        (
            Method::POST,
            format!("{t}/collections/people/records"),
            &admin,
            Some(json!({"fields": {"score": 1}})),
            vec![("record.create", "error", Some("invalid-input"))],
        ),
        (Method::GET, r.clone(), &reader, None, vec![("record.read", "ok", None)]),
        (Method::GET, r.clone(), "", None, vec![("auth.token", "denied", Some("unauthenticated"))]),
        (Method::PATCH, r.clone(), &admin, Some(json!({"fields": {"score": 3}})), vec![("record.update", "ok", None)]),
        (
            Method::PATCH,
            r.clone(),
            &reader,
            Some(json!({"fields": {"score": 4}})),
            vec![("record.update", "denied", Some("forbidden"))],
        ),
        (Method::GET, format!("{t}/collections/people/records"), &reader, None, vec![("record.list", "ok", None)]),
        (
            Method::POST,
            format!("{t}/collections/people/records/search"),
            &reader,
            Some(search),
            vec![("record.search", "ok", None)],
        ),
        (
            Method::POST,
            format!("{t}/api-keys"),
            &admin,
            Some(json!({"name": "k", "role": "reader"})),
            vec![("apikey.create", "ok", Some("key=key_* role=reader"))],
        ),
        (Method::POST, format!("{t}/keys/rotate"), &admin, None, vec![("tenant.key-rotate", "ok", None)]),
        (
            Method::POST,
            "/v1/tenants".into(),
            &admin,
            Some(json!({"code": "nope", "name": "n"})),
            vec![("tenant.create", "denied", Some("forbidden"))],
        ),
        (
            Method::POST,
            "/v1/tenants".into(),
            &op,
            Some(json!({"code": "aud2", "name": "n"})),
            vec![("tenant.create", "ok", None)],
        ),
        (Method::GET, format!("{t}/audit?limit=5"), &admin, None, vec![("audit.read", "ok", None)]),
        (Method::GET, format!("{t}/audit"), &reader, None, vec![("audit.read", "denied", Some("forbidden"))]),
        (Method::DELETE, r.clone(), &admin, None, vec![("record.delete", "ok", None)]),
        (Method::GET, r.clone(), &reader, None, vec![("record.read", "denied", Some("not-found"))]),
    ];
    // Every successful call is also made, first, with another tenant's admin key (a
    // denial naming this tenant) and with a key that does not exist (a failed login).
    let foreign = tenant_with_admin(&s, &op, "aud-other").await;
    let mut all: Vec<Case> = Vec::new();
    for (m, path, token, body, expected) in cases {
        if expected.len() == 1 && expected[0].1 == "ok" {
            if path.starts_with(t) {
                all.push((
                    m.clone(),
                    path.clone(),
                    &foreign,
                    body.clone(),
                    vec![(expected[0].0, "denied", Some("not-found"))],
                ));
            }
            all.push((
                m.clone(),
                path.clone(),
                "ck_bogus",
                body.clone(),
                vec![("auth.token", "denied", Some("unauthenticated"))],
            ));
        }
        all.push((m, path, token, body, expected));
    }
    assert!(all.len() >= 50, "{} calls", all.len());
    for (m, path, token, body, expected) in all {
        let before = head(d);
        let tok = if token.is_empty() { None } else { Some(token) };
        let resp = s.call(m.clone(), &path, tok, Some("grading"), body).await;
        let got = entries_after(d, before);
        // the rewrap job may add its own system entries after a rotation
        let got: Vec<_> = got.into_iter().filter(|e| e.3 != "system").collect();
        let reasons: Vec<Option<String>> = got.iter().map(|e| e.2.as_deref().map(mask_ids)).collect();
        let got_short: Vec<(&str, &str, Option<&str>)> =
            got.iter().zip(&reasons).map(|(e, r)| (e.0.as_str(), e.1.as_str(), r.as_deref())).collect();
        assert_eq!(got_short, expected, "{m} {path} -> {}", resp.status);
        for e in &got {
            if e.0 != "tenant.create" && e.0 != "auth.token" {
                assert_eq!(e.4.as_deref(), Some("aud"), "entries name their tenant");
            }
        }
    }
    // no plaintext value of the test in the audit trail
    let c = db(d);
    let dump: String = c
        .query_row(
            "SELECT group_concat(coalesce(tenant,'')||principal_id||action||coalesce(collection,'')||coalesce(record_id,'')||coalesce(subject,'')||coalesce(purpose,'')||coalesce(reason,'')||coalesce(client,'')||request_id, '|') FROM audit_log",
            [],
            |r| r.get(0),
        )
        .unwrap();
    for secret in ["audit.me@example.no", "Audit Person", "n@example.no", &admin, &reader, &op] {
        assert!(!dump.contains(secret), "audit trail holds {secret:?}");
    }
    let v = s.call(Method::GET, "/v1/sys/audit/verify", Some(&op), None, None).await;
    assert_eq!(v.body["ok"], json!(true), "{}", v.text);
    let pk = s.call(Method::GET, "/v1/sys/audit/public-key", None, None, None).await;
    assert_eq!(pk.body["algorithm"], json!("ed25519"));
    assert_eq!(pk.body["public_key"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn verify_names_the_first_bad_entry_for_each_kind_of_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("live");
    let (s, creds) = demo(&d);
    drop(s);
    let cfg = std::fs::read_to_string(d.join("custos.toml")).unwrap();
    std::fs::write(d.join("custos.toml"), cfg.replace("checkpoint_seconds = 10", "checkpoint_seconds = 1")).unwrap();
    let (s, _) = demo(&d);
    let op = creds["operator_token"].as_str().unwrap();
    let admin = tenant_with_admin(&s, op, "tamper").await;
    put_people(&s, &admin, "tamper").await;
    for i in 0..10 {
        record(&s, &admin, "tamper", None, json!({"email": format!("t{i}@example.no")})).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    drop(s);
    let pristine = dir.path().join("pristine");
    copy_dir(&d, &pristine);
    let v = verify(&pristine);
    assert_eq!(v["ok"], json!(true), "{v}");
    assert!(v["checkpoints"].as_i64().unwrap() >= 1, "{v}");
    let last_cp = v["last_checkpoint"].as_i64().unwrap();
    assert!(last_cp > 20, "{v}");

    let k = 7;
    let cases: Vec<(&str, String, &str, i64)> = vec![
        (
            "edit a field",
            format!("UPDATE audit_log SET principal_id = principal_id || 'x' WHERE seq = {k}"),
            "edited-entry",
            k,
        ),
        ("delete an entry", format!("DELETE FROM audit_log WHERE seq = {k}"), "missing-entry", k),
        (
            "insert an entry",
            format!(
                "UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= {k};
                 UPDATE audit_log SET seq = seq - 1000000 + 1 WHERE seq >= 1000000;
                 INSERT INTO audit_log SELECT {k}, time, zone, tenant, principal_kind, principal_id, action, collection,
                   record_id, subject, purpose, outcome, reason, client, 'forged', count, prev_hash, hash
                   FROM audit_log WHERE seq = {};",
                k - 1
            ),
            "broken-link",
            k,
        ),
        (
            "swap two entries",
            format!(
                "UPDATE audit_log SET seq = -1 WHERE seq = {k}; UPDATE audit_log SET seq = {k} WHERE seq = {};
                 UPDATE audit_log SET seq = {} WHERE seq = -1;",
                k + 1,
                k + 1
            ),
            "broken-link",
            k,
        ),
        ("truncate the tail", format!("DELETE FROM audit_log WHERE seq > {}", last_cp - 3), "truncated", last_cp - 2),
        (
            "forge a checkpoint",
            format!("UPDATE audit_checkpoints SET hash = zeroblob(32) WHERE seq = {last_cp}"),
            "forged-checkpoint",
            last_cp,
        ),
    ];
    for (i, (what, sql, kind, seq)) in cases.into_iter().enumerate() {
        let copy = dir.path().join(format!("case{i}"));
        copy_dir(&pristine, &copy);
        db(&copy).execute_batch(&sql).unwrap();
        let v = verify(&copy);
        assert_eq!(v["ok"], json!(false), "{what}: {v}");
        assert_eq!(v["fault"], json!(kind), "{what}: {v}");
        assert_eq!(v["first_bad_seq"], json!(seq), "{what}: {v}");
    }
}

#[tokio::test]
async fn a_failing_audit_write_stops_the_operation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (s, creds) = demo(d);
    let admin = tenant_with_admin(&s, creds["operator_token"].as_str().unwrap(), "fault").await;
    put_people(&s, &admin, "fault").await;
    let rec = record(&s, &admin, "fault", None, json!({"email": "visible@example.no"})).await;
    let count =
        || -> i64 { db(d).query_row("SELECT count(*) FROM records WHERE tenant = 'fault'", [], |r| r.get(0)).unwrap() };
    let before = count();
    let entries = head(d);
    db(d)
        .execute_batch(
            "CREATE TRIGGER audit_fault BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'injected'); END;",
        )
        .unwrap();

    let r = s
        .call(
            Method::POST,
            "/v1/tenants/fault/collections/people/records",
            Some(&admin),
            None,
            Some(json!({"fields": {"email": "new@example.no"}})),
        )
        .await;
    assert!(r.status.is_server_error(), "{}", r.text);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(count(), before, "no record written without its audit entry");
    let r = s
        .call(
            Method::GET,
            &format!("/v1/tenants/fault/collections/people/records/{rec}"),
            Some(&admin),
            Some("grading"),
            None,
        )
        .await;
    assert_problem(&r, 503, "audit-unavailable");
    assert!(!r.text.contains("visible@example.no"), "no data returned unaudited");
    let r = s.call(Method::POST, "/v1/tenants/fault/subjects", Some(&admin), None, Some(json!({}))).await;
    assert!(r.status.is_server_error());
    assert_eq!(head(d), entries);

    db(d).execute_batch("DROP TRIGGER audit_fault").unwrap();
    let r = s
        .call(
            Method::GET,
            &format!("/v1/tenants/fault/collections/people/records/{rec}"),
            Some(&admin),
            Some("grading"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(verify_live(&s, creds["operator_token"].as_str().unwrap()).await, json!(true));
}

async fn verify_live(s: &Server, op: &str) -> Value {
    s.call(Method::GET, "/v1/sys/audit/verify", Some(op), None, None).await.body["ok"].clone()
}

#[tokio::test]
async fn audit_queries_are_scoped_filtered_and_paged() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let admin = tenant_with_admin(&s, op, "qa").await;
    let other = tenant_with_admin(&s, op, "qb").await;
    put_people(&s, &admin, "qa").await;
    let auditor = key(&s, &admin, "qa", "auditor").await;
    let writer = key(&s, &admin, "qa", "writer").await;
    let sub = subject(&s, &writer, "qa").await;
    let rec = record(&s, &writer, "qa", Some(&sub), json!({"email": "q@example.no"})).await;
    for _ in 0..3 {
        s.call(
            Method::GET,
            &format!("/v1/tenants/qa/collections/people/records/{rec}"),
            Some(&writer),
            Some("grading"),
            None,
        )
        .await;
    }
    s.call(
        Method::GET,
        &format!("/v1/tenants/qa/collections/people/records/{rec}"),
        Some(&writer),
        Some("marketing"),
        None,
    )
    .await;

    let q = |token: &str, query: &str| {
        let s = &s;
        let (token, query) = (token.to_owned(), query.to_owned());
        async move { s.call(Method::GET, &format!("/v1/tenants/qa/audit{query}"), Some(&token), None, None).await }
    };
    let r = q(&auditor, "?action=record.read&outcome=ok").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let entries = r.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(
        entries
            .iter()
            .all(|e| e["record"] == json!(rec) && e["subject"] == json!(sub) && e["purpose"] == json!("grading"))
    );
    let r = q(&auditor, "?outcome=denied").await;
    assert_eq!(r.body["entries"][0]["reason"], json!("purpose-not-allowed"));
    let r = q(&admin, &format!("?subject={sub}&limit=2")).await;
    assert_eq!(r.body["entries"].as_array().unwrap().len(), 2);
    let next = r.body["next"].as_str().unwrap().to_owned();
    let r2 = q(&admin, &format!("?subject={sub}&limit=2&cursor={next}")).await;
    assert!(r2.body["entries"][0]["seq"].as_i64().unwrap() > r.body["entries"][1]["seq"].as_i64().unwrap());
    // the auditor reads the trail and nothing else; the writer cannot read the trail
    let r = s
        .call(
            Method::GET,
            &format!("/v1/tenants/qa/collections/people/records/{rec}"),
            Some(&auditor),
            Some("grading"),
            None,
        )
        .await;
    assert_problem(&r, 403, "forbidden");
    assert_problem(&q(&writer, "").await, 403, "forbidden");
    assert_problem(&q(&other, "").await, 404, "not-found");
    assert_problem(&q(&admin, "?from=yesterday").await, 400, "invalid-input");
    assert_problem(&q(&admin, "?outcome=maybe").await, 400, "invalid-input");
    // the operator sees sys entries: the unseal and failed logins
    s.call(Method::GET, "/v1/tenants/qa", Some("ck_wrong"), None, None).await;
    let r = s.call(Method::GET, "/v1/sys/audit?limit=1000", Some(op), None, None).await;
    let actions: Vec<&str> =
        r.body["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"sys.unseal") && actions.contains(&"auth.token"), "{actions:?}");
    assert!(r.body["entries"].as_array().unwrap().iter().all(|e| e["tenant"].is_null()));
    assert_problem(&s.call(Method::GET, "/v1/sys/audit", Some(&admin), None, None).await, 403, "forbidden");
}

/// Generated ids in an audit reason (`key_0123456789abcdef`) as `key_*`.
fn mask_ids(reason: &str) -> String {
    let mut out = String::new();
    let mut rest = reason;
    while let Some(i) = rest.find("key_") {
        out.push_str(&rest[..i + 4]);
        let tail = &rest[i + 4..];
        let n = tail.chars().take_while(|c| c.is_ascii_hexdigit()).count();
        out.push_str(if n == 16 { "*" } else { &tail[..n] });
        rest = &tail[n..];
    }
    out.push_str(rest);
    out
}
