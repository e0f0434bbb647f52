//! A local or network folder (a NAS mount, a USB disk, a synced folder):
//! the same contract as a cloud drive, no network code.

use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use nuage_graph::QuickXorHash;

use super::{Capabilities, Destination, RemoteFile, UploadJournal, point_id_of, tree_path};
use crate::error::{Error, ErrorCode, Result};
use crate::fsutil::{AtomicFile, create_private_dir};

/// Files written at once by [`Destination::put_small_files`].
const SMALL_FILE_WRITERS: usize = 4;

pub struct FolderDestination {
    root: PathBuf,
    /// The source folders files were put in by this run, each recorded
    /// once as a tree of temporaries: a kill while a file is written
    /// leaves nothing the next start does not sweep, without a record
    /// (and a sync) per file.
    trees: std::collections::HashMap<String, crate::temporaries::Recorded>,
}

impl FolderDestination {
    pub fn new(root: &Path) -> Result<FolderDestination> {
        let root = std::path::absolute(root).map_err(|e| Error::io("resolve", root, e))?;
        Ok(FolderDestination {
            root,
            trees: Default::default(),
        })
    }

    fn unavailable(&self, e: io::Error) -> Error {
        Error::Destination {
            code: ErrorCode::DestinationUnavailable,
            message: format!(
                "the backup folder {} cannot be used ({e}). Check that the disk or network share is connected, or choose another backup folder.",
                self.root.display()
            ),
        }
    }

    fn file(&self, folder: &str, name: &str) -> Result<PathBuf> {
        if point_id_of(name).is_none() || !crate::source::valid_source_name(folder) {
            return Err(Error::Invalid(format!(
                "'{folder}/{name}' is not a file Nuage creates"
            )));
        }
        Ok(self.root.join(folder).join(name))
    }

    /// The local path of a tree path (checked).
    fn tree(&self, path: &str) -> Result<PathBuf> {
        let mut p = self.root.clone();
        for seg in tree_path(path)? {
            p.push(seg);
        }
        Ok(p)
    }

    fn check_root(&self) -> Result<()> {
        if self.root.is_dir() {
            return Ok(());
        }
        Err(self.unavailable(io::Error::new(
            io::ErrorKind::NotFound,
            "the folder does not exist",
        )))
    }

    /// Copies `local` to `target` atomically (private from its first
    /// byte), reporting progress, and reads back what was stored. Durable
    /// copies are synced one by one (restore points); the others wait for
    /// [`Destination::flush_files`].
    fn store(
        &mut self,
        target: &Path,
        local: &Path,
        progress: &mut dyn FnMut(u64),
        durable: bool,
    ) -> Result<(String, u64)> {
        create_private_dir(target.parent().expect("has a parent"))?;
        if !durable {
            self.record_tree_of(target);
            return write_unsynced(target, local, progress);
        }
        let mut out = AtomicFile::create(target)?;
        copy_into(local, target, &mut out, progress)?;
        out.commit(true)?;
        // The hash is read back from the stored file: a check of what is
        // really on the disk, not of what was sent.
        Self::hash_of(target).map_err(|e| Error::io("read back", target, e))
    }

