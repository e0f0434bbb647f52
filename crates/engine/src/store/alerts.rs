//! The alerts' state: the problems a person was told of (one message per
//! problem, one per recovery) and the outbox of messages still to send.
//! A message is queued in the same transaction that records its problem
//! or recovery, so a crash never loses one nor queues one twice; it is
//! marked sent as soon as the server accepted it.

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::Result;

/// Version 7: alerts.
pub(super) const ALERTS: &str = "
CREATE TABLE alert_problems(
    key TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    source TEXT,
    message TEXT NOT NULL,
    since TEXT NOT NULL
);
CREATE TABLE alert_outbox(
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at TEXT NOT NULL,
    last_error TEXT,
    sent_at TEXT
);
";

/// A problem a person was told of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenProblem {
    pub key: String,
    pub code: String,
    pub source: Option<String>,
    pub message: String,
    pub since: String,
}

/// A message to send on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub id: i64,
    pub channel: String,
    pub kind: String,
    pub subject: String,
    pub body: String,
    /// The event as JSON (what a webhook receives).
    pub payload: String,
    pub created_at: String,
    pub attempts: u32,
    pub next_try_at: String,
    pub last_error: Option<String>,
}

/// A message to queue: (channel, kind, subject, body, payload).
pub type Queued<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

impl Store {
    pub fn open_problems(&self) -> Result<Vec<OpenProblem>> {
        let mut st = self
            .db
            .prepare(
                "SELECT key, code, source, message, since FROM alert_problems ORDER BY since, key",
            )
            .map_err(self.err())?;
        st.query_map([], |r| {
            Ok(OpenProblem {
                key: r.get(0)?,
                code: r.get(1)?,
                source: r.get(2)?,
                message: r.get(3)?,
                since: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.err())
    }

    /// Records that `opened` began and `closed` ended, and queues their
    /// messages, in one transaction.
    pub fn record_problems(
        &self,
        opened: &[OpenProblem],
        closed: &[String],
        messages: &[Queued<'_>],
        now: &str,
    ) -> Result<()> {
        let tx = self.db.unchecked_transaction().map_err(self.err())?;
        for p in opened {
            tx.execute(
                "INSERT OR REPLACE INTO alert_problems(key, code, source, message, since) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![p.key, p.code, p.source, p.message, p.since],
            )
            .map_err(self.err())?;
        }
        for key in closed {
            tx.execute("DELETE FROM alert_problems WHERE key = ?1", [key])
                .map_err(self.err())?;
        }
        for m in messages {
            Self::queue_in(&tx, m, now).map_err(self.err())?;
        }
        tx.commit().map_err(self.err())
    }

    /// Queues messages (a digest), with `setting` set to `value` in the
    /// same transaction (when it was made).
    pub fn queue_alerts(
        &self,
        messages: &[Queued<'_>],
        now: &str,
        setting: Option<(&str, &str)>,
    ) -> Result<()> {
        let tx = self.db.unchecked_transaction().map_err(self.err())?;
        for m in messages {
            Self::queue_in(&tx, m, now).map_err(self.err())?;
        }
        if let Some((key, value)) = setting {
            tx.execute(
                "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(self.err())?;
        }
        tx.commit().map_err(self.err())
    }

    fn queue_in(
        tx: &rusqlite::Transaction<'_>,
        (channel, kind, subject, body, payload): &Queued<'_>,
        now: &str,
    ) -> rusqlite::Result<()> {
        tx.execute(
            "INSERT INTO alert_outbox(channel, kind, subject, body, payload, created_at, next_try_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![channel, kind, subject, body, payload, now],
        )
        .map(|_| ())
    }

    /// Messages not sent yet, oldest first (all, or those due by `now`).
    pub fn unsent_alerts(&self, due_by: Option<&str>) -> Result<Vec<Outgoing>> {
        let mut st = self
            .db
            .prepare(
                "SELECT id, channel, kind, subject, body, payload, created_at, attempts, next_try_at, last_error
                 FROM alert_outbox WHERE sent_at IS NULL AND (?1 IS NULL OR next_try_at <= ?1) ORDER BY id",
            )
            .map_err(self.err())?;
        st.query_map([due_by], |r| {
            Ok(Outgoing {
                id: r.get(0)?,
                channel: r.get(1)?,
                kind: r.get(2)?,
                subject: r.get(3)?,
                body: r.get(4)?,
                payload: r.get(5)?,
                created_at: r.get(6)?,
                attempts: r.get(7)?,
                next_try_at: r.get(8)?,
                last_error: r.get(9)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.err())
    }

    pub fn alert_sent(&self, id: i64, now: &str) -> Result<()> {
        self.db
            .execute(
                "UPDATE alert_outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
                params![id, now],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    pub fn alert_failed(&self, id: i64, error: &str, next_try_at: &str) -> Result<()> {
        self.db
            .execute(
                "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?2, next_try_at = ?3 WHERE id = ?1",
                params![id, error, next_try_at],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Drops what was queued for `channel` (its alerts were removed).
    pub fn drop_alerts(&self, channel: &str) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM alert_outbox WHERE channel = ?1 AND sent_at IS NULL",
                [channel],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// Forgets messages sent more than 30 days before `cutoff`.
    pub fn forget_sent_alerts(&self, cutoff: &str) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM alert_outbox WHERE sent_at IS NOT NULL AND sent_at < ?1",
                [cutoff],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// When the last message of `channel` was sent, if ever.
    pub fn last_alert_sent(&self, channel: &str) -> Result<Option<String>> {
        self.db
            .query_row(
                "SELECT max(sent_at) FROM alert_outbox WHERE channel = ?1",
                [channel],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(self.err())
    }
}
