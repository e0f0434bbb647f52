//! `nuage-emulator`: a strict emulator of Microsoft identity (device code,
//! refresh, client credentials) and of the Microsoft Graph v1.0 drive subset
//! Nuage uses, following `shared/graph-contract.md` status code by status
//! code, with fault injection and a control API for tests and demos.
//!
//! ```no_run
//! let emu = nuage_emulator::Emulator::start(nuage_emulator::Config::for_tests()).unwrap();
//! let authority = emu.authority_url(); // + "/{tenant}/oauth2/v2.0/devicecode"
//! let graph = emu.graph_url();         // ".../v1.0"
//! # let _ = (authority, graph);
//! ```
//!
//! Everything listens on 127.0.0.1 only. Pre-authenticated URLs (uploads,
//! downloads) point at the emulator itself.

mod config;
mod control;
mod errors;
mod faults;
mod graph;
mod identity;
mod names;
mod state;
mod upload;
mod util;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, header};
use axum::routing::{any, get, post};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

pub use config::{Config, FaultKind, FaultSpec, RetryAfter, UserConfig};
pub use control::ShareInfo;
pub use graph::encode_share_url;
pub use upload::{FRAGMENT_UNIT, MAX_REQUEST};

use state::Shared;

/// The client id `POST /_emulator/tokens` uses when none is configured.
pub const DEFAULT_CLIENT_ID: &str = "00000000-0000-0000-0000-00000000ca5e";

/// Starts emulators.
pub struct Emulator;

