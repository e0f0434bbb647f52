//! Small helpers: time, random identifiers, globbing, percent-decoding.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2015-01-29T09:21:55.523Z`.
pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `2024-01-01 00:00:00Z`, the STS timestamp format.
pub fn sts_timestamp() -> String {
    Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// A random lower-case GUID (not seeded: only used in diagnostics).
pub fn guid() -> String {
    guid_with(&mut fastrand::Rng::new())
}

pub fn guid_with(rng: &mut fastrand::Rng) -> String {
    let h = |rng: &mut fastrand::Rng, n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
            .collect()
    };
    format!(
        "{}-{}-{}-{}-{}",
        h(rng, 8),
        h(rng, 4),
        h(rng, 4),
        h(rng, 4),
        h(rng, 12)
    )
}

/// `n` random characters from `alphabet`.
pub fn random_from(rng: &mut fastrand::Rng, alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| alphabet[rng.usize(0..alphabet.len())] as char)
        .collect()
}

pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const TOKEN_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub const HEX: &[u8] = b"0123456789abcdef";
/// Letters without look-alikes, as in real user codes.
pub const USER_CODE_CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Whether `s` looks like a GUID (8-4-4-4-12 hex digits).
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Glob match where `*` matches any run of characters (including `/`).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Percent-decodes one path segment (RFC 3986: `+` stays a plus).
pub fn decode_segment(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Percent-encodes one path segment.
pub fn encode_segment(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'!')
        .remove(b'$')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')')
        .remove(b',')
        .remove(b';')
        .remove(b'=')
        .remove(b'@');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// Parses a query string into (key, value) pairs (form decoding).
pub fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    match q {
        Some(q) => form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "/v1.0/me"));
        assert!(glob_match("/_upload/*", "/_upload/abc"));
        assert!(!glob_match("/_upload/*", "/v1.0/_upload/abc"));
        assert!(glob_match("*/content", "/v1.0/me/drive/root:/a:/content"));
        assert!(glob_match("/v1.0/me", "/v1.0/me"));
        assert!(!glob_match("/v1.0/me", "/v1.0/me/drive"));
        assert!(glob_match(
            "/v1.0/*/children*",
            "/v1.0/me/drive/root/children"
        ));
    }

    #[test]
    fn guids() {
        let mut rng = fastrand::Rng::with_seed(1);
        assert!(is_guid(&guid_with(&mut rng)));
        assert!(!is_guid("nuage"));
    }
}
