//! A PostgreSQL source's password lives where the Microsoft tokens do: the
//! OS keychain, or the explicit `NUAGE_TOKEN_STORE=file` opt-in. Never in
//! the state database, a log or a message.

use std::path::Path;

use nuage_graph::session::Settings;
use nuage_graph::tokens::{Kind, key_for_home};

use crate::error::Result;
use crate::secret::Slot;

/// The keychain entry of `source`'s password in `home`.
fn slot<'a>(home: &'a Path, settings: &'a Settings, source: &str) -> Slot<'a> {
    Slot {
        home,
        settings,
        kind: Kind::SourcePassword,
        key: format!("{}.{source}", key_for_home(home)),
        what: "the database password",
    }
}

/// Keeps `password` for `source`, replacing what was kept.
pub fn save(home: &Path, settings: &Settings, source: &str, password: &str) -> Result<()> {
    slot(home, settings, source).write(password)
}

/// The password kept for `source`, if any.
pub fn load(home: &Path, settings: &Settings, source: &str) -> Result<Option<String>> {
    slot(home, settings, source).read()
}

/// Forgets the password of `source` (removed or renamed).
pub fn forget(home: &Path, settings: &Settings, source: &str) -> Result<()> {
    slot(home, settings, source).remove()
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
