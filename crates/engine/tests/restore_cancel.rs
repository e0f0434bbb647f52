//! A preview or restore can be cancelled while it reads the backup (nothing
//! changes), and it does not hold the home's lock while it reads: scheduled
//! backups are not blocked by a large or hostile file being parsed.

mod support;

use nuage_engine::{BackupRef, Cancel, Error, Event, HomeLock, RunOutcome};
use rusqlite::Connection;

fn source_with_rows(dir: &std::path::Path, rows: u32) -> std::path::PathBuf {
    let db = dir.join("shop.db");
    let c = Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT)")
        .unwrap();
    c.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO orders SELECT i, 'item ' || i FROM n",
        [rows],
    )
    .unwrap();
    db
}

#[test]
fn an_in_place_restore_reads_without_the_lock_and_can_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let db = source_with_rows(dir.path(), 50_000);
    let e = support::engine(dir.path());
    e.add_source(&db, Some("shop")).unwrap();
    let out = e.backup(&["shop".to_string()], &mut |_| {}).unwrap();
    assert_eq!(out[0].status, RunOutcome::BackedUp);
    let point = e.restore_points(Some("shop")).unwrap().remove(0);
    Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders WHERE id > 10", [])
        .unwrap();
    let before = std::fs::read(&db).unwrap();

    let cancel = Cancel::default();
    let mut lock_free_while_reading = false;
    let r = e.restore_in_place(
        &BackupRef::Point(point.clone()),
        &mut |ev| {
            if let Event::RestoreProgress { .. } = ev
                && !cancel.is_cancelled()
            {
                // Another process (the scheduler) can take the home now.
                lock_free_while_reading = HomeLock::acquire(e.home()).is_ok();
                cancel.cancel();
            }
        },
        &cancel,
    );
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert!(lock_free_while_reading, "the home was locked while reading");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the source changed");
    // Nothing left in the work folder, and no safety point was made.
    let work: Vec<_> = std::fs::read_dir(e.home().join("tmp"))
        .map(|d| d.flatten().map(|f| f.file_name()).collect())
        .unwrap_or_default();
    assert!(work.is_empty(), "{work:?}");
    assert_eq!(e.restore_points(Some("shop")).unwrap().len(), 1);

    // A preview cancelled before it starts reads nothing.
    let cancelled = Cancel::default();
    cancelled.cancel();
    let r = e.preview(&BackupRef::Point(point), &mut |_| {}, &cancelled);
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
}
