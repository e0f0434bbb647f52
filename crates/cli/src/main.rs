//! `nuage`: the command-line face of the engine, for people and scripts.
//! Errors end here as `anyhow` with the engine's message; exit code 1 for
//! any failure, 2 for usage errors (clap).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod systemd;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use nuage_engine::{
    Action, BackupRef, Cancel, DestinationConfig, Engine, Event, Location, RunOutcome, Schedule,
    Service, UploadState,
};

#[derive(Parser)]
#[command(
    name = "nuage",
    version,
    about = "Keeps application databases safe: consistent snapshots, verified local copies, exact restores."
)]
struct Cli {
    /// Nuage's data folder (default: the platform data folder).
    #[arg(long, global = true, env = "NUAGE_HOME")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register, list, remove and configure sources.
    #[command(subcommand)]
    Source(SourceCmd),
    /// Show or set when backups run (`nuage run` follows it).
    Schedule {
        /// Back up every N minutes.
        #[arg(long, conflicts_with_all = ["daily", "off"])]
        every: Option<u32>,
        /// Back up once a day at this local time (HH:MM).
        #[arg(long, conflicts_with = "off")]
        daily: Option<String>,
        /// No scheduled backups.
        #[arg(long)]
        off: bool,
        /// Run a restore drill (`nuage verify`, plus one older point in
        /// turn) every DAYS days while `nuage run` or the app runs.
        #[arg(long, value_name = "DAYS", conflicts_with = "verify_off")]
        verify_every: Option<u32>,
        /// No scheduled restore drills.
        #[arg(long)]
        verify_off: bool,
    },
    /// Back up sources now (all when none is named).
    Backup {
        names: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Prove backups restorable: restore the newest point of each source
    /// (every point with --all) from each place it is kept into a scratch
    /// target, check it against what was recorded, and heal a bad copy
    /// from a good one. Exit 0 only when everything was proven.
    Verify {
        names: Vec<String>,
        /// Every restore point, not only each source's newest.
        #[arg(long)]
        all: bool,
        /// Download the destination's copy and restore it too, even when
        /// the local copy is good.
        #[arg(long)]
        remote: bool,
        #[arg(long)]
        json: bool,
    },
    /// List restore points, newest first.
    List {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Restore a restore point or backup file: into its source (after a
    /// safety copy), or as a new file with --to.
    Restore {
        point: String,
        /// A new database file, or a postgresql:// connection string of an
        /// empty database.
        #[arg(long)]
        to: Option<PathBuf>,
        /// PostgreSQL: read the password of --to from standard input.
        #[arg(long, requires = "to")]
        password_stdin: bool,
        /// Replace an existing file at --to.
        #[arg(long)]
        force: bool,
        /// Do not ask before replacing the source database.
        #[arg(long)]
        yes: bool,
        /// Folder sources: restore only this file or subfolder (relative
        /// to the folder, as `nuage list` shows); repeat for several.
        #[arg(long = "path", value_name = "SUBPATH")]
        paths: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup file (.json or .json.zst) as a new database.
    Import {
        file: PathBuf,
        /// A new database file, or a postgresql:// connection string of an
        /// empty database.
        #[arg(long)]
        to: PathBuf,
        /// PostgreSQL: read the password of --to from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write a restore point to a file: plain JSON, or zstd if FILE ends in .zst.
    Export {
        point: String,
        file: PathBuf,
        /// Replace an existing FILE.
        #[arg(long)]
        force: bool,
    },
    /// Where backups are copied besides the local store.
    #[command(subcommand)]
    Destination(DestinationCmd),
    /// Tell a person by email or webhook when something needs them (a
    /// failed backup, a sign-in, a full destination…) and when it is solved.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Sign in to a Microsoft account (device code), or with --app as an
    /// app registration (client secret read from standard input).
    Login {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        client_id: Option<String>,
        /// App-only sign-in for an unattended machine.
        #[arg(long, requires_all = ["tenant", "client_id"])]
        app: bool,
    },
    /// Forget the Microsoft sign-in (backups keep landing locally).
    Logout,
    /// The signed-in account, its drive type and quota.
    Whoami {
        #[arg(long)]
        json: bool,
    },
    /// Sources, their last backups, the schedule, recent runs.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Run the scheduler in the foreground until interrupted.
    Run,
    /// Run `nuage run` as a systemd service (at boot or login), for a
    /// server or a shared office PC.
    #[command(subcommand)]
    Service(ServiceCmd),
}

#[derive(Subcommand)]
enum DestinationCmd {
    /// A local or network folder (NAS, USB disk): one subfolder per source.
    Folder { path: PathBuf },
    /// A OneDrive/SharePoint folder: a path in your drive (created when
    /// missing), or a folder's sharing link. Sign in first with `nuage login`.
    #[command(name = "onedrive")]
    OneDrive {
        #[arg(
            long,
            conflicts_with = "share_link",
            required_unless_present = "share_link"
        )]
        folder: Option<String>,
        #[arg(long)]
        share_link: Option<String>,
    },
    /// An S3-compatible bucket (Cloudflare R2, AWS S3, Backblaze B2,
    /// Wasabi, MinIO). The secret access key is read from standard input
    /// and kept in the keychain. Every step a backup needs is tried first.
    S3 {
        /// The provider's address, https://HOST[:PORT] (not with
        /// --r2-account or --aws-region).
        #[arg(long, required_unless_present_any = ["r2_account", "aws_region"])]
        endpoint: Option<String>,
        /// Cloudflare R2: the account id (endpoint
        /// https://ACCOUNT.r2.cloudflarestorage.com, region auto).
        #[arg(long, conflicts_with_all = ["endpoint", "aws_region"])]
        r2_account: Option<String>,
        /// AWS S3 in this region (endpoint https://s3.REGION.amazonaws.com).
        #[arg(long, conflicts_with_all = ["endpoint", "r2_account"])]
        aws_region: Option<String>,
        #[arg(long)]
        bucket: String,
        /// Folders go below this in the bucket.
        #[arg(long, default_value = "")]
        prefix: String,
        /// The signing region of a custom endpoint (us-east-1 unless said).
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        access_key_id: String,
        /// Read the secret access key from standard input (required).
        #[arg(long, required = true)]
        secret_stdin: bool,
        /// https://bucket.endpoint/key instead of https://endpoint/bucket/key
        /// (the default for AWS; path style for any other endpoint).
        #[arg(long)]
        virtual_host: bool,
        /// S3 Object Lock: keep each copy undeletable this many days (set it
        /// to the retention). Said and left off where the bucket has none.
        #[arg(long, value_name = "DAYS")]
        object_lock: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Try the S3 destination again, step by step (write, read back,
    /// list, delete, Object Lock).
    Test {
        #[arg(long)]
        json: bool,
    },
    /// The current destination.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Keep backups locally only.
    Remove,
}

#[derive(Subcommand)]
enum ServiceCmd {
    /// Write the systemd unit and start it now and at every boot (as root)
    /// or login (--user).
    Install {
        #[arg(long)]
        user: bool,
    },
    /// Whether the service is installed, enabled and running.
    Status {
        #[arg(long)]
        user: bool,
    },
    /// Stop the service and remove its unit.
    Uninstall {
        #[arg(long)]
        user: bool,
    },
    /// Print the unit `install` would write (to review it, or to package
    /// it: `make deb` ships the one for /usr/bin/nuage).
    Unit {
        #[arg(long)]
        user: bool,
        /// The nuage program the unit runs (this one by default).
        #[arg(long, value_name = "PATH")]
        exe: Option<PathBuf>,
        /// Work on the default home of whoever runs the unit, not this one.
        #[arg(long)]
        default_home: bool,
    },
}

#[derive(Subcommand)]
enum AlertsCmd {
    /// Send alerts by email over SMTP (the password is kept in the keychain).
    Email {
        /// The mail server: smtp://HOST[:PORT] (STARTTLS with --starttls,
        /// port 587 by default) or smtps://HOST[:PORT] (TLS, 465).
        #[arg(long, value_name = "URL")]
        smtp: String,
        /// On smtp://: switch to TLS with STARTTLS before signing in.
        #[arg(long)]
        starttls: bool,
        #[arg(long, value_name = "ADDR")]
        from: String,
        /// Recipients, separated by commas.
        #[arg(
            long,
            value_name = "ADDR[,ADDR…]",
            value_delimiter = ',',
            required = true
        )]
        to: Vec<String>,
        #[arg(long, requires = "password_stdin")]
        user: Option<String>,
        /// Read the mail password from standard input.
        #[arg(long, requires = "user")]
        password_stdin: bool,
        #[arg(long, value_enum, default_value = "failure")]
        on: On,
        /// The language of the messages (default: this session's).
        #[arg(long, value_parser = ["en", "fr", "pt"])]
        lang: Option<String>,
    },
    /// Send alerts to a webhook (its URL carries its token: it is kept in
    /// the keychain and never shown). `-` reads the URL from standard input.
    Webhook {
        url: String,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        #[arg(long, value_enum, default_value = "failure")]
        on: On,
        #[arg(long, value_parser = ["en", "fr", "pt"])]
        lang: Option<String>,
    },
    /// What is set, the problems told of and the messages waiting.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Send a test message on every channel now and say what failed.
    Test {
        #[arg(long)]
        json: bool,
    },
    /// Stop sending alerts (one channel, or all).
    Remove {
        #[arg(value_parser = ["email", "webhook"])]
        channel: Option<String>,
    },
}

/// When alerts are sent.
#[derive(Clone, Copy, clap::ValueEnum)]
enum On {
    /// Problems and their recoveries.
    Failure,
    /// Also a daily report.
    Always,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Json,
    Teams,
    Slack,
}

#[derive(Subcommand)]
enum SourceCmd {
    /// Register a source: a SQLite database file, or a PostgreSQL
    /// database by its connection string (postgresql://USER[:PASSWORD]@HOST[:PORT]/DB).
    Add {
        /// A database file, or a postgresql:// connection string.
        #[arg(required_unless_present = "folder", conflicts_with = "folder")]
        location: Option<String>,
        /// A folder of files (JSON documents, clips, exports), kept as
        /// themselves at the destination.
        #[arg(long, value_name = "DIR")]
        folder: Option<PathBuf>,
        /// Folder: leave out what matches (a name at any depth, `*.tmp`,
        /// or a path from the folder, `cache/**`); repeat for several.
        #[arg(long, value_name = "GLOB", requires = "folder")]
        exclude: Vec<String>,
        /// Folder: back up only what matches; repeat for several.
        #[arg(long, value_name = "GLOB", requires = "folder")]
        include: Vec<String>,
        /// Folder: keep a local copy of its files (and their earlier
        /// versions) up to SIZE, newest first, for a fast restore (`2GB`,
        /// `500MiB`; `0` for none). Default: 1 GiB while no destination is
        /// set, none with one (the destination keeps earlier versions).
        #[arg(long, value_name = "SIZE", requires = "folder", value_parser = parse_bytes)]
        local_copy: Option<u64>,
        #[arg(long)]
        name: Option<String>,
        /// PostgreSQL: a schema to back up (repeat for several). Without
        /// it, every schema but the system's and the hosting platform's.
        #[arg(long = "schema")]
        schemas: Vec<String>,
        /// PostgreSQL: read the password from standard input (it is kept
        /// in the keychain, never in a file).
        #[arg(long)]
        password_stdin: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Rename a source; its restore points, history and copies follow it.
    Rename { name: String, new_name: String },
    /// Unregister a source (its restore points are kept).
    Remove { name: String },
    /// Set a source's retention.
    Set {
        name: String,
        /// Keep at least the newest N copies.
        #[arg(long)]
        keep_last: Option<u32>,
        /// Keep copies younger than D days.
        #[arg(long)]
        keep_days: Option<u32>,
        /// A folder's local copy of its files: up to SIZE (`2GB`; `0` for
        /// none), or `default`.
        #[arg(long, value_name = "SIZE|default", value_parser = parse_cap)]
        local_copy: Option<Cap>,
    },
}

/// A size given on the command line, in bytes.
fn parse_bytes(s: &str) -> Result<u64> {
    parse_size::parse_size(s.trim())
        .map_err(|e| anyhow!("{e}: give a size such as 500MB, 2GB or 0"))
}

/// A local copy's cap, or the default.
#[derive(Clone, Copy)]
enum Cap {
    Default,
    Bytes(u64),
}

fn parse_cap(s: &str) -> Result<Cap> {
    if s.trim().eq_ignore_ascii_case("default") {
        return Ok(Cap::Default);
    }
    parse_bytes(s).map(Cap::Bytes)
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("NUAGE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    // `run` and `login` stop gracefully on a signal; every other command
    // is stopped at once, without leaving a temporary file behind.
    if !matches!(cli.command, Command::Run | Command::Login { .. }) {
        remove_temporaries_on_signal();
    }
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            if let Some(hint) = e.downcast_ref::<nuage_engine::Error>().and_then(cli_hint) {
                eprintln!("hint: {hint}");
            }
            std::process::exit(1);
        }
    }
}

/// On SIGINT, SIGTERM or SIGHUP: removes this process's temporary files
/// (a database being restored beside its target holds plaintext rows) and
/// exits as the signal would have. A kill -9 cannot be caught: the next
/// start sweeps what it left.
fn remove_temporaries_on_signal() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let n = nuage_engine::temporaries::remove_own();
            if n > 0 {
                eprintln!("nuage: interrupted; removed {n} temporary file(s)");
            }
            std::process::exit(128 + sig);
        }
    });
}

