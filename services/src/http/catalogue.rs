//! Offices, services and capacity (API.md "Catalogue and capacity").

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use terminagent_domain::Actor;
use terminagent_domain::{
    CapacityDecider, CapacityError, CatalogueEvent, CatalogueName, LocalDate, LocalTime, OfficeAddress, OfficeDecider,
    OfficeId, OfficeTimeZone, PublishCapacity, RegisterOffice, RegisterService, RegistrationOutcome, ServiceDecider,
    ServiceError, ServiceId, StreamName,
};

use super::AppState;
use super::auth::StaffAccess;
use super::extract::{JsonBody, PathParam};
use super::openapi::{
    BODY_TOO_LARGE, CONTENDED, INTERNAL, MALFORMED_JSON_OR_PATH, PROBLEM, UNAUTHORIZED, UNSUPPORTED_MEDIA_TYPE,
};
use super::problem::Problem;
use crate::projections::{OfficeEntry, ServiceEntry};

/// An office's details.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = OfficeRequest)]
pub struct OfficeBody {
    /// 1–200 characters after trimming, no control characters.
    #[schema(min_length = 1, max_length = 200, example = "Bürger-Service-Station Stadtmitte")]
    name: String,
    /// Postal address: up to 500 characters, line breaks allowed; empty when left out.
    #[serde(default)]
    #[schema(max_length = 500, example = "Sonnenwall 73-75, 47051 Duisburg")]
    address: String,
    /// IANA time zone name.
    #[schema(example = "Europe/Berlin")]
    timezone: String,
}

#[utoipa::path(
    put,
    path = "/api/v1/offices/{office}",
    tag = "catalogue",
    summary = "Register an office or change its details",
    description = "Idempotent: the same details again change nothing and answer 200.",
    params(
        ("office" = String, Path, description = "The office's slug, chosen by staff.",
         pattern = "^[a-z0-9-]{1,64}$", example = "stadtmitte"),
    ),
    request_body = OfficeBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The office existed; its details are now these.", body = OfficeEntry),
        (status = 201, description = "The office is registered.", body = OfficeEntry),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM,
         headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: the slug, name, address or time zone \
            is not acceptable, or a field is missing or of the wrong type.", body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
    )
)]
pub async fn put_office(
    _: StaffAccess,
    State(state): State<AppState>,
    PathParam(office): PathParam<String>,
    JsonBody(body): JsonBody<OfficeBody>,
) -> Result<(StatusCode, Json<OfficeEntry>), Problem> {
    let command = RegisterOffice {
        office: OfficeId::parse(&office).map_err(|e| Problem::invalid(format!("office id {office:?}: {e}")))?,
        name: CatalogueName::parse(&body.name).map_err(|e| Problem::invalid(format!("name: {e}")))?,
        address: OfficeAddress::parse(&body.address).map_err(|e| Problem::invalid(format!("address: {e}")))?,
        timezone: OfficeTimeZone::parse(&body.timezone).map_err(|e| Problem::invalid(format!("timezone: {e}")))?,
    };
    let streams = [StreamName::office(&command.office)];
    let events = state
        .executor
        .execute::<OfficeDecider>(&streams, state.new_cause(Actor::Operator), |_| command.clone())
        .await
        .map_err(|error| state.execute_problem(error, |never| match never {}))?;
    state.catch_up_views().await?;
    let entry = OfficeEntry {
        id: command.office.to_string(),
        name: command.name.to_string(),
        address: command.address.to_string(),
        timezone: command.timezone.to_string(),
    };
    Ok((registration_status(&events), Json(entry)))
}

#[utoipa::path(
    get,
    path = "/api/v1/offices",
    tag = "catalogue",
    summary = "List the offices",
    responses((status = 200, description = "Every office, ordered by id.", body = Vec<OfficeEntry>))
)]
pub async fn list_offices(State(state): State<AppState>) -> Json<Vec<OfficeEntry>> {
    Json(state.catalogue.read().offices().cloned().collect())
}

/// A service's details.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = ServiceRequest)]
pub struct ServiceBody {
    /// 1–200 characters after trimming, no control characters.
    #[schema(min_length = 1, max_length = 200, example = "Personalausweis")]
    name: String,
    /// Minutes one booking of this service takes; a booking of several takes their sum.
    #[schema(minimum = 1, maximum = 480, example = 12)]
    duration_minutes: u32,
}

#[utoipa::path(
    put,
    path = "/api/v1/services/{service}",
    tag = "catalogue",
    summary = "Register a service or change its details",
    description = "Idempotent: the same details again change nothing and answer 200.",
    params(
        ("service" = String, Path, description = "The service's slug, chosen by staff.",
         pattern = "^[a-z0-9-]{1,64}$", example = "personalausweis"),
    ),
    request_body = ServiceBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The service existed; its details are now these.", body = ServiceEntry),
        (status = 201, description = "The service is registered.", body = ServiceEntry),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM,
         headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: the slug or name is not acceptable, \
            the duration is outside 1–480 minutes, or a field is missing or of the wrong type.",
         body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
    )
)]
pub async fn put_service(
    _: StaffAccess,
    State(state): State<AppState>,
    PathParam(service): PathParam<String>,
    JsonBody(body): JsonBody<ServiceBody>,
) -> Result<(StatusCode, Json<ServiceEntry>), Problem> {
    let command = RegisterService {
        service: ServiceId::parse(&service).map_err(|e| Problem::invalid(format!("service id {service:?}: {e}")))?,
        name: CatalogueName::parse(&body.name).map_err(|e| Problem::invalid(format!("name: {e}")))?,
        duration_minutes: body.duration_minutes,
    };
    let streams = [StreamName::service(&command.service)];
    let events = state
        .executor
        .execute::<ServiceDecider>(&streams, state.new_cause(Actor::Operator), |_| command.clone())
        .await
        .map_err(|error| {
            state.execute_problem(error, |rejected| match rejected {
                ServiceError::DurationOutOfRange(_) => Problem::invalid(rejected.to_string()),
            })
        })?;
    state.catch_up_views().await?;
    let entry = ServiceEntry {
        id: command.service.to_string(),
        name: command.name.to_string(),
        duration_minutes: command.duration_minutes,
    };
    Ok((registration_status(&events), Json(entry)))
}

