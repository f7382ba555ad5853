//! Walk-in tickets (API.md "The office floor"): a visitor at the kiosk
//! chooses walk-in services and gets the earliest start from now on today
//! where one lane's consecutive free units cover them, confirmed at once
//! with the day's next waiting number, without personal data. The lane is
//! chosen by the booking request's own rule ([`BookingRequestState::lane_for`]),
//! so a ticket and a booking contend for units exactly as two bookings do
//! (invariant 1), and units the waitlist keeps are not taken (invariant 4).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::booking::{
    BookingDecider, BookingEvent, BookingInput, BookingPolicy, BookingRequestDecider, BookingRequestError,
    BookingRequestState, BookingState, SlotAsked, TicketIssued,
};
use crate::catalogue::UnitRef;
use crate::decider::Decider;
use crate::ids::{BookingId, OfficeId, ServiceId};
use crate::time::LocalDate;

/// Issue a ticket for `services` at `office`, today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueTicket {
    pub booking: BookingId,
    pub office: OfficeId,
    pub services: Vec<ServiceId>,
    pub checkin_code_hash: String,
    /// The unit streams the caller read (today's units from now on): others
    /// are not this decision's to take.
    pub read_units: BTreeSet<UnitRef>,
    /// As for a booking request: units the waitlist keeps for waiting
    /// wishes, and units it still has as taken.
    pub kept_for_waitlist: BTreeSet<UnitRef>,
    pub taken_for_waitlist: BTreeSet<UnitRef>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TicketError {
    #[error("office {0} is not registered")]
    UnknownOffice(OfficeId),
    #[error("service {0} is not registered")]
    UnknownService(ServiceId),
    #[error("service {0} is not offered for walk-ins")]
    NotWalkIn(ServiceId),
    #[error("a ticket names 1 to 10 services, not {0}")]
    ServiceCount(usize),
    #[error("service {0} is named twice")]
    DuplicateService(ServiceId),
    #[error("no lane has free units for these services today")]
    NoSlotToday,
    /// The waitlist has not seen a release yet: let it catch up, then decide again.
    #[error("the waitlist is behind; decide again once it caught up")]
    WaitlistBehind,
    #[error("all waiting numbers of {date} are handed out")]
    NumbersExhausted { date: LocalDate },
    /// Units were published after the caller planned its reads, and nothing
    /// it read is free: read them too and decide again.
    #[error("units were published meanwhile; read them and decide again")]
    UnreadUnits,
}

/// What a ticket reads: the catalogue, today's office day and units, and the
/// day's `numbers:` stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketState {
    catalogue: BookingRequestState,
    numbers: BookingState,
}

impl TicketState {
    /// Today at `office`, in its zone; `None` when the office is unknown.
    pub fn today(&self, office: &OfficeId, now: DateTime<Utc>) -> Option<LocalDate> {
        let zone = self.catalogue.office(office)?.timezone;
        LocalDate::try_from(zone.today(now)).ok()
    }

    /// Today's units (office-local) starting after `now`: the unit streams a
    /// ticket decision reads. Empty when the office or today's capacity is unknown.
    pub fn units_to_read(&self, office: &OfficeId, now: DateTime<Utc>) -> Vec<UnitRef> {
        let Some(details) = self.catalogue.office(office) else {
            return Vec::new();
        };
        let zone = details.timezone;
        let Ok(today) = LocalDate::try_from(zone.today(now)) else {
            return Vec::new();
        };
        let Some(capacity) = self.catalogue.capacity(office, today) else {
            return Vec::new();
        };
        capacity
            .units()
            .filter(|unit| zone.instant(today, unit.start).is_ok_and(|start| start > now))
            .map(|unit| UnitRef {
                office: office.clone(),
                date: today,
                lane: unit.lane,
                start: unit.start,
            })
            .collect()
    }
}

pub struct TicketDecider;

impl Decider for TicketDecider {
    type Command = IssueTicket;
    type Event = BookingInput;
    type State = TicketState;
    type Error = TicketError;

