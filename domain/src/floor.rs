//! The office floor (API.md "The office floor", DESIGN.md invariant 11): a
//! confirmed booking's visitor checks in at the kiosk, waits, is called to a
//! counter ("Nummer 1112 Schalter 6"), perhaps called again, is served and
//! leaves; or is parked (sent to pay, to fetch a photo) and queues again; or
//! never answers and is marked missed. Counters are opened, paused with a
//! reason and closed.
//!
//! A visit's life:
//!
//! ```text
//! (confirmed) ─check in─► checked_in ─call─► called ─start─► serving ─finish─► finished
//!      │                     ▲                 │  ↺ recall      │
//!      │                     └─return── parked ◄┴─park───────────┘
//!      │                                       │
//!      │                                       └─missed (after a recall)─► missed (absent_when_called)
//!      └─no-show timer (after start + check_in_late)─► missed (no_show)
//! ```
//!
//! **Streams.** Every floor event of one office day is in one stream,
//! `floor:{office}:{YYYY-MM-DD}` ([`StreamName::floor`]); every event about a
//! visit is also indexed under `booking:{id}`, so the booking's history shows
//! its visit. Every decision here folds the floor stream *alone* into a
//! [`FloorDay`] (fold nothing else into it: the booking stream repeats this
//! day's events of the visit, and a visit's steps must not be folded twice)
//! and appends with a condition on it. Two clerks pressing "next" at once
//! therefore decide on the same state, pick the same visitor and conflict; the
//! loser decides again on the winner's call and gets the next visitor
//! (invariant 11 by conditions, not locks). What the floor needs of the
//! booking (check-in, the no-show timer) the caller folds from `booking:{id}`
//! and passes in as [`BookingFacts`].
//!
//! **Queue order.** The next visitor is the checked-in one whose start has
//! come, earliest start first, then earliest check-in; when none is due, the
//! one with the earliest start. Both halves are one order: anyone due starts
//! no later than anyone not due, so the queue is simply sorted by (start,
//! check-in) and the first of it is called ([`FloorDay::waiting`]).
//!
//! Decisions taken here where API.md is silent (each also at its rule):
//! - A counter exists per office day; none is open at the start of a day.
//!   "Next" on a counter never opened that day opens it (`counter.opened`
//!   precedes the call in the same append): the clerk who sits down and
//!   presses "next" means to work there. A *paused* or *closed* counter was
//!   stopped on purpose and refuses until opened again ("open" also resumes
//!   a paused counter).
//! - "Next" with nobody waiting decides nothing (no implicit opening either):
//!   the caller answers 204.
//! - A counter with a visitor (called, recalled or serving) can be neither
//!   paused nor closed: the visitor would be left standing at a dark counter.
//!   Finish, park or (after a recall) mark missed first.
//! - A parked visitor who returns queues again under the original start and
//!   check-in time: parking is the office's errand, not the visitor's fault,
//!   so they lose no place. [`Visit::waiting_since`] shows the return.
//! - A repeated check-in while the visit is open (checked in, called,
//!   serving, parked) decides nothing, whatever the time: the kiosk answers
//!   as before. After the visit finished or was missed at a counter, the code
//!   is spent (`NotCheckable`). A no-show that comes later still is told
//!   `TooLate`, the same answer whether or not the timer has run yet.
//! - A recall counts from the latest call or recall; "missed" may follow any
//!   time after a recall of the current call (a visitor parked, returned and
//!   called anew must be recalled anew).
//! - "finish" needs "start" first (processing times are measured from it).
//! - Visit actions name no counter (API.md: `/visits/{booking}/{action}`):
//!   any clerk of the office may move any visit on.
//! - The no-show timer marks a confirmed booking never checked in once the
//!   check-in window has closed, strictly after start + `check_in_late`
//!   (at that very instant checking in is still allowed). A timer that fires
//!   early or twice, or for a booking that is not confirmed or already on
//!   the floor, decides nothing; one that fires late marks it all the same. Both kinds of miss are one event type, `visit.missed`, told
//!   apart by [`MissedReason`]: statistics count them together as missed.
//! - Units of a missed visit are not released here: a unit's holds and
//!   releases belong to the booking family, whose decisions condition on the
//!   unit streams (invariant 1). Floor events touch only the floor and
//!   booking streams.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::booking::{Booking, BookingStatus, WaitingNumber};
use crate::decider::Decider;
use crate::event::{DomainEvent, StreamName};
use crate::ids::{BookingId, OfficeId};
use crate::text::{TextError, parse_text};
use crate::time::LocalDate;

impl StreamName {
    /// `floor:{office}:{YYYY-MM-DD}`: every check-in, call and counter change
    /// of one office day, so that "next" decisions of that day contend.
    pub fn floor(office: &OfficeId, date: NaiveDate) -> Self {
        format!("floor:{office}:{}", date.format("%Y-%m-%d"))
            .parse()
            .expect("slugs and ISO dates make valid stream names")
    }
}

// --- values ----------------------------------------------------------------------

/// Longest counter name, in characters.
pub const MAX_COUNTER_CHARS: usize = 16;

/// Longest pause reason, in characters.
pub const MAX_PAUSE_REASON_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a counter is named by 1 to {MAX_COUNTER_CHARS} characters a-z, 0-9 and '-', not {0:?}")]
pub struct InvalidCounterId(pub String);

fn parse_counter_id(input: &str) -> Result<String, InvalidCounterId> {
    let valid = (1..=MAX_COUNTER_CHARS).contains(&input.len())
        && input
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid
        .then(|| input.to_owned())
        .ok_or_else(|| InvalidCounterId(input.to_owned()))
}

validated_string! {
    /// A counter (Schalter) of an office, as the display shows it: `6`,
    /// `schalter-6`, `info`; a slug `[a-z0-9-]{1,16}`.
    pub struct CounterId, error = InvalidCounterId, validate = parse_counter_id;
}

fn parse_pause_reason(input: &str) -> Result<String, TextError> {
    parse_text(input, MAX_PAUSE_REASON_CHARS, false, false)
}

validated_string! {
    /// Why a counter pauses ("Mittagspause", "Systemstörung"): 1–200
    /// characters, one line. Staff read it on the desk page.
    pub struct PauseReason, error = TextError, validate = parse_pause_reason;
}

/// The floor's times (the server's `--check-in-early`, `--check-in-late`,
/// `--recall-after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloorPolicy {
    /// Check-in opens this long before the start.
    pub check_in_early: Duration,
    /// Check-in closes this long after the start; a confirmed booking not
    /// checked in by then is a no-show.
    pub check_in_late: Duration,
    /// A called visitor may be called again this long after the latest call.
    pub recall_after: Duration,
}

impl Default for FloorPolicy {
    fn default() -> Self {
        Self {
            check_in_early: Duration::minutes(15),
            check_in_late: Duration::minutes(5),
            recall_after: Duration::minutes(5),
        }
    }
}

/// What the floor needs to know of a booking, folded by the caller from
/// `booking:{id}` (see [`BookingFacts::of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingFacts {
    pub booking: BookingId,
    pub office: OfficeId,
    /// Its office day.
    pub date: LocalDate,
    pub start: DateTime<Utc>,
    /// Only a confirmed booking (which has its waiting number) visits.
    pub status: BookingStatus,
}

impl BookingFacts {
    /// The facts of `booking` as [`crate::booking::BookingState`] has it.
    pub fn of(id: BookingId, booking: &Booking) -> Self {
        BookingFacts {
            booking: id,
            office: booking.office.clone(),
            date: booking.date,
            start: booking.start,
            status: booking.status,
        }
    }

    /// The floor stream of its office day.
    pub fn floor_stream(&self) -> StreamName {
        StreamName::floor(&self.office, self.date.into())
    }
}

/// Where a visit stands (API.md's `status`; "recalled" is `called` with
/// [`Visit::recalls`] above zero). Before check-in a visit is not on the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    CheckedIn,
    Called,
    Serving,
    Parked,
    Finished,
    Missed,
}

impl VisitStatus {
    pub const ALL: [VisitStatus; 6] = [
        VisitStatus::CheckedIn,
        VisitStatus::Called,
        VisitStatus::Serving,
        VisitStatus::Parked,
        VisitStatus::Finished,
        VisitStatus::Missed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VisitStatus::CheckedIn => "checked_in",
            VisitStatus::Called => "called",
            VisitStatus::Serving => "serving",
            VisitStatus::Parked => "parked",
            VisitStatus::Finished => "finished",
            VisitStatus::Missed => "missed",
        }
    }

    /// Still on the floor: the visitor is expected at a counter sooner or later.
    pub fn is_open(self) -> bool {
        !matches!(self, VisitStatus::Finished | VisitStatus::Missed)
    }
}

impl fmt::Display for VisitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A clerk's move of a visit (API.md `/visits/{booking}/{action}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitAction {
    /// Call the called visitor again, from `recall_after` after the latest call.
    Recall,
    /// The recalled visitor did not come: the visit ends as missed.
    Missed,
    /// The visitor is at the counter.
    Start,
    Finish,
    /// Send the visitor away for a while (to pay, to fetch a photo).
    Park,
    /// The parked visitor is back and queues again.
    Return,
}

impl VisitAction {
    pub const ALL: [VisitAction; 6] = [
        VisitAction::Recall,
        VisitAction::Missed,
        VisitAction::Start,
        VisitAction::Finish,
        VisitAction::Park,
        VisitAction::Return,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VisitAction::Recall => "recall",
            VisitAction::Missed => "missed",
            VisitAction::Start => "start",
            VisitAction::Finish => "finish",
            VisitAction::Park => "park",
            VisitAction::Return => "return",
        }
    }

    /// The status the action leads to. A refused action whose visit already
    /// stands there was (most likely) a double click; the caller may answer
    /// it as done.
    pub fn leads_to(self) -> VisitStatus {
        match self {
            VisitAction::Recall => VisitStatus::Called,
            VisitAction::Missed => VisitStatus::Missed,
            VisitAction::Start => VisitStatus::Serving,
            VisitAction::Finish => VisitStatus::Finished,
            VisitAction::Park => VisitStatus::Parked,
            VisitAction::Return => VisitStatus::CheckedIn,
        }
    }
}

impl fmt::Display for VisitAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown visit action {0:?}: one of recall, missed, start, finish, park, return")]
pub struct UnknownVisitAction(pub String);

impl std::str::FromStr for VisitAction {
    type Err = UnknownVisitAction;

    fn from_str(input: &str) -> Result<Self, UnknownVisitAction> {
        VisitAction::ALL
            .into_iter()
            .find(|action| action.as_str() == input)
            .ok_or_else(|| UnknownVisitAction(input.to_owned()))
    }
}

/// How a visit was missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedReason {
    /// Confirmed, never checked in by start + `check_in_late` (the timer).
    NoShow,
    /// Checked in, called and recalled, never came to the counter (the clerk).
    AbsentWhenCalled,
}

