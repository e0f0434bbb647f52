//! The background service: the scheduler that `nuage run` and the desktop
//! app share, and the one overall state that the UI badge and the tray show.
//!
//! One thread owns the runs. It wakes every second, re-reads the schedule
//! (a change made by the CLI or the app applies at once), starts a run when
//! one is due (a run missed while the machine slept or the app was closed is
//! due now) or when asked ("Back up now"), and tells its subscribers every
//! engine [`Event`] plus [`Event::StateChanged`], carrying the new
//! [`Overview`], whenever what the overview shows moves. The overview is
//! computed once per change (a run starting, a source finished, a run
//! ended, a [`Service::refresh`] after a change of settings, a periodic
//! recheck for staleness and for changes made by another process) and kept:
//! [`Service::overview`] hands out the kept one. The home lock keeps the CLI
//! and the app from backing up at the same time: a run that finds the home
//! busy is retried shortly.
//!
//! The state model itself ([`crate::status`]) is shared with `nuage status`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod clock;
pub(crate) mod schedule;
mod watch;

pub use clock::{Clock, ManualClock, SystemClock};

use crate::Engine;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::status::{Overview, RunProgress, parse_time};
use crate::store::RunOutcome;

/// A subscriber of the event stream.
pub type Sink = Box<dyn Fn(&Event) + Send + Sync>;

#[derive(Default)]
struct Control {
    stop: bool,
    run_now: bool,
    recheck: bool,
    /// Woken to look at the clock again.
    woken: bool,
    /// Tests: the next run panics (to prove the scheduler survives it).
    #[cfg(test)]
    panic_next_run: bool,
    /// When this service last started a run, on its clock.
    last_started: Option<chrono::DateTime<chrono::Utc>>,
    running: Option<Vec<RunProgress>>,
    /// The overview as last computed, and whether a change since makes it stale.
    overview: Option<Overview>,
    stale: bool,
    /// No scheduled run before this (home busy, no sources, engine error).
    hold_until: Option<Duration>,
    /// Scheduler loop iterations completed (tests wait on it).
    ticks: u64,
}

struct Shared {
    home: PathBuf,
    config: Config,
    clock: Arc<dyn Clock>,
    /// When this service started watching the schedule: with no run ever
    /// recorded, a daily slot after it is due (a slot before it was not
    /// missed — nothing was scheduled then).
    started: chrono::DateTime<chrono::Utc>,
    control: Mutex<Control>,
    wake: Condvar,
    sinks: Mutex<Vec<Sink>>,
}

impl Shared {
    fn engine(&self) -> Result<Engine> {
        Engine::open_with(&self.home, self.config.clone())
    }

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
    pub fn start(home: &Path, config: Config) -> Result<Service> {
        Service::start_with_clock(home, config, Arc::new(SystemClock::default()))
    }

