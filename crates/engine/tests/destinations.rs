//! The destination contract, one suite that every destination passes.

use std::path::Path;

use nuage_engine::FolderDestination;
use nuage_engine::{Destination, NoJournal, file_name};
use nuage_engine::{S3Destination, S3Settings};
use nuage_graph::QuickXorHash;

fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn local_file(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn quickxor(data: &[u8]) -> String {
    let mut h = QuickXorHash::new();
    h.update(data);
    h.to_base64()
}

/// The contract. `plant_foreign` puts a file Nuage did not create into a
/// source folder, the way a person might.
/// Uploads `data` as restore point `id` into `folder`.
fn put(dest: &mut dyn Destination, scratch: &Path, folder: &str, id: &str, data: &[u8]) {
    let local = local_file(scratch, &format!("{folder}-{id}"), data);
    dest.upload(folder, &file_name(id), &local, &mut NoJournal, &mut |_| {})
        .unwrap();
}

fn conformance(dest: &mut dyn Destination, scratch: &Path, plant_foreign: &dyn Fn(&str, &str)) {
    let (a, b, c) = (
        "20261121-054041123-00aa",
        "20261121-054042000-00bb",
        "20261122-000000000-00cc",
    );

    // An absent folder is empty, not an error.
    assert!(dest.list("shop").unwrap().is_empty());
    assert!(dest.folders().unwrap().is_empty());

    // Upload: what the destination holds is what was sent, with its hash.
    // Over 4 MiB: destinations with simple and chunked uploads use the latter.
    let data_a = bytes(1, 5 << 20);
    let file_a = local_file(scratch, "a", &data_a);
    let mut seen = 0;
    let r = dest
        .upload("shop", &file_name(a), &file_a, &mut NoJournal, &mut |n| {
            seen = n
        })
        .unwrap();
    assert_eq!(r.size, data_a.len() as u64);
    assert_eq!(r.point_id(), Some(a));
    assert_eq!(seen, data_a.len() as u64, "progress reaches the full size");
    if dest.capabilities().server_hash {
        assert_eq!(r.quickxor.as_deref(), Some(quickxor(&data_a).as_str()));
    }

    // Listing: only Nuage's files, sorted by time (by name), with sizes and hashes.
    put(dest, scratch, "shop", c, b"c");
    put(dest, scratch, "shop", b, b"");
    plant_foreign("shop", "holiday photo.jpg");
    let listed = dest.list("shop").unwrap();
    let names: Vec<&str> = listed.iter().map(|f| f.point_id().unwrap()).collect();
    assert_eq!(names, vec![a, b, c]);
    assert_eq!(listed[1].size, 0, "empty files are stored too");
    assert!(
        dest.list("other").unwrap().is_empty(),
        "one folder per source"
    );
    assert_eq!(dest.folders().unwrap(), vec!["shop".to_string()]);

    // Replacing a file keeps one file, with the new content.
    let data_a2 = bytes(2, 1000);
    put(dest, scratch, "shop", a, &data_a2);
    let listed = dest.list("shop").unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].size, 1000);

    // Download streams the stored bytes.
    let mut got = Vec::new();
    assert_eq!(
        dest.download("shop", &file_name(a), &mut got).unwrap(),
        1000
    );
    assert_eq!(got, data_a2);
    assert!(
        dest.download(
            "shop",
            &file_name("20200101-000000000-0000"),
            &mut Vec::new()
        )
        .is_err()
    );

    // Delete: idempotent, and never touches what Nuage did not create.
    dest.delete("shop", &file_name(a)).unwrap();
    dest.delete("shop", &file_name(a)).unwrap();
    assert!(dest.delete("shop", "holiday photo.jpg").is_err());
    assert!(dest.delete("../shop", &file_name(b)).is_err());
    let left: Vec<String> = dest
        .list("shop")
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(left, vec![file_name(b), file_name(c)]);

    // Move (a renamed source): the bytes and hash follow, the old folder
    // keeps only what Nuage did not create; repeating it is harmless.
    dest.move_file("shop", &file_name(c), "garage").unwrap();
    dest.move_file("shop", &file_name(c), "garage").unwrap();
    let moved = dest.list("garage").unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].point_id(), Some(c));
    if dest.capabilities().listed_hash {
        assert_eq!(moved[0].quickxor.as_deref(), Some(quickxor(b"c").as_str()));
    } else {
        assert_eq!(moved[0].quickxor, None);
    }
    let mut got = Vec::new();
    dest.download("garage", &file_name(c), &mut got).unwrap();
    assert_eq!(got, b"c");
    assert_eq!(dest.list("shop").unwrap().len(), 1);
    // The same restore point on both sides: the moved one is dropped.
    put(dest, scratch, "garage", b, b"");
    // Different contents under one name (never made by Nuage, but a
    // destination is shared): both stay.
    let d = "20261122-000000000-00dd";
    for (folder, data) in [("shop", b"one".as_slice()), ("garage", b"two".as_slice())] {
        put(dest, scratch, folder, d, data);
    }
    dest.move_file("shop", &file_name(d), "garage").unwrap();
    let mut got = Vec::new();
    dest.download("shop", &file_name(d), &mut got).unwrap();
    assert_eq!(got, b"one", "a copy with other contents is never deleted");
    dest.delete("shop", &file_name(d)).unwrap();
    dest.delete("garage", &file_name(d)).unwrap();

    dest.move_file("shop", &file_name(b), "garage").unwrap();
    assert!(dest.list("shop").unwrap().is_empty());
    assert_eq!(dest.list("garage").unwrap().len(), 2);
    // In neither folder, or not Nuage's: refused.
    assert!(dest.move_file("shop", &file_name(a), "garage").is_err());
    assert!(
        dest.move_file("shop", "holiday photo.jpg", "garage")
            .is_err()
    );
    assert!(dest.move_file("garage", &file_name(b), "../up").is_err());
    // A change of case only never loses the file, whether the destination
    // tells "garage" from "GARAGE" (a Linux disk) or not (OneDrive).
    dest.move_file("garage", &file_name(c), "GARAGE").unwrap();
    let mut got = Vec::new();
    dest.download("GARAGE", &file_name(c), &mut got).unwrap();
    assert_eq!(got, b"c");
    let mut folders = dest.folders().unwrap();
    folders.sort();
    assert!(folders.contains(&"garage".to_string()), "{folders:?}");

    tree(dest, scratch);
}

