//! A two-zone deployment: zone `eu-north` on PostgreSQL, zone `ca-central` on SQLite,
//! each served by its own node with its own configuration. A tenant of one zone is
//! unreachable through every path of the other, a request for the other zone is sent
//! where that zone lives, and zone B's files hold nothing of zone A.

use crate::nodes::serve_unsealed;
use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;

fn init_zone(dir: &Path, zone: &str, region: &str, store: Option<&str>) -> Value {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["init", "--data-dir", dir.to_str().unwrap(), "--shares", "1", "--threshold", "1", "--json"]);
    cmd.args(["--zone", zone, "--region", region]);
    if let Some(s) = store {
        cmd.args(["--store", s]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn add_zone(dir: &Path, zone: &str, region: &str, url: &str) {
    let mut cfg = std::fs::read_to_string(dir.join("custos.toml")).unwrap();
    cfg.push_str(&format!("\n[zones.{zone}]\nregion = \"{region}\"\nurl = \"{url}\"\n"));
    std::fs::write(dir.join("custos.toml"), cfg).unwrap();
}

/// Every byte of every file under `dir`.
fn bytes_under(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(bytes_under(&p));
        } else {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_of_one_zone_is_unreachable_from_another_and_leaves_no_bytes_there() {
    let Some(url) = custos_store::scratch_postgres().await.unwrap() else {
        return eprintln!("no PostgreSQL server configured; skipped");
    };
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tmp.path().join("eu"), tmp.path().join("ca"));
    let ia = init_zone(&a_dir, "eu-north", "EU (Stockholm)", Some(&url));
    let ib = init_zone(&b_dir, "ca-central", "Canada (Montréal)", None);
    add_zone(&a_dir, "ca-central", "Canada (Montréal)", "https://ca.custos.example");
    add_zone(&b_dir, "eu-north", "EU (Stockholm)", "https://eu.custos.example");
    let a = serve_unsealed(&a_dir, ia["shares"][0].as_str().unwrap()).await;
    let b = serve_unsealed(&b_dir, ib["shares"][0].as_str().unwrap()).await;
    let (op_a, op_b) = (ia["operator_token"].as_str().unwrap(), ib["operator_token"].as_str().unwrap());

    // Zone A's tenant, its data and its credentials.
    let admin_a = tenant_with_admin(&a, op_a, "fjord").await;
    put_people(&a, &admin_a, "fjord").await;
    let subj_a = subject(&a, &admin_a, "fjord").await;
    let email = "astrid.zone-marker@fjord.example";
    let name = "Astrid Fjordmarker";
    let rec_a = record(&a, &admin_a, "fjord", Some(&subj_a), json!({"email": email, "name": name})).await;
    let key_id_a = a.call(Method::GET, "/v1/tenants/fjord/api-keys", Some(&admin_a), None, None).await.body["keys"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Zone B's own tenant.
    let admin_b = tenant_with_admin(&b, op_b, "maple").await;
    put_people(&b, &admin_b, "maple").await;
    let rec_b = record(&b, &admin_b, "maple", None, json!({"email": "own@maple.example", "name": "Own"})).await;

    // Zone B's files (database, WAL, everything in its data directory): its own ids are
    // there (so the scan works), nothing of zone A is.
    let hay = bytes_under(&b_dir);
    assert!(contains(&hay, "maple") && contains(&hay, &rec_b), "the scan finds zone B's own metadata");
    for needle in [email, name, "fjord", rec_a.as_str(), subj_a.as_str(), "Fjordmarker"] {
        assert!(!contains(&hay, needle), "zone B's files hold {needle:?} of zone A");
    }
    assert!(!contains(&hay, &key_id_a), "zone B's files hold zone A's key id");

    // Through zone B, as zone B's tenant, zone B's operator, or zone A's own key.
    let paths = [
        (Method::GET, "/v1/tenants/fjord".to_owned()),
        (Method::GET, format!("/v1/tenants/fjord/collections/people/records/{rec_a}")),
        (Method::GET, "/v1/tenants/fjord/collections/people/records".to_owned()),
        (Method::GET, format!("/v1/tenants/fjord/subjects/{subj_a}/records")),
        (Method::GET, "/v1/tenants/fjord/audit".to_owned()),
        (Method::GET, "/v1/tenants/fjord/api-keys".to_owned()),
        (Method::GET, format!("/v1/tenants/maple/collections/people/records/{rec_a}")),
    ];
    for (m, p) in &paths {
        for token in [admin_b.as_str(), op_b, admin_a.as_str()] {
            let r = b.call(m.clone(), p, Some(token), Some("grading"), None).await;
            assert!(
                [401, 403, 404].contains(&r.status.as_u16()),
                "zone B answered {} for {m} {p}: {}",
                r.status,
                r.text
            );
            assert!(!r.text.contains(email) && !r.text.contains(name), "zone A's data came out of zone B");
        }
    }
    let r = b
        .call(
            Method::POST,
            "/v1/tenants/fjord/collections/people/search",
            Some(&admin_b),
            Some("grading"),
            Some(json!({"field": "email", "equals": email})),
        )
        .await;
    assert!([403, 404].contains(&r.status.as_u16()), "{}", r.text);
    // A's key is unknown to B; a request for zone A is pointed to zone A.
    let r = b.call(Method::GET, "/v1/tenants/fjord", Some(&admin_a), None, None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = b
        .call(
            Method::POST,
            "/v1/tenants",
            Some(op_b),
            None,
            Some(json!({"code": "fjord2", "name": "F", "zone": "eu-north"})),
        )
        .await;
    assert_problem(&r, 421, "wrong-zone");
    assert!(r.body["detail"].as_str().unwrap().contains("https://eu.custos.example"), "{}", r.text);
    let r = b
        .call(Method::POST, "/v1/tenants", Some(op_b), None, Some(json!({"code": "x1", "name": "X", "zone": "mars"})))
        .await;
    assert_problem(&r, 421, "wrong-zone");
    // The tenant stays in its zone: A serves it, B does not know it.
    let r = a
        .call(
            Method::GET,
            &format!("/v1/tenants/fjord/collections/people/records/{rec_a}"),
            Some(&admin_a),
            Some("grading"),
            None,
        )
        .await;
    assert_eq!(r.body["fields"]["email"], email);
    assert_eq!(a.call(Method::GET, "/v1/tenants/fjord", Some(op_a), None, None).await.body["zone"], "eu-north");

    // After every probe, zone B has audited the attempts (ids as the callers typed
    // them) but holds no value of zone A.
    drop(b);
    let hay = bytes_under(&b_dir);
    for needle in [email, name, "Fjordmarker"] {
        assert!(!contains(&hay, needle), "zone B's files hold {needle:?} of zone A");
    }
    // The store of zone A is PostgreSQL: no file of its own in its data directory.
    assert!(!a_dir.join("zone.db").exists());
}
