//! Upload sessions (contract §4) and pre-authenticated downloads (§3.10).

use std::io::{Seek, SeekFrom};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use axum::response::IntoResponse;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::errors::{GResult, GraphError, json_response};
use crate::graph::{
    Address, Resolved, drain, file_body, internal, mime_for, read_json, store_file,
    validate_new_names,
};
use crate::state::{Conflict, FileData, Inner, Principal, Shared, UploadSession};
use crate::util::{ALNUM, TOKEN_CHARS, iso, query_pairs, random_from};

/// Fragments other than the last must be a multiple of this (contract §4.2).
pub const FRAGMENT_UNIT: u64 = 320 * 1024;
/// Every request must be below 60 MiB (contract §4.2).
pub const MAX_REQUEST: u64 = 60 * 1024 * 1024;

/// Request extension set by the `partial_accept` fault.
#[derive(Debug, Clone, Copy)]
pub struct PartialAccept(pub Option<u64>);

/// `POST …/createUploadSession` (contract §4.1).
pub async fn create_session(
    shared: &Shared,
    p: &Principal,
    addr: &Address,
    headers: &HeaderMap,
    body: Body,
) -> GResult<Response<Body>> {
    let v = read_json(body).await?;
    if !v.is_null() && !v.is_object() {
        return Err(GraphError::bad_request(
            "The request body must be a JSON object",
        ));
    }
    let item = v.get("item").cloned().unwrap_or(Value::Null);
    if !item.is_null() && !item.is_object() {
        return Err(GraphError::bad_request("'item' must be an object"));
    }
    let body_name = match item.get("name") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(GraphError::bad_request("'item.name' must be a string")),
        None => None,
    };
    let file_size = match item.get("fileSize") {
        Some(n) => Some(n.as_u64().ok_or_else(|| {
            GraphError::bad_request("'item.fileSize' must be a non-negative integer")
        })?),
        None => None,
    };
    let mut conflict = None;
    for key in [
        "@microsoft.graph.conflictBehavior",
        "@name.conflictBehavior",
    ] {
        if let Some(c) = item.get(key) {
            let s = c
                .as_str()
                .ok_or_else(|| GraphError::bad_request(format!("{key} must be a string")))?;
            conflict = Some(Conflict::parse(s)?);
        }
    }
    let defer_commit = match v.get("deferCommit") {
        Some(Value::Bool(b)) => *b,
        None | Some(Value::Null) => false,
        Some(_) => return Err(GraphError::bad_request("'deferCommit' must be a boolean")),
    };
    let fs_modified_ms = item
        .get("fileSystemInfo")
        .and_then(|f| f.get("lastModifiedDateTime"))
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.timestamp_millis());
    if file_size == Some(0) {
        // Contract §3.7: an upload session cannot carry 0 bytes.
        return Err(GraphError::bad_request(
            "An upload session cannot upload an empty file; use a simple upload",
        ));
    }

    let cfg = &shared.config;
    let mut inner = shared.lock();
    let r = addr.resolve(&inner, p, cfg.auto_create_parents)?;
    inner.check_access(p, r.drive, r.anchor(), true)?;
    // The v1.0 page lists `fail` as the default (contract §4.1); updating an
    // existing file addressed by id replaces it.
    let conflict = conflict.unwrap_or(if r.by_path {
        Conflict::Fail
    } else {
        Conflict::Replace
    });
    let d = &inner.drives[r.drive];
    let mut target = None;
    match &r.existing {
        Some(id) => {
            let existing = d.item(id).ok_or_else(GraphError::item_not_found)?;
            crate::graph::check_if_match(headers, existing)?;
            if headers
                .get(header::IF_NONE_MATCH)
                .is_some_and(|v| v.as_bytes() == b"*")
            {
                return Err(GraphError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "resourceModified",
                    "The item already exists (If-None-Match: *)",
                ));
            }
            if existing.is_folder() {
                if !r.by_path {
                    // Contract §3.9.5: POST /items/{folderId}/createUploadSession.
                    return Err(GraphError::bad_request(
                        "Name from path does not match name from body",
                    ));
                }
                if conflict != Conflict::Rename {
                    return Err(GraphError::name_exists(&r.name));
                }
            } else if r.by_path {
                if conflict == Conflict::Fail {
                    return Err(GraphError::name_exists(&r.name));
                }
            } else {
                target = Some(id.clone());
            }
        }
        None => validate_new_names(&inner, &r, false)?,
    }
    if let Some(n) = &body_name
        && *n != r.name
    {
        return Err(GraphError::bad_request(
            "Name from path does not match name from body",
        ));
    }
    let remaining = d.quota_total.saturating_sub(d.used());
    if file_size.is_some_and(|s| s > remaining) {
        return Err(GraphError::quota());
    }
    let is_business = d.drive_type != "personal";
    let parent = match (&r.parent, r.missing_parents.is_empty()) {
        (Some(p), true) => p.clone(),
        // Missing parents are created now (auto_create_parents).
        (Some(_), false) => {
            let mut r2 = r.clone();
            crate::graph::create_missing_parents(&mut inner, &mut r2)?;
            r2.parent.clone().unwrap_or_default()
        }
        (None, _) => return Err(GraphError::bad_request("The root cannot be uploaded to")),
    };
    let id = random_from(&mut inner.rng, ALNUM, 40);
    let tempauth = is_business.then(|| random_from(&mut inner.rng, TOKEN_CHARS, 64));
    let tmp_path = shared.tmp_dir.join(format!("session-{id}"));
    std::fs::File::create(&tmp_path).map_err(internal)?;
    let expires_ms = inner.now_ms() + cfg.upload_session_lifetime.as_millis() as i64;
    let url = session_url(shared, &id, tempauth.as_deref());
    inner.sessions.insert(
        id.clone(),
        UploadSession {
            id: id.clone(),
            drive: r.drive,
            parent,
            name: r.name.clone(),
            target,
            conflict,
            declared_size: file_size,
            total: None,
            received: 0,
            hash: nuage_graph::QuickXorHash::new(),
            expires_ms,
            tmp_path,
            tempauth,
            defer_commit,
            fs_modified_ms,
            io: Arc::new(tokio::sync::Mutex::new(())),
        },
    );
    shared.save(&inner);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}/$metadata#microsoft.graph.uploadSession", shared.graph_url()),
            "uploadUrl": url,
            "expirationDateTime": iso(expires_ms),
            "nextExpectedRanges": ["0-"],
        }),
    ))
}

