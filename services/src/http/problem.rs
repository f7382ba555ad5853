//! Errors as `application/problem+json` (RFC 9457).

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One problem answer. `kind` is the last segment of its `type` URI.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "/problems/slot-taken",
    "title": "Slot taken",
    "status": 409,
    "detail": "no lane offers free units starting at 2026-12-01 07:12:00 UTC"
}))]
pub struct Problem {
    /// What went wrong, as a URI reference `/problems/{kind}`; the last
    /// segment is stable and meant for programs (e.g. `slot-taken`).
    #[serde(rename = "type")]
    #[schema(format = "uri-reference", pattern = "^/problems/[a-z-]+$")]
    pub type_uri: String,
    /// A short human-readable summary of the kind of problem.
    pub title: String,
    /// The HTTP status code of this answer.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What happened in this case, for people.
    pub detail: String,
    /// Only with `/problems/too-early` (check-in) and `/problems/too-soon-to-recall`:
    /// from when the request will be accepted, in office time.
    #[serde(skip_serializing_if = "Option::is_none")]
    // Boxed: every `Result<_, Problem>` carries its size, kept under clippy's bound.
    #[schema(value_type = Option<String>, required = false, format = DateTime, example = "2026-12-01T08:45:00+01:00")]
    pub from: Option<Box<str>>,
    #[serde(skip)]
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            type_uri: format!("/problems/{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            from: None,
            headers: Vec::new(),
        }
    }

    /// With `from`: when the refused request will be accepted.
    pub fn with_from(mut self, from: String) -> Self {
        self.from = Some(from.into_boxed_str());
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// 422: the request is well-formed but its content is not acceptable.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "Invalid request",
            detail,
        )
    }

    /// 500 without internals: the detail goes to the log, not to the client.
    pub fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(%error, "request failed");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the request could not be completed",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}
