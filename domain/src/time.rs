//! Office-local calendar values and their mapping to UTC instants.
//!
//! All instants are UTC; dates and times of day are local to an office's IANA zone.
//! Local times that a DST change skips or repeats are errors, never guessed.

use std::fmt;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown time zone {0:?}, expected an IANA name such as Europe/Berlin")]
pub struct UnknownTimeZone(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("expected a local time as HH:MM (00:00 to 23:59), got {0:?}")]
pub struct InvalidLocalTime(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("expected a calendar date as YYYY-MM-DD, got {0:?}")]
pub struct InvalidLocalDate(pub String);

/// A local date and time that does not name exactly one instant in the office's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LocalTimeError {
    #[error("{date} {time} does not exist in the office's time zone (clocks skip it)")]
    Nonexistent { date: NaiveDate, time: NaiveTime },
    #[error("{date} {time} occurs twice in the office's time zone (clocks fall back)")]
    Ambiguous { date: NaiveDate, time: NaiveTime },
}

/// An office's IANA time zone, e.g. `Europe/Berlin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OfficeTimeZone(Tz);

impl OfficeTimeZone {
    pub fn parse(name: &str) -> Result<Self, UnknownTimeZone> {
        name.parse::<Tz>()
            .map(Self)
            .map_err(|_| UnknownTimeZone(name.to_owned()))
    }

    pub fn tz(&self) -> Tz {
        self.0
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The one instant at which the office's clocks show `date` `time`.
    pub fn instant(
        &self,
        date: impl Into<NaiveDate>,
        time: impl Into<NaiveTime>,
    ) -> Result<DateTime<Utc>, LocalTimeError> {
        let (date, time) = (date.into(), time.into());
        match self.0.from_local_datetime(&date.and_time(time)) {
            LocalResult::Single(local) => Ok(local.with_timezone(&Utc)),
            LocalResult::None => Err(LocalTimeError::Nonexistent { date, time }),
            LocalResult::Ambiguous(..) => Err(LocalTimeError::Ambiguous { date, time }),
        }
    }

    pub fn to_local(&self, instant: DateTime<Utc>) -> DateTime<Tz> {
        instant.with_timezone(&self.0)
    }

    /// The office-local date and time of day of `instant`; `None` unless it falls on
    /// a whole minute, since local times have no seconds.
    pub fn local_minute(&self, instant: DateTime<Utc>) -> Option<(LocalDate, LocalTime)> {
        let local = self.to_local(instant);
        if local.second() != 0 || local.nanosecond() != 0 {
            return None;
        }
        let date = LocalDate::try_from(local.date_naive()).ok()?;
        Some((date, LocalTime::from_hm(local.hour(), local.minute())?))
    }

    /// The office's calendar date at `now`.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        self.to_local(now).date_naive()
    }
}

impl fmt::Display for OfficeTimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

string_conversions!(OfficeTimeZone, UnknownTimeZone);

/// Two ASCII digits as a number; strict, so `8:00` or `+8:00` are not times.
fn two_digits(bytes: &[u8]) -> Option<u32> {
    match bytes {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(b - b'0')),
        _ => None,
    }
}

/// A time of day on an office's clocks, in whole minutes, written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalTime(NaiveTime);

impl LocalTime {
    pub const MIDNIGHT: Self = Self(NaiveTime::MIN);

    pub fn parse(input: &str) -> Result<Self, InvalidLocalTime> {
        let invalid = || InvalidLocalTime(input.to_owned());
        let bytes = input.as_bytes();
        if bytes.len() != 5 || bytes[2] != b':' {
            return Err(invalid());
        }
        let hour = two_digits(&bytes[0..2]).ok_or_else(invalid)?;
        let minute = two_digits(&bytes[3..5]).ok_or_else(invalid)?;
        Self::from_hm(hour, minute).ok_or_else(invalid)
    }

    pub fn from_hm(hour: u32, minute: u32) -> Option<Self> {
        NaiveTime::from_hms_opt(hour, minute, 0).map(Self)
    }

    /// `None` from 24:00 on: a local time never wraps into the next day.
    pub fn from_minutes_since_midnight(minutes: u32) -> Option<Self> {
        Self::from_hm(minutes / 60, minutes % 60)
    }

    pub fn minutes_since_midnight(self) -> u32 {
        self.hour() * 60 + self.minute()
    }

    /// `None` if the result would be on the next day.
    pub fn add_minutes(self, minutes: u32) -> Option<Self> {
        Self::from_minutes_since_midnight(self.minutes_since_midnight().checked_add(minutes)?)
    }

    pub fn hour(self) -> u32 {
        self.0.hour()
    }

