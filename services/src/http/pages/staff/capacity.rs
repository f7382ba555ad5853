//! A lead's week template (`/staff/{office}/kapazitaet`): weekdays × from/to
//! × lanes × unit minutes, for 1–12 weeks from next Monday. Each day goes
//! through the capacity decision of `POST /api/v1/offices/{office}/capacity`
//! on its own; a day it refuses (closed, a holiday, outside the hours, an
//! overlap) is skipped and listed with the reason, the others are published.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Datelike, Days, NaiveDate, Weekday};
use terminagent_domain::WEEKDAYS;
use terminagent_domain::catalogue::{MAX_LANES, MAX_UNIT_MINUTES};
use terminagent_domain::opening_hours::weekday_key;
use terminagent_domain::{
    CapacityDecider, CapacityError, CatalogueEvent, ClosedReason, LocalDate, LocalTime, OpeningInterval, Permission,
    PublishCapacity, StreamName,
};

use super::render;
use super::session::{Member, Posted, Signed};
use super::{FieldErrors, Frame, OfficePage, Pairs, day_label, field, internal_page, parse_time, path_text, values};
use crate::application::ExecuteError;
use crate::german;
use crate::http::AppState;

/// Most weeks one template publishes.
const MAX_WEEKS: u32 = 12;

struct DayChoice {
    key: &'static str,
    label: &'static str,
    checked: bool,
}

/// The form as typed (or as proposed from the opening hours).
struct TemplateValues {
    days: Vec<DayChoice>,
    from: String,
    to: String,
    lanes: String,
    minutes: String,
    weeks: String,
}

#[derive(Template)]
#[template(path = "staff/capacity.html")]
struct CapacityPage {
    frame: Frame,
    office_id: String,
    office_name: String,
    first_monday: String,
    max_weeks: u32,
    values: TemplateValues,
    errors: FieldErrors,
}

struct PublishedDay {
    label: String,
    units: u32,
}

struct RefusedDay {
    label: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "staff/capacity_result.html")]
struct CapacityResultPage {
    frame: Frame,
    office_id: String,
    office_name: String,
    published: Vec<PublishedDay>,
    refused: Vec<RefusedDay>,
}

impl CapacityResultPage {
    fn units(&self) -> u32 {
        self.published.iter().map(|day| day.units).sum()
    }
}

/// The Monday after `today` (a week ahead when today is a Monday).
fn next_monday(today: NaiveDate) -> NaiveDate {
    today + Days::new(7 - u64::from(today.weekday().num_days_from_monday()))
}

/// Proposed values: the office's open days and its first opening interval.
fn proposed(state: &AppState, office: &OfficePage) -> TemplateValues {
    let hours = state
        .catalogue
        .read()
        .office(&office.id)
        .and_then(|entry| entry.opening_hours.clone());
    let open = |weekday: Weekday| match &hours {
        Some(hours) => !hours.day(weekday).is_empty(),
        None => !matches!(weekday, Weekday::Sat | Weekday::Sun),
    };
    let first: Option<OpeningInterval> = hours
        .as_ref()
        .and_then(|hours| WEEKDAYS.iter().find_map(|day| hours.day(*day).first().copied()));
    TemplateValues {
        days: WEEKDAYS
            .iter()
            .map(|day| DayChoice {
                key: weekday_key(*day),
                label: german::weekday(*day),
                checked: open(*day),
            })
            .collect(),
        from: first.map_or_else(|| "08:00".to_owned(), |interval| interval.from().to_string()),
        to: first.map_or_else(|| "12:00".to_owned(), |interval| interval.to().to_string()),
        lanes: "1".to_owned(),
        minutes: "12".to_owned(),
        weeks: "1".to_owned(),
    }
}

fn page(
    member: &Member,
    office: &OfficePage,
    values: TemplateValues,
    errors: FieldErrors,
    state: &AppState,
) -> CapacityPage {
    let today = office.zone.today(state.executor.now());
    CapacityPage {
        frame: Frame::of(Some(member)),
        office_id: office.id.to_string(),
        office_name: office.name.clone(),
        first_monday: day_label(next_monday(today)),
        max_weeks: MAX_WEEKS,
        values,
        errors,
    }
}

