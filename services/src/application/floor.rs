//! The office floor (API.md "The office floor"): check-in, calls, visit
//! moves and counters, each one decision of `domain::floor` over the office
//! day's floor stream; and the no-show timer. What the floor needs of a
//! booking is folded from its own stream first ([`booking_facts`]), never
//! into the floor's state (the booking stream repeats the visit's events).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use terminagent_domain::floor::EstimatedCall;
use terminagent_domain::{
    Actor, BookingDecider, BookingError, BookingFacts, BookingId, BookingStatus, CallNext, Cause, CheckIn,
    CloseCounter, Counter, CounterId, Decider, DomainEvent, FloorDay, FloorDecider, FloorError, FloorEvent,
    FloorPolicy, LocalDate, MarkNoShow, MoveVisit, OfficeId, OfficeTimeZone, OpenCounter, PauseCounter, PauseReason,
    ReleaseMissedVisit, StreamName, VisitAction, VisitCalled, VisitStatus, WaitingNumber,
};
use terminagent_eventstore::StorageError;

use super::{ExecuteError, Executor};
use crate::projections::{CatalogueView, FloorView, LiveProjection};

/// How often the no-show timer looks for bookings nobody checked in.
pub const NO_SHOW_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// How far back the timer looks: a process that was down for a while still
/// marks yesterday's no-shows, but a log full of old bookings (from before
/// the floor existed) is left as it is.
const NO_SHOW_LOOKBACK: chrono::Duration = chrono::Duration::days(1);

/// The booking as the floor needs it; `None` for a booking the log does not know.
pub async fn booking_facts(executor: &Executor, booking: BookingId) -> Result<Option<BookingFacts>, StorageError> {
    let state = executor
        .state_of::<BookingDecider>(&[StreamName::booking(&booking)])
        .await?;
    Ok(state.booking(&booking).map(|found| BookingFacts::of(booking, found)))
}

/// The office's calendar day now.
fn today(executor: &Executor, zone: OfficeTimeZone) -> Result<LocalDate, StorageError> {
    LocalDate::try_from(zone.today(executor.now())).map_err(|error| StorageError::Corrupt {
        at: "clock".into(),
        reason: error.to_string(),
    })
}

/// The floor of `office` as the log had it at `as_of` (its office day then):
/// the floor stream's events recorded by that instant, folded by the same
/// rules as the live view. For audits and the display's `as_of`.
pub async fn floor_day_as_of(
    executor: &Executor,
    office: &OfficeId,
    zone: OfficeTimeZone,
    as_of: DateTime<Utc>,
) -> Result<FloorDay, StorageError> {
    let date = zone.today(as_of);
    let stream = StreamName::floor(office, date);
    let mut day = FloorDay::default();
    for stored in executor.store().read_stream(stream.as_str(), 0).await? {
        // Every floor decision reads the stream before it decides, so each
        // event was recorded after the one before it: the rest came later.
        if stored.event.recorded_at > as_of {
            break;
        }
        let event =
            FloorEvent::from_stored_json(&stored.event.event_type, stored.event.data.as_str()).map_err(|error| {
                StorageError::Corrupt {
                    at: format!("{stream} v{}", stored.version),
                    reason: error.to_string(),
                }
            })?;
        day = FloorDecider::evolve(day, &event);
    }
    Ok(day)
}

/// A visitor on the floor, as the kiosk answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIn {
    pub booking: BookingId,
    pub number: WaitingNumber,
    pub start: DateTime<Utc>,
}

