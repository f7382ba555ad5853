//! `GET /api/v1/statistics` (API.md "Statistics"): the figures of an
//! office's days (or of all offices) over a range of office-local dates,
//! read from the statistics view (`projections/statistics.rs`, where each
//! figure's events are defined), as JSON or CSV. Leads read their own
//! office, auditors and admins every office and all offices together.
//!
//! Units of the answer: durations in minutes and hours as numbers with one
//! decimal (kept in whole seconds until then); rates and utilisation as
//! fractions with three decimals; `null` where there is nothing to measure
//! (no visit called, nothing published, …), never a made-up 0.
//!
//! CSV (`format=csv`, `text/csv; charset=utf-8`): one header line
//! ([`CSV_COLUMNS`]), one line per date of the range, then one line whose
//! `date` is `total` (the figures of the whole range, equal to the JSON's
//! top level). Numbers as in the JSON; an empty field is `null`. Nothing
//! needs quoting (dates, numbers, `total`, service slugs).
//!
//! By hour and by service (API.md "Statistics", extensions): the JSON's
//! `by_hour` and `by_service` list the range's figures per office-local
//! hour of the bookings' start and per service (waits in seconds there);
//! `by=hour` or `by=service` with `format=csv` answers them as CSV
//! ([`SLICE_CSV_COLUMNS`], the first column `hour` or `service`), one line
//! per hour or service that has any figure.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use terminagent_domain::statistics::SliceFigures;
use terminagent_domain::{BookingCounts, DayFigures, Durations, LocalDate, OfficeId, Permission, ServiceId};

use super::AppState;
use super::auth::Access;
use super::extract::QueryParams;
use super::openapi::{BAD_QUERY, FORBIDDEN, INTERNAL, PROBLEM, THROTTLED, UNAUTHORIZED};
use super::problem::Problem;

/// Longest range one query may cover.
pub(crate) const MAX_DAYS: i64 = 366;

#[derive(Debug, Deserialize)]
pub struct StatisticsQuery {
    office: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
    by: Option<String>,
}

/// Bookings by what became of them (each counted under the office-local
/// date of its start).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BookingFigures {
    /// Booked online: requested, or placed by accepting a waitlist proposal.
    #[schema(minimum = 0, example = 5)]
    pub(crate) online: u64,
    /// Walk-in tickets.
    #[schema(minimum = 0, example = 2)]
    pub(crate) walk_in: u64,
    /// Reached confirmed (by link; tickets and accepted proposals are born confirmed).
    #[schema(minimum = 0, example = 5)]
    pub(crate) confirmed: u64,
    /// Cancelled, by the citizen or the office.
    #[schema(minimum = 0, example = 1)]
    pub(crate) cancelled: u64,
    /// Never confirmed in time.
    #[schema(minimum = 0, example = 1)]
    pub(crate) lapsed: u64,
    /// Visits served to the end.
    #[schema(minimum = 0, example = 3)]
    pub(crate) served: u64,
    /// Visits missed: no-shows and visitors absent when called.
    #[schema(minimum = 0, example = 1)]
    pub(crate) missed: u64,
    /// Of `online`, placed by accepting a proposal.
    #[schema(minimum = 0, example = 0)]
    pub(crate) from_waitlist: u64,
}

/// Who cancelled.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CancelledBy {
    /// By the cancel link.
    #[schema(minimum = 0, example = 1)]
    pub(crate) citizen: u64,
    /// By staff on the citizen's behalf, or by a closure.
    #[schema(minimum = 0, example = 0)]
    pub(crate) office: u64,
}

/// Why visits were missed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MissedBy {
    /// Never checked in.
    #[schema(minimum = 0, example = 1)]
    pub(crate) no_show: u64,
    /// Called and recalled, never came to the counter.
    #[schema(minimum = 0, example = 0)]
    pub(crate) absent_when_called: u64,
}

/// Durations in minutes (one decimal); `null` without any.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DurationFigures {
    /// How many durations were measured.
    #[schema(minimum = 0, example = 5)]
    pub(crate) count: usize,
    #[schema(required = true, minimum = 0, example = 4.6)]
    pub(crate) mean: Option<f64>,
    /// The median (nearest rank).
    #[schema(required = true, minimum = 0, example = 3.0)]
    pub(crate) p50: Option<f64>,
    /// The 90th percentile (nearest rank).
    #[schema(required = true, minimum = 0, example = 10.0)]
    pub(crate) p90: Option<f64>,
    #[schema(required = true, minimum = 0, example = 10.0)]
    pub(crate) max: Option<f64>,
}