/// `GET /staff/{office}/kapazitaet`: the week template's form.
pub(super) async fn capacity_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let office = match OfficePage::find(&state, &member, &path_text(path), Permission::PublishCapacity) {
        Ok(office) => office,
        Err(response) => return response,
    };
    let values = proposed(&state, &office);
    render(
        StatusCode::OK,
        &page(&member, &office, values, FieldErrors::default(), &state),
    )
}

/// A valid template.
struct WeekTemplate {
    days: Vec<Weekday>,
    from: LocalTime,
    to: LocalTime,
    lanes: u16,
    unit_minutes: u32,
    weeks: u32,
}

#[expect(clippy::result_large_err, reason = "the form goes back once, at once")]
fn parse_template(fields: &Pairs) -> Result<WeekTemplate, (TemplateValues, FieldErrors)> {
    let chosen: Vec<&str> = values(fields, "tage").collect();
    let form = TemplateValues {
        days: WEEKDAYS
            .iter()
            .map(|day| DayChoice {
                key: weekday_key(*day),
                label: german::weekday(*day),
                checked: chosen.contains(&weekday_key(*day)),
            })
            .collect(),
        from: field(fields, "von").to_owned(),
        to: field(fields, "bis").to_owned(),
        lanes: field(fields, "schalter").to_owned(),
        minutes: field(fields, "minuten").to_owned(),
        weeks: field(fields, "wochen").to_owned(),
    };
    let mut errors = FieldErrors::default();
    let days: Vec<Weekday> = WEEKDAYS
        .iter()
        .copied()
        .filter(|day| chosen.contains(&weekday_key(*day)))
        .collect();
    if days.is_empty() {
        errors.add("tag-mon", "Bitte wählen Sie mindestens einen Wochentag.");
    }
    let from = parse_time(&form.from);
    if from.is_none() {
        errors.add("von", "Bitte geben Sie den Beginn als Uhrzeit an, zum Beispiel 08:00.");
    }
    let to = parse_time(&form.to);
    if to.is_none() {
        errors.add("bis", "Bitte geben Sie das Ende als Uhrzeit an, zum Beispiel 12:00.");
    }
    let lanes = form
        .lanes
        .parse::<u16>()
        .ok()
        .filter(|lanes| (1..=MAX_LANES).contains(lanes));
    if lanes.is_none() {
        errors.add("schalter", format!("Bitte geben Sie 1 bis {MAX_LANES} Schalter an."));
    }
    let unit_minutes = form
        .minutes
        .parse::<u32>()
        .ok()
        .filter(|minutes| (1..=MAX_UNIT_MINUTES).contains(minutes));
    if unit_minutes.is_none() {
        errors.add(
            "minuten",
            format!("Eine Zeiteinheit dauert 1 bis {MAX_UNIT_MINUTES} Minuten."),
        );
    }
    let weeks = form
        .weeks
        .parse::<u32>()
        .ok()
        .filter(|weeks| (1..=MAX_WEEKS).contains(weeks));
    if weeks.is_none() {
        errors.add("wochen", format!("Bitte wählen Sie 1 bis {MAX_WEEKS} Wochen."));
    }
    if let (Some(from), Some(to)) = (from, to) {
        let span = to
            .minutes_since_midnight()
            .saturating_sub(from.minutes_since_midnight());
        if to <= from {
            errors.add("bis", "Das Ende muss nach dem Beginn liegen.");
        } else if unit_minutes.is_some_and(|unit| span < unit) {
            errors.add("bis", "Der Zeitraum ist kürzer als eine Zeiteinheit.");
        }
    }
    match (from, to, lanes, unit_minutes, weeks) {
        (Some(from), Some(to), Some(lanes), Some(unit_minutes), Some(weeks)) if errors.is_empty() => Ok(WeekTemplate {
            days,
            from,
            to,
            lanes,
            unit_minutes,
            weeks,
        }),
        _ => Err((form, errors)),
    }
}

