//! A folder source's restore point: the manifest (spec:
//! `docs/backup-format.md`, "Folder sources"). A backup document whose
//! body says exactly what the folder held at one instant — every file's
//! path, size, modification time, mode, BLAKE3 and QuickXorHash (the
//! destination's hash), and the name it has at the destination — while
//! the files themselves are kept as themselves, beside it.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufReader, Read, Write};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::document::guard::TokenGuard;
use crate::document::{
    Document, FORMAT_NAME, FORMAT_VERSION, HeadError, HeadReader, Key, SourceInfo,
};
use crate::error::{Error, InvalidBackup, Result};

/// At most this many files in one folder source (the manifest is held in
/// memory, about 300 bytes a file).
pub const MAX_FILES: usize = 100_000;
/// A manifest's body is at most this many bytes of JSON.
pub const MAX_MANIFEST: u64 = 48 << 20;

/// One file, as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative path, '/'-separated.
    pub path: String,
    /// Its path at the destination, below the source's folder.
    pub remote: String,
    pub size: u64,
    /// Modification time, nanoseconds since 1970 (UTC).
    pub mtime_ns: i64,
    /// Permission bits (`0o644` as 420).
    pub mode: u32,
    /// BLAKE3 of the contents, hex.
    pub blake3: String,
    /// QuickXorHash of the contents, base64: the hash OneDrive reports.
    pub quickxor: String,
    /// Change detection hints of the machine that made it (inode and
    /// status-change time): equal hints let the next run reuse the hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<(u64, i64)>,
}

/// One folder (kept so empty ones and their modes come back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirEntry {
    pub path: String,
    pub mode: u32,
    pub mtime_ns: i64,
}

/// A symbolic link, recorded, never followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkEntry {
    pub path: String,
    pub target: String,
}

/// What was not backed up, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// The body of a folder manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Folder {
    pub files: Vec<FileEntry>,
    pub dirs: Vec<DirEntry>,
    pub links: Vec<LinkEntry>,
    pub skipped: Vec<Skipped>,
    /// Files still being written when the point was made: each is as it
    /// was last complete (from the previous point), or absent when it
    /// never was.
    pub unsettled: Vec<String>,
    pub exclude: Vec<String>,
    pub include: Vec<String>,
}

impl Folder {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Files by path.
    pub fn by_path(&self) -> HashMap<&str, &FileEntry> {
        self.files.iter().map(|f| (f.path.as_str(), f)).collect()
    }
}

/// A manifest as read back.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub created_at: String,
    pub source: SourceInfo,
    pub folder: Folder,
}

/// Writes a manifest document.
pub fn write(
    out: &mut dyn Write,
    created_at: &str,
    source: &SourceInfo,
    folder: &Folder,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct Doc<'a> {
        format: &'a str,
        version: u64,
        created_at: &'a str,
        generator: String,
        source: &'a SourceInfo,
        folder: &'a Folder,
    }
    serde_json::to_writer(
        &mut *out,
        &Doc {
            format: FORMAT_NAME,
            version: FORMAT_VERSION,
            created_at,
            generator: format!("nuage {}", env!("CARGO_PKG_VERSION")),
            source,
            folder,
        },
    )?;
    out.write_all(b"\n")
}

