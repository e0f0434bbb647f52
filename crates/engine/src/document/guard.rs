//! The first defence for reading untrusted backup files, whatever their kind.
//!
//! * [`TokenGuard`] caps the length of any single JSON token (string, number
//!   or whitespace run). `serde_json` buffers a whole string before handing
//!   it over, so without this cap one hostile (or decompression-bomb) string
//!   could take unbounded memory. Legitimate documents never exceed it: big
//!   values are written in chunks of [`crate::format::CHUNK_RAW`] bytes.

use std::io::{self, Read};

/// Longest single token accepted: a 192 KiB chunk is 256 KiB of base64; a
/// text of up to 256 KiB is one string, which escapes can grow six times.
pub const MAX_TOKEN: u64 = 4 << 20;

/// Marker carried by the I/O error a guard raises.
#[derive(Debug)]
pub struct TokenTooLarge;
impl std::fmt::Display for TokenTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a single JSON value is longer than {} MiB",
            MAX_TOKEN >> 20
        )
    }
}
impl std::error::Error for TokenTooLarge {}

/// Marker carried by the I/O error raised when a document expands past
/// what its stored size allows ([`super::limits::max_expanded`]).
#[derive(Debug)]
pub struct ExpansionTooLarge(pub u64);
impl std::fmt::Display for ExpansionTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "it expands to more than {} MiB, over a thousand times its size",
            self.0 >> 20
        )
    }
}
impl std::error::Error for ExpansionTooLarge {}

/// Marker carried by the I/O error raised when the person cancelled.
#[derive(Debug)]
pub struct Cancelled;
impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}
impl std::error::Error for Cancelled {}

pub struct TokenGuard<R> {
    inner: R,
    in_str: bool,
    escaped: bool,
    run: u64,
    /// Digits of the current number token, while it is still an integer.
    int_digits: u32,
    is_float: bool,
}

/// Marker carried by the I/O error raised for an integer literal wider than
/// 64 bits. `serde_json` would silently turn it into a float, so the bytes
/// are checked before they are parsed: a number spelled without `.`, `e`
/// or `E` is an INTEGER in the backup format, and none has over 19 digits.
#[derive(Debug)]
pub struct IntegerTooLarge;
impl std::fmt::Display for IntegerTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an integer is outside SQLite's 64-bit range")
    }
}
impl std::error::Error for IntegerTooLarge {}

impl<R: Read> TokenGuard<R> {
    pub fn new(inner: R) -> Self {
        TokenGuard {
            inner,
            in_str: false,
            escaped: false,
            run: 0,
            int_digits: 0,
            is_float: false,
        }
    }

    /// At the end of a token: an integer literal of over 19 digits cannot
    /// be a 64-bit integer.
    fn end_number(&mut self) -> io::Result<()> {
        let too_wide = !self.is_float && self.int_digits > 19;
        self.int_digits = 0;
        self.is_float = false;
        if too_wide {
            return Err(io::Error::new(io::ErrorKind::InvalidData, IntegerTooLarge));
        }
        Ok(())
    }

    fn scan(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut i = 0;
        while i < buf.len() {
            if self.in_str {
                if self.escaped {
                    self.escaped = false;
                    self.run += 1;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                    None => {
                        self.run += (buf.len() - i) as u64;
                        i = buf.len();
                    }
                    Some(j) => {
                        self.run += j as u64;
                        if self.run > MAX_TOKEN {
                            return Err(io::Error::new(io::ErrorKind::InvalidData, TokenTooLarge));
                        }
                        if buf[i + j] == b'"' {
                            self.in_str = false;
                            self.run = 0;
                        } else {
                            self.escaped = true;
                        }
                        i += j + 1;
                    }
                }
            } else {
                match buf[i] {
                    b'"' => {
                        self.in_str = true;
                        self.run = 0;
                    }
                    b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                        self.end_number()?;
                        self.run = 0;
                    }
                    b' ' | b'\t' | b'\n' | b'\r' => {
                        self.end_number()?;
                        self.run += 1;
                    }
                    b'0'..=b'9' => {
                        self.run += 1;
                        self.int_digits = self.int_digits.saturating_add(1);
                    }
                    b'.' | b'e' | b'E' => {
                        self.run += 1;
                        self.is_float = true;
                    }
                    _ => self.run += 1,
                }
                i += 1;
            }
            if self.run > MAX_TOKEN {
                return Err(io::Error::new(io::ErrorKind::InvalidData, TokenTooLarge));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for TokenGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.scan(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_wider_than_64_bits_are_refused_before_parsing() {
        let pass =
            |doc: &str| io::copy(&mut TokenGuard::new(doc.as_bytes()), &mut io::sink()).is_ok();
        assert!(pass(
            "[9223372036854775807, -9223372036854775808, 1e300, 12345678901234567890123.5, \"99999999999999999999999\"]"
        ));
        assert!(!pass("[1, 99999999999999999999999]"));
        assert!(!pass("[-99999999999999999999]"));
    }

    #[test]
    fn guard_caps_single_tokens_but_not_documents() {
        let long_string = format!("[\"{}\"]", "a".repeat(MAX_TOKEN as usize + 10));
        let mut g = TokenGuard::new(long_string.as_bytes());
        let err = io::copy(&mut g, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("longer than"));

        let spaces = format!("[{}1]", " ".repeat(MAX_TOKEN as usize + 10));
        assert!(io::copy(&mut TokenGuard::new(spaces.as_bytes()), &mut io::sink()).is_err());

        let many: String = std::iter::repeat_n("\"ab\\\"c\",", 3_000_000).collect();
        let doc = format!("[{many}1]");
        assert!(doc.len() as u64 > MAX_TOKEN);
        io::copy(&mut TokenGuard::new(doc.as_bytes()), &mut io::sink()).unwrap();
    }
}
