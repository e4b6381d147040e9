//! Conformance checks for the privacy lifecycle's storage: locking hides a subject's
//! records and files from live reads and unlocking brings them back; a purge goes key
//! first, refuses to drop a subject that still has rows, and leaves nothing of it;
//! request states advance only from the expected state; notices record attempts and
//! acknowledgements; deleted and expired items come due at their time; files keep their
//! chunks in order.

use crate::conformance::{R, check, code, ct, tenant_ops};
use custos_core::clock::Timestamp;
use custos_core::ids::{CollectionName, DsrId, FieldName, FileId, Pseudonym, RecipientId, RecordId};
use custos_core::store::{
    AnonymisedRecord, DsrEvent, DsrKind, DsrRow, DsrState, FieldKey, FieldRow, FileRow, NoticeRow, PrivacyOp,
    RecipientRow, RecordFilter, RecordMeta, Store, StoreError, SubjectRow, SubjectState, Visibility, WriteOp,
};
use custos_crypto::TokenHash;
use std::sync::Arc;

fn e<T: std::fmt::Display>(x: T) -> String {
    x.to_string()
}

fn p(op: PrivacyOp) -> Vec<WriteOp> {
    vec![WriteOp::Privacy(op)]
}

fn people() -> Result<CollectionName, String> {
    CollectionName::parse("people").map_err(e)
}

fn subject_row(s: &Pseudonym) -> WriteOp {
    WriteOp::InsertSubject(SubjectRow {
        tenant: code("priv"),
        pseudonym: s.clone(),
        key_version: 1,
        wrapped_key: ct(3),
        created_at: Timestamp(1),
        state: SubjectState::Active,
    })
}

fn record(id: &RecordId, s: Option<&Pseudonym>, at: i64) -> Result<WriteOp, String> {
    Ok(WriteOp::InsertRecord {
        meta: RecordMeta {
            tenant: code("priv"),
            collection: people()?,
            id: id.clone(),
            subject: s.cloned(),
            version: 1,
            created_at: Timestamp(at),
            updated_at: Timestamp(at),
            hidden: false,
            purposes: None,
        },
        fields: vec![FieldRow { field: FieldName::parse("email").map_err(e)?, key: FieldKey::Subject, ct: ct(4) }],
        index: vec![],
    })
}

fn rid(n: u8) -> Result<RecordId, String> {
    RecordId::parse(&format!("rec_{n:032x}")).map_err(e)
}

fn sub(n: u8) -> Result<Pseudonym, String> {
    Pseudonym::parse(&format!("sub_{n:032x}")).map_err(e)
}

pub(crate) async fn run_all(s: Arc<dyn Store>) -> R {
    s.apply(tenant_ops("priv")).await.map_err(e)?;
    lock_and_purge(&*s).await?;
    requests_and_notices(&*s).await?;
    deletion_and_expiry(&*s).await?;
    Ok(())
}

async fn live(s: &dyn Store, subject: &Pseudonym, v: Visibility) -> Result<usize, String> {
    let f = RecordFilter::Subject(people()?, subject.clone());
    Ok(s.list_records(&code("priv"), &f, None, 100, v).await.map_err(e)?.len())
}

