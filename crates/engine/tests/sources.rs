//! The source contract: one suite that every source kind passes, through
//! the `Source` trait alone. A new kind adds a `Fixture` and one test.
//!
//! What it checks, for each kind: a check modifies nothing; the fingerprint
//! is stable while nothing changes and moves when the data does; a snapshot
//! taken while the application writes is one instant (the fixture's own
//! invariant holds on its restore) and says its kind in the document head;
//! a restore into a new target equals the source; an existing target is
//! never replaced without `force`; a staged restore that is dropped touches
//! nothing; a restore in place replaces the data; a bad document is refused
//! with the target untouched and nothing left behind.

mod support;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use nuage_engine::{
    Config, ContentStore, Document, Error, Placement, Source, SourceKind, limits, open_source,
};

/// What the suite needs to know of one kind.
trait Fixture {
    fn kind(&self) -> SourceKind;
    /// Makes a source with some data at a new location under `dir`.
    fn create(&self, dir: &Path, name: &str) -> PathBuf;
    /// A location under `dir` where nothing exists yet.
    fn fresh(&self, dir: &Path, name: &str) -> PathBuf;
    /// Starts an application writing to `at` until `stop` is set, keeping
    /// an invariant that only a torn snapshot breaks.
    fn writer(&self, at: &Path, stop: Arc<AtomicBool>) -> JoinHandle<u64>;
    /// Changes the data once (as an application would).
    fn change(&self, at: &Path);
    /// Panics unless the invariant the writer keeps holds at `at`.
    fn assert_consistent(&self, at: &Path);
    /// Panics unless the data at `a` and `b` are the same, value by value.
    fn assert_same(&self, a: &Path, b: &Path);
    /// The bytes of everything at `at` (to prove it was not modified).
    fn state(&self, at: &Path) -> Vec<u8>;
    /// Whether anything exists at `at` (a refused restore creates nothing).
    fn exists(&self, at: &Path) -> bool {
        at.exists()
    }
    /// Waits until what was just written counts as finished (a folder's
    /// settle time); nothing for databases.
    fn quiesce(&self) {}
    /// The configuration sources of this kind are opened with.
    fn config(&self) -> Config {
        Config::default()
    }
    /// Where a restore finds contents the document does not hold (a
    /// folder's files); databases need none.
    fn content(&self, _dir: &Path) -> Box<dyn ContentStore> {
        Box::new(nuage_engine::NoContent)
    }
}

fn snapshot(src: &dyn Source, work: &Path) -> Vec<u8> {
    let mut doc = Vec::new();
    src.snapshot(
        "2026-12-06T04:00:00.000Z",
        work,
        &work.join("out.json"),
        &mut doc,
        &mut |_| {},
    )
    .unwrap();
    doc
}

/// An in-memory document with the limits of a file of its size.
fn document(doc: &[u8]) -> Document {
    Document::new(
        Box::new(Cursor::new(doc.to_vec())),
        doc.len() as u64,
        limits::LOAD_TIME_BASE,
    )
}

fn stage_and_commit(
    target: &dyn Source,
    doc: &[u8],
    placement: Placement,
    work: &Path,
    content: &mut dyn ContentStore,
) -> Result<nuage_engine::Restored, Error> {
    let staged = target.stage_restore(
        document(doc),
        "the test document",
        placement,
        work,
        &mut |_, _| {},
        content,
    )?;
    let restored = staged.restored().clone();
    staged.commit()?;
    Ok(restored)
}

