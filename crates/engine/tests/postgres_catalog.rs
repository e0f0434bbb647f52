//! Reading a Supabase-shaped database's catalog from a real server: what a
//! backup keeps, what points out of it, and what it names as not included.

use nuage_engine::postgres::ConnSpec;
use nuage_engine::postgres::catalog;
use nuage_pgserver::{PgBouncer, PgServer};

#[test]
fn a_supabase_shaped_database_is_read_from_its_catalogs() {
    for bin in nuage_pgserver::all_bins() {
        let (pg, spec, pw) = fixture_on(&bin);
        eprintln!("catalog of PostgreSQL {}", pg.major_version());
        read_catalog(&pg, &spec, pw.as_deref());
    }
}

fn read_catalog(pg: &PgServer, spec: &ConnSpec, pw: Option<&str>) {
    let mut c = spec.connect(pw).unwrap();

    let (kept, platform) = catalog::schemas(&mut c).unwrap();
    assert_eq!(kept, ["public"]);
    assert_eq!(platform, ["auth"]);

    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .unwrap();
    let cat = catalog::read(&mut c, &kept).unwrap();
    c.batch_execute("COMMIT").unwrap();
    assert!(
        cat.server_version
            .starts_with(&pg.major_version().to_string())
    );

    let names: Vec<&str> = cat.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["jobs", "notes", "profiles"]);
    let jobs = &cat.tables[0];
    let col = |n: &str| jobs.columns.iter().find(|c| c.name == n).unwrap();
    assert_eq!(col("id").identity.as_deref(), Some("by default"));
    assert_eq!(col("id").default, None);
    assert_eq!(col("plate").type_, "public.plate");
    assert_eq!(
        col("status").default.as_deref(),
        Some("'open'::public.job_status")
    );
    assert_eq!(col("price").type_, "numeric(10,2)");
    assert!(col("total").generated.as_deref().unwrap().contains("price"));
    let fk = jobs.constraints.iter().find(|k| k.kind == "f").unwrap();
    assert!(
        fk.definition
            .contains("REFERENCES public.profiles(id) DEFERRABLE INITIALLY DEFERRED"),
        "{fk:?}"
    );
    assert!(
        jobs.constraints
            .iter()
            .any(|k| k.kind == "c" && k.definition.contains("price >= "))
    );

    let idx: Vec<&str> = cat.indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(idx, ["jobs_open_idx", "notes_lower_idx"]);
    assert!(
        cat.indexes[0]
            .definition
            .contains("WHERE (status <> 'done'::public.job_status)")
    );

    assert_eq!(cat.enums[0].labels, ["open", "in progress", "done"]);
    assert_eq!(cat.domains[0].base, "text");
    assert!(cat.domains[0].checks[0].definition.contains("VALUE ~"));

    let seq = |n: &str| cat.sequences.iter().find(|s| s.name == n).unwrap();
    assert!(seq("jobs_id_seq").identity);
    assert_eq!(seq("jobs_id_seq").last_value.as_deref(), Some("3"));
    assert_eq!(
        seq("notes_id_seq").owned_by,
        Some(["public".into(), "notes".into(), "id".into()])
    );
    assert!(seq("notes_id_seq").is_called);

    // What points out of `public`: the foreign key into auth.users, and
    // the policy's call of auth.uid().
    let refs: Vec<(&str, &str)> = cat
        .references_out
        .iter()
        .map(|r| (r.from.as_str(), r.to.as_str()))
        .collect();
    assert_eq!(refs.len(), 2, "{refs:?}");
    assert!(
        refs.iter()
            .any(|(from, to)| from.contains("public.profiles") && *to == "auth.users")
    );
    assert!(
        refs.iter()
            .any(|(from, to)| from.contains("jobs_owner") && *to == "auth.uid()")
    );

    // Views, functions, triggers, row-level security and its policies are
    // captured; grants are named as not included.
    assert_eq!(cat.views.len(), 1);
    assert_eq!(cat.views[0].name, "open_jobs");
    assert!(cat.functions.iter().any(|f| {
        f.name == "touch"
            && f.definition
                .starts_with("CREATE OR REPLACE FUNCTION public.touch()")
    }));
    assert!(
        cat.triggers
            .iter()
            .any(|t| t.name == "jobs_touch" && t.enabled == "O")
    );
    let policy = cat
        .policies
        .iter()
        .find(|p| p.name == "jobs_owner")
        .unwrap();
    assert_eq!(policy.roles, ["authenticated"]);
    assert_eq!(policy.command, "ALL");
    assert!(policy.using.as_deref().unwrap().contains("auth.uid()"));
    assert!(
        cat.tables
            .iter()
            .any(|t| t.name == "jobs" && t.row_security)
    );
    let not: Vec<(&str, &str)> = cat
        .not_included
        .iter()
        .map(|n| (n.kind.as_str(), n.name.as_str()))
        .collect();
    assert!(
        not.iter()
            .all(|(kind, _)| !matches!(*kind, "view" | "function" | "trigger")),
        "{not:?}"
    );
}

