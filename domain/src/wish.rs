//! The Terminagent: a citizen who finds nothing bookable registers a wish
//! (several offices, hourly windows per weekday, optionally a last date); freed
//! or newly published capacity is proposed to the earliest-registered waiting
//! wish it matches; the citizen accepts (a confirmed booking), declines (the wish
//! waits on and is never offered those units again) or ends the search by mail
//! link. A proposal left unanswered expires like a decline; after
//! [`WishPolicy::max_unanswered`] expiries in a row the wish ends, and it lapses
//! when its last date has passed.
//!
//! Every decision is [`WishDecider`]'s, over [`WishState`] folded from the
//! streams the command names (see [`WishCommand`]). A proposal holds its units
//! like a booking does: `proposal.made` is tagged with each unit's stream and
//! appended under a condition on it, and booking requests read it there
//! ([`crate::BookingRequestState`]). Accepting places the booking in the same
//! event (`proposal.accepted`, tagged with the booking's stream, its units, the
//! citizen and the office day's `numbers:` stream), so the units pass from the
//! proposal to the booking without ever being free, and the booking decisions
//! (cancel, waiting numbers) see it as confirmed.
//!
//! The matcher keeps a million waiting wishes in memory; [`WaitingWish`] is the
//! compact summary it can index by (office, hour of the week).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::booking::{
    BookingDecider, BookingInput, BookingRequestDecider, BookingRequestState, BookingState, HoldChange, IssuedLink,
    MAX_WAITING_NUMBER, SealedPersonalData, WaitingNumber,
};
use crate::catalogue::{OfficeDayCapacity, UnitRef};
use crate::decider::Decider;
use crate::event::{DomainEvent, StreamName};
use crate::ids::{BookingId, EnvelopeId, OfficeId, ProposalId, ServiceId, WishId};
use crate::time::{LocalDate, LocalTime, LocalTimeError, OfficeTimeZone};
use crate::windows::{HourOfWeek, WeeklyWindows};

pub const MAX_WISH_OFFICES: usize = 20;
pub const MAX_WISH_SERVICES: usize = 10;

/// The limits wish decisions are made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WishPolicy {
    /// How long a proposal holds its units; never past the proposed start.
    pub proposal_ttl: chrono::Duration,
    /// After this many proposals in a row expire unanswered, the wish ends.
    pub max_unanswered: u32,
}

impl Default for WishPolicy {
    fn default() -> Self {
        Self {
            proposal_ttl: chrono::Duration::days(2),
            max_unanswered: 3,
        }
    }
}

// --- events ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WishRegistered {
    pub wish: WishId,
    pub offices: Vec<OfficeId>,
    pub services: Vec<ServiceId>,
    pub windows: WeeklyWindows,
    /// The last office-local date an appointment may fall on.
    pub until: Option<LocalDate>,
    /// When `until` is over at every office of the wish (the next local day's
    /// start in the westernmost zone): from then on the wish lapses.
    pub lapses_at: Option<DateTime<Utc>>,
    pub citizen: SealedPersonalData,
    /// The end-the-search link of the registration mail.
    pub links: Vec<IssuedLink>,
    /// Ties are broken by log order; the matcher orders by the log, not by this.
    pub registered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalMade {
    pub proposal: ProposalId,
    pub wish: WishId,
    pub office: OfficeId,
    /// Consecutive units of one lane, in time order, on one office-local date.
    pub units: Vec<UnitRef>,
    pub start: DateTime<Utc>,
    /// The end of the last unit.
    pub end: DateTime<Utc>,
    /// Held until then; an answer after it is too late.
    pub expires_at: DateTime<Utc>,
    /// The links of the proposal mail (accept, decline, end the search).
    pub links: Vec<IssuedLink>,
}

/// The proposal accepted, and the confirmed booking it places on its units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalAccepted {
    pub proposal: ProposalId,
    pub wish: WishId,
    pub booking: BookingId,
    pub office: OfficeId,
    pub services: Vec<ServiceId>,
    pub units: Vec<UnitRef>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The office day the waiting number belongs to.
    pub date: LocalDate,
    pub number: WaitingNumber,
    /// The wish's envelope, so the booking's own stream can address its mails.
    pub citizen: SealedPersonalData,
    pub checkin_code_hash: String,
    /// The cancel link of the confirmation mail.
    pub links: Vec<IssuedLink>,
}

/// A proposal declined or expired: its units are free again and never offered
/// to this wish again; the wish keeps its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalClosed {
    pub proposal: ProposalId,
    pub wish: WishId,
    pub units: Vec<UnitRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WishEndReason {
    /// The citizen ended the search (end link).
    Citizen,
    /// [`WishPolicy::max_unanswered`] proposals in a row expired unanswered.
    UnansweredProposals,
    /// Its `until` date has passed.
    UntilPassed,
}

/// The wish waits no more (a fulfilled wish ends by `proposal.accepted` instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WishEnded {
    pub wish: WishId,
    pub reason: WishEndReason,
    pub citizen: EnvelopeId,
    /// The proposal that was open, withdrawn with the wish; its links are void.
    pub proposal: Option<ProposalId>,
    /// The units that proposal held, free again.
    pub units: Vec<UnitRef>,
}

