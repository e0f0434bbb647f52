use std::time::Duration;

use nuage_emulator::{Config, FaultKind, FaultSpec};
use reqwest::StatusCode;
use serde_json::json;

use crate::*;

fn assert_sts(v: &serde_json::Value, error: &str) {
    assert_eq!(v["error"], error, "{v}");
    for k in [
        "error_description",
        "trace_id",
        "correlation_id",
        "timestamp",
    ] {
        assert!(v[k].is_string(), "{k} missing in {v}");
    }
    assert!(v["error_codes"].is_array(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_flow_pending_then_approve_gives_tokens() {
    let emu = start(Config::for_tests());
    let http = http();
    let (s, dc) = devicecode(&http, &emu, SCOPES).await;
    assert_eq!(s, StatusCode::OK, "{dc}");
    for k in ["device_code", "user_code", "verification_uri", "message"] {
        assert!(dc[k].is_string(), "{k}: {dc}");
    }
    assert!(dc["expires_in"].as_u64().unwrap() > 0);
    assert!(dc["interval"].is_u64());
    assert!(dc.get("verification_uri_complete").is_none());
    let device_code = dc["device_code"].as_str().unwrap();
    let user_code = dc["user_code"].as_str().unwrap();

    let (s, v) = poll(&http, &emu, device_code).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_sts(&v, "authorization_pending");
    assert_eq!(v["error_codes"], json!([70016]));
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS70016")
    );

    assert_eq!(emu.pending_user_codes(), vec![user_code.to_string()]);
    // The HTML page lists it; the control endpoint approves it.
    let page = http
        .get(format!("{}/_emulator/", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains(user_code));
    let (s, _) = parts(
        http.post(format!("{}/_emulator/device/approve", emu.base_url()))
            .json(&json!({"user_code": user_code}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let (s, t) = poll(&http, &emu, device_code).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["access_token"].as_str().unwrap().len() >= 100);
    assert!(t["refresh_token"].is_string());
    assert!(t["expires_in"].as_u64().unwrap() > 0);
    assert!(t.get("id_token").is_none(), "no openid asked");
    let scope = t["scope"].as_str().unwrap();
    assert!(
        scope.contains("Files.ReadWrite") && scope.contains("User.Read"),
        "{scope}"
    );

    let api = Api {
        http: http.clone(),
        graph: emu.graph_url(),
        token: t["access_token"].as_str().unwrap().into(),
    };
    let (s, me) = api.get("/me").await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["userPrincipalName"], "ada.lovelace@outlook.com");

    // A redeemed code cannot be used again.
    let (s, v) = poll(&http, &emu, device_code).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_sts(&v, "invalid_grant");
    // An unknown one is a bad verification code.
    let (_, v) = poll(&http, &emu, "nope").await;
    assert_sts(&v, "bad_verification_code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_approval_redirects_and_openid_gives_id_token() {
    let emu = start(Config::for_tests());
    let http = http();
    let (_, dc) = devicecode(&http, &emu, "openid profile offline_access Files.ReadWrite").await;
    let r = http
        .post(format!("{}/_emulator/device/approve", emu.base_url()))
        .form(&[("user_code", dc["user_code"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (s, t) = poll(&http, &emu, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t["id_token"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_faster_than_interval_gets_slow_down() {
    // Every "too fast" poll below has hundreds of ms of margin; every "slow
    // enough" one is guaranteed by a sleep, so the test holds under load.
    let emu = start(Config {
        device_poll_interval: Duration::from_millis(300),
        slow_down_increment: Duration::from_millis(400),
        ..Config::for_tests()
    });
    let http = http();
    let (_, dc) = devicecode(&http, &emu, SCOPES).await;
    assert_eq!(
        dc["interval"], 1,
        "advertised interval is rounded up to seconds"
    );
    let code = dc["device_code"].as_str().unwrap();
    let (_, v) = poll(&http, &emu, code).await;
    assert_sts(&v, "authorization_pending");
    let (s, v) = poll(&http, &emu, code).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_sts(&v, "slow_down");
    // The interval has grown to 700 ms: 200 ms later is still too fast.
    emu.advance_clock(Duration::from_millis(200));
    let (_, v) = poll(&http, &emu, code).await;
    assert_sts(&v, "slow_down");
    // Now 1100 ms.
    emu.advance_clock(Duration::from_millis(1150));
    let (_, v) = poll(&http, &emu, code).await;
    assert_sts(&v, "authorization_pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_and_expired_codes() {
    let emu = start(Config::for_tests());
    let http = http();
    let (_, a) = devicecode(&http, &emu, SCOPES).await;
    emu.decline(a["user_code"].as_str().unwrap()).unwrap();
    for _ in 0..2 {
        let (s, v) = poll(&http, &emu, a["device_code"].as_str().unwrap()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_sts(&v, "authorization_declined");
    }
    assert!(
        emu.approve(a["user_code"].as_str().unwrap()).is_err(),
        "no longer pending"
    );

    let short = start(Config {
        device_code_lifetime: Duration::from_millis(300),
        ..Config::for_tests()
    });
    let (_, b) = devicecode(&http, &short, SCOPES).await;
    short.advance_clock(Duration::from_millis(350));
    let (s, v) = poll(&http, &short, b["device_code"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_sts(&v, "expired_token");
    assert!(short.approve(b["user_code"].as_str().unwrap()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_approval_after_n_polls() {
    let emu = start(Config {
        auto_approve_after_polls: Some(3),
        ..Config::for_tests()
    });
    let http = http();
    let (_, dc) = devicecode(&http, &emu, SCOPES).await;
    let code = dc["device_code"].as_str().unwrap();
    assert_eq!(
        poll(&http, &emu, code).await.1["error"],
        "authorization_pending"
    );
    assert_eq!(
        poll(&http, &emu, code).await.1["error"],
        "authorization_pending"
    );
    let (s, t) = poll(&http, &emu, code).await;
    assert_eq!(s, StatusCode::OK, "{t}");
}

async fn sign_in(
    http: &reqwest::Client,
    emu: &nuage_emulator::Handle,
    scope: &str,
) -> serde_json::Value {
    let (_, dc) = devicecode(http, emu, scope).await;
    emu.approve(dc["user_code"].as_str().unwrap()).unwrap();
    let (s, t) = poll(http, emu, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t
}

async fn refresh(
    http: &reqwest::Client,
    emu: &nuage_emulator::Handle,
    rt: &str,
) -> (StatusCode, serde_json::Value) {
    token_form(
        http,
        emu,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("refresh_token", rt),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_revocation_ends_it() {
    let emu = start(Config::for_tests());
    let http = http();
    let t0 = sign_in(&http, &emu, SCOPES).await;
    let rt0 = t0["refresh_token"].as_str().unwrap();
    let (s, t1) = refresh(&http, &emu, rt0).await;
    assert_eq!(s, StatusCode::OK, "{t1}");
    let rt1 = t1["refresh_token"].as_str().unwrap();
    assert_ne!(rt0, rt1, "a new refresh token each time");
    assert_ne!(t0["access_token"], t1["access_token"]);
    // The old one stays valid.
    let (s, _) = refresh(&http, &emu, rt0).await;
    assert_eq!(s, StatusCode::OK);
    // Narrowing the scope is allowed, widening is not.
    let (s, t) = token_form(
        &http,
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("refresh_token", rt1),
            ("scope", "offline_access Files.ReadWrite"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t["scope"], "Files.ReadWrite");
    let (s, v) = token_form(
        &http,
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("refresh_token", rt1),
            ("scope", "Files.ReadWrite.All"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_sts(&v, "invalid_grant");
    // Another client cannot use it; a secret is refused for a public client.
    let (_, v) = token_form(
        &http,
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "99999999-2222-3333-4444-555555555555"),
            ("refresh_token", rt1),
        ],
    )
    .await;
    assert_sts(&v, "invalid_grant");
    let (_, v) = token_form(
        &http,
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("refresh_token", rt1),
            ("client_secret", "x"),
        ],
    )
    .await;
    assert_sts(&v, "invalid_client");
    assert_eq!(v["error_codes"], json!([700025]));

    emu.revoke_refresh_tokens();
    for rt in [rt0, rt1] {
        let (s, v) = refresh(&http, &emu, rt).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_sts(&v, "invalid_grant");
        assert_eq!(v["error_codes"], json!([50173]));
    }
    let (_, v) = refresh(&http, &emu, "unknown").await;
    assert_sts(&v, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_expire_by_inactivity() {
    let emu = start(Config {
        refresh_token_lifetime: Duration::from_millis(150),
        ..Config::for_tests()
    });
    let http = http();
    let t = sign_in(&http, &emu, SCOPES).await;
    emu.advance_clock(Duration::from_millis(200));
    let (_, v) = refresh(&http, &emu, t["refresh_token"].as_str().unwrap()).await;
    assert_sts(&v, "invalid_grant");
    assert_eq!(v["error_codes"], json!([700082]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_are_enforced() {
    let emu = start(Config::for_tests());
    let http = http();
    // No offline_access → no refresh token.
    let t = sign_in(&http, &emu, "Files.ReadWrite").await;
    assert!(t.get("refresh_token").is_none(), "{t}");
    // Unknown scope.
    let (s, v) = devicecode(&http, &emu, "Mail.Read offline_access").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_sts(&v, "invalid_scope");
    // Files.Read: reading works, writing and /me do not.
    let ro = Api::new(&emu, "Files.Read");
    assert_eq!(ro.get("/me/drive/root/children").await.0, StatusCode::OK);
    let (s, v) = ro
        .put("/me/drive/root:/a.txt:/content", b"x".to_vec())
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(code(&v), "accessDenied");
    assert_eq!(ro.get("/me").await.0, StatusCode::FORBIDDEN);
    // User.Read only: no drive access at all.
    let u = Api::new(&emu, "User.Read");
    let (s, v) = u.get("/me/drive/root").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(code(&v), "accessDenied");
    assert_eq!(u.get("/me").await.0, StatusCode::OK);
    // The user may consent to fewer scopes than asked.
    let (_, dc) = devicecode(&http, &emu, SCOPES).await;
    emu.approve_with_scopes(dc["user_code"].as_str().unwrap(), &["User.Read"])
        .unwrap();
    let (_, t) = poll(&http, &emu, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(t["scope"], "User.Read");
    let api = Api {
        http: http.clone(),
        graph: emu.graph_url(),
        token: t["access_token"].as_str().unwrap().into(),
    };
    assert_eq!(api.get("/me/drive").await.0, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_checked() {
    let emu = start(Config {
        allowed_client_ids: vec![CLIENT.into()],
        confidential_clients: vec![(
            "aaaaaaaa-0000-0000-0000-000000000001".into(),
            "s3cret".into(),
        )],
        ..Config::for_tests()
    });
    let http = http();
    // Unknown client id.
    let r = http
        .post(format!(
            "{}/common/oauth2/v2.0/devicecode",
            emu.authority_url()
        ))
        .form(&[
            ("client_id", "bbbbbbbb-0000-0000-0000-000000000002"),
            ("scope", SCOPES),
        ])
        .send()
        .await
        .unwrap();
    let (s, v) = parts(r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_sts(&v, "invalid_client");
    // A public client must not send a secret on the device flow.
    let (_, dc) = devicecode(&http, &emu, SCOPES).await;
    emu.approve(dc["user_code"].as_str().unwrap()).unwrap();
    let (_, v) = token_form(
        &http,
        &emu,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", CLIENT),
            ("device_code", dc["device_code"].as_str().unwrap()),
            ("client_secret", "s3cret"),
        ],
    )
    .await;
    assert_sts(&v, "invalid_client");
    assert_eq!(v["error_codes"], json!([700025]));
    // Client credentials: right secret → app-only token; wrong → invalid_client.
    let cc = |secret: &'static str| {
        [
            ("grant_type", "client_credentials"),
            ("client_id", "aaaaaaaa-0000-0000-0000-000000000001"),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ]
    };
    let (_, v) = token_form(&http, &emu, &cc("wrong")).await;
    assert_sts(&v, "invalid_client");
    let (s, t) = token_form(&http, &emu, &cc("s3cret")).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert!(t.get("refresh_token").is_none());
    let app = Api {
        http: http.clone(),
        graph: emu.graph_url(),
        token: t["access_token"].as_str().unwrap().into(),
    };
    let (s, _) = app.get("/me").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "/me needs a delegated token");
    let (s, d) = app
        .get(&format!("/drives/{}", emu.personal_drive_id()))
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    // The secret may also come as HTTP Basic (what the oauth2 crate sends).
    let r = http
        .post(format!("{}/common/oauth2/v2.0/token", emu.authority_url()))
        .basic_auth("aaaaaaaa-0000-0000-0000-000000000001", Some("s3cret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Unsupported grant; non-form body.
    let (_, v) = token_form(
        &http,
        &emu,
        &[("grant_type", "password"), ("client_id", CLIENT)],
    )
    .await;
    assert_sts(&v, "unsupported_grant_type");
    let r = http
        .post(format!("{}/common/oauth2/v2.0/token", emu.authority_url()))
        .json(&json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(parts(r).await.1["error"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_missing_expired_or_unknown_get_401() {
    let check = |r: reqwest::Response| async move {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let www = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(www.starts_with("Bearer realm=\"\""), "{www}");
        let (_, v) = parts(r).await;
        assert_eq!(code(&v), "InvalidAuthenticationToken");
        v
    };
    let http = http();
    // Natural expiry.
    let short = start(Config {
        access_token_lifetime: Duration::from_millis(100),
        ..Config::for_tests()
    });
    let token = short.mint_access_token(SCOPES);
    short.advance_clock(Duration::from_millis(150));
    let url = format!("{}/me/drive", short.graph_url());
    let v = check(http.get(&url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(
        v["error"]["message"],
        "Access token has expired or is not yet valid."
    );
    check(http.get(&url).send().await.unwrap()).await;
    check(http.get(&url).bearer_auth("bogus").send().await.unwrap()).await;

    // Expire-all action through the control API.
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    assert_eq!(api.get("/me/drive").await.0, StatusCode::OK);
    let r = http
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!([FaultSpec::new(FaultKind::ExpireAccessTokens)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .get(api.url("/me/drive"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    check(r).await;
}
