//! Closing an office day or part of it: one decision over the office day
//! and every unit of the span (`domain::closure`). Its reads are planned
//! from the office day as it is now; a unit published between planning and
//! deciding makes the decision ask for a new plan.

use std::collections::BTreeSet;

use terminagent_domain::{
    BookingEvent, BookingInput, CatalogueEvent, Cause, CloseOffice, ClosureDecider, ClosureError, ClosureReason,
    LocalDate, LocalTime, OfficeId, StreamName,
};

use super::{ExecuteError, Executor};

/// How often the reads are planned anew before the closure gives up.
const PLANS: usize = 5;

/// What a closure did (API.md: `cancelled_bookings`, `withdrawn_units`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosureOutcome {
    pub cancelled_bookings: usize,
    pub withdrawn_units: usize,
}

pub async fn close_office(
    executor: &Executor,
    cause: Cause,
    office: OfficeId,
    date: LocalDate,
    span: Option<(LocalTime, LocalTime)>,
    reason: ClosureReason,
) -> Result<ClosureOutcome, ExecuteError<ClosureError>> {
    let planning = [
        StreamName::office(&office),
        StreamName::office_day(&office, date.into()),
    ];
    let mut last_error = None;
    for _ in 0..PLANS {
        let state = executor.state_of::<ClosureDecider>(&planning).await?;
        let read_units: BTreeSet<_> = state
            .units_to_close(&office, date, span, executor.now())
            .into_iter()
            .collect();
        let streams: Vec<StreamName> = planning
            .iter()
            .cloned()
            .chain(read_units.iter().map(StreamName::unit))
            .collect();
        let decided = executor
            .execute::<ClosureDecider>(&streams, cause, |now| CloseOffice {
                office: office.clone(),
                date,
                span,
                reason: reason.clone(),
                read_units: read_units.clone(),
                now,
            })
            .await;
        match decided {
            Ok(events) => return Ok(outcome(&events)),
            Err(ExecuteError::Rejected(unread @ ClosureError::UnreadUnits(_))) => {
                last_error = Some(unread);
            }
            Err(other) => return Err(other),
        }
    }
    Err(ExecuteError::Rejected(
        last_error.unwrap_or(ClosureError::UnreadUnits(Vec::new())),
    ))
}

fn outcome(events: &[BookingInput]) -> ClosureOutcome {
    let mut outcome = ClosureOutcome {
        cancelled_bookings: 0,
        withdrawn_units: 0,
    };
    for event in events {
        match event {
            BookingInput::Booking(BookingEvent::Cancelled(_)) => outcome.cancelled_bookings += 1,
            BookingInput::Catalogue(CatalogueEvent::CapacityWithdrawn(withdrawn)) => {
                outcome.withdrawn_units += withdrawn.units.len()
            }
            _ => {}
        }
    }
    outcome
}
