//! End to end: the real `nuage` binary with an S3-compatible destination on
//! the strict S3 server (tests/s3/server.py: moto behind R2's rules), and
//! Debian's `rclone` as the other S3 client a person would use.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Outcome, s};
use nuage_s3server::{ACCESS_KEY, S3Server, SECRET};

fn server() -> Option<S3Server> {
    let s = S3Server::start(&["shop-backups"], &["locked"], &[]);
    if s.is_none() {
        eprintln!(
            "SKIPPED: the S3 server's Python (~/.cache/nuage/s3-venv, made by scripts/deps.sh) is not installed"
        );
    }
    s
}

/// `nuage ARGS` with `stdin` piped in.
fn run_with_stdin(env: &Env, args: &[&str], stdin: &str) -> Outcome {
    let mut cmd = env.command(args);
    cmd.stdin(Stdio::piped());
    let input = stdin.to_string();
    common::run_command_with_input(cmd, &input, Duration::from_secs(120))
}

fn set_s3(env: &Env, server: &S3Server, bucket: &str, extra: &[&str]) -> Outcome {
    let endpoint = server.endpoint();
    let mut args = vec![
        "destination",
        "s3",
        "--endpoint",
        &endpoint,
        "--bucket",
        bucket,
        "--prefix",
        "nuage",
        "--access-key-id",
        ACCESS_KEY,
        "--secret-stdin",
    ];
    args.extend_from_slice(extra);
    run_with_stdin(env, &args, &format!("{SECRET}\n"))
}

/// Leaves a multipart upload under `<prefix>/<folder>/` of the bucket
/// `shop-backups`, started `age_days` ago by the server's clock, as a run
/// that died would (a copy retention removed before its upload finished).
fn leave_upload(server: &S3Server, folder: &str, local: &Path, age_days: f64) -> String {
    use nuage_engine::Destination as _;
    server.faults(serde_json::json!({"skew": -age_days * 86400.0, "deny": ["UploadPart"]}));
    let mut d = engine_destination(server).with_part_size(5 << 20);
    let name = nuage_engine::file_name("20261101-010101000-00aa");
    d.upload(
        folder,
        &name,
        local,
        &mut nuage_engine::NoJournal,
        &mut |_| {},
    )
    .unwrap_err();
    server.faults(serde_json::json!({"skew": 0, "deny": []}));
    format!("nuage/{folder}/{name}")
}

