//! Alerts through the real `nuage` binary: email to a real SMTP server on
//! loopback (Debian's aiosmtpd, tests/smtp/server.py), webhooks to a
//! loopback HTTP receiver. One message per problem and one per recovery,
//! kept and retried while the server is down or says "later", and the
//! secrets (mail password, webhook URL) never shown.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::Env;
use common::alerting::{Receiver, SmtpServer, free_port, text};

/// `nuage backup` with short alert timeouts; whether it succeeded.
fn backup(env: &Env) -> bool {
    let mut cmd = env.command(&["backup"]);
    cmd.env("NUAGE_ALERT_TIMEOUT_MS", "3000")
        .env("NUAGE_ALERT_RETRY_MS", "100");
    common::run_command(cmd, Duration::from_secs(60)).succeeded()
}

#[test]
fn one_email_per_problem_and_one_per_recovery_in_the_chosen_language() {
    let env = Env::new();
    let db = env.add_sample_source("shop.db");
    env.folder_destination();
    let smtp = SmtpServer::start(&env.path("mail"), 0, &[]);
    let out = env.run_ok(&[
        "alerts",
        "email",
        "--smtp",
        &smtp.url(),
        "--from",
        "nuage@garage.test",
        "--to",
        "boss@garage.test, it@garage.test",
        "--lang",
        "fr",
    ]);
    assert!(out.contains("2 address"), "{out}");
    let out = env.run_ok(&["alerts", "test"]);
    assert!(out.contains("email: test message sent"), "{out}");
    let m = &smtp.wait_for(1)[0];
    assert!(text(m, "subject").contains("message de test"), "{m}");
    assert_eq!(
        m["rcpt_to"],
        serde_json::json!(["boss@garage.test", "it@garage.test"])
    );

    assert!(backup(&env));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(smtp.received().len(), 1, "nothing to say while all is well");

    // The database is moved away: one message says so, what to do, and
    // when the last good copy was made.
    std::fs::rename(&db, env.path("elsewhere.db")).unwrap();
    assert!(!backup(&env));
    let m = &smtp.wait_for(2)[1];
    let subject = text(m, "subject");
    assert!(
        subject.contains("shop: intervention nécessaire"),
        "{subject}"
    );
    let body = text(m, "body");
    assert!(body.contains("Que faire"), "{body}");
    assert!(body.contains("Dernière sauvegarde vérifiée: 20"), "{body}");
    // With the numbers: what it held, where it is kept, how long the run took.
    assert!(body.contains(" lignes, conservée sur folder "), "{body}");
    assert!(
        body.contains("Dernière exécution: 20") && body.contains(", durée "),
        "{body}"
    );
    // The same problem at the next runs: no second message.
    assert!(!backup(&env));
    assert!(!backup(&env));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        smtp.received().len(),
        2,
        "one message per problem, not per retry"
    );
    let shown = env.run_ok(&["alerts", "show"]);
    assert!(shown.contains("open problem since"), "{shown}");

    // Solved: one message says so, once.
    std::fs::rename(env.path("elsewhere.db"), &db).unwrap();
    assert!(backup(&env));
    let m = &smtp.wait_for(3)[2];
    assert!(
        text(m, "subject").contains("shop: retour à la normale"),
        "{m}"
    );
    assert!(backup(&env));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(smtp.received().len(), 3);
    assert!(!env.run_ok(&["alerts", "show"]).contains("open problem"));
}

