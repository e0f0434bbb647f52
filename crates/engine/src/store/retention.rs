//! Which local copies a source keeps.
//!
//! A copy is kept when it is among the newest `keep_last` (default 3, at
//! least 1) or younger than `keep_days` (default 30 days when `keep_last`
//! is not set either). So the defaults are "30 days, and always the newest
//! 3"; the newest copy is never deleted under any setting.

use chrono::{DateTime, Duration, Utc};

use crate::store::RestorePoint;

pub const DEFAULT_KEEP_LAST: u32 = 3;
pub const DEFAULT_KEEP_DAYS: u32 = 30;

/// The points to delete. `points` are newest first.
pub fn select(
    points: &[RestorePoint],
    keep_last: Option<u32>,
    keep_days: Option<u32>,
    now: DateTime<Utc>,
) -> Vec<&RestorePoint> {
    let last = keep_last.unwrap_or(DEFAULT_KEEP_LAST).max(1) as usize;
    let days = keep_days.or(if keep_last.is_none() {
        Some(DEFAULT_KEEP_DAYS)
    } else {
        None
    });
    points
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            if *i < last {
                return false;
            }
            match (days, DateTime::parse_from_rfc3339(&p.created_at)) {
                (Some(d), Ok(t)) => now - t.with_timezone(&Utc) >= Duration::days(d.into()),
                // Unparseable time: keep, never guess towards deletion.
                (Some(_), Err(_)) => false,
                (None, _) => true,
            }
        })
        .map(|(_, p)| p)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(ages_days: &[i64], now: DateTime<Utc>) -> Vec<RestorePoint> {
        ages_days
            .iter()
            .enumerate()
            .map(|(i, a)| RestorePoint {
                id: format!("p{i}"),
                source: "s".into(),
                created_at: (now - Duration::days(*a)).to_rfc3339(),
                size_bytes: 1,
                tables: 1,
                rows: 1,
                checksum: String::new(),
                quickxor: None,
                location: crate::store::Location::Local,
                upload: None,
                file: Default::default(),
                fingerprint: String::new(),
                source_path: Default::default(),
                changes: None,
                proven: None,
                content_digest: None,
                missing_files: None,
            })
            .collect()
    }

    fn ids(v: Vec<&RestorePoint>) -> Vec<String> {
        v.into_iter().map(|p| p.id.clone()).collect()
    }

    #[test]
    fn defaults_keep_thirty_days_and_at_least_three() {
        let now = Utc::now();
        let p = points(&[0, 1, 10, 31, 40], now);
        assert_eq!(ids(select(&p, None, None, now)), vec!["p3", "p4"]);
        // Old copies only: the newest three stay anyway.
        let p = points(&[50, 60, 70, 80], now);
        assert_eq!(ids(select(&p, None, None, now)), vec!["p3"]);
    }

    #[test]
    fn keep_last_alone_counts_copies() {
        let now = Utc::now();
        let p = points(&[0, 0, 0, 0, 0], now);
        assert_eq!(ids(select(&p, Some(2), None, now)), vec!["p2", "p3", "p4"]);
    }

    #[test]
    fn either_rule_keeps_and_newest_always_stays() {
        let now = Utc::now();
        let p = points(&[5, 6, 7, 8], now);
        assert_eq!(ids(select(&p, Some(1), Some(7), now)), vec!["p2", "p3"]);
        assert_eq!(
            ids(select(&p, Some(0), Some(0), now)),
            vec!["p1", "p2", "p3"]
        );
    }
}
