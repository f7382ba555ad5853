//! The Terminagent: a citizen who finds nothing bookable registers a wish
//! (several offices, hourly windows per weekday, optionally a last date) and
//! confirms it by mail link (double opt-in: an address nobody confirms gets no
//! proposal and the wish lapses after the confirm TTL); freed or newly
//! published capacity is proposed to the earliest-*confirmed* waiting wish it
//! matches; the citizen accepts (a confirmed booking), declines (the wish
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
//! The matcher keeps its waiting wishes in memory in a compact form of its
//! own ([`crate::matching::Matcher`]); [`wish_matches`] is the rule both share.

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
    /// The confirm link of the confirm-request mail (schema version 2) and
    /// the end-the-search link of the registration mail.
    pub links: Vec<IssuedLink>,
    /// Ties are broken by log order; the matcher orders by the log, not by this.
    pub registered_at: DateTime<Utc>,
    /// Schema version 2: the wish waits only once `wish.confirmed` follows, and
    /// lapses unconfirmed at this time. Absent (version 1, logs from before
    /// double opt-in): the wish waited from its registration on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_by: Option<DateTime<Utc>>,
}

impl WishRegistered {
    /// Whether the wish joined the queue at once (a version-1 registration).
    pub fn waits_at_once(&self) -> bool {
        self.confirm_by.is_none()
    }
}

/// The citizen pressed the confirm link: the wish joins the queue now, behind
/// every wish that joined it before (its place is this event's, not the
/// registration's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WishConfirmed {
    pub wish: WishId,
    pub citizen: EnvelopeId,
    pub confirmed_at: DateTime<Utc>,
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
    /// Nobody pressed the confirm link by `confirm_by`.
    Unconfirmed,
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
    #[serde(rename = "wish.confirmed")]
    Confirmed(WishConfirmed),
    #[serde(rename = "proposal.made")]
    ProposalMade(ProposalMade),
    #[serde(rename = "proposal.accepted")]
    ProposalAccepted(ProposalAccepted),
    #[serde(rename = "proposal.declined")]
    ProposalDeclined(ProposalClosed),
    #[serde(rename = "proposal.expired")]
    ProposalExpired(ProposalClosed),
    /// The office closed the proposal's units: the proposal is void, the wish
    /// keeps its place and has declined nothing.
    #[serde(rename = "proposal.withdrawn")]
    ProposalWithdrawn(ProposalClosed),
    #[serde(rename = "wish.ended")]
    Ended(WishEnded),
}

impl WishEvent {
    pub fn wish(&self) -> WishId {
        match self {
            Self::Registered(event) => event.wish,
            Self::Confirmed(event) => event.wish,
            Self::ProposalMade(event) => event.wish,
            Self::ProposalAccepted(event) => event.wish,
            Self::ProposalDeclined(event) | Self::ProposalExpired(event) | Self::ProposalWithdrawn(event) => event.wish,
            Self::Ended(event) => event.wish,
        }
    }

    pub fn hold_change(&self) -> HoldChange<'_> {
        match self {
            Self::Registered(_) | Self::Confirmed(_) => HoldChange::Unchanged,
            Self::ProposalMade(ProposalMade { units, .. }) | Self::ProposalAccepted(ProposalAccepted { units, .. }) => {
                HoldChange::Hold(units)
            }
            Self::ProposalDeclined(ProposalClosed { units, .. })
            | Self::ProposalExpired(ProposalClosed { units, .. })
            | Self::ProposalWithdrawn(ProposalClosed { units, .. })
            | Self::Ended(WishEnded { units, .. }) => HoldChange::Release(units),
        }
    }
}

impl DomainEvent for WishEvent {
    const EVENT_TYPES: &'static [&'static str] = &[
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
            Self::Registered(_) => "wish.registered",
            Self::Confirmed(_) => "wish.confirmed",
            Self::ProposalMade(_) => "proposal.made",
            Self::ProposalAccepted(_) => "proposal.accepted",
            Self::ProposalDeclined(_) => "proposal.declined",
            Self::ProposalExpired(_) => "proposal.expired",
            Self::ProposalWithdrawn(_) => "proposal.withdrawn",
            Self::Ended(_) => "wish.ended",
        }
    }

    /// `wish.registered` is version 2 since double opt-in: a version-1
    /// registration (no `confirm_by`) waited at once, a version-2 one waits
    /// for its `wish.confirmed`. Both decode into [`WishRegistered`].
    fn schema_version(&self) -> u32 {
        match self {
            Self::Registered(registered) if registered.waits_at_once() => 1,
            Self::Registered(_) => 2,
            _ => 1,
        }
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
            Self::Confirmed(confirmed) => streams.push(StreamName::citizen(&confirmed.citizen)),
            Self::ProposalMade(made) => streams.extend(units(&made.units)),
            Self::ProposalAccepted(accepted) => {
                streams.push(StreamName::booking(&accepted.booking));
                streams.extend(units(&accepted.units));
                streams.push(StreamName::citizen(&accepted.citizen.envelope_id));
                streams.push(StreamName::waiting_numbers(&accepted.office, accepted.date.into()));
            }
            Self::ProposalDeclined(closed) | Self::ProposalExpired(closed) | Self::ProposalWithdrawn(closed) => {
                streams.extend(units(&closed.units))
            }
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
    wish_mismatch(wish, office, date, start).is_none()
}

/// Why a start is not one the wish asks for ([`wish_matches`]' one rule,
/// with the reason the proposal decision refuses by).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WishMismatch {
    Office,
    Window,
    AfterUntil(LocalDate),
}

pub fn wish_mismatch(wish: &Wish, office: &OfficeId, date: LocalDate, start: LocalTime) -> Option<WishMismatch> {
    if !wish.offices.contains(office) {
        return Some(WishMismatch::Office);
    }
    if !wish.windows.contains(HourOfWeek::of(date, start)) {
        return Some(WishMismatch::Window);
    }
    wish.until.filter(|until| date > *until).map(WishMismatch::AfterUntil)
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
    /// Registered, its confirm link not pressed yet: not in the queue.
    PendingConfirmation,
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
    /// Until when the confirm link works (`None`: registered before double opt-in).
    pub confirm_by: Option<DateTime<Utc>>,
    /// When it joined the queue: its place there.
    pub confirmed_at: Option<DateTime<Utc>>,
    pub status: WishStatus,
    /// In the order they were made.
    pub proposals: Vec<Proposal>,
    /// Units of declined and expired proposals: never proposed to this wish again.
    pub declined_units: BTreeSet<UnitRef>,
    /// Proposals that expired since the last answer.
    pub unanswered_in_a_row: u32,
}

impl Wish {
    /// Confirmed and in the queue.
    pub fn is_waiting(&self) -> bool {
        self.status == WishStatus::Waiting
    }

    /// Not over: waiting, or still awaiting its confirmation.
    pub fn is_open(&self) -> bool {
        matches!(self.status, WishStatus::Waiting | WishStatus::PendingConfirmation)
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
            WishEvent::Confirmed(confirmed) => {
                if self.status == WishStatus::PendingConfirmation {
                    self.status = WishStatus::Waiting;
                    self.confirmed_at = Some(confirmed.confirmed_at);
                }
            }
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
            // Neither declined nor left unanswered: nothing counts against the wish.
            WishEvent::ProposalWithdrawn(closed) => {
                self.close(&closed.proposal, ProposalStatus::Withdrawn);
            }
            WishEvent::Ended(ended) => {
                if let Some(proposal) = &ended.proposal {
                    self.close(proposal, ProposalStatus::Withdrawn);
                }
                if self.is_open() {
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

    /// The open wish (waiting or awaiting confirmation) of `citizen` for the
    /// same set of `services`, if any.
    pub fn waiting_duplicate(&self, citizen: &EnvelopeId, services: &[ServiceId]) -> Option<WishId> {
        self.wishes
            .values()
            .find(|wish| wish.citizen.envelope_id == *citizen && wish.is_open() && wish.same_services(services))
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
    /// The link of the confirm-request mail; it works until `now + confirm_ttl`.
    pub confirm_link: IssuedLink,
    pub end_link: IssuedLink,
    /// How long the wish waits for its confirmation (`--confirm-ttl`).
    pub confirm_ttl: chrono::Duration,
    pub now: DateTime<Utc>,
}

/// The confirm link pressed: the wish joins the queue. Reads `wish:{wish}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmWish {
    pub wish: WishId,
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
/// waiting number, unless the citizen has a booking at that time. Reads
/// `wish:{wish}`, then [`WishState::numbers_stream`] and the wish's `citizen:` stream.
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

/// The lapse timers: a wish whose `until` has passed ends, and so does one
/// still unconfirmed at its `confirm_by`. Reads `wish:{wish}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LapseWish {
    pub wish: WishId,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WishCommand {
    Register(RegisterWish),
    Confirm(ConfirmWish),
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
            Self::Confirm(command) => command.wish,
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
    ConfirmWish => Confirm,
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
    #[error("wish {0} waits for its confirmation by mail link")]
    NotConfirmed(WishId),
    #[error("wish {wish} had to be confirmed by {confirm_by}")]
    ConfirmationExpired { wish: WishId, confirm_by: DateTime<Utc> },
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
    #[error("proposal {0} was withdrawn (its wish ended or the office closed its units)")]
    ProposalWithdrawn(ProposalId),
    #[error("all {MAX_WAITING_NUMBER} waiting numbers of {office} on {date} are handed out")]
    NumbersExhausted { office: OfficeId, date: LocalDate },
    /// Accepting would book the citizen twice at once (the rule of
    /// [`crate::BookingRequestError::OverlapsOwnBooking`]); the proposal stays open.
    #[error("the citizen's booking {booking} already covers part of the proposed time")]
    OverlapsOwnBooking { booking: BookingId },
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
            WishCommand::Confirm(confirm) => confirm_wish(confirm, state)?,
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
                        confirm_by: registered.confirm_by,
                        // A version-1 registration joined the queue at once.
                        confirmed_at: registered.waits_at_once().then_some(registered.registered_at),
                        status: if registered.waits_at_once() {
                            WishStatus::Waiting
                        } else {
                            WishStatus::PendingConfirmation
                        },
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
        confirm_link,
        end_link,
        confirm_ttl,
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
        links: vec![confirm_link.clone(), end_link.clone()],
        registered_at: *now,
        confirm_by: Some(*now + *confirm_ttl),
    })])
}

