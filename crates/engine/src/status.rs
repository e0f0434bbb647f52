//! The one state model. Everything that shows Nuage's state — `nuage
//! status`, the tray, the window's overview, the alerts — reads the
//! [`Overview`] that [`overview`] derives here, once per change: the
//! [`AppState`], a summary, the one [`Problem`] with the [`Action`] that
//! fixes it, and the setup steps still to do.
//!
//! [`StatusReport`] is what the state database says (no network, no
//! keychain); [`Context`] is what the caller knows beyond it (a run in
//! progress, paused, signed in); [`assess`] is the pure function from both
//! to the state.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::destination::DestinationConfig;
use crate::error::{ErrorCode, Result};
use crate::run::Ctx;
use crate::run::drill::proof_rank;
use crate::service::schedule::Schedule;
use crate::store::{RestorePoint, RunOutcome, RunRecord, UploadState};

/// What the state database says of the sources, read without opening
/// the destination or the keychain: the input of [`assess`].
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub home: PathBuf,
    pub schedule: Schedule,
    pub destination: Option<String>,
    pub sources: Vec<SourceStatus>,
    pub last_runs: Vec<RunRecord>,
    /// Copies whose last restore drill failed and were not healed.
    pub failed_drills: Vec<FailedDrill>,
    /// Days between scheduled restore drills (`None`: off).
    pub verify_every: Option<u32>,
}

/// A copy of a restore point that failed its last drill.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailedDrill {
    pub source: String,
    pub point: String,
    /// `local` or `destination`.
    pub place: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
pub struct SourceStatus {
    pub name: String,
    /// A folder's points count files and bytes, a database's tables and rows.
    pub kind: crate::source::SourceKind,
    pub path: PathBuf,
    pub added_at: String,
    pub keep_last: Option<u32>,
    pub keep_days: Option<u32>,
    pub last_backup: Option<RestorePoint>,
    /// The newest restore point verified at the destination (with no
    /// destination: the newest local copy, whose checksum was verified when written).
    pub last_verified: Option<RestorePoint>,
    pub restore_points: usize,
    /// Copies waiting to reach the destination.
    pub uploads_pending: usize,
    /// Why they wait (the last upload error), and its code.
    pub upload_error: Option<String>,
    pub upload_error_code: Option<ErrorCode>,
    /// The newest drill that proved one of its restore points restorable.
    pub last_proven: Option<crate::store::Proof>,
}

impl Ctx<'_> {
    pub(crate) fn status(&self) -> Result<StatusReport> {
        // Read from the state database only: the destination is not opened
        // (no keychain, no network); upload problems are what runs recorded.
        let dest_key = self.destination()?.map(|c| c.key());
        let runs = self.store.runs(50)?;
        let drills = self.store.latest_drills()?;
        let mut sources = Vec::new();
        let mut failed_drills = Vec::new();
        for s in self.store.sources()? {
            let points = self.store.restore_points(Some(&s.name))?;
            let mut pending = 0;
            let (mut error, mut code) = (None, None);
            let mut last_verified = None;
            if dest_key.is_none() {
                last_verified = points.first().cloned();
            }
            if let Some(key) = &dest_key {
                for p in &points {
                    match self.store.upload(&p.id, key)? {
                        // Deleted at the destination by retention: neither.
                        Some(u) if u.state == UploadState::Removed => {}
                        Some(u) if u.state == UploadState::Verified => {
                            if last_verified.is_none() {
                                last_verified = Some(p.clone());
                            }
                        }
                        Some(u) => {
                            pending += 1;
                            if error.is_none() {
                                error = u.error;
                                code = u.error_code;
                            }
                        }
                        None => pending += 1,
                    }
                }
            }
            // The newest drill of each of its copies: the last proof, and
            // the copies whose last drill failed (not healed).
            let mut last_proven: Option<&crate::store::DrillRecord> = None;
            for d in drills
                .iter()
                .filter(|d| points.iter().any(|p| p.id == d.point_id))
            {
                if !d.ok {
                    failed_drills.push(FailedDrill {
                        source: s.name.clone(),
                        point: d.point_id.clone(),
                        place: d.place.clone(),
                        detail: d.detail.clone().unwrap_or_default(),
                    });
                } else if last_proven.is_none_or(|p| proof_rank(d) > proof_rank(p)) {
                    last_proven = Some(d);
                }
            }
            let last_proven = last_proven.map(|d| crate::store::Proof {
                at: d.at.clone(),
                place: d.place.clone(),
            });
            sources.push(SourceStatus {
                last_proven,
                name: s.name.clone(),
                kind: s.kind,
                path: s.path.clone(),
                added_at: s.added_at.clone(),
                keep_last: s.keep_last,
                keep_days: s.keep_days,
                last_verified,
                restore_points: points.len(),
                last_backup: points.into_iter().next(),
                uploads_pending: pending,
                upload_error: error,
                upload_error_code: code,
            });
        }
        Ok(StatusReport {
            home: self.home().to_path_buf(),
            schedule: crate::service::schedule::stored(self.store)?,
            destination: dest_key,
            sources,
            last_runs: runs.into_iter().take(10).collect(),
            failed_drills,
            verify_every: self.verify_every()?,
        })
    }
}

