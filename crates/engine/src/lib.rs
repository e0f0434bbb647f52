//! `nuage-engine`: everything Nuage does to data, with no user interface.
//!
//! The [`Engine`] is opened on a home folder and offers the operations the
//! CLI and the desktop app expose: register sources, back them up (snapshot →
//! JSON → zstd → atomic local copy, skipped when unchanged), apply retention,
//! list restore points, restore, import and export. Progress and state
//! changes are reported through one typed [`Event`] stream.
//!
//! See `docs/ARCHITECTURE.md` for the map and the invariants.

pub mod account;
pub mod destination;
pub mod error;
pub mod fingerprint;
pub mod format;
pub mod fsutil;
pub mod guard;
pub mod load;
pub mod schedule;
pub mod service;
pub mod snapshot;
pub mod sql;
pub mod store;
mod upload;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use serde::Serialize;

pub use error::{Error, InvalidBackup, Result, SourceProblem};
pub use schedule::Schedule;
pub use store::{RestorePoint, RunRecord, Source};

use fsutil::{AtomicFile, HashingWriter};
use store::{HomeLock, Store};

/// zstd level of local copies: level 3 is zstd's default and keeps the
/// compressor (the pipeline's bottleneck on two cores) near 140 MB/s.
pub const ZSTD_LEVEL: i32 = 3;
/// Bytes per zstd worker job (see the backup run).
pub const ZSTD_JOB_SIZE: u32 = 2 << 20;

/// What happened to one source in a backup run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    BackedUp,
    Unchanged,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceOutcome {
    pub source: String,
    pub status: Status,
    /// The new restore point, or for `unchanged` the one still current.
    pub id: Option<String>,
    pub size_bytes: Option<u64>,
    pub tables: Option<u64>,
    pub rows: Option<u64>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub removed_by_retention: Vec<String>,
    /// What happened at the destination, when one is configured.
    pub upload: Option<UploadOutcome>,
}

/// The destination side of one source's run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UploadOutcome {
    /// `verified` (everything of this source is at the destination and
    /// checked), or `pending` (some copies wait for the next run: `error`
    /// says why).
    pub state: String,
    /// Restore points uploaded and verified during this run.
    pub uploaded: Vec<String>,
    /// Files removed at the destination by retention.
    pub removed: Vec<String>,
    pub error: Option<String>,
    pub error_code: Option<String>,
}

/// The event stream: the CLI draws progress bars from it, the desktop app
/// forwards it to the UI and the tray.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        sources: Vec<String>,
    },
    SourceStarted {
        source: String,
    },
    Progress {
        source: String,
        table: String,
        rows: u64,
    },
    SourceFinished {
        outcome: Box<SourceOutcome>,
    },
    RunFinished {
        failed: usize,
    },
    RestoreProgress {
        table: String,
        rows: u64,
    },
    UploadProgress {
        source: String,
        point: String,
        bytes: u64,
        total: u64,
    },
    /// The overall state changed (sent by the [`service::Service`]).
    StateChanged {
        state: service::AppState,
        summary: String,
    },
}

/// Where a restore reads from.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // made once per restore, never stored in bulk
pub enum BackupRef {
    Point(RestorePoint),
    File(PathBuf),
}

pub use destination::DestinationConfig;
pub use upload::DestinationSlot;

