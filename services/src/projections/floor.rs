//! The office floor as requests and the no-show timer see it (API.md "The
//! office floor"): each office day's [`FloorDay`], folded by the domain's own
//! rules from the floor events; the check-in codes (hash → booking); the
//! confirmed bookings not yet on the floor, by start (what the no-show timer
//! looks at); and each office's calls with their log positions (what the
//! call display's stream sends and resumes from).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use terminagent_domain::{
    BookingEvent, BookingId, Call, Decider, DomainEvent, FloorDay, FloorDecider, FloorEvent, OfficeId, WishEvent,
};
use terminagent_eventstore::LogEvent;

use super::Projection;

/// One call or recall and the log position of its event (the SSE `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedCall {
    pub position: u64,
    pub call: Call,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FloorView {
    days: HashMap<(OfficeId, NaiveDate), FloorDay>,
    /// Hex SHA-256 of a check-in code → its booking.
    codes: HashMap<String, BookingId>,
    /// Requested bookings' starts, until they are confirmed, cancelled or lapse.
    requested: HashMap<BookingId, DateTime<Utc>>,
    /// Confirmed bookings neither checked in nor missed, by start.
    expected: BTreeMap<DateTime<Utc>, BTreeSet<BookingId>>,
    expected_at: HashMap<BookingId, DateTime<Utc>>,
    /// Each office's calls and recalls, in log order.
    feeds: HashMap<OfficeId, Vec<FeedCall>>,
    /// Visits marked missed whose booking has released nothing yet (what
    /// the sweep of missed visits' units looks at).
    unreleased_misses: BTreeMap<BookingId, MissedVisit>,
}

/// A visit marked missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissedVisit {
    pub booking: BookingId,
    pub office: OfficeId,
    pub missed_at: DateTime<Utc>,
}

impl FloorView {
    /// The floor of an office day as the log has it so far (empty before anything happened).
    pub fn day(&self, office: &OfficeId, date: NaiveDate) -> Option<&FloorDay> {
        self.days.get(&(office.clone(), date))
    }

    /// The booking whose check-in code hashes to `code_hash`.
    pub fn booking_of_code(&self, code_hash: &str) -> Option<BookingId> {
        self.codes.get(code_hash).copied()
    }

    /// Confirmed bookings never checked in (nor marked missed) whose start
    /// lies in `[from, until)`, earliest first.
    pub fn not_arrived(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<BookingId> {
        if from >= until {
            return Vec::new();
        }
        self.expected
            .range(from..until)
            .flat_map(|(_, bookings)| bookings.iter().copied())
            .collect()
    }

    /// The office's calls and recalls after log position `after`, oldest first.
    pub fn calls_after(&self, office: &OfficeId, after: u64) -> &[FeedCall] {
        let Some(feed) = self.feeds.get(office) else {
            return &[];
        };
        &feed[feed.partition_point(|call| call.position <= after)..]
    }

    /// Misses since `since` whose units ahead are not released yet.
    pub fn unreleased_misses(&self, since: DateTime<Utc>) -> impl Iterator<Item = &MissedVisit> {
        self.unreleased_misses
            .values()
            .filter(move |miss| miss.missed_at >= since)
    }

    fn expect(&mut self, booking: BookingId, start: DateTime<Utc>) {
        self.expected.entry(start).or_default().insert(booking);
        self.expected_at.insert(booking, start);
    }

    fn arrived(&mut self, booking: &BookingId) {
        if let Some(start) = self.expected_at.remove(booking)
            && let Some(bookings) = self.expected.get_mut(&start)
        {
            bookings.remove(booking);
            if bookings.is_empty() {
                self.expected.remove(&start);
            }
        }
    }

    fn apply_booking(&mut self, event: BookingEvent) {
        match event {
            BookingEvent::Requested(requested) => {
                self.requested.insert(requested.booking, requested.start);
            }
            BookingEvent::Confirmed(confirmed) => {
                self.codes.insert(confirmed.checkin_code_hash, confirmed.booking);
                if let Some(start) = self.requested.remove(&confirmed.booking) {
                    self.expect(confirmed.booking, start);
                }
            }
            BookingEvent::Cancelled(gone) => {
                self.requested.remove(&gone.booking);
                self.arrived(&gone.booking);
            }
            // Born confirmed: its code checks in, and it is expected like a booking.
            BookingEvent::TicketIssued(ticket) => {
                self.codes.insert(ticket.checkin_code_hash, ticket.booking);
                self.expect(ticket.booking, ticket.start);
            }
            BookingEvent::Lapsed(gone) => {
                self.requested.remove(&gone.booking);
                self.arrived(&gone.booking);
            }
            BookingEvent::Released(released) => {
                self.unreleased_misses.remove(&released.booking);
            }
        }
    }

    fn apply_floor(&mut self, position: u64, event: &FloorEvent) {
        let (office, date) = event.office_day();
        let key = (office.clone(), date.as_naive());
        let day = self.days.remove(&key).unwrap_or_default();
        let day = FloorDecider::evolve(day, event);
        // The call the event made is the one `evolve` just appended.
        if matches!(event, FloorEvent::Called(_) | FloorEvent::Recalled(_))
            && let Some(call) = day.calls().last()
        {
            self.feeds.entry(office.clone()).or_default().push(FeedCall {
                position,
                call: call.clone(),
            });
        }
        self.days.insert(key, day);
        if let FloorEvent::CheckedIn(_) | FloorEvent::Missed(_) = event
            && let Some(booking) = event.booking()
        {
            self.arrived(&booking);
        }
        if let FloorEvent::Missed(missed) = event {
            self.unreleased_misses.insert(
                missed.booking,
                MissedVisit {
                    booking: missed.booking,
                    office: missed.office.clone(),
                    missed_at: missed.missed_at,
                },
            );
        }
    }
}

impl Projection for FloorView {
    fn apply(&mut self, event: &LogEvent) {
        let event_type = event.event.event_type.as_str();
        let data = event.event.data.as_str();
        let skipped = |error: &dyn std::fmt::Display| tracing::error!(position = event.position, event_type, %error, "event does not decode; skipped");
        if FloorEvent::EVENT_TYPES.contains(&event_type) {
            match FloorEvent::from_stored_json(event_type, data) {
                Ok(floor_event) => self.apply_floor(event.position, &floor_event),
                Err(error) => skipped(&error),
            }
        } else if BookingEvent::EVENT_TYPES.contains(&event_type) {
            match BookingEvent::from_stored_json(event_type, data) {
                Ok(booking_event) => self.apply_booking(booking_event),
                Err(error) => skipped(&error),
            }
        } else if event_type == "proposal.accepted" {
            match WishEvent::from_stored_json(event_type, data) {
                // A booking born confirmed.
                Ok(WishEvent::ProposalAccepted(accepted)) => {
                    self.codes.insert(accepted.checkin_code_hash, accepted.booking);
                    self.expect(accepted.booking, accepted.start);
                }
                Ok(_) => {}
                Err(error) => skipped(&error),
            }
        }
    }
}
