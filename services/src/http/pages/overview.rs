//! "Meine Termine" (issue 16): `GET /meine-termine` asks for an e-mail
//! address; `POST /meine-termine` mails that address a link to its open
//! bookings and wishes if it has any, and answers the same either way
//! (post → redirect → `GET /meine-termine/gesendet`). `GET
//! /meine-termine/{token}` lists them with the links to cancel or end each
//! and changes nothing (invariant 7); its form (`POST
//! /meine-termine/{token}`) sends a booking's confirm-request mail again.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use terminagent_domain::{
    Actor, BookingId, ConfirmationResendDecider, LinkAction, MAX_CONFIRMATION_RESENDS, OfficeId, OfficeTimeZone,
    ResendError, ServiceId, StreamName,
};

use super::super::AppState;
use super::{MessagePage, PageForm, PageLink, long_date, parse_email, render};
use crate::application::ExecuteError;
use crate::application::overview::{citizen_overview, resend_confirmation};
use crate::german;
use crate::links::LinkToken;
use crate::projections::OverviewLink;

/// Where the form sends people after posting.
pub const SENT_PATH: &str = "/meine-termine/gesendet";

#[derive(Template)]
#[template(path = "meine_termine.html")]
struct RequestPage {
    email: String,
    errors: FormErrors,
}

#[derive(Default)]
struct FormErrors {
    email: Option<String>,
}

impl FormErrors {
    fn is_empty(&self) -> bool {
        self.email.is_none()
    }

    /// (field anchor, message), for `_error_summary.html`.
    fn summary(&self) -> Vec<(&'static str, &str)> {
        self.email
            .as_deref()
            .map(|message| ("email", message))
            .into_iter()
            .collect()
    }
}

/// `GET /meine-termine`: the form.
pub async fn overview_request_page() -> Response {
    render(
        StatusCode::OK,
        &RequestPage {
            email: String::new(),
            errors: FormErrors::default(),
        },
    )
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    email: String,
}

/// `POST /meine-termine`: mails the link if the address has bookings or
/// wishes, then sends everyone to the same page.
pub async fn request_overview_page(State(state): State<AppState>, PageForm(form): PageForm<RequestForm>) -> Response {
    let typed = form.email.trim().to_owned();
    match parse_email(&typed) {
        Ok(email) => {
            super::super::overview::spawn_overview_request(&state, email);
            Redirect::to(SENT_PATH).into_response()
        }
        Err(error) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &RequestPage {
                email: typed,
                errors: FormErrors { email: Some(error) },
            },
        ),
    }
}

/// `GET /meine-termine/gesendet`: the one answer to every address.
pub async fn overview_sent_page() -> Response {
    MessagePage::new("Bitte sehen Sie in Ihr E-Mail-Postfach")
        .paragraph(
            "Wenn zu dieser Adresse Termine oder Suchaufträge bestehen, haben wir Ihnen soeben eine E-Mail \
             geschickt. Der Link darin führt zu Ihren Terminen und Terminsuchen und gilt 24 Stunden.",
        )
        .paragraph(
            "Kommt keine E-Mail an, sehen Sie bitte auch im Spam-Ordner nach und prüfen Sie, ob Sie die Adresse \
             verwendet haben, mit der Sie gebucht haben.",
        )
        .link(PageLink::new("/", "Zur Startseite"))
        .respond(StatusCode::OK)
}

#[derive(Template)]
#[template(path = "meine_termine_liste.html")]
struct OverviewPage {
    /// The form's address (this page's own).
    action: String,
    valid_until: String,
    notice: Option<&'static str>,
    bookings: Vec<BookingItem>,
    wishes: Vec<WishItem>,
}

struct BookingItem {
    id: String,
    date: String,
    from: String,
    until: String,
    office: String,
    address: String,
    services: String,
    number: Option<String>,
    /// "bis Montag, 23.11.2026, 10:30" while it awaits confirmation.
    confirm_by: Option<String>,
    cancel_url: String,
    /// Whether the confirm-request mail may be sent again.
    resend: bool,
}

struct WishItem {
    id: String,
    offices: String,
    services: String,
    times: Vec<String>,
    until: Option<String>,
    confirmed: bool,
    proposal_open: bool,
    end_url: String,
}

#[derive(Deserialize, Default)]
pub struct OverviewQuery {
    hinweis: Option<String>,
}

