//! Closing an office day or part of it (API.md "closures"): half the staff
//! is ill, the building has no heating. One decision spans the office day,
//! every unit of the span, and through them every booking and proposal
//! holding one: the bookings are cancelled (their mail quotes the reason),
//! the units are withdrawn for good, open proposals on them are withdrawn
//! while their wishes keep their place.
//!
//! The batch is ordered so that a reader in log order (the matcher) sees a
//! consistent world after each event: cancellations first (the units are
//! free), then the withdrawal (taken for good; proposals on them are void),
//! then the proposals' withdrawals.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use thiserror::Error;

use crate::booking::{
    BookingCancelled, BookingEvent, BookingInput, BookingRequestDecider, BookingRequestState, UnitHolder,
};
use crate::catalogue::{CapacityWithdrawn, CatalogueEvent, UnitRef};
use crate::decider::Decider;
use crate::ids::{BookingId, EnvelopeId, OfficeId, ProposalId, WishId};
use crate::text::{TextError, parse_text};
use crate::time::{LocalDate, LocalTime};
use crate::wish::{ProposalClosed, WishEvent};

/// Longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

fn parse_reason(input: &str) -> Result<String, TextError> {
    parse_text(input, MAX_REASON_CHARS, false, false)
}

validated_string! {
    /// Why the office closes, as citizens read it in their mail: 1–500
    /// characters, one line.
    pub struct ClosureReason, error = TextError, validate = parse_reason;
}

/// Close `office` on `date`, the whole day or `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseOffice {
    pub office: OfficeId,
    pub date: LocalDate,
    /// Both or neither; neither is the whole day.
    pub span: Option<(LocalTime, LocalTime)>,
    pub reason: ClosureReason,
    /// The unit streams the caller read: a unit of the span not among them
    /// (published since the caller planned its reads) refuses the decision,
    /// so that no holder goes unseen.
    pub read_units: BTreeSet<UnitRef>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClosureError {
    #[error("office {0} is not registered")]
    UnknownOffice(OfficeId),
    #[error("{date} is already past in the office's time zone (today is {today})")]
    DateInPast { date: LocalDate, today: NaiveDate },
    #[error("`to` ({to}) must be after `from` ({from})")]
    EmptySpan { from: LocalTime, to: LocalTime },
    /// Not the caller's fault: read these unit streams too and decide again.
    #[error("units were published meanwhile; read them and decide again")]
    UnreadUnits(Vec<UnitRef>),
}

/// What a closure reads: the catalogue (office, office day) and, per unit of
/// the span, its stream — whose holds name each holder's citizen and units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClosureState {
    catalogue: BookingRequestState,
    /// Each holding booking's citizen (`None`: a walk-in) and units.
    bookings: BTreeMap<BookingId, (Option<EnvelopeId>, Vec<UnitRef>)>,
    proposals: BTreeMap<ProposalId, (WishId, Vec<UnitRef>)>,
}

impl ClosureState {
    /// The units in service of the span that start after `now` (what a closure
    /// withdraws; the past is past). Empty when the office or day is unknown.
    pub fn units_to_close(
        &self,
        office: &OfficeId,
        date: LocalDate,
        span: Option<(LocalTime, LocalTime)>,
        now: DateTime<Utc>,
    ) -> Vec<UnitRef> {
        let (Some(details), Some(capacity)) = (self.catalogue.office(office), self.catalogue.capacity(office, date))
        else {
            return Vec::new();
        };
        let spans = match span {
            Some((from, to)) => capacity.units_overlapping(from, to),
            None => capacity.units().collect(),
        };
        spans
            .into_iter()
            .filter(|unit| {
                details
                    .timezone
                    .instant(date, unit.start)
                    .is_ok_and(|start| start > now)
            })
            .map(|unit| UnitRef {
                office: office.clone(),
                date,
                lane: unit.lane,
                start: unit.start,
            })
            .collect()
    }
}

/// The closure's decision; its events are of all three families.
pub struct ClosureDecider;

impl Decider for ClosureDecider {
    type Command = CloseOffice;
    type Event = BookingInput;
    type State = ClosureState;
    type Error = ClosureError;

