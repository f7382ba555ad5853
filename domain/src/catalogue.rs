//! The catalogue (offices, services) and the capacity staff publish for an office day.

use std::collections::BTreeSet;
use std::convert::Infallible;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::decider::Decider;
use crate::event::{DomainEvent, StreamName};
use crate::holidays::HolidayRegion;
use crate::ids::{OfficeId, ServiceId};
use crate::opening_hours::{ClosedDays, Intervals, OpeningHours, OpeningInterval, weekday_name};
use crate::text::{TextError, parse_text};
use crate::time::{LocalDate, LocalTime, LocalTimeError, OfficeTimeZone};

pub const MAX_SERVICE_MINUTES: u32 = 480;
pub const MAX_UNIT_MINUTES: u32 = 240;
pub const MAX_LANES: u16 = 64;

fn parse_catalogue_name(input: &str) -> Result<String, TextError> {
    parse_text(input, 200, false, false)
}

fn parse_office_address(input: &str) -> Result<String, TextError> {
    // Postal addresses are often written on several lines.
    parse_text(input, 500, true, true)
}

/// The longest service description, in characters.
pub const MAX_SERVICE_DESCRIPTION_CHARS: usize = 2000;

fn parse_service_description(input: &str) -> Result<String, TextError> {
    // Lists of documents are written on several lines; no description is `None`, not "".
    parse_text(input, MAX_SERVICE_DESCRIPTION_CHARS, false, true)
}

validated_string! {
    /// The name of an office or service as citizens see it: 1–200 characters after
    /// trimming, no control characters.
    pub struct CatalogueName, error = TextError, validate = parse_catalogue_name;
}

validated_string! {
    /// An office's postal address: up to 500 characters, may be empty, line breaks allowed.
    pub struct OfficeAddress, error = TextError, validate = parse_office_address;
}

validated_string! {
    /// What a citizen brings for a service ("Was Sie mitbringen müssen"), as
    /// plain text: 1–2000 characters after trimming, line breaks allowed (a
    /// blank line separates paragraphs), no other control characters.
    pub struct ServiceDescription, error = TextError, validate = parse_service_description;
}

/// An office's catalogue entry.
///
/// The calendar fields came later: they default when absent and are left out
/// when unset, so events stored before them decode, and an office without them
/// is written exactly as before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeDetails {
    pub office: OfficeId,
    pub name: CatalogueName,
    pub address: OfficeAddress,
    pub timezone: OfficeTimeZone,
    /// `None`: no fixed hours, capacity may be published at any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening_hours: Option<OpeningHours>,
    /// Whose public holidays close the office; `None`: none do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holidays: Option<HolidayRegion>,
    #[serde(default, skip_serializing_if = "ClosedDays::is_empty")]
    pub closed_days: ClosedDays,
}

/// Why an office is closed when capacity was to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClosedReason {
    PublicHoliday {
        region: HolidayRegion,
        name: &'static str,
    },
    /// One of the office's own closed days.
    ClosedDay,
    /// The opening hours name no interval on this weekday.
    ClosedWeekday,
    /// The unit `[start, end)` is not inside one interval of the day's hours.
    OutsideHours {
        start: LocalTime,
        end: LocalTime,
        open: Vec<OpeningInterval>,
    },
}

impl OfficeDetails {
    /// Why the office is closed all day on `date`, if it is.
    pub fn closed_on(&self, date: LocalDate) -> Option<ClosedReason> {
        if let Some(region) = self.holidays
            && let Some(name) = region.holiday(date.as_naive())
        {
            return Some(ClosedReason::PublicHoliday { region, name });
        }
        if self.closed_days.contains(date) {
            return Some(ClosedReason::ClosedDay);
        }
        match &self.opening_hours {
            Some(hours) if hours.day(date.weekday()).is_empty() => Some(ClosedReason::ClosedWeekday),
            _ => None,
        }
    }

    /// Why `[start, end)` on `date` is outside the office's weekly hours, if it
    /// is; whether the day itself is closed is [`Self::closed_on`]'s question.
    pub fn outside_hours(&self, date: LocalDate, start: LocalTime, end: LocalTime) -> Option<ClosedReason> {
        let hours = self.opening_hours.as_ref()?;
        let weekday = date.weekday();
        (!hours.covers(weekday, start, end)).then(|| ClosedReason::OutsideHours {
            start,
            end,
            open: hours.day(weekday).to_vec(),
        })
    }
}

fn closed_message(date: &LocalDate, reason: &ClosedReason) -> String {
    let weekday = weekday_name(date.weekday());
    match reason {
        ClosedReason::PublicHoliday { region, name } => format!("{date} is a public holiday in {region} ({name})"),
        ClosedReason::ClosedDay => format!("{date} is one of the office's closed days"),
        ClosedReason::ClosedWeekday => format!("the office is closed on {weekday}s ({date})"),
        ClosedReason::OutsideHours { start, end, open } => format!(
            "{start}–{end} on {weekday} {date} is outside the opening hours {}",
            Intervals(open)
        ),
    }
}

/// A service's catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDetails {
    pub service: ServiceId,
    pub name: CatalogueName,
    pub duration_minutes: u32,
    /// A kiosk may issue walk-in tickets for it (a lead's choice: short
    /// errands only, as Düsseldorf's "Terminmarke").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub walk_in: bool,
    /// What to bring. Came later: events before it (and services without one)
    /// lack the field, which reads as `None`, so no new schema version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<ServiceDescription>,
}

/// One capacity unit: a lane's slot on an office day. Lanes are numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnitRef {
    pub office: OfficeId,
    pub date: LocalDate,
    pub lane: u16,
    pub start: LocalTime,
}

/// Where a unit sits on its lane's timeline within one office day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitSpan {
    pub lane: u16,
    pub start: LocalTime,
    pub end: LocalTime,
}

impl UnitSpan {
    pub fn minutes(&self) -> u32 {
        self.end.minutes_since_midnight() - self.start.minutes_since_midnight()
    }
}

/// A closure took an office day's units out of service (API.md "closures"):
/// every unit in service overlapping `[from, to)` (the whole day without
/// them). Indexed under the office day and every unit, so a booking racing
/// the closure for any of them conflicts with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityWithdrawn {
    pub office: OfficeId,
    pub date: LocalDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<LocalTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<LocalTime>,
    /// Why, as the lead wrote it; the cancellation mails quote it.
    pub reason: String,
    pub units: Vec<UnitRef>,
}

/// Units of `unit_minutes` from `from` on lanes `first_lane..first_lane + lanes`.
/// Only whole units are published; a remainder before `to` is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityPublished {
    pub office: OfficeId,
    pub date: LocalDate,
    pub from: LocalTime,
    /// As requested; the last unit may end earlier.
    pub to: LocalTime,
    pub unit_minutes: u32,
    pub lanes: u16,
    pub first_lane: u16,
    /// Total over all lanes: `lanes × ⌊(to − from) / unit_minutes⌋`.
    pub units: u32,
}

fn units_per_lane(from: LocalTime, to: LocalTime, unit_minutes: u32) -> u32 {
    let minutes = to
        .minutes_since_midnight()
        .saturating_sub(from.minutes_since_midnight());
    minutes.checked_div(unit_minutes).unwrap_or(0)
}

impl CapacityPublished {
    pub fn units_per_lane(&self) -> u32 {
        units_per_lane(self.from, self.to, self.unit_minutes)
    }

    /// The end of the unit starting at `start`.
    pub fn unit_end(&self, start: LocalTime) -> LocalTime {
        start
            .add_minutes(self.unit_minutes)
            .expect("published units end no later than `to`")
    }

    /// Every published unit with its end, lane by lane, in time order.
    pub fn spans(&self) -> impl Iterator<Item = UnitSpan> + '_ {
        let per_lane = self.units_per_lane();
        let lanes = self.first_lane..self.first_lane.saturating_add(self.lanes);
        lanes.flat_map(move |lane| {
            (0..per_lane).map(move |index| {
                let start = self
                    .from
                    .add_minutes(index * self.unit_minutes)
                    .expect("published units start before `to`");
                UnitSpan {
                    lane,
                    start,
                    end: self.unit_end(start),
                }
            })
        })
    }

    pub fn units(&self) -> impl Iterator<Item = UnitRef> + '_ {
        self.spans().map(|span| UnitRef {
            office: self.office.clone(),
            date: self.date,
            lane: span.lane,
            start: span.start,
        })
    }
}

