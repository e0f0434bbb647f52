//! Sources: what Nuage backs up. One trait, [`Source`], and one
//! implementation per kind ([`sqlite`], [`postgres`]). A new kind implements the
//! trait, registers itself in [`SourceKind`] and [`open`], and passes the
//! source conformance suite (`crates/engine/tests/sources.rs`), which every
//! kind runs: snapshot while written, skip when unchanged, restore into a
//! new target and in place, refuse a bad document with the target untouched.
//!
//! The engine drives a source through the trait only: the backup run asks
//! for a fingerprint, then a snapshot streamed into the document writer; a
//! restore reads the document head ([`crate::document::peek_source`]),
//! dispatches on `source.kind`, and asks the kind to *stage* the restore
//! (validate and build everything, touching nothing) before it commits.

pub mod folder;
pub mod postgres;
pub(crate) mod sqlite;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::document::Document;
use crate::error::{Error, Result};

/// The kinds of source, as `source.kind` names them in backup documents and
/// in the state database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A SQLite database file.
    Sqlite,
    /// A PostgreSQL database (Supabase, …), by its connection string.
    Postgresql,
    /// A folder of files, kept as themselves.
    Folder,
}

impl SourceKind {
    pub const ALL: [SourceKind; 3] = [
        SourceKind::Sqlite,
        SourceKind::Postgresql,
        SourceKind::Folder,
    ];

    /// The stable name (`sqlite`): documents and the state database use it.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Sqlite => "sqlite",
            SourceKind::Postgresql => "postgresql",
            SourceKind::Folder => "folder",
        }
    }

    /// The kind a document or the state database names; documents written
    /// before kinds existed say `sqlite`.
    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a source holds, found without registering or modifying it (the
/// "add a source" form checks it on the spot).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SourceCheck {
    pub kind: SourceKind,
    pub path: PathBuf,
    pub suggested_name: String,
    pub tables: u64,
    pub size_bytes: u64,
    /// SQLite: the journal mode (`wal`, `delete`, …); empty otherwise.
    pub journal_mode: String,
    /// PostgreSQL: the server, the schemas kept and left out, and what
    /// the kept ones reference outside them.
    pub postgresql: Option<postgres::PgCheck>,
    /// A folder: its links and what is skipped (special files).
    pub folder: Option<folder::FolderCheck>,
}

/// How a source is opened besides its location: a folder's include and
/// exclude patterns (kept with the source), and, for a restore, the
/// relative paths to restore (all when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct SourceOptions {
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    /// A folder: the cap of its local copy in bytes (0: none); unset, 1 GiB
    /// while no destination is configured and none with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub local_copy: Option<u64>,
}

impl SourceOptions {
    pub fn is_empty(&self) -> bool {
        *self == SourceOptions::default()
    }
}

/// Where a restore finds file contents its document names but does not
/// hold (a folder source's manifest): by BLAKE3, from the folder itself,
/// the local store or the destination.
pub trait ContentStore {
    /// Writes the contents `entry` names into the new private file
    /// `dest`, verified against its BLAKE3 and size. `Ok(false)` when no
    /// good copy was found anywhere (`dest` then does not exist).
    fn fetch(&mut self, entry: &folder::manifest::FileEntry, dest: &Path) -> Result<bool>;
}

/// For documents that hold all their data (databases).
pub struct NoContent;

impl ContentStore for NoContent {
    fn fetch(&mut self, _: &folder::manifest::FileEntry, _: &Path) -> Result<bool> {
        Ok(false)
    }
}

/// Counts of what a snapshot wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    pub tables: u64,
    pub rows: u64,
    /// A folder: files still being written, left for a later run.
    pub unsettled: u64,
    /// A database: the content digest of its tables
    /// ([`crate::document::digest`]).
    pub digest: Option<String>,
}

/// Where a snapshot is in its work: a table and the rows read so far.
#[derive(Debug, Clone)]
pub struct TableProgress<'a> {
    pub table: &'a str,
    pub table_rows: u64,
    pub total_rows: u64,
}

/// What a staged restore holds, as its document said and as it was checked.
#[derive(Debug, Clone)]
pub struct Restored {
    pub created_at: String,
    /// The source the document was made from.
    pub source: String,
    pub tables: Vec<(String, u64)>,
    pub rows: u64,
    /// What could not be restored as it was, and why (each named): the
    /// rest is restored.
    pub not_restored: Vec<String>,
}

/// Where a staged restore goes when committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A new target; an existing one is replaced only with `force`, and
    /// never one that a program is using.
    New { force: bool },
    /// Over the source itself, while its application may hold it open.
    InPlace,
    /// Nowhere: validate only (preview). Committing is a no-op.
    Scratch,
}

/// A restore that is built and validated and has touched nothing yet.
/// Dropping it discards it; the target stays as it was.
pub trait StagedRestore {
    fn restored(&self) -> &Restored;
    /// Places the restore over its target. Returns what could not be
    /// restored as it was, and why (found while placing it; the rest is
    /// restored).
    fn commit(self: Box<Self>) -> Result<Vec<String>>;
}

/// Progress callback: (table, rows so far).
pub type RestoreProgressFn<'a> = &'a mut dyn FnMut(&str, u64);

