//! Free capacity: per office-day the published units, and which are held.

use std::collections::{BTreeMap, BTreeSet};

use terminagent_domain::{
    BookingEvent, CatalogueEvent, DomainEvent, FreeSlot, LocalDate, OfficeDayCapacity, OfficeId, UnitRef, free_slots,
};
use terminagent_eventstore::LogEvent;

use super::Projection;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AvailabilityView {
    days: BTreeMap<(OfficeId, LocalDate), OfficeDayCapacity>,
    held: BTreeSet<UnitRef>,
}

impl AvailabilityView {
    /// The starts on that day at which a booking of `needed_minutes` fits.
    pub fn slots(&self, office: &OfficeId, date: LocalDate, needed_minutes: u32) -> Vec<FreeSlot> {
        match self.days.get(&(office.clone(), date)) {
            Some(capacity) => free_slots(capacity, office, date, needed_minutes, |unit| self.held.contains(unit)),
            None => Vec::new(),
        }
    }
}

impl Projection for AvailabilityView {
    fn apply(&mut self, event: &LogEvent) {
        let (event_type, data) = (event.event.event_type.as_str(), event.event.data.as_str());
        if event_type == "capacity.published" {
            if let Ok(CatalogueEvent::CapacityPublished(published)) = CatalogueEvent::from_stored_json(event_type, data)
            {
                self.days
                    .entry((published.office.clone(), published.date))
                    .or_default()
                    .record(&published);
            }
        } else if BookingEvent::EVENT_TYPES.contains(&event_type) {
            match BookingEvent::from_stored_json(event_type, data) {
                Ok(BookingEvent::Requested(requested)) => self.held.extend(requested.units),
                Ok(BookingEvent::Cancelled(ended)) => ended.units.iter().for_each(|unit| {
                    self.held.remove(unit);
                }),
                Ok(BookingEvent::Lapsed(ended)) => ended.units.iter().for_each(|unit| {
                    self.held.remove(unit);
                }),
                Ok(BookingEvent::Confirmed(_)) => {}
                Err(error) => {
                    tracing::error!(position = event.position, %error, "booking event does not decode; skipped")
                }
            }
        }
    }
}
