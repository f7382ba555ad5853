//! Erasing a citizen's personal data (DESIGN.md invariant 8). The data lives
//! in one sealed envelope per citizen whose key is kept outside the log;
//! erasing deletes that key (the caller's part) and records
//! `personal_data.erased` under the citizen's stream, so the log says when
//! and why, while every event before still replays and counts.
//!
//! What the citizen still has open is settled in the same append, so nobody
//! is mailed at an address that is gone and no unit stays held for nobody:
//! - a waiting wish ends (reason `citizen`: the citizen asked to be
//!   forgotten, which ends the search) and its open proposal's units are free;
//! - a booking still waiting for its confirmation is cancelled with a reason,
//!   its units free again;
//! - a confirmed booking stays: the appointment remains the citizen's, who
//!   holds its waiting number, check-in code and cancel link; the office sees
//!   it without a name.
//!
//! The retention timer erases only citizens with nothing open, so a citizen
//! who books again while the timer decides is not erased ([`ErasureError::StillActive`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::booking::{BookingCancelled, BookingDecider, BookingEvent, BookingInput, BookingState, BookingStatus};
use crate::decider::Decider;
use crate::event::{DomainEvent, EventDecodeError, StreamName};
use crate::ids::{BookingId, EnvelopeId, WishId};
use crate::wish::{WishDecider, WishEndReason, WishEnded, WishEvent, WishState};

/// The reason a cancellation by erasure carries (the cancellation mail would
/// quote it, but it cannot be sent: the address is gone).
pub const ERASURE_CANCEL_REASON: &str = "Ihre personenbezogenen Daten wurden gelöscht.";

/// Why the data was erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureReason {
    /// The citizen asked (an admin or the operator erased on their behalf).
    Request,
    /// The retention period after the citizen's last booking or wish passed.
    Retention,
}

impl ErasureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Retention => "retention",
        }
    }
}

/// The citizen's key is gone: their envelope can no longer be opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalDataErased {
    pub envelope: EnvelopeId,
    pub reason: ErasureReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ErasureEvent {
    #[serde(rename = "personal_data.erased")]
    Erased(PersonalDataErased),
}

impl DomainEvent for ErasureEvent {
    const EVENT_TYPES: &'static [&'static str] = &["personal_data.erased"];

    fn event_type(&self) -> &'static str {
        "personal_data.erased"
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn streams(&self) -> Vec<StreamName> {
        match self {
            Self::Erased(erased) => vec![StreamName::citizen(&erased.envelope)],
        }
    }
}

/// What an erasure reads and writes: the booking and wish events of the
/// citizen's, bookings' and wishes' streams, and the erasure itself.
// Almost every event read is a booking input: boxing it would allocate per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErasureInput {
    Booking(BookingInput),
    Erasure(ErasureEvent),
}

impl From<BookingInput> for ErasureInput {
    fn from(event: BookingInput) -> Self {
        Self::Booking(event)
    }
}