/// The uploadUrl: personal `…/_upload/{id}`; business, like SharePoint,
/// with `?guid=…&tempauth=…` that must be sent back verbatim.
pub fn session_url(shared: &Shared, id: &str, tempauth: Option<&str>) -> String {
    match tempauth {
        Some(t) => format!("{}/_upload/{id}?guid={id}&tempauth={t}", shared.base_url),
        None => format!("{}/_upload/{id}", shared.base_url),
    }
}

/// Extracts a session id from an uploadUrl (or returns an id as is).
pub fn session_id_from(s: &str) -> String {
    let s = s.split('?').next().unwrap_or(s);
    match s.rfind("/_upload/") {
        Some(i) => s[i + "/_upload/".len()..].to_string(),
        None => s.to_string(),
    }
}

fn status_json(s: &UploadSession) -> Value {
    json!({"expirationDateTime": iso(s.expires_ms), "nextExpectedRanges": s.next_ranges()})
}

/// Finds a live session and checks its tempauth. Expired ones are removed.
fn live_session<'a>(
    inner: &'a mut Inner,
    id: &str,
    query: Option<&str>,
) -> GResult<&'a mut UploadSession> {
    let now = inner.now_ms();
    if inner.sessions.get(id).is_some_and(|s| s.expires_ms <= now) {
        inner.sessions.remove(id);
    }
    let s = inner
        .sessions
        .get_mut(id)
        .ok_or_else(GraphError::session_not_found)?;
    if let Some(t) = &s.tempauth {
        let sent = query_pairs(query)
            .into_iter()
            .find(|(k, _)| k == "tempauth")
            .map(|(_, v)| v);
        if sent.as_deref() != Some(t.as_str()) {
            return Err(GraphError::access_denied(
                "Access denied: the tempauth of the upload URL is missing or invalid",
            ));
        }
    }
    Ok(s)
}

