//! Microsoft Graph v1.0 subset under `/v1.0` (contract §2–§4).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use nuage_graph::QuickXorHash;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::errors::{GResult, GraphError, json_response};
use crate::names::{validate_name, validate_path_len};
use crate::state::{Conflict, FileData, Inner, Item, Principal, Shared};
use crate::upload;
use crate::util::{decode_segment, encode_segment, guid_with, query_pairs, random_from};

/// Most bytes read and discarded from a request body that is refused, so
/// that the client reads the answer instead of a reset connection.
pub const DRAIN_CAP: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveRef {
    Me,
    Id(String),
    User(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Root,
    Id(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Children,
    Content,
    CreateUploadSession,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Me,
    Drive(DriveRef),
    Item {
        drive: DriveRef,
        base: Base,
        /// Decoded path segments after `root:` / `items/{id}:`.
        rel: Vec<String>,
        /// Whether the address used the `:` path syntax.
        by_path: bool,
        action: Action,
    },
    Share(String),
}

fn unsupported(what: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Resource not found for the segment '{what}'."),
    )
}

fn parse_action(s: &str) -> GResult<Action> {
    match s.to_ascii_lowercase().as_str() {
        "children" => Ok(Action::Children),
        "content" => Ok(Action::Content),
        "createuploadsession" => Ok(Action::CreateUploadSession),
        _ => Err(unsupported(s)),
    }
}

/// Parses the raw (still percent-encoded) path after `/v1.0`.
pub fn parse_target(raw: &str) -> GResult<Target> {
    let raw = raw.strip_prefix('/').unwrap_or(raw);
    // `:` separates path addressing; an encoded colon (%3A) never does.
    let (head, tail) = match raw.find(':') {
        Some(i) => (&raw[..i], Some(&raw[i + 1..])),
        None => (raw, None),
    };
    let mut segs = Vec::new();
    for s in head.split('/') {
        if s.is_empty() {
            continue;
        }
        segs.push(
            decode_segment(s).ok_or_else(|| GraphError::bad_request("Invalid URL encoding"))?,
        );
    }
    let seg = |i: usize| segs.get(i).map(|s| s.as_str());
    let lower = |i: usize| seg(i).map(|s| s.to_ascii_lowercase());

    if lower(0).as_deref() == Some("shares") {
        if tail.is_some() || segs.len() != 3 {
            return Err(unsupported(head));
        }
        let what = lower(2).unwrap_or_default();
        if what != "driveitem" && what != "root" {
            return Err(unsupported(seg(2).unwrap_or("")));
        }
        return Ok(Target::Share(segs[1].clone()));
    }

    let (drive, rest) = match (lower(0).as_deref(), lower(1).as_deref()) {
        (Some("me"), None) if tail.is_none() => return Ok(Target::Me),
        (Some("me"), Some("drive")) => (DriveRef::Me, 2),
        (Some("drives"), Some(_)) => (DriveRef::Id(segs[1].clone()), 2),
        (Some("users"), Some(_)) if lower(2).as_deref() == Some("drive") => {
            (DriveRef::User(segs[1].clone()), 3)
        }
        _ => return Err(unsupported(seg(0).unwrap_or(""))),
    };
    let rest = &segs[rest..];
    if rest.is_empty() {
        if tail.is_some() {
            return Err(unsupported(head));
        }
        return Ok(Target::Drive(drive));
    }
    let (base, after) = match rest[0].to_ascii_lowercase().as_str() {
        "root" => (Base::Root, &rest[1..]),
        "items" if rest.len() >= 2 => (Base::Id(rest[1].clone()), &rest[2..]),
        _ => return Err(unsupported(&rest[0])),
    };
    match tail {
        None => {
            let action = match after {
                [] => Action::None,
                [a] => parse_action(a)?,
                _ => return Err(unsupported(&after[1])),
            };
            Ok(Target::Item {
                drive,
                base,
                rel: Vec::new(),
                by_path: false,
                action,
            })
        }
        Some(tail) => {
            if !after.is_empty() {
                return Err(unsupported(&after[0]));
            }
            let (relraw, suffix) = match tail.find(':') {
                Some(i) => (&tail[..i], Some(&tail[i + 1..])),
                None => (tail, None),
            };
            let mut rel = Vec::new();
            let parts: Vec<&str> = relraw.split('/').collect();
            for (i, p) in parts.iter().enumerate() {
                if p.is_empty() {
                    // Leading and trailing slashes are fine, `a//b` is not.
                    if i == 0 || i == parts.len() - 1 {
                        continue;
                    }
                    return Err(GraphError::bad_request("Empty path segment").inner("invalidPath"));
                }
                rel.push(
                    decode_segment(p)
                        .ok_or_else(|| GraphError::bad_request("Invalid URL encoding"))?,
                );
            }
            let action = match suffix {
                None | Some("") | Some("/") => Action::None,
                Some(s) => {
                    let s = s.strip_prefix('/').unwrap_or(s);
                    if s.contains('/') || s.contains(':') {
                        return Err(unsupported(s));
                    }
                    parse_action(&decode_segment(s).unwrap_or_default())?
                }
            };
            Ok(Target::Item {
                drive,
                base,
                rel,
                by_path: true,
                action,
            })
        }
    }
}

/// Where an addressed item is, or would be.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub drive: usize,
    pub existing: Option<String>,
    /// Parent of the existing item, or of the item to create.
    pub parent: Option<String>,
    /// Last path segment (or the existing item's name).
    pub name: String,
    /// Folders to create first (auto_create_parents), outermost first.
    pub missing_parents: Vec<String>,
    /// Whether the address ended in a relative path.
    pub by_path: bool,
}