/// The engine says what happened and what to do in words for any front
/// end; this adds how to do it with this one's commands and flags.
fn cli_hint(e: &nuage_engine::Error) -> Option<&'static str> {
    use nuage_engine::{Error, ErrorCode, SourceProblem};
    Some(match e {
        Error::UnknownSource(_) => "`nuage source list` shows the registered sources.",
        Error::UnknownRestorePoint(_) => "`nuage list` shows the restore points.",
        Error::TargetExists(_) => "pass --force to replace it.",
        Error::Source {
            problem: SourceProblem::Missing(_),
            ..
        } => "`nuage source remove NAME` unregisters a source (its restore points stay).",
        Error::Destination {
            code: ErrorCode::SignInRequired,
            ..
        } => "`nuage login` signs in (`--client-id ID` names the app registration).",
        _ => return None,
    })
}

fn open(home: Option<PathBuf>) -> Result<Engine> {
    let home = match home {
        Some(h) => h,
        None => nuage_engine::default_home()?,
    };
    // The one place the CLI reads the NUAGE_* variables.
    Ok(Engine::open_with(&home, nuage_engine::Config::from_env())?)
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

use nuage_engine::human_bytes;

/// A spinner on a terminal; nothing when stderr is piped or with --json.
struct Spinner {
    bar: Option<ProgressBar>,
}

impl Spinner {
    fn new(enabled: bool) -> Spinner {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .expect("valid template"),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Spinner { bar }
    }
    fn on(&self, e: &Event) {
        let Some(bar) = &self.bar else { return };
        match e {
            Event::SourceStarted { source } => bar.set_message(format!("{source}: starting")),
            Event::SnapshotProgress {
                source,
                table,
                rows,
            } => bar.set_message(format!("{source}: {table} ({rows} rows)")),
            Event::RestoreProgress { table, rows } => {
                bar.set_message(format!("restoring {table} ({rows} rows)"))
            }
            Event::UploadProgress {
                source,
                bytes,
                total,
                bytes_per_sec,
                eta_secs,
                ..
            } => bar.set_message(upload_line(
                source,
                *bytes,
                *total,
                *bytes_per_sec,
                *eta_secs,
            )),
            Event::SourceFinished { outcome } => bar.println(describe_outcome(outcome)),
            _ => {}
        }
    }
    fn done(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// "clips: uploading 1.2 GB of 3.0 GB, 25.0 MB/s, 1 min 12 s left".
fn upload_line(source: &str, bytes: u64, total: u64, rate: u64, eta: Option<u64>) -> String {
    let mut line = format!(
        "{source}: uploading {} of {}",
        human_bytes(bytes),
        human_bytes(total)
    );
    if rate > 0 {
        line.push_str(&format!(", {}/s", human_bytes(rate)));
    }
    if let Some(s) = eta {
        line.push_str(&match s {
            0..60 => format!(", {s} s left"),
            60..3600 => format!(", {} min {} s left", s / 60, s % 60),
            _ => format!(", {} h {} min left", s / 3600, (s % 3600) / 60),
        });
    }
    line
}

fn describe_outcome(o: &nuage_engine::SourceOutcome) -> String {
    let local = describe_local(o);
    match &o.upload {
        Some(u) if u.state == UploadState::Verified && !u.uploaded.is_empty() => {
            format!("{local}; uploaded and verified at the destination")
        }
        Some(u) if u.state != UploadState::Verified => format!(
            "{local}; upload pending (kept locally, retried at the next run): {}",
            u.error.as_deref().unwrap_or("unknown error")
        ),
        _ => local,
    }
}

/// What a restore point holds, as its kind counts it: a folder's files and
/// bytes, a database's tables and rows.
fn held(kind: nuage_engine::SourceKind, tables: u64, rows: u64) -> String {
    let s = |n: u64| if n == 1 { "" } else { "s" };
    if kind == nuage_engine::SourceKind::Folder {
        format!("{tables} file{}, {}", s(tables), human_bytes(rows))
    } else {
        format!("{tables} table{}, {rows} row{}", s(tables), s(rows))
    }
}

fn describe_local(o: &nuage_engine::SourceOutcome) -> String {
    match o.status {
        RunOutcome::BackedUp if o.kind == nuage_engine::SourceKind::Folder => format!(
            "{}: backed up as {} ({})",
            o.source,
            o.id.as_deref().unwrap_or("?"),
            held(o.kind, o.tables.unwrap_or(0), o.rows.unwrap_or(0))
        ),
        RunOutcome::BackedUp => format!(
            "{}: backed up as {} ({}, {})",
            o.source,
            o.id.as_deref().unwrap_or("?"),
            human_bytes(o.size_bytes.unwrap_or(0)),
            held(o.kind, o.tables.unwrap_or(0), o.rows.unwrap_or(0))
        ),
        RunOutcome::Unchanged => format!(
            "{}: unchanged since {}, no new copy",
            o.source,
            o.id.as_deref().unwrap_or("?")
        ),
        RunOutcome::Failed => format!(
            "{}: FAILED: {}",
            o.source,
            o.error.as_deref().unwrap_or("unknown error")
        ),
    }
}

fn run(cli: Cli) -> Result<i32> {
    let engine = open(cli.home)?;
    match cli.command {
        Command::Source(cmd) => source_cmd(&engine, cmd)?,
        Command::Schedule {
            every,
            daily,
            off,
            verify_every,
            verify_off,
        } => {
            if verify_off {
                engine.set_verify_every(None)?;
            } else if let Some(d) = verify_every {
                engine.set_verify_every(Some(d))?;
            }
            let s = if off {
                Some(Schedule::Off)
            } else if let Some(n) = every {
                Some(Schedule::every(n)?)
            } else if let Some(t) = daily {
                Some(Schedule::daily(&t)?)
            } else {
                None
            };
            if let Some(s) = s {
                engine.set_schedule(s)?;
            }
            println!("schedule: {}", engine.schedule()?.describe());
            match engine.verify_every()? {
                Some(1) => println!("restore drills: every day"),
                Some(d) => println!("restore drills: every {d} days"),
                None => println!("restore drills: off"),
            }
        }
        Command::Backup { names, json } => {
            let progress = Spinner::new(!json);
            let outcomes = engine.backup(&names, &mut |e| progress.on(&e))?;
            progress.done();
            // A failure (or its recovery) reaches whoever the alerts name.
            if let Err(e) = engine.check_alerts() {
                tracing::warn!("alerts: {e}");
            }
            let failed = outcomes.iter().any(|o| o.status == RunOutcome::Failed);
            let pending = outcomes.iter().any(|o| {
                o.upload
                    .as_ref()
                    .is_some_and(|u| u.state != UploadState::Verified)
            });
            if json {
                print_json(&outcomes)?;
            } else if progress.bar.is_none() {
                for o in outcomes.iter().filter(|o| o.status != RunOutcome::Failed) {
                    println!("{}", describe_outcome(o));
                }
            }
            // Failures always reach stderr, so `nuage backup >/dev/null` in
            // cron still reports them (the progress bar already printed them).
            if json || progress.bar.is_none() {
                for o in outcomes.iter().filter(|o| o.status == RunOutcome::Failed) {
                    eprintln!("{}", describe_outcome(o));
                }
            }
            if pending && !json {
                eprintln!(
                    "warning: some copies are kept locally only for now; `nuage backup` retries the upload."
                );
            }
            if outcomes.is_empty() && !json {
                println!("no sources to back up. Add one with `nuage source add PATH`.");
            }
            // 1: a source failed; 3: everything is backed up locally but an
            // upload is still pending.
            return Ok(if failed {
                1
            } else if pending {
                3
            } else {
                0
            });
        }
        Command::List { name, json } => {
            let (points, problem) = engine.all_restore_points(name.as_deref())?;
            if let Some(n) = name.as_ref().filter(|_| points.is_empty()) {
                // A removed source still lists its restore points; an unknown name is an error.
                if !engine.sources()?.iter().any(|s| &s.name == n) {
                    bail!(nuage_engine::Error::UnknownSource(n.clone()));
                }
            }
            if let Some(e) = problem {
                eprintln!("warning: showing local restore points only: {e}");
            }
            if json {
                print_json(&points)?;
            } else if points.is_empty() {
                println!("no restore points yet. Run `nuage backup`.");
            } else {
                let folders: std::collections::HashSet<String> = engine
                    .sources()?
                    .into_iter()
                    .filter(|s| s.kind == nuage_engine::SourceKind::Folder)
                    .map(|s| s.name)
                    .collect();
                println!(
                    "{:<24} {:<14} {:<25} {:>10} {:>7} {:>9}  WHERE",
                    "ID", "SOURCE", "CREATED", "SIZE", "TABLES", "ROWS"
                );
                for p in &points {
                    // Points found only at the destination have no counts here.
                    let (tables, rows) = if p.created_at.is_empty() || p.checksum.is_empty() {
                        ("-".to_string(), "-".to_string())
                    } else if folders.contains(&p.source) {
                        // A folder: its files and their bytes.
                        (format!("{} f", p.tables), human_bytes(p.rows))
                    } else {
                        (p.tables.to_string(), p.rows.to_string())
                    };
                    let changes = p
                        .changes
                        .map(|c| {
                            format!(
                                "; since the previous point: {} added, {} changed, {} removed, {} moved",
                                c.added, c.changed, c.removed, c.moved
                            )
                        })
                        .unwrap_or_default();
                    let proven = p
                        .proven
                        .as_ref()
                        .map(|pr| {
                            format!(
                                "; proven restorable from {} at {}",
                                if pr.place == "local" {
                                    "the local copy"
                                } else {
                                    "the destination"
                                },
                                pr.at
                            )
                        })
                        .unwrap_or_default();
                    let missing = p
                        .missing_files
                        .map(|n| {
                            format!(
                                "; NOT RESTORABLE WHOLE: no copy of {n} file(s) as they were is kept (set a destination, or a larger local copy for this folder)"
                            )
                        })
                        .unwrap_or_default();
                    let place = match (p.location, p.upload) {
                        (Location::Both, _) => "local + destination",
                        (Location::Remote, _) => "destination only",
                        (Location::Local, Some(UploadState::Pending)) => "local (upload pending)",
                        (Location::Local, _) => "local",
                        (Location::Missing, _) => {
                            "MISSING (local copy gone, none at the destination)"
                        }
                    };
                    println!(
                        "{:<24} {:<14} {:<25} {:>10} {:>7} {:>9}  {place}{changes}{missing}{proven}",
                        p.id,
                        p.source,
                        p.created_at,
                        human_bytes(p.size_bytes),
                        tables,
                        rows
                    );
                }
            }
        }
        Command::Alerts(cmd) => return alerts_cmd(&engine, cmd),
        Command::Service(cmd) => {
            let said = match cmd {
                ServiceCmd::Install { user } => {
                    systemd::install(engine.home(), &systemd::Scope { user })?
                }
                ServiceCmd::Status { user } => systemd::status(&systemd::Scope { user })?,
                ServiceCmd::Uninstall { user } => systemd::uninstall(&systemd::Scope { user })?,
                ServiceCmd::Unit {
                    user,
                    exe,
                    default_home,
                } => {
                    let exe = match exe {
                        Some(e) => e,
                        None => std::env::current_exe()
                            .context("the path of this nuage program cannot be found")?,
                    };
                    let home = (!default_home).then(|| engine.home());
                    let unit = systemd::unit(&exe, home, &systemd::Scope { user }, None);
                    print!("{unit}");
                    return Ok(0);
                }
            };
            println!("{said}");
        }
        Command::Verify {
            names,
            all,
            remote,
            json,
        } => {
            let reports = engine.verify(
                &names,
                nuage_engine::DrillOptions {
                    all,
                    remote,
                    rotate: false,
                },
                &mut |_| {},
            )?;
            // A failed drill (or its healing) reaches whoever the alerts name.
            if let Err(e) = engine.check_alerts() {
                tracing::warn!("alerts: {e}");
            }
            if json {
                print_json(&reports)?;
            } else {
                if reports.is_empty() {
                    println!("nothing to verify: no restore points yet.");
                }
                for r in &reports {
                    let place = if r.place == "local" {
                        "the local copy".to_string()
                    } else {
                        "the destination".to_string()
                    };
                    if let Some(h) = &r.healed {
                        eprintln!(
                            "{} {}: {place} was bad ({}); healed: {h}",
                            r.source,
                            r.point,
                            r.problem.as_deref().unwrap_or("")
                        );
                    }
                    if r.ok {
                        let held = held(r.kind, r.tables, r.rows);
                        println!(
                            "{} {}: proven restorable from {place} ({held})",
                            r.source, r.point
                        );
                        if let Some(note) = &r.note {
                            println!("  {note}");
                        }
                    } else {
                        eprintln!(
                            "{} {}: NOT proven restorable from {place}: {}",
                            r.source,
                            r.point,
                            r.problem.as_deref().unwrap_or("unknown error")
                        );
                    }
                }
            }
            return Ok(if reports.iter().all(|r| r.ok) { 0 } else { 1 });
        }
        Command::Destination(cmd) => match cmd {
            DestinationCmd::Folder { path } => {
                let config = DestinationConfig::Folder {
                    path: std::path::absolute(&path)?,
                };
                engine.set_destination(Some(&config))?;
                println!("backups will also be copied to {}", config.key());
            }
            DestinationCmd::OneDrive { folder, share_link } => {
                let config = match (folder, share_link) {
                    (_, Some(link)) => engine.use_share_link(&link)?,
                    (Some(f), None) => engine.use_onedrive_folder(&f)?,
                    (None, None) => unreachable!("clap requires one"),
                };
                println!("backups will also be uploaded to {}", config.key());
            }
            DestinationCmd::S3 {
                endpoint,
                r2_account,
                aws_region,
                bucket,
                prefix,
                region,
                access_key_id,
                secret_stdin: _,
                virtual_host,
                object_lock,
                json,
            } => {
                let at = match (endpoint, r2_account, aws_region) {
                    (_, Some(account), _) => nuage_engine::S3Where::R2 { account },
                    (_, _, Some(region)) => nuage_engine::S3Where::Aws { region },
                    (Some(endpoint), None, None) => nuage_engine::S3Where::Custom {
                        endpoint,
                        region,
                        virtual_host,
                    },
                    (None, None, None) => unreachable!("clap requires one"),
                };
                let settings = nuage_engine::S3Form {
                    at,
                    bucket,
                    prefix,
                    access_key_id,
                    lock_days: object_lock,
                }
                .settings()?;
                let secret = read_secret("S3 secret access key")?;
                let probe = engine.set_s3_destination(&settings, &secret)?;
                print_probe(&probe, json)?;
            }
            DestinationCmd::Test { json } => {
                let probe = engine.test_s3_destination()?;
                print_probe(&probe, json)?;
            }
            DestinationCmd::Show { json } => {
                let config = engine.destination()?;
                if json {
                    print_json(&config)?;
                } else {
                    match config {
                        Some(DestinationConfig::S3(s)) => println!(
                            "{} ({} addressing{})",
                            s.label(),
                            if s.path_style { "path" } else { "virtual-host" },
                            s.lock_days
                                .map(|d| format!(", Object Lock {d} days"))
                                .unwrap_or_default()
                        ),
                        Some(c) => println!("{}", c.key()),
                        None => println!(
                            "no destination: backups are kept locally only. Set one with `nuage destination folder PATH`."
                        ),
                    }
                }
            }
            DestinationCmd::Remove => {
                engine.set_destination(None)?;
                println!(
                    "no destination: backups are kept locally only (copies already made elsewhere are left there)."
                );
            }
        },
        Command::Restore {
            point,
            to,
            password_stdin,
            force,
            yes,
            paths,
            json,
        } => {
            let to = to.map(|t| with_password(t, password_stdin)).transpose()?;
            let r = engine.resolve(&point)?;
            let progress = Spinner::new(!json);
            let report = match to {
                Some(to) => engine.restore_paths_to(
                    &r,
                    &to,
                    &paths,
                    force,
                    &mut |e| progress.on(&e),
                    &Cancel::default(),
                ),
                None => {
                    let source = engine.source_of(&r)?;
                    if !yes {
                        confirm(&format!(
                            "Replace the contents of {} (source '{}') with {}? Its current contents are kept as a restore point first.",
                            source.path.display(),
                            source.name,
                            describe_ref(&r)
                        ))?;
                    }
                    engine.restore_paths_in_place(
                        &r,
                        &paths,
                        &mut |e| progress.on(&e),
                        &Cancel::default(),
                    )
                }
            };
            progress.done();
            report_restore(&report?, json)?;
        }
        Command::Import {
            file,
            to,
            password_stdin,
            force,
            json,
        } => {
            let to = with_password(to, password_stdin)?;
            let progress = Spinner::new(!json);
            let report = engine.restore_to(
                &BackupRef::File(file),
                &to,
                force,
                &mut |e| progress.on(&e),
                &Cancel::default(),
            );
            progress.done();
            report_restore(&report?, json)?;
        }
        Command::Export { point, file, force } => {
            let BackupRef::Point(p) = engine.resolve(&point)? else {
                bail!(
                    "'{point}' is a file, not a restore point. Run `nuage list` to see restore points."
                );
            };
            let n = engine.export(&p, &file, force)?;
            println!(
                "exported {} to {} ({})",
                p.id,
                file.display(),
                human_bytes(n)
            );
        }
        Command::Login {
            tenant,
            client_id,
            app,
        } => {
            let reg = engine.app_registration(client_id.as_deref(), tenant.as_deref())?;
            let account = if app {
                let mut secret = String::new();
                if std::io::stdin().is_terminal() {
                    eprint!("client secret: ");
                }
                std::io::stdin().read_line(&mut secret)?;
                let secret = secret.trim();
                if secret.is_empty() {
                    bail!(
                        "no client secret on standard input. Pipe it in, e.g. `nuage login --app ... < secret.txt`."
                    );
                }
                engine.sign_in_app(&reg, &nuage_graph::types::Secret::new(secret))?
            } else {
                let flow = engine.start_sign_in(&reg)?;
                if flow.message.is_empty() {
                    eprintln!(
                        "To sign in, open {} and enter the code {}",
                        flow.verification_uri, flow.user_code
                    );
                } else {
                    eprintln!("{}", flow.message);
                }
                let cancel = Arc::new(AtomicBool::new(false));
                signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&cancel))?;
                engine.finish_sign_in(&flow, &reg, &cancel)?
            };
            println!("signed in as {}", account.name);
            if let Some(w) = engine.token_store_warning()? {
                eprintln!("warning: {w}");
            }
        }
        Command::Logout => {
            engine.sign_out()?;
            println!("signed out; backups keep landing locally. Sign in again with `nuage login`.");
        }
        Command::Whoami { json } => {
            let a = engine.whoami()?;
            if json {
                print_json(&a)?;
            } else {
                println!("{}", a.name);
                if let Some(t) = &a.drive_type {
                    println!("drive: {t}");
                }
                if let (Some(used), Some(total)) = (a.quota_used, a.quota_total) {
                    println!(
                        "quota: {} of {} used",
                        human_bytes(used),
                        human_bytes(total)
                    );
                }
            }
        }
        Command::Status { json } => {
            // The same state model the tray shows (no run in progress here).
            let st = engine.status()?;
            let overview = engine.overview_of(st.clone(), None)?;
            if json {
                print_json(&StatusJson {
                    overview: &overview,
                    home: &st.home,
                    last_runs: &st.last_runs,
                })?;
            } else {
                println!("state: {}", overview.summary);
                if let Some(p) = &overview.problem {
                    println!("{}", p.message);
                    println!("to fix: {}", action_hint(p.action));
                }
                println!("home: {}", st.home.display());
                println!("schedule: {}", st.schedule.describe());
                if let Some(d) = &st.destination {
                    println!("destination: {d}");
                }
                if st.sources.is_empty() {
                    println!("no sources. Add one with `nuage source add PATH`.");
                }
                for s in &st.sources {
                    match &s.last_backup {
                        Some(p) => println!(
                            "{}: last backup {} ({}{}), {} restore points",
                            s.name,
                            ago(&p.created_at),
                            // A folder's point is its manifest: its own
                            // size says nothing of the files.
                            if s.kind == nuage_engine::SourceKind::Folder {
                                String::new()
                            } else {
                                format!("{}, ", human_bytes(p.size_bytes))
                            },
                            held(s.kind, p.tables, p.rows),
                            s.restore_points
                        ),
                        None => println!("{}: never backed up ({})", s.name, s.path.display()),
                    }
                }
                if let Some(r) = st
                    .last_runs
                    .iter()
                    .find(|r| r.outcome == RunOutcome::Failed)
                {
                    println!(
                        "last failure: {} at {}: {}",
                        r.source,
                        r.finished_at,
                        r.error.as_deref().unwrap_or("")
                    );
                }
            }
        }
        Command::Run => return run_scheduler(&engine),
    }
    Ok(0)
}

/// `nuage status --json`: the overview (state, summary, problem, setup
/// steps, sources) plus the home and the last runs.
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    overview: &'a nuage_engine::Overview,
    home: &'a std::path::Path,
    last_runs: &'a [nuage_engine::RunRecord],
}

