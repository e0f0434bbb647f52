//! The shell's commands through Tauri's mock runtime: the real command
//! handler, the real engine and a real database; errors cross as
//! `{code, message}`.

use std::path::Path;
use std::time::{Duration, Instant};

use nuage_app::Nuage;
use nuage_engine::Config;
use serde_json::{Value, json};
use tauri::Manager;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::webview::InvokeRequest;

struct App {
    _app: tauri::App<MockRuntime>,
    window: tauri::WebviewWindow<MockRuntime>,
    dir: tempfile::TempDir,
}

fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let app = mock_builder()
        .invoke_handler(nuage_app::commands::handler())
        .build(mock_context(noop_assets()))
        .unwrap();
    app.manage(Nuage::start(dir.path().join("home"), Config::default(), false).unwrap());
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    App {
        _app: app,
        window,
        dir,
    }
}

impl App {
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<Value>().unwrap())
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.call(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    fn err(&self, cmd: &str, args: Value) -> Value {
        let e = self
            .call(cmd, args)
            .expect_err(&format!("{cmd} should fail"));
        let keys: Vec<&String> = e
            .as_object()
            .unwrap_or_else(|| panic!("{cmd}: not an object: {e}"))
            .keys()
            .collect();
        assert_eq!(
            keys,
            ["code", "message"],
            "errors are {{code, message}}: {e}"
        );
        e
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
}

fn sample_db(path: &Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);
         INSERT INTO customers(name) VALUES ('Ana'), ('Bruno'), ('Chloé');
         INSERT INTO notes(body) VALUES ('first');",
    )
    .unwrap();
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(30), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_missing_database_is_refused_with_a_code_the_ui_branches_on() {
    let a = app();
    let e = a.err("check_source", json!({"path": a.path("nope.db")}));
    assert_eq!(e["code"], "source_unavailable");
    assert!(e["message"].as_str().unwrap().contains("nope.db"), "{e}");
    let e = a.err("add_source", json!({"path": "", "name": null}));
    assert_eq!(e["code"], "invalid_input");
}

#[test]
fn add_a_source_back_up_to_a_folder_and_restore_an_export_through_the_commands() {
    let a = app();
    let db = a.path("shop.db");
    sample_db(Path::new(&db));
    let check = a.ok("check_source", json!({"path": db}));
    assert_eq!(check["tables"], 2);
    assert_eq!(check["suggested_name"], "shop");
    let e = a.err("add_source", json!({"path": db, "name": "bad name"}));
    assert_eq!(e["code"], "invalid_input");
    a.ok("add_source", json!({"path": db, "name": "shop"}));
    let e = a.err("use_local_folder", json!({"path": a.path("nas")}));
    assert_eq!(
        e["code"], "destination_unavailable",
        "a missing folder is refused: {e}"
    );
    std::fs::create_dir(a.path("nas")).unwrap();
    a.ok("use_local_folder", json!({"path": a.path("nas")}));
    a.ok("back_up_now", json!({}));
    wait_until("up to date", || {
        a.ok("overview", json!({}))["state"] == "up_to_date"
    });
    let o = a.ok("overview", json!({}));
    assert_eq!(o["sources"][0]["last_verified"]["rows"], 4);
    assert_eq!(o["destination"]["kind"], "folder");

    let list = a.ok("restore_points", json!({"source": null}));
    assert!(list["unreachable"].is_null(), "{list}");
    let id = list["points"][0]["id"].as_str().unwrap().to_string();
    let file = a.path("export.json");
    let bytes = a.ok("export_point", json!({"point": id, "file": file}));
    assert!(bytes.as_u64().unwrap() > 100);
    let e = a.err("export_point", json!({"point": id, "file": file}));
    assert_eq!(e["code"], "invalid_input", "never overwrites silently: {e}");

    let p = a.ok("preview", json!({"backup": {"file": file}}));
    assert_eq!(p["rows"], 4);
    assert_eq!(
        p["replaces"], db,
        "it names what a restore in place replaces"
    );
    assert_eq!(p["safety_copy"], true);
    let to = a.path("restored.db");
    let r = a.ok(
        "restore",
        json!({"backup": {"file": file}, "to": to, "progress": "__CHANNEL__:1"}),
    );
    assert_eq!(r["rows"], 4);
    let n: i64 = rusqlite::Connection::open(&to)
        .unwrap()
        .query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
    // Rename: the source, its restore points and the overview follow.
    let e = a.err(
        "rename_source",
        json!({"name": "shop", "newName": "bad name"}),
    );
    assert_eq!(e["code"], "invalid_input", "{e}");
    let e = a.err("rename_source", json!({"name": "nope", "newName": "x"}));
    assert_eq!(e["code"], "not_found", "{e}");
    let mut renamed = None;
    wait_until(
        "renamed (a scheduled run may hold the home a moment)",
        || match a.call(
            "rename_source",
            json!({"name": "shop", "newName": " garage "}),
        ) {
            Ok(v) => {
                renamed = Some(v);
                true
            }
            Err(e) if e["code"] == "busy" => false,
            Err(e) => panic!("rename refused: {e}"),
        },
    );
    assert_eq!(renamed.unwrap()["name"], "garage");
    let o = a.ok("overview", json!({}));
    assert_eq!(o["sources"][0]["name"], "garage");
    assert_eq!(o["sources"][0]["last_verified"]["rows"], 4);
    let list = a.ok("restore_points", json!({"source": "garage"}));
    assert_eq!(list["points"][0]["id"], id.as_str());

    // The destination unplugged: the local restore points are still listed,
    // with the reason the list may be partial.
    std::fs::rename(a.path("nas"), a.path("nas-unplugged")).unwrap();
    let list = a.ok("restore_points", json!({"source": null}));
    assert_eq!(list["points"][0]["id"], id.as_str());
    assert_eq!(
        list["unreachable"]["code"], "destination_unavailable",
        "{list}"
    );
    std::fs::rename(a.path("nas-unplugged"), a.path("nas")).unwrap();

    // The first start's hourly schedule may have run too: then the later
    // run found nothing changed.
    let history = a.ok("history", json!({"limit": 10}));
    let outcomes: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.contains(&"backed_up"), "{outcomes:?}");
    assert!(outcomes.iter().all(|o| *o != "failed"), "{outcomes:?}");
}