pub fn drive_of(inner: &Inner, p: &Principal, d: &DriveRef) -> GResult<usize> {
    match d {
        DriveRef::Me => p.user.ok_or_else(|| {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            )
        }),
        DriveRef::Id(id) => inner
            .drive_index(id)
            .ok_or_else(|| GraphError::not_found("The resource could not be found.")),
        DriveRef::User(u) => inner
            .drives
            .iter()
            .position(|d| d.owner.id.eq_ignore_ascii_case(u) || d.owner.upn.eq_ignore_ascii_case(u))
            .ok_or_else(|| GraphError::not_found("The user could not be found.")),
    }
}

pub fn resolve(
    inner: &Inner,
    drive: usize,
    base: &Base,
    rel: &[String],
    create_parents: bool,
) -> GResult<Resolved> {
    let d = &inner.drives[drive];
    let base_id = match base {
        Base::Root => d.root_id.clone(),
        Base::Id(id) => d
            .item(id)
            .ok_or_else(GraphError::item_not_found)?
            .id
            .clone(),
    };
    if !rel.is_empty() {
        let prefix = d.path_of(&base_id);
        let full = if prefix.is_empty() {
            rel.join("/")
        } else {
            format!("{prefix}/{}", rel.join("/"))
        };
        validate_path_len(&full)?;
    }
    let Some((last, dirs)) = rel.split_last() else {
        let item = d.item(&base_id).ok_or_else(GraphError::item_not_found)?;
        return Ok(Resolved {
            drive,
            existing: Some(base_id),
            parent: item.parent.clone(),
            name: item.name.clone(),
            missing_parents: Vec::new(),
            by_path: false,
        });
    };
    let mut cur = base_id;
    let mut missing = Vec::new();
    for seg in dirs {
        if !missing.is_empty() {
            missing.push(seg.clone());
            continue;
        }
        match d.child_by_name(&cur, seg) {
            Some(c) if c.is_folder() => cur = c.id.clone(),
            Some(_) => return Err(GraphError::item_not_found()),
            None if create_parents => missing.push(seg.clone()),
            None => return Err(GraphError::item_not_found()),
        }
    }
    let existing = if missing.is_empty() {
        d.child_by_name(&cur, last).map(|i| i.id.clone())
    } else {
        None
    };
    Ok(Resolved {
        drive,
        name: existing
            .as_ref()
            .and_then(|e| d.item(e))
            .map(|i| i.name.clone())
            .unwrap_or_else(|| last.clone()),
        existing,
        parent: Some(cur),
        missing_parents: missing,
        by_path: true,
    })
}

impl Resolved {
    /// The item whose access rights decide (the existing item, else the
    /// nearest existing parent).
    pub fn anchor(&self) -> &str {
        self.existing
            .as_deref()
            .or(self.parent.as_deref())
            .unwrap_or("")
    }
}

/// Creates the missing parent folders of `r` (names already validated).
pub fn create_missing_parents(inner: &mut Inner, r: &mut Resolved) -> GResult<()> {
    for name in std::mem::take(&mut r.missing_parents) {
        let parent = r.parent.clone().unwrap_or_default();
        let id = new_item(inner, r.drive, &parent, &name, None);
        r.parent = Some(id);
    }
    Ok(())
}

/// Inserts a new item and returns its id.
pub fn new_item(
    inner: &mut Inner,
    drive: usize,
    parent: &str,
    name: &str,
    file: Option<FileData>,
) -> String {
    let now = inner.now_ms();
    let Inner { drives, rng, .. } = inner;
    let d = &mut drives[drive];
    let id = d.new_item_id(rng);
    d.items.insert(
        id.clone(),
        Item {
            id: id.clone(),
            name: name.into(),
            parent: Some(parent.into()),
            created_ms: now,
            modified_ms: now,
            fs_modified_ms: now,
            version: 1,
            guid: guid_with(rng),
            file,
        },
    );
    if let Some(p) = d.items.get_mut(parent) {
        p.modified_ms = now;
        p.version += 1;
    }
    id
}

/// Validates the names an operation would create under `r`.
pub fn validate_new_names(inner: &Inner, r: &Resolved, leaf_is_folder: bool) -> GResult<()> {
    let d = &inner.drives[r.drive];
    let lib = d.drive_type == "documentLibrary";
    let mut at_root = r.parent.as_deref() == Some(d.root_id.as_str());
    for m in &r.missing_parents {
        validate_name(m, true, lib && at_root)?;
        at_root = false;
    }
    validate_name(&r.name, leaf_is_folder, lib && at_root)
}

