//! Secrets the state database must not hold in plain text: a resumable
//! upload's URL is pre-authenticated (whoever has it can write into the
//! user's OneDrive until it expires). They are sealed with
//! XChaCha20-Poly1305 under a random key kept where the Microsoft tokens
//! are (the OS keychain, or the explicit file opt-in); signing out removes
//! the key, so whatever was sealed with it can no longer be read.
//!
//! Written with the `chacha20poly1305` crate (RustCrypto); only the framing
//! (`v1.` + base64 of nonce and ciphertext) is Nuage's.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use nuage_graph::session::Settings;
use nuage_graph::tokens::{Kind, key_for_home};

use crate::error::{Error, Result};
use crate::secret::Slot;

const PREFIX: &str = "v1.";

/// Seals and opens values under this home's key.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

/// The keychain entry of `home`'s sealing key.
fn slot<'a>(home: &'a Path, settings: &'a Settings) -> Slot<'a> {
    Slot {
        home,
        settings,
        kind: Kind::SealingKey,
        key: key_for_home(home),
        what: "the key that protects upload progress",
    }
}

impl Sealer {
    /// The sealer of `home`, making its key on first use.
    pub fn open(home: &Path, settings: &Settings) -> Result<Sealer> {
        let slot = slot(home, settings);
        let existing = slot
            .read()?
            .and_then(|k| B64.decode(k).ok())
            .filter(|k| k.len() == 32);
        let key = match existing {
            Some(k) => k,
            None => {
                let mut k = vec![0u8; 32];
                getrandom::fill(&mut k).map_err(|e| slot.error(e))?;
                slot.write(&B64.encode(&k))?;
                k
            }
        };
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|e| slot.error(e))?;
        Ok(Sealer { cipher })
    }

    pub fn seal(&self, plain: &str) -> Result<String> {
        let failed = |e: &dyn std::fmt::Display| Error::Invalid(format!("sealing failed: {e}"));
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| failed(&e))?;
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .map_err(|e| failed(&e))?;
        let mut framed = nonce.to_vec();
        framed.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", B64.encode(framed)))
    }

    /// The value sealed in `s`, or `None` when it was sealed under another
    /// key (signed out since), damaged, or never sealed.
    pub fn open_sealed(&self, s: &str) -> Option<String> {
        let framed = B64.decode(s.strip_prefix(PREFIX)?).ok()?;
        if framed.len() < 24 {
            return None;
        }
        let (nonce, sealed) = framed.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), sealed)
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// Removes `home`'s key: everything sealed under it becomes unreadable.
pub fn forget_key(home: &Path, settings: &Settings) -> Result<()> {
    slot(home, settings).remove()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_settings() -> Settings {
        Settings {
            token_store: Some("file".into()),
            ..Settings::default()
        }
    }

    #[test]
    fn sealed_values_open_with_the_key_and_not_after_it_is_forgotten() {
        let home = tempfile::tempdir().unwrap();
        let s = Sealer::open(home.path(), &file_settings()).unwrap();
        let url = "https://contoso-my.sharepoint.com/_upload/abc?tempauth=SECRET";
        let sealed = s.seal(url).unwrap();
        assert!(!sealed.contains("SECRET") && !sealed.contains("sharepoint"));
        assert_ne!(sealed, s.seal(url).unwrap(), "a fresh nonce each time");
        // The same key next time.
        let again = Sealer::open(home.path(), &file_settings()).unwrap();
        assert_eq!(again.open_sealed(&sealed).as_deref(), Some(url));
        // Tampered, or plain text from an older version: not opened.
        // (One bit of the ciphertext flipped: replacing the last base64
        // character could leave the bytes as they were.)
        let mut bytes = B64.decode(sealed.strip_prefix(PREFIX).unwrap()).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        let bad = format!("{PREFIX}{}", B64.encode(&bytes));
        assert_ne!(bad, sealed);
        assert_eq!(again.open_sealed(&bad), None);
        assert_eq!(again.open_sealed(url), None);
        // Signed out: the key is gone, and what it sealed with it.
        forget_key(home.path(), &file_settings()).unwrap();
        let fresh = Sealer::open(home.path(), &file_settings()).unwrap();
        assert_eq!(fresh.open_sealed(&sealed), None);
    }
}
