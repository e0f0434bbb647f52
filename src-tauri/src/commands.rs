//! The commands the web UI invokes (ui/src/api.ts is the other side).
//! Each one is thin: it calls the engine on a blocking thread and maps the
//! result; errors cross as `{code, message}` ([`AppError`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use nuage_engine::Overview;
use nuage_engine::{Account, FolderEntry, FolderPage};
use nuage_engine::{
    BackupRef, Cancel, DestinationConfig, Engine, Event, Preview, RestorePoint, RestoreReport,
    RunRecord, Schedule, SourceCheck, SourceRecord,
};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};

use crate::error::{AppError, CmdResult, ErrorCode};
use crate::i18n::Lang;
use crate::{Nuage, PendingSignIn, TrayShown};

/// Runs `f` with an engine on `home`, off the UI's async runtime (the
/// engine, SQLite and the keychain are blocking).
async fn with_engine<T, F>(nuage: &Nuage, f: F) -> CmdResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Engine) -> CmdResult<T> + Send + 'static,
{
    let (home, config) = (nuage.home.clone(), nuage.config.clone());
    tauri::async_runtime::spawn_blocking(move || f(&Engine::open_with(&home, config)?))
        .await
        .map_err(|e| AppError::new(ErrorCode::Failed, format!("Internal error: {e}.")))?
}

/// The engine's overview plus what only the shell knows.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct AppOverview {
    #[serde(flatten)]
    pub overview: Overview,
    /// False when the desktop has no tray: the UI says so.
    pub tray_available: bool,
}

/// [`with_engine`] for a change of settings or data: the service
/// recomputes the state (and may start a due run) right after.
async fn changing<T, F>(nuage: &Nuage, f: F) -> CmdResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Engine) -> CmdResult<T> + Send + 'static,
{
    let r = with_engine(nuage, f).await;
    nuage.service.refresh();
    r
}

#[tauri::command]
pub async fn overview(nuage: State<'_, Nuage>) -> CmdResult<AppOverview> {
    let service = Arc::clone(&nuage.service);
    let tray_available = nuage
        .tray
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .available;
    let overview =
        tauri::async_runtime::spawn_blocking(move || service.overview().map_err(AppError::from))
            .await
            .map_err(|e| AppError::new(ErrorCode::Failed, format!("Internal error: {e}.")))??;
    Ok(AppOverview {
        overview,
        tray_available,
    })
}

#[tauri::command]
pub async fn account(nuage: State<'_, Nuage>) -> CmdResult<Account> {
    with_engine(&nuage, |e| Ok(e.whoami()?)).await
}

/// The app registration signing in uses, as the sign-in screen shows it.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct Registration {
    pub client_id: String,
    pub tenant: String,
}

#[tauri::command]
pub async fn app_registration(nuage: State<'_, Nuage>) -> CmdResult<Option<Registration>> {
    with_engine(&nuage, |e| match e.app_registration(None, None) {
        Ok(a) => Ok(Some(Registration {
            client_id: a.client_id,
            tenant: a.tenant,
        })),
        Err(err) if err.code() == ErrorCode::SignInRequired => Ok(None),
        Err(err) => Err(err.into()),
    })
    .await
}

/// The device code, as the sign-in screen shows it.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct DeviceCode {
    pub user_code: String,
    pub verification_uri: String,
    pub expires_at: String,
    pub message: String,
}

fn trimmed(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

#[tauri::command]
pub async fn sign_in_start(
    nuage: State<'_, Nuage>,
    client_id: Option<String>,
    tenant: Option<String>,
) -> CmdResult<DeviceCode> {
    // A sign-in still waiting is abandoned.
    if let Some(old) = nuage
        .sign_in
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        old.cancel.store(true, Ordering::Relaxed);
    }
    let (client_id, tenant) = (trimmed(client_id), trimmed(tenant));
    let (flow, app) = with_engine(&nuage, move |e| {
        let app = e.app_registration(client_id.as_deref(), tenant.as_deref())?;
        Ok((e.start_sign_in(&app)?, app))
    })
    .await?;
    let left = flow
        .expires_at
        .saturating_duration_since(std::time::Instant::now());
    let code = DeviceCode {
        user_code: flow.user_code.clone(),
        verification_uri: flow.verification_uri.clone(),
        expires_at: (Utc::now() + chrono::Duration::from_std(left).unwrap_or_default())
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        message: flow.message.clone(),
    };
    *nuage.sign_in.lock().unwrap_or_else(|p| p.into_inner()) = Some(PendingSignIn {
        flow: Arc::new(flow),
        app,
        cancel: Arc::new(AtomicBool::new(false)),
    });
    Ok(code)
}

