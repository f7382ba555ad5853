//! Walk-in tickets: the kiosk's (or a clerk's) draw of the next free start
//! today (`domain::ticket`). The decision reads the catalogue, today's units
//! from now on and the day's waiting numbers, and takes units by the booking
//! request's own rule; units published meanwhile send it back to plan its
//! reads anew, a waitlist behind the log makes it wait for the view once.

use std::collections::BTreeSet;

use terminagent_domain::{
    BookingEvent, BookingId, BookingInput, Cause, IssueTicket, OfficeId, ServiceId, StreamName, TicketDecider,
    TicketError, TicketIssued,
};
use terminagent_eventstore::StorageError;

use super::bookings::waitlist_says;
use super::{ExecuteError, Executor};
use crate::links::{LinkSecret, code_hash};
use crate::projections::{AvailabilityView, LiveProjection};

/// How often a ticket plans its reads anew before it gives up.
const PLANS: usize = 3;

/// A ticket as the kiosk prints it.
#[derive(Debug, Clone)]
pub struct IssuedTicket {
    pub ticket: TicketIssued,
    /// The check-in code (the QR code's content); only its hash is logged.
    pub check_in_code: String,
}

pub async fn issue_ticket(
    executor: &Executor,
    availability: &LiveProjection<AvailabilityView>,
    links: &LinkSecret,
    cause: Cause,
    office: OfficeId,
    services: Vec<ServiceId>,
) -> Result<IssuedTicket, ExecuteError<TicketError>> {
    let booking = BookingId::from_ulid(executor.new_id());
    let check_in_code = links.checkin_code(&booking.to_string());
    let checkin_code_hash = code_hash(&check_in_code);
    let mut catalogue = vec![StreamName::office(&office)];
    catalogue.extend(services.iter().map(StreamName::service));
    let mut caught_up = false;
    for _ in 0..PLANS {
        let now = executor.now();
        let Some(today) = executor
            .state_of::<TicketDecider>(&catalogue)
            .await?
            .today(&office, now)
        else {
            return Err(ExecuteError::Rejected(TicketError::UnknownOffice(office)));
        };
        let mut streams = catalogue.clone();
        streams.push(StreamName::office_day(&office, today.into()));
        streams.push(StreamName::waiting_numbers(&office, today.into()));
        let read_units = executor
            .state_of::<TicketDecider>(&streams)
            .await?
            .units_to_read(&office, now);
        streams.extend(read_units.iter().map(StreamName::unit));
        let (kept, taken) = waitlist_says(executor, availability, &read_units, caught_up).await?;
        let read_units: BTreeSet<_> = read_units.into_iter().collect();
        let decided = executor
            .execute::<TicketDecider>(&streams, cause, |now| IssueTicket {
                booking,
                office: office.clone(),
                services: services.clone(),
                checkin_code_hash: checkin_code_hash.clone(),
                read_units: read_units.clone(),
                kept_for_waitlist: kept.clone(),
                taken_for_waitlist: taken.clone(),
                now,
            })
            .await;
        match decided {
            Ok(events) => {
                let ticket = events
                    .into_iter()
                    .find_map(|event| match event {
                        BookingInput::Booking(BookingEvent::TicketIssued(ticket)) => Some(ticket),
                        _ => None,
                    })
                    .ok_or_else(|| StorageError::Corrupt {
                        at: "ticket".into(),
                        reason: "decided without a ticket".into(),
                    })?;
                return Ok(IssuedTicket { ticket, check_in_code });
            }
            // The waitlist has not folded a release yet: let it, then once more.
            Err(ExecuteError::Rejected(TicketError::WaitlistBehind)) if !caught_up => caught_up = true,
            Err(ExecuteError::Rejected(TicketError::WaitlistBehind | TicketError::UnreadUnits)) => {}
            Err(other) => return Err(other),
        }
    }
    Err(ExecuteError::Rejected(TicketError::NoSlotToday))
}