/// A folder source's files as themselves: put one or many (in order,
/// each verified, one failure leaving the others stored), read, moved,
/// listed, deleted.
fn tree(dest: &mut dyn Destination, scratch: &Path) {
    let clip = bytes(7, 5 << 20);
    let local = local_file(scratch, "clip", &clip);
    let mut seen = 0;
    let r = dest
        .put_file("docs/clips/a b.mp4", &local, &mut NoJournal, &mut |n| {
            seen = n
        })
        .unwrap();
    assert_eq!((r.size, seen), (clip.len() as u64, clip.len() as u64));
    assert_eq!(r.quickxor.as_deref(), Some(quickxor(&clip).as_str()));

    let docs: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| {
            (
                format!("docs/jobs/{:02}/job-{i}.json", i % 7),
                bytes(100 + i, 300 + i as usize),
            )
        })
        .collect();
    let mut batch: Vec<(String, std::path::PathBuf)> = docs
        .iter()
        .map(|(p, d)| (p.clone(), local_file(scratch, &p.replace('/', "_"), d)))
        .collect();
    // One outside the tree, one whose local file is gone: each fails alone.
    batch.insert(5, ("docs/../escape.json".into(), batch[0].1.clone()));
    batch.insert(
        9,
        ("docs/jobs/gone.json".into(), scratch.join("no such file")),
    );
    let mut progress = 0;
    let results = dest.put_small_files(&batch, &mut |n| progress = n);
    dest.flush_files().unwrap();
    assert_eq!(results.len(), batch.len());
    let total: u64 = docs.iter().map(|(_, d)| d.len() as u64).sum();
    assert_eq!(progress, total, "progress counts what was stored");
    let mut docs_iter = docs.iter();
    for (i, r) in results.into_iter().enumerate() {
        if i == 5 || i == 9 {
            assert!(r.is_err(), "{} must fail", batch[i].0);
            continue;
        }
        let (path, data) = docs_iter.next().unwrap();
        let r = r.unwrap();
        assert_eq!(
            (r.name.as_str(), r.size),
            (path.as_str(), data.len() as u64)
        );
        assert_eq!(r.quickxor.as_deref(), Some(quickxor(data).as_str()));
        let mut got = Vec::new();
        dest.get_file(path, &mut got).unwrap();
        assert_eq!(&got, data, "{path}");
    }
    assert_eq!(dest.file_info("docs/jobs/gone.json").unwrap(), None);
    // A path longer than OneDrive's 400 characters (one an earlier point
    // may name) holds nothing; asking is not an error.
    let deep = format!("docs/{}/x.json", vec!["a".repeat(100); 5].join("/"));
    assert_eq!(dest.file_info(&deep).unwrap(), None);
    let listed: Vec<String> = dest
        .list_path("docs/jobs/00")
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(listed.len(), 6, "{listed:?}");

    // Moved without sending it again; deleted; absent is fine.
    dest.move_path("docs/clips/a b.mp4", "docs/.nuage-versions/x")
        .unwrap();
    assert_eq!(dest.file_info("docs/clips/a b.mp4").unwrap(), None);
    let info = dest.file_info("docs/.nuage-versions/x").unwrap().unwrap();
    assert_eq!(info.size, clip.len() as u64);
    // Still known as the file Nuage stored (a copy sent in parts keeps
    // what identifies it), so the next run does not send it again.
    assert_eq!(info.quickxor.as_deref(), Some(quickxor(&clip).as_str()));
    dest.delete_path("docs/.nuage-versions/x").unwrap();
    dest.delete_path("docs/.nuage-versions/x").unwrap();
    assert_eq!(dest.file_info("docs/.nuage-versions/x").unwrap(), None);
}

