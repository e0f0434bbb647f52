//! Folder sources: a folder of application files (JSON documents, video
//! clips, exports). Its restore point is a manifest (see [`manifest`]);
//! the files themselves go to the destination as themselves, beside it
//! (`run/mirror.rs`), so people can browse and open them there.
//!
//! - Change detection: a walk of `lstat`s (size, modification and change
//!   times, inode) — the fingerprint — and, within a snapshot, hashes
//!   reused from the previous one (a private index in the home) for every
//!   file whose `lstat` is unchanged; only new and changed files are read.
//! - A file still being written is never taken half-done: it must be
//!   unchanged for [`crate::config::Config::settle`] and, where the
//!   platform tells (Linux's `/proc`), held open for writing by no one; a
//!   file that changes while it is read is read again. An unsettled file
//!   keeps its last complete version in the point (or is absent when it
//!   never had one) and is named in `unsettled`.
//! - Restores write into a private staging folder beside the target, each
//!   file's contents found by BLAKE3 ([`crate::source::ContentStore`]:
//!   the folder itself, the local store, the destination) and verified;
//!   then the staged files are renamed into place.

pub mod manifest;
pub(crate) mod names;
pub(crate) mod scan;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use manifest::{DirEntry, FileEntry, Folder};
use scan::{Filter, Found};

use super::{
    ContentStore, Placement, RestoreProgressFn, Restored, SnapshotStats, Source, SourceCheck,
    SourceKind, SourceOptions, StagedRestore, TableProgress,
};
use crate::config::Config;
use crate::document::{Document, SourceInfo};
use crate::error::{Error, Result};
use crate::fsutil::{self, AtomicFile, HashingWriter};

/// A file held open for writing is taken anyway once it has not changed
/// for this long (an application that keeps its files open, idle).
const HELD_GRACE: Duration = Duration::from_secs(60);
/// Reads of a file that keeps changing under the reader before it counts
/// as unsettled for this run.
const READ_ATTEMPTS: u32 = 3;

pub struct FolderSource {
    name: String,
    root: PathBuf,
    home: PathBuf,
    options: SourceOptions,
    settle: Duration,
}

impl FolderSource {
    pub fn new(
        name: &str,
        root: &Path,
        options: &SourceOptions,
        home: &Path,
        config: &Config,
    ) -> FolderSource {
        FolderSource {
            name: name.to_string(),
            root: root.to_path_buf(),
            home: home.to_path_buf(),
            options: options.clone(),
            settle: config.settle,
        }
    }

    fn filter(&self) -> Result<Filter> {
        Filter::new(&self.options.exclude, &self.options.include)
    }

    fn walk(&self) -> Result<scan::Walk> {
        scan::walk(&self.root, &self.filter()?, manifest::MAX_FILES).map_err(|e| match e {
            Error::Io { cause, .. } if cause.kind() == io::ErrorKind::NotFound => Error::Source {
                name: self.name.clone(),
                problem: crate::error::SourceProblem::Other(
                    self.root.clone(),
                    "the folder does not exist. Check the path (a disk or share not connected?), or remove the source if its application is gone.".into(),
                ),
            },
            other => other,
        })
    }

    /// The private index of the previous snapshot (hashes and remote
    /// names by path), when there is one.
    fn index_path(&self) -> PathBuf {
        self.home
            .join("index")
            .join(format!("{}.json.zst", self.name))
    }

    fn load_index(&self) -> Folder {
        let read = || -> Option<Folder> {
            let f = File::open(self.index_path()).ok()?;
            let dec = zstd::stream::read::Decoder::new(f).ok()?;
            // Written by this home; still bounded like a manifest.
            serde_json::from_reader(BufReader::new(dec.take(manifest::MAX_MANIFEST))).ok()
        };
        read().unwrap_or_default()
    }

    fn save_index(&self, folder: &Folder) -> Result<()> {
        let path = self.index_path();
        fsutil::create_private_dir(path.parent().expect("has a parent"))?;
        let file = AtomicFile::create(&path)?;
        let mut enc =
            zstd::stream::write::Encoder::new(file, 1).map_err(|e| Error::io("write", &path, e))?;
        serde_json::to_writer(&mut enc, folder).map_err(|e| Error::io("write", &path, e.into()))?;
        enc.finish()
            .map_err(|e| Error::io("write", &path, e))?
            .commit(true)
    }

