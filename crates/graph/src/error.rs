//! The typed error of everything that talks to Microsoft. Every message says
//! what happened and what the user can do; none contains a token, a device
//! code or a pre-authenticated URL (variants carry only Graph/STS codes,
//! numbers and fixed text). [`GraphError::code`] is the stable machine code.

use std::fmt;
use std::time::Duration;

use crate::names::NameError;

/// Explains how to get a client ID when none is configured.
pub const HOW_TO_REGISTER: &str = "No client ID is configured. Register an app once for your organisation:
  1. In the Microsoft Entra admin center (entra.microsoft.com), open App registrations → New registration;
     choose the account types you need (personal accounts: \"...and personal Microsoft accounts\").
  2. Under Authentication, set \"Allow public client flows\" to Yes.
  3. Under API permissions, add Microsoft Graph delegated permissions Files.ReadWrite, offline_access and
     User.Read (and Files.ReadWrite.All to write into folders shared by others).
  4. Copy the Application (client) ID and give it to Nuage when you sign in (or set NUAGE_CLIENT_ID).";

/// Result alias for this crate.
pub type Result<T, E = GraphError> = std::result::Result<T, E>;

/// What went wrong at the transport level, without the library's own
/// message (which may quote a URL, and upload URLs carry credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkErrorKind {
    /// The host name could not be resolved.
    Dns,
    /// Connection refused, network unreachable, no route.
    Connect,
    /// Connecting or waiting for an answer took too long.
    Timeout,
    /// The connection was reset or closed in the middle of a request.
    Reset,
    /// The TLS handshake failed (certificate, proxy, captive portal).
    Tls,
    /// Anything else below HTTP.
    Other,
}

