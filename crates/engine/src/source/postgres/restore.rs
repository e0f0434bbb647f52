//! Reading a PostgreSQL backup document back into a database, validating
//! as it streams (the document is untrusted):
//!
//! - the head as every kind reads it ([`HeadReader`]), then the catalog,
//!   read within [`MAX_CATALOG`] bytes and checked whole (every object in a
//!   schema the document lists, numbers that are numbers, identity columns
//!   with their sequence) before anything is sent to a server;
//! - in a target, in one transaction the caller opened, the order
//!   pg_restore uses: schemas, types, sequences, tables; then every table's
//!   rows through `COPY … FROM STDIN` as they stream (counted against the
//!   document's own counts); then sequence values, constraints and indexes,
//!   foreign keys last — so rows are checked once, indexes built once;
//! - without a target ([`Target::Validate`]), the same reading and checks
//!   with nothing sent anywhere (a preview, the first pass of a restore in
//!   place).
//!
//! A document carries SQL text (types, defaults, check expressions,
//! constraint and index definitions, as the source server wrote them).
//! Each is sent as one statement through the extended protocol, which
//! refuses a second statement stacked behind it, and only in the place
//! its kind goes (`ALTER TABLE … ADD CONSTRAINT name <definition>`); an
//! index definition must be a `CREATE [UNIQUE] INDEX`. It runs as the role
//! the restore connects with, which can do nothing it could not do anyway;
//! a watchdog cancels a statement that outlasts the document's time budget.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::rc::Rc;

use postgres::Client;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use std::collections::HashSet;

use super::catalog::{Catalog, Table, failed, literal, rows, text};
use super::copy::{MAX_ROW, write_row};
use crate::document::guard::TokenGuard;
use crate::document::{Document, HeadError, HeadReader, Key, SourceInfo, shown};
use crate::error::{Error, InvalidBackup, Result};
use crate::source::quote_ident;

/// The most bytes of document the catalog may take (its objects, their
/// definitions): far more than any application's schema, and bounded so
/// a hostile one cannot fill memory.
pub const MAX_CATALOG: u64 = 16 << 20;

/// The body of a PostgreSQL document, after the common head.
const BODY: &[&str] = &["postgresql", "tables", "summary"];

/// Where the rows go.
pub enum Target<'c> {
    /// Nowhere: read and check only.
    Validate,
    /// Into a database, inside a transaction the caller opened and ends.
    Build(&'c mut Client),
}

/// What a document said and held.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub created_at: String,
    pub source: SourceInfo,
    pub catalog: Catalog,
    pub tables: Vec<(String, u64)>,
    pub rows: u64,
    /// What could not be restored as it was, and why (a policy naming a
    /// role this server lacks, a foreign key whose rows point at what the
    /// target does not hold): the rest is restored, and this is said.
    pub not_restored: Vec<String>,
}

/// How one statement of a restore may end.
enum Step {
    /// Its failure fails the restore.
    Must(String, String),
    /// Tried again after the others of its phase (a view may read one
    /// made later); what never succeeds is reported as not restored.
    Retry(String, String),
    /// Like `Retry` (a domain's check may call a function, a function may
    /// take a table's row type), but what never succeeds fails the restore:
    /// the rows need it.
    Ordered(String, String),
    /// Tried once; on failure `fallback` is tried (a foreign key added
    /// `NOT VALID`), else it is reported as not restored.
    Optional {
        what: String,
        sql: String,
        fallback: Option<(String, String)>,
    },
}

/// Reads `input` into `target`. `label` names the document and `shown`
/// the target, in messages. `prepare` runs once the catalog is read and
/// checked, before anything is created (the caller checks the target is
/// empty, or clears it).
pub fn load(
    input: Document,
    label: &str,
    target: Target<'_>,
    prepare: &mut dyn FnMut(&mut Client, &Catalog) -> Result<()>,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<Loaded> {
    let window = Rc::new(Budget::default());
    let reader = Window {
        inner: input,
        budget: Rc::clone(&window),
    };
    let mut l = Loader {
        head: HeadReader::new(label, "postgresql", BODY),
        client: match target {
            Target::Validate => None,
            Target::Build(c) => Some(c),
        },
        prepare,
        progress,
        window,
        catalog: None,
        next_table: 0,
        tables: Vec::new(),
        rows: 0,
        summary: None,
        failure: None,
        not_restored: Vec::new(),
    };
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(
        64 << 10,
        TokenGuard::new(reader),
    ));
    let parsed = (&mut l).deserialize(&mut de).and_then(|()| de.end());
    if let Some(e) = l.failure.take() {
        return Err(e);
    }
    if let Err(e) = parsed {
        return Err(l.classify(e));
    }
    l.finish()
}

/// Counts what is read and refuses to go past a limit the loader sets
/// while it reads the catalog.
struct Window<R> {
    inner: R,
    budget: Rc<Budget>,
}

#[derive(Default)]
struct Budget {
    read: Cell<u64>,
    limit: Cell<Option<u64>>,
}

#[derive(Debug)]
struct CatalogTooLarge;
impl fmt::Display for CatalogTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "its catalog takes more than {} MiB", MAX_CATALOG >> 20)
    }
}
impl std::error::Error for CatalogTooLarge {}

impl<R: Read> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let b = &self.budget;
        if b.limit.get().is_some_and(|l| b.read.get() > l) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, CatalogTooLarge));
        }
        let n = self.inner.read(buf)?;
        b.read.set(b.read.get() + n as u64);
        Ok(n)
    }
}

struct Loader<'c, 'p> {
    head: HeadReader,
    client: Option<&'c mut Client>,
    prepare: &'p mut dyn FnMut(&mut Client, &Catalog) -> Result<()>,
    progress: &'p mut dyn FnMut(&str, u64),
    window: Rc<Budget>,
    catalog: Option<Catalog>,
    next_table: usize,
    tables: Vec<(String, u64)>,
    rows: u64,
    summary: Option<(u64, u64)>,
    failure: Option<Error>,
    not_restored: Vec<String>,
}

impl Loader<'_, '_> {
    /// Raises a serde error while keeping the precise engine error aside.
    fn fail<E: de::Error>(&mut self, e: Error) -> E {
        let msg = e.to_string();
        if self.failure.is_none() {
            self.failure = Some(e);
        }
        E::custom(msg)
    }

    fn corrupt(&self, detail: impl Into<String>) -> Error {
        Error::InvalidBackup(InvalidBackup::Corrupt(
            self.head.label.clone(),
            detail.into(),
        ))
    }