pub fn mime_for(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("json") => "application/json",
        Some("txt") | Some("log") => "text/plain",
        Some("zst") => "application/zstd",
        Some("gz") => "application/x-gzip",
        Some("zip") => "application/x-zip-compressed",
        Some("db") | Some("sqlite") => "application/octet-stream",
        Some("png") => "image/png",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// `If-Match` against an existing item → 412 `resourceModified`.
pub fn check_if_match(headers: &HeaderMap, item: &Item) -> GResult<()> {
    if let Some(v) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if v != "*" && v != item.etag() && v != item.ctag() {
            return Err(GraphError::new(
                StatusCode::PRECONDITION_FAILED,
                "resourceModified",
                "ETag does not match current item's value",
            ));
        }
    }
    Ok(())
}

/// Reads and discards up to `DRAIN_CAP` bytes of a body.
pub async fn drain(body: Body) {
    let mut s = body.into_data_stream();
    let mut n = 0u64;
    while let Some(Ok(chunk)) = s.next().await {
        n += chunk.len() as u64;
        if n > DRAIN_CAP {
            break;
        }
    }
}

/// Reads a (small) JSON body; empty → `Value::Null`.
pub async fn read_json(body: Body) -> GResult<Value> {
    let bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .map_err(|_| GraphError::bad_request("Request body too large or unreadable"))?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| GraphError::bad_request(format!("Invalid JSON in request body: {e}")))
}

fn conflict_from(v: &Value) -> GResult<Option<Conflict>> {
    for key in [
        "@microsoft.graph.conflictBehavior",
        "@name.conflictBehavior",
    ] {
        if let Some(c) = v.get(key) {
            let s = c
                .as_str()
                .ok_or_else(|| GraphError::bad_request(format!("{key} must be a string")))?;
            return Conflict::parse(s).map(Some);
        }
    }
    Ok(None)
}

