//! Names at the destination for the files of a folder source.
//!
//! A folder on Linux may hold names OneDrive, SharePoint and Windows
//! shares refuse (`a:b`, `what?`, `report.`, `con.txt`, a trailing space)
//! or cannot tell apart (`Notes.txt` and `notes.txt`). Each such name is
//! mapped to one they keep — the forbidden characters to their full-width
//! look-alikes (`：`, `？`, …, as rclone does), so the file still reads
//! the same when browsed — and two names that would meet get a ` (2)`
//! suffix. The mapping is recorded in every manifest (`remote`), so it is
//! reversed exactly, and a path keeps its remote name from one run to the
//! next. Hand-written: the mapping is specific to these rules and to the
//! manifest that records it; no crate does this.
//!
//! OneDrive and SharePoint refuse a path longer than 400 characters in all
//! (`pathIsTooLong`; UTF-16 units, as the service counts), the destination
//! folder and the source's name included. A file whose remote path below
//! its source folder would exceed [`MAX_REMOTE_LEN`] is kept in
//! [`LONG_PATHS_DIR`] instead, under its own name and a tag from its local
//! path, so a deeply nested file is backed up with the rest (and found by
//! its name when browsing) rather than failing the whole push; the manifest
//! brings it back to its place.

use std::collections::{HashMap, HashSet};

use nuage_graph::names::{MAX_NAME_LEN, validate_name};

use crate::destination::{VERSIONS_DIR, point_id_of};

/// The longest remote path of a file below its source folder, in UTF-16
/// units. With a source name of at most 64 characters and the two slashes,
/// a destination folder path of up to 84 keeps every path within
/// OneDrive's 400.
pub const MAX_REMOTE_LEN: usize = 250;

/// How remote names are given, part of a folder's fingerprint: a folder is
/// snapshotted again when this changes, so that its next point carries the
/// new names (a point of an earlier version whose push failed on a long
/// path is then superseded, not pushed again and again).
pub const MAPPING: &str = "remote names 2 (long paths)";

/// A ` (n)` or ` (tag)` suffix is at most this long; the budget keeps room
/// for it.
const SUFFIX_ROOM: usize = 20;

/// The folder, directly in a source's folder at the destination, of the
/// files whose paths are too deep to be kept where they are.
pub const LONG_PATHS_DIR: &str = ".nuage-long-paths";

/// Length as OneDrive counts it (UTF-16 units).
fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The full-width look-alike of a character OneDrive refuses in names.
fn look_alike(c: char) -> Option<char> {
    Some(match c {
        '"' => '＂',
        '*' => '＊',
        ':' => '：',
        '<' => '＜',
        '>' => '＞',
        '?' => '？',
        '\\' => '＼',
        '|' => '｜',
        // Control characters: the Unicode control pictures (␀…␟).
        c if (c as u32) < 0x20 => char::from_u32(0x2400 + c as u32).expect("in range"),
        '\u{7f}' => '␡',
        _ => return None,
    })
}

/// One name as the destination keeps it (without collision handling).
pub fn map_segment(name: &str) -> String {
    let mut out: String = name.chars().map(|c| look_alike(c).unwrap_or(c)).collect();
    // Leading and trailing spaces, and a trailing dot, are stripped by
    // Windows and refused by OneDrive.
    if out.starts_with(' ') {
        out.replace_range(..1, "␠");
    }
    if out.ends_with(' ') {
        out.pop();
        out.push('␠');
    }
    if out.ends_with('.') {
        out.pop();
        out.push('．');
    }
    if validate_name(&out).is_err() {
        // Reserved names (con, desktop.ini, _vti_, ~$…) and overlong ones:
        // a prefix makes them ordinary, a cut makes them short enough.
        out = format!("_{out}").replace("_vti_", "_vti＿");
        if out.starts_with("_~$") {
            out = out.replacen("~$", "～$", 1);
        }
        while validate_name(&out).is_err() && out.chars().count() > 16 {
            let keep = out.chars().count() - 8;
            out = out.chars().take(keep).collect();
            // A cut can leave a trailing dot or space: mapped again.
            if let Some(last @ ('.' | ' ')) = out.chars().last() {
                out.pop();
                out.push(if last == '.' { '．' } else { '␠' });
            }
        }
    }
    out
}

