//! The backup document (spec: `docs/backup-format.md`): one JSON family
//! for every source kind. `source.kind` says which [`crate::source`]
//! implementation reads the body; the head (format, version, created_at,
//! generator, source) is common and read here.
//!
//! A backup file is untrusted: every reader goes through [`guard::TokenGuard`]
//! and the zstd window cap.

pub mod digest;
pub(crate) mod guard;
pub mod limits;
mod writer;

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::de::{self, Deserializer, MapAccess, Visitor};

pub use writer::SourceInfo;
pub(crate) use writer::*;

use crate::error::{Error, InvalidBackup, Result};
use guard::TokenGuard;

/// The keys that may stand before `source` in a document.
const HEAD_KEYS: &[&str] = &["format", "version", "created_at", "generator"];

/// Largest zstd window accepted (8 MiB, what `zstd -19` uses): Nuage writes
/// 2 MiB windows; a frame asking for more is refused instead of allocating
/// it.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// A backup document being read: untrusted bytes, decompressed as they are
/// read, with the budget that bounds what reading it may cost. Reading
/// past [`Document::max_expanded`] bytes fails with
/// [`guard::ExpansionTooLarge`]; [`Meter`] tells a reader's long-running
/// work (SQLite's progress handler) how much time it has had so far.
pub struct Document {
    reader: Box<dyn Read>,
    max_expanded: u64,
    meter: Meter,
}

/// Asks work on a document (a preview, a restore) to stop. Clones share one
/// flag; whoever holds one may cancel.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// How much of a [`Document`] has been read and since when: the time a
/// load may take grows with the bytes it has read (see
/// [`limits::LOAD_TIME_BASE`]).
#[derive(Clone, Debug)]
pub struct Meter {
    read: Arc<AtomicU64>,
    started: Instant,
    base: Duration,
    cancel: Cancel,
}

impl Meter {
    fn new(base: Duration) -> Meter {
        Meter {
            read: Arc::new(AtomicU64::new(0)),
            started: Instant::now(),
            base,
            cancel: Cancel::default(),
        }
    }

    /// Decompressed bytes read so far.
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// The time the work on this document may have taken by now.
    pub fn allowed(&self) -> Duration {
        self.base + Duration::from_secs(self.read() / limits::LOAD_MIN_RATE)
    }

    /// Whether the work has taken longer than [`Meter::allowed`].
    pub fn overdue(&self) -> bool {
        self.started.elapsed() > self.allowed()
    }

    /// Whether the person cancelled the work.
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

impl Document {
    /// Opens a backup file: zstd-compressed (recognised by its magic
    /// number, whatever the extension) or plain JSON. `time_base` is the
    /// time any load may take before its size is counted.
    pub fn open(path: &Path, time_base: Duration) -> Result<Document> {
        let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let stored = f.metadata().map_err(|e| Error::io("read", path, e))?.len();
        let mut magic = [0u8; 4];
        let n = read_fully(&mut f, &mut magic).map_err(|e| Error::io("read", path, e))?;
        let head = io::Cursor::new(magic[..n].to_vec()).chain(f);
        let reader: Box<dyn Read> = if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
            let mut dec =
                zstd::stream::read::Decoder::new(head).map_err(|e| Error::io("read", path, e))?;
            dec.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| Error::io("read", path, e))?;
            Box::new(BufReader::with_capacity(256 << 10, dec))
        } else {
            Box::new(BufReader::with_capacity(256 << 10, head))
        };
        Ok(Document::new(reader, stored, time_base))
    }

    /// A document read from `reader`, whose stored (compressed) form is
    /// `stored` bytes long.
    pub fn new(reader: Box<dyn Read>, stored: u64, time_base: Duration) -> Document {
        Document {
            reader,
            max_expanded: limits::max_expanded(stored),
            meter: Meter::new(time_base),
        }
    }

    /// A document read from `reader` under an existing budget (a reader
    /// layered over another document).
    pub(crate) fn with_meter(reader: Box<dyn Read>, max_expanded: u64, meter: Meter) -> Document {
        Document {
            reader,
            max_expanded,
            meter,
        }
    }

    /// The most decompressed bytes this document may expand to.
    pub fn max_expanded(&self) -> u64 {
        self.max_expanded
    }

    pub fn meter(&self) -> Meter {
        self.meter.clone()
    }

    /// Reading stops (with [`guard::Cancelled`]) once `cancel` is set.
    pub fn with_cancel(mut self, cancel: &Cancel) -> Document {
        self.meter.cancel = cancel.clone();
        self
    }
}