/// Everything that happens to the catalogue and to published capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CatalogueEvent {
    #[serde(rename = "office.registered")]
    OfficeRegistered(OfficeDetails),
    #[serde(rename = "office.details_changed")]
    OfficeDetailsChanged(OfficeDetails),
    #[serde(rename = "service.registered")]
    ServiceRegistered(ServiceDetails),
    #[serde(rename = "service.details_changed")]
    ServiceDetailsChanged(ServiceDetails),
    #[serde(rename = "capacity.published")]
    CapacityPublished(CapacityPublished),
    #[serde(rename = "capacity.withdrawn")]
    CapacityWithdrawn(CapacityWithdrawn),
}

impl DomainEvent for CatalogueEvent {
    const EVENT_TYPES: &'static [&'static str] = &[
        "office.registered",
        "office.details_changed",
        "service.registered",
        "service.details_changed",
        "capacity.published",
        "capacity.withdrawn",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::OfficeRegistered(_) => "office.registered",
            Self::OfficeDetailsChanged(_) => "office.details_changed",
            Self::ServiceRegistered(_) => "service.registered",
            Self::ServiceDetailsChanged(_) => "service.details_changed",
            Self::CapacityPublished(_) => "capacity.published",
            Self::CapacityWithdrawn(_) => "capacity.withdrawn",
        }
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn streams(&self) -> Vec<StreamName> {
        match self {
            Self::OfficeRegistered(office) | Self::OfficeDetailsChanged(office) => {
                vec![StreamName::office(&office.office)]
            }
            Self::ServiceRegistered(service) | Self::ServiceDetailsChanged(service) => {
                vec![StreamName::service(&service.service)]
            }
            Self::CapacityPublished(published) => {
                vec![StreamName::office_day(&published.office, published.date.into())]
            }
            Self::CapacityWithdrawn(withdrawn) => {
                std::iter::once(StreamName::office_day(&withdrawn.office, withdrawn.date.into()))
                    .chain(withdrawn.units.iter().map(StreamName::unit))
                    .collect()
            }
        }
    }
}

impl CatalogueEvent {
    /// How many capacity units this event published (0 for catalogue edits).
    pub fn units_published(&self) -> u32 {
        match self {
            Self::CapacityPublished(published) => published.units,
            _ => 0,
        }
    }
}

/// What a registration did, for answering 201 Created or 200 OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationOutcome {
    Created,
    Updated,
    Unchanged,
}

impl RegistrationOutcome {
    pub fn of(events: &[CatalogueEvent]) -> Self {
        use CatalogueEvent as E;
        match events.first() {
            Some(E::OfficeRegistered(_) | E::ServiceRegistered(_)) => Self::Created,
            Some(_) => Self::Updated,
            None => Self::Unchanged,
        }
    }
}

/// Create or update an office (idempotent PUT): every detail is replaced, so
/// calendar fields left out are cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOffice {
    pub office: OfficeId,
    pub name: CatalogueName,
    pub address: OfficeAddress,
    pub timezone: OfficeTimeZone,
    pub opening_hours: Option<OpeningHours>,
    pub holidays: Option<HolidayRegion>,
    pub closed_days: ClosedDays,
}

impl RegisterOffice {
    /// The details this registration records.
    pub fn details(&self) -> OfficeDetails {
        OfficeDetails {
            office: self.office.clone(),
            name: self.name.clone(),
            address: self.address.clone(),
            timezone: self.timezone,
            opening_hours: self.opening_hours.clone(),
            holidays: self.holidays,
            closed_days: self.closed_days.clone(),
        }
    }
}

/// Decides on one office's stream `office:{id}`.
pub struct OfficeDecider;

impl Decider for OfficeDecider {
    type Command = RegisterOffice;
    type Event = CatalogueEvent;
    /// The current details, `None` before registration.
    type State = Option<OfficeDetails>;
    /// Validated fields leave nothing to refuse.
    type Error = Infallible;

    fn decide(command: &RegisterOffice, state: &Self::State) -> Result<Vec<CatalogueEvent>, Infallible> {
        let details = command.details();
        Ok(match state {
            None => vec![CatalogueEvent::OfficeRegistered(details)],
            Some(current) if *current == details => vec![],
            Some(_) => vec![CatalogueEvent::OfficeDetailsChanged(details)],
        })
    }

    fn evolve(state: Self::State, event: &CatalogueEvent) -> Self::State {
        match event {
            CatalogueEvent::OfficeRegistered(details) | CatalogueEvent::OfficeDetailsChanged(details) => {
                Some(details.clone())
            }
            _ => state,
        }
    }
}

/// Create or update a service (idempotent PUT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterService {
    pub service: ServiceId,
    pub name: CatalogueName,
    pub duration_minutes: u32,
    pub walk_in: bool,
    pub description: Option<ServiceDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServiceError {
    #[error("a service takes 1 to {MAX_SERVICE_MINUTES} minutes, not {0}")]
    DurationOutOfRange(u32),
}

/// Decides on one service's stream `service:{id}`.
pub struct ServiceDecider;

impl Decider for ServiceDecider {
    type Command = RegisterService;
    type Event = CatalogueEvent;
    type State = Option<ServiceDetails>;
    type Error = ServiceError;

    fn decide(command: &RegisterService, state: &Self::State) -> Result<Vec<CatalogueEvent>, ServiceError> {
        if !(1..=MAX_SERVICE_MINUTES).contains(&command.duration_minutes) {
            return Err(ServiceError::DurationOutOfRange(command.duration_minutes));
        }
        let details = ServiceDetails {
            service: command.service.clone(),
            name: command.name.clone(),
            duration_minutes: command.duration_minutes,
            walk_in: command.walk_in,
            description: command.description.clone(),
        };
        Ok(match state {
            None => vec![CatalogueEvent::ServiceRegistered(details)],
            Some(current) if *current == details => vec![],
            Some(_) => vec![CatalogueEvent::ServiceDetailsChanged(details)],
        })
    }

    fn evolve(state: Self::State, event: &CatalogueEvent) -> Self::State {
        match event {
            CatalogueEvent::ServiceRegistered(details) | CatalogueEvent::ServiceDetailsChanged(details) => {
                Some(details.clone())
            }
            _ => state,
        }
    }
}

/// One publication's units: `per_lane` consecutive units of `unit_minutes`
/// from `from`, on each of lanes `first_lane..first_lane + lanes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CapacityBlock {
    first_lane: u16,
    lanes: u16,
    from_minute: u32,
    unit_minutes: u32,
    per_lane: u32,
}

impl CapacityBlock {
    fn of(published: &CapacityPublished) -> Self {
        CapacityBlock {
            first_lane: published.first_lane,
            lanes: published.lanes,
            from_minute: published.from.minutes_since_midnight(),
            unit_minutes: published.unit_minutes,
            per_lane: published.units_per_lane(),
        }
    }

    fn has_lane(&self, lane: u16) -> bool {
        (self.first_lane..self.first_lane.saturating_add(self.lanes)).contains(&lane)
    }

    /// The minute the block's last unit ends.
    fn end_minute(&self) -> u32 {
        self.from_minute + self.per_lane * self.unit_minutes
    }

    fn span(&self, lane: u16, index: u32) -> Option<UnitSpan> {
        let start = self.from_minute + index * self.unit_minutes;
        Some(UnitSpan {
            lane,
            start: LocalTime::from_minutes_since_midnight(start)?,
            end: LocalTime::from_minutes_since_midnight(start + self.unit_minutes)?,
        })
    }

    fn unit(&self, lane: u16, start: LocalTime) -> Option<UnitSpan> {
        let offset = start.minutes_since_midnight().checked_sub(self.from_minute)?;
        let starts_a_unit = self.unit_minutes > 0 && offset % self.unit_minutes == 0;
        if !self.has_lane(lane) || !starts_a_unit || offset / self.unit_minutes >= self.per_lane {
            return None;
        }
        self.span(lane, offset / self.unit_minutes)
    }

