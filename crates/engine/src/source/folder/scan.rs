//! Walking a folder source: what is in it, as cheap `lstat`s (no file is
//! opened), with the person's include and exclude patterns applied.
//! Symbolic links are recorded, never followed; FIFOs, sockets and
//! devices are skipped and listed.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::manifest::{LinkEntry, Skipped};
use crate::error::{Error, Result};

/// A regular file found by a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub mode: u32,
    pub dev: u64,
    pub ino: u64,
}

impl Found {
    pub fn of(path: String, m: &std::fs::Metadata) -> Found {
        Found {
            path,
            size: m.len(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
            mode: m.mode() & 0o7777,
            dev: m.dev(),
            ino: m.ino(),
        }
    }

    /// Whether `m` says the file is still the one found.
    pub fn same_as(&self, m: &std::fs::Metadata) -> bool {
        let now = Found::of(String::new(), m);
        (now.size, now.mtime_ns, now.ctime_ns, now.ino)
            == (self.size, self.mtime_ns, self.ctime_ns, self.ino)
    }
}

/// Everything a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<Found>,
    pub dirs: Vec<(String, u32, i64)>,
    pub links: Vec<LinkEntry>,
    pub skipped: Vec<Skipped>,
}

/// The include and exclude patterns of a source. A pattern without '/'
/// matches a name at any depth (`*.tmp`, `cache`); with one, the path from
/// the folder (`clips/raw/**`). An excluded folder is not entered.
pub struct Filter {
    exclude_names: GlobSet,
    exclude_paths: GlobSet,
    include_names: GlobSet,
    include_paths: GlobSet,
    any_include: bool,
}

impl Filter {
    pub fn new(exclude: &[String], include: &[String]) -> Result<Filter> {
        let build = |pats: &[String], with_slash: bool| -> Result<GlobSet> {
            let mut b = GlobSetBuilder::new();
            for p in pats.iter().filter(|p| p.contains('/') == with_slash) {
                let g = Glob::new(p.trim_start_matches('/')).map_err(|e| {
                    Error::Invalid(format!("the pattern '{p}' cannot be used: {e}"))
                })?;
                b.add(g);
            }
            b.build()
                .map_err(|e| Error::Invalid(format!("the patterns cannot be used: {e}")))
        };
        Ok(Filter {
            exclude_names: build(exclude, false)?,
            exclude_paths: build(exclude, true)?,
            include_names: build(include, false)?,
            include_paths: build(include, true)?,
            any_include: !include.is_empty(),
        })
    }

    fn excluded(&self, rel: &str, name: &str) -> bool {
        self.exclude_names.is_match(name) || self.exclude_paths.is_match(rel)
    }

    fn included(&self, rel: &str, name: &str) -> bool {
        !self.any_include || self.include_names.is_match(name) || self.include_paths.is_match(rel)
    }
}

/// Temporary files Nuage itself leaves beside files it writes (a restore
/// in progress), never backed up.
fn ours(name: &str) -> bool {
    name.starts_with('.') && name.contains(".nuage-")
}

