//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use nuage_engine::{BackupRef, Engine, RunOutcome};
use rusqlite::Connection;
use rusqlite::types::ValueRef;

/// A stored value with its storage class and exact bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exact {
    Null,
    Int(i64),
    Real(u64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl From<ValueRef<'_>> for Exact {
    fn from(v: ValueRef<'_>) -> Exact {
        match v {
            ValueRef::Null => Exact::Null,
            ValueRef::Integer(i) => Exact::Int(i),
            ValueRef::Real(f) => Exact::Real(f.to_bits()),
            ValueRef::Text(t) => Exact::Text(t.to_vec()),
            ValueRef::Blob(b) => Exact::Blob(b.to_vec()),
        }
    }
}

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Everything a restore must reproduce, read value by value.
#[derive(Debug, PartialEq, Eq)]
pub struct Logical {
    pub schema: Vec<(String, String, String, Option<String>)>,
    pub pragmas: Vec<(String, i64)>,
    pub encoding: String,
    pub tables: Vec<(String, Vec<Vec<Exact>>)>,
}

pub fn logical(path: &Path) -> Logical {
    let c = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    // Tables ordered by Anki's collation can only be read with it.
    c.create_collation("unicase", |a: &str, b: &str| {
        unicase::UniCase::new(a).cmp(&unicase::UniCase::new(b))
    })
    .unwrap();
    let schema: Vec<(String, String, String, Option<String>)> = c
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let pragmas = ["user_version", "application_id"]
        .iter()
        .map(|p| {
            (
                p.to_string(),
                c.query_row(&format!("PRAGMA {p}"), [], |r| r.get(0))
                    .unwrap(),
            )
        })
        .collect();
    let encoding = c.query_row("PRAGMA encoding", [], |r| r.get(0)).unwrap();
    let names: Vec<(String, String, bool)> = c
        .prepare("SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'virtual', 'shadow') AND name NOT LIKE 'sqlite_stat%' AND name NOT IN ('sqlite_schema', 'sqlite_temp_schema') ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut tables = Vec::new();
    for (name, kind, without_rowid) in names {
        if kind == "shadow" {
            continue; // Rebuilt by their module; compared through the virtual table.
        }
        let cols: Vec<String> = c
            .prepare(
                "SELECT name FROM pragma_table_xinfo(?1) WHERE hidden IN (0, 2, 3) ORDER BY cid",
            )
            .unwrap()
            .query_map([&name], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut select: Vec<String> = cols.iter().map(|c| q(c)).collect();
        let order = if without_rowid || name == "sqlite_sequence" {
            "ORDER BY 1".to_string()
        } else {
            select.insert(0, "rowid".into());
            "ORDER BY rowid".to_string()
        };
        let sql = format!("SELECT {} FROM {} {order}", select.join(", "), q(&name));
        let mut stmt = c.prepare(&sql).unwrap();
        let n = stmt.column_count();
        let rows: Vec<Vec<Exact>> = stmt
            .query_map([], |r| {
                Ok((0..n).map(|i| Exact::from(r.get_ref(i).unwrap())).collect())
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        tables.push((name, rows));
    }
    Logical {
        schema,
        pragmas,
        encoding,
        tables,
    }
}

/// An engine on a fresh home inside `dir`.
pub fn engine(dir: &Path) -> Engine {
    Engine::open(&dir.join("home")).unwrap()
}

/// Backs `db` up through the engine and restores it to a new file; returns its path.
pub fn round_trip(dir: &Path, db: &Path) -> PathBuf {
    let e = engine(dir);
    let name = format!("s{}", fastrand_name());
    e.add_source(db, Some(&name)).unwrap();
    let out = e.backup(std::slice::from_ref(&name), &mut |_| {}).unwrap();
    assert_eq!(out[0].status, RunOutcome::BackedUp, "{:?}", out[0].error);
    // A drill restores it into a temporary file, snapshots that again and
    // finds the very rows backed up (the content digest): whatever the
    // values, a restored database reads back as the one backed up.
    let drill = e
        .verify(
            std::slice::from_ref(&name),
            nuage_engine::DrillOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    assert!(
        drill[0].ok
            && drill[0]
                .note
                .as_deref()
                .is_some_and(|n| n.contains("the ones backed up")),
        "{drill:?}"
    );
    let to = dir.join(format!("{name}-restored.db"));
    restore_newest(&e, &name, &to);
    to
}

/// Restores the newest restore point of `source` into the new file `to`.
pub fn restore_newest(e: &Engine, source: &str, to: &Path) {
    restore_point(e, e.restore_points(Some(source)).unwrap().remove(0), to);
}

/// Restores `point` into the new file `to`.
pub fn restore_point(e: &Engine, point: nuage_engine::RestorePoint, to: &Path) {
    e.restore_to(
        &BackupRef::Point(point),
        to,
        false,
        &mut |_| {},
        &nuage_engine::Cancel::default(),
    )
    .unwrap();
}

fn fastrand_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The corpus of real databases, when `NUAGE_CORPUS` names a folder that
/// exists (a clone without `../shared` has none: the tests say SKIPPED).
pub fn corpus_dir() -> Option<PathBuf> {
    std::env::var_os("NUAGE_CORPUS")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
}
