//! Booking requests (API.md "Bookings"): the request's consistency boundary
//! depends on what is published, so it is found in phases before deciding.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use terminagent_domain::Cause;
use terminagent_domain::{
    Booking, BookingDecider, BookingEvent, BookingId, BookingInput, BookingPolicy, BookingRequestDecider,
    BookingRequestError, BookingRequested, IssuedLink, LinkAction, OfficeDecider, OfficeId, OfficeTimeZone,
    PersonalData, RequestBooking, ServiceId, SlotAsked, StreamName, UnitRef,
};
use terminagent_eventstore::{StorageError, VaultError};

use super::{ExecuteError, Executor, FirstRead};
use crate::links::{LinkSecret, LinkToken};
use crate::projections::{AvailabilityView, LiveProjection};

/// How often a request reads the log to find which units it must read before
/// it leaves the rest to the decision.
const MAX_PLANNING_READS: usize = 3;

/// A citizen's booking request, parsed.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    pub office: OfficeId,
    pub services: Vec<ServiceId>,
    pub start: DateTime<Utc>,
    pub citizen: PersonalData,
}

/// A request that holds its units now, and the secrets only its mail will carry.
#[derive(Debug)]
pub struct RequestedBooking {
    pub booking: BookingRequested,
    pub timezone: OfficeTimeZone,
    /// The links' tokens (the log keeps their hashes; the mailer re-derives them).
    pub confirm_link: LinkToken,
    pub cancel_link: LinkToken,
}