    /// [`Service::start`] on a given clock (tests: a [`ManualClock`]).
    pub fn start_with_clock(home: &Path, config: Config, clock: Arc<dyn Clock>) -> Result<Service> {
        // Fail early (and clearly) if the home cannot be opened at all.
        Engine::open_with(home, config.clone())?;
        let shared = Arc::new(Shared {
            home: home.to_path_buf(),
            config,
            started: clock.now(),
            clock,
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
        c.stale = true;
        c.hold_until = None;
        drop(c);
        self.shared.wake.notify_all();
    }

    /// Pauses or resumes scheduled runs; kept across restarts.
    pub fn set_paused(&self, paused: bool) -> Result<()> {
        self.shared.engine()?.set_paused(paused)?;
        self.refresh();
        Ok(())
    }

    /// The overview: the one kept since the last change, or computed now
    /// (and published) when something changed since.
    pub fn overview(&self) -> Result<Overview> {
        {
            let c = self.shared.control();
            if let Some(o) = c.overview.as_ref().filter(|_| !c.stale) {
                return Ok(o.clone());
            }
        }
        publish_state(&self.shared, &self.shared.engine()?)
    }

    /// Lets the scheduler look at its clock again (after a
    /// [`ManualClock`] moved).
    pub fn wake(&self) {
        let mut c = self.shared.control();
        c.woken = true;
        drop(c);
        self.shared.wake.notify_all();
    }

    /// How many times the scheduler has looked at the time and its work:
    /// a test that moved a [`ManualClock`] waits for this to grow.
    pub fn ticks(&self) -> u64 {
        self.shared.control().ticks
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

/// How long a folder stays quiet after a change, beyond the settle time,
/// before the change is backed up.
const QUIET_AFTER_CHANGE: Duration = Duration::from_secs(1);

fn scheduler(shared: &Shared) {
    let mut last_check: Option<Duration> = None;
    let mut watch = watch::FolderWatch::new(Arc::clone(&shared.clock), &shared.home);
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
        let engine = match shared.engine() {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("scheduler: cannot open the home: {e}");
                wait(shared, Duration::from_secs(5));
                continue;
            }
        };
        if manual || is_due(shared, &engine) {
            watch.unsettled(run(shared, &engine, &[]), shared.clock.monotonic());
            publish(shared, &engine);
            last_check = Some(shared.clock.monotonic());
            shared.control().ticks += 1;
            continue;
        }
        // Folder sources: watched while the service runs; one changed and
        // quiet since is backed up now, not at the next interval.
        if let Ok(sources) = engine.sources() {
            watch.set(
                sources
                    .into_iter()
                    .filter(|s| s.kind == crate::source::SourceKind::Folder)
                    .map(|s| (s.name, s.path))
                    .collect(),
            );
        }
        let changed = watch.due(
            shared.clock.monotonic(),
            shared.config.settle + QUIET_AFTER_CHANGE,
        );
        if !changed.is_empty() && !engine.paused().unwrap_or(false) {
            tracing::info!(sources = ?changed, "folders changed: backing them up");
            watch.unsettled(run(shared, &engine, &changed), shared.clock.monotonic());
            publish(shared, &engine);
            last_check = Some(shared.clock.monotonic());
            shared.control().ticks += 1;
            continue;
        }
        let now = shared.clock.monotonic();
        if recheck || last_check.is_none_or(|t| now.saturating_sub(t) >= RECHECK_EVERY) {
            publish(shared, &engine);
            last_check = Some(now);
            // A scheduled restore drill, when due (weekly unless set).
            if !engine.paused().unwrap_or(false)
                && engine.drill_due(shared.clock.now()).unwrap_or(false)
            {
                tracing::info!("a scheduled restore drill");
                let opts = crate::DrillOptions {
                    rotate: true,
                    ..Default::default()
                };
                match engine.verify_at(&[], opts, shared.clock.now(), &mut |_| {}) {
                    Ok(reports) => {
                        let failed = reports.iter().filter(|r| !r.ok).count();
                        tracing::info!(copies = reports.len(), failed, "restore drill finished");
                    }
                    Err(e) => tracing::warn!("the scheduled restore drill did not run: {e}"),
                }
                publish(shared, &engine);
            }
        }
        drop(engine);
        shared.control().ticks += 1;
        let step = if watch.pending() { 250 } else { 1000 };
        wait(shared, Duration::from_millis(step));
    }
}

/// Sleeps up to `d`, waking early when asked to run, recheck or stop.
fn wait(shared: &Shared, d: Duration) {
    let mut c = shared.control();
    let go = |c: &mut Control| c.stop || c.run_now || c.recheck || std::mem::take(&mut c.woken);
    if go(&mut c) {
        return;
    }
    // A poisoned lock only means another thread panicked: go on.
    match shared.clock.block_for(d) {
        Some(d) => drop(shared.wake.wait_timeout_while(c, d, |c| !go(c))),
        None => drop(shared.wake.wait_while(c, |c| !go(c))),
    }
}

fn is_due(shared: &Shared, engine: &Engine) -> bool {
    if shared
        .control()
        .hold_until
        .is_some_and(|t| shared.clock.monotonic() < t)
    {
        return false;
    }
    if engine.paused().unwrap_or(false) {
        return false;
    }
    let Ok(schedule) = engine.schedule() else {
        return false;
    };
    // The last run: the newest recorded (by this service, the CLI or an
    // earlier session), or the one this service started, on its own clock.
    let now = shared.clock.now();
    let recorded = engine
        .last_full_run_started()
        .ok()
        .flatten()
        .and_then(|t| parse_time(&t));
    // A run dated in the future means the clock went back (a laptop waking
    // with a wrong clock, a corrected time): taken at its word, it would
    // suspend scheduled backups until that date, silently. It is ignored.
    let recorded = recorded.filter(|t| {
        let future = *t > now + chrono::Duration::minutes(5);
        if future {
            tracing::warn!(run = %t, now = %now, "the last run is dated in the future: the clock went back; the schedule counts from now");
        }
        !future
    });
    let last = recorded.max(shared.control().last_started.filter(|t| *t <= now));
    // Never run: counted from the service's start, so the first daily
    // slot after it is due once reached (a daily schedule never ran its
    // first backup: "next run" was always tomorrow's slot by then).
    let last = last.or(Some(shared.started).filter(|_| schedule.is_daily()));
    schedule.next_run(last, now).is_some_and(|d| d <= now)
}

/// A run of `names` (every source when empty). Returns the folder
/// sources that left files still being written for a later run.
fn run(shared: &Shared, engine: &Engine, names: &[String]) -> Vec<String> {
    let previous_start = {
        let mut c = shared.control();
        c.running = Some(Vec::new());
        // Only a run of everything is the schedule's.
        if names.is_empty() {
            c.last_started.replace(shared.clock.now())
        } else {
            c.last_started
        }
    };
    publish(shared, engine);
    // A panic anywhere in a run must not end the scheduler (it would stay
    // alive doing nothing while the badge said "backing up"): it is caught,
    // recorded as a failed run of every source, and the next run is tried.
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        #[cfg(test)]
        if std::mem::take(&mut shared.control().panic_next_run) {
            panic!("a fault injected by a test");
        }
        engine.backup(names, &mut |e| {
            track(shared, &e);
            shared.broadcast(&e);
            if matches!(e, Event::SourceFinished { .. }) {
                // What the overview shows of that source moved. (A second
                // connection: the run's own is busy with the run.)
                match shared.engine() {
                    Ok(fresh) => publish(shared, &fresh),
                    Err(err) => tracing::warn!("cannot recompute the state: {err}"),
                }
            }
        })
    }));
    let result = attempt.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        tracing::error!("a backup run stopped on an internal error: {what}");
        let message = format!(
            "the backup run stopped on an internal error ({what}). Nothing was lost; it is tried again at the next run. If it persists, report it with Nuage's log."
        );
        if let Err(e) = shared.engine().and_then(|e| e.record_interrupted_run(&message)) {
            tracing::warn!("cannot record the interrupted run: {e}");
        }
        Err(Error::Invalid(message))
    });
    let mut c = shared.control();
    c.running = None;
    // The overview kept says "backing up" until it is computed again.
    c.stale = true;
    if matches!(result, Err(Error::Busy { .. })) {
        // The run never started: it stays due, retried after BUSY_RETRY.
        c.last_started = previous_start;
    }
    let now = shared.clock.monotonic();
    c.hold_until = match &result {
        Ok(outcomes) if outcomes.is_empty() => Some(now + Duration::from_secs(60)),
        Ok(_) => None,
        Err(Error::Busy { .. }) => Some(now + BUSY_RETRY),
        Err(_) => Some(now + Duration::from_secs(60)),
    };
    drop(c);
    match result {
        Ok(outcomes) => {
            for o in outcomes.iter().filter(|o| o.status == RunOutcome::Failed) {
                tracing::warn!(
                    "backup of '{}' failed: {}",
                    o.source,
                    o.error.as_deref().unwrap_or("")
                );
            }
            outcomes
                .into_iter()
                .filter(|o| o.unsettled > 0)
                .map(|o| o.source)
                .collect()
        }
        Err(e) => {
            tracing::warn!("backup postponed: {e}");
            Vec::new()
        }
    }
}