fn fixture_server() -> Option<(PgServer, ConnSpec, Option<String>)> {
    let Some(bin) = nuage_pgserver::find_bin() else {
        assert!(
            !nuage_pgserver::servers_required(),
            "no PostgreSQL server binaries, and the tests require one: install the postgresql package (scripts/deps.sh), or set NUAGE_REQUIRE_SERVERS=0 to skip"
        );
        eprintln!("SKIPPED: no PostgreSQL server to test against");
        return None;
    };
    Some(fixture_on(&bin))
}

/// A server from `bin` holding the Supabase-shaped fixture in `garage`.
fn fixture_on(bin: &std::path::Path) -> (PgServer, ConnSpec, Option<String>) {
    let pg = PgServer::start_with(bin).unwrap();
    pg.create_db("garage").unwrap();
    pg.psql("garage", include_str!("fixtures/supabase-shaped.sql"))
        .unwrap();
    let (spec, pw) = ConnSpec::parse(&pg.url("garage")).unwrap();
    (pg, spec, pw)
}

fn source_info(spec: &ConnSpec) -> nuage_engine::SourceInfo {
    nuage_engine::SourceInfo {
        name: "garage".into(),
        kind: "postgresql".into(),
        path: spec.to_string(),
    }
}

#[test]
fn a_snapshot_is_one_document_of_exact_values() {
    for bin in nuage_pgserver::all_bins() {
        let (pg, spec, pw) = fixture_on(&bin);
        eprintln!("snapshot of PostgreSQL {}", pg.major_version());
        snapshot_exact(&pg, &spec, pw.as_deref());
    }
}