#[test]
fn folder_destination_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nas");
    std::fs::create_dir(&root).unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let mut dest = FolderDestination::new(&root).unwrap();
    let plant = |folder: &str, name: &str| {
        std::fs::create_dir_all(root.join(folder)).unwrap();
        std::fs::write(root.join(folder).join(name), b"not a backup").unwrap();
    };
    conformance(&mut dest, &scratch, &plant);
    assert!(
        root.join("shop/holiday photo.jpg").exists(),
        "foreign files are left alone"
    );
}

/// An S3 destination on the strict S3 server (R2's rules), with 2 MiB
/// parts so that the 5 MiB copies go in three (the server allowing parts
/// that small).
fn s3(server: &nuage_s3server::S3Server, bucket: &str, prefix: &str) -> S3Destination {
    let settings = S3Settings {
        prefix: prefix.into(),
        ..s3_settings(server.endpoint(), bucket)
    };
    S3Destination::new(
        &settings,
        nuage_s3server::SECRET,
        std::time::Duration::from_secs(60),
    )
    .unwrap()
    .with_part_size(2 << 20)
}

/// `bucket` at `endpoint` with the test server's key, path-style, no prefix.
fn s3_settings(endpoint: String, bucket: &str) -> S3Settings {
    S3Settings {
        endpoint,
        bucket: bucket.into(),
        prefix: String::new(),
        region: nuage_s3server::REGION.into(),
        access_key_id: nuage_s3server::ACCESS_KEY.into(),
        path_style: true,
        lock_days: None,
    }
}

fn s3_server(args: &[&str]) -> Option<nuage_s3server::S3Server> {
    let s = nuage_s3server::S3Server::start(&["nuage"], &["locked"], args);
    if s.is_none() {
        eprintln!(
            "SKIPPED: the S3 server's Python (~/.cache/nuage/s3-venv, made by scripts/deps.sh) is not installed"
        );
    }
    s
}

/// A strict S3 server taking parts of 1 MiB (so a few MiB are a multipart
/// upload), and a local copy of `len` seeded bytes to send to it.
struct Multipart {
    server: nuage_s3server::S3Server,
    _dir: tempfile::TempDir,
    data: Vec<u8>,
    local: std::path::PathBuf,
}

fn multipart(seed: u64, len: usize) -> Option<Multipart> {
    let server = s3_server(&["--min-part", "1048576"])?;
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(seed, len);
    let local = local_file(dir.path(), "big", &data);
    Some(Multipart {
        server,
        _dir: dir,
        data,
        local,
    })
}

/// Retries a moment apart, so that a test waits milliseconds, not seconds.
fn fast_retry(cap_ms: u64, max_attempts: u32) -> nuage_graph::retry::RetryConfig {
    nuage_graph::retry::RetryConfig {
        base: std::time::Duration::from_millis(20),
        cap: std::time::Duration::from_millis(cap_ms),
        max_attempts,
    }
}

#[test]
fn s3_destination_passes_the_conformance_suite() {
    let Some(server) = s3_server(&["--min-part", "1048576"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let mut dest = s3(&server, "nuage", "backups/office");
    let planter = std::cell::RefCell::new(s3(&server, "nuage", "backups/office"));
    let plant = |folder: &str, name: &str| {
        let f = local_file(&scratch, "foreign", b"not a backup");
        planter
            .borrow_mut()
            .put_file(&format!("{folder}/{name}"), &f, &mut NoJournal, &mut |_| {})
            .unwrap();
    };
    conformance(&mut dest, &scratch, &plant);
    let keys: Vec<String> = server
        .objects()
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    assert!(
        keys.contains(&"backups/office/shop/holiday photo.jpg".to_string()),
        "foreign files are left alone, and everything is under the prefix: {keys:?}"
    );
    assert!(
        keys.iter().all(|k| k.starts_with("backups/office/")),
        "{keys:?}"
    );
    assert!(
        server.uploads().is_empty(),
        "no multipart upload left behind"
    );
}

#[test]
fn a_folder_flooded_with_names_like_restore_points_is_refused_not_listed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    std::fs::create_dir(&shop).unwrap();
    for i in 0..=100_000u32 {
        std::fs::File::create(shop.join(format!("29991231-{i:09}-dead.json.zst"))).unwrap();
    }
    let mut dest = FolderDestination::new(dir.path()).unwrap();
    let e = dest.list("shop").unwrap_err();
    assert!(e.to_string().contains("more than 100000 files"), "{e}");
}

#[test]
fn a_destination_flooded_with_folders_like_sources_is_refused_not_listed_whole() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..=100_000u32 {
        std::fs::create_dir(dir.path().join(format!("s{i}"))).unwrap();
    }
    let mut dest = FolderDestination::new(dir.path()).unwrap();
    let e = dest.folders().unwrap_err();
    assert!(e.to_string().contains("more than 100000 folders"), "{e}");
}

#[test]
fn a_missing_folder_is_reported_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let mut dest = FolderDestination::new(&dir.path().join("unplugged-usb-disk")).unwrap();
    let local = local_file(dir.path(), "x", b"x");
    let e = dest
        .upload(
            "shop",
            &file_name("20261121-054041123-00aa"),
            &local,
            &mut NoJournal,
            &mut |_| {},
        )
        .unwrap_err();
    assert_eq!(e.code().as_str(), "destination_unavailable");
    assert!(
        e.to_string().contains("disk or network share is connected"),
        "{e}"
    );
    assert_eq!(
        dest.list("shop").unwrap_err().code().as_str(),
        "destination_unavailable"
    );
}

