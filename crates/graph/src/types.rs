//! Wire types: the JSON that Microsoft identity (device-code flow) and Graph
//! v1.0 drive endpoints send and accept, and nothing else (like rclone's
//! `api/types.go`). Logic lives in `retry`, `names` and the client.
//!
//! Rules that hold for every type here (`../shared/graph-contract.md`):
//! - unknown fields are ignored: Graph adds fields without notice;
//! - anything Microsoft may leave out is an `Option` or has a default;
//! - credentials and pre-authenticated URLs are [`Secret`]s, so `{:?}` of a
//!   response never prints a token (`uploadUrl` carries SharePoint's
//!   `tempauth`, `downloadUrl` is readable by anyone holding it).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

/// A string that must never reach a log or an error message: access,
/// refresh and id tokens, device codes, upload and download URLs.
/// Serialises transparently; `Debug` prints only its length.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that has to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} chars redacted>)", self.0.len())
    }
}

/// Accepts a non-negative integer given as a JSON number or as a string of
/// digits (older Azure AD endpoints sent `"expires_in":"3599"`).
fn u64_from_number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Num(u64),
        Str(String),
    }
    match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => Ok(n),
        NumOrStr::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("expected a number, got {s:?}"))),
    }
}

fn default_poll_interval() -> u64 {
    // RFC 8628 §3.2: "If no value is provided, clients MUST use 5".
    5
}

// ---------------------------------------------------------------------------
// Identity (contract §1)
// ---------------------------------------------------------------------------

/// 200 answer of `POST /{tenant}/oauth2/v2.0/devicecode` (contract §1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCodeResponse {
    /// Only used for polling; never shown.
    pub device_code: Secret,
    /// The short code the user types at `verification_uri`.
    pub user_code: String,
    /// Where the user types the code. `verification_url` is the spelling of
    /// older endpoints.
    #[serde(alias = "verification_url")]
    pub verification_uri: String,
    /// Lifetime of both codes in seconds (default 900; codes have been seen
    /// to die earlier).
    #[serde(deserialize_with = "u64_from_number_or_string")]
    pub expires_in: u64,
    /// Minimum seconds between polls.
    #[serde(
        default = "default_poll_interval",
        deserialize_with = "u64_from_number_or_string"
    )]
    pub interval: u64,
    /// Localised instruction text.
    #[serde(default)]
    pub message: String,
}

/// 200 answer of the token endpoint, for the device-code grant and for a
/// refresh (contract §1.2, §1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// `Bearer`.
    pub token_type: String,
    /// What was granted, space-separated; may differ from what was asked.
    #[serde(default)]
    pub scope: String,
    /// Seconds until `access_token` expires.
    #[serde(deserialize_with = "u64_from_number_or_string")]
    pub expires_in: u64,
    /// Opaque: personal-account tokens are not JWTs; never parse it.
    pub access_token: Secret,
    /// Present when `offline_access` was granted. A refresh returns a new
    /// one: store it, discard the old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// Present with the `openid` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Secret>,
}

/// Error body of the identity platform (every non-success answer of the
/// token and devicecode endpoints; contract §1.2). Branch on `error` only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// AADSTS numbers, e.g. `[70016]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_codes: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

/// The `error` values of [`StsError`] a client acts on (contract §1.2, §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsErrorKind {
    /// The user has not finished signing in: wait `interval`, poll again.
    AuthorizationPending,
    /// RFC 8628 §3.5: add 5 s to the interval.
    SlowDown,
    /// The user declined (`authorization_declined`; RFC 8628 spells it
    /// `access_denied`).
    AuthorizationDeclined,
    /// The device code is not recognised (a client bug).
    BadVerificationCode,
    /// The device code expired: start a new flow.
    ExpiredToken,
    /// The grant (refresh token or redeemed device code) is no longer
    /// valid: sign in again.
    InvalidGrant,
    /// MFA or consent now required: sign in again.
    InteractionRequired,
    /// The app registration does not allow this client (public client flows off).
    InvalidClient,
    /// A requested scope is unknown.
    InvalidScope,
    /// Transient STS trouble: try again later.
    TemporarilyUnavailable,
    /// Anything else.
    Other,
}

impl StsError {
    pub fn kind(&self) -> StsErrorKind {
        match self.error.as_str() {
            "authorization_pending" => StsErrorKind::AuthorizationPending,
            "slow_down" => StsErrorKind::SlowDown,
            "authorization_declined" | "access_denied" => StsErrorKind::AuthorizationDeclined,
            "bad_verification_code" => StsErrorKind::BadVerificationCode,
            "expired_token" | "code_expired" => StsErrorKind::ExpiredToken,
            "invalid_grant" => StsErrorKind::InvalidGrant,
            "interaction_required" => StsErrorKind::InteractionRequired,
            "invalid_client" | "unauthorized_client" => StsErrorKind::InvalidClient,
            "invalid_scope" => StsErrorKind::InvalidScope,
            "temporarily_unavailable" => StsErrorKind::TemporarilyUnavailable,
            _ => StsErrorKind::Other,
        }
    }