/// `name` with ` (tag)` before its extension, its stem cut to at most
/// `max_stem` UTF-16 units and as many bytes (a local disk's names hold 255
/// bytes).
fn tagged(name: &str, tag: &str, max_stem: usize) -> String {
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() && ext.len() <= 10 => {
            (stem, Some(ext))
        }
        _ => (name, None),
    };
    let (mut len, mut bytes) = (0, 0);
    let stem: String = stem
        .chars()
        .take_while(|c| {
            len += c.len_utf16();
            bytes += c.len_utf8();
            len <= max_stem && bytes <= max_stem
        })
        .collect();
    match ext {
        Some(ext) => format!("{stem} ({tag}).{ext}"),
        None => format!("{stem} ({tag})"),
    }
}

/// `name` with ` (n)` before its extension (its stem shortened when the
/// name would be too long).
fn numbered(name: &str, n: u32) -> String {
    tagged(name, &n.to_string(), MAX_NAME_LEN - SUFFIX_ROOM - 12)
}

/// The name in [`LONG_PATHS_DIR`] of the file at the local relative path
/// `path` (mapped `base`): its own name, shortened if need be, tagged with
/// a hash of its path so that files of the same name from different folders
/// stay apart.
fn long_path_name(path: &str, base: &str) -> String {
    let hash = blake3::hash(path.as_bytes()).to_hex();
    tagged(base, &hash[..10], 150)
}

/// Assigns remote paths to local relative paths (folders first, then
/// files, each processed in order), keeping the remote path a path had
/// before (`previous`) when it is still free, and never letting two
/// paths meet where names ignore case. Directly in the source folder,
/// Nuage's own names (restore points, the versions folder) are never
/// given to a file.
pub struct Mapper<'p> {
    previous: &'p HashMap<String, String>,
    /// Remote paths taken, lower-cased.
    taken: HashSet<String>,
    /// Local folder → its remote path.
    dirs: HashMap<String, String>,
}

