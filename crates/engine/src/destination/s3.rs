//! S3-compatible object storage (Cloudflare R2, AWS S3, Backblaze B2,
//! Wasabi, MinIO): the third [`Destination`]. Requests are signed with
//! `rusty-s3` (sans-IO SigV4, presigned, `UNSIGNED-PAYLOAD`) and sent with
//! the blocking `reqwest` client the project already uses; bodies stream
//! from the file, never held whole in memory.
//!
//! What every provider gets, because Cloudflare R2 demands it:
//! - no `x-amz-checksum-*` header or trailer (the AWS SDKs' 2025 default
//!   broke R2): each body carries `Content-MD5`, which the server checks;
//! - multipart parts all of one size but the last, that size chosen once
//!   per upload and kept in the upload journal with its id, so a resume
//!   never changes it.
//!
//! An upload first reads the file once for its MD5s (per part) and its
//! QuickXorHash; the server's ETag must then equal the MD5 (one PUT) or the
//! MD5 of the parts' MD5s with `-N` (multipart), or the copy is not
//! recorded as verified. The expected ETag and the QuickXorHash go with the
//! object as metadata, so a later look (`file_info`) can tell an object
//! Nuage stored from one replaced behind its back. A multipart upload
//! interrupted (even by kill -9) continues from the parts the server lists
//! (`ListParts`), each checked against the local file's MD5: at most the
//! part in flight is sent again. Uploads left behind for a key are aborted
//! (they cost money on every provider) before a new one starts, and each
//! run aborts those started [`ABANDONED_AFTER`] ago or more below a
//! source's folder ([`Destination::sweep_uploads`]).
//!
//! Throttling (`503 SlowDown`, 429), server errors and dropped connections
//! go through the project's one retry policy ([`nuage_graph::retry`]); a
//! clock that is off (`RequestTimeTooSkewed`) is corrected from the
//! server's `Date` once per request and said in the log.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use instant_xml::FromXml;
use md5::{Digest, Md5};
use nuage_graph::QuickXorHash;
// The largest answer read into memory, and its reader: the Graph client's.
use nuage_graph::client::{MAX_ANSWER, read_capped};
use nuage_graph::retry::{Backoff, Budget, Decision, RetryConfig, Step};
use reqwest::blocking::{Body, Client, RequestBuilder, Response};
use rusty_s3::actions::{CreateMultipartUpload, ListObjectsV2, ListParts};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde::{Deserialize, Serialize};

use super::{
    Capabilities, Destination, RemoteFile, UploadJournal, UploadSession, point_id_of, tree_path,
};
use crate::error::{Error, ErrorCode, Result};

/// How long a signed request stays valid: long enough for a slow part.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// The smallest part Nuage sends (S3 and R2 refuse parts under 5 MiB but
/// the last); larger files get larger parts, to stay within 10,000.
pub const DEFAULT_PART_SIZE: u64 = 16 << 20;
const MAX_PARTS: u64 = 10_000;
/// The largest object CopyObject copies (S3's limit).
const MAX_COPY_OBJECT: u64 = 5 << 30;
/// Listings are read a page at a time; more entries than this under one
/// folder are refused rather than listed whole (as the other destinations).
const MAX_LISTED: usize = 100_000;
/// The most bytes of names (keys, ids) a listing keeps: 100,000 entries of
/// about 160 bytes. S3 keys are at most 1024 bytes; a longer one is refused.
const MAX_LISTED_BYTES: usize = 16 << 20;
const MAX_KEY: usize = 1024;
/// Listings are read at most this many pages deep: a server that keeps
/// answering "more follows" (with pages empty or nearly) is refused.
const MAX_PAGES: usize = 1000;
/// Journal entries of this destination start with this.
const SESSION: &str = "s3-multipart:";

/// Where an S3 destination is, as stored in the state database (the secret
/// access key is in the keychain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Settings {
    /// `https://<account>.r2.cloudflarestorage.com`, `https://s3.eu-west-1.amazonaws.com`,
    /// `http://nas.local:9000`.
    pub endpoint: String,
    pub bucket: String,
    /// Folders go below this (`backups/shop/…`); empty: at the top.
    #[serde(default)]
    pub prefix: String,
    pub region: String,
    pub access_key_id: String,
    /// `https://endpoint/bucket/key` (MinIO, R2, any custom endpoint)
    /// rather than `https://bucket.endpoint/key` (AWS).
    pub path_style: bool,
    /// S3 Object Lock: each copy retained (COMPLIANCE) this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_days: Option<u32>,
}

/// Where a bucket is, as a person names it: a preset or an endpoint. The
/// CLI's flags and the app's form both come down to this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum S3Where {
    /// Cloudflare R2: `https://ACCOUNT.r2.cloudflarestorage.com`, region
    /// `auto`, path-style.
    R2 { account: String },
    /// AWS S3 in a region: `https://s3.REGION.amazonaws.com`,
    /// virtual-hosted.
    Aws { region: String },
    /// Any other endpoint (MinIO, B2, Wasabi, a NAS): path-style unless
    /// asked otherwise; region `us-east-1` unless given.
    Custom {
        endpoint: String,
        region: Option<String>,
        #[serde(default)]
        virtual_host: bool,
    },
}

/// What a person gives to set an S3 destination (the secret apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct S3Form {
    #[serde(rename = "where")]
    #[ts(rename = "where")]
    pub at: S3Where,
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    pub access_key_id: String,
    #[serde(default)]
    pub lock_days: Option<u32>,
}

impl S3Form {
    /// The settings the form gives, after checking what the presets build
    /// addresses from (an account id, a region), so that a mistyped one is
    /// named as what it is, not as an endpoint the person never typed.
    pub fn settings(&self) -> Result<S3Settings> {
        let bucket = self.bucket.trim().to_string();
        let (endpoint, region, path_style) = match &self.at {
            S3Where::R2 { account } => {
                let account = account.trim();
                if account.len() != 32 || !account.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::Invalid(format!(
                        "'{}' is not a Cloudflare account ID: it is 32 letters and digits (0-9, a-f), shown in the R2 overview of the Cloudflare dashboard",
                        crate::document::shown(account)
                    )));
                }
                (
                    format!(
                        "https://{}.r2.cloudflarestorage.com",
                        account.to_ascii_lowercase()
                    ),
                    "auto".to_string(),
                    true,
                )
            }
            S3Where::Aws { region } => {
                let region = region.trim();
                if !(2..=32).contains(&region.len())
                    || !region.contains('-')
                    || !region
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    return Err(Error::Invalid(format!(
                        "'{}' is not an AWS region: give its code, such as eu-west-3 or us-east-1",
                        crate::document::shown(region)
                    )));
                }
                (
                    format!("https://s3.{region}.amazonaws.com"),
                    region.to_string(),
                    // A bucket name with dots is not covered by AWS's
                    // certificate as a host name: addressed by path.
                    bucket.contains('.'),
                )
            }
            S3Where::Custom {
                endpoint,
                region,
                virtual_host,
            } => (
                endpoint.trim().trim_end_matches('/').to_string(),
                region
                    .as_deref()
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .unwrap_or("us-east-1")
                    .to_string(),
                !virtual_host,
            ),
        };
        Ok(S3Settings {
            endpoint,
            bucket,
            prefix: self
                .prefix
                .trim()
                .split('/')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("/"),
            region,
            access_key_id: self.access_key_id.trim().to_string(),
            path_style,
            lock_days: self.lock_days,
        })
    }
}

/// Whether `url`'s host is this computer or one of the local network
/// (a private, link-local or carrier-grade NAT address — a VPN such as
/// Tailscale —, a name without a dot, or under a suffix home and office
/// networks use: `.local`, `.lan`, `.home.arpa`, `.internal`, `.home`,
/// `.localdomain`, `.fritz.box`): where plain http is a choice, not a leak
/// across the internet.
fn local_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => {
            let [a, b, ..] = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || (a == 100 && (64..128).contains(&b))
        }
        Some(url::Host::Ipv6(ip)) => {
            let first = ip.segments()[0];
            ip.is_loopback() || first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80
        }
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            !d.contains('.')
                || [
                    ".local",
                    ".lan",
                    ".home.arpa",
                    ".internal",
                    ".localhost",
                    ".home",
                    ".localdomain",
                    ".fritz.box",
                ]
                .iter()
                .any(|tld| d.ends_with(tld))
        }
        None => false,
    }
}

impl S3Settings {
    /// "S3 bucket nuage at https://…/backups".
    pub fn label(&self) -> String {
        let mut at = format!("S3 bucket {} at {}", self.bucket, self.endpoint);
        if !self.prefix.is_empty() {
            at.push_str(&format!(" (under {})", self.prefix));
        }
        at
    }