fn confirm_wish(command: &ConfirmWish, state: &WishState) -> Result<Vec<WishEvent>, WishError> {
    let wish = state.wish(&command.wish).ok_or(WishError::UnknownWish(command.wish))?;
    let expired = |confirm_by: Option<DateTime<Utc>>| WishError::ConfirmationExpired {
        wish: command.wish,
        confirm_by: confirm_by.unwrap_or(wish.registered_at),
    };
    // Pressed again, or the wish went on after its confirmation: done.
    if wish.confirmed_at.is_some() {
        return Ok(vec![]);
    }
    match wish.status {
        WishStatus::PendingConfirmation => match wish.confirm_by {
            Some(confirm_by) if command.now < confirm_by => Ok(vec![WishEvent::Confirmed(WishConfirmed {
                wish: wish.wish,
                citizen: wish.citizen.envelope_id,
                confirmed_at: command.now,
            })]),
            confirm_by => Err(expired(confirm_by)),
        },
        WishStatus::Ended(WishEndReason::Unconfirmed) => Err(expired(wish.confirm_by)),
        WishStatus::Ended(reason) => Err(WishError::WishEnded {
            wish: command.wish,
            reason,
        }),
        // Only a confirmed wish waits or is fulfilled (handled above).
        WishStatus::Waiting | WishStatus::Fulfilled { .. } => Ok(vec![]),
    }
}

