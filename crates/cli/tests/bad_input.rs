//! What `nuage` does with bad input: damaged, foreign, hostile or
//! inconsistent backup files, local copies that changed, a full disk,
//! sources that are missing, not databases or locked, a second process,
//! and a restore nobody confirmed. Every case must fail with exit code 1
//! and a message a person can act on, and leave restore targets exactly as
//! they were (a new target never appears, temp files never stay behind).

mod common;

use std::fs;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::*;

// ---------------------------------------------------------------------------
// Control: the unmodified document restores exactly, so each failure below
// is caused by the one edit the test makes.

#[test]
fn control_good_backup_imports_exactly() {
    let env = Env::new();
    let (good, _) = env.good_json();
    let target = env.out().join("restored.db");
    env.run_ok(&["import", s(&good), "--to", s(&target)]);
    assert_eq!(dump_db(&target), dump_db(&env.path("app.db")));
    assert!(hidden_entries(&env.out()).is_empty());
}

// ---------------------------------------------------------------------------
// 1. Truncated files.

#[test]
fn truncated_json_is_refused() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    let half = env.write("half.json", &doc.as_bytes()[..doc.len() / 2]);
    assert_import_refused(&env, &half, &["truncated or corrupt"]);
}

#[test]
fn truncated_zst_is_refused() {
    let env = Env::new();
    env.add_sample_source("app.db");
    let id = env.backup_ok();
    let zst = env.export(&id, "good.json.zst");
    let bytes = fs::read(&zst).unwrap();
    assert_eq!(&bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd], "export is zstd");
    let half = env.write("half.json.zst", &bytes[..bytes.len() / 2]);
    assert_import_refused(&env, &half, &["truncated or corrupt"]);
}

// ---------------------------------------------------------------------------
// 2. Corrupt bytes inside a compressed export: each of 16 corruptions (4
// bytes flipped) across the middle half of the file must be detected; none
// may restore. A damaged .json.zst should be called damaged ("truncated or
// corrupt"); "not a Nuage backup" is tolerated when the damage garbles the
// document's head.

#[test]
fn corrupt_bytes_in_zst_are_detected() {
    let env = Env::new();
    env.add_sample_source("app.db");
    let id = env.backup_ok();
    let zst = env.export(&id, "good.json.zst");
    let good = fs::read(&zst).unwrap();
    let reference = dump_db(&env.path("app.db"));
    let mut silent = Vec::new();
    let spots = 16;
    for k in 0..spots {
        let pos = good.len() / 4 + k * (good.len() / 2) / spots;
        let mut bad = good.clone();
        for b in &mut bad[pos..pos + 4] {
            *b ^= 0xA5;
        }
        let file = env.write(&format!("corrupt-{k}.json.zst"), &bad);
        let target = env.out().join(format!("restored-{k}.db"));
        let o = env.run_full(&["import", s(&file), "--to", s(&target)]);
        if o.succeeded() {
            let same = dump_db(&target) == reference;
            silent.push(format!(
                "bytes {pos}..{} of {}: import succeeded (exit 0), restored data {}",
                pos + 4,
                good.len(),
                if same {
                    "identical to the source"
                } else {
                    "DIFFERENT from the source"
                }
            ));
            fs::remove_file(&target).unwrap();
            continue;
        }
        assert_failed(&o);
        assert_new_target_absent(&target);
        assert!(
            o.stderr.contains("truncated or corrupt") || o.stderr.contains("not a Nuage backup"),
            "unhelpful message for a damaged file:\n{}",
            o.describe()
        );
    }
    assert!(
        silent.is_empty(),
        "corruption went undetected at {} of {spots} spots:\n{}",
        silent.len(),
        silent.join("\n")
    );
}

// ---------------------------------------------------------------------------
// 3. Not a backup at all.

#[test]
fn text_file_is_not_a_backup() {
    let env = Env::new();
    let f = env.write(
        "notes.json",
        "Shopping list:\n- milk\n- eggs\nThis is not a backup.\n",
    );
    assert_import_refused(&env, &f, &["not a Nuage backup"]);
}

#[test]
fn foreign_json_is_not_a_backup() {
    let env = Env::new();
    let f = env.write("hello.json", r#"{"hello": 1}"#);
    assert_import_refused(&env, &f, &["not a Nuage backup"]);
}

#[test]
fn empty_file_is_not_a_backup() {
    let env = Env::new();
    let f = env.write("empty.json", "");
    assert_import_refused(&env, &f, &["not a Nuage backup"]);
}

// ---------------------------------------------------------------------------
// 4. A newer format version.

#[test]
fn newer_format_version_is_refused() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    let f = env.write(
        "v2.json",
        replace_once(&doc, r#""version":1,"#, r#""version":2,"#),
    );
    assert_import_refused(&env, &f, &["version 2 is not supported", "Update Nuage"]);
}

// ---------------------------------------------------------------------------
// 5. Hostile JSON inside a row. Person 1's row is [rowid, id, name, score,
// visits] = [1,1,"person 1",1.25,3].

const PERSON_1: &str = r#"[1,1,"person 1",1.25,3]"#;

#[test]
fn integer_wider_than_64_bits_is_refused() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    let f = env.write(
        "bigint.json",
        replace_once(
            &doc,
            PERSON_1,
            r#"[1,1,"person 1",1.25,99999999999999999999999]"#,
        ),
    );
    let target = env.out().join("restored.db");
    let o = env.run_full(&["import", s(&f), "--to", s(&target)]);
    if o.succeeded() {
        let c = rusqlite::Connection::open(&target).unwrap();
        let (v, t): (String, String) = c
            .query_row(
                "SELECT CAST(visits AS TEXT), typeof(visits) FROM people WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        panic!(
            "the integer 99999999999999999999999 was accepted and stored as {t} {v}:\n{}",
            o.describe()
        );
    }
    assert_failed(&o);
    assert_new_target_absent(&target);
    assert_stderr_has(&o, &["truncated or corrupt"]);
    assert_import_refused(&env, &f, &["truncated or corrupt"]);
}

#[test]
fn integer_just_past_i64_is_refused() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    let f = env.write(
        "bigint.json",
        replace_once(
            &doc,
            PERSON_1,
            r#"[1,1,"person 1",1.25,9223372036854775808]"#,
        ),
    );
    assert_import_refused(&env, &f, &["truncated or corrupt", "64-bit range"]);
}

