//! The token store against a real Secret Service (gnome-keyring).
//!
//! `make test` runs the tests on a private session bus with a
//! gnome-keyring-daemon unlocked for the occasion (`scripts/with-keychain.sh`).
//! Run alone, they need the same; without a Secret Service they fail (they
//! never pass silently):
//!
//! ```sh
//! scripts/with-keychain.sh cargo nextest run -p nuage-graph
//! ```
//!
//! Entries are made under the service `nuage-test`, never `nuage`, with a
//! key per temporary home, and deleted at the end of each test.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use nuage_graph::tokens::{
    AppCredentials, FileStore, KeyringStore, StoredTokens, TokenStore, TokenStoreError,
    key_for_home, open_store,
};
use nuage_graph::types::Secret;

const TEST_SERVICE: &str = "nuage-test";

/// Set in the child process of the tests that need another environment.
const CHILD_ENV: &str = "NUAGE_KEYCHAIN_TEST_CHILD";

/// A keyring store under the test service, after checking that a Secret
/// Service answers: a missing one fails the test with what to do.
fn keychain() -> KeyringStore {
    let store = KeyringStore::with_service(TEST_SERVICE);
    if let Err(e) = store.load_tokens("probe") {
        panic!(
            "these tests need a running, unlocked Secret Service (gnome-keyring) on the D-Bus \
             session bus, and the token store says: {e} ({e:?}). Run them through `make test`, \
             which starts one, or as the comment at the top of crates/graph/tests/keychain.rs shows."
        );
    }
    store
}

/// A random token-like string, unique to this test run.
fn token(prefix: &str, len: usize) -> String {
    let mut s = format!("{prefix}-{:016x}-", fastrand::u64(..));
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    while s.len() < len {
        s.push(alphabet[fastrand::usize(..alphabet.len())] as char);
    }
    s.truncate(len);
    s
}

fn tokens(refresh_len: usize, access_len: usize) -> StoredTokens {
    StoredTokens {
        refresh_token: Secret::new(token("rt", refresh_len)),
        access_token: Some(Secret::new(token("at", access_len))),
        access_expires_at: Some(1_900_000_000),
        account: Some("adele.vance@contoso.example".into()),
        tenant: "organizations".into(),
        client_id: "00000000-0000-0000-0000-00000000c11e".into(),
        scopes: vec!["Files.ReadWrite".into(), "offline_access".into()],
    }
}

fn app_credentials() -> AppCredentials {
    AppCredentials {
        tenant: "contoso.example".into(),
        client_id: "00000000-0000-0000-0000-0000000a5500".into(),
        client_secret: Secret::new(token("cs", 40)),
    }
}

/// Deletes a home's entries when the test ends, passed or not.
struct Cleanup<'a> {
    store: &'a dyn TokenStore,
    key: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.store.delete_tokens(&self.key);
        let _ = self.store.delete_app_credentials(&self.key);
    }
}

/// Asserts that no text shown for `value` contains any of `secrets`.
fn assert_hides(shown: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(
            !shown.contains(secret),
            "a secret is shown: {shown:?} contains {secret:?}"
        );
        // Not even a recognisable piece of it.
        let piece = &secret[..secret.len().min(24)];
        assert!(
            !shown.contains(piece),
            "a piece of a secret is shown: {shown}"
        );
    }
}

fn assert_error_hides(e: &TokenStoreError, secrets: &[&str]) {
    assert_hides(&e.to_string(), secrets);
    assert_hides(&format!("{e:?}"), secrets);
    assert_hides(&format!("{e:#?}"), secrets);
}

/// Every byte of every file under `dir`, searched for `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let bytes = fs::read(&path).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    found
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

// ---------------------------------------------------------------------------
// The keychain
// ---------------------------------------------------------------------------

#[test]
fn tokens_save_load_overwrite_delete() {
    let store = keychain();
    let home = tempfile::tempdir().unwrap();
    let key = key_for_home(home.path());
    let _cleanup = Cleanup {
        store: &store,
        key: key.clone(),
    };

    assert_eq!(store.load_tokens(&key).unwrap(), None);
    let first = tokens(900, 1500);
    store.save_tokens(&key, &first).unwrap();
    assert_eq!(store.load_tokens(&key).unwrap(), Some(first.clone()));

    // A refresh replaces everything, including an access token that is
    // now absent.
    let second = StoredTokens {
        access_token: None,
        access_expires_at: None,
        account: None,
        scopes: vec![],
        ..tokens(1000, 10)
    };
    store.save_tokens(&key, &second).unwrap();
    assert_eq!(store.load_tokens(&key).unwrap(), Some(second));

    // Tokens and app credentials are separate entries.
    assert_eq!(store.load_app_credentials(&key).unwrap(), None);

    store.delete_tokens(&key).unwrap();
    assert_eq!(store.load_tokens(&key).unwrap(), None);
    // Idempotent.
    store.delete_tokens(&key).unwrap();
    store.delete_tokens(&key).unwrap();
    assert_eq!(store.load_tokens(&key).unwrap(), None);
}

