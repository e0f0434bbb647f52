//! Backups of databases that an application keeps using.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nuage_engine::{BackupRef, Cancel, RunOutcome};
use rusqlite::Connection;
use support::{engine, logical};

const ACCOUNTS: i64 = 50;
const START: i64 = 1_000;

fn bank(path: &Path, wal: bool) {
    let c = Connection::open(path).unwrap();
    if wal {
        c.execute_batch("PRAGMA journal_mode = WAL").unwrap();
    }
    c.execute_batch(
        "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
         CREATE TABLE ledger(id INTEGER PRIMARY KEY, src INTEGER, dst INTEGER, amount INTEGER, memo TEXT);",
    )
    .unwrap();
    for i in 0..ACCOUNTS {
        c.execute("INSERT INTO accounts VALUES (?1, ?2)", [i, START])
            .unwrap();
    }
}

/// The invariant a half-applied transfer would break: every balance equals
/// its opening balance plus what the ledger moved in and out, and money is
/// neither created nor lost.
fn assert_consistent(path: &Path) -> i64 {
    let c = Connection::open(path).unwrap();
    let total: i64 = c
        .query_row("SELECT sum(balance) FROM accounts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        total,
        ACCOUNTS * START,
        "money created or lost in {}",
        path.display()
    );
    let bad: i64 = c
        .query_row(
            "SELECT count(*) FROM accounts a WHERE a.balance != ?1
               + coalesce((SELECT sum(amount) FROM ledger WHERE dst = a.id), 0)
               - coalesce((SELECT sum(amount) FROM ledger WHERE src = a.id), 0)",
            [START],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        bad,
        0,
        "balances disagree with the ledger in {}",
        path.display()
    );
    c.query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))
        .unwrap()
}

/// Transfers money between accounts in transactions until told to stop;
/// returns the number of commits and the longest commit (including waits).
fn writer(
    path: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let mut c = Connection::open(&path).unwrap();
        c.busy_timeout(Duration::from_secs(30)).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut worst = Duration::ZERO;
        while !stop.load(Ordering::Relaxed) {
            let (a, b) = (rng.i64(0..ACCOUNTS), rng.i64(0..ACCOUNTS));
            let amount = rng.i64(1..50);
            let started = Instant::now();
            let tx = c.transaction().unwrap();
            tx.execute(
                "UPDATE accounts SET balance = balance - ?2 WHERE id = ?1",
                [a, amount],
            )
            .unwrap();
            // A little work inside the transaction widens the window for a torn read.
            tx.execute(
                "INSERT INTO ledger(src, dst, amount, memo) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![a, b, amount, "x".repeat(200)],
            )
            .unwrap();
            tx.execute(
                "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
                [b, amount],
            )
            .unwrap();
            tx.commit().unwrap();
            worst = worst.max(started.elapsed());
            commits.fetch_add(1, Ordering::Relaxed);
            // A busy application, not a tight loop: rollback-journal readers
            // can only get in between transactions.
            std::thread::sleep(Duration::from_millis(1));
        }
        worst
    })
}

fn consistent_snapshots_under_concurrent_writes(wal: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    bank(&db, wal);
    let e = engine(dir.path());
    e.add_source(&db, Some("bank")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let handle = writer(db.clone(), stop.clone(), commits.clone());
    let mut ledger_sizes = Vec::new();
    for i in 0..8 {
        // Let some commits land between snapshots.
        let before = commits.load(Ordering::Relaxed);
        while commits.load(Ordering::Relaxed) < before + 50 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let out = e.backup(&[], &mut |_| {}).unwrap();
        assert_eq!(
            out[0].status,
            RunOutcome::BackedUp,
            "run {i}: {:?}",
            out[0].error
        );
        let to = dir.path().join(format!("restored-{i}.db"));
        support::restore_newest(&e, "bank", &to);
        ledger_sizes.push(assert_consistent(&to));
    }
    stop.store(true, Ordering::Relaxed);
    let worst = handle.join().unwrap();
    assert!(
        ledger_sizes.windows(2).all(|w| w[0] < w[1]),
        "each snapshot sees more commits: {ledger_sizes:?}"
    );
    // The writer was never stopped for long (the bound documented in snapshot.rs).
    assert!(worst < Duration::from_secs(2), "a commit waited {worst:?}");
    eprintln!(
        "{} mode: {} commits during 8 backups, slowest commit {worst:?}",
        if wal { "WAL" } else { "rollback" },
        commits.load(Ordering::Relaxed)
    );
}

#[test]
fn wal_snapshots_are_consistent_while_the_app_writes() {
    consistent_snapshots_under_concurrent_writes(true);
}

#[test]
fn rollback_journal_snapshots_are_consistent_while_the_app_writes() {
    consistent_snapshots_under_concurrent_writes(false);
}

fn file_state(p: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (
        std::fs::read(p).unwrap(),
        std::fs::metadata(p).unwrap().modified().unwrap(),
    )
}

#[test]
fn backup_never_modifies_the_source() {
    for wal in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("src.db");
        bank(&db, wal);
        // Leave committed data in the WAL with the app's connection open.
        let app = Connection::open(&db).unwrap();
        app.execute_batch(
            "PRAGMA wal_autocheckpoint = 0; UPDATE accounts SET balance = balance + 0",
        )
        .unwrap();
        let wal_path = dir.path().join("src.db-wal");
        let before = file_state(&db);
        let wal_before = wal_path.exists().then(|| std::fs::read(&wal_path).unwrap());
        let e = engine(dir.path());
        e.add_source(&db, Some("s")).unwrap();
        assert_eq!(
            e.backup(&[], &mut |_| {}).unwrap()[0].status,
            RunOutcome::BackedUp
        );
        assert_eq!(
            file_state(&db),
            before,
            "the database file changed (wal={wal})"
        );
        assert_eq!(
            wal_path.exists().then(|| std::fs::read(&wal_path).unwrap()),
            wal_before,
            "the WAL changed"
        );
        drop(app);
    }
}

