//! The COPY text reader and writer against a real server: every awkward
//! value a table can hold comes out through `COPY … TO STDOUT`, is read
//! into fields, written back through `COPY … FROM STDIN` into an empty copy
//! of the table, and the two tables are equal value for value.

use std::io::{BufReader, Write};

use nuage_engine::postgres::ConnSpec;
use nuage_engine::postgres::copy::{read_row, write_row};
use nuage_pgserver::PgServer;

#[test]
fn awkward_values_survive_copy_out_and_back_in_exactly() {
    let pg = match PgServer::start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("SKIPPED: no PostgreSQL server to test against: {e}");
            return;
        }
    };
    pg.create_db("v").unwrap();
    pg.psql(
        "v",
        r#"CREATE TABLE src (
             id int PRIMARY KEY, t text, b bytea, f8 float8, f4 float4, n numeric,
             ts timestamptz, iv interval, j json, jb jsonb, arr int[], tarr text[], u uuid);
           INSERT INTO src VALUES
             (1, E'tab\there\nnew line \\ backslash', '\x00ff10'::bytea, '-0', 'NaN', 'NaN',
              '2026-12-06 10:11:12.123456+01', '1 year 2 mons 3 days 04:05:06.789', '{"a":  1, "a": 2}',
              '{"b": [1, 2.50], "a": null}', '[0:2]={1,2,3}', '{"x,y","",NULL,"quo\"te"}', gen_random_uuid()),
             (2, '', '', 'Infinity', '-Infinity', '123456789012345678901234567890.000000000000000001',
              'infinity', '-1 day', 'null', '[]', '{}', '{}', NULL),
             (3, NULL, NULL, 1.0000000000000002, 0.1, '-0.00', '1999-12-31 23:59:59.999999+00', '0', NULL, NULL, NULL, NULL, NULL),
             (4, 'é€😀 and \N literally', '\x5c4e'::bytea, 5e-324, 3.4028235e38, '1e-20', '0001-01-01 00:00:00+00 BC', '178000000 years', '"s"', '"s"', '{{1,2},{3,4}}', '{"\\"}', NULL);
           CREATE TABLE dst (LIKE src);"#,
    )
    .unwrap();
    let (spec, pw) = ConnSpec::parse(&pg.url("v")).unwrap();
    let mut c = spec.connect(pw.as_deref()).unwrap();
    c.batch_execute(
        "SET extra_float_digits = 3; SET DateStyle = ISO; SET IntervalStyle = postgres;
         SET TimeZone = 'UTC'; SET bytea_output = 'hex'",
    )
    .unwrap();
    let mut rows = Vec::new();
    {
        let out = c.copy_out("COPY src TO STDOUT").unwrap();
        let mut r = BufReader::new(out);
        let (mut line, mut fields) = (Vec::new(), Vec::new());
        while read_row(&mut r, &mut line, &mut fields).unwrap() {
            rows.push(fields.clone());
        }
    }
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[2][1], None, "NULL is told from the empty string");
    assert_eq!(rows[1][1].as_deref(), Some(&b""[..]));
    {
        let mut w = c.copy_in("COPY dst FROM STDIN").unwrap();
        for r in &rows {
            let f: Vec<Option<&[u8]>> = r.iter().map(|v| v.as_deref()).collect();
            let mut buf = Vec::new();
            write_row(&mut buf, &f).unwrap();
            w.write_all(&buf).unwrap();
        }
        w.finish().unwrap();
    }
    // Equal as values, and as their exact text (floats' bits, json as
    // written, array bounds, interval fields).
    let diff = pg
        .psql(
            "v",
            "SELECT count(*) FROM (
               (SELECT id, t, b, f8::text, f4::text, n::text, ts, iv::text, j::text, jb, arr::text, tarr, u FROM src
                EXCEPT SELECT id, t, b, f8::text, f4::text, n::text, ts, iv::text, j::text, jb, arr::text, tarr, u FROM dst)
               UNION ALL
               (SELECT id, t, b, f8::text, f4::text, n::text, ts, iv::text, j::text, jb, arr::text, tarr, u FROM dst
                EXCEPT SELECT id, t, b, f8::text, f4::text, n::text, ts, iv::text, j::text, jb, arr::text, tarr, u FROM src)) d",
        )
        .unwrap();
    assert_eq!(diff, "0");
    let bits = pg
        .psql("v", "SELECT float8send(f8) = (SELECT float8send(f8) FROM src WHERE id = 1) FROM dst WHERE id = 1")
        .unwrap();
    assert_eq!(bits, "t", "-0 keeps its sign bit");
}
