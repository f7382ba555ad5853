//! Booking requests (API.md "Bookings").

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use terminagent_domain::{
    BookingRequestError, CitizenName, EmailAddress, OfficeId, OfficeTimeZone, PersonalData, PhoneNumber, ServiceId,
};

use super::AppState;
use super::json::JsonBody;
use super::problem::Problem;
use crate::application::{BookingRequest, RequestBookingError, request_booking};

#[derive(Debug, Deserialize)]
pub struct BookingBody {
    office: String,
    services: Vec<String>,
    start: String,
    citizen: CitizenBody,
}

#[derive(Debug, Deserialize)]
pub struct CitizenBody {
    name: String,
    email: String,
    phone: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BookingAnswer {
    booking_id: String,
    status: &'static str,
    office: String,
    start: String,
    end: String,
    confirm_by: String,
}

pub async fn create_booking(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<BookingBody>,
) -> Result<(StatusCode, Json<BookingAnswer>), Problem> {
    let request = parse_request(body)?;
    let catalogue_zone = state
        .catalogue
        .read()
        .office(&request.office)
        .and_then(|office| office.timezone.parse().ok());
    let requested = request_booking(
        &state.executor,
        &state.link_secret,
        state.booking_policy,
        state.new_correlation(),
        request,
        catalogue_zone,
    )
    .await
    .map_err(|error| booking_problem(&state, error))?;
    let (booking, zone) = (&requested.booking, requested.timezone);
    let answer = BookingAnswer {
        booking_id: booking.booking.to_string(),
        status: "pending_confirmation",
        office: booking.office.to_string(),
        start: local_instant(zone, booking.start),
        end: local_instant(zone, booking.end),
        confirm_by: local_instant(zone, booking.confirm_by),
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

fn parse_request(body: BookingBody) -> Result<BookingRequest, Problem> {
    // A malformed id cannot name anything that exists.
    let office =
        OfficeId::parse(&body.office).map_err(|_| Problem::not_found(format!("no office {:?}", body.office)))?;
    let services = body
        .services
        .iter()
        .map(|service| ServiceId::parse(service).map_err(|_| Problem::not_found(format!("no service {service:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let start = DateTime::parse_from_rfc3339(&body.start)
        .map_err(|e| Problem::invalid(format!("start must be an RFC 3339 instant with offset: {e}")))?
        .with_timezone(&Utc);
    let citizen = PersonalData {
        name: CitizenName::parse(&body.citizen.name).map_err(|e| Problem::invalid(format!("citizen.name: {e}")))?,
        email: EmailAddress::parse(&body.citizen.email).map_err(|e| Problem::invalid(format!("citizen.email: {e}")))?,
        phone: body
            .citizen
            .phone
            .as_deref()
            .map(PhoneNumber::parse)
            .transpose()
            .map_err(|e| Problem::invalid(format!("citizen.phone: {e}")))?,
    };
    Ok(BookingRequest {
        office,
        services,
        start,
        citizen,
    })
}

fn booking_problem(state: &AppState, error: RequestBookingError) -> Problem {
    match error {
        RequestBookingError::Decision(error) => state.execute_problem(error, |rejected| {
            use BookingRequestError as E;
            let detail = rejected.to_string();
            match rejected {
                E::UnknownOffice(_) | E::UnknownService(_) => Problem::not_found(detail),
                E::SlotTaken { .. } => Problem::new(StatusCode::CONFLICT, "slot-taken", "Slot taken", detail),
                E::TooManyOpenBookings { .. } => Problem::new(
                    StatusCode::CONFLICT,
                    "too-many-open-bookings",
                    "Too many open bookings",
                    detail,
                ),
                E::ServiceCount(_)
                | E::DuplicateService(_)
                | E::StartNotInFuture { .. }
                | E::BeyondHorizon { .. }
                | E::DstTransition(_) => Problem::invalid(detail),
            }
        }),
        RequestBookingError::Vault(error) => Problem::internal(&error),
    }
}

/// API.md: instants carry the office's UTC offset.
fn local_instant(zone: OfficeTimeZone, instant: DateTime<Utc>) -> String {
    zone.to_local(instant).to_rfc3339_opts(SecondsFormat::Secs, false)
}
