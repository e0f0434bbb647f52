//! `nuage-emulator`: runs the identity + Graph emulator until Ctrl-C/SIGTERM.
//! The first line on stdout is `listening on http://127.0.0.1:PORT`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use nuage_emulator::{Config, Emulator, FaultSpec};

#[derive(Parser, Debug)]
#[command(
    name = "nuage-emulator",
    version,
    about = "Strict Microsoft identity + Graph drive emulator for Nuage's tests and demo (127.0.0.1 only)"
)]
struct Args {
    /// Port on 127.0.0.1 (0: ephemeral).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Persist drives, tokens and sharing links in this folder.
    #[arg(long = "data", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Allowed public client id (repeatable). None: any GUID is accepted.
    #[arg(long = "client-id", value_name = "ID")]
    client_ids: Vec<String>,
    /// Confidential client for the client-credentials grant (repeatable).
    #[arg(long = "client-secret", value_name = "ID=SECRET")]
    client_secrets: Vec<String>,
    /// Access-token lifetime in milliseconds.
    #[arg(long, value_name = "MS")]
    access_token_lifetime_ms: Option<u64>,
    /// Refresh-token (inactivity) lifetime in milliseconds.
    #[arg(long, value_name = "MS")]
    refresh_token_lifetime_ms: Option<u64>,
    /// Device-code lifetime in milliseconds.
    #[arg(long, value_name = "MS")]
    device_code_lifetime_ms: Option<u64>,
    /// Minimum polling interval of the device flow in milliseconds.
    #[arg(long, value_name = "MS")]
    poll_interval_ms: Option<u64>,
    /// Interval increase after a slow_down, in milliseconds.
    #[arg(long, value_name = "MS")]
    slow_down_increment_ms: Option<u64>,
    /// Approve device codes automatically at their N-th poll.
    #[arg(long, value_name = "N")]
    auto_approve_after: Option<u32>,
    /// verification_uri to return (default: the emulator's own page).
    #[arg(long, value_name = "URL")]
    verification_uri: Option<String>,
    /// Upload-session lifetime (extended by each fragment), milliseconds.
    #[arg(long, value_name = "MS")]
    upload_session_lifetime_ms: Option<u64>,
    /// Download-URL lifetime in milliseconds.
    #[arg(long, value_name = "MS")]
    download_url_lifetime_ms: Option<u64>,
    /// Quota of the personal drive in bytes.
    #[arg(long, value_name = "BYTES")]
    quota: Option<u64>,
    /// Quota of the other user's business drive in bytes.
    #[arg(long, value_name = "BYTES")]
    business_quota: Option<u64>,
    /// Largest simple-upload body in bytes (default 4 MiB).
    #[arg(long, value_name = "BYTES")]
    simple_upload_limit: Option<u64>,
    /// Path-addressed uploads create missing parent folders.
    #[arg(long)]
    auto_create_parents: bool,
    /// Answer 401 when a download URL receives an Authorization header.
    #[arg(long)]
    reject_auth_on_download: bool,
    /// JSON file with a list of faults to arm at start-up.
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Register a sharing link to this folder of the business drive (repeatable);
    /// its URL is printed on stdout after the first line.
    #[arg(long = "share", value_name = "PATH")]
    shares: Vec<String>,
    /// Seed for ids, codes and tokens.
    #[arg(long)]
    seed: Option<u64>,
}

fn ms(v: Option<u64>, d: &mut Duration) {
    if let Some(v) = v {
        *d = Duration::from_millis(v);
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let a = Args::parse();
    let mut c = Config {
        port: a.port,
        data_dir: a.data,
        allowed_client_ids: a.client_ids,
        auto_approve_after_polls: a.auto_approve_after,
        verification_uri: a.verification_uri,
        auto_create_parents: a.auto_create_parents,
        reject_auth_on_download: a.reject_auth_on_download,
        seed: a.seed,
        ..Config::default()
    };
    for s in a.client_secrets {
        let (id, secret) = s
            .split_once('=')
            .context("--client-secret expects ID=SECRET")?;
        c.confidential_clients.push((id.into(), secret.into()));
    }
    ms(a.access_token_lifetime_ms, &mut c.access_token_lifetime);
    ms(a.refresh_token_lifetime_ms, &mut c.refresh_token_lifetime);
    ms(a.device_code_lifetime_ms, &mut c.device_code_lifetime);
    ms(a.poll_interval_ms, &mut c.device_poll_interval);
    ms(a.slow_down_increment_ms, &mut c.slow_down_increment);
    ms(a.upload_session_lifetime_ms, &mut c.upload_session_lifetime);
    ms(a.download_url_lifetime_ms, &mut c.download_url_lifetime);
    if let Some(q) = a.quota {
        c.personal_quota_total = q;
    }
    if let Some(q) = a.business_quota {
        c.business_quota_total = q;
    }
    if let Some(l) = a.simple_upload_limit {
        c.simple_upload_limit = l;
    }
    if let Some(f) = a.faults {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        c.faults = serde_json::from_str::<Vec<FaultSpec>>(&text)
            .with_context(|| format!("parsing the fault list {}", f.display()))?;
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let handle = Emulator::start_on(rt.handle(), c)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", handle.base_url())?;
    for path in &a.shares {
        let info = handle
            .register_share(path)
            .map_err(|e| anyhow::anyhow!("--share {path}: {e}"))?;
        writeln!(out, "share {} {}", info.url, path)?;
    }
    out.flush()?;
    drop(out);
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })?;
    drop(handle);
    Ok(())
}
