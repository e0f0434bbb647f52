//! The scheduler's time, behind one seam so tests control it (as
//! `tokio::time::pause` does for async code): the wall clock that schedules
//! are read against, and a monotonic one for waits and back-offs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    /// The wall-clock time, for schedules ("daily at 02:30").
    fn now(&self) -> DateTime<Utc>;
    /// Monotonic time since an arbitrary origin, for waits.
    fn monotonic(&self) -> Duration;
    /// How long the scheduler may block for a wait of `d`: the real clock
    /// blocks that long; a manual clock blocks until it is woken (moving
    /// its time is what lets time pass).
    fn block_for(&self, d: Duration) -> Option<Duration>;
}

/// The machine's clocks.
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }
    fn block_for(&self, d: Duration) -> Option<Duration> {
        Some(d)
    }
}

/// A clock that moves only when told to ([`ManualClock::advance`]), for
/// tests: after advancing it, call [`super::Service::wake`].
pub struct ManualClock {
    state: Mutex<(DateTime<Utc>, Duration)>,
}

impl ManualClock {
    /// Starts at `now` (monotonic time at zero).
    pub fn new(now: DateTime<Utc>) -> ManualClock {
        ManualClock {
            state: Mutex::new((now, Duration::ZERO)),
        }
    }

    /// Moves both clocks forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 += chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero());
        s.1 += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0
    }
    fn monotonic(&self) -> Duration {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1
    }
    fn block_for(&self, _: Duration) -> Option<Duration> {
        None
    }
}
