//! The backup document, version 1 (spec: `docs/backup-format.md`).
//!
//! Writing is hand-rolled on the hot path (one call per value, no
//! intermediate tree) because serialization must cost well under the
//! compressor's time; strings go through `serde_json` for correct escaping,
//! numbers through `itoa`/`ryu` (shortest round-trip representation).

use std::io::{self, Write};

use super::digest::ContentDigest;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

pub const FORMAT_NAME: &str = "nuage-backup";
pub const FORMAT_VERSION: u64 = 1;

/// Values whose byte length exceeds this are written in chunks and, in rowid
/// tables, streamed through SQLite's incremental blob I/O on both ends.
pub const BIG_VALUE: usize = 256 * 1024;
/// Raw bytes per chunk of a big value (a multiple of 3: clean base64).
pub const CHUNK_RAW: usize = 192 * 1024;

/// Database-level settings recorded in the document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SqliteInfo {
    pub encoding: String,
    pub user_version: i64,
    pub application_id: i64,
    pub page_size: i64,
    pub auto_vacuum: i64,
    pub journal_mode: String,
}

/// What was backed up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SourceInfo {
    pub name: String,
    pub kind: String,
    pub path: String,
}

/// One schema object, as found in `sqlite_schema`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SchemaObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub tbl_name: String,
    pub sql: String,
}

impl SchemaObject {
    /// Bytes of names and statement, as the schema bound counts them.
    pub fn size(&self) -> usize {
        self.kind.len() + self.name.len() + self.tbl_name.len() + self.sql.len()
    }
}

/// Streams one document. Call order: `begin`, then per table `begin_table`,
/// rows, `end_table`, then `finish`.
pub struct DocWriter<W: Write> {
    w: Digesting<W>,
    first_table: bool,
    first_row: bool,
    b64: String,
    itoa: itoa::Buffer,
    ryu: ryu::Buffer,
}

