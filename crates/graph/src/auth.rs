//! Signing in to the Microsoft identity platform (v2.0 endpoints): the
//! device authorization grant (RFC 8628) for people, client credentials for
//! an unattended machine, and refresh.
//!
//! The `oauth2` crate builds and sends the device authorization, refresh and
//! client-credentials requests. The device-code *polling* loop is written
//! here instead of `oauth2`'s own: that one cannot be cancelled, and it does
//! not know Microsoft's `authorization_declined`; the loop below honours
//! `interval`, adds 5 s on `slow_down`, and stops on a declined, expired or
//! unknown code or when the caller cancels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, ClientId, ClientSecret, DeviceAuthorizationUrl, RefreshToken, RequestTokenError,
    Scope, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};

use crate::error::{GraphError, NetworkErrorKind, Result};
use crate::types::{Secret, StsError, StsErrorKind, TokenResponse};

/// The scopes Nuage asks for: its own drive, and files shared with the user
/// (a SharePoint folder given by a sharing link lives in another drive).
pub const USER_SCOPES: &[&str] = &[
    "offline_access",
    "User.Read",
    "Files.ReadWrite",
    "Files.ReadWrite.All",
];
/// App-only sign-in asks for the app's granted application permissions.
pub const APP_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Where the identity platform and Graph are: Microsoft's by default,
/// overridable for national clouds and for the emulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// `https://login.microsoftonline.com`; the tenant and
    /// `/oauth2/v2.0/...` are appended.
    pub authority: String,
    /// `https://graph.microsoft.com/v1.0`
    pub graph: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            authority: "https://login.microsoftonline.com".into(),
            graph: "https://graph.microsoft.com/v1.0".into(),
        }
    }
}

impl Endpoints {
    /// The defaults, with either URL replaced when given (a national
    /// cloud, the emulator). The binaries read them from
    /// `NUAGE_AUTHORITY_URL` and `NUAGE_GRAPH_URL`.
    pub fn with(authority: Option<&str>, graph: Option<&str>) -> Self {
        let d = Endpoints::default();
        let pick = |v: Option<&str>, default: String| {
            v.filter(|v| !v.is_empty())
                .map(str::to_string)
                .unwrap_or(default)
                .trim_end_matches('/')
                .to_string()
        };
        Endpoints {
            authority: pick(authority, d.authority),
            graph: pick(graph, d.graph),
        }
    }

    fn url(&self, tenant: &str, what: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/{what}", self.authority)
    }
}

/// The app registration Nuage signs in with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRegistration {
    pub client_id: String,
    /// `common`, `consumers`, `organizations` or a tenant id or domain.
    pub tenant: String,
}

pub use crate::error::HOW_TO_REGISTER;

/// A device sign-in in progress: show `user_code` and `verification_uri`
/// (or Microsoft's `message`) to the person, then [`DeviceFlow::wait`].
pub struct DeviceFlow {
    pub user_code: String,
    pub verification_uri: String,
    pub message: String,
    pub expires_at: Instant,
    /// How long the code lives, from its issue.
    expires_in: Duration,
    device_code: Secret,
    interval: Duration,
    endpoints: Endpoints,
    app: AppRegistration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MicrosoftDeviceFields {
    #[serde(default)]
    message: String,
}
impl oauth2::ExtraDeviceAuthorizationFields for MicrosoftDeviceFields {}

/// The HTTP client for identity calls: no redirects (a token endpoint never
/// redirects; following one could leak a code), bounded timeouts.
pub fn identity_http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(20))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a TLS backend is compiled in")
}

/// [`identity_http`] for `oauth2`, reading answers of at most
/// [`crate::client::MAX_ANSWER`] bytes (`oauth2`'s own adapter buffers
/// any body whole).
struct IdentityHttp(reqwest::blocking::Client);

