//! Mail links (API.md "Mail links"): `/api/v1/links/{token}` for programs;
//! the pages for people at `/links/{token}` (`pages/links.rs`) share the
//! lookup and the press.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::SecondsFormat;
use serde::Serialize;
use terminagent_domain::Actor;
use terminagent_domain::{BookingStatus, LinkAction, OfficeId, OfficeTimeZone, WishError};

use super::AppState;
use super::openapi::{BODY_TOO_LARGE, CONTENDED, INTERNAL, PROBLEM, RATE_LIMITED};
use super::problem::Problem;
use crate::application::{LinkContext, LinkOutcome, LinkRefusal, follow_link, link_state};
use crate::links::{LinkSecret, LinkToken};
use crate::projections::{BookingSummary, LinkTarget};

/// What a link does and whether pressing it would still act.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = LinkState)]
pub struct LinkStateAnswer {
    #[schema(schema_with = super::openapi::link_action)]
    action: LinkAction,
    #[schema(schema_with = super::openapi::link_state)]
    state: &'static str,
}

/// What pressing a link did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = LinkOutcome)]
pub struct LinkOutcomeAnswer {
    #[schema(schema_with = super::openapi::link_action)]
    action: LinkAction,
    #[schema(schema_with = super::openapi::link_outcome)]
    outcome: &'static str,
    /// The booking the link belongs to, as it is now (when there is one: a
    /// booking's links, an accepted proposal's).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    booking: Option<BookingAnswer>,
}

/// A booking as a mail link shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = LinkBooking)]
pub struct BookingAnswer {
    /// ULID of the booking.
    #[schema(pattern = "^[0-9A-HJKMNP-TV-Z]{26}$", example = "01JE5Q3K8Y2X4N6P7R9S0T1V2W")]
    booking_id: String,
    #[schema(example = "stadtmitte")]
    office: String,
    #[schema(format = DateTime, example = "2026-12-01T08:12:00+01:00")]
    start: String,
    #[schema(format = DateTime, example = "2026-12-01T08:24:00+01:00")]
    end: String,
    #[schema(schema_with = super::openapi::booking_status)]
    status: &'static str,
    /// The waiting number (1–4 digits, unique per office and day) once confirmed, else null.
    #[schema(pattern = "^[0-9]{1,4}$", example = "1112")]
    number: Option<String>,
    /// The code to check in with at the office's kiosk (also the content of
    /// the mail's QR code) once confirmed, else null.
    #[schema(pattern = "^[0-9A-HJKMNP-TV-Z]{8}$", example = "7K3M9QXD")]
    check_in_code: Option<String>,
}

/// The link's target and what it acts on, or `None` for a token that names
/// nothing. A token the view does not know yet may belong to an event it has
/// not caught up with (bookings do not wait for views): look once more after
/// catching up. Trouble reading the log is a 503, never "no such link": a
/// citizen must not be told their link does not exist during a database blip.
pub(super) async fn resolve(
    state: &AppState,
    token: &str,
) -> Result<Option<(LinkTarget, LinkContext, OfficeTimeZone)>, Problem> {
    let Some(hash) = LinkToken::parse(token).map(|token| token.hash()) else {
        return Ok(None);
    };
    if state.links.read().link(hash.as_str()).is_none() {
        state.catch_up_views().await.map_err(|problem| {
            tracing::warn!(detail = %problem.detail, "a link could not be looked up: the log is not readable");
            log_unreadable()
        })?;
    }
    let links = state.links.read();
    let Some(target) = links.link(hash.as_str()).cloned() else {
        return Ok(None);
    };
    let Some(context) = LinkContext::of(&target, &links) else {
        return Ok(None);
    };
    drop(links);
    let zone = office_of(&context).and_then(|office| {
        state
            .catalogue
            .read()
            .office(office)
            .and_then(|office| OfficeTimeZone::parse(&office.timezone).ok())
    });
    Ok(Some((
        target,
        context,
        zone.unwrap_or_else(|| OfficeTimeZone::parse("Europe/Berlin").expect("a known zone")),
    )))
}

/// A link's answer is its state at one moment, and its address is a
/// secret: no cache (browser or proxy) keeps either.
type NoStore = [(axum::http::HeaderName, axum::http::HeaderValue); 1];
const NO_STORE: NoStore = [(
    axum::http::header::CACHE_CONTROL,
    axum::http::HeaderValue::from_static("no-store"),
)];

/// 503: the link may well exist, but the log cannot be read to tell.
fn log_unreadable() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Service unavailable",
        "the log cannot be read right now; try again in a minute",
    )
}

/// The office whose clock the link's times are shown in.
fn office_of(context: &LinkContext) -> Option<&OfficeId> {
    match context {
        LinkContext::Proposal { proposal, .. } => Some(&proposal.office),
        other => other.booking().map(|booking| &booking.office),
    }
}

