//! The Graph drive client: the few calls a backup tool makes, every one of
//! them through [`Graph::send`], which applies the one retry policy of
//! [`crate::retry`] (wait exactly `Retry-After`, jittered back-off on 5xx
//! and network errors, refresh once on 401, stop on what retrying cannot
//! fix) within a time budget.
//!
//! Synchronous on purpose: the engine is synchronous (SQLite is), and a
//! blocking client keeps memory and control flow simple. Callers on an async
//! runtime use `spawn_blocking`.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, CONTENT_RANGE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{GraphError, NetworkErrorKind, Result};
use crate::names::encode_path_segment;
use crate::retry::{self, Backoff, Budget, RetryConfig, Step};
use crate::types::{
    ChildrenPage, ConflictBehavior, CreateFolderRequest, CreateUploadSessionRequest, Drive,
    DriveItem, ItemLocation, MoveRequest, ParentId, Secret, UploadSession, User,
};

/// Largest file sent with one simple PUT (contract §3.7: every client uses 4 MiB).
pub const SIMPLE_UPLOAD_MAX: u64 = 4 << 20;
/// Upload fragments are multiples of 320 KiB (contract §4.2).
pub const FRAGMENT_UNIT: u64 = 320 << 10;
/// 32 × 320 KiB = 10 MiB, the recommended fragment size.
pub const DEFAULT_FRAGMENT: u64 = 32 * FRAGMENT_UNIT;

/// Gives the client access tokens; owned by the caller, who keeps the
/// refresh token in the keychain.
pub trait TokenSource {
    /// A valid access token (refreshing first when it is about to expire).
    fn access_token(&mut self) -> Result<Secret>;
    /// A new access token after Graph refused the current one.
    fn refresh(&mut self) -> Result<Secret>;
}

/// Where resumable upload sessions are remembered between attempts.
pub trait SessionStore {
    fn load(&self) -> Option<(Secret, u64)>;
    fn save(&mut self, url: &Secret, next_offset: u64) -> Result<()>;
    fn clear(&mut self) -> Result<()>;
}

/// The body of one request, re-sent as is when the request is retried.
#[derive(Clone)]
enum Body {
    Empty,
    Json(serde_json::Value),
    Bytes(Vec<u8>),
}

pub struct Graph<'t> {
    http: Client,
    base: String,
    tokens: &'t mut dyn TokenSource,
    budget: Budget,
    config: RetryConfig,
    fragment: u64,
}

/// The HTTP client type, for callers that keep one for a whole run.
pub type HttpClient = Client;

/// The HTTP client for Graph: redirects are followed by hand (a download's
/// 302 goes to a pre-authenticated URL that must not get the bearer token),
/// bounded connect and request timeouts. Cloning it shares its pool.
pub fn http_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(20))
        .timeout(Duration::from_secs(300))
        .build()
        .expect("a TLS backend is compiled in")
}

/// What kind of transport failure `e` is (for the retry policy).
pub fn network_kind(e: &reqwest::Error) -> NetworkErrorKind {
    if e.is_timeout() {
        NetworkErrorKind::Timeout
    } else if e.is_connect() {
        NetworkErrorKind::Connect
    } else {
        NetworkErrorKind::Reset
    }
}

/// The largest answer read into memory (JSON, or an error body): a page of
/// 200 children is about 200 KiB. A server sending more is refused, not
/// buffered.
pub const MAX_ANSWER: u64 = 4 << 20;

/// Reads an answer's body, refusing more than [`MAX_ANSWER`] bytes.
pub fn read_capped(resp: impl Read) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    resp.take(MAX_ANSWER + 1).read_to_end(&mut body)?;
    if body.len() as u64 > MAX_ANSWER {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the answer is larger than {} MiB", MAX_ANSWER >> 20),
        ));
    }
    Ok(body)
}

fn decode<T: DeserializeOwned>(resp: Response) -> Result<T> {
    let bytes = read_capped(resp).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => GraphError::InvalidResponse {
            detail: format!("unexpected answer from Graph: {e}"),
        },
        _ => GraphError::Network {
            kind: NetworkErrorKind::Reset,
        },
    })?;
    serde_json::from_slice(&bytes).map_err(|e| GraphError::InvalidResponse {
        detail: format!("unexpected answer from Graph: {e}"),
    })
}

