//! The files of folder sources at the destination: mirrored as
//! themselves under `<source>/`, beside the manifests that are their
//! restore points, with earlier versions kept under
//! `<source>/.nuage-versions/<BLAKE3>` for as long as a kept manifest
//! names them — so every listed restore point is restorable byte for
//! byte. And, for restores, where a file's contents are found.
//!
//! Pushing a point (before its manifest is uploaded):
//! 1. every remote path whose contents change or go is moved into the
//!    versions folder (checked by the destination's hash to hold what the
//!    last uploaded manifest says; anything else found there is moved
//!    aside, never deleted);
//! 2. every new or changed file is moved back from the versions folder
//!    when its contents are there (a renamed or moved file, a file put
//!    back as it was), else uploaded from the folder (resumable sessions
//!    for big files) and verified against the QuickXorHash the snapshot
//!    computed — a file changed since fails the push, and the run takes a
//!    new snapshot.
//!
//! A crash at any step leaves what the next push repairs: the point being
//! pushed is recorded (`settings`), and its paths are checked like those
//! of the last uploaded one.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::destination::{Destination, VERSIONS_DIR};
use crate::document::{self, Document};
use crate::error::{Error, ErrorCode, Result};
use crate::event::Event;
use crate::fsutil::{self, AtomicFile, HashingWriter};
use crate::run::Ctx;
use crate::source::folder::manifest::{self, FileEntry, Manifest};
use crate::source::{ContentStore, SourceKind};
use crate::store::{RestorePoint, SourceRecord, UploadState};

/// A file that changed after the snapshot that listed it: the point
/// cannot be completed as it is; a new snapshot is taken.
pub(crate) fn changed_since(path: &str) -> Error {
    Error::Destination {
        code: ErrorCode::SourceUnavailable,
        message: format!(
            "'{path}' changed after the snapshot that listed it; a new snapshot is taken."
        ),
    }
}

fn is_changed_since(e: &Error) -> bool {
    matches!(e, Error::Destination { code: ErrorCode::SourceUnavailable, message } if message.contains("changed after the snapshot"))
}

pub(crate) fn versions_path(source: &str, blake3: &str) -> String {
    format!("{source}/{VERSIONS_DIR}/{blake3}")
}