impl MissedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            MissedReason::NoShow => "no_show",
            MissedReason::AbsentWhenCalled => "absent_when_called",
        }
    }
}

// --- events ----------------------------------------------------------------------

/// The visitor is in the office. Carries what the queue needs, so the floor
/// stream alone decides who is next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitCheckedIn {
    pub booking: BookingId,
    pub office: OfficeId,
    pub date: LocalDate,
    pub number: WaitingNumber,
    /// The booking's start: the queue's first key.
    pub start: DateTime<Utc>,
    pub checked_in_at: DateTime<Utc>,
    /// The call window the kiosk showed at check-in, when it showed one
    /// (statistics hold it against the call; older events have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<EstimatedCall>,
}

/// A wait estimate as the kiosk showed it (`wait_estimate::WaitEstimate`'s
/// `earliest`..`latest`: "Aufruf etwa 09:10 bis 09:25 Uhr").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimatedCall {
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
}

/// The visitor is called to `counter` (what the display shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitCalled {
    pub booking: BookingId,
    pub office: OfficeId,
    pub date: LocalDate,
    pub number: WaitingNumber,
    pub counter: CounterId,
    pub called_at: DateTime<Utc>,
}

/// The called visitor is called again to the same counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitRecalled {
    pub booking: BookingId,
    pub office: OfficeId,
    pub date: LocalDate,
    pub number: WaitingNumber,
    pub counter: CounterId,
    pub recalled_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitStarted {
    pub booking: BookingId,
    pub office: OfficeId,
    pub date: LocalDate,
    pub counter: CounterId,
    pub started_at: DateTime<Utc>,
}

/// Served; the counter is free.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitFinished {
    pub booking: BookingId,
    pub office: OfficeId,
    pub date: LocalDate,
    pub counter: CounterId,
    pub finished_at: DateTime<Utc>,
}

/// Sent away for a while from `counter`, which is free.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitParked {
    pub booking: BookingId,
    pub office: OfficeId,
    pub date: LocalDate,
    pub counter: CounterId,
    pub parked_at: DateTime<Utc>,
}

/// Back from being parked: waiting again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitReturned {
    pub booking: BookingId,
    pub office: OfficeId,
    pub date: LocalDate,
    pub returned_at: DateTime<Utc>,
}

/// The visit ends without service. A no-show was never on the floor, so
/// the event carries number and start for views of the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitMissed {
    pub booking: BookingId,
    pub office: OfficeId,
    pub date: LocalDate,
    pub number: WaitingNumber,
    pub start: DateTime<Utc>,
    pub reason: MissedReason,
    /// The counter that called in vain (freed); none for a no-show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<CounterId>,
    pub missed_at: DateTime<Utc>,
}

/// The counter takes visitors (first time today, again after a pause, or
/// reopened after closing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterOpened {
    pub office: OfficeId,
    pub date: LocalDate,
    pub counter: CounterId,
    pub opened_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterPaused {
    pub office: OfficeId,
    pub date: LocalDate,
    pub counter: CounterId,
    pub reason: PauseReason,
    pub paused_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterClosed {
    pub office: OfficeId,
    pub date: LocalDate,
    pub counter: CounterId,
    pub closed_at: DateTime<Utc>,
}

/// Everything that happens on the floor of an office day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum FloorEvent {
    #[serde(rename = "visit.checked_in")]
    CheckedIn(VisitCheckedIn),
    #[serde(rename = "visit.called")]
    Called(VisitCalled),
    #[serde(rename = "visit.recalled")]
    Recalled(VisitRecalled),
    #[serde(rename = "visit.started")]
    Started(VisitStarted),
    #[serde(rename = "visit.finished")]
    Finished(VisitFinished),
    #[serde(rename = "visit.parked")]
    Parked(VisitParked),
    #[serde(rename = "visit.returned")]
    Returned(VisitReturned),
    #[serde(rename = "visit.missed")]
    Missed(VisitMissed),
    #[serde(rename = "counter.opened")]
    CounterOpened(CounterOpened),
    #[serde(rename = "counter.paused")]
    CounterPaused(CounterPaused),
    #[serde(rename = "counter.closed")]
    CounterClosed(CounterClosed),
}

impl FloorEvent {
    /// The office day whose floor stream carries it.
    pub fn office_day(&self) -> (&OfficeId, LocalDate) {
        match self {
            Self::CheckedIn(e) => (&e.office, e.date),
            Self::Called(e) => (&e.office, e.date),
            Self::Recalled(e) => (&e.office, e.date),
            Self::Started(e) => (&e.office, e.date),
            Self::Finished(e) => (&e.office, e.date),
            Self::Parked(e) => (&e.office, e.date),
            Self::Returned(e) => (&e.office, e.date),
            Self::Missed(e) => (&e.office, e.date),
            Self::CounterOpened(e) => (&e.office, e.date),
            Self::CounterPaused(e) => (&e.office, e.date),
            Self::CounterClosed(e) => (&e.office, e.date),
        }
    }

    /// The visit it is about; `None` for counter events.
    pub fn booking(&self) -> Option<BookingId> {
        match self {
            Self::CheckedIn(e) => Some(e.booking),
            Self::Called(e) => Some(e.booking),
            Self::Recalled(e) => Some(e.booking),
            Self::Started(e) => Some(e.booking),
            Self::Finished(e) => Some(e.booking),
            Self::Parked(e) => Some(e.booking),
            Self::Returned(e) => Some(e.booking),
            Self::Missed(e) => Some(e.booking),
            Self::CounterOpened(_) | Self::CounterPaused(_) | Self::CounterClosed(_) => None,
        }
    }

    /// The call among decided events, if any: "next" answers it (200) or,
    /// without one, 204.
    pub fn called(events: &[FloorEvent]) -> Option<&VisitCalled> {
        events.iter().find_map(|event| match event {
            Self::Called(called) => Some(called),
            _ => None,
        })
    }
}

impl DomainEvent for FloorEvent {
    const EVENT_TYPES: &'static [&'static str] = &[
        "visit.checked_in",
        "visit.called",
        "visit.recalled",
        "visit.started",
        "visit.finished",
        "visit.parked",
        "visit.returned",
        "visit.missed",
        "counter.opened",
        "counter.paused",
        "counter.closed",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::CheckedIn(_) => "visit.checked_in",
            Self::Called(_) => "visit.called",
            Self::Recalled(_) => "visit.recalled",
            Self::Started(_) => "visit.started",
            Self::Finished(_) => "visit.finished",
            Self::Parked(_) => "visit.parked",
            Self::Returned(_) => "visit.returned",
            Self::Missed(_) => "visit.missed",
            Self::CounterOpened(_) => "counter.opened",
            Self::CounterPaused(_) => "counter.paused",
            Self::CounterClosed(_) => "counter.closed",
        }
    }

    fn schema_version(&self) -> u32 {
        1
    }

    /// The floor stream first, then the visit's booking stream.
    fn streams(&self) -> Vec<StreamName> {
        let (office, date) = self.office_day();
        let floor = StreamName::floor(office, date.into());
        match self.booking() {
            Some(booking) => vec![floor, StreamName::booking(&booking)],
            None => vec![floor],
        }
    }
}

// --- state -----------------------------------------------------------------------

/// One visit of the day, with the times of its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub booking: BookingId,
    pub number: WaitingNumber,
    pub start: DateTime<Utc>,
    pub status: VisitStatus,
    /// The counter it is called to or served at (`called`, `serving`).
    pub counter: Option<CounterId>,
    /// `None` for a no-show.
    pub checked_in_at: Option<DateTime<Utc>>,
    /// Since when it waits: check-in, or the latest return from parking.
    pub waiting_since: Option<DateTime<Utc>>,
    /// The first call of the day (the end of its first wait).
    pub first_called_at: Option<DateTime<Utc>>,
    /// The latest call or recall: a recall counts from here.
    pub last_called_at: Option<DateTime<Utc>>,
    /// Recalls since the latest call.
    pub recalls: u32,
    /// The first start of service.
    pub started_at: Option<DateTime<Utc>>,
    /// The latest parking.
    pub parked_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub missed_at: Option<DateTime<Utc>>,
    pub missed: Option<MissedReason>,
}

impl Visit {
    /// Called, recalled or served: the visitor belongs to [`Visit::counter`].
    pub fn at_counter(&self) -> bool {
        matches!(self.status, VisitStatus::Called | VisitStatus::Serving)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounterStatus {
    Open,
    Paused(PauseReason),
    Closed,
}

/// A counter as the day has it so far (only counters opened today appear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub status: CounterStatus,
    /// The visitor called to it or served at it.
    pub visitor: Option<BookingId>,
    /// When it was last opened, paused or closed.
    pub since: DateTime<Utc>,
}

/// One call or recall, as the display shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub booking: BookingId,
    pub number: WaitingNumber,
    pub counter: CounterId,
    pub called_at: DateTime<Utc>,
    pub recall: bool,
}

/// One office day's floor folded from `floor:{office}:{date}`: what every
/// floor decision reads, and what the call display, the desk page and the
/// kiosk's "how many ahead" are views of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FloorDay {
    visits: BTreeMap<BookingId, Visit>,
    counters: BTreeMap<CounterId, Counter>,
    calls: Vec<Call>,
    /// Who waits, in call order: (start, check-in, booking).
    queue: BTreeSet<(DateTime<Utc>, DateTime<Utc>, BookingId)>,
}

impl FloorDay {
    pub fn visit(&self, booking: &BookingId) -> Option<&Visit> {
        self.visits.get(booking)
    }

    /// Every visit of the day (checked in at some point, or a no-show), by booking id.
    pub fn visits(&self) -> impl Iterator<Item = &Visit> {
        self.visits.values()
    }

    pub fn counter(&self, counter: &CounterId) -> Option<&Counter> {
        self.counters.get(counter)
    }

    /// Every counter opened today, by name.
    pub fn counters(&self) -> impl Iterator<Item = (&CounterId, &Counter)> {
        self.counters.iter()
    }

    /// Every call and recall of the day, oldest first (the display shows
    /// them newest first).
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// Who waits (checked in, not called), in the order "next" calls them.
    pub fn waiting(&self) -> impl Iterator<Item = &Visit> {
        self.queue.iter().filter_map(|(_, _, booking)| self.visits.get(booking))
    }

    pub fn waiting_count(&self) -> usize {
        self.queue.len()
    }

    /// Whom "next" calls now: see the module's queue order.
    pub fn next_in_line(&self) -> Option<&Visit> {
        self.waiting().next()
    }

    /// How many wait before `booking` (0: it is next); `None` unless it waits.
    pub fn ahead_of(&self, booking: &BookingId) -> Option<usize> {
        self.queue.iter().position(|(_, _, waiting)| waiting == booking)
    }

    fn enqueue(&mut self, booking: BookingId) {
        if let Some(visit) = self.visits.get(&booking)
            && let Some(checked_in_at) = visit.checked_in_at
        {
            self.queue.insert((visit.start, checked_in_at, booking));
        }
    }

