//! The week as the API writes it: an object keyed `mon` … `sun`, each a
//! list. Wishes' hourly windows and offices' opening hours share the shape.

use chrono::Weekday;
use serde::{Deserialize, Serialize};

/// The week, Monday first, as `Weekday::num_days_from_monday` counts.
pub const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// `{"mon": [...], …, "sun": [...]}`; a missing day is an empty list, an
/// unknown key (`monday`) is refused rather than ignored, or a typo would
/// silently drop a day.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WeekJson<T> {
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    mon: Vec<T>,
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    tue: Vec<T>,
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    wed: Vec<T>,
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    thu: Vec<T>,
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    fri: Vec<T>,
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    sat: Vec<T>,
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    sun: Vec<T>,
}

impl<T> WeekJson<T> {
    /// Each weekday with its list, Monday first.
    pub(crate) fn into_days(self) -> impl Iterator<Item = (Weekday, Vec<T>)> {
        let WeekJson {
            mon,
            tue,
            wed,
            thu,
            fri,
            sat,
            sun,
        } = self;
        WEEKDAYS.into_iter().zip([mon, tue, wed, thu, fri, sat, sun])
    }

    /// The lists of each weekday, Monday first.
    pub(crate) fn from_days([mon, tue, wed, thu, fri, sat, sun]: [Vec<T>; 7]) -> Self {
        WeekJson {
            mon,
            tue,
            wed,
            thu,
            fri,
            sat,
            sun,
        }
    }
}