fn apply_select(v: Value, select: Option<&str>) -> Value {
    let (Some(sel), Value::Object(map)) = (select, &v) else {
        return v;
    };
    let wanted: Vec<String> = sel
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let out: serde_json::Map<String, Value> = map
        .iter()
        .filter(|(k, _)| wanted.contains(&k.to_ascii_lowercase()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(out)
}

/// `ANY /v1.0/*`
pub async fn graph(State(shared): State<Arc<Shared>>, req: Request) -> Response<Body> {
    match graph_inner(&shared, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn graph_inner(shared: &Arc<Shared>, req: Request) -> GResult<Response<Body>> {
    let (parts, body) = req.into_parts();
    let raw = parts.uri.path().strip_prefix("/v1.0").unwrap_or("");
    let query = query_pairs(parts.uri.query());
    let principal = {
        let inner = shared.lock();
        inner.authenticate(&parts.headers)
    };
    let principal = match principal {
        Ok(p) => p,
        Err(e) => {
            drain(body).await;
            return Err(e);
        }
    };
    let target = match parse_target(raw) {
        Ok(t) => t,
        Err(e) => {
            drain(body).await;
            return Err(e);
        }
    };
    let m = &parts.method;
    match target {
        Target::Me => {
            if *m != Method::GET {
                return Err(method_not_allowed());
            }
            get_me(shared, &principal)
        }
        Target::Drive(d) => {
            if *m != Method::GET {
                return Err(method_not_allowed());
            }
            get_drive(shared, &principal, &d)
        }
        Target::Share(sid) => {
            if *m != Method::GET {
                return Err(method_not_allowed());
            }
            get_share(shared, &principal, &sid, &query)
        }
        Target::Item {
            drive,
            base,
            rel,
            by_path,
            action,
        } => {
            let addr = Address {
                drive,
                base,
                rel,
                by_path,
            };
            match (m.clone(), action) {
                (Method::GET, Action::None) => get_item(shared, &principal, &addr, &query),
                (Method::DELETE, Action::None) => {
                    delete_item(shared, &principal, &addr, &parts.headers)
                }
                (Method::PATCH, Action::None) => {
                    update_item(shared, &principal, &addr, &parts.headers, body).await
                }
                (Method::PUT, Action::None) => {
                    upload::commit_from_source_url(shared, &principal, &addr, body).await
                }
                (Method::GET, Action::Children) => list_children(shared, &principal, &addr, &query),
                (Method::POST, Action::Children) => {
                    create_folder(shared, &principal, &addr, body).await
                }
                (Method::GET, Action::Content) => {
                    download(shared, &principal, &addr, &parts.headers)
                }
                (Method::PUT, Action::Content) => {
                    simple_upload(shared, &principal, &addr, &parts.headers, &query, body).await
                }
                (Method::POST, Action::CreateUploadSession) => {
                    upload::create_session(shared, &principal, &addr, &parts.headers, body).await
                }
                _ => {
                    drain(body).await;
                    Err(method_not_allowed())
                }
            }
        }
    }
}

fn method_not_allowed() -> GraphError {
    GraphError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalidRequest",
        "The HTTP method is not allowed on this resource.",
    )
}

/// An item address from the URL.
#[derive(Debug, Clone)]
pub struct Address {
    pub drive: DriveRef,
    pub base: Base,
    pub rel: Vec<String>,
    pub by_path: bool,
}

impl Address {
    pub fn resolve(&self, inner: &Inner, p: &Principal, create_parents: bool) -> GResult<Resolved> {
        let drive = drive_of(inner, p, &self.drive)?;
        let mut r = resolve(inner, drive, &self.base, &self.rel, create_parents)?;
        r.by_path = self.by_path && !self.rel.is_empty();
        Ok(r)
    }
}

fn get_me(shared: &Shared, p: &Principal) -> GResult<Response<Body>> {
    let Some(user) = p.user else {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        ));
    };
    if !p.has("User.Read") && !p.has("User.ReadBasic.All") {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    let inner = shared.lock();
    let mut v = inner.drives[user].owner.json();
    v["@odata.context"] = json!(format!("{}/$metadata#users/$entity", shared.graph_url()));
    Ok(json_response(StatusCode::OK, &v))
}

fn get_drive(shared: &Shared, p: &Principal, d: &DriveRef) -> GResult<Response<Body>> {
    let inner = shared.lock();
    let drive = drive_of(&inner, p, d)?;
    let root = inner.drives[drive].root_id.clone();
    if p.user.is_some_and(|u| u != drive) {
        // Another user's drive: visible only through something shared in it.
        if !p.can_read_files() || !inner.shares.iter().any(|s| s.drive == drive) {
            return Err(GraphError::access_denied("Access denied"));
        }
    } else {
        inner.check_access(p, drive, &root, false)?;
    }
    let mut v = inner.drives[drive].json();
    v["@odata.context"] = json!(format!("{}/$metadata#drives/$entity", shared.graph_url()));
    Ok(json_response(StatusCode::OK, &v))
}

fn get_item(
    shared: &Shared,
    p: &Principal,
    addr: &Address,
    query: &[(String, String)],
) -> GResult<Response<Body>> {
    let mut inner = shared.lock();
    let r = addr.resolve(&inner, p, false)?;
    let id = r.existing.clone().ok_or_else(GraphError::item_not_found)?;
    inner.check_access(p, r.drive, &id, false)?;
    let v = inner.item_json(shared, r.drive, &id);
    let select = query
        .iter()
        .find(|(k, _)| k == "$select")
        .map(|(_, v)| v.as_str());
    Ok(json_response(StatusCode::OK, &apply_select(v, select)))
}

fn delete_item(
    shared: &Shared,
    p: &Principal,
    addr: &Address,
    headers: &HeaderMap,
) -> GResult<Response<Body>> {
    let mut inner = shared.lock();
    let r = addr.resolve(&inner, p, false)?;
    let id = r.existing.clone().ok_or_else(GraphError::item_not_found)?;
    inner.check_access(p, r.drive, &id, true)?;
    let d = &inner.drives[r.drive];
    if id == d.root_id {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "notAllowed",
            "The root folder cannot be deleted.",
        ));
    }
    if let Some(item) = d.item(&id) {
        check_if_match(headers, item)?;
    }
    let parent = r.parent.clone();
    let now = inner.now_ms();
    let d = &mut inner.drives[r.drive];
    let blobs = d.remove_subtree(&id);
    if let Some(p) = parent.and_then(|p| d.items.get_mut(&p)) {
        p.modified_ms = now;
        p.version += 1;
    }
    shared.save(&inner);
    drop(inner);
    shared.remove_blobs(blobs);
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

/// `PATCH` an item: rename it and/or move it under another folder of the
/// same drive (Graph's "update" and "move" are this one request). A name
/// taken at the target is `409 nameAlreadyExists` (moves do not replace);
/// another drive, the root, or a folder into its own subtree are refused.
async fn update_item(
    shared: &Shared,
    p: &Principal,
    addr: &Address,
    headers: &HeaderMap,
    body: Body,
) -> GResult<Response<Body>> {
    let v = read_json(body).await?;
    let Some(obj) = v.as_object() else {
        return Err(GraphError::bad_request("A JSON object is required"));
    };
    let new_name = match obj.get("name") {
        None => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(GraphError::bad_request("Property 'name' must be a string")),
    };
    let new_parent = match obj.get("parentReference") {
        None => None,
        Some(Value::Object(r)) => {
            let id = r
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| GraphError::bad_request("parentReference needs an 'id'"))?;
            Some((
                id.to_string(),
                r.get("driveId").and_then(Value::as_str).map(str::to_string),
            ))
        }
        Some(_) => return Err(GraphError::bad_request("parentReference must be an object")),
    };
    let mut inner = shared.lock();
    let r = addr.resolve(&inner, p, false)?;
    let id = r.existing.clone().ok_or_else(GraphError::item_not_found)?;
    inner.check_access(p, r.drive, &id, true)?;
    let d = &inner.drives[r.drive];
    let item = d.item(&id).ok_or_else(GraphError::item_not_found)?.clone();
    check_if_match(headers, &item)?;
    if item.parent.is_none() {
        return Err(GraphError::bad_request(
            "The root folder cannot be renamed or moved",
        ));
    }
    let old_parent = item.parent.clone().unwrap_or_default();
    let parent = match &new_parent {
        None => old_parent.clone(),
        Some((pid, drive_id)) => {
            if drive_id
                .as_deref()
                .is_some_and(|x| !x.eq_ignore_ascii_case(&d.id))
            {
                return Err(GraphError::bad_request(
                    "Items cannot be moved between drives with this request",
                ));
            }
            let target = d.item(pid).ok_or_else(GraphError::item_not_found)?;
            if !target.is_folder() {
                return Err(GraphError::bad_request("The new parent is not a folder"));
            }
            if d.is_within(&target.id, &item.id) {
                return Err(GraphError::bad_request(
                    "A folder cannot be moved into itself or one of its subfolders",
                ));
            }
            target.id.clone()
        }
    };
    inner.check_access(p, r.drive, &parent, true)?;
    let d = &inner.drives[r.drive];
    let name = new_name.unwrap_or_else(|| item.name.clone());
    let at_library_root = d.drive_type == "documentLibrary" && parent == d.root_id;
    validate_name(&name, item.is_folder(), at_library_root)?;
    if let Some(other) = d.child_by_name(&parent, &name)
        && other.id != item.id
    {
        return Err(GraphError::name_exists(&name));
    }
    // The longest path that will exist under the new place.
    let prefix = d.path_of(&parent);
    let base = if prefix.is_empty() {
        name.clone()
    } else {
        format!("{prefix}/{name}")
    };
    let old_base = d.path_of(&item.id);
    let deepest = d
        .items
        .values()
        .filter(|i| d.is_within(&i.id, &item.id))
        .map(|i| d.path_of(&i.id).len() - old_base.len())
        .max()
        .unwrap_or(0);
    validate_path_len(&format!("{base}{}", "x".repeat(deepest)))?;
    let now = inner.now_ms();
    let d = &mut inner.drives[r.drive];
    if let Some(it) = d.items.get_mut(&item.id) {
        it.name = name;
        it.parent = Some(parent.clone());
        it.modified_ms = now;
        it.version += 1;
    }
    for pid in [old_parent, parent] {
        if let Some(pi) = d.items.get_mut(&pid) {
            pi.modified_ms = now;
            pi.version += 1;
        }
    }
    let body = inner.item_json(shared, r.drive, &item.id);
    shared.save(&inner);
    Ok(json_response(StatusCode::OK, &body))
}

