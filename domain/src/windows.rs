//! The weekly hours a citizen can make, as given in a wish.

use crate::week::{WEEKDAYS, WeekJson};
use chrono::Weekday;

use crate::time::{LocalDate, LocalTime};
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowsError {
    #[error("hour {hour} on {weekday} is not a start hour 0 to 23")]
    HourOutOfRange { weekday: Weekday, hour: u32 },
    #[error("the windows name no hour at all")]
    NoHours,
}

/// Per weekday the local start hours (0–23) a citizen can make: a unit starting
/// 08:00–08:59 local matches hour 8. Never empty.
///
/// JSON: `{"mon":[8,9],"fri":[12]}`; unknown keys are rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "WindowsJson", into = "WindowsJson")]
pub struct WeeklyWindows {
    /// Bit `h` of entry `d` is set when hour `h` on weekday `d` (Mon = 0) is wanted.
    hour_masks: [u32; 7],
}

impl WeeklyWindows {
    pub fn new(hours: impl IntoIterator<Item = (Weekday, u32)>) -> Result<Self, WindowsError> {
        let mut hour_masks = [0u32; 7];
        for (weekday, hour) in hours {
            if hour > 23 {
                return Err(WindowsError::HourOutOfRange { weekday, hour });
            }
            hour_masks[weekday.num_days_from_monday() as usize] |= 1 << hour;
        }
        if hour_masks.iter().all(|&mask| mask == 0) {
            return Err(WindowsError::NoHours);
        }
        Ok(Self { hour_masks })
    }

    pub fn matches(&self, weekday: Weekday, hour: u32) -> bool {
        hour < 24 && self.hour_masks[weekday.num_days_from_monday() as usize] & (1 << hour) != 0
    }

    /// Every (weekday, hour) wanted, Monday first, hours ascending.
    pub fn iter(&self) -> impl Iterator<Item = (Weekday, u32)> + '_ {
        WEEKDAYS
            .into_iter()
            .flat_map(move |weekday| self.hours(weekday).map(move |hour| (weekday, hour)))
    }

    pub fn hours(&self, weekday: Weekday) -> impl Iterator<Item = u32> + use<> {
        let mask = self.hour_masks[weekday.num_days_from_monday() as usize];
        (0..24).filter(move |hour| mask & (1 << hour) != 0)
    }
}

/// An hour of the week, 0–167: weekday (Monday = 0) × 24 + local hour. A unit
/// starting 08:00–08:59 local on a Monday is hour 8; on a Tuesday hour 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HourOfWeek(u8);

impl HourOfWeek {
    pub fn new(weekday: Weekday, hour: u32) -> Option<Self> {
        (hour < 24).then(|| Self(weekday.num_days_from_monday() as u8 * 24 + hour as u8))
    }

    /// The hour of the week an office-local start falls in.
    pub fn of(date: LocalDate, start: LocalTime) -> Self {
        Self(date.weekday().num_days_from_monday() as u8 * 24 + start.hour() as u8)
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    pub fn weekday(self) -> Weekday {
        Weekday::try_from(self.0 / 24).expect("a weekday index is below 7")
    }

    pub fn hour(self) -> u32 {
        u32::from(self.0 % 24)
    }
}

impl WeeklyWindows {
    /// Whether the hour of the week is wanted.
    pub fn contains(&self, hour: HourOfWeek) -> bool {
        self.matches(hour.weekday(), hour.hour())
    }

    /// Every hour of the week wanted, ascending.
    pub fn hours_of_week(&self) -> impl Iterator<Item = HourOfWeek> + '_ {
        self.iter().filter_map(|(weekday, hour)| HourOfWeek::new(weekday, hour))
    }
}

/// The API shape; only used to (de)serialize [`WeeklyWindows`].
type WindowsJson = WeekJson<u32>;

impl TryFrom<WindowsJson> for WeeklyWindows {
    type Error = WindowsError;

    fn try_from(json: WindowsJson) -> Result<Self, WindowsError> {
        Self::new(
            json.into_days()
                .flat_map(|(weekday, hours)| hours.into_iter().map(move |hour| (weekday, hour))),
        )
    }
}

