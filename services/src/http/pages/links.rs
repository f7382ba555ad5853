//! The mail-link pages (API.md "Mail links"): `GET /links/{token}` says what
//! the link does and shows a button, changing nothing (mail scanners open
//! every link); the button POSTs to the same URL, which acts.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use terminagent_domain::{BookingStatus, LinkAction, OfficeTimeZone};

use super::super::AppState;
use super::super::links::{press, resolve, token_text};
use super::{MessagePage, long_date, render};
use crate::application::{LinkContext, LinkOutcome, LinkState, link_state};

#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage {
    heading: &'static str,
    /// The appointment the link is about (none for ending a search without one).
    booking: Option<BookingDetails>,
    /// The button's label while the link can still act.
    button: Option<&'static str>,
}

/// A booking as the citizen reads it: office-local times, the office's name.
struct BookingDetails {
    date: String,
    from: String,
    until: String,
    office: String,
    address: String,
    number: Option<String>,
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
        (status = 503, description = "A page asking to try again later (the log cannot be read right now).",
         content_type = "text/html", body = String),
    )
)]
pub async fn show_link_page(State(state): State<AppState>, token: Result<Path<String>, PathRejection>) -> Response {
    let (target, context, zone) = match resolve(&state, &token_text(token)).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found_page(),
        Err(_) => return unavailable_page(),
    };
    let Ok(link) = link_state(&state.executor, &state.link_secret, &target, &context).await else {
        return unavailable_page();
    };
    let page = match link {
        LinkState::Open => LinkPage {
            heading: question(target.action),
            booking: details(&state, &context, zone),
            button: Some(button(target.action)),
        },
        other => LinkPage {
            heading: finished(target.action, other),
            booking: details(&state, &context, zone),
            button: None,
        },
    };
    render(StatusCode::OK, &page)
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
        (status = 409, description = "A page saying the proposal overlaps a booking the citizen already has.",
         content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this address: a page saying when to try again.",
         content_type = "text/html", body = String,
         headers(("Retry-After" = u32, description = "Seconds to wait."))),
        (status = 500, description = "A page asking to try again later.", content_type = "text/html", body = String),
        (status = 503, description = "A page asking to try again later (too many concurrent changes).",
         content_type = "text/html", body = String),
    )
)]
pub async fn press_link_page(State(state): State<AppState>, token: Result<Path<String>, PathRejection>) -> Response {
    let (target, context, zone) = match resolve(&state, &token_text(token)).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found_page(),
        Err(_) => return unavailable_page(),
    };
    match press(&state, &target, &context).await {
        Ok((outcome, after)) => {
            let heading = match outcome {
                LinkOutcome::Done => done(target.action),
                LinkOutcome::AlreadyDone => finished(target.action, LinkState::Used),
                LinkOutcome::Expired => finished(target.action, LinkState::Expired),
                LinkOutcome::Void => finished(target.action, LinkState::Void),
            };
            let page = LinkPage {
                heading,
                booking: details(&state, &after, zone),
                button: None,
            };
            render(StatusCode::OK, &page)
        }
        Err(problem) if problem.status == StatusCode::CONFLICT.as_u16() => {
            MessagePage::new("Sie haben zu dieser Zeit schon einen Termin")
                .paragraph(
                    "Der vorgeschlagene Termin überschneidet sich mit einem Termin, den Sie schon gebucht haben. \
                     Eine Person kann nicht zwei Termine zur selben Zeit haben. Wenn Sie den Vorschlag annehmen \
                     möchten, sagen Sie bitte zuerst den anderen Termin über den Link in dessen E-Mail ab.",
                )
                .respond(StatusCode::CONFLICT)
        }
        Err(problem) => {
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            MessagePage::new("Das hat gerade nicht geklappt")
                .paragraph("Bitte versuchen Sie es in einer Minute noch einmal.")
                .respond(status)
        }
    }
}

fn question(action: LinkAction) -> &'static str {
    match action {
        LinkAction::ConfirmBooking => "Termin bestätigen?",
        LinkAction::CancelBooking => "Termin absagen?",
        LinkAction::AcceptProposal => "Terminvorschlag annehmen?",
        LinkAction::DeclineProposal => "Terminvorschlag ablehnen?",
        LinkAction::EndWish => "Terminsuche beenden?",
        LinkAction::ConfirmWish => "Terminsuche bestätigen?",
    }
}

