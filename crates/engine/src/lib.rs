//! `nuage-engine`: everything Nuage does to data, with no user interface.
//!
//! [`Engine`] is the façade every front end uses (the CLI, the desktop
//! app, the service): opened on a home folder, it registers sources and
//! delegates each operation to the room that does it. The map of rooms
//! (`source/`, `document/`, `destination/`, `store/`, `run/`, `service/`,
//! `status.rs`, `account.rs`) is drawn in `docs/ARCHITECTURE.md` with the
//! invariants. Progress and state changes are reported through one typed
//! [`Event`] stream.

// A library never panics on a value it could not get: errors are returned.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod account;
pub mod alerts;
mod config;
mod destination;
mod document;
mod error;
mod event;
mod fsutil;
mod run;
mod sealed;
mod secret;
mod service;
mod source;
mod status;
pub(crate) mod store;
pub mod temporaries;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use nuage_graph::auth::{AppRegistration, DeviceFlow};
use nuage_graph::types::Secret;

pub use account::{Account, FolderEntry, FolderPage};
pub use alerts::{
    AlertOn, AlertSettings, AlertTest, AlertsView, EmailAlerts, Lang, WebhookAlerts, WebhookFormat,
};
pub use config::Config;
pub use destination::{
    Capabilities, Destination, DestinationConfig, NoJournal, RemoteFile, UploadJournal,
    UploadSession, VERSIONS_DIR, file_name,
    folder::FolderDestination,
    onedrive::OneDriveDestination,
    s3::{LockFound, S3Destination, S3Form, S3Probe, S3Settings, S3Where},
    tree_path,
};
pub use document::limits;
pub use document::{Cancel, Document, Meter, SourceInfo};
pub use error::{Error, ErrorCode, InvalidBackup, Result, SourceProblem};
pub use event::{Event, SourceOutcome, UploadOutcome};
pub use run::backup::{ZSTD_JOB_SIZE, ZSTD_LEVEL};
pub use run::drill::{DrillOptions, DrillReport};
pub use run::restore::{BackupRef, CopyUsed, Preview, RestoreReport};
pub use run::upload::DestinationSlot;
pub use service::schedule::Schedule;
pub use service::{Clock, ManualClock, Service, Sink, SystemClock};
pub use source::folder;
pub use source::kind_of as source_kind_of;
pub use source::open as open_source;
pub use source::postgres;
pub use source::{
    ContentStore, NoContent, Placement, Restored, SnapshotStats, Source, SourceCheck, SourceKind,
    SourceOptions, StagedRestore, TableProgress, suggested_name, valid_source_name,
};
pub use status::{
    Action, AppState, Context, DestinationKind, DestinationView, Overview, Problem, RunProgress,
    SetupSteps, SourceStatus, StatusReport, action_for, assess,
};
pub use store::{
    FolderChanges, HomeLock, Location, Proof, RestorePoint, RunOutcome, RunRecord, SourceRecord,
    UploadState,
};

use run::Ctx;
use source::check_source_name;
use store::{Store, now};

/// The engine on one home folder.
pub struct Engine {
    store: Store,
    config: Config,
}

/// Sizes as people read them, in decimal units (`12.3 MB`): the CLI's
/// lines and the alerts' messages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let (mut v, mut u) = (n as f64, 0);
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The default home: the platform data folder (`~/.local/share/nuage` on Linux).
pub fn default_home() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "nuage")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| {
            Error::Invalid("no home folder found for Nuage on this system; choose one explicitly (NUAGE_HOME).".into())
        })
}

impl Engine {
    /// The engine on `home` with the default configuration (no
    /// environment read): tests and embedders.
    pub fn open(home: &Path) -> Result<Engine> {
        Engine::open_with(home, Config::default())
    }

    /// The engine on `home` with the configuration the binary built.
    pub fn open_with(home: &Path, config: Config) -> Result<Engine> {
        let store = Store::open(home)?;
        // Temporaries of runs that were killed are removed at the next start.
        temporaries::adopt(home);
        Ok(Engine { store, config })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn home(&self) -> &Path {
        self.store.home()
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: &self.store,
            config: &self.config,
        }
    }