/// Everything that happens to a wish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum WishEvent {
    #[serde(rename = "wish.registered")]
    Registered(WishRegistered),
    #[serde(rename = "proposal.made")]
    ProposalMade(ProposalMade),
    #[serde(rename = "proposal.accepted")]
    ProposalAccepted(ProposalAccepted),
    #[serde(rename = "proposal.declined")]
    ProposalDeclined(ProposalClosed),
    #[serde(rename = "proposal.expired")]
    ProposalExpired(ProposalClosed),
    #[serde(rename = "wish.ended")]
    Ended(WishEnded),
}

impl WishEvent {
    pub fn wish(&self) -> WishId {
        match self {
            Self::Registered(event) => event.wish,
            Self::ProposalMade(event) => event.wish,
            Self::ProposalAccepted(event) => event.wish,
            Self::ProposalDeclined(event) | Self::ProposalExpired(event) => event.wish,
            Self::Ended(event) => event.wish,
        }
    }

    pub fn hold_change(&self) -> HoldChange<'_> {
        match self {
            Self::Registered(_) => HoldChange::Unchanged,
            Self::ProposalMade(ProposalMade { units, .. }) | Self::ProposalAccepted(ProposalAccepted { units, .. }) => {
                HoldChange::Hold(units)
            }
            Self::ProposalDeclined(ProposalClosed { units, .. })
            | Self::ProposalExpired(ProposalClosed { units, .. })
            | Self::Ended(WishEnded { units, .. }) => HoldChange::Release(units),
        }
    }
}

impl DomainEvent for WishEvent {
    const EVENT_TYPES: &'static [&'static str] = &[
        "wish.registered",
        "proposal.made",
        "proposal.accepted",
        "proposal.declined",
        "proposal.expired",
        "wish.ended",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::Registered(_) => "wish.registered",
            Self::ProposalMade(_) => "proposal.made",
            Self::ProposalAccepted(_) => "proposal.accepted",
            Self::ProposalDeclined(_) => "proposal.declined",
            Self::ProposalExpired(_) => "proposal.expired",
            Self::Ended(_) => "wish.ended",
        }
    }

    fn schema_version(&self) -> u32 {
        1
    }

    /// The wish first (its home stream); holds and releases also every unit they
    /// touch; what changes whether the citizen has a waiting wish (or a booking)
    /// also the citizen; the booking an acceptance places also its booking and
    /// the office day's numbers.
    fn streams(&self) -> Vec<StreamName> {
        let wish = StreamName::wish(&self.wish());
        let units = |units: &[UnitRef]| units.iter().map(StreamName::unit).collect::<Vec<_>>();
        let mut streams = vec![wish];
        match self {
            Self::Registered(registered) => streams.push(StreamName::citizen(&registered.citizen.envelope_id)),
            Self::ProposalMade(made) => streams.extend(units(&made.units)),
            Self::ProposalAccepted(accepted) => {
                streams.push(StreamName::booking(&accepted.booking));
                streams.extend(units(&accepted.units));
                streams.push(StreamName::citizen(&accepted.citizen.envelope_id));
                streams.push(StreamName::waiting_numbers(&accepted.office, accepted.date.into()));
            }
            Self::ProposalDeclined(closed) | Self::ProposalExpired(closed) => streams.extend(units(&closed.units)),
            Self::Ended(ended) => {
                streams.push(StreamName::citizen(&ended.citizen));
                streams.extend(units(&ended.units));
            }
        }
        streams
    }
}

// --- matching ----------------------------------------------------------------------

/// Whether a start at `office` on the office-local `date` and `start` is one the
/// wish asks for: one of its offices, in its windows, not after its `until`.
/// Fit (duration), freedom and earlier declines are checked against capacity and
/// holds by the proposal decision.
pub fn wish_matches(wish: &Wish, office: &OfficeId, date: LocalDate, start: LocalTime) -> bool {
    wish.offices.contains(office)
        && wish.windows.contains(HourOfWeek::of(date, start))
        && wish.until.is_none_or(|until| date <= until)
}

/// The units of `lane` a proposal starting at `local_start` for `needed_minutes`
/// would hold: the shortest run of consecutive units (⌈needed / unit⌉ of equal
/// units) from exactly that start, or `None` if the lane has none.
pub fn proposal_units(
    capacity: &OfficeDayCapacity,
    office: &OfficeId,
    date: LocalDate,
    lane: u16,
    local_start: LocalTime,
    needed_minutes: u32,
) -> Option<Vec<UnitRef>> {
    let chain = capacity.chain(lane, local_start, needed_minutes)?;
    Some(
        chain
            .iter()
            .map(|span| UnitRef {
                office: office.clone(),
                date,
                lane: span.lane,
                start: span.start,
            })
            .collect(),
    )
}

/// The matcher's number for an office (e.g. its place in the matcher's office table).
pub type OfficeIndex = u16;

