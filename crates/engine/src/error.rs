//! The engine's typed errors. Every message says what happened and what the
//! user can do about it; binaries add context with `anyhow`, the desktop app
//! maps [`Error::code`] to its `{code, message}` shape.

use std::path::PathBuf;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("source '{name}': {problem}")]
    Source {
        name: String,
        problem: SourceProblem,
    },

    #[error("{0}")]
    InvalidBackup(InvalidBackup),

    #[error("no source named '{0}'. Run `nuage source list` to see the registered sources.")]
    UnknownSource(String),

    #[error("a source named '{0}' already exists. Choose another name.")]
    SourceExists(String),

    #[error("no restore point or backup file '{0}'. Run `nuage list` to see restore points.")]
    UnknownRestorePoint(String),

    #[error("'{0}' matches several restore points; give more of the id.")]
    AmbiguousRestorePoint(String),

    #[error(
        "{} already exists; Nuage will not overwrite it. Choose another path or pass --force.",
        .0.display()
    )]
    TargetExists(PathBuf),

    #[error(
        "another Nuage process is backing up or restoring in {} right now{}. Wait for it to finish and try again.",
        .home.display(),
        .holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    Busy {
        home: PathBuf,
        holder: Option<String>,
    },

    #[error(
        "not enough disk space while writing {}. Free some space (or choose another location) and try again.",
        .path.display()
    )]
    DiskFull { path: PathBuf },

    #[error("could not {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("the local backup copy {} is damaged ({detail}). Restore from another restore point.", .path.display())]
    CorruptCopy { path: PathBuf, detail: String },

    #[error("Nuage's state database {}: {source}", .path.display())]
    State {
        path: PathBuf,
        source: rusqlite::Error,
    },

    #[error("{0}")]
    Invalid(String),

    #[error("restoring into {}: {detail}", .path.display())]
    RestoreFailed { path: PathBuf, detail: String },

    /// A destination could not be used; `code` is one of the closed set the
    /// UI branches on (`offline`, `throttled`, `sign_in_required`,
    /// `destination_full`, `destination_unavailable`).
    #[error("{message}")]
    Destination { code: &'static str, message: String },
}

/// Why a source could not be snapshotted.
#[derive(Debug, thiserror::Error)]
pub enum SourceProblem {
    #[error("the database file {} does not exist. Check the path, or remove the source with `nuage source remove`.", .0.display())]
    Missing(PathBuf),
    #[error("permission denied reading {}. Give this user read access to the file and its folder.", .0.display())]
    PermissionDenied(PathBuf),
    #[error("{} is not a SQLite database. Check that the source points at the application's database file.", .0.display())]
    NotADatabase(PathBuf),
    #[error("{} is corrupt ({}). Run `sqlite3 <file> \"PRAGMA integrity_check\"` and repair it; earlier restore points are kept.", .0.display(), .1)]
    Corrupt(PathBuf, String),
    #[error("{} stayed locked by another program for {} ms. Nuage will try again at the next run; if it persists, check which program holds the lock.", .0.display(), .1)]
    Locked(PathBuf, u64),
    #[error("table {table}: {detail}")]
    Unsupported { table: String, detail: String },
    #[error("{}: {}", .0.display(), .1)]
    Other(PathBuf, String),
}

/// Why a backup file was refused. Nothing has been touched when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum InvalidBackup {
    #[error("{0}: this is not a Nuage backup ({1}).")]
    NotABackup(String, String),
    #[error(
        "{0}: backup format version {1} is not supported by this Nuage (it reads version {2}). Update Nuage to restore it."
    )]
    UnsupportedVersion(String, u64, u64),
    #[error(
        "{0}: the file is truncated or corrupt ({1}). Use another restore point or another copy of the file."
    )]
    Corrupt(String, String),
    #[error(
        "{0}: checksum mismatch — the file changed since it was written. Use another restore point."
    )]
    Checksum(String),
    #[error(
        "{0}: refused schema statement for {1} '{2}': {3}. Only CREATE TABLE/INDEX/VIEW/TRIGGER and known virtual tables are accepted from a backup file."
    )]
    RefusedSchema(String, String, String, String),
    #[error("{0}: the data does not match the schema ({1}).")]
    SchemaMismatch(String, String),
    #[error(
        "{0}: decompressed data exceeds the safety limit ({1}); the file looks like a decompression bomb."
    )]
    TooLarge(String, String),
}

impl Error {
    /// A short stable code for scripts and the desktop UI.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Source { .. } => "source_unavailable",
            Error::InvalidBackup(_) | Error::CorruptCopy { .. } => "invalid_backup",
            Error::UnknownSource(_)
            | Error::UnknownRestorePoint(_)
            | Error::AmbiguousRestorePoint(_) => "not_found",
            Error::SourceExists(_) | Error::TargetExists(_) | Error::Invalid(_) => "invalid_input",
            Error::Busy { .. } => "busy",
            Error::DiskFull { .. } => "disk_full",
            Error::Io { .. } | Error::State { .. } | Error::RestoreFailed { .. } => "io",
            Error::Destination { code, .. } => code,
        }
    }

    /// Wraps an I/O error, recognising a full disk (or a file size limit) so
    /// the message says so.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        let path = path.into();
        if is_disk_full(&source) {
            Error::DiskFull { path }
        } else {
            Error::Io {
                action,
                path,
                source,
            }
        }
    }
}

pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG)
    ) || matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::FileTooLarge
    )
}
