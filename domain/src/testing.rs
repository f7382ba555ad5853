//! Given/when/then tests for deciders, in the style of cqrs-es' `TestFramework`:
//!
//! ```
//! # use terminagent_domain::testing::given_no_events;
//! # use terminagent_domain::catalogue::*;
//! # let command = RegisterService {
//! #     service: "reisepass".parse().unwrap(),
//! #     name: "Reisepass".parse().unwrap(),
//! #     duration_minutes: 0,
//! #     walk_in: false,
//! #     description: None,
//! # };
//! given_no_events::<ServiceDecider>()
//!     .when(command)
//!     .then_error(ServiceError::DurationOutOfRange(0));
//! ```

use std::fmt::Debug;
use std::marker::PhantomData;

use crate::decider::Decider;

/// The state after the given history, waiting for a command.
pub struct Given<D: Decider> {
    state: D::State,
    decider: PhantomData<D>,
}

/// The outcome of deciding one command.
pub struct When<D: Decider> {
    outcome: Result<Vec<D::Event>, D::Error>,
}

/// Starts a test from the events already in the log (of the decider's event type
/// or a family it wraps).
pub fn given<D: Decider>(events: impl IntoIterator<Item = impl Into<D::Event>>) -> Given<D> {
    let events: Vec<D::Event> = events.into_iter().map(Into::into).collect();
    Given {
        state: D::fold(&events),
        decider: PhantomData,
    }
}

/// Starts a test from an empty log.
pub fn given_no_events<D: Decider>() -> Given<D> {
    given::<D>(std::iter::empty::<D::Event>())
}

impl<D: Decider> Given<D> {
    pub fn when(self, command: D::Command) -> When<D> {
        When {
            outcome: D::decide(&command, &self.state),
        }
    }
}

impl<D: Decider> When<D>
where
    D::Event: PartialEq + Debug,
    D::Error: PartialEq + Debug,
{
    /// Asserts that the command succeeded with exactly `expected`, in order.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = D::Event>) {
        let expected: Vec<D::Event> = expected.into_iter().collect();
        match self.outcome {
            Ok(actual) if actual == expected => {}
            Ok(actual) => panic!("expected events:\n{expected:#?}\nbut got events:\n{actual:#?}"),
            Err(error) => panic!("expected events:\n{expected:#?}\nbut got error:\n{error:#?}"),
        }
    }

    /// Asserts that the command was refused with `expected`.
    #[track_caller]
    pub fn then_error(self, expected: D::Error) {
        match self.outcome {
            Err(actual) if actual == expected => {}
            Err(actual) => panic!("expected error:\n{expected:#?}\nbut got error:\n{actual:#?}"),
            Ok(events) => panic!("expected error:\n{expected:#?}\nbut got events:\n{events:#?}"),
        }
    }

    /// The raw outcome, for assertions the helpers above do not cover.
    pub fn into_result(self) -> Result<Vec<D::Event>, D::Error> {
        self.outcome
    }
}

/// Parsers and a fixed clock the domain's tests share: a Berlin office, and
/// "now" on 2026-11-20 10:00 local time.
#[cfg(test)]
pub(crate) mod fixtures {
    use chrono::{DateTime, Utc};

    use ulid::Ulid;

    use crate::booking::SealedPersonalData;
    use crate::ids::{BookingId, EnvelopeId};
    use crate::time::{LocalDate, LocalTime, OfficeTimeZone};

    pub(crate) fn berlin() -> OfficeTimeZone {
        "Europe/Berlin".parse().unwrap()
    }

    pub(crate) fn date(input: &str) -> LocalDate {
        input.parse().unwrap()
    }

    pub(crate) fn time(input: &str) -> LocalTime {
        input.parse().unwrap()
    }

    pub(crate) fn utc(input: &str) -> DateTime<Utc> {
        input.parse().unwrap()
    }

    /// 2026-11-20 10:00 in Berlin (UTC+1).
    pub(crate) fn now() -> DateTime<Utc> {
        utc("2026-11-20T09:00:00Z")
    }

    pub(crate) fn booking_id(n: u64) -> BookingId {
        BookingId::from_ulid(Ulid::from_parts(n, 1))
    }

    /// Citizen `citizen`'s sealed envelope (content opaque to the domain).
    pub(crate) fn sealed(citizen: u64) -> SealedPersonalData {
        SealedPersonalData {
            envelope_id: EnvelopeId::from_ulid(Ulid::from_parts(citizen, 2)),
            nonce: "0a".repeat(12),
            ciphertext: "c1phe7".into(),
        }
    }

    /// The instant Berlin's clocks show `day` `hhmm`.
    pub(crate) fn at(day: &str, hhmm: &str) -> DateTime<Utc> {
        berlin().instant(date(day), time(hhmm)).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decider::tests::{Counter, CounterCommand::*, CounterEvent::*, NotEnough};

    #[test]
    fn then_passes_on_equal_events() {
        given::<Counter>([Added(2)]).when(Take(2)).then([Taken(2)]);
        given_no_events::<Counter>().when(Add(0)).then([]);
    }

    #[test]
    fn then_error_passes_on_equal_error() {
        given::<Counter>([Added(2), Taken(1)])
            .when(Take(2))
            .then_error(NotEnough {
                wanted: 2,
                available: 1,
            });
    }

    #[test]
    #[should_panic(
        expected = "expected events:\n[\n    Taken(\n        1,\n    ),\n]\nbut got events:\n[\n    Taken(\n        2,"
    )]
    fn then_shows_expected_and_actual_events() {
        given::<Counter>([Added(2)]).when(Take(2)).then([Taken(1)]);
    }

    #[test]
    #[should_panic(expected = "but got error:\nNotEnough {\n    wanted: 3,\n    available: 0,\n}")]
    fn then_shows_an_unexpected_error() {
        given_no_events::<Counter>().when(Take(3)).then([Taken(3)]);
    }

    #[test]
    #[should_panic(expected = "expected error:")]
    fn then_error_fails_on_success() {
        given::<Counter>([Added(5)]).when(Take(3)).then_error(NotEnough {
            wanted: 3,
            available: 0,
        });
    }

    #[test]
    fn into_result_exposes_the_outcome() {
        assert_eq!(
            given::<Counter>([Added(1)]).when(Add(1)).into_result(),
            Ok(vec![Added(1)])
        );
    }
}
