//! The local copy of a folder source's files: `copies/<source>/<blake3>`
//! in the home, one file per distinct contents, size-capped, for a fast
//! restore and for earlier versions when no destination keeps them.
//!
//! After each backup of a folder, the contents its restore points name
//! are kept newest point first until the cap: the newest point's files
//! are copied from the folder (verified by BLAKE3; a file changed since
//! the snapshot is left for the next run), and what falls beyond the cap
//! or is named by no point any more is removed. The cap is the source's
//! `local_copy` option, else [`AUTO_LOCAL_COPY`] while no destination is
//! configured (the local copy is then the only place earlier versions
//! live) and nothing with one (the destination keeps them).

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;

use super::Ctx;
use crate::error::Result;
use crate::fsutil;
use crate::source::folder::manifest::FileEntry;
use crate::store::{RestorePoint, SourceRecord};

/// The cap of a folder source's local copy with no destination and no
/// `local_copy` option: a folder of documents fits many times over.
pub const AUTO_LOCAL_COPY: u64 = 1 << 30;

/// What a source's local copy holds after [`Ctx::keep_local_copies`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LocalCopies {
    pub bytes: u64,
    pub files: u64,
}

impl Ctx<'_> {
    pub(crate) fn copies_dir(&self, source: &str) -> PathBuf {
        self.home().join("copies").join(source)
    }

    /// The cap of source `s`'s local copy, in bytes (see the module).
    pub(crate) fn local_copy_cap(&self, s: &SourceRecord) -> u64 {
        match s.options.local_copy {
            Some(cap) => cap,
            None if matches!(self.destination(), Ok(None)) => AUTO_LOCAL_COPY,
            None => 0,
        }
    }

    /// Brings source `s`'s local copy up to date with its restore points
    /// (see the module). A manifest that cannot be read leaves the copy
    /// as it is: nothing is removed on a guess.
    pub(crate) fn keep_local_copies(&self, s: &SourceRecord) -> Result<LocalCopies> {
        let cap = self.local_copy_cap(s);
        let dir = self.copies_dir(&s.name);
        if cap == 0 && !dir.exists() {
            return Ok(LocalCopies::default());
        }
        let points = self.store.restore_points(Some(&s.name))?;
        let mut manifests = Vec::with_capacity(points.len());
        for p in &points {
            match self.local_manifest(p) {
                Ok(m) => manifests.push(m.folder.files),
                Err(e) => {
                    tracing::warn!(point = %p.id, "the local copy is left as it is: {e}");
                    return Ok(LocalCopies::default());
                }
            }
        }
        // Newest point first, each contents once, until the cap.
        let mut keep: HashSet<String> = HashSet::new();
        let mut wanted: Vec<&FileEntry> = Vec::new();
        let mut bytes = 0u64;
        for f in manifests.iter().flatten() {
            if keep.contains(&f.blake3) || bytes + f.size > cap {
                continue;
            }
            let present = dir.join(&f.blake3);
            // Older points' contents are kept only when already here:
            // the folder holds the newest point's, not theirs.
            let newest = manifests
                .first()
                .is_some_and(|m| m.iter().any(|n| n.blake3 == f.blake3));
            if newest || present.exists() {
                keep.insert(f.blake3.clone());
                wanted.push(f);
                bytes += f.size;
            }
        }
        // Room first: what falls beyond the cap or no point names.
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if is_content_name(&name) && !keep.contains(&name) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        if wanted.is_empty() {
            return Ok(LocalCopies::default());
        }
        fsutil::create_private_dir(&dir)?;
        let mut held = LocalCopies::default();
        let mut copied = false;
        for f in wanted {
            let at = dir.join(&f.blake3);
            if !at.exists() {
                // From the folder, if it still holds these contents.
                if !super::mirror::copy_if_same(&s.path.join(&f.path), &at, f)? {
                    continue;
                }
                copied = true;
            }
            held.bytes += f.size;
            held.files += 1;
        }
        if copied {
            fsutil::sync_filesystem(&dir)?;
        }
        Ok(held)
    }
}

/// The name of a kept contents: its BLAKE3 in hex.
fn is_content_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How many files of folder point `p` (`files`) have their contents
/// nowhere on this machine: not in the local copy, the kept versions of
/// in-place restores, or the folder as last backed up (`current`: its
/// newest point's BLAKE3s).
pub(crate) fn missing_locally(
    ctx: &Ctx<'_>,
    p: &RestorePoint,
    files: &[FileEntry],
    current: &HashSet<String>,
) -> u64 {
    let copies = ctx.copies_dir(&p.source);
    let objects = ctx.home().join("objects").join(&p.source);
    files
        .iter()
        .filter(|f| {
            !(current.contains(&f.blake3)
                || copies.join(&f.blake3).exists()
                || objects.join(&f.blake3).exists())
        })
        .count() as u64
}