    /// The AADSTS numbers, empty when absent.
    pub fn codes(&self) -> &[i64] {
        self.error_codes.as_deref().unwrap_or(&[])
    }
}

// ---------------------------------------------------------------------------
// Graph error body (contract §2.1)
// ---------------------------------------------------------------------------

/// `{"error":{"code":…,"message":…,"innerError":{…}}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphErrorBody {
    pub error: ErrorDetail,
}

/// The `error` object of a Graph error body. (Named apart from
/// [`crate::GraphError`], the typed error the client returns.)
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    /// For people only; never branch on it.
    #[serde(default)]
    pub message: String,
    /// Docs spell the key `innererror`, live responses `innerError`.
    #[serde(
        rename = "innerError",
        alias = "innererror",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub inner_error: Option<Box<InnerError>>,
}

/// A more specific code, possibly nesting further.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InnerError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(
        rename = "innerError",
        alias = "innererror",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub inner_error: Option<Box<InnerError>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(
        rename = "request-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<String>,
    #[serde(
        rename = "client-request-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_request_id: Option<String>,
}

impl ErrorDetail {
    /// Every code, outermost first, skipping empty ones: for the throttling
    /// body `["activityLimitReached", "throttledRequest", "quota"]`.
    pub fn codes(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if !self.code.is_empty() {
            out.push(self.code.as_str());
        }
        let mut next = self.inner_error.as_deref();
        while let Some(inner) = next {
            if let Some(code) = inner.code.as_deref().filter(|c| !c.is_empty()) {
                out.push(code);
            }
            next = inner.inner_error.as_deref();
        }
        out
    }

    /// Whether `code` appears at any depth (ASCII case-insensitive: Graph-wide
    /// codes are PascalCase, drive codes camelCase).
    pub fn has_code(&self, code: &str) -> bool {
        self.codes().iter().any(|c| c.eq_ignore_ascii_case(code))
    }

    /// The innermost (most specific) code.
    pub fn innermost_code(&self) -> Option<&str> {
        self.codes().last().copied()
    }

    /// The `request-id` of the first inner error carrying one, for support.
    pub fn request_id(&self) -> Option<&str> {
        let mut next = self.inner_error.as_deref();
        while let Some(inner) = next {
            if let Some(id) = inner.request_id.as_deref() {
                return Some(id);
            }
            next = inner.inner_error.as_deref();
        }
        None
    }
}

impl GraphErrorBody {
    /// See [`ErrorDetail::codes`].
    pub fn codes(&self) -> Vec<&str> {
        self.error.codes()
    }

    /// See [`ErrorDetail::has_code`].
    pub fn has_code(&self, code: &str) -> bool {
        self.error.has_code(code)
    }
}

// ---------------------------------------------------------------------------
// Users and drives (contract §3.1, §3.2)
// ---------------------------------------------------------------------------

/// `GET /me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
}

/// `driveType`. Unknown values become `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DriveType {
    Personal,
    Business,
    DocumentLibrary,
    #[serde(other)]
    Other,
}

/// `GET /me/drive`, `GET /drives/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drive {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive_type: Option<DriveType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Missing, blank or zero on restricted Business tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

/// `drive.quota`. Int64 on the wire; signed so that an odd value does not
/// make the whole drive unreadable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<i64>,
    /// `normal`, `nearing`, `critical`, `exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl Drive {
    /// Free bytes, only when the quota is actually reported (a total above
    /// zero and a remaining value). `None` means "unknown", not "full":
    /// let the server answer 507 instead of refusing locally.
    pub fn free_space(&self) -> Option<u64> {
        let q = self.quota.as_ref()?;
        match (q.total, q.remaining) {
            (Some(total), Some(remaining)) if total > 0 => Some(remaining.max(0) as u64),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Drive items (contract §3.3, §3.4, §3.9)
// ---------------------------------------------------------------------------

/// `parentReference`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive_type: Option<DriveType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// e.g. `/drive/root:/Backups`; absent for items reached via `/shares`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `file` facet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileFacet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<Hashes>,
}

/// `file.hashes`. Only `quickXorHash` exists on both Personal and Business;
/// it can be missing transiently.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hashes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_xor_hash: Option<String>,
}

/// `folder` facet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderFacet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_count: Option<u64>,
}

/// `root` facet: `{}` on the root item.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RootFacet {}

/// `fileSystemInfo` (client-side timestamps, RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSystemInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
}

/// `remoteItem`: the real item in another drive behind a shared or
/// "Add to My files" entry (contract §3.9.3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteItem {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_reference: Option<ItemReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileFacet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderFacet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
}