/// The CLI's words for the action that fixes a problem.
fn action_hint(action: Action) -> &'static str {
    match action {
        Action::SignIn => "sign in again: `nuage login`",
        Action::UnlockKeychain => {
            "unlock the system keychain (log in to the desktop session, or start gnome-keyring), or set NUAGE_TOKEN_STORE=file"
        }
        Action::Retry => "run `nuage backup` again",
        Action::Resume => "resume scheduled backups from the app (Pause/Resume)",
        Action::ChooseFolder => {
            "choose where copies go: `nuage destination onedrive --folder PATH`, `nuage destination s3 …` or `nuage destination folder PATH`"
        }
        Action::AddSource => "add a database: `nuage source add PATH`",
        Action::CheckSource => "check the source's file, or `nuage source remove NAME`",
        Action::FreeSpace => "free some disk space, then `nuage backup`",
        Action::CheckClock => "set the computer's date and time (e.g. `timedatectl`)",
    }
}

fn source_cmd(engine: &Engine, cmd: SourceCmd) -> Result<()> {
    match cmd {
        SourceCmd::Add {
            location: None,
            folder: Some(folder),
            exclude,
            include,
            local_copy,
            name,
            schemas,
            password_stdin,
        } => {
            if password_stdin || !schemas.is_empty() {
                bail!("--schema and --password-stdin are for PostgreSQL sources, not folders.");
            }
            if !folder.is_dir() {
                bail!(
                    "{} is not a folder. Check the path (for a database file, give it without --folder).",
                    folder.display()
                );
            }
            let options = nuage_engine::SourceOptions {
                exclude,
                include,
                paths: Vec::new(),
                local_copy,
            };
            let (s, check) = engine.add_source_with(
                &folder.to_string_lossy(),
                name.as_deref(),
                None,
                &options,
            )?;
            println!("added source '{}' ({})", s.name, s.path.display());
            if let Some(f) = check.folder {
                println!(
                    "folder: {} files ({}), {} links",
                    f.files,
                    human_bytes(check.size_bytes),
                    f.links
                );
                for skipped in &f.skipped {
                    println!("skipped: {skipped}");
                }
            }
        }
        SourceCmd::Add {
            location,
            name,
            schemas,
            password_stdin,
            ..
        } => {
            let location = location.expect("clap requires a location without --folder");
            let is_database =
                nuage_engine::source_kind_of(&location) == nuage_engine::SourceKind::Postgresql;
            if !is_database && (password_stdin || !schemas.is_empty()) {
                bail!(
                    "--schema and --password-stdin are for PostgreSQL sources; {location} is a file path."
                );
            }
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let location = with_schemas(&location, &schemas)?;
            let (s, check) =
                engine.add_source_at(&location, name.as_deref(), password.as_deref())?;
            println!("added source '{}' ({})", s.name, s.path.display());
            if let Some(pg) = check.postgresql {
                println!(
                    "PostgreSQL {}: backs up {} ({} tables, {})",
                    pg.server_version,
                    pg.schemas.join(", "),
                    check.tables,
                    human_bytes(check.size_bytes)
                );
                if !pg.left_out.is_empty() {
                    println!("left out: {}", pg.left_out.join(", "));
                }
                for n in &pg.not_included {
                    println!("not included (Nuage does not capture it): {n}");
                }
                for r in &pg.references {
                    println!(
                        "note: {} points at {}, in schema '{}', which is not backed up: a restore needs it to exist there (or add the source again with --schema for it).",
                        r.from, r.to, r.to_schema
                    );
                }
            }
        }
        SourceCmd::List { json } => {
            let sources = engine.sources()?;
            if json {
                print_json(&sources)?;
            } else if sources.is_empty() {
                println!("no sources. Add one with `nuage source add PATH`.");
            } else {
                for s in sources {
                    let keep = match (s.keep_last, s.keep_days) {
                        (None, None) => "keep 30 days, at least 3".to_string(),
                        (l, d) => format!(
                            "keep {}{}",
                            l.map(|n| format!("last {n}")).unwrap_or_default(),
                            d.map(|d| format!(" {d} days")).unwrap_or_default()
                        ),
                    };
                    println!("{}\t{}\t{}", s.name, s.path.display(), keep);
                }
            }
        }
        SourceCmd::Rename { name, new_name } => {
            let s = engine.rename_source(&name, &new_name)?;
            let remote = if engine.destination()?.is_some() {
                "; its copies at the destination move at the next run"
            } else {
                ""
            };
            println!("renamed source '{name}' to '{}'{remote}.", s.name);
        }
        SourceCmd::Remove { name } => {
            engine.remove_source(&name)?;
            println!(
                "removed source '{name}'; its restore points are kept (see `nuage list {name}`)."
            );
        }
        SourceCmd::Set {
            name,
            keep_last,
            keep_days,
            local_copy,
        } => {
            if keep_last.is_none() && keep_days.is_none() && local_copy.is_none() {
                bail!(
                    "nothing to set: give --keep-last N, --keep-days D and/or --local-copy SIZE."
                );
            }
            if keep_last.is_some() || keep_days.is_some() {
                engine.set_retention(&name, keep_last, keep_days)?;
                println!("updated retention of '{name}'");
            }
            if let Some(cap) = local_copy {
                engine.set_local_copy(
                    &name,
                    match cap {
                        Cap::Default => None,
                        Cap::Bytes(n) => Some(n),
                    },
                )?;
                match cap {
                    Cap::Bytes(0) => println!("'{name}' keeps no local copy of its files"),
                    Cap::Bytes(n) => println!(
                        "'{name}' keeps a local copy of its files up to {}",
                        human_bytes(n)
                    ),
                    Cap::Default => println!("'{name}' keeps the default local copy of its files"),
                }
            }
        }
    }
    Ok(())
}

