//! Offices, services and capacity (API.md "Catalogue and capacity").

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use terminagent_domain::Permission;
use terminagent_domain::{
    CapacityDecider, CapacityError, CatalogueEvent, CatalogueName, ClosedDays, HolidayRegion, LocalDate, LocalTime,
    MAX_CLOSED_DAYS, OfficeAddress, OfficeDecider, OfficeId, OfficeTimeZone, OpeningHours, PublishCapacity,
    RegisterOffice, RegisterService, RegistrationOutcome, ServiceDecider, ServiceDescription, ServiceError, ServiceId,
    StreamName,
};

use super::AppState;
use super::auth::Access;
use super::extract::{JsonBody, PathParam};
use super::openapi::{
    BODY_TOO_LARGE, CONTENDED, FORBIDDEN, INTERNAL, MALFORMED_JSON_OR_PATH, PROBLEM, THROTTLED, UNAUTHORIZED,
    UNSUPPORTED_MEDIA_TYPE,
};
use super::problem::Problem;
use crate::projections::{OfficeEntry, OpeningHoursSchema, ServiceEntry};

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
    /// Weekly opening hours, office-local; capacity outside them is refused.
    /// Left out or `null`: no fixed hours (capacity at any time). A PUT replaces
    /// all details, so hours left out are cleared.
    #[serde(default)]
    #[schema(value_type = Option<OpeningHoursSchema>)]
    opening_hours: Option<serde_json::Value>,
    /// Holiday region, the ISO 3166-2 code of a German state (`DE-BW` … `DE-TH`);
    /// its statewide public holidays are closed days. Left out or `null`: none.
    #[serde(default)]
    #[schema(pattern = "^DE-[A-Z]{2}$", example = "DE-NW")]
    holidays: Option<String>,
    /// The office's own closed days (`YYYY-MM-DD`), beyond its hours and public
    /// holidays; repeats collapse. An extension beyond API.md.
    #[serde(default)]
    #[schema(value_type = Vec<String>, format = Date, max_items = 366, example = json!(["2026-12-24"]))]
    closed_days: Vec<String>,
}

impl OfficeBody {
    fn into_command(self, office: OfficeId) -> Result<RegisterOffice, Problem> {
        let opening_hours = self
            .opening_hours
            .filter(|hours| !hours.is_null())
            .map(serde_json::from_value::<OpeningHours>)
            .transpose()
            .map_err(|e| Problem::invalid(format!("opening_hours: {e}")))?;
        let holidays = self
            .holidays
            .as_deref()
            .map(HolidayRegion::parse)
            .transpose()
            .map_err(|e| Problem::invalid(format!("holidays: {e}")))?;
        // Checked before parsing, so an oversized list costs no parsing.
        if self.closed_days.len() > MAX_CLOSED_DAYS {
            return Err(Problem::invalid(format!(
                "closed_days: at most {MAX_CLOSED_DAYS} days, not {}",
                self.closed_days.len()
            )));
        }
        let closed_days = self
            .closed_days
            .iter()
            .map(|day| LocalDate::parse(day))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Problem::invalid(format!("closed_days: {e}")))?;
        Ok(RegisterOffice {
            office,
            name: CatalogueName::parse(&self.name).map_err(|e| Problem::invalid(format!("name: {e}")))?,
            address: OfficeAddress::parse(&self.address).map_err(|e| Problem::invalid(format!("address: {e}")))?,
            timezone: OfficeTimeZone::parse(&self.timezone).map_err(|e| Problem::invalid(format!("timezone: {e}")))?,
            opening_hours,
            holidays,
            closed_days: ClosedDays::new(closed_days).map_err(|e| Problem::invalid(format!("closed_days: {e}")))?,
        })
    }
}

