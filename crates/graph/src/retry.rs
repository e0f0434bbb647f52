//! The one retry policy for every call to Microsoft identity and Graph (like
//! rclone's single `shouldRetry`). Two halves, both pure:
//!
//! - [`classify`] turns one answer (status, `Retry-After`, body) — or
//!   [`classify_network`] one transport failure — into a [`Decision`];
//! - [`Backoff`] turns a sequence of decisions for one request into
//!   [`Step`]s: how long to sleep, whether to refresh the token, when to give
//!   up. It never sleeps; the caller does, so tests run instantly.
//!
//! A run has a [`Budget`] (a deadline). A wait that would end past it ends
//! the request instead, with the last error — for throttling
//! [`GraphError::Throttled`], so the caller can record "throttled until
//! HH:MM" and stop rather than sleep through the run's time.
//!
//! Status table: contract §2.2. Identity-platform bodies (contract §1.2–1.3)
//! are recognised on 400/401 and mapped to the sign-in errors.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::error::{GraphError, NetworkErrorKind};
use crate::types::{GraphErrorBody, StsError, StsErrorKind};

/// What to do about one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// 2xx/3xx: the caller reads the answer.
    Done,
    /// The server said when to come back (`Retry-After` on 429, 503 or
    /// another transient status): wait exactly this long, never less.
    RetryAfter(Duration),
    /// Transient: retry after an exponential, jittered delay. Carries the
    /// error to report if the retries run out.
    Backoff(GraphError),
    /// 401 from Graph: refresh the access token and retry once.
    RefreshAndRetryOnce,
    /// 416: the fragment overlaps bytes the server already has (or a range
    /// request missed). The upload logic asks the session where to resume.
    RangeConflict,
    /// Retrying the same request cannot help.
    Fatal(GraphError),
}

/// AADSTS numbers the identity platform marks as retryable (contract §1.3).
const STS_TRANSIENT_CODES: &[i64] = &[50033, 90006, 90024];

/// Classifies an answer using the current time for an HTTP-date
/// `Retry-After`. See [`classify_at`].
pub fn classify(status: u16, retry_after: Option<&str>, body: &[u8]) -> Decision {
    classify_at(status, retry_after, body, Utc::now())
}

