//! Helpers shared by the CLI integration tests: run the real `nuage` binary
//! in a private temporary folder (its `--home` and working folder), build
//! small sample databases, edit backup documents, and check that targets
//! were left alone.

#![allow(dead_code)]

pub mod alerting;

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `nuage` binary under test.
pub const NUAGE: &str = env!("CARGO_BIN_EXE_nuage");

/// How long any single `nuage` run may take before the test calls it a hang.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// What one run of `nuage` did.
#[derive(Debug)]
pub struct Outcome {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident memory of the child, in KiB (`wait4`). On Linux it starts
    /// from the test process's own resident size at fork time, so it is an
    /// upper bound: a limit asserted on it holds for `nuage` itself.
    pub max_rss_kib: u64,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn tuple(self) -> (ExitStatus, String, String) {
        (self.status, self.stdout, self.stderr)
    }

    /// Everything a failing assertion should show.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {:?} (code {:?}), {:?}, peak RSS {} MiB\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.status,
            self.status.code(),
            self.elapsed,
            self.max_rss_kib / 1024,
            self.stdout,
            self.stderr
        )
    }

    pub fn succeeded(&self) -> bool {
        self.status.success()
    }
}

/// Runs a prepared command to completion, draining its output, with a hard
/// time limit (the child is killed and the test fails on a hang). Reaps it
/// with `wait4` to learn its peak memory.
// The child is reaped with `wait4` (for its rusage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
pub fn run_command(cmd: Command, timeout: Duration) -> Outcome {
    run_command_inner(cmd, None, timeout)
}

/// [`run_command`] with `input` written to its standard input.
#[allow(dead_code)]
pub fn run_command_with_input(mut cmd: Command, input: &str, timeout: Duration) -> Outcome {
    cmd.stdin(Stdio::piped());
    run_command_inner(cmd, Some(input.to_string()), timeout)
}

#[allow(clippy::zombie_processes)]
fn run_command_inner(mut cmd: Command, input: Option<String>, timeout: Duration) -> Outcome {
    let what = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        std::thread::spawn(move || {
            use std::io::Write as _;
            let _ = stdin.write_all(input.as_bytes());
        });
    }
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let pid = child.id() as libc::pid_t;
    let mut raw_status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut killed = false;
    loop {
        // SAFETY: valid pointers to locals; pid is our own unreaped child.
        let r = unsafe { libc::wait4(pid, &mut raw_status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            panic!("wait4 on {what}: {e}");
        }
        if !killed && start.elapsed() > timeout {
            killed = true;
            let _ = child.kill();
        }
        let pause = if start.elapsed() < Duration::from_millis(100) {
            Duration::from_millis(1)
        } else {
            Duration::from_millis(10)
        };
        std::thread::sleep(pause);
    }
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&t_out.join().expect("stdout reader")).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().expect("stderr reader")).into_owned();
    let o = Outcome {
        what,
        status: ExitStatus::from_raw(raw_status),
        stdout,
        stderr,
        max_rss_kib: usage.ru_maxrss as u64,
        elapsed,
    };
    assert!(
        !killed,
        "HANG: nuage did not finish within {timeout:?} and was killed.\n{}",
        o.describe()
    );
    o
}