fn pending(nuage: &Nuage) -> CmdResult<PendingSignIn> {
    nuage
        .sign_in
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::SignInRequired,
                "No sign-in is in progress. Start the sign-in again.",
            )
        })
}

/// Waits until the person approves (or declines, or the code expires).
#[tauri::command]
pub async fn sign_in_wait(nuage: State<'_, Nuage>) -> CmdResult<Account> {
    let p = pending(&nuage)?;
    let flow = Arc::clone(&p.flow);
    let cancel = Arc::clone(&p.cancel);
    let result = with_engine(&nuage, move |e| {
        Ok(e.finish_sign_in(&flow, &p.app, &cancel)?)
    })
    .await;
    {
        let mut slot = nuage.sign_in.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(&s.flow, &p.flow)) {
            *slot = None;
        }
    }
    nuage.service.refresh();
    result
}

#[tauri::command]
pub fn sign_in_cancel(nuage: State<'_, Nuage>) {
    if let Some(p) = nuage
        .sign_in
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        p.cancel.store(true, Ordering::Relaxed);
    }
}

/// Opens the verification page of the sign-in in progress (and only that).
/// Whether the sign-in page a server named may be opened in the browser:
/// only `https` pages, or pages on the configured authority's own origin
/// (the emulator, a sovereign cloud's sign-in service).
fn safe_sign_in_url(url: &str, authority: &str) -> bool {
    let Ok(u) = tauri::Url::parse(url) else {
        return false;
    };
    let on_authority = tauri::Url::parse(authority).is_ok_and(|a| a.origin() == u.origin());
    (u.scheme() == "https" && u.host_str().is_some()) || on_authority
}

#[tauri::command]
pub fn open_sign_in_page<R: Runtime>(app: AppHandle<R>, nuage: State<'_, Nuage>) -> CmdResult<()> {
    use tauri_plugin_opener::OpenerExt;
    let p = pending(&nuage)?;
    if !safe_sign_in_url(
        &p.flow.verification_uri,
        &nuage.config.graph.endpoints.authority,
    ) {
        return Err(AppError::new(
            ErrorCode::Failed,
            format!(
                "The sign-in service gave an unexpected page address ({}); Nuage does not open it. Check the network, and sign in again.",
                p.flow.verification_uri
            ),
        ));
    }
    app.opener()
        .open_url(p.flow.verification_uri.clone(), None::<&str>)
        .map_err(|e| {
            AppError::new(
                ErrorCode::Failed,
                format!(
                    "Could not open a browser ({e}). Open {} yourself and enter the code.",
                    p.flow.verification_uri
                ),
            )
        })
}

#[tauri::command]
pub fn copy_sign_in_code<R: Runtime>(app: AppHandle<R>, nuage: State<'_, Nuage>) -> CmdResult<()> {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    let p = pending(&nuage)?;
    app.clipboard()
        .write_text(p.flow.user_code.clone())
        .map_err(|e| {
            AppError::new(
                ErrorCode::Failed,
                format!("Could not copy the code ({e}). Select it and copy it yourself."),
            )
        })
}

#[tauri::command]
pub async fn sign_in_app(
    nuage: State<'_, Nuage>,
    client_id: String,
    tenant: String,
    secret: String,
) -> CmdResult<Account> {
    let secret = nuage_graph::types::Secret::new(secret);
    changing(&nuage, move |e| {
        let app = e.app_registration(Some(client_id.trim()), Some(tenant.trim()))?;
        Ok(e.sign_in_app(&app, &secret)?)
    })
    .await
}

#[tauri::command]
pub async fn sign_out(nuage: State<'_, Nuage>) -> CmdResult<()> {
    changing(&nuage, |e| Ok(e.sign_out()?)).await
}

#[tauri::command]
pub async fn check_source(
    nuage: State<'_, Nuage>,
    path: String,
    password: Option<String>,
) -> CmdResult<SourceCheck> {
    with_engine(&nuage, move |e| {
        let location = location(e.home(), &path)?;
        Ok(e.check_source_at(&location, password.as_deref())?)
    })
    .await
}

