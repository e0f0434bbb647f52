//! Every temporary file Nuage creates, wherever it is, is recorded: in this
//! process (so a SIGTERM or SIGINT removes them before exiting, see
//! [`remove_own`]) and on disk in the home's `temporaries/` folder (so that
//! after a kill -9 or a power cut the next start removes them, see
//! [`sweep`]). A temporary beside a restore target holds plaintext rows; it
//! must never outlive the run that made it.
//!
//! A record is a file named `<pid>.<process start time>.<random>` holding
//! the temporary's path. Its process is alive when `/proc/<pid>/stat`
//! shows the same start time; only the temporaries of processes that are
//! gone are swept, so concurrent Nuage processes never remove each other's.
//! Only names Nuage gives temporaries ([`is_temporary_name`]) are ever
//! removed, whatever a record says.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::fsutil::{PRIVATE_FILE_MODE, create_private_dir};

/// Temporaries of this process: (temporary, its record on disk).
static OWN: Mutex<Vec<(PathBuf, Option<PathBuf>)>> = Mutex::new(Vec::new());
/// Where this process records its temporaries (the home's `temporaries/`).
static RECORD_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The folder of records in a home.
pub fn record_dir(home: &Path) -> PathBuf {
    home.join("temporaries")
}

/// The homes this process has already adopted.
static ADOPTED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// At the first open of `home` in this process: sweeps what killed runs
/// left there, and records this process's temporaries in it from then on.
/// Later opens (the desktop app opens the engine for every command) do
/// nothing.
pub fn adopt(home: &Path) {
    let dir = record_dir(home);
    let mut adopted = ADOPTED.lock().unwrap_or_else(|p| p.into_inner());
    if adopted.contains(&dir) {
        return;
    }
    sweep(&dir);
    record_in(&dir);
    adopted.push(dir);
}

/// Records this process's temporaries in `dir` from now on.
pub fn record_in(dir: &Path) {
    if create_private_dir(dir).is_ok() {
        *RECORD_DIR.lock().unwrap_or_else(|p| p.into_inner()) = Some(dir.to_path_buf());
    }
}

/// Whether `name` is one Nuage gives its temporaries
/// ([`crate::fsutil::temp_sibling`]: `.<name>.nuage-<tag>-<hex>`).
pub fn is_temporary_name(name: &std::ffi::OsStr) -> bool {
    let n = name.to_string_lossy();
    n.starts_with('.') && n.contains(".nuage-")
}

/// A recorded temporary: dropping it forgets the record (the owner removes
/// or renames the file itself).
#[derive(Debug)]
pub struct Recorded {
    path: PathBuf,
}

/// Records `path` before it is created.
pub fn record(path: &Path) -> Recorded {
    let dir = RECORD_DIR.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let on_disk = dir.and_then(|d| write_record(&d, path));
    OWN.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((path.to_path_buf(), on_disk));
    Recorded {
        path: path.to_path_buf(),
    }
}

impl Drop for Recorded {
    fn drop(&mut self) {
        let mut own = OWN.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = own.iter().position(|(p, _)| *p == self.path) {
            let (_, rec) = own.swap_remove(i);
            if let Some(r) = rec {
                let _ = fs::remove_file(r);
            }
        }
    }
}

fn write_record(dir: &Path, path: &Path) -> Option<PathBuf> {
    let me = std::process::id();
    let rec = dir.join(format!(
        "{me}.{}.{:016x}",
        start_time(me)?,
        fastrand::u64(..)
    ));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .open(&rec)
        .ok()?;
    f.write_all(path.as_os_str().as_bytes()).ok()?;
    // The record must be on disk before the temporary can be.
    f.sync_all().ok()?;
    Some(rec)
}

/// The start time of process `pid` (field 22 of `/proc/<pid>/stat`), which
/// tells a live process from a later one that reused its number.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(19)?.parse().ok()
}

/// The name of a record that stands for every temporary Nuage leaves in
/// a folder tree (the files of a folder source being mirrored: one record
/// a run, not one per file).
pub const TREE: &str = ".temporaries.nuage-tree";

/// Records that temporaries may be left anywhere below `dir` (named as
/// [`is_temporary_name`] says) until the guard drops.
pub fn record_tree(dir: &Path) -> Recorded {
    record(&dir.join(TREE))
}

/// Removes the files named like temporaries below `dir` (links are not
/// followed).
fn sweep_tree(dir: &Path) {
    for e in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        if e.file_type().is_file() && is_temporary_name(e.file_name()) {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn remove_with_side_files(path: &Path) {
    if path.file_name().is_some_and(|n| n == TREE) {
        if let Some(dir) = path.parent() {
            sweep_tree(dir);
        }
        return;
    }
    // A staging folder (a folder being restored) goes whole; a link named
    // like one is only unlinked.
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        let _ = fs::remove_dir_all(path);
        return;
    }
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_os_string();
        p.push(suffix);
        let _ = fs::remove_file(PathBuf::from(p));
    }
}

