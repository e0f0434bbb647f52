//! A PostgreSQL source's password lives where the Microsoft tokens do: the
//! OS keychain, or the explicit `NUAGE_TOKEN_STORE=file` opt-in. Never in
//! the state database, a log or a message.

use std::path::Path;

use nuage_graph::session::Settings;
use nuage_graph::tokens::{Kind, key_for_home, open_store};

use crate::error::{Error, ErrorCode, Result};

fn store_error(e: impl std::fmt::Display) -> Error {
    Error::Destination {
        code: ErrorCode::KeychainUnavailable,
        message: format!("the database password cannot be kept in the keychain: {e}"),
    }
}

fn key(home: &Path, source: &str) -> String {
    format!("{}.{source}", key_for_home(home))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    password: String,
}

/// Keeps `password` for `source`, replacing what was kept.
pub fn save(home: &Path, settings: &Settings, source: &str, password: &str) -> Result<()> {
    let store = open_store(home, settings.token_store.as_deref()).map_err(store_error)?;
    let json = serde_json::to_string(&Stored {
        password: password.to_string(),
    })
    .map_err(store_error)?;
    store
        .write(Kind::SourcePassword, &key(home, source), &json)
        .map_err(store_error)
}

/// The password kept for `source`, if any.
pub fn load(home: &Path, settings: &Settings, source: &str) -> Result<Option<String>> {
    let store = open_store(home, settings.token_store.as_deref()).map_err(store_error)?;
    Ok(store
        .read(Kind::SourcePassword, &key(home, source))
        .map_err(store_error)?
        .and_then(|j| serde_json::from_str::<Stored>(&j).ok())
        .map(|s| s.password))
}

/// Forgets the password of `source` (removed or renamed).
pub fn forget(home: &Path, settings: &Settings, source: &str) -> Result<()> {
    let store = open_store(home, settings.token_store.as_deref()).map_err(store_error)?;
    store
        .remove(Kind::SourcePassword, &key(home, source))
        .map_err(store_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_kept_per_home_and_source_and_forgotten() {
        let home = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let s = Settings {
            token_store: Some("file".into()),
            ..Settings::default()
        };
        save(home.path(), &s, "shop", "s3cret").unwrap();
        assert_eq!(
            load(home.path(), &s, "shop").unwrap().as_deref(),
            Some("s3cret")
        );
        assert_eq!(load(home.path(), &s, "garage").unwrap(), None);
        assert_eq!(load(other.path(), &s, "shop").unwrap(), None);
        // Nothing in the state database or the home but the opted-in store.
        forget(home.path(), &s, "shop").unwrap();
        assert_eq!(load(home.path(), &s, "shop").unwrap(), None);
    }
}