fn skiptoken(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("nuage-emulator:{offset}"))
}

fn parse_skiptoken(t: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("nuage-emulator:")?
        .parse()
        .ok()
}

/// Default page size of `children` (contract §3.4).
const DEFAULT_PAGE: usize = 200;
const MAX_PAGE: usize = 1000;

fn list_children(
    shared: &Shared,
    p: &Principal,
    addr: &Address,
    query: &[(String, String)],
) -> GResult<Response<Body>> {
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    let top = match get("$top") {
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(GraphError::bad_request(format!(
                    "Invalid $top value '{t}': expected 1 to {MAX_PAGE}"
                )));
            }
        },
        None => DEFAULT_PAGE,
    };
    let offset = match get("$skiptoken") {
        Some(t) => {
            parse_skiptoken(t).ok_or_else(|| GraphError::bad_request("Invalid $skiptoken"))?
        }
        None => 0,
    };
    let select = get("$select");
    let mut inner = shared.lock();
    let r = addr.resolve(&inner, p, false)?;
    let id = r.existing.clone().ok_or_else(GraphError::item_not_found)?;
    inner.check_access(p, r.drive, &id, false)?;
    let d = &inner.drives[r.drive];
    if !d.item(&id).is_some_and(|i| i.is_folder()) {
        return Err(GraphError::bad_request("The item is not a folder"));
    }
    let children: Vec<String> = d.children(&id).iter().map(|i| i.id.clone()).collect();
    let drive_id = d.id.clone();
    let page: Vec<Value> = children
        .iter()
        .skip(offset)
        .take(top)
        .map(|c| apply_select(inner.item_json(shared, r.drive, c), select))
        .collect();
    let mut v = json!({
        "@odata.context": format!("{}/$metadata#drives('{}')/items('{}')/children",
                                  shared.graph_url(), drive_id, id),
        "value": page,
    });
    if offset + top < children.len() {
        let mut link = format!(
            "{}/drives/{}/items/{}/children?$top={top}&$skiptoken={}",
            shared.graph_url(),
            encode_segment(&drive_id),
            encode_segment(&id),
            skiptoken(offset + top)
        );
        if let Some(s) = select {
            link.push_str("&$select=");
            link.push_str(&encode_segment(s));
        }
        v["@odata.nextLink"] = json!(link);
    }
    Ok(json_response(StatusCode::OK, &v))
}