impl DomainEvent for ErasureInput {
    /// [`BookingInput`]'s types and `personal_data.erased` (checked by a test).
    const EVENT_TYPES: &'static [&'static str] = &[
        "office.registered",
        "office.details_changed",
        "service.registered",
        "service.details_changed",
        "capacity.published",
        "capacity.withdrawn",
        "booking.requested",
        "booking.confirmed",
        "booking.cancelled",
        "booking.lapsed",
        "booking.ticket_issued",
        "booking.released",
        "wish.registered",
        "wish.confirmed",
        "proposal.made",
        "proposal.accepted",
        "proposal.declined",
        "proposal.expired",
        "proposal.withdrawn",
        "wish.ended",
        "personal_data.erased",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::Booking(event) => event.event_type(),
            Self::Erasure(event) => event.event_type(),
        }
    }

    fn schema_version(&self) -> u32 {
        match self {
            Self::Booking(event) => event.schema_version(),
            Self::Erasure(event) => event.schema_version(),
        }
    }

    fn streams(&self) -> Vec<StreamName> {
        match self {
            Self::Booking(event) => event.streams(),
            Self::Erasure(event) => event.streams(),
        }
    }

    fn to_data(&self) -> Value {
        match self {
            Self::Booking(event) => event.to_data(),
            Self::Erasure(event) => event.to_data(),
        }
    }

    fn from_stored_json(event_type: &str, data: &str) -> Result<Self, EventDecodeError> {
        if ErasureEvent::EVENT_TYPES.contains(&event_type) {
            ErasureEvent::from_stored_json(event_type, data).map(Self::Erasure)
        } else {
            BookingInput::from_stored_json(event_type, data).map(Self::Booking)
        }
    }

    fn from_stored(event_type: &str, data: Value) -> Result<Self, EventDecodeError> {
        if ErasureEvent::EVENT_TYPES.contains(&event_type) {
            ErasureEvent::from_stored(event_type, data).map(Self::Erasure)
        } else {
            BookingInput::from_stored(event_type, data).map(Self::Booking)
        }
    }
}

/// Erase the citizen of `envelope`. Reads `citizen:{envelope}` and, for what
/// that stream shows open, each such booking's and wish's own stream (named
/// in `read`): their latest state (a confirmation, an open proposal) is only
/// there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EraseCitizen {
    pub envelope: EnvelopeId,
    pub reason: ErasureReason,
    /// The booking and wish streams the caller read besides the citizen's.
    pub read: BTreeSet<StreamName>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErasureError {
    /// Not the caller's fault: read these streams too and decide again.
    #[error("the citizen's bookings or wishes changed meanwhile; read them and decide again")]
    UnreadStreams(Vec<StreamName>),
    /// Retention only erases citizens with nothing open.
    #[error("the citizen has an open booking or a waiting wish")]
    StillActive,
}

/// The citizen as their streams tell it.
#[derive(Debug, Clone, Default)]
pub struct ErasureState {
    envelope: Option<EnvelopeId>,
    erased: bool,
    bookings: BookingState,
    wishes: WishState,
    booking_ids: BTreeSet<BookingId>,
    wish_ids: BTreeSet<WishId>,
}

impl ErasureState {
    /// Whether `personal_data.erased` was read.
    pub fn erased(&self) -> bool {
        self.erased
    }

    /// The streams of the citizen's bookings and wishes that may still be
    /// open (everything the citizen's stream does not show closed): what
    /// [`EraseCitizen::read`] must name.
    pub fn streams_to_read(&self) -> BTreeSet<StreamName> {
        let bookings = self
            .booking_ids
            .iter()
            .filter(|id| {
                self.bookings
                    .booking(id)
                    .is_some_and(|b| !matches!(b.status, BookingStatus::Cancelled | BookingStatus::Lapsed))
            })
            .map(StreamName::booking);
        let wishes = self
            .wish_ids
            .iter()
            .filter(|id| self.wishes.wish(id).is_some_and(|w| w.is_open()))
            .map(StreamName::wish);
        bookings.chain(wishes).collect()
    }

    /// Whether anything is still open at `now`: a booking waiting for its
    /// confirmation, a confirmed one not over yet, or a waiting wish.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        let booking_open = self
            .booking_ids
            .iter()
            .filter_map(|id| self.bookings.booking(id))
            .any(|b| match b.status {
                BookingStatus::PendingConfirmation => true,
                BookingStatus::Confirmed(_) => b.end > now,
                BookingStatus::Cancelled | BookingStatus::Lapsed => false,
            });
        booking_open || self.waiting_wishes().next().is_some()
    }

    /// The citizen's bookings as their streams tell them (open or not),
    /// in id order.
    pub fn bookings(&self) -> impl Iterator<Item = (BookingId, &crate::booking::Booking)> {
        self.booking_ids
            .iter()
            .filter_map(|id| self.bookings.booking(id).map(|booking| (*id, booking)))
    }

    /// The citizen's wishes as their streams tell them (open or not), in id order.
    pub fn wishes(&self) -> impl Iterator<Item = &crate::wish::Wish> {
        self.wish_ids.iter().filter_map(|id| self.wishes.wish(id))
    }

    fn waiting_wishes(&self) -> impl Iterator<Item = &crate::wish::Wish> {
        self.wish_ids
            .iter()
            .filter_map(|id| self.wishes.wish(id))
            .filter(|wish| wish.is_open())
    }
}