    /// Whether `f` is still being written, as far as can be told.
    fn unsettled(&self, f: &Found, now_ns: i64, held: &HashSet<(u64, u64)>) -> bool {
        let quiet = now_ns.saturating_sub(f.mtime_ns.max(f.ctime_ns));
        quiet < self.settle.as_nanos() as i64
            || (held.contains(&(f.dev, f.ino)) && quiet < HELD_GRACE.as_nanos() as i64)
    }

    /// Reads `f` through both hashes; `None` when it changed while read.
    fn hash(&self, f: &Found) -> Result<Option<fsutil::Hashes>> {
        let Some(read) = self.read(f)? else {
            return Ok(None);
        };
        let held = if recently_changed(f) {
            scan::open_for_writing(&[(f.dev, f.ino)].into())
        } else {
            HashSet::new()
        };
        self.confirm(f, read, &held)
    }

    /// The first half of [`FolderSource::hash`]: `f` read through both
    /// hashes, to be confirmed by [`FolderSource::confirm`]. `None` when it
    /// is gone or already not what the walk saw.
    fn read(&self, f: &Found) -> Result<Option<(fs::File, fsutil::Hashes)>> {
        let path = self.root.join(&f.path);
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(f) => f,
            // Gone since the walk (renamed or deleted by its application):
            // the caller sees it gone.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let before = file.metadata().map_err(|e| Error::io("read", &path, e))?;
        if !before.is_file() || !f.same_as(&before) {
            return Ok(None);
        }
        // A buffer the size of a small file: 10,000 documents need not
        // map and unmap a megabyte each.
        let capacity = (f.size as usize).clamp(8 << 10, 1 << 20);
        let mut h = HashingWriter::new(io::sink());
        io::copy(&mut BufReader::with_capacity(capacity, &file), &mut h)
            .map_err(|e| Error::io("read", &path, e))?;
        let (_, hashes) = h.finish();
        Ok(Some((file, hashes)))
    }

    /// The second half of [`FolderSource::hash`]: what was read holds when
    /// no writer held the file after the read (`held_after`, asked after
    /// the read and before this last look at its times, so a writer that
    /// finishes in between is seen by the times) — a writer holding it may
    /// be half-way (it truncated and has not written all yet) — and the
    /// file is still what the walk saw.
    fn confirm(
        &self,
        f: &Found,
        (file, hashes): (fs::File, fsutil::Hashes),
        held_after: &HashSet<(u64, u64)>,
    ) -> Result<Option<fsutil::Hashes>> {
        let path = self.root.join(&f.path);
        if recently_changed(f) && held_after.contains(&(f.dev, f.ino)) {
            return Ok(None);
        }
        let after = fs::symlink_metadata(&path).map_err(|e| Error::io("read", &path, e))?;
        let fd_after = file.metadata().map_err(|e| Error::io("read", &path, e))?;
        Ok((f.same_as(&after) && f.same_as(&fd_after) && hashes.bytes == f.size).then_some(hashes))
    }

    /// Reads `f` again after it changed under the first read, as it is
    /// now, if it is settled now (a writer still at it leaves it for a
    /// later run, never read torn); up to [`READ_ATTEMPTS`] reads in all.
    fn read_again(&self, f: &Found) -> Result<Reread> {
        for _ in 1..READ_ATTEMPTS {
            let current = match fs::symlink_metadata(self.root.join(&f.path)) {
                Ok(m) if m.is_file() => Found::of(f.path.clone(), &m),
                // Removed (or replaced by something else) since the walk:
                // not in the folder at this point.
                _ => return Ok(Reread::Gone),
            };
            let held = scan::open_for_writing(&[(current.dev, current.ino)].into());
            if self.unsettled(&current, now_ns(), &held) {
                return Ok(Reread::Unsettled);
            }
            if let Some(h) = self.hash(&current)? {
                return Ok(Reread::Read(current, h));
            }
        }
        Ok(Reread::Unsettled)
    }
}

