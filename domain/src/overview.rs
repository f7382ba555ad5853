//! "Meine Termine" (issue 16): a citizen asks by e-mail address for a link
//! listing their open bookings and wishes, and may have a booking's
//! confirm-request mail sent again from there.
//!
//! - [`OverviewRequestDecider`] over the citizen's stream decides
//!   `citizen.overview_requested`: the link's token hash and expiry (the
//!   mailer re-derives the token from the request id, invariant 7). Nothing
//!   is recorded for an erased citizen (invariant 8), for a citizen the log
//!   holds nothing of, or past [`MAX_OVERVIEW_REQUESTS`] in
//!   [`OVERVIEW_REQUEST_WINDOW`] (a stranger typing someone's address again
//!   and again must not flood their inbox). The caller answers every request
//!   alike, so whether an address is known stays unsaid.
//! - [`ConfirmationResendDecider`] over the booking's stream decides
//!   `booking.confirmation_resent`: the confirm-request mail once more (a
//!   new mail; the same confirm link), only for the citizen's own booking
//!   still awaiting its confirmation before its confirm-by time, at most
//!   [`MAX_CONFIRMATION_RESENDS`] times per booking.
//! - [`open_items`]: what the overview page lists, from the erasure's fold
//!   of the citizen's streams (the same reading of "open").

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::booking::{BookingEvent, BookingInput, BookingStatus, WaitingNumber};
use crate::decider::Decider;
use crate::erasure::{ErasureEvent, ErasureState};
use crate::event::{DomainEvent, EventDecodeError, StreamName};
use crate::ids::{BookingId, EnvelopeId, OfficeId, OverviewRequestId, ServiceId, WishId};
use crate::time::LocalDate;
use crate::windows::WeeklyWindows;
use crate::wish::{WishEvent, WishStatus};

/// The link's action name for [`crate::booking::LinkAction`]-like token derivation.
pub const OVERVIEW_LINK_ACTION: &str = "show_overview";
/// How long the overview link works.
pub const OVERVIEW_LINK_TTL: Duration = Duration::hours(24);
/// At most this many overview mails per citizen within [`OVERVIEW_REQUEST_WINDOW`].
pub const MAX_OVERVIEW_REQUESTS: usize = 5;
/// The window [`MAX_OVERVIEW_REQUESTS`] counts in.
pub const OVERVIEW_REQUEST_WINDOW: Duration = Duration::hours(24);
/// How often one booking's confirm-request mail may be sent again.
pub const MAX_CONFIRMATION_RESENDS: u32 = 3;

/// The citizen asked for the link to their bookings and wishes (its mail goes out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverviewRequested {
    pub request: OverviewRequestId,
    pub envelope: EnvelopeId,
    /// SHA-256 (hex) of the link's token, derived from `request`.
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub requested_at: DateTime<Utc>,
}

/// The confirm-request mail of a booking, once more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationResent {
    pub booking: BookingId,
    pub citizen: EnvelopeId,
    /// 1 for the first resend.
    pub nth: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum OverviewEvent {
    #[serde(rename = "citizen.overview_requested")]
    Requested(OverviewRequested),
    #[serde(rename = "booking.confirmation_resent")]
    ConfirmationResent(ConfirmationResent),
}

impl DomainEvent for OverviewEvent {
    const EVENT_TYPES: &'static [&'static str] = &["citizen.overview_requested", "booking.confirmation_resent"];

    fn event_type(&self) -> &'static str {
        match self {
            Self::Requested(_) => "citizen.overview_requested",
            Self::ConfirmationResent(_) => "booking.confirmation_resent",
        }
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn streams(&self) -> Vec<StreamName> {
        match self {
            Self::Requested(requested) => vec![StreamName::citizen(&requested.envelope)],
            Self::ConfirmationResent(resent) => vec![StreamName::booking(&resent.booking)],
        }
    }
}

/// What the overview's decisions read: booking and wish events, the
/// erasure, and their own events.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OverviewInput {
    Booking(BookingInput),
    Erasure(ErasureEvent),
    Overview(OverviewEvent),
}

impl From<BookingEvent> for OverviewInput {
    fn from(event: BookingEvent) -> Self {
        Self::Booking(BookingInput::Booking(event))
    }
}

impl From<WishEvent> for OverviewInput {
    fn from(event: WishEvent) -> Self {
        Self::Booking(BookingInput::Wish(event))
    }
}

impl From<ErasureEvent> for OverviewInput {
    fn from(event: ErasureEvent) -> Self {
        Self::Erasure(event)
    }
}