fn alerts_cmd(engine: &Engine, cmd: AlertsCmd) -> Result<i32> {
    use nuage_engine::{AlertOn, Lang, WebhookFormat};
    let on = |o: On| match o {
        On::Failure => AlertOn::Failure,
        On::Always => AlertOn::Always,
    };
    let lang = |l: Option<String>| {
        l.as_deref()
            .and_then(Lang::parse)
            .or(Some(Lang::from_env()))
    };
    match cmd {
        AlertsCmd::Email {
            smtp,
            starttls,
            from,
            to,
            user,
            password_stdin,
            on: when,
            lang: l,
        } => {
            let password = if password_stdin {
                Some(read_secret("mail password")?)
            } else {
                None
            };
            let to: Vec<String> = to
                .into_iter()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
            let n = to.len();
            engine.set_email_alerts(
                nuage_engine::EmailAlerts {
                    server: smtp,
                    starttls,
                    from,
                    to,
                    user,
                    on: on(when),
                },
                password.as_deref(),
                lang(l),
            )?;
            println!(
                "alerts will be emailed to {n} address(es); send a test with `nuage alerts test`"
            );
        }
        AlertsCmd::Webhook {
            url,
            format,
            on: when,
            lang: l,
        } => {
            let url = if url == "-" {
                read_secret("webhook URL")?
            } else {
                url
            };
            let format = match format {
                Format::Json => WebhookFormat::Json,
                Format::Teams => WebhookFormat::Teams,
                Format::Slack => WebhookFormat::Slack,
            };
            engine.set_webhook_alerts(&url, format, on(when), lang(l))?;
            let shown = engine
                .alert_settings()?
                .webhook
                .map(|w| w.shown)
                .unwrap_or_default();
            println!("alerts will be posted to {shown}; send a test with `nuage alerts test`");
        }
        AlertsCmd::Show { json } => {
            let v = engine.alerts_view()?;
            if json {
                print_json(&v)?;
                return Ok(0);
            }
            let on = |o: AlertOn| match o {
                AlertOn::Failure => "problems and recoveries",
                AlertOn::Always => "problems, recoveries and a daily report",
            };
            match &v.settings.email {
                Some(e) => println!(
                    "email: {} → {} via {}{}{} ({})",
                    e.from,
                    e.to.join(", "),
                    e.server,
                    if e.starttls { " with STARTTLS" } else { "" },
                    e.user
                        .as_deref()
                        .map(|u| format!(", as {u}"))
                        .unwrap_or_default(),
                    on(e.on)
                ),
                None => println!("email: not set"),
            }
            match &v.settings.webhook {
                Some(w) => println!(
                    "webhook: {} ({}, {})",
                    w.shown,
                    match w.format {
                        WebhookFormat::Json => "JSON",
                        WebhookFormat::Teams => "Microsoft Teams",
                        WebhookFormat::Slack => "Slack",
                    },
                    on(w.on)
                ),
                None => println!("webhook: not set"),
            }
            println!("language: {}", v.settings.lang.as_str());
            for p in &v.problems {
                println!(
                    "open problem since {}: {}{}",
                    p.since,
                    p.source
                        .as_deref()
                        .map(|s| format!("{s}: "))
                        .unwrap_or_default(),
                    p.message
                );
            }
            if v.queued > 0 {
                println!(
                    "{} message(s) waiting to be sent{}",
                    v.queued,
                    v.last_error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
            }
        }
        AlertsCmd::Test { json } => {
            let results = engine.test_alerts()?;
            if json {
                print_json(&results)?;
            } else {
                for r in &results {
                    match &r.error {
                        None => println!("{}: test message sent", r.channel),
                        Some(e) => eprintln!("{}: not sent: {e}", r.channel),
                    }
                }
            }
            return Ok(if results.iter().all(|r| r.sent) { 0 } else { 1 });
        }
        AlertsCmd::Remove { channel } => {
            engine.remove_alerts(channel.as_deref())?;
            println!("{} alerts removed", channel.as_deref().unwrap_or("all"));
        }
    }
    Ok(0)
}

/// A secret piped or typed on standard input (one line).
fn read_secret(what: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        eprint!("{what}: ");
    }
    let mut s = String::new();
    std::io::stdin().read_line(&mut s)?;
    let s = s.trim_end_matches(['\r', '\n']).to_string();
    if s.is_empty() {
        bail!("no {what} on standard input. Pipe it in, e.g. `... < file`.");
    }
    Ok(s)
}

