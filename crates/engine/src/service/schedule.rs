//! When backups run: every N minutes, or daily at a local time. Pure
//! functions of (schedule, last run, now), so the scheduler loop in the CLI
//! and the desktop app share one tested rule, including catch-up of a run
//! missed while the machine slept or Nuage was closed.

use chrono::{DateTime, Duration, Local, NaiveTime, TimeZone, Utc};
use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    Off,
    Every { minutes: u32 },
    Daily { hour: u32, minute: u32 },
}

impl Schedule {
    /// Parses the stored form: `off`, `every:N`, `daily:HH:MM`.
    pub fn parse(s: &str) -> Result<Schedule> {
        if s == "off" {
            return Ok(Schedule::Off);
        }
        if let Some(n) = s.strip_prefix("every:") {
            return Schedule::every(
                n.parse()
                    .map_err(|_| Error::Invalid(format!("bad schedule '{s}'")))?,
            );
        }
        if let Some(t) = s.strip_prefix("daily:") {
            return Schedule::daily(t);
        }
        Err(Error::Invalid(format!("bad schedule '{s}'")))
    }

    pub fn every(minutes: u32) -> Result<Schedule> {
        if minutes == 0 || minutes > 7 * 24 * 60 {
            return Err(Error::Invalid(
                "a schedule's interval is a number of minutes from 1 to 10080 (one week).".into(),
            ));
        }
        Ok(Schedule::Every { minutes })
    }

    pub fn daily(hhmm: &str) -> Result<Schedule> {
        let t = NaiveTime::parse_from_str(hhmm, "%H:%M").map_err(|_| {
            Error::Invalid(format!(
                "'{hhmm}' is not a time of day; use HH:MM, for example 02:30."
            ))
        })?;
        use chrono::Timelike;
        Ok(Schedule::Daily {
            hour: t.hour(),
            minute: t.minute(),
        })
    }

    pub fn to_setting(self) -> String {
        match self {
            Schedule::Off => "off".into(),
            Schedule::Every { minutes } => format!("every:{minutes}"),
            Schedule::Daily { hour, minute } => format!("daily:{hour:02}:{minute:02}"),
        }
    }

    pub fn describe(self) -> String {
        match self {
            Schedule::Off => "off".into(),
            Schedule::Every { minutes: 1 } => "every minute".into(),
            Schedule::Every { minutes } => format!("every {minutes} minutes"),
            Schedule::Daily { hour, minute } => format!("daily at {hour:02}:{minute:02}"),
        }
    }

    /// The nominal interval, used to judge staleness.
    pub fn interval(self) -> Option<Duration> {
        match self {
            Schedule::Off => None,
            Schedule::Every { minutes } => Some(Duration::minutes(minutes.into())),
            Schedule::Daily { .. } => Some(Duration::days(1)),
        }
    }

    /// Whether runs come at a time of day (not at an interval).
    pub fn is_daily(&self) -> bool {
        matches!(self, Schedule::Daily { .. })
    }

    /// When the next run is due. A run that should have happened since
    /// `last` (missed while asleep or closed) is due now.
    pub fn next_run(
        self,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.next_run_in(&Local, last, now)
    }

    pub fn next_run_in<Tz: TimeZone>(
        self,
        tz: &Tz,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Off => None,
            Schedule::Every { minutes } => {
                let Some(last) = last else { return Some(now) };
                Some((last + Duration::minutes(minutes.into())).max(now))
            }
            Schedule::Daily { hour, minute } => {
                let at = NaiveTime::from_hms_opt(hour, minute, 0).expect("validated");
                // The most recent scheduled moment at or before now.
                let today = now.with_timezone(tz).date_naive();
                let mut slot = None;
                for days_back in 0..3 {
                    let d = today - Duration::days(days_back);
                    if let Some(t) = tz.from_local_datetime(&d.and_time(at)).earliest() {
                        let t = t.with_timezone(&Utc);
                        if t <= now {
                            slot = Some(t);
                            break;
                        }
                    }
                }
                let missed = match (slot, last) {
                    (Some(s), Some(l)) => l < s,
                    (Some(_), None) => false,
                    _ => false,
                };
                if missed {
                    return Some(now);
                }
                for days_ahead in 0..3 {
                    let d = today + Duration::days(days_ahead);
                    if let Some(t) = tz.from_local_datetime(&d.and_time(at)).earliest() {
                        let t = t.with_timezone(&Utc);
                        if t > now {
                            return Some(t);
                        }
                    }
                }
                None
            }
        }
    }
}

/// The schedule kept in the state database (`off` until one is chosen).
pub(crate) fn stored(store: &crate::store::Store) -> Result<Schedule> {
    match store.setting("schedule")? {
        Some(s) => Schedule::parse(&s),
        None => Ok(Schedule::Off),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_runs_at_once_first_then_on_interval_and_catches_up() {
        let s = Schedule::every(15).unwrap();
        let now = at("2026-11-21T10:00:00Z");
        assert_eq!(s.next_run(None, now), Some(now));
        assert_eq!(
            s.next_run(Some(at("2026-11-21T09:50:00Z")), now),
            Some(at("2026-11-21T10:05:00Z"))
        );
        // Asleep for hours: due now, not in the past and not skipped.
        assert_eq!(s.next_run(Some(at("2026-11-21T03:00:00Z")), now), Some(now));
    }

    #[test]
    fn daily_runs_at_local_time_and_catches_up_a_missed_day() {
        let tz = FixedOffset::east_opt(3600).unwrap(); // UTC+1
        let s = Schedule::daily("02:30").unwrap();
        let now = at("2026-11-21T00:00:00Z"); // 01:00 local
        assert_eq!(
            s.next_run_in(&tz, Some(at("2026-11-20T01:30:00Z")), now),
            Some(at("2026-11-21T01:30:00Z"))
        );
        // Last run two days ago: yesterday's 02:30 was missed, run now.
        assert_eq!(
            s.next_run_in(&tz, Some(at("2026-11-19T01:30:00Z")), now),
            Some(now)
        );
        // Never run: wait for the slot rather than run at install time.
        assert_eq!(
            s.next_run_in(&tz, None, now),
            Some(at("2026-11-21T01:30:00Z"))
        );
    }

    #[test]
    fn bad_schedules_are_explained() {
        assert!(
            Schedule::daily("25:00")
                .unwrap_err()
                .to_string()
                .contains("HH:MM")
        );
        assert!(Schedule::every(0).is_err());
        assert_eq!(
            Schedule::parse("daily:07:05").unwrap(),
            Schedule::Daily { hour: 7, minute: 5 }
        );
        assert_eq!(
            Schedule::parse(&Schedule::every(30).unwrap().to_setting()).unwrap(),
            Schedule::Every { minutes: 30 }
        );
    }
}