impl From<OverviewEvent> for OverviewInput {
    fn from(event: OverviewEvent) -> Self {
        Self::Overview(event)
    }
}

impl DomainEvent for OverviewInput {
    /// The booking and wish events, the erasure and the overview's own (checked by a test).
    const EVENT_TYPES: &'static [&'static str] = &[
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
        "citizen.overview_requested",
        "booking.confirmation_resent",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::Booking(event) => event.event_type(),
            Self::Erasure(event) => event.event_type(),
            Self::Overview(event) => event.event_type(),
        }
    }

    fn schema_version(&self) -> u32 {
        match self {
            Self::Booking(event) => event.schema_version(),
            Self::Erasure(event) => event.schema_version(),
            Self::Overview(event) => event.schema_version(),
        }
    }

    fn streams(&self) -> Vec<StreamName> {
        match self {
            Self::Booking(event) => event.streams(),
            Self::Erasure(event) => event.streams(),
            Self::Overview(event) => event.streams(),
        }
    }

    fn to_data(&self) -> Value {
        match self {
            Self::Booking(event) => event.to_data(),
            Self::Erasure(event) => event.to_data(),
            Self::Overview(event) => event.to_data(),
        }
    }

    fn from_stored_json(event_type: &str, data: &str) -> Result<Self, EventDecodeError> {
        if !Self::EVENT_TYPES.contains(&event_type) {
            return Err(EventDecodeError::UnknownType(event_type.to_owned()));
        }
        if OverviewEvent::EVENT_TYPES.contains(&event_type) {
            OverviewEvent::from_stored_json(event_type, data).map(Self::Overview)
        } else if ErasureEvent::EVENT_TYPES.contains(&event_type) {
            ErasureEvent::from_stored_json(event_type, data).map(Self::Erasure)
        } else {
            BookingInput::from_stored_json(event_type, data).map(Self::Booking)
        }
    }

    fn from_stored(event_type: &str, data: Value) -> Result<Self, EventDecodeError> {
        if !Self::EVENT_TYPES.contains(&event_type) {
            return Err(EventDecodeError::UnknownType(event_type.to_owned()));
        }
        if OverviewEvent::EVENT_TYPES.contains(&event_type) {
            OverviewEvent::from_stored(event_type, data).map(Self::Overview)
        } else if ErasureEvent::EVENT_TYPES.contains(&event_type) {
            ErasureEvent::from_stored(event_type, data).map(Self::Erasure)
        } else {
            BookingInput::from_stored(event_type, data).map(Self::Booking)
        }
    }
}

// --- the overview link ------------------------------------------------------------

/// Mail the citizen of `envelope` a link to their bookings and wishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOverview {
    pub request: OverviewRequestId,
    pub envelope: EnvelopeId,
    /// SHA-256 (hex) of the token the caller derived from `request`.
    pub token_hash: String,
    pub now: DateTime<Utc>,
}

/// Why no overview mail is recorded. The caller answers as if it were.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OverviewError {
    #[error("the citizen's personal data was erased")]
    Erased,
    #[error("the log holds no booking or wish of this citizen to write to")]
    NothingKnown,
    #[error("{MAX_OVERVIEW_REQUESTS} overview mails went out within a day; the next is possible from {next_at}")]
    TooManyRequests { next_at: DateTime<Utc> },
}

/// The citizen's stream as the overview request reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverviewRequestState {
    envelope: Option<EnvelopeId>,
    erased: bool,
    /// Recorded requests, oldest first.
    requested: Vec<DateTime<Utc>>,
}

pub struct OverviewRequestDecider;

impl Decider for OverviewRequestDecider {
    type Command = RequestOverview;
    type Event = OverviewInput;
    type State = OverviewRequestState;
    type Error = OverviewError;

    fn decide(command: &RequestOverview, state: &OverviewRequestState) -> Result<Vec<OverviewInput>, OverviewError> {
        if state.erased {
            return Err(OverviewError::Erased);
        }
        if state.envelope != Some(command.envelope) {
            return Err(OverviewError::NothingKnown);
        }
        let window_start = command.now - OVERVIEW_REQUEST_WINDOW;
        let recent: Vec<&DateTime<Utc>> = state.requested.iter().filter(|at| **at > window_start).collect();
        if recent.len() >= MAX_OVERVIEW_REQUESTS {
            let oldest = recent[recent.len() - MAX_OVERVIEW_REQUESTS];
            return Err(OverviewError::TooManyRequests {
                next_at: *oldest + OVERVIEW_REQUEST_WINDOW,
            });
        }
        Ok(vec![OverviewInput::Overview(OverviewEvent::Requested(
            OverviewRequested {
                request: command.request,
                envelope: command.envelope,
                token_hash: command.token_hash.clone(),
                expires_at: command.now + OVERVIEW_LINK_TTL,
                requested_at: command.now,
            },
        ))])
    }

