//! Wishes and proposals (API.md "Wishes"): registering a wish, confirming it
//! by mail link (double opt-in), the matcher's proposals, the answers by mail
//! link and the timers. Each decision is the
//! [`WishDecider`]'s, over the streams its command names.

use chrono::Duration;
use terminagent_domain::{
    AcceptProposal, BookingId, ConfirmWish, DeclineProposal, EndWish, ExpireProposal, IssuedLink, LapseWish,
    LinkAction, LocalDate, OfficeId, PersonalData, ProposalId, ProposeUnits, RegisterWish, ServiceId, StreamName,
    WeeklyWindows, WishCommand, WishDecider, WishError, WishEvent, WishId, WishPolicy, WishState,
};
use terminagent_domain::{Actor, Cause};
use terminagent_eventstore::{StorageError, VaultError};

use super::{Attempt, ExecuteError, Executor};
use crate::links::{LinkSecret, code_hash};
use crate::waitlist::PlannedProposal;

/// The end link of a wish works as long as the wish may wait; a wish without
/// a last date gets ten years.
const OPEN_ENDED_WISH_LINK: Duration = Duration::days(3653);

/// A citizen's wish, parsed.
#[derive(Debug, Clone)]
pub struct WishRequest {
    pub offices: Vec<OfficeId>,
    pub services: Vec<ServiceId>,
    pub windows: WeeklyWindows,
    pub until: Option<LocalDate>,
    pub citizen: PersonalData,
}

