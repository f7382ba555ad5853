//! `POST /api/v1/offices/{office}/tickets` (API.md "The office floor"): a
//! walk-in ticket from the kiosk or a clerk.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use terminagent_domain::{OfficeId, OfficeTimeZone, Permission, ServiceId, TicketError};

use super::AppState;
use super::auth::Access;
use super::bookings::local_instant;
use super::extract::{JsonBody, PathParam};
use super::openapi::{
    BODY_TOO_LARGE, CONTENDED, FORBIDDEN, INTERNAL, MALFORMED_JSON_OR_PATH, PROBLEM, THROTTLED, UNAUTHORIZED,
    UNSUPPORTED_MEDIA_TYPE,
};
use super::problem::Problem;
use crate::application::tickets::issue_ticket;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    /// 1–10 services marked for walk-ins (`walk_in: true`).
    #[schema(example = json!(["meldebescheinigung"]))]
    services: Vec<String>,
}

/// A walk-in ticket, confirmed at once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketAnswer {
    booking_id: String,
    /// The waiting number the display will call.
    #[schema(example = "17")]
    number: String,
    #[schema(format = DateTime, example = "2026-12-01T09:12:00+01:00")]
    start: String,
    #[schema(format = DateTime, example = "2026-12-01T09:24:00+01:00")]
    end: String,
    /// For the check-in (also the ticket's QR code's content).
    #[schema(example = "7K3M9QXD")]
    check_in_code: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/offices/{office}/tickets",
    tag = "floor",
    summary = "Issue a walk-in ticket",
    description = "A kiosk of the office or its staff. A booking confirmed at once, without personal data, at \
        the earliest start from now on today where one lane's consecutive free units cover the services — the \
        booking decision's own rule, over the same units (units the waitlist keeps are not taken).",
    params(("office" = String, Path, description = "The office's slug.", example = "stadtmitte")),
    request_body = TicketRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The ticket.", body = TicketAnswer),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office or service.", body = Problem,
         content_type = PROBLEM),
        (status = 409, description = "`/problems/no-slot-today`: no lane has free units for these services \
            today; `/problems/not-walk-in`: a service is not offered without an appointment.", body = Problem,
         content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: 1 to 10 services, each once.", body = Problem,
         content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn issue(
    access: Access,
    State(state): State<AppState>,
    PathParam(office): PathParam<String>,
    JsonBody(body): JsonBody<TicketRequest>,
) -> Result<(StatusCode, Json<TicketAnswer>), Problem> {
    let office = OfficeId::parse(&office).map_err(|_| Problem::not_found(format!("no office {office:?}")))?;
    access.require(Permission::IssueTicket, Some(&office))?;
    let services = body
        .services
        .iter()
        .map(|service| ServiceId::parse(service).map_err(|_| Problem::not_found(format!("no service {service:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let zone: OfficeTimeZone = state
        .catalogue
        .read()
        .office(&office)
        .and_then(|entry| entry.timezone.parse().ok())
        .ok_or_else(|| Problem::not_found(format!("no office {office}")))?;
    let issued = issue_ticket(
        &state.executor,
        &state.availability,
        &state.link_secret,
        state.new_cause(access.actor()),
        office,
        services,
    )
    .await
    .map_err(|error| {
        state.execute_problem(error, |refused| {
            let conflict =
                |kind: &str, title: &str| Problem::new(StatusCode::CONFLICT, kind, title, refused.to_string());
            match &refused {
                TicketError::UnknownOffice(_) | TicketError::UnknownService(_) => {
                    Problem::not_found(refused.to_string())
                }
                TicketError::NotWalkIn(_) => conflict("not-walk-in", "Not for walk-ins"),
                TicketError::ServiceCount(_) | TicketError::DuplicateService(_) => {
                    Problem::invalid(refused.to_string())
                }
                TicketError::NoSlotToday
                | TicketError::WaitlistBehind
                | TicketError::UnreadUnits
                | TicketError::NumbersExhausted { .. } => conflict("no-slot-today", "No slot today"),
            }
        })
    })?;
    state.catch_up_views().await?;
    let ticket = issued.ticket;
    Ok((
        StatusCode::CREATED,
        Json(TicketAnswer {
            booking_id: ticket.booking.to_string(),
            number: ticket.number.to_string(),
            start: local_instant(zone, ticket.start),
            end: local_instant(zone, ticket.end),
            check_in_code: issued.check_in_code,
        }),
    ))
}
