//! The statistics pages for leads, auditors and admins
//! (`/staff/statistik?buero=…&von=YYYY-MM-DD&bis=YYYY-MM-DD`): the figures
//! of `GET /api/v1/statistics` (read by the same function,
//! `http::statistics::read_statistics`) for a day, a week, a month or any
//! range of up to 366 days, of one office or of all offices. Leads read
//! their office, auditors and admins any office and all together
//! (`ReadStatistics`).
//!
//! The page shows every figure of the range in tables, and charts drawn on
//! the server as SVG ([`super::charts`]), each beside a table with its
//! numbers: bookings per day by outcome; utilisation per office (all
//! offices) or per day (one office); waiting time by hour of the day
//! (median and 90th percentile); the waitlist's inflow (wishes registered
//! per day) and fill (wishes waiting at the end of each day).
//! `format=csv` downloads the API's CSV, `format=xlsx` a workbook with the
//! sheets "Übersicht" (the range's figures), "Tage" (one row per date, the
//! CSV's columns), "Stunden" and "Dienstleistungen" (the `by=hour` and
//! `by=service` CSVs' columns).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Days, Months, NaiveDate};
use terminagent_domain::{OfficeId, OfficeTimeZone, Permission};

use super::super::PageLink;
use super::charts::{self, Chart, Column, Series, german_number};
use super::render;
use super::session::Signed;
use super::{Frame, Pairs, field, internal_page, message_page, no_permission_page, not_found_page, parse_date};
use crate::http::AppState;
use crate::http::statistics::{
    CSV_COLUMNS, Figures, MAX_DAYS, SLICE_CSV_COLUMNS, SliceStatistics, StatisticsRead, csv_fields, slice_csv_fields,
    statistics_caught_up, statistics_now,
};

/// German names of the CSV's columns after `date`, in their order.
const LABELS: [&str; 49] = [
    "Online gebucht",
    "Vor Ort (Wartemarke)",
    "Bestätigt",
    "Abgesagt",
    "Verfallen (nicht bestätigt)",
    "Erledigt",
    "Nicht erschienen",
    "Aus der Warteliste",
    "Abgesagt von Bürgerinnen und Bürgern",
    "Abgesagt vom Bürgerbüro",
    "Nicht erschienen: nie eingecheckt",
    "Nicht erschienen: beim Aufruf abwesend",
    "Quote nicht erschienen",
    "Wartezeit: Anzahl gemessen",
    "Wartezeit: Mittelwert (Minuten)",
    "Wartezeit: Median (Minuten)",
    "Wartezeit: 90. Perzentil (Minuten)",
    "Wartezeit: längste (Minuten)",
    "Bearbeitungszeit: Anzahl gemessen",
    "Bearbeitungszeit: Mittelwert (Minuten)",
    "Bearbeitungszeit: Median (Minuten)",
    "Bearbeitungszeit: 90. Perzentil (Minuten)",
    "Bearbeitungszeit: längste (Minuten)",
    "Auslastung (gebuchte ÷ veröffentlichte Einheiten)",
    "Veröffentlichte Einheiten",
    "Gebuchte Einheiten",
    "Bediente Einheiten",
    "Schalter geöffnet (Minuten)",
    "Schalter pausiert (Minuten)",
    "Wünsche eingetragen",
    "Vorschläge gemacht",
    "Vorschläge angenommen",
    "Vorschläge abgelehnt",
    "Vorschläge abgelaufen",
    "Vorschläge zurückgezogen (Schließung)",
    "Wünsche beendet ohne Termin",
    "Wünsche beendet von Bürgerinnen und Bürgern",
    "Wünsche beendet: Vorschläge unbeantwortet",
    "Wünsche beendet: letzter Tag vorbei",
    "Stunden bis zum ersten Vorschlag: Median",
    "Stunden bis zum ersten Vorschlag: 90. Perzentil",
    "Wünsche aus der Warteliste ausgeschieden",
    "Frei gewordene Einheiten an die Warteliste",
    "Frei gewordene Einheiten öffentlich gebucht",
    "Check-ins mit Wartezeit-Schätzung",
    "Aufruf innerhalb der Schätzung",
    "Aufruf früher als geschätzt",
    "Aufruf später als geschätzt",
    "Quote innerhalb der Schätzung",
];

