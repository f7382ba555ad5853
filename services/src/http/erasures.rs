//! `POST /api/v1/erasures` (API.md "Operations"): an admin erases a
//! citizen's personal data on their request, as `terminagent erase` does.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use terminagent_domain::{EmailAddress, ErasureError, Permission};

use super::AppState;
use super::auth::Access;
use super::extract::JsonBody;
use super::openapi::{
    BODY_TOO_LARGE, CONTENDED, FORBIDDEN, INTERNAL, MALFORMED_JSON, PROBLEM, THROTTLED, UNAUTHORIZED,
    UNSUPPORTED_MEDIA_TYPE,
};
use super::problem::Problem;
use crate::application::erasure::{EraseError, erase_by_email};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureBody {
    /// The citizen's e-mail address (compared as bookings and wishes normalise it).
    #[schema(example = "erika.mustermann@example.org")]
    email: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErasureAnswer {
    /// `true`: a citizen with this address was known and is erased now;
    /// `false`: nothing to erase (never seen, or erased before).
    erased: bool,
}

#[utoipa::path(
    post,
    path = "/api/v1/erasures",
    tag = "audit",
    summary = "Erase a citizen's personal data",
    description = "Admins and the operator. Deletes the key of the citizen's personal-data envelope and their \
        e-mail index entry, and records `personal_data.erased` (reason `request`) under the caller. In the same \
        append the citizen's waiting wishes end (their open proposals' units are free again) and bookings still \
        awaiting confirmation are cancelled; confirmed bookings stay (the citizen keeps number, check-in code \
        and cancel link). Mails not yet sent are skipped. The log still replays and the statistics do not \
        change. Repeating it answers `erased: false`.",
    request_body = ErasureBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Erased, or nothing to erase.", body = ErasureAnswer),
        (status = 400, description = MALFORMED_JSON, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: `email` missing or not an e-mail address, \
            or another field.", body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn erase(
    access: Access,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ErasureBody>,
) -> Result<Json<ErasureAnswer>, Problem> {
    access.require(Permission::ErasePersonalData, None)?;
    let email = EmailAddress::parse(&body.email).map_err(|e| Problem::invalid(format!("email: {e}")))?;
    let erased = erase_by_email(&state.executor, state.new_cause(access.actor()), &email)
        .await
        .map_err(|error| match error {
            EraseError::Vault(error) => Problem::internal(&error),
            EraseError::Execute(error) => state.execute_problem(error, |refused| match refused {
                // Only a citizen booking and wishing faster than we can read.
                ErasureError::UnreadStreams(_) | ErasureError::StillActive => Problem::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "contended",
                    "Busy",
                    "the citizen's bookings changed while erasing; try again",
                ),
            }),
        })?;
    state.catch_up_views().await?;
    Ok(Json(ErasureAnswer {
        erased: erased.is_some(),
    }))
}
