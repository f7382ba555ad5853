//! `POST /api/v1/offices/{office}/closures` (API.md "Opening hours, closures
//! and the day list"): a lead closes a day or part of it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use terminagent_domain::{ClosureError, ClosureReason, LocalDate, LocalTime, OfficeId, Permission};

use super::AppState;
use super::auth::Access;
use super::extract::{JsonBody, PathParam};
use super::openapi::{
    BODY_TOO_LARGE, CONTENDED, FORBIDDEN, INTERNAL, MALFORMED_JSON_OR_PATH, PROBLEM, THROTTLED, UNAUTHORIZED,
    UNSUPPORTED_MEDIA_TYPE,
};
use super::problem::Problem;
use crate::application::closures::close_office;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosureBody {
    /// Office-local date.
    #[schema(example = "2026-12-10")]
    date: String,
    /// Start of the closed span, office-local; with `to`, or neither (the whole day).
    #[schema(example = "12:00")]
    from: Option<String>,
    #[schema(example = "16:00")]
    to: Option<String>,
    /// Why, 1–500 characters: the cancellation mails quote it.
    #[schema(example = "Wegen eines Wasserschadens bleibt das Bürgerbüro geschlossen.")]
    reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClosureAnswer {
    /// Bookings on the span, cancelled and mailed with the reason.
    cancelled_bookings: usize,
    /// Every unit of the span that was still in service and ahead, booked or not.
    withdrawn_units: usize,
}

#[utoipa::path(
    post,
    path = "/api/v1/offices/{office}/closures",
    tag = "staff",
    summary = "Close a day or part of it",
    description = "The office's lead or an admin. Every unit of the span that lies ahead is withdrawn (neither \
        bookable nor proposed again, nor published anew); bookings on them are cancelled and mailed the reason \
        with links to book anew or register a wish; open proposals on them are withdrawn, their wishes keep \
        their place. Units that already started stay as they are.",
    params(("office" = String, Path, description = "The office's slug.", example = "stadtmitte")),
    request_body = ClosureBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Closed.", body = ClosureAnswer),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office.", body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: a bad date or time, only one of `from` and \
            `to`, `to` not after `from`, a date already past, or a reason that is empty, longer than 500 \
            characters or more than one line.", body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn close(
    access: Access,
    State(state): State<AppState>,
    PathParam(office): PathParam<String>,
    JsonBody(body): JsonBody<ClosureBody>,
) -> Result<(StatusCode, Json<ClosureAnswer>), Problem> {
    let office = OfficeId::parse(&office).map_err(|_| Problem::not_found(format!("no office {office:?}")))?;
    access.require(Permission::CloseOffice, Some(&office))?;
    let date = LocalDate::parse(&body.date).map_err(|e| Problem::invalid(format!("date: {e}")))?;
    let time = |field: &str, text: &str| LocalTime::parse(text).map_err(|e| Problem::invalid(format!("{field}: {e}")));
    let span = match (&body.from, &body.to) {
        (None, None) => None,
        (Some(from), Some(to)) => Some((time("from", from)?, time("to", to)?)),
        _ => {
            return Err(Problem::invalid(
                "give both `from` and `to`, or neither for the whole day",
            ));
        }
    };
    let reason = ClosureReason::parse(&body.reason).map_err(|e| Problem::invalid(format!("reason: {e}")))?;
    let outcome = close_office(
        &state.executor,
        state.new_cause(access.actor()),
        office,
        date,
        span,
        reason,
    )
    .await
    .map_err(|error| {
        state.execute_problem(error, |refused| match refused {
            ClosureError::UnknownOffice(office) => Problem::not_found(format!("no office {office}")),
            other @ (ClosureError::DateInPast { .. } | ClosureError::EmptySpan { .. }) => {
                Problem::invalid(other.to_string())
            }
            ClosureError::UnreadUnits(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "contended",
                "Busy",
                "capacity is being published on this day right now; try again",
            ),
        })
    })?;
    state.catch_up_views().await?;
    Ok((
        StatusCode::CREATED,
        Json(ClosureAnswer {
            cancelled_bookings: outcome.cancelled_bookings,
            withdrawn_units: outcome.withdrawn_units,
        }),
    ))
}
