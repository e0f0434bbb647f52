//! PostgreSQL's COPY text format, both ways: rows read from
//! `COPY … TO STDOUT` are split into fields with their escapes undone, and
//! fields are escaped again for `COPY … FROM STDIN`. Text is the format
//! every type has an exact form in (numeric digits, floats with
//! `extra_float_digits = 3`, arrays with their bounds, jsonb, bytea as
//! hex), and the one that does not carry type OIDs from the source server
//! (binary arrays and records do). Written by hand: no crate reads it.
//!
//! Format (PostgreSQL documentation, "COPY", Text Format): one row per
//! line ending in `\n`, fields separated by a tab, NULL written `\N`;
//! a backslash escapes `b f n r t v`, `\\`, an octal byte `\o`–`\ooo`, a
//! hex byte `\xh`/`\xhh`, and stands for itself before any other byte.

use std::io::{self, BufRead, Write};

/// The longest row read into memory; a longer one is refused (a value of
/// that size is not restorable within Nuage's memory bound either).
pub const MAX_ROW: usize = 8 << 20;

/// Reads the next row of `r` into `fields` (`None` for NULL). Returns
/// `false` at the end of the data.
pub fn read_row(
    r: &mut impl BufRead,
    line: &mut Vec<u8>,
    fields: &mut Vec<Option<Vec<u8>>>,
) -> io::Result<bool> {
    line.clear();
    fields.clear();
    let mut limited = io::Read::take(&mut *r, MAX_ROW as u64 + 1);
    let n = limited.read_until(b'\n', line)?;
    if n == 0 {
        return Ok(false);
    }
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            if line.len() > MAX_ROW {
                format!("a row is longer than {} MiB", MAX_ROW >> 20)
            } else {
                "the last row is cut short".to_string()
            },
        ));
    }
    line.pop();
    for raw in line.split(|b| *b == b'\t') {
        if raw == b"\\N" {
            fields.push(None);
        } else {
            fields.push(Some(unescape(raw)?));
        }
    }
    Ok(true)
}

fn unescape(raw: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let Some(&e) = raw.get(i + 1) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a field ends with a lone backslash",
            ));
        };
        i += 2;
        match e {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' if raw.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut v = 0u32;
                for _ in 0..2 {
                    match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Appends the row of one COPY text `line` (without its `\n`) to `out`
/// as a JSON array of strings and nulls, in one pass: escapes undone and
/// JSON's applied byte by byte, with no value built apart (the backup's
/// hot loop; [`read_row`] and a JSON writer give the same, three times
/// slower). Returns `Ok(false)`, leaving `out` as it was, when a value's
/// text in the line (escapes included) is longer than `max_value`: the caller writes that row another
/// way. The caller checks that `out` is UTF-8. A table of no `columns`
/// has empty lines; one of one column, an empty line for `""`.
pub fn line_to_json(
    line: &[u8],
    columns: usize,
    max_value: usize,
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let start = out.len();
    out.push(b'[');
    if columns > 0 {
        for (n, raw) in line.split(|b| *b == b'\t').enumerate() {
            if n > 0 {
                out.push(b',');
            }
            if raw == b"\\N" {
                out.extend_from_slice(b"null");
                continue;
            }
            if raw.len() > max_value {
                out.truncate(start);
                return Ok(false);
            }
            out.push(b'"');
            let mut i = 0;
            while i < raw.len() {
                // A run of bytes that need no escape in either format.
                let run = raw[i..]
                    .iter()
                    .position(|&b| b == b'\\' || b == b'"' || b < 0x20)
                    .unwrap_or(raw.len() - i);
                out.extend_from_slice(&raw[i..i + run]);
                i += run;
                let Some(&b) = raw.get(i) else { break };
                let byte = if b == b'\\' {
                    let Some(&e) = raw.get(i + 1) else {
                        out.truncate(start);
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "a field ends with a lone backslash",
                        ));
                    };
                    i += 2;
                    match e {
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'v' => 11,
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match raw.get(i) {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        i += 1;
                                    }
                                    _ => break,
                                }
                            }
                            v as u8
                        }
                        b'x' if raw.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                            let mut v = 0u32;
                            for _ in 0..2 {
                                match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                                    Some(d) => {
                                        v = v * 16 + d;
                                        i += 1;
                                    }
                                    None => break,
                                }
                            }
                            v as u8
                        }
                        other => other,
                    }
                } else {
                    i += 1;
                    b
                };
                match byte {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    c if c < 0x20 => {
                        out.extend_from_slice(b"\\u00");
                        out.push(HEX[usize::from(c >> 4)]);
                        out.push(HEX[usize::from(c & 15)]);
                    }
                    c => out.push(c),
                }
            }
            out.push(b'"');
        }
    }
    out.push(b']');
    Ok(true)
}

