// No console window on Windows in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // Nothing in this window draws with OpenGL (its web view paints without
    // GPU compositing, see `tray::lighten`), yet GTK opens a GL context on
    // the display at start-up and so loads the whole GL driver stack, for
    // nothing: ~30 MiB of the app in the tray (docs/benchmarks.md). A value
    // the user set is kept.
    #[cfg(target_os = "linux")]
    if std::env::var_os("GDK_GL").is_none() {
        // SAFETY: first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("GDK_GL", "disable") };
    }
    nuage_app::run();
}