/// Keeps the per-source progress of the current run.
fn track(shared: &Shared, e: &Event) {
    let mut c = shared.control();
    let Some(running) = c.running.as_mut() else {
        return;
    };
    let entry = |running: &mut Vec<RunProgress>, source: &str| -> usize {
        match running.iter().position(|p| p.source == source) {
            Some(i) => i,
            None => {
                running.push(RunProgress {
                    source: source.to_string(),
                    ..RunProgress::default()
                });
                running.len() - 1
            }
        }
    };
    match e {
        Event::SourceStarted { source } => {
            entry(running, source);
        }
        Event::SnapshotProgress {
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
            bytes_per_sec,
            eta_secs,
            ..
        } => {
            let i = entry(running, source);
            running[i].bytes = Some(*bytes);
            running[i].total = Some(*total);
            running[i].bytes_per_sec = (*bytes_per_sec > 0).then_some(*bytes_per_sec);
            running[i].eta_secs = *eta_secs;
        }
        Event::SourceFinished { outcome } => running.retain(|p| p.source != outcome.source),
        _ => {}
    }
}

/// What a subscriber redraws for: the overview without the run's counters
/// (they move with every progress event, which carries them itself).
fn shown(o: &Overview) -> Overview {
    let mut o = o.clone();
    for p in o.running.iter_mut().flatten() {
        *p = RunProgress {
            source: std::mem::take(&mut p.source),
            ..RunProgress::default()
        };
    }
    o
}

