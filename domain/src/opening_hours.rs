//! An office's calendar: weekly opening hours and the office's own closed days.
//! (Public holidays come from its `HolidayRegion`, see `holidays.rs`.)
//!
//! Opening hours are written as in API.md, office-local:
//! `{"mon": [["08:00", "12:00"], ["14:00", "18:00"]], "thu": [["08:00", "18:00"]]}`.
//! Each interval is `[from, to)`. Parsing:
//! - a weekday left out (or given `[]`) is closed that day;
//! - intervals of a day are sorted on parse, since their order carries no meaning;
//! - intervals that overlap *or touch* are refused: touching ones would be one
//!   interval written as two, and a unit across the seam would be refused by
//!   [`OpeningHours::covers`] although the office is open throughout;
//! - at most [`MAX_INTERVALS_PER_DAY`] intervals a day;
//! - hours that open on no day at all (`{}`) are refused: an office without fixed
//!   hours has *no* opening hours (anything may be published), which is a different
//!   thing from one that is never open, and `{}` would blur the two.
//!   A longer closure is written as closed days.
//!
//! A day ends at 23:59 (`LocalTime` has no 24:00), so an interval ends by then too.

use crate::week::{WEEKDAYS, WeekJson};
use std::collections::BTreeSet;
use std::fmt;

use chrono::Weekday;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::time::{LocalDate, LocalTime};

pub const MAX_INTERVALS_PER_DAY: usize = 4;
pub const MAX_CLOSED_DAYS: usize = 366;

/// The JSON key of a weekday: `mon` … `sun`.
pub fn weekday_key(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// The English name of a weekday, for messages: `Monday` … `Sunday`.
pub fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpeningHoursError {
    #[error("an opening interval must end after it starts, not {from}–{to}")]
    EmptyInterval { from: LocalTime, to: LocalTime },
    #[error("{}: at most {MAX_INTERVALS_PER_DAY} opening intervals a day, not {count}", weekday_key(*.weekday))]
    TooManyIntervals { weekday: Weekday, count: usize },
    #[error(
        "{}: {first} and {second} overlap or touch; write them as one interval",
        weekday_key(*.weekday)
    )]
    Overlapping {
        weekday: Weekday,
        first: OpeningInterval,
        second: OpeningInterval,
    },
    #[error(
        "the opening hours open on no day; leave them out for an office without fixed hours, \
         or name closed days for a closure"
    )]
    NeverOpen,
}

/// One opening interval `[from, to)` of a day, written `["08:00", "12:00"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "(LocalTime, LocalTime)", into = "(LocalTime, LocalTime)")]
pub struct OpeningInterval {
    from: LocalTime,
    to: LocalTime,
}

impl OpeningInterval {
    pub fn new(from: LocalTime, to: LocalTime) -> Result<Self, OpeningHoursError> {
        if from < to {
            Ok(Self { from, to })
        } else {
            Err(OpeningHoursError::EmptyInterval { from, to })
        }
    }

    pub fn from(self) -> LocalTime {
        self.from
    }

    pub fn to(self) -> LocalTime {
        self.to
    }

    /// Whether `[from, to)` lies wholly inside this interval.
    pub fn contains(self, from: LocalTime, to: LocalTime) -> bool {
        self.from <= from && to <= self.to
    }
}

impl TryFrom<(LocalTime, LocalTime)> for OpeningInterval {
    type Error = OpeningHoursError;

    fn try_from((from, to): (LocalTime, LocalTime)) -> Result<Self, OpeningHoursError> {
        Self::new(from, to)
    }
}

impl From<OpeningInterval> for (LocalTime, LocalTime) {
    fn from(interval: OpeningInterval) -> Self {
        (interval.from, interval.to)
    }
}

impl fmt::Display for OpeningInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.from, self.to)
    }
}

/// A day's intervals for messages: `08:00–12:00, 14:00–18:00`.
pub struct Intervals<'a>(pub &'a [OpeningInterval]);

impl fmt::Display for Intervals<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, interval) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{interval}")?;
        }
        Ok(())
    }
}

/// An office's weekly opening hours: per weekday a sorted list of at most
/// [`MAX_INTERVALS_PER_DAY`] disjoint, non-touching intervals; open on some day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HoursJson", into = "HoursJson")]
pub struct OpeningHours {
    /// Indexed by `Weekday::num_days_from_monday`.
    days: [Vec<OpeningInterval>; 7],
}

