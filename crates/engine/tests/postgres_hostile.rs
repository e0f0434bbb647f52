//! Hostile PostgreSQL documents are refused, within bounds, with the
//! target untouched: a definition that would create or replace an object
//! outside its schemas (`auth.uid()`), a statement stacked behind a
//! definition, a catalog too large to hold in memory, rows that do not
//! match their table.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nuage_engine::{Config, Document, Error, Placement, SourceKind, limits, open_source};
use nuage_pgserver::PgServer;
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/supabase-shaped.sql");

struct World {
    pg: PgServer,
    home: tempfile::TempDir,
    doc: Value,
}

fn world() -> World {
    let pg = PgServer::start().expect("a PostgreSQL server");
    pg.create_db("shop").unwrap();
    pg.psql("shop", FIXTURE).unwrap();
    let home = tempfile::tempdir().unwrap();
    let src = open_source(
        SourceKind::Postgresql,
        "shop",
        Path::new(&pg.url("shop")),
        &nuage_engine::SourceOptions::default(),
        home.path(),
        &Config::default(),
    );
    let mut out = Vec::new();
    src.snapshot(
        "2026-12-06T00:00:00.000Z",
        home.path(),
        &home.path().join("x"),
        &mut out,
        &mut |_| {},
    )
    .unwrap();
    let doc = serde_json::from_slice(&out).unwrap();
    World { pg, home, doc }
}

impl World {
    /// Restores `doc` into a new empty database (one with the auth schema,
    /// as a Supabase project has); returns the error.
    fn refuse(&self, doc: &[u8], db: &str) -> Error {
        self.pg.create_db(db).unwrap();
        self.pg
            .psql(
                db,
                FIXTURE
                    .split("CREATE TYPE public.job_status")
                    .next()
                    .unwrap()
                    .replace("CREATE ROLE anon NOLOGIN;", "")
                    .replace("CREATE ROLE authenticated NOLOGIN;", "")
                    .as_str(),
            )
            .unwrap();
        let before = self.fingerprint(db);
        let target = open_source(
            SourceKind::Postgresql,
            "shop",
            &PathBuf::from(self.pg.url(db)),
            &nuage_engine::SourceOptions::default(),
            self.home.path(),
            &Config::default(),
        );
        let r = target
            .stage_restore(
                Document::new(
                    Box::new(Cursor::new(doc.to_vec())),
                    doc.len() as u64,
                    limits::LOAD_TIME_BASE,
                ),
                "hostile.json",
                Placement::New { force: false },
                &self.home.path().join("work"),
                &mut |_, _| {},
                &mut nuage_engine::NoContent,
            )
            .map(|s| s.commit());
        let (Err(e) | Ok(Err(e))) = r else {
            panic!("a hostile document was restored")
        };
        assert_eq!(self.fingerprint(db), before, "the target was touched: {e}");
        e
    }

    /// Everything the target holds, as text.
    fn fingerprint(&self, db: &str) -> String {
        self.pg
            .psql(
                db,
                "SELECT string_agg(x, ',' ORDER BY x) FROM (
                   SELECT c.oid::regclass::text AS x FROM pg_class c
                    WHERE c.relnamespace IN ('public'::regnamespace, 'auth'::regnamespace)
                   UNION ALL SELECT p.oid::regprocedure::text || md5(p.prosrc) FROM pg_proc p
                    WHERE p.pronamespace IN ('public'::regnamespace, 'auth'::regnamespace)
                   UNION ALL SELECT count(*)::text FROM auth.users) s",
            )
            .unwrap()
    }
}

/// `v` as a document, its keys in the order the reader requires
/// (`serde_json::Value` sorts them).
fn bytes(v: &Value) -> Vec<u8> {
    let keys = |v: &Value, keys: &[&str]| -> String {
        let fields: Vec<String> = keys
            .iter()
            .map(|k| format!("{}:{}", Value::from(*k), v[*k]))
            .collect();
        format!("{{{}}}", fields.join(","))
    };
    let tables: Vec<String> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| keys(t, &["schema", "name", "columns", "rows", "row_count"]))
        .collect();
    let mut head = v.clone();
    head["tables"] = Value::Null;
    let text = keys(
        &head,
        &[
            "format",
            "version",
            "created_at",
            "generator",
            "source",
            "postgresql",
            "tables",
            "summary",
        ],
    )
    .replace(
        "\"tables\":null",
        &format!("\"tables\":[{}]", tables.join(",")),
    );
    text.into_bytes()
}

