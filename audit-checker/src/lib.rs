//! A brute-force checker of DESIGN.md's invariants over the event log, for
//! `audit verify`, the property tests and simulations.
//!
//! It shares no code with the engine it checks: it reads the events' JSON
//! itself into small types of its own, folds units, holds, wishes, waiting
//! numbers and the staff directory by hand, and decides "who should have had
//! these units" by scanning every earlier waiting wish, written naively from
//! the rules in DESIGN.md and the domain's documentation. Feed it events in
//! log order ([`Checker::observe`]); it records every violation with its log
//! position and keeps going.
//!
//! Checks (each a [`ViolationKind`]):
//! - positions dense from 1 ([`ViolationKind::PositionGap`]);
//! - a unit held by at most one booking or proposal, only while in service
//!   (invariant 1: [`ViolationKind::UnitHeldTwice`], [`ViolationKind::UnitNotInService`]);
//! - a proposal fits its wish and is its only open one, never holds a unit the
//!   wish declined or let expire, and no earlier-queued idle wish fitted its
//!   units; a wish is queued at its confirmation (`wish.confirmed`, or a
//!   `wish.registered` without `confirm_by`, from before double opt-in), and
//!   an unconfirmed one is offered nothing (invariant 3: [`ViolationKind::ProposalMisfit`],
//!   [`ViolationKind::SecondOpenProposal`], [`ViolationKind::OfferedAgainAfterDecline`],
//!   [`ViolationKind::NotFirstCome`]);
//! - waiting numbers unique per office day ([`ViolationKind::WaitingNumberReused`]);
//! - every event caused by an actor the code base lets cause it (invariant 10:
//!   [`ViolationKind::ActorNotAllowed`]);
//! - at rest, no idle waiting wish fits a free unit ahead (invariant 5:
//!   [`Checker::quiescence_violations`]).

mod events;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use events::*;

/// One event of the log as the checker needs it (borrowed from the reader's
/// own event type, so feeding the checker copies nothing).
#[derive(Debug, Clone, Copy)]
pub struct LoggedEvent<'a> {
    pub position: u64,
    pub event_type: &'a str,
    pub streams: &'a [String],
    pub recorded_at: DateTime<Utc>,
    /// The log's compact actor form (`staff:{id}`, `citizen`, `system:matcher`, …);
    /// `None` for events older than actors.
    pub actor: Option<&'a str>,
    /// The event's JSON data text as stored in the log.
    pub data: &'a str,
}

/// What the log contradicts, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position {position}: {message}")]
pub struct Violation {
    pub position: u64,
    pub kind: ViolationKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViolationKind {
    /// A position missing, repeated or out of order (positions are 1, 2, 3, …).
    PositionGap,
    /// A unit taken by a booking or proposal while another one held it.
    UnitHeldTwice,
    /// A unit held that was never published or was withdrawn by a closure.
    UnitNotInService,
    /// A proposal went to a wish while an earlier-queued idle wish fitted its units.
    NotFirstCome,
    /// A proposal holds a unit its wish declined or let expire before.
    OfferedAgainAfterDecline,
    /// A proposal made while its wish had one open.
    SecondOpenProposal,
    /// A proposal its own wish does not fit (office, window, last date,
    /// length, consecutive units, start in the future, start and end as its units).
    ProposalMisfit,
    /// One waiting number of an office day given to two bookings.
    WaitingNumberReused,
    /// An event caused by an actor that may not cause it.
    ActorNotAllowed,
    /// At rest: a free unit ahead fits an idle waiting wish (quiescence).
    FreeUnitWhileWishWaits,
    /// An event whose facts disagree with what the log said before (answers
    /// to a proposal that is not open, releases of units not held, …).
    Inconsistent,
    /// Data the checker cannot read.
    Malformed,
}

/// Counters for reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckSummary {
    pub events: u64,
    pub last_position: u64,
    pub units_published: u64,
    pub bookings: u64,
    pub wishes: u64,
    pub proposals_checked: u64,
    /// Earlier idle wishes looked at by the first-come scans.
    pub earlier_wishes_scanned: u64,
    pub waiting_numbers: u64,
    /// Events whose actor was checked against a rule.
    pub actors_checked: u64,
    /// First-come suspicions not yet decided (the earlier wish had no event since).
    pub first_come_pending: u64,
    pub violations: u64,
}

impl fmt::Display for CheckSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events (last position {}), {} units published, {} bookings, {} wishes, {} proposals checked \
             ({} earlier wishes scanned), {} waiting numbers, {} actors checked, {} violations",
            self.events,
            self.last_position,
            self.units_published,
            self.bookings,
            self.wishes,
            self.proposals_checked,
            self.earlier_wishes_scanned,
            self.waiting_numbers,
            self.actors_checked,
            self.violations
        )
    }
}

// --- the checker's own small model --------------------------------------------------

/// FNV-1a: the maps are keyed by small integers and ids from our own log, so a
/// keyed hash buys nothing and SipHash was the most expensive step per event.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;
type FastSet<K> = HashSet<K, BuildHasherDefault<Fnv>>;

/// One capacity unit: office (interned), office-local date (days from CE),
/// lane, local start in minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct UnitKey {
    day: i32,
    start: u16,
    office: u32,
    lane: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// Index into `bookings`.
    Booking(u32),
    /// Index into `wishes`.
    Wish(u32),
}

struct Unit {
    /// Local end, minutes since midnight.
    end: u16,
    in_service: bool,
    holder: Option<Holder>,
    /// Position of its publication or its last release: from then on it was free.
    free_since: u64,
}

struct Office {
    name: String,
    zone: Option<Tz>,
}

struct Booking {
    id: String,
    office: u32,
    day: i32,
}

struct OpenProposal {
    id: String,
    units: Vec<UnitKey>,
    position: u64,
}

enum WishPhase {
    Waiting,
    Busy(OpenProposal),
    Fulfilled,
    Ended,
}

struct Wish {
    id: String,
    registered_at: u64,
    offices: Vec<u32>,
    services: Vec<String>,
    /// Per weekday (Monday first) a bit per wanted local start hour.
    hour_masks: [u32; 7],
    until: Option<i32>,
    phase: WishPhase,
    /// Position since which it waits without an open proposal.
    idle_since: u64,
    /// Units it declined or let expire: never offered again.
    refused: FastSet<UnitKey>,
}

