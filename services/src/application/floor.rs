//! The office floor (API.md "The office floor"): check-in, calls, visit
//! moves and counters, each one decision of `domain::floor` over the office
//! day's floor stream; and the no-show timer. What the floor needs of a
//! booking is folded from its own stream first ([`booking_facts`]), never
//! into the floor's state (the booking stream repeats the visit's events).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use terminagent_domain::{
    Actor, BookingDecider, BookingFacts, BookingId, BookingStatus, CallNext, Cause, CheckIn, CloseCounter, Counter,
    CounterId, FloorDecider, FloorError, FloorPolicy, LocalDate, MarkNoShow, MoveVisit, OfficeId, OfficeTimeZone,
    OpenCounter, PauseCounter, PauseReason, StreamName, VisitAction, VisitCalled, VisitStatus, WaitingNumber,
};
use terminagent_eventstore::StorageError;

use super::{ExecuteError, Executor};
use crate::projections::{FloorView, LiveProjection};

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
pub async fn move_visit(
    executor: &Executor,
    policy: FloorPolicy,
    cause: Cause,
    booking: &BookingFacts,
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
        Ok(_) => Ok(action.leads_to()),
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

/// Marks every confirmed booking nobody checked in by start +
/// `check_in_late` as missed; returns how many it marked. Idempotent: two
/// processes marking the same booking append it once.
pub async fn mark_no_shows(executor: &Executor, policy: FloorPolicy, floor: &LiveProjection<FloorView>) -> usize {
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
            Ok(events) if !events.is_empty() => marked += 1,
            Ok(_) => {}
            Err(error) => tracing::warn!(%booking, %error, "marking a no-show failed; trying again later"),
        }
    }
    marked
}

/// Runs the no-show timer until the process ends.
pub fn spawn_no_show_timer(
    executor: Executor,
    policy: FloorPolicy,
    floor: Arc<LiveProjection<FloorView>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(NO_SHOW_CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let marked = mark_no_shows(&executor, policy, &floor).await;
            if marked > 0 {
                tracing::info!(marked, "bookings nobody checked in marked missed");
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
