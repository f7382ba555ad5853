//! Mail links and the bookings they act on, as the log tells them: token
//! hash → target, and each booking's current state.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use terminagent_domain::{BookingEvent, BookingId, BookingStatus, DomainEvent, IssuedLink, LinkAction, OfficeId};
use terminagent_eventstore::LogEvent;

use super::Projection;

/// What a link acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    pub booking: BookingId,
    pub action: LinkAction,
    pub expires_at: DateTime<Utc>,
}

/// A booking as link pages and answers show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingSummary {
    pub booking: BookingId,
    pub office: OfficeId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: BookingStatus,
    pub confirm_by: DateTime<Utc>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LinksView {
    links: HashMap<String, LinkTarget>,
    bookings: HashMap<BookingId, BookingSummary>,
}

impl LinksView {
    pub fn link(&self, token_hash: &str) -> Option<&LinkTarget> {
        self.links.get(token_hash)
    }

    pub fn booking(&self, booking: &BookingId) -> Option<&BookingSummary> {
        self.bookings.get(booking)
    }

    /// Pending bookings whose time to confirm has run out by `now`.
    pub fn lapse_due(&self, now: DateTime<Utc>) -> Vec<BookingId> {
        let mut due: Vec<BookingId> = self
            .bookings
            .values()
            .filter(|booking| booking.status == BookingStatus::PendingConfirmation && booking.confirm_by <= now)
            .map(|booking| booking.booking)
            .collect();
        due.sort();
        due
    }

    fn issue(&mut self, booking: BookingId, links: &[IssuedLink]) {
        for link in links {
            let target = LinkTarget {
                booking,
                action: link.action,
                expires_at: link.expires_at,
            };
            self.links.insert(link.token_hash.clone(), target);
        }
    }

    fn set_status(&mut self, booking: &BookingId, status: BookingStatus) {
        if let Some(summary) = self.bookings.get_mut(booking) {
            summary.status = status;
        }
    }
}

impl Projection for LinksView {
    fn apply(&mut self, event: &LogEvent) {
        let event_type = event.event.event_type.as_str();
        if !BookingEvent::EVENT_TYPES.contains(&event_type) {
            return;
        }
        let Ok(booking_event) = BookingEvent::from_stored_json(event_type, event.event.data.as_str()) else {
            tracing::error!(
                position = event.position,
                event_type,
                "booking event does not decode; skipped"
            );
            return;
        };
        match booking_event {
            BookingEvent::Requested(requested) => {
                let summary = BookingSummary {
                    booking: requested.booking,
                    office: requested.office,
                    start: requested.start,
                    end: requested.end,
                    status: BookingStatus::PendingConfirmation,
                    confirm_by: requested.confirm_by,
                };
                self.bookings.insert(requested.booking, summary);
                self.issue(requested.booking, &requested.links);
            }
            BookingEvent::Confirmed(confirmed) => {
                self.set_status(&confirmed.booking, BookingStatus::Confirmed(confirmed.number));
                self.issue(confirmed.booking, &confirmed.links);
            }
            BookingEvent::Cancelled(cancelled) => self.set_status(&cancelled.booking, BookingStatus::Cancelled),
            BookingEvent::Lapsed(lapsed) => self.set_status(&lapsed.booking, BookingStatus::Lapsed),
        }
    }
}