    fn spans(&self) -> impl Iterator<Item = UnitSpan> + '_ {
        (self.first_lane..self.first_lane.saturating_add(self.lanes))
            .flat_map(move |lane| (0..self.per_lane).filter_map(move |index| self.span(lane, index)))
    }
}

/// The units published so far for one office day, kept as the publications
/// themselves: recording one is a push, not a unit-by-unit insert, so folding
/// an office day for every booking decision stays cheap however many units
/// it has. Units of one lane never overlap (the capacity decision refuses it).
#[derive(Debug, Clone, Default)]
pub struct OfficeDayCapacity {
    /// In publication order; where two published the same unit, the later counts.
    blocks: Vec<CapacityBlock>,
    /// (lane, start) of units a closure withdrew: never offered again, and
    /// their place is not published anew (overlaps still see them).
    withdrawn: BTreeSet<(u16, LocalTime)>,
}

/// Two office days are equal when they have the same units, however published.
impl PartialEq for OfficeDayCapacity {
    fn eq(&self, other: &Self) -> bool {
        self.units().eq(other.units())
    }
}

impl Eq for OfficeDayCapacity {}

impl OfficeDayCapacity {
    pub fn record(&mut self, published: &CapacityPublished) {
        self.blocks.push(CapacityBlock::of(published));
    }

    /// A closure took these units out of service.
    pub fn withdraw(&mut self, withdrawn: &CapacityWithdrawn) {
        self.withdrawn
            .extend(withdrawn.units.iter().map(|unit| (unit.lane, unit.start)));
    }

    fn is_withdrawn(&self, lane: u16, start: LocalTime) -> bool {
        !self.withdrawn.is_empty() && self.withdrawn.contains(&(lane, start))
    }

    /// All units in service, by lane then start.
    pub fn units(&self) -> impl Iterator<Item = UnitSpan> + '_ {
        let mut units: Vec<UnitSpan> = self.blocks.iter().rev().flat_map(CapacityBlock::spans).collect();
        // Stable: of two units with one (lane, start), the later publication stays first.
        units.sort_by_key(|unit| (unit.lane, unit.start));
        units.dedup_by_key(|unit| (unit.lane, unit.start));
        units.retain(|unit| !self.is_withdrawn(unit.lane, unit.start));
        units.into_iter()
    }

    /// The units in service that overlap `[from, to)`, by lane then start.
    pub fn units_overlapping(&self, from: LocalTime, to: LocalTime) -> Vec<UnitSpan> {
        self.units().filter(|unit| unit.start < to && unit.end > from).collect()
    }

    pub fn unit_count(&self) -> usize {
        self.units().count()
    }

    /// Every time at which some lane has a unit in service starting, ascending.
    pub fn starts(&self) -> BTreeSet<LocalTime> {
        let mut starts: BTreeSet<LocalTime> = self
            .blocks
            .iter()
            .flat_map(|block| {
                (0..block.per_lane).filter_map(|index| {
                    LocalTime::from_minutes_since_midnight(block.from_minute + index * block.unit_minutes)
                })
            })
            .collect();
        if !self.withdrawn.is_empty() {
            starts.retain(|start| self.lanes_starting_at(*start).next().is_some());
        }
        starts
    }

    /// Whether `[start, end)` on `lane` intersects a published unit.
    pub fn overlaps(&self, lane: u16, start: LocalTime, end: LocalTime) -> bool {
        let (start, end) = (start.minutes_since_midnight(), end.minutes_since_midnight());
        // A block's units on a lane are contiguous.
        self.blocks
            .iter()
            .any(|block| block.has_lane(lane) && block.from_minute.max(start) < block.end_minute().min(end))
    }

    /// The unit in service of `lane` starting exactly at `start`.
    pub fn unit(&self, lane: u16, start: LocalTime) -> Option<UnitSpan> {
        if self.is_withdrawn(lane, start) {
            return None;
        }
        self.blocks.iter().rev().find_map(|block| block.unit(lane, start))
    }

    /// The lanes with a unit in service starting exactly at `start`, ascending.
    pub fn lanes_starting_at(&self, start: LocalTime) -> impl Iterator<Item = u16> + '_ {
        let mut lanes: Vec<u16> = self
            .blocks
            .iter()
            .filter(|block| block.unit(block.first_lane, start).is_some())
            .flat_map(|block| block.first_lane..block.first_lane.saturating_add(block.lanes))
            .collect();
        lanes.sort_unstable();
        lanes.dedup();
        lanes.retain(|lane| !self.is_withdrawn(*lane, start));
        lanes.into_iter()
    }

    /// The shortest run of consecutive units of `lane` from `start` (each starting
    /// where the previous ended) that lasts at least `minutes`; `None` if the lane
    /// has no such run. At least one unit, even for 0 minutes.
    pub fn chain(&self, lane: u16, start: LocalTime, minutes: u32) -> Option<Vec<UnitSpan>> {
        let mut chain: Vec<UnitSpan> = Vec::new();
        let mut covered = 0;
        while covered < minutes.max(1) {
            let unit = self.unit(lane, chain.last().map_or(start, |last| last.end))?;
            covered += unit.minutes();
            chain.push(unit);
        }
        Some(chain)
    }
}

/// Publish units for one office and date on lanes 1..=`lanes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishCapacity {
    pub office: OfficeId,
    pub date: LocalDate,
    pub from: LocalTime,
    pub to: LocalTime,
    pub unit_minutes: u32,
    pub lanes: u16,
    /// The decision time, to refuse dates already past in the office's zone.
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CapacityError {
    #[error("office {0} is not registered")]
    UnknownOffice(OfficeId),
    #[error("a unit lasts 1 to {MAX_UNIT_MINUTES} minutes, not {0}")]
    UnitMinutesOutOfRange(u32),
    #[error("capacity is published on 1 to {MAX_LANES} lanes, not {0}")]
    LanesOutOfRange(u16),
    #[error("`to` ({to}) must be after `from` ({from})")]
    EmptyRange { from: LocalTime, to: LocalTime },
    #[error("{from}–{to} is shorter than one unit of {unit_minutes} minutes")]
    RangeShorterThanUnit {
        from: LocalTime,
        to: LocalTime,
        unit_minutes: u32,
    },
    #[error("{date} is already past in the office's time zone (today is {today})")]
    DateInPast { date: LocalDate, today: chrono::NaiveDate },
    #[error("a unit boundary is not a unique local time: {0}")]
    DstTransition(#[from] LocalTimeError),
    #[error("the new unit at {start} on lane {lane} overlaps a published unit")]
    Overlap { lane: u16, start: LocalTime },
    #[error("{}", closed_message(.date, .reason))]
    OfficeClosed { date: LocalDate, reason: ClosedReason },
}

/// What a capacity decision reads: the office's stream and the office day's stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapacityState {
    pub office: Option<OfficeDetails>,
    pub day: OfficeDayCapacity,
}

/// Decides across `office:{id}` (it exists, its zone) and `office-day:{id}:{date}`
/// (units already there): a consistency boundary of exactly those two streams.
pub struct CapacityDecider;

impl Decider for CapacityDecider {
    type Command = PublishCapacity;
    type Event = CatalogueEvent;
    type State = CapacityState;
    type Error = CapacityError;

