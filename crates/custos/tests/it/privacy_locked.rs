//! A locked subject (erasure pending) is invisible to every principal but the DPO on
//! every endpoint that lists, looks up, exports or serves recipients: for each endpoint
//! and each other principal, asking about the locked subject gets exactly the answer
//! asking about a subject that never existed gets, and lists leave it out.

use crate::privacy::{EMAIL, Setup, key, setup, subject_with_record};
use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One subject's handles: pseudonym, record id, file id, email, external id.
struct Handles {
    sub: String,
    rec: String,
    file: String,
    email: String,
    ext: String,
}

/// Every endpoint that names a subject (or its record, file, email, external id), as
/// (label, method, path, purpose, body).
type Endpoint = (&'static str, Method, String, Option<&'static str>, Option<Value>);

fn endpoints(h: &Handles) -> Vec<Endpoint> {
    let t = "/v1/tenants/demo";
    vec![
        ("subject", Method::GET, format!("{t}/subjects/{}", h.sub), None, None),
        ("record", Method::GET, format!("{t}/collections/courses/records/{}", h.rec), Some("support"), None),
        (
            "records of subject",
            Method::GET,
            format!("{t}/collections/courses/records?subject={}", h.sub),
            Some("support"),
            None,
        ),
        (
            "search",
            Method::POST,
            format!("{t}/collections/courses/records/search"),
            Some("support"),
            Some(json!({"field": "email", "equals": h.email})),
        ),
        (
            "lookup",
            Method::POST,
            format!("{t}/subjects/lookup"),
            None,
            Some(json!({"kind": "student-number", "value": h.ext})),
        ),
        ("export", Method::GET, format!("{t}/subjects/{}/export", h.sub), Some("dsr"), None),
        ("disclosures", Method::GET, format!("{t}/subjects/{}/disclosures", h.sub), None, None),
        ("recipient read", Method::GET, format!("{t}/recipient/subjects/{}", h.sub), None, None),
        ("file meta", Method::GET, format!("{t}/files/{}/meta", h.file), Some("support"), None),
        ("file", Method::GET, format!("{t}/files/{}", h.file), Some("support"), None),
        (
            "patch record",
            Method::PATCH,
            format!("{t}/collections/courses/records/{}", h.rec),
            None,
            Some(json!({"fields": {"grade": 1}})),
        ),
        (
            "new record",
            Method::POST,
            format!("{t}/collections/courses/records"),
            None,
            Some(json!({"subject": h.sub, "fields": {"grade": 1}})),
        ),
        (
            "disclose",
            Method::POST,
            format!("{t}/subjects/{}/disclosures", h.sub),
            None,
            Some(json!({"recipient": "rcp_0000000000000000", "collection": "courses", "fields": ["grade"]})),
        ),
        ("erase", Method::POST, format!("{t}/subjects/{}/erasure", h.sub), None, Some(json!({}))),
    ]
}

/// What a caller learns from an answer: status, problem type and detail, or the body.
fn observed(r: &Resp, h: &Handles) -> Value {
    if r.status.is_success() {
        let text = r.text.replace(&h.sub, "SUBJECT").replace(&h.rec, "RECORD");
        return json!({"status": r.status.as_u16(), "body": text});
    }
    json!({"status": r.status.as_u16(), "type": r.body["type"], "detail": r.body["detail"]})
}