/// Parses `bytes a-b/total`.
fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let v = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = v.split_once('/')?;
    let (a, b) = range.trim().split_once('-')?;
    let (a, b, total) = (
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (a <= b).then_some((a, b, total))
}

/// Truncates the spool file back unless disarmed: a fragment that did not
/// arrive whole (dropped connection, error) contributes no bytes.
struct Rollback {
    path: std::path::PathBuf,
    len: u64,
    armed: bool,
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if self.armed
            && let Ok(f) = std::fs::OpenOptions::new().write(true).open(&self.path)
        {
            let _ = f.set_len(self.len);
        }
    }
}

/// `ANY /_upload/{id}`: PUT fragment, GET status, DELETE cancel, POST commit.
pub async fn upload_url(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    req: Request,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    // Contract §2 / §4.2: never send Authorization to an uploadUrl.
    if parts.headers.contains_key(header::AUTHORIZATION) {
        drain(body).await;
        return GraphError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "The upload URL is pre-authenticated: requests to it must not carry an Authorization header",
        )
        .into_response();
    }
    let partial = parts.extensions.get::<PartialAccept>().copied();
    let result = match parts.method {
        Method::PUT => {
            put_fragment(
                &shared,
                &id,
                &parts.headers,
                parts.uri.query(),
                partial,
                body,
            )
            .await
        }
        Method::GET => {
            let mut inner = shared.lock();
            live_session(&mut inner, &id, parts.uri.query())
                .map(|s| json_response(StatusCode::OK, &status_json(s)))
        }
        Method::DELETE => {
            let mut inner = shared.lock();
            match live_session(&mut inner, &id, parts.uri.query()) {
                Ok(_) => {
                    inner.sessions.remove(&id);
                    let mut r = Response::new(Body::empty());
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    Ok(r)
                }
                Err(e) => Err(e),
            }
        }
        Method::POST => {
            drain(body).await;
            commit_deferred(&shared, &id, parts.uri.query())
        }
        _ => Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalidRequest",
            "Method not allowed on an upload URL",
        )),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn put_fragment(
    shared: &Arc<Shared>,
    id: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    partial: Option<PartialAccept>,
    body: Body,
) -> GResult<Response<Body>> {
    let found = {
        let mut inner = shared.lock();
        live_session(&mut inner, id, query).map(|s| s.io.clone())
    };
    let io = match found {
        Ok(io) => io,
        Err(e) => {
            drain(body).await;
            return Err(e);
        }
    };
    // One fragment at a time per session.
    let _io = io.lock().await;
    let checked = check_fragment(shared, id, headers, query);
    let (start, len, total, mut hash, path) = match checked {
        Ok(x) => x,
        Err(e) => {
            drain(body).await;
            return Err(e);
        }
    };
    let keep = match partial {
        Some(PartialAccept(Some(n))) => n.min(len),
        // Default: the largest multiple of 320 KiB not above half of it.
        Some(PartialAccept(None)) => (len / 2) / FRAGMENT_UNIT * FRAGMENT_UNIT,
        None => len,
    };

    let mut rollback = Rollback {
        path: path.clone(),
        len: start,
        armed: true,
    };
    let std_file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| {
            f.set_len(start)?;
            f.seek(SeekFrom::Start(start))?;
            Ok(f)
        })
        .map_err(|_| GraphError::session_not_found())?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut got = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| GraphError::bad_request("The fragment body could not be read"))?;
        let n = chunk.len() as u64;
        if got + n > len {
            return Err(GraphError::bad_request(
                "The body is longer than Content-Length",
            ));
        }
        // Only kept bytes are hashed and stored.
        let kept = keep.saturating_sub(got).min(n) as usize;
        if kept > 0 {
            hash.update(&chunk[..kept]);
            file.write_all(&chunk[..kept]).await.map_err(internal)?;
        }
        got += n;
    }
    if got != len {
        return Err(GraphError::bad_request(format!(
            "The fragment was incomplete: {got} of {len} bytes"
        )));
    }
    file.flush().await.map_err(internal)?;
    drop(file);

    let mut inner = shared.lock();
    let ttl = shared.config.upload_session_lifetime.as_millis() as i64;
    let now = inner.now_ms();
    let s = live_session(&mut inner, id, query)?;
    s.received = start + keep;
    s.total = Some(total);
    s.hash = hash;
    s.expires_ms = now + ttl;
    rollback.armed = false;
    if s.complete() && !s.defer_commit {
        return commit(shared, &mut inner, id, None).map(|(status, v)| json_response(status, &v));
    }
    Ok(json_response(StatusCode::ACCEPTED, &status_json(s)))
}