/// Reads a manifest (untrusted): the common head, then the body within
/// [`MAX_MANIFEST`] bytes and [`MAX_FILES`] files, then
/// [`validate`]d.
pub fn read(input: Document, label: &str) -> Result<Manifest> {
    struct Body<'h> {
        head: &'h mut HeadReader,
        folder: Option<Folder>,
        failure: Option<Error>,
    }
    impl<'de> Visitor<'de> for &mut Body<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a Nuage backup document")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            while let Some(k) = map.next_key::<String>()? {
                match self.head.key(&mut map, &k) {
                    Ok(Key::Head) => {}
                    Ok(Key::Body(_)) => self.folder = Some(map.next_value()?),
                    Err(HeadError::Json(e)) => return Err(e),
                    Err(HeadError::Refused(e)) => {
                        let msg = e.to_string();
                        self.failure = Some(e);
                        return Err(de::Error::custom(msg));
                    }
                }
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for &mut Body<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }
    let mut head = HeadReader::new(label, "folder", &["folder"]);
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let limited = Counted(input.take(MAX_MANIFEST + 1), read.clone());
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(
        64 << 10,
        TokenGuard::new(limited),
    ));
    let mut body = Body {
        head: &mut head,
        folder: None,
        failure: None,
    };
    let parsed = (&mut body).deserialize(&mut de).and_then(|()| de.end());
    let (folder, failure) = (body.folder, body.failure);
    if let Some(e) = failure {
        return Err(e);
    }
    let too_large = || {
        Error::InvalidBackup(InvalidBackup::TooLarge(
            label.to_string(),
            format!("its manifest takes more than {} MiB", MAX_MANIFEST >> 20),
        ))
    };
    if read.get() > MAX_MANIFEST {
        return Err(too_large());
    }
    if let Err(e) = parsed {
        return Err(head.classify(e));
    }
    let corrupt = |d: String| Error::InvalidBackup(InvalidBackup::Corrupt(label.to_string(), d));
    let (Some(created_at), Some(source), Some(folder)) =
        (head.created_at.clone(), head.source.clone(), folder)
    else {
        return Err(corrupt("it has no \"folder\" body".into()));
    };
    validate(&folder, label)?;
    Ok(Manifest {
        created_at,
        source,
        folder,
    })
}

/// Counts the bytes read, so a body that reached the bound is told
/// apart from a damaged one.
struct Counted<R>(R, std::rc::Rc<std::cell::Cell<u64>>);

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.set(self.1.get() + n as u64);
        Ok(n)
    }
}

/// Whether `path` is a relative path a restore may write: '/'-separated,
/// no empty, `.` or `..` segment, no NUL, not absolute.
pub fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 4096
        && !path.starts_with('/')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Checks what a hostile manifest could use to escape or mislead a