impl Emulator {
    /// Starts on the current tokio runtime if there is one, else on a
    /// runtime of its own in a background thread.
    pub fn start(config: Config) -> anyhow::Result<Handle> {
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => Self::start_on(&rt, config),
            Err(_) => Self::start_in_thread(config),
        }
    }

    /// Starts on the given runtime.
    pub fn start_on(rt: &tokio::runtime::Handle, config: Config) -> anyhow::Result<Handle> {
        let (listener, addr, shared) = prepare(config)?;
        let (tx, rx) = watch::channel(false);
        let _enter = rt.enter();
        let listener = tokio::net::TcpListener::from_std(listener)?;
        rt.spawn(serve(listener, shared.clone(), rx));
        Ok(Handle {
            shared,
            addr,
            shutdown: Some(tx),
            thread: None,
        })
    }

    /// Starts on a two-worker runtime in a thread of its own (for
    /// synchronous tests, or tests whose runtime is single-threaded).
    pub fn start_in_thread(config: Config) -> anyhow::Result<Handle> {
        let (listener, addr, shared) = prepare(config)?;
        let (tx, rx) = watch::channel(false);
        let s = shared.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nuage-emulator")
            .enable_all()
            .build()
            .context("building the emulator's runtime")?;
        let thread = std::thread::Builder::new()
            .name("nuage-emulator".into())
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => serve(l, s, rx).await,
                        Err(e) => tracing::error!("emulator listener: {e}"),
                    }
                });
            })
            .context("spawning the emulator thread")?;
        Ok(Handle {
            shared,
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

fn prepare(config: Config) -> anyhow::Result<(std::net::TcpListener, SocketAddr, Arc<Shared>)> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", config.port))
        .with_context(|| format!("binding 127.0.0.1:{}", config.port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared::new(config, format!("http://{addr}"))?);
    Ok((listener, addr, shared))
}

/// A running emulator; stops when dropped.
pub struct Handle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Handle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }
    /// The identity root: clients append `/{tenant}/oauth2/v2.0/devicecode`.
    pub fn authority_url(&self) -> String {
        self.shared.base_url.clone()
    }
    /// `http://127.0.0.1:PORT/v1.0`
    pub fn graph_url(&self) -> String {
        self.shared.graph_url()
    }
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Approves the pending device code `user_code` with all asked scopes.
    pub fn approve(&self, user_code: &str) -> Result<(), String> {
        identity::decide(&mut self.shared.lock(), user_code, true, None)
    }
    /// Approves granting only `scopes` (the user consented to fewer).
    pub fn approve_with_scopes(&self, user_code: &str, scopes: &[&str]) -> Result<(), String> {
        let s = scopes.iter().map(|s| s.to_string()).collect();
        identity::decide(&mut self.shared.lock(), user_code, true, Some(s))
    }
    pub fn decline(&self, user_code: &str) -> Result<(), String> {
        identity::decide(&mut self.shared.lock(), user_code, false, None)
    }
    /// Moves the emulator's clock forward by `d`: tokens, device codes,
    /// upload sessions and download URLs age as if `d` had passed, and
    /// polling intervals count it. Tests call this instead of sleeping.
    pub fn advance_clock(&self, d: std::time::Duration) {
        self.shared.lock().clock_offset_ms += d.as_millis() as i64;
    }

    /// User codes of the device codes waiting for approval.
    pub fn pending_user_codes(&self) -> Vec<String> {
        let inner = self.shared.lock();
        let now = inner.now_ms();
        inner
            .device_codes
            .iter()
            .filter(|c| c.status == state::DeviceStatus::Pending && c.expires_ms > now)
            .map(|c| c.user_code.clone())
            .collect()
    }

    /// Arms request faults / carries out actions (as `POST /_emulator/faults`).
    pub fn inject(&self, faults: Vec<FaultSpec>) -> Result<(), String> {
        faults::apply(&self.shared, faults).map(|_| ())
    }
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }
    pub fn expire_access_tokens(&self) {
        let _ = self.inject(vec![FaultSpec::new(FaultKind::ExpireAccessTokens)]);
    }
    pub fn revoke_refresh_tokens(&self) {
        let _ = self.inject(vec![FaultSpec::new(FaultKind::RevokeRefreshTokens)]);
    }
    /// Expires one upload session (by id or uploadUrl), or all when `None`.
    pub fn expire_upload_sessions(&self, which: Option<&str>) -> usize {
        upload::expire_sessions(&mut self.shared.lock(), which)
    }

    /// Registers a sharing link to folder `path` (created if missing) of the
    /// other user's business drive.
    pub fn register_share(&self, path: &str) -> Result<ShareInfo, String> {
        control::register_share(&self.shared, path, None)
    }
    pub fn register_share_url(&self, path: &str, url: &str) -> Result<ShareInfo, String> {
        control::register_share(&self.shared, path, Some(url.into()))
    }

    /// Delegated tokens for the signed-in user, skipping the device flow:
    /// the token response JSON (`access_token`, `refresh_token` if
    /// `offline_access` is in `scopes`).
    pub fn mint_tokens(&self, scopes: &str) -> serde_json::Value {
        let client = self
            .shared
            .config
            .allowed_client_ids
            .first()
            .cloned()
            .unwrap_or_else(|| DEFAULT_CLIENT_ID.to_string());
        control::mint_tokens(&self.shared, scopes, &client).unwrap_or_default()
    }
    /// An access token with `scopes` (see `mint_tokens`).
    pub fn mint_access_token(&self, scopes: &str) -> String {
        self.mint_tokens(scopes)["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The JSON summary of `GET /_emulator/state`.
    pub fn state(&self) -> serde_json::Value {
        control::state_json(&self.shared)
    }
    /// Drive ids: the signed-in user's personal drive, and the other user's
    /// business drive.
    pub fn personal_drive_id(&self) -> String {
        self.shared.lock().drives[state::ME].id.clone()
    }
    pub fn business_drive_id(&self) -> String {
        self.shared.lock().drives[state::OTHER].id.clone()
    }
    /// Raw stored bytes of `path` in drive `drive` (`me`, `business` or an id).
    pub fn file_bytes(&self, drive: &str, path: &str) -> Option<Vec<u8>> {
        let d = control::drive_alias(&self.shared, drive)?;
        let (blob, _) = control::file_blob(&self.shared, d, path)?;
        std::fs::read(blob).ok()
    }
    /// Bit rot at the provider: flips one stored byte of `path` in the
    /// middle, leaving its size and recorded hash as they were (so only a
    /// download finds it). False when there is no such file.
    pub fn rot_file(&self, drive: &str, path: &str) -> bool {
        let Some(d) = control::drive_alias(&self.shared, drive) else {
            return false;
        };
        let Some((blob, size)) = control::file_blob(&self.shared, d, path) else {
            return false;
        };
        let Ok(mut bytes) = std::fs::read(&blob) else {
            return false;
        };
        if size == 0 {
            return false;
        }
        bytes[(size / 2) as usize] ^= 0x5a;
        std::fs::write(&blob, bytes).is_ok()
    }
    /// Stores a file (parents created, replaced if present).
    pub fn put_file(&self, drive: &str, path: &str, bytes: &[u8]) -> Result<(), String> {
        let d = control::drive_alias(&self.shared, drive).ok_or("no such drive")?;
        control::put_file(&self.shared, d, path, bytes)
    }
    /// Changes a drive's quota total.
    pub fn set_quota(&self, drive: &str, total: u64) -> Result<(), String> {
        let d = control::drive_alias(&self.shared, drive).ok_or("no such drive")?;
        self.shared.lock().drives[d].quota_total = total;
        Ok(())
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/devicecode", post(identity::devicecode))
        .route("/{tenant}/oauth2/v2.0/token", post(identity::token))
        .route("/v1.0/{*rest}", any(graph::graph))
        .route("/_upload/{id}", any(upload::upload_url))
        .route("/_download/{token}", any(upload::download_url))
        .route("/_emulator", get(control::page))
        .route("/_emulator/", get(control::page))
        .route("/_emulator/devicelogin", get(control::page))
        .route("/_emulator/state", get(control::state))
        .route("/_emulator/device", get(control::devices))
        .route("/_emulator/device/approve", post(control::approve))
        .route("/_emulator/device/decline", post(control::decline))
        .route(
            "/_emulator/faults",
            get(control::faults_get)
                .post(control::faults_post)
                .delete(control::faults_delete),
        )
        .route("/_emulator/shares", post(control::shares))
        .route("/_emulator/tokens", post(control::tokens))
        .route(
            "/_emulator/files/{drive}/{*path}",
            get(control::file_get).put(control::file_put),
        )
        .fallback(|| async {
            errors::GraphError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "BadRequest",
                "Invalid version or resource: the emulator serves /v1.0, /{tenant}/oauth2/v2.0 and /_emulator",
            )
        })
        .with_state(shared)
}

async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = router(shared.clone());
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let (shared, app, mut shutdown) = (shared.clone(), app.clone(), shutdown.clone());
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let k = kill.clone();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                handle_request(shared.clone(), app.clone(), k.clone(), req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                // Fault: close the socket without answering.
                _ = kill.notified() => {}
                _ = shutdown.changed() => {}
            }
        });
    }
}

