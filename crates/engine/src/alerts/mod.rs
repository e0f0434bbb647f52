//! Alerts: when something needs a person, a message by email (SMTP) or to
//! a webhook (JSON, Microsoft Teams, Slack) — one per problem and one per
//! recovery, never one per retry.
//!
//! The problems are the state model's ([`crate::status::attention`]), so
//! an alert says what the tray and `nuage status` say. Each check compares
//! them with the problems already told of (the `alert_problems` table):
//! a new one queues a message, one gone queues its recovery, both in the
//! transaction that records the change; messages wait in the outbox until
//! a server accepts them (retried with growing pauses: never lost, and
//! marked sent as soon as accepted). With `on = always`, a daily digest of
//! the sources' state is added.
//!
//! Secrets — the SMTP password, the webhook URL (it carries its token) —
//! are kept in the keychain only; the settings hold the rest.

mod send;
pub mod text;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use nuage_graph::tokens::{Kind, key_for_home};

use crate::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::secret::Slot;
use crate::status::{AppState, Problem, StatusReport, action_for};
use crate::store::alerts::{OpenProblem, Outgoing, Queued};
pub use text::Lang;
use text::{Phrase, phrase};

const SETTINGS_KEY: &str = "alerts";
const EMAIL: &str = "email";
const WEBHOOK: &str = "webhook";
/// Messages sent in one pass at most (the rest wait for the next).
const PER_PASS: usize = 20;

/// When a channel is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum AlertOn {
    /// Problems and their recoveries.
    #[default]
    Failure,
    /// The same, plus a daily digest of the sources' state.
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Nuage's own document: event, source, state, problem, action, time, host.
    #[default]
    Json,
    /// A Microsoft Teams message (an Adaptive Card).
    Teams,
    /// A Slack incoming-webhook message.
    Slack,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct EmailAlerts {
    /// `smtp://HOST[:PORT]` or `smtps://HOST[:PORT]`.
    pub server: String,
    /// On `smtp://`: upgrade to TLS with STARTTLS (refused when the server
    /// does not offer it).
    #[serde(default)]
    pub starttls: bool,
    pub from: String,
    pub to: Vec<String>,
    /// The SMTP user; its password is in the keychain.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub on: AlertOn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct WebhookAlerts {
    #[serde(default)]
    pub format: WebhookFormat,
    #[serde(default)]
    pub on: AlertOn,
    /// Where it points without its path and query (which carry its token):
    /// `https://hooks.slack.com/…`. The URL itself is in the keychain.
    pub shown: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
pub struct AlertSettings {
    #[serde(default)]
    pub email: Option<EmailAlerts>,
    #[serde(default)]
    pub webhook: Option<WebhookAlerts>,
    #[serde(default)]
    pub lang: Lang,
}

/// A problem the alerts told a person of, still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct AlertProblem {
    pub source: Option<String>,
    pub code: String,
    pub message: String,
    pub since: String,
}

/// The alerts as they stand: settings, open problems, the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct AlertsView {
    pub settings: AlertSettings,
    pub problems: Vec<AlertProblem>,
    /// Messages waiting to be sent (the server could not be reached yet).
    pub queued: u64,
    /// Why the oldest waiting message is not sent yet.
    pub last_error: Option<String>,
    pub email_last_sent: Option<String>,
    pub webhook_last_sent: Option<String>,
}

/// The result of a test message on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct AlertTest {
    pub channel: String,
    pub sent: bool,
    pub error: Option<String>,
}

pub(crate) fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// A webhook URL as it may be shown: scheme and host, never its path or
/// query (where services put the token).
pub(crate) fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}/…",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "the webhook".into(),
    }
}