/// The engine's S3 destination for `shop-backups` under `nuage`, as
/// `set_s3` configures it.
fn engine_destination(server: &S3Server) -> nuage_engine::S3Destination {
    let settings = nuage_engine::S3Settings {
        endpoint: server.endpoint(),
        bucket: "shop-backups".into(),
        prefix: "nuage".into(),
        region: nuage_s3server::REGION.into(),
        access_key_id: ACCESS_KEY.into(),
        path_style: true,
        lock_days: None,
    };
    nuage_engine::S3Destination::new(&settings, SECRET, Duration::from_secs(60)).unwrap()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// rclone on the same bucket, configured by environment only.
fn rclone(server: &S3Server, args: &[&str]) -> std::process::Output {
    Command::new("rclone")
        .args(args)
        .args(["--s3-no-check-bucket", "--config", "/dev/null"])
        .env("RCLONE_CONFIG_S3_TYPE", "s3")
        .env("RCLONE_CONFIG_S3_PROVIDER", "Other")
        .env("RCLONE_CONFIG_S3_ENDPOINT", server.endpoint())
        .env("RCLONE_CONFIG_S3_REGION", nuage_s3server::REGION)
        .env("RCLONE_CONFIG_S3_ACCESS_KEY_ID", ACCESS_KEY)
        .env("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", SECRET)
        .env("RCLONE_CONFIG_S3_FORCE_PATH_STYLE", "true")
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("rclone (scripts/deps.sh installs it)")
}

fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn backups_go_to_an_s3_bucket_verified_readable_by_rclone_and_restorable_from_it_alone() {
    let Some(server) = server() else { return };
    let env = Env::new();
    let db = env.add_sample_source("shop.db");

    // Set up with the secret on standard input: every step tried first.
    let o = set_s3(&env, &server, "shop-backups", &[]);
    assert!(o.succeeded(), "{}", o.describe());
    assert!(
        o.stdout
            .contains("writing, reading back, listing and deleting work")
            && o.stdout.contains("Object Lock: not asked for"),
        "{}",
        o.stdout
    );
    let shown = env.run_ok(&["destination", "show"]);
    assert!(
        shown.contains("S3 bucket shop-backups") && shown.contains("path addressing"),
        "{shown}"
    );

    // Backed up, uploaded and verified by its ETag.
    let id = env.backup_ok();
    let key = format!("nuage/shop/{id}.json.zst");
    let objects = server.objects();
    assert!(
        objects.iter().any(|o| o["key"] == key.as_str()),
        "{objects:?}"
    );
    let points = env.points();
    assert_eq!(points[0]["upload"], "verified", "{points:?}");

    // The secret is in the keychain only.
    for args in [
        vec!["destination", "show", "--json"],
        vec!["status", "--json"],
        vec!["list", "--json"],
    ] {
        let o = env.run_full(&args);
        assert!(
            !o.stdout.contains(SECRET) && !o.stderr.contains(SECRET),
            "{args:?}"
        );
    }
    for f in all_files(&env.home()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret is in {}",
            f.display()
        );
    }

    // Another S3 client lists and downloads it unchanged.
    let listed = rclone(&server, &["lsf", "-R", "s3:shop-backups/nuage"]);
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listed.contains(&format!("shop/{id}.json.zst")), "{listed}");
    let fetched = env.path("fetched.json.zst");
    let o = rclone(
        &server,
        &["copyto", &format!("s3:shop-backups/{key}"), s(&fetched)],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    common::assert_files_equal(&fetched, &env.local_copy("shop"));

    // A restore point placed there by hand with rclone is listed when its
    // name has Nuage's shape; another file is not.
    let by_hand = "20250101-000000000-beef";
    for name in [format!("{by_hand}.json.zst"), "notes.txt".to_string()] {
        let o = rclone(
            &server,
            &[
                "copyto",
                s(&fetched),
                &format!("s3:shop-backups/nuage/shop/{name}"),
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let points = env.points();
    assert!(
        points
            .iter()
            .any(|p| p["id"] == by_hand && p["location"] == "remote"),
        "{points:?}"
    );
    assert!(!env.run_ok(&["list"]).contains("notes"));

    // This computer's Nuage is lost: the bucket alone restores the data.
    std::fs::remove_dir_all(env.home()).unwrap();
    let o = set_s3(&env, &server, "shop-backups", &[]);
    assert!(o.succeeded(), "{}", o.describe());
    let back = env.path("back.db");
    env.run_ok(&["restore", &id, "--to", s(&back)]);
    assert_eq!(common::dump_db(&back), common::dump_db(&db));
}

#[test]
fn a_wrong_secret_changes_nothing_and_object_lock_is_used_where_the_bucket_has_it() {
    let Some(server) = server() else { return };
    let env = Env::new();
    env.add_sample_source("shop.db");
    let nas = env.folder_destination();

    let o = run_with_stdin(
        &env,
        &[
            "destination",
            "s3",
            "--endpoint",
            &server.endpoint(),
            "--bucket",
            "shop-backups",
            "--access-key-id",
            ACCESS_KEY,
            "--secret-stdin",
        ],
        "not-the-secret\n",
    );
    assert!(!o.succeeded());
    assert!(
        o.stderr.contains("could not write an object")
            && o.stderr.contains("secret access key does not match"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("not-the-secret"));
    let shown = env.run_ok(&["destination", "show"]);
    assert!(shown.contains(s(&nas)), "nothing changed: {shown}");

    // Asked for on a bucket without Object Lock: said, and left off.
    let o = set_s3(&env, &server, "shop-backups", &["--object-lock", "30"]);
    assert!(o.succeeded(), "{}", o.describe());
    assert!(
        o.stdout.contains("Object Lock: not available") && o.stdout.contains("without a retention"),
        "{}",
        o.stdout
    );

    // On a bucket with it: each copy kept undeletable for 30 days.
    let o = set_s3(&env, &server, "locked", &["--object-lock", "30", "--json"]);
    assert!(o.succeeded(), "{}", o.describe());
    let probe = json(&o.stdout);
    assert_eq!(probe["lock_days"], 30, "{probe}");
    let id = env.backup_ok();
    let objects = server.objects();
    let copy = objects
        .iter()
        .find(|o| {
            o["bucket"] == "locked"
                && o["key"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("{id}.json.zst"))
        })
        .unwrap_or_else(|| panic!("{objects:?}"));
    assert_eq!(copy["lock_mode"], "COMPLIANCE", "{copy}");
    assert!(
        copy["lock_until"].as_str().is_some_and(|u| !u.is_empty()),
        "{copy}"
    );
    assert!(
        env.run_ok(&["destination", "test"])
            .contains("Object Lock: enabled")
    );
}

#[test]
fn a_backup_killed_mid_upload_resumes_and_sends_at_most_one_part_again() {
    let Some(server) = server() else { return };
    let env = Env::new();
    let db = env.path("big.db");
    common::create_big_db(&db, 40 << 20);
    env.run_ok(&["source", "add", s(&db)]);
    let o = set_s3(&env, &server, "shop-backups", &[]);
    assert!(o.succeeded(), "{}", o.describe());

    // The first part goes in, then the server fails every part (so the
    // run waits between retries), and the process is killed outright.
    server.faults(serde_json::json!({"status500": 1000, "ops": ["UploadPart"], "after": 1}));
    let mut child = env
        .command(&["backup"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !server
        .log()
        .iter()
        .any(|l| l["op"] == "UploadPart" && l["status"] == 500)
    {
        assert!(t.elapsed() < Duration::from_secs(120), "no part uploaded");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let before = server.parts_sent();
    assert!(
        !server.uploads().is_empty(),
        "the upload is left to continue: {before:?} {:?}",
        server
            .log()
            .iter()
            .map(|l| format!("{} {} {}", l["op"], l["part_number"], l["status"]))
            .collect::<Vec<_>>()
    );
    server.reset();
    // And an upload abandoned eight days ago under this source's folder.
    let abandoned = leave_upload(&server, "big", &db, 8.0);
    assert_eq!(server.uploads().len(), 2, "{:?}", server.uploads());
    server.reset();

    // The next run continues the first: only parts the server does not
    // hold. It aborts the abandoned one (billed while kept).
    let out = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    let again = server.parts_sent();
    let repeated = again.iter().filter(|n| before.contains(n)).count();
    assert!(repeated <= 1, "sent before {before:?}, then {again:?}");
    assert!(server.uploads().is_empty(), "{:?}", server.uploads());
    assert!(
        server
            .log()
            .iter()
            .any(|l| l["op"] == "AbortMultipartUpload" && l["key"] == abandoned.as_str()),
        "{:?}",
        server.log()
    );
}

#[test]
fn a_file_rclone_sent_in_parts_of_its_own_size_is_still_moved_in_the_bucket() {
    use nuage_engine::Destination as _;
    let Some(server) = server() else { return };
    let env = Env::new();
    // 11 MiB in rclone's 5 MiB parts: an ETag "-3" of a size Nuage did
    // not choose, and no metadata of Nuage's.
    let data: Vec<u8> = (0..11u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let local = env.path("clip.bin");
    std::fs::write(&local, &data).unwrap();
    let o = rclone(
        &server,
        &[
            "copyto",
            s(&local),
            "s3:shop-backups/nuage/docs/clips/a.bin",
            "--s3-chunk-size",
            "5M",
            "--s3-upload-cutoff",
            "5M",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed = server.objects();
    let placed = listed
        .iter()
        .find(|o| o["key"] == "nuage/docs/clips/a.bin")
        .unwrap();
    assert!(placed["etag"].as_str().unwrap().ends_with("-3"), "{placed}");

    // Moved aside (as a folder's earlier version is) by a copy in the bucket.
    let mut d = engine_destination(&server);
    d.move_path("docs/clips/a.bin", "docs/.nuage-versions/a")
        .unwrap();
    assert_eq!(d.file_info("docs/clips/a.bin").unwrap(), None);
    let mut got = Vec::new();
    d.get_file("docs/.nuage-versions/a", &mut got).unwrap();
    assert!(got == data);
}