impl Wish {
    fn wants(&self, office: u32, day: i32, start: u16) -> bool {
        let Some(date) = NaiveDate::from_num_days_from_ce_opt(day) else {
            return false;
        };
        let weekday = date.weekday().num_days_from_monday() as usize;
        let hour = u32::from(start / 60);
        self.offices.contains(&office)
            && self.hour_masks[weekday] & (1 << hour) != 0
            && self.until.is_none_or(|until| day <= until)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    Lead,
    Clerk,
    Other,
}

struct Device {
    office: u32,
    kiosk: bool,
}

/// The actor column, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor<'a> {
    /// No actor (events older than actors) or plain `system`: anything goes.
    Legacy,
    Operator,
    Citizen,
    Staff(&'a str),
    Device(&'a str),
    Matcher,
    Timer,
    Demo,
    Unknown(&'a str),
}

impl<'a> Actor<'a> {
    fn read(stored: Option<&'a str>) -> Self {
        match stored {
            None | Some("system") => Actor::Legacy,
            Some("operator") => Actor::Operator,
            Some("citizen") => Actor::Citizen,
            Some("system:matcher") => Actor::Matcher,
            Some("system:timer") => Actor::Timer,
            Some("system:demo") => Actor::Demo,
            Some(other) => match other.split_once(':') {
                Some(("staff", id)) if !id.is_empty() => Actor::Staff(id),
                Some(("device", id)) if !id.is_empty() => Actor::Device(id),
                _ => Actor::Unknown(other),
            },
        }
    }
}

/// The floor permission a staff member or device needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Lead or clerk of the office, or admin (floor, tickets).
    Floor,
    /// Lead of the office, or admin (capacity).
    Lead,
}

/// The brute-force invariant checker; see the crate documentation.
pub struct Checker {
    expected_position: u64,
    last_recorded_at: Option<DateTime<Utc>>,
    offices: Vec<Office>,
    office_index: FastMap<String, u32>,
    durations: FastMap<String, u32>,
    units: FastMap<UnitKey, Unit>,
    /// Every unit ever published, by office-local day: quiescence looks only
    /// at days from today on, however long the log.
    units_by_day: std::collections::BTreeMap<i32, Vec<UnitKey>>,
    bookings: Vec<Booking>,
    booking_index: FastMap<String, u32>,
    wishes: Vec<Wish>,
    wish_index: FastMap<String, u32>,
    /// Registered, awaiting confirmation: not queued yet (position of the
    /// registration, and the wish as it will be queued).
    unconfirmed: FastMap<String, (u64, Wish)>,
    /// Idle waiting wishes (queue indexes, ascending = queue order) per office they name.
    idle_by_office: Vec<BTreeSet<u32>>,
    /// (office, day, number) → the booking it went to, at which position.
    numbers: FastMap<(u32, i32, u16), (u32, u64)>,
    staff: FastMap<String, Vec<(Role, Option<u32>)>>,
    devices: FastMap<String, Device>,
    /// First-come suspicions per earlier wish: decided by that wish's next
    /// event (its own proposal of the same round excuses it).
    pending: FastMap<u32, Vec<Violation>>,
    violations: Vec<Violation>,
    summary: CheckSummary,
}

impl Default for Checker {
    fn default() -> Self {
        Self::new()
    }
}

fn parse_date(text: &str) -> Option<i32> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |value, byte| {
            byte.is_ascii_digit().then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(number(0..4)?).ok()?, number(5..7)?, number(8..10)?)?;
    Some(date.num_days_from_ce())
}

fn parse_time(text: &str) -> Option<u16> {
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' || !bytes.iter().enumerate().all(|(i, b)| i == 2 || b.is_ascii_digit()) {
        return None;
    }
    let hour = u16::from(bytes[0] - b'0') * 10 + u16::from(bytes[1] - b'0');
    let minute = u16::from(bytes[3] - b'0') * 10 + u16::from(bytes[4] - b'0');
    (hour < 24 && minute < 60).then_some(hour * 60 + minute)
}

/// A waiting number as the log writes it: 1–9999 without leading zeros.
fn parse_number(text: &str) -> Option<u16> {
    let canonical = (1..=4).contains(&text.len()) && !text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit());
    canonical.then(|| text.parse().ok()).flatten()
}

fn date_text(day: i32) -> String {
    NaiveDate::from_num_days_from_ce_opt(day).map_or_else(|| format!("day {day}"), |date| date.to_string())
}