impl OpeningHours {
    /// Validates the intervals of each weekday (sorting them); weekdays not named
    /// are closed.
    pub fn new(days: impl IntoIterator<Item = (Weekday, Vec<OpeningInterval>)>) -> Result<Self, OpeningHoursError> {
        let mut week: [Vec<OpeningInterval>; 7] = Default::default();
        for (weekday, intervals) in days {
            week[weekday.num_days_from_monday() as usize].extend(intervals);
        }
        for (weekday, intervals) in WEEKDAYS.into_iter().zip(week.iter_mut()) {
            if intervals.len() > MAX_INTERVALS_PER_DAY {
                return Err(OpeningHoursError::TooManyIntervals {
                    weekday,
                    count: intervals.len(),
                });
            }
            intervals.sort_unstable();
            if let Some(pair) = intervals.windows(2).find(|pair| pair[1].from <= pair[0].to) {
                return Err(OpeningHoursError::Overlapping {
                    weekday,
                    first: pair[0],
                    second: pair[1],
                });
            }
        }
        if week.iter().all(Vec::is_empty) {
            return Err(OpeningHoursError::NeverOpen);
        }
        Ok(Self { days: week })
    }

    /// The intervals of `weekday`, sorted; empty when closed that day.
    pub fn day(&self, weekday: Weekday) -> &[OpeningInterval] {
        &self.days[weekday.num_days_from_monday() as usize]
    }

    /// Whether one interval of `weekday` contains all of `[from, to)`.
    pub fn covers(&self, weekday: Weekday, from: LocalTime, to: LocalTime) -> bool {
        self.day(weekday).iter().any(|interval| interval.contains(from, to))
    }
}

/// The JSON shape (the week's shared one, see `week.rs`).
type HoursJson = WeekJson<OpeningInterval>;

impl TryFrom<HoursJson> for OpeningHours {
    type Error = OpeningHoursError;

    fn try_from(week: HoursJson) -> Result<Self, OpeningHoursError> {
        Self::new(week.into_days())
    }
}

impl From<OpeningHours> for HoursJson {
    fn from(hours: OpeningHours) -> Self {
        WeekJson::from_days(hours.days)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("at most {MAX_CLOSED_DAYS} closed days, not {0}")]
pub struct TooManyClosedDays(pub usize);

/// Days an office is closed beyond its weekly hours and public holidays (e.g. a
/// staff outing), written as a sorted list of `YYYY-MM-DD`; repeats collapse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<LocalDate>", into = "Vec<LocalDate>")]
pub struct ClosedDays(BTreeSet<LocalDate>);

impl ClosedDays {
    /// At most [`MAX_CLOSED_DAYS`] distinct days: an office edits them with every
    /// change of its details, so the list stays one a person can read.
    pub fn new(days: impl IntoIterator<Item = LocalDate>) -> Result<Self, TooManyClosedDays> {
        let days: BTreeSet<LocalDate> = days.into_iter().collect();
        if days.len() > MAX_CLOSED_DAYS {
            return Err(TooManyClosedDays(days.len()));
        }
        Ok(Self(days))
    }

    pub fn contains(&self, date: LocalDate) -> bool {
        self.0.contains(&date)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Ascending.
    pub fn iter(&self) -> impl Iterator<Item = LocalDate> + '_ {
        self.0.iter().copied()
    }
}

impl TryFrom<Vec<LocalDate>> for ClosedDays {
    type Error = TooManyClosedDays;

