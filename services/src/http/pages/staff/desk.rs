//! A clerk's desk at a counter (`/staff/{office}/schalter/{counter}`): the
//! visitor at the counter with what may happen next, the queue of checked-in
//! visitors with their waiting time, the parked ones, and the counter itself
//! (pause with a reason, close, open). Each button is a CSRF-protected POST
//! through `application::floor` under the clerk's actor, as the JSON API's
//! floor endpoints decide it. `/assets/schalter.js` keeps the queue live from
//! the floor's change stream; without it the page still works.
//!
//! Also the call display for signed-in staff (`/staff/{office}/anzeige`):
//! the staff cookie's path is `/staff`, so it has its own address and stream.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use terminagent_domain::{BookingId, CounterId, CounterStatus, FloorError, Permission, VisitAction, VisitStatus};

use super::session::{Member, Posted, Signed};
use super::{Frame, OfficePage, execute_failure_page, field, internal_page, not_found_page, path_text, render};
use crate::application::display_presence;
use crate::application::floor::{self as floor, CounterChange};
use crate::http::AppState;
use crate::http::pages::floor::{DisplayPage, clock_time, desk_events, display_events, floor_caught_up, with_scripts};

struct AtCounter {
    booking: String,
    number: String,
    status: String,
    /// Called or recalled (not yet at the counter).
    called: bool,
    serving: bool,
    since: String,
}

struct QueueRow {
    number: String,
    start: String,
    checked_in: String,
    waited: String,
}

struct ParkedRow {
    booking: String,
    number: String,
    since: String,
}

#[derive(Template)]
#[template(path = "staff/desk.html")]
struct DeskPage {
    frame: Frame,
    office_id: String,
    office_name: String,
    counter: String,
    action: String,
    stream: String,
    counter_status: String,
    /// Paused or closed: "Schalter öffnen" is offered.
    stopped: bool,
    visitor: Option<AtCounter>,
    queue: Vec<QueueRow>,
    parked: Vec<ParkedRow>,
    notice: Option<String>,
    error: Option<String>,
    reason: String,
    reason_error: Option<String>,
    /// The office's call displays silent for over a minute, each with when
    /// it was last seen: the waiting room may not see the calls.
    silent_displays: Vec<String>,
}

fn status_label(status: VisitStatus, recalls: u32) -> String {
    match status {
        VisitStatus::CheckedIn => "Wartet".to_owned(),
        VisitStatus::Called if recalls == 1 => "Erneut aufgerufen".to_owned(),
        VisitStatus::Called if recalls > 1 => format!("{recalls}-mal erneut aufgerufen"),
        VisitStatus::Called => "Aufgerufen".to_owned(),
        VisitStatus::Serving => "In Bearbeitung".to_owned(),
        VisitStatus::Parked => "Zurückgestellt".to_owned(),
        VisitStatus::Finished => "Fertig".to_owned(),
        VisitStatus::Missed => "Nicht erschienen".to_owned(),
    }
}

fn minutes(duration: chrono::Duration) -> String {
    match duration.num_minutes().max(0) {
        0 => "unter 1 Min.".to_owned(),
        n => format!("{n} Min."),
    }
}