async fn create_folder(
    shared: &Shared,
    p: &Principal,
    addr: &Address,
    body: Body,
) -> GResult<Response<Body>> {
    let v = read_json(body).await?;
    if !v.is_object() {
        return Err(GraphError::bad_request("A JSON object is required"));
    }
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("Property 'name' is required"))?
        .to_string();
    if v.get("file").is_some() {
        return Err(GraphError::bad_request(
            "Files cannot be created with POST children; upload content instead",
        ));
    }
    if !v.get("folder").is_some_and(Value::is_object) {
        return Err(GraphError::bad_request(
            "The 'folder' facet is required to create a folder",
        ));
    }
    // Contract §3.6: default `fail` [unconfirmed in Graph docs].
    let conflict = conflict_from(&v)?.unwrap_or(Conflict::Fail);

    let mut inner = shared.lock();
    let pr = addr.resolve(&inner, p, false)?;
    let parent = pr.existing.clone().ok_or_else(GraphError::item_not_found)?;
    inner.check_access(p, pr.drive, &parent, true)?;
    let d = &inner.drives[pr.drive];
    if !d.item(&parent).is_some_and(|i| i.is_folder()) {
        return Err(GraphError::bad_request("The parent item is not a folder"));
    }
    let r = Resolved {
        drive: pr.drive,
        existing: None,
        parent: Some(parent.clone()),
        name: name.clone(),
        missing_parents: Vec::new(),
        by_path: false,
    };
    validate_new_names(&inner, &r, true)?;
    let prefix = d.path_of(&parent);
    validate_path_len(&if prefix.is_empty() {
        name.clone()
    } else {
        format!("{prefix}/{name}")
    })?;
    let mut final_name = name.clone();
    let mut blobs = Vec::new();
    if let Some(existing) = d.child_by_name(&parent, &name).map(|i| i.id.clone()) {
        match conflict {
            Conflict::Fail => return Err(GraphError::name_exists(&name)),
            Conflict::Rename => final_name = d.free_name(&parent, &name, true),
            Conflict::Replace => blobs = inner.drives[pr.drive].remove_subtree(&existing),
        }
    }
    let id = new_item(&mut inner, pr.drive, &parent, &final_name, None);
    let body = inner.item_json(shared, pr.drive, &id);
    shared.save(&inner);
    drop(inner);
    shared.remove_blobs(blobs);
    Ok(json_response(StatusCode::CREATED, &body))
}

fn download(
    shared: &Shared,
    p: &Principal,
    addr: &Address,
    headers: &HeaderMap,
) -> GResult<Response<Body>> {
    let mut inner = shared.lock();
    let r = addr.resolve(&inner, p, false)?;
    let id = r.existing.clone().ok_or_else(GraphError::item_not_found)?;
    inner.check_access(p, r.drive, &id, false)?;
    let item = inner.drives[r.drive]
        .item(&id)
        .ok_or_else(GraphError::item_not_found)?;
    if item.is_folder() {
        return Err(GraphError::bad_request(
            "A folder has no content to download",
        ));
    }
    if let Some(v) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        && (v.trim() == item.etag() || v.trim() == item.ctag())
    {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(resp);
    }
    let url = inner
        .download_url(shared, r.drive, &id)
        .ok_or_else(GraphError::item_not_found)?;
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::FOUND;
    resp.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&url).map_err(|_| GraphError::bad_request("bad url"))?,
    );
    Ok(resp)
}

/// What a write of content should do, decided before the body is read.
struct WritePlan {
    r: Resolved,
    conflict: Conflict,
}

/// Decides where content goes (shared by simple upload and upload sessions).
fn plan_write(
    inner: &Inner,
    cfg_create_parents: bool,
    p: &Principal,
    addr: &Address,
    headers: &HeaderMap,
    conflict: Conflict,
) -> GResult<WritePlan> {
    let r = addr.resolve(inner, p, cfg_create_parents)?;
    inner.check_access(p, r.drive, r.anchor(), true)?;
    let d = &inner.drives[r.drive];
    match &r.existing {
        Some(id) => {
            let item = d.item(id).ok_or_else(GraphError::item_not_found)?;
            check_if_match(headers, item)?;
            if item.is_folder() {
                if !r.by_path {
                    return Err(GraphError::bad_request(
                        "Name from path does not match name from body: the addressed item is a folder",
                    ));
                }
                if conflict != Conflict::Rename {
                    return Err(GraphError::name_exists(&r.name));
                }
            } else if r.by_path && conflict == Conflict::Fail {
                return Err(GraphError::name_exists(&r.name));
            }
        }
        None => {
            if headers
                .get(header::IF_MATCH)
                .is_some_and(|v| v.as_bytes() != b"*")
            {
                return Err(GraphError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "resourceModified",
                    "ETag does not match current item's value",
                ));
            }
            validate_new_names(inner, &r, false)?;
        }
    }
    Ok(WritePlan { r, conflict })
}

