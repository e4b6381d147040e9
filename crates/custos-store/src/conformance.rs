//! The store conformance suite: behaviour every `Store` backend must show, written
//! against the trait only. Each backend's tests call `run_all` on a fresh, empty store.

use custos_core::clock::Timestamp;
use custos_core::ids::{ApiKeyId, CollectionName, FieldName, Pseudonym, RecordId, TenantCode, ZoneName};
use custos_core::policy::RoleName;
use custos_core::store::{
    ApiKeyRow, CollectionRow, FieldKey, FieldRow, IndexRow, RecordFilter, RecordMeta, Store, StoreError, SubjectRow,
    SubjectState, TenantKeyRow, TenantRow, Visibility, WriteOp,
};
use custos_crypto::{Sealed, TokenHash};
use std::sync::Arc;

pub use crate::conformance_nodes::run_two_nodes;

pub(crate) type R = Result<(), String>;

pub(crate) fn ct(tag: u8) -> Sealed {
    // A well-framed ciphertext: the store only checks framing.
    let mut b = vec![1u8];
    b.extend_from_slice(&[tag; 40]);
    Sealed::from_bytes(b).unwrap_or_else(|_| unreachable!("fixed framing"))
}

pub(crate) fn code(s: &str) -> TenantCode {
    TenantCode::parse(s).unwrap_or_else(|_| unreachable!("fixture code"))
}

fn name<T>(f: fn(&str) -> Result<T, custos_core::CoreError>, s: &str) -> T {
    f(s).unwrap_or_else(|_| unreachable!("fixture name"))
}

pub(crate) fn tenant_ops(c: &str) -> Vec<WriteOp> {
    vec![
        WriteOp::InsertTenant(TenantRow {
            code: code(c),
            name: "T".into(),
            zone: name(ZoneName::parse, "default"),
            key_version: 1,
            created_at: Timestamp(1),
        }),
        WriteOp::InsertTenantKey(TenantKeyRow {
            tenant: code(c),
            version: 1,
            wrapped: ct(9),
            created_at: Timestamp(1),
        }),
        WriteOp::PutCollection(CollectionRow {
            tenant: code(c),
            name: name(CollectionName::parse, "people"),
            schema_json: "{}".into(),
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
        }),
    ]
}

fn record_op(t: &str, id: &RecordId, subject: Option<&Pseudonym>, mac: [u8; 32]) -> WriteOp {
    WriteOp::InsertRecord {
        meta: RecordMeta {
            tenant: code(t),
            collection: name(CollectionName::parse, "people"),
            id: id.clone(),
            subject: subject.cloned(),
            version: 1,
            created_at: Timestamp(5),
            updated_at: Timestamp(5),
            hidden: false,
            purposes: None,
        },
        fields: vec![
            FieldRow { field: name(FieldName::parse, "email"), key: FieldKey::Subject, ct: ct(1) },
            FieldRow { field: name(FieldName::parse, "score"), key: FieldKey::Tenant(1), ct: ct(2) },
        ],
        index: vec![IndexRow { field: name(FieldName::parse, "email"), version: 1, mac }],
    }
}

pub(crate) fn check(cond: bool, what: &str) -> R {
    if cond { Ok(()) } else { Err(what.to_owned()) }
}

/// Run every conformance check, in order, on one fresh store.
pub async fn run_all(store: Arc<dyn Store>) -> R {
    tenants_and_keys(&*store).await?;
    records_round_trip(&*store).await?;
    write_sets_are_atomic(&*store).await?;
    concurrent_writes_all_land(store.clone()).await?;
    optimistic_update(&*store).await?;
    crate::conformance_identity::run_all(store.clone()).await?;
    crate::conformance_privacy::run_all(store.clone()).await?;
    Ok(())
}

