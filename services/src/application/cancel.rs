//! Staff cancelling a booking on a citizen's behalf (a phone call, a
//! letter): the same booking decision as the citizen's cancel link, under
//! the staff member's actor and with the reason the mail quotes.

use terminagent_domain::{BookingCommand, BookingDecider, BookingError, BookingId, CancelBooking, Cause, StreamName};

use super::{ExecuteError, Executor};

/// What cancelling found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Cancelled now; the citizen is mailed (from the `booking.cancelled` event).
    Cancelled,
    /// It was cancelled before: nothing changed, no second mail.
    AlreadyCancelled,
}

/// Cancels `booking` through its own decision (the cancel link's path), with
/// `reason` recorded in the event. Refused when it lapsed or has begun.
pub async fn cancel_booking_for_citizen(
    executor: &Executor,
    cause: Cause,
    booking: BookingId,
    reason: String,
) -> Result<CancelOutcome, ExecuteError<BookingError>> {
    let cancel = |now| {
        BookingCommand::Cancel(CancelBooking {
            booking,
            now,
            reason: Some(reason.clone()),
        })
    };
    let events = executor
        .execute::<BookingDecider>(&[StreamName::booking(&booking)], cause, cancel)
        .await?;
    Ok(if events.is_empty() {
        CancelOutcome::AlreadyCancelled
    } else {
        CancelOutcome::Cancelled
    })
}
