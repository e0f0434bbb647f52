use std::collections::HashSet;

use nuage_emulator::{Config, FaultKind, FaultSpec};
use reqwest::StatusCode;
use serde_json::json;

use crate::*;

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_drive_and_quota() {
    let emu = start(Config {
        personal_quota_total: 10 * MIB as u64,
        ..Config::for_tests()
    });
    let api = Api::new(&emu, SCOPES);
    let (s, d) = api.get("/me/drive").await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["driveType"], "personal");
    let id = d["id"].as_str().unwrap();
    assert_eq!(id.len(), 16);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(d["quota"]["used"], 0);
    api.put("/me/drive/root:/a.bin:/content", bytes(1000, 1))
        .await;
    let (_, d) = api.get(&format!("/drives/{}", id.to_uppercase())).await;
    assert_eq!(d["quota"]["used"], 1000);
    assert_eq!(d["quota"]["total"], 10 * MIB);
    assert_eq!(d["quota"]["remaining"], 10 * MIB - 1000);
    let (s, v) = api.get("/drives/0123456789abcdef").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(code(&v), "itemNotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_upload_download_and_limits() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    api.mkdir("", "Backups").await;
    let data = bytes(4 * MIB, 2);
    let (s, item) = api
        .put("/me/drive/root:/Backups/db.json:/content", data.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{item}");
    assert_eq!(item["size"], 4 * MIB);
    assert_eq!(item["file"]["hashes"]["quickXorHash"], qxh(&data));
    assert_eq!(item["file"]["mimeType"], "application/json");
    assert_eq!(item["parentReference"]["path"], "/drive/root:/Backups");
    assert!(item["eTag"].as_str().unwrap().starts_with("\"{"));
    assert_eq!(emu.file_bytes("me", "/Backups/db.json").unwrap(), data);

    // Replace (default) → 200; fail → 409; rename → "db 1.json".
    let (s, again) = api
        .put("/me/drive/root:/Backups/db.json:/content", b"v2".to_vec())
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["id"], item["id"]);
    assert_ne!(again["eTag"], item["eTag"]);
    let (s, v) = api
        .put(
            "/me/drive/root:/Backups/db.json:/content?@microsoft.graph.conflictBehavior=fail",
            b"x".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(code(&v), "nameAlreadyExists");
    let (s, v) = api
        .put(
            "/me/drive/root:/Backups/DB.json:/content?@microsoft.graph.conflictBehavior=rename",
            b"x".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["name"], "db 1.json");
    // Replace by id.
    let (s, v) = api
        .put(
            &format!("/me/drive/items/{}/content", item["id"].as_str().unwrap()),
            b"v3".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Above 4 MiB → 413, nothing stored.
    let (s, v) = api
        .put(
            "/me/drive/root:/Backups/big.bin:/content",
            bytes(4 * MIB + 1, 3),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(v["error"]["code"].is_string());
    assert!(emu.file_bytes("me", "/Backups/big.bin").is_none());
    // Zero bytes is fine.
    let (s, v) = api
        .put("/me/drive/root:/Backups/empty:/content", Vec::new())
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        v["file"]["hashes"]["quickXorHash"],
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    );
    // Missing parent → 404 (no auto-creation by default).
    let (s, v) = api
        .put("/me/drive/root:/Nope/x.bin:/content", b"x".to_vec())
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(code(&v), "itemNotFound");

    // Download: 302 to a pre-authenticated URL; Range → 206.
    let r = api
        .http
        .get(api.url("/me/drive/root:/Backups/db 1.json:/content"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(&emu.base_url()));
    let body = api
        .http
        .get(&loc)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&body[..], b"x");
    let (_, it) = api.get("/me/drive/root:/Backups/db.json").await;
    let dl = it["@microsoft.graph.downloadUrl"].as_str().unwrap();
    let r = api
        .http
        .get(dl)
        .header("range", "bytes=1-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 1-1/2");
    assert_eq!(&r.bytes().await.unwrap()[..], b"3");
    let r = api
        .http
        .get(dl)
        .header("range", "bytes=5-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    // If-None-Match with the current eTag → 304.
    let r = api
        .http
        .get(api.url("/me/drive/root:/Backups/db.json:/content"))
        .bearer_auth(&api.token)
        .header("if-none-match", it["eTag"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_conflicts_and_addressing() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    let f = api.mkdir("", "Backups").await;
    assert!(f["folder"]["childCount"].is_u64());
    let (s, v) = api
        .post(
            "/me/drive/root/children",
            &json!({"name": "backups", "folder": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "names are case-insensitive");
    assert_eq!(code(&v), "nameAlreadyExists");
    let (s, v) = api
        .post("/me/drive/root/children",
              &json!({"name": "Backups", "folder": {}, "@microsoft.graph.conflictBehavior": "rename"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["name"], "Backups 1");
    let (s, v) = api
        .post(
            "/me/drive/root/children",
            &json!({"name": "Backups 1", "folder": {}, "@name.conflictBehavior": "replace"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["name"], "Backups 1");
    // Nested, by parent id.
    let fid = f["id"].as_str().unwrap();
    let (s, app) = api
        .post(
            &format!("/me/drive/items/{fid}/children"),
            &json!({"name": "App", "folder": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(app["parentReference"]["id"], fid);
    // Relative addressing: items/{id}:/rel:/content, and root:/path (no trailing colon).
    let (s, v) = api
        .put(
            &format!("/me/drive/items/{fid}:/App/x.bin:/content"),
            b"abc".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = api.get("/me/drive/root:/backups/app/X.BIN").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["name"], "x.bin");
    let (s, _) = api.get(&format!("/me/drive/items/{fid}:/App:")).await;
    assert_eq!(s, StatusCode::OK);
    // POST children needs the folder facet; missing parent → 404.
    let (s, _) = api
        .post("/me/drive/root/children", &json!({"name": "x"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = api
        .post(
            "/me/drive/root:/Missing:/children",
            &json!({"name": "x", "folder": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Delete → 204, then 404; the root cannot be deleted.
    let (s, _) = api.delete("/me/drive/root:/Backups").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = api.get("/me/drive/root:/Backups/App/x.bin").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(code(&v), "itemNotFound");
    for k in ["date", "request-id", "client-request-id"] {
        assert!(v["error"]["innerError"][k].is_string(), "{v}");
    }
    assert_eq!(api.delete("/me/drive/root").await.0, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_names_and_long_paths_are_refused() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    for name in [
        "a%3Ab",
        "a%2Ab",
        "a%3Fb",
        "a%7Cb",
        "a%22b",
        "trail.",
        "%20lead",
        "CON",
        "con.txt",
        "LPT1.log",
        "desktop.ini",
        ".lock",
        "~%24doc.docx",
        "x_vti_y",
        "a%0Ab",
    ] {
        let (s, v) = api
            .put(&format!("/me/drive/root:/{name}:/content"), b"x".to_vec())
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{name}: {v}");
        assert_eq!(inner_code(&v), "invalidPath", "{name}: {v}");
    }
    let (s, v) = api
        .post(
            "/me/drive/root/children",
            &json!({"name": "a<b", "folder": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(code(&v), "invalidRequest");
    // 400 characters are fine, 401 are not.
    let dir = "d".repeat(200);
    api.mkdir("", &dir).await;
    let ok = format!("{dir}/{}", "f".repeat(199));
    assert_eq!(ok.chars().count(), 400);
    assert_eq!(
        api.put(&format!("/me/drive/root:/{ok}:/content"), b"x".to_vec())
            .await
            .0,
        StatusCode::CREATED
    );
    let (s, v) = api
        .put(&format!("/me/drive/root:/{ok}x:/content"), b"x".to_vec())
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(inner_code(&v), "pathIsTooLong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_are_paged_with_next_links() {
    let emu = start(Config::for_tests());
    for i in 0..25 {
        emu.put_file("me", &format!("/Many/f{i:02}.bin"), &[i as u8])
            .unwrap();
    }
    let api = Api::new(&emu, SCOPES);
    let mut url = "/me/drive/root:/Many:/children?$top=10".to_string();
    let mut seen = HashSet::new();
    let mut pages = 0;
    loop {
        let (s, v) = api.get(&url).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        pages += 1;
        for it in v["value"].as_array().unwrap() {
            assert!(seen.insert(it["name"].as_str().unwrap().to_string()));
        }
        match v["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with(&emu.graph_url()) && next.contains("$skiptoken="),
                    "{next}"
                );
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!((pages, seen.len()), (3, 25));
    let (s, v) = api.get("/me/drive/root:/Many:/children").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["value"].as_array().unwrap().len(), 25);
    assert!(v.get("@odata.nextLink").is_none());
    let (s, _) = api
        .get("/me/drive/root:/Many:/children?$skiptoken=garbage")
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = api.get("/me/drive/root:/Many:/children?$top=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, v) = api
        .get("/me/drive/root:/Many:/children?$top=1&$select=name,size")
        .await;
    let keys: Vec<&String> = v["value"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_injected() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    emu.inject(vec![
        FaultSpec::new(FaultKind::Throttle)
            .path("/v1.0/me/drive")
            .count(3)
            .retry_after(&[41, 315]),
    ])
    .unwrap();
    for expected in ["41", "315", "315"] {
        let r = api
            .http
            .get(api.url("/me/drive"))
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], expected);
        let (_, v) = parts(r).await;
        assert_eq!(code(&v), "activityLimitReached");
        assert_eq!(inner_code(&v), "throttledRequest");
    }
    assert_eq!(api.get("/me/drive").await.0, StatusCode::OK);
    // Other paths were not affected; the control API arms faults too.
    let r = api
        .http
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!([
            {"kind": "unavailable", "path": "/v1.0/me*", "method": "GET"},
            {"kind": "unavailable", "path": "/v1.0/me*", "retry_after": 2},
            {"kind": "server_error", "path": "*/children", "status": 504}
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = api
        .http
        .get(api.url("/me"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(code(&parts(r).await.1), "serviceNotAvailable");
    let r = api
        .http
        .get(api.url("/me"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "2");
    let (s, v) = api.get("/me/drive/root/children").await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(code(&v), "generalException");
    emu.inject(vec![
        FaultSpec::new(FaultKind::Locked)
            .path("*/content")
            .method("PUT"),
    ])
    .unwrap();
    let (s, v) = api
        .put("/me/drive/root:/l.txt:/content", b"x".to_vec())
        .await;
    assert_eq!(s, StatusCode::LOCKED);
    assert_eq!(code(&v), "resourceLocked");
    // The identity endpoints get the STS body.
    emu.inject(vec![
        FaultSpec::new(FaultKind::ServerError).path("*/oauth2/v2.0/token"),
    ])
    .unwrap();
    let (s, v) = token_form(&api.http, &emu, &[("grant_type", "refresh_token")]).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v["error"], "temporarily_unavailable");

    let st = emu.state();
    assert_eq!(st["requests"]["by_status"]["429"], 3);
    assert_eq!(st["requests"]["by_status"]["503"], 2);
    assert_eq!(st["requests"]["faults_fired"], 8);
    assert!(st["faults"].as_array().unwrap().is_empty());
    // Invalid fault specs are refused.
    let r = api
        .http
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!([{"kind": "throttle", "after_bytes": 3}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drive_survives_a_restart_with_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..Config::for_tests()
    };
    let data = bytes(300_000, 9);
    let (token, item, share) = {
        let emu = start(cfg.clone());
        let api = Api::new(&emu, SCOPES);
        api.mkdir("", "Backups").await;
        let (s, item) = api
            .put("/me/drive/root:/Backups/db.bin:/content", data.clone())
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let share = emu.register_share("/Team").unwrap();
        (api.token, item, share)
    };
    let emu = start(cfg);
    let api = Api {
        http: http(),
        graph: emu.graph_url(),
        token,
    };
    let (s, again) = api.get("/me/drive/root:/Backups/db.bin").await;
    assert_eq!(s, StatusCode::OK, "tokens and files survive: {again}");
    assert_eq!(again["id"], item["id"]);
    assert_eq!(again["file"]["hashes"]["quickXorHash"], qxh(&data));
    assert_eq!(emu.file_bytes("me", "/Backups/db.bin").unwrap(), data);
    assert_eq!(emu.state()["shares"][0]["url"], share.url);
    let (s, _) = api
        .get(&format!("/shares/{}/driveItem", share.share_id))
        .await;
    assert_eq!(s, StatusCode::OK);
    // New items do not reuse ids.
    let (_, other) = api
        .put("/me/drive/root:/Backups/two.bin:/content", b"2".to_vec())
        .await;
    assert_ne!(other["id"], item["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_renamed_and_moved_with_patch() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    let a = api.mkdir("", "a").await;
    let b = api.mkdir("", "b").await;
    let (s, f) = api
        .put("/me/drive/root:/a/x.json:/content", b"x".to_vec())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    let fid = f["id"].as_str().unwrap();
    let patch = |path: String, body: serde_json::Value| {
        let api = &api;
        async move {
            api.req(reqwest::Method::PATCH, &path, None, Some(&body))
                .await
        }
    };

    // Move into b under the same name: 200, content and id kept.
    let (s, v) = patch(
        format!("/me/drive/items/{fid}"),
        json!({"parentReference": {"id": b["id"]}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["id"], f["id"]);
    assert_eq!(v["parentReference"]["path"], "/drive/root:/b");
    assert_eq!(emu.file_bytes("me", "/b/x.json").unwrap(), b"x");
    assert!(emu.file_bytes("me", "/a/x.json").is_none());

    // A name taken at the target: 409, nothing moves.
    api.put("/me/drive/root:/a/x.json:/content", b"other".to_vec())
        .await;
    let (s, v) = patch(
        format!("/me/drive/items/{fid}"),
        json!({"parentReference": {"id": a["id"]}}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(code(&v), "nameAlreadyExists");
    assert_eq!(emu.file_bytes("me", "/b/x.json").unwrap(), b"x");

    // Rename a folder by path: its files follow.
    let (s, v) = patch("/me/drive/root:/b".into(), json!({"name": "c"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(emu.file_bytes("me", "/c/x.json").unwrap(), b"x");

    // Refused: into itself, another drive, the root, bad names, unknown items.
    let (s, v) = patch(
        "/me/drive/root:/c".into(),
        json!({"parentReference": {"id": b["id"]}}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = patch(
        "/me/drive/root:/c".into(),
        json!({"parentReference": {"id": a["id"], "driveId": "0123456789abcdef"}}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = patch("/me/drive/root".into(), json!({"name": "r"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = patch("/me/drive/root:/c".into(), json!({"name": "a:b"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = patch("/me/drive/root:/nope".into(), json!({"name": "n"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(code(&v), "itemNotFound");
    let (s, _) = patch(
        "/me/drive/root:/c".into(),
        json!({"parentReference": {"id": "0123NOPE"}}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Read-only sign-ins cannot move anything.
    let ro = Api::new(&emu, "offline_access Files.Read User.Read");
    let (s, _) = ro
        .req(
            reqwest::Method::PATCH,
            "/me/drive/root:/c",
            None,
            Some(&json!({"name": "d"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
