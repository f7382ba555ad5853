//! `GET /api/v1/offices/{office}/days/{date}`: the office's day list with
//! names, for its clerks. Every read of names is recorded as an event
//! (`personal_data.read`, under the reader) before the names go out.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use terminagent_domain::{
    Actor, DayListRead, DayListReadDecider, LocalDate, OfficeId, OfficeTimeZone, Permission, PersonalData, StreamName,
};
use terminagent_eventstore::{Opened, SealedEnvelope};

use super::AppState;
use super::auth::Access;
use super::bookings::local_instant;
use super::extract::PathParam;
use super::openapi::{FORBIDDEN, INTERNAL, PROBLEM, THROTTLED, UNAUTHORIZED};
use super::problem::Problem;
use crate::projections::DayListEntry;

/// One booking of the day.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayListBooking {
    booking_id: String,
    #[schema(format = DateTime, example = "2026-12-01T08:12:00+01:00")]
    start: String,
    #[schema(format = DateTime, example = "2026-12-01T08:24:00+01:00")]
    end: String,
    /// The lane (counter timeline) its units are on.
    #[schema(minimum = 1, example = 1)]
    lane: u16,
    services: Vec<String>,
    /// The waiting number, once confirmed.
    #[schema(example = "17")]
    number: Option<String>,
    /// `pending_confirmation`, `confirmed`, `cancelled`, `lapsed`, or from
    /// check-in on the visit's state on the floor: `checked_in`, `called`,
    /// `serving`, `parked`, `finished`, `missed`.
    #[schema(example = "confirmed")]
    status: String,
    /// The citizen's name; null once erased and for walk-ins.
    name: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayList {
    bookings: Vec<DayListBooking>,
}

#[utoipa::path(
    get,
    path = "/api/v1/offices/{office}/days/{date}",
    tag = "staff",
    summary = "An office's day list, with names",
    description = "Clerks and leads of the office, admins. Sorted by start. Each read is recorded \
        (`personal_data.read`, with the reader as actor) for the data protection officer.",
    params(
        ("office" = String, Path, description = "The office's slug.", example = "stadtmitte"),
        ("date" = String, Path, description = "Office-local date.", example = "2026-12-01"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The day's bookings.", body = DayList),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office.", body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: the date is not `YYYY-MM-DD`.", body = Problem,
         content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn day_list(
    access: Access,
    State(state): State<AppState>,
    PathParam((office, date)): PathParam<(String, String)>,
) -> Result<Json<DayList>, Problem> {
    let office = OfficeId::parse(&office).map_err(|_| Problem::not_found(format!("no office {office:?}")))?;
    access.require(Permission::ReadDayList, Some(&office))?;
    let date = LocalDate::parse(&date).map_err(|e| Problem::invalid(format!("date: {e}")))?;
    let (zone, rows) = read_day_list(&state, access.actor(), &office, date, |_| true).await?;
    let bookings = rows
        .into_iter()
        .map(|NamedEntry { entry, name }| DayListBooking {
            booking_id: entry.booking.to_string(),
            start: local_instant(zone, entry.start),
            end: local_instant(zone, entry.end),
            lane: entry.lane,
            services: entry.services.iter().map(ToString::to_string).collect(),
            number: entry.number.map(|n| n.to_string()),
            status: entry.status.as_str().to_owned(),
            name,
        })
        .collect();
    Ok(Json(DayList { bookings }))
}

/// One booking of the day list with the citizen's name opened (`None` once
/// erased, and for bookings without personal data).
pub(crate) struct NamedEntry {
    pub entry: DayListEntry,
    pub name: Option<String>,
}

/// The bookings of an office-day that `keep` admits, sorted by start, with
/// their names, and the office's zone. The read of those names is recorded
/// first (`personal_data.read` under `reader`), so no name goes out
/// unrecorded: the JSON endpoint and the staff page both read through here.
/// 404 when the office is unknown.
pub(crate) async fn read_day_list(
    state: &AppState,
    reader: Actor,
    office: &OfficeId,
    date: LocalDate,
    keep: impl Fn(&DayListEntry) -> bool,
) -> Result<(OfficeTimeZone, Vec<NamedEntry>), Problem> {
    let zone: OfficeTimeZone = state
        .catalogue
        .read()
        .office(office)
        .and_then(|entry| entry.timezone.parse().ok())
        .ok_or_else(|| Problem::not_found(format!("no office {office}")))?;
    let entries: Vec<DayListEntry> = state
        .day_list
        .read()
        .day(office, date.as_naive())
        .into_iter()
        .filter(|entry| keep(entry))
        .collect();
    let names = entries.iter().filter(|entry| entry.citizen.is_some()).count() as u32;
    if names > 0 {
        let read = DayListRead {
            office: office.clone(),
            date,
            names,
        };
        state
            .executor
            .execute::<DayListReadDecider>(
                &[StreamName::day_list_reads(office, date.as_naive())],
                state.new_cause(reader),
                |_| read.clone(),
            )
            .await
            .map_err(|error| state.execute_problem(error, |never| match never {}))?;
    }
    let mut rows = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = citizen_name(state, &entry).await?;
        rows.push(NamedEntry { entry, name });
    }
    Ok((zone, rows))
}

/// The name in the booking's envelope; `None` once erased.
async fn citizen_name(state: &AppState, entry: &DayListEntry) -> Result<Option<String>, Problem> {
    let Some(citizen) = &entry.citizen else {
        return Ok(None);
    };
    let sealed = SealedEnvelope {
        envelope_id: citizen.envelope_id.as_ulid(),
        nonce: citizen.nonce.clone(),
        ciphertext: citizen.ciphertext.clone(),
    };
    match state.executor.store().vault().open::<PersonalData>(&sealed).await {
        Ok(Opened::Readable(data)) => Ok(Some(data.name.to_string())),
        Ok(Opened::Erased) => Ok(None),
        Err(error) => Err(Problem::internal(&error)),
    }
}