/// What a try of an S3 bucket found.
fn print_probe(p: &nuage_engine::S3Probe, json: bool) -> Result<()> {
    if json {
        return print_json(p);
    }
    println!(
        "backups will also be uploaded to {} ({} addressing): writing, reading back, listing and deleting work.",
        p.destination, p.addressing
    );
    println!("Object Lock: {}", p.object_lock);
    if let Some(d) = p.lock_days {
        println!("each copy is kept undeletable for {d} days");
    }
    if p.clock_off_seconds.abs() > 60 {
        println!(
            "note: this computer's clock is {} minutes off the provider's; Nuage signs with the provider's time, but set the clock right (automatic time).",
            p.clock_off_seconds.abs() / 60
        );
    }
    Ok(())
}

/// A password typed or piped on standard input (one line).
fn read_password() -> Result<String> {
    read_secret("database password")
}

/// A connection string with `--schema` names added (`schema=a,b`).
fn with_schemas(location: &str, schemas: &[String]) -> Result<String> {
    if schemas.is_empty() {
        return Ok(location.to_string());
    }
    let mut url = url::Url::parse(location.trim())
        .map_err(|e| anyhow!("that is not a PostgreSQL connection string ({e})"))?;
    url.query_pairs_mut()
        .append_pair("schema", &schemas.join(","));
    Ok(url.to_string())
}