#[test]
fn a_home_from_before_destinations_is_migrated_and_its_copies_uploaded() {
    use nuage_engine::DestinationConfig;
    use nuage_engine::{Engine, RunOutcome};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    let home = dir.path().join("home");
    {
        let e = Engine::open(&home).unwrap();
        e.add_source(&db, Some("app")).unwrap();
        e.backup(&[], &mut |_| {}).unwrap();
    }
    // Turn the state database back into version 1, as the first release wrote it.
    rusqlite::Connection::open(home.join("state.sqlite"))
        .unwrap()
        .execute_batch("DROP TABLE copy_checks; DROP TABLE moves; DROP TABLE uploads; ALTER TABLE restore_points DROP COLUMN quickxor; ALTER TABLE runs DROP COLUMN error_code; ALTER TABLE sources DROP COLUMN options; DROP TABLE alert_problems; DROP TABLE alert_outbox; DROP TABLE drills; ALTER TABLE restore_points DROP COLUMN content_digest; PRAGMA user_version = 1;")
        .unwrap();

    let e = Engine::open(&home).unwrap();
    let point = e.restore_points(None).unwrap().remove(0);
    assert_eq!(
        point.quickxor, None,
        "copies from version 1 have no QuickXorHash"
    );
    let nas = dir.path().join("nas");
    std::fs::create_dir(&nas).unwrap();
    e.set_destination(Some(&DestinationConfig::Folder { path: nas.clone() }))
        .unwrap();
    let out = e.backup(&[], &mut |_| {}).unwrap().remove(0);
    assert_eq!(out.status, RunOutcome::Unchanged);
    let upload = out.upload.unwrap();
    assert_eq!(upload.state.as_str(), "verified", "{:?}", upload.error);
    assert_eq!(upload.uploaded, vec![point.id.clone()]);
    assert_eq!(
        std::fs::read(&point.file).unwrap(),
        std::fs::read(nas.join("app").join(file_name(&point.id))).unwrap()
    );
}