/// The summary's tables: caption and the CSV columns (indexes) they show.
const GROUPS: [(&str, std::ops::RangeInclusive<usize>); 6] = [
    ("Buchungen und Besuche", 1..=13),
    ("Wartezeit", 14..=18),
    ("Bearbeitungszeit", 19..=23),
    ("Auslastung und Schalter", 24..=29),
    ("Warteliste", 30..=44),
    ("Wartezeit-Schätzung am Kiosk", 45..=49),
];

/// Columns shown as percentages (fractions in the data).
const RATES: [&str; 3] = ["no_show_rate", "utilisation", "estimates_inside_rate"];

/// The bookings chart's outcomes, bottom up (Okabe–Ito colours).
const OUTCOMES: [Series; 5] = [
    Series {
        key: "served",
        label: "Erledigt",
        colour: "#009e73",
    },
    Series {
        key: "missed",
        label: "Nicht erschienen",
        colour: "#d55e00",
    },
    Series {
        key: "cancelled",
        label: "Abgesagt",
        colour: "#cc79a7",
    },
    Series {
        key: "lapsed",
        label: "Verfallen",
        colour: "#e69f00",
    },
    Series {
        key: "other",
        label: "Übrige (offen)",
        colour: "#0072b2",
    },
];

const UTILISATION: [Series; 1] = [Series {
    key: "utilisation",
    label: "Auslastung",
    colour: "#0072b2",
}];

const WAITING_BY_HOUR: [Series; 2] = [
    Series {
        key: "p50",
        label: "Median",
        colour: "#56b4e9",
    },
    Series {
        key: "p90",
        label: "90. Perzentil",
        colour: "#0072b2",
    },
];

const INFLOW: [Series; 1] = [Series {
    key: "registered",
    label: "Wünsche eingetragen",
    colour: "#009e73",
}];

const FILL: [Series; 1] = [Series {
    key: "waiting",
    label: "Wünsche wartend",
    colour: "#cc79a7",
}];

/// A chart with the table of its numbers beside it.
struct ChartWithTable {
    /// The section's anchor and heading.
    anchor: &'static str,
    heading: &'static str,
    chart: String,
    /// The table's id, caption and column headings (the first for the row labels).
    table_id: &'static str,
    caption: String,
    headings: Vec<&'static str>,
    rows: Vec<ChartRow>,
    /// Shown instead of the chart when there is nothing to draw.
    empty: Option<&'static str>,
}

struct ChartRow {
    key: String,
    label: String,
    cells: Vec<String>,
}

struct SummaryRow {
    label: &'static str,
    key: &'static str,
    value: String,
}

struct SummaryGroup {
    caption: &'static str,
    rows: Vec<SummaryRow>,
}

/// One date's bookings by outcome: the bookings chart's table.
struct OutcomeRow {
    date: String,
    label: String,
    /// In the order of [`OUTCOMES`].
    values: Vec<u64>,
    total: u64,
}

struct DayRow {
    date: String,
    label: String,
    online: u64,
    walk_in: u64,
    confirmed: u64,
    utilisation: String,
    waiting_p50: String,
    registered: u64,
    proposals: u64,
}

struct UtilisationRow {
    key: String,
    label: String,
    published: u64,
    booked: u64,
    value: String,
    /// The bar: a percentage with one decimal.
    bar: Option<f64>,
}

struct OfficeOption {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "staff/statistics.html")]
struct StatisticsPage {
    frame: Frame,
    office_label: String,
    period_label: String,
    offices: Vec<OfficeOption>,
    from: String,
    to: String,
    quick_links: Vec<PageLink>,
    csv_href: String,
    xlsx_href: String,
    groups: Vec<SummaryGroup>,
    outcome_labels: Vec<&'static str>,
    outcome_rows: Vec<OutcomeRow>,
    outcome_totals: Vec<u64>,
    outcome_total: u64,
    bookings_chart: String,
    utilisation_caption: String,
    utilisation_first: &'static str,
    utilisation_rows: Vec<UtilisationRow>,
    utilisation_chart: String,
    more_charts: Vec<ChartWithTable>,
    days: Vec<DayRow>,
}

