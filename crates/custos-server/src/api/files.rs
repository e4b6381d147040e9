//! File endpoints: streaming upload (sealed chunk by chunk as it arrives, size limit,
//! content-type allow-list checked against the content), metadata, streaming download
//! (each chunk opened as it is sent), delete (locked, purged later).

use crate::extract::{ApiPath, ApiQuery, Auth, PurposeHeader};
use crate::problem::Problem;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_core::ids::{FileId, Pseudonym, TenantCode};
use custos_core::service::{FileView, NewFile};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Where an upload belongs.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadQuery {
    /// File kind (decides retention): `transfer` (4 days by default), `attachment` (the
    /// default), or another configured kind.
    kind: Option<String>,
    /// The subject the file belongs to (a pseudonym); its content is sealed under that
    /// subject's key.
    subject: Option<String>,
}

/// A stored file.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FileOut {
    id: String,
    subject: Option<String>,
    kind: String,
    content_type: String,
    size: u64,
    name: String,
    created_at: String,
    /// Purged at this time.
    expires_at: Option<String>,
    /// Deleted or its subject's erasure is pending (request handlers only see these).
    locked: bool,
}

impl From<FileView> for FileOut {
    fn from(f: FileView) -> Self {
        Self {
            id: f.id.to_string(),
            subject: f.subject.map(|s| s.to_string()),
            kind: f.kind,
            content_type: f.content_type,
            size: f.size,
            name: f.name,
            created_at: f.created_at.to_rfc3339(),
            expires_at: f.expires_at.map(|t| t.to_rfc3339()),
            locked: f.hidden,
        }
    }
}

/// Decode a percent-encoded UTF-8 header value (RFC 3986 escapes); no other escape.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Upload a file. The body is the content; `Content-Type` its type (from the allow-list,
/// checked against the first bytes); `Custos-File-Name` its name, percent-encoded UTF-8.
#[utoipa::path(post, path = "/v1/tenants/{code}/files", tag = "files", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), UploadQuery,
           ("Custos-File-Name" = Option<String>, Header, description = "file name, percent-encoded UTF-8 (default `upload`)")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = FileOut), (status = 400, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem)))]
pub(crate) async fn upload(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, HeaderMap, Json<FileOut>), Problem> {
    let code = TenantCode::parse(&code)?;
    let subject = q.subject.as_deref().map(Pseudonym::parse).transpose()?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let name = match headers.get("custos-file-name") {
        None => "upload".to_owned(),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(percent_decode)
            .ok_or_else(|| Problem::invalid("Custos-File-Name: a file name, percent-encoded UTF-8"))?,
    };
    let kind = q.kind.unwrap_or_else(|| "attachment".to_owned());
    let mut up = s.vault.begin_upload(&c, &code, NewFile { kind, content_type, name, subject }).await?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Problem::invalid("body: the upload was interrupted"))?;
        up.push(&chunk)?;
    }
    let view = s.vault.finish_upload(up).await?;
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/tenants/{code}/files/{}", view.id)) {
        h.insert(header::LOCATION, v);
    }
    Ok((StatusCode::CREATED, h, Json(view.into())))
}

/// A file's metadata (its name is personal data: a purpose is needed for a subject's file).
#[utoipa::path(get, path = "/v1/tenants/{code}/files/{id}/meta", tag = "files", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "file id"),
           ("Custos-Purpose" = Option<String>, Header, description = "purpose of the read")),
    responses((status = 200, body = FileOut), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn meta(
    State(s): State<AppState>,
    Auth(c): Auth,
    PurposeHeader(purpose): PurposeHeader,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<Json<FileOut>, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = FileId::parse(&id)?;
    let dl = s.vault.open_file(&c, &code, &id, purpose.as_ref()).await?;
    Ok(Json(dl.view.into()))
}

/// Download a file's content, streamed as it is decrypted.
#[utoipa::path(get, path = "/v1/tenants/{code}/files/{id}", tag = "files", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "file id"),
           ("Custos-Purpose" = Option<String>, Header, description = "purpose of the read")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn download(
    State(s): State<AppState>,
    Auth(c): Auth,
    PurposeHeader(purpose): PurposeHeader,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<Response, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = FileId::parse(&id)?;
    let mut dl = s.vault.open_file(&c, &code, &id, purpose.as_ref()).await?;
    // The first chunk is opened before answering, so a broken file is a clean error.
    let first = dl.next_chunk().await?;
    let content_type = dl.view.content_type.clone();
    let size = dl.view.size;
    let rest = futures_util::stream::unfold(dl, |mut dl| async move {
        match dl.next_chunk().await {
            Ok(Some(c)) => Some((Ok::<_, std::io::Error>(c.to_vec()), dl)),
            Ok(None) => None,
            // The status is already sent: cut the body short so the client sees a failure.
            Err(_) => Some((Err(std::io::Error::other("file chunk failed to authenticate")), dl)),
        }
    });
    let head = futures_util::stream::iter(first.map(|c| Ok::<_, std::io::Error>(c.to_vec())));
    let mut resp = Body::from_stream(head.chain(rest)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    Ok(resp)
}

/// Delete a file: locked at once, purged after the configured delay.
#[utoipa::path(delete, path = "/v1/tenants/{code}/files/{id}", tag = "files", security(("bearer" = [])),
    params(("code" = String, Path, description = "tenant code"), ("id" = String, Path, description = "file id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn delete(
    State(s): State<AppState>,
    Auth(c): Auth,
    ApiPath((code, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, Problem> {
    let code = TenantCode::parse(&code)?;
    let id = FileId::parse(&id)?;
    s.vault.delete_file(&c, &code, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
