use nuage_emulator::{Config, encode_share_url};
use reqwest::StatusCode;
use serde_json::json;

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_links_resolve_into_the_owners_business_drive() {
    let emu = start(Config::for_tests());
    let share = emu.register_share("/Team/Backups").unwrap();
    assert_eq!(share.share_id, encode_share_url(&share.url));
    assert!(share.share_id.starts_with("u!") && !share.share_id.contains('='));
    let biz = emu.business_drive_id();
    assert!(biz.starts_with("b!"));

    let api = Api::new(&emu, SCOPES);
    let (s, item) = api
        .get(&format!("/shares/{}/driveItem", share.share_id))
        .await;
    assert_eq!(s, StatusCode::OK, "{item}");
    assert_eq!(item["name"], "Backups");
    assert!(item["folder"].is_object());
    assert_eq!(item["parentReference"]["driveId"], biz);
    assert_eq!(item["parentReference"]["driveType"], "business");
    assert_eq!(item["id"], share.item_id);
    assert!(item["id"].as_str().unwrap().starts_with("01"));

    // Unknown link → 404; malformed → 400.
    let (s, _) = api
        .get(&format!(
            "/shares/{}/driveItem",
            encode_share_url("https://x/y")
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.get("/shares/u!***/driveItem").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Reading the shared folder works; writing needs Files.ReadWrite.All.
    let folder = format!("/drives/{biz}/items/{}", share.item_id);
    assert_eq!(
        api.get(&format!("{folder}/children")).await.0,
        StatusCode::OK
    );
    let (s, v) = api
        .put(&format!("{folder}:/db.json:/content"), b"{}".to_vec())
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(code(&v), "accessDenied");
    let all = Api::new(&emu, "offline_access Files.ReadWrite.All User.Read");
    let (s, v) = all
        .put(&format!("{folder}:/db.json:/content"), b"{}".to_vec())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["parentReference"]["driveId"], biz);
    assert_eq!(
        emu.file_bytes("business", "/Team/Backups/db.json").unwrap(),
        b"{}"
    );
    // Sessions into the shared folder carry a tempauth that must be kept.
    let (s, v) = all
        .post(
            &format!("{folder}:/big.bin:/createUploadSession"),
            &json!({"item": {"name": "big.bin", "@microsoft.graph.conflictBehavior": "replace"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let url = v["uploadUrl"].as_str().unwrap();
    assert!(url.contains("tempauth="));
    let bare = url.split('?').next().unwrap();
    assert_eq!(
        all.fragment(bare, 0, b"abc", 3).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, v) = all.fragment(url, 0, b"abc", 3).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // Drive ids compare case-insensitively (contract §3.9.4).
    let (s, _) = all
        .get(&format!(
            "/drives/{}/items/{}",
            biz.to_lowercase(),
            share.item_id
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    // The rest of the other user's drive stays out of reach.
    let (s, v) = all.get(&format!("/drives/{biz}/root/children")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = all.get(&format!("/drives/{biz}/root:/Team")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Through the control API too.
    let r = api
        .http
        .post(format!("{}/_emulator/shares", emu.base_url()))
        .json(&json!({"path": "/Other", "url": "https://contoso.sharepoint.com/:f:/s/team/Eabc"}))
        .send()
        .await
        .unwrap();
    let (s, v) = parts(r).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = api
        .get(&format!(
            "/shares/{}/driveItem",
            v["share_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
}
