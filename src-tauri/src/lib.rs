//! `nuage-app`: the desktop shell. Thin Tauri commands over the engine
//! ([`commands`]), the tray ([`tray`]), notifications ([`notify`]). The
//! backups themselves run in the engine's [`Service`], the same scheduler as
//! `nuage run`; its one event stream feeds both the web UI (forwarded as
//! `nuage://event`) and the tray.

pub mod commands;
pub mod error;
pub mod i18n;
pub mod notify;
pub mod tray;
pub use error::AppError;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nuage_engine::{AppState, Service};
use nuage_engine::{Config, Engine, Event, Overview};
use nuage_graph::auth::{AppRegistration, DeviceFlow};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime, Wry};

use crate::error::{CmdResult, ErrorCode};
use crate::i18n::Lang;
use crate::notify::Notifier;

/// A device sign-in waiting for the person.
#[derive(Clone)]
pub struct PendingSignIn {
    pub flow: Arc<DeviceFlow>,
    pub app: AppRegistration,
    pub cancel: Arc<AtomicBool>,
}

/// What the tray shows (or would show, without a tray).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct TrayShown {
    pub available: bool,
    pub state: Option<AppState>,
    pub line: String,
    /// When the backups were last proven restorable by a drill (the
    /// source proven longest ago), or that one is not yet.
    pub proof: String,
}

/// The app's shared state.
pub struct Nuage {
    /// What the engine runs with (built from the environment at start).
    pub config: Config,
    pub home: PathBuf,
    pub service: Arc<Service>,
    pub sign_in: Mutex<Option<PendingSignIn>>,
    /// Cancels the preview or restore in progress, if any.
    pub restoring: Mutex<Option<nuage_engine::Cancel>>,
    pub tray: Mutex<TrayShown>,
    pub lang: Mutex<Lang>,
    pub started: Instant,
    pub ui_ready: AtomicBool,
}

impl Nuage {
    /// Opens `home` and starts the scheduler on it.
    pub fn start(home: PathBuf, config: Config, tray_available: bool) -> anyhow::Result<Nuage> {
        let engine = Engine::open_with(&home, config.clone())?;
        // First start of the app on this home: back up every hour unless
        // the CLI already chose a schedule. A person should not have to
        // find the setting to be protected.
        if engine.app_setting("initialized")?.is_none() {
            if engine.schedule()? == nuage_engine::Schedule::Off {
                engine.set_schedule(nuage_engine::Schedule::every(60)?)?;
            }
            engine.set_app_setting("initialized", Some("1"))?;
        }
        let lang = engine
            .app_setting("language")?
            .map(|l| Lang::parse(&l))
            .unwrap_or_else(Lang::system);
        drop(engine);
        Ok(Nuage {
            service: Arc::new(Service::start(&home, config.clone())?),
            home,
            config,
            sign_in: Mutex::new(None),
            restoring: Mutex::new(None),
            tray: Mutex::new(TrayShown {
                available: tray_available,
                state: None,
                line: String::new(),
                proof: String::new(),
            }),
            lang: Mutex::new(lang),
            started: Instant::now(),
            ui_ready: AtomicBool::new(false),
        })
    }

    /// Whether a tray is shown (closing the window then keeps Nuage running).
    pub fn has_tray(&self) -> bool {
        self.tray.lock().map(|t| t.available).unwrap_or(false)
    }