    /// Records the source folder `target` is below (`<root>/<source>/…`)
    /// as a tree of temporaries, once per run.
    fn record_tree_of(&mut self, target: &Path) {
        let source = target
            .strip_prefix(&self.root)
            .ok()
            .and_then(|r| r.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        if !self.trees.contains_key(&source) {
            let recorded = crate::temporaries::record_tree(&self.root.join(&source));
            self.trees.insert(source, recorded);
        }
    }

    fn hash_of(path: &Path) -> io::Result<(String, u64)> {
        let mut h = QuickXorHash::new();
        let n = io::copy(
            &mut BufReader::with_capacity(1 << 20, open_regular(path)?),
            &mut h,
        )?;
        Ok((h.to_base64(), n))
    }
}

/// Streams `local` into `out`, reporting the bytes written so far.
fn copy_into(
    local: &Path,
    target: &Path,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let mut input = File::open(local).map_err(|e| Error::io("read", local, e))?;
    let mut buf =
        vec![0u8; (1 << 20).min(input.metadata().map_or(1 << 20, |m| m.len() as usize + 1))];
    let mut sent = 0u64;
    loop {
        let n = io::Read::read(&mut input, &mut buf).map_err(|e| Error::io("read", local, e))?;
        if n == 0 {
            return Ok(sent);
        }
        out.write_all(&buf[..n])
            .map_err(|e| Error::io("write", target, e))?;
        sent += n as u64;
        progress(sent);
    }
}

/// Copies `local` to `target` without waiting for the disk: written
/// beside its target (private from its first byte), renamed into place,
/// read back; made durable by [`Destination::flush_files`]. Its folder
/// exists and its source's tree is recorded as temporaries.
fn write_unsynced(
    target: &Path,
    local: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(String, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    // Beside its target (a rename within one folder is the cheapest on
    // every file system).
    let tmp = crate::fsutil::temp_sibling(target, "tmp");
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(crate::fsutil::PRIVATE_FILE_MODE)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    let copied = copy_into(local, target, &mut out, progress);
    drop(out);
    if let Err(e) = copied
        .and_then(|_| fs::rename(&tmp, target).map_err(|e| Error::io("move into place", target, e)))
    {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    FolderDestination::hash_of(target).map_err(|e| Error::io("read back", target, e))
}

/// Opens a file found at the destination for reading, only if it is a
/// regular file: never through a symbolic link, and without blocking on a
/// FIFO or a device someone left there (a FIFO named like a restore point
/// would otherwise hang every listing and backup).
fn open_regular(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl Destination for FolderDestination {
    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    fn capabilities(&self) -> Capabilities {
        // The hash is read back from the stored file: a check of what is
        // really on the disk, not of what was sent.
        Capabilities {
            server_hash: true,
            listed_hash: false,
            resumable: false,
        }
    }

    fn upload(
        &mut self,
        folder: &str,
        name: &str,
        local: &Path,
        _journal: &mut dyn UploadJournal,
        progress: &mut dyn FnMut(u64),
    ) -> Result<RemoteFile> {
        let target = self.file(folder, name)?;
        if !self.root.is_dir() {
            return Err(self.unavailable(io::Error::new(
                io::ErrorKind::NotFound,
                "the folder does not exist",
            )));
        }
        let dir = target.parent().expect("has a parent");
        create_private_dir(dir)?;
        let (quickxor, size) = self.store(&target, local, progress, true)?;
        Ok(RemoteFile {
            name: name.to_string(),
            size,
            quickxor: Some(quickxor),
        })
    }

    fn folders(&mut self) -> Result<Vec<String>> {
        let entries = fs::read_dir(&self.root).map_err(|e| self.unavailable(e))?;
        // Bounded like a listing: one folder per source is expected.
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| crate::source::valid_source_name(n))
            .take(nuage_graph::client::MAX_CHILDREN + 1)
            .collect();
        if names.len() > nuage_graph::client::MAX_CHILDREN {
            return Err(self.unavailable(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "it holds more than {} folders named like sources",
                    nuage_graph::client::MAX_CHILDREN
                ),
            )));
        }
        names.sort();
        Ok(names)
    }

    fn list(&mut self, folder: &str) -> Result<Vec<RemoteFile>> {
        if !self.root.is_dir() {
            return Err(self.unavailable(io::Error::new(
                io::ErrorKind::NotFound,
                "the folder does not exist",
            )));
        }
        let dir = self.root.join(folder);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.unavailable(e)),
        };
        let mut files = Vec::new();
        for e in entries {
            let e = e.map_err(|e| self.unavailable(e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if point_id_of(&name).is_none() {
                continue;
            }
            // Only regular files are Nuage's: a FIFO, device, socket or
            // link with a restore point's name is reported and skipped.
            if !e.file_type().is_ok_and(|t| t.is_file()) {
                tracing::warn!(path = %e.path().display(), "not a regular file: skipped");
                continue;
            }
            // Sizes only: a folder has no stored hash, and hashing every
            // file on each listing would take as long as the biggest file
            // found there (a planted 64 GiB file). A download is checked
            // against the size and the BLAKE3 recorded when it was made.
            let size = e.metadata().map_err(|err| self.unavailable(err))?.len();
            files.push(RemoteFile {
                name,
                size,
                quickxor: None,
            });
            // The same bound as a OneDrive listing: a folder Nuage fills
            // holds one file per restore point kept.
            if files.len() > nuage_graph::client::MAX_CHILDREN {
                return Err(self.unavailable(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} holds more than {} files named like restore points; Nuage keeps far fewer",
                        dir.display(),
                        nuage_graph::client::MAX_CHILDREN
                    ),
                )));
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    fn download(&mut self, folder: &str, name: &str, out: &mut dyn Write) -> Result<u64> {
        let path = self.file(folder, name)?;
        // A disk that is not there is not a copy that is gone.
        self.check_root()?;
        let f = open_regular(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                Error::UnknownRestorePoint(name.trim_end_matches(".json.zst").to_string())
            }
            _ => self.unavailable(e),
        })?;
        io::copy(&mut BufReader::with_capacity(1 << 20, f), out)
            .map_err(|e| Error::io("copy", &path, e))
    }

    fn move_file(&mut self, from: &str, name: &str, to: &str) -> Result<()> {
        let src = self.file(from, name)?;
        let dst = self.file(to, name)?;
        let exists = |p: &Path| p.try_exists().map_err(|e| self.unavailable(e));
        if !exists(&self.root)? {
            return Err(self.unavailable(io::Error::new(
                io::ErrorKind::NotFound,
                "the folder does not exist",
            )));
        }
        match (exists(&src)?, exists(&dst)?) {
            (false, true) => return Ok(()),
            (false, false) => {
                return Err(Error::UnknownRestorePoint(
                    point_id_of(name).unwrap_or(name).to_string(),
                ));
            }
            // One file under two spellings (a case-insensitive disk, whose
            // inode numbers may not tell): never delete it.
            (true, true) if same_file(&src, &dst) || from.eq_ignore_ascii_case(to) => {
                return Ok(());
            }
            // The same restore point twice: the moved copy goes only when
            // it is byte for byte the one kept.
            (true, true) => {
                let hashes = |p: &Path| Self::hash_of(p).map_err(|e| self.unavailable(e));
                if hashes(&src)? == hashes(&dst)? {
                    return self.delete(from, name);
                }
                return Ok(());
            }
            (true, false) => {}
        }
        let dir = dst.parent().expect("has a parent");
        create_private_dir(dir)?;
        fs::rename(&src, &dst).map_err(|e| self.unavailable(e))?;
        crate::fsutil::sync_parent(&dst)?;
        crate::fsutil::sync_parent(&src)
    }

    fn delete(&mut self, folder: &str, name: &str) -> Result<()> {
        let path = self.file(folder, name)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.unavailable(e)),
        }
    }

    fn put_file(
        &mut self,
        path: &str,
        local: &Path,
        _journal: &mut dyn UploadJournal,
        progress: &mut dyn FnMut(u64),
    ) -> Result<RemoteFile> {
        let target = self.tree(path)?;
        self.check_root()?;
        let (quickxor, size) = self.store(&target, local, progress, false)?;
        Ok(RemoteFile {
            name: path.to_string(),
            size,
            quickxor: Some(quickxor),
        })
    }

    fn put_small_files(
        &mut self,
        files: &[(String, PathBuf)],
        progress: &mut dyn FnMut(u64),
    ) -> Vec<Result<RemoteFile>> {
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicUsize, Ordering};
        // Paths checked, folders made and trees recorded first (each
        // once); then a few writers: creating a file costs a round trip to
        // the disk's journal that several can wait for at once.
        let mut targets = Vec::with_capacity(files.len());
        let mut results: Vec<Mutex<Option<Result<RemoteFile>>>> = Vec::with_capacity(files.len());
        let mut made = std::collections::HashSet::new();
        for (path, _) in files {
            let target = self
                .check_root()
                .and_then(|()| self.tree(path))
                .and_then(|t| {
                    let dir = t.parent().expect("has a parent").to_path_buf();
                    if !made.contains(&dir) {
                        create_private_dir(&dir)?;
                        made.insert(dir);
                    }
                    self.record_tree_of(&t);
                    Ok(t)
                });
            match target {
                Ok(t) => {
                    targets.push(Some(t));
                    results.push(Mutex::new(None));
                }
                Err(e) => {
                    targets.push(None);
                    results.push(Mutex::new(Some(Err(e))));
                }
            }
        }
        let next = AtomicUsize::new(0);
        let (done, stored) = std::sync::mpsc::channel::<u64>();
        std::thread::scope(|scope| {
            for _ in 0..SMALL_FILE_WRITERS.min(files.len()) {
                let (done, next, targets, results) = (done.clone(), &next, &targets, &results);
                scope.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((path, local)) = files.get(i) else {
                            return;
                        };
                        let Some(t) = &targets[i] else {
                            continue;
                        };
                        let r = write_unsynced(t, local, &mut |_| {}).map(|(quickxor, size)| {
                            RemoteFile {
                                name: path.clone(),
                                size,
                                quickxor: Some(quickxor),
                            }
                        });
                        if let Ok(f) = &r {
                            let _ = done.send(f.size);
                        }
                        *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    }
                });
            }
            // Progress from here (the callback stays on this thread); the
            // channel closes when the last writer is done.
            drop(done);
            let mut sent = 0;
            for size in stored {
                sent += size;
                progress(sent);
            }
        });
        results
            .into_iter()
            .map(|r| {
                r.into_inner()
                    .expect("not poisoned")
                    .expect("every file was written")
            })
            .collect()
    }

    fn file_info(&mut self, path: &str) -> Result<Option<RemoteFile>> {
        let target = self.tree(path)?;
        self.check_root()?;
        match fs::symlink_metadata(&target) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
            Err(e) => return Err(self.unavailable(e)),
        }
        let (quickxor, size) = Self::hash_of(&target).map_err(|e| self.unavailable(e))?;
        Ok(Some(RemoteFile {
            name: path.to_string(),
            size,
            quickxor: Some(quickxor),
        }))
    }

    fn get_file(&mut self, path: &str, out: &mut dyn Write) -> Result<u64> {
        let target = self.tree(path)?;
        let f = open_regular(&target).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::Destination {
                code: ErrorCode::NotFound,
                message: format!("{path} is not at {}", self.describe()),
            },
            _ => self.unavailable(e),
        })?;
        io::copy(&mut BufReader::with_capacity(1 << 20, f), out)
            .map_err(|e| Error::io("copy", &target, e))
    }

    fn move_path(&mut self, from: &str, to: &str) -> Result<()> {
        let (src, dst) = (self.tree(from)?, self.tree(to)?);
        self.check_root()?;
        if fs::symlink_metadata(&dst).is_ok() {
            return Err(self.unavailable(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{to} already exists"),
            )));
        }
        create_private_dir(dst.parent().expect("has a parent"))?;
        fs::rename(&src, &dst).map_err(|e| self.unavailable(e))?;
        crate::fsutil::sync_parent(&dst)?;
        crate::fsutil::sync_parent(&src)
    }

    fn flush_files(&mut self) -> Result<()> {
        // One sync for every file put since the last: as durable as a
        // sync per file, without waiting for the disk thousands of times.
        crate::fsutil::sync_filesystem(&self.root).map_err(|e| match e {
            Error::Io { cause, .. } => self.unavailable(cause),
            other => other,
        })
    }

    fn delete_path(&mut self, path: &str) -> Result<()> {
        let target = self.tree(path)?;
        match fs::symlink_metadata(&target) {
            Ok(m) if m.is_dir() => Err(Error::Invalid(format!("{path} is a folder"))),
            Ok(_) => fs::remove_file(&target).map_err(|e| self.unavailable(e)),
            Err(_) => Ok(()),
        }
    }

    fn list_path(&mut self, dir: &str) -> Result<Vec<RemoteFile>> {
        let at = self.tree(dir)?;
        self.check_root()?;
        let entries = match fs::read_dir(&at) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.unavailable(e)),
        };
        let mut files = Vec::new();
        for e in entries {
            let e = e.map_err(|e| self.unavailable(e))?;
            if !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let size = e.metadata().map_err(|err| self.unavailable(err))?.len();
            files.push(RemoteFile {
                name: e.file_name().to_string_lossy().into_owned(),
                size,
                quickxor: None,
            });
            if files.len() > nuage_graph::client::MAX_CHILDREN {
                return Err(self.unavailable(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} holds more than {} files",
                        at.display(),
                        nuage_graph::client::MAX_CHILDREN
                    ),
                )));
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }
}