/// Classifies one HTTP answer. `retry_after` is the raw `Retry-After`
/// header; `body` the (possibly empty, possibly non-JSON) body; `now` the
/// time an HTTP-date `Retry-After` is measured from.
pub fn classify_at(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Decision {
    if (200..400).contains(&status) {
        return Decision::Done;
    }
    let body = ErrorBody::parse(body);
    let codes = body.graph_codes();
    let wait = retry_after.and_then(|v| parse_retry_after(v, now));

    // Transient statuses: honour Retry-After when given, else back off.
    let transient = match status {
        429 => Some(GraphError::Throttled {
            retry_after: Duration::ZERO,
        }),
        423 => Some(GraphError::Locked),
        // 408 Request Timeout, every 5xx except 501 (not implemented: not
        // transient) and 507 (quota: fatal), including 509 bandwidth.
        408 => Some(server(status, &codes)),
        500..=599 if status != 501 && status != 507 => Some(server(status, &codes)),
        _ => None,
    };
    if let Some(err) = transient {
        return match wait {
            Some(d) => Decision::RetryAfter(d),
            None => Decision::Backoff(err),
        };
    }

    if let (400 | 401, ErrorBody::Sts(sts)) = (status, &body) {
        return classify_sts(status, sts);
    }

    let has = |c: &str| codes.iter().any(|x| x.eq_ignore_ascii_case(c));
    let first = |default: &str| codes.first().cloned().unwrap_or_else(|| default.to_owned());
    let fatal = match status {
        400 if has("pathIsTooLong") => GraphError::PathTooLong,
        // Personal has answered 400 "Upload session not found" (§4.4).
        400 | 404 | 410 if has("uploadSessionNotFound") => GraphError::UploadSessionGone,
        401 => return Decision::RefreshAndRetryOnce,
        403 => GraphError::AccessDenied {
            code: first("accessDenied"),
        },
        404 | 410 => GraphError::NotFound {
            code: first("itemNotFound"),
        },
        409 if has("nameAlreadyExists") => GraphError::NameAlreadyExists,
        409 => GraphError::Conflict {
            code: first("conflict"),
        },
        412 => GraphError::PreconditionFailed,
        413 => GraphError::TooLarge,
        416 => return Decision::RangeConflict,
        507 => GraphError::QuotaExceeded,
        // 400 and anything unexpected (other 4xx, 501, 1xx, ≥ 600).
        _ => GraphError::InvalidRequest { status, codes },
    };
    Decision::Fatal(fatal)
}

/// A transport failure (no HTTP answer). Connection failures and timeouts
/// are retried — a request cut off before completion leaves nothing behind
/// on an upload session (§4.2). TLS failures are not: a bad certificate
/// does not fix itself in seconds.
pub fn classify_network(kind: NetworkErrorKind) -> Decision {
    match kind {
        NetworkErrorKind::Dns | NetworkErrorKind::Connect => {
            Decision::Backoff(GraphError::Offline { kind })
        }
        NetworkErrorKind::Tls => Decision::Fatal(GraphError::Network { kind }),
        NetworkErrorKind::Timeout | NetworkErrorKind::Reset | NetworkErrorKind::Other => {
            Decision::Backoff(GraphError::Network { kind })
        }
    }
}

fn server(status: u16, codes: &[String]) -> GraphError {
    GraphError::Server {
        status,
        codes: codes.to_vec(),
    }
}

fn classify_sts(status: u16, e: &StsError) -> Decision {
    let kind = e.kind();
    let codes = e.codes().to_vec();
    if kind == StsErrorKind::TemporarilyUnavailable
        || codes.iter().any(|c| STS_TRANSIENT_CODES.contains(c))
    {
        return Decision::Backoff(GraphError::Server {
            status,
            codes: sanitize_codes(std::iter::once(e.error.as_str())),
        });
    }
    Decision::Fatal(match kind {
        StsErrorKind::AuthorizationPending => GraphError::SignInPending { slow_down: false },
        StsErrorKind::SlowDown => GraphError::SignInPending { slow_down: true },
        StsErrorKind::AuthorizationDeclined => GraphError::SignInDeclined,
        StsErrorKind::ExpiredToken => GraphError::SignInExpired,
        StsErrorKind::InvalidGrant | StsErrorKind::InteractionRequired => {
            GraphError::SignInRequired { codes }
        }
        StsErrorKind::BadVerificationCode
        | StsErrorKind::InvalidClient
        | StsErrorKind::InvalidScope
        | StsErrorKind::TemporarilyUnavailable
        | StsErrorKind::Other => GraphError::SignInFailed {
            error: sanitize_codes(std::iter::once(e.error.as_str()))
                .pop()
                .unwrap_or_else(|| "unknown_error".into()),
            codes,
        },
    })
}

/// The error body, if it is one we know.
enum ErrorBody {
    Graph(GraphErrorBody),
    Sts(StsError),
    Unknown,
}

impl ErrorBody {
    fn parse(body: &[u8]) -> Self {
        if body.is_empty() {
            return ErrorBody::Unknown;
        }
        if let Ok(g) = serde_json::from_slice::<GraphErrorBody>(body) {
            return ErrorBody::Graph(g);
        }
        if let Ok(s) = serde_json::from_slice::<StsError>(body) {
            return ErrorBody::Sts(s);
        }
        ErrorBody::Unknown
    }

    fn graph_codes(&self) -> Vec<String> {
        match self {
            ErrorBody::Graph(g) => sanitize_codes(g.codes().into_iter()),
            _ => Vec::new(),
        }
    }
}

/// Codes go into messages, so only code-shaped strings are kept (a code is
/// an identifier; anything else is not quoted to the user).
fn sanitize_codes<'a>(codes: impl Iterator<Item = &'a str>) -> Vec<String> {
    codes
        .filter(|c| {
            !c.is_empty()
                && c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        })
        .map(str::to_owned)
        .collect()
}

/// Parses a `Retry-After` value: whole seconds (contract §2.2; too many
/// digits saturate, at [`MAX_RETRY_AFTER`] like every wait) or an HTTP-date in any of
/// the three forms of RFC 9110 §5.6.7 (IMF-fixdate, RFC 850, asctime),
/// measured from `now`; a date in the past means "now". Anything else —
/// negative, fractional, garbage — is `None`, and the caller backs off
/// instead.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        let secs = v.parse().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let at = parse_http_date(v)?;
    Some(
        (at - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// The longest wait a server can ask for: a number from a server is
/// untrusted, and a wait of centuries would overflow every date it is
/// added to. Microsoft asks for seconds to minutes; a day is far beyond.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

fn parse_http_date(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc2822(v) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%A, %d-%b-%y %H:%M:%S GMT", // RFC 850
        "%a %b %e %H:%M:%S %Y",      // asctime
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Back-off state
// ---------------------------------------------------------------------------

/// Tunables of [`Backoff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Ceiling of the first back-off delay; doubles per attempt.
    pub base: Duration,
    /// Largest back-off delay (not a cap on `Retry-After`, which is honoured
    /// as given).
    pub cap: Duration,
    /// Tries per request, the first included. Token refreshes do not count.
    pub max_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            max_attempts: 8,
        }
    }
}

/// The time a run may spend, shared by all its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    deadline: Option<Instant>,
}

impl Budget {
    /// `total` from `now`.
    pub fn new(now: Instant, total: Duration) -> Self {
        Budget {
            deadline: now.checked_add(total),
        }
    }

    pub fn until(deadline: Instant) -> Self {
        Budget {
            deadline: Some(deadline),
        }
    }

