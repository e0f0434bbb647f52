//! The token store: where Nuage keeps what lets it act for the user —
//! Microsoft tokens ([`StoredTokens`]) and, for an app-only setup, the app's
//! own credentials ([`AppCredentials`]).
//!
//! **Tokens live in the OS keychain and nowhere else**: never in a file of
//! the home, a log, an error message or `--json` output. Every secret is a
//! [`Secret`], whose `Debug` prints only its length; no error of this module
//! carries a secret, not even a fragment of a stored value (JSON errors are
//! reduced to their position, because `serde_json` quotes the offending
//! value in its messages).
//!
//! Two implementations of [`TokenStore`]:
//! - [`KeyringStore`] (the default): the OS keychain through the `keyring`
//!   crate — the Secret Service (gnome-keyring, KWallet) on Linux, the login
//!   Keychain on macOS, the Credential Manager on Windows. One entry per
//!   value: service `nuage`, user `tokens:<key>` or `app-credentials:<key>`,
//!   the secret a JSON document. Tokens are kilobytes; the Secret Service
//!   takes that in one entry. **Windows** caps an entry at 2560 bytes
//!   (`CRED_MAX_CREDENTIAL_BLOB_SIZE`), and keyring stores a password as
//!   UTF-16, so about 1280 characters: Microsoft tokens do not fit, and a
//!   save fails with [`TokenStoreError::TooLarge`]. That does not concern
//!   Linux, the platform built and tested today; a Windows port must split
//!   the document over several entries.
//! - [`FileStore`], only when asked for with `NUAGE_TOKEN_STORE=file` (a
//!   headless server without a keychain): a `0600` file per value in the
//!   `0700` folder `<home>/secrets`, written atomically. Its
//!   [`TokenStore::warning`] says so, for the front end to show.
//!
//! [`open_store`] picks one from the setting the binaries read.
//!
//! # Blocking
//! Every call is synchronous and may block: a D-Bus round trip, or as long
//! as the user takes to answer an unlock prompt of the keychain. The engine
//! is synchronous and calls it directly; **a caller on an async runtime
//! (tokio) must wrap calls in `spawn_blocking`** — keyring's async backends
//! are known to panic with "Cannot start a runtime from within a runtime"
//! when called on a runtime thread, and a blocked executor thread stalls
//! every task on it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::types::Secret;

// The keychain backend of each supported OS, named explicitly: keyring falls
// back to an in-memory mock when built without a backend feature, which
// would "work" and forget every token at exit. Naming the backend module
// makes such a build fail to compile instead (the module only exists with
// its feature), and credentials are built from it directly rather than from
// keyring's process-wide default builder, which any code could replace.
#[cfg(target_os = "linux")]
use keyring::secret_service as backend;

#[cfg(target_os = "macos")]
use keyring::macos as backend;

#[cfg(target_os = "windows")]
use keyring::windows as backend;

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
compile_error!(
    "nuage-graph keeps tokens in the OS keychain and knows no keychain backend for this OS; \
     add one to crates/graph/Cargo.toml and src/tokens.rs"
);

/// The keyring service of every Nuage entry.
pub const SERVICE: &str = "nuage";

/// The environment variable choosing the store: unset, empty, `keyring` or
/// `keychain` for the OS keychain; `file` for [`FileStore`].
pub const STORE_ENV: &str = "NUAGE_TOKEN_STORE";

/// The folder of [`FileStore`] inside the Nuage home.
pub const FILE_STORE_DIR: &str = "secrets";

// ---------------------------------------------------------------------------
// What is stored
// ---------------------------------------------------------------------------

/// What a signed-in Nuage home keeps between runs. Serialised as one JSON
/// document into one keychain entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTokens {
    /// The long-lived credential. Microsoft returns a new one with each
    /// refresh: save it, the old one may stop working.
    pub refresh_token: Secret,
    /// The last access token, reused until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    /// When `access_token` expires, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_expires_at: Option<i64>,
    /// Display name or UPN of the signed-in user, for people; not a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The tenant the tokens were issued by (`common`, `consumers`,
    /// `organizations` or a tenant id).
    pub tenant: String,
    /// The application (client) id the tokens were issued to.
    pub client_id: String,
    /// The scopes granted.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Credentials of a confidential client (an app registration with a client
