//! Free capacity: per office-day the published units, which are held, and
//! which the waitlist keeps for waiting wishes (API.md "Availability").

use std::collections::{BTreeMap, BTreeSet};

use terminagent_domain::{
    BookingEvent, BookingInput, CatalogueEvent, DomainEvent, FreeSlot, HoldChange, LocalDate, OfficeDayCapacity,
    OfficeId, UnitRef, UnitSpan, WishEvent, free_slots,
};
use terminagent_eventstore::LogEvent;

use super::Projection;
use crate::waitlist::Waitlist;

/// What a published unit is to a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitUse {
    Free,
    /// Held by a booking or a proposal.
    Held,
    /// Free in the log, but kept back for a waiting wish (invariant 4).
    KeptForWish,
    /// Not held, and its start has passed as the log's time tells it.
    Started,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AvailabilityView {
    days: BTreeMap<(OfficeId, LocalDate), OfficeDayCapacity>,
    held: BTreeSet<UnitRef>,
    waitlist: Waitlist,
}

impl AvailabilityView {
    /// The starts on that day at which a booking of `needed_minutes` fits:
    /// units neither held nor kept for a waiting wish (invariant 4).
    pub fn slots(&self, office: &OfficeId, date: LocalDate, needed_minutes: u32) -> Vec<FreeSlot> {
        match self.days.get(&(office.clone(), date)) {
            Some(capacity) => free_slots(capacity, office, date, needed_minutes, |unit| {
                self.held.contains(unit) || !self.waitlist.is_public(unit)
            }),
            None => Vec::new(),
        }
    }

    /// Every published unit of an office-day, by lane then start, and what
    /// it is to a booking at this view's log prefix (for the audit's as-of).
    pub fn units_of_day(&self, office: &OfficeId, date: LocalDate) -> Vec<(UnitSpan, UnitUse)> {
        let Some(capacity) = self.days.get(&(office.clone(), date)) else {
            return Vec::new();
        };
        capacity
            .units()
            .map(|span| {
                let unit = UnitRef {
                    office: office.clone(),
                    date,
                    lane: span.lane,
                    start: span.start,
                };
                let unit_use = if self.held.contains(&unit) {
                    UnitUse::Held
                } else if self.waitlist.has_started(&unit) {
                    UnitUse::Started
                } else if self.waitlist.is_public(&unit) {
                    UnitUse::Free
                } else {
                    UnitUse::KeptForWish
                };
                (span, unit_use)
            })
            .collect()
    }

    /// The waitlist as this view's log prefix tells it.
    pub fn waitlist(&self) -> &Waitlist {
        &self.waitlist
    }
}

impl Projection for AvailabilityView {
    fn apply(&mut self, event: &LogEvent) {
        self.waitlist.apply(event);
        let (event_type, data) = (event.event.event_type.as_str(), event.event.data.as_str());
        if event_type == "capacity.published" || event_type == "capacity.withdrawn" {
            match CatalogueEvent::from_stored_json(event_type, data) {
                Ok(CatalogueEvent::CapacityPublished(published)) => self
                    .days
                    .entry((published.office.clone(), published.date))
                    .or_default()
                    .record(&published),
                Ok(CatalogueEvent::CapacityWithdrawn(withdrawn)) => self
                    .days
                    .entry((withdrawn.office.clone(), withdrawn.date))
                    .or_default()
                    .withdraw(&withdrawn),
                _ => tracing::error!(
                    position = event.position,
                    event_type,
                    "capacity event does not decode; skipped"
                ),
            }
        } else if BookingEvent::EVENT_TYPES.contains(&event_type) || WishEvent::EVENT_TYPES.contains(&event_type) {
            // Bookings and proposals hold units alike (API.md: held by a pending
            // booking or a proposal is not free); the events say which.
            match BookingInput::from_stored_json(event_type, data) {
                Ok(input) => match input.hold_change() {
                    HoldChange::Hold(units) => self.held.extend(units.iter().cloned()),
                    HoldChange::Release(units) => units.iter().for_each(|unit| {
                        self.held.remove(unit);
                    }),
                    HoldChange::Unchanged => {}
                },
                Err(error) => {
                    tracing::error!(position = event.position, %error, "booking or wish event does not decode; skipped")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use terminagent_domain::{
        CapacityPublished, LocalTime, ProposalClosed, ProposalId, ProposalMade, WishEvent, WishId,
    };
    use terminagent_eventstore::{EventData, StoredEvent};
    use ulid::Ulid;

    use super::*;

    fn logged(position: u64, event_type: &str, data: serde_json::Value) -> LogEvent {
        LogEvent {
            position,
            event: StoredEvent {
                event_id: Ulid::new(),
                event_type: event_type.to_owned(),
                schema_version: 1,
                streams: vec![],
                recorded_at: Utc::now(),
                correlation_id: None,
                causation_id: None,
                actor: None,
                data: EventData::from_value(&data),
            },
        }
    }

    #[test]
    fn units_a_proposal_holds_are_not_free_until_it_is_declined() {
        let office = OfficeId::parse("walsum").unwrap();
        let date = LocalDate::parse("2026-12-01").unwrap();
        let at = |hhmm| LocalTime::parse(hhmm).unwrap();
        let published = CatalogueEvent::CapacityPublished(CapacityPublished {
            office: office.clone(),
            date,
            from: at("08:00"),
            to: at("08:24"),
            unit_minutes: 12,
            lanes: 1,
            first_lane: 1,
            units: 2,
        });
        let unit = UnitRef {
            office: office.clone(),
            date,
            lane: 1,
            start: at("08:00"),
        };
        let (proposal, wish) = (ProposalId::from_ulid(Ulid::new()), WishId::from_ulid(Ulid::new()));
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 7, 0, 0).unwrap();
        let made = WishEvent::ProposalMade(ProposalMade {
            proposal,
            wish,
            office: office.clone(),
            units: vec![unit.clone()],
            start,
            end: start + chrono::Duration::minutes(12),
            expires_at: start,
            links: vec![],
        });
        let declined = WishEvent::ProposalDeclined(ProposalClosed {
            proposal,
            wish,
            units: vec![unit],
        });
        let starts = |view: &AvailabilityView| -> Vec<LocalTime> {
            view.slots(&office, date, 12).iter().map(|slot| slot.start).collect()
        };

        let mut view = AvailabilityView::default();
        let office_registered = serde_json::json!({
            "office": "walsum", "name": "Walsum", "address": "Friedrich-Ebert-Straße 152", "timezone": "Europe/Berlin"
        });
        view.apply(&logged(0, "office.registered", office_registered));
        view.apply(&logged(1, published.event_type(), published.to_data()));
        assert_eq!(starts(&view), [at("08:00"), at("08:12")]);
        view.apply(&logged(2, made.event_type(), made.to_data()));
        assert_eq!(starts(&view), [at("08:12")], "held by the proposal");
        view.apply(&logged(3, declined.event_type(), declined.to_data()));
        assert_eq!(starts(&view), [at("08:00"), at("08:12")], "free again");
    }
}
