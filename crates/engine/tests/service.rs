//! The background service that the desktop app and `nuage run` share: real
//! databases, a real folder destination, the real scheduler thread.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nuage_engine::{AppState, ManualClock, Service};
use nuage_engine::{DestinationConfig, Engine, Event, Schedule};
use rusqlite::Connection;

fn sample_db(path: &Path, rows: u32) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode=WAL; CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);",
    )
    .unwrap();
    for i in 0..rows {
        c.execute("INSERT INTO customers(name) VALUES (?1)", [format!("c{i}")])
            .unwrap();
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    home: std::path::PathBuf,
    db: std::path::PathBuf,
}

/// A home with one source and a local-folder destination.
fn setup(schedule: Schedule) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let db = dir.path().join("shop.db");
    sample_db(&db, 50);
    let e = Engine::open(&home).unwrap();
    e.add_source(&db, Some("shop")).unwrap();
    e.set_schedule(schedule).unwrap();
    std::fs::create_dir(dir.path().join("remote")).unwrap();
    e.set_destination(Some(&DestinationConfig::Folder {
        path: dir.path().join("remote"),
    }))
    .unwrap();
    Setup {
        _dir: dir,
        home,
        db,
    }
}

type Log = Arc<Mutex<Vec<Event>>>;

fn recording(service: &Service) -> Log {
    let log: Log = Arc::default();
    let l = Arc::clone(&log);
    service.subscribe(Box::new(move |e| l.lock().unwrap().push(e.clone())));
    log
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A service on a clock that moves only when the test moves it.
fn manual(home: &Path) -> (Service, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let service =
        Service::start_with_clock(home, nuage_engine::Config::default(), clock.clone()).unwrap();
    (service, clock)
}

/// Lets `d` pass on the manual clock, one minute at a time, and waits
/// until the scheduler has looked at each minute.
fn let_time_pass(service: &Service, clock: &ManualClock, d: Duration) {
    let mut left = d;
    while !left.is_zero() {
        let step = left.min(Duration::from_secs(60));
        clock.advance(step);
        left -= step;
        let before = service.ticks();
        service.wake();
        wait_for("the scheduler to see the time", 30, || {
            service.ticks() > before
        });
    }
}

fn runs(home: &Path) -> usize {
    Engine::open(home).unwrap().runs(100).unwrap().len()
}

fn points(home: &Path) -> usize {
    Engine::open(home)
        .unwrap()
        .restore_points(None)
        .unwrap()
        .len()
}

fn states(log: &Log) -> Vec<AppState> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::StateChanged { overview } => Some(overview.state),
            _ => None,
        })
        .collect()
}

#[test]
fn back_up_now_runs_streams_events_and_ends_up_to_date() {
    let s = setup(Schedule::Off);
    let service = Service::start(&s.home, nuage_engine::Config::default()).unwrap();
    let log = recording(&service);
    service.back_up_now();
    wait_for("the run and the state after it", 30, || {
        states(&log).last() == Some(&AppState::UpToDate)
    });
    assert_eq!(points(&s.home), 1);
    let events = log.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::RunStarted { sources } if sources == &["shop"]))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SourceFinished { outcome } if outcome.source == "shop"))
    );
    assert!(
        states(&log).contains(&AppState::BackingUp),
        "the badge shows the run: {:?}",
        states(&log)
    );
    let o = service.overview().unwrap();
    assert_eq!(o.state, AppState::UpToDate, "{}", o.summary);
    assert!(o.problem.is_none());
    let shop = &o.sources[0];
    assert_eq!(shop.last_verified.as_ref().unwrap().rows, 50);
    assert!(o.last_verified_at.is_some());
    assert_eq!(
        o.destination.as_ref().unwrap().kind,
        nuage_engine::DestinationKind::Folder
    );
}

#[test]
fn a_due_run_starts_by_itself_once_and_not_again_until_the_next_interval() {
    let s = setup(Schedule::every(60).unwrap());
    let (service, clock) = manual(&s.home);
    // Never run before: due at once (a missed run is caught up on start).
    wait_for("the first scheduled run", 30, || {
        runs(&s.home) == 1 && !service.is_running()
    });
    // Computed afresh, after the run was recorded.
    service.refresh();
    let o = service.overview().unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(o.next_run.as_deref().unwrap()).unwrap();
    let wait = next.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(wait > chrono::Duration::minutes(58), "{wait}");
    // 58 minutes of ticks: one run, not one per tick.
    let_time_pass(&service, &clock, Duration::from_secs(58 * 60));
    assert_eq!(runs(&s.home), 1, "one run, not one per tick");
    // The interval is over: the next run starts by itself (and finds the
    // database unchanged).
    let_time_pass(&service, &clock, Duration::from_secs(3 * 60));
    wait_for("the second scheduled run", 30, || runs(&s.home) == 2);
    assert_eq!(
        points(&s.home),
        1,
        "an unchanged database makes no new copy"
    );
}

