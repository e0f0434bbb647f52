//! Where backups go besides the local store: one small trait that every
//! destination implements, and one conformance suite that every destination
//! passes (`tests/destinations.rs`), modelled on Litestream's replica-client
//! contract.
//!
//! Layout, the same everywhere: one folder per source, one file per restore
//! point named `<restore point id>.json.zst`. Ids start with the UTC time, so
//! names sort by time and never collide. A destination only ever lists or
//! deletes files with that shape: whatever else lives in the folder is not
//! Nuage's and is left alone.

pub mod folder;
pub mod onedrive;
pub mod s3;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::Result;

/// A file as a destination stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteFile {
    /// `<restore point id>.json.zst`
    pub name: String,
    pub size: u64,
    /// The destination's own QuickXorHash of the stored bytes, when it has one.
    pub quickxor: Option<String>,
}

impl RemoteFile {
    /// The restore point id this file holds.
    pub fn point_id(&self) -> Option<&str> {
        point_id_of(&self.name)
    }
}

/// What a destination can do, so callers need not know which one it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Reports a hash of what it stored, computed on its side, when an
    /// upload completes.
    pub server_hash: bool,
    /// Its listings carry that hash too (a folder has none stored: it
    /// would have to read every file to list them).
    pub listed_hash: bool,
    /// Can continue an interrupted upload where it stopped.
    pub resumable: bool,
}

/// Progress of a resumable upload, persisted by the engine so that a crash,
/// a kill or a reboot continues where the server says it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    pub url: String,
    pub next_offset: u64,
}

/// Where a destination keeps its [`UploadSession`] between attempts.
pub trait UploadJournal {
    fn load(&self) -> Option<UploadSession>;
    fn save(&mut self, session: &UploadSession) -> Result<()>;
    fn clear(&mut self) -> Result<()>;
}

/// A journal for destinations or callers that do not resume.
#[derive(Default)]
pub struct NoJournal;

