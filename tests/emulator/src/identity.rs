//! Microsoft identity platform v2.0: `POST /{tenant}/oauth2/v2.0/devicecode`
//! and `POST /{tenant}/oauth2/v2.0/token` (contract §1).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::errors::{StsError, json_response};
use crate::state::{AccessToken, DeviceCode, DeviceStatus, Inner, ME, RefreshToken, Shared};
use crate::util::{TOKEN_CHARS, USER_CODE_CHARS, guid_with, is_guid, random_from};

/// Delegated Graph permissions the emulator knows (canonical spelling).
const GRAPH_SCOPES: &[&str] = &[
    "User.Read",
    "User.ReadBasic.All",
    "Files.Read",
    "Files.ReadWrite",
    "Files.Read.All",
    "Files.ReadWrite.All",
    "Files.ReadWrite.AppFolder",
    "Sites.Read.All",
    "Sites.ReadWrite.All",
];
/// What `https://graph.microsoft.com/.default` grants a delegated client
/// (the permissions "consented" for the emulated app registration).
const DEFAULT_CONSENTED: &[&str] = &["User.Read", "Files.ReadWrite"];
/// Roles of app-only (client-credentials) tokens.
const APP_ROLES: &[&str] = &["Files.ReadWrite.All", "Sites.ReadWrite.All"];
const GRAPH_RESOURCE: &str = "https://graph.microsoft.com/";
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

type StsResult<T> = Result<T, StsError>;

/// The parsed `scope` parameter.
#[derive(Debug, Default)]
pub struct Scopes {
    pub graph: Vec<String>,
    pub offline: bool,
    pub openid: bool,
    pub default: bool,
}

pub fn parse_scopes(s: &str) -> StsResult<Scopes> {
    let mut out = Scopes::default();
    for raw in s.split(' ').filter(|t| !t.is_empty()) {
        let short = if raw.len() > GRAPH_RESOURCE.len()
            && raw[..GRAPH_RESOURCE.len()].eq_ignore_ascii_case(GRAPH_RESOURCE)
        {
            &raw[GRAPH_RESOURCE.len()..]
        } else {
            raw
        };
        match short.to_ascii_lowercase().as_str() {
            "offline_access" => out.offline = true,
            "openid" => out.openid = true,
            "profile" | "email" => {}
            ".default" => out.default = true,
            lower => match GRAPH_SCOPES
                .iter()
                .find(|g| g.to_ascii_lowercase() == lower)
            {
                Some(g) => {
                    if !out.graph.iter().any(|x| x == g) {
                        out.graph.push((*g).to_string());
                    }
                }
                None => {
                    return Err(StsError::new(
                        "invalid_scope",
                        Some(70011),
                        format!(
                            "The provided request must include a 'scope' input parameter. \
                             The provided value for the input parameter 'scope' is not valid. \
                             The scope '{raw}' does not exist."
                        ),
                    ));
                }
            },
        }
    }
    if out.default && !out.graph.is_empty() {
        return Err(StsError::new(
            "invalid_scope",
            Some(70011),
            "The provided value for the input parameter 'scope' is not valid. \
             .default scope can't be combined with resource-specific scopes.",
        ));
    }
    if out.default {
        out.graph = DEFAULT_CONSENTED.iter().map(|s| s.to_string()).collect();
    }
    Ok(out)
}

fn parse_form(headers: &HeaderMap, body: &Bytes) -> StsResult<HashMap<String, String>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(StsError::new(
            "invalid_request",
            Some(900144),
            "The request body must be application/x-www-form-urlencoded.",
        ));
    }
    Ok(form_urlencoded::parse(body).into_owned().collect())
}

/// Client credentials may also come as `Authorization: Basic
/// base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1, what the
/// `oauth2` crate sends by default when it has a secret). They are folded
/// into the form; a public client sending a secret this way is refused just
/// like one sending it in the body.
fn with_basic_auth(
    headers: &HeaderMap,
    mut form: HashMap<String, String>,
) -> HashMap<String, String> {
    use base64::engine::general_purpose::STANDARD;
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return form;
    };
    let Some(b64) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return form;
    };
    let Some(text) = STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return form;
    };
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    if let Some((id, secret)) = text.split_once(':') {
        form.entry("client_id".into()).or_insert_with(|| decode(id));
        if !secret.is_empty() {
            form.entry("client_secret".into())
                .or_insert_with(|| decode(secret));
        }
    }
    form
}