/// Changed within [`HELD_GRACE`]: a process holding it open for writing
/// may still be writing it (an idle holder is trusted after that).
fn recently_changed(f: &Found) -> bool {
    now_ns().saturating_sub(f.mtime_ns.max(f.ctime_ns)) < HELD_GRACE.as_nanos() as i64
}

/// What reading a file again found.
enum Reread {
    Gone,
    Unsettled,
    Read(Found, fsutil::Hashes),
}

/// What the snapshot does with one file of a batch.
enum Step {
    /// Unchanged since the last snapshot.
    Kept(FileEntry),
    /// Still being written.
    Unsettled,
    /// Read (`None`: gone or changed before it was read).
    Read(Option<(fs::File, fsutil::Hashes)>),
}

/// Files read between two looks at who holds files open for writing: one
/// look at every process's open files per batch, not per file.
const READ_BATCH: usize = 256;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Source for FolderSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Folder
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn location(&self) -> &Path {
        &self.root
    }

    fn check(&self) -> Result<SourceCheck> {
        let w = self.walk()?;
        Ok(SourceCheck {
            kind: SourceKind::Folder,
            path: self.root.clone(),
            suggested_name: super::suggested_name(&self.root.with_extension("")),
            tables: w.files.len() as u64,
            size_bytes: w.files.iter().map(|f| f.size).sum(),
            journal_mode: String::new(),
            postgresql: None,
            folder: Some(FolderCheck {
                files: w.files.len() as u64,
                links: w.links.len() as u64,
                skipped: w
                    .skipped
                    .iter()
                    .map(|s| format!("{}: {}", s.path, s.reason))
                    .collect(),
            }),
        })
    }

    fn fingerprint(&self) -> Result<String> {
        let w = self.walk()?;
        let now = now_ns();
        let candidates: HashSet<(u64, u64)> = w.files.iter().map(|f| (f.dev, f.ino)).collect();
        let held = scan::open_for_writing(&candidates);
        let mut h = blake3::Hasher::new();
        // How remote names are given: a folder is snapshotted again when
        // that changes, so its next point carries the new names.
        h.update(names::MAPPING.as_bytes());
        for f in &w.files {
            let settled = !self.unsettled(f, now, &held);
            h.update(
                format!(
                    "f\0{}\0{}\0{}\0{}\0{}\0{}\0{}\n",
                    f.path, f.size, f.mtime_ns, f.ctime_ns, f.ino, f.mode, settled
                )
                .as_bytes(),
            );
        }
        for (p, mode, _) in &w.dirs {
            h.update(format!("d\0{p}\0{mode}\n").as_bytes());
        }
        for l in &w.links {
            h.update(format!("l\0{}\0{}\n", l.path, l.target).as_bytes());
        }
        for s in &w.skipped {
            h.update(format!("s\0{}\n", s.path).as_bytes());
        }
        Ok(format!("folder:{}", h.finalize().to_hex()))
    }

    fn snapshot(
        &self,
        created_at: &str,
        _work_dir: &Path,
        label: &Path,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(TableProgress<'_>),
    ) -> Result<SnapshotStats> {
        let w = self.walk()?;
        let previous = self.load_index();
        let prev_files = previous.by_path();
        let now = now_ns();
        let candidates: HashSet<(u64, u64)> = w.files.iter().map(|f| (f.dev, f.ino)).collect();
        let held = scan::open_for_writing(&candidates);
        let mut files = Vec::with_capacity(w.files.len());
        let mut unsettled = Vec::new();
        let mut done = 0u64;
        for batch in w.files.chunks(READ_BATCH) {
            // Read what needs reading, then ask once who holds any of them
            // open for writing, then confirm each.
            let mut steps = Vec::with_capacity(batch.len());
            for f in batch {
                let prev = prev_files.get(f.path.as_str()).copied();
                // Unchanged since the last snapshot: its hashes still hold.
                let step = if let Some(p) = prev.filter(|p| {
                    p.size == f.size
                        && p.mtime_ns == f.mtime_ns
                        && p.local == Some((f.ino, f.ctime_ns))
                }) {
                    Step::Kept(FileEntry {
                        mode: f.mode,
                        ..p.clone()
                    })
                } else if self.unsettled(f, now, &held) {
                    Step::Unsettled
                } else {
                    Step::Read(self.read(f)?)
                };
                steps.push(step);
            }
            let recent: HashSet<(u64, u64)> = batch
                .iter()
                .zip(&steps)
                .filter(|(f, s)| matches!(s, Step::Read(Some(_))) && recently_changed(f))
                .map(|(f, _)| (f.dev, f.ino))
                .collect();
            let held_after = scan::open_for_writing(&recent);
            for (f, step) in batch.iter().zip(steps) {
                let prev = prev_files.get(f.path.as_str()).copied();
                let hashed = match step {
                    Step::Kept(entry) => {
                        files.push(entry);
                        continue;
                    }
                    Step::Unsettled => None,
                    Step::Read(read) => {
                        let first = match read {
                            Some(read) => self.confirm(f, read, &held_after)?,
                            None => None,
                        };
                        match first {
                            Some(h) => Some((f.clone(), h)),
                            None => match self.read_again(f)? {
                                Reread::Gone => continue,
                                Reread::Unsettled => None,
                                Reread::Read(found, h) => Some((found, h)),
                            },
                        }
                    }
                };
                done += 1;
                progress(TableProgress {
                    table: &f.path,
                    table_rows: f.size,
                    total_rows: done,
                });
                match hashed {
                    Some((found, h)) => files.push(FileEntry {
                        path: f.path.clone(),
                        remote: String::new(),
                        size: h.bytes,
                        mtime_ns: found.mtime_ns,
                        mode: found.mode,
                        blake3: h.blake3,
                        quickxor: h.quickxor,
                        local: Some((found.ino, found.ctime_ns)),
                    }),
                    None => {
                        // Still being written: as it last was complete, if ever.
                        unsettled.push(f.path.clone());
                        if let Some(p) = prev {
                            files.push(p.clone());
                        }
                    }
                }
            }
        }
        // Remote names: each path keeps the one it had; new paths after.
        let prev_remote: HashMap<String, String> = previous
            .files
            .iter()
            .map(|f| (f.path.clone(), f.remote.clone()))
            .collect();
        let mut mapper = names::Mapper::new(&prev_remote);
        let mut order: Vec<usize> = (0..files.len()).collect();
        order.sort_by_key(|&i| (!prev_remote.contains_key(&files[i].path), i));
        for i in order {
            files[i].remote = mapper.map(&files[i].path);
        }
        let folder = Folder {
            files,
            dirs: w
                .dirs
                .iter()
                .map(|(path, mode, mtime_ns)| DirEntry {
                    path: path.clone(),
                    mode: *mode,
                    mtime_ns: *mtime_ns,
                })
                .collect(),
            links: w.links,
            skipped: w.skipped,
            unsettled,
            exclude: self.options.exclude.clone(),
            include: self.options.include.clone(),
        };
        let source = SourceInfo {
            name: self.name.clone(),
            kind: SourceKind::Folder.as_str().into(),
            path: self.root.to_string_lossy().into_owned(),
        };
        manifest::write(out, created_at, &source, &folder)
            .map_err(|e| Error::io("write", label, e))?;
        self.save_index(&folder)?;
        Ok(SnapshotStats {
            tables: folder.files.len() as u64,
            rows: folder.bytes(),
            unsettled: folder.unsettled.len() as u64,
            digest: None,
        })
    }

    fn stage_restore(
        &self,
        document: Document,
        label: &str,
        placement: Placement,
        _work_dir: &Path,
        progress: RestoreProgressFn<'_>,
        content: &mut dyn ContentStore,
    ) -> Result<Box<dyn StagedRestore>> {
        let m = manifest::read(document, label)?;
        let only = &self.options.paths;
        let wanted = |p: &str| {
            only.is_empty()
                || only
                    .iter()
                    .any(|o| p == o || p.starts_with(&format!("{}/", o.trim_end_matches('/'))))
        };
        let files: Vec<FileEntry> = m
            .folder
            .files
            .iter()
            .filter(|f| wanted(&f.path))
            .cloned()
            .collect();
        if !only.is_empty() && files.is_empty() && !m.folder.dirs.iter().any(|d| wanted(&d.path)) {
            return Err(Error::Invalid(format!(
                "this restore point holds nothing at {}. Check the path (relative to the folder, as listed).",
                only.join(", ")
            )));
        }
        let restored = Restored {
            created_at: m.created_at.clone(),
            source: m.source.name.clone(),
            tables: files.iter().map(|f| (f.path.clone(), f.size)).collect(),
            rows: files.iter().map(|f| f.size).sum(),
            not_restored: Vec::new(),
        };
        if placement == Placement::Scratch {
            return Ok(Box::new(Staged {
                restored,
                plan: None,
            }));
        }
        let in_place = placement == Placement::InPlace;
        let target = self.root.clone();
        if let Placement::New { force } = placement {
            let non_empty = fs::read_dir(&target)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
            if target.exists() && !target.is_dir() {
                return Err(Error::TargetExists(target));
            }
            if non_empty && !force {
                return Err(Error::TargetExists(target));
            }
        }
        let parent = if in_place {
            target.clone()
        } else {
            let p = target
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            fsutil::ensure_parent(&target)?;
            p
        };
        let staging = parent.join(format!(
            ".{}.nuage-restore-{:08x}",
            target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            fastrand::u32(..)
        ));
        let guard = StagingDir::create(&staging)?;
        // In place, files already as they were need nothing.
        let index = self.load_index();
        let cached = index.by_path();
        let mut to_place = Vec::new();
        let mut done = 0u64;
        for f in &files {
            if in_place && current_matches(&target, f, cached.get(f.path.as_str()).copied()) {
                continue;
            }
            let dest = staging.join(&f.path);
            fsutil::create_private_dir(dest.parent().expect("has a parent"))?;
            if !content.fetch(f, &dest)? {
                return Err(Error::RestoreFailed {
                    path: target.clone(),
                    detail: format!(
                        "no copy of '{}' as it was at this point was found (not in the folder, the local store or the destination); nothing was changed.",
                        f.path
                    ),
                });
            }
            set_times_and_mode(&dest, f.mtime_ns, f.mode)?;
            to_place.push(f.clone());
            done += 1;
            progress(&f.path, done);
        }
        let links: Vec<_> = m
            .folder
            .links
            .iter()
            .filter(|l| wanted(&l.path))
            .cloned()
            .collect();
        let mut not_restored = Vec::new();
        let mut safe_links = Vec::new();
        for l in links {
            if link_stays_inside(&l.path, &l.target) {
                safe_links.push(l);
            } else {
                not_restored.push(format!(
                    "the link {} → {}: it points outside the folder, so it was not recreated",
                    l.path, l.target
                ));
            }
        }
        let dirs: Vec<DirEntry> = m
            .folder
            .dirs
            .iter()
            .filter(|d| wanted(&d.path))
            .cloned()
            .collect();
        // A whole point in place: what it did not hold goes (its current
        // version is kept first, like every replaced file).
        let remove = if in_place && only.is_empty() {
            let keep: HashSet<&str> = m.folder.files.iter().map(|f| f.path.as_str()).collect();
            self.walk()?
                .files
                .into_iter()
                .filter(|f| !keep.contains(f.path.as_str()))
                .map(|f| f.path)
                .collect()
        } else {
            Vec::new()
        };
        Ok(Box::new(Staged {
            restored: Restored {
                not_restored,
                ..restored
            },
            plan: Some(Plan {
                target,
                staging: guard,
                in_place,
                files: to_place,
                dirs,
                links: safe_links,
                remove,
                keep_dir: self.home.join("objects").join(&self.name),
            }),
        }))
    }

    fn is_unreadable(&self, _e: &Error) -> bool {
        false
    }

    fn raw_copy(&self, _dest: &Path) -> Result<()> {
        Err(Error::Invalid(
            "a folder is kept file by file, not as one raw copy".into(),
        ))
    }
}