/// What Nuage is doing about the data, as the badge, the tray, `nuage
/// status` and the alerts show it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum AppState {
    /// Nothing set up yet (no source, or no destination): the overview
    /// walks the person through the steps; not an alarm.
    NotSetUp,
    UpToDate,
    BackingUp,
    /// Offline or throttled: copies are kept locally and will be uploaded.
    Waiting,
    /// A failed run, sign-in required, destination full, the keychain
    /// unavailable, or no verified backup for three schedule intervals.
    NeedsAttention,
    SignedOut,
    Paused,
}

impl AppState {
    pub const ALL: [AppState; 7] = [
        AppState::NotSetUp,
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
            AppState::NotSetUp => "not_set_up",
            AppState::UpToDate => "up_to_date",
            AppState::BackingUp => "backing_up",
            AppState::Waiting => "waiting",
            AppState::NeedsAttention => "needs_attention",
            AppState::SignedOut => "signed_out",
            AppState::Paused => "paused",
        }
    }
}

/// The one action that fixes the current problem. Each front end words it
/// (a button in the app, a command in the CLI, a line in an alert).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    SignIn,
    /// Unlock the system keychain (or install one): sign-in cannot help.
    UnlockKeychain,
    Retry,
    Resume,
    ChooseFolder,
    AddSource,
    CheckSource,
    FreeSpace,
    /// Set the computer's date and time: nothing in Nuage can.
    CheckClock,
}

/// The current problem, in words, with its action.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct Problem {
    pub code: ErrorCode,
    pub message: String,
    pub action: Action,
    pub source: Option<String>,
}

/// Progress of one source in the run in progress.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default, ts_rs::TS)]
pub struct RunProgress {
    pub source: String,
    pub table: Option<String>,
    pub rows: u64,
    pub bytes: Option<u64>,
    pub total: Option<u64>,
    /// The upload's rate and the time left at it.
    pub bytes_per_sec: Option<u64>,
    pub eta_secs: Option<u64>,
}

/// The kinds of destination, for display.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    Folder,
    Onedrive,
    S3,
}

/// Where backups go, for display.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct DestinationView {
    pub kind: DestinationKind,
    pub label: String,
}

/// The first-start checklist: what is done, what is left.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct SetupSteps {
    /// A source is registered.
    pub source: bool,
    /// A destination is chosen.
    pub destination: bool,
    /// Signed in to Microsoft; `None` when the destination needs no sign-in.
    pub signed_in: Option<bool>,
}

/// Everything the overview screen, the tray and `nuage status` need,
/// computed without a network call.
#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
pub struct Overview {
    pub state: AppState,
    pub summary: String,
    pub problem: Option<Problem>,
    /// While nothing is set up: the steps, done or not.
    pub setup: Option<SetupSteps>,
    pub paused: bool,
    pub running: Option<Vec<RunProgress>>,
    /// Who is signed in (read from the keychain), if anyone.
    pub signed_in: Option<String>,
    pub destination: Option<DestinationView>,
    /// The schedule setting: `off`, `every:N`, `daily:HH:MM`.
    pub schedule: String,
    /// When the next scheduled run starts; none while nothing can be backed up.
    pub next_run: Option<String>,
    /// The oldest of the sources' last verified backups: the time the
    /// tray's tooltip gives ("everything is safe as of …").
    pub last_verified_at: Option<String>,
    pub sources: Vec<SourceStatus>,
}

