//! The folder picker's API against the Graph emulator.

use nuage_emulator::{Config, Emulator};
use nuage_engine::Engine;
use nuage_graph::auth::AppRegistration;
use nuage_graph::types::TokenResponse;

#[test]
fn folders_are_listed_page_by_page_and_created_on_request() {
    const CLIENT: &str = "3f2b6a8e-1c4d-4e5f-9a0b-7c8d9e0f1a2b";
    let mut config = Config::for_tests();
    config.allowed_client_ids = vec![CLIENT.into()];
    let emu = Emulator::start_in_thread(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let settings = nuage_graph::session::Settings {
        endpoints: nuage_graph::auth::Endpoints {
            authority: emu.authority_url(),
            graph: emu.graph_url(),
        },
        token_store: Some("file".into()),
    };
    let engine = Engine::open_with(
        &home,
        nuage_engine::Config {
            graph: settings.clone(),
            ..nuage_engine::Config::default()
        },
    )
    .unwrap();
    // Granted without Files.ReadWrite.All, and the emulator's access tokens
    // live 5 minutes here, so every call refreshes: the refresh must not ask
    // for more than was granted (it once did, and signed the user out).
    let tokens: TokenResponse =
        serde_json::from_value(emu.mint_tokens("Files.ReadWrite User.Read offline_access"))
            .unwrap();
    let app = AppRegistration {
        client_id: CLIENT.into(),
        tenant: "common".into(),
    };
    nuage_graph::session::save_user_tokens(&home, &settings, &app, &tokens, Some("ada".into()))
        .unwrap();

    let made: Vec<String> = (0..5).map(|i| format!("Folder {i}")).collect();
    for name in &made {
        engine.create_onedrive_folder(None, name).unwrap();
    }
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = engine.browse_onedrive(None, next.as_deref(), 2).unwrap();
        pages += 1;
        assert!(page.folders.len() <= 2);
        seen.extend(page.folders.iter().map(|f| f.name.clone()));
        match page.next {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, made);
    assert!(pages >= 3, "paged: {pages} pages");
    // A paging link that is not Graph's (the UI hands it back; a web view
    // could be made to hand back anything) is refused before any request:
    // the bearer token never reaches another server.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let elsewhere = format!(
        "http://{}/v1.0/me/drive/root/children",
        listener.local_addr().unwrap()
    );
    for link in [
        elsewhere.as_str(),
        "https://graph.microsoft.com.evil.test/v1.0/x",
    ] {
        let e = engine.browse_onedrive(None, Some(link), 2).unwrap_err();
        assert!(e.to_string().contains("outside Microsoft Graph"), "{e}");
    }
    assert!(
        listener.accept().is_err(),
        "a request carrying the token reached another server"
    );
    // Into a folder, and a folder created there.
    let parent = engine
        .browse_onedrive(None, None, 10)
        .unwrap()
        .folders
        .into_iter()
        .find(|f| f.name == "Folder 3")
        .unwrap();
    let child = engine
        .create_onedrive_folder(Some((&parent.drive_id, &parent.item_id)), "Nuage")
        .unwrap();
    let inside = engine
        .browse_onedrive(Some((&parent.drive_id, &parent.item_id)), None, 10)
        .unwrap();
    assert_eq!(inside.folders, vec![child]);
    // Names OneDrive refuses are refused before any request.
    assert!(
        engine
            .create_onedrive_folder(None, "bad:name")
            .unwrap_err()
            .to_string()
            .contains(':')
    );
}