/// What a folder's check found besides the totals.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct FolderCheck {
    pub files: u64,
    pub links: u64,
    /// Special files and unreadable entries, each with why.
    pub skipped: Vec<String>,
}

/// Whether the file at `f.path` in `root` is already `f` (by the index's
/// hashes when its `lstat` is unchanged, else by reading it).
fn current_matches(root: &Path, f: &FileEntry, cached: Option<&FileEntry>) -> bool {
    let path = root.join(&f.path);
    let Ok(m) = fs::symlink_metadata(&path) else {
        return false;
    };
    if !m.is_file() || m.len() != f.size {
        return false;
    }
    let found = Found::of(String::new(), &m);
    if let Some(c) = cached.filter(|c| {
        c.size == found.size
            && c.mtime_ns == found.mtime_ns
            && c.local == Some((found.ino, found.ctime_ns))
    }) {
        return c.blake3 == f.blake3 && found.mtime_ns == f.mtime_ns && found.mode == f.mode;
    }
    fsutil::hash_file(&path).is_ok_and(|(b3, _)| b3 == f.blake3)
        && found.mtime_ns == f.mtime_ns
        && found.mode == f.mode
}

/// Whether a link's target, read relative to the link's folder, stays in
/// the restored folder (an absolute target never does).
fn link_stays_inside(path: &str, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') {
        return false;
    }
    let mut depth: i64 = path.matches('/').count() as i64;
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

