//! "Meine Termine" for programs (API.md "Meine Termine"): `POST
//! /api/v1/overview-requests` mails the address a link to its open bookings
//! and wishes, if it has any; the answer is the same either way.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use terminagent_domain::{Actor, EmailAddress};

use super::AppState;
use super::extract::JsonBody;
use super::openapi::{
    BODY_TOO_LARGE, MALFORMED_JSON, PROBLEM, PROOF_OF_WORK_REFUSED, RATE_LIMITED, UNSUPPORTED_MEDIA_TYPE,
};
use super::problem::Problem;
use crate::application::overview::request_overview;

/// Whose bookings and wishes to mail a link to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = OverviewRequest)]
pub struct OverviewRequestBody {
    /// The address the bookings and wishes were made with.
    #[schema(example = "erika.mustermann@example.org")]
    email: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/overview-requests",
    tag = "bookings",
    summary = "Mail a link to the address's bookings and wishes",
    description = "If bookings or wishes were made with this address, a mail goes to it with a link \
        (`{public-url}/meine-termine/{token}`, valid 24 hours) to a page listing its open bookings and \
        waiting wishes, with their cancel and end links and, for a booking awaiting confirmation, a button \
        that sends the confirm-request mail again (at most 3 times per booking). The answer is the same \
        202 whether or not the address is known, erased, or asked more than 5 times within a day (then no \
        further mail goes out): it says nothing about the address. Costs a proof of work like bookings.",
    request_body = OverviewRequestBody,
    responses(
        (status = 202, description = "Accepted: a mail goes out if the address has bookings or wishes."),
        (status = 400, description = MALFORMED_JSON, body = Problem, content_type = PROBLEM),
        (status = 403, description = PROOF_OF_WORK_REFUSED, body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: not an e-mail address.",
         body = Problem, content_type = PROBLEM),
        (status = 429, description = RATE_LIMITED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
    )
)]
pub async fn request_overview_json(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<OverviewRequestBody>,
) -> Result<StatusCode, Problem> {
    let email = EmailAddress::parse(body.email.trim()).map_err(|error| Problem::invalid(format!("email: {error}")))?;
    spawn_overview_request(&state, email);
    Ok(StatusCode::ACCEPTED)
}

/// Looks the address up and records the request apart from the answer, so
/// that neither the answer nor its timing tells whether the address is known.
pub(super) fn spawn_overview_request(state: &AppState, email: EmailAddress) {
    let executor = state.executor.clone();
    let secret = state.link_secret.clone();
    let cause = state.new_cause(Actor::Citizen);
    tokio::spawn(async move {
        if let Err(error) = request_overview(&executor, &secret, cause, &email).await {
            tracing::error!(%error, "an overview request could not be recorded");
        }
    });
}
