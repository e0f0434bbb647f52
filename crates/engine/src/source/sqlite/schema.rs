//! Schema statements from an untrusted backup file: only
//! `CREATE TABLE/INDEX/VIEW/TRIGGER` and virtual tables of known modules
//! pass, through a lexical check of the statement's head plus SQLite's own
//! authorizer.

use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

/// Virtual table modules a backup may create.
pub const ALLOWED_MODULES: &[&str] = &["fts3", "fts4", "fts5", "rtree", "rtree_i32"];

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

fn authorize(
    creating: &str,
    plain_table: bool,
    vtabs: &[String],
    ctx: AuthContext<'_>,
) -> Authorization {
    match ctx.action {
        // A table made from a query (`CREATE TABLE … AS SELECT`) would run
        // that query, unbounded; SQLite never stores a table that way, so
        // no backup holds one. A plain table has no query of its own: CHECK,
        // DEFAULT and generated columns cannot hold a subquery. (Virtual
        // table modules run their own queries while they create a table.)
        AuthAction::Select | AuthAction::Recursive if plain_table => Authorization::Deny,
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

/// The schema table, the virtual tables already created and their shadow
/// tables (`<vtab>_<suffix>`), and those of the object being created:
/// modules flush their buffered index when a later statement runs (FTS5
/// into its shadow tables; FTS3/FTS4 also through an insert into the table
/// itself). The statement being run is one CREATE of the declared kind
/// (checked before), which cannot express a write: such writes come only
/// from the modules' own work.
fn writable_while_creating(creating: &str, vtabs: &[String], table: &str) -> bool {
    let shadow_of = |owner: &str| {
        table
            .strip_prefix(owner)
            .is_some_and(|rest| rest.starts_with('_'))
    };
    table.eq_ignore_ascii_case("sqlite_master")
        || shadow_of(creating)
        || vtabs
            .iter()
            .any(|v| shadow_of(v) || v.eq_ignore_ascii_case(table))
}

/// Why a schema statement from a backup file was refused, in words the
/// caller puts into [`crate::InvalidBackup::RefusedSchema`], and SQLite's
/// extended result code when SQLite refused it (a limit the document hit
/// reads as such, not as a refusal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String, pub Option<i32>);

impl From<String> for Refusal {
    fn from(s: String) -> Self {
        Refusal(s, None)
    }
}

impl From<&str> for Refusal {
    fn from(s: &str) -> Self {
        Refusal(s.to_string(), None)
    }
}

/// Executes one schema statement from an untrusted document, or explains
/// why it was refused.
pub fn create_guarded(conn: &Connection, kind: &str, name: &str, sql: &str) -> Result<(), Refusal> {
    if let Some(p) = head_problem(kind, sql) {
        return Err(Refusal(p, None));
    }
    let creating = name.to_string();
    let plain_table = kind == "table" && leading_keywords(sql, 2) == ["CREATE", "TABLE"];
    let vtabs: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'virtual'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| Refusal(e.to_string(), None))?;
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        authorize(&creating, plain_table, &vtabs, ctx)
    }));
    let r = conn.prepare(sql).and_then(|mut s| s.raw_execute());
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    match r {
        Ok(_) => {}
        Err(rusqlite::Error::MultipleStatement) => {
            return Err("it holds more than one statement".into());
        }
        // Within a plain CREATE TABLE, only a query is denied.
        Err(e) if plain_table && e.to_string().contains("not authorized") => {
            return Err(
                "a table made from a query (CREATE TABLE … AS SELECT) is never in a backup".into(),
            );
        }
        Err(e) if e.to_string().contains("not authorized") => {
            return Err(
                "it asks SQLite for something other than creating the object (not authorized)"
                    .into(),
            );
        }
        Err(e) => {
            let code = match &e {
                rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
                _ => None,
            };
            return Err(Refusal(format!("SQLite rejected it: {e}"), code));
        }
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
}
