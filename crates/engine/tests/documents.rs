//! Backup documents written by earlier versions stay readable forever.
//! `fixtures/v1-sqlite.json` was exported by Nuage 0.1.0 (format version 1,
//! before the `Source` trait existed) and is never regenerated: if this
//! test fails, a change broke old backups — fix the reader, not the file.

use std::path::Path;

use nuage_engine::{BackupRef, Cancel, Engine, Event};
use rusqlite::Connection;

/// id, name, phone, balance, photo, typeof(note)
type Customer = (
    i64,
    String,
    Option<String>,
    Option<f64>,
    Option<Vec<u8>>,
    String,
);

#[test]
fn a_version_1_sqlite_document_restores_exactly() {
    let fixture = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("tests run by cargo"))
        .join("tests/fixtures/v1-sqlite.json");
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(&dir.path().join("home")).unwrap();
    let to = dir.path().join("garage.db");
    let preview = e
        .preview(
            &BackupRef::File(fixture.clone()),
            &mut |_| {},
            &Cancel::default(),
        )
        .unwrap();
    assert_eq!(preview.source, "garage");
    assert_eq!(preview.rows, 6);
    let mut progress = Vec::new();
    let mut modes = Vec::new();
    let report = e
        .restore_to(
            &BackupRef::File(fixture),
            &to,
            false,
            &mut |ev| {
                if let Event::RestoreProgress { table, rows } = ev {
                    progress.push((table, rows));
                    // The database being built beside the target holds
                    // plaintext rows: user-only from its first byte.
                    for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
                        if f.file_name()
                            .to_string_lossy()
                            .starts_with(".garage.db.nuage-restore-")
                        {
                            use std::os::unix::fs::PermissionsExt;
                            modes.push(f.metadata().unwrap().permissions().mode() & 0o777);
                        }
                    }
                }
            },
            &Cancel::default(),
        )
        .unwrap();
    assert!(
        !modes.is_empty(),
        "the temporary file was seen while loading"
    );
    assert!(modes.iter().all(|m| *m == 0o600), "{modes:?}");
    // The restore reports its progress (the app streams it to the window).
    assert!(
        progress.contains(&("customers".to_string(), 4))
            && progress.contains(&("jobs".to_string(), 2)),
        "{progress:?}"
    );
    assert_eq!(report.source, "garage");
    assert_eq!(report.created_at, "2026-12-06T05:07:43.736Z");

    let c = Connection::open(&to).unwrap();
    let pragma = |p: &str| -> i64 {
        c.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(pragma("user_version"), 7);
    assert_eq!(pragma("application_id"), 1313);
    let customers: Vec<Customer> = c
        .prepare("SELECT id, name, phone, balance, photo, typeof(note) FROM customers ORDER BY id")
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        customers,
        vec![
            (
                1,
                "Zoë Martins".into(),
                Some("+351 912 345 678".into()),
                Some(12.5),
                Some(vec![0, 0xff, 0x10]),
                "null".into()
            ),
            (2, "Ana".into(), None, Some(0.0), None, "integer".into()),
            (
                3,
                "Émile \"quoted\"".into(),
                Some(String::new()),
                Some(1e300),
                Some(vec![]),
                "text".into()
            ),
            (i64::MAX, "max".into(), None, None, None, "integer".into()),
        ]
    );
    let note: i64 = c
        .query_row(
            "SELECT note FROM customers WHERE id = ?1",
            [i64::MAX],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(note, i64::MIN);
    // The WITHOUT ROWID table, its index, the view and the trigger.
    let open: Vec<String> = c
        .prepare("SELECT ref FROM open_jobs")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(open, ["J-1"]);
    c.execute("UPDATE jobs SET done = 1 WHERE ref = 'J-1'", [])
        .unwrap();
    let served: String = c
        .query_row("SELECT note FROM customers WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(served, "served", "the trigger came back");
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let plan: String = c
        .query_row(
            "EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE customer = 2",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("jobs_by_customer"), "{plan}");
}