/// The most children a folder listing may hold (Nuage's folders hold one
/// file per restore point).
pub const MAX_CHILDREN: usize = 100_000;

/// The answer to one upload fragment.
pub enum Fragment {
    /// More bytes are expected, from this offset.
    Accepted(u64),
    /// The file is complete.
    Done(Box<DriveItem>),
}

impl<'t> Graph<'t> {
    /// A client for `base` (e.g. `https://graph.microsoft.com/v1.0`) that
    /// gives up retrying after `budget`.
    pub fn new(base: &str, tokens: &'t mut dyn TokenSource, budget: Duration) -> Graph<'t> {
        Graph::with_client(
            &http_client(),
            base,
            tokens,
            Budget::new(Instant::now(), budget),
        )
    }

    /// A client sharing an HTTP connection pool and a run's time budget
    /// with other calls of the same run.
    pub fn with_client(
        http: &Client,
        base: &str,
        tokens: &'t mut dyn TokenSource,
        budget: Budget,
    ) -> Graph<'t> {
        Graph {
            http: http.clone(),
            base: base.trim_end_matches('/').to_string(),
            tokens,
            budget,
            config: RetryConfig::default(),
            fragment: DEFAULT_FRAGMENT,
        }
    }

    /// Fragment size for upload sessions, rounded down to a multiple of 320 KiB.
    pub fn with_fragment_size(mut self, bytes: u64) -> Self {
        self.fragment = (bytes / FRAGMENT_UNIT).max(1) * FRAGMENT_UNIT;
        self
    }

