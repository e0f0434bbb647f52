//! Restores: find what to restore (a restore point, wherever it is kept, or
//! a backup file), validate all of it, then place it — into a new target,
//! or in place after a safety copy of the current contents. Preview and
//! export read the same way.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Serialize;

use crate::document::{self, Cancel};
use crate::error::{Error, InvalidBackup, Result};
use crate::event::Event;
use crate::fsutil::{self, AtomicFile};
use crate::run::Ctx;
use crate::source::{self, Placement, SourceKind, StagedRestore};
use crate::store::{HomeLock, RestorePoint, RunOutcome, SourceRecord};

/// Where a restore reads from.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // made once per restore, never stored in bulk
pub enum BackupRef {
    Point(RestorePoint),
    File(PathBuf),
}

impl BackupRef {
    fn label(&self) -> String {
        match self {
            BackupRef::Point(p) => format!("restore point {}", p.id),
            BackupRef::File(f) => f.display().to_string(),
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct RestoreReport {
    pub target: PathBuf,
    pub source: String,
    /// The kind restored: a folder's `tables` are its files (path and
    /// size), its `rows` their bytes.
    pub kind: SourceKind,
    pub created_at: String,
    pub tables: Vec<(String, u64)>,
    pub rows: u64,
    /// The restore point holding the target's previous contents, when it was replaced.
    pub safety_point: Option<String>,
    /// A raw copy of a previous target that could not be snapshotted.
    pub safety_file: Option<PathBuf>,
    /// Which copy was read.
    pub copy: CopyUsed,
    /// What could not be restored as it was, and why: the rest was.
    pub not_restored: Vec<String>,
}

/// Which copy of a backup a restore read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum CopyUsed {
    /// The local copy, its checksum verified.
    Local,
    /// The local copy was missing or damaged: the verified copy at the
    /// destination was read, and put back as the local copy.
    Repaired,
    /// A point kept only at the destination, downloaded and verified.
    Destination,
    /// A backup file given by path.
    File,
}

/// What a restore would do, found by validating the whole backup into a
/// scratch database that is then deleted: nothing is touched.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Preview {
    pub source: String,
    /// A folder's `tables` are its files (path and size), `rows` their bytes.
    pub kind: SourceKind,
    pub created_at: String,
    pub tables: Vec<(String, u64)>,
    pub rows: u64,
    /// The registered source's database a restore in place would replace.
    pub replaces: Option<PathBuf>,
    /// A restore in place first keeps the current contents as a restore point.
    pub safety_copy: bool,
}

impl Ctx<'_> {
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

    /// The local file holding `r`: the local copy (checksum verified); when
    /// it is missing or damaged, the verified copy at the destination, put
    /// back as the local copy; a verified download of a point kept only at
    /// the destination (removed again when the guard drops); or the given
    /// file.
    fn local_file(&self, r: &BackupRef) -> Result<(PathBuf, Option<TempFile>, CopyUsed)> {
        match r {
            // Found only at the destination (another machine, a lost home).
            BackupRef::Point(p) if p.file.as_os_str().is_empty() => {
                let path = self.download_remote(p)?;
                Ok((path.clone(), Some(TempFile(path)), CopyUsed::Destination))
            }
            BackupRef::Point(p) => {
                let used = if self.ensure_local_copy(p)? {
                    CopyUsed::Repaired
                } else {
                    CopyUsed::Local
                };
                Ok((p.file.clone(), None, used))
            }
            BackupRef::File(f) => Ok((f.clone(), None, CopyUsed::File)),
        }
    }