async fn lock_and_purge(s: &dyn Store) -> R {
    let t = code("priv");
    let (a, b) = (sub(1)?, sub(2)?);
    s.apply(vec![
        subject_row(&a),
        subject_row(&b),
        record(&rid(1)?, Some(&a), 5)?,
        record(&rid(2)?, Some(&a), 5)?,
        record(&rid(3)?, Some(&b), 5)?,
    ])
    .await
    .map_err(e)?;
    s.apply(p(PrivacyOp::InsertExternalId { tenant: t.clone(), mac: [7; 32], pseudonym: a.clone() }))
        .await
        .map_err(e)?;
    check(
        matches!(
            s.apply(p(PrivacyOp::InsertExternalId { tenant: t.clone(), mac: [7; 32], pseudonym: b.clone() })).await,
            Err(StoreError::Conflict(_))
        ),
        "an external id maps to one subject",
    )?;
    check(s.subject_by_external(&t, &[7; 32]).await.map_err(e)? == Some(a.clone()), "external id lookup")?;

    s.apply(p(PrivacyOp::LockSubject { tenant: t.clone(), pseudonym: a.clone() })).await.map_err(e)?;
    check(s.subject_state(&t, &a).await.map_err(e)? == Some(SubjectState::Locked), "locked")?;
    check(live(s, &a, Visibility::Live).await? == 0, "a locked subject's records are not live")?;
    check(live(s, &a, Visibility::All).await? == 2, "request handlers still see them")?;
    check(live(s, &b, Visibility::Live).await? == 1, "other subjects unaffected")?;
    check(
        matches!(
            s.apply(p(PrivacyOp::LockSubject { tenant: t.clone(), pseudonym: a.clone() })).await,
            Err(StoreError::NotFound(_))
        ),
        "locking twice is refused",
    )?;
    s.apply(p(PrivacyOp::UnlockSubject { tenant: t.clone(), pseudonym: a.clone() })).await.map_err(e)?;
    check(live(s, &a, Visibility::Live).await? == 2, "unlocking brings them back")?;
    s.apply(p(PrivacyOp::LockSubject { tenant: t.clone(), pseudonym: a.clone() })).await.map_err(e)?;

    // Keep one record under a tombstone, destroy the key, then delete the rest.
    let tomb = sub(99)?;
    let kept = AnonymisedRecord {
        id: rid(1)?,
        fields: vec![FieldRow { field: FieldName::parse("review").map_err(e)?, key: FieldKey::Tenant(1), ct: ct(5) }],
        index: vec![],
    };
    s.apply(p(PrivacyOp::AnonymiseRecords {
        tenant: t.clone(),
        pseudonym: a.clone(),
        tombstone: tomb.clone(),
        keep: vec![kept],
    }))
    .await
    .map_err(e)?;
    let r1 = s.get_record(&t, &people()?, &rid(1)?).await.map_err(e)?.ok_or("kept record")?;
    check(r1.meta.subject == Some(tomb.clone()) && !r1.meta.hidden, "kept record under the tombstone, live")?;
    check(r1.fields.len() == 1 && r1.fields[0].key == FieldKey::Tenant(1), "only the anonymised field")?;
    check(s.subject_state(&t, &tomb).await.map_err(e)? == Some(SubjectState::Tombstone), "tombstone subject")?;
    s.apply(p(PrivacyOp::DestroySubjectKey { tenant: t.clone(), pseudonym: a.clone() })).await.map_err(e)?;
    check(s.subject_state(&t, &a).await.map_err(e)? == Some(SubjectState::Purged), "purged")?;
    check(s.get_subject(&t, &a).await.map_err(e)?.is_none(), "no key to read once destroyed")?;
    check(s.get_subject(&t, &tomb).await.map_err(e)?.is_none(), "a tombstone has no key")?;
    check(
        matches!(
            s.apply(p(PrivacyOp::DeleteSubject { tenant: t.clone(), pseudonym: a.clone() })).await,
            Err(StoreError::Conflict(_))
        ),
        "a subject with records left is not dropped",
    )?;
    s.apply(p(PrivacyOp::PurgeRecords { tenant: t.clone(), ids: vec![rid(2)?] })).await.map_err(e)?;
    s.apply(p(PrivacyOp::DeleteSubject { tenant: t.clone(), pseudonym: a.clone() })).await.map_err(e)?;
    check(s.subject_state(&t, &a).await.map_err(e)?.is_none(), "subject gone")?;
    check(s.subject_by_external(&t, &[7; 32]).await.map_err(e)?.is_none(), "its external id gone")?;
    check(s.get_record(&t, &people()?, &rid(1)?).await.map_err(e)?.is_some(), "the anonymised record stays")?;
    check(s.get_record(&t, &people()?, &rid(3)?).await.map_err(e)?.is_some(), "another subject's record stays")?;
    Ok(())
}