/// Files in `dir` (not recursive), for "nothing left behind".
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn conformance(f: &dyn Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let live = f.create(dir.path(), "live");
    let src = open_source(
        f.kind(),
        "live",
        &live,
        &nuage_engine::SourceOptions::default(),
        dir.path(),
        &f.config(),
    );
    assert_eq!(src.kind(), f.kind());
    assert_eq!(src.name(), "live");

    // A check reads, and modifies nothing.
    let before = f.state(&live);
    let check = src.check().unwrap();
    assert_eq!(check.kind, f.kind());
    assert!(check.tables > 0, "{check:?}");
    assert_eq!(f.state(&live), before, "a check modified the source");

    // The fingerprint: stable while nothing changes, moved by a change.
    // (A folder's files just written are still settling: they count as
    // changing until their settle time has passed.)
    f.quiesce();
    let fp = src.fingerprint().unwrap();
    assert_eq!(src.fingerprint().unwrap(), fp);
    f.change(&live);
    let fp2 = src.fingerprint().unwrap();
    assert_ne!(fp2, fp, "a change was not seen");

    // A snapshot while the application writes: one instant, and the
    // source is not modified by it (the writer's own changes aside).
    let stop = Arc::new(AtomicBool::new(false));
    let writer = f.writer(&live, Arc::clone(&stop));
    std::thread::sleep(std::time::Duration::from_millis(50));
    let during = snapshot(src.as_ref(), &work);
    stop.store(true, Ordering::SeqCst);
    let writes = writer.join().unwrap();
    assert!(writes > 0, "the writer wrote nothing");
    let head = String::from_utf8_lossy(&during[..during.len().min(4096)]).into_owned();
    assert!(head.starts_with("{\"format\":\"nuage-backup\""), "{head}");
    assert!(
        head.contains(&format!("\"kind\":\"{}\"", f.kind().as_str())),
        "the document names its source kind: {head}"
    );
    let during_target = f.fresh(dir.path(), "during");
    let restored = stage_and_commit(
        open_source(
            f.kind(),
            "live",
            &during_target,
            &nuage_engine::SourceOptions::default(),
            dir.path(),
            &f.config(),
        )
        .as_ref(),
        &during,
        Placement::New { force: false },
        &work,
        f.content(dir.path()).as_mut(),
    )
    .unwrap();
    assert_eq!(restored.source, "live");
    f.assert_consistent(&during_target);

    // Quiet now: a snapshot restored into a new target equals the source.
    f.quiesce();
    let quiet = snapshot(src.as_ref(), &work);
    let copy = f.fresh(dir.path(), "copy");
    stage_and_commit(
        open_source(
            f.kind(),
            "live",
            &copy,
            &nuage_engine::SourceOptions::default(),
            dir.path(),
            &f.config(),
        )
        .as_ref(),
        &quiet,
        Placement::New { force: false },
        &work,
        f.content(dir.path()).as_mut(),
    )
    .unwrap();
    f.assert_same(&live, &copy);

    // An existing target is not replaced without force; with it, it is.
    let e = stage_and_commit(
        open_source(
            f.kind(),
            "live",
            &during_target,
            &nuage_engine::SourceOptions::default(),
            dir.path(),
            &f.config(),
        )
        .as_ref(),
        &quiet,
        Placement::New { force: false },
        &work,
        f.content(dir.path()).as_mut(),
    )
    .unwrap_err();
    assert_eq!(e.code().as_str(), "invalid_input", "{e}");
    f.assert_consistent(&during_target);
    stage_and_commit(
        open_source(
            f.kind(),
            "live",
            &during_target,
            &nuage_engine::SourceOptions::default(),
            dir.path(),
            &f.config(),
        )
        .as_ref(),
        &quiet,
        Placement::New { force: true },
        &work,
        f.content(dir.path()).as_mut(),
    )
    .unwrap();
    f.assert_same(&live, &during_target);

    // A staged restore that is dropped touches nothing and leaves nothing.
    let untouched = f.fresh(dir.path(), "dropped");
    let staged = open_source(
        f.kind(),
        "live",
        &untouched,
        &nuage_engine::SourceOptions::default(),
        dir.path(),
        &f.config(),
    )
    .stage_restore(
        document(&quiet),
        "the test document",
        Placement::New { force: false },
        &work,
        &mut |_, _| {},
        f.content(dir.path()).as_mut(),
    )
    .unwrap();
    drop(staged);
    assert!(
        !f.exists(&untouched),
        "a dropped restore created its target"
    );

    // In place: the source becomes the snapshot (an older state).
    let older = snapshot(src.as_ref(), &work);
    f.change(&live);
    stage_and_commit(
        src.as_ref(),
        &older,
        Placement::InPlace,
        &work,
        f.content(dir.path()).as_mut(),
    )
    .unwrap();
    let back = f.fresh(dir.path(), "back");
    stage_and_commit(
        open_source(
            f.kind(),
            "live",
            &back,
            &nuage_engine::SourceOptions::default(),
            dir.path(),
            &f.config(),
        )
        .as_ref(),
        &older,
        Placement::New { force: false },
        &work,
        f.content(dir.path()).as_mut(),
    )
    .unwrap();
    f.assert_same(&live, &back);

    // Bad documents are refused; the target is untouched, nothing is left.
    let state = f.state(&live);
    let listing = files(live.parent().unwrap());
    let truncated = &quiet[..quiet.len() / 2];
    let wrong_kind = String::from_utf8_lossy(&quiet).replacen(
        &format!("\"kind\":\"{}\"", f.kind().as_str()),
        "\"kind\":\"spreadsheet\"",
        1,
    );
    for bad in [
        truncated.to_vec(),
        b"{\"format\":\"something else\"}".to_vec(),
        b"not json at all".to_vec(),
        wrong_kind.into_bytes(),
    ] {
        let e = stage_and_commit(
            src.as_ref(),
            &bad,
            Placement::InPlace,
            &work,
            f.content(dir.path()).as_mut(),
        )
        .unwrap_err();
        assert_eq!(e.code().as_str(), "invalid_backup", "{e}");
        assert_eq!(
            f.state(&live),
            state,
            "a refused restore touched the source"
        );
        let never = f.fresh(dir.path(), "never");
        let target = open_source(
            f.kind(),
            "live",
            &never,
            &nuage_engine::SourceOptions::default(),
            dir.path(),
            &f.config(),
        );
        let e = stage_and_commit(
            target.as_ref(),
            &bad,
            Placement::New { force: false },
            &work,
            f.content(dir.path()).as_mut(),
        )
        .unwrap_err();
        assert_eq!(e.code().as_str(), "invalid_backup", "{e}");
        assert!(!f.exists(&never), "a refused restore created its target");
    }
    assert_eq!(files(live.parent().unwrap()), listing, "files left behind");
    assert!(files(&work).iter().all(|f| !f.starts_with("restore-")));
}