    fn decide(command: &IssueTicket, state: &TicketState) -> Result<Vec<BookingInput>, TicketError> {
        use BookingRequestError as R;
        let office = &command.office;
        let details = state
            .catalogue
            .office(office)
            .ok_or_else(|| TicketError::UnknownOffice(office.clone()))?;
        for service in &command.services {
            let known = state
                .catalogue
                .service(service)
                .ok_or_else(|| TicketError::UnknownService(service.clone()))?;
            if !known.walk_in {
                return Err(TicketError::NotWalkIn(service.clone()));
            }
        }
        let zone = details.timezone;
        let today = LocalDate::try_from(zone.today(command.now)).map_err(|_| TicketError::NoSlotToday)?;
        let Some(capacity) = state.catalogue.capacity(office, today) else {
            return Err(TicketError::NoSlotToday);
        };
        // Units published since the caller planned its reads are not ours.
        let unread: BTreeSet<UnitRef> = capacity
            .units()
            .map(|unit| UnitRef {
                office: office.clone(),
                date: today,
                lane: unit.lane,
                start: unit.start,
            })
            .filter(|unit| !command.read_units.contains(unit))
            .collect();
        // Today only: a horizon of 0 days.
        let policy = BookingPolicy {
            horizon_days: 0,
            ..BookingPolicy::default()
        };
        let mut waitlist_behind = false;
        for local_start in capacity.starts() {
            let Ok(start) = zone.instant(today, local_start) else {
                continue;
            };
            if start <= command.now {
                continue;
            }
            let asked = SlotAsked {
                office,
                services: &command.services,
                start,
                now: command.now,
                policy,
                kept_for_waitlist: &command.kept_for_waitlist,
                taken_for_waitlist: &command.taken_for_waitlist,
                unread_units: &unread,
            };
            let chosen = match state.catalogue.lane_for(&asked) {
                Ok(chosen) => chosen,
                Err(
                    R::SlotTaken { .. } | R::StartNotInFuture { .. } | R::BeyondHorizon { .. } | R::DstTransition(_),
                ) => {
                    continue;
                }
                Err(R::WaitlistBehind(_)) => {
                    waitlist_behind = true;
                    continue;
                }
                Err(R::UnknownOffice(office)) => return Err(TicketError::UnknownOffice(office)),
                Err(R::UnknownService(service)) => return Err(TicketError::UnknownService(service)),
                Err(R::ServiceCount(count)) => return Err(TicketError::ServiceCount(count)),
                Err(R::DuplicateService(service)) => return Err(TicketError::DuplicateService(service)),
                // Citizens' limits do not apply to a ticket without a citizen.
                Err(R::TooManyOpenBookings { .. } | R::OverlapsOwnBooking { .. } | R::AlreadyRequested(_)) => continue,
            };
            let number = state
                .numbers
                .next_number(office, today)
                .ok_or(TicketError::NumbersExhausted { date: today })?;
            return Ok(vec![BookingInput::Booking(BookingEvent::TicketIssued(TicketIssued {
                booking: command.booking,
                office: office.clone(),
                services: command.services.clone(),
                units: chosen.units,
                start,
                end: chosen.end,
                date: today,
                number,
                checkin_code_hash: command.checkin_code_hash.clone(),
            }))]);
        }
        let unread_ahead = unread
            .iter()
            .any(|unit| zone.instant(today, unit.start).is_ok_and(|start| start > command.now));
        Err(if waitlist_behind {
            TicketError::WaitlistBehind
        } else if unread_ahead {
            TicketError::UnreadUnits
        } else {
            TicketError::NoSlotToday
        })
    }