/// A restore target with the password from standard input put in it (in
/// memory only: what is shown and stored never holds it).
fn with_password(to: PathBuf, password_stdin: bool) -> Result<PathBuf> {
    if !password_stdin {
        return Ok(to);
    }
    let location = to.to_string_lossy();
    if nuage_engine::source_kind_of(&location) != nuage_engine::SourceKind::Postgresql {
        bail!("--password-stdin is for a postgresql:// target; {location} is a file path.");
    }
    let mut url = url::Url::parse(location.trim())
        .map_err(|e| anyhow!("that is not a PostgreSQL connection string ({e})"))?;
    let pw = read_password()?;
    // A `%` in the password stays itself: the connection string's reader
    // percent-decodes what `set_password` leaves of it.
    url.set_password(Some(&pw.replace('%', "%25")))
        .map_err(|()| anyhow!("this connection string cannot hold a password"))?;
    Ok(PathBuf::from(url.to_string()))
}

fn describe_ref(r: &BackupRef) -> String {
    match r {
        BackupRef::Point(p) => format!("restore point {} ({})", p.id, p.created_at),
        BackupRef::File(f) => format!("the backup file {}", f.display()),
    }
}

fn confirm(question: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "restoring into the source replaces its contents; pass --yes to confirm, or use --to PATH to restore as a new file."
        );
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(anyhow!("cancelled; nothing was changed."))
    }
}

