//! PostgreSQL databases (Supabase above all): the second [`Source`] kind.
//!
//! - `conn.rs` — the connection string a person pastes, TLS like libpq,
//!   the errors of the real traps (IPv6-only hosts, poolers, passwords);
//! - `password.rs` — the password, kept in the keychain per source;
//! - `catalog.rs` — what the database holds, read from its catalogs;
//! - `snapshot.rs` — one consistent instant, without stalling the
//!   application (short lock waits, giving way to its DDL);
//! - `copy.rs` — COPY's text format both ways;
//! - `restore.rs` — the document read back, validated as it streams, into
//!   one transaction.
//!
//! A source's location is its connection string without the password
//! (`postgresql://user@host:5432/db?sslmode=require[&schema=a,b]`); the
//! password comes from the keychain, or for a restore target from the
//! connection string given for it.

pub mod catalog;
mod conn;
pub mod copy;
pub mod password;
pub mod restore;
pub mod snapshot;

pub use conn::{ConnSpec, SslMode};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nuage_graph::session::Settings;
use postgres::Client;
use serde::Serialize;

use self::catalog::{Catalog, Reference, failed, flag, literal, rows, text};
use crate::config::Config;
use crate::document::{Document, Meter, SourceInfo};
use crate::error::{Error, Result};
use crate::source::{
    Placement, RestoreProgressFn, Restored, SnapshotStats, Source, SourceCheck, SourceKind,
    StagedRestore, TableProgress, quote_ident,
};

/// What a check of a PostgreSQL source found beyond the common counts.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct PgCheck {
    pub server_version: String,
    /// The schemas a backup keeps.
    pub schemas: Vec<String>,
    /// Schemas left out by default (the platform's: Supabase's `auth`,
    /// `storage`, …).
    pub left_out: Vec<String>,
    /// What the kept schemas point at in schemas that are not kept (a
    /// foreign key to `auth.users`): a restore needs them to exist.
    pub references: Vec<Reference>,
    /// What a backup does not capture (a foreign table, an aggregate…),
    /// each as `kind name`.
    pub not_included: Vec<String>,
}

/// A connection string that did not parse, kept as given (in memory
/// only: it may hold a password).
#[derive(Clone)]
struct Unreadable(String);

/// A PostgreSQL database.
pub struct PostgresSource {
    name: String,
    /// The parsed location, or the location as given when it could not be
    /// read (parsed again for the precise error when it is used).
    spec: std::result::Result<ConnSpec, Unreadable>,
    /// A password the location itself held (a restore target typed in).
    given_password: Option<String>,
    shown: PathBuf,
    home: PathBuf,
    settings: Settings,
}

impl PostgresSource {
    pub fn new(name: &str, location: &Path, home: &Path, config: &Config) -> PostgresSource {
        let parsed = ConnSpec::parse(&location.to_string_lossy());
        let (spec, given_password, shown) = match parsed {
            Ok((spec, pw)) => {
                let shown = PathBuf::from(spec.to_string());
                (Ok(spec), pw, shown)
            }
            Err(_) => (
                Err(Unreadable(location.to_string_lossy().into_owned())),
                None,
                PathBuf::from("(an unreadable connection string)"),
            ),
        };
        PostgresSource {
            name: name.to_string(),
            spec,
            given_password,
            shown,
            home: home.to_path_buf(),
            settings: config.graph.clone(),
        }
    }

    /// The same source, connecting with `password` when one is given.
    pub fn with_password(mut self, password: Option<&str>) -> PostgresSource {
        if let Some(p) = password.filter(|p| !p.is_empty()) {
            self.given_password = Some(p.to_string());
        }
        self
    }

    /// The password given with the location (not the keychain's).
    pub fn given_password(&self) -> Option<&str> {
        self.given_password.as_deref()
    }

    fn spec(&self) -> Result<&ConnSpec> {
        match &self.spec {
            Ok(spec) => Ok(spec),
            Err(Unreadable(location)) => Err(ConnSpec::parse(location)
                .err()
                .unwrap_or_else(|| Error::Invalid("the connection string cannot be read".into()))),
        }
    }

