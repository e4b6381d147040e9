//! The role matrix: every built-in role (as a signed-in staff user, and the service
//! roles also as API keys) against every tenant endpoint listed in docs/auth.md; each
//! request must be allowed exactly when the documented tables say so. Denied means
//! `403 forbidden`; allowed means authorisation passed (the answer may still be 404 for
//! the made-up ids used to keep destructive calls harmless, or 201/200/204).

use crate::staff::{create_user, enrol, session, tenant_of};
use crate::support::{demo, people_schema, put_people, record, subject};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// Permission -> the roles holding it.
type Holders = HashMap<String, HashSet<String>>;
/// (method, path, permission).
type Endpoint = (String, String, String);

/// The two tables of docs/auth.md.
fn documented() -> (Holders, Vec<Endpoint>) {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/auth.md")).unwrap();
    let mut perms = HashMap::new();
    let mut endpoints = Vec::new();
    let mut roles: Vec<String> = Vec::new();
    let mut table = "";
    for line in doc.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if !line.starts_with('|') {
            table = "";
            continue;
        }
        if cells[0] == "permission" && cells.len() > 2 {
            table = "perms";
            roles = cells[1..].iter().map(|s| s.to_string()).collect();
            continue;
        }
        if cells == ["method", "path", "permission"] {
            table = "endpoints";
            continue;
        }
        if cells[0].starts_with("---") {
            continue;
        }
        match table {
            "perms" => {
                let holders =
                    roles.iter().zip(&cells[1..]).filter(|(_, c)| **c == "✓").map(|(r, _)| r.clone()).collect();
                perms.insert(cells[0].to_owned(), holders);
            }
            "endpoints" => endpoints.push((cells[0].to_owned(), cells[1].to_owned(), cells[2].to_owned())),
            _ => {}
        }
    }
    assert_eq!(perms.len(), 13, "every permission documented");
    assert!(endpoints.len() >= 50, "the endpoint table");
    (perms, endpoints)
}