    fn evolve(mut state: TicketState, event: &BookingInput) -> TicketState {
        state.catalogue = BookingRequestDecider::evolve(state.catalogue, event);
        state.numbers = BookingDecider::evolve(state.numbers, event);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{BookingConfirmed, BookingRequested, SealedPersonalData, WaitingNumber};
    use crate::catalogue::{CapacityPublished, CatalogueEvent, OfficeDetails, ServiceDetails};
    use crate::ids::EnvelopeId;
    use crate::testing::given;
    use crate::time::LocalTime;
    use chrono::TimeZone;
    use ulid::Ulid;

    fn office() -> OfficeId {
        "mitte".parse().unwrap()
    }

    fn day() -> LocalDate {
        "2026-12-10".parse().unwrap()
    }

    fn time(text: &str) -> LocalTime {
        text.parse().unwrap()
    }

    /// 08:10 UTC = 09:10 in Berlin on the test day.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 10, 8, 10, 0).unwrap()
    }

    fn unit(lane: u16, start: &str) -> UnitRef {
        UnitRef {
            office: office(),
            date: day(),
            lane,
            start: time(start),
        }
    }

    fn service(id: &str, walk_in: bool) -> BookingInput {
        BookingInput::Catalogue(CatalogueEvent::ServiceRegistered(ServiceDetails {
            service: id.parse().unwrap(),
            name: id.parse().unwrap(),
            duration_minutes: 12,
            walk_in,
            description: None,
        }))
    }

    /// Berlin office, services `melde` (walk-in) and `pass` (not); 09:00–10:00
    /// on lanes 1 and 2 in 12-minute units.
    fn day_with(extra: impl IntoIterator<Item = BookingInput>) -> Vec<BookingInput> {
        let mut events = vec![
            BookingInput::Catalogue(CatalogueEvent::OfficeRegistered(OfficeDetails {
                office: office(),
                name: "Bürgerbüro Mitte".parse().unwrap(),
                address: "Markt 1".parse().unwrap(),
                timezone: "Europe/Berlin".parse().unwrap(),
                opening_hours: None,
                holidays: None,
                closed_days: Default::default(),
            })),
            service("melde", true),
            service("pass", false),
            BookingInput::Catalogue(CatalogueEvent::CapacityPublished(CapacityPublished {
                office: office(),
                date: day(),
                from: time("09:00"),
                to: time("10:00"),
                unit_minutes: 12,
                lanes: 2,
                first_lane: 1,
                units: 10,
            })),
        ];
        events.extend(extra);
        events
    }

    fn every_unit() -> BTreeSet<UnitRef> {
        ["09:00", "09:12", "09:24", "09:36", "09:48"]
            .into_iter()
            .flat_map(|start| [unit(1, start), unit(2, start)])
            .collect()
    }

    fn ticket(services: &[&str]) -> IssueTicket {
        IssueTicket {
            booking: BookingId::from_ulid(Ulid::from_parts(9, 9)),
            office: office(),
            services: services.iter().map(|s| s.parse().unwrap()).collect(),
            checkin_code_hash: "ab".repeat(32),
            read_units: every_unit(),
            kept_for_waitlist: BTreeSet::new(),
            taken_for_waitlist: BTreeSet::new(),
            now: now(),
        }
    }

    fn booked(n: u64, units: Vec<UnitRef>) -> BookingInput {
        let start = Utc.with_ymd_and_hms(2026, 12, 10, 8, 0, 0).unwrap();
        BookingInput::Booking(BookingEvent::Requested(BookingRequested {
            booking: BookingId::from_ulid(Ulid::from_parts(n, 0)),
            office: office(),
            services: vec!["pass".parse().unwrap()],
            units,
            start,
            end: start,
            citizen: SealedPersonalData {
                envelope_id: EnvelopeId::from_ulid(Ulid::from_parts(n, 1)),
                nonce: "00".into(),
                ciphertext: "00".into(),
            },
            confirm_by: start,
            links: vec![],
        }))
    }

