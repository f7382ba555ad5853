//! Offices, services and capacity (API.md "Catalogue and capacity").

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use terminagent_domain::{
    CapacityDecider, CapacityError, CatalogueEvent, CatalogueName, LocalDate, LocalTime, OfficeAddress, OfficeDecider,
    OfficeId, OfficeTimeZone, PublishCapacity, RegisterOffice, RegisterService, RegistrationOutcome, ServiceDecider,
    ServiceError, ServiceId, StreamName,
};

use super::AppState;
use super::auth::StaffAccess;
use super::json::JsonBody;
use super::problem::Problem;
use crate::projections::{OfficeEntry, ServiceEntry};

#[derive(Debug, Deserialize)]
pub struct OfficeBody {
    name: String,
    #[serde(default)]
    address: String,
    timezone: String,
}

pub async fn put_office(
    _: StaffAccess,
    State(state): State<AppState>,
    Path(office): Path<String>,
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
        .execute::<OfficeDecider>(&streams, state.new_correlation(), |_| command.clone())
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

pub async fn list_offices(State(state): State<AppState>) -> Json<Vec<OfficeEntry>> {
    Json(state.catalogue.read().offices().cloned().collect())
}

#[derive(Debug, Deserialize)]
pub struct ServiceBody {
    name: String,
    duration_minutes: u32,
}

pub async fn put_service(
    _: StaffAccess,
    State(state): State<AppState>,
    Path(service): Path<String>,
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
        .execute::<ServiceDecider>(&streams, state.new_correlation(), |_| command.clone())
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

pub async fn list_services(State(state): State<AppState>) -> Json<Vec<ServiceEntry>> {
    Json(state.catalogue.read().services().cloned().collect())
}

#[derive(Debug, Deserialize)]
pub struct CapacityBody {
    date: String,
    from: String,
    to: String,
    unit_minutes: u32,
    lanes: u16,
}

#[derive(Debug, Serialize)]
pub struct CapacityAnswer {
    units: u32,
}

pub async fn publish_capacity(
    _: StaffAccess,
    State(state): State<AppState>,
    Path(office): Path<String>,
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
        .execute::<CapacityDecider>(&streams, state.new_correlation(), |now| PublishCapacity {
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