fn button(action: LinkAction) -> &'static str {
    match action {
        LinkAction::ConfirmBooking => "Termin verbindlich bestätigen",
        LinkAction::CancelBooking => "Termin absagen",
        LinkAction::AcceptProposal => "Termin verbindlich annehmen",
        LinkAction::DeclineProposal => "Vorschlag ablehnen",
        LinkAction::EndWish => "Terminsuche beenden",
        LinkAction::ConfirmWish => "Terminsuche bestätigen",
    }
}

fn done(action: LinkAction) -> &'static str {
    match action {
        LinkAction::ConfirmBooking => "Ihr Termin ist bestätigt",
        LinkAction::CancelBooking => "Ihr Termin ist abgesagt",
        LinkAction::AcceptProposal => "Ihr Termin ist gebucht",
        LinkAction::DeclineProposal => "Der Vorschlag ist abgelehnt; wir suchen weiter",
        LinkAction::EndWish => "Ihre Terminsuche ist beendet",
        LinkAction::ConfirmWish => "Ihre Terminsuche ist bestätigt und eingereiht",
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
        (LinkAction::AcceptProposal, LinkState::Used) => "Dieser Vorschlag ist bereits angenommen",
        (LinkAction::DeclineProposal, LinkState::Used) => "Dieser Vorschlag ist bereits abgelehnt",
        (LinkAction::AcceptProposal | LinkAction::DeclineProposal, LinkState::Expired) => {
            "Die Frist für diesen Vorschlag ist abgelaufen"
        }
        (LinkAction::AcceptProposal | LinkAction::DeclineProposal, _) => "Dieser Vorschlag gilt nicht mehr",
        (LinkAction::EndWish, LinkState::Used) => "Ihre Terminsuche ist bereits beendet",
        (LinkAction::EndWish, _) => "Diese Terminsuche besteht nicht mehr",
        (LinkAction::ConfirmWish, LinkState::Used) => "Ihre Terminsuche ist bereits bestätigt",
        (LinkAction::ConfirmWish, LinkState::Expired) => {
            "Die Frist zur Bestätigung ist abgelaufen; bitte tragen Sie Ihre Suche neu ein"
        }
        (LinkAction::ConfirmWish, _) => "Diese Terminsuche besteht nicht mehr",
    }
}

/// The booking the link belongs to, else the proposal's appointment.
fn details(state: &AppState, context: &LinkContext, zone: OfficeTimeZone) -> Option<BookingDetails> {
    let (office, start, end, number) = match (context.booking(), context) {
        (Some(booking), _) => (
            &booking.office,
            booking.start,
            booking.end,
            match &booking.status {
                BookingStatus::Confirmed(number) => Some(number.to_string()),
                _ => None,
            },
        ),
        (None, LinkContext::Proposal { proposal, .. }) => (&proposal.office, proposal.start, proposal.end, None),
        (None, _) => return None,
    };
    let (start, end) = (zone.to_local(start), zone.to_local(end));
    // An office the catalogue view has not seen yet still has its id.
    let (office, address) = state
        .catalogue
        .read()
        .office(office)
        .map(|office| (office.name.clone(), office.address.clone()))
        .unwrap_or_else(|| (office.to_string(), String::new()));
    Some(BookingDetails {
        date: long_date(start.date_naive()),
        from: start.format("%H:%M").to_string(),
        until: end.format("%H:%M").to_string(),
        office,
        address,
        number,
    })
}

fn not_found_page() -> Response {
    MessagePage::new("Link unbekannt")
        .paragraph(
            "Dieser Link ist uns nicht bekannt. Bitte prüfen Sie, ob er vollständig aus der E-Mail übernommen wurde.",
        )
        .respond(StatusCode::NOT_FOUND)
}

/// The log could not be read: the link may well exist.
fn unavailable_page() -> Response {
    MessagePage::new("Das hat gerade nicht geklappt")
        .paragraph(
            "Wir können Ihren Link gerade nicht nachschlagen. Bitte versuchen Sie es in einer Minute noch einmal.",
        )
        .respond(StatusCode::SERVICE_UNAVAILABLE)
}