fn snapshot_exact(_pg: &PgServer, spec: &ConnSpec, pw: Option<&str>) {
    let mut c = spec.connect(pw).unwrap();
    let (doc, stats) = nuage_engine::postgres::snapshot::snapshot(
        &mut c,
        None,
        &source_info(spec),
        "2026-12-06T00:00:00.000Z",
        &["public".to_string()],
        Vec::new(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((stats.tables, stats.rows, stats.yielded), (3, 8, 0));
    let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!(v["format"], "nuage-backup");
    assert_eq!(v["source"]["kind"], "postgresql");
    assert!(!String::from_utf8_lossy(&doc).contains(_pg.password()));
    assert_eq!(v["postgresql"]["tables"].as_array().unwrap().len(), 3);
    let table = |n: &str| {
        v["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == n)
            .unwrap()
            .clone()
    };
    let jobs = table("jobs");
    // The generated column is recomputed on restore, not stored.
    assert_eq!(
        jobs["columns"],
        serde_json::json!(["id", "owner", "plate", "status", "price", "opened_at"])
    );
    assert_eq!(jobs["row_count"], 3);
    assert_eq!(jobs["rows"][0][4], "120.50");
    assert_eq!(jobs["rows"][2][4], serde_json::Value::Null);
    let profiles = table("profiles");
    assert_eq!(profiles["rows"][0][2], r#"{"n": 1, "lang": "pt"}"#);
    assert_eq!(profiles["rows"][0][3], "{mechanic,owner}");
    assert_eq!(profiles["rows"][1][3], serde_json::Value::Null);
    assert_eq!(v["summary"], serde_json::json!({"tables": 3, "rows": 8}));
}

#[test]
fn a_snapshot_gives_way_to_a_migration_instead_of_queueing_it() {
    let Some((pg, spec, pw)) = fixture_server() else {
        return;
    };
    // A migration holds an exclusive lock on one table for a second.
    let url = pg.url("garage");
    let (locked, holding) = std::sync::mpsc::channel();
    let migration = std::thread::spawn(move || {
        let (spec, pw) = ConnSpec::parse(&url).unwrap();
        let mut m = spec.connect(pw.as_deref()).unwrap();
        m.batch_execute("BEGIN; ALTER TABLE public.notes ADD COLUMN color text")
            .unwrap();
        locked.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1200));
        m.batch_execute("COMMIT").unwrap();
    });
    // The backup starts once the migration holds its lock.
    holding.recv().unwrap();
    let mut c = spec.connect(pw.as_deref()).unwrap();
    let (doc, stats) = nuage_engine::postgres::snapshot::snapshot(
        &mut c,
        None,
        &source_info(&spec),
        "2026-12-06T00:00:00.000Z",
        &["public".to_string()],
        Vec::new(),
        &mut |_| {},
    )
    .unwrap();
    migration.join().unwrap();
    assert!(
        stats.yielded > 0,
        "the backup never met the migration's lock"
    );
    // It waited for the migration, and saw it whole: the new column.
    let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    let notes = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "notes")
        .unwrap();
    assert_eq!(
        notes["columns"],
        serde_json::json!(["id", "job_id", "body", "color"])
    );
}

#[test]
fn a_migration_during_a_long_backup_completes_within_two_seconds() {
    let Some((pg, spec, pw)) = fixture_server() else {
        return;
    };
    pg.psql(
        "garage",
        "CREATE TABLE public.history AS SELECT g AS id, md5(g::text) AS what FROM generate_series(1, 400000) g",
    )
    .unwrap();
    let url = pg.url("garage");
    let (tx, rx) = std::sync::mpsc::channel();
    let migration = std::thread::spawn(move || {
        let (spec, pw) = ConnSpec::parse(&url).unwrap();
        let mut m = spec.connect(pw.as_deref()).unwrap();
        // Wait until the backup is reading the big table.
        rx.recv().unwrap();
        let started = std::time::Instant::now();
        m.batch_execute("ALTER TABLE public.history ADD COLUMN checked boolean")
            .unwrap();
        started.elapsed()
    });
    let mut attempts = 0;
    let mut signalled = false;
    let (doc, stats) = loop {
        attempts += 1;
        let mut c = spec.connect(pw.as_deref()).unwrap();
        let watcher = spec.connect(pw.as_deref()).unwrap();
        match nuage_engine::postgres::snapshot::snapshot(
            &mut c,
            Some(watcher),
            &source_info(&spec),
            "2026-12-06T00:00:00.000Z",
            &["public".to_string()],
            Vec::new(),
            &mut |p| {
                // Midway through the big table, the migration comes; the
                // read is held up a moment (a slow link), so it cannot
                // finish first on a fast machine and never meet it.
                if p.table == "history" && !signalled {
                    signalled = true;
                    tx.send(()).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(800));
                }
            },
        ) {
            Ok(r) => break r,
            Err(e) if nuage_engine::postgres::snapshot::gave_way(&e) && attempts < 5 => continue,
            Err(e) => panic!("{e}"),
        }
    };
    let waited = migration.join().unwrap();
    assert!(
        waited < std::time::Duration::from_secs(2),
        "the migration waited {waited:?}"
    );
    // It gave way, mid-read (a new attempt).
    assert!(
        attempts >= 2 || stats.yielded > 0,
        "the backup never gave way"
    );
    let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    let history = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "history")
        .unwrap();
    assert_eq!(
        history["columns"],
        serde_json::json!(["id", "what", "checked"])
    );
    assert_eq!(history["row_count"], 400000);
}

#[test]
fn a_snapshot_works_through_a_transaction_pooler() {
    let Some((pg, _, _)) = fixture_server() else {
        return;
    };
    let bouncer = match PgBouncer::start(&pg, "transaction") {
        Ok(b) => b,
        Err(e) => {
            eprintln!("SKIPPED: no PgBouncer to test against: {e}");
            return;
        }
    };
    let (spec, pw) = ConnSpec::parse(&bouncer.url(&pg, "garage")).unwrap();
    // Twice, on pooled server connections that other clients share.
    for _ in 0..2 {
        let mut c = spec.connect(pw.as_deref()).unwrap();
        let (doc, stats) = nuage_engine::postgres::snapshot::snapshot(
            &mut c,
            Some(spec.connect(pw.as_deref()).unwrap()),
            &source_info(&spec),
            "2026-12-06T00:00:00.000Z",
            &["public".to_string()],
            Vec::new(),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!((stats.tables, stats.rows), (3, 8));
        let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(v["summary"]["rows"], 8);
    }
}
