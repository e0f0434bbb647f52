//! One backup run: the home lock, the sweep, then per source a fingerprint
//! (unchanged sources are skipped), a snapshot streamed through zstd into an
//! atomic private file, the restore point recorded, local retention, and the
//! upload of everything not yet verified at the destination.

use std::io::BufWriter;

use chrono::{SecondsFormat, Utc};

use crate::error::{Error, Result};
use crate::event::{Event, SourceOutcome};
use crate::fsutil::{self, AtomicFile, HashingWriter};
use crate::run::Ctx;
use crate::store::{
    self, HomeLock, RestorePoint, RunOutcome, RunRecord, SourceRecord, now, retention,
};

/// zstd level of local copies: level 3 is zstd's default and keeps the
/// compressor (the pipeline's bottleneck on two cores) near 140 MB/s.
pub const ZSTD_LEVEL: i32 = 3;
/// zstd level of a PostgreSQL source's copies: COPY text in JSON is so
/// regular that level 1 compresses it as well as level 3 (19.1 MB against
/// 21.4 MB on the 1 GB benchmark database) in half the CPU, which the
/// backup shares with the server's COPY on two cores (3.1–3.6 s against
/// 4.3–4.8 s; `docs/benchmarks.md`).
pub const ZSTD_LEVEL_POSTGRESQL: i32 = 1;

/// The zstd level of `kind`'s copies.
fn zstd_level(kind: crate::source::SourceKind) -> i32 {
    match kind {
        crate::source::SourceKind::Sqlite | crate::source::SourceKind::Folder => ZSTD_LEVEL,
        crate::source::SourceKind::Postgresql => ZSTD_LEVEL_POSTGRESQL,
    }
}
/// Bytes per zstd worker job (see the backup run).
pub const ZSTD_JOB_SIZE: u32 = 2 << 20;
/// Snapshots a run discards because they gave way to the application,
/// before the source's backup fails for this run.
const GIVE_WAY_ATTEMPTS: u32 = 10;