impl Ctx<'_> {
    /// Reads a restore point's manifest from its local copy.
    pub(crate) fn local_manifest(&self, p: &RestorePoint) -> Result<Manifest> {
        let doc = Document::open(&p.file, document::limits::LOAD_TIME_BASE)?;
        manifest::read(doc, &format!("restore point {}", p.id))
    }

    fn inflight_key(key: &str, source: &str) -> String {
        format!("mirror-inflight {key} {source}")
    }

    /// Puts the files of folder point `p` at the destination (see the
    /// module's steps). Its manifest is uploaded by the caller after.
    pub(crate) fn push_files(
        &self,
        dest: &mut dyn Destination,
        key: &str,
        s: &SourceRecord,
        p: &RestorePoint,
        events: &mut dyn FnMut(Event),
    ) -> Result<()> {
        let target = self.local_manifest(p)?.folder;
        // What the destination holds: the last point uploaded there, and
        // one whose push was interrupted.
        let states = self.store.upload_states(key)?;
        let points = self.store.restore_points(Some(&s.name))?;
        let last = points
            .iter()
            .filter(|o| o.id != p.id && states.get(&o.id) == Some(&UploadState::Verified))
            .find_map(|o| self.local_manifest(o).ok());
        let inflight_key = Self::inflight_key(key, &s.name);
        let inflight = self
            .store
            .setting(&inflight_key)?
            .filter(|id| id != &p.id)
            .and_then(|id| points.iter().find(|o| o.id == id).cloned())
            .and_then(|o| self.local_manifest(&o).ok());
        self.store.set_setting(&inflight_key, Some(&p.id))?;

        let wanted: HashMap<&str, &FileEntry> = target
            .files
            .iter()
            .map(|f| (f.remote.as_str(), f))
            .collect();
        // Every remote path a previous push may have left, with what it
        // should hold by each manifest that names it.
        let mut before: HashMap<String, Vec<FileEntry>> = HashMap::new();
        for m in last.iter().chain(inflight.iter()) {
            for f in &m.folder.files {
                before.entry(f.remote.clone()).or_default().push(f.clone());
            }
        }
        let mut versions: HashSet<String> = dest
            .list_path(&format!("{}/{VERSIONS_DIR}", s.name))?
            .into_iter()
            .map(|f| f.name)
            .collect();
        let same = |r: &crate::destination::RemoteFile, f: &FileEntry| {
            r.size == f.size && r.quickxor.as_deref() == Some(f.quickxor.as_str())
        };
        // Known to be right already: no upload.
        let mut in_place: HashSet<String> = HashSet::new();
        // 1. Vacate what changes or goes.
        let mut vacate: Vec<&String> = before.keys().collect();
        vacate.sort();
        for remote in vacate {
            let expected = &before[remote];
            let want = wanted.get(remote.as_str());
            let unchanged_everywhere =
                want.is_some_and(|w| expected.iter().all(|e| e.blake3 == w.blake3));
            if unchanged_everywhere && inflight.is_none() {
                in_place.insert(remote.clone());
                continue;
            }
            let path = format!("{}/{remote}", s.name);
            let Some(info) = dest.file_info(&path)? else {
                continue;
            };
            if want.is_some_and(|w| same(&info, w)) {
                in_place.insert(remote.clone());
                continue;
            }
            match expected.iter().find(|e| same(&info, e)) {
                Some(e) if versions.contains(&e.blake3) => dest.delete_path(&path)?,
                Some(e) => {
                    dest.move_path(&path, &versions_path(&s.name, &e.blake3))?;
                    versions.insert(e.blake3.clone());
                }
                None => {
                    // Not what any manifest says (changed at the
                    // destination by someone): kept aside, never deleted.
                    let aside = format!(
                        "{}/{VERSIONS_DIR}/unknown-{}-{:08x}",
                        s.name,
                        p.id,
                        fastrand::u32(..)
                    );
                    tracing::warn!(path = %path, aside = %aside, "a file at the destination is not what Nuage put there; kept aside");
                    dest.move_path(&path, &aside)?;
                }
            }
        }
        // 2. Fill what is new or changed.
        let todo: Vec<&FileEntry> = target
            .files
            .iter()
            .filter(|f| !in_place.contains(&f.remote))
            .collect();
        let total: u64 = todo.iter().map(|f| f.size).sum();
        let mut sent_before = 0u64;
        let mut rate = crate::event::Rate::start();
        // Small files (one request each) go together, in parallel where
        // the destination allows; big ones one by one, resumable.
        let (mut small, mut big): (Vec<&FileEntry>, Vec<&FileEntry>) = (Vec::new(), Vec::new());
        for f in todo {
            let path = format!("{}/{}", s.name, f.remote);
            if versions.remove(&f.blake3) {
                dest.move_path(&versions_path(&s.name, &f.blake3), &path)?;
                sent_before += f.size;
                continue;
            }
            let local = s.path.join(&f.path);
            let now = std::fs::symlink_metadata(&local).ok();
            let found = now
                .as_ref()
                .map(|m| crate::source::folder::scan::Found::of(String::new(), m));
            if !found.is_some_and(|n| n.size == f.size && n.mtime_ns == f.mtime_ns) {
                return Err(changed_since(&f.path));
            }
            if f.size <= nuage_graph::client::SIMPLE_UPLOAD_MAX {
                small.push(f);
            } else {
                big.push(f);
            }
        }
        // Small files first: written after gigabytes of clips, each would
        // wait behind their write-back (5× slower on a local disk).
        if !small.is_empty() {
            let batch: Vec<(String, PathBuf)> = small
                .iter()
                .map(|f| (format!("{}/{}", s.name, f.remote), s.path.join(&f.path)))
                .collect();
            let base = sent_before;
            let results = dest.put_small_files(&batch, &mut |sent| {
                let (bytes_per_sec, eta_secs) = rate.at(base + sent, total);
                events(Event::UploadProgress {
                    source: s.name.clone(),
                    point: p.id.clone(),
                    bytes: base + sent,
                    total,
                    bytes_per_sec,
                    eta_secs,
                })
            });
            for (f, r) in small.iter().zip(results) {
                if !same(&r?, f) {
                    return Err(changed_since(&f.path));
                }
                sent_before += f.size;
            }
        }
        for f in big {
            let path = format!("{}/{}", s.name, f.remote);
            let local = s.path.join(&f.path);
            // A resumable session for a big file.
            let resumable = dest.capabilities().resumable;
            let journal_key = format!("file {} {}", s.name, f.blake3);
            let mut kept;
            let mut none = crate::destination::NoJournal;
            let journal: &mut dyn crate::destination::UploadJournal = if resumable {
                kept = self.journal(&journal_key, key, f.size)?;
                &mut kept
            } else {
                &mut none
            };
            let source = s.name.clone();
            let result = dest.put_file(&path, &local, journal, &mut |sent| {
                let (bytes_per_sec, eta_secs) = rate.at(sent_before + sent, total);
                events(Event::UploadProgress {
                    source: source.clone(),
                    point: p.id.clone(),
                    bytes: sent_before + sent,
                    total,
                    bytes_per_sec,
                    eta_secs,
                })
            });
            let remote = result?;
            if resumable {
                self.store.forget_upload(&journal_key, key)?;
            }
            if !same(&remote, f) {
                // Changed while it was sent: the destination holds a newer
                // version, which the next snapshot will list.
                return Err(changed_since(&f.path));
            }
            sent_before += f.size;
        }
        dest.flush_files()
    }

    /// Fills in what changed between consecutive local points of each
    /// folder source (`points` newest first).
    pub(crate) fn add_folder_changes(&self, points: &mut [RestorePoint]) {
        let folders: HashSet<String> = match self.store.sources() {
            Ok(s) => s
                .into_iter()
                .filter(|s| s.kind == SourceKind::Folder)
                .map(|s| s.name)
                .collect(),
            Err(_) => return,
        };
        let mut newer: HashMap<String, usize> = HashMap::new();
        let mut manifests: Vec<Option<manifest::Folder>> = Vec::with_capacity(points.len());
        for p in points.iter() {
            let m = (folders.contains(&p.source) && !p.file.as_os_str().is_empty())
                .then(|| self.local_manifest(p).ok().map(|m| m.folder))
                .flatten();
            manifests.push(m);
        }
        // With no destination, the local copy is where earlier versions
        // are: a point whose files are not all here is said to be so.
        if matches!(self.destination(), Ok(None)) {
            let mut current: HashMap<&str, HashSet<String>> = HashMap::new();
            for (p, m) in points.iter().zip(&manifests) {
                if let Some(m) = m {
                    current
                        .entry(p.source.as_str())
                        .or_insert_with(|| m.files.iter().map(|f| f.blake3.clone()).collect());
                }
            }
            let missing: Vec<Option<u64>> = points
                .iter()
                .zip(&manifests)
                .map(|(p, m)| {
                    let m = m.as_ref()?;
                    let here = current.get(p.source.as_str())?;
                    let n = super::copies::missing_locally(self, p, &m.files, here);
                    (n > 0).then_some(n)
                })
                .collect();
            for (p, n) in points.iter_mut().zip(missing) {
                p.missing_files = n;
            }
        }
        for i in (0..points.len()).rev() {
            // Oldest first: `newer` holds the previous point of a source.
            if let (Some(cur), Some(prev)) = (
                manifests[i].as_ref(),
                newer
                    .get(&points[i].source)
                    .and_then(|&j| manifests[j].as_ref()),
            ) {
                points[i].changes = Some(changes(prev, cur));
            }
            if manifests[i].is_some() {
                newer.insert(points[i].source.clone(), i);
            }
        }
    }

    /// The push of `p` is complete (its manifest is at the destination).
    pub(crate) fn pushed(&self, key: &str, source: &str) -> Result<()> {
        self.store
            .set_setting(&Self::inflight_key(key, source), None)
    }

    /// Removes from the versions folder what no kept manifest names any
    /// more (after retention). Every kept point's manifest must be read
    /// (local copy, else downloaded); when one cannot be, nothing is
    /// removed.
    pub(crate) fn prune_versions(
        &self,
        dest: &mut dyn Destination,
        key: &str,
        s: &SourceRecord,
    ) -> Result<Vec<String>> {
        let (points, problem) = self.all_restore_points(Some(&s.name))?;
        if problem.is_some() {
            return Ok(Vec::new());
        }
        let mut named: HashSet<String> = HashSet::new();
        for p in points
            .iter()
            .filter(|p| p.upload != Some(UploadState::Removed))
        {
            let m = if p.file.as_os_str().is_empty() || !self.local_copy_good(p) {
                match self.download_remote(p) {
                    Ok(file) => {
                        let r = Document::open(&file, document::limits::LOAD_TIME_BASE)
                            .and_then(|d| manifest::read(d, &p.id));
                        let _ = std::fs::remove_file(&file);
                        r
                    }
                    Err(e) => Err(e),
                }
            } else {
                self.local_manifest(p)
            };
            match m {
                Ok(m) => named.extend(m.folder.files.into_iter().map(|f| f.blake3)),
                Err(e) => {
                    tracing::warn!(point = %p.id, "earlier versions are kept: a manifest could not be read: {e}");
                    return Ok(Vec::new());
                }
            }
        }
        let _ = key;
        let mut removed = Vec::new();
        for f in dest.list_path(&format!("{}/{VERSIONS_DIR}", s.name))? {
            let is_hash = f.name.len() == 64 && f.name.bytes().all(|b| b.is_ascii_hexdigit());
            if is_hash && !named.contains(&f.name) {
                dest.delete_path(&versions_path(&s.name, &f.name))?;
                removed.push(f.name);
            }
        }
        Ok(removed)
    }

    /// Removes from the local store's kept versions (`objects/<source>`)
    /// what no local manifest names.
    pub(crate) fn prune_objects(&self, s: &SourceRecord) -> Result<()> {
        let dir = self.home().join("objects").join(&s.name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut named = HashSet::new();
        for p in self.store.restore_points(Some(&s.name))? {
            match self.local_manifest(&p) {
                Ok(m) => named.extend(m.folder.files.into_iter().map(|f| f.blake3)),
                Err(_) => return Ok(()),
            }
        }
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.len() == 64 && !named.contains(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(())
    }

    /// Where a restore of source `name` into `location` finds file
    /// contents.
    pub(crate) fn content_for(&self, name: &str) -> Fetcher<'_> {
        let source = self
            .store
            .source(name)
            .ok()
            .filter(|s| s.kind == SourceKind::Folder);
        Fetcher {
            ctx: self,
            name: name.to_string(),
            folder: source.map(|s| s.path),
            destination: None,
            elsewhere: self.elsewhere(name),
        }
    }

    /// Other places at the destination the recent points of source `name`
    /// name for each contents (by BLAKE3): a file renamed or moved since a
    /// point was made is there now, not at the point's own path.
    pub(crate) fn elsewhere(&self, name: &str) -> HashMap<String, Vec<String>> {
        let mut elsewhere: HashMap<String, Vec<String>> = HashMap::new();
        if let Ok(points) = self.store.restore_points(Some(name)) {
            for p in points.iter().take(8) {
                if let Ok(m) = self.local_manifest(p) {
                    for f in m.folder.files {
                        elsewhere.entry(f.blake3).or_default().push(f.remote);
                    }
                }
            }
        }
        elsewhere
    }
}