impl Read for Document {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.meter.cancelled() {
            return Err(io::Error::other(guard::Cancelled));
        }
        let n = self.reader.read(buf)?;
        let total = self.meter.read.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > self.max_expanded {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                guard::ExpansionTooLarge(self.max_expanded),
            ));
        }
        Ok(n)
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

/// A string from the document, as it may appear in a message: at most 64
/// characters (a hostile name of megabytes is not printed back).
pub(crate) fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// A JSON scalar (a head field's value); an array or object is refused at
/// its first byte, never read through.
pub(crate) enum Scalar {
    Str(String),
    Int(u64),
    Other(String),
}

impl Scalar {
    pub(crate) fn shown(&self) -> String {
        match self {
            Scalar::Str(s) => format!("\"{}\"", shown(s)),
            Scalar::Int(i) => i.to_string(),
            Scalar::Other(s) => s.clone(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Scalar, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Other(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Other(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Other(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Scalar, E> {
                Ok(Scalar::Other("null".into()))
            }
        }
        d.deserialize_any(V)
    }
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
                    // Scalars only: an array or object here is not a head,
                    // and is refused at its first byte, not read through.
                    map.next_value::<Scalar>()?;
                } else {
                    break;
                }
            }
            Ok(())
        }
    }
    let input = Document::open(path, limits::LOAD_TIME_BASE)?;
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

/// What every kind's reader reads the same way: the head fields in order
/// (format, version, created_at, generator, source), the order of the
/// body's keys, and what a JSON error means for a document.
pub(crate) struct HeadReader {
    pub label: String,
    /// The `source.kind` this reader builds.
    pub kind: &'static str,
    /// The body keys after `source`, in the order they must come.
    pub body: &'static [&'static str],
    pub seen_format: bool,
    pub created_at: Option<String>,
    pub source: Option<SourceInfo>,
    /// Position after the last key read (0: none yet).
    next: usize,
}

/// A key of a document: a head field, already read, or a body key the
/// caller reads.
pub(crate) enum Key<'k> {
    Head,
    Body(&'k str),
}

/// What stopped a head read: the JSON itself, or a precise refusal.
pub(crate) enum HeadError<E> {
    Json(E),
    Refused(Error),
}

