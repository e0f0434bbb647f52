//! Exact round trips: what is restored is the same logical database, value
//! by value, storage class by storage class, bit by bit.

mod support;

use nuage_engine::RunOutcome;
use proptest::prelude::*;
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use support::{logical, round_trip};

fn check(db: &std::path::Path, dir: &std::path::Path) {
    let restored = round_trip(dir, db);
    assert_eq!(logical(db), logical(&restored));
}

#[test]
fn every_edge_value_survives() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("edge.db");
    let c = Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE v(id INTEGER PRIMARY KEY, a, b ANY, t TEXT, r REAL, bl BLOB);
         CREATE TABLE strict_t(k INTEGER PRIMARY KEY, x ANY, y TEXT, z BLOB) STRICT;
         CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID;",
    )
    .unwrap();
    let values: Vec<Value> = vec![
        Value::Null,
        Value::Integer(i64::MIN),
        Value::Integer(i64::MAX),
        Value::Integer(0),
        Value::Integer(-1),
        Value::Real(-0.0),
        Value::Real(0.0),
        Value::Real(f64::INFINITY),
        Value::Real(f64::NEG_INFINITY),
        Value::Real(f64::MIN_POSITIVE / 4.0), // subnormal
        Value::Real(f64::MAX),
        Value::Real(0.1 + 0.2),
        Value::Real(1.0),
        Value::Real(1e300),
        Value::Real(-2.5e-300),
        Value::Text(String::new()),
        Value::Text("nul\0inside".into()),
        Value::Text("quotes \" and \\ and \n and \u{1F600} and \u{7}".into()),
        Value::Blob(vec![]),
        Value::Blob(vec![0, 255, 0, 1]),
        Value::Blob((0..=255).collect()),
    ];
    for (i, v) in values.iter().enumerate() {
        c.execute(
            "INSERT INTO v(id, a, b) VALUES (?1, ?2, ?2)",
            rusqlite::params![i as i64 * 1000 - 7, v],
        )
        .unwrap();
        c.execute(
            "INSERT INTO strict_t(k, x) VALUES (?1, ?2)",
            rusqlite::params![i as i64, v],
        )
        .unwrap();
        c.execute(
            "INSERT INTO w(k, v) VALUES (?1, ?2)",
            rusqlite::params![format!("k{i}"), v],
        )
        .unwrap();
    }
    // Text that is not valid UTF-8, stored as TEXT (CAST keeps the bytes).
    c.execute(
        "INSERT INTO v(id, t) VALUES (99999, CAST(X'66FF00FE80C3' AS TEXT))",
        [],
    )
    .unwrap();
    c.execute(
        "INSERT INTO w(k, v) VALUES (CAST(X'C328' AS TEXT), CAST(X'ED' AS TEXT))",
        [],
    )
    .unwrap();
    // Extreme rowids.
    c.execute("INSERT INTO v(id, a) VALUES (?1, 'min')", [i64::MIN])
        .unwrap();
    c.execute("INSERT INTO v(id, a) VALUES (?1, 'max')", [i64::MAX])
        .unwrap();
    c.execute_batch("PRAGMA user_version = 42; PRAGMA application_id = -123456;")
        .unwrap();
    drop(c);
    let l = logical(&db);
    assert_eq!(
        l.pragmas,
        vec![
            ("user_version".into(), 42),
            ("application_id".into(), -123456)
        ]
    );
    check(&db, dir.path());
}

