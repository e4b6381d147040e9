//! `custos demo`: a development data directory that unseals itself, a demo tenant with
//! `candidates` and `responses` collections, synthetic people, and credentials written
//! to `demo-credentials.json` for scripts. A second run reuses everything.

use crate::{config, datadir};
use anyhow::{Context, Result, bail};
use custos_core::Vault;
use custos_core::audit::RequestMeta;
use custos_core::ids::{CollectionName, TenantCode};
use custos_core::policy::RoleName;
use custos_core::schema::CollectionSchema;
use custos_core::service::Caller;
use custos_core::service::{InitParams, Mode, NewApiKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;

const TENANT: &str = "demo";

/// The credentials file.
#[derive(Debug, Serialize, Deserialize)]
struct Credentials {
    url: String,
    ca_cert: String,
    operator_token: String,
    tenant: String,
    api_key: String,
}

fn candidates_schema() -> Result<CollectionSchema> {
    Ok(serde_json::from_value(json!({
        "fields": {
            "given_name": {"type": "string", "pii": true},
            "family_name": {"type": "string", "pii": true},
            "email": {"type": "email", "pii": true, "searchable": true, "required": true},
            "student_number": {"type": "string", "pii": true, "searchable": true},
            "birth_date": {"type": "date", "pii": true},
            "school": {"type": "string"},
            "accommodations": {"type": "json", "pii": true}
        },
        "purposes": ["grading", "support", "dsr"]
    }))?)
}

fn responses_schema() -> Result<CollectionSchema> {
    Ok(serde_json::from_value(json!({
        "fields": {
            "exam": {"type": "string", "required": true, "searchable": true},
            "question": {"type": "integer", "required": true},
            "answer": {"type": "string", "pii": true},
            "score": {"type": "number"},
            "passed": {"type": "boolean"},
            "submitted_on": {"type": "date"}
        },
        "purposes": ["grading", "analytics", "dsr"]
    }))?)
}

const GIVEN: [&str; 12] =
    ["Ingrid", "Ola", "Aisha", "Lars", "Sofia", "Mateo", "Yuki", "Emil", "Nora", "Tariq", "Liv", "Jonas"];
const FAMILY: [&str; 12] =
    ["Berg", "Haugen", "Rahman", "Lund", "Moreau", "Silva", "Tanaka", "Dahl", "Bakke", "Aziz", "Strand", "Eide"];
const SCHOOLS: [&str; 3] = ["Fjellvik upper secondary", "Nordlys school", "Havbris college"];

/// Seed synthetic people (only when the candidates collection is empty).
async fn seed_people(vault: &Vault, admin: &Caller, code: &TenantCode) -> Result<()> {
    let candidates = CollectionName::parse("candidates")?;
    let responses = CollectionName::parse("responses")?;
    let purpose = custos_core::ids::Purpose::parse("grading")?;
    let existing = vault
        .list_records(
            admin,
            code,
            &candidates,
            None,
            custos_core::service::PageRequest { cursor: None, limit: Some(1) },
            Some(&purpose),
        )
        .await?;
    if !existing.records.is_empty() {
        return Ok(());
    }
    for (i, (given, family)) in GIVEN.iter().zip(FAMILY.iter()).enumerate() {
        let subject = vault.create_subject(admin, code).await?;
        let email = format!("{}.{}@example.org", given.to_lowercase(), family.to_lowercase());
        let fields = json!({
            "given_name": given, "family_name": family, "email": email,
            "student_number": format!("S{:06}", 100_000 + i * 7919 % 900_000),
            "birth_date": format!("20{:02}-{:02}-{:02}", 5 + i % 4, 1 + i % 12, 1 + (i * 3) % 28),
            "school": SCHOOLS[i % SCHOOLS.len()],
        });
        let fields = fields.as_object().cloned().unwrap_or_default();
        vault.create_record(admin, code, &candidates, Some(subject.clone()), fields).await?;
        for q in 1..=2 {
            let answer = json!({
                "exam": "maths-2026-spring", "question": q,
                "answer": format!("Worked answer {q} of candidate {}", i + 1),
                "score": ((i * 13 + q * 7) % 10) as f64 / 2.0, "passed": (i + q) % 3 != 0,
                "submitted_on": "2026-05-12",
            });
            vault
                .create_record(
                    admin,
                    code,
                    &responses,
                    Some(subject.clone()),
                    answer.as_object().cloned().unwrap_or_default(),
                )
                .await?;
        }
    }
    Ok(())
}

/// `custos demo`
pub async fn run(dir: &Path, listen: Option<SocketAddr>) -> Result<()> {
    let default_listen: SocketAddr = "127.0.0.1:8443".parse()?;
    let mut operator_token = None;
    if !dir.join(config::FILE).exists() {
        let params = InitParams { shares: 1, threshold: 1, mode: Mode::Development };
        let out = super::init::initialize(
            dir,
            params,
            listen.unwrap_or(default_listen),
            &super::init::ZoneArgs { zone: "default".into(), ..Default::default() },
        )
        .await?;
        let share = out.shares.first().context("init produced no share")?;
        datadir::write_secret(&datadir::dev_share(dir), share.expose().as_bytes())?;
        operator_token = Some(out.operator_token.expose().clone());
    }
    let cfg = config::load(dir, &config::EnvOverrides::from_env(), listen, false)?;
    let vault = super::open_vault(&cfg).await?;
    vault.set_node_id(&datadir::node_id(dir)?);
    if vault.mode().await? != Some(Mode::Development) {
        bail!("{} was initialised for production; the demo refuses to run on it", dir.display());
    }
    super::serve::dev_unseal(&vault, dir).await?;

    let creds_path = datadir::demo_credentials(dir);
    let previous: Option<Credentials> = std::fs::read(&creds_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let local = RequestMeta { request_id: "demo-setup".into(), client: None };
    let operator_token = match (operator_token, &previous) {
        (Some(t), _) => t,
        (None, Some(p)) => p.operator_token.clone(),
        (None, None) => bail!("{} has no demo credentials; remove the directory and run the demo again", dir.display()),
    };
    let operator =
        vault.authenticate(&operator_token, &local).await.context("the demo operator token is no longer valid")?;
    let code = TenantCode::parse(TENANT)?;
    if vault.store().get_tenant(&code).await?.is_none() {
        vault.create_tenant(&operator, code.clone(), "Demo Academy").await?;
    }
    let api_key = match &previous {
        Some(p) if vault.authenticate(&p.api_key, &local).await.is_ok() => p.api_key.clone(),
        _ => {
            let k = vault
                .create_api_key(
                    &operator,
                    &code,
                    NewApiKey {
                        name: "demo-admin".into(),
                        role: RoleName::parse("admin")?,
                        expires_in_days: Some(365),
                    },
                )
                .await?;
            k.key.expose().clone()
        }
    };
    let admin = vault.authenticate(&api_key, &local).await?;
    vault.put_collection(&admin, &code, &CollectionName::parse("candidates")?, candidates_schema()?).await?;
    vault.put_collection(&admin, &code, &CollectionName::parse("responses")?, responses_schema()?).await?;
    seed_people(&vault, &admin, &code).await?;

    let exporters = custos_server::export::spawn(vault.clone(), cfg.exporters.clone());
    let _alerts = cfg.alerts.clone().map(|a| custos_server::alerts::spawn(vault.clone(), a, exporters.clone()));
    let running = super::serve::start(vault.clone(), &cfg, exporters)?;
    let _jobs = super::serve::spawn_jobs(&vault, &cfg)?;
    let url = super::serve::url(running.addr, true);
    let ca = std::fs::canonicalize(datadir::tls_dir(dir).join("ca.pem"))?;
    let creds = Credentials {
        url: url.clone(),
        ca_cert: ca.display().to_string(),
        operator_token,
        tenant: TENANT.into(),
        api_key,
    };
    datadir::write_secret(&creds_path, serde_json::to_string_pretty(&creds)?.as_bytes())?;
    let fp = custos_server::tls::fingerprint(&cfg.tls_cert)?;
    println!("custos: listening on {url}");
    println!();
    println!("Custos demo is running (development mode, synthetic data only).");
    println!("  URL              {url}");
    println!("  CA certificate   {}", creds.ca_cert);
    println!("  TLS fingerprint  SHA256 {fp}");
    println!("  tenant           {TENANT}");
    println!("  admin API key    {}", creds.api_key);
    println!("  operator token   {}", creds.operator_token);
    println!("  credentials      {}", std::fs::canonicalize(&creds_path)?.display());
    println!();
    println!("Try: curl --cacert {} -H \"Authorization: Bearer $KEY\" {url}/v1/sys/health", creds.ca_cert);
    super::shutdown_signal().await;
    running.shutdown(std::time::Duration::from_secs(10)).await;
    vault.seal_now();
    Ok(())
}
