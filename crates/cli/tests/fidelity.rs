//! Databases made by real libraries — an ORM (SQLAlchemy), a migration tool
//! (Alembic), full-text search users (sqlite-utils with FTS5 and FTS4,
//! peewee's FTS model) — backed up and restored by the real `nuage`, then
//! opened and checked by that same library (tests/fidelity/apps.py): its
//! view of the schema and data is the same, and the application can go on
//! writing (new ids, cascades, constraints, triggers, migrations).
//!
//! The libraries live in a virtual environment that `make test` prepares
//! (scripts/deps.sh); `NUAGE_PYTHON` names its interpreter. Without it the
//! tests say SKIPPED.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("NUAGE_PYTHON").map(PathBuf::from)?;
    let ok = Command::new(&p)
        .args(["-c", "import sqlalchemy, alembic, sqlite_utils, peewee"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(p)
}

fn apps() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("tests run by cargo"))
        .join("../../tests/fidelity/apps.py")
}

fn library_round_trip(lib: &str) {
    let Some(py) = python() else {
        eprintln!(
            "SKIPPED: {lib} fidelity: NUAGE_PYTHON is not set to a Python with tests/fidelity/requirements.txt (make test prepares it)"
        );
        return;
    };
    let env = Env::new();
    let db = env.path(&format!("{lib}.db"));
    let made = Command::new(&py)
        .arg(apps())
        .args(["make", lib])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{lib} could not make its database: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    env.run_ok(&["source", "add", s(&db), "--name", "app"]);
    let id = env.backup_ok();
    let restored = env.out().join("restored.db");
    env.run_ok(&["restore", &id, "--to", s(&restored)]);
    let checked = Command::new(&py)
        .arg(apps())
        .args(["check", lib])
        .arg(&db)
        .arg(&restored)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{lib} does not accept the restored database: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn an_sqlalchemy_orm_database_reflects_and_works_the_same_after_restore() {
    library_round_trip("sqlalchemy");
}

#[test]
fn an_alembic_migrated_database_keeps_its_revision_and_migrates_after_restore() {
    library_round_trip("alembic");
}

#[test]
fn sqlite_utils_full_text_search_finds_the_same_rows_and_keeps_indexing_after_restore() {
    library_round_trip("sqlite_utils");
}

#[test]
fn a_peewee_database_with_its_fts_model_works_the_same_after_restore() {
    library_round_trip("peewee");
}