fn dsr(id: &DsrId, subject: &Pseudonym, due: i64, purge: i64) -> DsrRow {
    DsrRow {
        id: id.clone(),
        tenant: code("priv"),
        kind: DsrKind::Erasure,
        subject: Some(subject.clone()),
        state: DsrState::Locked,
        delete_shared: false,
        reason: Some(ct(6)),
        reason_version: 1,
        received_at: Timestamp(10),
        due_at: Timestamp(due),
        purge_after: Some(Timestamp(purge)),
        closed_at: None,
        history: vec![DsrEvent { at: 10, event: "received".into(), by: "t".into() }],
    }
}

async fn requests_and_notices(s: &dyn Store) -> R {
    let t = code("priv");
    let c = sub(3)?;
    s.apply(vec![subject_row(&c)]).await.map_err(e)?;
    let rcp = RecipientId::parse("rcp_0000000000000001").map_err(e)?;
    s.apply(p(PrivacyOp::InsertRecipient(RecipientRow {
        id: rcp.clone(),
        tenant: t.clone(),
        name: "Board".into(),
        webhook_url: "https://b.example/h".into(),
        secret: ct(7),
        key_hash: TokenHash::of("ck_rcp"),
        key_expires_at: Timestamp(1_000),
        created_at: Timestamp(1),
        revoked_at: None,
    })))
    .await
    .map_err(e)?;
    check(
        s.recipient_by_hash(&TokenHash::of("ck_rcp")).await.map_err(e)?.map(|r| r.id) == Some(rcp.clone()),
        "recipient by key",
    )?;
    let id = DsrId::parse("dsr_0000000000000001").map_err(e)?;
    s.apply(p(PrivacyOp::InsertDsr(dsr(&id, &c, 100, 50)))).await.map_err(e)?;
    let notice = NoticeRow {
        request: id.clone(),
        tenant: t.clone(),
        recipient: rcp.clone(),
        attempts: 0,
        next_attempt_at: Some(Timestamp(10)),
        notified_at: None,
        acknowledged_at: None,
        last_error: None,
    };
    s.apply(p(PrivacyOp::InsertNotices(vec![notice]))).await.map_err(e)?;
    check(s.notices_due(Timestamp(9), 10).await.map_err(e)?.is_empty(), "not due before its time")?;
    check(s.notices_due(Timestamp(10), 10).await.map_err(e)?.len() == 1, "due at its time")?;
    let attempt = |delivered: bool, at: i64, next: Option<i64>| {
        p(PrivacyOp::NoticeAttempt {
            request: id.clone(),
            recipient: rcp.clone(),
            at: Timestamp(at),
            delivered,
            error: (!delivered).then(|| "connect".to_owned()),
            next_attempt_at: next.map(Timestamp),
        })
    };
    s.apply(attempt(false, 10, Some(40))).await.map_err(e)?;
    s.apply(attempt(true, 40, None)).await.map_err(e)?;
    let n = s.notices(&id).await.map_err(e)?.pop().ok_or("notice")?;
    check(n.attempts == 2 && n.notified_at == Some(Timestamp(40)) && n.next_attempt_at.is_none(), "attempts recorded")?;
    s.apply(p(PrivacyOp::AcknowledgeNotice { request: id.clone(), recipient: rcp.clone(), at: Timestamp(45) }))
        .await
        .map_err(e)?;
    check(s.notices(&id).await.map_err(e)?[0].acknowledged_at == Some(Timestamp(45)), "acknowledged")?;

    check(s.erasures_due(Timestamp(49), 10).await.map_err(e)?.is_empty(), "grace window not over")?;
    check(s.erasures_due(Timestamp(50), 10).await.map_err(e)?.len() == 1, "due at the end of the window")?;
    check(s.dsrs_overdue(Some(&t), Timestamp(100)).await.map_err(e)?.is_empty(), "not overdue on its due date")?;
    check(s.dsrs_overdue(None, Timestamp(101)).await.map_err(e)?.len() == 1, "overdue after it")?;
    let advance = |from: DsrState, to: DsrState| {
        p(PrivacyOp::AdvanceDsr {
            id: id.clone(),
            from,
            to,
            closed_at: Some(Timestamp(60)),
            event: DsrEvent { at: 60, event: to.as_str().into(), by: "t".into() },
        })
    };
    check(
        matches!(s.apply(advance(DsrState::Completed, DsrState::Purged)).await, Err(StoreError::Stale)),
        "wrong from-state",
    )?;
    s.apply(advance(DsrState::Locked, DsrState::Cancelled)).await.map_err(e)?;
    let d = s.dsr(&id).await.map_err(e)?.ok_or("request")?;
    check(
        d.state == DsrState::Cancelled && d.history.len() == 2 && d.closed_at == Some(Timestamp(60)),
        "advanced with history",
    )?;
    check(
        !d.state.is_open() && s.dsrs_overdue(None, Timestamp(1_000)).await.map_err(e)?.is_empty(),
        "closed is never overdue",
    )?;
    Ok(())
}