fn now_string(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One problem per source and kind; problems of the whole setup (sign-in,
/// keychain, a full or unreachable destination) once for all sources.
fn key_of(p: &Problem) -> String {
    let setup_wide = matches!(
        p.code,
        ErrorCode::SignInRequired
            | ErrorCode::SignInExpired
            | ErrorCode::SignInDeclined
            | ErrorCode::KeychainUnavailable
            | ErrorCode::DestinationFull
            | ErrorCode::DestinationUnavailable
            | ErrorCode::ClockChanged
    );
    match (&p.source, setup_wide) {
        (Some(s), false) => {
            let class = match p.code {
                ErrorCode::Stale => "stale",
                ErrorCode::DrillFailed => "drill",
                ErrorCode::Unproven => "unproven",
                _ => "backup",
            };
            format!("{class}:{s}")
        }
        _ => p.code.as_str().to_string(),
    }
}

/// The channels' secrets in the keychain.
fn slot<'a>(engine: &'a Engine, channel: &str) -> Slot<'a> {
    Slot {
        home: engine.home(),
        settings: &engine.config.graph,
        kind: Kind::AlertSecret,
        key: format!("{}.{channel}", key_for_home(engine.home())),
        what: if channel == EMAIL {
            "the mail password"
        } else {
            "the webhook address"
        },
    }
}

/// A composed message, before it is queued on each channel.
struct Composed {
    kind: &'static str,
    subject: String,
    body: String,
    /// The event as JSON text (what a JSON webhook receives).
    payload: String,
}