pub struct ErasureDecider;

impl Decider for ErasureDecider {
    type Command = EraseCitizen;
    type Event = ErasureInput;
    type State = ErasureState;
    type Error = ErasureError;

    fn decide(command: &EraseCitizen, state: &ErasureState) -> Result<Vec<ErasureInput>, ErasureError> {
        if state.erased {
            return Ok(vec![]);
        }
        let unread: Vec<StreamName> = state
            .streams_to_read()
            .into_iter()
            .filter(|stream| !command.read.contains(stream))
            .collect();
        if !unread.is_empty() {
            return Err(ErasureError::UnreadStreams(unread));
        }
        if command.reason == ErasureReason::Retention && state.is_active(command.now) {
            return Err(ErasureError::StillActive);
        }
        let mut events = Vec::new();
        // Wishes first: the units the cancellations free next are never
        // offered to a wish of the citizen being erased.
        for wish in state.waiting_wishes() {
            let open = wish.open_proposal();
            events.push(ErasureInput::Booking(BookingInput::Wish(WishEvent::Ended(WishEnded {
                wish: wish.wish,
                reason: WishEndReason::Citizen,
                citizen: command.envelope,
                proposal: open.map(|open| open.proposal),
                units: open.map(|open| open.units.clone()).unwrap_or_default(),
            }))));
        }
        let pending: BTreeMap<&BookingId, _> = state
            .booking_ids
            .iter()
            .filter_map(|id| state.bookings.booking(id).map(|booking| (id, booking)))
            .filter(|(_, booking)| booking.status == BookingStatus::PendingConfirmation && booking.start > command.now)
            .collect();
        for (id, booking) in pending {
            events.push(ErasureInput::Booking(BookingInput::Booking(BookingEvent::Cancelled(
                BookingCancelled {
                    booking: *id,
                    units: booking.units.clone(),
                    citizen: Some(command.envelope),
                    reason: Some(ERASURE_CANCEL_REASON.to_owned()),
                },
            ))));
        }
        events.push(ErasureInput::Erasure(ErasureEvent::Erased(PersonalDataErased {
            envelope: command.envelope,
            reason: command.reason,
        })));
        Ok(events)
    }