/// Walks `root`, sorted by name.
pub fn walk(root: &Path, filter: &Filter, max_files: usize) -> Result<Walk> {
    let meta = std::fs::metadata(root).map_err(|e| Error::io("read the folder", root, e))?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is not a folder",
            root.display()
        )));
    }
    let mut out = Walk::default();
    let mut it = walkdir::WalkDir::new(root)
        .follow_links(false)
        .same_file_system(false)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(entry) = it.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf());
                let rel = relative(root, &path).unwrap_or_default();
                if e.depth() == 0 {
                    return Err(Error::io("read the folder", root, e.into()));
                }
                // Removed since its folder was listed: not there.
                if e.io_error()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
                {
                    continue;
                }
                out.skipped.push(Skipped {
                    path: rel,
                    reason: format!(
                        "could not be read: {}",
                        e.io_error().map(|e| e.to_string()).unwrap_or_default()
                    ),
                });
                continue;
            }
        };
        let Some(rel) = relative(root, entry.path()) else {
            out.skipped.push(Skipped {
                path: entry.path().to_string_lossy().into_owned(),
                reason: "its name is not valid UTF-8".into(),
            });
            if entry.file_type().is_dir() {
                it.skip_current_dir();
            }
            continue;
        };
        let name = entry.file_name().to_str().unwrap_or_default();
        if ours(name) {
            // Nor what is inside (a restore's staging folder).
            if entry.file_type().is_dir() {
                it.skip_current_dir();
            }
            continue;
        }
        let ft = entry.file_type();
        if filter.excluded(&rel, name) {
            if ft.is_dir() {
                it.skip_current_dir();
            }
            continue;
        }
        let m = match entry.metadata() {
            Ok(m) => m,
            Err(e)
                if e.io_error()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
            {
                continue;
            }
            Err(e) => {
                out.skipped.push(Skipped {
                    path: rel,
                    reason: format!("could not be read: {e}"),
                });
                continue;
            }
        };
        if ft.is_dir() {
            out.dirs.push((
                rel,
                m.mode() & 0o7777,
                Found::of(String::new(), &m).mtime_ns,
            ));
        } else if ft.is_symlink() {
            if filter.included(&rel, name) {
                let target = std::fs::read_link(entry.path())
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.links.push(LinkEntry { path: rel, target });
            }
        } else if ft.is_file() {
            if filter.included(&rel, name) {
                out.files.push(Found::of(rel, &m));
                if out.files.len() > max_files {
                    return Err(Error::Invalid(format!(
                        "{} holds more than {max_files} files; Nuage backs up folders of at most that many. Exclude some (for example a cache folder) or add its subfolders as separate sources.",
                        root.display()
                    )));
                }
            }
        } else {
            use std::os::unix::fs::FileTypeExt;
            let what = if ft.is_fifo() {
                "a named pipe"
            } else if ft.is_socket() {
                "a socket"
            } else {
                "a device"
            };
            out.skipped.push(Skipped {
                path: rel,
                reason: format!("{what}, not a file: skipped"),
            });
        }
    }
    Ok(out)
}

/// `path` relative to `root`, '/'-separated, when it is valid UTF-8.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// The files (device, inode) some process holds open for writing, among
/// `candidates`, as far as this platform and this user's rights tell
/// (Linux: `/proc/<pid>/fd` and the flags in `fdinfo`; processes of other
/// users are not visible, and then only the time since the last change
/// says a file is complete). Empty elsewhere.
pub fn open_for_writing(candidates: &HashSet<(u64, u64)>) -> HashSet<(u64, u64)> {
    let mut held = HashSet::new();
    if candidates.is_empty() {
        return held;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return held;
    };
    for p in procs.flatten() {
        let name = p.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let fd_dir: PathBuf = p.path().join("fd");
        let Ok(fds) = std::fs::read_dir(&fd_dir) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(m) = std::fs::metadata(fd.path()) else {
                continue;
            };
            let id = (m.dev(), m.ino());
            if !m.is_file() || !candidates.contains(&id) {
                continue;
            }
            let info = p.path().join("fdinfo").join(fd.file_name());
            let writing = std::fs::read_to_string(info).ok().and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("flags:"))
                    .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            });
            // O_WRONLY or O_RDWR.
            if writing.is_some_and(|f| f & 0o3 != 0) {
                held.insert(id);
            }
        }
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_names_anywhere_and_paths_from_the_root() {
        let f = Filter::new(
            &["*.tmp".into(), "cache".into(), "clips/raw/**".into()],
            &[],
        )
        .unwrap();
        assert!(f.excluded("a/b/x.tmp", "x.tmp"));
        assert!(f.excluded("deep/cache", "cache"));
        assert!(f.excluded("clips/raw/1.mp4", "1.mp4"));
        assert!(!f.excluded("clips/final/1.mp4", "1.mp4"));
        let only = Filter::new(&[], &["*.json".into()]).unwrap();
        assert!(only.included("a/b.json", "b.json"));
        assert!(!only.included("a/b.txt", "b.txt"));
        assert!(Filter::new(&["a[".into()], &[]).is_err());
    }

    #[test]
    fn a_file_open_for_writing_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("growing.mp4");
        let f = std::fs::File::create(&p).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        let id = (m.dev(), m.ino());
        let c: HashSet<_> = [id].into();
        assert!(open_for_writing(&c).contains(&id));
        drop(f);
        let _reader = std::fs::File::open(&p).unwrap();
        assert!(!open_for_writing(&c).contains(&id));
    }
}
