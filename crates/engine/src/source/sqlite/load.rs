//! Reading a backup document into a fresh SQLite database, validating as it
//! streams: format and version first, every schema statement through
//! [`guard::create_guarded`], every row against its table, counts against
//! the document's own. Memory stays bounded: rows are bound to a prepared
//! statement as their values are parsed, big values are written through
//! incremental blob I/O, and [`TokenGuard`] caps any single JSON token.
//!
//! The database is built in a new file that nobody else sees; placing it
//! over a target is the caller's job ([`crate::restore`]).

use std::collections::HashMap;
use std::fmt;
use std::io::{BufReader, Write};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rusqlite::blob::ZeroBlob;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, Statement};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::schema as guard;
use super::sql::{quote_ident, table_columns};
use crate::document::guard::TokenGuard;
use crate::document::limits::{self, MAX_ROW_IN_MEMORY, MAX_VALUE_IN_MEMORY};
use crate::document::{
    Document, HeadError, HeadReader, Key, Meter, SchemaObject, SourceInfo, SqliteInfo, shown,
};
use crate::error::{Error, InvalidBackup, Result};

/// What a loaded document said and held.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub created_at: String,
    pub source: SourceInfo,
    pub sqlite: SqliteInfo,
    pub tables: Vec<(String, u64)>,
    pub rows: u64,
}

/// Builds a new database at `db_path` from the document read from `input`.
/// `label` names the document and `target` the file being restored, in
/// error messages. On error the caller deletes `db_path`.
pub fn load(
    input: Document,
    label: &str,
    db_path: &Path,
    target: &Path,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<Loaded> {
    let conn = Connection::open(db_path).map_err(|e| Error::RestoreFailed {
        path: target.into(),
        detail: e.to_string(),
    })?;
    let bounds = Bounds {
        meter: input.meter(),
        max_expanded: input.max_expanded(),
        max_database: limits::max_database(input.max_expanded()),
        overdue: Arc::new(AtomicBool::new(false)),
        label: label.to_string(),
        target: target.to_path_buf(),
    };
    harden(&conn, &bounds).map_err(|e| bounds.sql_failure(&conn, e))?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF; \
         PRAGMA recursive_triggers = OFF; PRAGMA cache_size = -8192; PRAGMA ignore_check_constraints = ON;",
    )
    .map_err(|e| bounds.sql_failure(&conn, e))?;
    let mut loader = Loader::new(&conn, &bounds, progress);
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(
        64 << 10,
        TokenGuard::new(input),
    ));
    let parsed = (&mut loader).deserialize(&mut de).and_then(|()| de.end());
    if let Some(e) = loader.failure.take() {
        return Err(e);
    }
    if let Err(e) = parsed {
        return Err(loader.classify(e));
    }
    loader.finish().map_err(|e| match e {
        Failure::Engine(e) => e,
        Failure::Sql(e) => bounds.sql_failure(&conn, e),
    })
}

/// Creates `schema` as a restore would, in an empty database in memory,
/// so that a backup refuses what its restore would refuse. Returns the
/// object ("index 'ix'") and why.
pub fn rehearse_schema(schema: &[SchemaObject]) -> std::result::Result<(), (String, String)> {
    let fail = |o: Option<&SchemaObject>, d: String| {
        let what = o.map_or_else(
            || "the schema".to_string(),
            |o| format!("{} '{}'", o.kind, o.name),
        );
        (what, d)
    };
    let conn = Connection::open_in_memory().map_err(|e| fail(None, e.to_string()))?;
    super::collation::register(&conn).map_err(|e| fail(None, e.to_string()))?;
    let unknown_collation = |msg: &str| {
        msg.split_once("no such collation sequence: ").map(|(_, c)| {
            format!(
                "it uses the collation '{c}', which only its application defines; Nuage knows {} besides SQLite's own, so it could not restore it",
                super::collation::KNOWN.join(", ")
            )
        })
    };
    let tables = schema.iter().filter(|o| o.kind == "table");
    let others = schema.iter().filter(|o| o.kind != "table");
    for o in tables.chain(others) {
        if let Err(r) = guard::create_guarded(&conn, &o.kind, &o.name, &o.sql) {
            let d = unknown_collation(&r.0)
                .unwrap_or_else(|| format!("a restore would refuse it: {}", r.0));
            return Err(fail(Some(o), d));
        }
    }
    // The insert a restore prepares for each table compiles its CHECK
    // constraints and generated columns, which name collations too.
    for o in schema.iter().filter(|o| o.kind == "table") {
        let cols: Vec<String> = table_columns(&conn, &o.name)
            .map_err(|e| fail(Some(o), e.to_string()))?
            .into_iter()
            .filter(|c| c.1 == 0)
            .map(|c| quote_ident(&c.0))
            .collect();
        if cols.is_empty() {
            continue;
        }
        let params: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO main.{}({}) VALUES ({})",
            quote_ident(&o.name),
            cols.join(", "),
            params.join(", ")
        );
        if let Err(e) = conn.prepare(&sql) {
            let msg = e.to_string();
            let d = unknown_collation(&msg)
                .unwrap_or_else(|| format!("a restore could not insert its rows: {msg}"));
            return Err(fail(Some(o), d));
        }
    }
    Ok(())
}