/// Makes the child behave as on a nearly full disk: files cannot grow past
/// `bytes` (RLIMIT_FSIZE), and the write fails with EFBIG instead of the
/// process being killed by SIGXFSZ.
pub fn limit_file_size(cmd: &mut Command, bytes: u64) {
    // SAFETY: the closure only calls async-signal-safe functions.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A path as the `&str` argument lists want (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

/// One test's private world: a temporary folder that is the working folder
/// of every run, with the home at `<root>/home` and restore targets under
/// `<root>/out` (so leftover temp files there are easy to spot).
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("nuage-bad-input-")
            .tempdir()
            .expect("temp dir");
        fs::create_dir(dir.path().join("out")).expect("create out/");
        Env { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    pub fn out(&self) -> PathBuf {
        self.root().join("out")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// `nuage --home HOME ARGS...`, in the test folder, stdin not a terminal.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        self.command_of(Path::new(NUAGE), args)
    }

    /// [`Env::command`] with another copy of the binary.
    pub fn command_of<S: AsRef<OsStr>>(&self, bin: &Path, args: &[S]) -> Command {
        let mut c = Command::new(bin);
        c.arg("--home")
            .arg(self.home())
            .args(args)
            .current_dir(self.root())
            .stdin(Stdio::null())
            .env_remove("NUAGE_HOME")
            .env_remove("NUAGE_LOG")
            .env_remove("NUAGE_BUSY_TIMEOUT_MS");
        c
    }

    pub fn run_full<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        run_command(self.command(args), DEFAULT_TIMEOUT)
    }

    /// Runs nuage with `args`: (status, stdout, stderr).
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> (ExitStatus, String, String) {
        self.run_full(args).tuple()
    }

    /// Runs nuage and insists that it succeeds; returns stdout.
    pub fn run_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let o = self.run_full(args);
        assert!(o.succeeded(), "expected success:\n{}", o.describe());
        o.stdout
    }

    /// Creates the sample database at `<root>/<file>` and registers it.
    pub fn add_sample_source(&self, file: &str) -> PathBuf {
        let db = self.path(file);
        create_sample_db(&db);
        self.run_ok(&["source", "add", s(&db)]);
        db
    }

    /// Backs everything up and returns the id of the newest restore point.
    pub fn backup_ok(&self) -> String {
        let out = self.run_ok(&["backup", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("backup --json output");
        let o = &v.as_array().expect("array of outcomes")[0];
        assert_eq!(o["status"], "backed_up", "unexpected outcome: {out}");
        o["id"].as_str().expect("id").to_string()
    }

    /// `list --json`, parsed.
    pub fn points(&self) -> Vec<serde_json::Value> {
        let out = self.run_ok(&["list", "--json"]);
        serde_json::from_str::<serde_json::Value>(&out)
            .expect("list --json output")
            .as_array()
            .expect("array")
            .clone()
    }

    pub fn export(&self, id: &str, file: &str) -> PathBuf {
        let p = self.path(file);
        self.run_ok(&["export", id, s(&p)]);
        p
    }

    /// A good backup document of the sample database: registers `app.db`,
    /// backs it up, exports the restore point to `good.json`.
    pub fn good_json(&self) -> (PathBuf, String) {
        self.add_sample_source("app.db");
        let id = self.backup_ok();
        let p = self.export(&id, "good.json");
        let text = fs::read_to_string(&p).expect("read export");
        (p, text)
    }

    /// The local copy of a source's only restore point.
    pub fn local_copy(&self, source: &str) -> PathBuf {
        let dir = self.home().join("backups").join(source);
        let files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".json.zst"))
            .collect();
        assert_eq!(
            files.len(),
            1,
            "expected one local copy in {}",
            dir.display()
        );
        files[0].clone()
    }

    /// Makes the folder `nas` and chooses it as the destination.
    pub fn folder_destination(&self) -> PathBuf {
        let nas = self.path("nas");
        fs::create_dir(&nas).expect("create the destination folder");
        self.run_ok(&["destination", "folder", s(&nas)]);
        nas
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, bytes).expect("write test file");
        p
    }
}

