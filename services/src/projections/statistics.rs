//! Statistics folded from the log (API.md "Statistics", issue 14): per
//! office and office-local date a [`DayFigures`] (the domain's plain
//! counters and durations, `terminagent_domain::statistics`), per date the
//! waitlist over all offices, and only what is needed to finish the items
//! still open — a booking until it ends, a proposal until it is answered, a
//! wish until it is fulfilled or ends, a counter until it closes.
//!
//! What each event counts, and under which day:
//! - **Bookings** count under the office-local date of their start (the
//!   date of their units). `booking.requested` is an online booking,
//!   `proposal.accepted` one too (and one `from_waitlist`),
//!   `booking.ticket_issued` a walk-in. Confirmed: `booking.confirmed`,
//!   and every ticket and accepted proposal (born confirmed).
//!   `booking.cancelled` is the citizen's without a reason and the office's
//!   (staff, closure) with one; `booking.lapsed` lapsed.
//! - **Units**: `capacity.published` adds its units to its date,
//!   `capacity.withdrawn` takes its units out. A booking's units count as
//!   booked when it becomes confirmed; a confirmed booking cancelled gives
//!   them back, and `booking.released` (a missed visit's units ahead) gives
//!   back those it frees. Served units: the units of the bookings whose
//!   visit finished.
//! - **The floor** counts under the floor event's office day (the
//!   booking's). Served: `visit.finished`; missed: `visit.missed` (by its
//!   reason). Waiting time: from `max(check-in, start)` to the first
//!   `visit.called` (0 when called before the start); processing time:
//!   from the first `visit.started` to `visit.finished`; parking and
//!   recalls add nothing. Counters: open and paused time of spans that
//!   ended (see [`CounterTimes`]).
//! - **The waitlist**: a wish counts under the office-local date of its
//!   registration (`registered_at`), at every office it names, and once in
//!   the all-offices figures (dated in its first office's zone); its end
//!   (`wish.ended`, by reason) and the time to its first proposal (the
//!   recorded time of its first `proposal.made` minus `registered_at`)
//!   count under that same date. A proposal counts under the office-local
//!   date it was made (its recorded time) at its office, and so do its
//!   answer (accepted, declined, expired, withdrawn by a closure). A
//!   proposal withdrawn because its wish ended is counted only as the
//!   wish's end.
//!
//! - **Hours and services**: each booking's figures above (bookings by
//!   outcome, waiting and processing) count once more in the slice of the
//!   office-local hour of its start (its first unit's start) and in the
//!   slice of each service it names (`DayFigures::by_hour`, `by_service`).
//! - **Refilled units**: units given back (`booking.cancelled`,
//!   `booking.lapsed`, `booking.released`) and taken again by a later
//!   booking count under their own day, by whom: an accepted proposal
//!   (the waitlist) or a request or ticket (public).
//! - **Kiosk estimates**: a `visit.checked_in` that carries the call window
//!   the kiosk showed counts as estimated; its first `visit.called` falls
//!   below, inside or above that window.
//! - **Waitlist left**: a wish leaves the queue (accepted, or ended) under
//!   the office-local date of that event, at every office it names.
//!
//! No personal data is read (envelopes are never opened, not even kept),
//! so erasing a citizen's data changes nothing here, and every figure is a
//! function of the log alone: a replay gives the same view (invariant 6).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use terminagent_domain::floor::EstimatedCall;
use terminagent_domain::statistics::{EstimateOutcome, SliceFigures};
use terminagent_domain::{
    BookingEvent, BookingId, CatalogueEvent, CounterId, CounterTimes, DayFigures, DomainEvent, FloorEvent, OfficeId,
    OfficeTimeZone, ProposalId, ServiceId, UnitRef, WaitlistCounts, WishEvent, WishId,
};
use terminagent_eventstore::LogEvent;

use super::Projection;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatisticsView {
    /// Each office's days.
    days: BTreeMap<OfficeId, BTreeMap<NaiveDate, DayFigures>>,
    /// The waitlist of all offices together, per date (a wish counts once).
    waitlist: BTreeMap<NaiveDate, WaitlistCounts>,
    /// Each office's zone (the waitlist's dates are local).
    zones: HashMap<OfficeId, OfficeTimeZone>,
    /// Bookings not yet ended (cancelled, lapsed, finished or missed).
    bookings: HashMap<BookingId, OpenBooking>,
    /// Proposals not yet answered, and the office day they count under.
    proposals: HashMap<ProposalId, (OfficeId, NaiveDate)>,
    /// Wishes neither fulfilled nor ended.
    wishes: HashMap<WishId, OpenWish>,
    /// Counters open or paused, since when.
    counters: HashMap<(OfficeId, NaiveDate, CounterId), CounterSpan>,
    /// Units given back and not taken again since.
    freed: HashSet<UnitRef>,
}