/// What building one database may cost (see [`crate::document::limits`]).
struct Bounds {
    meter: Meter,
    max_expanded: u64,
    max_database: u64,
    /// Set by the progress handler when it stops SQLite for time.
    overdue: Arc<AtomicBool>,
    label: String,
    target: std::path::PathBuf,
}

impl Bounds {
    fn over_limit(&self, what: String) -> Error {
        Error::InvalidBackup(InvalidBackup::OverLimit(self.label.clone(), what))
    }

    /// A failed SQLite call while building: a limit the document hit, a
    /// full disk (naming the file the user asked for, not Nuage's
    /// temporary one), or `None` for anything else.
    fn limit_or_disk(&self, conn: &Connection, e: &rusqlite::Error) -> Option<Error> {
        let code = e.sqlite_error_code();
        if self.meter.cancelled() {
            return Some(Error::Cancelled);
        }
        if self.overdue.load(Ordering::Relaxed)
            || code == Some(rusqlite::ErrorCode::OperationInterrupted)
        {
            return Some(self.over_limit(format!(
                "building the database took longer than the {} s allowed for its size",
                self.meter.allowed().as_secs()
            )));
        }
        if code == Some(rusqlite::ErrorCode::OutOfMemory)
            || matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_TOOBIG)
        {
            return Some(self.over_limit(format!(
                "building the database needs more than the {} MiB of memory allowed",
                limits::SQLITE_HEAP >> 20
            )));
        }
        if super::sql::is_disk_full(conn, e) {
            let pages: i64 = conn
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .unwrap_or(0);
            let max: i64 = conn
                .query_row("PRAGMA max_page_count", [], |r| r.get(0))
                .unwrap_or(i64::MAX);
            if pages >= max {
                return Some(self.over_limit(format!(
                    "the database it builds grows past {} MiB, far more than the file holds",
                    self.max_database >> 20
                )));
            }
            return Some(Error::DiskFull {
                path: self.target.clone(),
            });
        }
        None
    }

    fn sql_failure(&self, conn: &Connection, e: rusqlite::Error) -> Error {
        self.limit_or_disk(conn, &e)
            .unwrap_or_else(|| Error::RestoreFailed {
                path: self.target.clone(),
                detail: e.to_string(),
            })
    }
}

/// Bounds the connection that builds a database from an untrusted
/// document: SQLite's heap (for the whole process: nothing else Nuage
/// does comes near it), expression and pattern sizes, the time it may
/// compute, and the collations applications register.
fn harden(conn: &Connection, bounds: &Bounds) -> rusqlite::Result<()> {
    use rusqlite::limits::Limit;
    // SAFETY: a plain setter of a process-wide limit, callable any time.
    unsafe {
        rusqlite::ffi::sqlite3_hard_heap_limit64(limits::SQLITE_HEAP);
    }
    conn.set_limit(Limit::SQLITE_LIMIT_EXPR_DEPTH, 200)?;
    conn.set_limit(Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000)?;
    conn.set_limit(Limit::SQLITE_LIMIT_COMPOUND_SELECT, 50)?;
    conn.set_limit(Limit::SQLITE_LIMIT_FUNCTION_ARG, 32)?;
    conn.set_limit(Limit::SQLITE_LIMIT_TRIGGER_DEPTH, 10)?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    let (meter, overdue) = (bounds.meter.clone(), bounds.overdue.clone());
    // Every thousand VM steps: a step can be a whole C function (printf
    // of millions of bytes), so checking rarely would let it run long.
    conn.progress_handler(
        1_000,
        Some(move || {
            let stop = meter.cancelled() || meter.overdue();
            if stop {
                overdue.store(true, Ordering::Relaxed);
            }
            stop
        }),
    );
    super::collation::register(conn)
}

enum Failure {
    Engine(Error),
    Sql(rusqlite::Error),
}
impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Sql(e)
    }
}

/// A table ready to receive rows.
struct TableMeta {
    columns: Vec<String>,
    ordinary: bool,
    without_rowid: bool,
    seen: bool,
}

struct Loader<'c, 'p> {
    conn: &'c Connection,
    bounds: &'c Bounds,
    target: std::path::PathBuf,
    label: String,
    failure: Option<Error>,
    progress: &'p mut dyn FnMut(&str, u64),
    head: HeadReader,
    sqlite: Option<SqliteInfo>,
    schema: Vec<SchemaObject>,
    tables: HashMap<String, TableMeta>,
    counts: Vec<(String, u64)>,
    sequence: Vec<(String, i64)>,
    summary: Option<(u64, u64)>,
    scratch: Vec<u8>,
}

impl<'c, 'p> Loader<'c, 'p> {
    fn new(
        conn: &'c Connection,
        bounds: &'c Bounds,
        progress: &'p mut dyn FnMut(&str, u64),
    ) -> Self {
        Loader {
            conn,
            bounds,
            target: bounds.target.clone(),
            label: bounds.label.clone(),
            failure: None,
            progress,
            head: HeadReader::new(&bounds.label, "sqlite", BODY),
            sqlite: None,
            schema: Vec::new(),
            tables: HashMap::new(),
            counts: Vec::new(),
            sequence: Vec::new(),
            summary: None,
            scratch: Vec::new(),
        }
    }