/// The counters' time, in minutes (one decimal), of spans that ended.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CounterFigures {
    /// From an opening to the next pause or closing.
    #[schema(minimum = 0, example = 52.0)]
    pub(crate) open_minutes: f64,
    /// From a pause to the next opening or closing.
    #[schema(minimum = 0, example = 15.0)]
    pub(crate) paused_minutes: f64,
}

/// Why wishes ended without a booking.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndedBy {
    /// The citizen ended the search.
    #[schema(minimum = 0, example = 1)]
    pub(crate) citizen: u64,
    /// Too many proposals in a row expired unanswered.
    #[schema(minimum = 0, example = 0)]
    pub(crate) unanswered_proposals: u64,
    /// The wish's last date passed.
    #[schema(minimum = 0, example = 0)]
    pub(crate) until_passed: u64,
}

/// The waitlist: wishes by the office-local date they were registered
/// (a wish counts at every office it names), proposals and their answers
/// by the date the proposal was made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaitlistFigures {
    #[schema(minimum = 0, example = 2)]
    pub(crate) registered: u64,
    /// Proposals made.
    #[schema(minimum = 0, example = 2)]
    pub(crate) proposals: u64,
    #[schema(minimum = 0, example = 1)]
    pub(crate) accepted: u64,
    #[schema(minimum = 0, example = 1)]
    pub(crate) declined: u64,
    #[schema(minimum = 0, example = 0)]
    pub(crate) expired: u64,
    /// Proposals withdrawn because a closure took their units.
    #[schema(minimum = 0, example = 0)]
    pub(crate) withdrawn: u64,
    /// Wishes ended without a booking, for any reason.
    #[schema(minimum = 0, example = 0)]
    pub(crate) ended: u64,
    pub(crate) ended_by: EndedBy,
    /// From registration to the first proposal, of the wishes that got one (nearest rank).
    #[schema(required = true, minimum = 0, example = 0.5)]
    pub(crate) median_hours_to_first_proposal: Option<f64>,
    #[schema(required = true, minimum = 0, example = 2.0)]
    pub(crate) p90_hours_to_first_proposal: Option<f64>,
    /// Wishes that left the queue (accepted or ended), by the date they left (extension).
    #[schema(minimum = 0, example = 1)]
    pub(crate) left: u64,
}

/// Units given back by one booking and taken again by another.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefilledUnits {
    /// By accepting a waitlist proposal.
    #[schema(minimum = 0, example = 1)]
    pub(crate) from_waitlist: u64,
    /// By an online booking or a walk-in ticket.
    #[schema(minimum = 0, example = 2)]
    pub(crate) public: u64,
}

/// The kiosk's wait estimates (the call window shown at check-in) against
/// the first call that followed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EstimateFigures {
    /// Check-ins at the kiosk that showed an estimate.
    #[schema(minimum = 0, example = 4)]
    pub(crate) estimated: u64,
    /// Called within the window.
    #[schema(minimum = 0, example = 3)]
    pub(crate) inside: u64,
    /// Called before the window: the wait was shorter.
    #[schema(minimum = 0, example = 1)]
    pub(crate) below: u64,
    /// Called after the window: the wait was longer.
    #[schema(minimum = 0, example = 0)]
    pub(crate) above: u64,
    /// Inside ÷ estimated visits called.
    #[schema(required = true, minimum = 0, maximum = 1, example = 0.75)]
    pub(crate) inside_rate: Option<f64>,
}

/// Durations in seconds (mean with one decimal); `null` without any.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SecondsFigures {
    #[schema(minimum = 0, example = 4)]
    pub(crate) count: usize,
    #[schema(required = true, minimum = 0, example = 240.0)]
    pub(crate) mean: Option<f64>,
    #[schema(required = true, minimum = 0, example = 180)]
    pub(crate) p50: Option<u32>,
    #[schema(required = true, minimum = 0, example = 360)]
    pub(crate) p90: Option<u32>,
    #[schema(required = true, minimum = 0, example = 360)]
    pub(crate) max: Option<u32>,
}

