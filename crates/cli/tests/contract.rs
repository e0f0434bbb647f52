//! The `nuage` command-line contract that scripts rely on (README), run
//! through the real binary.

mod common;

use std::os::unix::fs::FileTypeExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Env, s};
use rusqlite::Connection;
use rusqlite::types::Value;

/// All rows of all tables, in rowid/key order, as exact values.
fn contents(db: &std::path::Path) -> Vec<(String, Vec<Vec<Value>>)> {
    let c = Connection::open(db).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let mut stmt = c
                .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1"))
                .unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    Ok((0..n).map(|i| r.get::<_, Value>(i).unwrap()).collect())
                })
                .unwrap()
                .collect::<Result<Vec<Vec<Value>>, _>>()
                .unwrap();
            (t, rows)
        })
        .collect()
}

/// Restores restore point `id` as the new database `name` and reads it.
fn restored_contents(env: &Env, id: &str, name: &str) -> Vec<(String, Vec<Vec<Value>>)> {
    let back = env.path(name);
    env.run_ok(&["restore", id, "--to", s(&back)]);
    contents(&back)
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{out}"))
}

#[test]
fn backup_list_export_import_round_trip_through_the_cli() {
    let env = Env::new();
    let db = env.add_sample_source("shop.db");
    let sources = json(&env.run_ok(&["source", "list", "--json"]));
    assert_eq!(sources[0]["name"], "shop");

    let first = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(first[0]["status"], "backed_up");
    let id = first[0]["id"].as_str().unwrap().to_string();
    let again = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(
        again[0]["status"], "unchanged",
        "an unchanged source writes no new copy"
    );
    assert_eq!(again[0]["id"], id.as_str());

    let points = env.points();
    assert_eq!(points.len(), 1);
    for field in ["id", "source", "created_at", "size_bytes", "tables", "rows"] {
        assert!(!points[0][field].is_null(), "list --json lacks {field}");
    }
    assert_eq!(points[0]["source"], "shop");

    // Plain JSON export: a self-describing document a person can read.
    let plain = env.export(&id, "shop.json");
    let doc = json(&std::fs::read_to_string(&plain).unwrap());
    assert_eq!(doc["format"], "nuage-backup");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["source"]["name"], "shop");
    assert!(
        doc["schema"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["type"] == "table")
    );
    // Compressed export, recognised by its extension.
    let zst = env.export(&id, "shop.json.zst");
    assert_eq!(
        &std::fs::read(&zst).unwrap()[..4],
        &[0x28, 0xb5, 0x2f, 0xfd]
    );

    let original = contents(&db);
    for (file, to) in [(&plain, "from-json.db"), (&zst, "from-zst.db")] {
        let target = env.path(to);
        env.run_ok(&["import", s(file), "--to", s(&target)]);
        assert_eq!(contents(&target), original, "import of {}", file.display());
    }
    let restored = env.path("restored.db");
    // A unique prefix of the id is enough.
    env.run_ok(&["restore", &id[..12], "--to", s(&restored)]);
    assert_eq!(contents(&restored), original);
}

#[test]
fn restore_in_place_with_yes_keeps_the_previous_state_as_a_restore_point() {
    let env = Env::new();
    let db = env.add_sample_source("app.db");
    let id = env.backup_ok();
    let good = contents(&db);
    Connection::open(&db)
        .unwrap()
        .execute_batch("DELETE FROM people")
        .unwrap();
    let damaged = contents(&db);
    assert_ne!(good, damaged);

    let out = json(&env.run_ok(&["restore", &id, "--yes", "--json"]));
    assert_eq!(contents(&db), good);
    let safety = out["safety_point"]
        .as_str()
        .expect("safety point id")
        .to_string();
    assert_eq!(
        restored_contents(&env, &safety, "damaged.db"),
        damaged,
        "the replaced contents are never lost"
    );
}

