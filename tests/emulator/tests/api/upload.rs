use nuage_emulator::{Config, FRAGMENT_UNIT, FaultKind, FaultSpec};
use reqwest::StatusCode;
use serde_json::json;

use crate::*;

const MIB: u64 = 1024 * 1024;

async fn session(
    api: &Api,
    path: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    api.post(
        &format!("/me/drive/root:/{path}:/createUploadSession"),
        &body,
    )
    .await
}

async fn new_session(api: &Api, name: &str) -> String {
    let (s, v) = session(
        api,
        name,
        json!({"item": {"@microsoft.graph.conflictBehavior": "replace",
                        "name": name.rsplit('/').next().unwrap()}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["uploadUrl"].as_str().unwrap().to_string()
}

async fn status(api: &Api, url: &str) -> (StatusCode, serde_json::Value) {
    parts(api.http.get(url).send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_session_of_25_mib_in_10_mib_fragments() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    let total = 25 * MIB + 12_345;
    let data = bytes(total as usize, 25);
    let (s, v) = session(
        &api,
        "big.bin",
        json!({"item": {"@microsoft.graph.conflictBehavior": "fail", "name": "big.bin", "fileSize": total}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["nextExpectedRanges"], json!(["0-"]));
    assert!(v["expirationDateTime"].as_str().unwrap().ends_with('Z'));
    let url = v["uploadUrl"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/_upload/", emu.base_url())));

    let frag = (10 * MIB) as usize;
    assert_eq!(frag as u64 % FRAGMENT_UNIT, 0);
    let mut start = 0usize;
    let mut last = None;
    while start < data.len() {
        let end = (start + frag).min(data.len());
        let (s, v) = api
            .fragment(&url, start as u64, &data[start..end], total)
            .await;
        if end < data.len() {
            assert_eq!(s, StatusCode::ACCEPTED, "{v}");
            assert_eq!(v["nextExpectedRanges"], json!([format!("{end}-")]));
            let (s, st) = status(&api, &url).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(st["nextExpectedRanges"], json!([format!("{end}-")]));
        } else {
            last = Some((s, v));
        }
        start = end;
    }
    let (s, item) = last.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{item}");
    assert_eq!(item["size"], total);
    assert_eq!(item["name"], "big.bin");
    assert_eq!(item["file"]["hashes"]["quickXorHash"], qxh(&data));
    assert_eq!(emu.file_bytes("me", "/big.bin").unwrap(), data);
    // The session is gone once committed.
    let (s, v) = status(&api, &url).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(code(&v), "itemNotFound");
    // No temporary file is left behind; no Authorization ever reached the uploadUrl.
    let st = emu.state();
    assert!(st["sessions"].as_array().unwrap().is_empty());
    assert!(
        st["recent"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["path"].as_str().unwrap().starts_with("/_upload/"))
            .all(|r| r["authorization"] == false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_url_strictness() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    let total = 3 * FRAGMENT_UNIT + 10;
    let data = bytes(total as usize, 3);
    let url = new_session(&api, "strict.bin").await;
    let unit = FRAGMENT_UNIT as usize;

    // Authorization on the uploadUrl → 401.
    let r = api
        .http
        .put(&url)
        .bearer_auth(&api.token)
        .header("content-range", format!("bytes 0-{}/{total}", unit - 1))
        .body(data[..unit].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // No Content-Range → 400.
    let r = api
        .http
        .put(&url)
        .body(data[..unit].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Not a multiple of 320 KiB and not the last fragment → 400.
    let (s, v) = api.fragment(&url, 0, &data[..unit + 1], total).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(inner_code(&v), "invalidFragmentLength");
    // A gap → 400 fragmentOutOfOrder.
    let (s, v) = api
        .fragment(&url, FRAGMENT_UNIT, &data[unit..2 * unit], total)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(inner_code(&v), "fragmentOutOfOrder");
    // Nothing was accepted so far.
    assert_eq!(
        status(&api, &url).await.1["nextExpectedRanges"],
        json!(["0-"])
    );

    let (s, _) = api.fragment(&url, 0, &data[..unit], total).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    // Overlap → 416 fragmentOverlap.
    let (s, v) = api.fragment(&url, 0, &data[..unit], total).await;
    assert_eq!(s, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(code(&v), "invalidRange");
    assert_eq!(inner_code(&v), "fragmentOverlap");
    // A different total → fragmentLengthMismatch.
    let (s, v) = api
        .fragment(&url, FRAGMENT_UNIT, &data[unit..2 * unit], total + 1)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(inner_code(&v), "fragmentLengthMismatch");
    // Content-Length must match the range.
    let r = api
        .http
        .put(&url)
        .header(
            "content-range",
            format!("bytes {}-{}/{total}", unit, 2 * unit - 1),
        )
        .body(data[unit..2 * unit - 1].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // 60 MiB and more → 413 (checked from the headers).
    let r = api
        .http
        .put(&url)
        .header(
            "content-range",
            format!(
                "bytes {}-{}/{}",
                unit,
                unit + 60 * MIB as usize - 1,
                200 * MIB
            ),
        )
        .body(vec![0u8; 60 * MIB as usize])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // The rest, in order → 201 with the right hash.
    let (s, _) = api
        .fragment(&url, FRAGMENT_UNIT, &data[unit..3 * unit], total)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, item) = api
        .fragment(&url, 3 * FRAGMENT_UNIT, &data[3 * unit..], total)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{item}");
    assert_eq!(item["file"]["hashes"]["quickXorHash"], qxh(&data));
    let st = emu.state();
    assert_eq!(st["requests"]["by_status"]["416"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_creation_rules() {
    let emu = start(Config {
        personal_quota_total: 10 * MIB,
        ..Config::for_tests()
    });
    let api = Api::new(&emu, SCOPES);
    let folder = api.mkdir("", "Backups").await;
    let fid = folder["id"].as_str().unwrap();
    // item.name must match the path.
    let (s, v) = session(&api, "Backups/a.bin", json!({"item": {"name": "b.bin"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // fileSize beyond the quota → 507, no session.
    let (s, v) = session(
        &api,
        "Backups/a.bin",
        json!({"item": {"name": "a.bin", "fileSize": 11 * MIB}}),
    )
    .await;
    assert_eq!(s, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(code(&v), "quotaLimitReached");
    assert!(emu.state()["sessions"].as_array().unwrap().is_empty());
    // Empty files need a simple upload.
    let (s, _) = session(&api, "Backups/a.bin", json!({"item": {"fileSize": 0}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // By parent id + name; no body at all is fine.
    let (s, v) = api
        .post(
            &format!("/me/drive/items/{fid}:/c.bin:/createUploadSession"),
            &json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // POST …/items/{folderId}/createUploadSession → 400.
    let (s, _) = api
        .post(
            &format!("/me/drive/items/{fid}/createUploadSession"),
            &json!({"item": {"name": "c.bin"}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Default conflictBehavior is fail: an existing name → 409.
    api.put("/me/drive/root:/Backups/d.bin:/content", b"d".to_vec())
        .await;
    let (s, v) = session(&api, "Backups/d.bin", json!({"item": {"name": "d.bin"}})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(code(&v), "nameAlreadyExists");
    // Missing parent → 404; invalid name → 400.
    assert_eq!(
        session(&api, "Nope/a.bin", json!(null)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        session(&api, "Backups/a%3Fb", json!(null)).await.0,
        StatusCode::BAD_REQUEST
    );
    // The quota also applies at commit: fill the drive, then finish a session.
    let url = new_session(&api, "Backups/e.bin").await;
    emu.set_quota("me", 100).unwrap();
    let (s, v) = api.fragment(&url, 0, &[1u8; 200], 200).await;
    assert_eq!(s, StatusCode::INSUFFICIENT_STORAGE, "{v}");
    let (s, v) = api
        .put("/me/drive/root:/Backups/f.bin:/content", vec![0; 200])
        .await;
    assert_eq!(s, StatusCode::INSUFFICIENT_STORAGE, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_cancel_and_expiry() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    let url = new_session(&api, "a.bin").await;
    let (s, v) = status(&api, &url).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["nextExpectedRanges"], json!(["0-"]));
    let r = api.http.delete(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(status(&api, &url).await.0, StatusCode::NOT_FOUND);

    let url = new_session(&api, "b.bin").await;
    let data = bytes(2 * FRAGMENT_UNIT as usize, 4);
    let (s, _) = api
        .fragment(&url, 0, &data[..FRAGMENT_UNIT as usize], 2 * FRAGMENT_UNIT)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(emu.expire_upload_sessions(Some(&url)), 1);
    let (s, v) = api
        .fragment(
            &url,
            FRAGMENT_UNIT,
            &data[FRAGMENT_UNIT as usize..],
            2 * FRAGMENT_UNIT,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(code(&v), "itemNotFound");
    assert!(emu.file_bytes("me", "/b.bin").is_none());
    // The same through the control API.
    let url = new_session(&api, "c.bin").await;
    let r = api
        .http
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!([{"kind": "expire_upload_sessions"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(status(&api, &url).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_contributes_no_bytes() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    let unit = FRAGMENT_UNIT as usize;
    let total = 4 * FRAGMENT_UNIT;
    let data = bytes(total as usize, 5);
    let url = new_session(&api, "drop.bin").await;
    let (s, _) = api.fragment(&url, 0, &data[..2 * unit], total).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    emu.inject(vec![
        FaultSpec::new(FaultKind::DropConnection)
            .path("/_upload/*")
            .method("PUT")
            .after_bytes(100_000),
    ])
    .unwrap();
    let r = api
        .http
        .put(&url)
        .header(
            "content-range",
            format!("bytes {}-{}/{total}", 2 * unit, total - 1),
        )
        .body(data[2 * unit..].to_vec())
        .send()
        .await;
    assert!(
        r.is_err(),
        "the connection was closed without an answer: {r:?}"
    );
    let (s, v) = status(&api, &url).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["nextExpectedRanges"], json!([format!("{}-", 2 * unit)]));
    assert_eq!(emu.state()["requests"]["dropped_connections"], 1);
    // Resending completes the file with the right content.
    let (s, item) = api
        .fragment(&url, 2 * FRAGMENT_UNIT, &data[2 * unit..], total)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{item}");
    assert_eq!(item["file"]["hashes"]["quickXorHash"], qxh(&data));
    assert_eq!(emu.file_bytes("me", "/drop.bin").unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_accept_and_throttled_fragments_resume() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    let unit = FRAGMENT_UNIT as usize;
    let total = 4 * FRAGMENT_UNIT + 7;
    let data = bytes(total as usize, 6);
    let url = new_session(&api, "partial.bin").await;
    emu.inject(vec![
        FaultSpec::new(FaultKind::PartialAccept)
            .path("/_upload/*")
            .accept_bytes(FRAGMENT_UNIT),
        FaultSpec::new(FaultKind::Throttle)
            .path("/_upload/*")
            .method("PUT")
            .retry_after(&[1]),
    ])
    .unwrap();
    // Sent 0..3 units; only 1 unit kept.
    let (s, v) = api.fragment(&url, 0, &data[..3 * unit], total).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(v["nextExpectedRanges"], json!([format!("{unit}-")]));
    // Throttled: nothing stored, Retry-After given.
    let r = api
        .http
        .put(&url)
        .header(
            "content-range",
            format!("bytes {unit}-{}/{total}", total - 1),
        )
        .body(data[unit..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    let (s, item) = api
        .fragment(&url, FRAGMENT_UNIT, &data[unit..], total)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{item}");
    assert_eq!(item["file"]["hashes"]["quickXorHash"], qxh(&data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_commit_and_replacing_by_id() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    let (s, v) = session(
        &api,
        "late.bin",
        json!({"item": {"name": "late.bin"}, "deferCommit": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let url = v["uploadUrl"].as_str().unwrap();
    let (s, v) = api.fragment(url, 0, b"hello", 5).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["nextExpectedRanges"], json!([]));
    assert!(emu.file_bytes("me", "/late.bin").is_none());
    let r = api
        .http
        .post(url)
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    let (s, item) = parts(r).await;
    assert_eq!(s, StatusCode::CREATED, "{item}");
    // Update an existing file through /items/{id}/createUploadSession → 200.
    let id = item["id"].as_str().unwrap();
    let (s, v) = api
        .post(
            &format!("/me/drive/items/{id}/createUploadSession"),
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, again) = api
        .fragment(v["uploadUrl"].as_str().unwrap(), 0, b"bye", 3)
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["id"], item["id"]);
    assert_eq!(emu.file_bytes("me", "/late.bin").unwrap(), b"bye");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_taken_during_session_then_source_url_commit() {
    let emu = start(Config::for_tests());
    let api = Api::new(&emu, SCOPES);
    let (s, v) = session(
        &api,
        "x.bin",
        json!({"item": {"name": "x.bin", "@microsoft.graph.conflictBehavior": "fail"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let url = v["uploadUrl"].as_str().unwrap().to_string();
    // Someone else takes the name meanwhile.
    assert_eq!(
        api.put("/me/drive/root:/x.bin:/content", b"theirs".to_vec())
            .await
            .0,
        StatusCode::CREATED
    );
    let (s, v) = api.fragment(&url, 0, b"mine", 4).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(code(&v), "nameAlreadyExists");
    // The session survives, complete, and can be committed elsewhere.
    let (s, st) = status(&api, &url).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(st["nextExpectedRanges"], json!([]));
    let (s, item) = api
        .req(
            reqwest::Method::PUT,
            "/me/drive/root:/x.bin",
            None,
            Some(
                &json!({"name": "x.bin", "@microsoft.graph.conflictBehavior": "rename",
                         "@microsoft.graph.sourceUrl": url}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{item}");
    assert_eq!(item["name"], "x 1.bin");
    assert_eq!(item["file"]["hashes"]["quickXorHash"], qxh(b"mine"));
    assert_eq!(emu.file_bytes("me", "/x.bin").unwrap(), b"theirs");
    assert_eq!(status(&api, &url).await.0, StatusCode::NOT_FOUND);
}
