//! Ciphertext binding: a field ciphertext moved to another record, field or tenant, or a
//! subject key swapped, fails to decrypt; the API answers with an integrity problem and
//! never returns the moved data.

use crate::support::*;
use reqwest::Method;
use serde_json::json;

fn ct(c: &rusqlite::Connection, record: &str, field: &str) -> (Vec<u8>, i64) {
    c.query_row("SELECT ct, key_version FROM record_fields WHERE record_id = ?1 AND field = ?2", [record, field], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .unwrap()
}

fn set_ct(c: &rusqlite::Connection, record: &str, field: &str, ct: &[u8], kv: i64) {
    let n = c
        .execute(
            "UPDATE record_fields SET ct = ?3, key_version = ?4 WHERE record_id = ?1 AND field = ?2",
            rusqlite::params![record, field, ct, kv],
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn moved_ciphertexts_fail_to_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let a = tenant_with_admin(&s, op, "alpha").await;
    let b = tenant_with_admin(&s, op, "beta").await;
    put_people(&s, &a, "alpha").await;
    put_people(&s, &b, "beta").await;
    let sa = subject(&s, &a, "alpha").await;
    let sa2 = subject(&s, &a, "alpha").await;
    let source =
        record(&s, &a, "alpha", Some(&sa), json!({"email": "source@example.no", "note": "source-note", "score": 1}))
            .await;
    let to_record =
        record(&s, &a, "alpha", Some(&sa), json!({"email": "target@example.no", "note": "t", "score": 2})).await;
    let to_field =
        record(&s, &a, "alpha", None, json!({"email": "f@example.no", "note": "field-note", "name": "Nm"})).await;
    let other_subject = record(&s, &a, "alpha", Some(&sa2), json!({"email": "s2@example.no"})).await;
    let in_b = record(&s, &b, "beta", None, json!({"email": "b@example.no", "note": "b-note"})).await;

    let read = |code: &'static str, key: String, id: String| {
        let s = &s;
        async move {
            s.call(
                Method::GET,
                &format!("/v1/tenants/{code}/collections/people/records/{id}"),
                Some(&key),
                Some("grading"),
                None,
            )
            .await
        }
    };
    for (code, key, id) in
        [("alpha", &a, &source), ("alpha", &a, &to_record), ("alpha", &a, &to_field), ("beta", &b, &in_b)]
    {
        assert_eq!(read(code, key.clone(), id.clone()).await.status, 200);
    }

    let c = db(dir.path());
    // 1. another record, same field and key (same subject)
    let (email_ct, kv) = ct(&c, &source, "email");
    set_ct(&c, &to_record, "email", &email_ct, kv);
    let r = read("alpha", a.clone(), to_record.clone()).await;
    assert_problem(&r, 500, "integrity-failure");
    assert!(!r.text.contains("source@example.no"));
    // 2. another field of the same record (tenant key, same version)
    let (note_ct, kv) = ct(&c, &to_field, "note");
    set_ct(&c, &to_field, "name", &note_ct, kv);
    let r = read("alpha", a.clone(), to_field.clone()).await;
    assert_problem(&r, 500, "integrity-failure");
    assert!(!r.text.contains("field-note"));
    // 3. another tenant, same collection, field and key version
    let (note_ct, kv) = ct(&c, &source, "note");
    set_ct(&c, &in_b, "note", &note_ct, kv);
    let r = read("beta", b.clone(), in_b.clone()).await;
    assert_problem(&r, 500, "integrity-failure");
    assert!(!r.text.contains("source-note"));
    // 4. another subject's key: swap wrapped subject keys
    let wrapped: Vec<u8> =
        c.query_row("SELECT wrapped_key FROM subjects WHERE pseudonym = ?1", [&sa], |r| r.get(0)).unwrap();
    c.execute("UPDATE subjects SET wrapped_key = ?2 WHERE pseudonym = ?1", rusqlite::params![sa2, wrapped]).unwrap();
    drop(s); // the subject key cache holds the right key until restart
    let (s, _) = demo(dir.path());
    let r = s
        .call(
            Method::GET,
            &format!("/v1/tenants/alpha/collections/people/records/{other_subject}"),
            Some(&a),
            Some("grading"),
            None,
        )
        .await;
    assert_problem(&r, 500, "integrity-failure");
    // the untouched record still reads
    let r = s
        .call(
            Method::GET,
            &format!("/v1/tenants/alpha/collections/people/records/{source}"),
            Some(&a),
            Some("grading"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["fields"]["email"], json!("source@example.no"));
}