/// SQLite: a bank whose transfers keep the total constant.
struct Sqlite;

impl Fixture for Sqlite {
    fn kind(&self) -> SourceKind {
        SourceKind::Sqlite
    }

    fn create(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(format!("{name}.db"));
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
             CREATE INDEX by_balance ON accounts(balance);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<100)
             INSERT INTO accounts SELECT i, 1000 FROM n;",
        )
        .unwrap();
        p
    }

    fn fresh(&self, dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.db"))
    }

    fn writer(&self, at: &Path, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
        let at = at.to_path_buf();
        std::thread::spawn(move || {
            let c = rusqlite::Connection::open(&at).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            let mut n = 0u64;
            let mut rng = fastrand::Rng::with_seed(7);
            while !stop.load(Ordering::SeqCst) || n == 0 {
                let (a, b) = (rng.i64(1..=100), rng.i64(1..=100));
                c.execute_batch(&format!(
                    "BEGIN IMMEDIATE;
                     UPDATE accounts SET balance = balance - 7 WHERE id = {a};
                     UPDATE accounts SET balance = balance + 7 WHERE id = {b};
                     COMMIT;"
                ))
                .unwrap();
                n += 1;
            }
            n
        })
    }

    fn change(&self, at: &Path) {
        rusqlite::Connection::open(at)
            .unwrap()
            .execute_batch("INSERT INTO accounts(balance) VALUES (0);")
            .unwrap();
    }

    fn assert_consistent(&self, at: &Path) {
        let c = rusqlite::Connection::open(at).unwrap();
        let (rows, total): (i64, i64) = c
            .query_row(
                "SELECT count(*), sum(balance) FROM accounts WHERE balance != 0 OR id <= 100",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(rows >= 100);
        assert_eq!(
            total,
            100 * 1000,
            "a torn snapshot: money appeared or vanished"
        );
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }

    fn assert_same(&self, a: &Path, b: &Path) {
        assert_eq!(support::logical(a), support::logical(b));
    }

    fn state(&self, at: &Path) -> Vec<u8> {
        let mut v = std::fs::read(at).unwrap_or_default();
        // A WAL database's recent commits live in its -wal file.
        v.extend(std::fs::read(format!("{}-wal", at.display())).unwrap_or_default());
        v
    }
}

#[test]
fn sqlite_sources_pass_the_source_contract() {
    conformance(&Sqlite);
}

/// PostgreSQL: the same bank, on a real server this test starts (every
/// server version installed: Debian's, and the second one's when set).
struct Postgres {
    server: nuage_pgserver::PgServer,
}

