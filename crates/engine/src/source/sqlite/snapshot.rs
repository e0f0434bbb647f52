//! Consistent snapshots of a live SQLite database, streamed into a
//! [`DocWriter`].
//!
//! * WAL mode: the source is read inside one read transaction on a read-only
//!   connection. Readers never block writers in WAL mode, so the application
//!   keeps committing; committed frames still in the `-wal` file are seen,
//!   uncommitted ones are not.
//! * Rollback-journal mode: a read transaction would hold a SHARED lock that
//!   stops the application's commits for the whole export, so the pages are
//!   first copied with SQLite's online backup API in short steps
//!   ([`PAGES_PER_STEP`]), releasing the lock between steps. If the
//!   application commits between steps the copy restarts; after
//!   [`MAX_RESTARTS`] restarts one single pass finishes it (lock held for
//!   the copy, ~2 s per GB on this hardware). The copy lives in Nuage's
//!   private work folder and is deleted afterwards.
//!
//! The source is never written: it is opened with `SQLITE_OPEN_READ_ONLY`,
//! nothing checkpoints it, nothing changes its schema.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::sql::{quote_ident, table_columns};
use crate::document::limits::{MAX_ROW_IN_MEMORY, MAX_SCHEMA_BYTES, MAX_SCHEMA_OBJECTS};
use crate::document::{BIG_VALUE, CHUNK_RAW, DocWriter, SchemaObject, SourceInfo, SqliteInfo};
use crate::error::{Error, Result, SourceProblem};
use crate::source::{SnapshotStats, TableProgress};

/// Pages copied per step of a rollback-mode page copy (4 MiB at 4 KiB pages:
/// about 10 ms of lock at disk speed).
pub const PAGES_PER_STEP: i32 = 1024;
/// Restarts tolerated before the page copy is finished in one pass.
pub const MAX_RESTARTS: u32 = 3;

fn problem(name: &str, p: SourceProblem) -> Error {
    Error::Source {
        name: name.to_string(),
        problem: p,
    }
}

/// Maps a SQLite error met while reading a source to a message naming it.
pub(crate) fn source_error(name: &str, path: &Path, busy: Duration, e: rusqlite::Error) -> Error {
    let p = match &e {
        rusqlite::Error::SqliteFailure(f, msg) => match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                SourceProblem::Locked(path.to_path_buf(), busy.as_millis() as u64)
            }
            ErrorCode::NotADatabase => SourceProblem::NotADatabase(path.to_path_buf()),
            ErrorCode::DatabaseCorrupt => SourceProblem::Corrupt(
                path.to_path_buf(),
                msg.clone().unwrap_or_else(|| "malformed".into()),
            ),
            ErrorCode::PermissionDenied => SourceProblem::PermissionDenied(path.to_path_buf()),
            ErrorCode::CannotOpen if !path.exists() => SourceProblem::Missing(path.to_path_buf()),
            _ => SourceProblem::Other(path.to_path_buf(), e.to_string()),
        },
        _ => SourceProblem::Other(path.to_path_buf(), e.to_string()),
    };
    problem(name, p)
}

/// Checks the file before SQLite sees it, so the common mistakes get
/// precise messages. Returns true when the database is in WAL mode.
fn preflight(name: &str, path: &Path) -> Result<bool> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(problem(name, SourceProblem::Missing(path.to_path_buf())));
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(problem(
                name,
                SourceProblem::PermissionDenied(path.to_path_buf()),
            ));
        }
        Err(e) => {
            return Err(problem(
                name,
                SourceProblem::Other(path.to_path_buf(), e.to_string()),
            ));
        }
    };
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(problem(
            name,
            SourceProblem::NotADatabase(path.to_path_buf()),
        ));
    }
    let mut header = [0u8; 100];
    let mut got = 0;
    while got < header.len() {
        match f.read(&mut header[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => {
                return Err(problem(
                    name,
                    SourceProblem::Other(path.to_path_buf(), e.to_string()),
                ));
            }
        }
    }
    if got == 0 {
        return Ok(false); // SQLite treats an empty file as an empty database.
    }
    if got < 100 || &header[..16] != b"SQLite format 3\0" {
        return Err(problem(
            name,
            SourceProblem::NotADatabase(path.to_path_buf()),
        ));
    }
    Ok(header[18] == 2 && header[19] == 2)
}

