//! Bookings: a citizen requests consecutive units of one lane for some services,
//! confirms by mail link and gets a waiting number, may cancel; a booking left
//! unconfirmed lapses. Pending and confirmed bookings hold their units.
//!
//! Requesting decides across the catalogue (office, services, the office day's
//! capacity), the holds on the wanted units and the citizen's open bookings, so
//! [`BookingRequestDecider`] folds [`BookingInput`]. Confirming, cancelling and
//! lapsing decide on the booking's own stream, confirming also on the office
//! day's `numbers:` stream ([`BookingDecider`]).
//!
//! Accepting a waitlist proposal places a confirmed booking without a request
//! (`proposal.accepted`, see [`crate::wish`]): it is tagged with the booking's
//! stream, its units, the citizen and the day's `numbers:` stream, and both
//! deciders here read it as a confirmed booking holding those units. Units a
//! proposal holds are held too, so [`BookingInput`] carries wish events.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::catalogue::{CatalogueEvent, OfficeDayCapacity, OfficeDetails, ServiceDetails, UnitRef, UnitSpan};
use crate::decider::Decider;
use crate::event::{DomainEvent, EventDecodeError, StreamName};
use crate::ids::{BookingId, EnvelopeId, OfficeId, ProposalId, ServiceId};
use crate::time::{LocalDate, LocalTime, LocalTimeError, OfficeTimeZone};
use crate::wish::{ProposalAccepted, WishEvent};

pub const MAX_BOOKING_SERVICES: usize = 10;
pub const MAX_WAITING_NUMBER: u16 = 9999;

/// A citizen's personal data as events carry it: encrypted under the citizen's key,
/// which lives outside the log (the JSON shape of the store's `SealedEnvelope`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedPersonalData {
    pub envelope_id: EnvelopeId,
    /// Hex.
    pub nonce: String,
    /// Hex, with the authentication tag.
    pub ciphertext: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a waiting number is 1 to {MAX_WAITING_NUMBER} written without leading zeros, got {0:?}")]
pub struct InvalidWaitingNumber(pub String);

/// What staff call a confirmed booking by ("Nummer 1112 Schalter 6"): 1–4 digits,
/// unique per office day, handed out in order of confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WaitingNumber(u16);

impl WaitingNumber {
    /// The `n`th number of an office day; `None` outside 1..=9999.
    pub fn nth(n: u32) -> Option<Self> {
        u16::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_WAITING_NUMBER).contains(n))
            .map(Self)
    }

    /// Only the canonical form, so stored text round-trips exactly.
    pub fn parse(input: &str) -> Result<Self, InvalidWaitingNumber> {
        let canonical =
            (1..=4).contains(&input.len()) && !input.starts_with('0') && input.bytes().all(|b| b.is_ascii_digit());
        canonical
            .then(|| input.parse().ok().and_then(Self::nth))
            .flatten()
            .ok_or_else(|| InvalidWaitingNumber(input.to_owned()))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for WaitingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

string_conversions!(WaitingNumber, InvalidWaitingNumber);

/// What a mail link does when its button is pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    ConfirmBooking,
    CancelBooking,
    /// Accept a waitlist proposal: it becomes a confirmed booking.
    AcceptProposal,
    /// Decline a waitlist proposal: the wish waits on, never offered those units again.
    DeclineProposal,
    /// End the search of a wish (in the registration mail and every proposal mail).
    EndWish,
    /// Confirm a wish (the confirm-request mail): only then does it join the queue.
    ConfirmWish,
}

impl LinkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfirmBooking => "confirm_booking",
            Self::CancelBooking => "cancel_booking",
            Self::AcceptProposal => "accept_proposal",
            Self::DeclineProposal => "decline_proposal",
            Self::EndWish => "end_wish",
            Self::ConfirmWish => "confirm_wish",
        }
    }
}

/// A mail link as the log records it. Only the token's hash is kept, so the log
/// holds no usable secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedLink {
    pub action: LinkAction,
    /// SHA-256 of the token, hex, computed by the caller.
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// The limits a booking request is decided under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingPolicy {
    /// How long a pending booking holds its units.
    pub confirm_ttl: chrono::Duration,
    /// The last bookable office-local date is today + this many days.
    pub horizon_days: u32,
    /// Open bookings (pending or confirmed, still ahead) one citizen may hold: against hoarding.
    pub max_open_bookings: u32,
}

impl Default for BookingPolicy {
    fn default() -> Self {
        Self {
            confirm_ttl: chrono::Duration::hours(2),
            horizon_days: 21,
            max_open_bookings: 3,
        }
    }
}

// --- events ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRequested {
    pub booking: BookingId,
    pub office: OfficeId,
    pub services: Vec<ServiceId>,
    /// Consecutive units of one lane, in time order; all on one office-local date.
    pub units: Vec<UnitRef>,
    pub start: DateTime<Utc>,
    /// The end of the last unit.
    pub end: DateTime<Utc>,
    pub citizen: SealedPersonalData,
    pub confirm_by: DateTime<Utc>,
    /// The links of the request mail (confirm, cancel).
    pub links: Vec<IssuedLink>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingConfirmed {
    pub booking: BookingId,
    pub office: OfficeId,
    /// The office day the number belongs to.
    pub date: LocalDate,
    pub number: WaitingNumber,
    pub checkin_code_hash: String,
    /// The cancel link of the confirmation mail.
    pub links: Vec<IssuedLink>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingCancelled {
    pub booking: BookingId,
    /// The units it frees.
    pub units: Vec<UnitRef>,
    /// The citizen's envelope; `None` for a walk-in ticket, which has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizen: Option<EnvelopeId>,
    /// Why, when the office cancelled it (a closure, staff on the citizen's
    /// behalf); the mail quotes it. `None`: the citizen cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Unconfirmed past `confirm_by`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingLapsed {
    pub booking: BookingId,
    /// The units it frees.
    pub units: Vec<UnitRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizen: Option<EnvelopeId>,
}

/// A missed visit's units that still lay ahead when it was missed, free
/// again for walk-ins, online bookings and the waitlist (issue "no-shows").
/// The booking stays confirmed with its number: the visit is over, the
/// units it no longer needs are not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingReleased {
    pub booking: BookingId,
    /// The units starting at or after `missed_at`.
    pub units: Vec<UnitRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizen: Option<EnvelopeId>,
    /// When the visit was marked missed.
    pub missed_at: DateTime<Utc>,
}

/// A walk-in ticket (Düsseldorf's "Terminmarke"): a booking confirmed at
/// once, without personal data, at the earliest start from now on today
/// where one lane's consecutive free units cover the services — decided by
/// the booking request's own rule over the same units (invariant 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketIssued {
    pub booking: BookingId,
    pub office: OfficeId,
    pub services: Vec<ServiceId>,
    pub units: Vec<UnitRef>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The office day (today) the waiting number belongs to.
    pub date: LocalDate,
    pub number: WaitingNumber,
    pub checkin_code_hash: String,
}

/// Everything that happens to a booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum BookingEvent {
    #[serde(rename = "booking.requested")]
    Requested(BookingRequested),
    #[serde(rename = "booking.confirmed")]
    Confirmed(BookingConfirmed),
    #[serde(rename = "booking.cancelled")]
    Cancelled(BookingCancelled),
    #[serde(rename = "booking.lapsed")]
    Lapsed(BookingLapsed),
    #[serde(rename = "booking.ticket_issued")]
    TicketIssued(TicketIssued),
    #[serde(rename = "booking.released")]
    Released(BookingReleased),
}

/// The booking first (its home stream), then every unit, then the citizen: holds
/// and releases contend on exactly the units and the citizen they touch.
fn hold_streams(booking: &BookingId, units: &[UnitRef], citizen: Option<&EnvelopeId>) -> Vec<StreamName> {
    let units = units.iter().map(StreamName::unit);
    std::iter::once(StreamName::booking(booking))
        .chain(units)
        .chain(citizen.map(StreamName::citizen))
        .collect()
}

/// What an event does to the units it names, for anyone keeping track of which
/// units are free (the availability view, the matcher).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldChange<'a> {
    /// These units are held from now on (by a booking or a proposal). A proposal
    /// accepted names the units it already held: they stay held, by the booking.
    Hold(&'a [UnitRef]),
    /// These units are free again.
    Release(&'a [UnitRef]),
    Unchanged,
}

impl BookingEvent {
    pub fn hold_change(&self) -> HoldChange<'_> {
        match self {
            Self::Requested(requested) => HoldChange::Hold(&requested.units),
            Self::TicketIssued(ticket) => HoldChange::Hold(&ticket.units),
            Self::Cancelled(BookingCancelled { units, .. })
            | Self::Lapsed(BookingLapsed { units, .. })
            | Self::Released(BookingReleased { units, .. }) => HoldChange::Release(units),
            Self::Confirmed(_) => HoldChange::Unchanged,
        }
    }
}

impl DomainEvent for BookingEvent {
    const EVENT_TYPES: &'static [&'static str] = &[
        "booking.requested",
        "booking.confirmed",
        "booking.cancelled",
        "booking.lapsed",
        "booking.ticket_issued",
        "booking.released",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::TicketIssued(_) => "booking.ticket_issued",
            Self::Requested(_) => "booking.requested",
            Self::Confirmed(_) => "booking.confirmed",
            Self::Cancelled(_) => "booking.cancelled",
            Self::Lapsed(_) => "booking.lapsed",
            Self::Released(_) => "booking.released",
        }
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn streams(&self) -> Vec<StreamName> {
        match self {
            Self::Requested(requested) => hold_streams(
                &requested.booking,
                &requested.units,
                Some(&requested.citizen.envelope_id),
            ),
            Self::Confirmed(confirmed) => vec![
                StreamName::booking(&confirmed.booking),
                StreamName::waiting_numbers(&confirmed.office, confirmed.date.into()),
            ],
            Self::Cancelled(cancelled) => {
                hold_streams(&cancelled.booking, &cancelled.units, cancelled.citizen.as_ref())
            }
            Self::Lapsed(lapsed) => hold_streams(&lapsed.booking, &lapsed.units, lapsed.citizen.as_ref()),
            Self::Released(released) => hold_streams(&released.booking, &released.units, released.citizen.as_ref()),
            // The number counts on the office day's stream like a confirmation's.
            Self::TicketIssued(ticket) => {
                let mut streams = hold_streams(&ticket.booking, &ticket.units, None);
                streams.push(StreamName::waiting_numbers(&ticket.office, ticket.date.into()));
                streams
            }
        }
    }
}

/// What booking and wish decisions read: the catalogue (office, services,
/// capacity), and the booking and wish events on the booking, unit, citizen,
/// numbers and wish streams (a unit may be held by a proposal, a booking may
/// have been placed by accepting one). Stored as the wrapped event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BookingInput {
    Catalogue(CatalogueEvent),
    Booking(BookingEvent),
    Wish(WishEvent),
}

impl BookingInput {
    pub fn hold_change(&self) -> HoldChange<'_> {
        match self {
            Self::Catalogue(_) => HoldChange::Unchanged,
            Self::Booking(event) => event.hold_change(),
            Self::Wish(event) => event.hold_change(),
        }
    }
}

impl From<CatalogueEvent> for BookingInput {
    fn from(event: CatalogueEvent) -> Self {
        Self::Catalogue(event)
    }
}

impl From<BookingEvent> for BookingInput {
    fn from(event: BookingEvent) -> Self {
        Self::Booking(event)
    }
}

impl From<WishEvent> for BookingInput {
    fn from(event: WishEvent) -> Self {
        Self::Wish(event)
    }
}

