//! Properties of the statistics view (`projections/statistics.rs`) over
//! random office days: folded incrementally (event by event, read in
//! between, resumed from a copy taken anywhere) it equals a fresh replay of
//! the same log; its hours add up to the day; each service counts exactly
//! the bookings that name it; and the day's figures equal those counted
//! naively from the history itself.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;
use terminagent::projections::{Projection, StatisticsView};
use terminagent_domain::floor::{EstimatedCall, VisitCalled, VisitCheckedIn, VisitFinished, VisitMissed, VisitStarted};
use terminagent_domain::statistics::SliceFigures;
use terminagent_domain::{
    BookingCancelled, BookingConfirmed, BookingCounts, BookingEvent, BookingId, BookingLapsed, BookingRequested,
    CounterId, DomainEvent, EnvelopeId, FloorEvent, LocalDate, LocalTime, MissedReason, OfficeId, SealedPersonalData,
    ServiceId, TicketIssued, UnitRef, WaitingNumber,
};
use terminagent_eventstore::{EventData, LogEvent, StoredEvent};
use ulid::Ulid;

const SERVICES: [&str; 3] = ["ausweis", "pass", "meldung"];

/// What becomes of one booking.
#[derive(Debug, Clone)]
struct Plan {
    walk_in: bool,
    /// Hour of the start (8–12) and minute.
    hour: u32,
    minute: u32,
    /// Which of [`SERVICES`] (a non-empty mask).
    services: u8,
    /// 0 never confirmed (lapses), 1 cancelled by the citizen, 2 by the
    /// office, 3 no-show, 4 checked in and never called, 5 called and
    /// missed, 6 served.
    fate: u8,
    estimate: Option<(i64, i64)>,
    /// Seconds from the start to the call, from the call to the start of
    /// service, and of service.
    wait: i64,
    check_in_before: i64,
    processing: i64,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        any::<bool>(),
        8u32..13,
        0u32..60,
        1u8..8,
        0u8..7,
        proptest::option::of((-600i64..600, 0i64..1200)),
        0i64..2400,
        0i64..900,
        60i64..1800,
    )
        .prop_map(
            |(walk_in, hour, minute, services, fate, estimate, wait, check_in_before, processing)| Plan {
                walk_in,
                hour,
                minute,
                services,
                fate,
                estimate,
                wait,
                check_in_before,
                processing,
            },
        )
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
}

fn office() -> OfficeId {
    OfficeId::parse("mitte").unwrap()
}

fn services_of(mask: u8) -> Vec<ServiceId> {
    SERVICES
        .iter()
        .enumerate()
        .filter(|(index, _)| mask & (1 << index) != 0)
        .map(|(_, service)| ServiceId::parse(service).unwrap())
        .collect()
}