/// The wish, if it still waits.
fn waiting_wish<'a>(state: &'a WishState, id: &WishId) -> Result<&'a Wish, WishError> {
    let wish = state.wish(id).ok_or(WishError::UnknownWish(*id))?;
    match wish.status {
        WishStatus::Waiting => Ok(wish),
        WishStatus::PendingConfirmation => Err(WishError::NotConfirmed(*id)),
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
    match wish_mismatch(wish, office, date, local_start) {
        Some(WishMismatch::Office) => {
            return Err(E::OfficeNotWished {
                wish: *wish_id,
                office: office.clone(),
            });
        }
        Some(WishMismatch::Window) => return Err(E::OutsideWindows { start: *start }),
        Some(WishMismatch::AfterUntil(until)) => return Err(E::AfterUntil { date, until }),
        None => {}
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
        // A wish has proposals only once confirmed, and never goes back.
        (_, WishStatus::PendingConfirmation) => Err(WishError::NotConfirmed(*wish)),
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
    let number = state
        .numbers
        .next_number(&proposal.office, date)
        .ok_or_else(|| WishError::NumbersExhausted {
            office: proposal.office.clone(),
            date,
        })?;
    // The citizen's bookings come from `citizen:{envelope}`, which the
    // acceptance reads and appends to: two acceptances (or a request and an
    // acceptance) of one citizen at once cannot both place overlapping bookings.
    let citizen = &wish.citizen.envelope_id;
    if let Some(booking) = state
        .catalogue
        .overlapping_booking(citizen, proposal.start, proposal.end)
    {
        return Err(WishError::OverlapsOwnBooking { booking });
    }
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
        // Withdrawn before it was confirmed: it never joined the queue.
        Err(WishError::NotConfirmed(_)) => {
            let wish = state.wish(&command.wish).ok_or(WishError::UnknownWish(command.wish))?;
            Ok(vec![ended(wish, WishEndReason::Citizen, None)])
        }
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
    // Like the expiry timer: anything but an open wish past its date is done.
    let past = |moment: Option<DateTime<Utc>>| moment.is_some_and(|moment| command.now >= moment);
    Ok(match wish.status {
        WishStatus::PendingConfirmation if past(wish.confirm_by) => {
            vec![ended(wish, WishEndReason::Unconfirmed, None)]
        }
        WishStatus::Waiting | WishStatus::PendingConfirmation if past(wish.lapses_at) => {
            vec![ended(wish, WishEndReason::UntilPassed, wish.open_proposal())]
        }
        _ => vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{
        BookingCancelled, BookingCommand, BookingConfirmed, BookingEvent, BookingPolicy, BookingRequestError,
        BookingRequested, CancelBooking, ConfirmBooking, LinkAction, RequestBooking, UnitHolder,
    };
    use crate::catalogue::{CapacityPublished, CatalogueEvent, OfficeDetails, ServiceDetails};
    use crate::testing::fixtures::{at, booking_id, date, now, sealed, time, utc};
    use crate::testing::{given, given_no_events};
    use chrono::Weekday;
    use proptest::prelude::*;
    use serde_json::json;
    use ulid::Ulid;

    /// A Tuesday.
    const DAY: &str = "2026-12-01";
    const PA: &str = "personalausweis";
    const RP: &str = "reisepass";

    fn mitte() -> OfficeId {
        "bss-mitte".parse().unwrap()
    }

    fn walsum() -> OfficeId {
        "bss-walsum".parse().unwrap()
    }

    fn office(id: OfficeId, zone: &str) -> BookingInput {
        CatalogueEvent::OfficeRegistered(OfficeDetails {
            office: id,
            name: "Bürger-Service-Station".parse().unwrap(),
            address: "Duisburg".parse().unwrap(),
            timezone: zone.parse().unwrap(),
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

    /// Two lanes of 12-minute units 08:00–12:00 at Mitte on `day`.
    fn capacity(day: &str) -> BookingInput {
        CatalogueEvent::CapacityPublished(CapacityPublished {
            office: mitte(),
            date: date(day),
            from: time("08:00"),
            to: time("12:00"),
            unit_minutes: 12,
            lanes: 2,
            first_lane: 1,
            units: 40,
        })
        .into()
    }

    fn catalogue() -> Vec<BookingInput> {
        vec![
            office(mitte(), "Europe/Berlin"),
            office(walsum(), "Europe/Berlin"),
            service(PA, 12),
            service(RP, 12),
            capacity(DAY),
        ]
    }

    /// The catalogue, then `events`.
    fn with(events: impl IntoIterator<Item = impl Into<BookingInput>>) -> Vec<BookingInput> {
        catalogue()
            .into_iter()
            .chain(events.into_iter().map(Into::into))
            .collect()
    }

    fn wish_id(n: u64) -> WishId {
        WishId::from_ulid(Ulid::from_parts(n, 3))
    }

    fn proposal_id(n: u64) -> ProposalId {
        ProposalId::from_ulid(Ulid::from_parts(n, 4))
    }

    fn link(action: LinkAction, hash_digit: char) -> IssuedLink {
        IssuedLink {
            action,
            token_hash: hash_digit.to_string().repeat(64),
            expires_at: utc("2027-01-01T00:00:00Z"),
        }
    }

    /// Tuesdays 08:00–09:59.
    fn windows() -> WeeklyWindows {
        WeeklyWindows::new([(Weekday::Tue, 8), (Weekday::Tue, 9)]).unwrap()
    }

    fn unit(lane: u16, start: &str) -> UnitRef {
        UnitRef {
            office: mitte(),
            date: date(DAY),
            lane,
            start: time(start),
        }
    }

    /// Wish `n` of `citizen` for `services` at Mitte and Walsum, Tuesdays 8–10.
    fn register_for(n: u64, citizen: u64, services: &[&str]) -> RegisterWish {
        RegisterWish {
            wish: wish_id(n),
            offices: vec![mitte(), walsum()],
            services: services.iter().map(|s| s.parse().unwrap()).collect(),
            windows: windows(),
            until: None,
            citizen: sealed(citizen),
            confirm_link: link(LinkAction::ConfirmWish, 'w'),
            end_link: link(LinkAction::EndWish, 'e'),
            confirm_ttl: confirm_ttl(),
            now: now(),
        }
    }

    fn confirm_ttl() -> chrono::Duration {
        chrono::Duration::minutes(30)
    }

    fn register(n: u64) -> RegisterWish {
        register_for(n, n, &[PA])
    }

    /// What `command` registers: a wish awaiting its confirmation.
    fn registered_by(command: &RegisterWish, lapses_at: Option<DateTime<Utc>>) -> WishEvent {
        WishEvent::Registered(WishRegistered {
            wish: command.wish,
            offices: command.offices.clone(),
            services: command.services.clone(),
            windows: command.windows,
            until: command.until,
            lapses_at,
            citizen: command.citizen.clone(),
            links: vec![command.confirm_link.clone(), command.end_link.clone()],
            registered_at: command.now,
            confirm_by: Some(command.now + command.confirm_ttl),
        })
    }

    /// Wish `n`, waiting: a version-1 registration (from before double
    /// opt-in), which joined the queue at once. Replaying old logs the same
    /// is part of what every test built on it checks.
    fn registered(n: u64) -> WishEvent {
        waiting_by(&register(n), None)
    }

    /// What `command` would have registered before double opt-in (version 1):
    /// a wish waiting at once.
    fn waiting_by(command: &RegisterWish, lapses_at: Option<DateTime<Utc>>) -> WishEvent {
        let WishEvent::Registered(pending) = registered_by(command, lapses_at) else {
            unreachable!()
        };
        WishEvent::Registered(WishRegistered {
            links: vec![command.end_link.clone()],
            confirm_by: None,
            ..pending
        })
    }

    /// Wish `n` registered now, awaiting its confirmation.
    fn pending(n: u64) -> WishEvent {
        registered_by(&register(n), None)
    }

    fn confirmed_at(n: u64, at: DateTime<Utc>) -> WishEvent {
        WishEvent::Confirmed(WishConfirmed {
            wish: wish_id(n),
            citizen: sealed(n).envelope_id,
            confirmed_at: at,
        })
    }

    fn confirm_at(n: u64, now: DateTime<Utc>) -> WishCommand {
        ConfirmWish { wish: wish_id(n), now }.into()
    }

    fn proposal_links() -> Vec<IssuedLink> {
        vec![
            link(LinkAction::AcceptProposal, 'a'),
            link(LinkAction::DeclineProposal, 'd'),
            link(LinkAction::EndWish, 'e'),
        ]
    }

    fn propose_at(wish: u64, proposal: u64, start: DateTime<Utc>, lane: u16) -> WishCommand {
        ProposeUnits {
            proposal: proposal_id(proposal),
            wish: wish_id(wish),
            office: mitte(),
            start,
            lane,
            links: proposal_links(),
            now: now(),
            policy: WishPolicy::default(),
        }
        .into()
    }

    fn propose(wish: u64, proposal: u64, lane: u16, start: &str) -> WishCommand {
        propose_at(wish, proposal, at(DAY, start), lane)
    }

    /// Proposal `proposal` to `wish` of `units` (lane, local start) on DAY, ending at local `end`.
    fn made_of(wish: u64, proposal: u64, units: &[(u16, &str)], end: &str) -> WishEvent {
        WishEvent::ProposalMade(ProposalMade {
            proposal: proposal_id(proposal),
            wish: wish_id(wish),
            office: mitte(),
            units: units.iter().map(|&(lane, start)| unit(lane, start)).collect(),
            start: at(DAY, units[0].1),
            end: at(DAY, end),
            expires_at: now() + chrono::Duration::days(2),
            links: proposal_links(),
        })
    }

    /// A one-unit proposal.
    fn made(wish: u64, proposal: u64, lane: u16, start: &str) -> WishEvent {
        let end = time(start).add_minutes(12).unwrap().to_string();
        made_of(wish, proposal, &[(lane, start)], &end)
    }

    fn expires_at() -> DateTime<Utc> {
        now() + chrono::Duration::days(2)
    }

    fn parts(made: &WishEvent) -> &ProposalMade {
        match made {
            WishEvent::ProposalMade(made) => made,
            other => panic!("not a proposal: {other:?}"),
        }
    }

    fn closed_of(made: &WishEvent) -> ProposalClosed {
        let made = parts(made);
        ProposalClosed {
            proposal: made.proposal,
            wish: made.wish,
            units: made.units.clone(),
        }
    }

    fn declined(made: &WishEvent) -> WishEvent {
        WishEvent::ProposalDeclined(closed_of(made))
    }

    fn expired(made: &WishEvent) -> WishEvent {
        WishEvent::ProposalExpired(closed_of(made))
    }

    fn accept_at(wish: u64, proposal: u64, booking: u64, now: DateTime<Utc>) -> WishCommand {
        AcceptProposal {
            wish: wish_id(wish),
            proposal: proposal_id(proposal),
            booking: booking_id(booking),
            checkin_code_hash: "c".repeat(64),
            cancel_link: link(LinkAction::CancelBooking, 'x'),
            now,
        }
        .into()
    }

    fn accept(wish: u64, proposal: u64, booking: u64) -> WishCommand {
        accept_at(wish, proposal, booking, now())
    }

    /// `made` (of wish `n`, registered by [`register`]) accepted as booking `booking`.
    fn accepted(made: &WishEvent, booking: u64, number: u32) -> WishEvent {
        let made = parts(made);
        WishEvent::ProposalAccepted(ProposalAccepted {
            proposal: made.proposal,
            wish: made.wish,
            booking: booking_id(booking),
            office: made.office.clone(),
            services: vec![PA.parse().unwrap()],
            units: made.units.clone(),
            start: made.start,
            end: made.end,
            date: made.units[0].date,
            number: WaitingNumber::nth(number).unwrap(),
            citizen: sealed(made.wish.as_ulid().timestamp_ms()),
            checkin_code_hash: "c".repeat(64),
            links: vec![link(LinkAction::CancelBooking, 'x')],
        })
    }

    fn decline_at(wish: u64, proposal: u64, now: DateTime<Utc>) -> WishCommand {
        DeclineProposal {
            wish: wish_id(wish),
            proposal: proposal_id(proposal),
            now,
        }
        .into()
    }

    fn decline(wish: u64, proposal: u64) -> WishCommand {
        decline_at(wish, proposal, now())
    }

    fn expire_at(wish: u64, proposal: u64, now: DateTime<Utc>) -> WishCommand {
        ExpireProposal {
            wish: wish_id(wish),
            proposal: proposal_id(proposal),
            now,
            policy: WishPolicy::default(),
        }
        .into()
    }

    fn end(wish: u64) -> WishCommand {
        EndWish { wish: wish_id(wish) }.into()
    }

    fn lapse_at(wish: u64, now: DateTime<Utc>) -> WishCommand {
        LapseWish {
            wish: wish_id(wish),
            now,
        }
        .into()
    }

    /// Wish `n` (citizen `n`) ended for `reason`, withdrawing `open` if given.
    fn ended(n: u64, reason: WishEndReason, open: Option<&WishEvent>) -> WishEvent {
        WishEvent::Ended(WishEnded {
            wish: wish_id(n),
            reason,
            citizen: sealed(n).envelope_id,
            proposal: open.map(|made| parts(made).proposal),
            units: open.map(|made| parts(made).units.clone()).unwrap_or_default(),
        })
    }

    fn into_inputs(events: impl IntoIterator<Item = WishEvent>) -> Vec<BookingInput> {
        events.into_iter().map(BookingInput::from).collect()
    }

    // --- registering ---------------------------------------------------------------

    #[test]
    fn a_wish_is_registered_awaiting_confirmation_with_its_confirm_and_end_links() {
        given::<WishDecider>(catalogue())
            .when(register(1).into())
            .then(into_inputs([pending(1)]));
        let WishEvent::Registered(event) = pending(1) else {
            unreachable!()
        };
        assert_eq!(event.confirm_by, Some(now() + confirm_ttl()));
        assert_eq!(WishEvent::Registered(event).schema_version(), 2);
        assert_eq!(registered(1).schema_version(), 1);
        let state = fold(with([pending(1)]));
        let wish = state.wish(&wish_id(1)).unwrap();
        assert_eq!(
            (wish.status, wish.confirmed_at),
            (WishStatus::PendingConfirmation, None)
        );
    }

    fn fold(events: Vec<BookingInput>) -> WishState {
        events.iter().fold(WishState::default(), WishDecider::evolve)
    }

    // --- confirming (double opt-in) ------------------------------------------------

    #[test]
    fn an_unconfirmed_wish_gets_no_proposal() {
        given::<WishDecider>(with([pending(1)]))
            .when(propose(1, 1, 1, "08:00"))
            .then_error(WishError::NotConfirmed(wish_id(1)));
    }

    #[test]
    fn confirming_puts_the_wish_in_the_queue_at_the_time_of_confirmation() {
        let later = now() + chrono::Duration::minutes(10);
        given::<WishDecider>(with([pending(1)]))
            .when(confirm_at(1, later))
            .then(into_inputs([confirmed_at(1, later)]));
        let state = fold(with([pending(1), confirmed_at(1, later)]));
        let wish = state.wish(&wish_id(1)).unwrap();
        assert_eq!((wish.status, wish.confirmed_at), (WishStatus::Waiting, Some(later)));
        // Confirmed, it may be proposed units.
        given::<WishDecider>(with([pending(1), confirmed_at(1, later)]))
            .when(propose(1, 1, 1, "08:00"))
            .then(into_inputs([made(1, 1, 1, "08:00")]));
    }

    #[test]
    fn pressing_the_confirm_link_twice_changes_nothing() {
        let first = now() + chrono::Duration::minutes(1);
        given::<WishDecider>(with([pending(1), confirmed_at(1, first)]))
            .when(confirm_at(1, first + chrono::Duration::minutes(5)))
            .then(vec![]);
        // Also after the TTL, and after the wish went on (a proposal, its end).
        given::<WishDecider>(with([
            pending(1),
            confirmed_at(1, first),
            ended(1, WishEndReason::Citizen, None),
        ]))
        .when(confirm_at(1, now() + chrono::Duration::days(1)))
        .then(vec![]);
        // A version-1 wish needs no confirmation: pressing is done already.
        given::<WishDecider>(with([registered(1)]))
            .when(confirm_at(1, now()))
            .then(vec![]);
    }

    #[test]
    fn a_confirmation_after_the_ttl_is_refused_and_the_wish_lapses() {
        let confirm_by = now() + confirm_ttl();
        let late = WishError::ConfirmationExpired {
            wish: wish_id(1),
            confirm_by,
        };
        given::<WishDecider>(with([pending(1)]))
            .when(confirm_at(1, confirm_by))
            .then_error(late.clone());
        // The timer: not before the TTL, then once.
        given::<WishDecider>(with([pending(1)]))
            .when(lapse_at(1, confirm_by - chrono::Duration::seconds(1)))
            .then(vec![]);
        given::<WishDecider>(with([pending(1)]))
            .when(lapse_at(1, confirm_by))
            .then(into_inputs([ended(1, WishEndReason::Unconfirmed, None)]));
        let lapsed = with([pending(1), ended(1, WishEndReason::Unconfirmed, None)]);
        given::<WishDecider>(lapsed.clone())
            .when(lapse_at(1, confirm_by))
            .then(vec![]);
        given::<WishDecider>(lapsed.clone())
            .when(confirm_at(1, now()))
            .then_error(late);
        // A confirmed wish does not lapse for want of a confirmation.
        given::<WishDecider>(with([pending(1), confirmed_at(1, now())]))
            .when(lapse_at(1, confirm_by + chrono::Duration::days(1)))
            .then(vec![]);
        // A lapsed wish is no duplicate: the citizen may register again.
        given::<WishDecider>(lapsed)
            .when(register_for(2, 1, &[PA]).into())
            .then(into_inputs([registered_by(&register_for(2, 1, &[PA]), None)]));
    }

    #[test]
    fn a_pending_wish_counts_as_a_duplicate_and_may_be_ended() {
        given::<WishDecider>(with([pending(1)]))
            .when(register_for(2, 1, &[PA]).into())
            .then_error(WishError::DuplicateWish { existing: wish_id(1) });
        given::<WishDecider>(with([pending(1)]))
            .when(end(1))
            .then(into_inputs([ended(1, WishEndReason::Citizen, None)]));
        given::<WishDecider>(with([pending(1), ended(1, WishEndReason::Citizen, None)]))
            .when(confirm_at(1, now()))
            .then_error(WishError::WishEnded {
                wish: wish_id(1),
                reason: WishEndReason::Citizen,
            });
    }

    #[test]
    fn a_version_1_registration_decodes_as_waiting_at_once() {
        let stored = json!({
            "wish": wish_id(1).to_string(),
            "offices": ["bss-mitte"],
            "services": [PA],
            "windows": serde_json::to_value(windows()).unwrap(),
            "until": null,
            "lapses_at": null,
            "citizen": serde_json::to_value(sealed(1)).unwrap(),
            "links": [],
            "registered_at": "2026-11-20T10:00:00Z"
        });
        let event = WishEvent::from_stored_json("wish.registered", &stored.to_string()).unwrap();
        let WishEvent::Registered(registered) = &event else {
            panic!("{event:?}")
        };
        assert!(registered.waits_at_once());
        let state = fold(with([event.clone()]));
        let wish = state.wish(&wish_id(1)).unwrap();
        assert_eq!(wish.status, WishStatus::Waiting);
        assert_eq!(wish.confirmed_at, Some(utc("2026-11-20T10:00:00Z")));
    }

    #[test]
    fn until_sets_when_the_wish_lapses_at_its_westernmost_office() {
        let command = RegisterWish {
            until: Some(date("2026-12-31")),
            ..register(1)
        };
        // Midnight after the 31st in Berlin is 23:00 UTC.
        given::<WishDecider>(catalogue())
            .when(command.clone().into())
            .then(into_inputs([registered_by(
                &command,
                Some(utc("2026-12-31T23:00:00Z")),
            )]));
        // An office in London keeps the date an hour longer.
        let london: OfficeId = "london".parse().unwrap();
        let wider = RegisterWish {
            offices: vec![mitte(), london.clone()],
            ..command
        };
        given::<WishDecider>(with([office(london, "Europe/London")]))
            .when(wider.clone().into())
            .then(into_inputs([registered_by(&wider, Some(utc("2027-01-01T00:00:00Z")))]));
    }

    #[test]
    fn an_until_already_over_is_refused() {
        // Today (2026-11-20) is still a valid last date; yesterday is not.
        for (until, ok) in [("2026-11-19", false), ("2026-11-20", true)] {
            let command = RegisterWish {
                until: Some(date(until)),
                ..register(1)
            };
            let outcome = given::<WishDecider>(catalogue()).when(command.into()).into_result();
            assert_eq!(outcome.is_ok(), ok, "{until}: {outcome:?}");
            if !ok {
                assert_eq!(outcome, Err(WishError::UntilPassed { until: date(until) }));
            }
        }
    }

    #[test]
    fn offices_and_services_are_checked() {
        let offices = |offices: Vec<OfficeId>| RegisterWish { offices, ..register(1) };
        let many: Vec<OfficeId> = (1..=21).map(|n| format!("office-{n}").parse().unwrap()).collect();
        let cases = [
            (offices(vec![]), WishError::OfficeCount(0)),
            (offices(many), WishError::OfficeCount(21)),
            (
                offices(vec![mitte(), walsum(), mitte()]),
                WishError::DuplicateOffice(mitte()),
            ),
            (
                offices(vec![mitte(), "rheinhausen".parse().unwrap()]),
                WishError::UnknownOffice("rheinhausen".parse().unwrap()),
            ),
            (register_for(1, 1, &[]), WishError::ServiceCount(0)),
            (register_for(1, 1, &[PA; 11]), WishError::ServiceCount(11)),
            (
                register_for(1, 1, &[PA, RP, PA]),
                WishError::DuplicateService(PA.parse().unwrap()),
            ),
            (
                register_for(1, 1, &[PA, "fuehrerschein"]),
                WishError::UnknownService("fuehrerschein".parse().unwrap()),
            ),
        ];
        for (command, error) in cases {
            given::<WishDecider>(catalogue()).when(command.into()).then_error(error);
        }
        given_no_events::<WishDecider>()
            .when(register(1).into())
            .then_error(WishError::UnknownOffice(mitte()));
    }

    #[test]
    fn a_second_waiting_wish_for_the_same_services_is_a_duplicate() {
        let first = registered_by(&register_for(1, 1, &[PA, RP]), None);
        // The same set in another order, with other offices and windows.
        let again = RegisterWish {
            offices: vec![walsum()],
            windows: WeeklyWindows::new([(Weekday::Fri, 12)]).unwrap(),
            ..register_for(2, 1, &[RP, PA])
        };
        given::<WishDecider>(with([first.clone()]))
            .when(again.into())
            .then_error(WishError::DuplicateWish { existing: wish_id(1) });
        // Another set of services, or another citizen, is another wish.
        for other in [register_for(2, 1, &[PA]), register_for(2, 2, &[PA, RP])] {
            given::<WishDecider>(with([first.clone()]))
                .when(other.clone().into())
                .then(into_inputs([registered_by(&other, None)]));
        }
    }

    #[test]
    fn an_ended_or_fulfilled_wish_does_not_block_a_new_one() {
        let proposal = made(1, 1, 1, "08:00");
        let histories = [
            vec![registered(1), ended(1, WishEndReason::Citizen, None)],
            vec![registered(1), proposal.clone(), accepted(&proposal, 1, 1)],
        ];
        let again = register(2);
        let again = RegisterWish {
            citizen: sealed(1),
            ..again
        };
        for history in histories {
            given::<WishDecider>(with(history))
                .when(again.clone().into())
                .then(into_inputs([registered_by(&again, None)]));
        }
    }

    #[test]
    fn registering_the_same_wish_again_changes_nothing() {
        given::<WishDecider>(with([registered(1)]))
            .when(register(1).into())
            .then([]);
    }

    // --- proposing -----------------------------------------------------------------

    #[test]
    fn free_matching_units_are_proposed_and_held_for_two_days() {
        given::<WishDecider>(with([registered(1)]))
            .when(propose(1, 1, 1, "08:00"))
            .then(into_inputs([made(1, 1, 1, "08:00")]));
        given::<WishDecider>(with([registered(1)]))
            .when(propose(1, 1, 2, "09:48"))
            .then(into_inputs([made(1, 1, 2, "09:48")]));
    }

    #[test]
    fn two_services_take_two_consecutive_units_of_the_lane() {
        let both = waiting_by(&register_for(1, 1, &[PA, RP]), None);
        given::<WishDecider>(with([both]))
            .when(propose(1, 1, 2, "09:48"))
            .then(into_inputs([made_of(1, 1, &[(2, "09:48"), (2, "10:00")], "10:12")]));
    }

    #[test]
    fn a_proposal_expires_no_later_than_its_start() {
        let soon = ProposeUnits {
            now: at(DAY, "07:00"),
            ..match propose(1, 1, 1, "08:00") {
                WishCommand::Propose(propose) => propose,
                _ => unreachable!(),
            }
        };
        let events = WishDecider::decide(&soon.into(), &WishDecider::fold(&with([registered(1)]))).unwrap();
        let [BookingInput::Wish(WishEvent::ProposalMade(made))] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(made.expires_at, at(DAY, "08:00"));
    }

    #[test]
    fn units_that_do_not_match_the_wish_are_refused() {
        let until_before = RegisterWish {
            until: Some(date("2026-11-30")),
            ..register(2)
        };
        // An office of the catalogue that neither wish asks for.
        let history = with([
            office("rheinhausen".parse().unwrap(), "Europe/Berlin"),
            registered(1).into(),
            waiting_by(&until_before, Some(utc("2026-11-30T23:00:00Z"))).into(),
        ]);
        let elsewhere = match propose(1, 1, 1, "08:00") {
            WishCommand::Propose(command) => ProposeUnits {
                office: "rheinhausen".parse().unwrap(),
                ..command
            },
            _ => unreachable!(),
        };
        let cases = [
            (
                elsewhere.into(),
                WishError::OfficeNotWished {
                    wish: wish_id(1),
                    office: "rheinhausen".parse().unwrap(),
                },
            ),
            (
                propose(1, 1, 1, "10:00"),
                WishError::OutsideWindows {
                    start: at(DAY, "10:00"),
                },
            ),
            (
                propose(2, 1, 1, "08:00"),
                WishError::AfterUntil {
                    date: date(DAY),
                    until: date("2026-11-30"),
                },
            ),
            (
                propose_at(1, 1, now(), 1),
                WishError::StartNotInFuture {
                    start: now(),
                    now: now(),
                },
            ),
            (
                propose(1, 1, 3, "08:00"),
                WishError::NoSuchUnits {
                    office: mitte(),
                    lane: 3,
                    start: at(DAY, "08:00"),
                },
            ),
            (
                propose(1, 1, 1, "08:06"),
                WishError::NoSuchUnits {
                    office: mitte(),
                    lane: 1,
                    start: at(DAY, "08:06"),
                },
            ),
            (
                propose_at(1, 1, at("2026-12-08", "08:00"), 1),
                WishError::NoSuchUnits {
                    office: mitte(),
                    lane: 1,
                    start: at("2026-12-08", "08:00"),
                },
            ),
            (propose(3, 1, 1, "08:00"), WishError::UnknownWish(wish_id(3))),
        ];
        for (command, error) in cases {
            given::<WishDecider>(history.clone()).when(command).then_error(error);
        }
        // Walsum is wished but publishes nothing; its office is known though.
        let walsum_units = match propose(1, 1, 1, "08:00") {
            WishCommand::Propose(command) => ProposeUnits {
                office: walsum(),
                ..command
            },
            _ => unreachable!(),
        };
        given::<WishDecider>(history)
            .when(walsum_units.into())
            .then_error(WishError::NoSuchUnits {
                office: walsum(),
                lane: 1,
                start: at(DAY, "08:00"),
            });
    }

    #[test]
    fn a_wish_has_at_most_one_open_proposal() {
        let open = made(1, 1, 1, "08:00");
        given::<WishDecider>(with([registered(1), open.clone()]))
            .when(propose(1, 2, 2, "08:00"))
            .then_error(WishError::ProposalOpen {
                wish: wish_id(1),
                proposal: proposal_id(1),
            });
        // Also once it is past its expiry but the timer has not expired it yet.
        let later = ProposeUnits {
            now: expires_at(),
            ..match propose(1, 2, 2, "08:00") {
                WishCommand::Propose(command) => command,
                _ => unreachable!(),
            }
        };
        given::<WishDecider>(with([registered(1), open.clone()]))
            .when(later.into())
            .then_error(WishError::ProposalOpen {
                wish: wish_id(1),
                proposal: proposal_id(1),
            });
        // Once answered, the next one may come.
        given::<WishDecider>(with([registered(1), open.clone(), declined(&open)]))
            .when(propose(1, 2, 2, "08:00"))
            .then(into_inputs([made(1, 2, 2, "08:00")]));
    }

    #[test]
    fn proposing_the_same_proposal_again_changes_nothing() {
        given::<WishDecider>(with([registered(1), made(1, 1, 1, "08:00")]))
            .when(propose(1, 1, 1, "08:00"))
            .then([]);
    }

    #[test]
    fn held_units_are_not_proposed() {
        // Held by another wish's proposal.
        given::<WishDecider>(with([registered(1), registered(2), made(2, 9, 1, "08:00")]))
            .when(propose(1, 1, 1, "08:00"))
            .then_error(WishError::UnitTaken(unit(1, "08:00")));
        // Held by a booking: the second unit of the run.
        let both = waiting_by(&register_for(1, 1, &[PA, RP]), None);
        given::<WishDecider>(with([both.into(), booking_on(7, 1, "08:12")]))
            .when(propose(1, 1, 1, "08:00"))
            .then_error(WishError::UnitTaken(unit(1, "08:12")));
    }

    #[test]
    fn units_declined_or_expired_before_are_not_proposed_to_that_wish_again() {
        let first = made(1, 1, 1, "08:00");
        for answer in [declined(&first), expired(&first)] {
            let history = with([registered(1), registered(2), first.clone(), answer]);
            given::<WishDecider>(history.clone())
                .when(propose(1, 2, 1, "08:00"))
                .then_error(WishError::DeclinedBefore(unit(1, "08:00")));
            // Other units are fine, and so is the unit for another wish.
            given::<WishDecider>(history.clone())
                .when(propose(1, 2, 2, "08:00"))
                .then(into_inputs([made(1, 2, 2, "08:00")]));
            given::<WishDecider>(history)
                .when(propose(2, 2, 1, "08:00"))
                .then(into_inputs([made(2, 2, 1, "08:00")]));
        }
        // A run overlapping a declined unit is refused too.
        let both = waiting_by(&register_for(1, 1, &[PA, RP]), None);
        let run = made_of(1, 1, &[(1, "08:12"), (1, "08:24")], "08:36");
        given::<WishDecider>(with([both, run.clone(), declined(&run)]))
            .when(propose(1, 2, 1, "08:00"))
            .then_error(WishError::DeclinedBefore(unit(1, "08:12")));
    }

    #[test]
    fn only_a_waiting_wish_gets_proposals() {
        let first = made(1, 1, 1, "08:00");
        given::<WishDecider>(with([registered(1), ended(1, WishEndReason::Citizen, None)]))
            .when(propose(1, 2, 2, "08:00"))
            .then_error(WishError::WishEnded {
                wish: wish_id(1),
                reason: WishEndReason::Citizen,
            });
        given::<WishDecider>(with([registered(1), first.clone(), accepted(&first, 5, 1)]))
            .when(propose(1, 2, 2, "08:00"))
            .then_error(WishError::WishFulfilled {
                wish: wish_id(1),
                booking: booking_id(5),
            });
    }

    #[test]
    fn a_proposal_reads_the_units_of_its_lane_run() {
        let both = waiting_by(&register_for(1, 1, &[PA, RP]), None);
        let state = WishDecider::fold(&with([both]));
        assert_eq!(
            state.units_to_read(&wish_id(1), &mitte(), at(DAY, "08:00"), 2),
            [unit(2, "08:00"), unit(2, "08:12")]
        );
        assert!(
            state
                .units_to_read(&wish_id(1), &mitte(), at(DAY, "11:48"), 2)
                .is_empty()
        );
        assert!(
            state
                .units_to_read(&wish_id(2), &mitte(), at(DAY, "08:00"), 2)
                .is_empty()
        );
    }

    // --- answering -----------------------------------------------------------------

    /// A booking of citizen 9 holding one unit of DAY.
    fn booking_on(n: u64, lane: u16, start: &str) -> BookingInput {
        BookingEvent::Requested(BookingRequested {
            booking: booking_id(n),
            office: mitte(),
            services: vec![PA.parse().unwrap()],
            units: vec![unit(lane, start)],
            start: at(DAY, start),
            end: at(DAY, start) + chrono::Duration::minutes(12),
            citizen: sealed(9),
            confirm_by: now() + chrono::Duration::hours(2),
            links: vec![],
        })
        .into()
    }

    fn confirmed(n: u64, number: u32) -> BookingInput {
        BookingEvent::Confirmed(BookingConfirmed {
            booking: booking_id(n),
            office: mitte(),
            date: date(DAY),
            number: WaitingNumber::nth(number).unwrap(),
            checkin_code_hash: "c".repeat(64),
            links: vec![],
        })
        .into()
    }

    #[test]
    fn accepting_places_a_confirmed_booking_with_the_next_waiting_number() {
        let proposal = made(1, 1, 1, "08:00");
        given::<WishDecider>(with([registered(1), proposal.clone()]))
            .when(accept(1, 1, 5))
            .then(into_inputs([accepted(&proposal, 5, 1)]));
        // As the accept link reads it: the wish's stream, then the day's numbers.
        let state = WishDecider::fold(&with([registered(1), proposal.clone()]));
        assert_eq!(
            state.numbers_stream(&wish_id(1), &proposal_id(1)).unwrap().as_str(),
            "numbers:bss-mitte:2026-12-01"
        );
        let history = with([
            registered(1).into(),
            proposal.clone().into(),
            confirmed(7, 1),
            confirmed(8, 2),
        ]);
        given::<WishDecider>(history)
            .when(accept(1, 1, 5))
            .then(into_inputs([accepted(&proposal, 5, 3)]));
    }

    #[test]
    fn accepting_is_refused_while_the_citizen_has_a_booking_at_that_time() {
        let proposal = made(1, 1, 1, "08:00");
        // Wish 1 is citizen 1's; `booking_on` books for citizen 9.
        let of_citizen = |booking: BookingInput, citizen: u64| match booking {
            BookingInput::Booking(BookingEvent::Requested(requested)) => BookingEvent::Requested(BookingRequested {
                citizen: sealed(citizen),
                ..requested
            })
            .into(),
            other => other,
        };
        let own = of_citizen(booking_on(7, 2, "08:06"), 1);
        // As the accept link reads it: the wish, the day's numbers, the citizen's stream.
        given::<WishDecider>(with([registered(1).into(), proposal.clone().into(), own.clone()]))
            .when(accept(1, 1, 5))
            .then_error(WishError::OverlapsOwnBooking { booking: booking_id(7) });
        let cancelled = BookingEvent::Cancelled(BookingCancelled {
            booking: booking_id(7),
            units: vec![unit(2, "08:06")],
            citizen: Some(sealed(1).envelope_id),
            reason: None,
        });
        let harmless = [
            own,
            cancelled.into(),
            of_citizen(booking_on(8, 2, "08:12"), 1),
            booking_on(9, 3, "08:00"),
        ];
        given::<WishDecider>(with(
            [registered(1).into(), proposal.clone().into()]
                .into_iter()
                .chain(harmless),
        ))
        .when(accept(1, 1, 5))
        .then(into_inputs([accepted(&proposal, 5, 1)]));
    }

    #[test]
    fn a_link_pressed_again_says_already_done_and_a_superseded_one_is_refused() {
        let proposal = made(1, 1, 1, "08:00");
        let accepted_history = with([registered(1), proposal.clone(), accepted(&proposal, 5, 1)]);
        given::<WishDecider>(accepted_history.clone())
            .when(accept(1, 1, 6))
            .then([]);
        given::<WishDecider>(accepted_history.clone())
            .when(decline(1, 1))
            .then_error(WishError::ProposalAccepted {
                proposal: proposal_id(1),
                booking: booking_id(5),
            });
        given::<WishDecider>(accepted_history)
            .when(end(1))
            .then_error(WishError::WishFulfilled {
                wish: wish_id(1),
                booking: booking_id(5),
            });

        let declined_history = with([registered(1), proposal.clone(), declined(&proposal)]);
        given::<WishDecider>(declined_history.clone())
            .when(decline(1, 1))
            .then([]);
        given::<WishDecider>(declined_history)
            .when(accept(1, 1, 5))
            .then_error(WishError::ProposalDeclined(proposal_id(1)));
    }

    #[test]
    fn an_answer_after_the_expiry_is_too_late() {
        let proposal = made(1, 1, 1, "08:00");
        let too_late = WishError::ProposalExpired {
            proposal: proposal_id(1),
            expires_at: expires_at(),
        };
        // Expired by the timer, or not yet but past the time.
        for (history, at) in [
            (with([registered(1), proposal.clone(), expired(&proposal)]), now()),
            (with([registered(1), proposal.clone()]), expires_at()),
        ] {
            given::<WishDecider>(history.clone())
                .when(accept_at(1, 1, 5, at))
                .then_error(too_late.clone());
            given::<WishDecider>(history)
                .when(decline_at(1, 1, at))
                .then_error(too_late.clone());
        }
        // A second before, it is still in time.
        given::<WishDecider>(with([registered(1), proposal.clone()]))
            .when(decline_at(1, 1, expires_at() - chrono::Duration::seconds(1)))
            .then(into_inputs([declined(&proposal)]));
    }

    #[test]
    fn links_of_an_ended_wish_are_void() {
        let proposal = made(1, 1, 1, "08:00");
        let withdrawn = with([
            registered(1),
            proposal.clone(),
            ended(1, WishEndReason::Citizen, Some(&proposal)),
        ]);
        let gone = WishError::WishEnded {
            wish: wish_id(1),
            reason: WishEndReason::Citizen,
        };
        for command in [accept(1, 1, 5), decline(1, 1)] {
            given::<WishDecider>(withdrawn.clone())
                .when(command)
                .then_error(gone.clone());
        }
        // Even the decline link of a proposal declined before the end.
        let earlier = with([
            registered(1),
            proposal.clone(),
            declined(&proposal),
            ended(1, WishEndReason::Citizen, None),
        ]);
        given::<WishDecider>(earlier).when(decline(1, 1)).then_error(gone);
        given::<WishDecider>(with([registered(1)]))
            .when(decline(1, 7))
            .then_error(WishError::UnknownProposal {
                wish: wish_id(1),
                proposal: proposal_id(7),
            });
    }

    #[test]
    fn the_expiry_timer_expires_only_a_due_open_proposal() {
        let proposal = made(1, 1, 1, "08:00");
        let open = with([registered(1), proposal.clone()]);
        given::<WishDecider>(open.clone())
            .when(expire_at(1, 1, expires_at() - chrono::Duration::seconds(1)))
            .then([]);
        given::<WishDecider>(open)
            .when(expire_at(1, 1, expires_at()))
            .then(into_inputs([expired(&proposal)]));
        for answered in [declined(&proposal), accepted(&proposal, 5, 1), expired(&proposal)] {
            given::<WishDecider>(with([registered(1), proposal.clone(), answered]))
                .when(expire_at(1, 1, expires_at()))
                .then([]);
        }
    }

    #[test]
    fn three_unanswered_proposals_in_a_row_end_the_wish() {
        let p = |n: u64, lane: u16, start: &str| made(1, n, lane, start);
        let (p1, p2, p3) = (p(1, 1, "08:00"), p(2, 1, "08:12"), p(3, 1, "08:24"));
        let two_expired = [
            registered(1),
            p1.clone(),
            expired(&p1),
            p2.clone(),
            expired(&p2),
            p3.clone(),
        ];
        given::<WishDecider>(with(two_expired.clone()))
            .when(expire_at(1, 3, expires_at()))
            .then(into_inputs([
                expired(&p3),
                ended(1, WishEndReason::UnansweredProposals, None),
            ]));
        // A decline is an answer: the count starts again.
        let answered_between = [
            registered(1),
            p1.clone(),
            expired(&p1),
            p2.clone(),
            declined(&p2),
            p3.clone(),
        ];
        given::<WishDecider>(with(answered_between))
            .when(expire_at(1, 3, expires_at()))
            .then(into_inputs([expired(&p3)]));
        // The limit is policy.
        let lenient = ExpireProposal {
            wish: wish_id(1),
            proposal: proposal_id(3),
            now: expires_at(),
            policy: WishPolicy {
                max_unanswered: 4,
                ..WishPolicy::default()
            },
        };
        given::<WishDecider>(with(two_expired))
            .when(lenient.into())
            .then(into_inputs([expired(&p3)]));
        // Read twice (the wish's stream, then a unit stream), an expiry counts once.
        let state = WishDecider::fold(&with([
            registered(1),
            p1.clone(),
            expired(&p1),
            p1.clone(),
            expired(&p1),
        ]));
        assert_eq!(state.wish(&wish_id(1)).unwrap().unanswered_in_a_row, 1);
    }

    #[test]
    fn ending_the_search_frees_held_units_and_is_harmless_twice() {
        let proposal = made(1, 1, 1, "08:00");
        given::<WishDecider>(with([registered(1), proposal.clone()]))
            .when(end(1))
            .then(into_inputs([ended(1, WishEndReason::Citizen, Some(&proposal))]));
        given::<WishDecider>(with([registered(1), proposal.clone(), declined(&proposal)]))
            .when(end(1))
            .then(into_inputs([ended(1, WishEndReason::Citizen, None)]));
        given::<WishDecider>(with([registered(1), ended(1, WishEndReason::Citizen, None)]))
            .when(end(1))
            .then([]);
        given::<WishDecider>(with([registered(1), ended(1, WishEndReason::UntilPassed, None)]))
            .when(end(1))
            .then_error(WishError::WishEnded {
                wish: wish_id(1),
                reason: WishEndReason::UntilPassed,
            });
        given::<WishDecider>(catalogue())
            .when(end(1))
            .then_error(WishError::UnknownWish(wish_id(1)));
    }

    #[test]
    fn a_wish_lapses_once_its_last_date_is_over() {
        let command = RegisterWish {
            until: Some(date(DAY)),
            ..register(1)
        };
        let lapses_at = utc("2026-12-01T23:00:00Z");
        let proposal = made(1, 1, 1, "08:00");
        let history = with([waiting_by(&command, Some(lapses_at)), proposal.clone()]);
        given::<WishDecider>(history.clone())
            .when(lapse_at(1, lapses_at - chrono::Duration::seconds(1)))
            .then([]);
        given::<WishDecider>(history.clone())
            .when(lapse_at(1, lapses_at))
            .then(into_inputs([ended(1, WishEndReason::UntilPassed, Some(&proposal))]));
        let mut lapsed = history;
        lapsed.push(ended(1, WishEndReason::UntilPassed, Some(&proposal)).into());
        given::<WishDecider>(lapsed).when(lapse_at(1, lapses_at)).then([]);
        // Without a last date a wish never lapses.
        given::<WishDecider>(with([registered(1)]))
            .when(lapse_at(1, utc("2099-01-01T00:00:00Z")))
            .then([]);
    }

    // --- proposals and bookings on the same units ----------------------------------

    fn book(n: u64, start: &str) -> RequestBooking {
        RequestBooking {
            booking: booking_id(n),
            office: mitte(),
            services: vec![PA.parse().unwrap()],
            start: at(DAY, start),
            citizen: sealed(9),
            links: vec![],
            now: now(),
            policy: BookingPolicy::default(),
            kept_for_waitlist: BTreeSet::new(),
            taken_for_waitlist: BTreeSet::new(),
            unread_units: BTreeSet::new(),
        }
    }

    fn booked_lane(history: &[BookingInput], n: u64, start: &str) -> Result<u16, BookingRequestError> {
        let events = BookingRequestDecider::decide(&book(n, start), &BookingRequestDecider::fold(history))?;
        match &events[..] {
            [BookingInput::Booking(BookingEvent::Requested(requested))] => Ok(requested.units[0].lane),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_booking_never_takes_a_unit_a_proposal_holds() {
        let proposal = made(1, 1, 1, "08:00");
        let other = made(2, 2, 2, "08:00");
        let held = with([registered(1), registered(2), proposal.clone(), other.clone()]);
        assert_eq!(
            booked_lane(&held, 5, "08:00"),
            Err(BookingRequestError::SlotTaken {
                start: at(DAY, "08:00")
            })
        );
        let state = BookingRequestDecider::fold(&held);
        assert_eq!(
            state.holder(&unit(1, "08:00")),
            Some(UnitHolder::Proposal(proposal_id(1)))
        );
        // Declined, expired or withdrawn with its wish, the unit is free again.
        for release in [
            declined(&proposal),
            expired(&proposal),
            ended(1, WishEndReason::Citizen, Some(&proposal)),
        ] {
            let mut history = held.clone();
            history.push(release.into());
            // Read again through another unit stream: no hold comes back.
            history.push(proposal.clone().into());
            assert_eq!(booked_lane(&history, 5, "08:00"), Ok(1));
        }
    }

    #[test]
    fn an_accepted_proposal_is_a_confirmed_booking_until_cancelled() {
        let proposal = made(1, 1, 1, "08:00");
        let placed = accepted(&proposal, 5, 1);
        let history = with([registered(1), proposal.clone(), placed.clone()]);
        // Its units stay held, now by the booking, and the citizen has an open booking.
        let state = BookingRequestDecider::fold(&history);
        assert_eq!(
            state.holder(&unit(1, "08:00")),
            Some(UnitHolder::Booking(booking_id(5)))
        );
        assert_eq!(state.open_future_bookings(&sealed(1).envelope_id, now()), 1);
        let mut all_held = history.clone();
        all_held.push(booking_on(6, 2, "08:00"));
        assert!(booked_lane(&all_held, 7, "08:00").is_err());

        // The booking's own decisions: confirming again is done, cancelling frees the unit.
        let booking_stream = [BookingInput::from(placed.clone())];
        let confirm = BookingCommand::Confirm(ConfirmBooking {
            booking: booking_id(5),
            checkin_code_hash: "c".repeat(64),
            cancel_link: link(LinkAction::CancelBooking, 'x'),
            now: now(),
        });
        given::<crate::BookingDecider>(booking_stream.clone())
            .when(confirm)
            .then([]);
        let cancelled = BookingEvent::Cancelled(BookingCancelled {
            reason: None,
            booking: booking_id(5),
            units: vec![unit(1, "08:00")],
            citizen: Some(sealed(1).envelope_id),
        });
        given::<crate::BookingDecider>(booking_stream)
            .when(BookingCommand::Cancel(CancelBooking {
                reason: None,
                booking: booking_id(5),
                now: now(),
            }))
            .then([cancelled.clone().into()]);
        let mut freed = history;
        freed.extend([cancelled.into(), placed.into()]);
        assert_eq!(booked_lane(&freed, 7, "08:00"), Ok(1));
    }

    #[test]
    fn waiting_numbers_count_accepted_proposals_and_confirmations_alike() {
        let proposal = made(1, 1, 1, "08:00");
        // The day's numbers stream as a booking confirmation reads it.
        let pending = match booking_on(6, 2, "08:00") {
            BookingInput::Booking(event) => event,
            _ => unreachable!(),
        };
        let history = [pending.into(), accepted(&proposal, 5, 1).into()];
        let confirm = BookingCommand::Confirm(ConfirmBooking {
            booking: booking_id(6),
            checkin_code_hash: "c".repeat(64),
            cancel_link: link(LinkAction::CancelBooking, 'x'),
            now: now(),
        });
        let events: Vec<BookingInput> = history.to_vec();
        let decided = crate::BookingDecider::decide(&confirm, &crate::BookingDecider::fold(&events)).unwrap();
        let [BookingInput::Booking(BookingEvent::Confirmed(confirmed))] = &decided[..] else {
            panic!("{decided:?}")
        };
        assert_eq!(confirmed.number.get(), 2);
    }

    // --- stored shape ----------------------------------------------------------------

    #[test]
    fn events_are_indexed_under_wish_units_citizen_booking_and_numbers() {
        let streams = |event: &WishEvent| -> Vec<String> { event.streams().iter().map(|s| s.to_string()).collect() };
        let wish = "wish:00000000030000000000000003";
        let citizen = "citizen:00000000010000000000000002";
        let units = ["unit:bss-mitte:2026-12-01:1:0800", "unit:bss-mitte:2026-12-01:1:0812"];
        let both = waiting_by(&register_for(3, 1, &[PA, RP]), None);
        let proposal = made_of(3, 1, &[(1, "08:00"), (1, "08:12")], "08:24");
        assert_eq!(streams(&both), [wish, citizen]);
        assert_eq!(streams(&proposal), [wish, units[0], units[1]]);
        assert_eq!(streams(&declined(&proposal)), [wish, units[0], units[1]]);
        assert_eq!(streams(&expired(&proposal)), [wish, units[0], units[1]]);
        let mut placed = accepted(&proposal, 5, 1);
        if let WishEvent::ProposalAccepted(accepted) = &mut placed {
            accepted.citizen = sealed(1);
        }
        assert_eq!(
            streams(&placed),
            [
                wish,
                "booking:00000000050000000000000001",
                units[0],
                units[1],
                citizen,
                "numbers:bss-mitte:2026-12-01"
            ]
        );
        let mut withdrawn = ended(3, WishEndReason::Citizen, Some(&proposal));
        if let WishEvent::Ended(ended) = &mut withdrawn {
            ended.citizen = sealed(1).envelope_id;
        }
        assert_eq!(
            streams(&withdrawn),
            [wish, "citizen:00000000010000000000000002", units[0], units[1]]
        );
    }

    #[test]
    fn stored_wish_data_is_plain_and_decodes_back() {
        let command = RegisterWish {
            until: Some(date("2026-12-31")),
            ..register(1)
        };
        let registration = waiting_by(&command, Some(utc("2026-12-31T23:00:00Z")));
        assert_eq!(
            registration.to_data(),
            json!({
                "wish": "00000000010000000000000003",
                "offices": ["bss-mitte", "bss-walsum"],
                "services": ["personalausweis"],
                "windows": {"tue": [8, 9]},
                "until": "2026-12-31",
                "lapses_at": "2026-12-31T23:00:00Z",
                "citizen": {
                    "envelope_id": "00000000010000000000000002",
                    "nonce": "0a0a0a0a0a0a0a0a0a0a0a0a",
                    "ciphertext": "c1phe7"
                },
                "links": [{"action": "end_wish", "token_hash": "e".repeat(64), "expires_at": "2027-01-01T00:00:00Z"}],
                "registered_at": "2026-11-20T09:00:00Z"
            })
        );
        let proposal = made(1, 1, 1, "08:00");
        assert_eq!(
            ended(1, WishEndReason::UnansweredProposals, None).to_data()["reason"],
            "unanswered_proposals"
        );
        assert_eq!(accepted(&proposal, 5, 42).to_data()["number"], "42");
        let events = [
            registration,
            proposal.clone(),
            accepted(&proposal, 5, 42),
            declined(&proposal),
            expired(&proposal),
            ended(1, WishEndReason::Citizen, Some(&proposal)),
            ended(1, WishEndReason::UntilPassed, None),
        ];
        for event in events {
            let event_type = event.event_type();
            assert!(WishEvent::EVENT_TYPES.contains(&event_type));
            assert_eq!(event.schema_version(), 1);
            let data = event.to_data();
            assert!(data.get("type").is_none());
            assert_eq!(WishEvent::from_stored(event_type, data.clone()).unwrap(), event);
            assert_eq!(
                BookingInput::from_stored_json(event_type, &data.to_string()).unwrap(),
                BookingInput::Wish(event)
            );
        }
    }

    #[test]
    fn link_actions_keep_their_names() {
        let names = [
            (LinkAction::ConfirmBooking, "confirm_booking"),
            (LinkAction::CancelBooking, "cancel_booking"),
            (LinkAction::AcceptProposal, "accept_proposal"),
            (LinkAction::DeclineProposal, "decline_proposal"),
            (LinkAction::EndWish, "end_wish"),
        ];
        for (action, name) in names {
            assert_eq!(action.as_str(), name);
            assert_eq!(serde_json::to_value(action).unwrap(), name);
            assert_eq!(serde_json::from_value::<LinkAction>(json!(name)).unwrap(), action);
        }
    }

    #[test]
    fn hold_changes_name_the_units() {
        let proposal = made(1, 1, 1, "08:00");
        let units = [unit(1, "08:00")];
        assert_eq!(proposal.hold_change(), HoldChange::Hold(&units));
        assert_eq!(accepted(&proposal, 5, 1).hold_change(), HoldChange::Hold(&units));
        assert_eq!(declined(&proposal).hold_change(), HoldChange::Release(&units));
        assert_eq!(
            ended(1, WishEndReason::Citizen, Some(&proposal)).hold_change(),
            HoldChange::Release(&units)
        );
        assert_eq!(registered(1).hold_change(), HoldChange::Unchanged);
        assert_eq!(BookingInput::from(registered(1)).hold_change(), HoldChange::Unchanged);
    }

    // --- matching helpers ------------------------------------------------------------

    #[test]
    fn a_wish_matches_by_office_hour_of_the_local_start_and_until() {
        let command = RegisterWish {
            until: Some(date("2026-12-08")),
            ..register(1)
        };
        let state = WishDecider::fold(&with([waiting_by(&command, None)]));
        let wish = state.wish(&wish_id(1)).unwrap();
        let tuesday = date(DAY);
        assert!(wish_matches(wish, &mitte(), tuesday, time("08:00")));
        assert!(wish_matches(wish, &walsum(), tuesday, time("09:59")));
        assert!(wish_matches(wish, &mitte(), date("2026-12-08"), time("08:30")));
        assert!(!wish_matches(wish, &mitte(), tuesday, time("10:00")));
        assert!(!wish_matches(wish, &mitte(), tuesday, time("07:59")));
        assert!(
            !wish_matches(wish, &mitte(), date("2026-12-02"), time("08:00")),
            "a Wednesday"
        );
        assert!(
            !wish_matches(wish, &mitte(), date("2026-12-15"), time("08:00")),
            "after until"
        );
        assert!(!wish_matches(
            wish,
            &"rheinhausen".parse().unwrap(),
            tuesday,
            time("08:00")
        ));
    }

    #[test]
    fn in_a_dst_week_the_hour_is_the_local_one() {
        // Clocks go forward on Sunday 2026-03-29: 08:00 local is 07:00Z before, 06:00Z after.
        let history = [
            office(mitte(), "Europe/Berlin"),
            service(PA, 12),
            CatalogueEvent::CapacityPublished(CapacityPublished {
                office: mitte(),
                date: date("2026-03-31"),
                from: time("08:00"),
                to: time("09:00"),
                unit_minutes: 12,
                lanes: 1,
                first_lane: 1,
                units: 5,
            })
            .into(),
            registered(1).into(),
        ];
        let command = ProposeUnits {
            now: utc("2026-03-20T09:00:00Z"),
            ..match propose_at(1, 1, utc("2026-03-31T06:00:00Z"), 1) {
                WishCommand::Propose(command) => command,
                _ => unreachable!(),
            }
        };
        let events = WishDecider::decide(&command.into(), &WishDecider::fold(&history)).unwrap();
        let [BookingInput::Wish(WishEvent::ProposalMade(made))] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(made.units[0].start, time("08:00"));
        assert_eq!(made.end, utc("2026-03-31T06:12:00Z"));
    }

    #[test]
    fn proposal_units_are_one_lanes_run() {
        let state = WishDecider::fold(&catalogue());
        let day = state.catalogue().capacity(&mitte(), date(DAY)).unwrap();
        assert_eq!(
            proposal_units(day, &mitte(), date(DAY), 2, time("08:00"), 13),
            Some(vec![unit(2, "08:00"), unit(2, "08:12")])
        );
        assert_eq!(proposal_units(day, &mitte(), date(DAY), 3, time("08:00"), 12), None);
    }

    // --- properties ------------------------------------------------------------------

    #[derive(Debug, Clone)]
    enum Step {
        Propose { wish: u64, lane: u16, slot: u32 },
        Accept(u64),
        Decline(u64),
        Expire(u64),
        End(u64),
        Book { slot: u32 },
        Wait { hours: i64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            12 => (1..=2u64, 1..=3u16, 0..20u32).prop_map(|(wish, lane, slot)| Step::Propose { wish, lane, slot }),
            2 => (1..=2u64).prop_map(Step::Accept),
            4 => (1..=2u64).prop_map(Step::Decline),
            4 => (1..=2u64).prop_map(Step::Expire),
            1 => (1..=2u64).prop_map(Step::End),
            2 => (0..20u32).prop_map(|slot| Step::Book { slot }),
            5 => (1..=30i64).prop_map(|hours| Step::Wait { hours }),
        ]
    }

    fn slot_start(slot: u32) -> DateTime<Utc> {
        at(DAY, "08:00") + chrono::Duration::minutes(12 * i64::from(slot))
    }

    /// Runs `steps` through the deciders on one log, as if every stream were read.
    fn run(steps: &[Step]) -> Vec<BookingInput> {
        // Wish 1 from before double opt-in, wish 2 registered and confirmed.
        let mut log = with([registered(1), pending(2), confirmed_at(2, now())]);
        let mut clock = now();
        let mut ids = 100;
        for step in steps {
            ids += 1;
            let state = WishDecider::fold(&log);
            // The proposal a link of `wish` would act on: its latest.
            let latest = |wish: u64| {
                state
                    .wish(&wish_id(wish))
                    .and_then(|w| w.proposals.last())
                    .map_or(proposal_id(999), |p| p.proposal)
            };
            let command: Option<WishCommand> = match *step {
                Step::Propose { wish, lane, slot } => Some(
                    ProposeUnits {
                        proposal: proposal_id(ids),
                        wish: wish_id(wish),
                        office: mitte(),
                        start: slot_start(slot),
                        lane,
                        links: vec![],
                        now: clock,
                        // Short, so that runs see expiries and wishes ending unanswered.
                        policy: WishPolicy {
                            proposal_ttl: chrono::Duration::hours(6),
                            ..WishPolicy::default()
                        },
                    }
                    .into(),
                ),
                Step::Accept(wish) => Some(
                    AcceptProposal {
                        wish: wish_id(wish),
                        proposal: latest(wish),
                        booking: booking_id(ids),
                        checkin_code_hash: String::new(),
                        cancel_link: link(LinkAction::CancelBooking, 'x'),
                        now: clock,
                    }
                    .into(),
                ),
                Step::Decline(wish) => Some(
                    DeclineProposal {
                        wish: wish_id(wish),
                        proposal: latest(wish),
                        now: clock,
                    }
                    .into(),
                ),
                Step::Expire(wish) => Some(
                    ExpireProposal {
                        wish: wish_id(wish),
                        proposal: latest(wish),
                        now: clock,
                        policy: WishPolicy::default(),
                    }
                    .into(),
                ),
                Step::End(wish) => Some(EndWish { wish: wish_id(wish) }.into()),
                Step::Book { slot } => {
                    let request = RequestBooking {
                        citizen: sealed(1000 + ids),
                        now: clock,
                        ..book(ids, "08:00")
                    };
                    let request = RequestBooking {
                        start: slot_start(slot),
                        ..request
                    };
                    if let Ok(events) = BookingRequestDecider::decide(&request, &BookingRequestDecider::fold(&log)) {
                        log.extend(events);
                    }
                    None
                }
                Step::Wait { hours } => {
                    clock += chrono::Duration::hours(hours);
                    None
                }
            };
            if let Some(command) = command
                && let Ok(events) = WishDecider::decide(&command, &state)
            {
                log.extend(events);
            }
        }
        log
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_wish_never_has_two_open_proposals(steps in prop::collection::vec(step(), 1..60)) {
            let log = run(&steps);
            let mut open: BTreeMap<WishId, ProposalId> = BTreeMap::new();
            for event in &log {
                let BookingInput::Wish(event) = event else { continue };
                match event {
                    WishEvent::ProposalMade(made) => {
                        let before = open.insert(made.wish, made.proposal);
                        prop_assert_eq!(before, None, "{:?} while another is open", made);
                    }
                    WishEvent::ProposalAccepted(ProposalAccepted { wish, proposal, .. })
                    | WishEvent::ProposalDeclined(ProposalClosed { wish, proposal, .. })
                    | WishEvent::ProposalExpired(ProposalClosed { wish, proposal, .. })
                    | WishEvent::ProposalWithdrawn(ProposalClosed { wish, proposal, .. }) => {
                        prop_assert_eq!(open.remove(wish), Some(*proposal));
                    }
                    WishEvent::Ended(ended) => {
                        prop_assert_eq!(open.remove(&ended.wish), ended.proposal);
                    }
                    WishEvent::Registered(_) | WishEvent::Confirmed(_) => {}
                }
            }
            let state = WishDecider::fold(&log);
            for wish in [1, 2] {
                let wish = state.wish(&wish_id(wish)).unwrap();
                let open_now = wish.proposals.iter().filter(|p| p.status == ProposalStatus::Open).count();
                prop_assert!(open_now <= 1);
                prop_assert_eq!(wish.open_proposal().map(|p| p.proposal), open.get(&wish.wish).copied());
            }
        }

        #[test]
        fn declined_units_are_never_proposed_to_that_wish_again(steps in prop::collection::vec(step(), 1..60)) {
            let log = run(&steps);
            let mut declined: BTreeMap<WishId, BTreeSet<UnitRef>> = BTreeMap::new();
            for event in &log {
                match event {
                    BookingInput::Wish(WishEvent::ProposalMade(made)) => {
                        let before = declined.get(&made.wish);
                        for unit in &made.units {
                            prop_assert!(!before.is_some_and(|units| units.contains(unit)), "{:?} again", unit);
                        }
                    }
                    BookingInput::Wish(WishEvent::ProposalDeclined(closed) | WishEvent::ProposalExpired(closed)) => {
                        declined.entry(closed.wish).or_default().extend(closed.units.iter().cloned());
                    }
                    _ => {}
                }
            }
        }

        #[test]
        fn a_unit_has_at_most_one_holder(steps in prop::collection::vec(step(), 1..60)) {
            let log = run(&steps);
            let mut held: BTreeMap<UnitRef, UnitHolder> = BTreeMap::new();
            for event in &log {
                let (holder, change) = match event {
                    BookingInput::Booking(BookingEvent::Requested(r)) => (UnitHolder::Booking(r.booking), event.hold_change()),
                    BookingInput::Booking(BookingEvent::Cancelled(BookingCancelled { booking, .. })) => {
                        (UnitHolder::Booking(*booking), event.hold_change())
                    }
                    BookingInput::Wish(WishEvent::ProposalMade(m)) => (UnitHolder::Proposal(m.proposal), event.hold_change()),
                    BookingInput::Wish(WishEvent::ProposalAccepted(a)) => {
                        for unit in &a.units {
                            prop_assert_eq!(held.insert(unit.clone(), UnitHolder::Booking(a.booking)), Some(UnitHolder::Proposal(a.proposal)));
                        }
                        continue;
                    }
                    BookingInput::Wish(WishEvent::ProposalDeclined(c) | WishEvent::ProposalExpired(c)) => {
                        (UnitHolder::Proposal(c.proposal), event.hold_change())
                    }
                    BookingInput::Wish(WishEvent::Ended(WishEnded { proposal: Some(p), .. })) => {
                        (UnitHolder::Proposal(*p), event.hold_change())
                    }
                    _ => continue,
                };
                match change {
                    HoldChange::Hold(units) => {
                        for unit in units {
                            prop_assert_eq!(held.insert(unit.clone(), holder), None, "{:?} taken twice", unit);
                        }
                    }
                    HoldChange::Release(units) => {
                        for unit in units {
                            prop_assert_eq!(held.remove(unit), Some(holder));
                        }
                    }
                    HoldChange::Unchanged => {}
                }
            }
        }

        #[test]
        fn reading_events_once_per_stream_decides_like_reading_the_log(steps in prop::collection::vec(step(), 1..40)) {
            // As the executor reads for a proposal: the wish's stream first, then the
            // office, services, office day and unit streams; events repeat across them.
            let log = run(&steps);
            let mut streams: BTreeMap<String, Vec<BookingInput>> = BTreeMap::new();
            for event in &log {
                for stream in event.streams() {
                    streams.entry(stream.to_string()).or_default().push(event.clone());
                }
            }
            let wish_first = streams.iter().filter(|(name, _)| name.starts_with("wish:"));
            let others = streams.iter().filter(|(name, _)| !name.starts_with("wish:") && !name.starts_with("citizen:"));
            let per_stream: Vec<BookingInput> = wish_first.chain(others).flat_map(|(_, events)| events.clone()).collect();
            let (once, repeated) = (WishDecider::fold(&log), WishDecider::fold(&per_stream));
            for wish in [1, 2] {
                prop_assert_eq!(once.wish(&wish_id(wish)), repeated.wish(&wish_id(wish)));
            }
            for lane in 1..=2 {
                for slot in 0..20 {
                    let unit = unit(lane, &LocalTime::from_minutes_since_midnight(480 + 12 * slot).unwrap().to_string());
                    prop_assert_eq!(once.catalogue().holder(&unit), repeated.catalogue().holder(&unit), "{:?}", unit);
                }
            }
        }
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            WishError::DuplicateWish { existing: wish_id(1) }.to_string(),
            "the citizen already waits with wish 00000000010000000000000003 for the same services"
        );
        assert_eq!(
            WishError::ProposalOpen {
                wish: wish_id(1),
                proposal: proposal_id(2)
            }
            .to_string(),
            "wish 00000000010000000000000003 already has proposal 00000000020000000000000004 open"
        );
    }
}