/// secret), for an app-only setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCredentials {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: Secret,
}

impl fmt::Display for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Microsoft tokens for {} (tenant {}, client {}",
            self.account.as_deref().unwrap_or("an unnamed account"),
            self.tenant,
            self.client_id
        )?;
        if !self.scopes.is_empty() {
            write!(f, ", scopes {}", self.scopes.join(" "))?;
        }
        match (&self.access_token, self.access_expires_at) {
            (Some(_), Some(at)) => write!(f, ", access token valid until {at})"),
            (Some(_), None) => write!(f, ", access token of unknown lifetime)"),
            (None, _) => write!(f, ", no access token)"),
        }
    }
}

impl fmt::Display for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "app credentials of client {} in tenant {}",
            self.client_id, self.tenant
        )
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[cfg(target_os = "linux")]
const NO_KEYCHAIN: &str = "No keychain is available (no Secret Service on the session bus). Log in to a desktop session or start gnome-keyring; on a headless server, set NUAGE_TOKEN_STORE=file to keep tokens in a file readable only by you.";
#[cfg(not(target_os = "linux"))]
const NO_KEYCHAIN: &str = "No keychain is available. Log in to a desktop session; on a headless server, set NUAGE_TOKEN_STORE=file to keep tokens in a file readable only by you.";

/// Why the token store failed. Messages say what happened and what to do,
/// and never contain a secret (neither does `Debug`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenStoreError {
    /// No keychain to talk to: no D-Bus session bus, or no Secret Service
    /// on it. `detail` (the D-Bus error, for diagnostics) is left out of the
    /// message.
    #[error("{}", NO_KEYCHAIN)]
    NoKeychain { detail: String },

    /// The keychain is there but locked, and unlocking it failed or was
    /// declined.
    #[error("The keychain is locked; unlock it and try again.")]
    Locked,

    /// Any other failure of the keychain.
    #[error(
        "The keychain failed ({detail}). Try again; if it keeps failing, restart the keychain service (gnome-keyring), or set NUAGE_TOKEN_STORE=file to keep tokens in a file readable only by you."
    )]
    Keychain { detail: String },

    /// More than one keychain entry matches one of Nuage's.
    #[error(
        "The keychain holds {count} entries for Nuage's {what} (service \"nuage\") where there should be one. Delete them with the keychain's manager (e.g. Seahorse) and sign in again."
    )]
    Ambiguous { what: &'static str, count: usize },

    /// The keychain refused an entry that large (Windows: 2560 bytes).
    #[error(
        "The keychain refused to store Nuage's {what}: its {attribute} is over the keychain's limit of {limit}. Set NUAGE_TOKEN_STORE=file to keep tokens in a file readable only by you."
    )]
    TooLarge {
        what: &'static str,
        attribute: String,
        limit: u32,
    },

    /// A stored value is not what Nuage wrote. `detail` gives a position,
    /// never content.
    #[error(
        "Nuage's {what} in the {place} could not be read ({detail}). Sign in again to replace them."
    )]
    Corrupt {
        what: &'static str,
        place: &'static str,
        detail: String,
    },

    /// `NUAGE_TOKEN_STORE` has a value Nuage does not know.
    #[error(
        "NUAGE_TOKEN_STORE is set to {value:?}, which Nuage does not know. Unset it to use the keychain, or set it to \"file\" to keep tokens in a file readable only by you."
    )]
    UnknownStore { value: String },

    /// Reading or writing the token file or its folder failed.
    #[error("Nuage could not {action} {}: {source}. Check that it belongs to you and that the disk is not full.", .path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    /// The token file or its folder can be read by other users.
    #[error(
        "The {what} {} can be read by other users (permissions {mode:04o}). Run `chmod {wanted} {}` and sign in again, as the tokens in it may have been copied.",
        .path.display(),
        .path.display()
    )]
    InsecureFile {
        what: &'static str,
        path: PathBuf,
        mode: u32,
        wanted: &'static str,
    },

    /// A key that cannot name an entry (a bug of the caller).
    #[error(
        "Nuage used an invalid token store key ({key:?}). This is a bug in Nuage: update it, or report the error with this message."
    )]
    InvalidKey { key: String },
}