    /// Raises a serde error while keeping the precise engine error aside.
    fn fail<E: de::Error>(&mut self, e: Error) -> E {
        let msg = e.to_string();
        if self.failure.is_none() {
            self.failure = Some(e);
        }
        E::custom(msg)
    }

    /// A row that SQLite refused: a full disk, or data that does not fit
    /// the schema (`what` says where).
    fn row_failure(&self, e: rusqlite::Error, what: String) -> Error {
        self.bounds
            .limit_or_disk(self.conn, &e)
            .unwrap_or_else(|| self.mismatch(format!("{what}: {e}")))
    }

    /// A row whose values held in memory would pass the limit.
    fn too_big_in_memory(&self, table: &str, row: u64) -> Error {
        self.bounds.over_limit(format!(
            "table '{table}' row {row} holds more than {} MiB of values that must be built in memory",
            MAX_ROW_IN_MEMORY >> 20
        ))
    }

    fn invalid(&self, f: impl FnOnce(String) -> InvalidBackup) -> Error {
        Error::InvalidBackup(f(self.label.clone()))
    }

    fn mismatch(&self, detail: impl Into<String>) -> Error {
        let d = detail.into();
        self.invalid(|l| InvalidBackup::SchemaMismatch(l, d))
    }

    fn classify(&self, e: serde_json::Error) -> Error {
        self.head.classify(e)
    }

    /// Creates the tables now; other objects wait until the rows are in, so
    /// that no trigger fires and indexes are built once.
    fn apply_tables(&mut self, schema: Vec<SchemaObject>) -> Result<()> {
        let info = self
            .sqlite
            .clone()
            .ok_or_else(|| self.mismatch("\"sqlite\" must come before \"schema\""))?;
        self.apply_settings(&info)?;
        for o in schema.iter().filter(|o| o.kind == "table") {
            if o.name.starts_with("sqlite_") {
                return Err(self.refused(o, "names beginning with sqlite_ are reserved"));
            }
            guard::create_guarded(self.conn, &o.kind, &o.name, &o.sql)
                .map_err(|d| self.schema_failure(o, &d))?;
            let meta = self
                .table_meta(&o.name)
                .map_err(|e| self.mismatch(e.to_string()))?;
            self.tables.insert(o.name.clone(), meta);
        }
        if self
            .conn
            .query_row(
                "SELECT count(*) FROM main.sqlite_schema WHERE name = 'sqlite_sequence'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0)
            > 0
        {
            self.tables.insert(
                "sqlite_sequence".into(),
                TableMeta {
                    columns: vec!["name".into(), "seq".into()],
                    ordinary: true,
                    without_rowid: true,
                    seen: false,
                },
            );
        }
        self.schema = schema;
        Ok(())
    }

    /// A schema statement that failed: a limit it hit (naming it), or a
    /// refusal.
    fn schema_failure(&self, o: &SchemaObject, r: &guard::Refusal) -> Error {
        let Some(code) = r.1 else {
            return self.refused(o, &r.0);
        };
        let e = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        match self.bounds.limit_or_disk(self.conn, &e) {
            Some(Error::InvalidBackup(InvalidBackup::OverLimit(l, what))) => Error::InvalidBackup(
                InvalidBackup::OverLimit(l, format!("{what}, at the {} '{}'", o.kind, o.name)),
            ),
            Some(other) => other,
            None => self.refused(o, &r.0),
        }
    }

    fn refused(&self, o: &SchemaObject, detail: &str) -> Error {
        let (k, n, d) = (o.kind.clone(), o.name.clone(), detail.to_string());
        self.invalid(|l| InvalidBackup::RefusedSchema(l, k, n, d))
    }

    fn apply_settings(&self, info: &SqliteInfo) -> Result<()> {
        let enc = match info.encoding.as_str() {
            "UTF-8" | "UTF-16le" | "UTF-16be" => info.encoding.as_str(),
            other => return Err(self.mismatch(format!("unknown text encoding '{other}'"))),
        };
        if !(512..=65536).contains(&info.page_size) || (info.page_size as u64).count_ones() != 1 {
            return Err(self.mismatch(format!("invalid page size {}", info.page_size)));
        }
        if !(0..=2).contains(&info.auto_vacuum) {
            return Err(self.mismatch(format!("invalid auto_vacuum {}", info.auto_vacuum)));
        }
        if i32::try_from(info.user_version).is_err() || i32::try_from(info.application_id).is_err()
        {
            return Err(self.mismatch("user_version and application_id must be 32-bit integers"));
        }
        let max_pages = (self.bounds.max_database / info.page_size as u64).max(1);
        self.conn
            .execute_batch(&format!(
                "PRAGMA encoding = '{enc}'; PRAGMA page_size = {}; PRAGMA auto_vacuum = {}; \
                 PRAGMA max_page_count = {max_pages}; BEGIN;",
                info.page_size, info.auto_vacuum
            ))
            .map_err(|e| self.mismatch(e.to_string()))
    }

    fn table_meta(&self, name: &str) -> rusqlite::Result<TableMeta> {
        let (kind, wr): (String, bool) = self.conn.query_row(
            "SELECT type, wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let columns = table_columns(self.conn, name)?
            .into_iter()
            .filter(|c| c.1 == 0)
            .map(|c| c.0)
            .collect();
        Ok(TableMeta {
            columns,
            ordinary: kind == "table",
            without_rowid: wr,
            seen: false,
        })
    }

    fn finish(mut self) -> Result<Loaded, Failure> {
        let conn = self.conn;
        let missing: Vec<&str> = [
            ("created_at", self.head.created_at.is_none()),
            ("source", self.head.source.is_none()),
            ("sqlite", self.sqlite.is_none()),
            ("summary", self.summary.is_none()),
        ]
        .into_iter()
        .filter(|(_, m)| *m)
        .map(|(k, _)| k)
        .collect();
        if !missing.is_empty() {
            let d = format!("missing fields: {}", missing.join(", "));
            return Err(Failure::Engine(
                self.invalid(|l| InvalidBackup::Corrupt(l, d)),
            ));
        }
        if let Some((t, _)) = self
            .tables
            .iter()
            .find(|(n, m)| !m.seen && n.as_str() != "sqlite_sequence")
        {
            return Err(Failure::Engine(
                self.mismatch(format!("table '{t}' has no data section")),
            ));
        }
        let rows: u64 = self.counts.iter().map(|c| c.1).sum();
        let (st, sr) = self.summary.unwrap_or_default();
        if st != self.counts.len() as u64 || sr != rows {
            return Err(Failure::Engine(self.mismatch(format!(
                "the summary says {st} tables and {sr} rows, the document holds {} tables and {rows} rows",
                self.counts.len()
            ))));
        }
        for o in self.schema.iter().filter(|o| o.kind != "table") {
            guard::create_guarded(conn, &o.kind, &o.name, &o.sql)
                .map_err(|d| Failure::Engine(self.schema_failure(o, &d)))?;
        }
        if !self.sequence.is_empty() {
            conn.execute("DELETE FROM main.sqlite_sequence", [])?;
            let mut ins =
                conn.prepare("INSERT INTO main.sqlite_sequence(name, seq) VALUES (?1, ?2)")?;
            for (n, s) in &self.sequence {
                ins.execute(rusqlite::params![n, s])?;
            }
        }
        let info = self.sqlite.clone().expect("checked above");
        conn.execute_batch(&format!(
            "PRAGMA user_version = {}; PRAGMA application_id = {}; COMMIT; PRAGMA ignore_check_constraints = OFF;",
            info.user_version, info.application_id
        ))?;
        let check: Vec<String> = conn
            .prepare("PRAGMA integrity_check(20)")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if check != ["ok"] {
            let d = format!(
                "the rebuilt database fails SQLite's integrity check: {}",
                check.join("; ")
            );
            return Err(Failure::Engine(self.mismatch(d)));
        }
        for (name, n) in &self.counts {
            let meta = &self.tables[name];
            if !meta.ordinary {
                continue;
            }
            let actual: i64 = conn.query_row(
                &format!("SELECT count(*) FROM main.{}", quote_ident(name)),
                [],
                |r| r.get(0),
            )?;
            if actual as u64 != *n {
                return Err(Failure::Engine(self.mismatch(format!(
                    "table '{name}' has {actual} rows after restore, the backup holds {n}"
                ))));
            }
        }
        let counts = std::mem::take(&mut self.counts);
        Ok(Loaded {
            created_at: self.head.created_at.take().unwrap_or_default(),
            source: self.head.source.take().expect("checked"),
            sqlite: info,
            tables: counts,
            rows,
        })
    }
}

/// The body of a SQLite document, after the common head.
const BODY: &[&str] = &["sqlite", "schema", "tables", "summary"];

impl<'de> DeserializeSeed<'de> for &mut Loader<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(DocVisitor(self))
    }
}

