//! Dates and times as German readers expect them in mails and pages
//! ("Dienstag, 1. Dezember 2026", "08:12 Uhr"), without a locale database.

use chrono::{DateTime, Datelike, Timelike, Weekday};

const WEEKDAYS: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];
const MONTHS: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];

pub fn weekday(day: Weekday) -> &'static str {
    WEEKDAYS[day.num_days_from_monday() as usize]
}

/// "Dienstag, 1. Dezember 2026".
pub fn long_date(date: impl Datelike) -> String {
    format!(
        "{}, {}. {} {}",
        weekday(date.weekday()),
        date.day(),
        MONTHS[date.month0() as usize],
        date.year()
    )
}

/// "08:12".
pub fn clock<Tz: chrono::TimeZone>(instant: &DateTime<Tz>) -> String {
    format!("{:02}:{:02}", instant.hour(), instant.minute())
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    #[test]
    fn dates_read_as_in_a_german_letter() {
        assert_eq!(
            super::long_date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
            "Dienstag, 1. Dezember 2026"
        );
        assert_eq!(
            super::long_date(NaiveDate::from_ymd_opt(2027, 3, 28).unwrap()),
            "Sonntag, 28. März 2027"
        );
        let berlin = terminagent_domain::OfficeTimeZone::parse("Europe/Berlin").unwrap();
        let winter = berlin.to_local(chrono::Utc.with_ymd_and_hms(2026, 12, 1, 7, 5, 0).unwrap());
        assert_eq!(super::clock(&winter), "08:05");
    }
}