/// A wish just registered, awaiting its confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisteredWish {
    pub wish: WishId,
    /// Until when its confirm link works.
    pub confirm_by: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterWishError {
    #[error(transparent)]
    Decision(#[from] ExecuteError<WishError>),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<StorageError> for RegisterWishError {
    fn from(error: StorageError) -> Self {
        RegisterWishError::Decision(ExecuteError::Storage(error))
    }
}

/// Registers a wish awaiting its confirmation: the mailer sends the confirm
/// link, and only pressing it within `confirm_ttl` puts the wish in the queue
/// ([`confirm_wish`]); otherwise it lapses. Reads each office's and service's
/// stream and the citizen's (for a duplicate wish). Confirming is
/// [`answer_wish`] with [`WishAnswer::Confirm`].
pub async fn register_wish(
    executor: &Executor,
    links: &LinkSecret,
    confirm_ttl: Duration,
    cause: Cause,
    request: WishRequest,
) -> Result<RegisteredWish, RegisterWishError> {
    let WishRequest {
        offices,
        services,
        windows,
        until,
        citizen,
    } = request;
    let sealed = super::seal_citizen(executor, &citizen).await?.data;
    let mut streams: Vec<StreamName> = offices.iter().map(StreamName::office).collect();
    streams.extend(services.iter().map(StreamName::service));
    streams.push(StreamName::citizen(&sealed.envelope_id));
    let wish = WishId::from_ulid(executor.new_id());
    let end_token = links.token(&wish.to_string(), LinkAction::EndWish.as_str());
    let confirm_token = links.token(&wish.to_string(), LinkAction::ConfirmWish.as_str());
    let decided = executor
        .execute::<WishDecider>(&streams, cause, |now| {
            WishCommand::Register(RegisterWish {
                wish,
                offices: offices.clone(),
                services: services.clone(),
                windows,
                until,
                citizen: sealed.clone(),
                confirm_link: IssuedLink {
                    action: LinkAction::ConfirmWish,
                    token_hash: confirm_token.hash().into(),
                    expires_at: now + confirm_ttl,
                },
                end_link: IssuedLink {
                    action: LinkAction::EndWish,
                    token_hash: end_token.hash().into(),
                    expires_at: now + OPEN_ENDED_WISH_LINK,
                },
                confirm_ttl,
                now,
            })
        })
        .await?;
    // Decided again after a retry, the registration already in the log is the answer.
    let confirm_by = match wish_events(decided).first() {
        Some(WishEvent::Registered(registered)) => registered.confirm_by,
        _ => executor
            .state_of::<WishDecider>(&[StreamName::wish(&wish)])
            .await?
            .wish(&wish)
            .and_then(|found| found.confirm_by),
    };
    Ok(RegisteredWish {
        wish,
        confirm_by: confirm_by.unwrap_or_else(|| executor.now()),
    })
}

/// The matcher makes a proposal it planned: the wish, its office and services,
/// the office day and then the units it would hold, all read under conditions,
/// so a booking or another proposal that took a unit meanwhile wins and this
/// one is refused.
pub async fn propose_units(
    executor: &Executor,
    links: &LinkSecret,
    policy: WishPolicy,
    planned: &PlannedProposal,
) -> Result<Vec<WishEvent>, ExecuteError<WishError>> {
    let wish_stream = StreamName::wish(&planned.wish);
    let wish = executor
        .state_of::<WishDecider>(std::slice::from_ref(&wish_stream))
        .await?;
    let Some(services) = wish.wish(&planned.wish).map(|wish| wish.services.clone()) else {
        return Err(ExecuteError::Rejected(WishError::UnknownWish(planned.wish)));
    };
    let Some(first) = planned.units.first() else {
        return Err(ExecuteError::Rejected(WishError::NoSuchUnits {
            office: planned.office.clone(),
            lane: planned.lane,
            start: planned.start,
        }));
    };
    let mut streams = vec![wish_stream, StreamName::office(&planned.office)];
    streams.extend(services.iter().map(StreamName::service));
    streams.push(StreamName::office_day(&planned.office, first.date.into()));
    let state = executor.state_of::<WishDecider>(&streams).await?;
    streams.extend(
        state
            .units_to_read(&planned.wish, &planned.office, planned.start, planned.lane)
            .iter()
            .map(StreamName::unit),
    );
    let proposal = ProposalId::from_ulid(executor.new_id());
    let (proposal_subject, wish_subject) = (proposal.to_string(), planned.wish.to_string());
    let accept = links.token(&proposal_subject, LinkAction::AcceptProposal.as_str());
    let decline = links.token(&proposal_subject, LinkAction::DeclineProposal.as_str());
    let end = links.token(&wish_subject, LinkAction::EndWish.as_str());
    let cause = executor.new_cause(Actor::MATCHER);
    let decided = executor
        .execute::<WishDecider>(&streams, cause, |now| {
            let answer_by = (now + policy.proposal_ttl).min(planned.start);
            let link = |action, token: &crate::links::LinkToken, expires_at| IssuedLink {
                action,
                token_hash: token.hash().into(),
                expires_at,
            };
            WishCommand::Propose(ProposeUnits {
                proposal,
                wish: planned.wish,
                office: planned.office.clone(),
                start: planned.start,
                lane: planned.lane,
                links: vec![
                    link(LinkAction::AcceptProposal, &accept, answer_by),
                    link(LinkAction::DeclineProposal, &decline, answer_by),
                    link(LinkAction::EndWish, &end, now + OPEN_ENDED_WISH_LINK),
                ],
                now,
                policy,
            })
        })
        .await?;
    Ok(wish_events(decided))
}

/// An answer to a proposal or a wish, from its mail link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WishAnswer {
    /// The confirm link: the wish joins the queue now (its place is this
    /// moment's); pressed again, nothing happens.
    Confirm {
        wish: WishId,
    },
    Accept {
        wish: WishId,
        proposal: ProposalId,
    },
    Decline {
        wish: WishId,
        proposal: ProposalId,
    },
    End {
        wish: WishId,
    },
}

/// Decides an answer; the events it appended (none: it was given before).
/// Accepting places the confirmed booking with the next waiting number of
/// its office day, so it reads that day's `numbers:` stream too.
pub async fn answer_wish(
    executor: &Executor,
    links: &LinkSecret,
    cause: Cause,
    answer: WishAnswer,
) -> Result<Vec<WishEvent>, ExecuteError<WishError>> {
    decide_answer(executor, links, Attempt::Make(cause), answer).await
}

