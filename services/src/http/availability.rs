//! Free slots (API.md "Availability").

use axum::Json;
use axum::extract::State;
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use terminagent_domain::booking::MAX_BOOKING_SERVICES;
use terminagent_domain::{LocalDate, OfficeId, OfficeTimeZone, ServiceId};

use super::AppState;
use super::bookable::bookable_slots;
use super::extract::QueryParams;
use super::openapi::{BAD_QUERY, INTERNAL, PROBLEM};
use super::problem::Problem;

/// Longest span one query may cover (API.md).
const MAX_DAYS: u64 = 31;

#[derive(Debug, Deserialize)]
pub struct AvailabilityQuery {
    office: Option<String>,
    services: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Free slots, sorted by start.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Availability)]
pub struct AvailabilityAnswer {
    slots: Vec<Slot>,
}

/// One start time at which a booking of the asked services fits.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Slot {
    /// The office's slug.
    #[schema(example = "stadtmitte")]
    office: String,
    /// RFC 3339 instant with the office's UTC offset.
    #[schema(format = DateTime, example = "2026-12-01T08:12:00+01:00")]
    start: String,
    /// When a booking starting here would end.
    #[schema(format = DateTime, example = "2026-12-01T08:24:00+01:00")]
    end: String,
    /// Lanes that can take the whole booking at this start.
    #[schema(minimum = 1, example = 2)]
    free: u16,
}

#[utoipa::path(
    get,
    path = "/api/v1/availability",
    tag = "availability",
    summary = "Free slots of an office for some services",
    description = "One entry per start time at which at least one lane has enough consecutive free \
        units for the summed duration of the services. Units held by a pending booking or a proposal \
        are not free, nor are units a waiting wish wants. Starts in the past and days beyond the \
        booking horizon are left out.",
    params(
        ("office" = String, Query, description = "The office's slug.", example = "stadtmitte"),
        ("services" = String, Query, description = "1–10 service slugs, comma-separated.",
         example = "personalausweis,reisepass"),
        ("from" = String, Query, format = Date, description = "First day, inclusive, in the office's zone.",
         example = "2026-12-01"),
        ("to" = String, Query, format = Date, description = "Last day, inclusive; at most 31 days from `from`.",
         example = "2026-12-05"),
    ),
    responses(
        (status = 200, description = "The free slots, sorted by start.", body = AvailabilityAnswer),
        (status = 400, description = BAD_QUERY, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office or service.",
         body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: a parameter is missing, a date does not \
            parse, `to` is before `from`, the span is longer than 31 days, or not 1–10 services are named.",
         body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn availability(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AvailabilityQuery>,
) -> Result<Json<AvailabilityAnswer>, Problem> {
    let required =
        |value: Option<String>, name: &str| value.ok_or_else(|| Problem::invalid(format!("{name} is required")));
    let office_text = required(query.office, "office")?;
    let office = OfficeId::parse(&office_text).map_err(|_| Problem::not_found(format!("no office {office_text:?}")))?;
    let services_text = required(query.services, "services")?;
    let services: Vec<&str> = services_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if !(1..=MAX_BOOKING_SERVICES).contains(&services.len()) {
        return Err(Problem::invalid(format!(
            "name 1 to {MAX_BOOKING_SERVICES} services, comma-separated"
        )));
    }
    let from = LocalDate::parse(&required(query.from, "from")?).map_err(|e| Problem::invalid(format!("from: {e}")))?;
    let to = LocalDate::parse(&required(query.to, "to")?).map_err(|e| Problem::invalid(format!("to: {e}")))?;
    let (first, last) = (from.as_naive(), to.as_naive());
    if last < first || (last - first).num_days() as u64 >= MAX_DAYS {
        return Err(Problem::invalid(format!(
            "from..to must be 1 to {MAX_DAYS} days, in order"
        )));
    }

    let (zone, needed) = {
        let catalogue = state.catalogue.read();
        let office_entry = catalogue
            .office(&office)
            .ok_or_else(|| Problem::not_found(format!("no office {office}")))?;
        let zone = OfficeTimeZone::parse(&office_entry.timezone).map_err(|e| Problem::internal(&e))?;
        let mut minutes = Vec::with_capacity(services.len());
        for service in &services {
            let entry = ServiceId::parse(service)
                .ok()
                .and_then(|id| catalogue.service(&id))
                .ok_or_else(|| Problem::not_found(format!("no service {service:?}")))?;
            minutes.push(entry.duration_minutes);
        }
        (zone, terminagent_domain::catalogue::summed_minutes(minutes))
    };

    let local = |instant| zone.to_local(instant).to_rfc3339_opts(SecondsFormat::Secs, false);
    let slots = bookable_slots(&state, &office, zone, needed, first, last)
        .into_iter()
        .map(|slot| Slot {
            office: office.to_string(),
            start: local(slot.start),
            end: local(slot.end),
            free: slot.free_lanes,
        })
        .collect();
    Ok(Json(AvailabilityAnswer { slots }))
}
