//! Recipient endpoints: register, list and revoke third parties; record and list
//! disclosures of a subject's data; and the recipient's own reads (what was disclosed
//! to it, and during an erasure's grace window what it must retrieve) and its
//! acknowledgement of an erasure notice.

use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_core::ids::{CollectionName, DisclosureId, DsrId, FieldName, Pseudonym, RecipientId, RecordId, TenantCode};
use custos_core::service::{Disclosed, DisclosureView, NewDisclosure, NewRecipient, RecipientView};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// A recipient to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRecipient {
    /// The organisation's name.
    name: String,
    /// Where erasure notices are posted (https; http only to a loopback address).
    webhook_url: String,
    /// Key lifetime in days (default 365).
    #[serde(default)]
    key_days: Option<u32>,
}

/// A recipient.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecipientOut {
    id: String,
    name: String,
    webhook_url: String,
    key_expires_at: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl From<RecipientView> for RecipientOut {
    fn from(r: RecipientView) -> Self {
        Self {
            id: r.id.to_string(),
            name: r.name,
            webhook_url: r.webhook_url,
            key_expires_at: r.key_expires_at.to_rfc3339(),
            created_at: r.created_at.to_rfc3339(),
            revoked_at: r.revoked_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A registered recipient with its API key and webhook secret: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecipientCreatedOut {
    #[serde(flatten)]
    recipient: RecipientOut,
    /// The recipient's API key (bearer token).
    api_key: String,
    /// The secret that signs erasure notices (`Custos-Signature`).
    webhook_secret: String,
}

/// Register a recipient (needs `keys:manage`).
#[utoipa::path(post, path = "/v1/tenants/{code}/recipients", tag = "recipients", request_body = CreateRecipient,
    security(("bearer" = [])), params(("code" = String, Path, description = "tenant code")),
    responses((status = 201, body = RecipientCreatedOut), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn create_recipient(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<CreateRecipient>,
) -> Result<(StatusCode, Json<RecipientCreatedOut>), Problem> {
    let code = TenantCode::parse(&code)?;
    let r = s
        .vault
        .create_recipient(
            &c,
            &code,
            NewRecipient { name: req.name, webhook_url: req.webhook_url, key_days: req.key_days },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RecipientCreatedOut {
            recipient: r.view.into(),
            api_key: r.api_key.expose().clone(),
            webhook_secret: r.webhook_secret.expose().clone(),
        }),
    ))
}

/// A tenant's recipients.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecipientList {
    recipients: Vec<RecipientOut>,
}

/// List a tenant's recipients.
#[utoipa::path(get, path = "/v1/tenants/{code}/recipients", tag = "recipients", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code")),
    responses((status = 200, body = RecipientList), (status = 403, body = Problem)))]
pub(crate) async fn list_recipients(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<RecipientList>, Problem> {
    let code = TenantCode::parse(&code)?;
    let rows = s.vault.list_recipients(&c, &code).await?;
    Ok(Json(RecipientList { recipients: rows.into_iter().map(Into::into).collect() }))
}

/// Revoke a recipient's key at once.
#[utoipa::path(delete, path = "/v1/tenants/{code}/recipients/{id}", tag = "recipients", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "recipient id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn revoke_recipient(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = RecipientId::parse(&id)?;
    s.vault.revoke_recipient(&c, &code, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A disclosure to record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateDisclosure {
    /// To whom.
    recipient: String,
    /// Which collection.
    collection: String,
    /// Which fields.
    fields: Vec<String>,
    /// Which records (default: every record of the subject in the collection).
    #[serde(default)]
    records: Option<Vec<String>>,
}

/// A recorded disclosure.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DisclosureOut {
    id: String,
    subject: String,
    recipient: String,
    collection: String,
    fields: Vec<String>,
    records: Vec<String>,
    at: String,
}

impl From<DisclosureView> for DisclosureOut {
    fn from(d: DisclosureView) -> Self {
        Self {
            id: d.id.to_string(),
            subject: d.subject.to_string(),
            recipient: d.recipient.to_string(),
            collection: d.collection.to_string(),
            fields: d.fields.iter().map(ToString::to_string).collect(),
            records: d.records.iter().map(ToString::to_string).collect(),
            at: d.at.to_rfc3339(),
        }
    }
}

/// Record that fields of a subject's records were given to a recipient.
#[utoipa::path(post, path = "/v1/tenants/{code}/subjects/{id}/disclosures", tag = "recipients", request_body = CreateDisclosure,
    security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "subject pseudonym")),
    responses((status = 201, body = DisclosureOut), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn create_disclosure(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<CreateDisclosure>,
) -> Result<(StatusCode, Json<DisclosureOut>), Problem> {
    let code = TenantCode::parse(&code)?;
    let id = Pseudonym::parse(&id)?;
    let d = NewDisclosure {
        recipient: RecipientId::parse(&req.recipient)?,
        collection: CollectionName::parse(&req.collection)?,
        fields: req.fields.iter().map(|f| FieldName::parse(f)).collect::<Result<_, _>>()?,
        records: req.records.map(|r| r.iter().map(|x| RecordId::parse(x)).collect::<Result<_, _>>()).transpose()?,
    };
    let v = s.vault.disclose(&c, &code, &id, d).await?;
    Ok((StatusCode::CREATED, Json(v.into())))
}

/// Disclosures.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DisclosureList {
    disclosures: Vec<DisclosureOut>,
}

