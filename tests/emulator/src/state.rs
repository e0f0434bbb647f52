//! The emulator's state: users, drives and items, tokens, device codes,
//! upload sessions, download tickets, faults and counters; persistence.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use axum::http::HeaderMap;
use nuage_graph::QuickXorHash;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{Config, FaultSpec, UserConfig};
use crate::errors::{GResult, GraphError};
use crate::util::{HEX, TOKEN_CHARS, guid_with, iso, now_ms, random_from};

/// Index of the signed-in user (and of their personal drive).
pub const ME: usize = 0;
/// Index of the other user (and of their business drive).
pub const OTHER: usize = 1;

/// State shared by all request handlers.
pub struct Shared {
    pub config: Config,
    pub base_url: String,
    pub inner: Mutex<Inner>,
    /// Finished files, one blob file each.
    pub blob_dir: PathBuf,
    /// Upload-session and simple-upload spool files (same file system as
    /// `blob_dir`, so that committing is a rename).
    pub tmp_dir: PathBuf,
    index_path: Option<PathBuf>,
    _temp: Option<tempfile::TempDir>,
}

impl Shared {
    pub fn new(config: Config, base_url: String) -> anyhow::Result<Shared> {
        let (root, temp, index_path) = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating data folder {}", dir.display()))?;
                (dir.clone(), None, Some(dir.join("index.json")))
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("nuage-emulator-")
                    .tempdir()
                    .context("creating a temporary folder")?;
                (t.path().to_path_buf(), Some(t), None)
            }
        };
        let blob_dir = root.join("blobs");
        let tmp_dir = root.join("tmp");
        std::fs::create_dir_all(&blob_dir)?;
        // Spool files of a previous run are worthless (sessions are not kept).
        let _ = std::fs::remove_dir_all(&tmp_dir);
        std::fs::create_dir_all(&tmp_dir)?;

        let mut rng = match config.seed {
            Some(s) => fastrand::Rng::with_seed(s),
            None => fastrand::Rng::new(),
        };
        let persisted = match &index_path {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                Some(
                    serde_json::from_str::<Persisted>(&text)
                        .with_context(|| format!("parsing {}", p.display()))?,
                )
            }
            _ => None,
        };
        let mut inner = match persisted {
            Some(p) => Inner::from_persisted(p, rng),
            None => {
                let drives = vec![
                    Drive::new_personal(&mut rng, &config.user, config.personal_quota_total),
                    Drive::new_business(&mut rng, &config.other_user, config.business_quota_total),
                ];
                Inner::new(drives, rng)
            }
        };
        // Configured quotas win over persisted ones.
        inner.drives[ME].quota_total = config.personal_quota_total;
        inner.drives[OTHER].quota_total = config.business_quota_total;
        for f in &config.faults {
            f.validate()
                .map_err(|e| anyhow::anyhow!("fault {f:?}: {e}"))?;
            inner.arm_fault(f.clone());
        }
        let shared = Shared {
            config,
            base_url,
            inner: Mutex::new(inner),
            blob_dir,
            tmp_dir,
            index_path,
            _temp: temp,
        };
        {
            let inner = shared.lock();
            shared.gc_blobs(&inner);
            shared.save(&inner);
        }
        Ok(shared)
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.base_url)
    }

    pub fn blob_path(&self, blob: &str) -> PathBuf {
        self.blob_dir.join(blob)
    }

    /// Writes the JSON index (when persisting). Called after each mutation.
    pub fn save(&self, inner: &Inner) {
        let Some(path) = &self.index_path else { return };
        let p = Persisted {
            version: 1,
            drives: inner.drives.clone(),
            shares: inner.shares.clone(),
            access_tokens: inner.access_tokens.clone(),
            refresh_tokens: inner.refresh_tokens.clone(),
        };
        let tmp = path.with_extension("json.tmp");
        let result = serde_json::to_vec_pretty(&p)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = result {
            tracing::error!("cannot persist the emulator index {}: {e}", path.display());
        }
    }

    /// Deletes blob files that no item references (left by a crash).
    fn gc_blobs(&self, inner: &Inner) {
        let used: HashSet<&str> = inner
            .drives
            .iter()
            .flat_map(|d| d.items.values())
            .filter_map(|i| i.file.as_ref().map(|f| f.blob.as_str()))
            .collect();
        if let Ok(rd) = std::fs::read_dir(&self.blob_dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !used.contains(name.as_str()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// Removes blob files (after the index no longer references them).
    pub fn remove_blobs(&self, blobs: Vec<String>) {
        for b in blobs {
            let _ = std::fs::remove_file(self.blob_path(&b));
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Persisted {
    version: u32,
    drives: Vec<Drive>,
    shares: Vec<Share>,
    access_tokens: HashMap<String, AccessToken>,
    refresh_tokens: HashMap<String, RefreshToken>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub display_name: String,
    pub upn: String,
}

impl User {
    pub fn json(&self) -> Value {
        json!({"id": self.id, "displayName": self.display_name,
               "userPrincipalName": self.upn, "mail": self.upn})
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileData {
    pub size: u64,
    pub blob: String,
    pub quick_xor: String,
    pub mime: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub fs_modified_ms: i64,
    pub version: u64,
    pub guid: String,
    pub file: Option<FileData>,
}

impl Item {
    pub fn is_folder(&self) -> bool {
        self.file.is_none()
    }
    pub fn etag(&self) -> String {
        format!("\"{{{}}},{}\"", self.guid.to_uppercase(), self.version)
    }
    pub fn ctag(&self) -> String {
        format!("\"c:{{{}}},{}\"", self.guid.to_uppercase(), self.version)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drive {
    pub id: String,
    pub drive_type: String,
    pub name: String,
    pub owner: User,
    pub quota_total: u64,
    pub root_id: String,
    pub items: BTreeMap<String, Item>,
    pub next_seq: u64,
}

impl Drive {
    fn new_personal(rng: &mut fastrand::Rng, u: &UserConfig, quota: u64) -> Drive {
        // Personal drive ids: 16 lower-case hex characters (contract §3.2).
        let id = random_from(rng, HEX, 16);
        let owner = User {
            id: id.clone(),
            display_name: u.display_name.clone(),
            upn: u.user_principal_name.clone(),
        };
        Drive::with_root(rng, id, "personal", "OneDrive", owner, quota)
    }

    fn new_business(rng: &mut fastrand::Rng, u: &UserConfig, quota: u64) -> Drive {
        // Business drive ids look like `b!…` (contract §3.2).
        let id = format!("b!{}", random_from(rng, TOKEN_CHARS, 64));
        let owner = User {
            id: guid_with(rng),
            display_name: u.display_name.clone(),
            upn: u.user_principal_name.clone(),
        };
        Drive::with_root(rng, id, "business", "OneDrive", owner, quota)
    }

    fn with_root(
        rng: &mut fastrand::Rng,
        id: String,
        drive_type: &str,
        name: &str,
        owner: User,
        quota: u64,
    ) -> Drive {
        let mut d = Drive {
            id,
            drive_type: drive_type.into(),
            name: name.into(),
            owner,
            quota_total: quota,
            root_id: String::new(),
            items: BTreeMap::new(),
            next_seq: 101,
        };
        let now = now_ms();
        let root_id = d.new_item_id(rng);
        d.items.insert(
            root_id.clone(),
            Item {
                id: root_id.clone(),
                name: "root".into(),
                parent: None,
                created_ms: now,
                modified_ms: now,
                fs_modified_ms: now,
                version: 1,
                guid: guid_with(rng),
                file: None,
            },
        );
        d.root_id = root_id;
        d
    }

    pub fn new_item_id(&mut self, rng: &mut fastrand::Rng) -> String {
        if self.drive_type == "personal" {
            // `D4FD82CA6DF96A47!18705` (contract §3.2).
            let id = format!("{}!{}", self.id.to_uppercase(), self.next_seq);
            self.next_seq += 1;
            id
        } else {
            // Business item ids: `01` + 32 base32 characters.
            format!(
                "01{}",
                random_from(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 32)
            )
        }
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.get(id).or_else(|| {
            // Personal item ids are compared case-insensitively.
            self.items.values().find(|i| i.id.eq_ignore_ascii_case(id))
        })
    }

    pub fn children(&self, parent: &str) -> Vec<&Item> {
        let mut v: Vec<&Item> = self
            .items
            .values()
            .filter(|i| i.parent.as_deref() == Some(parent))
            .collect();
        v.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.id.cmp(&b.id))
        });
        v
    }

    /// Names are case-insensitive, case-preserving.
    pub fn child_by_name(&self, parent: &str, name: &str) -> Option<&Item> {
        let lower = name.to_lowercase();
        self.items
            .values()
            .find(|i| i.parent.as_deref() == Some(parent) && i.name.to_lowercase() == lower)
    }

    /// `a/b/c` from the root (empty for the root).
    pub fn path_of(&self, id: &str) -> String {
        let mut parts = Vec::new();
        let mut cur = self.items.get(id);
        while let Some(item) = cur {
            match &item.parent {
                Some(p) => {
                    parts.push(item.name.clone());
                    cur = self.items.get(p);
                }
                None => break,
            }
        }
        parts.reverse();
        parts.join("/")
    }

    pub fn used(&self) -> u64 {
        self.items
            .values()
            .filter_map(|i| i.file.as_ref().map(|f| f.size))
            .sum()
    }

    pub fn is_within(&self, id: &str, ancestor: &str) -> bool {
        let mut cur = Some(id.to_string());
        while let Some(c) = cur {
            if c == ancestor {
                return true;
            }
            cur = self.items.get(&c).and_then(|i| i.parent.clone());
        }
        false
    }

    /// Removes an item and everything below it; returns the blobs to delete.
    pub fn remove_subtree(&mut self, id: &str) -> Vec<String> {
        let mut doomed = vec![id.to_string()];
        let mut i = 0;
        while i < doomed.len() {
            let cur = doomed[i].clone();
            doomed.extend(
                self.items
                    .values()
                    .filter(|it| it.parent.as_deref() == Some(cur.as_str()))
                    .map(|it| it.id.clone()),
            );
            i += 1;
        }
        doomed
            .iter()
            .filter_map(|d| self.items.remove(d))
            .filter_map(|it| it.file.map(|f| f.blob))
            .collect()
    }

    /// A free name for conflictBehavior=rename.
    pub fn free_name(&self, parent: &str, name: &str, is_folder: bool) -> String {
        if self.child_by_name(parent, name).is_none() {
            return name.to_string();
        }
        (1..)
            .map(|n| crate::names::numbered(name, n, is_folder))
            .find(|n| self.child_by_name(parent, n).is_none())
            .unwrap_or_else(|| name.to_string())
    }

    pub fn quota_json(&self) -> Value {
        let used = self.used();
        let remaining = self.quota_total.saturating_sub(used);
        let ratio = if self.quota_total == 0 {
            1.0
        } else {
            used as f64 / self.quota_total as f64
        };
        let state = if ratio >= 1.0 {
            "exceeded"
        } else if ratio >= 0.99 {
            "critical"
        } else if ratio >= 0.90 {
            "nearing"
        } else {
            "normal"
        };
        json!({"total": self.quota_total, "used": used, "remaining": remaining,
               "deleted": 0, "state": state})
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "driveType": self.drive_type,
            "name": self.name,
            "owner": {"user": {"id": self.owner.id, "displayName": self.owner.display_name,
                               "email": self.owner.upn}},
            "quota": self.quota_json(),
        })
    }

    /// `/drive/root:/a/b` (personal) or `/drives/{id}/root:/a/b`.
    pub fn parent_path(&self, parent_id: &str) -> String {
        let prefix = if self.drive_type == "personal" {
            "/drive/root:".to_string()
        } else {
            format!("/drives/{}/root:", self.id)
        };
        let p = self.path_of(parent_id);
        if p.is_empty() {
            prefix
        } else {
            format!("{prefix}/{p}")
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Share {
    pub url: String,
    pub drive: usize,
    pub item_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessToken {
    /// `None` for app-only tokens.
    pub user: Option<usize>,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshToken {
    pub user: usize,
    pub scopes: Vec<String>,
    pub openid: bool,
    pub client_id: String,
    pub expires_ms: i64,
    pub revoked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    Pending,
    Approved,
    Declined,
    Redeemed,
}

#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub client_id: String,
    /// Requested Graph scopes (canonical), without the OIDC ones.
    pub scopes: Vec<String>,
    /// What the user granted (set at approval).
    pub granted: Vec<String>,
    pub offline: bool,
    pub openid: bool,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub interval_ms: i64,
    pub last_poll_ms: Option<i64>,
    pub polls: u32,
    pub status: DeviceStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    Fail,
    Replace,
    Rename,
}

impl Conflict {
    pub fn parse(s: &str) -> GResult<Conflict> {
        match s.to_ascii_lowercase().as_str() {
            "fail" => Ok(Conflict::Fail),
            "replace" => Ok(Conflict::Replace),
            "rename" => Ok(Conflict::Rename),
            _ => Err(GraphError::bad_request(format!(
                "Invalid value '{s}' for @microsoft.graph.conflictBehavior"
            ))),
        }
    }
}

pub struct UploadSession {
    pub id: String,
    pub drive: usize,
    pub parent: String,
    pub name: String,
    /// The existing file being updated when addressed by id.
    pub target: Option<String>,
    pub conflict: Conflict,
    pub declared_size: Option<u64>,
    pub total: Option<u64>,
    pub received: u64,
    pub hash: QuickXorHash,
    pub expires_ms: i64,
    pub tmp_path: PathBuf,
    pub tempauth: Option<String>,
    pub defer_commit: bool,
    pub fs_modified_ms: Option<i64>,
    /// Serialises the fragments of one session.
    pub io: Arc<tokio::sync::Mutex<()>>,
}

impl UploadSession {
    pub fn complete(&self) -> bool {
        self.total.is_some_and(|t| self.received == t)
    }
    pub fn next_ranges(&self) -> Vec<String> {
        if self.complete() {
            Vec::new()
        } else {
            vec![format!("{}-", self.received)]
        }
    }
}

impl Drop for UploadSession {
    fn drop(&mut self) {
        // After a commit the spool file has been renamed away already.
        let _ = std::fs::remove_file(&self.tmp_path);
    }
}

pub struct DownloadTicket {
    pub blob: String,
    pub size: u64,
    pub mime: String,
    pub etag: String,
    pub expires_ms: i64,
}

pub struct ActiveFault {
    pub spec: FaultSpec,
    pub remaining: u32,
    pub hits: u32,
}

#[derive(Default, Serialize)]
pub struct Counters {
    pub total: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub dropped_connections: u64,
    pub faults_fired: u64,
}

#[derive(Serialize, Clone)]
pub struct RequestLog {
    pub method: String,
    pub path: String,
    /// HTTP status, or 0 when the connection was dropped.
    pub status: u16,
    pub authorization: bool,
    pub at: String,
}

/// Who is calling Graph.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: Option<usize>,
    scopes: HashSet<String>,
}

impl Principal {
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.contains(&scope.to_ascii_lowercase())
    }
    pub fn can_read_files(&self) -> bool {
        [
            "files.read",
            "files.readwrite",
            "files.read.all",
            "files.readwrite.all",
        ]
        .iter()
        .any(|s| self.scopes.contains(*s))
    }
    pub fn can_write_files(&self) -> bool {
        ["files.readwrite", "files.readwrite.all"]
            .iter()
            .any(|s| self.scopes.contains(*s))
    }
}

pub struct Inner {
    pub rng: fastrand::Rng,
    pub drives: Vec<Drive>,
    pub shares: Vec<Share>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub device_codes: Vec<DeviceCode>,
    pub sessions: HashMap<String, UploadSession>,
    pub downloads: HashMap<String, DownloadTicket>,
    pub faults: Vec<ActiveFault>,
    pub counters: Counters,
    pub recent: VecDeque<RequestLog>,
    /// How far the emulator's clock is ahead of the machine's (tests move
    /// it with `Handle::advance_clock` instead of sleeping).
    pub clock_offset_ms: i64,
}

const RECENT: usize = 500;

impl Inner {
    fn new(drives: Vec<Drive>, rng: fastrand::Rng) -> Inner {
        Inner {
            rng,
            drives,
            shares: Vec::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            device_codes: Vec::new(),
            sessions: HashMap::new(),
            downloads: HashMap::new(),
            faults: Vec::new(),
            counters: Counters::default(),
            recent: VecDeque::new(),
            clock_offset_ms: 0,
        }
    }

    /// The emulator's time: the machine's, moved by `advance_clock`. Every
    /// expiry and interval the emulator enforces reads it.
    pub fn now_ms(&self) -> i64 {
        now_ms() + self.clock_offset_ms
    }

    fn from_persisted(p: Persisted, rng: fastrand::Rng) -> Inner {
        let mut inner = Inner::new(p.drives, rng);
        inner.shares = p.shares;
        inner.access_tokens = p.access_tokens;
        inner.refresh_tokens = p.refresh_tokens;
        inner
    }

    pub fn token(&mut self, len: usize, prefix: &str) -> String {
        let n = len.saturating_sub(prefix.len()).max(16);
        format!("{prefix}{}", random_from(&mut self.rng, TOKEN_CHARS, n))
    }

    pub fn arm_fault(&mut self, spec: FaultSpec) {
        let remaining = spec.count.unwrap_or(1);
        self.faults.push(ActiveFault {
            spec,
            remaining,
            hits: 0,
        });
    }

    pub fn record(&mut self, method: &str, path: &str, status: u16, authorization: bool) {
        self.counters.total += 1;
        if status == 0 {
            self.counters.dropped_connections += 1;
        } else {
            *self.counters.by_status.entry(status).or_default() += 1;
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(RequestLog {
            method: method.into(),
            path: path.into(),
            status,
            authorization,
            at: iso(self.now_ms()),
        });
    }

    /// Drive index by id (case-insensitive, contract §3.9.4) or `me`.
    pub fn drive_index(&self, id: &str) -> Option<usize> {
        self.drives
            .iter()
            .position(|d| d.id.eq_ignore_ascii_case(id))
    }

    /// Validates the bearer token of a Graph request.
    pub fn authenticate(&self, headers: &HeaderMap) -> GResult<Principal> {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(GraphError::unauthenticated("Access token is empty."));
        };
        let value = value.to_str().unwrap_or("");
        let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return Err(GraphError::unauthenticated(
                "Access token validation failure. Bearer scheme expected.",
            ));
        };
        let Some(t) = self.access_tokens.get(token.trim()) else {
            return Err(GraphError::unauthenticated(
                "Access token validation failure. Invalid audience.",
            ));
        };
        if self.now_ms() >= t.expires_ms {
            return Err(GraphError::unauthenticated(
                "Access token has expired or is not yet valid.",
            ));
        }
        Ok(Principal {
            user: t.user,
            scopes: t.scopes.iter().map(|s| s.to_ascii_lowercase()).collect(),
        })
    }

    /// Checks that `p` may read (or write) item `item_id` of drive `drive`
    /// (for a create, the parent). Scope problems and foreign drives → 403.
    pub fn check_access(
        &self,
        p: &Principal,
        drive: usize,
        item_id: &str,
        write: bool,
    ) -> GResult<()> {
        if write && !p.can_write_files() {
            return Err(GraphError::access_denied(
                "Access denied: the token lacks Files.ReadWrite or Files.ReadWrite.All",
            ));
        }
        if !write && !p.can_read_files() {
            return Err(GraphError::access_denied(
                "Access denied: the token lacks a Files.* permission",
            ));
        }
        let Some(user) = p.user else { return Ok(()) }; // app-only: all drives
        if user == drive {
            return Ok(());
        }
        let d = &self.drives[drive];
        let shared = self
            .shares
            .iter()
            .any(|s| s.drive == drive && d.is_within(item_id, &s.item_id));
        if !shared {
            return Err(GraphError::access_denied(
                "Access denied: the item is in another user's drive and was not shared",
            ));
        }
        // Contract §1.4: writing into another user's drive needs the .All
        // variant [inferred].
        if write && !p.has("Files.ReadWrite.All") {
            return Err(GraphError::access_denied(
                "Access denied: writing into another user's drive needs Files.ReadWrite.All",
            ));
        }
        Ok(())
    }

    /// Creates (or replaces) a pre-authenticated download ticket.
    pub fn download_url(&mut self, shared: &Shared, drive: usize, item_id: &str) -> Option<String> {
        let item = self.drives[drive].item(item_id)?;
        let f = item.file.as_ref()?;
        let ticket = DownloadTicket {
            blob: f.blob.clone(),
            size: f.size,
            mime: f.mime.clone(),
            etag: item.etag(),
            expires_ms: self.now_ms() + shared.config.download_url_lifetime.as_millis() as i64,
        };
        if self.downloads.len() > 10_000 {
            let now = self.now_ms();
            self.downloads.retain(|_, t| t.expires_ms > now);
        }
        let token = random_from(&mut self.rng, TOKEN_CHARS, 48);
        self.downloads.insert(token.clone(), ticket);
        Some(format!("{}/_download/{token}", shared.base_url))
    }

    /// The driveItem JSON (contract §3.3).
    pub fn item_json(&mut self, shared: &Shared, drive: usize, item_id: &str) -> Value {
        let download = self.download_url(shared, drive, item_id);
        let d = &self.drives[drive];
        let Some(item) = d.item(item_id) else {
            return Value::Null;
        };
        let path = d.path_of(&item.id);
        let mut v = json!({
            "id": item.id,
            "name": item.name,
            "size": item.file.as_ref().map(|f| f.size).unwrap_or_else(|| folder_size(d, &item.id)),
            "eTag": item.etag(),
            "cTag": item.ctag(),
            "createdDateTime": iso(item.created_ms),
            "lastModifiedDateTime": iso(item.modified_ms),
            "webUrl": format!("{}/_emulator/web/{}/{}", shared.base_url,
                              crate::util::encode_segment(&d.id), path),
            "fileSystemInfo": {"createdDateTime": iso(item.created_ms),
                               "lastModifiedDateTime": iso(item.fs_modified_ms)},
            "createdBy": {"user": {"id": d.owner.id, "displayName": d.owner.display_name}},
        });
        match &item.parent {
            Some(parent) => {
                v["parentReference"] = json!({
                    "driveId": d.id, "driveType": d.drive_type, "id": parent,
                    "path": d.parent_path(parent),
                });
            }
            None => {
                v["parentReference"] = json!({"driveId": d.id, "driveType": d.drive_type});
                v["root"] = json!({});
            }
        }
        match &item.file {
            Some(f) => {
                v["file"] = json!({"mimeType": f.mime, "hashes": {"quickXorHash": f.quick_xor}});
                if let Some(url) = download {
                    v["@microsoft.graph.downloadUrl"] = json!(url);
                }
            }
            None => {
                v["folder"] = json!({"childCount": d.children(&item.id).len()});
            }
        }
        v
    }
}

fn folder_size(d: &Drive, id: &str) -> u64 {
    d.items
        .values()
        .filter(|i| i.file.is_some() && i.id != id && d.is_within(&i.id, id))
        .map(|i| i.file.as_ref().map(|f| f.size).unwrap_or(0))
        .sum()
}