/// What a database file holds, read without modifying it: (tables,
/// journal mode). Fails as a backup of it would.
pub fn inspect(name: &str, path: &Path, busy: Duration) -> Result<(u64, String)> {
    preflight(name, path)?;
    let conn = open_read_only(name, path, busy)?;
    let schema = read_schema(&conn).map_err(|e| source_error(name, path, busy, e))?;
    let tables = schema.iter().filter(|o| o.kind == "table").count() as u64;
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(|e| source_error(name, path, busy, e))?;
    Ok((tables, mode))
}

/// Maps an I/O error met while looking at a source file.
pub(crate) fn source_io_error(name: &str, path: &Path, e: io::Error) -> Error {
    let p = match e.kind() {
        io::ErrorKind::NotFound => SourceProblem::Missing(path.to_path_buf()),
        io::ErrorKind::PermissionDenied => SourceProblem::PermissionDenied(path.to_path_buf()),
        _ => SourceProblem::Other(path.to_path_buf(), e.to_string()),
    };
    problem(name, p)
}

fn open_read_only(name: &str, path: &Path, busy: Duration) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| source_error(name, path, busy, e))?;
    conn.busy_timeout(busy)
        .map_err(|e| source_error(name, path, busy, e))?;
    // A table ordered by its application's collation cannot even be read
    // without it.
    super::collation::register(&conn).map_err(|e| source_error(name, path, busy, e))?;
    Ok(conn)
}

