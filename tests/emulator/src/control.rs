//! The control API under `/_emulator/` (never authenticated, never faulted)
//! and the functions behind it, shared with `Handle`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::config::FaultSpec;
use crate::errors::json_response;
use crate::graph::{
    Base, Resolved, create_missing_parents, encode_share_url, file_body, resolve,
    validate_new_names,
};
use crate::identity;
use crate::state::{Conflict, DeviceStatus, FileData, ME, OTHER, Share, Shared};
use crate::util::{TOKEN_CHARS, iso, random_from};

/// A registered sharing link.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ShareInfo {
    /// The sharing URL a user would paste.
    pub url: String,
    /// `u!{base64url(url)}`, for `GET /shares/{share_id}/driveItem`.
    pub share_id: String,
    /// The owner's (business) drive.
    pub drive_id: String,
    /// The shared folder.
    pub item_id: String,
}

fn err(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    json_response(status, &json!({"error": message.into()}))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Drive index from `me`/`personal`, `business`/`other`, or a drive id.
pub fn drive_alias(shared: &Shared, alias: &str) -> Option<usize> {
    match alias.to_ascii_lowercase().as_str() {
        "me" | "personal" => Some(ME),
        "business" | "other" => Some(OTHER),
        _ => shared.lock().drive_index(alias),
    }
}

fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The JSON summary for tests (`GET /_emulator/state`).
pub fn state_json(shared: &Shared) -> Value {
    let inner = shared.lock();
    let now = inner.now_ms();
    let drives: Vec<Value> = inner
        .drives
        .iter()
        .map(|d| {
            let mut files = Vec::new();
            let mut folders = Vec::new();
            for item in d.items.values() {
                let path = format!("/{}", d.path_of(&item.id));
                match &item.file {
                    Some(f) => files.push(json!({"path": path, "id": item.id, "size": f.size,
                                                "quickXorHash": f.quick_xor, "eTag": item.etag()})),
                    None => folders.push(json!({"path": path, "id": item.id})),
                }
            }
            files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
            folders.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
            json!({"id": d.id, "driveType": d.drive_type, "owner": d.owner.upn,
                   "quota": d.quota_json(), "files": files, "folders": folders})
        })
        .collect();
    let sessions: Vec<Value> = inner
        .sessions
        .values()
        .map(|s| {
            json!({"id": s.id, "drive": inner.drives[s.drive].id, "parentId": s.parent,
                   "name": s.name, "received": s.received, "total": s.total,
                   "declaredSize": s.declared_size, "expirationDateTime": iso(s.expires_ms),
                   "expired": s.expires_ms <= now, "deferCommit": s.defer_commit,
                   "complete": s.complete(),
                   "uploadUrl": crate::upload::session_url(shared, &s.id, s.tempauth.as_deref())})
        })
        .collect();
    let devices: Vec<Value> = inner
        .device_codes
        .iter()
        .map(|c| device_json(c, now))
        .collect();
    let shares: Vec<Value> = inner
        .shares
        .iter()
        .map(|s| {
            let d = &inner.drives[s.drive];
            json!({"url": s.url, "shareId": encode_share_url(&s.url), "driveId": d.id,
                   "itemId": s.item_id, "path": format!("/{}", d.path_of(&s.item_id))})
        })
        .collect();
    let faults: Vec<Value> = inner
        .faults
        .iter()
        .map(|f| json!({"spec": f.spec, "remaining": f.remaining, "hits": f.hits}))
        .collect();
    json!({
        "base_url": shared.base_url,
        "drives": drives,
        "sessions": sessions,
        "device_codes": devices,
        "shares": shares,
        "tokens": {
            "access": inner.access_tokens.len(),
            "access_valid": inner.access_tokens.values().filter(|t| t.expires_ms > now).count(),
            "refresh": inner.refresh_tokens.len(),
            "refresh_revoked": inner.refresh_tokens.values().filter(|t| t.revoked).count(),
        },
        "requests": {
            "total": inner.counters.total,
            "by_status": inner.counters.by_status,
            "dropped_connections": inner.counters.dropped_connections,
            "faults_fired": inner.counters.faults_fired,
        },
        "recent": inner.recent,
        "faults": faults,
    })
}

fn device_json(c: &crate::state::DeviceCode, now: i64) -> Value {
    json!({"user_code": c.user_code, "status": c.status, "polls": c.polls,
           "client_id": c.client_id, "scopes": c.scopes,
           "expired": c.expires_ms <= now,
           "expires": iso(c.expires_ms), "created": iso(c.created_ms)})
}

/// Registers a sharing link to folder `path` of the business drive
/// (created if missing).
pub fn register_share(
    shared: &Shared,
    path: &str,
    url: Option<String>,
) -> Result<ShareInfo, String> {
    let segs = split_path(path);
    if segs.is_empty() {
        return Err("the shared folder path must not be the root".into());
    }
    let mut inner = shared.lock();
    let mut r = resolve(&inner, OTHER, &Base::Root, &segs, true).map_err(|e| e.message)?;
    let item_id = match &r.existing {
        Some(id) if inner.drives[OTHER].item(id).is_some_and(|i| i.is_folder()) => id.clone(),
        Some(_) => return Err(format!("{path} is a file, not a folder")),
        None => {
            validate_new_names(&inner, &r, true).map_err(|e| e.message)?;
            create_missing_parents(&mut inner, &mut r).map_err(|e| e.message)?;
            let parent = r.parent.clone().unwrap_or_default();
            crate::graph::new_item(&mut inner, OTHER, &parent, &r.name, None)
        }
    };
    let url = match url {
        Some(u) => u,
        None => {
            let upn = inner.drives[OTHER].owner.upn.replace(['@', '.'], "_");
            let token = random_from(&mut inner.rng, TOKEN_CHARS, 22);
            format!("https://contoso-my.sharepoint.com/:f:/g/personal/{upn}/E{token}")
        }
    };
    inner.shares.retain(|s| s.url != url);
    inner.shares.push(Share {
        url: url.clone(),
        drive: OTHER,
        item_id: item_id.clone(),
    });
    let drive_id = inner.drives[OTHER].id.clone();
    shared.save(&inner);
    Ok(ShareInfo {
        share_id: encode_share_url(&url),
        url,
        drive_id,
        item_id,
    })
}

/// Stores `bytes` at `path` of drive `drive` (parents created, replaced if
/// present): seeding for tests.
pub fn put_file(shared: &Shared, drive: usize, path: &str, bytes: &[u8]) -> Result<(), String> {
    let segs = split_path(path);
    if segs.is_empty() {
        return Err("empty path".into());
    }
    let spool = shared.tmp_dir.join(format!("seed-{}", fastrand::u64(..)));
    std::fs::write(&spool, bytes).map_err(|e| e.to_string())?;
    let _guard = crate::graph::TmpFile(spool.clone());
    let mut hash = nuage_graph::QuickXorHash::new();
    hash.update(bytes);
    let mut inner = shared.lock();
    let mut r: Resolved =
        resolve(&inner, drive, &Base::Root, &segs, true).map_err(|e| e.message)?;
    if r.existing.is_none() {
        validate_new_names(&inner, &r, false).map_err(|e| e.message)?;
    }
    let file = FileData {
        size: bytes.len() as u64,
        blob: String::new(),
        quick_xor: hash.to_base64(),
        mime: crate::graph::mime_for(&r.name).to_string(),
    };
    let (_, _, old) = crate::graph::store_file(
        shared,
        &mut inner,
        &mut r,
        Conflict::Replace,
        None,
        file,
        &spool,
    )
    .map_err(|e| e.message)?;
    shared.save(&inner);
    drop(inner);
    shared.remove_blobs(old.into_iter().collect());
    Ok(())
}

/// Path of the blob of file `path` in drive `drive`, with its size.
pub fn file_blob(shared: &Shared, drive: usize, path: &str) -> Option<(std::path::PathBuf, u64)> {
    let segs = split_path(path);
    let inner = shared.lock();
    let r = resolve(&inner, drive, &Base::Root, &segs, false).ok()?;
    let item = inner.drives[drive].item(r.existing.as_deref()?)?;
    let f = item.file.as_ref()?;
    Some((shared.blob_path(&f.blob), f.size))
}

/// Issues delegated tokens for the signed-in user without a device flow.
pub fn mint_tokens(shared: &Shared, scopes: &str, client_id: &str) -> Result<Value, String> {
    let s = identity::parse_scopes(scopes).map_err(|e| e.description)?;
    let mut inner = shared.lock();
    let v = identity::issue_delegated(
        shared, &mut inner, ME, client_id, &s.graph, &s.graph, s.offline, s.openid,
    );
    shared.save(&inner);
    Ok(v)
}

// ---- HTTP handlers -----------------------------------------------------

pub async fn state(State(shared): State<Arc<Shared>>) -> Response<Body> {
    json_response(StatusCode::OK, &state_json(&shared))
}

pub async fn devices(State(shared): State<Arc<Shared>>) -> Response<Body> {
    let inner = shared.lock();
    let now = inner.now_ms();
    let v: Vec<Value> = inner
        .device_codes
        .iter()
        .map(|c| device_json(c, now))
        .collect();
    json_response(StatusCode::OK, &json!(v))
}

async fn decide(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    approve: bool,
) -> Response<Body> {
    let form = is_form(headers);
    let (code, scopes) = if form {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        let get = |k: &str| pairs.iter().find(|(q, _)| q == k).map(|(_, v)| v.clone());
        (
            get("user_code"),
            get("scopes").filter(|s| !s.is_empty()).map(|s| vec![s]),
        )
    } else {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let scopes = match v.get("scopes") {
            Some(Value::String(s)) => Some(vec![s.clone()]),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
            ),
            _ => None,
        };
        (
            v.get("user_code").and_then(Value::as_str).map(String::from),
            scopes,
        )
    };
    let Some(code) = code else {
        return err(StatusCode::BAD_REQUEST, "user_code is required");
    };
    let result = {
        let mut inner = shared.lock();
        identity::decide(&mut inner, &code, approve, scopes)
    };
    match (result, form) {
        (Ok(()), true) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::SEE_OTHER;
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/_emulator/"));
            r
        }
        (Ok(()), false) => json_response(StatusCode::OK, &json!({"ok": true, "user_code": code})),
        (Err(e), _) => err(StatusCode::NOT_FOUND, e),
    }
}

