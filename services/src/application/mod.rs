//! The application layer: runs domain decisions against the event log.
//! Handlers call in here; nothing here knows about HTTP.

mod bookings;
pub mod cancel;
pub mod closures;
pub mod display_presence;
pub mod erasure;
mod executor;
pub mod floor;
mod lapse;
mod links;
pub mod overview;
pub mod reminders;
pub mod staff;
mod stream_memory;
pub mod tickets;
mod wishes;

use terminagent_domain::{EnvelopeId, PersonalData, SealedPersonalData};
use terminagent_eventstore::VaultError;

/// A citizen's personal data, sealed in the envelope of their e-mail address.
struct SealedCitizen {
    data: SealedPersonalData,
    /// This seal created the envelope: no event names the citizen yet.
    first_seal: bool,
}

/// Seals a citizen's personal data in the envelope of their e-mail address
/// (created on first use), as every event that names a citizen carries it.
async fn seal_citizen(executor: &Executor, citizen: &PersonalData) -> Result<SealedCitizen, VaultError> {
    let fresh = executor.new_id();
    let sealed = executor
        .store()
        .vault()
        .seal_for_citizen(&citizen.email.normalized(), fresh, citizen)
        .await?;
    Ok(SealedCitizen {
        first_seal: sealed.envelope_id == fresh,
        data: SealedPersonalData {
            envelope_id: EnvelopeId::from_ulid(sealed.envelope_id),
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext,
        },
    })
}

pub use bookings::{
    BookingRequest, RequestBookingError, RequestedBooking, booking_as_recorded, request_booking, request_booking_once,
};

pub use executor::{Attempt, Clock, ExecuteError, Executor, FirstRead, IdSource, SystemClock};
pub use lapse::{LAPSE_CHECK_INTERVAL, lapse_due_bookings, spawn_lapse_timer};
pub use links::{LinkContext, LinkOutcome, LinkRefusal, LinkState, follow_link, link_state};
pub use wishes::{
    RegisterWishError, RegisteredWish, WishAnswer, WishRequest, answer_wish, expire_proposal, lapse_wish,
    propose_units, register_wish,
};