struct DocVisitor<'a, 'c, 'p>(&'a mut Loader<'c, 'p>);

impl<'de> Visitor<'de> for DocVisitor<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Nuage backup document (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let l = self.0;
        while let Some(key) = map.next_key::<String>()? {
            let body = match l.head.key(&mut map, &key) {
                Ok(Key::Head) => continue,
                Ok(Key::Body(k)) => k,
                Err(HeadError::Json(e)) => return Err(e),
                Err(HeadError::Refused(e)) => return Err(l.fail(e)),
            };
            match body {
                "sqlite" => l.sqlite = Some(map.next_value()?),
                "schema" => {
                    let mut over = false;
                    let schema = match map.next_value_seed(SchemaSeed { over: &mut over }) {
                        Ok(s) => s,
                        Err(_) if over => {
                            let e = l.bounds.over_limit(format!(
                                "its schema holds more than {} objects or {} MiB of statements",
                                limits::MAX_SCHEMA_OBJECTS,
                                limits::MAX_SCHEMA_BYTES >> 20
                            ));
                            return Err(l.fail(e));
                        }
                        Err(e) => return Err(e),
                    };
                    if let Err(e) = l.apply_tables(schema) {
                        return Err(l.fail(e));
                    }
                }
                "tables" => map.next_value_seed(TablesSeed(&mut *l))?,
                "summary" => {
                    #[derive(serde::Deserialize)]
                    #[serde(deny_unknown_fields)]
                    struct Summary {
                        tables: u64,
                        rows: u64,
                    }
                    let s: Summary = map.next_value()?;
                    l.summary = Some((s.tables, s.rows));
                }
                _ => unreachable!("key checked against BODY"),
            }
        }
        if !l.head.seen_format {
            let e =
                l.invalid(|lb| InvalidBackup::NotABackup(lb, "it has no \"format\" field".into()));
            return Err(l.fail(e));
        }
        if !l.head.passed("tables") {
            let e = l.invalid(|lb| {
                InvalidBackup::Corrupt(lb, "the document has no \"tables\" section".into())
            });
            return Err(l.fail(e));
        }
        Ok(())
    }
}