impl TokenStoreError {
    /// Stable machine code for scripts and the desktop UI. Closed set:
    /// [`TokenStoreError::CODES`].
    pub fn code(&self) -> &'static str {
        use TokenStoreError::*;
        match self {
            NoKeychain { .. } => "keychain_unavailable",
            Locked => "keychain_locked",
            Keychain { .. } | Ambiguous { .. } | TooLarge { .. } => "keychain_error",
            Corrupt { .. } => "sign_in_required",
            UnknownStore { .. } | InvalidKey { .. } => "invalid_setting",
            File { .. } | InsecureFile { .. } => "token_file_error",
        }
    }

    /// Every value [`TokenStoreError::code`] can return.
    pub const CODES: &'static [&'static str] = &[
        "keychain_unavailable",
        "keychain_locked",
        "keychain_error",
        "sign_in_required",
        "invalid_setting",
        "token_file_error",
    ];
}

pub type Result<T, E = TokenStoreError> = std::result::Result<T, E>;

/// What went wrong parsing a stored document, without quoting it:
/// `serde_json`'s own messages include the offending value.
fn json_detail(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "read error",
        Category::Syntax => "not valid JSON",
        Category::Data => "unexpected content",
        Category::Eof => "truncated",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

// ---------------------------------------------------------------------------
// The trait and its choice
// ---------------------------------------------------------------------------

/// Where tokens and app credentials are kept. `key` tells Nuage homes apart
/// ([`key_for_home`]); it must be 1–128 ASCII letters, digits, `-`, `_` or
/// `.`.
///
/// Calls block (see the module documentation): from an async runtime, use
/// `spawn_blocking`.
pub trait TokenStore: Send + Sync {
    /// The JSON document of `kind` under `key`, `None` if there is none.
    fn read(&self, kind: Kind, key: &str) -> Result<Option<String>>;
    /// Stores `json` as the document of `kind` under `key`, replacing it.
    fn write(&self, kind: Kind, key: &str, json: &str) -> Result<()>;
    /// Forgets the document of `kind` under `key`; nothing to forget is not
    /// an error.
    fn remove(&self, kind: Kind, key: &str) -> Result<()>;

    /// The tokens saved under `key`, `None` if there are none.
    fn load_tokens(&self, key: &str) -> Result<Option<StoredTokens>> {
        decode(self.read(Kind::Tokens, key)?, Kind::Tokens, self.place())
    }
    /// Saves `tokens` under `key`, replacing what was there.
    fn save_tokens(&self, key: &str, tokens: &StoredTokens) -> Result<()> {
        self.write(Kind::Tokens, key, &to_json(tokens))
    }
    /// Forgets the tokens under `key`; nothing to forget is not an error.
    fn delete_tokens(&self, key: &str) -> Result<()> {
        self.remove(Kind::Tokens, key)
    }

    /// The app credentials saved under `key`, `None` if there are none.
    fn load_app_credentials(&self, key: &str) -> Result<Option<AppCredentials>> {
        decode(
            self.read(Kind::AppCredentials, key)?,
            Kind::AppCredentials,
            self.place(),
        )
    }
    /// Saves `credentials` under `key`, replacing what was there.
    fn save_app_credentials(&self, key: &str, credentials: &AppCredentials) -> Result<()> {
        self.write(Kind::AppCredentials, key, &to_json(credentials))
    }
    /// Forgets the app credentials under `key`; nothing to forget is not an
    /// error.
    fn delete_app_credentials(&self, key: &str) -> Result<()> {
        self.remove(Kind::AppCredentials, key)
    }

    /// What holds the values, for error messages.
    fn place(&self) -> &'static str;

    /// Where values go, for people: "the keychain (Secret Service)", "the
    /// folder …".
    fn location(&self) -> String;

    /// A warning the front end must show whenever it uses this store: set
    /// when tokens are kept outside the keychain.
    fn warning(&self) -> Option<&str> {
        None
    }
}

/// The store a setting asks for (`NUAGE_TOKEN_STORE`, read by the
/// binaries): the OS keychain unless it is `file`. Check
/// [`TokenStore::warning`] of the result and show it.
pub fn open_store(home: &Path, setting: Option<&str>) -> Result<Box<dyn TokenStore>> {
    match setting.map(str::trim).unwrap_or("") {
        "" | "keyring" | "keychain" => Ok(Box::new(KeyringStore::new())),
        "file" => Ok(Box::new(FileStore::open(home)?)),
        other => Err(TokenStoreError::UnknownStore {
            value: other.to_string(),
        }),
    }
}

/// The store key of a Nuage home: 16 hex digits of a hash of its canonical
/// path, so that two homes never share an entry. Call it once the home
/// exists (a path that does not exist yet is made absolute instead, and
/// symbolic links in it are not resolved).
pub fn key_for_home(home: &Path) -> String {
    let path = fs::canonicalize(home)
        .or_else(|_| std::path::absolute(home))
        .unwrap_or_else(|_| home.to_path_buf());
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"nuage home\0");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        hasher.update(path.as_os_str().as_bytes());
    }
    #[cfg(not(unix))]
    hasher.update(path.to_string_lossy().as_bytes());
    hasher.finalize().to_hex()[..16].to_string()
}