/// `GET /meine-termine/{token}`: the citizen's open bookings and wishes.
pub async fn show_overview_page(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    query: Result<Query<OverviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let token = token.map(|Path(token)| token).unwrap_or_default();
    let link = match resolve(&state, &token).await {
        Ok(Ok(link)) => link,
        Ok(Err(page)) => return page,
        Err(page) => return page,
    };
    let now = state.executor.now();
    let overview = match citizen_overview(&state.executor, link.envelope, now).await {
        Ok(overview) => overview,
        Err(error) => {
            tracing::warn!(%error, "an overview could not be read");
            return unavailable_page();
        }
    };
    if overview.erased {
        return MessagePage::new("Keine Angaben mehr vorhanden")
            .paragraph(
                "Die personenbezogenen Daten zu diesem Link wurden gelöscht. Es gibt dazu keine Termine und \
                 Terminsuchen mehr anzuzeigen.",
            )
            .link(PageLink::new("/", "Zur Startseite"))
            .respond(StatusCode::GONE);
    }
    let mut bookings = Vec::new();
    for booking in &overview.bookings {
        let resend = if booking.number.is_none() {
            match state
                .executor
                .state_of::<ConfirmationResendDecider>(&[StreamName::booking(&booking.booking)])
                .await
            {
                Ok(resends) => resends.resends() < MAX_CONFIRMATION_RESENDS,
                Err(error) => {
                    tracing::warn!(%error, "a booking's resends could not be read");
                    return unavailable_page();
                }
            }
        } else {
            false
        };
        let zone = office_zone(&state, &booking.office);
        let (start, end) = (zone.to_local(booking.start), zone.to_local(booking.end));
        let (office, address) = office_name(&state, &booking.office);
        bookings.push(BookingItem {
            id: booking.booking.to_string(),
            date: long_date(start.date_naive()),
            from: german::clock(&start),
            until: german::clock(&end),
            office,
            address,
            services: service_names(&state, &booking.services),
            number: booking.number.map(|number| number.to_string()),
            confirm_by: booking
                .number
                .is_none()
                .then(|| local_instant(zone, booking.confirm_by)),
            cancel_url: link_path(&state, &booking.booking.to_string(), LinkAction::CancelBooking),
            resend,
        });
    }
    let wishes = overview
        .wishes
        .iter()
        .map(|wish| {
            let catalogue = state.catalogue.read();
            let offices = wish
                .offices
                .iter()
                .map(|office| {
                    catalogue
                        .office(office)
                        .map_or(office.to_string(), |entry| entry.name.clone())
                })
                .collect::<Vec<_>>()
                .join(", ");
            drop(catalogue);
            let mut times = Vec::new();
            let mut day = chrono::Weekday::Mon;
            for _ in 0..7 {
                let hours: Vec<String> = wish
                    .windows
                    .hours(day)
                    .map(|hour| format!("{hour}–{} Uhr", hour + 1))
                    .collect();
                if !hours.is_empty() {
                    times.push(format!("{}: {}", german::weekday(day), hours.join(", ")));
                }
                day = day.succ();
            }
            WishItem {
                id: wish.wish.to_string(),
                offices,
                services: service_names(&state, &wish.services),
                times,
                until: wish.until.map(|until| german::long_date(until.as_naive())),
                confirmed: wish.confirmed,
                proposal_open: wish.proposal_open,
                end_url: link_path(&state, &wish.wish.to_string(), LinkAction::EndWish),
            }
        })
        .collect();
    let notice = match query.as_ref().ok().and_then(|query| query.hinweis.as_deref()) {
        Some("gesendet") => Some(
            "Wir haben Ihnen die Bestätigungs-Mail erneut geschickt. Bitte bestätigen Sie den Termin mit dem Link darin.",
        ),
        Some("grenze") => Some(
            "Die Bestätigungs-Mail dieses Termins wurde schon dreimal erneut geschickt. Bitte sehen Sie auch im Spam-Ordner nach.",
        ),
        Some("nicht-moeglich") => Some(
            "Für diesen Termin kann keine Bestätigungs-Mail mehr geschickt werden: Er ist bestätigt, abgesagt oder die Zeit zum Bestätigen ist abgelaufen.",
        ),
        _ => None,
    };
    let page = OverviewPage {
        action: format!("/meine-termine/{token}"),
        valid_until: local_instant(
            OfficeTimeZone::parse("Europe/Berlin").expect("a known zone"),
            link.expires_at,
        ),
        notice,
        bookings,
        wishes,
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct ResendForm {
    #[serde(default)]
    booking: String,
}

/// `POST /meine-termine/{token}`: the confirm-request mail of one of the
/// citizen's bookings once more; back to the list, which says what happened.
pub async fn resend_confirmation_page(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    PageForm(form): PageForm<ResendForm>,
) -> Response {
    let token = token.map(|Path(token)| token).unwrap_or_default();
    let link = match resolve(&state, &token).await {
        Ok(Ok(link)) => link,
        Ok(Err(page)) => return page,
        Err(page) => return page,
    };
    let Ok(booking) = BookingId::parse(form.booking.trim()) else {
        return Redirect::to(&format!("/meine-termine/{token}?hinweis=nicht-moeglich")).into_response();
    };
    let cause = state.new_cause(Actor::Citizen);
    let hint = match resend_confirmation(&state.executor, cause, link.envelope, booking).await {
        Ok(_) => "gesendet",
        Err(ExecuteError::Rejected(ResendError::TooManyResends { .. })) => "grenze",
        Err(ExecuteError::Rejected(_)) => "nicht-moeglich",
        Err(ExecuteError::Contended { .. }) => {
            return MessagePage::new("Gerade ist sehr viel los")
                .paragraph("Bitte versuchen Sie es in einer Minute noch einmal.")
                .link(PageLink::new(
                    format!("/meine-termine/{token}"),
                    "Zurück zu Ihren Terminen",
                ))
                .respond(StatusCode::SERVICE_UNAVAILABLE);
        }
        Err(ExecuteError::Storage(error)) => {
            tracing::error!(%error, "a confirmation could not be resent");
            return unavailable_page();
        }
    };
    Redirect::to(&format!("/meine-termine/{token}?hinweis={hint}")).into_response()
}

/// The overview link of `token`, or the page to answer instead: unknown
/// (404), expired (410), the log not readable (503).
async fn resolve(state: &AppState, token: &str) -> Result<Result<OverviewLink, Response>, Response> {
    let Some(hash) = LinkToken::parse(token).map(|token| token.hash()) else {
        return Ok(Err(unknown_page()));
    };
    if state.links.read().overview(hash.as_str()).is_none() && state.catch_up_views().await.is_err() {
        return Err(unavailable_page());
    }
    let Some(link) = state.links.read().overview(hash.as_str()).cloned() else {
        return Ok(Err(unknown_page()));
    };
    if state.executor.now() >= link.expires_at {
        return Ok(Err(MessagePage::new("Dieser Link ist abgelaufen")
            .paragraph(
                "Der Link zu Ihren Terminen gilt 24 Stunden. Fordern Sie einfach einen neuen an: Wir schicken ihn \
                 an Ihre E-Mail-Adresse.",
            )
            .link(PageLink::new("/meine-termine", "Neuen Link anfordern"))
            .respond(StatusCode::GONE)));
    }
    Ok(Ok(link))
}

fn unknown_page() -> Response {
    MessagePage::new("Diesen Link kennen wir nicht")
        .paragraph(
            "Bitte prüfen Sie, ob Sie den Link vollständig aus der E-Mail übernommen haben, oder fordern Sie einen \
             neuen an.",
        )
        .link(PageLink::new("/meine-termine", "Neuen Link anfordern"))
        .respond(StatusCode::NOT_FOUND)
}

fn unavailable_page() -> Response {
    MessagePage::new("Das hat gerade nicht geklappt")
        .paragraph("Ihre Termine können gerade nicht angezeigt werden. Bitte versuchen Sie es gleich noch einmal.")
        .respond(StatusCode::SERVICE_UNAVAILABLE)
}

/// `/links/{token}`: the existing link page of `action` on `subject`, the
/// same token the mails carry.
fn link_path(state: &AppState, subject: &str, action: LinkAction) -> String {
    format!("/links/{}", state.link_secret.token(subject, action.as_str()).as_str())
}

fn office_zone(state: &AppState, office: &OfficeId) -> OfficeTimeZone {
    state
        .catalogue
        .read()
        .office(office)
        .and_then(|office| OfficeTimeZone::parse(&office.timezone).ok())
        .unwrap_or_else(|| OfficeTimeZone::parse("Europe/Berlin").expect("a known zone"))
}

fn office_name(state: &AppState, office: &OfficeId) -> (String, String) {
    state.catalogue.read().office(office).map_or_else(
        || (office.to_string(), String::new()),
        |entry| (entry.name.clone(), entry.address.clone()),
    )
}

fn service_names(state: &AppState, services: &[ServiceId]) -> String {
    let catalogue = state.catalogue.read();
    services
        .iter()
        .map(|service| {
            catalogue
                .service(service)
                .map_or(service.to_string(), |entry| entry.name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// "Montag, 23.11.2026, 10:30".
fn local_instant(zone: OfficeTimeZone, instant: DateTime<Utc>) -> String {
    let local = zone.to_local(instant);
    format!("{}, {}", long_date(local.date_naive()), german::clock(&local))
}
