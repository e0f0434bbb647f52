//! What reading one backup document may cost, whatever the document says.
//! A backup file is untrusted input: these bounds make a hostile one fail
//! quickly with a clear error, within a fixed memory budget (the whole
//! import stays under 64 MiB of resident memory) and a disk budget
//! proportional to the file's size. The writer keeps every document Nuage
//! makes within them, refusing at backup time, naming the table and row,
//! what a restore could not take.

use std::time::Duration;

/// The most one value may take in memory while it is restored: text values
/// (SQLite builds a text value whole) and every value of a table without
/// rowid (no incremental I/O there). BLOBs of rowid tables stream and are
/// bounded only by SQLite's own maximum.
pub const MAX_VALUE_IN_MEMORY: u64 = 8 << 20;

/// The most the values held in memory for one row may take together
/// (SQLite copies bound values and builds the whole record).
pub const MAX_ROW_IN_MEMORY: u64 = 8 << 20;

/// The most schema objects a document may hold, and the most bytes of
/// names and statements they may take together: SQLite keeps a parsed
/// schema in memory (a 1 MiB schema takes about 30 MiB of its heap).
pub const MAX_SCHEMA_OBJECTS: usize = 20_000;
pub const MAX_SCHEMA_BYTES: u64 = 1 << 20;

/// The heap SQLite may use in a process that restores (page cache,
/// records, sorting for indexes): allocations past it fail cleanly.
pub const SQLITE_HEAP: i64 = 40 << 20;

/// A document may expand to this many times its stored size…
pub const MAX_EXPANSION_RATIO: u64 = 1024;
/// …and always to at least this many bytes.
pub const MIN_EXPANSION: u64 = 256 << 20;

/// The most decompressed bytes a document stored in `stored` bytes may
/// expand to.
pub fn max_expanded(stored: u64) -> u64 {
    stored
        .saturating_mul(MAX_EXPANSION_RATIO)
        .max(MIN_EXPANSION)
}

/// The largest database a document of `expanded` bytes may build: its data
/// plus indexes over all of it, twice over, and room for the schema.
pub fn max_database(expanded: u64) -> u64 {
    expanded.saturating_mul(3).saturating_add(64 << 20)
}

/// Time any load may take…
pub const LOAD_TIME_BASE: Duration = Duration::from_secs(60);
/// …plus one second per this many decompressed bytes read (a slow debug
/// build loads ten times faster than this).
pub const LOAD_MIN_RATE: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_grows_with_the_stored_size_and_never_overflows() {
        assert_eq!(max_expanded(0), MIN_EXPANSION);
        assert_eq!(max_expanded(1 << 20), 1 << 30);
        assert_eq!(max_expanded(u64::MAX), u64::MAX);
        assert_eq!(max_database(u64::MAX), u64::MAX);
    }
}
