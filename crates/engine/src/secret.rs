//! One secret Nuage keeps where the Microsoft tokens are (the OS keychain,
//! or the explicit `NUAGE_TOKEN_STORE=file` opt-in): the key that seals
//! upload URLs, a database's password. Never in the state database, a log
//! or a message.

use std::path::Path;

use nuage_graph::session::Settings;
use nuage_graph::tokens::{Kind, TokenStore, open_store};

use crate::error::{Error, ErrorCode, Result};

/// Where one secret is kept: its kind and key in the store, and what it is
/// for people ("the database password").
pub(crate) struct Slot<'a> {
    pub home: &'a Path,
    pub settings: &'a Settings,
    pub kind: Kind,
    pub key: String,
    pub what: &'static str,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    secret: String,
}

impl Slot<'_> {
    /// The keychain is missing, locked or refused: say so, for this secret.
    pub fn error(&self, e: impl std::fmt::Display) -> Error {
        Error::Destination {
            code: ErrorCode::KeychainUnavailable,
            message: format!("{} cannot be kept in the keychain: {e}", self.what),
        }
    }

    fn store(&self) -> Result<Box<dyn TokenStore>> {
        open_store(self.home, self.settings.token_store.as_deref()).map_err(|e| self.error(e))
    }

    /// The secret kept here, if any (an unreadable entry reads as none).
    pub fn read(&self) -> Result<Option<String>> {
        Ok(self
            .store()?
            .read(self.kind, &self.key)
            .map_err(|e| self.error(e))?
            .and_then(|j| serde_json::from_str::<Stored>(&j).ok())
            .map(|s| s.secret))
    }

    /// Keeps `secret` here, replacing what was kept.
    pub fn write(&self, secret: &str) -> Result<()> {
        let json = serde_json::to_string(&Stored {
            secret: secret.to_string(),
        })
        .map_err(|e| self.error(e))?;
        self.store()?
            .write(self.kind, &self.key, &json)
            .map_err(|e| self.error(e))
    }

    /// Forgets the secret; nothing to forget is not an error.
    pub fn remove(&self) -> Result<()> {
        self.store()?
            .remove(self.kind, &self.key)
            .map_err(|e| self.error(e))
    }
}