    fn decide(command: &PublishCapacity, state: &CapacityState) -> Result<Vec<CatalogueEvent>, CapacityError> {
        let PublishCapacity {
            office,
            date,
            from,
            to,
            unit_minutes,
            lanes,
            now,
        } = command.clone();
        if !(1..=MAX_UNIT_MINUTES).contains(&unit_minutes) {
            return Err(CapacityError::UnitMinutesOutOfRange(unit_minutes));
        }
        if !(1..=MAX_LANES).contains(&lanes) {
            return Err(CapacityError::LanesOutOfRange(lanes));
        }
        if to <= from {
            return Err(CapacityError::EmptyRange { from, to });
        }
        let per_lane = units_per_lane(from, to, unit_minutes);
        if per_lane == 0 {
            return Err(CapacityError::RangeShorterThanUnit { from, to, unit_minutes });
        }
        let details = match &state.office {
            Some(details) if details.office == office => details,
            _ => return Err(CapacityError::UnknownOffice(office)),
        };
        let zone = details.timezone;
        let today = zone.today(now);
        if date.as_naive() < today {
            return Err(CapacityError::DateInPast { date, today });
        }
        if let Some(reason) = details.closed_on(date) {
            return Err(CapacityError::OfficeClosed { date, reason });
        }

        let published = CapacityPublished {
            office,
            date,
            from,
            to,
            unit_minutes,
            lanes,
            first_lane: 1,
            units: u32::from(lanes) * per_lane,
        };
        // Lanes share the units' times, so one lane's units stand for all.
        if let Some(reason) = published
            .spans()
            .take_while(|unit| unit.lane == published.first_lane)
            .find_map(|unit| details.outside_hours(date, unit.start, unit.end))
        {
            return Err(CapacityError::OfficeClosed { date, reason });
        }
        // Every unit boundary must name one instant; lanes share the boundaries.
        for index in 0..=per_lane {
            let boundary = from
                .add_minutes(index * unit_minutes)
                .expect("the last unit ends no later than `to`");
            zone.instant(date, boundary)?;
        }
        if let Some(clash) = published
            .spans()
            .find(|unit| state.day.overlaps(unit.lane, unit.start, unit.end))
        {
            return Err(CapacityError::Overlap {
                lane: clash.lane,
                start: clash.start,
            });
        }
        Ok(vec![CatalogueEvent::CapacityPublished(published)])
    }

    fn evolve(mut state: CapacityState, event: &CatalogueEvent) -> CapacityState {
        match event {
            CatalogueEvent::CapacityPublished(published) => state.day.record(published),
            CatalogueEvent::CapacityWithdrawn(withdrawn) => state.day.withdraw(withdrawn),
            other => state.office = OfficeDecider::evolve(state.office, other),
        }
        state
    }
}

