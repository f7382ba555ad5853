//! A clerk's day list (`/staff/{office}/tag`) and cancelling a booking on
//! the citizen's behalf (`/staff/{office}/absagen/{booking}`).
//!
//! The list reads through `http::day_list::read_day_list`, the JSON
//! endpoint's own path: the names shown are recorded as read
//! (`personal_data.read`, the member as actor) before they are shown. A
//! search by waiting number narrows what is read, so only the names shown
//! are recorded.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Days, Utc};
use terminagent_domain::{
    BookingError, BookingId, BookingStatus, LocalDate, OfficeTimeZone, Permission, ServiceId, VisitStatus,
    WaitingNumber,
};

use super::super::PageLink;
use super::render;
use super::session::{Member, Posted, Signed};
use super::{
    FieldErrors, Frame, OfficePage, Pairs, day_label, execute_failure_page, field, internal_page, message_page,
    not_found_page, parse_date, path_text, problem_page,
};
use crate::application::cancel::{CancelOutcome, cancel_booking_for_citizen};
use crate::http::AppState;
use crate::http::day_list::{NamedEntry, read_day_list};
use crate::projections::{BookingSummary, DayListEntry, DayListStatus};

/// Longest reason for a cancellation (it is quoted in the mail).
const MAX_REASON_CHARS: usize = 500;

struct DayRow {
    from: String,
    until: String,
    lane: u16,
    services: String,
    number: Option<String>,
    name: String,
    status: &'static str,
    /// The confirm form for cancelling, while the booking is open and ahead.
    cancel_href: Option<String>,
}

#[derive(Template)]
#[template(path = "staff/day_list.html")]
struct DayListPage {
    frame: Frame,
    office_id: String,
    office_name: String,
    date_value: String,
    date_label: String,
    previous_href: String,
    next_href: String,
    today_href: Option<String>,
    /// The waiting number searched for, as typed.
    number: String,
    filtered: bool,
    rows: Vec<DayRow>,
    errors: FieldErrors,
}

/// German words for a booking's state on the list.
fn status_label(status: DayListStatus) -> &'static str {
    match status {
        DayListStatus::PendingConfirmation => "Unbestätigt",
        DayListStatus::Confirmed => "Bestätigt",
        DayListStatus::Cancelled => "Abgesagt",
        DayListStatus::Lapsed => "Verfallen (nicht bestätigt)",
        DayListStatus::Visit(VisitStatus::CheckedIn) => "Eingecheckt",
        DayListStatus::Visit(VisitStatus::Called) => "Aufgerufen",
        DayListStatus::Visit(VisitStatus::Serving) => "In Bearbeitung",
        DayListStatus::Visit(VisitStatus::Parked) => "Zurückgestellt",
        DayListStatus::Visit(VisitStatus::Finished) => "Erledigt",
        DayListStatus::Visit(VisitStatus::Missed) => "Nicht erschienen",
    }
}

fn is_open(status: DayListStatus) -> bool {
    matches!(status, DayListStatus::PendingConfirmation | DayListStatus::Confirmed)
}

fn clock(zone: OfficeTimeZone, instant: DateTime<Utc>) -> String {
    zone.to_local(instant).format("%H:%M").to_string()
}

fn day_href(office: &str, date: chrono::NaiveDate) -> String {
    format!("/staff/{office}/tag?datum={}", date.format("%Y-%m-%d"))
}

/// Service names as the catalogue has them (the id when it has none).
fn service_names(state: &AppState, services: &[ServiceId]) -> String {
    let catalogue = state.catalogue.read();
    let names: Vec<String> = services
        .iter()
        .map(|service| {
            catalogue
                .service(service)
                .map_or_else(|| service.to_string(), |entry| entry.name.clone())
        })
        .collect();
    names.join(", ")
}

/// What the day list's search asks for.
#[derive(Clone, Copy)]
enum Wanted {
    Number(WaitingNumber),
    /// The booking of a check-in code; `None` when no booking has it.
    Booking(Option<terminagent_domain::BookingId>),
}

