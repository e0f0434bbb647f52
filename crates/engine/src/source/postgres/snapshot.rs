//! One consistent instant of a PostgreSQL database, streamed as a backup
//! document (`source.kind = "postgresql"`), without stalling the
//! application:
//!
//! 1. the tables are listed outside the transaction;
//! 2. `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY` with a short
//!    `lock_timeout`, then `LOCK TABLE … IN ACCESS SHARE MODE` — before
//!    anything takes the snapshot (LOCK and SET do not), so no TRUNCATE or
//!    table rewrite can commit between the snapshot and the reads
//!    (pg_dump does it the other way round and waits without limit);
//! 3. a lock that is not granted at once means someone holds a stronger
//!    one (a migration): roll back, wait a little, try again, so the
//!    application's DDL is never queued behind the backup;
//! 4. the catalog and every table's rows (`COPY … TO STDOUT`, text) are
//!    read in that one transaction, and a table whose storage changed
//!    meanwhile (`relfilenode`) is never written out as it looked;
//! 5. meanwhile a second connection watches whether anyone waits on the
//!    backup's locks (`pg_blocking_pids`): a migration that arrives during
//!    a long read makes the backup cancel itself, roll back and start
//!    again after it, instead of holding it (and every query queued
//!    behind it) until the backup ends.
//!
//! Values are COPY's text form, one JSON string each (`null` for NULL):
//! exact for every type with the session settings below.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use postgres::Client;

use super::catalog::{self, Catalog, failed, flag, literal, rows, text};
use super::copy::{MAX_ROW, line_to_json, read_row};
use crate::document::{FORMAT_NAME, FORMAT_VERSION, SourceInfo};
use crate::error::{Error, Result};
use crate::source::{TableProgress, quote_ident};

/// How long one attempt waits for a table lock before giving way.
pub const LOCK_TIMEOUT: Duration = Duration::from_millis(200);
/// Attempts before the backup gives up for this run.
pub const ATTEMPTS: u32 = 20;

/// Counts of what a snapshot wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgStats {
    pub tables: u64,
    pub rows: u64,
    /// Attempts that gave way to another session's lock.
    pub yielded: u32,
    /// The content digest of the tables ([`crate::document::digest`]).
    pub digest: String,
}

fn lock_not_available(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE)
}

/// The error of a snapshot that cancelled itself mid-way because another
/// session waited on it: what it wrote is to be discarded, and the
/// snapshot taken again (the other session has gone through meanwhile).
pub const GAVE_WAY: &str =
    "the backup gave way to another session that waited on it; it starts again";

/// Whether `e` is [`GAVE_WAY`].
pub fn gave_way(e: &Error) -> bool {
    matches!(e, Error::Invalid(m) if m == GAVE_WAY)
}

/// How often the watcher looks for sessions waiting on the backup.
pub const WATCH_EVERY: Duration = Duration::from_millis(250);