async fn deletion_and_expiry(s: &dyn Store) -> R {
    let t = code("priv");
    s.apply(vec![record(&rid(10)?, None, 100)?, record(&rid(11)?, None, 200)?]).await.map_err(e)?;
    let before = s.records_created_before(&t, &people()?, Timestamp(150), 10).await.map_err(e)?;
    check(before.contains(&rid(10)?) && !before.contains(&rid(11)?), "created before the cutoff")?;
    let hide = p(PrivacyOp::HideRecord {
        tenant: t.clone(),
        collection: people()?,
        id: rid(11)?,
        purge_after: Timestamp(500),
    });
    s.apply(hide.clone()).await.map_err(e)?;
    check(matches!(s.apply(hide).await, Err(StoreError::NotFound(_))), "deleting twice is not found")?;
    check(s.get_record(&t, &people()?, &rid(11)?).await.map_err(e)?.is_some_and(|r| r.meta.hidden), "hidden, kept")?;
    let r11 = rid(11)?;
    check(!s.records_purge_due(Timestamp(499), 10).await.map_err(e)?.iter().any(|(_, r)| r == &r11), "not yet due")?;
    check(s.records_purge_due(Timestamp(500), 10).await.map_err(e)?.iter().any(|(_, r)| r == &r11), "due at its time")?;

    let file = |n: u8, expires: Option<i64>| -> Result<FileRow, String> {
        Ok(FileRow {
            id: FileId::parse(&format!("fil_{n:032x}")).map_err(e)?,
            tenant: t.clone(),
            subject: None,
            kind: "transfer".into(),
            content_type: "text/csv".into(),
            size: 10,
            chunks: 3,
            key: FieldKey::Tenant(1),
            name: ct(1),
            created_at: Timestamp(1),
            expires_at: expires.map(Timestamp),
            hidden: false,
            purge_after: None,
        })
    };
    let f1 = file(1, Some(300))?;
    s.apply(p(PrivacyOp::InsertFile { row: f1.clone(), chunks: vec![ct(20), ct(21), ct(22)] })).await.map_err(e)?;
    s.apply(p(PrivacyOp::InsertFile { row: file(2, None)?, chunks: vec![ct(30)] })).await.map_err(e)?;
    check(s.file(&t, &f1.id).await.map_err(e)? == Some(f1.clone()), "file metadata round trip")?;
    for (n, tag) in [(0, 20), (1, 21), (2, 22)] {
        check(
            s.file_chunk(&f1.id, n).await.map_err(e)?.is_some_and(|c| c.as_bytes() == ct(tag).as_bytes()),
            "chunks in order",
        )?;
    }
    check(s.file(&code("beta"), &f1.id).await.map_err(e)?.is_none(), "a file is only its tenant's")?;
    check(s.files_purge_due(Timestamp(299), 10).await.map_err(e)?.is_empty(), "file not yet expired")?;
    let due = s.files_purge_due(Timestamp(300), 10).await.map_err(e)?;
    check(due.len() == 1 && due[0].id == f1.id, "only the expired file is due")?;
    s.apply(p(PrivacyOp::PurgeFiles { tenant: t.clone(), ids: vec![f1.id.clone()] })).await.map_err(e)?;
    check(
        s.file(&t, &f1.id).await.map_err(e)?.is_none() && s.file_chunk(&f1.id, 0).await.map_err(e)?.is_none(),
        "file and chunks gone",
    )?;
    s.compact().await.map_err(e)?;
    Ok(())
}
