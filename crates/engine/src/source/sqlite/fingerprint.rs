//! Cheap, correct change detection for a SQLite source.
//!
//! Every committed change to a SQLite database alters at least one of:
//! * in rollback-journal mode, the file change counter in the 100-byte
//!   header (incremented by every writing transaction);
//! * in WAL mode, the `-wal` file: commits append frames, and a WAL that
//!   restarts gets new salts, so its bytes never repeat;
//! * after a checkpoint removed the WAL, the main file (size, mtime, and the
//!   WAL's disappearance itself).
//!
//! The fingerprint hashes the header, the main file's identity (device,
//! inode, size, mtime) and the whole `-wal` file (usually a few MiB, hashed
//! with BLAKE3 at GB/s). It never reads the database pages, so it costs
//! about the same for 1 MB and 1 GB. It is taken *before* the snapshot
//! starts: a commit racing the snapshot makes the next run back up again
//! rather than be missed.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub fn fingerprint(db: &Path) -> io::Result<String> {
    let mut h = blake3::Hasher::new();
    let mut f = File::open(db)?;
    let m = f.metadata()?;
    for v in [
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime() as u64,
        m.mtime_nsec() as u64,
        m.ctime() as u64,
        m.ctime_nsec() as u64,
    ] {
        h.update(&v.to_le_bytes());
    }
    let mut header = [0u8; 100];
    let n = f.read(&mut header)?;
    h.update(&header[..n]);
    let wal = format!("{}-wal", db.display());
    match File::open(&wal) {
        // An empty WAL holds no frames: the same database as no WAL at all.
        // (A read-only reader such as Nuage itself may leave one behind.)
        Ok(w) if w.metadata()?.len() == 0 => {
            h.update(b"no-wal");
        }
        Ok(w) => {
            let wm = w.metadata()?;
            h.update(b"wal");
            h.update(&wm.size().to_le_bytes());
            io::copy(&mut io::BufReader::with_capacity(1 << 20, w), &mut h)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            h.update(b"no-wal");
        }
        Err(e) => return Err(e),
    }
    Ok(h.finalize().to_hex().to_string())
}
