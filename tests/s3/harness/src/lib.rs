//! The strict S3 server of `tests/s3/server.py` for Rust tests: started on
//! a free loopback port with one credential and the buckets asked for,
//! stopped when dropped (its stdin closes with it, so a test that panics
//! leaves nothing running). Faults and the request log through its control
//! API (`/_nuage/…`, see tests/s3/README.md).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub const ACCESS_KEY: &str = "NUAGETESTKEY";
pub const SECRET: &str = "nuage-test-secret-do-not-use";
pub const REGION: &str = "us-east-1";

/// The Python of the S3 server's venv (`NUAGE_S3_VENV`, else
/// `~/.cache/nuage/s3-venv`, as scripts/deps.sh makes it), when installed.
/// Under `make test` (`NUAGE_REQUIRE_SERVERS` set) a missing one fails the
/// test instead of letting it say SKIPPED.
pub fn python() -> Option<PathBuf> {
    let py = std::env::var_os("NUAGE_S3_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/nuage/s3-venv")))
        .map(|venv| venv.join("bin/python"))
        .filter(|py| py.exists());
    // `make test` sets NUAGE_REQUIRE_SERVERS=1 (empty or 0: off).
    let required = std::env::var("NUAGE_REQUIRE_SERVERS").is_ok_and(|v| !v.is_empty() && v != "0");
    if py.is_none() && required {
        panic!(
            "the S3 server's Python is required here and is not installed: run scripts/deps.sh, which makes ~/.cache/nuage/s3-venv (NUAGE_REQUIRE_SERVERS=0 lets the S3 tests say SKIPPED instead)"
        );
    }
    py
}

/// `tests/s3/server.py` of the checkout under test, found from the test's
/// package folder as cargo and nextest give it when tests run. The folder
/// compiled into this crate is where it was built: a target folder shared
/// between checkouts (CI keeps one) would run another checkout's server.
fn script() -> PathBuf {
    let here = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    here.ancestors()
        .map(|d| d.join("tests/s3/server.py"))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no tests/s3/server.py above {}", here.display()))
}

pub struct S3Server {
    child: Child,
    port: u16,
    http: reqwest::blocking::Client,
}

impl S3Server {
    /// Starts the server with bucket `bucket` (and `--lock-bucket` for
    /// those in `locked`); extra `args` as its command line takes them
    /// (`--min-part 1024`). `None` when its venv is not installed (the
    /// caller says SKIPPED).
    pub fn start(buckets: &[&str], locked: &[&str], args: &[&str]) -> Option<S3Server> {
        let py = python()?;
        let script = script();
        let mut cmd = Command::new(py);
        cmd.arg(script)
            .args([
                "--port",
                "0",
                "--access-key",
                ACCESS_KEY,
                "--secret",
                SECRET,
            ])
            .args(["--region", REGION]);
        for b in buckets {
            cmd.args(["--bucket", b]);
        }
        for b in locked {
            cmd.args(["--lock-bucket", b]);
        }
        let mut child = cmd
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tests/s3/server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the S3 server's first line");
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the S3 server did not start: {line:?}"));
        Some(S3Server {
            child,
            port,
            http: reqwest::blocking::Client::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn control(&self, path: &str) -> String {
        format!("{}/_nuage/{path}", self.endpoint())
    }

    /// Arms faults (`{"slowdown": 3}`, `{"cut_part": 1, "cut_after": 1000}`…).
    pub fn faults(&self, faults: serde_json::Value) {
        let r = self
            .http
            .post(self.control("faults"))
            .json(&faults)
            .send()
            .expect("the S3 server's control API");
        assert!(
            r.status().is_success(),
            "faults refused: {}",
            r.text().unwrap_or_default()
        );
    }

    /// The S3 requests seen, oldest first.
    pub fn log(&self) -> Vec<serde_json::Value> {
        self.get("log")
    }

    /// The part numbers of the parts the server accepted, in order.
    pub fn parts_sent(&self) -> Vec<u64> {
        self.log()
            .iter()
            .filter(|l| l["op"] == "UploadPart" && l["status"] == 200)
            .filter_map(|l| l["part_number"].as_u64())
            .collect()
    }

    /// Clears faults and the log.
    pub fn reset(&self) {
        self.http.post(self.control("reset")).send().expect("reset");
    }

    /// Multipart uploads in progress.
    pub fn uploads(&self) -> Vec<serde_json::Value> {
        self.get("uploads")
    }

    /// Stored objects (bucket, key, size, etag, lock).
    pub fn objects(&self) -> Vec<serde_json::Value> {
        self.get("objects")
    }

    fn get(&self, what: &str) -> Vec<serde_json::Value> {
        let v: serde_json::Value = self
            .http
            .get(self.control(what))
            .send()
            .and_then(|r| r.json())
            .expect("the S3 server's control API");
        match v {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Object(mut o) => o
                .remove(what)
                .and_then(|x| x.as_array().cloned())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