/// Validates a fragment's headers against the session.
/// Returns (start, length, total, hash so far, spool path).
fn check_fragment(
    shared: &Shared,
    id: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> GResult<(u64, u64, u64, nuage_graph::QuickXorHash, std::path::PathBuf)> {
    let mut inner = shared.lock();
    let s = live_session(&mut inner, id, query)?;
    let cr = headers
        .get(header::CONTENT_RANGE)
        .ok_or_else(|| GraphError::bad_request("The Content-Range header is required"))?;
    let (a, b, total) = cr
        .to_str()
        .ok()
        .and_then(parse_content_range)
        .ok_or_else(|| {
            GraphError::bad_request("Invalid Content-Range header: expected 'bytes a-b/total'")
        })?;
    let len = b - a + 1;
    let cl = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| GraphError::bad_request("The Content-Length header is required"))?;
    if cl != len {
        return Err(GraphError::bad_request(format!(
            "Content-Length {cl} does not match Content-Range length {len}"
        )));
    }
    if len >= MAX_REQUEST {
        return Err(GraphError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalidRequest",
            format!("A fragment must be smaller than 60 MiB ({MAX_REQUEST} bytes), got {len}"),
        )
        .inner("fragmentTooLarge"));
    }
    let expected_total = s.total.or(s.declared_size);
    if let Some(t) = expected_total
        && t != total
    {
        // Contract §4.2: error `fragmentLengthMismatch`, status unconfirmed:
        // the emulator answers 400.
        return Err(GraphError::bad_request(format!(
            "The declared total size {total} differs from the session's {t}"
        ))
        .inner("fragmentLengthMismatch"));
    }
    if b >= total {
        return Err(GraphError::bad_request(format!(
            "The range {a}-{b} goes beyond the total size {total}"
        ))
        .inner("invalidRange"));
    }
    if a < s.received {
        return Err(GraphError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "invalidRange",
            format!(
                "The uploaded fragment overlaps with data that has already been received (next expected: {}-)",
                s.received
            ),
        )
        .inner("fragmentOverlap"));
    }
    if a > s.received {
        // Contract §4.2: `fragmentOutOfOrder`, status unconfirmed: 400.
        return Err(GraphError::bad_request(format!(
            "The fragment starts at {a} but the next expected byte is {}",
            s.received
        ))
        .inner("fragmentOutOfOrder"));
    }
    if b + 1 < total && len % FRAGMENT_UNIT != 0 {
        // Contract §4.2: only "errors committing" is documented; the emulator
        // rejects such a fragment at once with 400.
        return Err(GraphError::bad_request(format!(
            "Fragment length {len} is not a multiple of 320 KiB ({FRAGMENT_UNIT} bytes) and it is not the last fragment"
        ))
        .inner("invalidFragmentLength"));
    }
    Ok((a, len, total, s.hash.clone(), s.tmp_path.clone()))
}

