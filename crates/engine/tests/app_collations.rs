//! Databases ordered by a collation their application registers on its own
//! connections (Anki's `tag TEXT PRIMARY KEY COLLATE unicase` in a table
//! without rowid): backed up, restored in the application's order so that
//! the application's own integrity check accepts the file — or refused at
//! backup time, naming the object, when that is impossible.

mod support;

use std::cmp::Ordering;
use std::path::Path;

use nuage_engine::RunOutcome;
use rusqlite::Connection;

/// Anki's definition (rslib/src/storage/sqlite.rs).
fn anki_unicase(a: &str, b: &str) -> Ordering {
    unicase::UniCase::new(a).cmp(&unicase::UniCase::new(b))
}

const WORDS: &[&str] = &[
    "b", "A", "c", "Zed", "émile", "Éa", "straße", "STRASSE2", "ǅemal", "Ωmega", "ωmega2", "a1",
];

/// A collection shaped like Anki's: a table without rowid keyed by a
/// `unicase` primary key, and a unique `unicase` index on a rowid table.
fn collection(path: &Path, collate: impl Fn(&str, &str) -> Ordering + Send + 'static) {
    let c = Connection::open(path).unwrap();
    c.create_collation("unicase", collate).unwrap();
    c.execute_batch(
        "CREATE TABLE tags (tag TEXT NOT NULL PRIMARY KEY COLLATE unicase, usn INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE decks (id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE unicase);
         CREATE UNIQUE INDEX idx_decks_name ON decks (name);",
    )
    .unwrap();
    for (i, w) in WORDS.iter().enumerate() {
        c.execute("INSERT INTO tags VALUES (?1, ?2)", rusqlite::params![w, i])
            .unwrap();
        c.execute(
            "INSERT INTO decks(name) VALUES (?1)",
            [format!("{w}::deck")],
        )
        .unwrap();
    }
}

/// What the application sees: its integrity check, and the rows in its order.
fn as_the_application_sees_it(path: &Path) -> (Vec<String>, Vec<(String, i64)>, Vec<String>) {
    let c = Connection::open(path).unwrap();
    c.create_collation("unicase", anki_unicase).unwrap();
    let check: Vec<String> = c
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let tags = c
        .prepare("SELECT tag, usn FROM tags ORDER BY tag")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let decks = c
        .prepare("SELECT name FROM decks INDEXED BY idx_decks_name ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (check, tags, decks)
}

#[test]
fn an_anki_collection_restores_in_its_own_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("collection.anki2");
    collection(&db, anki_unicase);
    let before = as_the_application_sees_it(&db);
    assert_eq!(before.0, ["ok"]);

    let e = support::engine(dir.path());
    e.add_source(&db, Some("anki")).unwrap();
    let out = e.backup(&["anki".to_string()], &mut |_| {}).unwrap();
    assert_eq!(out[0].status, RunOutcome::BackedUp, "{:?}", out[0].error);
    let to = dir.path().join("restored.anki2");
    support::restore_newest(&e, "anki", &to);

    let after = as_the_application_sees_it(&to);
    assert_eq!(after.0, ["ok"], "the application's integrity check");
    assert_eq!(after, before);
    assert_eq!(support::logical(&to), support::logical(&db));
}

#[test]
fn a_collation_that_orders_differently_is_refused_at_backup_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("other.db");
    // Another application's "unicase": lower-casing, not case folding
    // ("straße" sorts after "strasse2" here, before it in Anki's).
    collection(&db, |a, b| a.to_lowercase().cmp(&b.to_lowercase()));
    let e = support::engine(dir.path());
    e.add_source(&db, Some("other")).unwrap();
    let out = e.backup(&["other".to_string()], &mut |_| {}).unwrap();
    assert_eq!(out[0].status, RunOutcome::Failed);
    let msg = out[0].error.clone().unwrap_or_default();
    for needle in ["table 'tags'", "'unicase'", "orders its rows differently"] {
        assert!(msg.contains(needle), "{needle} not in: {msg}");
    }
    assert!(e.restore_points(Some("other")).unwrap().is_empty());
}

#[test]
fn an_unknown_collation_is_refused_at_backup_time_naming_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("custom.db");
    let c = Connection::open(&db).unwrap();
    c.create_collation("by_length", |a: &str, b: &str| a.len().cmp(&b.len()))
        .unwrap();
    c.execute_batch(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, label TEXT);
         INSERT INTO items(label) VALUES ('long one'), ('x');
         CREATE INDEX items_by_length ON items(label COLLATE by_length);",
    )
    .unwrap();
    drop(c);
    let e = support::engine(dir.path());
    e.add_source(&db, Some("custom")).unwrap();
    let out = e.backup(&["custom".to_string()], &mut |_| {}).unwrap();
    assert_eq!(out[0].status, RunOutcome::Failed);
    let msg = out[0].error.clone().unwrap_or_default();
    for needle in [
        "index 'items_by_length'",
        "'by_length'",
        "only its application defines",
    ] {
        assert!(msg.contains(needle), "{needle} not in: {msg}");
    }
}

#[test]
fn an_unknown_collation_in_a_check_or_a_generated_column_is_refused_at_backup_time() {
    for (what, ddl) in [
        (
            "check",
            "CREATE TABLE items(id INTEGER PRIMARY KEY, label TEXT CHECK (label <> 'zzz' COLLATE by_length))",
        ),
        (
            "generated",
            "CREATE TABLE items(id INTEGER PRIMARY KEY, label TEXT, g INT GENERATED ALWAYS AS (label = 'X' COLLATE by_length) STORED)",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("custom.db");
        let c = Connection::open(&db).unwrap();
        c.create_collation("by_length", |a: &str, b: &str| a.len().cmp(&b.len()))
            .unwrap();
        c.execute_batch(ddl).unwrap();
        c.execute("INSERT INTO items(id, label) VALUES (1, 'a')", [])
            .unwrap();
        drop(c);
        let e = support::engine(dir.path());
        e.add_source(&db, Some("custom")).unwrap();
        let out = e.backup(&["custom".to_string()], &mut |_| {}).unwrap();
        assert_eq!(out[0].status, RunOutcome::Failed, "{what}");
        let msg = out[0].error.clone().unwrap_or_default();
        for needle in [
            "table 'items'",
            "'by_length'",
            "only its application defines",
        ] {
            assert!(msg.contains(needle), "{what}: {needle} not in: {msg}");
        }
    }
}
