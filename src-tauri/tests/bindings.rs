//! The TypeScript types of everything that crosses between the Rust shell
//! and the web UI — command arguments and results, events, states, errors —
//! are generated from the Rust types into `ui/src/bindings.ts`, so the two
//! sides cannot drift. This test fails when the committed file differs from
//! what the Rust types give; `NUAGE_BLESS=1 cargo test -p nuage-app --test
//! bindings` rewrites it (then commit it with the change of types).

use std::path::Path;

use nuage_app::commands::{
    AppOverview, BackupSelector, DeviceCode, Registration, RestorePointList, Settings,
};
use nuage_app::{AppError, TrayShown};
use nuage_engine::postgres::PgCheck;
use nuage_engine::postgres::catalog::Reference;
use nuage_engine::{
    Account, Action, AppState, CopyUsed, DestinationKind, DestinationView, ErrorCode, Event,
    FolderEntry, FolderPage, Location, Overview, Preview, Problem, RestorePoint, RestoreReport,
    RunOutcome, RunProgress, RunRecord, SetupSteps, SourceCheck, SourceKind, SourceOptions,
    SourceOutcome, SourceRecord, SourceStatus, UploadOutcome, UploadState,
};
use nuage_engine::{FolderChanges, Proof, folder::FolderCheck};
use ts_rs::{Config, TS};

fn generated() -> String {
    // Every integer is a JSON number: the values Nuage sends (sizes, rows,
    // counts) stay far below 2^53.
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri/tests/bindings.rs: do not edit.\n\
         // `NUAGE_BLESS=1 cargo test -p nuage-app --test bindings` rewrites it.\n",
    );
    macro_rules! decls {
        ($($t:ty),+ $(,)?) => {
            $(
                out.push('\n');
                if let Some(docs) = <$t as TS>::docs() {
                    out.push_str(&docs);
                }
                out.push_str("export ");
                out.push_str(&<$t as TS>::decl(&cfg));
                out.push('\n');
            )+
        };
    }
    decls!(
        // The state model.
        AppState,
        Action,
        ErrorCode,
        Problem,
        RunProgress,
        DestinationKind,
        DestinationView,
        SetupSteps,
        SourceStatus,
        Overview,
        AppOverview,
        TrayShown,
        // Sources and restore points.
        SourceKind,
        SourceRecord,
        SourceOptions,
        SourceCheck,
        PgCheck,
        FolderCheck,
        FolderChanges,
        Proof,
        Reference,
        Location,
        UploadState,
        RestorePoint,
        RestorePointList,
        RunOutcome,
        RunRecord,
        Preview,
        RestoreReport,
        CopyUsed,
        BackupSelector,
        // Alerts.
        nuage_engine::Lang,
        nuage_engine::AlertOn,
        nuage_engine::WebhookFormat,
        nuage_engine::EmailAlerts,
        nuage_engine::WebhookAlerts,
        nuage_engine::AlertSettings,
        nuage_engine::alerts::AlertProblem,
        nuage_engine::AlertsView,
        nuage_engine::AlertTest,
        // Events.
        Event,
        SourceOutcome,
        UploadOutcome,
        // Account and destination.
        Account,
        FolderEntry,
        FolderPage,
        DeviceCode,
        Registration,
        Settings,
        nuage_engine::S3Where,
        nuage_engine::S3Form,
        nuage_engine::LockFound,
        nuage_engine::S3Probe,
        // Errors.
        AppError,
    );
    out
}

#[test]
fn the_ui_types_are_generated_from_the_rust_types() {
    let path = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("tests run by cargo"))
        .join("../ui/src/bindings.ts");
    let want = generated();
    if std::env::var_os("NUAGE_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "ui/src/bindings.ts is not what the Rust types give. Run \
         `NUAGE_BLESS=1 cargo test -p nuage-app --test bindings` and commit the result.\n\
         --- generated ---\n{want}"
    );
}