/// Commits a complete session into the drive. `dest` overrides the place
/// (sourceUrl commit): parent id, name, conflict behaviour. On failure (409,
/// 507, …) the session survives until it expires.
pub fn commit(
    shared: &Shared,
    inner: &mut Inner,
    id: &str,
    dest: Option<(String, String, Conflict)>,
) -> GResult<(StatusCode, Value)> {
    let s = inner
        .sessions
        .get(id)
        .ok_or_else(GraphError::session_not_found)?;
    if !s.complete() {
        return Err(
            GraphError::bad_request("The upload session is not complete")
                .inner("uploadSessionIncomplete"),
        );
    }
    let drive = s.drive;
    let d = &inner.drives[drive];
    let (parent, name, conflict, target) = match dest {
        Some((p, n, c)) => (p, n, c, None),
        None => (
            s.parent.clone(),
            s.name.clone(),
            s.conflict,
            s.target.clone(),
        ),
    };
    if !d.item(&parent).is_some_and(|i| i.is_folder()) {
        return Err(GraphError::not_found(
            "The parent folder of the upload no longer exists",
        ));
    }
    let target = target.filter(|t| d.item(t).is_some());
    let existing = target
        .clone()
        .or_else(|| d.child_by_name(&parent, &name).map(|i| i.id.clone()));
    let mut r = Resolved {
        drive,
        name: existing
            .as_ref()
            .and_then(|e| d.item(e))
            .map(|i| i.name.clone())
            .unwrap_or(name),
        existing,
        parent: Some(parent),
        missing_parents: Vec::new(),
        by_path: target.is_none(),
    };
    let file = FileData {
        size: s.total.unwrap_or(0),
        blob: String::new(),
        quick_xor: s.hash.to_base64(),
        mime: mime_for(&r.name).to_string(),
    };
    let spool = s.tmp_path.clone();
    let fs_modified = s.fs_modified_ms;
    let (status, item_id, old) =
        store_file(shared, inner, &mut r, conflict, fs_modified, file, &spool)?;
    inner.sessions.remove(id);
    let v = inner.item_json(shared, drive, &item_id);
    shared.save(inner);
    shared.remove_blobs(old.into_iter().collect());
    Ok((status, v))
}

/// `POST {uploadUrl}` with an empty body: commit of a `deferCommit` session.
fn commit_deferred(shared: &Shared, id: &str, query: Option<&str>) -> GResult<Response<Body>> {
    let mut inner = shared.lock();
    let s = live_session(&mut inner, id, query)?;
    if !s.defer_commit {
        return Err(GraphError::bad_request(
            "The upload session was not created with deferCommit",
        ));
    }
    commit(shared, &mut inner, id, None).map(|(status, v)| json_response(status, &v))
}

/// `PUT /…/root:/{path}` with `@microsoft.graph.sourceUrl`: commits a
/// complete session at that path (contract §4.2–4.3).
pub async fn commit_from_source_url(
    shared: &Shared,
    p: &Principal,
    addr: &Address,
    body: Body,
) -> GResult<Response<Body>> {
    let v = read_json(body).await?;
    let Some(src) = v.get("@microsoft.graph.sourceUrl").and_then(Value::as_str) else {
        return Err(GraphError::bad_request(
            "PUT on an item needs '@microsoft.graph.sourceUrl' (or use …/content)",
        ));
    };
    let conflict = match v
        .get("@microsoft.graph.conflictBehavior")
        .and_then(Value::as_str)
    {
        Some(c) => Conflict::parse(c)?,
        None => Conflict::Fail,
    };
    let sid = session_id_from(src);
    let query = src.split_once('?').map(|(_, q)| q);
    let mut inner = shared.lock();
    live_session(&mut inner, &sid, query)?;
    let r = addr.resolve(&inner, p, false)?;
    if !r.by_path {
        return Err(GraphError::bad_request(
            "A sourceUrl commit must address the item by path",
        ));
    }
    inner.check_access(p, r.drive, r.anchor(), true)?;
    if inner.sessions.get(&sid).is_some_and(|s| s.drive != r.drive) {
        return Err(GraphError::bad_request(
            "The upload session belongs to another drive",
        ));
    }
    let name = match v.get("name").and_then(Value::as_str) {
        Some(n) if *n != r.name => {
            return Err(GraphError::bad_request(
                "Name from path does not match name from body",
            ));
        }
        _ => r.name.clone(),
    };
    validate_new_names(&inner, &r, false)?;
    let parent = r.parent.clone().ok_or_else(GraphError::item_not_found)?;
    commit(shared, &mut inner, &sid, Some((parent, name, conflict)))
        .map(|(status, v)| json_response(status, &v))
}

