//! End to end: the real `nuage` binary against the Microsoft identity +
//! Graph emulator (the only stand-in, the network being closed), with the
//! real keychain (`make test` runs the suite under a session bus with an
//! unlocked gnome-keyring).

mod common;

use std::process::{Command, Stdio};

use std::time::{Duration, Instant};

use common::{Env, Outcome, run_command, s};
use nuage_emulator::{Config, Emulator, FaultKind, FaultSpec, Handle};
use serde_json::Value;

const CLIENT_ID: &str = "3f2b6a8e-1c4d-4e5f-9a0b-7c8d9e0f1a2b";

struct Cloud {
    env: Env,
    emu: Handle,
}

impl Cloud {
    fn new() -> Cloud {
        Cloud::with(Config::for_tests())
    }

    fn with(mut config: Config) -> Cloud {
        config.confidential_clients = vec![(CLIENT_ID.into(), "s3cret-value-of-the-app".into())];
        let emu = Emulator::start_in_thread(config).expect("emulator starts");
        Cloud {
            env: Env::new(),
            emu,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.command(args);
        c.env("NUAGE_AUTHORITY_URL", self.emu.authority_url())
            .env("NUAGE_GRAPH_URL", self.emu.graph_url())
            .env("NUAGE_CLIENT_ID", CLIENT_ID)
            .env("NUAGE_RETRY_BUDGET_SECS", "60")
            .env_remove("NUAGE_TENANT")
            .env_remove("NUAGE_TOKEN_STORE");
        c
    }

    fn run(&self, args: &[&str]) -> Outcome {
        run_command(self.cmd(args), Duration::from_secs(120))
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.succeeded(), "expected success:\n{}", o.describe());
        o.stdout
    }

    /// `nuage login`, approving the device code the way a person would.
    fn login(&self) -> Outcome {
        self.login_answering(true)
    }

