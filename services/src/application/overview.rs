//! "Meine Termine" (issue 16): the link to a citizen's open bookings and
//! wishes, asked for by e-mail address, and the confirm-request mail sent
//! again from there. The rules are `domain::overview`'s.
//!
//! An address the index does not know, an erased citizen, one the log holds
//! nothing of and one that asked too often all record nothing; the caller
//! answers every request alike.

use chrono::{DateTime, Utc};
use terminagent_domain::{
    BookingId, Cause, ConfirmationResendDecider, EmailAddress, EnvelopeId, ErasureDecider, OVERVIEW_LINK_ACTION,
    OpenBooking, OpenWish, OverviewError, OverviewRequestDecider, OverviewRequestId, RequestOverview,
    ResendConfirmation, ResendError, StreamName, open_items,
};
use terminagent_eventstore::{StorageError, VaultError};

use super::{ExecuteError, Executor};
use crate::links::{LinkSecret, LinkToken};

#[derive(Debug, thiserror::Error)]
pub enum OverviewRequestError {
    #[error("personal data vault: {0}")]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Execute(#[from] ExecuteError<OverviewError>),
}

/// The token of an overview request's link (the mailer derives the same).
pub fn overview_token(secret: &LinkSecret, request: &OverviewRequestId) -> LinkToken {
    secret.token(&request.to_string(), OVERVIEW_LINK_ACTION)
}

/// Records `citizen.overview_requested` for the citizen with this address,
/// if there is one to write to; returns whether it did. Refusals of the
/// domain (erased, nothing known, asked too often) are `Ok(false)`.
pub async fn request_overview(
    executor: &Executor,
    secret: &LinkSecret,
    cause: Cause,
    email: &EmailAddress,
) -> Result<bool, OverviewRequestError> {
    let Some(envelope) = executor.store().vault().find_envelope(&email.normalized()).await? else {
        return Ok(false);
    };
    let envelope = EnvelopeId::from_ulid(envelope);
    let request = OverviewRequestId::from_ulid(executor.new_id());
    let token_hash: String = overview_token(secret, &request).hash().into();
    let decided = executor
        .execute::<OverviewRequestDecider>(&[StreamName::citizen(&envelope)], cause, |now| RequestOverview {
            request,
            envelope,
            token_hash: token_hash.clone(),
            now,
        })
        .await;
    match decided {
        Ok(events) => Ok(!events.is_empty()),
        Err(ExecuteError::Rejected(reason)) => {
            tracing::info!(%reason, "overview request recorded nothing");
            Ok(false)
        }
        Err(other) => Err(other.into()),
    }
}

/// What the overview page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenOverview {
    pub erased: bool,
    pub bookings: Vec<OpenBooking>,
    pub wishes: Vec<OpenWish>,
}

/// The open bookings and wishes of the citizen of `envelope` at `now`: the
/// citizen's stream, then the streams of what it shows open (their latest
/// state, e.g. a confirmation, is only there). Changes nothing.
pub async fn citizen_overview(
    executor: &Executor,
    envelope: EnvelopeId,
    now: DateTime<Utc>,
) -> Result<CitizenOverview, StorageError> {
    let citizen = StreamName::citizen(&envelope);
    let planned = executor
        .state_of::<ErasureDecider>(std::slice::from_ref(&citizen))
        .await?;
    if planned.erased() {
        return Ok(CitizenOverview {
            erased: true,
            bookings: Vec::new(),
            wishes: Vec::new(),
        });
    }
    let streams: Vec<StreamName> = std::iter::once(citizen).chain(planned.streams_to_read()).collect();
    let state = executor.state_of::<ErasureDecider>(&streams).await?;
    let (bookings, wishes) = open_items(&state, now);
    Ok(CitizenOverview {
        erased: state.erased(),
        bookings,
        wishes,
    })
}

/// Records `booking.confirmation_resent` for the citizen's own booking still
/// awaiting confirmation (the relay turns it into the confirm-request mail).
pub async fn resend_confirmation(
    executor: &Executor,
    cause: Cause,
    citizen: EnvelopeId,
    booking: BookingId,
) -> Result<u32, ExecuteError<ResendError>> {
    let events = executor
        .execute::<ConfirmationResendDecider>(&[StreamName::booking(&booking)], cause, |now| ResendConfirmation {
            booking,
            citizen,
            now,
        })
        .await?;
    Ok(events
        .iter()
        .find_map(|event| match event {
            terminagent_domain::OverviewInput::Overview(terminagent_domain::OverviewEvent::ConfirmationResent(
                resent,
            )) => Some(resent.nth),
            _ => None,
        })
        .unwrap_or(0))
}
