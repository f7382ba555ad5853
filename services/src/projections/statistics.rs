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
//! No personal data is read (envelopes are never opened, not even kept),
//! so erasing a citizen's data changes nothing here, and every figure is a
//! function of the log alone: a replay gives the same view (invariant 6).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use terminagent_domain::{
    BookingEvent, BookingId, CatalogueEvent, CounterId, CounterTimes, DayFigures, DomainEvent, FloorEvent, OfficeId,
    OfficeTimeZone, ProposalId, UnitRef, WaitlistCounts, WishEvent, WishId,
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

    /// The office day a booking's units lie on; its start's local date
    /// when it names none.
    fn booking_day(&self, office: &OfficeId, units: &[UnitRef], start: DateTime<Utc>) -> NaiveDate {
        units
            .first()
            .map_or_else(|| self.local_date(office, start), |unit| unit.date.as_naive())
    }

    /// A booking placed: counted, and kept open until it ends.
    fn placed(&mut self, booking: BookingId, office: &OfficeId, date: NaiveDate, units: usize, confirmed: bool) {
        let units = units as u64;
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
            },
        );
        if confirmed {
            let day = self.day(office, date);
            day.bookings.confirmed += 1;
            day.units.booked += units;
        }
    }

    /// Where an ending booking counts: its open entry, or else its units' day.
    fn ending(&mut self, booking: &BookingId, units: &[UnitRef]) -> Option<(OfficeId, NaiveDate, bool)> {
        match self.bookings.remove(booking) {
            Some(open) => Some((open.office, open.date, open.confirmed)),
            None => units
                .first()
                .map(|unit| (unit.office.clone(), unit.date.as_naive(), false)),
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
                self.day(&requested.office, date).bookings.online += 1;
                self.placed(requested.booking, &requested.office, date, requested.units.len(), false);
            }
            BookingEvent::TicketIssued(ticket) => {
                let date = self.booking_day(&ticket.office, &ticket.units, ticket.start);
                self.day(&ticket.office, date).bookings.walk_in += 1;
                self.placed(ticket.booking, &ticket.office, date, ticket.units.len(), true);
            }
            BookingEvent::Confirmed(confirmed) => {
                let (office, date, units) = match self.bookings.get_mut(&confirmed.booking) {
                    Some(open) if !open.confirmed => {
                        open.confirmed = true;
                        (open.office.clone(), open.date, open.units)
                    }
                    Some(_) => return,
                    None => (confirmed.office, confirmed.date.as_naive(), 0),
                };
                let day = self.day(&office, date);
                day.bookings.confirmed += 1;
                day.units.booked += units;
            }
            BookingEvent::Cancelled(cancelled) => {
                let Some((office, date, confirmed)) = self.ending(&cancelled.booking, &cancelled.units) else {
                    return;
                };
                let day = self.day(&office, date);
                match cancelled.reason {
                    None => day.bookings.cancelled_by_citizen += 1,
                    Some(_) => day.bookings.cancelled_by_office += 1,
                }
                if confirmed {
                    day.units.returned += cancelled.units.len() as u64;
                }
            }
            BookingEvent::Lapsed(lapsed) => {
                if let Some((office, date, _)) = self.ending(&lapsed.booking, &lapsed.units) {
                    self.day(&office, date).bookings.lapsed += 1;
                }
            }
            // After `visit.missed` (which ended the booking here): the units
            // it freed are given back.
            BookingEvent::Released(released) => {
                if let Some(unit) = released.units.first() {
                    let (office, date) = (unit.office.clone(), unit.date.as_naive());
                    self.day(&office, date).units.returned += released.units.len() as u64;
                }
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
                self.wishes.remove(&accepted.wish);
                let date = self.booking_day(&accepted.office, &accepted.units, accepted.start);
                let day = self.day(&accepted.office, date);
                day.bookings.online += 1;
                day.bookings.from_waitlist += 1;
                self.placed(accepted.booking, &accepted.office, date, accepted.units.len(), true);
            }
            WishEvent::ProposalDeclined(closed) => self.answered(&closed.proposal, |waitlist| waitlist.declined += 1),
            WishEvent::ProposalExpired(closed) => self.answered(&closed.proposal, |waitlist| waitlist.expired += 1),
            WishEvent::ProposalWithdrawn(closed) => self.answered(&closed.proposal, |waitlist| waitlist.withdrawn += 1),
            WishEvent::Ended(ended) => {
                if let Some(proposal) = &ended.proposal {
                    self.proposals.remove(proposal);
                }
                if let Some(wish) = self.wishes.remove(&ended.wish) {
                    for (office, date) in &wish.offices {
                        self.day(office, *date).waitlist.count_ended(ended.reason);
                    }
                    self.waitlist.entry(wish.date).or_default().count_ended(ended.reason);
                }
            }
        }
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
                }
            }
            FloorEvent::Called(called) => {
                let visit = self.visit(called.booking, &office, date);
                if visit.called {
                    return;
                }
                visit.called = true;
                if let Some(from) = visit.waiting_from {
                    self.day(&office, date).waiting.record_between(from, called.called_at);
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
                if let Some(visit) = visit {
                    day.units.served += visit.units;
                    if let Some(started_at) = visit.started_at {
                        day.processing.record_between(started_at, finished.finished_at);
                    }
                }
            }
            FloorEvent::Missed(missed) => {
                self.bookings.remove(&missed.booking);
                self.day(&office, date).bookings.count_missed(missed.reason);
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
