//! Configuration of one emulator instance, and the fault specifications that
//! can be given at start-up or later through the control API.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Microsoft's documented default: `expires_in` of the device code.
const DEFAULT_DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(900);

/// Everything that can be tuned. `Config::default()` behaves like the real
/// service (5 s polling interval, 1 h access tokens, …); `Config::for_tests()`
/// shortens every duration so that test suites stay fast.
#[derive(Debug, Clone)]
pub struct Config {
    /// TCP port on 127.0.0.1; 0 picks an ephemeral port.
    pub port: u16,
    /// Persist drives, tokens and shares in this folder (JSON index + blob
    /// files) so they survive a restart. `None`: kept in memory, blobs in a
    /// temporary folder removed on shutdown.
    pub data_dir: Option<PathBuf>,
    /// Public client ids allowed to use the device-code and refresh grants.
    /// Empty: any client id shaped like a GUID is accepted.
    pub allowed_client_ids: Vec<String>,
    /// Confidential clients `(client_id, client_secret)` allowed to use the
    /// client-credentials grant (app-only tokens).
    pub confidential_clients: Vec<(String, String)>,
    /// Lifetime of access tokens.
    pub access_token_lifetime: Duration,
    /// Inactivity lifetime of refresh tokens (each new one gets it afresh).
    pub refresh_token_lifetime: Duration,
    /// Lifetime of device codes (`expires_in`).
    pub device_code_lifetime: Duration,
    /// Minimum time between two polls of one device code; faster polls get
    /// `slow_down`. The advertised `interval` is this, rounded up to seconds.
    pub device_poll_interval: Duration,
    /// Added to a device code's polling interval after each `slow_down`
    /// (RFC 8628 §3.5 says 5 s).
    pub slow_down_increment: Duration,
    /// Approve a pending device code automatically at its N-th (non
    /// slow_down) poll. `None`: only the control API / HTML page approves.
    pub auto_approve_after_polls: Option<u32>,
    /// `verification_uri` returned by the devicecode endpoint. `None`: the
    /// emulator's own page `{base}/_emulator/devicelogin`.
    pub verification_uri: Option<String>,
    /// Upload sessions expire this long after creation or after the last
    /// accepted fragment.
    pub upload_session_lifetime: Duration,
    /// Lifetime of pre-authenticated download URLs.
    pub download_url_lifetime: Duration,
    /// Largest body accepted by a simple `PUT …/content` (see graph.rs).
    pub simple_upload_limit: u64,
    /// Quota of the signed-in user's personal drive.
    pub personal_quota_total: u64,
    /// Quota of the second user's business drive (the sharing-link owner).
    pub business_quota_total: u64,
    /// Whether a path-addressed PUT / createUploadSession creates missing
    /// parent folders (contract §3.7: unconfirmed today). Default false.
    pub auto_create_parents: bool,
    /// Answer 401 when an `Authorization` header is sent to a download URL
    /// (contract §6: unconfirmed). Default false.
    pub reject_auth_on_download: bool,
    /// Length in characters of issued access tokens (real ones are kilobytes).
    pub access_token_len: usize,
    /// Length in characters of issued refresh tokens.
    pub refresh_token_len: usize,
    /// Faults armed at start-up.
    pub faults: Vec<FaultSpec>,
    /// Seed of the random generator (ids, tokens, codes). `None`: random.
    pub seed: Option<u64>,
    /// The signed-in user.
    pub user: UserConfig,
    /// The owner of the business drive that sharing links point into.
    pub other_user: UserConfig,
}

/// Who a user is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserConfig {
    pub display_name: String,
    pub user_principal_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            data_dir: None,
            allowed_client_ids: Vec::new(),
            confidential_clients: Vec::new(),
            access_token_lifetime: Duration::from_secs(3599),
            refresh_token_lifetime: Duration::from_secs(90 * 24 * 3600),
            device_code_lifetime: DEFAULT_DEVICE_CODE_LIFETIME,
            device_poll_interval: Duration::from_secs(5),
            slow_down_increment: Duration::from_secs(5),
            auto_approve_after_polls: None,
            verification_uri: None,
            upload_session_lifetime: Duration::from_secs(3600),
            download_url_lifetime: Duration::from_secs(300),
            simple_upload_limit: 4 * 1024 * 1024,
            personal_quota_total: 5 * 1024 * 1024 * 1024,
            business_quota_total: 1024 * 1024 * 1024 * 1024,
            auto_create_parents: false,
            reject_auth_on_download: false,
            access_token_len: 1500,
            refresh_token_len: 800,
            faults: Vec::new(),
            seed: None,
            user: UserConfig {
                display_name: "Ada Lovelace".into(),
                user_principal_name: "ada.lovelace@outlook.com".into(),
            },
            other_user: UserConfig {
                display_name: "Grace Hopper".into(),
                user_principal_name: "grace.hopper@contoso.onmicrosoft.com".into(),
            },
        }
    }
}

impl Config {
    /// Short durations for test suites: no polling interval, 50 ms slow_down
    /// increment, 5 min tokens and sessions (tests expire them explicitly
    /// through the control API or set shorter lifetimes).
    pub fn for_tests() -> Self {
        Config {
            device_poll_interval: Duration::ZERO,
            slow_down_increment: Duration::from_millis(50),
            access_token_lifetime: Duration::from_secs(300),
            device_code_lifetime: Duration::from_secs(300),
            upload_session_lifetime: Duration::from_secs(300),
            access_token_len: 200,
            refresh_token_len: 120,
            ..Config::default()
        }
    }
}