async fn tenants_and_keys(s: &dyn Store) -> R {
    s.apply(tenant_ops("alpha")).await.map_err(|e| e.to_string())?;
    let t = s.get_tenant(&code("alpha")).await.map_err(|e| e.to_string())?.ok_or("tenant missing")?;
    check(t.key_version == 1, "key version 1 after create")?;
    check(
        matches!(s.apply(tenant_ops("alpha")).await, Err(StoreError::Conflict(_))),
        "duplicate tenant is a conflict",
    )?;
    s.apply(vec![WriteOp::InsertTenantKey(TenantKeyRow {
        tenant: code("alpha"),
        version: 2,
        wrapped: ct(8),
        created_at: Timestamp(2),
    })])
    .await
    .map_err(|e| e.to_string())?;
    let t = s.get_tenant(&code("alpha")).await.map_err(|e| e.to_string())?.ok_or("tenant missing")?;
    check(t.key_version == 2, "rotation makes the new version current")?;
    check(s.get_tenant_key(&code("alpha"), 1).await.map_err(|e| e.to_string())?.is_some(), "old version kept")?;
    let hash = TokenHash::of("ck_test");
    s.apply(vec![WriteOp::InsertApiKey(ApiKeyRow {
        id: name(ApiKeyId::parse, "key_0000000000000001"),
        tenant: code("alpha"),
        name: "k".into(),
        role: RoleName::parse("reader").map_err(|e| e.to_string())?,
        hash: hash.clone(),
        created_at: Timestamp(1),
        expires_at: Timestamp(10),
        revoked_at: None,
        last_used_at: None,
    })])
    .await
    .map_err(|e| e.to_string())?;
    let k = s.api_key_by_hash(&hash).await.map_err(|e| e.to_string())?.ok_or("api key missing")?;
    check(k.role.as_str() == "reader" && k.tenant == code("alpha"), "api key round trip")?;
    check(s.api_key_by_hash(&TokenHash::of("other")).await.map_err(|e| e.to_string())?.is_none(), "unknown hash")?;
    Ok(())
}

async fn records_round_trip(s: &dyn Store) -> R {
    s.apply(tenant_ops("beta")).await.map_err(|e| e.to_string())?;
    let subj = name(Pseudonym::parse, "sub_00000000000000000000000000000001");
    s.apply(vec![WriteOp::InsertSubject(SubjectRow {
        tenant: code("beta"),
        pseudonym: subj.clone(),
        key_version: 1,
        wrapped_key: ct(3),
        created_at: Timestamp(1),
        state: SubjectState::Active,
    })])
    .await
    .map_err(|e| e.to_string())?;
    let coll = name(CollectionName::parse, "people");
    let mut ids = Vec::new();
    for i in 0..5u8 {
        let id = name(RecordId::parse, &format!("rec_{:032x}", 100 + u32::from(i)));
        let subject = if i % 2 == 0 { Some(&subj) } else { None };
        s.apply(vec![record_op("beta", &id, subject, [i; 32])]).await.map_err(|e| e.to_string())?;
        ids.push(id);
    }
    let r = s.get_record(&code("beta"), &coll, &ids[0]).await.map_err(|e| e.to_string())?.ok_or("record missing")?;
    check(
        r.fields.len() == 2 && r.fields[0].ct == ct(1) && r.meta.subject.as_ref() == Some(&subj),
        "fields round trip",
    )?;
    check(
        s.get_record(&code("alpha"), &coll, &ids[0]).await.map_err(|e| e.to_string())?.is_none(),
        "a record is not visible under another tenant",
    )?;
    let page = s
        .list_records(&code("beta"), &RecordFilter::Collection(coll.clone()), None, 2, Visibility::Live)
        .await
        .map_err(|e| e.to_string())?;
    check(page.len() == 2 && page[0].meta.id == ids[0] && page[1].meta.id == ids[1], "first page in id order")?;
    let page = s
        .list_records(&code("beta"), &RecordFilter::Collection(coll.clone()), Some(&ids[1]), 10, Visibility::Live)
        .await
        .map_err(|e| e.to_string())?;
    check(page.len() == 3 && page[0].meta.id == ids[2], "cursor continues after the last id")?;
    let by_subject = s
        .list_records(&code("beta"), &RecordFilter::Subject(coll.clone(), subj), None, 10, Visibility::Live)
        .await
        .map_err(|e| e.to_string())?;
    check(by_subject.len() == 3, "records by subject")?;
    let f = name(FieldName::parse, "email");
    let hit = s
        .list_records(
            &code("beta"),
            &RecordFilter::Index(coll.clone(), f.clone(), vec![(1, [3; 32])]),
            None,
            10,
            Visibility::Live,
        )
        .await
        .map_err(|e| e.to_string())?;
    check(hit.len() == 1 && hit[0].meta.id == ids[3], "blind index lookup")?;
    let miss = s
        .list_records(
            &code("alpha"),
            &RecordFilter::Index(coll.clone(), f, vec![(1, [3; 32])]),
            None,
            10,
            Visibility::Live,
        )
        .await
        .map_err(|e| e.to_string())?;
    check(miss.is_empty(), "blind index is per tenant")?;
    s.apply(vec![WriteOp::DeleteRecord { tenant: code("beta"), collection: coll.clone(), id: ids[4].clone() }])
        .await
        .map_err(|e| e.to_string())?;
    check(s.get_record(&code("beta"), &coll, &ids[4]).await.map_err(|e| e.to_string())?.is_none(), "deleted")?;
    check(
        matches!(
            s.apply(vec![WriteOp::DeleteRecord { tenant: code("beta"), collection: coll, id: ids[4].clone() }]).await,
            Err(StoreError::NotFound(_))
        ),
        "deleting twice is not found",
    )?;
    Ok(())
}