    /// The password: the one given with the location, else the keychain's.
    fn password(&self) -> Result<Option<String>> {
        if let Some(p) = &self.given_password {
            return Ok(Some(p.clone()));
        }
        password::load(&self.home, &self.settings, &self.name, self.spec()?)
    }

    pub fn connect(&self) -> Result<Client> {
        let spec = self.spec()?;
        spec.connect(self.password()?.as_deref())
    }

    /// The schemas to back up: those the location names (each must
    /// exist), else every schema but the system's and the platform's.
    fn schemas(&self, c: &mut Client) -> Result<(Vec<String>, Vec<String>)> {
        let (kept, platform) = catalog::schemas(c)?;
        let named = &self.spec()?.schemas;
        if named.is_empty() {
            return Ok((kept, platform));
        }
        for s in named {
            if !kept.contains(s) && !platform.contains(s) {
                return Err(Error::Invalid(format!(
                    "the database has no schema '{}'; its schemas are {}",
                    crate::document::shown(s),
                    kept.iter()
                        .chain(&platform)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let left: Vec<String> = kept
            .into_iter()
            .chain(platform)
            .filter(|s| !named.contains(s))
            .collect();
        Ok((named.clone(), left))
    }

    /// Reads what a check says, in a read-only transaction.
    pub fn inspect(&self) -> Result<(SourceCheck, PgCheck)> {
        let mut c = self.connect()?;
        let (schemas, left_out) = self.schemas(&mut c)?;
        if let Some(table) = missing_privilege(&mut c, &schemas)? {
            let user = &self.spec()?.user;
            return Err(Error::Invalid(format!(
                "the user {user} may not read {table} (it needs the SELECT privilege on every table and sequence it backs up). Grant it, for example: GRANT SELECT ON ALL TABLES IN SCHEMA … TO {user}; or connect as the database's owner."
            )));
        }
        c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .map_err(|e| failed("reading the database failed", e))?;
        let cat = catalog::read(&mut c, &schemas)?;
        let size = rows(
            &mut c,
            "size",
            "SELECT pg_catalog.pg_database_size(pg_catalog.current_database())",
        )?
        .first()
        .and_then(|r| text(r, 0).parse().ok())
        .unwrap_or(0);
        let _ = c.batch_execute("ROLLBACK");
        let spec = self.spec()?;
        Ok((
            SourceCheck {
                kind: SourceKind::Postgresql,
                path: self.shown.clone(),
                suggested_name: crate::source::suggested_name(Path::new(&spec.dbname)),
                tables: cat.tables.len() as u64,
                size_bytes: size,
                journal_mode: String::new(),
                postgresql: None,
                folder: None,
            },
            PgCheck {
                server_version: cat.server_version,
                schemas,
                left_out,
                references: cat.references_out,
                not_included: cat
                    .not_included
                    .iter()
                    .map(|n| format!("{} {}", n.kind, n.name))
                    .collect(),
            },
        ))
    }
}

impl Source for PostgresSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Postgresql
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn location(&self) -> &Path {
        &self.shown
    }

    fn check(&self) -> Result<SourceCheck> {
        let (mut check, pg) = self.inspect()?;
        check.postgresql = Some(pg);
        Ok(check)
    }

    /// The statistics counters of every table kept (rows inserted,
    /// updated, deleted), their storage (a TRUNCATE or rewrite moves it),
    /// the catalog rows' versions (`xmin` moves with any DDL) and the
    /// sequences' values: cheap, and read without touching a row.
    fn fingerprint(&self) -> Result<String> {
        let mut c = self.connect()?;
        let (schemas, _) = self.schemas(&mut c)?;
        let nsp: Vec<String> = schemas.iter().map(|s| literal(s)).collect();
        let nsp = format!("ARRAY[{}]::text[]", nsp.join(","));
        let fp = rows(
            &mut c,
            "activity",
            &format!(
                "SELECT pg_catalog.md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (
                   SELECT format('r%s:%s:%s:%s:%s:%s', c.oid, c.xmin, c.relfilenode,
                                 coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0),
                                 coalesce(s.n_tup_del, 0)) AS x
                     FROM pg_catalog.pg_class c
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                     LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid
                    WHERE n.nspname = ANY({nsp})
                   UNION ALL
                   SELECT format('a%s:%s', a.attrelid, a.xmin) FROM pg_catalog.pg_attribute a
                     JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = ANY({nsp}) AND a.attnum > 0
                   UNION ALL
                   SELECT format('k%s:%s', k.oid, k.xmin) FROM pg_catalog.pg_constraint k
                     JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace
                    WHERE n.nspname = ANY({nsp})
                   UNION ALL
                   SELECT format('t%s:%s', t.oid, t.xmin) FROM pg_catalog.pg_type t
                     JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                    WHERE n.nspname = ANY({nsp})
                   UNION ALL
                   SELECT format('e%s:%s', e.oid, e.xmin) FROM pg_catalog.pg_enum e
                     JOIN pg_catalog.pg_type t ON t.oid = e.enumtypid
                     JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                    WHERE n.nspname = ANY({nsp})
                   UNION ALL
                   SELECT format('p%s:%s', p.oid, p.xmin) FROM pg_catalog.pg_proc p
                     JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = ANY({nsp})
                   UNION ALL
                   SELECT format('s%s.%s:%s', q.schemaname, q.sequencename, q.last_value)
                     FROM pg_catalog.pg_sequences q WHERE q.schemaname = ANY({nsp})
                   UNION ALL
                   SELECT format('g%s:%s', r.oid, r.xmin) FROM pg_catalog.pg_rewrite r
                     JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = ANY({nsp})
                   UNION ALL
                   SELECT format('tg%s:%s', t.oid, t.xmin) FROM pg_catalog.pg_trigger t
                     JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = ANY({nsp})
                   UNION ALL
                   SELECT format('pol%s:%s', p.oid, p.xmin) FROM pg_catalog.pg_policy p
                     JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = ANY({nsp})
                   UNION ALL
                   SELECT format('d%s:%s:%s', d.objoid, d.objsubid, d.xmin) FROM pg_catalog.pg_description d
                   UNION ALL
                   SELECT format('ns%s:%s', n.oid, n.xmin) FROM pg_catalog.pg_namespace n
                    WHERE n.nspname = ANY({nsp})
                   UNION ALL
                   SELECT format('q%s:%s', q.seqrelid, q.xmin) FROM pg_catalog.pg_sequence q
                     JOIN pg_catalog.pg_class c ON c.oid = q.seqrelid
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = ANY({nsp})
                   UNION ALL
                   SELECT format('x%s:%s', x.oid, x.xmin) FROM pg_catalog.pg_extension x
                   UNION ALL
                   SELECT format('n%s', s) FROM unnest({nsp}) s
                 ) f"
            ),
        )?;
        let hash = fp.first().map(|r| text(r, 0)).unwrap_or_default();
        Ok(format!("pg:{hash}"))
    }

    fn snapshot(
        &self,
        created_at: &str,
        _work_dir: &Path,
        _label: &Path,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(TableProgress<'_>),
    ) -> Result<SnapshotStats> {
        let mut c = self.connect()?;
        let (schemas, _) = self.schemas(&mut c)?;
        // The watcher that makes the backup give way; without it a
        // backup could hold up the application's migrations.
        let watcher = self.connect()?;
        let info = SourceInfo {
            name: self.name.clone(),
            kind: SourceKind::Postgresql.as_str().into(),
            path: self.shown.to_string_lossy().into_owned(),
        };
        let (_, stats) = snapshot::snapshot(
            &mut c,
            Some(watcher),
            &info,
            created_at,
            &schemas,
            out,
            progress,
        )?;
        if stats.yielded > 0 {
            tracing::info!(
                source = %self.name,
                times = stats.yielded,
                "the backup gave way to another session's lock"
            );
        }
        Ok(SnapshotStats {
            tables: stats.tables,
            rows: stats.rows,
            unsettled: 0,
            digest: Some(stats.digest),
        })
    }

    fn gave_way(&self, e: &Error) -> bool {
        snapshot::gave_way(e)
    }

    fn stage_restore(
        &self,
        document: Document,
        label: &str,
        placement: Placement,
        work_dir: &Path,
        progress: RestoreProgressFn<'_>,
        _content: &mut dyn super::ContentStore,
    ) -> Result<Box<dyn StagedRestore>> {
        match placement {
            Placement::Scratch => {
                let loaded = restore::load(
                    document,
                    label,
                    restore::Target::Validate,
                    &mut |_, _| Ok(()),
                    progress,
                )?;
                Ok(Box::new(Staged {
                    restored: restored(&loaded),
                    pending: Pending::Nothing,
                }))
            }
            Placement::InPlace => {
                // Read and checked now, kept (compressed, private) for the
                // commit: the database is only replaced after the safety
                // copy, and a transaction held open meanwhile would block
                // that copy's snapshot.
                crate::fsutil::create_private_dir(work_dir)?;
                let spool = Spool::create(work_dir)?;
                let tee = spool.tee(document)?;
                let loaded = restore::load(
                    tee.document(),
                    label,
                    restore::Target::Validate,
                    &mut |_, _| Ok(()),
                    progress,
                )?;
                tee.finish()?;
                self.spec()?;
                Ok(Box::new(Staged {
                    restored: restored(&loaded),
                    pending: Pending::Replace {
                        source: self.clone_for_commit(),
                        spool,
                        label: label.to_string(),
                    },
                }))
            }
            Placement::New { force } => {
                let mut c = self.connect()?;
                let target = self.shown.clone();
                begin_restore(&mut c)?;
                let meter = document.meter();
                let loaded = {
                    let watchdog = Watchdog::start(&c, self.spec()?, meter);
                    let r = restore::load(
                        document,
                        label,
                        restore::Target::Build(&mut c),
                        &mut |c, cat| prepare(c, cat, &target, force, None),
                        progress,
                    );
                    watchdog.stop();
                    r?
                };
                Ok(Box::new(Staged {
                    restored: restored(&loaded),
                    pending: Pending::Commit(c),
                }))
            }
        }
    }

    fn is_unreadable(&self, _e: &Error) -> bool {
        // A database that cannot be snapshotted cannot be copied raw
        // either: a restore in place needs a safety backup first.
        false
    }

    fn raw_copy(&self, _dest: &Path) -> Result<()> {
        Err(Error::Invalid(
            "a PostgreSQL database has no raw copy: its safety backup is a snapshot".into(),
        ))
    }
}

/// Temporary databases of restore drills are named with this prefix.
const DRILL_PREFIX: &str = "nuage_drill_";

/// A database created on the source's server for a restore drill: the
/// point is restored into it, read back and compared, and it is dropped
/// when this is (or, after a crash, swept by the next drill).
pub struct TemporaryDatabase {
    admin: PostgresSource,
    name: String,
    target: PostgresSource,
}

impl TemporaryDatabase {
    /// The source that connects to the temporary database.
    pub fn target(&self) -> &PostgresSource {
        &self.target
    }
}

impl Drop for TemporaryDatabase {
    fn drop(&mut self) {
        let Ok(mut c) = self.admin.connect() else {
            tracing::warn!(database = %self.name, "a drill's temporary database could not be dropped (the server cannot be reached); the next drill drops it");
            return;
        };
        let db = quote_ident(&self.name);
        // WITH (FORCE) (PostgreSQL 13) ends a session left in it.
        if c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .is_err()
            && let Err(e) = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
        {
            tracing::warn!(database = %self.name, "a drill's temporary database could not be dropped: {e}; the next drill drops it");
        }
    }
}

impl PostgresSource {
    /// Creates an empty database beside the source's (`nuage_drill_…`,
    /// from `template0` in the source's encoding) for a restore drill,
    /// after dropping any an interrupted drill left behind. Fails when the
    /// user may not create databases (or a pooler cannot reach a new one).
    pub fn temporary_database(&self) -> Result<TemporaryDatabase> {
        let mut c = self.connect()?;
        let left = rows(
            &mut c,
            "databases",
            &format!(
                "SELECT datname FROM pg_catalog.pg_database WHERE starts_with(datname, {})",
                literal(DRILL_PREFIX)
            ),
        )?;
        for r in left {
            // One still in use (another drill) is left alone.
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {}",
                quote_ident(&text(&r, 0))
            ));
        }
        let encoding = rows(
            &mut c,
            "encoding",
            "SELECT pg_catalog.pg_encoding_to_char(encoding) FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()",
        )?
        .first()
        .map(|r| text(r, 0))
        .unwrap_or_else(|| "UTF8".into());
        let password = self.password()?;
        let name = format!("{DRILL_PREFIX}{:016x}", fastrand::u64(..));
        let create = format!("CREATE DATABASE {} TEMPLATE template0", quote_ident(&name));
        // The source's encoding where the server's locale allows it.
        c.batch_execute(&format!("{create} ENCODING {}", literal(&encoding)))
            .or_else(|_| c.batch_execute(&create))
            .map_err(|e| failed("a temporary database for the drill could not be created", e))?;
        let mut spec = self.spec()?.clone();
        spec.dbname = name.clone();
        let target = PostgresSource {
            name: self.name.clone(),
            shown: PathBuf::from(spec.to_string()),
            spec: Ok(spec),
            given_password: password,
            home: self.home.clone(),
            settings: self.settings.clone(),
        };
        Ok(TemporaryDatabase {
            admin: self.clone_for_commit(),
            name,
            target,
        })
    }

    fn clone_for_commit(&self) -> PostgresSource {
        PostgresSource {
            name: self.name.clone(),
            spec: self.spec.clone(),
            given_password: self.given_password.clone(),
            shown: self.shown.clone(),
            home: self.home.clone(),
            settings: self.settings.clone(),
        }
    }
}

fn restored(l: &restore::Loaded) -> Restored {
    Restored {
        created_at: l.created_at.clone(),
        source: l.source.name.clone(),
        tables: l.tables.clone(),
        rows: l.rows,
        not_restored: l.not_restored.clone(),
    }
}

/// Opens the restore's one transaction, with the settings the document's
/// text values and definitions are read with.
fn begin_restore(c: &mut Client) -> Result<()> {
    c.batch_execute(
        "BEGIN; SET LOCAL search_path = ''; SET LOCAL check_function_bodies = off;
         SET LOCAL client_min_messages = warning; SET LOCAL DateStyle = 'ISO, YMD';
         SET LOCAL IntervalStyle = postgres; SET LOCAL statement_timeout = 0;
         SET LOCAL lock_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0",
    )
    .map_err(|e| failed("the restore could not start", e))
}

/// What the document's schemas hold in the target now, as `DROP`
/// statements (extension members aside).
fn existing(c: &mut Client, schemas: &[String]) -> Result<Vec<String>> {
    let nsp: Vec<String> = schemas.iter().map(|s| literal(s)).collect();
    let nsp = format!("ARRAY[{}]::text[]", nsp.join(","));
    let ext = |classid: &str, col: &str| {
        format!(
            "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '{classid}'::regclass AND d.objid = {col} AND d.deptype = 'e')"
        )
    };
    Ok(rows(
        c,
        "objects",
        &format!(
            "SELECT stmt FROM (
               SELECT CASE c.relkind WHEN 'S' THEN 2 ELSE 1 END AS o, format('DROP %s IF EXISTS %I.%I CASCADE',
                        CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                       WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                                       WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END,
                        n.nspname, c.relname) AS stmt
                 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = ANY({nsp}) AND c.relkind IN ('r','p','v','m','S','f','c')
                  AND NOT c.relispartition AND {cls}
                  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                                  WHERE d.classid = 'pg_catalog.pg_class'::regclass
                                    AND d.objid = c.oid AND d.deptype = 'i')
               UNION ALL
               SELECT 3, format('DROP %s IF EXISTS %I.%I(%s) CASCADE',
                        CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
                        n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))
                 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = ANY({nsp}) AND {proc}
               UNION ALL
               SELECT 4, format('DROP %s IF EXISTS %I.%I CASCADE',
                        CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname, t.typname)
                 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = ANY({nsp}) AND t.typtype IN ('e','d','r') AND {typ}
             ) x ORDER BY o, stmt",
            cls = ext("pg_catalog.pg_class", "c.oid"),
            proc = ext("pg_catalog.pg_proc", "p.oid"),
            typ = ext("pg_catalog.pg_type", "t.oid"),
        ),
    )?
    .iter()
    .map(|r| text(r, 0))
    .collect())
}