fn time_text(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl Checker {
    pub fn new() -> Self {
        Checker {
            expected_position: 1,
            last_recorded_at: None,
            offices: Vec::new(),
            office_index: FastMap::default(),
            durations: FastMap::default(),
            units: FastMap::default(),
            units_by_day: std::collections::BTreeMap::new(),
            bookings: Vec::new(),
            booking_index: FastMap::default(),
            wishes: Vec::new(),
            wish_index: FastMap::default(),
            unconfirmed: FastMap::default(),
            idle_by_office: Vec::new(),
            numbers: FastMap::default(),
            staff: FastMap::default(),
            devices: FastMap::default(),
            pending: FastMap::default(),
            violations: Vec::new(),
            summary: CheckSummary::default(),
        }
    }

    /// Every violation found so far, in log order of discovery.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The violation at the smallest position.
    pub fn first_violation(&self) -> Option<&Violation> {
        self.violations.iter().min_by_key(|violation| violation.position)
    }

    pub fn summary(&self) -> CheckSummary {
        CheckSummary {
            first_come_pending: self.pending.values().map(|pending| pending.len() as u64).sum(),
            violations: self.violations.len() as u64,
            ..self.summary.clone()
        }
    }

    /// Feeds one event, in log order; records what it violates and goes on.
    pub fn observe(&mut self, event: &LoggedEvent<'_>) {
        self.summary.events += 1;
        self.check_position(event.position);
        self.summary.last_position = event.position;
        self.last_recorded_at = Some(event.recorded_at);
        let position = event.position;
        let actor = Actor::read(event.actor);
        if let Actor::Unknown(stored) = actor {
            self.report(
                position,
                ViolationKind::ActorNotAllowed,
                format!("{:?} is not an actor", stored),
            );
        }
        let outcome = match event.event_type {
            "office.registered" | "office.details_changed" => self.office(event, actor),
            "service.registered" | "service.details_changed" => self.service(event, actor),
            "capacity.published" => self.capacity_published(event, actor),
            "capacity.withdrawn" => self.capacity_withdrawn(event, actor),
            "booking.requested" | "booking.ticket_issued" => self.booking_hold(event, actor),
            "booking.confirmed" => self.booking_confirmed(event, actor),
            "booking.cancelled" | "booking.lapsed" | "booking.released" => self.booking_free(event, actor),
            "wish.registered" => self.wish_registered(event, actor),
            "wish.confirmed" => self.wish_confirmed(event, actor),
            "proposal.made" => self.proposal_made(event, actor),
            "proposal.accepted" => self.proposal_accepted(event, actor),
            "proposal.declined" | "proposal.expired" | "proposal.withdrawn" => self.proposal_closed(event, actor),
            "wish.ended" => self.wish_ended(event, actor),
            "staff.registered" | "staff.changed" => self.staff_account(event, actor),
            "device.registered" => self.device(event, actor),
            "staff.disabled" | "staff.token_issued" | "device.revoked" => {
                self.deny(event, actor, &[Kind::Citizen, Kind::Matcher, Kind::Timer, Kind::Device]);
                Ok(())
            }
            "personal_data.read" => {
                self.deny(
                    event,
                    actor,
                    &[Kind::Citizen, Kind::Matcher, Kind::Timer, Kind::Device, Kind::Demo],
                );
                Ok(())
            }
            // "Meine Termine": only the citizen asks for the link or a confirm request once more.
            "citizen.overview_requested" | "booking.confirmation_resent" => {
                self.allow_only(event, actor, &[Kind::Citizen]);
                Ok(())
            }
            "booking.reminder_due" => {
                self.deny(event, actor, &[Kind::Citizen, Kind::Matcher, Kind::Device, Kind::Demo]);
                Ok(())
            }
            floor if floor.starts_with("visit.") || floor.starts_with("counter.") => self.floor(event, actor),
            _ => Ok(()),
        };
        if let Err(error) = outcome {
            self.report(
                position,
                ViolationKind::Malformed,
                format!("{} data unreadable: {error}", event.event_type),
            );
        }
    }

    fn check_position(&mut self, position: u64) {
        if position != self.expected_position {
            let message = if position > self.expected_position {
                format!("positions {}..={} are missing", self.expected_position, position - 1)
            } else {
                format!(
                    "position {position} after {} (repeated or out of order)",
                    self.expected_position - 1
                )
            };
            self.report(position, ViolationKind::PositionGap, message);
        }
        self.expected_position = position.max(self.expected_position.saturating_sub(1)) + 1;
    }

    fn report(&mut self, position: u64, kind: ViolationKind, message: String) {
        self.violations.push(Violation {
            position,
            kind,
            message,
        });
    }

    // --- actors ---------------------------------------------------------------------

    /// Reports the event if its actor is of one of the `denied` kinds.
    fn deny(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>, denied: &[Kind]) {
        self.summary.actors_checked += 1;
        if denied.contains(&Kind::of(actor)) {
            self.report(
                event.position,
                ViolationKind::ActorNotAllowed,
                format!(
                    "{} caused by {}, which never causes it",
                    event.event_type,
                    event.actor.unwrap_or("-")
                ),
            );
        }
    }

    /// Reports the event unless its actor is one of the `allowed` kinds (or legacy).
    fn allow_only(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>, allowed: &[Kind]) {
        self.summary.actors_checked += 1;
        let kind = Kind::of(actor);
        if kind != Kind::Legacy && kind != Kind::Unknown && !allowed.contains(&kind) {
            self.report(
                event.position,
                ViolationKind::ActorNotAllowed,
                format!(
                    "{} caused by {}; only {} cause it",
                    event.event_type,
                    event.actor.unwrap_or("-"),
                    allowed.iter().map(|kind| kind.name()).collect::<Vec<_>>().join(" or ")
                ),
            );
        }
    }

    /// Staff and devices acting at `office`: a staff member needs a role there
    /// (or admin), a device must be a kiosk of that office (when `kiosk_ok`).
    fn check_office_actor(
        &mut self,
        event: &LoggedEvent<'_>,
        actor: Actor<'_>,
        office: u32,
        need: Need,
        kiosk_ok: bool,
    ) {
        let problem = match actor {
            Actor::Staff(id) => match self.staff.get(id) {
                None => Some(format!("staff {id} is not in the staff directory")),
                Some(roles) => {
                    let allowed = roles.iter().any(|(role, at)| match role {
                        Role::Admin => true,
                        Role::Lead => *at == Some(office),
                        Role::Clerk => need == Need::Floor && *at == Some(office),
                        Role::Other => false,
                    });
                    (!allowed).then(|| {
                        format!(
                            "staff {id} holds no role for this at {}",
                            self.offices[office as usize].name
                        )
                    })
                }
            },
            Actor::Device(id) => match self.devices.get(id) {
                None => Some(format!("device {id} was never registered")),
                Some(device) if kiosk_ok && device.kiosk && device.office == office => None,
                Some(_) => Some(format!(
                    "device {id} is no kiosk of {}",
                    self.offices[office as usize].name
                )),
            },
            _ => None,
        };
        if let Some(problem) = problem {
            self.report(
                event.position,
                ViolationKind::ActorNotAllowed,
                format!("{}: {problem}", event.event_type),
            );
        }
    }

    // --- catalogue ------------------------------------------------------------------

    fn office_id(&mut self, name: &str) -> u32 {
        if let Some(index) = self.office_index.get(name) {
            return *index;
        }
        let index = self.offices.len() as u32;
        self.offices.push(Office {
            name: name.to_owned(),
            zone: None,
        });
        self.office_index.insert(name.to_owned(), index);
        self.idle_by_office.push(BTreeSet::new());
        index
    }

    fn unit_key(&mut self, unit: &UnitJson<'_>) -> Option<UnitKey> {
        Some(UnitKey {
            day: parse_date(&unit.date)?,
            start: parse_time(&unit.start)?,
            office: self.office_id(&unit.office),
            lane: unit.lane,
        })
    }

    fn unit_keys(&mut self, position: u64, units: &[UnitJson<'_>]) -> Vec<UnitKey> {
        let mut keys = Vec::with_capacity(units.len());
        for unit in units {
            match self.unit_key(unit) {
                Some(key) => keys.push(key),
                None => self.report(
                    position,
                    ViolationKind::Malformed,
                    format!(
                        "unit {}:{}:{}:{} unreadable",
                        unit.office, unit.date, unit.lane, unit.start
                    ),
                ),
            }
        }
        keys
    }

    fn unit_text(&self, key: &UnitKey) -> String {
        format!(
            "unit:{}:{}:{}:{}",
            self.offices[key.office as usize].name,
            date_text(key.day),
            key.lane,
            time_text(key.start).replace(':', "")
        )
    }

    fn office(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        self.deny(event, actor, &[Kind::Citizen, Kind::Matcher, Kind::Timer, Kind::Device]);
        let office: OfficeJson = serde_json::from_str(event.data)?;
        let index = self.office_id(&office.office);
        match office.timezone.parse::<Tz>() {
            Ok(zone) => self.offices[index as usize].zone = Some(zone),
            Err(_) => self.report(
                event.position,
                ViolationKind::Malformed,
                format!("office {} has no known time zone {:?}", office.office, office.timezone),
            ),
        }
        Ok(())
    }

    fn service(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        self.deny(event, actor, &[Kind::Citizen, Kind::Matcher, Kind::Timer, Kind::Device]);
        let service: ServiceJson = serde_json::from_str(event.data)?;
        self.durations
            .insert(service.service.into_owned(), service.duration_minutes);
        Ok(())
    }

    fn capacity_published(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        let published: CapacityPublishedJson = serde_json::from_str(event.data)?;
        let office = self.office_id(&published.office);
        self.deny(event, actor, &[Kind::Citizen, Kind::Matcher, Kind::Timer, Kind::Device]);
        self.check_office_actor(event, actor, office, Need::Lead, false);
        let (Some(day), Some(from), Some(to)) = (
            parse_date(&published.date),
            parse_time(&published.from),
            parse_time(&published.to),
        ) else {
            self.report(
                event.position,
                ViolationKind::Malformed,
                "capacity.published: bad date or time".into(),
            );
            return Ok(());
        };
        // Recomputed from the publication, not taken from its `units` count:
        // whole units of `unit_minutes` from `from`, none past `to`.
        let minutes = u32::from(to.saturating_sub(from));
        let per_lane = minutes.checked_div(published.unit_minutes).unwrap_or(0);
        for lane in published.first_lane..published.first_lane.saturating_add(published.lanes) {
            for index in 0..per_lane {
                let start = from + (index * published.unit_minutes) as u16;
                let key = UnitKey {
                    day,
                    start,
                    office,
                    lane,
                };
                let end = start + published.unit_minutes as u16;
                let unit = self.units.entry(key).or_insert_with(|| {
                    self.units_by_day.entry(day).or_default().push(key);
                    Unit {
                        end,
                        in_service: true,
                        holder: None,
                        free_since: event.position,
                    }
                });
                // A withdrawn unit's place is never published anew: it stays out.
                unit.end = end;
                if unit.holder.is_none() {
                    unit.free_since = event.position;
                }
                self.summary.units_published += 1;
            }
        }
        Ok(())
    }

    fn capacity_withdrawn(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        self.deny(
            event,
            actor,
            &[Kind::Citizen, Kind::Matcher, Kind::Timer, Kind::Device, Kind::Demo],
        );
        let withdrawn: CapacityWithdrawnJson = serde_json::from_str(event.data)?;
        for key in self.unit_keys(event.position, &withdrawn.units) {
            if let Some(unit) = self.units.get_mut(&key) {
                unit.in_service = false;
            }
        }
        Ok(())
    }

    // --- holds ------------------------------------------------------------------------

    /// `holder` takes `keys`: each must be in service and free.
    /// (`what` is the event type; messages name the holder, built only when needed.)
    fn take(&mut self, position: u64, keys: &[UnitKey], holder: Holder, what: &str) {
        for key in keys {
            let problem = match self.units.get(key) {
                None => Some((ViolationKind::UnitNotInService, "was never published".to_owned())),
                Some(unit) if !unit.in_service => Some((ViolationKind::UnitNotInService, "was withdrawn".to_owned())),
                Some(unit) => unit.holder.filter(|before| *before != holder).map(|before| {
                    (
                        ViolationKind::UnitHeldTwice,
                        format!("is held by {}", self.holder_text(before)),
                    )
                }),
            };
            if let Some(unit) = self.units.get_mut(key) {
                unit.holder = Some(holder);
            }
            if let Some((kind, problem)) = problem {
                let unit = self.unit_text(key);
                let taker = self.holder_text(holder);
                self.report(
                    position,
                    kind,
                    format!("{what} for {taker} takes {unit}, which {problem}"),
                );
            }
        }
    }

    fn holder_text(&self, holder: Holder) -> String {
        match holder {
            Holder::Booking(index) => format!("booking {}", self.bookings[index as usize].id),
            Holder::Wish(index) => format!("a proposal to wish {}", self.wishes[index as usize].id),
        }
    }

    /// `holder` lets `keys` go: each must have been its own.
    fn free(&mut self, position: u64, keys: &[UnitKey], holder: Holder, what: &str) {
        for key in keys {
            let held = self.units.get(key).and_then(|unit| unit.holder);
            if held == Some(holder) {
                let unit = self.units.get_mut(key).expect("held units exist");
                unit.holder = None;
                unit.free_since = position;
            } else {
                let unit = self.unit_text(key);
                let by = held.map_or_else(|| "nobody".to_owned(), |held| self.holder_text(held));
                self.report(
                    position,
                    ViolationKind::Inconsistent,
                    format!("{what} for {} frees {unit}, held by {by}", self.holder_text(holder)),
                );
            }
        }
    }

    fn booking_id(&mut self, id: &str, office: u32, day: i32) -> u32 {
        if let Some(index) = self.booking_index.get(id) {
            return *index;
        }
        let index = self.bookings.len() as u32;
        self.bookings.push(Booking {
            id: id.to_owned(),
            office,
            day,
        });
        self.booking_index.insert(id.to_owned(), index);
        self.summary.bookings += 1;
        index
    }

    /// One waiting number of an office day to one booking.
    fn hand_out_number(&mut self, position: u64, booking: u32, office: u32, day: i32, number: &str) {
        let Some(number) = parse_number(number) else {
            self.report(position, ViolationKind::Malformed, format!("waiting number {number:?}"));
            return;
        };
        self.summary.waiting_numbers += 1;
        if let Some((before, at)) = self.numbers.insert((office, day, number), (booking, position))
            && before != booking
        {
            let message = format!(
                "waiting number {number} of {} on {} given to booking {} at position {at} and again to booking {}",
                self.offices[office as usize].name,
                date_text(day),
                self.bookings[before as usize].id,
                self.bookings[booking as usize].id
            );
            self.report(position, ViolationKind::WaitingNumberReused, message);
        }
    }

    fn booking_hold(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        let hold: BookingHoldJson = serde_json::from_str(event.data)?;
        let office = self.office_id(&hold.office);
        let ticket = event.event_type == "booking.ticket_issued";
        if ticket {
            self.deny(event, actor, &[Kind::Citizen, Kind::Matcher, Kind::Timer, Kind::Demo]);
            self.check_office_actor(event, actor, office, Need::Floor, true);
        } else {
            self.allow_only(event, actor, &[Kind::Citizen]);
        }
        let keys = self.unit_keys(event.position, &hold.units);
        let day = keys.first().map_or(0, |key| key.day);
        let booking = self.booking_id(&hold.booking, office, day);
        self.take(event.position, &keys, Holder::Booking(booking), event.event_type);
        if ticket {
            let day = hold.date.as_deref().and_then(parse_date).unwrap_or(day);
            match hold.number.as_deref() {
                Some(number) => self.hand_out_number(event.position, booking, office, day, number),
                None => self.report(event.position, ViolationKind::Malformed, "ticket without number".into()),
            }
        }
        Ok(())
    }

    fn booking_confirmed(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        self.allow_only(event, actor, &[Kind::Citizen]);
        let confirmed: BookingConfirmedJson = serde_json::from_str(event.data)?;
        let Some(&booking) = self.booking_index.get(confirmed.booking.as_ref()) else {
            self.report(
                event.position,
                ViolationKind::Inconsistent,
                format!("booking {} confirmed but never requested", confirmed.booking),
            );
            return Ok(());
        };
        // The number belongs to the booking's own office day, whatever the event says.
        let (office, day) = {
            let known = &self.bookings[booking as usize];
            (known.office, known.day)
        };
        let said = (self.office_id(&confirmed.office), parse_date(&confirmed.date));
        if said != (office, Some(day)) {
            self.report(
                event.position,
                ViolationKind::Inconsistent,
                format!(
                    "booking {} confirmed for {} {} but booked for {} {}",
                    confirmed.booking,
                    confirmed.office,
                    confirmed.date,
                    self.offices[office as usize].name,
                    date_text(day)
                ),
            );
        }
        self.hand_out_number(event.position, booking, office, day, &confirmed.number);
        Ok(())
    }

    fn booking_free(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        let freed: BookingFreeJson = serde_json::from_str(event.data)?;
        match event.event_type {
            // The lapse timer only.
            "booking.lapsed" => self.allow_only(event, actor, &[Kind::Timer]),
            // A citizen cancels without a reason; the office (staff, closures)
            // and erasure (the operator, the retention timer) give one.
            "booking.cancelled" => {
                self.deny(event, actor, &[Kind::Matcher, Kind::Device, Kind::Demo]);
                let problem = match (actor, &freed.reason) {
                    (Actor::Citizen, Some(_)) => Some("with the office's reason, caused by a citizen"),
                    (Actor::Timer, None) => Some("without a reason, caused by a timer"),
                    _ => None,
                };
                if let Some(problem) = problem {
                    self.report(
                        event.position,
                        ViolationKind::ActorNotAllowed,
                        format!("booking.cancelled {problem}"),
                    );
                }
            }
            // A missed visit: the clerk or the no-show timer.
            _ => self.deny(event, actor, &[Kind::Citizen, Kind::Matcher, Kind::Device, Kind::Demo]),
        }
        let keys = self.unit_keys(event.position, &freed.units);
        match self.booking_index.get(freed.booking.as_ref()) {
            Some(&booking) => self.free(event.position, &keys, Holder::Booking(booking), event.event_type),
            None => self.report(
                event.position,
                ViolationKind::Inconsistent,
                format!(
                    "{} of booking {}, which was never placed",
                    event.event_type, freed.booking
                ),
            ),
        }
        Ok(())
    }

    // --- the waitlist -------------------------------------------------------------------

    fn set_idle(&mut self, wish: u32, idle: bool, position: u64) {
        let offices = self.wishes[wish as usize].offices.clone();
        for office in offices {
            let set = &mut self.idle_by_office[office as usize];
            if idle {
                set.insert(wish);
            } else {
                set.remove(&wish);
            }
        }
        if idle {
            self.wishes[wish as usize].phase = WishPhase::Waiting;
            self.wishes[wish as usize].idle_since = position;
        }
    }

    /// The wish's next event decides the first-come suspicions against it:
    /// its own proposal (the same round of handing out) excuses them, anything
    /// else confirms them.
    fn decide_pending(&mut self, wish: u32, own_proposal: bool) {
        if let Some(pending) = self.pending.remove(&wish)
            && !own_proposal
        {
            self.violations.extend(pending);
        }
    }

    fn wish_of(&mut self, position: u64, id: &str, what: &str) -> Option<u32> {
        let found = self.wish_index.get(id).copied();
        if found.is_none() {
            let why = if self.unconfirmed.contains_key(id) {
                "which was never confirmed"
            } else {
                "which was never registered"
            };
            self.report(
                position,
                ViolationKind::Inconsistent,
                format!("{what} of wish {id}, {why}"),
            );
        }
        found
    }

    fn needed_minutes(&self, services: &[String]) -> Option<u32> {
        services
            .iter()
            .map(|service| self.durations.get(service).copied())
            .sum()
    }

    fn wish_registered(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        self.allow_only(event, actor, &[Kind::Citizen]);
        let registered: WishRegisteredJson = serde_json::from_str(event.data)?;
        let known = self.wish_index.contains_key(registered.wish.as_ref())
            || self.unconfirmed.contains_key(registered.wish.as_ref());
        if known {
            self.report(
                event.position,
                ViolationKind::Inconsistent,
                format!("wish {} registered twice", registered.wish),
            );
            return Ok(());
        }
        let offices: Vec<u32> = registered.offices.iter().map(|office| self.office_id(office)).collect();
        let until = match registered.until.as_deref() {
            None => None,
            Some(text) => match parse_date(text) {
                Some(day) => Some(day),
                None => {
                    self.report(event.position, ViolationKind::Malformed, format!("until {text:?}"));
                    None
                }
            },
        };
        let wish = Wish {
            id: registered.wish.to_string(),
            registered_at: event.position,
            offices,
            services: registered.services.iter().map(|service| service.to_string()).collect(),
            hour_masks: registered.windows.hour_masks(),
            until,
            phase: WishPhase::Waiting,
            idle_since: event.position,
            refused: FastSet::default(),
        };
        if registered.confirm_by.is_some() {
            self.unconfirmed
                .insert(registered.wish.into_owned(), (event.position, wish));
        } else {
            self.queue(wish, event.position);
        }
        Ok(())
    }

    /// The confirm link pressed: the wish joins the queue here, behind every
    /// wish queued before, whenever those were registered.
    fn wish_confirmed(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        self.allow_only(event, actor, &[Kind::Citizen]);
        let confirmed: WishConfirmedJson = serde_json::from_str(event.data)?;
        match self.unconfirmed.remove(confirmed.wish.as_ref()) {
            Some((_, mut wish)) => {
                wish.registered_at = event.position;
                self.queue(wish, event.position);
            }
            None => {
                let why = if self.wish_index.contains_key(confirmed.wish.as_ref()) {
                    "which was queued already"
                } else {
                    "which was never registered"
                };
                self.report(
                    event.position,
                    ViolationKind::Inconsistent,
                    format!("wish.confirmed of wish {}, {why}", confirmed.wish),
                );
            }
        }
        Ok(())
    }

    /// Puts `wish` at the end of the queue, idle, at `position`.
    fn queue(&mut self, mut wish: Wish, position: u64) {
        let index = self.wishes.len() as u32;
        wish.idle_since = position;
        let id = wish.id.clone();
        self.wishes.push(wish);
        self.wish_index.insert(id, index);
        self.set_idle(index, true, position);
        self.summary.wishes += 1;
    }

    fn proposal_made(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        self.allow_only(event, actor, &[Kind::Matcher]);
        let made: ProposalMadeJson = serde_json::from_str(event.data)?;
        self.summary.proposals_checked += 1;
        let position = event.position;
        let keys = self.unit_keys(position, &made.units);
        let office = self.office_id(&made.office);
        let Some(wish) = self.wish_of(position, &made.wish, "proposal.made") else {
            return Ok(());
        };
        self.decide_pending(wish, true);
        let what = format!("proposal {} to wish {}", made.proposal, made.wish);
        let mut misfits = Vec::new();
        match &self.wishes[wish as usize].phase {
            WishPhase::Waiting => {}
            WishPhase::Busy(open) => {
                let message = format!(
                    "{what} while its proposal {} (position {}) is open",
                    open.id, open.position
                );
                self.report(position, ViolationKind::SecondOpenProposal, message);
            }
            WishPhase::Fulfilled | WishPhase::Ended => misfits.push("the wish no longer waits".to_owned()),
        }
        let run_minutes = self.check_run(&keys, office, &made, event.recorded_at, wish, &mut misfits);
        for misfit in misfits {
            self.report(position, ViolationKind::ProposalMisfit, format!("{what}: {misfit}"));
        }
        if let Some(refused) = keys.iter().find(|key| self.wishes[wish as usize].refused.contains(key)) {
            let unit = self.unit_text(refused);
            self.report(
                position,
                ViolationKind::OfferedAgainAfterDecline,
                format!("{what} offers {unit} again, which the wish declined or let expire"),
            );
        }
        if let (Some(run_minutes), Some(first)) = (run_minutes, keys.first()) {
            self.first_come(position, wish, first, &keys, run_minutes, &made.proposal);
        }
        self.take(position, &keys, Holder::Wish(wish), event.event_type);
        if matches!(self.wishes[wish as usize].phase, WishPhase::Waiting) {
            self.set_idle(wish, false, position);
            self.wishes[wish as usize].phase = WishPhase::Busy(OpenProposal {
                id: made.proposal.into_owned(),
                units: keys,
                position,
            });
        }
        Ok(())
    }

    /// Whether the units are a run the wish fits by the rules, recomputed from
    /// the units themselves: one office, date and lane, each starting where the
    /// one before ended, all in service, the shortest run covering the wish's
    /// services, starting in the wish's office, window and dates, in the future,
    /// with `start` and `end` those of the units. Returns the run's minutes.
    fn check_run(
        &self,
        keys: &[UnitKey],
        office: u32,
        made: &ProposalMadeJson<'_>,
        recorded_at: DateTime<Utc>,
        wish: u32,
        misfits: &mut Vec<String>,
    ) -> Option<u32> {
        let wish = &self.wishes[wish as usize];
        let first = keys.first().or_else(|| {
            misfits.push("it names no units".into());
            None
        })?;
        let mut run_minutes = 0u32;
        let mut last_minutes = 0u32;
        let mut expected_start = first.start;
        for key in keys {
            if (key.office, key.day, key.lane) != (office, first.day, first.lane) {
                misfits.push(format!(
                    "{} is not on the first unit's office, date and lane",
                    self.unit_text(key)
                ));
                return None;
            }
            if key.start != expected_start {
                misfits.push(format!("{} does not follow the unit before", self.unit_text(key)));
                return None;
            }
            // Units never published or withdrawn are reported when taken.
            let unit = self.units.get(key)?;
            last_minutes = u32::from(unit.end.saturating_sub(key.start));
            run_minutes += last_minutes;
            expected_start = unit.end;
        }
        if !wish.offices.contains(&office) {
            misfits.push(format!(
                "the wish does not name office {}",
                self.offices[office as usize].name
            ));
        }
        if !wish.wants(office, first.day, first.start) && wish.offices.contains(&office) {
            misfits.push(format!(
                "{} {} is outside the wish's windows or after its last date",
                date_text(first.day),
                time_text(first.start)
            ));
        }
        match self.needed_minutes(&wish.services) {
            None => misfits.push("the wish names a service the catalogue does not have".into()),
            Some(needed) => {
                let needed = needed.max(1);
                if run_minutes < needed || run_minutes - last_minutes >= needed {
                    misfits.push(format!(
                        "its units last {run_minutes} minutes, not the shortest run covering the wish's {needed}"
                    ));
                }
            }
        }
        if made.start <= recorded_at {
            misfits.push(format!(
                "it starts at {}, not after it was made ({recorded_at})",
                made.start
            ));
        }
        match self.offices[office as usize].zone {
            None => misfits.push(format!(
                "office {} has no time zone",
                self.offices[office as usize].name
            )),
            Some(zone) => {
                let local = |instant: DateTime<Utc>| {
                    let local = instant.with_timezone(&zone);
                    (
                        local.date_naive().num_days_from_ce(),
                        local.hour() * 60 + local.minute(),
                        local.second(),
                    )
                };
                if local(made.start) != (first.day, u32::from(first.start), 0) {
                    misfits.push(format!("its start {} is not its first unit's", made.start));
                }
                if local(made.end) != (first.day, u32::from(expected_start), 0) {
                    misfits.push(format!("its end {} is not its last unit's", made.end));
                }
            }
        }
        Some(run_minutes)
    }

    /// Invariant 3 by brute force: every idle waiting wish queued before the
    /// chosen one that fitted these very units from their start (office,
    /// window, last date, none declined, its services within the run) and had
    /// been waiting since before the units and the chosen wish were free — the
    /// engine then had no reason to pass it over. Its next event decides
    /// ([`Self::decide_pending`]).
    fn first_come(&mut self, position: u64, chosen: u32, first: &UnitKey, keys: &[UnitKey], run: u32, proposal: &str) {
        let planned_from = keys
            .iter()
            .filter_map(|key| self.units.get(key).map(|unit| unit.free_since))
            .chain([self.wishes[chosen as usize].idle_since])
            .max()
            .unwrap_or(0);
        let mut suspects = Vec::new();
        for &earlier in self.idle_by_office[first.office as usize].range(..chosen) {
            self.summary.earlier_wishes_scanned += 1;
            let wish = &self.wishes[earlier as usize];
            let fits = wish.wants(first.office, first.day, first.start)
                && !keys.iter().any(|key| wish.refused.contains(key))
                && self.needed_minutes(&wish.services).is_some_and(|needed| needed <= run)
                && wish.idle_since <= planned_from;
            if fits {
                suspects.push(earlier);
            }
        }
        for earlier in suspects {
            let wish = &self.wishes[earlier as usize];
            let message = format!(
                "proposal {proposal} gave {} to wish {} (registered at position {}), while wish {} (registered at \
                 position {}, idle since {}) fitted them",
                self.unit_text(first),
                self.wishes[chosen as usize].id,
                self.wishes[chosen as usize].registered_at,
                wish.id,
                wish.registered_at,
                wish.idle_since
            );
            self.pending.entry(earlier).or_default().push(Violation {
                position,
                kind: ViolationKind::NotFirstCome,
                message,
            });
        }
    }

    /// The wish's open proposal named `proposal`, if it is the open one.
    fn open_units(&mut self, position: u64, wish: u32, proposal: &str, what: &str) -> Option<Vec<UnitKey>> {
        match &self.wishes[wish as usize].phase {
            WishPhase::Busy(open) if open.id == proposal => Some(open.units.clone()),
            _ => {
                let message = format!("{what} of proposal {proposal}, which is not the wish's open one");
                self.report(position, ViolationKind::Inconsistent, message);
                None
            }
        }
    }

    /// The event's units must be the proposal's own.
    fn same_units(&mut self, position: u64, said: &[UnitKey], open: &[UnitKey], what: &str) {
        if said != open {
            self.report(
                position,
                ViolationKind::Inconsistent,
                format!("{what} names other units than its proposal held"),
            );
        }
    }

    fn proposal_accepted(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        self.allow_only(event, actor, &[Kind::Citizen]);
        let accepted: ProposalAcceptedJson = serde_json::from_str(event.data)?;
        let position = event.position;
        let said = self.unit_keys(position, &accepted.units);
        let Some(wish) = self.wish_of(position, &accepted.wish, "proposal.accepted") else {
            return Ok(());
        };
        self.decide_pending(wish, false);
        let what = format!("proposal.accepted of wish {}", accepted.wish);
        let Some(units) = self.open_units(position, wish, &accepted.proposal, &what) else {
            return Ok(());
        };
        self.same_units(position, &said, &units, &what);
        let Some(first) = units.first().copied() else {
            return Ok(());
        };
        // The units pass from the proposal to the booking without being free.
        let booking = self.booking_id(&accepted.booking, first.office, first.day);
        for key in &units {
            if let Some(unit) = self.units.get_mut(key)
                && unit.holder == Some(Holder::Wish(wish))
            {
                unit.holder = Some(Holder::Booking(booking));
            }
        }
        self.hand_out_number(position, booking, first.office, first.day, &accepted.number);
        self.wishes[wish as usize].phase = WishPhase::Fulfilled;
        Ok(())
    }

    fn proposal_closed(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        match event.event_type {
            "proposal.declined" => self.allow_only(event, actor, &[Kind::Citizen]),
            "proposal.expired" => self.allow_only(event, actor, &[Kind::Timer]),
            // A closure: the office's staff or the operator.
            _ => self.deny(
                event,
                actor,
                &[Kind::Citizen, Kind::Matcher, Kind::Timer, Kind::Device, Kind::Demo],
            ),
        }
        let closed: ProposalClosedJson = serde_json::from_str(event.data)?;
        let position = event.position;
        let said = self.unit_keys(position, &closed.units);
        let Some(wish) = self.wish_of(position, &closed.wish, event.event_type) else {
            return Ok(());
        };
        self.decide_pending(wish, false);
        let what = format!("{} of wish {}", event.event_type, closed.wish);
        let Some(units) = self.open_units(position, wish, &closed.proposal, &what) else {
            return Ok(());
        };
        self.same_units(position, &said, &units, &what);
        self.free(position, &units, Holder::Wish(wish), event.event_type);
        if event.event_type != "proposal.withdrawn" {
            self.wishes[wish as usize].refused.extend(units.iter().copied());
        }
        self.set_idle(wish, true, position);
        Ok(())
    }

    fn wish_ended(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        let ended: WishEndedJson = serde_json::from_str(event.data)?;
        // The citizen ends the search by link (or is erased: the operator, the
        // retention timer); the timers end it for a last date passed or
        // proposals left unanswered.
        if ended.reason == "citizen" {
            self.deny(event, actor, &[Kind::Matcher, Kind::Device, Kind::Demo]);
        } else {
            self.deny(event, actor, &[Kind::Citizen, Kind::Matcher, Kind::Device, Kind::Demo]);
        }
        let position = event.position;
        // Ended before its confirmation (lapsed, withdrawn, erased): it was
        // never queued and held nothing.
        if self.unconfirmed.remove(ended.wish.as_ref()).is_some() {
            if !ended.units.is_empty() || ended.proposal.is_some() {
                let message = format!("wish.ended of unconfirmed wish {} frees a proposal", ended.wish);
                self.report(position, ViolationKind::Inconsistent, message);
            }
            return Ok(());
        }
        if ended.reason == "unconfirmed" {
            let message = format!("wish {} lapsed unconfirmed, though it was queued", ended.wish);
            self.report(position, ViolationKind::Inconsistent, message);
        }
        let said = self.unit_keys(position, &ended.units);
        let Some(wish) = self.wish_of(position, &ended.wish, "wish.ended") else {
            return Ok(());
        };
        self.decide_pending(wish, false);
        let what = format!("wish.ended of wish {}", ended.wish);
        match &self.wishes[wish as usize].phase {
            WishPhase::Busy(open) => {
                let units = open.units.clone();
                if ended.proposal.as_deref() != Some(open.id.as_str()) {
                    let message = format!(
                        "{what} withdraws {:?}, not its open proposal {}",
                        ended.proposal, open.id
                    );
                    self.report(position, ViolationKind::Inconsistent, message);
                }
                self.same_units(position, &said, &units, &what);
                self.free(position, &units, Holder::Wish(wish), event.event_type);
            }
            WishPhase::Waiting => {
                if !said.is_empty() || ended.proposal.is_some() {
                    self.report(
                        position,
                        ViolationKind::Inconsistent,
                        format!("{what} frees a proposal it did not have"),
                    );
                }
            }
            WishPhase::Fulfilled | WishPhase::Ended => {
                self.report(
                    position,
                    ViolationKind::Inconsistent,
                    format!("{what}, which no longer waited"),
                );
                return Ok(());
            }
        }
        self.set_idle(wish, false, position);
        self.wishes[wish as usize].phase = WishPhase::Ended;
        Ok(())
    }

    // --- staff and floor ------------------------------------------------------------------

    fn staff_account(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        self.deny(event, actor, &[Kind::Citizen, Kind::Matcher, Kind::Timer, Kind::Device]);
        let account: StaffJson = serde_json::from_str(event.data)?;
        let roles = account
            .roles
            .iter()
            .map(|grant| {
                let role = match grant.role.as_ref() {
                    "admin" => Role::Admin,
                    "lead" => Role::Lead,
                    "clerk" => Role::Clerk,
                    _ => Role::Other,
                };
                (role, grant.office.as_deref().map(|office| self.office_id(office)))
            })
            .collect();
        self.staff.insert(account.staff.into_owned(), roles);
        Ok(())
    }

    fn device(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        self.deny(event, actor, &[Kind::Citizen, Kind::Matcher, Kind::Timer, Kind::Device]);
        let device: DeviceJson = serde_json::from_str(event.data)?;
        let office = self.office_id(&device.office);
        self.devices.insert(
            device.device.into_owned(),
            Device {
                office,
                kiosk: device.kind == "kiosk",
            },
        );
        Ok(())
    }

    /// The floor (`visit.*`, `counter.*`): staff of the office (a kiosk may
    /// check in), the operator, and the no-show timer marking misses.
    fn floor(&mut self, event: &LoggedEvent<'_>, actor: Actor<'_>) -> serde_json::Result<()> {
        let check_in = event.event_type == "visit.checked_in";
        let missed = event.event_type == "visit.missed";
        let mut denied = vec![Kind::Citizen, Kind::Matcher, Kind::Demo];
        if !missed {
            denied.push(Kind::Timer);
        }
        self.deny(event, actor, &denied);
        // Only staff, devices and the timer need the data.
        if matches!(actor, Actor::Staff(_) | Actor::Device(_)) || (missed && actor == Actor::Timer) {
            let floor: FloorJson = serde_json::from_str(event.data)?;
            let office = self.office_id(&floor.office);
            if actor == Actor::Timer && floor.reason.as_deref() != Some("no_show") {
                self.report(
                    event.position,
                    ViolationKind::ActorNotAllowed,
                    "visit.missed by the timer for another reason than no_show".into(),
                );
            }
            self.check_office_actor(event, actor, office, Need::Floor, check_in);
        }
        Ok(())
    }

    // --- at rest ----------------------------------------------------------------------------

    /// Quiescence at rest (after the matcher caught up), at instant `now`:
    /// every free unit in service starting after `now` that an idle waiting
    /// wish fits (office, window and last date of its start, a run of free
    /// units of its lane from there covering the wish's services, none
    /// declined by it), one violation per unit naming the earliest such wish.
    /// At rest a first-come suspicion still undecided is a violation too (the
    /// round it could belong to is over). Empty = holds.
    pub fn quiescence_violations(&self, now: DateTime<Utc>) -> Vec<Violation> {
        let at = self.summary.last_position;
        let mut found: Vec<(UnitKey, Violation)> = Vec::new();
        // Days before the earliest office-local today are all past.
        let today = self
            .offices
            .iter()
            .filter_map(|office| office.zone)
            .map(|zone| now.with_timezone(&zone).date_naive().num_days_from_ce())
            .min()
            .unwrap_or(i32::MIN);
        let ahead = self.units_by_day.range(today..).flat_map(|(_, keys)| keys);
        for key in ahead {
            let Some(unit) = self.units.get(key) else {
                continue;
            };
            if !unit.in_service || unit.holder.is_some() {
                continue;
            }
            let Some(idle) = self.idle_by_office.get(key.office as usize) else {
                continue;
            };
            if idle.is_empty() || !self.starts_after(key, now) {
                continue;
            }
            let fitting = idle
                .iter()
                .find(|wish| self.fits_from(&self.wishes[**wish as usize], key));
            if let Some(&wish) = fitting {
                let wish = &self.wishes[wish as usize];
                let message = format!(
                    "{} is free while wish {} (registered at position {}, idle since {}) waits and fits it",
                    self.unit_text(key),
                    wish.id,
                    wish.registered_at,
                    wish.idle_since
                );
                found.push((
                    *key,
                    Violation {
                        position: at,
                        kind: ViolationKind::FreeUnitWhileWishWaits,
                        message,
                    },
                ));
            }
        }
        found.sort_by_key(|(key, _)| *key);
        let mut violations: Vec<Violation> = self.pending.values().flatten().cloned().collect();
        violations.sort_by_key(|violation| violation.position);
        violations.extend(found.into_iter().map(|(_, violation)| violation));
        violations
    }

    fn starts_after(&self, key: &UnitKey, now: DateTime<Utc>) -> bool {
        let Some(zone) = self.offices[key.office as usize].zone else {
            return false;
        };
        let local = NaiveDate::from_num_days_from_ce_opt(key.day)
            .and_then(|date| date.and_hms_opt(u32::from(key.start / 60), u32::from(key.start % 60), 0));
        local
            .and_then(|local| zone.from_local_datetime(&local).earliest())
            .is_some_and(|start| start.with_timezone(&Utc) > now)
    }

    /// Whether `wish` fits a run of free units starting at `key`.
    fn fits_from(&self, wish: &Wish, key: &UnitKey) -> bool {
        if !wish.wants(key.office, key.day, key.start) {
            return false;
        }
        let Some(needed) = self.needed_minutes(&wish.services) else {
            return false;
        };
        let mut covered = 0u32;
        let mut next = *key;
        while covered < needed.max(1) {
            match self.units.get(&next) {
                Some(unit) if unit.in_service && unit.holder.is_none() && !wish.refused.contains(&next) => {
                    covered += u32::from(unit.end.saturating_sub(next.start));
                    if unit.end <= next.start {
                        return false;
                    }
                    next.start = unit.end;
                }
                _ => return false,
            }
        }
        true
    }
}

/// Actors by kind, for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Legacy,
    Operator,
    Citizen,
    Staff,
    Device,
    Matcher,
    Timer,
    Demo,
    Unknown,
}

impl Kind {
    fn of(actor: Actor<'_>) -> Self {
        match actor {
            Actor::Legacy => Kind::Legacy,
            Actor::Operator => Kind::Operator,
            Actor::Citizen => Kind::Citizen,
            Actor::Staff(_) => Kind::Staff,
            Actor::Device(_) => Kind::Device,
            Actor::Matcher => Kind::Matcher,
            Actor::Timer => Kind::Timer,
            Actor::Demo => Kind::Demo,
            Actor::Unknown(_) => Kind::Unknown,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Legacy => "system",
            Kind::Operator => "operator",
            Kind::Citizen => "citizen",
            Kind::Staff => "staff",
            Kind::Device => "device",
            Kind::Matcher => "system:matcher",
            Kind::Timer => "system:timer",
            Kind::Demo => "system:demo",
            Kind::Unknown => "unknown",
        }
    }
}
