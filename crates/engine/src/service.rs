//! The background service: the scheduler that `nuage run` and the desktop
//! app share, and the one overall state that the UI badge and the tray show.
//!
//! One thread owns the runs. It wakes every second, re-reads the schedule
//! (a change made by the CLI or the app applies at once), starts a run when
//! one is due (a run missed while the machine slept or the app was closed is
//! due now) or when asked ("Back up now"), and tells its subscribers every
//! engine [`Event`] plus [`Event::StateChanged`] whenever the overall state
//! moves. The home lock keeps the CLI and the app from backing up at the
//! same time: a run that finds the home busy is retried shortly.
//!
//! [`assess`] is the pure function that turns a [`StatusReport`] and what
//! the service knows (running, paused, signed in) into an [`AppState`], a
//! summary and the one [`Problem`] to show with its action.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::destination::DestinationConfig;
use crate::{Engine, Error, Event, Result, SourceStatus, State, Status, StatusReport};

/// What Nuage is doing about the data, as the badge and the tray show it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum AppState {
    UpToDate,
    BackingUp,
    /// Offline or throttled: copies are kept locally and will be uploaded.
    Waiting,
    /// A failed run, sign-in required, destination full, or no verified
    /// backup for three schedule intervals.
    NeedsAttention,
    SignedOut,
    Paused,
}

impl AppState {
    pub const ALL: [AppState; 6] = [
        AppState::UpToDate,
        AppState::BackingUp,
        AppState::Waiting,
        AppState::NeedsAttention,
        AppState::SignedOut,
        AppState::Paused,
    ];

    /// The stable name (`up_to_date`, …): icon files and UI keys use it.
    pub fn as_str(self) -> &'static str {
        match self {
            AppState::UpToDate => "up_to_date",
            AppState::BackingUp => "backing_up",
            AppState::Waiting => "waiting",
            AppState::NeedsAttention => "needs_attention",
            AppState::SignedOut => "signed_out",
            AppState::Paused => "paused",
        }
    }
}

/// The one action that fixes the current problem.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    SignIn,
    Retry,
    ChooseFolder,
    AddSource,
    CheckSource,
    FreeSpace,
}

/// The current problem, in words, with its action.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// An error code (`sign_in_required`, `offline`, …), or `stale`,
    /// `no_sources`, `no_destination`.
    pub code: String,
    pub message: String,
    pub action: Action,
    pub source: Option<String>,
}

/// Progress of one source in the current run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Progress {
    pub source: String,
    pub table: Option<String>,
    pub rows: u64,
    pub bytes: Option<u64>,
    pub total: Option<u64>,
}

/// Where backups go, for display.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DestinationView {
    /// `onedrive` or `folder`.
    pub kind: String,
    pub label: String,
}

/// Everything the overview screen and the tray need, without a network call.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub state: AppState,
    pub summary: String,
    pub problem: Option<Problem>,
    pub paused: bool,
    pub running: Option<Vec<Progress>>,
    /// Who is signed in (read from the keychain), if anyone.
    pub signed_in: Option<String>,
    pub destination: Option<DestinationView>,
    /// The schedule setting: `off`, `every:N`, `daily:HH:MM`.
    pub schedule: String,
    pub next_run: Option<String>,
    /// The oldest of the sources' last verified backups: the time the
    /// tray's tooltip gives ("everything is safe as of …").
    pub last_verified_at: Option<String>,
    pub sources: Vec<SourceStatus>,
}

/// What the service knows beyond the status report.
#[derive(Debug, Clone)]
pub struct Context {
    pub running: Option<Vec<Progress>>,
    pub paused: bool,
    /// `Ok(Some(name))` signed in, `Ok(None)` signed out, `Err(message)`
    /// the keychain cannot be read.
    pub signed_in: std::result::Result<Option<String>, String>,
    pub destination: Option<DestinationConfig>,
    pub now: Option<DateTime<Utc>>,
}

