//! Wishes (API.md "Wishes — the Terminagent").

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Weekday;
use serde::{Deserialize, Serialize};
use terminagent_domain::Actor;
use terminagent_domain::{LocalDate, OfficeId, ServiceId, WeeklyWindows, WishError};

use super::AppState;
use super::bookings::CitizenBody;
use super::extract::JsonBody;
use super::openapi::{
    BODY_TOO_LARGE, CONTENDED, INTERNAL, MALFORMED_JSON, PROBLEM, PROOF_OF_WORK_REFUSED, RATE_LIMITED,
    UNSUPPORTED_MEDIA_TYPE,
};
use super::problem::Problem;
use crate::application::{RegisterWishError, WishRequest, register_wish};

/// A wish: offices, services and the hours the citizen can come.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = WishRequest)]
pub struct WishBody {
    /// 1–20 distinct office slugs; any of them will do.
    #[schema(min_items = 1, max_items = 20, example = json!(["stadtmitte", "hamborn"]))]
    offices: Vec<String>,
    /// 1–10 distinct service slugs; a proposal lasts their summed duration.
    #[schema(min_items = 1, max_items = 10, example = json!(["personalausweis"]))]
    services: Vec<String>,
    /// Weekday (`mon`…`sun`) → office-local start hours 0–23; a unit starting
    /// 08:00–08:59 matches hour 8. At least one hour in all.
    #[schema(value_type = Object, example = json!({"mon": [8, 9], "fri": [12]}))]
    windows: BTreeMap<String, Vec<u32>>,
    citizen: CitizenBody,
    /// The last office-local date a proposal may fall on; after it the search ends.
    #[schema(format = Date, example = "2027-01-31")]
    until: Option<String>,
}

/// A registered wish: it waits for its confirmation by mail link, and from
/// then on for capacity, in the order wishes were confirmed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = WishRegistered)]
pub struct WishAnswer {
    /// ULID of the wish.
    #[schema(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$", example = "01JE5Q3K8Y2X4N6P7R9S0T1V2W")]
    wish_id: String,
    #[schema(schema_with = super::openapi::pending_confirmation)]
    status: &'static str,
    /// Until when the confirm link works (UTC); unconfirmed by then, the wish lapses.
    #[schema(format = DateTime, example = "2026-12-01T10:30:00Z")]
    confirm_by: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/wishes",
    tag = "wishes",
    summary = "Register a wish",
    description = "Registers the wish as pending confirmation and mails the citizen a confirm link \
        (`confirm_wish`, valid for `--confirm-ttl`). Only pressing it queues the wish, behind every wish \
        confirmed before; unconfirmed, the wish lapses and is offered nothing. Once confirmed, the citizen \
        gets a mail with a link to end the search. When matching units are free, the earliest-confirmed \
        waiting wish that matches gets a proposal: the units are held for `--proposal-ttl` and a mail offers accept, decline and end links.",
    request_body = WishBody,
    responses(
        (status = 201, description = "Registered; pending confirmation by mail link.", body = WishAnswer),
        (status = 400, description = MALFORMED_JSON, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office or service.",
         body = Problem, content_type = PROBLEM),
        (status = 409, description = "`/problems/duplicate-wish`: this e-mail address already has a waiting \
            (or not yet confirmed) wish for the same set of services.", body = Problem, content_type = PROBLEM),
        (status = 403, description = PROOF_OF_WORK_REFUSED, body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 415, description = UNSUPPORTED_MEDIA_TYPE, body = Problem, content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: bad e-mail, name or phone; not 1–20 \
            offices or 1–10 services, or one named twice; a weekday key other than `mon`…`sun`, an hour \
            outside 0–23 or no hour at all; `until` not a date or already over; a field missing or of \
            the wrong type.",
         body = Problem, content_type = PROBLEM),
        (status = 429, description = RATE_LIMITED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
    )
)]
pub async fn create_wish(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<WishBody>,
) -> Result<(StatusCode, Json<WishAnswer>), Problem> {
    let request = parse_request(body)?;
    let registered = register_wish(
        &state.executor,
        &state.link_secret,
        state.booking_policy.confirm_ttl,
        state.new_cause(Actor::Citizen),
        request,
    )
    .await
    .map_err(|error| wish_problem(&state, error))?;
    Ok((
        StatusCode::CREATED,
        Json(WishAnswer {
            wish_id: registered.wish.to_string(),
            status: "pending_confirmation",
            confirm_by: registered.confirm_by.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
    ))
}

/// Parses the weekday → hours object of API.md.
pub(super) fn parse_windows<'a>(
    windows: impl IntoIterator<Item = (&'a str, &'a [u32])>,
) -> Result<WeeklyWindows, Problem> {
    let mut hours = Vec::new();
    for (key, key_hours) in windows {
        let weekday = match key {
            "mon" => Weekday::Mon,
            "tue" => Weekday::Tue,
            "wed" => Weekday::Wed,
            "thu" => Weekday::Thu,
            "fri" => Weekday::Fri,
            "sat" => Weekday::Sat,
            "sun" => Weekday::Sun,
            other => {
                return Err(Problem::invalid(format!(
                    "windows: {other:?} is not a weekday; use mon, tue, wed, thu, fri, sat, sun"
                )));
            }
        };
        hours.extend(key_hours.iter().map(|&hour| (weekday, hour)));
    }
    WeeklyWindows::new(hours).map_err(|error| Problem::invalid(format!("windows: {error}")))
}

fn parse_request(body: WishBody) -> Result<WishRequest, Problem> {
    // A malformed id cannot name anything that exists.
    let offices = body
        .offices
        .iter()
        .map(|office| OfficeId::parse(office).map_err(|_| Problem::not_found(format!("no office {office:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let services = body
        .services
        .iter()
        .map(|service| ServiceId::parse(service).map_err(|_| Problem::not_found(format!("no service {service:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let windows = parse_windows(body.windows.iter().map(|(key, hours)| (key.as_str(), hours.as_slice())))?;
    let until = body
        .until
        .as_deref()
        .map(LocalDate::parse)
        .transpose()
        .map_err(|error| Problem::invalid(format!("until: {error}")))?;
    Ok(WishRequest {
        offices,
        services,
        windows,
        until,
        citizen: body.citizen.parse()?,
    })
}

pub(super) fn wish_problem(state: &AppState, error: RegisterWishError) -> Problem {
    match error {
        RegisterWishError::Decision(error) => state.execute_problem(error, |rejected| {
            use WishError as E;
            let detail = rejected.to_string();
            match rejected {
                E::UnknownOffice(_) | E::UnknownService(_) => Problem::not_found(detail),
                E::DuplicateWish { .. } => {
                    Problem::new(StatusCode::CONFLICT, "duplicate-wish", "Duplicate wish", detail)
                }
                _ => Problem::invalid(detail),
            }
        }),
        RegisterWishError::Vault(error) => Problem::internal(&error),
    }
}