/// Where a source is, from the window: a PostgreSQL connection string as
/// it was pasted (its password goes to the keychain, never to a file), or
/// a file's path ([`expand`]).
fn location(home: &Path, path: &str) -> CmdResult<String> {
    let p = path.trim();
    if nuage_engine::source_kind_of(p) == nuage_engine::SourceKind::Postgresql {
        if p.chars().any(char::is_control) {
            return Err(AppError::invalid(
                "That connection string holds control characters. Paste it again.",
            ));
        }
        return Ok(p.to_string());
    }
    Ok(expand(home, p)?.to_string_lossy().into_owned())
}

/// A path from the window (typed by a person, or from a system dialog):
/// `~/x` is in their home, a bare name such as `shop-2026-11-21.json` goes
/// to their Downloads folder (the app has no meaningful working directory),
/// blanks are trimmed. The web view is not trusted with Nuage's own files:
/// a path into Nuage's home (its state, sealed keys, copies) is refused,
/// whatever it is for — the window names restore points by id.
fn expand(home: &Path, path: &str) -> CmdResult<PathBuf> {
    let p = path.trim();
    if p.is_empty() {
        return Err(AppError::invalid("Give the path of a file or folder."));
    }
    if p.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "That path holds control characters. Choose the file or folder again.",
        ));
    }
    let dirs = directories::UserDirs::new();
    let mut path = PathBuf::from(p);
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(d) = &dirs
    {
        path = d.home_dir().join(rest);
    } else if path.is_relative()
        && let Some(d) = &dirs
    {
        let base = d
            .download_dir()
            .filter(|p| p.is_dir())
            .unwrap_or_else(|| d.home_dir());
        path = base.join(path);
    }
    if inside(&path, home) {
        return Err(AppError::invalid(format!(
            "{} is inside Nuage's own folder. Choose a file or folder of your own.",
            path.display()
        )));
    }
    Ok(path)
}

/// Whether `path` is `dir` or inside it, symbolic links and `..` resolved
/// as far as they exist.
fn inside(path: &Path, dir: &Path) -> bool {
    // Component by component, as the system resolves it: a symbolic
    // link is followed before a `..` after it is applied.
    let real = |p: &Path| -> PathBuf {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut out = PathBuf::new();
        for c in abs.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => {
                    out.push(other);
                    if let Ok(r) = std::fs::canonicalize(&out) {
                        out = r;
                    }
                }
            }
        }
        out
    };
    real(path).starts_with(real(dir))
}

#[tauri::command]
pub async fn add_source(
    nuage: State<'_, Nuage>,
    path: String,
    name: Option<String>,
    password: Option<String>,
    exclude: Option<Vec<String>>,
) -> CmdResult<SourceRecord> {
    let name = trimmed(name);
    // A folder's patterns: blanks dropped.
    let exclude: Vec<String> = exclude
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    changing(&nuage, move |e| {
        let location = location(e.home(), &path)?;
        let options = nuage_engine::SourceOptions {
            exclude,
            ..Default::default()
        };
        Ok(
            e.add_source_with(&location, name.as_deref(), password.as_deref(), &options)?
                .0,
        )
    })
    .await
}

/// Renames a source; its restore points, history and copies follow it
/// (the copies at the destination at the next run).
#[tauri::command]
pub async fn rename_source(
    nuage: State<'_, Nuage>,
    name: String,
    new_name: String,
) -> CmdResult<SourceRecord> {
    let new_name = new_name.trim().to_string();
    changing(&nuage, move |e| Ok(e.rename_source(&name, &new_name)?)).await
}

#[tauri::command]
pub async fn remove_source(nuage: State<'_, Nuage>, name: String) -> CmdResult<()> {
    changing(&nuage, move |e| Ok(e.remove_source(&name)?)).await
}

#[tauri::command]
pub async fn set_retention(
    nuage: State<'_, Nuage>,
    name: String,
    keep_last: Option<u32>,
    keep_days: Option<u32>,
) -> CmdResult<()> {
    with_engine(&nuage, move |e| {
        Ok(e.set_retention(&name, keep_last, keep_days)?)
    })
    .await
}