/// A second connection that cancels the backup's statement whenever
/// another session waits on its locks.
struct Watcher {
    stop: Arc<AtomicBool>,
    cancelled: Arc<AtomicBool>,
    /// The watcher's own connection failed: the protection is off.
    broken: Arc<AtomicBool>,
    /// The server process of the attempt being watched (0: none). Read
    /// inside each attempt's transaction: behind a transaction pooler,
    /// another statement may run on another server process.
    pid: Arc<AtomicI32>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(mut w: Client) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let cancelled = Arc::new(AtomicBool::new(false));
        let broken = Arc::new(AtomicBool::new(false));
        let pid = Arc::new(AtomicI32::new(0));
        let (s, k, b, p) = (stop.clone(), cancelled.clone(), broken.clone(), pid.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(WATCH_EVERY);
                let backup = p.load(Ordering::Relaxed);
                if backup == 0 {
                    continue;
                }
                // Sessions waiting on a lock, and among them any the
                // backup blocks.
                let q = format!(
                    "SELECT count(*) FROM pg_catalog.pg_stat_activity
                     WHERE wait_event_type = 'Lock' AND {backup} = ANY(pg_catalog.pg_blocking_pids(pid))"
                );
                let waiting = match w.simple_query(&q) {
                    Ok(m) => m.iter().any(|m| {
                        matches!(m, postgres::SimpleQueryMessage::Row(r) if r.get(0).is_some_and(|n| n != "0"))
                    }),
                    Err(_) => {
                        b.store(true, Ordering::Relaxed);
                        return;
                    }
                };
                if waiting && !s.load(Ordering::Relaxed) && p.load(Ordering::Relaxed) == backup {
                    k.store(true, Ordering::Relaxed);
                    let _ =
                        w.simple_query(&format!("SELECT pg_catalog.pg_cancel_backend({backup})"));
                }
            }
        });
        Watcher {
            stop,
            cancelled,
            broken,
            pid,
            thread: Some(thread),
        }
    }

    /// Watches the server process `pid` (0: nothing), forgetting any
    /// earlier cancel.
    fn watch(&self, pid: i32) {
        self.pid.store(pid, Ordering::Relaxed);
        self.cancelled.store(false, Ordering::Relaxed);
    }

    /// Whether it cancelled the backup since [`Watcher::watch`].
    fn took_cancel(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Streams the snapshot of `schemas` into `out` as a whole document.
/// `watcher` is a second connection to the same database, which cancels
/// and restarts the backup when it blocks another session.
pub fn snapshot<W: Write>(
    c: &mut Client,
    watcher: Option<Client>,
    source: &SourceInfo,
    created_at: &str,
    schemas: &[String],
    mut out: W,
    progress: &mut dyn FnMut(TableProgress<'_>),
) -> Result<(W, PgStats)> {
    let watcher = watcher.map(Watcher::start);
    let mut yielded = 0;
    for attempt in 0..ATTEMPTS {
        if let Some(w) = &watcher {
            w.watch(0);
        }
        match begin_locked(c, schemas, watcher.as_ref()) {
            Ok(()) => {
                let r = write_document(c, source, created_at, schemas, &mut out, progress);
                let cancelled = watcher.as_ref().is_some_and(Watcher::took_cancel);
                if let Some(w) = &watcher {
                    w.watch(0);
                }
                // Read-only: ending it with ROLLBACK loses nothing, and
                // works whatever state a cancel left it in.
                let end = c.batch_execute("ROLLBACK");
                if r.is_err() && cancelled {
                    // Part of the document is written: the caller discards
                    // it and starts again (see [`GAVE_WAY`]).
                    return Err(Error::Invalid(GAVE_WAY.into()));
                }
                if watcher
                    .as_ref()
                    .is_some_and(|w| w.broken.load(Ordering::Relaxed))
                {
                    return Err(Error::Invalid(
                        "the connection that watches for sessions waiting on the backup failed; the backup stopped rather than risk holding them up".into(),
                    ));
                }
                let (tables, rows, digest) = r?;
                end.map_err(|e| failed("ending the snapshot", e))?;
                return Ok((
                    out,
                    PgStats {
                        tables,
                        rows,
                        yielded,
                        digest,
                    },
                ));
            }
            Err(Some(e)) => return Err(e),
            Err(None) => {
                let _ = c.batch_execute("ROLLBACK");
                yielded += 1;
                tracing::info!(attempt, "a table is locked by another session: giving way");
                std::thread::sleep(Duration::from_millis(100 * u64::from(attempt.min(10) + 1)));
            }
        }
    }
    Err(Error::Invalid(format!(
        "another session kept a table locked through {ATTEMPTS} attempts; the backup gave way each time and will try again at the next run"
    )))
}

/// Opens the transaction and locks every table of `schemas` without
/// waiting long. `Err(None)`: a lock was not granted in time.
fn begin_locked(
    c: &mut Client,
    schemas: &[String],
    watcher: Option<&Watcher>,
) -> std::result::Result<(), Option<Error>> {
    let nsp: Vec<String> = schemas.iter().map(|s| literal(s)).collect();
    let tables: Vec<String> = rows(
        c,
        "tables",
        &format!(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ({}) AND c.relkind = 'r' AND NOT c.relispartition ORDER BY 1",
            if nsp.is_empty() {
                "NULL".into()
            } else {
                nsp.join(",")
            }
        ),
    )
    .map_err(Some)?
    .iter()
    .map(|r| text(r, 0))
    .collect();
    c.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
         SET LOCAL lock_timeout = '{}ms'; SET LOCAL statement_timeout = 0;
         SET LOCAL idle_in_transaction_session_timeout = 0;
         SET LOCAL extra_float_digits = 3; SET LOCAL DateStyle = ISO;
         SET LOCAL IntervalStyle = postgres; SET LOCAL TimeZone = 'UTC';
         SET LOCAL bytea_output = 'hex'; SET LOCAL client_encoding = 'UTF8';
         SET LOCAL synchronize_seqscans = off; SET LOCAL row_security = off",
        LOCK_TIMEOUT.as_millis()
    ))
    .map_err(|e| {
        let _ = c.batch_execute("ROLLBACK");
        Some(failed("starting the snapshot", e))
    })?;
    // In batches: one statement per table would be as many round trips.
    for chunk in tables.chunks(200) {
        if let Err(e) = c.batch_execute(&format!(
            "LOCK TABLE {} IN ACCESS SHARE MODE",
            chunk.join(", ")
        )) {
            let _ = c.batch_execute("ROLLBACK");
            let cancelled = e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED)
                && watcher.is_some_and(Watcher::took_cancel);
            if lock_not_available(&e)
                || cancelled
                || e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE)
            {
                return Err(None);
            }
            return Err(Some(failed("locking the tables", e)));
        }
    }
    // This transaction's server process, for the watcher (behind a
    // transaction pooler it is only known inside the transaction). Asked
    // only now: a SELECT takes the snapshot, which must come after the
    // locks (the lock waits have their own short timeout meanwhile).
    if let Some(w) = watcher {
        let pid = rows(c, "server process", "SELECT pg_catalog.pg_backend_pid()")
            .map_err(Some)?
            .first()
            .and_then(|r| text(r, 0).parse::<i32>().ok())
            .unwrap_or(0);
        w.watch(pid);
    }
    Ok(())
}