impl Postgres {
    fn db(at: &Path) -> String {
        let url = at.to_string_lossy();
        let path = url.split('?').next().unwrap();
        path.rsplit('/').next().unwrap().to_string()
    }

    fn client(&self, at: &Path) -> postgres::Client {
        postgres::Client::connect(&self.server.url(&Self::db(at)), postgres::NoTls).unwrap()
    }

    fn rows(&self, at: &Path, sql: &str) -> String {
        self.server.psql(&Self::db(at), sql).unwrap()
    }
}

impl Fixture for Postgres {
    fn kind(&self) -> SourceKind {
        SourceKind::Postgresql
    }

    fn create(&self, dir: &Path, name: &str) -> PathBuf {
        let at = self.fresh(dir, name);
        self.client(&at)
            .batch_execute(
                "CREATE TABLE public.accounts(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                              balance bigint NOT NULL CHECK (balance >= -1000000),
                                              note text);
                 CREATE INDEX by_balance ON public.accounts(balance);
                 INSERT INTO public.accounts(balance, note)
                 SELECT 1000, CASE WHEN i % 7 = 0 THEN NULL ELSE 'tab\there' || i END
                 FROM generate_series(1, 100) i;",
            )
            .unwrap();
        at
    }

    fn fresh(&self, _dir: &Path, name: &str) -> PathBuf {
        let _ = self.server.create_db(name);
        PathBuf::from(self.server.url(name))
    }

    fn writer(&self, at: &Path, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
        let mut c = self.client(at);
        std::thread::spawn(move || {
            let mut n = 0u64;
            let mut rng = fastrand::Rng::with_seed(7);
            while !stop.load(Ordering::SeqCst) || n == 0 {
                let (a, b) = (rng.i64(1..=100), rng.i64(1..=100));
                c.batch_execute(&format!(
                    "BEGIN;
                     UPDATE public.accounts SET balance = balance - 7 WHERE id = {a};
                     UPDATE public.accounts SET balance = balance + 7 WHERE id = {b};
                     COMMIT;"
                ))
                .unwrap();
                n += 1;
            }
            n
        })
    }

    fn change(&self, at: &Path) {
        self.client(at)
            .batch_execute("INSERT INTO public.accounts(balance) VALUES (0)")
            .unwrap();
    }

    fn assert_consistent(&self, at: &Path) {
        let r = self.rows(
            at,
            "SELECT count(*), sum(balance) FROM public.accounts WHERE balance <> 0 OR id <= 100",
        );
        let (rows, total) = r.split_once('|').unwrap();
        assert!(rows.parse::<i64>().unwrap() >= 100);
        assert_eq!(
            total, "100000",
            "a torn snapshot: money appeared or vanished"
        );
        // The identity goes on after the restored rows.
        self.client(at)
            .batch_execute("INSERT INTO public.accounts(balance) VALUES (0)")
            .unwrap();
    }

    fn assert_same(&self, a: &Path, b: &Path) {
        assert_eq!(self.state(a), self.state(b));
    }

    fn state(&self, at: &Path) -> Vec<u8> {
        let rows = self.rows(
            at,
            "SELECT coalesce(string_agg(format('%s:%s:%s', id, balance, note), ',' ORDER BY id), '')
             FROM public.accounts",
        );
        let shape = self.rows(
            at,
            "SELECT string_agg(x, ',' ORDER BY x) FROM (
               SELECT indexdef AS x FROM pg_indexes WHERE schemaname = 'public'
               UNION ALL SELECT pg_get_constraintdef(oid) FROM pg_constraint
                 WHERE connamespace = 'public'::regnamespace
               UNION ALL SELECT format('%s %s %s', sequencename, last_value, increment_by)
                 FROM pg_sequences WHERE schemaname = 'public') s",
        );
        format!("{rows}\n{shape}").into_bytes()
    }

    fn exists(&self, at: &Path) -> bool {
        self.rows(
            at,
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
        ) != "0"
    }
}

#[test]
fn postgresql_sources_pass_the_source_contract() {
    for bin in nuage_pgserver::all_bins() {
        let server = nuage_pgserver::PgServer::start_with(&bin).unwrap();
        eprintln!("PostgreSQL {}", server.major_version());
        conformance(&Postgres { server });
    }
}