#[derive(Debug, thiserror::Error)]
pub enum RequestBookingError {
    #[error(transparent)]
    Decision(#[from] ExecuteError<BookingRequestError>),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<StorageError> for RequestBookingError {
    fn from(error: StorageError) -> Self {
        RequestBookingError::Decision(ExecuteError::Storage(error))
    }
}

/// Of the units a booking could take, those the waitlist keeps (invariant 4)
/// and those it has as booked (a release it has not seen makes the decision
/// refuse with `WaitlistBehind`). A view that has not seen a unit published
/// catches up first, so a slow view costs a wait, not a wrong 409; contended
/// units cost no wait, since the decision reads their holds itself.
pub(super) async fn waitlist_says(
    executor: &Executor,
    availability: &LiveProjection<AvailabilityView>,
    candidates: &[UnitRef],
    catch_up: bool,
) -> Result<(BTreeSet<UnitRef>, BTreeSet<UnitRef>), StorageError> {
    if catch_up || availability.read().waitlist().has_unseen(candidates) {
        availability.caught_up_to(executor.store().catch_up().await?).await;
    }
    let view = availability.read();
    let waitlist = view.waitlist();
    Ok((waitlist.kept_units(candidates), waitlist.booked_units(candidates)))
}

/// Decides a booking request under a fresh id; see [`request_booking_once`]
/// for the steps.
pub async fn request_booking(
    executor: &Executor,
    availability: &LiveProjection<AvailabilityView>,
    links: &LinkSecret,
    policy: BookingPolicy,
    cause: Cause,
    request: BookingRequest,
    known_timezone: Option<OfficeTimeZone>,
) -> Result<RequestedBooking, RequestBookingError> {
    let booking = BookingId::from_ulid(executor.new_id());
    let id = BookingIdChoice::Fresh(booking);
    request_booking_as(
        executor,
        availability,
        links,
        policy,
        cause,
        request,
        known_timezone,
        id,
    )
    .await
}

/// Where a request's booking id comes from.
#[derive(Debug, Clone, Copy)]
enum BookingIdChoice {
    /// Made for this request: no booking can have it yet.
    Fresh(BookingId),
    /// Chosen once by the caller (a form's one-time key) and maybe sent
    /// before: the decision reads the booking's stream to tell.
    Once(BookingId),
}

/// [`request_booking`] under `booking`, an id the caller chose once for this
/// request (the booking form's one-time key). Sent again, by a reload or a
/// second click, also to another process, it books nothing and is refused
/// as [`BookingRequestError::AlreadyRequested`] naming that booking: the
/// decision reads `booking:{id}` and appends under a condition on it, so of
/// two such requests at once only one books.
#[allow(clippy::too_many_arguments)]
pub async fn request_booking_once(
    executor: &Executor,
    availability: &LiveProjection<AvailabilityView>,
    links: &LinkSecret,
    policy: BookingPolicy,
    cause: Cause,
    request: BookingRequest,
    known_timezone: Option<OfficeTimeZone>,
    booking: BookingId,
) -> Result<RequestedBooking, RequestBookingError> {
    let id = BookingIdChoice::Once(booking);
    request_booking_as(
        executor,
        availability,
        links,
        policy,
        cause,
        request,
        known_timezone,
        id,
    )
    .await
}

/// A booking as its own stream tells it (`None`: no such booking): for
/// showing a citizen what they booked.
pub async fn booking_as_recorded(executor: &Executor, booking: BookingId) -> Result<Option<Booking>, StorageError> {
    let stream = StreamName::booking(&booking);
    let state = executor
        .state_of::<BookingDecider>(std::slice::from_ref(&stream))
        .await?;
    Ok(state.booking(&booking).cloned())
}

/// Decides a booking request:
/// 1. the office's time zone (from `known_timezone`, else its stream) gives
///    the office-local day;
/// 2. office, services and that day's capacity give the units any lane could
///    use at the start ([`terminagent_domain::BookingRequestState::units_to_read`]),
///    planned from memory and checked by one read of catalogue and holds;
/// 3. those units' holds tell whether any lane is free; if none is, the
///    request is refused before the citizen's data is sealed;
/// 4. the decision reads all of those plus the citizen's stream, and appends
///    under conditions on what it takes; units the waitlist keeps for waiting
///    wishes are not its to take; a booking the citizen holds at the same
///    time refuses it, and so does a booking already made under its id.
#[allow(clippy::too_many_arguments)]
async fn request_booking_as(
    executor: &Executor,
    availability: &LiveProjection<AvailabilityView>,
    links: &LinkSecret,
    policy: BookingPolicy,
    cause: Cause,
    request: BookingRequest,
    known_timezone: Option<OfficeTimeZone>,
    id: BookingIdChoice,
) -> Result<RequestedBooking, RequestBookingError> {
    let BookingRequest {
        office,
        services,
        start,
        citizen,
    } = request;
    let office_stream = StreamName::office(&office);
    // The zone only picks which office-day to read; the decision checks the
    // office itself from its stream. Without a hint (a view that has not seen
    // the office yet), read it.
    let timezone = match known_timezone {
        Some(zone) => zone,
        None => match executor
            .state_of::<OfficeDecider>(std::slice::from_ref(&office_stream))
            .await?
        {
            Some(details) => details.timezone,
            None => return Err(ExecuteError::Rejected(BookingRequestError::UnknownOffice(office)).into()),
        },
    };
    let day = timezone.to_local(start).date_naive();
    let mut catalogue = vec![office_stream];
    catalogue.extend(services.iter().map(StreamName::service));
    catalogue.push(StreamName::office_day(&office, day));
    let booking = match id {
        BookingIdChoice::Fresh(booking) => booking,
        BookingIdChoice::Once(booking) => {
            catalogue.push(StreamName::booking(&booking));
            booking
        }
    };
    // The units to read are planned from the catalogue as remembered and
    // checked by the read that fetches their holds; memory that was behind
    // costs one more read. Read together with the catalogue, the holds
    // tell whether any lane is free.
    let mut candidates = executor
        .remembered_state_of::<BookingRequestDecider>(&catalogue)?
        .units_to_read(&office, &services, start);
    let mut streams;
    let mut read;
    let mut planning_reads = 0;
    loop {
        streams = catalogue.clone();
        streams.extend(candidates.iter().map(StreamName::unit));
        read = executor.state_of::<BookingRequestDecider>(&streams).await?;
        let planned = read.units_to_read(&office, &services, start);
        planning_reads += 1;
        // Capacity that keeps changing is left to the decision, which passes
        // over units it did not read.
        if planned == candidates || planning_reads == MAX_PLANNING_READS {
            break;
        }
        candidates = planned;
    }
    // Sent before: answered before anything else is looked at (its slot is
    // taken by now, by itself).
    if read.knows_booking(&booking) {
        return Err(ExecuteError::Rejected(BookingRequestError::AlreadyRequested(booking)).into());
    }
    // What nobody could book is refused before anything of the citizen is
    // stored: in a storm most requests find their slot taken, and a refused
    // request leaves no envelope behind.
    let (mut kept_for_waitlist, mut taken_for_waitlist) =
        waitlist_says(executor, availability, &candidates, false).await?;
    let asked = SlotAsked {
        office: &office,
        services: &services,
        start,
        now: executor.now(),
        policy,
        kept_for_waitlist: &kept_for_waitlist,
        taken_for_waitlist: &taken_for_waitlist,
        unread_units: &BTreeSet::new(),
    };
    match read.lane_for(&asked) {
        Ok(_) | Err(BookingRequestError::WaitlistBehind(_)) => {}
        Err(refused) => return Err(ExecuteError::Rejected(refused).into()),
    }
    let super::SealedCitizen {
        data: sealed,
        first_seal,
    } = super::seal_citizen(executor, &citizen).await?;
    let citizen_stream = StreamName::citizen(&sealed.envelope_id);
    streams.push(citizen_stream.clone());
    // The read above is moments old and in memory: the first attempt decides
    // on it (the append's conditions check every unit it takes), reading only
    // the citizen's stream, and not even that for a citizen sealed just now.
    let new_streams = if first_seal { vec![citizen_stream] } else { Vec::new() };

    let subject = booking.to_string();
    let confirm_link = links.token(&subject, LinkAction::ConfirmBooking.as_str());
    let cancel_link = links.token(&subject, LinkAction::CancelBooking.as_str());
    // A release the waitlist has not folded yet: let it see the release (and
    // maybe keep the unit for a wish), then decide once more.
    let mut caught_up = false;
    let mut first_read = FirstRead::Remembered {
        new_streams: &new_streams,
    };
    let decided = loop {
        let decided = executor
            .execute_on_state::<BookingRequestDecider>(&streams, first_read, cause, |now, state| RequestBooking {
                booking,
                office: office.clone(),
                services: services.clone(),
                start,
                citizen: sealed.clone(),
                links: vec![
                    IssuedLink {
                        action: LinkAction::ConfirmBooking,
                        token_hash: confirm_link.hash().into(),
                        expires_at: now + policy.confirm_ttl,
                    },
                    // Cancelling makes sense until the appointment begins.
                    IssuedLink {
                        action: LinkAction::CancelBooking,
                        token_hash: cancel_link.hash().into(),
                        expires_at: start,
                    },
                ],
                now,
                policy,
                kept_for_waitlist: kept_for_waitlist.clone(),
                taken_for_waitlist: taken_for_waitlist.clone(),
                // Capacity published since the candidates were chosen.
                unread_units: state
                    .units_to_read(&office, &services, start)
                    .into_iter()
                    .filter(|unit| !candidates.contains(unit))
                    .collect(),
            })
            .await;
        match decided {
            Err(ExecuteError::Rejected(BookingRequestError::WaitlistBehind(_))) if !caught_up => {
                caught_up = true;
                first_read = FirstRead::Log;
                (kept_for_waitlist, taken_for_waitlist) =
                    waitlist_says(executor, availability, &candidates, caught_up).await?;
            }
            other => break other?,
        }
    };
    let booking = decided
        .into_iter()
        .find_map(|event| match event {
            BookingInput::Booking(BookingEvent::Requested(requested)) => Some(requested),
            _ => None,
        })
        .ok_or_else(|| StorageError::Corrupt {
            at: "booking request".into(),
            reason: "decided without a request".into(),
        })?;
    Ok(RequestedBooking {
        booking,
        timezone,
        confirm_link,
        cancel_link,
    })
}