impl Engine {
    pub fn alert_settings(&self) -> Result<AlertSettings> {
        match self.store.setting(SETTINGS_KEY)? {
            None => Ok(AlertSettings::default()),
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                Error::Invalid(format!(
                    "the stored alert settings are unreadable ({e}); set the alerts again."
                ))
            }),
        }
    }

    fn save_alert_settings(&self, s: &AlertSettings) -> Result<()> {
        let json = serde_json::to_string(s).expect("serializable");
        self.store.set_setting(SETTINGS_KEY, Some(&json))
    }

    /// Sets the email alerts (replacing earlier ones). `password` goes to
    /// the keychain; with a user and no password, the one kept is used.
    pub fn set_email_alerts(
        &self,
        cfg: EmailAlerts,
        password: Option<&str>,
        lang: Option<Lang>,
    ) -> Result<()> {
        send::Server::parse(&cfg.server)?;
        send::mailbox(&cfg.from)?;
        if cfg.to.is_empty() {
            return Err(Error::Invalid(
                "no recipient: give at least one address to send alerts to.".into(),
            ));
        }
        for to in &cfg.to {
            send::mailbox(to)?;
        }
        if cfg.starttls && cfg.server.trim_start().starts_with("smtps:") {
            return Err(Error::Invalid(
                "smtps:// is TLS from the start; STARTTLS is for smtp:// servers. Choose one."
                    .into(),
            ));
        }
        let secret = slot(self, EMAIL);
        match (&cfg.user, password) {
            (Some(_), Some(p)) => secret.write(p)?,
            (Some(user), None) if secret.read()?.is_none() => {
                return Err(Error::Invalid(format!(
                    "no password is kept for the mail user {user}: give it (it is kept in the keychain)."
                )));
            }
            (None, Some(_)) => {
                return Err(Error::Invalid(
                    "a password without a user: give the mail user too.".into(),
                ));
            }
            (None, None) => secret.remove()?,
            (Some(_), None) => {}
        }
        let mut settings = self.alert_settings()?;
        let always = cfg.on == AlertOn::Always;
        settings.email = Some(cfg);
        if let Some(lang) = lang {
            settings.lang = lang;
        }
        self.save_alert_settings(&settings)?;
        // The first digest comes a day from now, not at once.
        self.reset_digest(EMAIL, always)
    }

    /// Sets the webhook alerts; its URL goes to the keychain.
    pub fn set_webhook_alerts(
        &self,
        url: &str,
        format: WebhookFormat,
        on: AlertOn,
        lang: Option<Lang>,
    ) -> Result<()> {
        let url = url.trim();
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::Invalid(format!(
                "that is not a web address ({e}). Paste the whole webhook URL, starting with https://."
            ))
        })?;
        if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
            return Err(Error::Invalid(
                "a webhook address starts with https:// (or http:// on a local network).".into(),
            ));
        }
        slot(self, WEBHOOK).write(url)?;
        let mut settings = self.alert_settings()?;
        settings.webhook = Some(WebhookAlerts {
            format,
            on,
            shown: shown_url(url),
        });
        if let Some(lang) = lang {
            settings.lang = lang;
        }
        self.save_alert_settings(&settings)?;
        self.reset_digest(WEBHOOK, on == AlertOn::Always)
    }

    fn reset_digest(&self, channel: &str, always: bool) -> Result<()> {
        let key = format!("alerts.digest.{channel}");
        let now = now_string(Utc::now());
        self.store.set_setting(&key, always.then_some(now.as_str()))
    }

    /// Removes the alerts of `channel` (`email`, `webhook`), or all: their
    /// settings, secrets and unsent messages.
    pub fn remove_alerts(&self, channel: Option<&str>) -> Result<()> {
        let channels: Vec<&str> = match channel {
            None => vec![EMAIL, WEBHOOK],
            Some(c @ (EMAIL | WEBHOOK)) => vec![c],
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "no alert channel '{other}': the channels are email and webhook."
                )));
            }
        };
        let mut settings = self.alert_settings()?;
        for c in channels {
            if c == EMAIL {
                settings.email = None;
            } else {
                settings.webhook = None;
            }
            slot(self, c).remove()?;
            self.store.drop_alerts(c)?;
            self.reset_digest(c, false)?;
        }
        self.save_alert_settings(&settings)
    }

    /// The alerts as they stand.
    pub fn alerts_view(&self) -> Result<AlertsView> {
        let unsent = self.store.unsent_alerts(None)?;
        Ok(AlertsView {
            settings: self.alert_settings()?,
            problems: self
                .store
                .open_problems()?
                .into_iter()
                .map(|p| AlertProblem {
                    source: p.source,
                    code: p.code,
                    message: p.message,
                    since: p.since,
                })
                .collect(),
            queued: unsent.len() as u64,
            last_error: unsent.iter().find_map(|m| m.last_error.clone()),
            email_last_sent: self.store.last_alert_sent(EMAIL)?,
            webhook_last_sent: self.store.last_alert_sent(WEBHOOK)?,
        })
    }

    /// Sends a test message on every channel now (not queued), and says
    /// for each whether it was accepted and, if not, exactly why.
    pub fn test_alerts(&self) -> Result<Vec<AlertTest>> {
        let settings = self.alert_settings()?;
        if settings.email.is_none() && settings.webhook.is_none() {
            return Err(Error::Invalid(
                "no alerts are set: set an email or a webhook first.".into(),
            ));
        }
        let lang = settings.lang;
        let now = Utc::now();
        let subject = format!(
            "Nuage — {}: {}",
            host_name(),
            phrase(lang, Phrase::TestSubject)
        );
        let body = format!(
            "{}\n\n{}: {}\n{}: {}",
            phrase(lang, Phrase::TestBody),
            phrase(lang, Phrase::Computer),
            host_name(),
            phrase(lang, Phrase::Time),
            now_string(now)
        );
        let composed = Composed {
            kind: "test",
            payload: payload(
                lang,
                "test",
                None,
                AppState::UpToDate,
                None,
                &subject,
                &body,
                now,
            ),
            subject,
            body,
        };
        let mut results = Vec::new();
        for channel in [EMAIL, WEBHOOK] {
            let configured = if channel == EMAIL {
                settings.email.is_some()
            } else {
                settings.webhook.is_some()
            };
            if !configured {
                continue;
            }
            let id = format!("test-{}", fastrand::u64(..));
            let payload = serde_json::from_str(&composed.payload).unwrap_or_default();
            let r = self.deliver_one(
                &settings,
                channel,
                &composed.subject,
                &composed.body,
                &payload,
                &id,
            );
            results.push(AlertTest {
                channel: channel.to_string(),
                sent: r.is_ok(),
                error: r.err().map(|e| e.to_string()),
            });
        }
        Ok(results)
    }

    /// Compares the problems that need a person now with those already
    /// told of, queues a message for each new one and each recovery (and
    /// the daily digest where asked), then sends what is due.
    pub fn check_alerts(&self) -> Result<()> {
        self.check_alerts_at(Utc::now())
    }

    pub(crate) fn check_alerts_at(&self, now: DateTime<Utc>) -> Result<()> {
        let settings = self.alert_settings()?;
        let channels = channels(&settings);
        if channels.is_empty() {
            return Ok(());
        }
        let ctx = self.ctx();
        self.track_problems(&ctx.status()?, &ctx.context(None)?, now)
    }

    /// [`Engine::check_alerts`] from a status report and a context already
    /// read (the service computes them once for the overview and the
    /// alerts).
    pub(crate) fn track_problems(
        &self,
        status: &StatusReport,
        context: &crate::status::Context,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let settings = self.alert_settings()?;
        let channels = channels(&settings);
        if channels.is_empty() {
            return Ok(());
        }
        let mut current: Vec<(String, Problem)> = Vec::new();
        for (_, _, p) in crate::status::attention(status, context) {
            let key = key_of(&p);
            if !current.iter().any(|(k, _)| *k == key) {
                current.push((key, p));
            }
        }
        let open = self.store.open_problems()?;
        let stamp = now_string(now);
        let lang = settings.lang;
        let mut opened = Vec::new();
        let mut composed = Vec::new();
        for (key, p) in &current {
            if open.iter().any(|o| o.key == *key) {
                continue;
            }
            opened.push(OpenProblem {
                key: key.clone(),
                code: p.code.as_str().to_string(),
                source: p.source.clone(),
                message: p.message.clone(),
                since: stamp.clone(),
            });
            composed.push(problem_message(lang, p, status, now));
        }
        let mut closed = Vec::new();
        for o in &open {
            if current.iter().any(|(k, _)| *k == o.key) {
                continue;
            }
            closed.push(o.key.clone());
            composed.push(recovery_message(lang, o, status, now));
        }
        if !composed.is_empty() {
            let queued: Vec<Queued<'_>> = queue_on(&channels, &composed);
            self.store
                .record_problems(&opened, &closed, &queued, &stamp)?;
        }
        // The daily digest, where asked.
        for (channel, on) in &channels {
            if *on != AlertOn::Always {
                continue;
            }
            let key = format!("alerts.digest.{channel}");
            let due = match self.store.setting(&key)? {
                Some(last) => crate::status::parse_time(&last)
                    .is_none_or(|t| now - t >= chrono::Duration::hours(24)),
                None => true,
            };
            if due {
                let digest = digest_message(lang, status, now);
                let queued = queue_on(&[(*channel, *on)], std::slice::from_ref(&digest));
                self.store
                    .queue_alerts(&queued, &stamp, Some((&key, &stamp)))?;
            }
        }
        self.deliver_alerts_at(now)
    }

    /// Sends the messages that are due; one a server refused waits,
    /// longer each time (30 s, 1 min, 2 min … up to an hour).
    pub fn deliver_alerts(&self) -> Result<()> {
        self.deliver_alerts_at(Utc::now())
    }

    fn deliver_alerts_at(&self, now: DateTime<Utc>) -> Result<()> {
        let settings = self.alert_settings()?;
        let stamp = now_string(now);
        let mut failed_channels: Vec<String> = Vec::new();
        for m in self
            .store
            .unsent_alerts(Some(&stamp))?
            .into_iter()
            .take(PER_PASS)
        {
            // One failure per channel and pass: a server that is down is
            // not asked again for each waiting message.
            if failed_channels.contains(&m.channel) {
                continue;
            }
            let payload: serde_json::Value =
                serde_json::from_str(&m.payload).unwrap_or(serde_json::Value::Null);
            match self.deliver_one(
                &settings,
                &m.channel,
                &m.subject,
                &m.body,
                &payload,
                &outbox_id(&m),
            ) {
                Ok(()) => self.store.alert_sent(m.id, &now_string(Utc::now()))?,
                Err(e) => {
                    let first = self.config.alert_retry.as_millis() as i64;
                    let pause = (first << m.attempts.min(7)).min(3_600_000);
                    let next = now + chrono::Duration::milliseconds(pause);
                    tracing::warn!(channel = %m.channel, "an alert was not sent: {e}");
                    self.store
                        .alert_failed(m.id, &e.to_string(), &now_string(next))?;
                    failed_channels.push(m.channel.clone());
                }
            }
        }
        self.store
            .forget_sent_alerts(&now_string(now - chrono::Duration::days(30)))
    }

    fn deliver_one(
        &self,
        settings: &AlertSettings,
        channel: &str,
        subject: &str,
        body: &str,
        payload: &serde_json::Value,
        id: &str,
    ) -> Result<()> {
        match channel {
            EMAIL => {
                let cfg = settings
                    .email
                    .as_ref()
                    .ok_or_else(|| Error::Alert("email alerts are not set any more.".into()))?;
                let password = match &cfg.user {
                    Some(_) => slot(self, EMAIL).read()?,
                    None => None,
                };
                send::email(
                    self.config.alert_timeout,
                    cfg,
                    password.as_deref(),
                    subject,
                    body,
                    id,
                )
            }
            _ => {
                let cfg = settings
                    .webhook
                    .as_ref()
                    .ok_or_else(|| Error::Alert("webhook alerts are not set any more.".into()))?;
                let url = slot(self, WEBHOOK).read()?.ok_or_else(|| {
                    Error::Alert(
                        "the webhook address is no longer in the keychain; set the webhook again."
                            .into(),
                    )
                })?;
                send::webhook(
                    self.config.alert_timeout,
                    &url,
                    &send::webhook_body(cfg.format, subject, body, payload),
                )
            }
        }
    }
}