    /// `nuage login` while a person approves (or declines) the code on
    /// the sign-in page.
    fn login_answering(&self, approve: bool) -> Outcome {
        let cmd = self.cmd(&["login"]);
        let login = std::thread::spawn(move || run_command(cmd, Duration::from_secs(60)));
        let started = Instant::now();
        loop {
            if let Some(code) = self.emu.pending_user_codes().first() {
                if approve {
                    self.emu.approve(code).unwrap()
                } else {
                    self.emu.decline(code).unwrap()
                }
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no device code requested"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        login.join().unwrap()
    }

    fn signed_in_with_folder(&self, folder: &str) {
        let o = self.login();
        assert!(o.succeeded(), "{}", o.describe());
        self.ok(&["destination", "onedrive", "--folder", folder]);
    }

    /// Asserts that the emulator's OneDrive holds restore point `id` of
    /// `source` under `folder`, byte for byte as the local copy; its size.
    fn assert_uploaded_intact(&self, folder: &str, source: &str, id: &str) -> u64 {
        let local = std::fs::read(
            self.env
                .home()
                .join(format!("backups/{source}/{id}.json.zst")),
        )
        .unwrap();
        let remote = self
            .emu
            .file_bytes("personal", &format!("/{folder}/{source}/{id}.json.zst"))
            .expect("uploaded");
        assert!(
            remote == local,
            "the bytes in OneDrive are not the local copy's ({} vs {} bytes)",
            remote.len(),
            local.len()
        );
        local.len() as u64
    }

    /// `list --json` against the emulator.
    fn points(&self) -> Vec<Value> {
        json(&self.ok(&["list", "--json"]))
            .as_array()
            .unwrap()
            .clone()
    }

    /// `backup --json`, which must back up and upload; the restore point id.
    fn backup_ok(&self) -> String {
        let out = json(&self.ok(&["backup", "--json"]));
        assert_eq!(out[0]["status"], "backed_up", "{out}");
        assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
        out[0]["id"].as_str().unwrap().to_string()
    }

    fn state(&self) -> Value {
        self.emu.state()
    }

    /// Files of a drive in the emulator, as (path, size, quickXorHash).
    fn files(&self, drive: &str) -> Vec<(String, u64, String)> {
        let st = self.state();
        let d = st["drives"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["driveType"] == drive || d["id"] == drive)
            .unwrap()
            .clone();
        d["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_string(),
                    f["size"].as_u64().unwrap(),
                    f["quickXorHash"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Every file below `dir`, read whole (small test homes only).
fn all_bytes_below(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(all_bytes_below(&p));
        } else {
            out.extend(std::fs::read(&p).unwrap_or_default());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn device_sign_in_then_backup_lands_verified_in_onedrive() {
    let c = Cloud::new();
    let db = c.env.add_sample_source("shop.db");
    let o = c.login();
    assert!(o.succeeded(), "{}", o.describe());
    assert!(
        o.stdout.contains("signed in as ada.lovelace@outlook.com"),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr.contains("enter the code") || o.stderr.contains("code"),
        "the code is shown: {}",
        o.stderr
    );
    let who = json(&c.ok(&["whoami", "--json"]));
    assert_eq!(who["name"], "ada.lovelace@outlook.com");
    assert_eq!(who["drive_type"], "personal");
    assert!(who["quota_total"].as_u64().unwrap() > 0);

    c.ok(&["destination", "onedrive", "--folder", "Backups/Nuage"]);
    let out = json(&c.ok(&["backup", "--json"]));
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    let id = out[0]["id"].as_str().unwrap().to_string();
    c.assert_uploaded_intact("Backups/Nuage", "shop", &id);
    assert_eq!(c.points()[0]["location"], "both");

    // No token ever reaches the home folder, an output or a debug log: the
    // real tokens, read back from the keychain, appear nowhere.
    let setting = std::env::var(nuage_graph::tokens::STORE_ENV).ok();
    let store = nuage_graph::tokens::open_store(&c.env.home(), setting.as_deref()).unwrap();
    let saved = store
        .load_tokens(&nuage_graph::tokens::key_for_home(&c.env.home()))
        .unwrap()
        .expect("tokens in the keychain");
    let mut cmd = c.cmd(&["whoami"]);
    cmd.env("NUAGE_LOG", "trace");
    let traced = run_command(cmd, Duration::from_secs(60));
    assert!(traced.succeeded(), "{}", traced.describe());
    let home = all_bytes_below(&c.env.home());
    let mut secrets = vec![saved.refresh_token.expose().to_string()];
    secrets.extend(saved.access_token.iter().map(|t| t.expose().to_string()));
    for secret in &secrets {
        let probe = &secret[..secret.len().min(40)];
        assert!(!contains(&home, probe), "a token is in the home folder");
        for text in [&o.stdout, &o.stderr, &traced.stdout, &traced.stderr] {
            assert!(!text.contains(probe), "a token is in an output");
        }
    }
    let _ = db;
}

#[test]
fn declined_and_expired_sign_ins_say_what_to_do() {
    let c = Cloud::new();
    let o = c.login_answering(false);
    assert!(!o.succeeded());
    assert!(
        o.stderr.contains("sign-in was declined") && o.stderr.contains("Start the sign-in again"),
        "{}",
        o.stderr
    );

    let mut config = Config::for_tests();
    config.device_code_lifetime = Duration::from_secs(2);
    let c = Cloud::with(config);
    let o = c.run(&["login"]);
    assert!(!o.succeeded());
    assert!(o.stderr.contains("expired"), "{}", o.stderr);
    let o = c.run(&["whoami"]);
    assert!(!o.succeeded());
    assert!(
        o.stderr.contains("Sign in again") || o.stderr.contains("no longer signed in"),
        "{}",
        o.stderr
    );
}

#[test]
fn without_a_client_id_the_error_explains_how_to_register_one() {
    let c = Cloud::new();
    let mut cmd = c.cmd(&["login"]);
    cmd.env_remove("NUAGE_CLIENT_ID");
    let o = run_command(cmd, Duration::from_secs(30));
    assert!(!o.succeeded());
    for step in [
        "App registrations",
        "Allow public client flows",
        "Files.ReadWrite",
        "--client-id",
    ] {
        assert!(o.stderr.contains(step), "missing '{step}':\n{}", o.stderr);
    }
}

#[test]
fn app_only_sign_in_writes_into_a_shared_sharepoint_folder() {
    let c = Cloud::new();
    let share = c.emu.register_share("/Sites/Garage/Backups").unwrap();
    c.env.add_sample_source("garage.db");
    let secret = c.env.write("secret.txt", "s3cret-value-of-the-app\n");
    let mut cmd = c.cmd(&[
        "login",
        "--app",
        "--tenant",
        "contoso.onmicrosoft.com",
        "--client-id",
        CLIENT_ID,
    ]);
    cmd.stdin(std::fs::File::open(&secret).unwrap());
    let o = run_command(cmd, Duration::from_secs(60));
    std::fs::remove_file(&secret).unwrap();
    assert!(o.succeeded(), "{}", o.describe());
    assert!(
        !o.stdout.contains("s3cret") && !o.stderr.contains("s3cret"),
        "the secret is never echoed"
    );
    assert!(
        !contains(&all_bytes_below(&c.env.home()), "s3cret-value-of-the-app"),
        "the secret is only in the keychain"
    );

    c.ok(&["destination", "onedrive", "--share-link", &share.url]);
    let out = json(&c.ok(&["backup", "--json"]));
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    let id = out[0]["id"].as_str().unwrap();
    assert!(
        c.files("business")
            .iter()
            .any(|f| f.0 == format!("/Sites/Garage/Backups/garage/{id}.json.zst")),
        "the copy lands in the owner's drive: {:?}",
        c.files("business")
    );
}

#[test]
fn throttling_storm_is_waited_out_exactly_and_the_upload_completes() {
    let c = Cloud::new();
    c.env.add_sample_source("shop.db");
    c.signed_in_with_folder("Backups");
    c.emu
        .inject(vec![
            FaultSpec::new(FaultKind::Throttle)
                .path("*/content*")
                .count(3)
                .retry_after(&[1, 2, 3]),
        ])
        .unwrap();
    let started = Instant::now();
    let out = json(&c.ok(&["backup", "--json"]));
    let took = started.elapsed();
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    assert!(
        took >= Duration::from_secs(6),
        "Retry-After 1+2+3 s must be waited out, took {took:?}"
    );
    let st = c.state();
    assert_eq!(
        st["requests"]["by_status"]["429"].as_u64(),
        Some(3),
        "{}",
        st["requests"]
    );
}

#[test]
fn an_expired_access_token_is_refreshed_and_a_revoked_sign_in_leaves_copies_pending() {
    let c = Cloud::new();
    let db = c.env.add_sample_source("shop.db");
    c.signed_in_with_folder("Backups");
    c.ok(&["backup"]);
    // The access token expires: refreshed once, the run succeeds.
    c.emu.expire_access_tokens();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("UPDATE people SET name = 'x' WHERE rowid = 1", [])
        .unwrap();
    let out = json(&c.ok(&["backup", "--json"]));
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    // The sign-in is revoked: the backup still lands locally, the upload
    // waits, and the reason says to sign in again.
    c.emu.revoke_refresh_tokens();
    c.emu.expire_access_tokens();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("UPDATE people SET name = 'y' WHERE rowid = 1", [])
        .unwrap();
    let o = c.run(&["backup", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", o.describe());
    let out = json(&o.stdout);
    assert_eq!(out[0]["status"], "backed_up");
    assert_eq!(out[0]["upload"]["error_code"], "sign_in_required");
    assert!(
        out[0]["upload"]["error"]
            .as_str()
            .unwrap()
            .contains("Sign in again")
    );
    // Signing in again lets the next run catch up.
    assert!(c.login().succeeded());
    let out = json(&c.ok(&["backup", "--json"]));
    assert_eq!(out[0]["status"], "unchanged");
    assert_eq!(out[0]["upload"]["state"], "verified");
    assert_eq!(out[0]["upload"]["uploaded"].as_array().unwrap().len(), 1);
}

#[test]
fn a_large_upload_killed_midway_resumes_where_the_server_stopped() {
    let c = Cloud::new();
    let db = c.env.path("big.db");
    common::create_big_db(&db, 200 << 20);
    c.ok(&["source", "add", s(&db)]);
    c.signed_in_with_folder("Backups");
    let mut child = c
        .cmd(&["backup"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let size = wait_for_upload(&c, 60 << 20);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(size > 150 << 20, "a large copy: {size}");
    // The session's URL is pre-authenticated: the state database keeps it
    // sealed, never in plain text.
    for f in ["state.sqlite", "state.sqlite-wal"] {
        let bytes = std::fs::read(c.env.home().join(f)).unwrap_or_default();
        assert!(
            !bytes.windows(9).any(|w| w == b"/_upload/"),
            "{f} holds an upload URL in plain text"
        );
    }
    let fragments_before = fragment_puts(&c.state());
    // The access token expires while the upload is interrupted: the resume
    // refreshes it for the Graph calls (the upload URL itself needs none).
    c.emu.expire_access_tokens();

    let out = json(&c.ok(&["backup", "--json"]));
    assert_eq!(
        out[0]["status"], "unchanged",
        "the local copy was already made: {out}"
    );
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    let id = out[0]["id"].as_str().unwrap();
    let copy_len = c.assert_uploaded_intact("Backups", "big", id);
    // Resumed, not restarted: at most one fragment sent twice.
    let fragment = 10 << 20;
    let needed = copy_len.div_ceil(fragment);
    let sent = fragment_puts(&c.state());
    assert!(
        sent <= needed + 1,
        "{sent} fragments for {needed} needed ({fragments_before} before the kill)"
    );
}

/// PUTs to upload URLs in the emulator's request log.
fn upload_puts(st: &Value) -> impl Iterator<Item = &Value> {
    st["recent"].as_array().unwrap().iter().filter(|r| {
        r["method"] == "PUT" && r["path"].as_str().is_some_and(|p| p.contains("/_upload/"))
    })
}

/// Successful fragment PUTs to upload URLs seen by the emulator.
fn fragment_puts(st: &Value) -> u64 {
    upload_puts(st)
        .filter(|r| matches!(r["status"].as_u64(), Some(200..=202)))
        .count() as u64
}

#[test]
fn remote_retention_and_restore_from_a_remote_only_restore_point() {
    let c = Cloud::new();
    let db = c.env.add_sample_source("shop.db");
    c.signed_in_with_folder("Backups");
    c.ok(&["source", "set", "shop", "--keep-last", "2"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        conn.execute("UPDATE people SET visits = ?1 WHERE rowid = 1", [i])
            .unwrap();
        ids.push(c.backup_ok());
    }
    let remote: Vec<String> = c.files("personal").into_iter().map(|f| f.0).collect();
    assert_eq!(
        remote,
        vec![
            format!("/Backups/shop/{}.json.zst", ids[1]),
            format!("/Backups/shop/{}.json.zst", ids[2])
        ]
    );
    // The machine's Nuage data is lost; OneDrive still has the backups.
    std::fs::remove_dir_all(c.env.home()).unwrap();
    assert!(c.login().succeeded());
    c.ok(&["destination", "onedrive", "--folder", "Backups"]);
    let points = c.points();
    assert_eq!(
        points.iter().filter(|p| p["location"] == "remote").count(),
        2,
        "{points:?}"
    );
    let back = c.env.path("back.db");
    c.ok(&["restore", &ids[2], "--to", s(&back)]);
    let n: i64 = rusqlite::Connection::open(&back)
        .unwrap()
        .query_row("SELECT visits FROM people WHERE rowid = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 2);
}

#[test]
fn a_drill_finds_a_replaced_or_rotten_copy_in_onedrive_and_uploads_it_again() {
    let c = Cloud::new();
    c.env.add_sample_source("shop.db");
    c.signed_in_with_folder("Backups");
    let id = c.backup_ok();
    let remote = format!("/Backups/shop/{id}.json.zst");
    let drill = |args: &[&str]| -> Vec<Value> {
        let o = c.run(args);
        json(&o.stdout).as_array().unwrap().clone()
    };

    // Replaced by other bytes: OneDrive's own hash of it differs, found
    // without downloading, and uploaded again from the good local copy.
    c.emu
        .put_file("personal", &remote, b"not a backup at all")
        .unwrap();
    let r = drill(&["verify", "--json"]);
    assert_eq!(r[1]["place"], "destination");
    assert_eq!(r[1]["ok"], true, "{r:?}");
    assert!(
        r[1]["healed"].as_str().unwrap().contains("uploaded again"),
        "{r:?}"
    );
    c.assert_uploaded_intact("Backups", "shop", &id);

    // Silent rot of the stored bytes (size and recorded hash unchanged):
    // only a download proves it, and `--remote` downloads.
    assert!(c.emu.rot_file("personal", &remote));
    let r = drill(&["verify", "--remote", "--json"]);
    assert_eq!(r[1]["ok"], true, "{r:?}");
    assert!(
        r[1]["problem"].as_str().unwrap().contains("does not match")
            && r[1]["healed"].as_str().unwrap().contains("uploaded again"),
        "{r:?}"
    );
    c.assert_uploaded_intact("Backups", "shop", &id);
    // Proven from OneDrive, which `list` says.
    let points = c.points();
    assert_eq!(points[0]["proven"]["place"], "destination", "{points:?}");
}

#[test]
fn a_service_that_cannot_reach_the_keychain_says_why_and_alerts_by_email() {
    let c = Cloud::new();
    c.env.add_sample_source("shop.db");
    c.signed_in_with_folder("Backups");
    let smtp = common::alerting::SmtpServer::start(&c.env.path("mail"), 0, &[]);
    c.ok(&[
        "alerts",
        "email",
        "--smtp",
        &smtp.url(),
        "--from",
        "nuage@shop.test",
        "--to",
        "owner@shop.test",
    ]);
    // Started where no keychain can be reached (a system service on a
    // server nobody has logged in to): the sign-in cannot be read.
    let runtime = c.env.path("runtime");
    std::fs::create_dir(&runtime).unwrap();
    let mut run = c.cmd(&["run"]);
    run.env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}/none", runtime.display()),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let child = run.spawn().unwrap();
    let mail = smtp.wait_for(1);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    let subject = common::alerting::text(&mail[0], "subject");
    let body = common::alerting::text(&mail[0], "body");
    assert!(subject.contains("needs attention"), "{subject}\n{said}");
    assert!(body.to_lowercase().contains("keychain"), "{body}\n{said}");
    assert!(
        said.to_lowercase().contains("keychain"),
        "the journal says why: {said}"
    );
}

#[test]
fn the_file_token_store_is_an_explicit_opt_in_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let c = Cloud::new();
    c.env.add_sample_source("shop.db");
    let mut cmd = c.cmd(&["login"]);
    cmd.env("NUAGE_TOKEN_STORE", "file");
    let login = std::thread::spawn(move || run_command(cmd, Duration::from_secs(60)));
    let started = Instant::now();
    while c.emu.pending_user_codes().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(20));
    }
    c.emu.approve(&c.emu.pending_user_codes()[0]).unwrap();
    let o = login.join().unwrap();
    assert!(o.succeeded(), "{}", o.describe());
    assert!(
        o.stderr.contains("warning:") && o.stderr.contains("file"),
        "{}",
        o.stderr
    );
    let secrets = c.env.home().join("secrets");
    assert_eq!(
        std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for f in std::fs::read_dir(&secrets).unwrap().flatten() {
        assert_eq!(
            f.metadata().unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            f.path().display()
        );
    }
    let mut cmd = c.cmd(&["destination", "onedrive", "--folder", "Backups"]);
    cmd.env("NUAGE_TOKEN_STORE", "file");
    assert!(run_command(cmd, Duration::from_secs(60)).succeeded());
    let mut cmd = c.cmd(&["backup", "--json"]);
    cmd.env("NUAGE_TOKEN_STORE", "file");
    let o = run_command(cmd, Duration::from_secs(60));
    assert_eq!(
        json(&o.stdout)[0]["upload"]["state"],
        "verified",
        "{}",
        o.describe()
    );
}

/// Waits until the emulator has received at least `bytes` of an upload
/// session; the session's total size.
fn wait_for_upload(c: &Cloud, bytes: u64) -> u64 {
    let started = Instant::now();
    loop {
        let st = c.state();
        let busiest = st["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .max_by_key(|s| s["received"].as_u64().unwrap_or(0))
            .cloned();
        if let Some(s) = busiest.filter(|s| s["received"].as_u64().unwrap_or(0) >= bytes) {
            return s["total"].as_u64().unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the upload never got going: {}",
            st["sessions"]
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_session_lost_mid_upload_is_replaced_and_the_rest_goes_to_the_new_url() {
    let c = Cloud::new();
    let db = c.env.path("big.db");
    common::create_big_db(&db, 60 << 20);
    c.ok(&["source", "add", s(&db)]);
    c.signed_in_with_folder("Backups");
    let cmd = c.cmd(&["backup", "--json"]);
    let run = std::thread::spawn(move || run_command(cmd, Duration::from_secs(120)));
    wait_for_upload(&c, 20 << 20);
    assert!(c.emu.expire_upload_sessions(None) >= 1);
    let o = run.join().unwrap();
    let out = json(&o.stdout);
    assert_eq!(out[0]["upload"]["state"], "verified", "{}", o.describe());
    let id = out[0]["id"].as_str().unwrap();
    c.assert_uploaded_intact("Backups", "big", id);
    // Fragments went to two upload URLs: the lost one, then its replacement.
    let st = c.state();
    let urls: std::collections::BTreeSet<&str> = upload_puts(&st)
        .filter_map(|r| r["path"].as_str())
        .collect();
    assert_eq!(urls.len(), 2, "{urls:?}");
}

#[test]
fn dropped_connections_and_partial_accepts_still_store_the_exact_bytes() {
    let c = Cloud::new();
    let db = c.env.path("big.db");
    common::create_big_db(&db, 40 << 20);
    c.ok(&["source", "add", s(&db)]);
    c.signed_in_with_folder("Backups");
    c.emu
        .inject(vec![
            FaultSpec::new(FaultKind::DropConnection)
                .path("/_upload/*")
                .method("PUT")
                .count(2),
            FaultSpec::new(FaultKind::PartialAccept)
                .path("/_upload/*")
                .method("PUT")
                .count(2),
            FaultSpec::new(FaultKind::Unavailable)
                .path("/_upload/*")
                .method("PUT")
                .count(1),
        ])
        .unwrap();
    let out = json(&c.ok(&["backup", "--json"]));
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    let id = out[0]["id"].as_str().unwrap();
    c.assert_uploaded_intact("Backups", "big", id);
    let st = c.state();
    assert!(
        st["requests"]["dropped_connections"].as_u64().unwrap() >= 2,
        "{}",
        st["requests"]
    );
    assert!(
        st["requests"]["faults_fired"].as_u64().unwrap() >= 5,
        "{}",
        st["requests"]
    );
}

#[test]
fn a_full_onedrive_keeps_copies_local_and_says_so() {
    let c = Cloud::new();
    let db = c.env.path("big.db");
    common::create_big_db(&db, 8 << 20);
    c.ok(&["source", "add", s(&db)]);
    c.signed_in_with_folder("Backups");
    c.emu.set_quota("personal", 1 << 20).unwrap();
    let o = c.run(&["backup", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", o.describe());
    let out = json(&o.stdout);
    assert_eq!(out[0]["status"], "backed_up");
    assert_eq!(out[0]["upload"]["error_code"], "destination_full");
    assert!(
        out[0]["upload"]["error"]
            .as_str()
            .unwrap()
            .contains("Free some space"),
        "{out}"
    );
    assert_eq!(c.points()[0]["location"], "local");
}

#[test]
fn throttling_longer_than_a_run_leaves_uploads_waiting_until_a_stated_time() {
    let c = Cloud::new();
    c.env.add_sample_source("shop.db");
    c.signed_in_with_folder("Backups");
    // Microsoft asks for 2 minutes; this run may retry for one.
    c.emu
        .inject(vec![
            FaultSpec::new(FaultKind::Throttle)
                .path("*/content*")
                .count(5)
                .retry_after(&[120]),
        ])
        .unwrap();
    let started = Instant::now();
    let o = c.run(&["backup", "--json"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "Nuage does not sleep past its budget"
    );
    assert_eq!(o.status.code(), Some(3), "{}", o.describe());
    let out = json(&o.stdout);
    assert_eq!(out[0]["upload"]["error_code"], "throttled");
    let status = json(&c.ok(&["status", "--json"]));
    assert_eq!(status["state"], "waiting", "{status}");
    let summary = status["summary"].as_str().unwrap();
    assert!(
        summary.contains("throttled until") && summary.contains("safe locally"),
        "{summary}"
    );
    // Signed out: the state says so (the same state the tray shows) and
    // what to do.
    c.ok(&["logout"]);
    let status = json(&c.ok(&["status", "--json"]));
    assert_eq!(status["state"], "signed_out", "{status}");
    assert_eq!(status["problem"]["action"], "sign_in", "{status}");
    assert!(
        status["problem"]["message"]
            .as_str()
            .unwrap()
            .contains("Sign in again"),
        "{status}"
    );
    assert!(
        c.ok(&["status"])
            .contains("to fix: sign in again: `nuage login`")
    );
}

/// The scenario PostgreSQL sources exist for, on a server with no desktop:
/// an app registration signs in, a SharePoint folder shared by link is the
/// destination, a Supabase-shaped database is the source, a daily schedule
/// runs under `nuage run`; the verified JSON backup lands in the shared
/// folder, a compressed copy stays local, and a restore brings the
/// database back into an empty one exactly.
#[test]
fn a_headless_server_backs_up_a_supabase_database_daily_into_a_shared_sharepoint_folder() {
    let c = Cloud::new();
    let share = c.emu.register_share("/Sites/Garage/Backups").unwrap();
    let pg = nuage_pgserver::PgServer::start().expect("a PostgreSQL server");
    pg.create_db("garage").unwrap();
    pg.psql(
        "garage",
        include_str!("../../engine/tests/fixtures/supabase-shaped.sql"),
    )
    .unwrap();

    let secret = c.env.write("secret.txt", "s3cret-value-of-the-app\n");
    let mut cmd = c.cmd(&[
        "login",
        "--app",
        "--tenant",
        "contoso.onmicrosoft.com",
        "--client-id",
        CLIENT_ID,
    ]);
    cmd.stdin(std::fs::File::open(&secret).unwrap());
    let o = run_command(cmd, Duration::from_secs(60));
    std::fs::remove_file(&secret).unwrap();
    assert!(o.succeeded(), "{}", o.describe());
    c.ok(&["destination", "onedrive", "--share-link", &share.url]);
    c.ok(&["source", "add", &pg.url("garage"), "--name", "garage"]);
    assert!(
        c.ok(&["schedule", "--daily", "02:30"])
            .contains("daily at 02:30")
    );
    // The same daily schedule, at the coming minute (so that the test sees
    // the run without waiting for 02:30).
    let at = chrono::Utc::now() + chrono::Duration::seconds(65);
    let hhmm = at.format("%H:%M").to_string();
    c.ok(&["schedule", "--daily", &hhmm]);

    let mut run = c.cmd(&["run"]);
    run.env("TZ", "UTC")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = run.spawn().unwrap();
    let started = Instant::now();
    let id = loop {
        let points = c.points();
        if let Some(p) = points.iter().find(|p| p["upload"] == "verified") {
            break p["id"].as_str().unwrap().to_string();
        }
        if started.elapsed() > Duration::from_secs(180) {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let out = child.wait_with_output().unwrap();
            panic!(
                "no verified daily backup within 3 minutes: {points:?}\n{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                c.ok(&["status"])
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // In the shared folder, byte for byte the local compressed copy.
    let remote = format!("/Sites/Garage/Backups/garage/{id}.json.zst");
    assert!(
        c.files("business").iter().any(|f| f.0 == remote),
        "{:?}",
        c.files("business")
    );
    let local = std::fs::read(c.env.home().join(format!("backups/garage/{id}.json.zst"))).unwrap();
    assert_eq!(c.emu.file_bytes("business", &remote).unwrap(), local);

    // Back into an empty database of a project with its users.
    pg.create_db("restored").unwrap();
    pg.psql(
        "restored",
        "CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
         INSERT INTO auth.users VALUES ('11111111-1111-1111-1111-111111111111', 'a'),
                                       ('22222222-2222-2222-2222-222222222222', 'b');
         CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT NULL::uuid $$;",
    )
    .unwrap();
    let report = json(&c.ok(&["restore", &id, "--to", &pg.url("restored"), "--json"]));
    assert_eq!(report["not_restored"], serde_json::json!([]), "{report}");
    for table in ["profiles", "jobs", "notes"] {
        let q = format!("SELECT string_agg(t::text, ',' ORDER BY t::text) FROM public.{table} t");
        assert_eq!(
            pg.psql("restored", &q).unwrap(),
            pg.psql("garage", &q).unwrap(),
            "{table}"
        );
    }
    assert!(!c.ok(&["source", "list", "--json"]).contains(pg.password()));
}

/// Simple uploads (`PUT …/content`) the emulator accepted.
fn content_puts(st: &Value) -> u64 {
    st["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["method"] == "PUT"
                && r["path"].as_str().is_some_and(|p| p.ends_with("/content"))
                && matches!(r["status"].as_u64(), Some(200..=201))
        })
        .count() as u64
}

/// Every file below `at` with contents, mode and modification time.
fn tree(at: &std::path::Path) -> Vec<(String, Vec<u8>, u32, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![at.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = p.symlink_metadata().unwrap();
            if m.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(at).unwrap().to_string_lossy().into_owned();
                let t = m.mtime() * 1_000_000_000 + m.mtime_nsec();
                out.push((rel, std::fs::read(&p).unwrap(), m.mode() & 0o777, t));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_folder_is_mirrored_as_browsable_files_and_every_point_restores_from_onedrive_alone() {
    let c = Cloud::new();
    let dir = c.env.path("clips");
    let file = |rel: &str, bytes: &[u8]| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    };
    file("jobs/job-1.json", br#"{"car":"Clio","km":120000}"#);
    file("jobs/job-2.json", br#"{"car":"Golf","km":80000}"#);
    file("notes/what? a:b.txt", b"forbidden characters");
    file("notes/été à Zürich.txt", b"accents and spaces");
    file("notes/draft ", b"a trailing space");
    file("Readme.txt", b"upper");
    file("README.txt", b"same name but for case");
    // A file so deep in its folders that its path would pass OneDrive's 400
    // characters (it failed the whole push before).
    let deep = (0..10)
        .map(|i| format!("Patient file {i} — letters, scans and notes"))
        .collect::<Vec<_>>()
        .join("/");
    let deep_file = format!("{deep}/Scan 2026-12-06.pdf");
    file(&deep_file, b"a scan deep down");
    let clip = file(
        "clips/front door.mp4",
        &common::pseudo_random_bytes(3, 6 << 20),
    );
    std::fs::set_permissions(
        dir.join("jobs/job-2.json"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    let first_tree = tree(&dir);
    c.signed_in_with_folder("Backups");
    c.ok(&[
        "source",
        "add",
        "--folder",
        s(&dir),
        "--name",
        "clips",
        "--exclude",
        "*.tmp",
    ]);
    file("scratch.tmp", b"excluded");
    let settle = |args: &[&str]| {
        let mut cmd = c.cmd(args);
        cmd.env("NUAGE_SETTLE_MS", "1500");
        run_command(cmd, Duration::from_secs(120))
    };
    let settled_ok = |args: &[&str]| {
        let o = settle(args);
        assert!(o.succeeded(), "expected success:\n{}", o.describe());
        o.stdout
    };
    // Everything was just written: with a minute to settle, nothing is
    // settled yet, nothing is sent.
    let mut cmd = c.cmd(&["backup", "--json"]);
    cmd.env("NUAGE_SETTLE_MS", "60000");
    let o = run_command(cmd, Duration::from_secs(120));
    assert!(o.succeeded(), "{}", o.describe());
    let out = json(&o.stdout);
    assert_eq!(out[0]["tables"], 0, "unsettled files were taken: {out}");
    std::thread::sleep(Duration::from_millis(1600));
    let o = settle(&["backup", "--json"]);
    assert!(o.succeeded(), "{}", o.describe());
    let out = json(&o.stdout);
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    assert_eq!(out[0]["tables"], 9, "{out}");
    let first = out[0]["id"].as_str().unwrap().to_string();
    // The deep file is in the long-paths folder, under its own name.
    let tag = &blake3::hash(deep_file.as_bytes()).to_hex()[..10];
    assert_eq!(
        c.emu
            .file_bytes(
                "personal",
                &format!("/Backups/clips/.nuage-long-paths/Scan 2026-12-06 ({tag}).pdf")
            )
            .as_deref(),
        Some(&b"a scan deep down"[..])
    );

    // The files are in OneDrive as themselves, names mapped where OneDrive
    // refuses them, every byte equal.
    for (remote, local) in [
        ("jobs/job-1.json", "jobs/job-1.json"),
        ("notes/what？ a：b.txt", "notes/what? a:b.txt"),
        ("notes/été à Zürich.txt", "notes/été à Zürich.txt"),
        ("notes/draft␠", "notes/draft "),
        ("clips/front door.mp4", "clips/front door.mp4"),
    ] {
        let bytes = c
            .emu
            .file_bytes("personal", &format!("/Backups/clips/{remote}"))
            .unwrap_or_else(|| panic!("{remote} is not in OneDrive"));
        assert!(bytes == std::fs::read(dir.join(local)).unwrap(), "{remote}");
    }
    let files = c.files("personal");
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    // Names equal but for case cannot both be in one OneDrive folder.
    assert!(names.contains(&"/Backups/clips/README.txt"), "{names:?}");
    assert!(
        names.contains(&"/Backups/clips/Readme (2).txt"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    assert!(names.contains(&format!("/Backups/clips/{first}.json.zst").as_str()));
    // The manifest is plain JSON inside zstd: every path, size, hash.
    let manifest = zstd::decode_all(
        &c.emu
            .file_bytes("personal", &format!("/Backups/clips/{first}.json.zst"))
            .unwrap()[..],
    )
    .unwrap();
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(manifest["source"]["kind"], "folder");
    let entry = manifest["folder"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "notes/what? a:b.txt")
        .unwrap()
        .clone();
    assert_eq!(entry["remote"], "notes/what？ a：b.txt");
    assert_eq!(
        entry["blake3"],
        blake3::hash(b"forbidden characters").to_hex().as_str()
    );

    // Unchanged: nothing read, nothing sent.
    let puts = content_puts(&c.state());
    let out = json(&settled_ok(&["backup", "--json"]));
    assert_eq!(out[0]["status"], "unchanged", "{out}");
    // A rename, a change, a deletion and a new file: only the changed and
    // the new file's bytes are sent; the renamed clip is moved in OneDrive.
    let fragments = fragment_puts(&c.state());
    std::fs::rename(&clip, dir.join("clips/2026-12-06 front door.mp4")).unwrap();
    file("jobs/job-1.json", br#"{"car":"Clio","km":121500}"#);
    std::fs::remove_file(dir.join("jobs/job-2.json")).unwrap();
    file("jobs/job-3.json", br#"{"car":"Twingo","km":5000}"#);
    std::thread::sleep(Duration::from_millis(1600));
    let out = json(&settled_ok(&["backup", "--json"]));
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    let second = out[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        content_puts(&c.state()) - puts,
        3,
        "two files and a manifest are sent"
    );
    assert_eq!(
        fragment_puts(&c.state()),
        fragments,
        "the renamed clip was sent again"
    );
    let files = c.files("personal");
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert!(
        names.contains(&"/Backups/clips/clips/2026-12-06 front door.mp4"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"/Backups/clips/jobs/job-2.json"),
        "{names:?}"
    );
    // The earlier versions are kept, named by their BLAKE3.
    for old in [
        &br#"{"car":"Clio","km":120000}"#[..],
        br#"{"car":"Golf","km":80000}"#,
    ] {
        let name = format!(
            "/Backups/clips/.nuage-versions/{}",
            blake3::hash(old).to_hex()
        );
        assert_eq!(
            c.emu.file_bytes("personal", &name).as_deref(),
            Some(old),
            "{name}"
        );
    }
    let list = c.ok(&["list", "clips"]);
    assert!(
        list.contains("1 added, 1 changed, 1 removed, 1 moved"),
        "{list}"
    );
    // A drill of both points finds every file in OneDrive, the renamed
    // clip of the first point where the second moved it (it said the clip
    // was missing before).
    let o = c.run(&["verify", "--all", "--json"]);
    assert!(o.succeeded(), "{}", o.describe());
    let reports = json(&o.stdout);
    let at_destination: Vec<&Value> = reports
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["place"] == "destination")
        .collect();
    // (The first, empty point, and the two since.)
    assert_eq!(at_destination.len(), 3, "{reports}");
    assert!(at_destination.iter().all(|r| r["ok"] == true), "{reports}");

    // The folder is lost (and the local store holds no file): the first
    // point comes back whole from OneDrive, byte for byte, mode and time.
    std::fs::remove_dir_all(&dir).unwrap();
    let out = c.env.path("restored");
    let o = c.run(&["restore", &first, "--to", s(&out)]);
    assert!(o.succeeded(), "{}", o.describe());
    assert!(o.stdout.contains("9 files"), "{}", o.stdout);
    let clean = |v: Vec<(String, Vec<u8>, u32, i64)>| -> Vec<_> {
        v.into_iter().filter(|e| !e.0.ends_with(".tmp")).collect()
    };
    assert_eq!(tree(&out), clean(first_tree.clone()));
    // One file of the second point.
    let one = c.env.path("one");
    c.ok(&[
        "restore",
        &second,
        "--to",
        s(&one),
        "--path",
        "jobs/job-1.json",
    ]);
    assert_eq!(
        std::fs::read(one.join("jobs/job-1.json")).unwrap(),
        br#"{"car":"Clio","km":121500}"#
    );
    assert_eq!(std::fs::read_dir(&one).unwrap().count(), 1);
    // A non-empty target is refused without --force.
    let o = c.run(&["restore", &second, "--to", s(&out)]);
    assert!(
        !o.succeeded() && o.stderr.contains("already exists"),
        "{}",
        o.describe()
    );
}

#[test]
fn a_one_gigabyte_clip_killed_mid_upload_resends_at_most_one_fragment() {
    let c = Cloud::new();
    let dir = c.env.path("cameras");
    std::fs::create_dir(&dir).unwrap();
    let clip = dir.join("garage door 2026-12-06.mp4");
    {
        // 1 GiB of incompressible bytes, written in pieces.
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&clip).unwrap());
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            for chunk in block.chunks_mut(8) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                chunk.copy_from_slice(&rng.to_le_bytes()[..chunk.len()]);
            }
            f.write_all(&block).unwrap();
        }
    }
    std::fs::write(dir.join("index.json"), br#"{"clips":1}"#).unwrap();
    c.ok(&["source", "add", "--folder", s(&dir), "--name", "cameras"]);
    c.signed_in_with_folder("Backups");
    let mut cmd = c.cmd(&["backup"]);
    cmd.env("NUAGE_SETTLE_MS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let size = wait_for_upload(&c, 300 << 20);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert_eq!(size, 1 << 30);
    let fragments_before = fragment_puts(&c.state());
    assert!(
        c.emu
            .file_bytes("personal", "/Backups/cameras/garage door 2026-12-06.mp4")
            .is_none(),
        "half a clip is never in OneDrive under its name"
    );

    let mut cmd = c.cmd(&["backup", "--json"]);
    cmd.env("NUAGE_SETTLE_MS", "0");
    let o = run_command(cmd, Duration::from_secs(300));
    assert!(o.succeeded(), "{}", o.describe());
    let out = json(&o.stdout);
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    // Resumed where the server stopped: at most one fragment sent twice.
    let fragment = 10 << 20;
    let needed = (1u64 << 30).div_ceil(fragment);
    let sent = fragment_puts(&c.state());
    assert!(
        sent <= needed + 1,
        "{sent} fragments for {needed} needed ({fragments_before} before the kill)"
    );
    let files = c.files("personal");
    let (_, len, qx) = files
        .iter()
        .find(|f| f.0 == "/Backups/cameras/garage door 2026-12-06.mp4")
        .expect("the clip is in OneDrive");
    assert_eq!(*len, 1 << 30);
    let mut h = nuage_graph::QuickXorHash::new();
    std::io::copy(&mut std::fs::File::open(&clip).unwrap(), &mut h).unwrap();
    assert_eq!(qx, &h.to_base64(), "the clip in OneDrive is the local one");
}

#[test]
fn many_small_documents_go_up_in_parallel_through_throttling_each_verified() {
    let c = Cloud::new();
    let dir = c.env.path("workshop");
    for i in 0..300 {
        let d = dir.join(format!("jobs/{:02}", i / 100));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(format!("job-{i}.json")),
            format!(r#"{{"job":{i},"car":"Clio","km":{}}}"#, 100_000 + i * 17),
        )
        .unwrap();
    }
    c.ok(&["source", "add", "--folder", s(&dir), "--name", "workshop"]);
    c.signed_in_with_folder("Backups");
    // OneDrive throttles a burst: some uploads are refused with
    // Retry-After, and are sent again once it has passed.
    c.emu
        .inject(vec![
            FaultSpec::new(FaultKind::Throttle)
                .path("*/content*")
                .count(5)
                .retry_after(&[1]),
        ])
        .unwrap();
    let mut cmd = c.cmd(&["backup", "--json"]);
    cmd.env("NUAGE_SETTLE_MS", "0");
    let o = run_command(cmd, Duration::from_secs(300));
    assert!(o.succeeded(), "{}", o.describe());
    let out = json(&o.stdout);
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    assert_eq!(out[0]["tables"], 300, "{out}");
    let st = c.state();
    assert_eq!(st["requests"]["by_status"]["429"].as_u64(), Some(5));
    // Every document is in OneDrive, its hash the local file's.
    let files: std::collections::HashMap<String, String> = c
        .files("personal")
        .into_iter()
        .map(|(p, _, q)| (p, q))
        .collect();
    for i in (0..300).step_by(37).chain([299]) {
        let rel = format!("jobs/{:02}/job-{i}.json", i / 100);
        let mut h = nuage_graph::QuickXorHash::new();
        std::io::copy(&mut std::fs::File::open(dir.join(&rel)).unwrap(), &mut h).unwrap();
        assert_eq!(
            files.get(&format!("/Backups/workshop/{rel}")),
            Some(&h.to_base64()),
            "{rel}"
        );
    }
    assert_eq!(
        files
            .keys()
            .filter(|p| p.starts_with("/Backups/workshop/jobs/"))
            .count(),
        300
    );
}