struct TablesSeed<'a, 'c, 'p>(&'a mut Loader<'c, 'p>);

impl<'de> DeserializeSeed<'de> for TablesSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TablesSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of tables")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.0.conn.is_autocommit() {
            let e = self.0.mismatch("\"schema\" must come before \"tables\"");
            return Err(self.0.fail(e));
        }
        while seq.next_element_seed(TableSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct TableSeed<'a, 'c, 'p>(&'a mut Loader<'c, 'p>);

impl<'de> DeserializeSeed<'de> for TableSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

/// Rows are inserted into this table as they are parsed.
struct Target<'c> {
    name: String,
    columns: Vec<String>,
    with_rowid: bool,
    streamable: bool,
    is_sequence: bool,
    insert: Option<Statement<'c>>,
    rows: u64,
    last_rowid: i64,
    /// Big values of the last row still waiting for their fill entries.
    pending: Vec<(usize, bool, u64)>,
    /// Bytes of the current row held in memory (see [`MAX_ROW_IN_MEMORY`]).
    row_bytes: u64,
}

impl<'de> Visitor<'de> for TableSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let l = self.0;
        let name: String = match map.next_key::<String>()?.as_deref() {
            Some("name") => map.next_value()?,
            _ => return Err(l.fail(l.mismatch("each table object must start with \"name\""))),
        };
        let Some(meta) = l.tables.get_mut(&name) else {
            let e = l.mismatch(format!(
                "rows for table '{}', which the schema does not create",
                shown(&name)
            ));
            return Err(l.fail(e));
        };
        if meta.seen {
            let e = l.mismatch(format!("table '{name}' appears twice"));
            return Err(l.fail(e));
        }
        meta.seen = true;
        let (expected_cols, ordinary, without_rowid) =
            (meta.columns.clone(), meta.ordinary, meta.without_rowid);
        // Compared as they stream: a list longer than the table's is
        // refused at its first extra name, never held.
        let mut differs: Option<String> = None;
        let columns: Vec<String> = match map.next_key::<String>()?.as_deref() {
            Some("columns") => match map.next_value_seed(ColumnsSeed {
                expected: &expected_cols,
                differs: &mut differs,
            }) {
                Ok(c) => c,
                Err(_) if differs.is_some() => Vec::new(),
                Err(e) => return Err(e),
            },
            _ => return Err(l.fail(l.mismatch(format!("table '{name}': \"columns\" expected")))),
        };
        if differs.is_some() || columns != expected_cols {
            let e = l.mismatch(format!(
                "table '{name}' has columns {expected_cols:?} but the rows are for others ({})",
                differs.unwrap_or_else(|| format!("{} of them", columns.len()))
            ));
            return Err(l.fail(e));
        }
        let with_rowid: bool = match map.next_key::<String>()?.as_deref() {
            Some("rowid") => map.next_value()?,
            _ => return Err(l.fail(l.mismatch(format!("table '{name}': \"rowid\" expected")))),
        };
        if with_rowid && without_rowid {
            let e = l.mismatch(format!(
                "table '{name}' is WITHOUT ROWID but its rows carry rowids"
            ));
            return Err(l.fail(e));
        }
        let is_sequence = name == "sqlite_sequence";
        let insert = if is_sequence {
            None
        } else {
            let mut cols: Vec<String> = Vec::new();
            if with_rowid {
                cols.push("rowid".into());
            }
            cols.extend(columns.iter().map(|c| quote_ident(c)));
            let params: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
            let sql = format!(
                "INSERT INTO main.{}({}) VALUES ({})",
                quote_ident(&name),
                cols.join(", "),
                params.join(", ")
            );
            match l.conn.prepare(&sql) {
                Ok(s) => Some(s),
                Err(e) => {
                    let e = l.mismatch(format!("table '{name}': {e}"));
                    return Err(l.fail(e));
                }
            }
        };
        let mut target = Target {
            name: name.clone(),
            columns,
            with_rowid,
            streamable: ordinary && with_rowid,
            is_sequence,
            insert,
            rows: 0,
            last_rowid: 0,
            pending: Vec::new(),
            row_bytes: 0,
        };
        match map.next_key::<String>()?.as_deref() {
            Some("rows") => map.next_value_seed(RowsSeed {
                l: &mut *l,
                t: &mut target,
            })?,
            _ => return Err(l.fail(l.mismatch(format!("table '{name}': \"rows\" expected")))),
        }
        let count: u64 = match map.next_key::<String>()?.as_deref() {
            Some("row_count") => map.next_value()?,
            _ => return Err(l.fail(l.mismatch(format!("table '{name}': \"row_count\" expected")))),
        };
        if map.next_key::<String>()?.is_some() {
            return Err(l.fail(l.mismatch(format!(
                "table '{name}': unexpected field after \"row_count\""
            ))));
        }
        if count != target.rows {
            let e = l.mismatch(format!(
                "table '{name}' says {count} rows but holds {}",
                target.rows
            ));
            return Err(l.fail(e));
        }
        if !target.pending.is_empty() {
            return Err(l.fail(l.mismatch(format!("table '{name}': a big value has no data"))));
        }
        (l.progress)(&name, target.rows);
        l.counts.push((name, target.rows));
        Ok(())
    }
}