/// Which recipients hold a subject's data, and what.
#[utoipa::path(get, path = "/v1/tenants/{code}/subjects/{id}/disclosures", tag = "recipients", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "subject pseudonym")),
    responses((status = 200, body = DisclosureList), (status = 404, body = Problem)))]
pub(crate) async fn list_disclosures(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<Json<DisclosureList>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = Pseudonym::parse(&id)?;
    let rows = s.vault.subject_disclosures(&c, &code, &id).await?;
    Ok(Json(DisclosureList { disclosures: rows.into_iter().map(Into::into).collect() }))
}

/// Paging of a recipient's disclosures.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecipientPage {
    /// The previous page's last disclosure id.
    after: Option<String>,
    /// Page size, 1-500 (default 100).
    limit: Option<u32>,
}

/// What was disclosed to the calling recipient (recipient key only).
#[utoipa::path(get, path = "/v1/tenants/{code}/recipient/disclosures", tag = "recipients", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), RecipientPage),
    responses((status = 200, body = DisclosureList), (status = 403, body = Problem)))]
pub(crate) async fn my_disclosures(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<RecipientPage>,
) -> Result<Json<DisclosureList>, Problem> {
    let code = TenantCode::parse(&code)?;
    let after = q.after.as_deref().map(DisclosureId::parse).transpose()?;
    let rows = s.vault.recipient_disclosures(&c, &code, after.as_ref(), q.limit.unwrap_or(100)).await?;
    Ok(Json(DisclosureList { disclosures: rows.into_iter().map(Into::into).collect() }))
}

/// One disclosed record.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DisclosedRecord {
    collection: String,
    id: String,
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

/// What a recipient holds of a subject.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DisclosedOut {
    subject: String,
    records: Vec<DisclosedRecord>,
}

impl From<Disclosed> for DisclosedOut {
    fn from(d: Disclosed) -> Self {
        Self {
            subject: d.subject.to_string(),
            records: d
                .records
                .into_iter()
                .map(|(c, id, fields)| DisclosedRecord { collection: c.to_string(), id: id.to_string(), fields })
                .collect(),
        }
    }
}

/// The disclosed fields of a subject's disclosed records (recipient key only).
#[utoipa::path(get, path = "/v1/tenants/{code}/recipient/subjects/{id}", tag = "recipients", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "subject pseudonym")),
    responses((status = 200, body = DisclosedOut), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn recipient_subject(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<Json<DisclosedOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = Pseudonym::parse(&id)?;
    Ok(Json(s.vault.recipient_read(&c, &code, &id).await?.into()))
}

/// During an erasure's grace window, what the recipient holds of the subject, so it can
/// retrieve what it needs (recipient key only; 404 once purged).
#[utoipa::path(get, path = "/v1/tenants/{code}/recipient/erasures/{request}", tag = "recipients", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("request" = String, Path, description = "erasure request id")),
    responses((status = 200, body = DisclosedOut), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn recipient_erasure(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<Json<DisclosedOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = DsrId::parse(&id)?;
    Ok(Json(s.vault.recipient_erasure_read(&c, &code, &id).await?.into()))
}

/// Acknowledge an erasure notice (recipient key only).
#[utoipa::path(post, path = "/v1/tenants/{code}/recipient/erasures/{request}/acknowledge", tag = "recipients",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("request" = String, Path, description = "erasure request id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn acknowledge(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = DsrId::parse(&id)?;
    s.vault.acknowledge_notice(&c, &code, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