/// Simple upload (contract §3.7).
///
/// Size limit: the contract (§3.7) records that Graph v1.0 docs now allow
/// 250 MB, while the OneDrive docs and every client studied (rclone
/// `maxSinglePartSize`, abraunegg `sessionThresholdFileSize`) use 4 MiB. The
/// emulator enforces the strict 4 MiB (configurable) and answers 413 above
/// it (contract §6: the exact status above the limit is unconfirmed), so
/// that a client which switches to upload sessions at 4 MiB works against
/// every real service.
async fn simple_upload(
    shared: &Shared,
    p: &Principal,
    addr: &Address,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: Body,
) -> GResult<Response<Body>> {
    let limit = shared.config.simple_upload_limit;
    let too_large = || {
        GraphError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalidRequest",
            format!("The request is too large for a simple upload (limit {limit} bytes); use an upload session"),
        )
        .inner("requestTooLarge")
    };
    // Query default: replace (contract §3.7).
    let conflict = match query
        .iter()
        .find(|(k, _)| k == "@microsoft.graph.conflictBehavior" || k == "@name.conflictBehavior")
    {
        Some((_, v)) => Conflict::parse(v),
        None => Ok(Conflict::Replace),
    };
    let plan = conflict.and_then(|c| {
        let inner = shared.lock();
        plan_write(
            &inner,
            shared.config.auto_create_parents,
            p,
            addr,
            headers,
            c,
        )
    });
    let plan = match plan {
        Ok(plan) => plan,
        Err(e) => {
            drain(body).await;
            return Err(e);
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        drain(body).await;
        return Err(too_large());
    }
    // Spool the body to a file while hashing it.
    let tmp = shared.tmp_dir.join(format!(
        "put-{}",
        random_from(&mut fastrand::Rng::new(), crate::util::ALNUM, 20)
    ));
    let guard = TmpFile(tmp.clone());
    let mut file = tokio::fs::File::create(&tmp).await.map_err(internal)?;
    let mut hash = QuickXorHash::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| GraphError::bad_request("The request body could not be read"))?;
        size += chunk.len() as u64;
        if size > limit {
            drain(Body::from_stream(stream)).await;
            return Err(too_large());
        }
        hash.update(&chunk);
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    drop(file);

    let mut inner = shared.lock();
    // Re-plan: the drive may have changed while the body was read.
    let WritePlan { mut r, conflict } = plan_write(
        &inner,
        shared.config.auto_create_parents,
        p,
        addr,
        headers,
        plan.conflict,
    )?;
    let file = FileData {
        size,
        blob: String::new(),
        quick_xor: hash.to_base64(),
        mime: mime_for(&r.name).to_string(),
    };
    let (status, id, old_blob) =
        store_file(shared, &mut inner, &mut r, conflict, None, file, &tmp)?;
    guard.disarm();
    let v = inner.item_json(shared, r.drive, &id);
    shared.save(&inner);
    drop(inner);
    shared.remove_blobs(old_blob.into_iter().collect());
    Ok(json_response(status, &v))
}

pub fn internal(e: impl std::fmt::Display) -> GraphError {
    GraphError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "generalException",
        format!("An internal error occurred: {e}"),
    )
}

/// Removes a spool file unless disarmed.
pub struct TmpFile(pub std::path::PathBuf);