/// One key a waiting wish is indexed under: a unit at that office starting in
/// that hour of the week is worth offering to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WishKey {
    pub office: OfficeIndex,
    pub hour: HourOfWeek,
}

/// A waiting wish as the matcher keeps it: fixed size, no heap (about 100 bytes),
/// so a million fit in well under 256 MB. Earlier declines are not in here (they
/// are few; keep them beside it, keyed by wish).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitingWish {
    pub wish: WishId,
    /// First come, first served: lower is earlier (e.g. the log position of
    /// `wish.registered`).
    pub order: u64,
    pub windows: WeeklyWindows,
    /// The summed duration of its services.
    pub needed_minutes: u16,
    pub until: Option<LocalDate>,
    offices: [OfficeIndex; MAX_WISH_OFFICES],
    office_count: u8,
}

impl WaitingWish {
    /// `None` with more than [`MAX_WISH_OFFICES`] offices.
    pub fn new(
        wish: WishId,
        order: u64,
        windows: WeeklyWindows,
        offices: &[OfficeIndex],
        needed_minutes: u16,
        until: Option<LocalDate>,
    ) -> Option<Self> {
        let mut slots = [0; MAX_WISH_OFFICES];
        slots.get_mut(..offices.len())?.copy_from_slice(offices);
        Some(Self {
            wish,
            order,
            windows,
            needed_minutes,
            until,
            offices: slots,
            office_count: offices.len() as u8,
        })
    }

    pub fn offices(&self) -> &[OfficeIndex] {
        &self.offices[..usize::from(self.office_count)]
    }

    /// [`wish_matches`] for the summary.
    pub fn matches(&self, office: OfficeIndex, date: LocalDate, start: LocalTime) -> bool {
        self.offices().contains(&office)
            && self.windows.contains(HourOfWeek::of(date, start))
            && self.until.is_none_or(|until| date <= until)
    }

    /// Every (office, hour of the week) it wants: the keys to index it under.
    pub fn keys(&self) -> impl Iterator<Item = WishKey> + '_ {
        self.offices()
            .iter()
            .flat_map(move |&office| self.windows.hours_of_week().map(move |hour| WishKey { office, hour }))
    }
}

// --- state -------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalStatus {
    Open,
    Accepted(BookingId),
    Declined,
    Expired,
    /// The wish ended while it was open.
    Withdrawn,
}

/// One proposal as the wish's stream tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub proposal: ProposalId,
    pub office: OfficeId,
    pub units: Vec<UnitRef>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: ProposalStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WishStatus {
    Waiting,
    /// A proposal was accepted: the wish became this booking.
    Fulfilled {
        proposal: ProposalId,
        booking: BookingId,
    },
    Ended(WishEndReason),
}

/// One wish as its stream tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wish {
    pub wish: WishId,
    pub offices: Vec<OfficeId>,
    pub services: Vec<ServiceId>,
    pub windows: WeeklyWindows,
    pub until: Option<LocalDate>,
    pub lapses_at: Option<DateTime<Utc>>,
    pub citizen: SealedPersonalData,
    pub registered_at: DateTime<Utc>,
    pub status: WishStatus,
    /// In the order they were made.
    pub proposals: Vec<Proposal>,
    /// Units of declined and expired proposals: never proposed to this wish again.
    pub declined_units: BTreeSet<UnitRef>,
    /// Proposals that expired since the last answer.
    pub unanswered_in_a_row: u32,
}

impl Wish {
    pub fn is_waiting(&self) -> bool {
        self.status == WishStatus::Waiting
    }

    pub fn proposal(&self, proposal: &ProposalId) -> Option<&Proposal> {
        self.proposals.iter().find(|p| p.proposal == *proposal)
    }

    /// The proposal awaiting an answer; at most one.
    pub fn open_proposal(&self) -> Option<&Proposal> {
        self.proposals.iter().find(|p| p.status == ProposalStatus::Open)
    }

    /// The same set of services, in any order.
    pub fn same_services(&self, services: &[ServiceId]) -> bool {
        service_set(&self.services) == service_set(services)
    }

    fn proposal_mut(&mut self, proposal: &ProposalId) -> Option<&mut Proposal> {
        self.proposals.iter_mut().find(|p| p.proposal == *proposal)
    }

    /// Statuses only move forward, so a repeated event changes nothing.
    fn close(&mut self, proposal: &ProposalId, next: ProposalStatus) -> bool {
        match self.proposal_mut(proposal) {
            Some(open) if open.status == ProposalStatus::Open => {
                open.status = next;
                true
            }
            _ => false,
        }
    }

