//! Atomic, private file writes: temp file in the target's folder, fsync,
//! rename, fsync of the folder. A crash at any moment leaves either the old
//! file or the new one, never a half-written file under the final name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::temporaries;

/// Files Nuage writes are readable by the user alone.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates `dir` (and parents) with user-only permissions.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
        .map_err(|e| Error::io("create the folder", dir, e))
}

/// A file being written under a temporary name next to its final path.
/// Dropped without [`AtomicFile::commit`], the temporary file is removed.
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    target: PathBuf,
    _recorded: temporaries::Recorded,
}

impl AtomicFile {
    pub fn create(target: &Path) -> Result<AtomicFile> {
        ensure_parent(target)?;
        let tmp = temp_sibling(target, "tmp");
        let recorded = temporaries::record(&tmp);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_FILE_MODE)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        Ok(AtomicFile {
            file: Some(file),
            tmp,
            target: target.to_path_buf(),
            _recorded: recorded,
        })
    }

    /// Flushes to disk and renames into place. With `overwrite == false`, an
    /// existing target is never replaced (checked atomically with a hard link).
    pub fn commit(mut self, overwrite: bool) -> Result<()> {
        let file = self.file.take().expect("file present until commit");
        file.sync_all()
            .map_err(|e| Error::io("write", &self.target, e))?;
        drop(file);
        if overwrite {
            fs::rename(&self.tmp, &self.target)
                .map_err(|e| Error::io("move into place", &self.target, e))?;
        } else {
            match fs::hard_link(&self.tmp, &self.target) {
                Ok(()) => {
                    let _ = fs::remove_file(&self.tmp);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(Error::TargetExists(self.target.clone()));
                }
                Err(e) => return Err(Error::io("move into place", &self.target, e)),
            }
        }
        sync_parent(&self.target)
    }
}

/// Makes everything written to the file system holding `path` durable
/// (Linux's `syncfs`; elsewhere `sync`).
pub fn sync_filesystem(path: &Path) -> Result<()> {
    let dir = File::open(path).map_err(|e| Error::io("sync", path, e))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor for the call's duration.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(Error::io("sync", path, io::Error::last_os_error()));
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        drop(dir);
        // SAFETY: sync takes no arguments and cannot fail.
        unsafe { libc::sync() };
    }
    Ok(())
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("open").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("open").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() || self.tmp.exists() {
            self.file = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A writer that refuses more than a set number of bytes: a destination
/// that sends more than the copy it lists is stopped before it fills the
/// disk.
pub struct Limited<W> {
    inner: W,
    left: u64,
}

impl<W> Limited<W> {
    pub fn new(inner: W, max: u64) -> Self {
        Limited { inner, left: max }
    }
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for Limited<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "it is larger than the copy Nuage made",
            ));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Fails clearly when the folder a file should go into does not exist.
pub fn ensure_parent(target: &Path) -> Result<()> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "the folder {} does not exist. Create it or choose another path.",
            dir.display()
        )))
    }
}

/// A unique hidden name in the same folder as `target`, so a rename is
/// atomic. Every temporary Nuage makes has such a name (see
/// [`crate::temporaries`]); a work file is named after a made-up target in
/// the work folder.
pub fn temp_sibling(target: &Path, tag: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!(".{name}.nuage-{tag}-{:08x}", fastrand::u32(..)))
}

/// Creates an empty file readable only by this user, failing if anything
/// (a file, a planted symbolic link) is already there: a database being
/// built holds plaintext rows from its first byte.
pub fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)
        .map(drop)
        .map_err(|e| Error::io("create", path, e))
}

/// Makes a rename durable.
pub fn sync_parent(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync the folder", dir, e))
}

/// What [`HashingWriter`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashes {
    /// BLAKE3, hex: Nuage's own check of its local copies (GB/s).
    pub blake3: String,
    /// QuickXorHash, base64: what OneDrive and SharePoint report for the
    /// uploaded file, computed in the same pass so the upload can be verified.
    pub quickxor: String,
    pub bytes: u64,
}

/// A writer that hashes (BLAKE3 and QuickXorHash) and counts the bytes
/// passing through it.
pub struct HashingWriter<W> {
    inner: W,
    blake3: blake3::Hasher,
    quickxor: nuage_graph::QuickXorHash,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            blake3: blake3::Hasher::new(),
            quickxor: Default::default(),
            bytes: 0,
        }
    }
    pub fn finish(self) -> (W, Hashes) {
        let hashes = Hashes {
            blake3: self.blake3.finalize().to_hex().to_string(),
            quickxor: self.quickxor.to_base64(),
            bytes: self.bytes,
        };
        (self.inner, hashes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.blake3.update(&buf[..n]);
        self.quickxor.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// BLAKE3 of a whole file, streamed.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut hasher = blake3::Hasher::new();
    let file = File::open(path)?;
    let n = io::copy(
        &mut io::BufReader::with_capacity(1 << 20, file),
        &mut hasher,
    )?;
    Ok((hasher.finalize().to_hex().to_string(), n))
}