/// Bookings by outcome: served, missed, cancelled, lapsed, and the rest of
/// those placed (still open, or confirmed without a visit yet).
fn outcomes(figures: &Figures) -> [u64; 5] {
    let b = &figures.bookings;
    let ended = b.served + b.missed + b.cancelled + b.lapsed;
    [
        b.served,
        b.missed,
        b.cancelled,
        b.lapsed,
        (b.online + b.walk_in).saturating_sub(ended),
    ]
}

/// A rate (fraction) as a German percentage; "–" without one.
fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(
        || "–".to_owned(),
        |rate| format!("{} %", german_number(percent_value(rate))),
    )
}

/// A rate as the percentage the charts carry (one decimal).
fn percent_value(rate: f64) -> f64 {
    (rate * 1000.0).round() / 10.0
}

fn minutes(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), german_number)
}

/// A CSV field as a German table cell.
fn cell(key: &str, raw: &str) -> String {
    match raw.parse::<f64>() {
        Err(_) => "–".to_owned(),
        Ok(value) if RATES.contains(&key) => percent(Some(value)),
        Ok(value) => german_number(value),
    }
}

fn short_date(date: NaiveDate) -> String {
    date.format("%d.%m.").to_string()
}

fn german_date(date: NaiveDate) -> String {
    date.format("%d.%m.%Y").to_string()
}

/// The page's address for other parameters.
fn href(office: &str, from: NaiveDate, to: NaiveDate, format: Option<&str>) -> String {
    let mut href = format!("/staff/statistik?buero={office}&von={from}&bis={to}");
    if let Some(format) = format {
        href.push_str("&format=");
        href.push_str(format);
    }
    href
}