    pub fn lang(&self) -> Lang {
        *self.lang.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An engine on the home, with the app's configuration.
    pub fn engine(&self) -> nuage_engine::Result<Engine> {
        Engine::open_with(&self.home, self.config.clone())
    }
}

/// The home folder: `NUAGE_HOME`, else the platform data folder (as the CLI).
pub fn home_from_env() -> anyhow::Result<PathBuf> {
    match std::env::var_os("NUAGE_HOME").filter(|v| !v.is_empty()) {
        Some(h) => Ok(PathBuf::from(h)),
        None => Ok(nuage_engine::default_home()?),
    }
}

pub(crate) fn autostart_enabled<R: Runtime>(app: &AppHandle<R>) -> bool {
    use tauri_plugin_autostart::ManagerExt;
    app.try_state::<tauri_plugin_autostart::AutoLaunchManager>()
        .is_some()
        && app.autolaunch().is_enabled().unwrap_or(false)
}

pub(crate) fn set_autostart<R: Runtime>(app: &AppHandle<R>, on: bool) -> CmdResult<()> {
    use tauri_plugin_autostart::ManagerExt;
    if app
        .try_state::<tauri_plugin_autostart::AutoLaunchManager>()
        .is_none()
    {
        return Err(AppError::new(
            ErrorCode::Failed,
            "Start at login is not available here.",
        ));
    }
    let m = app.autolaunch();
    let r = if on { m.enable() } else { m.disable() };
    r.map_err(|e| {
        AppError::new(
            ErrorCode::Failed,
            format!("Could not change start at login ({e}). Check that your desktop's autostart folder is writable."),
        )
    })
}

/// Redraws the tray in the new language.
pub(crate) fn language_changed<R: Runtime>(app: &AppHandle<R>) {
    if let Some(n) = app.try_state::<Nuage>() {
        n.service.refresh();
        // The next state publication redraws; force it by forgetting the
        // state the tray shows.
        n.tray.lock().unwrap_or_else(|p| p.into_inner()).state = None;
        if let Ok(o) = n.service.overview() {
            if let Some(h) = app.try_state::<AppHandle<Wry>>() {
                show_state(&h, &n, &o);
            }
            let _ = app.emit(
                "nuage://event",
                Event::StateChanged {
                    overview: Box::new(o),
                },
            );
        }
    }
}

/// Formats an RFC 3339 time as local "HH:MM" today, or the date otherwise.
fn local_time(rfc3339: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()?
        .with_timezone(&chrono::Local);
    let today = chrono::Local::now().date_naive();
    Some(if t.date_naive() == today {
        t.format("%H:%M").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M").to_string()
    })
}

/// Shows the overview's state in the tray (when there is one) and records it.
fn show_state(app: &AppHandle<Wry>, nuage: &Nuage, overview: &Overview) {
    let lang = nuage.lang();
    let state = overview.state;
    let last = overview.last_verified_at.as_deref().and_then(local_time);
    let line = format!(
        "{} — {}",
        lang.state(state),
        lang.last_verified(last.as_deref())
    );
    let proof = proof_line(lang, overview);
    let paused = overview.paused;
    if let Some(t) = app.try_state::<tray::Tray>() {
        t.show(state, &line, &proof, paused, lang);
    }
    let mut shown = nuage.tray.lock().unwrap_or_else(|p| p.into_inner());
    shown.state = Some(state);
    shown.line = line;
    shown.proof = proof;
}

/// The tray's proof line: the weakest link — a source with backups that
/// no drill has proven yet, else the source proven longest ago; empty
/// before the first backup.
fn proof_line(lang: i18n::Lang, overview: &Overview) -> String {
    let backed_up = overview.sources.iter().filter(|s| s.restore_points > 0);
    if let Some(s) = backed_up.clone().find(|s| s.last_proven.is_none()) {
        return lang.not_proven(&s.name);
    }
    backed_up
        .filter_map(|s| s.last_proven.as_ref())
        .min_by(|a, b| a.at.cmp(&b.at))
        .map(|p| lang.proven(&local_time(&p.at).unwrap_or_else(|| p.at.clone())))
        .unwrap_or_default()
}

/// Handles one engine event: forward to the UI, redraw the tray, notify.
fn on_event(
    app: &AppHandle<Wry>,
    notifier: &Mutex<Notifier>,
    last_line: &Mutex<Instant>,
    e: &Event,
) {
    let _ = app.emit("nuage://event", e);
    let Some(nuage) = app.try_state::<Nuage>() else {
        return;
    };
    match e {
        Event::StateChanged { overview } => {
            show_state(app, &nuage, overview);
            let code = overview.problem.as_ref().map(|p| p.code);
            let notice = notifier
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .observe(overview.state, code);
            if let Some(n) = notice {
                notify(app, &nuage, n);
            }
        }
        Event::SnapshotProgress { source, rows, .. }
        | Event::UploadProgress {
            source,
            bytes: rows,
            ..
        } => {
            // At most one redraw a second.
            let mut last = last_line.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() < Duration::from_secs(1) {
                return;
            }
            *last = Instant::now();
            let lang = nuage.lang();
            let detail = match e {
                Event::UploadProgress {
                    bytes,
                    total,
                    bytes_per_sec,
                    eta_secs,
                    ..
                } if *total > 0 => {
                    lang.upload_progress(source, *bytes, *total, *bytes_per_sec, *eta_secs)
                }
                _ => lang.progress(source, None, *rows),
            };
            let line = format!("{} — {detail}", lang.state(AppState::BackingUp));
            if let Some(t) = app.try_state::<tray::Tray>() {
                t.show_line(&line);
            }
            nuage.tray.lock().unwrap_or_else(|p| p.into_inner()).line = line;
        }
        _ => {}
    }
}

fn notify(app: &AppHandle<Wry>, nuage: &Nuage, n: notify::Notice) {
    use tauri_plugin_notification::NotificationExt;
    let on = nuage
        .engine()
        .and_then(|e| e.app_setting("notifications"))
        .map(|v| v.as_deref() != Some("off"))
        .unwrap_or(true);
    if !on {
        return;
    }
    let (title, body) = nuage.lang().notice(n);
    // No notification daemon is not an error worth more than a log line.
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::info!("notification not shown: {e}");
    }
}