    // ---- sources and settings (the state database) ----

    pub fn add_source(&self, path: &Path, name: Option<&str>) -> Result<SourceRecord> {
        self.add_source_at(&path.to_string_lossy(), name, None)
            .map(|(s, _)| s)
    }

    /// Registers the source at `location`: a SQLite file's path, or a
    /// PostgreSQL connection string (`password`, or the one the string
    /// holds, goes to the keychain; what is stored has none). The source
    /// is checked first: what it holds is returned.
    pub fn add_source_at(
        &self,
        location: &str,
        name: Option<&str>,
        password: Option<&str>,
    ) -> Result<(SourceRecord, SourceCheck)> {
        self.add_source_with(location, name, password, &SourceOptions::default())
    }

    /// [`Engine::add_source_at`] with options: a folder's include and
    /// exclude patterns.
    pub fn add_source_with(
        &self,
        location: &str,
        name: Option<&str>,
        password: Option<&str>,
        options: &SourceOptions,
    ) -> Result<(SourceRecord, SourceCheck)> {
        let kind = source::kind_of(location);
        if kind != SourceKind::Folder
            && !(options.exclude.is_empty()
                && options.include.is_empty()
                && options.local_copy.is_none())
        {
            return Err(Error::Invalid(
                "include and exclude patterns and a local copy of files apply to folder sources only.".into(),
            ));
        }
        let path = match kind {
            SourceKind::Sqlite | SourceKind::Folder => std::path::absolute(location)
                .map_err(|e| Error::io("resolve", Path::new(location), e))?,
            SourceKind::Postgresql => PathBuf::from(location),
        };
        let options = SourceOptions {
            paths: Vec::new(),
            ..options.clone()
        };
        let name = match name {
            Some(n) => n.to_string(),
            None => match kind {
                SourceKind::Sqlite => suggested_name(&path),
                SourceKind::Folder => suggested_name(&path.with_extension("")),
                SourceKind::Postgresql => {
                    let (spec, _) = postgres::ConnSpec::parse(location)?;
                    suggested_name(Path::new(&spec.dbname))
                }
            },
        };
        check_source_name(&name)?;
        // OneDrive, SharePoint and many shares ignore case: two names equal
        // but for case would share one folder, and one's retention would
        // delete the other's copies.
        if let Some(other) = self
            .store
            .sources()?
            .into_iter()
            .find(|s| s.name.eq_ignore_ascii_case(&name))
        {
            return Err(Error::SourceExists(other.name));
        }
        // Validate on the spot: the source must be one Nuage can back up.
        let (check, path) = match kind {
            SourceKind::Sqlite | SourceKind::Folder => {
                let check = source::open(kind, &name, &path, &options, self.home(), &self.config)
                    .check()?;
                (check, path)
            }
            SourceKind::Postgresql => {
                let src = postgres::PostgresSource::new(&name, &path, self.home(), &self.config)
                    .with_password(password);
                let check = src.check()?;
                let password = src.given_password().map(str::to_string);
                if let Some(p) = &password {
                    let (spec, _) = postgres::ConnSpec::parse(location)?;
                    postgres::password::save(self.home(), &self.config.graph, &name, &spec, p)?;
                }
                (check, src.location().to_path_buf())
            }
        };
        let s = SourceRecord {
            name,
            kind,
            path,
            keep_last: None,
            keep_days: None,
            added_at: now(),
            options,
        };
        if let Err(e) = self.store.add_source(&s) {
            if kind == SourceKind::Postgresql {
                let _ = postgres::password::forget(self.home(), &self.config.graph, &s.name);
            }
            return Err(e);
        }
        Ok((s, check))
    }

    /// Checks that `path` is a database Nuage can back up, without
    /// registering or modifying it.
    pub fn check_source(&self, path: &Path) -> Result<SourceCheck> {
        self.check_source_at(&path.to_string_lossy(), None)
    }