#[test]
fn schema_features_survive_and_triggers_do_not_fire() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("schema.db");
    let c = Connection::open(&db).unwrap();
    c.execute_batch(
        r#"
        PRAGMA foreign_keys = ON;
        CREATE TABLE parent(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL CHECK (length(name) > 0));
        CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE,
                           qty INT, price REAL, total REAL GENERATED ALWAYS AS (qty * price) STORED,
                           label TEXT AS (upper(name_hint)) VIRTUAL, name_hint TEXT);
        CREATE TABLE "odd ""name"" table"("col with space" TEXT, "select" INT);
        CREATE TABLE kv(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
        CREATE TABLE typed(a INTEGER, b TEXT, c ANY) STRICT;
        CREATE INDEX child_parent ON child(parent_id);
        CREATE UNIQUE INDEX parent_name ON parent(name);
        CREATE INDEX partial ON child(qty) WHERE qty > 10;
        CREATE VIEW totals AS SELECT parent_id, sum(total) AS t FROM child GROUP BY parent_id;
        CREATE TABLE audit(msg TEXT);
        CREATE TRIGGER child_ins AFTER INSERT ON child BEGIN INSERT INTO audit VALUES ('inserted ' || new.id); END;
        CREATE VIRTUAL TABLE notes USING fts5(title, body);
        CREATE VIRTUAL TABLE boxes USING rtree(id, minx, maxx, miny, maxy);
        INSERT INTO parent(name) VALUES ('a'), ('b'), ('c');
        DELETE FROM parent WHERE name = 'c';
        INSERT INTO child(parent_id, qty, price, name_hint) VALUES (1, 2, 3.5, 'x'), (2, 20, 0.25, NULL), (1, NULL, 1.0, 'y');
        INSERT INTO "odd ""name"" table" VALUES ('v', 1);
        INSERT INTO kv VALUES ('k1', X'00'), ('k2', NULL);
        INSERT INTO typed VALUES (1, 'x', 2.5), (NULL, NULL, X'01');
        INSERT INTO notes(rowid, title, body) VALUES (10, 'hello', 'world of backups'), (20, 'second', 'note');
        INSERT INTO boxes VALUES (1, 0, 1, 0, 1), (7, -5, 5, -5, 5);
        PRAGMA user_version = 7;
        "#,
    )
    .unwrap();
    drop(c);
    let restored = round_trip(dir.path(), &db);
    assert_eq!(logical(&db), logical(&restored));
    let r = Connection::open(&restored).unwrap();
    // The trigger existed but did not fire during the restore: audit has
    // exactly the 3 rows the source had.
    let audit: i64 = r
        .query_row("SELECT count(*) FROM audit", [], |x| x.get(0))
        .unwrap();
    assert_eq!(audit, 3);
    // AUTOINCREMENT continues after the deleted row, as in the source.
    r.execute("INSERT INTO parent(name) VALUES ('d')", [])
        .unwrap();
    assert_eq!(r.last_insert_rowid(), 4);
    // Full-text index works on the restored table.
    let hit: i64 = r
        .query_row(
            "SELECT rowid FROM notes WHERE notes MATCH 'backups'",
            [],
            |x| x.get(0),
        )
        .unwrap();
    assert_eq!(hit, 10);
    let ok: String = r
        .query_row("PRAGMA integrity_check", [], |x| x.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn full_text_tables_with_rows_restore_beside_indexes_views_and_triggers() {
    // FTS3/FTS4 flush their pending terms when the next schema statement
    // runs; the schema gate must let that module work through (it once
    // refused the view below: "authorization denied").
    for module in ["fts3", "fts4", "fts5"] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(format!("{module}.db"));
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(&format!(
                "CREATE VIRTUAL TABLE notes USING {module}(body);
                 INSERT INTO notes VALUES ('hello world'), ('brake pads replaced');
                 CREATE TABLE cars(id INTEGER PRIMARY KEY, plate TEXT);
                 CREATE INDEX cars_by_plate ON cars(plate);
                 CREATE VIEW v AS SELECT 1;
                 CREATE TRIGGER t AFTER INSERT ON cars BEGIN SELECT 1; END;"
            ))
            .unwrap();
        let restored = support::round_trip(dir.path(), &db);
        let c = rusqlite::Connection::open(&restored).unwrap();
        let hits: i64 = c
            .query_row(
                "SELECT count(*) FROM notes WHERE notes MATCH 'brake'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hits, 1, "{module}: the restored index answers");
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "{module}");
    }
}