fn check_key(key: &str) -> Result<()> {
    let ok = (1..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && key != "."
        && key != "..";
    if ok {
        Ok(())
    } else {
        Err(TokenStoreError::InvalidKey {
            key: key.to_string(),
        })
    }
}

/// The two kinds of value a store keeps, one JSON document each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tokens,
    AppCredentials,
    /// The key that seals secrets Nuage keeps in its state database
    /// (resumable upload URLs, which are pre-authenticated).
    SealingKey,
    /// A database source's password (PostgreSQL), under the key
    /// `<home key>.<source name>`.
    SourcePassword,
    /// A secret of the alerts (the SMTP password, the webhook URL, which
    /// carries its token), under `<home key>.<name>`.
    AlertSecret,
    /// A destination's secret (an S3 secret access key), under
    /// `<home key>.<kind>`.
    DestinationSecret,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Tokens => "tokens",
            Kind::AppCredentials => "app-credentials",
            Kind::SealingKey => "sealing-key",
            Kind::SourcePassword => "source-password",
            Kind::AlertSecret => "alert-secret",
            Kind::DestinationSecret => "destination-secret",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Tokens => "Microsoft tokens",
            Kind::AppCredentials => "app credentials",
            Kind::SealingKey => "the key of Nuage's sealed state",
            Kind::SourcePassword => "a database password",
            Kind::AlertSecret => "a secret of the alerts",
            Kind::DestinationSecret => "a destination's secret key",
        }
    }
}

/// Reads back a stored document; a damaged one is reported without its content.
fn decode<T: serde::de::DeserializeOwned>(
    json: Option<String>,
    kind: Kind,
    place: &'static str,
) -> Result<Option<T>> {
    json.map(|j| {
        serde_json::from_str(&j).map_err(|e| TokenStoreError::Corrupt {
            what: kind.what(),
            place,
            detail: json_detail(&e),
        })
    })
    .transpose()
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Plain structs of strings, numbers and options: cannot fail.
    serde_json::to_string(value).expect("token documents always serialise")
}

// ---------------------------------------------------------------------------
// The OS keychain
// ---------------------------------------------------------------------------

/// The OS keychain (see the module documentation).
pub struct KeyringStore {
    service: String,
    builder: Box<keyring::credential::CredentialBuilder>,
}

impl Default for KeyringStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringStore")
            .field("service", &self.service)
            .field("backend", &Self::BACKEND)
            .finish()
    }
}

impl KeyringStore {
    /// The keychain backend of this build.
    #[cfg(target_os = "linux")]
    pub const BACKEND: &'static str = "Secret Service";
    #[cfg(target_os = "macos")]
    pub const BACKEND: &'static str = "macOS Keychain";
    #[cfg(target_os = "windows")]
    pub const BACKEND: &'static str = "Windows Credential Manager";

    /// Entries under the service [`SERVICE`]. Does not touch the keychain:
    /// a missing keychain shows at the first load or save.
    pub fn new() -> Self {
        Self::with_service(SERVICE)
    }

    /// Entries under another service name (tests use their own, so as not
    /// to touch a developer's real Nuage entries).
    pub fn with_service(service: impl Into<String>) -> Self {
        KeyringStore {
            service: service.into(),
            builder: backend::default_credential_builder(),
        }
    }