#[test]
fn unchanged_sources_are_skipped_and_every_change_is_seen() {
    for wal in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        bank(&db, wal);
        let e = engine(dir.path());
        e.add_source(&db, Some("s")).unwrap();
        let first = e.backup(&[], &mut |_| {}).unwrap().remove(0);
        assert_eq!(first.status, RunOutcome::BackedUp);
        let again = e.backup(&[], &mut |_| {}).unwrap().remove(0);
        assert_eq!(again.status, RunOutcome::Unchanged);
        assert_eq!(again.id, first.id);
        assert_eq!(
            e.restore_points(None).unwrap().len(),
            1,
            "no new copy for an unchanged source"
        );
        // Many small changes, each followed by a backup: none is missed, even
        // when it keeps the file's size and lands in the same clock tick.
        let c = Connection::open(&db).unwrap();
        for i in 1..=20 {
            c.execute("UPDATE accounts SET balance = ?1 WHERE id = 0", [START + i])
                .unwrap();
            let o = e.backup(&[], &mut |_| {}).unwrap().remove(0);
            assert_eq!(
                o.status,
                RunOutcome::BackedUp,
                "change {i} missed (wal={wal})"
            );
            let to = dir.path().join(format!("r{i}.db"));
            support::restore_newest(&e, "s", &to);
            let b: i64 = Connection::open(&to)
                .unwrap()
                .query_row("SELECT balance FROM accounts WHERE id = 0", [], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(b, START + i);
        }
    }
}

#[test]
fn a_closed_wal_database_is_unchanged_after_its_own_backup() {
    // Regression: the read-only snapshot left an empty -wal file behind,
    // which made the next run back up an unchanged database again.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("closed.db");
    bank(&db, true);
    let e = engine(dir.path());
    e.add_source(&db, Some("c")).unwrap();
    // The application writes and closes cleanly: SQLite removes its WAL.
    Connection::open(&db)
        .unwrap()
        .execute("UPDATE accounts SET balance = 7 WHERE id = 3", [])
        .unwrap();
    assert!(!dir.path().join("closed.db-wal").exists());
    assert_eq!(
        e.backup(&[], &mut |_| {}).unwrap()[0].status,
        RunOutcome::BackedUp
    );
    assert_eq!(
        e.backup(&[], &mut |_| {}).unwrap()[0].status,
        RunOutcome::Unchanged
    );
}

#[test]
fn restore_in_place_keeps_the_app_working_and_a_safety_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    bank(&db, true);
    let e = engine(dir.path());
    e.add_source(&db, Some("app")).unwrap();
    e.backup(&[], &mut |_| {}).unwrap();
    let good = e.restore_points(Some("app")).unwrap().remove(0);
    let good_state = logical(&db);
    // The application keeps its connection and damages the data.
    let app = Connection::open(&db).unwrap();
    app.execute_batch("DELETE FROM ledger; UPDATE accounts SET balance = 0;")
        .unwrap();
    let damaged = logical(&db);
    let report = e
        .restore_in_place(
            &BackupRef::Point(good.clone()),
            &mut |_| {},
            &Cancel::default(),
        )
        .unwrap();
    // The app's open connection sees the restored data.
    let total: i64 = app
        .query_row("SELECT sum(balance) FROM accounts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total, ACCOUNTS * START);
    assert_eq!(logical(&db), good_state);
    // The damaged state was kept as a restore point, and restores exactly.
    let safety = report.safety_point.expect("a safety copy");
    assert_ne!(safety, good.id);
    let p = e
        .restore_points(Some("app"))
        .unwrap()
        .into_iter()
        .find(|p| p.id == safety)
        .unwrap();
    let to = dir.path().join("damaged.db");
    support::restore_point(&e, p, &to);
    assert_eq!(logical(&to), damaged);
}

#[test]
fn retention_prunes_old_copies_but_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    bank(&db, false);
    let e = engine(dir.path());
    e.add_source(&db, Some("r")).unwrap();
    e.set_retention("r", Some(2), None).unwrap();
    let c = Connection::open(&db).unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        c.execute("UPDATE accounts SET balance = ?1 WHERE id = 1", [i])
            .unwrap();
        ids.push(e.backup(&[], &mut |_| {}).unwrap().remove(0).id.unwrap());
    }
    let left: Vec<String> = e
        .restore_points(Some("r"))
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(left, vec![ids[4].clone(), ids[3].clone()]);
    let files = std::fs::read_dir(dir.path().join("home/backups/r"))
        .unwrap()
        .count();
    assert_eq!(files, 2, "pruned copies are deleted from disk");
}

#[test]
fn local_copies_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    bank(&db, false);
    let e = engine(dir.path());
    e.add_source(&db, Some("p")).unwrap();
    e.backup(&[], &mut |_| {}).unwrap();
    let p = e.restore_points(None).unwrap().remove(0);
    assert_eq!(
        std::fs::metadata(&p.file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("home"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("home/state.sqlite"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}