    /// Whether `path` is relative to the Graph endpoint, or an absolute
    /// URL on its origin (scheme, host and port) under its path.
    fn on_graph(&self, path: &str) -> bool {
        if !(path.starts_with("http://") || path.starts_with("https://")) {
            return path.starts_with('/');
        }
        let (Ok(base), Ok(url)) = (reqwest::Url::parse(&self.base), reqwest::Url::parse(path))
        else {
            return false;
        };
        url.origin() == base.origin()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path().starts_with(base.path().trim_end_matches('/'))
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Sends one request under the retry policy. `authorized` is false for
    /// pre-authenticated URLs (upload sessions, downloads), which must
    /// never carry the bearer token. Returns the successful answer, or for
    /// a 416 during an upload `Err(UploadOutOfSync)` after the retries.
    fn send(
        &mut self,
        method: Method,
        url: &str,
        body: Body,
        headers: &[(&str, String)],
        authorized: bool,
    ) -> Result<Response> {
        // The bearer token goes to Graph only: an absolute URL (a paging
        // link handed back by the UI or by a server) must be on the
        // configured Graph endpoint's origin.
        if authorized && !self.on_graph(url) {
            return Err(GraphError::InvalidRequest {
                status: 0,
                codes: vec!["a link outside Microsoft Graph was refused".into()],
            });
        }
        let mut backoff = Backoff::new(self.config);
        let mut token = if authorized {
            Some(self.tokens.access_token()?)
        } else {
            None
        };
        loop {
            let mut req: RequestBuilder = self.http.request(method.clone(), self.url(url));
            if let Some(t) = &token {
                req = req.header(AUTHORIZATION, format!("Bearer {}", t.expose()));
            }
            for (k, v) in headers {
                req = req.header(*k, v.as_str());
            }
            req = match &body {
                Body::Empty => req.header("Content-Length", "0"),
                Body::Json(v) => req.json(v),
                Body::Bytes(b) => req.body(b.clone()),
            };
            let decision = match req.send() {
                Err(e) => (retry::classify_network(network_kind(&e)), None),
                Ok(resp) if resp.status().is_success() || resp.status().is_redirection() => {
                    return Ok(resp);
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let body = read_capped(resp).unwrap_or_default();
                    (
                        retry::classify(status, retry_after.as_deref(), &body),
                        Some(status),
                    )
                }
            };
            let (decision, status) = decision;
            // A 404 on an upload URL means the session is gone (contract §4.4).
            if !authorized && status == Some(404) {
                return Err(GraphError::UploadSessionGone);
            }
            match backoff.next(decision, &self.budget, Instant::now()) {
                Step::Done => unreachable!("successes return above"),
                Step::Sleep(d) => std::thread::sleep(d),
                Step::RefreshToken if authorized => token = Some(self.tokens.refresh()?),
                // A 401 on a pre-authenticated URL cannot be fixed by a token.
                Step::RefreshToken => return Err(GraphError::UploadSessionGone),
                Step::Resync => return Err(GraphError::UploadOutOfSync),
                Step::Fail(e) => return Err(e),
            }
        }
    }

    fn get_json<T: DeserializeOwned>(&mut self, path: &str) -> Result<T> {
        decode(self.send(Method::GET, path, Body::Empty, &[], true)?)
    }

    pub fn me(&mut self) -> Result<User> {
        self.get_json("/me")
    }

    pub fn my_drive(&mut self) -> Result<Drive> {
        self.get_json("/me/drive")
    }

    pub fn drive(&mut self, drive_id: &str) -> Result<Drive> {
        self.get_json(&format!("/drives/{}", encode_path_segment(drive_id)))
    }

    pub fn item(&mut self, at: &ItemLocation) -> Result<DriveItem> {
        self.get_json(&item_path(at))
    }

    /// The item at `path` below `at` (a folder), or `None`.
    pub fn child_by_path(&mut self, at: &ItemLocation, path: &str) -> Result<Option<DriveItem>> {
        match self.get_json(&format!("{}:/{}:", item_path(at), encode_relative(path))) {
            Ok(i) => Ok(Some(i)),
            Err(GraphError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The root folder of the signed-in user's drive.
    pub fn my_root(&mut self) -> Result<ItemLocation> {
        let root: DriveItem = self.get_json("/me/drive/root")?;
        root.location().ok_or_else(|| GraphError::InvalidResponse {
            detail: "the drive root has no id".into(),
        })
    }

    /// One page of a folder's children; pass the `next` link to continue.
    pub fn children_page(
        &mut self,
        at: &ItemLocation,
        next: Option<&str>,
        page_size: u32,
    ) -> Result<ChildrenPage> {
        match next {
            Some(link) => self.get_json(link),
            None => self.get_json(&format!("{}/children?$top={page_size}", item_path(at))),
        }
    }

    /// Every child of a folder, following `@odata.nextLink`, up to
    /// [`MAX_CHILDREN`]: a listing that never ends is refused.
    pub fn children(&mut self, at: &ItemLocation) -> Result<Vec<DriveItem>> {
        let mut all = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self.children_page(at, next.as_deref(), 200)?;
            all.extend(page.value);
            if all.len() > MAX_CHILDREN {
                return Err(GraphError::InvalidResponse {
                    detail: format!(
                        "the folder lists more than {MAX_CHILDREN} items; Nuage keeps far fewer copies in one folder"
                    ),
                });
            }
            match page.next_link {
                Some(l) => next = Some(l),
                None => return Ok(all),
            }
        }
    }

    /// Creates folder `name` in `parent`, or returns the existing one.
    pub fn ensure_folder(&mut self, parent: &ItemLocation, name: &str) -> Result<ItemLocation> {
        crate::names::validate_name(name).map_err(GraphError::InvalidName)?;
        if let Some(existing) = self.child_by_path(parent, name)? {
            return existing
                .location()
                .ok_or_else(|| GraphError::InvalidResponse {
                    detail: "folder without id".into(),
                });
        }
        let body = serde_json::to_value(CreateFolderRequest::new(name, ConflictBehavior::Fail))
            .expect("serializable");
        let created = self.send(
            Method::POST,
            &format!("{}/children", item_path(parent)),
            Body::Json(body),
            &[],
            true,
        );
        let item: DriveItem = match created {
            Ok(r) => decode(r)?,
            // Created meanwhile by someone else: use it.
            Err(GraphError::NameAlreadyExists) => {
                self.child_by_path(parent, name)?
                    .ok_or(GraphError::NotFound {
                        code: "itemNotFound".into(),
                    })?
            }
            Err(e) => return Err(e),
        };
        item.location().ok_or_else(|| GraphError::InvalidResponse {
            detail: "folder without id".into(),
        })
    }

    /// Creates every folder of `path` (`a/b/c`) below `root`.
    pub fn ensure_path(&mut self, root: &ItemLocation, path: &str) -> Result<ItemLocation> {
        let mut at = root.clone();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            at = self.ensure_folder(&at, seg)?;
        }
        Ok(at)
    }

    /// The folder a sharing link points to, in its owner's drive.
    pub fn resolve_share_link(&mut self, link: &str) -> Result<DriveItem> {
        let encoded = crate::names::encode_share_link(link);
        decode(self.send(
            Method::GET,
            &format!("/shares/{encoded}/driveItem"),
            Body::Empty,
            &[("Prefer", "redeemSharingLinkIfNecessary".to_string())],
            true,
        )?)
    }

    /// Moves the item `at` into the folder `to` (same drive), keeping its
    /// name and id. A name already taken in `to` is
    /// [`GraphError::NameAlreadyExists`]. Repeating a move that already
    /// happened succeeds, so it is safe under the retry policy.
    pub fn move_item(&mut self, at: &ItemLocation, to: &ItemLocation) -> Result<DriveItem> {
        self.move_item_as(at, to, None)
    }

    /// Moves the item `at` into the folder `to` (same drive) under the
    /// name `name` (its own when `None`), in one request. A name already
    /// taken in `to` is [`GraphError::NameAlreadyExists`].
    pub fn move_item_as(
        &mut self,
        at: &ItemLocation,
        to: &ItemLocation,
        name: Option<&str>,
    ) -> Result<DriveItem> {
        if let Some(n) = name {
            crate::names::validate_name(n).map_err(GraphError::InvalidName)?;
        }
        let body = serde_json::to_value(MoveRequest {
            parent_reference: ParentId {
                id: to.item_id.clone(),
            },
            name: name.map(str::to_string),
        })
        .expect("serializable");
        decode(self.send(Method::PATCH, &item_path(at), Body::Json(body), &[], true)?)
    }

    pub fn delete(&mut self, at: &ItemLocation) -> Result<()> {
        match self.send(Method::DELETE, &item_path(at), Body::Empty, &[], true) {
            Ok(_) | Err(GraphError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Streams a file's bytes into `out`: `/content` answers 302 to a
    /// pre-authenticated URL, fetched without the bearer token.
    pub fn download(&mut self, at: &ItemLocation, out: &mut dyn Write) -> Result<u64> {
        let resp = self.send(
            Method::GET,
            &format!("{}/content", item_path(at)),
            Body::Empty,
            &[],
            true,
        )?;
        let mut resp = if resp.status().is_redirection() {
            let to = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| GraphError::InvalidResponse {
                    detail: "download redirect without a location".into(),
                })?
                .to_string();
            self.send(Method::GET, &to, Body::Empty, &[], false)?
        } else {
            resp
        };
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let got = resp.read(&mut buf).map_err(|_| GraphError::Network {
                kind: NetworkErrorKind::Reset,
            })?;
            if got == 0 {
                return Ok(n);
            }
            out.write_all(&buf[..got])
                .map_err(|e| GraphError::InvalidResponse {
                    detail: format!("cannot write the download: {e}"),
                })?;
            n += got as u64;
        }
    }

    /// Uploads `size` bytes read by `read_at(offset, buf)` as `name` in
    /// `parent`, replacing a file of that name: one PUT up to 4 MiB, an
    /// upload session above, resumed from `sessions` when possible.
    /// Returns the stored item (check its size and hash).
    pub fn upload(
        &mut self,
        parent: &ItemLocation,
        name: &str,
        size: u64,
        read_at: &mut dyn FnMut(u64, &mut [u8]) -> std::io::Result<()>,
        sessions: &mut dyn SessionStore,
        progress: &mut dyn FnMut(u64),
    ) -> Result<DriveItem> {
        crate::names::validate_name(name).map_err(GraphError::InvalidName)?;
        let target = format!("{}:/{}:", item_path(parent), encode_path_segment(name));
        if size <= SIMPLE_UPLOAD_MAX {
            let mut bytes = vec![0u8; size as usize];
            read_at(0, &mut bytes).map_err(local_read)?;
            let resp = self.send(
                Method::PUT,
                &format!("{target}/content?@microsoft.graph.conflictBehavior=replace"),
                Body::Bytes(bytes),
                &[("Content-Type", "application/octet-stream".into())],
                true,
            )?;
            progress(size);
            return decode(resp);
        }
        let mut buf = vec![0u8; self.fragment as usize];
        // Continue a session a previous attempt (or process) left, if the
        // server still has it.
        let mut session = match sessions.load() {
            Some((url, _)) => match self.session_status(&url) {
                Ok(offset) => Some((url, offset)),
                Err(GraphError::UploadSessionGone) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let mut fresh_sessions = 0;
        loop {
            let (url, mut offset) = match session.take() {
                Some(s) => s,
                None => {
                    fresh_sessions += 1;
                    if fresh_sessions > 3 {
                        return Err(GraphError::UploadSessionGone);
                    }
                    let body = serde_json::to_value(CreateUploadSessionRequest::new(
                        name,
                        size,
                        ConflictBehavior::Replace,
                    ))
                    .expect("serializable");
                    let created: UploadSession = decode(self.send(
                        Method::POST,
                        &format!("{target}/createUploadSession"),
                        Body::Json(body),
                        &[],
                        true,
                    )?)?;
                    let url = created
                        .upload_url
                        .ok_or_else(|| GraphError::InvalidResponse {
                            detail: "upload session without uploadUrl".into(),
                        })?;
                    sessions.save(&url, 0)?;
                    (url, 0)
                }
            };
            progress(offset);
            // Answers that do not move the upload forward, in a row.
            let mut stalled = 0;
            let outcome = loop {
                if stalled > 5 {
                    break Err(GraphError::UploadOutOfSync);
                }
                let len = (size - offset).min(self.fragment);
                let chunk = &mut buf[..len as usize];
                if let Err(e) = read_at(offset, chunk) {
                    break Err(local_read(e));
                }
                match self.put_fragment(&url, offset, chunk, size) {
                    Ok(Fragment::Done(item)) => break Ok(*item),
                    Ok(Fragment::Accepted(next)) => {
                        stalled = if next > offset { 0 } else { stalled + 1 };
                        offset = next;
                        sessions.save(&url, offset)?;
                        progress(offset);
                    }
                    // 416 or a partial accept: ask the server where it is.
                    Err(GraphError::UploadOutOfSync) => match self.session_status(&url) {
                        Ok(next) => {
                            stalled += 1;
                            offset = next;
                        }
                        Err(e) => break Err(e),
                    },
                    Err(e) => break Err(e),
                }
            };
            match outcome {
                Ok(item) => {
                    sessions.clear()?;
                    progress(size);
                    return Ok(item);
                }
                // Expired or lost: a new session from zero, and every later
                // fragment goes to the new URL.
                Err(GraphError::UploadSessionGone) => {
                    sessions.clear()?;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `GET {uploadUrl}`: where the server wants the next bytes.
    fn session_status(&mut self, url: &Secret) -> Result<u64> {
        let s: UploadSession =
            decode(self.send(Method::GET, url.expose(), Body::Empty, &[], false)?)?;
        s.next_expected_start().ok_or(GraphError::UploadOutOfSync)
    }

    fn put_fragment(
        &mut self,
        url: &Secret,
        offset: u64,
        bytes: &[u8],
        total: u64,
    ) -> Result<Fragment> {
        let end = offset + bytes.len() as u64 - 1;
        let resp = self.send(
            Method::PUT,
            url.expose(),
            Body::Bytes(bytes.to_vec()),
            &[(
                CONTENT_RANGE.as_str(),
                format!("bytes {offset}-{end}/{total}"),
            )],
            false,
        )?;
        match resp.status() {
            StatusCode::ACCEPTED => {
                let s: UploadSession = decode(resp)?;
                // Normally `end + 1`; after a partial accept, earlier: the
                // caller resends from where the server says.
                let next = s.next_expected_start().ok_or(GraphError::UploadOutOfSync)?;
                Ok(Fragment::Accepted(next))
            }
            _ => Ok(Fragment::Done(Box::new(decode(resp)?))),
        }
    }
}

fn local_read(e: std::io::Error) -> GraphError {
    GraphError::InvalidResponse {
        detail: format!("cannot read the local copy: {e}"),
    }
}

/// `/drives/{d}/items/{id}`
pub fn item_path(at: &ItemLocation) -> String {
    format!(
        "/drives/{}/items/{}",
        encode_path_segment(&at.drive_id),
        encode_path_segment(&at.item_id)
    )
}

fn encode_relative(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(encode_path_segment)
        .collect::<Vec<_>>()
        .join("/")
}
