//! A PostgreSQL source's password lives where the Microsoft tokens do: the
//! OS keychain, or the explicit `NUAGE_TOKEN_STORE=file` opt-in. Never in
//! the state database, a log or a message.

use std::path::Path;

use nuage_graph::session::Settings;
use nuage_graph::tokens::{Kind, key_for_home};

use super::{ConnSpec, SslMode};
use crate::error::{Error, Result};
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

/// What the keychain holds for a source: the password, and the server and
/// user it is for. A password is only ever sent to that server as that
/// user: a source or restore target elsewhere (another host typed in, a
/// check of a new connection string whose database has a registered
/// source's name) never gets it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    host: String,
    port: u16,
    user: String,
    /// The weakest TLS it may be sent over (a verify-full source's
    /// password never goes over a connection that verifies less).
    sslmode: SslMode,
    password: String,
}

/// Keeps `password` for `source`, for `spec`'s server and user.
pub fn save(
    home: &Path,
    settings: &Settings,
    source: &str,
    spec: &ConnSpec,
    password: &str,
) -> Result<()> {
    let kept = Kept {
        host: spec.host.clone(),
        port: spec.port,
        user: spec.user.clone(),
        sslmode: spec.sslmode,
        password: password.to_string(),
    };
    let text = serde_json::to_string(&kept).map_err(|e| Error::Invalid(e.to_string()))?;
    slot(home, settings, source).write(&text)
}

/// The password kept for `source`, if it is for `spec`'s server and user.
pub fn load(
    home: &Path,
    settings: &Settings,
    source: &str,
    spec: &ConnSpec,
) -> Result<Option<String>> {
    let Some(text) = slot(home, settings, source).read()? else {
        return Ok(None);
    };
    Ok(serde_json::from_str::<Kept>(&text).ok().and_then(|k| {
        (k.host == spec.host
            && k.port == spec.port
            && k.user == spec.user
            && spec.sslmode.rank() >= k.sslmode.rank())
        .then_some(k.password)
    }))
}

/// Copies what is kept for `old` to `new` (a source being renamed; the
/// caller forgets `old` once the rename is committed). Returns whether
/// there was anything.
pub fn copy(home: &Path, settings: &Settings, old: &str, new: &str) -> Result<bool> {
    let Some(text) = slot(home, settings, old).read()? else {
        return Ok(false);
    };
    slot(home, settings, new).write(&text)?;
    Ok(true)
}

/// Forgets the password of `source` (removed or renamed).
pub fn forget(home: &Path, settings: &Settings, source: &str) -> Result<()> {
    slot(home, settings, source).remove()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_kept_per_home_and_source_and_only_for_its_server() {
        let home = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let s = Settings {
            token_store: Some("file".into()),
            ..Settings::default()
        };
        let (spec, _) = ConnSpec::parse("postgresql://shop@db.example.com/shop").unwrap();
        save(home.path(), &s, "shop", &spec, "s3cret").unwrap();
        assert_eq!(
            load(home.path(), &s, "shop", &spec).unwrap().as_deref(),
            Some("s3cret")
        );
        assert_eq!(load(home.path(), &s, "garage", &spec).unwrap(), None);
        assert_eq!(load(other.path(), &s, "shop", &spec).unwrap(), None);
        // Another server, or another user, never gets it.
        for elsewhere in [
            "postgresql://shop@evil.example.com/shop",
            "postgresql://shop@db.example.com:6543/shop",
            "postgresql://postgres@db.example.com/shop",
        ] {
            let (other_spec, _) = ConnSpec::parse(elsewhere).unwrap();
            assert_eq!(
                load(home.path(), &s, "shop", &other_spec).unwrap(),
                None,
                "{elsewhere}"
            );
        }
        // Nor a connection that verifies the server less.
        let (strict, _) =
            ConnSpec::parse("postgresql://shop@db.example.com/shop?sslmode=verify-full").unwrap();
        save(home.path(), &s, "strict", &strict, "s3cret").unwrap();
        assert_eq!(load(home.path(), &s, "strict", &spec).unwrap(), None);
        assert!(load(home.path(), &s, "strict", &strict).unwrap().is_some());
        // Another database of the same server as the same user does.
        let (same, _) = ConnSpec::parse("postgresql://shop@db.example.com/restored").unwrap();
        assert_eq!(
            load(home.path(), &s, "shop", &same).unwrap().as_deref(),
            Some("s3cret")
        );
        assert!(copy(home.path(), &s, "shop", "garage").unwrap());
        forget(home.path(), &s, "shop").unwrap();
        assert_eq!(load(home.path(), &s, "shop", &spec).unwrap(), None);
        assert_eq!(
            load(home.path(), &s, "garage", &spec).unwrap().as_deref(),
            Some("s3cret")
        );
        forget(home.path(), &s, "garage").unwrap();
        assert_eq!(load(home.path(), &s, "garage", &spec).unwrap(), None);
    }
}