    /// Checks what a person typed: an http(s) endpoint without a path, a
    /// bucket name S3 accepts, a prefix of plain folder names.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Invalid(what));
        let url = url::Url::parse(&self.endpoint).map_err(|e| {
            Error::Invalid(format!(
                "the endpoint '{}' is not an address ({e}): give it as https://host[:port]",
                self.endpoint
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return bad(format!(
                "the endpoint '{}' must be an http:// or https:// address",
                self.endpoint
            ));
        }
        if url.path() != "/" && !url.path().is_empty() || url.query().is_some() {
            return bad(format!(
                "the endpoint '{}' must not hold a path: it is the server's address alone, and the bucket and its folders (the prefix) are given apart",
                self.endpoint
            ));
        }
        let b = &self.bucket;
        let ok = (3..=63).contains(&b.len())
            && b.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
            && !b.starts_with(['-', '.'])
            && !b.ends_with(['-', '.']);
        if !ok {
            return bad(format!(
                "'{}' is not a bucket name: 3 to 63 lower-case letters, digits, '-' or '.', beginning and ending with a letter or digit",
                crate::document::shown(b)
            ));
        }
        for seg in self.prefix.split('/').filter(|s| !s.is_empty()) {
            if seg == "." || seg == ".." || seg.contains('\\') || seg.len() > 255 {
                return bad(format!(
                    "'{}' is not a folder prefix: folder names separated by '/', none of them '.', '..' or holding '\\'",
                    crate::document::shown(&self.prefix)
                ));
            }
        }
        if self.region.is_empty() || self.access_key_id.trim().is_empty() {
            return bad("the region and the access key id cannot be empty".into());
        }
        Ok(())
    }

    /// [`S3Settings::validate`], and what a destination being set must also
    /// be (a saved one keeps working if these rules grow): plain http only
    /// to this computer or the local network; a bucket name no provider
    /// refuses, reachable as it is addressed.
    pub fn validate_new(&self) -> Result<()> {
        self.validate()?;
        let bad = |what: String| Err(Error::Invalid(what));
        let url = url::Url::parse(&self.endpoint).map_err(|e| Error::Invalid(e.to_string()))?;
        if url.scheme() == "http" && !local_host(&url) {
            return bad(format!(
                "the endpoint '{}' is plain http:// to a server on the internet: backups would travel unencrypted and could be read or changed on the way. Give its https:// address; plain http:// is only for a server on this computer or the local network, given by its local address (such as http://192.168.1.10:9000) or local name",
                self.endpoint
            ));
        }
        let b = &self.bucket;
        let ip_shaped = b.split('.').count() == 4
            && b.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
        if b.contains("..")
            || ip_shaped
            || b.starts_with("xn--")
            || b.ends_with("-s3alias")
            || b.ends_with("--ol-s3")
        {
            return bad(format!(
                "'{}' is not a bucket name: no '..', not shaped like an IP address, not beginning with 'xn--' or ending with '-s3alias'",
                crate::document::shown(b)
            ));
        }
        if b.contains('.') && !self.path_style && url.scheme() == "https" {
            return bad(format!(
                "the bucket '{b}' holds '.', so virtual-hosted addressing over https cannot reach it (the provider's certificate does not cover such a host name): use path-style addressing, or a bucket without dots"
            ));
        }
        Ok(())
    }
}

/// Where the secret access key is kept: the keychain, per home.
pub(crate) fn secret_slot<'a>(
    home: &'a Path,
    config: &'a crate::config::Config,
) -> crate::secret::Slot<'a> {
    crate::secret::Slot {
        home,
        settings: &config.graph,
        kind: nuage_graph::tokens::Kind::DestinationSecret,
        key: format!("{}.s3", nuage_graph::tokens::key_for_home(home)),
        what: "the S3 secret access key",
    }
}

/// What a look at an S3 bucket found (`nuage destination s3`, the app's
/// "test"): every step a backup needs worked, and what it could not use.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct S3Probe {
    /// "S3 bucket … at …"
    pub destination: String,
    /// `path` (`https://endpoint/bucket/key`) or `virtual-host`
    /// (`https://bucket.endpoint/key`).
    pub addressing: String,
    /// S3 Object Lock, in words: `enabled`, `not available` (with why), or
    /// `not asked for`.
    pub object_lock: String,
    /// The same, for a front end to say in the person's language, with the
    /// provider's reason when it is not available.
    pub lock: LockFound,
    pub lock_why: Option<String>,
    /// Copies are written with a retention of this many days.
    pub lock_days: Option<u32>,
    /// The bucket, its endpoint and its folder prefix (for a label in the
    /// person's language).
    pub bucket: String,
    pub endpoint: String,
    pub prefix: String,
    /// The computer's clock was this many seconds off the provider's
    /// (corrected when signing; worth setting right).
    pub clock_off_seconds: i64,
}

/// What a probe found of S3 Object Lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum LockFound {
    /// Asked for and enabled on the bucket: copies get a retention.
    Enabled,
    /// On the bucket, not asked for.
    Available,
    /// Asked for, not offered by the bucket: copies have no retention.
    Unavailable,
    /// Neither asked for nor on the bucket.
    NotAsked,
}

/// What a listing found directly below a prefix: files (name, size), and
/// folders.
type Listing = (Vec<(String, u64)>, Vec<String>);

/// S3's XML namespace, which its answers carry.
const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// One page of a `ListMultipartUploads` answer (rusty-s3 has no action for
/// it; its XML crate reads the answer).
#[derive(Debug, FromXml)]
#[xml(rename = "ListMultipartUploadsResult", ns(S3_NS))]
struct UploadsPage {
    uploads: Vec<UploadEntry>,
    #[xml(rename = "IsTruncated")]
    is_truncated: Option<bool>,
    #[xml(rename = "NextKeyMarker")]
    next_key_marker: Option<String>,
    #[xml(rename = "NextUploadIdMarker")]
    next_upload_id_marker: Option<String>,
}

/// A multipart upload in progress.
#[derive(Debug, FromXml)]
#[xml(rename = "Upload", ns(S3_NS))]
struct UploadEntry {
    #[xml(rename = "Key")]
    key: String,
    #[xml(rename = "UploadId")]
    upload_id: String,
    #[xml(rename = "Initiated")]
    initiated: Option<String>,
}

/// A multipart upload started longer ago than this (by the provider's
/// clock) is abandoned: no run continues one that long (R2 aborts them
/// after as long itself; AWS keeps them, and bills them, until aborted).
pub const ABANDONED_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Whether a bucket has S3 Object Lock, or why not.
enum ObjectLock {
    Enabled,
    Unavailable(&'static str),
}

/// A request's failure, as the server or the network said it.
#[derive(Debug)]
struct Failure {
    status: Option<u16>,
    code: String,
    message: String,
}

pub struct S3Destination {
    settings: S3Settings,
    bucket: Bucket,
    creds: Credentials,
    /// `""` or `backups/` (ends with '/').
    prefix: String,
    http: Client,
    retry: RetryConfig,
    budget: Budget,
    /// Seconds the server's clock is ahead of this computer's (corrected
    /// from a `RequestTimeTooSkewed` answer).
    skew: i64,
    part_size: u64,
}

/// What the first read of a file found: its MD5s and QuickXorHash.
struct Hashed {
    size: u64,
    part_size: u64,
    /// Raw MD5 of each part (one for a single PUT).
    parts: Vec<[u8; 16]>,
    quickxor: String,
}

impl Hashed {
    fn multipart(&self) -> bool {
        self.size > self.part_size
    }

    /// The ETag S3 gives what Nuage sends: the MD5, or the MD5 of the
    /// parts' MD5s and their count.
    fn etag(&self) -> String {
        if !self.multipart() {
            return hex(&self.parts[0]);
        }
        let mut all = Md5::new();
        for p in &self.parts {
            all.update(p);
        }
        format!("{}-{}", hex(&all.finalize().into()), self.parts.len())
    }