    pub fn minute(self) -> u32 {
        self.0.minute()
    }

    pub fn as_naive(self) -> NaiveTime {
        self.0
    }
}

impl From<LocalTime> for NaiveTime {
    fn from(time: LocalTime) -> Self {
        time.0
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

string_conversions!(LocalTime, InvalidLocalTime);

/// A calendar date on an office's clocks, written `YYYY-MM-DD` (years 0000–9999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalDate(NaiveDate);

impl LocalDate {
    pub fn parse(input: &str) -> Result<Self, InvalidLocalDate> {
        let invalid = || InvalidLocalDate(input.to_owned());
        let bytes = input.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(invalid());
        }
        let century = two_digits(&bytes[0..2]).ok_or_else(invalid)?;
        let year = two_digits(&bytes[2..4]).ok_or_else(invalid)?;
        let month = two_digits(&bytes[5..7]).ok_or_else(invalid)?;
        let day = two_digits(&bytes[8..10]).ok_or_else(invalid)?;
        NaiveDate::from_ymd_opt((century * 100 + year) as i32, month, day)
            .map(Self)
            .ok_or_else(invalid)
    }

    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, day).and_then(|date| Self::try_from(date).ok())
    }

    pub fn as_naive(self) -> NaiveDate {
        self.0
    }

    pub fn weekday(self) -> chrono::Weekday {
        self.0.weekday()
    }
}

impl TryFrom<NaiveDate> for LocalDate {
    type Error = InvalidLocalDate;

    /// Fails outside years 0000–9999, which `YYYY-MM-DD` cannot write.
    fn try_from(date: NaiveDate) -> Result<Self, InvalidLocalDate> {
        if (0..=9999).contains(&date.year()) {
            Ok(Self(date))
        } else {
            Err(InvalidLocalDate(date.to_string()))
        }
    }
}

impl From<LocalDate> for NaiveDate {
    fn from(date: LocalDate) -> Self {
        date.0
    }
}

impl fmt::Display for LocalDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), self.0.month(), self.0.day())
    }
}