/// A booking still open: what its end and its visit need.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OpenBooking {
    office: OfficeId,
    date: NaiveDate,
    units: u64,
    confirmed: bool,
    /// `max(check-in, start)`, once checked in.
    waiting_from: Option<DateTime<Utc>>,
    called: bool,
    /// The first start of service.
    started_at: Option<DateTime<Utc>>,
    /// Its slices: the local hour of its start and its services.
    slice: Slice,
    /// The call window the kiosk estimated at check-in.
    estimate: Option<EstimatedCall>,
}

/// Which slices of its day a booking counts in; none (`Default`) for a
/// visit whose booking this view never saw placed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Slice {
    hour: Option<u8>,
    services: Vec<ServiceId>,
}

/// A wish still waiting: where and under which dates it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OpenWish {
    /// Each office it names, with its registration date there.
    offices: Vec<(OfficeId, NaiveDate)>,
    /// Its registration date in the all-offices figures.
    date: NaiveDate,
    registered_at: DateTime<Utc>,
    proposed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CounterSpan {
    paused: bool,
    since: DateTime<Utc>,
}

impl StatisticsView {
    /// The figures of each date from `from` to `to` (inclusive), of one
    /// office or (`None`) of all offices added up, with the waitlist of all
    /// offices counting each wish once. Days without anything are empty
    /// figures.
    pub fn days(&self, office: Option<&OfficeId>, from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, DayFigures)> {
        from.iter_days()
            .take_while(|date| *date <= to)
            .map(|date| {
                let figures = match office {
                    Some(office) => self
                        .days
                        .get(office)
                        .and_then(|days| days.get(&date))
                        .cloned()
                        .unwrap_or_default(),
                    None => {
                        let mut figures = DayFigures::default();
                        for days in self.days.values() {
                            if let Some(day) = days.get(&date) {
                                figures.merge_floor_and_bookings(day);
                            }
                        }
                        figures.waitlist = self.waitlist.get(&date).cloned().unwrap_or_default();
                        figures
                    }
                };
                (date, figures)
            })
            .collect()
    }

    /// The figures of one office day, if anything happened on it.
    pub fn day_figures(&self, office: &OfficeId, date: NaiveDate) -> Option<&DayFigures> {
        self.days.get(office)?.get(&date)
    }

    /// Wishes waiting now (registered, neither fulfilled nor ended): of
    /// every office together, and per office they name.
    pub fn waiting_wishes(&self) -> (u64, BTreeMap<OfficeId, u64>) {
        let mut per_office: BTreeMap<OfficeId, u64> = BTreeMap::new();
        for wish in self.wishes.values() {
            for (office, _) in &wish.offices {
                *per_office.entry(office.clone()).or_default() += 1;
            }
        }
        (self.wishes.len() as u64, per_office)
    }