impl<'p> Mapper<'p> {
    pub fn new(previous: &'p HashMap<String, String>) -> Mapper<'p> {
        Mapper {
            previous,
            taken: HashSet::new(),
            dirs: HashMap::new(),
        }
    }

    fn free(&self, remote: &str, top: bool, name: &str) -> bool {
        !self.taken.contains(&remote.to_lowercase())
            && validate_name(name).is_ok()
            && !(top
                && (point_id_of(name).is_some()
                    || name.eq_ignore_ascii_case(VERSIONS_DIR)
                    || name.eq_ignore_ascii_case(LONG_PATHS_DIR)))
    }

    /// The remote path of the file at the local relative path `path` (its
    /// folder mapped already, or mapped now).
    pub fn map(&mut self, path: &str) -> String {
        self.assign(path, true)
    }

    /// Maps a local folder (and its parents).
    pub fn map_dir(&mut self, path: &str) -> String {
        if let Some(r) = self.dirs.get(path) {
            return r.clone();
        }
        let remote = self.assign(path, false);
        self.dirs.insert(path.to_string(), remote.clone());
        remote
    }

    fn assign(&mut self, path: &str, file: bool) -> String {
        let (parent, name) = match path.rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, path),
        };
        let remote_parent = parent.map(|p| match self.dirs.get(p) {
            Some(r) => r.clone(),
            None => self.map_dir(p),
        });
        let mut base = map_segment(name);
        let joined = match &remote_parent {
            Some(p) => format!("{p}/{base}"),
            None => base.clone(),
        };
        // Too deep for OneDrive: into the long-paths folder. (Only files
        // are ever written at a destination; folders need no place.)
        let remote_parent = if file && units(&joined) + SUFFIX_ROOM > MAX_REMOTE_LEN {
            base = long_path_name(path, &base);
            Some(LONG_PATHS_DIR.to_string())
        } else {
            remote_parent
        };
        let join = |n: &str| match &remote_parent {
            Some(p) => format!("{p}/{n}"),
            None => n.to_string(),
        };
        let top = remote_parent.is_none();
        // The name it had, if it still goes in the same folder.
        if let Some(prev) = self.previous.get(path) {
            let (pp, pn) = match prev.rsplit_once('/') {
                Some((p, n)) => (Some(p), n),
                None => (None, prev.as_str()),
            };
            if pp == remote_parent.as_deref() && self.free(prev, top, pn) {
                self.taken.insert(prev.to_lowercase());
                return prev.clone();
            }
        }
        let mut candidate = base.clone();
        let mut n = 1;
        while !self.free(&join(&candidate), top, &candidate) {
            n += 1;
            candidate = numbered(&base, n);
            if n > 10_000 {
                // Unreachable in practice: distinct names run out long
                // after any folder does.
                // A name of hex digits alone is always one a destination
                // keeps.
                candidate = format!("{:016x}", fastrand::u64(..));
            }
        }
        let remote = join(&candidate);
        self.taken.insert(remote.to_lowercase());
        remote
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_names_become_ones_onedrive_keeps() {
        for (name, mapped) in [
            ("plain.json", "plain.json"),
            ("a:b?.txt", "a：b？.txt"),
            ("quote\"star*.mp4", "quote＂star＊.mp4"),
            (" lead", "␠lead"),
            ("trail ", "trail␠"),
            ("report.", "report．"),
            ("con.txt", "_con.txt"),
            ("desktop.ini", "_desktop.ini"),
            ("~$draft.docx", "_～$draft.docx"),
            ("x_vti_y", "_x_vti＿y"),
            ("tab\there", "tab␉here"),
            ("été à Zürich.mov", "été à Zürich.mov"),
        ] {
            assert_eq!(map_segment(name), mapped, "{name}");
            assert!(validate_name(mapped).is_ok(), "{mapped}");
        }
        let long = "é".repeat(300);
        assert!(validate_name(&map_segment(&long)).is_ok());
    }

    #[test]
    fn names_that_would_meet_stay_apart_and_keep_their_remote_name() {
        let none = HashMap::new();
        let mut m = Mapper::new(&none);
        assert_eq!(m.map("Notes.txt"), "Notes.txt");
        assert_eq!(m.map("notes.txt"), "notes (2).txt");
        assert_eq!(m.map("a:b"), "a：b");
        assert_eq!(m.map("a：b"), "a：b (2)");
        // Nuage's own names directly in the source folder are never a file's.
        assert_eq!(m.map(".nuage-versions"), ".nuage-versions (2)");
        assert_eq!(
            m.map("20261121-054041123-3fa2.json.zst"),
            "20261121-054041123-3fa2.json (2).zst"
        );
        // Deeper, they are ordinary names.
        assert_eq!(m.map_dir("d"), "d");
        assert_eq!(m.map("d/.nuage-versions"), "d/.nuage-versions");
        assert_eq!(m.map("d/x?/y"), "d/x？/y");
        // Sticky: the name a path had stays, even when another came first.
        let prev: HashMap<String, String> =
            [("notes.txt".to_string(), "notes.txt".to_string())].into();
        let mut m = Mapper::new(&prev);
        assert_eq!(m.map("notes.txt"), "notes.txt");
        assert_eq!(m.map("Notes.txt"), "Notes (2).txt");
    }