    /// [`Engine::check_source`] for any location (a connection string, with
    /// its password given apart or in it).
    pub fn check_source_at(&self, location: &str, password: Option<&str>) -> Result<SourceCheck> {
        match source::kind_of(location) {
            kind @ (SourceKind::Sqlite | SourceKind::Folder) => {
                let path = std::path::absolute(location)
                    .map_err(|e| Error::io("resolve", Path::new(location), e))?;
                source::open(
                    kind,
                    &suggested_name(&path),
                    &path,
                    &SourceOptions::default(),
                    self.home(),
                    &self.config,
                )
                .check()
            }
            SourceKind::Postgresql => {
                let (spec, _) = postgres::ConnSpec::parse(location)?;
                postgres::PostgresSource::new(
                    &suggested_name(Path::new(&spec.dbname)),
                    Path::new(location),
                    self.home(),
                    &self.config,
                )
                .with_password(password)
                .check()
            }
        }
    }

    pub fn sources(&self) -> Result<Vec<SourceRecord>> {
        self.store.sources()
    }

    /// Renames a source; its restore points, history and copies follow it.
    /// The local copies move at once; the copies at the destination move
    /// at the next run (until then they stay restorable under the old
    /// folder name). Refused while a backup or a restore is running.
    pub fn rename_source(&self, old: &str, new: &str) -> Result<SourceRecord> {
        check_source_name(new)?;
        if old == new {
            return self.store.source(old);
        }
        let _lock = HomeLock::acquire(self.home())?;
        // A database password follows its source's name in the keychain:
        // kept under the new name first, forgotten under the old one once
        // the rename is committed.
        let kind = self.store.source(old)?.kind;
        let copied = kind == SourceKind::Postgresql
            && postgres::password::copy(self.home(), &self.config.graph, old, new)?;
        let s = match self.store.rename_source(old, new) {
            Ok(s) => s,
            Err(e) => {
                if copied {
                    let _ = postgres::password::forget(self.home(), &self.config.graph, new);
                }
                return Err(e);
            }
        };
        if copied {
            let _ = postgres::password::forget(self.home(), &self.config.graph, old);
        }
        // Committed: a failure here is finished by the next run's sweep.
        if let Err(e) = self.store.finish_local_moves() {
            tracing::warn!(error = %e, "the local copies of '{new}' will move at the next run");
        }
        Ok(s)
    }

    /// Unregisters a source. Its restore points stay, listed and restorable.
    pub fn remove_source(&self, name: &str) -> Result<()> {
        let kind = self.store.source(name)?.kind;
        self.store.remove_source(name)?;
        if kind == SourceKind::Postgresql {
            postgres::password::forget(self.home(), &self.config.graph, name)?;
        }
        Ok(())
    }

    pub fn set_retention(
        &self,
        name: &str,
        keep_last: Option<u32>,
        keep_days: Option<u32>,
    ) -> Result<()> {
        if keep_last == Some(0) {
            return Err(Error::Invalid(
                "the number of copies to keep must be at least 1: Nuage always keeps the newest copy.".into(),
            ));
        }
        self.store.set_retention(name, keep_last, keep_days)
    }

    /// Sets the cap of folder source `name`'s local copy of its files
    /// (`None`: the default, see [`SourceOptions::local_copy`]). Applied
    /// at once: a smaller cap removes what falls beyond it.
    pub fn set_local_copy(&self, name: &str, cap: Option<u64>) -> Result<()> {
        let s = self.store.source(name)?;
        if s.kind != SourceKind::Folder {
            return Err(Error::Invalid(format!(
                "'{name}' is not a folder: a local copy of files applies to folder sources only (a database's local copy is its backup file)."
            )));
        }
        let options = SourceOptions {
            local_copy: cap,
            ..s.options.clone()
        };
        self.store.set_options(name, &options)?;
        let s = self.store.source(name)?;
        self.ctx().keep_local_copies(&s).map(|_| ())
    }

    /// Whether scheduled runs are paused (the app's Pause; `nuage run` honours it too).
    pub fn paused(&self) -> Result<bool> {
        self.store.paused()
    }

    pub fn set_paused(&self, paused: bool) -> Result<()> {
        self.store.set_setting("paused", paused.then_some("1"))
    }