pub(crate) fn set_times_and_mode(path: &Path, mtime_ns: i64, mode: u32) -> Result<()> {
    let f = File::options()
        .write(true)
        .open(path)
        .map_err(|e| Error::io("write", path, e))?;
    let t = if mtime_ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(mtime_ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(mtime_ns.unsigned_abs())
    };
    f.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))
        .map_err(|e| Error::io("set the time of", path, e))?;
    // Never set-user-id and the like from a document.
    f.set_permissions(fs::Permissions::from_mode(mode & 0o777))
        .map_err(|e| Error::io("set the mode of", path, e))
}

/// A staging folder, removed with what it holds unless placed; recorded
/// as a temporary, so a kill leaves nothing the next start does not sweep.
struct StagingDir(PathBuf, #[allow(dead_code)] crate::temporaries::Recorded);

impl StagingDir {
    fn create(path: &Path) -> Result<StagingDir> {
        use std::os::unix::fs::DirBuilderExt;
        let recorded = crate::temporaries::record(path);
        fs::DirBuilder::new()
            .mode(fsutil::PRIVATE_DIR_MODE)
            .create(path)
            .map_err(|e| Error::io("create", path, e))?;
        Ok(StagingDir(path.to_path_buf(), recorded))
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Plan {
    target: PathBuf,
    staging: StagingDir,
    in_place: bool,
    files: Vec<FileEntry>,
    dirs: Vec<DirEntry>,
    links: Vec<manifest::LinkEntry>,
    remove: Vec<String>,
    /// Where the current versions of replaced files are kept (local
    /// store, by BLAKE3).
    keep_dir: PathBuf,
}

struct Staged {
    restored: Restored,
    plan: Option<Plan>,
}

impl StagedRestore for Staged {
    fn restored(&self) -> &Restored {
        &self.restored
    }

    fn commit(self: Box<Self>) -> Result<Vec<String>> {
        let notes = self.restored.not_restored.clone();
        let Some(plan) = self.plan else {
            return Ok(notes);
        };
        plan.place()?;
        Ok(notes)
    }
}

impl Plan {
    /// Keeps the current version of `rel` in the local store (by its
    /// BLAKE3), before it is replaced or removed.
    fn keep_current(&self, rel: &str) -> Result<()> {
        let path = self.target.join(rel);
        let Ok(f) = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        else {
            return Ok(());
        };
        if !f.metadata().is_ok_and(|m| m.is_file()) {
            return Ok(());
        }
        fsutil::create_private_dir(&self.keep_dir)?;
        let tmp = self
            .keep_dir
            .join(format!("incoming-{:016x}", fastrand::u64(..)));
        let out = AtomicFile::create(&tmp)?;
        let mut h = HashingWriter::new(out);
        io::copy(&mut BufReader::with_capacity(1 << 20, f), &mut h)
            .map_err(|e| Error::io("keep", &path, e))?;
        let (out, hashes) = h.finish();
        out.commit(true)?;
        let kept = self.keep_dir.join(&hashes.blake3);
        fs::rename(&tmp, &kept).map_err(|e| Error::io("keep", &kept, e))?;
        fsutil::sync_parent(&kept)
    }

    fn place(self) -> Result<()> {
        let staging = &self.staging.0;
        if !self.in_place {
            // A new folder: the staging folder becomes it, whole.
            self.finish_tree(staging)?;
            let empty = fs::read_dir(&self.target)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if !self.target.exists() || empty {
                if empty {
                    fs::remove_dir(&self.target)
                        .map_err(|e| Error::io("replace", &self.target, e))?;
                }
                fs::rename(staging, &self.target)
                    .map_err(|e| Error::io("create", &self.target, e))?;
                return fsutil::sync_parent(&self.target);
            }
        }
        // Into an existing folder (in place, or forced): file by file,
        // each current version kept first when in place.
        for f in &self.files {
            let dest = self.target.join(&f.path);
            make_dirs_inside(&self.target, dest.parent().expect("has a parent"))?;
            if self.in_place {
                self.keep_current(&f.path)?;
            }
            fs::rename(staging.join(&f.path), &dest).map_err(|e| Error::io("replace", &dest, e))?;
        }
        for rel in &self.remove {
            self.keep_current(rel)?;
            let _ = fs::remove_file(self.target.join(rel));
        }
        for l in &self.links {
            let dest = self.target.join(&l.path);
            make_dirs_inside(&self.target, dest.parent().expect("has a parent"))?;
            if fs::symlink_metadata(&dest).is_err() {
                let _ = std::os::unix::fs::symlink(&l.target, &dest);
            }
        }
        if !self.in_place {
            self.finish_dirs(&self.target)?;
        }
        Ok(())
    }

    /// Links, then folder modes and times, deepest first, in `root`.
    fn finish_tree(&self, root: &Path) -> Result<()> {
        for l in &self.links {
            let dest = root.join(&l.path);
            fsutil::create_private_dir(dest.parent().expect("has a parent"))?;
            std::os::unix::fs::symlink(&l.target, &dest)
                .map_err(|e| Error::io("create", &dest, e))?;
        }
        self.finish_dirs(root)
    }

    fn finish_dirs(&self, root: &Path) -> Result<()> {
        let mut dirs = self.dirs.clone();
        dirs.sort_by(|a, b| b.path.cmp(&a.path));
        for d in &dirs {
            let p = root.join(&d.path);
            make_dirs_inside(root, &p)?;
            let t = UNIX_EPOCH + Duration::from_nanos(d.mtime_ns.max(0) as u64);
            // The folder keeps its own mode, but never loses its owner's
            // rights (a restore must be able to finish and be removed).
            let _ = fs::set_permissions(&p, fs::Permissions::from_mode((d.mode & 0o777) | 0o700));
            if let Ok(f) = File::open(&p) {
                let _ = f.set_times(fs::FileTimes::new().set_modified(t));
            }
        }
        Ok(())
    }
}

/// Creates `dir` below `root`, refusing to pass through a symbolic link
/// (a link planted in the target must not send a restored file
/// elsewhere).
fn make_dirs_inside(root: &Path, dir: &Path) -> Result<()> {
    let rel = dir
        .strip_prefix(root)
        .map_err(|_| Error::Invalid(format!("{} is outside {}", dir.display(), root.display())))?;
    let mut at = root.to_path_buf();
    for c in rel.components() {
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::RestoreFailed {
                    path: root.to_path_buf(),
                    detail: format!(
                        "{} is in the way (not a folder); move it and try again.",
                        at.display()
                    ),
                });
            }
            Err(_) => {
                fs::create_dir(&at).map_err(|e| Error::io("create", &at, e))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_are_recreated_only_inside_the_folder() {
        use super::link_stays_inside as inside;
        assert!(inside("a/l", "../b"));
        assert!(inside("l", "b/c"));
        assert!(!inside("l", "../x"));
        assert!(!inside("a/l", "../../x"));
        assert!(!inside("l", "/etc/passwd"));
    }
}