#[test]
fn big_values_stream_in_every_kind_of_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.db");
    let c = Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE files(id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB NOT NULL, note TEXT);
         CREATE TABLE strict_files(id INTEGER PRIMARY KEY, body TEXT NOT NULL, data BLOB) STRICT;
         CREATE TABLE wr(k INTEGER PRIMARY KEY, data BLOB) WITHOUT ROWID;",
    )
    .unwrap();
    let mut big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    big[0] = 0;
    let text: String = "é€x".repeat(150_000); // ~900 KB of multi-byte UTF-8
    c.execute(
        "INSERT INTO files VALUES (1, 'a', ?1, ?2)",
        rusqlite::params![big, text],
    )
    .unwrap();
    c.execute(
        "INSERT INTO files VALUES (2, 'exactly', zeroblob(262144), NULL)",
        [],
    )
    .unwrap();
    c.execute("INSERT INTO files VALUES (3, 'just over', zeroblob(262145), CAST(zeroblob(300000) AS TEXT))", []).unwrap();
    c.execute(
        "INSERT INTO files VALUES (4, 'invalid utf8', X'00', CAST(?1 AS TEXT))",
        [vec![0xffu8; 400_000]],
    )
    .unwrap();
    c.execute(
        "INSERT INTO strict_files VALUES (1, ?1, ?2)",
        rusqlite::params![text, big],
    )
    .unwrap();
    c.execute("INSERT INTO wr VALUES (1, ?1)", [&big]).unwrap();
    drop(c);
    check(&db, dir.path());
}

#[test]
fn big_values_in_numeric_columns_stay_restorable() {
    // Numeric-affinity columns are read without the big-value guard; a
    // large text or blob stored there anyway must still make a document
    // the reader accepts (no JSON token over its cap, no row over the
    // memory a restore may use).
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("odd.db");
    let c = Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, r REAL)")
        .unwrap();
    let text = "x".repeat(5 << 20);
    let blob: Vec<u8> = (0..(2u32 << 20)).map(|i| (i % 251) as u8).collect();
    c.execute(
        "INSERT INTO t VALUES (1, ?1, ?2)",
        rusqlite::params![text, blob],
    )
    .unwrap();
    drop(c);
    check(&db, dir.path());
}

#[test]
fn a_row_too_big_to_restore_is_refused_at_backup_time_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("huge-text.db");
    let c = Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
        .unwrap();
    c.execute("INSERT INTO notes VALUES (7, ?1)", ["y".repeat(9 << 20)])
        .unwrap();
    drop(c);
    let e = support::engine(dir.path());
    e.add_source(&db, Some("huge")).unwrap();
    let out = e.backup(&["huge".to_string()], &mut |_| {}).unwrap();
    assert_eq!(out[0].status, RunOutcome::Failed);
    let msg = out[0].error.clone().unwrap_or_default();
    for needle in ["table 'notes'", "rowid 7", "8 MiB"] {
        assert!(msg.contains(needle), "{needle} not in: {msg}");
    }
}

#[test]
fn wal_database_with_uncheckpointed_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wal.db");
    let c = Connection::open(&db).unwrap();
    c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t(x);")
        .unwrap();
    for i in 0..500 {
        c.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
    }
    // The connection stays open: the rows live only in the -wal file.
    assert!(
        std::fs::metadata(format!("{}-wal", db.display()))
            .unwrap()
            .len()
            > 0
    );
    let restored = round_trip(dir.path(), &db);
    let n: i64 = Connection::open(&restored)
        .unwrap()
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 500);
    let mode: String = Connection::open(&restored)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal", "a WAL source restores as a WAL database");
    drop(c);
}

