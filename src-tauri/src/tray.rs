//! The tray icon: one icon per state, a status line, and the menu (Back up
//! now, Pause/Resume, Open Nuage, Quit).
//!
//! Tauri's tray (tray-icon → libappindicator-sys) loads the appindicator
//! library at run time and panics when it is absent, so [`available`] checks
//! first and the app runs without a tray, saying so in the UI.

use nuage_engine::AppState;
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};

use crate::i18n::Lang;

/// The icon of each state (icons/src/tray-*.svg, drawn for Nuage).
pub fn icon_bytes(state: AppState) -> &'static [u8] {
    match state {
        AppState::UpToDate => include_bytes!("../../icons/tray/up_to_date.png"),
        AppState::BackingUp => include_bytes!("../../icons/tray/backing_up.png"),
        AppState::Waiting => include_bytes!("../../icons/tray/waiting.png"),
        AppState::NeedsAttention => include_bytes!("../../icons/tray/needs_attention.png"),
        AppState::SignedOut => include_bytes!("../../icons/tray/signed_out.png"),
        AppState::Paused => include_bytes!("../../icons/tray/paused.png"),
        AppState::NotSetUp => include_bytes!("../../icons/tray/not_set_up.png"),
    }
}

/// Whether a tray can be shown: the appindicator library loads, and
/// `NUAGE_NO_TRAY` is not set (to run as on a desktop without one).
pub fn available() -> bool {
    if std::env::var_os("NUAGE_NO_TRAY").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if !cfg!(target_os = "linux") {
        return true;
    }
    ["libayatana-appindicator3.so.1", "libappindicator3.so.1"]
        .iter()
        .any(|name| {
            // SAFETY: loading a shared library runs its initialisers; these
            // are the system's appindicator libraries, which the tray loads
            // the same way a moment later.
            unsafe { libloading::Library::new(name) }.is_ok()
        })
}

pub struct Tray {
    icon: TrayIcon<Wry>,
    status: MenuItem<Wry>,
    proof: MenuItem<Wry>,
    backup: MenuItem<Wry>,
    pause: MenuItem<Wry>,
    open: MenuItem<Wry>,
    quit: MenuItem<Wry>,
}

impl Tray {
    pub fn build(app: &AppHandle<Wry>, lang: Lang) -> tauri::Result<Tray> {
        let status = MenuItem::with_id(app, "status", "Nuage", false, None::<&str>)?;
        let proof = MenuItem::with_id(app, "proof", "", false, None::<&str>)?;
        let backup = MenuItem::with_id(app, "backup", lang.back_up_now(), true, None::<&str>)?;
        let pause = MenuItem::with_id(app, "pause", lang.pause(), true, None::<&str>)?;
        let open = MenuItem::with_id(app, "open", lang.open(), true, None::<&str>)?;
        let quit = MenuItem::with_id(app, "quit", lang.quit(), true, None::<&str>)?;
        let menu = Menu::with_items(
            app,
            &[
                &status,
                &proof,
                &PredefinedMenuItem::separator(app)?,
                &backup,
                &pause,
                &open,
                &PredefinedMenuItem::separator(app)?,
                &quit,
            ],
        )?;
        let icon = TrayIconBuilder::with_id("nuage")
            .icon(Image::from_bytes(icon_bytes(AppState::Waiting))?)
            .tooltip("Nuage")
            .menu(&menu)
            .on_menu_event(|app, event| crate::on_tray_menu(app, event.id.as_ref()))
            .build(app)?;
        Ok(Tray {
            icon,
            status,
            proof,
            backup,
            pause,
            open,
            quit,
        })
    }

    /// Shows `state`: its icon, and the status and proof lines as tooltip
    /// and as the menu's first (disabled) items — appindicator has no
    /// tooltips.
    pub fn show(&self, state: AppState, line: &str, proof: &str, paused: bool, lang: Lang) {
        let _ = self
            .icon
            .set_icon(Image::from_bytes(icon_bytes(state)).ok());
        let tip = if proof.is_empty() {
            line.to_string()
        } else {
            format!("{line}\n{proof}")
        };
        let _ = self.icon.set_tooltip(Some(tip));
        let _ = self.status.set_text(line);
        let _ = self.proof.set_text(proof);
        let _ = self
            .pause
            .set_text(if paused { lang.resume() } else { lang.pause() });
        let _ = self.backup.set_text(lang.back_up_now());
        let _ = self.backup.set_enabled(state != AppState::BackingUp);
        let _ = self.open.set_text(lang.open());
        let _ = self.quit.set_text(lang.quit());
    }

    /// Updates only the status line (progress while backing up).
    pub fn show_line(&self, line: &str) {
        let _ = self.icon.set_tooltip(Some(line));
        let _ = self.status.set_text(line);
    }
}

/// Brings the main window back (tray "Open Nuage", a second launch). When
/// the window was closed to the tray it no longer exists (its web process
/// was freed): it is created again from the configuration.
/// A small status window needs no GPU compositing. In WebKitGTK's
/// accelerated mode the web process loads the whole GL stack (with Mesa's
/// software renderer, LLVM) and keeps layer backing stores; without it the
/// page is painted directly. The in-memory caches are sized for one local
/// page, not for browsing. Measured in docs/benchmarks.md.
fn lighten(w: &tauri::WebviewWindow<Wry>) {
    #[cfg(target_os = "linux")]
    let r = w.with_webview(|wv| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt};
        let view = wv.inner();
        if let Some(s) = WebViewExt::settings(&view) {
            s.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
        if let Some(c) = view.context() {
            c.set_cache_model(webkit2gtk::CacheModel::DocumentViewer);
        }
    });
    #[cfg(target_os = "linux")]
    if let Err(e) = r {
        tracing::debug!("web view settings not applied: {e}");
    }
}

pub fn show_window(app: &AppHandle<Wry>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        return;
    }
    if let Some(config) = app.config().app.windows.first() {
        match tauri::WebviewWindowBuilder::from_config(app, config).and_then(|b| b.build()) {
            Ok(w) => {
                lighten(&w);
                let _ = w.set_focus();
            }
            Err(e) => tracing::warn!("cannot open the window: {e}"),
        }
    }
}