#[test]
fn app_credentials_save_load_overwrite_delete() {
    let store = keychain();
    let home = tempfile::tempdir().unwrap();
    let key = key_for_home(home.path());
    let _cleanup = Cleanup {
        store: &store,
        key: key.clone(),
    };

    assert_eq!(store.load_app_credentials(&key).unwrap(), None);
    let first = app_credentials();
    store.save_app_credentials(&key, &first).unwrap();
    assert_eq!(store.load_app_credentials(&key).unwrap(), Some(first));
    let second = app_credentials();
    store.save_app_credentials(&key, &second).unwrap();
    assert_eq!(store.load_app_credentials(&key).unwrap(), Some(second));
    assert_eq!(store.load_tokens(&key).unwrap(), None);

    store.delete_app_credentials(&key).unwrap();
    assert_eq!(store.load_app_credentials(&key).unwrap(), None);
    store.delete_app_credentials(&key).unwrap();
}

#[test]
fn a_6_kb_token_round_trips() {
    let store = keychain();
    let home = tempfile::tempdir().unwrap();
    let key = key_for_home(home.path());
    let _cleanup = Cleanup {
        store: &store,
        key: key.clone(),
    };
    let big = tokens(2000, 6 * 1024);
    assert_eq!(big.access_token.as_ref().unwrap().expose().len(), 6144);
    store.save_tokens(&key, &big).unwrap();
    assert_eq!(store.load_tokens(&key).unwrap(), Some(big));
}

#[test]
fn two_homes_keep_separate_entries() {
    let store = keychain();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ka, kb) = (key_for_home(a.path()), key_for_home(b.path()));
    assert_ne!(ka, kb);
    let _ca = Cleanup {
        store: &store,
        key: ka.clone(),
    };
    let _cb = Cleanup {
        store: &store,
        key: kb.clone(),
    };

    let (ta, tb) = (tokens(900, 1200), tokens(900, 1200));
    store.save_tokens(&ka, &ta).unwrap();
    assert_eq!(store.load_tokens(&kb).unwrap(), None);
    store.save_tokens(&kb, &tb).unwrap();
    assert_eq!(store.load_tokens(&ka).unwrap(), Some(ta.clone()));
    assert_eq!(store.load_tokens(&kb).unwrap(), Some(tb));
    store.delete_tokens(&kb).unwrap();
    assert_eq!(store.load_tokens(&ka).unwrap(), Some(ta));
    assert_eq!(store.load_tokens(&kb).unwrap(), None);

    // The same home under another spelling is the same key.
    let again = a
        .path()
        .join(".")
        .join("..")
        .join(a.path().file_name().unwrap());
    assert_eq!(key_for_home(&again), ka);
}

#[test]
fn the_default_store_keeps_no_token_in_the_home() {
    // The store `open_store` gives without NUAGE_TOKEN_STORE is the
    // keychain, with no warning; the service differs only for the test.
    let default = open_store(Path::new("/nonexistent"), None).unwrap();
    assert_eq!(default.location(), "the keychain (Secret Service)");
    assert!(default.warning().is_none());

    let store = keychain();
    let home = tempfile::tempdir().unwrap();
    fs::write(home.path().join("state.sqlite"), b"not a database").unwrap();
    let key = key_for_home(home.path());
    let _cleanup = Cleanup {
        store: &store,
        key: key.clone(),
    };
    let t = tokens(900, 1500);
    let app = app_credentials();
    store.save_tokens(&key, &t).unwrap();
    store.save_app_credentials(&key, &app).unwrap();
    assert_eq!(store.load_tokens(&key).unwrap(), Some(t.clone()));

    for secret in [
        t.refresh_token.expose(),
        t.access_token.as_ref().unwrap().expose(),
        app.client_secret.expose(),
    ] {
        assert_eq!(files_containing(home.path(), secret), Vec::<String>::new());
    }
    assert_eq!(
        fs::read_dir(home.path()).unwrap().count(),
        1,
        "the keychain store wrote into the home"
    );
}