    /// Whether entries outlive the process — false only for keyring's mock
    /// store, which this build never uses (the guard at the top of this
    /// file); checked by a test.
    pub fn persists(&self) -> bool {
        matches!(
            self.builder.persistence(),
            keyring::credential::CredentialPersistence::UntilDelete
        )
    }

    fn entry(&self, kind: Kind, key: &str) -> Result<keyring::Entry> {
        check_key(key)?;
        let user = format!("{}:{key}", kind.prefix());
        let credential = self
            .builder
            .build(None, &self.service, &user)
            .map_err(|e| keychain_error(e, kind))?;
        Ok(keyring::Entry::new_with_credential(credential))
    }
}

fn delete_all(items: &[Box<keyring::credential::Credential>], kind: Kind) -> Result<()> {
    for item in items {
        match item.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => {}
            Err(e) => return Err(keychain_error(e, kind)),
        }
    }
    Ok(())
}

/// A keyring error as a [`TokenStoreError`], without anything secret:
/// `BadEncoding` carries the stored bytes and is reduced to a word.
fn keychain_error(e: keyring::Error, kind: Kind) -> TokenStoreError {
    match e {
        keyring::Error::NoStorageAccess(_) => TokenStoreError::Locked,
        keyring::Error::PlatformFailure(inner) => match platform_failure(inner.as_ref()) {
            Failure::NoKeychain(detail) => TokenStoreError::NoKeychain { detail },
            Failure::Locked => TokenStoreError::Locked,
            Failure::Other => TokenStoreError::Keychain {
                detail: inner.to_string(),
            },
        },
        keyring::Error::BadEncoding(_) => TokenStoreError::Corrupt {
            what: kind.what(),
            place: "keychain",
            detail: "not UTF-8 text".into(),
        },
        keyring::Error::TooLong(attribute, limit) => TokenStoreError::TooLarge {
            what: kind.what(),
            attribute,
            limit,
        },
        keyring::Error::Ambiguous(items) => TokenStoreError::Ambiguous {
            what: kind.what(),
            count: items.len(),
        },
        keyring::Error::Invalid(attribute, reason) => TokenStoreError::Keychain {
            detail: format!("attribute {attribute} is invalid: {reason}"),
        },
        keyring::Error::NoEntry => TokenStoreError::Keychain {
            detail: "the entry vanished while Nuage was using it".into(),
        },
        // keyring::Error is non_exhaustive; its messages hold no secret.
        other => TokenStoreError::Keychain {
            detail: other.to_string(),
        },
    }
}

/// What a platform failure of the keychain means for the user.
enum Failure {
    /// Nothing to talk to (the D-Bus error, for diagnostics).
    NoKeychain(String),
    /// The collection is locked.
    Locked,
    Other,
}