/// restore: every path relative and inside, no path twice, remote paths
/// that a destination would accept, hashes of the right shape, at most
/// [`MAX_FILES`] files. Refused as a corrupt backup, `label` naming it.
pub fn validate(f: &Folder, label: &str) -> Result<()> {
    let corrupt =
        |detail: String| Error::InvalidBackup(InvalidBackup::Corrupt(label.to_string(), detail));
    if f.files.len() > MAX_FILES {
        return Err(corrupt(format!("it lists more than {MAX_FILES} files")));
    }
    let mut seen = std::collections::HashSet::new();
    for e in &f.files {
        if !safe_relative(&e.path) {
            return Err(corrupt(format!(
                "the path '{}' leaves its folder",
                crate::document::shown(&e.path)
            )));
        }
        if !seen.insert(e.path.as_str()) {
            return Err(corrupt(format!(
                "'{}' is listed twice",
                crate::document::shown(&e.path)
            )));
        }
        if !safe_relative(&e.remote)
            || crate::destination::tree_path(&format!("x/{}", e.remote)).is_err()
        {
            return Err(corrupt(format!(
                "the destination name '{}' is not one Nuage writes",
                crate::document::shown(&e.remote)
            )));
        }
        if !is_hex(&e.blake3, 64) {
            return Err(corrupt(format!(
                "'{}' has no valid BLAKE3",
                crate::document::shown(&e.path)
            )));
        }
        if e.quickxor.len() != 28 {
            return Err(corrupt(format!(
                "'{}' has no valid QuickXorHash",
                crate::document::shown(&e.path)
            )));
        }
        if e.mode > 0o7777 {
            return Err(corrupt(format!(
                "'{}' has an impossible mode",
                crate::document::shown(&e.path)
            )));
        }
    }
    for d in &f.dirs {
        if !safe_relative(&d.path) || d.mode > 0o7777 {
            return Err(corrupt(format!(
                "the folder '{}' leaves its folder",
                crate::document::shown(&d.path)
            )));
        }
        if !seen.insert(d.path.as_str()) {
            return Err(corrupt(format!(
                "'{}' is listed twice",
                crate::document::shown(&d.path)
            )));
        }
    }
    for l in &f.links {
        if !safe_relative(&l.path) || !seen.insert(l.path.as_str()) {
            return Err(corrupt(format!(
                "the link '{}' is not a safe path",
                crate::document::shown(&l.path)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            remote: path.into(),
            size: 1,
            mtime_ns: 0,
            mode: 0o644,
            blake3: "a".repeat(64),
            quickxor: "A".repeat(28),
            local: None,
        }
    }

    fn doc(folder: &Folder) -> Vec<u8> {
        let mut out = Vec::new();
        let source = SourceInfo {
            name: "docs".into(),
            kind: "folder".into(),
            path: "/data/docs".into(),
        };
        write(&mut out, "2026-12-06T00:00:00.000Z", &source, folder).unwrap();
        out
    }

    fn read_bytes(bytes: Vec<u8>) -> Result<Manifest> {
        let n = bytes.len() as u64;
        read(
            Document::new(Box::new(io::Cursor::new(bytes)), n, Duration::from_secs(60)),
            "the manifest",
        )
    }

    use std::time::Duration;

    #[test]
    fn a_manifest_reads_back_as_written() {
        let f = Folder {
            files: vec![entry("a/b.json")],
            ..Folder::default()
        };
        assert_eq!(read_bytes(doc(&f)).unwrap().folder, f);
    }

    #[test]
    fn hostile_manifests_are_refused_naming_why() {
        let with = |files: Vec<FileEntry>| Folder {
            files,
            ..Folder::default()
        };
        let mut bad_remote = entry("x");
        bad_remote.remote = "a/con.txt".into();
        let mut bad_hash = entry("y");
        bad_hash.blake3 = "zz".into();
        let mut setuid = entry("z");
        setuid.mode = 0o104755 + 0o100000;
        for (f, why) in [
            (with(vec![entry("../etc/passwd")]), "leaves its folder"),
            (with(vec![entry("/etc/passwd")]), "leaves its folder"),
            (with(vec![entry("a/./b")]), "leaves its folder"),
            (with(vec![entry("a"), entry("a")]), "listed twice"),
            (with(vec![bad_remote]), "not one Nuage writes"),
            (with(vec![bad_hash]), "no valid BLAKE3"),
            (with(vec![setuid]), "impossible mode"),
        ] {
            let e = read_bytes(doc(&f)).unwrap_err();
            assert_eq!(e.code().as_str(), "invalid_backup", "{e}");
            assert!(e.to_string().contains(why), "{e}");
        }
        // Too many files, and more JSON than a manifest may hold.
        let many = with((0..=MAX_FILES).map(|i| entry(&format!("f{i}"))).collect());
        let e = read_bytes(doc(&many)).unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");
        // More JSON than a manifest may hold: refused at the bound, not
        // read through.
        let huge = Folder {
            skipped: (0..(MAX_MANIFEST >> 20) + 2)
                .map(|i| Skipped {
                    path: format!("s{i}"),
                    reason: "y".repeat(1 << 20),
                })
                .collect(),
            ..Folder::default()
        };
        let e = read_bytes(doc(&huge)).unwrap_err();
        assert_eq!(e.code().as_str(), "invalid_backup", "{e}");
        assert!(e.to_string().contains("48 MiB"), "{e}");
        // A document of another kind.
        let other = String::from_utf8(doc(&Folder::default()))
            .unwrap()
            .replace("\"kind\":\"folder\"", "\"kind\":\"sqlite\"");
        let e = read_bytes(other.into_bytes()).unwrap_err();
        assert!(e.to_string().contains("not folder"), "{e}");
    }
}