struct RowsSeed<'a, 'b, 'c, 'p> {
    l: &'a mut Loader<'c, 'p>,
    t: &'b mut Target<'c>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_, '_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(RowSeed {
                l: &mut *self.l,
                t: &mut *self.t,
            })?
            .is_some()
        {}
        Ok(())
    }
}

struct RowSeed<'a, 'b, 'c, 'p> {
    l: &'a mut Loader<'c, 'p>,
    t: &'b mut Target<'c>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row (array) or a fill entry (object)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (l, t) = (self.l, self.t);
        if !t.pending.is_empty() {
            return Err(l.fail(l.mismatch(format!("table '{}': a big value has no data", t.name))));
        }
        let row_no = t.rows + 1;
        let ncols = t.columns.len() + usize::from(t.with_rowid);
        if t.is_sequence {
            let name: Option<String> = seq.next_element()?;
            let seqv: Option<i64> = seq.next_element()?;
            match (name, seqv, seq.next_element::<IgnoredAny>()?) {
                // One row per table at most (AUTOINCREMENT tables).
                (Some(_), Some(_), None) if l.sequence.len() >= l.tables.len() => {
                    return Err(l.fail(
                        l.mismatch("sqlite_sequence holds more rows than there are tables"),
                    ));
                }
                (Some(n), Some(s), None) => l.sequence.push((n, s)),
                _ => return Err(l.fail(l.mismatch("sqlite_sequence rows must be [name, seq]"))),
            }
            t.rows += 1;
            return Ok(());
        }
        t.row_bytes = 0;
        for i in 0..ncols {
            let mut over = false;
            let v = seq.next_element_seed(ValueSeed {
                scratch: &mut l.scratch,
                rowid: t.with_rowid && i == 0,
                streamable: t.streamable,
                budget: MAX_ROW_IN_MEMORY.saturating_sub(t.row_bytes),
                over: &mut over,
            });
            let v = match v {
                Ok(v) => v,
                Err(e) if over => {
                    let _ = e;
                    return Err(l.fail(l.too_big_in_memory(&t.name, row_no)));
                }
                Err(e) => return Err(e),
            };
            let Some(v) = v else {
                let e = l.mismatch(format!(
                    "table '{}' row {row_no} has {i} values, expected {ncols}",
                    t.name
                ));
                return Err(l.fail(e));
            };
            let stmt = t.insert.as_mut().expect("prepared for ordinary tables");
            let r = match v {
                Parsed::Null => stmt.raw_bind_parameter(i + 1, rusqlite::types::Null),
                Parsed::Int(x) => {
                    if t.with_rowid && i == 0 {
                        t.last_rowid = x;
                    }
                    stmt.raw_bind_parameter(i + 1, x)
                }
                Parsed::Real(x) => stmt.raw_bind_parameter(i + 1, x),
                Parsed::Text => {
                    t.row_bytes += l.scratch.len() as u64;
                    stmt.raw_bind_parameter(
                        i + 1,
                        ToSqlOutput::Borrowed(ValueRef::Text(&l.scratch)),
                    )
                }
                Parsed::Blob => {
                    t.row_bytes += l.scratch.len() as u64;
                    stmt.raw_bind_parameter(
                        i + 1,
                        ToSqlOutput::Borrowed(ValueRef::Blob(&l.scratch)),
                    )
                }
                Parsed::Big { text, size } => {
                    // Its data must follow, as base64 (4 bytes for 3), within
                    // what the file may still expand to: checked before its
                    // room is made on disk.
                    // The values of one row are made room for together, at
                    // the row's insert: their sum must fit.
                    let declared: u64 = t.pending.iter().map(|p| p.2).sum::<u64>() + size;
                    let left = l.bounds.max_expanded.saturating_sub(l.bounds.meter.read());
                    if declared / 3 * 4 > left {
                        return Err(l.fail(l.bounds.over_limit(format!(
                            "table '{}' row {row_no} declares values of {} MiB, more than the file could hold",
                            t.name,
                            declared >> 20
                        ))));
                    }
                    if text {
                        // SQLite builds a text value whole, in memory.
                        t.row_bytes += size;
                        if t.row_bytes > MAX_ROW_IN_MEMORY {
                            return Err(l.fail(l.too_big_in_memory(&t.name, row_no)));
                        }
                    }
                    t.pending.push((i - usize::from(t.with_rowid), text, size));
                    if text {
                        stmt.raw_bind_parameter(i + 1, "")
                    } else {
                        stmt.raw_bind_parameter(i + 1, ZeroBlob(size as i32))
                    }
                }
            };
            if let Err(e) = r {
                return Err(l.fail(l.mismatch(format!("table '{}' row {row_no}: {e}", t.name))));
            }
        }
        if seq.next_element::<IgnoredAny>()?.is_some() {
            let e = l.mismatch(format!(
                "table '{}' row {row_no} has more than {ncols} values",
                t.name
            ));
            return Err(l.fail(e));
        }
        let stmt = t.insert.as_mut().expect("prepared");
        if let Err(e) = stmt.raw_execute() {
            let e = l.row_failure(
                e,
                format!("table '{}' row {row_no} cannot be inserted", t.name),
            );
            return Err(l.fail(e));
        }
        if !t.with_rowid {
            t.last_rowid = l.conn.last_insert_rowid();
        }
        t.pending.reverse();
        t.rows += 1;
        if t.rows % 8192 == 0 {
            (l.progress)(&t.name, t.rows);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (l, t) = (self.l, self.t);
        let Some((col, text, size)) = t.pending.pop() else {
            return Err(l.fail(l.mismatch(format!(
                "table '{}': a fill entry without a big value before it",
                t.name
            ))));
        };
        let ok_col = match map.next_key::<String>()?.as_deref() {
            Some("fill") => map.next_value::<usize>()? == col,
            _ => false,
        };
        if !ok_col || map.next_key::<String>()?.as_deref() != Some("chunks") {
            return Err(l.fail(l.mismatch(format!("table '{}': fill entries must be {{\"fill\": column, \"chunks\": [...]}} in column order", t.name))));
        }
        let sink = if text {
            FillSink::Text(Vec::new())
        } else {
            match l.conn.blob_open(
                "main",
                t.name.as_str(),
                t.columns[col].as_str(),
                t.last_rowid,
                false,
            ) {
                Ok(b) => FillSink::Blob(b),
                Err(e) => return Err(l.fail(l.mismatch(format!("table '{}': {e}", t.name)))),
            }
        };
        let mut fill = Fill {
            sink,
            written: 0,
            size,
            scratch: &mut l.scratch,
            error: None,
        };
        map.next_value_seed(&mut fill)?;
        if fill.error.is_some() && super::sql::last_error_is_disk_full(l.conn) {
            return Err(l.fail(Error::DiskFull {
                path: l.target.clone(),
            }));
        }
        if let Some(e) = fill.error.take() {
            let e = l.mismatch(format!("table '{}' row {}: {e}", t.name, t.rows));
            return Err(l.fail(e));
        }
        let written = fill.written;
        let sink = fill.sink;
        if written != size {
            let e = l.mismatch(format!(
                "table '{}' row {}: a big value declares {size} bytes and holds {written}",
                t.name, t.rows
            ));
            return Err(l.fail(e));
        }
        if let FillSink::Text(bytes) = sink {
            let sql = format!(
                "UPDATE main.{} SET {} = ?1 WHERE rowid = ?2",
                quote_ident(&t.name),
                quote_ident(&t.columns[col])
            );
            let r = l.conn.prepare_cached(&sql).and_then(|mut s| {
                s.raw_bind_parameter(1, ToSqlOutput::Borrowed(ValueRef::Text(&bytes)))?;
                s.raw_bind_parameter(2, t.last_rowid)?;
                s.raw_execute()
            });
            if let Err(e) = r {
                let e = l.row_failure(e, format!("table '{}'", t.name));
                return Err(l.fail(e));
            }
        }
        if map.next_key::<String>()?.is_some() {
            return Err(l.fail(l.mismatch(format!(
                "table '{}': unexpected field in a fill entry",
                t.name
            ))));
        }
        Ok(())
    }
}