/// The stable id of a queued message (its Message-ID).
fn outbox_id(m: &Outgoing) -> String {
    format!("{}-{}", m.id, m.created_at.replace([':', '-'], ""))
}

fn channels(settings: &AlertSettings) -> Vec<(&'static str, AlertOn)> {
    let mut c = Vec::new();
    if let Some(e) = &settings.email {
        c.push((EMAIL, e.on));
    }
    if let Some(w) = &settings.webhook {
        c.push((WEBHOOK, w.on));
    }
    c
}

/// Each message on each channel.
fn queue_on<'a>(channels: &[(&'static str, AlertOn)], messages: &'a [Composed]) -> Vec<Queued<'a>> {
    let mut q = Vec::new();
    for (channel, _) in channels {
        for m in messages {
            q.push((
                *channel,
                m.kind,
                m.subject.as_str(),
                m.body.as_str(),
                m.payload.as_str(),
            ));
        }
    }
    q
}

#[allow(clippy::too_many_arguments)]
fn payload(
    lang: Lang,
    event: &str,
    source: Option<&str>,
    state: AppState,
    problem: Option<&Problem>,
    subject: &str,
    text: &str,
    now: DateTime<Utc>,
) -> String {
    json!({
        "event": event,
        "source": source,
        "state": state.as_str(),
        "problem": problem.map(|p| json!({ "code": p.code.as_str(), "message": p.message })),
        "action": problem.map(|p| json!({ "code": action_for(p.code), "text": text::action(lang, p.action) })),
        "time": now_string(now),
        "host": host_name(),
        "subject": subject,
        "text": text,
    })
    .to_string()
}

