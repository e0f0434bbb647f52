//! `nuage-bench`: the benchmark harness's data generator.
//!
//! `nuage-bench generate --size-mb N --out PATH` writes a realistic
//! small-business SQLite database (a car-repair garage): customers, their
//! vehicles, repairs, invoices and invoice lines, appointments, the parts
//! stock and its movements, and attachments (photos and scanned PDFs) that
//! make up about 37% of the file's bytes. The output is deterministic for a
//! given seed and ends in WAL mode, like a live application database.
//!
//! `bench/run.sh` (`make bench`) drives it and runs the comparisons.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, Subcommand};
use rusqlite::{Connection, Statement, params};

#[derive(Parser)]
#[command(
    name = "nuage-bench",
    about = "Benchmark helpers for Nuage: realistic SQLite databases on demand."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a car-repair garage database of about N MB (10^6 bytes).
    Generate {
        /// Target size of the database file, in MB.
        #[arg(long)]
        size_mb: u64,
        /// The database to create; must not exist unless --force.
        #[arg(long)]
        out: PathBuf,
        /// Seed of the pseudo-random generator (same seed, same database).
        #[arg(long, default_value_t = 0x6e75_6167_65)]
        seed: u64,
        /// Replace an existing database at --out.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate {
            size_mb,
            out,
            seed,
            force,
        } => {
            ensure!(size_mb >= 1, "--size-mb must be at least 1");
            prepare_output(&out, force)?;
            let started = Instant::now();
            let summary = generate(&out, size_mb * 1_000_000, seed)
                .with_context(|| format!("generating {}", out.display()))?;
            println!(
                "{}: {} bytes, {} rows, blobs {:.1}% of the file, {:.1} s",
                out.display(),
                summary.file_bytes,
                summary.total_rows(),
                100.0 * summary.blob_bytes as f64 / summary.file_bytes as f64,
                started.elapsed().as_secs_f64()
            );
            for (table, rows) in &summary.rows {
                println!("  {table:<16} {rows:>10}");
            }
        }
    }
    Ok(())
}

/// Refuses to overwrite by accident; with --force removes the database and
/// any `-wal`/`-shm`/`-journal` left next to it.
fn prepare_output(out: &Path, force: bool) -> Result<()> {
    let siblings = ["", "-wal", "-shm", "-journal"].map(|suffix| {
        let mut p = out.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    });
    if !force && siblings.iter().any(|p| p.exists()) {
        bail!(
            "{} already exists; pass --force to replace it",
            out.display()
        );
    }
    for p in &siblings {
        match std::fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
        }
    }
    Ok(())
}

const SCHEMA: &str = r#"
CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    email       TEXT,
    phone       TEXT,
    address     TEXT,
    postcode    TEXT,
    city        TEXT,
    created_at  TEXT NOT NULL,
    notes       TEXT
);
CREATE INDEX customers_last_name ON customers(last_name);

CREATE TABLE vehicles (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers(id),
    plate        TEXT NOT NULL,
    make         TEXT NOT NULL,
    model        TEXT NOT NULL,
    year         INTEGER NOT NULL,
    vin          TEXT NOT NULL,
    fuel         TEXT NOT NULL,
    colour       TEXT,
    mileage_km   INTEGER
);
CREATE INDEX vehicles_customer ON vehicles(customer_id);
CREATE INDEX vehicles_plate ON vehicles(plate);

CREATE TABLE parts (
    id                INTEGER PRIMARY KEY,
    sku               TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    category          TEXT NOT NULL,
    supplier          TEXT NOT NULL,
    unit_cost         REAL NOT NULL,
    unit_price        REAL NOT NULL,
    quantity_on_hand  INTEGER NOT NULL DEFAULT 0,
    reorder_level     INTEGER NOT NULL,
    location          TEXT
);

CREATE TABLE repairs (
    id            INTEGER PRIMARY KEY,
    vehicle_id    INTEGER NOT NULL REFERENCES vehicles(id),
    opened_on     TEXT NOT NULL,
    closed_on     TEXT,
    mileage_km    INTEGER,
    description   TEXT NOT NULL,
    mechanic      TEXT NOT NULL,
    labour_hours  REAL NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status IN ('open', 'in_progress', 'done', 'cancelled')),
    notes         TEXT
);
CREATE INDEX repairs_vehicle ON repairs(vehicle_id);

CREATE TABLE invoices (
    id              INTEGER PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,
    customer_id     INTEGER NOT NULL REFERENCES customers(id),
    repair_id       INTEGER REFERENCES repairs(id),
    issued_on       TEXT NOT NULL,
    due_on          TEXT NOT NULL,
    amount          REAL NOT NULL,
    tax             REAL NOT NULL,
    paid            INTEGER NOT NULL DEFAULT 0 CHECK (paid IN (0, 1)),
    paid_on         TEXT,
    payment_method  TEXT,
    billing_name    TEXT NOT NULL,
    billing_address TEXT,
    notes           TEXT
);
CREATE INDEX invoices_customer ON invoices(customer_id);
CREATE INDEX invoices_repair ON invoices(repair_id);