/// Sorts the Secret Service's D-Bus errors: "there is no keychain to talk
/// to" (no session bus: no address, a dead socket, autolaunch impossible;
/// or nothing owning `org.freedesktop.secrets` and nothing able to start
/// it), and "locked" — keyring reports most locked cases as
/// `NoStorageAccess`, but creating an item in a locked collection comes
/// back as a D-Bus `IsLocked` error.
#[cfg(target_os = "linux")]
fn platform_failure(inner: &(dyn std::error::Error + Send + Sync + 'static)) -> Failure {
    const NO_KEYCHAIN_ERRORS: &[&str] = &[
        "org.freedesktop.DBus.Error.NoServer",
        "org.freedesktop.DBus.Error.FileNotFound",
        "org.freedesktop.DBus.Error.BadAddress",
        "org.freedesktop.DBus.Error.NotSupported",
        "org.freedesktop.DBus.Error.Disconnected",
        "org.freedesktop.DBus.Error.NoNetwork",
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
    ];
    match inner.downcast_ref::<dbus_secret_service::Error>() {
        Some(dbus_secret_service::Error::Unavailable) => Failure::NoKeychain(inner.to_string()),
        Some(dbus_secret_service::Error::Locked) => Failure::Locked,
        Some(dbus_secret_service::Error::Dbus(e)) => {
            let name = e.name().unwrap_or("");
            if name == "org.freedesktop.Secret.Error.IsLocked" {
                Failure::Locked
            } else if NO_KEYCHAIN_ERRORS.contains(&name)
                // Starting the Secret Service on demand failed.
                || name.starts_with("org.freedesktop.DBus.Error.Spawn.")
            {
                Failure::NoKeychain(format!("{name}: {}", e.message().unwrap_or("")))
            } else {
                Failure::Other
            }
        }
        _ => Failure::Other,
    }
}

#[cfg(not(target_os = "linux"))]
fn platform_failure(_inner: &(dyn std::error::Error + Send + Sync + 'static)) -> Failure {
    Failure::Other
}

/// Whether a keychain failure is one that asking again can mend, not a
/// missing, locked or refusing keychain: the Secret Service gave no reply —
/// busy (gnome-keyring under load lets the D-Bus call time out) or gone
/// mid-call (gnome-keyring 42 aborts now and then when another client goes
/// away during a call, an upstream race; the session bus or the user's
/// service manager starts it again on the next call, and each call here
/// connects anew).
fn transient(e: &keyring::Error) -> bool {
    match e {
        keyring::Error::PlatformFailure(inner) => no_reply(inner.as_ref()),
        _ => false,
    }
}

#[cfg(target_os = "linux")]
fn no_reply(inner: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    let name = match inner.downcast_ref::<dbus_secret_service::Error>() {
        Some(dbus_secret_service::Error::Dbus(e)) => e.name(),
        _ => None,
    };
    matches!(
        name,
        Some("org.freedesktop.DBus.Error.NoReply" | "org.freedesktop.DBus.Error.Timeout")
    ) || says_no_reply(inner)
}

#[cfg(not(target_os = "linux"))]
fn no_reply(inner: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    says_no_reply(inner)
}

fn says_no_reply(inner: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    let text = inner.to_string();
    ["Did not receive a reply", "NoReply", "Timeout", "timed out"]
        .iter()
        .any(|m| text.contains(m))
}

/// `call`, asked again (up to three times in all, a moment apart) while the
/// keychain gives no reply.
fn patiently<T>(mut call: impl FnMut() -> keyring::Result<T>) -> keyring::Result<T> {
    let mut tries = 1;
    loop {
        match call() {
            Err(e) if transient(&e) && tries < 3 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(250 * tries));
            }
            r => return r,
        }
    }
}

impl TokenStore for KeyringStore {
    fn place(&self) -> &'static str {
        "keychain"
    }

    fn read(&self, kind: Kind, key: &str) -> Result<Option<String>> {
        let entry = self.entry(kind, key)?;
        let json = match patiently(|| entry.get_password()) {
            Ok(json) => json,
            Err(keyring::Error::NoEntry) => return Ok(None),
            Err(e) => return Err(keychain_error(e, kind)),
        };
        Ok(Some(json))
    }

    fn write(&self, kind: Kind, key: &str, json: &str) -> Result<()> {
        let entry = self.entry(kind, key)?;
        match patiently(|| entry.set_password(json)) {
            Ok(()) => Ok(()),
            // Several matching items (left by hand or by another tool):
            // replace them all by one.
            Err(keyring::Error::Ambiguous(items)) => {
                delete_all(&items, kind)?;
                entry
                    .set_password(json)
                    .map_err(|e| keychain_error(e, kind))
            }
            Err(e) => Err(keychain_error(e, kind)),
        }
    }

    fn remove(&self, kind: Kind, key: &str) -> Result<()> {
        let entry = self.entry(kind, key)?;
        match patiently(|| entry.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(keyring::Error::Ambiguous(items)) => delete_all(&items, kind),
            Err(e) => Err(keychain_error(e, kind)),
        }
    }

    fn location(&self) -> String {
        format!("the keychain ({})", Self::BACKEND)
    }
}

// ---------------------------------------------------------------------------
// The file store (explicit opt-in)
// ---------------------------------------------------------------------------

/// Tokens in files, for a machine without a keychain, chosen only with
/// `NUAGE_TOKEN_STORE=file`: `<home>/secrets/tokens-<key>.json` and
/// `app-credentials-<key>.json`, mode `0600` in a folder of mode `0700`,
/// each replaced atomically (temporary file, fsync, rename, fsync of the
/// folder). Anyone who can read them (root, a backup of the home) can act
/// as the user: [`TokenStore::warning`] says so.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    warning: String,
}

