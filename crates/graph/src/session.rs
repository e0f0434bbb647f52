//! The signed-in state of a Nuage home, as a [`TokenSource`] for the drive
//! client: tokens come from the keychain ([`crate::tokens`]), are refreshed
//! before they expire, and every new refresh token is stored at once.

use std::path::Path;

use crate::auth::{self, AppRegistration, Endpoints};
use crate::client::TokenSource;
use crate::error::{GraphError, Result};
use crate::tokens::{self, AppCredentials, StoredTokens, TokenStore};
use crate::types::{Secret, TokenResponse};

/// Refresh when the access token has less than this left.
const EARLY_REFRESH_SECS: i64 = 300;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A token lifetime from the server, in seconds, clamped to a day (a
/// number from a server never overflows the time it is added to).
fn lifetime(expires_in: u64) -> i64 {
    expires_in.min(24 * 60 * 60) as i64
}

/// What the binaries read from their environment for Microsoft: the
/// endpoints (national clouds, the emulator) and the token store chosen
/// (`None`: the OS keychain; `Some("file")`: a 0600 file). Nothing in this
/// crate reads the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub endpoints: Endpoints,
    pub token_store: Option<String>,
}

fn open_store(home: &Path, settings: &Settings) -> Result<Box<dyn TokenStore>> {
    tokens::open_store(home, settings.token_store.as_deref()).map_err(keychain_error)
}

/// A keychain failure, with the store's own actionable message.
pub fn keychain_error(e: tokens::TokenStoreError) -> GraphError {
    GraphError::Keychain {
        message: e.to_string(),
    }
}

enum Identity {
    User(StoredTokens),
    App(AppCredentials),
}

/// Access tokens for the drive client, backed by the keychain.
pub struct KeychainTokens {
    store: Box<dyn TokenStore>,
    key: String,
    endpoints: Endpoints,
    identity: Identity,
    access: Option<(Secret, i64)>,
}

impl KeychainTokens {
    /// The signed-in identity of `home`: a person's tokens, or else app
    /// credentials. Neither → sign-in required.
    pub fn load(home: &Path, settings: &Settings) -> Result<KeychainTokens> {
        let store = open_store(home, settings)?;
        let endpoints = settings.endpoints.clone();
        let key = tokens::key_for_home(home);
        let identity = if let Some(t) = store.load_tokens(&key).map_err(keychain_error)? {
            Identity::User(t)
        } else if let Some(a) = store.load_app_credentials(&key).map_err(keychain_error)? {
            Identity::App(a)
        } else {
            return Err(GraphError::SignInRequired { codes: vec![] });
        };
        let access = match &identity {
            Identity::User(t) => t.access_token.clone().zip(t.access_expires_at),
            Identity::App(_) => None,
        };
        Ok(KeychainTokens {
            store,
            key,
            endpoints,
            identity,
            access,
        })
    }

    /// Who is signed in, for people.
    pub fn account(&self) -> String {
        match &self.identity {
            Identity::User(t) => t
                .account
                .clone()
                .unwrap_or_else(|| "a Microsoft account".into()),
            Identity::App(a) => format!("app {} in tenant {}", a.client_id, a.tenant),
        }
    }

    pub fn is_app(&self) -> bool {
        matches!(self.identity, Identity::App(_))
    }

    fn fetch(&mut self) -> Result<Secret> {
        let resp = match &self.identity {
            Identity::User(t) => {
                let app = AppRegistration {
                    client_id: t.client_id.clone(),
                    tenant: t.tenant.clone(),
                };
                auth::refresh(&self.endpoints, &app, &t.refresh_token)?
            }
            Identity::App(a) => {
                let app = AppRegistration {
                    client_id: a.client_id.clone(),
                    tenant: a.tenant.clone(),
                };
                auth::client_credentials(&self.endpoints, &app, &a.client_secret)?
            }
        };
        let expires = now() + lifetime(resp.expires_in);
        if let Identity::User(t) = &mut self.identity {
            if let Some(rt) = resp.refresh_token.clone() {
                t.refresh_token = rt;
            }
            t.access_token = Some(resp.access_token.clone());
            t.access_expires_at = Some(expires);
            // The new refresh token is stored before it is used.
            self.store
                .save_tokens(&self.key, t)
                .map_err(keychain_error)?;
        }
        self.access = Some((resp.access_token.clone(), expires));
        Ok(resp.access_token)
    }
}

impl TokenSource for KeychainTokens {
    fn access_token(&mut self) -> Result<Secret> {
        match &self.access {
            Some((t, exp)) if *exp - now() > EARLY_REFRESH_SECS => Ok(t.clone()),
            _ => self.fetch(),
        }
    }

    fn refresh(&mut self) -> Result<Secret> {
        self.fetch()
    }
}

/// Stores a person's tokens after a device sign-in.
pub fn save_user_tokens(
    home: &Path,
    settings: &Settings,
    app: &AppRegistration,
    resp: &TokenResponse,
    account: Option<String>,
) -> Result<()> {
    let refresh_token = resp
        .refresh_token
        .clone()
        .ok_or_else(|| GraphError::SignInFailed {
            error: "no refresh token was granted (offline_access missing)".into(),
            codes: vec![],
        })?;
    let t = StoredTokens {
        refresh_token,
        access_token: Some(resp.access_token.clone()),
        access_expires_at: Some(now() + lifetime(resp.expires_in)),
        account,
        tenant: app.tenant.clone(),
        client_id: app.client_id.clone(),
        scopes: resp.scope.split_whitespace().map(str::to_string).collect(),
    };
    let store = open_store(home, settings)?;
    let key = tokens::key_for_home(home);
    store.delete_app_credentials(&key).map_err(keychain_error)?;
    store.save_tokens(&key, &t).map_err(keychain_error)
}

/// Stores app-only credentials after they were checked.
pub fn save_app_credentials(
    home: &Path,
    settings: &Settings,
    app: &AppRegistration,
    secret: &Secret,
) -> Result<()> {
    let store = open_store(home, settings)?;
    let key = tokens::key_for_home(home);
    store.delete_tokens(&key).map_err(keychain_error)?;
    store
        .save_app_credentials(
            &key,
            &AppCredentials {
                tenant: app.tenant.clone(),
                client_id: app.client_id.clone(),
                client_secret: secret.clone(),
            },
        )
        .map_err(keychain_error)
}

/// The warning to show whenever tokens are kept outside the keychain
/// (`NUAGE_TOKEN_STORE=file`).
pub fn store_warning(home: &Path, settings: &Settings) -> Result<Option<String>> {
    let store = open_store(home, settings)?;
    Ok(store.warning().map(str::to_string))
}

/// Forgets every credential of `home`.
pub fn sign_out(home: &Path, settings: &Settings) -> Result<()> {
    let store = open_store(home, settings)?;
    let key = tokens::key_for_home(home);
    store.delete_tokens(&key).map_err(keychain_error)?;
    store.delete_app_credentials(&key).map_err(keychain_error)
}