    fn issued(units: Vec<UnitRef>, start: (u32, u32), number: u32) -> BookingInput {
        let at = |(h, m)| Utc.with_ymd_and_hms(2026, 12, 10, h, m, 0).unwrap();
        BookingInput::Booking(BookingEvent::TicketIssued(TicketIssued {
            booking: BookingId::from_ulid(Ulid::from_parts(9, 9)),
            office: office(),
            services: vec!["melde".parse().unwrap()],
            units,
            start: at(start),
            end: at((start.0, start.1 + 12)),
            date: day(),
            number: WaitingNumber::nth(number).unwrap(),
            checkin_code_hash: "ab".repeat(32),
        }))
    }

    #[test]
    fn a_ticket_takes_the_earliest_free_start_from_now_with_the_next_number() {
        // 09:10 now: 09:00 has begun; 09:12 lane 1 is booked, lane 2 is free.
        let history = day_with([
            booked(1, vec![unit(1, "09:12")]),
            BookingInput::Booking(BookingEvent::Confirmed(BookingConfirmed {
                booking: BookingId::from_ulid(Ulid::from_parts(1, 0)),
                office: office(),
                date: day(),
                number: WaitingNumber::nth(1).unwrap(),
                checkin_code_hash: String::new(),
                links: vec![],
            })),
        ]);
        given::<TicketDecider>(history)
            .when(ticket(&["melde"]))
            .then([issued(vec![unit(2, "09:12")], (8, 12), 2)]);
    }

    #[test]
    fn units_the_waitlist_keeps_or_the_decision_did_not_read_are_passed_over() {
        let mut command = ticket(&["melde"]);
        command.kept_for_waitlist = [unit(1, "09:12")].into();
        command.read_units.remove(&unit(2, "09:12"));
        given::<TicketDecider>(day_with([]))
            .when(command)
            .then([issued(vec![unit(1, "09:24")], (8, 24), 1)]);
    }

    #[test]
    fn only_walk_in_services_are_issued() {
        given::<TicketDecider>(day_with([]))
            .when(ticket(&["melde", "pass"]))
            .then_error(TicketError::NotWalkIn("pass".parse().unwrap()));
        given::<TicketDecider>(day_with([]))
            .when(ticket(&["nix"]))
            .then_error(TicketError::UnknownService("nix".parse().unwrap()));
    }

    #[test]
    fn a_full_day_has_no_slot_and_a_behind_waitlist_says_so() {
        let all: Vec<BookingInput> = every_unit()
            .into_iter()
            .enumerate()
            .map(|(n, unit)| booked(n as u64 + 1, vec![unit]))
            .collect();
        given::<TicketDecider>(day_with(all))
            .when(ticket(&["melde"]))
            .then_error(TicketError::NoSlotToday);
        let mut command = ticket(&["melde"]);
        command.taken_for_waitlist = every_unit();
        given::<TicketDecider>(day_with([]))
            .when(command)
            .then_error(TicketError::WaitlistBehind);
        // After the last start there is nothing left today either.
        let mut late = ticket(&["melde"]);
        late.now = Utc.with_ymd_and_hms(2026, 12, 10, 9, 0, 0).unwrap();
        given::<TicketDecider>(day_with([]))
            .when(late)
            .then_error(TicketError::NoSlotToday);
    }

    #[test]
    fn a_ticket_holds_its_units_and_counts_its_number_for_later_decisions() {
        let history = day_with([issued(vec![unit(1, "09:12")], (8, 12), 1)]);
        let state = TicketDecider::fold(&history);
        assert!(state.catalogue.holder(&unit(1, "09:12")).is_some());
        assert_eq!(state.numbers.numbers_handed_out(&office(), day()), 1);
        assert_eq!(
            state.units_to_read(&office(), now()).len(),
            8,
            "09:12 to 09:48 on two lanes: the units starting after 09:10"
        );
        let mut second = ticket(&["melde"]);
        second.booking = BookingId::from_ulid(Ulid::from_parts(10, 10));
        let events = TicketDecider::decide(&second, &state).unwrap();
        let BookingInput::Booking(BookingEvent::TicketIssued(ticket)) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(
            (ticket.units.clone(), ticket.number.to_string()),
            (vec![unit(2, "09:12")], "2".into())
        );
    }
}