impl DomainEvent for BookingInput {
    /// The union of the three families (checked by a test).
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
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::Catalogue(event) => event.event_type(),
            Self::Booking(event) => event.event_type(),
            Self::Wish(event) => event.event_type(),
        }
    }

    fn schema_version(&self) -> u32 {
        match self {
            Self::Catalogue(event) => event.schema_version(),
            Self::Booking(event) => event.schema_version(),
            Self::Wish(event) => event.schema_version(),
        }
    }

    fn streams(&self) -> Vec<StreamName> {
        match self {
            Self::Catalogue(event) => event.streams(),
            Self::Booking(event) => event.streams(),
            Self::Wish(event) => event.streams(),
        }
    }

    fn to_data(&self) -> Value {
        match self {
            Self::Catalogue(event) => event.to_data(),
            Self::Booking(event) => event.to_data(),
            Self::Wish(event) => event.to_data(),
        }
    }

    // Dispatching on the type name keeps each family's own decode errors (untagged
    // deserialization would only say "no variant matched").
    fn from_stored_json(event_type: &str, data: &str) -> Result<Self, EventDecodeError> {
        if CatalogueEvent::EVENT_TYPES.contains(&event_type) {
            CatalogueEvent::from_stored_json(event_type, data).map(Self::Catalogue)
        } else if WishEvent::EVENT_TYPES.contains(&event_type) {
            WishEvent::from_stored_json(event_type, data).map(Self::Wish)
        } else {
            BookingEvent::from_stored_json(event_type, data).map(Self::Booking)
        }
    }

    fn from_stored(event_type: &str, data: Value) -> Result<Self, EventDecodeError> {
        if CatalogueEvent::EVENT_TYPES.contains(&event_type) {
            CatalogueEvent::from_stored(event_type, data).map(Self::Catalogue)
        } else if WishEvent::EVENT_TYPES.contains(&event_type) {
            WishEvent::from_stored(event_type, data).map(Self::Wish)
        } else {
            BookingEvent::from_stored(event_type, data).map(Self::Booking)
        }
    }
}

// --- requesting --------------------------------------------------------------------

/// Book `services` at `office` from `start`. The id, links and time come from the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBooking {
    pub booking: BookingId,
    pub office: OfficeId,
    pub services: Vec<ServiceId>,
    pub start: DateTime<Utc>,
    pub citizen: SealedPersonalData,
    pub links: Vec<IssuedLink>,
    pub now: DateTime<Utc>,
    pub policy: BookingPolicy,
    /// Units free in the log that the waitlist keeps for waiting wishes
    /// (DESIGN.md invariant 4): not for public booking. The matcher's view of
    /// the log decides which; the decision only respects it.
    pub kept_for_waitlist: BTreeSet<UnitRef>,
    /// Units the waitlist's view still has as taken by a booking. One the log
    /// shows free was let go in news the waitlist has not folded yet: the
    /// waitlist must see it first (it may want the unit), so taking it is
    /// refused as [`BookingRequestError::WaitlistBehind`].
    pub taken_for_waitlist: BTreeSet<UnitRef>,
    /// Units the decision did not read, published after its consistency
    /// boundary was drawn: their holds are unknown, so they are not its to
    /// take (an append to them would carry no condition).
    pub unread_units: BTreeSet<UnitRef>,
}

impl RequestBooking {
    /// What this request asks for, apart from who asks.
    pub fn slot_asked(&self) -> SlotAsked<'_> {
        SlotAsked {
            office: &self.office,
            services: &self.services,
            start: self.start,
            now: self.now,
            policy: self.policy,
            kept_for_waitlist: &self.kept_for_waitlist,
            taken_for_waitlist: &self.taken_for_waitlist,
            unread_units: &self.unread_units,
        }
    }
}

/// What a booking request asks for, apart from who asks: enough to tell
/// whether it can be booked at all, before anything of the citizen is stored.
#[derive(Debug, Clone, Copy)]
pub struct SlotAsked<'a> {
    pub office: &'a OfficeId,
    pub services: &'a [ServiceId],
    pub start: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub policy: BookingPolicy,
    /// See [`RequestBooking::kept_for_waitlist`].
    pub kept_for_waitlist: &'a BTreeSet<UnitRef>,
    /// See [`RequestBooking::taken_for_waitlist`].
    pub taken_for_waitlist: &'a BTreeSet<UnitRef>,
    /// See [`RequestBooking::unread_units`].
    pub unread_units: &'a BTreeSet<UnitRef>,
}

/// The units a booking takes on the lane chosen for it, and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenLane {
    pub units: Vec<UnitRef>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BookingRequestError {
    #[error("office {0} is not registered")]
    UnknownOffice(OfficeId),
    #[error("service {0} is not registered")]
    UnknownService(ServiceId),
    #[error("a booking names 1 to {MAX_BOOKING_SERVICES} services, not {0}")]
    ServiceCount(usize),
    #[error("service {0} is named twice")]
    DuplicateService(ServiceId),
    #[error("the start {start} is not in the future (now is {now})")]
    StartNotInFuture { start: DateTime<Utc>, now: DateTime<Utc> },
    #[error("{date} is beyond the booking horizon; the last bookable day is {last}")]
    BeyondHorizon { date: NaiveDate, last: NaiveDate },
    #[error("a citizen may hold at most {max} open bookings")]
    TooManyOpenBookings { max: u32 },
    /// One person cannot be in two places at once: a second booking at the
    /// same time is a resubmitted form or a mistake, and it would keep the
    /// time from someone else.
    #[error("the citizen's booking {booking} already covers part of this time")]
    OverlapsOwnBooking { booking: BookingId },
    /// The booking id was chosen by the caller (a form's one-time key) and
    /// is taken: this request was made before, as that booking.
    #[error("booking {0} was requested already")]
    AlreadyRequested(BookingId),
    #[error("no lane offers free units starting at {start}")]
    SlotTaken { start: DateTime<Utc> },
    #[error("unit {0:?} was let go in news the waitlist has not seen yet")]
    WaitlistBehind(UnitRef),
    #[error("the booking's end is not a unique local time: {0}")]
    DstTransition(#[from] LocalTimeError),
}

/// Who holds a unit: a booking (pending or confirmed, also one placed by
/// accepting a proposal) or an open proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitHolder {
    Booking(BookingId),
    Proposal(ProposalId),
}

/// What a booking request reads: `office:{office}`, each `service:{service}`,
/// `office-day:{office}:{date}`, the [`candidate_units`]' `unit:` streams and
/// `citizen:{envelope}`. Wish decisions read it too (several offices).
///
/// Events indexed under several of those streams are read once per stream, so the
/// fold must not care: a cancelled or lapsed booking and a closed proposal are
/// ended for good, and reading what started them again does not revive their holds.
/// Nor does a hold read late displace the unit's live holder: every stream that
/// holds a unit also carries its release, so an older hold read from a later
/// stream is released again before that stream ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingRequestState {
    offices: BTreeMap<OfficeId, OfficeDetails>,
    services: BTreeMap<ServiceId, ServiceDetails>,
    capacity: BTreeMap<(OfficeId, LocalDate), OfficeDayCapacity>,
    /// The booking or proposal holding each held unit.
    held: BTreeMap<UnitRef, UnitHolder>,
    /// Requested (or placed by an accepted proposal), not yet ended.
    open: BTreeMap<BookingId, OpenBooking>,
    ended: BTreeSet<BookingId>,
    /// Proposals declined, expired, accepted or withdrawn: they hold nothing any more.
    closed_proposals: BTreeSet<ProposalId>,
}

/// A citizen's booking that holds its time: what the limit and the overlap
/// rule count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpenBooking {
    citizen: EnvelopeId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl BookingRequestState {
    /// Every unit, on any lane, that a request for `services` at `start` may
    /// take: the unit streams its decision must read. Empty when the office, a
    /// service or the capacity is unknown (the decision then says which).
    pub fn units_to_read(&self, office: &OfficeId, services: &[ServiceId], start: DateTime<Utc>) -> Vec<UnitRef> {
        let Some(details) = self.office(office) else {
            return Vec::new();
        };
        let (Some(needed), Some((date, local_start))) =
            (self.needed_minutes(services), details.timezone.local_minute(start))
        else {
            return Vec::new();
        };
        match self.capacity(office, date) {
            Some(capacity) => candidate_units(capacity, office, date, local_start, needed),
            None => Vec::new(),
        }
    }

    pub fn office(&self, office: &OfficeId) -> Option<&OfficeDetails> {
        self.offices.get(office)
    }

    pub fn service(&self, service: &ServiceId) -> Option<&ServiceDetails> {
        self.services.get(service)
    }

    /// The summed duration of `services`; `None` if one is unknown.
    pub fn needed_minutes(&self, services: &[ServiceId]) -> Option<u32> {
        let minutes = services
            .iter()
            .map(|service| self.service(service).map(|details| details.duration_minutes))
            .collect::<Option<Vec<u32>>>()?;
        Some(crate::catalogue::summed_minutes(minutes))
    }

    /// The units published so far for `office` on `date`.
    pub fn capacity(&self, office: &OfficeId, date: LocalDate) -> Option<&OfficeDayCapacity> {
        self.capacity.get(&(office.clone(), date))
    }

    /// The booking or proposal holding `unit`, if any.
    pub fn holder(&self, unit: &UnitRef) -> Option<UnitHolder> {
        self.held.get(unit).copied()
    }

    /// The lane a request for `asked` would take, or every reason to refuse it
    /// but the citizen's own open bookings: the whole decision as far as it
    /// does not depend on who asks.
    pub fn lane_for(&self, asked: &SlotAsked<'_>) -> Result<ChosenLane, BookingRequestError> {
        use BookingRequestError as E;
        let SlotAsked {
            office,
            services,
            start,
            now,
            policy,
            kept_for_waitlist,
            taken_for_waitlist,
            unread_units,
        } = *asked;
        let zone = match self.office(office) {
            Some(details) => details.timezone,
            None => return Err(E::UnknownOffice(office.clone())),
        };
        let mut needed: u32 = 0;
        for service in services {
            let details = self
                .services
                .get(service)
                .ok_or_else(|| E::UnknownService(service.clone()))?;
            needed = needed.saturating_add(details.duration_minutes);
        }
        if !(1..=MAX_BOOKING_SERVICES).contains(&services.len()) {
            return Err(E::ServiceCount(services.len()));
        }
        let mut seen = BTreeSet::new();
        if let Some(twice) = services.iter().find(|service| !seen.insert(*service)) {
            return Err(E::DuplicateService(twice.clone()));
        }
        if start <= now {
            return Err(E::StartNotInFuture { start, now });
        }
        let start_day = zone.today(start);
        let last = zone
            .today(now)
            .checked_add_days(Days::new(policy.horizon_days.into()))
            .unwrap_or(NaiveDate::MAX);
        if start_day > last {
            return Err(E::BeyondHorizon { date: start_day, last });
        }

        let slot_taken = || E::SlotTaken { start };
        // No unit starts off a whole local minute, so such a start finds nothing.
        let (date, local_start) = zone.local_minute(start).ok_or_else(slot_taken)?;
        let capacity = self.capacity(office, date).ok_or_else(slot_taken)?;
        let free: Vec<(Vec<UnitRef>, LocalTime)> = lane_chains(capacity, local_start, needed)
            .map(|chain| {
                let end = chain.last().map_or(local_start, |unit| unit.end);
                let units: Vec<UnitRef> = chain.iter().map(|span| unit_ref(office, date, span)).collect();
                (units, end)
            })
            .filter(|(units, _)| {
                units.iter().all(|unit| {
                    !self.held.contains_key(unit) && !kept_for_waitlist.contains(unit) && !unread_units.contains(unit)
                })
            })
            .collect();
        // A lane the waitlist has seen free wins; one it still has as taken
        // must wait until it has seen the release.
        let seen_free = free
            .iter()
            .position(|(units, _)| units.iter().all(|unit| !taken_for_waitlist.contains(unit)));
        let (units, end) = match (seen_free, free.first()) {
            (Some(at), _) => free[at].clone(),
            (None, Some((units, _))) => {
                let unseen = units.iter().find(|unit| taken_for_waitlist.contains(unit));
                return Err(E::WaitlistBehind(unseen.cloned().unwrap_or_else(|| units[0].clone())));
            }
            (None, None) => return Err(slot_taken()),
        };
        Ok(ChosenLane {
            units,
            end: zone.instant(date, end)?,
        })
    }

    /// How many bookings of `citizen` are open and start after `now`.
    pub fn open_future_bookings(&self, citizen: &EnvelopeId, now: DateTime<Utc>) -> usize {
        self.open
            .values()
            .filter(|open| open.citizen == *citizen && open.start > now)
            .count()
    }

    /// An open booking of `citizen` (pending or confirmed, not cancelled,
    /// lapsed or released) whose time intersects `start..end`. Touching ends
    /// (one ends at 08:12, the next starts at 08:12) do not overlap.
    pub fn overlapping_booking(
        &self,
        citizen: &EnvelopeId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Option<BookingId> {
        self.open
            .iter()
            .find(|(_, open)| open.citizen == *citizen && open.start < end && start < open.end)
            .map(|(booking, _)| *booking)
    }

    /// Whether `booking` was requested (or placed) in what was read, ended or not.
    pub fn knows_booking(&self, booking: &BookingId) -> bool {
        self.open.contains_key(booking) || self.ended.contains(booking)
    }

    fn release(&mut self, booking: BookingId, units: &[UnitRef]) {
        self.ended.insert(booking);
        self.open.remove(&booking);
        self.release_held(UnitHolder::Booking(booking), units);
    }

    fn close_proposal(&mut self, proposal: ProposalId, units: &[UnitRef]) {
        self.closed_proposals.insert(proposal);
        self.release_held(UnitHolder::Proposal(proposal), units);
    }

    fn release_held(&mut self, holder: UnitHolder, units: &[UnitRef]) {
        for unit in units {
            if self.held.get(unit) == Some(&holder) {
                self.held.remove(unit);
            }
        }
    }

    fn hold_for_booking(
        &mut self,
        booking: BookingId,
        citizen: EnvelopeId,
        times: (DateTime<Utc>, DateTime<Utc>),
        units: &[UnitRef],
    ) {
        if !self.ended.contains(&booking) {
            let (start, end) = times;
            self.open.insert(booking, OpenBooking { citizen, start, end });
            self.hold(UnitHolder::Booking(booking), units);
        }
    }

    fn hold(&mut self, holder: UnitHolder, units: &[UnitRef]) {
        for unit in units {
            self.held.entry(unit.clone()).or_insert(holder);
        }
    }

    fn apply_wish(&mut self, event: &WishEvent) {
        match event {
            WishEvent::Registered(_) | WishEvent::Confirmed(_) => {}
            WishEvent::ProposalMade(made) => {
                if !self.closed_proposals.contains(&made.proposal) {
                    self.hold(UnitHolder::Proposal(made.proposal), &made.units);
                }
            }
            WishEvent::ProposalAccepted(accepted) => {
                // The proposal's hold passes to the booking it placed.
                self.close_proposal(accepted.proposal, &accepted.units);
                let citizen = accepted.citizen.envelope_id;
                let times = (accepted.start, accepted.end);
                self.hold_for_booking(accepted.booking, citizen, times, &accepted.units);
            }
            WishEvent::ProposalDeclined(closed)
            | WishEvent::ProposalExpired(closed)
            | WishEvent::ProposalWithdrawn(closed) => self.close_proposal(closed.proposal, &closed.units),
            WishEvent::Ended(ended) => {
                if let Some(proposal) = ended.proposal {
                    self.close_proposal(proposal, &ended.units)
                }
            }
        }
    }
}

fn unit_ref(office: &OfficeId, date: LocalDate, span: &UnitSpan) -> UnitRef {
    UnitRef {
        office: office.clone(),
        date,
        lane: span.lane,
        start: span.start,
    }
}

/// Per lane with a unit starting at `local_start`, ascending, the units a booking of
/// `minutes` would take there.
fn lane_chains(
    capacity: &OfficeDayCapacity,
    local_start: LocalTime,
    minutes: u32,
) -> impl Iterator<Item = Vec<UnitSpan>> + '_ {
    capacity
        .lanes_starting_at(local_start)
        .filter_map(move |lane| capacity.chain(lane, local_start, minutes))
}

