//! Booking requests (API.md "Bookings").

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use terminagent_domain::Actor;
use terminagent_domain::{
    BookingRequestError, CitizenName, EmailAddress, OfficeId, OfficeTimeZone, PersonalData, PhoneNumber, ServiceId,
};

use super::AppState;
use super::extract::JsonBody;
use super::openapi::{
    BODY_TOO_LARGE, CONTENDED, INTERNAL, MALFORMED_JSON, PROBLEM, PROOF_OF_WORK_REFUSED, RATE_LIMITED,
    UNSUPPORTED_MEDIA_TYPE,
};
use super::problem::Problem;
use crate::application::{BookingRequest, RequestBookingError, request_booking};

/// A booking request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = BookingRequest)]
pub struct BookingBody {
    /// The office's slug.
    #[schema(pattern = "^[a-z0-9-]{1,64}$", example = "stadtmitte")]
    office: String,
    /// 1–10 distinct service slugs; the booking takes their summed duration.
    #[schema(min_items = 1, max_items = 10, example = json!(["personalausweis"]))]
    services: Vec<String>,
    /// RFC 3339 instant with offset: exactly the start of a free slot.
    #[schema(format = DateTime, example = "2026-12-01T08:12:00+01:00")]
    start: String,
    citizen: CitizenBody,
}

/// Who books. Kept in an encrypted personal-data envelope, never in the event log.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = Citizen)]
pub struct CitizenBody {
    /// 1–200 characters after trimming, no control characters.
    #[schema(min_length = 1, max_length = 200, example = "Erika Mustermann")]
    name: String,
    /// An address as RFC 5321 allows, at most 254 characters.
    #[schema(format = Email, max_length = 254, example = "erika@example.org")]
    email: String,
    /// Optional: 3–32 characters, digits, spaces and `+ - / ( )`, at least 3 digits.
    #[schema(
        min_length = 3,
        max_length = 32,
        pattern = "^[0-9 +\\-/()]{3,32}$",
        example = "0203 283-0"
    )]
    phone: Option<String>,
}

impl CitizenBody {
    pub(super) fn parse(&self) -> Result<PersonalData, Problem> {
        Ok(PersonalData {
            name: CitizenName::parse(&self.name).map_err(|e| Problem::invalid(format!("citizen.name: {e}")))?,
            email: EmailAddress::parse(&self.email).map_err(|e| Problem::invalid(format!("citizen.email: {e}")))?,
            phone: self
                .phone
                .as_deref()
                .map(PhoneNumber::parse)
                .transpose()
                .map_err(|e| Problem::invalid(format!("citizen.phone: {e}")))?,
        })
    }
}

/// A booking request that went through: the units are held until `confirm_by`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = BookingRequested)]
pub struct BookingAnswer {
    /// ULID of the booking.
    #[schema(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$", example = "01JE5Q3K8Y2X4N6P7R9S0T1V2W")]
    booking_id: String,
    #[schema(schema_with = super::openapi::pending_confirmation)]
    status: &'static str,
    #[schema(example = "stadtmitte")]
    office: String,
    #[schema(format = DateTime, example = "2026-12-01T08:12:00+01:00")]
    start: String,
    #[schema(format = DateTime, example = "2026-12-01T08:24:00+01:00")]
    end: String,
    /// Unconfirmed by then (via the mail's confirm link), the booking lapses and frees its units.
    #[schema(format = DateTime, example = "2026-11-28T12:00:00+01:00")]
    confirm_by: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/bookings",
    tag = "bookings",
    summary = "Request a booking",
    description = "Holds the units of one lane from `start` for the summed duration of the services and \
        mails the citizen a confirm link and a cancel link. Unconfirmed after `--confirm-ttl`, the \
        booking lapses and frees its units.",
    request_body = BookingBody,
    responses(
        (status = 201, description = "Requested; waiting for the citizen's confirmation.", body = BookingAnswer),
        (status = 400, description = MALFORMED_JSON, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office or service.",
         body = Problem, content_type = PROBLEM),
        (status = 409, description = "`/problems/slot-taken`: no lane offers free units starting exactly at \
            `start` (taken, held, or never published). `/problems/too-many-open-bookings`: this e-mail \
            address already has as many open bookings as allowed. `/problems/overlapping-booking`: this \
            e-mail address already has a booking (pending or confirmed) whose time intersects this one's.", body = Problem, content_type = PROBLEM),
        (status = 403, description = PROOF_OF_WORK_REFUSED, body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: bad e-mail, name or phone, not 1–10 \
            services or one named twice, `start` not an RFC 3339 instant, in the past, beyond the \
            booking horizon or at a DST change, or a field missing or of the wrong type.",
         body = Problem, content_type = PROBLEM),
        (status = 429, description = RATE_LIMITED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
    )
)]
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
        &state.availability,
        &state.link_secret,
        state.booking_policy,
        state.new_cause(Actor::Citizen),
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
    let citizen = body.citizen.parse()?;
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
                // Still behind after catching up once: the unit is not the public's yet.
                E::SlotTaken { .. } | E::WaitlistBehind(_) => {
                    Problem::new(StatusCode::CONFLICT, "slot-taken", "Slot taken", detail)
                }
                E::TooManyOpenBookings { .. } => Problem::new(
                    StatusCode::CONFLICT,
                    "too-many-open-bookings",
                    "Too many open bookings",
                    detail,
                ),
                E::OverlapsOwnBooking { .. } => Problem::new(
                    StatusCode::CONFLICT,
                    "overlapping-booking",
                    "Overlapping booking",
                    detail,
                ),
                // The API books under fresh ids; a repeated id is a conflict too.
                E::AlreadyRequested(_) => {
                    Problem::new(StatusCode::CONFLICT, "already-requested", "Already requested", detail)
                }
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
pub(super) fn local_instant(zone: OfficeTimeZone, instant: DateTime<Utc>) -> String {
    zone.to_local(instant).to_rfc3339_opts(SecondsFormat::Secs, false)
}