impl Default for Context {
    fn default() -> Context {
        Context {
            running: None,
            paused: false,
            signed_in: Ok(None),
            destination: None,
            now: None,
        }
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The action that fixes a failure with this error code.
pub fn action_for(code: &str) -> Action {
    match code {
        "sign_in_required" | "sign_in_declined" | "sign_in_expired" | "keychain_unavailable" => {
            Action::SignIn
        }
        "destination_full" | "destination_unavailable" | "not_found" | "access_denied" => {
            Action::ChooseFolder
        }
        "source_unavailable" => Action::CheckSource,
        "disk_full" => Action::FreeSpace,
        "no_sources" => Action::AddSource,
        _ => Action::Retry,
    }
}

fn problem(code: &str, message: String, source: Option<&str>) -> Option<Problem> {
    Some(Problem {
        code: code.to_string(),
        action: action_for(code),
        message,
        source: source.map(str::to_string),
    })
}

/// The overall state: the status report plus what the service knows.
/// Precedence: backing up, paused, signed out, needs attention, waiting,
/// up to date. Staleness (no verified backup of a source for three schedule
/// intervals) is "needs attention" whatever the last run said.
pub fn assess(status: &StatusReport, ctx: &Context) -> (AppState, String, Option<Problem>) {
    let now = ctx.now.unwrap_or_else(Utc::now);
    if let Some(running) = &ctx.running {
        let names: Vec<&str> = running.iter().map(|p| p.source.as_str()).collect();
        let summary = if names.is_empty() {
            "backing up".to_string()
        } else {
            format!("backing up {}", names.join(", "))
        };
        return (AppState::BackingUp, summary, None);
    }
    if ctx.paused {
        return (
            AppState::Paused,
            "paused: no scheduled backups until you resume.".into(),
            None,
        );
    }
    let to_cloud = !matches!(ctx.destination, Some(DestinationConfig::Folder { .. }));
    if to_cloud {
        match &ctx.signed_in {
            Ok(None) => {
                return (
                    AppState::SignedOut,
                    "signed out: copies stay on this computer only.".into(),
                    problem(
                        "sign_in_required",
                        "Nuage is not signed in to Microsoft, so copies stay on this computer only. Sign in to keep them in OneDrive.".into(),
                        None,
                    ),
                );
            }
            Err(message) => {
                return (
                    AppState::NeedsAttention,
                    format!("needs attention: {message}"),
                    problem("keychain_unavailable", message.clone(), None),
                );
            }
            Ok(Some(_)) => {}
        }
    }
    if status.sources.is_empty() {
        return (
            AppState::NeedsAttention,
            "needs attention: no database to back up yet.".into(),
            problem(
                "no_sources",
                "Nothing is backed up yet. Add the database of an application.".into(),
                None,
            ),
        );
    }
    if ctx.destination.is_none() {
        return (
            AppState::NeedsAttention,
            "needs attention: copies stay on this computer; choose where to keep them.".into(),
            Some(Problem {
                code: "no_destination".into(),
                message: "Copies are kept on this computer only. Choose a OneDrive folder to keep them safe elsewhere.".into(),
                action: Action::ChooseFolder,
                source: None,
            }),
        );
    }
    // A failed last run of a source.
    for s in &status.sources {
        if let Some(r) = status.last_runs.iter().find(|r| r.source == s.name)
            && r.outcome == "failed"
        {
            let code = r.error_code.as_deref().unwrap_or("failed");
            let why = r.error.clone().unwrap_or_else(|| "unknown error".into());
            return (
                AppState::NeedsAttention,
                format!("needs attention: the last backup of '{}' failed.", s.name),
                problem(code, why, Some(&s.name)),
            );
        }
    }
    // Uploads that cannot go without the person.
    let stuck = |s: &&SourceStatus| {
        s.uploads_pending > 0
            && !matches!(
                s.upload_error_code.as_deref(),
                None | Some("offline" | "throttled")
            )
    };
    if let Some(s) = status.sources.iter().find(stuck) {
        let code = s.upload_error_code.as_deref().unwrap_or("failed");
        return (
            AppState::NeedsAttention,
            format!(
                "needs attention: copies of '{}' are safe locally but cannot be uploaded.",
                s.name
            ),
            problem(
                code,
                s.upload_error.clone().unwrap_or_default(),
                Some(&s.name),
            ),
        );
    }
    if let Some(interval) = status.schedule.interval() {
        let limit = interval * 3;
        for s in &status.sources {
            let since = s
                .last_verified
                .as_ref()
                .map(|p| p.created_at.as_str())
                .unwrap_or(&s.added_at);
            if parse_time(since).is_some_and(|t| now - t > limit) {
                let what = if s.last_verified.is_some() {
                    format!("The last verified backup of '{}' is from {since}", s.name)
                } else {
                    format!("'{}' has had no verified backup since it was added", s.name)
                };
                return (
                    AppState::NeedsAttention,
                    format!(
                        "needs attention: '{}' has no recent verified backup.",
                        s.name
                    ),
                    problem(
                        "stale",
                        format!(
                            "{what}, more than three scheduled intervals ago. Back up now, and check that Nuage keeps running."
                        ),
                        Some(&s.name),
                    ),
                );
            }
        }
    }
    if let Some(s) = status.sources.iter().find(|s| s.uploads_pending > 0) {
        let why = s
            .upload_error
            .clone()
            .unwrap_or_else(|| "not uploaded yet".into());
        let code = s.upload_error_code.as_deref().unwrap_or("offline");
        return (
            AppState::Waiting,
            format!(
                "waiting: {} copies of '{}' are safe locally and will be uploaded.",
                s.uploads_pending, s.name
            ),
            problem(code, why, Some(&s.name)),
        );
    }
    if status.state == State::NotStarted || status.sources.iter().any(|s| s.last_backup.is_none()) {
        return (
            AppState::Waiting,
            "waiting for the first backup.".into(),
            None,
        );
    }
    (AppState::UpToDate, "up to date".into(), None)
}

/// A subscriber of the event stream.
pub type Sink = Box<dyn Fn(&Event) + Send + Sync>;

#[derive(Default)]
struct Control {
    stop: bool,
    run_now: bool,
    recheck: bool,
    running: Option<Vec<Progress>>,
    last_state: Option<(AppState, String)>,
    /// No scheduled run before this (home busy, no sources, engine error).
    hold_until: Option<Instant>,
}

struct Shared {
    home: PathBuf,
    control: Mutex<Control>,
    wake: Condvar,
    sinks: Mutex<Vec<Sink>>,
}

impl Shared {
    fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn broadcast(&self, e: &Event) {
        for sink in self.sinks.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            sink(e);
        }
    }
}

/// The scheduler and state keeper, on its own thread.
pub struct Service {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// How often the state is recomputed when nothing happens (staleness, and
/// changes made by another process such as the CLI).
const RECHECK_EVERY: Duration = Duration::from_secs(10);
/// How long to wait before trying again when the home is busy.
const BUSY_RETRY: Duration = Duration::from_secs(30);

impl Service {
    /// Starts the scheduler thread on `home`.
    pub fn start(home: &Path) -> Result<Service> {
        // Fail early (and clearly) if the home cannot be opened at all.
        Engine::open(home)?;
        let shared = Arc::new(Shared {
            home: home.to_path_buf(),
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
            sinks: Mutex::new(Vec::new()),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("nuage-scheduler".into())
            .spawn(move || scheduler(&worker))
            .map_err(|e| Error::Invalid(format!("cannot start the scheduler thread: {e}")))?;
        Ok(Service {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn home(&self) -> &Path {
        &self.shared.home
    }

    /// Adds a subscriber: it sees every event from now on.
    pub fn subscribe(&self, sink: Sink) {
        self.shared
            .sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sink);
    }

    /// Starts a run of every source as soon as possible (also when paused).
    pub fn back_up_now(&self) {
        self.shared.control().run_now = true;
        self.shared.wake.notify_all();
    }

    /// Recomputes the state soon, and lets a due run start at once (after
    /// a sign-in, a new source, a new schedule, …).
    pub fn refresh(&self) {
        let mut c = self.shared.control();
        c.recheck = true;
        c.hold_until = None;
        drop(c);
        self.shared.wake.notify_all();
    }

    /// Pauses or resumes scheduled runs; kept across restarts.
    pub fn set_paused(&self, paused: bool) -> Result<()> {
        Engine::open(&self.shared.home)?.set_paused(paused)?;
        self.refresh();
        Ok(())
    }

    /// The overview as of now.
    pub fn overview(&self) -> Result<Overview> {
        let running = self.shared.control().running.clone();
        overview(&Engine::open(&self.shared.home)?, running)
    }

    /// Whether a run is in progress.
    pub fn is_running(&self) -> bool {
        self.shared.control().running.is_some()
    }

    /// Stops the scheduler. A run in progress is waited for up to `wait`;
    /// past that the process may exit: every write is atomic and the next
    /// start sweeps what was left half-done.
    pub fn stop(&self, wait: Duration) {
        self.shared.control().stop = true;
        self.shared.wake.notify_all();
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let deadline = Instant::now() + wait;
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(2));
    }
}

/// Computes the overview: the status report, the keychain, the schedule.
pub fn overview(engine: &Engine, running: Option<Vec<Progress>>) -> Result<Overview> {
    let status = engine.status()?;
    let destination = engine.destination()?;
    // The keychain matters only when copies go to the cloud.
    let signed_in = match &destination {
        Some(DestinationConfig::Folder { .. }) => Ok(None),
        _ => engine.signed_in().map_err(|e| e.to_string()),
    };
    let ctx = Context {
        running: running.clone(),
        paused: engine.paused()?,
        signed_in: signed_in.clone(),
        destination: destination.clone(),
        now: None,
    };
    let (state, summary, problem) = assess(&status, &ctx);
    let last = engine
        .runs(1)?
        .first()
        .and_then(|r| parse_time(&r.started_at));
    let next_run = status
        .schedule
        .next_run(last, Utc::now())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let last_verified_at =
        if status.sources.is_empty() || status.sources.iter().any(|s| s.last_verified.is_none()) {
            None
        } else {
            status
                .sources
                .iter()
                .filter_map(|s| s.last_verified.as_ref().map(|p| p.created_at.clone()))
                .min()
        };
    Ok(Overview {
        state,
        summary,
        problem,
        paused: ctx.paused,
        running,
        signed_in: signed_in.ok().flatten(),
        destination: destination.map(|d| match d {
            DestinationConfig::Folder { path } => DestinationView {
                kind: "folder".into(),
                label: path.display().to_string(),
            },
            DestinationConfig::OneDrive { label, .. } => DestinationView {
                kind: "onedrive".into(),
                label,
            },
        }),
        schedule: status.schedule.to_setting(),
        next_run,
        last_verified_at,
        sources: status.sources,
    })
}

fn scheduler(shared: &Shared) {
    let mut last_check: Option<Instant> = None;
    loop {
        let (manual, recheck) = {
            let mut c = shared.control();
            if c.stop {
                return;
            }
            (
                std::mem::take(&mut c.run_now),
                std::mem::take(&mut c.recheck),
            )
        };
        let engine = match Engine::open(&shared.home) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("scheduler: cannot open the home: {e}");
                wait(shared, Duration::from_secs(5));
                continue;
            }
        };
        if manual || is_due(shared, &engine) {
            run(shared, &engine);
            publish_state(shared, &engine);
            last_check = Some(Instant::now());
            continue;
        }
        if recheck || last_check.is_none_or(|t| t.elapsed() >= RECHECK_EVERY) {
            publish_state(shared, &engine);
            last_check = Some(Instant::now());
        }
        drop(engine);
        wait(shared, Duration::from_secs(1));
    }
}

/// Sleeps up to `d`, waking early when asked to run, recheck or stop.
fn wait(shared: &Shared, d: Duration) {
    let c = shared.control();
    if c.stop || c.run_now || c.recheck {
        return;
    }
    let _ = shared
        .wake
        .wait_timeout_while(c, d, |c| !(c.stop || c.run_now || c.recheck));
}

fn is_due(shared: &Shared, engine: &Engine) -> bool {
    if shared
        .control()
        .hold_until
        .is_some_and(|t| Instant::now() < t)
    {
        return false;
    }
    if engine.paused().unwrap_or(false) {
        return false;
    }
    let Ok(schedule) = engine.schedule() else {
        return false;
    };
    let last = engine
        .runs(1)
        .ok()
        .and_then(|r| r.first().and_then(|r| parse_time(&r.started_at)));
    schedule
        .next_run(last, Utc::now())
        .is_some_and(|d| d <= Utc::now())
}

fn run(shared: &Shared, engine: &Engine) {
    shared.control().running = Some(Vec::new());
    publish_state(shared, engine);
    let result = engine.backup(&[], &mut |e| {
        track(shared, &e);
        shared.broadcast(&e);
    });
    let mut c = shared.control();
    c.running = None;
    c.hold_until = match &result {
        Ok(outcomes) if outcomes.is_empty() => Some(Instant::now() + Duration::from_secs(60)),
        Ok(_) => None,
        Err(Error::Busy { .. }) => Some(Instant::now() + BUSY_RETRY),
        Err(_) => Some(Instant::now() + Duration::from_secs(60)),
    };
    drop(c);
    match result {
        Ok(outcomes) => {
            for o in outcomes.iter().filter(|o| o.status == Status::Failed) {
                tracing::warn!(
                    "backup of '{}' failed: {}",
                    o.source,
                    o.error.as_deref().unwrap_or("")
                );
            }
        }
        Err(e) => tracing::warn!("backup postponed: {e}"),
    }
}

/// Keeps the per-source progress of the current run.
fn track(shared: &Shared, e: &Event) {
    let mut c = shared.control();
    let Some(running) = c.running.as_mut() else {
        return;
    };
    let entry = |running: &mut Vec<Progress>, source: &str| -> usize {
        match running.iter().position(|p| p.source == source) {
            Some(i) => i,
            None => {
                running.push(Progress {
                    source: source.to_string(),
                    ..Progress::default()
                });
                running.len() - 1
            }
        }
    };
    match e {
        Event::SourceStarted { source } => {
            entry(running, source);
        }
        Event::Progress {
            source,
            table,
            rows,
        } => {
            let i = entry(running, source);
            running[i].table = Some(table.clone());
            running[i].rows = *rows;
        }
        Event::UploadProgress {
            source,
            bytes,
            total,
            ..
        } => {
            let i = entry(running, source);
            running[i].bytes = Some(*bytes);
            running[i].total = Some(*total);
        }
        Event::SourceFinished { outcome } => running.retain(|p| p.source != outcome.source),
        _ => {}
    }
}

/// Recomputes the state and tells subscribers when it moved.
fn publish_state(shared: &Shared, engine: &Engine) {
    let running = shared.control().running.clone();
    let (state, summary) = match overview(engine, running) {
        Ok(o) => (o.state, o.summary),
        Err(e) => (AppState::NeedsAttention, format!("needs attention: {e}")),
    };
    let changed = {
        let mut c = shared.control();
        let changed =
            c.last_state.as_ref().map(|(s, m)| (s, m.as_str())) != Some((&state, &summary));
        c.last_state = Some((state, summary.clone()));
        changed
    };
    if changed {
        shared.broadcast(&Event::StateChanged { state, summary });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Location, RestorePoint, RunRecord};
    use crate::{Schedule, SourceStatus, State, StatusReport};

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    fn point(created_at: &str) -> RestorePoint {
        RestorePoint {
            id: "p".into(),
            source: "shop".into(),
            created_at: created_at.into(),
            size_bytes: 1,
            tables: 1,
            rows: 1,
            checksum: String::new(),
            quickxor: None,
            location: Location::Both,
            upload: Some("verified".into()),
            file: PathBuf::new(),
            fingerprint: String::new(),
            source_path: PathBuf::new(),
        }
    }

    fn source(verified: Option<&str>) -> SourceStatus {
        SourceStatus {
            name: "shop".into(),
            path: PathBuf::from("/data/shop.db"),
            added_at: "2026-11-01T00:00:00Z".into(),
            keep_last: None,
            keep_days: None,
            last_backup: verified.map(point),
            last_verified: verified.map(point),
            restore_points: usize::from(verified.is_some()),
            uploads_pending: 0,
            upload_error: None,
            upload_error_code: None,
        }
    }

    fn report(sources: Vec<SourceStatus>, runs: Vec<RunRecord>) -> StatusReport {
        StatusReport {
            home: PathBuf::new(),
            schedule: Schedule::every(60).unwrap(),
            state: State::UpToDate,
            summary: String::new(),
            destination: Some("onedrive".into()),
            sources,
            last_runs: runs,
        }
    }

    fn ctx(now: &str) -> Context {
        Context {
            signed_in: Ok(Some("ana@contoso.com".into())),
            destination: Some(DestinationConfig::OneDrive {
                label: "OneDrive folder /Backups".into(),
                drive_id: "d".into(),
                item_id: "i".into(),
            }),
            now: Some(at(now)),
            ..Context::default()
        }
    }

    fn failed_run(code: &str) -> RunRecord {
        RunRecord {
            source: "shop".into(),
            started_at: "2026-11-21T09:00:00Z".into(),
            finished_at: "2026-11-21T09:00:01Z".into(),
            outcome: "failed".into(),
            restore_point: None,
            bytes: None,
            error: Some("it broke".into()),
            error_code: Some(code.into()),
        }
    }

    #[test]
    fn fresh_verified_backups_are_up_to_date() {
        let r = report(vec![source(Some("2026-11-21T09:30:00Z"))], vec![]);
        let (state, _, problem) = assess(&r, &ctx("2026-11-21T10:00:00Z"));
        assert_eq!(state, AppState::UpToDate);
        assert_eq!(problem, None);
    }

    #[test]
    fn no_verified_backup_for_three_intervals_needs_attention_whatever_the_last_run_said() {
        // Every 60 minutes; the last verified backup is 3 h 01 min old.
        let r = report(vec![source(Some("2026-11-21T06:59:00Z"))], vec![]);
        let (state, _, problem) = assess(&r, &ctx("2026-11-21T10:00:00Z"));
        assert_eq!(state, AppState::NeedsAttention);
        let p = problem.unwrap();
        assert_eq!((p.code.as_str(), p.action), ("stale", Action::Retry));
        // 2 h 59 min: still fine.
        let r = report(vec![source(Some("2026-11-21T07:01:00Z"))], vec![]);
        assert_eq!(
            assess(&r, &ctx("2026-11-21T10:00:00Z")).0,
            AppState::UpToDate
        );
        // Waiting (offline) for too long is stale too.
        let mut s = source(Some("2026-11-20T10:00:00Z"));
        s.uploads_pending = 3;
        s.upload_error_code = Some("offline".into());
        let (state, _, p) = assess(&report(vec![s], vec![]), &ctx("2026-11-21T10:00:00Z"));
        assert_eq!(
            (state, p.unwrap().code.as_str()),
            (AppState::NeedsAttention, "stale")
        );
    }

    #[test]
    fn offline_and_throttled_uploads_wait_other_upload_errors_need_attention() {
        for (code, state, action) in [
            ("offline", AppState::Waiting, Action::Retry),
            ("throttled", AppState::Waiting, Action::Retry),
            ("sign_in_required", AppState::NeedsAttention, Action::SignIn),
            (
                "destination_full",
                AppState::NeedsAttention,
                Action::ChooseFolder,
            ),
        ] {
            let mut s = source(Some("2026-11-21T09:30:00Z"));
            s.uploads_pending = 1;
            s.upload_error_code = Some(code.into());
            s.upload_error = Some(format!("{code} happened"));
            let (got, _, p) = assess(&report(vec![s], vec![]), &ctx("2026-11-21T10:00:00Z"));
            let p = p.unwrap();
            assert_eq!((got, p.action), (state, action), "{code}");
            assert_eq!(p.message, format!("{code} happened"));
        }
    }

    #[test]
    fn precedence_backing_up_then_paused_then_signed_out_then_failures() {
        let r = report(
            vec![source(Some("2026-11-21T09:30:00Z"))],
            vec![failed_run("disk_full")],
        );
        let now = "2026-11-21T10:00:00Z";
        let (state, _, p) = assess(&r, &ctx(now));
        assert_eq!(state, AppState::NeedsAttention);
        assert_eq!(p.unwrap().action, Action::FreeSpace);

        let mut c = ctx(now);
        c.signed_in = Ok(None);
        let (state, _, p) = assess(&r, &c);
        assert_eq!(
            (state, p.unwrap().action),
            (AppState::SignedOut, Action::SignIn)
        );

        c.paused = true;
        assert_eq!(assess(&r, &c).0, AppState::Paused);

        c.running = Some(vec![]);
        assert_eq!(assess(&r, &c).0, AppState::BackingUp);
    }

    #[test]
    fn a_local_folder_destination_needs_no_sign_in_and_nothing_to_back_up_asks_for_a_source() {
        let mut c = ctx("2026-11-21T10:00:00Z");
        c.signed_in = Ok(None);
        c.destination = Some(DestinationConfig::Folder {
            path: PathBuf::from("/mnt/nas"),
        });
        let r = report(vec![source(Some("2026-11-21T09:30:00Z"))], vec![]);
        assert_eq!(assess(&r, &c).0, AppState::UpToDate);
        let (state, _, p) = assess(&report(vec![], vec![]), &c);
        assert_eq!(
            (state, p.unwrap().action),
            (AppState::NeedsAttention, Action::AddSource)
        );
        c.destination = None;
        c.signed_in = Ok(Some("x".into()));
        let (state, _, p) = assess(&r, &c);
        assert_eq!(
            (state, p.unwrap().action),
            (AppState::NeedsAttention, Action::ChooseFolder)
        );
    }
}
