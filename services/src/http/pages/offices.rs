//! The office pages: `/standorte` lists the offices, `/standorte/{office}`
//! shows one — address, opening hours in German, and per service what to
//! bring ("Was Sie mitbringen müssen"). Read from the catalogue view.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use terminagent_domain::opening_hours::OpeningHours;
use terminagent_domain::{HolidayRegion, OfficeId, OfficeTimeZone};

use super::{long_date, not_found_page, render};
use crate::http::AppState;
use crate::projections::OfficeEntry;
use crate::site::Paragraphs;

/// An office as the list shows it.
struct OfficeSummary {
    id: String,
    name: String,
    address_lines: Vec<String>,
}

#[derive(Template)]
#[template(path = "offices.html")]
struct OfficesPage {
    offices: Vec<OfficeSummary>,
}

/// One weekday's line of the opening hours.
struct HoursRow {
    weekday: &'static str,
    /// "08:00–12:00 Uhr und 14:00–18:00 Uhr", or "geschlossen".
    hours: String,
}

/// A service and what to bring for it.
struct ServiceToBring {
    name: String,
    minutes: u32,
    /// `None`: the office named nothing to bring.
    description: Option<Paragraphs>,
}

#[derive(Template)]
#[template(path = "office.html")]
struct OfficePage {
    name: String,
    address_lines: Vec<String>,
    /// `None`: no fixed hours.
    hours: Option<Vec<HoursRow>>,
    /// The state whose public holidays close the office.
    holidays: Option<&'static str>,
    /// The office's own closed days from today on, as German dates.
    closed_days: Vec<String>,
    services: Vec<ServiceToBring>,
}

fn address_lines(address: &str) -> Vec<String> {
    address
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Monday to Sunday, each with its intervals in German ("08:00–12:00 Uhr").
fn hours_rows(hours: &OpeningHours) -> Vec<HoursRow> {
    use chrono::Weekday::{Fri, Mon, Sat, Sun, Thu, Tue, Wed};
    [Mon, Tue, Wed, Thu, Fri, Sat, Sun]
        .into_iter()
        .map(|weekday| {
            let intervals: Vec<String> = hours
                .day(weekday)
                .iter()
                .map(|interval| format!("{}–{} Uhr", interval.from(), interval.to()))
                .collect();
            HoursRow {
                weekday: crate::german::weekday(weekday),
                hours: if intervals.is_empty() {
                    "geschlossen".to_owned()
                } else {
                    intervals.join(" und ")
                },
            }
        })
        .collect()
}

/// `GET /standorte`.
pub(in crate::http) async fn offices_page(State(state): State<AppState>) -> Response {
    let offices = state
        .catalogue
        .read()
        .offices()
        .map(|office| OfficeSummary {
            id: office.id.clone(),
            name: office.name.clone(),
            address_lines: address_lines(&office.address),
        })
        .collect();
    render(StatusCode::OK, &OfficesPage { offices })
}

/// `GET /standorte/{office}`; an unknown office is the 404 page.
pub(in crate::http) async fn office_page(State(state): State<AppState>, Path(office): Path<String>) -> Response {
    let Ok(office) = OfficeId::parse(&office) else {
        return not_found_page();
    };
    let catalogue = state.catalogue.read();
    let Some(entry) = catalogue.office(&office) else {
        return not_found_page();
    };
    let today = today_at(entry, &state);
    let page = OfficePage {
        name: entry.name.clone(),
        address_lines: address_lines(&entry.address),
        hours: entry.opening_hours.as_ref().map(hours_rows),
        holidays: entry
            .holidays
            .as_deref()
            .and_then(|code| HolidayRegion::parse(code).ok())
            .map(HolidayRegion::name),
        closed_days: entry
            .closed_days
            .iter()
            .filter_map(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
            .filter(|day| today.is_none_or(|today| *day >= today))
            .map(long_date)
            .collect(),
        services: catalogue
            .services()
            .map(|service| ServiceToBring {
                name: service.name.clone(),
                minutes: service.duration_minutes,
                description: service.description.as_deref().map(Paragraphs::of),
            })
            .collect(),
    };
    drop(catalogue);
    render(StatusCode::OK, &page)
}

/// Today in the office's zone (closed days before it are history).
fn today_at(entry: &OfficeEntry, state: &AppState) -> Option<NaiveDate> {
    let zone = OfficeTimeZone::parse(&entry.timezone).ok()?;
    Some(zone.today(state.executor.now()))
}
