//! Collations that applications register on their own connections.
//!
//! A table or index declared `COLLATE name` with a collation SQLite does not
//! have built in cannot be read, created or checked without it: an Anki
//! collection (`tag TEXT PRIMARY KEY COLLATE unicase` in a `WITHOUT ROWID`
//! table) fails with "no query solution" on read and "no such collation
//! sequence" on restore. Nuage registers the collations it knows, exactly as
//! their applications define them, on every connection that reads a source
//! or builds a restore. At backup time it proves that the source's b-trees
//! are in the order its implementation gives ([`check_order`]); a
//! collation it does not know, or one whose order differs, is refused there,
//! naming the object — never discovered at restore time.

use rusqlite::Connection;

use super::sql::quote_ident;

/// SQLite's own collations, always present.
pub const BUILT_IN: &[&str] = &["BINARY", "NOCASE", "RTRIM"];

/// The collations Nuage implements, by name.
pub const KNOWN: &[&str] = &["unicase"];

/// Registers every collation of [`KNOWN`] on `conn`.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    // Anki (rslib/src/storage/sqlite.rs) and the rusqlite documentation
    // define `unicase` as Unicode case-folded comparison by the `unicase`
    // crate; the same crate gives the same order.
    conn.create_collation("unicase", |a, b| {
        unicase::UniCase::new(a).cmp(&unicase::UniCase::new(b))
    })
}

/// An index (or the primary key of a table without rowid) ordered by a
/// collation that SQLite does not have built in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppOrdered {
    pub table: String,
    /// "its primary key" or "index 'name'".
    pub index: String,
    pub collation: String,
}

/// Every b-tree of `tables` ordered by an application's collation.
pub fn app_ordered(conn: &Connection, tables: &[String]) -> rusqlite::Result<Vec<AppOrdered>> {
    let mut out = Vec::new();
    let mut list = conn.prepare("SELECT name, origin FROM pragma_index_list(?1, 'main')")?;
    let mut xinfo =
        conn.prepare("SELECT DISTINCT coll FROM pragma_index_xinfo(?1, 'main') WHERE key = 1")?;
    for t in tables {
        let indexes: Vec<(String, String)> = list
            .query_map([t], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (index, origin) in indexes {
            let colls: Vec<Option<String>> = xinfo
                .query_map([&index], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for c in colls.into_iter().flatten() {
                if !BUILT_IN.iter().any(|b| b.eq_ignore_ascii_case(&c)) {
                    out.push(AppOrdered {
                        table: t.clone(),
                        index: if origin == "pk" {
                            "its primary key".to_string()
                        } else {
                            format!("index '{index}'")
                        },
                        collation: c,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Checks that each table's b-trees ordered by an application's collation
/// are in the order Nuage's implementation of it gives, so that a restore
/// rebuilds them as the application expects. Returns the first problem:
/// the table and why.
pub fn check_order(
    conn: &Connection,
    ordered: &[AppOrdered],
) -> rusqlite::Result<Option<(String, String)>> {
    let mut checked: Vec<&str> = Vec::new();
    for o in ordered {
        if checked.contains(&o.table.as_str()) {
            continue;
        }
        checked.push(&o.table);
        let problems: Vec<String> = conn
            .prepare(&format!(
                "PRAGMA main.integrity_check({})",
                quote_ident(&o.table)
            ))?
            .query_map([], |r| r.get(0))?
            .take(3)
            .collect::<rusqlite::Result<_>>()?;
        if problems != ["ok"] {
            return Ok(Some((
                o.table.clone(),
                format!(
                    "{} is ordered by the collation '{}' of its application, and Nuage's '{}' orders its rows differently ({}), so a restore could not rebuild it as the application expects",
                    o.index,
                    o.collation,
                    o.collation,
                    problems.join("; ")
                ),
            )));
        }
    }
    Ok(None)
}