impl fmt::Display for NetworkErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkErrorKind::Dns => "the name of Microsoft's server could not be resolved",
            NetworkErrorKind::Connect => "the connection to Microsoft could not be opened",
            NetworkErrorKind::Timeout => "Microsoft did not answer in time",
            NetworkErrorKind::Reset => "the connection to Microsoft was interrupted",
            NetworkErrorKind::Tls => "the secure connection to Microsoft could not be verified",
            NetworkErrorKind::Other => "a network error occurred",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The refresh token is no longer accepted (`invalid_grant`,
    /// `interaction_required`), or a request was refused twice as
    /// unauthenticated although the token had just been refreshed.
    #[error(
        "Nuage is no longer signed in to Microsoft{}. Sign in again to continue backing up to OneDrive.",
        aadsts_suffix(.codes)
    )]
    SignInRequired { codes: Vec<i64> },

    /// Device-code flow: the user has not finished signing in yet
    /// (`authorization_pending`; `slow_down` asks for a longer interval).
    /// Not a failure while polling: wait the interval and poll again.
    #[error(
        "sign-in is not finished yet. Open the Microsoft sign-in page, enter the code Nuage shows and approve access."
    )]
    SignInPending { slow_down: bool },

    /// Device-code flow: the user declined.
    #[error(
        "sign-in was declined. Start the sign-in again and approve Nuage's access to your files."
    )]
    SignInDeclined,

    /// Device-code flow: the person cancelled while Nuage was waiting.
    #[error("sign-in was cancelled; nothing was changed. Sign in again when you are ready.")]
    SignInCancelled,

    /// The keychain could not be used; the message says how to fix it.
    #[error("{message}")]
    Keychain { message: String },

    /// No app registration is configured: the message explains how to get one.
    #[error("{}", HOW_TO_REGISTER)]
    NoClientId,

    /// Device-code flow: the code expired before the user finished.
    #[error(
        "the sign-in code expired before sign-in was finished. Start the sign-in again and enter the new code promptly."
    )]
    SignInExpired,

    /// Any other refusal of the identity platform (`invalid_client`,
    /// `invalid_scope`, `bad_verification_code`, …).
    #[error(
        "Microsoft refused the sign-in ({error}{}). Try signing in again; if it keeps failing, your organisation may not allow Nuage — ask your administrator.",
        aadsts_suffix_comma(.codes)
    )]
    SignInFailed { error: String, codes: Vec<i64> },

    /// 429, or 503 with Retry-After, that the run cannot wait out.
    #[error(
        "Microsoft is limiting how fast Nuage may send requests and asked it to wait {}. Nuage will try again after that; nothing needs to be done.",
        human_duration(*.retry_after)
    )]
    Throttled { retry_after: Duration },

    /// 507 `quotaLimitReached`.
    #[error(
        "OneDrive is full (quota exceeded). Free some space in OneDrive or choose another destination."
    )]
    QuotaExceeded,

    /// 404 (or 410).
    #[error(
        "the file or folder was not found in OneDrive ({code}); it may have been moved, renamed or deleted. Check the destination folder in OneDrive, or choose it again."
    )]
    NotFound { code: String },

    /// 409 `nameAlreadyExists`.
    #[error(
        "an item with this name already exists in the OneDrive folder and cannot be replaced (for example a OneNote notebook). Rename or remove it in OneDrive, or choose another destination."
    )]
    NameAlreadyExists,

    /// Another 409 (e.g. the parent folder no longer exists).
    #[error(
        "OneDrive refused the change because the destination changed meanwhile ({code}). Check the destination folder in OneDrive; Nuage will try again at the next run."
    )]
    Conflict { code: String },

    /// 412 `resourceModified`: the item changed since it was read.
    #[error(
        "the file changed in OneDrive while Nuage was working on it. Nuage will read it again at the next run; nothing needs to be done."
    )]
    PreconditionFailed,

    /// 423: checked out or in use (SharePoint), and still locked after
    /// retrying.
    #[error(
        "the file is locked in OneDrive/SharePoint (checked out, or open in another application). Close it or check it in, then run the backup again."
    )]
    Locked,

    /// 403.
    #[error(
        "Microsoft denied access ({code}). Sign in again and grant Nuage access to your files, or ask the folder's owner for permission to edit it."
    )]
    AccessDenied { code: String },

    /// 400 with inner `pathIsTooLong`.
    #[error(
        "the path in OneDrive is too long (the limit is 400 characters). Choose a destination folder with a shorter path."
    )]
    PathTooLong,

    /// Another 400 or unexpected 4xx: Nuage sent something the service does
    /// not accept.
    #[error(
        "Microsoft rejected Nuage's request (HTTP {status}{}). This is probably a problem in Nuage: update it, or report the error with this message.",
        code_suffix(.codes)
    )]
    InvalidRequest { status: u16, codes: Vec<String> },

    /// 413.
    #[error(
        "the request was too large for OneDrive (HTTP 413). This is probably a problem in Nuage: update it, or report the error with this message."
    )]
    TooLarge,

    /// A name or path Nuage checked locally before sending.
    #[error("{0}")]
    InvalidName(#[from] NameError),

    /// No connection at all (DNS, refused, unreachable).
    #[error(
        "Nuage cannot reach Microsoft: {kind}. Check the network connection; Nuage will try again."
    )]
    Offline { kind: NetworkErrorKind },

    /// The connection broke or timed out during a request.
    #[error(
        "the connection to Microsoft failed: {kind}. Check the network connection (and any proxy or captive portal); Nuage will try again."
    )]
    Network { kind: NetworkErrorKind },

    /// 5xx, 509, 408 that kept failing.
    #[error(
        "Microsoft's service had a problem (HTTP {status}{}). Nuage will try again later; if it persists, check the Microsoft 365 service status.",
        code_suffix(.codes)
    )]
    Server { status: u16, codes: Vec<String> },

    /// A 2xx whose body could not be read as the expected JSON.
    #[error(
        "Microsoft sent an answer Nuage could not understand ({detail}). Nuage will try again later; if it persists, update Nuage."
    )]
    InvalidResponse { detail: String },

    /// The upload session expired or vanished (404 on the upload URL,
    /// inner `uploadSessionNotFound`). The upload logic starts a new session;
    /// this reaches the user only if that fails too.
    #[error(
        "OneDrive discarded the upload in progress (the upload session expired or was not found). Nuage will upload the file again from the start at the next run."
    )]
    UploadSessionGone,

    /// The server and Nuage kept disagreeing about which bytes were received
    /// (repeated 416).
    #[error(
        "OneDrive and Nuage could not agree on how much of the file was already uploaded. Nuage will upload the file again from the start at the next run."
    )]
    UploadOutOfSync,

    /// The stored file's QuickXorHash differs from what was uploaded.
    #[error(
        "the file stored in OneDrive does not match what Nuage uploaded (QuickXorHash {actual}, expected {expected}). The copy in OneDrive cannot be trusted; Nuage will upload it again at the next run."
    )]
    HashMismatch { expected: String, actual: String },

    /// The stored file's size differs from what was uploaded.
    #[error(
        "the file stored in OneDrive has {actual} bytes but Nuage uploaded {expected}. The copy in OneDrive cannot be trusted; Nuage will upload it again at the next run."
    )]
    SizeMismatch { expected: u64, actual: u64 },
}