/// `GET /staff/{office}/tag?datum=YYYY-MM-DD&nummer=N`: the day's bookings
/// with names (default: today at the office), optionally one waiting number.
pub(super) async fn day_list_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    path: Result<Path<String>, PathRejection>,
    Query(query): Query<Pairs>,
) -> Response {
    let office = match OfficePage::find(&state, &member, &path_text(path), Permission::ReadDayList) {
        Ok(office) => office,
        Err(response) => return response,
    };
    let now = state.executor.now();
    let today = office.zone.today(now);
    let mut errors = FieldErrors::default();
    let date = match field(&query, "datum") {
        "" => LocalDate::try_from(today).ok(),
        raw => parse_date(raw),
    };
    let Some(date) = date else {
        return message_page(
            Some(&member),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Dieses Datum gibt es nicht",
            &["Bitte wählen Sie einen Tag im Format TT.MM.JJJJ."],
            Some(PageLink::new(
                day_href(office.id.as_str(), today),
                "Zur heutigen Tagesliste",
            )),
        );
    };
    // The search takes a waiting number (digits) or a check-in code (the
    // visitor's QR code or the code under it).
    let number = field(&query, "nummer").to_owned();
    let wanted = match number.as_str() {
        "" => None,
        raw if raw.chars().all(|c| c.is_ascii_digit()) => match raw.parse::<u32>().ok().and_then(WaitingNumber::nth) {
            Some(number) => Some(Wanted::Number(number)),
            None => {
                errors.add(
                    "nummer",
                    "Eine Wartenummer besteht aus 1 bis 4 Ziffern, zum Beispiel 17.",
                );
                None
            }
        },
        raw => {
            let hash = crate::links::code_hash(&crate::links::canonical_checkin_code(raw));
            // An unknown code finds nothing, like an unknown number.
            Some(Wanted::Booking(state.floor.read().booking_of_code(&hash)))
        }
    };
    let keep = |entry: &DayListEntry| match wanted {
        None => true,
        Some(Wanted::Number(wanted)) => entry.number == Some(wanted),
        Some(Wanted::Booking(wanted)) => Some(entry.booking) == wanted,
    };
    let (zone, rows) = match read_day_list(&state, member.principal.actor(), &office.id, date, keep).await {
        Ok(read) => read,
        Err(problem) => return problem_page(Some(&member), &problem),
    };
    let may_cancel = member.may(Permission::CancelBooking, Some(&office.id));
    let rows = rows
        .into_iter()
        .map(|NamedEntry { entry, name }| {
            let name = match (name, &entry.citizen) {
                (Some(name), _) => name,
                (None, Some(_)) => "(gelöscht)".to_owned(),
                (None, None) => "(ohne Namen)".to_owned(),
            };
            DayRow {
                from: clock(zone, entry.start),
                until: clock(zone, entry.end),
                lane: entry.lane,
                services: service_names(&state, &entry.services),
                number: entry.number.map(|number| number.to_string()),
                name,
                status: status_label(entry.status),
                cancel_href: (may_cancel && is_open(entry.status) && entry.start > now)
                    .then(|| format!("/staff/{}/absagen/{}", office.id, entry.booking)),
            }
        })
        .collect();
    let naive = date.as_naive();
    let page = DayListPage {
        frame: Frame::of(Some(&member)),
        office_id: office.id.to_string(),
        office_name: office.name,
        date_value: date.to_string(),
        date_label: day_label(naive),
        previous_href: day_href(office.id.as_str(), naive - Days::new(1)),
        next_href: day_href(office.id.as_str(), naive + Days::new(1)),
        today_href: (naive != today).then(|| day_href(office.id.as_str(), today)),
        number,
        filtered: wanted.is_some(),
        rows,
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(status, &page)
}

#[derive(Template)]
#[template(path = "staff/cancel.html")]
struct CancelPage {
    frame: Frame,
    office_name: String,
    action: String,
    back_href: String,
    date_label: String,
    from: String,
    until: String,
    number: Option<String>,
    services: String,
    reason: String,
    errors: FieldErrors,
}

/// A booking of this office that staff may still cancel, or the page saying why not.
struct Cancellable {
    booking: BookingId,
    summary: BookingSummary,
    office: OfficePage,
}

async fn cancellable(state: &AppState, member: &Member, office: &str, booking: &str) -> Result<Cancellable, Response> {
    let office = OfficePage::find(state, member, office, Permission::CancelBooking)?;
    let not_found = || not_found_page(Some(member), "Diesen Termin gibt es hier nicht");
    let booking = BookingId::parse(booking).map_err(|_| not_found())?;
    let mut summary = state.links.read().booking(&booking).cloned();
    if summary.is_none() {
        // Booked a moment ago, perhaps through another process.
        state
            .catch_up_views()
            .await
            .map_err(|problem| problem_page(Some(member), &problem))?;
        summary = state.links.read().booking(&booking).cloned();
    }
    let summary = summary
        .filter(|summary| summary.office == office.id)
        .ok_or_else(not_found)?;
    Ok(Cancellable {
        booking,
        summary,
        office,
    })
}

impl Cancellable {
    fn back_href(&self) -> String {
        day_href(
            self.office.id.as_str(),
            self.office.zone.to_local(self.summary.start).date_naive(),
        )
    }

    fn back(&self) -> PageLink {
        PageLink::new(self.back_href(), "Zurück zur Tagesliste")
    }

    /// Why it can no longer be cancelled, if it cannot.
    fn refusal(&self, now: DateTime<Utc>) -> Option<&'static str> {
        match self.summary.status {
            BookingStatus::Cancelled => Some("Dieser Termin ist bereits abgesagt."),
            BookingStatus::Lapsed => Some("Dieser Termin ist verfallen, weil er nicht bestätigt wurde."),
            _ if self.summary.start <= now => Some("Dieser Termin hat bereits begonnen."),
            _ => None,
        }
    }

    fn page(&self, state: &AppState, member: &Member, reason: String, errors: FieldErrors) -> CancelPage {
        let zone = self.office.zone;
        let start = zone.to_local(self.summary.start);
        let services = state
            .day_list
            .read()
            .day(&self.office.id, start.date_naive())
            .into_iter()
            .find(|entry| entry.booking == self.booking)
            .map(|entry| service_names(state, &entry.services))
            .unwrap_or_default();
        CancelPage {
            frame: Frame::of(Some(member)),
            office_name: self.office.name.clone(),
            action: format!("/staff/{}/absagen/{}", self.office.id, self.booking),
            back_href: self.back_href(),
            date_label: day_label(start.date_naive()),
            from: clock(zone, self.summary.start),
            until: clock(zone, self.summary.end),
            number: match self.summary.status {
                BookingStatus::Confirmed(number) => Some(number.to_string()),
                _ => None,
            },
            services,
            reason,
            errors,
        }
    }

    fn refused_page(&self, member: &Member, why: &str) -> Response {
        message_page(
            Some(member),
            StatusCode::CONFLICT,
            "Dieser Termin kann nicht mehr abgesagt werden",
            &[why],
            Some(self.back()),
        )
    }
}