impl Ctx<'_> {
    /// Backs up the named sources (all when `names` is empty). Holds the
    /// home lock for the whole run. Each source gets an outcome; one
    /// failing source does not stop the others.
    pub fn backup(
        &self,
        names: &[String],
        events: &mut dyn FnMut(Event),
    ) -> Result<Vec<SourceOutcome>> {
        let _lock = HomeLock::acquire(self.home())?;
        self.store.sweep()?;
        let all = self.store.sources()?;
        let selected: Vec<SourceRecord> = if names.is_empty() {
            all
        } else {
            names
                .iter()
                .map(|n| self.store.source(n))
                .collect::<Result<_>>()?
        };
        events(Event::RunStarted {
            sources: selected.iter().map(|s| s.name.clone()).collect(),
        });
        let mut destination = self.open_destination()?;
        let mut outcomes = Vec::new();
        for s in &selected {
            events(Event::SourceStarted {
                source: s.name.clone(),
            });
            let started = now();
            let outcome = match self.backup_one(s, events, false) {
                Ok(o) => o,
                Err(e) => SourceOutcome {
                    source: s.name.clone(),
                    kind: s.kind,
                    status: RunOutcome::Failed,
                    id: None,
                    size_bytes: None,
                    tables: None,
                    rows: None,
                    error: Some(e.to_string()),
                    error_code: Some(e.code()),
                    removed_by_retention: vec![],
                    unsettled: 0,
                    upload: None,
                },
            };
            self.store.record_run(&RunRecord {
                source: s.name.clone(),
                started_at: started,
                finished_at: now(),
                outcome: outcome.status,
                restore_point: outcome.id.clone(),
                bytes: outcome.size_bytes,
                error: outcome.error.clone(),
                error_code: outcome.error_code,
            })?;
            let mut outcome = outcome;
            if let Some(dest) = destination
                .as_mut()
                .filter(|_| outcome.status != RunOutcome::Failed)
            {
                outcome.upload = Some(self.sync_source(dest, s, events));
            }
            events(Event::SourceFinished {
                outcome: Box::new(outcome.clone()),
            });
            outcomes.push(outcome);
        }
        // Uploads abandoned at the destination (a copy removed by
        // retention before its upload finished, a computer replaced) are
        // aborted: they are billed while kept. Never a reason to fail.
        if let Some(Ok((_, dest))) = destination.as_mut() {
            let swept = self.store.sources().and_then(|all| {
                let folders: Vec<String> = all.into_iter().map(|s| s.name).collect();
                dest.sweep_uploads(&folders)
            });
            match swept {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    uploads = n,
                    "uploads abandoned at the destination were aborted"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "uploads abandoned at the destination stay until the next run")
                }
            }
        }
        events(Event::RunFinished {
            failed: outcomes
                .iter()
                .filter(|o| o.status == RunOutcome::Failed)
                .count(),
        });
        Ok(outcomes)
    }

    pub(crate) fn backup_one(
        &self,
        s: &SourceRecord,
        events: &mut dyn FnMut(Event),
        force: bool,
    ) -> Result<SourceOutcome> {
        let source = s.open(self.home(), self.config);
        let fp = source.fingerprint()?;
        let last = self.store.restore_points(Some(&s.name))?.into_iter().next();
        // Unchanged, and its current copy verifies (or was put back from
        // the destination): nothing to read. A lost or damaged copy is
        // never "unchanged": the source is read again.
        if let Some(last) = last.as_ref().filter(|l| {
            !force
                && l.fingerprint == fp
                && l.source_path == s.path
                && self.ensure_local_copy(l).is_ok()
        }) {
            return Ok(SourceOutcome {
                source: s.name.clone(),
                kind: s.kind,
                status: RunOutcome::Unchanged,
                id: Some(last.id.clone()),
                size_bytes: Some(last.size_bytes),
                tables: Some(last.tables),
                rows: Some(last.rows),
                error: None,
                error_code: None,
                removed_by_retention: vec![],
                unsettled: 0,
                upload: None,
            });
        }
        let created = Utc::now();
        let created_at = created.to_rfc3339_opts(SecondsFormat::Millis, true);
        let id = format!(
            "{}-{:04x}",
            created.format("%Y%m%d-%H%M%S%3f"),
            fastrand::u16(..)
        );
        let dir = self.store.backups_dir(&s.name);
        fsutil::create_private_dir(&dir)?;
        let file = dir.join(format!("{id}.json.zst"));
        // A snapshot that gave way to the application (a migration waited
        // on it) is discarded and taken again; the source's own attempts
        // give up after a while, and so does this.
        let mut gave_way = 0;
        let (stats, size, hashes) = loop {
            match self.write_snapshot(source.as_ref(), &s.name, &created_at, &file, events) {
                Err(e) if source.gave_way(&e) && gave_way < GIVE_WAY_ATTEMPTS => {
                    gave_way += 1;
                    tracing::info!(source = %s.name, attempt = gave_way, "{e}");
                    std::thread::sleep(std::time::Duration::from_millis(200 * u64::from(gave_way)));
                }
                r => break r?,
            }
        };
        let point = RestorePoint {
            id: id.clone(),
            source: s.name.clone(),
            created_at,
            size_bytes: size,
            tables: stats.tables,
            rows: stats.rows,
            checksum: hashes.blake3,
            quickxor: Some(hashes.quickxor),
            location: store::Location::Local,
            upload: None,
            file,
            fingerprint: fp,
            source_path: s.path.clone(),
            changes: None,
            proven: None,
            content_digest: stats.digest.clone(),
            missing_files: None,
        };
        self.store.add_restore_point(&point)?;
        // Hashed as it was written: the next listing need not read it.
        self.record_good_copy(&point);
        let removed = self.apply_retention(s)?;
        if s.kind == crate::source::SourceKind::Folder {
            // The point stands without it: a local copy that cannot be
            // made (a full disk) is said, not a failed backup.
            if let Err(e) = self.keep_local_copies(s) {
                tracing::warn!(source = %s.name, "the local copy of the files was not updated: {e}");
            }
        }
        Ok(SourceOutcome {
            source: s.name.clone(),
            kind: s.kind,
            status: RunOutcome::BackedUp,
            id: Some(id),
            size_bytes: Some(size),
            tables: Some(stats.tables),
            rows: Some(stats.rows),
            error: None,
            error_code: None,
            removed_by_retention: removed,
            unsettled: stats.unsettled,
            upload: None,
        })
    }

    /// Streams `source`'s snapshot through zstd into `file` (atomic: it
    /// exists only when complete). Returns what was written, its size and
    /// hashes.
    fn write_snapshot(
        &self,
        source: &dyn crate::source::Source,
        name: &str,
        created_at: &str,
        file: &std::path::Path,
        events: &mut dyn FnMut(Event),
    ) -> Result<(crate::source::SnapshotStats, u64, fsutil::Hashes)> {
        let atomic = AtomicFile::create(file)?;
        let hashing = HashingWriter::new(atomic);
        let mut enc = zstd::stream::write::Encoder::new(hashing, zstd_level(source.kind()))
            .map_err(|e| Error::io("compress", file, e))?;
        // Every frame carries its own checksum, so a damaged export is
        // refused even where the recorded BLAKE3 is not known.
        enc.include_checksum(true)
            .map_err(|e| Error::io("compress", file, e))?;
        // One worker: compression runs beside serialization on a second core.
        // 2 MiB jobs keep zstd's buffers small: peak memory of a backup
        // 60 MiB -> 28 MiB at the same speed (docs/benchmarks.md).
        enc.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))
            .map_err(|e| Error::io("compress", file, e))?;
        enc.multithread(1)
            .map_err(|e| Error::io("compress", file, e))?;
        let mut out = BufWriter::with_capacity(256 << 10, enc);
        let stats = source.snapshot(
            created_at,
            &self.store.work_dir(),
            file,
            &mut out,
            &mut |p| {
                events(Event::SnapshotProgress {
                    source: name.to_string(),
                    table: p.table.to_string(),
                    rows: p.total_rows,
                })
            },
        )?;
        let enc = out
            .into_inner()
            .map_err(|e| Error::io("write", file, e.into_error()))?;
        let hashing = enc.finish().map_err(|e| Error::io("write", file, e))?;
        let (atomic, hashes) = hashing.finish();
        let size = hashes.bytes;
        atomic.commit(false)?;
        Ok((stats, size, hashes))
    }

    /// Deletes local copies that fall outside the source's retention. The
    /// newest copy is never deleted.
    fn apply_retention(&self, s: &SourceRecord) -> Result<Vec<String>> {
        let points = self.store.restore_points(Some(&s.name))?;
        let now = Utc::now();
        let doomed = retention::select(&points, s.keep_last, s.keep_days, now);
        let mut removed = Vec::new();
        for p in doomed {
            // Forget first: a crash in between leaves an orphan file, swept later.
            self.store.forget_restore_point(&p.id)?;
            let _ = std::fs::remove_file(&p.file);
            removed.push(p.id.clone());
        }
        if s.kind == crate::source::SourceKind::Folder && !removed.is_empty() {
            self.prune_objects(s)?;
        }
        Ok(removed)
    }
}
