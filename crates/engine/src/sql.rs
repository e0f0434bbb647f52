//! Small SQL helpers shared by snapshot and restore.

use rusqlite::Connection;

/// Quotes an identifier for SQLite: `"` doubled, the whole wrapped in `"`.
/// Every table and column name that reaches SQL text goes through here.
pub fn quote_ident(s: &str) -> String {
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

/// `(name, hidden)` for every column of `table` in `main`, in order. `hidden`
/// is 0 for ordinary columns, 1 for hidden virtual-table columns, 2 and 3 for
/// generated columns (virtual, stored), which are recomputed, not stored.
pub fn table_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut stmt =
        conn.prepare("SELECT name, hidden FROM pragma_table_xinfo(?1, 'main') ORDER BY cid")?;
    let rows = stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_hostile_names() {
        let conn = Connection::open_in_memory().unwrap();
        let name = "a\"b; DROP TABLE x; --";
        conn.execute_batch(&format!(
            "CREATE TABLE {}({} INT)",
            quote_ident(name),
            quote_ident("c\"d")
        ))
        .unwrap();
        let cols = table_columns(&conn, name).unwrap();
        assert_eq!(cols, vec![("c\"d".to_string(), 0)]);
    }
}