#[test]
fn hostile_postgresql_documents_are_refused_and_the_target_is_untouched() {
    let w = world();
    // The document as taken restores (each case below differs from it by
    // one change).
    w.pg.create_db("good").unwrap();
    let good = open_source(
        SourceKind::Postgresql,
        "shop",
        &PathBuf::from(w.pg.url("good")),
        &nuage_engine::SourceOptions::default(),
        w.home.path(),
        &Config::default(),
    );
    let doc = bytes(&w.doc);
    good.stage_restore(
        Document::new(
            Box::new(Cursor::new(doc.clone())),
            doc.len() as u64,
            limits::LOAD_TIME_BASE,
        ),
        "good.json",
        Placement::New { force: false },
        &w.home.path().join("work"),
        &mut |_, _| {},
        &mut nuage_engine::NoContent,
    )
    .unwrap()
    .commit()
    .unwrap();

    // A function that would replace one in a schema the document does
    // not hold (every Supabase policy calls auth.uid()).
    let mut doc = w.doc.clone();
    let f = &mut doc["postgresql"]["functions"][0];
    f["definition"] = Value::from(
        "CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS $$ SELECT '11111111-1111-1111-1111-111111111111'::uuid $$",
    );
    let e = w.refuse(&bytes(&doc), "t1");
    assert_eq!(e.code().as_str(), "invalid_backup", "{e}");
    assert!(e.to_string().contains("function"), "{e}");

    // A trigger or an index on a table the document does not hold.
    let mut doc = w.doc.clone();
    let t = &mut doc["postgresql"]["triggers"][0];
    t["definition"] = Value::from(
        "CREATE TRIGGER jobs_touch BEFORE UPDATE ON auth.users FOR EACH ROW EXECUTE FUNCTION public.touch()",
    );
    assert_eq!(
        w.refuse(&bytes(&doc), "t2").code().as_str(),
        "invalid_backup"
    );
    let mut doc = w.doc.clone();
    doc["postgresql"]["indexes"][0]["definition"] =
        Value::from("CREATE INDEX jobs_open_idx ON auth.users USING btree (email)");
    assert_eq!(
        w.refuse(&bytes(&doc), "t3").code().as_str(),
        "invalid_backup"
    );

    // A grant whose function arguments would name other functions.
    let mut doc = w.doc.clone();
    let g = doc["postgresql"]["grants"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|g| g["kind"] == "FUNCTION")
        .unwrap();
    g["arguments"] = Value::from("), auth.uid(");
    let e = w.refuse(&bytes(&doc), "t8");
    assert!(e.to_string().contains("does not hold"), "{e}");

    // A statement stacked behind a definition never runs.
    let mut doc = w.doc.clone();
    let i = &mut doc["postgresql"]["indexes"][0]["definition"];
    *i = Value::from(format!("{}; DROP TABLE auth.users", i.as_str().unwrap()));
    let e = w.refuse(&bytes(&doc), "t4");
    assert!(e.to_string().contains("multiple commands"), "{e}");

    // Rows that do not match their table.
    let mut doc = w.doc.clone();
    doc["tables"][0]["rows"][0]
        .as_array_mut()
        .unwrap()
        .push(Value::from("extra"));
    let e = w.refuse(&bytes(&doc), "t5");
    assert_eq!(e.code().as_str(), "invalid_backup", "{e}");
    assert!(e.to_string().contains("values for"), "{e}");
    let mut doc = w.doc.clone();
    doc["tables"][0]["row_count"] = Value::from(99);
    assert_eq!(
        w.refuse(&bytes(&doc), "t6").code().as_str(),
        "invalid_backup"
    );

    // A catalog of 40 MiB (small objects: no one token is long) is refused
    // after 16 MiB, quickly.
    let mut doc = w.doc.clone();
    let filler: Vec<Value> = (0..400_000)
        .map(|i| serde_json::json!({"kind": "x", "name": format!("{i:0>80}")}))
        .collect();
    doc["postgresql"]["not_included"] = Value::from(filler);
    let started = Instant::now();
    let e = w.refuse(&bytes(&doc), "t7");
    assert!(
        e.to_string().contains("catalog takes more than 16 MiB"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}