/// What the caller knows beyond the status report.
#[derive(Debug, Clone)]
pub struct Context {
    pub running: Option<Vec<RunProgress>>,
    pub paused: bool,
    /// `Ok(Some(name))` signed in, `Ok(None)` signed out, `Err(message)`
    /// the keychain cannot be read. Only asked when the destination is
    /// OneDrive.
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

pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The action that fixes a problem with this code.
pub fn action_for(code: ErrorCode) -> Action {
    match code {
        ErrorCode::SignInRequired | ErrorCode::SignInDeclined | ErrorCode::SignInExpired => {
            Action::SignIn
        }
        ErrorCode::KeychainUnavailable => Action::UnlockKeychain,
        ErrorCode::DestinationFull | ErrorCode::DestinationUnavailable | ErrorCode::NotFound => {
            Action::ChooseFolder
        }
        ErrorCode::NoDestination => Action::ChooseFolder,
        ErrorCode::SourceUnavailable => Action::CheckSource,
        ErrorCode::DiskFull => Action::FreeSpace,
        ErrorCode::NoSources => Action::AddSource,
        ErrorCode::ClockChanged => Action::CheckClock,
        _ => Action::Retry,
    }
}

fn problem(code: ErrorCode, message: String, source: Option<&str>) -> Option<Problem> {
    Some(Problem {
        code,
        action: action_for(code),
        message,
        source: source.map(str::to_string),
    })
}

/// Whether the destination needs a Microsoft sign-in.
fn to_cloud(destination: Option<&DestinationConfig>) -> bool {
    matches!(destination, Some(DestinationConfig::OneDrive { .. }))
}

/// Every problem that needs a person now, most pressing first: signed
/// out (or the keychain unavailable), each source's failed last run, each
/// source's uploads that cannot go without the person, the clock, each
/// source with no verified backup for three schedule intervals. The first
/// is the state [`assess`] gives; alerts follow all of them.
pub fn attention(status: &StatusReport, ctx: &Context) -> Vec<(AppState, String, Problem)> {
    let now = ctx.now.unwrap_or_else(Utc::now);
    let mut found: Vec<(AppState, String, Option<Problem>)> = Vec::new();
    if to_cloud(ctx.destination.as_ref()) {
        match &ctx.signed_in {
            Ok(None) => {
                found.push((
                    AppState::SignedOut,
                    "signed out: copies stay on this computer only.".into(),
                    problem(
                        ErrorCode::SignInRequired,
                        "Nuage is not signed in to Microsoft, so copies stay on this computer only. Sign in again to keep them in OneDrive.".into(),
                        None,
                    ),
                ));
            }
            Err(message) => {
                found.push((
                    AppState::NeedsAttention,
                    format!("needs attention: {message}"),
                    problem(ErrorCode::KeychainUnavailable, message.clone(), None),
                ));
            }
            Ok(Some(_)) => {}
        }
    }
    // A failed last run of a source.
    for s in &status.sources {
        if let Some(r) = status.last_runs.iter().find(|r| r.source == s.name)
            && r.outcome == RunOutcome::Failed
        {
            let code = r.error_code.unwrap_or(ErrorCode::Failed);
            let why = r.error.clone().unwrap_or_else(|| "unknown error".into());
            found.push((
                AppState::NeedsAttention,
                format!(
                    "needs attention: the last backup of '{}' failed: {why}",
                    s.name
                ),
                problem(code, why, Some(&s.name)),
            ));
        }
    }
    // A copy that failed its restore drill (and no good copy healed it).
    for d in &status.failed_drills {
        let place = if d.place == crate::run::drill::LOCAL {
            "the local copy"
        } else {
            "the copy at the destination"
        };
        found.push((
            AppState::NeedsAttention,
            format!(
                "needs attention: {place} of a restore point of '{}' failed its restore drill.",
                d.source
            ),
            problem(
                ErrorCode::DrillFailed,
                format!(
                    "{place} of restore point {} could not be proven restorable ({}). Nothing was deleted. Back up now so that a new point is made and checked, then run a drill again.",
                    d.point, d.detail
                ),
                Some(&d.source),
            ),
        ));
    }
    // Never proven restorable for two drill intervals (drills cannot run:
    // Nuage is not kept running, or every drill is refused).
    if let Some(days) = status.verify_every {
        let limit = chrono::Duration::days(2 * i64::from(days));
        for s in status.sources.iter().filter(|s| s.last_backup.is_some()) {
            let since = s
                .last_proven
                .as_ref()
                .map(|p| p.at.as_str())
                .unwrap_or(&s.added_at);
            if parse_time(since).is_some_and(|t| now - t > limit) {
                let what = match &s.last_proven {
                    Some(p) => format!("'{}' was last proven restorable on {}", s.name, p.at),
                    None => format!("'{}' has never been proven restorable", s.name),
                };
                found.push((
                    AppState::NeedsAttention,
                    format!("needs attention: '{}' has not been proven restorable lately.", s.name),
                    problem(
                        ErrorCode::Unproven,
                        format!(
                            "{what}; restore drills are due every {days} days. Run a restore drill now, and keep Nuage running so that they run by themselves."
                        ),
                        Some(&s.name),
                    ),
                ));
            }
        }
    }
    // Uploads that cannot go without the person.
    let stuck = |s: &&SourceStatus| {
        s.uploads_pending > 0 && !s.upload_error_code.is_none_or(ErrorCode::is_transient)
    };
    for s in status.sources.iter().filter(stuck) {
        let code = s.upload_error_code.unwrap_or(ErrorCode::Failed);
        let why = s.upload_error.clone().unwrap_or_default();
        found.push((
            AppState::NeedsAttention,
            format!(
                "needs attention: copies of '{}' are safe locally but cannot be uploaded: {why}",
                s.name
            ),
            problem(code, why, Some(&s.name)),
        ));
    }
    // A run dated later than now: the clock went back. Scheduled backups
    // go on (the scheduler ignores such a date), but restore points are
    // named and kept by date, so a person should set the clock right.
    if let Some(r) = status
        .last_runs
        .iter()
        .find(|r| parse_time(&r.started_at).is_some_and(|t| t > now + chrono::Duration::minutes(5)))
    {
        found.push((
            AppState::NeedsAttention,
            "needs attention: the computer's clock is behind the last backup.".into(),
            problem(
                ErrorCode::ClockChanged,
                format!(
                    "The last backup of '{}' is dated {}, later than this computer's clock ({}). Backups go on as scheduled, but restore points are named and kept by date: check the computer's date and time.",
                    r.source,
                    r.started_at,
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                Some(&r.source),
            ),
        ));
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
                found.push((
                    AppState::NeedsAttention,
                    format!(
                        "needs attention: '{}' has no recent verified backup.",
                        s.name
                    ),
                    problem(
                        ErrorCode::Stale,
                        format!(
                            "{what}, more than three scheduled intervals ago. Back up now, and check that Nuage keeps running."
                        ),
                        Some(&s.name),
                    ),
                ));
            }
        }
    }
    found
        .into_iter()
        .filter_map(|(state, summary, p)| p.map(|p| (state, summary, p)))
        .collect()
}