CREATE TABLE invoice_lines (
    id           INTEGER PRIMARY KEY,
    invoice_id   INTEGER NOT NULL REFERENCES invoices(id),
    part_id      INTEGER REFERENCES parts(id),
    description  TEXT NOT NULL,
    quantity     REAL NOT NULL,
    unit_price   REAL NOT NULL,
    vat_rate     REAL NOT NULL,
    line_total   REAL NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines(invoice_id);
CREATE INDEX invoice_lines_part ON invoice_lines(part_id);

CREATE TABLE appointments (
    id            INTEGER PRIMARY KEY,
    customer_id   INTEGER NOT NULL REFERENCES customers(id),
    vehicle_id    INTEGER REFERENCES vehicles(id),
    starts_at     TEXT NOT NULL,
    duration_min  INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    confirmed     INTEGER NOT NULL DEFAULT 0,
    booked_at     TEXT NOT NULL,
    reminder_sent_at TEXT,
    notes         TEXT
);
CREATE INDEX appointments_customer ON appointments(customer_id);
CREATE INDEX appointments_vehicle ON appointments(vehicle_id);
CREATE INDEX appointments_starts_at ON appointments(starts_at);

CREATE TABLE stock_movements (
    id          INTEGER PRIMARY KEY,
    part_id     INTEGER NOT NULL REFERENCES parts(id),
    moved_at    TEXT NOT NULL,
    delta       INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    invoice_id  INTEGER REFERENCES invoices(id),
    recorded_by TEXT NOT NULL
);
CREATE INDEX stock_movements_part ON stock_movements(part_id);
CREATE INDEX stock_movements_invoice ON stock_movements(invoice_id);

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    repair_id    INTEGER REFERENCES repairs(id),
    invoice_id   INTEGER REFERENCES invoices(id),
    filename     TEXT NOT NULL,
    mime_type    TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL,
    uploaded_at  TEXT NOT NULL,
    data         BLOB NOT NULL
);
CREATE INDEX attachments_repair ON attachments(repair_id);
CREATE INDEX attachments_invoice ON attachments(invoice_id);

-- Every stock movement adjusts the part's quantity on hand.
CREATE TRIGGER stock_movements_apply AFTER INSERT ON stock_movements
BEGIN
    UPDATE parts SET quantity_on_hand = quantity_on_hand + NEW.delta
    WHERE id = NEW.part_id;
END;

CREATE VIEW unpaid_invoices AS
SELECT i.id, i.number, i.issued_on, i.due_on, i.amount + i.tax AS total,
       c.first_name || ' ' || c.last_name AS customer, c.email, c.phone
FROM invoices i JOIN customers c ON c.id = i.customer_id
WHERE i.paid = 0;
"#;

/// Share of the file's bytes held in attachment blobs.
const BLOB_SHARE: f64 = 0.37;
/// Customers generated between two size checks.
const CHECK_EVERY: u64 = 20;
const PAGE_SIZE: u64 = 4096;
const PARTS: i64 = 4000;
const LABOUR_RATE: f64 = 68.0;
const VAT: f64 = 0.20;
/// 2016-01-01 and 2025-10-31, in days since 1970-01-01.
const FIRST_DAY: i64 = 16801;
const LAST_DAY: i64 = 20392;

#[derive(Debug, Default)]
struct Summary {
    file_bytes: u64,
    blob_bytes: u64,
    rows: Vec<(&'static str, u64)>,
}

impl Summary {
    fn total_rows(&self) -> u64 {
        self.rows.iter().map(|(_, n)| n).sum()
    }
}

fn generate(path: &Path, target_bytes: u64, seed: u64) -> Result<Summary> {
    let mut conn = Connection::open(path)?;
    // One big transaction without a journal: the fastest way to load. The
    // file switches to WAL once it is complete.
    conn.execute_batch(&format!(
        "PRAGMA page_size = {PAGE_SIZE};
         PRAGMA journal_mode = OFF;
         PRAGMA synchronous = OFF;
         PRAGMA cache_size = -262144;
         PRAGMA temp_store = MEMORY;"
    ))?;
    conn.execute_batch(SCHEMA)?;
    let tx = conn.transaction()?;
    let mut summary = {
        let mut g = Garage::new(&tx, seed)?;
        g.fill(target_bytes)?;
        g.summary()
    };
    tx.commit()?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    ensure!(mode == "wal", "could not switch to WAL mode (got {mode})");
    summary.file_bytes = db_bytes(&conn)?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(summary)
}

fn db_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

struct Stmts<'c> {
    customer: Statement<'c>,
    vehicle: Statement<'c>,
    part: Statement<'c>,
    repair: Statement<'c>,
    invoice: Statement<'c>,
    line: Statement<'c>,
    appointment: Statement<'c>,
    movement: Statement<'c>,
    attachment: Statement<'c>,
}