enum FillSink<'c> {
    Blob(rusqlite::blob::Blob<'c>),
    Text(Vec<u8>),
}

struct Fill<'s, 'c> {
    sink: FillSink<'c>,
    written: u64,
    size: u64,
    scratch: &'s mut Vec<u8>,
    error: Option<String>,
}

impl<'de> DeserializeSeed<'de> for &mut Fill<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for &mut Fill<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of base64 chunks")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(ChunkSeed(&mut *self))?.is_some() {}
        Ok(())
    }
}

struct ChunkSeed<'a, 's, 'c>(&'a mut Fill<'s, 'c>);

impl<'de> DeserializeSeed<'de> for ChunkSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ChunkSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base64 string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let fill = self.0;
        fill.scratch.clear();
        B64.decode_vec(v, fill.scratch)
            .map_err(|e| E::custom(format!("bad base64: {e}")))?;
        let n = fill.scratch.len() as u64;
        if fill.written + n > fill.size {
            fill.error = Some(format!(
                "a big value holds more than its declared {} bytes",
                fill.size
            ));
            return Err(E::custom("big value too long"));
        }
        match &mut fill.sink {
            FillSink::Blob(b) => {
                b.write_all(fill.scratch).map_err(|e| {
                    fill.error = Some(e.to_string());
                    E::custom(e)
                })?;
            }
            FillSink::Text(t) => t.extend_from_slice(fill.scratch),
        }
        fill.written += n;
        Ok(())
    }
}

/// One parsed value; text and blob bytes are left in the loader's scratch
/// buffer to be bound without another copy.
enum Parsed {
    Null,
    Int(i64),
    Real(f64),
    Text,
    Blob,
    Big { text: bool, size: u64 },
}