/// [`answer_wish`] made, or only tried (what the link would do now).
pub(super) async fn decide_answer(
    executor: &Executor,
    links: &LinkSecret,
    attempt: Attempt,
    answer: WishAnswer,
) -> Result<Vec<WishEvent>, ExecuteError<WishError>> {
    let decided = match answer {
        WishAnswer::Confirm { wish } => {
            executor
                .attempt::<WishDecider>(attempt, &[StreamName::wish(&wish)], |now| {
                    WishCommand::Confirm(ConfirmWish { wish, now })
                })
                .await?
        }
        WishAnswer::Accept { wish, proposal } => {
            let wish_stream = StreamName::wish(&wish);
            let state = executor
                .state_of::<WishDecider>(std::slice::from_ref(&wish_stream))
                .await?;
            let Some(numbers) = state.numbers_stream(&wish, &proposal) else {
                return Err(ExecuteError::Rejected(refusal(&state, wish, proposal)));
            };
            let start = state
                .wish(&wish)
                .and_then(|found| found.proposal(&proposal))
                .map(|found| found.start);
            // The citizen's other bookings, for the rule that they may not
            // overlap; the append's condition on this stream makes a
            // concurrent booking of the same citizen a lost race.
            let mut streams = vec![wish_stream, numbers];
            streams.extend(
                state
                    .wish(&wish)
                    .map(|found| StreamName::citizen(&found.citizen.envelope_id)),
            );
            // The booking's id is derived from the proposal, so a retried
            // acceptance names the same booking and its links stay valid.
            let booking = BookingId::from_ulid(proposal.as_ulid());
            let subject = booking.to_string();
            let cancel = links.token(&subject, LinkAction::CancelBooking.as_str());
            let checkin_code_hash = code_hash(&links.checkin_code(&subject));
            executor
                .attempt::<WishDecider>(attempt, &streams, |now| {
                    WishCommand::Accept(AcceptProposal {
                        wish,
                        proposal,
                        booking,
                        checkin_code_hash: checkin_code_hash.clone(),
                        cancel_link: IssuedLink {
                            action: LinkAction::CancelBooking,
                            token_hash: cancel.hash().into(),
                            expires_at: start.unwrap_or(now),
                        },
                        now,
                    })
                })
                .await?
        }
        WishAnswer::Decline { wish, proposal } => {
            executor
                .attempt::<WishDecider>(attempt, &[StreamName::wish(&wish)], |now| {
                    WishCommand::Decline(DeclineProposal { wish, proposal, now })
                })
                .await?
        }
        WishAnswer::End { wish } => {
            executor
                .attempt::<WishDecider>(attempt, &[StreamName::wish(&wish)], |_| {
                    WishCommand::End(EndWish { wish })
                })
                .await?
        }
    };
    Ok(wish_events(decided))
}

/// Why accepting found no proposal to accept.
fn refusal(state: &WishState, wish: WishId, proposal: ProposalId) -> WishError {
    match state.wish(&wish) {
        None => WishError::UnknownWish(wish),
        Some(_) => WishError::UnknownProposal { wish, proposal },
    }
}

/// The expiry timer: an unanswered proposal expires (and after too many in a
/// row the wish ends). Idempotent: a proposal answered meanwhile stays as it is.
pub async fn expire_proposal(
    executor: &Executor,
    policy: WishPolicy,
    wish: WishId,
    proposal: ProposalId,
) -> Result<Vec<WishEvent>, ExecuteError<WishError>> {
    let cause = executor.new_cause(Actor::TIMER);
    let decided = executor
        .execute::<WishDecider>(&[StreamName::wish(&wish)], cause, |now| {
            WishCommand::Expire(ExpireProposal {
                wish,
                proposal,
                now,
                policy,
            })
        })
        .await?;
    Ok(wish_events(decided))
}

/// The lapse timer: a wish whose last date is over ends, and so does one
/// not confirmed in time.
pub async fn lapse_wish(executor: &Executor, wish: WishId) -> Result<Vec<WishEvent>, ExecuteError<WishError>> {
    let cause = executor.new_cause(Actor::TIMER);
    let decided = executor
        .execute::<WishDecider>(&[StreamName::wish(&wish)], cause, |now| {
            WishCommand::Lapse(LapseWish { wish, now })
        })
        .await?;
    Ok(wish_events(decided))
}

fn wish_events(decided: Vec<terminagent_domain::BookingInput>) -> Vec<WishEvent> {
    decided
        .into_iter()
        .filter_map(|event| match event {
            terminagent_domain::BookingInput::Wish(event) => Some(event),
            _ => None,
        })
        .collect()
}