    fn classify(&self, e: serde_json::Error) -> Error {
        if e.is_io() {
            let io: io::Error = e.into();
            if io.get_ref().is_some_and(|i| i.is::<CatalogTooLarge>()) {
                return Error::InvalidBackup(InvalidBackup::TooLarge(
                    self.head.label.clone(),
                    io.to_string(),
                ));
            }
            return self.head.classify(serde_json::Error::io(io));
        }
        self.head.classify(e)
    }

    /// The server's refusal of `what`, as the restore's failure.
    fn server(&self, what: &str, e: postgres::Error) -> Error {
        match failed(what, e) {
            Error::Invalid(m) => Error::Invalid(format!("the restore failed {m}")),
            other => other,
        }
    }

    /// Runs one statement of the document's in the target (if any).
    fn run(&mut self, what: &str, sql: &str) -> Result<()> {
        let Some(c) = self.client.as_deref_mut() else {
            return Ok(());
        };
        match c.execute_typed(sql, &[]) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.server(&format!("creating {what}"), e)),
        }
    }

    /// Runs one statement inside a savepoint: a failure undoes just it and
    /// comes back as the server's refusal.
    fn attempt(&mut self, sql: &str) -> Result<std::result::Result<(), Refused>> {
        let Some(c) = self.client.as_deref_mut() else {
            return Ok(Ok(()));
        };
        let step = |c: &mut Client, sql: &str| {
            c.batch_execute(sql)
                .map_err(|e| failed("the restore failed", e))
        };
        step(c, "SAVEPOINT nuage_step")?;
        match c.execute_typed(sql, &[]) {
            Ok(_) => {
                step(c, "RELEASE SAVEPOINT nuage_step")?;
                Ok(Ok(()))
            }
            // The watchdog's cancel (time budget spent, or the person
            // cancelled) ends the restore; it is no step's failure.
            Err(e) if e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED) => Err(self
                .server(
                    "(stopped: it took longer than its document allows, or was cancelled)",
                    e,
                )),
            Err(e) => {
                step(c, "ROLLBACK TO SAVEPOINT nuage_step")?;
                step(c, "RELEASE SAVEPOINT nuage_step")?;
                Ok(Err(Refused(e)))
            }
        }
    }

    /// REVOKE steps for the privileges the restored objects have in the
    /// target beyond those the document records (for a function without
    /// recorded ones, PUBLIC's EXECUTE is its default and stays).
    fn narrowing(&mut self, cat: &Catalog) -> Result<Vec<Step>> {
        let Some(c) = self.client.as_deref_mut() else {
            return Ok(Vec::new());
        };
        let nsp: Vec<String> = cat.schemas.iter().map(|s| literal(s)).collect();
        let now = super::catalog::grants(c, &format!("ARRAY[{}]::text[]", nsp.join(",")))?;
        let key = |g: &super::catalog::Grant| {
            (
                g.kind.clone(),
                g.schema.clone(),
                g.name.clone(),
                g.arguments.clone().unwrap_or_default(),
                g.grantee.clone(),
                g.privilege.clone(),
            )
        };
        let recorded: HashSet<_> = cat.grants.iter().map(key).collect();
        let with_grants: HashSet<_> = cat
            .grants
            .iter()
            .map(|g| {
                (
                    g.kind.clone(),
                    g.schema.clone(),
                    g.name.clone(),
                    g.arguments.clone().unwrap_or_default(),
                )
            })
            .collect();
        let mut steps = Vec::new();
        for g in now {
            if g.kind == "SCHEMA" || recorded.contains(&key(&g)) {
                continue;
            }
            let args = g.arguments.clone().unwrap_or_default();
            let function = matches!(g.kind.as_str(), "FUNCTION" | "PROCEDURE");
            let owner_only = cat
                .owner_only
                .iter()
                .any(|[a, b, c]| a == &g.schema && b == &g.name && c == &args);
            if function
                && g.grantee == "public"
                && g.privilege == "EXECUTE"
                && !owner_only
                && !with_grants.contains(&(
                    g.kind.clone(),
                    g.schema.clone(),
                    g.name.clone(),
                    args.clone(),
                ))
            {
                continue;
            }
            let object = if function {
                format!("{} {}({args})", g.kind, qualified(&g.schema, &g.name))
            } else {
                format!("{} {}", g.kind, qualified(&g.schema, &g.name))
            };
            let grantee = if g.grantee == "public" {
                "PUBLIC".to_string()
            } else {
                quote_ident(&g.grantee)
            };
            steps.push(Step::Optional {
                what: format!(
                    "{} on {} to {} (the target's own default)",
                    g.privilege,
                    object.to_lowercase(),
                    g.grantee
                ),
                sql: format!("REVOKE {} ON {object} FROM {grantee}", g.privilege),
                fallback: None,
            });
        }
        Ok(steps)
    }

    /// Runs `steps` in order; retryable ones that failed are tried again
    /// while any of them succeeds. What never succeeds is reported as not
    /// restored, or (`Ordered`) fails the restore.
    fn run_steps(&mut self, steps: Vec<Step>) -> Result<()> {
        // (what, statement, why it failed, whether it must succeed)
        let mut pending: Vec<(String, String, Refused, bool)> = Vec::new();
        for step in steps {
            match step {
                Step::Must(what, sql) => self.run(&what, &sql)?,
                Step::Retry(what, sql) => {
                    if let Err(why) = self.attempt(&sql)? {
                        pending.push((what, sql, why, false));
                    }
                }
                Step::Ordered(what, sql) => {
                    if let Err(why) = self.attempt(&sql)? {
                        pending.push((what, sql, why, true));
                    }
                }
                Step::Optional {
                    what,
                    sql,
                    fallback,
                } => {
                    let Err(why) = self.attempt(&sql)? else {
                        continue;
                    };
                    match fallback {
                        Some((how, sql)) if self.attempt(&sql)?.is_ok() => {
                            self.not_restored.push(format!("{what}: {how} ({why})"));
                        }
                        _ => self
                            .not_restored
                            .push(format!("{what}: not restored ({why})")),
                    }
                }
            }
        }
        loop {
            let before = pending.len();
            let mut still = Vec::new();
            for (what, sql, _, must) in pending {
                if let Err(why) = self.attempt(&sql)? {
                    still.push((what, sql, why, must));
                }
            }
            pending = still;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        if let Some((what, _, why, _)) = pending.iter().find(|p| p.3) {
            return Err(Error::Invalid(format!(
                "the restore failed creating {what}: {why}"
            )));
        }
        for (what, _, why, _) in pending {
            self.not_restored
                .push(format!("{what}: not restored ({why})"));
        }
        Ok(())
    }

    /// The catalog is read: check it whole, then (in a target) make the
    /// place ready and create everything the rows go into.
    fn start(&mut self, cat: Catalog) -> Result<()> {
        check_catalog(&cat).map_err(|CatalogProblem(d)| self.corrupt(d))?;
        if let Some(c) = self.client.as_deref_mut() {
            (self.prepare)(c, &cat)?;
        }
        self.run_steps(pre_data(&cat))?;
        self.catalog = Some(cat);
        Ok(())
    }

    fn finish(mut self) -> Result<Loaded> {
        let Some(cat) = self.catalog.take() else {
            return Err(self.corrupt("it has no \"postgresql\" catalog"));
        };
        if !self.head.passed("tables") {
            return Err(self.corrupt("the document has no \"tables\" section"));
        }
        if self.next_table != cat.tables.len() {
            let t = &cat.tables[self.next_table];
            return Err(self.corrupt(format!(
                "the rows of table {}.{} are missing",
                shown(&t.schema),
                shown(&t.name)
            )));
        }
        match self.summary {
            None => return Err(self.corrupt("missing fields: summary")),
            Some((t, r)) if t != self.tables.len() as u64 || r != self.rows => {
                return Err(self.corrupt(format!(
                    "its summary says {t} tables and {r} rows, but it holds {} tables and {} rows",
                    self.tables.len(),
                    self.rows
                )));
            }
            Some(_) => {}
        }
        if let Some(c) = self.client.as_deref_mut() {
            let roles: HashSet<String> =
                rows(c, "roles", "SELECT rolname FROM pg_catalog.pg_roles")?
                    .iter()
                    .map(|r| text(r, 0))
                    .collect();
            let (steps, notes) = post_data(&cat, &roles);
            self.run_steps(steps)?;
            self.not_restored.extend(notes);
            // Privileges the target added by itself (its default
            // privileges: Supabase grants new tables to anon and
            // authenticated) are taken back: an object is never more
            // open after a restore than in its backup.
            let steps = self.narrowing(&cat)?;
            self.run_steps(steps)?;
        }
        Ok(Loaded {
            created_at: self.head.created_at.take().unwrap_or_default(),
            source: self
                .head
                .source
                .take()
                .ok_or_else(|| self.corrupt("missing fields: source"))?,
            catalog: cat,
            tables: self.tables,
            rows: self.rows,
            not_restored: self.not_restored,
        })
    }
}

fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// The columns a table's rows carry: all but generated ones.
pub fn data_columns(t: &Table) -> Vec<&str> {
    t.columns
        .iter()
        .filter(|c| c.generated.is_none())
        .map(|c| c.name.as_str())
        .collect()
}

/// A statement of a restore that the server refused; shown as the
/// server's own words.
#[derive(Debug)]
struct Refused(postgres::Error);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_db_error() {
            Some(d) => f.write_str(d.message()),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Why a catalog cannot be followed (the document is corrupt).
#[derive(Debug)]
struct CatalogProblem(String);

impl From<String> for CatalogProblem {
    fn from(s: String) -> CatalogProblem {
        CatalogProblem(s)
    }
}

/// A catalog a restore can follow: every object in a schema it lists,
/// names PostgreSQL can hold, numbers where numbers go, each identity
/// column with one sequence, definitions of the kind their place takes.
fn check_catalog(cat: &Catalog) -> std::result::Result<(), CatalogProblem> {
    let name_ok = |n: &str| !n.is_empty() && n.len() <= 63 && !n.contains('\0');
    let bad_name = |what: &str, n: &str| format!("{what} name '{}' is not valid", shown(n));
    for s in &cat.schemas {
        if !name_ok(s) {
            return Err(CatalogProblem::from(bad_name("a schema", s)));
        }
    }
    let in_schemas = |what: &str, schema: &str, name: &str| {
        if !cat.schemas.iter().any(|s| s == schema) {
            return Err(CatalogProblem::from(format!(
                "{what} {}.{} is in a schema the document does not list",
                shown(schema),
                shown(name)
            )));
        }
        if !name_ok(name) {
            return Err(CatalogProblem::from(bad_name(what, name)));
        }
        Ok(())
    };
    for e in &cat.enums {
        in_schemas("type", &e.schema, &e.name)?;
        if e.labels.iter().any(|l| !name_ok(l)) {
            return Err(CatalogProblem::from(format!(
                "type {}: a label is not valid",
                shown(&e.name)
            )));
        }
    }
    for d in &cat.domains {
        in_schemas("domain", &d.schema, &d.name)?;
        for k in &d.checks {
            if !name_ok(&k.name) || !k.definition.starts_with("CHECK ") {
                return Err(CatalogProblem::from(format!(
                    "domain {}: a check is not valid",
                    shown(&d.name)
                )));
            }
        }
    }
    let number = |v: &str| v.parse::<i64>().is_ok();
    for s in &cat.sequences {
        in_schemas("sequence", &s.schema, &s.name)?;
        let numbers = [&s.start, &s.increment, &s.min, &s.max, &s.cache];
        if !numbers.iter().all(|v| number(v))
            || s.last_value.as_deref().is_some_and(|v| !number(v))
            || !matches!(s.data_type.as_str(), "smallint" | "integer" | "bigint")
        {
            return Err(CatalogProblem::from(format!(
                "sequence {}: its settings are not numbers",
                shown(&s.name)
            )));
        }
        if let Some([schema, table, column]) = &s.owned_by {
            let owner = cat
                .tables
                .iter()
                .find(|t| &t.schema == schema && &t.name == table)
                .and_then(|t| t.columns.iter().find(|c| &c.name == column));
            match owner {
                Some(c) if c.identity.is_some() == s.identity => {}
                _ => {
                    return Err(CatalogProblem::from(format!(
                        "sequence {} belongs to a column the document does not hold",
                        shown(&s.name)
                    )));
                }
            }
        } else if s.identity {
            return Err(CatalogProblem::from(format!(
                "identity sequence {} belongs to no column",
                shown(&s.name)
            )));
        }
    }
    for t in &cat.tables {
        in_schemas("table", &t.schema, &t.name)?;
        for c in &t.columns {
            if !name_ok(&c.name) || c.type_.is_empty() {
                return Err(CatalogProblem::from(format!(
                    "table {}: a column is not valid",
                    shown(&t.name)
                )));
            }
            if let Some(i) = &c.identity {
                let seqs = cat
                    .sequences
                    .iter()
                    .filter(|s| {
                        s.identity
                            && s.owned_by.as_ref().is_some_and(|[a, b, col]| {
                                a == &t.schema && b == &t.name && col == &c.name
                            })
                    })
                    .count();
                if !matches!(i.as_str(), "always" | "by default") || seqs != 1 {
                    return Err(CatalogProblem::from(format!(
                        "table {}: identity column {} is not valid",
                        shown(&t.name),
                        shown(&c.name)
                    )));
                }
            }
        }
        for k in &t.constraints {
            if !name_ok(&k.name) || !matches!(k.kind.as_str(), "p" | "u" | "c" | "f" | "x") {
                return Err(CatalogProblem::from(format!(
                    "table {}: a constraint is not valid",
                    shown(&t.name)
                )));
            }
        }
    }
    for i in &cat.indexes {
        in_schemas("index", &i.schema, &i.name)?;
        let d = &i.definition;
        let on = |rest: &str| {
            let rest = rest.strip_prefix("ONLY ").unwrap_or(rest);
            creates(rest, "", &[&i.schema, &i.table], " ")
        };
        let named = ["CREATE INDEX ", "CREATE UNIQUE INDEX "].iter().any(|p| {
            forms(&[&i.name]).iter().any(|n| {
                d.strip_prefix(p)
                    .and_then(|r| r.strip_prefix(n.as_str()))
                    .and_then(|r| r.strip_prefix(" ON "))
                    .is_some_and(on)
            })
        });
        if !named
            || !cat
                .tables
                .iter()
                .any(|t| t.schema == i.schema && t.name == i.table)
        {
            return Err(CatalogProblem::from(format!(
                "index {} is not valid",
                shown(&i.name)
            )));
        }
    }
    let has_table = |schema: &str, name: &str| {
        cat.tables
            .iter()
            .any(|t| t.schema == schema && t.name == name)
    };
    for v in &cat.views {
        in_schemas("view", &v.schema, &v.name)?;
    }
    // A definition creates the object the catalog says, where it says:
    // never one in another schema (a document replacing `auth.uid()`).
    for f in &cat.functions {
        in_schemas("function", &f.schema, &f.name)?;
        let named = [
            "CREATE OR REPLACE FUNCTION ",
            "CREATE OR REPLACE PROCEDURE ",
        ]
        .iter()
        .any(|p| creates(&f.definition, p, &[&f.schema, &f.name], "("));
        if !named {
            return Err(CatalogProblem::from(format!(
                "function {} is not valid",
                shown(&f.name)
            )));
        }
    }
    for tg in &cat.triggers {
        in_schemas("trigger", &tg.schema, &tg.name)?;
        let d = &tg.definition;
        let named = ["CREATE TRIGGER ", "CREATE CONSTRAINT TRIGGER "]
            .iter()
            .any(|p| creates(d, p, &[&tg.name], " "));
        let on = d
            .split_once(" ON ")
            .is_some_and(|(_, rest)| creates(rest, "", &[&tg.schema, &tg.table], " "));
        if !named
            || !on
            || !matches!(tg.enabled.as_str(), "O" | "D" | "R" | "A")
            || !has_table(&tg.schema, &tg.table)
        {
            return Err(CatalogProblem::from(format!(
                "trigger {} is not valid",
                shown(&tg.name)
            )));
        }
    }
    for p in &cat.policies {
        in_schemas("policy", &p.schema, &p.name)?;
        if !matches!(
            p.command.as_str(),
            "ALL" | "SELECT" | "INSERT" | "UPDATE" | "DELETE"
        ) || p.roles.is_empty()
            || p.roles.iter().any(|r| !name_ok(r))
            || !has_table(&p.schema, &p.table)
        {
            return Err(CatalogProblem::from(format!(
                "policy {} is not valid",
                shown(&p.name)
            )));
        }
    }
    // A grant or a comment is on an object the document holds (its
    // function arguments are those of a function it holds: never a list
    // that would name others).
    let holds = |kind: &str, schema: &str, name: &str, sub: Option<&str>| match kind {
        "SCHEMA" => true,
        "FUNCTION" | "PROCEDURE" => cat
            .functions
            .iter()
            .any(|f| f.schema == schema && f.name == name && f.arguments == sub.unwrap_or("")),
        "SEQUENCE" => cat
            .sequences
            .iter()
            .any(|q| q.schema == schema && q.name == name),
        "TYPE" | "DOMAIN" => {
            cat.enums
                .iter()
                .any(|e| e.schema == schema && e.name == name)
                || cat
                    .domains
                    .iter()
                    .any(|d| d.schema == schema && d.name == name)
        }
        _ => {
            has_table(schema, name)
                || cat
                    .views
                    .iter()
                    .any(|v| v.schema == schema && v.name == name)
        }
    };
    for g in &cat.grants {
        if !holds(&g.kind, &g.schema, &g.name, g.arguments.as_deref()) {
            return Err(CatalogProblem::from(format!(
                "a privilege on {} names an object the document does not hold",
                shown(&g.name)
            )));
        }
        in_schemas(
            "privilege on",
            &g.schema,
            if g.kind == "SCHEMA" {
                &g.schema
            } else {
                &g.name
            },
        )?;
        let privileges = [
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
            "TRUNCATE",
            "REFERENCES",
            "TRIGGER",
            "USAGE",
            "EXECUTE",
            "CREATE",
            "MAINTAIN",
        ];
        if !matches!(
            g.kind.as_str(),
            "TABLE" | "SEQUENCE" | "FUNCTION" | "PROCEDURE" | "SCHEMA"
        ) || !privileges.contains(&g.privilege.as_str())
            || !name_ok(&g.grantee)
        {
            return Err(CatalogProblem::from(format!(
                "a privilege on {} is not valid",
                shown(&g.name)
            )));
        }
    }
    for [schema, name, args] in &cat.owner_only {
        if !holds("FUNCTION", schema, name, Some(args)) {
            return Err(CatalogProblem::from(format!(
                "the privileges of {} name a function the document does not hold",
                shown(name)
            )));
        }
    }
    for c in &cat.comments {
        let sub = match c.kind.as_str() {
            "FUNCTION" | "PROCEDURE" => c.sub.as_deref(),
            _ => None,
        };
        if !holds(&c.kind, &c.schema, &c.name, sub) {
            return Err(CatalogProblem::from(format!(
                "a comment on {} names an object the document does not hold",
                shown(&c.name)
            )));
        }
        in_schemas(
            "comment on",
            &c.schema,
            if c.kind == "SCHEMA" {
                &c.schema
            } else {
                &c.name
            },
        )?;
        if !matches!(
            c.kind.as_str(),
            "SCHEMA"
                | "TABLE"
                | "VIEW"
                | "MATERIALIZED VIEW"
                | "SEQUENCE"
                | "COLUMN"
                | "FUNCTION"
                | "PROCEDURE"
                | "TYPE"
                | "DOMAIN"
        ) || (c.kind == "COLUMN" && !c.sub.as_deref().is_some_and(name_ok))
        {
            return Err(CatalogProblem::from(format!(
                "a comment on {} is not valid",
                shown(&c.name)
            )));
        }
    }
    for x in &cat.extensions {
        if !name_ok(&x.name) || !name_ok(&x.schema) {
            return Err(CatalogProblem::from(format!(
                "extension {} is not valid",
                shown(&x.name)
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for t in &cat.tables {
        if !seen.insert((&t.schema, &t.name)) {
            return Err(CatalogProblem::from(format!(
                "table {} is listed twice",
                shown(&t.name)
            )));
        }
    }
    Ok(())
}

/// Schemas, types, sequences and tables, ready for rows.
/// How the server may write `parts` (a qualified name) in a definition:
/// each part quoted, or bare when bare reads back the same (lower case
/// letters, digits, `_`, `$`).
fn forms(parts: &[&str]) -> Vec<String> {
    let mut out = vec![String::new()];
    for (i, p) in parts.iter().enumerate() {
        let bare = p
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
        let mut spellings = vec![quote_ident(p)];
        if bare {
            spellings.push(p.to_string());
        }
        out = out
            .iter()
            .flat_map(|prefix| {
                spellings.iter().map(move |s| {
                    if i == 0 {
                        s.clone()
                    } else {
                        format!("{prefix}.{s}")
                    }
                })
            })
            .collect();
    }
    out
}

/// Whether `definition` is `prefix` then the name `parts` then `then`.
fn creates(definition: &str, prefix: &str, parts: &[&str], then: &str) -> bool {
    let Some(rest) = definition.strip_prefix(prefix) else {
        return false;
    };
    forms(parts).iter().any(|f| {
        rest.strip_prefix(f.as_str())
            .is_some_and(|r| r.starts_with(then))
    })
}

fn pre_data(cat: &Catalog) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for s in &cat.schemas {
        out.push(Step::Must(
            format!("schema {s}"),
            format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(s)),
        ));
    }
    // Extensions the schemas may use (types, functions in defaults): where
    // the server has them; one it lacks is said.
    for x in &cat.extensions {
        out.push(Step::Optional {
            what: format!("extension {}", x.name),
            sql: format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}",
                quote_ident(&x.name),
                quote_ident(&x.schema)
            ),
            fallback: None,
        });
    }
    for e in &cat.enums {
        let labels: Vec<String> = e.labels.iter().map(|l| literal(l)).collect();
        out.push(Step::Must(
            format!("type {}.{}", e.schema, e.name),
            format!(
                "CREATE TYPE {} AS ENUM ({})",
                qualified(&e.schema, &e.name),
                labels.join(", ")
            ),
        ));
    }
    let options = |s: &super::catalog::Sequence| {
        format!(
            "INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {}{}",
            s.increment,
            s.min,
            s.max,
            s.start,
            s.cache,
            if s.cycle { " CYCLE" } else { " NO CYCLE" }
        )
    };
    for s in cat.sequences.iter().filter(|s| !s.identity) {
        out.push(Step::Must(
            format!("sequence {}.{}", s.schema, s.name),
            format!(
                "CREATE SEQUENCE {} AS {} {}",
                qualified(&s.schema, &s.name),
                s.data_type,
                options(s)
            ),
        ));
    }
    // Functions, domains and tables in an order that may not be the one
    // they depend on each other in (a domain's check calling a function, a
    // function taking a domain or a table's row type, a SQL-standard body
    // reading a table, a default calling such a function): each that
    // fails is tried again once the others are made. Bodies in other
    // languages are not checked now. A function that never can be made is
    // said; a domain or table fails the restore (rows need it).
    for f in &cat.functions {
        out.push(Step::Retry(
            format!("function {}.{}({})", f.schema, f.name, f.arguments),
            f.definition.clone(),
        ));
    }
    for d in &cat.domains {
        let name = qualified(&d.schema, &d.name);
        let mut sql = format!("CREATE DOMAIN {name} AS {}", d.base);
        if let Some(def) = &d.default {
            sql.push_str(&format!(" DEFAULT {def}"));
        }
        if d.not_null {
            sql.push_str(" NOT NULL");
        }
        out.push(Step::Ordered(
            format!("domain {}.{}", d.schema, d.name),
            sql,
        ));
        for k in &d.checks {
            out.push(Step::Ordered(
                format!("check {} of domain {}.{}", k.name, d.schema, d.name),
                format!(
                    "ALTER DOMAIN {name} ADD CONSTRAINT {} {}",
                    quote_ident(&k.name),
                    k.definition
                ),
            ));
        }
    }
    for t in &cat.tables {
        let mut cols = Vec::new();
        for c in &t.columns {
            let mut col = format!("{} {}", quote_ident(&c.name), c.type_);
            if let Some(g) = &c.generated {
                col.push_str(&format!(" GENERATED ALWAYS AS ({g}) STORED"));
            } else if let Some(kind) = &c.identity {
                let seq = cat.sequences.iter().find(|s| {
                    s.identity
                        && s.owned_by.as_ref().is_some_and(|[a, b, col]| {
                            a == &t.schema && b == &t.name && col == &c.name
                        })
                });
                let how = if kind == "always" {
                    "ALWAYS"
                } else {
                    "BY DEFAULT"
                };
                match seq {
                    Some(s) => col.push_str(&format!(
                        " GENERATED {how} AS IDENTITY (SEQUENCE NAME {} {})",
                        qualified(&s.schema, &s.name),
                        options(s)
                    )),
                    None => col.push_str(&format!(" GENERATED {how} AS IDENTITY")),
                }
            } else if let Some(d) = &c.default {
                col.push_str(&format!(" DEFAULT {d}"));
            }
            if c.not_null {
                col.push_str(" NOT NULL");
            }
            cols.push(col);
        }
        out.push(Step::Ordered(
            format!("table {}.{}", t.schema, t.name),
            format!(
                "CREATE {}TABLE {} ({})",
                if t.unlogged { "UNLOGGED " } else { "" },
                qualified(&t.schema, &t.name),
                cols.join(", ")
            ),
        ));
    }
    for s in cat.sequences.iter().filter(|s| !s.identity) {
        if let Some([schema, table, column]) = &s.owned_by {
            out.push(Step::Ordered(
                format!("sequence {}.{}", s.schema, s.name),
                format!(
                    "ALTER SEQUENCE {} OWNED BY {}.{}",
                    qualified(&s.schema, &s.name),
                    qualified(schema, table),
                    quote_ident(column)
                ),
            ));
        }
    }
    out
}

/// Sequence values, constraints and indexes, foreign keys (added
/// `NOT VALID` when rows point at what the target lacks, and said so),
/// then functions with SQL bodies, views, triggers, row-level security
/// and its policies (a policy naming a role the server lacks is said, the
/// rest restored), materialized views filled last.
fn post_data(cat: &Catalog, roles: &HashSet<String>) -> (Vec<Step>, Vec<String>) {
    let mut out: Vec<Step> = Vec::new();
    for s in &cat.sequences {
        if let Some(v) = &s.last_value {
            out.push(Step::Must(
                format!("the value of sequence {}.{}", s.schema, s.name),
                format!(
                    "SELECT pg_catalog.setval({}, {v}, {})",
                    literal(&qualified(&s.schema, &s.name)),
                    s.is_called
                ),
            ));
        }
    }
    let add = |t: &Table, k: &super::catalog::Constraint| {
        format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {}",
            qualified(&t.schema, &t.name),
            quote_ident(&k.name),
            k.definition
        )
    };
    let what = |t: &Table, k: &super::catalog::Constraint| {
        format!("constraint {} on {}.{}", k.name, t.schema, t.name)
    };
    for t in &cat.tables {
        for k in t.constraints.iter().filter(|k| k.kind != "f") {
            out.push(Step::Must(what(t, k), add(t, k)));
        }
    }
    for i in &cat.indexes {
        out.push(Step::Must(
            format!("index {}.{}", i.schema, i.name),
            i.definition.clone(),
        ));
    }
    for t in &cat.tables {
        for k in t.constraints.iter().filter(|k| k.kind == "f") {
            let fallback = (!k.definition.ends_with("NOT VALID")).then(|| {
                (
                    "restored NOT VALID: new rows are checked, existing ones were not".to_string(),
                    format!("{} NOT VALID", add(t, k)),
                )
            });
            out.push(Step::Optional {
                what: format!("foreign key {} on {}.{}", k.name, t.schema, t.name),
                sql: add(t, k),
                fallback,
            });
        }
    }
    for v in &cat.views {
        let name = qualified(&v.schema, &v.name);
        let query = v.query.trim_end().trim_end_matches(';');
        out.push(Step::Retry(
            format!("view {}.{}", v.schema, v.name),
            if v.materialized {
                format!("CREATE MATERIALIZED VIEW {name} AS {query} WITH NO DATA")
            } else {
                format!("CREATE VIEW {name} AS {query}")
            },
        ));
    }
    for tg in &cat.triggers {
        out.push(Step::Retry(
            format!("trigger {} on {}.{}", tg.name, tg.schema, tg.table),
            tg.definition.clone(),
        ));
        let how = match tg.enabled.as_str() {
            "D" => Some("DISABLE TRIGGER"),
            "R" => Some("ENABLE REPLICA TRIGGER"),
            "A" => Some("ENABLE ALWAYS TRIGGER"),
            _ => None,
        };
        if let Some(how) = how {
            out.push(Step::Retry(
                format!("trigger {} on {}.{}", tg.name, tg.schema, tg.table),
                format!(
                    "ALTER TABLE {} {how} {}",
                    qualified(&tg.schema, &tg.table),
                    quote_ident(&tg.name)
                ),
            ));
        }
    }
    for t in &cat.tables {
        let name = qualified(&t.schema, &t.name);
        if t.row_security {
            out.push(Step::Must(
                format!("row-level security of {}.{}", t.schema, t.name),
                format!("ALTER TABLE {name} ENABLE ROW LEVEL SECURITY"),
            ));
        }
        if t.force_row_security {
            out.push(Step::Must(
                format!("row-level security of {}.{}", t.schema, t.name),
                format!("ALTER TABLE {name} FORCE ROW LEVEL SECURITY"),
            ));
        }
    }
    for p in &cat.policies {
        let roles: Vec<String> = p
            .roles
            .iter()
            .map(|r| {
                if r == "public" {
                    "PUBLIC".to_string()
                } else {
                    quote_ident(r)
                }
            })
            .collect();
        let mut sql = format!(
            "CREATE POLICY {} ON {} AS {} FOR {} TO {}",
            quote_ident(&p.name),
            qualified(&p.schema, &p.table),
            if p.permissive {
                "PERMISSIVE"
            } else {
                "RESTRICTIVE"
            },
            p.command,
            roles.join(", ")
        );
        if let Some(u) = &p.using {
            sql.push_str(&format!(" USING ({u})"));
        }
        if let Some(w) = &p.with_check {
            sql.push_str(&format!(" WITH CHECK ({w})"));
        }
        out.push(Step::Optional {
            what: format!("policy {} on {}.{}", p.name, p.schema, p.table),
            sql,
            fallback: None,
        });
    }
    for c in &cat.comments {
        let mut target = format!("{} {}", c.kind, qualified(&c.schema, &c.name));
        match (c.kind.as_str(), &c.sub) {
            ("SCHEMA", _) => target = format!("SCHEMA {}", quote_ident(&c.schema)),
            ("COLUMN", Some(col)) => target.push_str(&format!(".{}", quote_ident(col))),
            ("FUNCTION" | "PROCEDURE", Some(args)) => target.push_str(&format!("({args})")),
            ("FUNCTION" | "PROCEDURE", None) => target.push_str("()"),
            _ => {}
        }
        out.push(Step::Optional {
            what: format!("the comment on {}", target.to_lowercase()),
            sql: format!("COMMENT ON {target} IS {}", literal(&c.text)),
            fallback: None,
        });
    }
    // Grants: to roles this server has; those to roles it lacks are said
    // once per role (roles belong to the server, not to a database).
    let mut missing: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut revoked = HashSet::new();
    for g in &cat.grants {
        let object = match g.kind.as_str() {
            "SCHEMA" => format!("SCHEMA {}", quote_ident(&g.schema)),
            "FUNCTION" | "PROCEDURE" => format!(
                "{} {}({})",
                g.kind,
                qualified(&g.schema, &g.name),
                g.arguments.as_deref().unwrap_or("")
            ),
            kind => format!("{kind} {}", qualified(&g.schema, &g.name)),
        };
        if matches!(g.kind.as_str(), "SCHEMA" | "FUNCTION" | "PROCEDURE")
            && revoked.insert(object.clone())
        {
            // Their defaults grant PUBLIC some privileges: the recorded
            // ones replace them.
            out.push(Step::Optional {
                what: format!("the privileges on {}", object.to_lowercase()),
                sql: format!("REVOKE ALL ON {object} FROM PUBLIC"),
                fallback: None,
            });
        }
        if g.grantee != "public" && !roles.contains(&g.grantee) {
            *missing.entry(g.grantee.as_str()).or_default() += 1;
            continue;
        }
        let grantee = if g.grantee == "public" {
            "PUBLIC".to_string()
        } else {
            quote_ident(&g.grantee)
        };
        out.push(Step::Optional {
            what: format!(
                "{} on {} to {}",
                g.privilege,
                object.to_lowercase(),
                g.grantee
            ),
            sql: format!(
                "GRANT {} ON {object} TO {grantee}{}",
                g.privilege,
                if g.grantable {
                    " WITH GRANT OPTION"
                } else {
                    ""
                }
            ),
            fallback: None,
        });
    }
    // Functions open to nobody but their owner: PUBLIC's default EXECUTE
    // is taken back.
    for [schema, name, args] in &cat.owner_only {
        let object = format!("ROUTINE {}({args})", qualified(schema, name));
        out.push(Step::Optional {
            what: format!("the privileges on function {schema}.{name}({args})"),
            sql: format!("REVOKE ALL ON {object} FROM PUBLIC"),
            fallback: None,
        });
    }
    let notes = missing
        .into_iter()
        .map(|(role, n)| {
            format!(
                "{n} privilege{} granted to role {role}: not restored (this server has no role {role}; create it and grant them again)",
                if n == 1 { "" } else { "s" }
            )
        })
        .collect();
    for v in cat.views.iter().filter(|v| v.materialized) {
        out.push(Step::Retry(
            format!("the rows of materialized view {}.{}", v.schema, v.name),
            format!(
                "REFRESH MATERIALIZED VIEW {}",
                qualified(&v.schema, &v.name)
            ),
        ));
    }
    (out, notes)
}

impl<'de> DeserializeSeed<'de> for &mut Loader<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(DocVisitor(self))
    }
}