    fn apply(&mut self, event: &WishEvent) {
        match event {
            WishEvent::Registered(_) => {}
            WishEvent::ProposalMade(made) => {
                if self.proposal(&made.proposal).is_none() {
                    self.proposals.push(Proposal {
                        proposal: made.proposal,
                        office: made.office.clone(),
                        units: made.units.clone(),
                        start: made.start,
                        end: made.end,
                        expires_at: made.expires_at,
                        status: ProposalStatus::Open,
                    });
                }
            }
            WishEvent::ProposalAccepted(accepted) => {
                self.close(&accepted.proposal, ProposalStatus::Accepted(accepted.booking));
                if self.is_waiting() {
                    self.status = WishStatus::Fulfilled {
                        proposal: accepted.proposal,
                        booking: accepted.booking,
                    };
                }
            }
            WishEvent::ProposalDeclined(closed) => {
                if self.close(&closed.proposal, ProposalStatus::Declined) {
                    self.unanswered_in_a_row = 0;
                }
                self.declined_units.extend(closed.units.iter().cloned());
            }
            WishEvent::ProposalExpired(closed) => {
                if self.close(&closed.proposal, ProposalStatus::Expired) {
                    self.unanswered_in_a_row += 1;
                }
                self.declined_units.extend(closed.units.iter().cloned());
            }
            WishEvent::Ended(ended) => {
                if let Some(proposal) = &ended.proposal {
                    self.close(proposal, ProposalStatus::Withdrawn);
                }
                if self.is_waiting() {
                    self.status = WishStatus::Ended(ended.reason);
                }
            }
        }
    }
}

fn service_set(services: &[ServiceId]) -> BTreeSet<&ServiceId> {
    services.iter().collect()
}

/// What wish decisions read, folded from the streams the command names (see
/// [`WishCommand`]): the wishes (from `wish:` and `citizen:` streams), the
/// catalogue and unit holds as a booking request sees them, and waiting numbers.
///
/// Events indexed under several of the streams read are read once per stream:
/// events of a wish not (yet) registered in what was read are ignored, repeats
/// change nothing, statuses only move forward. Read the wish's own stream first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WishState {
    catalogue: BookingRequestState,
    numbers: BookingState,
    wishes: BTreeMap<WishId, Wish>,
}

impl WishState {
    pub fn wish(&self, wish: &WishId) -> Option<&Wish> {
        self.wishes.get(wish)
    }

    /// Catalogue and unit holds.
    pub fn catalogue(&self) -> &BookingRequestState {
        &self.catalogue
    }

    /// The waiting wish of `citizen` for the same set of `services`, if any.
    pub fn waiting_duplicate(&self, citizen: &EnvelopeId, services: &[ServiceId]) -> Option<WishId> {
        self.wishes
            .values()
            .find(|wish| wish.citizen.envelope_id == *citizen && wish.is_waiting() && wish.same_services(services))
            .map(|wish| wish.wish)
    }

    /// The units a proposal of `lane` at `start` would hold: the `unit:` streams
    /// [`ProposeUnits`] must read after the wish, office, services and office day.
    /// Empty when something is unknown (the decision then says what).
    pub fn units_to_read(&self, wish: &WishId, office: &OfficeId, start: DateTime<Utc>, lane: u16) -> Vec<UnitRef> {
        let found = || {
            let wish = self.wish(wish)?;
            let zone = self.catalogue.office(office)?.timezone;
            let needed = self.catalogue.needed_minutes(&wish.services)?;
            let (date, local_start) = zone.local_minute(start)?;
            let capacity = self.catalogue.capacity(office, date)?;
            proposal_units(capacity, office, date, lane, local_start, needed)
        };
        found().unwrap_or_default()
    }

    /// The `numbers:` stream accepting `proposal` must read too.
    pub fn numbers_stream(&self, wish: &WishId, proposal: &ProposalId) -> Option<StreamName> {
        let proposal = self.wish(wish)?.proposal(proposal)?;
        let date = proposal.units.first()?.date;
        Some(StreamName::waiting_numbers(&proposal.office, date.into()))
    }
}

// --- commands ----------------------------------------------------------------------

/// Register a wish. Reads `office:{office}` of each office, `service:{service}` of
/// each service and `citizen:{envelope}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterWish {
    pub wish: WishId,
    pub offices: Vec<OfficeId>,
    pub services: Vec<ServiceId>,
    pub windows: WeeklyWindows,
    pub until: Option<LocalDate>,
    pub citizen: SealedPersonalData,
    pub end_link: IssuedLink,
    pub now: DateTime<Utc>,
}

/// Propose the units of `lane` from `start` at `office` to a wish (the matcher).
/// Reads `wish:{wish}`, `office:{office}`, each of the wish's `service:` streams,
/// `office-day:{office}:{date}` and then [`WishState::units_to_read`]'s `unit:` streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposeUnits {
    pub proposal: ProposalId,
    pub wish: WishId,
    pub office: OfficeId,
    pub start: DateTime<Utc>,
    pub lane: u16,
    /// Accept, decline, end the search.
    pub links: Vec<IssuedLink>,
    pub now: DateTime<Utc>,
    pub policy: WishPolicy,
}

/// Accept a proposal (its accept link): places a confirmed booking with the next
/// waiting number. Reads `wish:{wish}`, then [`WishState::numbers_stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptProposal {
    pub wish: WishId,
    pub proposal: ProposalId,
    pub booking: BookingId,
    pub checkin_code_hash: String,
    /// The cancel link of the confirmation mail.
    pub cancel_link: IssuedLink,
    pub now: DateTime<Utc>,
}