#[tauri::command]
pub async fn sources(nuage: State<'_, Nuage>) -> CmdResult<Vec<SourceRecord>> {
    with_engine(&nuage, |e| Ok(e.sources()?)).await
}

fn parent(drive_id: Option<String>, item_id: Option<String>) -> Option<(String, String)> {
    drive_id.zip(item_id)
}

#[tauri::command]
pub async fn browse_onedrive(
    nuage: State<'_, Nuage>,
    drive_id: Option<String>,
    item_id: Option<String>,
    next: Option<String>,
) -> CmdResult<FolderPage> {
    with_engine(&nuage, move |e| {
        let at = parent(drive_id, item_id);
        Ok(e.browse_onedrive(
            at.as_ref().map(|(d, i)| (d.as_str(), i.as_str())),
            next.as_deref(),
            100,
        )?)
    })
    .await
}

#[tauri::command]
pub async fn create_onedrive_folder(
    nuage: State<'_, Nuage>,
    drive_id: Option<String>,
    item_id: Option<String>,
    name: String,
) -> CmdResult<FolderEntry> {
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(AppError::invalid("Give the new folder a name."));
    }
    with_engine(&nuage, move |e| {
        let at = parent(drive_id, item_id);
        Ok(e.create_onedrive_folder(at.as_ref().map(|(d, i)| (d.as_str(), i.as_str())), &name)?)
    })
    .await
}

#[tauri::command]
pub async fn use_onedrive_folder(
    nuage: State<'_, Nuage>,
    drive_id: String,
    item_id: String,
    path: String,
) -> CmdResult<()> {
    changing(&nuage, move |e| {
        if drive_id.is_empty() || item_id.is_empty() {
            // The picker's root has no ids of its own: resolve it by path.
            e.use_onedrive_folder(&path)?;
        } else {
            e.use_onedrive_item(&drive_id, &item_id, &path)?;
        }
        Ok(())
    })
    .await
}

#[tauri::command]
pub async fn use_share_link(nuage: State<'_, Nuage>, link: String) -> CmdResult<()> {
    changing(&nuage, move |e| {
        e.use_share_link(link.trim())?;
        Ok(())
    })
    .await
}

#[tauri::command]
pub async fn use_local_folder(nuage: State<'_, Nuage>, path: String) -> CmdResult<()> {
    changing(&nuage, move |e| {
        let path = std::path::absolute(expand(e.home(), &path)?)
            .map_err(|err| AppError::invalid(format!("That path cannot be used: {err}.")))?;
        e.set_destination(Some(&DestinationConfig::Folder { path }))?;
        Ok(())
    })
    .await
}

/// Sets an S3-compatible bucket as the destination once every step a
/// backup needs worked there (write, read back, list, delete); what was
/// found, Object Lock included. The secret goes to the keychain only.
#[tauri::command]
pub async fn use_s3(
    nuage: State<'_, Nuage>,
    form: nuage_engine::S3Form,
    secret: String,
) -> CmdResult<nuage_engine::S3Probe> {
    changing(&nuage, move |e| {
        Ok(e.set_s3_destination(&form.settings()?, &secret)?)
    })
    .await
}

/// Tries the S3 destination again, step by step.
#[tauri::command]
pub async fn test_s3(nuage: State<'_, Nuage>) -> CmdResult<nuage_engine::S3Probe> {
    with_engine(&nuage, |e| Ok(e.test_s3_destination()?)).await
}

#[tauri::command]
pub async fn remove_destination(nuage: State<'_, Nuage>) -> CmdResult<()> {
    changing(&nuage, |e| Ok(e.set_destination(None)?)).await
}

#[tauri::command]
pub async fn restore_points(
    nuage: State<'_, Nuage>,
    source: Option<String>,
) -> CmdResult<RestorePointList> {
    with_engine(&nuage, move |e| {
        let (mut points, unreachable) = e.all_restore_points(source.as_deref())?;
        points.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(RestorePointList {
            points,
            unreachable: unreachable.map(AppError::from),
        })
    })
    .await
}

/// Restore points wherever they are. Those kept only at the destination
/// are listed when it can be reached; when it cannot, the local ones still
/// are, and `unreachable` says why the list may be partial.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct RestorePointList {
    pub points: Vec<RestorePoint>,
    pub unreachable: Option<AppError>,
}

/// Which backup a preview or restore reads.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum BackupSelector {
    Point(String),
    File(String),
}

