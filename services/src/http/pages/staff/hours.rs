//! A lead's opening hours, holiday region and closed days
//! (`/staff/{office}/oeffnungszeiten`). Saved through the decision of
//! `PUT /api/v1/offices/{office}` (`OfficeDecider`); name, address and time
//! zone stay as the log has them at the moment of saving.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use terminagent_domain::WEEKDAYS;
use terminagent_domain::opening_hours::weekday_key;
use terminagent_domain::{
    ClosedDays, HolidayRegion, MAX_CLOSED_DAYS, MAX_INTERVALS_PER_DAY, OfficeDecider, OfficeDetails, OpeningHours,
    OpeningHoursError, OpeningInterval, Permission, RegisterOffice, StreamName,
};

use super::render;
use super::session::{Member, Posted, Signed};
use super::{
    FieldErrors, Frame, OfficePage, Pairs, execute_failure_page, field, internal_page, not_found_page, parse_date,
    parse_time, path_text,
};
use crate::application::FirstRead;
use crate::german;
use crate::http::AppState;

/// Interval fields per weekday the form offers at least.
const FORM_INTERVALS: usize = 2;

struct IntervalValues {
    index: usize,
    from: String,
    to: String,
}

struct WeekdayRow {
    key: &'static str,
    label: &'static str,
    intervals: Vec<IntervalValues>,
}

struct RegionChoice {
    code: &'static str,
    name: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "staff/hours.html")]
struct HoursPage {
    frame: Frame,
    office_id: String,
    office_name: String,
    /// Interval columns (the most any weekday has, at least two).
    columns: Vec<usize>,
    days: Vec<WeekdayRow>,
    regions: Vec<RegionChoice>,
    no_region: bool,
    closed_days: String,
    saved: bool,
    errors: FieldErrors,
}

impl HoursPage {
    /// The error of a weekday's row.
    fn day_error(&self, key: &str) -> Option<&str> {
        self.errors.get(&format!("{key}-von-1"))
    }
}

/// The form's values as typed: per weekday `(from, to)` texts, region, closed days.
struct HoursValues {
    days: Vec<Vec<(String, String)>>,
    region: String,
    closed_days: String,
}