fn check_tenant(t: &str) -> StsResult<()> {
    let ok = matches!(
        t.to_ascii_lowercase().as_str(),
        "common" | "consumers" | "organizations"
    ) || is_guid(t)
        || (t.contains('.')
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    if ok {
        Ok(())
    } else {
        Err(StsError::new(
            "invalid_request",
            Some(90002),
            format!("Tenant '{t}' not found. Check to make sure you have the correct tenant ID."),
        ))
    }
}

fn unknown_app(id: &str) -> StsError {
    StsError::new(
        "invalid_client",
        Some(700016),
        format!(
            "Application with identifier '{id}' was not found in the directory. \
             This can happen if the application has not been installed by the administrator."
        ),
    )
}

/// A public client (device code, refresh): known id, and no secret sent.
fn check_public_client(shared: &Shared, form: &HashMap<String, String>) -> StsResult<String> {
    let id = form
        .get("client_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| StsError::missing("client_id"))?;
    let cfg = &shared.config;
    let allowed = if cfg.allowed_client_ids.is_empty() {
        is_guid(id)
    } else {
        cfg.allowed_client_ids
            .iter()
            .any(|a| a.eq_ignore_ascii_case(id))
    };
    if !allowed {
        if cfg
            .confidential_clients
            .iter()
            .any(|(c, _)| c.eq_ignore_ascii_case(id))
        {
            return Err(StsError::new(
                "invalid_client",
                Some(7000218),
                "The request body must contain the following parameter: 'client_assertion' or \
                 'client_secret'.",
            ));
        }
        return Err(unknown_app(id));
    }
    if form.contains_key("client_secret") || form.contains_key("client_assertion") {
        return Err(StsError::new(
            "invalid_client",
            Some(700025),
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        ));
    }
    Ok(id.clone())
}

fn ceil_secs(d: std::time::Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`
pub async fn devicecode(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    match devicecode_inner(&shared, &tenant, &headers, &body) {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

fn devicecode_inner(
    shared: &Shared,
    tenant: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> StsResult<Value> {
    check_tenant(tenant)?;
    let form = parse_form(headers, body)?;
    let client_id = check_public_client(shared, &form)?;
    let scope = form
        .get("scope")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| StsError::missing("scope"))?;
    let scopes = parse_scopes(scope)?;
    let cfg = &shared.config;
    let mut inner = shared.lock();
    let now = inner.now_ms();
    let user_code = random_from(&mut inner.rng, USER_CODE_CHARS, 9);
    let device_code = format!(
        "DAQABIQEAAAD{}",
        random_from(&mut inner.rng, TOKEN_CHARS, 180)
    );
    let verification_uri = cfg
        .verification_uri
        .clone()
        .unwrap_or_else(|| format!("{}/_emulator/devicelogin", shared.base_url));
    inner.device_codes.push(DeviceCode {
        device_code: device_code.clone(),
        user_code: user_code.clone(),
        client_id,
        scopes: scopes.graph,
        granted: Vec::new(),
        offline: scopes.offline,
        openid: scopes.openid,
        created_ms: now,
        expires_ms: now + cfg.device_code_lifetime.as_millis() as i64,
        interval_ms: cfg.device_poll_interval.as_millis() as i64,
        last_poll_ms: None,
        polls: 0,
        status: DeviceStatus::Pending,
    });
    // Forget long-dead codes.
    inner
        .device_codes
        .retain(|c| c.expires_ms + 3_600_000 > now);
    Ok(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": ceil_secs(cfg.device_code_lifetime),
        "interval": ceil_secs(cfg.device_poll_interval),
        "message": format!(
            "To sign in, use a web browser to open the page {verification_uri} and enter the code \
             {user_code} to authenticate."
        ),
    }))
}

/// `POST /{tenant}/oauth2/v2.0/token`
pub async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let result = check_tenant(&tenant)
        .and_then(|_| parse_form(&headers, &body))
        .map(|form| with_basic_auth(&headers, form))
        .and_then(|form| match form.get("grant_type").map(String::as_str) {
            None | Some("") => Err(StsError::missing("grant_type")),
            Some(DEVICE_GRANT) => device_grant(&shared, &form),
            Some("refresh_token") => refresh_grant(&shared, &form),
            Some("client_credentials") => client_credentials(&shared, &form),
            Some(other) => Err(StsError::new(
                "unsupported_grant_type",
                Some(70003),
                format!("The app requested an unsupported grant type '{other}'."),
            )),
        });
    match result {
        Ok(v) => {
            let mut r = json_response(StatusCode::OK, &v);
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store, no-cache"),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

fn device_grant(shared: &Shared, form: &HashMap<String, String>) -> StsResult<Value> {
    let client_id = check_public_client(shared, form)?;
    let code = form
        .get("device_code")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| StsError::missing("device_code"))?;
    let cfg = &shared.config;
    let mut inner = shared.lock();
    let now = inner.now_ms();
    let Some(idx) = inner
        .device_codes
        .iter()
        .position(|c| &c.device_code == code)
    else {
        return Err(StsError::new(
            "bad_verification_code",
            Some(70018),
            "The provided value for the input parameter 'device_code' is not valid.",
        ));
    };
    let dc = &mut inner.device_codes[idx];
    if !dc.client_id.eq_ignore_ascii_case(&client_id) {
        return Err(StsError::new(
            "invalid_grant",
            Some(70000),
            "The device code was issued to a different client.",
        ));
    }
    if dc.status == DeviceStatus::Redeemed {
        return Err(StsError::new(
            "invalid_grant",
            Some(70000),
            "The provided value for the 'device_code' is not valid: it was already redeemed.",
        ));
    }
    if now >= dc.expires_ms {
        return Err(StsError::new(
            "expired_token",
            Some(70020),
            "The provided value for the input parameter 'device_code' is not valid. \
             This device code has expired.",
        ));
    }
    if let Some(last) = dc.last_poll_ms
        && now - last < dc.interval_ms
    {
        // RFC 8628 §3.5: the interval grows by 5 s (configurable) for this
        // and every later request.
        dc.interval_ms += cfg.slow_down_increment.as_millis() as i64;
        dc.last_poll_ms = Some(now);
        return Err(StsError::new(
            "slow_down",
            None,
            "The client is polling too frequently; increase the polling interval.",
        ));
    }
    dc.last_poll_ms = Some(now);
    dc.polls += 1;
    if dc.status == DeviceStatus::Pending
        && cfg.auto_approve_after_polls.is_some_and(|n| dc.polls >= n)
    {
        dc.status = DeviceStatus::Approved;
        dc.granted = dc.scopes.clone();
    }
    match dc.status {
        DeviceStatus::Pending => Err(StsError::new(
            "authorization_pending",
            Some(70016),
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )),
        DeviceStatus::Declined => Err(StsError::new(
            "authorization_declined",
            Some(65004),
            "User declined to consent to access the app.",
        )),
        DeviceStatus::Redeemed => unreachable!("handled above"),
        DeviceStatus::Approved => {
            dc.status = DeviceStatus::Redeemed;
            let granted = dc.granted.clone();
            let (offline, openid) = (dc.offline, dc.openid);
            let v = issue_delegated(
                shared, &mut inner, ME, &client_id, &granted, &granted, offline, openid,
            );
            shared.save(&inner);
            Ok(v)
        }
    }
}

fn refresh_grant(shared: &Shared, form: &HashMap<String, String>) -> StsResult<Value> {
    let client_id = check_public_client(shared, form)?;
    let rt = form
        .get("refresh_token")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| StsError::missing("refresh_token"))?;
    let requested = match form.get("scope").filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(parse_scopes(s)?),
        None => None,
    };
    let mut inner = shared.lock();
    let now = inner.now_ms();
    let Some(record) = inner.refresh_tokens.get(rt).cloned() else {
        return Err(StsError::new(
            "invalid_grant",
            Some(70000),
            "The provided value for the input parameter 'refresh_token' or 'assertion' is not valid.",
        ));
    };
    if !record.client_id.eq_ignore_ascii_case(&client_id) {
        return Err(StsError::new(
            "invalid_grant",
            Some(70000),
            "The refresh token was issued to a different client.",
        ));
    }
    if record.revoked {
        return Err(StsError::new(
            "invalid_grant",
            Some(50173),
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. \
             The user might have changed or reset their password.",
        ));
    }
    if now >= record.expires_ms {
        return Err(StsError::new(
            "invalid_grant",
            Some(700082),
            "The refresh token has expired due to inactivity.",
        ));
    }
    let (granted, openid) = match &requested {
        Some(req) if !req.graph.is_empty() && !req.default => {
            if let Some(extra) = req
                .graph
                .iter()
                .find(|s| !record.scopes.iter().any(|r| r.eq_ignore_ascii_case(s)))
            {
                return Err(StsError::new(
                    "invalid_grant",
                    Some(65001),
                    format!(
                        "The user or administrator has not consented to use the application \
                         with the scope '{extra}'. Send an interactive authorization request."
                    ),
                ));
            }
            (req.graph.clone(), record.openid && req.openid)
        }
        Some(req) => (record.scopes.clone(), record.openid && req.openid),
        None => (record.scopes.clone(), record.openid),
    };
    let v = issue_delegated(
        shared,
        &mut inner,
        record.user,
        &client_id,
        &granted,
        &record.scopes,
        true,
        openid,
    );
    shared.save(&inner);
    Ok(v)
}

fn client_credentials(shared: &Shared, form: &HashMap<String, String>) -> StsResult<Value> {
    let id = form
        .get("client_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| StsError::missing("client_id"))?;
    let Some((_, secret)) = shared
        .config
        .confidential_clients
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(id))
    else {
        return Err(unknown_app(id));
    };
    let Some(sent) = form.get("client_secret").filter(|s| !s.is_empty()) else {
        return Err(StsError::new(
            "invalid_client",
            Some(7000216),
            "'client_assertion', 'client_secret' or 'request' is required for the \
             'client_credentials' grant type.",
        ));
    };
    if sent != secret {
        return Err(StsError::new(
            "invalid_client",
            Some(7000215),
            "Invalid client secret provided. Ensure the secret being sent in the request is the \
             client secret value, not the client secret ID.",
        ));
    }
    let scope = form
        .get("scope")
        .ok_or_else(|| StsError::missing("scope"))?;
    if !scope
        .trim()
        .eq_ignore_ascii_case("https://graph.microsoft.com/.default")
    {
        return Err(StsError::new(
            "invalid_scope",
            Some(1002012),
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must \
                 have a scope value with /.default suffixed to the resource identifier."
            ),
        ));
    }
    let cfg = &shared.config;
    let mut inner = shared.lock();
    let token = inner.token(cfg.access_token_len, "eyJ0eXAiOiJKV1Qi");
    let expires_ms = inner.now_ms() + cfg.access_token_lifetime.as_millis() as i64;
    inner.access_tokens.insert(
        token.clone(),
        AccessToken {
            user: None,
            scopes: APP_ROLES.iter().map(|s| s.to_string()).collect(),
            client_id: id.clone(),
            expires_ms,
        },
    );
    shared.save(&inner);
    let secs = ceil_secs(cfg.access_token_lifetime);
    Ok(
        json!({"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs,
              "access_token": token}),
    )
}

/// Issues an access token for `granted` and, if `offline`, a refresh token
/// remembering `consented` (so that a later refresh can ask for all of it).
#[allow(clippy::too_many_arguments)]
pub fn issue_delegated(
    shared: &Shared,
    inner: &mut Inner,
    user: usize,
    client_id: &str,
    granted: &[String],
    consented: &[String],
    offline: bool,
    openid: bool,
) -> Value {
    let cfg = &shared.config;
    let now = inner.now_ms();
    let access = inner.token(cfg.access_token_len, "EwB");
    inner.access_tokens.insert(
        access.clone(),
        AccessToken {
            user: Some(user),
            scopes: granted.to_vec(),
            client_id: client_id.into(),
            expires_ms: now + cfg.access_token_lifetime.as_millis() as i64,
        },
    );
    // Drop long-expired access tokens so the index stays small.
    inner
        .access_tokens
        .retain(|_, t| t.expires_ms + 86_400_000 > now);
    let secs = ceil_secs(cfg.access_token_lifetime);
    // Contract §6: the echoed `scope` string is unconfirmed; the emulator
    // echoes the granted Graph scopes, plus the OIDC ones when openid was
    // asked for (never offline_access).
    let mut scope = granted.join(" ");
    if openid {
        if !scope.is_empty() {
            scope.push(' ');
        }
        scope.push_str("profile openid email");
    }
    let mut v = json!({"token_type": "Bearer", "scope": scope, "expires_in": secs,
                       "ext_expires_in": secs, "access_token": access});
    if offline {
        let refresh = inner.token(cfg.refresh_token_len, "M.C5");
        inner.refresh_tokens.insert(
            refresh.clone(),
            RefreshToken {
                user,
                scopes: consented.to_vec(),
                openid,
                client_id: client_id.into(),
                expires_ms: now + cfg.refresh_token_lifetime.as_millis() as i64,
                revoked: false,
            },
        );
        v["refresh_token"] = json!(refresh);
    }
    if openid {
        v["id_token"] = json!(id_token(shared, inner, user, client_id));
    }
    v
}

/// An unsigned-looking JWT with the usual claims (clients must not validate
/// it beyond decoding).
fn id_token(shared: &Shared, inner: &mut Inner, user: usize, client_id: &str) -> String {
    let u = inner.drives[user].owner.clone();
    let now = inner.now_ms() / 1000;
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "emulator"});
    let payload = json!({
        "ver": "2.0",
        "iss": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        "sub": u.id, "aud": client_id, "exp": now + 3600, "iat": now, "nbf": now,
        "name": u.display_name, "preferred_username": u.upn, "email": u.upn,
        "oid": guid_with(&mut inner.rng), "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",
        "iss_emulator": shared.base_url,
    });
    let sig = random_from(&mut inner.rng, TOKEN_CHARS, 86);
    format!(
        "{}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    )
}

/// Approves (or declines) a pending device code by its user code. `grant`
/// optionally restricts the granted scopes (the user consented to fewer).
pub fn decide(
    inner: &mut Inner,
    user_code: &str,
    approve: bool,
    grant: Option<Vec<String>>,
) -> Result<(), String> {
    let code = user_code.trim().replace('-', "");
    let now = inner.now_ms();
    let Some(dc) = inner.device_codes.iter_mut().find(|c| {
        c.user_code.eq_ignore_ascii_case(&code)
            && c.status == DeviceStatus::Pending
            && c.expires_ms > now
    }) else {
        return Err(format!(
            "no pending device code with user code {user_code:?}"
        ));
    };
    if approve {
        dc.status = DeviceStatus::Approved;
        dc.granted = match grant {
            Some(g) => {
                let parsed = parse_scopes(&g.join(" ")).map_err(|e| e.description)?;
                parsed.graph
            }
            None => dc.scopes.clone(),
        };
    } else {
        dc.status = DeviceStatus::Declined;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let s =
            parse_scopes("offline_access https://graph.microsoft.com/files.readwrite User.Read")
                .unwrap();
        assert_eq!(s.graph, vec!["Files.ReadWrite", "User.Read"]);
        assert!(s.offline && !s.openid);
        assert!(parse_scopes("Mail.Read").is_err());
        assert!(parse_scopes("https://graph.microsoft.com/.default Files.Read").is_err());
        assert_eq!(
            parse_scopes("https://graph.microsoft.com/.default")
                .unwrap()
                .graph,
            DEFAULT_CONSENTED
        );
    }
}