impl GraphError {
    /// Stable machine code for scripts and the desktop UI. Closed set:
    /// `sign_in_required`, `sign_in_declined`, `sign_in_expired`,
    /// `cancelled`, `offline`, `throttled`, `destination_full`,
    /// `not_found`, `conflict`, `access_denied`, `invalid_request`,
    /// `server_error`, `hash_mismatch`.
    pub fn code(&self) -> &'static str {
        use GraphError::*;
        match self {
            SignInRequired { .. } | SignInPending { .. } | NoClientId | SignInFailed { .. } => {
                "sign_in_required"
            }
            // The sign-in screen tells these apart: "start again" or close.
            SignInDeclined => "sign_in_declined",
            SignInExpired => "sign_in_expired",
            SignInCancelled => "cancelled",
            Offline { .. } | Network { .. } => "offline",
            Keychain { .. } => "keychain_unavailable",
            Throttled { .. } => "throttled",
            QuotaExceeded => "destination_full",
            NotFound { .. } => "not_found",
            NameAlreadyExists | Conflict { .. } | PreconditionFailed | Locked => "conflict",
            AccessDenied { .. } => "access_denied",
            PathTooLong | InvalidRequest { .. } | TooLarge | InvalidName(_) => "invalid_request",
            Server { .. } | InvalidResponse { .. } | UploadSessionGone | UploadOutOfSync => {
                "server_error"
            }
            HashMismatch { .. } | SizeMismatch { .. } => "hash_mismatch",
        }
    }

    /// How long Microsoft asked Nuage to wait, for a throttled request: the
    /// caller records "throttled until now + this" and stops the run.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GraphError::Throttled { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// Every value [`GraphError::code`] can return.
    pub const CODES: &'static [&'static str] = &[
        "sign_in_required",
        "sign_in_declined",
        "sign_in_expired",
        "cancelled",
        "keychain_unavailable",
        "offline",
        "throttled",
        "destination_full",
        "not_found",
        "conflict",
        "access_denied",
        "invalid_request",
        "server_error",
        "hash_mismatch",
    ];
}

fn aadsts_suffix(codes: &[i64]) -> String {
    if codes.is_empty() {
        String::new()
    } else {
        format!(" ({})", aadsts_list(codes))
    }
}

fn aadsts_suffix_comma(codes: &[i64]) -> String {
    if codes.is_empty() {
        String::new()
    } else {
        format!(", {}", aadsts_list(codes))
    }
}