impl UploadJournal for NoJournal {
    fn load(&self) -> Option<UploadSession> {
        None
    }
    fn save(&mut self, _: &UploadSession) -> Result<()> {
        Ok(())
    }
    fn clear(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A place backups are copied to.
pub trait Destination: Send {
    /// For people: "folder /mnt/nas/backups".
    fn describe(&self) -> String;
    fn capabilities(&self) -> Capabilities;
    /// Stores `local` as `<folder>/<name>`, replacing a previous file of that
    /// name, and returns what the destination now holds.
    fn upload(
        &mut self,
        folder: &str,
        name: &str,
        local: &Path,
        journal: &mut dyn UploadJournal,
        progress: &mut dyn FnMut(u64),
    ) -> Result<RemoteFile>;
    /// The source folders present (names that can be source names), sorted.
    fn folders(&mut self) -> Result<Vec<String>>;
    /// Nuage's files in `<folder>`, sorted by name (oldest first). An
    /// absent folder is empty.
    fn list(&mut self, folder: &str) -> Result<Vec<RemoteFile>>;
    /// Streams `<folder>/<name>` into `out`; returns the byte count.
    fn download(&mut self, folder: &str, name: &str, out: &mut dyn Write) -> Result<u64>;
    /// Deletes `<folder>/<name>`; refuses names Nuage did not create.
    fn delete(&mut self, folder: &str, name: &str) -> Result<()>;
    /// Moves `<from>/<name>` to `<to>/<name>` (creating `<to>`), without
    /// sending its bytes again: a renamed source takes its copies along.
    /// When `<to>` already holds that name with the same size and hash (the
    /// same restore point), the copy in `<from>` is deleted; with other
    /// contents both stay. Names that differ only in case are one folder
    /// where the destination says so, and nothing is deleted. A file already moved (in `<to>`, not in
    /// `<from>`) is success, so an interrupted move can be repeated; a file
    /// in neither is [`Error::UnknownRestorePoint`]. Refuses names Nuage
    /// did not create.
    fn move_file(&mut self, from: &str, name: &str, to: &str) -> Result<()>;

    // The files of folder sources, mirrored as themselves. Every `path` is
    // a tree path (`<source>/<relative path>`, checked by [`tree_path`]):
    // below a source's folder, never a restore point's own file.

    /// Stores `local` at `path`, creating its folders and replacing a file
    /// there, and returns what the destination now holds (with its hash).
    fn put_file(
        &mut self,
        path: &str,
        local: &Path,
        journal: &mut dyn UploadJournal,
        progress: &mut dyn FnMut(u64),
    ) -> Result<RemoteFile>;
    /// Stores several small files (each sent in one request), in
    /// parallel where the destination serves that well; one result per
    /// file, in order. `progress` gets the bytes stored so far.
    fn put_small_files(
        &mut self,
        files: &[(String, PathBuf)],
        progress: &mut dyn FnMut(u64),
    ) -> Vec<Result<RemoteFile>> {
        let mut sent = 0u64;
        files
            .iter()
            .map(|(path, local)| {
                let r = self.put_file(path, local, &mut NoJournal, &mut |_| {});
                if let Ok(f) = &r {
                    sent += f.size;
                    progress(sent);
                }
                r
            })
            .collect()
    }
    /// The file at `path` with its size and hash (a folder computes it),
    /// or `None`. A folder at `path` is not a file.
    fn file_info(&mut self, path: &str) -> Result<Option<RemoteFile>>;
    /// Streams the file at `path` into `out`; [`Error::NotFound`]-coded
    /// when absent.
    fn get_file(&mut self, path: &str, out: &mut dyn Write) -> Result<u64>;
    /// Moves the file at `from` to `to` (creating folders), without
    /// sending its bytes again. `to` must not exist; a missing `from` is
    /// an error.
    fn move_path(&mut self, from: &str, to: &str) -> Result<()>;
    /// Deletes the file at `path` (absent is success).
    fn delete_path(&mut self, path: &str) -> Result<()>;
    /// Makes every file put so far durable (a folder on a disk writes many
    /// small files without waiting for each, then syncs once); called
    /// before a manifest that lists them is uploaded.
    fn flush_files(&mut self) -> Result<()> {
        Ok(())
    }
    /// Aborts what interrupted uploads left below these source folders
    /// that no run will continue and that costs money while kept (an S3
    /// multipart upload started [`s3::ABANDONED_AFTER`] ago or more, by
    /// the provider's clock); returns how many. Called once per run.
    /// Destinations whose leftovers expire by themselves (OneDrive's
    /// upload sessions) or are swept at start (a folder's temporary
    /// files) have nothing to do.
    fn sweep_uploads(&mut self, _folders: &[String]) -> Result<usize> {
        Ok(0)
    }
    /// The files directly in the folder `dir` (a tree path), sorted by
    /// name, with sizes (hashes where listings carry them). An absent
    /// folder is empty.
    fn list_path(&mut self, dir: &str) -> Result<Vec<RemoteFile>>;
}

/// The folder of a folder source's earlier file versions, inside its
/// source folder: `<source>/.nuage-versions/<BLAKE3 hex>`.
pub const VERSIONS_DIR: &str = ".nuage-versions";

/// Checks a tree path (`<source>/<relative path>`) and returns its
/// segments: at least two, the first a source name, none empty, `.` or
/// `..`, each a name every destination keeps (OneDrive's rules), and never
/// a restore point's file name directly in the source folder.
pub fn tree_path(path: &str) -> Result<Vec<&str>> {
    let bad = |why: &str| {
        Err(crate::error::Error::Invalid(format!(
            "'{}' is not a path Nuage writes at a destination ({why})",
            crate::document::shown(path)
        )))
    };
    let segs: Vec<&str> = path.split('/').collect();
    if segs.len() < 2 {
        return bad("no file below a source folder");
    }
    if !crate::source::valid_source_name(segs[0]) {
        return bad("not below a source folder");
    }
    if segs.len() == 2 && point_id_of(segs[1]).is_some() {
        return bad("a restore point's name");
    }
    for s in &segs[1..] {
        if s.is_empty() || *s == "." || *s == ".." || s.contains('\\') {
            return bad("an empty or relative segment");
        }
        if nuage_graph::names::validate_name(s).is_err() {
            return bad("a name OneDrive refuses");
        }
    }
    Ok(segs)
}

/// How a destination is configured, as stored in the state database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DestinationConfig {
    Folder {
        path: PathBuf,
    },
    /// A OneDrive/SharePoint folder, resolved once to its drive and item
    /// (a sharing link is followed to the owner's drive).
    OneDrive {
        label: String,
        drive_id: String,
        item_id: String,
    },
    /// An S3-compatible bucket; its secret access key is in the keychain.
    S3(s3::S3Settings),
}

impl DestinationConfig {
    /// The destination's key in the state database (the description its
    /// opened form gives), found without opening it.
    pub fn key(&self) -> String {
        match self {
            DestinationConfig::Folder { path } => {
                let root = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                format!("folder {}", root.display())
            }
            DestinationConfig::OneDrive { label, .. } => label.clone(),
            DestinationConfig::S3(s) => s.label(),
        }
    }