#[utoipa::path(
    put,
    path = "/api/v1/offices/{office}",
    tag = "catalogue",
    summary = "Register an office or change its details",
    description = "Idempotent: the same details again change nothing and answer 200. Every detail \
        is replaced: opening hours, holiday region or closed days left out are cleared. Capacity \
        published before a change stays.",
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
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: the slug, name, address or time zone \
            is not acceptable; the opening hours are malformed (an interval not ending after it starts, \
            intervals of a day overlapping or touching, more than 4 a day, an unknown weekday key, no day \
            open); the holiday region is unknown; a closed day is not a date or there are more than 366; \
            or a field is missing or of the wrong type.", body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
    )
)]
pub async fn put_office(
    access: Access,
    State(state): State<AppState>,
    PathParam(office): PathParam<String>,
    JsonBody(body): JsonBody<OfficeBody>,
) -> Result<(StatusCode, Json<OfficeEntry>), Problem> {
    let office = OfficeId::parse(&office).map_err(|e| Problem::invalid(format!("office id {office:?}: {e}")))?;
    // Admins register offices and change anything; a lead may change the
    // calendar (hours, holidays, closed days) of an existing office of
    // theirs, and nothing else of it.
    let lead_only = match access.require(Permission::ManageCatalogue, None) {
        Ok(()) => None,
        Err(forbidden) => {
            access.require(Permission::EditOpeningHours, Some(&office))?;
            Some(forbidden)
        }
    };
    let command = body.into_command(office)?;
    if let Some(forbidden) = lead_only {
        let catalogue = state.catalogue.read();
        let unchanged = catalogue.office(&command.office).is_some_and(|current| {
            current.name == command.name.as_str()
                && current.address == command.address.as_str()
                && current.timezone == command.timezone.to_string()
        });
        if !unchanged {
            return Err(forbidden);
        }
    }
    let streams = [StreamName::office(&command.office)];
    let events = state
        .executor
        .execute::<OfficeDecider>(&streams, state.new_cause(access.actor()), |_| command.clone())
        .await
        .map_err(|error| state.execute_problem(error, |never| match never {}))?;
    state.catch_up_views().await?;
    Ok((
        registration_status(&events),
        Json(OfficeEntry::from(&command.details())),
    ))
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
    /// Whether a kiosk may issue walk-in tickets for it; default false.
    #[serde(default)]
    walk_in: bool,
    /// What a citizen brings, plain text (no HTML), up to 2000 characters;
    /// line breaks allowed, a blank line separates paragraphs. The office
    /// pages show it under "Was Sie mitbringen müssen". Left out, `null` or
    /// blank: none (a PUT replaces all details, so leaving it out clears it).
    #[serde(default)]
    #[schema(max_length = 2000, example = "Personalausweis\nein Passfoto")]
    description: Option<String>,
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
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: the slug or name is not acceptable, \
            the duration is outside 1–480 minutes, the description is longer than 2000 characters or \
            holds control characters other than line breaks, or a field is missing or of the wrong type.",
         body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
    )
)]
pub async fn put_service(
    access: Access,
    State(state): State<AppState>,
    PathParam(service): PathParam<String>,
    JsonBody(body): JsonBody<ServiceBody>,
) -> Result<(StatusCode, Json<ServiceEntry>), Problem> {
    access.require(Permission::ManageCatalogue, None)?;
    let command = RegisterService {
        service: ServiceId::parse(&service).map_err(|e| Problem::invalid(format!("service id {service:?}: {e}")))?,
        name: CatalogueName::parse(&body.name).map_err(|e| Problem::invalid(format!("name: {e}")))?,
        duration_minutes: body.duration_minutes,
        walk_in: body.walk_in,
        description: body
            .description
            .as_deref()
            .filter(|text| !text.trim().is_empty())
            .map(ServiceDescription::parse)
            .transpose()
            .map_err(|e| Problem::invalid(format!("description: {e}")))?,
    };
    let streams = [StreamName::service(&command.service)];
    let events = state
        .executor
        .execute::<ServiceDecider>(&streams, state.new_cause(access.actor()), |_| command.clone())
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
        walk_in: command.walk_in,
        description: command.description.map(String::from),
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
        existing unit of the same lane, nothing is added (409). An office with opening hours, a \
        holiday region or closed days takes capacity only on open days and inside the hours (409 \
        otherwise). A booking of services with summed duration D takes ⌈D/unit⌉ consecutive free \
        units of one lane.",
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
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office.", body = Problem, content_type = PROBLEM),
        (status = 409, description = "`/problems/capacity-overlap`: a new unit would overlap an existing \
            unit of the same lane; nothing was added. `/problems/office-closed`: the date is a public holiday \
            of the office's holiday region or one of its closed days, or a unit lies outside the office's \
            opening hours of that weekday; the detail says which.", body = Problem, content_type = PROBLEM),
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
    access: Access,
    State(state): State<AppState>,
    PathParam(office): PathParam<String>,
    JsonBody(body): JsonBody<CapacityBody>,
) -> Result<(StatusCode, Json<CapacityAnswer>), Problem> {
    let office = OfficeId::parse(&office).map_err(|_| Problem::not_found(format!("no office {office:?}")))?;
    access.require(Permission::PublishCapacity, Some(&office))?;
    let date = LocalDate::parse(&body.date).map_err(|e| Problem::invalid(format!("date: {e}")))?;
    let from = LocalTime::parse(&body.from).map_err(|e| Problem::invalid(format!("from: {e}")))?;
    let to = LocalTime::parse(&body.to).map_err(|e| Problem::invalid(format!("to: {e}")))?;
    let streams = [
        StreamName::office(&office),
        StreamName::office_day(&office, date.into()),
    ];
    let events = state
        .executor
        .execute::<CapacityDecider>(&streams, state.new_cause(access.actor()), |now| PublishCapacity {
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
        CapacityError::OfficeClosed { .. } => Problem::new(
            StatusCode::CONFLICT,
            "office-closed",
            "Office closed",
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
