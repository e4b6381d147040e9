//! Export round trip (everything written about a subject is in its export, nothing about
//! anyone else), identifying fields only for re-identification with its own audit entry,
//! purpose narrowing per record, and files: streamed upload and download, the size
//! limit, and the content-type allow-list checked against the content.

use crate::privacy::{Setup, setup};
use crate::support::*;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_holds_everything_about_the_subject_and_nothing_else() {
    let Setup { _tmp, s, admin, dpo, writer, .. } = setup("1d").await;
    let admin = admin.as_str();
    let schema = json!({"fields": {"answer": {"type": "string", "pii": true}, "score": {"type": "number"}}, "purposes": ["grading", "dsr"]});
    s.call(Method::PUT, "/v1/tenants/demo/collections/answers", Some(admin), None, Some(schema)).await;

    let mut subjects = Vec::new();
    for who in ["mine", "theirs"] {
        let r = s.call(Method::POST, "/v1/tenants/demo/subjects", Some(&writer), None, Some(json!({}))).await;
        let sub = r.body["id"].as_str().unwrap().to_owned();
        let mut values = Vec::new();
        let mut records = Vec::new();
        for i in 0..3 {
            let (name, answer) = (format!("{who}-name-{i}"), format!("{who}-answer-{i}"));
            let body = json!({"subject": sub, "fields": {"name": name, "email": format!("{who}{i}@skole.example"), "review": format!("{who}-review-{i}"), "grade": i}});
            let r = s
                .call(Method::POST, "/v1/tenants/demo/collections/courses/records", Some(&writer), None, Some(body))
                .await;
            records.push(r.body["id"].as_str().unwrap().to_owned());
            let body = json!({"subject": sub, "fields": {"answer": answer, "score": 0.5 + f64::from(i)}});
            let r = s
                .call(Method::POST, "/v1/tenants/demo/collections/answers/records", Some(&writer), None, Some(body))
                .await;
            records.push(r.body["id"].as_str().unwrap().to_owned());
            values.extend([name, answer]);
        }
        let content = format!("name,score\n{who}-file-row,3\n").into_bytes();
        let (st, f) = upload(
            &s,
            &writer,
            &format!("/v1/tenants/demo/files?kind=attachment&subject={sub}"),
            "text/csv",
            content.clone(),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{f}");
        let r = s
            .call(
                Method::POST,
                "/v1/tenants/demo/recipients",
                Some(admin),
                None,
                Some(json!({"name": format!("{who} provider"), "webhook_url": "http://127.0.0.1:9/hook"})),
            )
            .await;
        let rcp = r.body["id"].as_str().unwrap().to_owned();
        let r = s
            .call(
                Method::POST,
                &format!("/v1/tenants/demo/subjects/{sub}/disclosures"),
                Some(&writer),
                None,
                Some(json!({"recipient": rcp, "collection": "answers", "fields": ["score"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        // A read, so the access history has something besides the writes.
        s.call(
            Method::GET,
            &format!("/v1/tenants/demo/collections/answers/records/{}", records[1]),
            Some(&dpo),
            Some("grading"),
            None,
        )
        .await;
        subjects.push((sub, values, records, f["id"].as_str().unwrap().to_owned(), content, rcp));
    }

    let (sub, values, records, file, content, rcp) = &subjects[0];
    let r = s.call(Method::GET, &format!("/v1/tenants/demo/subjects/{sub}/export"), Some(&dpo), None, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "purpose dsr is required: {}", r.text);
    let r = s
        .call(Method::GET, &format!("/v1/tenants/demo/subjects/{sub}/export"), Some(&dpo), Some("grading"), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "only for the dsr purpose");
    let r =
        s.call(Method::GET, &format!("/v1/tenants/demo/subjects/{sub}/export"), Some(admin), Some("dsr"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "only request handlers export");
    let r =
        s.call(Method::GET, &format!("/v1/tenants/demo/subjects/{sub}/export"), Some(&dpo), Some("dsr"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let doc = r.body;
    assert_eq!(doc["format"], "custos-export/1");
    assert_eq!(doc["subject"]["id"].as_str(), Some(sub.as_str()));
    // Every record and value written about the subject...
    let ids: Vec<&str> = doc["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), records.len());
    for id in records {
        assert!(ids.contains(&id.as_str()), "record {id} missing");
    }
    for v in values {
        assert!(r.text.contains(v.as_str()), "{v} missing from the export");
    }
    let f = &doc["files"][0];
    assert_eq!(f["id"].as_str(), Some(file.as_str()));
    assert_eq!(f["name"], "results 2026.csv");
    assert_eq!(
        base64::engine::general_purpose::STANDARD.decode(f["content_base64"].as_str().unwrap()).unwrap(),
        *content
    );
    assert_eq!(doc["disclosures"][0]["recipient"].as_str(), Some(rcp.as_str()));
    assert_eq!(doc["disclosures"][0]["fields"], json!(["score"]));
    let actions: Vec<&str> =
        doc["access_history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["subject.create", "record.create", "file.upload", "disclosure.create", "record.read"] {
        assert!(actions.contains(&a), "{a} missing from the access history: {actions:?}");
    }
    // ...and nothing about the other subject.
    let (other, other_values, other_records, other_file, _, other_rcp) = &subjects[1];
    for needle in other_values.iter().chain(other_records).chain([other, other_file, other_rcp]) {
        assert!(!r.text.contains(needle.as_str()), "{needle} of another subject is in the export");
    }
    assert!(!r.text.contains("theirs"), "another subject's data is in the export");
    // The export is a recorded request with its GDPR clock.
    let id = doc["request"]["id"].as_str().unwrap();
    let r = s.call(Method::GET, "/v1/tenants/demo/dsr-requests", Some(&dpo), None, None).await;
    let req = r.body["requests"].as_array().unwrap().iter().find(|q| q["id"] == id).cloned().unwrap();
    assert_eq!(
        (req["kind"].as_str(), req["state"].as_str(), req["overdue"].as_bool()),
        (Some("export"), Some("completed"), Some(false))
    );
    assert!(req["due_at"].as_str().unwrap() > req["received_at"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifying_fields_purpose_narrowing_and_files() {
    let Setup { _tmp, dir, s, admin, dpo, writer, .. } = setup("1d").await;
    let admin = admin.as_str();
    let r = s.call(Method::POST, "/v1/tenants/demo/subjects", Some(&writer), None, Some(json!({}))).await;
    let sub = r.body["id"].as_str().unwrap().to_owned();
    let body = json!({"subject": sub, "fields": {"name": "Nora Identifiable", "email": "nora@skole.example", "grade": 3}, "purposes": ["grading"]});
    let r = s.call(Method::POST, "/v1/tenants/demo/collections/courses/records", Some(&writer), None, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let rec = r.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/tenants/demo/collections/courses/records/{rec}");

    // Identifying fields: only with subjects:reidentify, and each such read is audited.
    let r = s.call(Method::GET, &path, Some(admin), Some("grading"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["fields"].get("name").is_none() && r.body["fields"]["email"] == "nora@skole.example");
    let r = s.call(Method::GET, &path, Some(&dpo), Some("grading"), None).await;
    assert_eq!(r.body["fields"]["name"], "Nora Identifiable");
    let r = s.call(Method::GET, "/v1/tenants/demo/audit?action=subject.reidentify", Some(admin), None, None).await;
    let entries = r.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", r.text);
    assert_eq!(entries[0]["subject"].as_str(), Some(sub.as_str()));
    assert!(!r.text.contains("Nora"), "the audit entry holds no value");

    // Purpose narrowing: the record was collected for grading only.
    let r = s.call(Method::GET, &path, Some(admin), Some("support"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.body["type"], "urn:custos:problem:purpose-not-allowed");
    let r = s
        .call(
            Method::GET,
            &format!("/v1/tenants/demo/collections/courses/records?subject={sub}"),
            Some(admin),
            Some("support"),
            None,
        )
        .await;
    assert_eq!(r.body["records"], json!([]), "left out of lists read for another purpose");
    let body = json!({"subject": sub, "fields": {"grade": 1}, "purposes": ["marketing"]});
    let r = s.call(Method::POST, "/v1/tenants/demo/collections/courses/records", Some(&writer), None, Some(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "narrowing cannot widen: {}", r.text);

    // Files: streamed round trip across many chunks, under the subject's key, larger
    // than the 1 MiB limit of JSON bodies.
    let big: Vec<u8> = (0..400_000u32).flat_map(|i| format!("{i},row\n").into_bytes()).take(1_500_000).collect();
    let (st, f) =
        upload(&s, &writer, &format!("/v1/tenants/demo/files?kind=transfer&subject={sub}"), "text/csv", big.clone())
            .await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    assert_eq!(f["size"].as_u64(), Some(big.len() as u64));
    assert!(f["expires_at"].as_str().unwrap() > f["created_at"].as_str().unwrap(), "transfer files expire");
    let id = f["id"].as_str().unwrap();
    let dl = s.http.get(format!("{}/v1/tenants/demo/files/{id}", s.url)).bearer_auth(admin).send().await.unwrap();
    assert_eq!(dl.status(), StatusCode::BAD_REQUEST, "a subject's file needs a purpose");
    let dl = s
        .http
        .get(format!("{}/v1/tenants/demo/files/{id}", s.url))
        .bearer_auth(admin)
        .header("custos-purpose", "grading")
        .send()
        .await
        .unwrap();
    assert_eq!(dl.status(), StatusCode::OK);
    assert_eq!(dl.bytes().await.unwrap().to_vec(), big);
    // Refused: over the size limit, a type not on the list, content not of its type.
    // (the declared length is refused before the body is read; the server does not wait
    // for 26 MiB it will not take)
    let r = s.declared_body("POST", "/v1/tenants/demo/files?kind=transfer", &writer, 26 << 20);
    assert_eq!(
        (r.status, r.body["type"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("urn:custos:problem:body-too-large"))
    );
    let (st, p) = upload(&s, &writer, "/v1/tenants/demo/files?kind=transfer", "text/html", b"<p>hi</p>".to_vec()).await;
    assert_eq!(
        (st, p["type"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("urn:custos:problem:unsupported-media-type"))
    );
    let (st, p) = upload(
        &s,
        &writer,
        "/v1/tenants/demo/files?kind=transfer",
        "application/pdf",
        b"MZ\x90\x00 not a pdf".to_vec(),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{p}");
    let (st, _) = upload(&s, &writer, "/v1/tenants/demo/files?kind=nonsense", "text/csv", b"a,b\n".to_vec()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let files: i64 = rusqlite::Connection::open(dir.join("zone.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM files", [], |r| r.get(0))
        .unwrap();
    assert_eq!(files, 1, "nothing half-written stays behind");
    // Delete: locked at once.
    let r = s.call(Method::DELETE, &format!("/v1/tenants/demo/files/{id}"), Some(&writer), None, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = s.call(Method::GET, &format!("/v1/tenants/demo/files/{id}/meta"), Some(admin), Some("grading"), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