/// The booking's events, each with when it was recorded.
fn events_of(n: usize, plan: &Plan) -> Vec<(DateTime<Utc>, LogData)> {
    let date = LocalDate::from_ymd(2026, 12, 1).unwrap();
    let start = day().and_hms_opt(plan.hour, plan.minute, 0).unwrap().and_utc();
    let booking = BookingId::from_ulid(Ulid::from_parts(1, n as u128 + 1));
    let number = WaitingNumber::nth(n as u32 + 1).unwrap();
    let unit = UnitRef {
        office: office(),
        date,
        lane: n as u16 + 1,
        start: LocalTime::from_hm(plan.hour, plan.minute).unwrap(),
    };
    let services = services_of(plan.services);
    let early = start - Duration::hours(3) + Duration::seconds(n as i64);
    let mut events = Vec::new();
    let booked = |event: BookingEvent| LogData::Booking(event);
    if plan.walk_in {
        events.push((
            early,
            booked(BookingEvent::TicketIssued(TicketIssued {
                booking,
                office: office(),
                services,
                units: vec![unit.clone()],
                start,
                end: start + Duration::minutes(12),
                date,
                number,
                checkin_code_hash: "00".into(),
            })),
        ));
    } else {
        events.push((
            early,
            booked(BookingEvent::Requested(BookingRequested {
                booking,
                office: office(),
                services,
                units: vec![unit.clone()],
                start,
                end: start + Duration::minutes(12),
                citizen: SealedPersonalData {
                    envelope_id: EnvelopeId::from_ulid(Ulid::from_parts(2, n as u128 + 1)),
                    nonce: "00".into(),
                    ciphertext: "00".into(),
                },
                confirm_by: early + Duration::minutes(30),
                links: Vec::new(),
            })),
        ));
        if plan.fate == 0 {
            events.push((
                early + Duration::minutes(30),
                booked(BookingEvent::Lapsed(BookingLapsed {
                    booking,
                    units: vec![unit],
                    citizen: None,
                })),
            ));
            return events;
        }
        events.push((
            early + Duration::minutes(1),
            booked(BookingEvent::Confirmed(BookingConfirmed {
                booking,
                office: office(),
                date,
                number,
                checkin_code_hash: "00".into(),
                links: Vec::new(),
            })),
        ));
    }
    let floor = |event: FloorEvent| LogData::Floor(event);
    match plan.fate {
        0 => {}
        1 | 2 => {
            events.push((
                early + Duration::minutes(10),
                booked(BookingEvent::Cancelled(BookingCancelled {
                    booking,
                    units: vec![unit],
                    citizen: None,
                    reason: (plan.fate == 2).then(|| "Schließung".to_owned()),
                })),
            ));
            return events;
        }
        3 => {
            events.push((
                start + Duration::minutes(5),
                floor(FloorEvent::Missed(VisitMissed {
                    booking,
                    office: office(),
                    date,
                    number,
                    start,
                    reason: MissedReason::NoShow,
                    counter: None,
                    missed_at: start + Duration::minutes(5),
                })),
            ));
            return events;
        }
        _ => {}
    }
    let checked_in_at = start - Duration::seconds(plan.check_in_before);
    events.push((
        checked_in_at,
        floor(FloorEvent::CheckedIn(VisitCheckedIn {
            booking,
            office: office(),
            date,
            number,
            start,
            checked_in_at,
            estimate: plan.estimate.map(|(from, width)| EstimatedCall {
                earliest: start + Duration::seconds(from),
                latest: start + Duration::seconds(from + width),
            }),
        })),
    ));
    if plan.fate == 4 {
        return events;
    }
    let counter = CounterId::parse("1").unwrap();
    let called_at = start + Duration::seconds(plan.wait);
    events.push((
        called_at,
        floor(FloorEvent::Called(VisitCalled {
            booking,
            office: office(),
            date,
            number,
            counter: counter.clone(),
            called_at,
        })),
    ));
    if plan.fate == 5 {
        events.push((
            called_at + Duration::minutes(10),
            floor(FloorEvent::Missed(VisitMissed {
                booking,
                office: office(),
                date,
                number,
                start,
                reason: MissedReason::AbsentWhenCalled,
                counter: Some(counter),
                missed_at: called_at + Duration::minutes(10),
            })),
        ));
        return events;
    }
    let started_at = called_at + Duration::seconds(30);
    events.push((
        started_at,
        floor(FloorEvent::Started(VisitStarted {
            booking,
            office: office(),
            date,
            counter: counter.clone(),
            started_at,
        })),
    ));
    events.push((
        started_at + Duration::seconds(plan.processing),
        floor(FloorEvent::Finished(VisitFinished {
            booking,
            office: office(),
            date,
            counter,
            finished_at: started_at + Duration::seconds(plan.processing),
        })),
    ));
    events
}

enum LogData {
    Booking(BookingEvent),
    Floor(FloorEvent),
}

/// The day's log: every booking's events in the order they happened.
fn log_of(plans: &[Plan]) -> Vec<LogEvent> {
    let mut events: Vec<(DateTime<Utc>, LogData)> = plans
        .iter()
        .enumerate()
        .flat_map(|(n, plan)| events_of(n, plan))
        .collect();
    events.sort_by_key(|(at, _)| *at);
    events
        .into_iter()
        .enumerate()
        .map(|(index, (recorded_at, data))| {
            let (event_type, schema_version, data) = match &data {
                LogData::Booking(event) => (event.event_type(), event.schema_version(), event.to_data()),
                LogData::Floor(event) => (event.event_type(), event.schema_version(), event.to_data()),
            };
            LogEvent {
                position: index as u64 + 1,
                event: StoredEvent {
                    event_id: Ulid::from_parts(recorded_at.timestamp_millis() as u64, index as u128),
                    event_type: event_type.to_owned(),
                    schema_version,
                    streams: Vec::new(),
                    recorded_at,
                    correlation_id: None,
                    causation_id: None,
                    actor: None,
                    data: EventData::from_value(&data),
                },
            }
        })
        .collect()
}

fn fold(log: &[LogEvent]) -> StatisticsView {
    let mut view = StatisticsView::default();
    log.iter().for_each(|event| view.apply(event));
    view
}

/// Of `plans`, the bookings counted by `count`.
fn naive(plans: &[&Plan], count: impl Fn(&Plan) -> bool) -> u64 {
    plans.iter().filter(|plan| count(plan)).count() as u64
}