fn write_document<W: Write>(
    c: &mut Client,
    source: &SourceInfo,
    created_at: &str,
    schemas: &[String],
    out: &mut W,
    progress: &mut dyn FnMut(TableProgress<'_>),
) -> Result<(u64, u64, String)> {
    let cat: Catalog = catalog::read(c, schemas)?;
    let mut digest = crate::document::digest::ContentDigest::default();
    let io = |e: std::io::Error| Error::Invalid(format!("writing the backup failed: {e}"));
    let json = |e: serde_json::Error| Error::Invalid(format!("writing the backup failed: {e}"));
    write!(
        out,
        "{{\"format\":\"{FORMAT_NAME}\",\"version\":{FORMAT_VERSION},\"created_at\":"
    )
    .map_err(io)?;
    serde_json::to_writer(&mut *out, created_at).map_err(json)?;
    out.write_all(b",\"generator\":").map_err(io)?;
    serde_json::to_writer(&mut *out, &format!("nuage {}", env!("CARGO_PKG_VERSION")))
        .map_err(json)?;
    out.write_all(b",\n\"source\":").map_err(io)?;
    serde_json::to_writer(&mut *out, source).map_err(json)?;
    out.write_all(b",\n\"postgresql\":").map_err(io)?;
    serde_json::to_writer(&mut *out, &cat).map_err(json)?;
    out.write_all(b",\n\"tables\":[").map_err(io)?;
    let (mut total, mut line, mut fields) = (0u64, Vec::new(), Vec::new());
    for (i, t) in cat.tables.iter().enumerate() {
        if i > 0 {
            out.write_all(b",").map_err(io)?;
        }
        let cols = super::restore::data_columns(t);
        out.write_all(b"\n{\"schema\":").map_err(io)?;
        serde_json::to_writer(&mut *out, &t.schema).map_err(json)?;
        out.write_all(b",\"name\":").map_err(io)?;
        serde_json::to_writer(&mut *out, &t.name).map_err(json)?;
        out.write_all(b",\"columns\":").map_err(io)?;
        serde_json::to_writer(&mut *out, &cols).map_err(json)?;
        out.write_all(b",\"rows\":[").map_err(io)?;
        let qualified = format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name));
        digest.begin_table(&qualified, &cols);
        let collist: Vec<String> = cols.iter().map(|c| quote_ident(c)).collect();
        let mut n = 0u64;
        {
            // A table without columns is copied without a column list (an
            // empty one is a syntax error); its rows are empty lines.
            let sql = if collist.is_empty() {
                format!("COPY {qualified} TO STDOUT")
            } else {
                format!("COPY {qualified} ({}) TO STDOUT", collist.join(", "))
            };
            let reader = c.copy_out(&sql).map_err(|e| unreadable(&qualified, e))?;
            let mut r = BufReader::with_capacity(256 << 10, reader);
            let mut row = Vec::with_capacity(64 << 10);
            loop {
                // The fast path turns the line into JSON in one pass; a row
                // with a value over CHUNK is read into fields and written
                // in chunks.
                line.clear();
                let got = Read::take(&mut r, MAX_ROW as u64 + 1)
                    .read_until(b'\n', &mut line)
                    .map_err(|e| Error::Invalid(format!("reading {qualified}: {e}")))?;
                if got == 0 {
                    break;
                }
                let bad = |e: std::io::Error| Error::Invalid(format!("reading {qualified}: {e}"));
                if line.last() != Some(&b'\n') {
                    let mut cursor = std::io::Cursor::new(&line[..]);
                    read_row(&mut cursor, &mut Vec::new(), &mut fields).map_err(bad)?;
                }
                line.pop();
                row.clear();
                row.extend_from_slice(if n == 0 { b"\n" } else { b",\n" });
                if !line_to_json(&line, cols.len(), CHUNK, &mut row).map_err(bad)? {
                    line.push(b'\n');
                    read_row(
                        &mut std::io::Cursor::new(&line[..]),
                        &mut Vec::new(),
                        &mut fields,
                    )
                    .map_err(bad)?;
                    if cols.is_empty() {
                        fields.clear();
                    }
                    row.push(b'[');
                    let mut chunked = Vec::new();
                    for (j, f) in fields.iter().enumerate() {
                        if j > 0 {
                            chunked.push(b',');
                        }
                        match f {
                            None => chunked.extend_from_slice(b"null"),
                            Some(bytes) => {
                                let s = std::str::from_utf8(bytes).map_err(|_| {
                                    Error::Invalid(format!("{qualified}: a value is not UTF-8"))
                                })?;
                                write_value(&mut chunked, s).map_err(json)?;
                            }
                        }
                    }
                    row.extend_from_slice(&chunked);
                    row.push(b']');
                }
                if std::str::from_utf8(&row).is_err() {
                    return Err(Error::Invalid(format!("{qualified}: a value is not UTF-8")));
                }
                out.write_all(&row).map_err(io)?;
                // The row without its separator.
                digest.row(&row[if n == 0 { 1 } else { 2 }..]);
                n += 1;
                if n.is_multiple_of(10_000) {
                    progress(TableProgress {
                        table: &t.name,
                        table_rows: n,
                        total_rows: total + n,
                    });
                }
            }
        }
        // Rewritten or truncated since the snapshot: its rows as the
        // snapshot saw them may be gone. Never written out as such.
        let moved = rows(
            c,
            "storage",
            &format!(
                "SELECT c.relfilenode IS DISTINCT FROM pg_catalog.pg_relation_filenode(c.oid)
                 FROM pg_catalog.pg_class c WHERE c.oid = {}::regclass",
                literal(&qualified)
            ),
        )?
        .iter()
        .any(|r| flag(r, 0));
        if moved {
            return Err(Error::Invalid(format!(
                "{qualified} was rewritten while it was read; the backup will be taken again at the next run"
            )));
        }
        write!(out, "],\"row_count\":{n}}}").map_err(io)?;
        digest.end_table();
        total += n;
        progress(TableProgress {
            table: &t.name,
            table_rows: n,
            total_rows: total,
        });
    }
    write!(
        out,
        "],\n\"summary\":{{\"tables\":{},\"rows\":{total}}}}}\n",
        cat.tables.len()
    )
    .map_err(io)?;
    Ok((cat.tables.len() as u64, total, digest.finish()))
}