#[utoipa::path(
    get,
    path = "/api/v1/services",
    tag = "catalogue",
    summary = "List the services",
    responses((status = 200, description = "Every service, ordered by id.", body = Vec<ServiceEntry>))
)]
pub async fn list_services(State(state): State<AppState>) -> Json<Vec<ServiceEntry>> {
    Json(state.catalogue.read().services().cloned().collect())
}

/// Capacity for one office and date: `lanes` × ⌊(`to` − `from`) / `unit_minutes`⌋ units.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = CapacityRequest)]
pub struct CapacityBody {
    /// Local date in the office's zone.
    #[schema(format = Date, example = "2026-12-01")]
    date: String,
    /// Local start time of the first unit, `HH:MM`.
    #[schema(pattern = "^[0-2][0-9]:[0-5][0-9]$", example = "08:00")]
    from: String,
    /// Local end time, `HH:MM`; units that do not fit before it are not published.
    #[schema(pattern = "^[0-2][0-9]:[0-5][0-9]$", example = "12:00")]
    to: String,
    /// Length of one unit in minutes.
    #[schema(minimum = 1, maximum = 240, example = 12)]
    unit_minutes: u32,
    /// Number of lanes (counters' timelines), published as lanes 1…`lanes`.
    #[schema(minimum = 1, maximum = 64, example = 2)]
    lanes: u16,
}

/// What a capacity publication added.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CapacityAnswer {
    /// Units published, over all lanes.
    #[schema(example = 40)]
    units: u32,
}

#[utoipa::path(
    post,
    path = "/api/v1/offices/{office}/capacity",
    tag = "catalogue",
    summary = "Publish capacity for an office and date",
    description = "Publishes `lanes × ⌊(to−from)/unit_minutes⌋` units in lanes 1…`lanes`. A later \
        publication for the same date adds units to those lanes; if any new unit would overlap an \
        existing unit of the same lane, nothing is added (409). A booking of services with summed \
        duration D takes ⌈D/unit⌉ consecutive free units of one lane.",
    params(
        ("office" = String, Path, description = "The office's slug.",
         pattern = "^[a-z0-9-]{1,64}$", example = "stadtmitte"),
    ),
    request_body = CapacityBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The units are published.", body = CapacityAnswer),
        (status = 400, description = MALFORMED_JSON_OR_PATH, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM,
         headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 404, description = "`/problems/not-found`: no such office.", body = Problem, content_type = PROBLEM),
        (status = 409, description = "`/problems/capacity-overlap`: a new unit would overlap an existing \
            unit of the same lane; nothing was added.", body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: a date or time that does not parse, \
            `to` not after `from` or shorter than one unit, `unit_minutes` outside 1–240, `lanes` outside \
            1–64, a date in the past, a unit boundary that is not a unique local time (DST change), \
            or a field missing or of the wrong type.",
         body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
    )
)]
pub async fn publish_capacity(
    _: StaffAccess,
    State(state): State<AppState>,
    PathParam(office): PathParam<String>,
    JsonBody(body): JsonBody<CapacityBody>,
) -> Result<(StatusCode, Json<CapacityAnswer>), Problem> {
    let office = OfficeId::parse(&office).map_err(|_| Problem::not_found(format!("no office {office:?}")))?;
    let date = LocalDate::parse(&body.date).map_err(|e| Problem::invalid(format!("date: {e}")))?;
    let from = LocalTime::parse(&body.from).map_err(|e| Problem::invalid(format!("from: {e}")))?;
    let to = LocalTime::parse(&body.to).map_err(|e| Problem::invalid(format!("to: {e}")))?;
    let streams = [
        StreamName::office(&office),
        StreamName::office_day(&office, date.into()),
    ];
    let events = state
        .executor
        .execute::<CapacityDecider>(&streams, state.new_cause(Actor::Operator), |now| PublishCapacity {
            office: office.clone(),
            date,
            from,
            to,
            unit_minutes: body.unit_minutes,
            lanes: body.lanes,
            now,
        })
        .await
        .map_err(|error| state.execute_problem(error, capacity_problem))?;
    state.catch_up_views().await?;
    let units = events.iter().map(CatalogueEvent::units_published).sum();
    Ok((StatusCode::CREATED, Json(CapacityAnswer { units })))
}

fn capacity_problem(error: CapacityError) -> Problem {
    match &error {
        CapacityError::UnknownOffice(_) => Problem::not_found(error.to_string()),
        CapacityError::Overlap { .. } => Problem::new(
            StatusCode::CONFLICT,
            "capacity-overlap",
            "Capacity overlaps",
            error.to_string(),
        ),
        _ => Problem::invalid(error.to_string()),
    }
}

fn registration_status(events: &[CatalogueEvent]) -> StatusCode {
    match RegistrationOutcome::of(events) {
        RegistrationOutcome::Created => StatusCode::CREATED,
        RegistrationOutcome::Updated | RegistrationOutcome::Unchanged => StatusCode::OK,
    }
}