impl FileStore {
    /// Creates `<home>/secrets` if needed and makes it `0700`.
    pub fn open(home: &Path) -> Result<Self> {
        let dir = home.join(FILE_STORE_DIR);
        let file_err = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| TokenStoreError::File {
                action,
                path,
                source,
            }
        };
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(file_err("create the folder", &dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // An existing folder keeps its mode through create(): tighten it.
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(file_err("restrict the permissions of", &dir))?;
        }
        let warning = format!(
            "Nuage keeps its Microsoft tokens in files under {} (NUAGE_TOKEN_STORE=file), not in the keychain: anyone who can read them, such as an administrator or a backup of that folder, can use your account. Unset NUAGE_TOKEN_STORE to use the keychain.",
            dir.display()
        );
        Ok(FileStore { dir, warning })
    }

    /// The folder of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, kind: Kind, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.dir.join(format!("{}-{key}.json", kind.prefix())))
    }
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl TokenStore for FileStore {
    fn place(&self) -> &'static str {
        "token file"
    }

    fn read(&self, kind: Kind, key: &str) -> Result<Option<String>> {
        let path = self.path(kind, key)?;
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(TokenStoreError::File {
                    action: "open",
                    path,
                    source,
                });
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for (p, what, wanted) in [
                (&self.dir, "token folder", "700"),
                (&path, "token file", "600"),
            ] {
                let mode = fs::metadata(p)
                    .map_err(|source| TokenStoreError::File {
                        action: "inspect",
                        path: p.clone(),
                        source,
                    })?
                    .permissions()
                    .mode()
                    & 0o7777;
                if mode & 0o077 != 0 {
                    return Err(TokenStoreError::InsecureFile {
                        what,
                        path: p.clone(),
                        mode,
                        wanted,
                    });
                }
            }
        }
        let mut json = String::new();
        file.read_to_string(&mut json).map_err(|source| {
            if source.kind() == io::ErrorKind::InvalidData {
                TokenStoreError::Corrupt {
                    what: kind.what(),
                    place: "token file",
                    detail: "not UTF-8 text".into(),
                }
            } else {
                TokenStoreError::File {
                    action: "read",
                    path: path.clone(),
                    source,
                }
            }
        })?;
        Ok(Some(json))
    }

    fn write(&self, kind: Kind, key: &str, json: &str) -> Result<()> {
        let path = self.path(kind, key)?;
        let name = path.file_name().expect("a file name").to_string_lossy();
        let tmp = self
            .dir
            .join(format!(".{name}.tmp-{:016x}", fastrand::u64(..)));
        let write = || -> io::Result<()> {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(json.as_bytes())?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &path)?;
            sync_dir(&self.dir)
        };
        write().map_err(|source| {
            let _ = fs::remove_file(&tmp);
            TokenStoreError::File {
                action: "write",
                path: path.clone(),
                source,
            }
        })
    }

    fn remove(&self, kind: Kind, key: &str) -> Result<()> {
        let path = self.path(kind, key)?;
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir).map_err(|source| TokenStoreError::File {
                action: "delete",
                path,
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(TokenStoreError::File {
                action: "delete",
                path,
                source,
            }),
        }
    }

    fn location(&self) -> String {
        format!("the folder {}", self.dir.display())
    }
    fn warning(&self) -> Option<&str> {
        Some(&self.warning)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_busy_keychain_is_asked_again_and_a_refusing_one_is_not() {
        let busy = || {
            keyring::Error::PlatformFailure(
                "DBus error: Did not receive a reply. Possible causes include: the reply timeout expired"
                    .into(),
            )
        };
        assert!(transient(&busy()));
        assert!(!transient(&keyring::Error::NoStorageAccess(
            "locked".into()
        )));
        assert!(!transient(&keyring::Error::PlatformFailure(
            "org.freedesktop.DBus.Error.ServiceUnknown".into()
        )));
        // Busy twice, then an answer: the answer.
        let mut calls = 0;
        let got = patiently(|| {
            calls += 1;
            if calls < 3 { Err(busy()) } else { Ok(7) }
        });
        assert_eq!((got.ok(), calls), (Some(7), 3));
        // Busy every time: the failure, after three tries.
        let mut calls = 0;
        let got: keyring::Result<()> = patiently(|| {
            calls += 1;
            Err(busy())
        });
        assert!(got.is_err() && calls == 3);
    }

    use super::*;

    #[test]
    fn the_keychain_backend_is_real_not_keyrings_mock() {
        let store = KeyringStore::new();
        assert!(store.persists(), "keyring backend keeps nothing: {store:?}");
        #[cfg(target_os = "linux")]
        assert!(
            store
                .builder
                .as_any()
                .downcast_ref::<keyring::secret_service::SsCredentialBuilder>()
                .is_some()
        );
        assert!(
            store
                .builder
                .as_any()
                .downcast_ref::<keyring::mock::MockCredentialBuilder>()
                .is_none()
        );
    }

    #[test]
    fn keys_are_checked() {
        for good in ["0123456789abcdef", "a", "A-b_c.d"] {
            check_key(good).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a:b", "é", &"x".repeat(129)] {
            let e = check_key(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_setting");
        }
    }

    #[test]
    fn home_keys_are_short_hex_and_differ() {
        let a = key_for_home(Path::new("/nonexistent/nuage-a"));
        let b = key_for_home(Path::new("/nonexistent/nuage-b"));
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(a, key_for_home(Path::new("/nonexistent/nuage-a")));
        check_key(&a).unwrap();
    }

    #[test]
    fn store_setting() {
        let home = Path::new("/nonexistent");
        for keyring in [None, Some(""), Some("keyring"), Some(" keychain ")] {
            let store = open_store(home, keyring).unwrap();
            assert!(store.location().contains("keychain"));
            assert!(store.warning().is_none());
        }
        let e = open_store(home, Some("plaintext")).err().unwrap();
        assert_eq!(
            e.to_string(),
            "NUAGE_TOKEN_STORE is set to \"plaintext\", which Nuage does not know. Unset it to use the keychain, or set it to \"file\" to keep tokens in a file readable only by you."
        );
    }

    #[test]
    fn json_errors_do_not_quote_the_document() {
        let secret = "s3cr3t-refresh-token-value";
        for doc in [
            format!(r#"{{"refresh_token":"{secret}"}}"#),
            format!(
                r#"{{"refresh_token":"x","tenant":"t","client_id":"c","access_expires_at":"{secret}"}}"#
            ),
            format!(r#"{{"refresh_token":"{secret}" "#),
            format!(r#"["{secret}"]"#),
        ] {
            let e = serde_json::from_str::<StoredTokens>(&doc).unwrap_err();
            let detail = json_detail(&e);
            assert!(!detail.contains(secret), "{detail}");
            assert!(detail.contains("line 1"), "{detail}");
        }
    }

    #[test]
    fn every_code_is_in_the_closed_set_and_every_message_says_what_to_do() {
        let all = [
            TokenStoreError::NoKeychain {
                detail: "org.freedesktop.DBus.Error.NoServer: x".into(),
            },
            TokenStoreError::Locked,
            TokenStoreError::Keychain { detail: "x".into() },
            TokenStoreError::Ambiguous {
                what: "Microsoft tokens",
                count: 2,
            },
            TokenStoreError::TooLarge {
                what: "Microsoft tokens",
                attribute: "password encoded as UTF-16".into(),
                limit: 2560,
            },
            TokenStoreError::Corrupt {
                what: "Microsoft tokens",
                place: "keychain",
                detail: "truncated at line 1 column 3".into(),
            },
            TokenStoreError::UnknownStore { value: "x".into() },
            TokenStoreError::File {
                action: "write",
                path: "/x".into(),
                source: io::Error::from(io::ErrorKind::PermissionDenied),
            },
            TokenStoreError::InsecureFile {
                what: "token file",
                path: "/x".into(),
                mode: 0o644,
                wanted: "600",
            },
            TokenStoreError::InvalidKey { key: "a/b".into() },
        ];
        let mut used = std::collections::BTreeSet::new();
        for e in &all {
            assert!(TokenStoreError::CODES.contains(&e.code()), "{e:?}");
            used.insert(e.code());
            let msg = e.to_string();
            assert!(msg.ends_with('.'), "{msg}");
            assert!(msg.starts_with(|c: char| c.is_uppercase()), "{msg}");
        }
        assert_eq!(used.len(), TokenStoreError::CODES.len());
        assert!(all[8].to_string().contains("(permissions 0644)"));
        assert!(all[8].to_string().contains("chmod 600 /x"));
    }
}