/// What services taking `minutes` each take together: the one rule for a
/// booking's length (the booking decision, availability, the pages).
/// Saturates rather than wraps on nonsense input.
pub fn summed_minutes(minutes: impl IntoIterator<Item = u32>) -> u32 {
    minutes.into_iter().fold(0, u32::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{given, given_no_events};
    use proptest::prelude::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn office_id() -> OfficeId {
        "bss-hamborn".parse().unwrap()
    }

    fn time(input: &str) -> LocalTime {
        input.parse().unwrap()
    }

    fn date(input: &str) -> LocalDate {
        input.parse().unwrap()
    }

    fn register_office(zone: &str) -> RegisterOffice {
        RegisterOffice {
            office: office_id(),
            name: "Bürger-Service-Station Hamborn".parse().unwrap(),
            address: "Duisburger Str. 213\n47166 Duisburg".parse().unwrap(),
            timezone: zone.parse().unwrap(),
            opening_hours: None,
            holidays: None,
            closed_days: ClosedDays::default(),
        }
    }

    /// The details a registration records.
    fn details_of(command: RegisterOffice) -> OfficeDetails {
        let RegisterOffice {
            office,
            name,
            address,
            timezone,
            opening_hours,
            holidays,
            closed_days,
        } = command;
        OfficeDetails {
            office,
            name,
            address,
            timezone,
            opening_hours,
            holidays,
            closed_days,
        }
    }

    fn office_registered(zone: &str) -> CatalogueEvent {
        CatalogueEvent::OfficeRegistered(details_of(register_office(zone)))
    }

    fn berlin_office() -> CatalogueEvent {
        office_registered("Europe/Berlin")
    }

    /// 2026-11-20 10:00 in Berlin, before every date used below except the "past" ones.
    fn now() -> DateTime<Utc> {
        "2026-11-20T09:00:00Z".parse().unwrap()
    }

    fn publish(day: &str, from: &str, to: &str, unit_minutes: u32, lanes: u16) -> PublishCapacity {
        PublishCapacity {
            office: office_id(),
            date: date(day),
            from: time(from),
            to: time(to),
            unit_minutes,
            lanes,
            now: now(),
        }
    }

    fn published(day: &str, from: &str, to: &str, unit_minutes: u32, lanes: u16, units: u32) -> CatalogueEvent {
        CatalogueEvent::CapacityPublished(CapacityPublished {
            office: office_id(),
            date: date(day),
            from: time(from),
            to: time(to),
            unit_minutes,
            lanes,
            first_lane: 1,
            units,
        })
    }

    // --- catalogue names -------------------------------------------------------

    #[test]
    fn catalogue_name_and_address_rules() {
        assert_eq!(CatalogueName::parse(" Reisepass ").unwrap().as_str(), "Reisepass");
        assert_eq!(CatalogueName::parse(""), Err(TextError::Empty));
        assert_eq!(CatalogueName::parse("a\nb"), Err(TextError::ControlCharacter));
        assert_eq!(OfficeAddress::parse("").unwrap().as_str(), "");
        assert_eq!(
            OfficeAddress::parse(&"x".repeat(501)),
            Err(TextError::TooLong { max: 500, actual: 501 })
        );
        assert_eq!(OfficeAddress::parse("a\tb"), Err(TextError::ControlCharacter));
    }

    // --- offices -----------------------------------------------------------------

    #[test]
    fn first_office_registration_registers() {
        given_no_events::<OfficeDecider>()
            .when(register_office("Europe/Berlin"))
            .then([berlin_office()]);
    }

    #[test]
    fn identical_office_registration_is_idempotent() {
        given::<OfficeDecider>([berlin_office()])
            .when(register_office("Europe/Berlin"))
            .then([]);
    }

    #[test]
    fn changed_office_details_are_recorded_and_then_current() {
        let mut moved = register_office("Europe/Berlin");
        moved.address = "Altmarkt 1\n47166 Duisburg".parse().unwrap();
        let changed = CatalogueEvent::OfficeDetailsChanged(details_of(moved.clone()));
        given::<OfficeDecider>([berlin_office()])
            .when(moved.clone())
            .then([changed.clone()]);
        // Once changed, the same details again change nothing, the old ones change back.
        given::<OfficeDecider>([berlin_office(), changed.clone()])
            .when(moved)
            .then([]);
        given::<OfficeDecider>([berlin_office(), changed])
            .when(register_office("Europe/Berlin"))
            .then([CatalogueEvent::OfficeDetailsChanged(details_of(register_office(
                "Europe/Berlin",
            )))]);
    }

    #[test]
    fn registration_outcome_tells_created_from_updated() {
        let events = OfficeDecider::decide(&register_office("Europe/Berlin"), &None).unwrap();
        assert_eq!(RegistrationOutcome::of(&events), RegistrationOutcome::Created);
        let state = OfficeDecider::fold(&events);
        let same = OfficeDecider::decide(&register_office("Europe/Berlin"), &state).unwrap();
        assert_eq!(RegistrationOutcome::of(&same), RegistrationOutcome::Unchanged);
        let other_zone = OfficeDecider::decide(&register_office("Europe/Vienna"), &state).unwrap();
        assert_eq!(RegistrationOutcome::of(&other_zone), RegistrationOutcome::Updated);
    }

    // --- services ----------------------------------------------------------------

    fn register_service(duration_minutes: u32) -> RegisterService {
        RegisterService {
            service: "personalausweis".parse().unwrap(),
            name: "Personalausweis".parse().unwrap(),
            duration_minutes,
            walk_in: false,
            description: None,
        }
    }

    fn service_details(duration_minutes: u32) -> ServiceDetails {
        let RegisterService {
            service,
            name,
            duration_minutes,
            walk_in,
            description,
        } = register_service(duration_minutes);
        ServiceDetails {
            service,
            name,
            duration_minutes,
            walk_in,
            description,
        }
    }

    #[test]
    fn a_service_description_is_bounded_plain_text() {
        let list = "Personalausweis oder Reisepass\nein biometrisches Passfoto\n\nGebühr: 37 Euro";
        assert_eq!(ServiceDescription::parse(list).unwrap().as_str(), list);
        assert_eq!(ServiceDescription::parse("  "), Err(TextError::Empty));
        assert_eq!(
            ServiceDescription::parse(&"x".repeat(MAX_SERVICE_DESCRIPTION_CHARS + 1)),
            Err(TextError::TooLong {
                max: MAX_SERVICE_DESCRIPTION_CHARS,
                actual: MAX_SERVICE_DESCRIPTION_CHARS + 1
            })
        );
        assert!(ServiceDescription::parse(&"ü".repeat(MAX_SERVICE_DESCRIPTION_CHARS)).is_ok());
        assert_eq!(ServiceDescription::parse("Foto\u{7}"), Err(TextError::ControlCharacter));
    }

    #[test]
    fn a_description_changes_the_service_and_old_events_read_without_one() {
        let described = RegisterService {
            description: Some(ServiceDescription::parse("Ein Passfoto").unwrap()),
            ..register_service(12)
        };
        let registered = CatalogueEvent::ServiceRegistered(service_details(12));
        let CatalogueEvent::ServiceRegistered(mut changed) = registered.clone() else {
            unreachable!()
        };
        changed.description = described.description.clone();
        given::<ServiceDecider>([registered.clone()])
            .when(described)
            .then([CatalogueEvent::ServiceDetailsChanged(changed.clone())]);
        // Stored before descriptions existed: no field, and none is written for none.
        let old = serde_json::json!({"service": "personalausweis", "name": "Personalausweis", "duration_minutes": 12});
        assert_eq!(
            CatalogueEvent::from_stored("service.registered", old.clone()).unwrap(),
            registered
        );
        assert_eq!(registered.to_data(), old);
        let data = CatalogueEvent::ServiceDetailsChanged(changed.clone()).to_data();
        assert_eq!(data["description"], "Ein Passfoto");
        assert_eq!(
            CatalogueEvent::from_stored("service.details_changed", data).unwrap(),
            CatalogueEvent::ServiceDetailsChanged(changed)
        );
        let too_long =
            serde_json::json!({"service": "x", "name": "X", "duration_minutes": 12, "description": "y".repeat(2001)});
        assert!(CatalogueEvent::from_stored("service.registered", too_long).is_err());
    }

    #[test]
    fn service_registration_lifecycle() {
        given_no_events::<ServiceDecider>()
            .when(register_service(12))
            .then([CatalogueEvent::ServiceRegistered(service_details(12))]);
        given::<ServiceDecider>([CatalogueEvent::ServiceRegistered(service_details(12))])
            .when(register_service(12))
            .then([]);
        given::<ServiceDecider>([CatalogueEvent::ServiceRegistered(service_details(12))])
            .when(register_service(15))
            .then([CatalogueEvent::ServiceDetailsChanged(service_details(15))]);
    }

    #[test]
    fn service_duration_limits() {
        given_no_events::<ServiceDecider>()
            .when(register_service(0))
            .then_error(ServiceError::DurationOutOfRange(0));
        given_no_events::<ServiceDecider>()
            .when(register_service(481))
            .then_error(ServiceError::DurationOutOfRange(481));
        given_no_events::<ServiceDecider>()
            .when(register_service(480))
            .then([CatalogueEvent::ServiceRegistered(service_details(480))]);
    }

    // --- events ------------------------------------------------------------------

    #[test]
    fn event_types_streams_and_stored_shape() {
        let service = CatalogueEvent::ServiceRegistered(service_details(12));
        let capacity = published("2026-12-01", "08:00", "12:00", 12, 2, 40);
        let cases = [
            (berlin_office(), "office.registered", "office:bss-hamborn"),
            (
                CatalogueEvent::OfficeDetailsChanged(match berlin_office() {
                    CatalogueEvent::OfficeRegistered(details) => details,
                    _ => unreachable!(),
                }),
                "office.details_changed",
                "office:bss-hamborn",
            ),
            (service.clone(), "service.registered", "service:personalausweis"),
            (
                CatalogueEvent::ServiceDetailsChanged(service_details(15)),
                "service.details_changed",
                "service:personalausweis",
            ),
            (capacity, "capacity.published", "office-day:bss-hamborn:2026-12-01"),
        ];
        for (event, event_type, stream) in cases {
            assert_eq!(event.event_type(), event_type);
            assert!(CatalogueEvent::EVENT_TYPES.contains(&event_type));
            assert_eq!(event.schema_version(), 1);
            assert_eq!(event.streams(), [StreamName::parse(stream).unwrap()]);
            // The serde tag agrees with event_type(), and the stored data has no tag.
            assert_eq!(serde_json::to_value(&event).unwrap()["type"], event_type);
            let data = event.to_data();
            assert!(data.get("type").is_none());
            assert_eq!(CatalogueEvent::from_stored(event_type, data).unwrap(), event);
        }
    }

    #[test]
    fn stored_capacity_data_is_plain_strings_and_numbers() {
        assert_eq!(
            published("2026-12-01", "08:00", "12:00", 12, 2, 40).to_data(),
            json!({
                "office": "bss-hamborn", "date": "2026-12-01", "from": "08:00", "to": "12:00",
                "unit_minutes": 12, "lanes": 2, "first_lane": 1, "units": 40
            })
        );
        assert_eq!(
            berlin_office().to_data(),
            json!({
                "office": "bss-hamborn", "name": "Bürger-Service-Station Hamborn",
                "address": "Duisburger Str. 213\n47166 Duisburg", "timezone": "Europe/Berlin"
            })
        );
        // Stored data is validated on the way back in, too.
        assert!(
            CatalogueEvent::from_stored(
                "office.registered",
                json!({
                    "office": "BAD", "name": "x", "address": "", "timezone": "Europe/Berlin"
                })
            )
            .is_err()
        );
    }

    #[test]
    fn capacity_published_lists_its_units() {
        let CatalogueEvent::CapacityPublished(event) = published("2026-12-01", "08:00", "08:30", 12, 2, 4) else {
            unreachable!()
        };
        let units: Vec<(u16, String)> = event.units().map(|u| (u.lane, u.start.to_string())).collect();
        assert_eq!(
            units,
            [
                (1, "08:00".into()),
                (1, "08:12".into()),
                (2, "08:00".into()),
                (2, "08:12".into())
            ]
        );
        assert_eq!(event.unit_end(time("08:12")), time("08:24"));
        let first = event.units().next().unwrap();
        assert_eq!(
            first,
            UnitRef {
                office: office_id(),
                date: date("2026-12-01"),
                lane: 1,
                start: time("08:00")
            }
        );
        assert_eq!(StreamName::unit(&first).as_str(), "unit:bss-hamborn:2026-12-01:1:0800");
    }

    // --- capacity ----------------------------------------------------------------

    #[test]
    fn first_publish_creates_lanes_times_whole_units() {
        given::<CapacityDecider>([berlin_office()])
            .when(publish("2026-12-01", "08:00", "12:00", 12, 2))
            .then([published("2026-12-01", "08:00", "12:00", 12, 2, 40)]);
    }

    #[test]
    fn a_remainder_shorter_than_a_unit_is_not_published() {
        given::<CapacityDecider>([berlin_office()])
            .when(publish("2026-12-01", "08:00", "08:30", 12, 1))
            .then([published("2026-12-01", "08:00", "08:30", 12, 1, 2)]);
        // The unpublished remainder 08:24–08:30 is free for a later publish.
        given::<CapacityDecider>([berlin_office(), published("2026-12-01", "08:00", "08:30", 12, 1, 2)])
            .when(publish("2026-12-01", "08:24", "09:00", 12, 1))
            .then([published("2026-12-01", "08:24", "09:00", 12, 1, 3)]);
    }

    #[test]
    fn a_second_non_overlapping_publish_the_same_day_succeeds() {
        given::<CapacityDecider>([berlin_office(), published("2026-12-01", "08:00", "12:00", 12, 2, 40)])
            .when(publish("2026-12-01", "12:00", "16:00", 15, 2))
            .then([published("2026-12-01", "12:00", "16:00", 15, 2, 32)]);
    }

    #[test]
    fn repeating_the_same_publish_overlaps_at_the_first_unit() {
        given::<CapacityDecider>([berlin_office(), published("2026-12-01", "08:00", "12:00", 12, 2, 40)])
            .when(publish("2026-12-01", "08:00", "12:00", 12, 2))
            .then_error(CapacityError::Overlap {
                lane: 1,
                start: time("08:00"),
            });
    }

    #[test]
    fn a_partial_overlap_with_another_unit_length_publishes_nothing() {
        // Existing lane-1 units end at 12:00; a new 20-minute unit from 11:50 reaches into 11:48–12:00.
        given::<CapacityDecider>([berlin_office(), published("2026-12-01", "08:00", "12:00", 12, 1, 20)])
            .when(publish("2026-12-01", "11:50", "14:00", 20, 1))
            .then_error(CapacityError::Overlap {
                lane: 1,
                start: time("11:50"),
            });
        // An existing unit strictly inside a new, longer one is an overlap too.
        given::<CapacityDecider>([berlin_office(), published("2026-12-01", "09:12", "09:24", 12, 1, 1)])
            .when(publish("2026-12-01", "08:00", "10:00", 60, 1))
            .then_error(CapacityError::Overlap {
                lane: 1,
                start: time("09:00"),
            });
    }

    #[test]
    fn units_that_merely_touch_do_not_overlap() {
        given::<CapacityDecider>([berlin_office(), published("2026-12-01", "10:00", "11:00", 30, 1, 2)])
            .when(publish("2026-12-01", "09:00", "10:00", 60, 1))
            .then([published("2026-12-01", "09:00", "10:00", 60, 1, 1)]);
    }

    #[test]
    fn more_lanes_over_existing_ones_overlap_on_the_first_existing_lane() {
        // lanes = 3 means lanes 1..=3, so lanes 1 and 2 collide with what exists.
        given::<CapacityDecider>([berlin_office(), published("2026-12-01", "08:00", "12:00", 12, 2, 40)])
            .when(publish("2026-12-01", "08:00", "12:00", 12, 3))
            .then_error(CapacityError::Overlap {
                lane: 1,
                start: time("08:00"),
            });
        // Lane 3 alone at that time would be free; the state knows it precisely.
        let state = CapacityDecider::fold(&[berlin_office(), published("2026-12-01", "08:00", "12:00", 12, 2, 40)]);
        assert!(state.day.overlaps(2, time("11:59"), time("12:30")));
        assert!(!state.day.overlaps(3, time("08:00"), time("12:00")));
        assert!(!state.day.overlaps(1, time("12:00"), time("12:30")));
        assert!(!state.day.overlaps(1, time("07:00"), time("08:00")));
    }

    #[test]
    fn more_lanes_at_another_time_succeed_and_accumulate() {
        let morning = published("2026-12-01", "08:00", "12:00", 12, 2, 40);
        let afternoon = published("2026-12-01", "13:00", "14:00", 30, 3, 6);
        given::<CapacityDecider>([berlin_office(), morning.clone()])
            .when(publish("2026-12-01", "13:00", "14:00", 30, 3))
            .then([afternoon.clone()]);
        let state = CapacityDecider::fold(&[berlin_office(), morning, afternoon]);
        assert_eq!(state.day.unit_count(), 46);
        let lane3: Vec<UnitSpan> = state.day.units().filter(|u| u.lane == 3).collect();
        assert_eq!(
            lane3,
            [
                UnitSpan {
                    lane: 3,
                    start: time("13:00"),
                    end: time("13:30")
                },
                UnitSpan {
                    lane: 3,
                    start: time("13:30"),
                    end: time("14:00")
                },
            ]
        );
    }

    #[test]
    fn chains_run_through_consecutive_units_of_one_lane() {
        // Lane 1: 12-minute units 08:00–09:00 then 30-minute units to 10:00; lane 2 only from 08:12.
        let mut day = OfficeDayCapacity::default();
        for event in [
            published("2026-12-01", "08:00", "09:00", 12, 1, 5),
            published("2026-12-01", "09:00", "10:00", 30, 1, 2),
        ] {
            let CatalogueEvent::CapacityPublished(published) = event else {
                unreachable!()
            };
            day.record(&published);
        }
        day.record(&CapacityPublished {
            first_lane: 2,
            ..match published("2026-12-01", "08:12", "09:00", 12, 1, 4) {
                CatalogueEvent::CapacityPublished(published) => published,
                _ => unreachable!(),
            }
        });
        let starts =
            |chain: Option<Vec<UnitSpan>>| chain.map(|units| units.iter().map(|u| u.start).collect::<Vec<_>>());
        assert_eq!(
            day.unit(1, time("08:12")).map(|u| (u.end, u.minutes())),
            Some((time("08:24"), 12))
        );
        assert_eq!(day.unit(1, time("08:13")), None);
        assert_eq!(day.lanes_starting_at(time("08:12")).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(day.lanes_starting_at(time("08:00")).collect::<Vec<_>>(), [1]);
        assert_eq!(
            starts(day.chain(1, time("08:00"), 24)),
            Some(vec![time("08:00"), time("08:12")])
        );
        assert_eq!(starts(day.chain(1, time("08:00"), 25)).map(|s| s.len()), Some(3));
        // Across units of different length: 08:48 (12) + 09:00 (30) covers 40 minutes.
        assert_eq!(
            starts(day.chain(1, time("08:48"), 40)),
            Some(vec![time("08:48"), time("09:00")])
        );
        assert_eq!(day.chain(1, time("09:30"), 31), None);
        assert_eq!(day.chain(2, time("08:48"), 13), None);
        assert_eq!(day.chain(3, time("08:00"), 12), None);
        assert_eq!(starts(day.chain(1, time("08:00"), 0)).map(|s| s.len()), Some(1));
    }

    #[test]
    fn a_past_date_in_the_office_zone_is_rejected() {
        // 23:30 UTC on Dec 1 is already Dec 2 in Berlin.
        let mut command = publish("2026-12-01", "08:00", "12:00", 12, 1);
        command.now = "2026-12-01T23:30:00Z".parse().unwrap();
        given::<CapacityDecider>([berlin_office()])
            .when(command.clone())
            .then_error(CapacityError::DateInPast {
                date: date("2026-12-01"),
                today: date("2026-12-02").as_naive(),
            });
        // In a UTC office it is still Dec 1: today is allowed.
        given::<CapacityDecider>([office_registered("UTC")])
            .when(command)
            .then([published("2026-12-01", "08:00", "12:00", 12, 1, 20)]);
    }

    #[test]
    fn dst_days_publish_normal_hours() {
        for day in ["2026-03-29", "2026-10-25"] {
            let mut command = publish(day, "08:00", "12:00", 12, 2);
            command.now = "2026-03-01T00:00:00Z".parse().unwrap();
            given::<CapacityDecider>([berlin_office()])
                .when(command)
                .then([published(day, "08:00", "12:00", 12, 2, 40)]);
        }
    }

    #[test]
    fn units_in_a_dst_gap_or_overlap_are_refused() {
        let mut spring = publish("2026-03-29", "01:00", "04:00", 30, 1);
        spring.now = "2026-03-01T00:00:00Z".parse().unwrap();
        given::<CapacityDecider>([berlin_office()])
            .when(spring)
            .then_error(CapacityError::DstTransition(LocalTimeError::Nonexistent {
                date: date("2026-03-29").as_naive(),
                time: time("02:00").as_naive(),
            }));
        let mut autumn = publish("2026-10-25", "02:30", "03:30", 30, 1);
        autumn.now = "2026-03-01T00:00:00Z".parse().unwrap();
        given::<CapacityDecider>([berlin_office()])
            .when(autumn)
            .then_error(CapacityError::DstTransition(LocalTimeError::Ambiguous {
                date: date("2026-10-25").as_naive(),
                time: time("02:30").as_naive(),
            }));
    }

    #[test]
    fn an_unknown_office_is_refused() {
        given_no_events::<CapacityDecider>()
            .when(publish("2026-12-01", "08:00", "12:00", 12, 2))
            .then_error(CapacityError::UnknownOffice(office_id()));
        // Neither does another office's registration count.
        let mut elsewhere = publish("2026-12-01", "08:00", "12:00", 12, 2);
        elsewhere.office = "bss-walsum".parse().unwrap();
        given::<CapacityDecider>([berlin_office()])
            .when(elsewhere)
            .then_error(CapacityError::UnknownOffice("bss-walsum".parse().unwrap()));
    }

    #[test]
    fn the_office_zone_follows_details_changes() {
        // Moved to UTC: 23:30 UTC on Dec 1 is still Dec 1 there.
        let mut command = publish("2026-12-01", "08:00", "09:00", 60, 1);
        command.now = "2026-12-01T23:30:00Z".parse().unwrap();
        let CatalogueEvent::OfficeRegistered(mut details) = berlin_office() else {
            unreachable!()
        };
        details.timezone = "UTC".parse().unwrap();
        given::<CapacityDecider>([berlin_office(), CatalogueEvent::OfficeDetailsChanged(details)])
            .when(command)
            .then([published("2026-12-01", "08:00", "09:00", 60, 1, 1)]);
    }

    #[test]
    fn range_and_limit_errors() {
        let cases = [
            (
                publish("2026-12-01", "12:00", "12:00", 12, 1),
                CapacityError::EmptyRange {
                    from: time("12:00"),
                    to: time("12:00"),
                },
            ),
            (
                publish("2026-12-01", "12:00", "08:00", 12, 1),
                CapacityError::EmptyRange {
                    from: time("12:00"),
                    to: time("08:00"),
                },
            ),
            (
                publish("2026-12-01", "08:00", "08:11", 12, 1),
                CapacityError::RangeShorterThanUnit {
                    from: time("08:00"),
                    to: time("08:11"),
                    unit_minutes: 12,
                },
            ),
            (
                publish("2026-12-01", "08:00", "12:00", 0, 1),
                CapacityError::UnitMinutesOutOfRange(0),
            ),
            (
                publish("2026-12-01", "08:00", "12:00", 241, 1),
                CapacityError::UnitMinutesOutOfRange(241),
            ),
            (
                publish("2026-12-01", "08:00", "12:00", 12, 0),
                CapacityError::LanesOutOfRange(0),
            ),
            (
                publish("2026-12-01", "08:00", "12:00", 12, 65),
                CapacityError::LanesOutOfRange(65),
            ),
        ];
        for (command, error) in cases {
            given::<CapacityDecider>([berlin_office()])
                .when(command)
                .then_error(error);
        }
        given::<CapacityDecider>([berlin_office()])
            .when(publish("2026-12-01", "00:00", "23:59", 240, 64))
            .then([published("2026-12-01", "00:00", "23:59", 240, 64, 64 * 5)]);
    }

    // --- opening hours, holidays, closed days --------------------------------------

    /// Hamborn in Nordrhein-Westfalen, open Monday 09:00–12:00 and 14:00–18:00,
    /// Thursday 08:00–18:00, closed on Christmas Eve.
    fn office_with_calendar() -> CatalogueEvent {
        let mut command = register_office("Europe/Berlin");
        command.opening_hours = Some(
            serde_json::from_value(json!({
                "mon": [["09:00", "12:00"], ["14:00", "18:00"]],
                "thu": [["08:00", "18:00"]],
            }))
            .unwrap(),
        );
        command.holidays = Some(HolidayRegion::NordrheinWestfalen);
        command.closed_days = ClosedDays::new([date("2026-12-24")]).unwrap();
        CatalogueEvent::OfficeRegistered(details_of(command))
    }

    fn interval(from: &str, to: &str) -> OpeningInterval {
        OpeningInterval::new(time(from), time(to)).unwrap()
    }

    #[test]
    fn capacity_on_a_public_holiday_of_the_region_is_refused() {
        // 2026-12-25 is a Friday; a Thursday holiday would be open by the hours.
        for (day, name) in [("2026-12-25", "1. Weihnachtstag"), ("2027-01-01", "Neujahr")] {
            given::<CapacityDecider>([office_with_calendar()])
                .when(publish(day, "09:00", "12:00", 12, 2))
                .then_error(CapacityError::OfficeClosed {
                    date: date(day),
                    reason: ClosedReason::PublicHoliday {
                        region: HolidayRegion::NordrheinWestfalen,
                        name,
                    },
                });
        }
        // Christi Himmelfahrt 2027 is a Thursday, a day the hours would allow.
        let mut later = publish("2027-05-06", "08:00", "12:00", 12, 1);
        later.now = "2027-04-01T00:00:00Z".parse().unwrap();
        given::<CapacityDecider>([office_with_calendar()])
            .when(later)
            .then_error(CapacityError::OfficeClosed {
                date: date("2027-05-06"),
                reason: ClosedReason::PublicHoliday {
                    region: HolidayRegion::NordrheinWestfalen,
                    name: "Christi Himmelfahrt",
                },
            });
    }

    #[test]
    fn capacity_on_one_of_the_office_closed_days_is_refused() {
        // Thursday 2026-12-24 is no public holiday, but the office's closed day.
        given::<CapacityDecider>([office_with_calendar()])
            .when(publish("2026-12-24", "08:00", "12:00", 12, 1))
            .then_error(CapacityError::OfficeClosed {
                date: date("2026-12-24"),
                reason: ClosedReason::ClosedDay,
            });
        // The Thursday before is open.
        given::<CapacityDecider>([office_with_calendar()])
            .when(publish("2026-12-17", "08:00", "12:00", 12, 1))
            .then([published("2026-12-17", "08:00", "12:00", 12, 1, 20)]);
    }

    #[test]
    fn capacity_outside_the_opening_hours_is_refused() {
        // Monday 2026-12-07 opens 09:00–12:00 and 14:00–18:00.
        let monday = [
            ("08:00", "12:00", "08:00", "08:12"),
            ("09:00", "12:30", "12:00", "12:12"),
            ("11:00", "15:00", "12:00", "12:12"),
            ("17:00", "19:00", "18:00", "18:12"),
        ];
        for (from, to, start, end) in monday {
            given::<CapacityDecider>([office_with_calendar()])
                .when(publish("2026-12-07", from, to, 12, 3))
                .then_error(CapacityError::OfficeClosed {
                    date: date("2026-12-07"),
                    reason: ClosedReason::OutsideHours {
                        start: time(start),
                        end: time(end),
                        open: vec![interval("09:00", "12:00"), interval("14:00", "18:00")],
                    },
                });
        }
        // A weekday the hours leave out is closed all day.
        given::<CapacityDecider>([office_with_calendar()])
            .when(publish("2026-12-08", "09:00", "12:00", 12, 1))
            .then_error(CapacityError::OfficeClosed {
                date: date("2026-12-08"),
                reason: ClosedReason::ClosedWeekday,
            });
    }

    #[test]
    fn capacity_exactly_at_the_edges_of_the_opening_hours_is_accepted() {
        given::<CapacityDecider>([office_with_calendar()])
            .when(publish("2026-12-07", "09:00", "12:00", 12, 2))
            .then([published("2026-12-07", "09:00", "12:00", 12, 2, 30)]);
        given::<CapacityDecider>([office_with_calendar()])
            .when(publish("2026-12-07", "14:00", "18:00", 60, 1))
            .then([published("2026-12-07", "14:00", "18:00", 60, 1, 4)]);
        // Only whole units are published: a `to` past closing whose remainder is
        // dropped publishes nothing outside the hours.
        given::<CapacityDecider>([office_with_calendar()])
            .when(publish("2026-12-07", "09:00", "12:05", 12, 1))
            .then([published("2026-12-07", "09:00", "12:05", 12, 1, 15)]);
    }

    #[test]
    fn an_office_without_a_calendar_publishes_as_before() {
        // No hours, no region, no closed days: Christmas Day and a Sunday night are fine.
        given::<CapacityDecider>([berlin_office()])
            .when(publish("2026-12-25", "00:00", "23:59", 60, 1))
            .then([published("2026-12-25", "00:00", "23:59", 60, 1, 23)]);
        given::<CapacityDecider>([berlin_office()])
            .when(publish("2026-12-06", "20:00", "22:00", 12, 1))
            .then([published("2026-12-06", "20:00", "22:00", 12, 1, 10)]);
        // A region alone closes only its holidays, not hours nor weekends.
        let mut region_only = register_office("Europe/Berlin");
        region_only.holidays = Some(HolidayRegion::NordrheinWestfalen);
        let region_only = CatalogueEvent::OfficeRegistered(details_of(region_only));
        given::<CapacityDecider>([region_only.clone()])
            .when(publish("2026-12-06", "20:00", "22:00", 12, 1))
            .then([published("2026-12-06", "20:00", "22:00", 12, 1, 10)]);
        given::<CapacityDecider>([region_only])
            .when(publish("2026-12-26", "09:00", "10:00", 12, 1))
            .then_error(CapacityError::OfficeClosed {
                date: date("2026-12-26"),
                reason: ClosedReason::PublicHoliday {
                    region: HolidayRegion::NordrheinWestfalen,
                    name: "2. Weihnachtstag",
                },
            });
    }

    #[test]
    fn the_calendar_follows_details_changes() {
        // Given hours that close Tuesdays, when the office drops them again,
        // then Tuesday is open.
        let CatalogueEvent::OfficeRegistered(mut details) = office_with_calendar() else {
            unreachable!()
        };
        details.opening_hours = None;
        given::<CapacityDecider>([office_with_calendar(), CatalogueEvent::OfficeDetailsChanged(details)])
            .when(publish("2026-12-08", "07:00", "08:00", 12, 1))
            .then([published("2026-12-08", "07:00", "08:00", 12, 1, 5)]);
    }

    #[test]
    fn an_office_registration_stored_before_the_calendar_still_decodes() {
        let stored = r#"{"office":"bss-hamborn","name":"Bürger-Service-Station Hamborn","address":"Duisburger Str. 213\n47166 Duisburg","timezone":"Europe/Berlin"}"#;
        for event_type in ["office.registered", "office.details_changed"] {
            let event = CatalogueEvent::from_stored_json(event_type, stored).unwrap();
            let (CatalogueEvent::OfficeRegistered(details) | CatalogueEvent::OfficeDetailsChanged(details)) = &event
            else {
                panic!("{event:?}")
            };
            assert_eq!(details, &details_of(register_office("Europe/Berlin")));
            // An office without a calendar is written exactly as before.
            assert_eq!(
                serde_json::to_value(details).unwrap(),
                serde_json::from_str::<serde_json::Value>(stored).unwrap()
            );
        }
        // With a calendar, the fields round-trip.
        let CatalogueEvent::OfficeRegistered(details) = office_with_calendar() else {
            unreachable!()
        };
        let written = serde_json::to_value(&details).unwrap();
        assert_eq!(written["holidays"], "DE-NW");
        assert_eq!(written["closed_days"], json!(["2026-12-24"]));
        assert_eq!(written["opening_hours"]["thu"], json!([["08:00", "18:00"]]));
        assert_eq!(serde_json::from_value::<OfficeDetails>(written).unwrap(), details);
    }

    #[test]
    fn capacity_errors_read_well() {
        assert_eq!(
            CapacityError::Overlap {
                lane: 2,
                start: time("09:00")
            }
            .to_string(),
            "the new unit at 09:00 on lane 2 overlaps a published unit"
        );
        assert_eq!(
            CapacityError::UnknownOffice(office_id()).to_string(),
            "office bss-hamborn is not registered"
        );
        let closed = |day: &str, reason| {
            CapacityError::OfficeClosed {
                date: date(day),
                reason,
            }
            .to_string()
        };
        assert_eq!(
            closed(
                "2026-12-25",
                ClosedReason::PublicHoliday {
                    region: HolidayRegion::NordrheinWestfalen,
                    name: "1. Weihnachtstag"
                }
            ),
            "2026-12-25 is a public holiday in DE-NW (1. Weihnachtstag)"
        );
        assert_eq!(
            closed("2026-12-24", ClosedReason::ClosedDay),
            "2026-12-24 is one of the office's closed days"
        );
        assert_eq!(
            closed("2026-12-05", ClosedReason::ClosedWeekday),
            "the office is closed on Saturdays (2026-12-05)"
        );
        assert_eq!(
            closed(
                "2026-12-07",
                ClosedReason::OutsideHours {
                    start: time("08:00"),
                    end: time("08:12"),
                    open: vec![interval("09:00", "12:00"), interval("14:00", "18:00")],
                }
            ),
            "08:00–08:12 on Monday 2026-12-07 is outside the opening hours 09:00–12:00, 14:00–18:00"
        );
    }

    proptest! {
        #[test]
        fn unit_count_is_lanes_times_whole_units(
            from in 0u32..24 * 60 - 1,
            length in 1u32..24 * 60,
            unit_minutes in 1u32..=MAX_UNIT_MINUTES,
            lanes in 1u16..=8,
        ) {
            let to = (from + length).min(24 * 60 - 1);
            prop_assume!(to > from);
            let command = PublishCapacity {
                office: office_id(),
                date: date("2026-12-01"),
                from: LocalTime::from_minutes_since_midnight(from).unwrap(),
                to: LocalTime::from_minutes_since_midnight(to).unwrap(),
                unit_minutes,
                lanes,
                now: now(),
            };
            let state = CapacityDecider::fold(&[berlin_office()]);
            let per_lane = (to - from) / unit_minutes;
            match CapacityDecider::decide(&command, &state) {
                Ok(events) => {
                    prop_assert_eq!(events.len(), 1);
                    let CatalogueEvent::CapacityPublished(event) = &events[0] else { unreachable!() };
                    prop_assert!(per_lane >= 1);
                    prop_assert_eq!(event.units, u32::from(lanes) * per_lane);
                    prop_assert_eq!(event.units().count() as u32, event.units);
                    let day = CapacityDecider::fold(&[berlin_office(), events[0].clone()]).day;
                    prop_assert_eq!(day.unit_count() as u32, event.units);
                    for span in day.units() {
                        prop_assert!(span.start >= command.from && span.end <= command.to);
                        prop_assert_eq!(span.end.minutes_since_midnight() - span.start.minutes_since_midnight(), unit_minutes);
                    }
                    // Publishing the same again always collides.
                    prop_assert_eq!(
                        CapacityDecider::decide(&command, &CapacityDecider::fold(&[berlin_office(), events[0].clone()])),
                        Err(CapacityError::Overlap { lane: 1, start: command.from })
                    );
                }
                Err(error) => {
                    prop_assert_eq!(per_lane, 0);
                    prop_assert_eq!(error, CapacityError::RangeShorterThanUnit {
                        from: command.from, to: command.to, unit_minutes,
                    });
                }
            }
        }

        /// The office day kept as publications answers every question as a
        /// unit-by-unit map of the same publications would (the later of two
        /// units with one lane and start counting, as in a replayed import).
        #[test]
        fn an_office_day_answers_as_its_units_would(
            blocks in proptest::collection::vec((0u32..20 * 60, 1u32..=90, 1u32..=12, 1u16..=4, 1u16..=3), 1..5),
            probes in proptest::collection::vec((1u16..=6, 0u32..24 * 60 - 2, 1u32..200), 1..40),
        ) {
            let mut day = OfficeDayCapacity::default();
            let mut reference: BTreeMap<(u16, LocalTime), LocalTime> = BTreeMap::new();
            for (from, unit_minutes, count, lanes, first_lane) in blocks {
                let from = LocalTime::from_minutes_since_midnight(from).unwrap();
                let to = LocalTime::from_minutes_since_midnight(
                    (from.minutes_since_midnight() + unit_minutes * count).min(24 * 60 - 1),
                )
                .unwrap();
                let published = CapacityPublished {
                    office: office_id(),
                    date: date("2026-12-01"),
                    from,
                    to,
                    unit_minutes,
                    lanes,
                    first_lane,
                    units: u32::from(lanes) * units_per_lane(from, to, unit_minutes),
                };
                reference.extend(published.spans().map(|span| ((span.lane, span.start), span.end)));
                day.record(&published);
            }
            let expected: Vec<UnitSpan> =
                reference.iter().map(|(&(lane, start), &end)| UnitSpan { lane, start, end }).collect();
            prop_assert_eq!(day.units().collect::<Vec<_>>(), expected);
            let starts: BTreeSet<LocalTime> = reference.keys().map(|&(_, start)| start).collect();
            prop_assert_eq!(day.starts(), starts);
            for (lane, minute, length) in probes {
                let start = LocalTime::from_minutes_since_midnight(minute).unwrap();
                let end = LocalTime::from_minutes_since_midnight((minute + length).min(24 * 60 - 1)).unwrap();
                let unit = reference.get(&(lane, start)).map(|&end| UnitSpan { lane, start, end });
                prop_assert_eq!(day.unit(lane, start), unit);
                let lanes: Vec<u16> =
                    reference.keys().filter(|&&(_, at)| at == start).map(|&(lane, _)| lane).collect();
                prop_assert_eq!(day.lanes_starting_at(start).collect::<Vec<_>>(), lanes);
                let overlapping = reference
                    .iter()
                    .any(|(&(at_lane, at), &until)| at_lane == lane && at < end && until > start);
                prop_assert_eq!(day.overlaps(lane, start, end), overlapping);
            }
        }
    }
}