/// Decline a proposal (its decline link). Reads `wish:{wish}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclineProposal {
    pub wish: WishId,
    pub proposal: ProposalId,
    pub now: DateTime<Utc>,
}

/// The expiry timer: a proposal unanswered at `expires_at` expires (and the wish
/// ends after too many in a row). Reads `wish:{wish}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpireProposal {
    pub wish: WishId,
    pub proposal: ProposalId,
    pub now: DateTime<Utc>,
    pub policy: WishPolicy,
}

/// End the search (the end link). Reads `wish:{wish}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndWish {
    pub wish: WishId,
}

/// The lapse timer: a wish whose `until` has passed ends. Reads `wish:{wish}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LapseWish {
    pub wish: WishId,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WishCommand {
    Register(RegisterWish),
    Propose(ProposeUnits),
    Accept(AcceptProposal),
    Decline(DeclineProposal),
    Expire(ExpireProposal),
    End(EndWish),
    Lapse(LapseWish),
}

impl WishCommand {
    pub fn wish(&self) -> WishId {
        match self {
            Self::Register(command) => command.wish,
            Self::Propose(command) => command.wish,
            Self::Accept(command) => command.wish,
            Self::Decline(command) => command.wish,
            Self::Expire(command) => command.wish,
            Self::End(command) => command.wish,
            Self::Lapse(command) => command.wish,
        }
    }
}

macro_rules! wish_command_from {
    ($($command:ident => $variant:ident),* $(,)?) => {
        $(impl From<$command> for WishCommand {
            fn from(command: $command) -> Self {
                Self::$variant(command)
            }
        })*
    };
}

wish_command_from! {
    RegisterWish => Register,
    ProposeUnits => Propose,
    AcceptProposal => Accept,
    DeclineProposal => Decline,
    ExpireProposal => Expire,
    EndWish => End,
    LapseWish => Lapse,
}

/// Why a wish decision was refused. For mail links: a refusal naming an answer
/// that no longer applies (`ProposalDeclined`, `ProposalAccepted`,
/// `ProposalWithdrawn`, `WishEnded`, `WishFulfilled`) is `void`, `ProposalExpired`
/// is `expired`; a repeated answer is no error but no events (`already_done`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WishError {
    #[error("a wish names 1 to {MAX_WISH_OFFICES} offices, not {0}")]
    OfficeCount(usize),
    #[error("office {0} is named twice")]
    DuplicateOffice(OfficeId),
    #[error("office {0} is not registered")]
    UnknownOffice(OfficeId),
    #[error("a wish names 1 to {MAX_WISH_SERVICES} services, not {0}")]
    ServiceCount(usize),
    #[error("service {0} is named twice")]
    DuplicateService(ServiceId),
    #[error("service {0} is not registered")]
    UnknownService(ServiceId),
    #[error("the last date {until} has already passed")]
    UntilPassed { until: LocalDate },
    #[error("the citizen already waits with wish {existing} for the same services")]
    DuplicateWish { existing: WishId },
    #[error("wish {0} does not exist")]
    UnknownWish(WishId),
    #[error("wish {wish} has no proposal {proposal}")]
    UnknownProposal { wish: WishId, proposal: ProposalId },
    #[error("wish {wish} has ended ({reason:?})")]
    WishEnded { wish: WishId, reason: WishEndReason },
    #[error("wish {wish} was fulfilled by booking {booking}")]
    WishFulfilled { wish: WishId, booking: BookingId },
    #[error("wish {wish} already has proposal {proposal} open")]
    ProposalOpen { wish: WishId, proposal: ProposalId },
    #[error("wish {wish} does not ask for office {office}")]
    OfficeNotWished { wish: WishId, office: OfficeId },
    #[error("the start {start} is not in the future (now is {now})")]
    StartNotInFuture { start: DateTime<Utc>, now: DateTime<Utc> },
    #[error("the start {start} is outside the wish's windows")]
    OutsideWindows { start: DateTime<Utc> },
    #[error("{date} is after the wish's last date {until}")]
    AfterUntil { date: LocalDate, until: LocalDate },
    #[error("lane {lane} of {office} has no run of units for the wish from {start}")]
    NoSuchUnits {
        office: OfficeId,
        lane: u16,
        start: DateTime<Utc>,
    },
    #[error("the wish declined unit {0:?} before")]
    DeclinedBefore(UnitRef),
    #[error("unit {0:?} is held")]
    UnitTaken(UnitRef),
    #[error("proposal {0} was declined")]
    ProposalDeclined(ProposalId),
    #[error("proposal {proposal} was accepted (booking {booking})")]
    ProposalAccepted { proposal: ProposalId, booking: BookingId },
    #[error("proposal {proposal} expired at {expires_at}")]
    ProposalExpired {
        proposal: ProposalId,
        expires_at: DateTime<Utc>,
    },
    #[error("proposal {0} was withdrawn when its wish ended")]
    ProposalWithdrawn(ProposalId),
    #[error("all {MAX_WAITING_NUMBER} waiting numbers of {office} on {date} are handed out")]
    NumbersExhausted { office: OfficeId, date: LocalDate },
    #[error("the proposal's end is not a unique local time: {0}")]
    DstTransition(#[from] LocalTimeError),
}

