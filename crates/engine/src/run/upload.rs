//! The destination side of a backup run: upload each restore point after its
//! local copy is written, verify it against the destination's own hash,
//! remember what is verified, retry what is not at the next run, and apply
//! retention at the destination too. The local copy is always written first
//! and stays the fallback.

use std::path::PathBuf;

use chrono::{NaiveDateTime, Utc};

use crate::destination::{
    Destination, DestinationConfig, RemoteFile, UploadJournal, UploadSession, file_name,
};
use crate::error::{Error, ErrorCode, Result};
use crate::event::{Event, UploadOutcome};
use crate::fsutil;
use crate::run::Ctx;
use crate::sealed::Sealer;
use crate::store::{Location, RestorePoint, SourceRecord, Store, UploadState, retention};

/// The destination of a run, opened once: its key in the state database
/// (its description) and the destination itself, or why it cannot be used.
pub type DestinationSlot = std::result::Result<(String, Box<dyn Destination>), Error>;

/// Keeps an upload's resumable session in the state database, sealed
/// ([`crate::sealed`]): its URL is pre-authenticated.
pub(crate) struct StoreJournal<'a> {
    store: &'a Store,
    point: &'a str,
    destination: &'a str,
    session: Option<UploadSession>,
    sealer: Option<Sealer>,
    home: &'a std::path::Path,
    settings: &'a nuage_graph::session::Settings,
}

impl UploadJournal for StoreJournal<'_> {
    fn load(&self) -> Option<UploadSession> {
        self.session.clone()
    }
    fn save(&mut self, session: &UploadSession) -> Result<()> {
        let json = serde_json::to_string(session).expect("serializable");
        if self.sealer.is_none() {
            self.sealer = Some(Sealer::open(self.home, self.settings)?);
        }
        let sealed = self.sealer.as_ref().expect("just opened").seal(&json)?;
        self.store
            .set_upload_session(self.point, self.destination, Some(&sealed))?;
        self.session = Some(session.clone());
        Ok(())
    }
    fn clear(&mut self) -> Result<()> {
        self.store
            .set_upload_session(self.point, self.destination, None)?;
        self.session = None;
        Ok(())
    }
}

/// A file's modification time in nanoseconds, as `copy_checks` keeps it.
fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    m.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(m.mtime_nsec())
}