    #[test]
    fn files_too_deep_for_onedrive_go_to_the_long_paths_folder_under_their_own_name() {
        let deep = (0..12)
            .map(|i| format!("Patient records {i} — consultations and letters"))
            .collect::<Vec<_>>()
            .join("/");
        let a = format!("{deep}/Scan: 2026-12-06.pdf");
        let b = format!("{deep}/more/Scan: 2026-12-06.pdf");
        let none = HashMap::new();
        let mut m = Mapper::new(&none);
        assert_eq!(m.map("top.txt"), "top.txt");
        let ra = m.map(&a);
        let rb = m.map(&b);
        let tag = |p: &str| blake3::hash(p.as_bytes()).to_hex()[..10].to_string();
        assert_eq!(
            ra,
            format!("{LONG_PATHS_DIR}/Scan： 2026-12-06 ({}).pdf", tag(&a))
        );
        assert_eq!(
            rb,
            format!("{LONG_PATHS_DIR}/Scan： 2026-12-06 ({}).pdf", tag(&b))
        );
        // A shallow file in the same folders keeps its place while it fits.
        assert_eq!(
            m.map("Patient records 0 — consultations and letters/x.txt"),
            "Patient records 0 — consultations and letters/x.txt"
        );
        // A folder of the source with that name directly in it is another one.
        assert_eq!(m.map(".nuage-long-paths"), ".nuage-long-paths (2)");
        // A very long name is shortened; every path fits and is one a
        // destination keeps.
        let c = format!("{deep}/{}.mov", "x".repeat(240));
        let rc = m.map(&c);
        assert!(rc.starts_with(&format!("{LONG_PATHS_DIR}/xxx")), "{rc}");
        assert!(rc.ends_with(&format!(" ({}).mov", tag(&c))), "{rc}");
        for r in [&ra, &rb, &rc] {
            assert!(units(r) <= MAX_REMOTE_LEN, "{r}");
            crate::destination::tree_path(&format!("shop/{r}")).unwrap();
        }
        // Sticky from one point to the next, like every remote name.
        let prev: HashMap<String, String> = [(a.clone(), ra.clone())].into();
        let mut m = Mapper::new(&prev);
        assert_eq!(m.map(&a), ra);
        // A file kept there by an earlier point goes back to its place when
        // its path fits again.
        let prev: HashMap<String, String> = [("short/Scan.pdf".to_string(), ra.clone())].into();
        let mut m = Mapper::new(&prev);
        assert_eq!(m.map("short/Scan.pdf"), "short/Scan.pdf");
    }

    #[test]
    fn lengths_are_counted_as_onedrive_counts_them_and_long_names_never_loop() {
        // 120 emoji are 120 characters but 240 UTF-16 units: with the
        // folder they pass the budget.
        let deep = format!("{}/{}", "d".repeat(20), "🎞".repeat(120));
        let none = HashMap::new();
        let mut m = Mapper::new(&none);
        let r = m.map(&format!("{deep}/clip.mp4"));
        assert!(r.starts_with(LONG_PATHS_DIR), "{r}");
        // Two folder names of 254 characters equal but for case: the
        // second gets a shortened numbered name (it never ended before).
        let upper = format!("A{}", "b".repeat(253));
        let lower = upper.to_lowercase();
        assert_eq!(m.map_dir(&upper), upper);
        let second = m.map_dir(&lower);
        assert!(second.ends_with(" (2)"), "{second}");
        assert!(validate_name(&second).is_ok(), "{second}");
        // Names that are all dots after a cut (legal on Linux) end.
        for name in [
            format!("con{}", ".".repeat(252)),
            format!("~${}", ".".repeat(253)),
        ] {
            // As files (too long: the long-paths folder) and as folders
            // (kept where they are; the second one numbered).
            let file = m.map(&name);
            assert!(
                validate_name(file.rsplit('/').next().unwrap()).is_ok(),
                "{file}"
            );
            let first = m.map_dir(&format!("d/{name}"));
            let again = m.map_dir(&format!("d/{}", name.to_uppercase()));
            for r in [&first, &again] {
                assert!(validate_name(r.rsplit('/').next().unwrap()).is_ok(), "{r}");
            }
            if name.to_uppercase() != name {
                assert_ne!(first.to_lowercase(), again.to_lowercase());
            }
        }
        // Tags keep names within a local disk's 255 bytes.
        let cjk = format!("{deep}/{}.pdf", "檔".repeat(80));
        let r = m.map(&cjk);
        let name = r.rsplit('/').next().unwrap();
        assert!(name.len() <= 255, "{} bytes: {name}", name.len());
    }
}