/// Tray menu actions.
pub(crate) fn on_tray_menu(app: &AppHandle<Wry>, id: &str) {
    let Some(nuage) = app.try_state::<Nuage>() else {
        return;
    };
    match id {
        "backup" => nuage.service.back_up_now(),
        "pause" => {
            let paused = nuage.engine().and_then(|e| e.paused()).unwrap_or(false);
            if let Err(e) = nuage.service.set_paused(!paused) {
                tracing::warn!("pause/resume failed: {e}");
            }
        }
        "open" => tray::show_window(app),
        "quit" => {
            nuage.service.stop(Duration::from_secs(2));
            app.exit(0);
        }
        _ => {}
    }
}

/// The argument that starts Nuage in the tray, without its window.
pub const MINIMIZED: &str = "--minimized";

/// Runs the desktop app.
/// On SIGTERM (a session ending), SIGINT or SIGHUP: removes this process's
/// temporary files and exits as the signal would have. What a run had
/// written atomically stays; the next start continues from it.
fn remove_temporaries_on_signal() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            nuage_engine::temporaries::remove_own();
            std::process::exit(128 + sig);
        }
    });
}

pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NUAGE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    remove_temporaries_on_signal();
    let tray_available = tray::available();
    let builder = tauri::Builder::default()
        // First, so a second launch only brings this window forward.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            tray::show_window(app);
        }))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        // Started at login, Nuage goes straight to the tray.
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![MINIMIZED]),
        ))
        .invoke_handler(commands::handler())
        .setup(move |app| {
            let home = home_from_env()?;
            // The one place the app reads the NUAGE_* variables (but NUAGE_HOME).
            let nuage = Nuage::start(home, Config::from_env(), tray_available)?;
            let lang = nuage.lang();
            app.manage(nuage);
            let handle = app.handle().clone();
            if tray_available {
                match tray::Tray::build(&handle, lang) {
                    Ok(t) => {
                        app.manage(t);
                    }
                    Err(e) => {
                        tracing::warn!("no tray: {e}");
                        app.state::<Nuage>()
                            .tray
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .available = false;
                    }
                }
            }
            let notifier = Mutex::new(Notifier::default());
            let last_line = Mutex::new(Instant::now());
            let h = handle.clone();
            app.state::<Nuage>()
                .service
                .subscribe(Box::new(move |e| on_event(&h, &notifier, &last_line, e)));
            // Draw the tray now; the service publishes again when it moves.
            let nuage = app.state::<Nuage>();
            if let Ok(o) = nuage.service.overview() {
                show_state(&handle, &nuage, &o);
            }
            nuage.service.refresh();
            // The window (created here, not from the configuration) unless
            // asked to start in the tray — which needs a tray.
            if !(nuage.has_tray() && std::env::args().any(|a| a == MINIMIZED)) {
                tray::show_window(&handle);
            }
            Ok(())
        });
    let app = match builder.build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("nuage-app: cannot start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|app, event| match event {
        // Closing the window keeps Nuage running in the tray: the window
        // (and its web process, most of the app's memory) is destroyed and
        // made again by "Open Nuage". Without a tray, closing quits (there
        // would be no way back). "Quit" exits with a code, never prevented.
        tauri::RunEvent::ExitRequested {
            api, code: None, ..
        } if app.try_state::<Nuage>().is_some_and(|n| n.has_tray()) => api.prevent_exit(),
        tauri::RunEvent::Exit => {
            if let Some(n) = app.try_state::<Nuage>() {
                n.service.stop(Duration::from_secs(2));
            }
        }
        _ => {}
    });
}