impl HeadReader {
    pub(crate) fn new(
        label: &str,
        kind: &'static str,
        body: &'static [&'static str],
    ) -> HeadReader {
        HeadReader {
            label: label.to_string(),
            kind,
            body,
            seen_format: false,
            created_at: None,
            source: None,
            next: 0,
        }
    }

    fn invalid(&self, f: impl FnOnce(String) -> InvalidBackup) -> Error {
        Error::InvalidBackup(f(self.label.clone()))
    }

    /// Checks `key`'s place and reads it when it is a head field; a body
    /// key is left for the caller to read.
    pub(crate) fn key<'de, 'k, A: MapAccess<'de>>(
        &mut self,
        map: &mut A,
        key: &'k str,
    ) -> std::result::Result<Key<'k>, HeadError<A::Error>> {
        let all = HEAD_KEYS.iter().chain(["source"].iter()).chain(self.body);
        let pos = all.clone().position(|k| *k == key);
        let pos = match pos {
            Some(p) if p >= self.next => p,
            _ if !self.seen_format => {
                return Err(HeadError::Refused(self.invalid(|lb| {
                    InvalidBackup::NotABackup(
                        lb,
                        format!("it starts with \"{}\", not \"format\"", shown(key)),
                    )
                })));
            }
            _ => {
                return Err(HeadError::Refused(self.invalid(|lb| {
                    InvalidBackup::Corrupt(
                        lb,
                        format!("unexpected or out-of-order field \"{}\"", shown(key)),
                    )
                })));
            }
        };
        if self.next == 0 && pos != 0 {
            return Err(HeadError::Refused(self.invalid(|lb| {
                InvalidBackup::NotABackup(lb, "it has no \"format\" field first".into())
            })));
        }
        if pos == 2 && self.next < 2 {
            return Err(HeadError::Refused(self.invalid(|lb| {
                InvalidBackup::Corrupt(lb, "missing \"version\"".into())
            })));
        }
        self.next = pos + 1;
        match key {
            "format" => {
                // A scalar only: an array or object there is refused at
                // its first byte, never built.
                let v = map.next_value::<Scalar>();
                if !matches!(&v, Ok(Scalar::Str(s)) if s == FORMAT_NAME) {
                    return Err(HeadError::Refused(self.invalid(|lb| {
                        InvalidBackup::NotABackup(
                            lb,
                            format!(
                                "format is {}, expected \"{FORMAT_NAME}\"",
                                v.map_or_else(|_| "not a string".into(), |s| s.shown())
                            ),
                        )
                    })));
                }
                self.seen_format = true;
            }
            "version" => match map.next_value::<Scalar>() {
                Ok(Scalar::Int(FORMAT_VERSION)) => {}
                Ok(Scalar::Int(other)) => {
                    return Err(HeadError::Refused(self.invalid(|lb| {
                        InvalidBackup::UnsupportedVersion(lb, other, FORMAT_VERSION)
                    })));
                }
                v => {
                    let what = v.map_or_else(|_| "not a number".into(), |s| s.shown());
                    return Err(HeadError::Refused(self.invalid(|lb| {
                        InvalidBackup::Corrupt(lb, format!("version is {what}, not a number"))
                    })));
                }
            },
            "created_at" => match map.next_value::<Scalar>() {
                Ok(Scalar::Str(s)) => self.created_at = Some(s),
                _ => {
                    return Err(HeadError::Refused(self.invalid(|lb| {
                        InvalidBackup::Corrupt(lb, "\"created_at\" is not a string".into())
                    })));
                }
            },
            "generator" => {
                if map.next_value::<Scalar>().is_err() {
                    return Err(HeadError::Refused(self.invalid(|lb| {
                        InvalidBackup::Corrupt(lb, "\"generator\" is not a string".into())
                    })));
                }
            }
            "source" => {
                let source: SourceInfo = map.next_value().map_err(HeadError::Json)?;
                // Each reader builds its own kind; the engine dispatches on
                // the kind before it gets here.
                if source.kind != self.kind {
                    return Err(HeadError::Refused(self.invalid(|lb| {
                        InvalidBackup::NotABackup(
                            lb,
                            format!(
                                "it holds a source of kind '{}', not {}",
                                shown(&source.kind),
                                self.kind
                            ),
                        )
                    })));
                }
                self.source = Some(source);
            }
            _ => return Ok(Key::Body(key)),
        }
        Ok(Key::Head)
    }

    /// Whether the body key `key` has been read (or passed).
    pub(crate) fn passed(&self, key: &str) -> bool {
        let all = HEAD_KEYS.iter().chain(["source"].iter()).chain(self.body);
        all.clone()
            .position(|k| *k == key)
            .is_some_and(|p| p < self.next)
    }

    /// What a JSON error while reading this document means for a person.
    pub(crate) fn classify(&self, e: serde_json::Error) -> Error {
        if e.is_io() {
            let io: io::Error = e.into();
            let inner = io.get_ref();
            if inner.is_some_and(|i| i.is::<guard::Cancelled>()) {
                return Error::Cancelled;
            }
            if inner.is_some_and(|i| i.is::<guard::IntegerTooLarge>()) {
                let d = io.to_string();
                return self.invalid(|l| InvalidBackup::Corrupt(l, d));
            }
            if inner.is_some_and(|i| {
                i.is::<guard::TokenTooLarge>() || i.is::<guard::ExpansionTooLarge>()
            }) {
                let d = io.to_string();
                return self.invalid(|l| InvalidBackup::TooLarge(l, d));
            }
            let d = format!("the compressed data is damaged: {io}");
            return self.invalid(|l| InvalidBackup::Corrupt(l, d));
        }
        if !self.seen_format {
            let d = if e.is_eof() {
                "the file is empty or ends early".to_string()
            } else {
                format!("not a Nuage backup document: {e}")
            };
            return self.invalid(|l| InvalidBackup::NotABackup(l, d));
        }
        let d = if e.is_eof() {
            format!("the document ends early, {e}")
        } else {
            e.to_string()
        };
        self.invalid(|l| InvalidBackup::Corrupt(l, d))
    }
}
