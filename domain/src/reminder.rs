//! The reminder mail (API.md "The office floor"): a confirmed booking gets one
//! reminder on its day at the reminder time (default 07:00 office time),
//! unless it was booked after that time. The reminder is an event on the
//! booking's own stream (`booking.reminder_due`), decided by
//! [`ReminderDecider`] over that stream: a decision conditioned on it makes
//! the reminder once, however many processes' timers ask; the mailer's
//! ledger then sends its mail once (invariant 9).
//!
//! The decision needs when the booking was confirmed, which the payloads do
//! not say (the log's envelope does): the caller passes the recorded time of
//! the confirmation (or acceptance) in the command. A recorded event never
//! moves, so any reader of the log sees the same time.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::booking::BookingEvent;
use crate::decider::Decider;
use crate::event::{DomainEvent, EventDecodeError, StreamName};
use crate::ids::{BookingId, OfficeId};
use crate::time::{LocalDate, LocalTime, OfficeTimeZone};
use crate::wish::WishEvent;

/// A confirmed booking's reminder is due (its mail goes out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderDue {
    pub booking: BookingId,
    pub office: OfficeId,
    /// The booking's office day (today, when decided).
    pub date: LocalDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ReminderEvent {
    #[serde(rename = "booking.reminder_due")]
    Due(ReminderDue),
}

impl DomainEvent for ReminderEvent {
    const EVENT_TYPES: &'static [&'static str] = &["booking.reminder_due"];

    fn event_type(&self) -> &'static str {
        "booking.reminder_due"
    }

    fn schema_version(&self) -> u32 {
        1
    }

    /// The booking's own stream only: what the decision reads and conditions on.
    fn streams(&self) -> Vec<StreamName> {
        let ReminderEvent::Due(due) = self;
        vec![StreamName::booking(&due.booking)]
    }
}

/// What the reminder decision reads on a booking's stream: the booking's
/// events, `proposal.accepted` (a booking born confirmed) and its reminder.
/// Other events there (the floor's) are not its business and are skipped by
/// the reader, as for every family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReminderInput {
    Booking(BookingEvent),
    Wish(WishEvent),
    Reminder(ReminderEvent),
}

impl From<BookingEvent> for ReminderInput {
    fn from(event: BookingEvent) -> Self {
        Self::Booking(event)
    }
}

impl From<WishEvent> for ReminderInput {
    fn from(event: WishEvent) -> Self {
        Self::Wish(event)
    }
}

impl From<ReminderEvent> for ReminderInput {
    fn from(event: ReminderEvent) -> Self {
        Self::Reminder(event)
    }
}

impl DomainEvent for ReminderInput {
    /// The booking family, `proposal.accepted` and the reminder (checked by a test).
    const EVENT_TYPES: &'static [&'static str] = &[
        "booking.requested",
        "booking.confirmed",
        "booking.cancelled",
        "booking.lapsed",
        "proposal.accepted",
        "booking.reminder_due",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::Booking(event) => event.event_type(),
            Self::Wish(event) => event.event_type(),
            Self::Reminder(event) => event.event_type(),
        }
    }

    fn schema_version(&self) -> u32 {
        match self {
            Self::Booking(event) => event.schema_version(),
            Self::Wish(event) => event.schema_version(),
            Self::Reminder(event) => event.schema_version(),
        }
    }

    fn streams(&self) -> Vec<StreamName> {
        match self {
            Self::Booking(event) => event.streams(),
            Self::Wish(event) => event.streams(),
            Self::Reminder(event) => event.streams(),
        }
    }

    fn to_data(&self) -> Value {
        match self {
            Self::Booking(event) => event.to_data(),
            Self::Wish(event) => event.to_data(),
            Self::Reminder(event) => event.to_data(),
        }
    }

    fn from_stored_json(event_type: &str, data: &str) -> Result<Self, EventDecodeError> {
        if !Self::EVENT_TYPES.contains(&event_type) {
            return Err(EventDecodeError::UnknownType(event_type.to_owned()));
        }
        if ReminderEvent::EVENT_TYPES.contains(&event_type) {
            ReminderEvent::from_stored_json(event_type, data).map(Self::Reminder)
        } else if WishEvent::EVENT_TYPES.contains(&event_type) {
            WishEvent::from_stored_json(event_type, data).map(Self::Wish)
        } else {
            BookingEvent::from_stored_json(event_type, data).map(Self::Booking)
        }
    }

    fn from_stored(event_type: &str, data: Value) -> Result<Self, EventDecodeError> {
        if !Self::EVENT_TYPES.contains(&event_type) {
            return Err(EventDecodeError::UnknownType(event_type.to_owned()));
        }
        if ReminderEvent::EVENT_TYPES.contains(&event_type) {
            ReminderEvent::from_stored(event_type, data).map(Self::Reminder)
        } else if WishEvent::EVENT_TYPES.contains(&event_type) {
            WishEvent::from_stored(event_type, data).map(Self::Wish)
        } else {
            BookingEvent::from_stored(event_type, data).map(Self::Booking)
        }
    }
}