    fn evolve(mut state: ErasureState, event: &ErasureInput) -> ErasureState {
        match event {
            ErasureInput::Erasure(ErasureEvent::Erased(erased)) => {
                if state.envelope.is_none_or(|envelope| envelope == erased.envelope) {
                    state.erased = true;
                }
            }
            ErasureInput::Booking(event) => {
                match event {
                    BookingInput::Booking(BookingEvent::Requested(requested)) => {
                        state.envelope.get_or_insert(requested.citizen.envelope_id);
                        if state.envelope == Some(requested.citizen.envelope_id) {
                            state.booking_ids.insert(requested.booking);
                        }
                    }
                    BookingInput::Wish(WishEvent::ProposalAccepted(accepted)) => {
                        state.envelope.get_or_insert(accepted.citizen.envelope_id);
                        if state.envelope == Some(accepted.citizen.envelope_id) {
                            state.booking_ids.insert(accepted.booking);
                        }
                    }
                    BookingInput::Wish(WishEvent::Registered(registered)) => {
                        state.envelope.get_or_insert(registered.citizen.envelope_id);
                        if state.envelope == Some(registered.citizen.envelope_id) {
                            state.wish_ids.insert(registered.wish);
                        }
                    }
                    _ => {}
                }
                state.bookings = BookingDecider::evolve(state.bookings, event);
                state.wishes = WishDecider::evolve(state.wishes, event);
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{BookingConfirmed, BookingRequested, SealedPersonalData, WaitingNumber};
    use crate::catalogue::UnitRef;
    use crate::ids::ProposalId;
    use crate::wish::{ProposalMade, WishRegistered};
    use chrono::TimeZone;
    use ulid::Ulid;

    fn envelope() -> EnvelopeId {
        EnvelopeId::from_ulid(Ulid::from_parts(1, 1))
    }

    fn sealed() -> SealedPersonalData {
        SealedPersonalData {
            envelope_id: envelope(),
            nonce: "00".into(),
            ciphertext: "00".into(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
    }

    fn unit(start: &str) -> UnitRef {
        UnitRef {
            office: "mitte".parse().unwrap(),
            date: "2026-12-10".parse().unwrap(),
            lane: 1,
            start: start.parse().unwrap(),
        }
    }

    fn booking(n: u64) -> BookingId {
        BookingId::from_ulid(Ulid::from_parts(n, 0))
    }

    fn wish_id() -> WishId {
        WishId::from_ulid(Ulid::from_parts(7, 7))
    }

    fn requested(n: u64, units: Vec<UnitRef>) -> ErasureInput {
        let start = Utc.with_ymd_and_hms(2026, 12, 10, 7, 0, 0).unwrap();
        BookingInput::Booking(BookingEvent::Requested(BookingRequested {
            booking: booking(n),
            office: "mitte".parse().unwrap(),
            services: vec!["ausweis".parse().unwrap()],
            units,
            start,
            end: start + chrono::Duration::minutes(12),
            citizen: sealed(),
            confirm_by: start,
            links: vec![],
        }))
        .into()
    }

    fn confirmed(n: u64) -> ErasureInput {
        BookingInput::Booking(BookingEvent::Confirmed(BookingConfirmed {
            booking: booking(n),
            office: "mitte".parse().unwrap(),
            date: "2026-12-10".parse().unwrap(),
            number: WaitingNumber::nth(1).unwrap(),
            checkin_code_hash: "h".into(),
            links: vec![],
        }))
        .into()
    }

    fn registered() -> ErasureInput {
        BookingInput::Wish(WishEvent::Registered(WishRegistered {
            wish: wish_id(),
            offices: vec!["mitte".parse().unwrap()],
            services: vec!["ausweis".parse().unwrap()],
            windows: crate::windows::WeeklyWindows::new([(chrono::Weekday::Thu, 8)]).unwrap(),
            until: None,
            lapses_at: None,
            citizen: sealed(),
            links: vec![],
            registered_at: now(),
            confirm_by: None,
        }))
        .into()
    }

    fn proposed(units: Vec<UnitRef>) -> ErasureInput {
        let start = Utc.with_ymd_and_hms(2026, 12, 10, 7, 0, 0).unwrap();
        BookingInput::Wish(WishEvent::ProposalMade(ProposalMade {
            proposal: ProposalId::from_ulid(Ulid::from_parts(8, 8)),
            wish: wish_id(),
            office: "mitte".parse().unwrap(),
            units,
            start,
            end: start,
            expires_at: start,
            links: vec![],
        }))
        .into()
    }

    fn erase(reason: ErasureReason, read: &[StreamName]) -> EraseCitizen {
        EraseCitizen {
            envelope: envelope(),
            reason,
            read: read.iter().cloned().collect(),
            now: now(),
        }
    }

    fn erased(reason: ErasureReason) -> ErasureInput {
        ErasureInput::Erasure(ErasureEvent::Erased(PersonalDataErased {
            envelope: envelope(),
            reason,
        }))
    }

    #[test]
    fn the_event_types_are_the_booking_inputs_and_the_erasure() {
        let union: BTreeSet<&str> = BookingInput::EVENT_TYPES
            .iter()
            .chain(ErasureEvent::EVENT_TYPES)
            .copied()
            .collect();
        assert_eq!(union, ErasureInput::EVENT_TYPES.iter().copied().collect());
        let event = erased(ErasureReason::Retention);
        assert_eq!(event.streams(), vec![StreamName::citizen(&envelope())]);
        let data = event.to_data();
        assert_eq!(data["reason"], "retention");
        assert_eq!(ErasureInput::from_stored(event.event_type(), data).unwrap(), event);
    }

    #[test]
    fn a_citizen_with_nothing_open_is_only_recorded_erased_and_once() {
        let state = ErasureDecider::fold(&[]);
        let events = ErasureDecider::decide(&erase(ErasureReason::Request, &[]), &state).unwrap();
        assert_eq!(events, vec![erased(ErasureReason::Request)]);
        let state = ErasureDecider::fold(&events);
        assert!(state.erased());
        assert_eq!(
            ErasureDecider::decide(&erase(ErasureReason::Request, &[]), &state).unwrap(),
            vec![]
        );
    }

    #[test]
    fn a_pending_booking_is_cancelled_a_confirmed_one_kept_and_a_waiting_wish_ended_with_its_proposal() {
        let held = vec![unit("08:24"), unit("08:36")];
        let history = vec![
            requested(1, vec![unit("08:00")]),
            requested(2, vec![unit("08:12")]),
            confirmed(2),
            registered(),
            proposed(held.clone()),
        ];
        let state = ErasureDecider::fold(&history);
        let read: Vec<StreamName> = state.streams_to_read().into_iter().collect();
        assert_eq!(read.len(), 3, "two bookings and the wish: {read:?}");
        let events = ErasureDecider::decide(&erase(ErasureReason::Request, &read), &state).unwrap();
        assert_eq!(
            events,
            vec![
                BookingInput::Wish(WishEvent::Ended(WishEnded {
                    wish: wish_id(),
                    reason: WishEndReason::Citizen,
                    citizen: envelope(),
                    proposal: Some(ProposalId::from_ulid(Ulid::from_parts(8, 8))),
                    units: held,
                }))
                .into(),
                BookingInput::Booking(BookingEvent::Cancelled(BookingCancelled {
                    booking: booking(1),
                    units: vec![unit("08:00")],
                    citizen: Some(envelope()),
                    reason: Some(ERASURE_CANCEL_REASON.into()),
                }))
                .into(),
                erased(ErasureReason::Request),
            ]
        );
    }

    #[test]
    fn streams_not_read_refuse_and_retention_spares_the_active() {
        let history = vec![requested(1, vec![unit("08:00")])];
        let state = ErasureDecider::fold(&history);
        assert_eq!(
            ErasureDecider::decide(&erase(ErasureReason::Request, &[]), &state),
            Err(ErasureError::UnreadStreams(vec![StreamName::booking(&booking(1))]))
        );
        let read = [StreamName::booking(&booking(1))];
        assert_eq!(
            ErasureDecider::decide(&erase(ErasureReason::Retention, &read), &state),
            Err(ErasureError::StillActive)
        );
        // Confirmed and over: nothing open any more.
        let history = vec![requested(1, vec![unit("08:00")]), confirmed(1)];
        let state = ErasureDecider::fold(&history);
        let mut later = erase(ErasureReason::Retention, &read);
        later.now = Utc.with_ymd_and_hms(2027, 1, 10, 0, 0, 0).unwrap();
        assert!(!state.is_active(later.now));
        assert_eq!(
            ErasureDecider::decide(&later, &state).unwrap(),
            vec![erased(ErasureReason::Retention)]
        );
    }
}
