//! Defences for reading untrusted backup files.
//!
//! * [`TokenGuard`] caps the length of any single JSON token (string, number
//!   or whitespace run). `serde_json` buffers a whole string before handing
//!   it over, so without this cap one hostile (or decompression-bomb) string
//!   could take unbounded memory. Legitimate documents never exceed it: big
//!   values are written in chunks of [`crate::format::CHUNK_RAW`] bytes.
//! * [`check_schema_statement`] lets only `CREATE TABLE/INDEX/VIEW/TRIGGER`
//!   and virtual tables of known modules through, using a lexical check of
//!   the statement's head plus SQLite's own authorizer.

use std::io::{self, Read};

use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

/// Longest single token accepted: a 192 KiB chunk is 256 KiB of base64; text
/// escapes can grow a string up to six times.
pub const MAX_TOKEN: u64 = 16 << 20;

/// Virtual table modules a backup may create.
pub const ALLOWED_MODULES: &[&str] = &["fts3", "fts4", "fts5", "rtree", "rtree_i32"];

/// Marker carried by the I/O error a guard raises.
#[derive(Debug)]
pub struct TokenTooLarge;
impl std::fmt::Display for TokenTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a single JSON value is longer than {} MiB",
            MAX_TOKEN >> 20
        )
    }
}
impl std::error::Error for TokenTooLarge {}

pub struct TokenGuard<R> {
    inner: R,
    in_str: bool,
    escaped: bool,
    run: u64,
    /// Digits of the current number token, while it is still an integer.
    int_digits: u32,
    is_float: bool,
}

/// Marker carried by the I/O error raised for an integer literal wider than
/// 64 bits. `serde_json` would silently turn it into a float, so the bytes
/// are checked before they are parsed: a number spelled without `.`, `e`
/// or `E` is an INTEGER in the backup format, and none has over 19 digits.
#[derive(Debug)]
pub struct IntegerTooLarge;
impl std::fmt::Display for IntegerTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an integer is outside SQLite's 64-bit range")
    }
}
impl std::error::Error for IntegerTooLarge {}

impl<R: Read> TokenGuard<R> {
    pub fn new(inner: R) -> Self {
        TokenGuard {
            inner,
            in_str: false,
            escaped: false,
            run: 0,
            int_digits: 0,
            is_float: false,
        }
    }

    /// At the end of a token: an integer literal of over 19 digits cannot
    /// be a 64-bit integer.
    fn end_number(&mut self) -> io::Result<()> {
        let too_wide = !self.is_float && self.int_digits > 19;
        self.int_digits = 0;
        self.is_float = false;
        if too_wide {
            return Err(io::Error::new(io::ErrorKind::InvalidData, IntegerTooLarge));
        }
        Ok(())
    }

    fn scan(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut i = 0;
        while i < buf.len() {
            if self.in_str {
                if self.escaped {
                    self.escaped = false;
                    self.run += 1;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                    None => {
                        self.run += (buf.len() - i) as u64;
                        i = buf.len();
                    }
                    Some(j) => {
                        self.run += j as u64;
                        if self.run > MAX_TOKEN {
                            return Err(io::Error::new(io::ErrorKind::InvalidData, TokenTooLarge));
                        }
                        if buf[i + j] == b'"' {
                            self.in_str = false;
                            self.run = 0;
                        } else {
                            self.escaped = true;
                        }
                        i += j + 1;
                    }
                }
            } else {
                match buf[i] {
                    b'"' => {
                        self.in_str = true;
                        self.run = 0;
                    }
                    b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                        self.end_number()?;
                        self.run = 0;
                    }
                    b' ' | b'\t' | b'\n' | b'\r' => {
                        self.end_number()?;
                        self.run += 1;
                    }
                    b'0'..=b'9' => {
                        self.run += 1;
                        self.int_digits = self.int_digits.saturating_add(1);
                    }
                    b'.' | b'e' | b'E' => {
                        self.run += 1;
                        self.is_float = true;
                    }
                    _ => self.run += 1,
                }
                i += 1;
            }
            if self.run > MAX_TOKEN {
                return Err(io::Error::new(io::ErrorKind::InvalidData, TokenTooLarge));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for TokenGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.scan(&buf[..n])?;
        Ok(n)
    }
}

/// The leading keywords of a statement, upper-cased, comments skipped.
fn leading_keywords(sql: &str, n: usize) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < n && i < b.len() {
        match b[i] {
            c if c.is_ascii_whitespace() => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(sql[start..i].to_ascii_uppercase());
            }
            _ => break,
        }
    }
    out
}