/// Writes one row for `COPY … FROM STDIN`.
pub fn write_row(w: &mut impl Write, fields: &[Option<&[u8]>]) -> io::Result<()> {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            w.write_all(b"\t")?;
        }
        match f {
            None => w.write_all(b"\\N")?,
            Some(bytes) => {
                let mut start = 0;
                for (j, b) in bytes.iter().enumerate() {
                    let esc: &[u8] = match b {
                        b'\\' => b"\\\\",
                        b'\n' => b"\\n",
                        b'\r' => b"\\r",
                        b'\t' => b"\\t",
                        _ => continue,
                    };
                    w.write_all(&bytes[start..j])?;
                    w.write_all(esc)?;
                    start = j + 1;
                }
                w.write_all(&bytes[start..])?;
            }
        }
    }
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(data: &[u8]) -> io::Result<Vec<Vec<Option<Vec<u8>>>>> {
        let mut r = io::Cursor::new(data);
        let (mut line, mut fields, mut rows) = (Vec::new(), Vec::new(), Vec::new());
        while read_row(&mut r, &mut line, &mut fields)? {
            rows.push(fields.clone());
        }
        Ok(rows)
    }

    #[test]
    fn what_postgresql_writes_is_read_back() {
        // As the server writes them: NULL, an empty string, tabs and
        // newlines escaped, a backslash, octal and hex escapes, bytea hex.
        let data = b"1\t\\N\t\ta\\tb\\nc\tback\\\\slash\t\\101\\x42\\x4\t\\\\x00ff\n";
        let rows = read_all(data).unwrap();
        assert_eq!(
            rows,
            vec![vec![
                Some(b"1".to_vec()),
                None,
                Some(b"".to_vec()),
                Some(b"a\tb\nc".to_vec()),
                Some(b"back\\slash".to_vec()),
                Some(b"AB\x04".to_vec()),
                Some(b"\\x00ff".to_vec()),
            ]]
        );
    }

    #[test]
    fn damaged_or_oversized_input_is_refused() {
        assert!(read_all(b"1\t2").is_err(), "cut short");
        assert!(read_all(b"1\tend\\\n").is_err(), "lone backslash");
        let long = vec![b'x'; MAX_ROW + 10];
        let e = read_all(&long).unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
    }

    proptest! {
        #[test]
        fn a_line_becomes_the_json_a_json_writer_makes_of_its_fields(
            row in proptest::collection::vec(
                proptest::option::of(proptest::string::string_regex("(?s).{0,30}").unwrap()), 1..6),
        ) {
            let f: Vec<Option<&[u8]>> = row.iter().map(|v| v.as_deref().map(str::as_bytes)).collect();
            let mut line = Vec::new();
            write_row(&mut line, &f).unwrap();
            line.pop();
            let mut fast = Vec::new();
            prop_assert!(line_to_json(&line, row.len(), 1 << 20, &mut fast).unwrap());
            let back: Vec<Option<String>> = serde_json::from_slice(&fast).unwrap();
            prop_assert_eq!(back, row.clone());
            // A value over the limit is left to the caller, untouched.
            // The limit is on a value's text in the line (escapes count).
            let long = line
                .split(|b| *b == b'\t')
                .any(|f| f != b"\\N" && f.len() > 3);
            let mut out = b"x".to_vec();
            prop_assert_eq!(line_to_json(&line, row.len(), 3, &mut out).unwrap(), !long);
            if long {
                prop_assert_eq!(out, b"x".to_vec());
            }
        }

        #[test]
        fn any_fields_round_trip(rows in proptest::collection::vec(
            proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)), 1..6),
            0..20,
        )) {
            let mut buf = Vec::new();
            for r in &rows {
                let f: Vec<Option<&[u8]>> = r.iter().map(|v| v.as_deref()).collect();
                write_row(&mut buf, &f).unwrap();
            }
            prop_assert_eq!(read_all(&buf).unwrap(), rows);
        }
    }
}
