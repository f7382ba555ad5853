//! The waitlist's matching engine: which waiting wish gets a unit that became
//! free, in first-come order (DESIGN.md invariants 3–6).
//!
//! [`Matcher`] holds the capacity the matcher may hand out (units per office,
//! office-local date and lane, each free, booked, or held by a proposal) and
//! the queue of waiting wishes. It is told what happened, in log order, and
//! answers with the proposals it decides. It does no I/O, reads no clock and
//! draws no random numbers (not even for hashing), so the same calls give the
//! same proposals: replay equals live (invariant 6). The caller converts UTC
//! instants to office-local dates and times and mints proposal ids.
//!
//! # Rules
//! - A wish matches a start `s` (a unit of some lane) when the office is in
//!   the wish's set, the weekday and hour of `s`'s local start are in its
//!   windows, the date is at or before its `until`, the lane has consecutive
//!   free units from `s` lasting at least its needed minutes (the shortest such
//!   run is taken, as a booking would take it), and the wish never declined or
//!   let expire any unit of that run (invariant 3).
//! - A wish has at most one open proposal; only idle wishes get one.
//! - When units become free (published, released by a booking, freed by a
//!   declined, expired or ended proposal), they are taken one at a time in
//!   the order (date, start, office, lane). Each still-free unit `u` goes to
//!   the **earliest-registered** idle wish with a matching start whose run
//!   contains `u`; for that wish the **earliest start** (the lane is `u`'s).
//! - Then every wish that became idle in the same call (registered, declined,
//!   expired, or withdrawn), earliest-registered first, gets the **soonest**
//!   matching run still free: smallest (date, start), then lowest office
//!   index, then lowest lane.
//! - After every call no idle wish matches a free run (quiescence, invariant
//!   5), so every free unit is one that no idle wish wants and may be shown as
//!   publicly bookable (invariant 4). [`Matcher::quiescence_violation`]
//!   checks this by brute force.
//! - Declining or letting a proposal expire keeps the wish's place: its
//!   registration order never changes.
//!
//! # Performance
//! Wishes are numbered by registration order (dense `u32`). Each queue key
//! (office, weekday, hour, needed minutes) keeps the orders of its wishes in
//! ascending order (append-only). Wishes that got a proposal or left are
//! deleted lazily: an entry found busy is overwritten with a "next live
//! entry" pointer (a union-find with path compression, in the same `u32`), so
//! busy wishes are skipped in amortised near-constant time. A wish that
//! becomes idle again keeps its place through a small per-key set of
//! returned orders, merged into the scan. Keying by needed minutes too means
//! a freed unit never scans wishes whose length cannot fit the free run. What
//! remains to be scanned are idle wishes of the right key and length that do
//! not fit for another reason (their `until` has passed, or they declined that
//! unit). Per waiting wish: a 64-byte record, 16–32 bytes of id table (8-byte
//! slots, at most half full) and 4 bytes per (office, weekday, hour) it wants.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::Datelike;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::catalogue::{CapacityPublished, UnitRef};
use crate::ids::{OfficeId, WishId};
use crate::time::{LocalDate, LocalTime};
use crate::windows::WeeklyWindows;

/// How many offices the engine can tell apart (an office set is a `u64`).
pub const MAX_OFFICES: usize = 64;

/// Minutes in a day; a run of units never crosses midnight.
const DAY_MINUTES: u32 = 24 * 60;
/// `num_days_from_ce` of 0000-01-01 is -365; day numbers start at 1.
const DAY_OFFSET: i32 = 366;
const NO_UNTIL: u32 = u32::MAX;

/// Cell holder values besides a wish order.
const FREE: u32 = u32::MAX;
const BOOKED: u32 = u32::MAX - 1;
/// A unit whose start has passed: never free again.
const RETIRED: u32 = u32::MAX - 2;

/// Queue entry bit: the entry is dead and the rest is the next entry to look at.
const DEAD: u32 = 1 << 31;
/// Registration orders stay below [`DEAD`].
const MAX_WISHES: usize = DEAD as usize;

const IDLE: u8 = 0;
const PROPOSED: u8 = 1;
const OVER: u8 = 2;

/// The engine's compact name for a registered office (0–63).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OfficeIndex(u8);

impl OfficeIndex {
    pub fn get(self) -> u8 {
        self.0
    }
}

/// A set of offices, as a bitmask over [`OfficeIndex`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OfficeSet(u64);

impl OfficeSet {
    pub const EMPTY: Self = Self(0);

    pub fn with(self, office: OfficeIndex) -> Self {
        Self(self.0 | 1 << office.0)
    }

    pub fn contains(self, office: OfficeIndex) -> bool {
        self.0 & (1 << office.0) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Ascending.
    pub fn iter(self) -> impl Iterator<Item = OfficeIndex> {
        (0..MAX_OFFICES as u8)
            .filter(move |&i| self.0 & (1 << i) != 0)
            .map(OfficeIndex)
    }
}

impl FromIterator<OfficeIndex> for OfficeSet {
    fn from_iter<I: IntoIterator<Item = OfficeIndex>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

/// One capacity unit, named by where it starts: office, office-local date,
/// lane and office-local start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unit {
    pub office: OfficeIndex,
    pub date: LocalDate,
    pub lane: u16,
    pub start: LocalTime,
}

/// A unit to publish: where it starts and when it ends (same day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewUnit {
    pub unit: Unit,
    pub end: LocalTime,
}

/// A waiting wish as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingWish {
    pub id: WishId,
    pub offices: OfficeSet,
    pub windows: WeeklyWindows,
    /// The summed duration of the wish's services.
    pub needed_minutes: u32,
    /// The last office-local date a proposal may fall on.
    pub until: Option<LocalDate>,
}

/// Consecutive units of one lane offered to a wish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub wish: WishId,
    /// In time order; at least one.
    pub units: Vec<Unit>,
    /// The end of the last unit.
    pub end: LocalTime,
}

impl Proposal {
    pub fn first(&self) -> Unit {
        self.units[0]
    }
}

/// What one call decided, in the order it decided it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Decisions {
    /// New proposals; their units are held until declined, expired, accepted
    /// or the wish ends.
    pub proposals: Vec<Proposal>,
    /// Wishes whose open proposal is void because a booking took one of its
    /// units ([`Matcher::hold_units`]); they are idle again at their place,
    /// without having declined anything, and may appear in `proposals` again.
    pub withdrawn: Vec<WishId>,
}

/// A call the engine refuses; it then changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MatchError {
    #[error("at most {MAX_OFFICES} offices can be matched")]
    TooManyOffices,
    #[error("office index {} is not registered", .0.get())]
    UnknownOffice(OfficeIndex),
    #[error("office {0} is not registered with the matcher")]
    UnregisteredOffice(OfficeId),
    #[error("a wish names at least one office")]
    NoOffices,
    #[error("wish {0} is already registered")]
    DuplicateWish(WishId),
    #[error("the matcher holds at most {MAX_WISHES} wishes")]
    TooManyWishes,
    #[error("wish {0} is not registered")]
    UnknownWish(WishId),
    #[error("wish {0} has no open proposal")]
    NoOpenProposal(WishId),
    #[error("wish {0} is over")]
    WishOver(WishId),
    #[error("unit {0} is not published")]
    UnknownUnit(Unit),
    #[error("unit {0} ends before it starts")]
    EmptyUnit(Unit),
    #[error("unit {0} overlaps a published unit of its lane")]
    Overlap(Unit),
    #[error("unit {0} is named twice")]
    RepeatedUnit(Unit),
    #[error("unit {0} is already booked")]
    AlreadyBooked(Unit),
    #[error("unit {0} is not held by a booking")]
    NotBooked(Unit),
}

/// Where a wish stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WishStatus {
    Waiting,
    Proposed(Vec<Unit>),
    Over,
}

/// Where a unit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitStatus {
    Free,
    Booked,
    /// Its start has passed ([`Matcher::retire_until`]).
    Retired,
    Proposed(WishId),
}

// --- internal representation -------------------------------------------------------

fn day_number(date: LocalDate) -> u32 {
    (date.as_naive().num_days_from_ce() + DAY_OFFSET) as u32
}

fn minutes(time: LocalTime) -> u16 {
    time.minutes_since_midnight() as u16
}

fn local_time(minutes: u16) -> LocalTime {
    LocalTime::from_minutes_since_midnight(minutes.into()).expect("unit times are within the day")
}

fn split_id(id: WishId) -> [u64; 2] {
    let value = id.as_ulid().0;
    [value as u64, (value >> 64) as u64]
}

fn join_id(id: [u64; 2]) -> WishId {
    WishId::from_ulid(ulid::Ulid(u128::from(id[1]) << 64 | u128::from(id[0])))
}

/// A declined unit, packed: office, day number, lane, start minute.
fn unit_key(office: u8, day: u32, lane: u16, start: u16) -> u64 {
    u64::from(office) << 56 | u64::from(day) << 32 | u64::from(lane) << 16 | u64::from(start)
}

/// One waiting (or past) wish; 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WishRecord {
    /// The wish id's ULID in two halves (low, high), so the record needs no
    /// 16-byte alignment.
    id: [u64; 2],
    /// Per weekday (Mon = 0) a bitmask of wanted start hours.
    hours: [u32; 7],
    offices: u64,
    /// Day number of the last date, or [`NO_UNTIL`].
    until: u32,
    needed: u16,
    state: u8,
    /// Whether the wish declined (or let expire) any unit: only then is
    /// `Matcher::declined` consulted.
    declined: bool,
}

