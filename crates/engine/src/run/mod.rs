//! Runs: what the engine does to data, one room per direction.
//!
//! - `backup.rs` — one backup run: per source, fingerprint → snapshot →
//!   zstd → atomic local copy → restore point → local retention → upload.
//! - `upload.rs` — the destination side of a run: resumable uploads,
//!   verification, remote retention, moves of renamed sources, listing and
//!   downloading what exists only there.
//! - `mirror.rs` — the files of folder sources at the destination (as
//!   themselves, earlier versions kept while a manifest names them), and
//!   where a folder restore finds contents.
//! - `copies.rs` — the size-capped local copy of folder sources' files.
//! - `drill.rs` — restore drills: each copy proven restorable (or healed).
//! - `restore.rs` — finding a restore point or a backup file, validating
//!   it, restoring into a new target or in place (after a safety copy),
//!   preview and export.
//!
//! Each works on a [`Ctx`]: the home's store. The [`crate::Engine`] façade
//! builds one per call; nothing here knows the façade.

pub(crate) mod backup;
pub(crate) mod copies;
pub(crate) mod drill;
pub(crate) mod mirror;
pub(crate) mod restore;
pub(crate) mod upload;

use std::path::Path;

use crate::config::Config;
use crate::store::Store;

/// What one operation of the engine works on.
pub(crate) struct Ctx<'a> {
    pub store: &'a Store,
    pub config: &'a Config,
}

impl Ctx<'_> {
    pub fn home(&self) -> &Path {
        self.store.home()
    }
}