// ---------------------------------------------------------------------------
// The file store
// ---------------------------------------------------------------------------

#[test]
fn the_file_store_is_private_atomic_and_round_trips() {
    let home = tempfile::tempdir().unwrap();
    let store = open_store(home.path(), Some("file")).unwrap();
    let dir = home.path().join("secrets");
    let warning = store.warning().expect("the file store warns");
    assert!(warning.contains("not in the keychain"), "{warning}");
    assert!(warning.contains(&dir.display().to_string()), "{warning}");
    assert_eq!(store.location(), format!("the folder {}", dir.display()));
    assert_eq!(mode(&dir), 0o700);

    let key = key_for_home(home.path());
    assert_eq!(store.load_tokens(&key).unwrap(), None);
    let t = tokens(900, 6 * 1024);
    store.save_tokens(&key, &t).unwrap();
    let file = dir.join(format!("tokens-{key}.json"));
    assert_eq!(mode(&file), 0o600);
    assert_eq!(store.load_tokens(&key).unwrap(), Some(t));
    let t2 = tokens(900, 100);
    store.save_tokens(&key, &t2).unwrap();
    assert_eq!(mode(&file), 0o600);
    assert_eq!(store.load_tokens(&key).unwrap(), Some(t2));

    let app = app_credentials();
    store.save_app_credentials(&key, &app).unwrap();
    assert_eq!(
        mode(&dir.join(format!("app-credentials-{key}.json"))),
        0o600
    );
    assert_eq!(store.load_app_credentials(&key).unwrap(), Some(app));

    // Only the two files: no temporary file left behind.
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("app-credentials-{key}.json"),
            format!("tokens-{key}.json")
        ]
    );

    store.delete_tokens(&key).unwrap();
    store.delete_tokens(&key).unwrap();
    assert_eq!(store.load_tokens(&key).unwrap(), None);
    store.delete_app_credentials(&key).unwrap();
    store.delete_app_credentials(&key).unwrap();
    assert_eq!(store.load_app_credentials(&key).unwrap(), None);
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn the_file_store_tightens_its_folder_and_refuses_readable_files() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("secrets");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let store = FileStore::open(home.path()).unwrap();
    assert_eq!(mode(&dir), 0o700);

    let key = "k";
    let t = tokens(900, 900);
    store.save_tokens(key, &t).unwrap();
    let file = dir.join("tokens-k.json");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let e = store.load_tokens(key).unwrap_err();
    assert_eq!(e.code(), "token_file_error");
    assert_eq!(
        e.to_string(),
        format!(
            "The token file {} can be read by other users (permissions 0644). Run `chmod 600 {}` and sign in again, as the tokens in it may have been copied.",
            file.display(),
            file.display()
        )
    );
    assert_error_hides(&e, &[t.refresh_token.expose()]);
    // Saving again replaces the file with a private one.
    store.save_tokens(key, &t).unwrap();
    assert_eq!(mode(&file), 0o600);
    assert_eq!(store.load_tokens(key).unwrap(), Some(t));
}

// ---------------------------------------------------------------------------
// Nothing secret is ever shown
// ---------------------------------------------------------------------------