impl TmpFile {
    pub fn disarm(mut self) {
        // An empty path: the drop below removes nothing.
        self.0 = std::path::PathBuf::new();
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Stores spooled content at `r` (new file, replacement, or renamed copy):
/// quota check, parents, blob move. Returns the status (201 new, 200
/// replaced), the item id and the replaced blob to delete.
pub fn store_file(
    shared: &Shared,
    inner: &mut Inner,
    r: &mut Resolved,
    conflict: Conflict,
    fs_modified_ms: Option<i64>,
    mut file: FileData,
    spool: &std::path::Path,
) -> GResult<(StatusCode, String, Option<String>)> {
    let d = &inner.drives[r.drive];
    // Which existing file gets replaced, if any.
    let mut replace: Option<String> = None;
    let mut name = r.name.clone();
    if let Some(id) = &r.existing {
        let item = d.item(id).ok_or_else(GraphError::item_not_found)?;
        match (item.is_folder(), conflict) {
            (_, Conflict::Rename) if r.by_path => {
                let parent = r.parent.clone().unwrap_or_default();
                name = d.free_name(&parent, &r.name, false);
            }
            (true, _) => return Err(GraphError::name_exists(&r.name)),
            (false, Conflict::Fail) if r.by_path => return Err(GraphError::name_exists(&r.name)),
            (false, _) => replace = Some(id.clone()),
        }
    }
    let replaced_size = replace
        .as_ref()
        .and_then(|id| d.item(id))
        .and_then(|i| i.file.as_ref().map(|f| f.size))
        .unwrap_or(0);
    if d.used() - replaced_size + file.size > d.quota_total {
        return Err(GraphError::quota());
    }
    let blob = random_from(&mut inner.rng, crate::util::ALNUM, 32);
    std::fs::rename(spool, shared.blob_path(&blob)).map_err(internal)?;
    file.blob = blob;
    let now = inner.now_ms();
    match replace {
        Some(id) => {
            let d = &mut inner.drives[r.drive];
            let item = d
                .items
                .get_mut(&id)
                .ok_or_else(GraphError::item_not_found)?;
            let old = item.file.replace(file).map(|f| f.blob);
            item.version += 1;
            item.modified_ms = now;
            item.fs_modified_ms = fs_modified_ms.unwrap_or(now);
            Ok((StatusCode::OK, id, old))
        }
        None => {
            create_missing_parents(inner, r)?;
            let parent = r.parent.clone().unwrap_or_default();
            let id = new_item(inner, r.drive, &parent, &name, Some(file));
            if let Some(ms) = fs_modified_ms
                && let Some(item) = inner.drives[r.drive].items.get_mut(&id)
            {
                item.fs_modified_ms = ms;
            }
            Ok((StatusCode::CREATED, id, None))
        }
    }
}

fn get_share(
    shared: &Shared,
    p: &Principal,
    sid: &str,
    query: &[(String, String)],
) -> GResult<Response<Body>> {
    let Some(enc) = sid.strip_prefix("u!") else {
        return Err(GraphError::bad_request(
            "Invalid sharing token: expected u!{base64url}",
        ));
    };
    let url = URL_SAFE_NO_PAD
        .decode(enc.trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| GraphError::bad_request("Invalid sharing token: bad base64url"))?;
    if !p.can_read_files() {
        return Err(GraphError::access_denied(
            "Access denied: a Files.* permission is needed",
        ));
    }
    let mut inner = shared.lock();
    let Some(share) = inner.shares.iter().find(|s| s.url == url).cloned() else {
        return Err(GraphError::not_found("The sharing link could not be found"));
    };
    let v = inner.item_json(shared, share.drive, &share.item_id);
    if v.is_null() {
        return Err(GraphError::item_not_found());
    }
    let select = query
        .iter()
        .find(|(k, _)| k == "$select")
        .map(|(_, v)| v.as_str());
    Ok(json_response(StatusCode::OK, &apply_select(v, select)))
}

/// Encodes a sharing URL as `u!{base64url}` (contract §3.9).
pub fn encode_share_url(url: &str) -> String {
    format!("u!{}", URL_SAFE_NO_PAD.encode(url.as_bytes()))
}

/// The body reader used for file bodies (downloads and raw file access).
pub fn file_body(file: tokio::fs::File, len: u64) -> Body {
    use tokio::io::AsyncReadExt;
    let stream = futures_util::stream::unfold((file, len), |(mut f, rem)| async move {
        if rem == 0 {
            return None;
        }
        let mut buf = vec![0u8; rem.min(256 * 1024) as usize];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<Bytes, std::io::Error>(Bytes::from(buf)),
                    (f, rem - n as u64),
                ))
            }
            Err(e) => Some((Err(e), (f, 0))),
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(drive: DriveRef, base: Base, rel: &[&str], by_path: bool, action: Action) -> Target {
        Target::Item {
            drive,
            base,
            rel: rel.iter().map(|s| s.to_string()).collect(),
            by_path,
            action,
        }
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("/me").unwrap(), Target::Me);
        assert_eq!(
            parse_target("/me/drive").unwrap(),
            Target::Drive(DriveRef::Me)
        );
        assert_eq!(
            parse_target("/drives/b!x-y").unwrap(),
            Target::Drive(DriveRef::Id("b!x-y".into()))
        );
        assert_eq!(
            parse_target("/me/drive/root:/a%20b/c+d.json").unwrap(),
            item(
                DriveRef::Me,
                Base::Root,
                &["a b", "c+d.json"],
                true,
                Action::None
            )
        );
        assert_eq!(
            parse_target("/me/drive/root:/a/b:").unwrap(),
            item(DriveRef::Me, Base::Root, &["a", "b"], true, Action::None)
        );
        assert_eq!(
            parse_target("/me/drive/root:/a/b%3Ac:/content").unwrap(),
            item(
                DriveRef::Me,
                Base::Root,
                &["a", "b:c"],
                true,
                Action::Content
            )
        );
        assert_eq!(
            parse_target("/drives/D/items/X!1:/big.bin:/createUploadSession").unwrap(),
            item(
                DriveRef::Id("D".into()),
                Base::Id("X!1".into()),
                &["big.bin"],
                true,
                Action::CreateUploadSession
            )
        );
        assert_eq!(
            parse_target("/me/drive/items/X/children").unwrap(),
            item(
                DriveRef::Me,
                Base::Id("X".into()),
                &[],
                false,
                Action::Children
            )
        );
        assert_eq!(
            parse_target("/me/drive/root/children").unwrap(),
            item(DriveRef::Me, Base::Root, &[], false, Action::Children)
        );
        assert_eq!(
            parse_target("/shares/u!abc/driveItem").unwrap(),
            Target::Share("u!abc".into())
        );
        assert!(parse_target("/me/drive/root:/a//b").is_err());
        assert!(parse_target("/me/drive/bogus").is_err());
        assert!(parse_target("/me/drive/root:/a:/nope").is_err());
    }

    #[test]
    fn skiptokens() {
        assert_eq!(parse_skiptoken(&skiptoken(42)), Some(42));
        assert_eq!(parse_skiptoken("garbage"), None);
    }
}
