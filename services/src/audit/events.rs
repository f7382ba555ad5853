//! The event types the audit reads, decoded from the log's stored JSON into
//! the domain's own event types (their shapes are the catalogue of
//! ARCHITECTURE.md; reading them is not relying on any decision).

use terminagent_domain::{
    BookingEvent, CatalogueEvent, DayListEvent, DomainEvent, ErasureEvent, EventDecodeError, FloorEvent, OverviewEvent,
    ReminderEvent, StaffEvent, WishEvent,
};

/// One event of a family the audit knows.
#[derive(Debug, Clone)]
pub(super) enum Known {
    Catalogue(CatalogueEvent),
    Booking(BookingEvent),
    Wish(WishEvent),
    Floor(FloorEvent),
    Staff(StaffEvent),
    DayList(DayListEvent),
    Reminder(ReminderEvent),
    Erasure(ErasureEvent),
    /// "Meine Termine": a link asked for, a confirm request sent again.
    Overview(OverviewEvent),
}

/// Decodes a stored event; `Ok(None)` for a type no family here knows
/// (a newer event the audit has no sentence for yet).
pub(super) fn decode(event_type: &str, data: &str) -> Result<Option<Known>, EventDecodeError> {
    fn of<E: DomainEvent>(event_type: &str) -> bool {
        E::EVENT_TYPES.contains(&event_type)
    }
    Ok(Some(if of::<CatalogueEvent>(event_type) {
        Known::Catalogue(CatalogueEvent::from_stored_json(event_type, data)?)
    } else if of::<BookingEvent>(event_type) {
        Known::Booking(BookingEvent::from_stored_json(event_type, data)?)
    } else if of::<WishEvent>(event_type) {
        Known::Wish(WishEvent::from_stored_json(event_type, data)?)
    } else if of::<FloorEvent>(event_type) {
        Known::Floor(FloorEvent::from_stored_json(event_type, data)?)
    } else if of::<StaffEvent>(event_type) {
        Known::Staff(StaffEvent::from_stored_json(event_type, data)?)
    } else if of::<DayListEvent>(event_type) {
        Known::DayList(DayListEvent::from_stored_json(event_type, data)?)
    } else if of::<ReminderEvent>(event_type) {
        Known::Reminder(ReminderEvent::from_stored_json(event_type, data)?)
    } else if of::<ErasureEvent>(event_type) {
        Known::Erasure(ErasureEvent::from_stored_json(event_type, data)?)
    } else if of::<OverviewEvent>(event_type) {
        Known::Overview(OverviewEvent::from_stored_json(event_type, data)?)
    } else {
        return Ok(None);
    }))
}

/// Whether the waitlist fold (`why.rs`) or the time zones need this type
/// decoded even when it is not part of the trace.
pub(super) fn folded(event_type: &str) -> bool {
    event_type.starts_with("wish.")
        || event_type.starts_with("proposal.")
        || event_type.starts_with("office.")
        || event_type.starts_with("service.")
        || event_type.starts_with("capacity.")
        || matches!(event_type, "booking.cancelled" | "booking.lapsed" | "booking.released")
}