/// Where at the destination the contents of `f` (of source `name`) may be:
/// the versions folder, its own remote path, then the other paths recent
/// points gave the same contents.
pub(crate) fn remote_places(
    name: &str,
    f: &FileEntry,
    elsewhere: &HashMap<String, Vec<String>>,
) -> Vec<String> {
    let mut places = vec![
        versions_path(name, &f.blake3),
        format!("{name}/{}", f.remote),
    ];
    for r in elsewhere.get(&f.blake3).into_iter().flatten() {
        let p = format!("{name}/{r}");
        if !places.contains(&p) {
            places.push(p);
        }
    }
    places
}

/// Finds contents by BLAKE3 for a folder restore: the folder itself, the
/// local store's kept versions, then the destination (versions folder,
/// the file's own remote path, other paths that held it).
pub(crate) struct Fetcher<'c> {
    ctx: &'c Ctx<'c>,
    name: String,
    folder: Option<PathBuf>,
    destination: Option<std::result::Result<Box<dyn Destination>, ()>>,
    elsewhere: HashMap<String, Vec<String>>,
}

/// Copies `read` into the new private file `dest`, keeping it only when
/// its BLAKE3 and size are `f`'s.
fn write_verified(
    dest: &Path,
    f: &FileEntry,
    read: &mut dyn FnMut(&mut dyn std::io::Write) -> Result<u64>,
) -> Result<bool> {
    let file = AtomicFile::create(dest)?;
    let mut out = HashingWriter::new(fsutil::Limited::new(file, f.size));
    let got = read(&mut out);
    let (file, hashes) = out.finish();
    if got.is_err() || hashes.bytes != f.size || hashes.blake3 != f.blake3 {
        return Ok(false);
    }
    file.into_inner().commit(false)?;
    Ok(true)
}

