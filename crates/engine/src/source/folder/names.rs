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

use std::collections::{HashMap, HashSet};

use nuage_graph::names::validate_name;

use crate::destination::{VERSIONS_DIR, point_id_of};

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
        }
    }
    out
}

/// `name` with ` (n)` before its extension.
fn numbered(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 10 => {
            format!("{stem} ({n}).{ext}")
        }
        _ => format!("{name} ({n})"),
    }
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
            && !(top && (point_id_of(name).is_some() || name.eq_ignore_ascii_case(VERSIONS_DIR)))
    }

    /// The remote path of the local relative path `path` (its folder
    /// mapped already, or mapped now).
    pub fn map(&mut self, path: &str) -> String {
        let (parent, name) = match path.rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, path),
        };
        let remote_parent = parent.map(|p| match self.dirs.get(p) {
            Some(r) => r.clone(),
            None => self.map_dir(p),
        });
        let join = |n: &str| match &remote_parent {
            Some(p) => format!("{p}/{n}"),
            None => n.to_string(),
        };
        let top = remote_parent.is_none();
        // The name it had, if its folder is still where it was.
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
        let base = map_segment(name);
        let mut candidate = base.clone();
        let mut n = 1;
        while !self.free(&join(&candidate), top, &candidate) {
            n += 1;
            candidate = numbered(&base, n);
            if n > 10_000 {
                // Unreachable in practice: distinct names run out long
                // after any folder does.
                candidate = format!("{base} ({:016x})", fastrand::u64(..));
            }
        }
        let remote = join(&candidate);
        self.taken.insert(remote.to_lowercase());
        remote
    }

    /// Maps a local folder (and its parents).
    pub fn map_dir(&mut self, path: &str) -> String {
        if let Some(r) = self.dirs.get(path) {
            return r.clone();
        }
        let remote = self.map(path);
        self.dirs.insert(path.to_string(), remote.clone());
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
}
