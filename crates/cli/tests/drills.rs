//! Restore drills through the real `nuage` binary: `nuage verify` proves
//! each copy restorable (local and at the destination), finds a damaged
//! one, heals it from the good copy, and when none is good says so, alerts
//! once and deletes nothing.

mod common;

use std::path::{Path, PathBuf};

use common::Env;
use common::alerting::{Receiver, text};

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Flips one byte in the middle: same size, other contents (bit rot).
fn rot(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(file, bytes).unwrap();
}

fn copy_at(nas: &Path, source: &str) -> PathBuf {
    std::fs::read_dir(nas.join(source))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".json.zst"))
        .expect("a copy at the destination")
}

#[test]
fn verify_proves_the_newest_point_restorable_from_each_place_and_list_says_so() {
    let env = Env::new();
    env.add_sample_source("shop.db");
    let nas = env.folder_destination();
    let id = env.backup_ok();
    let reports = json(&env.run_ok(&["verify", "--json"]));
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 2, "{reports:?}");
    for (r, place) in reports.iter().zip(["local", "destination"]) {
        assert_eq!(r["place"], place);
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["point"], id.as_str());
        assert!(r["tables"].as_u64().unwrap() > 0 && r["rows"].as_u64().unwrap() > 0);
    }
    // Downloaded and restored from the destination too.
    let remote = json(&env.run_ok(&["verify", "--remote", "--json"]));
    assert_eq!(remote[1]["ok"], true, "{remote}");
    let points = json(&env.run_ok(&["list", "--json"]));
    assert!(
        points[0]["proven"]["at"]
            .as_str()
            .unwrap()
            .starts_with("20"),
        "{points}"
    );
    assert!(env.run_ok(&["list"]).contains("proven restorable from"));
    let said = env.run_ok(&["verify"]);
    assert!(
        said.contains("proven restorable from the destination (3 tables, 47 rows)"),
        "{said}"
    );
    assert!(nas.join("shop").exists());
}

#[test]
fn a_rotten_copy_is_found_and_healed_from_the_good_one_on_either_side() {
    let env = Env::new();
    env.add_sample_source("shop.db");
    let nas = env.folder_destination();
    env.backup_ok();
    let local = env.local_copy("shop");
    let remote = copy_at(&nas, "shop");

    // At the destination: uploaded again from the local copy.
    rot(&remote);
    let (status, out, err) = env.run(&["verify"]);
    assert!(status.success(), "{out}{err}");
    assert!(
        err.contains("the destination was bad") && err.contains("healed: uploaded again"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&remote).unwrap(),
        std::fs::read(&local).unwrap()
    );

    // Locally: put back from the destination.
    rot(&local);
    let (status, out, err) = env.run(&["verify"]);
    assert!(status.success(), "{out}{err}");
    assert!(
        err.contains("the local copy was bad") && err.contains("put back from the destination"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&local).unwrap(),
        std::fs::read(&remote).unwrap()
    );
    assert!(
        out.contains("proven restorable from the local copy"),
        "{out}"
    );
}

#[test]
fn with_no_good_copy_left_the_drill_fails_alerts_once_and_deletes_nothing() {
    let env = Env::new();
    env.add_sample_source("shop.db");
    let nas = env.folder_destination();
    env.backup_ok();
    let hook = Receiver::start(0);
    env.run_ok(&[
        "alerts",
        "webhook",
        &format!("http://127.0.0.1:{}/hook", hook.port),
        "--lang",
        "en",
    ]);
    let local = env.local_copy("shop");
    let remote = copy_at(&nas, "shop");
    rot(&local);
    rot(&remote);
    let (status, _, err) = env.run(&["verify"]);
    assert!(!status.success());
    assert!(
        err.contains("NOT proven restorable from the local copy"),
        "{err}"
    );
    assert!(
        err.contains("NOT proven restorable from the destination"),
        "{err}"
    );
    let got = hook.wait_for(1);
    assert_eq!(got[0].1["event"], "problem", "{:?}", got[0].1);
    assert_eq!(got[0].1["problem"]["code"], "drill_failed");
    assert!(
        text(&got[0].1, "subject").contains("a restore drill failed"),
        "{:?}",
        got[0].1
    );
    let (status, _, _) = env.run(&["verify"]);
    assert!(!status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(hook.received().len(), 1, "one alert per problem");
    // Nothing was deleted because a drill failed.
    assert!(local.exists() && remote.exists());
    let status = env.run_ok(&["status"]);
    assert!(status.contains("restore drill"), "{status}");
}

#[test]
fn a_whole_restore_the_person_ran_counts_as_proof() {
    let env = Env::new();
    env.add_sample_source("shop.db");
    let id = env.backup_ok();
    let points = json(&env.run_ok(&["list", "--json"]));
    assert!(points[0].get("proven").is_none(), "{points}");
    env.run_ok(&["restore", &id, "--to", "again.db"]);
    let points = json(&env.run_ok(&["list", "--json"]));
    assert_eq!(points[0]["proven"]["place"], "local", "{points}");
}

#[test]
fn an_unreachable_destination_is_not_a_failed_copy() {
    let env = Env::new();
    env.add_sample_source("shop.db");
    let nas = env.folder_destination();
    env.backup_ok();
    // The backup disk is unplugged.
    std::fs::rename(&nas, env.path("unplugged")).unwrap();
    let (status, out, err) = env.run(&["verify"]);
    assert!(!status.success(), "not proven: {out}");
    assert!(
        out.contains("proven restorable from the local copy"),
        "{out}"
    );
    assert!(err.contains("cannot be used now"), "{err}");
    let said = env.run_ok(&["status"]);
    assert!(
        !said.contains("restore drill"),
        "an unplugged disk is not a failed drill: {said}"
    );
}