/// The desk as the floor view has it now.
fn page(state: &AppState, member: &Member, office: &OfficePage, counter: &CounterId) -> DeskPage {
    let zone = office.zone;
    let now = state.executor.now();
    let today = zone.today(now);
    let view = state.floor.read();
    let day = view.day(&office.id, today);
    let at = |instant| clock_time(zone, instant);
    let state_of_counter = day.and_then(|day| day.counter(counter));
    let (counter_status, stopped) = match state_of_counter.map(|c| &c.status) {
        Some(CounterStatus::Open) => ("Geöffnet".to_owned(), false),
        Some(CounterStatus::Paused(reason)) => (format!("Pausiert: {reason}"), true),
        Some(CounterStatus::Closed) => ("Geschlossen".to_owned(), true),
        None => (
            "Heute noch nicht geöffnet (der erste Aufruf öffnet ihn)".to_owned(),
            false,
        ),
    };
    let visitor = state_of_counter
        .and_then(|c| c.visitor)
        .and_then(|booking| day.and_then(|day| day.visit(&booking)))
        .map(|visit| AtCounter {
            booking: visit.booking.to_string(),
            number: visit.number.to_string(),
            status: status_label(visit.status, visit.recalls),
            called: visit.status == VisitStatus::Called,
            serving: visit.status == VisitStatus::Serving,
            since: match visit.status {
                VisitStatus::Serving => visit.started_at,
                _ => visit.last_called_at,
            }
            .map(at)
            .unwrap_or_default(),
        });
    let queue = day
        .map(|day| {
            day.waiting()
                .map(|visit| QueueRow {
                    number: visit.number.to_string(),
                    start: at(visit.start),
                    checked_in: visit.checked_in_at.map(at).unwrap_or_default(),
                    waited: visit
                        .waiting_since
                        .map(|since| minutes(now - since))
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let parked = day
        .map(|day| {
            day.visits()
                .filter(|visit| visit.status == VisitStatus::Parked)
                .map(|visit| ParkedRow {
                    booking: visit.booking.to_string(),
                    number: visit.number.to_string(),
                    since: visit.parked_at.map(at).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let base = format!("/staff/{}/schalter/{counter}", office.id);
    DeskPage {
        frame: Frame::of(Some(member)),
        office_id: office.id.to_string(),
        office_name: office.name.clone(),
        counter: counter.to_string(),
        stream: format!("{base}/stream"),
        action: base,
        counter_status,
        stopped,
        visitor,
        queue,
        parked,
        notice: None,
        error: None,
        reason: String::new(),
        reason_error: None,
        silent_displays: Vec::new(),
    }
}

fn desk_render(status: StatusCode, page: &DeskPage) -> Response {
    with_scripts(render(status, page))
}

/// The office (the member may run its floor) and the counter of the path.
#[expect(clippy::result_large_err, reason = "the error is the page answered at once")]
fn desk_of(
    state: &AppState,
    member: &Member,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(OfficePage, CounterId), Response> {
    let (office, counter) = path_text(path);
    let office = OfficePage::find(state, member, &office, Permission::RunFloor)?;
    let counter =
        CounterId::parse(&counter).map_err(|_| not_found_page(Some(member), "Diesen Schalter gibt es nicht"))?;
    Ok((office, counter))
}

/// `GET /staff/{office}/schalter/{counter}`.
pub(super) async fn desk_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let (office, counter) = match desk_of(&state, &member, path) {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Err(error) = floor_caught_up(&state).await {
        return internal_page(Some(&member), &error);
    }
    let mut desk = page(&state, &member, &office, &counter);
    desk.silent_displays = match display_presence::displays_of(&state.executor, &state.staff, &office.id).await {
        Ok(displays) => displays
            .into_iter()
            .filter(|display| display.silent)
            .map(|display| match display.last_seen {
                Some(seen) => format!(
                    "„{}“ (zuletzt verbunden {} Uhr)",
                    display.name,
                    clock_time(office.zone, seen)
                ),
                None => format!("„{}“ (noch nie verbunden)", display.name),
            })
            .collect(),
        Err(error) => return internal_page(Some(&member), &error),
    };
    desk_render(StatusCode::OK, &desk)
}

/// `GET /staff/{office}/schalter/{counter}/stream`: a `changed` event per change of today's floor.
pub(super) async fn desk_stream(
    State(state): State<AppState>,
    Signed(member): Signed,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    match desk_of(&state, &member, path) {
        Ok((office, _)) => desk_events(&state, office.id, office.zone).into_response(),
        Err(response) => response,
    }
}

/// A refusal of the floor, in German.
fn floor_message(error: &FloorError, zone: terminagent_domain::OfficeTimeZone) -> String {
    match error {
        FloorError::TooEarly { from } => format!("Die Anmeldung ist erst ab {} Uhr möglich.", clock_time(zone, *from)),
        FloorError::TooLate { .. } => "Die Anmeldung ist nicht mehr möglich.".to_owned(),
        FloorError::NotCheckable(_) => "Dieser Termin kann hier nicht angemeldet werden.".to_owned(),
        FloorError::CounterBusy { .. } => "An diesem Schalter ist noch jemand aufgerufen oder in Bearbeitung. Bitte \
             schließen Sie den Besuch zuerst ab, stellen Sie ihn zurück oder markieren Sie ihn als nicht erschienen."
            .to_owned(),
        FloorError::CounterPaused { reason, .. } => {
            format!("Der Schalter ist pausiert ({reason}). Bitte öffnen Sie ihn zuerst.")
        }
        FloorError::CounterClosed { .. } => "Der Schalter ist geschlossen. Bitte öffnen Sie ihn zuerst.".to_owned(),
        FloorError::CounterNotOpen { .. } => "Der Schalter ist nicht geöffnet.".to_owned(),
        FloorError::TooSoonToRecall { from } => format!(
            "Zu früh für einen erneuten Aufruf: möglich ab {} Uhr.",
            zone.to_local(*from).format("%H:%M:%S")
        ),
        FloorError::NotOnTheFloor { .. } => "Diese Person ist heute nicht angemeldet.".to_owned(),
        FloorError::InvalidTransition {
            from: VisitStatus::Called,
            action: VisitAction::Missed,
        } => "Als nicht erschienen gilt eine Person erst, wenn sie erneut aufgerufen wurde.".to_owned(),
        FloorError::InvalidTransition { from, .. } => format!(
            "Das geht gerade nicht: der Besuch hat den Stand „{}“.",
            status_label(*from, 0)
        ),
    }
}

/// `POST /staff/{office}/schalter/{counter}`: `aktion` one of `naechste`,
/// `erneut`, `verpasst`, `beginnen`, `fertig`, `zurueckstellen`,
/// `zurueckholen` (these with `buchung`), `pausieren` (with `grund`),
/// `schliessen`, `oeffnen`.
pub(super) async fn desk_action(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    posted: Posted,
) -> Response {
    let Posted { member, fields } = posted;
    let (office, counter) = match desk_of(&state, &member, path) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let zone = office.zone;
    let cause = || state.new_cause(member.principal.actor());
    let action = field(&fields, "aktion");
    let visit_action = match action {
        "erneut" => Some(VisitAction::Recall),
        "verpasst" => Some(VisitAction::Missed),
        "beginnen" => Some(VisitAction::Start),
        "fertig" => Some(VisitAction::Finish),
        "zurueckstellen" => Some(VisitAction::Park),
        "zurueckholen" => Some(VisitAction::Return),
        _ => None,
    };
    let mut reason_field = String::new();
    let outcome: Result<String, (StatusCode, String)> = if let Some(visit_action) = visit_action {
        let booking = BookingId::parse(field(&fields, "buchung")).ok();
        let facts = match booking {
            Some(booking) => match floor::booking_facts(&state.executor, booking).await {
                Ok(facts) => facts.filter(|facts| facts.office == office.id),
                Err(error) => return internal_page(Some(&member), &error),
            },
            None => None,
        };
        match facts {
            None => Err((
                StatusCode::NOT_FOUND,
                "Diesen Besuch gibt es hier nicht (mehr). Bitte laden Sie die Seite neu.".to_owned(),
            )),
            Some(facts) => {
                match floor::move_visit(&state.executor, state.floor_policy, cause(), &facts, zone, visit_action).await
                {
                    Ok(_) => Ok(match visit_action {
                        VisitAction::Recall => "Die Nummer ist erneut aufgerufen.",
                        VisitAction::Missed => "Der Besuch ist als nicht erschienen vermerkt.",
                        VisitAction::Start => "Die Bearbeitung hat begonnen.",
                        VisitAction::Finish => "Der Besuch ist abgeschlossen.",
                        VisitAction::Park => "Der Besuch ist zurückgestellt.",
                        VisitAction::Return => "Der Besuch wartet wieder in der Warteschlange.",
                    }
                    .to_owned()),
                    Err(error) => {
                        return execute_failure_page(&member, error, |refused| {
                            answer(
                                &state,
                                &member,
                                &office,
                                &counter,
                                Err((StatusCode::CONFLICT, floor_message(&refused, zone))),
                                "",
                            )
                        });
                    }
                }
            }
        }
    } else {
        match action {
            "naechste" => match floor::call_next(&state.executor, cause(), &office.id, zone, &counter).await {
                Ok(Some(called)) => Ok(format!(
                    "Nummer {} ist an Schalter {} aufgerufen.",
                    called.number, called.counter
                )),
                Ok(None) => Ok("Gerade wartet niemand.".to_owned()),
                Err(error) => {
                    return execute_failure_page(&member, error, |refused| {
                        answer(
                            &state,
                            &member,
                            &office,
                            &counter,
                            Err((StatusCode::CONFLICT, floor_message(&refused, zone))),
                            "",
                        )
                    });
                }
            },
            "pausieren" | "schliessen" | "oeffnen" => {
                let change = match action {
                    "pausieren" => {
                        reason_field = field(&fields, "grund").to_owned();
                        match terminagent_domain::PauseReason::parse(&reason_field) {
                            Ok(reason) => Ok(CounterChange::Pause(reason)),
                            Err(error) => Err(super::text_error(
                                error,
                                "Bitte geben Sie einen Grund für die Pause an.",
                            )),
                        }
                    }
                    "schliessen" => Ok(CounterChange::Close),
                    _ => Ok(CounterChange::Open),
                };
                match change {
                    Err(message) => {
                        let mut form = page(&state, &member, &office, &counter);
                        form.reason = reason_field;
                        form.reason_error = Some(message.clone());
                        form.error = Some(message);
                        return desk_render(StatusCode::UNPROCESSABLE_ENTITY, &form);
                    }
                    Ok(change) => {
                        let done = match &change {
                            CounterChange::Pause(_) => "Der Schalter pausiert.",
                            CounterChange::Close => "Der Schalter ist geschlossen.",
                            CounterChange::Open => "Der Schalter ist geöffnet.",
                        };
                        match floor::change_counter(&state.executor, cause(), &office.id, zone, &counter, change).await
                        {
                            Ok(_) => Ok(done.to_owned()),
                            Err(error) => {
                                let reason = reason_field.clone();
                                return execute_failure_page(&member, error, |refused| {
                                    answer(
                                        &state,
                                        &member,
                                        &office,
                                        &counter,
                                        Err((StatusCode::CONFLICT, floor_message(&refused, zone))),
                                        &reason,
                                    )
                                });
                            }
                        }
                    }
                }
            }
            _ => Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                "Diese Aktion gibt es nicht.".to_owned(),
            )),
        }
    };
    if let Err(error) = floor_caught_up(&state).await {
        return internal_page(Some(&member), &error);
    }
    answer(&state, &member, &office, &counter, outcome, &reason_field)
}

/// The desk after an action: its notice, or its error (and the reason typed).
fn answer(
    state: &AppState,
    member: &Member,
    office: &OfficePage,
    counter: &CounterId,
    outcome: Result<String, (StatusCode, String)>,
    reason: &str,
) -> Response {
    let mut desk = page(state, member, office, counter);
    let status = match outcome {
        Ok(notice) => {
            desk.notice = Some(notice);
            StatusCode::OK
        }
        Err((status, error)) => {
            desk.error = Some(error);
            desk.reason = reason.to_owned();
            status
        }
    };
    desk_render(status, &desk)
}

/// `GET /staff/{office}/anzeige`: the call display for signed-in staff.
pub(super) async fn display_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let office = match OfficePage::find(&state, &member, &path_text(path), Permission::ReadDisplay) {
        Ok(office) => office,
        Err(response) => return response,
    };
    if let Err(error) = floor_caught_up(&state).await {
        return internal_page(Some(&member), &error);
    }
    let stream = format!("/staff/{}/anzeige/stream", office.id);
    let page = DisplayPage::now(&state, &office.id, office.zone, &office.name, &stream);
    with_scripts(crate::http::pages::render(StatusCode::OK, &page))
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct AfterQuery {
    after: Option<u64>,
}

/// `GET /staff/{office}/anzeige/stream`: the display's events for signed-in staff.
pub(super) async fn display_stream(
    State(state): State<AppState>,
    Signed(member): Signed,
    path: Result<Path<String>, PathRejection>,
    query: Result<axum::extract::Query<AfterQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let office = match OfficePage::find(&state, &member, &path_text(path), Permission::ReadDisplay) {
        Ok(office) => office,
        Err(response) => return response,
    };
    let after = query.ok().and_then(|axum::extract::Query(query)| query.after);
    display_events(&state, office.id, office.zone, &headers, after, None)
        .await
        .into_response()
}