struct ValueSeed<'s> {
    scratch: &'s mut Vec<u8>,
    rowid: bool,
    streamable: bool,
    /// Bytes this value may still take in memory; `over` is set when it
    /// would take more.
    budget: u64,
    over: &'s mut bool,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Parsed;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Parsed;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rowid {
            f.write_str("an integer rowid")
        } else {
            f.write_str("a value")
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Parsed, E> {
        if self.rowid {
            return Err(E::custom("a rowid must be an integer"));
        }
        Ok(Parsed::Null)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Parsed, E> {
        Ok(Parsed::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Parsed, E> {
        i64::try_from(v)
            .map(Parsed::Int)
            .map_err(|_| E::custom(format!("integer {v} is outside SQLite's 64-bit range")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Parsed, E> {
        if self.rowid {
            return Err(E::custom("a rowid must be an integer"));
        }
        Ok(Parsed::Real(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Parsed, E> {
        if self.rowid {
            return Err(E::custom("a rowid must be an integer"));
        }
        if v.len() as u64 > self.budget.min(MAX_VALUE_IN_MEMORY) {
            *self.over = true;
            return Err(E::custom("value over the memory limit"));
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(v.as_bytes());
        Ok(Parsed::Text)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        if self.rowid {
            return Err(de::Error::custom("a rowid must be an integer"));
        }
        let key: String = map
            .next_key()?
            .ok_or_else(|| de::Error::custom("empty object where a value was expected"))?;
        let parsed = match key.as_str() {
            "real" => match map.next_value::<String>()?.as_str() {
                "inf" => Parsed::Real(f64::INFINITY),
                "-inf" => Parsed::Real(f64::NEG_INFINITY),
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown real \"{}\"",
                        shown(other)
                    )));
                }
            },
            "blob" | "text_b64" => {
                self.scratch.clear();
                let budget = self.budget.min(MAX_VALUE_IN_MEMORY);
                let r = map.next_value_seed(Base64Seed {
                    out: &mut *self.scratch,
                    budget,
                    over: &mut *self.over,
                });
                if *self.over {
                    // Give the memory back now, not at the end of the load.
                    *self.scratch = Vec::new();
                }
                r?;
                if key == "blob" {
                    Parsed::Blob
                } else {
                    Parsed::Text
                }
            }
            "blob_size" | "text_size" if self.streamable => {
                let size: u64 = map.next_value()?;
                if size > i32::MAX as u64 {
                    return Err(de::Error::custom("value larger than SQLite allows"));
                }
                Parsed::Big {
                    text: key == "text_size",
                    size,
                }
            }
            other => {
                return Err(de::Error::custom(format!(
                    "unknown value tag \"{}\"",
                    shown(other)
                )));
            }
        };
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("a tagged value has exactly one field"));
        }
        Ok(parsed)
    }
}

/// The `schema` array, within [`limits::MAX_SCHEMA_OBJECTS`] objects and
/// [`limits::MAX_SCHEMA_BYTES`] of names and statements; `over` is set
/// when it holds more.
struct SchemaSeed<'a> {
    over: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for SchemaSeed<'_> {
    type Value = Vec<SchemaObject>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<SchemaObject>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SchemaSeed<'_> {
    type Value = Vec<SchemaObject>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of schema objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<SchemaObject>, A::Error> {
        let mut out = Vec::new();
        let mut bytes = 0u64;
        while let Some(o) = seq.next_element::<SchemaObject>()? {
            bytes += o.size() as u64;
            out.push(o);
            if out.len() > limits::MAX_SCHEMA_OBJECTS || bytes > limits::MAX_SCHEMA_BYTES {
                *self.over = true;
                return Err(de::Error::custom("schema over the limit"));
            }
        }
        Ok(out)
    }
}

/// A table's `columns`, compared with the schema's as they stream; sets
/// `differs` (the first difference, shortened) and stops at the first one.
struct ColumnsSeed<'a> {
    expected: &'a [String],
    differs: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for ColumnsSeed<'_> {
    type Value = Vec<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ColumnsSeed<'_> {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of column names")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::with_capacity(self.expected.len());
        while let Some(c) = seq.next_element::<String>()? {
            match self.expected.get(out.len()) {
                Some(e) if *e == c => out.push(c),
                Some(_) => {
                    *self.differs = Some(format!("'{}' at position {}", shown(&c), out.len() + 1));
                    return Err(de::Error::custom("columns differ"));
                }
                None => {
                    *self.differs = Some(format!("more than {}", self.expected.len()));
                    return Err(de::Error::custom("columns differ"));
                }
            }
        }
        Ok(out)
    }
}

/// Decodes a base64 string, or an array of base64 chunks, into a buffer of
/// at most `budget` bytes.
struct Base64Seed<'s> {
    out: &'s mut Vec<u8>,
    budget: u64,
    over: &'s mut bool,
}

impl<'de> DeserializeSeed<'de> for Base64Seed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Base64Seed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("base64 text or an array of base64 chunks")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if (self.out.len() + v.len() / 4 * 3) as u64 > self.budget {
            *self.over = true;
            return Err(E::custom("value over the memory limit"));
        }
        B64.decode_vec(v, self.out)
            .map_err(|e| E::custom(format!("bad base64: {e}")))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Base64Chunk(Base64Seed {
                out: &mut *self.out,
                budget: self.budget,
                over: &mut *self.over,
            }))?
            .is_some()
        {}
        Ok(())
    }
}

struct Base64Chunk<'s>(Base64Seed<'s>);

impl<'de> DeserializeSeed<'de> for Base64Chunk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self.0)
    }
}