/// The figures of one hour of the day or one service over the range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SliceStatistics {
    /// The office-local hour (0–23) the bookings started in (`by_hour` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 23, example = 9)]
    pub(crate) hour: Option<u8>,
    /// The service's slug (`by_service` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "personalausweis")]
    pub(crate) service: Option<String>,
    pub(crate) bookings: BookingFigures,
    pub(crate) cancelled_by: CancelledBy,
    pub(crate) missed_by: MissedBy,
    #[schema(required = true, minimum = 0, maximum = 1, example = 0.2)]
    pub(crate) no_show_rate: Option<f64>,
    /// From `max(check-in, start)` to the first call.
    pub(crate) waiting_seconds: SecondsFigures,
    /// From the first start of service to the finish.
    pub(crate) processing_seconds: SecondsFigures,
}

/// Declares a figures type: its own fields first, then the figures of a
/// range or a day, then its trailing fields. The answer's top level and each
/// of its days carry the very same figures.
macro_rules! figures_type {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$head_meta:meta])* $head:ident: $head_ty:ty,)*
        } then {
            $($(#[$tail_meta:meta])* $tail:ident: $tail_ty:ty,)*
        }
    ) => {
        #[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
        $(#[$meta])*
        pub struct $name {
            $($(#[$head_meta])* $head: $head_ty,)*
            bookings: BookingFigures,
            cancelled_by: CancelledBy,
            missed_by: MissedBy,
            /// Missed ÷ (served + missed): of the visits that ended on the floor, the share missed.
            #[schema(required = true, minimum = 0, maximum = 1, example = 0.25)]
            no_show_rate: Option<f64>,
            /// From check-in (or the start, when checked in early) to the first call.
            waiting_minutes: DurationFigures,
            /// From the first start of service to the finish.
            processing_minutes: DurationFigures,
            /// Booked ÷ published units.
            #[schema(required = true, minimum = 0, example = 0.4)]
            utilisation: Option<f64>,
            /// Units published and not withdrawn by a closure.
            #[schema(minimum = 0, example = 35)]
            published_units: u64,
            /// Units held by confirmed bookings (not given back by cancellation or after a missed visit).
            #[schema(minimum = 0, example = 14)]
            booked_units: u64,
            /// Units of the bookings served.
            #[schema(minimum = 0, example = 3)]
            served_units: u64,
            counters: CounterFigures,
            waitlist: WaitlistFigures,
            /// Units given back and taken again, by whom (extension).
            refilled_units: RefilledUnits,
            /// The kiosk's wait estimates against the calls (extension).
            kiosk_estimates: EstimateFigures,
            $($(#[$tail_meta])* $tail: $tail_ty,)*
        }

        impl $name {
            fn assemble($($head: $head_ty,)* figures: Figures, $($tail: $tail_ty,)*) -> Self {
                let Figures {
                    bookings,
                    cancelled_by,
                    missed_by,
                    no_show_rate,
                    waiting_minutes,
                    processing_minutes,
                    utilisation,
                    published_units,
                    booked_units,
                    served_units,
                    counters,
                    waitlist,
                    refilled_units,
                    kiosk_estimates,
                } = figures;
                $name {
                    $($head,)*
                    bookings,
                    cancelled_by,
                    missed_by,
                    no_show_rate,
                    waiting_minutes,
                    processing_minutes,
                    utilisation,
                    published_units,
                    booked_units,
                    served_units,
                    counters,
                    waitlist,
                    refilled_units,
                    kiosk_estimates,
                    $($tail,)*
                }
            }
        }
    };
}

/// The figures of a range or a day, before they take their place in the answer.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    pub(crate) bookings: BookingFigures,
    pub(crate) cancelled_by: CancelledBy,
    pub(crate) missed_by: MissedBy,
    pub(crate) no_show_rate: Option<f64>,
    pub(crate) waiting_minutes: DurationFigures,
    pub(crate) processing_minutes: DurationFigures,
    pub(crate) utilisation: Option<f64>,
    pub(crate) published_units: u64,
    pub(crate) booked_units: u64,
    pub(crate) served_units: u64,
    pub(crate) counters: CounterFigures,
    pub(crate) waitlist: WaitlistFigures,
    pub(crate) refilled_units: RefilledUnits,
    pub(crate) kiosk_estimates: EstimateFigures,
}

figures_type! {
    /// The figures of the range, and of each of its dates.
    #[schema(as = Statistics)]
    pub struct StatisticsAnswer {
        /// The office asked for; `null`: all offices.
        #[schema(required = true, example = "stadtmitte")]
        office: Option<String>,
        /// First date of the range (office-local, inclusive).
        #[schema(format = Date, example = "2026-12-01")]
        from: String,
        /// Last date of the range (inclusive).
        #[schema(format = Date, example = "2026-12-01")]
        to: String,
    } then {
        /// Each date of the range, in order, with its own figures.
        #[schema(max_items = 366)]
        days: Vec<DayStatistics>,
        /// The range's figures per office-local hour of the bookings' start,
        /// hours with any figure only, in order (extension).
        #[schema(max_items = 24)]
        by_hour: Vec<SliceStatistics>,
        /// The range's figures per service (a booking of several services
        /// counts at each), services with any figure only, by slug (extension).
        by_service: Vec<SliceStatistics>,
    }
}

figures_type! {
    /// One date's figures.
    pub struct DayStatistics {
        #[schema(format = Date, example = "2026-12-01")]
        date: String,
    } then {}
}

/// Rounded to `decimals` places.
fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn minutes(seconds: f64) -> f64 {
    rounded(seconds / 60.0, 1)
}

fn hours(seconds: f64) -> f64 {
    rounded(seconds / 3600.0, 1)
}

fn duration_figures(durations: &Durations) -> DurationFigures {
    let summary = durations.summary();
    DurationFigures {
        count: durations.len(),
        mean: summary.map(|s| minutes(s.mean)),
        p50: summary.map(|s| minutes(f64::from(s.p50))),
        p90: summary.map(|s| minutes(f64::from(s.p90))),
        max: summary.map(|s| minutes(f64::from(s.max))),
    }
}

fn seconds_figures(durations: &Durations) -> SecondsFigures {
    let summary = durations.summary();
    SecondsFigures {
        count: durations.len(),
        mean: summary.map(|s| rounded(s.mean, 1)),
        p50: summary.map(|s| s.p50),
        p90: summary.map(|s| s.p90),
        max: summary.map(|s| s.max),
    }
}

fn booking_figures(b: &BookingCounts) -> (BookingFigures, CancelledBy, MissedBy, Option<f64>) {
    (
        BookingFigures {
            online: b.online,
            walk_in: b.walk_in,
            confirmed: b.confirmed,
            cancelled: b.cancelled(),
            lapsed: b.lapsed,
            served: b.served,
            missed: b.missed(),
            from_waitlist: b.from_waitlist,
        },
        CancelledBy {
            citizen: b.cancelled_by_citizen,
            office: b.cancelled_by_office,
        },
        MissedBy {
            no_show: b.no_shows,
            absent_when_called: b.absent_when_called,
        },
        b.no_show_rate().map(|rate| rounded(rate, 3)),
    )
}

impl SliceStatistics {
    fn of(hour: Option<u8>, service: Option<String>, slice: &SliceFigures) -> Self {
        let (bookings, cancelled_by, missed_by, no_show_rate) = booking_figures(&slice.bookings);
        SliceStatistics {
            hour,
            service,
            bookings,
            cancelled_by,
            missed_by,
            no_show_rate,
            waiting_seconds: seconds_figures(&slice.waiting),
            processing_seconds: seconds_figures(&slice.processing),
        }
    }
}

impl From<&DayFigures> for Figures {
    fn from(day: &DayFigures) -> Self {
        let b = &day.bookings;
        let w = &day.waitlist;
        let e = &day.estimates;
        let to_first = w.to_first_proposal.summary();
        let (bookings, cancelled_by, missed_by, no_show_rate) = booking_figures(b);
        Figures {
            bookings,
            cancelled_by,
            missed_by,
            no_show_rate,
            waiting_minutes: duration_figures(&day.waiting),
            processing_minutes: duration_figures(&day.processing),
            utilisation: day.units.utilisation().map(|rate| rounded(rate, 3)),
            published_units: day.units.published_units(),
            booked_units: day.units.booked_units(),
            served_units: day.units.served,
            counters: CounterFigures {
                open_minutes: minutes(day.counters.open_seconds as f64),
                paused_minutes: minutes(day.counters.paused_seconds as f64),
            },
            waitlist: WaitlistFigures {
                registered: w.registered,
                proposals: w.proposals,
                accepted: w.accepted,
                declined: w.declined,
                expired: w.expired,
                withdrawn: w.withdrawn,
                ended: w.ended(),
                ended_by: EndedBy {
                    citizen: w.ended_by_citizen,
                    unanswered_proposals: w.ended_unanswered,
                    until_passed: w.ended_until_passed,
                },
                median_hours_to_first_proposal: to_first.map(|s| hours(f64::from(s.p50))),
                p90_hours_to_first_proposal: to_first.map(|s| hours(f64::from(s.p90))),
                left: w.left,
            },
            refilled_units: RefilledUnits {
                from_waitlist: day.units.refilled_from_waitlist,
                public: day.units.refilled_publicly,
            },
            kiosk_estimates: EstimateFigures {
                estimated: e.estimated,
                inside: e.inside,
                below: e.below,
                above: e.above,
                inside_rate: e.hit_rate().map(|rate| rounded(rate, 3)),
            },
        }
    }
}

/// The CSV's columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "date",
    "online",
    "walk_in",
    "confirmed",
    "cancelled",
    "lapsed",
    "served",
    "missed",
    "from_waitlist",
    "cancelled_by_citizen",
    "cancelled_by_office",
    "missed_no_show",
    "missed_absent_when_called",
    "no_show_rate",
    "waiting_count",
    "waiting_mean_minutes",
    "waiting_p50_minutes",
    "waiting_p90_minutes",
    "waiting_max_minutes",
    "processing_count",
    "processing_mean_minutes",
    "processing_p50_minutes",
    "processing_p90_minutes",
    "processing_max_minutes",
    "utilisation",
    "published_units",
    "booked_units",
    "served_units",
    "counter_open_minutes",
    "counter_paused_minutes",
    "wishes_registered",
    "proposals",
    "proposals_accepted",
    "proposals_declined",
    "proposals_expired",
    "proposals_withdrawn",
    "wishes_ended",
    "wishes_ended_by_citizen",
    "wishes_ended_unanswered_proposals",
    "wishes_ended_until_passed",
    "median_hours_to_first_proposal",
    "p90_hours_to_first_proposal",
    "wishes_left",
    "refilled_units_from_waitlist",
    "refilled_units_public",
    "estimates",
    "estimates_inside",
    "estimates_below",
    "estimates_above",
    "estimates_inside_rate",
];

/// The CSV's columns with `by=hour` or `by=service` after the first
/// (`hour` or `service`), in order.
pub const SLICE_CSV_COLUMNS: &[&str] = &[
    "online",
    "walk_in",
    "confirmed",
    "cancelled",
    "cancelled_by_citizen",
    "cancelled_by_office",
    "lapsed",
    "served",
    "missed",
    "missed_no_show",
    "missed_absent_when_called",
    "from_waitlist",
    "no_show_rate",
    "waiting_count",
    "waiting_mean_seconds",
    "waiting_p50_seconds",
    "waiting_p90_seconds",
    "waiting_max_seconds",
    "processing_count",
    "processing_mean_seconds",
    "processing_p50_seconds",
    "processing_p90_seconds",
    "processing_max_seconds",
];

/// One CSV line (without its line break): `label`, then the figures in
/// the order of [`CSV_COLUMNS`].
fn csv_line(label: &str, f: &Figures) -> String {
    csv_fields(label, f).join(",")
}

/// The fields of one CSV line: `label`, then the figures in the order of
/// [`CSV_COLUMNS`] (an empty field is `null`).
pub(crate) fn csv_fields(label: &str, f: &Figures) -> Vec<String> {
    let number = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
    let durations = |d: &DurationFigures| {
        [
            d.count.to_string(),
            number(d.mean),
            number(d.p50),
            number(d.p90),
            number(d.max),
        ]
    };
    let (b, w) = (&f.bookings, &f.waitlist);
    let mut fields = vec![
        label.to_owned(),
        b.online.to_string(),
        b.walk_in.to_string(),
        b.confirmed.to_string(),
        b.cancelled.to_string(),
        b.lapsed.to_string(),
        b.served.to_string(),
        b.missed.to_string(),
        b.from_waitlist.to_string(),
        f.cancelled_by.citizen.to_string(),
        f.cancelled_by.office.to_string(),
        f.missed_by.no_show.to_string(),
        f.missed_by.absent_when_called.to_string(),
        number(f.no_show_rate),
    ];
    fields.extend(durations(&f.waiting_minutes));
    fields.extend(durations(&f.processing_minutes));
    fields.extend([
        number(f.utilisation),
        f.published_units.to_string(),
        f.booked_units.to_string(),
        f.served_units.to_string(),
        f.counters.open_minutes.to_string(),
        f.counters.paused_minutes.to_string(),
        w.registered.to_string(),
        w.proposals.to_string(),
        w.accepted.to_string(),
        w.declined.to_string(),
        w.expired.to_string(),
        w.withdrawn.to_string(),
        w.ended.to_string(),
        w.ended_by.citizen.to_string(),
        w.ended_by.unanswered_proposals.to_string(),
        w.ended_by.until_passed.to_string(),
        number(w.median_hours_to_first_proposal),
        number(w.p90_hours_to_first_proposal),
        w.left.to_string(),
        f.refilled_units.from_waitlist.to_string(),
        f.refilled_units.public.to_string(),
        f.kiosk_estimates.estimated.to_string(),
        f.kiosk_estimates.inside.to_string(),
        f.kiosk_estimates.below.to_string(),
        f.kiosk_estimates.above.to_string(),
        number(f.kiosk_estimates.inside_rate),
    ]);
    debug_assert_eq!(fields.len(), CSV_COLUMNS.len());
    fields
}

/// The fields of one `by=hour|service` CSV line: `label`, then
/// [`SLICE_CSV_COLUMNS`] (an empty field is `null`).
pub(crate) fn slice_csv_fields(label: &str, s: &SliceStatistics) -> Vec<String> {
    let number = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
    let whole = |value: Option<u32>| value.map(|v| v.to_string()).unwrap_or_default();
    let seconds = |d: &SecondsFigures| {
        [
            d.count.to_string(),
            number(d.mean),
            whole(d.p50),
            whole(d.p90),
            whole(d.max),
        ]
    };
    let b = &s.bookings;
    let mut fields = vec![
        label.to_owned(),
        b.online.to_string(),
        b.walk_in.to_string(),
        b.confirmed.to_string(),
        b.cancelled.to_string(),
        s.cancelled_by.citizen.to_string(),
        s.cancelled_by.office.to_string(),
        b.lapsed.to_string(),
        b.served.to_string(),
        b.missed.to_string(),
        s.missed_by.no_show.to_string(),
        s.missed_by.absent_when_called.to_string(),
        b.from_waitlist.to_string(),
        number(s.no_show_rate),
    ];
    fields.extend(seconds(&s.waiting_seconds));
    fields.extend(seconds(&s.processing_seconds));
    debug_assert_eq!(fields.len(), SLICE_CSV_COLUMNS.len() + 1);
    fields
}

/// The figures of a range: each date's and the whole range's.
#[derive(Debug, Clone)]
pub(crate) struct StatisticsRead {
    pub days: Vec<(NaiveDate, Figures)>,
    pub total: Figures,
    /// The range per hour (with `hour`), then per service (with `service`).
    pub by_hour: Vec<SliceStatistics>,
    pub by_service: Vec<SliceStatistics>,
}

impl StatisticsRead {
    /// The CSV of `format=csv`: the header, one line per date, the total.
    pub fn csv(&self) -> String {
        let mut text = CSV_COLUMNS.join(",");
        text.push('\n');
        for (date, figures) in &self.days {
            let _ = writeln!(text, "{}", csv_line(&date.to_string(), figures));
        }
        let _ = writeln!(text, "{}", csv_line("total", &self.total));
        text
    }

    /// The CSV of `by=hour` or `by=service`: the header, one line per hour
    /// or service.
    pub fn slice_csv(&self, by: SliceBy) -> String {
        let (first, slices) = match by {
            SliceBy::Hour => ("hour", &self.by_hour),
            SliceBy::Service => ("service", &self.by_service),
        };
        let mut text = std::iter::once(first)
            .chain(SLICE_CSV_COLUMNS.iter().copied())
            .collect::<Vec<_>>()
            .join(",");
        text.push('\n');
        for slice in slices {
            let label = match (&slice.hour, &slice.service) {
                (Some(hour), _) => hour.to_string(),
                (None, Some(service)) => service.clone(),
                (None, None) => String::new(),
            };
            let _ = writeln!(text, "{}", slice_csv_fields(&label, slice).join(","));
        }
        text
    }
}

/// How the CSV is sliced (`by=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceBy {
    Hour,
    Service,
}

/// The business gauges of `/metrics` as the views hold them now: for
/// each office of the catalogue (the only label values), its wishes
/// waiting, its today's bookings and the visitors waiting on its floor.
pub(crate) fn business_figures(state: &AppState) -> crate::metrics::BusinessFigures {
    let now = state.executor.now();
    let offices: Vec<(OfficeId, NaiveDate)> = state
        .catalogue
        .read()
        .offices()
        .filter_map(|office| {
            let id = OfficeId::parse(&office.id).ok()?;
            let today = terminagent_domain::OfficeTimeZone::parse(&office.timezone)
                .map_or_else(|_| now.date_naive(), |zone| zone.today(now));
            Some((id, today))
        })
        .collect();
    let statistics = state.statistics.read();
    let (waiting_wishes, per_office) = statistics.waiting_wishes();
    let bookings: Vec<u64> = offices
        .iter()
        .map(|(office, today)| {
            statistics.day_figures(office, *today).map_or(0, |day| {
                let b = &day.bookings;
                (b.online + b.walk_in).saturating_sub(b.cancelled() + b.lapsed)
            })
        })
        .collect();
    drop(statistics);
    let floor = state.floor.read();
    let offices = offices
        .iter()
        .zip(bookings)
        .map(|((office, today), bookings_today)| crate::metrics::OfficeFigures {
            office: office.to_string(),
            waiting_wishes: per_office.get(office).copied().unwrap_or(0),
            bookings_today,
            visitors_waiting: floor.day(office, *today).map_or(0, |day| day.waiting().count() as u64),
        })
        .collect();
    crate::metrics::BusinessFigures {
        waiting_wishes,
        offices,
    }
}

/// Waits until the statistics view holds every event committed before
/// the call.
pub(crate) async fn statistics_caught_up(state: &AppState) -> Result<(), Problem> {
    let head = state
        .executor
        .store()
        .catch_up()
        .await
        .map_err(|e| Problem::internal(&e))?;
    state.statistics.caught_up_to(head).await;
    Ok(())
}

/// The figures of `office` (or, `None`, of all offices) from `from` to
/// `to`, as the view holds them now (see [`statistics_caught_up`]).
/// Permissions and the range's bounds are the caller's to check.
pub(crate) fn statistics_now(
    state: &AppState,
    office: Option<&OfficeId>,
    from: NaiveDate,
    to: NaiveDate,
) -> StatisticsRead {
    let days = state.statistics.read().days(office, from, to);
    let mut total = DayFigures::default();
    days.iter().for_each(|(_, day)| total.merge(day));
    StatisticsRead {
        days: days.iter().map(|(date, day)| (*date, Figures::from(day))).collect(),
        total: Figures::from(&total),
        by_hour: total
            .by_hour
            .iter()
            .map(|(hour, slice)| SliceStatistics::of(Some(*hour), None, slice))
            .collect(),
        by_service: total
            .by_service
            .iter()
            .map(|(service, slice): (&ServiceId, _)| SliceStatistics::of(None, Some(service.to_string()), slice))
            .collect(),
    }
}

/// [`statistics_now`] after every event committed before the call: what
/// `GET /api/v1/statistics` and the staff pages' `/staff/statistik` show.
pub(crate) async fn read_statistics(
    state: &AppState,
    office: Option<&OfficeId>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<StatisticsRead, Problem> {
    statistics_caught_up(state).await?;
    Ok(statistics_now(state, office, from, to))
}

#[utoipa::path(
    get,
    path = "/api/v1/statistics",
    tag = "statistics",
    summary = "Figures of office days: bookings, the floor, utilisation, the waitlist",
    description = "Leads of the office, auditors and admins; all offices together (without `office`) only \
        auditors and admins. Folded from the log: a replay gives the same figures, and erasing personal data \
        changes none. A booking counts under the office-local date of its start; `online` includes bookings \
        placed by accepting a proposal; `confirmed` every booking that reached confirmed (tickets and accepted \
        proposals are born so); waiting is from `max(check-in, start)` to the first call, processing from the \
        first start to the finish; `utilisation` = booked ÷ published units (units of confirmed bookings not \
        given back ÷ units published and not withdrawn). Wishes count by their registration date, proposals \
        by the date they were made. Percentiles by nearest rank; minutes and hours with one decimal, rates \
        with three; `null` where nothing was measured. `days` lists every date of the range with the same \
        figures. `format=csv`: a header line, one line per date, and a last line `total` equal to the JSON's \
        top level. Extensions: `by_hour` and `by_service` (the range per office-local hour of the bookings' \
        start and per service, waits in seconds; `by=hour|service` with `format=csv`), `kiosk_estimates` (the \
        call window the kiosk showed at check-in against the first call: inside, below, above), \
        `refilled_units` (units given back and taken again, by the waitlist or publicly) and `waitlist.left` \
        (wishes that left the queue, by the date they left).",
    params(
        ("office" = Option<String>, Query, description = "The office's slug; without it, all offices.",
         example = "stadtmitte"),
        ("from" = String, Query, format = Date, description = "First date, inclusive, office-local.",
         example = "2026-12-01"),
        ("to" = String, Query, format = Date, description = "Last date, inclusive; at most 366 days from `from`.",
         example = "2026-12-31"),
        ("format" = Option<String>, Query, description = "`json` (the default) or `csv`.", example = "csv"),
        ("by" = Option<String>, Query, description = "With `format=csv`: `day` (the default: one line per date \
            and `total`), `hour` (one line per office-local hour of the bookings' start) or `service` (one line \
            per service).", example = "hour"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures of the range and of each date.", content(
            (StatisticsAnswer = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = BAD_QUERY, body = Problem, content_type = PROBLEM),
        (status = 401, description = UNAUTHORIZED, body = Problem, content_type = PROBLEM,
         headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = FORBIDDEN, body = Problem, content_type = PROBLEM),
        (status = 404, description = "`/problems/not-found`: no such office.", body = Problem,
         content_type = PROBLEM),
        (status = 422, description = "`/problems/invalid-request`: `from` or `to` is missing or not a date, \
            `to` is before `from`, the range is longer than 366 days, `office` is not a slug, `format` is \
            neither `json` nor `csv`, or `by` is none of `day`, `hour`, `service`.", body = Problem, content_type = PROBLEM),
        (status = 429, description = THROTTLED, body = Problem, content_type = PROBLEM),
        (status = 500, description = INTERNAL, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn statistics(
    access: Access,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<StatisticsQuery>,
) -> Result<Response, Problem> {
    let office = match query.office.as_deref() {
        None => None,
        Some(text) => Some(OfficeId::parse(text).map_err(|e| Problem::invalid(format!("office: {e}")))?),
    };
    access.require(Permission::ReadStatistics, office.as_ref())?;
    let date = |value: Option<String>, name: &str| -> Result<NaiveDate, Problem> {
        let text = value.ok_or_else(|| Problem::invalid(format!("{name} is required")))?;
        LocalDate::parse(&text)
            .map(LocalDate::as_naive)
            .map_err(|e| Problem::invalid(format!("{name}: {e}")))
    };
    let (from, to) = (date(query.from, "from")?, date(query.to, "to")?);
    if to < from || (to - from).num_days() >= MAX_DAYS {
        return Err(Problem::invalid(format!(
            "from..to must be 1 to {MAX_DAYS} days, in order"
        )));
    }
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(Problem::invalid(format!("format must be json or csv, not {other:?}")));
        }
    };
    let by = match query.by.as_deref() {
        None | Some("day") => None,
        Some("hour") => Some(SliceBy::Hour),
        Some("service") => Some(SliceBy::Service),
        Some(other) => {
            return Err(Problem::invalid(format!(
                "by must be day, hour or service, not {other:?}"
            )));
        }
    };
    if let Some(office) = &office
        && state.catalogue.read().office(office).is_none()
    {
        return Err(Problem::not_found(format!("no office {office}")));
    }

    let read = read_statistics(&state, office.as_ref(), from, to).await?;
    if csv {
        let text = match by {
            None => read.csv(),
            Some(by) => read.slice_csv(by),
        };
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response());
    }
    let StatisticsRead {
        days,
        total,
        by_hour,
        by_service,
    } = read;
    let days = days
        .into_iter()
        .map(|(date, figures)| DayStatistics::assemble(date.to_string(), figures))
        .collect();
    let answer = StatisticsAnswer::assemble(
        office.map(|office| office.to_string()),
        from.to_string(),
        to.to_string(),
        total,
        days,
        by_hour,
        by_service,
    );
    Ok(Json(answer).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_csv_line_has_every_column() {
        let line = csv_line("total", &Figures::from(&DayFigures::default()));
        assert_eq!(line.split(',').count(), CSV_COLUMNS.len());
        assert!(line.starts_with("total,0,0,"), "{line}");
    }

    #[test]
    fn durations_are_minutes_with_one_decimal() {
        let mut durations = Durations::default();
        for seconds in [100, 200, 620] {
            durations.record_seconds(seconds);
        }
        let figures = duration_figures(&durations);
        // mean 920 / 3 = 306.67 s = 5.11 min; p50 200 s = 3.33 min; p90 and max 620 s = 10.33 min.
        assert_eq!(
            (figures.count, figures.mean, figures.p50, figures.p90, figures.max),
            (3, Some(5.1), Some(3.3), Some(10.3), Some(10.3))
        );
        assert_eq!(duration_figures(&Durations::default()).mean, None);
        assert_eq!(hours(5400.0), 1.5);
    }
}