struct DocVisitor<'a, 'c, 'p>(&'a mut Loader<'c, 'p>);

impl<'de> Visitor<'de> for DocVisitor<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Nuage backup document (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let l = self.0;
        while let Some(key) = map.next_key::<String>()? {
            let body = match l.head.key(&mut map, &key) {
                Ok(Key::Head) => continue,
                Ok(Key::Body(k)) => k,
                Err(HeadError::Json(e)) => return Err(e),
                Err(HeadError::Refused(e)) => return Err(l.fail(e)),
            };
            match body {
                "postgresql" => {
                    // The catalog is built in memory: its bytes are bounded.
                    let w = &l.window;
                    w.limit.set(Some(w.read.get() + MAX_CATALOG));
                    let cat = map.next_value::<Catalog>();
                    l.window.limit.set(None);
                    let cat = cat?;
                    if let Err(e) = l.start(cat) {
                        return Err(l.fail(e));
                    }
                }
                "tables" => {
                    if l.catalog.is_none() {
                        let e = l.corrupt("its rows come before its catalog");
                        return Err(l.fail(e));
                    }
                    map.next_value_seed(TablesSeed(&mut *l))?
                }
                "summary" => {
                    #[derive(serde::Deserialize)]
                    #[serde(deny_unknown_fields)]
                    struct Summary {
                        tables: u64,
                        rows: u64,
                    }
                    let s: Summary = map.next_value()?;
                    l.summary = Some((s.tables, s.rows));
                }
                _ => unreachable!("key checked against BODY"),
            }
        }
        if !l.head.seen_format {
            let e = Error::InvalidBackup(InvalidBackup::NotABackup(
                l.head.label.clone(),
                "it has no \"format\" field".into(),
            ));
            return Err(l.fail(e));
        }
        Ok(())
    }
}

