//! The home folder: state database, local copies, private work folder, lock.
//!
//! ```text
//! <home>/state.sqlite             sources, restore points, runs, settings
//! <home>/backups/<source>/<id>.json.zst
//! <home>/tmp/                     page copies and restores being built
//! <home>/temporaries/             a record of every temporary file, wherever it is
//! <home>/safety/                  raw copies of databases that could not be snapshotted before a restore
//! <home>/lock                     held by the process that backs up or restores
//! ```
//! Everything is created user-only (0700 folders, 0600 files).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Error, ErrorCode, Result};
use crate::fsutil::{PRIVATE_FILE_MODE, create_private_dir};
use crate::source::SourceKind;

pub(crate) mod alerts;
pub(crate) mod retention;

/// Each step brings the state database from version i to i + 1.
const MIGRATIONS: &[&str] = &[
    SCHEMA,
    UPLOADS,
    RUN_CODES,
    MOVES,
    COPY_CHECKS,
    OPTIONS,
    alerts::ALERTS,
    DRILLS,
    DIGESTS,
];

/// Version 9: the content digest of a database's restore point (what its
/// tables hold), which a restore drill compares with the restored copy.
const DIGESTS: &str = "ALTER TABLE restore_points ADD COLUMN content_digest TEXT;";

/// Version 8: restore drills, one row per point, place and drill: when a
/// copy was proven restorable (or failed), from where, and what was found.
const DRILLS: &str = "
CREATE TABLE drills(
    id INTEGER PRIMARY KEY,
    point_id TEXT NOT NULL,
    place TEXT NOT NULL,
    at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    detail TEXT
);
CREATE INDEX drills_point ON drills(point_id, at);
";

/// Version 6: how a source is opened besides its location (a folder's
/// include and exclude patterns), as JSON.
const OPTIONS: &str = "ALTER TABLE sources ADD COLUMN options TEXT;";

/// Version 5: the last time each local copy was hashed, and the file's
/// size and modification time then: a listing re-hashes only a copy whose
/// file changed since (an edited or replaced copy is never shown as good).
const COPY_CHECKS: &str = "
CREATE TABLE copy_checks(
    point_id TEXT PRIMARY KEY,
    size_bytes INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    checked_at TEXT NOT NULL
);
";

/// Version 4: renamed sources whose copies still have to follow them, in
/// the local store and at the destination. A row is written in the same
/// transaction as the rename, so a crash at any moment leaves the move to
/// be finished by the next run. Only copies made before `renamed_at` move:
/// a new source given the old name keeps its own.
const MOVES: &str = "
CREATE TABLE moves(
    id INTEGER PRIMARY KEY,
    from_folder TEXT NOT NULL,
    to_folder TEXT NOT NULL,
    renamed_at TEXT NOT NULL,
    local_done INTEGER NOT NULL DEFAULT 0,
    remote_done INTEGER NOT NULL DEFAULT 0
);
";

/// Version 3: the error code of a failed run, so the desktop app can offer
/// the action that fixes it.
const RUN_CODES: &str = "ALTER TABLE runs ADD COLUMN error_code TEXT;";

/// Version 2: the QuickXorHash of each local copy, and the upload state of
/// each restore point at the configured destination.
const UPLOADS: &str = "
ALTER TABLE restore_points ADD COLUMN quickxor TEXT;
CREATE TABLE uploads(
    point_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    state TEXT NOT NULL,
    size_bytes INTEGER,
    session TEXT,
    error TEXT,
    error_code TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (point_id, destination)
);
";

const SCHEMA: &str = "
CREATE TABLE sources(
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    keep_last INTEGER,
    keep_days INTEGER,
    added_at TEXT NOT NULL
);
CREATE TABLE restore_points(
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    file TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    checksum TEXT NOT NULL,
    tables INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    source_path TEXT NOT NULL
);
CREATE INDEX restore_points_by_source ON restore_points(source, created_at);
CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs(
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    restore_point TEXT,
    bytes INTEGER,
    error TEXT
);
";

/// The current time as the state database records it (RFC 3339, ms, UTC).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A registered source, as the state database keeps it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct SourceRecord {
    pub name: String,
    pub kind: SourceKind,
    pub path: PathBuf,
    pub keep_last: Option<u32>,
    pub keep_days: Option<u32>,
    pub added_at: String,
    /// A folder's include and exclude patterns.
    pub options: crate::source::SourceOptions,
}