impl<'c> Stmts<'c> {
    fn new(c: &'c Connection) -> rusqlite::Result<Stmts<'c>> {
        Ok(Stmts {
            customer: c.prepare(
                "INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?,
            vehicle: c.prepare(
                "INSERT INTO vehicles VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?,
            part: c.prepare(
                "INSERT INTO parts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?,
            repair: c.prepare(
                "INSERT INTO repairs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?,
            invoice: c.prepare(
                "INSERT INTO invoices VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?,
            line: c.prepare("INSERT INTO invoice_lines VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?,
            appointment: c
                .prepare("INSERT INTO appointments VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?,
            movement: c.prepare("INSERT INTO stock_movements VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?,
            attachment: c
                .prepare("INSERT INTO attachments VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?,
        })
    }
}

/// One row count per table, in schema order.
#[derive(Debug, Default)]
struct Counts {
    customers: u64,
    vehicles: u64,
    parts: u64,
    repairs: u64,
    invoices: u64,
    invoice_lines: u64,
    appointments: u64,
    stock_movements: u64,
    attachments: u64,
}

/// What invoice lines need of a part: "SKU name" and the sale price.
struct Part {
    label: String,
    price: f64,
}

struct Garage<'c> {
    conn: &'c Connection,
    st: Stmts<'c>,
    rng: fastrand::Rng,
    n: Counts,
    parts: Vec<Part>,
    blob_bytes: u64,
    blob: Vec<u8>,
    /// The current customer, as printed on invoices.
    billing_name: String,
    billing_address: Option<String>,
}

impl<'c> Garage<'c> {
    fn new(conn: &'c Connection, seed: u64) -> Result<Garage<'c>> {
        Ok(Garage {
            conn,
            st: Stmts::new(conn)?,
            rng: fastrand::Rng::with_seed(seed),
            n: Counts::default(),
            parts: Vec::new(),
            blob_bytes: 0,
            blob: Vec::with_capacity(2 << 20),
            billing_name: String::new(),
            billing_address: None,
        })
    }

    fn summary(&self) -> Summary {
        let n = &self.n;
        Summary {
            file_bytes: 0,
            blob_bytes: self.blob_bytes,
            rows: vec![
                ("customers", n.customers),
                ("vehicles", n.vehicles),
                ("parts", n.parts),
                ("repairs", n.repairs),
                ("invoices", n.invoices),
                ("invoice_lines", n.invoice_lines),
                ("appointments", n.appointments),
                ("stock_movements", n.stock_movements),
                ("attachments", n.attachments),
            ],
        }
    }

    /// Customers with their history, in batches; after each batch, enough
    /// attachments on the batch's repairs to keep blobs at BLOB_SHARE of the
    /// file, until the file reaches `target_bytes`.
    fn fill(&mut self, target_bytes: u64) -> Result<()> {
        self.add_parts()?;
        loop {
            let first_repair = self.n.repairs + 1;
            for _ in 0..CHECK_EVERY {
                self.add_customer()?;
            }
            let size = db_bytes(self.conn)?;
            let other = size.saturating_sub(self.blob_bytes) as f64;
            let mut want = (other * BLOB_SHARE / (1.0 - BLOB_SHARE)) as u64;
            // The first batches are too small to carry an attachment each.
            if self.n.attachments == 0 && size < 4 << 20 {
                want = 0;
            }
            while self.blob_bytes < want {
                let repair = self
                    .rng
                    .u64(first_repair.min(self.n.repairs)..=self.n.repairs);
                self.add_attachment(repair as i64)?;
            }
            if db_bytes(self.conn)? >= target_bytes {
                return Ok(());
            }
        }
    }

    fn add_parts(&mut self) -> Result<()> {
        for id in 1..=PARTS {
            let (prefix, category, names) = self.rng.choice(PART_CATALOGUE).expect("non-empty");
            let item = *self.rng.choice(*names).expect("non-empty");
            let brand = *self.rng.choice(PART_BRANDS).expect("non-empty");
            let name = format!("{item} - {brand}");
            let cost = cents(self.rng.f64().powi(2) * 380.0 + 2.5);
            let price = cents(cost * (1.35 + self.rng.f64() * 0.5));
            let location = format!(
                "{}{}-{:02}",
                self.rng
                    .choice(b"ABCDEFGH".iter())
                    .map(|&b| b as char)
                    .unwrap(),
                self.rng.u8(1..=6),
                self.rng.u8(1..=40)
            );
            let sku = format!("{prefix}-{:06}", id * 7 + 100_000);
            self.st.part.execute(params![
                id,
                sku,
                name,
                category,
                self.rng.choice(SUPPLIERS).unwrap(),
                cost,
                price,
                self.rng.i64(0..60),
                self.rng.i64(2..12),
                location,
            ])?;
            self.parts.push(Part {
                label: format!("{sku} {name}"),
                price,
            });
        }
        self.n.parts = PARTS as u64;
        Ok(())
    }

    fn add_customer(&mut self) -> Result<()> {
        self.n.customers += 1;
        let id = self.n.customers as i64;
        let rng = &mut self.rng;
        let first = *rng.choice(FIRST_NAMES).unwrap();
        let last = *rng.choice(LAST_NAMES).unwrap();
        let since = rng.i64(FIRST_DAY..LAST_DAY - 30);
        let email = (rng.u8(..100) >= 12).then(|| {
            format!(
                "{}{}{}@{}",
                ascii_lower(first),
                rng.choice([".", "_", ""]).unwrap(),
                ascii_lower(last),
                rng.choice(EMAIL_DOMAINS).unwrap()
            )
        });
        let phone = (rng.u8(..100) >= 5).then(|| {
            format!(
                "+33 {} {:02} {:02} {:02} {:02}",
                rng.choice([1, 2, 3, 4, 5, 6, 6, 6, 7, 7, 9]).unwrap(),
                rng.u8(..100),
                rng.u8(..100),
                rng.u8(..100),
                rng.u8(..100)
            )
        });
        let has_address = rng.u8(..100) >= 8;
        let address = has_address.then(|| {
            format!(
                "{} {} {}",
                rng.u16(1..180),
                rng.choice(STREET_KINDS).unwrap(),
                rng.choice(STREET_NAMES).unwrap()
            )
        });
        let (postcode, city) = if has_address {
            let (prefix, city) = rng.choice(CITIES).unwrap();
            (
                Some(format!("{prefix}{:03}", rng.u16(..100) * 10)),
                Some(*city),
            )
        } else {
            (None, None)
        };
        let notes = (rng.u8(..100) < 22).then(|| pick_sentences(rng, CUSTOMER_NOTES, 1, 3));
        self.billing_name = format!("{first} {}", last.to_uppercase());
        self.billing_address = match (&address, &postcode, city) {
            (Some(a), Some(p), Some(c)) => Some(format!("{a}\n{p} {}", c.to_uppercase())),
            _ => None,
        };
        self.st.customer.execute(params![
            id,
            first,
            last,
            email,
            phone,
            address,
            postcode,
            city,
            timestamp(rng, since),
            notes,
        ])?;

        let vehicles = match self.rng.u8(..100) {
            0..55 => 1,
            55..90 => 2,
            _ => 3,
        };
        let mut first_vehicle = 0;
        for v in 0..vehicles {
            let vehicle = self.add_vehicle(id, since)?;
            if v == 0 {
                first_vehicle = vehicle;
            }
        }
        for _ in 0..self.rng.usize(0..=6) {
            self.add_appointment(id, first_vehicle, since)?;
        }
        Ok(())
    }

    fn add_vehicle(&mut self, customer: i64, since: i64) -> Result<i64> {
        self.n.vehicles += 1;
        let id = self.n.vehicles as i64;
        let rng = &mut self.rng;
        let (make, wmi, models) = rng.choice(MAKES).unwrap();
        let model = *rng.choice(*models).unwrap();
        let year = rng.i64(2003..=2025);
        let mut vin = String::with_capacity(17);
        vin.push_str(wmi);
        for _ in 0..14 {
            vin.push(*rng.choice(VIN_CHARS).unwrap() as char);
        }
        let fuel = rng
            .choice([
                "petrol", "petrol", "diesel", "diesel", "hybrid", "electric", "LPG",
            ])
            .unwrap();
        let colour = (rng.u8(..100) >= 10).then(|| *rng.choice(COLOURS).unwrap());
        let mut mileage = ((2026 - year) * rng.i64(6_000..22_000)).max(500);
        self.st.vehicle.execute(params![
            id,
            customer,
            plate(id as u64),
            make,
            model,
            year,
            vin,
            fuel,
            colour,
            (self.rng.u8(..100) >= 15).then_some(mileage),
        ])?;

        // Repairs, oldest first, spread between the customer's first visit
        // and today.
        let repairs = self.rng.usize(1..=7);
        let mut day = since;
        for r in 0..repairs {
            let left = (LAST_DAY - day).max(1);
            day += self.rng.i64(0..=left / (repairs - r) as i64 * 2).min(left);
            mileage += self.rng.i64(800..15_000);
            let recent = LAST_DAY - day < 10;
            self.add_repair(customer, id, day, mileage, recent)?;
        }
        Ok(id)
    }

    fn add_repair(
        &mut self,
        customer: i64,
        vehicle: i64,
        day: i64,
        mileage: i64,
        recent: bool,
    ) -> Result<()> {
        self.n.repairs += 1;
        let id = self.n.repairs as i64;
        let rng = &mut self.rng;
        let status = if recent {
            rng.choice(["open", "in_progress", "done"]).unwrap()
        } else if rng.u8(..100) < 4 {
            "cancelled"
        } else {
            "done"
        };
        let closed = (status == "done" || status == "cancelled").then(|| rng.i64(0..4));
        let mut description = String::with_capacity(256);
        write!(
            description,
            "Customer reports {}. ",
            rng.choice(SYMPTOMS).unwrap()
        )?;
        write!(description, "Found {}. ", rng.choice(FINDINGS).unwrap())?;
        if rng.u8(..100) < 60 {
            write!(
                description,
                "Also found {}. ",
                rng.choice(FINDINGS).unwrap()
            )?;
        }
        write!(description, "{}.", rng.choice(WORK_DONE).unwrap())?;
        let hours = f64::from(rng.u8(1..=28)) * 0.25;
        let notes = (rng.u8(..100) < 45).then(|| pick_sentences(rng, REPAIR_NOTES, 1, 3));
        self.st.repair.execute(params![
            id,
            vehicle,
            date(day),
            closed.map(|c| date(day + c)),
            mileage,
            description,
            self.rng.choice(MECHANICS).unwrap(),
            hours,
            status,
            notes,
        ])?;
        if status == "done" {
            self.add_invoice(customer, id, day + closed.unwrap_or(0), hours)?;
        }
        Ok(())
    }

    fn add_invoice(&mut self, customer: i64, repair: i64, day: i64, hours: f64) -> Result<()> {
        self.n.invoices += 1;
        let id = self.n.invoices as i64;
        // The labour line, then parts (index into `parts`, quantity); the
        // invoice row goes first so that the lines' foreign keys hold.
        let mut lines = vec![(None, hours, LABOUR_RATE)];
        for _ in 0..self.rng.usize(1..=3) {
            let part = self.rng.usize(..self.parts.len());
            let qty = f64::from(self.rng.choice([1u8, 1, 1, 1, 2, 2, 4]).unwrap());
            lines.push((Some(part), qty, self.parts[part].price));
        }
        let mut amount: f64 = lines.iter().map(|&(_, q, p)| cents(q * p)).sum();
        let discount = (self.rng.u8(..100) < 3).then(|| -cents(amount * 0.05));
        amount += discount.unwrap_or(0.0);
        let amount = cents(amount);
        let rng = &mut self.rng;
        let recent = LAST_DAY - day < 45;
        let paid = rng.u8(..100) < if recent { 55 } else { 97 };
        let paid_on = paid.then(|| date(day + rng.i64(0..40)));
        let notes = (rng.u8(..100) < 20).then(|| *rng.choice(INVOICE_NOTES).unwrap());
        let method = paid.then(|| {
            rng.choice(["card", "card", "card", "cash", "transfer", "cheque"])
                .unwrap()
        });
        self.st.invoice.execute(params![
            id,
            format!("F{}-{:07}", 2016 + (day - FIRST_DAY) / 365, id),
            customer,
            repair,
            date(day),
            date(day + 30),
            amount,
            cents(amount * VAT),
            paid,
            paid_on,
            method,
            self.billing_name,
            self.billing_address,
            notes,
        ])?;

        for (part, qty, price) in lines {
            let Some(part) = part else {
                self.add_line(id, None, "Main d'oeuvre atelier", qty, price)?;
                continue;
            };
            let name = std::mem::take(&mut self.parts[part].label);
            let part_id = part as i64 + 1;
            self.add_line(id, Some(part_id), &name, qty, price)?;
            self.parts[part].label = name;
            // About half the parts come from stock; the rest are ordered
            // for the job.
            if self.rng.bool() {
                self.add_movement(part_id, day, -(qty as i64), "sale", Some(id))?;
            }
            // Restock now and then.
            if self.rng.u8(..100) < 12 {
                let qty = self.rng.i64(5..40);
                self.add_movement(part_id, day + 1, qty, "delivery", None)?;
            }
        }
        if let Some(d) = discount {
            self.add_line(id, None, "Remise fidélité 5%", 1.0, d)?;
        }
        Ok(())
    }

    fn add_line(
        &mut self,
        invoice: i64,
        part: Option<i64>,
        description: &str,
        qty: f64,
        unit_price: f64,
    ) -> Result<f64> {
        self.n.invoice_lines += 1;
        let total = cents(qty * unit_price);
        self.st.line.execute(params![
            self.n.invoice_lines as i64,
            invoice,
            part,
            description,
            qty,
            unit_price,
            VAT,
            total
        ])?;
        Ok(total)
    }

    fn add_movement(
        &mut self,
        part: i64,
        day: i64,
        delta: i64,
        reason: &str,
        invoice: Option<i64>,
    ) -> Result<()> {
        self.n.stock_movements += 1;
        let at = timestamp(&mut self.rng, day);
        self.st.movement.execute(params![
            self.n.stock_movements as i64,
            part,
            at,
            delta,
            reason,
            invoice,
            self.rng.choice(MECHANICS).unwrap(),
        ])?;
        Ok(())
    }

    fn add_appointment(&mut self, customer: i64, vehicle: i64, since: i64) -> Result<()> {
        self.n.appointments += 1;
        let rng = &mut self.rng;
        let day = rng.i64(since..=LAST_DAY + 30);
        let starts_at = format!(
            "{}T{:02}:{}:00",
            date(day),
            rng.u8(8..18),
            rng.choice(["00", "15", "30", "45"]).unwrap()
        );
        let notes = (rng.u8(..100) < 15).then(|| pick_sentences(rng, APPOINTMENT_NOTES, 1, 1));
        let booked = day - rng.i64(0..30);
        let booked_at = timestamp(rng, booked);
        let reminder = (rng.u8(..100) < 60).then(|| timestamp(rng, day - 1));
        self.st.appointment.execute(params![
            self.n.appointments as i64,
            customer,
            (self.rng.u8(..100) >= 7).then_some(vehicle),
            starts_at,
            self.rng.choice([30, 45, 60, 60, 90, 120, 240]).unwrap(),
            self.rng.choice(SYMPTOMS).unwrap(),
            self.rng.u8(..100) < 80,
            booked_at,
            reminder,
            notes,
        ])?;
        Ok(())
    }

    /// A photo of the repair (most), a scanned PDF (quote, invoice,
    /// inspection report) or now and then a plain-text diagnostic log.
    fn add_attachment(&mut self, repair: i64) -> Result<()> {
        self.n.attachments += 1;
        let id = self.n.attachments as i64;
        let rng = &mut self.rng;
        let kind = rng.u8(..100);
        let size = match kind {
            0..3 => rng.usize(20_000..100_000),
            _ if rng.u8(..100) < 5 => rng.usize(500_000..=2_000_000),
            // Log-uniform between 20 KB and 500 KB.
            _ => (20_000.0 * 25f64.powf(rng.f64())) as usize,
        };
        let day = rng.i64(FIRST_DAY..=LAST_DAY);
        let (filename, mime) = match kind {
            0..3 => {
                fill_text(rng, &mut self.blob, size);
                (format!("diag-{id:06}.txt"), "text/plain")
            }
            3..85 => {
                fill_jpeg(rng, &mut self.blob, size);
                let d = date(day).replace('-', "");
                (
                    format!("IMG_{d}_{:06}.jpg", rng.u32(..1_000_000)),
                    "image/jpeg",
                )
            }
            _ => {
                fill_pdf(rng, &mut self.blob, size);
                let what = rng.choice(["devis", "facture", "controle-technique", "expertise"]);
                (format!("{}-{id:06}.pdf", what.unwrap()), "application/pdf")
            }
        };
        // Photos belong to the repair; documents sometimes to its invoice.
        let invoice: Option<i64> = (mime == "application/pdf" && rng.bool())
            .then(|| {
                self.conn.query_row(
                    "SELECT id FROM invoices WHERE repair_id = ?1",
                    [repair],
                    |r| r.get(0),
                )
            })
            .transpose()
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        let uploaded_at = timestamp(&mut self.rng, day);
        self.st.attachment.execute(params![
            id,
            invoice.is_none().then_some(repair),
            invoice,
            filename,
            mime,
            self.blob.len() as i64,
            uploaded_at,
            self.blob.as_slice(),
        ])?;
        self.blob_bytes += self.blob.len() as u64;
        Ok(())
    }
}

/// Random bytes behind a JFIF header, ending with the end-of-image marker:
/// as incompressible as a real JPEG.
fn fill_jpeg(rng: &mut fastrand::Rng, buf: &mut Vec<u8>, size: usize) {
    const HEADER: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00,
        0x48, 0x00, 0x48, 0x00, 0x00, 0xFF, 0xDB, 0x00, 0x43, 0x00,
    ];
    buf.clear();
    buf.extend_from_slice(HEADER);
    let start = buf.len();
    buf.resize(size.max(start + 2), 0);
    let end = buf.len() - 2;
    rng.fill(&mut buf[start..end]);
    buf[end..].copy_from_slice(&[0xFF, 0xD9]);
}

/// A small PDF skeleton around one compressed (here: random) stream.
fn fill_pdf(rng: &mut fastrand::Rng, buf: &mut Vec<u8>, size: usize) {
    const HEAD: &[u8] = b"%PDF-1.5\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n4 0 obj\n<< /Filter /FlateDecode >>\nstream\n";
    const TAIL: &[u8] = b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R /Size 5 >>\n%%EOF\n";
    buf.clear();
    buf.extend_from_slice(HEAD);
    let start = buf.len();
    let body = size.saturating_sub(HEAD.len() + TAIL.len()).max(16);
    buf.resize(start + body, 0);
    rng.fill(&mut buf[start..]);
    buf.extend_from_slice(TAIL);
}

/// An OBD diagnostic log: compressible text, as some attachments are.
fn fill_text(rng: &mut fastrand::Rng, buf: &mut Vec<u8>, size: usize) {
    buf.clear();
    let mut t = 0u32;
    while buf.len() < size {
        t += rng.u32(1..500);
        let (code, what) = rng.choice(DTC).unwrap();
        let line = format!(
            "{:>8}ms {code} {what}; rpm={} coolant={}C load={}%\n",
            t,
            rng.u32(650..4500),
            rng.u8(20..105),
            rng.u8(5..95)
        );
        buf.extend_from_slice(line.as_bytes());
    }
    buf.truncate(size);
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Civil date of a day number (days since 1970-01-01), as `YYYY-MM-DD`.
fn date(day: i64) -> String {
    // Howard Hinnant's days_from_civil, inverted.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A time during opening hours on `day`, as ISO 8601 text.
fn timestamp(rng: &mut fastrand::Rng, day: i64) -> String {
    format!(
        "{} {:02}:{:02}:{:02}",
        date(day),
        rng.u8(8..19),
        rng.u8(..60),
        rng.u8(..60)
    )
}

/// A French registration plate (AB-123-CD), unique per vehicle id: the id
/// is scrambled by a multiplication that is a bijection modulo the number
/// of plates.
fn plate(id: u64) -> String {
    const PLATES: u64 = 999 * 26 * 26 * 26 * 26;
    let mut n = id.wrapping_mul(2_654_435_761) % PLATES;
    let num = n % 999 + 1;
    n /= 999;
    let mut l = [0u8; 4];
    for c in &mut l {
        *c = b'A' + (n % 26) as u8;
        n /= 26;
    }
    format!(
        "{}{}-{num:03}-{}{}",
        l[0] as char, l[1] as char, l[2] as char, l[3] as char
    )
}

fn ascii_lower(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' | 'É' => Some('e'),
            'à' | 'â' => Some('a'),
            'ç' => Some('c'),
            'î' | 'ï' => Some('i'),
            'ô' => Some('o'),
            'ù' | 'û' | 'ü' => Some('u'),
            '-' | '\'' | ' ' => None,
            c => Some(c.to_ascii_lowercase()),
        })
        .collect()
}

fn pick_sentences(rng: &mut fastrand::Rng, from: &[&str], min: usize, max: usize) -> String {
    let mut s = String::new();
    for i in 0..rng.usize(min..=max) {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(rng.choice(from).unwrap());
    }
    s
}

const FIRST_NAMES: &[&str] = &[
    "Jean",
    "Marie",
    "Pierre",
    "Sophie",
    "Luc",
    "Camille",
    "Nicolas",
    "Julie",
    "Thomas",
    "Léa",
    "François",
    "Chloé",
    "Antoine",
    "Manon",
    "Hélène",
    "Mathieu",
    "Inès",
    "Karim",
    "Fatima",
    "Yasmine",
    "Hugo",
    "Emma",
    "Louis",
    "Zoé",
    "Céline",
    "Olivier",
    "Nathalie",
    "Stéphane",
    "Isabelle",
    "Sébastien",
    "Aurélie",
    "Jérôme",
    "Élodie",
    "Mehdi",
    "Sarah",
    "Paul",
    "Anaïs",
    "Théo",
    "Margaux",
    "Bruno",
    "Sandrine",
    "Patrick",
    "Christine",
    "Rémi",
    "Laure",
    "Amine",
    "Noémie",
    "Gaëlle",
    "Joël",
    "Agnès",
];

const LAST_NAMES: &[&str] = &[
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Lefebvre",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
    "Garnier",
    "Faure",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Henry",
    "Roussel",
    "Nicolas",
    "Perrin",
    "Morin",
    "Mathieu",
    "Clément",
    "Gauthier",
    "Dumont",
    "Lopez",
    "Fontaine",
    "Chevalier",
    "Robin",
    "Benali",
    "Haddad",
    "Nguyen",
    "Da Silva",
    "Ferreira",
    "Le Gall",
    "Le Goff",
    "Kerbrat",
    "Bouvier",
    "Châtelain",
];

const EMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "orange.fr",
    "free.fr",
    "hotmail.fr",
    "yahoo.fr",
    "laposte.net",
    "sfr.fr",
    "outlook.com",
    "wanadoo.fr",
    "icloud.com",
];

const STREET_KINDS: &[&str] = &[
    "rue",
    "rue",
    "rue",
    "avenue",
    "boulevard",
    "chemin",
    "allée",
    "impasse",
    "place",
    "route",
];

const STREET_NAMES: &[&str] = &[
    "de la République",
    "Victor Hugo",
    "Jean Jaurès",
    "des Lilas",
    "du Moulin",
    "de la Gare",
    "Pasteur",
    "des Écoles",
    "du Général de Gaulle",
    "de Verdun",
    "Gambetta",
    "des Tilleuls",
    "de l'Église",
    "du Château",
    "des Acacias",
    "Émile Zola",
    "de la Paix",
    "du Stade",
    "des Vignes",
    "Saint-Martin",
];

const CITIES: &[(&str, &str)] = &[
    ("69", "Lyon"),
    ("69", "Villeurbanne"),
    ("69", "Vénissieux"),
    ("69", "Caluire-et-Cuire"),
    ("69", "Bron"),
    ("69", "Écully"),
    ("38", "Vienne"),
    ("01", "Miribel"),
    ("69", "Givors"),
    ("69", "Oullins"),
    ("69", "Tassin-la-Demi-Lune"),
    ("69", "Saint-Priest"),
];

const CUSTOMER_NOTES: &[&str] = &[
    "Prefers to be called after 17h.",
    "Fleet customer, invoice monthly.",
    "Always asks for the old parts back.",
    "Pays by transfer only.",
    "Loyal customer since the previous owner.",
    "Needs a courtesy car for longer repairs.",
    "Send reminders by SMS, not email.",
    "Disputed an invoice in the past; get written approval for quotes.",
    "Works nights, drop-off before 8h.",
    "Has two more cars serviced elsewhere.",
    "Retired, flexible with appointments.",
    "Company car: invoices to the employer's address.",
];

const MAKES: &[(&str, &str, &[&str])] = &[
    (
        "Renault",
        "VF1",
        &[
            "Clio", "Mégane", "Captur", "Scénic", "Kangoo", "Twingo", "Zoé",
        ],
    ),
    (
        "Peugeot",
        "VF3",
        &["208", "308", "2008", "3008", "Partner", "Expert", "5008"],
    ),
    (
        "Citroën",
        "VF7",
        &["C3", "C4", "Berlingo", "C5 Aircross", "Jumpy", "C1"],
    ),
    ("Dacia", "UU1", &["Sandero", "Duster", "Logan", "Spring"]),
    (
        "Volkswagen",
        "WVW",
        &["Golf", "Polo", "Tiguan", "Passat", "T-Roc"],
    ),
    (
        "Toyota",
        "JTD",
        &["Yaris", "Corolla", "C-HR", "RAV4", "Aygo"],
    ),
    (
        "Ford",
        "WF0",
        &["Fiesta", "Focus", "Kuga", "Transit", "Puma"],
    ),
    ("Fiat", "ZFA", &["500", "Panda", "Tipo", "Doblo"]),
    ("BMW", "WBA", &["Série 1", "Série 3", "X1", "X3"]),
    ("Opel", "W0L", &["Corsa", "Astra", "Mokka", "Vivaro"]),
    ("Tesla", "5YJ", &["Model 3", "Model Y"]),
];

const VIN_CHARS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";

const COLOURS: &[&str] = &[
    "blanc", "gris", "noir", "bleu", "rouge", "argent", "vert", "beige", "orange",
];

const MECHANICS: &[&str] = &[
    "Alain R.",
    "Bastien M.",
    "Didier L.",
    "Farid B.",
    "Kévin T.",
    "Yannick P.",
];

const SYMPTOMS: &[&str] = &[
    "a grinding noise when braking",
    "the engine warning light on the dashboard",
    "difficulty starting in the morning",
    "vibrations at motorway speed",
    "the air conditioning blowing warm air",
    "a burning smell after long drives",
    "the car pulling to the left",
    "a squeal from the engine bay on cold starts",
    "high fuel consumption",
    "an oil leak under the car",
    "the gearbox jumping out of second gear",
    "a flat battery twice this week",
    "the annual service being due",
    "the technical inspection (contrôle technique) next month",
    "a knocking noise over speed bumps",
    "the clutch slipping when accelerating",
    "smoke from the exhaust",
    "the windscreen wipers not working",
    "a tyre losing pressure",
    "the heater not warming up",
];

const FINDINGS: &[&str] = &[
    "front brake pads worn to 2 mm and discs scored",
    "a faulty lambda sensor (code P0130)",
    "a weak battery, 9.8 V under load",
    "unbalanced front wheels and a bent rim",
    "a refrigerant leak at the condenser",
    "oil dripping onto the exhaust from the rocker cover gasket",
    "worn tie rod ends on both sides",
    "a cracked auxiliary belt and a noisy tensioner",
    "a clogged air filter and dirty injectors",
    "the sump plug seal perished",
    "synchro wear in the gearbox",
    "a parasitic drain from the aftermarket alarm",
    "nothing abnormal apart from routine wear",
    "worn rear shock absorbers and a broken coil spring",
    "a clutch worn beyond the service limit",
    "a failed EGR valve stuck open",
    "a blown fuse and a corroded wiper motor connector",
    "a nail in the rear right tyre",
    "an air lock in the cooling system and a sticking thermostat",
    "a cracked DPF sensor pipe",
];

const WORK_DONE: &[&str] = &[
    "Replaced parts, road tested, no fault codes after repair",
    "Quote sent to the customer before starting, approved by phone",
    "Work done as quoted, customer informed of the next service date",
    "Test drive with the customer, issue confirmed resolved",
    "Parts ordered, vehicle kept overnight",
    "Fault codes cleared, to monitor at the next visit",
];

const REPAIR_NOTES: &[&str] = &[
    "Customer waiting on site.",
    "Courtesy car lent (Clio, AB-123-CD).",
    "Warranty claim filed with the manufacturer.",
    "Rear tyres at 3 mm, advise replacement soon.",
    "Old parts returned to the customer.",
    "Second opinion requested by the insurer.",
    "Key left in the key box.",
    "Quote valid 30 days.",
];

const INVOICE_NOTES: &[&str] = &[
    "Paiement à réception de facture.",
    "Pris en charge par l'assurance (dossier en cours).",
    "Garantie pièces et main d'oeuvre 12 mois.",
    "Acompte de 30% versé à la commande.",
    "Facture adressée à l'employeur.",
    "Pénalités de retard : 3 fois le taux d'intérêt légal.",
];

const APPOINTMENT_NOTES: &[&str] = &[
    "Will bring the service book.",
    "Call when the car is ready.",
    "Drop-off the evening before.",
    "Needs a replacement vehicle.",
    "Confirm by SMS the day before.",
];

const PART_BRANDS: &[&str] = &[
    "Bosch",
    "Valeo",
    "Brembo",
    "Febi",
    "Mann-Filter",
    "NGK",
    "Monroe",
    "SKF",
    "TRW",
    "Michelin",
    "Continental",
    "Castrol",
    "Total",
    "OEM",
];

const SUPPLIERS: &[&str] = &[
    "Autodistribution",
    "Groupauto",
    "Oscaro Pro",
    "Partner Pièces",
    "Alliance Automotive",
];

const PART_CATALOGUE: &[(&str, &str, &[&str])] = &[
    (
        "BRK",
        "brakes",
        &[
            "Front brake pad set",
            "Rear brake pad set",
            "Front brake disc",
            "Rear brake drum",
            "Brake fluid DOT4 1L",
            "Brake caliper",
        ],
    ),
    (
        "FLT",
        "filters",
        &[
            "Oil filter",
            "Air filter",
            "Cabin filter",
            "Fuel filter",
            "Particulate filter",
        ],
    ),
    (
        "ENG",
        "engine",
        &[
            "Timing belt kit",
            "Water pump",
            "Spark plug",
            "Glow plug",
            "Auxiliary belt",
            "Thermostat",
            "Lambda sensor",
            "EGR valve",
        ],
    ),
    (
        "SUS",
        "suspension",
        &[
            "Front shock absorber",
            "Rear shock absorber",
            "Coil spring",
            "Tie rod end",
            "Wishbone",
            "Wheel bearing",
        ],
    ),
    (
        "ELE",
        "electrical",
        &[
            "Battery 70Ah",
            "Alternator",
            "Starter motor",
            "Headlight bulb H7",
            "Wiper blade set",
            "Fuse assortment",
        ],
    ),
    (
        "FLU",
        "fluids",
        &[
            "Engine oil 5W30 5L",
            "Coolant 5L",
            "AdBlue 10L",
            "Screen wash 5L",
            "A/C refrigerant R1234yf",
        ],
    ),
    (
        "TYR",
        "tyres",
        &[
            "Tyre 205/55 R16",
            "Tyre 195/65 R15",
            "Tyre 225/45 R17",
            "Valve stem",
            "Puncture repair kit",
        ],
    ),
    (
        "CLU",
        "transmission",
        &[
            "Clutch kit",
            "Dual-mass flywheel",
            "Drive shaft",
            "CV joint boot",
            "Gearbox oil 75W80 1L",
        ],
    ),
];

const DTC: &[(&str, &str)] = &[
    ("P0420", "Catalyst system efficiency below threshold"),
    ("P0130", "O2 sensor circuit malfunction bank 1 sensor 1"),
    ("P0300", "Random/multiple cylinder misfire detected"),
    ("P0401", "EGR flow insufficient"),
    ("P0171", "System too lean bank 1"),
    ("P2002", "Particulate filter efficiency below threshold"),
    ("P0562", "System voltage low"),
    ("OK", "No fault"),
    ("OK", "No fault"),
    ("OK", "No fault"),
];