/// `GET /_download/{token}`: the pre-authenticated download URL, with Range.
pub async fn download_url(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    req: Request,
) -> Response<Body> {
    match download_inner(&shared, &token, req.headers(), req.method()).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn download_inner(
    shared: &Shared,
    token: &str,
    headers: &HeaderMap,
    method: &Method,
) -> GResult<Response<Body>> {
    if *method != Method::GET && *method != Method::HEAD {
        return Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalidRequest",
            "Only GET is allowed on a download URL",
        ));
    }
    if shared.config.reject_auth_on_download && headers.contains_key(header::AUTHORIZATION) {
        return Err(GraphError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "The download URL is pre-authenticated: do not send an Authorization header",
        ));
    }
    let (blob, size, mime, etag) = {
        let inner = shared.lock();
        let t = inner
            .downloads
            .get(token)
            .ok_or_else(GraphError::item_not_found)?;
        if t.expires_ms <= inner.now_ms() {
            // Contract §6: the error for expired download URLs is
            // unconfirmed; the emulator answers 403 like an expired
            // SharePoint tempauth.
            return Err(GraphError::access_denied(
                "The pre-authenticated download URL has expired",
            ));
        }
        (t.blob.clone(), t.size, t.mime.clone(), t.etag.clone())
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| parse_range(r, size));
    let (status, start, len) = match range {
        None | Some(RangeSpec::Ignore) => (StatusCode::OK, 0, size),
        Some(RangeSpec::Unsatisfiable) => {
            return Err(GraphError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "invalidRange",
                "The requested range cannot be satisfied",
            )
            .header(header::CONTENT_RANGE, format!("bytes */{size}")));
        }
        Some(RangeSpec::Range(a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
    };
    let mut file = tokio::fs::File::open(shared.blob_path(&blob))
        .await
        .map_err(|_| GraphError::item_not_found())?;
    if start > 0 {
        use tokio::io::AsyncSeekExt;
        file.seek(SeekFrom::Start(start)).await.map_err(internal)?;
    }
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        file_body(file, len)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    Ignore,
    Unsatisfiable,
    Range(u64, u64),
}

/// One `bytes=` range; several ranges or a malformed header are ignored
/// (the whole file is sent, which the contract allows).
fn parse_range(v: &str, size: u64) -> RangeSpec {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Ignore;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeSpec::Ignore;
        };
        if n == 0 || size == 0 {
            return RangeSpec::Unsatisfiable;
        }
        return RangeSpec::Range(size.saturating_sub(n), size - 1);
    }
    let Ok(a) = a.parse::<u64>() else {
        return RangeSpec::Ignore;
    };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(b) if b >= a => b.min(size.saturating_sub(1)),
            _ => return RangeSpec::Ignore,
        }
    };
    if a >= size {
        return RangeSpec::Unsatisfiable;
    }
    RangeSpec::Range(a, end)
}

/// Expires one session (id or uploadUrl) or all of them; returns how many.
pub fn expire_sessions(inner: &mut Inner, which: Option<&str>) -> usize {
    let id = which.map(session_id_from);
    let now = inner.now_ms();
    let mut n = 0;
    for s in inner.sessions.values_mut() {
        if id.as_deref().is_none_or(|i| i == s.id) {
            s.expires_ms = now - 1;
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 0-327679/1048576"),
            Some((0, 327679, 1048576))
        );
        assert_eq!(parse_content_range("bytes 5-4/10"), None);
        assert_eq!(parse_content_range("bytes 0-4/*"), None);
        assert_eq!(parse_content_range("0-4/10"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeSpec::Range(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeSpec::Range(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeSpec::Range(90, 99));
        assert_eq!(parse_range("bytes=95-200", 100), RangeSpec::Range(95, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Ignore);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Ignore);
    }

    #[test]
    fn session_ids() {
        assert_eq!(
            session_id_from("http://127.0.0.1:1/_upload/abc?guid=abc&tempauth=x"),
            "abc"
        );
        assert_eq!(session_id_from("abc"), "abc");
    }
}
