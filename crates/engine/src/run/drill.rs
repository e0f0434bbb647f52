//! Restore drills: proof, not hope. For each source, its newest restore
//! point (or every one) is taken from each place it is kept — the local
//! copy, and the destination — checked end to end against the checksum
//! recorded when it was made, restored into a scratch target exactly as a
//! restore would (every table rebuilt and integrity-checked, every file of
//! a folder accounted for), and compared with what the point recorded
//! (tables or files, rows or bytes). Nothing outside the home's scratch
//! folder is written.
//!
//! A copy that fails is healed from a good copy of the same point where
//! one exists — a local copy put back from the destination, a destination
//! copy uploaded again from the local one — and drilled again; nothing is
//! ever deleted because a drill failed. Each drill is recorded (when, from
//! where, what was found): listings show "proven restorable", and a point
//! whose last drill failed is a problem of the state model (and so an
//! alert).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::Ctx;
use super::restore::BackupRef;
use crate::destination::{Destination, file_name};
use crate::document::digest::comparable;
use crate::document::{Cancel, Document};
use crate::error::{Error, ErrorCode, Result};
use crate::event::Event;
use crate::fsutil;
use crate::source::{NoContent, Placement, Source, SourceKind, SourceOptions};
use crate::store::{DrillRecord, RestorePoint, UploadState};

pub(crate) const LOCAL: &str = "local";
pub(crate) const DESTINATION: &str = "destination";

/// What one drill of one copy found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct DrillReport {
    pub source: String,
    /// A database's points hold tables and rows, a folder's files and bytes.
    pub kind: SourceKind,
    pub point: String,
    /// `local` or `destination`.
    pub place: String,
    /// Proven restorable (after healing, when it was healed).
    pub ok: bool,
    /// Tables (files) and rows (bytes) the scratch restore held.
    pub tables: u64,
    pub rows: u64,
    /// Why it failed, or what was wrong before it was healed.
    pub problem: Option<String>,
    /// How it was healed.
    pub healed: Option<String>,
    /// The place could not be reached (offline, throttled, signed out):
    /// not drilled, so neither proven nor recorded as a failed copy.
    pub unreachable: bool,
    /// A scheduled drill's share of downloads was used: left, unrecorded,
    /// for a later drill (it comes first then, drilled longest ago).
    pub deferred: bool,
    /// How it was proven (loaded and compared by content digest, or
    /// validated only, and why), and what could not be restored as it was.
    pub note: Option<String>,
}

/// The destination could not be asked at all: nothing is known of the copy.
fn unreachable(e: &Error) -> bool {
    e.code().is_transient()
        || matches!(
            e.code(),
            ErrorCode::DestinationUnavailable
                | ErrorCode::SignInRequired
                | ErrorCode::SignInExpired
                | ErrorCode::KeychainUnavailable
        )
}

/// Which copies to drill.
#[derive(Debug, Clone, Copy, Default)]
pub struct DrillOptions {
    /// Every restore point, not only each source's newest.
    pub all: bool,
    /// Download and restore the destination's copy even when the local one
    /// is good (otherwise the destination's copy is checked by the hash
    /// the destination reports for it).
    pub remote: bool,
    /// Scheduled drills: besides each newest point, a sample of older
    /// points, those drilled longest ago (never, first), sized so that
    /// every point is drilled in turn within its retention without
    /// drilling them all each time; and their downloads (from a destination
    /// that lists no hash) within a share: at most one backup's worth
    /// beyond the newest points, the rest left for a later drill.
    pub rotate: bool,
}

/// The setting that holds when the last drill ran.
const LAST_DRILL: &str = "last_drill_at";
/// The setting that holds the days between scheduled drills (`off`).
const VERIFY_EVERY: &str = "verify_every";
/// Scheduled drills, unless set otherwise: weekly.
pub const DEFAULT_VERIFY_EVERY_DAYS: u32 = 7;