fn unused_hex(n: usize) -> String {
    (0..n).map(|i| format!("{:x}", (i * 7 + n) % 16)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_subjects_answer_like_subjects_that_never_existed() {
    let Setup { _tmp, s, op, admin, dpo, writer, .. } = setup("1d").await;
    let op = op.as_str();

    // The subject to lock: an external id, a record, a file, a disclosure.
    let r = s
        .call(
            Method::POST,
            "/v1/tenants/demo/subjects",
            Some(&writer),
            None,
            Some(json!({"external_id": {"kind": "student-number", "value": "S-2026-0042"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let sub = r.body["id"].as_str().unwrap().to_owned();
    let body = json!({"subject": sub, "fields": {"name": "Locked Person", "email": EMAIL, "review": "ok", "grade": 4}});
    let r = s.call(Method::POST, "/v1/tenants/demo/collections/courses/records", Some(&writer), None, Some(body)).await;
    let rec = r.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/tenants/demo/files?kind=attachment&subject={sub}");
    let (st, f) = upload(&s, &writer, &path, "text/csv", b"name,grade\nLocked Person,4\n".to_vec()).await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    let file = f["id"].as_str().unwrap().to_owned();
    let r = s
        .call(
            Method::POST,
            "/v1/tenants/demo/recipients",
            Some(&admin),
            None,
            Some(json!({"name": "Course provider", "webhook_url": "http://127.0.0.1:9/hook"})),
        )
        .await;
    let (rcp, rcp_key) = (r.body["id"].as_str().unwrap().to_owned(), r.body["api_key"].as_str().unwrap().to_owned());
    let r = s
        .call(
            Method::POST,
            &format!("/v1/tenants/demo/subjects/{sub}/disclosures"),
            Some(&writer),
            None,
            Some(json!({"recipient": rcp, "collection": "courses", "fields": ["grade"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Another live subject, so lists are not empty.
    subject_with_record(&s, &writer, "Live Person", "live@skole.example").await;

    let r = s
        .call(Method::POST, &format!("/v1/tenants/demo/subjects/{sub}/erasure"), Some(&dpo), None, Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);

    let locked = Handles { sub: sub.clone(), rec: rec.clone(), file, email: EMAIL.into(), ext: "S-2026-0042".into() };
    let never = Handles {
        sub: format!("sub_{}", unused_hex(32)),
        rec: format!("rec_{}", unused_hex(32)),
        file: format!("fil_{}", unused_hex(32)),
        email: "nobody@skole.example".into(),
        ext: "S-1999-0000".into(),
    };

    let mut principals =
        vec![("admin", admin.clone()), ("recipient", rcp_key.clone()), ("service-writer", writer.clone())];
    for role in ["service-reader", "author", "grader", "support", "auditor"] {
        principals.push((role, key(&s, op, role).await));
    }
    let mut checked = 0;
    for (who, token) in &principals {
        for ((label, m, path, purpose, body), (_, m2, path2, purpose2, body2)) in
            endpoints(&locked).into_iter().zip(endpoints(&never))
        {
            let a = s.call(m, &path, Some(token), purpose, body).await;
            let b = s.call(m2, &path2, Some(token), purpose2, body2).await;
            assert_eq!(observed(&a, &locked), observed(&b, &never), "{who} on {label}: the locked subject shows");
            assert!(!a.status.is_server_error(), "{who} on {label}: {}", a.text);
            checked += 1;
        }
        // Lists that do not name the subject leave it out.
        let r = s
            .call(Method::GET, "/v1/tenants/demo/collections/courses/records", Some(token), Some("support"), None)
            .await;
        assert!(!r.text.contains(&sub) && !r.text.contains(&rec), "{who}: list shows the locked subject");
        let r = s.call(Method::GET, "/v1/tenants/demo/recipient/disclosures", Some(token), None, None).await;
        assert!(!r.text.contains(&sub), "{who}: recipient list shows the locked subject");
    }
    assert_eq!(checked, principals.len() * endpoints(&locked).len());

    // The DPO still sees it, marked locked.
    let r = s.call(Method::GET, &format!("/v1/tenants/demo/subjects/{sub}"), Some(&dpo), None, None).await;
    assert_eq!((r.status, r.body["state"].as_str()), (StatusCode::OK, Some("locked")));
    let r = s
        .call(
            Method::GET,
            &format!("/v1/tenants/demo/collections/courses/records/{rec}"),
            Some(&dpo),
            Some("support"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r =
        s.call(Method::GET, &format!("/v1/tenants/demo/subjects/{sub}/export"), Some(&dpo), Some("dsr"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = s
        .call(
            Method::POST,
            "/v1/tenants/demo/subjects/lookup",
            Some(&dpo),
            None,
            Some(json!({"kind": "student-number", "value": "S-2026-0042"})),
        )
        .await;
    assert_eq!(r.body["id"].as_str(), Some(sub.as_str()));
}