/// Why a schema statement was refused, or `None` when its head is one of
/// the accepted forms for the declared object type.
fn head_problem(kind: &str, sql: &str) -> Option<String> {
    let kw = leading_keywords(sql, 3);
    let words: Vec<&str> = kw.iter().map(String::as_str).collect();
    let ok = match kind {
        "table" => matches!(
            words.as_slice(),
            ["CREATE", "TABLE", ..] | ["CREATE", "VIRTUAL", "TABLE"]
        ),
        "index" => matches!(
            words.as_slice(),
            ["CREATE", "INDEX", ..] | ["CREATE", "UNIQUE", "INDEX"]
        ),
        "view" => matches!(words.as_slice(), ["CREATE", "VIEW", ..]),
        "trigger" => matches!(words.as_slice(), ["CREATE", "TRIGGER", ..]),
        other => return Some(format!("unknown object type '{other}'")),
    };
    if ok {
        None
    } else {
        Some(format!(
            "the statement begins with '{}', not CREATE {}",
            words.join(" "),
            kind.to_uppercase()
        ))
    }
}

fn authorize(creating: &str, vtabs: &[String], ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        // CREATE INDEX fills the new index with a reindex of that index only.
        AuthAction::Reindex { index_name } if index_name == creating => Authorization::Allow,
        AuthAction::CreateTable { .. }
        | AuthAction::CreateIndex { .. }
        | AuthAction::CreateView { .. }
        | AuthAction::CreateTrigger { .. }
        | AuthAction::Read { .. }
        | AuthAction::Select
        | AuthAction::Function { .. }
        | AuthAction::Recursive => Authorization::Allow,
        // Writes only to the schema table, and to the shadow tables that a
        // virtual table module fills while the table is created.
        AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
            if writable_while_creating(creating, vtabs, table_name) =>
        {
            Authorization::Allow
        }
        // Read-only pragmas that modules run internally: R-Tree sizes its
        // nodes from the page size, FTS5 checks the data version.
        AuthAction::Pragma {
            pragma_name,
            pragma_value: None,
        } if ["page_size", "data_version"]
            .iter()
            .any(|p| pragma_name.eq_ignore_ascii_case(p)) =>
        {
            Authorization::Allow
        }
        AuthAction::CreateVtable { module_name, .. }
            if ALLOWED_MODULES
                .iter()
                .any(|m| m.eq_ignore_ascii_case(module_name)) =>
        {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }
}

/// The schema table, and shadow tables (`<vtab>_<suffix>`) of the object
/// being created or of virtual tables already created: modules such as FTS5
/// flush their buffered index into them when a later statement runs.
fn writable_while_creating(creating: &str, vtabs: &[String], table: &str) -> bool {
    let shadow_of = |owner: &str| {
        table
            .strip_prefix(owner)
            .is_some_and(|rest| rest.starts_with('_'))
    };
    table.eq_ignore_ascii_case("sqlite_master")
        || shadow_of(creating)
        || vtabs.iter().any(|v| shadow_of(v))
}

/// Why a schema statement from a backup file was refused, in words the
/// caller puts into [`crate::InvalidBackup::RefusedSchema`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

impl From<String> for Refusal {
    fn from(s: String) -> Self {
        Refusal(s)
    }
}

impl From<&str> for Refusal {
    fn from(s: &str) -> Self {
        Refusal(s.to_string())
    }
}