    fn evolve(mut state: OverviewRequestState, event: &OverviewInput) -> OverviewRequestState {
        let citizen = match event {
            OverviewInput::Booking(BookingInput::Booking(BookingEvent::Requested(requested))) => {
                Some(requested.citizen.envelope_id)
            }
            OverviewInput::Booking(BookingInput::Wish(WishEvent::Registered(registered))) => {
                Some(registered.citizen.envelope_id)
            }
            OverviewInput::Booking(BookingInput::Wish(WishEvent::ProposalAccepted(accepted))) => {
                Some(accepted.citizen.envelope_id)
            }
            OverviewInput::Erasure(ErasureEvent::Erased(_)) => {
                state.erased = true;
                None
            }
            OverviewInput::Overview(OverviewEvent::Requested(requested)) => {
                state.requested.push(requested.requested_at);
                None
            }
            _ => None,
        };
        if let Some(citizen) = citizen {
            state.envelope.get_or_insert(citizen);
        }
        state
    }
}

// --- resending the confirm-request mail ----------------------------------------------

/// Send the confirm-request mail of `booking` again, for the citizen of `citizen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResendConfirmation {
    pub booking: BookingId,
    /// Whose overview asks: only their own booking is theirs to resend.
    pub citizen: EnvelopeId,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResendError {
    #[error("no booking {0}")]
    UnknownBooking(BookingId),
    #[error("booking {0} is not this citizen's")]
    NotYours(BookingId),
    #[error("booking {0} is confirmed already")]
    AlreadyConfirmed(BookingId),
    #[error("booking {0} was cancelled or lapsed")]
    Gone(BookingId),
    #[error("the time to confirm booking {booking} ran out at {confirm_by}")]
    ConfirmationExpired {
        booking: BookingId,
        confirm_by: DateTime<Utc>,
    },
    #[error("the confirm-request mail of booking {booking} was sent again {max} times already")]
    TooManyResends { booking: BookingId, max: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Awaiting,
    Confirmed,
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ResendBooking {
    booking: BookingId,
    citizen: Option<EnvelopeId>,
    confirm_by: DateTime<Utc>,
    status: Pending,
    resends: u32,
}

/// A booking's stream as the resend reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResendState {
    booking: Option<ResendBooking>,
}

impl ResendState {
    /// How often the confirm-request mail was sent again.
    pub fn resends(&self) -> u32 {
        self.booking.as_ref().map_or(0, |booking| booking.resends)
    }
}

pub struct ConfirmationResendDecider;

impl Decider for ConfirmationResendDecider {
    type Command = ResendConfirmation;
    type Event = OverviewInput;
    type State = ResendState;
    type Error = ResendError;

    fn decide(command: &ResendConfirmation, state: &ResendState) -> Result<Vec<OverviewInput>, ResendError> {
        let id = command.booking;
        let booking = state
            .booking
            .as_ref()
            .filter(|booking| booking.booking == id)
            .ok_or(ResendError::UnknownBooking(id))?;
        if booking.citizen != Some(command.citizen) {
            return Err(ResendError::NotYours(id));
        }
        match booking.status {
            Pending::Confirmed => return Err(ResendError::AlreadyConfirmed(id)),
            Pending::Gone => return Err(ResendError::Gone(id)),
            Pending::Awaiting => {}
        }
        if command.now >= booking.confirm_by {
            return Err(ResendError::ConfirmationExpired {
                booking: id,
                confirm_by: booking.confirm_by,
            });
        }
        if booking.resends >= MAX_CONFIRMATION_RESENDS {
            return Err(ResendError::TooManyResends {
                booking: id,
                max: MAX_CONFIRMATION_RESENDS,
            });
        }
        Ok(vec![OverviewInput::Overview(OverviewEvent::ConfirmationResent(
            ConfirmationResent {
                booking: id,
                citizen: command.citizen,
                nth: booking.resends + 1,
            },
        ))])
    }

    fn evolve(mut state: ResendState, event: &OverviewInput) -> ResendState {
        let set = |state: &mut ResendState, booking: &BookingId, status: Pending| {
            if let Some(known) = &mut state.booking
                && known.booking == *booking
                && known.status == Pending::Awaiting
            {
                known.status = status;
            }
        };
        match event {
            OverviewInput::Booking(BookingInput::Booking(BookingEvent::Requested(requested))) => {
                state.booking.get_or_insert(ResendBooking {
                    booking: requested.booking,
                    citizen: Some(requested.citizen.envelope_id),
                    confirm_by: requested.confirm_by,
                    status: Pending::Awaiting,
                    resends: 0,
                });
            }
            OverviewInput::Booking(BookingInput::Wish(WishEvent::ProposalAccepted(accepted))) => {
                state.booking.get_or_insert(ResendBooking {
                    booking: accepted.booking,
                    citizen: Some(accepted.citizen.envelope_id),
                    confirm_by: accepted.start,
                    status: Pending::Confirmed,
                    resends: 0,
                });
            }
            OverviewInput::Booking(BookingInput::Booking(BookingEvent::TicketIssued(ticket))) => {
                state.booking.get_or_insert(ResendBooking {
                    booking: ticket.booking,
                    citizen: None,
                    confirm_by: ticket.start,
                    status: Pending::Confirmed,
                    resends: 0,
                });
            }
            OverviewInput::Booking(BookingInput::Booking(BookingEvent::Confirmed(confirmed))) => {
                set(&mut state, &confirmed.booking, Pending::Confirmed)
            }
            OverviewInput::Booking(BookingInput::Booking(BookingEvent::Cancelled(cancelled))) => {
                if let Some(known) = &mut state.booking
                    && known.booking == cancelled.booking
                {
                    known.status = Pending::Gone;
                }
            }
            OverviewInput::Booking(BookingInput::Booking(BookingEvent::Lapsed(lapsed))) => {
                set(&mut state, &lapsed.booking, Pending::Gone)
            }
            OverviewInput::Overview(OverviewEvent::ConfirmationResent(resent)) => {
                if let Some(known) = &mut state.booking
                    && known.booking == resent.booking
                {
                    known.resends += 1;
                }
            }
            _ => {}
        }
        state
    }
}

// --- what the overview page lists ---------------------------------------------------

/// A booking still ahead: awaiting its confirmation, or confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBooking {
    pub booking: BookingId,
    pub office: OfficeId,
    pub services: Vec<ServiceId>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `None` while it awaits its confirmation.
    pub number: Option<WaitingNumber>,
    pub confirm_by: DateTime<Utc>,
}