fn aadsts_list(codes: &[i64]) -> String {
    codes
        .iter()
        .map(|c| format!("AADSTS{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn code_suffix(codes: &[String]) -> String {
    if codes.is_empty() {
        String::new()
    } else {
        format!(", {}", codes.join("/"))
    }
}

/// `41 s`, `5 min 15 s`, `2 h 5 min`, `3 days`.
pub(crate) fn human_duration(d: Duration) -> String {
    // Round up: "wait 1 s" for 0.2 s, never promise less than asked.
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => match secs % 60 {
            0 => format!("{} min", secs / 60),
            s => format!("{} min {s} s", secs / 60),
        },
        3600..86400 => {
            // Round minutes up too.
            let mins = secs.div_ceil(60);
            match mins % 60 {
                0 => format!("{} h", mins / 60),
                m => format!("{} h {m} min", mins / 60),
            }
        }
        _ => {
            let days = secs.div_ceil(86400);
            if days == 1 {
                "1 day".into()
            } else {
                format!("{days} days")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<GraphError> {
        use GraphError::*;
        vec![
            SignInRequired { codes: vec![] },
            SignInRequired {
                codes: vec![700082],
            },
            SignInPending { slow_down: true },
            SignInDeclined,
            SignInExpired,
            SignInCancelled,
            NoClientId,
            Keychain {
                message:
                    "No keychain is available. Start gnome-keyring, or set NUAGE_TOKEN_STORE=file."
                        .into(),
            },
            SignInFailed {
                error: "invalid_client".into(),
                codes: vec![7000218],
            },
            Throttled {
                retry_after: Duration::from_secs(315),
            },
            QuotaExceeded,
            NotFound {
                code: "itemNotFound".into(),
            },
            NameAlreadyExists,
            Conflict {
                code: "conflict".into(),
            },
            PreconditionFailed,
            Locked,
            AccessDenied {
                code: "accessDenied".into(),
            },
            PathTooLong,
            InvalidRequest {
                status: 400,
                codes: vec!["invalidRequest".into(), "invalidPath".into()],
            },
            TooLarge,
            InvalidName(NameError::Empty),
            Offline {
                kind: NetworkErrorKind::Dns,
            },
            Network {
                kind: NetworkErrorKind::Timeout,
            },
            Server {
                status: 503,
                codes: vec![],
            },
            InvalidResponse {
                detail: "expected value at line 1 column 1".into(),
            },
            UploadSessionGone,
            UploadOutOfSync,
            HashMismatch {
                expected: "a".into(),
                actual: "b".into(),
            },
            SizeMismatch {
                expected: 1,
                actual: 2,
            },
        ]
    }

    #[test]
    fn every_code_is_in_the_closed_set_and_every_message_says_what_to_do() {
        for e in all() {
            assert!(GraphError::CODES.contains(&e.code()), "{e:?}");
            let msg = e.to_string();
            assert!(msg.ends_with('.'), "{msg}");
            let actionable = [
                "Sign in",
                "sign in",
                "Start the sign-in",
                "enter the code",
                "try again",
                "Nuage will",
                "choose",
                "Choose",
                "Rename",
                "Free some space",
                "update",
                "Check",
                "Close it",
                "ask",
                "nothing needs to be done",
                "Give it a name",
                "NUAGE_TOKEN_STORE=file",
            ];
            assert!(
                actionable.iter().any(|a| msg.contains(a)),
                "message gives no action: {msg}"
            );
        }
    }

    #[test]
    fn codes_cover_the_closed_set() {
        let used: std::collections::BTreeSet<_> = all().iter().map(|e| e.code()).collect();
        let all_codes: std::collections::BTreeSet<_> = GraphError::CODES.iter().copied().collect();
        assert_eq!(used, all_codes);
    }

    #[test]
    fn specific_messages() {
        assert_eq!(
            GraphError::QuotaExceeded.to_string(),
            "OneDrive is full (quota exceeded). Free some space in OneDrive or choose another destination."
        );
        assert_eq!(GraphError::QuotaExceeded.code(), "destination_full");
        let t = GraphError::Throttled {
            retry_after: Duration::from_secs(315),
        };
        assert!(t.to_string().contains("wait 5 min 15 s"), "{t}");
        let s = GraphError::SignInRequired {
            codes: vec![700082],
        };
        assert!(s.to_string().contains("(AADSTS700082)"), "{s}");
        assert!(
            GraphError::SignInRequired { codes: vec![] }
                .to_string()
                .starts_with("Nuage is no longer signed in to Microsoft. Sign in again")
        );
        let f = GraphError::SignInFailed {
            error: "invalid_client".into(),
            codes: vec![7000218],
        };
        assert!(
            f.to_string().contains("(invalid_client, AADSTS7000218)"),
            "{f}"
        );
        let r = GraphError::InvalidRequest {
            status: 400,
            codes: vec!["invalidRequest".into(), "invalidPath".into()],
        };
        assert!(
            r.to_string()
                .contains("(HTTP 400, invalidRequest/invalidPath)"),
            "{r}"
        );
        let r = GraphError::Server {
            status: 502,
            codes: vec![],
        };
        assert!(r.to_string().contains("(HTTP 502)"), "{r}");
        let n: GraphError = NameError::Empty.into();
        assert_eq!(n.code(), "invalid_request");
    }

    #[test]
    fn retry_after_only_for_throttled() {
        let t = GraphError::Throttled {
            retry_after: Duration::from_secs(41),
        };
        assert_eq!(t.retry_after(), Some(Duration::from_secs(41)));
        assert_eq!(GraphError::QuotaExceeded.retry_after(), None);
    }

    #[test]
    fn durations_for_people() {
        let h = |s| human_duration(Duration::from_secs(s));
        assert_eq!(h(0), "0 s");
        assert_eq!(h(41), "41 s");
        assert_eq!(h(60), "1 min");
        assert_eq!(h(315), "5 min 15 s");
        assert_eq!(h(3600), "1 h");
        assert_eq!(h(3601), "1 h 1 min");
        assert_eq!(h(7500), "2 h 5 min");
        assert_eq!(h(86400), "1 day");
        assert_eq!(h(86401), "2 days");
        assert_eq!(h(u64::MAX), format!("{} days", u64::MAX.div_ceil(86400)));
        assert_eq!(human_duration(Duration::from_millis(200)), "1 s");
    }
}