/// One unit in its lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Cell {
    start: u16,
    end: u16,
    /// [`FREE`], [`BOOKED`], or the order of the wish whose proposal holds it.
    holder: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Lane {
    lane: u16,
    /// Sorted by start, never overlapping.
    cells: Vec<Cell>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Day {
    date: LocalDate,
    /// Mon = 0.
    weekday: u8,
    /// Sorted by lane number.
    lanes: Vec<Lane>,
    /// Free units per start hour, and the hours with any.
    free_count: [u16; 24],
    free_mask: u32,
}

impl Day {
    fn set_holder(&mut self, lane: usize, cell: usize, holder: u32) {
        let cell = &mut self.lanes[lane].cells[cell];
        let hour = usize::from(cell.start / 60);
        match (cell.holder == FREE, holder == FREE) {
            (true, false) => {
                self.free_count[hour] -= 1;
                if self.free_count[hour] == 0 {
                    self.free_mask &= !(1 << hour);
                }
            }
            (false, true) => {
                self.free_count[hour] += 1;
                self.free_mask |= 1 << hour;
            }
            _ => {}
        }
        cell.holder = holder;
    }
}

/// Every (weekday, hour) set in per-weekday hour masks, Monday first, hours ascending.
fn hour_bits(hours: [u32; 7]) -> impl Iterator<Item = (usize, u32)> {
    hours.into_iter().enumerate().flat_map(|(weekday, mut mask)| {
        std::iter::from_fn(move || {
            let hour = (mask != 0).then(|| mask.trailing_zeros())?;
            mask &= mask - 1;
            Some((weekday, hour))
        })
    })
}

/// The shortest run of consecutive free cells from `first` lasting at least
/// `needed` minutes; its length in cells.
fn free_run(cells: &[Cell], first: usize, needed: u32) -> Option<usize> {
    let start = u32::from(cells[first].start);
    let mut next = first;
    loop {
        let cell = cells.get(next)?;
        if cell.holder != FREE || (next > first && cell.start != cells[next - 1].end) {
            return None;
        }
        next += 1;
        if u32::from(cell.end) - start >= needed {
            return Some(next - first);
        }
    }
}

/// The orders of the wishes of one key, ascending, with lazy deletion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Queue {
    /// A wish order, or [`DEAD`] | the index of the next entry to look at.
    entries: Vec<u32>,
    /// Wishes idle again after their entry was found busy; they keep their place.
    returned: BTreeSet<u32>,
}

impl Queue {
    /// The first live entry at or after `from` (or the end), compressing the path.
    fn find(&mut self, from: usize) -> usize {
        let mut root = from;
        while let Some(&entry) = self.entries.get(root) {
            if entry & DEAD == 0 {
                break;
            }
            root = (entry & !DEAD) as usize;
        }
        let mut at = from;
        while at < root {
            let next = (self.entries[at] & !DEAD) as usize;
            self.entries[at] = DEAD | root as u32;
            at = next;
        }
        root
    }

    /// The earliest idle wish before `bound` for which `fits` says yes, with
    /// what it said. Busy or finished wishes met on the way are unlinked.
    fn first<T>(
        &mut self,
        records: &[WishRecord],
        bound: u32,
        mut fits: impl FnMut(u32) -> Option<T>,
    ) -> Option<(u32, T)> {
        let mut found = None;
        let mut at = self.find(0);
        while let Some(&order) = self.entries.get(at) {
            if order >= bound {
                break;
            }
            if records[order as usize].state != IDLE {
                self.entries[at] = DEAD | (at as u32 + 1);
            } else if let Some(fit) = fits(order) {
                found = Some((order, fit));
                break;
            }
            at = self.find(at + 1);
        }
        if self.returned.is_empty() {
            return found;
        }
        let limit = found.as_ref().map_or(bound, |(order, _)| *order);
        let mut stale = Vec::new();
        for &order in self.returned.range(..limit) {
            if records[order as usize].state != IDLE {
                stale.push(order);
            } else if let Some(fit) = fits(order) {
                found = Some((order, fit));
                break;
            }
        }
        for order in stale {
            self.returned.remove(&order);
        }
        found
    }
}

/// Wish id → order: open addressing, at most half full. A slot holds the
/// order and 32 bits of the id's hash, so probing and growing rarely touch the
/// records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct IdTable {
    slots: Vec<u64>,
    len: usize,
}

const EMPTY_SLOT: u64 = u64::MAX;

