//! Each office-day's bookings as the day list shows them (API.md "Opening
//! hours, closures and the day list"): start, lane, services, waiting
//! number, status, and the sealed envelope to open for the name.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use terminagent_domain::{
    BookingEvent, BookingId, DomainEvent, FloorEvent, OfficeId, SealedPersonalData, ServiceId, UnitRef, VisitStatus,
    WaitingNumber, WishEvent,
};
use terminagent_eventstore::LogEvent;

use super::Projection;

/// Where a booking stands on the day list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayListStatus {
    PendingConfirmation,
    Confirmed,
    Cancelled,
    Lapsed,
    /// Checked in, and on from there (the floor's events).
    Visit(VisitStatus),
}

impl DayListStatus {
    /// API.md's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            DayListStatus::PendingConfirmation => "pending_confirmation",
            DayListStatus::Confirmed => "confirmed",
            DayListStatus::Cancelled => "cancelled",
            DayListStatus::Lapsed => "lapsed",
            DayListStatus::Visit(status) => status.as_str(),
        }
    }
}

/// One booking on the day list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayListEntry {
    pub booking: BookingId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub lane: u16,
    pub services: Vec<ServiceId>,
    pub number: Option<WaitingNumber>,
    pub status: DayListStatus,
    /// The citizen's envelope; `None` for bookings without personal data.
    pub citizen: Option<SealedPersonalData>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DayListView {
    days: HashMap<(OfficeId, NaiveDate), BTreeMap<BookingId, DayListEntry>>,
    /// Each booking's office-day, to find it again when it changes.
    day_of: HashMap<BookingId, (OfficeId, NaiveDate)>,
}

impl DayListView {
    /// An office-day's bookings, sorted by start (then booking id).
    pub fn day(&self, office: &OfficeId, date: NaiveDate) -> Vec<DayListEntry> {
        let mut entries: Vec<DayListEntry> = self
            .days
            .get(&(office.clone(), date))
            .map(|bookings| bookings.values().cloned().collect())
            .unwrap_or_default();
        entries.sort_by_key(|entry| (entry.start, entry.booking));
        entries
    }

    fn insert(&mut self, units: &[UnitRef], entry: DayListEntry) {
        let Some(first) = units.first() else { return };
        let key = (first.office.clone(), first.date.as_naive());
        self.day_of.insert(entry.booking, key.clone());
        self.days.entry(key).or_default().insert(entry.booking, entry);
    }

    fn update(&mut self, booking: &BookingId, change: impl FnOnce(&mut DayListEntry)) {
        if let Some(key) = self.day_of.get(booking)
            && let Some(entry) = self.days.get_mut(key).and_then(|day| day.get_mut(booking))
        {
            change(entry);
        }
    }
}

/// Where a floor event leaves its visit; `None` for a counter's events.
fn visit_status_after(event: &FloorEvent) -> Option<VisitStatus> {
    Some(match event {
        FloorEvent::CheckedIn(_) | FloorEvent::Returned(_) => VisitStatus::CheckedIn,
        FloorEvent::Called(_) | FloorEvent::Recalled(_) => VisitStatus::Called,
        FloorEvent::Started(_) => VisitStatus::Serving,
        FloorEvent::Parked(_) => VisitStatus::Parked,
        FloorEvent::Finished(_) => VisitStatus::Finished,
        FloorEvent::Missed(_) => VisitStatus::Missed,
        FloorEvent::CounterOpened(_) | FloorEvent::CounterPaused(_) | FloorEvent::CounterClosed(_) => return None,
    })
}

impl Projection for DayListView {
    fn apply(&mut self, event: &LogEvent) {
        let event_type = event.event.event_type.as_str();
        let data = event.event.data.as_str();
        if BookingEvent::EVENT_TYPES.contains(&event_type) {
            let Ok(booking_event) = BookingEvent::from_stored_json(event_type, data) else {
                tracing::error!(
                    position = event.position,
                    event_type,
                    "booking event does not decode; skipped"
                );
                return;
            };
            match booking_event {
                BookingEvent::Requested(requested) => self.insert(
                    &requested.units,
                    DayListEntry {
                        booking: requested.booking,
                        start: requested.start,
                        end: requested.end,
                        lane: requested.units.first().map_or(0, |unit| unit.lane),
                        services: requested.services,
                        number: None,
                        status: DayListStatus::PendingConfirmation,
                        citizen: Some(requested.citizen),
                    },
                ),
                BookingEvent::Confirmed(confirmed) => self.update(&confirmed.booking, |entry| {
                    entry.number = Some(confirmed.number);
                    entry.status = DayListStatus::Confirmed;
                }),
                BookingEvent::Cancelled(cancelled) => {
                    self.update(&cancelled.booking, |entry| entry.status = DayListStatus::Cancelled)
                }
                BookingEvent::Lapsed(lapsed) => {
                    self.update(&lapsed.booking, |entry| entry.status = DayListStatus::Lapsed)
                }
                // The floor's `visit.missed` says what became of the visit.
                BookingEvent::Released(_) => {}
                // A walk-in: confirmed at once, no name to show.
                BookingEvent::TicketIssued(ticket) => self.insert(
                    &ticket.units,
                    DayListEntry {
                        booking: ticket.booking,
                        start: ticket.start,
                        end: ticket.end,
                        lane: ticket.units.first().map_or(0, |unit| unit.lane),
                        services: ticket.services,
                        number: Some(ticket.number),
                        status: DayListStatus::Confirmed,
                        citizen: None,
                    },
                ),
            }
        } else if FloorEvent::EVENT_TYPES.contains(&event_type) {
            let Ok(floor_event) = FloorEvent::from_stored_json(event_type, data) else {
                tracing::error!(
                    position = event.position,
                    event_type,
                    "floor event does not decode; skipped"
                );
                return;
            };
            if let (Some(booking), Some(status)) = (floor_event.booking(), visit_status_after(&floor_event)) {
                self.update(&booking, |entry| entry.status = DayListStatus::Visit(status));
            }
        } else if event_type == "proposal.accepted" {
            let Ok(WishEvent::ProposalAccepted(accepted)) = WishEvent::from_stored_json(event_type, data) else {
                tracing::error!(
                    position = event.position,
                    event_type,
                    "proposal event does not decode; skipped"
                );
                return;
            };
            self.insert(
                &accepted.units,
                DayListEntry {
                    booking: accepted.booking,
                    start: accepted.start,
                    end: accepted.end,
                    lane: accepted.units.first().map_or(0, |unit| unit.lane),
                    services: accepted.services,
                    number: Some(accepted.number),
                    status: DayListStatus::Confirmed,
                    citizen: Some(accepted.citizen),
                },
            );
        }
    }
}
