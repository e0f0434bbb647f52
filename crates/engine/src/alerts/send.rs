//! Delivery: email over SMTP (lettre) and webhooks (reqwest). Each error
//! says what failed and what to do; none carries a secret (the webhook's
//! URL is stripped from HTTP errors, the password is never formatted).

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use serde_json::{Value, json};

use super::{EmailAlerts, WebhookFormat};
use crate::error::{Error, Result};

/// Where an `smtp://` or `smtps://` address points, and how to speak to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Server {
    pub host: String,
    pub port: u16,
    /// `smtps://`: TLS from the first byte.
    pub implicit_tls: bool,
}

impl Server {
    pub fn parse(address: &str) -> Result<Server> {
        // The address is never repeated in an error: one pasted with a
        // password in it would print the password.
        let bad = |why: &str| {
            Error::Invalid(format!(
                "that is not a mail server address ({why}). Give smtp://HOST[:PORT] or smtps://HOST[:PORT]."
            ))
        };
        let url = url::Url::parse(address.trim()).map_err(|e| bad(&e.to_string()))?;
        let implicit_tls = match url.scheme() {
            "smtps" => true,
            "smtp" => false,
            _ => return Err(bad("the scheme must be smtp or smtps")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "the user and password are given apart, never in the address",
            ));
        }
        if url.path().len() > 1 || url.query().is_some() {
            return Err(bad("nothing may follow the host and port"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_matches(['[', ']'])
            .to_string();
        let port = url.port().unwrap_or(if implicit_tls { 465 } else { 587 });
        Ok(Server {
            host,
            port,
            implicit_tls,
        })
    }
}

pub(super) fn mailbox(address: &str) -> Result<Mailbox> {
    address.trim().parse().map_err(|e| {
        Error::Invalid(format!(
            "'{}' is not an email address ({e}). Give an address such as office@example.com.",
            address.trim()
        ))
    })
}

/// Sends one email; `id` makes its Message-ID stable (a message sent again
/// after a crash carries the same one, so mail programs see one message).
pub(super) fn email(
    timeout: Duration,
    cfg: &EmailAlerts,
    password: Option<&str>,
    subject: &str,
    body: &str,
    id: &str,
) -> Result<()> {
    let server = Server::parse(&cfg.server)?;
    let mut message = Message::builder()
        .from(mailbox(&cfg.from)?)
        .subject(subject)
        .message_id(Some(format!(
            "<nuage-{id}@{}>",
            super::host_name().replace(
                |c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-',
                "-"
            )
        )))
        .header(ContentType::TEXT_PLAIN);
    for to in &cfg.to {
        message = message.to(mailbox(to)?);
    }
    let message = message.body(body.to_string()).map_err(|e| {
        Error::Invalid(format!("the alert could not be written as an email ({e})."))
    })?;
    let builder = if server.implicit_tls {
        SmtpTransport::relay(&server.host)
    } else if cfg.starttls {
        SmtpTransport::starttls_relay(&server.host)
    } else {
        Ok(SmtpTransport::builder_dangerous(&server.host))
    }
    .map_err(|e| smtp_error(&server, &e))?;
    let mut builder = builder.port(server.port).timeout(Some(timeout));
    if let Some(user) = &cfg.user {
        let Some(password) = password else {
            return Err(Error::Alert(format!(
                "no password is kept for the mail user {user}. Set the email alerts again with the password."
            )));
        };
        builder = builder.credentials(Credentials::new(user.clone(), password.to_string()));
    }
    builder
        .build()
        .send(&message)
        .map(|_| ())
        .map_err(|e| smtp_error(&server, &e))
}

fn smtp_error(server: &Server, e: &lettre::transport::smtp::Error) -> Error {
    let at = format!("{}:{}", server.host, server.port);
    let detail = e.to_string();
    Error::Alert(if e.is_permanent() {
        if detail.contains("535") || detail.contains("534") || detail.contains("530") {
            format!(
                "the mail server {at} refused the sign-in ({detail}). Check the user name and password."
            )
        } else {
            format!(
                "the mail server {at} refused the message ({detail}). Check the sender and recipient addresses, and that the server lets this account send from that sender."
            )
        }
    } else if e.is_transient() {
        format!("the mail server {at} asked to try later ({detail}); Nuage will send it again.")
    } else if e.is_timeout() {
        format!(
            "the mail server {at} did not answer in time; Nuage will try again. Check its name and port."
        )
    } else if e.is_tls() {
        format!(
            "the secure connection to the mail server {at} failed ({detail}). Check whether it expects smtps:// (TLS from the start, usually port 465) or STARTTLS (usually port 587)."
        )
    } else {
        format!(
            "the mail server {at} cannot be reached ({detail}). Check its name and port, and this computer's connection; Nuage will try again."
        )
    })
}

/// What the webhook receives, in its format.
pub(super) fn webhook_body(
    format: WebhookFormat,
    subject: &str,
    body: &str,
    payload: &Value,
) -> Value {
    match format {
        WebhookFormat::Json => payload.clone(),
        // Slack incoming webhooks: `text`, with mrkdwn.
        WebhookFormat::Slack => json!({ "text": format!("*{subject}*\n{body}") }),
        // Microsoft Teams (Workflows "when a webhook request is received",
        // and the older connectors): a message with an Adaptive Card.
        WebhookFormat::Teams => json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        { "type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium", "wrap": true },
                        { "type": "TextBlock", "text": body, "wrap": true }
                    ]
                }
            }]
        }),
    }
}

/// Posts `body` to the webhook at `url` (a secret: never in an error).
pub(super) fn webhook(timeout: Duration, url: &str, body: &Value) -> Result<()> {
    let shown = super::shown_url(url);
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            Error::Alert(format!(
                "the webhook client could not start ({}).",
                e.without_url()
            ))
        })?;
    let response = client.post(url).json(body).send().map_err(|e| {
        let e = e.without_url();
        Error::Alert(if e.is_timeout() {
            format!("the webhook at {shown} did not answer in time; Nuage will try again.")
        } else {
            format!(
                "the webhook at {shown} cannot be reached ({e}). Check the address and this computer's connection; Nuage will try again."
            )
        })
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    // A short excerpt of what it said (it may explain), never the URL.
    let said: String = response
        .text()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    Err(Error::Alert(match status.as_u16() {
        401 | 403 | 404 | 410 => format!(
            "the webhook at {shown} refused the message ({status}{}): it may have been removed or its address changed. Create a new one and set it again.",
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ),
        _ => format!(
            "the webhook at {shown} answered {status}{}; Nuage will try again.",
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_server_addresses_are_checked_and_never_carry_a_password() {
        assert_eq!(
            Server::parse("smtp://mail.example.com").unwrap(),
            Server {
                host: "mail.example.com".into(),
                port: 587,
                implicit_tls: false
            }
        );
        assert_eq!(Server::parse("smtps://mail.example.com").unwrap().port, 465);
        assert_eq!(Server::parse("smtp://127.0.0.1:2525").unwrap().port, 2525);
        for bad in [
            "mail.example.com",
            "http://mail.example.com",
            "smtp://user:secret@mail.example.com",
            "smtp://mail.example.com/path",
            "smtp://",
        ] {
            let e = Server::parse(bad).unwrap_err().to_string();
            assert!(e.contains("smtp://HOST"), "{bad}: {e}");
            assert!(!e.contains("secret"), "a password is never repeated: {e}");
        }
    }
}