/// Remind `booking` if it is due. Repeating it is harmless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemindBooking {
    pub booking: BookingId,
    /// The office's zone: "today" and the reminder time are its.
    pub zone: OfficeTimeZone,
    /// `--reminder-at`.
    pub remind_at: LocalTime,
    /// When the log recorded the booking's confirmation (or acceptance).
    pub confirmed_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// Why no reminder is due (the timer asks again later or not at all).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotDue {
    #[error("no booking {0}")]
    UnknownBooking(BookingId),
    #[error("booking {0} is not confirmed")]
    NotConfirmed(BookingId),
    #[error("booking {0} was cancelled or lapsed")]
    Gone(BookingId),
    #[error("booking {booking} is on {date}, not today")]
    NotToday { booking: BookingId, date: LocalDate },
    #[error("the reminder time, {0}, has not come yet")]
    TooEarly(DateTime<Utc>),
    #[error("booking {booking} was confirmed at {confirmed_at}, after today's reminder time")]
    BookedAfterReminderTime {
        booking: BookingId,
        confirmed_at: DateTime<Utc>,
    },
    #[error("booking {0} has already started")]
    AlreadyStarted(BookingId),
}

/// The booking as the reminder needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reminded {
    office: OfficeId,
    start: DateTime<Utc>,
    /// The office day, once confirmed.
    date: Option<LocalDate>,
    gone: bool,
    reminded: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReminderState {
    booking: Option<(BookingId, Reminded)>,
}

impl ReminderState {
    /// Whether the booking's reminder is already in the log.
    pub fn reminded(&self) -> bool {
        self.booking.as_ref().is_some_and(|(_, booking)| booking.reminded)
    }
}

/// The instant today's reminder time shows on the office's clocks: on a day
/// the clocks skip it, the first instant after the gap; on a day they show
/// it twice, the first.
pub fn reminder_instant(zone: OfficeTimeZone, date: NaiveDate, at: LocalTime) -> DateTime<Utc> {
    let local = date.and_time(at.as_naive());
    (0..=3)
        .find_map(|hours| {
            zone.tz()
                .from_local_datetime(&(local + chrono::Duration::hours(hours)))
                .earliest()
        })
        .map_or_else(|| Utc.from_utc_datetime(&local), |instant| instant.with_timezone(&Utc))
}

/// Decides a booking's reminder on its own stream.
pub struct ReminderDecider;

