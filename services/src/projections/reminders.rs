//! What the reminder timer looks at: each office day's confirmed bookings
//! not yet reminded, with when the log recorded their confirmation (the
//! reminder decision needs it: a booking confirmed after the reminder time
//! gets none). A booking leaves when it is cancelled, lapses or is reminded.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use terminagent_domain::{BookingEvent, BookingId, DomainEvent, OfficeId, ReminderEvent, WishEvent};
use terminagent_eventstore::LogEvent;

use super::Projection;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RemindersView {
    /// Office day → booking → when its confirmation was recorded.
    unreminded: HashMap<(OfficeId, NaiveDate), BTreeMap<BookingId, DateTime<Utc>>>,
    day_of: HashMap<BookingId, (OfficeId, NaiveDate)>,
}

impl RemindersView {
    /// The office day's confirmed bookings not yet reminded (nor cancelled or
    /// lapsed), with when each was confirmed.
    pub fn unreminded(&self, office: &OfficeId, date: NaiveDate) -> Vec<(BookingId, DateTime<Utc>)> {
        self.unreminded
            .get(&(office.clone(), date))
            .map(|bookings| bookings.iter().map(|(booking, at)| (*booking, *at)).collect())
            .unwrap_or_default()
    }

    fn confirmed(&mut self, booking: BookingId, office: OfficeId, date: NaiveDate, at: DateTime<Utc>) {
        let day = (office, date);
        self.unreminded.entry(day.clone()).or_default().insert(booking, at);
        self.day_of.insert(booking, day);
    }

    fn done(&mut self, booking: &BookingId) {
        if let Some(day) = self.day_of.remove(booking)
            && let Some(bookings) = self.unreminded.get_mut(&day)
        {
            bookings.remove(booking);
            if bookings.is_empty() {
                self.unreminded.remove(&day);
            }
        }
    }
}

impl Projection for RemindersView {
    fn apply(&mut self, event: &LogEvent) {
        let stored = &event.event;
        let (event_type, data) = (stored.event_type.as_str(), stored.data.as_str());
        let skipped = |error: &dyn std::fmt::Display| tracing::error!(position = event.position, event_type, %error, "event does not decode; skipped");
        if ReminderEvent::EVENT_TYPES.contains(&event_type) {
            match ReminderEvent::from_stored_json(event_type, data) {
                Ok(ReminderEvent::Due(due)) => self.done(&due.booking),
                Err(error) => skipped(&error),
            }
        } else if matches!(event_type, "booking.confirmed" | "booking.cancelled" | "booking.lapsed") {
            match BookingEvent::from_stored_json(event_type, data) {
                Ok(BookingEvent::Confirmed(confirmed)) => self.confirmed(
                    confirmed.booking,
                    confirmed.office,
                    confirmed.date.as_naive(),
                    stored.recorded_at,
                ),
                Ok(BookingEvent::Cancelled(gone)) => self.done(&gone.booking),
                Ok(BookingEvent::Lapsed(gone)) => self.done(&gone.booking),
                Ok(_) => {}
                Err(error) => skipped(&error),
            }
        } else if event_type == "proposal.accepted" {
            match WishEvent::from_stored_json(event_type, data) {
                Ok(WishEvent::ProposalAccepted(accepted)) => self.confirmed(
                    accepted.booking,
                    accepted.office,
                    accepted.date.as_naive(),
                    stored.recorded_at,
                ),
                Ok(_) => {}
                Err(error) => skipped(&error),
            }
        }
    }
}