impl<W: Write> DocWriter<W> {
    pub fn begin(
        mut w: W,
        created_at: &str,
        source: &SourceInfo,
        sqlite: &SqliteInfo,
        schema: &[SchemaObject],
    ) -> io::Result<Self> {
        write!(
            w,
            "{{\"format\":\"{FORMAT_NAME}\",\"version\":{FORMAT_VERSION},\"created_at\":"
        )?;
        serde_json::to_writer(&mut w, created_at)?;
        w.write_all(b",\"generator\":")?;
        serde_json::to_writer(&mut w, &format!("nuage {}", env!("CARGO_PKG_VERSION")))?;
        w.write_all(b",\n\"source\":")?;
        serde_json::to_writer(&mut w, source)?;
        w.write_all(b",\n\"sqlite\":")?;
        serde_json::to_writer(&mut w, sqlite)?;
        w.write_all(b",\n\"schema\":[")?;
        for (i, o) in schema.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            w.write_all(b"\n")?;
            serde_json::to_writer(&mut w, o)?;
        }
        w.write_all(b"],\n\"tables\":[")?;
        Ok(DocWriter {
            w: Digesting {
                inner: w,
                digest: ContentDigest::default(),
            },
            first_table: true,
            first_row: true,
            b64: String::new(),
            itoa: itoa::Buffer::new(),
            ryu: ryu::Buffer::new(),
        })
    }

    pub fn begin_table(
        &mut self,
        name: &str,
        columns: &[String],
        has_rowid: bool,
    ) -> io::Result<()> {
        if !self.first_table {
            self.w.write_all(b",")?;
        }
        self.first_table = false;
        self.first_row = true;
        self.w.write_all(b"\n{\"name\":")?;
        serde_json::to_writer(&mut self.w, name)?;
        self.w.write_all(b",\"columns\":")?;
        serde_json::to_writer(&mut self.w, columns)?;
        write!(self.w, ",\"rowid\":{has_rowid},\"rows\":[")?;
        self.w.digest.begin_table(name, columns);
        Ok(())
    }

    /// Starts a row (an array); then call `value`… and `end_row`.
    pub fn begin_row(&mut self) -> io::Result<()> {
        if !self.first_row {
            self.w.write_all(b",\n")?;
        } else {
            self.first_row = false;
            self.w.write_all(b"\n")?;
        }
        // The row's contents (and its fill entries) are what follows.
        self.w.digest.begin_row();
        self.w.write_all(b"[")
    }

    #[inline]
    pub fn sep(&mut self) -> io::Result<()> {
        self.w.write_all(b",")
    }

    pub fn end_row(&mut self) -> io::Result<()> {
        self.w.write_all(b"]")
    }

    #[inline]
    pub fn null(&mut self) -> io::Result<()> {
        self.w.write_all(b"null")
    }

    #[inline]
    pub fn integer(&mut self, v: i64) -> io::Result<()> {
        let s = self.itoa.format(v);
        self.w.write_all(s.as_bytes())
    }

    /// Finite reals print with a '.' or an exponent (never as an integer);
    /// the infinities, which JSON lacks, are tagged. SQLite stores no NaN.
    #[inline]
    pub fn real(&mut self, v: f64) -> io::Result<()> {
        if v.is_finite() {
            let s = self.ryu.format_finite(v);
            self.w.write_all(s.as_bytes())
        } else if v.is_nan() {
            self.w.write_all(b"null")
        } else if v > 0.0 {
            self.w.write_all(b"{\"real\":\"inf\"}")
        } else {
            self.w.write_all(b"{\"real\":\"-inf\"}")
        }
    }

    /// Text that is valid UTF-8 is a JSON string; other bytes, and text
    /// too long for one JSON token, are tagged (the latter in chunks).
    #[inline]
    pub fn text(&mut self, v: &[u8]) -> io::Result<()> {
        match std::str::from_utf8(v) {
            Ok(s) if v.len() <= BIG_VALUE => {
                serde_json::to_writer(&mut self.w, s).map_err(io::Error::from)
            }
            _ => self.tagged(b"text_b64", v),
        }
    }

    #[inline]
    pub fn blob(&mut self, v: &[u8]) -> io::Result<()> {
        self.tagged(b"blob", v)
    }

    fn tagged(&mut self, tag: &[u8], v: &[u8]) -> io::Result<()> {
        self.w.write_all(b"{\"")?;
        self.w.write_all(tag)?;
        self.w.write_all(b"\":")?;
        if v.len() > BIG_VALUE {
            // Inline chunked form (tables without rowid): an array of strings.
            self.w.write_all(b"[")?;
            for (i, c) in v.chunks(CHUNK_RAW).enumerate() {
                if i > 0 {
                    self.w.write_all(b",")?;
                }
                self.b64_str(c)?;
            }
            self.w.write_all(b"]}")
        } else {
            self.b64_str(v)?;
            self.w.write_all(b"}")
        }
    }

    fn b64_str(&mut self, v: &[u8]) -> io::Result<()> {
        self.b64.clear();
        B64.encode_string(v, &mut self.b64);
        self.w.write_all(b"\"")?;
        self.w.write_all(self.b64.as_bytes())?;
        self.w.write_all(b"\"")
    }

    /// Placeholder for a big value streamed after the row (rowid tables).
    pub fn big_placeholder(&mut self, is_text: bool, size: u64) -> io::Result<()> {
        let tag = if is_text { "text_size" } else { "blob_size" };
        write!(self.w, "{{\"{tag}\":{size}}}")
    }

    /// Starts the fill entry that carries a big value of the previous row.
    pub fn begin_fill(&mut self, column: usize) -> io::Result<()> {
        write!(self.w, ",\n{{\"fill\":{column},\"chunks\":[")
    }

    pub fn fill_chunk(&mut self, first: bool, bytes: &[u8]) -> io::Result<()> {
        if !first {
            self.w.write_all(b",")?;
        }
        self.b64_str(bytes)
    }

    pub fn end_fill(&mut self) -> io::Result<()> {
        self.w.write_all(b"]}")
    }

    pub fn end_table(&mut self, row_count: u64) -> io::Result<()> {
        self.w.digest.end_table();
        write!(self.w, "],\"row_count\":{row_count}}}")
    }

    /// Ends the document; returns the output and the content digest.
    pub fn finish(mut self, tables: u64, rows: u64) -> io::Result<(W, String)> {
        write!(
            self.w,
            "],\n\"summary\":{{\"tables\":{tables},\"rows\":{rows}}}}}\n"
        )?;
        Ok((self.w.inner, self.w.digest.finish()))
    }
}

/// The document's output, with each row's bytes fed to the content digest
/// as they are written.
struct Digesting<W> {
    inner: W,
    digest: ContentDigest,
}

impl<W: Write> Write for Digesting<W> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.feed(&buf[..n]);
        Ok(n)
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.digest.feed(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
