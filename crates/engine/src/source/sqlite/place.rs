//! Putting a rebuilt database in place of a live one.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use crate::error::{Error, Result};

/// Copies the database at `built` over `target` with SQLite's online backup
/// API. The destination is written in one transaction under SQLite's own
/// locking and journal: an application holding `target` open sees the new
/// contents at its next transaction, and a failure leaves `target` as it was.
pub fn copy_into(built: &Path, target: &Path, busy: Duration) -> Result<()> {
    let fail = |detail: String| Error::RestoreFailed {
        path: target.to_path_buf(),
        detail,
    };
    let src = Connection::open_with_flags(built, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| fail(e.to_string()))?;
    let mut dst = Connection::open(target).map_err(|e| fail(e.to_string()))?;
    let timeout = busy;
    dst.busy_timeout(timeout).map_err(|e| fail(e.to_string()))?;
    let backup = Backup::new(&src, &mut dst).map_err(|e| fail(e.to_string()))?;
    let started = Instant::now();
    loop {
        match backup.step(-1) {
            Ok(StepResult::Done) => return Ok(()),
            Ok(StepResult::More) => {}
            Ok(StepResult::Busy | StepResult::Locked) | Err(_) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(_) => {
                return Err(fail(format!(
                    "the database stayed locked by another program for {} ms; nothing was changed. Close the application using it and try again.",
                    timeout.as_millis()
                )));
            }
            Err(e) => return Err(fail(format!("{e}; nothing was changed"))),
        }
    }
}

/// A byte copy of a database file (and its WAL) that could not be read as a
/// database, kept before it is replaced.
pub fn raw_copy(db: &Path, dest: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal"] {
        let from = format!("{}{suffix}", db.display());
        if suffix.is_empty() || Path::new(&from).exists() {
            let to = format!("{}{suffix}", dest.display());
            std::fs::copy(&from, &to).map_err(|e| Error::io("copy", &from, e))?;
            let _ = std::fs::set_permissions(
                &to,
                std::fs::Permissions::from_mode(crate::fsutil::PRIVATE_FILE_MODE),
            );
        }
    }
    Ok(())
}

/// Refuses to replace `target` while another program has it open: that
/// program would go on writing to a deleted file.
pub fn refuse_if_open(target: &Path) -> Result<()> {
    if !target.exists() {
        return Ok(());
    }
    match opened_by_another_process(target) {
        None => Ok(()),
        Some(pid) => Err(Error::RestoreFailed {
            path: target.to_path_buf(),
            detail: format!(
                "a program (process {pid}) has this database open. Close it, or register the file as a source and restore it in place (which keeps that program working)."
            ),
        }),
    }
}

/// A process other than this one holding `path` open, where the platform
/// can tell (Linux: `/proc/*/fd`; processes of other users are not
/// visible and count as none). An idle connection holds no lock, so a lock
/// probe alone would not see it.
fn opened_by_another_process(path: &Path) -> Option<u32> {
    let target = std::fs::canonicalize(path).ok()?;
    let me = std::process::id();
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = proc_entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == target))
        {
            return Some(pid);
        }
    }
    None
}