struct TablesSeed<'a, 'c, 'p>(&'a mut Loader<'c, 'p>);

impl<'de> DeserializeSeed<'de> for TablesSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TablesSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of tables")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while seq.next_element_seed(TableSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct TableSeed<'a, 'c, 'p>(&'a mut Loader<'c, 'p>);

impl<'de> DeserializeSeed<'de> for TableSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TableSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table with its rows")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let l = self.0;
        let cat = l.catalog.as_ref().expect("checked before the tables");
        let Some(table) = cat.tables.get(l.next_table).cloned() else {
            let e = l.corrupt("it holds more tables than its catalog lists");
            return Err(l.fail(e));
        };
        let columns: Vec<String> = data_columns(&table)
            .into_iter()
            .map(str::to_string)
            .collect();
        let name = format!("{}.{}", table.schema, table.name);
        let expect = ["schema", "name", "columns", "rows", "row_count"];
        let mut at = 0;
        let mut count = 0u64;
        while let Some(key) = map.next_key::<String>()? {
            if expect.get(at) != Some(&key.as_str()) {
                let e = l.corrupt(format!(
                    "table {}: unexpected or out-of-order field \"{}\"",
                    shown(&name),
                    shown(&key)
                ));
                return Err(l.fail(e));
            }
            at += 1;
            let mismatch = |l: &mut Loader, what: &str| {
                let e = l.corrupt(format!(
                    "table {} does not match its catalog ({what})",
                    shown(&name)
                ));
                l.fail::<A::Error>(e)
            };
            match key.as_str() {
                "schema" => {
                    if map.next_value::<String>()? != table.schema {
                        return Err(mismatch(l, "schema"));
                    }
                }
                "name" => {
                    if map.next_value::<String>()? != table.name {
                        return Err(mismatch(l, "name"));
                    }
                }
                "columns" => {
                    if map.next_value::<Vec<String>>()? != columns {
                        return Err(mismatch(l, "columns"));
                    }
                }
                "rows" => {
                    count = rows_into(l, &mut map, &table, &columns, &name)?;
                }
                "row_count" => {
                    let said: u64 = map.next_value()?;
                    if said != count {
                        let e = l.corrupt(format!(
                            "table {} holds {count} rows but says {said}",
                            shown(&name)
                        ));
                        return Err(l.fail(e));
                    }
                }
                _ => unreachable!(),
            }
        }
        if at != expect.len() {
            let e = l.corrupt(format!("table {} is incomplete", shown(&name)));
            return Err(l.fail(e));
        }
        l.next_table += 1;
        l.rows += count;
        l.tables.push((name.clone(), count));
        (l.progress)(&name, count);
        Ok(())
    }
}