impl SourceRecord {
    /// The source itself, ready to be checked, snapshotted or restored.
    pub fn open(
        &self,
        home: &Path,
        config: &crate::config::Config,
    ) -> Box<dyn crate::source::Source> {
        crate::source::open(
            self.kind,
            &self.name,
            &self.path,
            &self.options,
            home,
            config,
        )
    }
}

/// What happened to one source in a backup run.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    BackedUp,
    Unchanged,
    Failed,
}

/// Where a restore point's upload to one destination stands.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Not there yet, or not checked yet: the next run uploads it.
    Pending,
    /// There, with the size and hash of the local copy.
    Verified,
    /// Deleted from the destination by retention (kept as the record).
    Removed,
}

/// The one mapping of these enums to the state database's text columns.
macro_rules! text_column {
    ($ty:ty { $($variant:path => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($variant => $text),+ }
            }
        }
        impl rusqlite::types::ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }
        impl rusqlite::types::FromSql for $ty {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                match v.as_str()? {
                    $($text => Ok($variant),)+
                    other => Err(rusqlite::types::FromSqlError::Other(
                        format!("unknown {} '{other}'", stringify!($ty)).into(),
                    )),
                }
            }
        }
    };
}
text_column!(RunOutcome { RunOutcome::BackedUp => "backed_up", RunOutcome::Unchanged => "unchanged", RunOutcome::Failed => "failed" });
text_column!(UploadState { UploadState::Pending => "pending", UploadState::Verified => "verified", UploadState::Removed => "removed" });

impl rusqlite::types::ToSql for SourceKind {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}
impl rusqlite::types::FromSql for SourceKind {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let s = v.as_str()?;
        SourceKind::parse(s).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("unknown source kind '{s}'").into())
        })
    }
}

/// A local copy that can be restored.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct RestorePoint {
    pub id: String,
    pub source: String,
    pub created_at: String,
    pub size_bytes: u64,
    pub tables: u64,
    pub rows: u64,
    pub checksum: String,
    /// QuickXorHash of the local copy (restore points made before version 2
    /// of the state database have none).
    #[serde(skip)]
    pub quickxor: Option<String>,
    /// A database's content digest ([`crate::document::digest`]); none
    /// for a folder, or a point made before version 9 of the state
    /// database.
    #[serde(skip)]
    pub content_digest: Option<String>,
    /// Where copies of this restore point exist.
    pub location: Location,
    /// The upload state at the configured destination, if any.
    pub upload: Option<UploadState>,
    #[serde(skip)]
    pub file: PathBuf,
    #[serde(skip)]
    pub fingerprint: String,
    pub source_path: PathBuf,
    /// A folder source's point: what changed since the previous point
    /// (known when both manifests are here).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub changes: Option<FolderChanges>,
    /// The last time this point was proven restorable by a drill, and
    /// from where.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub proven: Option<Proof>,
    /// A folder source's point with no destination: how many of its files
    /// have no copy left on this machine (earlier versions beyond the
    /// local copy's cap); such a point cannot be restored whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub missing_files: Option<u64>,
}

/// A drill that proved a restore point restorable.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct Proof {
    pub at: String,
    /// `local` (the local copy) or `destination`.
    pub place: String,
}

/// A drill as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillRecord {
    pub point_id: String,
    pub place: String,
    pub at: String,
    pub ok: bool,
    pub detail: Option<String>,
}

/// What changed in a folder between two restore points.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct FolderChanges {
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
    /// Renamed or moved (same contents, another path).
    pub moved: u64,
}

/// Where the copies of a restore point are.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// Only in the local store.
    Local,
    /// Only at the destination (its local copy is gone, or another machine made it).
    Remote,
    /// Locally and, verified, at the destination.
    Both,
    /// Recorded here, but its local copy is gone or damaged and no verified
    /// copy is at the destination: it cannot be restored.
    Missing,
}

/// Upload state (`pending`, `verified`) by restore point id.
pub type UploadStates = std::collections::HashMap<String, UploadState>;

/// One restore point's upload at one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub state: UploadState,
    pub session: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<ErrorCode>,
    pub attempts: u32,
}

/// One recorded run of one source.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct RunRecord {
    pub source: String,
    pub started_at: String,
    pub finished_at: String,
    pub outcome: RunOutcome,
    pub restore_point: Option<String>,
    pub bytes: Option<u64>,
    pub error: Option<String>,
    pub error_code: Option<ErrorCode>,
}

/// The copies of a renamed source that still have to follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub id: i64,
    pub from: String,
    pub to: String,
    /// Only copies made before this time belong to the renamed source.
    pub renamed_at: String,
}

pub struct Store {
    home: PathBuf,
    db: Connection,
}

