//! The one event stream: the CLI draws progress bars from it, the desktop
//! app forwards it to the UI and the tray, the service tracks runs with it.
//! Also what a backup run reports for each source.

use serde::Serialize;

use crate::source::SourceKind;

use crate::error::ErrorCode;

use crate::store::{RunOutcome, UploadState};

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SourceOutcome {
    pub source: String,
    /// What kind of source it is: a folder's `tables` are its files and
    /// its `rows` their bytes.
    pub kind: SourceKind,
    pub status: RunOutcome,
    /// The new restore point, or for `unchanged` the one still current.
    pub id: Option<String>,
    pub size_bytes: Option<u64>,
    pub tables: Option<u64>,
    pub rows: Option<u64>,
    pub error: Option<String>,
    pub error_code: Option<ErrorCode>,
    pub removed_by_retention: Vec<String>,
    /// A folder: files still being written, left for a later run (the
    /// service looks again once they settle).
    pub unsettled: u64,
    /// What happened at the destination, when one is configured.
    pub upload: Option<UploadOutcome>,
}

/// The destination side of one source's run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct UploadOutcome {
    /// `verified`: everything of this source is at the destination and
    /// checked; `pending`: some copies wait for the next run (`error` says why).
    pub state: UploadState,
    /// Restore points uploaded and verified during this run.
    pub uploaded: Vec<String>,
    /// Files removed at the destination by retention.
    pub removed: Vec<String>,
    pub error: Option<String>,
    pub error_code: Option<ErrorCode>,
}

/// The event stream: the CLI draws progress bars from it, the desktop app
/// forwards it to the UI and the tray.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        sources: Vec<String>,
    },
    SourceStarted {
        source: String,
    },
    /// Rows read so far by the snapshot of `source` (every few thousand).
    SnapshotProgress {
        source: String,
        table: String,
        rows: u64,
    },
    SourceFinished {
        outcome: Box<SourceOutcome>,
    },
    RunFinished {
        failed: usize,
    },
    RestoreProgress {
        table: String,
        rows: u64,
    },
    /// Bytes of a restore point (a folder's: of its files) sent so far,
    /// with the rate since this upload started and the time left at it.
    UploadProgress {
        source: String,
        point: String,
        bytes: u64,
        total: u64,
        bytes_per_sec: u64,
        eta_secs: Option<u64>,
    },
    /// What the overview shows changed (sent by the
    /// [`crate::service::Service`], computed once for every subscriber).
    StateChanged {
        overview: Box<crate::status::Overview>,
    },
}

/// The rate of one upload: bytes per second since it started (bytes
/// already there when it started, a resumed session's, are not counted),
/// and the seconds left at that rate.
pub(crate) struct Rate {
    started: std::time::Instant,
    base: Option<u64>,
}

impl Rate {
    pub(crate) fn start() -> Rate {
        Rate {
            started: std::time::Instant::now(),
            base: None,
        }
    }

    /// (bytes per second, seconds left) when `bytes` of `total` are sent.
    pub(crate) fn at(&mut self, bytes: u64, total: u64) -> (u64, Option<u64>) {
        let base = *self.base.get_or_insert(bytes);
        let secs = self.started.elapsed().as_secs_f64();
        let sent = bytes.saturating_sub(base);
        if secs < 0.2 || sent == 0 {
            return (0, None);
        }
        let rate = (sent as f64 / secs) as u64;
        let left = total.saturating_sub(bytes);
        (rate, (rate > 0).then(|| left.div_ceil(rate)))
    }
}