#[tokio::test]
async fn every_role_on_every_endpoint_matches_the_documented_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let admin_key = creds["api_key"].as_str().unwrap();
    let t = tenant_of(&creds).to_owned();
    put_people(&s, admin_key, &t).await;
    let subj = subject(&s, admin_key, &t).await;
    let rec = record(&s, admin_key, &t, Some(&subj), json!({"email": "a@example.no", "score": 1})).await;
    let (perms, endpoints) = documented();

    let roles = ["admin", "dpo", "author", "grader", "support", "auditor", "service-writer", "service-reader"];
    let mut principals: Vec<(String, String)> = Vec::new();
    for role in roles {
        let name = format!("matrix.{role}");
        create_user(&s, op, Some(&t), &name, &[role]).await;
        let tok = session(&s, Some(&t), &name).await;
        if matches!(role, "admin" | "dpo") {
            enrol(&s, &tok).await;
        }
        principals.push((role.to_owned(), tok));
    }
    for role in ["service-writer", "service-reader"] {
        principals.push((role.to_owned(), crate::support::key(&s, op, &t, role).await));
    }

    let mut n = 0;
    let mut checked = 0;
    for (method, path, permission) in &endpoints {
        for (role, tok) in &principals {
            n += 1;
            let p = path
                .replace("{code}", &t)
                .replace("{collection}", "people")
                .replace("{record}", if method == "DELETE" { "rec_00000000000000000000000000000000" } else { &rec })
                .replace(
                    "{subject}",
                    if path.ends_with("/erasure") { "sub_ffffffffffffffffffffffffffffffff" } else { &subj },
                )
                .replace("{request}", "dsr_ffffffffffffffff")
                .replace("{recipient}", "rcp_ffffffffffffffff")
                .replace("{file}", "fil_ffffffffffffffffffffffffffffffff")
                .replace("{user}", "usr_ffffffffffffffff")
                .replace("{key}", "key_ffffffffffffffff")
                .replace("{role}", if method == "PUT" { "matrix-role" } else { "no-such-role" });
            let body: Option<Value> = match (method.as_str(), path.as_str()) {
                ("PUT", p) if p.ends_with("{collection}") => Some(people_schema()),
                ("PUT", p) if p.ends_with("{role}") => Some(json!({"permissions": ["schema:read"]})),
                ("PUT", p) if p.ends_with("/oidc") => {
                    Some(json!({"issuer": "https://idp.example.org", "client_id": "c", "client_secret": "s"}))
                }
                ("POST", p) if p.ends_with("/records") => {
                    Some(json!({"subject": subj, "fields": {"email": "b@example.no"}}))
                }
                ("POST", p) if p.ends_with("/search") => Some(json!({"field": "email", "equals": "a@example.no"})),
                ("POST", p) if p.ends_with("/api-keys") => Some(json!({"name": "m", "role": "service-reader"})),
                ("POST", p) if p.ends_with("/rotate") && p.contains("api-keys") => Some(json!({})),
                ("POST", p) if p.ends_with("/users") => {
                    Some(json!({"username": format!("new.{n}"), "password": crate::staff::PASSWORD}))
                }
                ("POST", "/v1/tenants") => Some(json!({"code": format!("new{n}"), "name": "x"})),
                ("POST", p)
                    if p.ends_with("/subjects")
                        || p.ends_with("/confirm")
                        || p.ends_with("/erasure")
                        || p.ends_with("/backups")
                        || p.ends_with("/restore-drills") =>
                {
                    Some(json!({}))
                }
                ("POST", p) if p.ends_with("/lookup") => Some(json!({"kind": "student-number", "value": "x"})),
                ("PUT", p) if p.ends_with("/privacy") => Some(json!({"grace_days": 30})),
                ("POST", p) if p.ends_with("/recipients") => {
                    Some(json!({"name": "m", "webhook_url": "https://provider.example/hook"}))
                }
                ("POST", p) if p.ends_with("/disclosures") => {
                    Some(json!({"recipient": "rcp_ffffffffffffffff", "collection": "people", "fields": ["email"]}))
                }
                ("POST", p) if p.ends_with("/files") => Some(json!({"a": 1})),
                ("PATCH", p) if p.ends_with("{record}") => Some(json!({"fields": {"score": 2}})),
                ("PATCH", p) if p.ends_with("{user}") => Some(json!({"disabled": false})),
                _ => None,
            };
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let purpose = if p.ends_with("/export") { "dsr" } else { "grading" };
            let r = s.call(m, &p, Some(tok), Some(purpose), body).await;
            let allowed =
                !matches!(permission.as_str(), "operator" | "recipient") && perms[permission.as_str()].contains(role);
            assert!(r.status.as_u16() < 500, "{role} {method} {p}: {}", r.text);
            if allowed {
                assert!(
                    r.status != 403 && r.status != 401,
                    "{role} {method} {p} should be allowed ({permission}): {}",
                    r.text
                );
            } else {
                assert_eq!(r.status, 403, "{role} {method} {p} should be denied ({permission}): {}", r.text);
                assert_eq!(r.body["type"], "urn:custos:problem:forbidden", "{role} {method} {p}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, endpoints.len() * principals.len());
}

#[tokio::test]
async fn a_custom_role_grants_exactly_its_permissions_and_deleting_it_takes_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let op = creds["operator_token"].as_str().unwrap();
    let t = tenant_of(&creds).to_owned();
    let r = s
        .call(
            Method::PUT,
            &format!("/v1/tenants/{t}/roles/exam-board"),
            Some(op),
            None,
            Some(json!({"permissions": ["schema:read", "audit:read"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let builtin = s
        .call(Method::PUT, &format!("/v1/tenants/{t}/roles/admin"), Some(op), None, Some(json!({"permissions": []})))
        .await;
    assert_eq!(builtin.status, 409, "built-in roles cannot be redefined");
    // A user with no role can do nothing.
    create_user(&s, op, Some(&t), "no.role", &[]).await;
    let none = session(&s, Some(&t), "no.role").await;
    let schema = format!("/v1/tenants/{t}/collections/candidates");
    assert_eq!(s.call(Method::GET, &schema, Some(&none), None, None).await.status, 403);

    create_user(&s, op, Some(&t), "board.member", &["exam-board"]).await;
    let tok = session(&s, Some(&t), "board.member").await;
    assert_eq!(s.call(Method::GET, &schema, Some(&tok), None, None).await.status, 200);
    assert_eq!(s.call(Method::GET, &format!("/v1/tenants/{t}/audit"), Some(&tok), None, None).await.status, 200);
    let list = s
        .call(
            Method::GET,
            &format!("/v1/tenants/{t}/collections/candidates/records"),
            Some(&tok),
            Some("grading"),
            None,
        )
        .await;
    assert_eq!(list.status, 403);
    let del = s.call(Method::DELETE, &format!("/v1/tenants/{t}/roles/exam-board"), Some(op), None, None).await;
    assert_eq!(del.status, 204);
    assert_eq!(s.call(Method::GET, &schema, Some(&tok), None, None).await.status, 403, "taken back at once");
}