/// Every unit, on any lane, that a booking of `needed_minutes` from `local_start`
/// could take: the unit streams a request must read (and append to if taken).
pub fn candidate_units(
    capacity: &OfficeDayCapacity,
    office: &OfficeId,
    date: LocalDate,
    local_start: LocalTime,
    needed_minutes: u32,
) -> Vec<UnitRef> {
    lane_chains(capacity, local_start, needed_minutes)
        .flatten()
        .map(|span| unit_ref(office, date, &span))
        .collect()
}

/// A start at which `lanes` lanes can take a booking of the asked length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeSlot {
    pub start: LocalTime,
    /// The end on the lowest such lane, the one a booking would take.
    pub end: LocalTime,
    pub lanes: u16,
}

/// Every start on an office day at which some lane has consecutive free units
/// covering `needed_minutes`, by the same rule a booking request decides by;
/// `is_held` says whether a unit is taken. Sorted by start.
pub fn free_slots(
    capacity: &OfficeDayCapacity,
    office: &OfficeId,
    date: LocalDate,
    needed_minutes: u32,
    is_held: impl Fn(&UnitRef) -> bool,
) -> Vec<FreeSlot> {
    capacity
        .starts()
        .into_iter()
        .filter_map(|start| {
            let mut free = lane_chains(capacity, start, needed_minutes)
                .filter(|chain| chain.iter().all(|span| !is_held(&unit_ref(office, date, span))));
            let first = free.next()?;
            let end = first.last().map_or(start, |span| span.end);
            Some(FreeSlot {
                start,
                end,
                lanes: 1 + free.count() as u16,
            })
        })
        .collect()
}

/// Decides a booking request; see [`BookingRequestState`] for what it reads.
pub struct BookingRequestDecider;

impl Decider for BookingRequestDecider {
    type Command = RequestBooking;
    type Event = BookingInput;
    type State = BookingRequestState;
    type Error = BookingRequestError;

    fn decide(command: &RequestBooking, state: &BookingRequestState) -> Result<Vec<BookingInput>, BookingRequestError> {
        // A one-time key names the booking it makes: sent again, it answers
        // that booking, whatever became of it, instead of making another.
        if state.knows_booking(&command.booking) {
            return Err(BookingRequestError::AlreadyRequested(command.booking));
        }
        let citizen = &command.citizen.envelope_id;
        let ChosenLane { units, end } = match state.lane_for(&command.slot_asked()) {
            Ok(chosen) => chosen,
            // The citizen's own booking may be what took the last lane: say so.
            Err(taken @ (BookingRequestError::SlotTaken { .. } | BookingRequestError::WaitlistBehind(_))) => {
                let shortest_end = state
                    .needed_minutes(&command.services)
                    .map(|minutes| command.start + chrono::Duration::minutes(minutes.into()));
                return Err(shortest_end
                    .and_then(|end| state.overlapping_booking(citizen, command.start, end))
                    .map_or(taken, |booking| BookingRequestError::OverlapsOwnBooking { booking }));
            }
            Err(refused) => return Err(refused),
        };
        if let Some(booking) = state.overlapping_booking(citizen, command.start, end) {
            return Err(BookingRequestError::OverlapsOwnBooking { booking });
        }
        let RequestBooking {
            booking,
            office,
            services,
            start,
            citizen,
            links,
            now,
            policy,
            ..
        } = command;
        if state.open_future_bookings(&citizen.envelope_id, *now) >= policy.max_open_bookings as usize {
            return Err(BookingRequestError::TooManyOpenBookings {
                max: policy.max_open_bookings,
            });
        }
        Ok(vec![
            BookingEvent::Requested(BookingRequested {
                booking: *booking,
                office: office.clone(),
                services: services.clone(),
                units,
                start: *start,
                end,
                citizen: citizen.clone(),
                // A short-notice booking must be confirmed before it begins.
                confirm_by: (*now + policy.confirm_ttl).min(*start),
                links: links.clone(),
            })
            .into(),
        ])
    }

    fn evolve(mut state: BookingRequestState, event: &BookingInput) -> BookingRequestState {
        use BookingEvent as B;
        use CatalogueEvent as C;
        match event {
            BookingInput::Catalogue(C::ServiceRegistered(details) | C::ServiceDetailsChanged(details)) => {
                state.services.insert(details.service.clone(), details.clone());
            }
            BookingInput::Catalogue(C::CapacityPublished(published)) => state
                .capacity
                .entry((published.office.clone(), published.date))
                .or_default()
                .record(published),
            // Read again from every unit stream it names: withdrawing is idempotent.
            BookingInput::Catalogue(C::CapacityWithdrawn(withdrawn)) => state
                .capacity
                .entry((withdrawn.office.clone(), withdrawn.date))
                .or_default()
                .withdraw(withdrawn),
            BookingInput::Catalogue(C::OfficeRegistered(details) | C::OfficeDetailsChanged(details)) => {
                state.offices.insert(details.office.clone(), details.clone());
            }
            BookingInput::Booking(B::Requested(requested)) => {
                let citizen = requested.citizen.envelope_id;
                let times = (requested.start, requested.end);
                state.hold_for_booking(requested.booking, citizen, times, &requested.units);
            }
            BookingInput::Booking(
                B::Cancelled(BookingCancelled { booking, units, .. })
                | B::Lapsed(BookingLapsed { booking, units, .. })
                | B::Released(BookingReleased { booking, units, .. }),
            ) => state.release(*booking, units),
            BookingInput::Booking(B::Confirmed(_)) => {}
            // A walk-in holds its units like any booking, and counts against no citizen.
            BookingInput::Booking(B::TicketIssued(ticket)) => {
                if !state.ended.contains(&ticket.booking) {
                    state.hold(UnitHolder::Booking(ticket.booking), &ticket.units);
                }
            }
            BookingInput::Wish(event) => state.apply_wish(event),
        }
        state
    }
}

// --- confirming, cancelling, lapsing ---------------------------------------------

/// Confirm a pending booking (its confirm link); hands out the next waiting number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmBooking {
    pub booking: BookingId,
    pub checkin_code_hash: String,
    /// The cancel link of the confirmation mail.
    pub cancel_link: IssuedLink,
    pub now: DateTime<Utc>,
}

/// Cancel a booking before its start (its cancel link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelBooking {
    pub booking: BookingId,
    pub now: DateTime<Utc>,
    /// Staff cancelling on the citizen's behalf say why; `None` for the citizen.
    pub reason: Option<String>,
}

/// A visit marked missed (a recalled visitor who did not come, a no-show):
/// frees the booking's units that start at or after `missed_at`. Issued by
/// the floor after its `visit.missed`; repeating it changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseMissedVisit {
    pub booking: BookingId,
    pub missed_at: DateTime<Utc>,
    /// The office's zone, to place the units' local starts in time.
    pub zone: OfficeTimeZone,
}

/// The lapse timer: frees the units of a booking still unconfirmed at `confirm_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LapseBooking {
    pub booking: BookingId,
    pub now: DateTime<Utc>,
}

/// What may happen to a booking after its request: one decider for all three,
/// since they read the same state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingCommand {
    Confirm(ConfirmBooking),
    Cancel(CancelBooking),
    Lapse(LapseBooking),
    ReleaseMissed(ReleaseMissedVisit),
}

impl BookingCommand {
    pub fn booking(&self) -> BookingId {
        match self {
            Self::Confirm(command) => command.booking,
            Self::Cancel(command) => command.booking,
            Self::Lapse(command) => command.booking,
            Self::ReleaseMissed(command) => command.booking,
        }
    }
}

impl From<ConfirmBooking> for BookingCommand {
    fn from(command: ConfirmBooking) -> Self {
        Self::Confirm(command)
    }
}

impl From<CancelBooking> for BookingCommand {
    fn from(command: CancelBooking) -> Self {
        Self::Cancel(command)
    }
}

impl From<ReleaseMissedVisit> for BookingCommand {
    fn from(command: ReleaseMissedVisit) -> Self {
        Self::ReleaseMissed(command)
    }
}