    fn decide(command: &CloseOffice, state: &ClosureState) -> Result<Vec<BookingInput>, ClosureError> {
        let CloseOffice {
            office,
            date,
            span,
            reason,
            read_units,
            now,
        } = command;
        let details = state
            .catalogue
            .office(office)
            .ok_or_else(|| ClosureError::UnknownOffice(office.clone()))?;
        let today = details.timezone.today(*now);
        if date.as_naive() < today {
            return Err(ClosureError::DateInPast { date: *date, today });
        }
        if let Some((from, to)) = span
            && to <= from
        {
            return Err(ClosureError::EmptySpan { from: *from, to: *to });
        }
        let units = state.units_to_close(office, *date, *span, *now);
        let unread: Vec<UnitRef> = units
            .iter()
            .filter(|unit| !read_units.contains(unit))
            .cloned()
            .collect();
        if !unread.is_empty() {
            return Err(ClosureError::UnreadUnits(unread));
        }
        if units.is_empty() {
            return Ok(vec![]);
        }
        let mut bookings = BTreeSet::new();
        let mut proposals = BTreeSet::new();
        for unit in &units {
            match state.catalogue.holder(unit) {
                Some(UnitHolder::Booking(booking)) => {
                    bookings.insert(booking);
                }
                Some(UnitHolder::Proposal(proposal)) => {
                    proposals.insert(proposal);
                }
                None => {}
            }
        }
        let mut events = Vec::with_capacity(bookings.len() + 1 + proposals.len());
        for booking in bookings {
            // Every hold names its holder's units and citizen: read with the unit.
            let Some((citizen, held)) = state.bookings.get(&booking) else {
                continue;
            };
            events.push(BookingInput::Booking(BookingEvent::Cancelled(BookingCancelled {
                booking,
                units: held.clone(),
                citizen: *citizen,
                reason: Some(reason.to_string()),
            })));
        }
        events.push(BookingInput::Catalogue(CatalogueEvent::CapacityWithdrawn(
            CapacityWithdrawn {
                office: office.clone(),
                date: *date,
                from: span.map(|(from, _)| from),
                to: span.map(|(_, to)| to),
                reason: reason.to_string(),
                units,
            },
        )));
        for proposal in proposals {
            let Some((wish, held)) = state.proposals.get(&proposal) else {
                continue;
            };
            events.push(BookingInput::Wish(WishEvent::ProposalWithdrawn(ProposalClosed {
                proposal,
                wish: *wish,
                units: held.clone(),
            })));
        }
        Ok(events)
    }

    fn evolve(mut state: ClosureState, event: &BookingInput) -> ClosureState {
        match event {
            BookingInput::Booking(BookingEvent::Requested(requested)) => {
                state.bookings.insert(
                    requested.booking,
                    (Some(requested.citizen.envelope_id), requested.units.clone()),
                );
            }
            BookingInput::Wish(WishEvent::ProposalMade(made)) => {
                state.proposals.insert(made.proposal, (made.wish, made.units.clone()));
            }
            BookingInput::Wish(WishEvent::ProposalAccepted(accepted)) => {
                state.bookings.insert(
                    accepted.booking,
                    (Some(accepted.citizen.envelope_id), accepted.units.clone()),
                );
            }
            BookingInput::Booking(BookingEvent::TicketIssued(ticket)) => {
                state.bookings.insert(ticket.booking, (None, ticket.units.clone()));
            }
            _ => {}
        }
        state.catalogue = BookingRequestDecider::evolve(state.catalogue, event);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{BookingRequested, SealedPersonalData};
    use crate::catalogue::{CapacityPublished, OfficeDetails};
    use crate::ids::ProposalId;
    use crate::testing::given;
    use crate::wish::ProposalMade;
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

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
    }

    fn unit(lane: u16, start: &str) -> UnitRef {
        UnitRef {
            office: office(),
            date: day(),
            lane,
            start: time(start),
        }
    }

    fn catalogue() -> Vec<BookingInput> {
        vec![
            BookingInput::Catalogue(CatalogueEvent::OfficeRegistered(OfficeDetails {
                office: office(),
                name: "Bürgerbüro Mitte".parse().unwrap(),
                address: "Markt 1".parse().unwrap(),
                timezone: "Europe/Berlin".parse().unwrap(),
                opening_hours: None,
                holidays: None,
                closed_days: Default::default(),
            })),
            // 08:00–09:00, 12-minute units, lanes 1 and 2.
            BookingInput::Catalogue(CatalogueEvent::CapacityPublished(CapacityPublished {
                office: office(),
                date: day(),
                from: time("08:00"),
                to: time("09:00"),
                unit_minutes: 12,
                lanes: 2,
                first_lane: 1,
                units: 10,
            })),
        ]
    }

