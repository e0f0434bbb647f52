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

    #[error("no source named '{0}'. Check the name among the registered sources.")]
    UnknownSource(String),

    #[error(
        "a source named '{0}' already exists (names that differ only in case share one folder at a destination). Choose another name."
    )]
    SourceExists(String),

    #[error(
        "no restore point or backup file '{0}'. Check the id among the restore points, or the path of the file."
    )]
    UnknownRestorePoint(String),

    #[error("'{0}' matches several restore points; give more of the id.")]
    AmbiguousRestorePoint(String),

    #[error(
        "{} already exists; Nuage will not overwrite it. Choose another path, or allow replacing it.",
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

    // The cause is in the message, and deliberately not the error's
    // `source()`: printers of the whole chain would say it twice.
    #[error("could not {action} {}: {cause}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error("the local backup copy {} is damaged ({detail}). Restore from another restore point.", .path.display())]
    CorruptCopy { path: PathBuf, detail: String },

    #[error("Nuage's state database {}: {cause}", .path.display())]
    State {
        path: PathBuf,
        cause: rusqlite::Error,
    },

    #[error("{0}")]
    Invalid(String),

    #[error("restoring into {}: {detail}", .path.display())]
    RestoreFailed { path: PathBuf, detail: String },

    #[error("cancelled: nothing was changed.")]
    Cancelled,

    /// A destination (or the sign-in it needs) could not be used.
    #[error("{message}")]
    Destination { code: ErrorCode, message: String },

    /// An alert could not be sent (the mail server or the webhook refused
    /// or could not be reached); what was refused, and what to do.
    #[error("{0}")]
    Alert(String),
}

/// Every code Nuage reports, for scripts (`--json`), the desktop UI (which
/// branches on them; its TypeScript type is generated from this one) and
/// the state model. Serialised once, by serde, in snake_case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Microsoft needs the person to sign in (again).
    SignInRequired,
    SignInDeclined,
    SignInExpired,
    Cancelled,
    /// The OS keychain is missing, locked or refused access.
    KeychainUnavailable,
    Offline,
    Throttled,
    DestinationFull,
    DestinationUnavailable,
    /// A copy at the destination does not match the local one.
    HashMismatch,
    InvalidBackup,
    SourceUnavailable,
    NotFound,
    InvalidInput,
    /// Another Nuage process holds the home.
    Busy,
    DiskFull,
    Io,
    /// No verified backup of a source for three schedule intervals.
    Stale,
    /// The computer's clock is behind the newest recorded run: it went
    /// back (a laptop waking with a wrong clock, a corrected time).
    ClockChanged,
    /// Nothing to back up yet.
    NoSources,
    /// Copies stay on this computer: no destination chosen.
    NoDestination,
    /// An alert (email, webhook) could not be sent.
    AlertFailed,
    /// A copy of a restore point failed its restore drill and could not be
    /// healed from another copy.
    DrillFailed,
    /// No restore point of a source proven restorable for two drill
    /// intervals.
    Unproven,
    /// Anything else.
    Failed,
}