    /// No deadline (interactive calls; only `max_attempts` limits them).
    pub fn unlimited() -> Self {
        Budget { deadline: None }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left; `None` when unlimited.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(now))
    }

    pub fn is_exhausted(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// Whether a wait of `delay` starting at `now` ends within the budget.
    fn allows(&self, now: Instant, delay: Duration) -> bool {
        match self.deadline {
            None => true,
            Some(d) => now < d && delay <= d.saturating_duration_since(now),
        }
    }
}

/// What the caller does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Success: use the answer.
    Done,
    /// Sleep this long, then send the same request again.
    Sleep(Duration),
    /// Refresh the access token, then send the request again at once.
    RefreshToken,
    /// Upload only: `GET {uploadUrl}`, resume from `nextExpectedRanges`.
    Resync,
    /// Stop; report this error.
    Fail(GraphError),
}

/// Retry state of one request (or one sequence of requests, such as the
/// fragments of an upload: a success resets it). Exponential back-off with
/// full jitter: the n-th retry waits a uniform random time in
/// `[0, min(cap, base·2ⁿ⁻¹)]`.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: RetryConfig,
    rng: fastrand::Rng,
    attempts: u32,
    refreshed: bool,
}

impl Backoff {
    pub fn new(config: RetryConfig) -> Self {
        Backoff {
            config,
            rng: fastrand::Rng::new(),
            attempts: 0,
            refreshed: false,
        }
    }

    /// Deterministic jitter, for tests.
    pub fn with_seed(config: RetryConfig, seed: u64) -> Self {
        Backoff {
            config,
            rng: fastrand::Rng::with_seed(seed),
            attempts: 0,
            refreshed: false,
        }
    }

    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// Failed tries so far (token refreshes not counted).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Forgets past failures (done automatically on [`Decision::Done`]).
    pub fn reset(&mut self) {
        self.attempts = 0;
        self.refreshed = false;
    }