/// Values longer than this are written as an array of strings of at most
/// this many bytes (a reader caps any one JSON string at
/// `document::guard::MAX_TOKEN`, 4 MiB; escaping can make a chunk six
/// times longer: 512 KiB of control characters is 3 MiB of JSON):
/// `["first 512 KiB…", "…the rest"]`.
pub const CHUNK: usize = 512 << 10;

/// Writes one value: a JSON string, or an array of chunks when long.
fn write_value<W: Write>(out: &mut W, s: &str) -> serde_json::Result<()> {
    if s.len() <= CHUNK {
        return serde_json::to_writer(out, s);
    }
    out.write_all(b"[").map_err(serde_json::Error::io)?;
    let mut rest = s;
    let mut first = true;
    while !rest.is_empty() {
        let mut end = rest.len().min(CHUNK);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if !first {
            out.write_all(b",").map_err(serde_json::Error::io)?;
        }
        first = false;
        serde_json::to_writer(&mut *out, &rest[..end])?;
        rest = &rest[end..];
    }
    out.write_all(b"]").map_err(serde_json::Error::io)
}

/// Why a table could not be read, with what to do: a role that may not
/// read it, or one that row-level security would show only some rows
/// (the backup never takes a filtered table for the whole).
fn unreadable(table: &str, e: postgres::Error) -> Error {
    let rls = e
        .as_db_error()
        .is_some_and(|d| d.message().contains("row-level security"));
    let denied = e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE);
    match failed(&format!("reading {table}"), e) {
        Error::Invalid(m) if rls => Error::Invalid(format!(
            "{m}. Row-level security would hide some of its rows from this user: connect as the table's owner, or as a role with BYPASSRLS (on Supabase, the postgres user)."
        )),
        Error::Invalid(m) if denied => Error::Invalid(format!(
            "{m}. This user needs the SELECT privilege on it: grant it, or connect as the database's owner."
        )),
        other => other,
    }
}