#[test]
fn onedrive_destination_passes_the_conformance_suite() {
    use nuage_emulator::{Config, Emulator};
    use nuage_engine::OneDriveDestination;
    use nuage_graph::client::{Graph, TokenSource};
    use nuage_graph::types::Secret;

    /// A fixed access token the emulator minted.
    struct Minted(Secret);
    impl TokenSource for Minted {
        fn access_token(&mut self) -> nuage_graph::error::Result<Secret> {
            Ok(self.0.clone())
        }
        fn refresh(&mut self) -> nuage_graph::error::Result<Secret> {
            Ok(self.0.clone())
        }
    }

    let emu = Emulator::start_in_thread(Config::for_tests()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let token = Secret::new(emu.mint_access_token("Files.ReadWrite User.Read"));
    let endpoints = nuage_graph::auth::Endpoints {
        authority: emu.authority_url(),
        graph: emu.graph_url(),
    };
    // The destination's root folder, as `nuage destination onedrive --folder Backups/Nuage` makes it.
    let mut src = Minted(token.clone());
    let root = {
        let mut g = Graph::new(
            &endpoints.graph,
            &mut src,
            std::time::Duration::from_secs(30),
        );
        let r = g.my_root().unwrap();
        g.ensure_path(&r, "Backups/Nuage").unwrap()
    };
    let mut dest = OneDriveDestination::new(
        endpoints,
        std::time::Duration::from_secs(600),
        root,
        "OneDrive folder /Backups/Nuage".into(),
        Box::new(Minted(token)),
    );
    let plant = |folder: &str, name: &str| {
        emu.put_file(
            "personal",
            &format!("/Backups/Nuage/{folder}/{name}"),
            b"not a backup",
        )
        .unwrap();
    };
    conformance(&mut dest, scratch, &plant);
    assert!(
        emu.file_bytes("personal", "/Backups/Nuage/shop/holiday photo.jpg")
            .is_some(),
        "foreign files are left alone"
    );
}

/// A source renamed in the app: its restore points, history and copies
/// follow it, locally at once and at the destination at the next run; a
/// new source given the old name keeps its own copies; nothing is lost.
#[test]
fn a_renamed_source_takes_its_restore_points_history_and_copies_along() {
    use nuage_engine::DestinationConfig;
    use nuage_engine::{Engine, RunOutcome};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    let home = dir.path().join("home");
    let nas = dir.path().join("nas");
    std::fs::create_dir(&nas).unwrap();
    let e = Engine::open(&home).unwrap();
    e.add_source(&db, Some("shop")).unwrap();
    e.set_destination(Some(&DestinationConfig::Folder { path: nas.clone() }))
        .unwrap();
    e.backup(&[], &mut |_| {}).unwrap();
    conn.execute("INSERT INTO t VALUES (2)", []).unwrap();
    e.backup(&[], &mut |_| {}).unwrap();
    let before = e.restore_points(None).unwrap();
    assert_eq!(before.len(), 2);

    // Refused: a taken, unknown or invalid name, and while a run holds the home.
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE u(y); INSERT INTO u VALUES ('a');")
        .unwrap();
    e.add_source(&other, Some("other")).unwrap();
    assert_eq!(
        e.rename_source("shop", "other")
            .unwrap_err()
            .code()
            .as_str(),
        "invalid_input"
    );
    assert_eq!(
        e.rename_source("nope", "x").unwrap_err().code().as_str(),
        "not_found"
    );
    let err = e.rename_source("shop", "OTHER").unwrap_err();
    assert_eq!(
        err.code().as_str(),
        "invalid_input",
        "one OneDrive folder: {err}"
    );
    assert_eq!(
        e.rename_source("shop", "../x").unwrap_err().code().as_str(),
        "invalid_input"
    );
    {
        let _run = nuage_engine::HomeLock::acquire(&home).unwrap();
        let err = e.rename_source("shop", "garage").unwrap_err();
        assert_eq!(err.code().as_str(), "busy", "{err}");
    }
    e.remove_source("other").unwrap();

    let renamed = e.rename_source("shop", "garage").unwrap();
    assert_eq!(renamed.name, "garage");
    assert_eq!(renamed.path, std::path::absolute(&db).unwrap());
    let names: Vec<String> = e.sources().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, vec!["garage".to_string()]);
    // Local copies moved; the same restore points, readable, under the new name.
    let after = e.restore_points(Some("garage")).unwrap();
    assert_eq!(
        after.iter().map(|p| &p.id).collect::<Vec<_>>(),
        before.iter().map(|p| &p.id).collect::<Vec<_>>()
    );
    for (a, b) in after.iter().zip(&before) {
        assert!(
            a.file.starts_with(home.join("backups/garage")),
            "{:?}",
            a.file
        );
        assert_eq!(std::fs::read(&a.file).unwrap().len() as u64, b.size_bytes);
    }
    assert!(!home.join("backups/shop").exists());
    assert!(e.runs(10).unwrap().iter().all(|r| r.source == "garage"));

    // A copy at the destination made after the rename, as by a new source
    // that takes the old name on another machine: it must stay where it is.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y%m%d-%H%M%S%3f-beef")
        .to_string();
    std::fs::write(nas.join("shop").join(file_name(&later)), b"not ours").unwrap();
    // Until the next run, the copies at the destination are still listed.
    let (everywhere, problem) = e.all_restore_points(None).unwrap();
    assert!(problem.is_none(), "{problem:?}");
    assert_eq!(everywhere.len(), 3, "{everywhere:?}");

    // The next run (nothing changed) moves them.
    let out = e.backup(&[], &mut |_| {}).unwrap().remove(0);
    assert_eq!(out.status, RunOutcome::Unchanged);
    assert_eq!(
        out.upload.as_ref().unwrap().state.as_str(),
        "verified",
        "{:?}",
        out.upload
    );
    for p in &before {
        let moved = nas.join("garage").join(file_name(&p.id));
        assert_eq!(
            std::fs::read(&moved).unwrap(),
            std::fs::read(after[0].file.with_file_name(file_name(&p.id))).unwrap()
        );
        assert!(!nas.join("shop").join(file_name(&p.id)).exists());
    }
    assert!(
        nas.join("shop").join(file_name(&later)).exists(),
        "the later copy is not moved"
    );

    // Renaming back and forth, then a run: everything in one place, nothing lost.
    e.rename_source("garage", "Garage-2").unwrap();
    e.rename_source("Garage-2", "garage").unwrap();
    e.backup(&[], &mut |_| {}).unwrap();
    let files: Vec<String> = std::fs::read_dir(nas.join("garage"))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(e.restore_points(Some("garage")).unwrap().len(), 2);
    for p in e.restore_points(Some("garage")).unwrap() {
        assert!(p.file.exists(), "{:?}", p.file);
    }
}

/// A journal kept in memory, as the engine keeps one in its state database.
#[derive(Default)]
struct MemJournal(Option<nuage_engine::UploadSession>);

impl nuage_engine::UploadJournal for MemJournal {
    fn load(&self) -> Option<nuage_engine::UploadSession> {
        self.0.clone()
    }
    fn save(&mut self, s: &nuage_engine::UploadSession) -> nuage_engine::Result<()> {
        self.0 = Some(s.clone());
        Ok(())
    }
    fn clear(&mut self) -> nuage_engine::Result<()> {
        self.0 = None;
        Ok(())
    }
}