impl ErrorCode {
    /// The stable name (`sign_in_required`, …), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::SignInRequired => "sign_in_required",
            ErrorCode::SignInDeclined => "sign_in_declined",
            ErrorCode::SignInExpired => "sign_in_expired",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::KeychainUnavailable => "keychain_unavailable",
            ErrorCode::Offline => "offline",
            ErrorCode::Throttled => "throttled",
            ErrorCode::DestinationFull => "destination_full",
            ErrorCode::DestinationUnavailable => "destination_unavailable",
            ErrorCode::HashMismatch => "hash_mismatch",
            ErrorCode::InvalidBackup => "invalid_backup",
            ErrorCode::SourceUnavailable => "source_unavailable",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Busy => "busy",
            ErrorCode::DiskFull => "disk_full",
            ErrorCode::Io => "io",
            ErrorCode::Stale => "stale",
            ErrorCode::ClockChanged => "clock_changed",
            ErrorCode::NoSources => "no_sources",
            ErrorCode::NoDestination => "no_destination",
            ErrorCode::AlertFailed => "alert_failed",
            ErrorCode::DrillFailed => "drill_failed",
            ErrorCode::Unproven => "unproven",
            ErrorCode::Failed => "failed",
        }
    }

    pub const ALL: [ErrorCode; 25] = [
        ErrorCode::SignInRequired,
        ErrorCode::SignInDeclined,
        ErrorCode::SignInExpired,
        ErrorCode::Cancelled,
        ErrorCode::KeychainUnavailable,
        ErrorCode::Offline,
        ErrorCode::Throttled,
        ErrorCode::DestinationFull,
        ErrorCode::DestinationUnavailable,
        ErrorCode::HashMismatch,
        ErrorCode::InvalidBackup,
        ErrorCode::SourceUnavailable,
        ErrorCode::NotFound,
        ErrorCode::InvalidInput,
        ErrorCode::Busy,
        ErrorCode::DiskFull,
        ErrorCode::Io,
        ErrorCode::Stale,
        ErrorCode::ClockChanged,
        ErrorCode::NoSources,
        ErrorCode::NoDestination,
        ErrorCode::AlertFailed,
        ErrorCode::DrillFailed,
        ErrorCode::Unproven,
        ErrorCode::Failed,
    ];

    /// The code a stored name stands for; a name this version does not
    /// know (written by a newer one) reads as `failed`.
    pub fn parse(s: &str) -> ErrorCode {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .unwrap_or(ErrorCode::Failed)
    }

    /// Waiting for the network or for Microsoft: nothing for a person to do.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorCode::Offline | ErrorCode::Throttled)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::ToSql for ErrorCode {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for ErrorCode {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        Ok(ErrorCode::parse(v.as_str()?))
    }
}

/// Why a source could not be snapshotted.
#[derive(Debug, thiserror::Error)]
pub enum SourceProblem {
    #[error("the database file {} does not exist. Check the path, or remove the source if its application is gone.", .0.display())]
    Missing(PathBuf),
    #[error("permission denied reading {}. Give this user read access to the file and its folder.", .0.display())]
    PermissionDenied(PathBuf),
    #[error("{} is not a SQLite database. Check that the source points at the application's database file.", .0.display())]
    NotADatabase(PathBuf),
    #[error("{} is corrupt ({}). Repair it with its application (or SQLite's integrity check), or restore an earlier restore point: they are kept.", .0.display(), .1)]
    Corrupt(PathBuf, String),
    #[error("{} stayed locked by another program for {} ms. Nuage will try again at the next run; if it persists, check which program holds the lock.", .0.display(), .1)]
    Locked(PathBuf, u64),
    /// `object` is worded with its kind: "table 'tags'".
    #[error("{object}: {detail}")]
    Unsupported { object: String, detail: String },
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
    #[error(
        "{0}: refused, reading it asks for more than a backup file may ({1}). Backups Nuage writes stay within these limits: use another restore point or another copy of the file."
    )]
    OverLimit(String, String),
}

impl Error {
    /// The stable code for scripts, the desktop UI and the state model.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Source { .. } => ErrorCode::SourceUnavailable,
            Error::InvalidBackup(_) | Error::CorruptCopy { .. } => ErrorCode::InvalidBackup,
            Error::UnknownSource(_)
            | Error::UnknownRestorePoint(_)
            | Error::AmbiguousRestorePoint(_) => ErrorCode::NotFound,
            Error::SourceExists(_) | Error::TargetExists(_) | Error::Invalid(_) => {
                ErrorCode::InvalidInput
            }
            Error::Busy { .. } => ErrorCode::Busy,
            Error::Cancelled => ErrorCode::Cancelled,
            Error::DiskFull { .. } => ErrorCode::DiskFull,
            Error::Io { .. } | Error::State { .. } | Error::RestoreFailed { .. } => ErrorCode::Io,
            Error::Destination { code, .. } => *code,
            Error::Alert(_) => ErrorCode::AlertFailed,
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
                cause: source,
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

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_is_listed_and_reads_back_from_its_name() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), c);
            // The name is serde's: what scripts and the UI see.
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::json!(c.as_str())
            );
        }
        // Every variant serde knows is in ALL (the generated TypeScript
        // union has as many names).
        let ts = <ErrorCode as ts_rs::TS>::inline(&ts_rs::Config::new());
        assert_eq!(ts.matches('"').count() / 2, ErrorCode::ALL.len(), "{ts}");
    }
}