#[test]
fn a_load_that_computes_past_its_time_is_stopped_naming_the_object() {
    // Each index entry formats a 4 MB string: bounded in memory, slow in
    // total. A document this small is allowed the base time only.
    let mut doc = String::from(
        r#"{"format":"nuage-backup","version":1,"created_at":"2026-12-06T00:00:00.000Z","generator":"test","source":{"name":"app","kind":"sqlite","path":"/srv/app.db"},"sqlite":{"encoding":"UTF-8","user_version":0,"application_id":0,"page_size":4096,"auto_vacuum":0,"journal_mode":"delete"},"schema":[{"type":"table","name":"t","tbl_name":"t","sql":"CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT)"},{"type":"index","name":"slow","tbl_name":"t","sql":"CREATE INDEX slow ON t(length(printf('%.*c', 4000000, x)))"}],"tables":[{"name":"t","columns":["id","x"],"rowid":true,"rows":["#,
    );
    let rows = 5000;
    for i in 1..=rows {
        if i > 1 {
            doc.push(',');
        }
        doc.push_str(&format!(r#"[{i},{i},"y"]"#));
    }
    doc.push_str(&format!(
        r#"],"row_count":{rows}}}],"summary":{{"tables":1,"rows":{rows}}}}}"#
    ));
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("slow.db");
    let source = open_source(
        SourceKind::Sqlite,
        "app",
        &target,
        &nuage_engine::SourceOptions::default(),
        dir.path(),
        &Config::default(),
    );
    let started = std::time::Instant::now();
    let r = source.stage_restore(
        Document::new(
            Box::new(Cursor::new(doc.clone().into_bytes())),
            doc.len() as u64,
            std::time::Duration::from_millis(300),
        ),
        "slow.json",
        Placement::New { force: false },
        &dir.path().join("work"),
        &mut |_, _| {},
        &mut nuage_engine::NoContent,
    );
    let err = r.err().expect("the load must be stopped").to_string();
    assert!(
        err.contains("longer than") && err.contains("index 'slow'"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "stopped after {:?}",
        started.elapsed()
    );
    assert!(!target.exists());
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

/// A folder of JSON documents an application keeps: every document is
/// `{"a":…,"b":…}` with a + b = 1000, rewritten whole (in place, held open
/// while written, or through a temporary file and a rename) — a torn file
/// breaks it. The fixture keeps every version it writes, by BLAKE3, as the
/// engine's local store and destination would (the restore's contents).
struct Folder;

impl Folder {
    fn cas(at: &Path) -> PathBuf {
        at.parent().unwrap().join("cas")
    }

    fn keep(at: &Path, bytes: &[u8]) {
        let cas = Self::cas(at);
        std::fs::create_dir_all(&cas).unwrap();
        let name = blake3::hash(bytes).to_hex().to_string();
        std::fs::write(cas.join(name), bytes).unwrap();
    }

    fn doc(a: i64) -> Vec<u8> {
        format!("{{\"a\":{a},\"b\":{}}}", 1000 - a).into_bytes()
    }

    fn write(at: &Path, rel: &str, bytes: &[u8]) {
        let p = at.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        Self::keep(at, bytes);
        std::fs::write(p, bytes).unwrap();
    }

    /// Every file, link and folder with contents, mode and time.
    fn tree(at: &Path) -> Vec<(String, String, u32, i64)> {
        use std::os::unix::fs::MetadataExt;
        let mut v = Vec::new();
        for e in walkdir::WalkDir::new(at).min_depth(1).sort_by_file_name() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(at)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let m = e.path().symlink_metadata().unwrap();
            if m.file_type().is_symlink() {
                let t = std::fs::read_link(e.path()).unwrap();
                v.push((rel, format!("-> {}", t.display()), 0, 0));
            } else if m.is_dir() {
                v.push((rel, "dir".into(), m.mode() & 0o777, 0));
            } else {
                let body = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned();
                let t = m.mtime() * 1_000_000_000 + m.mtime_nsec();
                v.push((rel, body, m.mode() & 0o777, t));
            }
        }
        v
    }
}

/// Contents by BLAKE3 from the fixture's store of every version written.
struct Cas(PathBuf);

impl ContentStore for Cas {
    fn fetch(
        &mut self,
        entry: &nuage_engine::folder::manifest::FileEntry,
        dest: &Path,
    ) -> nuage_engine::Result<bool> {
        let Ok(bytes) = std::fs::read(self.0.join(&entry.blake3)) else {
            return Ok(false);
        };
        if blake3::hash(&bytes).to_hex().as_str() != entry.blake3 {
            return Ok(false);
        }
        std::fs::write(dest, bytes).unwrap();
        Ok(true)
    }
}

impl Fixture for Folder {
    fn kind(&self) -> SourceKind {
        SourceKind::Folder
    }

    fn create(&self, dir: &Path, name: &str) -> PathBuf {
        let at = dir.join(name);
        std::fs::create_dir(&at).unwrap();
        Self::write(&at, "ledger.json", &Self::doc(500));
        for i in 0..20 {
            Self::write(&at, &format!("jobs/2026/job-{i}.json"), &Self::doc(i));
        }
        // Names OneDrive refuses, spaces and accents: kept as they are.
        Self::write(&at, "notes/what? a:b.json", &Self::doc(1));
        Self::write(&at, "notes/été .json", &Self::doc(2));
        std::fs::create_dir(at.join("empty")).unwrap();
        std::os::unix::fs::symlink("ledger.json", at.join("latest")).unwrap();
        at
    }

    fn fresh(&self, dir: &Path, name: &str) -> PathBuf {
        dir.join(name)
    }

    fn config(&self) -> Config {
        // Longer than a file system's timestamp tick (a few ms): a file
        // changed within it could be rewritten in the same tick, with the
        // same times, and a torn read would look like a whole one (the
        // default is seconds).
        Config {
            settle: std::time::Duration::from_millis(30),
            ..Config::default()
        }
    }

    fn content(&self, dir: &Path) -> Box<dyn ContentStore> {
        Box::new(Cas(dir.join("cas")))
    }

    fn quiesce(&self) {
        std::thread::sleep(std::time::Duration::from_millis(60));
    }

    fn writer(&self, at: &Path, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
        let at = at.to_path_buf();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut n = 0u64;
            let mut rng = fastrand::Rng::with_seed(7);
            while !stop.load(Ordering::SeqCst) || n == 0 {
                let a = rng.i64(0..=1000);
                let bytes = Folder::doc(a);
                Folder::keep(&at, &bytes);
                if n.is_multiple_of(2) {
                    // In place, held open while written in two halves.
                    let mut f = std::fs::File::create(at.join("ledger.json")).unwrap();
                    f.write_all(&bytes[..4]).unwrap();
                    std::thread::sleep(std::time::Duration::from_micros(300));
                    f.write_all(&bytes[4..]).unwrap();
                } else {
                    let tmp = at.join(format!("jobs/.tmp-{n}"));
                    std::fs::write(&tmp, &bytes).unwrap();
                    std::fs::rename(&tmp, at.join(format!("jobs/2026/job-{}.json", n % 20)))
                        .unwrap();
                }
                n += 1;
                std::thread::sleep(std::time::Duration::from_micros(500));
            }
            n
        })
    }

    fn change(&self, at: &Path) {
        let n = std::fs::read_dir(at).unwrap().count();
        Self::write(at, &format!("new-{n}.json"), &Self::doc(7));
        Self::write(at, "jobs/2026/job-3.json", &Self::doc(n as i64));
    }

    fn assert_consistent(&self, at: &Path) {
        for (rel, body, _, _) in Self::tree(at) {
            if rel.ends_with(".json") {
                let v: serde_json::Value = serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("{rel} is torn ({e}): {body:?}"));
                assert_eq!(
                    v["a"].as_i64().unwrap() + v["b"].as_i64().unwrap(),
                    1000,
                    "{rel}"
                );
            }
        }
        // What the application was rewriting may be absent (it was never
        // whole and settled in a snapshot before); what it left alone
        // never is.
        assert!(at.join("notes/what? a:b.json").is_file());
    }

    fn assert_same(&self, a: &Path, b: &Path) {
        // Temporary files the writer leaves are the application's own.
        let clean = |v: Vec<(String, String, u32, i64)>| -> Vec<_> {
            v.into_iter().filter(|e| !e.0.contains(".tmp-")).collect()
        };
        assert_eq!(clean(Self::tree(a)), clean(Self::tree(b)));
    }

    fn state(&self, at: &Path) -> Vec<u8> {
        format!("{:?}", Self::tree(at)).into_bytes()
    }
}

#[test]
fn folder_sources_pass_the_source_contract() {
    conformance(&Folder);
}