impl IdTable {
    fn hash(id: [u64; 2]) -> u32 {
        // ULIDs end in 80 random bits; a multiply spreads them to the top bits.
        ((id[0] ^ id[1].rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
    }

    fn get(&self, id: [u64; 2], records: &[WishRecord]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let hash = Self::hash(id);
        let mut slot = hash as usize & mask;
        loop {
            match self.slots[slot] {
                EMPTY_SLOT => return None,
                entry if (entry >> 32) as u32 == hash && records[entry as u32 as usize].id == id => {
                    return Some(entry as u32);
                }
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    fn insert(&mut self, order: u32, id: [u64; 2]) {
        if (self.len + 1) * 2 > self.slots.len() {
            let grown = vec![EMPTY_SLOT; (self.slots.len() * 2).max(16)];
            let old = std::mem::replace(&mut self.slots, grown);
            for entry in old.into_iter().filter(|&entry| entry != EMPTY_SLOT) {
                self.place(entry);
            }
        }
        self.place(u64::from(Self::hash(id)) << 32 | u64::from(order));
        self.len += 1;
    }

    fn place(&mut self, entry: u64) {
        let mask = self.slots.len() - 1;
        let mut slot = (entry >> 32) as usize & mask;
        while self.slots[slot] != EMPTY_SLOT {
            slot = (slot + 1) & mask;
        }
        self.slots[slot] = entry;
    }
}

/// A run chosen for a wish: office, day number, lane index, first cell, cells.
#[derive(Debug, Clone, Copy)]
struct Run {
    office: u8,
    day: u32,
    lane: usize,
    first: usize,
    count: usize,
}

/// The first-come matching engine; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    offices: Vec<OfficeId>,
    /// Per office: day number → units.
    capacity: Vec<BTreeMap<u32, Day>>,
    /// By registration order.
    wishes: Vec<WishRecord>,
    ids: IdTable,
    /// Per (office, weekday, hour) slot: (needed minutes, queue), by minutes.
    keys: Vec<Vec<(u16, u32)>>,
    queues: Vec<Queue>,
    /// Open proposals by wish order.
    proposals: BTreeMap<u32, Vec<Unit>>,
    /// Units each wish declined or let expire, by wish order.
    declined: BTreeMap<u32, Vec<u64>>,
    /// The largest needed minutes of any wish: how far a run may reach.
    max_needed: u16,
    /// Per office: units starting at or before (day number, minute) are
    /// retired; see [`Matcher::retire_until`].
    retired_until: Vec<(u32, u16)>,
    /// Test reference: find winners by scanning every wish, not the queues.
    #[cfg(test)]
    #[serde(skip)]
    naive: bool,
}

impl Matcher {
    /// Bytes of the record kept per wish, besides its id-table slot and one
    /// 4-byte queue entry per (office, weekday, hour) it wants.
    pub const WISH_RECORD_BYTES: usize = std::mem::size_of::<WishRecord>();

    pub fn new() -> Self {
        Self::default()
    }

    // --- offices ---------------------------------------------------------------

    /// The office's index; registering an office twice gives the same index.
    pub fn register_office(&mut self, office: OfficeId) -> Result<OfficeIndex, MatchError> {
        if let Some(index) = self.office_index(&office) {
            return Ok(index);
        }
        if self.offices.len() == MAX_OFFICES {
            return Err(MatchError::TooManyOffices);
        }
        self.offices.push(office);
        self.capacity.push(BTreeMap::new());
        self.retired_until.push((0, 0));
        self.keys.resize_with(self.offices.len() * 7 * 24, Vec::new);
        Ok(OfficeIndex(self.offices.len() as u8 - 1))
    }

    pub fn office_index(&self, office: &OfficeId) -> Option<OfficeIndex> {
        self.offices
            .iter()
            .position(|known| known == office)
            .map(|index| OfficeIndex(index as u8))
    }

    pub fn office_id(&self, office: OfficeIndex) -> Option<&OfficeId> {
        self.offices.get(usize::from(office.0))
    }

    /// The unit as events name it.
    pub fn unit_ref(&self, unit: &Unit) -> Option<UnitRef> {
        Some(UnitRef {
            office: self.office_id(unit.office)?.clone(),
            date: unit.date,
            lane: unit.lane,
            start: unit.start,
        })
    }

    // --- queries ---------------------------------------------------------------

    pub fn wish_status(&self, wish: WishId) -> Option<WishStatus> {
        let order = self.ids.get(split_id(wish), &self.wishes)?;
        Some(match self.wishes[order as usize].state {
            IDLE => WishStatus::Waiting,
            PROPOSED => WishStatus::Proposed(self.proposals[&order].clone()),
            _ => WishStatus::Over,
        })
    }

    pub fn unit_status(&self, unit: &Unit) -> Option<UnitStatus> {
        let (office, day, lane, cell) = self.locate(unit)?;
        Some(match self.capacity[office][&day].lanes[lane].cells[cell].holder {
            FREE => UnitStatus::Free,
            BOOKED => UnitStatus::Booked,
            RETIRED => UnitStatus::Retired,
            order => UnitStatus::Proposed(join_id(self.wishes[order as usize].id)),
        })
    }

    /// Wishes without an open proposal, still waiting.
    pub fn idle_wishes(&self) -> usize {
        self.wishes.iter().filter(|wish| wish.state == IDLE).count()
    }

    pub fn free_units(&self) -> usize {
        self.capacity
            .iter()
            .flat_map(|days| days.values())
            .map(|day| day.free_count.iter().map(|&n| usize::from(n)).sum::<usize>())
            .sum()
    }

    /// Some idle wish and free unit that match each other (a run from that
    /// unit fits the wish), or `None` when the engine is quiescent
    /// (invariant 5). By brute force, for tests: every idle wish against every
    /// free unit.
    pub fn quiescence_violation(&self) -> Option<(WishId, Unit)> {
        for (order, wish) in self.wishes.iter().enumerate() {
            if wish.state != IDLE {
                continue;
            }
            for office in OfficeSet(wish.offices).iter() {
                for (&day, entry) in self.capacity[usize::from(office.0)].range(..=wish.until) {
                    let hours = wish.hours[usize::from(entry.weekday)];
                    for (lane, cells) in entry.lanes.iter().enumerate() {
                        for first in 0..cells.cells.len() {
                            let run = Run {
                                office: office.0,
                                day,
                                lane,
                                first,
                                count: 0,
                            };
                            if hours & 1 << (cells.cells[first].start / 60) != 0
                                && let Some(count) = self.fitting_run(order as u32, run)
                            {
                                let unit = self.run_units(Run { count, ..run })[0];
                                return Some((join_id(wish.id), unit));
                            }
                        }
                    }
                }
            }
        }
        None
    }

    /// Frees spare capacity after a bulk load (e.g. a restart from a snapshot).
    pub fn shrink_to_fit(&mut self) {
        self.wishes.shrink_to_fit();
        self.queues.shrink_to_fit();
        for queue in &mut self.queues {
            queue.entries.shrink_to_fit();
        }
        for key in &mut self.keys {
            key.shrink_to_fit();
        }
    }

    // --- capacity --------------------------------------------------------------

    /// New units, free; each goes to the first wish that wants it.
    pub fn publish_units(&mut self, units: &[NewUnit]) -> Result<Decisions, MatchError> {
        let mut sorted: Vec<NewUnit> = units.to_vec();
        sorted.sort_by_key(|new| (new.unit.office, new.unit.date, new.unit.lane, new.unit.start));
        for (at, new) in sorted.iter().enumerate() {
            let unit = new.unit;
            self.check_office(unit.office)?;
            if new.end <= unit.start {
                return Err(MatchError::EmptyUnit(unit));
            }
            let next_in_batch = sorted.get(at + 1).filter(|next| {
                (next.unit.office, next.unit.date, next.unit.lane) == (unit.office, unit.date, unit.lane)
            });
            if next_in_batch.is_some_and(|next| next.unit.start < new.end) || self.overlaps(new) {
                return Err(MatchError::Overlap(unit));
            }
        }
        for new in &sorted {
            self.insert_cell(new);
        }
        let freed: Vec<Unit> = sorted.iter().map(|new| new.unit).collect();
        Ok(self.settle(freed, &[]))
    }

    /// [`Self::publish_units`] for a capacity publication of a registered office.
    pub fn publish_capacity(&mut self, published: &CapacityPublished) -> Result<Decisions, MatchError> {
        let office = self
            .office_index(&published.office)
            .ok_or_else(|| MatchError::UnregisteredOffice(published.office.clone()))?;
        let units: Vec<NewUnit> = published
            .spans()
            .map(|span| NewUnit {
                unit: Unit {
                    office,
                    date: published.date,
                    lane: span.lane,
                    start: span.start,
                },
                end: span.end,
            })
            .collect();
        self.publish_units(&units)
    }

    /// A booking took these units. A unit held by an open proposal voids that
    /// proposal: the log says the booking won the unit. The wish is idle again
    /// (not having declined anything) and the proposal's other units are free.
    pub fn hold_units(&mut self, units: &[Unit]) -> Result<Decisions, MatchError> {
        let located = self.locate_all(units)?;
        for (unit, &(office, day, lane, cell)) in units.iter().zip(&located) {
            if self.capacity[office][&day].lanes[lane].cells[cell].holder == BOOKED {
                return Err(MatchError::AlreadyBooked(*unit));
            }
        }
        let mut voided = BTreeSet::new();
        for &(office, day, lane, cell) in &located {
            let entry = self.capacity[office].get_mut(&day).expect("located");
            let holder = entry.lanes[lane].cells[cell].holder;
            if !matches!(holder, FREE | RETIRED) {
                voided.insert(holder);
            }
            entry.set_holder(lane, cell, BOOKED);
        }
        let mut freed = Vec::new();
        let mut withdrawn = Vec::new();
        for &order in &voided {
            let units = self
                .proposals
                .remove(&order)
                .expect("a held unit's wish has a proposal");
            for unit in units {
                let (office, day, lane, cell) = self.locate(&unit).expect("proposed units are published");
                let vacant = self.vacant(office, day, minutes(unit.start));
                let entry = self.capacity[office].get_mut(&day).expect("located");
                if entry.lanes[lane].cells[cell].holder == order {
                    entry.set_holder(lane, cell, vacant);
                    freed.push(unit);
                }
            }
            self.become_idle(order);
            withdrawn.push(join_id(self.wishes[order as usize].id));
        }
        let voided: Vec<u32> = voided.into_iter().collect();
        let mut decisions = self.settle(freed, &voided);
        decisions.withdrawn = withdrawn;
        Ok(decisions)
    }

    /// A booking let these units go (cancelled or lapsed); they go to the
    /// first wish that wants them.
    pub fn release_units(&mut self, units: &[Unit]) -> Result<Decisions, MatchError> {
        let located = self.locate_all(units)?;
        for (unit, &(office, day, lane, cell)) in units.iter().zip(&located) {
            if self.capacity[office][&day].lanes[lane].cells[cell].holder != BOOKED {
                return Err(MatchError::NotBooked(*unit));
            }
        }
        for (unit, &(office, day, lane, cell)) in units.iter().zip(&located) {
            let vacant = self.vacant(office, day, minutes(unit.start));
            let entry = self.capacity[office].get_mut(&day).expect("located");
            entry.set_holder(lane, cell, vacant);
        }
        Ok(self.settle(units.to_vec(), &[]))
    }

    /// Time has passed: units of `office` starting at or before `date` `time`
    /// (office-local) are retired, never proposed again. A unit a proposal
    /// holds retires when it is let go. The caller drives this by the time
    /// the log records, so a replay retires the same units at the same point.
    pub fn retire_until(&mut self, office: OfficeIndex, date: LocalDate, time: LocalTime) -> Result<(), MatchError> {
        self.check_office(office)?;
        let index = usize::from(office.0);
        let until = (day_number(date), minutes(time));
        let (from_day, _) = self.retired_until[index];
        if until <= self.retired_until[index] {
            return Ok(());
        }
        self.retired_until[index] = until;
        for (&day, entry) in self.capacity[index].range_mut(from_day..=until.0) {
            for lane in 0..entry.lanes.len() {
                for cell in 0..entry.lanes[lane].cells.len() {
                    let found = entry.lanes[lane].cells[cell];
                    if found.holder == FREE && (day, found.start) <= until {
                        entry.set_holder(lane, cell, RETIRED);
                    }
                }
            }
        }
        Ok(())
    }

    // --- wishes ----------------------------------------------------------------

    /// A new waiting wish, last in the queue; it gets the soonest matching
    /// free run, if there is one.
    pub fn register_wish(&mut self, wish: WaitingWish) -> Result<Decisions, MatchError> {
        if wish.offices.is_empty() {
            return Err(MatchError::NoOffices);
        }
        if let Some(unknown) = wish.offices.iter().find(|office| self.check_office(*office).is_err()) {
            return Err(MatchError::UnknownOffice(unknown));
        }
        let id = split_id(wish.id);
        if self.ids.get(id, &self.wishes).is_some() {
            return Err(MatchError::DuplicateWish(wish.id));
        }
        if self.wishes.len() >= MAX_WISHES {
            return Err(MatchError::TooManyWishes);
        }
        let order = self.wishes.len() as u32;
        let mut hours = [0u32; 7];
        for (weekday, hour) in wish.windows.iter() {
            hours[weekday.num_days_from_monday() as usize] |= 1 << hour;
        }
        // A run never crosses midnight, so longer needs can never match.
        let needed = wish.needed_minutes.clamp(1, DAY_MINUTES) as u16;
        self.wishes.push(WishRecord {
            id,
            hours,
            offices: wish.offices.0,
            until: wish.until.map_or(NO_UNTIL, day_number),
            needed,
            state: IDLE,
            declined: false,
        });
        self.ids.insert(order, id);
        self.max_needed = self.max_needed.max(needed);
        for office in wish.offices.iter() {
            for (weekday, hour) in hour_bits(hours) {
                let queue = self.queue_for(office.0, weekday, hour, needed);
                self.queues[queue as usize].entries.push(order);
            }
        }
        Ok(self.settle(Vec::new(), &[order]))
    }

    /// The citizen declined: the units go to the next wish, never back to
    /// this one, which is idle again at its old place.
    pub fn proposal_declined(&mut self, wish: WishId) -> Result<Decisions, MatchError> {
        self.give_back(wish)
    }

    /// Unanswered in time: as if declined.
    pub fn proposal_expired(&mut self, wish: WishId) -> Result<Decisions, MatchError> {
        self.give_back(wish)
    }

    /// The proposal became a booking, which now holds its units; the wish is
    /// fulfilled and leaves the queue.
    pub fn proposal_accepted(&mut self, wish: WishId) -> Result<(), MatchError> {
        let order = self.order_of(wish)?;
        if self.wishes[order as usize].state != PROPOSED {
            return Err(MatchError::NoOpenProposal(wish));
        }
        let units = self.proposals.remove(&order).expect("a proposed wish has a proposal");
        self.set_units(&units, BOOKED);
        self.finish(order);
        Ok(())
    }

    /// The wish is over (ended by the citizen, or by the service); units held
    /// by its open proposal go to the next wish.
    pub fn wish_ended(&mut self, wish: WishId) -> Result<Decisions, MatchError> {
        let order = self.order_of(wish)?;
        let freed = match self.wishes[order as usize].state {
            OVER => return Err(MatchError::WishOver(wish)),
            PROPOSED => {
                let units = self.proposals.remove(&order).expect("a proposed wish has a proposal");
                self.vacate(&units);
                units
            }
            _ => Vec::new(),
        };
        self.finish(order);
        Ok(self.settle(freed, &[]))
    }

    // --- internals -------------------------------------------------------------

    fn check_office(&self, office: OfficeIndex) -> Result<(), MatchError> {
        if usize::from(office.0) < self.offices.len() {
            Ok(())
        } else {
            Err(MatchError::UnknownOffice(office))
        }
    }

    fn order_of(&self, wish: WishId) -> Result<u32, MatchError> {
        self.ids
            .get(split_id(wish), &self.wishes)
            .ok_or(MatchError::UnknownWish(wish))
    }

    fn queue_for(&mut self, office: u8, weekday: usize, hour: u32, needed: u16) -> u32 {
        let key = &mut self.keys[(usize::from(office) * 7 + weekday) * 24 + hour as usize];
        match key.binary_search_by_key(&needed, |&(minutes, _)| minutes) {
            Ok(at) => key[at].1,
            Err(at) => {
                let queue = self.queues.len() as u32;
                self.queues.push(Queue::default());
                key.insert(at, (needed, queue));
                queue
            }
        }
    }

    /// Office, day number, lane index and cell index of a published unit.
    fn locate(&self, unit: &Unit) -> Option<(usize, u32, usize, usize)> {
        let office = usize::from(unit.office.0);
        let day = day_number(unit.date);
        let entry = self.capacity.get(office)?.get(&day)?;
        let lane = entry.lanes.binary_search_by_key(&unit.lane, |lane| lane.lane).ok()?;
        let start = minutes(unit.start);
        let cell = entry.lanes[lane]
            .cells
            .binary_search_by_key(&start, |cell| cell.start)
            .ok()?;
        Some((office, day, lane, cell))
    }

    /// Every unit located, none named twice.
    fn locate_all(&self, units: &[Unit]) -> Result<Vec<(usize, u32, usize, usize)>, MatchError> {
        let mut seen = BTreeSet::new();
        units
            .iter()
            .map(|unit| {
                if !seen.insert(*unit) {
                    return Err(MatchError::RepeatedUnit(*unit));
                }
                self.locate(unit).ok_or(MatchError::UnknownUnit(*unit))
            })
            .collect()
    }

    fn overlaps(&self, new: &NewUnit) -> bool {
        let Some(entry) = self.capacity[usize::from(new.unit.office.0)].get(&day_number(new.unit.date)) else {
            return false;
        };
        let Ok(lane) = entry.lanes.binary_search_by_key(&new.unit.lane, |lane| lane.lane) else {
            return false;
        };
        let cells = &entry.lanes[lane].cells;
        let (start, end) = (minutes(new.unit.start), minutes(new.end));
        let after = cells.partition_point(|cell| cell.start < end);
        after > 0 && cells[after - 1].end > start
    }

    fn insert_cell(&mut self, new: &NewUnit) {
        let unit = new.unit;
        let entry = self.capacity[usize::from(unit.office.0)]
            .entry(day_number(unit.date))
            .or_insert_with(|| Day {
                date: unit.date,
                weekday: unit.date.weekday().num_days_from_monday() as u8,
                lanes: Vec::new(),
                free_count: [0; 24],
                free_mask: 0,
            });
        let lane = match entry.lanes.binary_search_by_key(&unit.lane, |lane| lane.lane) {
            Ok(lane) => lane,
            Err(at) => {
                entry.lanes.insert(
                    at,
                    Lane {
                        lane: unit.lane,
                        cells: Vec::new(),
                    },
                );
                at
            }
        };
        let start = minutes(unit.start);
        let vacant = if (day_number(unit.date), start) <= self.retired_until[usize::from(unit.office.0)] {
            RETIRED
        } else {
            FREE
        };
        let cells = &mut entry.lanes[lane].cells;
        let at = cells.partition_point(|cell| cell.start < start);
        cells.insert(
            at,
            Cell {
                start,
                end: minutes(new.end),
                holder: BOOKED,
            },
        );
        entry.set_holder(lane, at, vacant);
    }

    /// What a unit becomes when nothing holds it: free, or retired once its
    /// start has passed.
    fn vacant(&self, office: usize, day: u32, start: u16) -> u32 {
        if (day, start) <= self.retired_until[office] {
            RETIRED
        } else {
            FREE
        }
    }

    /// Nothing holds these units any more.
    fn vacate(&mut self, units: &[Unit]) {
        for unit in units {
            let (office, day, lane, cell) = self.locate(unit).expect("held units are published");
            let vacant = self.vacant(office, day, minutes(unit.start));
            self.capacity[office]
                .get_mut(&day)
                .expect("located")
                .set_holder(lane, cell, vacant);
        }
    }

    fn set_units(&mut self, units: &[Unit], holder: u32) {
        for unit in units {
            let (office, day, lane, cell) = self.locate(unit).expect("held units are published");
            self.capacity[office]
                .get_mut(&day)
                .expect("located")
                .set_holder(lane, cell, holder);
        }
    }

    fn give_back(&mut self, wish: WishId) -> Result<Decisions, MatchError> {
        let order = self.order_of(wish)?;
        if self.wishes[order as usize].state != PROPOSED {
            return Err(MatchError::NoOpenProposal(wish));
        }
        let units = self.proposals.remove(&order).expect("a proposed wish has a proposal");
        self.vacate(&units);
        let declined = self.declined.entry(order).or_default();
        declined.extend(
            units
                .iter()
                .map(|unit| unit_key(unit.office.0, day_number(unit.date), unit.lane, minutes(unit.start))),
        );
        declined.sort_unstable();
        declined.dedup();
        self.wishes[order as usize].declined = true;
        self.become_idle(order);
        Ok(self.settle(units, &[order]))
    }

    /// The wish has no proposal any more; it keeps its place in every queue.
    fn become_idle(&mut self, order: u32) {
        let wish = &mut self.wishes[order as usize];
        wish.state = IDLE;
        let (offices, hours, needed) = (OfficeSet(wish.offices), wish.hours, wish.needed);
        for office in offices.iter() {
            for (weekday, hour) in hour_bits(hours) {
                let queue = self.queue_for(office.0, weekday, hour, needed);
                self.queues[queue as usize].returned.insert(order);
            }
        }
    }

    fn finish(&mut self, order: u32) {
        self.wishes[order as usize].state = OVER;
        self.declined.remove(&order);
    }

    /// Restores quiescence after `freed` units became free and the wishes
    /// `idle` (ascending orders) became idle: first each freed unit, in
    /// (date, start, office, lane) order, to its earliest wish; then each
    /// still idle wish to its soonest run.
    fn settle(&mut self, mut freed: Vec<Unit>, idle: &[u32]) -> Decisions {
        let mut decisions = Decisions::default();
        freed.sort_by_key(|unit| (unit.date, unit.start, unit.office, unit.lane));
        for unit in freed {
            let (office, day, lane, cell) = self.locate(&unit).expect("freed units are published");
            if self.capacity[office][&day].lanes[lane].cells[cell].holder != FREE {
                continue;
            }
            if let Some((order, run)) = self.winner(office as u8, day, lane, cell) {
                decisions.proposals.push(self.propose(order, run));
            }
        }
        for &order in idle {
            if self.wishes[order as usize].state == IDLE
                && let Some(run) = self.run_for_wish(order)
            {
                decisions.proposals.push(self.propose(order, run));
            }
        }
        decisions
    }

    fn propose(&mut self, order: u32, run: Run) -> Proposal {
        let entry = self.capacity[usize::from(run.office)]
            .get_mut(&run.day)
            .expect("run's day");
        for cell in run.first..run.first + run.count {
            entry.set_holder(run.lane, cell, order);
        }
        let end = local_time(entry.lanes[run.lane].cells[run.first + run.count - 1].end);
        let units = self.run_units(run);
        self.wishes[order as usize].state = PROPOSED;
        self.proposals.insert(order, units.clone());
        Proposal {
            wish: join_id(self.wishes[order as usize].id),
            units,
            end,
        }
    }

    fn run_units(&self, run: Run) -> Vec<Unit> {
        let entry = &self.capacity[usize::from(run.office)][&run.day];
        let lane = &entry.lanes[run.lane];
        lane.cells[run.first..run.first + run.count]
            .iter()
            .map(|cell| Unit {
                office: OfficeIndex(run.office),
                date: entry.date,
                lane: lane.lane,
                start: local_time(cell.start),
            })
            .collect()
    }

    /// Whether the wish declined any of the run's units.
    fn declined_any(&self, order: u32, run: Run) -> bool {
        self.wishes[order as usize].declined
            && self
                .declined
                .get(&order)
                .is_some_and(|keys| declined_in(keys, &self.capacity, run))
    }

    /// The length of the free run from `run.first` that the wish would take,
    /// if it may take it (date, length, declined units; office and hour are
    /// the caller's to check).
    fn fitting_run(&self, order: u32, run: Run) -> Option<usize> {
        let wish = &self.wishes[order as usize];
        if run.day > wish.until {
            return None;
        }
        let cells = &self.capacity[usize::from(run.office)][&run.day].lanes[run.lane].cells;
        let count = free_run(cells, run.first, wish.needed.into())?;
        (!self.declined_any(order, Run { count, ..run })).then_some(count)
    }

    /// The free cells around `cell` a run containing it may use: the first
    /// possible start and the end minute of the free stretch, looking at most
    /// `reach` minutes away.
    fn free_stretch(&self, office: u8, day: u32, lane: usize, cell: usize, reach: u32) -> (usize, u32) {
        let cells = &self.capacity[usize::from(office)][&day].lanes[lane].cells;
        let start = u32::from(cells[cell].start);
        let mut first = cell;
        while first > 0 {
            let before = &cells[first - 1];
            if before.holder != FREE || before.end != cells[first].start || start - u32::from(before.start) >= reach {
                break;
            }
            first -= 1;
        }
        let limit = start + reach;
        let mut last = cell;
        while last + 1 < cells.len() && u32::from(cells[last].end) < limit {
            let after = &cells[last + 1];
            if after.holder != FREE || after.start != cells[last].end {
                break;
            }
            last += 1;
        }
        (first, u32::from(cells[last].end))
    }

    /// The earliest-registered idle wish with a run containing the free
    /// `cell`, and its earliest such run.
    fn wish_for_unit(&mut self, office: u8, day: u32, lane: usize, cell: usize) -> Option<(u32, Run)> {
        let (first, stretch_end) = self.free_stretch(office, day, lane, cell, self.max_needed.into());
        let entry = &self.capacity[usize::from(office)][&day];
        let cells = &entry.lanes[lane].cells;
        let unit_start = u32::from(cells[cell].start);
        let slot_base = (usize::from(office) * 7 + usize::from(entry.weekday)) * 24;
        let mut best: Option<(u32, Run)> = None;
        let mut from = first;
        while from <= cell {
            // The candidate starts within one hour: cells from..to.
            let hour = cells[from].start / 60;
            let to = (from..=cell)
                .find(|&at| cells[at].start / 60 != hour)
                .unwrap_or(cell + 1);
            for &(needed, queue) in &self.keys[slot_base + usize::from(hour)] {
                let needed = u32::from(needed);
                // A start s fits when its run reaches the unit and stays free:
                // unit_start < s + needed <= stretch_end.
                let lo = (from..to).find(|&at| u32::from(cells[at].start) + needed > unit_start);
                let Some(lo) = lo else { continue };
                let hi = (lo..to)
                    .take_while(|&at| u32::from(cells[at].start) + needed <= stretch_end)
                    .last();
                let Some(hi) = hi else { continue };
                let bound = best.map_or(DEAD, |(order, _)| order);
                let (wishes, declined, capacity) = (&self.wishes, &self.declined, &self.capacity);
                let found = self.queues[queue as usize].first(wishes, bound, |order| {
                    let wish = &wishes[order as usize];
                    if day > wish.until {
                        return None;
                    }
                    (lo..=hi).find_map(|start| {
                        let run = Run {
                            office,
                            day,
                            lane,
                            first: start,
                            count: free_run(cells, start, needed)?,
                        };
                        let refused = wish.declined
                            && declined
                                .get(&order)
                                .is_some_and(|keys| declined_in(keys, capacity, run));
                        (!refused).then_some(run)
                    })
                });
                if let Some(found) = found {
                    best = Some(found);
                }
            }
            from = to;
        }
        best
    }

    /// The wish's soonest free run: by (date, start), then office, then lane.
    fn run_for_wish(&self, order: u32) -> Option<Run> {
        let wish = &self.wishes[order as usize];
        let mut best: Option<(u32, u16, Run)> = None;
        for office in OfficeSet(wish.offices).iter() {
            for (&day, entry) in self.capacity[usize::from(office.0)].range(..=wish.until) {
                if best.is_some_and(|(best_day, ..)| day > best_day) {
                    break;
                }
                let mut hours = wish.hours[usize::from(entry.weekday)];
                if !self.naive() {
                    hours &= entry.free_mask;
                }
                if hours == 0 {
                    continue;
                }
                let mut found = false;
                for (lane, cells) in entry.lanes.iter().enumerate() {
                    for (first, cell) in cells.cells.iter().enumerate() {
                        if best.is_some_and(|(best_day, best_start, _)| (day, cell.start) >= (best_day, best_start)) {
                            break;
                        }
                        if cell.holder != FREE || hours & 1 << (cell.start / 60) == 0 {
                            continue;
                        }
                        let run = Run {
                            office: office.0,
                            day,
                            lane,
                            first,
                            count: 0,
                        };
                        if let Some(count) = self.fitting_run(order, run) {
                            best = Some((day, cell.start, Run { count, ..run }));
                            found = true;
                            break;
                        }
                    }
                }
                if found {
                    break;
                }
            }
        }
        best.map(|(_, _, run)| run)
    }

    #[cfg(not(test))]
    fn naive(&self) -> bool {
        false
    }

    #[cfg(not(test))]
    fn winner(&mut self, office: u8, day: u32, lane: usize, cell: usize) -> Option<(u32, Run)> {
        self.wish_for_unit(office, day, lane, cell)
    }

    #[cfg(test)]
    fn naive(&self) -> bool {
        self.naive
    }

    #[cfg(test)]
    fn winner(&mut self, office: u8, day: u32, lane: usize, cell: usize) -> Option<(u32, Run)> {
        if self.naive {
            self.wish_for_unit_naive(office, day, lane, cell)
        } else {
            self.wish_for_unit(office, day, lane, cell)
        }
    }

    /// The reference for tests: scan every wish in order instead of the queues.
    #[cfg(test)]
    fn wish_for_unit_naive(&self, office: u8, day: u32, lane: usize, cell: usize) -> Option<(u32, Run)> {
        let (first, stretch_end) = self.free_stretch(office, day, lane, cell, DAY_MINUTES);
        let entry = &self.capacity[usize::from(office)][&day];
        let cells = &entry.lanes[lane].cells;
        let unit_start = u32::from(cells[cell].start);
        for (order, wish) in self.wishes.iter().enumerate() {
            if wish.state != IDLE || wish.offices & 1 << office == 0 {
                continue;
            }
            for (start, candidate) in cells.iter().enumerate().take(cell + 1).skip(first) {
                let start_minute = u32::from(candidate.start);
                let needed = u32::from(wish.needed);
                if wish.hours[usize::from(entry.weekday)] & 1 << (start_minute / 60) == 0
                    || start_minute + needed <= unit_start
                    || start_minute + needed > stretch_end
                {
                    continue;
                }
                let run = Run {
                    office,
                    day,
                    lane,
                    first: start,
                    count: 0,
                };
                if let Some(count) = self.fitting_run(order as u32, run) {
                    return Some((order as u32, Run { count, ..run }));
                }
            }
        }
        None
    }
}

fn declined_in(keys: &[u64], capacity: &[BTreeMap<u32, Day>], run: Run) -> bool {
    let lane = &capacity[usize::from(run.office)][&run.day].lanes[run.lane];
    lane.cells[run.first..run.first + run.count].iter().any(|cell| {
        keys.binary_search(&unit_key(run.office, run.day, lane.lane, cell.start))
            .is_ok()
    })
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "office #{} {} lane {} {}",
            self.office.0, self.date, self.lane, self.start
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;
    use proptest::prelude::*;
    use ulid::Ulid;

    /// A Tuesday.
    const TUE: &str = "2026-12-01";
    const WED: &str = "2026-12-02";
    const NEXT_TUE: &str = "2026-12-08";

    fn wish_id(n: u64) -> WishId {
        WishId::from_ulid(Ulid::from_parts(1_700_000_000_000 + n, u128::from(n) * 7919))
    }

    fn date(input: &str) -> LocalDate {
        LocalDate::parse(input).unwrap()
    }

    fn time(input: &str) -> LocalTime {
        LocalTime::parse(input).unwrap()
    }

    /// A matcher with offices `a` (index 0) and `b` (index 1).
    fn matcher() -> (Matcher, OfficeIndex, OfficeIndex) {
        let mut matcher = Matcher::new();
        let a = matcher.register_office(OfficeId::parse("bss-a").unwrap()).unwrap();
        let b = matcher.register_office(OfficeId::parse("bss-b").unwrap()).unwrap();
        (matcher, a, b)
    }

    fn unit(office: OfficeIndex, day: &str, lane: u16, start: &str) -> Unit {
        Unit {
            office,
            date: date(day),
            lane,
            start: time(start),
        }
    }

    /// `count` units of `minutes` on one lane from `from`.
    fn units(office: OfficeIndex, day: &str, lane: u16, from: &str, count: u32, minutes: u32) -> Vec<NewUnit> {
        (0..count)
            .map(|i| {
                let start = time(from).add_minutes(i * minutes).unwrap();
                NewUnit {
                    unit: Unit {
                        office,
                        date: date(day),
                        lane,
                        start,
                    },
                    end: start.add_minutes(minutes).unwrap(),
                }
            })
            .collect()
    }

    fn wish(n: u64, offices: &[OfficeIndex], hours: &[(Weekday, u32)], needed: u32) -> WaitingWish {
        WaitingWish {
            id: wish_id(n),
            offices: offices.iter().copied().collect(),
            windows: WeeklyWindows::new(hours.iter().copied()).unwrap(),
            needed_minutes: needed,
            until: None,
        }
    }

    /// (wish number, first unit's date and start, unit count) per proposal.
    fn summary(decisions: &Decisions) -> Vec<(WishId, String, usize)> {
        decisions
            .proposals
            .iter()
            .map(|p| {
                let first = p.first();
                (
                    p.wish,
                    format!("{} {} {}", first.date, first.lane, first.start),
                    p.units.len(),
                )
            })
            .collect()
    }

    fn one(n: u64, day: &str, lane: u16, start: &str) -> Vec<(WishId, String, usize)> {
        vec![(wish_id(n), format!("{} {lane} {start}", date(day)), 1)]
    }

    fn register(matcher: &mut Matcher, wishes: impl IntoIterator<Item = WaitingWish>) {
        for wish in wishes {
            let decisions = matcher.register_wish(wish).unwrap();
            assert!(decisions.proposals.is_empty(), "{decisions:?}");
        }
    }

    const TUE_8: &[(Weekday, u32)] = &[(Weekday::Tue, 8)];

    #[test]
    fn a_published_unit_goes_to_the_earliest_wish_only() {
        let (mut matcher, a, _) = matcher();
        register(&mut matcher, (1..=3).map(|n| wish(n, &[a], TUE_8, 12)));
        let decisions = matcher.publish_units(&units(a, TUE, 1, "08:00", 1, 12)).unwrap();
        assert_eq!(summary(&decisions), one(1, TUE, 1, "08:00"));
        assert_eq!(decisions.proposals[0].end, time("08:12"));
        assert_eq!(
            matcher.wish_status(wish_id(1)),
            Some(WishStatus::Proposed(vec![unit(a, TUE, 1, "08:00")]))
        );
        assert_eq!(matcher.wish_status(wish_id(2)), Some(WishStatus::Waiting));
        assert_eq!(matcher.wish_status(wish_id(3)), Some(WishStatus::Waiting));
        assert_eq!(
            matcher.unit_status(&unit(a, TUE, 1, "08:00")),
            Some(UnitStatus::Proposed(wish_id(1)))
        );
        assert_eq!(matcher.quiescence_violation(), None);
    }

    #[test]
    fn a_declined_unit_goes_to_the_next_wish_and_never_back() {
        let (mut matcher, a, _) = matcher();
        register(&mut matcher, (1..=3).map(|n| wish(n, &[a], TUE_8, 12)));
        let _ = matcher.publish_units(&units(a, TUE, 1, "08:00", 1, 12)).unwrap();
        let decisions = matcher.proposal_declined(wish_id(1)).unwrap();
        assert_eq!(summary(&decisions), one(2, TUE, 1, "08:00"));
        assert_eq!(matcher.wish_status(wish_id(1)), Some(WishStatus::Waiting));
        // W1 keeps its place: the next unit is its, not W3's.
        let decisions = matcher.publish_units(&units(a, TUE, 1, "08:12", 1, 12)).unwrap();
        assert_eq!(summary(&decisions), one(1, TUE, 1, "08:12"));
        // W2 declines 08:00: W1 is busy, so W3 gets it.
        let decisions = matcher.proposal_declined(wish_id(2)).unwrap();
        assert_eq!(summary(&decisions), one(3, TUE, 1, "08:00"));
        // W1 declines 08:12: W2 declined only 08:00, so 08:12 is W2's.
        let decisions = matcher.proposal_declined(wish_id(1)).unwrap();
        assert_eq!(summary(&decisions), one(2, TUE, 1, "08:12"));
        // W3 lets 08:00 expire: W1 and W2 declined it before, W3 now too.
        let decisions = matcher.proposal_expired(wish_id(3)).unwrap();
        assert_eq!(decisions, Decisions::default());
        assert_eq!(matcher.unit_status(&unit(a, TUE, 1, "08:00")), Some(UnitStatus::Free));
        assert_eq!(matcher.quiescence_violation(), None);
        // A fresh wish may have it.
        let decisions = matcher.register_wish(wish(4, &[a], TUE_8, 12)).unwrap();
        assert_eq!(summary(&decisions), one(4, TUE, 1, "08:00"));
    }

    #[test]
    fn units_whose_start_has_passed_are_never_proposed() {
        let (mut matcher, a, b) = matcher();
        let _ = matcher.publish_units(&units(a, TUE, 1, "08:00", 3, 12)).unwrap();
        let _ = matcher.publish_units(&units(b, TUE, 1, "08:00", 1, 12)).unwrap();
        matcher.retire_until(a, date(TUE), time("08:12")).unwrap();
        assert_eq!(
            matcher.unit_status(&unit(a, TUE, 1, "08:00")),
            Some(UnitStatus::Retired)
        );
        assert_eq!(
            matcher.unit_status(&unit(a, TUE, 1, "08:12")),
            Some(UnitStatus::Retired)
        );
        assert_eq!(
            matcher.unit_status(&unit(b, TUE, 1, "08:00")),
            Some(UnitStatus::Free),
            "per office"
        );
        // Going back in time changes nothing.
        matcher.retire_until(a, date(TUE), time("07:00")).unwrap();
        let decisions = matcher.register_wish(wish(1, &[a], TUE_8, 12)).unwrap();
        assert_eq!(summary(&decisions), one(1, TUE, 1, "08:24"));
        // A proposed unit retires when it is let go, and is not passed on.
        register(&mut matcher, [wish(2, &[a], TUE_8, 12)]);
        matcher.retire_until(a, date(TUE), time("08:24")).unwrap();
        assert_eq!(
            matcher.unit_status(&unit(a, TUE, 1, "08:24")),
            Some(UnitStatus::Proposed(wish_id(1)))
        );
        assert_eq!(matcher.proposal_declined(wish_id(1)).unwrap(), Decisions::default());
        assert_eq!(
            matcher.unit_status(&unit(a, TUE, 1, "08:24")),
            Some(UnitStatus::Retired)
        );
        // Units published or released after their start are retired at once.
        let _ = matcher.publish_units(&units(a, TUE, 2, "08:00", 1, 12)).unwrap();
        assert_eq!(
            matcher.unit_status(&unit(a, TUE, 2, "08:00")),
            Some(UnitStatus::Retired)
        );
        let decisions = matcher.publish_units(&units(a, TUE, 2, "08:36", 1, 12)).unwrap();
        assert_eq!(summary(&decisions), one(1, TUE, 2, "08:36"));
        let decisions = matcher.hold_units(&[unit(b, TUE, 1, "08:00")]).unwrap();
        assert_eq!(decisions, Decisions::default());
        matcher.retire_until(b, date(WED), time("00:00")).unwrap();
        assert_eq!(
            matcher.release_units(&[unit(b, TUE, 1, "08:00")]).unwrap(),
            Decisions::default()
        );
        assert_eq!(
            matcher.unit_status(&unit(b, TUE, 1, "08:00")),
            Some(UnitStatus::Retired)
        );
        assert_eq!(matcher.quiescence_violation(), None);
    }

    #[test]
    fn an_expired_proposal_behaves_like_a_decline() {
        let (mut matcher, a, _) = matcher();
        register(&mut matcher, (1..=2).map(|n| wish(n, &[a], TUE_8, 12)));
        let _ = matcher.publish_units(&units(a, TUE, 1, "08:00", 1, 12)).unwrap();
        let decisions = matcher.proposal_expired(wish_id(1)).unwrap();
        assert_eq!(summary(&decisions), one(2, TUE, 1, "08:00"));
        let decisions = matcher.proposal_expired(wish_id(2)).unwrap();
        assert_eq!(decisions, Decisions::default(), "neither gets it back");
        let decisions = matcher.publish_units(&units(a, TUE, 2, "08:00", 1, 12)).unwrap();
        assert_eq!(summary(&decisions), one(1, TUE, 2, "08:00"), "W1 kept its place");
    }

    #[test]
    fn ending_a_wish_frees_its_units_to_the_next() {
        let (mut matcher, a, _) = matcher();
        register(&mut matcher, (1..=2).map(|n| wish(n, &[a], TUE_8, 24)));
        let decisions = matcher.publish_units(&units(a, TUE, 1, "08:00", 2, 12)).unwrap();
        assert_eq!(decisions.proposals[0].units.len(), 2);
        let decisions = matcher.wish_ended(wish_id(1)).unwrap();
        assert_eq!(summary(&decisions), vec![(wish_id(2), format!("{TUE} 1 08:00"), 2)]);
        assert_eq!(matcher.wish_status(wish_id(1)), Some(WishStatus::Over));
        assert_eq!(matcher.wish_ended(wish_id(1)), Err(MatchError::WishOver(wish_id(1))));
        // An idle wish ending frees nothing and is skipped from then on.
        register(&mut matcher, [wish(3, &[a], TUE_8, 12), wish(4, &[a], TUE_8, 12)]);
        assert_eq!(matcher.wish_ended(wish_id(3)).unwrap(), Decisions::default());
        let decisions = matcher.publish_units(&units(a, TUE, 2, "08:00", 1, 12)).unwrap();
        assert_eq!(summary(&decisions), one(4, TUE, 2, "08:00"));
        // Accepting turns the hold into a booking.
        matcher.proposal_accepted(wish_id(4)).unwrap();
        assert_eq!(matcher.unit_status(&unit(a, TUE, 2, "08:00")), Some(UnitStatus::Booked));
        assert_eq!(matcher.wish_status(wish_id(4)), Some(WishStatus::Over));
    }

    #[test]
    fn a_wish_needing_two_units_gets_two_consecutive_units_of_one_lane() {
        let (mut matcher, a, _) = matcher();
        register(&mut matcher, [wish(1, &[a], TUE_8, 24)]);
        // One unit on each lane, and two on lane 3 with a gap: no run of 24 minutes.
        let mut published = units(a, TUE, 1, "08:00", 1, 12);
        published.extend(units(a, TUE, 2, "08:12", 1, 12));
        published.extend(units(a, TUE, 3, "08:00", 1, 12));
        published.extend(units(a, TUE, 3, "08:24", 1, 12));
        assert_eq!(matcher.publish_units(&published).unwrap(), Decisions::default());
        // A shorter wish behind it takes what fits it.
        let decisions = matcher.register_wish(wish(2, &[a], TUE_8, 12)).unwrap();
        assert_eq!(summary(&decisions), one(2, TUE, 1, "08:00"));
        // Lane 2 gets 08:24: the run 08:12–08:36 contains it and starts in hour 8.
        let decisions = matcher.publish_units(&units(a, TUE, 2, "08:24", 1, 12)).unwrap();
        assert_eq!(summary(&decisions), vec![(wish_id(1), format!("{TUE} 2 08:12"), 2)]);
        assert_eq!(decisions.proposals[0].end, time("08:36"));
        assert_eq!(matcher.quiescence_violation(), None);
    }

    #[test]
    fn a_run_may_start_before_the_freed_unit_and_the_earliest_start_wins() {
        let (mut matcher, a, _) = matcher();
        let published = units(a, TUE, 1, "08:00", 4, 12);
        let _ = matcher.publish_units(&published).unwrap();
        let middle = [unit(a, TUE, 1, "08:12"), unit(a, TUE, 1, "08:24")];
        let _ = matcher.hold_units(&middle).unwrap();
        register(&mut matcher, [wish(1, &[a], TUE_8, 24)]);
        // 08:12 alone frees 08:00–08:24; the 08:24 unit still booked.
        let decisions = matcher.release_units(&middle[..1]).unwrap();
        assert_eq!(summary(&decisions), vec![(wish_id(1), format!("{TUE} 1 08:00"), 2)]);
        let decisions = matcher.proposal_declined(wish_id(1)).unwrap();
        assert_eq!(decisions, Decisions::default(), "it declined both units");
        // 08:24 frees 08:24–08:48; 08:12–08:36 contains a declined unit.
        let decisions = matcher.release_units(&middle[1..]).unwrap();
        assert_eq!(summary(&decisions), vec![(wish_id(1), format!("{TUE} 1 08:24"), 2)]);
    }

    #[test]
    fn freed_units_go_out_in_time_order_each_to_the_earliest_wish() {
        let (mut matcher, a, _) = matcher();
        register(
            &mut matcher,
            [
                wish(1, &[a], &[(Weekday::Tue, 9)], 12),
                wish(2, &[a], &[(Weekday::Tue, 8), (Weekday::Tue, 9)], 12),
            ],
        );
        let mut published = units(a, TUE, 1, "09:00", 1, 12);
        published.extend(units(a, TUE, 1, "08:00", 1, 12));
        let decisions = matcher.publish_units(&published).unwrap();
        assert_eq!(
            summary(&decisions),
            [one(2, TUE, 1, "08:00"), one(1, TUE, 1, "09:00")].concat()
        );
    }

    #[test]
    fn office_weekday_and_start_hour_must_match() {
        let (mut matcher, a, b) = matcher();
        register(&mut matcher, [wish(1, &[b], TUE_8, 12)]);
        let mut published = units(a, TUE, 1, "08:00", 1, 12);
        published.extend(units(b, WED, 1, "08:00", 1, 12));
        published.extend(units(b, TUE, 1, "07:48", 1, 12));
        published.extend(units(b, TUE, 2, "09:00", 1, 12));
        assert_eq!(matcher.publish_units(&published).unwrap(), Decisions::default());
        let decisions = matcher.publish_units(&units(b, TUE, 3, "08:48", 1, 12)).unwrap();
        assert_eq!(summary(&decisions), one(1, TUE, 3, "08:48"), "08:48 starts in hour 8");
    }

    #[test]
    fn the_until_date_is_respected() {
        let (mut matcher, a, _) = matcher();
        let early = WaitingWish {
            until: Some(date(TUE)),
            ..wish(1, &[a], TUE_8, 12)
        };
        register(&mut matcher, [early, wish(2, &[a], TUE_8, 12)]);
        let decisions = matcher.publish_units(&units(a, NEXT_TUE, 1, "08:00", 1, 12)).unwrap();
        assert_eq!(summary(&decisions), one(2, NEXT_TUE, 1, "08:00"));
        let decisions = matcher.publish_units(&units(a, TUE, 1, "08:00", 1, 12)).unwrap();
        assert_eq!(summary(&decisions), one(1, TUE, 1, "08:00"));
    }

    #[test]
    fn a_new_wish_gets_the_soonest_free_units() {
        let (mut matcher, a, b) = matcher();
        let mut published = units(a, NEXT_TUE, 1, "08:00", 1, 12);
        published.extend(units(b, TUE, 2, "08:36", 1, 12));
        published.extend(units(a, TUE, 3, "08:36", 1, 12));
        published.extend(units(b, TUE, 1, "08:36", 1, 12));
        published.extend(units(a, TUE, 1, "08:48", 1, 12));
        published.extend(units(a, TUE, 1, "09:00", 1, 12));
        assert_eq!(matcher.publish_units(&published).unwrap(), Decisions::default());
        // Soonest start first; at 08:36, office a before b; then the lowest lane.
        let hours = &[(Weekday::Tue, 8), (Weekday::Tue, 9)];
        let decisions = matcher.register_wish(wish(1, &[a, b], hours, 12)).unwrap();
        assert_eq!(summary(&decisions), one(1, TUE, 3, "08:36"));
        let decisions = matcher.register_wish(wish(2, &[b, a], hours, 12)).unwrap();
        assert_eq!(summary(&decisions), one(2, TUE, 1, "08:36"));
        assert_eq!(decisions.proposals[0].first().office, b);
        let decisions = matcher.register_wish(wish(3, &[a], hours, 12)).unwrap();
        assert_eq!(summary(&decisions), one(3, TUE, 1, "08:48"));
        let decisions = matcher.register_wish(wish(4, &[a], &[(Weekday::Tue, 8)], 12)).unwrap();
        assert_eq!(
            summary(&decisions),
            one(4, NEXT_TUE, 1, "08:00"),
            "09:00 is outside its window"
        );
        assert_eq!(matcher.free_units(), 2);
        assert_eq!(matcher.quiescence_violation(), None);
    }

    #[test]
    fn a_booking_on_a_proposed_unit_withdraws_the_proposal() {
        let (mut matcher, a, _) = matcher();
        register(&mut matcher, [wish(1, &[a], TUE_8, 24)]);
        let _ = matcher.publish_units(&units(a, TUE, 1, "08:00", 3, 12)).unwrap();
        let decisions = matcher.hold_units(&[unit(a, TUE, 1, "08:12")]).unwrap();
        assert_eq!(decisions.withdrawn, vec![wish_id(1)]);
        assert_eq!(matcher.unit_status(&unit(a, TUE, 1, "08:00")), Some(UnitStatus::Free));
        assert_eq!(decisions.proposals, vec![]);
        assert_eq!(matcher.wish_status(wish_id(1)), Some(WishStatus::Waiting));
        let decisions = matcher.release_units(&[unit(a, TUE, 1, "08:12")]).unwrap();
        assert_eq!(
            summary(&decisions),
            vec![(wish_id(1), format!("{TUE} 1 08:00"), 2)],
            "a withdrawn proposal is no decline"
        );
    }

    #[test]
    fn refused_calls_change_nothing() {
        let (mut matcher, a, _) = matcher();
        let published = units(a, TUE, 1, "08:00", 2, 12);
        let _ = matcher.publish_units(&published).unwrap();
        let free = unit(a, TUE, 1, "08:00");
        assert_eq!(matcher.publish_units(&published[..1]), Err(MatchError::Overlap(free)));
        let longer = NewUnit {
            unit: unit(a, TUE, 1, "07:50"),
            end: time("08:01"),
        };
        assert_eq!(matcher.publish_units(&[longer]), Err(MatchError::Overlap(longer.unit)));
        let empty = NewUnit {
            unit: unit(a, TUE, 2, "08:00"),
            end: time("08:00"),
        };
        assert_eq!(matcher.publish_units(&[empty]), Err(MatchError::EmptyUnit(empty.unit)));
        let ghost = unit(OfficeIndex(5), TUE, 1, "08:00");
        assert_eq!(matcher.release_units(&[free]), Err(MatchError::NotBooked(free)));
        assert_eq!(matcher.hold_units(&[ghost]), Err(MatchError::UnknownUnit(ghost)));
        assert_eq!(matcher.hold_units(&[free, free]), Err(MatchError::RepeatedUnit(free)));
        let _ = matcher.hold_units(&[free]).unwrap();
        assert_eq!(matcher.hold_units(&[free]), Err(MatchError::AlreadyBooked(free)));
        assert_eq!(
            matcher.proposal_declined(wish_id(1)),
            Err(MatchError::UnknownWish(wish_id(1)))
        );
        register(&mut matcher, [wish(1, &[a], &[(Weekday::Mon, 8)], 12)]);
        assert_eq!(
            matcher.register_wish(wish(1, &[a], TUE_8, 12)),
            Err(MatchError::DuplicateWish(wish_id(1)))
        );
        assert_eq!(
            matcher.register_wish(wish(2, &[OfficeIndex(9)], TUE_8, 12)),
            Err(MatchError::UnknownOffice(OfficeIndex(9)))
        );
        assert_eq!(
            matcher.register_wish(wish(2, &[], TUE_8, 12)),
            Err(MatchError::NoOffices)
        );
        assert_eq!(
            matcher.proposal_expired(wish_id(1)),
            Err(MatchError::NoOpenProposal(wish_id(1)))
        );
        assert_eq!(
            matcher.proposal_accepted(wish_id(1)),
            Err(MatchError::NoOpenProposal(wish_id(1)))
        );
        assert_eq!(matcher.unit_status(&free), Some(UnitStatus::Booked));
        assert_eq!(matcher.free_units(), 1);
        assert_eq!(matcher.idle_wishes(), 1);
    }

    #[test]
    fn offices_get_compact_indexes() {
        let mut matcher = Matcher::new();
        for n in 0..MAX_OFFICES {
            let index = matcher
                .register_office(OfficeId::parse(&format!("o-{n}")).unwrap())
                .unwrap();
            assert_eq!(usize::from(index.get()), n);
        }
        let again = matcher.register_office(OfficeId::parse("o-7").unwrap());
        assert_eq!(again, Ok(OfficeIndex(7)));
        assert_eq!(
            matcher.register_office(OfficeId::parse("one-too-many").unwrap()),
            Err(MatchError::TooManyOffices)
        );
        let set: OfficeSet = [OfficeIndex(63), OfficeIndex(0)].into_iter().collect();
        assert_eq!(set.iter().collect::<Vec<_>>(), [OfficeIndex(0), OfficeIndex(63)]);
        assert_eq!(set.len(), 2);
        let unit = unit(OfficeIndex(7), TUE, 2, "08:00");
        assert_eq!(matcher.unit_ref(&unit).unwrap().office.as_str(), "o-7");
    }

    #[test]
    fn day_numbers_know_the_weekday() {
        for (day, weekday) in [(TUE, Weekday::Tue), (WED, Weekday::Wed), ("0000-01-01", Weekday::Sat)] {
            assert_eq!(date(day).weekday(), weekday);
        }
        assert_eq!(day_number(date("0000-01-01")), 1);
        assert!(day_number(date("9999-12-31")) < 1 << 24, "fits the declined-unit key");
        assert_eq!(Matcher::WISH_RECORD_BYTES, 64);
    }

    #[test]
    fn busy_wishes_are_skipped_and_idle_again_wishes_keep_their_place() {
        let (mut matcher, a, _) = matcher();
        register(&mut matcher, (1..=50).map(|n| wish(n, &[a], TUE_8, 12)));
        // 8 lanes of 5 units: wishes 1–40 get one each, in order.
        let decisions = matcher.publish_units(&units(a, TUE, 1, "08:00", 5, 12)).unwrap();
        let winners: Vec<WishId> = decisions.proposals.iter().map(|p| p.wish).collect();
        assert_eq!(winners, (1..=5).map(wish_id).collect::<Vec<_>>());
        for lane in 2..=8 {
            let _ = matcher.publish_units(&units(a, TUE, lane, "08:00", 5, 12)).unwrap();
        }
        // Wish 7 declines: its unit goes to 41; wish 7 gets the next unit, before 42.
        let decisions = matcher.proposal_declined(wish_id(7)).unwrap();
        assert_eq!(decisions.proposals[0].wish, wish_id(41));
        let decisions = matcher.publish_units(&units(a, TUE, 9, "08:00", 2, 12)).unwrap();
        let winners: Vec<WishId> = decisions.proposals.iter().map(|p| p.wish).collect();
        assert_eq!(winners, [wish_id(7), wish_id(42)]);
        assert_eq!(matcher.idle_wishes(), 8);
    }

    // --- random operations -----------------------------------------------------------

    #[derive(Debug, Clone)]
    enum Op {
        Publish {
            office: u8,
            day: bool,
            lane: u16,
            slot: u32,
            long: bool,
        },
        Register {
            offices: u8,
            tue: u32,
            wed: u32,
            needed: usize,
            until: Option<bool>,
        },
        Hold(usize),
        Release(usize),
        Decline(usize),
        Expire(usize),
        Accept(usize),
        End(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..2, any::<bool>(), 1u16..3, 0u32..6, prop::bool::weighted(0.15))
                .prop_map(|(office, day, lane, slot, long)| Op::Publish { office, day, lane, slot, long }),
            3 => (1u8..4, 0u32..8, 0u32..8, 0usize..3, prop::option::of(any::<bool>()))
                .prop_map(|(offices, tue, wed, needed, until)| Op::Register { offices, tue, wed, needed, until }),
            2 => any::<usize>().prop_map(Op::Hold),
            2 => any::<usize>().prop_map(Op::Release),
            2 => any::<usize>().prop_map(Op::Decline),
            1 => any::<usize>().prop_map(Op::Expire),
            1 => any::<usize>().prop_map(Op::Accept),
            1 => any::<usize>().prop_map(Op::End),
        ]
    }

    /// An operation resolved against the state: what the engine is called with.
    #[derive(Debug, Clone)]
    enum Call {
        Publish(NewUnit),
        Register(WaitingWish),
        Hold(Unit),
        Release(Unit),
        Decline(WishId),
        Expire(WishId),
        Accept(WishId),
        End(WishId),
    }

    fn call(matcher: &mut Matcher, call: &Call) -> Result<Decisions, MatchError> {
        match call {
            Call::Publish(new) => matcher.publish_units(&[*new]),
            Call::Register(wish) => matcher.register_wish(wish.clone()),
            Call::Hold(unit) => matcher.hold_units(&[*unit]),
            Call::Release(unit) => matcher.release_units(&[*unit]),
            Call::Decline(wish) => matcher.proposal_declined(*wish),
            Call::Expire(wish) => matcher.proposal_expired(*wish),
            Call::Accept(wish) => matcher.proposal_accepted(*wish).map(|()| Decisions::default()),
            Call::End(wish) => matcher.wish_ended(*wish),
        }
    }

    /// What the decisions say, kept independently of the engine.
    #[derive(Default)]
    struct Shadow {
        units: BTreeMap<Unit, UnitStatus>,
        open: BTreeMap<WishId, Vec<Unit>>,
        declined: BTreeSet<(WishId, Unit)>,
        live: BTreeSet<WishId>,
        registered: u64,
    }

    impl Shadow {
        fn pick<T: Clone>(items: Vec<T>, i: usize) -> Option<T> {
            (!items.is_empty()).then(|| items[i % items.len()].clone())
        }

        fn units_where(&self, keep: impl Fn(UnitStatus) -> bool) -> Vec<Unit> {
            self.units.iter().filter(|(_, s)| keep(**s)).map(|(u, _)| *u).collect()
        }

        fn resolve(&mut self, op: &Op, offices: [OfficeIndex; 2]) -> Option<Call> {
            let days = [TUE, WED];
            Some(match *op {
                Op::Publish {
                    office,
                    day,
                    lane,
                    slot,
                    long,
                } => {
                    let start = time("08:00").add_minutes(slot * 30).unwrap();
                    Call::Publish(NewUnit {
                        unit: Unit {
                            office: offices[usize::from(office)],
                            date: date(days[usize::from(day)]),
                            lane,
                            start,
                        },
                        end: start.add_minutes(if long { 60 } else { 30 }).unwrap(),
                    })
                }
                Op::Register {
                    offices: mask,
                    tue,
                    wed,
                    needed,
                    until,
                } => {
                    self.registered += 1;
                    let tue = if tue == 0 && wed == 0 { 1 } else { tue };
                    let hours = (0..3)
                        .filter(|bit| tue & 1 << bit != 0)
                        .map(|bit| (Weekday::Tue, 8 + bit))
                        .chain(
                            (0..3)
                                .filter(|bit| wed & 1 << bit != 0)
                                .map(|bit| (Weekday::Wed, 8 + bit)),
                        );
                    Call::Register(WaitingWish {
                        id: wish_id(self.registered),
                        offices: offices
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| mask & 1 << i != 0)
                            .map(|(_, o)| *o)
                            .collect(),
                        windows: WeeklyWindows::new(hours).unwrap(),
                        needed_minutes: [20, 30, 50][needed],
                        until: until.map(|wed| date(days[usize::from(wed)])),
                    })
                }
                Op::Hold(i) => Call::Hold(Self::pick(self.units_where(|s| s != UnitStatus::Booked), i)?),
                Op::Release(i) => Call::Release(Self::pick(self.units_where(|s| s == UnitStatus::Booked), i)?),
                Op::Decline(i) => Call::Decline(Self::pick(self.open.keys().copied().collect(), i)?),
                Op::Expire(i) => Call::Expire(Self::pick(self.open.keys().copied().collect(), i)?),
                Op::Accept(i) => Call::Accept(Self::pick(self.open.keys().copied().collect(), i)?),
                Op::End(i) => Call::End(Self::pick(self.live.iter().copied().collect(), i)?),
            })
        }

        fn free(&mut self, units: &[Unit]) {
            for unit in units {
                self.units.insert(*unit, UnitStatus::Free);
            }
        }

        /// Follows a successful call and checks its decisions.
        fn apply(&mut self, call: &Call, decisions: &Decisions) -> Result<(), TestCaseError> {
            let mut withdrawn = BTreeSet::new();
            match call {
                Call::Publish(new) => self.free(&[new.unit]),
                Call::Register(wish) => {
                    self.live.insert(wish.id);
                }
                Call::Hold(unit) => {
                    if let Some(&UnitStatus::Proposed(wish)) = self.units.get(unit) {
                        withdrawn.insert(wish);
                        let units = self.open.remove(&wish).unwrap();
                        self.free(&units);
                    }
                    self.units.insert(*unit, UnitStatus::Booked);
                }
                Call::Release(unit) => self.free(&[*unit]),
                Call::Decline(wish) | Call::Expire(wish) => {
                    let units = self.open.remove(wish).unwrap();
                    self.declined.extend(units.iter().map(|unit| (*wish, *unit)));
                    self.free(&units);
                }
                Call::Accept(wish) => {
                    for unit in self.open.remove(wish).unwrap() {
                        self.units.insert(unit, UnitStatus::Booked);
                    }
                    self.live.remove(wish);
                }
                Call::End(wish) => {
                    if let Some(units) = self.open.remove(wish) {
                        self.free(&units);
                    }
                    self.live.remove(wish);
                }
            }
            prop_assert_eq!(
                &decisions.withdrawn.iter().copied().collect::<BTreeSet<_>>(),
                &withdrawn
            );
            for proposal in &decisions.proposals {
                let wish = proposal.wish;
                prop_assert!(self.live.contains(&wish), "proposal to a wish that is over");
                prop_assert!(!self.open.contains_key(&wish), "a second open proposal for {}", wish);
                let first = proposal.first();
                for (i, unit) in proposal.units.iter().enumerate() {
                    prop_assert_eq!(
                        self.units.get(unit),
                        Some(&UnitStatus::Free),
                        "unit {} proposed while not free",
                        unit
                    );
                    prop_assert!(
                        !self.declined.contains(&(wish, *unit)),
                        "declined unit {} offered again",
                        unit
                    );
                    prop_assert_eq!(
                        (unit.office, unit.date, unit.lane),
                        (first.office, first.date, first.lane)
                    );
                    if i > 0 {
                        prop_assert!(proposal.units[i - 1].start < unit.start);
                    }
                    self.units.insert(*unit, UnitStatus::Proposed(wish));
                }
                self.open.insert(wish, proposal.units.clone());
            }
            Ok(())
        }

        fn agrees_with(&self, matcher: &Matcher) -> Result<(), TestCaseError> {
            for (unit, status) in &self.units {
                prop_assert_eq!(matcher.unit_status(unit), Some(*status), "unit {}", unit);
            }
            for (wish, units) in &self.open {
                prop_assert_eq!(matcher.wish_status(*wish), Some(WishStatus::Proposed(units.clone())));
            }
            let idle = self.live.iter().filter(|wish| !self.open.contains_key(wish)).count();
            prop_assert_eq!(matcher.idle_wishes(), idle);
            Ok(())
        }
    }

    fn fresh() -> (Matcher, [OfficeIndex; 2]) {
        let (matcher, a, b) = matcher();
        (matcher, [a, b])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn random_operations_keep_the_invariants(ops in prop::collection::vec(op(), 1..80)) {
            let (mut matcher, offices) = fresh();
            let mut reference = fresh().0;
            reference.naive = true;
            let mut shadow = Shadow::default();
            let mut calls = Vec::new();
            let mut results = Vec::new();
            for op in &ops {
                let Some(next) = shadow.resolve(op, offices) else { continue };
                let result = call(&mut matcher, &next);
                // The queues decide exactly what a scan over every wish decides.
                prop_assert_eq!(&call(&mut reference, &next), &result, "{:?}", next);
                if let Ok(decisions) = &result {
                    shadow.apply(&next, decisions)?;
                }
                shadow.agrees_with(&matcher)?;
                prop_assert_eq!(matcher.quiescence_violation(), None, "after {:?}", next);
                calls.push(next);
                results.push(result);
            }
            // Replay: the same calls on a fresh engine decide the same.
            let mut replay = fresh().0;
            let replayed: Vec<_> = calls.iter().map(|next| call(&mut replay, next)).collect();
            prop_assert_eq!(replayed, results);
        }
    }
}