fn resolve(e: &Engine, b: &BackupSelector) -> CmdResult<BackupRef> {
    match b {
        BackupSelector::Point(id) => Ok(e.resolve(id)?),
        BackupSelector::File(f) => {
            let path = expand(e.home(), f)?;
            if !path.is_file() {
                return Err(AppError::new(
                    ErrorCode::NotFound,
                    format!(
                        "{} is not a file. Choose the backup file to import.",
                        path.display()
                    ),
                ));
            }
            Ok(BackupRef::File(path))
        }
    }
}

/// A new cancel token for a preview or restore, replacing the last one
/// (the window runs one at a time).
fn cancellable(nuage: &Nuage) -> Cancel {
    let c = Cancel::default();
    *nuage.restoring.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
    c
}

/// Stops the preview or restore in progress: nothing is changed (a restore
/// already replacing its source completes).
#[tauri::command]
pub fn cancel_restore(nuage: State<'_, Nuage>) {
    if let Some(c) = nuage
        .restoring
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        c.cancel();
    }
}

#[tauri::command]
pub async fn preview(nuage: State<'_, Nuage>, backup: BackupSelector) -> CmdResult<Preview> {
    let cancel = cancellable(&nuage);
    with_engine(&nuage, move |e| {
        let r = resolve(e, &backup)?;
        Ok(e.preview(&r, &mut |_| {}, &cancel)?)
    })
    .await
}

/// Restores into a new file `to`, or over the source in place (`to` null).
/// Its progress (`restore_progress` events: table, rows) goes to
/// `progress`, a channel the UI passes.
#[tauri::command]
pub async fn restore(
    nuage: State<'_, Nuage>,
    backup: BackupSelector,
    to: Option<String>,
    progress: Channel<Event>,
    paths: Option<Vec<String>>,
) -> CmdResult<RestoreReport> {
    // A folder's point: only these files or subfolders (all when none).
    let paths: Vec<String> = paths
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.trim().trim_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let cancel = cancellable(&nuage);
    changing(&nuage, move |e| {
        let r = resolve(e, &backup)?;
        let mut report = |ev: Event| {
            if matches!(ev, Event::RestoreProgress { .. }) {
                // A window closed mid-restore does not stop the restore.
                let _ = progress.send(ev);
            }
        };
        Ok(match trimmed(to) {
            Some(to) => {
                let to = PathBuf::from(location(e.home(), &to)?);
                e.restore_paths_to(&r, &to, &paths, false, &mut report, &cancel)?
            }
            None => e.restore_paths_in_place(&r, &paths, &mut report, &cancel)?,
        })
    })
    .await
}

#[tauri::command]
pub async fn export_point(nuage: State<'_, Nuage>, point: String, file: String) -> CmdResult<u64> {
    with_engine(&nuage, move |e| {
        let p = match e.resolve(&point)? {
            BackupRef::Point(p) => p,
            BackupRef::File(_) => {
                return Err(AppError::new(
                    ErrorCode::NotFound,
                    format!("No restore point '{point}'."),
                ));
            }
        };
        Ok(e.export(&p, &expand(e.home(), &file)?, false)?)
    })
    .await
}

#[tauri::command]
pub async fn history(nuage: State<'_, Nuage>, limit: u32) -> CmdResult<Vec<RunRecord>> {
    with_engine(&nuage, move |e| Ok(e.runs(limit.min(1000))?)).await
}

#[derive(Debug, Serialize, ts_rs::TS)]
pub struct Settings {
    pub schedule: String,
    pub notifications: bool,
    pub autostart: bool,
    pub language: Option<String>,
    pub system_language: String,
    /// Days between scheduled restore drills; `None` when off.
    pub verify_every: Option<u32>,
}

#[tauri::command]
pub async fn settings<R: Runtime>(
    app: AppHandle<R>,
    nuage: State<'_, Nuage>,
) -> CmdResult<Settings> {
    let autostart = crate::autostart_enabled(&app);
    with_engine(&nuage, move |e| {
        Ok(Settings {
            schedule: e.schedule()?.to_setting(),
            notifications: e.app_setting("notifications")?.as_deref() != Some("off"),
            autostart,
            language: e.app_setting("language")?,
            system_language: Lang::system().code().to_string(),
            verify_every: e.verify_every()?,
        })
    })
    .await
}