/// The start of the local day after `date` in `zone`: when `date` is over there.
/// A day that begins in a DST gap begins at the first instant after it.
fn end_of_day(zone: OfficeTimeZone, date: NaiveDate) -> Option<DateTime<Utc>> {
    let next = date.checked_add_days(Days::new(1))?;
    (0..=2)
        .filter_map(|hour| next.and_hms_opt(hour, 0, 0))
        .find_map(|local| zone.tz().from_local_datetime(&local).earliest())
        .map(|instant| instant.with_timezone(&Utc))
}

fn check_ids<T: Ord + Clone>(
    ids: &[T],
    max: usize,
    count: fn(usize) -> WishError,
    twice: fn(T) -> WishError,
) -> Result<(), WishError> {
    if !(1..=max).contains(&ids.len()) {
        return Err(count(ids.len()));
    }
    let mut seen = BTreeSet::new();
    match ids.iter().find(|id| !seen.insert(*id)) {
        Some(id) => Err(twice(id.clone())),
        None => Ok(()),
    }
}

/// Decides every command on wishes; see [`WishCommand`]'s parts for what each reads.
pub struct WishDecider;

impl Decider for WishDecider {
    type Command = WishCommand;
    type Event = BookingInput;
    type State = WishState;
    type Error = WishError;

    fn decide(command: &WishCommand, state: &WishState) -> Result<Vec<BookingInput>, WishError> {
        let events = match command {
            WishCommand::Register(register) => register_wish(register, state)?,
            WishCommand::Propose(propose) => propose_units(propose, state)?,
            WishCommand::Accept(accept) => accept_proposal(accept, state)?,
            WishCommand::Decline(decline) => decline_proposal(decline, state)?,
            WishCommand::Expire(expire) => expire_proposal(expire, state)?,
            WishCommand::End(end) => end_wish(end, state)?,
            WishCommand::Lapse(lapse) => lapse_wish(lapse, state)?,
        };
        Ok(events.into_iter().map(BookingInput::Wish).collect())
    }

    fn evolve(mut state: WishState, event: &BookingInput) -> WishState {
        state.catalogue = BookingRequestDecider::evolve(state.catalogue, event);
        state.numbers = BookingDecider::evolve(state.numbers, event);
        if let BookingInput::Wish(event) = event {
            match event {
                WishEvent::Registered(registered) => {
                    state.wishes.entry(registered.wish).or_insert_with(|| Wish {
                        wish: registered.wish,
                        offices: registered.offices.clone(),
                        services: registered.services.clone(),
                        windows: registered.windows,
                        until: registered.until,
                        lapses_at: registered.lapses_at,
                        citizen: registered.citizen.clone(),
                        registered_at: registered.registered_at,
                        status: WishStatus::Waiting,
                        proposals: Vec::new(),
                        declined_units: BTreeSet::new(),
                        unanswered_in_a_row: 0,
                    });
                }
                other => {
                    if let Some(wish) = state.wishes.get_mut(&other.wish()) {
                        wish.apply(other);
                    }
                }
            }
        }
        state
    }
}

fn register_wish(command: &RegisterWish, state: &WishState) -> Result<Vec<WishEvent>, WishError> {
    let RegisterWish {
        wish,
        offices,
        services,
        windows,
        until,
        citizen,
        end_link,
        now,
    } = command;
    // The same registration decided again (its wish is in the citizen's stream).
    if state.wish(wish).is_some() {
        return Ok(vec![]);
    }
    check_ids(
        offices,
        MAX_WISH_OFFICES,
        WishError::OfficeCount,
        WishError::DuplicateOffice,
    )?;
    let mut zones = Vec::with_capacity(offices.len());
    for office in offices {
        let details = state
            .catalogue
            .office(office)
            .ok_or_else(|| WishError::UnknownOffice(office.clone()))?;
        zones.push(details.timezone);
    }
    check_ids(
        services,
        MAX_WISH_SERVICES,
        WishError::ServiceCount,
        WishError::DuplicateService,
    )?;
    if let Some(unknown) = services
        .iter()
        .find(|service| state.catalogue.service(service).is_none())
    {
        return Err(WishError::UnknownService(unknown.clone()));
    }
    let lapses_at = match until {
        Some(until) => {
            let lapses_at = zones
                .iter()
                .filter_map(|zone| end_of_day(*zone, until.as_naive()))
                .max()
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if lapses_at <= *now {
                return Err(WishError::UntilPassed { until: *until });
            }
            Some(lapses_at)
        }
        None => None,
    };
    if let Some(existing) = state.waiting_duplicate(&citizen.envelope_id, services) {
        return Err(WishError::DuplicateWish { existing });
    }
    Ok(vec![WishEvent::Registered(WishRegistered {
        wish: *wish,
        offices: offices.clone(),
        services: services.clone(),
        windows: *windows,
        until: *until,
        lapses_at,
        citizen: citizen.clone(),
        links: vec![end_link.clone()],
        registered_at: *now,
    })])
}