#[test]
fn corpus_databases_round_trip() {
    let Some(corpus) = support::corpus_dir() else {
        eprintln!(
            "SKIPPED corpus_databases_round_trip: NUAGE_CORPUS is not set to a folder (CI sets it to ../shared/corpus; now: {:?})",
            std::env::var_os("NUAGE_CORPUS")
        );
        return;
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_none_or(|e| e != "sqlite" && e != "db") {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(p.file_name().unwrap());
        std::fs::copy(&p, &copy).unwrap();
        check(&copy, dir.path());
        seen += 1;
    }
    assert!(
        seen >= 2,
        "expected the corpus databases in {}",
        corpus.display()
    );
}

// ---- generated schemas and values ----

#[derive(Debug, Clone)]
struct TableGen {
    kind: u8, // 0 rowid, 1 INTEGER PRIMARY KEY, 2 WITHOUT ROWID, 3 STRICT
    types: Vec<&'static str>,
    rows: Vec<(i64, Vec<Value>)>,
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::Integer),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0i64)].prop_map(Value::Integer),
        any::<f64>()
            .prop_filter("SQLite stores no NaN", |f| !f.is_nan())
            .prop_map(Value::Real),
        prop_oneof![
            Just(-0.0f64),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(5e-324)
        ]
        .prop_map(Value::Real),
        ".{0,40}".prop_map(Value::Text),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::Blob),
    ]
}

fn table() -> impl Strategy<Value = TableGen> {
    (
        0u8..4,
        proptest::collection::vec(
            prop_oneof![
                Just(""),
                Just("INTEGER"),
                Just("REAL"),
                Just("TEXT"),
                Just("BLOB"),
                Just("NUMERIC")
            ],
            1..5,
        ),
    )
        .prop_flat_map(|(kind, types)| {
            let n = types.len();
            let rows = proptest::collection::vec(
                (any::<i64>(), proptest::collection::vec(value(), n)),
                0..25,
            );
            (Just(kind), Just(types), rows)
        })
        .prop_map(|(kind, types, rows)| TableGen { kind, types, rows })
}

fn build(path: &std::path::Path, tables: &[TableGen], raw_text: &[Vec<u8>]) {
    let c = Connection::open(path).unwrap();
    for (ti, t) in tables.iter().enumerate() {
        let cols: Vec<String> = t
            .types
            .iter()
            .enumerate()
            .map(|(i, ty)| {
                let ty = if t.kind == 3 { "ANY" } else { ty };
                format!("c{i} {ty}")
            })
            .collect();
        let sql = match t.kind {
            0 => format!("CREATE TABLE t{ti}({})", cols.join(", ")),
            1 => format!(
                "CREATE TABLE t{ti}(id INTEGER PRIMARY KEY, {})",
                cols.join(", ")
            ),
            2 => format!(
                "CREATE TABLE t{ti}(id INTEGER PRIMARY KEY, {}) WITHOUT ROWID",
                cols.join(", ")
            ),
            _ => format!(
                "CREATE TABLE t{ti}(id INTEGER PRIMARY KEY, {}) STRICT",
                cols.join(", ")
            ),
        };
        c.execute(&sql, []).unwrap();
        let n = t.types.len();
        let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        let params: Vec<String> = (2..=n + 1).map(|i| format!("?{i}")).collect();
        let key = if t.kind == 0 { "rowid" } else { "id" };
        let ins = format!(
            "INSERT OR IGNORE INTO t{ti}({key}, {}) VALUES (?1, {})",
            names.join(", "),
            params.join(", ")
        );
        for (rowid, vals) in &t.rows {
            let mut all = vec![Value::Integer(*rowid)];
            all.extend(vals.iter().cloned());
            c.execute(&ins, params_from_iter(all)).unwrap();
        }
    }
    c.execute("CREATE TABLE raw(t TEXT)", []).unwrap();
    for r in raw_text {
        c.execute("INSERT INTO raw VALUES (CAST(?1 AS TEXT))", [r])
            .unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn generated_databases_round_trip_exactly(
        tables in proptest::collection::vec(table(), 1..4),
        raw_text in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("gen.db");
        build(&db, &tables, &raw_text);
        let restored = round_trip(dir.path(), &db);
        prop_assert_eq!(logical(&db), logical(&restored));
    }
}