/// Makes the target ready for the catalog: refused unless the document's
/// schemas are empty there, or (replacing) emptied in the transaction.
/// The schemas themselves stay (their owner and grants: Supabase's API
/// roles keep their access to `public`).
fn prepare(
    c: &mut Client,
    cat: &Catalog,
    target: &Path,
    replace: bool,
    kept: Option<&[String]>,
) -> Result<()> {
    let objects = existing(c, &cat.schemas)?;
    if objects.is_empty() {
        return Ok(());
    }
    if !replace {
        return Err(Error::TargetExists(target.to_path_buf()));
    }
    // Replacing may only lose what a safety backup holds: never a schema
    // the source no longer backs up, an object of a kind no backup
    // captures, or (through CASCADE) anything outside the schemas.
    let refuse = |what: String| {
        Error::Invalid(format!(
            "restoring over {} would also remove {what}, which no backup of it holds. Nothing was changed. Restore into an empty database instead, or include what it names in the source.",
            target.display()
        ))
    };
    if let Some(kept) = kept
        && let Some(extra) = cat.schemas.iter().find(|s| !kept.contains(s))
    {
        return Err(refuse(format!(
            "schema {extra} (the source no longer backs it up)"
        )));
    }
    let nsp: Vec<String> = cat.schemas.iter().map(|s| literal(s)).collect();
    let nsp = format!("ARRAY[{}]::text[]", nsp.join(","));
    let uncaptured = rows(
        c,
        "objects",
        &format!(
            "SELECT x FROM (
               SELECT format('%s %I.%I', CASE WHEN c.relkind = 'p' THEN 'partitioned table'
                                             WHEN c.relkind = 'f' THEN 'foreign table'
                                             WHEN c.relkind = 'c' THEN 'composite type'
                                             ELSE 'partition' END, n.nspname, c.relname) AS x
                 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = ANY({nsp}) AND (c.relkind IN ('p','f','c') OR c.relispartition)
                  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = 'pg_catalog.pg_class'::regclass AND x.objid = c.oid AND x.deptype = 'e')
               UNION ALL
               SELECT format('aggregate %I.%I', n.nspname, p.proname)
                 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = ANY({nsp}) AND p.prokind IN ('a','w')
                  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = 'pg_catalog.pg_proc'::regclass AND x.objid = p.oid AND x.deptype = 'e')
               UNION ALL
               SELECT format('range type %I.%I', n.nspname, t.typname)
                 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = ANY({nsp}) AND t.typtype = 'r'
                  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = 'pg_catalog.pg_type'::regclass AND x.objid = t.oid AND x.deptype = 'e')
             ) o
             ORDER BY 1 LIMIT 5"
        ),
    )?;
    if !uncaptured.is_empty() {
        let names: Vec<String> = uncaptured.iter().map(|r| text(r, 0)).collect();
        return Err(refuse(names.join(", ")));
    }
    let outside = rows(
        c,
        "dependencies",
        &format!(
            "SELECT DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid)
             FROM pg_catalog.pg_depend d
             CROSS JOIN LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) o
             WHERE d.deptype IN ('n', 'a')
               AND ((d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid IN (
                       SELECT c.oid FROM pg_catalog.pg_class c
                       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY({nsp})
                         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = 'pg_catalog.pg_class'::regclass AND x.objid = c.oid AND x.deptype = 'e')))
                 OR (d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid IN (
                       SELECT p.oid FROM pg_catalog.pg_proc p
                       JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY({nsp})
                         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = 'pg_catalog.pg_proc'::regclass AND x.objid = p.oid AND x.deptype = 'e')))
                 OR (d.refclassid = 'pg_catalog.pg_type'::regclass AND d.refobjid IN (
                       SELECT t.oid FROM pg_catalog.pg_type t
                       JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = ANY({nsp})
                         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = 'pg_catalog.pg_type'::regclass AND x.objid = t.oid AND x.deptype = 'e'))))
               AND NOT coalesce(coalesce(o.schema, (
                     -- A default, policy, trigger or rule has the schema of its table.
                     SELECT n.nspname FROM pg_catalog.pg_class c
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.oid = CASE d.classid
                       WHEN 'pg_catalog.pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_catalog.pg_attrdef WHERE oid = d.objid)
                       WHEN 'pg_catalog.pg_policy'::regclass THEN (SELECT polrelid FROM pg_catalog.pg_policy WHERE oid = d.objid)
                       WHEN 'pg_catalog.pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_catalog.pg_trigger WHERE oid = d.objid)
                       WHEN 'pg_catalog.pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_catalog.pg_rewrite WHERE oid = d.objid)
                     END)) = ANY({nsp}), false)
             ORDER BY 1 LIMIT 5"
        ),
    )?;
    if !outside.is_empty() {
        let names: Vec<String> = outside.iter().map(|r| text(r, 0)).collect();
        return Err(refuse(format!(
            "{} (outside the backed-up schemas, depending on them)",
            names.join(", ")
        )));
    }
    for stmt in objects {
        c.batch_execute(&stmt)
            .map_err(|e| failed("the restore could not clear the database", e))?;
    }
    Ok(())
}