/// For a source: "Last verified backup: 2026-12-06T10:00:00Z, 12.3 MB,
/// 3 tables, 1204 rows, kept at OneDrive …" and "Last run:
/// 2026-12-06T10:00:00Z, took 4 s".
fn last_good(lang: Lang, status: &StatusReport, source: Option<&str>) -> String {
    let s = source.and_then(|n| status.sources.iter().find(|s| s.name == n));
    let what = match s.zip(s.and_then(|s| s.last_verified.as_ref())) {
        Some((s, p)) => {
            let held = if s.kind == crate::source::SourceKind::Folder {
                format!("{} {}", p.tables, phrase(lang, Phrase::Files))
            } else {
                format!(
                    "{} {}, {} {}",
                    p.tables,
                    phrase(lang, Phrase::Tables),
                    p.rows,
                    phrase(lang, Phrase::Rows)
                )
            };
            format!(
                "{}, {}, {held}, {} {}",
                p.created_at,
                crate::human_bytes(p.size_bytes),
                phrase(lang, Phrase::KeptAt),
                status
                    .destination
                    .as_deref()
                    .unwrap_or(phrase(lang, Phrase::ThisComputer))
            )
        }
        None => phrase(lang, Phrase::Never).to_string(),
    };
    let mut text = format!("{}: {what}", phrase(lang, Phrase::LastGood));
    if let Some(r) = source.and_then(|n| status.last_runs.iter().find(|r| r.source == n)) {
        text.push_str(&format!(
            "\n{}: {}",
            phrase(lang, Phrase::LastRun),
            r.started_at
        ));
        if let (Some(a), Some(b)) = (
            crate::status::parse_time(&r.started_at),
            crate::status::parse_time(&r.finished_at),
        ) {
            text.push_str(&format!(
                ", {} {}",
                phrase(lang, Phrase::Took),
                duration((b - a).num_seconds().max(0) as u64)
            ));
        }
    }
    text
}