async fn write_sets_are_atomic(s: &dyn Store) -> R {
    let coll = name(CollectionName::parse, "people");
    let id = name(RecordId::parse, &format!("rec_{:032x}", 900));
    // The second op conflicts (tenant exists): the first must not remain.
    let mut ops = vec![record_op("beta", &id, None, [9; 32])];
    ops.extend(tenant_ops("beta"));
    check(s.apply(ops).await.is_err(), "conflicting set fails")?;
    check(
        s.get_record(&code("beta"), &coll, &id).await.map_err(|e| e.to_string())?.is_none(),
        "nothing of a failed set remains",
    )?;
    Ok(())
}

async fn concurrent_writes_all_land(s: Arc<dyn Store>) -> R {
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let id = name(RecordId::parse, &format!("rec_{:032x}", 10_000 + i));
            // Every 10th set is invalid (duplicate tenant) and must fail alone.
            let mut ops = vec![record_op("beta", &id, None, [0; 32])];
            if i % 10 == 0 {
                ops.extend(tenant_ops("beta"));
            }
            (i, s.apply(ops).await.is_ok())
        }));
    }
    let coll = name(CollectionName::parse, "people");
    for t in tasks {
        let (i, ok) = t.await.map_err(|e| e.to_string())?;
        check(ok == (i % 10 != 0), "only the invalid sets fail")?;
        let id = name(RecordId::parse, &format!("rec_{:032x}", 10_000 + i));
        let present = s.get_record(&code("beta"), &coll, &id).await.map_err(|e| e.to_string())?.is_some();
        check(present == ok, "acknowledged writes are present, failed ones absent")?;
    }
    Ok(())
}

async fn optimistic_update(s: &dyn Store) -> R {
    let coll = name(CollectionName::parse, "people");
    let id = name(RecordId::parse, &format!("rec_{:032x}", 101));
    let update = |v: i64| WriteOp::UpdateRecord {
        tenant: code("beta"),
        collection: coll.clone(),
        id: id.clone(),
        expected_version: v,
        updated_at: Timestamp(9),
        set: vec![FieldRow { field: name(FieldName::parse, "score"), key: FieldKey::Tenant(2), ct: ct(7) }],
        remove: vec![name(FieldName::parse, "email")],
        reindex: vec![name(FieldName::parse, "email")],
        index: vec![],
    };
    s.apply(vec![update(1)]).await.map_err(|e| e.to_string())?;
    check(matches!(s.apply(vec![update(1)]).await, Err(StoreError::Stale)), "stale version refused")?;
    let r = s.get_record(&code("beta"), &coll, &id).await.map_err(|e| e.to_string())?.ok_or("record missing")?;
    check(r.meta.version == 2 && r.fields.len() == 1 && r.fields[0].ct == ct(7), "update applied once")?;
    let hit = s
        .list_records(
            &code("beta"),
            &RecordFilter::Index(coll, name(FieldName::parse, "email"), vec![(1, [1; 32])]),
            None,
            10,
            Visibility::Live,
        )
        .await
        .map_err(|e| e.to_string())?;
    check(hit.is_empty(), "removed field's index entry is gone")?;
    Ok(())
}