#[test]
fn a_daily_schedule_that_never_ran_runs_when_its_time_comes() {
    // The slot one hour from now (local time, as the schedule reads it).
    let at = chrono::Local::now() + chrono::Duration::minutes(60);
    let s = setup(Schedule::daily(&at.format("%H:%M").to_string()).unwrap());
    let (service, clock) = manual(&s.home);
    let_time_pass(&service, &clock, Duration::from_secs(30 * 60));
    assert_eq!(runs(&s.home), 0, "not before its time");
    // Before the fix, the slot passed while the scheduler looked, and the
    // next run was always tomorrow's.
    let_time_pass(&service, &clock, Duration::from_secs(32 * 60));
    wait_for("the daily run", 30, || runs(&s.home) == 1);
    let_time_pass(&service, &clock, Duration::from_secs(10 * 60));
    assert_eq!(runs(&s.home), 1, "once a day");
}

#[test]
fn pause_stops_scheduled_runs_survives_a_restart_and_back_up_now_still_works() {
    let s = setup(Schedule::every(60).unwrap());
    Engine::open(&s.home).unwrap().set_paused(true).unwrap();
    let (service, clock) = manual(&s.home);
    let log = recording(&service);
    service.refresh();
    wait_for("the paused state", 10, || {
        states(&log).last() == Some(&AppState::Paused)
    });
    // Three intervals pass: nothing runs while paused.
    let_time_pass(&service, &clock, Duration::from_secs(3 * 60 * 60));
    assert_eq!(points(&s.home), 0, "no scheduled run while paused");
    drop(service);

    let service = Service::start(&s.home, nuage_engine::Config::default()).unwrap();
    assert_eq!(service.overview().unwrap().state, AppState::Paused);
    service.back_up_now();
    wait_for("the manual run", 30, || points(&s.home) == 1);
    service.set_paused(false).unwrap();
    wait_for("resumed", 10, || {
        service.overview().unwrap().state == AppState::UpToDate
    });
}

#[test]
fn a_failed_run_needs_attention_with_the_action_that_fixes_it() {
    let s = setup(Schedule::Off);
    std::fs::remove_file(&s.db).unwrap();
    let service = Service::start(&s.home, nuage_engine::Config::default()).unwrap();
    let log = recording(&service);
    service.back_up_now();
    wait_for("the failed run", 30, || {
        states(&log).last() == Some(&AppState::NeedsAttention)
    });
    let o = service.overview().unwrap();
    let p = o.problem.expect("a problem");
    assert_eq!(p.code.as_str(), "source_unavailable");
    assert_eq!(p.source.as_deref(), Some("shop"));
    assert_eq!(
        serde_json::to_value(p.action).unwrap(),
        "check_source",
        "{}",
        p.message
    );
    // The database comes back: the next run recovers.
    sample_db(&s.db, 3);
    service.back_up_now();
    wait_for("recovered", 30, || {
        states(&log).last() == Some(&AppState::UpToDate)
    });
}

#[test]
fn the_cli_holding_the_home_postpones_the_run_instead_of_failing_it() {
    let s = setup(Schedule::Off);
    let lock = nuage_engine::HomeLock::acquire(&s.home).unwrap();
    let (service, _clock) = manual(&s.home);
    let before = service.ticks();
    service.back_up_now();
    // The run was tried (and found the home busy) once the scheduler
    // finished a turn after it.
    wait_for("the attempt", 30, || service.ticks() > before + 1);
    assert_eq!(points(&s.home), 0);
    assert!(!service.is_running());
    let o = service.overview().unwrap();
    assert!(
        o.problem
            .as_ref()
            .is_none_or(|p| p.code.as_str() != "source_unavailable"),
        "a busy home is not a failed source: {:?}",
        o.problem
    );
    drop(lock);
    service.back_up_now();
    wait_for("the run once the home is free", 30, || points(&s.home) == 1);
}

#[test]
fn a_scheduled_run_that_found_the_home_busy_is_tried_again_soon() {
    let s = setup(Schedule::every(60).unwrap());
    let lock = nuage_engine::HomeLock::acquire(&s.home).unwrap();
    let (service, clock) = manual(&s.home);
    // Due at once (never run), but the CLI holds the home.
    wait_for("the attempt", 30, || service.ticks() >= 2);
    assert_eq!(runs(&s.home), 0);
    drop(lock);
    // Not a whole interval later: after the busy retry.
    let_time_pass(&service, &clock, Duration::from_secs(60));
    wait_for("the run after the busy retry", 30, || runs(&s.home) == 1);
}

