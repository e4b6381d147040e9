//! The plaintext floor for benchmarks only: the same HTTP and TLS stack, the same
//! store, schema and group commit, but no authentication, no crypto and no purpose
//! check. Comparing it with the real API shows what the security layers cost. It is
//! served only by `custos bench`, never by `custos serve`.

use crate::extract::{ApiJson, ApiPath};
use crate::problem::Problem;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use custos_core::clock::{Clock, SystemClock};
use custos_core::ids::{CollectionName, FieldName, Pseudonym, RecordId, TenantCode, ZoneName};
use custos_core::schema::CollectionSchema;
use custos_core::store::{
    CollectionRow, FieldKey, FieldRow, IndexRow, RecordMeta, Store, SubjectRow, TenantKeyRow, TenantRow, WriteOp,
};
use custos_crypto::Sealed;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Clone)]
struct Floor {
    store: Arc<dyn Store>,
    schema: Arc<CollectionSchema>,
}

const TENANT: &str = "floor";
const COLLECTION: &str = "candidates";

/// Frame plaintext as the store's ciphertext type without encrypting it.
fn frame(plain: &[u8]) -> Result<Sealed, Problem> {
    let mut b = Vec::with_capacity(plain.len() + 29);
    b.push(1);
    b.extend_from_slice(&[0; 12]);
    b.extend_from_slice(plain);
    b.extend_from_slice(&[0; 16]);
    Sealed::from_bytes(b).map_err(|_| Problem::internal())
}

fn p<T>(r: Result<T, custos_core::CoreError>) -> Result<T, Problem> {
    r.map_err(Problem::from)
}

/// Prepare the floor's tenant, collection and `subjects` subjects in `store`, and return
/// the floor router and the subject pseudonyms.
pub async fn setup(
    store: Arc<dyn Store>,
    schema: CollectionSchema,
    subjects: usize,
) -> Result<(Router, Vec<String>), Problem> {
    let now = SystemClock.now();
    let code = p(TenantCode::parse(TENANT))?;
    let mut ops = vec![
        WriteOp::InsertTenant(TenantRow {
            code: code.clone(),
            name: "floor".into(),
            zone: p(ZoneName::parse("default"))?,
            key_version: 1,
            created_at: now,
        }),
        WriteOp::InsertTenantKey(TenantKeyRow {
            tenant: code.clone(),
            version: 1,
            wrapped: frame(b"-")?,
            created_at: now,
        }),
        WriteOp::PutCollection(CollectionRow {
            tenant: code.clone(),
            name: p(CollectionName::parse(COLLECTION))?,
            schema_json: serde_json::to_string(&schema).map_err(|_| Problem::internal())?,
            created_at: now,
            updated_at: now,
        }),
    ];
    let mut ids = Vec::with_capacity(subjects);
    for _ in 0..subjects {
        let s = p(Pseudonym::generate())?;
        ids.push(s.to_string());
        ops.push(WriteOp::InsertSubject(SubjectRow {
            tenant: code.clone(),
            pseudonym: s,
            key_version: 1,
            wrapped_key: frame(b"-")?,
            created_at: now,
            state: custos_core::store::SubjectState::Active,
        }));
    }
    store.apply(ops).await.map_err(|e| Problem::from(custos_core::CoreError::from(e)))?;
    let state = Floor { store, schema: Arc::new(schema) };
    let router = Router::new()
        .route("/floor/records", post(create))
        .route("/floor/records/{id}", get(read))
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20));
    Ok((router, ids))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    subject: Option<String>,
    fields: Map<String, Value>,
}

async fn create(
    State(f): State<Floor>,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let values = p(f.schema.validate_new(body.fields))?;
    let now = SystemClock.now();
    let meta = RecordMeta {
        tenant: p(TenantCode::parse(TENANT))?,
        collection: p(CollectionName::parse(COLLECTION))?,
        id: p(RecordId::generate(now))?,
        subject: body.subject.as_deref().map(Pseudonym::parse).transpose().map_err(Problem::from)?,
        version: 1,
        created_at: now,
        updated_at: now,
        hidden: false,
        purposes: None,
    };
    let mut fields = Vec::new();
    let mut index = Vec::new();
    for v in &values {
        let Some(value) = &v.value else { continue };
        let plain = serde_json::to_vec(value).map_err(|_| Problem::internal())?;
        if v.spec.searchable {
            let mut mac = [0u8; 32];
            let n = plain.len().min(32);
            mac[..n].copy_from_slice(&plain[..n]);
            index.push(IndexRow { field: v.name.clone(), version: 1, mac });
        }
        fields.push(FieldRow { field: v.name.clone(), key: FieldKey::Tenant(1), ct: frame(&plain)? });
    }
    let id = meta.id.to_string();
    f.store
        .apply(vec![WriteOp::InsertRecord { meta, fields, index }])
        .await
        .map_err(|e| Problem::from(custos_core::CoreError::from(e)))?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "version": 1}))))
}

async fn read(State(f): State<Floor>, ApiPath(id): ApiPath<String>) -> Result<Json<Value>, Problem> {
    let id = p(RecordId::parse(&id))?;
    let row = f
        .store
        .get_record(&p(TenantCode::parse(TENANT))?, &p(CollectionName::parse(COLLECTION))?, &id)
        .await
        .map_err(|e| Problem::from(custos_core::CoreError::from(e)))?
        .ok_or_else(|| Problem::not_found("record not found"))?;
    let mut fields = Map::new();
    for fr in row.fields {
        let b = fr.ct.as_bytes();
        let plain = b.get(13..b.len().saturating_sub(16)).unwrap_or_default();
        let v: Value = serde_json::from_slice(plain).map_err(|_| Problem::internal())?;
        fields.insert(FieldName::as_str(&fr.field).to_owned(), v);
    }
    Ok(Json(json!({
        "id": row.meta.id, "subject": row.meta.subject, "fields": fields, "version": row.meta.version,
        "created_at": row.meta.created_at.to_rfc3339(), "updated_at": row.meta.updated_at.to_rfc3339()
    })))
}
