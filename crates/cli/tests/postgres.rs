//! PostgreSQL sources through the real binary, against a real server the
//! test starts: a Supabase-shaped database is added by its connection
//! string (the password never reaches a file or an output), backed up,
//! skipped while idle, restored into empty databases value by value and
//! catalog by catalog, refused over a database that holds data, restored
//! in place after a safety backup, and exported and imported.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Env, s};
use nuage_engine::postgres::{ConnSpec, catalog};
use nuage_pgserver::PgServer;

const FIXTURE: &str = include_str!("../../engine/tests/fixtures/supabase-shaped.sql");

/// Values whose text form a careless backup loses: float signs and
/// specials, numeric digits, bytea, intervals, microseconds and zones,
/// array bounds, json as written, empty versus NULL, a table of no columns,
/// a 3 MiB bytea (6 MiB of text: longer than any one JSON string a reader
/// takes, so written in chunks).
const SAMPLES: &str = r#"
CREATE TABLE public.samples (
    id int PRIMARY KEY,
    f8 double precision, f4 real, n numeric, b bytea, i interval,
    ts timestamp, tz timestamptz, d date, a int[], j json, jb jsonb, t text, u uuid
);
INSERT INTO public.samples VALUES
 (1, '-0', '-0', '12345678901234567890.123456789012345678901', '\x00ff0a5c', '1 year 2 mons 3 days 04:05:06.789012',
  '2026-12-06 01:02:03.456789', '2026-12-06 01:02:03.456789+05:30', '0044-03-15 BC', '[0:2]={1,2,3}',
  '{"b": 1,   "a": [1, 2]}', '{"b": 1, "a": [1, 2]}', '', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
 (2, 'NaN', 'Infinity', 'NaN', '\x', '-1 days', 'infinity', '-infinity', 'infinity', '{}', 'null', '"x"', E'tab\there\nnewline \\ back', NULL),
 (3, 0.1, 3.4028235e38, '-0.000000000000000000000000001', NULL, NULL, NULL, NULL, NULL, '{{1,2},{3,4}}', NULL, NULL, NULL, NULL),
 (4, 5e-324, 1.4e-45, '1e100', '\x01', '00:00:00.000001', '4713-01-01 00:00:00 BC', '294276-12-31 23:59:59.999999+00', '5874897-12-31', '{NULL,1}', '[]', '{}', 'é ü 😀', NULL);
CREATE TABLE public.files (id int PRIMARY KEY, body bytea);
INSERT INTO public.files SELECT 1, decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 196608) i;
CREATE TABLE public.single (v text);
INSERT INTO public.single VALUES (''), (NULL), ('x');
CREATE TABLE public.nothing ();
INSERT INTO public.nothing DEFAULT VALUES;
INSERT INTO public.nothing DEFAULT VALUES;
"#;

fn start() -> PgServer {
    let pg = PgServer::start().expect("a PostgreSQL server (scripts/deps.sh installs it)");
    pg.create_db("shop").unwrap();
    pg.psql("shop", FIXTURE).unwrap();
    pg.psql("shop", SAMPLES).unwrap();
    pg
}

/// Every row of every table in `public`, as PostgreSQL's own text of the
/// row, in order: equal strings are equal values.
fn contents(pg: &PgServer, db: &str) -> String {
    let tables = pg
        .psql(
            db,
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1",
        )
        .unwrap();
    let mut out = String::new();
    for t in tables.lines() {
        let rows = pg
            .psql(
                db,
                &format!(
                    "SELECT coalesce(string_agg(whole_row::text, E'\\n' ORDER BY whole_row::text), '') FROM public.\"{t}\" whole_row"
                ),
            )
            .unwrap();
        out.push_str(&format!("{t}:\n{rows}\n"));
    }
    assert!(out.contains("5874897-12-31"), "{out}");
    out
}

/// The catalog of `public` as a backup reads it (the server's own DDL).
fn shape(pg: &PgServer, db: &str) -> catalog::Catalog {
    let (spec, pw) = ConnSpec::parse(&pg.url(db)).unwrap();
    let mut c = spec.connect(pw.as_deref()).unwrap();
    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .unwrap();
    let cat = catalog::read(&mut c, &["public".to_string()]).unwrap();
    c.batch_execute("ROLLBACK").unwrap();
    cat
}

/// A connection string without the password.
fn bare_url(pg: &PgServer, db: &str) -> String {
    pg.url(db).replace(&format!(":{}@", pg.password()), "@")
}