#[test]
fn an_s3_upload_stopped_midway_resumes_from_the_parts_the_server_lists() {
    let Some(Multipart {
        server,
        _dir,
        data,
        local,
    }) = multipart(9, (9 << 20) + 123)
    else {
        return;
    };
    let name = file_name("20261121-054041123-00aa");
    let mut journal = MemJournal::default();

    // Stopped after two of its five parts (the process dies, the network
    // goes): the upload is left as it is, and the journal knows it.
    let mut dest = s3(&server, "nuage", "");
    let armed = std::cell::Cell::new(false);
    let e = dest
        .upload("shop", &name, &local, &mut journal, &mut |n| {
            if n >= 4 << 20 && !armed.get() {
                armed.set(true);
                server.faults(serde_json::json!({"deny": ["UploadPart"]}));
            }
        })
        .unwrap_err();
    assert!(e.to_string().contains("rights on the bucket"), "{e}");
    assert_eq!(server.parts_sent(), vec![1, 2]);
    assert!(journal.0.is_some());
    assert_eq!(server.uploads().len(), 1);

    // The next run asks the server what it holds (whose listing lags and
    // omits the last part: that one is sent again, no other).
    server.faults(serde_json::json!({"deny": [], "listparts_lag": 1}));
    let mut dest = s3(&server, "nuage", "");
    let r = dest
        .upload("shop", &name, &local, &mut journal, &mut |_| {})
        .unwrap();
    assert_eq!(r.size, data.len() as u64);
    assert_eq!(
        server.parts_sent(),
        vec![1, 2, 2, 3, 4, 5],
        "at most one part sent again"
    );
    assert!(journal.0.is_none());
    assert!(server.uploads().is_empty());
    let mut got = Vec::new();
    dest.download("shop", &name, &mut got).unwrap();
    assert!(got == data);
}

#[test]
fn an_s3_upload_below_a_prefix_holding_a_colon_resumes_too() {
    let Some(Multipart {
        server,
        _dir,
        data: _,
        local,
    }) = multipart(8, (5 << 20) + 9)
    else {
        return;
    };
    let name = file_name("20261121-054041123-00aa");
    let mut journal = MemJournal::default();
    let mut dest = s3(&server, "nuage", "team:one");
    let armed = std::cell::Cell::new(false);
    dest.upload("shop", &name, &local, &mut journal, &mut |n| {
        if n >= 2 << 20 && !armed.get() {
            armed.set(true);
            server.faults(serde_json::json!({"deny": ["UploadPart"]}));
        }
    })
    .unwrap_err();
    assert_eq!(server.parts_sent(), vec![1]);
    server.faults(serde_json::json!({"deny": []}));
    dest.upload("shop", &name, &local, &mut journal, &mut |_| {})
        .unwrap();
    assert_eq!(server.parts_sent(), vec![1, 2, 3], "no part sent twice");
    assert!(server.uploads().is_empty());
}