/// Removes every temporary of this process, for a signal handler that
/// exits right after. Returns how many there were.
pub fn remove_own() -> usize {
    let own = std::mem::take(&mut *OWN.lock().unwrap_or_else(|p| p.into_inner()));
    for (path, rec) in &own {
        if path.file_name().is_some_and(is_temporary_name) {
            remove_with_side_files(path);
        }
        if let Some(r) = rec {
            let _ = fs::remove_file(r);
        }
    }
    own.len()
}

/// Removes the temporaries that processes which are gone left behind, and
/// their records. Returns the temporaries of live processes, which must be
/// left alone.
pub fn sweep(dir: &Path) -> HashSet<PathBuf> {
    let mut live = HashSet::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return live;
    };
    for e in entries.flatten() {
        let rec = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let mut parts = name.splitn(3, '.');
        let (pid, start) = (
            parts.next().and_then(|p| p.parse::<u32>().ok()),
            parts.next().and_then(|s| s.parse::<u64>().ok()),
        );
        // Records are a few hundred bytes: anything bigger is not one.
        let target = match fs::metadata(&rec) {
            Ok(m) if m.is_file() && m.len() <= 8192 => fs::read(&rec).ok(),
            _ => None,
        }
        .map(|b| PathBuf::from(OsString::from_vec(b)));
        let alive = match (pid, start) {
            (Some(p), Some(s)) => start_time(p) == Some(s),
            _ => false,
        };
        match target {
            Some(t) if alive => {
                live.insert(t);
            }
            Some(t) => {
                if t.file_name().is_some_and(is_temporary_name) {
                    tracing::info!(file = %t.display(), "removing a temporary file left by an interrupted run");
                    remove_with_side_files(&t);
                }
                let _ = fs::remove_file(&rec);
            }
            None if !alive => {
                let _ = fs::remove_file(&rec);
            }
            None => {}
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_record_sweeps_the_temporaries_a_dead_process_left_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let recs = dir.path().join("temporaries");
        fs::create_dir(&recs).unwrap();
        let mirror = dir.path().join("nas/clips");
        fs::create_dir_all(mirror.join("jobs")).unwrap();
        let half = mirror.join("jobs/.job-1.json.nuage-tmp-0badf00d");
        let kept = mirror.join("jobs/job-2.json");
        for f in [&half, &kept] {
            fs::write(f, b"x").unwrap();
        }
        // A record of a process that is gone (no such pid).
        fs::write(
            recs.join("4000000000.1.00"),
            mirror.join(TREE).as_os_str().as_bytes(),
        )
        .unwrap();
        sweep(&recs);
        assert!(!half.exists(), "a half-written file was left");
        assert!(kept.exists(), "a file that is not a temporary was removed");
        assert_eq!(fs::read_dir(&recs).unwrap().count(), 0);
    }

    #[test]
    fn a_dead_process_s_temporaries_are_swept_and_a_live_one_s_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let recs = dir.path().join("temporaries");
        fs::create_dir(&recs).unwrap();
        let dead_tmp = dir.path().join(".shop.db.nuage-restore-0badf00d");
        let live_tmp = dir.path().join(".shop.db.nuage-restore-00c0ffee");
        let not_ours = dir.path().join("customers.db");
        for f in [&dead_tmp, &live_tmp, &not_ours] {
            fs::write(f, b"rows").unwrap();
        }
        fs::write(format!("{}-journal", dead_tmp.display()), b"j").unwrap();
        // A process that is gone: pid 1 with a start time it never had.
        fs::write(recs.join("1.999999999.aa"), dead_tmp.as_os_str().as_bytes()).unwrap();
        fs::write(recs.join("1.999999999.bb"), not_ours.as_os_str().as_bytes()).unwrap();
        let me = std::process::id();
        let rec = recs.join(format!("{me}.{}.cc", start_time(me).unwrap()));
        fs::write(&rec, live_tmp.as_os_str().as_bytes()).unwrap();

        let live = sweep(&recs);
        assert!(!dead_tmp.exists());
        assert!(!Path::new(&format!("{}-journal", dead_tmp.display())).exists());
        assert!(
            not_ours.exists(),
            "a name Nuage does not give is never removed"
        );
        assert!(live_tmp.exists() && rec.exists());
        assert_eq!(live, HashSet::from([live_tmp]));
        assert_eq!(fs::read_dir(&recs).unwrap().count(), 1);
    }

    #[test]
    fn recorded_temporaries_are_removed_by_remove_own() {
        let dir = tempfile::tempdir().unwrap();
        record_in(&record_dir(dir.path()));
        let tmp = dir.path().join(".a.db.nuage-restore-12345678");
        let r = record(&tmp);
        fs::write(&tmp, b"x").unwrap();
        assert_eq!(fs::read_dir(record_dir(dir.path())).unwrap().count(), 1);
        assert!(remove_own() >= 1);
        assert!(!tmp.exists());
        assert_eq!(fs::read_dir(record_dir(dir.path())).unwrap().count(), 0);
        drop(r);
    }
}