impl BackupRef {
    fn label(&self) -> String {
        match self {
            BackupRef::Point(p) => format!("restore point {}", p.id),
            BackupRef::File(f) => f.display().to_string(),
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub target: PathBuf,
    pub source: String,
    pub created_at: String,
    pub tables: Vec<(String, u64)>,
    pub rows: u64,
    /// The restore point holding the target's previous contents, when it was replaced.
    pub safety_point: Option<String>,
    /// A raw copy of a previous target that could not be snapshotted.
    pub safety_file: Option<PathBuf>,
}

/// Overall state, for `nuage status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub home: PathBuf,
    pub schedule: Schedule,
    /// The overall state, as the tray shows it.
    pub state: State,
    /// The state in words, with what to do when something needs doing.
    pub summary: String,
    pub destination: Option<String>,
    pub sources: Vec<SourceStatus>,
    pub last_runs: Vec<RunRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    pub name: String,
    pub path: PathBuf,
    pub added_at: String,
    pub keep_last: Option<u32>,
    pub keep_days: Option<u32>,
    pub last_backup: Option<RestorePoint>,
    /// The newest restore point verified at the destination (with no
    /// destination: the newest local copy, whose checksum was verified when written).
    pub last_verified: Option<RestorePoint>,
    pub restore_points: usize,
    /// Copies waiting to reach the destination.
    pub uploads_pending: usize,
    /// Why they wait (the last upload error), and its code.
    pub upload_error: Option<String>,
    pub upload_error_code: Option<String>,
}

/// What Nuage is doing about the data, in one word.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Every source backed up, every copy at the destination.
    UpToDate,
    /// Copies are safe locally and wait for the network or the end of
    /// throttling; nothing to do.
    Waiting,
    /// A run failed, or uploads need the person: sign in again, free space,
    /// fix a source or a destination.
    NeedsAttention,
    /// Nothing backed up yet.
    NotStarted,
}

pub struct Engine {
    store: Store,
}

/// The default home: the platform data folder (`~/.local/share/nuage` on Linux).
pub fn default_home() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "nuage")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| {
            Error::Invalid("no home folder found; pass --home DIR or set NUAGE_HOME.".into())
        })
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The source name proposed for a database file: its file name without
/// extension, with characters a folder name cannot safely hold replaced.
pub fn suggested_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// What a database file holds, for the app's "add a database" form.
#[derive(Debug, Clone, Serialize)]
pub struct SourceCheck {
    pub path: PathBuf,
    pub suggested_name: String,
    pub tables: u64,
    pub size_bytes: u64,
    pub journal_mode: String,
}

/// What a restore would do, found by validating the whole backup into a
/// scratch database that is then deleted: nothing is touched.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub source: String,
    pub created_at: String,
    pub tables: Vec<(String, u64)>,
    pub rows: u64,
    /// The registered source's database a restore in place would replace.
    pub replaces: Option<PathBuf>,
    /// A restore in place first keeps the current contents as a restore point.
    pub safety_copy: bool,
}

/// Source names become folder names, locally and remotely.
pub fn valid_source_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// [`valid_source_name`], or the error that says which names are.
fn check_source_name(name: &str) -> Result<()> {
    if valid_source_name(name) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "'{name}' cannot name a source: use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'."
    )))
}

impl Engine {
    pub fn open(home: &Path) -> Result<Engine> {
        Ok(Engine {
            store: Store::open(home)?,
        })
    }

    pub fn home(&self) -> &Path {
        self.store.home()
    }