/// A driveItem (file, folder, root, or a remote entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveItem {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_reference: Option<ItemReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_system_info: Option<FileSystemInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileFacet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderFacet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<RootFacet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_item: Option<Box<RemoteItem>>,
    /// Pre-authenticated, short-lived: send no Authorization header to it.
    #[serde(
        rename = "@microsoft.graph.downloadUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub download_url: Option<Secret>,
}

/// Where an item really lives: address it as `/drives/{drive_id}/items/{item_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLocation {
    /// Normalised with [`normalize_drive_id`].
    pub drive_id: String,
    pub item_id: String,
}

impl DriveItem {
    pub fn is_folder(&self) -> bool {
        self.folder.is_some()
            || self
                .remote_item
                .as_ref()
                .is_some_and(|r| r.folder.is_some())
    }

    pub fn is_file(&self) -> bool {
        self.file.is_some() || self.remote_item.as_ref().is_some_and(|r| r.file.is_some())
    }

    pub fn is_root(&self) -> bool {
        self.root.is_some()
    }

    /// `file.hashes.quickXorHash`, when reported.
    pub fn quick_xor_hash(&self) -> Option<&str> {
        self.file
            .as_ref()?
            .hashes
            .as_ref()?
            .quick_xor_hash
            .as_deref()
    }

    /// The real location of the item (contract §3.9.2–4): through
    /// `remoteItem` when present (its `parentReference.driveId` and `id`;
    /// the outer `parentReference.driveId` is *your* drive), otherwise the
    /// item's own `parentReference.driveId` and `id`. `None` when the answer
    /// does not say which drive (then the caller still has the drive it
    /// asked). Personal drive ids are normalised (see [`normalize_drive_id`]).
    pub fn location(&self) -> Option<ItemLocation> {
        let (drive_id, item_id) = match &self.remote_item {
            Some(remote) => (
                remote.parent_reference.as_ref()?.drive_id.as_deref()?,
                remote.id.as_str(),
            ),
            None => (
                self.parent_reference.as_ref()?.drive_id.as_deref()?,
                self.id.as_str(),
            ),
        };
        if drive_id.is_empty() || item_id.is_empty() {
            return None;
        }
        Some(ItemLocation {
            drive_id: normalize_drive_id(drive_id),
            item_id: item_id.to_owned(),
        })
    }
}

/// Canonical form of a drive id. A Personal drive id is 16 hex digits; it
/// sometimes comes back with its leading `0` dropped (15 digits) and in
/// either case (contract §3.9.4): such ids are left-padded to 16 and
/// lower-cased. Any other id (Business `b!…`) is returned unchanged — those
/// are case-sensitive base64.
pub fn normalize_drive_id(id: &str) -> String {
    let id = id.trim();
    let hex = id.bytes().all(|b| b.is_ascii_hexdigit());
    match id.len() {
        15 if hex => format!("0{}", id.to_ascii_lowercase()),
        16 if hex => id.to_ascii_lowercase(),
        _ => id.to_owned(),
    }
}

/// Whether two drive ids name the same drive, tolerating the Personal
/// quirks (dropped leading zero, upper/lower case).
pub fn same_drive_id(a: &str, b: &str) -> bool {
    normalize_drive_id(a) == normalize_drive_id(b)
}

/// One page of `GET …/children`. Follow `next_link` verbatim until absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildrenPage {
    #[serde(default)]
    pub value: Vec<DriveItem>,
    #[serde(
        rename = "@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_link: Option<String>,
}

// ---------------------------------------------------------------------------
// Writes (contract §3.6, §4)
// ---------------------------------------------------------------------------

/// `@microsoft.graph.conflictBehavior`. Deliberately no `Default`: defaults
/// differ between endpoints and documentation, so every request names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictBehavior {
    Fail,
    Replace,
    Rename,
}

impl ConflictBehavior {
    /// The value for the `?@microsoft.graph.conflictBehavior=` query of a
    /// simple PUT.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictBehavior::Fail => "fail",
            ConflictBehavior::Replace => "replace",
            ConflictBehavior::Rename => "rename",
        }
    }
}

/// An empty JSON object, `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Empty {}

/// Body of `POST …/children` creating a folder:
/// `{"name":…,"folder":{},"@microsoft.graph.conflictBehavior":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateFolderRequest {
    pub name: String,
    pub folder: Empty,
    #[serde(rename = "@microsoft.graph.conflictBehavior")]
    pub conflict_behavior: ConflictBehavior,
}

impl CreateFolderRequest {
    pub fn new(name: impl Into<String>, conflict_behavior: ConflictBehavior) -> Self {
        CreateFolderRequest {
            name: name.into(),
            folder: Empty {},
            conflict_behavior,
        }
    }
}