impl Ctx<'_> {
    /// Days between scheduled drills; `None` when they are off.
    pub(crate) fn verify_every(&self) -> Result<Option<u32>> {
        Ok(match self.store.setting(VERIFY_EVERY)?.as_deref() {
            Some("off") => None,
            Some(n) => Some(n.parse().unwrap_or(DEFAULT_VERIFY_EVERY_DAYS)),
            None => Some(DEFAULT_VERIFY_EVERY_DAYS),
        })
    }

    pub(crate) fn set_verify_every(&self, days: Option<u32>) -> Result<()> {
        if let Some(d) = days
            && !(1..=365).contains(&d)
        {
            return Err(Error::Invalid(format!(
                "drills every {d} days: give a number of days from 1 to 365 (or turn scheduled drills off)."
            )));
        }
        let value = days.map_or("off".to_string(), |d| d.to_string());
        self.store.set_setting(VERIFY_EVERY, Some(&value))
    }

    /// Whether a scheduled drill is due at `now`: its interval since the
    /// last drill (or, never drilled, since the oldest restore point).
    pub(crate) fn drill_due(&self, now: DateTime<Utc>) -> Result<bool> {
        let Some(days) = self.verify_every()? else {
            return Ok(false);
        };
        let since = match self.store.setting(LAST_DRILL)? {
            Some(t) => crate::status::parse_time(&t),
            None => self
                .store
                .restore_points(None)?
                .last()
                .and_then(|p| crate::status::parse_time(&p.created_at)),
        };
        Ok(since.is_some_and(|t| now - t >= chrono::Duration::days(i64::from(days))))
    }

    pub(crate) fn drill(
        &self,
        names: &[String],
        opts: DrillOptions,
        now: DateTime<Utc>,
        events: &mut dyn FnMut(Event),
    ) -> Result<Vec<DrillReport>> {
        let stamp = now.to_rfc3339_opts(SecondsFormat::Secs, true);
        let sources = self.store.sources()?;
        for n in names {
            if !sources.iter().any(|s| &s.name == n) {
                return Err(Error::UnknownSource(n.clone()));
            }
        }
        let mut dest = self.open_destination()?;
        // When each point was last drilled where it matters most: at the
        // destination when there is one.
        let place = if dest.is_some() { DESTINATION } else { LOCAL };
        let drilled_at: HashMap<String, String> = self
            .store
            .latest_drills()?
            .into_iter()
            .filter(|d| d.place == place)
            .map(|d| (d.point_id, d.at))
            .collect();
        let mut reports = Vec::new();
        // A scheduled drill's share of downloads beyond the newest points:
        // one backup's worth (each source's newest point).
        let mut share = if opts.rotate {
            let mut newest = 0;
            for s in &sources {
                newest += self
                    .store
                    .restore_points(Some(&s.name))?
                    .first()
                    .map_or(0, |p| p.size_bytes);
            }
            Some(newest)
        } else {
            None
        };
        for s in sources
            .iter()
            .filter(|s| names.is_empty() || names.contains(&s.name))
        {
            let points = self.store.restore_points(Some(&s.name))?;
            let mut chosen: Vec<&RestorePoint> = if opts.all {
                points.iter().collect()
            } else {
                points.iter().take(1).collect()
            };
            if opts.rotate && !opts.all {
                let every = self.verify_every()?.unwrap_or(DEFAULT_VERIFY_EVERY_DAYS);
                chosen.extend(sample(&points, &drilled_at, every, now));
            }
            // Where the source's recent points put each contents, read
            // once for all its points that need it.
            let mut elsewhere = None;
            for (i, p) in chosen.into_iter().enumerate() {
                let local = self.drill_local(p, s.kind, events);
                let local_ok = local.ok;
                self.record(&local, &stamp)?;
                reports.push(local);
                match &mut dest {
                    None => {}
                    Some(Err(e)) => {
                        // Not a failed copy: nothing could be asked. Said,
                        // not recorded; the next drill tries again.
                        let mut r = report(p, DESTINATION, s.kind);
                        r.problem = Some(format!("the destination cannot be used now: {e}"));
                        r.unreachable = true;
                        reports.push(r);
                    }
                    Some(Ok((key, d))) => {
                        let state = self.store.upload(&p.id, key)?.map(|u| u.state);
                        // Not sent yet (or a folder point superseded before
                        // it was): nothing to drill there.
                        if state != Some(UploadState::Verified) {
                            continue;
                        }
                        // The newest point is always drilled; an older one
                        // that needs a download waits when the share is used.
                        let budget = if i == 0 { &mut None } else { &mut share };
                        let r = self.drill_remote(
                            d.as_mut(),
                            key,
                            p,
                            s.kind,
                            local_ok,
                            opts,
                            budget,
                            &mut elsewhere,
                            events,
                        );
                        if !r.unreachable && !r.deferred {
                            self.record(&r, &stamp)?;
                        }
                        reports.push(r);
                    }
                }
            }
        }
        self.store.set_setting(LAST_DRILL, Some(&stamp))?;
        Ok(reports)
    }

    fn record(&self, r: &DrillReport, at: &str) -> Result<()> {
        self.store.record_drill(&DrillRecord {
            point_id: r.point.clone(),
            place: r.place.clone(),
            at: at.to_string(),
            ok: r.ok,
            detail: r
                .problem
                .clone()
                .or_else(|| r.healed.clone())
                .or_else(|| r.note.clone()),
        })
    }

    /// The local copy: its checksum, then a scratch restore.
    fn drill_local(
        &self,
        p: &RestorePoint,
        kind: SourceKind,
        events: &mut dyn FnMut(Event),
    ) -> DrillReport {
        let mut r = report(p, LOCAL, kind);
        if let Err(e) = self.verify_point(p) {
            r.problem = Some(e.to_string());
            // Healed from the destination's copy, when it holds a good one.
            match self.repair_local_copy(p) {
                Ok(()) => {
                    r.healed = Some("the local copy was put back from the destination".into())
                }
                Err(_) => return r,
            }
        }
        let restored = self
            .scratch_restore(&p.file, p, kind, events)
            .and_then(|counts| {
                if kind == SourceKind::Folder && matches!(self.destination(), Ok(None)) {
                    self.check_folder_here(p)?;
                }
                Ok(counts)
            });
        match restored {
            Ok(c) => {
                r.ok = true;
                (r.tables, r.rows, r.note) = (c.tables, c.rows, c.note);
            }
            Err(e) => r.problem = Some(e.to_string()),
        }
        r
    }

    /// With no destination, a folder point's files are on this machine:
    /// in the folder as last backed up, the local copy or kept versions.
    fn check_folder_here(&self, p: &RestorePoint) -> Result<()> {
        let m = self.local_manifest(p)?;
        let newest = self.store.restore_points(Some(&p.source))?;
        let current = match newest.first() {
            Some(n) => self
                .local_manifest(n)?
                .folder
                .files
                .into_iter()
                .map(|f| f.blake3)
                .collect(),
            None => Default::default(),
        };
        let missing = super::copies::missing_locally(self, p, &m.folder.files, &current);
        if missing > 0 {
            return Err(Error::Invalid(format!(
                "restore point {}: no copy of {missing} of its files as they were is kept on this computer (set a destination, or a larger local copy for this folder).",
                p.id
            )));
        }
        Ok(())
    }

    /// The destination's copy: its listed size and hash (or, with
    /// `remote` or no good local copy, a download checked end to end and
    /// a scratch restore of it). A bad one is uploaded again from a good
    /// local copy.
    #[allow(clippy::too_many_arguments)]
    fn drill_remote(
        &self,
        dest: &mut dyn Destination,
        key: &str,
        p: &RestorePoint,
        kind: SourceKind,
        local_ok: bool,
        opts: DrillOptions,
        share: &mut Option<u64>,
        elsewhere: &mut Option<HashMap<String, Vec<String>>>,
        events: &mut dyn FnMut(Event),
    ) -> DrillReport {
        let mut r = report(p, DESTINATION, kind);
        // A destination that lists no hash (a folder, a NAS) is read back:
        // a size alone proves nothing about the bytes.
        let download = opts.remote || !local_ok || !dest.capabilities().listed_hash;
        if download && let Some(left) = share {
            if p.size_bytes > *left {
                r.deferred = true;
                r.problem =
                    Some("left for a later drill: this drill's share of downloads is used".into());
                return r;
            }
            *left -= p.size_bytes;
        }
        let found = (|| -> Result<Checked> {
            if download {
                let file = self.download_remote(p)?;
                let result = self.scratch_restore(&file, p, kind, events);
                let _ = std::fs::remove_file(&file);
                return result;
            }
            let listed = dest
                .list(&p.source)?
                .into_iter()
                .find(|f| f.name == file_name(&p.id));
            let Some(f) = listed else {
                return Err(missing(p, dest, "it is not there"));
            };
            if f.size != p.size_bytes {
                return Err(missing(
                    p,
                    dest,
                    &format!("it holds {} bytes, not {}", f.size, p.size_bytes),
                ));
            }
            if let (Some(theirs), Some(ours)) = (f.quickxor.as_deref(), p.quickxor.as_deref())
                && theirs != ours
            {
                return Err(missing(
                    p,
                    dest,
                    "its contents differ (the destination's hash)",
                ));
            }
            if kind == SourceKind::Folder {
                let elsewhere = elsewhere.get_or_insert_with(|| self.elsewhere(&p.source));
                self.check_folder_files(dest, p, elsewhere)?;
            }
            Ok(Checked {
                tables: p.tables,
                rows: p.rows,
                note: Some(format!(
                    "{} holds it as it was sent (its size and hash)",
                    dest.describe()
                )),
            })
        })();
        match found {
            Ok(c) => {
                r.ok = true;
                (r.tables, r.rows, r.note) = (c.tables, c.rows, c.note);
            }
            Err(e) if unreachable(&e) => {
                r.problem = Some(format!("the destination cannot be used now: {e}"));
                r.unreachable = true;
            }
            Err(e) => {
                r.problem = Some(e.to_string());
                // Uploaded again from the local copy, when it is good (a
                // folder's files are only ever sent for its newest point).
                if local_ok && kind != SourceKind::Folder {
                    let upload = self.upload_point(dest, key, p, &mut |_| {});
                    if upload.is_ok() {
                        r.ok = true;
                        (r.tables, r.rows) = (p.tables, p.rows);
                        r.healed = Some(format!(
                            "uploaded again to {} from the local copy",
                            dest.describe()
                        ));
                    }
                }
            }
        }
        r
    }

    /// Every file a folder point names is at the destination with its
    /// size and hash, where a restore would look for it: among the kept
    /// versions, under its path, or where a later point moved it.
    fn check_folder_files(
        &self,
        dest: &mut dyn Destination,
        p: &RestorePoint,
        elsewhere: &HashMap<String, Vec<String>>,
    ) -> Result<()> {
        let m = self.local_manifest(p)?;
        for f in &m.folder.files {
            let mut found = false;
            for at in super::mirror::remote_places(&p.source, f, elsewhere) {
                if let Some(info) = dest.file_info(&at)?
                    && info.size == f.size
                    && info.quickxor.as_deref().is_none_or(|q| q == f.quickxor)
                {
                    found = true;
                    break;
                }
            }
            if !found {
                return Err(Error::Destination {
                    code: ErrorCode::HashMismatch,
                    message: format!(
                        "'{}' of restore point {} is not at {} as it was (missing or changed).",
                        f.path,
                        p.id,
                        dest.describe()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Restores the copy in `file` as a restore would and compares what it
    /// held with what `p` recorded.
    fn scratch_restore(
        &self,
        file: &Path,
        p: &RestorePoint,
        kind: SourceKind,
        events: &mut dyn FnMut(Event),
    ) -> Result<Checked> {
        let checked = match kind {
            // A folder's files are checked by their hashes where they are
            // kept (check_folder_here, check_folder_files).
            SourceKind::Folder => self.validate(file, events, None)?,
            SourceKind::Sqlite | SourceKind::Postgresql => {
                self.restore_and_read_back(file, p, kind, events)?
            }
        };
        if checked.tables != p.tables || checked.rows != p.rows {
            let (t, w) = if kind == SourceKind::Folder {
                ("files", "bytes")
            } else {
                ("tables", "rows")
            };
            return Err(corrupt(
                p,
                format!(
                    "it restores {} {t} and {} {w}, but {} {t} and {} {w} were recorded when it was made",
                    checked.tables, checked.rows, p.tables, p.rows
                ),
            ));
        }
        Ok(checked)
    }

    /// Reads the whole document as a restore would, building nothing.
    fn validate(
        &self,
        file: &Path,
        events: &mut dyn FnMut(Event),
        note: Option<String>,
    ) -> Result<Checked> {
        let preview = self.preview(
            &BackupRef::File(file.to_path_buf()),
            events,
            &Cancel::default(),
        )?;
        Ok(Checked {
            tables: preview.tables.len() as u64,
            rows: preview.rows,
            note,
        })
    }

    /// A database's point, restored into a temporary target exactly as a
    /// restore into a new one would be (a file in the scratch folder, a new
    /// database on the source's own server), read back by a snapshot of
    /// that target, and its content digest compared with the one recorded
    /// when the point was made. The temporary target is removed after.
    fn restore_and_read_back(
        &self,
        file: &Path,
        p: &RestorePoint,
        kind: SourceKind,
        events: &mut dyn FnMut(Event),
    ) -> Result<Checked> {
        let work = self.store.work_dir();
        fsutil::create_private_dir(&work)?;
        let record = self.store.source(&p.source)?;
        let scratch = work.join(format!("drill-{:016x}", fastrand::u64(..)));
        let _scratch = ScratchDir(scratch.clone());
        let (sqlite_target, temp_db);
        let target: &dyn Source = if kind == SourceKind::Postgresql {
            let pg = crate::source::postgres::PostgresSource::new(
                &p.source,
                &record.path,
                self.home(),
                self.config,
            );
            temp_db = match pg.temporary_database() {
                Ok(db) => db,
                Err(e) if unreachable(&e) => return Err(e),
                // Proven as far as it can be without a database to load.
                Err(e) => {
                    return self.validate(
                        file,
                        events,
                        Some(format!(
                            "read and validated in full, not loaded into a database ({e}); let its user create databases (CREATEDB) for drills that load the data and compare it"
                        )),
                    );
                }
            };
            temp_db.target()
        } else {
            fsutil::create_private_dir(&scratch)?;
            sqlite_target = crate::source::open(
                kind,
                &p.source,
                &scratch.join("restored.db"),
                &SourceOptions::default(),
                self.home(),
                self.config,
            );
            sqlite_target.as_ref()
        };
        let label = format!("restore point {}", p.id);
        let input = Document::open(file, crate::document::limits::LOAD_TIME_BASE)?;
        let mut progress = |table: &str, rows: u64| {
            events(Event::RestoreProgress {
                table: table.to_string(),
                rows,
            })
        };
        let staged = target.stage_restore(
            input,
            &label,
            Placement::New { force: true },
            &work,
            &mut progress,
            &mut NoContent,
        )?;
        let mut not_restored = staged.restored().not_restored.clone();
        let created_at = staged.restored().created_at.clone();
        for n in staged.commit()? {
            if !not_restored.contains(&n) {
                not_restored.push(n);
            }
        }
        let read_back = target.snapshot(
            &created_at,
            &work,
            Path::new(&label),
            &mut std::io::sink(),
            &mut |_| {},
        )?;
        let mut notes = Vec::new();
        match (&p.content_digest, &read_back.digest) {
            (Some(recorded), Some(restored)) if comparable(recorded, restored) => {
                if recorded != restored {
                    return Err(corrupt(
                        p,
                        "the rows it restores are not the rows that were backed up (their content digest differs)".into(),
                    ));
                }
                notes.push("its rows are the ones backed up (content digest)".to_string());
            }
            _ => {
                notes.push("no content digest was recorded for it; tables and rows compared".into())
            }
        }
        if !not_restored.is_empty() {
            notes.push(format!(
                "not restored as it was: {}",
                not_restored.join("; ")
            ));
        }
        Ok(Checked {
            tables: read_back.tables,
            rows: read_back.rows,
            note: Some(notes.join("; ")),
        })
    }
}

/// What restoring a copy showed.
struct Checked {
    tables: u64,
    rows: u64,
    note: Option<String>,
}

/// A drill's scratch folder, removed with what it holds.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn corrupt(p: &RestorePoint, why: String) -> Error {
    Error::InvalidBackup(crate::error::InvalidBackup::Corrupt(
        format!("restore point {}", p.id),
        why,
    ))
}

impl Ctx<'_> {
    /// Fills in when each point was last proven restorable, and from where
    /// (the newest successful drill of its copies).
    pub(crate) fn add_proofs(&self, points: &mut [RestorePoint]) -> Result<()> {
        let drills = self.store.latest_drills()?;
        for p in points.iter_mut() {
            p.proven = drills
                .iter()
                .filter(|d| d.point_id == p.id && d.ok)
                .max_by_key(|d| proof_rank(d))
                .map(|d| crate::store::Proof {
                    at: d.at.clone(),
                    place: d.place.clone(),
                });
        }
        Ok(())
    }

    /// Records a whole restore of `r` that succeeded as proof that the copy
    /// it read is restorable.
    pub(crate) fn record_restore(&self, r: &BackupRef, copy: super::restore::CopyUsed) {
        use super::restore::CopyUsed;
        let BackupRef::Point(p) = r else {
            return;
        };
        let place = match copy {
            CopyUsed::Local | CopyUsed::Repaired => LOCAL,
            CopyUsed::Destination => DESTINATION,
            CopyUsed::File => return,
        };
        let _ = self.store.record_drill(&DrillRecord {
            point_id: p.id.clone(),
            place: place.into(),
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            ok: true,
            detail: Some("restored by a person".into()),
        });
    }
}

/// The older points a scheduled drill takes besides the newest: those
/// drilled longest ago (never, first), as many as it takes for each to be
/// drilled within the time points are kept (the age of the oldest, at
/// least one interval) — 29 older daily points drilled weekly: 7 a time.
fn sample<'a>(
    points: &'a [RestorePoint],
    drilled_at: &HashMap<String, String>,
    every_days: u32,
    now: DateTime<Utc>,
) -> Vec<&'a RestorePoint> {
    let older = points.get(1..).unwrap_or_default();
    let Some(oldest) = older.last() else {
        return Vec::new();
    };
    let every = u64::from(every_days.max(1));
    let kept_days = crate::status::parse_time(&oldest.created_at)
        .map_or(every, |t| (now - t).num_days().max(0) as u64)
        .max(every);
    let n = older.len() as u64;
    let k = (n * every).div_ceil(kept_days).clamp(1, n) as usize;
    let mut by_age: Vec<&RestorePoint> = older.iter().collect();
    by_age.sort_by_key(|p| drilled_at.get(&p.id).cloned().unwrap_or_default());
    by_age.truncate(k);
    by_age
}

/// Orders proofs: the newest, and at the same time the destination's (the
/// copy that survives the computer).
pub(crate) fn proof_rank(d: &DrillRecord) -> (&str, bool) {
    (&d.at, d.place == DESTINATION)
}

fn report(p: &RestorePoint, place: &str, kind: SourceKind) -> DrillReport {
    DrillReport {
        source: p.source.clone(),
        kind,
        point: p.id.clone(),
        place: place.into(),
        ok: false,
        tables: 0,
        rows: 0,
        problem: None,
        healed: None,
        unreachable: false,
        deferred: false,
        note: None,
    }
}

fn missing(p: &RestorePoint, dest: &dyn Destination, why: &str) -> Error {
    Error::Destination {
        code: ErrorCode::HashMismatch,
        message: format!(
            "the copy of restore point {} at {} cannot be used: {why}.",
            p.id,
            dest.describe()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: usize, now: DateTime<Utc>, days_apart: i64) -> Vec<RestorePoint> {
        (0..n)
            .map(|i| {
                let at = now - chrono::Duration::days(days_apart * i as i64);
                RestorePoint {
                    id: format!("p{i}"),
                    source: "shop".into(),
                    created_at: at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    size_bytes: 1,
                    tables: 1,
                    rows: 1,
                    checksum: String::new(),
                    quickxor: None,
                    content_digest: None,
                    location: crate::store::Location::Local,
                    upload: None,
                    file: PathBuf::new(),
                    fingerprint: String::new(),
                    source_path: PathBuf::new(),
                    changes: None,
                    proven: None,
                    missing_files: None,
                }
            })
            .collect()
    }

    #[test]
    fn a_scheduled_drill_samples_enough_older_points_to_drill_each_within_its_retention() {
        let now = Utc::now();
        let none = std::collections::HashMap::new();
        // 30 daily points drilled weekly: 29 older ones, 7 at a time, so
        // each is drilled within the 29 days it is kept.
        let daily = points(30, now, 1);
        assert_eq!(sample(&daily, &none, 7, now).len(), 7);
        // Three points kept two days: every older one, every time.
        let short = points(3, now, 1);
        assert_eq!(sample(&short, &none, 7, now).len(), 2);
        // One point: nothing older.
        assert!(sample(&daily[..1], &none, 7, now).is_empty());
        // Never drilled first, then those drilled longest ago.
        let drilled: std::collections::HashMap<String, String> = daily[1..]
            .iter()
            .map(|p| (p.id.clone(), "2026-12-01T00:00:00Z".to_string()))
            .chain([("p5".to_string(), "2026-01-01T00:00:00Z".to_string())])
            .filter(|(id, _)| id != "p9")
            .collect();
        let picked: Vec<&str> = sample(&daily, &drilled, 7, now)
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(&picked[..2], &["p9", "p5"]);
    }
}