    fn dequeue(&mut self, booking: BookingId) {
        self.queue.retain(|(_, _, waiting)| *waiting != booking);
    }

    /// The visit leaves its counter, which is free again.
    fn leave_counter(&mut self, booking: BookingId) {
        let Some(visit) = self.visits.get_mut(&booking) else {
            return;
        };
        if let Some(counter) = visit.counter.take()
            && let Some(counter) = self.counters.get_mut(&counter)
            && counter.visitor == Some(booking)
        {
            counter.visitor = None;
        }
    }

    fn set_counter(&mut self, counter: &CounterId, status: CounterStatus, since: DateTime<Utc>) {
        let entry = self.counters.entry(counter.clone()).or_insert(Counter {
            status: CounterStatus::Closed,
            visitor: None,
            since,
        });
        entry.status = status;
        entry.since = since;
    }

    fn apply(&mut self, event: &FloorEvent) {
        match event {
            FloorEvent::CheckedIn(e) => {
                if self.visits.contains_key(&e.booking) {
                    return;
                }
                self.visits.insert(
                    e.booking,
                    Visit {
                        booking: e.booking,
                        number: e.number,
                        start: e.start,
                        status: VisitStatus::CheckedIn,
                        counter: None,
                        checked_in_at: Some(e.checked_in_at),
                        waiting_since: Some(e.checked_in_at),
                        first_called_at: None,
                        last_called_at: None,
                        recalls: 0,
                        started_at: None,
                        parked_at: None,
                        finished_at: None,
                        missed_at: None,
                        missed: None,
                    },
                );
                self.enqueue(e.booking);
            }
            FloorEvent::Called(e) => {
                self.dequeue(e.booking);
                let Some(visit) = self.visits.get_mut(&e.booking) else {
                    return;
                };
                visit.status = VisitStatus::Called;
                visit.counter = Some(e.counter.clone());
                visit.first_called_at.get_or_insert(e.called_at);
                visit.last_called_at = Some(e.called_at);
                visit.recalls = 0;
                self.counters
                    .entry(e.counter.clone())
                    .or_insert(Counter {
                        status: CounterStatus::Open,
                        visitor: None,
                        since: e.called_at,
                    })
                    .visitor = Some(e.booking);
                self.calls.push(Call {
                    booking: e.booking,
                    number: e.number,
                    counter: e.counter.clone(),
                    called_at: e.called_at,
                    recall: false,
                });
            }
            FloorEvent::Recalled(e) => {
                if let Some(visit) = self.visits.get_mut(&e.booking) {
                    visit.last_called_at = Some(e.recalled_at);
                    visit.recalls += 1;
                }
                self.calls.push(Call {
                    booking: e.booking,
                    number: e.number,
                    counter: e.counter.clone(),
                    called_at: e.recalled_at,
                    recall: true,
                });
            }
            FloorEvent::Started(e) => {
                if let Some(visit) = self.visits.get_mut(&e.booking) {
                    visit.status = VisitStatus::Serving;
                    visit.started_at.get_or_insert(e.started_at);
                }
            }
            FloorEvent::Finished(e) => {
                self.leave_counter(e.booking);
                if let Some(visit) = self.visits.get_mut(&e.booking) {
                    visit.status = VisitStatus::Finished;
                    visit.finished_at = Some(e.finished_at);
                }
            }
            FloorEvent::Parked(e) => {
                self.leave_counter(e.booking);
                if let Some(visit) = self.visits.get_mut(&e.booking) {
                    visit.status = VisitStatus::Parked;
                    visit.parked_at = Some(e.parked_at);
                }
            }
            FloorEvent::Returned(e) => {
                if let Some(visit) = self.visits.get_mut(&e.booking) {
                    visit.status = VisitStatus::CheckedIn;
                    visit.waiting_since = Some(e.returned_at);
                }
                self.enqueue(e.booking);
            }
            FloorEvent::Missed(e) => {
                self.leave_counter(e.booking);
                self.dequeue(e.booking);
                let visit = self.visits.entry(e.booking).or_insert(Visit {
                    booking: e.booking,
                    number: e.number,
                    start: e.start,
                    status: VisitStatus::Missed,
                    counter: None,
                    checked_in_at: None,
                    waiting_since: None,
                    first_called_at: None,
                    last_called_at: None,
                    recalls: 0,
                    started_at: None,
                    parked_at: None,
                    finished_at: None,
                    missed_at: None,
                    missed: None,
                });
                visit.status = VisitStatus::Missed;
                visit.missed_at = Some(e.missed_at);
                visit.missed = Some(e.reason);
            }
            FloorEvent::CounterOpened(e) => self.set_counter(&e.counter, CounterStatus::Open, e.opened_at),
            FloorEvent::CounterPaused(e) => {
                self.set_counter(&e.counter, CounterStatus::Paused(e.reason.clone()), e.paused_at)
            }
            FloorEvent::CounterClosed(e) => self.set_counter(&e.counter, CounterStatus::Closed, e.closed_at),
        }
    }
}

// --- commands --------------------------------------------------------------------

/// Check a visitor in (kiosk or clerk, by check-in code). The caller found
/// the booking by its code's hash, folded `booking:{id}` into `booking`,
/// and reads the floor of `office` on `date` (the office's today).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    pub office: OfficeId,
    pub date: LocalDate,
    pub booking: BookingFacts,
    pub now: DateTime<Utc>,
    pub policy: FloorPolicy,
    /// The wait the kiosk estimated for this visitor, recorded on the event.
    pub estimate: Option<EstimatedCall>,
}

/// Open a counter, or resume a paused one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCounter {
    pub office: OfficeId,
    pub date: LocalDate,
    pub counter: CounterId,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseCounter {
    pub office: OfficeId,
    pub date: LocalDate,
    pub counter: CounterId,
    pub reason: PauseReason,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseCounter {
    pub office: OfficeId,
    pub date: LocalDate,
    pub counter: CounterId,
    pub now: DateTime<Utc>,
}

/// Call the next visitor to `counter` ("next").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallNext {
    pub office: OfficeId,
    pub date: LocalDate,
    pub counter: CounterId,
    pub now: DateTime<Utc>,
}

/// Move a visit on (recall, missed, start, finish, park, return). The
/// caller finds the visit's office day from `booking:{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveVisit {
    pub office: OfficeId,
    pub date: LocalDate,
    pub booking: BookingId,
    pub action: VisitAction,
    pub now: DateTime<Utc>,
    pub policy: FloorPolicy,
}

/// The no-show timer: a confirmed booking never checked in by start +
/// `check_in_late` is missed. Reads the floor of the booking's office day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkNoShow {
    pub booking: BookingFacts,
    pub now: DateTime<Utc>,
    pub policy: FloorPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FloorCommand {
    CheckIn(CheckIn),
    OpenCounter(OpenCounter),
    PauseCounter(PauseCounter),
    CloseCounter(CloseCounter),
    CallNext(CallNext),
    MoveVisit(MoveVisit),
    MarkNoShow(MarkNoShow),
}

impl FloorCommand {
    /// The one stream the decision reads (and conditions its append on).
    pub fn stream(&self) -> StreamName {
        let (office, date) = match self {
            Self::CheckIn(c) => (&c.office, c.date),
            Self::OpenCounter(c) => (&c.office, c.date),
            Self::PauseCounter(c) => (&c.office, c.date),
            Self::CloseCounter(c) => (&c.office, c.date),
            Self::CallNext(c) => (&c.office, c.date),
            Self::MoveVisit(c) => (&c.office, c.date),
            Self::MarkNoShow(c) => (&c.booking.office, c.booking.date),
        };
        StreamName::floor(office, date.into())
    }
}

macro_rules! floor_command_from {
    ($($command:ident),* $(,)?) => {
        $(impl From<$command> for FloorCommand {
            fn from(command: $command) -> Self {
                Self::$command(command)
            }
        })*
    };
}

floor_command_from!(
    CheckIn,
    OpenCounter,
    PauseCounter,
    CloseCounter,
    CallNext,
    MoveVisit,
    MarkNoShow
);

/// Why a booking cannot check in here (all answered "bitte an die
/// Information": 409 `/not-checkable`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotCheckable {
    #[error("it is booked at office {0}")]
    OtherOffice(OfficeId),
    #[error("it is booked for {0}")]
    OtherDay(LocalDate),
    #[error("it is not confirmed")]
    NotConfirmed,
    #[error("it was cancelled")]
    Cancelled,
    #[error("it lapsed unconfirmed")]
    Lapsed,
    #[error("its visit is over ({0})")]
    VisitOver(VisitStatus),
}

/// Why a floor decision was refused. German-free: the HTTP layer words it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FloorError {
    /// 409 `/too-early` with `from`.
    #[error("check-in opens at {from}")]
    TooEarly { from: DateTime<Utc> },
    /// 409 `/too-late`.
    #[error("check-in closed at {until}")]
    TooLate { until: DateTime<Utc> },
    /// 409 `/not-checkable`.
    #[error("cannot check in here: {0}")]
    NotCheckable(NotCheckable),
    /// 409 `/counter-busy`.
    #[error("counter {counter} has visitor {booking}")]
    CounterBusy { counter: CounterId, booking: BookingId },
    /// 409; API.md names no type yet (say `/counter-paused`, with the reason).
    #[error("counter {counter} is paused ({reason})")]
    CounterPaused { counter: CounterId, reason: PauseReason },
    /// 409; API.md names no type yet (say `/counter-closed`).
    #[error("counter {counter} is closed")]
    CounterClosed { counter: CounterId },
    /// Pausing a counter that is not open: 409 (say `/counter-not-open`).
    #[error("counter {counter} is not open")]
    CounterNotOpen { counter: CounterId },
    /// 409; API.md names no type yet (say `/too-soon-to-recall`, with `from`).
    #[error("a recall is possible from {from}")]
    TooSoonToRecall { from: DateTime<Utc> },
    /// A visit action for a booking not checked in on this floor: 409
    /// `/invalid-transition` (its state, "confirmed", does not allow it).
    #[error("booking {booking} is not on the floor today")]
    NotOnTheFloor { booking: BookingId },
    /// 409 `/invalid-transition`.
    #[error("a visit that is {from} cannot {action}")]
    InvalidTransition { from: VisitStatus, action: VisitAction },
}

/// Decides every floor command on the office day's [`FloorDay`].
pub struct FloorDecider;

impl Decider for FloorDecider {
    type Command = FloorCommand;
    type Event = FloorEvent;
    type State = FloorDay;
    type Error = FloorError;

    fn decide(command: &FloorCommand, state: &FloorDay) -> Result<Vec<FloorEvent>, FloorError> {
        match command {
            FloorCommand::CheckIn(command) => check_in(command, state),
            FloorCommand::OpenCounter(command) => open_counter(command, state),
            FloorCommand::PauseCounter(command) => pause_counter(command, state),
            FloorCommand::CloseCounter(command) => close_counter(command, state),
            FloorCommand::CallNext(command) => call_next(command, state),
            FloorCommand::MoveVisit(command) => move_visit(command, state),
            FloorCommand::MarkNoShow(command) => mark_no_show(command, state),
        }
    }