/// Body of `PATCH /drives/{d}/items/{id}` moving an item into another
/// folder of the same drive: `{"parentReference":{"id":…}}`. Without a
/// conflict behaviour a name taken at the target is `409 nameAlreadyExists`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MoveRequest {
    pub parent_reference: ParentId,
    /// A new name, when the move also renames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParentId {
    pub id: String,
}

/// Body of `POST …:/{name}:/createUploadSession`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateUploadSessionRequest {
    pub item: UploadSessionItem,
    /// Commit only on an explicit request after the last byte (§4.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defer_commit: Option<bool>,
}

/// `item` of [`CreateUploadSessionRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadSessionItem {
    /// Always sent: the documented default (`fail`) is not what rclone
    /// observes (§4.1).
    #[serde(rename = "@microsoft.graph.conflictBehavior")]
    pub conflict_behavior: ConflictBehavior,
    /// Must equal the name in the request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lets the server answer 507 before any byte is sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_system_info: Option<FileSystemInfo>,
}

impl CreateUploadSessionRequest {
    pub fn new(name: impl Into<String>, size: u64, conflict_behavior: ConflictBehavior) -> Self {
        CreateUploadSessionRequest {
            item: UploadSessionItem {
                conflict_behavior,
                name: Some(name.into()),
                file_size: Some(size),
                file_system_info: None,
            },
            defer_commit: None,
        }
    }
}

/// Body of the Personal deferred/409 commit: `PUT /…/root:/{path}` with the
/// session's URL as `sourceUrl` (§4.2, §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitUploadRequest {
    pub name: String,
    #[serde(rename = "@microsoft.graph.conflictBehavior")]
    pub conflict_behavior: ConflictBehavior,
    #[serde(rename = "@microsoft.graph.sourceUrl")]
    pub source_url: Secret,
}

/// An upload session: the answer to createUploadSession (`uploadUrl`
/// present), to a fragment PUT (202) and to `GET {uploadUrl}` (no
/// `uploadUrl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadSession {
    /// Use verbatim, query string included; send no Authorization header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_url: Option<Secret>,
    /// RFC 3339; extended by each fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date_time: Option<String>,
    /// `["0-"]`, `["12345-"]`, `["0-999", …]`.
    #[serde(default)]
    pub next_expected_ranges: Vec<String>,
}

impl UploadSession {
    /// See [`parse_next_expected_start`].
    pub fn next_expected_start(&self) -> Option<u64> {
        parse_next_expected_start(&self.next_expected_ranges)
    }

    /// `expirationDateTime` parsed, when present and well-formed.
    pub fn expires_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let s = self.expiration_date_time.as_deref()?;
        chrono::DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

/// The offset the server expects next: the number before `-` of the first
/// range (`"12345-"` → 12345, `"0-999"` → 0). `None` when the list is empty
/// or the first range is unreadable — then ask the session again rather
/// than guess. (Like rclone: the list may hold several ranges and may not
/// list every missing one; the upload resends from this offset.)
pub fn parse_next_expected_start(ranges: &[String]) -> Option<u64> {
    let first = ranges.first()?.trim();
    let start = first.split_once('-').map_or(first, |(s, _)| s).trim();
    if start.is_empty() || !start.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    start.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_response_full_and_minimal() {
        let t: TokenResponse = serde_json::from_str(
            r#"{"token_type":"Bearer","scope":"Files.ReadWrite User.Read profile openid email",
                "expires_in":3599,"ext_expires_in":3599,"access_token":"at-secret",
                "refresh_token":"rt-secret","id_token":"id.jwt.secret"}"#,
        )
        .unwrap();
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_in, 3599);
        assert_eq!(t.access_token.expose(), "at-secret");
        assert_eq!(t.refresh_token.as_ref().unwrap().expose(), "rt-secret");
        assert_eq!(t.id_token.as_ref().unwrap().expose(), "id.jwt.secret");