impl ReminderDecider {
    /// The reminder due now, or why there is none. `Ok(None)`: already reminded.
    fn due(command: &RemindBooking, state: &ReminderState) -> Result<Option<ReminderDue>, NotDue> {
        let id = command.booking;
        let booking = match &state.booking {
            Some((known, booking)) if *known == id => booking,
            _ => return Err(NotDue::UnknownBooking(id)),
        };
        if booking.reminded {
            return Ok(None);
        }
        if booking.gone {
            return Err(NotDue::Gone(id));
        }
        let date = booking.date.ok_or(NotDue::NotConfirmed(id))?;
        let today = command.zone.today(command.now);
        if date.as_naive() != today {
            return Err(NotDue::NotToday { booking: id, date });
        }
        let remind_at = reminder_instant(command.zone, today, command.remind_at);
        if command.now < remind_at {
            return Err(NotDue::TooEarly(remind_at));
        }
        if command.confirmed_at >= remind_at {
            return Err(NotDue::BookedAfterReminderTime {
                booking: id,
                confirmed_at: command.confirmed_at,
            });
        }
        if command.now >= booking.start {
            return Err(NotDue::AlreadyStarted(id));
        }
        Ok(Some(ReminderDue {
            booking: id,
            office: booking.office.clone(),
            date,
        }))
    }
}

impl Decider for ReminderDecider {
    type Command = RemindBooking;
    type Event = ReminderInput;
    type State = ReminderState;
    type Error = NotDue;

    fn decide(command: &RemindBooking, state: &ReminderState) -> Result<Vec<ReminderInput>, NotDue> {
        Ok(Self::due(command, state)?
            .map(|due| ReminderInput::Reminder(ReminderEvent::Due(due)))
            .into_iter()
            .collect())
    }

    fn evolve(mut state: ReminderState, event: &ReminderInput) -> ReminderState {
        match event {
            ReminderInput::Booking(BookingEvent::Requested(requested)) => {
                state.booking.get_or_insert_with(|| {
                    (
                        requested.booking,
                        Reminded {
                            office: requested.office.clone(),
                            start: requested.start,
                            date: None,
                            gone: false,
                            reminded: false,
                        },
                    )
                });
            }
            ReminderInput::Wish(WishEvent::ProposalAccepted(accepted)) => {
                state.booking.get_or_insert_with(|| {
                    (
                        accepted.booking,
                        Reminded {
                            office: accepted.office.clone(),
                            start: accepted.start,
                            date: Some(accepted.date),
                            gone: false,
                            reminded: false,
                        },
                    )
                });
            }
            ReminderInput::Booking(BookingEvent::Confirmed(confirmed)) => {
                if let Some((id, booking)) = &mut state.booking
                    && *id == confirmed.booking
                    && !booking.gone
                {
                    booking.date = Some(confirmed.date);
                }
            }
            ReminderInput::Booking(BookingEvent::Cancelled(gone)) => mark_gone(&mut state, &gone.booking),
            ReminderInput::Booking(BookingEvent::Lapsed(gone)) => mark_gone(&mut state, &gone.booking),
            ReminderInput::Reminder(ReminderEvent::Due(due)) => {
                if let Some((id, booking)) = &mut state.booking
                    && *id == due.booking
                {
                    booking.reminded = true;
                }
            }
            // A walk-in ticket has no one to mail.
            ReminderInput::Booking(_) | ReminderInput::Wish(_) => {}
        }
        state
    }
}