/// Streams a table's rows into `COPY … FROM STDIN` (or nowhere).
fn rows_into<'de, A: MapAccess<'de>>(
    l: &mut Loader,
    map: &mut A,
    table: &Table,
    columns: &[String],
    name: &str,
) -> std::result::Result<u64, A::Error> {
    let target = qualified(&table.schema, &table.name);
    let mut sink: Box<dyn Write + '_> = match l.client.as_deref_mut() {
        None => Box::new(io::sink()),
        Some(c) => {
            // A table without columns is copied without a column list
            // (an empty one is a syntax error); its rows are empty lines.
            let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
            let sql = if list.is_empty() {
                format!("COPY {target} FROM STDIN")
            } else {
                format!("COPY {target} ({}) FROM STDIN", list.join(", "))
            };
            match c.copy_in(&sql) {
                Ok(w) => Box::new(CopyIn(Some(BufWriter::with_capacity(256 << 10, w)))),
                Err(e) => {
                    let e = failed(&format!("the restore failed writing {target}"), e);
                    let msg = e.to_string();
                    // (Not `l.fail`: `l.client` is borrowed by the match.)
                    l.failure.get_or_insert(e);
                    return Err(de::Error::custom(msg));
                }
            }
        }
    };
    let mut seed = RowsSeed {
        out: &mut *sink,
        width: columns.len(),
        count: 0,
        problem: None,
        progress: &mut *l.progress,
        name,
    };
    let r = map.next_value_seed(&mut seed);
    let (count, problem) = (seed.count, seed.problem.take());
    if let Some(p) = problem {
        drop(sink);
        let e = match p {
            RowProblem::Shape(d) => l.corrupt(format!("table {}: {d}", shown(name))),
            RowProblem::Write(e) => Error::Invalid(format!(
                "the restore failed writing {target}: {}",
                server_words(&e)
            )),
        };
        return Err(l.fail(e));
    }
    r?;
    // Ends the COPY: the server checks the last rows now.
    if let Err(e) = sink.flush() {
        drop(sink);
        let e = Error::Invalid(format!(
            "the restore failed writing {target}: {}",
            server_words(&e)
        ));
        return Err(l.fail(e));
    }
    Ok(count)
}