        let t: TokenResponse = serde_json::from_str(
            r#"{"token_type":"Bearer","expires_in":"3600","access_token":"x"}"#,
        )
        .unwrap();
        assert_eq!(t.expires_in, 3600);
        assert_eq!(t.scope, "");
        assert!(t.refresh_token.is_none() && t.id_token.is_none());
    }

    #[test]
    fn debug_never_prints_secrets() {
        let t: TokenResponse = serde_json::from_str(
            r#"{"token_type":"Bearer","expires_in":1,"access_token":"AT-VALUE",
                "refresh_token":"RT-VALUE","id_token":"ID-VALUE"}"#,
        )
        .unwrap();
        let d = format!("{t:?}");
        for s in ["AT-VALUE", "RT-VALUE", "ID-VALUE"] {
            assert!(!d.contains(s), "{d}");
        }
        let dc: DeviceCodeResponse = serde_json::from_value(json!({
            "device_code": "DC-VALUE", "user_code": "ABCD-EFGH",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900, "interval": 5, "message": "To sign in…"
        }))
        .unwrap();
        let d = format!("{dc:?}");
        assert!(!d.contains("DC-VALUE") && d.contains("ABCD-EFGH"), "{d}");
        let s: UploadSession = serde_json::from_value(json!({
            "uploadUrl": "https://x.sharepoint.com/_api/v2.0/uploadSession?guid=1&tempauth=TEMPAUTH",
            "nextExpectedRanges": ["0-"]
        }))
        .unwrap();
        assert!(!format!("{s:?}").contains("TEMPAUTH"));
        let i: DriveItem = serde_json::from_value(json!({
            "id": "1", "@microsoft.graph.downloadUrl": "https://dl/?SIG=SECRETSIG"
        }))
        .unwrap();
        assert!(!format!("{i:?}").contains("SECRETSIG"));
    }

    #[test]
    fn secret_serializes_transparently() {
        let s = Secret::new("abc");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""abc""#);
        assert!(!s.is_empty());
    }

    #[test]
    fn device_code_response() {
        let dc: DeviceCodeResponse = serde_json::from_str(
            r#"{"user_code":"F5RJ9LXQ2","device_code":"DAQABAAEAAAD","verification_uri":"https://www.microsoft.com/link",
                "expires_in":900,"interval":5,"message":"To sign in, use a web browser…"}"#,
        )
        .unwrap();
        assert_eq!(dc.user_code, "F5RJ9LXQ2");
        assert_eq!(dc.verification_uri, "https://www.microsoft.com/link");
        assert_eq!((dc.expires_in, dc.interval), (900, 5));

        // No interval, no message, old spelling, string numbers.
        let dc: DeviceCodeResponse = serde_json::from_str(
            r#"{"user_code":"A","device_code":"B","verification_url":"https://microsoft.com/devicelogin",
                "expires_in":"900"}"#,
        )
        .unwrap();
        assert_eq!(dc.interval, 5);
        assert_eq!(dc.message, "");
        assert_eq!(dc.verification_uri, "https://microsoft.com/devicelogin");
    }

    #[test]
    fn sts_error_body_and_kinds() {
        let e: StsError = serde_json::from_str(
            r#"{"error":"authorization_pending",
                "error_description":"AADSTS70016: pending\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2024-01-01 00:00:00Z",
                "error_codes":[70016],"timestamp":"2024-01-01 00:00:00Z","trace_id":"t","correlation_id":"c",
                "error_uri":"https://login.microsoftonline.com/error?code=70016","claims":"{}","suberror":"x"}"#,
        )
        .unwrap();
        assert_eq!(e.kind(), StsErrorKind::AuthorizationPending);
        assert_eq!(e.codes(), &[70016]);

        let minimal: StsError = serde_json::from_str(r#"{"error":"slow_down"}"#).unwrap();
        assert_eq!(minimal.kind(), StsErrorKind::SlowDown);
        assert!(minimal.codes().is_empty());

        for (s, k) in [
            (
                "authorization_declined",
                StsErrorKind::AuthorizationDeclined,
            ),
            ("access_denied", StsErrorKind::AuthorizationDeclined),
            ("bad_verification_code", StsErrorKind::BadVerificationCode),
            ("expired_token", StsErrorKind::ExpiredToken),
            ("invalid_grant", StsErrorKind::InvalidGrant),
            ("interaction_required", StsErrorKind::InteractionRequired),
            ("invalid_client", StsErrorKind::InvalidClient),
            ("invalid_scope", StsErrorKind::InvalidScope),
            (
                "temporarily_unavailable",
                StsErrorKind::TemporarilyUnavailable,
            ),
            ("something_new", StsErrorKind::Other),
        ] {
            let e = StsError {
                error: s.into(),
                error_description: None,
                error_codes: None,
                timestamp: None,
                trace_id: None,
                correlation_id: None,
                error_uri: None,
            };
            assert_eq!(e.kind(), k, "{s}");
        }
    }

    #[test]
    fn graph_error_body_codes_both_spellings() {
        let live: GraphErrorBody = serde_json::from_str(
            r#"{"error":{"code":"activityLimitReached","message":"The request has been throttled",
                "innerError":{"code":"throttledRequest","innerError":{"code":"quota"},
                "date":"2024-01-01T00:00:00","request-id":"rid","client-request-id":"cid"}}}"#,
        )
        .unwrap();
        assert_eq!(
            live.codes(),
            vec!["activityLimitReached", "throttledRequest", "quota"]
        );
        assert!(live.has_code("THROTTLEDREQUEST"));
        assert_eq!(live.error.innermost_code(), Some("quota"));
        assert_eq!(live.error.request_id(), Some("rid"));

        let docs: GraphErrorBody = serde_json::from_str(
            r#"{"error":{"code":"invalidRequest","message":"x",
                "innererror":{"code":"invalidPath","innererror":{"code":"pathIsTooLong"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            docs.codes(),
            vec!["invalidRequest", "invalidPath", "pathIsTooLong"]
        );

        let bare: GraphErrorBody =
            serde_json::from_str(r#"{"error":{"code":"itemNotFound","message":"Item not found"}}"#)
                .unwrap();
        assert_eq!(bare.codes(), vec!["itemNotFound"]);
        assert_eq!(bare.error.request_id(), None);

        // An inner error without a code is skipped, not an end.
        let gap: GraphErrorBody = serde_json::from_str(
            r#"{"error":{"code":"generalException","innerError":{"date":"d","innerError":{"code":"deep"}}}}"#,
        )
        .unwrap();
        assert_eq!(gap.codes(), vec!["generalException", "deep"]);

        // An STS body is not a Graph body.
        assert!(serde_json::from_str::<GraphErrorBody>(r#"{"error":"invalid_grant"}"#).is_err());
    }

    #[test]
    fn user_and_drive() {
        let u: User = serde_json::from_str(
            r#"{"@odata.context":"x","id":"u1","displayName":"Ada","userPrincipalName":"ada@example.com",
                "mail":null,"businessPhones":[]}"#,
        )
        .unwrap();
        assert_eq!(u.display_name.as_deref(), Some("Ada"));
        assert_eq!(u.mail, None);

        let d: Drive = serde_json::from_str(
            r#"{"id":"af2b5e52bea96776","driveType":"personal","name":"OneDrive",
                "owner":{"user":{"displayName":"Ada","id":"af2b5e52bea96776"}},
                "quota":{"deleted":0,"remaining":5368709120,"state":"normal","total":5368709120,"used":0,"storagePlanInformation":{}}}"#,
        )
        .unwrap();
        assert_eq!(d.drive_type, Some(DriveType::Personal));
        assert_eq!(d.free_space(), Some(5_368_709_120));

        let d: Drive =
            serde_json::from_str(r#"{"id":"b!abc","driveType":"documentLibrary"}"#).unwrap();
        assert_eq!(d.drive_type, Some(DriveType::DocumentLibrary));
        assert_eq!(d.free_space(), None);

        let d: Drive = serde_json::from_str(
            r#"{"id":"b!abc","driveType":"business","quota":{"total":0,"used":0,"remaining":0}}"#,
        )
        .unwrap();
        assert_eq!(d.free_space(), None, "zero total means unknown");

        let d: Drive = serde_json::from_str(
            r#"{"id":"b!abc","driveType":"somethingNew","quota":{"total":10,"remaining":-3}}"#,
        )
        .unwrap();
        assert_eq!(d.drive_type, Some(DriveType::Other));
        assert_eq!(d.free_space(), Some(0));

        let d: Drive = serde_json::from_str(r#"{"id":"x","quota":{}}"#).unwrap();
        assert_eq!(d.free_space(), None);
    }

    fn sample_file() -> serde_json::Value {
        json!({
            "id": "D4FD82CA6DF96A47!18705", "name": "db.json", "size": 1234,
            "eTag": "\"{GUID},3\"", "cTag": "\"c:{GUID},3\"",
            "createdDateTime": "2024-01-01T00:00:00Z", "lastModifiedDateTime": "2024-01-01T00:00:00Z",
            "webUrl": "https://onedrive.live.com/x",
            "parentReference": {"driveId": "d4fd82ca6df96a47", "driveType": "personal",
                                "id": "D4FD82CA6DF96A47!101", "path": "/drive/root:/Backups"},
            "fileSystemInfo": {"createdDateTime": "2024-01-01T00:00:00Z", "lastModifiedDateTime": "2024-01-01T00:00:00Z"},
            "file": {"mimeType": "application/json", "hashes": {"quickXorHash": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "sha256Hash": "x"}},
            "@microsoft.graph.downloadUrl": "https://public.dm.files.1drv.com/y",
            "shared": {"scope": "users"}, "reactions": {"commentCount": 0}
        })
    }

    #[test]
    fn drive_item_file() {
        let i: DriveItem = serde_json::from_value(sample_file()).unwrap();
        assert_eq!(i.name.as_deref(), Some("db.json"));
        assert_eq!(i.size, Some(1234));
        assert_eq!(i.e_tag.as_deref(), Some("\"{GUID},3\""));
        assert_eq!(i.c_tag.as_deref(), Some("\"c:{GUID},3\""));
        assert!(i.is_file() && !i.is_folder() && !i.is_root());
        assert_eq!(i.quick_xor_hash(), Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        assert_eq!(
            i.file.as_ref().unwrap().mime_type.as_deref(),
            Some("application/json")
        );
        let p = i.parent_reference.as_ref().unwrap();
        assert_eq!(p.path.as_deref(), Some("/drive/root:/Backups"));
        assert_eq!(p.drive_type, Some(DriveType::Personal));
        assert_eq!(
            i.download_url.as_ref().unwrap().expose(),
            "https://public.dm.files.1drv.com/y"
        );
        assert_eq!(
            i.location(),
            Some(ItemLocation {
                drive_id: "d4fd82ca6df96a47".into(),
                item_id: "D4FD82CA6DF96A47!18705".into()
            })
        );
    }

    #[test]
    fn drive_item_folder_root_and_missing_hash() {
        let f: DriveItem = serde_json::from_value(json!({
            "id": "01ABC", "name": "Backups", "folder": {"childCount": 3},
            "parentReference": {"driveId": "b!XyZ", "id": "01ROOT"}
        }))
        .unwrap();
        assert!(f.is_folder() && !f.is_file());
        assert_eq!(f.folder.as_ref().unwrap().child_count, Some(3));
        assert_eq!(f.quick_xor_hash(), None);

        let r: DriveItem = serde_json::from_value(json!({
            "id": "01ROOT", "name": "root", "root": {}, "folder": {"childCount": 0}
        }))
        .unwrap();
        assert!(r.is_root());
        assert_eq!(r.location(), None, "no parentReference: drive unknown");

        let no_hash: DriveItem =
            serde_json::from_value(json!({"id": "1", "file": {"mimeType": "x"}})).unwrap();
        assert_eq!(no_hash.quick_xor_hash(), None);
        let no_qx: DriveItem =
            serde_json::from_value(json!({"id": "1", "file": {"hashes": {"sha1Hash": "x"}}}))
                .unwrap();
        assert_eq!(no_qx.quick_xor_hash(), None);
    }

    #[test]
    fn drive_item_remote_location() {
        // Shape of the live sample in owncloud/ocis#7633: a shortcut in my
        // drive pointing at a folder of another (Personal) drive whose id lost
        // its leading zero and came back upper-case.
        let i: DriveItem = serde_json::from_value(json!({
            "id": "AF2B5E52BEA96776!555", "name": "Shared backups",
            "parentReference": {"driveId": "af2b5e52bea96776", "driveType": "personal", "id": "AF2B5E52BEA96776!101"},
            "remoteItem": {
                "id": "12B7D2B4F0C5A1E!107", "name": "Shared backups",
                "folder": {"childCount": 2},
                "parentReference": {"driveId": "12B7D2B4F0C5A1E", "driveType": "personal"},
                "shared": {"owner": {"user": {"displayName": "Bob"}}}
            }
        }))
        .unwrap();
        assert!(i.is_folder());
        let loc = i.location().unwrap();
        assert_eq!(loc.drive_id, "012b7d2b4f0c5a1e");
        assert_eq!(loc.item_id, "12B7D2B4F0C5A1E!107");

        // remoteItem without a drive id: we cannot tell where it lives.
        let i: DriveItem = serde_json::from_value(json!({
            "id": "a", "parentReference": {"driveId": "mine"},
            "remoteItem": {"id": "b"}
        }))
        .unwrap();
        assert_eq!(i.location(), None);

        // Business ids are untouched.
        let i: DriveItem = serde_json::from_value(json!({
            "id": "01X", "remoteItem": {"id": "01Y", "parentReference": {"driveId": "b!AbC-dEf_123"}}
        }))
        .unwrap();
        assert_eq!(i.location().unwrap().drive_id, "b!AbC-dEf_123");
    }

    #[test]
    fn drive_id_normalisation() {
        assert_eq!(normalize_drive_id("12b7d2b4f0c5a1e"), "012b7d2b4f0c5a1e");
        assert_eq!(normalize_drive_id("AF2B5E52BEA96776"), "af2b5e52bea96776");
        assert_eq!(normalize_drive_id(" af2b5e52bea96776 "), "af2b5e52bea96776");
        assert_eq!(normalize_drive_id("b!AbCdEf"), "b!AbCdEf");
        // 15 chars but not hex: not a Personal id.
        assert_eq!(normalize_drive_id("b!AbCdEfGhIjKlM"), "b!AbCdEfGhIjKlM");

        assert!(same_drive_id("12B7D2B4F0C5A1E", "012b7d2b4f0c5a1e"));
        assert!(same_drive_id("AF2B5E52BEA96776", "af2b5e52bea96776"));
        assert!(!same_drive_id("af2b5e52bea96776", "af2b5e52bea96777"));
        assert!(same_drive_id("b!abc", "b!abc"));
        assert!(
            !same_drive_id("b!abc", "b!ABC"),
            "Business ids are case-sensitive"
        );
        // A 14-digit id is not padded twice into a match.
        assert!(!same_drive_id("2b7d2b4f0c5a1e", "002b7d2b4f0c5a1e"));
    }

    #[test]
    fn children_page() {
        let p: ChildrenPage = serde_json::from_value(json!({
            "@odata.context": "x",
            "value": [sample_file(), {"id": "2", "folder": {}}],
            "@odata.nextLink": "https://graph.microsoft.com/v1.0/me/drive/items/1/children?$skiptoken=abc"
        }))
        .unwrap();
        assert_eq!(p.value.len(), 2);
        assert!(p.next_link.unwrap().ends_with("$skiptoken=abc"));

        let last: ChildrenPage = serde_json::from_str(r#"{"value":[]}"#).unwrap();
        assert!(last.value.is_empty() && last.next_link.is_none());
    }

    #[test]
    fn upload_session_shapes() {
        let s: UploadSession = serde_json::from_str(
            r#"{"uploadUrl":"https://sn3302.up.1drv.com/up/fe6987415ace7X4e1eF866337",
                "expirationDateTime":"2015-01-29T09:21:55.523Z","nextExpectedRanges":["0-"]}"#,
        )
        .unwrap();
        assert_eq!(
            s.upload_url.as_ref().unwrap().expose(),
            "https://sn3302.up.1drv.com/up/fe6987415ace7X4e1eF866337"
        );
        assert_eq!(s.next_expected_start(), Some(0));
        assert_eq!(
            s.expires_at().unwrap().to_rfc3339(),
            "2015-01-29T09:21:55.523+00:00"
        );

        let status: UploadSession = serde_json::from_str(
            r#"{"expirationDateTime":"2015-01-29T09:21:55.523Z","nextExpectedRanges":["12345-"]}"#,
        )
        .unwrap();
        assert!(status.upload_url.is_none());
        assert_eq!(status.next_expected_start(), Some(12345));

        let empty: UploadSession = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.next_expected_start(), None);
        assert_eq!(empty.expires_at(), None);
    }

    #[test]
    fn next_expected_start_variants() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_next_expected_start(&r(&["12345-"])), Some(12345));
        assert_eq!(parse_next_expected_start(&r(&["0-999"])), Some(0));
        assert_eq!(parse_next_expected_start(&r(&["26-", "100-200"])), Some(26));
        assert_eq!(parse_next_expected_start(&r(&[" 77 - 99 "])), Some(77));
        assert_eq!(parse_next_expected_start(&r(&["42"])), Some(42));
        assert_eq!(parse_next_expected_start(&r(&[])), None);
        assert_eq!(parse_next_expected_start(&r(&["-"])), None);
        assert_eq!(parse_next_expected_start(&r(&["-500"])), None);
        assert_eq!(parse_next_expected_start(&r(&["abc-"])), None);
        assert_eq!(parse_next_expected_start(&r(&["+5-"])), None);
        assert_eq!(
            parse_next_expected_start(&r(&["99999999999999999999999-"])),
            None
        );
    }

    #[test]
    fn create_requests_always_name_conflict_behavior() {
        let f = CreateFolderRequest::new("Backups", ConflictBehavior::Fail);
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            json!({"name": "Backups", "folder": {}, "@microsoft.graph.conflictBehavior": "fail"})
        );

        let u = CreateUploadSessionRequest::new("big.bin", 123_456_789, ConflictBehavior::Replace);
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            json!({"item": {"@microsoft.graph.conflictBehavior": "replace",
                            "name": "big.bin", "fileSize": 123456789}})
        );

        let bare = CreateUploadSessionRequest {
            item: UploadSessionItem {
                conflict_behavior: ConflictBehavior::Rename,
                name: None,
                file_size: None,
                file_system_info: Some(FileSystemInfo {
                    created_date_time: None,
                    last_modified_date_time: Some("2024-01-01T00:00:00Z".into()),
                }),
            },
            defer_commit: Some(true),
        };
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            json!({"item": {"@microsoft.graph.conflictBehavior": "rename",
                            "fileSystemInfo": {"lastModifiedDateTime": "2024-01-01T00:00:00Z"}},
                   "deferCommit": true})
        );

        let c = CommitUploadRequest {
            name: "big.bin".into(),
            conflict_behavior: ConflictBehavior::Rename,
            source_url: Secret::new("https://up/x"),
        };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"name": "big.bin", "@microsoft.graph.conflictBehavior": "rename",
                   "@microsoft.graph.sourceUrl": "https://up/x"})
        );
        assert_eq!(ConflictBehavior::Replace.as_str(), "replace");
    }

    #[test]
    fn drive_item_round_trips() {
        let i: DriveItem = serde_json::from_value(sample_file()).unwrap();
        let again: DriveItem = serde_json::from_value(serde_json::to_value(&i).unwrap()).unwrap();
        assert_eq!(i, again);
    }
}