/// `POST /staff/{office}/kapazitaet`: publishes the template day by day.
pub(super) async fn publish_week(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    posted: Posted,
) -> Response {
    let Posted { member, fields } = posted;
    let office = match OfficePage::find(&state, &member, &path_text(path), Permission::PublishCapacity) {
        Ok(office) => office,
        Err(response) => return response,
    };
    let template = match parse_template(&fields) {
        Ok(template) => template,
        Err((values, errors)) => {
            return render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page(&member, &office, values, errors, &state),
            );
        }
    };
    let monday = next_monday(office.zone.today(state.executor.now()));
    let mut result = CapacityResultPage {
        frame: Frame::of(Some(&member)),
        office_id: office.id.to_string(),
        office_name: office.name.clone(),
        published: Vec::new(),
        refused: Vec::new(),
    };
    for week in 0..template.weeks {
        for weekday in &template.days {
            let offset = u64::from(week) * 7 + u64::from(weekday.num_days_from_monday());
            let Ok(date) = LocalDate::try_from(monday + Days::new(offset)) else {
                continue;
            };
            let label = day_label(date.as_naive());
            let streams = [
                StreamName::office(&office.id),
                StreamName::office_day(&office.id, date.into()),
            ];
            let publish = |now| PublishCapacity {
                office: office.id.clone(),
                date,
                from: template.from,
                to: template.to,
                unit_minutes: template.unit_minutes,
                lanes: template.lanes,
                now,
            };
            let cause = state.new_cause(member.principal.actor());
            match state
                .executor
                .execute::<CapacityDecider>(&streams, cause, publish)
                .await
            {
                Ok(events) => result.published.push(PublishedDay {
                    label,
                    units: events.iter().map(CatalogueEvent::units_published).sum(),
                }),
                Err(ExecuteError::Rejected(refused)) => result.refused.push(RefusedDay {
                    label,
                    reason: refusal(&refused),
                }),
                Err(ExecuteError::Contended { .. }) => result.refused.push(RefusedDay {
                    label,
                    reason: "Gerade zu viele gleichzeitige Änderungen; bitte diesen Tag noch einmal veröffentlichen."
                        .to_owned(),
                }),
                Err(ExecuteError::Storage(error)) => return internal_page(Some(&member), &error),
            }
        }
    }
    if let Err(problem) = state.catch_up_views().await {
        return internal_page(Some(&member), &problem.detail);
    }
    let status = if result.published.is_empty() {
        StatusCode::CONFLICT
    } else {
        StatusCode::CREATED
    };
    render(status, &result)
}

/// Why the capacity decision refused a day, in German.
fn refusal(error: &CapacityError) -> String {
    match error {
        CapacityError::OfficeClosed { reason, .. } => match reason {
            ClosedReason::PublicHoliday { name, .. } => format!("Feiertag ({name})"),
            ClosedReason::ClosedDay => "Schließtag des Bürgerbüros".to_owned(),
            ClosedReason::ClosedWeekday => "An diesem Wochentag ist das Bürgerbüro geschlossen".to_owned(),
            ClosedReason::OutsideHours { start, end, open } => {
                let hours: Vec<String> = open.iter().map(|interval| format!("{interval}")).collect();
                format!(
                    "{start}–{end} Uhr liegt außerhalb der Öffnungszeiten ({} Uhr)",
                    hours.join(", ")
                )
            }
        },
        CapacityError::Overlap { lane, start } => {
            format!("Überschneidet sich mit bereits veröffentlichter Kapazität (Schalter {lane}, {start} Uhr)")
        }
        CapacityError::DateInPast { .. } => "Der Tag liegt in der Vergangenheit".to_owned(),
        CapacityError::DstTransition(_) => {
            "Zeitumstellung: eine Uhrzeit gibt es an diesem Tag nicht oder doppelt".to_owned()
        }
        CapacityError::UnknownOffice(_) => "Das Bürgerbüro ist nicht angelegt".to_owned(),
        other => format!("Abgelehnt: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_monday_is_always_ahead() {
        let monday = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(next_monday(monday), NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
        let sunday = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        assert_eq!(next_monday(sunday), NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
        let wednesday = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert_eq!(next_monday(wednesday), NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
    }
}