#[test]
fn float_overflow_is_refused() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    let f = env.write(
        "inf.json",
        replace_once(&doc, PERSON_1, r#"[1,1,"person 1",1e999,3]"#),
    );
    assert_import_refused(&env, &f, &["truncated or corrupt"]);
}

#[test]
fn deep_nesting_is_refused_without_crashing() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // As a value (not a valid value at all), and as an extra value after
    // the last column (skipped over, then refused as one value too many).
    for (i, row, message) in [
        (
            0,
            format!(r#"[1,1,"person 1",1.25,{deep}]"#),
            "truncated or corrupt",
        ),
        (
            1,
            format!(r#"[1,1,"person 1",1.25,3,{deep}]"#),
            "does not match the schema",
        ),
    ] {
        let f = env.write(
            &format!("deep-{i}.json"),
            replace_once(&doc, PERSON_1, &row),
        );
        assert_import_refused(&env, &f, &[message]);
    }
}

#[test]
fn oversized_string_hits_the_safety_limit() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    // Control: a 1 MiB name is fine.
    let ok = env.write(
        "long-ok.json",
        replace_once(
            &doc,
            PERSON_1,
            &format!(r#"[1,1,"{}",1.25,3]"#, "a".repeat(1 << 20)),
        ),
    );
    let t = env.out().join("control.db");
    env.run_ok(&["import", s(&ok), "--to", s(&t)]);
    fs::remove_file(&t).unwrap();
    // 20 MiB in one string token: over the 16 MiB guard.
    let f = env.write(
        "long.json",
        replace_once(
            &doc,
            PERSON_1,
            &format!(r#"[1,1,"{}",1.25,3]"#, "a".repeat(20 << 20)),
        ),
    );
    let o = assert_import_refused(&env, &f, &["safety limit"]);
    eprintln!(
        "20 MiB string refused in {:?}, peak RSS {} MiB",
        o.elapsed,
        o.max_rss_kib >> 10
    );
    assert!(
        o.max_rss_kib < 256 << 10,
        "memory grew to {} MiB on a 20 MiB document:\n{}",
        o.max_rss_kib >> 10,
        o.describe()
    );
}

// ---------------------------------------------------------------------------
// 6. Decompression bomb: a small .json.zst whose document holds 300 MiB of
// whitespace inside a row.

/// Writes a compressed document: `doc` with `spaces` bytes of blanks
/// inserted inside person 1's row.
fn write_padded_zst(env: &Env, name: &str, doc: &str, spaces: usize) -> std::path::PathBuf {
    let at = doc.find(PERSON_1).expect("person 1") + "[1,".len();
    let (head, tail) = doc.split_at(at);
    let out = env.path(name);
    zstd_compress_to(&out, |w| {
        w.write_all(head.as_bytes())?;
        let blanks = vec![b' '; 1 << 20];
        let mut left = spaces;
        while left > 0 {
            let n = left.min(blanks.len());
            w.write_all(&blanks[..n])?;
            left -= n;
        }
        w.write_all(tail.as_bytes())
    });
    out
}

#[test]
fn decompression_bomb_hits_the_safety_limit_quickly() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    // Control: the same construction with 1 MiB of blanks restores.
    let ok = write_padded_zst(&env, "padded-ok.json.zst", &doc, 1 << 20);
    let t = env.out().join("control.db");
    env.run_ok(&["import", s(&ok), "--to", s(&t)]);
    fs::remove_file(&t).unwrap();

    let bomb = write_padded_zst(&env, "bomb.json.zst", &doc, 300 << 20);
    let size = fs::metadata(&bomb).unwrap().len();
    assert!(
        size < 1 << 20,
        "the bomb should be small, it is {size} bytes"
    );
    let o = assert_import_refused(&env, &bomb, &["safety limit", "decompression bomb"]);
    eprintln!(
        "bomb of {size} bytes refused in {:?}, peak RSS {} MiB",
        o.elapsed,
        o.max_rss_kib >> 10
    );
    assert!(
        o.elapsed < Duration::from_secs(30),
        "took {:?} to refuse the bomb",
        o.elapsed
    );
    assert!(
        o.max_rss_kib < 256 << 10,
        "memory grew to {} MiB on the bomb:\n{}",
        o.max_rss_kib >> 10,
        o.describe()
    );
}

// ---------------------------------------------------------------------------
// 7. Schema statements that do something other than create the object.

const PEOPLE_SQL: &str = r#""sql":"CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, visits INTEGER)""#;
const INDEX_SQL: &str = r#""sql":"CREATE INDEX people_name ON people(name)""#;

/// Replaces one schema statement with `sql` and checks the import is refused.
fn schema_attack(env: &Env, doc: &str, original: &str, sql: &str) {
    let edited = replace_once(
        doc,
        original,
        &format!(r#""sql":{}"#, serde_json::to_string(sql).unwrap()),
    );
    let f = env.write("attack.json", edited);
    assert_import_refused(env, &f, &["refused schema statement"]);
}

#[test]
fn schema_attach_is_refused() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    let x = env.path("x.db");
    schema_attack(
        &env,
        &doc,
        PEOPLE_SQL,
        &format!("ATTACH DATABASE '{}' AS x", x.display()),
    );
    assert!(!x.exists(), "the ATTACH created {}", x.display());
}

#[test]
fn schema_second_statement_is_refused() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    schema_attack(
        &env,
        &doc,
        PEOPLE_SQL,
        "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, visits INTEGER); DROP TABLE files",
    );
    let y = env.path("y.db");
    schema_attack(
        &env,
        &doc,
        PEOPLE_SQL,
        &format!(
            "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, visits INTEGER); ATTACH DATABASE '{}' AS y",
            y.display()
        ),
    );
    assert!(!y.exists(), "the ATTACH created {}", y.display());
}

#[test]
fn schema_second_statement_in_an_index_is_refused() {
    // Indexes are created after the rows are in: the refusal comes late
    // and must still leave nothing behind.
    let env = Env::new();
    let (_, doc) = env.good_json();
    let z = env.path("z.db");
    schema_attack(
        &env,
        &doc,
        INDEX_SQL,
        &format!(
            "CREATE INDEX people_name ON people(name); ATTACH DATABASE '{}' AS z",
            z.display()
        ),
    );
    assert!(!z.exists(), "the ATTACH created {}", z.display());
}