/// The overall state: the status report plus what the caller knows.
/// Precedence: backing up, paused, not set up, signed out (or keychain
/// unavailable), needs attention, waiting, up to date. Staleness (no
/// verified backup of a source for three schedule intervals) is "needs
/// attention" whatever the last run said.
pub fn assess(status: &StatusReport, ctx: &Context) -> (AppState, String, Option<Problem>) {
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
            Some(Problem {
                code: ErrorCode::Failed,
                message: "Scheduled backups are paused. Resume them to keep your data safe.".into(),
                action: Action::Resume,
                source: None,
            }),
        );
    }
    if status.sources.is_empty() || ctx.destination.is_none() {
        let (code, message) = if status.sources.is_empty() {
            (
                ErrorCode::NoSources,
                "Nothing is backed up yet. Add the data of an application: a database file.",
            )
        } else {
            (
                ErrorCode::NoDestination,
                "Copies are kept on this computer only. Choose where to keep them: a OneDrive folder, an S3 bucket or a backup disk.",
            )
        };
        let summary = if status.sources.is_empty() {
            "not set up: add what to back up."
        } else {
            "not set up: choose where to keep the copies."
        };
        return (
            AppState::NotSetUp,
            summary.into(),
            problem(code, message.into(), None),
        );
    }
    if let Some((state, summary, problem)) = attention(status, ctx).into_iter().next() {
        return (state, summary, Some(problem));
    }
    if let Some(s) = status.sources.iter().find(|s| s.uploads_pending > 0) {
        let why = s
            .upload_error
            .clone()
            .unwrap_or_else(|| "not uploaded yet".into());
        let code = s.upload_error_code.unwrap_or(ErrorCode::Offline);
        return (
            AppState::Waiting,
            format!(
                "waiting: {} copies of '{}' are safe locally and will be uploaded ({why}).",
                s.uploads_pending, s.name
            ),
            problem(code, why, Some(&s.name)),
        );
    }
    if status.sources.iter().any(|s| s.last_backup.is_none()) {
        return (
            AppState::Waiting,
            "waiting for the first backup.".into(),
            None,
        );
    }
    (AppState::UpToDate, "up to date".into(), None)
}