/// A search still running: waiting in the queue, or awaiting its confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenWish {
    pub wish: WishId,
    pub offices: Vec<OfficeId>,
    pub services: Vec<ServiceId>,
    pub windows: WeeklyWindows,
    pub until: Option<LocalDate>,
    pub confirmed: bool,
    /// A proposal awaiting the citizen's answer (its mail has the links).
    pub proposal_open: bool,
}

/// The citizen's open bookings (by start) and wishes (by id) at `now`, from
/// the erasure's fold of the citizen's stream and the streams of what it
/// shows open; nothing once the citizen is erased.
pub fn open_items(state: &ErasureState, now: DateTime<Utc>) -> (Vec<OpenBooking>, Vec<OpenWish>) {
    if state.erased() {
        return (Vec::new(), Vec::new());
    }
    let mut bookings: Vec<OpenBooking> = state
        .bookings()
        .filter_map(|(id, booking)| {
            let number = match booking.status {
                BookingStatus::PendingConfirmation if booking.confirm_by > now && booking.start > now => None,
                BookingStatus::Confirmed(number) if booking.end > now => Some(number),
                _ => return None,
            };
            Some(OpenBooking {
                booking: id,
                office: booking.office.clone(),
                services: booking.services.clone(),
                start: booking.start,
                end: booking.end,
                number,
                confirm_by: booking.confirm_by,
            })
        })
        .collect();
    bookings.sort_by_key(|booking| (booking.start, booking.booking));
    let wishes = state
        .wishes()
        .filter(|wish| match wish.status {
            WishStatus::Waiting => true,
            WishStatus::PendingConfirmation => wish.confirm_by.is_none_or(|by| by > now),
            _ => false,
        })
        .map(|wish| OpenWish {
            wish: wish.wish,
            offices: wish.offices.clone(),
            services: wish.services.clone(),
            windows: wish.windows,
            until: wish.until,
            confirmed: wish.status == WishStatus::Waiting,
            proposal_open: wish.open_proposal().is_some(),
        })
        .collect();
    (bookings, wishes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{BookingCancelled, BookingConfirmed, BookingLapsed, BookingRequested};
    use crate::catalogue::UnitRef;
    use crate::erasure::{ErasureDecider, ErasureInput, ErasureReason, PersonalDataErased};
    use crate::testing::fixtures::{at, booking_id, date, now, sealed, time};
    use crate::testing::{given, given_no_events};
    use ulid::Ulid;

    const DAY: &str = "2026-11-23";

    fn envelope(citizen: u64) -> EnvelopeId {
        sealed(citizen).envelope_id
    }

    fn request_id(n: u64) -> OverviewRequestId {
        OverviewRequestId::from_ulid(Ulid::from_parts(n, 7))
    }

    fn requested(booking: u64, citizen: u64) -> BookingEvent {
        BookingEvent::Requested(BookingRequested {
            booking: booking_id(booking),
            office: "bss-mitte".parse().unwrap(),
            services: vec!["personalausweis".parse().unwrap()],
            units: vec![UnitRef {
                office: "bss-mitte".parse().unwrap(),
                date: date(DAY),
                lane: 1,
                start: time("09:12"),
            }],
            start: at(DAY, "09:12"),
            end: at(DAY, "09:24"),
            citizen: sealed(citizen),
            confirm_by: at("2026-11-20", "10:30"),
            links: vec![],
        })
    }

    fn ask(n: u64, minutes_after: i64) -> RequestOverview {
        RequestOverview {
            request: request_id(n),
            envelope: envelope(9),
            token_hash: format!("{n:064}"),
            now: now() + Duration::minutes(minutes_after),
        }
    }

    fn recorded(n: u64, minutes_after: i64) -> OverviewInput {
        let at = now() + Duration::minutes(minutes_after);
        OverviewInput::Overview(OverviewEvent::Requested(OverviewRequested {
            request: request_id(n),
            envelope: envelope(9),
            token_hash: format!("{n:064}"),
            expires_at: at + OVERVIEW_LINK_TTL,
            requested_at: at,
        }))
    }

    #[test]
    fn a_known_citizen_gets_a_link_valid_for_a_day() {
        given::<OverviewRequestDecider>([requested(1, 9)])
            .when(ask(1, 0))
            .then([recorded(1, 0)]);
    }

    #[test]
    fn a_citizen_the_log_holds_nothing_of_gets_nothing_recorded() {
        given_no_events::<OverviewRequestDecider>()
            .when(ask(1, 0))
            .then_error(OverviewError::NothingKnown);
        // Another citizen's events on the stream do not make this one known.
        given::<OverviewRequestDecider>([requested(1, 4)])
            .when(ask(1, 0))
            .then_error(OverviewError::NothingKnown);
    }

    #[test]
    fn an_erased_citizen_gets_nothing_recorded() {
        let erased = ErasureEvent::Erased(PersonalDataErased {
            envelope: envelope(9),
            reason: ErasureReason::Request,
        });
        given::<OverviewRequestDecider>([OverviewInput::from(requested(1, 9)), erased.into()])
            .when(ask(1, 0))
            .then_error(OverviewError::Erased);
    }

    #[test]
    fn at_most_five_overview_mails_a_day() {
        let history: Vec<OverviewInput> = std::iter::once(requested(1, 9).into())
            .chain((0..5).map(|n| recorded(n, n as i64 * 60)))
            .collect();
        given::<OverviewRequestDecider>(history.clone())
            .when(ask(6, 5 * 60))
            .then_error(OverviewError::TooManyRequests {
                next_at: now() + OVERVIEW_REQUEST_WINDOW,
            });
        // A day after the first, one more.
        given::<OverviewRequestDecider>(history)
            .when(ask(6, 24 * 60 + 1))
            .then([recorded(6, 24 * 60 + 1)]);
    }

    fn resend(booking: u64, citizen: u64, minutes_after: i64) -> ResendConfirmation {
        ResendConfirmation {
            booking: booking_id(booking),
            citizen: envelope(citizen),
            now: now() + Duration::minutes(minutes_after),
        }
    }

    fn resent(nth: u32) -> OverviewInput {
        OverviewInput::Overview(OverviewEvent::ConfirmationResent(ConfirmationResent {
            booking: booking_id(1),
            citizen: envelope(9),
            nth,
        }))
    }

    #[test]
    fn a_pending_booking_gets_its_confirm_request_again_three_times() {
        given::<ConfirmationResendDecider>([requested(1, 9)])
            .when(resend(1, 9, 1))
            .then([resent(1)]);
        given::<ConfirmationResendDecider>([OverviewInput::from(requested(1, 9)), resent(1), resent(2)])
            .when(resend(1, 9, 2))
            .then([resent(3)]);
        given::<ConfirmationResendDecider>([OverviewInput::from(requested(1, 9)), resent(1), resent(2), resent(3)])
            .when(resend(1, 9, 3))
            .then_error(ResendError::TooManyResends {
                booking: booking_id(1),
                max: MAX_CONFIRMATION_RESENDS,
            });
    }

    #[test]
    fn only_the_citizens_own_pending_booking_before_its_confirm_by() {
        given_no_events::<ConfirmationResendDecider>()
            .when(resend(1, 9, 1))
            .then_error(ResendError::UnknownBooking(booking_id(1)));
        given::<ConfirmationResendDecider>([requested(1, 9)])
            .when(resend(1, 4, 1))
            .then_error(ResendError::NotYours(booking_id(1)));
        given::<ConfirmationResendDecider>([requested(1, 9)])
            .when(resend(1, 9, 30))
            .then_error(ResendError::ConfirmationExpired {
                booking: booking_id(1),
                confirm_by: at("2026-11-20", "10:30"),
            });
        let confirmed = BookingEvent::Confirmed(BookingConfirmed {
            booking: booking_id(1),
            office: "bss-mitte".parse().unwrap(),
            date: date(DAY),
            number: WaitingNumber::nth(1).unwrap(),
            checkin_code_hash: "c".repeat(64),
            links: vec![],
        });
        given::<ConfirmationResendDecider>([requested(1, 9), confirmed])
            .when(resend(1, 9, 1))
            .then_error(ResendError::AlreadyConfirmed(booking_id(1)));
        let lapsed = BookingEvent::Lapsed(BookingLapsed {
            booking: booking_id(1),
            units: vec![],
            citizen: Some(envelope(9)),
        });
        given::<ConfirmationResendDecider>([requested(1, 9), lapsed])
            .when(resend(1, 9, 1))
            .then_error(ResendError::Gone(booking_id(1)));
    }

    #[test]
    fn an_erasure_cancels_the_pending_booking_so_nothing_is_resent() {
        // The erasure's batch cancels every booking awaiting confirmation.
        let cancelled = BookingEvent::Cancelled(BookingCancelled {
            booking: booking_id(1),
            units: vec![],
            citizen: Some(envelope(9)),
            reason: Some(crate::erasure::ERASURE_CANCEL_REASON.to_owned()),
        });
        given::<ConfirmationResendDecider>([requested(1, 9), cancelled])
            .when(resend(1, 9, 1))
            .then_error(ResendError::Gone(booking_id(1)));
    }

    #[test]
    fn the_overview_lists_open_bookings_and_nothing_once_erased() {
        let history: Vec<ErasureInput> = vec![
            BookingInput::Booking(requested(1, 9)).into(),
            BookingInput::Booking(requested(2, 9)).into(),
            BookingInput::Booking(BookingEvent::Cancelled(BookingCancelled {
                booking: booking_id(2),
                units: vec![],
                citizen: Some(envelope(9)),
                reason: None,
            }))
            .into(),
        ];
        let state = ErasureDecider::fold(&history);
        let (bookings, wishes) = open_items(&state, now());
        assert_eq!(
            bookings.iter().map(|b| b.booking).collect::<Vec<_>>(),
            vec![booking_id(1)]
        );
        assert!(bookings[0].number.is_none());
        assert!(wishes.is_empty());
        // Past its confirm-by, a pending booking is not open any more.
        assert!(open_items(&state, at("2026-11-20", "10:31")).0.is_empty());
        let mut erased = history;
        erased.push(ErasureInput::Erasure(ErasureEvent::Erased(PersonalDataErased {
            envelope: envelope(9),
            reason: ErasureReason::Request,
        })));
        assert_eq!(open_items(&ErasureDecider::fold(&erased), now()), (vec![], vec![]));
    }

    #[test]
    fn the_input_knows_its_types() {
        for event_type in OverviewInput::EVENT_TYPES {
            let known = OverviewEvent::EVENT_TYPES.contains(event_type)
                || ErasureEvent::EVENT_TYPES.contains(event_type)
                || BookingInput::EVENT_TYPES.contains(event_type);
            assert!(known, "{event_type}");
        }
        for event_type in OverviewEvent::EVENT_TYPES {
            assert!(OverviewInput::EVENT_TYPES.contains(event_type));
        }
    }
}
