//! The slots citizens may book, by one rule for `GET /api/v1/availability`
//! and the booking pages, so a page never offers what the API would not list:
//! free in the availability view, on a day within the booking horizon,
//! starting after now.

use chrono::{DateTime, Days, NaiveDate, Utc};
use terminagent_domain::{LocalDate, LocalTime, OfficeId, OfficeTimeZone};

use super::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookableSlot {
    pub date: LocalDate,
    /// Office-local start and end, as people read them.
    pub start_time: LocalTime,
    pub end_time: LocalTime,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// How many lanes could take the booking at this start.
    pub free_lanes: u16,
}

/// The bookable slots of `office` for a booking of `needed_minutes`, on the
/// office-local days `first..=last`, sorted by start.
pub fn bookable_slots(
    state: &AppState,
    office: &OfficeId,
    zone: OfficeTimeZone,
    needed_minutes: u32,
    first: NaiveDate,
    last: NaiveDate,
) -> Vec<BookableSlot> {
    let now = state.executor.now();
    let bookable_until = zone
        .today(now)
        .checked_add_days(Days::new(state.booking_policy.horizon_days.into()));
    let view = state.availability.read();
    let mut slots = Vec::new();
    for day in first
        .iter_days()
        .take_while(|day| *day <= last && Some(*day) <= bookable_until)
    {
        // A day outside years 0000–9999 holds no capacity.
        let Ok(date) = LocalDate::try_from(day) else {
            continue;
        };
        for slot in view.slots(office, date, needed_minutes) {
            let (Ok(start), Ok(end)) = (zone.instant(date, slot.start), zone.instant(date, slot.end)) else {
                continue;
            };
            if start <= now {
                continue;
            }
            slots.push(BookableSlot {
                date,
                start_time: slot.start,
                end_time: slot.end,
                start,
                end,
                free_lanes: slot.lanes,
            });
        }
    }
    slots
}