#[test]
fn a_corrupt_backup_is_refused_before_anything_is_touched() {
    let a = app();
    let file = a.path("bad.json");
    std::fs::write(
        &file,
        "{\"format\": \"nuage-backup\", \"version\": 1, \"tables\": [",
    )
    .unwrap();
    let e = a.err("preview", json!({"backup": {"file": file}}));
    assert_eq!(e["code"], "invalid_backup", "{e}");
    let to = a.path("never.db");
    let e = a.err(
        "restore",
        json!({"backup": {"file": file}, "to": to, "progress": "__CHANNEL__:1"}),
    );
    assert_eq!(e["code"], "invalid_backup");
    assert!(!Path::new(&to).exists(), "the target stays untouched");
}

#[test]
fn settings_are_validated_and_kept() {
    let a = app();
    let e = a.err("set_schedule", json!({"schedule": "daily:25:00"}));
    assert_eq!(e["code"], "invalid_input");
    assert!(e["message"].as_str().unwrap().contains("HH:MM"), "{e}");
    a.ok("set_schedule", json!({"schedule": "every:15"}));
    let e = a.err("set_language", json!({"language": "de"}));
    assert_eq!(e["code"], "invalid_input");
    a.ok("set_language", json!({"language": "fr"}));
    a.ok("set_notifications", json!({"on": false}));
    let e = a.err("set_verify_every", json!({"days": 0}));
    assert_eq!(e["code"], "invalid_input");
    assert_eq!(
        a.ok("settings", json!({}))["verify_every"],
        7,
        "weekly unless set"
    );
    a.ok("set_verify_every", json!({"days": 3}));
    assert_eq!(a.ok("settings", json!({}))["verify_every"], 3);
    a.ok("set_verify_every", json!({"days": null}));
    assert_eq!(a.ok("settings", json!({}))["verify_every"], json!(null));
    let s = a.ok("settings", json!({}));
    assert_eq!(s["schedule"], "every:15");
    assert_eq!(s["language"], "fr");
    assert_eq!(s["notifications"], false);
    a.ok("pause", json!({}));
    wait_until("paused", || {
        a.ok("overview", json!({}))["state"] == "paused"
    });
    a.ok("resume", json!({}));
    assert_eq!(a.ok("overview", json!({}))["paused"], false);
}

#[test]
fn waiting_for_a_sign_in_that_was_never_started_says_to_start_it() {
    let a = app();
    let e = a.err("sign_in_wait", json!({}));
    assert_eq!(e["code"], "sign_in_required");
    assert!(e["message"].as_str().unwrap().contains("Start the sign-in"));
    let tray = a.ok("tray_status", json!({}));
    assert_eq!(tray["available"], false);
}

#[test]
fn alerts_are_set_through_the_commands_and_the_webhook_url_never_comes_back() {
    let a = app();
    let e = a.err(
        "set_webhook_alerts",
        json!({"url": "hooks.example.com/x", "format": "slack", "on": "failure"}),
    );
    assert_eq!(e["code"], "invalid_input");
    a.ok(
        "set_webhook_alerts",
        json!({"url": "https://hooks.example.com/services/T0/SECRET", "format": "slack", "on": "always"}),
    );
    let e = a.err(
        "set_email_alerts",
        json!({"email": {"server": "smtp://mail.test", "starttls": false, "from": "nope", "to": ["a@b.test"], "user": null, "on": "failure"}, "password": null}),
    );
    assert_eq!(e["code"], "invalid_input");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("not an email address"),
        "{e}"
    );
    let v = a.ok("alerts", json!({}));
    assert_eq!(
        v["settings"]["webhook"]["shown"],
        "https://hooks.example.com/…"
    );
    assert_eq!(v["settings"]["webhook"]["on"], "always");
    assert!(!v.to_string().contains("SECRET"), "{v}");
    a.ok("remove_alerts", json!({"channel": "webhook"}));
    assert_eq!(
        a.ok("alerts", json!({}))["settings"]["webhook"],
        json!(null)
    );
}