    fn evolve(mut state: FloorDay, event: &FloorEvent) -> FloorDay {
        state.apply(event);
        state
    }
}

fn check_in(command: &CheckIn, state: &FloorDay) -> Result<Vec<FloorEvent>, FloorError> {
    let CheckIn {
        office,
        date,
        booking: facts,
        now,
        policy,
        estimate,
    } = command;
    let refuse = |why| Err(FloorError::NotCheckable(why));
    if &facts.office != office {
        return refuse(NotCheckable::OtherOffice(facts.office.clone()));
    }
    if &facts.date != date {
        return refuse(NotCheckable::OtherDay(facts.date));
    }
    let number = match facts.status {
        BookingStatus::Confirmed(number) => number,
        BookingStatus::PendingConfirmation => return refuse(NotCheckable::NotConfirmed),
        BookingStatus::Cancelled => return refuse(NotCheckable::Cancelled),
        BookingStatus::Lapsed => return refuse(NotCheckable::Lapsed),
    };
    let from = facts.start - policy.check_in_early;
    let until = facts.start + policy.check_in_late;
    if let Some(visit) = state.visit(&facts.booking) {
        return match (visit.status, visit.missed) {
            // A repeat: the kiosk answers as the first time.
            (status, _) if status.is_open() => Ok(vec![]),
            // Whether or not the timer has run: the window closed.
            (_, Some(MissedReason::NoShow)) => Err(FloorError::TooLate { until }),
            (status, _) => refuse(NotCheckable::VisitOver(status)),
        };
    }
    if *now < from {
        return Err(FloorError::TooEarly { from });
    }
    if *now > until {
        return Err(FloorError::TooLate { until });
    }
    Ok(vec![FloorEvent::CheckedIn(VisitCheckedIn {
        booking: facts.booking,
        office: office.clone(),
        date: *date,
        number,
        start: facts.start,
        checked_in_at: *now,
        estimate: *estimate,
    })])
}

fn open_counter(command: &OpenCounter, state: &FloorDay) -> Result<Vec<FloorEvent>, FloorError> {
    if state
        .counter(&command.counter)
        .is_some_and(|counter| counter.status == CounterStatus::Open)
    {
        return Ok(vec![]);
    }
    Ok(vec![FloorEvent::CounterOpened(CounterOpened {
        office: command.office.clone(),
        date: command.date,
        counter: command.counter.clone(),
        opened_at: command.now,
    })])
}

fn pause_counter(command: &PauseCounter, state: &FloorDay) -> Result<Vec<FloorEvent>, FloorError> {
    let not_open = || FloorError::CounterNotOpen {
        counter: command.counter.clone(),
    };
    let counter = state.counter(&command.counter).ok_or_else(not_open)?;
    match &counter.status {
        // The first reason stands; open and pause again to change it.
        CounterStatus::Paused(_) => Ok(vec![]),
        CounterStatus::Closed => Err(not_open()),
        CounterStatus::Open => {
            if let Some(booking) = counter.visitor {
                return Err(FloorError::CounterBusy {
                    counter: command.counter.clone(),
                    booking,
                });
            }
            Ok(vec![FloorEvent::CounterPaused(CounterPaused {
                office: command.office.clone(),
                date: command.date,
                counter: command.counter.clone(),
                reason: command.reason.clone(),
                paused_at: command.now,
            })])
        }
    }
}

fn close_counter(command: &CloseCounter, state: &FloorDay) -> Result<Vec<FloorEvent>, FloorError> {
    // Never opened today, or closed: it is closed already.
    let Some(counter) = state
        .counter(&command.counter)
        .filter(|counter| counter.status != CounterStatus::Closed)
    else {
        return Ok(vec![]);
    };
    if let Some(booking) = counter.visitor {
        return Err(FloorError::CounterBusy {
            counter: command.counter.clone(),
            booking,
        });
    }
    Ok(vec![FloorEvent::CounterClosed(CounterClosed {
        office: command.office.clone(),
        date: command.date,
        counter: command.counter.clone(),
        closed_at: command.now,
    })])
}

fn call_next(command: &CallNext, state: &FloorDay) -> Result<Vec<FloorEvent>, FloorError> {
    let CallNext {
        office,
        date,
        counter,
        now,
    } = command;
    let mut events = Vec::with_capacity(2);
    match state.counter(counter) {
        None => events.push(FloorEvent::CounterOpened(CounterOpened {
            office: office.clone(),
            date: *date,
            counter: counter.clone(),
            opened_at: *now,
        })),
        Some(Counter {
            status: CounterStatus::Paused(reason),
            ..
        }) => {
            return Err(FloorError::CounterPaused {
                counter: counter.clone(),
                reason: reason.clone(),
            });
        }
        Some(Counter {
            status: CounterStatus::Closed,
            ..
        }) => {
            return Err(FloorError::CounterClosed {
                counter: counter.clone(),
            });
        }
        Some(Counter {
            visitor: Some(booking), ..
        }) => {
            return Err(FloorError::CounterBusy {
                counter: counter.clone(),
                booking: *booking,
            });
        }
        Some(_) => {}
    }
    let Some(next) = state.next_in_line() else {
        return Ok(vec![]);
    };
    events.push(FloorEvent::Called(VisitCalled {
        booking: next.booking,
        office: office.clone(),
        date: *date,
        number: next.number,
        counter: counter.clone(),
        called_at: *now,
    }));
    Ok(events)
}

fn move_visit(command: &MoveVisit, state: &FloorDay) -> Result<Vec<FloorEvent>, FloorError> {
    use VisitAction as A;
    use VisitStatus as S;
    let MoveVisit {
        office,
        date,
        booking,
        action,
        now,
        policy,
    } = command;
    let visit = state
        .visit(booking)
        .ok_or(FloorError::NotOnTheFloor { booking: *booking })?;
    let invalid = || FloorError::InvalidTransition {
        from: visit.status,
        action: *action,
    };
    let (office, date, booking, now) = (office.clone(), *date, *booking, *now);
    let event = match (action, visit.status, visit.counter.clone()) {
        (A::Recall, S::Called, Some(counter)) => {
            let from = visit.last_called_at.unwrap_or(now) + policy.recall_after;
            if now < from {
                return Err(FloorError::TooSoonToRecall { from });
            }
            FloorEvent::Recalled(VisitRecalled {
                booking,
                office,
                date,
                number: visit.number,
                counter,
                recalled_at: now,
            })
        }
        (A::Missed, S::Called, Some(counter)) if visit.recalls > 0 => FloorEvent::Missed(VisitMissed {
            booking,
            office,
            date,
            number: visit.number,
            start: visit.start,
            reason: MissedReason::AbsentWhenCalled,
            counter: Some(counter),
            missed_at: now,
        }),
        (A::Start, S::Called, Some(counter)) => FloorEvent::Started(VisitStarted {
            booking,
            office,
            date,
            counter,
            started_at: now,
        }),
        (A::Finish, S::Serving, Some(counter)) => FloorEvent::Finished(VisitFinished {
            booking,
            office,
            date,
            counter,
            finished_at: now,
        }),
        (A::Park, S::Called | S::Serving, Some(counter)) => FloorEvent::Parked(VisitParked {
            booking,
            office,
            date,
            counter,
            parked_at: now,
        }),
        (A::Return, S::Parked, _) => FloorEvent::Returned(VisitReturned {
            booking,
            office,
            date,
            returned_at: now,
        }),
        _ => return Err(invalid()),
    };
    Ok(vec![event])
}

