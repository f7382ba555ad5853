//! Staff and operations endpoints need `Authorization: Bearer TOKEN`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use super::AppState;
use super::problem::Problem;

/// Proof that the request carries the admin token. Taking it as a handler
/// argument is what makes an endpoint 🔒.
pub struct StaffAccess;

impl FromRequestParts<AppState> for StaffAccess {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        match (&state.admin_token, presented) {
            (Some(token), Some(presented)) if token.matches(presented.trim()) => Ok(StaffAccess),
            (None, _) => Err(unauthorized(
                "staff endpoints are disabled: the server has no admin token configured",
            )),
            (Some(_), None) => Err(unauthorized("send Authorization: Bearer <admin token>")),
            (Some(_), Some(_)) => Err(unauthorized("the bearer token is not valid")),
        }
    }
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail)
        .with_header(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"))
}
