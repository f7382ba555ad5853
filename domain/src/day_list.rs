//! The day list: who is coming to an office on a day, with names. Names are
//! personal data, so every read of them is itself an event (invariant 10):
//! the data protection officer sees who read which office-day when.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;

use crate::decider::Decider;
use crate::event::{DomainEvent, StreamName};
use crate::ids::OfficeId;
use crate::time::LocalDate;

impl StreamName {
    /// `day-list-reads:{office}:{YYYY-MM-DD}`: every read of one office-day's names.
    pub fn day_list_reads(office: &OfficeId, date: NaiveDate) -> Self {
        format!("day-list-reads:{office}:{}", date.format("%Y-%m-%d"))
            .parse()
            .expect("slugs and ISO dates make valid stream names")
    }
}

/// Names of an office-day were shown (to the actor of the event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayListRead {
    pub office: OfficeId,
    pub date: LocalDate,
    /// How many bookings' names were shown.
    pub names: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DayListEvent {
    #[serde(rename = "personal_data.read")]
    Read(DayListRead),
}

impl DomainEvent for DayListEvent {
    const EVENT_TYPES: &'static [&'static str] = &["personal_data.read"];

    fn event_type(&self) -> &'static str {
        "personal_data.read"
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn streams(&self) -> Vec<StreamName> {
        let DayListEvent::Read(read) = self;
        vec![StreamName::day_list_reads(&read.office, read.date.as_naive())]
    }
}

/// Records a read; there is nothing to refuse (who may read is asked before).
pub struct DayListReadDecider;

impl Decider for DayListReadDecider {
    type Command = DayListRead;
    type Event = DayListEvent;
    type State = ();
    type Error = Infallible;

    fn decide(command: &DayListRead, _: &()) -> Result<Vec<DayListEvent>, Infallible> {
        Ok(vec![DayListEvent::Read(command.clone())])
    }

    fn evolve(state: (), _: &DayListEvent) {
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given_no_events;

    #[test]
    fn every_read_is_recorded_in_the_office_days_read_stream() {
        let read = DayListRead {
            office: "mitte".parse().unwrap(),
            date: "2026-12-07".parse().unwrap(),
            names: 12,
        };
        given_no_events::<DayListReadDecider>()
            .when(read.clone())
            .then([DayListEvent::Read(read.clone())]);
        assert_eq!(
            DayListEvent::Read(read).streams(),
            vec![StreamName::day_list_reads(
                &"mitte".parse().unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
            )]
        );
    }
}