pub(super) async fn press(
    state: &AppState,
    target: &LinkTarget,
    context: &LinkContext,
) -> Result<(LinkOutcome, LinkContext), Problem> {
    let outcome = follow_link(
        &state.executor,
        &state.link_secret,
        state.new_cause(Actor::Citizen),
        target,
        context,
    )
    .await
    .map_err(|error| state.execute_problem(error, refused_press))?;
    state.catch_up_views().await?;
    let after = LinkContext::of(target, &state.links.read()).unwrap_or_else(|| context.clone());
    Ok((outcome, after))
}

#[utoipa::path(
    get,
    path = "/api/v1/links/{token}",
    tag = "links",
    summary = "What a mail link does, and its state",
    description = "Changes nothing.",
    params(
        ("token" = String, Path, description = "The token from the mail's link (256 bits, base64url).",
         pattern = "^[A-Za-z0-9_-]{43}$",
            example = "VeuTyJJN-Dw6kcFbBL1XIqmlMwCi-szvQcOhvsjGL3U"),
    ),
    responses(
        (status = 200, description = "The link's action and state.", body = LinkStateAnswer),
        (status = 404, description = "`/problems/not-found`: no such link.", body = Problem, content_type = PROBLEM),
        (status = 503, description = "`/problems/unavailable`: the log cannot be read right now; the link may \
            well exist.", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn show_link_json(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
) -> Result<(NoStore, Json<LinkStateAnswer>), Problem> {
    let (target, context, _) = resolve(&state, &token_text(token))
        .await?
        .ok_or_else(|| Problem::not_found("no such link"))?;
    let link = link_state(&state.executor, &state.link_secret, &target, &context)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "a link's state could not be read");
            log_unreadable()
        })?;
    Ok((
        NO_STORE,
        Json(LinkStateAnswer {
            action: target.action,
            state: link.name(),
        }),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/links/{token}",
    tag = "links",
    summary = "Press a mail link",
    description = "Does what the link says, once: the same link pressed again answers `already_done`; \
        a link whose action no longer applies (e.g. confirming a cancelled booking) answers `void`. \
        No request body.",
    params(
        ("token" = String, Path, description = "The token from the mail's link (256 bits, base64url).",
         pattern = "^[A-Za-z0-9_-]{43}$",
            example = "VeuTyJJN-Dw6kcFbBL1XIqmlMwCi-szvQcOhvsjGL3U"),
    ),
    responses(
        (status = 200, description = "What pressing it did, and the booking now.", body = LinkOutcomeAnswer),
        (status = 404, description = "`/problems/not-found`: no such link.", body = Problem, content_type = PROBLEM),
        (status = 409, description = "`/problems/overlapping-booking`: accepting the proposal would give the \
            citizen two bookings at once; the proposal stays open.", body = Problem, content_type = PROBLEM),
        (status = 413, description = BODY_TOO_LARGE, body = Problem, content_type = PROBLEM),
        (status = 429, description = RATE_LIMITED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
    )
)]
pub async fn press_link_json(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
) -> Result<(NoStore, Json<LinkOutcomeAnswer>), Problem> {
    let (target, context, zone) = resolve(&state, &token_text(token))
        .await?
        .ok_or_else(|| Problem::not_found("no such link"))?;
    let (outcome, after) = press(&state, &target, &context).await?;
    Ok((
        NO_STORE,
        Json(LinkOutcomeAnswer {
            action: target.action,
            outcome: outcome.name(),
            booking: after
                .booking()
                .map(|booking| booking_answer(booking, zone, &state.link_secret)),
        }),
    ))
}

/// A refusal that is no outcome of the link's own: accepting a proposal at
/// a time the citizen already has a booking (409, the proposal stays open).
fn refused_press(refusal: LinkRefusal) -> Problem {
    match refusal {
        LinkRefusal::Wish(overlap @ WishError::OverlapsOwnBooking { .. }) => Problem::new(
            axum::http::StatusCode::CONFLICT,
            "overlapping-booking",
            "Overlapping booking",
            overlap.to_string(),
        ),
        other => Problem::internal(&other),
    }
}

/// The token of a link's path; a segment that is not UTF-8 once decoded is
/// no token at all, and resolves to nothing (404) like an unknown one.
pub(super) fn token_text(token: Result<Path<String>, PathRejection>) -> String {
    token.map(|Path(token)| token).unwrap_or_default()
}

fn booking_answer(booking: &BookingSummary, zone: OfficeTimeZone, secret: &LinkSecret) -> BookingAnswer {
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
        check_in_code: number
            .is_some()
            .then(|| secret.checkin_code(&booking.booking.to_string())),
        number,
    }
}
