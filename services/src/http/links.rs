//! Mail links (API.md "Mail links"): `/links/{token}` for people (a page with
//! a button; GET never changes anything, because mail scanners open every
//! link) and `/api/v1/links/{token}` for programs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::SecondsFormat;
use serde::Serialize;
use terminagent_domain::{BookingStatus, LinkAction, OfficeTimeZone};

use super::AppState;
use super::openapi::{CONTENDED, INTERNAL, PROBLEM, RATE_LIMITED};
use super::problem::Problem;
use crate::application::{LinkOutcome, LinkState, follow_link, link_state};
use crate::links::LinkToken;
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
    /// The booking the link belongs to, as it is now (when the link belongs to one).
    #[schema(required = false)]
    booking: BookingAnswer,
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
}

/// The link's target and booking, or `None` for a token that names nothing.
/// A token the view does not know yet may belong to an event it has not
/// caught up with (bookings do not wait for views): look once more after
/// catching up.
async fn resolve(state: &AppState, token: &str) -> Option<(LinkTarget, BookingSummary, OfficeTimeZone)> {
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

async fn press(
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
    )
)]
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
        (status = 429, description = RATE_LIMITED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
        (status = 503, description = CONTENDED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
    )
)]
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

#[utoipa::path(
    get,
    path = "/links/{token}",
    tag = "links",
    summary = "The page a mail link opens",
    description = "An HTML page (German) that says what the link does, with a button: a form that POSTs \
        to the same URL. Changes nothing, so mail scanners that open every link do no harm.",
    params(
        ("token" = String, Path, description = "The token from the mail's link (256 bits, base64url).",
         pattern = "^[A-Za-z0-9_-]{43}$",
            example = "VeuTyJJN-Dw6kcFbBL1XIqmlMwCi-szvQcOhvsjGL3U"),
    ),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        (status = 404, description = "A page saying the link is unknown.", content_type = "text/html", body = String),
    )
)]
pub async fn show_link_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some((target, booking, zone)) = resolve(&state, &token).await else {
        return not_found_page();
    };
    let details = booking_details(&booking, zone);
    let body = match link_state(&target, &booking, state.executor.now()) {
        LinkState::Open => format!(
            "<h1>{}</h1>{details}<form method=\"post\"><button type=\"submit\">{}</button></form>",
            question(target.action),
            button(target.action)
        ),
        other => format!("<h1>{}</h1>{details}", finished(target.action, other)),
    };
    page(StatusCode::OK, &body)
}

#[utoipa::path(
    post,
    path = "/links/{token}",
    tag = "links",
    summary = "Press a mail link (the page's button)",
    description = "Does what the link says, once, and answers an HTML page (German) with the outcome. \
        Pressing again says what already happened.",
    params(
        ("token" = String, Path, description = "The token from the mail's link (256 bits, base64url).",
         pattern = "^[A-Za-z0-9_-]{43}$",
            example = "VeuTyJJN-Dw6kcFbBL1XIqmlMwCi-szvQcOhvsjGL3U"),
    ),
    responses(
        (status = 200, description = "A page with the outcome.", content_type = "text/html", body = String),
        (status = 404, description = "A page saying the link is unknown.", content_type = "text/html", body = String),
        (status = 429, description = RATE_LIMITED, body = Problem, content_type = PROBLEM,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
        (status = 500, description = "A page asking to try again later.", content_type = "text/html", body = String),
        (status = 503, description = "A page asking to try again later (too many concurrent changes).",
         content_type = "text/html", body = String),
    )
)]
pub async fn press_link_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some((target, booking, zone)) = resolve(&state, &token).await else {
        return not_found_page();
    };
    match press(&state, &target, &booking).await {
        Ok((outcome, after)) => {
            let headline = match outcome {
                LinkOutcome::Done => done(target.action),
                LinkOutcome::AlreadyDone => finished(target.action, LinkState::Used),
                LinkOutcome::Expired => finished(target.action, LinkState::Expired),
                LinkOutcome::Void => finished(target.action, LinkState::Void),
            };
            page(
                StatusCode::OK,
                &format!("<h1>{headline}</h1>{}", booking_details(&after, zone)),
            )
        }
        Err(problem) => {
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            page(
                status,
                "<h1>Das hat gerade nicht geklappt</h1><p>Bitte versuchen Sie es in einer Minute noch einmal.</p>",
            )
        }
    }
}

fn question(action: LinkAction) -> &'static str {
    match action {
        LinkAction::ConfirmBooking => "Termin bestätigen?",
        LinkAction::CancelBooking => "Termin absagen?",
    }
}

fn button(action: LinkAction) -> &'static str {
    match action {
        LinkAction::ConfirmBooking => "Termin verbindlich bestätigen",
        LinkAction::CancelBooking => "Termin absagen",
    }
}

fn done(action: LinkAction) -> &'static str {
    match action {
        LinkAction::ConfirmBooking => "Ihr Termin ist bestätigt",
        LinkAction::CancelBooking => "Ihr Termin ist abgesagt",
    }
}

fn finished(action: LinkAction, state: LinkState) -> &'static str {
    match (action, state) {
        (LinkAction::ConfirmBooking, LinkState::Used) => "Dieser Termin ist bereits bestätigt",
        (LinkAction::CancelBooking, LinkState::Used) => "Dieser Termin ist bereits abgesagt",
        (LinkAction::ConfirmBooking, LinkState::Expired) => {
            "Die Frist zur Bestätigung ist abgelaufen; der Termin ist freigegeben"
        }
        (LinkAction::CancelBooking, LinkState::Expired) => {
            "Der Termin hat bereits begonnen und kann nicht mehr abgesagt werden"
        }
        (LinkAction::ConfirmBooking, _) => "Dieser Termin wurde abgesagt und kann nicht mehr bestätigt werden",
        (LinkAction::CancelBooking, _) => "Dieser Termin besteht nicht mehr",
    }
}

fn booking_details(booking: &BookingSummary, zone: OfficeTimeZone) -> String {
    let start = zone.to_local(booking.start);
    let end = zone.to_local(booking.end);
    let number = match &booking.status {
        BookingStatus::Confirmed(number) => format!("<p>Ihre Wartenummer: <strong>{number}</strong></p>"),
        _ => String::new(),
    };
    format!(
        "<p>Termin am {} von {} bis {} Uhr, Bürgerbüro {}.</p>{number}",
        start.format("%d.%m.%Y"),
        start.format("%H:%M"),
        end.format("%H:%M"),
        escape(booking.office.as_str())
    )
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

fn not_found_page() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "<h1>Link unbekannt</h1><p>Dieser Link ist uns nicht bekannt. Bitte prüfen Sie, ob er vollständig aus der E-Mail übernommen wurde.</p>",
    )
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"de\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>Terminvergabe</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#111;background:#fff}}\
         button{{font-size:1.1rem;padding:.7rem 1.2rem;background:#00457d;color:#fff;border:0;border-radius:.3rem;cursor:pointer}}\
         button:focus{{outline:3px solid #f9b000;outline-offset:2px}}</style></head>\
         <body><main>{body}</main></body></html>"
    );
    (
        status,
        [("referrer-policy", "no-referrer"), ("cache-control", "no-store")],
        Html(html),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
