//! Connecting to a real PostgreSQL server (started by the test) from the
//! connection strings people paste: the password, every sslmode, and the
//! mistakes that must say what to do.

use nuage_engine::postgres::{ConnSpec, SslMode};
use nuage_pgserver::{ADMIN, PgServer};

fn server(tls: bool) -> Option<PgServer> {
    let s = if tls {
        PgServer::start_tls()
    } else {
        PgServer::start()
    };
    match s {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("SKIPPED: no PostgreSQL server to test against: {e}");
            None
        }
    }
}

/// The error of a connection that must fail.
fn failure(r: Result<postgres::Client, nuage_engine::Error>) -> String {
    match r {
        Ok(_) => panic!("it connected"),
        Err(e) => e.to_string(),
    }
}

/// Whether the session is encrypted, as the server sees it.
fn encrypted(c: &mut postgres::Client) -> bool {
    let rows = c
        .simple_query("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .unwrap();
    rows.iter().any(|m| match m {
        postgres::SimpleQueryMessage::Row(r) => r.get(0) == Some("true"),
        _ => false,
    })
}

#[test]
fn the_pasted_string_connects_and_mistakes_say_what_to_do() {
    let Some(pg) = server(false) else { return };
    let (spec, pw) = ConnSpec::parse(&pg.url("postgres")).unwrap();
    assert_eq!(pw.as_deref(), Some(pg.password()));
    assert!(!spec.to_string().contains(pg.password()));
    let mut c = spec.connect(pw.as_deref()).unwrap();
    assert!(!encrypted(&mut c));

    let wrong = failure(spec.connect(Some("not the password")));
    assert!(
        wrong.contains("refused the password of user 'nuage_admin'"),
        "{wrong}"
    );
    assert!(!wrong.contains(pg.password()));

    let mut missing = spec.clone();
    missing.dbname = "nope".into();
    let e = failure(missing.connect(pw.as_deref()));
    assert!(e.contains("has no database 'nope'"), "{e}");

    // TLS demanded of a server without it.
    let mut tls = spec.clone();
    tls.sslmode = SslMode::Require;
    let e = failure(tls.connect(pw.as_deref()));
    assert!(e.contains("does not offer TLS"), "{e}");
    // `prefer` falls back to a plain connection, as libpq does.
    let mut prefer = spec.clone();
    prefer.sslmode = SslMode::Prefer;
    prefer.connect(pw.as_deref()).unwrap();

    let port = pg.port();
    drop(pg);
    let mut gone = spec.clone();
    gone.port = port;
    let e = failure(gone.connect(pw.as_deref()));
    assert!(e.contains("nothing answers at 127.0.0.1"), "{e}");
}

#[test]
fn every_sslmode_checks_what_libpq_checks() {
    let Some(pg) = server(true) else { return };
    let ca = pg.ca_file();
    let url = |host: &str, mode: &str, root: bool| {
        let mut u = format!(
            "postgresql://{ADMIN}@{host}:{}/postgres?sslmode={mode}",
            pg.port()
        );
        if root {
            u.push_str(&format!("&sslrootcert={}", ca.display()));
        }
        u
    };
    let connect = |u: &str| ConnSpec::parse(u).unwrap().0.connect(Some(pg.password()));

    // The certificate names localhost and 127.0.0.1, signed by the test CA.
    for ok in [
        url("127.0.0.1", "require", false),
        url("127.0.0.1", "prefer", false),
        url("127.0.0.1", "verify-ca", true),
        url("127.0.0.1", "verify-full", true),
        url("localhost", "verify-full", true),
    ] {
        let mut c = connect(&ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert!(encrypted(&mut c), "{ok} is not encrypted");
    }
    // Not signed by a root this machine trusts.
    let e = failure(connect(&url("127.0.0.1", "verify-full", false)));
    assert!(
        e.contains("cannot be trusted") && e.contains("sslrootcert"),
        "{e}"
    );
    // verify-ca against the system's roots would accept any public
    // certificate: it needs the CA.
    let e = ConnSpec::parse(&url("127.0.0.1", "verify-ca", false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs sslrootcert"), "{e}");
}