pub async fn approve(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    decide(&shared, &headers, &body, true).await
}

pub async fn decline(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    decide(&shared, &headers, &body, false).await
}

pub async fn faults_get(State(shared): State<Arc<Shared>>) -> Response<Body> {
    let inner = shared.lock();
    let v: Vec<Value> = inner
        .faults
        .iter()
        .map(|f| json!({"spec": f.spec, "remaining": f.remaining, "hits": f.hits}))
        .collect();
    json_response(StatusCode::OK, &json!(v))
}

pub async fn faults_post(State(shared): State<Arc<Shared>>, body: Bytes) -> Response<Body> {
    let specs: Vec<FaultSpec> = match serde_json::from_slice::<Value>(&body) {
        Ok(v @ Value::Array(_)) => match serde_json::from_value(v) {
            Ok(s) => s,
            Err(e) => return err(StatusCode::BAD_REQUEST, format!("invalid fault list: {e}")),
        },
        Ok(v @ Value::Object(_)) => match serde_json::from_value(v) {
            Ok(s) => vec![s],
            Err(e) => return err(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")),
        },
        _ => return err(StatusCode::BAD_REQUEST, "expected a JSON list of faults"),
    };
    match crate::faults::apply(&shared, specs) {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

pub async fn faults_delete(State(shared): State<Arc<Shared>>) -> Response<Body> {
    shared.lock().faults.clear();
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

pub async fn shares(State(shared): State<Arc<Shared>>, body: Bytes) -> Response<Body> {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(path) = v.get("path").and_then(Value::as_str) else {
        return err(
            StatusCode::BAD_REQUEST,
            "expected {\"path\": \"/Folder\", \"url\"?: \"https://…\"}",
        );
    };
    let url = v.get("url").and_then(Value::as_str).map(String::from);
    match register_share(&shared, path, url) {
        Ok(info) => json_response(StatusCode::OK, &json!(info)),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

pub async fn tokens(State(shared): State<Arc<Shared>>, body: Bytes) -> Response<Body> {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let scopes = v
        .get("scopes")
        .and_then(Value::as_str)
        .unwrap_or("offline_access Files.ReadWrite User.Read");
    let client = v
        .get("client_id")
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| shared.config.allowed_client_ids.first().cloned())
        .unwrap_or_else(|| crate::DEFAULT_CLIENT_ID.to_string());
    match mint_tokens(&shared, scopes, &client) {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

pub async fn file_get(
    State(shared): State<Arc<Shared>>,
    Path((drive, path)): Path<(String, String)>,
) -> Response<Body> {
    let Some(d) = drive_alias(&shared, &drive) else {
        return err(StatusCode::NOT_FOUND, format!("no drive {drive}"));
    };
    let Some((blob, size)) = file_blob(&shared, d, &path) else {
        return err(
            StatusCode::NOT_FOUND,
            format!("no file {path} in drive {drive}"),
        );
    };
    match tokio::fs::File::open(&blob).await {
        Ok(f) => {
            let mut r = Response::new(file_body(f, size));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            r
        }
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

pub async fn file_put(
    State(shared): State<Arc<Shared>>,
    Path((drive, path)): Path<(String, String)>,
    body: Bytes,
) -> Response<Body> {
    let Some(d) = drive_alias(&shared, &drive) else {
        return err(StatusCode::NOT_FOUND, format!("no drive {drive}"));
    };
    match put_file(&shared, d, &path, &body) {
        Ok(()) => json_response(StatusCode::CREATED, &json!({"ok": true})),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /_emulator/` (and the `verification_uri` page).
pub async fn page(State(shared): State<Arc<Shared>>) -> Response<Body> {
    let inner = shared.lock();
    let now = inner.now_ms();
    let mut rows = String::new();
    for c in inner
        .device_codes
        .iter()
        .filter(|c| c.status == DeviceStatus::Pending && c.expires_ms > now)
    {
        let code = esc(&c.user_code);
        rows.push_str(&format!(
            "<tr><td><code>{code}</code></td><td>{}</td><td>{}</td><td>{}s</td><td>\
             <form method=post action=\"/_emulator/device/approve\"><input type=hidden name=user_code value=\"{code}\">\
             <button>Approve</button></form> \
             <form method=post action=\"/_emulator/device/decline\"><input type=hidden name=user_code value=\"{code}\">\
             <button>Decline</button></form></td></tr>",
            esc(&c.client_id),
            esc(&c.scopes.join(" ")),
            (c.expires_ms - now) / 1000,
        ));
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=5>No sign-in is waiting.</td></tr>");
    }
    let mut files = String::new();
    for d in &inner.drives {
        for item in d.items.values().filter(|i| i.file.is_some()) {
            let size = item.file.as_ref().map(|f| f.size).unwrap_or(0);
            files.push_str(&format!(
                "<tr><td>{}</td><td>/{}</td><td>{size}</td></tr>",
                esc(&d.drive_type),
                esc(&d.path_of(&item.id))
            ));
        }
    }
    let html = format!(
        "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=3>\
         <title>Nuage emulator — device sign-in</title>\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em;text-align:left}}\
         form{{display:inline}}</style></head><body>\
         <h1>Microsoft sign-in (emulated)</h1>\
         <p>Signed-in user: <b>{}</b> ({})</p>\
         <h2>Pending device codes</h2>\
         <table><tr><th>Code</th><th>Client</th><th>Scopes</th><th>Expires in</th><th></th></tr>{rows}</table>\
         <h2>Enter a code</h2>\
         <form method=post action=\"/_emulator/device/approve\"><input name=user_code placeholder=\"code\">\
         <button>Approve</button></form>\
         <h2>Files</h2><table><tr><th>Drive</th><th>Path</th><th>Bytes</th></tr>{files}</table>\
         <p><a href=\"/_emulator/state\">state (JSON)</a></p></body></html>",
        esc(&inner.drives[ME].owner.display_name),
        esc(&inner.drives[ME].owner.upn),
    );
    let mut r = Response::new(Body::from(html));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}