#[test]
fn debug_and_display_never_show_a_secret() {
    let t = tokens(900, 1500);
    let app = app_credentials();
    let secrets = [
        t.refresh_token.expose(),
        t.access_token.as_ref().unwrap().expose(),
        app.client_secret.expose(),
    ];
    for shown in [
        format!("{t:?}"),
        format!("{t:#?}"),
        t.to_string(),
        format!("{app:?}"),
        format!("{app:#?}"),
        app.to_string(),
    ] {
        assert_hides(&shown, &secrets);
    }
    assert_eq!(
        t.to_string(),
        "Microsoft tokens for adele.vance@contoso.example (tenant organizations, client \
         00000000-0000-0000-0000-00000000c11e, scopes Files.ReadWrite offline_access, access \
         token valid until 1900000000)"
    );
    assert!(format!("{t:?}").contains("Secret(<1500 chars redacted>)"));

    // Errors made from stored documents that contain the secrets: a JSON
    // error of serde quotes the offending value, the store's must not.
    let home = tempfile::tempdir().unwrap();
    let store = FileStore::open(home.path()).unwrap();
    let dir = store.dir().to_path_buf();
    let bad_documents = [
        format!(r#"{{"refresh_token":"{}","tenant":7}}"#, secrets[0]),
        format!(r#"{{"refresh_token":{},"tenant":"t"}}"#, 7),
        format!(r#"{{"refresh_token":"{}","#, secrets[0]),
        format!(r#"{{"refresh_token":"{}" "tenant""#, secrets[0]),
        format!(r#"["{}"]"#, secrets[0]),
        format!(
            r#"{{"refresh_token":"x","tenant":"t","client_id":"c","access_expires_at":"{}"}}"#,
            secrets[1]
        ),
    ];
    for doc in &bad_documents {
        fs::write(dir.join("tokens-bad.json"), doc).unwrap();
        fs::set_permissions(
            dir.join("tokens-bad.json"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let e = store.load_tokens("bad").unwrap_err();
        assert_eq!(e.code(), "sign_in_required");
        assert!(
            e.to_string()
                .starts_with("Nuage's Microsoft tokens in the token file could not be read ("),
            "{e}"
        );
        assert!(
            e.to_string().ends_with("Sign in again to replace them."),
            "{e}"
        );
        assert_error_hides(&e, &secrets);
    }
    fs::write(dir.join("app-credentials-bad.json"), [b'{', 0xff, 0xfe]).unwrap();
    fs::set_permissions(
        dir.join("app-credentials-bad.json"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let e = store.load_app_credentials("bad").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Nuage's app credentials in the token file could not be read (not UTF-8 text). Sign in again to replace them."
    );

    let e = store.save_tokens("../escape", &t).unwrap_err();
    assert_eq!(e.code(), "invalid_setting");
    assert_error_hides(&e, &secrets);
    let e = KeyringStore::with_service(TEST_SERVICE)
        .save_tokens("a:b", &t)
        .unwrap_err();
    assert_eq!(e.code(), "invalid_setting");
    assert_error_hides(&e, &secrets);

    // A store that cannot write: the error names the file, not the content.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).unwrap();
    if fs::write(dir.join("probe"), b"").is_err() {
        // (root writes anyway; the check only runs for other users)
        let e = store.save_tokens("k", &t).unwrap_err();
        assert_eq!(e.code(), "token_file_error");
        assert_error_hides(&e, &secrets);
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
}

// ---------------------------------------------------------------------------
// No keychain
// ---------------------------------------------------------------------------

/// Runs the test `name` of this binary again in a child process with `env`
/// changed, under `wrapper` if given (a command that ends by running its
/// arguments), and checks that the test ran and passed there.
fn run_in_child(name: &str, wrapper: &[&str], env: &[(&str, Option<&Path>)]) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(&exe);
            cmd
        }
        None => Command::new(&exe),
    };
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1");
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {:?} ({e}): run the tests through `make test`, which installs and provides what they need",
            cmd.get_program()
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("CHILD CHECKS PASSED"),
        "the child did not run the checks:\n{stdout}\n{stderr}"
    );
}

const NO_KEYCHAIN_MESSAGE: &str = "No keychain is available (no Secret Service on the session bus). Log in to a desktop session or start gnome-keyring; on a headless server, set NUAGE_TOKEN_STORE=file to keep tokens in a file readable only by you.";

fn assert_no_keychain(e: TokenStoreError, secrets: &[&str]) {
    assert!(
        matches!(e, TokenStoreError::NoKeychain { .. }),
        "expected the no-keychain error, got {e:?}"
    );
    assert_eq!(e.to_string(), NO_KEYCHAIN_MESSAGE);
    assert_eq!(e.code(), "keychain_unavailable");
    assert_error_hides(&e, secrets);
}

#[test]
fn without_a_session_bus_the_keychain_error_says_what_to_do() {
    if std::env::var_os(CHILD_ENV).is_none() {
        // A dead bus address, and none for libdbus to fall back on.
        return run_in_child(
            "without_a_session_bus_the_keychain_error_says_what_to_do",
            &[],
            &[
                (
                    "DBUS_SESSION_BUS_ADDRESS",
                    Some(Path::new("unix:path=/nonexistent/nuage-test/bus")),
                ),
                ("DISPLAY", None),
                ("XDG_RUNTIME_DIR", None),
            ],
        );
    }
    let store = KeyringStore::with_service(TEST_SERVICE);
    let t = tokens(900, 1500);
    let app = app_credentials();
    let secrets = [t.refresh_token.expose(), app.client_secret.expose()];
    assert_no_keychain(store.load_tokens("k").unwrap_err(), &secrets);
    assert_no_keychain(store.save_tokens("k", &t).unwrap_err(), &secrets);
    assert_no_keychain(store.delete_tokens("k").unwrap_err(), &secrets);
    assert_no_keychain(store.save_app_credentials("k", &app).unwrap_err(), &secrets);
    println!("CHILD CHECKS PASSED");
}

// ---------------------------------------------------------------------------
// A locked keychain
// ---------------------------------------------------------------------------

/// The wrapper `make test` runs the tests through: a session bus of its own
/// that starts an unlocked gnome-keyring-daemon on demand (and again if it
/// dies), keyrings in a temporary folder.
fn with_keychain() -> [String; 2] {
    let script = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap())
        .join("../../scripts/with-keychain.sh");
    ["sh".into(), script.to_str().unwrap().into()]
}

#[test]
fn a_locked_keychain_says_to_unlock_it() {
    if std::env::var_os(CHILD_ENV).is_none() {
        // A bus and keyring of its own: locking the shared one would fail
        // the tests running beside this one. No display, so that no unlock
        // prompt can show.
        let wrapper = with_keychain();
        return run_in_child(
            "a_locked_keychain_says_to_unlock_it",
            &[&wrapper[0], &wrapper[1]],
            &[("DISPLAY", None), ("WAYLAND_DISPLAY", None)],
        );
    }
    let store = keychain();
    let t = tokens(900, 1500);
    let app = app_credentials();
    let secrets = [t.refresh_token.expose(), app.client_secret.expose()];
    store.save_tokens("k", &t).unwrap();
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            "array:objpath:/org/freedesktop/secrets/collection/login",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let locked = |e: TokenStoreError| {
        assert!(matches!(e, TokenStoreError::Locked), "{e:?}");
        assert_eq!(
            e.to_string(),
            "The keychain is locked; unlock it and try again."
        );
        assert_eq!(e.code(), "keychain_locked");
        assert_error_hides(&e, &secrets);
    };
    locked(store.load_tokens("k").unwrap_err());
    // Replacing an entry, and creating one (a different path in keyring).
    locked(store.save_tokens("k", &t).unwrap_err());
    locked(store.save_app_credentials("k", &app).unwrap_err());
    locked(store.delete_tokens("k").unwrap_err());
    println!("CHILD CHECKS PASSED");
}

// ---------------------------------------------------------------------------
// A keychain that dies mid-call
// ---------------------------------------------------------------------------

/// The process owning the Secret Service's name on the session bus.
fn secret_service_pid() -> u32 {
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            "string:org.freedesktop.secrets",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .last()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no process id in {text:?}"))
}

fn signal(pid: u32, name: &str) {
    // The shell's own kill: no procps needed.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{name} {pid}")])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// gnome-keyring 42 aborts now and then when a client goes away during a
/// call (an upstream race); the session bus starts it again on the next
/// call. A call in flight when it dies is asked again, not failed: it
/// failed a CI run, with "The keychain failed (Message recipient
/// disconnected from message bus without replying)".
#[test]
fn a_keychain_that_dies_mid_call_is_asked_again() {
    if std::env::var_os(CHILD_ENV).is_none() {
        // A bus of its own, as `make test` runs every test on: killing the
        // shared daemon would fail the calls of the tests beside this one.
        let wrapper = with_keychain();
        return run_in_child(
            "a_keychain_that_dies_mid_call_is_asked_again",
            &[&wrapper[0], &wrapper[1]],
            &[],
        );
    }
    let store = keychain();
    let t = tokens(900, 1500);
    store.save_tokens("k", &t).unwrap();
    let first = secret_service_pid();

    // The daemon holds the next call without answering, then dies.
    signal(first, "STOP");
    let reader = std::thread::spawn(move || store.load_tokens("k"));
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert!(
        !reader.is_finished(),
        "the call did not wait for the daemon"
    );
    signal(first, "KILL");

    let loaded = reader
        .join()
        .unwrap()
        .expect("the call asked again")
        .unwrap();
    assert_eq!(loaded.refresh_token.expose(), t.refresh_token.expose());
    assert_ne!(secret_service_pid(), first, "a new daemon answered");
    let store = keychain();
    store.delete_tokens("k").unwrap();
    println!("CHILD CHECKS PASSED");
}
