//! Sealing: a production server starts sealed, refuses data with 503, unseals with any K
//! of its N shares, stays sealed with K-1, refuses another init's shares, and seals again
//! on request.

use crate::support::*;
use reqwest::Method;
use serde_json::json;

fn serve(dir: &std::path::Path) -> Server {
    spawn(&["serve", "--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"], dir)
}

#[tokio::test]
async fn sealed_until_k_of_n_shares() {
    let dir = tempfile::tempdir().unwrap();
    let prod = dir.path().join("prod");
    let init_out = init(&prod, 5, 3);
    let shares: Vec<String> =
        init_out["shares"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    assert_eq!(shares.len(), 5);
    assert_eq!(init_out["threshold"], json!(3));
    let op = init_out["operator_token"].as_str().unwrap().to_owned();
    let other = init(&dir.path().join("other"), 5, 3);
    let foreign = other["shares"][0].as_str().unwrap().to_owned();

    let s = serve(&prod);
    let h = s.call(Method::GET, "/v1/sys/health", None, None, None).await;
    assert_eq!(h.body["sealed"], json!(true));
    assert_eq!(h.body["ready"], json!(false));
    assert!(h.body["version"].is_string());
    for (m, path) in [
        (Method::POST, "/v1/tenants"),
        (Method::GET, "/v1/tenants/uio"),
        (Method::GET, "/v1/tenants/uio/collections/people/records"),
        (Method::POST, "/v1/tenants/uio/subjects"),
    ] {
        let r = s.call(m, path, Some(&op), Some("grading"), Some(json!({"code": "uio", "name": "x"}))).await;
        assert_problem(&r, 503, "sealed");
    }

    let unseal = |share: String| {
        let s = &s;
        async move { s.call(Method::POST, "/v1/sys/unseal", None, None, Some(json!({"share": share}))).await }
    };
    let r = unseal(foreign.clone()).await;
    assert_problem(&r, 400, "unseal-failed");
    let r = unseal("cs1.nonsense".into()).await;
    assert_problem(&r, 400, "unseal-failed");

    // every 3-of-5 combination unseals; 2 do not
    let mut combos = Vec::new();
    for a in 0..5 {
        for b in a + 1..5 {
            for c in b + 1..5 {
                combos.push([a, b, c]);
            }
        }
    }
    assert_eq!(combos.len(), 10);
    for (n, combo) in combos.iter().enumerate() {
        let r = unseal(shares[combo[0]].clone()).await;
        assert_eq!(r.body, json!({"sealed": true, "progress": 1, "threshold": 3}));
        // the same share again does not count twice
        let r = unseal(shares[combo[0]].clone()).await;
        assert_eq!(r.body["progress"], json!(1));
        let r = unseal(shares[combo[1]].clone()).await;
        assert_eq!(r.body, json!({"sealed": true, "progress": 2, "threshold": 3}));
        assert_eq!(
            s.call(Method::GET, "/v1/sys/health", None, None, None).await.body["sealed"],
            json!(true),
            "K-1 shares leave it sealed"
        );
        let r = unseal(shares[combo[2]].clone()).await;
        assert_eq!(r.body["sealed"], json!(false), "{combo:?}: {}", r.text);
        if n == 0 {
            let r =
                s.call(Method::POST, "/v1/tenants", Some(&op), None, Some(json!({"code": "uio", "name": "UiO"}))).await;
            assert_eq!(r.status, 201, "{}", r.text);
            assert_eq!(r.body, json!({"code": "uio", "zone": "default", "key_version": 1}));
        } else {
            let r = s.call(Method::GET, "/v1/tenants/uio", Some(&op), None, None).await;
            assert_eq!(r.status, 200, "data readable after unseal with {combo:?}");
        }
        let r = s.call(Method::POST, "/v1/sys/seal", Some(&op), None, None).await;
        assert_eq!(r.status, 204);
        let r = s.call(Method::GET, "/v1/tenants/uio", Some(&op), None, None).await;
        assert_problem(&r, 503, "sealed");
    }

    // a foreign share among real ones: refused, progress kept clean
    unseal(shares[0].clone()).await;
    let r = unseal(foreign).await;
    assert_problem(&r, 400, "unseal-failed");
    unseal(shares[1].clone()).await;
    let r = unseal(shares[2].clone()).await;
    assert_eq!(r.body["sealed"], json!(false));
}

#[tokio::test]
async fn seal_needs_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let (s, creds) = demo(dir.path());
    let r = s.call(Method::POST, "/v1/sys/seal", Some(creds["api_key"].as_str().unwrap()), None, None).await;
    assert_problem(&r, 403, "forbidden");
    let r = s.call(Method::POST, "/v1/sys/seal", None, None, None).await;
    assert_problem(&r, 401, "unauthenticated");
    assert_eq!(s.call(Method::GET, "/v1/sys/health", None, None, None).await.body["sealed"], json!(false));
}

#[tokio::test]
async fn unseal_command_reads_shares_from_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let prod = dir.path().join("prod");
    let out = init(&prod, 3, 2);
    let s = serve(&prod);
    // point the config at the bound port
    let cfg = std::fs::read_to_string(prod.join("custos.toml")).unwrap();
    let port = s.url.rsplit(':').next().unwrap().to_owned();
    std::fs::write(prod.join("custos.toml"), cfg.replace("127.0.0.1:8443", &format!("127.0.0.1:{port}"))).unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["unseal", "--data-dir", prod.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!("{}\n{}\n", out["shares"][2].as_str().unwrap(), out["shares"][0].as_str().unwrap());
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let res = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(res.status.success(), "{stdout} {}", String::from_utf8_lossy(&res.stderr));
    assert!(stdout.contains("progress 1/2") && stdout.contains("unsealed"), "{stdout}");
    assert_eq!(s.call(Method::GET, "/v1/sys/health", None, None, None).await.body["sealed"], json!(false));
}