/// The wish, if it still waits.
fn waiting_wish<'a>(state: &'a WishState, id: &WishId) -> Result<&'a Wish, WishError> {
    let wish = state.wish(id).ok_or(WishError::UnknownWish(*id))?;
    match wish.status {
        WishStatus::Waiting => Ok(wish),
        WishStatus::Fulfilled { booking, .. } => Err(WishError::WishFulfilled { wish: *id, booking }),
        WishStatus::Ended(reason) => Err(WishError::WishEnded { wish: *id, reason }),
    }
}

fn propose_units(command: &ProposeUnits, state: &WishState) -> Result<Vec<WishEvent>, WishError> {
    use WishError as E;
    let ProposeUnits {
        proposal,
        wish: wish_id,
        office,
        start,
        lane,
        links,
        now,
        policy,
    } = command;
    // The matcher deciding again after its own proposal got through.
    if state
        .wish(wish_id)
        .is_some_and(|wish| wish.proposal(proposal).is_some())
    {
        return Ok(vec![]);
    }
    let wish = waiting_wish(state, wish_id)?;
    if let Some(open) = wish.open_proposal() {
        return Err(E::ProposalOpen {
            wish: *wish_id,
            proposal: open.proposal,
        });
    }
    if !wish.offices.contains(office) {
        return Err(E::OfficeNotWished {
            wish: *wish_id,
            office: office.clone(),
        });
    }
    let zone = state
        .catalogue
        .office(office)
        .ok_or_else(|| E::UnknownOffice(office.clone()))?
        .timezone;
    if let Some(unknown) = wish
        .services
        .iter()
        .find(|service| state.catalogue.service(service).is_none())
    {
        return Err(E::UnknownService(unknown.clone()));
    }
    let needed = state.catalogue.needed_minutes(&wish.services).unwrap_or(u32::MAX);
    if start <= now {
        return Err(E::StartNotInFuture {
            start: *start,
            now: *now,
        });
    }
    let no_units = || E::NoSuchUnits {
        office: office.clone(),
        lane: *lane,
        start: *start,
    };
    // No unit starts off a whole local minute.
    let (date, local_start) = zone.local_minute(*start).ok_or_else(no_units)?;
    if !wish.windows.contains(HourOfWeek::of(date, local_start)) {
        return Err(E::OutsideWindows { start: *start });
    }
    if let Some(until) = wish.until.filter(|until| date > *until) {
        return Err(E::AfterUntil { date, until });
    }
    let capacity = state.catalogue.capacity(office, date).ok_or_else(no_units)?;
    let units = proposal_units(capacity, office, date, *lane, local_start, needed).ok_or_else(no_units)?;
    if let Some(declined) = units.iter().find(|unit| wish.declined_units.contains(unit)) {
        return Err(E::DeclinedBefore(declined.clone()));
    }
    if let Some(held) = units.iter().find(|unit| state.catalogue.holder(unit).is_some()) {
        return Err(E::UnitTaken(held.clone()));
    }
    let local_end = capacity
        .chain(*lane, local_start, needed)
        .and_then(|chain| chain.last().map(|span| span.end))
        .ok_or_else(no_units)?;
    Ok(vec![WishEvent::ProposalMade(ProposalMade {
        proposal: *proposal,
        wish: *wish_id,
        office: office.clone(),
        units,
        start: *start,
        end: zone.instant(date, local_end)?,
        // An answer after the start is no use.
        expires_at: (*now + policy.proposal_ttl).min(*start),
        links: links.clone(),
    })])
}

/// The proposal, if it awaits an answer at `now`; `Ok(None)` if it was already
/// closed as `done` says.
fn open_proposal<'a>(
    state: &'a WishState,
    wish: &WishId,
    proposal: &ProposalId,
    now: DateTime<Utc>,
    done: fn(ProposalStatus) -> bool,
) -> Result<Option<(&'a Wish, &'a Proposal)>, WishError> {
    use ProposalStatus as S;
    let found = state.wish(wish).ok_or(WishError::UnknownWish(*wish))?;
    let open = found.proposal(proposal).ok_or(WishError::UnknownProposal {
        wish: *wish,
        proposal: *proposal,
    })?;
    let expired = WishError::ProposalExpired {
        proposal: *proposal,
        expires_at: open.expires_at,
    };
    // Pressed again: done, unless the wish has since gone another way (then
    // every link of it is void), except for the acceptance that fulfilled it.
    let fulfilled_by_it = matches!(open.status, S::Accepted(_));
    if done(open.status) && (found.is_waiting() || fulfilled_by_it) {
        return Ok(None);
    }
    match (open.status, found.status) {
        (S::Accepted(booking), _) => Err(WishError::ProposalAccepted {
            proposal: *proposal,
            booking,
        }),
        (_, WishStatus::Ended(reason)) => Err(WishError::WishEnded { wish: *wish, reason }),
        (_, WishStatus::Fulfilled { booking, .. }) => Err(WishError::WishFulfilled { wish: *wish, booking }),
        (S::Declined, WishStatus::Waiting) => Err(WishError::ProposalDeclined(*proposal)),
        (S::Expired, WishStatus::Waiting) => Err(expired),
        (S::Withdrawn, WishStatus::Waiting) => Err(WishError::ProposalWithdrawn(*proposal)),
        (S::Open, WishStatus::Waiting) if now >= open.expires_at => Err(expired),
        (S::Open, WishStatus::Waiting) => Ok(Some((found, open))),
    }
}

