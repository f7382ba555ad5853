//! The waitlist as the log tells it: the first-come matching engine
//! ([`Matcher`]) fed every event that changes capacity, holds or wishes, in
//! log order, and the proposals it decided that the log does not hold yet.
//!
//! Everything here is a function of the log prefix read so far, including
//! time: units retire when the log's recorded time passes their start, never
//! by a clock read. So every process that folds the same log agrees on which
//! units the waitlist keeps (the availability view hides them, invariant 4),
//! and the matcher process's proposals are the ones a replay decides
//! (invariant 6).
//!
//! A wish joins the engine's queue when it is confirmed (`wish.confirmed`, or
//! a version-1 `wish.registered`, which waited at once): its place is the log
//! position of that event, so first-come means first confirmed. Until then
//! its registration is kept aside and it is offered nothing.
//!
//! A decided proposal is *planned* until its `proposal.made` arrives. The
//! matcher appends planned proposals once it has caught up with the log; one
//! that loses a race to a booking or an ended wish is dropped by the event
//! that won (the engine withdraws it), one whose start passes first is
//! withdrawn when the log's time reaches it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use terminagent_domain::matching::{
    Decisions, MatchError, Matcher, OfficeSet, Proposal, Unit, UnitStatus, WaitingWish, WishStatus as EngineWishStatus,
};
use terminagent_domain::{
    BookingEvent, CatalogueEvent, DomainEvent, OfficeId, OfficeTimeZone, ProposalId, ServiceId, UnitRef, WeeklyWindows,
    WishEvent, WishId, WishRegistered,
};
use terminagent_eventstore::LogEvent;

/// A proposal the engine decided: the matcher's to append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedProposal {
    pub wish: WishId,
    pub office: OfficeId,
    pub start: DateTime<Utc>,
    pub lane: u16,
    pub units: Vec<UnitRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waitlist {
    engine: Matcher,
    zones: BTreeMap<OfficeId, OfficeTimeZone>,
    durations: BTreeMap<ServiceId, u32>,
    /// What the timers act on, kept only for wishes that have it: open
    /// proposals by wish and by expiry, last dates by wish and by moment.
    open: BTreeMap<WishId, (ProposalId, DateTime<Utc>, OfficeId)>,
    expiries: BTreeSet<(DateTime<Utc>, WishId, ProposalId)>,
    lapse_of: BTreeMap<WishId, DateTime<Utc>>,
    lapses: BTreeSet<(DateTime<Utc>, WishId)>,
    /// Registered, not confirmed yet: not in the engine's queue.
    unconfirmed: BTreeMap<WishId, UnconfirmedWish>,
    waiting: usize,
    /// Decided, not yet in the log, by wish.
    planned: BTreeMap<WishId, PlannedProposal>,
    /// The same, by start: withdrawn when the log's time passes it.
    planned_starts: BTreeSet<(DateTime<Utc>, WishId)>,
    /// The latest time the log recorded, and the minute units retired up to.
    log_time: Option<DateTime<Utc>>,
    retired_minute: Option<DateTime<Utc>>,
}

/// A registration awaiting its confirmation, as the queue will need it, in
/// a shape the snapshot's postcard can read back (no skipped fields; the
/// windows as (weekday from Monday, hour) pairs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct UnconfirmedWish {
    offices: Vec<OfficeId>,
    services: Vec<ServiceId>,
    hours: Vec<(u8, u8)>,
    until: Option<terminagent_domain::LocalDate>,
    lapses_at: Option<DateTime<Utc>>,
}

impl UnconfirmedWish {
    fn of(registered: &WishRegistered) -> Self {
        UnconfirmedWish {
            offices: registered.offices.clone(),
            services: registered.services.clone(),
            hours: registered
                .windows
                .iter()
                .map(|(weekday, hour)| (weekday.num_days_from_monday() as u8, hour as u8))
                .collect(),
            until: registered.until,
            lapses_at: registered.lapses_at,
        }
    }