    fn try_from(days: Vec<LocalDate>) -> Result<Self, TooManyClosedDays> {
        Self::new(days)
    }
}

impl From<ClosedDays> for Vec<LocalDate> {
    fn from(days: ClosedDays) -> Self {
        days.0.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn time(input: &str) -> LocalTime {
        input.parse().unwrap()
    }

    fn interval(from: &str, to: &str) -> OpeningInterval {
        OpeningInterval::new(time(from), time(to)).unwrap()
    }

    fn parse(value: serde_json::Value) -> Result<OpeningHours, String> {
        serde_json::from_value(value).map_err(|error| error.to_string())
    }

    #[test]
    fn api_json_parses_and_serializes_back_with_closed_days_left_out() {
        let input = json!({"mon": [["08:00", "12:00"], ["14:00", "18:00"]], "sat": [], "thu": [["08:00", "18:00"]]});
        let hours = parse(input).unwrap();
        assert_eq!(
            hours.day(Weekday::Mon),
            [interval("08:00", "12:00"), interval("14:00", "18:00")]
        );
        assert_eq!(hours.day(Weekday::Thu), [interval("08:00", "18:00")]);
        assert!(hours.day(Weekday::Sat).is_empty());
        assert!(hours.day(Weekday::Sun).is_empty());
        assert_eq!(
            serde_json::to_value(&hours).unwrap(),
            json!({"mon": [["08:00", "12:00"], ["14:00", "18:00"]], "thu": [["08:00", "18:00"]]})
        );
    }

    #[test]
    fn unsorted_intervals_are_sorted_on_parse() {
        let hours = parse(json!({"fri": [["14:00", "16:00"], ["08:00", "12:00"]]})).unwrap();
        assert_eq!(
            hours.day(Weekday::Fri),
            [interval("08:00", "12:00"), interval("14:00", "16:00")]
        );
        assert_eq!(
            serde_json::to_value(&hours).unwrap(),
            json!({"fri": [["08:00", "12:00"], ["14:00", "16:00"]]})
        );
    }

    #[test]
    fn bad_hours_are_refused_with_a_clear_error() {
        let cases = [
            (
                json!({"mon": [["12:00", "08:00"]]}),
                "must end after it starts, not 12:00–08:00",
            ),
            (
                json!({"mon": [["08:00", "08:00"]]}),
                "must end after it starts, not 08:00–08:00",
            ),
            (
                json!({"tue": [["08:00", "12:00"], ["11:00", "14:00"]]}),
                "tue: 08:00–12:00 and 11:00–14:00 overlap or touch",
            ),
            (
                json!({"tue": [["12:00", "14:00"], ["08:00", "12:00"]]}),
                "tue: 08:00–12:00 and 12:00–14:00 overlap or touch",
            ),
            (
                json!({"wed": [["07:00", "08:00"], ["09:00", "10:00"], ["11:00", "12:00"], ["13:00", "14:00"], ["15:00", "16:00"]]}),
                "wed: at most 4 opening intervals a day, not 5",
            ),
            (json!({}), "open on no day"),
            (json!({"mon": [], "sun": []}), "open on no day"),
            (json!({"monday": [["08:00", "12:00"]]}), "unknown field `monday`"),
            (json!({"mon": [["8:00", "12:00"]]}), "expected a local time as HH:MM"),
            (json!({"mon": [["08:00", "24:00"]]}), "expected a local time as HH:MM"),
            (json!({"mon": [["08:00"]]}), "invalid length 1"),
            (json!({"mon": [["08:00", "12:00", "14:00"]]}), "invalid length"),
            (json!({"mon": ["08:00-12:00"]}), "invalid type"),
        ];
        for (input, expected) in cases {
            let error = parse(input.clone()).expect_err(&input.to_string());
            assert!(error.contains(expected), "{input}: {error:?} should say {expected:?}");
        }
        // Four a day is the most, and fine.
        parse(json!({"wed": [["07:00", "08:00"], ["09:00", "10:00"], ["11:00", "12:00"], ["13:00", "14:00"]]}))
            .unwrap();
    }

    #[test]
    fn covers_needs_one_interval_around_the_whole_span() {
        // Given Monday 09:00–12:00 and 14:00–18:00, and nothing on Tuesday,
        let hours = parse(json!({"mon": [["09:00", "12:00"], ["14:00", "18:00"]]})).unwrap();
        let covers = |weekday, from, to| hours.covers(weekday, time(from), time(to));
        // then spans inside one interval are covered, up to its edges,
        assert!(covers(Weekday::Mon, "09:00", "12:00"));
        assert!(covers(Weekday::Mon, "09:00", "09:12"));
        assert!(covers(Weekday::Mon, "11:48", "12:00"));
        assert!(covers(Weekday::Mon, "14:00", "18:00"));
        // but not across an edge, nor across the lunch break,
        assert!(!covers(Weekday::Mon, "08:48", "09:00"));
        assert!(!covers(Weekday::Mon, "08:59", "09:11"));
        assert!(!covers(Weekday::Mon, "11:50", "12:02"));
        assert!(!covers(Weekday::Mon, "11:00", "15:00"));
        assert!(!covers(Weekday::Mon, "17:59", "18:01"));
        // and a closed weekday covers nothing.
        assert!(!covers(Weekday::Tue, "09:00", "10:00"));
    }

    #[test]
    fn closed_days_are_a_sorted_set_of_at_most_366() {
        let days: ClosedDays = serde_json::from_value(json!(["2026-12-31", "2026-12-24", "2026-12-24"])).unwrap();
        assert_eq!(days.len(), 2);
        assert!(days.contains("2026-12-24".parse().unwrap()));
        assert!(!days.contains("2026-12-25".parse().unwrap()));
        assert_eq!(
            serde_json::to_value(&days).unwrap(),
            json!(["2026-12-24", "2026-12-31"])
        );
        let start: LocalDate = "2027-01-01".parse().unwrap();
        let year = |count: u64| {
            (0..count).map(move |ahead| LocalDate::try_from(start.as_naive() + chrono::Days::new(ahead)).unwrap())
        };
        assert_eq!(ClosedDays::new(year(366)).map(|days| days.len()), Ok(366));
        assert_eq!(ClosedDays::new(year(367)), Err(TooManyClosedDays(367)));
        assert!(serde_json::from_value::<ClosedDays>(json!(["2026-02-30"])).is_err());
    }
}