/// What a fault does. Request faults (`throttle` … `partial_accept`) hit the
/// next `count` requests whose method and path match; actions
/// (`expire_upload_sessions` …) are carried out at once.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 `activityLimitReached` / inner `throttledRequest`, with
    /// `Retry-After` from `retry_after` (a number, or a list used one value
    /// per hit, the last one repeating: a growing sequence).
    Throttle,
    /// 503 `serviceNotAvailable`, with `Retry-After` only if `retry_after`.
    Unavailable,
    /// 500 `generalException` (or `status`: 502, 504, 509 …).
    ServerError,
    /// 423 Locked (the item is checked out or in use, SharePoint); the body
    /// code is unconfirmed (contract §2.2): `resourceLocked`. `Retry-After`
    /// only when `retry_after` is given.
    Locked,
    /// Read `after_bytes` of the request body (default: half of it), then
    /// close the socket without answering. An upload fragment hit this way
    /// contributes no bytes.
    DropConnection,
    /// For an upload fragment: receive it fully, keep only `accept_bytes`
    /// of it (default: the largest multiple of 320 KiB not above half of it)
    /// and answer 202 with `nextExpectedRanges` starting earlier than sent.
    PartialAccept,
    /// Action: expire upload session `session` (an id or uploadUrl) or all.
    ExpireUploadSessions,
    /// Action: every access token issued so far is now expired.
    ExpireAccessTokens,
    /// Action: every refresh token issued so far is revoked.
    RevokeRefreshTokens,
}

impl FaultKind {
    pub fn is_action(self) -> bool {
        matches!(
            self,
            FaultKind::ExpireUploadSessions
                | FaultKind::ExpireAccessTokens
                | FaultKind::RevokeRefreshTokens
        )
    }
}

/// `Retry-After` seconds: one value, or a sequence (one per hit).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum RetryAfter {
    One(u64),
    Sequence(Vec<u64>),
}

impl RetryAfter {
    /// The value for the `hit`-th (0-based) matching request.
    pub fn nth(&self, hit: u32) -> Option<u64> {
        match self {
            RetryAfter::One(v) => Some(*v),
            RetryAfter::Sequence(v) => v.get(hit as usize).or(v.last()).copied(),
        }
    }
}

/// One fault, as JSON: `{"kind":"throttle","path":"/v1.0/*","count":2,"retry_after":[1,3]}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// HTTP method to match (any when absent), case-insensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Glob over the raw request path (`*` matches anything, `/` included);
    /// default `*`. Control paths (`/_emulator/…`) are never faulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How many matching requests are hit (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<RetryAfter>,
    /// Status for `server_error` (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For `drop_connection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_bytes: Option<u64>,
    /// For `partial_accept`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_bytes: Option<u64>,
    /// For `expire_upload_sessions`: a session id or its uploadUrl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl FaultSpec {
    /// A fault of `kind` on every path, hitting once.
    pub fn new(kind: FaultKind) -> Self {
        FaultSpec {
            kind,
            method: None,
            path: None,
            count: None,
            retry_after: None,
            status: None,
            after_bytes: None,
            accept_bytes: None,
            session: None,
        }
    }
    pub fn path(mut self, glob: &str) -> Self {
        self.path = Some(glob.into());
        self
    }
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.into());
        self
    }
    pub fn count(mut self, n: u32) -> Self {
        self.count = Some(n);
        self
    }
    pub fn retry_after(mut self, seconds: &[u64]) -> Self {
        self.retry_after = Some(if seconds.len() == 1 {
            RetryAfter::One(seconds[0])
        } else {
            RetryAfter::Sequence(seconds.to_vec())
        });
        self
    }
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
    pub fn after_bytes(mut self, n: u64) -> Self {
        self.after_bytes = Some(n);
        self
    }
    pub fn accept_bytes(mut self, n: u64) -> Self {
        self.accept_bytes = Some(n);
        self
    }

    /// Checks the fields that matter for the kind.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(s) = self.status {
            if self.kind != FaultKind::ServerError {
                return Err("`status` is only for kind server_error".into());
            }
            if !(500..=599).contains(&s) {
                return Err(format!("server_error status must be 5xx, got {s}"));
            }
        }
        if self.retry_after.is_some()
            && !matches!(
                self.kind,
                FaultKind::Throttle | FaultKind::Unavailable | FaultKind::Locked
            )
        {
            return Err("`retry_after` is only for throttle, unavailable and locked".into());
        }
        if let Some(RetryAfter::Sequence(v)) = &self.retry_after
            && v.is_empty()
        {
            return Err("`retry_after` sequence is empty".into());
        }
        if self.after_bytes.is_some() && self.kind != FaultKind::DropConnection {
            return Err("`after_bytes` is only for drop_connection".into());
        }
        if self.accept_bytes.is_some() && self.kind != FaultKind::PartialAccept {
            return Err("`accept_bytes` is only for partial_accept".into());
        }
        if self.session.is_some() && self.kind != FaultKind::ExpireUploadSessions {
            return Err("`session` is only for expire_upload_sessions".into());
        }
        if self.count == Some(0) {
            return Err("`count` must be at least 1".into());
        }
        Ok(())
    }
}