#[tauri::command]
pub async fn set_schedule(nuage: State<'_, Nuage>, schedule: String) -> CmdResult<()> {
    changing(&nuage, move |e| {
        Ok(e.set_schedule(Schedule::parse(&schedule)?)?)
    })
    .await
}

/// Days between scheduled restore drills (`None`: off).
#[tauri::command]
pub async fn set_verify_every(nuage: State<'_, Nuage>, days: Option<u32>) -> CmdResult<()> {
    changing(&nuage, move |e| Ok(e.set_verify_every(days)?)).await
}

#[tauri::command]
pub async fn set_notifications(nuage: State<'_, Nuage>, on: bool) -> CmdResult<()> {
    with_engine(&nuage, move |e| {
        Ok(e.set_app_setting("notifications", (!on).then_some("off"))?)
    })
    .await
}

#[tauri::command]
pub fn set_autostart<R: Runtime>(app: AppHandle<R>, on: bool) -> CmdResult<()> {
    crate::set_autostart(&app, on)
}

#[tauri::command]
pub async fn set_language<R: Runtime>(
    app: AppHandle<R>,
    nuage: State<'_, Nuage>,
    language: Option<String>,
) -> CmdResult<()> {
    let language = trimmed(language);
    if let Some(l) = &language
        && !matches!(l.as_str(), "en" | "fr" | "pt")
    {
        return Err(AppError::invalid(format!(
            "'{l}' is not a language Nuage speaks: choose en, fr or pt."
        )));
    }
    let stored = language.clone();
    with_engine(&nuage, move |e| {
        Ok(e.set_app_setting("language", stored.as_deref())?)
    })
    .await?;
    let lang = language
        .map(|l| Lang::parse(&l))
        .unwrap_or_else(Lang::system);
    *nuage.lang.lock().unwrap_or_else(|p| p.into_inner()) = lang;
    crate::language_changed(&app);
    Ok(())
}

/// The alerts (email, webhook) as they stand.
#[tauri::command]
pub async fn alerts(nuage: State<'_, Nuage>) -> CmdResult<nuage_engine::AlertsView> {
    with_engine(&nuage, |e| Ok(e.alerts_view()?)).await
}

/// The window's language, for the alerts' messages.
fn alert_lang(nuage: &Nuage) -> nuage_engine::Lang {
    let code = nuage.lang.lock().unwrap_or_else(|p| p.into_inner()).code();
    nuage_engine::Lang::parse(code).unwrap_or_default()
}

#[tauri::command]
pub async fn set_email_alerts(
    nuage: State<'_, Nuage>,
    email: nuage_engine::EmailAlerts,
    password: Option<String>,
) -> CmdResult<()> {
    let lang = alert_lang(&nuage);
    // A password is taken as typed (spaces may be part of it).
    let password = password.filter(|p| !p.is_empty());
    with_engine(&nuage, move |e| {
        Ok(e.set_email_alerts(email, password.as_deref(), Some(lang))?)
    })
    .await
}

#[tauri::command]
pub async fn set_webhook_alerts(
    nuage: State<'_, Nuage>,
    url: String,
    format: nuage_engine::WebhookFormat,
    on: nuage_engine::AlertOn,
) -> CmdResult<()> {
    let lang = alert_lang(&nuage);
    with_engine(&nuage, move |e| {
        Ok(e.set_webhook_alerts(&url, format, on, Some(lang))?)
    })
    .await
}

/// Sends a test message on every channel now; what each said.
#[tauri::command]
pub async fn test_alerts(nuage: State<'_, Nuage>) -> CmdResult<Vec<nuage_engine::AlertTest>> {
    with_engine(&nuage, |e| Ok(e.test_alerts()?)).await
}

#[tauri::command]
pub async fn remove_alerts(nuage: State<'_, Nuage>, channel: Option<String>) -> CmdResult<()> {
    with_engine(&nuage, move |e| Ok(e.remove_alerts(channel.as_deref())?)).await
}

#[tauri::command]
pub fn back_up_now(nuage: State<'_, Nuage>) {
    nuage.service.back_up_now();
}

#[tauri::command]
pub async fn pause(nuage: State<'_, Nuage>) -> CmdResult<()> {
    set_paused(&nuage, true).await
}

