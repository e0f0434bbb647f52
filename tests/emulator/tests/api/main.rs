//! Black-box tests of the emulator over HTTP, in-process.

mod drive;
mod identity;
mod share;
mod upload;

use nuage_emulator::{Config, Emulator, Handle};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub const SCOPES: &str = "offline_access Files.ReadWrite User.Read";

pub fn http() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

pub fn start(cfg: Config) -> Handle {
    Emulator::start(cfg).expect("emulator starts")
}

/// Status and JSON body (Null when empty or not JSON).
pub async fn parts(r: reqwest::Response) -> (StatusCode, Value) {
    let s = r.status();
    let b = r.bytes().await.unwrap();
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

pub async fn devicecode(http: &Client, emu: &Handle, scope: &str) -> (StatusCode, Value) {
    let r = http
        .post(format!(
            "{}/common/oauth2/v2.0/devicecode",
            emu.authority_url()
        ))
        .form(&[("client_id", CLIENT), ("scope", scope)])
        .send()
        .await
        .unwrap();
    parts(r).await
}

pub async fn poll(http: &Client, emu: &Handle, device_code: &str) -> (StatusCode, Value) {
    let r = http
        .post(format!("{}/common/oauth2/v2.0/token", emu.authority_url()))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", CLIENT),
            ("device_code", device_code),
        ])
        .send()
        .await
        .unwrap();
    parts(r).await
}

pub async fn token_form(http: &Client, emu: &Handle, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = http
        .post(format!(
            "{}/consumers/oauth2/v2.0/token",
            emu.authority_url()
        ))
        .form(form)
        .send()
        .await
        .unwrap();
    parts(r).await
}

/// The Graph error code of a body.
pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

pub fn inner_code(v: &Value) -> &str {
    v["error"]["innerError"]["code"].as_str().unwrap_or("")
}

/// A signed-in Graph caller.
pub struct Api {
    pub http: Client,
    pub graph: String,
    pub token: String,
}

impl Api {
    pub fn new(emu: &Handle, scopes: &str) -> Api {
        Api {
            http: http(),
            graph: emu.graph_url(),
            token: emu.mint_access_token(scopes),
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.graph)
        }
    }

    pub async fn req(
        &self,
        m: Method,
        path: &str,
        body: Option<Vec<u8>>,
        json: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self
            .http
            .request(m, self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/octet-stream")
                .body(b);
        }
        if let Some(j) = json {
            rb = rb.json(j);
        }
        parts(rb.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.req(Method::GET, path, None, None).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.req(Method::DELETE, path, None, None).await
    }
    pub async fn put(&self, path: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        self.req(Method::PUT, path, Some(bytes), None).await
    }
    pub async fn post(&self, path: &str, json: &Value) -> (StatusCode, Value) {
        self.req(Method::POST, path, None, Some(json)).await
    }

    pub async fn mkdir(&self, parent_path: &str, name: &str) -> Value {
        let url = if parent_path.is_empty() {
            "/me/drive/root/children".to_string()
        } else {
            format!("/me/drive/root:/{parent_path}:/children")
        };
        let (s, v) = self
            .post(&url, &serde_json::json!({"name": name, "folder": {}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    /// PUT of one fragment to an uploadUrl (no Authorization).
    pub async fn fragment(
        &self,
        url: &str,
        start: u64,
        bytes: &[u8],
        total: u64,
    ) -> (StatusCode, Value) {
        let end = start + bytes.len() as u64 - 1;
        let r = self
            .http
            .put(url)
            .header("content-range", format!("bytes {start}-{end}/{total}"))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        parts(r).await
    }
}

/// Deterministic pseudo-random bytes.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand_like(seed);
    (0..n).map(|_| rng()).collect()
}

fn fastrand_like(seed: u64) -> impl FnMut() -> u8 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 24) as u8
    }
}

pub fn qxh(data: &[u8]) -> String {
    let mut h = nuage_graph::QuickXorHash::new();
    h.update(data);
    h.to_base64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_its_address_first() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nuage-emulator"))
        .args(["--share", "/Team/Backups", "--seed", "7"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let base = first
        .strip_prefix("listening on ")
        .expect(&first)
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let share = lines.next_line().await.unwrap().unwrap();
    assert!(share.starts_with("share https://"), "{share}");
    let (s, v) = parts(
        http()
            .get(format!("{base}/_emulator/state"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["shares"].as_array().unwrap().len(), 1);
    let page = http()
        .get(format!("{base}/_emulator/"))
        .send()
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains("Pending device codes"));
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// Without a tokio runtime the emulator runs in a thread of its own, and
/// dropping the handle stops it.
#[test]
fn runs_in_a_thread_without_a_runtime() {
    use std::io::{Read, Write};
    let emu = start(Config::for_tests());
    let addr = emu.addr();
    let raw = |req: String| -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let put = raw(format!(
        "PUT /_emulator/files/me/Seed/a.txt HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    ));
    assert!(put.starts_with("HTTP/1.1 201"), "{put}");
    let get = raw(format!(
        "GET /_emulator/files/me/Seed/a.txt HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    ));
    assert!(
        get.starts_with("HTTP/1.1 200") && get.ends_with("hello"),
        "{get}"
    );
    let body = r#"{"scopes":"Files.ReadWrite"}"#;
    let tok = raw(format!(
        "POST /_emulator/tokens HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    assert!(
        tok.contains("\"access_token\"") && !tok.contains("refresh_token"),
        "{tok}"
    );
    assert_eq!(emu.state()["drives"][0]["files"][0]["path"], "/Seed/a.txt");
    drop(emu);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "stopped on drop"
    );
}