impl Ctx<'_> {
    /// The overview as of now: the status report, the keychain (only when
    /// the destination is OneDrive), the schedule. No network.
    pub fn overview(&self, running: Option<Vec<RunProgress>>) -> Result<Overview> {
        self.overview_of(self.status()?, running)
    }

    /// What the state model needs beyond the status report: the
    /// destination, the sign-in (asked only when it is OneDrive), paused.
    pub(crate) fn context(&self, running: Option<Vec<RunProgress>>) -> Result<Context> {
        let destination = self.destination()?;
        let signed_in = if to_cloud(destination.as_ref()) {
            self.signed_in().map_err(|e| e.to_string())
        } else {
            Ok(None)
        };
        Ok(Context {
            running,
            paused: self.store.paused()?,
            signed_in,
            destination,
            now: None,
        })
    }

    /// [`Ctx::overview`] from a status report already read.
    pub fn overview_of(
        &self,
        status: StatusReport,
        running: Option<Vec<RunProgress>>,
    ) -> Result<Overview> {
        self.overview_in(status, self.context(running)?)
    }

    /// The overview from a status report and a context already read.
    pub(crate) fn overview_in(&self, status: StatusReport, ctx: Context) -> Result<Overview> {
        let running = ctx.running.clone();
        let (destination, signed_in) = (ctx.destination.clone(), ctx.signed_in.clone());
        let (state, summary, problem) = assess(&status, &ctx);
        let setup = (state == AppState::NotSetUp).then(|| SetupSteps {
            source: !status.sources.is_empty(),
            destination: destination.is_some(),
            signed_in: to_cloud(destination.as_ref()).then_some(matches!(signed_in, Ok(Some(_)))),
        });
        let last = status
            .last_runs
            .first()
            .and_then(|r| parse_time(&r.started_at));
        // Nothing to back up: no next run to announce.
        let next_run = if status.sources.is_empty() {
            None
        } else {
            status
                .schedule
                .next_run(last, Utc::now())
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        let last_verified_at = if status.sources.is_empty()
            || status.sources.iter().any(|s| s.last_verified.is_none())
        {
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
            setup,
            paused: ctx.paused,
            running,
            signed_in: signed_in.ok().flatten(),
            destination: destination.map(|d| match d {
                DestinationConfig::Folder { path } => DestinationView {
                    kind: DestinationKind::Folder,
                    label: path.display().to_string(),
                },
                DestinationConfig::OneDrive { label, .. } => DestinationView {
                    kind: DestinationKind::Onedrive,
                    label,
                },
                DestinationConfig::S3(s) => DestinationView {
                    kind: DestinationKind::S3,
                    label: s.label(),
                },
            }),
            schedule: status.schedule.to_setting(),
            next_run,
            last_verified_at,
            sources: status.sources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::schedule::Schedule;
    use crate::store::{Location, RestorePoint, RunRecord};

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
            upload: Some(UploadState::Verified),
            file: PathBuf::new(),
            fingerprint: String::new(),
            source_path: PathBuf::new(),
            changes: None,
            proven: None,
            content_digest: None,
            missing_files: None,
        }
    }

    fn source(verified: Option<&str>) -> SourceStatus {
        SourceStatus {
            name: "shop".into(),
            kind: crate::source::SourceKind::Sqlite,
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
            last_proven: None,
        }
    }

    fn report(sources: Vec<SourceStatus>, runs: Vec<RunRecord>) -> StatusReport {
        StatusReport {
            home: PathBuf::new(),
            schedule: Schedule::every(60).unwrap(),
            destination: Some("onedrive".into()),
            sources,
            last_runs: runs,
            failed_drills: Vec::new(),
            verify_every: None,
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

    #[test]
    fn a_source_not_proven_restorable_for_two_drill_intervals_needs_attention() {
        let mut s = source(Some("2026-11-21T08:00:00Z"));
        s.last_proven = Some(crate::store::Proof {
            at: "2026-11-10T08:00:00Z".into(),
            place: "destination".into(),
        });
        let mut r = report(vec![s], vec![]);
        // Drills off: nothing to say.
        let (state, _, _) = assess(&r, &ctx("2026-11-21T09:00:00Z"));
        assert_eq!(state, AppState::UpToDate);
        r.verify_every = Some(7);
        // 11 days: within two weekly intervals.
        let (state, _, _) = assess(&r, &ctx("2026-11-21T09:00:00Z"));
        assert_eq!(state, AppState::UpToDate);
        // 15 days: needs attention, saying when and what to do.
        let (state, _, p) = assess(&r, &ctx("2026-11-25T09:00:00Z"));
        assert_eq!(state, AppState::NeedsAttention);
        let p = p.unwrap();
        assert_eq!(p.code, ErrorCode::Unproven);
        assert!(
            p.message.contains("last proven restorable on 2026-11-10"),
            "{}",
            p.message
        );
        // Never proven: counted from when the source was added.
        r.sources[0].last_proven = None;
        let (_, _, p) = assess(&r, &ctx("2026-11-25T09:00:00Z"));
        assert!(p.unwrap().message.contains("never been proven"));
    }

    fn failed_run(code: &str) -> RunRecord {
        RunRecord {
            source: "shop".into(),
            started_at: "2026-11-21T09:00:00Z".into(),
            finished_at: "2026-11-21T09:00:01Z".into(),
            outcome: RunOutcome::Failed,
            restore_point: None,
            bytes: None,
            error: Some("it broke".into()),
            error_code: Some(ErrorCode::parse(code)),
        }
    }

    #[test]
    fn a_run_dated_after_now_says_the_clock_went_back() {
        let mut run = failed_run("failed");
        run.outcome = RunOutcome::BackedUp;
        run.error = None;
        run.error_code = None;
        run.started_at = "2026-11-21T12:00:00Z".into();
        let r = report(vec![source(Some("2026-11-21T09:30:00Z"))], vec![run]);
        let (state, _, p) = assess(&r, &ctx("2026-11-21T10:00:00Z"));
        assert_eq!(state, AppState::NeedsAttention);
        let p = p.unwrap();
        assert_eq!(
            (p.code, p.action),
            (ErrorCode::ClockChanged, Action::CheckClock)
        );
        assert!(p.message.contains("2026-11-21T12:00:00Z"), "{}", p.message);
        // A few minutes of drift between machines is not a jump.
        let (state, _, _) = assess(&r, &ctx("2026-11-21T11:58:00Z"));
        assert_eq!(state, AppState::UpToDate);
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
        s.upload_error_code = Some(ErrorCode::Offline);
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
            s.upload_error_code = Some(ErrorCode::parse(code));
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
            (AppState::NotSetUp, Action::AddSource)
        );
        c.destination = None;
        c.signed_in = Ok(Some("x".into()));
        let (state, _, p) = assess(&r, &c);
        assert_eq!(
            (state, p.unwrap().action),
            (AppState::NotSetUp, Action::ChooseFolder)
        );
    }

    #[test]
    fn a_first_start_with_a_locked_keychain_is_setup_not_an_alarm() {
        // Nothing configured, the keychain locked: the keychain does not
        // matter yet (no cloud destination), the person is walked through.
        let c = Context {
            signed_in: Err("The keychain is locked; unlock it and try again.".into()),
            destination: None,
            now: Some(at("2026-11-21T10:00:00Z")),
            ..Context::default()
        };
        let (state, _, p) = assess(&report(vec![], vec![]), &c);
        let p = p.unwrap();
        assert_eq!(
            (state, p.code, p.action),
            (AppState::NotSetUp, ErrorCode::NoSources, Action::AddSource)
        );
        // With a OneDrive destination, a locked keychain is the problem,
        // and its action unlocks the keychain (signing in cannot help).
        let mut c = ctx("2026-11-21T10:00:00Z");
        c.signed_in = Err("The keychain is locked; unlock it and try again.".into());
        let r = report(vec![source(Some("2026-11-21T09:30:00Z"))], vec![]);
        let (state, _, p) = assess(&r, &c);
        assert_eq!(
            (state, p.unwrap().action),
            (AppState::NeedsAttention, Action::UnlockKeychain)
        );
        // With a folder destination the keychain does not matter at all.
        c.destination = Some(DestinationConfig::Folder {
            path: PathBuf::from("/mnt/nas"),
        });
        assert_eq!(assess(&r, &c).0, AppState::UpToDate);
    }

    #[test]
    fn paused_offers_resume() {
        let mut c = ctx("2026-11-21T10:00:00Z");
        c.paused = true;
        let r = report(vec![source(Some("2026-11-21T09:30:00Z"))], vec![]);
        let (state, _, p) = assess(&r, &c);
        assert_eq!(
            (state, p.unwrap().action),
            (AppState::Paused, Action::Resume)
        );
    }
}