    /// Wishes waiting at the end of each date from `from` to `to`, of one
    /// office or (`None`) all: every wish registered by then minus every
    /// one that left the queue by then.
    pub fn waiting_wishes_by_date(
        &self,
        office: Option<&OfficeId>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<(NaiveDate, u64)> {
        let empty = BTreeMap::new();
        let dates: Box<dyn Iterator<Item = (&NaiveDate, &WaitlistCounts)>> = match office {
            None => Box::new(self.waitlist.iter()),
            Some(office) => Box::new(
                self.days
                    .get(office)
                    .unwrap_or(&empty)
                    .iter()
                    .map(|(date, day)| (date, &day.waitlist)),
            ),
        };
        let mut changes = dates.filter(|(date, _)| **date <= to).peekable();
        let mut waiting: i64 = 0;
        let mut answer = Vec::new();
        for date in from.iter_days().take_while(|date| *date <= to) {
            while let Some((_, counts)) = changes.next_if(|(day, _)| **day <= date) {
                waiting += counts.registered as i64 - counts.left as i64;
            }
            answer.push((date, waiting.max(0) as u64));
        }
        answer
    }

    fn day(&mut self, office: &OfficeId, date: NaiveDate) -> &mut DayFigures {
        self.days.entry(office.clone()).or_default().entry(date).or_default()
    }

    /// The office-local date of `instant` (UTC's for an office not seen).
    fn local_date(&self, office: &OfficeId, instant: DateTime<Utc>) -> NaiveDate {
        match self.zones.get(office) {
            Some(zone) => zone.today(instant),
            None => instant.date_naive(),
        }
    }

    /// Counts `count` in each slice of `slice` on the office day.
    fn slices(&mut self, office: &OfficeId, date: NaiveDate, slice: &Slice, count: impl Fn(&mut SliceFigures)) {
        let day = self.day(office, date);
        if let Some(hour) = slice.hour {
            count(day.by_hour.entry(hour).or_default());
        }
        for service in &slice.services {
            count(day.by_service.entry(service.clone()).or_default());
        }
    }

    /// A booking's slices: the local hour of its first unit (or its
    /// start's), and its services.
    fn slice_of(&self, office: &OfficeId, units: &[UnitRef], start: DateTime<Utc>, services: &[ServiceId]) -> Slice {
        let hour = match units.first() {
            Some(unit) => unit.start.hour(),
            None => match self.zones.get(office) {
                Some(zone) => zone.to_local(start).hour(),
                None => start.hour(),
            },
        };
        Slice {
            hour: Some(hour as u8),
            services: services.to_vec(),
        }
    }

    /// Units given back: free to be taken again.
    fn freed_units(&mut self, units: &[UnitRef]) {
        self.freed.extend(units.iter().cloned());
    }

    /// Units taken by a new booking: those given back before count as
    /// refilled, by the waitlist or publicly.
    fn taken_units(&mut self, units: &[UnitRef], from_waitlist: bool) {
        for unit in units {
            if self.freed.remove(unit) {
                let counts = &mut self.day(&unit.office, unit.date.as_naive()).units;
                match from_waitlist {
                    true => counts.refilled_from_waitlist += 1,
                    false => counts.refilled_publicly += 1,
                }
            }
        }
    }

    /// The office day a booking's units lie on; its start's local date
    /// when it names none.
    fn booking_day(&self, office: &OfficeId, units: &[UnitRef], start: DateTime<Utc>) -> NaiveDate {
        units
            .first()
            .map_or_else(|| self.local_date(office, start), |unit| unit.date.as_naive())
    }

    /// A booking placed: counted, and kept open until it ends.
    fn placed(
        &mut self,
        booking: BookingId,
        office: &OfficeId,
        date: NaiveDate,
        units: usize,
        confirmed: bool,
        slice: Slice,
    ) {
        let units = units as u64;
        if confirmed {
            let day = self.day(office, date);
            day.bookings.confirmed += 1;
            day.units.booked += units;
            self.slices(office, date, &slice, |figures| figures.bookings.confirmed += 1);
        }
        self.bookings.insert(
            booking,
            OpenBooking {
                office: office.clone(),
                date,
                units,
                confirmed,
                waiting_from: None,
                called: false,
                started_at: None,
                slice,
                estimate: None,
            },
        );
    }

    /// Where an ending booking counts: its open entry, or else its units'
    /// day (and hour; its services unknown).
    fn ending(&mut self, booking: &BookingId, units: &[UnitRef]) -> Option<(OfficeId, NaiveDate, bool, Slice)> {
        match self.bookings.remove(booking) {
            Some(open) => Some((open.office, open.date, open.confirmed, open.slice)),
            None => units.first().map(|unit| {
                let slice = Slice {
                    hour: Some(unit.start.hour() as u8),
                    services: Vec::new(),
                };
                (unit.office.clone(), unit.date.as_naive(), false, slice)
            }),
        }
    }

    fn apply_catalogue(&mut self, event: CatalogueEvent) {
        match event {
            CatalogueEvent::OfficeRegistered(details) | CatalogueEvent::OfficeDetailsChanged(details) => {
                self.zones.insert(details.office, details.timezone);
            }
            CatalogueEvent::CapacityPublished(published) => {
                self.day(&published.office, published.date.as_naive()).units.published += u64::from(published.units);
            }
            CatalogueEvent::CapacityWithdrawn(withdrawn) => {
                self.day(&withdrawn.office, withdrawn.date.as_naive()).units.withdrawn += withdrawn.units.len() as u64;
            }
            CatalogueEvent::ServiceRegistered(_) | CatalogueEvent::ServiceDetailsChanged(_) => {}
        }
    }

    fn apply_booking(&mut self, event: BookingEvent) {
        match event {
            BookingEvent::Requested(requested) => {
                let date = self.booking_day(&requested.office, &requested.units, requested.start);
                let slice = self.slice_of(
                    &requested.office,
                    &requested.units,
                    requested.start,
                    &requested.services,
                );
                self.day(&requested.office, date).bookings.online += 1;
                self.slices(&requested.office, date, &slice, |figures| figures.bookings.online += 1);
                self.taken_units(&requested.units, false);
                self.placed(
                    requested.booking,
                    &requested.office,
                    date,
                    requested.units.len(),
                    false,
                    slice,
                );
            }
            BookingEvent::TicketIssued(ticket) => {
                let date = self.booking_day(&ticket.office, &ticket.units, ticket.start);
                let slice = self.slice_of(&ticket.office, &ticket.units, ticket.start, &ticket.services);
                self.day(&ticket.office, date).bookings.walk_in += 1;
                self.slices(&ticket.office, date, &slice, |figures| figures.bookings.walk_in += 1);
                self.taken_units(&ticket.units, false);
                self.placed(ticket.booking, &ticket.office, date, ticket.units.len(), true, slice);
            }
            BookingEvent::Confirmed(confirmed) => {
                let (office, date, units, slice) = match self.bookings.get_mut(&confirmed.booking) {
                    Some(open) if !open.confirmed => {
                        open.confirmed = true;
                        (open.office.clone(), open.date, open.units, Some(open.slice.clone()))
                    }
                    Some(_) => return,
                    None => (confirmed.office, confirmed.date.as_naive(), 0, None),
                };
                let day = self.day(&office, date);
                day.bookings.confirmed += 1;
                day.units.booked += units;
                if let Some(slice) = slice {
                    self.slices(&office, date, &slice, |figures| figures.bookings.confirmed += 1);
                }
            }
            BookingEvent::Cancelled(cancelled) => {
                let Some((office, date, confirmed, slice)) = self.ending(&cancelled.booking, &cancelled.units) else {
                    return;
                };
                let by_citizen = cancelled.reason.is_none();
                let count = |figures: &mut terminagent_domain::BookingCounts| match by_citizen {
                    true => figures.cancelled_by_citizen += 1,
                    false => figures.cancelled_by_office += 1,
                };
                let day = self.day(&office, date);
                count(&mut day.bookings);
                if confirmed {
                    day.units.returned += cancelled.units.len() as u64;
                }
                self.slices(&office, date, &slice, |figures| count(&mut figures.bookings));
                self.freed_units(&cancelled.units);
            }
            BookingEvent::Lapsed(lapsed) => {
                if let Some((office, date, _, slice)) = self.ending(&lapsed.booking, &lapsed.units) {
                    self.day(&office, date).bookings.lapsed += 1;
                    self.slices(&office, date, &slice, |figures| figures.bookings.lapsed += 1);
                }
                self.freed_units(&lapsed.units);
            }
            // After `visit.missed` (which ended the booking here): the units
            // it freed are given back.
            BookingEvent::Released(released) => {
                if let Some(unit) = released.units.first() {
                    let (office, date) = (unit.office.clone(), unit.date.as_naive());
                    self.day(&office, date).units.returned += released.units.len() as u64;
                }
                self.freed_units(&released.units);
            }
        }
    }

    fn apply_wish(&mut self, event: WishEvent, recorded_at: DateTime<Utc>) {
        match event {
            WishEvent::Registered(registered) => {
                let offices: Vec<(OfficeId, NaiveDate)> = registered
                    .offices
                    .iter()
                    .map(|office| (office.clone(), self.local_date(office, registered.registered_at)))
                    .collect();
                let date = offices
                    .first()
                    .map_or_else(|| registered.registered_at.date_naive(), |(_, date)| *date);
                for (office, date) in &offices {
                    self.day(office, *date).waitlist.registered += 1;
                }
                self.waitlist.entry(date).or_default().registered += 1;
                self.wishes.insert(
                    registered.wish,
                    OpenWish {
                        offices,
                        date,
                        registered_at: registered.registered_at,
                        proposed: false,
                    },
                );
            }
            // Counted at its registration; one never confirmed leaves the
            // queue when it lapses (`wish.ended`, reason `unconfirmed`).
            WishEvent::Confirmed(_) => {}
            WishEvent::ProposalMade(made) => {
                let date = self.local_date(&made.office, recorded_at);
                self.day(&made.office, date).waitlist.proposals += 1;
                self.waitlist.entry(date).or_default().proposals += 1;
                self.proposals.insert(made.proposal, (made.office, date));
                if let Some(wish) = self.wishes.get_mut(&made.wish)
                    && !wish.proposed
                {
                    wish.proposed = true;
                    let wish = wish.clone();
                    let record = |waitlist: &mut WaitlistCounts| {
                        waitlist
                            .to_first_proposal
                            .record_between(wish.registered_at, recorded_at)
                    };
                    for (office, date) in &wish.offices {
                        record(&mut self.day(office, *date).waitlist);
                    }
                    record(self.waitlist.entry(wish.date).or_default());
                }
            }
            WishEvent::ProposalAccepted(accepted) => {
                self.answered(&accepted.proposal, |waitlist| waitlist.accepted += 1);
                self.left_queue(&accepted.wish, recorded_at);
                let date = self.booking_day(&accepted.office, &accepted.units, accepted.start);
                let slice = self.slice_of(&accepted.office, &accepted.units, accepted.start, &accepted.services);
                let day = self.day(&accepted.office, date);
                day.bookings.online += 1;
                day.bookings.from_waitlist += 1;
                self.slices(&accepted.office, date, &slice, |figures| {
                    figures.bookings.online += 1;
                    figures.bookings.from_waitlist += 1;
                });
                self.taken_units(&accepted.units, true);
                self.placed(
                    accepted.booking,
                    &accepted.office,
                    date,
                    accepted.units.len(),
                    true,
                    slice,
                );
            }
            WishEvent::ProposalDeclined(closed) => self.answered(&closed.proposal, |waitlist| waitlist.declined += 1),
            WishEvent::ProposalExpired(closed) => self.answered(&closed.proposal, |waitlist| waitlist.expired += 1),
            WishEvent::ProposalWithdrawn(closed) => self.answered(&closed.proposal, |waitlist| waitlist.withdrawn += 1),
            WishEvent::Ended(ended) => {
                if let Some(proposal) = &ended.proposal {
                    self.proposals.remove(proposal);
                }
                if let Some(wish) = self.left_queue(&ended.wish, recorded_at) {
                    for (office, date) in &wish.offices {
                        self.day(office, *date).waitlist.count_ended(ended.reason);
                    }
                    self.waitlist.entry(wish.date).or_default().count_ended(ended.reason);
                }
            }
        }
    }

    /// A wish leaves the queue at `at`: counted under that date at each of
    /// its offices and in all offices' figures (dated in its first office's zone).
    fn left_queue(&mut self, wish: &WishId, at: DateTime<Utc>) -> Option<OpenWish> {
        let wish = self.wishes.remove(wish)?;
        for (office, _) in &wish.offices {
            let date = self.local_date(office, at);
            self.day(office, date).waitlist.left += 1;
        }
        let date = match wish.offices.first() {
            Some((office, _)) => self.local_date(office, at),
            None => at.date_naive(),
        };
        self.waitlist.entry(date).or_default().left += 1;
        Some(wish)
    }

    /// An answer to an open proposal, counted where the proposal was.
    fn answered(&mut self, proposal: &ProposalId, count: impl Fn(&mut WaitlistCounts)) {
        if let Some((office, date)) = self.proposals.remove(proposal) {
            count(&mut self.day(&office, date).waitlist);
            count(self.waitlist.entry(date).or_default());
        }
    }

    /// The open booking a visit belongs to (known from the floor event
    /// alone if its booking came before this view's log).
    fn visit(&mut self, booking: BookingId, office: &OfficeId, date: NaiveDate) -> &mut OpenBooking {
        self.bookings.entry(booking).or_insert_with(|| OpenBooking {
            office: office.clone(),
            date,
            units: 0,
            confirmed: true,
            waiting_from: None,
            called: false,
            started_at: None,
            slice: Slice::default(),
            estimate: None,
        })
    }

    fn apply_floor(&mut self, event: FloorEvent) {
        let (office, date) = event.office_day();
        let (office, date) = (office.clone(), date.as_naive());
        match event {
            FloorEvent::CheckedIn(checked_in) => {
                let visit = self.visit(checked_in.booking, &office, date);
                if visit.waiting_from.is_none() && !visit.called {
                    visit.waiting_from = Some(checked_in.checked_in_at.max(checked_in.start));
                    if checked_in.estimate.is_some() {
                        visit.estimate = checked_in.estimate;
                        self.day(&office, date).estimates.estimated += 1;
                    }
                }
            }
            FloorEvent::Called(called) => {
                let visit = self.visit(called.booking, &office, date);
                if visit.called {
                    return;
                }
                visit.called = true;
                let (waiting_from, estimate, slice) = (visit.waiting_from, visit.estimate, visit.slice.clone());
                let day = self.day(&office, date);
                if let Some(estimate) = estimate {
                    day.estimates.count(EstimateOutcome::of(&estimate, called.called_at));
                }
                if let Some(from) = waiting_from {
                    day.waiting.record_between(from, called.called_at);
                    self.slices(&office, date, &slice, |figures| {
                        figures.waiting.record_between(from, called.called_at)
                    });
                }
            }
            FloorEvent::Started(started) => {
                let visit = self.visit(started.booking, &office, date);
                visit.started_at.get_or_insert(started.started_at);
            }
            FloorEvent::Finished(finished) => {
                let visit = self.bookings.remove(&finished.booking);
                let day = self.day(&office, date);
                day.bookings.served += 1;
                let Some(visit) = visit else { return };
                day.units.served += visit.units;
                if let Some(started_at) = visit.started_at {
                    day.processing.record_between(started_at, finished.finished_at);
                }
                self.slices(&office, date, &visit.slice, |figures| {
                    figures.bookings.served += 1;
                    if let Some(started_at) = visit.started_at {
                        figures.processing.record_between(started_at, finished.finished_at);
                    }
                });
            }
            FloorEvent::Missed(missed) => {
                let visit = self.bookings.remove(&missed.booking);
                self.day(&office, date).bookings.count_missed(missed.reason);
                if let Some(visit) = visit {
                    self.slices(&office, date, &visit.slice, |figures| {
                        figures.bookings.count_missed(missed.reason)
                    });
                }
            }
            FloorEvent::CounterOpened(opened) => {
                self.counter_span_ends(&office, date, &opened.counter, opened.opened_at, Some(false));
            }
            FloorEvent::CounterPaused(paused) => {
                self.counter_span_ends(&office, date, &paused.counter, paused.paused_at, Some(true));
            }
            FloorEvent::CounterClosed(closed) => {
                self.counter_span_ends(&office, date, &closed.counter, closed.closed_at, None);
            }
            FloorEvent::Recalled(_) | FloorEvent::Parked(_) | FloorEvent::Returned(_) => {}
        }
    }

    /// The counter's current span (open or paused) ends at `at`, and a new
    /// one begins: paused (`Some(true)`), open (`Some(false)`) or none (closed).
    fn counter_span_ends(
        &mut self,
        office: &OfficeId,
        date: NaiveDate,
        counter: &CounterId,
        at: DateTime<Utc>,
        next: Option<bool>,
    ) {
        let key = (office.clone(), date, counter.clone());
        if let Some(span) = self.counters.remove(&key) {
            let seconds = (at - span.since).num_seconds().max(0) as u64;
            let times: &mut CounterTimes = &mut self.day(office, date).counters;
            match span.paused {
                true => times.paused_seconds += seconds,
                false => times.open_seconds += seconds,
            }
        }
        if let Some(paused) = next {
            self.counters.insert(key, CounterSpan { paused, since: at });
        }
    }
}

impl Projection for StatisticsView {
    fn apply(&mut self, event: &LogEvent) {
        let event_type = event.event.event_type.as_str();
        let data = event.event.data.as_str();
        let skipped = |error: &dyn std::fmt::Display| tracing::error!(position = event.position, event_type, %error, "event does not decode; skipped");
        if BookingEvent::EVENT_TYPES.contains(&event_type) {
            match BookingEvent::from_stored_json(event_type, data) {
                Ok(booking_event) => self.apply_booking(booking_event),
                Err(error) => skipped(&error),
            }
        } else if FloorEvent::EVENT_TYPES.contains(&event_type) {
            match FloorEvent::from_stored_json(event_type, data) {
                Ok(floor_event) => self.apply_floor(floor_event),
                Err(error) => skipped(&error),
            }
        } else if WishEvent::EVENT_TYPES.contains(&event_type) {
            match WishEvent::from_stored_json(event_type, data) {
                Ok(wish_event) => self.apply_wish(wish_event, event.event.recorded_at),
                Err(error) => skipped(&error),
            }
        } else if CatalogueEvent::EVENT_TYPES.contains(&event_type) {
            match CatalogueEvent::from_stored_json(event_type, data) {
                Ok(catalogue_event) => self.apply_catalogue(catalogue_event),
                Err(error) => skipped(&error),
            }
        }
    }
}