    /// A preference of the desktop app (`notifications`, `language`, …),
    /// kept beside the engine's settings under the `app.` prefix.
    pub fn app_setting(&self, key: &str) -> Result<Option<String>> {
        self.store.setting(&format!("app.{key}"))
    }

    pub fn set_app_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        self.store.set_setting(&format!("app.{key}"), value)
    }

    pub fn schedule(&self) -> Result<Schedule> {
        service::schedule::stored(&self.store)
    }

    pub fn set_schedule(&self, s: Schedule) -> Result<()> {
        self.store.set_setting("schedule", Some(&s.to_setting()))
    }

    pub fn restore_points(&self, source: Option<&str>) -> Result<Vec<RestorePoint>> {
        self.store.restore_points(source)
    }

    /// Records a run that stopped before its sources' outcomes were known
    /// (the service caught an internal error) as failed for every source,
    /// with `message`: the state then says so and what to do.
    pub fn record_interrupted_run(&self, message: &str) -> Result<()> {
        let at = now();
        for s in self.store.sources()? {
            self.store.record_run(&RunRecord {
                source: s.name,
                started_at: at.clone(),
                finished_at: at.clone(),
                outcome: RunOutcome::Failed,
                restore_point: None,
                bytes: None,
                error: Some(message.to_string()),
                error_code: Some(ErrorCode::Failed),
            })?;
        }
        Ok(())
    }

    pub fn runs(&self, limit: u32) -> Result<Vec<RunRecord>> {
        self.store.runs(limit)
    }

    /// When every registered source last had a run started (the oldest
    /// of their newest runs): what the schedule counts from.
    pub fn last_full_run_started(&self) -> Result<Option<String>> {
        self.store.last_full_run_started()
    }

    // ---- run/backup.rs ----

    /// Backs up the named sources (all when `names` is empty). Holds the
    /// home lock for the whole run. Each source gets an outcome; one
    /// failing source does not stop the others.
    pub fn backup(
        &self,
        names: &[String],
        events: &mut dyn FnMut(Event),
    ) -> Result<Vec<SourceOutcome>> {
        self.ctx().backup(names, events)
    }

    // ---- run/restore.rs ----

    /// Finds a restore point by id (or unique prefix), or else a backup file.
    pub fn resolve(&self, point_or_file: &str) -> Result<BackupRef> {
        self.ctx().resolve(point_or_file)
    }

    /// Validates `r` completely (as a restore would) and says what a restore
    /// would do. Nothing outside Nuage's scratch folder is written.
    pub fn preview(
        &self,
        r: &BackupRef,
        events: &mut dyn FnMut(Event),
        cancel: &Cancel,
    ) -> Result<Preview> {
        self.ctx().preview(r, events, cancel)
    }

    /// Restores `r` into a new target at `to`. The target appears only
    /// once complete and checked; an existing one is replaced only with
    /// `force`, and never one that a program is using.
    pub fn restore_to(
        &self,
        r: &BackupRef,
        to: &Path,
        force: bool,
        events: &mut dyn FnMut(Event),
        cancel: &Cancel,
    ) -> Result<RestoreReport> {
        self.ctx().restore_to(r, to, &[], force, events, cancel)
    }

    /// [`Engine::restore_to`] of some paths of a folder source's point
    /// (files or folders, relative to the folder); all when empty.
    pub fn restore_paths_to(
        &self,
        r: &BackupRef,
        to: &Path,
        paths: &[String],
        force: bool,
        events: &mut dyn FnMut(Event),
        cancel: &Cancel,
    ) -> Result<RestoreReport> {
        self.ctx().restore_to(r, to, paths, force, events, cancel)
    }

    /// The registered source a backup belongs to, for a restore in place.
    pub fn source_of(&self, r: &BackupRef) -> Result<SourceRecord> {
        self.ctx().source_of(r)
    }

    /// Restores `r` over its source, in place (an application holding it
    /// open keeps working). Everything is validated and built first; then
    /// the current contents are kept as a restore point (or, when they
    /// cannot be read, as a raw copy); only then is the source replaced.
    pub fn restore_in_place(
        &self,
        r: &BackupRef,
        events: &mut dyn FnMut(Event),
        cancel: &Cancel,
    ) -> Result<RestoreReport> {
        self.ctx().restore_in_place(r, &[], events, cancel)
    }

    /// [`Engine::restore_in_place`] of some paths of a folder source's
    /// point; all when empty.
    pub fn restore_paths_in_place(
        &self,
        r: &BackupRef,
        paths: &[String],
        events: &mut dyn FnMut(Event),
        cancel: &Cancel,
    ) -> Result<RestoreReport> {
        self.ctx().restore_in_place(r, paths, events, cancel)
    }

    /// Writes restore point `id` to `file`: plain JSON, or zstd when the
    /// name ends in `.zst`. The checksum is verified first.
    pub fn export(&self, point: &RestorePoint, file: &Path, force: bool) -> Result<u64> {
        self.ctx().export(point, file, force)
    }

    // ---- run/upload.rs ----

    pub fn destination(&self) -> Result<Option<DestinationConfig>> {
        self.ctx().destination()
    }

    /// Sets (or with `None` removes) the destination. Copies already made
    /// are uploaded to a new destination at the next run.
    pub fn set_destination(&self, config: Option<&DestinationConfig>) -> Result<()> {
        self.ctx().set_destination(config)
    }

    /// Sets an S3-compatible destination once every step a backup needs
    /// worked on it; the secret access key goes to the keychain.
    pub fn set_s3_destination(&self, settings: &S3Settings, secret: &str) -> Result<S3Probe> {
        self.ctx().set_s3_destination(settings, secret)
    }

    /// Tries the configured S3 destination again, step by step.
    pub fn test_s3_destination(&self) -> Result<S3Probe> {
        self.ctx().test_s3_destination()
    }

    /// Restore points wherever they are, newest first: local ones marked
    /// `both` when verified at the destination, plus files found only at
    /// the destination. When the destination cannot be listed, the local
    /// points come back with the reason.
    pub fn all_restore_points(
        &self,
        source: Option<&str>,
    ) -> Result<(Vec<RestorePoint>, Option<Error>)> {
        self.ctx().all_restore_points(source)
    }

    /// Restore drills (see [`run::drill`]): the newest point of each
    /// source named (all when none), or every point with `all`, proven
    /// restorable from each place it is kept; bad copies healed from good
    /// ones. Then the alerts are checked (a failed drill is a problem).
    pub fn verify(
        &self,
        names: &[String],
        opts: DrillOptions,
        events: &mut dyn FnMut(Event),
    ) -> Result<Vec<DrillReport>> {
        self.verify_at(names, opts, chrono::Utc::now(), events)
    }

    /// [`Engine::verify`] as of `now` (the service's clock).
    pub fn verify_at(
        &self,
        names: &[String],
        opts: DrillOptions,
        now: chrono::DateTime<chrono::Utc>,
        events: &mut dyn FnMut(Event),
    ) -> Result<Vec<DrillReport>> {
        // Heals write local copies and uploads: one process at a time.
        let _lock = HomeLock::acquire(self.home())?;
        self.ctx().drill(names, opts, now, events)
    }

    /// Days between scheduled restore drills (`None`: off; weekly unless set).
    pub fn verify_every(&self) -> Result<Option<u32>> {
        self.ctx().verify_every()
    }

    pub fn set_verify_every(&self, days: Option<u32>) -> Result<()> {
        self.ctx().set_verify_every(days)
    }

    /// Whether a scheduled drill is due at `now`.
    pub fn drill_due(&self, now: chrono::DateTime<chrono::Utc>) -> Result<bool> {
        self.ctx().drill_due(now)
    }

    // ---- account.rs ----

    /// The app registration to sign in with: the arguments, else
    /// `NUAGE_CLIENT_ID` / `NUAGE_TENANT`, else what was used last time.
    pub fn app_registration(
        &self,
        client_id: Option<&str>,
        tenant: Option<&str>,
    ) -> Result<AppRegistration> {
        self.ctx().app_registration(client_id, tenant)
    }

    /// Starts a device sign-in: show the result's `message` (or
    /// `user_code` and `verification_uri`), then call [`Engine::finish_sign_in`].
    pub fn start_sign_in(&self, app: &AppRegistration) -> Result<DeviceFlow> {
        self.ctx().start_sign_in(app)
    }

    /// Waits for the person to approve, then keeps the tokens in the keychain.
    pub fn finish_sign_in(
        &self,
        flow: &DeviceFlow,
        app: &AppRegistration,
        cancel: &AtomicBool,
    ) -> Result<Account> {
        self.ctx().finish_sign_in(flow, app, cancel)
    }

    /// App-only sign-in (an unattended machine): checks the secret with
    /// the identity platform, then keeps it in the keychain.
    pub fn sign_in_app(&self, app: &AppRegistration, secret: &Secret) -> Result<Account> {
        self.ctx().sign_in_app(app, secret)
    }

    /// Set when tokens are kept outside the keychain (`NUAGE_TOKEN_STORE=file`):
    /// front ends show it whenever they sign in or use the account.
    /// Who is signed in, read from the keychain without a network call:
    /// `None` when nobody is. A keychain that cannot be read is an error.
    pub fn signed_in(&self) -> Result<Option<String>> {
        self.ctx().signed_in()
    }

    pub fn token_store_warning(&self) -> Result<Option<String>> {
        self.ctx().token_store_warning()
    }

    /// Forgets every credential of this home. Backups keep landing locally.
    pub fn sign_out(&self) -> Result<()> {
        self.ctx().sign_out()
    }

    /// Who is signed in, with the drive's type and quota.
    pub fn whoami(&self) -> Result<Account> {
        self.ctx().whoami()
    }

    /// A folder of the signed-in user's drive (created when missing) as the
    /// destination.
    pub fn use_onedrive_folder(&self, path: &str) -> Result<DestinationConfig> {
        self.ctx().use_onedrive_folder(path)
    }

    /// A folder picked in the app's folder browser (drive and item ids from
    /// [`Engine::browse_onedrive`]) as the destination; `path` labels it.
    pub fn use_onedrive_item(
        &self,
        drive_id: &str,
        item_id: &str,
        path: &str,
    ) -> Result<DestinationConfig> {
        self.ctx().use_onedrive_item(drive_id, item_id, path)
    }

    /// A folder given by a SharePoint/OneDrive sharing link as the
    /// destination (the link is resolved once to its drive and item).
    pub fn use_share_link(&self, link: &str) -> Result<DestinationConfig> {
        self.ctx().use_share_link(link)
    }

    /// Lists the subfolders of `parent` (the drive's root when `None`) in
    /// the signed-in user's OneDrive, one page at a time, for a folder picker.
    pub fn browse_onedrive(
        &self,
        parent: Option<(&str, &str)>,
        next: Option<&str>,
        page_size: u32,
    ) -> Result<FolderPage> {
        self.ctx().browse_onedrive(parent, next, page_size)
    }

    /// Creates a folder named `name` in `parent` (or the root) for a folder picker.
    pub fn create_onedrive_folder(
        &self,
        parent: Option<(&str, &str)>,
        name: &str,
    ) -> Result<FolderEntry> {
        self.ctx().create_onedrive_folder(parent, name)
    }

    // ---- status.rs ----

    /// What the state database says of the sources (no network, no keychain).
    pub fn status(&self) -> Result<StatusReport> {
        self.ctx().status()
    }

    /// The overview (state, problem, setup steps, sources) as of now, for
    /// `nuage status` and the service. No network.
    pub fn overview(&self, running: Option<Vec<RunProgress>>) -> Result<Overview> {
        self.ctx().overview(running)
    }

    /// The overview from a status report already read (`nuage status`
    /// prints both).
    pub fn overview_of(
        &self,
        status: StatusReport,
        running: Option<Vec<RunProgress>>,
    ) -> Result<Overview> {
        self.ctx().overview_of(status, running)
    }
}