    pub fn add_source(&self, path: &Path, name: Option<&str>) -> Result<Source> {
        let path = std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))?;
        let name = match name {
            Some(n) => n.to_string(),
            None => suggested_name(&path),
        };
        check_source_name(&name)?;
        // Validate on the spot: the file must be a readable SQLite database.
        snapshot::snapshot_header_check(&name, &path)?;
        let s = Source {
            name,
            kind: "sqlite".into(),
            path,
            keep_last: None,
            keep_days: None,
            added_at: now(),
        };
        self.store.add_source(&s)?;
        Ok(s)
    }

    /// Checks that `path` is a SQLite database Nuage can back up, without
    /// registering or modifying it.
    pub fn check_source(&self, path: &Path) -> Result<SourceCheck> {
        let path = std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))?;
        let name = suggested_name(&path);
        let (tables, journal_mode) = snapshot::inspect(&name, &path)?;
        let size_bytes = std::fs::metadata(&path)
            .map_err(|e| snapshot::source_io_error(&name, &path, e))?
            .len();
        Ok(SourceCheck {
            path,
            suggested_name: name,
            tables,
            size_bytes,
            journal_mode,
        })
    }

    /// Validates `r` completely (as a restore would) and says what a restore
    /// would do. Nothing outside Nuage's scratch folder is written.
    pub fn preview(&self, r: &BackupRef, events: &mut dyn FnMut(Event)) -> Result<Preview> {
        let work = self.store.work_dir();
        fsutil::create_private_dir(&work)?;
        let tmp = work.join(format!("preview-{:016x}.db", fastrand::u64(..)));
        let loaded = self.build(r, &tmp, &tmp, events);
        remove_db_files(&tmp);
        let loaded = loaded?;
        let replaces = self.store.source(&loaded.source.name).ok().map(|s| s.path);
        Ok(Preview {
            source: loaded.source.name.clone(),
            created_at: loaded.created_at,
            tables: loaded.tables,
            rows: loaded.rows,
            safety_copy: replaces.is_some(),
            replaces,
        })
    }

    pub fn sources(&self) -> Result<Vec<Source>> {
        self.store.sources()
    }

    /// Renames a source; its restore points, history and copies follow it.
    /// The local copies move at once; the copies at the destination move
    /// at the next run (until then they stay restorable under the old
    /// folder name). Refused while a backup or a restore is running.
    pub fn rename_source(&self, old: &str, new: &str) -> Result<Source> {
        check_source_name(new)?;
        if old == new {
            return self.store.source(old);
        }
        let _lock = HomeLock::acquire(self.home())?;
        let s = self.store.rename_source(old, new)?;
        // Committed: a failure here is finished by the next run's sweep.
        if let Err(e) = self.store.finish_local_moves() {
            tracing::warn!(error = %e, "the local copies of '{new}' will move at the next run");
        }
        Ok(s)
    }

    /// Unregisters a source. Its restore points stay, listed and restorable.
    pub fn remove_source(&self, name: &str) -> Result<()> {
        self.store.remove_source(name)
    }

    pub fn set_retention(
        &self,
        name: &str,
        keep_last: Option<u32>,
        keep_days: Option<u32>,
    ) -> Result<()> {
        if keep_last == Some(0) {
            return Err(Error::Invalid(
                "--keep-last must be at least 1: Nuage always keeps the newest copy.".into(),
            ));
        }
        self.store.set_retention(name, keep_last, keep_days)
    }

    /// Whether scheduled runs are paused (the app's Pause; `nuage run` honours it too).
    pub fn paused(&self) -> Result<bool> {
        Ok(self.store.setting("paused")?.as_deref() == Some("1"))
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
        match self.store.setting("schedule")? {
            Some(s) => Schedule::parse(&s),
            None => Ok(Schedule::Off),
        }
    }

    pub fn set_schedule(&self, s: Schedule) -> Result<()> {
        self.store.set_setting("schedule", Some(&s.to_setting()))
    }

    pub fn restore_points(&self, source: Option<&str>) -> Result<Vec<RestorePoint>> {
        self.store.restore_points(source)
    }

    pub fn runs(&self, limit: u32) -> Result<Vec<RunRecord>> {
        self.store.runs(limit)
    }

    /// Finds a restore point by id (or unique prefix), or else a backup file.
    pub fn resolve(&self, point_or_file: &str) -> Result<BackupRef> {
        let path = Path::new(point_or_file);
        let local = self.store.restore_points(None)?;
        if let Some(r) = Self::match_point(&local, point_or_file, path)? {
            return Ok(r);
        }
        if path.is_file() {
            return Ok(BackupRef::File(path.to_path_buf()));
        }
        // Not here: perhaps only at the destination (a lost home, another machine).
        if self.destination()?.is_some() {
            let (everywhere, _) = self.all_restore_points(None)?;
            if let Some(r) = Self::match_point(&everywhere, point_or_file, path)? {
                return Ok(r);
            }
        }
        Err(Error::UnknownRestorePoint(point_or_file.to_string()))
    }

    /// A restore point by exact id, or by unique prefix when no file has that name.
    fn match_point(points: &[RestorePoint], key: &str, path: &Path) -> Result<Option<BackupRef>> {
        if let Some(p) = points.iter().find(|p| p.id == key) {
            return Ok(Some(BackupRef::Point(p.clone())));
        }
        if path.exists() || key.is_empty() {
            return Ok(None);
        }
        let matching: Vec<&RestorePoint> =
            points.iter().filter(|p| p.id.starts_with(key)).collect();
        match matching.len() {
            0 => Ok(None),
            1 => Ok(Some(BackupRef::Point(matching[0].clone()))),
            _ => Err(Error::AmbiguousRestorePoint(key.to_string())),
        }
    }

    /// The local file holding `r`: the local copy (checksum verified), the
    /// given file, or a verified download of a point kept only at the
    /// destination (removed again when the guard drops).
    fn local_file(&self, r: &BackupRef) -> Result<(PathBuf, Option<TempFile>)> {
        match r {
            BackupRef::Point(p) if p.location == store::Location::Remote => {
                let path = self.download_remote(p)?;
                Ok((path.clone(), Some(TempFile(path))))
            }
            BackupRef::Point(p) => {
                self.verify_point(p)?;
                Ok((p.file.clone(), None))
            }
            BackupRef::File(f) => Ok((f.clone(), None)),
        }
    }

    /// Backs up the named sources (all when `names` is empty). Holds the
    /// home lock for the whole run. Each source gets an outcome; one
    /// failing source does not stop the others.
    pub fn backup(
        &self,
        names: &[String],
        events: &mut dyn FnMut(Event),
    ) -> Result<Vec<SourceOutcome>> {
        let _lock = HomeLock::acquire(self.home())?;
        self.store.sweep()?;
        let all = self.store.sources()?;
        let selected: Vec<Source> = if names.is_empty() {
            all
        } else {
            names
                .iter()
                .map(|n| self.store.source(n))
                .collect::<Result<_>>()?
        };
        events(Event::RunStarted {
            sources: selected.iter().map(|s| s.name.clone()).collect(),
        });
        let mut destination = self.open_destination()?;
        let mut outcomes = Vec::new();
        for s in &selected {
            events(Event::SourceStarted {
                source: s.name.clone(),
            });
            let started = now();
            let outcome = match self.backup_one(s, events) {
                Ok(o) => o,
                Err(e) => SourceOutcome {
                    source: s.name.clone(),
                    status: Status::Failed,
                    id: None,
                    size_bytes: None,
                    tables: None,
                    rows: None,
                    error: Some(e.to_string()),
                    error_code: Some(e.code().to_string()),
                    removed_by_retention: vec![],
                    upload: None,
                },
            };
            self.store.record_run(&RunRecord {
                source: s.name.clone(),
                started_at: started,
                finished_at: now(),
                outcome: serde_json::to_value(&outcome.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                restore_point: outcome.id.clone(),
                bytes: outcome.size_bytes,
                error: outcome.error.clone(),
                error_code: outcome.error_code.clone(),
            })?;
            let mut outcome = outcome;
            if let Some(dest) = destination
                .as_mut()
                .filter(|_| outcome.status != Status::Failed)
            {
                outcome.upload = Some(self.sync_source(dest, s, events));
            }
            events(Event::SourceFinished {
                outcome: Box::new(outcome.clone()),
            });
            outcomes.push(outcome);
        }
        events(Event::RunFinished {
            failed: outcomes
                .iter()
                .filter(|o| o.status == Status::Failed)
                .count(),
        });
        Ok(outcomes)
    }

    fn backup_one(&self, s: &Source, events: &mut dyn FnMut(Event)) -> Result<SourceOutcome> {
        let fp = fingerprint::fingerprint(&s.path)
            .map_err(|e| snapshot::source_io_error(&s.name, &s.path, e))?;
        let last = self.store.restore_points(Some(&s.name))?.into_iter().next();
        if let Some(last) = last
            .as_ref()
            .filter(|l| l.fingerprint == fp && l.source_path == s.path)
        {
            return Ok(SourceOutcome {
                source: s.name.clone(),
                status: Status::Unchanged,
                id: Some(last.id.clone()),
                size_bytes: Some(last.size_bytes),
                tables: Some(last.tables),
                rows: Some(last.rows),
                error: None,
                error_code: None,
                removed_by_retention: vec![],
                upload: None,
            });
        }
        let created = Utc::now();
        let created_at = created.to_rfc3339_opts(SecondsFormat::Millis, true);
        let id = format!(
            "{}-{:04x}",
            created.format("%Y%m%d-%H%M%S%3f"),
            fastrand::u16(..)
        );
        let dir = self.store.backups_dir(&s.name);
        fsutil::create_private_dir(&dir)?;
        let file = dir.join(format!("{id}.json.zst"));
        let atomic = AtomicFile::create(&file)?;
        let hashing = HashingWriter::new(atomic);
        let mut enc = zstd::stream::write::Encoder::new(hashing, ZSTD_LEVEL)
            .map_err(|e| Error::io("compress", &file, e))?;
        // Every frame carries its own checksum, so a damaged export is
        // refused even where the recorded BLAKE3 is not known.
        enc.include_checksum(true)
            .map_err(|e| Error::io("compress", &file, e))?;
        // One worker: compression runs beside serialization on a second core.
        // 2 MiB jobs keep zstd's buffers small: peak memory of a backup
        // 60 MiB -> 28 MiB at the same speed (docs/benchmarks.md).
        enc.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))
            .map_err(|e| Error::io("compress", &file, e))?;
        enc.multithread(1)
            .map_err(|e| Error::io("compress", &file, e))?;
        let out = BufWriter::with_capacity(256 << 10, enc);
        let name = s.name.clone();
        let (out, stats) = snapshot::snapshot(
            &s.name,
            &s.path,
            &file,
            &self.store.work_dir(),
            &created_at,
            out,
            &mut |p| {
                events(Event::Progress {
                    source: name.clone(),
                    table: p.table.to_string(),
                    rows: p.total_rows,
                })
            },
        )?;
        let enc = out
            .into_inner()
            .map_err(|e| Error::io("write", &file, e.into_error()))?;
        let hashing = enc.finish().map_err(|e| Error::io("write", &file, e))?;
        let (atomic, hashes) = hashing.finish();
        let size = hashes.bytes;
        atomic.commit(false)?;
        let point = RestorePoint {
            id: id.clone(),
            source: s.name.clone(),
            created_at,
            size_bytes: size,
            tables: stats.tables,
            rows: stats.rows,
            checksum: hashes.blake3,
            quickxor: Some(hashes.quickxor),
            location: store::Location::Local,
            upload: None,
            file,
            fingerprint: fp,
            source_path: s.path.clone(),
        };
        self.store.add_restore_point(&point)?;
        let removed = self.apply_retention(s)?;
        Ok(SourceOutcome {
            source: s.name.clone(),
            status: Status::BackedUp,
            id: Some(id),
            size_bytes: Some(size),
            tables: Some(stats.tables),
            rows: Some(stats.rows),
            error: None,
            error_code: None,
            removed_by_retention: removed,
            upload: None,
        })
    }

    /// Deletes local copies that fall outside the source's retention. The
    /// newest copy is never deleted.
    fn apply_retention(&self, s: &Source) -> Result<Vec<String>> {
        let points = self.store.restore_points(Some(&s.name))?;
        let now = Utc::now();
        let doomed = retention::select(&points, s.keep_last, s.keep_days, now);
        let mut removed = Vec::new();
        for p in doomed {
            // Forget first: a crash in between leaves an orphan file, swept later.
            self.store.forget_restore_point(&p.id)?;
            let _ = std::fs::remove_file(&p.file);
            removed.push(p.id.clone());
        }
        Ok(removed)
    }

    /// Checks a restore point's local copy against its recorded checksum.
    fn verify_point(&self, p: &RestorePoint) -> Result<()> {
        let (sum, _) = fsutil::hash_file(&p.file).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::CorruptCopy {
                    path: p.file.clone(),
                    detail: "the file is missing".into(),
                }
            } else {
                Error::io("read", &p.file, e)
            }
        })?;
        if sum != p.checksum {
            return Err(Error::InvalidBackup(InvalidBackup::Checksum(format!(
                "restore point {}",
                p.id
            ))));
        }
        Ok(())
    }

    /// Builds the database of `r` in a new file at `db_path`, validating
    /// everything on the way.
    fn build(
        &self,
        r: &BackupRef,
        db_path: &Path,
        target: &Path,
        events: &mut dyn FnMut(Event),
    ) -> Result<load::Loaded> {
        let (file, _download) = self.local_file(r)?;
        let input = load::open_document(&file)?;
        let mut progress = |table: &str, rows: u64| {
            events(Event::RestoreProgress {
                table: table.to_string(),
                rows,
            })
        };
        let result = load::load(input, &r.label(), db_path, target, &mut progress);
        if result.is_err() {
            remove_db_files(db_path);
        }
        result
    }

    /// Restores `r` into a new database file at `to`. The file appears
    /// only once complete and checked; an existing file is replaced only
    /// with `force`, and never one that a program is using.
    pub fn restore_to(
        &self,
        r: &BackupRef,
        to: &Path,
        force: bool,
        events: &mut dyn FnMut(Event),
    ) -> Result<RestoreReport> {
        if to.exists() && !force {
            return Err(Error::TargetExists(to.to_path_buf()));
        }
        fsutil::ensure_parent(to)?;
        for suffix in ["-wal", "-journal"] {
            let side = PathBuf::from(format!("{}{suffix}", to.display()));
            if side.exists() {
                return Err(Error::RestoreFailed {
                    path: to.to_path_buf(),
                    detail: format!(
                        "{} exists, so a program may be using this database. Close it, or register the file as a source and restore into it with `nuage restore POINT`.",
                        side.display()
                    ),
                });
            }
        }
        let tmp = fsutil::temp_sibling(to, "restore");
        let loaded = self.build(r, &tmp, to, events)?;
        let finish = || -> Result<()> {
            if loaded.sqlite.journal_mode == "wal" {
                let c = rusqlite::Connection::open(&tmp).map_err(|e| Error::RestoreFailed {
                    path: to.into(),
                    detail: e.to_string(),
                })?;
                c.execute_batch("PRAGMA journal_mode = WAL")
                    .map_err(|e| Error::RestoreFailed {
                        path: to.into(),
                        detail: e.to_string(),
                    })?;
            }
            let f = std::fs::File::open(&tmp).map_err(|e| Error::io("open", &tmp, e))?;
            f.sync_all().map_err(|e| Error::io("write", &tmp, e))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                &tmp,
                std::fs::Permissions::from_mode(fsutil::PRIVATE_FILE_MODE),
            )
            .map_err(|e| Error::io("set permissions of", &tmp, e))?;
            if force {
                std::fs::rename(&tmp, to).map_err(|e| Error::io("move into place", to, e))?;
            } else {
                match std::fs::hard_link(&tmp, to) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Err(Error::TargetExists(to.into()));
                    }
                    Err(e) => return Err(Error::io("move into place", to, e)),
                }
            }
            fsutil::sync_parent(to)
        };
        let placed = finish();
        remove_db_files(&tmp);
        placed?;
        Ok(RestoreReport {
            target: to.to_path_buf(),
            source: loaded.source.name.clone(),
            created_at: loaded.created_at.clone(),
            tables: loaded.tables.clone(),
            rows: loaded.rows,
            safety_point: None,
            safety_file: None,
        })
    }

    /// The registered source a backup belongs to, for a restore in place.
    pub fn source_of(&self, r: &BackupRef) -> Result<Source> {
        let name = match r {
            BackupRef::Point(p) => p.source.clone(),
            BackupRef::File(f) => load::peek_source(f)?.name,
        };
        self.store.source(&name).map_err(|_| {
            Error::Invalid(format!(
                "this backup is of source '{name}', which is not registered here. Restore it as a new file with --to PATH."
            ))
        })
    }

    /// Restores `r` over its source's own database, in place, through
    /// SQLite's online backup API (an application holding the database open
    /// keeps working). The current contents are kept first as a restore
    /// point (or, when they cannot be read as a database, as a raw copy).
    pub fn restore_in_place(
        &self,
        r: &BackupRef,
        events: &mut dyn FnMut(Event),
    ) -> Result<RestoreReport> {
        let source = self.source_of(r)?;
        let _lock = HomeLock::acquire(self.home())?;
        self.store.sweep()?;
        let work = self.store.work_dir();
        fsutil::create_private_dir(&work)?;
        let tmp = work.join(format!("restore-{:016x}.db", fastrand::u64(..)));
        let loaded = self.build(r, &tmp, &source.path, events)?;
        let result = (|| {
            let (safety_point, safety_file) = self.safety_copy(&source, events)?;
            restore::copy_into(&tmp, &source.path)?;
            Ok(RestoreReport {
                target: source.path.clone(),
                source: source.name.clone(),
                created_at: loaded.created_at.clone(),
                tables: loaded.tables.clone(),
                rows: loaded.rows,
                safety_point,
                safety_file,
            })
        })();
        remove_db_files(&tmp);
        result
    }

    fn safety_copy(
        &self,
        s: &Source,
        events: &mut dyn FnMut(Event),
    ) -> Result<(Option<String>, Option<PathBuf>)> {
        if !s.path.exists() {
            return Ok((None, None));
        }
        match self.backup_one(s, events) {
            Ok(o) => Ok((o.id, None)),
            Err(Error::Source {
                problem: SourceProblem::Corrupt(..) | SourceProblem::NotADatabase(_),
                ..
            }) => {
                let dir = self.home().join("safety");
                fsutil::create_private_dir(&dir)?;
                let dest = dir.join(format!(
                    "{}-{}.db",
                    s.name,
                    Utc::now().format("%Y%m%d-%H%M%S")
                ));
                restore::raw_copy(&s.path, &dest)?;
                Ok((None, Some(dest)))
            }
            Err(e) => Err(e),
        }
    }

    /// Writes restore point `id` to `file`: plain JSON, or zstd when the
    /// name ends in `.zst`. The checksum is verified first.
    pub fn export(&self, point: &RestorePoint, file: &Path, force: bool) -> Result<u64> {
        if file.exists() && !force {
            return Err(Error::TargetExists(file.to_path_buf()));
        }
        let (copy_of, _download) = self.local_file(&BackupRef::Point(point.clone()))?;
        let mut out = AtomicFile::create(file)?;
        let compressed = file.extension().is_some_and(|e| e == "zst");
        let copy = |out: &mut AtomicFile| -> std::io::Result<u64> {
            let f = std::fs::File::open(&copy_of)?;
            if compressed {
                std::io::copy(&mut std::io::BufReader::new(f), out)
            } else {
                let mut dec = zstd::stream::read::Decoder::new(f)?;
                dec.window_log_max(load::ZSTD_WINDOW_LOG_MAX)?;
                let mut w = BufWriter::with_capacity(256 << 10, &mut *out);
                let n = std::io::copy(&mut dec, &mut w)?;
                w.flush()?;
                Ok(n)
            }
        };
        let n = copy(&mut out).map_err(|e| Error::io("write", file, e))?;
        out.commit(force)?;
        Ok(n)
    }

    pub fn status(&self) -> Result<StatusReport> {
        let destination = self.destination()?;
        let (dest_key, dest_problem) = match destination.as_ref().map(|c| c.open(self.home())) {
            Some(Ok(d)) => (Some(d.describe()), None),
            Some(Err(e)) => (None, Some(e.to_string())),
            None => (None, None),
        };
        let runs = self.store.runs(50)?;
        let mut sources = Vec::new();
        for s in self.store.sources()? {
            let points = self.store.restore_points(Some(&s.name))?;
            let mut pending = 0;
            let (mut error, mut code) = (None, None);
            let mut last_verified = None;
            if dest_key.is_none() {
                last_verified = points.first().cloned();
            }
            if let Some(key) = &dest_key {
                for p in &points {
                    match self.store.upload(&p.id, key)? {
                        Some(u) if u.state == "verified" => {
                            if last_verified.is_none() {
                                last_verified = Some(p.clone());
                            }
                        }
                        Some(u) => {
                            pending += 1;
                            if error.is_none() {
                                error = u.error;
                                code = u.error_code;
                            }
                        }
                        None => pending += 1,
                    }
                }
            }
            sources.push(SourceStatus {
                name: s.name.clone(),
                path: s.path.clone(),
                added_at: s.added_at.clone(),
                keep_last: s.keep_last,
                keep_days: s.keep_days,
                last_verified,
                restore_points: points.len(),
                last_backup: points.into_iter().next(),
                uploads_pending: pending,
                upload_error: error,
                upload_error_code: code,
            });
        }
        let (state, summary) = overall_state(&sources, &runs, dest_problem.as_deref());
        Ok(StatusReport {
            home: self.home().to_path_buf(),
            schedule: self.schedule()?,
            state,
            summary,
            destination: dest_key,
            sources,
            last_runs: runs.into_iter().take(10).collect(),
        })
    }
}

