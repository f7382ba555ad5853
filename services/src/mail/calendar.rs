//! The calendar entry attached to booking mails (RFC 5545). Start and end are
//! written in UTC, so every calendar shows the right local time whatever the
//! DST rules of reader and office.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};

/// One appointment, as a calendar sees it.
pub struct Appointment<'a> {
    /// Stable across the mails of one booking, so a cancellation replaces the entry.
    pub uid: &'a str,
    pub summary: &'a str,
    pub location: &'a str,
    pub description: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// When the event this mail stems from was recorded.
    pub stamped: DateTime<Utc>,
}

/// `METHOD:PUBLISH`: an entry to add.
pub fn publish(appointment: &Appointment<'_>) -> String {
    calendar(
        "PUBLISH",
        event(appointment).sequence(0).status(EventStatus::Confirmed).done(),
    )
}

/// `METHOD:CANCEL`: removes the entry [`publish`] added.
pub fn cancel(appointment: &Appointment<'_>) -> String {
    calendar(
        "CANCEL",
        event(appointment).sequence(1).status(EventStatus::Cancelled).done(),
    )
}

fn event(appointment: &Appointment<'_>) -> Event {
    Event::new()
        .uid(appointment.uid)
        .summary(appointment.summary)
        .location(appointment.location)
        .description(appointment.description)
        .starts(appointment.start)
        .ends(appointment.end)
        .timestamp(appointment.stamped)
        .done()
}

fn calendar(method: &str, event: Event) -> String {
    // `Calendar::new()` brings a PRODID of its own; a second one makes the
    // file invalid (RFC 5545 allows exactly one).
    let mut calendar = Calendar::empty();
    calendar.append_property(("VERSION", "2.0"));
    calendar.append_property(("PRODID", "-//Terminagent//Terminvergabe//DE"));
    calendar.append_property(("CALSCALE", "GREGORIAN"));
    calendar.append_property(("METHOD", method));
    calendar.push(event);
    calendar.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn appointment(start: DateTime<Utc>) -> Appointment<'static> {
        Appointment {
            uid: "01BOOKING@terminagent",
            summary: "Termin: Personalausweis",
            location: "Sonnenwall 73, 47051 Duisburg",
            description: "Wartenummer 7",
            start,
            end: start + chrono::Duration::minutes(12),
            stamped: Utc.with_ymd_and_hms(2027, 3, 1, 9, 0, 0).unwrap(),
        }
    }

    #[test]
    fn times_are_utc_so_local_time_survives_the_dst_change() {
        // 08:00 in Berlin is 07:00 UTC in winter and 06:00 UTC after 28 March 2027.
        let winter = publish(&appointment(Utc.with_ymd_and_hms(2027, 3, 26, 7, 0, 0).unwrap()));
        let summer = publish(&appointment(Utc.with_ymd_and_hms(2027, 3, 29, 6, 0, 0).unwrap()));
        assert!(winter.contains("DTSTART:20270326T070000Z"), "{winter}");
        assert!(winter.contains("DTEND:20270326T071200Z"), "{winter}");
        assert!(summer.contains("DTSTART:20270329T060000Z"), "{summer}");
    }

    #[test]
    fn cancelling_names_the_same_entry() {
        let start = Utc.with_ymd_and_hms(2027, 3, 29, 6, 0, 0).unwrap();
        let added = publish(&appointment(start));
        let removed = cancel(&appointment(start));
        assert!(added.contains("METHOD:PUBLISH") && removed.contains("METHOD:CANCEL"));
        assert!(removed.contains("STATUS:CANCELLED") && removed.contains("SEQUENCE:1"));
        assert!(added.contains("UID:01BOOKING@terminagent") && removed.contains("UID:01BOOKING@terminagent"));
        assert!(added.starts_with("BEGIN:VCALENDAR") && added.contains("BEGIN:VEVENT"));
    }

    #[test]
    fn the_calendar_names_its_product_and_version_once() {
        let file = publish(&appointment(Utc.with_ymd_and_hms(2027, 3, 29, 6, 0, 0).unwrap()));
        for property in ["PRODID:", "VERSION:", "CALSCALE:", "METHOD:"] {
            let count = file.lines().filter(|line| line.starts_with(property)).count();
            assert_eq!(count, 1, "{property} {file}");
        }
        assert!(file.contains("PRODID:-//Terminagent//Terminvergabe//DE"), "{file}");
    }
}