fn report_restore(r: &nuage_engine::RestoreReport, json: bool) -> Result<()> {
    if json {
        return print_json(r);
    }
    println!(
        "restored {} ({}, backed up {}) into {}{}",
        r.source,
        held(r.kind, r.tables.len() as u64, r.rows),
        r.created_at,
        r.target.display(),
        if r.kind == nuage_engine::SourceKind::Folder {
            ", each verified against its BLAKE3"
        } else {
            ""
        }
    );
    for n in &r.not_restored {
        println!("note: {n}");
    }
    match r.copy {
        nuage_engine::CopyUsed::Repaired => println!(
            "the local copy was missing or damaged: the verified copy at the destination was used, and put back as the local copy"
        ),
        nuage_engine::CopyUsed::Destination => {
            println!("read from the destination (verified against its hash)")
        }
        nuage_engine::CopyUsed::Local | nuage_engine::CopyUsed::File => {}
    }
    if let Some(p) = &r.safety_point {
        println!("the previous contents are kept as restore point {p}");
    }
    if let Some(f) = &r.safety_file {
        println!(
            "the previous file could not be read as a database; a raw copy is kept at {}",
            f.display()
        );
    }
    Ok(())
}

fn ago(ts: &str) -> String {
    let Ok(t) = DateTime::parse_from_rfc3339(ts) else {
        return ts.to_string();
    };
    let secs = (Utc::now() - t.with_timezone(&Utc)).num_seconds().max(0);
    match secs {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86400),
    }
}

/// The scheduler in the foreground: sleeps until the next due run (a missed
/// run is due at once), backs up all sources, repeats. SIGINT/SIGTERM end
/// it after the current run, never in the middle of one.
/// `nuage run`: the desktop app's scheduler ([`nuage_engine::Service`]),
/// headless, logging each outcome and state change on stderr.
fn run_scheduler(engine: &Engine) -> Result<i32> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    eprintln!(
        "nuage: scheduler started ({}){}; Ctrl-C to stop",
        engine.schedule()?.describe(),
        if engine.paused()? { ", paused" } else { "" }
    );
    let service = Service::start(engine.home(), engine.config().clone())?;
    service.subscribe(Box::new(|e| {
        let stamp = Utc::now().format("%Y-%m-%d %H:%M:%S");
        match e {
            Event::SourceFinished { outcome } => {
                eprintln!("{stamp} {}", describe_outcome(outcome))
            }
            Event::StateChanged { overview } => eprintln!("{stamp} {}", overview.summary),
            _ => {}
        }
    }));
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // A run in progress finishes its current source first (at most a minute);
    // past that, the next start continues from what was written atomically.
    service.stop(Duration::from_secs(60));
    eprintln!("nuage: scheduler stopped");
    Ok(0)
}
