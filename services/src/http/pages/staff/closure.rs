//! A lead closes a day or part of it (`/staff/{office}/schliessen`): date,
//! optional span, reason. Through `application::closures`, as
//! `POST /api/v1/offices/{office}/closures`; the answer says how many
//! bookings were cancelled (and mailed the reason) and units withdrawn.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use terminagent_domain::{ClosureError, ClosureReason, Permission};

use super::render;
use super::session::{Member, Posted, Signed};
use super::{
    FieldErrors, Frame, OfficePage, day_label, execute_failure_page, field, internal_page, message_page, parse_date,
    parse_time, path_text, text_error,
};
use crate::application::closures::close_office;
use crate::http::AppState;
use crate::http::pages::PageLink;

#[derive(Template)]
#[template(path = "staff/closure.html")]
struct ClosurePage {
    frame: Frame,
    office_id: String,
    office_name: String,
    date: String,
    from: String,
    to: String,
    reason: String,
    errors: FieldErrors,
}

fn form(member: &Member, office: &OfficePage, date: String) -> ClosurePage {
    ClosurePage {
        frame: Frame::of(Some(member)),
        office_id: office.id.to_string(),
        office_name: office.name.clone(),
        date,
        from: String::new(),
        to: String::new(),
        reason: String::new(),
        errors: FieldErrors::default(),
    }
}

/// `GET /staff/{office}/schliessen`: the form, today's date filled in.
pub(super) async fn closure_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    match OfficePage::find(&state, &member, &path_text(path), Permission::CloseOffice) {
        Ok(office) => {
            let today = office.zone.today(state.executor.now()).to_string();
            render(StatusCode::OK, &form(&member, &office, today))
        }
        Err(response) => response,
    }
}

/// `POST /staff/{office}/schliessen`.
pub(super) async fn close(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    posted: Posted,
) -> Response {
    let Posted { member, fields } = posted;
    let office = match OfficePage::find(&state, &member, &path_text(path), Permission::CloseOffice) {
        Ok(office) => office,
        Err(response) => return response,
    };
    let mut page = form(&member, &office, field(&fields, "datum").to_owned());
    page.from = field(&fields, "von").to_owned();
    page.to = field(&fields, "bis").to_owned();
    page.reason = field(&fields, "grund").to_owned();
    let date = parse_date(&page.date);
    if date.is_none() {
        page.errors
            .add("datum", "Bitte geben Sie das Datum an, zum Beispiel 24.12.2026.");
    }
    let span = match (page.from.as_str(), page.to.as_str()) {
        ("", "") => Some(None),
        (from, to) => match (parse_time(from), parse_time(to)) {
            (Some(from), Some(to)) if from < to => Some(Some((from, to))),
            (Some(_), Some(_)) => {
                page.errors.add("bis", "„Bis“ muss nach „Von“ liegen.");
                None
            }
            (from, _) => {
                let (id, message) = if from.is_none() {
                    (
                        "von",
                        "Bitte geben Sie Beginn und Ende an (zum Beispiel 12:00 bis 16:00) oder keines von beiden für den ganzen Tag.",
                    )
                } else {
                    ("bis", "Bitte geben Sie auch das Ende an, zum Beispiel 16:00.")
                };
                page.errors.add(id, message);
                None
            }
        },
    };
    let reason = match ClosureReason::parse(&page.reason) {
        Ok(reason) => Some(reason),
        Err(error) => {
            page.errors.add(
                "grund",
                text_error(
                    error,
                    "Bitte nennen Sie den Grund; die betroffenen Bürgerinnen und Bürger lesen ihn in ihrer E-Mail.",
                ),
            );
            None
        }
    };
    let (Some(date), Some(span), Some(reason)) = (date, span, reason) else {
        return render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let cause = state.new_cause(member.principal.actor());
    let outcome = match close_office(&state.executor, cause, office.id.clone(), date, span, reason).await {
        Ok(outcome) => outcome,
        Err(error) => {
            return execute_failure_page(&member, error, |refused| match refused {
                ClosureError::DateInPast { .. } => {
                    page.errors.add("datum", "Dieser Tag ist schon vorüber.");
                    render(StatusCode::UNPROCESSABLE_ENTITY, &page)
                }
                other => message_page(
                    Some(&member),
                    StatusCode::CONFLICT,
                    "Das ging nicht",
                    &[&other.to_string()],
                    None,
                ),
            });
        }
    };
    if let Err(problem) = state.catch_up_views().await {
        return internal_page(Some(&member), &problem.detail);
    }
    let when = match span {
        None => format!("am {}", day_label(date.as_naive())),
        Some((from, to)) => format!("am {} von {from} bis {to} Uhr", day_label(date.as_naive())),
    };
    let summary = format!(
        "{} ist {when} geschlossen. {} Termin(e) wurden abgesagt; die Bürgerinnen und Bürger erhalten eine E-Mail \
         mit Ihrem Grund. {} Zeitfenster sind zurückgezogen und werden nicht mehr angeboten.",
        office.name, outcome.cancelled_bookings, outcome.withdrawn_units
    );
    message_page(
        Some(&member),
        StatusCode::CREATED,
        "Geschlossen",
        &[&summary],
        Some(PageLink::new(
            format!("/staff/{}/tag?datum={date}", office.id),
            "Zur Tagesliste dieses Tages",
        )),
    )
}