/// Copies the regular file at `candidate` (never through a link, never
/// blocking on a FIFO) into the new private file `dest` when its contents
/// are `f`'s; `Ok(false)` when it is not there or holds something else.
pub(crate) fn copy_if_same(candidate: &Path, dest: &Path, f: &FileEntry) -> Result<bool> {
    use std::os::unix::fs::OpenOptionsExt;
    let Some(mut file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(candidate)
        .ok()
        .filter(|h| h.metadata().is_ok_and(|m| m.is_file() && m.len() == f.size))
    else {
        return Ok(false);
    };
    write_verified(dest, f, &mut |out| {
        std::io::copy(&mut file, out).map_err(|e| Error::io("read", candidate, e))
    })
}

impl ContentStore for Fetcher<'_> {
    fn fetch(&mut self, f: &FileEntry, dest: &Path) -> Result<bool> {
        let mut local = Vec::new();
        if let Some(folder) = &self.folder {
            local.push(folder.join(&f.path));
        }
        local.push(self.ctx.copies_dir(&self.name).join(&f.blake3));
        local.push(
            self.ctx
                .home()
                .join("objects")
                .join(&self.name)
                .join(&f.blake3),
        );
        for candidate in local {
            if copy_if_same(&candidate, dest, f)? {
                return Ok(true);
            }
        }
        if self.destination.is_none() {
            self.destination = Some(match self.ctx.open_destination() {
                Ok(Some(Ok((_, d)))) => Ok(d),
                _ => Err(()),
            });
        }
        let Some(Ok(d)) = self.destination.as_mut() else {
            return Ok(false);
        };
        for path in remote_places(&self.name, f, &self.elsewhere) {
            // The listed size and hash first: a path holding other
            // contents now is not downloaded.
            match d.file_info(&path) {
                Ok(Some(info))
                    if info.size == f.size
                        && info.quickxor.as_deref().is_none_or(|q| q == f.quickxor) => {}
                _ => continue,
            }
            let ok = write_verified(dest, f, &mut |out| d.get_file(&path, out))?;
            if ok {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// What changed from `before` to `after`: a path with other contents is
/// changed; contents that left one path and appear at a new one moved.
pub(crate) fn changes(
    before: &manifest::Folder,
    after: &manifest::Folder,
) -> crate::store::FolderChanges {
    let old = before.by_path();
    let new = after.by_path();
    let gone: HashSet<&str> = old
        .iter()
        .filter(|(p, _)| !new.contains_key(*p))
        .map(|(_, f)| f.blake3.as_str())
        .collect();
    let mut c = crate::store::FolderChanges::default();
    for (p, f) in &new {
        match old.get(p) {
            Some(o) if o.blake3 == f.blake3 => {}
            Some(_) => c.changed += 1,
            None if gone.contains(f.blake3.as_str()) => c.moved += 1,
            None => c.added += 1,
        }
    }
    let moved_from = old
        .iter()
        .filter(|(p, f)| {
            !new.contains_key(*p)
                && new
                    .values()
                    .any(|n| n.blake3 == f.blake3 && !old.contains_key(n.path.as_str()))
        })
        .count() as u64;
    c.removed = old.keys().filter(|p| !new.contains_key(*p)).count() as u64 - moved_from;
    c
}

/// Whether an error says the folder changed under a push (see
/// [`changed_since`]).
pub(crate) fn folder_changed(e: &Error) -> bool {
    is_changed_since(e)
}