impl HoursValues {
    fn of(details: &OfficeDetails) -> Self {
        HoursValues {
            days: WEEKDAYS
                .iter()
                .map(|day| {
                    details
                        .opening_hours
                        .as_ref()
                        .map(|hours| {
                            hours
                                .day(*day)
                                .iter()
                                .map(|interval| (interval.from().to_string(), interval.to().to_string()))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect(),
            region: details
                .holidays
                .map(|region| region.code().to_owned())
                .unwrap_or_default(),
            closed_days: details
                .closed_days
                .iter()
                .map(|day| day.as_naive().format("%d.%m.%Y").to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    fn from_form(fields: &Pairs) -> Self {
        HoursValues {
            days: WEEKDAYS
                .iter()
                .map(|day| {
                    let key = weekday_key(*day);
                    let mut intervals: Vec<(String, String)> = (1..=MAX_INTERVALS_PER_DAY)
                        .map(|index| {
                            (
                                field(fields, &format!("{key}-von-{index}")).to_owned(),
                                field(fields, &format!("{key}-bis-{index}")).to_owned(),
                            )
                        })
                        .collect();
                    // Trailing empty pairs are no intervals; inner ones keep their place.
                    while intervals
                        .last()
                        .is_some_and(|(from, to)| from.is_empty() && to.is_empty())
                    {
                        intervals.pop();
                    }
                    intervals
                })
                .collect(),
            region: field(fields, "feiertage").to_owned(),
            closed_days: fields
                .iter()
                .rev()
                .find(|(key, _)| key == "schliesstage")
                .map_or_else(String::new, |(_, value)| value.trim().to_owned()),
        }
    }
}

fn page(member: &Member, office: &OfficePage, values: HoursValues, saved: bool, errors: FieldErrors) -> HoursPage {
    let columns = values
        .days
        .iter()
        .map(Vec::len)
        .max()
        .unwrap_or(0)
        .clamp(FORM_INTERVALS, MAX_INTERVALS_PER_DAY);
    let days = WEEKDAYS
        .iter()
        .zip(&values.days)
        .map(|(day, intervals)| WeekdayRow {
            key: weekday_key(*day),
            label: german::weekday(*day),
            intervals: (0..columns)
                .map(|index| {
                    let (from, to) = intervals.get(index).cloned().unwrap_or_default();
                    IntervalValues {
                        index: index + 1,
                        from,
                        to,
                    }
                })
                .collect(),
        })
        .collect();
    HoursPage {
        frame: Frame::of(Some(member)),
        office_id: office.id.to_string(),
        office_name: office.name.clone(),
        columns: (1..=columns).collect(),
        days,
        regions: HolidayRegion::ALL
            .iter()
            .map(|region| RegionChoice {
                code: region.code(),
                name: region.name(),
                selected: region.code() == values.region,
            })
            .collect(),
        no_region: values.region.is_empty(),
        closed_days: values.closed_days,
        saved,
        errors,
    }
}

/// The office's details as the log has them; `None`: not registered.
async fn details(
    state: &AppState,
    office: &OfficePage,
) -> Result<Option<OfficeDetails>, terminagent_eventstore::StorageError> {
    state
        .executor
        .state_of::<OfficeDecider>(&[StreamName::office(&office.id)])
        .await
}

/// `GET /staff/{office}/oeffnungszeiten`.
pub(super) async fn hours_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let office = match OfficePage::find(&state, &member, &path_text(path), Permission::EditOpeningHours) {
        Ok(office) => office,
        Err(response) => return response,
    };
    match details(&state, &office).await {
        Ok(Some(details)) => render(
            StatusCode::OK,
            &page(
                &member,
                &office,
                HoursValues::of(&details),
                false,
                FieldErrors::default(),
            ),
        ),
        Ok(None) => not_found_page(Some(&member), "Dieses Bürgerbüro gibt es nicht"),
        Err(error) => internal_page(Some(&member), &error),
    }
}

/// What the form asks for, validated.
struct Calendar {
    opening_hours: Option<OpeningHours>,
    holidays: Option<HolidayRegion>,
    closed_days: ClosedDays,
}

fn parse_calendar(values: &HoursValues) -> Result<Calendar, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut week = Vec::new();
    for (day, intervals) in WEEKDAYS.iter().zip(&values.days) {
        let key = weekday_key(*day);
        let name = german::weekday(*day);
        let mut parsed = Vec::new();
        for (from, to) in intervals {
            if from.is_empty() && to.is_empty() {
                continue;
            }
            match (parse_time(from), parse_time(to)) {
                (Some(from), Some(to)) => match OpeningInterval::new(from, to) {
                    Ok(interval) => parsed.push(interval),
                    Err(_) => errors.add(
                        format!("{key}-von-1"),
                        format!("{name}: Das Ende muss nach dem Beginn liegen ({from} bis {to})."),
                    ),
                },
                _ => errors.add(
                    format!("{key}-von-1"),
                    format!("{name}: Bitte geben Sie Beginn und Ende als Uhrzeit an, zum Beispiel 08:00 und 12:00."),
                ),
            }
        }
        week.push((*day, parsed));
    }
    let opening_hours = if !errors.is_empty() || week.iter().all(|(_, intervals)| intervals.is_empty()) {
        // No hours at all: the office has no fixed hours (capacity at any time).
        None
    } else {
        match OpeningHours::new(week) {
            Ok(hours) => Some(hours),
            Err(OpeningHoursError::Overlapping { weekday, .. }) => {
                errors.add(
                    format!("{}-von-1", weekday_key(weekday)),
                    format!(
                        "{}: Die Zeiträume überschneiden sich oder schließen direkt aneinander an. Bitte tragen Sie \
                         sie als einen Zeitraum ein.",
                        german::weekday(weekday)
                    ),
                );
                None
            }
            Err(other) => {
                errors.add("mon-von-1", format!("Die Öffnungszeiten sind nicht gültig: {other}"));
                None
            }
        }
    };
    let holidays = match values.region.as_str() {
        "" => None,
        code => match HolidayRegion::parse(code) {
            Ok(region) => Some(region),
            Err(_) => {
                errors.add("feiertage", "Bitte wählen Sie ein Bundesland aus der Liste.");
                None
            }
        },
    };
    let mut days = Vec::new();
    for (line, raw) in values.closed_days.lines().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        match parse_date(raw) {
            Some(date) => days.push(date),
            None => {
                errors.add(
                    "schliesstage",
                    format!(
                        "Zeile {}: „{raw}“ ist kein Datum. Bitte schreiben Sie einen Tag je Zeile, zum Beispiel 24.12.2026.",
                        line + 1
                    ),
                );
                break;
            }
        }
    }
    let closed_days = ClosedDays::new(days).unwrap_or_else(|_| {
        errors.add(
            "schliesstage",
            format!("Es sind höchstens {MAX_CLOSED_DAYS} Schließtage möglich."),
        );
        ClosedDays::default()
    });
    if errors.is_empty() {
        Ok(Calendar {
            opening_hours,
            holidays,
            closed_days,
        })
    } else {
        Err(errors)
    }
}

/// `POST /staff/{office}/oeffnungszeiten`: saves hours, region and closed days.
pub(super) async fn save_hours(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    posted: Posted,
) -> Response {
    let Posted { member, fields } = posted;
    let office = match OfficePage::find(&state, &member, &path_text(path), Permission::EditOpeningHours) {
        Ok(office) => office,
        Err(response) => return response,
    };
    let values = HoursValues::from_form(&fields);
    let calendar = match parse_calendar(&values) {
        Ok(calendar) => calendar,
        Err(errors) => {
            return render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page(&member, &office, values, false, errors),
            );
        }
    };
    let known = match details(&state, &office).await {
        Ok(Some(details)) => details,
        Ok(None) => return not_found_page(Some(&member), "Dieses Bürgerbüro gibt es nicht"),
        Err(error) => return internal_page(Some(&member), &error),
    };
    // The rest of the details as they are when the decision is made, not as read above.
    let command = |_, current: &Option<OfficeDetails>| {
        let current = current.as_ref().unwrap_or(&known);
        RegisterOffice {
            office: office.id.clone(),
            name: current.name.clone(),
            address: current.address.clone(),
            timezone: current.timezone,
            opening_hours: calendar.opening_hours.clone(),
            holidays: calendar.holidays,
            closed_days: calendar.closed_days.clone(),
        }
    };
    let streams = [StreamName::office(&office.id)];
    let cause = state.new_cause(member.principal.actor());
    let saved = state
        .executor
        .execute_on_state::<OfficeDecider>(&streams, FirstRead::Log, cause, command)
        .await;
    if let Err(error) = saved {
        return execute_failure_page(&member, error, |never| match never {});
    }
    if let Err(problem) = state.catch_up_views().await {
        return internal_page(Some(&member), &problem.detail);
    }
    match details(&state, &office).await {
        Ok(Some(details)) => render(
            StatusCode::OK,
            &page(
                &member,
                &office,
                HoursValues::of(&details),
                true,
                FieldErrors::default(),
            ),
        ),
        Ok(None) => not_found_page(Some(&member), "Dieses Bürgerbüro gibt es nicht"),
        Err(error) => internal_page(Some(&member), &error),
    }
}