fn mark_no_show(command: &MarkNoShow, state: &FloorDay) -> Result<Vec<FloorEvent>, FloorError> {
    let MarkNoShow {
        booking: facts,
        now,
        policy,
    } = command;
    // The timer may fire early, late or twice: anything but a due no-show is done.
    let BookingStatus::Confirmed(number) = facts.status else {
        return Ok(vec![]);
    };
    if state.visit(&facts.booking).is_some() || *now <= facts.start + policy.check_in_late {
        return Ok(vec![]);
    }
    Ok(vec![FloorEvent::Missed(VisitMissed {
        booking: facts.booking,
        office: facts.office.clone(),
        date: facts.date,
        number,
        start: facts.start,
        reason: MissedReason::NoShow,
        counter: None,
        missed_at: *now,
    })])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixtures::{at, booking_id};
    use crate::testing::{given, given_no_events};
    use proptest::prelude::*;

    const DAY: &str = "2026-11-20";

    fn office() -> OfficeId {
        "mitte".parse().unwrap()
    }

    fn day() -> LocalDate {
        DAY.parse().unwrap()
    }

    /// `hh:mm` (or `hh:mm:ss`) on the floor's day, Berlin time.
    fn t(clock: &str) -> DateTime<Utc> {
        match clock.split_at_checked(5) {
            Some((hhmm, "")) => at(DAY, hhmm),
            Some((hhmm, seconds)) => at(DAY, hhmm) + Duration::seconds(seconds[1..].parse().unwrap()),
            None => panic!("{clock}"),
        }
    }

    fn counter(name: &str) -> CounterId {
        name.parse().unwrap()
    }

    fn number(n: u64) -> WaitingNumber {
        WaitingNumber::nth(n as u32).unwrap()
    }

    /// Booking `n` (waiting number `n`), confirmed, starting at `start` today.
    fn facts(n: u64, start: &str) -> BookingFacts {
        BookingFacts {
            booking: booking_id(n),
            office: office(),
            date: day(),
            start: t(start),
            status: BookingStatus::Confirmed(number(n)),
        }
    }

    fn check_in(n: u64, start: &str, now: &str) -> FloorCommand {
        CheckIn {
            office: office(),
            date: day(),
            booking: facts(n, start),
            now: t(now),
            policy: FloorPolicy::default(),
            estimate: None,
        }
        .into()
    }

    fn checked_in(n: u64, start: &str, now: &str) -> FloorEvent {
        FloorEvent::CheckedIn(VisitCheckedIn {
            booking: booking_id(n),
            office: office(),
            date: day(),
            number: number(n),
            start: t(start),
            checked_in_at: t(now),
            estimate: None,
        })
    }

    fn next(at_counter: &str, now: &str) -> FloorCommand {
        CallNext {
            office: office(),
            date: day(),
            counter: counter(at_counter),
            now: t(now),
        }
        .into()
    }

    fn opened(at_counter: &str, now: &str) -> FloorEvent {
        FloorEvent::CounterOpened(CounterOpened {
            office: office(),
            date: day(),
            counter: counter(at_counter),
            opened_at: t(now),
        })
    }

    fn open(at_counter: &str, now: &str) -> FloorCommand {
        OpenCounter {
            office: office(),
            date: day(),
            counter: counter(at_counter),
            now: t(now),
        }
        .into()
    }

    fn pause(at_counter: &str, now: &str) -> FloorCommand {
        PauseCounter {
            office: office(),
            date: day(),
            counter: counter(at_counter),
            reason: "Mittagspause".parse().unwrap(),
            now: t(now),
        }
        .into()
    }

    fn paused(at_counter: &str, now: &str) -> FloorEvent {
        FloorEvent::CounterPaused(CounterPaused {
            office: office(),
            date: day(),
            counter: counter(at_counter),
            reason: "Mittagspause".parse().unwrap(),
            paused_at: t(now),
        })
    }

    fn close(at_counter: &str, now: &str) -> FloorCommand {
        CloseCounter {
            office: office(),
            date: day(),
            counter: counter(at_counter),
            now: t(now),
        }
        .into()
    }

    fn closed(at_counter: &str, now: &str) -> FloorEvent {
        FloorEvent::CounterClosed(CounterClosed {
            office: office(),
            date: day(),
            counter: counter(at_counter),
            closed_at: t(now),
        })
    }

    fn called(n: u64, at_counter: &str, now: &str) -> FloorEvent {
        FloorEvent::Called(VisitCalled {
            booking: booking_id(n),
            office: office(),
            date: day(),
            number: number(n),
            counter: counter(at_counter),
            called_at: t(now),
        })
    }

    fn recalled(n: u64, at_counter: &str, now: &str) -> FloorEvent {
        FloorEvent::Recalled(VisitRecalled {
            booking: booking_id(n),
            office: office(),
            date: day(),
            number: number(n),
            counter: counter(at_counter),
            recalled_at: t(now),
        })
    }

    fn started(n: u64, at_counter: &str, now: &str) -> FloorEvent {
        FloorEvent::Started(VisitStarted {
            booking: booking_id(n),
            office: office(),
            date: day(),
            counter: counter(at_counter),
            started_at: t(now),
        })
    }

    fn finished(n: u64, at_counter: &str, now: &str) -> FloorEvent {
        FloorEvent::Finished(VisitFinished {
            booking: booking_id(n),
            office: office(),
            date: day(),
            counter: counter(at_counter),
            finished_at: t(now),
        })
    }

    fn parked(n: u64, at_counter: &str, now: &str) -> FloorEvent {
        FloorEvent::Parked(VisitParked {
            booking: booking_id(n),
            office: office(),
            date: day(),
            counter: counter(at_counter),
            parked_at: t(now),
        })
    }

    fn returned(n: u64, now: &str) -> FloorEvent {
        FloorEvent::Returned(VisitReturned {
            booking: booking_id(n),
            office: office(),
            date: day(),
            returned_at: t(now),
        })
    }

    fn missed_at_counter(n: u64, start: &str, at_counter: &str, now: &str) -> FloorEvent {
        FloorEvent::Missed(VisitMissed {
            booking: booking_id(n),
            office: office(),
            date: day(),
            number: number(n),
            start: t(start),
            reason: MissedReason::AbsentWhenCalled,
            counter: Some(counter(at_counter)),
            missed_at: t(now),
        })
    }

    fn no_show(n: u64, start: &str, now: &str) -> FloorEvent {
        FloorEvent::Missed(VisitMissed {
            booking: booking_id(n),
            office: office(),
            date: day(),
            number: number(n),
            start: t(start),
            reason: MissedReason::NoShow,
            counter: None,
            missed_at: t(now),
        })
    }

    fn act(n: u64, action: VisitAction, now: &str) -> FloorCommand {
        MoveVisit {
            office: office(),
            date: day(),
            booking: booking_id(n),
            action,
            now: t(now),
            policy: FloorPolicy::default(),
        }
        .into()
    }

    fn mark_no_show(booking: BookingFacts, now: &str) -> FloorCommand {
        MarkNoShow {
            booking,
            now: t(now),
            policy: FloorPolicy::default(),
        }
        .into()
    }

    /// Booking 1 (10:00) checked in and called to counter 6 at 10:00.
    fn called_history() -> Vec<FloorEvent> {
        vec![
            checked_in(1, "10:00", "09:50"),
            opened("6", "09:55"),
            called(1, "6", "10:00"),
        ]
    }

    // --- check-in ------------------------------------------------------------------

    #[test]
    fn check_in_opens_exactly_check_in_early_before_the_start() {
        given_no_events::<FloorDecider>()
            .when(check_in(1, "10:00", "09:45"))
            .then([checked_in(1, "10:00", "09:45")]);
    }

    #[test]
    fn one_minute_before_the_window_is_too_early_and_says_from_when() {
        given_no_events::<FloorDecider>()
            .when(check_in(1, "10:00", "09:44"))
            .then_error(FloorError::TooEarly { from: t("09:45") });
        given_no_events::<FloorDecider>()
            .when(check_in(1, "10:00", "09:44:59"))
            .then_error(FloorError::TooEarly { from: t("09:45") });
    }

    #[test]
    fn check_in_closes_exactly_check_in_late_after_the_start() {
        given_no_events::<FloorDecider>()
            .when(check_in(1, "10:00", "10:05"))
            .then([checked_in(1, "10:00", "10:05")]);
    }

    #[test]
    fn after_the_window_is_too_late() {
        given_no_events::<FloorDecider>()
            .when(check_in(1, "10:00", "10:05:01"))
            .then_error(FloorError::TooLate { until: t("10:05") });
        given_no_events::<FloorDecider>()
            .when(check_in(1, "10:00", "10:06"))
            .then_error(FloorError::TooLate { until: t("10:05") });
    }

    #[test]
    fn the_policy_sets_the_window() {
        let policy = FloorPolicy {
            check_in_early: Duration::minutes(30),
            check_in_late: Duration::minutes(10),
            recall_after: Duration::minutes(5),
        };
        let command = |now: &str| CheckIn {
            office: office(),
            date: day(),
            booking: facts(1, "10:00"),
            now: t(now),
            policy,
            estimate: None,
        };
        given_no_events::<FloorDecider>()
            .when(command("09:30").into())
            .then([checked_in(1, "10:00", "09:30")]);
        given_no_events::<FloorDecider>()
            .when(command("09:29").into())
            .then_error(FloorError::TooEarly { from: t("09:30") });
        given_no_events::<FloorDecider>()
            .when(command("10:10").into())
            .then([checked_in(1, "10:00", "10:10")]);
        given_no_events::<FloorDecider>()
            .when(command("10:11").into())
            .then_error(FloorError::TooLate { until: t("10:10") });
    }

    #[test]
    fn a_repeated_check_in_decides_nothing_while_the_visit_is_open() {
        given::<FloorDecider>([checked_in(1, "10:00", "09:50")])
            .when(check_in(1, "10:00", "09:51"))
            .then([]);
        // Even once the window has closed: the kiosk answers as the first time.
        given::<FloorDecider>([checked_in(1, "10:00", "09:50")])
            .when(check_in(1, "10:00", "10:30"))
            .then([]);
        given::<FloorDecider>(called_history())
            .when(check_in(1, "10:00", "10:01"))
            .then([]);
        let mut serving = called_history();
        serving.push(started(1, "6", "10:01"));
        given::<FloorDecider>(serving.clone())
            .when(check_in(1, "10:00", "10:02"))
            .then([]);
        serving.push(parked(1, "6", "10:03"));
        given::<FloorDecider>(serving)
            .when(check_in(1, "10:00", "10:04"))
            .then([]);
    }

    #[test]
    fn a_finished_or_missed_visit_does_not_check_in_again() {
        let mut history = called_history();
        history.extend([started(1, "6", "10:01"), finished(1, "6", "10:10")]);
        given::<FloorDecider>(history)
            .when(check_in(1, "10:00", "10:11"))
            .then_error(FloorError::NotCheckable(NotCheckable::VisitOver(VisitStatus::Finished)));
        let mut history = called_history();
        history.extend([recalled(1, "6", "10:05"), missed_at_counter(1, "10:00", "6", "10:06")]);
        given::<FloorDecider>(history)
            .when(check_in(1, "10:00", "10:07"))
            .then_error(FloorError::NotCheckable(NotCheckable::VisitOver(VisitStatus::Missed)));
    }

    #[test]
    fn a_no_show_is_too_late_as_if_the_timer_had_not_run() {
        given::<FloorDecider>([no_show(1, "10:00", "10:06")])
            .when(check_in(1, "10:00", "10:07"))
            .then_error(FloorError::TooLate { until: t("10:05") });
        given_no_events::<FloorDecider>()
            .when(check_in(1, "10:00", "10:07"))
            .then_error(FloorError::TooLate { until: t("10:05") });
    }

    #[test]
    fn a_booking_of_another_office_or_day_is_not_checkable() {
        let mut elsewhere = facts(1, "10:00");
        elsewhere.office = "nord".parse().unwrap();
        let command = |booking: BookingFacts| -> FloorCommand {
            CheckIn {
                office: office(),
                date: day(),
                booking,
                now: t("09:50"),
                policy: FloorPolicy::default(),
                estimate: None,
            }
            .into()
        };
        given_no_events::<FloorDecider>()
            .when(command(elsewhere))
            .then_error(FloorError::NotCheckable(NotCheckable::OtherOffice(
                "nord".parse().unwrap(),
            )));
        // Tomorrow at the same time: not "too early", but the wrong day.
        let mut tomorrow = facts(1, "10:00");
        tomorrow.date = "2026-11-21".parse().unwrap();
        tomorrow.start = at("2026-11-21", "10:00");
        given_no_events::<FloorDecider>()
            .when(command(tomorrow))
            .then_error(FloorError::NotCheckable(NotCheckable::OtherDay(
                "2026-11-21".parse().unwrap(),
            )));
    }

    #[test]
    fn only_a_confirmed_booking_checks_in() {
        for (status, why) in [
            (BookingStatus::PendingConfirmation, NotCheckable::NotConfirmed),
            (BookingStatus::Cancelled, NotCheckable::Cancelled),
            (BookingStatus::Lapsed, NotCheckable::Lapsed),
        ] {
            let mut booking = facts(1, "10:00");
            booking.status = status;
            given_no_events::<FloorDecider>()
                .when(
                    CheckIn {
                        office: office(),
                        date: day(),
                        booking,
                        now: t("09:50"),
                        policy: FloorPolicy::default(),
                        estimate: None,
                    }
                    .into(),
                )
                .then_error(FloorError::NotCheckable(why));
        }
    }

    // --- counters ------------------------------------------------------------------

    #[test]
    fn a_counter_opens_once_and_opening_resumes_a_paused_or_closed_one() {
        given_no_events::<FloorDecider>()
            .when(open("6", "08:00"))
            .then([opened("6", "08:00")]);
        given::<FloorDecider>([opened("6", "08:00")])
            .when(open("6", "08:01"))
            .then([]);
        given::<FloorDecider>([opened("6", "08:00"), paused("6", "12:00")])
            .when(open("6", "12:30"))
            .then([opened("6", "12:30")]);
        given::<FloorDecider>([opened("6", "08:00"), closed("6", "12:00")])
            .when(open("6", "13:00"))
            .then([opened("6", "13:00")]);
    }

    #[test]
    fn next_on_a_counter_never_opened_today_opens_it() {
        given::<FloorDecider>([checked_in(1, "10:00", "09:50")])
            .when(next("6", "10:00"))
            .then([opened("6", "10:00"), called(1, "6", "10:00")]);
    }

    #[test]
    fn next_with_nobody_waiting_decides_nothing_not_even_the_opening() {
        given_no_events::<FloorDecider>().when(next("6", "10:00")).then([]);
        given::<FloorDecider>([opened("6", "08:00")])
            .when(next("6", "10:00"))
            .then([]);
    }

    #[test]
    fn a_paused_counter_does_not_call() {
        given::<FloorDecider>([
            checked_in(1, "10:00", "09:50"),
            opened("6", "08:00"),
            paused("6", "09:55"),
        ])
        .when(next("6", "10:00"))
        .then_error(FloorError::CounterPaused {
            counter: counter("6"),
            reason: "Mittagspause".parse().unwrap(),
        });
    }

    #[test]
    fn a_closed_counter_does_not_call() {
        given::<FloorDecider>([
            checked_in(1, "10:00", "09:50"),
            opened("6", "08:00"),
            closed("6", "09:55"),
        ])
        .when(next("6", "10:00"))
        .then_error(FloorError::CounterClosed { counter: counter("6") });
    }

    #[test]
    fn pausing_needs_an_open_counter_without_a_visitor() {
        given_no_events::<FloorDecider>()
            .when(pause("6", "12:00"))
            .then_error(FloorError::CounterNotOpen { counter: counter("6") });
        given::<FloorDecider>([opened("6", "08:00"), closed("6", "11:00")])
            .when(pause("6", "12:00"))
            .then_error(FloorError::CounterNotOpen { counter: counter("6") });
        given::<FloorDecider>([opened("6", "08:00")])
            .when(pause("6", "12:00"))
            .then([paused("6", "12:00")]);
        // Paused again: the first reason stands.
        given::<FloorDecider>([opened("6", "08:00"), paused("6", "12:00")])
            .when(pause("6", "12:01"))
            .then([]);
        given::<FloorDecider>(called_history())
            .when(pause("6", "10:01"))
            .then_error(FloorError::CounterBusy {
                counter: counter("6"),
                booking: booking_id(1),
            });
    }

    #[test]
    fn closing_needs_no_visitor_and_a_closed_counter_stays_closed() {
        given::<FloorDecider>([opened("6", "08:00")])
            .when(close("6", "16:00"))
            .then([closed("6", "16:00")]);
        given::<FloorDecider>([opened("6", "08:00"), paused("6", "12:00")])
            .when(close("6", "16:00"))
            .then([closed("6", "16:00")]);
        given::<FloorDecider>([opened("6", "08:00"), closed("6", "16:00")])
            .when(close("6", "16:01"))
            .then([]);
        given_no_events::<FloorDecider>().when(close("6", "16:00")).then([]);
        let mut serving = called_history();
        serving.push(started(1, "6", "10:01"));
        given::<FloorDecider>(serving)
            .when(close("6", "10:02"))
            .then_error(FloorError::CounterBusy {
                counter: counter("6"),
                booking: booking_id(1),
            });
    }

    #[test]
    fn a_counter_is_a_short_slug_and_a_pause_has_a_one_line_reason() {
        for good in ["6", "schalter-12", "info", &"a".repeat(16)] {
            assert_eq!(CounterId::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "Schalter", "6 a", "ä", &"a".repeat(17)] {
            assert_eq!(CounterId::parse(bad), Err(InvalidCounterId(bad.to_owned())), "{bad:?}");
        }
        assert!(serde_json::from_str::<CounterId>("\"A\"").is_err());
        assert_eq!(PauseReason::parse(" Mittag ").unwrap().as_str(), "Mittag");
        assert_eq!(PauseReason::parse(""), Err(TextError::Empty));
        assert_eq!(PauseReason::parse("a\nb"), Err(TextError::ControlCharacter));
        assert!(PauseReason::parse(&"x".repeat(201)).is_err());
    }

    // --- calling -------------------------------------------------------------------

    #[test]
    fn due_visitors_are_called_by_start_then_by_check_in() {
        let history = [
            checked_in(3, "10:12", "09:58"),
            checked_in(2, "10:00", "09:55"),
            checked_in(1, "10:00", "09:50"),
            checked_in(4, "10:24", "09:40"),
            opened("1", "08:00"),
            opened("2", "08:00"),
            opened("3", "08:00"),
        ];
        // At 10:15, 1, 2 and 3 are due: by start, then by check-in.
        given::<FloorDecider>(history.clone())
            .when(next("1", "10:15"))
            .then([called(1, "1", "10:15")]);
        let mut after_one = history.to_vec();
        after_one.push(called(1, "1", "10:15"));
        given::<FloorDecider>(after_one.clone())
            .when(next("2", "10:15"))
            .then([called(2, "2", "10:15")]);
        after_one.push(called(2, "2", "10:15"));
        // 4 checked in first of all, but starts later: 3 is due, 4 is not.
        given::<FloorDecider>(after_one)
            .when(next("3", "10:15"))
            .then([called(3, "3", "10:15")]);
    }

    #[test]
    fn a_due_visitor_goes_before_one_who_checked_in_earlier_for_a_later_start() {
        given::<FloorDecider>([
            checked_in(2, "10:24", "09:40"),
            checked_in(1, "10:00", "09:59"),
            opened("6", "08:00"),
        ])
        .when(next("6", "10:00"))
        .then([called(1, "6", "10:00")]);
    }

    #[test]
    fn when_nobody_is_due_the_earliest_start_is_called() {
        given::<FloorDecider>([
            checked_in(2, "10:24", "09:50"),
            checked_in(1, "10:12", "09:58"),
            checked_in(3, "10:36", "09:30"),
            opened("6", "08:00"),
        ])
        .when(next("6", "10:00"))
        .then([called(1, "6", "10:00")]);
    }

    #[test]
    fn a_busy_counter_calls_nobody() {
        let mut history = called_history();
        history.push(checked_in(2, "10:00", "09:55"));
        given::<FloorDecider>(history.clone())
            .when(next("6", "10:01"))
            .then_error(FloorError::CounterBusy {
                counter: counter("6"),
                booking: booking_id(1),
            });
        history.push(recalled(1, "6", "10:05"));
        given::<FloorDecider>(history.clone())
            .when(next("6", "10:06"))
            .then_error(FloorError::CounterBusy {
                counter: counter("6"),
                booking: booking_id(1),
            });
        history.push(started(1, "6", "10:06"));
        given::<FloorDecider>(history.clone())
            .when(next("6", "10:07"))
            .then_error(FloorError::CounterBusy {
                counter: counter("6"),
                booking: booking_id(1),
            });
        history.push(finished(1, "6", "10:10"));
        given::<FloorDecider>(history)
            .when(next("6", "10:11"))
            .then([called(2, "6", "10:11")]);
    }

    #[test]
    fn two_counters_one_after_the_other_never_get_the_same_visitor() {
        let mut history = vec![
            checked_in(1, "10:00", "09:50"),
            checked_in(2, "10:00", "09:52"),
            opened("5", "08:00"),
            opened("6", "08:00"),
        ];
        let state = FloorDecider::fold(&history);
        let first = FloorDecider::decide(&next("5", "10:00"), &state).unwrap();
        assert_eq!(first, [called(1, "5", "10:00")]);
        history.extend(first);
        given::<FloorDecider>(history.clone())
            .when(next("6", "10:00"))
            .then([called(2, "6", "10:00")]);
        history.push(called(2, "6", "10:00"));
        // Nobody left: a third counter gets no one.
        given::<FloorDecider>(history).when(next("7", "10:00")).then([]);
    }

    #[test]
    fn a_visitor_already_called_is_not_called_again() {
        let mut history = called_history();
        history.push(opened("7", "08:00"));
        given::<FloorDecider>(history.clone()).when(next("7", "10:01")).then([]);
        // Nor once served, parked or missed.
        history.extend([started(1, "6", "10:01"), parked(1, "6", "10:02")]);
        given::<FloorDecider>(history.clone()).when(next("7", "10:03")).then([]);
        // Back from parking, it is called again.
        history.push(returned(1, "10:20"));
        given::<FloorDecider>(history)
            .when(next("7", "10:21"))
            .then([called(1, "7", "10:21")]);
    }

    #[test]
    fn two_clerks_at_once_pick_the_same_visitor_so_the_condition_lets_one_through() {
        // Both decide on the same read of the floor stream: the same person.
        // Each append is conditioned on that read, so only the first goes
        // through; the second decides again on the floor with the first call.
        let history = vec![
            checked_in(1, "10:00", "09:50"),
            checked_in(2, "10:00", "09:52"),
            opened("5", "08:00"),
            opened("6", "08:00"),
        ];
        let read = FloorDecider::fold(&history);
        let five = FloorDecider::decide(&next("5", "10:00"), &read).unwrap();
        let six = FloorDecider::decide(&next("6", "10:00"), &read).unwrap();
        assert_eq!(FloorEvent::called(&five).unwrap().booking, booking_id(1));
        assert_eq!(FloorEvent::called(&six).unwrap().booking, booking_id(1));
        assert!(
            five.iter()
                .chain(&six)
                .all(|event| event.streams()[0] == StreamName::floor(&office(), day().into()))
        );
        let mut log = history;
        log.extend(five);
        given::<FloorDecider>(log)
            .when(next("6", "10:00"))
            .then([called(2, "6", "10:00")]);
    }

    // --- recall and missed ---------------------------------------------------------

    #[test]
    fn a_recall_is_allowed_exactly_recall_after_the_call() {
        given::<FloorDecider>(called_history())
            .when(act(1, VisitAction::Recall, "10:05"))
            .then([recalled(1, "6", "10:05")]);
    }

    #[test]
    fn a_recall_before_that_is_too_soon_and_says_from_when() {
        given::<FloorDecider>(called_history())
            .when(act(1, VisitAction::Recall, "10:04:59"))
            .then_error(FloorError::TooSoonToRecall { from: t("10:05") });
        given::<FloorDecider>(called_history())
            .when(act(1, VisitAction::Recall, "10:00"))
            .then_error(FloorError::TooSoonToRecall { from: t("10:05") });
    }

    #[test]
    fn a_second_recall_counts_from_the_first() {
        let mut history = called_history();
        history.push(recalled(1, "6", "10:07"));
        given::<FloorDecider>(history.clone())
            .when(act(1, VisitAction::Recall, "10:11"))
            .then_error(FloorError::TooSoonToRecall { from: t("10:12") });
        given::<FloorDecider>(history)
            .when(act(1, VisitAction::Recall, "10:12"))
            .then([recalled(1, "6", "10:12")]);
    }

    #[test]
    fn only_a_called_visitor_is_recalled() {
        given::<FloorDecider>([checked_in(1, "10:00", "09:50")])
            .when(act(1, VisitAction::Recall, "10:30"))
            .then_error(FloorError::InvalidTransition {
                from: VisitStatus::CheckedIn,
                action: VisitAction::Recall,
            });
        let mut serving = called_history();
        serving.push(started(1, "6", "10:01"));
        given::<FloorDecider>(serving)
            .when(act(1, VisitAction::Recall, "10:30"))
            .then_error(FloorError::InvalidTransition {
                from: VisitStatus::Serving,
                action: VisitAction::Recall,
            });
    }

    #[test]
    fn missed_only_after_a_recall() {
        given::<FloorDecider>(called_history())
            .when(act(1, VisitAction::Missed, "10:30"))
            .then_error(FloorError::InvalidTransition {
                from: VisitStatus::Called,
                action: VisitAction::Missed,
            });
        let mut history = called_history();
        history.push(recalled(1, "6", "10:05"));
        given::<FloorDecider>(history.clone())
            .when(act(1, VisitAction::Missed, "10:06"))
            .then([missed_at_counter(1, "10:00", "6", "10:06")]);
        // The counter is free again.
        history.extend([
            missed_at_counter(1, "10:00", "6", "10:06"),
            checked_in(2, "10:12", "10:00"),
        ]);
        given::<FloorDecider>(history.clone())
            .when(next("6", "10:07"))
            .then([called(2, "6", "10:07")]);
        // And the missed visit moves no more.
        given::<FloorDecider>(history)
            .when(act(1, VisitAction::Missed, "10:08"))
            .then_error(FloorError::InvalidTransition {
                from: VisitStatus::Missed,
                action: VisitAction::Missed,
            });
    }

    #[test]
    fn a_new_call_after_a_return_needs_a_new_recall_before_missed() {
        let mut history = called_history();
        history.extend([
            recalled(1, "6", "10:05"),
            parked(1, "6", "10:06"),
            returned(1, "10:20"),
            called(1, "6", "10:21"),
        ]);
        given::<FloorDecider>(history.clone())
            .when(act(1, VisitAction::Missed, "10:30"))
            .then_error(FloorError::InvalidTransition {
                from: VisitStatus::Called,
                action: VisitAction::Missed,
            });
        given::<FloorDecider>(history)
            .when(act(1, VisitAction::Recall, "10:25"))
            .then_error(FloorError::TooSoonToRecall { from: t("10:26") });
    }

    // --- start, finish, park, return -----------------------------------------------

    #[test]
    fn a_called_visitor_starts_and_a_served_one_finishes_freeing_the_counter() {
        given::<FloorDecider>(called_history())
            .when(act(1, VisitAction::Start, "10:02"))
            .then([started(1, "6", "10:02")]);
        // A recalled visitor who comes after all starts too.
        let mut recalled_history = called_history();
        recalled_history.push(recalled(1, "6", "10:05"));
        given::<FloorDecider>(recalled_history)
            .when(act(1, VisitAction::Start, "10:06"))
            .then([started(1, "6", "10:06")]);
        let mut serving = called_history();
        serving.push(started(1, "6", "10:02"));
        given::<FloorDecider>(serving.clone())
            .when(act(1, VisitAction::Finish, "10:14"))
            .then([finished(1, "6", "10:14")]);
        serving.push(finished(1, "6", "10:14"));
        let state = FloorDecider::fold(&serving);
        assert_eq!(state.counter(&counter("6")).unwrap().visitor, None);
        let visit = state.visit(&booking_id(1)).unwrap();
        assert_eq!(
            (visit.status, visit.counter.clone(), visit.started_at, visit.finished_at),
            (VisitStatus::Finished, None, Some(t("10:02")), Some(t("10:14")))
        );
    }

    #[test]
    fn finishing_needs_a_start() {
        given::<FloorDecider>(called_history())
            .when(act(1, VisitAction::Finish, "10:10"))
            .then_error(FloorError::InvalidTransition {
                from: VisitStatus::Called,
                action: VisitAction::Finish,
            });
    }

    #[test]
    fn a_called_or_served_visitor_is_parked_and_the_counter_freed() {
        given::<FloorDecider>(called_history())
            .when(act(1, VisitAction::Park, "10:03"))
            .then([parked(1, "6", "10:03")]);
        let mut serving = called_history();
        serving.push(started(1, "6", "10:02"));
        given::<FloorDecider>(serving.clone())
            .when(act(1, VisitAction::Park, "10:08"))
            .then([parked(1, "6", "10:08")]);
        serving.extend([parked(1, "6", "10:08"), checked_in(2, "10:12", "10:00")]);
        given::<FloorDecider>(serving)
            .when(next("6", "10:09"))
            .then([called(2, "6", "10:09")]);
    }

    #[test]
    fn a_returning_visitor_queues_again_under_the_original_check_in() {
        // 1 (10:00, checked in 09:50) is parked; 2 (10:00, checked in 09:55) waits.
        let mut history = called_history();
        history.extend([
            parked(1, "6", "10:03"),
            checked_in(2, "10:00", "09:55"),
            checked_in(3, "10:12", "10:00"),
        ]);
        given::<FloorDecider>(history.clone())
            .when(act(1, VisitAction::Return, "10:20"))
            .then([returned(1, "10:20")]);
        history.push(returned(1, "10:20"));
        let state = FloorDecider::fold(&history);
        let order: Vec<BookingId> = state.waiting().map(|visit| visit.booking).collect();
        assert_eq!(order, [booking_id(1), booking_id(2), booking_id(3)]);
        let visit = state.visit(&booking_id(1)).unwrap();
        assert_eq!(visit.checked_in_at, Some(t("09:50")));
        assert_eq!(visit.waiting_since, Some(t("10:20")));
        given::<FloorDecider>(history)
            .when(next("6", "10:21"))
            .then([called(1, "6", "10:21")]);
    }

    #[test]
    fn every_other_move_is_an_invalid_transition() {
        // A visit in each status, and the moves each status allows.
        let mut to_parked = called_history();
        to_parked.push(parked(1, "6", "10:03"));
        let mut to_serving = called_history();
        to_serving.push(started(1, "6", "10:02"));
        let mut to_finished = to_serving.clone();
        to_finished.push(finished(1, "6", "10:10"));
        let mut to_missed = called_history();
        to_missed.extend([recalled(1, "6", "10:05"), missed_at_counter(1, "10:00", "6", "10:06")]);
        let cases: [(VisitStatus, Vec<FloorEvent>, &[VisitAction]); 6] = [
            (VisitStatus::CheckedIn, vec![checked_in(1, "10:00", "09:50")], &[]),
            (
                VisitStatus::Called,
                called_history(),
                &[VisitAction::Recall, VisitAction::Start, VisitAction::Park],
            ),
            (
                VisitStatus::Serving,
                to_serving,
                &[VisitAction::Finish, VisitAction::Park],
            ),
            (VisitStatus::Parked, to_parked, &[VisitAction::Return]),
            (VisitStatus::Finished, to_finished, &[]),
            (VisitStatus::Missed, to_missed, &[]),
        ];
        for (status, history, allowed) in cases {
            let state = FloorDecider::fold(&history);
            assert_eq!(state.visit(&booking_id(1)).unwrap().status, status);
            for action in VisitAction::ALL {
                let outcome = FloorDecider::decide(&act(1, action, "11:00"), &state);
                if allowed.contains(&action) {
                    assert!(outcome.is_ok(), "{status} {action}: {outcome:?}");
                } else {
                    assert_eq!(
                        outcome,
                        Err(FloorError::InvalidTransition { from: status, action }),
                        "{status} {action}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_move_of_a_visit_not_on_the_floor_is_refused() {
        given_no_events::<FloorDecider>()
            .when(act(1, VisitAction::Start, "10:00"))
            .then_error(FloorError::NotOnTheFloor { booking: booking_id(1) });
    }

    // --- no-shows ------------------------------------------------------------------

    #[test]
    fn a_no_show_is_marked_only_after_start_plus_check_in_late() {
        given_no_events::<FloorDecider>()
            .when(mark_no_show(facts(1, "10:00"), "10:05"))
            .then([]);
        given_no_events::<FloorDecider>()
            .when(mark_no_show(facts(1, "10:00"), "10:05:01"))
            .then([no_show(1, "10:00", "10:05:01")]);
        given_no_events::<FloorDecider>()
            .when(mark_no_show(facts(1, "10:00"), "09:00"))
            .then([]);
    }

    #[test]
    fn only_a_confirmed_booking_never_checked_in_is_a_no_show() {
        given::<FloorDecider>([checked_in(1, "10:00", "10:05")])
            .when(mark_no_show(facts(1, "10:00"), "10:06"))
            .then([]);
        given::<FloorDecider>(called_history())
            .when(mark_no_show(facts(1, "10:00"), "10:30"))
            .then([]);
        for status in [
            BookingStatus::PendingConfirmation,
            BookingStatus::Cancelled,
            BookingStatus::Lapsed,
        ] {
            let mut booking = facts(1, "10:00");
            booking.status = status;
            given_no_events::<FloorDecider>()
                .when(mark_no_show(booking, "10:30"))
                .then([]);
        }
    }

    #[test]
    fn a_no_show_is_marked_once() {
        given::<FloorDecider>([no_show(1, "10:00", "10:06")])
            .when(mark_no_show(facts(1, "10:00"), "10:07"))
            .then([]);
        let state = FloorDecider::fold(&[no_show(1, "10:00", "10:06")]);
        let visit = state.visit(&booking_id(1)).unwrap();
        assert_eq!(
            (visit.status, visit.missed, visit.checked_in_at),
            (VisitStatus::Missed, Some(MissedReason::NoShow), None)
        );
        assert_eq!(state.waiting_count(), 0);
    }

    // --- events and views ----------------------------------------------------------

    #[test]
    fn events_keep_their_stored_shape_and_streams() {
        let floor = StreamName::floor(&office(), day().into());
        assert_eq!(floor.as_str(), "floor:mitte:2026-11-20");
        let call = called(1, "6", "10:00");
        assert_eq!(call.event_type(), "visit.called");
        assert_eq!(call.schema_version(), 1);
        assert_eq!(call.streams(), [floor.clone(), StreamName::booking(&booking_id(1))]);
        assert_eq!(
            call.to_data(),
            serde_json::json!({
                "booking": booking_id(1).to_string(),
                "office": "mitte",
                "date": "2026-11-20",
                "number": "1",
                "counter": "6",
                "called_at": "2026-11-20T09:00:00Z",
            })
        );
        assert_eq!(opened("6", "08:00").streams(), [floor]);
        let no_show = no_show(1, "10:00", "10:06");
        assert_eq!(no_show.to_data()["reason"], "no_show");
        assert!(no_show.to_data().get("counter").is_none());
        let every = [
            checked_in(1, "10:00", "09:50"),
            called(1, "6", "10:00"),
            recalled(1, "6", "10:05"),
            started(1, "6", "10:06"),
            finished(1, "6", "10:10"),
            parked(1, "6", "10:10"),
            returned(1, "10:20"),
            missed_at_counter(1, "10:00", "6", "10:30"),
            opened("6", "08:00"),
            paused("6", "12:00"),
            closed("6", "16:00"),
        ];
        let types: Vec<&str> = every.iter().map(DomainEvent::event_type).collect();
        assert_eq!(types, FloorEvent::EVENT_TYPES);
        for event in every {
            let back = FloorEvent::from_stored_json(event.event_type(), &event.to_data().to_string()).unwrap();
            assert_eq!(back, event);
        }
        assert_eq!("return".parse::<VisitAction>(), Ok(VisitAction::Return));
        assert!("jump".parse::<VisitAction>().is_err());
        assert!(
            VisitAction::ALL
                .iter()
                .all(|a| a.as_str().parse::<VisitAction>() == Ok(*a))
        );
    }

    #[test]
    fn the_day_shows_calls_counters_and_who_waits() {
        let history = vec![
            checked_in(1, "10:00", "09:50"),
            checked_in(2, "10:12", "09:58"),
            checked_in(3, "10:12", "10:01"),
            called(1, "6", "10:00"),
            recalled(1, "6", "10:05"),
            opened("2", "10:06"),
            called(2, "2", "10:06"),
            started(2, "2", "10:07"),
            started(1, "6", "10:08"),
            finished(1, "6", "10:20"),
            paused("6", "10:21"),
        ];
        let state = FloorDecider::fold(&history);
        let calls: Vec<(u16, &str, DateTime<Utc>, bool)> = state
            .calls()
            .iter()
            .map(|call| (call.number.get(), call.counter.as_str(), call.called_at, call.recall))
            .collect();
        assert_eq!(
            calls,
            [
                (1, "6", t("10:00"), false),
                (1, "6", t("10:05"), true),
                (2, "2", t("10:06"), false)
            ]
        );
        assert_eq!(state.counter(&counter("2")).unwrap().visitor, Some(booking_id(2)));
        assert_eq!(
            state.counter(&counter("6")).unwrap().status,
            CounterStatus::Paused("Mittagspause".parse().unwrap())
        );
        let waiting: Vec<(BookingId, Option<DateTime<Utc>>)> =
            state.waiting().map(|v| (v.booking, v.waiting_since)).collect();
        assert_eq!(waiting, [(booking_id(3), Some(t("10:01")))]);
        assert_eq!(state.ahead_of(&booking_id(3)), Some(0));
        assert_eq!(state.ahead_of(&booking_id(1)), None);
        let one = state.visit(&booking_id(1)).unwrap();
        assert_eq!(
            (one.checked_in_at, one.first_called_at, one.last_called_at, one.recalls),
            (Some(t("09:50")), Some(t("10:00")), Some(t("10:05")), 1)
        );
        assert_eq!(state.visit(&booking_id(2)).unwrap().status, VisitStatus::Serving);
    }

    #[test]
    fn facts_come_from_the_booking_state() {
        use crate::booking::Booking;
        use crate::testing::fixtures::sealed;
        let booking = Booking {
            office: office(),
            date: day(),
            units: vec![],
            start: t("10:00"),
            end: t("10:12"),
            confirm_by: t("09:00"),
            citizen: Some(sealed(1).envelope_id),
            status: BookingStatus::Confirmed(number(7)),
            services: vec![],
            personal_data: Some(sealed(1)),
        };
        let facts = BookingFacts::of(booking_id(7), &booking);
        assert_eq!(facts, super::tests::facts(7, "10:00"));
        assert_eq!(facts.floor_stream().as_str(), "floor:mitte:2026-11-20");
        assert_eq!(mark_no_show(facts.clone(), "10:30").stream(), facts.floor_stream());
    }

    // --- properties ----------------------------------------------------------------

    #[derive(Debug, Clone)]
    enum Op {
        CheckIn(u64),
        Open(u8),
        Pause(u8),
        Close(u8),
        Next(u8),
        Act(u64, VisitAction),
        /// The clerk at a counter moves its visitor on (the desk page).
        Desk(u8, VisitAction),
        NoShow(u64),
    }

    const BOOKINGS: u64 = 8;

    fn op() -> impl Strategy<Value = Op> {
        let booking = 1..=BOOKINGS;
        let counter = 1u8..=3;
        prop_oneof![
            3 => booking.clone().prop_map(Op::CheckIn),
            1 => counter.clone().prop_map(Op::Open),
            1 => counter.clone().prop_map(Op::Pause),
            1 => counter.clone().prop_map(Op::Close),
            4 => counter.clone().prop_map(Op::Next),
            3 => (booking.clone(), proptest::sample::select(VisitAction::ALL.to_vec()))
                .prop_map(|(n, action)| Op::Act(n, action)),
            5 => (counter.clone(), proptest::sample::select(VisitAction::ALL.to_vec()))
                .prop_map(|(c, action)| Op::Desk(c, action)),
            1 => booking.prop_map(Op::NoShow),
        ]
    }

    /// Booking `n`'s start: two an hour-quarter from 10:00, so starts tie.
    fn start_of(n: u64) -> DateTime<Utc> {
        t("10:00") + Duration::minutes(15 * ((n as i64 - 1) / 2))
    }

    fn facts_at(n: u64) -> BookingFacts {
        BookingFacts {
            start: start_of(n),
            ..facts(n, "10:00")
        }
    }

    fn command_for(op: &Op, now: DateTime<Utc>, floor: &FloorDay) -> FloorCommand {
        let policy = FloorPolicy::default();
        let counter = |c: &u8| CounterId::parse(&c.to_string()).unwrap();
        match op {
            Op::CheckIn(n) => CheckIn {
                office: office(),
                date: day(),
                booking: facts_at(*n),
                now,
                policy,
                estimate: None,
            }
            .into(),
            Op::Open(c) => OpenCounter {
                office: office(),
                date: day(),
                counter: counter(c),
                now,
            }
            .into(),
            Op::Pause(c) => PauseCounter {
                office: office(),
                date: day(),
                counter: counter(c),
                reason: "Pause".parse().unwrap(),
                now,
            }
            .into(),
            Op::Close(c) => CloseCounter {
                office: office(),
                date: day(),
                counter: counter(c),
                now,
            }
            .into(),
            Op::Next(c) => CallNext {
                office: office(),
                date: day(),
                counter: counter(c),
                now,
            }
            .into(),
            Op::Act(n, action) => MoveVisit {
                office: office(),
                date: day(),
                booking: booking_id(*n),
                action: *action,
                now,
                policy,
            }
            .into(),
            Op::Desk(c, action) => MoveVisit {
                office: office(),
                date: day(),
                booking: floor
                    .counter(&counter(c))
                    .and_then(|counter| counter.visitor)
                    .unwrap_or(booking_id(1)),
                action: *action,
                now,
                policy,
            }
            .into(),
            Op::NoShow(n) => MarkNoShow {
                booking: facts_at(*n),
                now,
                policy,
            }
            .into(),
        }
    }

    /// Invariant 11 and the views' consistency, checked on any folded day.
    fn check_day(day: &FloorDay) -> Result<(), TestCaseError> {
        for (name, counter) in day.counters() {
            if let Some(booking) = counter.visitor {
                let visit = day.visit(&booking).expect("a counter's visitor is a visit");
                prop_assert!(visit.at_counter(), "{name} holds {booking}, which is {}", visit.status);
                prop_assert_eq!(visit.counter.as_ref(), Some(name));
                prop_assert_eq!(
                    &counter.status,
                    &CounterStatus::Open,
                    "a paused or closed counter with a visitor"
                );
            }
        }
        for visit in day.visits() {
            let holding: Vec<&CounterId> = day
                .counters()
                .filter(|(_, counter)| counter.visitor == Some(visit.booking))
                .map(|(name, _)| name)
                .collect();
            if visit.at_counter() {
                prop_assert_eq!(holding.len(), 1, "{} at {:?}", visit.booking, holding);
                prop_assert_eq!(visit.counter.as_ref(), Some(holding[0]));
            } else {
                prop_assert!(
                    holding.is_empty(),
                    "{} is {} yet held by {:?}",
                    visit.booking,
                    visit.status,
                    holding
                );
                prop_assert_eq!(&visit.counter, &None);
            }
        }
        let mut expected: Vec<&Visit> = day
            .visits()
            .filter(|visit| visit.status == VisitStatus::CheckedIn)
            .collect();
        expected.sort_by_key(|visit| (visit.start, visit.checked_in_at, visit.booking));
        let waiting: Vec<&Visit> = day.waiting().collect();
        prop_assert_eq!(waiting, expected);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn one_visitor_one_counter_and_replay_equals_live(
            steps in prop::collection::vec((op(), 0i64..=150), 1..120)
        ) {
            let mut now = t("09:40");
            let mut live = FloorDay::default();
            let mut log: Vec<FloorEvent> = Vec::new();
            for (op, seconds) in &steps {
                now += Duration::seconds(*seconds);
                let Ok(events) = FloorDecider::decide(&command_for(op, now, &live), &live) else {
                    continue;
                };
                for event in events {
                    if let FloorEvent::Called(call) = &event {
                        let visit = live.visit(&call.booking).expect("a call names a visit");
                        prop_assert_eq!(visit.status, VisitStatus::CheckedIn, "called {} while {}", call.booking, visit.status);
                        // The one the rule names: due by start then check-in, else the earliest start.
                        let waiting: Vec<&Visit> = live.visits().filter(|v| v.status == VisitStatus::CheckedIn).collect();
                        let due = waiting.iter().filter(|v| v.start <= now).min_by_key(|v| (v.start, v.checked_in_at, v.booking));
                        let earliest = waiting.iter().min_by_key(|v| (v.start, v.checked_in_at, v.booking));
                        prop_assert_eq!(Some(call.booking), due.or(earliest).map(|v| v.booking));
                        // An implicit opening was folded just before.
                        let free = live.counter(&call.counter).is_some_and(|c| c.visitor.is_none() && c.status == CounterStatus::Open);
                        prop_assert!(free, "{} called to a busy or stopped counter", call.counter);
                    }
                    live = FloorDecider::evolve(live, &event);
                    log.push(event);
                    check_day(&live)?;
                }
            }
            // Replay: folding the stored log in one go gives the live day.
            let stored: Vec<FloorEvent> = log
                .iter()
                .map(|event| FloorEvent::from_stored_json(event.event_type(), &event.to_data().to_string()).unwrap())
                .collect();
            prop_assert_eq!(&FloorDecider::fold(&stored), &live);
            prop_assert_eq!(&FloorDecider::fold(&log), &live);
        }
    }
}