/// The bookings of `plans` as the figures should count them.
fn naive_counts(plans: &[&Plan]) -> BookingCounts {
    let confirmed = |plan: &Plan| plan.walk_in || plan.fate != 0;
    BookingCounts {
        online: naive(plans, |p| !p.walk_in),
        from_waitlist: 0,
        walk_in: naive(plans, |p| p.walk_in),
        confirmed: naive(plans, confirmed),
        cancelled_by_citizen: naive(plans, |p| p.fate == 1),
        cancelled_by_office: naive(plans, |p| p.fate == 2),
        lapsed: naive(plans, |p| !p.walk_in && p.fate == 0),
        served: naive(plans, |p| p.fate == 6),
        no_shows: naive(plans, |p| p.fate == 3),
        absent_when_called: naive(plans, |p| p.fate == 5),
    }
}

/// Waits in seconds of the visits called: from max(check-in, start) to the call.
fn naive_waits(plans: &[&Plan]) -> Vec<u32> {
    let mut waits: Vec<u32> = plans
        .iter()
        .filter(|p| p.fate >= 5)
        .map(|p| p.wait.max(0) as u32)
        .collect();
    waits.sort_unstable();
    waits
}

fn sorted_waits(slice: &SliceFigures) -> Option<(usize, u32)> {
    slice.waiting.summary().map(|s| (s.count, s.max))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn incremental_folds_equal_a_fresh_replay_and_the_naive_counts(
        plans in proptest::collection::vec(plan(), 0..24),
        cut in 0usize..200,
    ) {
        // Walk-ins are born confirmed: their fate 0 is "checked in and served".
        let plans: Vec<Plan> = plans
            .into_iter()
            .map(|mut plan| {
                if plan.walk_in && plan.fate == 0 {
                    plan.fate = 6;
                }
                plan
            })
            .collect();
        let log = log_of(&plans);
        let fresh = fold(&log);

        // Incrementally, reading between events as the API does.
        let mut live = StatisticsView::default();
        let mut resumed = None;
        for (index, event) in log.iter().enumerate() {
            live.apply(event);
            let _ = live.days(None, day(), day());
            if index == cut.min(log.len().saturating_sub(1)) {
                resumed = Some(live.clone());
            }
        }
        prop_assert_eq!(&live, &fresh);
        if let Some(mut resumed) = resumed {
            let from = cut.min(log.len().saturating_sub(1)) + 1;
            log[from..].iter().for_each(|event| resumed.apply(event));
            prop_assert_eq!(&resumed, &fresh, "resumed from a copy at {}", from);
        }

        let days = fresh.days(Some(&office()), day(), day());
        let figures = &days[0].1;
        let all: Vec<&Plan> = plans.iter().collect();
        prop_assert_eq!(&figures.bookings, &naive_counts(&all));
        prop_assert_eq!(
            figures.waiting.summary().map(|s| (s.count, s.max)),
            naive_waits(&all).last().map(|max| (naive_waits(&all).len(), *max))
        );

        // Hours add up to the day; each hour counts its own bookings.
        let mut hours = SliceFigures::default();
        for (hour, slice) in &figures.by_hour {
            hours.merge(slice);
            let of_hour: Vec<&Plan> = plans.iter().filter(|p| p.hour == u32::from(*hour)).collect();
            prop_assert_eq!(&slice.bookings, &naive_counts(&of_hour), "hour {}", hour);
        }
        prop_assert_eq!(&hours.bookings, &figures.bookings);
        prop_assert_eq!(hours.waiting.len(), figures.waiting.len());
        prop_assert_eq!(hours.processing.len(), figures.processing.len());

        // Each service counts exactly the bookings that name it.
        for (index, service) in SERVICES.iter().enumerate() {
            let naming: Vec<&Plan> = plans.iter().filter(|p| p.services & (1 << index) != 0).collect();
            let slice = figures
                .by_service
                .get(&ServiceId::parse(service).unwrap())
                .cloned()
                .unwrap_or_default();
            prop_assert_eq!(&slice.bookings, &naive_counts(&naming), "service {}", service);
            prop_assert_eq!(
                sorted_waits(&slice),
                naive_waits(&naming).last().map(|max| (naive_waits(&naming).len(), *max))
            );
        }

        // Estimates: every estimated check-in counts, each call once.
        let estimated: Vec<&Plan> = plans.iter().filter(|p| p.fate >= 4 && p.estimate.is_some()).collect();
        let e = &figures.estimates;
        prop_assert_eq!(e.estimated, estimated.len() as u64);
        let called: Vec<(i64, i64, i64)> = estimated
            .iter()
            .filter(|p| p.fate >= 5)
            .map(|p| {
                let (from, width) = p.estimate.unwrap();
                (p.wait, from, from + width)
            })
            .collect();
        prop_assert_eq!(e.below, called.iter().filter(|(wait, from, _)| wait < from).count() as u64);
        prop_assert_eq!(e.above, called.iter().filter(|(wait, _, to)| wait > to).count() as u64);
        prop_assert_eq!(e.inside + e.below + e.above, called.len() as u64);
    }
}
