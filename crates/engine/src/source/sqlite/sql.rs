//! Small SQL helpers shared by snapshot and restore.

use rusqlite::Connection;

pub(crate) use crate::source::quote_ident;

/// Whether a failed SQLite call on `conn` ran out of disk space (or hit a
/// file size limit): SQLITE_FULL, or an I/O error whose system errno says so.
pub fn is_disk_full(conn: &Connection, e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => true,
        rusqlite::Error::SqliteFailure(f, _) if f.code != rusqlite::ErrorCode::SystemIoFailure => {
            false
        }
        _ => last_error_is_disk_full(conn),
    }
}

/// The same test on the connection's last error, for failures that reach
/// us wrapped in another type (incremental blob I/O gives `io::Error`).
pub fn last_error_is_disk_full(conn: &Connection) -> bool {
    // SAFETY: the handle is valid for the connection's lifetime; these calls
    // only read the connection's last error state.
    let (code, errno) = unsafe {
        let h = conn.handle();
        // rusqlite turns extended result codes on: keep the primary code.
        (
            rusqlite::ffi::sqlite3_errcode(h) & 0xff,
            rusqlite::ffi::sqlite3_system_errno(h),
        )
    };
    code == rusqlite::ffi::SQLITE_FULL
        || (code == rusqlite::ffi::SQLITE_IOERR
            && matches!(errno, libc::ENOSPC | libc::EDQUOT | libc::EFBIG))
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