fn state_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::State {
        path: path.to_path_buf(),
        cause: e,
    }
}

impl Store {
    pub fn open(home: &Path) -> Result<Store> {
        create_private_dir(home)?;
        let path = home.join("state.sqlite");
        if !path.exists() {
            // Create it user-only before SQLite writes anything into it.
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(PRIVATE_FILE_MODE)
                .open(&path)
                .map_err(|e| Error::io("create", &path, e))?;
        }
        let db = Connection::open(&path).map_err(state_err(&path))?;
        db.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(state_err(&path))?;
        db.execute_batch(
            // secure_delete: what is deleted or replaced (an upload URL) is
            // overwritten, not left in free pages.
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;",
        )
        .map_err(state_err(&path))?;
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(state_err(&path))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(Error::Invalid(format!(
                "{} was written by a newer Nuage (state version {version}). Update Nuage.",
                path.display()
            )));
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let to = i as i64 + 1;
            // Another process may migrate at the same moment: re-check inside
            // the write transaction.
            db.execute_batch("BEGIN IMMEDIATE")
                .map_err(state_err(&path))?;
            let now: i64 = db
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(state_err(&path))?;
            let r = if now < to {
                db.execute_batch(&format!("{step} PRAGMA user_version = {to}; COMMIT;"))
            } else {
                db.execute_batch("COMMIT")
            };
            if let Err(e) = r {
                let _ = db.execute_batch("ROLLBACK");
                return Err(state_err(&path)(e));
            }
        }
        Ok(Store {
            home: home.to_path_buf(),
            db,
        })
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn work_dir(&self) -> PathBuf {
        self.home.join("tmp")
    }

    pub fn backups_dir(&self, source: &str) -> PathBuf {
        self.home.join("backups").join(source)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        let path = self.home.join("state.sqlite");
        move |e| Error::State {
            path: path.clone(),
            cause: e,
        }
    }