/// "4 s", "2 min 5 s", "1 h 3 min".
fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

fn footer(lang: Lang, now: DateTime<Utc>) -> String {
    format!(
        "{}: {}\n{}: {}",
        phrase(lang, Phrase::Computer),
        host_name(),
        phrase(lang, Phrase::Time),
        now_string(now)
    )
}

/// A message about one problem of `source` (or of this computer): its
/// subject, `lines`, then the source's last verified backup and the
/// computer and time.
#[allow(clippy::too_many_arguments)]
fn about_problem(
    lang: Lang,
    kind: &'static str,
    state: AppState,
    code: ErrorCode,
    source: Option<&str>,
    problem: Option<&Problem>,
    lines: String,
    status: &StatusReport,
    now: DateTime<Utc>,
) -> Composed {
    let said = match state {
        AppState::NeedsAttention => Phrase::NeedsAttention,
        _ => Phrase::BackToNormal,
    };
    let subject = format!(
        "Nuage — {}: {} — {}",
        source.map_or_else(host_name, str::to_string),
        phrase(lang, said),
        text::headline(lang, code)
    );
    let mut body = lines;
    if source.is_some() {
        body.push_str(&last_good(lang, status, source));
        body.push('\n');
    }
    body.push_str(&footer(lang, now));
    Composed {
        kind,
        payload: payload(lang, kind, source, state, problem, &subject, &body, now),
        subject,
        body,
    }
}

/// " (shop)" after a headline about a source.
fn of_source(source: Option<&str>) -> String {
    source.map(|s| format!(" ({s})")).unwrap_or_default()
}

fn problem_message(lang: Lang, p: &Problem, status: &StatusReport, now: DateTime<Utc>) -> Composed {
    let lines = format!(
        "{}: {}{}.\n{}: {}\n{}: {}\n",
        phrase(lang, Phrase::WhatHappened),
        text::headline(lang, p.code),
        of_source(p.source.as_deref()),
        phrase(lang, Phrase::WhatToDo),
        text::action(lang, p.action),
        phrase(lang, Phrase::Details),
        p.message,
    );
    about_problem(
        lang,
        "problem",
        AppState::NeedsAttention,
        p.code,
        p.source.as_deref(),
        Some(p),
        lines,
        status,
        now,
    )
}

fn recovery_message(
    lang: Lang,
    o: &OpenProblem,
    status: &StatusReport,
    now: DateTime<Utc>,
) -> Composed {
    let code = ErrorCode::parse(&o.code);
    let lines = format!(
        "{}\n{}{}\n{}: {}\n",
        phrase(lang, Phrase::Solved),
        text::headline(lang, code),
        of_source(o.source.as_deref()),
        phrase(lang, Phrase::Since),
        o.since,
    );
    about_problem(
        lang,
        "recovery",
        AppState::UpToDate,
        code,
        o.source.as_deref(),
        None,
        lines,
        status,
        now,
    )
}

fn digest_message(lang: Lang, status: &StatusReport, now: DateTime<Utc>) -> Composed {
    let subject = format!(
        "Nuage — {}: {}",
        host_name(),
        phrase(lang, Phrase::DailyReport)
    );
    let mut body = String::new();
    for s in &status.sources {
        body.push_str(&format!(
            "- {}: {} ({} restore points)\n",
            s.name,
            last_good(lang, status, Some(&s.name)),
            s.restore_points
        ));
    }
    body.push_str(&footer(lang, now));
    Composed {
        kind: "digest",
        payload: payload(
            lang,
            "digest",
            None,
            AppState::UpToDate,
            None,
            &subject,
            &body,
            now,
        ),
        subject,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(4), "4 s");
        assert_eq!(duration(125), "2 min 5 s");
        assert_eq!(duration(3780), "1 h 3 min");
    }

    #[test]
    fn shown_urls_never_carry_the_token() {
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            shown_url("http://127.0.0.1:8080/hook?token=SECRET"),
            "http://127.0.0.1:8080/…"
        );
        assert!(!shown_url("not a url SECRET").contains("SECRET"));
    }
}