/// One place Nuage backs up, of one kind.
pub trait Source: Send {
    fn kind(&self) -> SourceKind;
    /// The source's name (its folder locally and at the destination).
    fn name(&self) -> &str;
    /// Where the data lives, as people see it (a path; never a secret).
    fn location(&self) -> &Path;
    /// Checks that the source can be backed up, reading nothing more than
    /// needed and modifying nothing.
    fn check(&self) -> Result<SourceCheck>;
    /// A cheap token that changes whenever the data may have: equal
    /// fingerprints let a run skip the source without reading it.
    fn fingerprint(&self) -> Result<String>;
    /// Takes a consistent snapshot while the application keeps running and
    /// streams it as a whole backup document into `out`. `work_dir` is a
    /// private scratch folder; `label` names the output in errors.
    fn snapshot(
        &self,
        created_at: &str,
        work_dir: &Path,
        label: &Path,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(TableProgress<'_>),
    ) -> Result<SnapshotStats>;
    /// Reads `document` (untrusted: everything is validated), builds the
    /// data for `placement` without touching the source, and returns the
    /// staged restore. `label` names the document in errors.
    fn stage_restore(
        &self,
        document: Document,
        label: &str,
        placement: Placement,
        work_dir: &Path,
        progress: RestoreProgressFn<'_>,
        content: &mut dyn ContentStore,
    ) -> Result<Box<dyn StagedRestore>>;
    /// Whether the current contents are unreadable as data (corrupt, not
    /// of this kind): a restore in place then keeps a raw copy instead of a
    /// restore point.
    fn is_unreadable(&self, e: &Error) -> bool;
    /// Whether a snapshot that failed with `e` stopped to let another
    /// session through (see the PostgreSQL source): what it wrote is
    /// discarded and the snapshot taken again.
    fn gave_way(&self, _e: &Error) -> bool {
        false
    }
    /// A raw copy of the current contents into `dest` (see `is_unreadable`).
    fn raw_copy(&self, dest: &Path) -> Result<()>;
}

/// The source of `kind` named `name` at `location`; `home` is the Nuage
/// home whose keychain entries it may use (a database password).
pub fn open(
    kind: SourceKind,
    name: &str,
    location: &Path,
    options: &SourceOptions,
    home: &Path,
    config: &Config,
) -> Box<dyn Source> {
    match kind {
        SourceKind::Folder => Box::new(folder::FolderSource::new(
            name, location, options, home, config,
        )),
        SourceKind::Sqlite => Box::new(sqlite::SqliteSource::new(name, location, config)),
        SourceKind::Postgresql => {
            Box::new(postgres::PostgresSource::new(name, location, home, config))
        }
    }
}

/// The kind of source a location names: a `postgresql://` or
/// `postgres://` connection string, a folder, else a SQLite file.
pub fn kind_of(location: &str) -> SourceKind {
    let l = location.trim_start().to_ascii_lowercase();
    if l.starts_with("postgresql://") || l.starts_with("postgres://") {
        SourceKind::Postgresql
    } else if Path::new(location).is_dir() {
        SourceKind::Folder
    } else {
        SourceKind::Sqlite
    }
}

/// The source name proposed for a location: its file name without
/// extension, with characters a folder name cannot safely hold replaced.
pub fn suggested_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    if valid_source_name(&name) {
        name
    } else {
        // "con", "lpt1" or an empty stem: a name every destination accepts.
        format!("{name}-data")
    }
}

/// Quotes an SQL identifier, the same in SQLite and PostgreSQL: `"`
/// doubled, the whole wrapped in `"`. Every table, column and schema name
/// that reaches SQL text goes through here.
pub(crate) fn quote_ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// Source names become folder names, locally and remotely: letters,
/// digits, '-', '_' and '.', and a name every destination keeps as it is.
/// OneDrive, SharePoint and Windows or SMB shares refuse device names
/// (`con`, `lpt1.db`), `_vti_` and a trailing '.', which Windows and SMB
/// also strip — "shop." would share the folder of "shop".
pub fn valid_source_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && nuage_graph::names::validate_name(name).is_ok()
}

/// [`valid_source_name`], or the error that says which names are.
pub(crate) fn check_source_name(name: &str) -> Result<()> {
    if valid_source_name(name) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "'{name}' cannot name a source: use 1 to 64 letters, digits, '-', '_' or '.', not starting or ending with '.', and not a name Windows reserves (con, nul, lpt1, …)."
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_ones_every_destination_keeps_as_they_are() {
        for ok in ["shop", "Shop-2", "garage_db", "v1.2", "console", "a.b"] {
            assert!(valid_source_name(ok), "{ok}");
        }
        // A trailing dot is stripped by Windows and SMB ("shop." is "shop"),
        // device names and _vti_ are refused by OneDrive and Windows.
        for bad in [
            "shop.", "con", "CON", "nul.db", "lpt1", "com9.x", "a_vti_b", ".hidden", "",
        ] {
            assert!(!valid_source_name(bad), "{bad}");
        }
        for (file, name) in [
            ("/data/shop.db", "shop"),
            ("/data/con.db", "con-data"),
            ("/data/LPT1.sqlite", "LPT1-data"),
            ("/data/my shop.db", "my-shop"),
        ] {
            assert_eq!(suggested_name(Path::new(file)), name);
            assert!(valid_source_name(&suggested_name(Path::new(file))));
        }
    }
}
