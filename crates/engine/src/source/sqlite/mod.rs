//! SQLite database files: the first [`Source`] kind.
//!
//! - `snapshot.rs` — consistent snapshots of a live database (WAL read
//!   transaction, or a page copy in rollback mode), streamed into the
//!   document writer; owns the locking strategy.
//! - `load.rs` — the document reader for this kind: a streaming `serde`
//!   visitor that builds a fresh database while it validates.
//! - `schema.rs` — schema statements from an untrusted document pass a
//!   lexical check and SQLite's authorizer.
//! - `place.rs` — putting a built database over a live one (online backup
//!   API), raw copies of unreadable files.
//! - `fingerprint.rs` — cheap change detection.

mod collation;
mod fingerprint;
pub(crate) mod load;
mod place;
mod schema;
pub(crate) mod snapshot;
mod sql;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Config;
use crate::document::Document;

use crate::error::{Error, Result, SourceProblem};
use crate::fsutil;
use crate::source::{
    Placement, RestoreProgressFn, Restored, SnapshotStats, Source, SourceCheck, SourceKind,
    StagedRestore, TableProgress, suggested_name,
};

/// A SQLite database file.
pub struct SqliteSource {
    name: String,
    path: PathBuf,
    /// How long to wait for another program's lock before giving up.
    busy: Duration,
}

impl SqliteSource {
    pub fn new(name: &str, path: &Path, config: &Config) -> SqliteSource {
        SqliteSource {
            name: name.to_string(),
            path: path.to_path_buf(),
            busy: config.busy_timeout,
        }
    }
}

impl Source for SqliteSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Sqlite
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn location(&self) -> &Path {
        &self.path
    }

    fn check(&self) -> Result<SourceCheck> {
        let (tables, journal_mode) = snapshot::inspect(&self.name, &self.path, self.busy)?;
        let size_bytes = std::fs::metadata(&self.path)
            .map_err(|e| snapshot::source_io_error(&self.name, &self.path, e))?
            .len();
        Ok(SourceCheck {
            kind: SourceKind::Sqlite,
            path: self.path.clone(),
            suggested_name: suggested_name(&self.path),
            tables,
            size_bytes,
            journal_mode,
            postgresql: None,
            folder: None,
        })
    }

    fn fingerprint(&self) -> Result<String> {
        fingerprint::fingerprint(&self.path)
            .map_err(|e| snapshot::source_io_error(&self.name, &self.path, e))
    }

    fn snapshot(
        &self,
        created_at: &str,
        work_dir: &Path,
        label: &Path,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(TableProgress<'_>),
    ) -> Result<SnapshotStats> {
        let (_, stats) = snapshot::snapshot(
            &self.name, &self.path, self.busy, label, work_dir, created_at, out, progress,
        )?;
        Ok(stats)
    }

    fn stage_restore(
        &self,
        document: Document,
        label: &str,
        placement: Placement,
        work_dir: &Path,
        progress: RestoreProgressFn<'_>,
        _content: &mut dyn super::ContentStore,
    ) -> Result<Box<dyn StagedRestore>> {
        let target = self.path.clone();
        if let Placement::New { force } = placement {
            if target.exists() && !force {
                return Err(Error::TargetExists(target));
            }
            fsutil::ensure_parent(&target)?;
            for suffix in ["-wal", "-journal"] {
                let side = PathBuf::from(format!("{}{suffix}", target.display()));
                if side.exists() {
                    return Err(Error::RestoreFailed {
                        path: target.clone(),
                        detail: format!(
                            "{} exists, so a program may be using this database. Close it, or register the file as a source and restore it in place.",
                            side.display()
                        ),
                    });
                }
            }
            place::refuse_if_open(&target)?;
        }
        // The new database is built beside the target (same file system,
        // so placing it is a link) or, in place and for a preview, in the
        // private work folder.
        let built = match placement {
            Placement::New { .. } => fsutil::temp_sibling(&target, "restore"),
            Placement::InPlace | Placement::Scratch => {
                fsutil::create_private_dir(work_dir)?;
                fsutil::temp_sibling(&work_dir.join("restore.db"), "restore")
            }
        };
        // Recorded before it exists: a signal or a crash never leaves it.
        let recorded = crate::temporaries::record(&built);
        // User-only from the first byte (SQLite would create it with the
        // process's umask, world-readable while rows stream in).
        fsutil::create_private_file(&built)?;
        let built = BuiltDb(built, recorded);
        let loaded = load::load(document, label, &built.0, &target, progress)?;
        Ok(Box::new(StagedSqlite {
            restored: Restored {
                created_at: loaded.created_at.clone(),
                source: loaded.source.name.clone(),
                tables: loaded.tables.clone(),
                rows: loaded.rows,
                not_restored: Vec::new(),
            },
            wal: loaded.sqlite.journal_mode == "wal",
            built,
            target,
            placement,
            busy: self.busy,
        }))
    }

    fn is_unreadable(&self, e: &Error) -> bool {
        matches!(
            e,
            Error::Source {
                problem: SourceProblem::Corrupt(..) | SourceProblem::NotADatabase(_),
                ..
            }
        )
    }

    fn raw_copy(&self, dest: &Path) -> Result<()> {
        place::raw_copy(&self.path, dest)
    }
}

/// A database file being built; removed (with its side files) on drop.
struct BuiltDb(PathBuf, #[allow(dead_code)] crate::temporaries::Recorded);

impl Drop for BuiltDb {
    fn drop(&mut self) {
        remove_db_files(&self.0);
    }
}

struct StagedSqlite {
    restored: Restored,
    wal: bool,
    built: BuiltDb,
    target: PathBuf,
    placement: Placement,
    busy: Duration,
}

impl StagedRestore for StagedSqlite {
    fn restored(&self) -> &Restored {
        &self.restored
    }

    fn commit(self: Box<Self>) -> Result<Vec<String>> {
        (*self).place().map(|()| Vec::new())
    }
}

impl StagedSqlite {
    fn place(self) -> Result<()> {
        let (tmp, to) = (&self.built.0, &self.target);
        let fail = |e: rusqlite::Error| Error::RestoreFailed {
            path: to.clone(),
            detail: e.to_string(),
        };
        match self.placement {
            Placement::Scratch => Ok(()),
            Placement::InPlace => place::copy_into(tmp, to, self.busy),
            Placement::New { force } => {
                // Checked again now that the load is done: a program may
                // have opened the target meanwhile.
                if force {
                    place::refuse_if_open(to)?;
                }
                if self.wal {
                    let c = rusqlite::Connection::open(tmp).map_err(fail)?;
                    c.execute_batch("PRAGMA journal_mode = WAL").map_err(fail)?;
                }
                let f = std::fs::File::open(tmp).map_err(|e| Error::io("open", tmp, e))?;
                f.sync_all().map_err(|e| Error::io("write", tmp, e))?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(
                    tmp,
                    std::fs::Permissions::from_mode(fsutil::PRIVATE_FILE_MODE),
                )
                .map_err(|e| Error::io("set permissions of", tmp, e))?;
                if force {
                    std::fs::rename(tmp, to).map_err(|e| Error::io("move into place", to, e))?;
                } else {
                    match std::fs::hard_link(tmp, to) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            return Err(Error::TargetExists(to.clone()));
                        }
                        Err(e) => return Err(Error::io("move into place", to, e)),
                    }
                }
                fsutil::sync_parent(to)
            }
        }
    }
}

/// Removes a database file and the side files SQLite may have made.
pub(crate) fn remove_db_files(db: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