#[test]
fn a_run_dated_in_the_future_does_not_suspend_the_schedule() {
    let s = setup(Schedule::every(60).unwrap());
    // A run recorded now, on a clock that then goes back two days.
    Engine::open(&s.home)
        .unwrap()
        .backup(&[], &mut |_| {})
        .unwrap();
    assert_eq!(runs(&s.home), 1);
    let clock = Arc::new(ManualClock::new(
        chrono::Utc::now() - chrono::Duration::days(2),
    ));
    let _service =
        Service::start_with_clock(&s.home, nuage_engine::Config::default(), clock).unwrap();
    wait_for("a scheduled run despite the future-dated one", 30, || {
        runs(&s.home) == 2
    });
}

#[test]
fn a_weekly_restore_drill_runs_by_itself_and_proves_the_copies() {
    let s = setup(Schedule::Off);
    let e = Engine::open(&s.home).unwrap();
    e.backup(&[], &mut |_| {}).unwrap();
    let proven = |home: &Path| {
        Engine::open(home)
            .unwrap()
            .all_restore_points(None)
            .unwrap()
            .0
            .iter()
            .all(|p| p.proven.is_some())
    };
    let (service, clock) = manual(&s.home);
    // Six days on: not due yet.
    let jump = |d: Duration| {
        clock.advance(d);
        let before = service.ticks();
        service.wake();
        wait_for("the scheduler to see the time", 30, || {
            service.ticks() > before
        });
    };
    jump(Duration::from_secs(6 * 86_400));
    assert!(
        !proven(&s.home),
        "a drill a week after the first backup, not before"
    );
    // A week on: the drill runs, once.
    jump(Duration::from_secs(86_400 + 60));
    wait_for("the weekly drill", 30, || proven(&s.home));
    let drilled_at = |home: &Path| {
        Engine::open(home)
            .unwrap()
            .all_restore_points(None)
            .unwrap()
            .0[0]
            .proven
            .clone()
            .unwrap()
            .at
    };
    let first = drilled_at(&s.home);
    jump(Duration::from_secs(60));
    assert_eq!(drilled_at(&s.home), first, "not again until next week");
    // Off: never.
    e.set_verify_every(None).unwrap();
    assert!(
        !e.drill_due(chrono::Utc::now() + chrono::Duration::days(30))
            .unwrap()
    );
}

#[test]
fn a_scheduled_drill_downloads_within_its_share_and_leaves_the_rest_for_the_next() {
    // A folder destination lists no hash: its copies are downloaded to be
    // proven, the bandwidth a scheduled drill must keep to a share.
    let s = setup(Schedule::Off);
    let e = Engine::open(&s.home).unwrap();
    for i in 0..4 {
        Connection::open(&s.db)
            .unwrap()
            .execute("INSERT INTO customers(name) VALUES (?1)", [format!("n{i}")])
            .unwrap();
        e.backup(&[], &mut |_| {}).unwrap();
    }
    let points = e.restore_points(None).unwrap();
    assert_eq!(points.len(), 4);
    let scheduled = nuage_engine::DrillOptions {
        rotate: true,
        ..Default::default()
    };
    let now = chrono::Utc::now();
    let first = e.verify_at(&[], scheduled, now, &mut |_| {}).unwrap();
    let remote: Vec<_> = first.iter().filter(|r| r.place == "destination").collect();
    // The newest always; the older ones (kept less than a week: all are
    // sampled) only within one backup's worth of downloads.
    assert_eq!(remote[0].point, points[0].id);
    assert!(remote[0].ok, "{first:?}");
    let deferred: Vec<&str> = remote
        .iter()
        .filter(|r| r.deferred)
        .map(|r| r.point.as_str())
        .collect();
    assert!(!deferred.is_empty(), "{first:?}");
    let downloaded: u64 = remote
        .iter()
        .skip(1)
        .filter(|r| !r.deferred)
        .map(|r| points.iter().find(|p| p.id == r.point).unwrap().size_bytes)
        .sum();
    assert!(downloaded <= points[0].size_bytes, "{first:?}");
    assert!(remote.iter().all(|r| r.ok || r.deferred), "{first:?}");
    // The next drill takes those left first.
    let next = e
        .verify_at(&[], scheduled, now + chrono::Duration::days(7), &mut |_| {})
        .unwrap();
    let again: Vec<_> = next
        .iter()
        .filter(|r| r.place == "destination")
        .skip(1)
        .collect();
    assert_eq!(again[0].point, deferred[0], "{next:?}");
    assert!(again[0].ok && !again[0].deferred, "{next:?}");
}
