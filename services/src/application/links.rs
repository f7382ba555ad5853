//! Following mail links (API.md "Mail links"). Looking at a link changes
//! nothing; pressing its button runs the booking or wish decision, and
//! pressing it again answers what already happened.

use terminagent_domain::Cause;
use terminagent_domain::{
    BookingCommand, BookingDecider, BookingError, BookingId, CancelBooking, ConfirmBooking, IssuedLink, LinkAction,
    ProposalStatus, StreamName, WishError, WishStatus,
};
use terminagent_eventstore::StorageError;

use super::wishes::{WishAnswer, decide_answer};
use super::{Attempt, ExecuteError, Executor};
use crate::links::{LinkSecret, code_hash};
use crate::projections::{BookingSummary, LinkSubject, LinkTarget, LinksView, ProposalSummary, WishSummary};

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

/// What a link's subject is now, as the links view tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkContext {
    Booking(BookingSummary),
    Proposal {
        proposal: ProposalSummary,
        wish: WishSummary,
        /// The booking it became, once accepted.
        booking: Option<BookingSummary>,
    },
    Wish {
        wish: WishSummary,
        /// The booking it became, once fulfilled.
        booking: Option<BookingSummary>,
    },
}

impl LinkContext {
    /// The subject of `target` in `view`, if the view knows it.
    pub fn of(target: &LinkTarget, view: &LinksView) -> Option<LinkContext> {
        let fulfilled_by = |wish: &WishSummary| match wish.status {
            WishStatus::Fulfilled { booking, .. } => view.booking(&booking).cloned(),
            _ => None,
        };
        Some(match target.subject {
            LinkSubject::Booking(booking) => LinkContext::Booking(view.booking(&booking)?.clone()),
            LinkSubject::Proposal { wish, proposal } => {
                let proposal = view.proposal(&proposal)?.clone();
                let wish = view.wish(&wish)?.clone();
                let booking = match proposal.status {
                    ProposalStatus::Accepted(booking) => view.booking(&booking).cloned(),
                    _ => None,
                };
                LinkContext::Proposal {
                    proposal,
                    wish,
                    booking,
                }
            }
            LinkSubject::Wish(wish) => {
                let wish = view.wish(&wish)?.clone();
                let booking = fulfilled_by(&wish);
                LinkContext::Wish { wish, booking }
            }
        })
    }

    /// The booking the link belongs to, as it is now (when there is one).
    pub fn booking(&self) -> Option<&BookingSummary> {
        match self {
            LinkContext::Booking(booking) => Some(booking),
            LinkContext::Proposal { booking, .. } | LinkContext::Wish { booking, .. } => booking.as_ref(),
        }
    }
}

/// What the link would do now: the press's own decision, tried on the log
/// without appending, so looking and pressing follow one set of rules (the
/// deciders'). A refusal that is no answer of the link's own (the proposal
/// overlaps another booking of the citizen) leaves the link open: pressing
/// it says why.
pub async fn link_state(
    executor: &Executor,
    secret: &LinkSecret,
    target: &LinkTarget,
    context: &LinkContext,
) -> Result<LinkState, StorageError> {
    match follow(executor, secret, Attempt::DryRun, target, context).await {
        Ok(LinkOutcome::Done) => Ok(LinkState::Open),
        Ok(LinkOutcome::AlreadyDone) => Ok(LinkState::Used),
        Ok(LinkOutcome::Expired) => Ok(LinkState::Expired),
        Ok(LinkOutcome::Void) => Ok(LinkState::Void),
        // A dry run appends nothing, so it never loses a race either.
        Err(ExecuteError::Rejected(_) | ExecuteError::Contended { .. }) => Ok(LinkState::Open),
        Err(ExecuteError::Storage(error)) => Err(error),
    }
}

/// Why pressing a link was refused in a way that is no answer of its own.
#[derive(Debug, thiserror::Error)]
pub enum LinkRefusal {
    #[error(transparent)]
    Booking(BookingError),
    #[error(transparent)]
    Wish(WishError),
}

/// Does what the link says, once.
pub async fn follow_link(
    executor: &Executor,
    secret: &LinkSecret,
    cause: Cause,
    target: &LinkTarget,
    context: &LinkContext,
) -> Result<LinkOutcome, ExecuteError<LinkRefusal>> {
    follow(executor, secret, Attempt::Make(cause), target, context).await
}