    /// Upper bound of the jittered delay before retry number `retry` (1-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(31);
        self.config.base.saturating_mul(factor).min(self.config.cap)
    }

    fn jittered(&mut self, ceiling: Duration) -> Duration {
        let max_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.rng.u64(0..=max_ms))
    }

    /// Folds the decision about the latest answer into the state. `now` is
    /// when the answer arrived.
    pub fn next(&mut self, decision: Decision, budget: &Budget, now: Instant) -> Step {
        match decision {
            Decision::Done => {
                self.reset();
                Step::Done
            }
            Decision::Fatal(e) => Step::Fail(e),
            Decision::RefreshAndRetryOnce => {
                if self.refreshed {
                    Step::Fail(GraphError::SignInRequired { codes: Vec::new() })
                } else {
                    self.refreshed = true;
                    Step::RefreshToken
                }
            }
            Decision::RangeConflict => {
                self.attempts += 1;
                if self.attempts >= self.config.max_attempts || budget.is_exhausted(now) {
                    Step::Fail(GraphError::UploadOutOfSync)
                } else {
                    Step::Resync
                }
            }
            Decision::RetryAfter(wait) => {
                self.attempts += 1;
                let err = GraphError::Throttled { retry_after: wait };
                if self.attempts >= self.config.max_attempts || !budget.allows(now, wait) {
                    Step::Fail(err)
                } else {
                    Step::Sleep(wait)
                }
            }
            Decision::Backoff(err) => {
                self.attempts += 1;
                let ceiling = self.ceiling(self.attempts);
                let delay = self.jittered(ceiling);
                // Throttled without Retry-After: report the back-off we
                // would have waited, so "throttled until" has a time.
                let err = match err {
                    GraphError::Throttled { retry_after } if retry_after.is_zero() => {
                        GraphError::Throttled {
                            retry_after: ceiling,
                        }
                    }
                    e => e,
                };
                if self.attempts >= self.config.max_attempts || !budget.allows(now, delay) {
                    Step::Fail(err)
                } else {
                    Step::Sleep(delay)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_huge_retry_after_is_clamped_not_overflowed() {
        let now = Utc::now();
        for v in ["10000000000000", "99999999999999999999999999"] {
            let d = parse_retry_after(v, now).unwrap();
            assert_eq!(d, MAX_RETRY_AFTER, "{v}");
            // What callers do with it must not overflow.
            let _ = now + chrono::Duration::from_std(d).unwrap();
            let _ = std::time::Instant::now() + d;
        }
        let far = "Fri, 31 Dec 9999 23:59:59 GMT";
        assert_eq!(parse_retry_after(far, now), Some(MAX_RETRY_AFTER));
    }
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap()
    }

    fn c(status: u16, retry_after: Option<&str>, body: &str) -> Decision {
        classify_at(status, retry_after, body.as_bytes(), now())
    }

    fn graph_body(code: &str, inner: Option<&str>) -> String {
        match inner {
            Some(i) => format!(
                r#"{{"error":{{"code":"{code}","message":"m","innerError":{{"code":"{i}","date":"d","request-id":"r"}}}}}}"#
            ),
            None => format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#),
        }
    }

    const THROTTLE_BODY: &str = r#"{"error":{"code":"activityLimitReached","message":"The request has been throttled",
        "innerError":{"code":"throttledRequest","innerError":{"code":"quota"},"date":"2024-01-01T00:00:00",
        "request-id":"r","client-request-id":"c"}}}"#;

    // --- contract §2.2, row by row -------------------------------------

    #[test]
    fn success_and_redirects_are_done() {
        for s in [200, 201, 202, 204, 206, 302, 304] {
            assert_eq!(c(s, None, ""), Decision::Done, "{s}");
            assert_eq!(c(s, Some("41"), "{}"), Decision::Done, "{s}");
        }
    }

    #[test]
    fn row_400_invalid_request_bad_request_path_too_long() {
        assert_eq!(
            c(400, None, &graph_body("invalidRequest", None)),
            Decision::Fatal(GraphError::InvalidRequest {
                status: 400,
                codes: vec!["invalidRequest".into()]
            })
        );
        assert_eq!(
            c(400, None, &graph_body("BadRequest", Some("invalidPath"))),
            Decision::Fatal(GraphError::InvalidRequest {
                status: 400,
                codes: vec!["BadRequest".into(), "invalidPath".into()]
            })
        );
        assert_eq!(
            c(
                400,
                None,
                &graph_body("invalidRequest", Some("pathIsTooLong"))
            ),
            Decision::Fatal(GraphError::PathTooLong)
        );
        // Not retried even with a Retry-After header.
        assert!(matches!(
            c(400, Some("5"), &graph_body("invalidRequest", None)),
            Decision::Fatal(_)
        ));
        // No body at all.
        assert_eq!(
            c(400, None, ""),
            Decision::Fatal(GraphError::InvalidRequest {
                status: 400,
                codes: vec![]
            })
        );
    }

    #[test]
    fn row_401_invalid_authentication_token() {
        let body = r#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid.",
            "innerError":{"date":"2024-01-01T00:00:00","request-id":"r","client-request-id":"c"}}}"#;
        assert_eq!(c(401, None, body), Decision::RefreshAndRetryOnce);
        // 401 from an upload URL (no JSON) is also answered by one refresh;
        // the client must not send Authorization there in the first place.
        assert_eq!(c(401, None, ""), Decision::RefreshAndRetryOnce);
        assert_eq!(c(401, None, "<html>"), Decision::RefreshAndRetryOnce);
    }

    #[test]
    fn row_403_access_denied() {
        assert_eq!(
            c(403, None, &graph_body("accessDenied", None)),
            Decision::Fatal(GraphError::AccessDenied {
                code: "accessDenied".into()
            })
        );
        // SharePoint tempauth expiry: a bare 403.
        assert_eq!(
            c(403, None, ""),
            Decision::Fatal(GraphError::AccessDenied {
                code: "accessDenied".into()
            })
        );
    }

    #[test]
    fn row_404_not_found_and_session_gone() {
        assert_eq!(
            c(404, None, &graph_body("itemNotFound", None)),
            Decision::Fatal(GraphError::NotFound {
                code: "itemNotFound".into()
            })
        );
        // SharePoint's "upload session was not found": only the message says
        // so, and messages are never branched on — the upload logic, which
        // knows the URL was an upload URL, maps this NotFound.
        assert_eq!(
            c(
                404,
                None,
                r#"{"error":{"code":"itemNotFound","message":"The upload session was not found"}}"#
            ),
            Decision::Fatal(GraphError::NotFound {
                code: "itemNotFound".into()
            })
        );
        assert_eq!(
            c(
                404,
                None,
                &graph_body("itemNotFound", Some("uploadSessionNotFound"))
            ),
            Decision::Fatal(GraphError::UploadSessionGone)
        );
        assert_eq!(
            c(
                400,
                None,
                &graph_body("invalidRequest", Some("uploadSessionNotFound"))
            ),
            Decision::Fatal(GraphError::UploadSessionGone)
        );
        assert_eq!(
            c(410, None, &graph_body("resyncRequired", None)),
            Decision::Fatal(GraphError::NotFound {
                code: "resyncRequired".into()
            })
        );
    }

    #[test]
    fn row_409_conflict() {
        assert_eq!(
            c(409, None, &graph_body("nameAlreadyExists", None)),
            Decision::Fatal(GraphError::NameAlreadyExists)
        );
        assert_eq!(
            c(
                409,
                None,
                &graph_body("conflict", Some("parentDoesNotExist"))
            ),
            Decision::Fatal(GraphError::Conflict {
                code: "conflict".into()
            })
        );
    }

    #[test]
    fn rows_412_413_416() {
        assert_eq!(
            c(412, None, &graph_body("resourceModified", None)),
            Decision::Fatal(GraphError::PreconditionFailed)
        );
        assert_eq!(c(413, None, ""), Decision::Fatal(GraphError::TooLarge));
        assert_eq!(
            c(
                416,
                None,
                &graph_body("invalidRange", Some("fragmentOverlap"))
            ),
            Decision::RangeConflict
        );
        assert_eq!(c(416, None, ""), Decision::RangeConflict);
    }

    #[test]
    fn row_423_locked() {
        assert_eq!(c(423, None, ""), Decision::Backoff(GraphError::Locked));
        assert_eq!(
            c(423, Some("30"), ""),
            Decision::RetryAfter(Duration::from_secs(30))
        );
    }

    #[test]
    fn row_429_throttled() {
        assert_eq!(
            c(429, Some("41"), THROTTLE_BODY),
            Decision::RetryAfter(Duration::from_secs(41))
        );
        assert_eq!(
            c(429, Some("315"), &graph_body("TooManyRequests", None)),
            Decision::RetryAfter(Duration::from_secs(315))
        );
        // Without (or with an unreadable) Retry-After: back off.
        for ra in [None, Some(""), Some("soon"), Some("-5"), Some("1.5")] {
            assert_eq!(
                c(429, ra, THROTTLE_BODY),
                Decision::Backoff(GraphError::Throttled {
                    retry_after: Duration::ZERO
                }),
                "{ra:?}"
            );
        }
    }

    #[test]
    fn throttling_body_is_not_quota_full() {
        // Inner code "quota" means a request quota, not storage.
        let d = c(429, Some("41"), THROTTLE_BODY);
        assert!(!matches!(d, Decision::Fatal(GraphError::QuotaExceeded)));
        let d = c(503, None, THROTTLE_BODY);
        assert!(matches!(
            d,
            Decision::Backoff(GraphError::Server { status: 503, .. })
        ));
    }

    #[test]
    fn rows_5xx_transient() {
        for s in [500, 502, 504] {
            assert_eq!(
                c(s, None, ""),
                Decision::Backoff(GraphError::Server {
                    status: s,
                    codes: vec![]
                }),
                "{s}"
            );
            assert_eq!(
                c(s, Some("7"), ""),
                Decision::RetryAfter(Duration::from_secs(7)),
                "{s}"
            );
        }
        // HTML from a gateway.
        assert_eq!(
            c(502, None, "<html><body>Bad Gateway</body></html>"),
            Decision::Backoff(GraphError::Server {
                status: 502,
                codes: vec![]
            })
        );
        assert_eq!(
            c(500, None, &graph_body("generalException", None)),
            Decision::Backoff(GraphError::Server {
                status: 500,
                codes: vec!["generalException".into()]
            })
        );
    }

    #[test]
    fn row_503_service_unavailable() {
        let body = graph_body("serviceNotAvailable", None);
        assert_eq!(
            c(503, Some("120"), &body),
            Decision::RetryAfter(Duration::from_secs(120))
        );
        assert_eq!(
            c(503, None, &body),
            Decision::Backoff(GraphError::Server {
                status: 503,
                codes: vec!["serviceNotAvailable".into()]
            })
        );
    }

    #[test]
    fn row_507_quota() {
        assert_eq!(
            c(507, None, &graph_body("quotaLimitReached", None)),
            Decision::Fatal(GraphError::QuotaExceeded)
        );
        // Fatal even if the server adds a Retry-After.
        assert_eq!(
            c(507, Some("60"), ""),
            Decision::Fatal(GraphError::QuotaExceeded)
        );
        assert_eq!(GraphError::QuotaExceeded.code(), "destination_full");
    }

    #[test]
    fn row_509_bandwidth() {
        assert_eq!(
            c(509, None, ""),
            Decision::Backoff(GraphError::Server {
                status: 509,
                codes: vec![]
            })
        );
        assert_eq!(
            c(509, Some("10"), ""),
            Decision::RetryAfter(Duration::from_secs(10))
        );
    }

    #[test]
    fn other_statuses() {
        assert_eq!(
            c(408, None, ""),
            Decision::Backoff(GraphError::Server {
                status: 408,
                codes: vec![]
            })
        );
        for s in [405, 406, 411, 415, 501, 100, 600] {
            assert!(
                matches!(c(s, None, ""), Decision::Fatal(GraphError::InvalidRequest { status, .. }) if status == s),
                "{s}"
            );
        }
        assert!(matches!(
            c(505, None, ""),
            Decision::Backoff(GraphError::Server { status: 505, .. })
        ));
    }

    // --- identity platform bodies --------------------------------------

    fn sts(error: &str, codes: &[i64]) -> String {
        format!(
            r#"{{"error":"{error}","error_description":"AADSTS{}: text\r\nTrace ID: t","error_codes":{codes:?},
                "timestamp":"2024-01-01 00:00:00Z","trace_id":"t","correlation_id":"c"}}"#,
            codes.first().copied().unwrap_or(0)
        )
    }

    #[test]
    fn sts_device_code_polling() {
        assert_eq!(
            c(400, None, &sts("authorization_pending", &[70016])),
            Decision::Fatal(GraphError::SignInPending { slow_down: false })
        );
        assert_eq!(
            c(400, None, &sts("slow_down", &[])),
            Decision::Fatal(GraphError::SignInPending { slow_down: true })
        );
        assert_eq!(
            c(400, None, &sts("authorization_declined", &[])),
            Decision::Fatal(GraphError::SignInDeclined)
        );
        assert_eq!(
            c(400, None, &sts("expired_token", &[70020])),
            Decision::Fatal(GraphError::SignInExpired)
        );
        assert_eq!(
            c(400, None, &sts("bad_verification_code", &[70018])),
            Decision::Fatal(GraphError::SignInFailed {
                error: "bad_verification_code".into(),
                codes: vec![70018]
            })
        );
    }

    #[test]
    fn sts_refresh_failures_mean_sign_in_again() {
        for (err, code) in [
            ("invalid_grant", 700082),
            ("invalid_grant", 50173),
            ("invalid_grant", 70008),
            ("invalid_grant", 70043),
            ("interaction_required", 50076),
            ("interaction_required", 50079),
            ("invalid_grant", 65001),
            ("invalid_grant", 70000),
        ] {
            let d = c(400, None, &sts(err, &[code]));
            assert_eq!(
                d,
                Decision::Fatal(GraphError::SignInRequired { codes: vec![code] }),
                "{err} {code}"
            );
            if let Decision::Fatal(e) = d {
                assert_eq!(e.code(), "sign_in_required");
            }
        }
    }

    #[test]
    fn sts_transient_and_client_errors() {
        assert!(matches!(
            c(400, None, &sts("temporarily_unavailable", &[])),
            Decision::Backoff(GraphError::Server { status: 400, .. })
        ));
        for code in [50033, 90006, 90024] {
            assert!(
                matches!(
                    c(400, None, &sts("invalid_request", &[code])),
                    Decision::Backoff(_)
                ),
                "{code}"
            );
        }
        assert_eq!(
            c(401, None, &sts("invalid_client", &[7000218])),
            Decision::Fatal(GraphError::SignInFailed {
                error: "invalid_client".into(),
                codes: vec![7000218]
            })
        );
        assert!(matches!(
            c(400, None, &sts("invalid_scope", &[70011])),
            Decision::Fatal(GraphError::SignInFailed { .. })
        ));
        // STS throttling still goes by status.
        assert_eq!(
            c(429, Some("5"), &sts("temporarily_unavailable", &[])),
            Decision::RetryAfter(Duration::from_secs(5))
        );
    }

    #[test]
    fn messages_never_quote_the_body() {
        let body = r#"{"error":{"code":"accessDenied","message":"token eyJSECRET is bad",
            "innerError":{"code":"has spaces and eyJSECRET"}}}"#;
        for s in [400, 403, 404, 409, 500] {
            let e = match c(s, None, body) {
                Decision::Fatal(e) | Decision::Backoff(e) => e,
                d => panic!("{s}: {d:?}"),
            };
            assert!(!e.to_string().contains("SECRET"), "{e}");
            assert!(!format!("{e:?}").contains("SECRET"), "{e:?}");
        }
        let e = match c(
            400,
            None,
            r#"{"error":"weird value eyJSECRET","error_description":"eyJSECRET"}"#,
        ) {
            Decision::Fatal(e) => e,
            d => panic!("{d:?}"),
        };
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    // --- Retry-After parsing ----------------------------------------------

    #[test]
    fn retry_after_seconds() {
        assert_eq!(
            parse_retry_after("41", now()),
            Some(Duration::from_secs(41))
        );
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        // Absurd waits are clamped to a day (never shortened below what a
        // real server asks, never overflowing a date).
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(MAX_RETRY_AFTER)
        );
        for bad in ["", "  ", "-1", "1.5", "+5", "5s", "abc", "1e3"] {
            assert_eq!(parse_retry_after(bad, now()), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_http_dates() {
        // now() is 2024-01-01 12:00:00 UTC (a Monday).
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 2024 12:05:15 GMT", now()),
            Some(Duration::from_secs(315))
        );
        assert_eq!(
            parse_retry_after("Monday, 01-Jan-24 12:00:41 GMT", now()),
            Some(Duration::from_secs(41))
        );
        assert_eq!(
            parse_retry_after("Mon Jan  1 12:01:00 2024", now()),
            Some(Duration::from_secs(60))
        );
        // In the past: retry now.
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(
            c(503, Some("Mon, 01 Jan 2024 12:00:41 GMT"), ""),
            Decision::RetryAfter(Duration::from_secs(41))
        );
        assert_eq!(
            parse_retry_after("Mon, 32 Jan 2024 12:00:00 GMT", now()),
            None
        );
    }

    // --- network ------------------------------------------------------------

    #[test]
    fn network_errors() {
        for k in [NetworkErrorKind::Dns, NetworkErrorKind::Connect] {
            assert_eq!(
                classify_network(k),
                Decision::Backoff(GraphError::Offline { kind: k })
            );
        }
        for k in [
            NetworkErrorKind::Timeout,
            NetworkErrorKind::Reset,
            NetworkErrorKind::Other,
        ] {
            assert_eq!(
                classify_network(k),
                Decision::Backoff(GraphError::Network { kind: k })
            );
        }
        assert_eq!(
            classify_network(NetworkErrorKind::Tls),
            Decision::Fatal(GraphError::Network {
                kind: NetworkErrorKind::Tls
            })
        );
        if let Decision::Backoff(e) = classify_network(NetworkErrorKind::Dns) {
            assert_eq!(e.code(), "offline");
        }
    }

    // --- Backoff state --------------------------------------------------------

    fn cfg() -> RetryConfig {
        RetryConfig::default()
    }

    #[test]
    fn honours_growing_retry_after_41_then_315() {
        let t0 = Instant::now();
        let budget = Budget::new(t0, Duration::from_secs(30 * 60));
        let mut b = Backoff::with_seed(cfg(), 1);

        let d = c(429, Some("41"), THROTTLE_BODY);
        assert_eq!(b.next(d, &budget, t0), Step::Sleep(Duration::from_secs(41)));

        let t1 = t0 + Duration::from_secs(41);
        let d = c(429, Some("315"), THROTTLE_BODY);
        assert_eq!(
            b.next(d, &budget, t1),
            Step::Sleep(Duration::from_secs(315))
        );

        // Then success: state resets.
        let t2 = t1 + Duration::from_secs(315);
        assert_eq!(b.next(c(200, None, ""), &budget, t2), Step::Done);
        assert_eq!(b.attempts(), 0);
    }

    #[test]
    fn retry_after_beyond_budget_ends_with_throttled() {
        let t0 = Instant::now();
        let budget = Budget::new(t0, Duration::from_secs(5 * 60));
        let mut b = Backoff::with_seed(cfg(), 1);
        assert_eq!(
            b.next(Decision::RetryAfter(Duration::from_secs(41)), &budget, t0),
            Step::Sleep(Duration::from_secs(41))
        );
        // 315 s no longer fits in the 259 s left: stop, do not sleep.
        let step = b.next(
            Decision::RetryAfter(Duration::from_secs(315)),
            &budget,
            t0 + Duration::from_secs(41),
        );
        assert_eq!(
            step,
            Step::Fail(GraphError::Throttled {
                retry_after: Duration::from_secs(315)
            })
        );
        if let Step::Fail(e) = step {
            assert_eq!(e.code(), "throttled");
        }
        // Exactly the remaining time still fits.
        let mut b = Backoff::with_seed(cfg(), 1);
        assert_eq!(
            b.next(Decision::RetryAfter(Duration::from_secs(300)), &budget, t0),
            Step::Sleep(Duration::from_secs(300))
        );
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let config = cfg();
        let budget = Budget::unlimited();
        let now = Instant::now();
        for seed in 0..200 {
            let mut b = Backoff::with_seed(
                RetryConfig {
                    max_attempts: 100,
                    ..config
                },
                seed,
            );
            for retry in 1..=12u32 {
                let ceiling = Duration::from_secs(1u64 << (retry - 1)).min(Duration::from_secs(60));
                assert_eq!(b.ceiling(retry), ceiling);
                match b.next(Decision::Backoff(server(500, &[])), &budget, now) {
                    Step::Sleep(d) => assert!(d <= ceiling, "seed {seed} retry {retry}: {d:?}"),
                    s => panic!("{s:?}"),
                }
            }
        }
        // Huge attempt numbers neither overflow nor exceed the cap.
        let b = Backoff::with_seed(config, 0);
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
        assert_eq!(b.ceiling(40), Duration::from_secs(60));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_is_random_but_seeded() {
        let budget = Budget::unlimited();
        let now = Instant::now();
        let run = |seed| {
            let mut b = Backoff::with_seed(cfg(), seed);
            (0..6)
                .map(|_| b.next(Decision::Backoff(server(500, &[])), &budget, now))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        // Spread: over many seeds, the 6th retry (ceiling 32 s) lands both in
        // the lower and the upper half.
        let sixth: Vec<Duration> = (0..100)
            .map(|seed| match run(seed)[5] {
                Step::Sleep(d) => d,
                ref s => panic!("{s:?}"),
            })
            .collect();
        assert!(sixth.iter().any(|d| *d < Duration::from_secs(16)));
        assert!(sixth.iter().any(|d| *d > Duration::from_secs(16)));
    }

    #[test]
    fn max_attempts_gives_up_with_last_error() {
        let budget = Budget::unlimited();
        let now = Instant::now();
        let mut b = Backoff::with_seed(
            RetryConfig {
                max_attempts: 3,
                ..cfg()
            },
            3,
        );
        assert!(matches!(
            b.next(c(502, None, ""), &budget, now),
            Step::Sleep(_)
        ));
        assert!(matches!(
            b.next(c(500, None, ""), &budget, now),
            Step::Sleep(_)
        ));
        assert_eq!(
            b.next(c(504, None, ""), &budget, now),
            Step::Fail(GraphError::Server {
                status: 504,
                codes: vec![]
            })
        );
    }

    #[test]
    fn budget_exhaustion_gives_up_with_last_error() {
        let t0 = Instant::now();
        let budget = Budget::new(t0, Duration::from_secs(10));
        let mut b = Backoff::with_seed(
            RetryConfig {
                max_attempts: 1000,
                ..cfg()
            },
            5,
        );
        let mut t = t0;
        let mut last = None;
        for _ in 0..1000 {
            match b.next(classify_network(NetworkErrorKind::Timeout), &budget, t) {
                Step::Sleep(d) => {
                    assert!(
                        t + d <= t0 + Duration::from_secs(10),
                        "never sleeps past the budget"
                    );
                    // The request itself takes a second.
                    t += d + Duration::from_secs(1);
                }
                s => {
                    last = Some(s);
                    break;
                }
            }
        }
        assert_eq!(
            last,
            Some(Step::Fail(GraphError::Network {
                kind: NetworkErrorKind::Timeout
            }))
        );
        assert!(b.attempts() < 1000);

        // Once the deadline has passed, even a zero wait is refused.
        let mut b = Backoff::with_seed(cfg(), 0);
        let late = t0 + Duration::from_secs(11);
        assert!(budget.is_exhausted(late));
        assert_eq!(budget.remaining(late), Some(Duration::ZERO));
        assert_eq!(
            b.next(Decision::RetryAfter(Duration::ZERO), &budget, late),
            Step::Fail(GraphError::Throttled {
                retry_after: Duration::ZERO
            })
        );
    }

    #[test]
    fn throttled_without_retry_after_reports_a_wait() {
        let t0 = Instant::now();
        let budget = Budget::until(t0);
        let mut b = Backoff::with_seed(cfg(), 0);
        assert_eq!(
            b.next(c(429, None, THROTTLE_BODY), &budget, t0),
            Step::Fail(GraphError::Throttled {
                retry_after: Duration::from_secs(1)
            })
        );
    }

    #[test]
    fn refresh_once_then_signed_out() {
        let budget = Budget::unlimited();
        let now = Instant::now();
        let body = graph_body("InvalidAuthenticationToken", None);
        let mut b = Backoff::with_seed(cfg(), 0);
        assert_eq!(
            b.next(c(401, None, &body), &budget, now),
            Step::RefreshToken
        );
        assert_eq!(b.attempts(), 0, "a refresh is not a failed attempt");
        let step = b.next(c(401, None, &body), &budget, now);
        assert_eq!(
            step,
            Step::Fail(GraphError::SignInRequired { codes: vec![] })
        );

        // After a success, a later expiry may refresh again.
        let mut b = Backoff::with_seed(cfg(), 0);
        assert_eq!(
            b.next(c(401, None, &body), &budget, now),
            Step::RefreshToken
        );
        assert_eq!(b.next(c(200, None, ""), &budget, now), Step::Done);
        assert_eq!(
            b.next(c(401, None, &body), &budget, now),
            Step::RefreshToken
        );
    }

    #[test]
    fn range_conflicts_resync_then_give_up() {
        let budget = Budget::unlimited();
        let now = Instant::now();
        let mut b = Backoff::with_seed(
            RetryConfig {
                max_attempts: 3,
                ..cfg()
            },
            0,
        );
        assert_eq!(b.next(c(416, None, ""), &budget, now), Step::Resync);
        assert_eq!(b.next(c(416, None, ""), &budget, now), Step::Resync);
        assert_eq!(
            b.next(c(416, None, ""), &budget, now),
            Step::Fail(GraphError::UploadOutOfSync)
        );
    }

    #[test]
    fn fatal_is_immediate() {
        let budget = Budget::unlimited();
        let now = Instant::now();
        let mut b = Backoff::with_seed(cfg(), 0);
        assert_eq!(
            b.next(c(507, None, ""), &budget, now),
            Step::Fail(GraphError::QuotaExceeded)
        );
        assert_eq!(b.attempts(), 0);
    }

    #[test]
    fn budget_basics() {
        let t0 = Instant::now();
        let b = Budget::new(t0, Duration::from_secs(60));
        assert_eq!(b.deadline(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(b.remaining(t0), Some(Duration::from_secs(60)));
        assert!(!b.is_exhausted(t0));
        assert!(b.is_exhausted(t0 + Duration::from_secs(60)));
        assert_eq!(Budget::unlimited().remaining(t0), None);
        assert!(!Budget::unlimited().is_exhausted(t0));
    }
}
