//! Free slots (API.md "Availability").

use axum::Json;
use axum::extract::{Query, State};
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use terminagent_domain::booking::MAX_BOOKING_SERVICES;
use terminagent_domain::{LocalDate, OfficeId, OfficeTimeZone, ServiceId};

use super::AppState;
use super::bookable::bookable_slots;
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

#[derive(Debug, Serialize)]
pub struct AvailabilityAnswer {
    slots: Vec<Slot>,
}

#[derive(Debug, Serialize)]
pub struct Slot {
    office: String,
    start: String,
    end: String,
    free: u16,
}

pub async fn availability(
    State(state): State<AppState>,
    Query(query): Query<AvailabilityQuery>,
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
        let mut needed = 0;
        for service in &services {
            let entry = ServiceId::parse(service)
                .ok()
                .and_then(|id| catalogue.service(&id).cloned())
                .ok_or_else(|| Problem::not_found(format!("no service {service:?}")))?;
            needed += entry.duration_minutes;
        }
        (zone, needed)
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