/// The server's words in an I/O error from a COPY.
fn server_words(e: &io::Error) -> String {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<postgres::Error>())
        .and_then(|p| p.as_db_error())
        .map(|d| {
            let mut m = d.message().to_string();
            if let Some(w) = d.where_() {
                m.push_str(&format!(" ({w})"));
            }
            m
        })
        .unwrap_or_else(|| e.to_string())
}

/// A `COPY … FROM STDIN` in progress: `flush` finishes it (and reports
/// the server's refusal); dropped unfinished, it is abandoned.
struct CopyIn<'c>(Option<BufWriter<postgres::CopyInWriter<'c>>>);

impl Write for CopyIn<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("the copy has ended")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        let Some(w) = self.0.take() else {
            return Ok(());
        };
        let w = w.into_inner().map_err(|e| e.into_error())?;
        w.finish().map(|_| ()).map_err(io::Error::other)
    }
}

enum RowProblem {
    Shape(String),
    Write(io::Error),
}

struct RowsSeed<'a, 'p> {
    out: &'a mut dyn Write,
    width: usize,
    count: u64,
    problem: Option<RowProblem>,
    progress: &'a mut (dyn FnMut(&str, u64) + 'p),
    name: &'a str,
}

impl<'de> DeserializeSeed<'de> for &mut RowsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for &mut RowsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let mut fields: Vec<Option<String>> = Vec::with_capacity(self.width);
        loop {
            fields.clear();
            let mut size = 0usize;
            match seq.next_element_seed(RowSeed {
                fields: &mut fields,
                size: &mut size,
            }) {
                Ok(Some(())) => {}
                Ok(None) => return Ok(()),
                Err(e) => {
                    if size > MAX_ROW {
                        self.problem = Some(RowProblem::Shape(format!(
                            "row {} is over {} MiB",
                            self.count + 1,
                            MAX_ROW >> 20
                        )));
                    }
                    return Err(e);
                }
            }
            if fields.len() != self.width {
                self.problem = Some(RowProblem::Shape(format!(
                    "row {} has {} values for {} columns",
                    self.count + 1,
                    fields.len(),
                    self.width
                )));
                return Err(de::Error::custom("row width"));
            }
            let refs: Vec<Option<&[u8]>> = fields
                .iter()
                .map(|f| f.as_deref().map(str::as_bytes))
                .collect();
            // A table without columns has one empty field per row in COPY.
            let written = if self.width == 0 {
                self.out.write_all(b"\n")
            } else {
                write_row(&mut self.out, &refs)
            };
            if let Err(e) = written {
                self.problem = Some(RowProblem::Write(e));
                return Err(de::Error::custom("write"));
            }
            self.count += 1;
            if self.count.is_multiple_of(100_000) {
                (self.progress)(self.name, self.count);
            }
        }
    }
}