fn accept_proposal(command: &AcceptProposal, state: &WishState) -> Result<Vec<WishEvent>, WishError> {
    let accepted = |status| matches!(status, ProposalStatus::Accepted(_));
    let Some((wish, proposal)) = open_proposal(state, &command.wish, &command.proposal, command.now, accepted)? else {
        return Ok(vec![]);
    };
    let date = proposal
        .units
        .first()
        .map(|unit| unit.date)
        .ok_or(WishError::UnknownProposal {
            wish: command.wish,
            proposal: command.proposal,
        })?;
    let handed_out = state.numbers.numbers_handed_out(&proposal.office, date);
    let number = u32::try_from(handed_out + 1)
        .ok()
        .and_then(WaitingNumber::nth)
        .ok_or_else(|| WishError::NumbersExhausted {
            office: proposal.office.clone(),
            date,
        })?;
    Ok(vec![WishEvent::ProposalAccepted(ProposalAccepted {
        proposal: proposal.proposal,
        wish: wish.wish,
        booking: command.booking,
        office: proposal.office.clone(),
        services: wish.services.clone(),
        units: proposal.units.clone(),
        start: proposal.start,
        end: proposal.end,
        date,
        number,
        citizen: wish.citizen.clone(),
        checkin_code_hash: command.checkin_code_hash.clone(),
        links: vec![command.cancel_link.clone()],
    })])
}

fn closed(wish: &Wish, proposal: &Proposal) -> ProposalClosed {
    ProposalClosed {
        proposal: proposal.proposal,
        wish: wish.wish,
        units: proposal.units.clone(),
    }
}

fn decline_proposal(command: &DeclineProposal, state: &WishState) -> Result<Vec<WishEvent>, WishError> {
    let declined = |status| status == ProposalStatus::Declined;
    Ok(
        match open_proposal(state, &command.wish, &command.proposal, command.now, declined)? {
            Some((wish, proposal)) => vec![WishEvent::ProposalDeclined(closed(wish, proposal))],
            None => vec![],
        },
    )
}

fn expire_proposal(command: &ExpireProposal, state: &WishState) -> Result<Vec<WishEvent>, WishError> {
    let wish = state.wish(&command.wish).ok_or(WishError::UnknownWish(command.wish))?;
    let proposal = wish.proposal(&command.proposal).ok_or(WishError::UnknownProposal {
        wish: command.wish,
        proposal: command.proposal,
    })?;
    // The timer may fire late or twice: anything but a due open proposal is done.
    if proposal.status != ProposalStatus::Open || command.now < proposal.expires_at {
        return Ok(vec![]);
    }
    let mut events = vec![WishEvent::ProposalExpired(closed(wish, proposal))];
    if wish.unanswered_in_a_row + 1 >= command.policy.max_unanswered {
        events.push(ended(wish, WishEndReason::UnansweredProposals, None));
    }
    Ok(events)
}

fn ended(wish: &Wish, reason: WishEndReason, open: Option<&Proposal>) -> WishEvent {
    WishEvent::Ended(WishEnded {
        wish: wish.wish,
        reason,
        citizen: wish.citizen.envelope_id,
        proposal: open.map(|open| open.proposal),
        units: open.map(|open| open.units.clone()).unwrap_or_default(),
    })
}

fn end_wish(command: &EndWish, state: &WishState) -> Result<Vec<WishEvent>, WishError> {
    match waiting_wish(state, &command.wish) {
        Ok(wish) => Ok(vec![ended(wish, WishEndReason::Citizen, wish.open_proposal())]),
        // The end link pressed again.
        Err(WishError::WishEnded {
            reason: WishEndReason::Citizen,
            ..
        }) => Ok(vec![]),
        Err(refused) => Err(refused),
    }
}

fn lapse_wish(command: &LapseWish, state: &WishState) -> Result<Vec<WishEvent>, WishError> {
    let wish = state.wish(&command.wish).ok_or(WishError::UnknownWish(command.wish))?;
    // Like the expiry timer: anything but a waiting wish past its date is done.
    let due = wish.is_waiting() && wish.lapses_at.is_some_and(|lapses_at| command.now >= lapses_at);
    Ok(if due {
        vec![ended(wish, WishEndReason::UntilPassed, wish.open_proposal())]
    } else {
        vec![]
    })
}