/// Takes a consistent snapshot of the database at `path` and streams it as a
/// backup document into `out`. `work_dir` is a private folder for the
/// rollback-mode page copy.
#[allow(clippy::too_many_arguments)]
pub fn snapshot<W: Write>(
    name: &str,
    path: &Path,
    busy: Duration,
    out_path: &Path,
    work_dir: &Path,
    created_at: &str,
    out: W,
    progress: &mut dyn FnMut(TableProgress<'_>),
) -> Result<(W, SnapshotStats)> {
    let wal = preflight(name, path)?;
    let source = SourceInfo {
        name: name.to_string(),
        kind: "sqlite".into(),
        path: path.to_string_lossy().into_owned(),
    };
    if wal {
        let conn = open_read_only(name, path, busy)?;
        // The read transaction starts at the first read and pins the snapshot.
        conn.execute_batch("BEGIN DEFERRED")
            .map_err(|e| source_error(name, path, busy, e))?;
        let r = export(
            &conn, name, path, busy, out_path, &source, "wal", created_at, out, progress,
        );
        let _ = conn.execute_batch("COMMIT");
        r
    } else {
        let copy = PageCopy::take(name, path, busy, work_dir)?;
        let conn = open_read_only(name, &copy.0, busy)?;
        conn.execute_batch("BEGIN DEFERRED")
            .map_err(|e| source_error(name, path, busy, e))?;
        export(
            &conn, name, path, busy, out_path, &source, "delete", created_at, out, progress,
        )
    }
}

/// A private page copy of a rollback-mode database, removed on drop.
struct PageCopy(PathBuf, #[allow(dead_code)] crate::temporaries::Recorded);

impl PageCopy {
    fn take(name: &str, path: &Path, busy: Duration, work_dir: &Path) -> Result<PageCopy> {
        crate::fsutil::create_private_dir(work_dir)?;
        let file = crate::fsutil::temp_sibling(&work_dir.join("snapshot.db"), "snapshot");
        let recorded = crate::temporaries::record(&file);
        let copy = PageCopy(file, recorded);
        let src = open_read_only(name, path, busy)?;
        let mut dst = Connection::open(&copy.0).map_err(|e| source_error(name, path, busy, e))?;
        // The copy is private (0600) before any page lands in it.
        set_private(&copy.0);
        let err = |e| source_error(name, path, busy, e);
        let mut failed = None;
        {
            let backup = Backup::new(&src, &mut dst).map_err(err)?;
            let deadline_for_busy = busy;
            let mut busy_since: Option<Instant> = None;
            let mut restarts = 0u32;
            let mut last_remaining = i32::MAX;
            let mut pages = PAGES_PER_STEP;
            loop {
                let step = match backup.step(pages) {
                    Ok(s) => s,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                let p = backup.progress();
                if p.remaining > last_remaining {
                    restarts += 1;
                    if restarts >= MAX_RESTARTS {
                        pages = -1;
                    }
                }
                last_remaining = p.remaining;
                match step {
                    StepResult::Done => break,
                    StepResult::More => {
                        busy_since = None;
                        // Let a waiting writer in between steps.
                        std::thread::yield_now();
                    }
                    StepResult::Busy | StepResult::Locked => {
                        let since = *busy_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > deadline_for_busy {
                            return Err(problem(
                                name,
                                SourceProblem::Locked(
                                    path.to_path_buf(),
                                    deadline_for_busy.as_millis() as u64,
                                ),
                            ));
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    _ => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
        if let Some(e) = failed {
            // The copy is Nuage's own file: a full disk is ours, not the source's.
            if super::sql::is_disk_full(&dst, &e) {
                return Err(Error::DiskFull {
                    path: copy.0.clone(),
                });
            }
            return Err(err(e));
        }
        Ok(copy)
    }
}

impl Drop for PageCopy {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode(crate::fsutil::PRIVATE_FILE_MODE),
    );
}

/// One table to export.
struct TableSpec {
    name: String,
    columns: Vec<String>,
    /// The name under which the rowid can be selected, when the table has one.
    rowid: Option<String>,
    /// Ordinary rowid table: big values stream through blob I/O.
    streamable: bool,
    /// Per column: may hold big TEXT/BLOB values, so it is read through the
    /// big-value guard. Columns with INTEGER, REAL or NUMERIC affinity are
    /// read directly: testing their length would make SQLite format every
    /// number as text (a third of the backup's CPU time), and large values
    /// do not live there in practice.
    guarded: Vec<bool>,
    /// Ordinary table (not virtual): may be scanned `NOT INDEXED`.
    ordinary: bool,
}

pub(crate) fn read_info(conn: &Connection, journal_mode: &str) -> rusqlite::Result<SqliteInfo> {
    let int = |p: &str| conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, i64>(0));
    Ok(SqliteInfo {
        encoding: conn.query_row("PRAGMA encoding", [], |r| r.get(0))?,
        user_version: int("user_version")?,
        application_id: int("application_id")?,
        page_size: int("page_size")?,
        auto_vacuum: int("auto_vacuum")?,
        journal_mode: journal_mode.to_string(),
    })
}

/// Schema objects worth restoring, in creation order: everything in
/// `sqlite_schema` except SQLite's own objects and virtual tables' shadow
/// tables (their modules rebuild them).
pub(crate) fn read_schema(conn: &Connection) -> rusqlite::Result<Vec<SchemaObject>> {
    let shadow: std::collections::HashSet<String> = conn
        .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare(
        "SELECT type, name, tbl_name, sql FROM main.sqlite_schema \
         WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(SchemaObject {
            kind: r.get(0)?,
            name: r.get(1)?,
            tbl_name: r.get(2)?,
            sql: r.get(3)?,
        })
    })?;
    let mut out = Vec::new();
    for o in rows {
        let o = o?;
        if shadow.contains(&o.name) || shadow.contains(&o.tbl_name) {
            continue;
        }
        out.push(o);
    }
    Ok(out)
}

fn table_spec(conn: &Connection, name: &str) -> rusqlite::Result<TableSpec> {
    let (kind, without_rowid): (String, bool) = conn.query_row(
        "SELECT type, wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let all = table_columns(conn, name)?;
    let columns: Vec<String> = all
        .iter()
        .filter(|c| c.1 == 0)
        .map(|c| c.0.clone())
        .collect();
    let strict: bool = conn.query_row(
        "SELECT strict FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
        [name],
        |r| r.get(0),
    )?;
    let guarded = declared_types(conn, name)?
        .into_iter()
        .map(|ty| may_hold_big_values(&ty, strict))
        .collect();
    let ordinary = kind == "table";
    let rowid = if without_rowid {
        None
    } else {
        ["rowid", "oid", "_rowid_"]
            .into_iter()
            .find(|alias| !all.iter().any(|c| c.0.eq_ignore_ascii_case(alias)))
            .map(str::to_string)
            .filter(|alias| {
                conn.prepare(&format!(
                    "SELECT {alias} FROM {} LIMIT 0",
                    quote_ident(name)
                ))
                .is_ok()
            })
    };
    let streamable = ordinary && rowid.is_some() && name != "sqlite_sequence";
    Ok(TableSpec {
        name: name.to_string(),
        columns,
        rowid,
        streamable,
        ordinary,
        guarded,
    })
}

/// Declared types of the stored (non-generated, non-hidden) columns.
fn declared_types(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn
        .prepare("SELECT type FROM pragma_table_xinfo(?1, 'main') WHERE hidden = 0 ORDER BY cid")?;
    let rows = stmt.query_map([table], |r| r.get(0))?;
    rows.collect()
}

/// Whether a column may hold large values, by SQLite's affinity rules
/// (datatype3.html §3.1, applied in this order): INTEGER affinity if the
/// type contains "INT"; TEXT if "CHAR", "CLOB" or "TEXT"; BLOB (none) if
/// "BLOB" or no type; otherwise REAL or NUMERIC. TEXT and BLOB affinity (and
/// STRICT `ANY`) may hold large values; the numeric affinities hold numbers.
fn may_hold_big_values(declared: &str, strict: bool) -> bool {
    let t = declared.to_ascii_uppercase();
    if strict {
        matches!(t.as_str(), "TEXT" | "BLOB" | "ANY")
    } else if t.contains("INT") {
        false
    } else {
        ["CHAR", "CLOB", "TEXT", "BLOB"]
            .iter()
            .any(|k| t.contains(k))
            || t.trim().is_empty()
    }
}

#[allow(clippy::too_many_arguments)]
fn export<W: Write>(
    conn: &Connection,
    name: &str,
    path: &Path,
    busy: Duration,
    out_path: &Path,
    source: &SourceInfo,
    journal_mode: &str,
    created_at: &str,
    out: W,
    progress: &mut dyn FnMut(TableProgress<'_>),
) -> Result<(W, SnapshotStats)> {
    let err = |e| source_error(name, path, busy, e);
    let schema = read_schema(conn).map_err(err)?;
    let info = read_info(conn, journal_mode).map_err(err)?;
    // What a restore would refuse is refused now, naming the object: the
    // schema is created once as a restore creates it, and the b-trees that
    // an application's collation orders are checked against Nuage's.
    let schema_bytes: usize = schema.iter().map(SchemaObject::size).sum();
    if schema.len() > MAX_SCHEMA_OBJECTS || schema_bytes as u64 > MAX_SCHEMA_BYTES {
        return Err(problem(
            name,
            SourceProblem::Unsupported {
                object: "the schema".into(),
                detail: format!(
                    "it holds {} objects and {} KiB of statements, more than a restore may hold in memory ({MAX_SCHEMA_OBJECTS} objects, {} MiB). Nuage refuses to make a backup it could not restore",
                    schema.len(),
                    schema_bytes >> 10,
                    MAX_SCHEMA_BYTES >> 20
                ),
            },
        ));
    }
    if let Err((object, detail)) = super::load::rehearse_schema(&schema) {
        return Err(problem(name, SourceProblem::Unsupported { object, detail }));
    }
    let names: Vec<String> = schema
        .iter()
        .filter(|o| o.kind == "table")
        .map(|o| o.name.clone())
        .collect();
    let ordered = super::collation::app_ordered(conn, &names).map_err(err)?;
    if let Some((table, detail)) = super::collation::check_order(conn, &ordered).map_err(err)? {
        return Err(problem(
            name,
            SourceProblem::Unsupported {
                object: format!("table '{table}'"),
                detail,
            },
        ));
    }
    let mut tables: Vec<TableSpec> = Vec::new();
    for o in schema.iter().filter(|o| o.kind == "table") {
        tables.push(table_spec(conn, &o.name).map_err(err)?);
    }
    let has_seq: bool = conn
        .query_row(
            "SELECT count(*) FROM main.sqlite_schema WHERE name = 'sqlite_sequence'",
            [],
            |r| r.get(0),
        )
        .map_err(err)?;
    if has_seq {
        tables.push(TableSpec {
            name: "sqlite_sequence".into(),
            columns: vec!["name".into(), "seq".into()],
            rowid: None,
            streamable: false,
            ordinary: true,
            guarded: vec![false, false],
        });
    }
    // Errors on the output side: the copy being written, not the source.
    let write_err = |e: io::Error| Error::io("write", out_path, e);
    let mut doc = DocWriter::begin(out, created_at, source, &info, &schema).map_err(write_err)?;
    let mut stats = SnapshotStats::default();
    for t in &tables {
        export_table(conn, t, &mut doc, &mut stats.rows, progress).map_err(|e| match e {
            ExportError::Sql(e) => match &e {
                rusqlite::Error::SqliteFailure(f, Some(msg))
                    if f.code == ErrorCode::Unknown && msg.contains("no such module") =>
                {
                    problem(
                        name,
                        SourceProblem::Unsupported {
                            object: format!("table '{}'", t.name),
                            detail: format!("{msg}; Nuage cannot read this virtual table"),
                        },
                    )
                }
                _ => err(e),
            },
            ExportError::Io(e) => write_err(e),
            ExportError::TooBig(detail) => problem(
                name,
                SourceProblem::Unsupported {
                    object: format!("table '{}'", t.name),
                    detail,
                },
            ),
        })?;
        stats.tables += 1;
    }
    let (out, digest) = doc.finish(stats.tables, stats.rows).map_err(write_err)?;
    stats.digest = Some(digest);
    Ok((out, stats))
}

enum ExportError {
    Sql(rusqlite::Error),
    Io(io::Error),
    /// A row a restore could not build within its memory limit.
    TooBig(String),
}
impl From<rusqlite::Error> for ExportError {
    fn from(e: rusqlite::Error) -> Self {
        ExportError::Sql(e)
    }
}
impl From<io::Error> for ExportError {
    fn from(e: io::Error) -> Self {
        ExportError::Io(e)
    }
}

fn export_table<W: Write>(
    conn: &Connection,
    t: &TableSpec,
    doc: &mut DocWriter<W>,
    total: &mut u64,
    progress: &mut dyn FnMut(TableProgress<'_>),
) -> Result<u64, ExportError> {
    let table = quote_ident(&t.name);
    let mut select = Vec::with_capacity(t.columns.len() + 2);
    if let Some(r) = &t.rowid {
        select.push(r.clone());
    }
    let big = |c: &str| format!("octet_length({}) > {BIG_VALUE}", quote_ident(c));
    let guarded: Vec<&String> = t
        .columns
        .iter()
        .zip(&t.guarded)
        .filter(|(_, g)| **g)
        .map(|(c, _)| c)
        .collect();
    let streamable = t.streamable && !guarded.is_empty();
    for (c, g) in t.columns.iter().zip(&t.guarded) {
        if streamable && *g {
            select.push(format!("iif({}, NULL, {})", big(c), quote_ident(c)));
        } else {
            select.push(quote_ident(c));
        }
    }
    if streamable {
        let flags: Vec<String> = guarded.iter().map(|c| big(c)).collect();
        select.push(format!("({})", flags.join(" OR ")));
    }
    let sql = format!(
        "SELECT {} FROM main.{table}{}",
        select.join(", "),
        if t.ordinary && t.name != "sqlite_sequence" {
            " NOT INDEXED"
        } else {
            ""
        }
    );
    let mut stmt = conn.prepare(&sql)?;
    let first_col = usize::from(t.rowid.is_some());
    let ncols = t.columns.len();
    doc.begin_table(&t.name, &t.columns, t.rowid.is_some())?;
    let mut rows = stmt.query([])?;
    let mut n: u64 = 0;
    let mut bigs: Vec<usize> = Vec::new();
    while let Some(row) = rows.next()? {
        doc.begin_row()?;
        if t.rowid.is_some() {
            doc.integer(row.get_ref(0)?.as_i64().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Integer,
                    Box::new(e),
                )
            })?)?;
        }
        let has_big = streamable && matches!(row.get_ref(first_col + ncols)?, ValueRef::Integer(1));
        bigs.clear();
        let mut in_memory: u64 = 0;
        for i in 0..ncols {
            if i > 0 || t.rowid.is_some() {
                doc.sep()?;
            }
            let v = row.get_ref(first_col + i)?;
            let big = if has_big && matches!(v, ValueRef::Null) {
                big_value_kind(conn, t, i, row.get_ref(0)?.as_i64().unwrap_or(0))?
            } else {
                None
            };
            if let Some((is_text, size)) = big {
                if is_text {
                    in_memory += size;
                    check_in_memory(t, row, in_memory)?;
                }
                doc.big_placeholder(is_text, size)?;
                bigs.push(i);
                continue;
            }
            if let ValueRef::Text(b) | ValueRef::Blob(b) = v {
                in_memory += b.len() as u64;
                check_in_memory(t, row, in_memory)?;
            }
            write_value(doc, v)?;
        }
        doc.end_row()?;
        if !bigs.is_empty() {
            let rowid = row.get_ref(0)?.as_i64().unwrap_or(0);
            for &i in &bigs {
                stream_big(conn, t, i, rowid, doc)?;
            }
        }
        n += 1;
        *total += 1;
        if n.is_multiple_of(4096) {
            progress(TableProgress {
                table: &t.name,
                table_rows: n,
                total_rows: *total,
            });
        }
    }
    progress(TableProgress {
        table: &t.name,
        table_rows: n,
        total_rows: *total,
    });
    doc.end_table(n)?;
    Ok(n)
}

/// Refuses a row whose values a restore would have to hold in memory past
/// [`MAX_ROW_IN_MEMORY`]: text values (SQLite builds them whole) and every
/// value of a table without rowid. Found now, not at restore time.
fn check_in_memory(t: &TableSpec, row: &rusqlite::Row<'_>, bytes: u64) -> Result<(), ExportError> {
    if bytes <= MAX_ROW_IN_MEMORY {
        return Ok(());
    }
    let at = match &t.rowid {
        Some(_) => format!(
            "the row with rowid {}",
            row.get_ref(0)?.as_i64().unwrap_or(0)
        ),
        None => "a row".to_string(),
    };
    Err(ExportError::TooBig(format!(
        "{at} holds over {} MiB of values that a restore must build in memory ({}). Nuage refuses to make a backup it could not restore; BLOBs in a table with rowid stream whatever their size",
        MAX_ROW_IN_MEMORY >> 20,
        if t.streamable {
            "text, and values under 256 KiB"
        } else {
            "every value of a table without rowid"
        },
    )))
}

#[inline]
fn write_value<W: Write>(doc: &mut DocWriter<W>, v: ValueRef<'_>) -> io::Result<()> {
    match v {
        ValueRef::Null => doc.null(),
        ValueRef::Integer(i) => doc.integer(i),
        ValueRef::Real(f) => doc.real(f),
        ValueRef::Text(s) => doc.text(s),
        ValueRef::Blob(b) => doc.blob(b),
    }
}

/// For a column that came back NULL in a row flagged as holding a big value:
/// is it really big (and text or blob), and how many bytes?
fn big_value_kind(
    conn: &Connection,
    t: &TableSpec,
    col: usize,
    rowid: i64,
) -> rusqlite::Result<Option<(bool, u64)>> {
    let c = quote_ident(&t.columns[col]);
    let sql = format!(
        "SELECT typeof({c}), octet_length({c}) FROM main.{} WHERE {} = ?1",
        quote_ident(&t.name),
        t.rowid.as_deref().unwrap_or("rowid")
    );
    let (ty, len): (String, Option<i64>) =
        conn.query_row(&sql, [rowid], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(match (ty.as_str(), len) {
        ("text", Some(l)) if l as usize > BIG_VALUE => Some((true, l as u64)),
        ("blob", Some(l)) if l as usize > BIG_VALUE => Some((false, l as u64)),
        _ => None,
    })
}

/// Streams a big value through SQLite's incremental blob I/O: memory stays
/// at one chunk whatever the value's size.
fn stream_big<W: Write>(
    conn: &Connection,
    t: &TableSpec,
    col: usize,
    rowid: i64,
    doc: &mut DocWriter<W>,
) -> Result<(), ExportError> {
    let mut blob = conn.blob_open(
        "main",
        t.name.as_str(),
        t.columns[col].as_str(),
        rowid,
        true,
    )?;
    let mut buf = vec![0u8; CHUNK_RAW];
    doc.begin_fill(col)?;
    let mut first = true;
    loop {
        let mut got = 0;
        while got < buf.len() {
            let n = blob.read(&mut buf[got..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        if got == 0 {
            break;
        }
        doc.fill_chunk(first, &buf[..got])?;
        first = false;
        if got < buf.len() {
            break;
        }
    }
    doc.end_fill()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::may_hold_big_values;

    #[test]
    fn only_text_and_blob_affinity_columns_are_guarded_for_big_values() {
        for (ty, strict, guarded) in [
            ("INTEGER", false, false),
            ("BIGINT", false, false),
            ("REAL", false, false),
            ("DOUBLE PRECISION", false, false),
            ("NUMERIC", false, false),
            ("DATETIME", false, false),
            ("DECIMAL(10,2)", false, false),
            ("TEXT", false, true),
            ("VARCHAR(20)", false, true),
            ("CLOB", false, true),
            ("BLOB", false, true),
            ("", false, true),
            ("INT", true, false),
            ("REAL", true, false),
            ("ANY", true, true),
            ("TEXT", true, true),
            ("BLOB", true, true),
        ] {
            assert_eq!(
                may_hold_big_values(ty, strict),
                guarded,
                "{ty} strict={strict}"
            );
        }
    }
}