    /// Checks a restore point's local copy against its recorded checksum.
    pub(crate) fn verify_point(&self, p: &RestorePoint) -> Result<()> {
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

    /// Reads `r`'s document head and opens the source kind it names at
    /// `location`, ready to stage a restore there.
    #[allow(clippy::too_many_arguments)]
    fn stage(
        &self,
        r: &BackupRef,
        location: &Path,
        placement: Placement,
        paths: &[String],
        events: &mut dyn FnMut(Event),
        cancel: &Cancel,
    ) -> Result<(Box<dyn StagedRestore>, CopyUsed, PathBuf, SourceKind)> {
        let (file, _download, used) = self.local_file(r)?;
        // The head names the kind to dispatch on. A document whose head
        // cannot be read (truncated, hostile) goes to the reader of the
        // first kind, which refuses it with the precise reason.
        let (kind, name) = match document::peek_source(&file) {
            Ok(head) => {
                let kind = SourceKind::parse(&head.kind).ok_or_else(|| {
                    Error::InvalidBackup(InvalidBackup::NotABackup(
                        r.label(),
                        format!(
                            "its source kind '{}' is not one this Nuage knows",
                            head.kind
                        ),
                    ))
                })?;
                (kind, head.name)
            }
            Err(_) => (SourceKind::Sqlite, String::new()),
        };
        // A target of another kind than the document (a SQLite backup
        // "into" a connection string) is refused, never made into a path.
        let target_kind = match source::kind_of(&location.to_string_lossy()) {
            // A folder is restored into a folder that may not exist yet.
            SourceKind::Sqlite if kind == SourceKind::Folder => SourceKind::Folder,
            k => k,
        };
        if placement != Placement::Scratch && target_kind != kind {
            let given = match target_kind {
                SourceKind::Sqlite => "file",
                SourceKind::Postgresql => "PostgreSQL",
                SourceKind::Folder => "folder",
            };
            return Err(Error::Invalid(format!(
                "this backup is of a {kind} source; restore it into a {kind} target (a {given} was given)."
            )));
        }
        if !paths.is_empty() && kind != SourceKind::Folder {
            return Err(Error::Invalid(
                "restoring part of a backup (a path) is for folder sources; a database is restored whole.".into(),
            ));
        }
        // A restore point's source by its current name (renamed since,
        // its keychain entry follows the new name).
        let name = match r {
            BackupRef::Point(p) => p.source.clone(),
            BackupRef::File(_) => name,
        };
        let options = source::SourceOptions {
            paths: paths
                .iter()
                .map(|p| p.trim_matches('/').to_string())
                .collect(),
            ..Default::default()
        };
        let target = source::open(kind, &name, location, &options, self.home(), self.config);
        // Where it goes, as people may see it (a connection string typed
        // with its password is shown without).
        let shown = target.location().to_path_buf();
        let input =
            document::Document::open(&file, document::limits::LOAD_TIME_BASE)?.with_cancel(cancel);
        let mut progress = |table: &str, rows: u64| {
            events(Event::RestoreProgress {
                table: table.to_string(),
                rows,
            })
        };
        let mut content = self.content_for(&name);
        let staged = target.stage_restore(
            input,
            &r.label(),
            placement,
            &self.store.work_dir(),
            &mut progress,
            &mut content,
        )?;
        Ok((staged, used, shown, kind))
    }

    /// Validates `r` completely (as a restore would) and says what a restore
    /// would do. Nothing outside Nuage's scratch folder is written.
    pub fn preview(
        &self,
        r: &BackupRef,
        events: &mut dyn FnMut(Event),
        cancel: &Cancel,
    ) -> Result<Preview> {
        let work = self.store.work_dir();
        fsutil::create_private_dir(&work)?;
        let scratch = work.join(format!("preview-{:016x}.db", fastrand::u64(..)));
        let (staged, _, _, kind) =
            self.stage(r, &scratch, Placement::Scratch, &[], events, cancel)?;
        let restored = staged.restored().clone();
        drop(staged);
        let replaces = self.store.source(&restored.source).ok().map(|s| s.path);
        Ok(Preview {
            source: restored.source,
            kind,
            created_at: restored.created_at,
            tables: restored.tables,
            rows: restored.rows,
            safety_copy: replaces.is_some(),
            replaces,
        })
    }

    /// Restores `r` into a new target at `to`. The target appears only
    /// once complete and checked; an existing one is replaced only with
    /// `force`, and never one that a program is using.
    #[allow(clippy::too_many_arguments)]
    pub fn restore_to(
        &self,
        r: &BackupRef,
        to: &Path,
        paths: &[String],
        force: bool,
        events: &mut dyn FnMut(Event),
        cancel: &Cancel,
    ) -> Result<RestoreReport> {
        // Replacing a registered source's database is a restore in place,
        // which keeps a safety copy first; never one without.
        if force && let Some(s) = self.registered_at(to)? {
            return Err(Error::Invalid(format!(
                "{} is the database of source '{}'. Restore it in place instead: its current contents are kept as a restore point first.",
                s.path.display(),
                s.name
            )));
        }
        let (staged, copy, shown, kind) =
            self.stage(r, to, Placement::New { force }, paths, events, cancel)?;
        let restored = staged.restored().clone();
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let not_restored = staged.commit()?;
        // A whole restore the person ran is the best drill there is.
        if paths.is_empty() {
            self.record_restore(r, copy);
        }
        Ok(RestoreReport {
            target: shown,
            source: restored.source,
            kind,
            created_at: restored.created_at,
            tables: restored.tables,
            rows: restored.rows,
            safety_point: None,
            safety_file: None,
            copy,
            not_restored,
        })
    }

    /// The registered source whose database is at `path` (symbolic links
    /// and relative paths resolved).
    fn registered_at(&self, path: &Path) -> Result<Option<SourceRecord>> {
        if source::kind_of(&path.to_string_lossy()) == SourceKind::Postgresql {
            let place = |p: &Path| {
                source::postgres::ConnSpec::parse(&p.to_string_lossy())
                    .ok()
                    .map(|(s, _)| (s.host, s.port, s.dbname))
            };
            let Some(target) = place(path) else {
                return Ok(None);
            };
            return Ok(self.store.sources()?.into_iter().find(|s| {
                s.kind == SourceKind::Postgresql && place(&s.path).as_ref() == Some(&target)
            }));
        }
        let real = |p: &Path| std::fs::canonicalize(p).ok();
        let Some(target) = real(path) else {
            return Ok(None);
        };
        Ok(self
            .store
            .sources()?
            .into_iter()
            .find(|s| real(&s.path).as_deref() == Some(target.as_path())))
    }

    /// The registered source a backup belongs to, for a restore in place.
    pub fn source_of(&self, r: &BackupRef) -> Result<SourceRecord> {
        let name = match r {
            BackupRef::Point(p) => p.source.clone(),
            BackupRef::File(f) => document::peek_source(f)?.name,
        };
        self.store.source(&name).map_err(|_| {
            Error::Invalid(format!(
                "this backup is of source '{name}', which is not registered here. Restore it as a new file instead."
            ))
        })
    }

    /// Restores `r` over its source, in place (an application holding it
    /// open keeps working). Everything is validated and built first; then
    /// the current contents are kept as a restore point (or, when they
    /// cannot be read, as a raw copy); only then is the source replaced.
    pub fn restore_in_place(
        &self,
        r: &BackupRef,
        paths: &[String],
        events: &mut dyn FnMut(Event),
        cancel: &Cancel,
    ) -> Result<RestoreReport> {
        let source = self.source_of(r)?;
        // The untrusted file is read and the new database built before the
        // home is locked: scheduled backups go on meanwhile. (The sweep
        // under the lock spares what this process is building.)
        let (staged, copy, _, kind) =
            self.stage(r, &source.path, Placement::InPlace, paths, events, cancel)?;
        let restored = staged.restored().clone();
        let _lock = HomeLock::acquire(self.home())?;
        self.store.sweep()?;
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let (safety_point, safety_file) = self.safety_copy(&source, events)?;
        // Past this point the source is being replaced: a cancel comes
        // too late, the restore completes.
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let not_restored = staged.commit()?;
        // A whole restore the person ran is the best drill there is.
        if paths.is_empty() {
            self.record_restore(r, copy);
        }
        Ok(RestoreReport {
            target: source.path.clone(),
            source: source.name.clone(),
            kind,
            created_at: restored.created_at,
            tables: restored.tables,
            rows: restored.rows,
            safety_point,
            safety_file,
            copy,
            not_restored,
        })
    }

    fn safety_copy(
        &self,
        s: &SourceRecord,
        events: &mut dyn FnMut(Event),
    ) -> Result<(Option<String>, Option<PathBuf>)> {
        // A database file that is gone has nothing to keep; a database
        // server always has (its safety copy is a snapshot).
        if s.kind != SourceKind::Postgresql && !s.path.exists() {
            return Ok((None, None));
        }
        // The safety copy must exist and verify before the source is
        // touched: a point reused because the source is unchanged is
        // checked (and repaired from the destination, or snapshotted anew
        // when it cannot be).
        // A PostgreSQL database is always snapshotted anew: its
        // statistics counters, which its fingerprint reads, may lag a
        // write by seconds (or be reset), and an old point reused as the
        // safety copy would lose it.
        match self.backup_one(s, events, s.kind != SourceKind::Sqlite) {
            // A fresh snapshot was hashed as it was written.
            Ok(o) if o.status != RunOutcome::Unchanged => Ok((o.id, None)),
            Ok(o) => {
                let reused = match &o.id {
                    Some(id) => self
                        .store
                        .restore_points(Some(&s.name))?
                        .into_iter()
                        .find(|p| &p.id == id),
                    None => None,
                };
                if reused.is_some_and(|p| self.ensure_local_copy(&p).is_ok()) {
                    return Ok((o.id, None));
                }
                let fresh = self.backup_one(s, events, true)?;
                Ok((fresh.id, None))
            }
            Err(e) if s.open(self.home(), self.config).is_unreadable(&e) => {
                let dir = self.home().join("safety");
                fsutil::create_private_dir(&dir)?;
                let dest = dir.join(format!(
                    "{}-{}.db",
                    s.name,
                    Utc::now().format("%Y%m%d-%H%M%S")
                ));
                s.open(self.home(), self.config).raw_copy(&dest)?;
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
        let (copy_of, _download, _) = self.local_file(&BackupRef::Point(point.clone()))?;
        let mut out = AtomicFile::create(file)?;
        let compressed = file.extension().is_some_and(|e| e == "zst");
        let copy = |out: &mut AtomicFile| -> std::io::Result<u64> {
            let f = std::fs::File::open(&copy_of)?;
            if compressed {
                std::io::copy(&mut std::io::BufReader::new(f), out)
            } else {
                let mut dec = zstd::stream::read::Decoder::new(f)?;
                dec.window_log_max(document::ZSTD_WINDOW_LOG_MAX)?;
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
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
