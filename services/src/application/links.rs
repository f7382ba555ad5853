//! Following mail links (API.md "Mail links"). Looking at a link changes
//! nothing; pressing its button runs the booking decision, and pressing it
//! again answers what already happened.

use chrono::{DateTime, Utc};
use terminagent_domain::{
    BookingCommand, BookingDecider, BookingError, BookingStatus, CancelBooking, ConfirmBooking, CorrelationId,
    IssuedLink, LinkAction, StreamName,
};

use super::{ExecuteError, Executor};
use crate::links::{LinkSecret, code_hash};
use crate::projections::{BookingSummary, LinkTarget};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Open,
    Used,
    Expired,
    /// Superseded: the booking went another way (e.g. the confirm link of a cancelled booking).
    Void,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Done,
    AlreadyDone,
    Expired,
    Void,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Open => "open",
            LinkState::Used => "used",
            LinkState::Expired => "expired",
            LinkState::Void => "void",
        }
    }
}

impl LinkOutcome {
    pub fn name(self) -> &'static str {
        match self {
            LinkOutcome::Done => "done",
            LinkOutcome::AlreadyDone => "already_done",
            LinkOutcome::Expired => "expired",
            LinkOutcome::Void => "void",
        }
    }
}

/// What the link would do now.
pub fn link_state(target: &LinkTarget, booking: &BookingSummary, now: DateTime<Utc>) -> LinkState {
    use BookingStatus as S;
    match (target.action, &booking.status) {
        (LinkAction::ConfirmBooking, S::Confirmed(_)) => LinkState::Used,
        (LinkAction::ConfirmBooking, S::Cancelled) => LinkState::Void,
        (LinkAction::ConfirmBooking, S::Lapsed) => LinkState::Expired,
        (LinkAction::ConfirmBooking, S::PendingConfirmation) if now >= target.expires_at => LinkState::Expired,
        (LinkAction::CancelBooking, S::Cancelled) => LinkState::Used,
        (LinkAction::CancelBooking, S::Lapsed) => LinkState::Void,
        (LinkAction::CancelBooking, _) if now >= booking.start => LinkState::Expired,
        _ => LinkState::Open,
    }
}

/// Does what the link says, once.
pub async fn follow_link(
    executor: &Executor,
    secret: &LinkSecret,
    correlation: CorrelationId,
    target: &LinkTarget,
    booking: &BookingSummary,
) -> Result<LinkOutcome, ExecuteError<BookingError>> {
    let booking_stream = StreamName::booking(&target.booking);
    let subject = target.booking.to_string();
    let result = match target.action {
        LinkAction::ConfirmBooking => {
            // The waiting number comes from the office-day's stream, named by the booking.
            let state = executor
                .state_of::<BookingDecider>(std::slice::from_ref(&booking_stream))
                .await?;
            let Some(numbers) = state.numbers_stream(&target.booking) else {
                return Ok(LinkOutcome::Void);
            };
            let cancel_token = secret.token(&subject, LinkAction::CancelBooking.as_str());
            let confirm = |now| {
                BookingCommand::Confirm(ConfirmBooking {
                    booking: target.booking,
                    checkin_code_hash: code_hash(&secret.checkin_code(&subject)),
                    cancel_link: IssuedLink {
                        action: LinkAction::CancelBooking,
                        token_hash: cancel_token.hash().into(),
                        expires_at: booking.start,
                    },
                    now,
                })
            };
            executor
                .execute::<BookingDecider>(&[booking_stream, numbers], correlation, confirm)
                .await
        }
        LinkAction::CancelBooking => {
            let cancel = |now| {
                BookingCommand::Cancel(CancelBooking {
                    booking: target.booking,
                    now,
                })
            };
            executor
                .execute::<BookingDecider>(&[booking_stream], correlation, cancel)
                .await
        }
        // Wish links are not booking links; this view never resolves them to a booking.
        LinkAction::AcceptProposal | LinkAction::DeclineProposal | LinkAction::EndWish => {
            return Ok(LinkOutcome::Void);
        }
    };
    match result {
        Ok(events) if events.is_empty() => Ok(LinkOutcome::AlreadyDone),
        Ok(_) => Ok(LinkOutcome::Done),
        Err(ExecuteError::Rejected(BookingError::Lapsed(_) | BookingError::ConfirmationExpired { .. })) => {
            Ok(match target.action {
                LinkAction::ConfirmBooking => LinkOutcome::Expired,
                _ => LinkOutcome::Void,
            })
        }
        Err(ExecuteError::Rejected(BookingError::TooLate { .. })) => Ok(LinkOutcome::Expired),
        Err(ExecuteError::Rejected(BookingError::Cancelled(_) | BookingError::UnknownBooking(_))) => {
            Ok(LinkOutcome::Void)
        }
        Err(other) => Err(other),
    }
}
