//! Turning an invocation report into the HTTP response a client sees.
//!
//! Clients get a status that says what kind of failure it was and a short
//! message with a request id — never a trap message, a stack, a path on the
//! host or a limit's internals; operators find the details under that
//! request id in the host's log and trace.

use crate::invoke::InvocationReport;
use crate::invoke::outcome::InvocationError;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::Full;
use std::time::SystemTime;

/// What a killed app's caller reads (an incident drill checks for it).
pub(crate) const KILLED: &str = "this app has been stopped by an operator";

pub type Response = http::Response<Full<Bytes>>;

/// A small JSON error body with the request id.
pub fn error(status: StatusCode, message: &str, request_id: &str) -> Response {
    let body = serde_json::json!({ "error": message, "request_id": request_id }).to_string();
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    response
}

/// `Retry-After` seconds until an RFC 3339 instant (at least 1).
pub(crate) fn retry_after(resets_at: &str) -> u64 {
    humantime::parse_rfc3339(resets_at)
        .ok()
        .and_then(|t| t.duration_since(SystemTime::now()).ok())
        .map(|d| d.as_secs() + 1)
        .unwrap_or(1)
        .max(1)
}

/// 408: the client did not send its body in time. The connection is
/// closed, since what it still sends would be read as a new request.
pub(crate) fn request_timeout(request_id: &str) -> Response {
    let mut response = error(
        StatusCode::REQUEST_TIMEOUT,
        "the request body did not arrive in time",
        request_id,
    );
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub(crate) fn too_many(message: &str, retry_secs: u64, request_id: &str) -> Response {
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, message, request_id);
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from(retry_secs));
    response
}

/// 503 with `Retry-After: 1`: the shared state an app needed could not be
/// reached (the database restarting); the host reconnects by itself.
fn state_unavailable(request_id: &str) -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the state this app needs cannot be reached right now; try again",
        request_id,
    );
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from(1u32));
    response
}

/// What a request to an app still compiling gets: 503 with `Retry-After`
/// while it compiles, 500 when its compile failed (the reason is in the
/// host's log, not for the client), and a killed app's 503 when it is
/// killed (nothing would run once it is ready either).
pub(crate) fn starting(app: &super::starting::StartingApp, request_id: &str) -> Response {
    if app.is_killed() {
        return error(StatusCode::SERVICE_UNAVAILABLE, KILLED, request_id);
    }
    if app.failed().is_some() {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this app did not start on this host; its operator's log says why",
            request_id,
        );
    }
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "this app is starting (its code is compiling); try again shortly",
        request_id,
    );
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        HeaderValue::from(super::starting::RETRY_AFTER_SECS),
    );
    response
}

pub(crate) fn from_report(report: InvocationReport, request_id: &str) -> Response {
    match report.result {
        Ok(output) => {
            let status = report
                .http_status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::OK);
            let mut response = http::Response::new(Full::new(Bytes::from(output)));
            *response.status_mut() = status;
            let headers = response.headers_mut();
            if report.http_status.is_some() {
                for (name, value) in &report.http_headers {
                    if !warden_host_apis::egress::governed::is_framing(name.as_str()) {
                        headers.append(name.clone(), value.clone());
                    }
                }
            } else {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
            }
            if let Ok(id) = HeaderValue::from_str(request_id) {
                headers.insert("x-request-id", id);
            }
            response
        }
        Err(InvocationError::QuotaExceeded(q)) => too_many(
            &format!("quota `{}` exhausted", q.quota),
            retry_after(&q.resets_at),
            request_id,
        ),
        // The handler chose a 4xx or 5xx for its failure (warden:host/reply):
        // its message is the answer — also when it was answering a refusal
        // of the platform's (a 403 for a scope it lacks), which the trace
        // still records as `denied`.
        Err(InvocationError::AppError { message } | InvocationError::Denied { message, .. })
            if report.http_status.is_some_and(|s| s >= 400) =>
        {
            let status = report
                .http_status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = http::Response::new(Full::new(Bytes::from(message)));
            *response.status_mut() = status;
            response.headers_mut().extend(report.http_headers);
            if let Ok(id) = HeaderValue::from_str(request_id) {
                response.headers_mut().insert("x-request-id", id);
            }
            response
        }
        Err(InvocationError::Killed) => error(StatusCode::SERVICE_UNAVAILABLE, KILLED, request_id),
        Err(InvocationError::StateUnavailable { .. }) => state_unavailable(request_id),
        Err(InvocationError::Timeout { .. }) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "the app did not answer in time",
            request_id,
        ),
        Err(InvocationError::AppError { .. }) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the app reported an error",
            request_id,
        ),
        Err(InvocationError::Host { .. }) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the host is busy; try again",
            request_id,
        ),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the app failed",
            request_id,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_counts_seconds_until_the_reset() {
        let soon = humantime::format_rfc3339_seconds(
            SystemTime::now() + std::time::Duration::from_secs(30),
        )
        .to_string();
        let secs = retry_after(&soon);
        assert!((29..=31).contains(&secs), "{secs}");
        assert_eq!(retry_after("garbage"), 1);
    }

    #[test]
    fn unreachable_state_is_a_503_that_says_when_to_come_back() {
        let response = state_unavailable("req-2");
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
        assert_eq!(response.headers()["x-request-id"], "req-2");
    }

    #[test]
    fn error_bodies_carry_only_a_message_and_the_request_id() {
        let response = error(StatusCode::INTERNAL_SERVER_ERROR, "the app failed", "req-1");
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["x-request-id"], "req-1");
    }
}