/// Executes one schema statement from an untrusted document, or explains
/// why it was refused.
pub fn create_guarded(conn: &Connection, kind: &str, name: &str, sql: &str) -> Result<(), Refusal> {
    if let Some(p) = head_problem(kind, sql) {
        return Err(Refusal(p));
    }
    let creating = name.to_string();
    let vtabs: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'virtual'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| Refusal(e.to_string()))?;
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        authorize(&creating, &vtabs, ctx)
    }));
    let r = conn.prepare(sql).and_then(|mut s| s.raw_execute());
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    match r {
        Ok(_) => {}
        Err(rusqlite::Error::MultipleStatement) => {
            return Err("it holds more than one statement".into());
        }
        Err(e) if e.to_string().contains("not authorized") => {
            return Err(
                "it asks SQLite for something other than creating the object (not authorized)"
                    .into(),
            );
        }
        Err(e) => return Err(format!("SQLite rejected it: {e}").into()),
    }
    let created: Option<String> = conn
        .query_row(
            "SELECT type FROM main.sqlite_schema WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .ok();
    match created {
        Some(t) if t == kind => Ok(()),
        _ => Err(format!("the statement does not create the {kind} named '{name}'").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_create(kind: &str, name: &str, sql: &str) -> Result<(), Refusal> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE base(a, b)").unwrap();
        create_guarded(&conn, kind, name, sql)
    }

    #[test]
    fn accepts_every_kind_of_schema_object() {
        let conn = Connection::open_in_memory().unwrap();
        for (kind, name, sql) in [
            (
                "table",
                "t",
                "CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, x TEXT, y AS (x || '!'))",
            ),
            (
                "table",
                "w",
                "CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID",
            ),
            ("table", "s", "CREATE TABLE s(a INT, b TEXT) STRICT"),
            ("index", "ix", "CREATE UNIQUE INDEX ix ON t(x)"),
            ("view", "v", "CREATE VIEW v AS SELECT x FROM t"),
            (
                "trigger",
                "tr",
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM w; END",
            ),
            ("table", "f", "CREATE VIRTUAL TABLE f USING fts5(body)"),
            (
                "table",
                "r",
                "CREATE VIRTUAL TABLE r USING rtree(id, x0, x1)",
            ),
            (
                "table",
                "f4",
                "/* c */ CREATE VIRTUAL TABLE f4 USING fts4(body)",
            ),
        ] {
            create_guarded(&conn, kind, name, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn refuses_everything_else() {
        for (kind, name, sql) in [
            ("table", "x", "ATTACH DATABASE '/tmp/evil.db' AS evil"),
            ("table", "x", "PRAGMA writable_schema = ON"),
            ("table", "base", "DROP TABLE base"),
            ("table", "x", "INSERT INTO base VALUES (1, 2)"),
            ("table", "x", "CREATE TABLE x(a); DROP TABLE base"),
            ("table", "x", "CREATE TEMP TABLE x(a)"),
            (
                "table",
                "x",
                "CREATE VIRTUAL TABLE x USING fts3tokenize(simple)",
            ),
            ("table", "x", "CREATE TABLE y(a)"),
            ("view", "x", "CREATE TABLE x(a)"),
            ("index", "x", "CREATE VIEW x AS SELECT 1"),
            ("table", "x", "CREATE TABLE x(a"),
            ("weird", "x", "CREATE TABLE x(a)"),
        ] {
            let e = try_create(kind, name, sql).expect_err(sql);
            assert!(!e.0.is_empty());
        }
    }

    #[test]
    fn integers_wider_than_64_bits_are_refused_before_parsing() {
        let pass =
            |doc: &str| io::copy(&mut TokenGuard::new(doc.as_bytes()), &mut io::sink()).is_ok();
        assert!(pass(
            "[9223372036854775807, -9223372036854775808, 1e300, 12345678901234567890123.5, \"99999999999999999999999\"]"
        ));
        assert!(!pass("[1, 99999999999999999999999]"));
        assert!(!pass("[-99999999999999999999]"));
    }

    #[test]
    fn guard_caps_single_tokens_but_not_documents() {
        let long_string = format!("[\"{}\"]", "a".repeat(MAX_TOKEN as usize + 10));
        let mut g = TokenGuard::new(long_string.as_bytes());
        let err = io::copy(&mut g, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("longer than"));

        let spaces = format!("[{}1]", " ".repeat(MAX_TOKEN as usize + 10));
        assert!(io::copy(&mut TokenGuard::new(spaces.as_bytes()), &mut io::sink()).is_err());

        let many: String = std::iter::repeat_n("\"ab\\\"c\",", 3_000_000).collect();
        let doc = format!("[{many}1]");
        assert!(doc.len() as u64 > MAX_TOKEN);
        io::copy(&mut TokenGuard::new(doc.as_bytes()), &mut io::sink()).unwrap();
    }
}