/// The Monday of `date`'s week.
fn monday(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

/// The last complete month before `date`'s: (first, last day).
fn last_month(date: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first_of_this = date.with_day(1).unwrap_or(date);
    let last = first_of_this.pred_opt().unwrap_or(first_of_this);
    let first = first_of_this.checked_sub_months(Months::new(1)).unwrap_or(last);
    (first, last)
}

fn unprocessable(member: &super::session::Member, text: &str, back: String) -> Response {
    message_page(
        Some(member),
        StatusCode::UNPROCESSABLE_ENTITY,
        "Dieser Zeitraum geht nicht",
        &[text],
        Some(PageLink::new(back, "Zur Statistik dieser Woche")),
    )
}

/// `GET /staff/statistik?buero=…&von=…&bis=…[&format=csv|xlsx]`.
pub(super) async fn statistics_page(
    State(state): State<AppState>,
    Signed(member): Signed,
    Query(query): Query<Pairs>,
) -> Response {
    // The offices this member may read, and whether all of them together.
    let may_all = member.may(Permission::ReadStatistics, None);
    let readable: Vec<(OfficeId, String, Option<OfficeTimeZone>)> = {
        let catalogue = state.catalogue.read();
        catalogue
            .offices()
            .filter_map(|office| {
                let id = OfficeId::parse(&office.id).ok()?;
                member.may(Permission::ReadStatistics, Some(&id)).then(|| {
                    let zone = OfficeTimeZone::parse(&office.timezone).ok();
                    (id, office.name.clone(), zone)
                })
            })
            .collect()
    };
    if !may_all && readable.is_empty() {
        return no_permission_page(&member);
    }
    let office: Option<OfficeId> = match field(&query, "buero") {
        "" if may_all => None,
        "" => readable.first().map(|(id, _, _)| id.clone()),
        "alle" if may_all => None,
        "alle" => return no_permission_page(&member),
        raw => {
            let Ok(id) = OfficeId::parse(raw) else {
                return not_found_page(Some(&member), "Dieses Bürgerbüro gibt es nicht");
            };
            // Asked first, so nobody learns which offices exist beyond theirs.
            if !member.may(Permission::ReadStatistics, Some(&id)) {
                return no_permission_page(&member);
            }
            if !readable.iter().any(|(known, _, _)| *known == id) {
                return not_found_page(Some(&member), "Dieses Bürgerbüro gibt es nicht");
            }
            Some(id)
        }
    };
    let office_key = office.as_ref().map_or_else(|| "alle".to_owned(), ToString::to_string);
    let office_label = match &office {
        Some(id) => readable
            .iter()
            .find(|(known, _, _)| known == id)
            .map_or_else(|| id.to_string(), |(_, name, _)| name.clone()),
        None => "Alle Bürgerbüros".to_owned(),
    };
    // Today at the office (all offices: the first office's zone).
    let zone = match &office {
        Some(id) => readable
            .iter()
            .find(|(known, _, _)| known == id)
            .and_then(|(_, _, zone)| *zone),
        None => readable.iter().find_map(|(_, _, zone)| *zone),
    };
    let now = state.executor.now();
    let today = zone.map_or_else(|| now.date_naive(), |zone| zone.today(now));
    let week = (monday(today), monday(today) + Days::new(6));
    let this_week = href(&office_key, week.0, week.1, None);

    let date = |name: &str, default: NaiveDate| match field(&query, name) {
        "" => Some(default),
        raw => parse_date(raw).map(|date| date.as_naive()),
    };
    let (Some(from), Some(to)) = (date("von", week.0), date("bis", week.1)) else {
        return unprocessable(&member, "Bitte geben Sie die Tage im Format TT.MM.JJJJ an.", this_week);
    };
    if to < from {
        return unprocessable(&member, "Der letzte Tag liegt vor dem ersten.", this_week);
    }
    if (to - from).num_days() >= MAX_DAYS {
        return unprocessable(
            &member,
            &format!("Ein Zeitraum umfasst höchstens {MAX_DAYS} Tage."),
            this_week,
        );
    }
    let format = field(&query, "format").to_owned();
    if !matches!(format.as_str(), "" | "html" | "csv" | "xlsx") {
        return message_page(
            Some(&member),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Dieses Format gibt es nicht",
            &["Zum Herunterladen gibt es CSV und XLSX."],
            Some(PageLink::new(href(&office_key, from, to, None), "Zur Statistik")),
        );
    }

    if let Err(problem) = statistics_caught_up(&state).await {
        return internal_page(Some(&member), &problem.detail);
    }
    let read = statistics_now(&state, office.as_ref(), from, to);
    let filename = format!("statistik-{office_key}-{from}-{to}");
    match format.as_str() {
        "csv" => return download(read.csv().into_bytes(), "text/csv; charset=utf-8", &filename, "csv"),
        "xlsx" => {
            return match workbook(&read, &office_label, from, to) {
                Ok(bytes) => download(
                    bytes,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    &filename,
                    "xlsx",
                ),
                Err(error) => internal_page(Some(&member), &error),
            };
        }
        _ => {}
    }

    let mut offices: Vec<OfficeOption> = Vec::new();
    if may_all {
        offices.push(OfficeOption {
            value: "alle".to_owned(),
            label: "Alle Bürgerbüros".to_owned(),
            selected: office.is_none(),
        });
    }
    offices.extend(readable.iter().map(|(id, name, _)| OfficeOption {
        value: id.to_string(),
        label: name.clone(),
        selected: office.as_ref() == Some(id),
    }));

    let (month_from, month_to) = last_month(today);
    let quick_links = vec![
        PageLink::new(href(&office_key, today, today, None), "Heute"),
        PageLink::new(this_week, "Diese Woche"),
        PageLink::new(
            href(&office_key, week.0 - Days::new(7), week.0 - Days::new(1), None),
            "Vorige Woche",
        ),
        PageLink::new(href(&office_key, month_from, month_to, None), "Voriger Monat"),
    ];

    let total_fields = csv_fields("total", &read.total);
    let groups = GROUPS
        .iter()
        .map(|(caption, columns)| SummaryGroup {
            caption,
            rows: columns
                .clone()
                .map(|index| SummaryRow {
                    label: LABELS[index - 1],
                    key: CSV_COLUMNS[index],
                    value: cell(CSV_COLUMNS[index], &total_fields[index]),
                })
                .collect(),
        })
        .collect();

    let outcome_rows: Vec<OutcomeRow> = read
        .days
        .iter()
        .map(|(date, figures)| {
            let values = outcomes(figures).to_vec();
            OutcomeRow {
                date: date.to_string(),
                label: german_date(*date),
                total: values.iter().sum(),
                values,
            }
        })
        .collect();
    let outcome_totals = outcomes(&read.total).to_vec();
    let outcome_total = outcome_totals.iter().sum();
    let period_label = if from == to {
        super::day_label(from)
    } else {
        format!("{} bis {}", german_date(from), german_date(to))
    };
    let bookings_columns: Vec<Column> = read
        .days
        .iter()
        .zip(&outcome_rows)
        .map(|((date, _), row)| Column {
            key: date.to_string(),
            label: short_date(*date),
            long_label: row.label.clone(),
            values: row.values.iter().map(|value| Some(*value as f64)).collect(),
        })
        .collect();
    let bookings_chart = charts::render(&Chart {
        id: "diagramm-buchungen",
        title: format!("Buchungen je Tag nach Ausgang, {office_label}, {period_label}"),
        description: format!(
            "Gestapelte Säulen je Tag. Im ganzen Zeitraum {outcome_total} Buchungen: {}. Die Zahlen stehen in \
             der Tabelle daneben.",
            OUTCOMES
                .iter()
                .zip(&outcome_totals)
                .map(|(series, value)| format!("{} {value}", series.label))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        series: &OUTCOMES,
        columns: &bookings_columns,
        unit: "",
        max: None,
        grouped: false,
    });

    // Utilisation: per office when all are shown, else per day.
    let utilisation_rows: Vec<UtilisationRow> = match &office {
        None => readable
            .iter()
            .map(|(id, name, _)| {
                let total = statistics_now(&state, Some(id), from, to).total;
                UtilisationRow {
                    key: id.to_string(),
                    label: name.clone(),
                    published: total.published_units,
                    booked: total.booked_units,
                    value: percent(total.utilisation),
                    bar: total.utilisation.map(percent_value),
                }
            })
            .collect(),
        Some(_) => read
            .days
            .iter()
            .map(|(date, figures)| UtilisationRow {
                key: date.to_string(),
                label: german_date(*date),
                published: figures.published_units,
                booked: figures.booked_units,
                value: percent(figures.utilisation),
                bar: figures.utilisation.map(percent_value),
            })
            .collect(),
    };
    let utilisation_values: Vec<Option<f64>> = utilisation_rows.iter().map(|row| row.bar).collect();
    let utilisation_columns: Vec<Column> = utilisation_rows
        .iter()
        .zip(&utilisation_values)
        .map(|(row, value)| {
            let label = match &office {
                None if row.label.chars().count() > 14 => {
                    format!("{}…", row.label.chars().take(13).collect::<String>())
                }
                None => row.label.clone(),
                Some(_) => {
                    NaiveDate::parse_from_str(&row.key, "%Y-%m-%d").map_or_else(|_| row.label.clone(), short_date)
                }
            };
            Column {
                key: row.key.clone(),
                label,
                long_label: row.label.clone(),
                values: vec![*value],
            }
        })
        .collect();
    let (utilisation_caption, utilisation_first) = match &office {
        None => (format!("Auslastung je Bürgerbüro, {period_label}"), "Bürgerbüro"),
        Some(_) => (format!("Auslastung je Tag, {office_label}, {period_label}"), "Tag"),
    };
    let utilisation_chart = charts::render(&Chart {
        id: "diagramm-auslastung",
        title: utilisation_caption.clone(),
        description: format!(
            "Säulen: gebuchte Einheiten in Prozent der veröffentlichten. Im ganzen Zeitraum {}. Ohne \
             veröffentlichte Einheiten keine Säule. Die Zahlen stehen in der Tabelle daneben.",
            percent(read.total.utilisation)
        ),
        series: &UTILISATION,
        columns: &utilisation_columns,
        unit: " %",
        max: Some(100f64.max(utilisation_values.iter().flatten().fold(0.0, |a: f64, b| a.max(*b)))),
        grouped: false,
    });
    let fill = state
        .statistics
        .read()
        .waiting_wishes_by_date(office.as_ref(), from, to);
    let more_charts = vec![
        waiting_by_hour_chart(&read, &office_label, &period_label),
        inflow_chart(&read, &office_label, &period_label),
        fill_chart(&fill, &office_label, &period_label),
    ];

    let days = read
        .days
        .iter()
        .map(|(date, figures)| DayRow {
            date: date.to_string(),
            label: german_date(*date),
            online: figures.bookings.online,
            walk_in: figures.bookings.walk_in,
            confirmed: figures.bookings.confirmed,
            utilisation: percent(figures.utilisation),
            waiting_p50: minutes(figures.waiting_minutes.p50),
            registered: figures.waitlist.registered,
            proposals: figures.waitlist.proposals,
        })
        .collect();

    let page = StatisticsPage {
        frame: Frame::of(Some(&member)),
        office_label,
        period_label,
        offices,
        from: from.to_string(),
        to: to.to_string(),
        quick_links,
        csv_href: href(&office_key, from, to, Some("csv")),
        xlsx_href: href(&office_key, from, to, Some("xlsx")),
        groups,
        outcome_labels: OUTCOMES.iter().map(|series| series.label).collect(),
        outcome_rows,
        outcome_totals,
        outcome_total,
        bookings_chart,
        utilisation_caption,
        utilisation_first,
        utilisation_rows,
        utilisation_chart,
        more_charts,
        days,
    };
    render(StatusCode::OK, &page)
}

/// Seconds as minutes with one decimal, as the charts carry them.
fn seconds_as_minutes(seconds: u32) -> f64 {
    (f64::from(seconds) / 6.0).round() / 10.0
}

/// Waiting time by hour of the day: median and 90th percentile in minutes,
/// of the hours in which any visitor was called.
fn waiting_by_hour_chart(read: &StatisticsRead, office_label: &str, period_label: &str) -> ChartWithTable {
    let hours: Vec<(&SliceStatistics, u8, f64, f64)> = read
        .by_hour
        .iter()
        .filter_map(|slice| {
            let waiting = &slice.waiting_seconds;
            Some((
                slice,
                slice.hour?,
                seconds_as_minutes(waiting.p50?),
                seconds_as_minutes(waiting.p90?),
            ))
        })
        .collect();
    let columns: Vec<Column> = hours
        .iter()
        .map(|(_, hour, p50, p90)| Column {
            key: hour.to_string(),
            label: format!("{hour} Uhr"),
            long_label: format!("{hour} bis {} Uhr", hour + 1),
            values: vec![Some(*p50), Some(*p90)],
        })
        .collect();
    let caption = format!("Wartezeit nach Uhrzeit des Termins, {office_label}, {period_label}");
    let chart = charts::render(&Chart {
        id: "diagramm-wartezeit-stunden",
        title: caption.clone(),
        description: format!(
            "Säulenpaare je Stunde des Termins: Median und 90. Perzentil der Wartezeit in Minuten, von der              Ankunft (frühestens zum Termin) bis zum Aufruf. {} Stunden mit Aufrufen. Die Zahlen stehen in der              Tabelle daneben.",
            hours.len()
        ),
        series: &WAITING_BY_HOUR,
        columns: &columns,
        unit: " min",
        max: None,
        grouped: true,
    });
    ChartWithTable {
        anchor: "wartezeit-stunden",
        heading: "Wartezeit nach Uhrzeit",
        chart,
        table_id: "tabelle-wartezeit-stunden",
        caption,
        headings: vec!["Stunde", "Aufrufe", "Median (Minuten)", "90. Perzentil (Minuten)"],
        rows: hours
            .iter()
            .map(|(slice, hour, p50, p90)| ChartRow {
                key: hour.to_string(),
                label: format!("{hour}–{} Uhr", hour + 1),
                cells: vec![
                    slice.waiting_seconds.count.to_string(),
                    german_number(*p50),
                    german_number(*p90),
                ],
            })
            .collect(),
        empty: hours.is_empty().then_some("Im Zeitraum wurde niemand aufgerufen."),
    }
}

/// One bar per date: `values` (date, value), a table of the same numbers.
#[allow(clippy::too_many_arguments)]
fn per_day_chart(
    id: &'static str,
    anchor: &'static str,
    heading: &'static str,
    table_id: &'static str,
    caption: String,
    description: String,
    series: &'static [Series],
    values: &[(NaiveDate, u64)],
) -> ChartWithTable {
    let columns: Vec<Column> = values
        .iter()
        .map(|(date, value)| Column {
            key: date.to_string(),
            label: short_date(*date),
            long_label: german_date(*date),
            values: vec![Some(*value as f64)],
        })
        .collect();
    let chart = charts::render(&Chart {
        id,
        title: caption.clone(),
        description,
        series,
        columns: &columns,
        unit: "",
        max: None,
        grouped: false,
    });
    ChartWithTable {
        anchor,
        heading,
        chart,
        table_id,
        caption,
        headings: vec!["Tag", series[0].label],
        rows: values
            .iter()
            .map(|(date, value)| ChartRow {
                key: date.to_string(),
                label: german_date(*date),
                cells: vec![value.to_string()],
            })
            .collect(),
        empty: None,
    }
}

/// The waitlist's inflow: wishes registered per day.
fn inflow_chart(read: &StatisticsRead, office_label: &str, period_label: &str) -> ChartWithTable {
    let values: Vec<(NaiveDate, u64)> = read
        .days
        .iter()
        .map(|(date, figures)| (*date, figures.waitlist.registered))
        .collect();
    per_day_chart(
        "diagramm-warteliste-zugang",
        "warteliste-zugang",
        "Warteliste: Zugang",
        "tabelle-warteliste-zugang",
        format!("Eingetragene Wünsche je Tag, {office_label}, {period_label}"),
        format!(
            "Säulen: Wünsche, die an diesem Tag in die Warteliste kamen. Im ganzen Zeitraum {}. Die Zahlen              stehen in der Tabelle daneben.",
            read.total.waitlist.registered
        ),
        &INFLOW,
        &values,
    )
}

/// The waitlist's fill: wishes waiting at the end of each day.
fn fill_chart(fill: &[(NaiveDate, u64)], office_label: &str, period_label: &str) -> ChartWithTable {
    per_day_chart(
        "diagramm-warteliste-bestand",
        "warteliste-bestand",
        "Warteliste: Bestand",
        "tabelle-warteliste-bestand",
        format!("Wartende Wünsche am Ende jedes Tages, {office_label}, {period_label}"),
        format!(
            "Säulen: Wünsche, die am Ende des Tages noch warteten (eingetragen, weder angenommen noch beendet).              Am letzten Tag {}. Die Zahlen stehen in der Tabelle daneben.",
            fill.last().map_or(0, |(_, waiting)| *waiting)
        ),
        &FILL,
        fill,
    )
}

/// A file to download.
fn download(bytes: Vec<u8>, content_type: &'static str, name: &str, extension: &str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], bytes).into_response();
    let headers = response.headers_mut();
    // The name is made of a slug, dates and ASCII words.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.{extension}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A CSV field into a cell: a number as a number, text as text, empty
/// (`null`) left empty.
fn write_field(
    sheet: &mut rust_xlsxwriter::Worksheet,
    row: u32,
    column: u16,
    raw: &str,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    if raw.is_empty() {
        return Ok(());
    }
    match raw.parse::<f64>() {
        Ok(value) => sheet.write_number(row, column, value).map(|_| ()),
        Err(_) => sheet.write_string(row, column, raw).map(|_| ()),
    }
}

/// The XLSX download: "Übersicht" (label, column, value of the range),
/// "Tage" (the CSV's header and one row per date), "Stunden" and
/// "Dienstleistungen" (the `by=hour` and `by=service` CSVs).
fn workbook(
    read: &StatisticsRead,
    office_label: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    {
        let sheet = book.add_worksheet().set_name("Übersicht")?;
        for (column, heading) in ["Kennzahl", "Spalte", "Wert"].into_iter().enumerate() {
            sheet.write_string_with_format(0, column as u16, heading, &bold)?;
        }
        sheet.write_string(1, 0, "Bürgerbüro")?;
        sheet.write_string(1, 2, office_label)?;
        sheet.write_string(2, 0, "Von")?;
        sheet.write_string(2, 1, "from")?;
        sheet.write_string(2, 2, from.to_string())?;
        sheet.write_string(3, 0, "Bis")?;
        sheet.write_string(3, 1, "to")?;
        sheet.write_string(3, 2, to.to_string())?;
        let fields = csv_fields("total", &read.total);
        for (index, raw) in fields.iter().enumerate().skip(1) {
            let row = 3 + index as u32;
            sheet.write_string(row, 0, LABELS[index - 1])?;
            sheet.write_string(row, 1, CSV_COLUMNS[index])?;
            write_field(sheet, row, 2, raw)?;
        }
        sheet.set_column_width(0, 48)?;
        sheet.set_column_width(1, 34)?;
    }
    {
        let sheet = book.add_worksheet().set_name("Tage")?;
        for (column, heading) in CSV_COLUMNS.iter().enumerate() {
            sheet.write_string_with_format(0, column as u16, *heading, &bold)?;
        }
        for (index, (date, figures)) in read.days.iter().enumerate() {
            let row = 1 + index as u32;
            for (column, raw) in csv_fields(&date.to_string(), figures).iter().enumerate() {
                if column == 0 {
                    sheet.write_string(row, 0, raw)?;
                } else {
                    write_field(sheet, row, column as u16, raw)?;
                }
            }
        }
        sheet.set_freeze_panes(1, 1)?;
    }
    for (name, first, slices) in [
        ("Stunden", "hour", &read.by_hour),
        ("Dienstleistungen", "service", &read.by_service),
    ] {
        let sheet = book.add_worksheet().set_name(name)?;
        for (column, heading) in std::iter::once(first)
            .chain(SLICE_CSV_COLUMNS.iter().copied())
            .enumerate()
        {
            sheet.write_string_with_format(0, column as u16, heading, &bold)?;
        }
        for (index, slice) in slices.iter().enumerate() {
            let row = 1 + index as u32;
            let label = match (&slice.hour, &slice.service) {
                (Some(hour), _) => hour.to_string(),
                (None, Some(service)) => service.clone(),
                (None, None) => String::new(),
            };
            for (column, raw) in slice_csv_fields(&label, slice).iter().enumerate() {
                if column == 0 && slice.service.is_some() {
                    sheet.write_string(row, 0, raw)?;
                } else {
                    write_field(sheet, row, column as u16, raw)?;
                }
            }
        }
        sheet.set_freeze_panes(1, 1)?;
    }
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_has_a_german_label_and_a_group() {
        assert_eq!(LABELS.len() + 1, CSV_COLUMNS.len());
        let grouped: Vec<usize> = GROUPS.iter().flat_map(|(_, range)| range.clone()).collect();
        assert_eq!(grouped, (1..CSV_COLUMNS.len()).collect::<Vec<_>>());
    }

    #[test]
    fn quick_periods() {
        let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
        assert_eq!(monday(date("2026-12-06")), date("2026-11-30"));
        assert_eq!(monday(date("2026-11-30")), date("2026-11-30"));
        assert_eq!(last_month(date("2026-12-07")), (date("2026-11-01"), date("2026-11-30")));
        assert_eq!(last_month(date("2026-01-31")), (date("2025-12-01"), date("2025-12-31")));
        assert_eq!(cell("utilisation", "0.425"), "42,5 %");
        assert_eq!(cell("served", "3"), "3");
        assert_eq!(cell("waiting_mean_minutes", "4.5"), "4,5");
        assert_eq!(cell("waiting_mean_minutes", ""), "–");
    }
}
