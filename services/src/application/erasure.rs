//! Erasing a citizen's personal data (API.md "Operations": `terminagent
//! erase`, `POST /api/v1/erasures`) and the retention timer (`--retention`).
//!
//! An erasure on request runs in three steps, each safe to repeat:
//! 1. the envelope's key is deleted (its index entry kept): from now on no
//!    mail can be written from the data, not even for the events step 2
//!    appends (the mailer records them as skipped);
//! 2. the decision (`domain::erasure`) ends the citizen's waiting wishes,
//!    cancels bookings awaiting confirmation and records
//!    `personal_data.erased`, in one append under conditions on the
//!    citizen's, the bookings' and the wishes' streams;
//! 3. the index entry goes, so the address leads nowhere.
//!
//! A failure after step 1 leaves the index entry: erasing the address again
//! finishes the job. The retention timer erases only citizens with nothing
//! open, so its batch is `personal_data.erased` alone, which calls for no
//! mail: it records first and deletes key and index after, and a citizen who
//! comes back while it decides keeps their key.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use terminagent_domain::{
    Actor, BookingEvent, BookingId, BookingInput, Cause, DomainEvent, EmailAddress, EnvelopeId, EraseCitizen,
    ErasureDecider, ErasureError, ErasureEvent, ErasureInput, ErasureReason, StreamName, WishEvent, WishId,
};
use terminagent_eventstore::{LogEvent, VaultError};

use super::{ExecuteError, Executor};
use crate::projections::{LiveProjection, Projection};

/// How often the reads are planned anew before an erasure gives up.
const PLANS: usize = 5;

/// How often the retention timer looks for citizens to erase.
pub const RETENTION_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What an erasure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErasureOutcome {
    pub envelope: EnvelopeId,
    /// Waiting wishes ended with it.
    pub ended_wishes: usize,
    /// Bookings awaiting confirmation cancelled with it.
    pub cancelled_bookings: usize,
    /// Whether `personal_data.erased` was appended now (not by an earlier,
    /// interrupted run).
    pub recorded: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("personal data vault: {0}")]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Execute(#[from] ExecuteError<ErasureError>),
}

/// Erases the citizen with this address, on their request; `None` when the
/// index knows no such citizen (never seen, or erased before).
pub async fn erase_by_email(
    executor: &Executor,
    cause: Cause,
    email: &EmailAddress,
) -> Result<Option<ErasureOutcome>, EraseError> {
    let vault = executor.store().vault();
    let Some(envelope) = vault.find_envelope(&email.normalized()).await? else {
        return Ok(None);
    };
    erase_envelope(executor, cause, EnvelopeId::from_ulid(envelope), ErasureReason::Request).await
}

/// Erases the citizen of `envelope`. For [`ErasureReason::Retention`],
/// `None` when the citizen has something open again.
pub async fn erase_envelope(
    executor: &Executor,
    cause: Cause,
    envelope: EnvelopeId,
    reason: ErasureReason,
) -> Result<Option<ErasureOutcome>, EraseError> {
    let vault = executor.store().vault();
    let citizen = StreamName::citizen(&envelope);
    let mut last_unread = Vec::new();
    for _ in 0..PLANS {
        let planned = executor
            .state_of::<ErasureDecider>(std::slice::from_ref(&citizen))
            .await
            .map_err(ExecuteError::Storage)?;
        let read = planned.streams_to_read();
        let streams: Vec<StreamName> = std::iter::once(citizen.clone()).chain(read.iter().cloned()).collect();
        if reason == ErasureReason::Request {
            vault.erase_key(envelope.as_ulid()).await?;
        }
        let decided = executor
            .execute::<ErasureDecider>(&streams, cause, |now| EraseCitizen {
                envelope,
                reason,
                read: read.clone(),
                now,
            })
            .await;
        match decided {
            Ok(events) => {
                vault.erase(envelope.as_ulid()).await?;
                return Ok(Some(outcome(envelope, &events)));
            }
            Err(ExecuteError::Rejected(ErasureError::UnreadStreams(unread))) => last_unread = unread,
            Err(ExecuteError::Rejected(ErasureError::StillActive)) => return Ok(None),
            Err(other) => return Err(other.into()),
        }
    }
    Err(ExecuteError::Rejected(ErasureError::UnreadStreams(last_unread)).into())
}