async fn handle_request(
    shared: Arc<Shared>,
    app: Router,
    kill: Arc<Notify>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let had_auth = req.headers().contains_key(header::AUTHORIZATION);
    let control = path.starts_with("/_emulator");
    let client_request_id = req.headers().get("client-request-id").cloned();
    let content_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut req = req.map(Body::new);
    let hit = if control {
        None
    } else {
        faults::take(&shared, &method, &path)
    };
    let mut resp = match hit {
        Some(faults::Hit::Respond(resp)) => {
            graph::drain(req.into_body()).await;
            resp
        }
        Some(faults::Hit::Drop(after)) => {
            let s = shared.clone();
            let (m, p) = (method.clone(), path.clone());
            let on_fire: Box<dyn FnOnce() + Send> = Box::new(move || {
                s.lock().record(&m, &p, 0, had_auth);
            });
            if content_length.unwrap_or(0) == 0 {
                // Nothing to read: close at once.
                on_fire();
                kill.notify_one();
                return std::future::pending().await;
            }
            let after = after.unwrap_or_else(|| content_length.unwrap_or(0) / 2);
            let (parts, body) = req.into_parts();
            let body = Body::new(faults::DropAfter {
                inner: body,
                remaining: after,
                kill: kill.clone(),
                fired: false,
                on_fire: Some(on_fire),
            });
            let r = app.oneshot(Request::from_parts(parts, body)).await;
            r.unwrap_or_else(|e| match e {})
        }
        Some(faults::Hit::Partial(n)) => {
            req.extensions_mut().insert(upload::PartialAccept(n));
            app.oneshot(req).await.unwrap_or_else(|e| match e {})
        }
        None => app.oneshot(req).await.unwrap_or_else(|e| match e {}),
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&util::guid()) {
        h.insert("request-id", v);
    }
    h.insert(
        "client-request-id",
        client_request_id.unwrap_or_else(|| {
            HeaderValue::from_str(&util::guid()).unwrap_or(HeaderValue::from_static("0"))
        }),
    );
    if !control {
        shared
            .lock()
            .record(&method, &path, resp.status().as_u16(), had_auth);
    }
    Ok(resp)
}