/// [`publish_state`], logging a failure (the next recheck tries again).
fn publish(shared: &Shared, engine: &Engine) {
    if let Err(e) = publish_state(shared, engine) {
        tracing::warn!("cannot compute the state: {e}");
    }
}

/// Recomputes the overview, keeps it, and tells subscribers when what it
/// shows moved. The same state goes to the alerts (between runs): a
/// person who is not looking at this computer hears of new problems and
/// recoveries, and what waits is sent.
fn publish_state(shared: &Shared, engine: &Engine) -> Result<Overview> {
    let running = shared.control().running.clone();
    let ctx = engine.ctx();
    let status = ctx.status()?;
    let context = ctx.context(running.clone())?;
    if running.is_none()
        && let Err(e) = engine.track_problems(&status, &context, chrono::Utc::now())
    {
        tracing::warn!("alerts: {e}");
    }
    let overview = ctx.overview_in(status, context)?;
    let changed = {
        let mut c = shared.control();
        let changed = c.overview.as_ref().map(shown) != Some(shown(&overview));
        c.overview = Some(overview.clone());
        c.stale = false;
        changed
    };
    if changed {
        shared.broadcast(&Event::StateChanged {
            overview: Box::new(overview.clone()),
        });
    }
    Ok(overview)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::AppState;

    fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
        let t = Instant::now();
        while !f() {
            assert!(t.elapsed() < Duration::from_secs(30), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn the_scheduler_survives_a_panic_in_a_run_and_the_state_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("shop.db");
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        let home = dir.path().join("home");
        let e = Engine::open(&home).unwrap();
        e.add_source(&db, Some("shop")).unwrap();
        e.set_destination(Some(&crate::DestinationConfig::Folder {
            path: dir.path().to_path_buf(),
        }))
        .unwrap();
        // No scheduled run: one starting before the panic is armed would
        // be the run the test waits for (it failed so, once, under load).
        e.set_schedule(crate::Schedule::Off).unwrap();
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let service = Service::start_with_clock(&home, Config::default(), clock).unwrap();
        service.shared.control().panic_next_run = true;
        service.back_up_now();
        wait_for("the interrupted run to be recorded", || {
            !service.is_running() && e.runs(10).unwrap().len() == 1
        });
        let o = service.overview().unwrap();
        assert_eq!(o.state, AppState::NeedsAttention, "{}", o.summary);
        assert!(
            o.problem.unwrap().message.contains("internal error"),
            "the state says what happened"
        );
        // The scheduler thread is alive: the next run works.
        service.back_up_now();
        wait_for("the next run", || {
            e.restore_points(None).unwrap().len() == 1
        });
        wait_for("up to date", || {
            service.overview().unwrap().state == AppState::UpToDate
        });
    }
}