    pub fn add_source(&self, s: &SourceRecord) -> Result<()> {
        let r = self.db.execute(
            "INSERT INTO sources(name, kind, path, keep_last, keep_days, added_at, options) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                s.name,
                s.kind,
                s.path.to_string_lossy(),
                s.keep_last,
                s.keep_days,
                s.added_at,
                (!s.options.is_empty()).then(|| serde_json::to_string(&s.options).expect("serializable"))
            ],
        );
        match r {
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::SourceExists(s.name.clone()))
            }
            r => r.map(|_| ()).map_err(self.err()),
        }
    }

    pub fn sources(&self) -> Result<Vec<SourceRecord>> {
        let mut stmt = self
            .db
            .prepare("SELECT name, kind, path, keep_last, keep_days, added_at, options FROM sources ORDER BY name")
            .map_err(self.err())?;
        stmt.query_map([], |r| {
            Ok(SourceRecord {
                name: r.get(0)?,
                kind: r.get(1)?,
                path: PathBuf::from(r.get::<_, String>(2)?),
                keep_last: r.get(3)?,
                keep_days: r.get(4)?,
                added_at: r.get(5)?,
                options: r
                    .get::<_, Option<String>>(6)?
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default(),
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.err())
    }

    pub fn source(&self, name: &str) -> Result<SourceRecord> {
        self.sources()?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::UnknownSource(name.to_string()))
    }

    pub fn remove_source(&self, name: &str) -> Result<()> {
        let n = self
            .db
            .execute("DELETE FROM sources WHERE name = ?1", [name])
            .map_err(self.err())?;
        if n == 0 {
            Err(Error::UnknownSource(name.to_string()))
        } else {
            Ok(())
        }
    }

    /// Renames a source and everything recorded under its name, in one
    /// transaction: the source, its restore points (their local files are
    /// moved afterwards by [`Store::finish_local_moves`]) and its runs; an
    /// upload in progress starts again (its session targets the old
    /// folder); a pending move is recorded for the copies at the
    /// destination (done at the next run that has one).
    pub fn rename_source(&self, old: &str, new: &str) -> Result<SourceRecord> {
        let err = self.err();
        let tx = self.db.unchecked_transaction().map_err(&err)?;
        // OneDrive folder names ignore case: "Shop" would share "shop"'s folder.
        let taken: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sources WHERE name = ?1 COLLATE NOCASE AND name <> ?2)",
                [new, old],
                |r| r.get(0),
            )
            .map_err(&err)?;
        if taken {
            return Err(Error::SourceExists(new.to_string()));
        }
        let n = tx
            .execute(
                "UPDATE sources SET name = ?2 WHERE name = ?1",
                params![old, new],
            )
            .map_err(&err)?;
        if n == 0 {
            return Err(Error::UnknownSource(old.to_string()));
        }
        let (from_dir, to_dir) = (format!("backups/{old}/"), format!("backups/{new}/"));
        tx.execute(
            "UPDATE restore_points SET source = ?2, \
             file = CASE WHEN substr(file, 1, length(?3)) = ?3 THEN ?4 || substr(file, length(?3) + 1) ELSE file END \
             WHERE source = ?1",
            params![old, new, from_dir, to_dir],
        )
        .map_err(&err)?;
        tx.execute(
            "UPDATE uploads SET session = NULL \
             WHERE session IS NOT NULL AND point_id IN (SELECT id FROM restore_points WHERE source = ?1)",
            [new],
        )
        .map_err(&err)?;
        tx.execute(
            "UPDATE runs SET source = ?2 WHERE source = ?1",
            params![old, new],
        )
        .map_err(&err)?;
        tx.execute(
            "INSERT INTO moves(from_folder, to_folder, renamed_at, local_done, remote_done) VALUES (?1, ?2, ?3, 0, 0)",
            params![old, new, now()],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        self.source(new)
    }

    /// Every file in the local store's source folders (`backups/*/*`),
    /// by name, with its path.
    fn stored_files(&self) -> Vec<(std::ffi::OsString, PathBuf)> {
        let Ok(dirs) = std::fs::read_dir(self.home.join("backups")) else {
            return Vec::new();
        };
        dirs.flatten()
            .filter_map(|d| std::fs::read_dir(d.path()).ok())
            .flat_map(|files| files.flatten())
            .map(|f| (f.file_name(), f.path()))
            .collect()
    }

    /// Puts every recorded local copy found outside its recorded place
    /// back into it, matching by file name (the restore point id): the
    /// copies of renamed sources, after a crash or a chain of renames too.
    /// Called with the home lock held. A copy that cannot be moved stays
    /// where it is, still counted as known (never as an orphan), and the
    /// next run tries again.
    pub fn finish_local_moves(&self) -> Result<()> {
        // Only a rename puts copies out of place: nothing to read otherwise
        // (the sweep runs at the start of every backup).
        let pending = self.moves("local_done = 0")?;
        if pending.is_empty() {
            return Ok(());
        }
        let recorded: std::collections::HashMap<std::ffi::OsString, PathBuf> = self
            .restore_points(None)?
            .into_iter()
            .filter_map(|p| Some((p.file.file_name()?.to_os_string(), p.file)))
            .collect();
        let mut complete = true;
        for (name, path) in self.stored_files() {
            let Some(target) = recorded.get(&name) else {
                continue;
            };
            if *target == path || target.exists() {
                continue;
            }
            let moved = target
                .parent()
                .map_or(Ok(()), create_private_dir)
                .and_then(|()| {
                    std::fs::rename(&path, target).map_err(|e| Error::io("move", &path, e))
                })
                .and_then(|()| crate::fsutil::sync_parent(target))
                .and_then(|()| crate::fsutil::sync_parent(&path));
            if let Err(e) = moved {
                complete = false;
                tracing::warn!(file = %path.display(), error = %e, "a renamed source's copy stays where it is until the next run");
            }
        }
        for m in &pending {
            // Left only if something else is in it.
            let _ = std::fs::remove_dir(self.backups_dir(&m.from));
            // A folder source's kept file versions and hash index follow
            // it too (each move can be repeated).
            if let Err(e) = self.move_folder_state(&m.from, &m.to) {
                complete = false;
                tracing::warn!(from = %m.from, to = %m.to, error = %e, "a renamed folder's kept versions stay where they are until the next run");
            }
        }
        if complete {
            self.db
                .execute("UPDATE moves SET local_done = 1 WHERE local_done = 0", [])
                .map_err(self.err())?;
        }
        self.forget_finished_moves()
    }

    /// Moves what a folder source keeps besides its copies — file
    /// versions kept before an in-place restore (`objects/<name>/`), its
    /// local copy of files (`copies/<name>/`) and its hash index (`index/<name>.json.zst`) — from `from` to `to`.
    fn move_folder_state(&self, from: &str, to: &str) -> Result<()> {
        for area in ["objects", "copies"] {
            self.move_contents(
                &self.home.join(area).join(from),
                &self.home.join(area).join(to),
            )?;
        }
        let index = |n: &str| self.home.join("index").join(format!("{n}.json.zst"));
        if index(from).exists() && !index(to).exists() {
            std::fs::rename(index(from), index(to))
                .map_err(|e| Error::io("move", index(from), e))?;
        }
        Ok(())
    }

    /// Moves the contents (named by their hash) in `old` to `new`.
    fn move_contents(&self, old: &Path, new: &Path) -> Result<()> {
        if let Ok(entries) = std::fs::read_dir(old) {
            create_private_dir(new)?;
            for e in entries.flatten() {
                let target = new.join(e.file_name());
                if target.exists() {
                    // The same contents (named by their hash) are there.
                    let _ = std::fs::remove_file(e.path());
                } else {
                    std::fs::rename(e.path(), &target)
                        .map_err(|err| Error::io("move", e.path(), err))?;
                }
            }
            crate::fsutil::sync_parent(&new.join("x"))?;
            let _ = std::fs::remove_dir(old);
        }
        Ok(())
    }

    /// Renamed sources whose copies at the destination have yet to move, oldest first.
    pub fn pending_remote_moves(&self) -> Result<Vec<Move>> {
        self.moves("remote_done = 0")
    }

    pub fn finish_remote_move(&self, id: i64) -> Result<()> {
        self.db
            .execute("UPDATE moves SET remote_done = 1 WHERE id = ?1", [id])
            .map_err(self.err())?;
        self.forget_finished_moves()
    }

    fn forget_finished_moves(&self) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM moves WHERE local_done = 1 AND remote_done = 1",
                [],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    fn moves(&self, filter: &str) -> Result<Vec<Move>> {
        let mut stmt = self
            .db
            .prepare(&format!(
                "SELECT id, from_folder, to_folder, renamed_at FROM moves WHERE {filter} ORDER BY id"
            ))
            .map_err(self.err())?;
        stmt.query_map([], |r| {
            Ok(Move {
                id: r.get(0)?,
                from: r.get(1)?,
                to: r.get(2)?,
                renamed_at: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.err())
    }

    pub fn set_options(&self, name: &str, options: &crate::source::SourceOptions) -> Result<()> {
        self.source(name)?;
        self.db
            .execute(
                "UPDATE sources SET options = ?2 WHERE name = ?1",
                params![
                    name,
                    (!options.is_empty())
                        .then(|| serde_json::to_string(options).expect("serializable"))
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    pub fn record_drill(&self, d: &DrillRecord) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO drills(point_id, place, at, ok, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![d.point_id, d.place, d.at, d.ok, d.detail],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// The newest drill of each point and place.
    pub fn latest_drills(&self) -> Result<Vec<DrillRecord>> {
        let mut st = self
            .db
            .prepare(
                "SELECT point_id, place, max(at), ok, detail FROM drills GROUP BY point_id, place",
            )
            .map_err(self.err())?;
        st.query_map([], |r| {
            Ok(DrillRecord {
                point_id: r.get(0)?,
                place: r.get(1)?,
                at: r.get(2)?,
                ok: r.get(3)?,
                detail: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.err())
    }

    pub fn set_retention(
        &self,
        name: &str,
        keep_last: Option<u32>,
        keep_days: Option<u32>,
    ) -> Result<()> {
        self.source(name)?;
        if let Some(n) = keep_last {
            self.db
                .execute(
                    "UPDATE sources SET keep_last = ?2 WHERE name = ?1",
                    params![name, n],
                )
                .map_err(self.err())?;
        }
        if let Some(d) = keep_days {
            self.db
                .execute(
                    "UPDATE sources SET keep_days = ?2 WHERE name = ?1",
                    params![name, d],
                )
                .map_err(self.err())?;
        }
        Ok(())
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.db
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err())
    }

    /// Whether scheduled runs are paused (the `paused` setting).
    pub fn paused(&self) -> Result<bool> {
        Ok(self.setting("paused")?.as_deref() == Some("1"))
    }

    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => self.db.execute(
                "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, v],
            ),
            None => self.db.execute("DELETE FROM settings WHERE key = ?1", [key]),
        }
        .map(|_| ())
        .map_err(self.err())
    }

    pub fn add_restore_point(&self, p: &RestorePoint) -> Result<()> {
        let rel = p.file.strip_prefix(&self.home).unwrap_or(&p.file);
        self.db
            .execute(
                "INSERT INTO restore_points(id, source, created_at, file, size_bytes, checksum, tables, rows, fingerprint, source_path, quickxor, content_digest) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    p.id,
                    p.source,
                    p.created_at,
                    rel.to_string_lossy(),
                    p.size_bytes as i64,
                    p.checksum,
                    p.tables as i64,
                    p.rows as i64,
                    p.fingerprint,
                    p.source_path.to_string_lossy(),
                    p.quickxor,
                    p.content_digest
                ],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Restore points, newest first.
    pub fn restore_points(&self, source: Option<&str>) -> Result<Vec<RestorePoint>> {
        let mut stmt = self
            .db
            .prepare(
                "SELECT id, source, created_at, file, size_bytes, checksum, tables, rows, fingerprint, source_path, quickxor, content_digest \
                 FROM restore_points WHERE ?1 IS NULL OR source = ?1 ORDER BY created_at DESC, id DESC",
            )
            .map_err(self.err())?;
        let home = self.home.clone();
        stmt.query_map([source], |r| {
            Ok(RestorePoint {
                id: r.get(0)?,
                source: r.get(1)?,
                created_at: r.get(2)?,
                file: home.join(r.get::<_, String>(3)?),
                size_bytes: r.get::<_, i64>(4)? as u64,
                checksum: r.get(5)?,
                tables: r.get::<_, i64>(6)? as u64,
                rows: r.get::<_, i64>(7)? as u64,
                fingerprint: r.get(8)?,
                source_path: PathBuf::from(r.get::<_, String>(9)?),
                quickxor: r.get(10)?,
                content_digest: r.get(11)?,
                location: Location::Local,
                upload: None,
                changes: None,
                proven: None,
                missing_files: None,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.err())
    }

    pub fn upload(&self, point_id: &str, destination: &str) -> Result<Option<UploadRow>> {
        self.db
            .query_row(
                "SELECT state, session, error, error_code, attempts FROM uploads WHERE point_id = ?1 AND destination = ?2",
                [point_id, destination],
                |r| {
                    Ok(UploadRow {
                        state: r.get(0)?,
                        session: r.get(1)?,
                        error: r.get(2)?,
                        error_code: r.get(3)?,
                        attempts: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    /// Records the state of an upload; a
    /// failure counts an attempt.
    pub fn set_upload(
        &self,
        point_id: &str,
        destination: &str,
        state: UploadState,
        size: Option<u64>,
        error: Option<(ErrorCode, &str)>,
    ) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO uploads(point_id, destination, state, size_bytes, error, error_code, attempts, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(point_id, destination) DO UPDATE SET state = excluded.state,
                    size_bytes = coalesce(excluded.size_bytes, size_bytes), error = excluded.error,
                    error_code = excluded.error_code, attempts = attempts + excluded.attempts,
                    updated_at = excluded.updated_at",
                params![
                    point_id,
                    destination,
                    state,
                    size.map(|s| s as i64),
                    error.map(|e| e.1),
                    error.map(|e| e.0),
                    i64::from(error.is_some()),
                    chrono::Utc::now().to_rfc3339()
                ],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Forgets the record of one upload (a folder source's file, once at
    /// the destination: its manifest records it from then on).
    pub fn forget_upload(&self, point_id: &str, destination: &str) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM uploads WHERE point_id = ?1 AND destination = ?2",
                [point_id, destination],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Persists (or clears) the resumable session of an upload.
    pub fn set_upload_session(
        &self,
        point_id: &str,
        destination: &str,
        session: Option<&str>,
    ) -> Result<()> {
        self.db
            .execute(
                "UPDATE uploads SET session = ?3 WHERE point_id = ?1 AND destination = ?2",
                params![point_id, destination, session],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// The recorded check of a local copy whose file had this size and
    /// modification time: `Some(ok)` if it was hashed in that state.
    pub fn copy_check(&self, point_id: &str, size: u64, mtime_ns: i64) -> Result<Option<bool>> {
        self.db
            .query_row(
                "SELECT ok FROM copy_checks WHERE point_id = ?1 AND size_bytes = ?2 AND mtime_ns = ?3",
                params![point_id, size as i64, mtime_ns],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    /// Records the result of hashing a local copy in that state.
    pub fn set_copy_check(&self, point_id: &str, size: u64, mtime_ns: i64, ok: bool) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO copy_checks(point_id, size_bytes, mtime_ns, ok, checked_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(point_id) DO UPDATE SET size_bytes = excluded.size_bytes,
                    mtime_ns = excluded.mtime_ns, ok = excluded.ok, checked_at = excluded.checked_at",
                params![point_id, size as i64, mtime_ns, ok, chrono::Utc::now().to_rfc3339()],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Forgets every resumable upload session: their URLs are
    /// pre-authenticated (whoever holds one can write there), so they go
    /// with the sign-in. An interrupted upload then starts again.
    pub fn forget_upload_sessions(&self) -> Result<()> {
        self.db
            .execute(
                "UPDATE uploads SET session = NULL WHERE session IS NOT NULL",
                [],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Upload states at `destination`, by restore point id.
    pub fn upload_states(&self, destination: &str) -> Result<UploadStates> {
        let mut stmt = self
            .db
            .prepare("SELECT point_id, state FROM uploads WHERE destination = ?1")
            .map_err(self.err())?;
        stmt.query_map([destination], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(self.err())
    }

    /// Forgets a restore point (its local copy is being deleted). Its
    /// verified uploads stay recorded: they are what the destination holds
    /// of Nuage's, and only what is recorded there is ever deleted there.
    pub fn forget_restore_point(&self, id: &str) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM uploads WHERE point_id = ?1 AND state != 'verified'",
                [id],
            )
            .map_err(self.err())?;
        self.db
            .execute("DELETE FROM restore_points WHERE id = ?1", [id])
            .map(|_| ())
            .map_err(self.err())
    }

    pub fn record_run(&self, r: &RunRecord) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO runs(source, started_at, finished_at, outcome, restore_point, bytes, error, error_code) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![r.source, r.started_at, r.finished_at, r.outcome, r.restore_point, r.bytes.map(|b| b as i64), r.error, r.error_code],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// The most recent runs, newest first.
    /// When the schedule last ran everything: the oldest of each
    /// registered source's newest run start (a run of some sources only —
    /// a folder that changed — does not move the schedule of the others).
    pub fn last_full_run_started(&self) -> Result<Option<String>> {
        self.db
            .query_row(
                "SELECT min(last) FROM (SELECT max(r.started_at) AS last FROM runs r \
                 JOIN sources s ON s.name = r.source GROUP BY r.source)",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    pub fn runs(&self, limit: u32) -> Result<Vec<RunRecord>> {
        let mut stmt = self
            .db
            .prepare("SELECT source, started_at, finished_at, outcome, restore_point, bytes, error, error_code FROM runs ORDER BY id DESC LIMIT ?1")
            .map_err(self.err())?;
        stmt.query_map([limit], |r| {
            Ok(RunRecord {
                source: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                outcome: r.get(3)?,
                restore_point: r.get(4)?,
                bytes: r.get::<_, Option<i64>>(5)?.map(|b| b as u64),
                error: r.get(6)?,
                error_code: r.get(7)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.err())
    }

    /// Removes what a crash may have left: half-written temp files, and
    /// local copies that were renamed into place but never recorded.
    /// Called with the home lock held.
    pub fn sweep(&self) -> Result<()> {
        // The work folder, but for what live processes (a preview, which
        // runs without the lock) are using.
        let live = crate::temporaries::sweep(&crate::temporaries::record_dir(&self.home));
        if let Ok(entries) = std::fs::read_dir(self.work_dir()) {
            for e in entries.flatten() {
                let p = e.path();
                // The temporary itself or one of its SQLite side files.
                let in_use = live
                    .iter()
                    .any(|l| p.to_string_lossy().starts_with(&*l.to_string_lossy()));
                if !in_use {
                    let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir_all(&p));
                }
            }
        }
        // First: a renamed source's files are not orphans.
        self.finish_local_moves()?;
        // Known by name, wherever they are: a copy that could not be moved
        // back into place is never removed.
        let known: std::collections::HashSet<std::ffi::OsString> = self
            .restore_points(None)?
            .into_iter()
            .filter_map(|p| p.file.file_name().map(|n| n.to_os_string()))
            .collect();
        for (file_name, p) in self.stored_files() {
            let name = file_name.to_string_lossy();
            let temp = name.starts_with('.') && name.contains(".nuage-");
            let orphan = name.ends_with(".json.zst") && !known.contains(&file_name);
            if temp || orphan {
                tracing::info!(file = %p.display(), "removing leftover from an interrupted run");
                let _ = std::fs::remove_file(&p);
            }
        }
        Ok(())
    }
}

/// The exclusive lock of a home folder, held while backing up or restoring.
pub struct HomeLock {
    _file: File,
}

impl HomeLock {
    pub fn acquire(home: &Path) -> Result<HomeLock> {
        create_private_dir(home)?;
        let path = home.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(PRIVATE_FILE_MODE)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        match file.try_lock() {
            Ok(()) => {
                let _ = file.set_len(0);
                let _ = write!(file, "pid {}", std::process::id());
                let _ = file.flush();
                Ok(HomeLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                Err(Error::Busy {
                    home: home.to_path_buf(),
                    holder: (!holder.is_empty()).then(|| holder.to_string()),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(store: &Store, name: &str) {
        store
            .add_source(&SourceRecord {
                name: name.into(),
                kind: SourceKind::Sqlite,
                path: format!("/data/{name}.db").into(),
                keep_last: None,
                keep_days: None,
                added_at: "2026-11-21T05:00:00.000Z".into(),
                options: Default::default(),
            })
            .unwrap();
    }

    fn point(store: &Store, source: &str, id: &str) -> RestorePoint {
        let file = store.backups_dir(source).join(format!("{id}.json.zst"));
        create_private_dir(file.parent().unwrap()).unwrap();
        std::fs::write(&file, id).unwrap();
        let p = RestorePoint {
            id: id.into(),
            source: source.into(),
            created_at: "2026-11-21T05:40:41.123Z".into(),
            size_bytes: id.len() as u64,
            tables: 1,
            rows: 1,
            checksum: String::new(),
            quickxor: None,
            location: Location::Local,
            upload: None,
            file,
            fingerprint: String::new(),
            source_path: PathBuf::from("/data/shop.db"),
            changes: None,
            proven: None,
            content_digest: None,
            missing_files: None,
        };
        store.add_restore_point(&p).unwrap();
        p
    }

    /// An upload of `id` to "OneDrive" in progress, with its session URL.
    fn upload_in_progress(store: &Store, id: &str, session: &str) {
        store
            .set_upload(id, "OneDrive", UploadState::Pending, None, None)
            .unwrap();
        store
            .set_upload_session(id, "OneDrive", Some(session))
            .unwrap();
    }

    #[test]
    fn upload_session_urls_are_forgotten_with_the_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        add(&store, "shop");
        let b = point(&store, "shop", "20261121-054042123-00bb");
        upload_in_progress(&store, &b.id, r#"{"url":"https://x/up?tempauth=secret"}"#);
        store.forget_upload_sessions().unwrap();
        let upload = store.upload(&b.id, "OneDrive").unwrap().unwrap();
        assert_eq!(upload.session, None);
        assert_eq!(
            upload.state,
            UploadState::Pending,
            "the upload itself is still due"
        );
    }

    /// A crash between the rename's commit and the move of its files:
    /// the next run's sweep moves them instead of deleting them as orphans.
    #[test]
    fn a_rename_interrupted_before_its_files_moved_is_finished_by_the_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        add(&store, "shop");
        let a = point(&store, "shop", "20261121-054041123-00aa");
        let b = point(&store, "shop", "20261121-054042123-00bb");
        // An upload session in progress targets the old folder: it must
        // start again, into the new one.
        upload_in_progress(&store, &b.id, r#"{"url":"https://x/up","next_offset":5}"#);
        store.rename_source("shop", "garage").unwrap();
        let upload = store.upload(&b.id, "OneDrive").unwrap().unwrap();
        assert_eq!(upload.session, None);
        assert_eq!(upload.state, UploadState::Pending);
        // The crash: no finish_local_moves. The files are still in the old folder.
        assert!(a.file.exists() && b.file.exists());
        let store = Store::open(dir.path()).unwrap();
        store.sweep().unwrap();
        let points = store.restore_points(Some("garage")).unwrap();
        assert_eq!(points.len(), 2);
        for p in &points {
            assert_eq!(std::fs::read_to_string(&p.file).unwrap(), p.id);
            assert!(p.file.starts_with(dir.path().join("backups/garage")));
        }
        assert!(!dir.path().join("backups/shop").exists());
        let pending = store.moves("1 = 1").unwrap();
        assert!(
            pending.iter().all(|m| m.from == "shop"),
            "only the move at the destination is left: {pending:?}"
        );
        assert_eq!(store.moves("local_done = 0").unwrap(), vec![]);
    }

    /// Renamed again before the first move of the files happened: the
    /// files go straight to the last name; the sweep deletes none of them.
    #[test]
    fn a_chain_of_renames_interrupted_at_every_step_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        add(&store, "a");
        let x = point(&store, "a", "20261121-054041123-00aa");
        store.rename_source("a", "b").unwrap();
        store.rename_source("b", "c").unwrap();
        // A change of case of the same source is allowed.
        store.rename_source("c", "C").unwrap();
        store.rename_source("C", "c").unwrap();
        assert!(x.file.exists(), "nothing moved yet");
        store.sweep().unwrap();
        let p = store.restore_points(Some("c")).unwrap().remove(0);
        assert!(p.file.starts_with(dir.path().join("backups/c")));
        assert_eq!(std::fs::read_to_string(&p.file).unwrap(), p.id);
        assert!(!dir.path().join("backups/a").exists());
    }
}