    /// Opens the destination for a run of the Nuage home `home` (whose
    /// keychain entry holds the Microsoft sign-in).
    pub fn open(&self, home: &Path, config: &Config) -> Result<Box<dyn Destination>> {
        match self {
            DestinationConfig::Folder { path } => {
                Ok(Box::new(folder::FolderDestination::new(path)?))
            }
            DestinationConfig::OneDrive {
                label,
                drive_id,
                item_id,
            } => {
                let tokens = nuage_graph::session::KeychainTokens::load(home, &config.graph)
                    .map_err(onedrive::graph_error)?;
                let root = nuage_graph::types::ItemLocation {
                    drive_id: drive_id.clone(),
                    item_id: item_id.clone(),
                };
                Ok(Box::new(onedrive::OneDriveDestination::new(
                    config.graph.endpoints.clone(),
                    config.retry_budget,
                    root,
                    label.clone(),
                    Box::new(tokens),
                )))
            }
            DestinationConfig::S3(settings) => {
                let Some(secret) = s3::secret_slot(home, config).read()? else {
                    return Err(crate::error::Error::Destination {
                        code: crate::error::ErrorCode::KeychainUnavailable,
                        message: format!(
                            "the secret access key of {} is not in the keychain: set the S3 destination again with its secret.",
                            settings.label()
                        ),
                    });
                };
                Ok(Box::new(s3::S3Destination::new(
                    settings,
                    &secret,
                    config.retry_budget,
                )?))
            }
        }
    }
}

/// The file name of a restore point at a destination.
pub fn file_name(point_id: &str) -> String {
    format!("{point_id}.json.zst")
}

/// The restore point id in a file name Nuage created, or `None` for any
/// other name (`YYYYMMDD-HHMMSSmmm-xxxx.json.zst`).
pub fn point_id_of(name: &str) -> Option<&str> {
    let id = name.strip_suffix(".json.zst")?;
    let b = id.as_bytes();
    let shape = b.len() == 23
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..18].iter().all(u8::is_ascii_digit)
        && b[18] == b'-'
        && b[19..].iter().all(|c| c.is_ascii_hexdigit());
    shape.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_nuage_creates_are_recognised() {
        assert_eq!(
            point_id_of("20261121-054041123-3fa2.json.zst"),
            Some("20261121-054041123-3fa2")
        );
        for other in [
            "20261121-054041123-3fa2.json",
            "notes.json.zst",
            "20261121-054041123-3fa2.json.zst.tmp",
            "2026112x-054041123-3fa2.json.zst",
            "20261121-054041123-zzzz.json.zst",
            "../20261121-054041123-3fa2.json.zst",
        ] {
            assert_eq!(point_id_of(other), None, "{other}");
        }
        assert_eq!(
            point_id_of(&file_name("20261121-054041123-3fa2")),
            Some("20261121-054041123-3fa2")
        );
    }
}