#[test]
fn schema_pragma_is_refused() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    schema_attack(&env, &doc, PEOPLE_SQL, "PRAGMA writable_schema=1");
}

#[test]
fn schema_temp_table_is_refused() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    schema_attack(
        &env,
        &doc,
        PEOPLE_SQL,
        "CREATE TEMP TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, visits INTEGER)",
    );
}

#[test]
fn schema_unknown_virtual_table_module_is_refused() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    schema_attack(
        &env,
        &doc,
        PEOPLE_SQL,
        "CREATE VIRTUAL TABLE people USING unknownmodule",
    );
}

// ---------------------------------------------------------------------------
// 8. Data that does not match the schema or its own counts.

fn mismatch(from: &str, to: &str) {
    let env = Env::new();
    let (_, doc) = env.good_json();
    let f = env.write("mismatch.json", replace_once(&doc, from, to));
    assert_import_refused(&env, &f, &["does not match the schema"]);
}

#[test]
fn rows_for_a_table_not_in_the_schema_are_refused() {
    mismatch(
        r#"{"name":"tags","columns""#,
        r#"{"name":"ghost","columns""#,
    );
}

#[test]
fn row_with_a_value_too_few_is_refused() {
    mismatch(PERSON_1, r#"[1,1,"person 1",1.25]"#);
}

#[test]
fn row_with_an_extra_value_is_refused() {
    mismatch(PERSON_1, r#"[1,1,"person 1",1.25,3,4]"#);
}

#[test]
fn columns_that_differ_from_the_schema_are_refused() {
    mismatch(
        r#""columns":["id","name","score","visits"]"#,
        r#""columns":["id","name","points","visits"]"#,
    );
}

#[test]
fn row_count_that_differs_from_the_rows_is_refused() {
    mismatch(r#""row_count":40}"#, r#""row_count":41}"#);
}

#[test]
fn summary_that_differs_is_refused() {
    mismatch(
        r#""summary":{"tables":3,"rows":47}"#,
        r#""summary":{"tables":3,"rows":48}"#,
    );
}

// ---------------------------------------------------------------------------
// 9. Existing targets.

#[test]
fn restore_over_an_existing_file_needs_force() {
    let env = Env::new();
    env.add_sample_source("app.db");
    let id = env.backup_ok();
    let existing = env.out().join("existing.db");
    create_other_db(&existing);
    let pristine = Pristine::of(&existing);
    let o = env.run_full(&["restore", &id, "--to", s(&existing)]);
    assert_failed(&o);
    pristine.assert_untouched();
    assert_stderr_has(&o, &["already exists", "--force"]);
    assert!(hidden_entries(&env.out()).is_empty());
}

#[test]
fn force_with_a_corrupt_backup_leaves_the_target_untouched() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    let half = env.write("half.json", &doc.as_bytes()[..doc.len() * 2 / 3]);
    let existing = env.out().join("existing.db");
    create_other_db(&existing);
    let pristine = Pristine::of(&existing);
    let o = env.run_full(&["import", s(&half), "--to", s(&existing), "--force"]);
    assert_failed(&o);
    pristine.assert_untouched();
    assert_stderr_has(&o, &["truncated or corrupt"]);
    assert!(hidden_entries(&env.out()).is_empty());
}

#[test]
fn in_place_restore_from_a_corrupt_file_leaves_the_source_untouched() {
    let env = Env::new();
    let (_, doc) = env.good_json();
    let app = env.path("app.db");
    // The source changed since; the damaged backup must not replace it.
    rusqlite::Connection::open(&app)
        .unwrap()
        .execute("UPDATE people SET name = 'changed' WHERE id = 2", [])
        .unwrap();
    let pristine = Pristine::of(&app);
    let bad = env.write(
        "bad.json",
        replace_once(&doc, r#""row_count":40}"#, r#""row_count":39}"#),
    );
    let o = env.run_full(&["restore", s(&bad), "--yes"]);
    assert_failed(&o);
    pristine.assert_untouched();
    assert_stderr_has(&o, &["does not match the schema"]);
    assert_eq!(env.points().len(), 1, "no new restore point expected");
}

// ---------------------------------------------------------------------------
// 10. A local copy that changed after it was written.

fn damage_local_copy(env: &Env) -> String {
    env.add_sample_source("app.db");
    let id = env.backup_ok();
    flip_a_bit(&env.local_copy("app"));
    id
}

/// Damages a file without changing its size.
fn flip_a_bit(path: &std::path::Path) {
    let mut bytes = fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

#[test]
fn checksum_mismatch_blocks_restore_to_a_new_file() {
    let env = Env::new();
    let id = damage_local_copy(&env);
    let target = env.out().join("restored.db");
    let o = env.run_full(&["restore", &id, "--to", s(&target)]);
    assert_failed(&o);
    assert_new_target_absent(&target);
    assert_stderr_has(&o, &["checksum"]);

    let existing = env.out().join("existing.db");
    create_other_db(&existing);
    let pristine = Pristine::of(&existing);
    let o = env.run_full(&["restore", &id, "--to", s(&existing), "--force"]);
    assert_failed(&o);
    pristine.assert_untouched();
    assert_stderr_has(&o, &["checksum"]);
}

#[test]
fn checksum_mismatch_blocks_in_place_restore() {
    let env = Env::new();
    let id = damage_local_copy(&env);
    let app = env.path("app.db");
    let pristine = Pristine::of(&app);
    let o = env.run_full(&["restore", &id, "--yes"]);
    assert_failed(&o);
    pristine.assert_untouched();
    assert_stderr_has(&o, &["checksum"]);
}

#[test]
fn checksum_mismatch_blocks_export() {
    let env = Env::new();
    let id = damage_local_copy(&env);
    for name in ["exported.json", "exported.json.zst"] {
        let target = env.out().join(name);
        let o = env.run_full(&["export", &id, s(&target)]);
        assert_failed(&o);
        assert_new_target_absent(&target);
        assert_stderr_has(&o, &["checksum"]);
    }
}

// ---------------------------------------------------------------------------
// 11. A full disk (simulated with RLIMIT_FSIZE: writes past 64 KiB fail
// with EFBIG).

const FILE_LIMIT: u64 = 64 << 10;

#[test]
fn disk_full_during_import() {
    let env = Env::new();
    let big = env.path("big.db");
    create_big_db(&big, 3 << 20);
    env.run_ok(&["source", "add", s(&big)]);
    let id = env.backup_ok();
    let good = env.export(&id, "big.json");

    let target = env.out().join("restored.db");
    let mut cmd = env.command(&["import", s(&good), "--to", s(&target)]);
    limit_file_size(&mut cmd, FILE_LIMIT);
    let o = run_command(cmd, DEFAULT_TIMEOUT);
    assert_failed(&o);
    assert_new_target_absent(&target);

    let existing = env.out().join("existing.db");
    create_other_db(&existing);
    let pristine = Pristine::of(&existing);
    let mut cmd = env.command(&["import", s(&good), "--to", s(&existing), "--force"]);
    limit_file_size(&mut cmd, FILE_LIMIT);
    let o2 = run_command(cmd, DEFAULT_TIMEOUT);
    assert_failed(&o2);
    pristine.assert_untouched();
    assert!(hidden_entries(&env.out()).is_empty());

    assert_stderr_has(&o, &["not enough disk space"]);
    assert!(
        !o.stderr.contains(".nuage-restore-"),
        "the message names a hidden temp file instead of the target:\n{}",
        o.describe()
    );
    assert_stderr_has(&o2, &["not enough disk space"]);
}

/// A failed backup run: exit code 1, the outcome names the source and
/// carries every fragment (text mode prints outcomes on stdout).
fn assert_backup_failed(o: &Outcome, fragments: &[&str]) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit code 1:\n{}",
        o.describe()
    );
    assert!(!o.stderr.contains("panicked"), "panic:\n{}", o.describe());
    let all = format!("{}{}", o.stdout, o.stderr);
    for f in fragments {
        assert!(all.contains(f), "output lacks {f:?}:\n{}", o.describe());
    }
}

/// `backup --json`: the one outcome is `failed`, with an error holding
/// every fragment.
fn assert_json_backup_failed(o: &Outcome, fragments: &[&str]) {
    assert_eq!(o.status.code(), Some(1), "{}", o.describe());
    let v: serde_json::Value = serde_json::from_str(&o.stdout)
        .unwrap_or_else(|e| panic!("backup --json output is not JSON ({e}):\n{}", o.describe()));
    let outcome = &v.as_array().expect("outcomes")[0];
    assert_eq!(outcome["status"], "failed", "{}", o.describe());
    let err = outcome["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field:\n{}", o.describe()));
    for f in fragments {
        assert!(err.contains(f), "error lacks {f:?}:\n{}", o.describe());
    }
}

#[test]
fn disk_full_during_backup() {
    let env = Env::new();
    let big = env.path("big.db");
    create_big_db(&big, 3 << 20);
    env.run_ok(&["source", "add", s(&big)]);
    let source = Pristine::of(&big);

    let mut cmd = env.command(&["backup"]);
    limit_file_size(&mut cmd, FILE_LIMIT);
    let text = run_command(cmd, DEFAULT_TIMEOUT);
    let mut cmd = env.command(&["backup", "--json"]);
    limit_file_size(&mut cmd, FILE_LIMIT);
    let json = run_command(cmd, DEFAULT_TIMEOUT);

    source.assert_untouched();
    assert!(
        env.points().is_empty(),
        "a failed backup recorded a restore point"
    );
    let copies = env.home().join("backups").join("big");
    if copies.exists() {
        let left: Vec<_> = fs::read_dir(&copies).unwrap().collect();
        assert!(
            left.is_empty(),
            "files left in {}: {left:?}",
            copies.display()
        );
    }
    let work = env.home().join("tmp");
    if work.exists() {
        let left: Vec<_> = fs::read_dir(&work).unwrap().collect();
        assert!(
            left.is_empty(),
            "files left in {}: {left:?}",
            work.display()
        );
    }
    assert_backup_failed(&text, &["big: FAILED", "not enough disk space"]);
    assert_json_backup_failed(&json, &["not enough disk space"]);
}

// ---------------------------------------------------------------------------
// 12. Source problems.

#[test]
fn adding_a_missing_source_is_refused() {
    let env = Env::new();
    let missing = env.path("missing.db");
    let o = env.run_full(&["source", "add", s(&missing)]);
    assert_failed_with(&o, &["does not exist"]);
    assert!(!missing.exists(), "source add created the missing file");
    assert_eq!(env.run_ok(&["source", "list", "--json"]).trim(), "[]");
}

#[test]
fn adding_a_text_file_as_a_source_is_refused() {
    let env = Env::new();
    let txt = env.write("notes.txt", "not a database, just some notes\n".repeat(10));
    let pristine = Pristine::of(&txt);
    let o = env.run_full(&["source", "add", s(&txt)]);
    assert_failed(&o);
    pristine.assert_untouched();
    assert_stderr_has(&o, &["not a SQLite database"]);
    assert_eq!(env.run_ok(&["source", "list", "--json"]).trim(), "[]");
}

/// A database this user may not read. CI runs as root, whom file modes do
/// not stop, so there the backup runs as `nobody` (with a home it can write).
#[test]
fn backing_up_an_unreadable_source_says_permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let app = env.add_sample_source("app.db");
    let as_root = unsafe { libc::geteuid() } == 0;
    fs::set_permissions(&app, fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = env.command(&["backup"]);
    if as_root {
        // nobody needs to traverse the test folder and own the home, and to
        // reach the binary (the build folder may be in root's own home).
        fs::set_permissions(env.root(), fs::Permissions::from_mode(0o755)).unwrap();
        chown_tree(&env.home(), 65534, 65534);
        let bin = env.root().join("nuage-as-nobody");
        fs::copy(common::NUAGE, &bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        cmd = env.command_of(&bin, &["backup"]);
        unsafe {
            cmd.pre_exec(|| {
                if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let o = run_command(cmd, Duration::from_secs(60));
    assert_backup_failed(&o, &["app: FAILED", "permission denied", "read access"]);
    fs::set_permissions(&app, fs::Permissions::from_mode(0o644)).unwrap();
}

fn chown_tree(p: &std::path::Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
    if p.is_dir() {
        for e in fs::read_dir(p).unwrap() {
            chown_tree(&e.unwrap().path(), uid, gid);
        }
    }
}

#[test]
fn backing_up_a_deleted_source_fails_naming_it() {
    let env = Env::new();
    let app = env.add_sample_source("app.db");
    fs::remove_file(&app).unwrap();

    let o = env.run_full(&["backup"]);
    assert_backup_failed(&o, &["app: FAILED", "source 'app'", "does not exist"]);
    let o = env.run_full(&["backup", "--json"]);
    assert_json_backup_failed(&o, &["source 'app'", "does not exist"]);
    assert!(env.points().is_empty());
    assert!(!app.exists(), "the backup recreated the deleted source");
}

/// A person running `nuage backup >/dev/null` (or from cron, keeping only
/// errors) must still see why a source failed.
#[test]
fn backup_failure_reason_is_on_stderr() {
    let env = Env::new();
    let app = env.add_sample_source("app.db");
    fs::remove_file(&app).unwrap();
    let o = env.run_full(&["backup"]);
    assert_failed_with(&o, &["app", "does not exist"]);
}

#[test]
fn backing_up_a_locked_source_fails_with_locked() {
    let env = Env::new();
    let app = env.add_sample_source("app.db");
    let holder = rusqlite::Connection::open(&app).unwrap();
    let mode: String = holder
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "the sample uses a rollback journal");
    holder
        .execute_batch(
            "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE;
             INSERT INTO people(name, score, visits) VALUES ('writer', 0.5, 1);",
        )
        .unwrap();

    let mut cmd = env.command(&["backup"]);
    cmd.env("NUAGE_BUSY_TIMEOUT_MS", "300");
    let o = run_command(cmd, Duration::from_secs(60));
    assert_backup_failed(&o, &["app: FAILED", "locked"]);

    let mut cmd = env.command(&["backup", "--json"]);
    cmd.env("NUAGE_BUSY_TIMEOUT_MS", "300");
    let o = run_command(cmd, Duration::from_secs(60));
    assert_json_backup_failed(&o, &["source 'app'", "locked"]);
    assert!(
        o.elapsed < Duration::from_secs(20),
        "gave up only after {:?}",
        o.elapsed
    );

    holder.execute_batch("COMMIT").unwrap();
    drop(holder);
    assert!(env.points().is_empty());
}

// ---------------------------------------------------------------------------
// 13. A second Nuage process.

#[test]
fn a_second_process_is_refused_while_the_home_is_locked() {
    let env = Env::new();
    env.add_sample_source("app.db");
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(env.home().join("lock"))
        .unwrap();
    // SAFETY: flock on a descriptor we own.
    let r = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(r, 0, "could not lock: {}", std::io::Error::last_os_error());

    let o = env.run_full(&["backup"]);
    assert_failed_with(&o, &["another Nuage process"]);
    let o = env.run_full(&["backup", "--json"]);
    assert_failed_with(&o, &["another Nuage process"]);

    drop(lock);
    assert!(env.points().is_empty());
}

// ---------------------------------------------------------------------------
// 14. Replacing a source without a confirmation.

#[test]
fn in_place_restore_needs_yes_without_a_terminal() {
    let env = Env::new();
    let app = env.add_sample_source("app.db");
    let id = env.backup_ok();
    rusqlite::Connection::open(&app)
        .unwrap()
        .execute("DELETE FROM people WHERE id > 20", [])
        .unwrap();
    let pristine = Pristine::of(&app);
    let o = env.run_full(&["restore", &id]);
    assert_failed(&o);
    pristine.assert_untouched();
    assert_stderr_has(&o, &["--yes"]);
    assert_eq!(
        env.points().len(),
        1,
        "no safety copy should have been made"
    );
}

#[test]
fn a_missing_file_says_why_once() {
    let env = Env::new();
    let missing = env.path("nowhere.json");
    let o = env.run_full(&["import", s(&missing), "--to", s(&env.path("x.db"))]);
    assert!(!o.succeeded(), "{}", o.describe());
    assert_eq!(
        o.stderr.matches("No such file or directory").count(),
        1,
        "the reason once, not once per layer: {}",
        o.stderr
    );
}

#[test]
fn force_over_a_database_another_program_has_open_is_refused() {
    use std::io::{BufRead, Write};
    let env = Env::new();
    let (good, _) = env.good_json();
    let existing = env.out().join("in-use.db");
    create_other_db(&existing);
    let pristine = Pristine::of(&existing);
    // Another program with the database open and idle (no lock held).
    let mut app = std::process::Command::new("sqlite3")
        .arg(&existing)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sqlite3");
    let mut stdin = app.stdin.take().unwrap();
    writeln!(stdin, "SELECT 'open';").unwrap();
    let mut line = String::new();
    std::io::BufReader::new(app.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "open");
    let o = env.run_full(&["import", s(&good), "--to", s(&existing), "--force"]);
    drop(stdin);
    let _ = app.wait();
    assert_failed(&o);
    pristine.assert_untouched();
    assert_stderr_has(&o, &["has this database open", "in place"]);
}

// ---------------------------------------------------------------------------
// 8. Documents that ask for unbounded memory, computation or disk. Each is
// refused quickly, within 64 MiB of resident memory, naming what it hit,
// leaving no target and no temporary file behind.

/// Peak memory any import may reach, hostile or not.
const IMPORT_RSS_LIMIT_KIB: u64 = 64 << 10;

/// Writes a compressed one-table document: `schema` is the JSON array of
/// schema objects, `rows` writes the rows of `table` (`count` of them).
fn one_table_doc(
    env: &Env,
    file: &str,
    schema: &str,
    table: &str,
    columns: &[&str],
    count: u64,
    rows: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::path::PathBuf {
    let out = env.path(file);
    let cols: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    zstd_compress_to(&out, |w| {
        write!(
            w,
            r#"{{"format":"nuage-backup","version":1,"created_at":"2026-12-06T00:00:00.000Z","generator":"test","source":{{"name":"app","kind":"sqlite","path":"/srv/app.db"}},"sqlite":{{"encoding":"UTF-8","user_version":0,"application_id":0,"page_size":4096,"auto_vacuum":0,"journal_mode":"delete"}},"schema":{schema},"tables":[{{"name":"{table}","columns":[{}],"rowid":true,"rows":["#,
            cols.join(",")
        )?;
        rows(w)?;
        write!(
            w,
            r#"],"row_count":{count}}}],"summary":{{"tables":1,"rows":{count}}}}}"#
        )
    });
    out
}

fn table_schema(sql: &str) -> String {
    format!(r#"[{{"type":"table","name":"t","tbl_name":"t","sql":"{sql}"}}]"#)
}

/// [`assert_import_refused`], within bounded time and memory.
fn assert_refused_within_bounds(env: &Env, file: &std::path::Path, fragments: &[&str]) {
    let o = assert_import_refused(env, file, fragments);
    eprintln!(
        "{} refused in {:?}, peak RSS {} MiB",
        file.display(),
        o.elapsed,
        o.max_rss_kib >> 10
    );
    assert!(
        o.elapsed < Duration::from_secs(30),
        "took {:?}:\n{}",
        o.elapsed,
        o.describe()
    );
    assert!(
        o.max_rss_kib < IMPORT_RSS_LIMIT_KIB,
        "peak RSS {} MiB, over 64 MiB:\n{}",
        o.max_rss_kib >> 10,
        o.describe()
    );
}

/// A value of `bytes` zero bytes as an inline array of base64 chunks.
fn inline_chunked_zeros(w: &mut dyn std::io::Write, bytes: usize) -> std::io::Result<()> {
    let chunk = "A".repeat(256 << 10); // 192 KiB of zeros
    w.write_all(b"{\"blob\":[")?;
    for i in 0..bytes / (192 << 10) {
        if i > 0 {
            w.write_all(b",")?;
        }
        write!(w, "\"{chunk}\"")?;
    }
    w.write_all(b"]}")
}

#[test]
fn inline_chunked_values_cannot_exhaust_memory() {
    let env = Env::new();
    let schema =
        table_schema("CREATE TABLE t(id INTEGER PRIMARY KEY, a BLOB, b BLOB, c BLOB, d BLOB)");
    let cols = ["id", "a", "b", "c", "d"];
    // Control: four 1.5 MiB values in one row restore, within the bound.
    let ok = one_table_doc(&env, "ok.json.zst", &schema, "t", &cols, 1, |w| {
        w.write_all(b"[1,1")?;
        for _ in 0..4 {
            w.write_all(b",")?;
            inline_chunked_zeros(w, 1536 << 10)?;
        }
        w.write_all(b"]")
    });
    let t = env.out().join("control.db");
    let o = env.run_full(&["import", s(&ok), "--to", s(&t)]);
    assert!(o.succeeded(), "{}", o.describe());
    assert!(o.max_rss_kib < IMPORT_RSS_LIMIT_KIB, "{}", o.describe());
    fs::remove_file(&t).unwrap();

    // Four columns of 256 MiB each, from a file of a few hundred KB.
    let bomb = one_table_doc(&env, "inline.json.zst", &schema, "t", &cols, 1, |w| {
        w.write_all(b"[1,1")?;
        for _ in 0..4 {
            w.write_all(b",")?;
            inline_chunked_zeros(w, 256 << 20)?;
        }
        w.write_all(b"]")
    });
    assert!(fs::metadata(&bomb).unwrap().len() < 2 << 20);
    assert_refused_within_bounds(&env, &bomb, &["refused", "table 't' row 1", "8 MiB"]);
}

#[test]
fn declared_sizes_are_checked_before_anything_is_built() {
    let env = Env::new();
    let schema = table_schema("CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT, data BLOB)");
    let cols = ["id", "body", "data"];
    // A 900 MB text would have to be built in memory.
    let text = one_table_doc(&env, "text.json.zst", &schema, "t", &cols, 1, |w| {
        w.write_all(br#"[1,1,{"text_size":900000000},null]"#)
    });
    assert_refused_within_bounds(&env, &text, &["refused", "table 't' row 1"]);
    // A 2 GB blob from a file of a few hundred bytes: nothing is written
    // for it (it would fill the disk with zeros before its data is read).
    let blob = one_table_doc(&env, "blob.json.zst", &schema, "t", &cols, 1, |w| {
        w.write_all(br#"[1,1,null,{"blob_size":2000000000}]"#)
    });
    assert_refused_within_bounds(&env, &blob, &["refused", "table 't' row 1"]);
    // Four values of 190 MB in one row, each alone within what the file
    // may expand to: their room is made together, so they are refused
    // together — with files limited to 16 MiB, nothing tried to write more.
    let schema4 =
        table_schema("CREATE TABLE t(id INTEGER PRIMARY KEY, a BLOB, b BLOB, c BLOB, d BLOB)");
    let four = one_table_doc(
        &env,
        "four.json.zst",
        &schema4,
        "t",
        &["id", "a", "b", "c", "d"],
        1,
        |w| {
            w.write_all(br#"[1,1,{"blob_size":190000000},{"blob_size":190000000},{"blob_size":190000000},{"blob_size":190000000}]"#)
        },
    );
    let target = env.out().join("four.db");
    let mut cmd = env.command(&["import", s(&four), "--to", s(&target)]);
    limit_file_size(&mut cmd, 16 << 20);
    let o = run_command(cmd, Duration::from_secs(60));
    assert_failed_with(
        &o,
        &[
            "refused",
            "table 't' row 1",
            "more than the file could hold",
        ],
    );
    assert_new_target_absent(&target);
}

#[test]
fn a_table_made_from_a_query_is_refused() {
    let env = Env::new();
    let schema = table_schema(
        "CREATE TABLE t AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
    );
    let f = one_table_doc(&env, "ctas.json.zst", &schema, "t", &["x"], 0, |_| Ok(()));
    assert_refused_within_bounds(&env, &f, &["table 't'", "AS SELECT"]);
}

#[test]
fn expressions_that_compute_without_bound_are_refused() {
    let env = Env::new();
    let huge = "length(printf('%.*c', 999999999, 'x'))";
    // In an index over the table.
    let schema = format!(
        r#"[{{"type":"table","name":"t","tbl_name":"t","sql":"CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT)"}},{{"type":"index","name":"i","tbl_name":"t","sql":"CREATE INDEX i ON t({huge})"}}]"#
    );
    let f = one_table_doc(&env, "index.json.zst", &schema, "t", &["id", "x"], 1, |w| {
        w.write_all(br#"[1,1,"a"]"#)
    });
    assert_refused_within_bounds(&env, &f, &["refused", "index 'i'", "memory"]);
    // In a stored generated column, computed as each row is inserted.
    let schema = table_schema(&format!(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT, g INT GENERATED ALWAYS AS ({huge}) STORED)"
    ));
    let f = one_table_doc(
        &env,
        "generated.json.zst",
        &schema,
        "t",
        &["id", "x"],
        1,
        |w| w.write_all(br#"[1,1,"a"]"#),
    );
    assert_refused_within_bounds(&env, &f, &["refused", "memory"]);
}

// ---------------------------------------------------------------------------
// 9. Temporary files never outlive their run: a signal removes them before
// nuage exits, and what a kill -9 leaves is swept by the next command.

/// A document of half a million rows: long enough to interrupt mid-load.
fn long_doc(env: &Env) -> std::path::PathBuf {
    let schema = table_schema("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)");
    let rows = 500_000u64;
    one_table_doc(
        env,
        "long.json.zst",
        &schema,
        "t",
        &["id", "name"],
        rows,
        |w| {
            for i in 1..=rows {
                if i > 1 {
                    w.write_all(b",")?;
                }
                write!(w, "[{i},{i},\"customer number {i}\"]")?;
            }
            Ok(())
        },
    )
}

/// Starts `nuage import DOC --to out/restored.db` and waits until its
/// temporary database exists beside the target.
fn import_until_its_temporary_exists(env: &Env, doc: &std::path::Path) -> std::process::Child {
    let target = env.out().join("restored.db");
    let mut child = env
        .command(&["import", s(doc), "--to", s(&target)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while hidden_entries(&env.out()).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before its temporary was seen"
        );
        assert!(started.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(100));
    child
}

#[test]
fn sigterm_and_sigint_during_an_import_leave_no_temporary_file() {
    let env = Env::new();
    let doc = long_doc(&env);
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let mut child = import_until_its_temporary_exists(&env, &doc);
        // SAFETY: a signal to our own child, still running (not reaped).
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert!(
            status.code() == Some(128 + sig) || status.signal() == Some(sig),
            "{name}: {status:?}"
        );
        assert_new_target_absent(&env.out().join("restored.db"));
        let records = fs::read_dir(env.home().join("temporaries"))
            .unwrap()
            .count();
        assert_eq!(records, 0, "{name}: its records stay");
    }
}

#[test]
fn a_temporary_left_by_kill_9_is_swept_by_the_next_command() {
    let env = Env::new();
    let doc = long_doc(&env);
    let mut child = import_until_its_temporary_exists(&env, &doc);
    child.kill().unwrap(); // SIGKILL: nothing can clean up.
    child.wait().unwrap();
    let left = hidden_entries(&env.out());
    assert!(!left.is_empty(), "kill -9 should leave the temporary");
    // Any later command that opens the home sweeps it.
    env.run_ok(&["source", "list"]);
    assert_new_target_absent(&env.out().join("restored.db"));
    assert_eq!(
        fs::read_dir(env.home().join("temporaries"))
            .unwrap()
            .count(),
        0
    );
}

// ---------------------------------------------------------------------------
// 10. A copy at the destination that grew (replaced by something else) is
// never downloaded past the size Nuage recorded for it.

#[test]
fn a_remote_copy_bigger_than_recorded_is_not_downloaded_whole() {
    let env = Env::new();
    env.add_sample_source("app.db");
    let nas = env.folder_destination();
    let id = env.backup_ok();
    fs::remove_file(env.local_copy("app")).unwrap();
    // 64 GiB (sparse: no disk used) under the copy's name.
    let remote = nas.join(format!("app/{id}.json.zst"));
    fs::OpenOptions::new()
        .write(true)
        .open(&remote)
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    let target = env.out().join("back.db");
    let o = env.run_full(&["restore", &id, "--to", s(&target)]);
    assert_failed_with(
        &o,
        &["missing", "destination", "larger than the copy Nuage made"],
    );
    assert!(o.elapsed < Duration::from_secs(20), "{}", o.describe());
    assert_new_target_absent(&target);
    let work = env.home().join("tmp");
    let left: Vec<_> = fs::read_dir(&work)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the work folder: {left:?}");
}

#[test]
fn listing_a_destination_does_not_read_the_files_there() {
    let env = Env::new();
    env.add_sample_source("app.db");
    let nas = env.folder_destination();
    env.backup_ok();
    // A planted 64 GiB file (sparse) named like a restore point.
    fs::File::create(nas.join("app/29991231-235959998-dead.json.zst"))
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    for args in [&["list"][..], &["backup"][..]] {
        let o = env.run_full(args);
        assert!(o.succeeded(), "{}", o.describe());
        assert!(
            o.elapsed < Duration::from_secs(10),
            "{args:?} took {:?}",
            o.elapsed
        );
    }
}

// ---------------------------------------------------------------------------
// 11. Every field of a document is bounded, not only the values: a hostile
// `format`, `columns`, `schema` or `sqlite_sequence` is refused within the
// same memory, and an error never prints the hostile content back.

const HEAD: &str = r#"{"format":"nuage-backup","version":1,"created_at":"2026-12-06T00:00:00.000Z","generator":"x","source":{"name":"app","kind":"sqlite","path":"/srv/app.db"},"sqlite":{"encoding":"UTF-8","user_version":0,"application_id":0,"page_size":4096,"auto_vacuum":0,"journal_mode":"delete"},"#;

/// Writes `head`, then `unit` repeated to about 200 MiB, then `tail`, compressed.
fn flood(env: &Env, name: &str, head: &str, unit: &str, tail: &str) -> std::path::PathBuf {
    let out = env.path(name);
    zstd_compress_to(&out, |w| {
        w.write_all(head.as_bytes())?;
        let block = unit.repeat((1 << 20) / unit.len());
        for _ in 0..200 {
            w.write_all(block.as_bytes())?;
        }
        w.write_all(tail.as_bytes())
    });
    out
}

fn assert_flood_refused(env: &Env, file: &std::path::Path, fragments: &[&str]) {
    assert_refused_within_bounds(env, file, fragments);
    let o = env.run_full(&["import", s(file), "--to", s(&env.out().join("again.db"))]);
    assert!(
        o.stderr.len() < 4096,
        "the error prints {} bytes:\n{}",
        o.stderr.len(),
        &o.stderr[..o.stderr.len().min(600)]
    );
}

#[test]
fn a_format_field_that_is_an_endless_array_is_refused_at_once() {
    let env = Env::new();
    let f = flood(&env, "format.json.zst", r#"{"format":[0"#, ",0", "]}");
    assert_flood_refused(&env, &f, &["not a Nuage backup", "format is not a string"]);
}

#[test]
fn a_columns_list_longer_than_its_table_is_refused_at_its_first_extra_name() {
    let env = Env::new();
    let head = format!(
        r#"{HEAD}"schema":[{{"type":"table","name":"t","tbl_name":"t","sql":"CREATE TABLE t(a)"}}],"tables":[{{"name":"t","columns":["a""#
    );
    let f = flood(
        &env,
        "columns.json.zst",
        &head,
        r#","x""#,
        r#"],"rowid":true,"rows":[],"row_count":0}],"summary":{"tables":1,"rows":0}}"#,
    );
    assert_flood_refused(&env, &f, &["table 't' has columns", "more than 1"]);
}

#[test]
fn a_schema_of_millions_of_objects_is_refused() {
    let env = Env::new();
    let head = format!(r#"{HEAD}"schema":["#);
    let f = flood(
        &env,
        "schema.json.zst",
        &head,
        r#"{"type":"table","name":"t","tbl_name":"t","sql":"x"},"#,
        r#"{"type":"table","name":"t","tbl_name":"t","sql":"x"}],"tables":[],"summary":{"tables":0,"rows":0}}"#,
    );
    assert_flood_refused(&env, &f, &["refused", "its schema holds more than"]);
}

#[test]
fn a_sqlite_sequence_of_millions_of_rows_is_refused() {
    let env = Env::new();
    let head = format!(
        r#"{HEAD}"schema":[{{"type":"table","name":"t","tbl_name":"t","sql":"CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT)"}}],"tables":[{{"name":"sqlite_sequence","columns":["name","seq"],"rowid":false,"rows":[["t",1]"#
    );
    let f = flood(
        &env,
        "seq.json.zst",
        &head,
        r#",["",1]"#,
        r#"],"row_count":1}]}"#,
    );
    assert_flood_refused(
        &env,
        &f,
        &["sqlite_sequence holds more rows than there are tables"],
    );
}

// ---------------------------------------------------------------------------
// 12. A registered source's database is replaced only by a restore in place
// (which keeps a safety copy first), never by `--to … --force`.

#[test]
fn force_never_replaces_a_registered_source() {
    let env = Env::new();
    let db = env.add_sample_source("app.db");
    let id = env.backup_ok();
    let pristine = Pristine::of(&db);
    let o = env.run_full(&["restore", &id, "--to", s(&db), "--force"]);
    assert_failed_with(&o, &["is the database of source 'app'", "in place"]);
    pristine.assert_untouched();
}

// ---------------------------------------------------------------------------
// 13. A local copy that fails its checksum but kept its size is never
// trusted: the next backup reads the source again, and the list does not
// show it as good.

#[test]
fn a_damaged_local_copy_of_the_same_size_is_neither_unchanged_nor_listed_as_local() {
    let env = Env::new();
    let id = damage_local_copy(&env);
    let points = env.points();
    let damaged = points.iter().find(|p| p["id"] == id.as_str()).unwrap();
    assert_eq!(damaged["location"], "missing", "{damaged}");
    let out = env.run_ok(&["backup", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["status"], "backed_up", "{out}");
    assert_ne!(v[0]["id"], id.as_str());
}

#[test]
fn a_damaged_local_copy_is_put_back_from_the_destination_by_the_next_backup() {
    let env = Env::new();
    env.add_sample_source("app.db");
    let nas = env.folder_destination();
    let id = env.backup_ok();
    let copy = env.local_copy("app");
    flip_a_bit(&copy);
    let listed = env.points();
    assert_eq!(listed[0]["location"], "remote", "{listed:?}");
    let out = env.run_ok(&["backup", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["status"], "unchanged", "{out}");
    assert_eq!(v[0]["id"], id.as_str());
    assert_eq!(
        fs::read(&copy).unwrap(),
        fs::read(nas.join(format!("app/{id}.json.zst"))).unwrap(),
        "the copy was put back"
    );
    assert_eq!(env.points()[0]["location"], "both");
}

#[test]
fn a_copy_hashed_as_it_was_written_is_not_read_again_to_be_listed() {
    let env = Env::new();
    env.add_sample_source("app.db");
    let id = env.backup_ok();
    let state = rusqlite::Connection::open(env.home().join("state.sqlite")).unwrap();
    let ok: bool = state
        .query_row(
            "SELECT ok FROM copy_checks WHERE point_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(ok, "the new copy is recorded as verified");
}

#[test]
fn an_unreadable_stored_destination_can_be_chosen_again_or_removed() {
    let env = Env::new();
    env.add_sample_source("app.db");
    env.folder_destination();
    let spoil = || {
        // Written by a newer Nuage, or damaged: no destination this one reads.
        let state = rusqlite::Connection::open(env.home().join("state.sqlite")).unwrap();
        state
            .execute(
                "INSERT INTO settings(key, value) VALUES ('destination', '{\"kind\":\"tape\"}') \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [],
            )
            .unwrap();
    };
    spoil();
    let o = env.run_full(&["backup"]);
    assert_stderr_has(&o, &["destination", "choose the destination again"]);
    // Chosen again, as the message says: it works (it was refused before).
    let other = env.path("nas2");
    fs::create_dir(&other).unwrap();
    env.run_ok(&["destination", "folder", s(&other)]);
    env.run_ok(&["backup"]);
    assert!(fs::read_dir(other.join("app")).unwrap().count() > 0);
    // Or removed.
    spoil();
    env.run_ok(&["destination", "remove"]);
    env.run_ok(&["backup"]);
}
