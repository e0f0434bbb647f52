//! The backup document (spec: `docs/backup-format.md`): one JSON family
//! for every source kind. `source.kind` says which [`crate::source`]
//! implementation reads the body; the head (format, version, created_at,
//! generator, source) is common and read here.
//!
//! A backup file is untrusted: every reader goes through [`guard::TokenGuard`]
//! and the zstd window cap.

pub(crate) mod guard;
mod writer;

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

pub(crate) use writer::*;

use crate::error::{Error, InvalidBackup, Result};
use guard::TokenGuard;

/// The keys that may stand before `source` in a document.
const HEAD_KEYS: &[&str] = &["format", "version", "created_at", "generator"];

/// Largest zstd window accepted (16 MiB): Nuage writes 2–8 MiB windows; a
/// frame asking for more is refused instead of allocating it.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// Opens a backup file for reading: zstd-compressed (recognised by its
/// magic number, whatever the extension) or plain JSON.
pub fn open_document(path: &Path) -> Result<Box<dyn Read>> {
    let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut magic = [0u8; 4];
    let n = read_fully(&mut f, &mut magic).map_err(|e| Error::io("read", path, e))?;
    let head = io::Cursor::new(magic[..n].to_vec()).chain(f);
    if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        let mut dec =
            zstd::stream::read::Decoder::new(head).map_err(|e| Error::io("read", path, e))?;
        dec.window_log_max(ZSTD_WINDOW_LOG_MAX)
            .map_err(|e| Error::io("read", path, e))?;
        Ok(Box::new(BufReader::with_capacity(256 << 10, dec)))
    } else {
        Ok(Box::new(BufReader::with_capacity(256 << 10, head)))
    }
}

fn read_fully(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Reads just the head of a backup file, up to its "source" field.
pub fn peek_source(path: &Path) -> Result<SourceInfo> {
    struct Head(Option<SourceInfo>);
    impl<'de> Visitor<'de> for &mut Head {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a Nuage backup document")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(k) = map.next_key::<String>()? {
                if k == "source" {
                    self.0 = Some(map.next_value()?);
                    return Ok(()); // Stop early; the rest is not read.
                }
                if HEAD_KEYS.contains(&k.as_str()) {
                    map.next_value::<IgnoredAny>()?;
                } else {
                    break;
                }
            }
            Ok(())
        }
    }
    let input = open_document(path)?;
    let mut head = Head(None);
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(
        64 << 10,
        TokenGuard::new(input),
    ));
    let _ = de.deserialize_map(&mut head);
    head.0.ok_or_else(|| {
        Error::InvalidBackup(InvalidBackup::NotABackup(
            path.display().to_string(),
            "no \"source\" field near its start".into(),
        ))
    })
}