#[tauri::command]
pub async fn resume(nuage: State<'_, Nuage>) -> CmdResult<()> {
    set_paused(&nuage, false).await
}

async fn set_paused(nuage: &Nuage, paused: bool) -> CmdResult<()> {
    let service = Arc::clone(&nuage.service);
    tauri::async_runtime::spawn_blocking(move || service.set_paused(paused))
        .await
        .map_err(|e| AppError::new(ErrorCode::Failed, format!("Internal error: {e}.")))?
        .map_err(AppError::from)
}

/// What the tray shows right now (for the end-to-end test and the UI's
/// "no tray" note).
#[tauri::command]
pub fn tray_status(nuage: State<'_, Nuage>) -> TrayShown {
    nuage.tray.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The first screen is drawn: logs the time from launch (the bench reads it).
#[tauri::command]
pub fn ui_ready<R: Runtime>(app: AppHandle<R>, nuage: State<'_, Nuage>) {
    let once = !nuage.ui_ready.swap(true, Ordering::Relaxed);
    if once {
        let ms = nuage.started.elapsed().as_millis();
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        eprintln!("nuage-app: window ready {ms} ms after start (unix_ms={unix_ms})");
        if let Some(w) = app.get_webview_window("main") {
            let _ = w.set_focus();
        }
    }
}

/// Every command, for the builder (generic so that the mock runtime of the
/// tests serves the same handler).
pub fn handler<R: Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        overview,
        account,
        app_registration,
        sign_in_start,
        sign_in_wait,
        sign_in_cancel,
        open_sign_in_page,
        copy_sign_in_code,
        sign_in_app,
        sign_out,
        check_source,
        add_source,
        rename_source,
        remove_source,
        set_retention,
        sources,
        browse_onedrive,
        create_onedrive_folder,
        use_onedrive_folder,
        use_share_link,
        use_local_folder,
        use_s3,
        test_s3,
        remove_destination,
        restore_points,
        preview,
        restore,
        cancel_restore,
        export_point,
        history,
        settings,
        set_schedule,
        set_verify_every,
        set_notifications,
        set_autostart,
        set_language,
        alerts,
        set_email_alerts,
        set_webhook_alerts,
        test_alerts,
        remove_alerts,
        back_up_now,
        pause,
        resume,
        tray_status,
        ui_ready,
    ]
}

#[cfg(test)]
mod tests {
    use super::{expand, safe_sign_in_url};

    #[test]
    fn paths_from_the_window_never_reach_into_nuage_s_home() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("nuage");
        std::fs::create_dir_all(home.join("backups/shop")).unwrap();
        std::os::unix::fs::symlink(&home, dir.path().join("link")).unwrap();
        let ok = dir.path().join("restored.db");
        assert_eq!(expand(&home, ok.to_str().unwrap()).unwrap(), ok);
        assert!(expand(&home, dir.path().join("nuage-other/x.db").to_str().unwrap()).is_ok());
        for bad in [
            home.join("state.sqlite"),
            home.join("backups/shop/20261206-000000000-abcd.json.zst"),
            home.join("new-file.db"),
            home.clone(),
            dir.path().join("link/state.sqlite"),
            dir.path().join("elsewhere/../nuage/secrets"),
        ] {
            let e = expand(&home, bad.to_str().unwrap()).unwrap_err();
            assert!(
                e.message.contains("inside Nuage's own folder"),
                "{bad:?}: {e:?}"
            );
        }
        assert!(expand(&home, "  ").is_err());
        assert!(expand(&home, "/tmp/a\nb").is_err());
        assert!(expand(&home, "/tmp/a\u{7}b").is_err());
    }

    #[test]
    fn only_https_pages_or_the_configured_authority_are_opened() {
        let ms = "https://login.microsoftonline.com";
        assert!(safe_sign_in_url("https://microsoft.com/devicelogin", ms));
        assert!(safe_sign_in_url("https://login.microsoft.com/device", ms));
        let emu = "http://127.0.0.1:41579";
        assert!(safe_sign_in_url(
            "http://127.0.0.1:41579/_emulator/devicelogin",
            emu
        ));
        for bad in [
            "http://evil.test/devicelogin",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "smb://share/x",
            "http://127.0.0.1:9/elsewhere",
            "not a url",
        ] {
            assert!(!safe_sign_in_url(bad, emu), "{bad}");
        }
    }
}