/// Runs nuage with `stdin` piped in.
fn run_with_stdin(env: &Env, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut cmd: Command = env.command(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Panics if `secret` is in any file under `dir`.
fn assert_not_in_files(dir: &Path, secret: &str) {
    for e in walk(dir) {
        let bytes = std::fs::read(&e).unwrap_or_default();
        let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "the password is in {}", e.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_supabase_shaped_database_is_backed_up_and_restored_exactly() {
    let pg = start();
    let env = Env::new();
    let password = pg.password().to_string();

    // Added by the connection string a person pastes, password and all.
    let added = env.run_ok(&["source", "add", &pg.url("shop"), "--name", "shop"]);
    assert!(added.contains("backs up public"), "{added}");
    assert!(added.contains("left out: auth"), "{added}");
    assert!(
        added.contains("profiles_id_fkey") && added.contains("auth.users"),
        "the reference into auth is named: {added}"
    );
    assert!(
        added.contains("auth.uid()"),
        "the policy's call into auth is named: {added}"
    );

    // Backed up; an idle database is skipped; a change is seen.
    let first = env.backup_ok();
    let again = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(again[0]["status"], "unchanged", "{again}");
    // A change of a sequence's settings alone is a change.
    pg.psql("shop", "ALTER SEQUENCE public.notes_id_seq INCREMENT BY 5")
        .unwrap();
    let seq = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(seq[0]["status"], "backed_up", "{seq}");
    pg.psql(
        "shop",
        "UPDATE public.notes SET body = 'Tyres' WHERE id = 2",
    )
    .unwrap();
    let second = env.backup_ok();
    assert_ne!(first, second);

    // The password is nowhere but the keychain.
    for args in [
        vec!["source", "list", "--json"],
        vec!["list", "--json"],
        vec!["status", "--json"],
    ] {
        let o = env.run_full(&args);
        assert!(!o.stdout.contains(&password), "{args:?}: {}", o.stdout);
        assert!(!o.stderr.contains(&password), "{args:?}: {}", o.stderr);
    }
    assert_not_in_files(&env.home(), &password);
    let listed = json(&env.run_ok(&["source", "list", "--json"]));
    assert_eq!(listed[0]["kind"], "postgresql");
    assert_eq!(listed[0]["path"].as_str().unwrap(), bare_url(&pg, "shop"));

    // Into an empty database of a project that has its users (the auth
    // schema): every value and every catalog object as they were.
    pg.create_db("copy").unwrap();
    let auth_only: String = FIXTURE
        .split("CREATE TYPE public.job_status")
        .next()
        .unwrap()
        .replace("CREATE ROLE anon NOLOGIN;", "")
        .replace("CREATE ROLE authenticated NOLOGIN;", "");
    pg.psql("copy", &auth_only).unwrap();
    // As on Supabase, the target grants every new table to API roles by
    // itself: the restore takes back what the backup does not record.
    pg.psql(
        "copy",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon;
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon;",
    )
    .unwrap();
    pg.psql(
        "copy",
        "INSERT INTO auth.users (id, email) VALUES
           ('11111111-1111-1111-1111-111111111111', 'ana@garage.example'),
           ('22222222-2222-2222-2222-222222222222', 'rui@garage.example')",
    )
    .unwrap();
    let restored = json(&env.run_ok(&["restore", &second, "--to", &pg.url("copy"), "--json"]));
    assert_eq!(
        restored["not_restored"],
        serde_json::json!([]),
        "{restored}"
    );
    assert!(!restored.to_string().contains(&password), "{restored}");
    assert_eq!(contents(&pg, "copy"), contents(&pg, "shop"));
    let (mut a, mut b) = (shape(&pg, "shop"), shape(&pg, "copy"));
    a.server_version.clear();
    b.server_version.clear();
    assert_eq!(a, b, "the restored catalog differs");
    assert!(a.views.iter().any(|v| v.name == "open_jobs"));
    assert!(a.triggers.iter().any(|t| t.name == "jobs_touch"));
    assert!(a.policies.iter().any(|p| p.name == "jobs_owner"));
    assert!(a.tables.iter().any(|t| t.name == "jobs" && t.row_security));
    assert!(
        a.grants
            .iter()
            .any(|g| g.name == "jobs" && g.grantee == "authenticated")
    );
    assert!(a.comments.iter().any(|c| c.sub.as_deref() == Some("plate")));
    // The identity and serial sequences go on after the restored rows.
    pg.psql(
        "copy",
        "INSERT INTO public.notes (job_id, body) VALUES (1, 'new')",
    )
    .unwrap();
    assert_eq!(
        pg.psql("copy", "SELECT max(id) FROM public.notes").unwrap(),
        "8",
        "the sequence goes on from its value, by its increment (5)"
    );

    // Into a database without the auth schema: what points there cannot
    // be restored as it was, and is named; the rest is restored.
    pg.create_db("bare").unwrap();
    let out = env.run_ok(&["restore", &second, "--to", &pg.url("bare")]);
    assert!(
        out.contains("note: foreign key profiles_id_fkey on public.profiles"),
        "{out}"
    );
    assert!(
        out.contains("note: policy jobs_owner on public.jobs"),
        "{out}"
    );
    assert_eq!(contents(&pg, "bare"), contents(&pg, "shop"));

    // Into another server, of another major version when one is
    // installed: the roles the grants and the policy name are not there
    // (roles belong to a server); that is said, and the rest restored.
    if let Some(bin) = nuage_pgserver::all_bins().into_iter().nth(1) {
        let other = PgServer::start_with(&bin).unwrap();
        other.create_db("moved").unwrap();
        other.psql("moved", &auth_only).unwrap();
        let out = env.run_ok(&["restore", &second, "--to", &other.url("moved")]);
        assert!(
            out.contains("privileges granted to role authenticated: not restored"),
            "{out}"
        );
        assert!(
            out.contains("note: policy jobs_owner on public.jobs"),
            "{out}"
        );
        assert!(out.contains("note: foreign key profiles_id_fkey"), "{out}");
        assert_eq!(contents(&other, "moved"), contents(&pg, "shop"));
    }

    // A database that holds data is never restored over.
    let o = env.run_full(&["restore", &second, "--to", &pg.url("copy")]);
    assert!(!o.succeeded(), "{}", o.describe());
    assert!(
        o.stderr.contains("already exists") || o.stderr.contains("exists"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains(&password), "{}", o.stderr);

    // In place: the current state is kept first, then replaced whole.
    let before = contents(&pg, "shop");
    pg.psql(
        "shop",
        "DELETE FROM public.notes; DELETE FROM public.samples",
    )
    .unwrap();
    let points_before = env.points().len();
    let back = json(&env.run_ok(&["restore", &second, "--yes", "--json"]));
    assert!(back["safety_point"].is_string(), "{back}");
    assert_eq!(env.points().len(), points_before + 1);
    assert_eq!(contents(&pg, "shop"), before);

    // Restoring over the source never removes what no backup holds: a
    // trigger of the platform's schema calling a function of the kept one
    // (Supabase's on_auth_user_created), an object of a kind Nuage does
    // not capture. Refused, naming it, with nothing changed.
    pg.psql(
        "shop",
        "CREATE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
         CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
           FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();",
    )
    .unwrap();
    let o = env.run_full(&["restore", &second, "--yes"]);
    assert!(!o.succeeded(), "{}", o.describe());
    assert!(o.stderr.contains("on_auth_user_created"), "{}", o.stderr);
    assert!(o.stderr.contains("Nothing was changed"), "{}", o.stderr);
    pg.psql(
        "shop",
        "DROP TRIGGER on_auth_user_created ON auth.users; DROP FUNCTION public.handle_new_user();
         CREATE TABLE public.events (at date) PARTITION BY RANGE (at);",
    )
    .unwrap();
    let o = env.run_full(&["restore", &second, "--yes"]);
    assert!(!o.succeeded(), "{}", o.describe());
    assert!(
        o.stderr.contains("partitioned table public.events"),
        "{}",
        o.stderr
    );
    pg.psql("shop", "DROP TABLE public.events").unwrap();
    assert_eq!(contents(&pg, "shop"), before);

    // A backup of one kind is never restored "into" a target of another.
    let o = env.run_full(&["restore", &second, "--to", s(&env.path("shop.db"))]);
    assert!(!o.succeeded());
    assert!(o.stderr.contains("postgresql source"), "{}", o.stderr);
    assert!(!env.path("shop.db").exists());

    // Exported as plain JSON (jq-readable), imported with the password
    // typed apart.
    let file = env.export(&second, "shop.json");
    let doc = json(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(doc["source"]["kind"], "postgresql");
    assert_eq!(doc["postgresql"]["schemas"], serde_json::json!(["public"]));
    let files = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "files")
        .unwrap();
    let chunks = files["rows"][0][1]
        .as_array()
        .expect("a long value in chunks");
    assert_eq!(chunks.len(), 13, "\\x and 6 MiB of hex, in 512 KiB chunks");
    pg.create_db("imported").unwrap();
    pg.psql("imported", &auth_only).unwrap();
    let (ok, out, err) = run_with_stdin(
        &env,
        &[
            "import",
            s(&file),
            "--to",
            &bare_url(&pg, "imported"),
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    assert!(ok, "{out}\n{err}");
    assert_eq!(contents(&pg, "imported"), contents(&pg, "shop"));
    assert!(!out.contains(&password) && !err.contains(&password));
}

#[test]
fn a_wrong_password_or_a_missing_schema_is_said_plainly_and_nothing_is_added() {
    let pg = start();
    let env = Env::new();
    let wrong = pg.url("shop").replace(pg.password(), "not-the-password");
    let o = env.run_full(&["source", "add", &wrong, "--name", "shop"]);
    assert!(!o.succeeded());
    assert!(o.stderr.to_lowercase().contains("password"), "{}", o.stderr);
    assert!(!o.stderr.contains("not-the-password"), "{}", o.stderr);
    let o = env.run_full(&[
        "source",
        "add",
        &pg.url("shop"),
        "--name",
        "shop",
        "--schema",
        "billing",
    ]);
    assert!(!o.succeeded());
    assert!(o.stderr.contains("no schema 'billing'"), "{}", o.stderr);
    // A user that may not read a table, then one that row-level security
    // would show only some rows: each said, with what to do.
    pg.psql(
        "shop",
        "CREATE ROLE clerk LOGIN PASSWORD 'clerk-pw'; GRANT USAGE ON SCHEMA public TO clerk;
         GRANT SELECT ON public.profiles, public.notes, public.samples, public.files, public.nothing TO clerk;",
    )
    .unwrap();
    let as_clerk = pg
        .url("shop")
        .replace(&format!("nuage_admin:{}", pg.password()), "clerk:clerk-pw");
    let o = env.run_full(&["source", "add", &as_clerk, "--name", "shop"]);
    assert!(!o.succeeded());
    assert!(
        o.stderr.contains("may not read public.jobs") && o.stderr.contains("SELECT privilege"),
        "{}",
        o.stderr
    );
    pg.psql("shop", "GRANT SELECT ON ALL TABLES IN SCHEMA public TO clerk; GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO clerk")
        .unwrap();
    env.run_ok(&["source", "add", &as_clerk, "--name", "clerk"]);
    let o = env.run_full(&["backup", "--json"]);
    assert!(!o.succeeded(), "a failed source fails the run");
    let out = json(&o.stdout);
    assert_eq!(out[0]["status"], "failed", "{out}");
    let err = out[0]["error"].as_str().unwrap();
    assert!(err.contains("BYPASSRLS") && err.contains("jobs"), "{err}");
    assert!(!err.contains("clerk-pw"), "{err}");
    env.run_ok(&["source", "remove", "clerk"]);
    let listed = json(&env.run_ok(&["source", "list", "--json"]));
    assert_eq!(listed, serde_json::json!([]));
    // With the password on standard input, and auth asked for.
    let (ok, out, err) = run_with_stdin(
        &env,
        &[
            "source",
            "add",
            &bare_url(&pg, "shop"),
            "--name",
            "shop",
            "--schema",
            "public",
            "--schema",
            "auth",
            "--password-stdin",
        ],
        &format!("{}\n", pg.password()),
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("backs up public, auth"), "{out}");
    assert!(!out.contains("note:"), "nothing points outside now: {out}");
    let id = env.backup_ok();
    let doc = json(&env.run_ok(&["list", "--json"]));
    assert_eq!(doc[0]["id"], id.as_str());

    // Renamed, the source keeps its password (the next backup connects).
    env.run_ok(&["source", "rename", "shop", "workshop"]);
    pg.psql(
        "shop",
        "UPDATE public.notes SET body = 'moved' WHERE id = 1",
    )
    .unwrap();
    let out = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(out[0]["status"], "backed_up", "{out}");

    // A restore into another database of the same server, as the same
    // user, may use the source's kept password; as another user it is
    // never sent.
    pg.create_db("same").unwrap();
    env.run_ok(&["restore", &id, "--to", &bare_url(&pg, "same")]);
    let as_other = bare_url(&pg, "same").replace("nuage_admin@", "clerk@");
    let o = env.run_full(&["restore", &id, "--to", &as_other]);
    assert!(!o.succeeded());
    assert!(o.stderr.to_lowercase().contains("password"), "{}", o.stderr);
}

/// Through a transaction pooler (PgBouncer in transaction mode, as
/// Supabase's on port 6543): the source is added, backed up twice (the
/// second skipped as unchanged) and restored into an empty database, all
/// through the pooler, whose server connections other clients share.
#[test]
fn a_database_behind_a_transaction_pooler_is_backed_up_and_restored_through_it() {
    let pg = start();
    let bouncer = nuage_pgserver::PgBouncer::start(&pg, "transaction")
        .expect("PgBouncer (scripts/deps.sh installs it)");
    let env = Env::new();
    env.run_ok(&["source", "add", &bouncer.url(&pg, "shop"), "--name", "shop"]);
    let id = env.backup_ok();
    let again = json(&env.run_ok(&["backup", "--json"]));
    assert_eq!(again[0]["status"], "unchanged", "{again}");
    pg.create_db("pooled").unwrap();
    let out = env.run_ok(&["restore", &id, "--to", &bouncer.url(&pg, "pooled")]);
    assert!(out.contains("restored shop"), "{out}");
    assert_eq!(contents(&pg, "pooled"), contents(&pg, "shop"));
}

#[test]
fn a_drill_restores_into_a_temporary_database_compares_the_rows_and_drops_it() {
    let pg = start();
    let env = Env::new();
    env.run_ok(&["source", "add", &pg.url("shop"), "--name", "shop"]);
    env.backup_ok();
    let drill_dbs = || {
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'nuage\\_drill\\_%'",
        )
        .unwrap()
    };

    // Loaded into a new database on the same server, read back, and its
    // rows compared with those backed up (by their digest); what needs the
    // platform's schemas (a reference into auth.users) is said, not failed.
    let reports = json(&env.run_ok(&["verify", "--json"]));
    let local = &reports[0];
    assert_eq!(local["ok"], true, "{reports}");
    let note = local["note"].as_str().unwrap();
    assert!(note.contains("content digest"), "{note}");
    assert!(note.contains("auth"), "{note}");
    assert_eq!(drill_dbs(), "0", "the temporary database is dropped");
    assert!(
        env.run_ok(&["verify"])
            .contains("its rows are the ones backed up")
    );

    // A copy whose rows are not those backed up (the recorded digest of
    // other contents) fails its drill, and nothing is left behind.
    let state = rusqlite::Connection::open(env.home().join("state.sqlite")).unwrap();
    state
        .execute(
            "UPDATE restore_points SET content_digest = 'b3m1:' || hex(randomblob(32))",
            [],
        )
        .unwrap();
    let (status, out, err) = env.run(&["verify"]);
    assert!(!status.success(), "{out}");
    assert!(
        err.contains("NOT proven restorable") && err.contains("content digest differs"),
        "{err}"
    );
    assert_eq!(drill_dbs(), "0");
    // A temporary database an interrupted drill left is swept by the next.
    pg.create_db("nuage_drill_0000000000000001").unwrap();
    env.run(&["verify"]);
    assert_eq!(drill_dbs(), "0");

    // A user who may not create databases: the copy is read and validated
    // in full, and the drill says what it could not do and how to allow it.
    pg.psql(
        "shop",
        "CREATE ROLE clerk LOGIN NOCREATEDB BYPASSRLS PASSWORD 'clerk-pw';
         GRANT USAGE ON SCHEMA public TO clerk;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO clerk;
         GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO clerk;",
    )
    .unwrap();
    let clerk = Env::new();
    let url = format!(
        "postgresql://clerk:clerk-pw@127.0.0.1:{}/shop?sslmode=disable&schema=public",
        pg.port()
    );
    clerk.run_ok(&["source", "add", &url, "--name", "shop"]);
    clerk.backup_ok();
    let reports = json(&clerk.run_ok(&["verify", "--json"]));
    assert_eq!(reports[0]["ok"], true, "{reports}");
    let note = reports[0]["note"].as_str().unwrap();
    assert!(
        note.contains("not loaded into a database") && note.contains("CREATEDB"),
        "{note}"
    );
}