/// The one state that sums up the sources: the latest run of each source,
/// and the uploads still waiting.
fn overall_state(
    sources: &[SourceStatus],
    runs: &[RunRecord],
    destination_problem: Option<&str>,
) -> (State, String) {
    let failed = sources
        .iter()
        .filter_map(|s| runs.iter().find(|r| r.source == s.name))
        .find(|r| r.outcome == "failed");
    if let Some(r) = failed {
        let why = r.error.as_deref().unwrap_or("unknown error");
        return (
            State::NeedsAttention,
            format!(
                "needs attention: the last backup of '{}' failed: {why}",
                r.source
            ),
        );
    }
    if let Some(problem) = destination_problem {
        return (
            State::NeedsAttention,
            format!(
                "needs attention: copies are safe locally but the destination cannot be used: {problem}"
            ),
        );
    }
    if let Some(s) = sources.iter().find(|s| s.uploads_pending > 0) {
        let why = s
            .upload_error
            .clone()
            .unwrap_or_else(|| "not uploaded yet".into());
        let waiting = matches!(
            s.upload_error_code.as_deref(),
            None | Some("offline" | "throttled")
        );
        let (state, prefix) = if waiting {
            (
                State::Waiting,
                "waiting: copies are safe locally and will be uploaded",
            )
        } else {
            (
                State::NeedsAttention,
                "needs attention: copies are safe locally but cannot be uploaded",
            )
        };
        return (
            state,
            format!("{prefix} ({} of '{}'): {why}", s.uploads_pending, s.name),
        );
    }
    if sources.iter().all(|s| s.last_backup.is_none()) {
        return (
            State::NotStarted,
            "nothing backed up yet. Run `nuage backup`.".into(),
        );
    }
    (State::UpToDate, "up to date".into())
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn remove_db_files(db: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

pub mod restore;
pub mod retention;