fn outcome(envelope: EnvelopeId, events: &[ErasureInput]) -> ErasureOutcome {
    let mut outcome = ErasureOutcome {
        envelope,
        ended_wishes: 0,
        cancelled_bookings: 0,
        recorded: false,
    };
    for event in events {
        match event {
            ErasureInput::Booking(BookingInput::Wish(WishEvent::Ended(_))) => outcome.ended_wishes += 1,
            ErasureInput::Booking(BookingInput::Booking(BookingEvent::Cancelled(_))) => outcome.cancelled_bookings += 1,
            ErasureInput::Erasure(_) => outcome.recorded = true,
            ErasureInput::Booking(_) => {}
        }
    }
    outcome
}

// --- the command line ---------------------------------------------------------------

/// Why `terminagent erase` failed; every one exits 2.
#[derive(Debug, thiserror::Error)]
pub enum EraseCliError {
    #[error("--email: {0}")]
    Usage(String),
    #[error(transparent)]
    Connection(#[from] crate::app::StartError),
    #[error("erasing failed: {0}")]
    Failed(#[from] EraseError),
}

/// `terminagent erase --email ADDRESS`, as the operator: the line to print.
pub async fn run_cli(args: &crate::config::EraseArgs) -> Result<String, EraseCliError> {
    let email = EmailAddress::parse(&args.email).map_err(|error| EraseCliError::Usage(error.to_string()))?;
    let store = crate::app::open_store(&args.database.database_url).await?;
    let executor = Executor::new(store.clone(), Arc::new(super::SystemClock));
    let erased = erase_by_email(&executor, executor.new_cause(Actor::Operator), &email).await;
    store.close().await;
    Ok(match erased? {
        None => format!("nothing to erase: no citizen with the address {email} (never seen, or erased before)"),
        Some(outcome) => format!(
            "erased the personal data of {email} (envelope {}); waiting wishes ended: {}, unconfirmed bookings \
             cancelled: {}",
            outcome.envelope, outcome.ended_wishes, outcome.cancelled_bookings
        ),
    })
}

// --- retention -----------------------------------------------------------------------

/// What the retention timer knows of each citizen not yet erased, folded
/// from the log: what is still open, and when the last of it ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionView {
    citizens: BTreeMap<EnvelopeId, CitizenActivity>,
    /// Each booking's citizen, for the events that do not name it.
    booking_citizens: BTreeMap<BookingId, EnvelopeId>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct CitizenActivity {
    /// Bookings not cancelled or lapsed, with their end.
    bookings: BTreeMap<BookingId, DateTime<Utc>>,
    waiting: BTreeSet<WishId>,
    /// When the latest booking or wish that is over ended (cancelled,
    /// lapsed, ended: as the log recorded it).
    last_ended: Option<DateTime<Utc>>,
}

impl CitizenActivity {
    fn ended(&mut self, at: DateTime<Utc>) {
        self.last_ended = self.last_ended.max(Some(at));
    }

    /// When the citizen's last booking or wish ended; `None` while one is
    /// open at `now`.
    fn idle_since(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.waiting.is_empty() {
            return None;
        }
        let last_booking_end = self.bookings.values().max().copied();
        if last_booking_end.is_some_and(|end| end > now) {
            return None;
        }
        self.last_ended.max(last_booking_end)
    }
}

impl RetentionView {
    /// The citizens whose last booking or wish ended at least `retention` before `now`.
    pub fn due(&self, now: DateTime<Utc>, retention: chrono::Duration) -> Vec<EnvelopeId> {
        self.citizens
            .iter()
            .filter(|(_, citizen)| {
                citizen
                    .idle_since(now)
                    .is_some_and(|since| since.checked_add_signed(retention).is_some_and(|due| due <= now))
            })
            .map(|(envelope, _)| *envelope)
            .collect()
    }

    fn booking_ended(&mut self, booking: &BookingId, citizen: Option<EnvelopeId>, at: DateTime<Utc>) {
        let Some(envelope) = citizen.or_else(|| self.booking_citizens.get(booking).copied()) else {
            return;
        };
        if let Some(activity) = self.citizens.get_mut(&envelope) {
            activity.bookings.remove(booking);
            activity.ended(at);
        }
    }
}

impl Projection for RetentionView {
    fn apply(&mut self, event: &LogEvent) {
        const TYPES: &[&str] = &[
            "booking.requested",
            "booking.cancelled",
            "booking.lapsed",
            "proposal.accepted",
            "wish.registered",
            "wish.ended",
            "personal_data.erased",
        ];
        let stored = &event.event;
        if !TYPES.contains(&stored.event_type.as_str()) {
            return;
        }
        let Ok(decoded) = ErasureInput::from_stored_json(&stored.event_type, stored.data.as_str()) else {
            tracing::warn!(position = event.position, "retention: an event does not decode");
            return;
        };
        let at = stored.recorded_at;
        match decoded {
            ErasureInput::Booking(BookingInput::Booking(BookingEvent::Requested(requested))) => {
                let envelope = requested.citizen.envelope_id;
                self.booking_citizens.insert(requested.booking, envelope);
                let citizen = self.citizens.entry(envelope).or_default();
                citizen.bookings.insert(requested.booking, requested.end);
            }
            ErasureInput::Booking(BookingInput::Booking(BookingEvent::Cancelled(cancelled))) => {
                self.booking_ended(&cancelled.booking, cancelled.citizen, at)
            }
            ErasureInput::Booking(BookingInput::Booking(BookingEvent::Lapsed(lapsed))) => {
                self.booking_ended(&lapsed.booking, lapsed.citizen, at)
            }
            ErasureInput::Booking(BookingInput::Wish(WishEvent::ProposalAccepted(accepted))) => {
                let envelope = accepted.citizen.envelope_id;
                self.booking_citizens.insert(accepted.booking, envelope);
                let citizen = self.citizens.entry(envelope).or_default();
                citizen.bookings.insert(accepted.booking, accepted.end);
                citizen.waiting.remove(&accepted.wish);
            }
            ErasureInput::Booking(BookingInput::Wish(WishEvent::Registered(registered))) => {
                let citizen = self.citizens.entry(registered.citizen.envelope_id).or_default();
                citizen.waiting.insert(registered.wish);
            }
            ErasureInput::Booking(BookingInput::Wish(WishEvent::Ended(ended))) => {
                if let Some(citizen) = self.citizens.get_mut(&ended.citizen) {
                    citizen.waiting.remove(&ended.wish);
                    citizen.ended(at);
                }
            }
            ErasureInput::Erasure(ErasureEvent::Erased(erased)) => {
                if let Some(citizen) = self.citizens.remove(&erased.envelope) {
                    for booking in citizen.bookings.keys() {
                        self.booking_citizens.remove(booking);
                    }
                }
            }
            ErasureInput::Booking(_) => {}
        }
    }
}

/// Erases every citizen due under `retention` now; returns how many.
pub async fn erase_retained(
    executor: &Executor,
    retention: chrono::Duration,
    view: &LiveProjection<RetentionView>,
) -> usize {
    // A view behind the log could miss a citizen's latest booking and erase
    // them before their time: plan on everything committed so far.
    match executor.store().catch_up().await {
        Ok(head) => view.caught_up_to(head).await,
        Err(error) => {
            tracing::warn!(%error, "retention: the log's head is unknown; trying again later");
            return 0;
        }
    }
    let due = view.read().due(executor.now(), retention);
    let mut erased = 0;
    for envelope in due {
        let cause = executor.new_cause(Actor::TIMER);
        match erase_envelope(executor, cause, envelope, ErasureReason::Retention).await {
            Ok(Some(outcome)) if outcome.recorded => erased += 1,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%envelope, %error, "erasing after the retention period failed; trying again later")
            }
        }
    }
    erased
}

/// Runs the retention timer (`--retention`) until the process ends. Every
/// API process may run it: the decision appends one erasure per citizen.
pub fn spawn_retention_timer(
    executor: Executor,
    retention: Duration,
    view: Arc<LiveProjection<RetentionView>>,
) -> tokio::task::JoinHandle<()> {
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(RETENTION_CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let erased = erase_retained(&executor, retention, &view).await;
            if erased > 0 {
                tracing::info!(erased, "personal data erased after the retention period");
            }
        }
    })
}
