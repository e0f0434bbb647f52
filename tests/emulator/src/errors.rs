//! The two error body shapes: Graph's (contract §2.1) and the identity
//! platform's STS body (contract §1.2).

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::util::{guid, sts_timestamp};

/// The `WWW-Authenticate` header Graph sends with 401 (contract §2.2).
pub const WWW_AUTHENTICATE: &str = "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"";

/// A Graph error: `{"error":{"code","message","innerError":{...}}}`.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Nested inner codes, outermost first (`["throttledRequest","quota"]`).
    pub inner: Vec<&'static str>,
    pub retry_after: Option<u64>,
    pub www_authenticate: bool,
    /// Extra headers (e.g. `Content-Range: bytes */N` on 416).
    pub headers: Vec<(header::HeaderName, String)>,
}

pub type GResult<T> = Result<T, GraphError>;

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            message: message.into(),
            inner: Vec::new(),
            retry_after: None,
            www_authenticate: false,
            headers: Vec::new(),
        }
    }
    pub fn inner(mut self, code: &'static str) -> Self {
        self.inner.push(code);
        self
    }
    pub fn retry_after(mut self, secs: Option<u64>) -> Self {
        self.retry_after = secs;
        self
    }
    pub fn header(mut self, name: header::HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalidRequest", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "itemNotFound", message)
    }
    pub fn item_not_found() -> Self {
        Self::not_found("Item not found")
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "accessDenied", message)
    }
    pub fn name_exists(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "nameAlreadyExists",
            format!("The specified item name already exists. Name: {name}"),
        )
    }
    pub fn quota() -> Self {
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "quotaLimitReached",
            "Insufficient Space Available",
        )
    }
    pub fn session_not_found() -> Self {
        Self::not_found("The upload session was not found").inner("uploadSessionNotFound")
    }
    pub fn unauthenticated(message: &str) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        );
        e.www_authenticate = true;
        e
    }
    pub fn throttled(retry_after: Option<u64>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "activityLimitReached",
            "The request has been throttled",
        )
        .inner("throttledRequest")
        .inner("quota")
        .retry_after(retry_after)
    }

    pub fn body(&self) -> Value {
        let mut inner = json!({
            "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            "request-id": guid(),
            "client-request-id": guid(),
        });
        // Nest the inner codes: the outermost is innerError.code, the next
        // innerError.innerError.code, and so on.
        if let Some((first, rest)) = self.inner.split_first() {
            inner["code"] = json!(first);
            let mut nested: Option<Value> = None;
            for code in rest.iter().rev() {
                let mut v = json!({ "code": code });
                if let Some(n) = nested.take() {
                    v["innerError"] = n;
                }
                nested = Some(v);
            }
            if let Some(n) = nested {
                inner["innerError"] = n;
            }
        }
        json!({"error": {"code": self.code, "message": self.message, "innerError": inner}})
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response<Body> {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.www_authenticate {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(WWW_AUTHENTICATE),
            );
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        resp
    }
}

/// An identity-platform error: HTTP 400 (contract §1.2: "every non-success
/// answer is HTTP 400") with the STS JSON body.
#[derive(Debug, Clone)]
pub struct StsError {
    pub error: &'static str,
    /// AADSTS number; `None` for errors that have none (slow_down).
    pub code: Option<u32>,
    pub description: String,
    pub status: StatusCode,
}

impl StsError {
    pub fn new(error: &'static str, code: Option<u32>, description: impl Into<String>) -> Self {
        StsError {
            error,
            code,
            description: description.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }
    pub fn missing(param: &str) -> Self {
        Self::new(
            "invalid_request",
            Some(900144),
            format!("The request body must contain the following parameter: '{param}'."),
        )
    }

    pub fn body(&self) -> Value {
        let ts = sts_timestamp();
        let trace = guid();
        let corr = guid();
        let prefix = match self.code {
            Some(c) => format!("AADSTS{c}: "),
            None => String::new(),
        };
        let description = format!(
            "{prefix}{}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {ts}",
            self.description
        );
        let codes: Vec<u32> = self.code.into_iter().collect();
        let mut v = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": codes,
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": corr,
        });
        if let Some(c) = self.code {
            v["error_uri"] = json!(format!("https://login.microsoftonline.com/error?code={c}"));
        }
        v
    }
}

impl IntoResponse for StsError {
    fn into_response(self) -> Response<Body> {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        resp
    }
}

/// A JSON response with a status.
pub fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut resp = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