/// A deterministic pseudo-random byte stream (xorshift64*): incompressible
/// test data without a rand dependency.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// The sample database: a rowid table with TEXT, REAL and INTEGER columns
/// and an index, a table with BLOBs, and a WITHOUT ROWID table. Rows are
/// predictable: person i is `[i,i,"person i",i*1.25,i*3]` in the document.
pub fn create_sample_db(path: &Path) {
    let c = rusqlite::Connection::open(path).expect("open sample db");
    c.execute_batch(
        "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, visits INTEGER);
         CREATE INDEX people_name ON people(name);
         CREATE TABLE files(id INTEGER PRIMARY KEY, name TEXT, data BLOB);
         CREATE TABLE tags(tag TEXT PRIMARY KEY, uses INTEGER) WITHOUT ROWID;
         BEGIN;",
    )
    .expect("sample schema");
    for i in 1..=40i64 {
        c.execute(
            "INSERT INTO people VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![i, format!("person {i}"), i as f64 * 1.25, i * 3],
        )
        .expect("insert person");
    }
    for i in 1..=4u64 {
        c.execute(
            "INSERT INTO files VALUES (?1, ?2, ?3)",
            rusqlite::params![
                i as i64,
                format!("file{i}.bin"),
                pseudo_random_bytes(i, 1000 + 500 * i as usize)
            ],
        )
        .expect("insert file");
    }
    c.execute_batch(
        "INSERT INTO tags VALUES ('red', 1), ('green', 2), ('blue', 3);
         COMMIT;",
    )
    .expect("sample rows");
}

/// A database of about `bytes` of incompressible BLOBs (64 KiB each).
pub fn create_big_db(path: &Path, bytes: usize) {
    let c = rusqlite::Connection::open(path).expect("open big db");
    c.execute_batch(
        "CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB NOT NULL, weight REAL); BEGIN;",
    )
    .expect("big schema");
    let chunk = 64 << 10;
    for i in 0..bytes.div_ceil(chunk) {
        c.execute(
            "INSERT INTO blobs(data, weight) VALUES (?1, ?2)",
            rusqlite::params![pseudo_random_bytes(i as u64 + 100, chunk), i as f64 / 3.0],
        )
        .expect("insert blob");
    }
    c.execute_batch("COMMIT").expect("commit big db");
}

/// A different small database, used as a pre-existing restore target.
pub fn create_other_db(path: &Path) {
    let c = rusqlite::Connection::open(path).expect("open other db");
    c.execute_batch(
        "CREATE TABLE precious(k TEXT PRIMARY KEY, v BLOB);
         INSERT INTO precious VALUES ('keep', x'DEADBEEF'), ('me', 'intact');",
    )
    .expect("other db");
}

/// Byte comparison of two files: both read fully.
pub fn files_equal(a: &Path, b: &Path) -> bool {
    let x = fs::read(a).unwrap_or_else(|e| panic!("read {}: {e}", a.display()));
    let y = fs::read(b).unwrap_or_else(|e| panic!("read {}: {e}", b.display()));
    x == y
}

pub fn assert_files_equal(a: &Path, b: &Path) {
    assert!(
        files_equal(a, b),
        "{} differs from {} byte for byte",
        a.display(),
        b.display()
    );
}

/// Keeps a copy of `file` beside it, to check later that it was not touched.
pub struct Pristine {
    pub file: PathBuf,
    copy: PathBuf,
}

impl Pristine {
    pub fn of(file: &Path) -> Pristine {
        let copy = file.with_file_name(format!(
            "{}.pristine-copy",
            file.file_name().unwrap().to_string_lossy()
        ));
        fs::copy(file, &copy).expect("copy aside");
        Pristine {
            file: file.to_path_buf(),
            copy,
        }
    }

    pub fn assert_untouched(&self) {
        assert!(
            self.file.exists(),
            "{} was removed (it must be left untouched)",
            self.file.display()
        );
        assert!(
            files_equal(&self.file, &self.copy),
            "{} was modified (it must be left untouched byte for byte)",
            self.file.display()
        );
    }
}

impl Drop for Pristine {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.copy);
    }
}

/// A logical dump of a database (schema and every row), to compare restores.
pub fn dump_db(path: &Path) -> String {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open for dump");
    let mut out = String::new();
    let objects: Vec<(String, String, String)> = c
        .prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for (kind, name, sql) in &objects {
        out.push_str(&format!("{kind} {name}: {sql}\n"));
        if kind == "table" {
            let mut st = c
                .prepare(&format!("SELECT * FROM \"{}\"", name.replace('"', "\"\"")))
                .unwrap();
            let n = st.column_count();
            let mut rows = st.query([]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                let vals: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect();
                out.push_str(&format!("  {}\n", vals.join(" | ")));
            }
        }
    }
    out
}