    fn every_unit() -> BTreeSet<UnitRef> {
        ["08:00", "08:12", "08:24", "08:36", "08:48"]
            .into_iter()
            .flat_map(|start| [unit(1, start), unit(2, start)])
            .collect()
    }

    fn booked(n: u64, units: Vec<UnitRef>) -> BookingInput {
        let start = Utc.with_ymd_and_hms(2026, 12, 10, 7, 0, 0).unwrap();
        BookingInput::Booking(BookingEvent::Requested(BookingRequested {
            booking: BookingId::from_ulid(Ulid::from_parts(n, 0)),
            office: office(),
            services: vec!["ausweis".parse().unwrap()],
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

    fn proposed(n: u64, units: Vec<UnitRef>) -> BookingInput {
        let start = Utc.with_ymd_and_hms(2026, 12, 10, 7, 0, 0).unwrap();
        BookingInput::Wish(WishEvent::ProposalMade(ProposalMade {
            proposal: ProposalId::from_ulid(Ulid::from_parts(n, 2)),
            wish: WishId::from_ulid(Ulid::from_parts(n, 3)),
            office: office(),
            units,
            start,
            end: start,
            expires_at: start,
            links: vec![],
        }))
    }

    fn close(span: Option<(&str, &str)>) -> CloseOffice {
        CloseOffice {
            office: office(),
            date: day(),
            span: span.map(|(from, to)| (time(from), time(to))),
            reason: "Krankheitsbedingt geschlossen".parse().unwrap(),
            read_units: every_unit(),
            now: now(),
        }
    }

    fn withdrawn(span: Option<(&str, &str)>, units: Vec<UnitRef>) -> BookingInput {
        BookingInput::Catalogue(CatalogueEvent::CapacityWithdrawn(CapacityWithdrawn {
            office: office(),
            date: day(),
            from: span.map(|(from, _)| time(from)),
            to: span.map(|(_, to)| time(to)),
            reason: "Krankheitsbedingt geschlossen".into(),
            units,
        }))
    }

    #[test]
    fn an_empty_part_of_the_day_is_withdrawn_unit_by_unit_that_overlaps_it() {
        // 08:30–08:40 overlaps the units at 08:24 and 08:36 of both lanes.
        let units = vec![unit(1, "08:24"), unit(1, "08:36"), unit(2, "08:24"), unit(2, "08:36")];
        given::<ClosureDecider>(catalogue())
            .when(close(Some(("08:30", "08:40"))))
            .then([withdrawn(Some(("08:30", "08:40")), units)]);
    }

    #[test]
    fn bookings_on_the_span_are_cancelled_whole_with_the_reason_before_the_withdrawal() {
        // Booking 1 runs 08:36–09:00 on lane 1: it touches the span, so it goes
        // whole, freeing its 08:48 unit too. Booking 2 is outside the span.
        let one = vec![unit(1, "08:36"), unit(1, "08:48")];
        let mut history = catalogue();
        history.push(booked(1, one.clone()));
        history.push(booked(2, vec![unit(2, "08:00")]));
        let units = vec![unit(1, "08:24"), unit(1, "08:36"), unit(2, "08:24"), unit(2, "08:36")];
        given::<ClosureDecider>(history)
            .when(close(Some(("08:30", "08:40"))))
            .then([
                BookingInput::Booking(BookingEvent::Cancelled(BookingCancelled {
                    booking: BookingId::from_ulid(Ulid::from_parts(1, 0)),
                    units: one,
                    citizen: Some(EnvelopeId::from_ulid(Ulid::from_parts(1, 1))),
                    reason: Some("Krankheitsbedingt geschlossen".into()),
                })),
                withdrawn(Some(("08:30", "08:40")), units),
            ]);
    }

    #[test]
    fn open_proposals_on_the_span_are_withdrawn_after_it() {
        let held = vec![unit(2, "08:00"), unit(2, "08:12")];
        let mut history = catalogue();
        history.push(proposed(5, held.clone()));
        let state = ClosureDecider::fold(&history);
        let events = ClosureDecider::decide(&close(None), &state).unwrap();
        assert_eq!(events.len(), 2);
        assert!(
            matches!(&events[0], BookingInput::Catalogue(CatalogueEvent::CapacityWithdrawn(w)) if w.units.len() == 10)
        );
        assert_eq!(
            events[1],
            BookingInput::Wish(WishEvent::ProposalWithdrawn(ProposalClosed {
                proposal: ProposalId::from_ulid(Ulid::from_parts(5, 2)),
                wish: WishId::from_ulid(Ulid::from_parts(5, 3)),
                units: held,
            }))
        );
    }

    #[test]
    fn a_withdrawn_unit_is_closed_once_and_nothing_is_left_to_close() {
        let mut history = catalogue();
        history.push(withdrawn(None, every_unit().into_iter().collect()));
        given::<ClosureDecider>(history.clone()).when(close(None)).then([]);
        // Read again from the unit streams, the withdrawal changes nothing more.
        history.push(withdrawn(None, every_unit().into_iter().collect()));
        let state = ClosureDecider::fold(&history);
        assert!(state.units_to_close(&office(), day(), None, now()).is_empty());
    }

    #[test]
    fn units_published_after_the_reads_were_planned_refuse_the_decision() {
        let mut command = close(None);
        command.read_units.remove(&unit(2, "08:48"));
        given::<ClosureDecider>(catalogue())
            .when(command)
            .then_error(ClosureError::UnreadUnits(vec![unit(2, "08:48")]));
    }

    #[test]
    fn the_past_is_not_closed_and_a_span_needs_an_order() {
        let mut command = close(None);
        command.now = Utc.with_ymd_and_hms(2026, 12, 11, 9, 0, 0).unwrap();
        given::<ClosureDecider>(catalogue())
            .when(command)
            .then_error(ClosureError::DateInPast {
                date: day(),
                today: NaiveDate::from_ymd_opt(2026, 12, 11).unwrap(),
            });
        // Units that started already today stay as they are.
        let mut command = close(None);
        command.now = Utc.with_ymd_and_hms(2026, 12, 10, 7, 30, 0).unwrap(); // 08:30 local
        let state = ClosureDecider::fold(&catalogue());
        let events = ClosureDecider::decide(&command, &state).unwrap();
        let BookingInput::Catalogue(CatalogueEvent::CapacityWithdrawn(w)) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(
            w.units,
            vec![unit(1, "08:36"), unit(1, "08:48"), unit(2, "08:36"), unit(2, "08:48")],
            "only units starting after 08:30"
        );
        given::<ClosureDecider>(catalogue())
            .when(close(Some(("09:00", "08:00"))))
            .then_error(ClosureError::EmptySpan {
                from: time("09:00"),
                to: time("08:00"),
            });
    }

    #[test]
    fn withdrawn_units_are_no_longer_offered_nor_published_anew() {
        let mut history = catalogue();
        history.push(withdrawn(
            Some(("08:00", "08:24")),
            vec![unit(1, "08:00"), unit(1, "08:12")],
        ));
        let state = ClosureDecider::fold(&history);
        let capacity = state.catalogue.capacity(&office(), day()).unwrap();
        let slots = crate::booking::free_slots(capacity, &office(), day(), 12, |_| false);
        let at_eight: Vec<_> = slots.iter().filter(|slot| slot.start == time("08:00")).collect();
        assert_eq!(at_eight.len(), 1);
        assert_eq!(at_eight[0].lanes, 1, "lane 1 at 08:00 is withdrawn");
        assert_eq!(capacity.chain(1, time("08:00"), 12), None);
        assert_eq!(capacity.unit_count(), 8);
        assert!(
            capacity.overlaps(1, time("08:00"), time("08:12")),
            "its place is not published again"
        );
    }

    #[test]
    fn a_reason_is_one_line_of_at_most_500_characters() {
        assert!("".parse::<ClosureReason>().is_err());
        assert!("a\nb".parse::<ClosureReason>().is_err());
        assert!("x".repeat(501).parse::<ClosureReason>().is_err());
        assert!("Heizungsausfall".parse::<ClosureReason>().is_ok());
    }
}
