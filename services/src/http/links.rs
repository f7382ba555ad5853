//! Mail links (API.md "Mail links"): `/api/v1/links/{token}` for programs;
//! the pages for people at `/links/{token}` (`pages/links.rs`) share the
//! lookup and the press.

use axum::Json;
use axum::extract::{Path, State};
use chrono::SecondsFormat;
use serde::Serialize;
use terminagent_domain::{BookingStatus, LinkAction, OfficeTimeZone};

use super::AppState;
use super::problem::Problem;
use crate::application::{LinkOutcome, follow_link, link_state};
use crate::links::LinkToken;
use crate::projections::{BookingSummary, LinkTarget};

#[derive(Debug, Serialize)]
pub struct LinkStateAnswer {
    action: LinkAction,
    state: &'static str,
}

#[derive(Debug, Serialize)]
pub struct LinkOutcomeAnswer {
    action: LinkAction,
    outcome: &'static str,
    booking: BookingAnswer,
}

#[derive(Debug, Serialize)]
pub struct BookingAnswer {
    booking_id: String,
    office: String,
    start: String,
    end: String,
    status: &'static str,
    number: Option<String>,
}

/// The link's target and booking, or `None` for a token that names nothing.
/// A token the view does not know yet may belong to an event it has not
/// caught up with (bookings do not wait for views): look once more after
/// catching up.
pub(super) async fn resolve(state: &AppState, token: &str) -> Option<(LinkTarget, BookingSummary, OfficeTimeZone)> {
    let hash = LinkToken::parse(token)?.hash();
    if state.links.read().link(hash.as_str()).is_none() {
        state.catch_up_views().await.ok()?;
    }
    let links = state.links.read();
    let target = links.link(hash.as_str())?.clone();
    let booking = links.booking(&target.booking)?.clone();
    drop(links);
    let zone = state
        .catalogue
        .read()
        .office(&booking.office)
        .and_then(|office| OfficeTimeZone::parse(&office.timezone).ok());
    Some((
        target,
        booking,
        zone.unwrap_or_else(|| OfficeTimeZone::parse("Europe/Berlin").expect("a known zone")),
    ))
}

pub(super) async fn press(
    state: &AppState,
    target: &LinkTarget,
    booking: &BookingSummary,
) -> Result<(LinkOutcome, BookingSummary), Problem> {
    let outcome = follow_link(
        &state.executor,
        &state.link_secret,
        state.new_correlation(),
        target,
        booking,
    )
    .await
    .map_err(|error| state.execute_problem(error, |rejected| Problem::internal(&rejected)))?;
    state.catch_up_views().await?;
    let after = state
        .links
        .read()
        .booking(&target.booking)
        .cloned()
        .unwrap_or_else(|| booking.clone());
    Ok((outcome, after))
}

pub async fn show_link_json(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<LinkStateAnswer>, Problem> {
    let (target, booking, _) = resolve(&state, &token)
        .await
        .ok_or_else(|| Problem::not_found("no such link"))?;
    let link = link_state(&target, &booking, state.executor.now());
    Ok(Json(LinkStateAnswer {
        action: target.action,
        state: link.name(),
    }))
}

pub async fn press_link_json(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<LinkOutcomeAnswer>, Problem> {
    let (target, booking, zone) = resolve(&state, &token)
        .await
        .ok_or_else(|| Problem::not_found("no such link"))?;
    let (outcome, after) = press(&state, &target, &booking).await?;
    Ok(Json(LinkOutcomeAnswer {
        action: target.action,
        outcome: outcome.name(),
        booking: booking_answer(&after, zone),
    }))
}

fn booking_answer(booking: &BookingSummary, zone: OfficeTimeZone) -> BookingAnswer {
    let local = |instant| zone.to_local(instant).to_rfc3339_opts(SecondsFormat::Secs, false);
    let (status, number) = match &booking.status {
        BookingStatus::PendingConfirmation => ("pending_confirmation", None),
        BookingStatus::Confirmed(number) => ("confirmed", Some(number.to_string())),
        BookingStatus::Cancelled => ("cancelled", None),
        BookingStatus::Lapsed => ("lapsed", None),
    };
    BookingAnswer {
        booking_id: booking.booking.to_string(),
        office: booking.office.to_string(),
        start: local(booking.start),
        end: local(booking.end),
        status,
        number,
    }
}