/// `GET /staff/{office}/absagen/{booking}`: what is cancelled, and why (a form).
pub(super) async fn cancel_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let (office, booking) = path_text(path);
    let target = match cancellable(&state, &member, &office, &booking).await {
        Ok(target) => target,
        Err(response) => return response,
    };
    if let Some(why) = target.refusal(state.executor.now()) {
        return target.refused_page(&member, why);
    }
    render(
        StatusCode::OK,
        &target.page(&state, &member, String::new(), FieldErrors::default()),
    )
}

/// `POST /staff/{office}/absagen/{booking}`: cancels through the booking's
/// decision, as the member; the citizen is mailed the reason.
pub(super) async fn cancel_booking(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    posted: Posted,
) -> Response {
    let Posted { member, fields } = posted;
    let (office, booking) = path_text(path);
    let target = match cancellable(&state, &member, &office, &booking).await {
        Ok(target) => target,
        Err(response) => return response,
    };
    // One line: the mail quotes it in a sentence.
    let reason = field(&fields, "grund").split_whitespace().collect::<Vec<_>>().join(" ");
    let mut errors = FieldErrors::default();
    if reason.is_empty() {
        errors.add("grund", "Bitte geben Sie den Grund der Absage an.");
    } else if reason.chars().count() > MAX_REASON_CHARS {
        errors.add(
            "grund",
            format!("Der Grund darf höchstens {MAX_REASON_CHARS} Zeichen lang sein."),
        );
    } else if reason.chars().any(char::is_control) {
        errors.add("grund", "Der Grund enthält unzulässige Steuerzeichen.");
    }
    if !errors.is_empty() {
        return render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &target.page(&state, &member, reason, errors),
        );
    }
    let cause = state.new_cause(member.principal.actor());
    let outcome = cancel_booking_for_citizen(&state.executor, cause, target.booking, reason.clone()).await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            return execute_failure_page(&member, error, |refused| match refused {
                BookingError::Lapsed(_) => target.refused_page(&member, "Dieser Termin ist verfallen."),
                BookingError::TooLate { .. } => target.refused_page(&member, "Dieser Termin hat bereits begonnen."),
                BookingError::UnknownBooking(_) => not_found_page(Some(&member), "Diesen Termin gibt es nicht"),
                other => target.refused_page(&member, &format!("Die Absage wurde abgelehnt: {other}")),
            });
        }
    };
    if let Err(problem) = state.catch_up_views().await {
        return internal_page(Some(&member), &problem.detail);
    }
    let reason_line = format!("Grund: {reason}");
    match outcome {
        CancelOutcome::Cancelled => message_page(
            Some(&member),
            StatusCode::OK,
            "Der Termin ist abgesagt",
            &[
                "Die Bürgerin oder der Bürger erhält eine E-Mail mit der Absage und dem Grund.",
                &reason_line,
            ],
            Some(target.back()),
        ),
        CancelOutcome::AlreadyCancelled => message_page(
            Some(&member),
            StatusCode::OK,
            "Dieser Termin war bereits abgesagt",
            &["Es wurde nichts geändert."],
            Some(target.back()),
        ),
    }
}