#[test]
fn an_abandoned_s3_upload_is_aborted_and_storms_cuts_and_a_wrong_clock_are_outlasted() {
    let Some(Multipart {
        server,
        _dir,
        data,
        local,
    }) = multipart(3, (5 << 20) + 7)
    else {
        return;
    };
    let name = file_name("20261121-054041123-00aa");
    let fast = fast_retry(200, 10);

    // A run that failed for good leaves an upload behind (its journal
    // lost): the next upload of that copy aborts it first.
    let mut dest = s3(&server, "nuage", "").with_retry(fast);
    let armed = std::cell::Cell::new(false);
    dest.upload(
        "shop",
        &name,
        &local,
        &mut MemJournal::default(),
        &mut |n| {
            if n > 0 && !armed.get() {
                armed.set(true);
                server.faults(serde_json::json!({"deny": ["UploadPart"]}));
            }
        },
    )
    .unwrap_err();
    assert_eq!(server.uploads().len(), 1);
    server.reset();

    // SlowDown storms, 500s, a part cut mid-way and a clock 20 minutes
    // slow: all waited out or corrected, the copy verified.
    server.faults(serde_json::json!({"slowdown": 3, "retry_after": 0}));
    server.faults(serde_json::json!({"status500": 2}));
    server.faults(serde_json::json!({"cut_part": 1, "cut_after": 100_000}));
    server.faults(serde_json::json!({"skew": 1200}));
    let r = dest
        .upload(
            "shop",
            &name,
            &local,
            &mut MemJournal::default(),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(r.size, data.len() as u64);
    assert!(server.uploads().is_empty(), "{:?}", server.uploads());
    let log = server.log();
    assert!(log.iter().any(|l| l["op"] == "AbortMultipartUpload"));
    assert!(log.iter().any(|l| l["status"] == "cut"), "a part was cut");
    // No request carried a checksum header (the server refuses them).
    assert!(log.iter().all(|l| l["status"] != 400), "{log:?}");
    let mut got = Vec::new();
    dest.download("shop", &name, &mut got).unwrap();
    assert!(got == data);

    // A clock two hours slow: every presigned request looks expired to
    // the server, which says so; signed with its time from then on.
    server.reset();
    server.faults(serde_json::json!({"skew": 7200}));
    let mut dest = s3(&server, "nuage", "").with_retry(fast);
    dest.upload(
        "shop",
        &name,
        &local,
        &mut MemJournal::default(),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{e}: {:?}", server.log()));
    assert!(
        server.log().iter().any(|l| l["error"] == "AccessDenied"),
        "the server refused the first request as expired: {:?}",
        server.log()
    );
}

#[test]
fn s3_uploads_abandoned_a_week_ago_below_a_source_folder_are_aborted_and_no_others() {
    let Some(Multipart {
        server,
        _dir,
        data,
        local,
    }) = multipart(5, (3 << 20) + 11)
    else {
        return;
    };
    // Leaves an upload as a run that died after starting it would.
    let leave = |prefix: &str, folder: &str, point: &str, journal: &mut MemJournal| {
        let mut d = s3(&server, "nuage", prefix);
        server.faults(serde_json::json!({"deny": ["UploadPart"]}));
        d.upload(folder, &file_name(point), &local, journal, &mut |_| {})
            .unwrap_err();
        server.faults(serde_json::json!({"deny": []}));
    };
    let uploads = || {
        let mut keys: Vec<String> = server
            .uploads()
            .iter()
            .map(|u| u["key"].as_str().unwrap().to_string())
            .collect();
        keys.sort();
        keys
    };

    // Started eight days ago by the provider's clock: one below a source
    // folder (a copy retention removed before its upload finished), one
    // in a folder that is no source's, one under another prefix (another
    // program sharing the bucket).
    server.faults(serde_json::json!({"skew": -8.0 * 86400.0}));
    let mut journaled = MemJournal::default();
    leave("nuage", "shop", "20261101-010101000-00aa", &mut journaled);
    leave(
        "nuage",
        "photos-app",
        "20261101-010101000-00ab",
        &mut MemJournal::default(),
    );
    leave(
        "other",
        "shop",
        "20261101-010101000-00ac",
        &mut MemJournal::default(),
    );
    // Started now: a run may still continue it.
    server.faults(serde_json::json!({"skew": 0}));
    leave(
        "nuage",
        "shop",
        "20261201-010101000-00ad",
        &mut MemJournal::default(),
    );
    assert_eq!(uploads().len(), 4, "{:?}", server.uploads());

    let mut d = s3(&server, "nuage", "nuage");
    let folders = ["shop".to_string(), "garage".to_string()];
    assert_eq!(d.sweep_uploads(&folders).unwrap(), 1);
    assert_eq!(
        uploads(),
        [
            format!("nuage/photos-app/{}", file_name("20261101-010101000-00ab")),
            format!("nuage/shop/{}", file_name("20261201-010101000-00ad")),
            format!("other/shop/{}", file_name("20261101-010101000-00ac")),
        ]
    );
    assert_eq!(
        d.sweep_uploads(&folders).unwrap(),
        0,
        "nothing more to abort"
    );

    // A run that comes back to the aborted upload starts it again.
    let name = file_name("20261101-010101000-00aa");
    let r = d
        .upload("shop", &name, &local, &mut journaled, &mut |_| {})
        .unwrap();
    assert_eq!(r.size, data.len() as u64);
    let mut got = Vec::new();
    d.download("shop", &name, &mut got).unwrap();
    assert!(got == data);
}

#[test]
fn s3_listings_that_never_end_are_refused_after_a_bounded_number_of_pages() {
    let Some(Multipart {
        server,
        _dir,
        data,
        local,
    }) = multipart(6, (3 << 20) + 5)
    else {
        return;
    };
    let name = file_name("20261121-054041123-00aa");
    // An upload stopped after its first part, to be resumed.
    let mut journal = MemJournal::default();
    let mut d = s3(&server, "nuage", "");
    server.faults(serde_json::json!({"deny": ["UploadPart"]}));
    d.upload("shop", &name, &local, &mut journal, &mut |_| {})
        .unwrap_err();
    server.faults(serde_json::json!({"deny": []}));
    assert!(journal.0.is_some());

    // Every listing answers "more follows", without end: each is refused
    // with what happened, and nothing is changed.
    let endless = |e: nuage_engine::Error| {
        let said = e.to_string();
        assert!(said.contains("did not end after 1000 pages"), "{said}");
        server.faults(serde_json::json!({"endless": 0}));
    };
    let mut d = s3(&server, "nuage", "");
    let t = std::time::Instant::now();
    server.faults(serde_json::json!({"endless": 1_000_000}));
    endless(d.list("shop").unwrap_err());
    server.faults(serde_json::json!({"endless": 1_000_000}));
    endless(d.folders().unwrap_err());
    server.faults(serde_json::json!({"endless": 1_000_000}));
    endless(d.sweep_uploads(&["shop".into()]).unwrap_err());
    server.faults(serde_json::json!({"endless": 1_000_000}));
    endless(
        d.upload("shop", &name, &local, &mut journal, &mut |_| {})
            .unwrap_err(),
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(120));
    assert_eq!(server.uploads().len(), 1, "the upload is left to resume");

    // An honest server again: the upload resumes and completes.
    d.upload("shop", &name, &local, &mut journal, &mut |_| {})
        .unwrap();
    let mut got = Vec::new();
    d.download("shop", &name, &mut got).unwrap();
    assert!(got == data);
}

#[test]
fn s3_answers_cut_replaced_or_without_end_are_continued_or_refused_safely() {
    let Some(Multipart {
        server,
        _dir,
        data,
        local,
    }) = multipart(7, (5 << 20) + 3)
    else {
        return;
    };
    let name = file_name("20261121-054041123-00aa");
    let fast = fast_retry(100, 3);
    let mut d = s3(&server, "nuage", "").with_retry(fast);

    // The answer to CompleteMultipartUpload lost on the way (the object is
    // complete; asking again finds no upload): the object shows it whole,
    // and the copy counts as verified.
    server.faults(
        serde_json::json!({"cut_answer": 1, "cut_after": 0, "ops": ["CompleteMultipartUpload"]}),
    );
    let mut journal = MemJournal::default();
    let r = d
        .upload("shop", &name, &local, &mut journal, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}: {:?}", server.log()));
    assert_eq!(r.size, data.len() as u64);
    assert!(journal.0.is_none());
    let completes = server
        .log()
        .iter()
        .filter(|l| l["op"] == "CompleteMultipartUpload")
        .count();
    assert_eq!(completes, 2, "asked again once");

    // A download cut midway continues with the rest of the same object.
    server.faults(serde_json::json!({"cut_answer": 1, "cut_after": 1_000_000}));
    let mut got = Vec::new();
    d.download("shop", &name, &mut got).unwrap();
    assert!(got == data);

    // A server that answers the continuation with the whole object again:
    // refused, nothing spliced.
    server.faults(serde_json::json!({"cut_answer": 1, "cut_after": 1_000_000, "ignore_range": 1}));
    let e = d
        .download("shop", &name, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("could not be continued"), "{e}");

    // A probe whose object is read back without end is refused within
    // bounds (it reads no more than it wrote).
    server.faults(serde_json::json!({"endless_get": 1}));
    let t = std::time::Instant::now();
    let e = d.probe().unwrap_err().to_string();
    assert!(e.contains("gave back other bytes"), "{e}");
    assert!(
        !server
            .objects()
            .iter()
            .any(|o| o["key"].as_str().unwrap().contains(".nuage-probe")),
        "the probe's object is deleted all the same"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(60));

    // A clock two hours off, first met by a HEAD (whose answer has no body
    // to say why): corrected all the same.
    let path = "shop/jobs/card.json";
    d.put_file(path, &local, &mut MemJournal::default(), &mut |_| {})
        .unwrap();
    server.faults(serde_json::json!({"skew": 7200}));
    let mut skewed = s3(&server, "nuage", "").with_retry(fast);
    let info = skewed.file_info(path).unwrap().expect("found");
    assert_eq!(info.size, data.len() as u64);
    server.faults(serde_json::json!({"skew": 0}));

    // A provider that cannot be reached: the error says so, without the
    // presigned URL (its signature opens the bucket for an hour).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let settings = s3_settings(format!("http://127.0.0.1:{port}"), "nuage");
    let mut gone = S3Destination::new(
        &settings,
        nuage_s3server::SECRET,
        std::time::Duration::from_secs(5),
    )
    .unwrap()
    .with_retry(fast);
    let e = gone.list("shop").unwrap_err().to_string();
    assert!(e.contains("cannot be reached"), "{e}");
    assert!(
        !e.contains("X-Amz-") && !e.contains(nuage_s3server::ACCESS_KEY),
        "{e}"
    );
}

#[test]
fn an_s3_bucket_in_another_region_or_whose_copies_cannot_be_verified_is_said_plainly() {
    let Some(server) = s3_server(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = local_file(dir.path(), "small", b"a small copy");
    let name = file_name("20261121-054041123-00aa");

    // SSE-KMS: ETags are no MD5, so no copy could be verified. Said by the
    // test before any backup, and by an upload.
    server.faults(serde_json::json!({"kms": true}));
    let mut d = s3(&server, "nuage", "");
    let e = d.probe().unwrap_err().to_string();
    assert!(e.contains("SSE-KMS") && e.contains("SSE-S3"), "{e}");
    let e = d
        .upload(
            "shop",
            &name,
            &local,
            &mut MemJournal::default(),
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("SSE-KMS"), "{e}");
    server.faults(serde_json::json!({"kms": false}));
    assert!(d.probe().is_ok());

    // Another region than the bucket's.
    let settings = S3Settings {
        region: "eu-west-3".into(),
        ..s3_settings(server.endpoint(), "nuage")
    };
    let mut elsewhere = S3Destination::new(
        &settings,
        nuage_s3server::SECRET,
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let e = elsewhere.list("shop").unwrap_err().to_string();
    assert!(e.contains("in another region"), "{e}");
}

#[test]
fn a_wrong_s3_secret_or_bucket_is_said_plainly() {
    let Some(server) = s3_server(&[]) else {
        return;
    };
    let settings = |bucket: &str| s3_settings(server.endpoint(), bucket);
    let mut wrong = S3Destination::new(
        &settings("nuage"),
        "not-the-secret",
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let e = wrong.list("shop").unwrap_err().to_string();
    assert!(e.contains("secret access key does not match"), "{e}");
    assert!(
        !e.contains("not-the-secret") && !e.contains(nuage_s3server::SECRET),
        "{e}"
    );
    let mut missing = S3Destination::new(
        &settings("no-such-bucket"),
        nuage_s3server::SECRET,
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let e = missing.list("shop").unwrap_err().to_string();
    assert!(e.contains("does not exist"), "{e}");
}