    /// `None` only if a snapshot was tampered with: they came from valid windows.
    fn windows(&self) -> Option<WeeklyWindows> {
        let hours = self
            .hours
            .iter()
            .map(|&(day, hour)| Some((chrono::Weekday::try_from(day).ok()?, u32::from(hour))))
            .collect::<Option<Vec<_>>>()?;
        WeeklyWindows::new(hours).ok()
    }
}

/// Names the encoding of [`Waitlist::to_snapshot`]; bump it when the
/// waitlist's shape changes, and old snapshots are ignored (the log is replayed).
pub const SNAPSHOT_FORMAT: &str = "waitlist/postcard/2";

impl Waitlist {
    /// The waitlist as bytes, to be restored by [`Waitlist::from_snapshot`].
    pub fn to_snapshot(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(self)
    }

    pub fn from_snapshot(bytes: &[u8]) -> Result<Waitlist, postcard::Error> {
        postcard::from_bytes(bytes)
    }

    /// Folds one log event.
    pub fn apply(&mut self, event: &LogEvent) {
        let recorded_at = event.event.recorded_at;
        if self.log_time.is_none_or(|time| recorded_at > time) {
            self.log_time = Some(recorded_at);
            self.retire(recorded_at);
        }
        let (event_type, data) = (event.event.event_type.as_str(), event.event.data.as_str());
        let result = if CatalogueEvent::EVENT_TYPES.contains(&event_type) {
            CatalogueEvent::from_stored_json(event_type, data)
                .map_err(|error| error.to_string())
                .map(|catalogue| self.catalogue(catalogue))
        } else if BookingEvent::EVENT_TYPES.contains(&event_type) {
            BookingEvent::from_stored_json(event_type, data)
                .map_err(|error| error.to_string())
                .map(|booking| self.booking(&booking))
        } else if WishEvent::EVENT_TYPES.contains(&event_type) {
            WishEvent::from_stored_json(event_type, data)
                .map_err(|error| error.to_string())
                .map(|wish| self.wish(wish))
        } else {
            Ok(Ok(()))
        };
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(position = event.position, event_type, %error, "the waitlist cannot follow this event")
            }
            Err(error) => {
                tracing::error!(position = event.position, event_type, %error, "event does not decode; the waitlist skips it")
            }
        }
    }

    /// Whether `unit` may be booked publicly: published, free, and wanted by
    /// no idle waiting wish (the engine is quiescent after every event).
    pub fn is_public(&self, unit: &UnitRef) -> bool {
        self.unit_status(unit) == Some(UnitStatus::Free)
    }

    /// Whether the log's time has passed `unit`'s start (no one may take it any more).
    pub fn has_started(&self, unit: &UnitRef) -> bool {
        self.unit_status(unit) == Some(UnitStatus::Retired)
    }

    /// Of `units`, those a booking may not take though the log may show them
    /// free: held for a wish by a proposal (made, or planned and not yet in
    /// the log), or not seen published yet. Units it knows booked or past are
    /// left to the booking decision, which reads their holds in the log.
    pub fn kept_units(&self, units: &[UnitRef]) -> BTreeSet<UnitRef> {
        units
            .iter()
            .filter(|unit| {
                !matches!(
                    self.unit_status(unit),
                    Some(UnitStatus::Free | UnitStatus::Booked | UnitStatus::Retired)
                )
            })
            .cloned()
            .collect()
    }

    /// Of `units`, those this waitlist has as taken by a booking.
    pub fn booked_units(&self, units: &[UnitRef]) -> BTreeSet<UnitRef> {
        units
            .iter()
            .filter(|unit| self.unit_status(unit) == Some(UnitStatus::Booked))
            .cloned()
            .collect()
    }

    /// Whether any of `units` is one this waitlist has not seen published.
    pub fn has_unseen(&self, units: &[UnitRef]) -> bool {
        units.iter().any(|unit| self.unit_status(unit).is_none())
    }

    /// The proposal planned for `wish`, if its `proposal.made` is not in the log yet.
    pub fn planned_for(&self, wish: &WishId) -> Option<&PlannedProposal> {
        self.planned.get(wish)
    }

    /// Some idle waiting wish and free unit that match each other; `None`
    /// when the waitlist is quiescent (invariant 5). By brute force, for tests
    /// and audits.
    pub fn quiescence_violation(&self) -> Option<(WishId, UnitRef)> {
        let (wish, unit) = self.engine.quiescence_violation()?;
        Some((wish, self.engine.unit_ref(&unit)?))
    }

    /// The units the engine holds for `wish`'s proposal (made or planned).
    pub fn proposed_units(&self, wish: &WishId) -> Option<Vec<UnitRef>> {
        match self.engine.wish_status(*wish)? {
            EngineWishStatus::Proposed(units) => units.iter().map(|unit| self.engine.unit_ref(unit)).collect(),
            _ => None,
        }
    }

    /// Proposals decided but not yet in the log, by wish id.
    pub fn planned(&self) -> impl Iterator<Item = &PlannedProposal> {
        self.planned.values()
    }

    /// Open proposals due to expire at `now`: (wish, proposal, office).
    pub fn expiry_due(&self, now: DateTime<Utc>) -> Vec<(WishId, ProposalId, OfficeId)> {
        self.expiries
            .iter()
            .take_while(|(expires_at, _, _)| *expires_at <= now)
            .filter_map(|(_, wish, proposal)| {
                let (_, _, office) = self.open.get(wish)?;
                Some((*wish, *proposal, office.clone()))
            })
            .collect()
    }

    /// Every office the log has registered, by id.
    pub fn offices(&self) -> impl Iterator<Item = &OfficeId> {
        self.zones.keys()
    }

    /// Waiting wishes whose last date is over at `now`, and wishes still
    /// unconfirmed at their `confirm_by` (the same decision ends both).
    pub fn lapse_due(&self, now: DateTime<Utc>) -> Vec<WishId> {
        self.lapses
            .iter()
            .take_while(|(lapses_at, _)| *lapses_at <= now)
            .map(|&(_, wish)| wish)
            .collect()
    }

    /// How many wishes wait, and how many of them hold no proposal.
    pub fn waiting_wishes(&self) -> (usize, usize) {
        (self.waiting, self.engine.idle_wishes())
    }

    // --- folding ---------------------------------------------------------------

    fn catalogue(&mut self, event: CatalogueEvent) -> Result<(), MatchError> {
        match event {
            CatalogueEvent::OfficeRegistered(details) | CatalogueEvent::OfficeDetailsChanged(details) => {
                let office = details.office;
                self.engine.register_office(office.clone())?;
                self.zones.insert(office.clone(), details.timezone);
                if let Some(minute) = self.retired_minute {
                    self.retire_office_until(&office, minute);
                }
                Ok(())
            }
            CatalogueEvent::ServiceRegistered(details) | CatalogueEvent::ServiceDetailsChanged(details) => {
                self.durations.insert(details.service, details.duration_minutes);
                Ok(())
            }
            CatalogueEvent::CapacityPublished(published) => {
                let decisions = self.engine.publish_capacity(&published)?;
                self.plan(decisions);
                Ok(())
            }
            // Taken for good, as by a booking that never ends: a proposal on
            // them (planned or made) is void and its wish idle at its place.
            // The closure cancelled every booking on them just before.
            CatalogueEvent::CapacityWithdrawn(withdrawn) => {
                let decisions = self.engine.hold_units(&self.engine_units(&withdrawn.units)?)?;
                self.plan(decisions);
                Ok(())
            }
        }
    }

    fn booking(&mut self, event: &BookingEvent) -> Result<(), MatchError> {
        let decisions = match event {
            BookingEvent::Requested(requested) => self.engine.hold_units(&self.engine_units(&requested.units)?)?,
            BookingEvent::TicketIssued(ticket) => self.engine.hold_units(&self.engine_units(&ticket.units)?)?,
            BookingEvent::Cancelled(cancelled) => self.engine.release_units(&self.engine_units(&cancelled.units)?)?,
            BookingEvent::Lapsed(lapsed) => self.engine.release_units(&self.engine_units(&lapsed.units)?)?,
            BookingEvent::Released(released) => self.engine.release_units(&self.engine_units(&released.units)?)?,
            BookingEvent::Confirmed(_) => return Ok(()),
        };
        self.plan(decisions);
        Ok(())
    }

    fn wish(&mut self, event: WishEvent) -> Result<(), MatchError> {
        let wish = event.wish();
        let decisions = match event {
            WishEvent::Registered(registered) if !registered.waits_at_once() => {
                // The lapse timer ends it unless it is confirmed in time.
                if let Some(confirm_by) = registered.confirm_by {
                    self.lapse_of.insert(wish, confirm_by);
                    self.lapses.insert((confirm_by, wish));
                }
                self.unconfirmed.insert(wish, UnconfirmedWish::of(&registered));
                return Ok(());
            }
            WishEvent::Confirmed(_) => match self.unconfirmed.remove(&wish) {
                Some(unconfirmed) => {
                    self.forget_lapse(&wish);
                    let Some(windows) = unconfirmed.windows() else {
                        tracing::error!(%wish, "a snapshot's unconfirmed wish has no valid windows; it stays out");
                        return Ok(());
                    };
                    self.join_queue(wish, unconfirmed, windows)?
                }
                // Confirmed twice, or unknown: nothing joins the queue again.
                None => return Ok(()),
            },
            WishEvent::Registered(registered) => {
                self.join_queue(wish, UnconfirmedWish::of(&registered), registered.windows)?
            }
            WishEvent::ProposalMade(made) => {
                self.unplan(&wish);
                self.close_proposal(&wish);
                self.open
                    .insert(wish, (made.proposal, made.expires_at, made.office.clone()));
                self.expiries.insert((made.expires_at, wish, made.proposal));
                return Ok(());
            }
            WishEvent::ProposalAccepted(_) => {
                self.leave(&wish);
                return self.engine.proposal_accepted(wish);
            }
            WishEvent::ProposalDeclined(_) => {
                self.close_proposal(&wish);
                self.engine.proposal_declined(wish)?
            }
            WishEvent::ProposalExpired(_) => {
                self.close_proposal(&wish);
                self.engine.proposal_expired(wish)?
            }
            // The withdrawal of its units, just before, voided it in the engine.
            WishEvent::ProposalWithdrawn(_) => {
                self.close_proposal(&wish);
                return Ok(());
            }
            // Ended before it was confirmed (lapsed, withdrawn, erased): it
            // never was in the queue.
            WishEvent::Ended(_) if self.unconfirmed.remove(&wish).is_some() => {
                self.forget_lapse(&wish);
                return Ok(());
            }
            WishEvent::Ended(_) => {
                self.leave(&wish);
                self.unplan(&wish);
                self.engine.wish_ended(wish)?
            }
        };
        self.plan(decisions);
        Ok(())
    }

    /// The wish waits from now on, behind every wish that joined before.
    fn join_queue(
        &mut self,
        wish: WishId,
        registered: UnconfirmedWish,
        windows: WeeklyWindows,
    ) -> Result<Decisions, MatchError> {
        let offices = registered
            .offices
            .iter()
            .map(|office| {
                self.engine
                    .office_index(office)
                    .ok_or_else(|| MatchError::UnregisteredOffice(office.clone()))
            })
            .collect::<Result<OfficeSet, _>>()?;
        let needed_minutes = registered
            .services
            .iter()
            .map(|service| self.durations.get(service).copied().unwrap_or(0))
            .sum();
        let decisions = self.engine.register_wish(WaitingWish {
            id: wish,
            offices,
            windows,
            needed_minutes,
            until: registered.until,
        })?;
        self.waiting += 1;
        if let Some(lapses_at) = registered.lapses_at {
            self.lapse_of.insert(wish, lapses_at);
            self.lapses.insert((lapses_at, wish));
        }
        Ok(decisions)
    }

    fn close_proposal(&mut self, wish: &WishId) {
        if let Some((proposal, expires_at, _)) = self.open.remove(wish) {
            self.expiries.remove(&(expires_at, *wish, proposal));
        }
    }

    fn forget_lapse(&mut self, wish: &WishId) {
        if let Some(lapses_at) = self.lapse_of.remove(wish) {
            self.lapses.remove(&(lapses_at, *wish));
        }
    }

    /// The wish waits no longer (fulfilled or ended): nothing to time for it.
    fn leave(&mut self, wish: &WishId) {
        self.close_proposal(wish);
        self.forget_lapse(wish);
        if matches!(
            self.engine.wish_status(*wish),
            Some(EngineWishStatus::Waiting | EngineWishStatus::Proposed(_))
        ) {
            self.waiting -= 1;
        }
    }

    /// Records what the engine decided.
    fn plan(&mut self, decisions: Decisions) {
        for wish in &decisions.withdrawn {
            self.unplan(wish);
        }
        for proposal in decisions.proposals {
            match self.planned_proposal(&proposal) {
                Some(planned) => {
                    self.planned_starts.insert((planned.start, planned.wish));
                    self.planned.insert(planned.wish, planned);
                }
                None => tracing::error!(wish = %proposal.wish, "a proposal names a unit of an unknown office"),
            }
        }
    }

    fn unplan(&mut self, wish: &WishId) {
        if let Some(planned) = self.planned.remove(wish) {
            self.planned_starts.remove(&(planned.start, planned.wish));
        }
    }

    fn planned_proposal(&self, proposal: &Proposal) -> Option<PlannedProposal> {
        let first = proposal.first();
        let office = self.engine.office_id(first.office)?.clone();
        let start = self.zones.get(&office)?.instant(first.date, first.start).ok()?;
        let units = proposal
            .units
            .iter()
            .map(|unit| self.engine.unit_ref(unit))
            .collect::<Option<Vec<_>>>()?;
        Some(PlannedProposal {
            wish: proposal.wish,
            office,
            start,
            lane: first.lane,
            units,
        })
    }

    /// The log's time reached `now`: units starting at or before it retire in
    /// every office, and planned proposals starting by then are withdrawn.
    fn retire(&mut self, now: DateTime<Utc>) {
        let minute = now - chrono::Duration::seconds(now.timestamp().rem_euclid(60));
        if self.retired_minute.is_some_and(|done| done >= minute) {
            return;
        }
        self.retired_minute = Some(minute);
        let offices: Vec<OfficeId> = self.zones.keys().cloned().collect();
        for office in &offices {
            self.retire_office_until(office, minute);
        }
        while let Some(&(start, wish)) = self.planned_starts.first() {
            if start > now {
                break;
            }
            let Some(planned) = self.planned.get(&wish).cloned() else {
                self.planned_starts.pop_first();
                continue;
            };
            // The proposal never reached the log and its start has passed: the
            // wish is idle again, the units are past.
            let withdrawn = self
                .engine_units(&planned.units)
                .and_then(|units| self.engine.hold_units(&units));
            match withdrawn {
                Ok(decisions) => self.plan(decisions),
                Err(error) => tracing::error!(%wish, %error, "withdrawing a planned proposal failed"),
            }
            self.unplan(&wish);
        }
    }

    fn retire_office_until(&mut self, office: &OfficeId, minute: DateTime<Utc>) {
        let (Some(zone), Some(index)) = (self.zones.get(office), self.engine.office_index(office)) else {
            return;
        };
        if let Some((date, time)) = zone.local_minute(minute)
            && let Err(error) = self.engine.retire_until(index, date, time)
        {
            tracing::error!(%office, %error, "retiring past units failed");
        }
    }

    /// Where the engine has `unit`; `None` if it has not seen it published.
    fn unit_status(&self, unit: &UnitRef) -> Option<UnitStatus> {
        self.engine.unit_status(&self.engine_unit(unit)?)
    }

    fn engine_unit(&self, unit: &UnitRef) -> Option<Unit> {
        Some(Unit {
            office: self.engine.office_index(&unit.office)?,
            date: unit.date,
            lane: unit.lane,
            start: unit.start,
        })
    }

    fn engine_units(&self, units: &[UnitRef]) -> Result<Vec<Unit>, MatchError> {
        units
            .iter()
            .map(|unit| {
                self.engine_unit(unit)
                    .ok_or_else(|| MatchError::UnregisteredOffice(unit.office.clone()))
            })
            .collect()
    }
}