    fn part_len(&self, n: usize) -> u64 {
        let start = n as u64 * self.part_size;
        self.part_size.min(self.size - start)
    }
}

fn hex(b: &[u8; 16]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn b64(b: &[u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The part size for a file: the default, or larger so that it takes at
/// most 10,000 parts (rounded up to a MiB).
fn part_size_for(size: u64, default: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS).div_ceil(1 << 20) << 20;
    default.max(needed)
}

/// Reads `local` once: its size, each part's MD5, the QuickXorHash.
fn hash_file(local: &Path, part_size: u64) -> Result<Hashed> {
    let f = File::open(local).map_err(|e| Error::io("read", local, e))?;
    let size = f.metadata().map_err(|e| Error::io("read", local, e))?.len();
    let part_size = part_size_for(size, part_size);
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut qx = QuickXorHash::new();
    let mut parts = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    loop {
        let mut md5 = Md5::new();
        let mut in_part = part_size.min(left);
        while in_part > 0 {
            let want = (in_part as usize).min(buf.len());
            r.read_exact(&mut buf[..want])
                .map_err(|e| Error::io("read", local, e))?;
            md5.update(&buf[..want]);
            qx.update(&buf[..want]);
            in_part -= want as u64;
            left -= want as u64;
        }
        parts.push(md5.finalize().into());
        if left == 0 {
            break;
        }
    }
    Ok(Hashed {
        size,
        part_size,
        parts,
        quickxor: qx.to_base64(),
    })
}

/// Text of an S3 XML answer's element (`<Code>…</Code>`); enough for the
/// error bodies, whose shape is fixed.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

/// `text` with every URL in it replaced: a presigned URL (its signature)
/// lets whoever reads it act on the bucket for an hour.
fn without_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        out.push_str(&rest[..at]);
        out.push_str("(a URL)");
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>'))
            .map_or(rest.len(), |e| at + e);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// An ETag as XML carries it (`&quot;…&quot;` or `"…"`), bare.
fn unquoted(etag: &str) -> String {
    etag.replace("&quot;", "").trim_matches('"').to_string()
}

/// An error body, as much of it as arrives (up to [`MAX_ANSWER`]): only
/// its code and message are read.
fn error_body(r: impl Read) -> String {
    let mut body = Vec::new();
    let _ = r.take(MAX_ANSWER).read_to_end(&mut body);
    String::from_utf8_lossy(&body).into_owned()
}

/// An answer read whole, with what of its headers Nuage uses.
struct Answer {
    status: u16,
    /// The server's `Date`.
    date: Option<jiff::Timestamp>,
    body: String,
}

/// The server's time (its `Date`), in seconds since the epoch.
fn server_date(resp: &Response) -> Option<i64> {
    let date = resp.headers().get("date")?.to_str().ok()?;
    chrono::DateTime::parse_from_rfc2822(date)
        .ok()
        .map(|d| d.timestamp())
}

/// An answer's ETag, bare.
fn etag_of(resp: &Response) -> Option<String> {
    resp.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(unquoted)
}

/// Reads an answer's body whole: an error when the connection is cut
/// before its end, or when it is larger than [`MAX_ANSWER`].
fn read_answer(resp: Response) -> std::io::Result<Answer> {
    let status = resp.status().as_u16();
    let date = server_date(&resp).and_then(|d| jiff::Timestamp::from_second(d).ok());
    let body = read_capped(resp)?;
    Ok(Answer {
        status,
        date,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

impl S3Destination {
    pub fn new(
        settings: &S3Settings,
        secret: &str,
        retry_budget: Duration,
    ) -> Result<S3Destination> {
        settings.validate()?;
        let endpoint: url::Url = settings
            .endpoint
            .parse()
            .map_err(|e| Error::Invalid(format!("the endpoint is not an address: {e}")))?;
        let style = if settings.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            endpoint,
            style,
            settings.bucket.clone(),
            settings.region.clone(),
        )
        .map_err(|e| Error::Invalid(format!("the bucket cannot be addressed: {e}")))?;
        let creds = Credentials::new(settings.access_key_id.clone(), secret.to_string());
        let prefix = settings
            .prefix
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| format!("{s}/"))
            .collect();
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(20))
            // Per request: a 16 MiB part within 5 minutes (55 kB/s); a
            // longer download is continued from where it stopped.
            .timeout(Duration::from_secs(300))
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("nuage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Invalid(format!("the HTTP client cannot start: {e}")))?;
        Ok(S3Destination {
            settings: settings.clone(),
            bucket,
            creds,
            prefix,
            http,
            retry: RetryConfig::default(),
            budget: Budget::new(Instant::now(), retry_budget),
            skew: 0,
            part_size: DEFAULT_PART_SIZE,
        })
    }

    /// The settings, with Object Lock as a probe found it.
    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    /// Tries every step a backup needs, each named when it fails: write a
    /// small object, read it back, list, delete it; then asks whether the
    /// bucket has S3 Object Lock. Asked for and not available (R2 has
    /// bucket lock rules instead, outside the S3 API), it is said and the
    /// copies are written without a retention, rather than failing.
    pub fn probe(&mut self) -> Result<S3Probe> {
        let key = format!("{}.nuage-probe-{:016x}", self.prefix, fastrand::u64(..));
        let body = format!("written by Nuage to check the bucket; deleted at once ({key})");
        let step = |what: &str, e: Error| match e {
            Error::Destination { code, message } => Error::Destination {
                code,
                message: format!("could not {what}: {message}"),
            },
            e => e,
        };
        let md5: [u8; 16] = Md5::digest(body.as_bytes()).into();
        let md5_hex = hex(&md5);
        let md5 = b64(&md5);
        let written = self
            .send(&[], &mut |d, t| {
                let mut a = d.bucket.put_object(Some(&d.creds), &key);
                a.headers_mut().insert("content-md5", md5.clone());
                Ok(d.http
                    .put(a.sign_with_time(SIGNED_FOR, &t))
                    .header("content-md5", &md5)
                    .body(body.clone()))
            })
            .map_err(|e| step("write an object", e))?;
        let etag = etag_of(&written);
        let checked = self.probe_read_and_list(&key, &body, &step).and_then(|()| {
            // Every copy is verified by its ETag: one that is not the MD5
            // of what was sent (SSE-KMS) would fail every backup.
            match etag {
                Some(e) if e == md5_hex => Ok(()),
                _ => {
                    let kms = self.kms(&key);
                    Err(self.unverifiable(kms))
                }
            }
        });
        let deleted = self
            .delete_key(&key)
            .map_err(|e| step("delete (retention needs it)", e));
        checked?;
        deleted?;
        let lock = self.object_lock()?;
        let (object_lock, found, why, lock_days) = match (self.settings.lock_days, lock) {
            (Some(days), ObjectLock::Enabled) => {
                ("enabled".to_string(), LockFound::Enabled, None, Some(days))
            }
            (Some(_), ObjectLock::Unavailable(why)) => (
                format!("not available ({why}); copies are written without a retention"),
                LockFound::Unavailable,
                Some(why.to_string()),
                None,
            ),
            (None, ObjectLock::Enabled) => (
                "available on the bucket, not asked for: copies are written without a retention"
                    .into(),
                LockFound::Available,
                None,
                None,
            ),
            (None, ObjectLock::Unavailable(_)) => {
                ("not asked for".into(), LockFound::NotAsked, None, None)
            }
        };
        self.settings.lock_days = lock_days;
        Ok(S3Probe {
            lock: found,
            lock_why: why,
            bucket: self.settings.bucket.clone(),
            endpoint: self.settings.endpoint.clone(),
            prefix: self.settings.prefix.clone(),
            destination: self.settings.label(),
            addressing: if self.settings.path_style {
                "path".into()
            } else {
                "virtual-host".into()
            },
            object_lock,
            lock_days,
            clock_off_seconds: self.skew,
        })
    }

    /// The probe's object `key` reads back as `body` (no more) and is
    /// listed.
    fn probe_read_and_list(
        &mut self,
        key: &str,
        body: &str,
        step: &dyn Fn(&str, Error) -> Error,
    ) -> Result<()> {
        let other_bytes = |d: &Self| Error::Destination {
            code: ErrorCode::HashMismatch,
            message: format!(
                "{} gave back other bytes than were written: it cannot keep backups",
                d.settings.label()
            ),
        };
        let mut got = crate::fsutil::Limited::new(Vec::new(), body.len() as u64);
        let shown = key.to_string();
        match self.get(key, &mut got, &|| Error::Destination {
            code: ErrorCode::DestinationUnavailable,
            message: format!("{shown} was written but cannot be found"),
        }) {
            Ok(_) => {}
            // Writing into memory fails only past what was written.
            Err(Error::Io { .. }) => return Err(other_bytes(self)),
            Err(e) => return Err(step("read back what was written", e)),
        }
        if got.into_inner() != body.as_bytes() {
            return Err(other_bytes(self));
        }
        let prefix = self.prefix.clone();
        let (listed, _) = self
            .list_keys(&prefix)
            .map_err(|e| step("list the bucket", e))?;
        if !listed.iter().any(|(k, _)| format!("{prefix}{k}") == key) {
            return Err(Error::Destination {
                code: ErrorCode::DestinationUnavailable,
                message: format!(
                    "{} does not list what was written to it: it cannot be used for backups",
                    self.settings.label()
                ),
            });
        }
        Ok(())
    }

    /// Whether the bucket has S3 Object Lock (`GET ?object-lock`), or why
    /// not.
    fn object_lock(&mut self) -> Result<ObjectLock> {
        let Answer { status, body, .. } = self
            .send_read(&[400, 403, 404, 405, 501], &mut |d, t| {
                Ok(d.http.get(d.bucket_get(&t, &[("object-lock", "")])))
            })?;
        Ok(match status {
            200 if body.contains("<ObjectLockEnabled>Enabled</ObjectLockEnabled>") => {
                ObjectLock::Enabled
            }
            200 | 404 => ObjectLock::Unavailable(
                "the bucket has no Object Lock; it can only be turned on when a bucket is created",
            ),
            403 => {
                ObjectLock::Unavailable("the key may not read the bucket's Object Lock settings")
            }
            _ => ObjectLock::Unavailable(
                "the provider does not offer S3 Object Lock (Cloudflare R2 has bucket lock rules instead, set in its dashboard)",
            ),
        })
    }

    /// Parts of this size (tests use small ones; at least 5 MiB for S3).
    pub fn with_part_size(mut self, bytes: u64) -> S3Destination {
        self.part_size = bytes.max(1);
        self
    }

    /// Retries faster (tests).
    pub fn with_retry(mut self, retry: RetryConfig) -> S3Destination {
        self.retry = retry;
        self
    }

    fn key(&self, folder: &str, name: &str) -> Result<String> {
        if point_id_of(name).is_none() || !crate::source::valid_source_name(folder) {
            return Err(Error::Invalid(format!(
                "'{folder}/{name}' is not a file Nuage creates"
            )));
        }
        Ok(format!("{}{folder}/{name}", self.prefix))
    }

    fn tree_key(&self, path: &str) -> Result<String> {
        Ok(format!("{}{}", self.prefix, tree_path(path)?.join("/")))
    }

    fn now(&self) -> jiff::Timestamp {
        let t = jiff::Timestamp::now();
        t.checked_add(jiff::SignedDuration::from_secs(self.skew))
            .unwrap_or(t)
    }

    fn error(&self, f: &Failure) -> Error {
        let what = self.settings.label();
        let (code, advice) = match (f.status, f.code.as_str()) {
            (_, "InvalidAccessKeyId") => (
                ErrorCode::InvalidInput,
                "the access key id is not known to the provider: check it, then set the destination again".to_string(),
            ),
            (_, "SignatureDoesNotMatch") => (
                ErrorCode::InvalidInput,
                "the secret access key does not match the access key id: set the destination again with the right secret".into(),
            ),
            // AWS answers a signature from a clock far off as expired or
            // "not yet valid" (presigned requests), others as skewed.
            (_, "RequestTimeTooSkewed") | (Some(403), "AccessDenied")
                if f.code == "RequestTimeTooSkewed"
                    || f.message.contains("expired")
                    || f.message.contains("not yet valid")
                    || f.message.contains("not valid yet") =>
            (
                ErrorCode::InvalidInput,
                "this computer's clock is too far from the provider's: set the clock (turn on automatic time), then try again".into(),
            ),
            (_, "PermanentRedirect" | "IllegalLocationConstraintException" | "AuthorizationHeaderMalformed")
            | (Some(301), _)
                if f.code != "AuthorizationHeaderMalformed" || f.message.contains("region") =>
            (
                ErrorCode::InvalidInput,
                "the bucket is in another region than the one set: set the destination again with the bucket's region".into(),
            ),
            (_, "NoSuchBucket") => (
                ErrorCode::DestinationUnavailable,
                format!(
                    "the bucket {} does not exist at this endpoint: check its name and the endpoint (or region)",
                    self.settings.bucket
                ),
            ),
            (_, "AccessDenied" | "AllAccessDisabled") | (Some(403), _) => (
                ErrorCode::DestinationUnavailable,
                "the key may not do this in the bucket: give it read, write, list and delete rights on the bucket".into(),
            ),
            (_, "QuotaExceeded" | "StorageQuotaExceeded") => (
                ErrorCode::DestinationFull,
                "the bucket's storage quota is used up: free space or raise the quota".into(),
            ),
            (_, "SlowDown") | (Some(429 | 503), _) => (
                ErrorCode::Throttled,
                "the provider asks to slow down; Nuage will try again at the next run".into(),
            ),
            (None, _) => (
                ErrorCode::Offline,
                "the provider cannot be reached: check the network (and the endpoint); Nuage will try again".into(),
            ),
            _ => (
                ErrorCode::DestinationUnavailable,
                "Nuage will try again at the next run; if it persists, check the provider's status".into(),
            ),
        };
        // The server's words, as many as a person reads, without control
        // characters (a terminal's escapes) or URLs (a presigned one opens
        // the bucket).
        let words = |t: &str| -> String {
            let t = without_urls(t);
            let mut clean: String = t.chars().filter(|c| !c.is_control()).take(300).collect();
            if t.chars().count() > 300 {
                clean.push('…');
            }
            clean
        };
        let said = match f.status {
            Some(s) => format!("{s} {}: {}", words(&f.code), words(&f.message)),
            None => words(&f.message),
        };
        Error::Destination {
            code,
            message: format!("{what} answered {said}; {advice}."),
        }
    }

    /// Sends a request made by `make` (signed at the time given, with a
    /// fresh body each attempt) until it succeeds, through the retry
    /// policy. `ok` lists the statuses that are answers (404 for a look
    /// that may find nothing).
    fn send(
        &mut self,
        ok: &[u16],
        make: &mut dyn FnMut(&Self, jiff::Timestamp) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        self.send_then(ok, make, &mut Ok)
    }

    /// [`Self::send`], reading the answer whole: one cut before its end
    /// goes through the retry policy as a dropped connection; one larger
    /// than [`MAX_ANSWER`] is refused.
    fn send_read(
        &mut self,
        ok: &[u16],
        make: &mut dyn FnMut(&Self, jiff::Timestamp) -> Result<RequestBuilder>,
    ) -> Result<Answer> {
        self.send_then(ok, make, &mut read_answer)
    }

    /// Sends until an answer `take` accepts: `take` reads what it needs
    /// of a successful answer (an I/O error there is a dropped connection).
    fn send_then<T>(
        &mut self,
        ok: &[u16],
        make: &mut dyn FnMut(&Self, jiff::Timestamp) -> Result<RequestBuilder>,
        take: &mut dyn FnMut(Response) -> std::io::Result<T>,
    ) -> Result<T> {
        let mut backoff = Backoff::new(self.retry);
        let mut corrected = false;
        loop {
            let req = make(self, self.now())?;
            let (decision, failure) = match req.send() {
                Ok(resp) if resp.status().is_success() || ok.contains(&resp.status().as_u16()) => {
                    match take(resp) {
                        Ok(t) => return Ok(t),
                        // Too large: the answer itself is wrong, not the network.
                        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                            return Err(self.unreadable("an answer Nuage does not read", e));
                        }
                        Err(e) => (
                            nuage_graph::retry::classify_network(
                                nuage_graph::error::NetworkErrorKind::Reset,
                            ),
                            Failure {
                                status: None,
                                code: String::new(),
                                message: format!(
                                    "the answer was cut ({})",
                                    without_urls(&e.to_string())
                                ),
                            },
                        ),
                    }
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let date = server_date(&resp);
                    let body = error_body(resp);
                    let failure = Failure {
                        status: Some(status),
                        code: element(&body, "Code").unwrap_or("").to_string(),
                        message: element(&body, "Message").unwrap_or("").to_string(),
                    };
                    // A clock far off: skewed, or (presigned, on AWS and
                    // others) expired or not yet valid.
                    // A HEAD's answer has no body to say why: a 403 with
                    // the server's clock over 15 minutes off is the clock.
                    let off = date.is_some_and(|d| {
                        (d - (chrono::Utc::now().timestamp() + self.skew)).abs() > 900
                    });
                    let clock = failure.code == "RequestTimeTooSkewed"
                        || (status == 403
                            && (failure.message.contains("expired")
                                || failure.message.contains("not yet valid")
                                || failure.message.contains("not valid yet")
                                || (failure.code.is_empty() && off)));
                    if clock
                        && !corrected
                        && let Some(server) = date
                    {
                        corrected = true;
                        self.skew = server - chrono::Utc::now().timestamp();
                        tracing::warn!(
                            seconds = self.skew,
                            "this computer's clock is off from the S3 provider's; requests are signed with the provider's time"
                        );
                        continue;
                    }
                    let transient = matches!(status, 429 | 500 | 502 | 503 | 504 | 408)
                        || matches!(
                            failure.code.as_str(),
                            "SlowDown" | "InternalError" | "ServiceUnavailable" | "RequestTimeout"
                        );
                    let decision = if !transient {
                        return Err(self.error(&failure));
                    } else if let Some(wait) = retry_after
                        .as_deref()
                        .and_then(|v| nuage_graph::retry::parse_retry_after(v, chrono::Utc::now()))
                    {
                        Decision::RetryAfter(wait)
                    } else {
                        Decision::Backoff(nuage_graph::error::GraphError::Throttled {
                            retry_after: Duration::ZERO,
                        })
                    };
                    (decision, failure)
                }
                Err(e) => {
                    let kind = nuage_graph::client::network_kind(&e);
                    (
                        nuage_graph::retry::classify_network(kind),
                        Failure {
                            status: None,
                            code: String::new(),
                            // Without its URL: a presigned one lets whoever
                            // reads it act on the bucket for an hour.
                            message: format!("{} ({})", network_said(kind), e.without_url()),
                        },
                    )
                }
            };
            match backoff.next(decision, &self.budget, Instant::now()) {
                Step::Sleep(d) => {
                    tracing::info!(
                        wait_ms = d.as_millis() as u64,
                        "S3: {} {}; trying again",
                        failure.code,
                        failure.message
                    );
                    std::thread::sleep(d)
                }
                Step::Done => unreachable!("a failure is never done"),
                _ => return Err(self.error(&failure)),
            }
        }
    }

    /// A signed GET of the bucket itself with `query` (sorted by name),
    /// for the calls rusty-s3 has no action for. The bucket is addressed as
    /// `/bucket`, as AWS's own clients send it: some servers take
    /// `/bucket/` for an object named "".
    fn bucket_get(&self, t: &jiff::Timestamp, query: &[(&str, &str)]) -> url::Url {
        let mut url = self.bucket.base_url().clone();
        let path = url.path().trim_end_matches('/').to_string();
        url.set_path(&path);
        self.sign(t, rusty_s3::Method::Get, url, query, &[])
    }

    /// Presigns `url` with `query` and signed `headers` (both sorted by
    /// name; the headers must then be sent as given).
    fn sign(
        &self,
        t: &jiff::Timestamp,
        method: rusty_s3::Method,
        url: url::Url,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> url::Url {
        rusty_s3::signing::sign(
            t,
            method,
            url,
            self.creds.key(),
            self.creds.secret(),
            self.creds.token(),
            self.bucket.region(),
            SIGNED_FOR.as_secs(),
            query.iter().copied(),
            headers.iter().copied(),
        )
    }

    /// A 200 answer Nuage cannot read (`what`, and why).
    fn unreadable(&self, what: &str, e: impl std::fmt::Display) -> Error {
        self.error(&Failure {
            status: Some(200),
            code: "InvalidResponse".into(),
            message: format!("{what} ({e})"),
        })
    }

    /// The bytes `name` adds to a listing that kept `kept` so far, or why
    /// the listing is refused.
    fn listed_name(&self, name: &str, kept: usize) -> Result<usize> {
        let refuse = |message: String| {
            Err(self.error(&Failure {
                status: Some(200),
                code: "InvalidResponse".into(),
                message,
            }))
        };
        if name.len() > MAX_KEY {
            return refuse(format!(
                "a listing with a name of {} bytes (S3 allows {MAX_KEY})",
                name.len()
            ));
        }
        if kept + name.len() > MAX_LISTED_BYTES {
            return refuse(format!(
                "a listing of more than {} MiB of names",
                MAX_LISTED_BYTES >> 20
            ));
        }
        Ok(name.len())
    }

    /// Whether `key` is encrypted with KMS keys (as far as a HEAD says).
    fn kms(&mut self, key: &str) -> bool {
        self.head(key).ok().flatten().is_some_and(|h| h.kms)
    }

    /// A copy whose ETag is not the MD5 of what was sent: SSE-KMS (`kms`,
    /// when the object shows it) or a provider that does not do it.
    fn unverifiable(&self, kms: bool) -> Error {
        Error::Destination {
            code: ErrorCode::DestinationUnavailable,
            message: if kms {
                format!(
                    "{} encrypts the bucket with KMS keys (SSE-KMS), whose ETags are not the MD5 of what was sent, so Nuage cannot verify a copy there: set the bucket's default encryption to SSE-S3, or use another bucket.",
                    self.settings.label()
                )
            } else {
                format!(
                    "{} does not report the MD5 of what was sent as its ETag, so Nuage cannot verify a copy there: use another bucket or provider.",
                    self.settings.label()
                )
            },
        }
    }

    /// A listing still saying "more follows" after [`MAX_PAGES`] pages.
    fn endless(&self, what: &str) -> Error {
        self.error(&Failure {
            status: Some(200),
            code: "TooManyPages".into(),
            message: format!("a listing of '{what}' that did not end after {MAX_PAGES} pages"),
        })
    }

    /// The error a 200 answer's body carries, if any.
    fn error_in(&self, body: &str) -> Result<()> {
        match element(body, "Code") {
            Some(code) => Err(self.error(&Failure {
                status: Some(200),
                code: code.to_string(),
                message: element(body, "Message").unwrap_or("").to_string(),
            })),
            None => Ok(()),
        }
    }

    /// HEAD of `key`: its size, ETag and Nuage's metadata, or `None`.
    fn head(&mut self, key: &str) -> Result<Option<Head>> {
        let resp = self.send(&[404], &mut |d, t| {
            let url = d
                .bucket
                .head_object(Some(&d.creds), key)
                .sign_with_time(SIGNED_FOR, &t);
            Ok(d.http.head(url))
        })?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let h = resp.headers();
        let text = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        Ok(Some(Head {
            size: text("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            etag: etag_of(&resp).unwrap_or_default(),
            meta_etag: text("x-amz-meta-nuage-etag"),
            meta_quickxor: text("x-amz-meta-nuage-quickxor"),
            meta_part_size: text("x-amz-meta-nuage-part-size").and_then(|v| v.parse().ok()),
            kms: text("x-amz-server-side-encryption").is_some_and(|v| v.starts_with("aws:kms")),
        }))
    }

    /// What `file_info` and listings report for a HEAD: the QuickXorHash
    /// Nuage stored with it, when the object is still the one it stored.
    fn remote(name: String, h: &Head) -> RemoteFile {
        let ours = h.meta_etag.as_deref() == Some(h.etag.as_str());
        RemoteFile {
            name,
            size: h.size,
            quickxor: if ours { h.meta_quickxor.clone() } else { None },
        }
    }

    /// Keys below `prefix` (one level: with `/` as delimiter), and the
    /// folders there.
    fn list_keys(&mut self, prefix: &str) -> Result<Listing> {
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        let mut token: Option<String> = None;
        let mut kept = 0;
        for _ in 0..MAX_PAGES {
            let t = token.clone();
            let body = self
                .send_read(&[], &mut |d, now| {
                    let mut l = d.bucket.list_objects_v2(Some(&d.creds));
                    l.with_prefix(prefix);
                    l.with_delimiter("/");
                    l.with_max_keys(1000);
                    if let Some(t) = &t {
                        l.with_continuation_token(t.as_str());
                    }
                    Ok(d.http.get(l.sign_with_time(SIGNED_FOR, &now)))
                })?
                .body;
            let page = ListObjectsV2::parse_response(&body)
                .map_err(|e| self.unreadable("a listing Nuage cannot read", e))?;
            for o in page.contents {
                kept += self.listed_name(&o.key, kept)?;
                if let Some(rest) = o.key.strip_prefix(prefix) {
                    files.push((rest.to_string(), o.size.unwrap_or(0)));
                }
            }
            for p in page.common_prefixes {
                kept += self.listed_name(&p.prefix, kept)?;
                if let Some(rest) = p.prefix.strip_prefix(prefix) {
                    dirs.push(rest.trim_end_matches('/').to_string());
                }
            }
            if files.len() + dirs.len() > MAX_LISTED {
                return Err(self.error(&Failure {
                    status: Some(200),
                    code: "TooManyKeys".into(),
                    message: format!("{prefix} holds more than {MAX_LISTED} entries"),
                }));
            }
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => return Ok((files, dirs)),
            }
        }
        Err(self.endless(prefix))
    }

    /// The files directly below `prefix`, sorted by name, with sizes
    /// (listings carry no hash Nuage can use).
    fn files_below(&mut self, prefix: &str) -> Result<Vec<RemoteFile>> {
        let (files, _) = self.list_keys(prefix)?;
        let mut out: Vec<RemoteFile> = files
            .into_iter()
            .map(|(name, size)| RemoteFile {
                name,
                size,
                quickxor: None,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Lock headers for a new copy, when Object Lock is asked.
    fn lock_headers(&self) -> Vec<(&'static str, String)> {
        let Some(days) = self.settings.lock_days else {
            return Vec::new();
        };
        let until = chrono::Utc::now() + chrono::Duration::days(i64::from(days));
        vec![
            ("x-amz-object-lock-mode", "COMPLIANCE".to_string()),
            (
                "x-amz-object-lock-retain-until-date",
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
        ]
    }

    /// Stores `local` at `key`: one PUT, or a multipart upload resumed
    /// from `journal`; checked against the ETag the server reports.
    fn put(
        &mut self,
        key: &str,
        name: &str,
        local: &Path,
        journal: &mut dyn UploadJournal,
        progress: &mut dyn FnMut(u64),
    ) -> Result<RemoteFile> {
        let hashed = hash_file(local, self.part_size)?;
        let expected = hashed.etag();
        let mut meta = vec![
            ("x-amz-meta-nuage-etag", expected.clone()),
            ("x-amz-meta-nuage-quickxor", hashed.quickxor.clone()),
        ];
        if hashed.multipart() {
            meta.push(("x-amz-meta-nuage-part-size", hashed.part_size.to_string()));
        }
        meta.extend(self.lock_headers());
        let etag = if hashed.multipart() {
            self.multipart(key, local, &hashed, &meta, journal, progress)?
        } else {
            let md5 = b64(&hashed.parts[0]);
            let size = hashed.size;
            let resp = self.send(&[], &mut |d, t| {
                let mut a = d.bucket.put_object(Some(&d.creds), key);
                a.headers_mut().insert("content-md5", md5.clone());
                for (k, v) in &meta {
                    a.headers_mut().insert(*k, v.clone());
                }
                let url = a.sign_with_time(SIGNED_FOR, &t);
                let f = File::open(local).map_err(|e| Error::io("read", local, e))?;
                let mut req = d
                    .http
                    .put(url)
                    .header("content-md5", &md5)
                    .header("content-length", size);
                for (k, v) in &meta {
                    req = req.header(*k, v);
                }
                Ok(req.body(Body::sized(f, size)))
            })?;
            progress(size);
            etag_of(&resp).unwrap_or_default()
        };
        if etag != expected {
            if self.kms(key) {
                return Err(self.unverifiable(true));
            }
            return Err(Error::Destination {
                code: ErrorCode::HashMismatch,
                message: format!(
                    "{} reports {etag} for {name}, not {expected} (the MD5 of what was sent): the copy is not recorded as verified; it will be sent again at the next run.",
                    self.settings.label()
                ),
            });
        }
        Ok(RemoteFile {
            name: name.to_string(),
            size: hashed.size,
            quickxor: Some(hashed.quickxor),
        })
    }

    /// A multipart upload of `local` to `key`, continued from the journal's
    /// upload when the server still has it. Returns the completed ETag.
    #[allow(clippy::too_many_arguments)]
    fn multipart(
        &mut self,
        key: &str,
        local: &Path,
        hashed: &Hashed,
        meta: &[(&'static str, String)],
        journal: &mut dyn UploadJournal,
        progress: &mut dyn FnMut(u64),
    ) -> Result<String> {
        let n = hashed.parts.len();
        // The upload to continue: same key, same part size.
        let resumed = journal.load().and_then(|s| {
            let rest = s.url.strip_prefix(SESSION)?;
            let (size, rest) = rest.split_once(':')?;
            // Keys may hold ':'; upload ids (base64-like) do not.
            let (k, id) = rest.rsplit_once(':')?;
            (k == key && size.parse::<u64>().ok()? == hashed.part_size).then(|| id.to_string())
        });
        let mut have: Vec<Option<String>> = vec![None; n];
        let upload_id = match resumed {
            Some(id) => match self.list_parts(key, &id)? {
                Some(parts) => {
                    for (number, etag, size) in parts {
                        let i = usize::from(number).wrapping_sub(1);
                        let want = format!(
                            "\"{}\"",
                            hex(&hashed.parts.get(i).copied().unwrap_or_default())
                        );
                        if i < n && size == hashed.part_len(i) && etag == want {
                            have[i] = Some(etag);
                        }
                    }
                    id
                }
                None => self.create_upload(key, meta, hashed, journal)?,
            },
            None => self.create_upload(key, meta, hashed, journal)?,
        };
        let mut done: u64 = (0..n)
            .filter(|i| have[*i].is_some())
            .map(|i| hashed.part_len(i))
            .sum();
        progress(done);
        for i in 0..n {
            if have[i].is_some() {
                continue;
            }
            let len = hashed.part_len(i);
            let offset = i as u64 * hashed.part_size;
            let md5 = b64(&hashed.parts[i]);
            let number = u16::try_from(i + 1).unwrap_or(u16::MAX);
            let id = upload_id.clone();
            let resp = self.send(&[], &mut |d, t| {
                let mut a = d.bucket.upload_part(Some(&d.creds), key, number, &id);
                a.headers_mut().insert("content-md5", md5.clone());
                let url = a.sign_with_time(SIGNED_FOR, &t);
                let mut f = File::open(local).map_err(|e| Error::io("read", local, e))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| Error::io("read", local, e))?;
                Ok(d.http
                    .put(url)
                    .header("content-md5", &md5)
                    .header("content-length", len)
                    .body(Body::sized(f.take(len), len)))
            })?;
            let etag = resp
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            have[i] = Some(etag);
            done += len;
            progress(done);
            let contiguous: u64 = (0..n)
                .take_while(|j| have[*j].is_some())
                .map(|j| hashed.part_len(j))
                .sum();
            journal.save(&UploadSession {
                url: format!("{SESSION}{}:{key}:{upload_id}", hashed.part_size),
                next_offset: contiguous,
            })?;
        }
        let etags: Vec<String> = have.into_iter().map(Option::unwrap_or_default).collect();
        let etag = self.complete(key, &upload_id, &etags, &hashed.etag())?;
        journal.clear()?;
        Ok(etag)
    }

    /// Completes upload `id` of `key` from its parts' ETags and returns
    /// the object's ETag. When the answer is lost (cut, or a repeat finds
    /// the upload gone), the object itself says whether it is complete
    /// with the `expected` ETag.
    fn complete(
        &mut self,
        key: &str,
        id: &str,
        etags: &[String],
        expected: &str,
    ) -> Result<String> {
        // 404: the upload is gone — completed by an attempt whose answer
        // was lost, or aborted.
        let answer = self.send_read(&[404], &mut |d, t| {
            let c = d.bucket.complete_multipart_upload(
                Some(&d.creds),
                key,
                id,
                etags.iter().map(String::as_str),
            );
            let url = c.sign_with_time(SIGNED_FOR, &t);
            Ok(d.http.post(url).body(c.body()))
        });
        let said = match &answer {
            Ok(a) if a.status != 404 => {
                // A 200 may carry an error (S3 answers early, then fails).
                self.error_in(&a.body)?;
                unquoted(element(&a.body, "ETag").unwrap_or(""))
            }
            _ => String::new(),
        };
        if !said.is_empty() {
            return Ok(said);
        }
        match self.head(key)? {
            Some(h) if h.etag == expected && h.meta_etag.as_deref() == Some(expected) => {
                tracing::info!(
                    key,
                    "S3: an upload's completion was not answered; the object shows it complete"
                );
                Ok(h.etag)
            }
            _ => {
                answer?;
                Err(self.error(&Failure {
                    status: Some(404),
                    code: "NoSuchUpload".into(),
                    message: "the upload was gone before it was completed".into(),
                }))
            }
        }
    }

    /// Starts a multipart upload (after aborting any left for this key)
    /// and journals it.
    fn create_upload(
        &mut self,
        key: &str,
        meta: &[(&'static str, String)],
        hashed: &Hashed,
        journal: &mut dyn UploadJournal,
    ) -> Result<String> {
        self.abort_left(key)?;
        let id = self.start_upload(key, meta)?;
        journal.save(&UploadSession {
            url: format!("{SESSION}{}:{key}:{id}", hashed.part_size),
            next_offset: 0,
        })?;
        Ok(id)
    }

    /// CreateMultipartUpload of `key` with `meta`: the upload id.
    fn start_upload(&mut self, key: &str, meta: &[(&'static str, String)]) -> Result<String> {
        let body = self
            .send_read(&[], &mut |d, t| {
                let mut a = d.bucket.create_multipart_upload(Some(&d.creds), key);
                for (k, v) in meta {
                    a.headers_mut().insert(*k, v.clone());
                }
                let url = a.sign_with_time(SIGNED_FOR, &t);
                // No body, but its length said (S3 and R2 want it on a POST).
                let mut req = d.http.post(url).header("content-length", 0);
                for (k, v) in meta {
                    req = req.header(*k, v);
                }
                Ok(req)
            })?
            .body;
        CreateMultipartUpload::parse_response(&body)
            .map(|r| r.upload_id().to_string())
            .map_err(|e| self.unreadable("no upload id in its answer", e))
    }

    /// The parts the server holds for upload `id` (number, ETag, size), or
    /// `None` when the upload is gone.
    fn list_parts(&mut self, key: &str, id: &str) -> Result<Option<Vec<(u16, String, u64)>>> {
        let mut parts = Vec::new();
        let mut marker: Option<u16> = None;
        for _ in 0..MAX_PAGES {
            let m = marker;
            let answer = self.send_read(&[404], &mut |d, t| {
                let mut l = d.bucket.list_parts(Some(&d.creds), key, id);
                l.set_max_parts(1000);
                if let Some(m) = m {
                    l.set_part_number_marker(m);
                }
                Ok(d.http.get(l.sign_with_time(SIGNED_FOR, &t)))
            })?;
            if answer.status == 404 {
                return Ok(None);
            }
            let page = ListParts::parse_response(&answer.body)
                .map_err(|e| self.unreadable("a list of parts Nuage cannot read", e))?;
            for p in page.parts {
                // A part's ETag is its MD5 in quotes; a longer one is no
                // part Nuage sent, and is not kept.
                if p.etag.len() <= 34 {
                    parts.push((p.number, p.etag, p.size));
                }
            }
            match page.next_part_number_marker {
                Some(m) if parts.len() < MAX_PARTS as usize => marker = Some(m),
                _ => return Ok(Some(parts)),
            }
        }
        Err(self.endless(key))
    }

    /// The multipart uploads in progress below `prefix` (a page at a
    /// time, at most [`MAX_LISTED`]), and the server's time of the answer.
    fn uploads_left(&mut self, prefix: &str) -> Result<(Vec<UploadEntry>, jiff::Timestamp)> {
        let mut all = Vec::new();
        let mut markers: Option<(String, String)> = None;
        let mut kept = 0;
        for _ in 0..MAX_PAGES {
            let m = markers.clone();
            let answer = self.send_read(&[], &mut |d, t| {
                let mut query = vec![("prefix", prefix), ("uploads", "")];
                if let Some((key, id)) = &m {
                    query.push(("key-marker", key));
                    query.push(("upload-id-marker", id));
                }
                query.sort();
                Ok(d.http.get(d.bucket_get(&t, &query)))
            })?;
            let server_now = answer.date.unwrap_or_else(|| self.now());
            let page: UploadsPage = instant_xml::from_str(&answer.body)
                .map_err(|e| self.unreadable("a list of uploads Nuage cannot read", e))?;
            let next = page.next_key_marker.zip(page.next_upload_id_marker);
            for u in page.uploads {
                kept += self.listed_name(&u.key, kept)?;
                kept += self.listed_name(&u.upload_id, kept)?;
                kept += self.listed_name(u.initiated.as_deref().unwrap_or(""), kept)?;
                all.push(u);
            }
            match next {
                Some(n)
                    if page.is_truncated == Some(true)
                        && all.len() < MAX_LISTED
                        && markers.as_ref() != Some(&n) =>
                {
                    markers = Some(n)
                }
                _ => return Ok((all, server_now)),
            }
        }
        Err(self.endless(prefix))
    }

    fn abort_upload(&mut self, key: &str, id: &str) -> Result<()> {
        self.send(&[404], &mut |d, t| {
            let url = d
                .bucket
                .abort_multipart_upload(Some(&d.creds), key, id)
                .sign_with_time(SIGNED_FOR, &t);
            Ok(d.http.delete(url))
        })
        .map(drop)
    }

    /// Aborts the multipart uploads left for `key` (by a run that failed
    /// for good, or another computer): they cost money and are never
    /// completed.
    fn abort_left(&mut self, key: &str) -> Result<()> {
        let (left, _) = self.uploads_left(key)?;
        for u in left.into_iter().filter(|u| u.key == key) {
            tracing::info!(key, "S3: aborting an upload left unfinished");
            self.abort_upload(key, &u.upload_id)?;
        }
        Ok(())
    }

    /// Streams `key` into `out`, continuing a cut download with a range.
    /// `missing` makes the error for an absent key.
    fn get(&mut self, key: &str, out: &mut dyn Write, missing: &dyn Fn() -> Error) -> Result<u64> {
        let mut written = 0u64;
        let mut attempts = 0;
        // The object first read: a continued read must be of the same one.
        let mut etag: Option<String> = None;
        loop {
            let from = written;
            let same = etag.clone();
            let resp = self.send(&[404, 412], &mut |d, t| {
                let url = d
                    .bucket
                    .get_object(Some(&d.creds), key)
                    .sign_with_time(SIGNED_FOR, &t);
                let req = d.http.get(url);
                Ok(match (from, &same) {
                    (0, _) => req,
                    (_, Some(e)) => req
                        .header("range", format!("bytes={from}-"))
                        .header("if-match", e),
                    (_, None) => req.header("range", format!("bytes={from}-")),
                })
            })?;
            if resp.status().as_u16() == 404 {
                return Err(missing());
            }
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            if from == 0 {
                etag = header("etag");
            } else if resp.status().as_u16() != 206
                || !header("content-range")
                    .is_some_and(|r| r.starts_with(&format!("bytes {from}-")))
            {
                // Replaced since the read began (412), or the server sent
                // something other than the rest: nothing is spliced.
                return Err(self.error(&Failure {
                    status: Some(resp.status().as_u16()),
                    code: "InvalidRange".into(),
                    message: format!(
                        "a download cut at byte {from} could not be continued with the rest of the same object"
                    ),
                }));
            }
            let mut r = resp;
            let before = written;
            let mut buf = vec![0u8; 256 << 10];
            let cut = loop {
                match r.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(k) => {
                        out.write_all(&buf[..k])
                            .map_err(|e| Error::io("write", Path::new(key), e))?;
                        written += k as u64;
                    }
                    Err(e) => break Some(e),
                }
            };
            match cut {
                None => return Ok(written),
                Some(e) if attempts < 5 || written > before => {
                    // Cut again and again without progress: give up.
                    attempts = if written > before { 0 } else { attempts + 1 };
                    tracing::info!(
                        "S3: a download was cut ({}); continuing from byte {written}",
                        without_urls(&e.to_string())
                    );
                }
                Some(e) => {
                    return Err(self.error(&Failure {
                        status: None,
                        code: String::new(),
                        message: format!("the download kept being cut ({e})"),
                    }));
                }
            }
        }
    }

    fn delete_key(&mut self, key: &str) -> Result<()> {
        self.send(&[404], &mut |d, t| {
            let url = d
                .bucket
                .delete_object(Some(&d.creds), key)
                .sign_with_time(SIGNED_FOR, &t);
            Ok(d.http.delete(url))
        })?;
        Ok(())
    }

    /// Copies `from` to `to` on the server, metadata included, keeping its
    /// ETag: an object uploaded in parts is copied in the same parts
    /// (UploadPartCopy: a CopyObject would give it the MD5 of the whole
    /// as ETag, and refuses objects over 5 GiB), one sent whole with
    /// CopyObject.
    fn copy_key(&mut self, from: &str, to: &str) -> Result<()> {
        let Some(head) = self.head(from)? else {
            return Err(Error::Destination {
                code: ErrorCode::NotFound,
                message: format!(
                    "'{}' is not at the destination",
                    crate::document::shown(from)
                ),
            });
        };
        let parts = head
            .etag
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u64>().ok());
        // The part size it was sent in: recorded by Nuage, or Nuage's own.
        let fits = |p: u64, n: u64| p > 0 && head.size.div_ceil(p) == n;
        let part_size = parts.and_then(|n| {
            head.meta_part_size
                .into_iter()
                .chain([
                    part_size_for(head.size, self.part_size),
                    part_size_for(head.size, DEFAULT_PART_SIZE),
                ])
                .find(|p| fits(*p, n))
                .map(|p| (n, p))
        });
        match part_size {
            Some((n, p)) => self.copy_in_parts(from, to, &head, n, p),
            // Sent whole, or in parts of an unknown size by another
            // program (its ETag then changes, as it is no copy of Nuage's).
            None if head.size <= MAX_COPY_OBJECT => self.copy_whole(from, to),
            None => Err(Error::Destination {
                code: ErrorCode::DestinationUnavailable,
                message: format!(
                    "'{}' was uploaded in parts of a size Nuage cannot tell and is too large to copy whole, so it cannot be moved; it stays where it is",
                    crate::document::shown(from)
                ),
            }),
        }
    }

    fn copy_source(&self, from: &str) -> String {
        format!(
            "/{}/{}",
            self.settings.bucket,
            percent_encoding::utf8_percent_encode(from, COPY_SOURCE)
        )
    }

    /// UploadPartCopy of `from` (ETag `-parts`) to `to`, with the part
    /// size it was uploaded with; the copy must end with the same ETag.
    fn copy_in_parts(
        &mut self,
        from: &str,
        to: &str,
        head: &Head,
        parts: u64,
        part_size: u64,
    ) -> Result<()> {
        let mut meta: Vec<(&'static str, String)> = Vec::new();
        if let Some(e) = &head.meta_etag {
            meta.push(("x-amz-meta-nuage-etag", e.clone()));
        }
        if let Some(q) = &head.meta_quickxor {
            meta.push(("x-amz-meta-nuage-quickxor", q.clone()));
        }
        meta.push(("x-amz-meta-nuage-part-size", part_size.to_string()));
        meta.extend(self.lock_headers());
        self.abort_left(to)?;
        let id = self.start_upload(to, &meta)?;
        let source = self.copy_source(from);
        let if_match = format!("\"{}\"", head.etag);
        let copied = (|| -> Result<String> {
            let mut etags = Vec::new();
            for i in 0..parts {
                let first = i * part_size;
                let last = (first + part_size).min(head.size) - 1;
                let range = format!("bytes={first}-{last}");
                let number = (i + 1).to_string();
                let body = self
                    .send_read(&[], &mut |d, t| {
                        let headers = [
                            ("x-amz-copy-source", source.as_str()),
                            ("x-amz-copy-source-if-match", if_match.as_str()),
                            ("x-amz-copy-source-range", range.as_str()),
                        ];
                        let query = [("partNumber", number.as_str()), ("uploadId", id.as_str())];
                        let url = d.sign(
                            &t,
                            rusty_s3::Method::Put,
                            d.bucket.object_url(to),
                            &query,
                            &headers,
                        );
                        let mut req = d.http.put(url).header("content-length", 0);
                        for (k, v) in headers {
                            req = req.header(k, v);
                        }
                        Ok(req)
                    })?
                    .body;
                self.error_in(&body)?;
                etags.push(format!(
                    "\"{}\"",
                    unquoted(element(&body, "ETag").unwrap_or(""))
                ));
            }
            self.complete(to, &id, &etags, &head.etag)
        })();
        match copied {
            Ok(etag) if etag == head.etag => Ok(()),
            Ok(etag) => {
                // Not the same object: it must not pass for the moved copy.
                let _ = self.delete_key(to);
                Err(Error::Destination {
                    code: ErrorCode::HashMismatch,
                    message: format!(
                        "{} made a copy of '{}' that reports {etag}, not {}: the original stays where it is",
                        self.settings.label(),
                        crate::document::shown(from),
                        head.etag
                    ),
                })
            }
            Err(e) => {
                let _ = self.abort_upload(to, &id);
                Err(e)
            }
        }
    }

    /// CopyObject of `from` to `to` (an object sent in one PUT).
    fn copy_whole(&mut self, from: &str, to: &str) -> Result<()> {
        let source = self.copy_source(from);
        let body = self
            .send_read(&[], &mut |d, t| {
                let url = d.bucket.object_url(to);
                let mut headers = vec![("x-amz-copy-source", source.as_str())];
                let lock = d.lock_headers();
                for (k, v) in &lock {
                    headers.push((k, v.as_str()));
                }
                headers.sort();
                let signed = d.sign(&t, rusty_s3::Method::Put, url, &[], &headers);
                let mut req = d.http.put(signed).header("content-length", 0);
                for (k, v) in &headers {
                    req = req.header(*k, *v);
                }
                Ok(req)
            })?
            .body;
        // A 200 may carry an error (S3 answers early, then fails).
        self.error_in(&body)?;
        Ok(())
    }
}

/// Characters escaped in `x-amz-copy-source` (S3's URI encoding, '/' kept).
const COPY_SOURCE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn network_said(kind: nuage_graph::error::NetworkErrorKind) -> &'static str {
    use nuage_graph::error::NetworkErrorKind::*;
    match kind {
        Dns => "the provider's name could not be resolved",
        Connect => "the connection to the provider could not be opened",
        Timeout => "the provider did not answer in time",
        Reset => "the connection to the provider was interrupted",
        Tls => "the secure connection to the provider could not be verified",
        Other => "a network error occurred",
    }
}

struct Head {
    size: u64,
    etag: String,
    meta_etag: Option<String>,
    meta_quickxor: Option<String>,
    /// The part size of a multipart upload, which a copy keeps.
    meta_part_size: Option<u64>,
    /// Encrypted with KMS keys (SSE-KMS): its ETag is no MD5.
    kms: bool,
}

impl Destination for S3Destination {
    fn describe(&self) -> String {
        self.settings.label()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // The server's ETag (its MD5) is checked against what was sent.
            server_hash: true,
            // Listings carry ETags, whose multipart form depends on the
            // part size: a drill reads the copy back instead.
            listed_hash: false,
            resumable: true,
        }
    }

    fn upload(
        &mut self,
        folder: &str,
        name: &str,
        local: &Path,
        journal: &mut dyn UploadJournal,
        progress: &mut dyn FnMut(u64),
    ) -> Result<RemoteFile> {
        let key = self.key(folder, name)?;
        self.put(&key, name, local, journal, progress)
    }

    fn folders(&mut self) -> Result<Vec<String>> {
        let prefix = self.prefix.clone();
        let (_, mut dirs) = self.list_keys(&prefix)?;
        dirs.retain(|d| crate::source::valid_source_name(d));
        dirs.sort();
        Ok(dirs)
    }

    fn list(&mut self, folder: &str) -> Result<Vec<RemoteFile>> {
        if !crate::source::valid_source_name(folder) {
            return Err(Error::Invalid(format!("'{folder}' is not a source folder")));
        }
        let prefix = format!("{}{folder}/", self.prefix);
        let mut out = self.files_below(&prefix)?;
        out.retain(|f| point_id_of(&f.name).is_some());
        Ok(out)
    }

    fn download(&mut self, folder: &str, name: &str, out: &mut dyn Write) -> Result<u64> {
        let key = self.key(folder, name)?;
        let id = name.trim_end_matches(".json.zst").to_string();
        self.get(&key, out, &|| Error::UnknownRestorePoint(id.clone()))
    }

    fn delete(&mut self, folder: &str, name: &str) -> Result<()> {
        let key = self.key(folder, name)?;
        self.delete_key(&key)
    }

    fn move_file(&mut self, from: &str, name: &str, to: &str) -> Result<()> {
        let src = self.key(from, name)?;
        let dst = self.key(to, name)?;
        if src == dst {
            return Ok(());
        }
        match (self.head(&src)?, self.head(&dst)?) {
            (None, Some(_)) => Ok(()),
            (None, None) => Err(Error::UnknownRestorePoint(
                name.trim_end_matches(".json.zst").to_string(),
            )),
            (Some(a), Some(b)) => {
                // The same restore point on both sides: the old one goes.
                if a.size == b.size && a.etag == b.etag {
                    self.delete_key(&src)?;
                }
                Ok(())
            }
            (Some(_), None) => {
                self.copy_key(&src, &dst)?;
                self.delete_key(&src)
            }
        }
    }

    fn put_file(
        &mut self,
        path: &str,
        local: &Path,
        journal: &mut dyn UploadJournal,
        progress: &mut dyn FnMut(u64),
    ) -> Result<RemoteFile> {
        let key = self.tree_key(path)?;
        self.put(&key, path, local, journal, progress)
    }

    fn file_info(&mut self, path: &str) -> Result<Option<RemoteFile>> {
        let key = self.tree_key(path)?;
        Ok(self
            .head(&key)?
            .map(|h| S3Destination::remote(path.to_string(), &h)))
    }

    fn get_file(&mut self, path: &str, out: &mut dyn Write) -> Result<u64> {
        let key = self.tree_key(path)?;
        let shown = path.to_string();
        self.get(&key, out, &|| Error::Destination {
            code: ErrorCode::NotFound,
            message: format!(
                "'{}' is not at the destination",
                crate::document::shown(&shown)
            ),
        })
    }

    fn move_path(&mut self, from: &str, to: &str) -> Result<()> {
        let src = self.tree_key(from)?;
        let dst = self.tree_key(to)?;
        if self.head(&src)?.is_none() {
            return Err(Error::Destination {
                code: ErrorCode::NotFound,
                message: format!(
                    "'{}' is not at the destination",
                    crate::document::shown(from)
                ),
            });
        }
        self.copy_key(&src, &dst)?;
        self.delete_key(&src)
    }

    fn delete_path(&mut self, path: &str) -> Result<()> {
        let key = self.tree_key(path)?;
        self.delete_key(&key)
    }

    fn sweep_uploads(&mut self, folders: &[String]) -> Result<usize> {
        let prefix = self.prefix.clone();
        let (left, server_now) = self.uploads_left(&prefix)?;
        let horizon = server_now - ABANDONED_AFTER;
        let mut aborted = 0;
        for u in left {
            // Only below a source's folder: another program's uploads
            // in the same bucket are its own business.
            let ours = u.key.strip_prefix(&prefix).is_some_and(|rest| {
                rest.split_once('/')
                    .is_some_and(|(folder, _)| folders.iter().any(|f| f == folder))
            });
            // A start time that cannot be read is not known to be old.
            let old = u
                .initiated
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|started| started <= horizon);
            if ours && old {
                tracing::info!(key = %u.key, initiated = ?u.initiated, "S3: aborting an upload abandoned a week ago or more");
                self.abort_upload(&u.key, &u.upload_id)?;
                aborted += 1;
            }
        }
        Ok(aborted)
    }

    fn list_path(&mut self, dir: &str) -> Result<Vec<RemoteFile>> {
        let prefix = format!("{}{}/", self.prefix, tree_path(dir)?.join("/"));
        self.files_below(&prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_of_one_size_and_at_most_ten_thousand() {
        assert_eq!(part_size_for(1 << 30, DEFAULT_PART_SIZE), DEFAULT_PART_SIZE);
        // 1 TiB: 10,000 parts need 105 MiB each (rounded up to a MiB).
        let p = part_size_for(1 << 40, DEFAULT_PART_SIZE);
        assert!((1u64 << 40).div_ceil(p) <= MAX_PARTS);
        assert_eq!(p % (1 << 20), 0);
    }

    #[test]
    fn the_multipart_etag_is_the_md5_of_the_parts_md5s() {
        // Two parts of "a" * 5 and "b" * 2, as S3 computes it.
        let md5 = |b: &[u8]| -> [u8; 16] { Md5::digest(b).into() };
        let h = Hashed {
            size: 7,
            part_size: 5,
            parts: vec![md5(b"aaaaa"), md5(b"bb")],
            quickxor: String::new(),
        };
        let mut all = Vec::new();
        all.extend_from_slice(&md5(b"aaaaa"));
        all.extend_from_slice(&md5(b"bb"));
        assert_eq!(h.etag(), format!("{}-2", hex(&md5(&all))));
        let one = Hashed {
            size: 2,
            part_size: 5,
            parts: vec![md5(b"bb")],
            quickxor: String::new(),
        };
        assert_eq!(one.etag(), hex(&md5(b"bb")));
    }

    #[test]
    fn settings_refuse_what_no_provider_accepts() {
        let good = S3Settings {
            endpoint: "https://acct.r2.cloudflarestorage.com".into(),
            bucket: "shop-backups".into(),
            prefix: "nuage".into(),
            region: "auto".into(),
            access_key_id: "AKIA".into(),
            path_style: true,
            lock_days: None,
        };
        good.validate().unwrap();
        for bad in [
            S3Settings {
                endpoint: "ftp://x".into(),
                ..good.clone()
            },
            S3Settings {
                endpoint: "https://x/bucket".into(),
                ..good.clone()
            },
            S3Settings {
                bucket: "Shop_Backups".into(),
                ..good.clone()
            },
            S3Settings {
                prefix: "a/../b".into(),
                ..good.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let with = |endpoint: &str, bucket: &str, path_style: bool| S3Settings {
            endpoint: endpoint.into(),
            bucket: bucket.into(),
            path_style,
            ..good.clone()
        };
        let refused = |s: S3Settings, words: &str| {
            let e = s.validate_new().unwrap_err().to_string();
            assert!(e.contains(words), "{s:?}: {e}");
            // Said for every front end alike: no flag of one of them.
            assert!(!e.contains(" --"), "{e}");
        };
        refused(
            with("https://x/shop-backups", "shop-backups", true),
            "bucket and its folders",
        );
        // Plain http only to this computer or the local network.
        refused(with("http://s3.example.com", "shop", true), "https://");
        refused(with("http://203.0.113.7:9000", "shop", true), "unencrypted");
        for local in [
            "http://127.0.0.1:9000",
            "http://192.168.1.20:9000",
            "http://10.0.0.5",
            "http://[::1]:9000",
            "http://[fd00::5]:9000",
            "http://nas:9000",
            "http://nas.local:9000",
            "http://minio.home.arpa",
            "http://localhost:9000",
            "http://100.101.102.103:9000",
            "http://nas.fritz.box:9000",
        ] {
            with(local, "shop", true).validate_new().unwrap();
        }
        // A destination saved before a rule was added keeps working.
        with("http://s3.example.com", "shop", true)
            .validate()
            .unwrap();
        for bucket in ["a..b", "192.168.1.1", "xn--shop", "shop-s3alias", "-shop"] {
            refused(
                with("https://s3.example.com", bucket, true),
                "not a bucket name",
            );
        }
        // A dotted bucket cannot be a host name under https.
        refused(
            with("https://s3.example.com", "shop.backups", false),
            "path-style",
        );
        with("https://s3.example.com", "shop.backups", true)
            .validate_new()
            .unwrap();
    }

    #[test]
    fn the_presets_check_what_they_build_addresses_from() {
        let form = |at: S3Where, bucket: &str, prefix: &str| S3Form {
            at,
            bucket: bucket.into(),
            prefix: prefix.into(),
            access_key_id: "AKIA".into(),
            lock_days: None,
        };
        let r2 = |account: &str| S3Where::R2 {
            account: account.into(),
        };
        let aws = |region: &str| S3Where::Aws {
            region: region.into(),
        };
        let s = form(r2(" 0123456789ABCDEF0123456789abcdef "), "shop", "/a//b/")
            .settings()
            .unwrap();
        assert_eq!(
            s.endpoint,
            "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
        );
        assert_eq!(s.prefix, "a/b");
        for bad in ["evil.example#", "0123", ""] {
            let e = form(r2(bad), "shop", "")
                .settings()
                .unwrap_err()
                .to_string();
            assert!(e.contains("Cloudflare account ID"), "{e}");
        }
        let e = form(aws("EU (Ireland)"), "shop", "")
            .settings()
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an AWS region"), "{e}");
        let s = form(aws("eu-west-3"), "shop", "").settings().unwrap();
        assert_eq!(s.endpoint, "https://s3.eu-west-3.amazonaws.com");
        assert!(!s.path_style);
        // A dotted bucket on AWS: by path, which its certificate covers.
        let s = form(aws("eu-west-3"), "shop.backups", "")
            .settings()
            .unwrap();
        assert!(s.path_style);
        s.validate_new().unwrap();
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    fn offline() -> S3Destination {
        S3Destination::new(
            &S3Settings {
                endpoint: "http://127.0.0.1:9".into(),
                bucket: "nuage".into(),
                prefix: String::new(),
                region: "us-east-1".into(),
                access_key_id: "k".into(),
                path_style: true,
                lock_days: None,
            },
            "s",
            Duration::from_secs(1),
        )
        .unwrap()
    }

    #[test]
    fn listings_keep_names_s3_allows_and_no_more_than_their_share_of_memory() {
        let d = offline();
        assert_eq!(d.listed_name(&"k".repeat(MAX_KEY), 0).unwrap(), MAX_KEY);
        let e = d.listed_name(&"k".repeat(MAX_KEY + 1), 0).unwrap_err();
        assert!(e.to_string().contains("a name of 1025 bytes"), "{e}");
        // A server listing many names of the longest kind.
        let mut kept = 0;
        let e = loop {
            match d.listed_name(&"k".repeat(MAX_KEY), kept) {
                Ok(n) => kept += n,
                Err(e) => break e,
            }
        };
        assert!(kept <= MAX_LISTED_BYTES);
        assert!(e.to_string().contains("more than 16 MiB of names"), "{e}");
    }

    #[test]
    fn no_url_is_ever_said() {
        let e = offline()
            .error(&Failure {
                status: None,
                code: String::new(),
                message: "error sending request for url (http://127.0.0.1:9/nuage/a?X-Amz-Credential=k%2F2026&X-Amz-Signature=abc): connection refused".into(),
            })
            .to_string();
        assert!(!e.contains("X-Amz-") && !e.contains("127.0.0.1:9/"), "{e}");
        assert!(e.contains("((a URL)): connection refused"), "{e}");
        assert_eq!(
            without_urls("see https://a.b/c?d and http://e"),
            "see (a URL) and (a URL)"
        );
    }

    #[test]
    fn a_servers_words_are_shown_short_and_without_terminal_escapes() {
        let e = offline()
            .error(&Failure {
                status: Some(500),
                code: "Internal\u{1b}[2JError".into(),
                message: format!("\u{1b}]0;owned\u{7}{}", "x".repeat(1 << 20)),
            })
            .to_string();
        assert!(!e.chars().any(char::is_control), "{e:?}");
        assert!(e.len() < 1000, "{} bytes", e.len());
        assert!(e.contains("500 Internal") && e.contains('…'), "{e}");
    }

    #[test]
    fn a_clock_far_off_is_said_as_such() {
        let d = offline();
        for (code, message) in [
            ("RequestTimeTooSkewed", "The difference is too large"),
            ("AccessDenied", "Request has expired"),
            ("AccessDenied", "Request is not yet valid"),
            ("AccessDenied", "Request is not valid yet"),
        ] {
            let e = d.error(&Failure {
                status: Some(403),
                code: code.into(),
                message: message.into(),
            });
            assert!(e.to_string().contains("clock"), "{e}");
        }
        let e = d.error(&Failure {
            status: Some(403),
            code: "AccessDenied".into(),
            message: "Access Denied".into(),
        });
        assert!(e.to_string().contains("rights on the bucket"), "{e}");
    }
}