/// Replaces the single occurrence of `from` in `doc` (the edit must hit).
pub fn replace_once(doc: &str, from: &str, to: &str) -> String {
    let n = doc.matches(from).count();
    assert_eq!(
        n, 1,
        "expected exactly one {from:?} in the document:\n{doc}"
    );
    doc.replacen(from, to, 1)
}

/// Entries of `dir` whose names start with '.' (temp files left behind).
pub fn hidden_entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// A restore target that did not exist before must still not exist, with
/// no SQLite side files and no temp files in its folder.
pub fn assert_new_target_absent(target: &Path) {
    assert!(
        !target.exists(),
        "{} was created although the restore failed",
        target.display()
    );
    for suffix in ["-journal", "-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", target.display()));
        assert!(!side.exists(), "{} was left behind", side.display());
    }
    let dir = target.parent().expect("target folder");
    let hidden = hidden_entries(dir);
    assert!(
        hidden.is_empty(),
        "temp files left in {}: {hidden:?}",
        dir.display()
    );
}

/// The run failed the way the CLI promises: exit code 1 (an error, not a
/// crash, a panic or a signal).
pub fn assert_failed(o: &Outcome) {
    assert!(
        !o.succeeded(),
        "expected a failure, but nuage succeeded:\n{}",
        o.describe()
    );
    assert!(
        !o.stderr.contains("panicked"),
        "nuage panicked:\n{}",
        o.describe()
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit code 1 (an error, not a crash):\n{}",
        o.describe()
    );
}

/// Every `fragment` is in stderr.
pub fn assert_stderr_has(o: &Outcome, fragments: &[&str]) {
    for f in fragments {
        assert!(
            o.stderr.contains(f),
            "stderr lacks {f:?}:\n{}",
            o.describe()
        );
    }
}

/// [`assert_failed`] and [`assert_stderr_has`].
pub fn assert_failed_with(o: &Outcome, fragments: &[&str]) {
    assert_failed(o);
    assert_stderr_has(o, fragments);
}

/// `nuage import BACKUP --to NEW` must fail with `fragments` and leave no
/// NEW and no temp files; then `--force` over an existing database must
/// fail the same way and leave that database byte for byte as it was.
/// Returns the first run's outcome.
pub fn assert_import_refused(env: &Env, backup: &Path, fragments: &[&str]) -> Outcome {
    let target = env.out().join("restored.db");
    let o = env.run_full(&["import", s(backup), "--to", s(&target)]);
    assert_failed(&o);
    assert_new_target_absent(&target);
    assert_stderr_has(&o, fragments);

    let existing = env.out().join("existing.db");
    create_other_db(&existing);
    let pristine = Pristine::of(&existing);
    let o2 = env.run_full(&["import", s(backup), "--to", s(&existing), "--force"]);
    assert_failed(&o2);
    pristine.assert_untouched();
    drop(pristine);
    let hidden = hidden_entries(&env.out());
    assert!(hidden.is_empty(), "temp files left in out/: {hidden:?}");
    assert_stderr_has(&o2, fragments);
    fs::remove_file(&existing).expect("remove existing target");
    o
}

/// Compresses what `feed` writes with the system `zstd` into `out`,
/// streaming (nothing big is held in memory).
pub fn zstd_compress_to(out: &Path, feed: impl FnOnce(&mut dyn io::Write) -> io::Result<()>) {
    let file = fs::File::create(out).expect("create .zst");
    let mut child = Command::new("/usr/bin/zstd")
        .args(["-q", "-c", "-3"])
        .stdin(Stdio::piped())
        .stdout(file)
        .spawn()
        .expect("start /usr/bin/zstd");
    let mut stdin = child.stdin.take().expect("zstd stdin");
    feed(&mut stdin).expect("feed zstd");
    drop(stdin);
    assert!(child.wait().expect("wait zstd").success(), "zstd failed");
}