#[test]
fn sources_retention_and_removal() {
    let env = Env::new();
    let db = env.add_sample_source("a.db");
    env.run_ok(&["source", "set", "a", "--keep-last", "2"]);
    let c = Connection::open(&db).unwrap();
    for i in 0..4 {
        c.execute(
            "UPDATE people SET name = ?1 WHERE rowid = 1",
            [format!("n{i}")],
        )
        .unwrap();
        env.backup_ok();
    }
    assert_eq!(env.points().len(), 2, "keep-last 2");
    let (st, _, err) = env.run(&["source", "set", "a", "--keep-last", "0"]);
    assert!(!st.success());
    assert!(err.contains("at least 1"), "{err}");

    // Rename: the restore points follow; a bad name is refused.
    let (st, _, err) = env.run(&["source", "rename", "a", "no/slash"]);
    assert!(!st.success());
    assert!(err.contains("cannot name a source"), "{err}");
    let out = env.run_ok(&["source", "rename", "a", "b"]);
    assert!(out.contains("renamed source 'a' to 'b'"), "{out}");
    let listed = json(&env.run_ok(&["list", "b", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    env.run_ok(&["source", "rename", "b", "a"]);

    env.run_ok(&["source", "remove", "a"]);
    assert!(
        json(&env.run_ok(&["source", "list", "--json"]))
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        env.points().len(),
        2,
        "removing a source keeps its restore points"
    );
    let (st, _, err) = env.run(&["list", "nosuch"]);
    assert!(!st.success());
    assert!(err.contains("no source named 'nosuch'"), "{err}");
}

#[test]
fn schedule_is_stored_and_validated() {
    let env = Env::new();
    assert!(env.run_ok(&["schedule"]).contains("off"));
    assert!(
        env.run_ok(&["schedule", "--every", "30"])
            .contains("every 30 minutes")
    );
    assert!(
        env.run_ok(&["schedule", "--daily", "02:30"])
            .contains("daily at 02:30")
    );
    assert!(env.run_ok(&["schedule"]).contains("daily at 02:30"));
    let (st, _, err) = env.run(&["schedule", "--daily", "25:61"]);
    assert!(!st.success());
    assert!(err.contains("HH:MM"), "{err}");
    assert!(env.run_ok(&["schedule", "--off"]).contains("off"));
    // Restore drills: weekly unless set.
    assert!(
        env.run_ok(&["schedule"])
            .contains("restore drills: every 7 days")
    );
    assert!(
        env.run_ok(&["schedule", "--verify-every", "1"])
            .contains("restore drills: every day")
    );
    assert!(
        env.run_ok(&["schedule", "--verify-off"])
            .contains("restore drills: off")
    );
    let (st, _, err) = env.run(&["schedule", "--verify-every", "0"]);
    assert!(!st.success() && err.contains("from 1 to 365"), "{err}");
}

#[test]
fn run_backs_up_on_schedule_and_stops_cleanly_on_sigterm() {
    let env = Env::new();
    env.add_sample_source("s.db");
    env.run_ok(&["schedule", "--every", "60"]);
    let child = env
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Never run before: the first run is due at once.
    let started = Instant::now();
    while env.points().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no scheduled backup within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("scheduler stopped"), "{err}");
    assert_eq!(env.points().len(), 1, "one run, not one per loop");
}

#[test]
fn piped_output_is_plain_and_status_reports_sources() {
    let env = Env::new();
    env.add_sample_source("p.db");
    let o = env.run_full(&["backup"]);
    assert!(o.succeeded(), "{}", o.describe());
    assert!(
        o.stderr.is_empty(),
        "no progress bar when stderr is not a terminal: {:?}",
        o.stderr
    );
    assert!(o.stdout.contains("p: backed up as"), "{}", o.stdout);
    let st = json(&env.run_ok(&["status", "--json"]));
    assert_eq!(st["sources"][0]["name"], "p");
    assert!(st["sources"][0]["last_backup"]["id"].is_string());
    assert!(env.run_ok(&["status"]).contains("p: last backup just now"));
}

#[test]
fn a_backup_killed_midway_leaves_nothing_half_done() {
    let env = Env::new();
    let db = env.path("big.db");
    common::create_big_db(&db, 120 << 20);
    env.run_ok(&["source", "add", s(&db)]);
    let mut child = env
        .command(&["backup"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the copy is being written, then kill -9.
    let dir = env.home().join("backups/big");
    let started = Instant::now();
    loop {
        let writing = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with('.'))
            })
            .unwrap_or(false);
        if writing {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "backup never started writing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(
        env.points().is_empty(),
        "a killed backup records no restore point"
    );
    // The next run starts over cleanly, and leaves only its finished copy.
    let id = env.backup_ok();
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, vec![format!("{id}.json.zst")]);
    assert!(
        !env.home().join("tmp").exists()
            || std::fs::read_dir(env.home().join("tmp")).unwrap().count() == 0
    );
}

fn json_of(o: &common::Outcome) -> serde_json::Value {
    json(&o.stdout)
}

#[test]
fn copies_go_to_the_destination_verified_and_come_back_after_the_home_is_lost() {
    let env = Env::new();
    let db = env.add_sample_source("shop.db");
    let nas = env.path("nas");
    std::fs::create_dir(&nas).unwrap();
    env.run_ok(&["destination", "folder", s(&nas)]);
    let out = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    let id = out[0]["id"].as_str().unwrap().to_string();
    // The destination holds the local copy, byte for byte.
    let local = std::fs::read(env.home().join(format!("backups/shop/{id}.json.zst"))).unwrap();
    let remote = std::fs::read(nas.join(format!("shop/{id}.json.zst"))).unwrap();
    assert_eq!(local, remote);
    assert_eq!(env.points()[0]["location"], "both");

    // The machine's Nuage data is lost; the destination is all that is left.
    std::fs::remove_dir_all(env.home()).unwrap();
    env.run_ok(&["destination", "folder", s(&nas)]);
    let points = env.points();
    assert_eq!(points.len(), 1);
    assert_eq!(points[0]["location"], "remote");
    assert_eq!(points[0]["id"], id.as_str());
    assert_eq!(restored_contents(&env, &id, "back.db"), contents(&db));
    let exported = env.path("again.json");
    env.run_ok(&["export", &id, s(&exported)]);
    assert_eq!(
        json(&std::fs::read_to_string(&exported).unwrap())["format"],
        "nuage-backup"
    );
}

#[test]
fn an_unreachable_destination_keeps_copies_local_and_catches_up_later() {
    let env = Env::new();
    env.add_sample_source("shop.db");
    let nas = env.path("nas");
    std::fs::create_dir(&nas).unwrap();
    env.run_ok(&["destination", "folder", s(&nas)]);
    // The share is unplugged.
    let away = env.path("nas-away");
    std::fs::rename(&nas, &away).unwrap();
    let o = env.run_full(&["backup", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "exit 3: backed up locally, upload pending\n{}",
        o.describe()
    );
    let out = json_of(&o);
    assert_eq!(out[0]["status"], "backed_up");
    assert_eq!(out[0]["upload"]["state"], "pending");
    assert_eq!(out[0]["upload"]["error_code"], "destination_unavailable");
    assert_eq!(env.points()[0]["location"], "local");
    // Plugged back in: the next run has nothing new, but uploads what waited.
    std::fs::rename(&away, &nas).unwrap();
    let out = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(out[0]["status"], "unchanged");
    assert_eq!(out[0]["upload"]["state"], "verified");
    assert_eq!(out[0]["upload"]["uploaded"].as_array().unwrap().len(), 1);
    assert_eq!(env.points()[0]["location"], "both");
}

#[test]
fn retention_applies_at_the_destination_and_spares_foreign_files() {
    let env = Env::new();
    let db = env.add_sample_source("shop.db");
    let nas = env.path("nas");
    std::fs::create_dir_all(nas.join("shop")).unwrap();
    std::fs::write(nas.join("shop/notes.txt"), "mine").unwrap();
    env.run_ok(&["destination", "folder", s(&nas)]);
    env.run_ok(&["source", "set", "shop", "--keep-last", "2"]);
    let c = Connection::open(&db).unwrap();
    let mut ids = Vec::new();
    for i in 0..4 {
        c.execute(
            "UPDATE people SET name = ?1 WHERE rowid = 1",
            [format!("n{i}")],
        )
        .unwrap();
        ids.push(env.backup_ok());
    }
    let mut remote: Vec<String> = std::fs::read_dir(nas.join("shop"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    remote.sort();
    assert_eq!(
        remote,
        vec![
            format!("{}.json.zst", ids[2]),
            format!("{}.json.zst", ids[3]),
            "notes.txt".to_string()
        ]
    );
}

/// A home with `shop.db` backed up to a folder destination; returns the
/// database, the destination folder and the restore point id.
fn backed_up_to_a_folder(env: &Env) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let db = env.add_sample_source("shop.db");
    let nas = env.path("nas");
    std::fs::create_dir(&nas).unwrap();
    env.run_ok(&["destination", "folder", s(&nas)]);
    let out = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(out[0]["upload"]["state"], "verified", "{out}");
    (db, nas, out[0]["id"].as_str().unwrap().to_string())
}

fn location_of(env: &Env, id: &str) -> String {
    env.points()
        .iter()
        .find(|p| p["id"] == id)
        .map(|p| p["location"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn a_lost_or_damaged_local_copy_is_restored_from_the_destination_and_put_back() {
    let env = Env::new();
    let (db, _nas, id) = backed_up_to_a_folder(&env);
    let local = env.home().join(format!("backups/shop/{id}.json.zst"));
    let good = std::fs::read(&local).unwrap();

    // Gone: the list says where the copy really is.
    std::fs::remove_file(&local).unwrap();
    assert_eq!(
        location_of(&env, &id),
        "remote",
        "not 'both' with the local copy gone"
    );
    let back = env.path("back.db");
    let out = env.run_ok(&["restore", &id, "--to", s(&back)]);
    assert!(
        out.contains("the verified copy at the destination was used"),
        "{out}"
    );
    assert_eq!(contents(&back), contents(&db));
    assert_eq!(
        std::fs::read(&local).unwrap(),
        good,
        "the local copy is put back"
    );
    assert_eq!(location_of(&env, &id), "both");

    // Damaged (same size, other bytes): the checksum catches it, the
    // destination's copy is used and the local one repaired.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(&local, &bad).unwrap();
    let again = env.path("again.db");
    let o = json(&env.run_ok(&["restore", &id, "--to", s(&again), "--json"]));
    assert_eq!(o["copy"], "repaired", "{o}");
    assert_eq!(contents(&again), contents(&db));
    assert_eq!(std::fs::read(&local).unwrap(), good);
}

#[test]
fn the_next_backup_puts_back_a_lost_copy_or_takes_a_new_one() {
    let env = Env::new();
    let (_db, _nas, id) = backed_up_to_a_folder(&env);
    let local = env.home().join(format!("backups/shop/{id}.json.zst"));
    std::fs::remove_file(&local).unwrap();
    // The source did not change: the copy comes back from the destination.
    let out = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(out[0]["status"], "unchanged", "{out}");
    assert!(local.is_file(), "the lost local copy is back");
    assert_eq!(location_of(&env, &id), "both");

    // Without a destination nothing can bring it back: a new snapshot is
    // taken, and the lost point is listed as missing, not as safe.
    env.run_ok(&["destination", "remove"]);
    std::fs::remove_file(&local).unwrap();
    assert_eq!(location_of(&env, &id), "missing");
    let out = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(
        out[0]["status"], "backed_up",
        "a lost copy is never 'unchanged': {out}"
    );
    assert!(env.run_ok(&["list"]).contains("MISSING"));
}

#[test]
fn an_in_place_restore_never_takes_a_lost_copy_as_its_safety_copy() {
    let env = Env::new();
    let db = env.add_sample_source("shop.db");
    let p1 = env.backup_ok();
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE newest(x); INSERT INTO newest VALUES ('the rows of today');")
        .unwrap();
    drop(c);
    let p2 = env.backup_ok();
    let today = contents(&db);
    // The newest copy is lost (no destination holds it).
    std::fs::remove_file(env.home().join(format!("backups/shop/{p2}.json.zst"))).unwrap();
    let r = json(&env.run_ok(&["restore", &p1, "--yes", "--json"]));
    let safety = r["safety_point"]
        .as_str()
        .expect("a safety point")
        .to_string();
    assert_ne!(
        safety, p2,
        "the lost copy was offered as the safety copy: {r}"
    );
    // The safety copy exists, verifies, and holds today's rows.
    assert_eq!(
        restored_contents(&env, &safety, "today.db"),
        today,
        "the newest rows survive the restore"
    );
}

#[test]
fn retention_at_the_destination_only_ever_deletes_what_nuage_uploaded() {
    let env = Env::new();
    let db = env.add_sample_source("shop.db");
    let nas = env.path("nas");
    std::fs::create_dir_all(nas.join("shop")).unwrap();
    env.run_ok(&["destination", "folder", s(&nas)]);
    env.run_ok(&["source", "set", "shop", "--keep-last", "2"]);
    // Two junk files named like restore points from the future.
    let junk = [
        nas.join("shop/29991231-235959998-dead.json.zst"),
        nas.join("shop/29991231-235959999-beef.json.zst"),
    ];
    for j in &junk {
        std::fs::write(j, b"junk!").unwrap();
    }
    let mut ids = Vec::new();
    for i in 0..3 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute(&format!("CREATE TABLE change{i}(x)"), [])
            .unwrap();
        let out = json(&env.run_ok(&["backup", "--json"]));
        let id = out[0]["id"].as_str().unwrap().to_string();
        assert!(
            out[0]["upload"]["removed"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r != id.as_str()),
            "the new copy was deleted in the run that made it: {out}"
        );
        ids.push(id);
    }
    let newest = ids.last().unwrap();
    assert!(nas.join(format!("shop/{newest}.json.zst")).is_file());
    assert_eq!(location_of(&env, newest), "both");
    // Retention still works on Nuage's own copies: the oldest is gone.
    assert!(!nas.join(format!("shop/{}.json.zst", ids[0])).exists());
    assert!(nas.join(format!("shop/{}.json.zst", ids[1])).is_file());
    // And what is not Nuage's is left alone.
    for j in &junk {
        assert_eq!(std::fs::read(j).unwrap(), b"junk!");
    }
}

#[test]
fn a_fifo_named_like_a_restore_point_at_the_destination_hangs_nothing() {
    let env = Env::new();
    env.add_sample_source("shop.db");
    let nas = env.path("nas");
    std::fs::create_dir_all(nas.join("shop")).unwrap();
    env.run_ok(&["destination", "folder", s(&nas)]);
    let fifo = nas.join("shop/20260101-000000000-0f1f.json.zst");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    // Each command would block forever opening the FIFO; the default
    // timeout of run_full fails the test if one does.
    let o = env.run_full(&["backup", "--json"]);
    assert!(o.succeeded(), "{}", o.describe());
    let o = env.run_full(&["list"]);
    assert!(o.succeeded(), "{}", o.describe());
    assert!(!o.stdout.contains("0f1f"), "a FIFO is not a restore point");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "left as it was"
    );
}

#[test]
fn source_names_equal_but_for_case_are_refused() {
    let env = Env::new();
    let a = env.path("a.db");
    let b = env.path("b.db");
    common::create_sample_db(&a);
    common::create_sample_db(&b);
    env.run_ok(&["source", "add", s(&a), "--name", "Shop"]);
    let o = env.run_full(&["source", "add", s(&b), "--name", "shop"]);
    assert!(!o.succeeded());
    assert!(o.stderr.contains("'Shop' already exists"), "{}", o.stderr);
    assert!(o.stderr.contains("case"), "{}", o.stderr);
}

#[test]
fn a_damaged_local_copy_is_never_uploaded_and_does_not_hold_back_the_others() {
    let env = Env::new();
    let db = env.add_sample_source("shop.db");
    let nas = env.path("nas");
    std::fs::create_dir(&nas).unwrap();
    env.run_ok(&["destination", "folder", s(&nas)]);
    // The backup disk is unplugged: the first copy waits.
    std::fs::rename(&nas, env.path("unplugged")).unwrap();
    let o = env.run_full(&["backup", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", o.describe());
    let first = json(&o.stdout)[0]["id"].as_str().unwrap().to_string();
    // Its local copy is damaged meanwhile (same size, other bytes).
    let local = env.home().join(format!("backups/shop/{first}.json.zst"));
    let mut bytes = std::fs::read(&local).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&local, &bytes).unwrap();
    // The disk is back, and the database changed.
    std::fs::rename(env.path("unplugged"), &nas).unwrap();
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE later(x)")
        .unwrap();
    let o = env.run_full(&["backup", "--json"]);
    let out = json(&o.stdout);
    let second = out[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        out[0]["upload"]["uploaded"],
        serde_json::json!([second]),
        "{out}"
    );
    assert!(
        out[0]["upload"]["error"]
            .as_str()
            .unwrap()
            .contains("checksum"),
        "{out}"
    );
    assert!(nas.join(format!("shop/{second}.json.zst")).is_file());
    assert!(
        !nas.join(format!("shop/{first}.json.zst")).exists(),
        "the damaged copy was sent"
    );
}

#[test]
fn under_nuage_run_a_finished_file_is_backed_up_within_seconds_not_at_the_next_interval() {
    let env = Env::new();
    let dir = env.path("recordings");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("old.json"), b"{}").unwrap();
    let dest = env.folder_destination();
    env.run_ok(&["source", "add", "--folder", s(&dir), "--name", "recordings"]);
    env.run_ok(&["schedule", "--every", "1440"]);
    let mut cmd = env.command(&["run"]);
    cmd.env("NUAGE_SETTLE_MS", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let wait_for = |what: &str, ok: &dyn Fn() -> bool, secs: u64| {
        let started = Instant::now();
        while !ok() {
            assert!(
                started.elapsed() < Duration::from_secs(secs),
                "{what} within {secs} s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        started.elapsed()
    };
    // The first scheduled run (due at once) mirrors the folder.
    wait_for(
        "the first run",
        &|| dest.join("recordings/old.json").exists(),
        30,
    );
    // A clip being recorded: written in pieces, held open. Not uploaded
    // while it grows.
    let clip = dir.join("cam 1.mp4");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&clip).unwrap();
        for i in 0..6u8 {
            f.write_all(&vec![i; 256 << 10]).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(500));
            assert!(
                !dest.join("recordings/cam 1.mp4").exists(),
                "a file still being written was uploaded"
            );
        }
    }
    // Finished: at the destination within seconds, whole — the schedule
    // would have waited a day.
    wait_for(
        "the finished clip at the destination",
        &|| {
            std::fs::metadata(dest.join("recordings/cam 1.mp4"))
                .is_ok_and(|m| m.len() == 6 * (256 << 10))
        },
        20,
    );
    assert_eq!(
        std::fs::read(dest.join("recordings/cam 1.mp4")).unwrap(),
        std::fs::read(&clip).unwrap()
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `nuage backup` of files just written (taken as finished at once); the
/// id of the new point of the first source.
fn backup_settled(env: &Env) -> String {
    let mut cmd = env.command(&["backup", "--json"]);
    cmd.env("NUAGE_SETTLE_MS", "0");
    let o = common::run_command(cmd, Duration::from_secs(60));
    assert!(o.succeeded(), "{}", o.describe());
    json(&o.stdout)[0]["id"].as_str().unwrap().to_string()
}

#[test]
fn a_folder_restored_in_place_keeps_what_it_replaced_and_its_safety_point_restores_after_a_rename()
{
    let env = Env::new();
    let dir = env.path("docs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.json"), b"{\"v\":1}").unwrap();
    std::fs::write(dir.join("b.json"), b"{\"b\":true}").unwrap();
    env.run_ok(&["source", "add", "--folder", s(&dir), "--name", "docs"]);
    // The destination keeps the versions a folder's older points need.
    let nas = env.folder_destination();
    let first = backup_settled(&env);
    assert_eq!(
        std::fs::read(nas.join("docs/a.json")).unwrap(),
        b"{\"v\":1}"
    );
    // The application changes a file and adds one (not backed up yet).
    std::fs::write(dir.join("a.json"), b"{\"v\":2}").unwrap();
    std::fs::write(dir.join("c.json"), b"{\"new\":1}").unwrap();
    let mut cmd = env.command(&["restore", &first, "--yes", "--json"]);
    cmd.env("NUAGE_SETTLE_MS", "0");
    let o = common::run_command(cmd, Duration::from_secs(60));
    assert!(o.succeeded(), "{}", o.describe());
    let safety = json(&o.stdout)["safety_point"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(std::fs::read(dir.join("a.json")).unwrap(), b"{\"v\":1}");
    assert!(
        !dir.join("c.json").exists(),
        "the point did not hold c.json"
    );
    // Renamed: the safety point (never uploaded) still brings back what
    // the restore replaced or removed, from the versions the home kept,
    // which followed the rename.
    env.run_ok(&["source", "rename", "docs", "papers"]);
    let back = env.path("back");
    env.run_ok(&["restore", &safety, "--to", s(&back)]);
    assert_eq!(std::fs::read(back.join("a.json")).unwrap(), b"{\"v\":2}");
    assert_eq!(std::fs::read(back.join("c.json")).unwrap(), b"{\"new\":1}");
    assert_eq!(std::fs::read(back.join("b.json")).unwrap(), b"{\"b\":true}");
    assert!(!env.home().join("objects/docs").exists());
}

#[test]
fn without_a_destination_a_folders_earlier_points_restore_from_the_local_copy_within_its_cap() {
    let env = Env::new();
    let dir = env.path("docs");
    std::fs::create_dir_all(dir.join("jobs")).unwrap();
    let job = |v: u32| format!("{{\"job\":1,\"v\":{v},\"pad\":\"{}\"}}", "x".repeat(4000));
    std::fs::write(dir.join("jobs/1.json"), job(1)).unwrap();
    std::fs::write(dir.join("jobs/2.json"), b"{\"job\":2}").unwrap();
    env.run_ok(&["source", "add", "--folder", s(&dir), "--name", "docs"]);
    let first = backup_settled(&env);
    // The application rewrites one document and deletes the other.
    std::fs::write(dir.join("jobs/1.json"), job(2)).unwrap();
    std::fs::remove_file(dir.join("jobs/2.json")).unwrap();
    let second = backup_settled(&env);
    let list = |env: &Env| {
        json(&env.run_ok(&["list", "docs", "--json"]))
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(
        list(&env).iter().all(|p| p.get("missing_files").is_none()),
        "every point is restorable here: {:?}",
        list(&env)
    );
    // The whole folder is lost: both points come back from the home alone.
    std::fs::remove_dir_all(&dir).unwrap();
    let back1 = env.path("back1");
    env.run_ok(&["restore", &first, "--to", s(&back1)]);
    assert_eq!(
        std::fs::read_to_string(back1.join("jobs/1.json")).unwrap(),
        job(1)
    );
    assert_eq!(
        std::fs::read(back1.join("jobs/2.json")).unwrap(),
        b"{\"job\":2}"
    );
    let back2 = env.path("back2");
    env.run_ok(&["restore", &second, "--to", s(&back2)]);
    assert_eq!(
        std::fs::read_to_string(back2.join("jobs/1.json")).unwrap(),
        job(2)
    );
    assert!(!back2.join("jobs/2.json").exists());

    // A cap that holds the newest point only: the first point's versions
    // go, and the listing says that point cannot be restored whole.
    let o = env.run_ok(&["source", "set", "docs", "--local-copy", "5KB"]);
    assert!(o.contains("up to 5.0 KB"), "{o}");
    let points = list(&env);
    let missing = |id: &str| {
        points
            .iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p["missing_files"].as_u64())
    };
    assert_eq!(missing(&second), None);
    // Its first version of 1.json (2.json, small, still fits).
    assert_eq!(missing(&first), Some(1), "{points:?}");
    let o = env.run_ok(&["list", "docs"]);
    assert!(o.contains("NOT RESTORABLE WHOLE"), "{o}");
    let lost = env.path("lost");
    let (status, _, err) = env.run(&["restore", &first, "--to", s(&lost)]);
    assert!(!status.success());
    assert!(err.contains("no copy of 'jobs/1.json'"), "{err}");
    assert!(!lost.exists(), "a failed restore leaves no target behind");
    let back3 = env.path("back3");
    env.run_ok(&["restore", &second, "--to", s(&back3)]);
    assert_eq!(
        std::fs::read_to_string(back3.join("jobs/1.json")).unwrap(),
        job(2)
    );

    // None at all: the local copy goes.
    env.run_ok(&["source", "set", "docs", "--local-copy", "0"]);
    let copies = env.home().join("copies/docs");
    assert!(
        std::fs::read_dir(&copies).map_or(true, |d| d.count() == 0),
        "nothing kept"
    );
    let (status, _, err) = env.run(&["source", "set", "docs", "--local-copy", "lots"]);
    assert!(!status.success() && err.contains("500MB"), "{err}");
}

#[test]
fn with_a_destination_a_folder_keeps_no_local_copy_unless_asked() {
    let env = Env::new();
    let dir = env.path("docs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.json"), b"{\"a\":1}").unwrap();
    env.run_ok(&["source", "add", "--folder", s(&dir), "--name", "docs"]);
    env.folder_destination();
    backup_settled(&env);
    // Its status counts files and bytes, not tables and rows.
    let status = env.run_ok(&["status"]);
    assert!(
        status.contains("docs: last backup just now (1 file, 7 B), 1 restore points"),
        "{status}"
    );
    let copies = env.home().join("copies/docs");
    assert!(
        !copies
            .join(blake3::hash(b"{\"a\":1}").to_hex().as_str())
            .exists()
    );
    env.run_ok(&["source", "set", "docs", "--local-copy", "1MB"]);
    assert!(
        copies
            .join(blake3::hash(b"{\"a\":1}").to_hex().as_str())
            .exists()
    );
}

#[test]
fn service_install_writes_a_unit_that_runs_this_nuage_and_says_what_to_do_without_systemd() {
    let env = Env::new();
    let config = env.path("config");
    let runtime = env.path("runtime");
    std::fs::create_dir(&runtime).unwrap();
    // The real systemctl, pointed at a bus that does not exist: it can
    // never reach (and enable a unit in) the developer's own session.
    let run = |args: &[&str]| {
        let mut cmd = env.command(args);
        cmd.env("XDG_CONFIG_HOME", &config)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}/none", runtime.display()),
            );
        common::run_command(cmd, Duration::from_secs(30))
    };
    let o = run(&["service", "install", "--user"]);
    let unit = config.join("systemd/user/nuage.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    let exe = std::fs::canonicalize(common::NUAGE).unwrap();
    assert!(
        text.contains(&format!(
            "ExecStart=\"{}\" --home \"{}\" run\n",
            exe.display(),
            env.home().display()
        )),
        "{text}"
    );
    assert!(text.contains("WantedBy=default.target") && text.contains("Restart=on-failure"));
    assert!(!o.succeeded(), "no systemd here: {}", o.describe());
    assert!(
        o.stderr
            .contains("systemctl --user daemon-reload && systemctl --user enable --now nuage"),
        "{}",
        o.stderr
    );
    // systemd itself accepts the unit, when it is installed.
    if std::path::Path::new("/usr/bin/systemd-analyze").exists() {
        let check = std::process::Command::new("/usr/bin/systemd-analyze")
            .args(["verify", s(&unit)])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&check.stderr);
        assert!(
            !said.contains("nuage.service:"),
            "systemd-analyze found a problem in the unit: {said}"
        );
    }
    // A home whose path has a space and a quote: quoted as systemd reads it.
    let odd = env.path("my \"odd\" home");
    let mut cmd = std::process::Command::new(common::NUAGE);
    cmd.arg("--home")
        .arg(&odd)
        .args(["service", "install", "--user"])
        .env("XDG_CONFIG_HOME", env.path("config2"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}/none", runtime.display()),
        );
    common::run_command(cmd, Duration::from_secs(30));
    let text2 = std::fs::read_to_string(env.path("config2/systemd/user/nuage.service")).unwrap();
    assert!(
        text2.contains(&format!(
            "--home \"{}\" run\n",
            odd.display().to_string().replace('"', "\\\"")
        )),
        "{text2}"
    );
    let o = run(&["service", "status", "--user"]);
    assert!(o.stdout.contains("installed:"), "{}", o.describe());
    let o = run(&["service", "uninstall", "--user"]);
    assert!(
        o.succeeded() && o.stdout.contains("removed"),
        "{}",
        o.describe()
    );
    assert!(!unit.exists());
    // The unit the Debian package ships (`make deb`): the packaged program
    // on each user's default home, the same unit otherwise.
    let packaged = env.run_ok(&[
        "service",
        "unit",
        "--user",
        "--exe",
        "/usr/bin/nuage",
        "--default-home",
    ]);
    assert!(
        packaged.contains("ExecStart=\"/usr/bin/nuage\" run\n") && !packaged.contains("--home"),
        "{packaged}"
    );
    assert_eq!(
        packaged.replace("ExecStart=\"/usr/bin/nuage\" run", ""),
        text.replace(
            &format!(
                "ExecStart=\"{}\" --home \"{}\" run",
                exe.display(),
                env.home().display()
            ),
            ""
        )
    );
    // A system service needs root.
    if unsafe { libc::geteuid() } != 0 {
        let o = run(&["service", "install"]);
        assert!(
            !o.succeeded() && o.stderr.contains("sudo"),
            "{}",
            o.describe()
        );
    }
}