impl From<LapseBooking> for BookingCommand {
    fn from(command: LapseBooking) -> Self {
        Self::Lapse(command)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BookingError {
    #[error("booking {0} does not exist")]
    UnknownBooking(BookingId),
    #[error("booking {0} was cancelled")]
    Cancelled(BookingId),
    #[error("booking {0} lapsed unconfirmed")]
    Lapsed(BookingId),
    #[error("booking {booking} had to be confirmed by {confirm_by}")]
    ConfirmationExpired {
        booking: BookingId,
        confirm_by: DateTime<Utc>,
    },
    #[error("all {MAX_WAITING_NUMBER} waiting numbers of {office} on {date} are handed out")]
    NumbersExhausted { office: OfficeId, date: LocalDate },
    #[error("booking {booking} started at {start} and can no longer be cancelled")]
    TooLate { booking: BookingId, start: DateTime<Utc> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingStatus {
    PendingConfirmation,
    Confirmed(WaitingNumber),
    Cancelled,
    Lapsed,
}

/// One booking as its stream tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub office: OfficeId,
    /// The office-local date of its units: its office day.
    pub date: LocalDate,
    pub units: Vec<UnitRef>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub confirm_by: DateTime<Utc>,
    /// `None` for a walk-in ticket.
    pub citizen: Option<EnvelopeId>,
    pub status: BookingStatus,
    pub services: Vec<ServiceId>,
    /// The citizen's sealed data, to show them what they booked with; `None`
    /// for a walk-in ticket.
    pub personal_data: Option<SealedPersonalData>,
}

/// Folded from `booking:{id}` and, for confirming, `numbers:{office}:{date}` of its
/// office day (find it with [`BookingState::numbers_stream`] after folding the
/// booking stream). One state for both: bookings by id, numbers by office day.
/// The numbers stream repeats confirmations that are also in booking streams, so
/// statuses only move forward and a repeated event changes nothing. An accepted
/// proposal (`proposal.accepted`) is a booking born confirmed, with its number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingState {
    bookings: BTreeMap<BookingId, Booking>,
    numbers: BTreeMap<(OfficeId, LocalDate), BTreeMap<BookingId, WaitingNumber>>,
}

impl BookingState {
    pub fn booking(&self, booking: &BookingId) -> Option<&Booking> {
        self.bookings.get(booking)
    }

    /// The `numbers:` stream a confirmation of `booking` must read too.
    pub fn numbers_stream(&self, booking: &BookingId) -> Option<StreamName> {
        self.booking(booking)
            .map(|booking| StreamName::waiting_numbers(&booking.office, booking.date.into()))
    }

    pub fn numbers_handed_out(&self, office: &OfficeId, date: LocalDate) -> usize {
        self.numbers.get(&(office.clone(), date)).map_or(0, BTreeMap::len)
    }

    /// The waiting number the office day's next confirmation, accepted
    /// proposal or ticket gets: one more than handed out so far; `None` once
    /// all 9999 are gone. The one rule for all three.
    pub fn next_number(&self, office: &OfficeId, date: LocalDate) -> Option<WaitingNumber> {
        u32::try_from(self.numbers_handed_out(office, date) + 1)
            .ok()
            .and_then(WaitingNumber::nth)
    }

    fn advance(&mut self, booking: &BookingId, next: BookingStatus) {
        use BookingStatus as S;
        if let Some(booking) = self.bookings.get_mut(booking)
            && matches!(
                (booking.status, next),
                (S::PendingConfirmation, _) | (S::Confirmed(_), S::Cancelled)
            )
        {
            booking.status = next;
        }
    }
}

/// Decides confirmations, cancellations and lapses of one booking.
pub struct BookingDecider;

impl Decider for BookingDecider {
    type Command = BookingCommand;
    /// Booking events, and `proposal.accepted`: the booking a proposal placed.
    type Event = BookingInput;
    type State = BookingState;
    type Error = BookingError;

    fn decide(command: &BookingCommand, state: &BookingState) -> Result<Vec<BookingInput>, BookingError> {
        Self::decide_booking(command, state).map(|events| events.into_iter().map(BookingInput::Booking).collect())
    }

    fn evolve(mut state: BookingState, event: &BookingInput) -> BookingState {
        match event {
            BookingInput::Booking(event) => state.apply(event),
            BookingInput::Wish(WishEvent::ProposalAccepted(accepted)) => state.place(accepted),
            BookingInput::Catalogue(_) | BookingInput::Wish(_) => {}
        }
        state
    }
}

impl BookingDecider {
    fn decide_booking(command: &BookingCommand, state: &BookingState) -> Result<Vec<BookingEvent>, BookingError> {
        use BookingStatus as S;
        let id = command.booking();
        let booking = state.booking(&id).ok_or(BookingError::UnknownBooking(id))?;
        match command {
            BookingCommand::Confirm(confirm) => match booking.status {
                S::Confirmed(_) => Ok(vec![]),
                S::Cancelled => Err(BookingError::Cancelled(id)),
                S::Lapsed => Err(BookingError::Lapsed(id)),
                S::PendingConfirmation if confirm.now >= booking.confirm_by => Err(BookingError::ConfirmationExpired {
                    booking: id,
                    confirm_by: booking.confirm_by,
                }),
                S::PendingConfirmation => {
                    let number = state.next_number(&booking.office, booking.date).ok_or_else(|| {
                        BookingError::NumbersExhausted {
                            office: booking.office.clone(),
                            date: booking.date,
                        }
                    })?;
                    Ok(vec![BookingEvent::Confirmed(BookingConfirmed {
                        booking: id,
                        office: booking.office.clone(),
                        date: booking.date,
                        number,
                        checkin_code_hash: confirm.checkin_code_hash.clone(),
                        links: vec![confirm.cancel_link.clone()],
                    })])
                }
            },
            BookingCommand::Cancel(cancel) => match booking.status {
                S::Cancelled => Ok(vec![]),
                S::Lapsed => Err(BookingError::Lapsed(id)),
                _ if booking.start <= cancel.now => Err(BookingError::TooLate {
                    booking: id,
                    start: booking.start,
                }),
                _ => Ok(vec![BookingEvent::Cancelled(BookingCancelled {
                    booking: id,
                    units: booking.units.clone(),
                    citizen: booking.citizen,
                    reason: cancel.reason.clone(),
                })]),
            },
            // The timer may fire late or twice: anything but a due pending booking is done.
            BookingCommand::Lapse(lapse) => Ok(match booking.status {
                S::PendingConfirmation if lapse.now >= booking.confirm_by => {
                    vec![BookingEvent::Lapsed(BookingLapsed {
                        booking: id,
                        units: booking.units.clone(),
                        citizen: booking.citizen,
                    })]
                }
                _ => vec![],
            }),
            // Only a confirmed booking visits; a unit whose local start does
            // not exist (a clock change) stays held rather than guessed.
            BookingCommand::ReleaseMissed(release) => Ok(match booking.status {
                S::Confirmed(_) => {
                    let ahead: Vec<UnitRef> = booking
                        .units
                        .iter()
                        .filter(|unit| {
                            release
                                .zone
                                .instant(unit.date, unit.start)
                                .is_ok_and(|start| start >= release.missed_at)
                        })
                        .cloned()
                        .collect();
                    if ahead.is_empty() {
                        vec![]
                    } else {
                        vec![BookingEvent::Released(BookingReleased {
                            booking: id,
                            units: ahead,
                            citizen: booking.citizen,
                            missed_at: release.missed_at,
                        })]
                    }
                }
                _ => vec![],
            }),
        }
    }
}

impl BookingState {
    fn apply(&mut self, event: &BookingEvent) {
        match event {
            BookingEvent::Requested(requested) => {
                // Every decided request has units; without them there is no office day.
                if let Some(first) = requested.units.first() {
                    self.bookings.entry(requested.booking).or_insert_with(|| Booking {
                        office: requested.office.clone(),
                        date: first.date,
                        units: requested.units.clone(),
                        start: requested.start,
                        end: requested.end,
                        confirm_by: requested.confirm_by,
                        citizen: Some(requested.citizen.envelope_id),
                        status: BookingStatus::PendingConfirmation,
                        services: requested.services.clone(),
                        personal_data: Some(requested.citizen.clone()),
                    });
                }
            }
            BookingEvent::Confirmed(confirmed) => {
                self.numbers
                    .entry((confirmed.office.clone(), confirmed.date))
                    .or_default()
                    .insert(confirmed.booking, confirmed.number);
                self.advance(&confirmed.booking, BookingStatus::Confirmed(confirmed.number));
            }
            BookingEvent::Cancelled(cancelled) => self.advance(&cancelled.booking, BookingStatus::Cancelled),
            BookingEvent::Lapsed(lapsed) => self.advance(&lapsed.booking, BookingStatus::Lapsed),
            // What is released is no longer the booking's: a repeat finds nothing ahead.
            BookingEvent::Released(released) => {
                if let Some(booking) = self.bookings.get_mut(&released.booking) {
                    booking.units.retain(|unit| !released.units.contains(unit));
                }
            }
            BookingEvent::TicketIssued(ticket) => {
                self.bookings.entry(ticket.booking).or_insert_with(|| Booking {
                    office: ticket.office.clone(),
                    date: ticket.date,
                    units: ticket.units.clone(),
                    start: ticket.start,
                    end: ticket.end,
                    confirm_by: ticket.start,
                    citizen: None,
                    status: BookingStatus::Confirmed(ticket.number),
                    services: ticket.services.clone(),
                    personal_data: None,
                });
                self.numbers
                    .entry((ticket.office.clone(), ticket.date))
                    .or_default()
                    .insert(ticket.booking, ticket.number);
            }
        }
    }

    /// A booking placed confirmed by accepting a proposal.
    fn place(&mut self, accepted: &ProposalAccepted) {
        self.bookings.entry(accepted.booking).or_insert_with(|| Booking {
            office: accepted.office.clone(),
            date: accepted.date,
            units: accepted.units.clone(),
            start: accepted.start,
            end: accepted.end,
            // Confirmed on acceptance: there is nothing left to confirm by.
            confirm_by: accepted.start,
            citizen: Some(accepted.citizen.envelope_id),
            status: BookingStatus::Confirmed(accepted.number),
            services: accepted.services.clone(),
            personal_data: Some(accepted.citizen.clone()),
        });
        self.numbers
            .entry((accepted.office.clone(), accepted.date))
            .or_default()
            .insert(accepted.booking, accepted.number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::CapacityPublished;
    use crate::testing::fixtures::{at, berlin, booking_id, date, now, sealed, time, utc};
    use crate::testing::{given, given_no_events};
    use serde_json::json;

    const DAY: &str = "2026-12-01";
    const NEXT_DAY: &str = "2026-12-02";
    const PA: &str = "personalausweis";
    const RP: &str = "reisepass";
    const MB: &str = "meldebescheinigung";

    fn office_id() -> OfficeId {
        "bss-mitte".parse().unwrap()
    }

    fn office() -> BookingInput {
        CatalogueEvent::OfficeRegistered(OfficeDetails {
            office: office_id(),
            name: "Bürger-Service-Station Mitte".parse().unwrap(),
            address: "Sonnenwall 77\n47051 Duisburg".parse().unwrap(),
            timezone: berlin(),
            opening_hours: None,
            holidays: None,
            closed_days: Default::default(),
        })
        .into()
    }

    fn service(id: &str, duration_minutes: u32) -> BookingInput {
        CatalogueEvent::ServiceRegistered(ServiceDetails {
            service: id.parse().unwrap(),
            name: id.parse().unwrap(),
            duration_minutes,
            walk_in: false,
            description: None,
        })
        .into()
    }

    fn published(day: &str, from: &str, to: &str, unit_minutes: u32, lanes: u16, first_lane: u16) -> CapacityPublished {
        let per_lane = (time(to).minutes_since_midnight() - time(from).minutes_since_midnight()) / unit_minutes;
        CapacityPublished {
            office: office_id(),
            date: date(day),
            from: time(from),
            to: time(to),
            unit_minutes,
            lanes,
            first_lane,
            units: u32::from(lanes) * per_lane,
        }
    }

    fn capacity(day: &str, from: &str, to: &str, unit_minutes: u32, lanes: u16) -> BookingInput {
        CatalogueEvent::CapacityPublished(published(day, from, to, unit_minutes, lanes, 1)).into()
    }

    /// The office, three 12-minute services, and `extra`.
    fn catalogue(extra: impl IntoIterator<Item = BookingInput>) -> Vec<BookingInput> {
        [office(), service(PA, 12), service(RP, 12), service(MB, 12)]
            .into_iter()
            .chain(extra)
            .collect()
    }

    /// The catalogue, two lanes of 12-minute units 08:00–12:00 on DAY, and `bookings`.
    fn day_with(bookings: impl IntoIterator<Item = BookingEvent>) -> Vec<BookingInput> {
        catalogue([capacity(DAY, "08:00", "12:00", 12, 2)])
            .into_iter()
            .chain(bookings.into_iter().map(BookingInput::from))
            .collect()
    }

    fn link(action: LinkAction, hash_digit: char) -> IssuedLink {
        IssuedLink {
            action,
            token_hash: hash_digit.to_string().repeat(64),
            expires_at: utc("2026-12-01T23:00:00Z"),
        }
    }

    /// Booking `n` of citizen 1 for `services` from `start`, decided at `now()`.
    fn request(n: u64, services: &[&str], start: DateTime<Utc>) -> RequestBooking {
        RequestBooking {
            booking: booking_id(n),
            office: office_id(),
            services: services.iter().map(|s| s.parse().unwrap()).collect(),
            start,
            citizen: sealed(1),
            links: vec![
                link(LinkAction::ConfirmBooking, '1'),
                link(LinkAction::CancelBooking, '2'),
            ],
            now: now(),
            policy: BookingPolicy::default(),
            kept_for_waitlist: BTreeSet::new(),
            taken_for_waitlist: BTreeSet::new(),
            unread_units: BTreeSet::new(),
        }
    }

    fn unit(day: &str, lane: u16, start: &str) -> UnitRef {
        UnitRef {
            office: office_id(),
            date: date(day),
            lane,
            start: time(start),
        }
    }

    /// What `command` decides when it takes `units` (lane, local start) and ends at local `end`.
    fn requested(command: &RequestBooking, units: &[(u16, &str)], end: &str) -> BookingEvent {
        let (day, _) = berlin().local_minute(command.start).unwrap();
        let day = day.to_string();
        BookingEvent::Requested(BookingRequested {
            booking: command.booking,
            office: command.office.clone(),
            services: command.services.clone(),
            units: units.iter().map(|&(lane, start)| unit(&day, lane, start)).collect(),
            start: command.start,
            end: at(&day, end),
            citizen: command.citizen.clone(),
            confirm_by: (command.now + command.policy.confirm_ttl).min(command.start),
            links: command.links.clone(),
        })
    }

    /// A booking held by `citizen` on one unit `(lane, start)` of DAY.
    fn held(n: u64, citizen: u64, lane: u16, start: &str) -> BookingEvent {
        let command = RequestBooking {
            citizen: sealed(citizen),
            ..request(n, &[PA], at(DAY, start))
        };
        let end = time(start).add_minutes(12).unwrap().to_string();
        requested(&command, &[(lane, start)], &end)
    }

    fn released(requested: &BookingEvent) -> (BookingId, Vec<UnitRef>, EnvelopeId) {
        let BookingEvent::Requested(r) = requested else {
            unreachable!()
        };
        (r.booking, r.units.clone(), r.citizen.envelope_id)
    }

    fn cancelled(requested: &BookingEvent) -> BookingEvent {
        let (booking, units, citizen) = released(requested);
        BookingEvent::Cancelled(BookingCancelled {
            reason: None,
            booking,
            units,
            citizen: Some(citizen),
        })
    }

    fn lapsed(requested: &BookingEvent) -> BookingEvent {
        let (booking, units, citizen) = released(requested);
        BookingEvent::Lapsed(BookingLapsed {
            booking,
            units,
            citizen: Some(citizen),
        })
    }

    // --- requesting ------------------------------------------------------------------

    #[test]
    fn books_the_first_lane_with_a_unit_at_the_exact_start() {
        let command = request(1, &[PA], at(DAY, "08:00"));
        given::<BookingRequestDecider>(day_with([]))
            .when(command.clone())
            .then([requested(&command, &[(1, "08:00")], "08:12").into()]);
        // In December Berlin is UTC+1; the hold lasts the confirmation TTL (2 h).
        let events = BookingRequestDecider::decide(&command, &BookingRequestDecider::fold(&day_with([]))).unwrap();
        let [BookingInput::Booking(BookingEvent::Requested(event))] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(
            (event.start, event.end, event.confirm_by),
            (
                utc("2026-12-01T07:00:00Z"),
                utc("2026-12-01T07:12:00Z"),
                utc("2026-11-20T11:00:00Z")
            )
        );
    }

    #[test]
    fn a_held_unit_sends_the_next_request_to_the_next_lane_until_none_fits() {
        let first = held(1, 2, 1, "08:00");
        let second = request(2, &[PA], at(DAY, "08:00"));
        given::<BookingRequestDecider>(day_with([first.clone()]))
            .when(second.clone())
            .then([requested(&second, &[(2, "08:00")], "08:12").into()]);
        let third = RequestBooking {
            citizen: sealed(3),
            ..request(3, &[PA], at(DAY, "08:00"))
        };
        given::<BookingRequestDecider>(day_with([first, requested(&second, &[(2, "08:00")], "08:12")]))
            .when(third)
            .then_error(BookingRequestError::SlotTaken {
                start: at(DAY, "08:00"),
            });
    }

    #[test]
    fn units_the_waitlist_keeps_are_passed_over_like_held_ones() {
        let kept_lane_1 = RequestBooking {
            kept_for_waitlist: [unit(DAY, 1, "08:00")].into(),
            ..request(1, &[PA], at(DAY, "08:00"))
        };
        given::<BookingRequestDecider>(day_with([]))
            .when(kept_lane_1.clone())
            .then([requested(&kept_lane_1, &[(2, "08:00")], "08:12").into()]);
        let both_kept = RequestBooking {
            kept_for_waitlist: [unit(DAY, 1, "08:00"), unit(DAY, 2, "08:00")].into(),
            ..request(1, &[PA], at(DAY, "08:00"))
        };
        given::<BookingRequestDecider>(day_with([]))
            .when(both_kept)
            .then_error(BookingRequestError::SlotTaken {
                start: at(DAY, "08:00"),
            });
    }

    #[test]
    fn units_the_decision_did_not_read_are_not_taken() {
        // Lane 1 was published after the request drew its boundary: its holds
        // are unknown, so the request takes lane 2 or nothing.
        let lane_1_unread = RequestBooking {
            unread_units: [unit(DAY, 1, "08:00")].into(),
            ..request(1, &[PA], at(DAY, "08:00"))
        };
        given::<BookingRequestDecider>(day_with([]))
            .when(lane_1_unread.clone())
            .then([requested(&lane_1_unread, &[(2, "08:00")], "08:12").into()]);
        let lane_2_taken = day_with([held(2, 2, 2, "08:00")]);
        given::<BookingRequestDecider>(lane_2_taken)
            .when(lane_1_unread)
            .then_error(BookingRequestError::SlotTaken {
                start: at(DAY, "08:00"),
            });
    }

    #[test]
    fn what_is_refused_whoever_asks_is_told_before_the_citizen_is_known() {
        let taken = day_with([held(1, 1, 1, "08:00"), held(2, 2, 2, "08:00")]);
        let state = BookingRequestDecider::fold(&taken);
        let third = request(3, &[PA], at(DAY, "08:00"));
        assert_eq!(
            state.lane_for(&third.slot_asked()),
            Err(BookingRequestError::SlotTaken {
                start: at(DAY, "08:00"),
            })
        );
        let free = BookingRequestDecider::fold(&day_with([]));
        let chosen = free.lane_for(&third.slot_asked()).expect("lane 1 is free");
        assert_eq!(chosen.units, vec![unit(DAY, 1, "08:00")]);
        // The citizen's own open bookings are the one check that waits for the citizen.
        let busy_citizen = day_with([held(1, 1, 1, "09:00"), held(2, 1, 1, "10:00"), held(3, 1, 1, "11:00")]);
        let state = BookingRequestDecider::fold(&busy_citizen);
        let fourth = request(4, &[PA], at(DAY, "08:00"));
        assert!(state.lane_for(&fourth.slot_asked()).is_ok());
        given::<BookingRequestDecider>(busy_citizen)
            .when(fourth)
            .then_error(BookingRequestError::TooManyOpenBookings { max: 3 });
    }

    #[test]
    fn a_release_the_waitlist_has_not_seen_is_not_yet_the_publics() {
        let first = held(1, 1, 1, "08:00");
        let freed = [first.clone(), cancelled(&first)];
        // The waitlist still has lane 1 as booked; lane 2 it has seen free.
        let unseen_release = RequestBooking {
            taken_for_waitlist: [unit(DAY, 1, "08:00")].into(),
            ..request(2, &[PA], at(DAY, "08:00"))
        };
        given::<BookingRequestDecider>(day_with(freed.clone()))
            .when(unseen_release.clone())
            .then([requested(&unseen_release, &[(2, "08:00")], "08:12").into()]);
        let only_unseen = RequestBooking {
            kept_for_waitlist: [unit(DAY, 2, "08:00")].into(),
            ..unseen_release
        };
        given::<BookingRequestDecider>(day_with(freed))
            .when(only_unseen)
            .then_error(BookingRequestError::WaitlistBehind(unit(DAY, 1, "08:00")));
    }

    #[test]
    fn two_12_minute_services_take_two_consecutive_units() {
        let command = request(1, &[PA, RP], at(DAY, "08:00"));
        given::<BookingRequestDecider>(day_with([]))
            .when(command.clone())
            .then([requested(&command, &[(1, "08:00"), (1, "08:12")], "08:24").into()]);
    }

    #[test]
    fn a_chain_broken_by_a_held_unit_moves_to_the_next_lane() {
        let command = request(2, &[PA, RP], at(DAY, "08:00"));
        given::<BookingRequestDecider>(day_with([held(1, 2, 1, "08:12")]))
            .when(command.clone())
            .then([requested(&command, &[(2, "08:00"), (2, "08:12")], "08:24").into()]);
    }

    #[test]
    fn three_services_on_15_minute_units_take_three_units() {
        // 36 minutes need ⌈36/15⌉ = 3 units: 45 minutes.
        let command = request(1, &[PA, RP, MB], at(DAY, "08:00"));
        given::<BookingRequestDecider>(catalogue([capacity(DAY, "08:00", "12:00", 15, 1)]))
            .when(command.clone())
            .then([requested(&command, &[(1, "08:00"), (1, "08:15"), (1, "08:30")], "08:45").into()]);
    }

    #[test]
    fn no_free_run_of_units_exactly_at_the_start_is_slot_taken() {
        let cases = [
            request(1, &[PA], at(DAY, "08:06")), // between unit starts
            request(1, &[PA], at(DAY, "08:00") + chrono::Duration::seconds(30)), // not on a minute
            request(1, &[PA], at(DAY, "07:48")), // before the first unit
            request(1, &[PA, RP], at(DAY, "11:48")), // runs past the last unit
            request(1, &[PA], at(NEXT_DAY, "08:00")), // nothing published that day
        ];
        for command in cases {
            let start = command.start;
            given::<BookingRequestDecider>(day_with([]))
                .when(command)
                .then_error(BookingRequestError::SlotTaken { start });
        }
    }

    #[test]
    fn cancelled_and_lapsed_bookings_free_their_units() {
        let (first, second) = (held(1, 1, 1, "08:00"), held(2, 2, 2, "08:00"));
        let command = RequestBooking {
            citizen: sealed(3),
            ..request(3, &[PA], at(DAY, "08:00"))
        };
        given::<BookingRequestDecider>(day_with([first.clone(), second.clone(), cancelled(&first)]))
            .when(command.clone())
            .then([requested(&command, &[(1, "08:00")], "08:12").into()]);
        given::<BookingRequestDecider>(day_with([first.clone(), second.clone(), lapsed(&second)]))
            .when(command.clone())
            .then([requested(&command, &[(2, "08:00")], "08:12").into()]);
        // The request read again through another of its streams does not revive the hold.
        given::<BookingRequestDecider>(day_with([
            first.clone(),
            cancelled(&first),
            second.clone(),
            first,
            second.clone(),
        ]))
        .when(command.clone())
        .then([requested(&command, &[(1, "08:00")], "08:12").into()]);
    }

    #[test]
    fn a_citizen_cannot_hold_two_bookings_at_the_same_time() {
        // Citizen 1 holds 08:00–08:12 on lane 1; lane 2 is free at 08:00.
        given::<BookingRequestDecider>(day_with([held(1, 1, 1, "08:00")]))
            .when(request(2, &[PA], at(DAY, "08:00")))
            .then_error(BookingRequestError::OverlapsOwnBooking { booking: booking_id(1) });
        // Partly: 08:00–08:24 on lane 2 runs into the citizen's 08:12–08:24.
        given::<BookingRequestDecider>(day_with([held(1, 1, 1, "08:12")]))
            .when(request(2, &[PA, RP], at(DAY, "08:00")))
            .then_error(BookingRequestError::OverlapsOwnBooking { booking: booking_id(1) });
    }

    #[test]
    fn back_to_back_other_citizens_and_ended_bookings_do_not_overlap() {
        let own = held(1, 1, 1, "08:00");
        let right_after = request(2, &[PA], at(DAY, "08:12"));
        given::<BookingRequestDecider>(day_with([own.clone()]))
            .when(right_after.clone())
            .then([requested(&right_after, &[(1, "08:12")], "08:24").into()]);
        let same_time = request(2, &[PA], at(DAY, "08:00"));
        given::<BookingRequestDecider>(day_with([held(1, 2, 1, "08:00")]))
            .when(same_time.clone())
            .then([requested(&same_time, &[(2, "08:00")], "08:12").into()]);
        for ended in [cancelled(&own), lapsed(&own)] {
            given::<BookingRequestDecider>(day_with([own.clone(), ended]))
                .when(same_time.clone())
                .then([requested(&same_time, &[(1, "08:00")], "08:12").into()]);
        }
    }

    #[test]
    fn the_citizens_own_booking_on_the_only_lane_is_told_as_the_overlap() {
        let one_lane = |booking: BookingEvent| catalogue([capacity(DAY, "08:00", "12:00", 12, 1), booking.into()]);
        given::<BookingRequestDecider>(one_lane(held(1, 1, 1, "08:00")))
            .when(request(2, &[PA], at(DAY, "08:00")))
            .then_error(BookingRequestError::OverlapsOwnBooking { booking: booking_id(1) });
        given::<BookingRequestDecider>(one_lane(held(1, 2, 1, "08:00")))
            .when(request(2, &[PA], at(DAY, "08:00")))
            .then_error(BookingRequestError::SlotTaken {
                start: at(DAY, "08:00"),
            });
    }

    #[test]
    fn a_booking_placed_by_an_accepted_proposal_counts_for_the_overlap() {
        let placed = WishEvent::ProposalAccepted(ProposalAccepted {
            proposal: ProposalId::from_ulid(booking_id(1).as_ulid()),
            wish: "01JE5Q3K8Y2X4N6P7R9S0T1V2W".parse().unwrap(),
            booking: booking_id(1),
            office: office_id(),
            services: vec![PA.parse().unwrap()],
            units: vec![unit(DAY, 1, "08:00")],
            start: at(DAY, "08:00"),
            end: at(DAY, "08:12"),
            date: date(DAY),
            number: WaitingNumber::nth(1).unwrap(),
            citizen: sealed(1),
            checkin_code_hash: "c".repeat(64),
            links: vec![],
        });
        let history: Vec<BookingInput> = day_with([]).into_iter().chain([placed.into()]).collect();
        given::<BookingRequestDecider>(history)
            .when(request(2, &[PA], at(DAY, "08:00")))
            .then_error(BookingRequestError::OverlapsOwnBooking { booking: booking_id(1) });
    }

    #[test]
    fn a_request_under_a_booking_id_already_used_answers_that_booking() {
        let first = request(1, &[PA], at(DAY, "08:00"));
        let made = requested(&first, &[(1, "08:00")], "08:12");
        let sent_again_elsewhen = RequestBooking {
            start: at(DAY, "09:00"),
            ..first.clone()
        };
        given::<BookingRequestDecider>(day_with([made.clone()]))
            .when(sent_again_elsewhen)
            .then_error(BookingRequestError::AlreadyRequested(booking_id(1)));
        // Also once it is over: the key was used.
        given::<BookingRequestDecider>(day_with([made.clone(), lapsed(&made)]))
            .when(first)
            .then_error(BookingRequestError::AlreadyRequested(booking_id(1)));
    }

    #[test]
    fn a_fourth_open_booking_of_a_citizen_is_refused() {
        let open = [held(1, 1, 1, "09:00"), held(2, 1, 1, "10:00"), held(3, 1, 1, "11:00")];
        given::<BookingRequestDecider>(day_with(open))
            .when(request(4, &[PA], at(DAY, "08:00")))
            .then_error(BookingRequestError::TooManyOpenBookings { max: 3 });
    }

    #[test]
    fn past_ended_and_other_citizens_bookings_do_not_count() {
        let past = requested(
            &request(1, &[PA], utc("2026-11-19T07:00:00Z")),
            &[(1, "08:00")],
            "08:12",
        );
        let gone = held(2, 1, 1, "09:00");
        let others = (5..8).map(|n| held(n, 2, 2, &format!("{:02}:00", n + 4)));
        let bookings = [
            past,
            held(3, 1, 1, "10:00"),
            held(4, 1, 1, "11:00"),
            gone.clone(),
            cancelled(&gone),
        ];
        let command = request(9, &[PA], at(DAY, "08:00"));
        given::<BookingRequestDecider>(day_with(bookings.into_iter().chain(others)))
            .when(command.clone())
            .then([requested(&command, &[(1, "08:00")], "08:12").into()]);
        let state = BookingRequestDecider::fold(&day_with([held(1, 1, 1, "09:00")]));
        assert_eq!(state.open_future_bookings(&sealed(1).envelope_id, now()), 1);
        assert_eq!(state.open_future_bookings(&sealed(1).envelope_id, at(DAY, "09:00")), 0);
        assert_eq!(
            state.holder(&unit(DAY, 1, "09:00")),
            Some(UnitHolder::Booking(booking_id(1)))
        );
    }

    #[test]
    fn the_horizon_ends_21_office_days_ahead() {
        // Today is 2026-11-20 in Berlin: day 21 is 2026-12-11.
        let history = catalogue([
            capacity("2026-12-11", "08:00", "12:00", 12, 1),
            capacity("2026-12-12", "08:00", "12:00", 12, 1),
        ]);
        let last = request(1, &[PA], at("2026-12-11", "11:48"));
        given::<BookingRequestDecider>(history.clone())
            .when(last.clone())
            .then([requested(&last, &[(1, "11:48")], "12:00").into()]);
        given::<BookingRequestDecider>(history.clone())
            .when(request(1, &[PA], at("2026-12-12", "08:00")))
            .then_error(BookingRequestError::BeyondHorizon {
                date: date("2026-12-12").as_naive(),
                last: date("2026-12-11").as_naive(),
            });
        // At 23:30 UTC it is already the next day in Berlin, so day 21 moves too.
        let late = RequestBooking {
            now: utc("2026-11-20T23:30:00Z"),
            ..request(1, &[PA], at("2026-12-12", "08:00"))
        };
        given::<BookingRequestDecider>(history)
            .when(late.clone())
            .then([requested(&late, &[(1, "08:00")], "08:12").into()]);
    }

    #[test]
    fn the_start_must_be_in_the_future() {
        for start in [now(), now() - chrono::Duration::minutes(1)] {
            given::<BookingRequestDecider>(catalogue([capacity("2026-11-20", "08:00", "12:00", 12, 1)]))
                .when(request(1, &[PA], start))
                .then_error(BookingRequestError::StartNotInFuture { start, now: now() });
        }
    }

    #[test]
    fn unknown_office_or_service_is_refused() {
        given_no_events::<BookingRequestDecider>()
            .when(request(1, &[PA], at(DAY, "08:00")))
            .then_error(BookingRequestError::UnknownOffice(office_id()));
        let elsewhere = RequestBooking {
            office: "bss-walsum".parse().unwrap(),
            ..request(1, &[PA], at(DAY, "08:00"))
        };
        given::<BookingRequestDecider>(day_with([]))
            .when(elsewhere)
            .then_error(BookingRequestError::UnknownOffice("bss-walsum".parse().unwrap()));
        given::<BookingRequestDecider>(day_with([]))
            .when(request(1, &[PA, "fuehrerschein"], at(DAY, "08:00")))
            .then_error(BookingRequestError::UnknownService("fuehrerschein".parse().unwrap()));
    }

    #[test]
    fn a_booking_names_1_to_10_distinct_services() {
        let names: Vec<String> = (1..=11).map(|n| format!("kurz-{n}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let history = day_with([])
            .into_iter()
            .chain(names.iter().map(|name| service(name, 1)))
            .collect::<Vec<_>>();
        let ten = request(1, &names[..10], at(DAY, "08:00"));
        given::<BookingRequestDecider>(history.clone())
            .when(ten.clone())
            .then([requested(&ten, &[(1, "08:00")], "08:12").into()]);
        given::<BookingRequestDecider>(history.clone())
            .when(request(1, &names, at(DAY, "08:00")))
            .then_error(BookingRequestError::ServiceCount(11));
        given::<BookingRequestDecider>(history.clone())
            .when(request(1, &[], at(DAY, "08:00")))
            .then_error(BookingRequestError::ServiceCount(0));
        given::<BookingRequestDecider>(history)
            .when(request(1, &[PA, RP, PA], at(DAY, "08:00")))
            .then_error(BookingRequestError::DuplicateService(PA.parse().unwrap()));
    }

    #[test]
    fn rules_are_checked_in_order() {
        // Past start and unknown service: the service is named first.
        given::<BookingRequestDecider>(day_with([]))
            .when(request(1, &["fuehrerschein"], now()))
            .then_error(BookingRequestError::UnknownService("fuehrerschein".parse().unwrap()));
        // At the limit and asking for a taken unit: the limit is named first.
        let open = [
            held(1, 1, 1, "10:00"),
            held(2, 1, 1, "10:12"),
            held(3, 1, 1, "11:00"),
            held(5, 2, 1, "09:00"),
        ];
        given::<BookingRequestDecider>(day_with(open.clone()))
            .when(request(4, &[PA], at(DAY, "09:00")))
            .then_error(BookingRequestError::TooManyOpenBookings { max: 3 });
        // At the limit and at a time of one's own: the overlap is named first.
        given::<BookingRequestDecider>(day_with(open))
            .when(request(4, &[PA], at(DAY, "10:00")))
            .then_error(BookingRequestError::OverlapsOwnBooking { booking: booking_id(1) });
    }

    #[test]
    fn a_dst_week_booking_has_the_right_instants() {
        // Clocks went forward on Sunday 2026-03-29: 08:00 is 07:00Z on Saturday, 06:00Z on Monday.
        let history = catalogue([
            capacity("2026-03-28", "08:00", "12:00", 12, 1),
            capacity("2026-03-30", "08:00", "12:00", 12, 1),
        ]);
        let decide = |start: &str, services: &[&str]| {
            let command = RequestBooking {
                now: utc("2026-03-20T09:00:00Z"),
                ..request(1, services, utc(start))
            };
            let events = BookingRequestDecider::decide(&command, &BookingRequestDecider::fold(&history)).unwrap();
            let [BookingInput::Booking(BookingEvent::Requested(event))] = &events[..] else {
                panic!("{events:?}")
            };
            (event.units.clone(), event.end)
        };
        assert_eq!(
            decide("2026-03-30T06:00:00Z", &[PA, RP]),
            (
                vec![unit("2026-03-30", 1, "08:00"), unit("2026-03-30", 1, "08:12")],
                utc("2026-03-30T06:24:00Z")
            )
        );
        assert_eq!(
            decide("2026-03-28T07:00:00Z", &[PA]),
            (vec![unit("2026-03-28", 1, "08:00")], utc("2026-03-28T07:12:00Z"))
        );
        assert_eq!(
            decide("2026-03-30T07:00:00Z", &[PA]),
            (vec![unit("2026-03-30", 1, "09:00")], utc("2026-03-30T07:12:00Z"))
        );
    }

    #[test]
    fn an_end_the_zone_cannot_name_is_refused() {
        // Published under older zone rules: 02:30 on 2026-10-25 now occurs twice in Berlin.
        let command = RequestBooking {
            now: utc("2026-10-20T09:00:00Z"),
            ..request(1, &[PA], at("2026-10-25", "01:00"))
        };
        given::<BookingRequestDecider>(catalogue([capacity("2026-10-25", "01:00", "02:30", 90, 1)]))
            .when(command)
            .then_error(BookingRequestError::DstTransition(LocalTimeError::Ambiguous {
                date: date("2026-10-25").as_naive(),
                time: time("02:30").as_naive(),
            }));
    }

    #[test]
    fn candidate_units_are_every_lanes_run_from_the_start() {
        let mut day = OfficeDayCapacity::default();
        day.record(&published(DAY, "08:00", "12:00", 12, 2, 1));
        day.record(&published(DAY, "08:12", "12:00", 12, 1, 3));
        let office = office_id();
        assert_eq!(
            candidate_units(&day, &office, date(DAY), time("08:00"), 24),
            [
                unit(DAY, 1, "08:00"),
                unit(DAY, 1, "08:12"),
                unit(DAY, 2, "08:00"),
                unit(DAY, 2, "08:12")
            ]
        );
        assert_eq!(
            candidate_units(&day, &office, date(DAY), time("11:48"), 12),
            [unit(DAY, 1, "11:48"), unit(DAY, 2, "11:48"), unit(DAY, 3, "11:48")]
        );
        assert!(candidate_units(&day, &office, date(DAY), time("11:48"), 13).is_empty());
        assert!(candidate_units(&day, &office, date(DAY), time("08:06"), 12).is_empty());
    }

    // --- confirming, cancelling, lapsing ---------------------------------------------

    /// Booking `n`, pending on lane `n` at 08:00 of `day`, to be confirmed by 11:00Z on 2026-11-20.
    fn pending(n: u64, day: &str) -> BookingEvent {
        let command = request(n, &[PA], at(day, "08:00"));
        requested(&command, &[(n as u16, "08:00")], "08:12")
    }

    fn confirmed(n: u64, day: &str, number: u32) -> BookingEvent {
        BookingEvent::Confirmed(BookingConfirmed {
            booking: booking_id(n),
            office: office_id(),
            date: date(day),
            number: WaitingNumber::nth(number).unwrap(),
            checkin_code_hash: "c".repeat(64),
            links: vec![link(LinkAction::CancelBooking, '3')],
        })
    }

    fn confirm_at(n: u64, now: DateTime<Utc>) -> BookingCommand {
        ConfirmBooking {
            booking: booking_id(n),
            checkin_code_hash: "c".repeat(64),
            cancel_link: link(LinkAction::CancelBooking, '3'),
            now,
        }
        .into()
    }

    fn confirm(n: u64) -> BookingCommand {
        confirm_at(n, now())
    }

    fn cancel_at(n: u64, now: DateTime<Utc>) -> BookingCommand {
        CancelBooking {
            reason: None,
            booking: booking_id(n),
            now,
        }
        .into()
    }

    fn lapse_at(n: u64, now: DateTime<Utc>) -> BookingCommand {
        LapseBooking {
            booking: booking_id(n),
            now,
        }
        .into()
    }

    fn confirm_by() -> DateTime<Utc> {
        utc("2026-11-20T11:00:00Z")
    }

    #[test]
    fn waiting_numbers_count_up_per_office_day() {
        let mut history: Vec<BookingInput> = [pending(1, DAY), pending(2, DAY), pending(3, DAY), pending(4, NEXT_DAY)]
            .map(BookingInput::from)
            .into();
        for (n, number) in [(1, 1), (2, 2), (3, 3)] {
            let events = BookingDecider::decide(&confirm(n), &BookingDecider::fold(&history)).unwrap();
            assert_eq!(events, [confirmed(n, DAY, number).into()]);
            history.extend(events);
        }
        given::<BookingDecider>(history)
            .when(confirm(4))
            .then([confirmed(4, NEXT_DAY, 1).into()]);
        // As the executor reads it: the booking's stream, then the day's numbers stream.
        given::<BookingDecider>([pending(3, DAY), confirmed(1, DAY, 1), confirmed(2, DAY, 2)])
            .when(confirm(3))
            .then([confirmed(3, DAY, 3).into()]);
    }

    #[test]
    fn confirming_twice_changes_nothing() {
        // The confirmation is read twice: from the booking stream and from the numbers stream.
        let history = [pending(1, DAY), confirmed(1, DAY, 1), confirmed(1, DAY, 1)].map(BookingInput::from);
        given::<BookingDecider>(history.clone()).when(confirm(1)).then([]);
        let state = BookingDecider::fold(&history);
        assert_eq!(state.numbers_handed_out(&office_id(), date(DAY)), 1);
        assert_eq!(
            state.booking(&booking_id(1)).map(|b| b.status),
            Some(BookingStatus::Confirmed(WaitingNumber::nth(1).unwrap()))
        );
    }

    #[test]
    fn confirming_an_ended_or_expired_booking_is_refused() {
        let booking = pending(1, DAY);
        given::<BookingDecider>([booking.clone(), cancelled(&booking)])
            .when(confirm(1))
            .then_error(BookingError::Cancelled(booking_id(1)));
        given::<BookingDecider>([booking.clone(), lapsed(&booking)])
            .when(confirm(1))
            .then_error(BookingError::Lapsed(booking_id(1)));
        // Still pending because the lapse timer has not run yet: the time decides.
        given::<BookingDecider>([booking])
            .when(confirm_at(1, confirm_by()))
            .then_error(BookingError::ConfirmationExpired {
                booking: booking_id(1),
                confirm_by: confirm_by(),
            });
    }

    #[test]
    fn an_unknown_booking_is_refused() {
        // Another booking's confirmation in the numbers stream does not make this one known.
        for command in [confirm(1), cancel_at(1, now()), lapse_at(1, confirm_by())] {
            given::<BookingDecider>([confirmed(2, DAY, 1)])
                .when(command)
                .then_error(BookingError::UnknownBooking(booking_id(1)));
        }
    }

    #[test]
    fn waiting_numbers_run_out_after_9999() {
        let others = (2..=10_000).map(|n| confirmed(n, DAY, (n - 1) as u32));
        given::<BookingDecider>(std::iter::once(pending(1, DAY)).chain(others))
            .when(confirm(1))
            .then_error(BookingError::NumbersExhausted {
                office: office_id(),
                date: date(DAY),
            });
    }

    #[test]
    fn a_pending_or_confirmed_booking_is_cancelled_before_its_start() {
        let booking = pending(1, DAY);
        given::<BookingDecider>([booking.clone()])
            .when(cancel_at(1, now()))
            .then([cancelled(&booking).into()]);
        // A pending booking overdue for its lapse can still be cancelled.
        given::<BookingDecider>([booking.clone()])
            .when(cancel_at(1, confirm_by()))
            .then([cancelled(&booking).into()]);
        given::<BookingDecider>([booking.clone(), confirmed(1, DAY, 1)])
            .when(cancel_at(1, at(DAY, "07:59")))
            .then([cancelled(&booking).into()]);
    }

    #[test]
    fn cancelling_again_is_harmless_after_a_lapse_or_the_start_refused() {
        let booking = pending(1, DAY);
        given::<BookingDecider>([booking.clone(), cancelled(&booking)])
            .when(cancel_at(1, now()))
            .then([]);
        given::<BookingDecider>([booking.clone(), lapsed(&booking)])
            .when(cancel_at(1, now()))
            .then_error(BookingError::Lapsed(booking_id(1)));
        for late in [at(DAY, "08:00"), at(DAY, "08:05")] {
            given::<BookingDecider>([booking.clone(), confirmed(1, DAY, 1)])
                .when(cancel_at(1, late))
                .then_error(BookingError::TooLate {
                    booking: booking_id(1),
                    start: at(DAY, "08:00"),
                });
        }
    }

    /// Booking 1 of citizen 1 on DAY: three 12-minute units 08:00–08:36 of lane 1.
    fn three_units() -> BookingEvent {
        let command = request(1, &[PA, RP, MB], at(DAY, "08:00"));
        requested(&command, &[(1, "08:00"), (1, "08:12"), (1, "08:24")], "08:36")
    }

    fn release_missed_at(missed_at: DateTime<Utc>) -> BookingCommand {
        ReleaseMissedVisit {
            booking: booking_id(1),
            missed_at,
            zone: berlin(),
        }
        .into()
    }

    fn released_units(units: &[(u16, &str)], missed_at: DateTime<Utc>) -> BookingInput {
        BookingEvent::Released(BookingReleased {
            booking: booking_id(1),
            units: units.iter().map(|&(lane, start)| unit(DAY, lane, start)).collect(),
            citizen: Some(sealed(1).envelope_id),
            missed_at,
        })
        .into()
    }

    #[test]
    fn a_missed_visit_frees_the_units_that_start_at_or_after_the_miss() {
        let booking = three_units();
        let visited = [booking.clone(), confirmed(1, DAY, 1)];
        // Missed during its first unit: the two ahead are free again.
        given::<BookingDecider>(visited.clone())
            .when(release_missed_at(at(DAY, "08:05")))
            .then([released_units(&[(1, "08:12"), (1, "08:24")], at(DAY, "08:05"))]);
        // A unit starting at the very instant of the miss is ahead too.
        given::<BookingDecider>(visited.clone())
            .when(release_missed_at(at(DAY, "08:12")))
            .then([released_units(&[(1, "08:12"), (1, "08:24")], at(DAY, "08:12"))]);
        // One second into a unit, it has begun and stays held.
        let into_second = at(DAY, "08:12") + chrono::Duration::seconds(1);
        given::<BookingDecider>(visited.clone())
            .when(release_missed_at(into_second))
            .then([released_units(&[(1, "08:24")], into_second)]);
        // Called early and missed before the start: every unit is free.
        given::<BookingDecider>(visited.clone())
            .when(release_missed_at(at(DAY, "07:55")))
            .then([released_units(
                &[(1, "08:00"), (1, "08:12"), (1, "08:24")],
                at(DAY, "07:55"),
            )]);
        // Missed after its last unit began (or the next day): nothing lies ahead.
        for late in [at(DAY, "08:25"), at(NEXT_DAY, "08:00")] {
            given::<BookingDecider>(visited.clone())
                .when(release_missed_at(late))
                .then([]);
        }
    }

    #[test]
    fn releasing_again_frees_nothing_more_and_only_confirmed_bookings_release() {
        let booking = three_units();
        let missed_at = at(DAY, "08:05");
        let once = released_units(&[(1, "08:12"), (1, "08:24")], missed_at);
        // A repeat (the sweep after the clerk's own release), later or at once.
        for again in [missed_at, at(DAY, "08:06")] {
            given::<BookingDecider>([booking.clone().into(), confirmed(1, DAY, 1).into(), once.clone()])
                .when(release_missed_at(again))
                .then([]);
        }
        for not_visiting in [cancelled(&booking), lapsed(&booking)] {
            given::<BookingDecider>([booking.clone(), not_visiting])
                .when(release_missed_at(missed_at))
                .then([]);
        }
        given::<BookingDecider>([booking])
            .when(release_missed_at(missed_at))
            .then([]);
        given::<BookingDecider>([confirmed(2, DAY, 1)])
            .when(release_missed_at(missed_at))
            .then_error(BookingError::UnknownBooking(booking_id(1)));
    }

    #[test]
    fn units_a_missed_visit_released_can_be_booked_again() {
        let booking = three_units();
        let missed_at = at(DAY, "08:05");
        let history = day_with([booking.clone(), confirmed(1, DAY, 1)])
            .into_iter()
            .chain([released_units(&[(1, "08:12"), (1, "08:24")], missed_at)]);
        // Lane 1 at 08:12 is free again (lane 2 would be taken otherwise); 08:00 is not.
        let command = RequestBooking {
            citizen: sealed(2),
            ..request(2, &[PA], at(DAY, "08:12"))
        };
        let busy_lane_2 = held(3, 3, 2, "08:12");
        given::<BookingRequestDecider>(history.clone().chain([busy_lane_2.clone().into()]))
            .when(command.clone())
            .then([requested(&command, &[(1, "08:12")], "08:24").into()]);
        let at_eight = RequestBooking {
            citizen: sealed(2),
            ..request(2, &[PA], at(DAY, "08:00"))
        };
        let busy_eight = held(4, 3, 2, "08:00");
        given::<BookingRequestDecider>(history.chain([busy_eight.into()]))
            .when(at_eight.clone())
            .then_error(BookingRequestError::SlotTaken {
                start: at(DAY, "08:00"),
            });
        // The release goes where every hold change goes: the booking, its units, the citizen.
        let BookingInput::Booking(event) = released_units(&[(1, "08:12")], missed_at) else {
            unreachable!()
        };
        assert_eq!(event.hold_change(), HoldChange::Release(&[unit(DAY, 1, "08:12")]));
        assert_eq!(
            event.streams(),
            [
                StreamName::booking(&booking_id(1)),
                StreamName::unit(&unit(DAY, 1, "08:12")),
                StreamName::citizen(&sealed(1).envelope_id),
            ]
        );
    }

    #[test]
    fn a_booking_lapses_only_when_pending_past_confirm_by() {
        let booking = pending(1, DAY);
        given::<BookingDecider>([booking.clone()])
            .when(lapse_at(1, confirm_by() - chrono::Duration::seconds(1)))
            .then([]);
        given::<BookingDecider>([booking.clone()])
            .when(lapse_at(1, confirm_by()))
            .then([lapsed(&booking).into()]);
        for ended in [confirmed(1, DAY, 1), cancelled(&booking), lapsed(&booking)] {
            given::<BookingDecider>([booking.clone(), ended])
                .when(lapse_at(1, confirm_by()))
                .then([]);
        }
    }

    #[test]
    fn a_repeated_confirmation_does_not_move_a_booking_back() {
        // The numbers stream, read after the booking stream, repeats the confirmation.
        let booking = pending(1, DAY);
        let history = [
            booking.clone(),
            confirmed(1, DAY, 1),
            cancelled(&booking),
            confirmed(1, DAY, 1),
        ];
        given::<BookingDecider>(history.clone())
            .when(confirm(1))
            .then_error(BookingError::Cancelled(booking_id(1)));
        given::<BookingDecider>(history).when(cancel_at(1, now())).then([]);
    }

    #[test]
    fn the_booking_state_names_its_numbers_stream() {
        let state = BookingDecider::fold(&[pending(1, DAY).into()]);
        assert_eq!(
            state.numbers_stream(&booking_id(1)).unwrap().as_str(),
            "numbers:bss-mitte:2026-12-01"
        );
        assert_eq!(state.numbers_stream(&booking_id(2)), None);
        let booking = state.booking(&booking_id(1)).unwrap();
        assert_eq!((booking.start, booking.confirm_by), (at(DAY, "08:00"), confirm_by()));
        assert_eq!(booking.status, BookingStatus::PendingConfirmation);
    }

    #[test]
    fn a_booking_runs_its_life_and_frees_its_unit() {
        let history = day_with([]);
        let command = request(1, &[PA], at(DAY, "08:00"));
        let requested = BookingRequestDecider::decide(&command, &BookingRequestDecider::fold(&history)).unwrap();
        let [BookingInput::Booking(requested)] = &requested[..] else {
            panic!("{requested:?}")
        };
        let mut life = vec![BookingInput::from(requested.clone())];
        for command in [confirm(1), cancel_at(1, now())] {
            life.extend(BookingDecider::decide(&command, &BookingDecider::fold(&life)).unwrap());
        }
        assert_eq!(life[1..], [confirmed(1, DAY, 1).into(), cancelled(requested).into()]);
        // The unit streams now hold the request and the cancellation: lane 1 is free again.
        let again = request(2, &[PA], at(DAY, "08:00"));
        given::<BookingRequestDecider>(history.into_iter().chain(life))
            .when(again.clone())
            .then([self::requested(&again, &[(1, "08:00")], "08:12").into()]);
    }

    // --- values and stored shape -----------------------------------------------------

    #[test]
    fn events_are_indexed_under_booking_units_citizen_and_numbers() {
        let booking = "booking:00000000010000000000000001";
        let citizen = "citizen:00000000010000000000000002";
        let two_units = requested(
            &request(1, &[PA, RP], at(DAY, "08:00")),
            &[(1, "08:00"), (1, "08:12")],
            "08:24",
        );
        let streams = |event: &BookingEvent| -> Vec<String> { event.streams().iter().map(|s| s.to_string()).collect() };
        let holds = [
            booking,
            "unit:bss-mitte:2026-12-01:1:0800",
            "unit:bss-mitte:2026-12-01:1:0812",
            citizen,
        ];
        assert_eq!(streams(&two_units), holds);
        assert_eq!(streams(&cancelled(&two_units)), holds);
        assert_eq!(streams(&lapsed(&two_units)), holds);
        assert_eq!(
            streams(&confirmed(1, DAY, 7)),
            [booking, "numbers:bss-mitte:2026-12-01"]
        );
        let input = BookingInput::from(two_units.clone());
        assert_eq!(input.streams(), two_units.streams());
        assert_eq!(office().streams(), [StreamName::office(&office_id())]);
    }

    #[test]
    fn stored_booking_data_is_plain_and_decodes_back() {
        let event = held(1, 1, 1, "08:00");
        let data = event.to_data();
        assert_eq!(
            data,
            json!({
                "booking": "00000000010000000000000001",
                "office": "bss-mitte",
                "services": ["personalausweis"],
                "units": [{"office": "bss-mitte", "date": "2026-12-01", "lane": 1, "start": "08:00"}],
                "start": "2026-12-01T07:00:00Z",
                "end": "2026-12-01T07:12:00Z",
                "citizen": {
                    "envelope_id": "00000000010000000000000002",
                    "nonce": "0a0a0a0a0a0a0a0a0a0a0a0a",
                    "ciphertext": "c1phe7"
                },
                "confirm_by": "2026-11-20T11:00:00Z",
                "links": [
                    {"action": "confirm_booking", "token_hash": "1".repeat(64), "expires_at": "2026-12-01T23:00:00Z"},
                    {"action": "cancel_booking", "token_hash": "2".repeat(64), "expires_at": "2026-12-01T23:00:00Z"}
                ]
            })
        );
        assert_eq!(confirmed(1, DAY, 42).to_data()["number"], "42");
        for event in [event.clone(), confirmed(1, DAY, 42), cancelled(&event), lapsed(&event)] {
            let event_type = event.event_type();
            assert!(BookingEvent::EVENT_TYPES.contains(&event_type));
            assert_eq!(event.schema_version(), 1);
            assert_eq!(serde_json::to_value(&event).unwrap()["type"], event_type);
            let data = event.to_data();
            assert!(data.get("type").is_none());
            assert_eq!(BookingEvent::from_stored(event_type, data.clone()).unwrap(), event);
            assert_eq!(
                BookingInput::from_stored_json(event_type, &data.to_string()).unwrap(),
                BookingInput::Booking(event)
            );
        }
    }

    #[test]
    fn booking_input_is_the_three_families_decoded_by_type_name() {
        let union: Vec<&str> = [
            CatalogueEvent::EVENT_TYPES,
            BookingEvent::EVENT_TYPES,
            WishEvent::EVENT_TYPES,
        ]
        .concat();
        assert_eq!(BookingInput::EVENT_TYPES, union);
        for input in [office(), service(PA, 12), capacity(DAY, "08:00", "12:00", 12, 2)] {
            let (event_type, data) = (input.event_type(), input.to_data());
            assert_eq!(input.schema_version(), 1);
            assert_eq!(BookingInput::from_stored(event_type, data.clone()).unwrap(), input);
            assert_eq!(
                BookingInput::from_stored_json(event_type, &data.to_string()).unwrap(),
                input
            );
        }
        assert!(matches!(
            BookingInput::from_stored_json("personal_data.erased", "{}"),
            Err(EventDecodeError::UnknownType(t)) if t == "personal_data.erased"
        ));
        assert!(matches!(
            BookingInput::from_stored_json("wish.registered", "{}"),
            Err(EventDecodeError::InvalidData { event_type, .. }) if event_type == "wish.registered"
        ));
        assert!(matches!(
            BookingInput::from_stored("booking.lapsed", json!({"booking": "x"})),
            Err(EventDecodeError::InvalidData { event_type, .. }) if event_type == "booking.lapsed"
        ));
        assert!(matches!(
            BookingInput::from_stored_json("office.registered", "{}"),
            Err(EventDecodeError::InvalidData { event_type, .. }) if event_type == "office.registered"
        ));
    }

    #[test]
    fn waiting_numbers_are_1_to_4_digits() {
        assert_eq!(WaitingNumber::nth(0), None);
        assert_eq!(WaitingNumber::nth(10_000), None);
        assert_eq!(WaitingNumber::nth(1).unwrap().to_string(), "1");
        assert_eq!(WaitingNumber::nth(9999).unwrap().get(), 9999);
        assert_eq!(WaitingNumber::parse("1112"), Ok(WaitingNumber::nth(1112).unwrap()));
        for bad in ["", "0", "0042", "10000", "12a", "+12", " 12", "١٢"] {
            assert_eq!(
                WaitingNumber::parse(bad),
                Err(InvalidWaitingNumber(bad.into())),
                "{bad:?}"
            );
        }
        let number: WaitingNumber = serde_json::from_str("\"42\"").unwrap();
        assert_eq!(serde_json::to_value(number).unwrap(), "42");
        assert!(serde_json::from_str::<WaitingNumber>("42").is_err());
    }

    #[test]
    fn link_actions_and_policy_defaults() {
        for action in [LinkAction::ConfirmBooking, LinkAction::CancelBooking] {
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
        }
        assert_eq!(
            serde_json::from_str::<LinkAction>("\"cancel_booking\"").unwrap(),
            LinkAction::CancelBooking
        );
        assert_eq!(
            BookingPolicy::default(),
            BookingPolicy {
                confirm_ttl: chrono::Duration::hours(2),
                horizon_days: 21,
                max_open_bookings: 3
            }
        );
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            BookingRequestError::SlotTaken {
                start: utc("2026-12-01T07:00:00Z")
            }
            .to_string(),
            "no lane offers free units starting at 2026-12-01 07:00:00 UTC"
        );
        assert_eq!(
            BookingRequestError::BeyondHorizon {
                date: date("2026-12-12").as_naive(),
                last: date("2026-12-11").as_naive()
            }
            .to_string(),
            "2026-12-12 is beyond the booking horizon; the last bookable day is 2026-12-11"
        );
        assert_eq!(
            BookingError::NumbersExhausted {
                office: office_id(),
                date: date(DAY)
            }
            .to_string(),
            "all 9999 waiting numbers of bss-mitte on 2026-12-01 are handed out"
        );
    }

    #[test]
    fn a_request_reads_the_units_of_every_lane_that_could_take_it() {
        let state = BookingRequestDecider::fold(&day_with([]));
        let office = office_id();
        let services = [
            ServiceId::parse("personalausweis").unwrap(),
            ServiceId::parse("reisepass").unwrap(),
        ];
        let units = state.units_to_read(&office, &services, at(DAY, "08:00"));
        assert_eq!(
            units,
            vec![
                unit(DAY, 1, "08:00"),
                unit(DAY, 1, "08:12"),
                unit(DAY, 2, "08:00"),
                unit(DAY, 2, "08:12"),
            ]
        );
        assert!(
            state.units_to_read(&office, &services, at(DAY, "08:05")).is_empty(),
            "no unit starts there"
        );
        let unknown = [ServiceId::parse("unknown").unwrap()];
        assert!(state.units_to_read(&office, &unknown, at(DAY, "08:00")).is_empty());
    }

    #[test]
    fn free_slots_follow_the_booking_rule() {
        let state = BookingRequestDecider::fold(&day_with([]));
        let capacity = state.capacity.get(&(office_id(), date(DAY))).unwrap().clone();
        let held = [unit(DAY, 1, "08:12")];
        let is_held = |unit: &UnitRef| held.contains(unit);
        let one = free_slots(&capacity, &office_id(), date(DAY), 12, is_held);
        assert_eq!(one.len(), 20, "every start of 08:00–12:00 in 12-minute units");
        assert_eq!(
            one[0],
            FreeSlot {
                start: time("08:00"),
                end: time("08:12"),
                lanes: 2
            }
        );
        assert_eq!(
            one[1],
            FreeSlot {
                start: time("08:12"),
                end: time("08:24"),
                lanes: 1
            }
        );
        let two = free_slots(&capacity, &office_id(), date(DAY), 24, is_held);
        assert_eq!(
            two[0],
            FreeSlot {
                start: time("08:00"),
                end: time("08:24"),
                lanes: 1
            },
            "lane 1 is cut at 08:12"
        );
        assert_eq!(
            two.last().unwrap().start,
            time("11:36"),
            "11:48 has no second unit before 12:00"
        );
        assert!(free_slots(&capacity, &office_id(), date(DAY), 12, |_| true).is_empty());
    }

    #[test]
    fn a_short_notice_booking_must_be_confirmed_before_it_begins() {
        let mut command = request(1, &[PA], at(DAY, "08:00"));
        command.policy.confirm_ttl = chrono::Duration::days(30);
        let events = BookingRequestDecider::decide(&command, &BookingRequestDecider::fold(&day_with([]))).unwrap();
        let BookingInput::Booking(BookingEvent::Requested(requested)) = &events[0] else {
            panic!("expected a request, got {events:?}")
        };
        assert_eq!(requested.confirm_by, command.start);
    }
}