/// Why a check-in did not go through.
#[derive(Debug, thiserror::Error)]
pub enum CheckInRefusal {
    /// The code named a booking the log does not know (never for a code the
    /// floor view found, short of a broken log).
    #[error("no booking {0}")]
    UnknownBooking(BookingId),
    #[error(transparent)]
    Floor(#[from] FloorError),
}

/// Checks `booking` in at `office` today; a repeat answers as the first time.
pub async fn check_in(
    executor: &Executor,
    policy: FloorPolicy,
    cause: Cause,
    office: &OfficeId,
    zone: OfficeTimeZone,
    booking: BookingId,
) -> Result<CheckedIn, ExecuteError<CheckInRefusal>> {
    check_in_estimated(executor, policy, cause, office, zone, booking, None).await
}

/// [`check_in`], recording the call window the kiosk showed (`estimate`)
/// on the event, for the statistics.
pub async fn check_in_estimated(
    executor: &Executor,
    policy: FloorPolicy,
    cause: Cause,
    office: &OfficeId,
    zone: OfficeTimeZone,
    booking: BookingId,
    estimate: Option<EstimatedCall>,
) -> Result<CheckedIn, ExecuteError<CheckInRefusal>> {
    let facts = booking_facts(executor, booking)
        .await?
        .ok_or(ExecuteError::Rejected(CheckInRefusal::UnknownBooking(booking)))?;
    let date = today(executor, zone)?;
    let stream = StreamName::floor(office, date.into());
    executor
        .execute::<FloorDecider>(&[stream], cause, |now| {
            CheckIn {
                office: office.clone(),
                date,
                booking: facts.clone(),
                now,
                policy,
                estimate,
            }
            .into()
        })
        .await
        .map_err(|error| rejected_as(error, CheckInRefusal::Floor))?;
    match facts.status {
        BookingStatus::Confirmed(number) => Ok(CheckedIn {
            booking,
            number,
            start: facts.start,
        }),
        // The decision admits only confirmed bookings.
        _ => Err(ExecuteError::Storage(StorageError::Corrupt {
            at: format!("booking:{booking}"),
            reason: "checked in without a waiting number".into(),
        })),
    }
}

/// Calls the next visitor to `counter` today; `None` when nobody waits.
pub async fn call_next(
    executor: &Executor,
    cause: Cause,
    office: &OfficeId,
    zone: OfficeTimeZone,
    counter: &CounterId,
) -> Result<Option<VisitCalled>, ExecuteError<FloorError>> {
    let date = today(executor, zone)?;
    let events = executor
        .execute::<FloorDecider>(&[StreamName::floor(office, date.into())], cause, |now| {
            CallNext {
                office: office.clone(),
                date,
                counter: counter.clone(),
                now,
            }
            .into()
        })
        .await?;
    Ok(terminagent_domain::FloorEvent::called(&events).cloned())
}

/// Moves the visit of `booking` on; the visit's status afterwards. A move
/// its visit has just made (a double click on "finish") answers as done.
/// A visit marked missed frees the units still ahead of it.
pub async fn move_visit(
    executor: &Executor,
    policy: FloorPolicy,
    cause: Cause,
    booking: &BookingFacts,
    zone: OfficeTimeZone,
    action: VisitAction,
) -> Result<VisitStatus, ExecuteError<FloorError>> {
    let decided = executor
        .execute::<FloorDecider>(&[booking.floor_stream()], cause, |now| {
            MoveVisit {
                office: booking.office.clone(),
                date: booking.date,
                booking: booking.booking,
                action,
                now,
                policy,
            }
            .into()
        })
        .await;
    match decided {
        Ok(events) => {
            for event in &events {
                if let FloorEvent::Missed(missed) = event {
                    release_or_leave_to_sweep(executor, cause, missed.booking, missed.missed_at, zone).await;
                }
            }
            Ok(action.leads_to())
        }
        // A recall is a new call each time, never a repeat.
        Err(ExecuteError::Rejected(FloorError::InvalidTransition { from, action }))
            if action != VisitAction::Recall && from == action.leads_to() =>
        {
            Ok(from)
        }
        Err(other) => Err(other),
    }
}

/// What a counter's clerk asks of it.
#[derive(Debug, Clone)]
pub enum CounterChange {
    Open,
    Pause(PauseReason),
    Close,
}

/// Opens, pauses or closes `counter` today; the counter afterwards (`None`:
/// never opened today, which is closed).
pub async fn change_counter(
    executor: &Executor,
    cause: Cause,
    office: &OfficeId,
    zone: OfficeTimeZone,
    counter: &CounterId,
    change: CounterChange,
) -> Result<Option<Counter>, ExecuteError<FloorError>> {
    let date = today(executor, zone)?;
    let stream = StreamName::floor(office, date.into());
    executor
        .execute::<FloorDecider>(std::slice::from_ref(&stream), cause, |now| {
            let (office, counter) = (office.clone(), counter.clone());
            match &change {
                CounterChange::Open => OpenCounter {
                    office,
                    date,
                    counter,
                    now,
                }
                .into(),
                CounterChange::Pause(reason) => PauseCounter {
                    office,
                    date,
                    counter,
                    reason: reason.clone(),
                    now,
                }
                .into(),
                CounterChange::Close => CloseCounter {
                    office,
                    date,
                    counter,
                    now,
                }
                .into(),
            }
        })
        .await?;
    // A pause keeps its first reason: answer what the counter is, not what was asked.
    let day = executor.state_of::<FloorDecider>(&[stream]).await?;
    Ok(day.counter(counter).cloned())
}

/// Frees the units of a missed visit that start at or after `missed_at`
/// (`booking.released`); whether any were freed. Repeating it frees nothing
/// more.
pub async fn release_missed_units(
    executor: &Executor,
    cause: Cause,
    booking: BookingId,
    missed_at: DateTime<Utc>,
    zone: OfficeTimeZone,
) -> Result<bool, ExecuteError<BookingError>> {
    let events = executor
        .execute::<BookingDecider>(&[StreamName::booking(&booking)], cause, |_| {
            ReleaseMissedVisit {
                booking,
                missed_at,
                zone,
            }
            .into()
        })
        .await?;
    Ok(!events.is_empty())
}

/// [`release_missed_units`] right after the miss; should it fail, the
/// sweep ([`release_missed_visits`]) tries again.
async fn release_or_leave_to_sweep(
    executor: &Executor,
    cause: Cause,
    booking: BookingId,
    missed_at: DateTime<Utc>,
    zone: OfficeTimeZone,
) {
    if let Err(error) = release_missed_units(executor, cause, booking, missed_at, zone).await {
        tracing::warn!(%booking, %error, "freeing a missed visit's units failed; the sweep tries again");
    }
}

/// The units of a missed visit are freed right after the miss, in a second
/// append; a process that died between the two leaves them held. This
/// sweep frees them for every miss of the last day not yet released.
/// `settled` remembers misses with nothing ahead, so each is decided once
/// per process.
pub async fn release_missed_visits(
    executor: &Executor,
    floor: &LiveProjection<FloorView>,
    catalogue: &LiveProjection<CatalogueView>,
    settled: &mut HashSet<BookingId>,
) -> usize {
    let now = executor.now();
    let unreleased: Vec<_> = floor
        .read()
        .unreleased_misses(now - NO_SHOW_LOOKBACK)
        .filter(|miss| !settled.contains(&miss.booking))
        .cloned()
        .collect();
    let mut released = 0;
    for miss in unreleased {
        let zone = catalogue
            .read()
            .office(&miss.office)
            .and_then(|office| OfficeTimeZone::parse(&office.timezone).ok());
        let Some(zone) = zone else { continue };
        let cause = executor.new_cause(Actor::TIMER);
        match release_missed_units(executor, cause, miss.booking, miss.missed_at, zone).await {
            Ok(true) => released += 1,
            Ok(false) => {
                settled.insert(miss.booking);
            }
            Err(error) => {
                tracing::warn!(booking = %miss.booking, %error, "freeing a missed visit's units failed; trying again later")
            }
        }
    }
    released
}

/// Marks every confirmed booking nobody checked in by start +
/// `check_in_late` as missed, freeing its units still ahead; returns how
/// many it marked. Idempotent: two processes marking the same booking
/// append it once.
pub async fn mark_no_shows(
    executor: &Executor,
    policy: FloorPolicy,
    floor: &LiveProjection<FloorView>,
    catalogue: &LiveProjection<CatalogueView>,
) -> usize {
    let now = executor.now();
    let due = floor.read().not_arrived(
        now - policy.check_in_late - NO_SHOW_LOOKBACK,
        now - policy.check_in_late,
    );
    let mut marked = 0;
    for booking in due {
        let facts = match booking_facts(executor, booking).await {
            Ok(Some(facts)) => facts,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(%booking, %error, "reading a booking for the no-show timer failed; trying again later");
                continue;
            }
        };
        let cause = executor.new_cause(Actor::TIMER);
        let stream = facts.floor_stream();
        let no_show = |now| {
            MarkNoShow {
                booking: facts.clone(),
                now,
                policy,
            }
            .into()
        };
        match executor.execute::<FloorDecider>(&[stream], cause, no_show).await {
            Ok(events) if !events.is_empty() => {
                marked += 1;
                let zone = catalogue
                    .read()
                    .office(&facts.office)
                    .and_then(|office| OfficeTimeZone::parse(&office.timezone).ok());
                if let (Some(zone), Some(FloorEvent::Missed(missed))) = (zone, events.first()) {
                    release_or_leave_to_sweep(executor, cause, booking, missed.missed_at, zone).await;
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%booking, %error, "marking a no-show failed; trying again later"),
        }
    }
    marked
}

/// Runs the no-show timer and the sweep of missed visits' units until the
/// process ends.
pub fn spawn_no_show_timer(
    executor: Executor,
    policy: FloorPolicy,
    floor: Arc<LiveProjection<FloorView>>,
    catalogue: Arc<LiveProjection<CatalogueView>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(NO_SHOW_CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut settled = HashSet::new();
        loop {
            ticks.tick().await;
            let marked = mark_no_shows(&executor, policy, &floor, &catalogue).await;
            if marked > 0 {
                tracing::info!(marked, "bookings nobody checked in marked missed");
            }
            let released = release_missed_visits(&executor, &floor, &catalogue, &mut settled).await;
            if released > 0 {
                tracing::info!(released, "units of missed visits freed by the sweep");
            }
        }
    })
}

fn rejected_as<E, F>(error: ExecuteError<E>, wrap: fn(E) -> F) -> ExecuteError<F> {
    match error {
        ExecuteError::Rejected(reason) => ExecuteError::Rejected(wrap(reason)),
        ExecuteError::Contended { streams } => ExecuteError::Contended { streams },
        ExecuteError::Storage(error) => ExecuteError::Storage(error),
    }
}