string_conversions!(LocalDate, InvalidLocalDate);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn berlin() -> OfficeTimeZone {
        OfficeTimeZone::parse("Europe/Berlin").unwrap()
    }

    fn date(input: &str) -> LocalDate {
        LocalDate::parse(input).unwrap()
    }

    fn time(input: &str) -> LocalTime {
        LocalTime::parse(input).unwrap()
    }

    fn utc(input: &str) -> DateTime<Utc> {
        input.parse().unwrap()
    }

    #[test]
    fn time_zone_parses_iana_names_and_serializes_as_name() {
        let zone = berlin();
        assert_eq!(zone.to_string(), "Europe/Berlin");
        assert_eq!(serde_json::to_value(zone).unwrap(), "Europe/Berlin");
        assert_eq!(
            serde_json::from_str::<OfficeTimeZone>("\"Europe/Berlin\"").unwrap(),
            zone
        );
        assert_eq!(
            OfficeTimeZone::parse("Europe/Duisburg"),
            Err(UnknownTimeZone("Europe/Duisburg".into()))
        );
        assert!(serde_json::from_str::<OfficeTimeZone>("\"CEST\"").is_err());
    }

    #[test]
    fn dst_week_in_berlin_maps_local_eight_to_the_right_utc_hour() {
        let zone = berlin();
        let eight = time("08:00");
        // Winter time (UTC+1) before the spring change on Sunday 2026-03-29 ...
        assert_eq!(zone.instant(date("2026-03-28"), eight), Ok(utc("2026-03-28T07:00:00Z")));
        // ... summer time (UTC+2) from that Sunday on ...
        assert_eq!(zone.instant(date("2026-03-29"), eight), Ok(utc("2026-03-29T06:00:00Z")));
        assert_eq!(zone.instant(date("2026-03-30"), eight), Ok(utc("2026-03-30T06:00:00Z")));
        // ... and back to winter time on Sunday 2026-10-25.
        assert_eq!(zone.instant(date("2026-10-24"), eight), Ok(utc("2026-10-24T06:00:00Z")));
        assert_eq!(zone.instant(date("2026-10-25"), eight), Ok(utc("2026-10-25T07:00:00Z")));
    }

    #[test]
    fn dst_gap_is_nonexistent_and_overlap_is_ambiguous() {
        let zone = berlin();
        assert_eq!(
            zone.instant(date("2026-03-29"), time("02:30")),
            Err(LocalTimeError::Nonexistent {
                date: date("2026-03-29").into(),
                time: time("02:30").into()
            })
        );
        assert!(matches!(
            zone.instant(date("2026-10-25"), time("02:30")),
            Err(LocalTimeError::Ambiguous { .. })
        ));
        // The edges of the transitions are unique.
        assert_eq!(
            zone.instant(date("2026-03-29"), time("03:00")),
            Ok(utc("2026-03-29T01:00:00Z"))
        );
        assert_eq!(
            zone.instant(date("2026-10-25"), time("03:00")),
            Ok(utc("2026-10-25T02:00:00Z"))
        );
    }

    #[test]
    fn to_local_and_today_use_the_office_calendar() {
        let zone = berlin();
        let late_evening_utc = utc("2026-12-01T23:30:00Z");
        assert_eq!(
            zone.to_local(late_evening_utc).to_rfc3339(),
            "2026-12-02T00:30:00+01:00"
        );
        assert_eq!(zone.today(late_evening_utc), date("2026-12-02").as_naive());
        assert_eq!(
            OfficeTimeZone::parse("UTC").unwrap().today(late_evening_utc),
            date("2026-12-01").as_naive()
        );
    }

    #[test]
    fn local_minute_is_the_office_clock_reading_on_whole_minutes() {
        let zone = berlin();
        assert_eq!(
            zone.local_minute(utc("2026-03-30T06:00:00Z")),
            Some((date("2026-03-30"), time("08:00")))
        );
        assert_eq!(
            zone.local_minute(utc("2026-12-01T23:30:00Z")),
            Some((date("2026-12-02"), time("00:30")))
        );
        assert_eq!(zone.local_minute(utc("2026-12-01T08:00:30Z")), None);
        assert_eq!(zone.local_minute(utc("2026-12-01T08:00:00.5Z")), None);
    }

    #[test]
    fn local_time_is_strict_hh_mm() {
        assert_eq!(time("08:05").to_string(), "08:05");
        assert_eq!(time("23:59").minutes_since_midnight(), 23 * 60 + 59);
        for bad in [
            "8:00",
            "08:0",
            "24:00",
            "12:60",
            "08:00:00",
            "08-00",
            "+8:00",
            " 08:00",
            "",
            "٠٨:٠٠",
        ] {
            assert_eq!(LocalTime::parse(bad), Err(InvalidLocalTime(bad.into())), "{bad:?}");
        }
        assert!(serde_json::from_str::<LocalTime>("\"7:30\"").is_err());
        assert_eq!(serde_json::to_value(time("07:30")).unwrap(), "07:30");
    }

    #[test]
    fn local_time_arithmetic_stays_on_the_day() {
        assert_eq!(time("08:48").add_minutes(12), Some(time("09:00")));
        assert_eq!(time("23:48").add_minutes(11), Some(time("23:59")));
        assert_eq!(time("23:48").add_minutes(12), None);
        assert_eq!(LocalTime::from_minutes_since_midnight(0), Some(LocalTime::MIDNIGHT));
        assert_eq!(LocalTime::from_minutes_since_midnight(24 * 60), None);
    }

    #[test]
    fn local_date_is_strict_yyyy_mm_dd() {
        let day = date("2026-12-01");
        assert_eq!(day.to_string(), "2026-12-01");
        assert_eq!(day.weekday(), chrono::Weekday::Tue);
        for bad in [
            "2026-2-01",
            "2026-02-30",
            "26-12-01",
            "2026/12/01",
            "2026-12-01T00:00",
            "+2026-12-01",
        ] {
            assert_eq!(LocalDate::parse(bad), Err(InvalidLocalDate(bad.into())), "{bad:?}");
        }
        assert!(serde_json::from_str::<LocalDate>("\"2026-13-01\"").is_err());
        assert_eq!(serde_json::to_value(day).unwrap(), "2026-12-01");
    }

    #[test]
    fn local_date_rejects_years_it_cannot_write() {
        let far = NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap();
        assert!(LocalDate::try_from(far).is_err());
        assert_eq!(LocalDate::from_ymd(10_000, 1, 1), None);
        assert_eq!(LocalDate::from_ymd(2026, 3, 29), Some(date("2026-03-29")));
    }

    proptest! {
        #[test]
        fn local_time_round_trip(minutes in 0u32..24 * 60) {
            let t = LocalTime::from_minutes_since_midnight(minutes).unwrap();
            prop_assert_eq!(LocalTime::parse(&t.to_string()).unwrap(), t);
            prop_assert_eq!(t.minutes_since_midnight(), minutes);
        }

        #[test]
        fn local_date_round_trip(days in 0i32..3_652_059) {
            let d = LocalDate::try_from(NaiveDate::from_num_days_from_ce_opt(days + 1).unwrap()).unwrap();
            prop_assert_eq!(LocalDate::parse(&d.to_string()).unwrap(), d);
        }
    }
}