/// When a restore point was made, from its id (`YYYYMMDD-HHMMSSmmm-xxxx`).
fn created_at_of(id: &str) -> Option<String> {
    let t = NaiveDateTime::parse_from_str(id.get(..18)?, "%Y%m%d-%H%M%S%3f").ok()?;
    Some(
        t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

impl Ctx<'_> {
    pub fn destination(&self) -> Result<Option<DestinationConfig>> {
        match self.store.setting("destination")? {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json).map(Some).map_err(|e| {
                Error::Invalid(format!(
                    "the stored destination is unreadable ({e}); choose the destination again."
                ))
            }),
        }
    }

    /// Sets (or with `None` removes) the destination. Copies already made
    /// are uploaded to a new destination at the next run.
    pub fn set_destination(&self, config: Option<&DestinationConfig>) -> Result<()> {
        if let Some(c) = config {
            // Refuse a destination that cannot be used right now.
            c.open(self.home(), self.config)?.list("nuage-check")?;
        }
        self.save_destination(config)
    }

    /// Records `config` as the destination, already checked.
    fn save_destination(&self, config: Option<&DestinationConfig>) -> Result<()> {
        // An unreadable stored destination is replaced (its error says to
        // choose the destination again); it may have been a bucket.
        let was_s3 = self
            .destination()
            .map_or(true, |d| matches!(d, Some(DestinationConfig::S3(_))));
        let json = config.map(|c| serde_json::to_string(c).expect("serializable"));
        self.store.set_setting("destination", json.as_deref())?;
        // An S3 secret no destination uses any more leaves the keychain.
        if was_s3
            && !matches!(config, Some(DestinationConfig::S3(_)))
            && let Err(e) = crate::destination::s3::secret_slot(self.home(), self.config).remove()
        {
            tracing::warn!("the S3 secret key could not be removed from the keychain: {e}");
        }
        Ok(())
    }

    /// Sets an S3-compatible destination after trying every step a backup
    /// needs on it ([`crate::S3Destination::probe`]); its secret goes to
    /// the keychain. Nothing changes when a step fails: the secret of the
    /// destination in use (the keychain keeps one per home) is put back if
    /// the new one cannot be recorded.
    pub fn set_s3_destination(
        &self,
        settings: &crate::S3Settings,
        secret: &str,
    ) -> Result<crate::destination::s3::S3Probe> {
        settings.validate_new()?;
        let mut d = crate::S3Destination::new(settings, secret, self.probe_budget())?;
        let probe = d.probe()?;
        let slot = crate::destination::s3::secret_slot(self.home(), self.config);
        let before = slot.read()?;
        slot.write(secret)?;
        // The probe tried more than a listing would: recorded unchecked.
        if let Err(e) = self.save_destination(Some(&DestinationConfig::S3(d.settings().clone()))) {
            let restored = match before {
                Some(old) => slot.write(&old),
                None => slot.remove(),
            };
            if let Err(r) = restored {
                tracing::warn!("the previous S3 secret key could not be put back: {r}");
            }
            return Err(e);
        }
        Ok(probe)
    }

    /// How long a probe a person waits for keeps retrying: half a minute
    /// (a mistyped host is said then, not after a run's whole budget).
    fn probe_budget(&self) -> std::time::Duration {
        self.config
            .retry_budget
            .min(std::time::Duration::from_secs(30))
    }

    /// Tries the configured S3 destination again (the app's "test").
    pub fn test_s3_destination(&self) -> Result<crate::destination::s3::S3Probe> {
        let Some(DestinationConfig::S3(settings)) = self.destination()? else {
            return Err(Error::Invalid(
                "the destination is not an S3 bucket; a folder or OneDrive destination is checked when it is set and at each run".into(),
            ));
        };
        let Some(secret) = crate::destination::s3::secret_slot(self.home(), self.config).read()?
        else {
            return Err(Error::Destination {
                code: ErrorCode::KeychainUnavailable,
                message: "the S3 secret access key is not in the keychain: set the S3 destination again with its secret.".into(),
            });
        };
        let mut d = crate::S3Destination::new(&settings, &secret, self.probe_budget())?;
        d.probe()
    }

    /// Opens the configured destination for one run.
    pub fn open_destination(&self) -> Result<Option<DestinationSlot>> {
        Ok(self
            .destination()?
            .map(|c| c.open(self.home(), self.config).map(|d| (d.describe(), d))))
    }

    /// Uploads every restore point of `s` not yet verified at the
    /// destination (oldest first), then applies retention there.
    pub(crate) fn sync_source(
        &self,
        slot: &mut DestinationSlot,
        s: &SourceRecord,
        events: &mut dyn FnMut(Event),
    ) -> UploadOutcome {
        let mut out = UploadOutcome {
            state: UploadState::Verified,
            uploaded: vec![],
            removed: vec![],
            error: None,
            error_code: None,
        };
        let (key, dest) = match slot {
            Ok(d) => d,
            Err(e) => {
                out.state = UploadState::Pending;
                out.error = Some(e.to_string());
                out.error_code = Some(e.code());
                return out;
            }
        };
        let result = (|| -> Result<()> {
            // A move that cannot be done now is retried by the next run; it
            // does not hold back this source's uploads.
            if let Err(e) = self.finish_remote_moves(dest.as_mut()) {
                tracing::warn!(error = %e, "copies of a renamed source stay in its old folder until the next run");
            }
            let mut points = self.store.restore_points(Some(&s.name))?;
            points.reverse();
            let mut skipped: Option<Error> = None;
            let states = self.store.upload_states(key)?;
            // A folder's files are read from the folder itself: only its
            // newest point can still be sent whole. One superseded before
            // it was sent stays a local point.
            let folder = s.kind == crate::source::SourceKind::Folder;
            let newest = points.last().map(|p| p.id.clone());
            for p in points.iter().filter(|p| {
                !matches!(
                    states.get(&p.id),
                    Some(UploadState::Verified | UploadState::Removed)
                ) && (!folder || Some(&p.id) == newest.as_ref())
            }) {
                // A local copy that is gone or fails its checksum is never
                // sent: it would replace a good copy at the destination.
                // It is put back from there when the destination holds it,
                // else it waits, and the other copies still go.
                match self.ensure_local_copy(p) {
                    Ok(false) => {}
                    // Put back from the destination: that copy is this one.
                    Ok(true) => {
                        self.store.set_upload(
                            &p.id,
                            key,
                            UploadState::Verified,
                            Some(p.size_bytes),
                            None,
                        )?;
                        continue;
                    }
                    Err(local) => {
                        self.mark_pending(&p.id, key, &local)?;
                        skipped.get_or_insert(local);
                        continue;
                    }
                }
                if folder {
                    let id = self.upload_folder_point(dest.as_mut(), key, s, p, events)?;
                    out.uploaded.push(id);
                } else {
                    self.upload_point(dest.as_mut(), key, p, events)?;
                    out.uploaded.push(p.id.clone());
                }
            }
            out.removed = self.remote_retention(dest.as_mut(), key, s)?;
            if folder {
                let pruned = self.prune_versions(dest.as_mut(), key, s)?;
                if !pruned.is_empty() {
                    tracing::info!(source = %s.name, versions = pruned.len(), "earlier file versions no restore point needs were removed from the destination");
                }
            }
            skipped.map_or(Ok(()), Err)
        })();
        if let Err(e) = result {
            out.state = UploadState::Pending;
            out.error = Some(e.to_string());
            out.error_code = Some(e.code());
        }
        out
    }

    /// Pushes a folder point's files, then its manifest. When a file
    /// changed since the snapshot (it can no longer be sent as listed), a
    /// new snapshot is taken and pushed instead, a few times at most.
    /// Returns the id of the point uploaded.
    fn upload_folder_point(
        &self,
        dest: &mut dyn Destination,
        key: &str,
        s: &SourceRecord,
        p: &RestorePoint,
        events: &mut dyn FnMut(Event),
    ) -> Result<String> {
        let mut p = p.clone();
        let mut attempt = 0;
        loop {
            match self.push_files(dest, key, s, &p, events) {
                Ok(()) => {
                    self.upload_point(dest, key, &p, events)?;
                    self.pushed(key, &s.name)?;
                    return Ok(p.id);
                }
                Err(e) if crate::run::mirror::folder_changed(&e) && attempt < 3 => {
                    attempt += 1;
                    tracing::info!(source = %s.name, "{e}");
                    let o = self.backup_one(s, events, true)?;
                    let id = o.id.unwrap_or_default();
                    p = self
                        .store
                        .restore_points(Some(&s.name))?
                        .into_iter()
                        .find(|x| x.id == id)
                        .ok_or_else(|| Error::UnknownRestorePoint(id.clone()))?;
                }
                Err(e) => {
                    self.mark_pending(&p.id, key, &e)?;
                    return Err(e);
                }
            }
        }
    }

    /// Records why an upload waits for the next run.
    fn mark_pending(&self, point: &str, key: &str, e: &Error) -> Result<()> {
        self.store.set_upload(
            point,
            key,
            UploadState::Pending,
            None,
            Some((e.code(), &e.to_string())),
        )
    }

    /// The resumable-upload journal of `point` (a restore point, or a
    /// folder source's file) at destination `key`, with the session a
    /// previous attempt left, if it can still be opened.
    pub(crate) fn journal<'a>(
        &'a self,
        point: &'a str,
        key: &'a str,
        size: u64,
    ) -> Result<StoreJournal<'a>> {
        let previous = self.store.upload(point, key)?;
        if previous.is_none() {
            self.store
                .set_upload(point, key, UploadState::Pending, Some(size), None)?;
        }
        // A session that cannot be opened (signed out since, damaged)
        // is as good as none: the upload starts again.
        let sealed = previous.and_then(|r| r.session);
        let sealer = match &sealed {
            Some(_) => Sealer::open(self.home(), &self.config.graph).ok(),
            None => None,
        };
        let session = sealed
            .zip(sealer.as_ref())
            .and_then(|(s, k)| k.open_sealed(&s))
            .and_then(|j| serde_json::from_str(&j).ok());
        Ok(StoreJournal {
            store: self.store,
            point,
            destination: key,
            session,
            sealer,
            home: self.home(),
            settings: &self.config.graph,
        })
    }

    pub(crate) fn upload_point(
        &self,
        dest: &mut dyn Destination,
        key: &str,
        p: &RestorePoint,
        events: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let expected = match &p.quickxor {
            Some(q) => q.clone(),
            None => {
                let mut h = nuage_graph::QuickXorHash::new();
                let f = std::fs::File::open(&p.file).map_err(|e| Error::io("read", &p.file, e))?;
                std::io::copy(&mut std::io::BufReader::new(f), &mut h)
                    .map_err(|e| Error::io("read", &p.file, e))?;
                h.to_base64()
            }
        };
        let mut journal = self.journal(&p.id, key, p.size_bytes)?;
        let source = p.source.clone();
        let mut rate = crate::event::Rate::start();
        let result = dest.upload(
            &p.source,
            &file_name(&p.id),
            &p.file,
            &mut journal,
            &mut |sent| {
                let (bytes_per_sec, eta_secs) = rate.at(sent, p.size_bytes);
                events(Event::UploadProgress {
                    source: source.clone(),
                    point: p.id.clone(),
                    bytes: sent,
                    total: p.size_bytes,
                    bytes_per_sec,
                    eta_secs,
                })
            },
        );
        let remote = match result {
            Ok(r) => r,
            Err(e) => {
                self.mark_pending(&p.id, key, &e)?;
                return Err(e);
            }
        };
        let hash_ok = !dest.capabilities().server_hash
            || remote.quickxor.as_deref() == Some(expected.as_str());
        if remote.size != p.size_bytes || !hash_ok {
            // Never leave a bad copy at the destination under a good name.
            let _ = dest.delete(&p.source, &file_name(&p.id));
            let e = Error::Destination {
                code: ErrorCode::HashMismatch,
                message: format!(
                    "the copy of {} at {} does not match the local copy (size {} vs {}, hash {} vs {expected}); it was removed and will be uploaded again at the next run.",
                    p.id,
                    dest.describe(),
                    remote.size,
                    p.size_bytes,
                    remote.quickxor.as_deref().unwrap_or("none")
                ),
            };
            self.mark_pending(&p.id, key, &e)?;
            return Err(e);
        }
        journal.clear()?;
        self.store
            .set_upload(&p.id, key, UploadState::Verified, Some(remote.size), None)
    }

    /// Moves the copies of renamed sources at the destination into their
    /// new folders: only those made before the rename, so a new source
    /// given the old name keeps its own. Each move can be repeated, so an
    /// interrupted run is finished by the next.
    fn finish_remote_moves(&self, dest: &mut dyn Destination) -> Result<()> {
        for m in self.store.pending_remote_moves()? {
            for f in dest.list(&m.from)? {
                let before_rename = f
                    .point_id()
                    .and_then(created_at_of)
                    .is_some_and(|t| t <= m.renamed_at);
                if before_rename {
                    dest.move_file(&m.from, &f.name, &m.to)?;
                }
            }
            tracing::info!(from = %m.from, to = %m.to, "copies at the destination follow the renamed source");
            self.store.finish_remote_move(m.id)?;
        }
        Ok(())
    }

    /// Retention at the destination: the same rules as locally, applied to
    /// the files found there, so copies made by another machine or before a
    /// home was lost age out too. Only Nuage's own files are considered.
    ///
    /// Only copies this home recorded uploading and verifying at this
    /// destination are considered, and so ever deleted: a file that merely
    /// has the shape of a restore point (planted, or another machine's) is
    /// neither deleted nor counted. Each deletion is recorded.
    fn remote_retention(
        &self,
        dest: &mut dyn Destination,
        key: &str,
        s: &SourceRecord,
    ) -> Result<Vec<String>> {
        // While copies of a renamed source still wait in this folder to
        // move, they are not this source's: no retention here until then.
        if self
            .store
            .pending_remote_moves()?
            .iter()
            .any(|m| m.from == s.name)
        {
            return Ok(Vec::new());
        }
        let ours = self.store.upload_states(key)?;
        let files = dest.list(&s.name)?;
        let mut points: Vec<RestorePoint> = files
            .iter()
            .filter_map(|f| self.remote_point(&s.name, f))
            .filter(|p| ours.get(&p.id) == Some(&UploadState::Verified))
            .collect();
        points.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let doomed: Vec<String> = retention::select(&points, s.keep_last, s.keep_days, Utc::now())
            .into_iter()
            .map(|p| p.id.clone())
            .collect();
        for id in &doomed {
            dest.delete(&s.name, &file_name(id))?;
            self.store
                .set_upload(id, key, UploadState::Removed, None, None)?;
            tracing::info!(point = %id, destination = %key, "removed from the destination by retention");
        }
        Ok(doomed)
    }

    fn remote_point(&self, source: &str, f: &RemoteFile) -> Option<RestorePoint> {
        let id = f.point_id()?.to_string();
        Some(RestorePoint {
            created_at: created_at_of(&id)?,
            id,
            source: source.to_string(),
            size_bytes: f.size,
            tables: 0,
            rows: 0,
            checksum: String::new(),
            quickxor: f.quickxor.clone(),
            location: Location::Remote,
            upload: Some(UploadState::Verified),
            file: PathBuf::new(),
            fingerprint: String::new(),
            source_path: PathBuf::new(),
            changes: None,
            proven: None,
            content_digest: None,
            missing_files: None,
        })
    }

    /// Restore points wherever they are, newest first: local ones marked
    /// `both` when verified at the destination, plus files found only at
    /// the destination. A local copy that is gone (or not of its recorded
    /// size) is not counted: the point is `remote` when the destination
    /// holds it verified, `missing` otherwise. When the destination cannot
    /// be listed, the local points come back with the reason.
    pub fn all_restore_points(
        &self,
        source: Option<&str>,
    ) -> Result<(Vec<RestorePoint>, Option<Error>)> {
        let mut points = self.store.restore_points(source)?;
        let (found, problem) = match self.open_destination()? {
            None => (Vec::new(), None),
            Some(Err(e)) => (Vec::new(), Some(e)),
            Some(Ok((key, mut dest))) => {
                let states = self.store.upload_states(&key)?;
                for p in &mut points {
                    p.upload = states.get(&p.id).copied();
                    if p.upload == Some(UploadState::Verified) {
                        p.location = Location::Both;
                    }
                }
                let known = points.iter().map(|p| p.id.clone()).collect();
                self.found_only_at(dest.as_mut(), source, &known)
            }
        };
        for p in &mut points {
            if !self.local_copy_good(p) {
                p.location = if p.upload == Some(UploadState::Verified) {
                    Location::Remote
                } else {
                    Location::Missing
                };
            }
        }
        points.extend(found);
        points.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        self.add_folder_changes(&mut points);
        self.add_proofs(&mut points)?;
        Ok((points, problem))
    }

    /// Restore points at the destination that are not `known` here (of
    /// `source`, or of every source folder), with the reason when the
    /// listing stopped short.
    fn found_only_at(
        &self,
        dest: &mut dyn Destination,
        source: Option<&str>,
        known: &std::collections::HashSet<String>,
    ) -> (Vec<RestorePoint>, Option<Error>) {
        let mut names: Vec<String> = match source {
            Some(s) => vec![s.to_string()],
            None => match dest.folders() {
                Ok(folders) => folders,
                Err(e) => return (Vec::new(), Some(e)),
            },
        };
        names.sort();
        names.dedup();
        let mut found = Vec::new();
        for name in names {
            match dest.list(&name) {
                Ok(files) => found.extend(
                    files
                        .iter()
                        .filter_map(|f| self.remote_point(&name, f))
                        .filter(|p| !known.contains(&p.id)),
                ),
                Err(e) => return (found, Some(e)),
            }
        }
        (found, None)
    }

    /// Downloads a restore point that exists only at the destination into
    /// the private work folder, checking it against the destination's hash.
    pub(crate) fn download_remote(&self, p: &RestorePoint) -> Result<PathBuf> {
        let (_, mut dest) = self
            .open_destination()?
            .ok_or_else(|| Error::UnknownRestorePoint(p.id.clone()))??;
        let work = self.store.work_dir();
        fsutil::create_private_dir(&work)?;
        let path = work.join(format!(
            "download-{:016x}-{}",
            fastrand::u64(..),
            file_name(&p.id)
        ));
        // Never more than the copy's listed size reaches the disk.
        let mut out = fsutil::HashingWriter::new(fsutil::Limited::new(
            fsutil::AtomicFile::create(&path)?,
            p.size_bytes,
        ));
        dest.download(&p.source, &file_name(&p.id), &mut out)?;
        let (file, hashes) = out.finish();
        let file = file.into_inner();
        // Against the destination's hash, and against the BLAKE3 recorded
        // when the copy was made (a point known here has one).
        if p.quickxor.as_deref().is_some_and(|q| q != hashes.quickxor)
            || hashes.bytes != p.size_bytes
            || (!p.checksum.is_empty() && p.checksum != hashes.blake3)
        {
            return Err(Error::Destination {
                code: ErrorCode::HashMismatch,
                message: format!(
                    "the download of {} does not match the destination's hash; try again, or use another restore point.",
                    p.id
                ),
            });
        }
        file.commit(true)?;
        Ok(path)
    }

    /// Whether the local copy of `p` is there and verifies, for a listing:
    /// hashed again only when its file changed (size or modification time)
    /// since it was last hashed, so an edited or replaced copy is never
    /// shown as good and an unchanged one costs a `stat`. (Bit rot that
    /// leaves the time alone is for the full checks of restores and drills.)
    pub(crate) fn local_copy_good(&self, p: &RestorePoint) -> bool {
        let Some(m) = (!p.file.as_os_str().is_empty())
            .then(|| std::fs::symlink_metadata(&p.file).ok())
            .flatten()
            .filter(|m| m.is_file() && m.len() == p.size_bytes)
        else {
            return false;
        };
        let mtime = mtime_ns(&m);
        if let Ok(Some(ok)) = self.store.copy_check(&p.id, m.len(), mtime) {
            return ok;
        }
        let ok = self.verify_point(p).is_ok();
        let _ = self.store.set_copy_check(&p.id, m.len(), mtime, ok);
        ok
    }

    /// Proves the local copy of `p`: its BLAKE3 verifies, or it is put back
    /// from the destination (the download is checked against that same
    /// BLAKE3, so it is not hashed again). `Ok(true)` when it was put back;
    /// the local error when no good copy is left.
    pub(crate) fn ensure_local_copy(&self, p: &RestorePoint) -> Result<bool> {
        let Err(local) = self.verify_point(p) else {
            return Ok(false);
        };
        match self.repair_local_copy(p) {
            Ok(()) => Ok(true),
            // No destination: the local copy was the only one.
            Err(Error::UnknownRestorePoint(_)) => Err(local),
            Err(remote) => {
                tracing::warn!(point = %p.id, "no good copy at the destination either: {remote}");
                Err(match local {
                    Error::CorruptCopy { path, detail } => Error::CorruptCopy {
                        path,
                        detail: format!(
                            "{detail}; the copy at the destination could not be used either: {remote}"
                        ),
                    },
                    other => other,
                })
            }
        }
    }

    /// Puts back the local copy of `p` (missing or damaged) from the copy
    /// at the destination, verified against the destination's hash and the
    /// BLAKE3 recorded when it was made. Fails when there is no
    /// destination or it holds no good copy.
    pub(crate) fn repair_local_copy(&self, p: &RestorePoint) -> Result<()> {
        let downloaded = self.download_remote(p)?;
        fsutil::ensure_parent(&p.file)?;
        std::fs::rename(&downloaded, &p.file).map_err(|e| {
            let _ = std::fs::remove_file(&downloaded);
            Error::io("put back", &p.file, e)
        })?;
        fsutil::sync_parent(&p.file)?;
        // Checked against the recorded BLAKE3 as it was downloaded.
        self.record_good_copy(p);
        tracing::warn!(point = %p.id, "the local copy was missing or damaged; it was put back from the destination");
        Ok(())
    }

    /// Records that the local copy of `p`, as its file is now, verifies
    /// (it was just hashed while written or downloaded).
    pub(crate) fn record_good_copy(&self, p: &RestorePoint) {
        if let Ok(m) = std::fs::symlink_metadata(&p.file) {
            let _ = self
                .store
                .set_copy_check(&p.id, m.len(), mtime_ns(&m), true);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn creation_time_is_read_back_from_the_id() {
        assert_eq!(
            super::created_at_of("20261121-054041123-3fa2").as_deref(),
            Some("2026-11-21T05:40:41.123Z")
        );
        assert_eq!(super::created_at_of("garbage"), None);
    }
}
