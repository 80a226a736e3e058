//! The API's errors as RFC 9457 problem details (`application/problem+json`):
//! a status, a short title that names the kind of problem, and a detail
//! that says what to do about this one.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// A problem, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status and title say what kind.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: &'static str,
    #[schema(example = "Unauthorized")]
    pub title: &'static str,
    #[schema(example = 401)]
    pub status: u16,
    #[schema(example = "send an API key as Authorization: Bearer <key>")]
    pub detail: String,
    /// Seconds to wait before trying again (also in `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn unavailable(detail: impl Into<String>, seconds: u64) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail).retry_after(seconds)
    }

    /// A body that is not JSON, or not the route's shape: 400 (415
    /// without the JSON content type, 413 over the size limit).
    pub fn from_json(rejection: axum::extract::rejection::JsonRejection) -> Self {
        let status = match rejection.status() {
            status @ (StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::PAYLOAD_TOO_LARGE) => status,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, rejection.body_text())
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).expect("a problem always encodes");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"confab\""),
            );
        }
        response
    }
}

/// The problems any route may answer, for the document: each route lists
/// its own answers and these.
#[derive(IntoResponses)]
#[allow(dead_code)] // a description for the document, never built
pub enum Problems {
    /// A path, query or body that is not what the route takes.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No API key, or not one of `api_keys`.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// Too many requests with this key: see `Retry-After`.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Problem),
    /// Storage or the cluster's Redis cannot answer now: see `Retry-After`.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// What a route that takes a JSON body may also answer.
#[derive(IntoResponses)]
#[allow(dead_code)] // a description for the document, never built
pub enum BodyProblems {
    /// A body over 2 MB.
    #[response(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Problem),
    /// A body without the JSON content type.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
}

/// What a route that acts on the caller's own session may answer.
#[derive(IntoResponses)]
#[allow(dead_code)] // a description for the document, never built
pub enum SessionProblems {
    /// No live session token.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// A guest's token: guests have no sessions.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Storage cannot answer: see `Retry-After`.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// What a route on one room may answer beyond the rest.
#[derive(IntoResponses)]
#[allow(dead_code)] // a description for the document, never built
pub enum RoomProblems {
    /// The caller's role in the room does not allow it (the route says
    /// whose does).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// A private room the caller is not a member of, or one they are
    /// banned from: no such room, as far as they may know.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}