#[test]
fn an_alert_waits_while_the_mail_server_is_down_or_says_later_and_arrives_once() {
    let env = Env::new();
    let db = env.add_sample_source("shop.db");
    env.folder_destination();
    let port = free_port();
    env.run_ok(&[
        "alerts",
        "email",
        "--smtp",
        &format!("smtp://127.0.0.1:{port}"),
        "--from",
        "nuage@garage.test",
        "--to",
        "boss@garage.test",
        "--lang",
        "en",
    ]);
    assert!(backup(&env));
    std::fs::remove_file(&db).unwrap();
    assert!(!backup(&env));
    let shown = env.run_ok(&["alerts", "show"]);
    assert!(
        shown.contains("1 message(s) waiting to be sent")
            && shown.contains(&format!(
                "the mail server 127.0.0.1:{port} cannot be reached"
            )),
        "{shown}"
    );
    // The server comes up, and first answers "try later".
    let smtp = SmtpServer::start(&env.path("mail"), port, &["--fail-first", "1"]);
    std::thread::sleep(Duration::from_millis(250));
    assert!(!backup(&env));
    let shown = env.run_ok(&["alerts", "show"]);
    assert!(shown.contains("asked to try later"), "{shown}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!backup(&env));
    let got = smtp.wait_for(1);
    assert!(
        text(&got[0], "subject").contains("shop: needs attention — the data cannot be read"),
        "{}",
        got[0]
    );
    assert!(
        text(&got[0], "message_id").starts_with("<nuage-"),
        "{}",
        got[0]
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!backup(&env));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(smtp.received().len(), 1, "sent once");
    assert!(!env.run_ok(&["alerts", "show"]).contains("waiting"));
}

#[test]
fn the_mail_password_lives_in_the_keychain_and_a_refusal_says_what_to_do() {
    let env = Env::new();
    let smtp = SmtpServer::start(
        &env.path("mail"),
        0,
        &["--user", "office", "--password", "Sesame-42"],
    );
    let set = |password: &str| {
        let mut cmd = env.command(&[
            "alerts",
            "email",
            "--smtp",
            &smtp.url(),
            "--from",
            "nuage@garage.test",
            "--to",
            "boss@garage.test",
            "--user",
            "office",
            "--password-stdin",
        ]);
        cmd.stdin(Stdio::piped());
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    set("wrong");
    let (status, _, err) = env.run(&["alerts", "test"]);
    assert!(!status.success());
    assert!(
        err.contains("refused the sign-in") && err.contains("user name and password"),
        "{err}"
    );
    set("Sesame-42");
    assert!(
        env.run_ok(&["alerts", "test"])
            .contains("test message sent")
    );
    assert_eq!(smtp.wait_for(1).len(), 1);
    let shown = env.run_ok(&["alerts", "show", "--json"]);
    assert!(shown.contains("\"user\": \"office\""), "{shown}");
    for place in [
        shown.as_bytes().to_vec(),
        std::fs::read(env.home().join("state.sqlite")).unwrap(),
    ] {
        assert!(
            !String::from_utf8_lossy(&place).contains("Sesame-42"),
            "the password is kept in the keychain only"
        );
    }
    // A message a server refuses for good says so.
    let refusing = SmtpServer::start(&env.path("mail2"), 0, &["--refuse"]);
    env.run_ok(&[
        "alerts",
        "email",
        "--smtp",
        &refusing.url(),
        "--from",
        "nuage@garage.test",
        "--to",
        "boss@garage.test",
    ]);
    let (status, _, err) = env.run(&["alerts", "test"]);
    assert!(!status.success());
    assert!(
        err.contains("refused the message") && err.contains("554"),
        "{err}"
    );
    // Bad settings are refused before anything is stored.
    let (status, _, err) = env.run(&[
        "alerts",
        "email",
        "--smtp",
        "smtp://office:Sesame-42@mail.test",
        "--from",
        "a@b.test",
        "--to",
        "c@d.test",
    ]);
    assert!(
        !status.success() && err.contains("given apart") && !err.contains("Sesame"),
        "{err}"
    );
    let (status, _, err) = env.run(&[
        "alerts",
        "email",
        "--smtp",
        &smtp.url(),
        "--from",
        "not an address",
        "--to",
        "c@d.test",
    ]);
    assert!(
        !status.success() && err.contains("not an email address"),
        "{err}"
    );
}

#[test]
fn webhooks_get_slack_and_json_messages_and_their_url_is_never_shown() {
    let env = Env::new();
    let db = env.add_sample_source("shop.db");
    env.folder_destination();
    let hook = Receiver::start(1);
    let url = format!("http://127.0.0.1:{}/services/T0/B0/SECRETTOKEN", hook.port);
    let out = env.run_ok(&[
        "alerts", "webhook", &url, "--format", "slack", "--lang", "pt",
    ]);
    assert!(
        out.contains(&format!("http://127.0.0.1:{}/…", hook.port)) && !out.contains("SECRETTOKEN"),
        "{out}"
    );
    // The receiver fails the first request: the test says so, plainly.
    let (status, _, err) = env.run(&["alerts", "test"]);
    assert!(
        !status.success() && err.contains("answered 500") && !err.contains("SECRETTOKEN"),
        "{err}"
    );
    env.run_ok(&["alerts", "test"]);
    let (path, body) = hook.wait_for(1)[0].clone();
    assert_eq!(path, "/services/T0/B0/SECRETTOKEN");
    assert!(text(&body, "text").contains("mensagem de teste"), "{body}");

    // Nuage's JSON document, for a problem.
    env.run_ok(&[
        "alerts", "webhook", &url, "--format", "json", "--lang", "en",
    ]);
    assert!(backup(&env));
    std::fs::remove_file(&db).unwrap();
    assert!(!backup(&env));
    let (_, doc) = hook.wait_for(2)[1].clone();
    assert_eq!(doc["event"], "problem", "{doc}");
    assert_eq!(doc["source"], "shop");
    assert_eq!(doc["state"], "needs_attention");
    assert_eq!(doc["problem"]["code"], "source_unavailable");
    assert!(
        text(&doc["action"], "text").starts_with("Check that the application's data"),
        "{doc}"
    );
    assert!(!text(&doc, "host").is_empty() && text(&doc, "time").starts_with("20"));

    let shown = env.run_ok(&["alerts", "show", "--json"]);
    for place in [
        shown.into_bytes(),
        std::fs::read(env.home().join("state.sqlite")).unwrap(),
    ] {
        assert!(!String::from_utf8_lossy(&place).contains("SECRETTOKEN"));
    }
    // Unreachable: said without the URL.
    env.run_ok(&[
        "alerts",
        "webhook",
        &format!("http://127.0.0.1:{}/x/SECRETTOKEN", free_port()),
    ]);
    let (status, _, err) = env.run(&["alerts", "test"]);
    assert!(
        !status.success() && err.contains("cannot be reached") && !err.contains("SECRETTOKEN"),
        "{err}"
    );
    env.run_ok(&["alerts", "remove"]);
    assert!(env.run_ok(&["alerts", "show"]).contains("webhook: not set"));
}