/// Cancels the restore's statement when its document's time budget runs
/// out or the person cancels: the transaction then rolls back.
struct Watchdog {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(c: &Client, spec: &ConnSpec, meter: Meter) -> Watchdog {
        let stop = Arc::new(AtomicBool::new(false));
        let token = c.cancel_token();
        let flag = Arc::clone(&stop);
        let spec = spec.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                if meter.overdue() || meter.cancelled() {
                    spec.cancel(&token);
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Watchdog {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

enum Pending {
    /// A preview: nothing to place.
    Nothing,
    /// The whole restore, done in an open transaction: committing ends it.
    Commit(Client),
    /// In place: the checked document, loaded over the source at commit.
    Replace {
        source: PostgresSource,
        spool: Spool,
        label: String,
    },
}

struct Staged {
    restored: Restored,
    pending: Pending,
}

impl StagedRestore for Staged {
    fn restored(&self) -> &Restored {
        &self.restored
    }

    fn commit(self: Box<Self>) -> Result<Vec<String>> {
        let noted = self.restored.not_restored;
        match self.pending {
            Pending::Nothing => Ok(noted),
            Pending::Commit(mut c) => c
                .batch_execute("COMMIT")
                .map(|()| noted)
                .map_err(|e| failed("the restore could not be committed", e)),
            Pending::Replace {
                source,
                spool,
                label,
            } => {
                let mut c = source.connect()?;
                let target = source.shown.clone();
                let (kept, _) = source.schemas(&mut c)?;
                begin_restore(&mut c)?;
                let document = spool.document()?;
                let watchdog = Watchdog::start(&c, source.spec()?, document.meter());
                let r = restore::load(
                    document,
                    &label,
                    restore::Target::Build(&mut c),
                    &mut |c, cat| prepare(c, cat, &target, true, Some(&kept)),
                    &mut |_, _| {},
                );
                watchdog.stop();
                let loaded = r?;
                c.batch_execute("COMMIT")
                    .map(|()| loaded.not_restored)
                    .map_err(|e| failed("the restore could not be committed", e))
            }
        }
    }
}

/// A private, compressed copy of a document read once, to be read again.
/// Removed when dropped (and recorded, so a kill leaves nothing).
struct Spool {
    path: PathBuf,
    _recorded: crate::temporaries::Recorded,
}

impl Spool {
    fn create(work_dir: &Path) -> Result<Spool> {
        let path = crate::fsutil::temp_sibling(&work_dir.join("restore.json.zst"), "restore");
        let recorded = crate::temporaries::record(&path);
        crate::fsutil::create_private_file(&path)?;
        Ok(Spool {
            path,
            _recorded: recorded,
        })
    }

    fn tee(&self, document: Document) -> Result<Tee> {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.path)
            .map_err(|e| Error::io("write", &self.path, e))?;
        let enc = zstd::stream::write::Encoder::new(f, 1)
            .map_err(|e| Error::io("write", &self.path, e))?;
        Ok(Tee {
            shared: std::rc::Rc::new(std::cell::RefCell::new(TeeState {
                document: Some(document),
                copy: Some(enc),
                error: None,
            })),
            path: self.path.clone(),
        })
    }

    fn document(&self) -> Result<Document> {
        Document::open(&self.path, crate::document::limits::LOAD_TIME_BASE)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

struct TeeState {
    document: Option<Document>,
    copy: Option<zstd::stream::write::Encoder<'static, std::fs::File>>,
    error: Option<std::io::Error>,
}

/// A document whose bytes are also written to the spool as they are read.
struct Tee {
    shared: std::rc::Rc<std::cell::RefCell<TeeState>>,
    path: PathBuf,
}

struct TeeReader(std::rc::Rc<std::cell::RefCell<TeeState>>);

impl std::io::Read for TeeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut s = self.0.borrow_mut();
        let n = s
            .document
            .as_mut()
            .map_or(Ok(0), |d| std::io::Read::read(d, buf))?;
        if let Some(c) = s.copy.as_mut()
            && let Err(e) = c.write_all(&buf[..n])
        {
            s.copy = None;
            s.error = Some(e);
        }
        Ok(n)
    }
}

impl Tee {
    /// The document to read, with the original's budget.
    fn document(&self) -> Document {
        let s = self.shared.borrow();
        let d = s.document.as_ref().expect("read once");
        let (max, meter) = (d.max_expanded(), d.meter());
        drop(s);
        Document::with_meter(
            Box::new(TeeReader(std::rc::Rc::clone(&self.shared))),
            max,
            meter,
        )
    }

    fn finish(self) -> Result<()> {
        let mut s = self.shared.borrow_mut();
        if let Some(e) = s.error.take() {
            return Err(Error::io("write", &self.path, e));
        }
        let enc = s.copy.take().expect("finished once");
        let f = enc
            .finish()
            .map_err(|e| Error::io("write", &self.path, e))?;
        f.sync_all().map_err(|e| Error::io("write", &self.path, e))
    }
}

/// Whether `c` can see rows of every table in `schemas` (a role without
/// `SELECT` on one, or subject to row-level security, makes a backup
/// that silently misses rows): names the first table it cannot read.
pub fn missing_privilege(c: &mut Client, schemas: &[String]) -> Result<Option<String>> {
    let nsp: Vec<String> = schemas.iter().map(|s| literal(s)).collect();
    let r = rows(
        c,
        "privileges",
        &format!(
            "SELECT format('%I.%I', n.nspname, c.relname),
                    pg_catalog.has_table_privilege(c.oid, 'SELECT')
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = ANY(ARRAY[{}]::text[]) AND c.relkind IN ('r','S')
             ORDER BY 1",
            nsp.join(",")
        ),
    )?;
    Ok(r.iter().find(|r| !flag(r, 1)).map(|r| text(r, 0)))
}