fn mark_gone(state: &mut ReminderState, booking: &BookingId) {
    if let Some((id, known)) = &mut state.booking
        && id == booking
    {
        known.gone = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{BookingCancelled, BookingConfirmed, BookingLapsed, BookingRequested, WaitingNumber};
    use crate::catalogue::UnitRef;
    use crate::ids::{ProposalId, WishId};
    use crate::testing::fixtures::{at, berlin, booking_id, date, sealed, time};
    use crate::testing::{given, given_no_events};
    use crate::wish::ProposalAccepted;
    use ulid::Ulid;

    /// The booking's day; it starts at 09:12 Berlin time.
    const DAY: &str = "2026-12-07";

    fn mitte() -> OfficeId {
        "bss-mitte".parse().unwrap()
    }

    fn unit() -> UnitRef {
        UnitRef {
            office: mitte(),
            date: date(DAY),
            lane: 1,
            start: time("09:12"),
        }
    }

    fn requested() -> ReminderInput {
        BookingEvent::Requested(BookingRequested {
            booking: booking_id(1),
            office: mitte(),
            services: vec!["personalausweis".parse().unwrap()],
            units: vec![unit()],
            start: at(DAY, "09:12"),
            end: at(DAY, "09:24"),
            citizen: sealed(9),
            confirm_by: at("2026-12-06", "20:00"),
            links: vec![],
        })
        .into()
    }

    fn confirmed() -> ReminderInput {
        BookingEvent::Confirmed(BookingConfirmed {
            booking: booking_id(1),
            office: mitte(),
            date: date(DAY),
            number: WaitingNumber::nth(12).unwrap(),
            checkin_code_hash: "c".repeat(64),
            links: vec![],
        })
        .into()
    }

    fn accepted() -> ReminderInput {
        WishEvent::ProposalAccepted(ProposalAccepted {
            proposal: ProposalId::from_ulid(Ulid::from_parts(1, 4)),
            wish: WishId::from_ulid(Ulid::from_parts(1, 3)),
            booking: booking_id(1),
            office: mitte(),
            services: vec!["personalausweis".parse().unwrap()],
            units: vec![unit()],
            start: at(DAY, "09:12"),
            end: at(DAY, "09:24"),
            date: date(DAY),
            number: WaitingNumber::nth(3).unwrap(),
            citizen: sealed(9),
            checkin_code_hash: "c".repeat(64),
            links: vec![],
        })
        .into()
    }

    fn reminded() -> ReminderInput {
        ReminderEvent::Due(due()).into()
    }

    fn due() -> ReminderDue {
        ReminderDue {
            booking: booking_id(1),
            office: mitte(),
            date: date(DAY),
        }
    }

    /// Remind booking 1 at `now` (on DAY unless said), confirmed the evening before.
    fn remind(now: DateTime<Utc>) -> RemindBooking {
        RemindBooking {
            booking: booking_id(1),
            zone: berlin(),
            remind_at: time("07:00"),
            confirmed_at: at("2026-12-06", "18:30"),
            now,
        }
    }

    #[test]
    fn a_booking_confirmed_before_the_reminder_time_is_reminded_from_that_time_on() {
        given::<ReminderDecider>([requested(), confirmed()])
            .when(remind(at(DAY, "07:00")))
            .then([reminded()]);
        given::<ReminderDecider>([requested(), confirmed()])
            .when(remind(at(DAY, "08:30")))
            .then([reminded()]);
        // Indexed under the booking's own stream, which the decision conditions on.
        assert_eq!(
            ReminderEvent::Due(due()).streams(),
            vec![StreamName::booking(&booking_id(1))]
        );
    }

    #[test]
    fn a_booking_placed_by_an_accepted_proposal_is_reminded_too() {
        given::<ReminderDecider>([accepted()])
            .when(remind(at(DAY, "07:01")))
            .then([reminded()]);
    }

    #[test]
    fn before_the_reminder_time_nothing_is_due() {
        given::<ReminderDecider>([requested(), confirmed()])
            .when(remind(at(DAY, "06:59")))
            .then_error(NotDue::TooEarly(at(DAY, "07:00")));
    }

    #[test]
    fn a_booking_confirmed_after_the_reminder_time_gets_no_reminder() {
        let mut command = remind(at(DAY, "07:30"));
        command.confirmed_at = at(DAY, "07:00");
        given::<ReminderDecider>([requested(), confirmed()])
            .when(command.clone())
            .then_error(NotDue::BookedAfterReminderTime {
                booking: booking_id(1),
                confirmed_at: at(DAY, "07:00"),
            });
        // A second before the time is still in time.
        command.confirmed_at = at(DAY, "07:00") - chrono::Duration::seconds(1);
        given::<ReminderDecider>([requested(), confirmed()])
            .when(command)
            .then([reminded()]);
    }

    #[test]
    fn a_cancelled_or_lapsed_booking_gets_no_reminder() {
        let gone = serde_json::json!({
            "booking": booking_id(1),
            "units": [unit()],
            "citizen": sealed(9).envelope_id,
        });
        let cancelled = BookingEvent::Cancelled(serde_json::from_value::<BookingCancelled>(gone.clone()).unwrap());
        given::<ReminderDecider>([requested(), confirmed(), cancelled.into()])
            .when(remind(at(DAY, "07:00")))
            .then_error(NotDue::Gone(booking_id(1)));
        let lapsed = BookingEvent::Lapsed(serde_json::from_value::<BookingLapsed>(gone).unwrap());
        given::<ReminderDecider>([requested(), lapsed.into()])
            .when(remind(at(DAY, "07:00")))
            .then_error(NotDue::Gone(booking_id(1)));
    }

    #[test]
    fn an_unconfirmed_or_unknown_booking_gets_no_reminder() {
        given::<ReminderDecider>([requested()])
            .when(remind(at(DAY, "07:00")))
            .then_error(NotDue::NotConfirmed(booking_id(1)));
        given_no_events::<ReminderDecider>()
            .when(remind(at(DAY, "07:00")))
            .then_error(NotDue::UnknownBooking(booking_id(1)));
    }

    #[test]
    fn a_booking_already_reminded_is_not_reminded_again() {
        given::<ReminderDecider>([requested(), confirmed(), reminded()])
            .when(remind(at(DAY, "07:05")))
            .then([]);
    }

    #[test]
    fn a_booking_of_another_day_gets_no_reminder_today() {
        given::<ReminderDecider>([requested(), confirmed()])
            .when(remind(at("2026-12-06", "07:00")))
            .then_error(NotDue::NotToday {
                booking: booking_id(1),
                date: date(DAY),
            });
        given::<ReminderDecider>([requested(), confirmed()])
            .when(remind(at("2026-12-08", "07:00")))
            .then_error(NotDue::NotToday {
                booking: booking_id(1),
                date: date(DAY),
            });
    }

    #[test]
    fn a_booking_that_has_started_gets_no_reminder() {
        given::<ReminderDecider>([requested(), confirmed()])
            .when(remind(at(DAY, "09:12")))
            .then_error(NotDue::AlreadyStarted(booking_id(1)));
    }

    #[test]
    fn the_reminder_time_is_office_time() {
        // 07:00 in Berlin is 06:00 UTC in winter.
        assert_eq!(
            reminder_instant(berlin(), date(DAY).as_naive(), time("07:00")),
            "2026-12-07T06:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        // On the spring-forward day 02:30 does not exist: the first instant after the gap.
        assert_eq!(
            reminder_instant(berlin(), date("2026-03-29").as_naive(), time("02:30")),
            "2026-03-29T01:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn the_input_types_are_the_families_it_decodes() {
        for event_type in ReminderInput::EVENT_TYPES {
            assert!(
                BookingEvent::EVENT_TYPES.contains(event_type)
                    || WishEvent::EVENT_TYPES.contains(event_type)
                    || ReminderEvent::EVENT_TYPES.contains(event_type),
                "{event_type} belongs to no family"
            );
        }
        for folded in [requested(), confirmed(), accepted(), reminded()] {
            assert!(ReminderInput::EVENT_TYPES.contains(&folded.event_type()));
        }
        let stored = reminded();
        let back = ReminderInput::from_stored(stored.event_type(), stored.to_data()).unwrap();
        assert_eq!(back, stored);
        assert!(matches!(
            ReminderInput::from_stored_json("visit.checked_in", "{}"),
            Err(EventDecodeError::UnknownType(_))
        ));
    }
}