struct RowSeed<'a> {
    fields: &'a mut Vec<Option<String>>,
    size: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row: a list of strings and nulls")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(v) = seq.next_element_seed(FieldSeed { size: self.size })? {
            self.fields.push(v);
        }
        Ok(())
    }
}

/// One value: `null`, a string, or a long one as an array of string
/// chunks (see the writer), whose total counts against the row's bound.
struct FieldSeed<'a> {
    size: &'a mut usize,
}

impl FieldSeed<'_> {
    fn grow<E: de::Error>(&mut self, n: usize) -> std::result::Result<(), E> {
        *self.size += n;
        if *self.size > MAX_ROW {
            return Err(E::custom("row too large"));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value: a string, a list of strings, or null")
    }
    fn visit_unit<E: de::Error>(mut self) -> std::result::Result<Self::Value, E> {
        self.grow(1)?;
        Ok(None)
    }
    fn visit_str<E: de::Error>(mut self, v: &str) -> std::result::Result<Self::Value, E> {
        self.grow(v.len() + 1)?;
        Ok(Some(v.to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(
        mut self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut whole = String::new();
        self.grow(1)?;
        while let Some(chunk) = seq.next_element::<String>()? {
            self.grow(chunk.len())?;
            whole.push_str(&chunk);
        }
        Ok(Some(whole))
    }
}