impl From<WeeklyWindows> for WindowsJson {
    fn from(windows: WeeklyWindows) -> Self {
        WeekJson::from_days(WEEKDAYS.map(|weekday| windows.hours(weekday).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<WeeklyWindows, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn parses_the_api_shape_and_matches_hours() {
        let windows = parse(json!({"mon": [8, 9], "fri": [12]})).unwrap();
        assert!(windows.matches(Weekday::Mon, 8));
        assert!(windows.matches(Weekday::Mon, 9));
        assert!(!windows.matches(Weekday::Mon, 10));
        assert!(windows.matches(Weekday::Fri, 12));
        assert!(!windows.matches(Weekday::Tue, 8));
        assert!(!windows.matches(Weekday::Fri, 44));
        assert_eq!(
            windows.iter().collect::<Vec<_>>(),
            [(Weekday::Mon, 8), (Weekday::Mon, 9), (Weekday::Fri, 12)]
        );
    }

    #[test]
    fn duplicate_hours_are_a_set_and_serialize_sorted() {
        let windows = parse(json!({"sun": [23, 0, 23], "wed": [], "tue": [7]})).unwrap();
        assert_eq!(
            serde_json::to_value(windows).unwrap(),
            json!({"tue": [7], "sun": [0, 23]})
        );
    }

    #[test]
    fn rejects_unknown_weekday_key() {
        let err = parse(json!({"monday": [8]})).unwrap_err();
        assert!(err.to_string().contains("unknown field `monday`"), "{err}");
    }

    #[test]
    fn rejects_hour_above_23_and_non_hours() {
        let err = parse(json!({"thu": [24]})).unwrap_err();
        assert!(err.to_string().contains("hour 24 on Thu"), "{err}");
        assert!(parse(json!({"thu": [-1]})).is_err());
        assert!(parse(json!({"thu": [8.5]})).is_err());
        assert_eq!(
            WeeklyWindows::new([(Weekday::Sat, 30)]),
            Err(WindowsError::HourOutOfRange {
                weekday: Weekday::Sat,
                hour: 30
            })
        );
    }

    #[test]
    fn rejects_windows_without_any_hour() {
        assert!(parse(json!({})).is_err());
        assert!(parse(json!({"mon": [], "tue": []})).is_err());
        assert_eq!(WeeklyWindows::new([]), Err(WindowsError::NoHours));
    }

    #[test]
    fn hours_of_the_week_count_from_monday_midnight() {
        let monday_0 = HourOfWeek::new(Weekday::Mon, 0).unwrap();
        let sunday_23 = HourOfWeek::new(Weekday::Sun, 23).unwrap();
        assert_eq!((monday_0.index(), sunday_23.index()), (0, 167));
        assert_eq!((sunday_23.weekday(), sunday_23.hour()), (Weekday::Sun, 23));
        assert_eq!(HourOfWeek::new(Weekday::Mon, 24), None);
        // 2026-12-01 is a Tuesday: 08:59 is hour 8 of it.
        let tuesday = LocalDate::parse("2026-12-01").unwrap();
        let hour = HourOfWeek::of(tuesday, LocalTime::parse("08:59").unwrap());
        assert_eq!(hour, HourOfWeek::new(Weekday::Tue, 8).unwrap());
        let windows = parse(json!({"tue": [8], "sun": [23]})).unwrap();
        assert!(windows.contains(hour));
        assert!(!windows.contains(monday_0));
        assert_eq!(windows.hours_of_week().collect::<Vec<_>>(), [hour, sunday_23]);
    }

    proptest! {
        #[test]
        fn serde_round_trip(masks in prop::array::uniform7(0u32..1 << 24)) {
            prop_assume!(masks.iter().any(|&m| m != 0));
            let windows = WeeklyWindows { hour_masks: masks };
            let json = serde_json::to_value(windows).unwrap();
            prop_assert_eq!(parse(json.clone()).unwrap(), windows);
            // The same (weekday, hour) pairs, whatever the route.
            let rebuilt = WeeklyWindows::new(windows.iter()).unwrap();
            prop_assert_eq!(rebuilt, windows);
            for (weekday, hour) in windows.iter() {
                prop_assert!(windows.matches(weekday, hour));
            }
            prop_assert_eq!(windows.iter().count(), masks.iter().map(|m| m.count_ones() as usize).sum::<usize>());
        }
    }
}