#[derive(Debug, thiserror::Error)]
enum IdentityHttpError {
    #[error("{0}")]
    Network(#[from] reqwest::Error),
    #[error("{0}")]
    Answer(std::io::Error),
    #[error("{0}")]
    Request(String),
}

impl oauth2::SyncHttpClient for IdentityHttp {
    type Error = IdentityHttpError;
    fn call(
        &self,
        request: oauth2::HttpRequest,
    ) -> std::result::Result<oauth2::HttpResponse, IdentityHttpError> {
        let (parts, body) = request.into_parts();
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
            .map_err(|e| IdentityHttpError::Request(e.to_string()))?;
        let mut req = self.0.request(method, parts.uri.to_string()).body(body);
        for (k, v) in &parts.headers {
            req = req.header(k.as_str(), v.as_bytes());
        }
        let resp = req.send()?;
        let mut out = oauth2::http::Response::builder().status(resp.status().as_u16());
        for (k, v) in resp.headers() {
            out = out.header(k.as_str(), v.as_bytes());
        }
        let body = crate::client::read_capped(resp).map_err(IdentityHttpError::Answer)?;
        out.body(body)
            .map_err(|e| IdentityHttpError::Request(e.to_string()))
    }
}

fn network(e: &reqwest::Error) -> GraphError {
    let kind = if e.is_timeout() {
        NetworkErrorKind::Timeout
    } else if e.is_connect() {
        NetworkErrorKind::Connect
    } else {
        NetworkErrorKind::Other
    };
    GraphError::Offline { kind }
}

/// Maps an `oauth2` failure: the server's answer by its `error` code, a
/// transport failure as offline.
fn oauth_error(
    e: RequestTokenError<IdentityHttpError, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
) -> GraphError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let code = match r.error() {
                BasicErrorResponseType::Extension(s) => s.clone(),
                other => other.as_ref().to_string(),
            };
            sts_to_error(&StsError {
                error: code,
                error_description: None,
                error_codes: None,
                ..sts_default()
            })
        }
        RequestTokenError::Request(IdentityHttpError::Answer(e)) => GraphError::InvalidResponse {
            detail: format!("unexpected answer from the identity platform: {e}"),
        },
        RequestTokenError::Request(IdentityHttpError::Network(e)) => network(&e),
        RequestTokenError::Request(IdentityHttpError::Request(_)) => GraphError::Offline {
            kind: NetworkErrorKind::Connect,
        },
        RequestTokenError::Parse(e, _) => GraphError::InvalidResponse {
            detail: e.to_string(),
        },
        RequestTokenError::Other(s) => GraphError::InvalidResponse { detail: s },
    }
}

fn sts_default() -> StsError {
    serde_json::from_str(r#"{"error":""}"#).expect("minimal STS error")
}

/// The meaning of an identity platform error for Nuage.
pub fn sts_to_error(e: &StsError) -> GraphError {
    match e.kind() {
        StsErrorKind::AuthorizationPending | StsErrorKind::SlowDown => GraphError::SignInPending {
            slow_down: e.kind() == StsErrorKind::SlowDown,
        },
        StsErrorKind::AuthorizationDeclined => GraphError::SignInDeclined,
        StsErrorKind::ExpiredToken => GraphError::SignInExpired,
        StsErrorKind::InvalidGrant | StsErrorKind::InteractionRequired => {
            GraphError::SignInRequired {
                codes: e.codes().to_vec(),
            }
        }
        _ => GraphError::SignInFailed {
            error: e.error.clone(),
            codes: e.codes().to_vec(),
        },
    }
}

impl DeviceFlow {
    /// Asks for a device code.
    pub fn start(endpoints: &Endpoints, app: &AppRegistration) -> Result<DeviceFlow> {
        let client = BasicClient::new(ClientId::new(app.client_id.clone()))
            .set_device_authorization_url(
                DeviceAuthorizationUrl::new(endpoints.url(&app.tenant, "devicecode"))
                    .map_err(bad_url)?,
            );
        let mut req = client.exchange_device_code();
        for s in USER_SCOPES {
            req = req.add_scope(Scope::new((*s).to_string()));
        }
        let details: oauth2::DeviceAuthorizationResponse<MicrosoftDeviceFields> = req
            .request(&IdentityHttp(identity_http()))
            .map_err(oauth_error)?;
        // Numbers from a server are clamped before any time arithmetic:
        // Microsoft's codes live 15 minutes and ask for 5 s between polls.
        let expires_in = details.expires_in().min(Duration::from_secs(60 * 60));
        Ok(DeviceFlow {
            user_code: details.user_code().secret().clone(),
            verification_uri: details.verification_uri().to_string(),
            message: details.extra_fields().message.clone(),
            expires_at: Instant::now() + expires_in,
            expires_in,
            device_code: Secret::new(details.device_code().secret().clone()),
            interval: details
                .interval()
                .clamp(Duration::from_secs(1), Duration::from_secs(120)),
            endpoints: endpoints.clone(),
            app: app.clone(),
        })
    }

    /// Polls every `interval` instead of the advertised one: for tests of
    /// the server's `slow_down` answer, which a compliant client never sees.
    #[doc(hidden)]
    pub fn poll_every(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Polls until the person approves (tokens), declines, the code
    /// expires, or `cancel` is set.
    pub fn wait(&self, cancel: &AtomicBool) -> Result<TokenResponse> {
        self.wait_with(&mut |interval| {
            // Sleep in small steps so a cancellation is seen at once.
            let until = Instant::now() + interval;
            while Instant::now() < until {
                if cancel.load(Ordering::Relaxed) {
                    return false;
                }
                std::thread::sleep(
                    Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())),
                );
            }
            !cancel.load(Ordering::Relaxed)
        })
    }

    /// [`DeviceFlow::wait`] with the pause between polls given: `pause(d)`
    /// lets `d` pass and returns false to cancel. The code's lifetime is
    /// counted in the pauses, so a test that moves a clock instead of
    /// sleeping sees the same polls, intervals and expiry.
    pub fn wait_with(&self, pause: &mut dyn FnMut(Duration) -> bool) -> Result<TokenResponse> {
        let http = identity_http();
        let mut interval = self.interval;
        let mut waited = Duration::ZERO;
        loop {
            if !pause(interval) {
                return Err(GraphError::SignInCancelled);
            }
            waited += interval;
            if waited >= self.expires_in {
                return Err(GraphError::SignInExpired);
            }
            let resp = http
                .post(self.endpoints.url(&self.app.tenant, "token"))
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", self.app.client_id.as_str()),
                    ("device_code", self.device_code.expose()),
                ])
                .send();
            let resp = match resp {
                Ok(r) => r,
                // A dropped connection while waiting for a person: keep polling.
                Err(e) if e.is_timeout() || e.is_connect() => continue,
                Err(e) => return Err(network(&e)),
            };
            let status = resp.status();
            let body = match crate::client::read_capped(resp) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Err(GraphError::InvalidResponse {
                        detail: format!("unexpected answer from the identity platform: {e}"),
                    });
                }
                Err(_) => continue,
            };
            if status.is_success() {
                return serde_json::from_slice(&body).map_err(|e| GraphError::InvalidResponse {
                    detail: e.to_string(),
                });
            }
            let err: StsError =
                serde_json::from_slice(&body).map_err(|_| GraphError::InvalidResponse {
                    detail: format!("the sign-in service answered {status}"),
                })?;
            match sts_to_error(&err) {
                GraphError::SignInPending { slow_down: true } => interval += Duration::from_secs(5),
                GraphError::SignInPending { slow_down: false } => {}
                other => return Err(other),
            }
        }
    }
}