/// [`follow_link`] made, or only tried ([`link_state`]).
async fn follow(
    executor: &Executor,
    secret: &LinkSecret,
    attempt: Attempt,
    target: &LinkTarget,
    context: &LinkContext,
) -> Result<LinkOutcome, ExecuteError<LinkRefusal>> {
    match (target.subject, context) {
        (LinkSubject::Booking(booking), LinkContext::Booking(summary)) => {
            follow_booking_link(executor, secret, attempt, target.action, booking, summary).await
        }
        (LinkSubject::Proposal { wish, proposal }, _) => {
            let answer = match target.action {
                LinkAction::AcceptProposal => WishAnswer::Accept { wish, proposal },
                LinkAction::DeclineProposal => WishAnswer::Decline { wish, proposal },
                _ => return Ok(LinkOutcome::Void),
            };
            follow_wish_link(executor, secret, attempt, answer).await
        }
        (LinkSubject::Wish(wish), _) if target.action == LinkAction::EndWish => {
            follow_wish_link(executor, secret, attempt, WishAnswer::End { wish }).await
        }
        (LinkSubject::Wish(wish), _) if target.action == LinkAction::ConfirmWish => {
            follow_wish_link(executor, secret, attempt, WishAnswer::Confirm { wish }).await
        }
        _ => Ok(LinkOutcome::Void),
    }
}

async fn follow_wish_link(
    executor: &Executor,
    secret: &LinkSecret,
    attempt: Attempt,
    answer: WishAnswer,
) -> Result<LinkOutcome, ExecuteError<LinkRefusal>> {
    use WishError as E;
    match decide_answer(executor, secret, attempt, answer).await {
        Ok(events) if events.is_empty() => Ok(LinkOutcome::AlreadyDone),
        Ok(_) => Ok(LinkOutcome::Done),
        Err(ExecuteError::Rejected(E::ProposalExpired { .. } | E::ConfirmationExpired { .. })) => {
            Ok(LinkOutcome::Expired)
        }
        Err(ExecuteError::Rejected(
            E::ProposalDeclined(_)
            | E::ProposalAccepted { .. }
            | E::ProposalWithdrawn(_)
            | E::WishEnded { .. }
            | E::WishFulfilled { .. }
            | E::UnknownWish(_)
            | E::NotConfirmed(_)
            | E::UnknownProposal { .. },
        )) => Ok(LinkOutcome::Void),
        Err(other) => Err(refused(other, LinkRefusal::Wish)),
    }
}

fn refused<E>(error: ExecuteError<E>, wrap: fn(E) -> LinkRefusal) -> ExecuteError<LinkRefusal> {
    match error {
        ExecuteError::Rejected(reason) => ExecuteError::Rejected(wrap(reason)),
        ExecuteError::Contended { streams } => ExecuteError::Contended { streams },
        ExecuteError::Storage(error) => ExecuteError::Storage(error),
    }
}

async fn follow_booking_link(
    executor: &Executor,
    secret: &LinkSecret,
    attempt: Attempt,
    action: LinkAction,
    booking_id: BookingId,
    booking: &BookingSummary,
) -> Result<LinkOutcome, ExecuteError<LinkRefusal>> {
    let booking_stream = StreamName::booking(&booking_id);
    let subject = booking_id.to_string();
    let result = match action {
        LinkAction::ConfirmBooking => {
            // The waiting number comes from the office-day's stream, named by the booking.
            let state = executor
                .state_of::<BookingDecider>(std::slice::from_ref(&booking_stream))
                .await?;
            let Some(numbers) = state.numbers_stream(&booking_id) else {
                return Ok(LinkOutcome::Void);
            };
            let cancel_token = secret.token(&subject, LinkAction::CancelBooking.as_str());
            let confirm = |now| {
                BookingCommand::Confirm(ConfirmBooking {
                    booking: booking_id,
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
                .attempt::<BookingDecider>(attempt, &[booking_stream, numbers], confirm)
                .await
        }
        LinkAction::CancelBooking => {
            let cancel = |now| {
                BookingCommand::Cancel(CancelBooking {
                    booking: booking_id,
                    now,
                    reason: None,
                })
            };
            executor
                .attempt::<BookingDecider>(attempt, &[booking_stream], cancel)
                .await
        }
        LinkAction::AcceptProposal | LinkAction::DeclineProposal | LinkAction::EndWish | LinkAction::ConfirmWish => {
            return Ok(LinkOutcome::Void);
        }
    };
    match result {
        Ok(events) if events.is_empty() => Ok(LinkOutcome::AlreadyDone),
        Ok(_) => Ok(LinkOutcome::Done),
        Err(ExecuteError::Rejected(BookingError::Lapsed(_) | BookingError::ConfirmationExpired { .. })) => {
            Ok(match action {
                LinkAction::ConfirmBooking => LinkOutcome::Expired,
                _ => LinkOutcome::Void,
            })
        }
        Err(ExecuteError::Rejected(BookingError::TooLate { .. })) => Ok(LinkOutcome::Expired),
        Err(ExecuteError::Rejected(BookingError::Cancelled(_) | BookingError::UnknownBooking(_))) => {
            Ok(LinkOutcome::Void)
        }
        Err(other) => Err(refused(other, LinkRefusal::Booking)),
    }
}
