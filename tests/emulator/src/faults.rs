//! Fault injection: request faults matched against method and path, and
//! the immediate actions.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use http_body::Frame;
use tokio::sync::Notify;

use crate::config::{FaultKind, FaultSpec};
use crate::errors::{GraphError, StsError};
use crate::state::Shared;
use crate::util::glob_match;

/// What a matched request fault does to the request.
pub enum Hit {
    Respond(Response<Body>),
    Drop(Option<u64>),
    Partial(Option<u64>),
}

/// Arms request faults, or carries out actions. Returns a summary.
pub fn apply(shared: &Shared, specs: Vec<FaultSpec>) -> Result<serde_json::Value, String> {
    for s in &specs {
        s.validate()?;
    }
    let mut inner = shared.lock();
    let mut armed = 0;
    let mut actions = Vec::new();
    for spec in specs {
        match spec.kind {
            FaultKind::ExpireUploadSessions => {
                let n = crate::upload::expire_sessions(&mut inner, spec.session.as_deref());
                actions.push(serde_json::json!({"kind": spec.kind, "affected": n}));
            }
            FaultKind::ExpireAccessTokens => {
                let now = inner.now_ms();
                let mut n = 0;
                for t in inner.access_tokens.values_mut() {
                    if t.expires_ms > now {
                        t.expires_ms = now - 1;
                        n += 1;
                    }
                }
                actions.push(serde_json::json!({"kind": spec.kind, "affected": n}));
            }
            FaultKind::RevokeRefreshTokens => {
                let mut n = 0;
                for t in inner.refresh_tokens.values_mut() {
                    if !t.revoked {
                        t.revoked = true;
                        n += 1;
                    }
                }
                actions.push(serde_json::json!({"kind": spec.kind, "affected": n}));
            }
            _ => {
                inner.arm_fault(spec);
                armed += 1;
            }
        }
    }
    shared.save(&inner);
    Ok(serde_json::json!({"armed": armed, "actions": actions}))
}

fn matches(spec: &FaultSpec, method: &str, path: &str) -> bool {
    spec.method
        .as_deref()
        .is_none_or(|m| m.eq_ignore_ascii_case(method))
        && glob_match(spec.path.as_deref().unwrap_or("*"), path)
}

/// Takes the first armed fault matching the request, if any.
pub fn take(shared: &Shared, method: &str, path: &str) -> Option<Hit> {
    let mut inner = shared.lock();
    let idx = inner
        .faults
        .iter()
        .position(|f| f.remaining > 0 && matches(&f.spec, method, path))?;
    let f = &mut inner.faults[idx];
    f.remaining -= 1;
    let hit_no = f.hits;
    f.hits += 1;
    let spec = f.spec.clone();
    if f.remaining == 0 {
        inner.faults.remove(idx);
    }
    inner.counters.faults_fired += 1;
    drop(inner);
    let identity = path.contains("/oauth2/");
    let retry = spec.retry_after.as_ref().and_then(|r| r.nth(hit_no));
    let respond = |status: StatusCode, graph: GraphError, sts_code: u32| {
        if identity {
            let mut e = StsError::new(
                "temporarily_unavailable",
                Some(sts_code),
                "The service is temporarily unavailable. Please try again later.",
            );
            e.status = status;
            let mut r = e.into_response();
            if let Some(s) = retry {
                r.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, s.into());
            }
            Hit::Respond(r)
        } else {
            let mut g = graph.retry_after(retry);
            g.status = status;
            Hit::Respond(g.into_response())
        }
    };
    Some(match spec.kind {
        FaultKind::Throttle => respond(
            StatusCode::TOO_MANY_REQUESTS,
            GraphError::throttled(None),
            90024,
        ),
        FaultKind::Unavailable => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            GraphError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable",
            ),
            90006,
        ),
        FaultKind::Locked => respond(
            StatusCode::LOCKED,
            GraphError::new(
                StatusCode::LOCKED,
                "resourceLocked",
                "The resource you are attempting to access is locked",
            ),
            90006,
        ),
        FaultKind::ServerError => {
            let status = StatusCode::from_u16(spec.status.unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            respond(
                status,
                GraphError::new(
                    status,
                    "generalException",
                    "An unspecified error has occurred.",
                ),
                50033,
            )
        }
        FaultKind::DropConnection => Hit::Drop(spec.after_bytes),
        FaultKind::PartialAccept => Hit::Partial(spec.accept_bytes),
        // Actions never become armed faults.
        _ => return None,
    })
}

/// A request body that yields `remaining` bytes, then asks the connection
/// to be closed and never yields again.
pub struct DropAfter {
    pub inner: Body,
    pub remaining: u64,
    pub kill: Arc<Notify>,
    pub fired: bool,
    pub on_fire: Option<Box<dyn FnOnce() + Send>>,
}

impl DropAfter {
    fn fire(&mut self) {
        if !self.fired {
            self.fired = true;
            if let Some(f) = self.on_fire.take() {
                f();
            }
            self.kill.notify_one();
        }
    }
}

impl http_body::Body for DropAfter {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            this.fire();
            return Poll::Pending;
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    if data.len() as u64 > this.remaining {
                        data.truncate(this.remaining as usize);
                    }
                    this.remaining -= data.len() as u64;
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            Poll::Ready(None) => {
                this.fire();
                Poll::Pending
            }
            other => other,
        }
    }
}