fn bad_url(e: oauth2::url::ParseError) -> GraphError {
    GraphError::InvalidRequest {
        status: 0,
        codes: vec![format!("invalid endpoint URL: {e}")],
    }
}

fn to_response(t: &oauth2::basic::BasicTokenResponse) -> TokenResponse {
    TokenResponse {
        token_type: "Bearer".into(),
        scope: t
            .scopes()
            .map(|s| {
                s.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
        expires_in: t.expires_in().map(|d| d.as_secs()).unwrap_or(3600),
        access_token: Secret::new(t.access_token().secret().clone()),
        refresh_token: t.refresh_token().map(|r| Secret::new(r.secret().clone())),
        id_token: None,
    }
}

/// Exchanges a refresh token for new tokens (a new refresh token included:
/// store it, the old one is then discarded).
pub fn refresh(
    endpoints: &Endpoints,
    app: &AppRegistration,
    refresh_token: &Secret,
) -> Result<TokenResponse> {
    let client = BasicClient::new(ClientId::new(app.client_id.clone()))
        .set_token_uri(TokenUrl::new(endpoints.url(&app.tenant, "token")).map_err(bad_url)?);
    let token = RefreshToken::new(refresh_token.expose().to_string());
    // No `scope`: a refresh may only ask for a subset of what was granted
    // (contract §1.3), and without one it carries the original grant over.
    client
        .exchange_refresh_token(&token)
        .request(&IdentityHttp(identity_http()))
        .map(|t| to_response(&t))
        .map_err(oauth_error)
}

/// App-only sign-in with a client secret (an unattended machine).
pub fn client_credentials(
    endpoints: &Endpoints,
    app: &AppRegistration,
    secret: &Secret,
) -> Result<TokenResponse> {
    let client = BasicClient::new(ClientId::new(app.client_id.clone()))
        .set_client_secret(ClientSecret::new(secret.expose().to_string()))
        .set_auth_type(oauth2::AuthType::RequestBody)
        .set_auth_uri(AuthUrl::new(endpoints.url(&app.tenant, "authorize")).map_err(bad_url)?)
        .set_token_uri(TokenUrl::new(endpoints.url(&app.tenant, "token")).map_err(bad_url)?);
    client
        .exchange_client_credentials()
        .add_scope(Scope::new(APP_SCOPE.to_string()))
        .request(&IdentityHttp(identity_http()))
        .map(|t| to_response(&t))
        .map_err(oauth_error)
}
